//! The `frontier` table: a crawl's work released and not yet done (links found, next pages with
//! their cursors' tokens in the URL) and its pages and other steps done, each change written in
//! the same batch as the rows of the record that caused it, so `--resume` goes on from there
//! instead of fetching every page again.

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection};

use super::schema::{id_of, run_slot, IdSql};
use crate::engine::SavedWork;
use crate::record::{Record, WorkItem};

const UPSERT: &str =
    "INSERT OR REPLACE INTO frontier(run, path, key, id, kind, url, depth, parent, \
                      fanned, done) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// What a crawl's `record` changes in the frontier of run `run`: the work its document released
/// is pending; it is done (a page or another step stays, marked done, for its URL; a result
/// leaves, being in `records`). A failure changes nothing: its work stays pending (a seed's is
/// its range's), to be fetched again. Returns the rows changed.
pub(super) fn step(conn: &Connection, run: u32, record: &Record) -> rusqlite::Result<usize> {
    let Some(lineage) = record.crawl.as_deref() else {
        return Ok(0);
    };
    let Some(work) = lineage.work.as_deref().filter(|_| record.is_ok()) else {
        return Ok(0);
    };
    let mut upsert = conn.prepare_cached(UPSERT)?;
    let mut put = |item: &WorkItem, done: bool| {
        upsert.execute(params![
            run,
            path_text(&item.path),
            item.key(&record.id),
            IdSql(&record.id),
            kind(item),
            item.url,
            item.depth(),
            item.parent,
            item.fanned,
            done
        ])
    };
    for item in &work.released {
        put(item, false)?;
    }
    if lineage.depth == 0 || !lineage.result {
        put(&work.at, true)?;
    } else {
        conn.prepare_cached("DELETE FROM frontier WHERE run = ?1 AND path = ?2")?
            .execute(params![run, path_text(&work.at.path)])?;
    }
    Ok(work.released.len() + 1)
}

/// A seed's first page, a chain's later page, or a link followed.
fn kind(item: &WorkItem) -> &'static str {
    match item.path[..] {
        [_, 0] => "seed",
        [_, _] => "page",
        _ => "link",
    }
}

/// A place as text: its numbers joined by dots (`3.0.17`: seed 3, its first page, link 17).
fn path_text(path: &[u32]) -> String {
    let parts: Vec<String> = path.iter().map(u32::to_string).collect();
    parts.join(".")
}

fn path_of(text: &str) -> Option<Vec<u32>> {
    text.split('.').map(|n| n.parse().ok()).collect()
}

/// Each run's saved work (index 0 is run 1; a run without any has none).
pub(super) fn saved(conn: &Connection) -> rusqlite::Result<Vec<SavedWork>> {
    let mut runs: Vec<SavedWork> = Vec::new();
    let mut stmt = conn.prepare("SELECT run, path, id, url, parent, fanned, done FROM frontier")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let Some(slot) = run_slot(row.get(0)?) else {
            continue;
        };
        let (Some(path), Some(id)) = (path_of(&row.get::<_, String>(1)?), id_of(row.get_ref(2)?))
        else {
            continue;
        };
        if runs.len() < slot {
            runs.resize_with(slot, SavedWork::default);
        }
        let item = WorkItem {
            path,
            url: row.get(3)?,
            parent: match row.get_ref(4)? {
                ValueRef::Null => None,
                _ => Some(row.get(4)?),
            },
            fanned: row.get(5)?,
        };
        let saved = &mut runs[slot - 1];
        match row.get::<_, bool>(6)? {
            true => saved.done.push(item),
            false => saved.pending.push((id, item)),
        }
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::test_util::record;
    use crate::plan::ids::Id;
    use crate::record::{CrawlWork, ErrorKind, Failure, Lineage};

    fn item(path: Vec<u32>) -> WorkItem {
        WorkItem {
            url: format!("http://h.test/{}", path_text(&path)),
            path,
            parent: None,
            fanned: false,
        }
    }

    /// Seed 9's record at `path` (a result or a step), having released `released`.
    fn crawled(path: Vec<u32>, result: bool, released: Vec<WorkItem>, ok: bool) -> Record {
        let failure = (!ok).then(|| Failure {
            kind: ErrorKind::Status,
            message: "HTTP 503".into(),
        });
        let mut record = record(9, Some(200), vec![], failure);
        let at = item(path);
        record.crawl = Some(Box::new(Lineage {
            key: at.key(&record.id),
            depth: at.depth(),
            parent: None,
            result,
            items: false,
            work: Some(Box::new(CrawlWork { at, released })),
        }));
        record
    }

    #[test]
    fn released_work_is_pending_until_done_a_step_stays_done_and_a_failure_changes_nothing() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(super::super::schema::FRONTIER)
            .expect("table");
        let seed = crawled(
            vec![0, 0],
            false,
            vec![item(vec![0, 0, 0]), item(vec![0, 1])],
            true,
        );
        assert_eq!(step(&conn, 1, &seed).expect("step"), 3);
        // The leaf fails: still pending; then it is fetched again and done: in `records` only.
        let leaf = |ok| crawled(vec![0, 0, 0], true, vec![], ok);
        assert_eq!(step(&conn, 1, &leaf(false)).expect("failure"), 0);
        let runs = saved(&conn).expect("read");
        let pending: Vec<_> = runs[0]
            .pending
            .iter()
            .map(|(_, w)| w.path.clone())
            .collect();
        assert_eq!(pending, [vec![0, 0, 0], vec![0, 1]]);
        step(&conn, 1, &leaf(true)).expect("leaf");
        let runs = saved(&conn).expect("read");
        assert_eq!(runs[0].pending, [(Id::Num(9), item(vec![0, 1]))]);
        assert_eq!(runs[0].done, [item(vec![0, 0])]);
        assert_eq!(runs[0].done_seeds().into_iter().collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn a_place_is_written_as_dotted_numbers_and_read_back() {
        assert_eq!(path_text(&[3, 0, 17]), "3.0.17");
        assert_eq!(path_of("3.0.17"), Some(vec![3, 0, 17]));
        assert_eq!(path_of("3.x"), None);
        let item = |path: Vec<u32>| WorkItem {
            path,
            url: String::new(),
            parent: None,
            fanned: false,
        };
        let kinds: Vec<_> = [vec![3, 0], vec![3, 2], vec![3, 2, 0]]
            .into_iter()
            .map(|p| kind(&item(p)))
            .collect();
        assert_eq!(kinds, ["seed", "page", "link"]);
    }
}
