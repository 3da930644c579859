//! Rate specs (`20/s`, `600/m`, `5/100ms`, `2.5/s`) and the governor quota they become.
//!
//! A rate is kept as "count per period" exactly as written, so the report can echo it; the quota
//! spaces requests evenly (one every period/count) with an explicit burst, because governor's
//! `per_second(n)` would otherwise let `n` requests out at once at t=0.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use governor::Quota;
use thiserror::Error;

/// Why a rate or duration was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RateError {
    #[error("`{0}` is not a rate: write COUNT/PERIOD, e.g. 20/s, 600/m, 5/100ms")]
    Syntax(String),
    #[error("`{0}` is not a positive number of requests")]
    Count(String),
    #[error("`{0}` is not a period: use s, m, h, or a duration such as 100ms")]
    Period(String),
    #[error("`{0}` is faster than one request per nanosecond")]
    TooFast(String),
    #[error("`{0}` is slower than one request per 584 billion years")]
    TooSlow(String),
}

/// A request rate: `count` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    count: f64,
    period: Duration,
}

impl Rate {
    /// Requests per second.
    pub fn per_second(&self) -> f64 {
        self.count / self.period.as_secs_f64()
    }

    /// The requests of one period, as written (`20` in `20/s`).
    pub fn count(&self) -> f64 {
        self.count
    }

    /// The period, as written (a second in `20/s`).
    pub fn period(&self) -> Duration {
        self.period
    }

    /// One of `parts` equal shares of this rate (a shard's share of the job's rate).
    pub fn share(&self, parts: u64) -> Self {
        Self {
            count: self.count / parts.max(1) as f64,
            period: self.period,
        }
    }

    /// The time between two requests at this rate.
    pub fn interval(&self) -> Duration {
        // Parsing refuses a rate whose interval does not fit, so the fallback is never taken.
        self.checked_interval().unwrap_or(Duration::MAX)
    }

    /// `period / count`, or None when that is longer than a `Duration` holds (a count below
    /// about 1e-19 per second): `Duration::div_f64` would panic.
    fn checked_interval(&self) -> Option<Duration> {
        Duration::try_from_secs_f64(self.period.as_secs_f64() / self.count).ok()
    }

    /// The governor quota: one cell every [`Rate::interval`], `burst` cells at most at once.
    ///
    /// governor counts in u64 nanoseconds (584 years) and panics past them, on the period alone
    /// or on the period times the burst. So the period is capped at half of that, and the burst
    /// at what fits with it, leaving the other half for the run's own clock: past either cap a
    /// run would have to last centuries to tell.
    pub fn quota(&self, burst: NonZeroU32) -> Quota {
        const ROOM: u64 = u64::MAX / 2;
        let period = self.interval().min(Duration::from_nanos(ROOM));
        let nanos = u64::try_from(period.as_nanos()).unwrap_or(ROOM).max(1);
        let fits = u32::try_from(ROOM / nanos).unwrap_or(u32::MAX);
        let burst = NonZeroU32::new(fits).map_or(NonZeroU32::MIN, |fits| burst.min(fits));
        // `interval` is checked non-zero at parse time, so `with_period` always succeeds.
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst)
    }
}

/// The rate as its count per its period, which parses back to the same rate: `f64`'s `Display`
/// is the shortest text that reads back exactly, and so is humantime's for a duration.
impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match (self.period.as_secs(), self.period.subsec_nanos()) {
            (1, 0) => Some("s"),
            (60, 0) => Some("m"),
            (3600, 0) => Some("h"),
            _ => None,
        };
        match unit {
            Some(unit) => write!(f, "{}/{unit}", self.count),
            None => write!(
                f,
                "{}/{}",
                self.count,
                humantime::format_duration(self.period)
            ),
        }
    }
}

impl FromStr for Rate {
    type Err = RateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (count_text, period_text) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| RateError::Syntax(text.to_owned()))?;
        let count: f64 = count_text
            .trim()
            .parse()
            .ok()
            .filter(|c: &f64| c.is_finite() && *c > 0.0)
            .ok_or_else(|| RateError::Count(count_text.to_owned()))?;
        let period = parse_period(period_text.trim())?;
        let rate = Rate { count, period };
        match rate.checked_interval() {
            None => Err(RateError::TooSlow(text.to_owned())),
            Some(interval) if interval.is_zero() => Err(RateError::TooFast(text.to_owned())),
            Some(_) => Ok(rate),
        }
    }
}

fn parse_period(text: &str) -> Result<Duration, RateError> {
    let unit = match text {
        "s" | "sec" | "second" => Some(Duration::from_secs(1)),
        "m" | "min" | "minute" => Some(Duration::from_secs(60)),
        "h" | "hour" => Some(Duration::from_secs(3600)),
        _ => None,
    };
    unit.or_else(|| parse_duration(text).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| RateError::Period(text.to_owned()))
}

/// Parses a human duration (`40ms`, `30s`, `1m30s`) with humantime; a bare `0` is zero.
pub fn parse_duration(text: &str) -> Result<Duration, humantime::DurationError> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        let r: Rate = "20/s".parse().unwrap();
        assert_eq!(r.interval(), Duration::from_millis(50));
        let r: Rate = "600/m".parse().unwrap();
        assert_eq!(r.interval(), Duration::from_millis(100));
        let r: Rate = "5/100ms".parse().unwrap();
        assert_eq!(r.interval(), Duration::from_millis(20));
        assert_eq!(r.per_second(), 50.0);
        let r: Rate = "2.5/s".parse().unwrap();
        assert_eq!(r.interval(), Duration::from_millis(400));
        assert_eq!(r.to_string(), "2.5/s");
    }

    #[test]
    fn a_rate_shows_as_it_was_written_and_parses_back() {
        // Found by a property: the rate showed as requests per second to three decimals, so a
        // slow one lost itself (`1/h` showed as `0/s`, which is not a rate at all).
        for (text, shown) in [
            ("1/h", "1/h"),
            ("600/m", "600/m"),
            ("5/100ms", "5/100ms"),
            ("2.5/s", "2.5/s"),
            ("3/1m30s", "3/1m 30s"),
            ("1e-7/sec", "0.0000001/s"),
        ] {
            let rate: Rate = text.parse().unwrap();
            assert_eq!(rate.to_string(), shown);
            assert_eq!(shown.parse::<Rate>(), Ok(rate));
        }
    }

    #[test]
    fn refuses_bad_rates() {
        assert_eq!(
            "fast".parse::<Rate>(),
            Err(RateError::Syntax("fast".into()))
        );
        assert_eq!("0/s".parse::<Rate>(), Err(RateError::Count("0".into())));
        assert_eq!("-1/s".parse::<Rate>(), Err(RateError::Count("-1".into())));
        assert_eq!(
            "5/fortnight".parse::<Rate>(),
            Err(RateError::Period("fortnight".into()))
        );
        assert_eq!("5/0s".parse::<Rate>(), Err(RateError::Period("0s".into())));
        assert!(matches!(
            "1e12/1ms".parse::<Rate>(),
            Err(RateError::TooFast(_))
        ));
    }

    #[test]
    fn refuses_rates_too_slow_for_a_duration() {
        // Found by a property: the interval of these overflowed `Duration` and parsing panicked
        // (`--rate 1e-300/s` exited 101).
        for text in [
            "1e-300/s",
            "5e-324/s",
            "1e-20/h",
            "0.00000000000000000001/h",
        ] {
            assert_eq!(text.parse::<Rate>(), Err(RateError::TooSlow(text.into())));
        }
        let slowest: Rate = "1e-19/s".parse().unwrap();
        assert!(slowest.interval() > Duration::from_secs(9_000_000_000_000_000_000));
    }

    #[test]
    fn any_rate_and_burst_make_a_limiter() {
        // Found trying what the parser accepts on a limiter: governor panicked on a period past
        // 584 years (`--rate 1e-11/s`) and on a period times the burst past it (`--rate 1/5s
        // --burst 4294967295`).
        use governor::RateLimiter;
        let cases = [
            ("1e-11/s", 1),
            ("1e-19/s", 1),
            ("1e-19/s", u32::MAX),
            ("1/5s", u32::MAX),
            ("20/s", u32::MAX),
        ];
        for (text, burst) in cases {
            let rate: Rate = text.parse().unwrap();
            let quota = rate.quota(NonZeroU32::new(burst).unwrap());
            let limiter = RateLimiter::direct(quota);
            assert!(limiter.check().is_ok(), "{text} --burst {burst}");
            assert!(quota.burst_size() <= NonZeroU32::new(burst).unwrap());
        }
        let slow: Rate = "1e-11/s".parse().unwrap();
        let limiter = RateLimiter::direct(slow.quota(NonZeroU32::MIN));
        assert!(limiter.check().is_ok());
        assert!(limiter.check().is_err());
        // Within the caps the quota is the rate's, burst and all.
        let quota = "600/m"
            .parse::<Rate>()
            .unwrap()
            .quota(NonZeroU32::new(5).unwrap());
        assert_eq!(quota.replenish_interval(), Duration::from_millis(100));
        assert_eq!(quota.burst_size().get(), 5);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("40ms"), Ok(Duration::from_millis(40)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("soon").is_err());
    }
}

#[cfg(test)]
mod properties;
