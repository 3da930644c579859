//! Selective extraction against the full parse on all 151 real pokeapi documents.

use fetchbench::extract::{FieldPath, FieldSet};
use fetchbench::fixture::Documents;

#[test]
fn selective_extraction_matches_the_full_parse_on_every_real_document() {
    let docs = Documents::embedded().unwrap();
    let path_sets: &[&[&str]] = &[
        &["name"],
        &[
            "name",
            "types[0].type.name",
            "stats[*].base_stat",
            "sprites.front_default",
        ],
        &[
            "abilities[*].ability.name",
            "moves[3].move.name",
            "moves[*].version_group_details[0].level_learned_at",
        ],
        &[
            "height",
            "weight",
            "species",
            "cries.latest",
            "no.such.path",
            "forms[9]",
        ],
    ];
    for paths in path_sets {
        let set = FieldSet::new(
            paths
                .iter()
                .map(|p| p.parse::<FieldPath>().unwrap())
                .collect(),
        );
        // Every third document keeps this quick in debug builds; all are different shapes.
        for id in (1..=151).step_by(3) {
            let body = docs.get(&id.to_string()).unwrap().plain().unwrap();
            assert_eq!(
                set.extract(&body).unwrap(),
                set.extract_via_value(&body).unwrap(),
                "id {id}, paths {paths:?}"
            );
        }
    }
}
