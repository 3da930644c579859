//! SQLite results (`-o results.sqlite`): one database holding the job's identity (`meta`), one row
//! per run (`runs`) and one row per record of every run, failures included (`records`), with one
//! column per `-f` path holding the value as SQLite's own type.
//!
//! The file is in WAL mode and rows are committed in batches (each time the run's writer flushes,
//! at most 10 ms after a record, and every [`BATCH_ROWS`] rows), so `sqlite3` or DuckDB can read it
//! while the run goes on, and a crash (even `kill -9`) loses at most the rows of the last batch:
//! `--resume` fetches those ids again. A committed row is never lost: a failed write (a full disk)
//! rolls back only its own batch.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};
use serde_json::Value;
use thiserror::Error;

use super::RecordSink;
use crate::extract::FieldPath;
use crate::plan::ids::Id;
use crate::record::{
    duration_ms, CacheUse, ErrorKind, Failure, Lineage, Record, Timing, Wait, WaitCause,
};
use crate::report::job::JobReport;

/// Rows written before a batch is committed whatever the time: bounds what a crash can cost.
pub const BATCH_ROWS: usize = 4096;

/// The version of the tables' layout, in `meta`.
const SCHEMA_VERSION: &str = "1";

/// The fixed columns of `records`, in order; the `-f` columns follow them.
const COLUMNS: [&str; 25] = [
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

/// A record a database already holds successfully: its id, and a crawl's record's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoneRow {
    pub id: Id,
    /// The URL of a crawl's record (its leaves share their seed's id).
    pub crawl_url: Option<String>,
}

/// What `--resume` found in a database, per run (index 0 is run 1).
#[derive(Debug, Clone, Default)]
pub struct Resumed {
    pub done: Vec<Vec<DoneRow>>,
    /// Failed rows removed, per run: their ids are fetched again.
    pub failed: Vec<usize>,
}

/// How a field path is stored: the column named by the path (quoted), or, when that name is taken
/// by a fixed column or an earlier path (SQLite's names ignore case), `fields.<path>`.
fn field_columns(paths: &[FieldPath]) -> Vec<String> {
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
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The text of the schema for a job whose field columns are `fields`.
fn schema(fields: &[String]) -> String {
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
"
    )
}

/// The insert of one record row: every column, in order, as numbered parameters.
fn insert_sql(fields: &[String]) -> String {
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

/// Writes a job's records to a database: see the module's documentation.
pub struct SqliteSink {
    conn: Connection,
    path: PathBuf,
    insert: String,
    /// The run whose records are being written (1-based).
    run: u32,
    /// Rows written since the last commit (a transaction is open when > 0).
    pending: usize,
}

impl fmt::Debug for SqliteSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteSink")
            .field("path", &self.path)
            .field("run", &self.run)
            .finish_non_exhaustive()
    }
}

impl SqliteSink {
    /// Opens `path` for a job identified by `job` whose records carry `paths`.
    ///
    /// Without `resume`, a database fetchbench wrote before is emptied (a file of another kind is
    /// refused, not overwritten). With `resume`, a missing or empty file starts afresh; a
    /// database of the same job keeps its successful rows and loses its failed ones (returned:
    /// their ids are fetched again); a database of another job is refused, unchanged.
    pub fn open(
        path: &Path,
        job: &JobReport,
        paths: &[FieldPath],
        resume: bool,
    ) -> Result<(Self, Resumed), DatabaseError> {
        let conn = connect(path, true)?;
        let err = |e| DatabaseError::sqlite(path, e);
        let fields = field_columns(paths);
        let existing = tables(&conn, path)?;
        let mut resumed = Resumed::default();
        let fresh = existing.is_empty();
        if !fresh {
            let stored = stored(&conn, path)?;
            if resume {
                let differences = stored.job.differences(job);
                if !differences.is_empty() {
                    return Err(DatabaseError::OtherJob {
                        path: path.to_owned(),
                        differences,
                    });
                }
            }
        }
        // Only now is anything written: a refused database keeps its bytes and its journal mode.
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .map_err(err)?;
        // In WAL mode a commit reaches the file without waiting for the disk: a killed process
        // loses nothing committed, only a power cut could lose the last batches.
        conn.execute_batch("PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE")
            .map_err(err)?;
        if fresh || !resume {
            let setup = format!(
                "DROP TABLE IF EXISTS records; DROP TABLE IF EXISTS runs; DROP TABLE IF EXISTS meta;\n{}",
                schema(&fields)
            );
            conn.execute_batch(&setup).map_err(err)?;
            let pairs: Vec<(&str, &str)> = paths
                .iter()
                .map(FieldPath::as_str)
                .zip(fields.iter().map(String::as_str))
                .collect();
            let settings = serde_json::to_string(&job.settings)
                .map_err(|e| err(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
            let field_map = serde_json::to_string(&pairs)
                .map_err(|e| err(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
            for (key, value) in [
                ("schema_version", SCHEMA_VERSION),
                ("job_fingerprint", job.fingerprint.as_str()),
                ("job", settings.as_str()),
                ("fields", field_map.as_str()),
            ] {
                conn.execute("INSERT INTO meta(key, value) VALUES(?1, ?2)", [key, value])
                    .map_err(err)?;
            }
        } else {
            resumed = take_stock(&conn).map_err(err)?;
        }
        conn.execute_batch("COMMIT").map_err(err)?;
        let insert = insert_sql(&fields);
        Ok((
            Self {
                conn,
                path: path.to_owned(),
                insert,
                run: 1,
                pending: 0,
            },
            resumed,
        ))
    }

    fn commit(&mut self) -> io::Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        self.pending = 0;
        self.conn.execute_batch("COMMIT").map_err(|e| self.error(e))
    }

    fn error(&self, e: rusqlite::Error) -> io::Error {
        DatabaseError::sqlite(&self.path, e).io()
    }

    fn insert(&mut self, record: &Record) -> rusqlite::Result<()> {
        let mut stmt = self.conn.prepare_cached(&self.insert)?;
        let lineage = record.crawl.as_deref();
        let t = &record.timing;
        let (waited, cause) = record.wait.map_or((0.0, None), |w| {
            (duration_ms(w.time), Some(w.cause.as_str()))
        });
        let failure = record.failure.as_ref();
        let fixed: [&dyn rusqlite::ToSql; 25] = [
            &self.run,
            &IdSql(&record.id),
            &lineage.map(|l| l.key.as_str()),
            &record.url,
            &lineage.map(|l| l.depth),
            &lineage.and_then(|l| l.parent.as_deref()),
            &record.status,
            &record.http_version,
            &record.elapsed_ms(),
            &waited,
            &cause,
            &(record.bytes as i64),
            &(record.wire_bytes as i64),
            &record.attempts,
            &record.cache.map(CacheUse::as_str),
            &failure.map(|f| f.kind.as_str()),
            &failure.map(|f| f.message.as_str()),
            &record.scheduled.as_secs_f64(),
            &record.started.as_secs_f64(),
            &record.finished().as_secs_f64(),
            &t.dns_ms,
            &t.connect_ms,
            &t.ttfb_ms,
            &t.body_ms,
            &t.tls_ms,
        ];
        for (i, value) in fixed.iter().enumerate() {
            stmt.raw_bind_parameter(i + 1, value)?;
        }
        // One value per column of the job's paths, in order (a missing one is null).
        let columns = stmt.parameter_count() - fixed.len();
        for i in 0..columns {
            let value = record.fields.get(i).unwrap_or(&Value::Null);
            stmt.raw_bind_parameter(fixed.len() + i + 1, JsonSql(value))?;
        }
        stmt.raw_execute().map(drop)
    }
}

/// What a database being resumed holds: its successful rows per run; its failed rows are deleted
/// (inside the caller's transaction), to be fetched again.
fn take_stock(conn: &Connection) -> rusqlite::Result<Resumed> {
    let mut resumed = Resumed::default();
    let mut stmt = conn.prepare("SELECT run, id, url, depth, error_kind FROM records")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let run: i64 = row.get(0)?;
        let Some(slot) = usize::try_from(run)
            .ok()
            .filter(|r| (1..=1 << 16).contains(r))
        else {
            continue;
        };
        if resumed.done.len() < slot {
            resumed.done.resize_with(slot, Vec::new);
            resumed.failed.resize(slot, 0);
        }
        let failed = row.get_ref(4)? != ValueRef::Null;
        if failed {
            resumed.failed[slot - 1] += 1;
            continue;
        }
        let Some(id) = id_of(row.get_ref(1)?) else {
            continue;
        };
        let crawl_url = match row.get_ref(3)? {
            ValueRef::Null => None,
            _ => Some(row.get::<_, String>(2)?),
        };
        resumed.done[slot - 1].push(DoneRow { id, crawl_url });
    }
    drop(rows);
    drop(stmt);
    conn.execute("DELETE FROM records WHERE error_kind IS NOT NULL", [])?;
    Ok(resumed)
}

/// The id a row holds: an integer, or a word.
fn id_of(value: ValueRef<'_>) -> Option<Id> {
    match value {
        ValueRef::Integer(n) => u64::try_from(n).ok().map(Id::Num),
        ValueRef::Text(t) => std::str::from_utf8(t).ok().map(|t| Id::Text(Arc::from(t))),
        _ => None,
    }
}

/// An id as SQLite stores it: a number as an integer, a word as text.
struct IdSql<'a>(&'a Id);

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

/// A JSON value as SQLite's own type: numbers as numbers, strings as text, booleans as 0/1,
/// lists and objects as JSON text.
struct JsonSql<'a>(&'a Value);

impl rusqlite::ToSql for JsonSql<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ToSqlOutput;
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Owned(SqlValue::Null),
            Value::Bool(b) => i64::from(*b).into(),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => i.into(),
                (None, Some(f)) if n.is_f64() => f.into(),
                // A u64 beyond SQLite's integers: kept exact, as text.
                _ => n.to_string().into(),
            },
            Value::String(s) => s.as_str().into(),
            other => other.to_string().into(),
        })
    }
}

impl RecordSink for SqliteSink {
    fn write(&mut self, record: &Record) -> io::Result<()> {
        if self.pending == 0 {
            self.conn
                .execute_batch("BEGIN")
                .map_err(|e| self.error(e))?;
        }
        // Counted before the insert: a failed insert leaves the transaction to be ended.
        self.pending += 1;
        self.insert(record).map_err(|e| self.error(e))?;
        if self.pending >= BATCH_ROWS {
            self.commit()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.commit()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.commit()
    }

    fn every_run(&self) -> bool {
        true
    }

    fn start_run(&mut self, run: &RunInfo) -> io::Result<()> {
        self.commit()?;
        self.run = run.number;
        // A resumed run keeps the row and the start of its first part.
        self.conn
            .execute(
                "INSERT INTO runs(run, mode, concurrency, rate, command, version, started_at)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(run) DO UPDATE SET mode = excluded.mode,
                   concurrency = excluded.concurrency, rate = excluded.rate,
                   command = excluded.command, version = excluded.version, ended_at = NULL",
                rusqlite::params![
                    run.number,
                    run.mode,
                    run.concurrency as i64,
                    run.rate,
                    run.command,
                    run.version,
                    now_rfc3339()
                ],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    fn end_runs(&mut self, reports: &[Value]) -> io::Result<()> {
        self.commit()?;
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.error(e))?;
        for (i, report) in reports.iter().enumerate() {
            let ended = report
                .get("ended_at_rfc3339")
                .and_then(Value::as_str)
                .map_or_else(now_rfc3339, str::to_owned);
            tx.execute(
                "UPDATE runs SET ended_at = ?1, report = ?2 WHERE run = ?3",
                rusqlite::params![ended, report.to_string(), i as i64 + 1],
            )
            .map_err(|e| self.error(e))?;
        }
        tx.commit().map_err(|e| self.error(e))
    }
}

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
fn json_of(value: &SqlValue) -> Value {
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
/// as they are.
pub struct MergeWriter {
    conn: Connection,
    path: PathBuf,
    insert: String,
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
        Ok(Self {
            conn,
            path: path.to_owned(),
            insert: insert_sql(&columns),
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
        let mut stmt = self
            .conn
            .prepare_cached(&self.insert)
            .map_err(|e| DatabaseError::sqlite(&self.path, e))?;
        stmt.execute(rusqlite::params_from_iter(row.values.iter()))
            .map(drop)
            .map_err(|e| DatabaseError::sqlite(&self.path, e))
    }

    /// Commits the whole merge and switches the file to WAL mode, as a run leaves it.
    pub fn finish(self) -> Result<(), DatabaseError> {
        let err = |e| DatabaseError::sqlite(&self.path, e);
        self.conn.execute_batch("COMMIT").map_err(err)?;
        self.conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .map_err(err)?;
        self.conn.close().map_err(|(_, e)| err(e))
    }
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

    #[test]
    fn json_values_keep_their_types() {
        let dir = tempfile::tempdir().expect("dir");
        let conn = Connection::open(dir.path().join("t.sqlite")).expect("open");
        conn.execute_batch("CREATE TABLE t(v)").expect("table");
        for value in [
            serde_json::json!(null),
            serde_json::json!(3),
            serde_json::json!(2.5),
            serde_json::json!("x"),
            serde_json::json!(true),
            serde_json::json!([1, 2]),
            serde_json::json!({"a": 1}),
        ] {
            conn.execute("INSERT INTO t(v) VALUES(?1)", [JsonSql(&value)])
                .expect("insert");
        }
        let mut stmt = conn.prepare("SELECT typeof(v), v FROM t").expect("select");
        let got: Vec<(String, SqlValue)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let types: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            types,
            ["null", "integer", "real", "text", "integer", "text", "text"]
        );
        assert_eq!(json_of(&got[5].1), serde_json::json!([1, 2]));
        assert_eq!(json_of(&got[6].1), serde_json::json!({"a": 1}));
    }
}
