#!/usr/bin/env bash
# Client instructions for 5,000 raw requests (1 KB JSON, no latency, -c 64, `name` extracted,
# NDJSON to a file), counted by callgrind: repeatable whatever else the machine is doing.
# The server is a separate `fetchbench serve` process, so only the client is counted.
# Usage: scripts/instructions.sh [BINARY]   (default: target/release-lto/fetchbench)
set -euo pipefail
bin=${1:-target/release-lto/fetchbench}
port=18765
"$bin" serve --port "$port" --latency 0 >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.1
done
out=$(mktemp -d)
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
  "$bin" --url "http://127.0.0.1:$port/bench/{}" --range 1..=5000 -m concurrent -c 64 \
  -f name -o "$out/records.ndjson" -q 2>"$out/valgrind.log"
grep -E "Collected" "$out/valgrind.log" | sed 's/.*Collected : /instructions: /'
wc -l < "$out/records.ndjson" | sed 's/^/records: /'
rm -rf "$out"
