#!/usr/bin/env bash
# Client instructions for 5,000 raw requests (1 KB JSON, no latency, -c 64, `name` extracted,
# NDJSON to a file), counted by callgrind: repeatable whatever else the machine is doing.
# The server is a separate `fetchbench serve` process, so only the client is counted.
# With SLOPE=1 it also counts 20,000 requests and prints the cost of one more request (the
# slope between the two runs), which leaves out what a run costs once (start-up, the report).
# Usage: [SLOPE=1] scripts/instructions.sh [BINARY]   (default: target/release-lto/fetchbench)
set -euo pipefail
bin=${1:-target/release-lto/fetchbench}
port=18765
"$bin" serve --port "$port" --latency 0 >/dev/null 2>&1 &
server=$!
out=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.1
done
# Prints the instructions the client ran for $1 requests.
count() {
  valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
    "$bin" --url "http://127.0.0.1:$port/bench/{}" --range "1..=$1" -m concurrent -c 64 \
    -f name -o "$out/records.ndjson" -q 2>"$out/valgrind.log"
  grep -E "Collected" "$out/valgrind.log" | sed 's/.*Collected : //'
}
small=$(count 5000)
echo "instructions: $small"
wc -l < "$out/records.ndjson" | sed 's/^/records: /'
if [ "${SLOPE:-0}" = 1 ]; then
  large=$(count 20000)
  echo "instructions for 20,000: $large"
  echo "one more request: $(( (large - small) / 15000 ))"
fi
