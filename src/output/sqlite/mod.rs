//! SQLite results (`-o results.sqlite`): one database holding the job's identity (`meta`), one row
//! per run (`runs`) and one row per record of every run, failures included (`records`), with one
//! column per `-f` path holding the value as SQLite's own type.
//!
//! The file is in WAL mode and rows are committed in batches (each time the run's writer flushes,
//! at most 10 ms after a record, and every [`BATCH_ROWS`] rows), so `sqlite3` or DuckDB can read it
//! while the run goes on, and a crash (even `kill -9`) loses at most the rows of the last batch:
//! `--resume` fetches those ids again. A committed row is never lost: a failed write (a full disk)
//! rolls back only its own batch.

mod frontier;
mod insert;
mod merge;
mod resume;
mod schema;
mod write;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};
use thiserror::Error;

use crate::report::job::JobReport;

pub use self::merge::{MergeWriter, Row, ShardReader};
pub use self::resume::DoneRow;
pub use self::write::SqliteSink;

/// Rows written before a batch is committed whatever the time: bounds what a crash can cost.
pub const BATCH_ROWS: usize = 4096;

/// The version of the tables' layout, in `meta`.
const SCHEMA_VERSION: &str = "1";

/// Why a results database could not be opened, read or written; each names the file.
#[derive(Debug, Error)]
pub enum DatabaseError {
    #[error("{}: is a directory, not a database file", path.display())]
    Directory { path: PathBuf },
    #[error("{}: not a SQLite database (not overwritten)", path.display())]
    NotDatabase { path: PathBuf },
    #[error(
        "{}: a SQLite database fetchbench did not write (it has no `meta` table); not touched",
        path.display()
    )]
    Foreign { path: PathBuf },
    #[error("{}: locked by another program (a write in progress); try again when it is done", path.display())]
    Locked { path: PathBuf },
    #[error(
        "{}: holds the results of another job, not resumed and not changed; it differs in: {}",
        path.display(),
        differences.join("; ")
    )]
    OtherJob {
        path: PathBuf,
        differences: Vec<String>,
    },
    #[error("{}: written by a newer fetchbench (layout {found}, this one reads {SCHEMA_VERSION})", path.display())]
    Layout { path: PathBuf, found: String },
    #[error("{}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

impl DatabaseError {
    fn sqlite(path: &Path, source: rusqlite::Error) -> Self {
        let path = path.to_owned();
        match source.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => DatabaseError::NotDatabase { path },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                DatabaseError::Locked { path }
            }
            _ => DatabaseError::Sqlite { path, source },
        }
    }

    fn io(self) -> io::Error {
        io::Error::other(self.to_string())
    }
}

/// A run as its `runs` row describes it.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// 1-based position of the run in the job: the same run again after `--resume`.
    pub number: u32,
    pub mode: String,
    pub concurrency: usize,
    pub rate: Option<String>,
    /// The command line, secrets redacted.
    pub command: String,
    pub version: String,
}

/// The time now, as the `runs` table writes it.
fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Opens `path` read-write (created if missing), refusing a directory; nothing is written yet.
fn connect(path: &Path, create: bool) -> Result<Connection, DatabaseError> {
    if path.is_dir() {
        return Err(DatabaseError::Directory {
            path: path.to_owned(),
        });
    }
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn =
        Connection::open_with_flags(path, flags).map_err(|e| DatabaseError::sqlite(path, e))?;
    // Another program's write lock is waited for briefly, then named, never waited on forever.
    conn.busy_timeout(Duration::from_millis(500))
        .map_err(|e| DatabaseError::sqlite(path, e))?;
    Ok(conn)
}

/// The tables in the database (reading its header: fails on a file that is not a database).
fn tables(conn: &Connection, path: &Path) -> Result<Vec<String>, DatabaseError> {
    let err = |e| DatabaseError::sqlite(path, e);
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .map_err(err)?;
    let names = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    Ok(names)
}

fn meta(conn: &Connection, path: &Path, key: &str) -> Result<Option<String>, DatabaseError> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
        .map_err(|e| DatabaseError::sqlite(path, e))
}

/// The job a fetchbench database holds: its identity and its field columns (path, column).
struct Stored {
    job: JobReport,
    fields: Vec<(String, String)>,
}

/// Reads the `meta` of a database fetchbench wrote; a database without it is someone else's.
fn stored(conn: &Connection, path: &Path) -> Result<Stored, DatabaseError> {
    if !tables(conn, path)?.iter().any(|t| t == "meta") {
        return Err(DatabaseError::Foreign {
            path: path.to_owned(),
        });
    }
    let layout = meta(conn, path, "schema_version")?.unwrap_or_default();
    if layout != SCHEMA_VERSION {
        return Err(DatabaseError::Layout {
            path: path.to_owned(),
            found: layout,
        });
    }
    let corrupt = |what: &str| DatabaseError::Sqlite {
        path: path.to_owned(),
        source: rusqlite::Error::InvalidColumnName(format!(
            "meta.{what} is not what fetchbench wrote"
        )),
    };
    let settings: BTreeMap<String, String> = meta(conn, path, "job")?
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(|| corrupt("job"))?;
    let fingerprint =
        meta(conn, path, "job_fingerprint")?.ok_or_else(|| corrupt("job_fingerprint"))?;
    let fields: Vec<(String, String)> = meta(conn, path, "fields")?
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(|| corrupt("fields"))?;
    Ok(Stored {
        job: JobReport {
            fingerprint,
            settings,
        },
        fields,
    })
}
