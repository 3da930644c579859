#!/usr/bin/env python3
"""fetchbench's benchmark: fetchbench against the tools of the field, on the same server, same run.

Scenarios (pick with arguments; default: pokeapi raw scale):
  pokeapi     the 150 real documents at 40 ms latency, c=50: fetchbench vs curl --parallel (plain and
              --compressed) vs the aiohttp gather script; plus sequential (3 runs, 6 s each)
  raw         1 KB JSON bodies, no latency, 50,000 distinct ids, c=64, NDJSON to a file: fetchbench
              (with a field, and without fields to /dev/null) vs `oha -n 50000 -c 64` (one URL,
              parses nothing)
  raw-sqlite  the raw scenario's fetchbench run to NDJSON and to a SQLite database (-o r.sqlite)
  scale       20,000 and 400,000 ids to a file: time ratio and peak RSS
  link        the pokeapi job over a 100 Mbit/s and a 20 Mbit/s link between two network
              namespaces (veth + tbf); needs root and iproute2, else skipped with the reason
  crawl       the offline crawl: the list (limit 20, a next-chain of 8 pages) -> 151 pokemon ->
              151 species, 40 ms latency, c=50: fetchbench --next/--follow vs a Scrapy spider
              (scripts/scrapy_crawl.py) vs the aiohttp gather extended (scripts/aiohttp_crawl.py);
              floor max(critical path, waves); each tool's output checked for the 151 species
  polite      a server that rate-limits at 20/s (`serve --rate-limit 20/s`: 429 with Retry-After: 1
              beyond it), 200 ids at 0 and 10 ms latency, c=32, --retries 10: fetchbench's default
              (host back-off + AIMD) vs --auto-throttle vs --no-backoff (plain retries) vs an aiohttp
              gather that retries each 429 (scripts/aiohttp_polite.py); a fresh server per run, whose
              /__stats gives the requests and 429s it served; each run's output checked for 200s; and
              fetchbench's default once more against the same server sending RateLimit-* headers
  find-rate   the rate search (--find-rate --slo 'p99<100ms') against `serve --capacity C` for C in
              20, 50, 100/s: the rate found against the true one, steps, 429s, requests, wall time
  cache       the crawl job (as `crawl`) with --cache: cold (an empty cache each run), warm (every
              entry fresh, no request), --cache-mode refresh (303 x 304), no cache; and Scrapy's
              HTTPCACHE warm for the same job; each output checked for the 151 species
  https       Debian's nginx over TLS 1.3 (HTTP/1.1, and HTTP/2 by ALPN), `fetchbench serve` over
              h2c and over TLS (HTTP/2 by ALPN, `serve --tls-cert`): fetchbench (a field to a file,
              and no fields) vs oha's shapes; env
              FETCHBENCH_BASE=BINARY adds an earlier build's rows to the same rounds
Each command runs RUNS times (env RUNS, default 5), the tools of a scenario in interleaved rounds
(A B C, A B C, ...) so a machine that gets busier during the run shifts them alike, each short run
after an unmeasured warm-up of the same command (see measure_all); the table gives
the median whole-process wall time, its ratio to the floor max(ceil(N/c) x latency, bytes /
bandwidth) and to fetchbench.
Installs nothing: tools that are absent are listed as skipped (see docs/performance.md).
Run from the project root after `cargo build --profile release-lto` (the profile the
published figures come from); env FETCHBENCH_BIN points it at another fetchbench binary.
PIN=1 puts every server (`fetchbench serve`, nginx) on the last CPU and every client on the others
(taskset), for every tool alike: on a 2-core machine an unpinned run lands in one of two
placements (client and server on one core or on two), which moves its wall time by a quarter.
"""
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FETCHBENCH = os.environ.get("FETCHBENCH_BIN") or os.path.join(ROOT, "target", "release-lto", "fetchbench")
RUNS = int(os.environ.get("RUNS", "5"))
PORT = int(os.environ.get("BENCH_PORT", "18471"))
HERE = os.path.dirname(os.path.abspath(__file__))
PIN = os.environ.get("PIN") == "1"
if PIN and (not shutil.which("taskset") or (os.cpu_count() or 1) < 2):
    raise SystemExit("PIN=1 needs taskset (util-linux) and at least two CPUs")
LAST_CPU = (os.cpu_count() or 1) - 1


def on_server_cpu(cmd):
    """With PIN=1, cmd on the last CPU alone (the servers')."""
    return ["taskset", "-c", str(LAST_CPU), *cmd] if PIN else list(cmd)


def on_client_cpus(cmd):
    """With PIN=1, cmd on every CPU but the last (the clients')."""
    return ["taskset", "-c", f"0-{LAST_CPU - 1}", *cmd] if PIN else list(cmd)


def run_timed(cmd, stdout=subprocess.DEVNULL):
    """Runs cmd; returns (wall seconds, peak RSS bytes, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(on_client_cpus(cmd), stdout=stdout, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss * 1024, proc.returncode


class Server:
    """`fetchbench serve` in the background (optionally inside a network namespace)."""

    def __init__(self, latency, bind="127.0.0.1", port=PORT, netns=None, rate_limit=None, limit_headers=False,
                 capacity=None, tls=None):
        prefix = ["ip", "netns", "exec", netns] if netns else []
        limit = ["--tls-cert", tls[0], "--tls-key", tls[1]] if tls else []
        limit += ["--rate-limit", rate_limit] if rate_limit else []
        limit += ["--capacity", capacity] if capacity else []
        limit += ["--rate-limit-headers"] if limit_headers else []
        self.proc = subprocess.Popen(
            on_server_cpu(prefix + [FETCHBENCH, "serve", "--bind", bind, "--port", str(port), "--latency", latency] + limit),
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        line = self.proc.stderr.readline().decode()
        if "serving" not in line:
            raise SystemExit(f"fixture server did not start: {line}")
        self.base = f"{'https' if tls else 'http'}://{bind}:{port}"

    def stats(self):
        """With a rate limit: the server's counts, {"requests": N, "too_many": M}."""
        import urllib.request
        with urllib.request.urlopen(self.base + "/__stats") as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def measure(label, cmd, runs=RUNS, ok_codes=(0,)):
    walls, rss = [], []
    for _ in range(runs):
        wall, peak, code = run_timed(cmd)
        if code not in ok_codes:
            print(f"  {label}: exit {code}: {' '.join(cmd)}", file=sys.stderr)
            return None
        walls.append(wall)
        rss.append(peak)
    return {"tool": label, "median": statistics.median(walls), "runs": walls, "rss": max(rss)}


def measure_all(tools, runs=RUNS, prefix=()):
    """Measures several tools in interleaved rounds (A B C, A B C, ...), so a machine that gets
    busier or quieter during the benchmark shifts every tool alike; returns one row per tool."""
    walls = {label: [] for label, _ in tools}
    rss = {label: 0 for label, _ in tools}
    failed = set()
    for _ in range(runs):
        for label, cmd in tools:
            if label in failed:
                continue
            # A short run right after another tool pays for waking idle cores (this VM's vCPUs
            # halt when idle: +50 ms measured after the single-threaded aiohttp script), which
            # would favour whichever tool ran before; each short run gets an unmeasured warm-up.
            if not walls[label] or walls[label][-1] < 2.0:
                run_timed(list(prefix) + cmd)
            wall, peak, code = run_timed(list(prefix) + cmd)
            if code != 0:
                print(f"  {label}: exit {code}: {' '.join(cmd)}", file=sys.stderr)
                failed.add(label)
                continue
            walls[label].append(wall)
            rss[label] = max(rss[label], peak)
    return [{"tool": label, "median": statistics.median(walls[label]), "runs": walls[label], "rss": rss[label]}
            for label, _ in tools if label not in failed]


def table(title, floor, rows, skipped, floor_note=None):
    print(f"\n## {title}")
    print(f"floor {floor:.3f} s" if floor else "")
    if floor_note:
        print(floor_note)
    base = next((r["median"] for r in rows if r["tool"].startswith("fetchbench")), None)
    print(f"| tool | wall median (s) | runs | x floor | x fetchbench |")
    print("|---|---|---|---|---|")
    for r in rows:
        to_floor = f"{r['median'] / floor:.2f}" if floor else "-"
        to_us = f"{r['median'] / base:.2f}" if base else "-"
        print(f"| {r['tool']} | {r['median']:.3f} | {len(r['runs'])} | {to_floor} | {to_us} |")
    for s in skipped:
        print(f"| {s} | skipped (not installed) | | | |")


def pokeapi_tools(base, n, c):
    tmpl = base + "/api/v2/pokemon/{}"
    glob = f"{base}/api/v2/pokemon/[1-{n}]"
    tools, skipped = [], []
    tools.append((f"fetchbench -c {c} --field name", [FETCHBENCH, "--url", tmpl, "-r", f"1..={n}", "-m", "concurrent", "-c", str(c), "-f", "name", "-q"]))
    tools.append((f"fetchbench -c {c} --field name --no-compression", [FETCHBENCH, "--url", tmpl, "-r", f"1..={n}", "-m", "concurrent", "-c", str(c), "-f", "name", "-q", "--no-compression"]))
    if shutil.which("curl"):
        tools.append((f"curl --parallel-max {c} --compressed", ["curl", "-s", "--compressed", "--parallel", "--parallel-max", str(c), glob, "-o", "/dev/null"]))
        tools.append((f"curl --parallel-max {c}", ["curl", "-s", "--parallel", "--parallel-max", str(c), glob, "-o", "/dev/null"]))
    else:
        skipped.append("curl")
    if shutil.which("oha"):
        # Not the same job: one URL, nothing parsed or kept. It shows what the best load generator
        # gets from the same server and link, so the distance to the floor is not all ours.
        tools.append((f"oha -n {n} -c {c}, one URL, no parsing (reference)", ["oha", "-n", str(n), "-c", str(c), "--no-tui", base + "/api/v2/pokemon/1"]))
    else:
        skipped.append("oha (cargo install oha)")
    try:
        import aiohttp  # noqa: F401
        tools.append((f"aiohttp gather (limit {c})", [sys.executable, os.path.join(HERE, "aiohttp_gather.py"), tmpl, "1", str(n + 1), str(c)]))
    except ImportError:
        skipped.append("aiohttp gather (pip install aiohttp)")
    return tools, skipped


def pokeapi():
    n, c, latency = 150, 50, 0.040
    server = Server("40ms")
    try:
        tools, skipped = pokeapi_tools(server.base, n, c)
        rows = measure_all(tools)
        table(f"pokeapi job: {n} real documents, {latency*1000:.0f} ms latency, c={c} (loopback)",
              math.ceil(n / c) * latency, rows, skipped)
        seq = measure("fetchbench --mode sequential --field name",
                      [FETCHBENCH, "--url", server.base + "/api/v2/pokemon/{}", "-r", f"1..={n}", "-m", "sequential", "-f", "name", "-q"],
                      runs=min(RUNS, 3))
        table("pokeapi job, sequential", n * latency, [seq] if seq else [], [])
    finally:
        server.stop()


def raw():
    n, c = 50_000, 64
    server = Server("0ms")
    rows, skipped = [], []
    try:
        out = tempfile.NamedTemporaryFile(suffix=".ndjson", delete=False).name
        bench = server.base + "/bench/{}"
        tools = [
            (f"fetchbench -c {c} --field name -o FILE",
             [FETCHBENCH, "--url", bench, "-r", f"0..{n}", "-m", "concurrent", "-c", str(c), "-f", "name", "-o", out, "-q"]),
            # The same requests without extraction, records to /dev/null: closest to what oha does.
            (f"fetchbench -c {c} (no fields) -o /dev/null",
             [FETCHBENCH, "--url", bench, "-r", f"0..{n}", "-m", "concurrent", "-c", str(c), "-o", "/dev/null", "-q"]),
        ]
        if shutil.which("oha"):
            tools.append((f"oha -n {n} -c {c} (one URL)", ["oha", "-n", str(n), "-c", str(c), "--no-tui", server.base + "/bench/1"]))
        else:
            skipped.append("oha (cargo install oha)")
        rows = measure_all(tools)
        os.unlink(out)
        print(f"\n## raw rate: {n} requests, 1 KB JSON, no latency, c={c}")
        print("| tool | wall median (s) | requests/s (median) | x fetchbench rate |")
        print("|---|---|---|---|")
        base = rows[0]["median"] if rows else None
        for r in rows:
            print(f"| {r['tool']} | {r['median']:.3f} | {n / r['median']:.0f} | {base / r['median']:.2f} |")
        for s in skipped:
            print(f"| {s} | skipped | | |")
    finally:
        server.stop()


def scale():
    server = Server("0ms")
    try:
        results = {}
        for n in (20_000, 400_000):
            out = tempfile.NamedTemporaryFile(suffix=".ndjson", delete=False).name
            r = measure(f"{n} ids", [FETCHBENCH, "--url", server.base + "/bench/{}", "-r", f"0..{n}", "-m", "concurrent", "-c", "64", "-f", "name", "-o", out, "-q"], runs=3)
            os.unlink(out)
            results[n] = r
        small, big = results[20_000], results[400_000]
        print("\n## scale: ids to a file, c=64, 1 KB bodies")
        print("| ids | wall median (s) | peak RSS (MiB) |")
        print("|---|---|---|")
        for n, r in results.items():
            print(f"| {n} | {r['median']:.3f} | {r['rss'] / 2**20:.1f} |")
        print(f"time(400k) / (20 x time(20k)) = {big['median'] / (20 * small['median']):.2f} (target <= 1.3)")
    finally:
        server.stop()


def sh(*args, check=True):
    return subprocess.run(args, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def link():
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("tc"):
        print("\n## constrained link: skipped (needs root, ip and tc from iproute2)")
        return
    srv, cli = "fbench-srv", "fbench-cli"
    srv_ip, cli_ip = "10.213.77.1", "10.213.77.2"

    def teardown():
        sh("ip", "netns", "del", srv, check=False)
        sh("ip", "netns", "del", cli, check=False)

    teardown()
    try:
        sh("ip", "netns", "add", srv)
        sh("ip", "netns", "add", cli)
        sh("ip", "link", "add", "fbench0", "netns", srv, "type", "veth", "peer", "name", "fbench1", "netns", cli)
        for ns, dev, ip in ((srv, "fbench0", srv_ip), (cli, "fbench1", cli_ip)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/30", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        compressed = os.path.getsize(os.path.join(ROOT, "fixtures", "pokemon-1-151.json.gz"))
        for mbit in (100, 20):
            for ns, dev in ((srv, "fbench0"), (cli, "fbench1")):
                sh("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", "tbf",
                   "rate", f"{mbit}mbit", "burst", "128kb", "latency", "100ms")
            server = Server("40ms", bind=srv_ip, port=8000, netns=srv)
            try:
                tools, skipped = pokeapi_tools(server.base, 150, 50)
                rows = measure_all(tools, prefix=("ip", "netns", "exec", cli))
                floor = max(3 * 0.040, compressed * 8 / (mbit * 1e6))
                table(f"constrained link: {mbit} Mbit/s (tbf both ends), 40 ms server latency, c=50", floor, rows, skipped)
            finally:
                server.stop()
    except subprocess.CalledProcessError as e:
        print(f"\n## constrained link: skipped ({' '.join(e.cmd)}: {e.stderr.decode().strip()})")
    finally:
        teardown()


def crawl_tools(start, c, out_dir):
    """The crawl job's tools: (label, command, output file) each; and the skipped ones."""
    tools, skipped = [], []
    out = os.path.join(out_dir, "fetchbench.ndjson")
    tools.append((f"fetchbench --next next --follow x2 -c {c}",
                  [FETCHBENCH, "--url", start, "--next", "next", "--follow", "results[*].url", "--follow", "species.url",
                   "-f", "capture_rate", "-m", "concurrent", "-c", str(c), "-q", "-o", out], out))
    try:
        import scrapy  # noqa: F401
        out = os.path.join(out_dir, "scrapy.jsonl")
        # Changed from Scrapy's defaults: the two concurrency limits (16 and 8 per domain), the log
        # level and the telnet console. The other -s are its defaults already when no project is
        # around, written out so a project's settings cannot change them. Kept as they are:
        # DOWNLOAD_DELAY=0, RETRY_ENABLED with RETRY_TIMES=2 (nothing to retry here), the
        # dupefilter, compression, the asyncio reactor. -O overwrites the feed (-o would append a
        # run's items to the last run's).
        tools.append((f"scrapy runspider (CONCURRENT_REQUESTS {c})",
                      [sys.executable, "-m", "scrapy", "runspider", os.path.join(HERE, "scrapy_crawl.py"), "-a", f"start={start}",
                       "-s", f"CONCURRENT_REQUESTS={c}", "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={c}",
                       "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "ROBOTSTXT_OBEY=False", "-s", "HTTPCACHE_ENABLED=False",
                       "-s", "LOG_LEVEL=ERROR", "-s", "TELNETCONSOLE_ENABLED=False", "-O", out], out))
    except ImportError:
        skipped.append("scrapy (pip install scrapy)")
    try:
        import aiohttp  # noqa: F401
        out = os.path.join(out_dir, "aiohttp.jsonl")
        tools.append((f"aiohttp pages then gather x2 (limit {c})",
                      [sys.executable, os.path.join(HERE, "aiohttp_crawl.py"), start, str(c), out], out))
    except ImportError:
        skipped.append("aiohttp crawl (pip install aiohttp)")
    return tools, skipped


def species_check(path, expected):
    """None when the file holds `expected` lines, each a distinct URL with a capture_rate and no
    error (fetchbench's records carry it in "fields", the others at the top); else what is wrong."""
    lines = good = 0
    urls = set()
    try:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                lines += 1
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                rate = (doc.get("fields") or {}).get("capture_rate", doc.get("capture_rate"))
                if doc.get("error") is None and rate is not None:
                    good += 1
                    urls.add(doc.get("url"))
    except OSError as e:
        return f"no output: {e.strerror}"
    if lines == good == len(urls) == expected:
        return None
    return f"{lines} lines, {good} species with capture_rate, {len(urls)} distinct URLs; expected {expected}"


def crawl():
    total, limit, c, latency = 151, 20, 50, 0.040
    pages = math.ceil(total / limit)
    requests = pages + 2 * total
    critical = (pages + 2) * latency
    waves = math.ceil(requests / c) * latency
    server = Server("40ms")
    out_dir = tempfile.mkdtemp(prefix="fetchbench-crawl-")
    try:
        start = f"{server.base}/api/v2/pokemon?limit={limit}"
        tools, skipped = crawl_tools(start, c, out_dir)
        rows = measure_all([(label, cmd) for label, cmd, _ in tools])
        outputs = {label: out for label, _, out in tools}
        bad = []
        for r in rows:
            problem = species_check(outputs[r["tool"]], total)
            if problem:
                r["tool"] += " [!]"
                bad.append(f"[!] {r['tool'][:-4]}: {problem} (output of its last run)")
        table(f"crawl job: list (limit {limit}, {pages} pages) -> {total} pokemon -> {total} species, "
              f"{latency*1000:.0f} ms latency, c={c} (loopback)",
              max(critical, waves), rows, skipped,
              floor_note=f"= max(critical path {pages + 2} x {latency*1000:.0f} ms = {critical:.3f} s, "
                         f"waves ceil({requests}/{c}) x {latency*1000:.0f} ms = {waves:.3f} s)")
        measured = {r["tool"].removesuffix(" [!]") for r in rows}
        bad += [f"[!] {label}: exited non-zero, no row (its command is on stderr)"
                for label, _, _ in tools if label not in measured]
        for line in bad:
            print(line)
        if not bad:
            print(f"every tool's output: {total} species")
    finally:
        server.stop()
        shutil.rmtree(out_dir, ignore_errors=True)


def all_200(path, expected):
    """True when the file holds `expected` records, every one with status 200."""
    try:
        with open(path) as f:
            statuses = [json.loads(line).get("status") for line in f if line.strip()]
    except (OSError, ValueError):
        return False
    return len(statuses) == expected and all(s == 200 for s in statuses)


def polite():
    n, c, retries, limit = 200, 32, 10, "20/s"
    out_dir = tempfile.mkdtemp(prefix="fetchbench-polite-")
    out = os.path.join(out_dir, "out.ndjson")
    floor = n / 20
    try:
        for latency in ("0ms", "10ms"):
            def fb(*extra):
                return lambda base: [FETCHBENCH, "--url", base + "/bench/{}", "-r", f"1..={n}", "-m", "concurrent",
                                     "-c", str(c), "--retries", str(retries), "-f", "name", "-q", "-o", out, *extra]
            # (label, command for a base URL, whether the server sends RateLimit-* headers)
            tools = [
                ("fetchbench (host back-off + AIMD, the default)", fb(), False),
                ("fetchbench, the server also sends RateLimit-Remaining/-Reset", fb(), True),
                ("fetchbench --auto-throttle (target 1)", fb("--auto-throttle"), False),
                ("fetchbench --no-backoff (plain retries)", fb("--no-backoff"), False),
            ]
            skipped = []
            try:
                import aiohttp  # noqa: F401
                tools.append((f"aiohttp gather, retry each 429 after Retry-After (limit {c})",
                              lambda base: [sys.executable, os.path.join(HERE, "aiohttp_polite.py"), base + "/bench/{}",
                                            "1", str(n + 1), str(c), str(retries), out], False))
            except ImportError:
                skipped.append("aiohttp (pip install aiohttp)")
            rows = {label: [] for label, _, _ in tools}
            # Interleaved rounds, a fresh server (fresh counts, a fresh window) for every run. No
            # warm-up: each run lasts seconds, and a warm-up would spend the server's window.
            for _ in range(RUNS):
                for label, cmd, headers in tools:
                    server = Server(latency, rate_limit=limit, limit_headers=headers)
                    try:
                        if os.path.exists(out):
                            os.unlink(out)
                        wall, _, code = run_timed(cmd(server.base))
                        stats = server.stats()
                    finally:
                        server.stop()
                    rows[label].append((wall, stats["requests"], stats["too_many"], code == 0 and all_200(out, n)))
            print(f"\n## polite: {n} ids against a server that rate-limits at {limit} (429, Retry-After: 1), "
                  f"{latency} latency, c={c}, --retries {retries} (loopback)")
            print(f"floor {floor:.3f} s (= {n} / 20 per second)")
            print("| tool | wall median (s) | server requests (median) | 429s (median) | every id 200 |")
            print("|---|---|---|---|---|")
            for label, _, _ in tools:
                runs = rows[label]
                med = lambda i: statistics.median(r[i] for r in runs)
                ok = sum(1 for r in runs if r[3])
                print(f"| {label} | {med(0):.3f} | {med(1):.0f} | {med(2):.0f} | {ok} of {len(runs)} runs |")
            for s in skipped:
                print(f"| {s} | skipped | | | |")
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def cache():
    """The offline crawl against the cache: cold (a new, empty cache each run), warm (every entry
    fresh: no request), refresh (every entry revalidated: 303 x 304), no cache; and Scrapy's own
    HTTP cache warm, for the same job. Every output is checked for the 151 species."""
    total, limit, c, latency = 151, 20, 50, 0.040
    pages = math.ceil(total / limit)
    requests = pages + 2 * total
    floor = max((pages + 2) * latency, math.ceil(requests / c) * latency)
    server = Server("40ms")
    out_dir = tempfile.mkdtemp(prefix="fetchbench-cache-")
    try:
        start = f"{server.base}/api/v2/pokemon?limit={limit}"
        crawl_cmd = [FETCHBENCH, "--url", start, "--next", "next", "--follow", "results[*].url", "--follow", "species.url",
                     "-f", "capture_rate", "-m", "concurrent", "-c", str(c), "-q"]
        cold_dir, warm_dir = os.path.join(out_dir, "cold"), os.path.join(out_dir, "warm")
        outs = {name: os.path.join(out_dir, f"{name}.ndjson") for name in ("none", "cold", "warm", "refresh")}
        os.mkdir(cold_dir)
        subprocess.run(crawl_cmd + ["--cache", warm_dir, "-o", os.devnull], check=True)
        tools = [
            ("fetchbench, no cache", crawl_cmd + ["-o", outs["none"]], outs["none"]),
            # A new empty directory each run: emptying one with rm takes longer than the crawl here.
            ("fetchbench --cache, cold (a new cache each run)",
             ["sh", "-c", 'd=$(mktemp -d -p "$0") && exec "$@" --cache "$d"', cold_dir] + crawl_cmd + ["-o", outs["cold"]],
             outs["cold"]),
            ("fetchbench --cache, warm (no request)", crawl_cmd + ["--cache", warm_dir, "-o", outs["warm"]], outs["warm"]),
            ("fetchbench --cache-mode refresh (303 x 304)",
             crawl_cmd + ["--cache", warm_dir, "--cache-mode", "refresh", "-o", outs["refresh"]], outs["refresh"]),
        ]
        skipped = []
        try:
            import scrapy  # noqa: F401
            scrapy_dir = os.path.join(out_dir, "scrapy-cache")
            out = os.path.join(out_dir, "scrapy.jsonl")
            scrapy_cmd = [sys.executable, "-m", "scrapy", "runspider", os.path.join(HERE, "scrapy_crawl.py"), "-a", f"start={start}",
                          "-s", f"CONCURRENT_REQUESTS={c}", "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={c}",
                          "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "ROBOTSTXT_OBEY=False",
                          "-s", "HTTPCACHE_ENABLED=True", "-s", f"HTTPCACHE_DIR={scrapy_dir}",
                          "-s", "LOG_LEVEL=ERROR", "-s", "TELNETCONSOLE_ENABLED=False", "-O", out]
            subprocess.run(scrapy_cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            tools.append(("scrapy HTTPCACHE_ENABLED, warm (DummyPolicy)", scrapy_cmd, out))
        except ImportError:
            skipped.append("scrapy (pip install scrapy)")
        except subprocess.CalledProcessError:
            skipped.append("scrapy: its warming run failed")
        rows = measure_all([(label, cmd) for label, cmd, _ in tools])
        outputs = {label: out for label, _, out in tools}
        bad = []
        for r in rows:
            problem = species_check(outputs[r["tool"]], total)
            if problem:
                r["tool"] += " [!]"
                bad.append(f"[!] {r['tool'][:-4]}: {problem} (output of its last run)")
        table(f"cache: the crawl job (list, {total} pokemon, {total} species; 40 ms latency, c={c}) cold vs warm",
              floor, rows, skipped, floor_note="= the network's floor of the crawl scenario; a warm cache goes under it")
        for line in bad:
            print(line)
        if not bad:
            print(f"every tool's output: {total} species")
    finally:
        server.stop()
        shutil.rmtree(out_dir, ignore_errors=True)


def find_rate():
    """The rate search against fixtures of known capacity: the rate found against the true one,
    the steps and 429s it spent (the server's own count), and its wall time."""
    print("\n## find-rate: `--find-rate --slo 'p99<100ms' --step 2s` against `serve --capacity C "
          "--latency 10ms` (M/M/1: p99 reaches 100 ms near 0.9 C); medians of RUNS searches")
    print("| capacity | sustained (median) | found / capacity | steps | 429s at the server | requests | wall |")
    print("|---|---|---|---|---|---|---|")
    out_dir = tempfile.mkdtemp(prefix="fetchbench-find-rate-")
    report = os.path.join(out_dir, "report.json")
    try:
        for capacity in (20, 50, 100):
            found, steps, refused, requests, walls = [], [], [], [], []
            for _ in range(RUNS):
                server = Server("10ms", capacity=f"{capacity}/s")
                try:
                    wall, _, code = run_timed([FETCHBENCH, "--url", server.base + "/bench/{}", "-r", "1..=1000",
                                               "--find-rate", "--slo", "p99<100ms", "--step", "2s", "-c", "64",
                                               "-q", "--report", report])
                    stats = server.stats()
                finally:
                    server.stop()
                with open(report) as f:
                    answer = json.load(f)["find_rate"]
                found.append(answer["sustained"] or 0.0)
                steps.append(len(answer["steps"]))
                refused.append(stats["too_many"])
                requests.append(stats["requests"])
                walls.append(wall)
            med = statistics.median
            print(f"| {capacity}/s | {med(found):.1f}/s | {med(found) / capacity:.2f} | {med(steps):.0f} | "
                  f"{med(refused):.0f} | {med(requests):.0f} | {med(walls):.1f} s |")
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def raw_sqlite():
    """The raw scenario's fetchbench run (50,000 ids, c=64, --field name) to an NDJSON file and to a
    SQLite database (issue 30: at most 10% of the rate), interleaved."""
    n, c = 50_000, 64
    server = Server("0ms")
    try:
        folder = tempfile.mkdtemp()
        bench = server.base + "/bench/{}"
        run = lambda out: [FETCHBENCH, "--url", bench, "-r", f"0..{n}", "-m", "concurrent", "-c", str(c), "-f", "name", "-o", os.path.join(folder, out), "-q"]
        rows = measure_all([("fetchbench -o FILE.ndjson", run("r.ndjson")), ("fetchbench -o FILE.sqlite", run("r.sqlite"))])
        shutil.rmtree(folder)
        print(f"\n## raw rate to a database: {n} requests, 1 KB JSON, no latency, c={c}")
        print("| output | wall median (s) | requests/s (median) | x NDJSON's rate |")
        print("|---|---|---|---|")
        base = rows[0]["median"] if rows else None
        for r in rows:
            print(f"| {r['tool']} | {r['median']:.3f} | {n / r['median']:.0f} | {base / r['median']:.2f} |")
    finally:
        server.stop()


NGINX_CONF = """
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp; proxy_temp_path {dir}/tmp; fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp; scgi_temp_path {dir}/tmp;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    ssl_protocols TLSv1.3;
    ssl_certificate {dir}/server.pem;
    ssl_certificate_key {dir}/server-key.pem;
    ssl_session_cache shared:tls:10m;
    default_type application/json;
    server {{
        listen 127.0.0.1:{h1} ssl;
        root {dir};
        location /api/ {{ rewrite ^ /doc.json break; }}
    }}
    server {{
        listen 127.0.0.1:{h2} ssl http2;
        root {dir};
        location /api/ {{ rewrite ^ /doc.json break; }}
    }}
}}
"""


def https():
    """HTTPS against Debian's nginx (one worker, TLS 1.3, a throwaway CA, one 1 KB JSON document
    for every /api/{id}): one port speaking HTTP/1.1 only, one offering h2 by ALPN; fetchbench
    (with `-f name` to a file, and without fields) against oha (`--cacert`; for HTTP/2 several
    `-c` x `-p` shapes, the best one the reference); then HTTP/2 cleartext (`--http2`) against
    `fetchbench serve`. Skips with a message when nginx or oha is missing."""
    n, c = int(os.environ.get("HTTPS_N", "20000")), 64
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not nginx or not shutil.which("oha") or not shutil.which("openssl"):
        print("\n## https: skipped (needs nginx: apt-get install nginx-light; oha: cargo install oha; and openssl)")
        return
    d = tempfile.mkdtemp(prefix="fetchbench-https-")
    os.chmod(d, 0o755)  # nginx's worker runs as another user when started by root
    os.makedirs(f"{d}/tmp")
    ssl = lambda *a: subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)
    ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
        "-subj", "/CN=fetchbench bench CA", "-keyout", "ca-key.pem", "-out", "ca.pem")
    ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server-key.pem", "-out", "server.csr")
    with open(f"{d}/ext.cnf", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
        "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem")
    doc = {"id": 1, "name": "bulbasaur", "padding": "x" * 960}
    with open(f"{d}/doc.json", "w") as f:
        json.dump(doc, f)
    h1, h2 = PORT + 10, PORT + 11
    with open(f"{d}/nginx.conf", "w") as f:
        f.write(NGINX_CONF.format(dir=d, h1=h1, h2=h2))
    proc = subprocess.Popen(on_server_cpu([nginx, "-p", d, "-c", f"{d}/nginx.conf", "-e", f"{d}/error.log"]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = None
    try:
        import socket
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", h2), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        out = f"{d}/records.ndjson"
        ca = f"{d}/ca.pem"

        # FETCHBENCH_BASE=BINARY also runs an earlier build in the same interleaved rounds, for a
        # before/after table whose rows saw the same machine.
        bins = [("fetchbench", FETCHBENCH)]
        if os.environ.get("FETCHBENCH_BASE"):
            bins.insert(0, ("fetchbench (base)", os.environ["FETCHBENCH_BASE"]))

        def fb(base, *extra, path="/api", connections=False):
            rows = []
            for name, binary in bins:
                cmd = [binary, "--url", base + path + "/{}", "-r", f"0..{n}", "-m", "concurrent", "-c", str(c), "-q"]
                rows += [(f"{name} -c {c} -f name -o FILE", cmd + ["-f", "name", "-o", out, *extra]),
                         (f"{name} -c {c} (no fields) -o /dev/null", cmd + ["-o", "/dev/null", *extra])]
                if connections and binary == FETCHBENCH:  # an earlier build may not have the flag
                    # Two HTTP/2 connections on two workers, against a multi-threaded server.
                    rows.append((f"{name} -c {c} --h2-connections 2 -f name -o FILE",
                                 cmd + ["--h2-connections", "2", "-f", "name", "-o", out, *extra]))
            return rows

        def oha(label, url, *extra):
            return (f"oha {label}", ["oha", "-n", str(n), "--no-tui", *extra, url])

        def report(title, rows, reference):
            print(f"\n## {title}")
            print("| tool | wall median (s) | requests/s (median) | x oha's best rate |")
            print("|---|---|---|---|")
            best = min((r["median"] for r in rows if r["tool"].startswith("oha")), default=None)
            for r in rows:
                ratio = f"{best / r['median']:.2f}" if best else "-"
                print(f"| {r['tool']} | {r['median']:.3f} | {n / r['median']:.0f} | {ratio} |")
            print(reference)

        url1, url2 = f"https://127.0.0.1:{h1}", f"https://127.0.0.1:{h2}"
        rows = measure_all(fb(url1, "--cacert", ca) + [oha(f"-c {c} --cacert (HTTP/1.1)", url1 + "/api/1", "-c", str(c), "--cacert", ca)])
        report(f"https, HTTP/1.1 over TLS 1.3: {n} requests, nginx (1 worker), 1 KB JSON, c={c}", rows,
               "x oha's best rate: oha's requests/s over the row's")
        shapes = [("1", str(c)), (str(c), "1"), ("4", "16")]
        rows = measure_all(fb(url2, "--cacert", ca) + [
            oha(f"--http2 -c {cc} -p {p} --cacert", url2 + "/api/1", "--http2", "-c", cc, "-p", p, "--cacert", ca)
            for cc, p in shapes])
        report(f"https, HTTP/2 (ALPN) over TLS 1.3: {n} requests, nginx (1 worker), 1 KB JSON, c={c}", rows,
               "x oha's best rate: against the best of oha's -c x -p shapes")
        server = Server("0ms")
        rows = measure_all(fb(server.base, "--http2", path="/bench", connections=True) + [
            oha(f"--http2 -c {cc} -p {p}", server.base + "/bench/1", "--http2", "-c", cc, "-p", p) for cc, p in shapes])
        report(f"h2c (--http2, cleartext) against fetchbench serve: {n} requests, 1 KB JSON, c={c}", rows,
               "x oha's best rate: against the best of oha's -c x -p shapes")
        server.stop()
        # The same server over TLS (its own certificate), HTTP/2 by ALPN: a multi-threaded
        # server, where several connections could pay where nginx's one worker cannot.
        server = Server("0ms", tls=(f"{d}/server.pem", f"{d}/server-key.pem"))
        rows = measure_all(fb(server.base, "--cacert", ca, path="/bench", connections=True) + [
            oha(f"--http2 -c {cc} -p {p} --cacert", server.base + "/bench/1", "--http2", "-c", cc, "-p", p,
                "--cacert", ca) for cc, p in shapes])
        report(f"https, HTTP/2 (ALPN) over TLS 1.3 against fetchbench serve --tls-cert: {n} requests, 1 KB JSON, c={c}",
               rows, "x oha's best rate: against the best of oha's -c x -p shapes")
    finally:
        if server:
            server.stop()
        proc.terminate()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    if not os.path.exists(FETCHBENCH):
        raise SystemExit("build first: cargo build --profile release-lto")
    pinned = f", servers pinned to CPU {LAST_CPU} and clients to the rest" if PIN else ""
    print(f"# fetchbench benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, {RUNS} runs per tool{pinned}")
    for scenario in sys.argv[1:] or ["pokeapi", "raw", "scale"]:
        {"pokeapi": pokeapi, "raw": raw, "scale": scale, "link": link, "crawl": crawl,
         "polite": polite, "cache": cache, "find-rate": find_rate, "raw-sqlite": raw_sqlite,
         "https": https}[scenario]()
