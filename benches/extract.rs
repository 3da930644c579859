//! Field extraction on the 151 real pokeapi documents (34.7 MB): the selective parse fetchbench
//! uses against building a full `serde_json::Value`, in MB/s of JSON.
//!
//! Run: `cargo bench --bench extract`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fetchbench::extract::{FieldPath, FieldSet};
use fetchbench::fixture::Documents;

fn documents() -> Vec<Vec<u8>> {
    let docs = Documents::embedded().expect("embedded fixtures");
    (1..=151)
        .map(|id| {
            docs.get(&id.to_string())
                .expect("document")
                .plain()
                .expect("gunzip")
                .to_vec()
        })
        .collect()
}

fn fields(paths: &[&str]) -> FieldSet {
    FieldSet::new(
        paths
            .iter()
            .map(|p| p.parse::<FieldPath>().expect("path"))
            .collect(),
    )
}

fn extraction(c: &mut Criterion) {
    let docs = documents();
    let total: u64 = docs.iter().map(|d| d.len() as u64).sum();
    let cases = [
        ("name", fields(&["name"])),
        (
            "four paths",
            fields(&[
                "name",
                "types[0].type.name",
                "stats[*].base_stat",
                "sprites.front_default",
            ]),
        ),
    ];
    let mut group = c.benchmark_group("extract 151 documents");
    group.throughput(Throughput::Bytes(total));
    group.sample_size(20);
    for (label, set) in &cases {
        group.bench_function(format!("selective / {label}"), |b| {
            b.iter(|| {
                docs.iter()
                    .map(|d| set.extract(d).map(|v| v.len()).unwrap_or(0))
                    .sum::<usize>()
            })
        });
        group.bench_function(format!("full Value / {label}"), |b| {
            b.iter(|| {
                docs.iter()
                    .map(|d| set.extract_via_value(d).map(|v| v.len()).unwrap_or(0))
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, extraction);
criterion_main!(benches);
