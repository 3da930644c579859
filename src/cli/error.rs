//! How the CLI's job ends: the process's exit ([`Exit`]) and why a job could not run or finish
//! ([`AppError`]), with the exit code each maps to. Its own room, so the plan, the runs and the
//! rate search all name it without importing one another.

use std::io;

use thiserror::Error;

use super::signals::Signal;
use crate::engine::EngineError;
use crate::fixture::ServeError;
use crate::plan::ids::IdsError;
use crate::plan::template::TemplateError;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every request succeeded.
    Success,
    /// The run completed but some requests failed.
    SomeFailed,
    /// Stopped by a signal; completed records were written.
    Interrupted(Signal),
    /// The --deadline ran out before every id was fetched.
    DeadlineReached,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::SomeFailed => 1,
            Exit::Interrupted(signal) => signal.exit_code(),
            Exit::DeadlineReached => 124,
        }
    }
}

/// Why the job could not run or finish.
#[derive(Debug, Error)]
pub enum AppError {
    /// Bad input found before any request: exit 2.
    #[error("{flag}: {message}")]
    Usage { flag: &'static str, message: String },
    #[error("built-in fixture server: {0}")]
    Fixture(#[from] ServeError),
    #[error("fixture server template: {0}")]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("could not write the report: {0}")]
    Report(io::Error),
    /// Writing a record failed (a closed pipe, a full disk); the run stopped.
    #[error("could not write results: {0}")]
    Output(io::Error),
    #[error("--ids: {0}")]
    Ids(#[from] IdsError),
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            // A client that cannot be set up is a setting's fault, found before any request.
            AppError::Usage { .. }
            | AppError::Engine(EngineError::Setup(_) | EngineError::Cache(_))
            | AppError::Fixture(ServeError::Tls(_))
            | AppError::Ids(
                IdsError::Read { .. } | IdsError::List { .. } | IdsError::Empty { .. },
            ) => 2,
            _ => 1,
        }
    }

    /// True when the reader of stdout went away (`| head`): not an error worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, AppError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}
