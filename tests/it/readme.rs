//! README.md's examples, run as written against loopback: every line of its ```sh blocks is run
//! (a `fetchbench` line through the binary, in a temp directory per paragraph), skipped for a
//! listed reason, or stood in for by a server this test starts; each command must exit as
//! [`EXPECTED`] says and write what it says it writes. A second check: every flag the examples
//! and the option tables name is one the matching `--help` lists.
//!
//! The live hosts become loopback servers (see [`REWRITES`]): `https://pokeapi.co` the built-in
//! fixture (`FixtureServer`, the real documents of generation 1) and `https://api.example.com`
//! the shared test server's README routes. https becomes http: TLS is covered by tls.rs.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

use fetchbench::fixture::{FixtureOptions, FixtureServer};
use serde_json::Value;

use crate::common::run::BIN;
use crate::common::{Behaviour, TestServer};

const README: &str = include_str!("../../README.md");

/// A rewrite of README text before it runs: `from` becomes `to` (with `FIXTURE`, `API` and
/// `SERVED` standing for the servers' `http://IP:PORT`), for the reason given.
struct Rewrite {
    from: &'static str,
    to: &'static str,
    why: &'static str,
}

/// Every rewrite the test makes to the README's lines; each must apply at least once (a stale one
/// fails the test, so this table stays the list of what differs from the README).
///
/// | README | run as | why |
/// |---|---|---|
/// | `https://pokeapi.co` | the in-process fixture | the live API, offline: same paths and documents (gen. 1) |
/// | `https://api.example.com` | the shared test server | its README routes: `/items/{id}`, `/search`, `/v1/items/{id}` |
/// | `http://127.0.0.1:8000` | the paragraph's `serve &` stand-in, else the fixture | port 8000 may be taken; the server runs in-process (the HTTP/2 example starts none: it assumes one running) |
/// | `-r 1..=500` (auth, `--rate 10/s`) | `-r 1..=50` | 50 s at 10/s; 5 s keeps the test short |
/// | `-r 1..=200` (429 fixture) | `-r 1..=100` | about 17 s behind a 20/s limit; 100 take about 6 s |
/// | `--slo 'p99<400ms,...'` (find-rate) | `'p99<3s,...' --step 2s` | a loaded machine's stalls break a tight bound; find_rate.rs tests the search |
/// | `cargo run --release --` | the binary | the test's build of the same binary |
const REWRITES: &[Rewrite] = &[
    Rewrite {
        from: "https://pokeapi.co",
        to: "FIXTURE",
        why: "the live pokeapi: the fixture serves its paths and its generation-1 documents",
    },
    Rewrite {
        from: "https://api.example.com",
        to: "API",
        why: "a placeholder host: the shared test server answers its README routes",
    },
    Rewrite {
        from: "http://127.0.0.1:8000",
        to: "SERVED",
        why: "port 8000 may be taken: the paragraph's `serve &` runs in-process on a free port",
    },
    Rewrite {
        from: "-r 1..=500 -m concurrent -c 8 --rate 10/s",
        to: "-r 1..=50 -m concurrent -c 8 --rate 10/s",
        why: "500 ids at 10/s take 50 s",
    },
    Rewrite {
        from: "-r 1..=200 -m concurrent -c 32",
        to: "-r 1..=100 -m concurrent -c 32",
        why: "200 ids behind a 20/s limit take about 17 s",
    },
    Rewrite {
        from: "--find-rate --capacity 20/s --slo 'p99<400ms,errors<1%'",
        to: "--find-rate --capacity 20/s --slo 'p99<3s,errors<1%' --step 2s",
        why: "the examples run side by side on a loaded machine, whose stalls would break a \
              400 ms bound; the search itself is tested in find_rate.rs",
    },
    Rewrite {
        from: "cargo run --release --",
        to: "fetchbench",
        why: "the test runs its own build of the binary",
    },
];

/// README commands not run, each with why (each must match a command: a stale one fails).
const SKIPPED: &[(&str, &str)] = &[
    ("cargo test", "runs these tests themselves"),
    (
        "man ./fetchbench.1",
        "opens a pager; `fetchbench man > fetchbench.1` before it runs and is checked",
    ),
    (
        "fetchbench serve --port 8000 --latency 40ms --jitter 10ms",
        "serves until Ctrl-C; the in-process fixture stands in, fixture.rs tests it",
    ),
];

/// Files the README's commands read but no example writes, as a reader would have them: written
/// into the paragraph's directory before the first line naming them runs.
const GIVEN: &[(&str, Given)] = &[
    ("queries.txt", Given::Text("pikachu\nmr \"mime\"\n")),
    ("headers.txt", Given::Text("X-Readme: yes\n")),
    ("~/.config/example/token", Given::Text("readme-token\n")),
    // A CI gate's baseline is an earlier run's report: here, the one just merged.
    ("baseline.json", Given::CopyOf("report.json")),
];

enum Given {
    Text(&'static str),
    CopyOf(&'static str),
}

/// A command the README writes once for several runs: `key`'s command is run again for each
/// `(from, to)` list of replacements, as its comment says.
const REPEATED: &[(&str, &[Replacements])] = &[(
    "--shard 0/4",
    &[
        &[("0/4", "1/4"), ("-0.", "-1.")],
        &[("0/4", "2/4"), ("-0.", "-2.")],
        &[("0/4", "3/4"), ("-0.", "-3.")],
    ],
)];

/// `(from, to)` pairs replaced in every word of a command.
type Replacements = &'static [(&'static str, &'static str)];

/// A check of what a command left in its directory, or wrote on stdout.
type Check = fn(&Path, &Output) -> Result<(), String>;

/// What one README command must do.
struct Expect {
    /// A piece of the command as its words read (quotes removed, after the rewrites), naming
    /// exactly one.
    key: &'static str,
    /// Its exit code.
    code: i32,
    /// The records it writes (on stdout, to `-o FILE` or to `> FILE`), when it writes records.
    records: Option<usize>,
    /// Anything more it must have written.
    check: Option<Check>,
}

const fn expect(key: &'static str, code: i32, records: Option<usize>) -> Expect {
    Expect {
        key,
        code,
        records,
        check: None,
    }
}

/// Every README command's expectation; a command without one fails the test.
const EXPECTED: &[Expect] = &[
    // Set up: the main job; `--mode both` writes the concurrent run's records.
    expect("--range 1..151 --mode both --field name\n", 0, Some(150)),
    expect("--field types[0].type.name", 0, Some(150)),
    expect("--field stats[*].base_stat", 0, Some(151)),
    expect("--range 1..1000:10", 0, Some(100)),
    expect("-o pokemon.csv", 0, Some(151)),
    // porygon-z is of generation 4: the fixture's 404 (the live API has it).
    expect("--ids names.txt", 1, Some(3)),
    Expect {
        check: Some(search_titles_are_the_queries),
        ..expect("--ids queries.txt", 0, Some(2))
    },
    expect("-H @headers.txt", 0, Some(50)),
    expect("--http2", 0, Some(150)),
    expect("fetchbench --follow species.url", 0, Some(150)),
    expect(
        "--next next --follow results[*].url --follow species.url",
        0,
        Some(151),
    ),
    expect("--max-requests 200", 0, Some(151)),
    expect("--total count", 0, Some(151)),
    expect("--robots --cache", 0, Some(151)),
    expect("-r 1..=100 -m concurrent -c 32 --retries 10", 0, Some(100)),
    expect("--stop-after-missing 5", 0, Some(151)),
    expect("--shard", 0, Some(2500)),
    Expect {
        check: Some(the_merged_report_counts_every_shard),
        ..expect("merge report-*.json", 0, None)
    },
    expect("merge --results", 0, Some(10000)),
    expect("compare baseline.json", 0, None),
    // A search writes no results: its answer is the report.
    expect("--find-rate", 0, Some(0)),
    expect("-n 10000", 0, None),
    expect("-z 3s", 0, None),
    expect("-c 1,4,16,64,256", 0, None),
    expect("--html report.html", 0, None),
    expect("completions bash", 0, None),
    expect("man > fetchbench.1", 0, None),
    Expect {
        check: Some(schema_is_the_committed_one),
        ..expect("schema >", 0, None)
    },
];

/// One logical line of a ```sh block (continuations joined) and its paragraph's number.
struct Line {
    text: String,
    paragraph: usize,
}

/// The logical lines of every ```sh block of `markdown`; a blank line or a block's end ends a
/// paragraph, so each paragraph is one scenario with the lines it depends on.
fn sh_lines(markdown: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let (mut inside, mut paragraph, mut pending) = (false, 0, String::new());
    for raw in markdown.lines() {
        if !inside {
            inside = raw.trim_end() == "```sh";
            paragraph += 1;
            continue;
        }
        if raw.trim_end() == "```" {
            inside = false;
            continue;
        }
        if raw.trim().is_empty() {
            paragraph += 1;
            continue;
        }
        if let Some(head) = raw.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(raw);
        let text = std::mem::take(&mut pending);
        if !text.trim_start().starts_with('#') {
            lines.push(Line { text, paragraph });
        }
    }
    assert!(pending.is_empty(), "a ```sh block ends in a continuation");
    lines
}

/// A shell word: its text and whether an unquoted `*` makes it a glob.
#[derive(Debug, Clone)]
struct Word {
    text: String,
    glob: bool,
}

#[derive(Debug)]
enum Token {
    Word(Word),
    /// `&&`, `&` or `>`.
    Op(&'static str),
}

/// Splits a shell line as sh would for these examples: quotes, backslashes, `~/` at a word's
/// start (as `home`), a `#` comment, and the operators `&&`, `&` and `>`; anything more (pipes,
/// `;`, other redirections) is refused so that the test is taught about it.
fn split(line: &str, home: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    // The word being read, if one has started (an empty quoted word is a word).
    let mut word: Option<Word> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        let mut piece = String::new();
        let mut glob = false;
        match c {
            ' ' | '\t' => {
                tokens.extend(word.take().map(Token::Word));
                continue;
            }
            '#' if word.is_none() => break,
            '\'' => loop {
                match chars.next() {
                    Some('\'') => break,
                    Some(c) => piece.push(c),
                    None => return Err(format!("an unclosed ' in {line:?}")),
                }
            },
            '"' => loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                        piece.extend(chars.next())
                    }
                    Some(c) => piece.push(c),
                    None => return Err(format!("an unclosed \" in {line:?}")),
                }
            },
            '\\' => piece.extend(chars.next()),
            '~' if word.is_none() && matches!(chars.peek(), Some('/') | None) => {
                piece.push_str(home)
            }
            '&' | '>' => {
                tokens.extend(word.take().map(Token::Word));
                let op = match c {
                    '>' => ">",
                    _ if chars.next_if_eq(&'&').is_some() => "&&",
                    _ => "&",
                };
                tokens.push(Token::Op(op));
                continue;
            }
            '|' | ';' | '<' | '`' => {
                return Err(format!(
                    "{c:?} in {line:?}: teach readme.rs the shell it needs"
                ))
            }
            c => {
                glob = c == '*';
                piece.push(c);
            }
        }
        let word = word.get_or_insert_with(|| Word {
            text: String::new(),
            glob: false,
        });
        word.text.push_str(&piece);
        word.glob |= glob;
    }
    tokens.extend(word.map(Token::Word));
    Ok(tokens)
}

/// One simple command of a line: its words, where its stdout goes, and whether it is sent to
/// the background.
#[derive(Debug, Clone)]
struct Simple {
    words: Vec<Word>,
    stdout_to: Option<String>,
    background: bool,
}

impl Simple {
    fn text(&self) -> String {
        let mut text = self.texts().join(" ");
        if let Some(to) = &self.stdout_to {
            text.push_str(&format!(" > {to}"));
        }
        text
    }

    fn texts(&self) -> Vec<String> {
        self.words.iter().map(|w| w.text.clone()).collect()
    }
}

/// The simple commands of a line, joined by `&&`.
fn simples(line: &str, home: &str) -> Result<Vec<Simple>, String> {
    let mut out = Vec::new();
    let mut current = Simple {
        words: Vec::new(),
        stdout_to: None,
        background: false,
    };
    let mut tokens = split(line, home)?.into_iter();
    while let Some(token) = tokens.next() {
        match token {
            Token::Word(w) => current.words.push(w),
            Token::Op(">") => match tokens.next() {
                Some(Token::Word(w)) => current.stdout_to = Some(w.text),
                _ => return Err(format!("`>` without a file in {line:?}")),
            },
            Token::Op("&&") => out.push(std::mem::replace(
                &mut current,
                Simple {
                    words: Vec::new(),
                    stdout_to: None,
                    background: false,
                },
            )),
            Token::Op(_) => current.background = true,
        }
    }
    out.push(current);
    if out.iter().any(|s| s.words.is_empty()) {
        return Err(format!("an empty command in {line:?}"));
    }
    Ok(out)
}

/// The names in `dir` matching `pattern` (`*` only, one path component), sorted; the pattern
/// itself when none does, as sh leaves it.
fn glob(dir: &Path, pattern: &str) -> Vec<String> {
    fn matches(pattern: &[u8], name: &[u8]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some((b'*', rest)) => (0..=name.len()).any(|i| matches(rest, &name[i..])),
            Some((c, rest)) => name.first() == Some(c) && matches(rest, &name[1..]),
        }
    }
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| matches(pattern.as_bytes(), name.as_bytes()))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    if found.is_empty() {
        found.push(pattern.to_owned());
    }
    found
}

/// The servers the rewritten lines reach.
struct Servers {
    fixture: FixtureServer,
    api: TestServer,
}

/// A paragraph's state: its directory, its home, its exported variables, what its `serve &`
/// started.
struct Scene {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    served: Option<FixtureServer>,
}

impl Scene {
    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
}

/// What one paragraph did: a line per command (for the test's output) and the failures.
#[derive(Default)]
struct Outcome {
    log: Vec<String>,
    failures: Vec<String>,
    matched: Vec<&'static str>,
}

/// `text` with every [`REWRITES`] entry applied, the paragraph's servers filled in.
fn rewrite(text: &str, servers: &Servers, scene: &Scene) -> String {
    let fixture = servers.fixture.base_url().to_owned();
    let served = scene
        .served
        .as_ref()
        .map_or_else(|| fixture.clone(), |s| s.base_url().to_owned());
    let api = format!("http://{}", servers.api.addr);
    let mut text = text.to_owned();
    for r in REWRITES {
        let to = match r.to {
            "FIXTURE" => fixture.clone(),
            "API" => api.clone(),
            "SERVED" => served.clone(),
            to => to.to_owned(),
        };
        text = text.replace(r.from, &to);
    }
    text
}

/// Writes the given files a line names, when missing.
fn give(text: &str, scene: &Scene) -> Result<(), String> {
    for (name, given) in GIVEN {
        if !text.contains(name) {
            continue;
        }
        let path = match name.strip_prefix("~/") {
            Some(rest) => scene.home().join(rest),
            None => scene.dir.path().join(name),
        };
        if path.exists() {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{name}: {e}"))?;
        }
        let bytes = match given {
            Given::Text(text) => text.as_bytes().to_vec(),
            Given::CopyOf(from) => std::fs::read(scene.dir.path().join(from))
                .map_err(|e| format!("{name} is a copy of {from}, which is missing: {e}"))?,
        };
        std::fs::write(&path, bytes).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

/// Runs the binary with `args` in `dir` with the paragraph's environment.
async fn run_bin(dir: PathBuf, env: Vec<(String, String)>, args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let home = dir.join("home");
        assert_cmd::Command::new(BIN)
            .args(&args)
            .current_dir(&dir)
            .env("HOME", home)
            .env("NO_COLOR", "1")
            .envs(env)
            .output()
            .expect("run fetchbench")
    })
    .await
    .expect("join")
}

/// Runs a shell line (`printf ... > names.txt`) with sh in the paragraph's directory.
fn run_sh(text: &str, scene: &Scene) -> Result<Output, String> {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(text)
        .current_dir(scene.dir.path())
        .env("HOME", scene.home())
        .output()
        .map_err(|e| format!("sh: {e}"))
}

/// `export NAME=VALUE`: the value as sh makes it, kept for the paragraph's later commands.
fn export(text: &str, words: &[String], scene: &mut Scene) -> Result<(), String> {
    let name = words
        .get(1)
        .and_then(|w| w.split_once('='))
        .map(|(name, _)| name.to_owned())
        .ok_or_else(|| format!("not NAME=VALUE: {text}"))?;
    let out = run_sh(&format!("{text}\nprintf '%s' \"${name}\""), scene)?;
    if !out.status.success() {
        return Err(format!("{text}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let value = String::from_utf8_lossy(&out.stdout).into_owned();
    scene.env.push((name, value));
    Ok(())
}

/// Starts the in-process equivalent of `fetchbench serve ARGS &` (its flags: `--port`, which
/// the rewrite of `127.0.0.1:8000` makes moot, and `--rate-limit`).
async fn serve(words: &[String]) -> Result<FixtureServer, String> {
    let mut options = FixtureOptions::default();
    let mut rest = words[2..].iter();
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| format!("{flag} without a value"))?;
        match flag.as_str() {
            "--port" => {}
            "--rate-limit" => {
                options.rate_limit = Some(value.parse().map_err(|e| format!("{value}: {e}"))?)
            }
            other => {
                return Err(format!(
                    "serve {other}: teach readme.rs's stand-in this flag"
                ))
            }
        }
    }
    FixtureServer::start("127.0.0.1:0".parse().expect("an address"), options)
        .await
        .map_err(|e| format!("the stand-in fixture: {e}"))
}

/// Runs one paragraph's lines in order, in its own directory.
async fn run_paragraph(lines: Vec<String>, servers: &Servers) -> Outcome {
    let mut outcome = Outcome::default();
    let mut scene = Scene {
        dir: tempfile::tempdir().expect("a temp dir"),
        env: Vec::new(),
        served: None,
    };
    std::fs::create_dir_all(scene.home()).expect("a home");
    for line in lines {
        if let Err(e) = run_line(&line, servers, &mut scene, &mut outcome).await {
            outcome.failures.push(format!("{line}\n    {e}"));
            break;
        }
    }
    outcome
}

async fn run_line(
    line: &str,
    servers: &Servers,
    scene: &mut Scene,
    outcome: &mut Outcome,
) -> Result<(), String> {
    let home = scene.home().to_string_lossy().into_owned();
    let rewritten = rewrite(line, servers, scene);
    for simple in simples(&rewritten, &home)? {
        let words = simple.texts();
        // The command as its words read, `~` for the home again: what keys are matched with.
        let written = simple.text().replace(&home, "~");
        if let Some((_, why)) = SKIPPED.iter().find(|(key, _)| written.contains(key)) {
            outcome.log.push(format!("skipped  {written}: {why}"));
            continue;
        }
        give(&written, scene)?;
        match (words[0].as_str(), words.get(1).map(String::as_str)) {
            ("fetchbench", Some("serve")) if simple.background => {
                scene.served = Some(serve(&words).await?);
                outcome.log.push(format!("in-process  {written}"));
            }
            ("fetchbench", _) => run_fetchbench(&written, simple, scene, outcome).await?,
            ("export", _) => {
                export(&rewritten, &words, scene)?;
                outcome.log.push(format!("exported  {written}"));
            }
            ("mkdir", _) => {
                std::fs::create_dir_all(scene.dir.path().join(words.last().expect("a folder")))
                    .map_err(|e| format!("{written}: {e}"))?;
                outcome.log.push(format!("mkdir  {written}"));
            }
            ("printf", _) => {
                let out = run_sh(&rewritten, scene)?;
                if !out.status.success() {
                    return Err(String::from_utf8_lossy(&out.stderr).into_owned());
                }
                outcome.log.push(format!("sh  {written}"));
            }
            _ => {
                return Err(format!(
                    "{written}: a command readme.rs does not know: run, skip or stand in for it"
                ))
            }
        }
    }
    Ok(())
}

/// Runs a `fetchbench` command (and its [`REPEATED`] variants, at once) and checks it against
/// its [`EXPECTED`] entry.
async fn run_fetchbench(
    written: &str,
    simple: Simple,
    scene: &Scene,
    outcome: &mut Outcome,
) -> Result<(), String> {
    // The key is looked up on the written line with a newline after it, so a key can say "ends
    // here".
    let keyed = format!("{written}\n");
    let found: Vec<&Expect> = EXPECTED.iter().filter(|e| keyed.contains(e.key)).collect();
    let expect = match found.as_slice() {
        [one] => *one,
        [] => return Err("no EXPECTED entry names this command: add one".into()),
        many => {
            let keys: Vec<&str> = many.iter().map(|e| e.key).collect();
            return Err(format!("EXPECTED entries {keys:?} all name this command"));
        }
    };
    outcome.matched.push(expect.key);
    let mut runs = vec![simple.clone()];
    for (key, variants) in REPEATED {
        if written.contains(key) {
            for replacements in *variants {
                let mut variant = simple.clone();
                for word in &mut variant.words {
                    for (from, to) in *replacements {
                        word.text = word.text.replace(from, to);
                    }
                }
                runs.push(variant);
            }
        }
    }
    let started = Instant::now();
    let mut handles = Vec::new();
    for run in &runs {
        let mut args = Vec::new();
        for word in &run.words[1..] {
            if word.glob {
                args.extend(glob(scene.dir.path(), &word.text));
            } else {
                args.push(word.text.clone());
            }
        }
        handles.push(tokio::spawn(run_bin(
            scene.dir.path().to_owned(),
            scene.env.clone(),
            args,
        )));
    }
    for (run, handle) in runs.iter().zip(handles) {
        let out = handle.await.map_err(|e| e.to_string())?;
        let code = out.status.code().unwrap_or(-1);
        outcome.log.push(format!(
            "ran  {}  -> exit {code} in {:.1} s",
            run.text(),
            started.elapsed().as_secs_f64()
        ));
        if let Some(to) = &run.stdout_to {
            // As sh would, into a folder that exists: the README makes `~/.local/share/...`.
            let path = scene.dir.path().join(to);
            std::fs::write(&path, &out.stdout).map_err(|e| format!("{to}: {e}"))?;
        }
        check(run, expect, scene.dir.path(), &out).map_err(|e| {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
            format!(
                "{}: {e}\n    stderr ends: {}",
                run.text(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n      ")
            )
        })?;
    }
    Ok(())
}

/// The value of the first of `flags` in `words`.
fn flag_value<'a>(words: &'a [String], flags: &[&str]) -> Option<&'a str> {
    words
        .windows(2)
        .find(|w| flags.contains(&w[0].as_str()))
        .map(|w| w[1].as_str())
}

/// Checks a run against its expectation: the exit code, the records where they went, the
/// report and HTML files, a redirected stdout.
fn check(run: &Simple, expect: &Expect, dir: &Path, out: &Output) -> Result<(), String> {
    let code = out.status.code().unwrap_or(-1);
    if code != expect.code {
        return Err(format!("exit {code}, expected {}", expect.code));
    }
    let words = run.texts();
    let fields: Vec<&str> = words
        .windows(2)
        .filter(|w| w[0] == "-f" || w[0] == "--field")
        .map(|w| w[1].as_str())
        .collect();
    // Records are on stdout for a fetch without -o, in -o's file for any command.
    let fetches = !words
        .get(1)
        .is_some_and(|w| SUBCOMMANDS.contains(&w.as_str()));
    let records = match flag_value(&words, &["-o", "--output"]) {
        Some("/dev/null") => None,
        Some("-") => Some(Records::Ndjson(out.stdout.clone())),
        None if fetches && run.stdout_to.is_none() => Some(Records::Ndjson(out.stdout.clone())),
        None => None,
        Some(file) => {
            let bytes = std::fs::read(dir.join(file)).map_err(|e| format!("{file}: {e}"))?;
            Some(match Path::new(file).extension().and_then(|e| e.to_str()) {
                Some("csv") => Records::Csv(bytes),
                Some("ndjson") => Records::Ndjson(bytes),
                _ => Records::Document(bytes),
            })
        }
    };
    let count = match records {
        None => None,
        Some(Records::Ndjson(bytes)) => {
            let records = parse_ndjson(&bytes)?;
            for r in &records {
                let ok = r["error"].is_null() && r["status"].as_u64().is_some_and(|s| s < 300);
                for field in &fields {
                    if ok && r["fields"][*field].is_null() {
                        return Err(format!("record {} has no {field}: {r}", r["id"]));
                    }
                }
            }
            Some(records.len())
        }
        Some(Records::Csv(bytes)) => {
            let text = String::from_utf8_lossy(&bytes);
            let header = text.lines().next().unwrap_or("");
            for field in &fields {
                if !header.split(',').any(|h| h == *field) {
                    return Err(format!("the CSV header {header:?} has no {field}"));
                }
            }
            Some(text.lines().count().saturating_sub(1))
        }
        Some(Records::Document(bytes)) => {
            let doc: Value =
                serde_json::from_slice(&bytes).map_err(|e| format!("not a JSON document ({e})"))?;
            doc.as_array().map(Vec::len)
        }
    };
    if count != expect.records {
        return Err(format!("{count:?} records, expected {:?}", expect.records));
    }
    if let Some(report) = flag_value(&words, &["--report"]) {
        let text =
            std::fs::read_to_string(dir.join(report)).map_err(|e| format!("{report}: {e}"))?;
        serde_json::from_str::<Value>(&text).map_err(|e| format!("{report}: not JSON: {e}"))?;
    }
    if let Some(html) = flag_value(&words, &["--html"]) {
        let text = std::fs::read_to_string(dir.join(html)).map_err(|e| format!("{html}: {e}"))?;
        if !text.contains("<html") {
            return Err(format!("{html} is no HTML page"));
        }
    }
    if let Some(to) = &run.stdout_to {
        if std::fs::metadata(dir.join(to)).map_or(0, |m| m.len()) == 0 {
            return Err(format!("nothing written to {to}"));
        }
    }
    match expect.check {
        Some(check) => check(dir, out),
        None => Ok(()),
    }
}

/// NDJSON records; an error naming the first line that is not one.
fn parse_ndjson(bytes: &[u8]) -> Result<Vec<Value>, String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).map_err(|e| format!("not a record ({e}): {l:.200}")))
        .collect()
}

enum Records {
    Ndjson(Vec<u8>),
    Csv(Vec<u8>),
    Document(Vec<u8>),
}

/// The POST example: each query arrives as the JSON body's string and comes back whole.
fn search_titles_are_the_queries(_: &Path, out: &Output) -> Result<(), String> {
    for r in parse_ndjson(&out.stdout)? {
        if r["fields"]["hits[0].title"] != r["id"] {
            return Err(format!("the search saw another query: {r}"));
        }
    }
    Ok(())
}

/// `fetchbench merge report-*.json -o report.json`: one run of the four shards' 10000 requests.
fn the_merged_report_counts_every_shard(dir: &Path, _: &Output) -> Result<(), String> {
    let text = std::fs::read_to_string(dir.join("report.json")).map_err(|e| e.to_string())?;
    let report: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    match report["runs"].as_array().map(Vec::as_slice) {
        Some([run]) if run["requests"] == 10000 => Ok(()),
        _ => Err(format!(
            "not one run of 10000 requests: {:.300}",
            report["runs"]
        )),
    }
}

/// `fetchbench schema > report.schema.json`: "the same as schema/report.schema.json".
fn schema_is_the_committed_one(dir: &Path, _: &Output) -> Result<(), String> {
    let committed = include_str!("../../schema/report.schema.json");
    let written =
        std::fs::read_to_string(dir.join("report.schema.json")).map_err(|e| e.to_string())?;
    if written != committed {
        return Err("report.schema.json differs from schema/report.schema.json".into());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_readme_example_runs_as_written_against_loopback() {
    let servers = std::sync::Arc::new(Servers {
        fixture: FixtureServer::start(
            "127.0.0.1:0".parse().expect("an address"),
            FixtureOptions::default(),
        )
        .await
        .expect("the fixture starts"),
        api: TestServer::start(Behaviour::default()).await,
    });
    let mut paragraphs: Vec<(usize, Vec<String>)> = Vec::new();
    for line in sh_lines(README) {
        match paragraphs.last_mut() {
            Some((p, lines)) if *p == line.paragraph => lines.push(line.text),
            _ => paragraphs.push((line.paragraph, vec![line.text])),
        }
    }
    let all: Vec<String> = paragraphs.iter().flat_map(|(_, l)| l.clone()).collect();
    for r in REWRITES {
        assert!(
            all.iter().any(|l| l.contains(r.from)),
            "the rewrite of {:?} ({}) no longer applies to README.md: drop it",
            r.from,
            r.why
        );
    }
    let stale = SKIPPED.iter().map(|(key, _)| ("SKIPPED", *key));
    let stale = stale.chain(GIVEN.iter().map(|(name, _)| ("GIVEN", *name)));
    for (table, key) in stale.chain(REPEATED.iter().map(|(key, _)| ("REPEATED", *key))) {
        assert!(
            all.iter().any(|l| l.contains(key)),
            "README.md no longer has {key:?}: drop it from {table}"
        );
    }
    let started = Instant::now();
    let handles: Vec<_> = paragraphs
        .into_iter()
        .map(|(_, lines)| {
            let servers = std::sync::Arc::clone(&servers);
            tokio::spawn(async move { run_paragraph(lines, &servers).await })
        })
        .collect();
    let mut failures = Vec::new();
    let mut matched: HashMap<&str, usize> = HashMap::new();
    for handle in handles {
        let outcome = handle.await.expect("a paragraph's task");
        for line in &outcome.log {
            println!("{line}");
        }
        for key in outcome.matched {
            *matched.entry(key).or_default() += 1;
        }
        failures.extend(outcome.failures);
    }
    println!("all paragraphs in {:.1} s", started.elapsed().as_secs_f64());
    for e in EXPECTED {
        if matched.get(e.key) != Some(&1) {
            failures.push(format!(
                "EXPECTED {:?} named {} commands, not one",
                e.key,
                matched.get(e.key).unwrap_or(&0)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "README examples that did not do what they say:\n{}",
        failures.join("\n")
    );
}

/// The flags a `--help` text lists: `-x` and `--long` words.
fn help_flags(help: &str) -> BTreeSet<String> {
    help.split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '=' | '<' | '('))
        .filter(|w| is_flag(w))
        .map(str::to_owned)
        .collect()
}

fn is_flag(word: &str) -> bool {
    match word.strip_prefix("--") {
        Some(long) => {
            !long.is_empty() && long.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        }
        None => {
            word.len() == 2
                && word.starts_with('-')
                && word[1..].chars().all(|c| c.is_ascii_alphabetic())
        }
    }
}

const SUBCOMMANDS: &[&str] = &["serve", "merge", "compare", "completions", "man", "schema"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_flag_the_readme_names_is_one_help_lists() {
    // (subcommand or "" for the main command) -> the flags the README gives it, with where.
    let mut named: Vec<(String, String, String)> = Vec::new();
    for line in sh_lines(README) {
        let text = line.text.replace("cargo run --release --", "fetchbench");
        let Ok(simples) = simples(&text, "/home") else {
            continue;
        };
        for simple in simples {
            let words = simple.texts();
            if words[0] != "fetchbench" {
                continue;
            }
            let sub = match words.get(1) {
                Some(w) if SUBCOMMANDS.contains(&w.as_str()) => w.clone(),
                _ => String::new(),
            };
            for word in &words[1..] {
                let flag = word.split('=').next().unwrap_or(word);
                if is_flag(flag) {
                    named.push((sub.clone(), flag.to_owned(), simple.text()));
                }
            }
        }
    }
    // The option tables: the flags in each row's first cell, and the `fetchbench serve [...]`
    // synopsis under them.
    let options = README
        .split_once("### Options")
        .and_then(|(_, rest)| rest.split_once("## Exit codes"))
        .map(|(options, _)| options)
        .expect("README.md has its Options section before its Exit codes");
    for row in options.lines() {
        if let Some(cell) = row.strip_prefix("| `").and_then(|r| r.split(" | ").next()) {
            for word in cell.split(|c: char| c.is_whitespace() || matches!(c, '`' | ',')) {
                if is_flag(word) {
                    named.push((String::new(), word.to_owned(), row.to_owned()));
                }
            }
        }
        if let Some(synopsis) = row.strip_prefix("`fetchbench serve ") {
            for word in synopsis.split(|c: char| c.is_whitespace() || matches!(c, '[' | ']')) {
                if is_flag(word) {
                    named.push(("serve".into(), word.to_owned(), row.to_owned()));
                }
            }
        }
    }
    assert!(
        named.len() > 100,
        "too few flags found in README.md ({}): is the parser still right?",
        named.len()
    );
    let mut helps: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut stale = Vec::new();
    for (sub, flag, at) in named {
        if !helps.contains_key(&sub) {
            let mut args: Vec<&str> = Vec::new();
            if !sub.is_empty() {
                args.push(&sub);
            }
            args.push("--help");
            let out = crate::common::run::fetchbench(&args).await;
            assert!(out.status.success(), "fetchbench {args:?} failed");
            let flags = help_flags(&String::from_utf8_lossy(&out.stdout));
            helps.insert(sub.clone(), flags);
        }
        if !helps[&sub].contains(&flag) {
            let command = format!("fetchbench {sub}");
            stale.push(format!("`{}` has no {flag}: {at}", command.trim_end()));
        }
    }
    assert!(
        stale.is_empty(),
        "README.md names flags --help does not list:\n{}",
        stale.join("\n")
    );
}

#[test]
fn the_readme_reader_splits_lines_as_sh_does() {
    let lines = sh_lines("text\n```sh\n# a comment\nfetchbench --a 'b c' \\\n  -d \"e\\\"f\"   # g\n\nprintf 'x\\n' > f.txt && cat f.txt &\n```\n");
    assert_eq!(lines.len(), 2);
    assert_ne!(lines[0].paragraph, lines[1].paragraph);
    let first = simples(&lines[0].text, "/h").expect("a line");
    assert_eq!(first[0].texts(), ["fetchbench", "--a", "b c", "-d", "e\"f"]);
    let second = simples(&lines[1].text, "/h").expect("a line");
    assert_eq!(second.len(), 2);
    assert_eq!(second[0].texts(), ["printf", "x\\n"]);
    assert_eq!(second[0].stdout_to.as_deref(), Some("f.txt"));
    assert!(second[1].background);
    let globbed = simples("merge r*.json '*' ~/x", "/h").expect("a line");
    let flags: Vec<(String, bool)> = globbed[0]
        .words
        .iter()
        .map(|w| (w.text.clone(), w.glob))
        .collect();
    assert_eq!(
        flags,
        [
            ("merge".to_owned(), false),
            ("r*.json".to_owned(), true),
            ("*".to_owned(), false),
            ("/h/x".to_owned(), false)
        ]
    );
    assert!(simples("a | b", "/h").is_err());
}
