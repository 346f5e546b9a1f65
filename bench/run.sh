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

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
OUT="$BENCH/out"
RESULTS="$BENCH/RESULTS.md"
BIN="$ROOT/target/release/tollgate"
GATEWAY_CONF="$BENCH/gateway.yaml"

DURATION="${DURATION:-10s}"
DRIVER="${DRIVER:-auto}"
LOADGEN_CPU="${LOADGEN_CPU:-0}"
SERVER_CPU="${SERVER_CPU:-1}"
BUILD=1

for arg in "$@"; do
    case "$arg" in
        --quick) DURATION=3s ;;
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup --
STARTED=()          # every PID this script started; the trap kills these only
TMP=""
BROKEN=0            # set when a server died or misbehaved: exit 1 at the end

is_alive() {        # running and not a zombie
    local pid=$1 state
    [[ -r /proc/$pid/stat ]] || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ -n "$state" && "$state" != Z ]]
}

forget_pid() {
    local pid=$1 p keep=()
    for p in "${STARTED[@]+"${STARTED[@]}"}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    STARTED=("${keep[@]+"${keep[@]}"}")
}

cleanup() {
    local rc=$? pid i
    trap - EXIT INT TERM
    for pid in "${STARTED[@]+"${STARTED[@]}"}"; do
        is_alive "$pid" && kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED[@]+"${STARTED[@]}"}"; do
        for ((i = 0; i < 50; i++)); do is_alive "$pid" || break; sleep 0.1; done
        is_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$TMP" && -d "$TMP" ]]; then
        # keep the server logs next to the raw wrk outputs
        cp "$TMP"/*.log "$OUT"/ 2>/dev/null || true
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# ----------------------------------------------------------------- checks --
ensure_tools() {
    local missing=()
    command -v nginx >/dev/null || missing+=(nginx)
    command -v wrk >/dev/null || missing+=(wrk)
    if ((${#missing[@]})); then
        [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}; install them (apt-get install -y nginx wrk)"
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; } ||
            die "apt-get install ${missing[*]} failed"
    fi
    local t
    for t in taskset awk getconf; do command -v "$t" >/dev/null || die "$t not found"; done
    taskset -c "$LOADGEN_CPU" true 2>/dev/null || die "cannot pin to CPU $LOADGEN_CPU (LOADGEN_CPU)"
    taskset -c "$SERVER_CPU" true 2>/dev/null || die "cannot pin to CPU $SERVER_CPU (SERVER_CPU); this benchmark needs 2 CPUs"
}

port_open() {       # something accepts connections on 127.0.0.1:$1
    timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

check_ports_free() {
    local p busy=()
    for p in "$@"; do port_open "$p" && busy+=("$p"); done
    ((${#busy[@]} == 0)) || die "port(s) ${busy[*]} on 127.0.0.1 already in use; stop whatever listens there (see: ss -ltnp) and rerun"
}

wait_for_port() {   # wait_for_port PORT PID NAME [timeout seconds]
    local port=$1 pid=$2 name=$3 timeout=${4:-15} i
    for ((i = 0; i < timeout * 10; i++)); do
        port_open "$port" && return 0
        is_alive "$pid" || { log "$name (pid $pid) exited before listening on :$port"; return 1; }
        sleep 0.1
    done
    log "$name did not listen on :$port within ${timeout}s"
    return 1
}

# ---------------------------------------------------------- process start --
# start_nginx NAME CONF PORT CPU  -> sets NGINX_PID (the master)
start_nginx() {
    local name=$1 conf=$2 port=$3 cpu=$4
    mkdir -p "$TMP/tmp"
    taskset -c "$cpu" nginx -p "$TMP" -c "$conf" -e "$TMP/$name-error.log" \
        >"$TMP/$name-stdout.log" 2>&1 &
    NGINX_PID=$!
    STARTED+=("$NGINX_PID")
    wait_for_port "$port" "$NGINX_PID" "nginx $name" ||
        { tail -n 20 "$TMP/$name"-*.log >&2 || true; die "nginx $name failed to start"; }
}

# start_tollgate CPU  -> sets TG_PID
start_tollgate() {
    local cpu=$1
    taskset -c "$cpu" "$BIN" run "$GATEWAY_CONF" --workers 1 --driver "$DRIVER" \
        >"$TMP/tollgate-$SCENARIO.stdout.log" 2>"$TMP/tollgate-$SCENARIO.stderr.log" &
    TG_PID=$!
    STARTED+=("$TG_PID")
    wait_for_port 8090 "$TG_PID" "tollgate" 30 ||
        { tail -n 30 "$TMP/tollgate-$SCENARIO.stderr.log" >&2 || true; die "tollgate failed to start"; }
}

# stop_pid PID NAME [grace seconds] -> sets STOP_RC; TERM, wait, KILL on timeout
stop_pid() {
    local pid=$1 name=$2 grace=${3:-10} i
    STOP_RC=0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do is_alive "$pid" || break; sleep 0.1; done
    if is_alive "$pid"; then
        log "$name (pid $pid) still running ${grace}s after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        BROKEN=1
    fi
    wait "$pid" 2>/dev/null || STOP_RC=$?
    forget_pid "$pid"
}

# ------------------------------------------------------------ measurement --
CLK_TCK=$(getconf CLK_TCK)

cpu_ticks() {       # utime+stime (fields 14, 15) of the given PIDs, summed
    local pid sum=0 t
    for pid in "$@"; do
        # comm (field 2) may contain spaces: cut everything up to ") "
        t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}

server_pids() {     # the server under test: nginx master + workers, or tollgate
    local pid=$1
    echo "$pid"
    pgrep -P "$pid" 2>/dev/null || true
}

run_wrk() {         # run_wrk URL OUTFILE DURATION  (pinned, tracked for cleanup)
    local url=$1 out=$2 dur=$3 pid rc=0
    taskset -c "$LOADGEN_CPU" wrk -t1 -c64 -d"$dur" --latency "$url" >"$out" 2>&1 &
    pid=$!
    STARTED+=("$pid")
    wait "$pid" || rc=$?
    forget_pid "$pid"
    return "$rc"
}

to_us() {           # wrk time (e.g. 512.00us 1.20ms 1.01s 2.00m) -> microseconds
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        m = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : (u == "m") ? 6e7 : (u == "h") ? 3.6e9 : -1
        if (m < 0 || v == "") print ""; else printf "%.1f", n * m }'
}

# parse_wrk FILE -> sets W_RPS W_REQS W_P50 W_P99 W_ERRS (W_ERRS: "0" or details)
parse_wrk() {
    local f=$1 p50 p99
    W_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$f")
    W_REQS=$(awk '/ requests in / {print $1}' "$f")
    W_SECS=$(awk '/ requests in / { t = $4; sub(/,$/, "", t); print t }' "$f")
    W_SECS=$(to_us "$W_SECS")
    p50=$(awk '$1 == "50%" {print $2}' "$f")
    p99=$(awk '$1 == "99%" {print $2}' "$f")
    W_P50=$(to_us "$p50")
    W_P99=$(to_us "$p99")
    W_ERRS=$(awk '
        /Socket errors:/ { gsub(/,/, ""); for (i = 3; i < NF; i += 2) if ($(i + 1) + 0 > 0) e = e sprintf("%s%s %s", (e ? ", " : ""), $i, $(i + 1)) }
        /Non-2xx or 3xx responses:/ { e = e sprintf("%snon-2xx/3xx %s", (e ? ", " : ""), $NF) }
        END { print (e ? e : "0") }' "$f")
}

declare -A R_RPS R_REQS R_P50 R_P99 R_CPU R_ERRS R_NOTE R_BUSY

# measure SCENARIO SERVER URL PID  (server already up)
measure() {
    local scen=$1 server=$2 url=$3 pid=$4 key="$1/$2" raw="$OUT/$1-$2.txt"
    local before after pids
    # warm up 1s (output kept for reference, not measured)
    run_wrk "$url" "$OUT/$scen-$server.warmup.txt" 1s || log "warm-up wrk failed for $key"
    pids=$(server_pids "$pid")
    # shellcheck disable=SC2086
    before=$(cpu_ticks $pids)
    if ! run_wrk "$url" "$raw" "$DURATION"; then
        log "wrk failed for $key (see $raw)"; BROKEN=1
    fi
    # shellcheck disable=SC2086
    after=$(cpu_ticks $pids)
    parse_wrk "$raw"
    R_RPS[$key]=${W_RPS:-}
    R_REQS[$key]=${W_REQS:-}
    R_P50[$key]=${W_P50:-}
    R_P99[$key]=${W_P99:-}
    R_ERRS[$key]=${W_ERRS:-?}
    R_CPU[$key]=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="${W_REQS:-0}" \
        'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n }')
    # how busy the server under test was: CPU seconds / wall seconds of the run
    R_BUSY[$key]=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v us="${W_SECS:-}" \
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
ensure_tools
[[ -f "$GATEWAY_CONF" ]] || die "$GATEWAY_CONF not found"
mkdir -p "$OUT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench.XXXXXX")
chmod 755 "$TMP"

if ((BUILD)); then
    log "building release (cargo build --release --locked)"
    (cd "$ROOT" && cargo build --release --locked) >&2 || die "release build failed"
fi
[[ -x "$BIN" ]] || die "$BIN not found (build it or drop --no-build)"

check_ports_free 8090 8091 8092 9000
LOAD1=$(awk '{print $1}' /proc/loadavg)
if awk -v l="$LOAD1" 'BEGIN { exit !(l > 0.5) }'; then
    log "WARNING: load average $LOAD1 before start: other processes (builds, fuzzers, tests) skew the results"
fi
log "duration $DURATION; wrk pinned to CPU $LOADGEN_CPU, servers under test pinned to CPU $SERVER_CPU"
log "note: the backend nginx (:9000) shares CPU $LOADGEN_CPU with wrk (the machine has $(nproc) CPUs); it is the same backend for both proxies"

# --- scenario 1: mock -------------------------------------------------------
SCENARIO=mock
start_nginx return "$BENCH/nginx/return.conf" 8091 "$SERVER_CPU"
sanity http://127.0.0.1:8091/mock ok mock/nginx
measure mock nginx http://127.0.0.1:8091/mock "$NGINX_PID"
stop_pid "$NGINX_PID" "nginx return"

start_tollgate "$SERVER_CPU"
sanity http://127.0.0.1:8090/mock ok mock/tollgate
measure mock tollgate http://127.0.0.1:8090/mock "$TG_PID"
stop_pid "$TG_PID" tollgate 40
if ((STOP_RC != 0)); then log "tollgate exited $STOP_RC after SIGTERM (expected 0)"; BROKEN=1; R_NOTE[mock/tollgate]+="${R_NOTE[mock/tollgate]:+; }exit $STOP_RC on SIGTERM"; fi
DRIVER_LINE=$(grep -m1 -o 'driver [a-z_-]*' "$TMP/tollgate-mock.stderr.log" || true)

# --- scenario 2: proxy ------------------------------------------------------
SCENARIO=proxy
start_nginx backend "$BENCH/nginx/backend.conf" 9000 "$LOADGEN_CPU"
BACKEND_PID=$NGINX_PID

start_nginx proxy "$BENCH/nginx/proxy.conf" 8092 "$SERVER_CPU"
sanity http://127.0.0.1:8092/proxy "hello from backend" proxy/nginx
measure proxy nginx http://127.0.0.1:8092/proxy "$NGINX_PID"
stop_pid "$NGINX_PID" "nginx proxy"

start_tollgate "$SERVER_CPU"
sanity http://127.0.0.1:8090/proxy "hello from backend" proxy/tollgate
measure proxy tollgate http://127.0.0.1:8090/proxy "$TG_PID"
stop_pid "$TG_PID" tollgate 40
if ((STOP_RC != 0)); then log "tollgate exited $STOP_RC after SIGTERM (expected 0)"; BROKEN=1; R_NOTE[proxy/tollgate]+="${R_NOTE[proxy/tollgate]:+; }exit $STOP_RC on SIGTERM"; fi

stop_pid "$BACKEND_PID" "nginx backend"

# ----------------------------------------------------------------- report --
fmt_num() { awk -v v="$1" 'BEGIN { if (v == "") print "n/a"; else printf "%.0f", v }'; }
fmt_us() { awk -v v="$1" 'BEGIN { if (v == "") print "n/a"; else if (v >= 1000) printf "%.2f ms", v / 1000; else printf "%.0f µs", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print ""; else printf "%.2f", a / b }'; }
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

REV=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)
CPU_MODEL=$(lscpu 2>/dev/null | awk -F: '/^Model name/ && !seen++ { sub(/^[ \t]+/, "", $2); print $2 }')
NGINX_V=$(nginx -v 2>&1 | sed 's/^nginx version: //')
SETUP="load average $LOAD1 at start; wrk -t1 -c64 -d$DURATION --latency (1s warm-up); wrk + backend nginx on CPU $LOADGEN_CPU, server under test on CPU $SERVER_CPU; tollgate --workers 1 --driver $DRIVER${DRIVER_LINE:+ ($DRIVER_LINE)}; nginx worker_processes 1"

SECTION=$(
    echo "<!-- bench:core:start -->"
    echo "## Core: mock and proxy vs nginx"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
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
if [[ ! -f "$RESULTS" ]]; then
    printf '# tollgate benchmark results\n\nWritten by the bench scripts (`bench/run.sh`); each script owns one marked section.\n' >"$RESULTS"
fi
SECTION_FILE="$TMP/section.md"
printf '%s\n' "$SECTION" >"$SECTION_FILE"
if grep -q '<!-- bench:core:start -->' "$RESULTS" && grep -q '<!-- bench:core:end -->' "$RESULTS"; then
    awk -v sf="$SECTION_FILE" '
        /<!-- bench:core:start -->/ { while ((getline l < sf) > 0) print l; skip = 1; next }
        /<!-- bench:core:end -->/ { skip = 0; next }
        !skip { print }' "$RESULTS" >"$TMP/results.new"
    cat "$TMP/results.new" >"$RESULTS"
else
    { echo; cat "$SECTION_FILE"; } >>"$RESULTS"
fi
log "wrote $RESULTS"

if ((BROKEN)); then
    log "something broke during the run (see messages above and bench/out/); exiting 1"
    exit 1
fi
exit 0
