//! The tables' layout: the fixed columns of `records`, one column per `-f` path (named by the
//! path, renamed when the name is taken), and the statements that create and fill them.

use std::sync::Arc;

use rusqlite::types::ValueRef;

use crate::extract::FieldPath;
use crate::plan::ids::Id;

/// The fixed columns of `records`, in order; the `-f` columns follow them.
pub(super) const COLUMNS: [&str; 25] = [
    "run",
    "id",
    "key",
    "url",
    "depth",
    "parent",
    "status",
    "http_version",
    "elapsed_ms",
    "waited_ms",
    "wait_cause",
    "bytes",
    "wire_bytes",
    "attempts",
    "cache",
    "error_kind",
    "error",
    "scheduled_s",
    "started_s",
    "finished_s",
    "dns_ms",
    "connect_ms",
    "ttfb_ms",
    "body_ms",
    "tls_ms",
];

/// How a field path is stored: the column named by the path (quoted), or, when that name is taken
/// by a fixed column or an earlier path (SQLite's names ignore case), `fields.<path>`.
pub(super) fn field_columns(paths: &[FieldPath]) -> Vec<String> {
    let mut taken: Vec<String> = COLUMNS.iter().map(|c| c.to_lowercase()).collect();
    let mut names = Vec::with_capacity(paths.len());
    for path in paths {
        let mut name = path.as_str().to_owned();
        if taken.contains(&name.to_lowercase()) {
            name = format!("fields.{}", path.as_str());
        }
        let base = name.clone();
        let mut n = 2;
        while taken.contains(&name.to_lowercase()) {
            name = format!("{base}#{n}");
            n += 1;
        }
        taken.push(name.to_lowercase());
        names.push(name);
    }
    names
}

/// `"name"` with its quotes doubled: an SQL identifier.
pub(super) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The text of the schema for a job whose field columns are `fields`.
pub(super) fn schema(fields: &[String]) -> String {
    let field_defs: String = fields
        .iter()
        .map(|f| format!(",\n  {}", quoted(f)))
        .collect();
    format!(
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs(
  run INTEGER PRIMARY KEY, mode TEXT NOT NULL, concurrency INTEGER NOT NULL, rate TEXT,
  command TEXT NOT NULL, version TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT,
  report TEXT
);
CREATE TABLE records(
  run INTEGER NOT NULL, id, key TEXT, url TEXT NOT NULL, depth INTEGER, parent TEXT,
  status INTEGER, http_version TEXT, elapsed_ms REAL NOT NULL, waited_ms REAL NOT NULL,
  wait_cause TEXT, bytes INTEGER NOT NULL, wire_bytes INTEGER NOT NULL,
  attempts INTEGER NOT NULL, cache TEXT, error_kind TEXT, error TEXT, scheduled_s REAL NOT NULL,
  started_s REAL NOT NULL, finished_s REAL NOT NULL, dns_ms REAL, connect_ms REAL, ttfb_ms REAL,
  body_ms REAL, tls_ms REAL{field_defs}
);
{}",
        FRONTIER
    )
}

/// The insert of one record row: every column, in order, as numbered parameters.
pub(super) fn insert_sql(fields: &[String]) -> String {
    let names: Vec<String> = COLUMNS
        .iter()
        .map(|c| c.to_string())
        .chain(fields.iter().map(|f| quoted(f)))
        .collect();
    let params: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO records({}) VALUES({})",
        names.join(","),
        params.join(",")
    )
}

/// The `frontier` table (see `frontier`); created where missing, so a database written before it had one resumes too.
pub(super) const FRONTIER: &str = "CREATE TABLE IF NOT EXISTS frontier(
  run INTEGER NOT NULL, path TEXT NOT NULL, key TEXT NOT NULL, id, kind TEXT NOT NULL,
  url TEXT NOT NULL, depth INTEGER NOT NULL, parent TEXT, fanned INTEGER NOT NULL,
  done INTEGER NOT NULL, PRIMARY KEY(run, path)
) WITHOUT ROWID;
";

/// An id as SQLite stores it: a number as an integer, a word as text.
pub(super) struct IdSql<'a>(pub(super) &'a Id);

impl rusqlite::ToSql for IdSql<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(match self.0 {
            Id::Num(n) => match i64::try_from(*n) {
                Ok(n) => n.into(),
                // Beyond SQLite's integers: its digits, as the NDJSON writes them.
                Err(_) => n.to_string().into(),
            },
            Id::Text(t) => t.as_ref().into(),
        })
    }
}

/// The id a row holds: an integer, or a word.
pub(super) fn id_of(value: ValueRef<'_>) -> Option<Id> {
    match value {
        ValueRef::Integer(n) => u64::try_from(n).ok().map(Id::Num),
        ValueRef::Text(t) => std::str::from_utf8(t).ok().map(|t| Id::Text(Arc::from(t))),
        _ => None,
    }
}

/// A `run` column's value as a run's number (1-based), or None for one no run of fetchbench's
/// writes (0, negative, or past 65,536 runs): a damaged row is passed over, not trusted.
pub(super) fn run_slot(run: i64) -> Option<usize> {
    usize::try_from(run)
        .ok()
        .filter(|r| (1..=1 << 16).contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> Vec<FieldPath> {
        list.iter().map(|p| p.parse().expect("path")).collect()
    }

    #[test]
    fn a_path_named_like_a_fixed_column_or_another_path_gets_its_own_name() {
        let names = field_columns(&paths(&["name", "status", "Name", "a\"b"]));
        assert_eq!(names, ["name", "fields.status", "fields.Name", "a\"b"]);
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
    }
}
