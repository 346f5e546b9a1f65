#!/usr/bin/env bash
# Memory per idle keep-alive connection: 10,000 connections, each after one
# request, held open against nginx `return 200` and tollgate's mock route.
# Writes the section <!-- bench:idle:start --> … <!-- bench:idle:end -->.
#   bash bench/idle.sh [--no-build]      env N=10000
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"   # ROOT BENCH OUT RESULTS BIN LOADGEN_CPU SERVER_CPU, helpers, traps

N="${N:-10000}"
[[ "${1:-}" == "--no-build" ]] || build_release --quiet
install_tools nginx
require_tools python3 taskset
ulimit -n 65536 2>/dev/null || true
check_ports_free 8090 8091
make_tmp tollgate-bench-idle

# nginx: one worker, enough connections.
sed -e 's/worker_connections 1024;/worker_connections 20000;/' -e '/^worker_processes/a worker_rlimit_nofile 65536;' \
    "$ROOT/bench/nginx/return.conf" >"$TMP/return.conf"
start_nginx return "$TMP/return.conf" 8091 1 10
NG=$NGINX_PID
NGW=$(pgrep -P "$NG" | paste -sd,)
nginx_line=$(python3 "$ROOT/bench/idle.py" 127.0.0.1 8091 / "$N" "$NG,$NGW")
stop_pid "$NG" nginx

start_server tollgate tollgate 8090 10 taskset -c 1 "$BIN" run "$ROOT/bench/gateway.yaml" --workers 1 --no-admin
TG=$SERVER_PID
tg_line=$(python3 "$ROOT/bench/idle.py" 127.0.0.1 8090 /mock "$N" "$TG")

table=$(cat <<EOT
## Idle keep-alive connections

- date: $(bench_date); tollgate $(bench_rev); both servers one worker on CPU 1
- $N connections, each after one request, held open; resident memory (VmRSS) before and after

| server | result |
|---|---|
| nginx (master + worker) | $nginx_line |
| tollgate | $tg_line |
EOT
)
echo "$table"
write_section idle "$(printf '%s\n%s\n%s' '<!-- bench:idle:start -->' "$table" '<!-- bench:idle:end -->')"
