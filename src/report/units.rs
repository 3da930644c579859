//! Units people read: byte counts in decimal units, shared by the terminal and HTML reports.

/// Bytes in decimal units: `999 B`, `34.7 MB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_units() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(34_700_000), "34.7 MB");
    }
}
