//! The command line's vocabulary, one concern in one file: the clap definitions of every flag,
//! whose doc comments are the `--help` text (argv becomes a `Plan` in `plan`). Every value is
//! parsed by its own type (`FromStr` or clap's `ValueEnum`), so a bad value is a clap usage error
//! naming the flag (exit 2) before anything is fetched.

use std::io::IsTerminal;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser as _;
use clap::{Args, ColorChoice, Parser, Subcommand};

use crate::engine::CacheMode;
use crate::extract::FieldPath;
use crate::output::Format;
use crate::plan::ids::IdRange;
use crate::plan::rate::{parse_duration, Rate};
use crate::plan::shard::Shard;
use crate::plan::slo::Slo;

/// Fetch a templated URL over a range of ids, one after another or through a bounded,
/// rate-limited concurrent pool; extract JSON fields in id order; compare the timings.
///
/// Without --url, fetchbench starts its built-in fixture server (the real pokeapi documents for
/// ids 1..151, with simulated latency) on loopback and fetches from it, so it works offline.
#[derive(Debug, Parser)]
#[command(name = "fetchbench", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
    // After `run`, so that "Report" is not the first heading (see `INPUT` below).
    /// Colours in the report on stderr: auto (when stderr is a terminal and NO_COLOR is unset),
    /// always or never.
    #[arg(
        long,
        global = true,
        value_name = "WHEN",
        default_value_t = ColorChoice::Auto,
        help_heading = REPORT
    )]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the built-in fixture server on its own, for other tools to use: the real pokeapi
    /// documents at /api/v2/pokemon/{id or name}, and a 1 KB JSON document for any id at
    /// /bench/{id} (for raw-rate benchmarks).
    Serve(ServeArgs),
    /// Merge the --report files of shards into the report of the whole job (exact percentiles),
    /// or with --results their NDJSON results into one file in id order.
    Merge(MergeArgs),
    /// Compare two reports side by side; exit 1 when the current one regressed (for CI gates).
    Compare(CompareArgs),
    /// Print a shell completion script: `fetchbench completions bash > /etc/bash_completion.d/fetchbench`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `fetchbench man > fetchbench.1; man ./fetchbench.1`.
    Man,
    /// Print the JSON Schema of the --report file (the repo keeps it as schema/report.schema.json).
    Schema,
}

// The `--help` headings of the main command's options (the test at the end checks that every
// option has one). clap shows them in the order of each one's first argument, so the fields of
// `RunArgs` stay grouped by heading, the groups in this order.
/// The ids of a run given none: the 151 pokemon of the first generation, as the fixture has.
pub(crate) const DEFAULT_RANGE: &str = "1..151";

const INPUT: &str = "Input";
const CRAWL: &str = "Crawl";
const REQUESTS: &str = "Requests";
const CONCURRENCY: &str = "Concurrency and rate";
const POLITENESS: &str = "Politeness";
const OUTPUT: &str = "Output";
const LIMITS: &str = "Limits and retries";
const REPORT: &str = "Report";
const FIXTURE: &str = "Fixture";

/// Options of a fetch run (the default command).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// URL with a `{}` placeholder for the id, e.g. `https://pokeapi.co/api/v2/pokemon/{}/`;
    /// without it, the built-in fixture server.
    ///
    /// Also `{id}`; `{:03}` / `{id:03}` zero-pad.
    #[arg(long, value_name = "TEMPLATE", value_parser = parse_url_template, help_heading = INPUT)]
    pub url: Option<String>,

    /// Ids: `1..151` (half-open), `1..=150`, `7`, `1..100:5` (step 5), or a comma list of those
    /// in ascending order (`1..10,20,30..=35`).
    #[arg(
        short,
        long,
        value_name = "SPEC",
        default_value = DEFAULT_RANGE,
        allow_hyphen_values = true,
        conflicts_with = "ids",
        help_heading = INPUT
    )]
    pub range: IdRange,

    /// Ids from a word list instead of a range: one per line (`-` reads stdin), blank lines and `#`
    /// comments skipped, whitespace trimmed.
    ///
    /// Read as it goes, never all at once (a file is counted first, in one pass). Stdin read by
    /// more than one run (--mode both, a sweep) is first copied to a temporary file, so every run
    /// gets the same ids. Each value is percent-encoded for its place in the URL (`mr mime` ->
    /// `mr%20mime`) unless --raw; records carry it as "id" (a string unless it is a number).
    #[arg(long, value_name = "FILE", help_heading = INPUT)]
    pub ids: Option<PathBuf>,

    /// Substitute ids into the URL exactly as written, without percent-encoding (for word lists of
    /// full paths such as `a/b?c=d`).
    ///
    /// You are responsible for the result being a valid URL.
    #[arg(long, help_heading = INPUT)]
    pub raw: bool,

    /// Fetch only shard I of N (0-based): the ids whose position in the range is I modulo N, so N
    /// processes on N machines split the job evenly.
    ///
    /// Without it, a Kubernetes Indexed Job's JOB_COMPLETION_INDEX is used with --shards N (or
    /// FETCHBENCH_SHARDS).
    #[arg(long, value_name = "I/N", help_heading = INPUT)]
    pub shard: Option<Shard>,

    /// The shard count to go with JOB_COMPLETION_INDEX.
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_at_least_one,
        conflicts_with = "shard",
        help_heading = INPUT
    )]
    pub shards: Option<u64>,

    /// Follow the URLs found at PATH in each document (`'results[*].url'`, `species.url`).
    ///
    /// Repeat for the next level (`--follow 'results[*].url' --follow species.url`: list -> pokemon
    /// -> species). Relative URLs resolve against the document's URL; each URL is requested once
    /// per run; other origins only with --allow-origin. Records come out depth-first in document
    /// order, whatever order the responses arrive in.
    #[arg(long, value_name = "PATH", help_heading = CRAWL)]
    pub follow: Vec<String>,

    /// Page through each seed's chain: the next page's URL at PATH in the body (`next`), or `link`
    /// for the `Link` header's `rel="next"`.
    ///
    /// A chain ends at a null or absent next; a page named twice in a chain ends it with a
    /// "pagination" failure.
    #[arg(long, value_name = "PATH|link", help_heading = CRAWL)]
    pub next: Option<String>,

    /// The value at --next PATH is a cursor token, not a URL: the next page is this page's URL
    /// with query parameter NAME set to it (Slack's `cursor`, Twitter's `pagination_token`).
    ///
    /// The chain ends at a null, empty or absent token.
    #[arg(long, value_name = "NAME", requires = "next", help_heading = CRAWL)]
    pub next_param: Option<String>,

    /// Let links lead to this origin too (`https://host[:port]`), or to any with `*`.
    ///
    /// By default a crawl stays on the origin of the page that named the link.
    #[arg(long, value_name = "ORIGIN", help_heading = CRAWL)]
    pub allow_origin: Vec<String>,

    /// Most pages a chain may have (its first included).
    #[arg(long, value_name = "N", value_parser = parse_at_least_one, help_heading = CRAWL)]
    pub max_pages: Option<u64>,

    /// Most requests a crawl may make in a run; what it finds beyond is counted, not fetched.
    #[arg(long, value_name = "N", value_parser = parse_at_least_one, help_heading = CRAWL)]
    pub max_requests: Option<u64>,

    /// Write every level's records, not only the last level's (failures are always written).
    #[arg(long, help_heading = CRAWL)]
    pub all_levels: bool,

    /// The last level's documents are lists: write one record per item of the list at PATH
    /// (`results`), its fields (-f) read from the item, with no request per item.
    ///
    /// `'[*]'` names a document that is itself the list (a bare JSON array: GitHub, json-server).
    #[arg(long, value_name = "PATH", help_heading = CRAWL)]
    pub items: Option<String>,

    /// Stop a range after N consecutive ids answered 404 or 410 (a hit resets the count).
    ///
    /// Those N are not written. Decided in id order, so it does not depend on timing.
    #[arg(long, value_name = "N", value_parser = parse_at_least_one, help_heading = CRAWL)]
    pub stop_after_missing: Option<u64>,

    /// Stop a range at the first page (in id order) whose list at PATH is empty or absent.
    #[arg(long, value_name = "PATH", help_heading = CRAWL)]
    pub until_empty: Option<String>,

    /// The first page's count of ITEMS, at PATH in the body (`count`) or in a header
    /// (`header:X-Total-Count`), bounds the range.
    ///
    /// An offset range (`0..:20`) ends below the first id plus that count; a range of page
    /// numbers (`1..`, a step of 1) after as many pages as hold it, at the first page's number of
    /// items (--items or --follow). The other pages are then all known and go out through the
    /// pool at once.
    #[arg(
        long,
        value_name = "PATH|header:NAME",
        conflicts_with = "total_pages",
        help_heading = CRAWL
    )]
    pub total: Option<String>,

    /// The first page's count of PAGES, at PATH in the body or in a header
    /// (`header:X-WP-TotalPages`), bounds the range: that many pages from the first.
    ///
    /// The other pages are then all known and go out through the pool at once.
    #[arg(long, value_name = "PATH|header:NAME", help_heading = CRAWL)]
    pub total_pages: Option<String>,

    /// HTTP method. Default: GET, or POST with --data/--json.
    #[arg(
        short = 'X',
        long,
        value_name = "METHOD",
        value_parser = parse_method,
        help_heading = REQUESTS
    )]
    pub method: Option<reqwest::Method>,

    /// Request body.
    ///
    /// The placeholder is filled in here too (only `{}`, `{id}`, `{:03}`, `{id:03}`: other braces
    /// stay as they are). `@FILE` reads the body from FILE.
    #[arg(short = 'd', long, value_name = "BODY", conflicts_with = "json", help_heading = REQUESTS)]
    pub data: Option<String>,

    /// JSON request body (sets Content-Type and Accept to application/json).
    ///
    /// The placeholder is filled in, a text id JSON-escaped (write the quotes yourself:
    /// `{"name":"{}"}`), other braces stay as they are. `@FILE` reads it from FILE.
    #[arg(long, value_name = "BODY", help_heading = REQUESTS)]
    pub json: Option<String>,

    /// Add a request header, 'Name: value' (repeatable).
    ///
    /// The placeholder is filled in here too. `@FILE` reads headers from FILE, one per line, so
    /// secrets stay out of `ps` and shell history (so does the FETCHBENCH_AUTH environment
    /// variable, sent as Authorization).
    #[arg(
        short = 'H',
        long = "header",
        value_name = "'K: V'",
        value_parser = parse_header_arg,
        help_heading = REQUESTS
    )]
    pub headers: Vec<HeaderArg>,

    /// User-Agent header. Default: `fetchbench/VERSION`.
    #[arg(long, value_name = "UA", value_parser = parse_user_agent, help_heading = REQUESTS)]
    pub user_agent: Option<String>,

    /// Speak HTTP/2 from the first byte (prior knowledge), also over plain http:// (h2c).
    ///
    /// Over https HTTP/2 is negotiated by ALPN anyway. Records say which version answered.
    #[arg(long, help_heading = REQUESTS)]
    pub http2: bool,

    /// Speak HTTP/1.1 only: over https, ALPN offers nothing else, as curl's `--http1.1`.
    ///
    /// For comparing a server's HTTP/1.1 with its HTTP/2, or a server that mishandles h2.
    #[arg(long = "http1.1", conflicts_with = "http2", help_heading = REQUESTS)]
    pub http1: bool,

    /// HTTP/2 connections to open to an origin, each request on the least busy (h2load's `-c`
    /// with its `-m` left to the server).
    ///
    /// One by default, as RFC 9113 asks of clients; another opens anyway when the server's
    /// stream limit is reached. Several, each on a core, can pay against a multi-threaded server
    /// that handles a connection on one thread (docs/performance.md has the figures).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..).map(usize::from),
          conflicts_with = "http1", help_heading = REQUESTS)]
    pub h2_connections: usize,

    /// Open a new connection for every request (no keep-alive), for both runs of --mode both.
    ///
    /// Reuse is the default: it changes results several-fold, so the report says which it was.
    #[arg(long, help_heading = REQUESTS)]
    pub no_keepalive: bool,

    /// Pin HOST:PORT to ADDR (curl's syntax, e.g. `api.example.com:443:10.0.0.5`): no DNS for it,
    /// and a staging server can be tested under the real host name.
    ///
    /// Repeatable.
    #[arg(
        long,
        value_name = "HOST:PORT:ADDR",
        value_parser = parse_resolve,
        help_heading = REQUESTS
    )]
    pub resolve: Vec<(String, std::net::SocketAddr)>,

    /// Send every request through this proxy (`http://host:port`).
    ///
    /// Without it, the HTTP_PROXY, HTTPS_PROXY and NO_PROXY environment variables apply. The report
    /// says a proxy was used: through a proxy you measure the proxy too.
    #[arg(long, value_name = "URL", help_heading = REQUESTS)]
    pub proxy: Option<String>,

    /// On a redirect to another origin (scheme, host or port), keep Authorization, cookies and
    /// every credential-like header (curl's name; unsafe: the other host gets your secrets).
    ///
    /// By default they are dropped.
    #[arg(long, help_heading = REQUESTS)]
    pub location_trusted: bool,

    /// Send no Accept-Encoding: ask for uncompressed bodies.
    ///
    /// By default fetchbench asks for gzip, br, zstd or deflate and decodes them (field extraction
    /// and --max-body see decoded bytes).
    #[arg(long, help_heading = REQUESTS)]
    pub no_compression: bool,

    /// Accept invalid TLS certificates (unsafe: anyone on the path can read and change traffic).
    #[arg(long, help_heading = REQUESTS)]
    pub insecure: bool,

    /// Trust the CA certificates in FILE (PEM, one or more) besides the system's, e.g. a
    /// private CA's for a staging server.
    #[arg(long, value_name = "FILE", help_heading = REQUESTS)]
    pub cacert: Option<PathBuf>,

    /// Client certificate for mutual TLS (PEM, leaf first, then any intermediates), sent to servers
    /// that ask for one.
    ///
    /// FILE may hold the private key too; else give --key.
    #[arg(long, value_name = "FILE", help_heading = REQUESTS)]
    pub cert: Option<PathBuf>,

    /// Private key of the --cert certificate (PEM: PKCS#8, RSA or EC).
    #[arg(long, value_name = "FILE", requires = "cert", help_heading = REQUESTS)]
    pub key: Option<PathBuf>,

    /// Which runs to make; `both` runs sequential then concurrent and compares them.
    #[arg(short, long, value_enum, default_value_t = Mode::Both, help_heading = CONCURRENCY)]
    pub mode: Mode,

    /// At most N requests in flight in concurrent mode.
    ///
    /// A list (`1,4,16,64,256`) sweeps: one concurrent run per level on the same ids, compared in
    /// one table that names the knee.
    #[arg(
        short,
        long,
        value_name = "N[,N...]",
        default_values_t = [plan::DEFAULT_CONCURRENCY],
        value_delimiter = ',',
        allow_negative_numbers = true,
        value_parser = parse_concurrency,
        help_heading = CONCURRENCY
    )]
    pub concurrency: Vec<usize>,

    /// Global rate limit across all requests: `20/s`, `600/m`, `5/100ms`. Default: unlimited.
    #[arg(long, value_name = "RATE", help_heading = CONCURRENCY)]
    pub rate: Option<Rate>,

    /// Requests the rate limiter lets out at once after an idle spell.
    #[arg(
        long,
        value_name = "N",
        default_value = "1",
        allow_negative_numbers = true,
        value_parser = parse_burst,
        requires = "rate",
        help_heading = CONCURRENCY
    )]
    pub burst: NonZeroU32,

    /// Send N requests in all (oha's and hey's -n): a URL without `{}` N times, or the ids
    /// again from the first once the range or list is used up.
    ///
    /// Under --shard, N is the whole job's: each shard sends its share. The report says how many
    /// passes over the ids were made.
    #[arg(
        short = 'n',
        long = "requests",
        value_name = "N",
        value_parser = parse_at_least_one,
        conflicts_with = "duration",
        help_heading = CONCURRENCY
    )]
    pub requests: Option<u64>,

    /// Send requests for DUR (oha's and hey's -z), the ids repeating as with -n.
    ///
    /// When DUR is up no request starts and those in flight are cancelled (not counted); the run
    /// has completed, exit 0 when every counted request succeeded.
    #[arg(
        short = 'z',
        long = "duration",
        value_name = "DUR",
        value_parser = parse_positive_duration,
        conflicts_with = "deadline",
        help_heading = CONCURRENCY
    )]
    pub duration: Option<Duration>,

    /// N requests before each measured run (the first N ids), counted in no figure, so cold
    /// connections and caches do not skew a short run.
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = CONCURRENCY)]
    pub warmup: u64,

    /// Find the highest rate the server sustains: open-loop steps from --rate (default 10/s),
    /// doubling while a step holds, then bisecting to within 10%; a step table and one line.
    ///
    /// A step breaks on the first 429 or 503 (or RateLimit-Remaining: 0; the next step waits
    /// out Retry-After), on errors or latency from the schedule beyond --slo, or when less than
    /// 95% of its rate went out. Never above --max-rate, nor above a limit the server advertises
    /// (RateLimit-Limit, RateLimit-Policy, X-RateLimit-Limit); --max-requests bounds the
    /// total. Exit 0 when a rate held, 1 when even the first step broke.
    #[arg(
        long,
        conflicts_with_all = [
            "requests", "duration", "deadline", "resume", "cache", "output", "follow", "next",
            "shard", "shards", "stop_after_missing", "until_empty", "total", "items",
        ],
        help_heading = CONCURRENCY
    )]
    pub find_rate: bool,

    /// Bounds a --find-rate step, or a sweep's level (`-c 1,4,16,64`: the knee is then also the
    /// highest level that keeps them), must keep: `p99<300ms,errors<1%`.
    ///
    /// p50, p90, p99, p99.9 (from the schedule under a rate, else from the send); errors as a
    /// share, 1% when not bounded.
    #[arg(long, value_name = "BOUNDS", help_heading = CONCURRENCY)]
    pub slo: Option<Slo>,

    /// The highest rate --find-rate may try (`50/s`).
    #[arg(long, value_name = "RATE", requires = "find_rate", help_heading = CONCURRENCY)]
    pub max_rate: Option<Rate>,

    /// How long each --find-rate step lasts. Default: 5 s or 200 requests, whichever is longer.
    #[arg(
        long,
        value_name = "DUR",
        value_parser = parse_positive_duration,
        requires = "find_rate",
        help_heading = CONCURRENCY
    )]
    pub step: Option<Duration>,

    /// At most N requests in flight to any one host (a crawl that reaches several hosts, a word
    /// list of full URLs).
    ///
    /// -c stays the run's limit.
    #[arg(long, value_name = "N", value_parser = parse_concurrency, help_heading = POLITENESS)]
    pub host_concurrency: Option<usize>,

    /// Rate limit per host (`2/s`), beside --rate for the whole run.
    #[arg(long, value_name = "RATE", help_heading = POLITENESS)]
    pub host_rate: Option<Rate>,

    /// Read each origin's robots.txt before its first request and keep to it: a disallowed URL is a
    /// `robots` failure with no request, and `Crawl-delay` spaces the starts to that origin.
    ///
    /// A robots.txt that answers 4xx allows everything; 5xx or no answer, nothing.
    #[arg(long, help_heading = POLITENESS)]
    pub robots: bool,

    /// Space request starts to each host by its latency (Scrapy's AutoThrottle): aim at TARGET
    /// requests in flight per host (default 1; fractions allowed).
    ///
    /// The delay rises at once when answers slow down and falls by halves; errors never lower it.
    /// -c and --rate stay caps.
    #[arg(
        long,
        value_name = "TARGET",
        num_args = 0..=1,
        default_missing_value = "1",
        value_parser = parse_target,
        help_heading = POLITENESS
    )]
    pub auto_throttle: Option<f64>,

    /// Do not pause a host that answers 429 or 503 (nor pace it back up): each such answer
    /// delays only its own request's retry (--retries), as for a load test that counts them.
    #[arg(long, help_heading = POLITENESS)]
    pub no_backoff: bool,

    /// Keep responses in an HTTP cache in DIR (created if need be) and answer from it as HTTP's
    /// caching rules allow: a fresh entry makes no request, a stale one is revalidated (a 304
    /// refreshes it).
    ///
    /// Each record says `cache: hit | revalidated | miss | stored`. Off by default: a cache hides
    /// the server being measured. One run only (not --mode both, nor a sweep: the later runs would
    /// measure the cache).
    #[arg(long, value_name = "DIR", help_heading = POLITENESS)]
    pub cache: Option<PathBuf>,

    /// How the cache answers: HTTP's rules, or bent for a refresh, a replay, an offline run.
    ///
    /// normal: HTTP's rules; refresh: revalidate every entry; replay: serve what is stored
    /// whatever its age (misses are fetched and stored); only-cached: never touch the network, a
    /// miss is a `cache` failure.
    #[arg(
        long,
        value_name = "MODE",
        value_enum,
        requires = "cache",
        default_value_t = CacheMode::Normal,
        help_heading = POLITENESS
    )]
    pub cache_mode: CacheMode,

    /// A JSON path to extract from each response (repeatable): `name`, `types[0].type.name`,
    /// `stats[*].base_stat` (a list), `sprites.front_default`.
    ///
    /// A missing path gives null. A key with a dot goes in double quotes in brackets:
    /// `["k.d"]`, `meta["x.y"][0]`.
    #[arg(short, long = "field", value_name = "PATH", help_heading = OUTPUT)]
    pub fields: Vec<FieldPath>,

    /// Results format (sqlite: a database file, every run's records, failures included, in the
    /// `records` table).
    ///
    /// Default: from the --output extension (.sqlite, .sqlite3 and .db are sqlite), else table on
    /// a terminal and ndjson otherwise.
    #[arg(long, value_name = "FMT", help_heading = OUTPUT)]
    pub format: Option<Format>,

    /// Write the results to FILE (`-` = stdout); `results.sqlite` writes a SQLite database.
    #[arg(short, long, value_name = "FILE", help_heading = OUTPUT)]
    pub output: Option<PathBuf>,

    /// Continue an interrupted run: keep the successful records already in --output (NDJSON or a
    /// SQLite database), fetch only the other ids, and append them.
    ///
    /// Ids recorded with an error are fetched again (their old records are removed), and a last
    /// line cut short by a crash is dropped. A database resumes each run on its own, and a
    /// database of another job (URL, request, ids, fields, crawl rules, runs) is refused,
    /// unchanged.
    #[arg(long, requires = "output", help_heading = OUTPUT)]
    pub resume: bool,

    /// Time limit per attempt, from connect to the end of the body.
    #[arg(
        long,
        value_name = "DUR",
        default_value = "30s",
        value_parser = parse_positive_duration,
        help_heading = LIMITS
    )]
    pub timeout: Duration,

    /// Time limit to establish a connection (TCP and TLS).
    #[arg(
        long,
        value_name = "DUR",
        default_value = "10s",
        value_parser = parse_positive_duration,
        help_heading = LIMITS
    )]
    pub connect_timeout: Duration,

    /// Retries per request on connect errors, timeouts, a body cut short, and HTTP 408, 429, 500,
    /// 502, 503, 504 (never on other 4xx, nor on TLS certificate errors), with exponential backoff
    /// and full jitter (100 ms doubling up to 30 s).
    ///
    /// Retries wait for the same --rate limit as first attempts.
    #[arg(long, value_name = "N", default_value_t = 2, help_heading = LIMITS)]
    pub retries: u32,

    /// Longest wait a server's Retry-After header may impose before a retry.
    #[arg(
        long,
        value_name = "DUR",
        default_value = "60s",
        value_parser = parse_duration,
        help_heading = LIMITS
    )]
    pub max_retry_wait: Duration,

    /// Redirects followed per request; more, or a loop, is a "redirect" error.
    #[arg(long, value_name = "N", default_value_t = 10, help_heading = LIMITS)]
    pub max_redirects: usize,

    /// Most header fields a response may have.
    ///
    /// More fails with "response head too large". Above the default, every response costs a little
    /// more to parse. Whatever the count, a head is at most 300 KiB and one field at most 100 KiB,
    /// as curl limits them.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 100,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..),
        help_heading = LIMITS
    )]
    pub max_headers: usize,

    /// Largest body accepted (after decompression): `64MiB`, `512KiB`, `1000000`.
    ///
    /// A larger one fails with "body too large" as soon as the cap is passed.
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "64MiB",
        value_parser = parse_size,
        help_heading = LIMITS
    )]
    pub max_body: u64,

    /// Time budget for a run (like asyncio's `wait(timeout=)`): when it is spent, no request
    /// starts, in-flight ones are cancelled, finished records are kept, and the exit code is 124.
    #[arg(long, value_name = "DUR", value_parser = parse_positive_duration, help_heading = LIMITS)]
    pub deadline: Option<Duration>,

    /// Stop a run after N failed requests (1 = cancel everything on the first failure, like
    /// asyncio's TaskGroup).
    ///
    /// In-flight ones are cancelled. Exit code 1.
    #[arg(long, value_name = "N", value_parser = parse_at_least_one, help_heading = LIMITS)]
    pub max_errors: Option<u64>,

    /// After Ctrl-C or SIGTERM, how long in-flight requests may take to finish before they are
    /// aborted.
    ///
    /// A second signal exits at once.
    #[arg(
        long,
        value_name = "DUR",
        default_value = "5s",
        value_parser = parse_duration,
        help_heading = LIMITS
    )]
    pub grace: Duration,

    /// Write the timing report as JSON to FILE.
    #[arg(long, value_name = "FILE", help_heading = REPORT)]
    pub report: Option<PathBuf>,

    /// Write a self-contained visual report to FILE: a waterfall of every request per run on one
    /// time axis, latency histograms and, for a sweep, rate and p99 against concurrency.
    #[arg(long, value_name = "FILE", help_heading = REPORT)]
    pub html: Option<PathBuf>,

    /// Print nothing on stderr but errors (no progress, no report).
    #[arg(short, long, help_heading = REPORT)]
    pub quiet: bool,

    /// Hide the progress bars.
    #[arg(long, help_heading = REPORT)]
    pub no_progress: bool,

    /// Simulated latency of the built-in fixture server.
    #[arg(
        long,
        value_name = "DUR",
        default_value = "40ms",
        value_parser = parse_duration,
        conflicts_with = "url",
        help_heading = FIXTURE
    )]
    pub latency: Duration,

    /// Extra random latency of the built-in fixture server, uniform in 0..=DUR.
    #[arg(
        long,
        value_name = "DUR",
        default_value = "0",
        value_parser = parse_duration,
        conflicts_with = "url",
        help_heading = FIXTURE
    )]
    pub jitter: Duration,

    /// A finite capacity for the built-in fixture server (`20/s`): its answers slow down as the
    /// load nears it (latency / (1 - load/capacity)) and requests beyond it get 429, as with
    /// `serve --capacity`.
    #[arg(long, value_name = "RATE", conflicts_with = "url", help_heading = FIXTURE)]
    pub capacity: Option<Rate>,
}

mod commands;
mod error;
mod find_rate;
mod identity;
mod notices;
mod plan;
pub mod progress;
pub mod resume;
pub mod run;
mod signals;
pub mod subcommands;
mod values;

pub use self::plan::{Destination, FindRate, Mode, Plan, Repeat, Target};
pub use crate::report::paint::Paint;

pub use self::commands::{CompareArgs, MergeArgs, ServeArgs};
pub use self::values::HeaderArg;
use self::values::{
    parse_at_least_one, parse_burst, parse_concurrency, parse_header_arg, parse_method,
    parse_positive_duration, parse_resolve, parse_size, parse_target, parse_url_template,
    parse_user_agent,
};

/// True when results going to stdout would land on a terminal.
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::CommandFactory;

    /// Every heading of the main command's `--help`, in the order it shows them.
    const HEADINGS: [&str; 9] = [
        INPUT,
        CRAWL,
        REQUESTS,
        CONCURRENCY,
        POLITENESS,
        OUTPUT,
        LIMITS,
        REPORT,
        FIXTURE,
    ];

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// A new option has to name its heading: none lands in the catch-all "Options" list, which
    /// clap keeps for its own --help and --version.
    #[test]
    fn every_option_of_the_main_command_has_a_heading() {
        let mut cmd = Cli::command();
        cmd.build();
        let ungrouped: Vec<String> = cmd
            .get_arguments()
            .filter(|arg| !matches!(arg.get_id().as_str(), "help" | "version"))
            .filter(|arg| {
                !arg.get_help_heading()
                    .is_some_and(|h| HEADINGS.contains(&h))
            })
            .map(|arg| format!("{} ({:?})", arg.get_id(), arg.get_help_heading()))
            .collect();
        assert!(
            ungrouped.is_empty(),
            "options without a heading from {HEADINGS:?}: {ungrouped:?}"
        );
    }

    /// `--help` lists headings in the order of their first option, so that order is the list's.
    #[test]
    fn headings_come_in_order_and_none_is_empty() {
        let cmd = Cli::command();
        let mut seen: Vec<&str> = Vec::new();
        for heading in cmd.get_arguments().filter_map(|arg| arg.get_help_heading()) {
            if !seen.contains(&heading) {
                seen.push(heading);
            }
        }
        assert_eq!(seen, HEADINGS);
    }
}
