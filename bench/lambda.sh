#!/usr/bin/env bash
# tollgate Lambda benchmark: a lambda route vs an http_proxy route to the same
# origin, on one tollgate, plus the event build cost in instructions.
#
#   bash bench/lambda.sh [--quick] [--no-build]
#
#   --quick      DURATION=3s (smoke test)
#   --no-build   use the existing target/release/tollgate
#   env DURATION=10s      measured wrk duration per route and round (default 10s)
#   env ROUNDS=3          rounds; each measures proxy then lambda (default 3)
#   env LOADGEN_CPU=0 SERVER_CPU=1   CPU pinning (taskset -c), as bench/run.sh
#   env EVENTS=20000      events built under callgrind for the instruction count
#
# Setup: nginx (bench/nginx/lambda-backend.conf) on 127.0.0.1:9001 serves the
# Lambda Invoke API with a fixed payload 2.0 answer and a plain GET; it runs
# pinned with wrk on LOADGEN_CPU. tollgate runs bench/lambda.yaml
# (--workers 1) pinned on SERVER_CPU: GET /proxy → http_proxy, GET /lambda →
# lambda. Each round measures both routes one after the other (1 s warm-up,
# then wrk -t1 -c64 -d$DURATION --latency); the table shows each route's
# median over the rounds, so load that comes and goes on a shared box
# weighs on both routes alike.
#
# Event build cost: the ignored unit test `event_build_cost` (a typical
# GET with one path parameter, payload 2.0) runs under callgrind with 0 and
# with EVENTS events; (Ir difference) / EVENTS is the cost of one event.
#
# Writes the <!-- bench:lambda:start --> … <!-- bench:lambda:end --> section of
# bench/RESULTS.md and raw outputs to bench/out/. A MISS never fails the
# script; it exits non-zero only when something broke.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
OUT="$BENCH/out"
RESULTS="$BENCH/RESULTS.md"
BIN="$ROOT/target/release/tollgate"
CONF="$BENCH/lambda.yaml"

DURATION="${DURATION:-10s}"
ROUNDS="${ROUNDS:-3}"
LOADGEN_CPU="${LOADGEN_CPU:-0}"
SERVER_CPU="${SERVER_CPU:-1}"
EVENTS="${EVENTS:-20000}"
BUILD=1

for arg in "$@"; do
    case "$arg" in
        --quick) DURATION=3s; ROUNDS=1 ;;
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "lambda.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

log() { printf '[bench:lambda] %s\n' "$*" >&2; }
die() { printf '[bench:lambda] ERROR: %s\n' "$*" >&2; exit 1; }

STARTED=()          # every PID this script started; cleanup stops only these
TMP=""
BROKEN=0

is_alive() {
    local pid=$1 state
    [[ -r /proc/$pid/stat ]] || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ -n "$state" && "$state" != Z ]]
}

stop_pid() {        # stop_pid PID: TERM, wait up to 10 s, KILL
    local pid=$1 i
    is_alive "$pid" && kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do is_alive "$pid" || break; sleep 0.1; done
    if is_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; BROKEN=1; fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${STARTED[@]+"${STARTED[@]}"}"; do stop_pid "$pid"; done
    if [[ -n "$TMP" && -d "$TMP" ]]; then
        cp "$TMP"/*.log "$OUT"/ 2>/dev/null || true
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

wait_for_port() {   # wait_for_port PORT PID NAME
    local i
    for ((i = 0; i < 300; i++)); do
        port_open "$1" && return 0
        is_alive "$2" || { log "$3 exited before listening on :$1"; return 1; }
        sleep 0.1
    done
    log "$3 did not listen on :$1"
    return 1
}

ensure_tools() {
    local missing=() t
    command -v nginx >/dev/null || missing+=(nginx)
    command -v wrk >/dev/null || missing+=(wrk)
    command -v valgrind >/dev/null || missing+=(valgrind)
    if ((${#missing[@]})); then
        [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}; install them (apt-get install -y ${missing[*]})"
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; } ||
            die "apt-get install ${missing[*]} failed"
    fi
    for t in taskset awk curl; do command -v "$t" >/dev/null || die "$t not found"; done
    taskset -c "$LOADGEN_CPU" true 2>/dev/null || die "cannot pin to CPU $LOADGEN_CPU"
    taskset -c "$SERVER_CPU" true 2>/dev/null || die "cannot pin to CPU $SERVER_CPU; this benchmark needs 2 CPUs"
}

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}'; }

to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        m = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : -1
        if (m < 0 || v == "") print ""; else printf "%.1f", n * m }'
}

declare -A RPS P50 P99 CPU ERRS
declare -A ALL_RPS ALL_P50 ALL_P99 ALL_CPU ALL_ERRS

median() {          # median of whitespace-separated numbers
    printf '%s\n' $1 | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

measure() {         # measure NAME URL ROUND
    local name=$1 url=$2 raw="$OUT/lambda-bench-$1-$3.txt" before after reqs pid rc=0
    taskset -c "$LOADGEN_CPU" wrk -t1 -c64 -d1s "$url" >"$OUT/lambda-bench-$name.warmup.txt" 2>&1 || true
    before=$(cpu_ticks "$TG_PID")
    taskset -c "$LOADGEN_CPU" wrk -t1 -c64 -d"$DURATION" --latency "$url" >"$raw" 2>&1 &
    pid=$!
    STARTED+=("$pid")
    wait "$pid" || rc=$?
    ((rc == 0)) || { log "wrk failed for $name (see $raw)"; BROKEN=1; }
    after=$(cpu_ticks "$TG_PID")
    RPS[$name]=$(awk '/^Requests\/sec:/ {print $2}' "$raw")
    reqs=$(awk '/ requests in / {print $1}' "$raw")
    P50[$name]=$(to_us "$(awk '$1 == "50%" {print $2}' "$raw")")
    P99[$name]=$(to_us "$(awk '$1 == "99%" {print $2}' "$raw")")
    CPU[$name]=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="${reqs:-0}" \
        'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n }')
    ERRS[$name]=$(awk '
        /Socket errors:/ { gsub(/,/, ""); for (i = 3; i < NF; i += 2) if ($(i + 1) + 0 > 0) e = e sprintf("%s%s %s", (e ? ", " : ""), $i, $(i + 1)) }
        /Non-2xx or 3xx responses:/ { e = e sprintf("%snon-2xx/3xx %s", (e ? ", " : ""), $NF) }
        END { print (e ? e : "0") }' "$raw")
    log "round $3 $name: ${RPS[$name]:-?} req/s, p50 ${P50[$name]:-?}us, p99 ${P99[$name]:-?}us, cpu ${CPU[$name]:-?}us/req, errors ${ERRS[$name]}"
    ALL_RPS[$name]+=" ${RPS[$name]:-}"
    ALL_P50[$name]+=" ${P50[$name]:-}"
    ALL_P99[$name]+=" ${P99[$name]:-}"
    ALL_CPU[$name]+=" ${CPU[$name]:-}"
    [[ "${ERRS[$name]}" == 0 ]] || ALL_ERRS[$name]+="${ALL_ERRS[$name]:+; }round $3: ${ERRS[$name]}"
}

# ------------------------------------------------------------------- main --
ensure_tools
mkdir -p "$OUT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench-lambda.XXXXXX")
chmod 755 "$TMP"
mkdir -p "$TMP/tmp"

if ((BUILD)); then
    log "building release (cargo build --release --locked)"
    (cd "$ROOT" && cargo build --release --locked) >&2 || die "release build failed"
fi
[[ -x "$BIN" ]] || die "$BIN not found (build it or drop --no-build)"
for p in 8093 9001; do port_open "$p" && die "port $p on 127.0.0.1 is in use"; done
LOAD1=$(awk '{print $1}' /proc/loadavg)

taskset -c "$LOADGEN_CPU" nginx -p "$TMP" -c "$BENCH/nginx/lambda-backend.conf" \
    -e "$TMP/lambda-backend-error.log" >"$TMP/lambda-backend-stdout.log" 2>&1 &
NGINX_PID=$!
STARTED+=("$NGINX_PID")
wait_for_port 9001 "$NGINX_PID" nginx || die "backend nginx failed to start"

taskset -c "$SERVER_CPU" "$BIN" run "$CONF" --workers 1 --no-admin \
    >"$TMP/tollgate-lambda.stdout.log" 2>"$TMP/tollgate-lambda.stderr.log" &
TG_PID=$!
STARTED+=("$TG_PID")
wait_for_port 8093 "$TG_PID" tollgate || { tail -n 20 "$TMP/tollgate-lambda.stderr.log" >&2; die "tollgate failed to start"; }

for route in proxy lambda; do
    got=$(curl -s -m 3 -w ' [%{http_code}]' "http://127.0.0.1:8093/$route" || true)
    [[ "$got" == "hello from backend [200]" ]] || { log "WARNING: /$route answered '$got'"; BROKEN=1; }
done

for ((round = 1; round <= ROUNDS; round++)); do
    measure proxy http://127.0.0.1:8093/proxy "$round"
    measure lambda http://127.0.0.1:8093/lambda "$round"
done
for r in proxy lambda; do
    RPS[$r]=$(median "${ALL_RPS[$r]:-}")
    P50[$r]=$(median "${ALL_P50[$r]:-}")
    P99[$r]=$(median "${ALL_P99[$r]:-}")
    CPU[$r]=$(median "${ALL_CPU[$r]:-}")
    ERRS[$r]=${ALL_ERRS[$r]:-0}
done
stop_pid "$TG_PID"
stop_pid "$NGINX_PID"
STARTED=()

# --- event build cost under callgrind ---------------------------------------
log "event build cost: callgrind, 0 and $EVENTS events"
TEST_BIN=$(cd "$ROOT" && cargo test --release --locked --lib --no-run --message-format=json 2>"$TMP/test-build.log" |
    awk -F'"executable":"' 'NF > 1 { split($2, a, "\""); if (a[1] != "") print a[1] }' | tail -n 1) ||
    { log "building the unit tests failed (see bench/out/test-build.log)"; cp "$TMP/test-build.log" "$OUT/" || true; }
EVENT_IR=""
if [[ -n "$TEST_BIN" && -x "$TEST_BIN" ]]; then
    ir() {
        TOLLGATE_EVENT_N=$1 valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.$1" \
            "$TEST_BIN" --ignored --exact integration::lambda::event::tests::event_build_cost \
            --test-threads=1 --nocapture >"$TMP/cg.$1.stdout" 2>"$TMP/cg.$1.log" || return 1
        awk '/Collected :/ {print $NF}' "$TMP/cg.$1.log"
    }
    if IR0=$(ir 0) && IRN=$(ir "$EVENTS"); then
        EVENT_IR=$(awk -v a="$IR0" -v b="$IRN" -v n="$EVENTS" 'BEGIN { printf "%.0f", (b - a) / n }')
        EVENT_BYTES=$(grep -o 'of [0-9]* bytes' "$TMP/cg.$EVENTS.stdout" | awk '{print $2}' || true)
        log "event build: $EVENT_IR instructions per event (${EVENT_BYTES:-?} bytes)"
    else
        log "callgrind run failed (see $TMP/cg.*.log)"; BROKEN=1
    fi
else
    log "could not find the unit test binary"; BROKEN=1
fi

# ----------------------------------------------------------------- report --
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print ""; else printf "%.2f", a / b }'; }
fmt_us() { awk -v v="$1" 'BEGIN { if (v == "") print "n/a"; else if (v >= 1000) printf "%.2f ms", v / 1000; else printf "%.0f µs", v }'; }
R=$(ratio "${RPS[lambda]:-}" "${RPS[proxy]:-}")
C=$(ratio "${CPU[lambda]:-}" "${CPU[proxy]:-}")
if [[ -z "$R" ]]; then VERDICT="MISS (no data)"
elif awk -v r="$R" 'BEGIN { exit !(r >= 0.8) }'; then VERDICT=PASS
else VERDICT=MISS; fi

REV=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)
SECTION=$(
    echo "<!-- bench:lambda:start -->"
    echo "## Lambda: lambda route vs http_proxy route (bench/lambda.sh)"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); tollgate: $REV; load average $LOAD1 at start"
    echo "- setup: one tollgate (--workers 1, CPU $SERVER_CPU), one origin nginx on :9001 serving the Invoke API and GET (CPU $LOADGEN_CPU, with wrk); $ROUNDS rounds of wrk -t1 -c64 -d$DURATION --latency per route (1 s warm-up each), alternating routes; medians shown"
    echo "- req/s per round: proxy${ALL_RPS[proxy]:-}; lambda${ALL_RPS[lambda]:-}"
    echo
    echo "| route | req/s (median) | p50 | p99 | CPU µs/req | errors |"
    echo "|---|---:|---:|---:|---:|---|"
    for r in proxy lambda; do
        label="GET /$r"
        [[ $r == proxy ]] && label="GET /proxy (http_proxy)" || label="GET /lambda (lambda, payload 2.0)"
        printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$(awk -v v="${RPS[$r]:-}" 'BEGIN { if (v == "") print "n/a"; else printf "%.0f", v }')" \
            "$(fmt_us "${P50[$r]:-}")" "$(fmt_us "${P99[$r]:-}")" "${CPU[$r]:-n/a}" "${ERRS[$r]:-?}"
    done
    echo
    echo "- lambda / proxy: req/s ${R:-n/a}×, CPU/req ${C:-n/a}×"
    echo "- target lambda req/s ≥ 0.8× proxy: $VERDICT (${R:-n/a}×)"
    echo "- event build (payload 2.0, GET with a path parameter, ${EVENT_BYTES:-?} bytes): ${EVENT_IR:-n/a} instructions per event (callgrind, $EVENTS events)"
    echo "<!-- bench:lambda:end -->"
)
echo
echo "$SECTION"

[[ -f "$RESULTS" ]] || printf '# tollgate benchmark results\n' >"$RESULTS"
printf '%s\n' "$SECTION" >"$TMP/section.md"
if grep -q '<!-- bench:lambda:start -->' "$RESULTS" && grep -q '<!-- bench:lambda:end -->' "$RESULTS"; then
    awk -v sf="$TMP/section.md" '
        /<!-- bench:lambda:start -->/ { while ((getline l < sf) > 0) print l; skip = 1; next }
        /<!-- bench:lambda:end -->/ { skip = 0; next }
        !skip { print }' "$RESULTS" >"$TMP/results.new"
    cat "$TMP/results.new" >"$RESULTS"
else
    { echo; cat "$TMP/section.md"; } >>"$RESULTS"
fi
log "wrote $RESULTS"
((BROKEN == 0)) || { log "something broke (see above and bench/out/)"; exit 1; }
exit 0
