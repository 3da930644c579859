//! The human report: one column per run, one row per figure, then the comparison in words
//! ("concurrent (c=50) ran 45.2x faster than sequential"), in the spirit of hyperfine.

use std::io::{self, Write};

use super::paint::Paint;
use super::stats::{decode_histogram, Ending, LatencySummary};
use super::units::bytes;
use super::{bars, sweep, Report, RunReport};

/// Writes the side-by-side table, the latency histograms and the comparison in words.
pub fn write(report: &Report, out: &mut dyn Write, paint: Paint) -> io::Result<()> {
    if let Some(signal) = &report.interrupted {
        writeln!(
            out,
            "interrupted by {signal}: figures cover the requests that completed"
        )?;
    }
    let headers: Vec<String> = report.runs.iter().map(RunReport::name).collect();
    let rows = rows(&report.runs);
    let label_width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    let column_width = rows
        .iter()
        .flat_map(|(_, cells)| cells.iter().map(|c| c.chars().count()))
        .chain(headers.iter().map(String::len))
        .max()
        .unwrap_or(0);
    write!(out, "{:label_width$}", "")?;
    for header in &headers {
        write!(out, "  {}", paint.bold(&format!("{header:>column_width$}")))?;
    }
    writeln!(out)?;
    for (label, cells) in &rows {
        write!(out, "{}", paint.dim(&format!("{label:label_width$}")))?;
        for cell in cells {
            let cell = format!("{cell:>column_width$}");
            let alarming = *label == "errors" && cell.trim() != "0";
            let cell = if alarming { paint.bad(&cell) } else { cell };
            write!(out, "  {cell}")?;
        }
        writeln!(out)?;
    }
    writeln!(out)?;
    write_histograms(report, out, paint)?;
    write_sweep(report, out, paint)?;
    for run in &report.runs {
        for line in [ending(run), rate_sentence(run), slowest_line(run)]
            .into_iter()
            .flatten()
        {
            writeln!(out, "{line}")?;
        }
    }
    if report.runs.iter().any(|r| r.closed_loop) {
        writeln!(
            out,
            "closed loop (no --rate): latency is timed from each send, so waiting for a free slot is \
             not counted (coordinated omission); with --rate, the p99 from the schedule counts it"
        )?;
    }
    if let Some(line) = comparison(report) {
        writeln!(out)?;
        writeln!(out, "{}", paint.good(&line))?;
    }
    Ok(())
}

/// One compact histogram per run; a sweep's many runs get one, of the last level.
fn write_histograms(report: &Report, out: &mut dyn Write, paint: Paint) -> io::Result<()> {
    let shown = if report.runs.len() > 2 {
        report.runs.len() - 1
    } else {
        0
    };
    for run in &report.runs[shown..] {
        let Some(histogram) = decode_histogram(&run.histogram) else {
            continue;
        };
        let title = format!("latency histogram, {}:", run.name());
        bars::write(&title, &histogram, paint, out)?;
        writeln!(out)?;
    }
    Ok(())
}

/// The sweep table and its knee, when the runs swept concurrency levels.
fn write_sweep(report: &Report, out: &mut dyn Write, paint: Paint) -> io::Result<()> {
    let Some(rows) = sweep::rows(&report.runs) else {
        return Ok(());
    };
    writeln!(
        out,
        "{}",
        paint.bold(&format!(
            "{:>12} {:>9} {:>11} {:>10} {:>10} {:>7} {:>8}",
            "run", "wall", "requests/s", "p50", "p99", "errors", "speedup"
        ))
    )?;
    for row in rows {
        let speedup = row
            .speedup
            .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}x"));
        let errors = format!("{:>7}", row.errors);
        let errors = if row.errors > 0 {
            paint.bad(&errors)
        } else {
            errors
        };
        writeln!(
            out,
            "{:>12} {:>7.3} s {:>11.1} {:>10} {:>10} {errors} {speedup:>8}",
            row.label,
            row.wall_s,
            row.rps,
            ms(row.p50_ms),
            ms(row.p99_ms),
        )?;
    }
    if let Some(knee) = &report.knee {
        writeln!(out, "{}", paint.note(&sweep::knee_sentence(knee)))?;
    }
    writeln!(out)
}

/// Why a run stopped early, and what it left: "deadline reached: 850 of 1000 ids not fetched".
fn ending(run: &RunReport) -> Option<String> {
    let what = match run.ended {
        Ending::Completed => return None,
        Ending::Deadline => "deadline reached",
        Ending::MaxErrors => "stopped after --max-errors failed requests",
        Ending::Cancelled => "cancelled",
    };
    let mode = run.name();
    Some(match (run.not_fetched, run.planned) {
        (Some(left), Some(planned)) => {
            format!("{mode} run: {what}: {left} of {planned} ids not fetched")
        }
        _ => format!("{mode} run: {what}: {} ids fetched", run.requests),
    })
}

/// "concurrent (c=50) ran 45.20x faster than sequential", when both modes ran.
pub fn comparison(report: &Report) -> Option<String> {
    let speedup = report.speedup?;
    let concurrent = super::fastest_concurrent(&report.runs)?;
    let c = concurrent.concurrency;
    Some(if speedup >= 1.0 {
        format!("concurrent (c={c}) ran {speedup:.2}x faster than sequential")
    } else {
        format!(
            "concurrent (c={c}) ran {:.2}x slower than sequential",
            1.0 / speedup
        )
    })
}

type Row = (&'static str, Vec<String>);

fn rows(runs: &[RunReport]) -> Vec<Row> {
    let row = |label, cell: &dyn Fn(&RunReport) -> String| (label, runs.iter().map(cell).collect());
    let mut extra = vec![];
    // Fast failures pull a blended median down: when some answers were not 2xx, the 2xx figures
    // come first.
    let mixed = runs
        .iter()
        .any(|r| r.latency_ms_by_class.keys().any(|c| c != "2xx"));
    if mixed {
        let class = |r: &RunReport, pick: fn(&LatencySummary) -> f64| {
            r.latency_ms_by_class
                .get("2xx")
                .map_or_else(|| "-".to_owned(), |l| ms(pick(l)))
        };
        extra.push(row("2xx latency p50", &|r| class(r, |l| l.p50)));
        extra.push(row("2xx latency p99", &|r| class(r, |l| l.p99)));
        extra.push(row("not 2xx", &|r| {
            let two = r
                .status
                .iter()
                .filter(|(s, _)| s.starts_with('2'))
                .map(|(_, n)| n)
                .sum::<u64>();
            (r.requests - two).to_string()
        }));
    }
    if runs.iter().any(|r| r.proxied_requests > 0) {
        // Through a proxy the figures measure the proxy too: say which, and for how many.
        extra.push(row("through proxy", &|r| match r.proxies.as_slice() {
            [] => "none".to_owned(),
            proxies => format!(
                "{} of {}: {}",
                r.proxied_requests,
                r.requests,
                proxies.join(", ")
            ),
        }));
    }
    if runs.iter().any(|r| r.latency_corrected_ms.is_some()) {
        let corrected = |r: &RunReport, pick: fn(&LatencySummary) -> f64| {
            r.latency_corrected_ms
                .as_ref()
                .map_or_else(|| "-".to_owned(), |l| ms(pick(l)))
        };
        extra.push(row("p50 from schedule", &|r| corrected(r, |l| l.p50)));
        extra.push(row("p99 from schedule", &|r| corrected(r, |l| l.p99)));
    }
    let mut rows = vec![
        row("concurrency", &|r| r.concurrency.to_string()),
        row("rate", &|r| {
            r.rate
                .target
                .map_or_else(|| "unlimited".to_owned(), |x| format!("{x:.1}/s"))
        }),
        row("requests", &|r| r.requests.to_string()),
        row("ok", &|r| r.ok.to_string()),
        row("errors", &|r| r.errors.to_string()),
        row("retries", &|r| r.retries.to_string()),
        row("wall", &|r| format!("{:.3} s", r.wall_s)),
        row("requests/s", &|r| format!("{:.1}", r.rps)),
        row("bytes", &|r| bytes(r.bytes)),
        row("on the wire", &|r| bytes(r.wire_bytes)),
        row("compression", &|r| {
            r.compression_ratio
                .map_or_else(|| "-".to_owned(), |x| format!("{x:.1}x"))
        }),
        row("wire rate", &|r| format!("{:.1} MB/s", r.wire_mb_per_s)),
        row("latency min", &|r| ms(r.latency_ms.min)),
        row("latency mean", &|r| ms(r.latency_ms.mean)),
        row("latency p50", &|r| ms(r.latency_ms.p50)),
        row("latency p90", &|r| ms(r.latency_ms.p90)),
        row("latency p99", &|r| ms(r.latency_ms.p99)),
        row("latency p99.9", &|r| ms(r.latency_ms.p999)),
        row("latency max", &|r| ms(r.latency_ms.max)),
        row("status", &|r| counts(&r.status)),
        row("http version", &|r| counts(&r.http_versions)),
        row("error kinds", &|r| counts(&r.error_kinds)),
        row("in flight (mean)", &|r| format!("{:.1}", r.mean_in_flight)),
        row("connections", &|r| r.connections_opened.to_string()),
        row("client CPU", &|r| {
            r.client_cpu_s
                .map_or_else(|| "-".to_owned(), |s| format!("{s:.3} s"))
        }),
    ];
    // The outcome and schedule figures go right before the blended latencies.
    let at = rows
        .iter()
        .position(|(label, _)| *label == "latency min")
        .unwrap_or(rows.len());
    rows.splice(at..at, extra);
    rows
}

/// What held the rate, in words: "achieved 9.8/s of 20.0/s: limited by concurrency 1; raise -c".
fn rate_sentence(run: &RunReport) -> Option<String> {
    let limited = run.rate.limited_by.as_deref()?;
    let of = run
        .rate
        .target
        .map(|t| format!(" of {t:.1}/s"))
        .unwrap_or_default();
    let why = match limited {
        "rate" => "limited by --rate".to_owned(),
        "concurrency" => format!("limited by concurrency {}; raise -c", run.concurrency),
        "client_cpu" => {
            "limited by the client's CPU: fetchbench, not the server, set the pace".to_owned()
        }
        _ => "limited by the server (its latency or throughput)".to_owned(),
    };
    Some(format!(
        "{} run: achieved {:.1}/s{of}: {why}",
        run.name(),
        run.rate.achieved
    ))
}

/// "slowest: 151 (558.8 kB) 73.1 ms, ..."
fn slowest_line(run: &RunReport) -> Option<String> {
    if run.slowest.is_empty() {
        return None;
    }
    let list: Vec<String> = run
        .slowest
        .iter()
        .map(|s| format!("{} ({}) {}", s.id, bytes(s.bytes), ms(s.ms)))
        .collect();
    Some(format!(
        "{} run: slowest ids: {}",
        run.name(),
        list.join(", ")
    ))
}

fn ms(x: f64) -> String {
    format!("{x:.1} ms")
}

/// `200×148 404×2`, or `-` when empty.
fn counts(map: &std::collections::BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "-".to_owned();
    }
    map.iter()
        .map(|(key, n)| format!("{key}×{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}
