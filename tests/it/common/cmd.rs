//! The binary's command lines, built a flag at a time so a test names what it varies:
//! `Cmd::url(&template).words("-r 1..=20 -m concurrent -c 4 -f name -q").report(&path).run().await`:
//! literal words as on a shell's line, values from variables as flags, paths as paths.

use std::future::Future;
use std::path::Path;
use std::process::Output;

/// An argv for `fetchbench` (without the program name).
#[derive(Clone, Debug, Default)]
pub struct Cmd(Vec<String>);

impl Cmd {
    /// An empty command line (for subcommands: `Cmd::new().arg("merge")`).
    pub fn new() -> Self {
        Self::default()
    }

    /// `--url TEMPLATE`.
    pub fn url(template: impl AsRef<str>) -> Self {
        Self::new().flag("--url", template)
    }

    /// One more argument, as given.
    pub fn arg(mut self, arg: impl AsRef<str>) -> Self {
        self.0.push(arg.as_ref().to_owned());
        self
    }

    /// More arguments, as given.
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.0
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Literal arguments, split at whitespace: `.words("-r 1..=20 -m concurrent -c 4 -q")`.
    pub fn words(self, words: &str) -> Self {
        self.args(words.split_whitespace())
    }

    /// `NAME VALUE`.
    pub fn flag(self, name: &str, value: impl AsRef<str>) -> Self {
        self.arg(name).arg(value)
    }

    /// `NAME PATH`.
    pub fn path(self, name: &str, path: &Path) -> Self {
        self.flag(name, path.to_str().expect("UTF-8 path"))
    }

    /// `-r RANGE`.
    pub fn range(self, range: impl AsRef<str>) -> Self {
        self.flag("-r", range)
    }

    /// `-m concurrent -c N`.
    pub fn concurrent(self, n: usize) -> Self {
        self.flag("-m", "concurrent").flag("-c", n.to_string())
    }

    /// `-f FIELD`.
    pub fn field(self, field: impl AsRef<str>) -> Self {
        self.flag("-f", field)
    }

    /// `-q`.
    pub fn quiet(self) -> Self {
        self.arg("-q")
    }

    /// `--report PATH`.
    pub fn report(self, path: &Path) -> Self {
        self.path("--report", path)
    }

    /// `-o PATH`.
    pub fn out(self, path: &Path) -> Self {
        self.path("-o", path)
    }

    /// Runs the binary with these arguments to its end; the future owns its copy of them, so a
    /// closure can return it.
    pub fn run(&self) -> impl Future<Output = Output> + Send + 'static {
        let args = self.0.clone();
        async move { super::run::fetchbench(&args).await }
    }
}

impl Cmd {
    /// Runs the binary to its end off the runtime, with its peak resident memory in bytes.
    pub async fn run_measuring_memory(self) -> (Output, u64) {
        let bin = super::run::BIN;
        tokio::task::spawn_blocking(move || super::run_measuring_memory(bin, &self))
            .await
            .expect("join")
    }

    /// Runs the binary to its end and checks it exited with `code` (its stderr in the message).
    pub async fn exits(&self, code: i32) -> Output {
        let out = self.run().await;
        assert_eq!(
            out.status.code(),
            Some(code),
            "{}",
            super::run::stderr(&out)
        );
        out
    }
}

/// A `Cmd` reads as its arguments, so `fetchbench(&cmd)` runs it.
impl std::ops::Deref for Cmd {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0
    }
}

impl AsRef<[String]> for Cmd {
    fn as_ref(&self) -> &[String] {
        &self.0
    }
}

impl<S: AsRef<str>> Extend<S> for Cmd {
    fn extend<I: IntoIterator<Item = S>>(&mut self, args: I) {
        self.0
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
    }
}

impl IntoIterator for Cmd {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
