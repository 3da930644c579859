//! The human report: one column per run, one row per figure, then the comparison in words
//! ("concurrent (c=50) ran 45.2x faster than sequential"), in the spirit of hyperfine.

use std::io::{self, Write};

use super::figures::rows;
use super::paint::Paint;
use super::stats::{decode_histogram, Ending};
use super::units::{bytes, ms};
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
    let label_width = rows.iter().map(|row| row.label.len()).max().unwrap_or(0);
    let column_width = rows
        .iter()
        .flat_map(|row| row.cells.iter().map(|c| c.text.chars().count()))
        .chain(headers.iter().map(String::len))
        .max()
        .unwrap_or(0);
    write!(out, "{:label_width$}", "")?;
    for header in &headers {
        write!(out, "  {}", paint.bold(&format!("{header:>column_width$}")))?;
    }
    writeln!(out)?;
    for row in &rows {
        let label = row.label;
        write!(out, "{}", paint.dim(&format!("{label:label_width$}")))?;
        for cell in &row.cells {
            let text = format!("{:>column_width$}", cell.text);
            let text = if cell.alarming {
                paint.bad(&text)
            } else {
                text
            };
            write!(out, "  {text}")?;
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
        "pushback" => "limited by the server's push-back (429/503 or a spent rate limit): \
                       its pauses and the back-off's climb; --no-backoff ignores them"
            .to_owned(),
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
