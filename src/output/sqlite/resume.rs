//! What `--resume` finds in a database: each run's successful records (their failed ones are
//! deleted, to be fetched again) and a crawl's saved work (its `frontier`).

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::frontier;
use super::schema::{id_of, run_slot};
use crate::engine::SavedWork;
use crate::plan::ids::Id;

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
    /// A crawl's saved work, per run (see the `frontier` table): empty for a run that has none,
    /// which then fetches its pages again.
    pub saved: Vec<SavedWork>,
}

/// What a database being resumed holds: its successful rows per run; its failed rows are deleted
/// (inside the caller's transaction), to be fetched again.
pub(super) fn take_stock(conn: &Connection) -> rusqlite::Result<Resumed> {
    let saved = frontier::saved(conn)?;
    // A pagination loop is no failure to fetch again: a crawl going on from its frontier does
    // not fetch the page that found it again, so its row stays as it is.
    let goes_on: Vec<bool> = saved.iter().map(|s| !s.is_empty()).collect();
    let loop_kept = |run: usize, kind: ValueRef<'_>| {
        kind == ValueRef::Text(b"pagination") && goes_on.get(run - 1).copied().unwrap_or(false)
    };
    let mut resumed = Resumed {
        saved,
        ..Resumed::default()
    };
    let mut stmt = conn.prepare("SELECT run, id, url, depth, error_kind FROM records")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let Some(slot) = run_slot(row.get(0)?) else {
            continue;
        };
        if resumed.done.len() < slot {
            resumed.done.resize_with(slot, Vec::new);
            resumed.failed.resize(slot, 0);
        }
        let kind = row.get_ref(4)?;
        if kind != ValueRef::Null {
            if !loop_kept(slot, kind) {
                resumed.failed[slot - 1] += 1;
            }
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
    conn.execute(
        "DELETE FROM records WHERE error_kind IS NOT NULL
         AND NOT (error_kind = 'pagination' AND run IN (SELECT run FROM frontier))",
        [],
    )?;
    Ok(resumed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crawl_going_on_from_its_frontier_keeps_its_pagination_loops_and_deletes_other_failures() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(&super::super::schema::schema(&[]))
            .expect("schema");
        let record = |run: i64, url: &str, kind: Option<&str>| {
            conn.execute(
                "INSERT INTO records(run, id, url, depth, elapsed_ms, waited_ms, bytes, wire_bytes,
                   attempts, scheduled_s, started_s, finished_s, error_kind)
                 VALUES(?1, 1, ?2, 0, 0, 0, 0, 0, 1, 0, 0, 0, ?3)",
                rusqlite::params![run, url, kind],
            )
            .expect("insert");
        };
        record(1, "http://h.test/?page=2", Some("pagination"));
        record(1, "http://h.test/3", Some("status"));
        record(2, "http://h.test/?page=2", Some("pagination"));
        conn.execute(
            "INSERT INTO frontier(run, path, key, id, kind, url, depth, fanned, done)
             VALUES(1, '0.0', '1.0', 1, 'seed', 'http://h.test/?page=1', 0, 0, 1)",
            [],
        )
        .expect("frontier");
        let resumed = take_stock(&conn).expect("stock");
        // Run 2 kept no frontier: its pages are fetched again, and with them its loop.
        assert_eq!(resumed.failed, [1, 1]);
        let left: Vec<(i64, String)> = conn
            .prepare("SELECT run, error_kind FROM records")
            .expect("select")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(left, [(1, "pagination".to_owned())]);
    }
}
