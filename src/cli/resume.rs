//! Resume: which ids an earlier NDJSON results file already holds, and that file made ready for
//! appending; or, per run, which ids an earlier SQLite database holds (`output::sqlite` reads
//! it, with the same rule: only successful records are done) and the crawl's work it saved, to
//! go on from (an NDJSON file keeps none: a crawl resumed from one fetches its pages again).
//!
//! Only successful records count as done: failed ids are dropped from the file and fetched again.
//! A last line cut short by a crash is dropped too. The cleaned file replaces the old one
//! atomically (temporary file in the same folder, then rename), so a crash during resume loses
//! nothing that was there before.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use std::collections::HashSet;

use serde::Deserialize;

use crate::engine::SavedWork;
use crate::output::sqlite::DoneRow;
use crate::plan::ids::Id;

/// The ids a results file already holds successfully, and, of a crawl's records, their URLs
/// (a crawl's records share their seed's id: its leaves are told apart by URL); from a database,
/// a crawl's saved work too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DoneIds(HashSet<Id>, Vec<String>, SavedWork);

impl DoneIds {
    /// The crawl's work a database saved (its `frontier`), if it saved any: the run goes on
    /// from it instead of fetching its pages again.
    pub fn saved(&self) -> Option<&SavedWork> {
        (!self.2.is_empty()).then_some(&self.2)
    }

    /// With the crawl's work a database saved for this run: the results' URLs go with it (a
    /// link to one is a duplicate), rather than being skipped as done.
    pub fn with_saved(mut self, mut saved: SavedWork) -> Self {
        if !saved.is_empty() {
            saved.results = std::mem::take(&mut self.1);
        }
        self.2 = saved;
        self
    }

    /// The URLs of the crawl records already done.
    pub fn urls(&self) -> &[String] {
        &self.1
    }

    pub fn contains(&self, id: &Id) -> bool {
        self.0.contains(id)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl DoneIds {
    /// The ids (and a crawl's URLs) of a database's successful rows.
    pub fn from_rows(rows: Vec<DoneRow>) -> Self {
        let mut ids = HashSet::with_capacity(rows.len());
        let mut urls = Vec::new();
        for row in rows {
            ids.insert(row.id);
            urls.extend(row.crawl_url);
        }
        DoneIds(ids, urls, SavedWork::default())
    }
}

/// What is done, for each run of the job.
#[derive(Debug, Clone)]
pub enum Done {
    /// The same for every run: an NDJSON file keeps only the last run's records.
    Every(DoneIds),
    /// Run by run (index 0 is the first run): a database keeps each run's records.
    PerRun(Vec<DoneIds>),
}

impl Done {
    /// What run `index` (0-based) already has.
    pub fn of_run(&self, index: usize) -> &DoneIds {
        static NONE: std::sync::OnceLock<DoneIds> = std::sync::OnceLock::new();
        match self {
            Done::Every(done) => done,
            Done::PerRun(runs) => runs
                .get(index)
                .unwrap_or_else(|| NONE.get_or_init(DoneIds::default)),
        }
    }
}

/// What resuming found in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resumed {
    pub done: DoneIds,
    /// Failed records removed, to be fetched again.
    pub failed: usize,
    /// Lines that were not whole records (a truncated tail).
    pub damaged: usize,
}

/// The two fields resume reads from a record; the rest of the line is copied as it is.
#[derive(Deserialize)]
struct RecordHead {
    id: serde_json::Value,
    error: Option<serde_json::Value>,
    /// Present on a crawl's records, with the URL that tells its leaves apart.
    depth: Option<u32>,
    url: Option<String>,
}

/// The id of a record as written: a number, or the word of a word list.
fn id_of(value: &serde_json::Value) -> Option<Id> {
    match value {
        serde_json::Value::Number(n) => n.as_u64().map(Id::Num),
        serde_json::Value::String(s) => Some(Id::Text(s.as_str().into())),
        _ => None,
    }
}

/// A file's successful records, written beside it but not yet in its place: the caller checks
/// them first, so a refusal leaves the file as it was.
pub struct Cleaned {
    resumed: Resumed,
    /// The records to keep, and the file they replace; None when there was no file.
    beside: Option<(tempfile::NamedTempFile, std::path::PathBuf)>,
}

impl Cleaned {
    pub fn resumed(&self) -> &Resumed {
        &self.resumed
    }

    /// Puts the cleaned file in the old one's place.
    pub fn commit(self) -> io::Result<Resumed> {
        if let Some((temp, path)) = self.beside {
            crate::replace::persist(temp, &path)?;
        }
        Ok(self.resumed)
    }
}

/// Reads `path` and keeps its successful records, then rewrites it with just those.
#[cfg(test)]
pub fn prepare(path: &Path) -> io::Result<Resumed> {
    clean(path)?.commit()
}

/// Reads `path` (a missing file means nothing is done) and writes its successful records
/// beside it, to replace it on [`Cleaned::commit`].
pub fn clean(path: &Path) -> io::Result<Cleaned> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Cleaned {
                resumed: Resumed::default(),
                beside: None,
            })
        }
        Err(e) => return Err(e),
    };
    let mut out = BufWriter::new(crate::replace::beside(path)?);
    let mut resumed = Resumed::default();
    let mut ids = HashSet::new();
    let mut urls = Vec::new();
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        match serde_json::from_slice::<RecordHead>(text) {
            Ok(head) if head.error.as_ref().is_none_or(serde_json::Value::is_null) => {
                let Some(id) = id_of(&head.id) else {
                    resumed.damaged += 1;
                    continue;
                };
                out.write_all(text)?;
                out.write_all(b"\n")?;
                ids.insert(id);
                if let (Some(_), Some(url)) = (head.depth, head.url) {
                    urls.push(url);
                }
            }
            Ok(_) => resumed.failed += 1,
            Err(_) => resumed.damaged += 1,
        }
    }
    let temp = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    resumed.done = DoneIds(ids, urls, SavedWork::default());
    Ok(Cleaned {
        resumed,
        beside: Some((temp, path.to_owned())),
    })
}

/// Of the ids `done`, one that `ids` (this run's, each once or more) never yields, and how many
/// such there are: a file of another shard or another job's ids.
pub fn foreign(done: &DoneIds, ids: impl Iterator<Item = Id>) -> Option<(usize, Id)> {
    let mut seen = HashSet::new();
    for id in ids.filter(|id| done.contains(id)) {
        seen.insert(id);
        if seen.len() == done.len() {
            return None;
        }
    }
    let example = done.0.iter().find(|id| !seen.contains(*id))?.clone();
    Some((done.len() - seen.len(), example))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_good_records_drops_failed_and_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        std::fs::write(
            &path,
            concat!(
                "{\"id\":1,\"error\":null,\"fields\":{}}\n",
                "{\"id\":2,\"error\":\"HTTP 503\",\"fields\":{}}\n",
                "{\"id\":3,\"error\":null,\"fields\":{}}\n",
                "{\"id\":4,\"err",
            ),
        )
        .unwrap();
        let resumed = prepare(&path).unwrap();
        assert!(resumed.done.contains(&Id::Num(1)) && resumed.done.contains(&Id::Num(3)));
        assert!(!resumed.done.contains(&Id::Num(2)) && !resumed.done.contains(&Id::Num(4)));
        assert_eq!((resumed.failed, resumed.damaged), (1, 1));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"id\":1,\"error\":null,\"fields\":{}}\n{\"id\":3,\"error\":null,\"fields\":{}}\n"
        );
    }

    #[test]
    fn a_missing_file_means_nothing_done() {
        let dir = tempfile::tempdir().unwrap();
        let resumed = prepare(&dir.path().join("new.ndjson")).unwrap();
        assert!(resumed.done.is_empty());
    }
}
