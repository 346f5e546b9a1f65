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

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"   # ROOT BENCH OUT RESULTS BIN LOADGEN_CPU SERVER_CPU, helpers, traps

LOG_TAG=bench:lambda
CONF="$BENCH/lambda.yaml"

DURATION="${DURATION:-10s}"
ROUNDS="${ROUNDS:-3}"
EVENTS="${EVENTS:-20000}"

bench_args "$@"
if ((QUICK)); then DURATION=3s; ROUNDS=1; fi

declare -A RPS P50 P99 CPU ERRS
declare -A ALL_RPS ALL_P50 ALL_P99 ALL_CPU ALL_ERRS

median() {          # median of whitespace-separated numbers
    printf '%s\n' $1 | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

measure() {         # measure NAME URL ROUND
    local name=$1 url=$2 raw="$OUT/lambda-bench-$1-$3.txt"
    run_wrk "$OUT/lambda-bench-$name.warmup.txt" 1s "$url" || true
    measure_wrk "$raw" "$DURATION" "$TG_PID" "$url" || { log "wrk failed for $name (see $raw)"; BROKEN=1; }
    RPS[$name]=$W_RPS
    P50[$name]=$W_P50
    P99[$name]=$W_P99
    CPU[$name]=$W_CPU
    ERRS[$name]=$W_ERRS
    log "round $3 $name: ${RPS[$name]:-?} req/s, p50 ${P50[$name]:-?}us, p99 ${P99[$name]:-?}us, cpu ${CPU[$name]:-?}us/req, errors ${ERRS[$name]}"
    ALL_RPS[$name]+=" ${RPS[$name]:-}"
    ALL_P50[$name]+=" ${P50[$name]:-}"
    ALL_P99[$name]+=" ${P99[$name]:-}"
    ALL_CPU[$name]+=" ${CPU[$name]:-}"
    [[ "${ERRS[$name]}" == 0 ]] || ALL_ERRS[$name]+="${ALL_ERRS[$name]:+; }round $3: ${ERRS[$name]}"
}

# ------------------------------------------------------------------- main --
install_tools nginx wrk valgrind
require_tools taskset awk curl
check_pinning
make_tmp tollgate-bench-lambda

if ((BUILD)); then build_release; fi
require_bin
check_ports_free 8093 9001
LOAD1=$(load1)

start_nginx lambda-backend "$BENCH/nginx/lambda-backend.conf" 9001 "$LOADGEN_CPU"

start_server tollgate tollgate-lambda 8093 30 \
    taskset -c "$SERVER_CPU" "$BIN" run "$CONF" --workers 1 --no-admin
TG_PID=$SERVER_PID

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
stop_pid "$TG_PID" tollgate 10
stop_pid "$NGINX_PID" "nginx lambda-backend" 10

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
R=$(ratio "${RPS[lambda]:-}" "${RPS[proxy]:-}")
C=$(ratio "${CPU[lambda]:-}" "${CPU[proxy]:-}")
if [[ -z "$R" ]]; then VERDICT="MISS (no data)"
elif awk -v r="$R" 'BEGIN { exit !(r >= 0.8) }'; then VERDICT=PASS
else VERDICT=MISS; fi

REV=$(bench_rev)
SECTION=$(
    echo "<!-- bench:lambda:start -->"
    echo "## Lambda: lambda route vs http_proxy route (bench/lambda.sh)"
    echo
    echo "- date: $(bench_date); tollgate: $REV; load average $LOAD1 at start"
    echo "- setup: one tollgate (--workers 1, CPU $SERVER_CPU), one origin nginx on :9001 serving the Invoke API and GET (CPU $LOADGEN_CPU, with wrk); $ROUNDS rounds of wrk -t1 -c64 -d$DURATION --latency per route (1 s warm-up each), alternating routes; medians shown"
    echo "- req/s per round: proxy${ALL_RPS[proxy]:-}; lambda${ALL_RPS[lambda]:-}"
    echo
    echo "| route | req/s (median) | p50 | p99 | CPU µs/req | errors |"
    echo "|---|---:|---:|---:|---:|---|"
    for r in proxy lambda; do
        label="GET /$r"
        [[ $r == proxy ]] && label="GET /proxy (http_proxy)" || label="GET /lambda (lambda, payload 2.0)"
        printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$(fmt_num "${RPS[$r]:-}")" \
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

write_section lambda "$SECTION"
log "wrote $RESULTS"
((BROKEN == 0)) || { log "something broke (see above and bench/out/)"; exit 1; }
exit 0
