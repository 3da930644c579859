//! Running the `fetchbench` binary from a test, off the async runtime so the test's servers keep
//! answering, and reading what it wrote.

use std::process::Output;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_fetchbench");

/// Runs the binary with `args` to its end.
pub async fn fetchbench<S: AsRef<str>>(args: impl AsRef<[S]>) -> Output {
    run_to_end(args.as_ref(), None).await
}

/// Runs the binary with `args` and `stdin` as its standard input, to its end.
pub async fn fetchbench_with_stdin<S: AsRef<str>>(args: impl AsRef<[S]>, stdin: String) -> Output {
    run_to_end(args.as_ref(), Some(stdin)).await
}

async fn run_to_end<S: AsRef<str>>(args: &[S], stdin: Option<String>) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.as_ref().to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let mut command = assert_cmd::Command::new(BIN);
        command.args(&args).env("NO_COLOR", "1");
        if let Some(stdin) = stdin {
            command.write_stdin(stdin);
        }
        command.output().expect("run fetchbench")
    })
    .await
    .expect("join")
}

/// The ids of the NDJSON records in the file at `path`, in order.
pub fn ids_in_file(path: &std::path::Path) -> Vec<u64> {
    ids(&records_in(&std::fs::read(path).expect("read NDJSON file")))
}

/// The NDJSON records in `bytes`; panics on any line that is not a whole record.
pub fn records_in(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a whole record: {l:?}: {e}"))
        })
        .collect()
}

/// The NDJSON records the run wrote to stdout.
pub fn records(out: &Output) -> Vec<Value> {
    records_in(&out.stdout)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Checks the run's stderr says `text` (all of stderr in the message when it does not).
pub fn assert_said(out: &Output, text: &str) {
    let said = stderr(out);
    assert!(said.contains(text), "{said}");
}

/// The numeric ids of records, in order.
pub fn ids(records: &[Value]) -> Vec<u64> {
    records
        .iter()
        .map(|r| r["id"].as_u64().expect("numeric id"))
        .collect()
}

/// Owned arguments, for runners that take a `Vec<String>`.
pub fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A JSON file (a `--report`), parsed.
pub fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read JSON file")).expect("JSON")
}
