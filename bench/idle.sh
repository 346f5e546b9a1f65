#!/usr/bin/env bash
# Memory per idle keep-alive connection: 10,000 connections, each after one
# request, held open against nginx `return 200` and tollgate's mock route.
# Writes the section <!-- bench:idle:start --> … <!-- bench:idle:end -->.
#   bash bench/idle.sh [--no-build]      env N=10000
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release/tollgate"
RESULTS="$ROOT/bench/RESULTS.md"
N="${N:-10000}"
[[ "${1:-}" == "--no-build" ]] || (cd "$ROOT" && cargo build --release --locked --quiet)
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx >/dev/null; }
ulimit -n 65536 2>/dev/null || true

TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
wait_port() { for _ in $(seq 100); do timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# nginx: one worker, enough connections.
mkdir -p "$TMP/tmp"
sed -e 's/worker_connections 1024;/worker_connections 20000;/' -e '/^worker_processes/a worker_rlimit_nofile 65536;' \
    "$ROOT/bench/nginx/return.conf" >"$TMP/return.conf"
taskset -c 1 nginx -p "$TMP" -c "$TMP/return.conf" -e "$TMP/err.log" >/dev/null 2>&1 &
NG=$!
PIDS+=("$NG")
wait_port 8091
NGW=$(pgrep -P "$NG" | paste -sd,)
nginx_line=$(python3 "$ROOT/bench/idle.py" 127.0.0.1 8091 / "$N" "$NG,$NGW")
kill -TERM "$NG"; wait "$NG" 2>/dev/null || true

taskset -c 1 "$BIN" run "$ROOT/bench/gateway.yaml" --workers 1 --no-admin >/dev/null 2>"$TMP/tg.log" &
TG=$!
PIDS+=("$TG")
wait_port 8090
tg_line=$(python3 "$ROOT/bench/idle.py" 127.0.0.1 8090 /mock "$N" "$TG")

table=$(cat <<EOT
## Idle keep-alive connections

- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); tollgate $(git -C "$ROOT" rev-parse --short HEAD); both servers one worker on CPU 1
- $N connections, each after one request, held open; resident memory (VmRSS) before and after

| server | result |
|---|---|
| nginx (master + worker) | $nginx_line |
| tollgate | $tg_line |
EOT
)
echo "$table"
start='<!-- bench:idle:start -->'
end='<!-- bench:idle:end -->'
if grep -q "$start" "$RESULTS"; then
    awk -v s="$start" -v e="$end" -v body="$table" '$0 == s { print; print body; skip = 1; next } $0 == e { skip = 0 } !skip { print }' "$RESULTS" >"$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS"
else
    printf '\n%s\n%s\n%s\n' "$start" "$table" "$end" >>"$RESULTS"
fi
