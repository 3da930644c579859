//! What makes a job the job it is (its URL template, ids, mode and options), carried in every
//! report so that `merge` can refuse reports of different jobs and `compare` can warn about them.
//!
//! The settings are kept readable, to say what differs; the fingerprint is their SHA-256, for a
//! quick equality check by scripts. Secrets are never written: the URL is shown redacted, header
//! values and the body only through a digest of the exact request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The identity of a job: what every shard of it shares, whatever machine it ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JobReport {
    /// SHA-256 (hex) of the settings: equal for the shards of one job, and only for them.
    pub fingerprint: String,
    /// The settings that make the job, by name ("url", "ids", "mode", "concurrency", ...):
    /// output paths, the shard and the machine's own settings (proxy, certificates) are not part
    /// of it.
    pub settings: BTreeMap<String, String>,
}

impl JobReport {
    /// The identity of the job made of `settings`.
    pub fn new(settings: BTreeMap<String, String>) -> Self {
        Self {
            fingerprint: fingerprint(&settings),
            settings,
        }
    }

    /// The settings in which `other` differs from `self`, as `name (this vs that)`.
    pub fn differences(&self, other: &JobReport) -> Vec<String> {
        let names: std::collections::BTreeSet<&String> =
            self.settings.keys().chain(other.settings.keys()).collect();
        let shown = |v: Option<&String>| v.map_or_else(|| "unset".to_owned(), |v| format!("{v:?}"));
        let mut differences: Vec<String> = names
            .into_iter()
            .filter(|name| self.settings.get(*name) != other.settings.get(*name))
            .map(|name| {
                format!(
                    "{name} ({} vs {})",
                    shown(self.settings.get(name)),
                    shown(other.settings.get(name))
                )
            })
            .collect();
        if differences.is_empty() && self.fingerprint != other.fingerprint {
            // The settings were edited after the fact, or by another writer.
            differences.push(format!(
                "fingerprint ({} vs {})",
                self.fingerprint, other.fingerprint
            ));
        }
        differences
    }
}

/// The SHA-256 of the settings, one `name=value` line each in name order.
fn fingerprint(settings: &BTreeMap<String, String>) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for (name, value) in settings {
        // Lengths first, so no two different maps hash the same text.
        context.update(format!("{}:{name}={}:{value}\n", name.len(), value.len()).as_bytes());
    }
    hex(context.finish().as_ref())
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(pairs: &[(&str, &str)]) -> JobReport {
        JobReport::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn equal_settings_are_one_job_and_differences_are_named() {
        let a = job(&[("ids", "range 1..100"), ("mode", "concurrent")]);
        assert_eq!(a, job(&[("mode", "concurrent"), ("ids", "range 1..100")]));
        let b = job(&[("ids", "range 1..200"), ("mode", "concurrent")]);
        assert_ne!(a.fingerprint, b.fingerprint);
        assert_eq!(
            a.differences(&b),
            [r#"ids ("range 1..100" vs "range 1..200")"#]
        );
        let c = job(&[("ids", "range 1..100")]);
        assert_eq!(a.differences(&c), [r#"mode ("concurrent" vs unset)"#]);
        // A value that would read as the next setting does not collide.
        assert_ne!(
            job(&[("a", "1\nb=2")]).fingerprint,
            job(&[("a", "1"), ("b", "2")]).fingerprint
        );
    }
}
