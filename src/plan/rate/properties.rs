//! Property tests of rates and durations: any text parses or is refused; accepted rates build a
//! limiter and round-trip through Display.

use proptest::prelude::*;

use super::*;
use crate::test_support::{config, number_text, soup, wild_string};

const TOKENS: &[&str] = &[
    "/", "s", "m", "h", "ms", "us", "ns", "min", "hour", "sec", "1e-300", "1e300", "5e-324", "inf",
    "NaN", ".", "e", "-", " ", "0", "years", "d",
];

/// A duration humantime can print: whole seconds up to about 3,000 years, and nanoseconds.
fn duration() -> impl Strategy<Value = Duration> {
    let secs = prop_oneof![0u64..100, 0u64..100_000, 0u64..100_000_000_000];
    (secs, prop_oneof![Just(0u32), 0u32..1_000_000_000])
        .prop_map(|(secs, nanos)| Duration::new(secs, nanos))
}

/// How a period is written: a unit word, or a duration.
fn period() -> impl Strategy<Value = (String, Duration)> {
    prop_oneof![
        prop::sample::select(
            &[
                ("s", 1u64),
                ("sec", 1),
                ("second", 1),
                ("m", 60),
                ("min", 60),
                ("minute", 60),
                ("h", 3600),
                ("hour", 3600),
            ][..]
        )
        .prop_map(|(unit, secs)| (unit.to_owned(), Duration::from_secs(secs))),
        duration()
            .prop_filter("a period is not zero", |d| !d.is_zero())
            .prop_map(|d| (humantime::format_duration(d).to_string(), d)),
    ]
}

/// A count of requests: whole, with a fraction, or tiny.
fn count() -> impl Strategy<Value = f64> {
    prop_oneof![
        (1u32..100_000).prop_map(f64::from),
        (1u32..100_000).prop_map(|n| f64::from(n) / 1000.0),
        (1e-6..1e6f64),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_text_parses_or_is_refused(text in prop_oneof![soup(TOKENS, 8), wild_string(16)]) {
        if let Ok(rate) = text.parse::<Rate>() {
            prop_assert!(!rate.interval().is_zero());
            prop_assert!(rate.per_second().is_finite() && rate.per_second() > 0.0);
            prop_assert_eq!(rate.to_string().parse::<Rate>(), Ok(rate));
        }
        let _ = parse_duration(&text);
    }

    #[test]
    fn any_count_per_any_period_parses_or_is_refused(
        count in prop_oneof![
            number_text(),
            any::<f64>().prop_map(|x| x.to_string()),
            any::<f64>().prop_map(|x| format!("{x:e}")),
        ],
        unit in soup(TOKENS, 3),
    ) {
        let text = format!("{count}/{unit}");
        if let Ok(rate) = text.parse::<Rate>() {
            prop_assert!(!rate.interval().is_zero());
            prop_assert_eq!(rate.to_string().parse::<Rate>(), Ok(rate));
            for burst in [NonZeroU32::MIN, NonZeroU32::MAX] {
                let limiter = governor::RateLimiter::direct(rate.quota(burst));
                prop_assert!(limiter.check().is_ok());
            }
        }
    }

    #[test]
    fn a_written_rate_is_that_count_per_that_period(count in count(), (unit, period) in period()) {
        let text = format!("{count}/{unit}");
        let rate: Rate = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(rate, Rate { count, period });
        let shown = rate.to_string();
        prop_assert_eq!(shown.parse::<Rate>(), Ok(rate), "{} shown as {}", text, shown);
    }

    #[test]
    fn a_printed_duration_parses_back_to_itself(d in duration()) {
        let text = humantime::format_duration(d).to_string();
        prop_assert_eq!(parse_duration(&text), Ok(d), "{}", text);
    }
}
