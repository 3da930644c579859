//! `fetchbench merge --results A B ...`: the NDJSON results of shards as one file in id order.
//!
//! Numeric ids are merged by id (each shard's file is already ascending); word-list ids, whose
//! order is the list's, are interleaved round-robin in the order the files are given, which is
//! the list's order when the files are given by shard index.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Lines, Write};
use std::path::PathBuf;

/// Streams the merged lines of `paths` to `out`; returns how many were written.
pub fn merge_results(paths: &[PathBuf], out: &mut dyn Write) -> io::Result<u64> {
    let mut readers = paths
        .iter()
        .map(|p| Ok(BufReader::new(File::open(p)?).lines()))
        .collect::<io::Result<Vec<_>>>()?;
    let mut heads: Vec<Option<(Option<u64>, String)>> = readers
        .iter_mut()
        .map(next_record)
        .collect::<io::Result<_>>()?;
    let numeric = heads.iter().flatten().all(|(id, _)| id.is_some());
    let mut written = 0;
    if numeric {
        let mut heap: BinaryHeap<Reverse<(u64, usize)>> = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().and_then(|(id, _)| id.map(|id| Reverse((id, i)))))
            .collect();
        while let Some(Reverse((_, i))) = heap.pop() {
            if let Some((_, line)) = heads[i].take() {
                writeln!(out, "{line}")?;
                written += 1;
            }
            heads[i] = next_record(&mut readers[i])?;
            if let Some((Some(id), _)) = &heads[i] {
                heap.push(Reverse((*id, i)));
            }
        }
    } else {
        while heads.iter().any(Option::is_some) {
            for (i, head) in heads.iter_mut().enumerate() {
                if let Some((_, line)) = head.take() {
                    writeln!(out, "{line}")?;
                    written += 1;
                    *head = next_record(&mut readers[i])?;
                }
            }
        }
    }
    out.flush()?;
    Ok(written)
}

/// The next whole record of a results file and its numeric id; damaged lines are skipped.
fn next_record(lines: &mut Lines<BufReader<File>>) -> io::Result<Option<(Option<u64>, String)>> {
    for line in lines.by_ref() {
        let line = line?;
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) {
            return Ok(Some((value["id"].as_u64(), line)));
        }
    }
    Ok(None)
}
