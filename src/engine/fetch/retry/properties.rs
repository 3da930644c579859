//! Property tests of Retry-After: any value gives a wait or none; seconds are exact; dates are
//! waits until then.

use proptest::prelude::*;
use reqwest::header::HeaderValue;

use super::*;
use crate::test_support::{config, number_text, soup};

const TOKENS: &[&str] = &[
    "Wed, ",
    "21 Oct ",
    "2015 ",
    "07:28:00 ",
    "GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
    " ",
    "\t",
    "-",
    "+",
    "9999",
    "Dec ",
    "31 ",
    "23:59:60 ",
];

fn retry_after_of(value: HeaderValue) -> Option<Duration> {
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, value);
    retry_after(&headers)
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_header_value_gives_a_wait_or_none(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        soup(TOKENS, 8).prop_map(String::into_bytes),
        number_text().prop_map(String::into_bytes),
    ]) {
        // Whatever a header can hold: every byte but controls other than tab.
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            retry_after_of(value);
        }
    }

    #[test]
    fn whole_seconds_are_that_many_seconds(seconds in prop_oneof![0u64..1000, any::<u64>()], padded in any::<bool>()) {
        let text = if padded { format!(" {seconds}\t") } else { seconds.to_string() };
        let value = HeaderValue::from_str(&text).unwrap();
        prop_assert_eq!(retry_after_of(value), Some(Duration::from_secs(seconds)));
    }

    #[test]
    fn a_date_gone_by_is_no_wait(since_1970 in 0u64..1_700_000_000) {
        // 1970 to 2023: HTTP dates start at 1970, and 2023 is gone by.
        let when = SystemTime::UNIX_EPOCH + Duration::from_secs(since_1970);
        let value = HeaderValue::from_str(&httpdate::fmt_http_date(when)).unwrap();
        prop_assert_eq!(retry_after_of(value), Some(Duration::ZERO));
    }

    #[test]
    fn a_date_to_come_is_the_wait_until_then(ahead in 10u64..200_000_000_000) {
        // Up to about the year 8300 (an HTTP date ends at 9999). Dates are to the second, so
        // the wait falls short of the delay by under a second, plus the time the test takes.
        let when = SystemTime::now() + Duration::from_secs(ahead);
        let value = HeaderValue::from_str(&httpdate::fmt_http_date(when)).unwrap();
        let wait = retry_after_of(value).unwrap();
        prop_assert!(wait <= Duration::from_secs(ahead), "{wait:?} for {ahead} s");
        prop_assert!(wait + Duration::from_secs(5) > Duration::from_secs(ahead), "{wait:?} for {ahead} s");
    }
}
