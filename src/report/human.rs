//! The human report: one column per run, one row per figure, then the comparison in words
//! ("concurrent (c=50) ran 45.2x faster than sequential"), in the spirit of hyperfine.
//!
//! The sentences are wrapped to [`WIDTH`] columns, so the report reads in an 80-column terminal.

use std::io::{self, Write};

use super::figures::rows;
use super::find_rate::FindRateReport;
use super::paint::Paint;
use super::stats::{decode_histogram, Ending};
use super::units::{bytes, ms};
use super::{bars, sweep, Report, RunReport};

/// The columns a sentence may take; longer ones go on, indented, on the next line.
pub const WIDTH: usize = 80;

/// Writes the side-by-side table, the latency histograms and the comparison in words.
pub fn write(report: &Report, out: &mut dyn Write, paint: Paint) -> io::Result<()> {
    if let Some(signal) = &report.interrupted {
        writeln!(
            out,
            "interrupted by {signal}: figures cover the requests that completed"
        )?;
    }
    if let Some(search) = &report.find_rate {
        return write_find_rate(search, out, paint);
    }
    let headers: Vec<String> = report.runs.iter().map(RunReport::name).collect();
    let rows = rows(&report.runs);
    let label_width = rows
        .iter()
        .map(|row| row.label.chars().count())
        .max()
        .unwrap_or(0);
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
        let label = &row.label;
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
        for line in [ending(run), stop_sentence(run), rate_sentence(run)]
            .into_iter()
            .flatten()
        {
            write_wrapped(out, &line, |line| line.to_owned())?;
        }
        if let Some(lines) = slowest_lines(run) {
            for line in lines {
                writeln!(out, "{line}")?;
            }
        }
    }
    if report.runs.iter().any(|r| r.closed_loop) {
        write_wrapped(
            out,
            "closed loop (no --rate): latency is timed from each send, so waiting for a free slot is \
             not counted (coordinated omission); with --rate, the p99 from the schedule counts it",
            |line| line.to_owned(),
        )?;
    }
    if let Some(passes) = report.passes {
        writeln!(out, "the ids were sent {passes:.2} times over (-n, -z)")?;
    }
    if let Some(line) = comparison(report) {
        writeln!(out)?;
        write_wrapped(out, &line, |line| paint.good(line))?;
    }
    Ok(())
}

/// The rate search: one row per step (target, achieved, latency from the schedule, errors,
/// 429s, verdict), why each step that broke broke, and the answer in one line.
fn write_find_rate(search: &FindRateReport, out: &mut dyn Write, paint: Paint) -> io::Result<()> {
    writeln!(
        out,
        "{}",
        paint.bold(&format!(
            "{:>4}  {:>9}  {:>9}  {:>10}  {:>10}  {:>6}  {:>5}  verdict",
            "step", "target", "achieved", "p50 sched", "p99 sched", "errors", "429s"
        ))
    )?;
    for (i, step) in search.steps.iter().enumerate() {
        let verdict = if step.held {
            paint.good("held")
        } else {
            paint.bad(&format!("broke: {}", step.verdict))
        };
        writeln!(
            out,
            "{:>4}  {:>9}  {:>9}  {:>10}  {:>10}  {:>6}  {:>5}  {verdict}",
            i + 1,
            format!("{:.1}/s", step.target),
            format!("{:.1}/s", step.achieved),
            ms(step.p50_ms),
            ms(step.p99_ms),
            step.errors,
            step.too_many,
        )?;
    }
    writeln!(out)?;
    for (i, step) in search.steps.iter().enumerate().filter(|(_, s)| !s.held) {
        let line = format!(
            "step {} ({:.1}/s) broke: {}",
            i + 1,
            step.target,
            step.why.join("; ")
        );
        write_wrapped(out, &line, |line| line.to_owned())?;
    }
    if let (Some(cap), Some(by)) = (search.cap, &search.cap_by) {
        write_wrapped(out, &format!("no step above {cap:.1}/s ({by})"), |line| {
            line.to_owned()
        })?;
    }
    write_wrapped(
        out,
        &format!(
            "judged by {} (latency from each request's scheduled start); {} requests in all",
            search.slo, search.requests
        ),
        |line| line.to_owned(),
    )?;
    writeln!(out)?;
    let good = search.sustained.is_some();
    write_wrapped(out, &search.summary, |line| {
        if good {
            paint.good(line)
        } else {
            paint.bad(line)
        }
    })
}

/// Writes `text` wrapped to [`WIDTH`] columns, each line through `paint`.
fn write_wrapped(
    out: &mut dyn Write,
    text: &str,
    paint: impl Fn(&str) -> String,
) -> io::Result<()> {
    for line in wrap(text.split(' '), " ") {
        writeln!(out, "{}", paint(&line))?;
    }
    Ok(())
}

/// `pieces` joined by `separator` into lines of at most [`WIDTH`] columns where the pieces allow
/// (a piece is never split), the lines after the first indented by two spaces; a line broken
/// after a separator keeps its visible part (the comma of ", ").
fn wrap<'a>(pieces: impl IntoIterator<Item = &'a str>, separator: &str) -> Vec<String> {
    let pieces: Vec<&str> = pieces.into_iter().collect();
    let visible = separator.trim_end();
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut width = 0;
    for (i, piece) in pieces.iter().enumerate() {
        let piece_width = piece.chars().count();
        // Room for the separator's visible part too, should the line break after this piece.
        let trailing = if i + 1 < pieces.len() {
            visible.chars().count()
        } else {
            0
        };
        if width == 0 {
            line.push_str(piece);
            width = piece_width;
        } else if width + separator.chars().count() + piece_width + trailing <= WIDTH {
            line.push_str(separator);
            line.push_str(piece);
            width += separator.chars().count() + piece_width;
        } else {
            line.push_str(visible);
            lines.push(std::mem::take(&mut line));
            line.push_str("  ");
            line.push_str(piece);
            width = 2 + piece_width;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
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
        let sentence = sweep::knee_sentence(knee, &report.runs);
        write_wrapped(out, &sentence, |line| paint.note(line))?;
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

/// Where a stop rule ended the range: "concurrent c=50 run: stopped after 3 consecutive missing
/// ids from 152 (--stop-after-missing 3); 15 answers past the stop not written".
fn stop_sentence(run: &RunReport) -> Option<String> {
    let account = run.crawl.as_ref()?.stop_account()?;
    Some(format!("{} run: {account}", run.name()))
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
        "failures" => {
            let kinds = run
                .error_kinds
                .iter()
                .map(|(kind, n)| format!("{kind}×{n}"))
                .collect::<Vec<_>>()
                .join(" ");
            let kinds = if kinds.is_empty() {
                String::new()
            } else {
                format!(" ({kinds})")
            };
            format!(
                "limited by failures: {} of {} requests failed{kinds}; the rate and latencies \
                 measure the failures, not the server's answers",
                run.errors, run.requests
            )
        }
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

/// "concurrent c=50 run: slowest ids: 151 (558.8 kB) 73.1 ms, ...", wrapped between ids; none
/// when no request succeeded (failures are not among the slowest).
fn slowest_lines(run: &RunReport) -> Option<Vec<String>> {
    if run.slowest.is_empty() {
        return None;
    }
    let mut list: Vec<String> = run
        .slowest
        .iter()
        .map(|s| match &s.key {
            Some(key) => format!("{key} ({}) {}", bytes(s.bytes), ms(s.ms)),
            None => format!("{} ({}) {}", s.id, bytes(s.bytes), ms(s.ms)),
        })
        .collect();
    // A crawl's records are named by key: every page and link of a seed shares its id.
    let named = if run.slowest.iter().any(|s| s.key.is_some()) {
        "keys"
    } else {
        "ids"
    };
    // The head stays with the first id: a list never starts on a line of its own.
    list[0] = format!("{} run: slowest {named}: {}", run.name(), list[0]);
    Some(wrap(list.iter().map(String::as_str), ", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::crawl::{CrawlReport, LevelReport};
    use crate::report::html::fixture;

    fn text(report: &Report) -> String {
        let mut out = Vec::new();
        write(report, &mut out, Paint::plain()).expect("write");
        String::from_utf8(out).expect("UTF-8")
    }

    fn too_wide(text: &str) -> Vec<&str> {
        text.lines().filter(|l| l.chars().count() > WIDTH).collect()
    }

    #[test]
    fn wrapping_breaks_between_pieces_and_keeps_the_comma() {
        let ids: Vec<String> = (0..12)
            .map(|n| format!("{n}00 (250.0 kB) 43.1 ms"))
            .collect();
        let lines = wrap(ids.iter().map(String::as_str), ", ");
        assert!(lines.len() > 1);
        assert!(
            lines.iter().all(|l| l.chars().count() <= WIDTH),
            "{lines:?}"
        );
        assert!(lines[..lines.len() - 1].iter().all(|l| l.ends_with(',')));
        assert!(lines[1..].iter().all(|l| l.starts_with("  ")));
        let joined: Vec<&str> = lines
            .iter()
            .flat_map(|l| l.trim().split(", "))
            .map(|p| p.trim_end_matches(','))
            .collect();
        assert_eq!(joined, ids);
        assert_eq!(wrap("short words".split(' '), " "), ["short words"]);
    }

    #[test]
    fn a_crawl_and_a_run_of_failures_fit_eighty_columns() {
        let sequential = fixture::run(150, 1, |_| false);
        let concurrent = fixture::run(150, 50, |_| true);
        let mut report = fixture::report(&[&sequential, &concurrent]);
        for run in &mut report.runs {
            run.crawl = Some(CrawlReport {
                counts: crate::engine::CrawlCounts {
                    pages: 7,
                    duplicates: 3,
                    stopped: Some(
                        "after 3 consecutive missing ids from 152 (--stop-after-missing 3)".into(),
                    ),
                    past_stop: 15,
                    ..Default::default()
                },
                levels: vec![LevelReport {
                    depth: 0,
                    requests: 150,
                    ok: 150,
                    errors: 0,
                    mean_ms: 40.0,
                }],
            });
        }
        let text = text(&report);
        assert_eq!(too_wide(&text), Vec::<&str>::new(), "{text}");
        assert!(text.contains("crawl depth 0"), "{text}");
        assert!(
            text.contains("sequential run: stopped after 3 consecutive missing ids"),
            "{text}"
        );
    }

    #[test]
    fn most_requests_failed_is_the_limit_and_no_failure_is_among_the_slowest() {
        let refused = fixture::run(20, 50, |_| true);
        let report = fixture::report(&[&refused]);
        assert_eq!(report.runs[0].rate.limited_by.as_deref(), Some("failures"));
        // The sentences as one line each, whatever the wrapping.
        let text = text(&report).replace("\n  ", " ");
        assert!(
            text.contains("limited by failures: 20 of 20 requests failed"),
            "{text}"
        );
        assert!(!text.contains("limited by the server"), "{text}");
        assert!(!text.contains("slowest ids"), "{text}");
    }

    #[test]
    fn a_crawls_slowest_are_named_by_key_not_by_their_seeds_id() {
        let run = fixture::run(3, 2, |_| false);
        let mut report = fixture::report(&[&run]);
        for (i, slow) in report.runs[0].slowest.iter_mut().enumerate() {
            slow.key = Some(format!("1.{i}"));
        }
        let text = text(&report).replace("\n  ", " ");
        assert!(text.contains("slowest keys: 1.0 ("), "{text}");
        assert!(!text.contains("slowest ids"), "{text}");
    }
}
