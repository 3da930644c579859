//! `merge --results` of shard databases: each shard read page by page, its rows copied into one
//! new database (through the run's own insert, [`super::insert::RowInsert`]) or turned back into
//! NDJSON lines.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde_json::Value;

use super::insert::{RowInsert, Sql};
use super::schema::{id_of, quoted, schema, COLUMNS};
use super::{connect, now_rfc3339, stored, DatabaseError, SCHEMA_VERSION};
use crate::extract::FieldPath;
use crate::plan::ids::Id;
use crate::record::{CacheUse, ErrorKind, Failure, Lineage, Record, Timing, Wait, WaitCause};
use crate::report::job::JobReport;

/// A database read for `merge --results`: its job, field columns and runs, its records page by
/// page.
pub struct ShardReader {
    conn: Connection,
    path: PathBuf,
    job: JobReport,
    /// The `-f` paths and their columns.
    fields: Vec<(String, String)>,
    paths: Vec<FieldPath>,
}

/// One row of `records` as read: every column's value, in the table's order.
#[derive(Debug, Clone)]
pub struct Row {
    pub rowid: i64,
    pub values: Vec<SqlValue>,
}

impl Row {
    /// The record's id.
    pub fn id(&self) -> Option<Id> {
        id_of(ValueRef::from(&self.values[1]))
    }

    /// The record's crawl key, if it has one.
    pub fn key(&self) -> Option<&str> {
        match &self.values[2] {
            SqlValue::Text(t) => Some(t),
            _ => None,
        }
    }

    /// Whether it is a crawl's record.
    pub fn is_crawl(&self) -> bool {
        self.values[4] != SqlValue::Null
    }
}

impl ShardReader {
    /// Opens a database fetchbench wrote, to read.
    pub fn open(path: &Path) -> Result<Self, DatabaseError> {
        if path.is_dir() {
            return Err(DatabaseError::Directory {
                path: path.to_owned(),
            });
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| DatabaseError::sqlite(path, e))?;
        conn.busy_timeout(Duration::from_millis(500))
            .map_err(|e| DatabaseError::sqlite(path, e))?;
        let stored = stored(&conn, path)?;
        let paths = stored
            .fields
            .iter()
            .map(|(p, _)| p.parse::<FieldPath>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| DatabaseError::Foreign {
                path: path.to_owned(),
            })?;
        Ok(Self {
            conn,
            path: path.to_owned(),
            job: stored.job,
            fields: stored.fields,
            paths,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn job(&self) -> &JobReport {
        &self.job
    }

    /// The numbers of the runs its records belong to, ascending.
    pub fn runs(&self) -> Result<Vec<u32>, DatabaseError> {
        let err = |e| DatabaseError::sqlite(&self.path, e);
        let mut stmt = self
            .conn
            .prepare("SELECT run FROM runs UNION SELECT DISTINCT run FROM records ORDER BY 1")
            .map_err(err)?;
        let runs = stmt
            .query_map([], |r| r.get::<_, u32>(0))
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(runs)
    }

    /// The next `limit` rows of run `run` after row `after`, in the order they were written.
    pub fn rows(&self, run: u32, after: i64, limit: usize) -> Result<Vec<Row>, DatabaseError> {
        let err = |e| DatabaseError::sqlite(&self.path, e);
        let width = COLUMNS.len() + self.fields.len();
        let columns: Vec<String> = COLUMNS
            .iter()
            .map(|c| c.to_string())
            .chain(self.fields.iter().map(|(_, c)| quoted(c)))
            .collect();
        let sql = format!(
            "SELECT rowid, {} FROM records WHERE run = ?1 AND rowid > ?2 ORDER BY rowid LIMIT ?3",
            columns.join(",")
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(err)?;
        let rows = stmt
            .query_map(rusqlite::params![run, after, limit as i64], |r| {
                Ok(Row {
                    rowid: r.get(0)?,
                    values: (1..=width)
                        .map(|i| r.get::<_, SqlValue>(i))
                        .collect::<Result<_, _>>()?,
                })
            })
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(rows)
    }

    /// The `runs` row of `run`: mode, concurrency, rate, version, started and ended.
    fn run_row(&self, run: u32) -> Result<Option<Vec<SqlValue>>, DatabaseError> {
        self.conn
            .query_row(
                "SELECT mode, concurrency, rate, version, started_at, ended_at FROM runs WHERE run = ?1",
                [run],
                |r| (0..6).map(|i| r.get::<_, SqlValue>(i)).collect(),
            )
            .optional()
            .map_err(|e| DatabaseError::sqlite(&self.path, e))
    }

    /// The row as the NDJSON record of the same run writes it (without its newline).
    pub fn line(&self, row: &Row) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        // Writing to a Vec cannot fail.
        let _ = record_of(row, self.fields.len())
            .json(&self.paths)
            .write_to(&mut out);
        out
    }
}

/// The record a row holds, as far as its NDJSON line needs it.
fn record_of(row: &Row, fields: usize) -> Record {
    let v = &row.values;
    let text = |i: usize| match &v[i] {
        SqlValue::Text(t) => Some(t.clone()),
        _ => None,
    };
    let real = |i: usize| match v[i] {
        SqlValue::Real(f) => Some(f),
        SqlValue::Integer(n) => Some(n as f64),
        _ => None,
    };
    let int = |i: usize| match v[i] {
        SqlValue::Integer(n) => Some(n),
        _ => None,
    };
    let ms = |i: usize| Duration::from_micros((real(i).unwrap_or(0.0) * 1000.0).round() as u64);
    let secs = |i: usize| Duration::from_secs_f64(real(i).unwrap_or(0.0).max(0.0));
    let kind = text(15).and_then(|k| ALL_KINDS.into_iter().find(|e| e.as_str() == k));
    Record {
        index: 0,
        id: row.id().unwrap_or(Id::Num(0)),
        url: text(3).unwrap_or_default(),
        status: int(6).and_then(|s| u16::try_from(s).ok()),
        http_version: text(7).and_then(|h| {
            ["HTTP/0.9", "HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/3.0"]
                .into_iter()
                .find(|known| *known == h)
        }),
        timing: Timing {
            dns_ms: real(20),
            connect_ms: real(21),
            ttfb_ms: real(22),
            body_ms: real(23),
            tls_ms: real(24),
        },
        elapsed: ms(8),
        scheduled: secs(17),
        started: secs(18),
        wait: text(10)
            .and_then(|c| WaitCause::ALL.into_iter().find(|w| w.as_str() == c))
            .map(|cause| Wait { time: ms(9), cause }),
        bytes: int(11).unwrap_or(0) as u64,
        wire_bytes: int(12).unwrap_or(0) as u64,
        attempts: int(13).unwrap_or(0) as u32,
        failure: kind.map(|kind| Failure {
            kind,
            message: text(16).unwrap_or_default(),
        }),
        fields: (0..fields)
            .map(|i| json_of(&v[COLUMNS.len() + i]))
            .collect(),
        crawl: int(4).map(|depth| {
            Box::new(Lineage {
                key: text(2).unwrap_or_default(),
                depth: depth as u32,
                parent: text(5),
                result: true,
                items: false,
                work: None,
            })
        }),
        cache: text(14).and_then(|c| {
            [
                CacheUse::Hit,
                CacheUse::Revalidated,
                CacheUse::Miss,
                CacheUse::Stored,
            ]
            .into_iter()
            .find(|u| u.as_str() == c)
        }),
    }
}

const ALL_KINDS: [ErrorKind; 11] = [
    ErrorKind::Connect,
    ErrorKind::Tls,
    ErrorKind::Timeout,
    ErrorKind::Status,
    ErrorKind::Body,
    ErrorKind::Json,
    ErrorKind::Redirect,
    ErrorKind::Request,
    ErrorKind::Pagination,
    ErrorKind::Robots,
    ErrorKind::Cache,
];

/// A field column's value as JSON again: text that is a JSON list or object is one.
pub(super) fn json_of(value: &SqlValue) -> Value {
    match value {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(n) => Value::from(*n),
        SqlValue::Real(f) => Value::from(*f),
        SqlValue::Text(t) if t.starts_with('[') || t.starts_with('{') => {
            serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.clone()))
        }
        SqlValue::Text(t) => Value::String(t.clone()),
        SqlValue::Blob(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
    }
}

/// A merged database being written: the first shard's job and columns, each shard's rows copied
/// as they are, through the insert a run writes its rows with.
pub struct MergeWriter {
    /// Declared before the connection, so it is finalized first when a failed merge drops both.
    insert: RowInsert,
    conn: Connection,
    path: PathBuf,
}

impl MergeWriter {
    /// A new database at `path` (a fresh temporary file) for the job of `first`, in one
    /// transaction until [`MergeWriter::finish`].
    pub fn create(path: &Path, first: &ShardReader) -> Result<Self, DatabaseError> {
        let conn = connect(path, true)?;
        let err = |e| DatabaseError::sqlite(path, e);
        let columns: Vec<String> = first.fields.iter().map(|(_, c)| c.clone()).collect();
        conn.execute_batch(&format!("BEGIN; {}", schema(&columns)))
            .map_err(err)?;
        let settings = serde_json::to_string(&first.job.settings).unwrap_or_default();
        let fields = serde_json::to_string(&first.fields).unwrap_or_default();
        for (key, value) in [
            ("schema_version", SCHEMA_VERSION),
            ("job_fingerprint", first.job.fingerprint.as_str()),
            ("job", settings.as_str()),
            ("fields", fields.as_str()),
        ] {
            conn.execute("INSERT INTO meta(key, value) VALUES(?1, ?2)", [key, value])
                .map_err(err)?;
        }
        let insert = RowInsert::records(&conn, &columns).map_err(err)?;
        Ok(Self {
            insert,
            conn,
            path: path.to_owned(),
        })
    }

    /// The `runs` row of `run` for the merge: the first shard's mode, concurrency, rate and
    /// version, the earliest start and latest end of the shards, `command` as the merge's.
    pub fn add_run(
        &mut self,
        run: u32,
        shards: &[&ShardReader],
        command: &str,
    ) -> Result<(), DatabaseError> {
        let mut first: Option<Vec<SqlValue>> = None;
        let (mut started, mut ended): (Option<String>, Option<String>) = (None, None);
        for shard in shards {
            let Some(row) = shard.run_row(run)? else {
                continue;
            };
            if let SqlValue::Text(s) = &row[4] {
                started = Some(started.map_or(s.clone(), |t| t.min(s.clone())));
            }
            if let SqlValue::Text(e) = &row[5] {
                ended = Some(ended.map_or(e.clone(), |t| t.max(e.clone())));
            }
            first.get_or_insert(row);
        }
        let Some(first) = first else {
            return Ok(());
        };
        self.conn
            .execute(
                "INSERT INTO runs(run, mode, concurrency, rate, command, version, started_at, ended_at)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![
                    run,
                    first[0],
                    first[1],
                    first[2],
                    command,
                    first[3],
                    started.unwrap_or_else(now_rfc3339),
                    ended
                ],
            )
            .map(drop)
            .map_err(|e| DatabaseError::sqlite(&self.path, e))
    }

    /// Copies one row, as it was read.
    pub fn copy(&mut self, row: &Row) -> Result<(), DatabaseError> {
        self.insert
            .insert(row.values.iter().map(Sql::from))
            .map_err(|e| DatabaseError::sqlite(&self.path, e))
    }

    /// Commits the whole merge and switches the file to WAL mode, as a run leaves it.
    pub fn finish(self) -> Result<(), DatabaseError> {
        let Self { insert, conn, path } = self;
        // SQLite closes no connection that still has a statement.
        drop(insert);
        let err = |e| DatabaseError::sqlite(&path, e);
        conn.execute_batch("COMMIT").map_err(err)?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .map_err(err)?;
        conn.close().map_err(|(_, e)| err(e))
    }
}
