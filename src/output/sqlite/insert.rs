//! The records insert, prepared once for the life of the sink or of a merge's writer (the one way
//! a `records` row goes in, so the two cannot drift) and driven through SQLite's C API: a row
//! costs its binds and its step, not a cache lookup, a `clear_bindings` and rusqlite's checks per
//! value (docs/performance.md, `raw-sqlite`).

use std::borrow::Cow;
use std::ffi::{c_int, CStr};
use std::ptr::{self, NonNull};

use rusqlite::types::Value as SqlValue;
use rusqlite::{ffi, Connection};

use super::schema::insert_sql;

/// One parameter's value: text borrowed from the row is bound without a copy.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Sql<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(Cow<'a, str>),
    /// Only a merge binds one: a blob some other program put in a shard's row, copied as it is.
    Blob(&'a [u8]),
}

/// A value read from a database (a shard's row, for a merge) bound as it was, text and blobs
/// borrowed.
impl<'a> From<&'a SqlValue> for Sql<'a> {
    fn from(value: &'a SqlValue) -> Self {
        match value {
            SqlValue::Null => Sql::Null,
            SqlValue::Integer(n) => Sql::Int(*n),
            SqlValue::Real(f) => Sql::Real(*f),
            SqlValue::Text(t) => Sql::Text(Cow::Borrowed(t)),
            SqlValue::Blob(b) => Sql::Blob(b),
        }
    }
}

impl<'a, T: Into<Sql<'a>>> From<Option<T>> for Sql<'a> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Sql::Null, Into::into)
    }
}

impl<'a> From<&'a str> for Sql<'a> {
    fn from(value: &'a str) -> Self {
        Sql::Text(Cow::Borrowed(value))
    }
}

impl From<String> for Sql<'_> {
    fn from(value: String) -> Self {
        Sql::Text(Cow::Owned(value))
    }
}

impl From<f64> for Sql<'_> {
    fn from(value: f64) -> Self {
        Sql::Real(value)
    }
}

impl From<i64> for Sql<'_> {
    fn from(value: i64) -> Self {
        Sql::Int(value)
    }
}

impl From<u32> for Sql<'_> {
    fn from(value: u32) -> Self {
        Sql::Int(value.into())
    }
}

impl From<u16> for Sql<'_> {
    fn from(value: u16) -> Self {
        Sql::Int(value.into())
    }
}

/// A prepared statement owned outright, finalized before its connection closes (the sink declares
/// it before the connection); were it dropped later, SQLite would refuse to close the connection
/// (`sqlite3_close` with a statement left), not leave the statement dangling.
pub(super) struct RowInsert {
    stmt: NonNull<ffi::sqlite3_stmt>,
    /// The parameters bound to NULL now (a binding stays until rebound): NULL again needs no call.
    null: Vec<bool>,
}

// SAFETY: the connection is opened without SQLite's mutexes (multi-thread mode), where a
// statement may move between threads as long as one thread uses it at a time, which `&mut self`
// ensures.
unsafe impl Send for RowInsert {}

impl RowInsert {
    /// The insert of one `records` row (the fixed columns, then one per `-f` column in
    /// `fields`): the one way a row goes in, whether a run writes it or a merge copies it.
    pub(super) fn records(conn: &Connection, fields: &[String]) -> rusqlite::Result<Self> {
        Self::prepare(conn, &insert_sql(fields))
    }

    /// Prepares `sql` on `conn`, to be kept (SQLite's `PREPARE_PERSISTENT`).
    pub(super) fn prepare(conn: &Connection, sql: &str) -> rusqlite::Result<Self> {
        let len = c_int::try_from(sql.len()).map_err(|_| {
            rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_TOOBIG), None)
        })?;
        let mut stmt = ptr::null_mut();
        // SAFETY: the handle is the open connection's; the text is passed with its length (no
        // terminator needed) and `stmt` is a valid place for the result.
        unsafe {
            let db = conn.handle();
            let rc = ffi::sqlite3_prepare_v3(
                db,
                sql.as_ptr().cast(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT as _,
                &mut stmt,
                ptr::null_mut(),
            );
            if rc != ffi::SQLITE_OK {
                return Err(failure(db, rc));
            }
        }
        let stmt = NonNull::new(stmt).ok_or_else(|| {
            rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_MISUSE), None)
        })?;
        // SAFETY: `stmt` is the live statement just prepared.
        let count = unsafe { ffi::sqlite3_bind_parameter_count(stmt.as_ptr()) };
        Ok(Self {
            stmt,
            null: vec![false; usize::try_from(count).unwrap_or(0)],
        })
    }

    /// Binds every parameter from `values` in order (those it does not reach are NULL), then
    /// inserts the row.
    pub(super) fn insert<'a>(
        &mut self,
        values: impl IntoIterator<Item = Sql<'a>>,
    ) -> rusqlite::Result<()> {
        let mut values = values.into_iter();
        for i in 0..self.null.len() {
            self.bind(i, values.next().unwrap_or(Sql::Null))?;
        }
        let stmt = self.stmt.as_ptr();
        // SAFETY: every parameter was bound just now (or is NULL): a borrowed text it reads lives
        // for the whole of this call; the reset leaves the statement ready for the next row.
        unsafe {
            let rc = ffi::sqlite3_step(stmt);
            let result = match rc {
                ffi::SQLITE_DONE => Ok(()),
                _ => Err(failure(ffi::sqlite3_db_handle(stmt), rc)),
            };
            ffi::sqlite3_reset(stmt);
            result
        }
    }

    /// Binds parameter `i` (0-based). Text borrowed from the caller is bound without a copy: it is
    /// read only by the step of the same `insert`, and rebound before any later step.
    fn bind(&mut self, i: usize, value: Sql<'_>) -> rusqlite::Result<()> {
        let was_null = std::mem::replace(&mut self.null[i], false);
        let is_null = matches!(value, Sql::Null);
        let stmt = self.stmt.as_ptr();
        // In range: `null` has one entry per parameter, and SQLite numbers them from 1.
        let n = i as c_int + 1;
        // SAFETY: `stmt` is live and `n` one of its parameters; a text's pointer and length are
        // its own, copied by SQLite (TRANSIENT) when the text would not outlive the step.
        let rc = unsafe {
            match value {
                Sql::Null if was_null => ffi::SQLITE_OK,
                Sql::Null => ffi::sqlite3_bind_null(stmt, n),
                Sql::Int(v) => ffi::sqlite3_bind_int64(stmt, n, v),
                Sql::Real(v) => ffi::sqlite3_bind_double(stmt, n, v),
                Sql::Text(Cow::Borrowed(t)) => ffi::sqlite3_bind_text64(
                    stmt,
                    n,
                    t.as_ptr().cast(),
                    t.len() as u64,
                    ffi::SQLITE_STATIC(),
                    ffi::SQLITE_UTF8 as _,
                ),
                Sql::Text(Cow::Owned(t)) => ffi::sqlite3_bind_text64(
                    stmt,
                    n,
                    t.as_ptr().cast(),
                    t.len() as u64,
                    ffi::SQLITE_TRANSIENT(),
                    ffi::SQLITE_UTF8 as _,
                ),
                Sql::Blob(b) => ffi::sqlite3_bind_blob64(
                    stmt,
                    n,
                    b.as_ptr().cast(),
                    b.len() as u64,
                    ffi::SQLITE_STATIC(),
                ),
            }
        };
        if rc != ffi::SQLITE_OK {
            // SAFETY: `stmt` is live.
            return Err(unsafe { failure(ffi::sqlite3_db_handle(stmt), rc) });
        }
        self.null[i] = is_null;
        Ok(())
    }
}

impl Drop for RowInsert {
    fn drop(&mut self) {
        // SAFETY: the statement is live and finalized once; its connection is still open.
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

/// The error `rc` as rusqlite gives it, with the connection's message.
///
/// # Safety
/// `db` is an open connection.
unsafe fn failure(db: *mut ffi::sqlite3, rc: c_int) -> rusqlite::Error {
    let message = unsafe { ffi::sqlite3_errmsg(db) };
    let message = (!message.is_null()).then(|| {
        unsafe { CStr::from_ptr(message) }
            .to_string_lossy()
            .into_owned()
    });
    rusqlite::Error::SqliteFailure(ffi::Error::new(rc), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_null_kept_from_the_row_before_or_a_value_changed_is_the_rows_own() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE t(a, b, c)")
            .expect("table");
        let mut insert =
            RowInsert::prepare(&conn, "INSERT INTO t VALUES(?, ?, ?)").expect("prepare");
        let rows: Vec<[Sql; 3]> = vec![
            [Sql::Int(1), "x".into(), Sql::Null],
            [Sql::Int(1), "x".into(), Sql::Real(2.5)],
            [Sql::Int(2), String::from("yy").into(), Sql::Real(2.5)],
            [Sql::Null, "y".into(), Sql::Real(0.5)],
            [Sql::Null, Sql::Null, "z".into()],
            [Sql::Blob(b"\x00b"), Sql::Null, Sql::Null],
        ];
        for row in rows {
            // Texts of its own, copied by SQLite (only borrowed ones are bound without a copy).
            let owned: Vec<Sql> = row
                .into_iter()
                .map(|v| match v {
                    Sql::Text(t) => Sql::Text(Cow::Owned(t.into_owned())),
                    other => other,
                })
                .collect();
            insert.insert(owned).expect("insert");
        }
        // Fewer values than parameters: the rest are null.
        insert.insert([Sql::Int(7)]).expect("short row");
        let mut stmt = conn
            .prepare("SELECT quote(a), quote(b), quote(c) FROM t ORDER BY rowid")
            .expect("select");
        let got: Vec<String> = stmt
            .query_map([], |r| {
                Ok(format!(
                    "{} {} {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?
                ))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            got,
            [
                "1 'x' NULL",
                "1 'x' 2.5",
                "2 'yy' 2.5",
                "NULL 'y' 0.5",
                "NULL NULL 'z'",
                "X'0062' NULL NULL",
                "7 NULL NULL"
            ]
        );
    }
}
