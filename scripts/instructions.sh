#!/usr/bin/env bash
# Client instructions for 5,000 raw requests (1 KB JSON, no latency, -c 64, `name` extracted,
# NDJSON to a file), counted by callgrind: repeatable whatever else the machine is doing.
# The server is a separate process (`fetchbench serve`, or nginx for TLS), so only the client is
# counted.
# With SLOPE=1 it also counts 20,000 requests and prints the cost of one more request (the
# slope between the two runs), which leaves out what a run costs once (start-up, the report).
# ROAD chooses what the requests travel on:
#   http (default)  plain HTTP/1.1 against `fetchbench serve`
#   h2c             HTTP/2 cleartext (`--http2`) against `fetchbench serve`
#   tls1fb, tls2fb  HTTP/1.1 (`--http1.1`) and HTTP/2 (ALPN) over TLS 1.3 against the same
#                   `fetchbench serve`, given a throwaway certificate (`--tls-cert`): what TLS
#                   itself costs is tls1fb - http and tls2fb - h2c, the server and its answers
#                   the same
#   tls1            HTTP/1.1 over TLS 1.3 against nginx (one worker, a throwaway CA)
#   tls2            HTTP/2 (ALPN) over TLS 1.3 against the same nginx
#   nginx1, nginx2  HTTP/1.1 and HTTP/2 (`--http2`) in cleartext against the same nginx: what TLS
#                   itself costs is tls1 - nginx1 and tls2 - nginx2 (nginx's response head is
#                   not `fetchbench serve`'s, and decoding it costs too)
# The nginx roads need nginx (apt-get install nginx-light) and openssl, as `bench.py https` does.
# Usage: [SLOPE=1] [ROAD=http|h2c|tls1fb|tls2fb|tls1|tls2|nginx1|nginx2] scripts/instructions.sh [BINARY]
#        (default: target/release-lto/fetchbench)
set -euo pipefail
bin=${1:-target/release-lto/fetchbench}
road=${ROAD:-http}
port=18765
out=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  [ -f "$out/nginx.pid" ] && kill "$(cat "$out/nginx.pid")" 2>/dev/null
  rm -rf "$out"
}
trap cleanup EXIT
# A throwaway CA in $out/ca.pem and a certificate for 127.0.0.1 it signed, $out/server{,-key}.pem.
pki() {
  if ! command -v openssl >/dev/null; then
    echo "ROAD=$road needs openssl" >&2
    exit 2
  fi
  (
    cd "$out"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=fetchbench bench CA" -keyout ca-key.pem -out ca.pem
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
      -keyout server-key.pem -out server.csr
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >ext.cnf
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
      -extfile ext.cnf -out server.pem
  ) >/dev/null 2>&1
}
extra=()
case "$road" in
  http | h2c)
    "$bin" serve --port "$port" --latency 0 >/dev/null 2>&1 &
    server=$!
    base="http://127.0.0.1:$port/bench"
    [ "$road" = h2c ] && extra=(--http2)
    ;;
  tls1fb | tls2fb)
    pki
    "$bin" serve --port "$port" --latency 0 --tls-cert "$out/server.pem" \
      --tls-key "$out/server-key.pem" >/dev/null 2>&1 &
    server=$!
    base="https://127.0.0.1:$port/bench"
    extra=(--cacert "$out/ca.pem")
    [ "$road" = tls1fb ] && extra+=(--http1.1)
    ;;
  tls1 | tls2 | nginx1 | nginx2)
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    if [ ! -x "$nginx" ] || ! command -v openssl >/dev/null; then
      echo "ROAD=$road needs nginx (apt-get install nginx-light) and openssl" >&2
      exit 2
    fi
    chmod 755 "$out" # nginx's worker runs as another user when started by root
    mkdir "$out/tmp"
    pki
    # The same 1 KB document `fetchbench serve` and `bench.py https` answer with.
    printf '{"id": 1, "name": "bulbasaur", "padding": "%s"}' "$(printf 'x%.0s' $(seq 960))" \
      >"$out/doc.json"
    listen=" ssl"
    case "$road" in
      tls2) listen=" ssl http2" ;;
      nginx1) listen= ;;
      nginx2) listen=" http2" ;;
    esac
    cat >"$out/nginx.conf" <<EOF
daemon on;
worker_processes 1;
pid $out/nginx.pid;
error_log $out/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $out/tmp; proxy_temp_path $out/tmp; fastcgi_temp_path $out/tmp;
    uwsgi_temp_path $out/tmp; scgi_temp_path $out/tmp;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    ssl_protocols TLSv1.3;
    ssl_certificate $out/server.pem;
    ssl_certificate_key $out/server-key.pem;
    default_type application/json;
    server {
        listen 127.0.0.1:$port$listen;
        root $out;
        location /api/ { rewrite ^ /doc.json break; }
    }
}
EOF
    "$nginx" -p "$out" -c "$out/nginx.conf" -e "$out/error.log"
    case "$road" in
      tls*)
        base="https://127.0.0.1:$port/api"
        extra=(--cacert "$out/ca.pem")
        ;;
      nginx1) base="http://127.0.0.1:$port/api" ;;
      nginx2)
        base="http://127.0.0.1:$port/api"
        extra=(--http2)
        ;;
    esac
    ;;
  *)
    echo "ROAD must be http, h2c, tls1fb, tls2fb, tls1, tls2, nginx1 or nginx2, not '$road'" >&2
    exit 2
    ;;
esac
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.1
done
# Prints the instructions the client ran for $1 requests.
count() {
  valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
    "$bin" --url "$base/{}" --range "1..=$1" -m concurrent -c 64 \
    -f name -o "$out/records.ndjson" -q "${extra[@]}" 2>"$out/valgrind.log"
  grep -E "Collected" "$out/valgrind.log" | sed 's/.*Collected : //'
  # Kept for callgrind_annotate when asked.
  if [ -n "${KEEP:-}" ]; then cp "$out/callgrind.out" "$KEEP.$1"; fi
}
small=$(count 5000)
echo "instructions: $small"
wc -l <"$out/records.ndjson" | sed 's/^/records: /'
if [ "${SLOPE:-0}" = 1 ]; then
  large=$(count 20000)
  echo "instructions for 20,000: $large"
  echo "one more request: $(((large - small) / 15000))"
fi
