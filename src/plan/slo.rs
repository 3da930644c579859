//! Service-level objectives (`--slo 'p99<300ms,errors<1%'`): bounds on a run's latency
//! percentiles and its error share, which the rate search (`--find-rate`) judges each step by
//! and a concurrency sweep picks its knee by.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

use super::rate::parse_duration;

/// Why an SLO was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SloError {
    #[error(
        "`{0}` is not a bound: write p50, p90, p99 or p99.9 <DURATION, or errors<PERCENT%, \
         comma-separated, e.g. 'p99<300ms,errors<1%'"
    )]
    Syntax(String),
    #[error("`{0}` is not a positive duration (e.g. 300ms)")]
    Duration(String),
    #[error("`{0}` is not a percentage from 0% to 100% (e.g. 1%)")]
    Percent(String),
    #[error("{0} is bounded twice")]
    Twice(String),
}

/// A latency percentile an SLO may bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Percentile {
    P50,
    P90,
    P99,
    P999,
}

impl Percentile {
    /// The figure's name as written (`p99.9`).
    pub fn name(self) -> &'static str {
        match self {
            Percentile::P50 => "p50",
            Percentile::P90 => "p90",
            Percentile::P99 => "p99",
            Percentile::P999 => "p99.9",
        }
    }

    /// The quantile it stands for.
    pub fn quantile(self) -> f64 {
        match self {
            Percentile::P50 => 0.50,
            Percentile::P90 => 0.90,
            Percentile::P99 => 0.99,
            Percentile::P999 => 0.999,
        }
    }
}

/// Bounds a run must keep: latency percentiles below their bounds, errors below a share.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Slo {
    /// Each bounded percentile and its bound, in the order written.
    pub latency: Vec<(Percentile, Duration)>,
    /// The largest share of failed requests (0.01 for `errors<1%`), if bounded.
    pub errors: Option<f64>,
}

impl Slo {
    /// The error share that breaks it: its own bound, else `default`.
    pub fn error_bound(&self, default: f64) -> f64 {
        self.errors.unwrap_or(default)
    }
}

impl FromStr for Slo {
    type Err = SloError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut slo = Slo::default();
        for term in text.split(',').map(str::trim) {
            let syntax = || SloError::Syntax(term.to_owned());
            let (name, bound) = term.split_once('<').ok_or_else(syntax)?;
            let (name, bound) = (name.trim(), bound.trim());
            if name.eq_ignore_ascii_case("errors") {
                if slo.errors.is_some() {
                    return Err(SloError::Twice("errors".to_owned()));
                }
                let percent = bound
                    .strip_suffix('%')
                    .and_then(|p| p.trim().parse::<f64>().ok())
                    .filter(|p| (0.0..=100.0).contains(p))
                    .ok_or_else(|| SloError::Percent(bound.to_owned()))?;
                slo.errors = Some(percent / 100.0);
                continue;
            }
            let percentile = match name.to_ascii_lowercase().as_str() {
                "p50" => Percentile::P50,
                "p90" => Percentile::P90,
                "p99" => Percentile::P99,
                "p99.9" | "p999" => Percentile::P999,
                _ => return Err(syntax()),
            };
            if slo.latency.iter().any(|(p, _)| *p == percentile) {
                return Err(SloError::Twice(percentile.name().to_owned()));
            }
            let bound = parse_duration(bound)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| SloError::Duration(bound.to_owned()))?;
            slo.latency.push((percentile, bound));
        }
        Ok(slo)
    }
}

/// As written: `p99<300ms,errors<1%`.
impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut terms: Vec<String> = self
            .latency
            .iter()
            .map(|(p, bound)| format!("{}<{}", p.name(), humantime::format_duration(*bound)))
            .collect();
        if let Some(share) = self.errors {
            terms.push(format!("errors<{}%", share * 100.0));
        }
        f.write_str(&terms.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_latency_and_error_bounds() {
        let slo: Slo = "p99<300ms, errors<1%".parse().expect("an SLO");
        assert_eq!(
            slo.latency,
            vec![(Percentile::P99, Duration::from_millis(300))]
        );
        assert_eq!(slo.errors, Some(0.01));
        assert_eq!(slo.to_string(), "p99<300ms,errors<1%");
        let slo: Slo = "p50<20ms,p99.9<1s".parse().expect("an SLO");
        assert_eq!(slo.latency.len(), 2);
        assert_eq!(slo.error_bound(0.01), 0.01);
        assert_eq!(slo.latency[1].0.quantile(), 0.999);
    }

    #[test]
    fn refuses_what_is_not_a_bound() {
        for (text, error) in [
            ("p99>300ms", SloError::Syntax("p99>300ms".into())),
            ("p98<300ms", SloError::Syntax("p98<300ms".into())),
            ("p99<soon", SloError::Duration("soon".into())),
            ("p99<0ms", SloError::Duration("0ms".into())),
            ("errors<1", SloError::Percent("1".into())),
            ("errors<120%", SloError::Percent("120%".into())),
            ("p99<1s,p99<2s", SloError::Twice("p99".into())),
            ("", SloError::Syntax(String::new())),
        ] {
            assert_eq!(text.parse::<Slo>(), Err(error), "{text}");
        }
    }
}
