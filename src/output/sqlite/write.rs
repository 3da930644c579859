//! The sink that writes a run's records as rows, in batches, each batch one transaction.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

#[cfg(test)]
use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::Value;

use super::frontier;
use super::insert::{RowInsert, Sql};
use super::resume::{take_stock, Resumed};
use super::schema::{field_columns, schema, FRONTIER};
use super::{
    connect, now_rfc3339, stored, tables, DatabaseError, RunInfo, BATCH_ROWS, SCHEMA_VERSION,
};
use crate::extract::FieldPath;
use crate::output::RecordSink;
use crate::plan::ids::Id;
use crate::record::{duration_ms, CacheUse, Record};
use crate::report::job::JobReport;

/// Writes a job's records to a database: see the module's documentation.
pub struct SqliteSink {
    /// Declared before `conn`: a statement is finalized before its connection closes.
    insert: RowInsert,
    conn: Connection,
    path: PathBuf,
    /// The run whose records are being written (1-based).
    run: u32,
    /// Rows written since the last commit (a transaction is open when > 0).
    pending: usize,
    /// A crawl's records came: a batch is committed between records only, never between a
    /// record's results and the frontier's change for them.
    crawling: bool,
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
                "DROP TABLE IF EXISTS records; DROP TABLE IF EXISTS runs; DROP TABLE IF EXISTS meta;
                 DROP TABLE IF EXISTS frontier;\n{}",
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
            conn.execute_batch(FRONTIER).map_err(err)?;
            resumed = take_stock(&conn).map_err(err)?;
        }
        conn.execute_batch("COMMIT").map_err(err)?;
        let insert = RowInsert::records(&conn, &fields).map_err(err)?;
        Ok((
            Self {
                conn,
                path: path.to_owned(),
                insert,
                run: 1,
                pending: 0,
                crawling: false,
            },
            resumed,
        ))
    }

    /// Opens a batch's transaction unless one is open.
    fn begin(&mut self) -> io::Result<()> {
        if self.pending == 0 {
            self.conn
                .execute_batch("BEGIN")
                .map_err(|e| self.error(e))?;
        }
        Ok(())
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
        let lineage = record.crawl.as_deref();
        let t = &record.timing;
        let (waited, cause) = record.wait.map_or((0.0, None), |w| {
            (duration_ms(w.time), Some(w.cause.as_str()))
        });
        let failure = record.failure.as_ref();
        let fixed: [Sql; 25] = [
            self.run.into(),
            id_sql(&record.id),
            lineage.map(|l| l.key.as_str()).into(),
            record.url.as_str().into(),
            lineage.map(|l| l.depth).into(),
            lineage.and_then(|l| l.parent.as_deref()).into(),
            record.status.into(),
            record.http_version.into(),
            record.elapsed_ms().into(),
            waited.into(),
            cause.into(),
            int(record.bytes),
            int(record.wire_bytes),
            record.attempts.into(),
            record.cache.map(CacheUse::as_str).into(),
            failure.map(|f| f.kind.as_str()).into(),
            failure.map(|f| f.message.as_str()).into(),
            record.scheduled.as_secs_f64().into(),
            record.started.as_secs_f64().into(),
            record.finished().as_secs_f64().into(),
            t.dns_ms.into(),
            t.connect_ms.into(),
            t.ttfb_ms.into(),
            t.body_ms.into(),
            t.tls_ms.into(),
        ];
        // One value per column of the job's paths, in order (a missing one is null).
        let fields = record.fields.iter().map(json_sql);
        self.insert.insert(fixed.into_iter().chain(fields))
    }
}

/// A count as SQLite's integer (as the NDJSON writes it; none comes near 2^63).
fn int(n: u64) -> Sql<'static> {
    Sql::Int(n as i64)
}

/// An id as SQLite stores it: a number as an integer, a word as text (as `IdSql`).
fn id_sql(id: &Id) -> Sql<'_> {
    match id {
        Id::Num(n) => match i64::try_from(*n) {
            Ok(n) => Sql::Int(n),
            // Beyond SQLite's integers: its digits, as the NDJSON writes them.
            Err(_) => n.to_string().into(),
        },
        Id::Text(t) => t.as_ref().into(),
    }
}

/// A JSON value as SQLite's own type: numbers as numbers, strings as text, booleans as 0/1,
/// lists and objects as JSON text.
fn json_sql(value: &Value) -> Sql<'_> {
    match value {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Int(i64::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Sql::Int(i),
            (None, Some(f)) if n.is_f64() => Sql::Real(f),
            // A u64 beyond SQLite's integers: kept exact, as text.
            _ => n.to_string().into(),
        },
        Value::String(s) => s.as_str().into(),
        other => other.to_string().into(),
    }
}

/// `json_sql` through rusqlite's binding, for the test that reads the values back.
#[cfg(test)]
struct JsonSql<'a>(&'a Value);

#[cfg(test)]
impl rusqlite::ToSql for JsonSql<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        use std::borrow::Cow;
        Ok(match json_sql(self.0) {
            Sql::Null => ToSqlOutput::Owned(SqlValue::Null),
            Sql::Int(i) => i.into(),
            Sql::Real(f) => f.into(),
            Sql::Text(Cow::Borrowed(t)) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Sql::Text(Cow::Owned(t)) => t.into(),
            Sql::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

impl RecordSink for SqliteSink {
    fn write(&mut self, record: &Record) -> io::Result<()> {
        self.begin()?;
        // Counted before the insert: a failed insert leaves the transaction to be ended.
        self.pending += 1;
        self.insert(record).map_err(|e| self.error(e))?;
        if self.pending >= BATCH_ROWS && !self.crawling {
            self.commit()?;
        }
        Ok(())
    }

    fn crawl_step(&mut self, record: &Record) -> io::Result<()> {
        self.crawling = true;
        // Between two records: the last one's rows and frontier went in together.
        if self.pending >= BATCH_ROWS {
            self.commit()?;
        }
        self.begin()?;
        // The step counts as a row, so the transaction it opened is known to be open.
        self.pending += 1;
        let changed = frontier::step(&self.conn, self.run, record).map_err(|e| self.error(e))?;
        self.pending += changed;
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

#[cfg(test)]
mod tests {
    use super::super::merge::json_of;
    use super::*;

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
