//! `fetchbench merge --results A B ...`: the NDJSON results of shards as one file in id order, or
//! their SQLite databases as one database (each run merged on its own) or as NDJSON (the last
//! run's records, as an NDJSON run writes them).
//!
//! Numeric ids are merged by id (each shard's file is already ascending); word-list ids, whose
//! order is the list's, are interleaved round-robin in the order the files are given, which is
//! the list's order when the files are given by shard index. A shell glob gives `shard-10`
//! before `shard-2`: files given in plain name order are taken in the order of the numbers in
//! their names instead ([`shard_order`]), and the merge says so.
//!
//! Nothing is dropped or doubled silently: a line that is not a record is refused, naming its
//! file and line, except a torn last line (an interrupted write: no newline after it), which is
//! dropped and reported; a record whose id (or `key`, when records carry one) was already merged
//! is refused too, naming both places. A crawl's records without a `key` share their seed's id,
//! so they are not checked. The ids seen are held in memory, as `--resume` holds them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::sqlite::{DatabaseError, MergeWriter, ShardReader};

mod source;

use self::source::{Payload, Record, RecordId, Seen, Source};

/// A line of one of the files merged (of a database: a row of one of its runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub path: PathBuf,
    /// 1-based; a database's row id.
    pub line: u64,
    /// The run, for a database's row.
    pub run: Option<u32>,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.run {
            Some(run) => write!(f, "{} (run {run}, row {})", self.path.display(), self.line),
            None => write!(f, "{}:{}", self.path.display(), self.line),
        }
    }
}

/// Why the results could not be merged.
#[derive(Debug, Error)]
pub enum MergeResultsError {
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{place}: not a results record ({reason})")]
    NotRecord { place: Place, reason: String },
    #[error(
        "{place}: {record} again (first at {first}): the same results twice (a file given twice, \
         or shards of two runs)"
    )]
    Duplicate {
        place: Place,
        record: String,
        first: Place,
    },
    #[error(
        "{place}: id {id:?} is a word, but each file began with a numeric id: merge cannot tell \
         where it goes"
    )]
    Mixed { place: Place, id: String },
    #[error("{0}")]
    Write(io::Error),
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error(
        "{}: an NDJSON file among databases (or the other way round): merge files of one kind",
        path.display()
    )]
    MixedKinds { path: PathBuf },
    #[error("{}: NDJSON results cannot be merged into a database: give the shards' databases", path.display())]
    NotDatabases { path: PathBuf },
    #[error(
        "{}: the results of another job than {}'s, not merged; it differs in: {}",
        path.display(),
        first.display(),
        differences.join("; ")
    )]
    OtherJob {
        path: PathBuf,
        first: PathBuf,
        differences: Vec<String>,
    },
}

/// Whether `path` is a SQLite database (by its first bytes), rather than NDJSON.
pub fn is_database(path: &Path) -> bool {
    let mut head = [0u8; 16];
    File::open(path)
        .and_then(|mut f| io::Read::read_exact(&mut f, &mut head))
        .is_ok_and(|()| &head == b"SQLite format 3\0")
}

/// Where merged records go: NDJSON lines, or a database's rows.
enum Out<'a> {
    Lines(&'a mut dyn Write),
    Rows(&'a mut MergeWriter),
}

/// What a merge wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged {
    pub records: u64,
    /// Torn last lines (an interrupted write) that were dropped.
    pub torn: Vec<Place>,
    /// The files in the order their numbers give, when that differs from the order given.
    pub reordered: Option<Vec<PathBuf>>,
}

/// Streams the merged lines of `paths` to `out`, counting into `merged` what it wrote (also
/// when it stops at an error: a caller streaming to stdout can say what it already got).
pub fn merge_results(
    paths: &[PathBuf],
    out: &mut dyn Write,
    merged: &mut Merged,
) -> Result<(), MergeResultsError> {
    let ordered = shard_order(paths);
    let paths = match ordered {
        Some(ordered) => &*merged.reordered.insert(ordered),
        None => paths,
    };
    let mut sources = open_all(paths)?;
    if let Some(last) = sources.first().and_then(Source::last_run) {
        // NDJSON results hold one run's records: the last run's, as a run writes them.
        for source in &mut sources {
            source.set_run(last);
        }
    }
    merge_sources(&mut sources, &mut Out::Lines(out), merged)?;
    out.flush().map_err(MergeResultsError::Write)
}

/// Merges shard databases into a new database at `path` (a fresh file), every run of the job
/// merged on its own; `command` is the merge's command line, for its `runs` rows.
pub fn merge_databases(
    paths: &[PathBuf],
    path: &Path,
    command: &str,
    merged: &mut Merged,
) -> Result<(), MergeResultsError> {
    let mut sources = open_all(paths)?;
    let readers: Vec<&ShardReader> = sources.iter().filter_map(Source::database).collect();
    let Some(first) = readers.first() else {
        return Err(MergeResultsError::NotDatabases {
            path: paths.first().cloned().unwrap_or_default(),
        });
    };
    let mut writer = MergeWriter::create(path, first)?;
    let mut runs: Vec<u32> = Vec::new();
    for reader in &readers {
        runs.extend(reader.runs()?);
    }
    runs.sort_unstable();
    runs.dedup();
    for &run in &runs {
        let shards: Vec<&ShardReader> = sources.iter().filter_map(Source::database).collect();
        writer.add_run(run, &shards, command)?;
        for source in &mut sources {
            source.set_run(run);
        }
        merge_sources(&mut sources, &mut Out::Rows(&mut writer), merged)?;
    }
    writer.finish()?;
    Ok(())
}

/// Opens every file, all NDJSON or all databases of one job.
fn open_all(paths: &[PathBuf]) -> Result<Vec<Source>, MergeResultsError> {
    let sources = paths
        .iter()
        .map(|p| Source::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    let kinds = sources.iter().map(|s| s.database().is_some());
    if let Some(i) = kinds
        .clone()
        .position(|db| db != sources[0].database().is_some())
    {
        return Err(MergeResultsError::MixedKinds {
            path: paths[i].clone(),
        });
    }
    let readers: Vec<&ShardReader> = sources.iter().filter_map(Source::database).collect();
    if let Some((first, rest)) = readers.split_first() {
        for reader in rest {
            let differences = first.job().differences(reader.job());
            if !differences.is_empty() {
                return Err(MergeResultsError::OtherJob {
                    path: reader.path().to_owned(),
                    first: first.path().to_owned(),
                    differences,
                });
            }
        }
    }
    Ok(sources)
}

/// Merges what the sources hold (of their current run, for databases) into `out`.
fn merge_sources(
    sources: &mut [Source],
    out: &mut Out<'_>,
    merged: &mut Merged,
) -> Result<(), MergeResultsError> {
    let mut seen = Seen::default();
    let mut heads = Vec::with_capacity(sources.len());
    for (i, source) in sources.iter_mut().enumerate() {
        heads.push(source.next_record(i, &mut merged.torn)?);
    }
    let numeric = heads
        .iter()
        .flatten()
        .all(|r| matches!(r.id, RecordId::Num(_)));
    if numeric {
        let mut heap: BinaryHeap<Reverse<(u64, usize)>> = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| Some(Reverse((h.as_ref()?.id.as_num()?, i))))
            .collect();
        while let Some(Reverse((_, i))) = heap.pop() {
            if let Some(record) = heads[i].take() {
                emit(record, &mut seen, sources, out, merged)?;
            }
            heads[i] = sources[i].next_record(i, &mut merged.torn)?;
            if let Some(record) = &heads[i] {
                let Some(id) = record.id.as_num() else {
                    return Err(MergeResultsError::Mixed {
                        place: sources[i].place(record.line_no),
                        id: record.id.to_string(),
                    });
                };
                heap.push(Reverse((id, i)));
            }
        }
    } else {
        while heads.iter().any(Option::is_some) {
            for i in 0..heads.len() {
                // One seed per turn: a crawl's records of one seed follow each other.
                while let Some(record) = heads[i].take() {
                    let (id, crawl) = (record.id.clone(), record.crawl);
                    emit(record, &mut seen, sources, out, merged)?;
                    heads[i] = sources[i].next_record(i, &mut merged.torn)?;
                    if !(crawl && heads[i].as_ref().is_some_and(|r| r.crawl && r.id == id)) {
                        break;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The files ordered by the numbers in their names (`shard-2` before `shard-10`), when they were
/// given in plain name order (as a shell glob gives them) and the numbers order them otherwise;
/// None to keep the order given.
pub fn shard_order(paths: &[PathBuf]) -> Option<Vec<PathBuf>> {
    let names: Vec<String> = paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if !names.windows(2).all(|w| w[0] <= w[1]) {
        return None;
    }
    let mut order: Vec<usize> = (0..paths.len()).collect();
    order.sort_by(|&a, &b| natural_key(&names[a]).cmp(&natural_key(&names[b])));
    if order.iter().enumerate().all(|(i, &at)| i == at) {
        return None;
    }
    Some(order.into_iter().map(|i| paths[i].clone()).collect())
}

/// A name as runs of text and numbers, numbers compared by value.
fn natural_key(name: &str) -> Vec<(String, u128)> {
    let mut key = Vec::new();
    let mut text = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let mut number = String::from(c);
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                number.push(d);
            }
            key.push((
                std::mem::take(&mut text),
                number.parse().unwrap_or(u128::MAX),
            ));
        } else {
            text.push(c);
        }
    }
    key.push((text, 0));
    key
}

/// Writes `record` after checking it was not merged before.
fn emit(
    record: Record,
    seen: &mut Seen,
    sources: &[Source],
    out: &mut Out<'_>,
    merged: &mut Merged,
) -> Result<(), MergeResultsError> {
    seen.check(&record, sources)?;
    match (out, &record.payload) {
        (Out::Rows(writer), Payload::Row(row)) => writer.copy(row)?,
        (Out::Rows(_), Payload::Line(_)) => {
            return Err(MergeResultsError::NotDatabases {
                path: sources[record.file].path.clone(),
            })
        }
        (Out::Lines(out), payload) => {
            let line = match payload {
                Payload::Line(line) => line,
                Payload::Row(row) => &sources[record.file]
                    .database()
                    .map(|db| db.line(row))
                    .unwrap_or_default(),
            };
            out.write_all(line)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(MergeResultsError::Write)?;
        }
    }
    merged.records += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use proptest::prelude::*;

    use super::*;

    /// One record of a run: numeric or word id, and whether it is a crawl's (sharing the seed's
    /// id with its siblings).
    fn line(id: &serde_json::Value, n: usize, crawl: bool) -> String {
        if crawl {
            format!(r#"{{"id":{id},"url":"http://h/{n}","depth":1,"parent":"p","status":200}}"#)
        } else {
            format!(r#"{{"id":{id},"url":"http://h/{n}","status":200,"fields":{{"n":{n}}}}}"#)
        }
    }

    /// A run: for each seed (unique ids, ascending when numeric), one record or, in a crawl,
    /// 1..=3 records sharing its id. Returned seed by seed.
    fn run(numeric: bool, crawl: bool) -> impl Strategy<Value = Vec<Vec<String>>> {
        (
            proptest::collection::btree_set(0u64..10_000, 0..60),
            proptest::collection::vec(1usize..=3, 60),
            any::<u64>(),
        )
            .prop_map(move |(ids, sizes, salt)| {
                let mut ids: Vec<u64> = ids.into_iter().collect();
                if !numeric {
                    // A word list's order is its own, not sorted.
                    ids.sort_by_key(|id| (id ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                }
                ids.iter()
                    .zip(&sizes)
                    .enumerate()
                    .map(|(n, (id, size))| {
                        let id = if numeric {
                            serde_json::json!(id)
                        } else {
                            serde_json::json!(format!("w{id}"))
                        };
                        let size = if crawl { *size } else { 1 };
                        (0..size).map(|k| line(&id, n * 4 + k, crawl)).collect()
                    })
                    .collect()
            })
    }

    /// The files of `shards` shards of `seeds` (by seed position, as `--shard` cuts them).
    fn cut(seeds: &[Vec<String>], shards: usize) -> Vec<Vec<String>> {
        (0..shards)
            .map(|s| {
                seeds
                    .iter()
                    .skip(s)
                    .step_by(shards)
                    .flatten()
                    .cloned()
                    .collect()
            })
            .collect()
    }

    fn write_files(dir: &Path, files: &[Vec<String>]) -> Vec<PathBuf> {
        files
            .iter()
            .enumerate()
            .map(|(i, lines)| {
                let path = dir.join(format!("r{i}.ndjson"));
                let mut file = File::create(&path).unwrap();
                for l in lines {
                    writeln!(file, "{l}").unwrap();
                }
                path
            })
            .collect()
    }

    fn merge(files: &[Vec<String>]) -> Result<(Vec<String>, Merged), MergeResultsError> {
        let dir = tempfile::tempdir().unwrap();
        let paths = write_files(dir.path(), files);
        let mut out = Vec::new();
        let mut merged = Merged::default();
        merge_results(&paths, &mut out, &mut merged)?;
        let text = String::from_utf8(out).unwrap();
        Ok((text.lines().map(str::to_owned).collect(), merged))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn shards_of_one_run_merge_into_that_run(
            seeds in (any::<bool>(), any::<bool>()).prop_flat_map(|(n, c)| run(n, c)),
            shards in 1usize..6,
        ) {
            let (lines, merged) = merge(&cut(&seeds, shards)).unwrap();
            let whole: Vec<String> = seeds.concat();
            prop_assert_eq!(&lines, &whole);
            prop_assert_eq!(merged.records, whole.len() as u64);
            prop_assert!(merged.torn.is_empty());
        }

        #[test]
        fn a_duplicated_record_is_refused(
            seeds in any::<bool>().prop_flat_map(|n| run(n, false)),
            shards in 1usize..6,
            pick in any::<prop::sample::Index>(),
            into in any::<prop::sample::Index>(),
            at in any::<prop::sample::Index>(),
        ) {
            prop_assume!(!seeds.is_empty());
            let mut files = cut(&seeds, shards);
            let copy = seeds[pick.index(seeds.len())][0].clone();
            let file = into.index(files.len());
            let position = at.index(files[file].len() + 1);
            files[file].insert(position, copy);
            let refused = merge(&files);
            prop_assert!(
                matches!(refused, Err(MergeResultsError::Duplicate { .. })),
                "{:?}", refused.map(|(lines, _)| lines)
            );
        }

        #[test]
        fn a_corrupted_line_is_refused(
            seeds in (any::<bool>(), any::<bool>()).prop_flat_map(|(n, c)| run(n, c)),
            shards in 1usize..6,
            pick in any::<prop::sample::Index>(),
            cut_at in any::<prop::sample::Index>(),
        ) {
            prop_assume!(!seeds.is_empty());
            let mut files = cut(&seeds, shards);
            let lines: Vec<(usize, usize)> = files
                .iter()
                .enumerate()
                .flat_map(|(f, l)| (0..l.len()).map(move |k| (f, k)))
                .collect();
            let (f, k) = lines[pick.index(lines.len())];
            // Cut short anywhere before its closing brace: never a whole JSON object.
            let line = &mut files[f][k];
            line.truncate(1 + cut_at.index(line.len() - 2));
            let refused = merge(&files);
            prop_assert!(
                matches!(refused, Err(MergeResultsError::NotRecord { .. })),
                "{:?}", refused.map(|(lines, _)| lines)
            );
        }
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r0.ndjson");
        std::fs::write(&path, "{\"id\":1}\n{\"id\":2}\n{\"id\":3,\"ur").unwrap();
        let mut out = Vec::new();
        let mut merged = Merged::default();
        merge_results(std::slice::from_ref(&path), &mut out, &mut merged).unwrap();
        assert_eq!(out, b"{\"id\":1}\n{\"id\":2}\n");
        assert_eq!(merged.records, 2);
        assert_eq!(
            merged.torn,
            [Place {
                path,
                line: 3,
                run: None
            }]
        );
    }

    #[test]
    fn records_with_a_key_are_told_apart_by_it() {
        let crawl = |key: &str| format!(r#"{{"id":1,"depth":1,"key":"{key}"}}"#);
        let (lines, _) = merge(&[vec![crawl("a"), crawl("b")]]).unwrap();
        assert_eq!(lines.len(), 2);
        let refused = merge(&[vec![crawl("a")], vec![crawl("a")]]);
        assert!(
            matches!(&refused, Err(MergeResultsError::Duplicate { record, .. }) if record == "key \"a\""),
            "{:?}",
            refused.map(|(l, _)| l)
        );
    }

    #[test]
    fn a_word_after_numbers_is_refused_not_lost() {
        let refused = merge(&[
            vec![r#"{"id":1}"#.into(), r#"{"id":"pikachu"}"#.into()],
            vec![r#"{"id":2}"#.into()],
        ]);
        assert!(matches!(refused, Err(MergeResultsError::Mixed { .. })));
    }

    #[test]
    fn a_glob_of_more_than_ten_shards_is_taken_in_shard_order() {
        let given: Vec<PathBuf> = ["s-0.ndjson", "s-1.ndjson", "s-10.ndjson", "s-2.ndjson"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let ordered = shard_order(&given).expect("reordered");
        let names: Vec<_> = ordered.iter().map(|p| p.to_string_lossy()).collect();
        assert_eq!(
            names,
            ["s-0.ndjson", "s-1.ndjson", "s-2.ndjson", "s-10.ndjson"]
        );
        // An order the user chose (not name order) and an order that is already right stand.
        let chosen: Vec<PathBuf> = ["b.ndjson", "a.ndjson"].iter().map(PathBuf::from).collect();
        assert_eq!(shard_order(&chosen), None);
        assert_eq!(shard_order(&ordered), None);
    }
}
