//! The `--html` report as a browser sees it: the binary writes it against the built-in fixture,
//! headless Chromium (Debian's `chromium`) opens it, and the test reads back the console and the
//! DOM after scripts ran, and keeps a screenshot in `target/tmp/fetchbench-report.png` for a human
//! to look at.
//!
//! Chromium is required, not optional: without it these tests fail and say how to install it,
//! so a machine without a browser cannot pass them by skipping.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::run::BIN;

const CHROMIUM: &str = "/usr/bin/chromium";
/// Longest a page visit may take before Chromium is deemed hung and killed.
const PATIENCE: Duration = Duration::from_secs(30);

/// What Chromium made of a page: the DOM after scripts ran, and the console messages.
struct Visit {
    dom: String,
    console: Vec<String>,
}

#[test]
fn the_report_opens_cleanly_with_a_waterfall_per_run() {
    require_chromium();
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("report.html");
    let control = dir.path().join("control.html");
    std::fs::write(
        &control,
        "<!doctype html><title>control</title><p>control</p><script>\
         console.error('deliberate console error'); throw new Error('deliberate throw');</script>",
    )
    .expect("write the control page");
    // The negative control runs while the binary writes the report: the console detector must
    // see its errors, or an empty console below proves nothing.
    let control_visit = std::thread::scope(|scope| {
        let control = scope.spawn(|| visit(&control, None));
        write_report(&["-r", "1..151", "-m", "both", "-c", "50"], &page);
        control.join().expect("control visit")
    });
    let seen = control_visit.console.join("\n");
    assert!(seen.contains("deliberate console error"), "console: {seen}");
    assert!(seen.contains("deliberate throw"), "console: {seen}");

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fetchbench-report.png");
    let _ = std::fs::remove_file(&shot);
    let report = visit(&page, Some(&shot));
    assert!(report.console.is_empty(), "console: {:#?}", report.console);
    let waterfalls = charts(&report.dom, "waterfall");
    assert_eq!(waterfalls.len(), 2, "one waterfall per run");
    for (run, chart) in waterfalls.iter().enumerate() {
        assert_eq!(chart.attr("data-run").as_deref(), Some(&*run.to_string()));
        assert_eq!(chart.attr("data-requests").as_deref(), Some("150"));
        assert_eq!(chart.bars, 150, "bars of run {run}");
    }
    assert_eq!(charts(&report.dom, "histogram").len(), 2);
    assert!(report.dom.contains("<table class=\"summary\">"));
    let png = std::fs::read(&shot).expect("the screenshot was saved");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(png.len() > 20_000, "screenshot of {} bytes", png.len());
}

#[test]
fn a_sweep_report_has_its_charts() {
    require_chromium();
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("sweep.html");
    write_report(&["-r", "1..31", "-m", "concurrent", "-c", "1,4,16"], &page);
    let report = visit(&page, None);
    assert!(report.console.is_empty(), "console: {:#?}", report.console);
    assert_eq!(charts(&report.dom, "sweep").len(), 2, "requests/s and p99");
    let waterfalls = charts(&report.dom, "waterfall");
    assert_eq!(waterfalls.len(), 3);
    assert!(waterfalls.iter().all(|w| w.bars == 30));
}

/// Fails the test, saying how to install it, when the browser is missing.
fn require_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the HTML report tests need Debian's chromium \
         (`apt-get install chromium`)"
    );
}

#[test]
fn a_rate_search_report_draws_its_steps_against_the_bound() {
    require_chromium();
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("find-rate.html");
    let search = [
        "--find-rate",
        "--capacity",
        "20/s",
        "--slo",
        "p99<400ms",
        "--step",
        "1s",
        "-r",
        "1..=40",
    ];
    // A search writes no results, so no `-o` (write_report gives one).
    let out = Command::new(BIN)
        .args(search)
        .args(["--latency", "5ms", "-q", "--html"])
        .arg(&page)
        .env("NO_COLOR", "1")
        .output()
        .expect("run fetchbench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = visit(&page, None);
    assert!(report.console.is_empty(), "console: {:#?}", report.console);
    let found = charts(&report.dom, "find-rate");
    assert_eq!(found.len(), 2, "p99 and the rate achieved");
    assert_eq!(found[0].attr("data-metric").as_deref(), Some("p99"));
    assert!(
        report.dom.contains("p99 &lt; 400 ms"),
        "the SLO's bound is drawn"
    );
    assert!(
        report.dom.contains("<circle class=\"knee\""),
        "the rate that held is circled"
    );
    assert!(report.dom.contains("sustains "), "the answer in words");
}

/// Runs the binary against its built-in fixture with `args`, writing the HTML report to `page`.
fn write_report(args: &[&str], page: &Path) {
    let out = Command::new(BIN)
        .args(args)
        .args(["--latency", "5ms", "-q", "-o", "/dev/null", "--html"])
        .arg(page)
        .env("NO_COLOR", "1")
        .output()
        .expect("run fetchbench");
    assert!(
        out.status.success(),
        "fetchbench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Opens `page` in headless Chromium with a fresh profile; dumps the DOM, and takes a
/// screenshot when `screenshot` says where.
fn visit(page: &Path, screenshot: Option<&Path>) -> Visit {
    require_chromium();
    let scratch = tempfile::tempdir().expect("temp dir");
    let dom_path = scratch.path().join("dom.html");
    let log_path = scratch.path().join("log.txt");
    let mut command = Command::new(CHROMIUM);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            scratch.path().join("profile").display()
        ));
    if let Some(shot) = screenshot {
        command
            .arg(format!("--screenshot={}", shot.display()))
            .arg("--window-size=1280,2400");
    }
    // Output goes to files, not pipes: a helper outliving the browser cannot hold a read open.
    command
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(File::create(&dom_path).expect("create the DOM file"))
        .stderr(File::create(&log_path).expect("create the log file"))
        .process_group(0);
    let status = wait_or_kill(command.spawn().expect("start chromium"));
    assert!(status.success(), "chromium failed: {status}");
    let log = std::fs::read_to_string(&log_path).expect("read chromium's log");
    Visit {
        dom: std::fs::read_to_string(&dom_path).expect("read the DOM"),
        console: console_messages(&log),
    }
}

/// Waits for Chromium for [`PATIENCE`] at most; on time or not, ends what is left of the
/// process group it started (its helpers), and fails the test if it had to kill the browser.
fn wait_or_kill(mut child: Child) -> ExitStatus {
    let group = child.id() as libc::pid_t;
    let (done, finished) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let outcome = finished.recv_timeout(PATIENCE);
    // SAFETY: kill(2) with a negative pid signals the process group this test created (the
    // browser was started as its leader); it touches no memory.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
    let _ = waiter.join();
    match outcome {
        Ok(status) => status.expect("wait for chromium"),
        Err(_) => panic!("chromium did not finish within {PATIENCE:?}; killed it"),
    }
}

/// The page's console messages in Chromium's log (`--enable-logging=stderr`): lines like
/// `[..:INFO:CONSOLE:1] "Uncaught Error: ..."` (older versions: `CONSOLE(1)`).
fn console_messages(log: &str) -> Vec<String> {
    log.lines()
        .filter(|line| line.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect()
}

/// One `<svg class="...">` chart of the DOM: its opening tag and its bars.
struct Chart {
    tag: String,
    bars: usize,
}

impl Chart {
    fn attr(&self, name: &str) -> Option<String> {
        let from = self.tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let len = self.tag[from..].find('"')?;
        Some(self.tag[from..from + len].to_owned())
    }
}

/// The charts of `class` in `dom`, in document order.
fn charts(dom: &str, class: &str) -> Vec<Chart> {
    dom.split(&format!("<svg class=\"{class}\""))
        .skip(1)
        .map(|rest| {
            let body = rest.split("</svg>").next().unwrap_or(rest);
            Chart {
                tag: body.split('>').next().unwrap_or(body).to_owned(),
                bars: body.matches("<rect class=\"bar").count(),
            }
        })
        .collect()
}
