//! Property tests of id ranges and word lists: any spec parses or is refused; written ranges give
//! their ids and round-trip through Display.

use proptest::prelude::*;

use super::*;
use crate::test_support::{config, number_text, soup, wild_string};

/// A numeric id (any `u64`) or a text id of wild chars: the ids other modules' properties
/// render, parse or write.
pub(crate) fn any_id() -> impl Strategy<Value = Id> {
    prop_oneof![
        any::<u64>().prop_map(Id::Num),
        wild_string(12).prop_map(|text| Id::Text(std::sync::Arc::from(text))),
    ]
}

const TOKENS: &[&str] = &[
    "..", "..=", ":", ",", " ", "\t", "0", "1", "9", "=", ".", "-", "+",
];

/// How a generated segment is written.
#[derive(Debug, Clone, Copy)]
enum Form {
    /// `start..end[:step]`, `end` anywhere in `(last, last + step]`.
    HalfOpen,
    /// `start..=last[:step]`.
    Inclusive,
    /// `start`, when the segment has one id (else half-open).
    Single,
    /// Half-open with spaces around every part.
    Spaced,
}

/// A segment as a model: (gap after the previous one, ids, step, form, slack in the end).
type SegmentModel = (u64, u64, u64, Form, u64);

fn segment_model() -> impl Strategy<Value = SegmentModel> {
    let form = prop_oneof![
        Just(Form::HalfOpen),
        Just(Form::Inclusive),
        Just(Form::Single),
        Just(Form::Spaced),
    ];
    let step = prop_oneof![4 => 1u64..5, 1 => 5u64..1000];
    (0u64..20, 1u64..30, step, form, any::<u64>())
}

/// A spec and the ids it stands for, computed without the parser. The base is 0, small, or
/// near `u64::MAX` (the segments' total reach, at most 6 * (20 + 30 * 1000), stays below).
fn spec_and_ids() -> impl Strategy<Value = (String, Vec<u64>)> {
    let base = prop_oneof![Just(0u64), 0u64..1000, Just(u64::MAX - 200_000)];
    (base, prop::collection::vec(segment_model(), 1..6)).prop_map(|(base, segments)| {
        let mut texts = Vec::new();
        let mut ids = Vec::new();
        let mut next = base;
        for (gap, count, step, form, slack) in segments {
            let start = next + gap;
            let last = start + (count - 1) * step;
            ids.extend((0..count).map(|k| start + k * step));
            let end = last + 1 + slack % step;
            let step_text = if step == 1 && slack % 2 == 0 {
                String::new()
            } else {
                format!(":{step}")
            };
            texts.push(match form {
                Form::Single if count == 1 => format!("{start}"),
                Form::HalfOpen | Form::Single => format!("{start}..{end}{step_text}"),
                Form::Inclusive => format!("{start}..={last}{step_text}"),
                Form::Spaced => {
                    format!(" {start} .. {end} {}", step_text.replace(':', ": "))
                }
            });
            next = last + 1;
        }
        (texts.join(","), ids)
    })
}

/// The first ids of a range, at most 10,000: a parsed range may hold up to `u64::MAX`.
fn first_ids(range: &IdRange) -> Vec<u64> {
    range.iter().take(10_000).collect()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_spec_parses_or_is_refused(spec in prop_oneof![soup(TOKENS, 12), wild_string(24)]) {
        if let Ok(range) = spec.parse::<IdRange>() {
            let ids = first_ids(&range);
            prop_assert!(!ids.is_empty());
            prop_assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
            prop_assert_eq!(range.len().min(10_000), ids.len() as u64);
            let shown = range.to_string();
            prop_assert_eq!(shown.parse::<IdRange>(), Ok(range));
        }
    }

    #[test]
    fn a_written_range_parses_to_its_ids_and_round_trips((spec, ids) in spec_and_ids()) {
        let range: IdRange = spec.parse().map_err(|e| TestCaseError::fail(format!("{spec}: {e}")))?;
        prop_assert_eq!(range.len(), ids.len() as u64);
        prop_assert_eq!(&range.iter().collect::<Vec<_>>(), &ids);
        prop_assert_eq!(&range.clone().into_ids().collect::<Vec<_>>(), &ids);
        let again: IdRange = range.to_string().parse().map_err(|e| TestCaseError::fail(format!("{range}: {e}")))?;
        prop_assert_eq!(&again.iter().collect::<Vec<_>>(), &ids);
        prop_assert_eq!(again, range);
    }

    #[test]
    fn a_segment_that_does_not_ascend_is_refused(
        start in 0u64..1000,
        count in 2u64..50,
        back in 0u64..50,
    ) {
        let last = start + count - 1;
        let later = last.saturating_sub(back).max(start);
        let spec = format!("{start}..={last},{later}");
        let refused = matches!(spec.parse::<IdRange>(), Err(RangeError::NotAscending { .. }));
        prop_assert!(refused, "{}", spec);
    }

    #[test]
    fn a_number_is_a_range_of_itself_unless_it_is_the_last_u64(text in number_text()) {
        match (text.parse::<u64>(), text.parse::<IdRange>()) {
            // `u64::MAX` cannot be an id: its half-open end would be past 64 bits.
            (Ok(u64::MAX), parsed) => {
                prop_assert_eq!(parsed, Err(RangeError::Overflow(text.clone())));
            }
            (Ok(n), parsed) => {
                let range = parsed.map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
                prop_assert_eq!(first_ids(&range), vec![n]);
            }
            (Err(_), parsed) => prop_assert!(parsed.is_err(), "{text}"),
        }
    }

    #[test]
    fn a_word_is_the_id_it_shows(word in wild_string(16)) {
        let id = Id::from_line(&word);
        prop_assert_eq!(id.to_string(), word.clone());
        if let Id::Num(n) = id {
            prop_assert_eq!(n.to_string(), word);
        }
    }

    #[test]
    fn a_number_word_is_a_numeric_id(n in any::<u64>()) {
        prop_assert_eq!(Id::from_line(&n.to_string()), Id::Num(n));
    }

    #[test]
    fn any_bytes_read_as_a_word_list_end_without_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let ids: Vec<Id> = words(std::io::Cursor::new(bytes), Trouble::default()).collect();
        for id in ids {
            let text = id.to_string();
            prop_assert!(!text.is_empty() && !text.starts_with('#'));
            prop_assert_eq!(text.trim(), text.as_str());
        }
    }

    #[test]
    fn a_word_list_gives_each_trimmed_word_in_order(lines in prop::collection::vec(wild_string(12), 0..12)) {
        // A line holds no newline; the list is read line by line.
        let lines: Vec<String> = lines.into_iter().map(|l| l.replace('\n', "")).collect();
        // A byte-order mark opening the list is no part of its first word.
        let expected: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| if i == 0 { l.strip_prefix('\u{feff}').unwrap_or(l) } else { l })
            .map(|l| l.trim().to_owned())
            .filter(|w| !w.is_empty() && !w.starts_with('#'))
            .collect();
        let text = lines.join("\n");
        let ids: Vec<String> = words(std::io::Cursor::new(text.into_bytes()), Trouble::default())
            .map(|id| id.to_string())
            .collect();
        prop_assert_eq!(ids, expected);
    }
}
