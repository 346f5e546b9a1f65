#!/usr/bin/env bash
# tollgate core benchmark: tollgate beside nginx on the same box.
#
#   bash bench/run.sh [--quick] [--no-build]
#
#   --quick      DURATION=3s (smoke test)
#   --no-build   use the existing target/release/tollgate
#   env DURATION=10s      measured wrk duration (default 10s)
#   env DRIVER=auto       tollgate --driver (auto | io-uring | epoll)
#   env LOADGEN_CPU=0 SERVER_CPU=1   CPU pinning (taskset -c)
#
# Scenarios (wrk -t1 -c64 --latency, load generator pinned to LOADGEN_CPU,
# server under test pinned to SERVER_CPU; each server runs only during its own
# test):
#   mock   nginx `return 200 "ok"` (:8091)     vs tollgate GET /mock  (:8090)
#   proxy  nginx proxy_pass keepalive (:8092)  vs tollgate $default http_proxy
#          (:8090), both to one backend nginx on :9000 (pinned with wrk).
#
# Prints a markdown table + target PASS/MISS lines, writes the section between
# <!-- bench:core:start --> and <!-- bench:core:end --> of bench/RESULTS.md and
# the raw wrk outputs / server logs to bench/out/. A MISS never fails the
# script; it exits non-zero only when something broke (build, ports, a server
# that would not start or died).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"   # ROOT BENCH OUT RESULTS BIN LOADGEN_CPU SERVER_CPU, helpers, traps

GATEWAY_CONF="$BENCH/gateway.yaml"

DURATION="${DURATION:-10s}"
DRIVER="${DRIVER:-auto}"

bench_args "$@"
if ((QUICK)); then DURATION=3s; fi

# start_tollgate CPU  -> sets TG_PID
start_tollgate() {
    start_server tollgate "tollgate-$SCENARIO" 8090 30 \
        taskset -c "$1" "$BIN" run "$GATEWAY_CONF" --workers 1 --driver "$DRIVER"
    TG_PID=$SERVER_PID
}

declare -A R_RPS R_REQS R_P50 R_P99 R_CPU R_ERRS R_NOTE R_BUSY

# measure SCENARIO SERVER URL PID  (server already up)
measure() {
    local scen=$1 server=$2 url=$3 pid=$4 key="$1/$2" raw="$OUT/$1-$2.txt"
    local pids
    # warm up 1s (output kept for reference, not measured)
    run_wrk "$OUT/$scen-$server.warmup.txt" 1s "$url" || log "warm-up wrk failed for $key"
    pids=$(server_pids "$pid")
    if ! measure_wrk "$raw" "$DURATION" "$pids" "$url"; then
        log "wrk failed for $key (see $raw)"; BROKEN=1
    fi
    R_RPS[$key]=${W_RPS:-}
    R_REQS[$key]=${W_REQS:-}
    R_P50[$key]=${W_P50:-}
    R_P99[$key]=${W_P99:-}
    R_ERRS[$key]=${W_ERRS:-?}
    R_CPU[$key]=$W_CPU
    # how busy the server under test was: CPU seconds / wall seconds of the run
    R_BUSY[$key]=$(awk -v t="$W_TICKS" -v hz="$CLK_TCK" -v us="${W_SECS:-}" \
        'BEGIN { if (us > 0) printf "%.0f", 100 * t / hz / (us / 1e6) }')
    if ! is_alive "$pid"; then
        R_NOTE[$key]="server died during the run"; BROKEN=1
        log "$key: server (pid $pid) died during the run"
    fi
    log "$key: ${W_RPS:-?} req/s, p50 ${W_P50:-?}us, p99 ${W_P99:-?}us, cpu ${R_CPU[$key]:-?}us/req (server ${R_BUSY[$key]:-?}% busy), errors ${R_ERRS[$key]}"
}

sanity() {          # sanity URL EXPECTED_BODY NAME: warn (and note) on a wrong answer
    local url=$1 want=$2 key=$3 got
    command -v curl >/dev/null || return 0
    got=$(curl -s -m 3 -o - -w ' [%{http_code}]' "$url" 2>/dev/null || true)
    if [[ "$got" != "$want [200]" ]]; then
        log "WARNING: $key answered '$got', expected '$want [200]'"
        R_NOTE[$key]="unexpected answer: $got"
    fi
}

# ------------------------------------------------------------------- main --
install_tools nginx wrk
require_tools taskset awk getconf
check_pinning
[[ -f "$GATEWAY_CONF" ]] || die "$GATEWAY_CONF not found"
make_tmp tollgate-bench

if ((BUILD)); then build_release; fi
require_bin

check_ports_free 8090 8091 8092 9000
LOAD1=$(load1)
warn_load "$LOAD1"
log "duration $DURATION; wrk pinned to CPU $LOADGEN_CPU, servers under test pinned to CPU $SERVER_CPU"
log "note: the backend nginx (:9000) shares CPU $LOADGEN_CPU with wrk (the machine has $(nproc) CPUs); it is the same backend for both proxies"

# --- scenario 1: mock -------------------------------------------------------
SCENARIO=mock
start_nginx return "$BENCH/nginx/return.conf" 8091 "$SERVER_CPU" 15
sanity http://127.0.0.1:8091/mock ok mock/nginx
measure mock nginx http://127.0.0.1:8091/mock "$NGINX_PID"
stop_pid "$NGINX_PID" "nginx return" 10

start_tollgate "$SERVER_CPU"
sanity http://127.0.0.1:8090/mock ok mock/tollgate
measure mock tollgate http://127.0.0.1:8090/mock "$TG_PID"
stop_pid "$TG_PID" tollgate 40
if ((STOP_RC != 0)); then log "tollgate exited $STOP_RC after SIGTERM (expected 0)"; BROKEN=1; R_NOTE[mock/tollgate]+="${R_NOTE[mock/tollgate]:+; }exit $STOP_RC on SIGTERM"; fi
DRIVER_LINE=$(grep -m1 -o 'driver [a-z_-]*' "$TMP/tollgate-mock.stderr.log" || true)

# --- scenario 2: proxy ------------------------------------------------------
SCENARIO=proxy
start_nginx backend "$BENCH/nginx/backend.conf" 9000 "$LOADGEN_CPU" 15
BACKEND_PID=$NGINX_PID

start_nginx proxy "$BENCH/nginx/proxy.conf" 8092 "$SERVER_CPU" 15
sanity http://127.0.0.1:8092/proxy "hello from backend" proxy/nginx
measure proxy nginx http://127.0.0.1:8092/proxy "$NGINX_PID"
stop_pid "$NGINX_PID" "nginx proxy" 10

start_tollgate "$SERVER_CPU"
sanity http://127.0.0.1:8090/proxy "hello from backend" proxy/tollgate
measure proxy tollgate http://127.0.0.1:8090/proxy "$TG_PID"
stop_pid "$TG_PID" tollgate 40
if ((STOP_RC != 0)); then log "tollgate exited $STOP_RC after SIGTERM (expected 0)"; BROKEN=1; R_NOTE[proxy/tollgate]+="${R_NOTE[proxy/tollgate]:+; }exit $STOP_RC on SIGTERM"; fi

stop_pid "$BACKEND_PID" "nginx backend" 10

# ----------------------------------------------------------------- report --
shown() { [[ -n "$1" ]] && echo "$1×" || echo "n/a"; }
verdict() { # verdict EXPR_RESULT(1/0/"") TOLLGATE_ERRORS
    local ok=$1 errs=$2 v
    if [[ -z "$ok" ]]; then echo "MISS (no data)"; return; fi
    ((ok)) && v=PASS || v=MISS
    [[ "$errs" == 0 ]] || v="$v (tollgate had errors: $errs)"
    echo "$v"
}

TABLE=$(
    echo "| scenario | server | req/s | p50 | p99 | CPU µs/req | errors |"
    echo "|---|---|---:|---:|---:|---:|---|"
    for scen in mock proxy; do
        for server in nginx tollgate; do
            k="$scen/$server"
            label=$scen
            [[ $scen == mock ]] && { [[ $server == nginx ]] && label='mock (nginx `return 200`)' || label='mock (GET /mock)'; }
            [[ $scen == proxy ]] && label='proxy → backend :9000'
            errs=${R_ERRS[$k]:-?}
            [[ -n "${R_NOTE[$k]:-}" ]] && errs="$errs; ${R_NOTE[$k]}"
            cpu=${R_CPU[$k]:-}
            printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$server" \
                "$(fmt_num "${R_RPS[$k]:-}")" "$(fmt_us "${R_P50[$k]:-}")" "$(fmt_us "${R_P99[$k]:-}")" \
                "${cpu:-n/a}" "$errs"
        done
    done
)

m_rps=$(ratio "${R_RPS[mock/tollgate]:-}" "${R_RPS[mock/nginx]:-}")
m_p99=$(ratio "${R_P99[mock/tollgate]:-}" "${R_P99[mock/nginx]:-}")
m_cpu=$(ratio "${R_CPU[mock/tollgate]:-}" "${R_CPU[mock/nginx]:-}")
p_rps=$(ratio "${R_RPS[proxy/tollgate]:-}" "${R_RPS[proxy/nginx]:-}")
p_p99=$(ratio "${R_P99[proxy/tollgate]:-}" "${R_P99[proxy/nginx]:-}")
p_cpu=$(ratio "${R_CPU[proxy/tollgate]:-}" "${R_CPU[proxy/nginx]:-}")
cmp() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { if (v == "") print ""; else if (op == "ge") print (v + 0 >= t) ? 1 : 0; else print (v + 0 <= t) ? 1 : 0 }'; }

RATIOS=$(
    echo "Ratios (tollgate / nginx):"
    echo "- mock:  req/s $(shown "$m_rps"), p99 $(shown "$m_p99"), CPU/req $(shown "$m_cpu")"
    echo "- proxy: req/s $(shown "$p_rps"), p99 $(shown "$p_p99"), CPU/req $(shown "$p_cpu")"
    echo
    echo "Server under test busy (CPU time / run time; below ~95 % the load generator's CPU limits req/s):" \
        "mock nginx ${R_BUSY[mock/nginx]:-?} %, mock tollgate ${R_BUSY[mock/tollgate]:-?} %," \
        "proxy nginx ${R_BUSY[proxy/nginx]:-?} %, proxy tollgate ${R_BUSY[proxy/tollgate]:-?} %"
    echo
    echo "Targets:"
    echo "- proxied req/s ≥ 1.5× nginx proxy: $(verdict "$(cmp "$p_rps" ge 1.5)" "${R_ERRS[proxy/tollgate]:-?}") ($(shown "$p_rps"))"
    echo "- proxied p99 ≤ nginx proxy p99: $(verdict "$(cmp "$p_p99" le 1.0)" "${R_ERRS[proxy/tollgate]:-?}") ($(shown "$p_p99"))"
    echo "- mock CPU/req ≤ 0.9× nginx \`return 200\`: $(verdict "$(cmp "$m_cpu" le 0.9)" "${R_ERRS[mock/tollgate]:-?}") ($(shown "$m_cpu"))"
)

REV=$(bench_rev)
CPU_MODEL=$(lscpu 2>/dev/null | awk -F: '/^Model name/ && !seen++ { sub(/^[ \t]+/, "", $2); print $2 }')
NGINX_V=$(nginx -v 2>&1 | sed 's/^nginx version: //')
SETUP="load average $LOAD1 at start; wrk -t1 -c64 -d$DURATION --latency (1s warm-up); wrk + backend nginx on CPU $LOADGEN_CPU, server under test on CPU $SERVER_CPU; tollgate --workers 1 --driver $DRIVER${DRIVER_LINE:+ ($DRIVER_LINE)}; nginx worker_processes 1"

SECTION=$(
    echo "<!-- bench:core:start -->"
    echo "## Core: mock and proxy vs nginx"
    echo
    echo "- date: $(bench_date)"
    echo "- kernel: $(uname -r); CPU: ${CPU_MODEL:-unknown} ($(nproc) CPUs)"
    echo "- nginx: $NGINX_V; tollgate: $REV"
    echo "- setup: $SETUP"
    echo
    echo "$TABLE"
    echo
    echo "$RATIOS"
    echo "<!-- bench:core:end -->"
)

echo
echo "$TABLE"
echo
echo "$RATIOS"
echo
echo "($SETUP)"
echo "(raw wrk output and server logs: bench/out/)"

# Replace (or add) the core section of bench/RESULTS.md.
write_section core "$SECTION"
log "wrote $RESULTS"

if ((BROKEN)); then
    log "something broke during the run (see messages above and bench/out/); exiting 1"
    exit 1
fi
exit 0
