#!/usr/bin/env bash
# Throttling and API keys: what the limiter costs a request, and what
# 100,000 API keys cost in memory and per lookup.
#
#   bash bench/throttle.sh [--quick] [--no-build]
#
#   --quick      DURATION=3s, ROUNDS=1 (smoke test)
#   --no-build   use the existing target/release binaries
#   env DURATION=10s  ROUNDS=3  LOADGEN_CPU=0 SERVER_CPU=1  DRIVER=auto  KEYS=100000
#
# Runs (wrk -t1 -c64 --latency on LOADGEN_CPU, tollgate --workers 1 on
# SERVER_CPU), GET /mock answered by the gateway, as in bench/gateway.yaml:
#   unthrottled  no limit at all (`throttling: unlimited`, no stage throttle)
#   throttled    the same route under the account throttle and a route
#                throttle of the stage (route_settings), both far above the
#                load, so every request passes through two buckets
#   keyed        the throttled route with `api_key_required`: X-API-Key
#                hashed and looked up, the key's usage plan quota and
#                throttle, then the two buckets
#   keyed, N keys  the keyed run with KEYS keys loaded (imported from CSV)
# interleaved ROUNDS times; each configuration's median round is shown.
# Target: throttled req/s ≥ 0.97× unthrottled. Then: the gateway's RSS with
# KEYS keys vs one key, its load time, and examples/keys_bench (bytes per
# key in the table, SHA-256 + lookup ns). Writes the section between
# <!-- bench:throttle:start --> and <!-- bench:throttle:end --> of
# bench/RESULTS.md. A target miss never fails the script; it exits 1 only
# when something broke.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"   # ROOT BENCH OUT RESULTS BIN LOADGEN_CPU SERVER_CPU, helpers, traps

KEYS_BENCH="$ROOT/target/release/examples/keys_bench"
FIXED_LOAD="$ROOT/target/release/examples/fixed_load"
DURATION="${DURATION:-10s}"
DRIVER="${DRIVER:-auto}"
ROUNDS="${ROUNDS:-3}"
KEYS="${KEYS:-100000}"
PORT=8094
KEY_VALUE="bench-key-00000000000000000007-abcdefghij"

bench_args "$@"
if ((QUICK)); then DURATION=3s; ROUNDS=1; fi

require_tools wrk taskset
check_pinning

make_tmp tollgate-bench-throttle
if ((BUILD)); then
    build_release
    build_release --example keys_bench --example fixed_load
fi
require_bin
check_ports_free "$PORT"
LOAD1=$(load1)

# -- configurations ------------------------------------------------------------
conf() {  # conf NAME ACCOUNT STAGE_EXTRA ROUTE_EXTRA TOP_EXTRA
    cat >"$TMP/$1.yaml" <<EOF
listeners:
  - name: bench
    address: 127.0.0.1:$PORT
state_dir: $TMP/state-$1
throttling: $2
$5
apis:
  - name: bench
    protocol: http
    stages:
      - name: \$default
$3
    routes:
      - route: GET /mock
$4
        integration:
          type: mock
          status: 200
          headers:
            content-type: text/plain
          body: ok
EOF
}
HIGH="{rate: 10000000, burst: 10000000}"
STAGE="        route_settings:
          \"GET /mock\": {throttling: $HIGH}"
PLAN="api_keys:
  - {name: bench, value: $KEY_VALUE, usage_plans: [bench]}
usage_plans:
  - name: bench
    throttle: $HIGH
    quota: {limit: 1000000000000, period: MONTH}
    api_stages: [{api: bench, stage: \$default}]"
conf unthrottled unlimited "" "" ""
conf throttled "$HIGH" "$STAGE" "" ""
conf keyed "$HIGH" "$STAGE" "        api_key_required: true" "$PLAN"
log "writing $KEYS API keys"
awk -v n="$KEYS" 'BEGIN { print "Name,Key,UsagePlanIds"
    for (i = 0; i < n; i++) printf "k%d,bench-key-%020d-abcdefghij,bench\n", i, i }' >"$TMP/keys.csv"
conf manykeys "$HIGH" "$STAGE" "        api_key_required: true" "api_keys_csv: $TMP/keys.csv
usage_plans:
  - name: bench
    throttle: $HIGH
    quota: {limit: 1000000000000, period: MONTH}
    api_stages: [{api: bench, stage: \$default}]"
for c in unthrottled throttled keyed manykeys; do
    "$BIN" validate "$TMP/$c.yaml" >/dev/null || die "$c.yaml does not validate"
done

# -- runs ----------------------------------------------------------------------
TG_PID=""
START_MS=0
start_tollgate() {  # start_tollgate NAME; sets TG_PID, START_MS (time until listening)
    local t0 i
    t0=$(date +%s%N)
    taskset -c "$SERVER_CPU" "$BIN" run "$TMP/$1.yaml" --workers 1 --driver "$DRIVER" --no-admin \
        >"$TMP/tollgate-$1.stdout.log" 2>"$TMP/tollgate-$1.stderr.log" &
    TG_PID=$!
    track "$TG_PID"
    for ((i = 0; i < 600; i++)); do
        grep -q "listening" "$TMP/tollgate-$1.stdout.log" 2>/dev/null && break
        is_alive "$TG_PID" || { tail "$TMP/tollgate-$1.stderr.log" >&2; die "tollgate ($1) exited"; }
        sleep 0.02
    done
    START_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
    sleep 0.3
}

declare -A RPS P99 CPU ERRS ALL_RPS RSS LOADMS
measure() {  # measure KEY (tollgate running as TG_PID)
    local key=$1 f="$OUT/throttle-${1/\#/-}.txt" hdr=()
    [[ $key == keyed* || $key == manykeys* ]] && hdr=(-H "X-API-Key: $KEY_VALUE")
    run_wrk /dev/null 1s "${hdr[@]}" "http://127.0.0.1:$PORT/mock" || true
    measure_wrk "$f" "$DURATION" "$TG_PID" "${hdr[@]}" "http://127.0.0.1:$PORT/mock" ||
        { log "wrk failed for $key"; BROKEN=1; }
    RPS[$key]=$W_RPS
    P99[$key]=$W_P99
    ERRS[$key]=$W_ERRN
    CPU[$key]=$W_CPU
    log "$key: ${RPS[$key]} req/s, p99 ${P99[$key]} µs, ${CPU[$key]} CPU µs/req, errors ${ERRS[$key]}"
}

CONFIGS=(unthrottled throttled keyed manykeys)
for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round of $ROUNDS"
    for c in "${CONFIGS[@]}"; do
        start_tollgate "$c"
        LOADMS[$c]=$START_MS
        RSS[$c]=$(rss_kb "$TG_PID")
        measure "$c#$round"
        stop_pid "$TG_PID" tollgate
    done
done
for k in "${CONFIGS[@]}"; do
    best=$(median_round RPS "$k" "$ROUNDS")
    RPS[$k]=${RPS[$k#$best]:-}; P99[$k]=${P99[$k#$best]:-}; CPU[$k]=${CPU[$k#$best]:-}; ERRS[$k]=${ERRS[$k#$best]:-}
    ALL_RPS[$k]=$(each_round RPS "$k" "$ROUNDS")
done

# Instructions per request: stable where req/s is not (a shared, busy box).
# Each configuration serves IR_LOW and IR_HIGH requests under callgrind
# (one worker, epoll: valgrind has no io_uring), counting the worker thread
# only (the busiest thread), so timers of other threads do not blur it; the
# difference of the two totals over the difference of the counts is one
# request's instructions. Threads are told apart by their number (creation
# order, the same in both runs); the worker is the one whose count grows
# with the requests. Valgrind's CPU has no SHA extensions: SHA-256
# runs its portable code there (natively, keys_bench below times it).
IR_LOW=2000
IR_HIGH=12000
declare -A IR
ir_total() {  # ir_total CONFIG COUNT -> "THREAD INSTRUCTIONS" per thread of a run serving COUNT requests
    local c=$1 n=$2 pid i hdr=()
    [[ $c == keyed || $c == manykeys ]] && hdr=("X-API-Key: $KEY_VALUE")
    : >"$TMP/vg-$c.out"
    rm -f "$TMP/cg-$c-$n".*
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$TMP/cg-$c-$n.%p" \
        "$BIN" run "$TMP/$c.yaml" --workers 1 --driver epoll --no-admin \
        >"$TMP/vg-$c.out" 2>"$TMP/vg-$c-$n.log" &
    pid=$!
    track "$pid"
    for ((i = 0; i < 1200; i++)); do
        grep -q listening "$TMP/vg-$c.out" && break
        is_alive "$pid" || break
        sleep 0.1
    done
    "$FIXED_LOAD" "127.0.0.1:$PORT" /mock "$n" "${hdr[@]}" >&2 || { log "fixed_load failed for $c"; BROKEN=1; }
    stop_pid "$pid" "tollgate ($c, callgrind)"
    for f in "$TMP/cg-$c-$n".*-*; do
        [[ -f $f ]] && awk -v t="${f##*-}" '/^totals:/ { print t, $2 }' "$f"
    done
}
if command -v valgrind >/dev/null && [[ -x "$FIXED_LOAD" ]]; then
    for c in "${CONFIGS[@]}"; do
        ir_total "$c" "$IR_LOW" >"$TMP/ir-$c-low.txt"
        ir_total "$c" "$IR_HIGH" >"$TMP/ir-$c-high.txt"
        IR[$c]=$(awk -v n=$((IR_HIGH - IR_LOW)) '
            NR == FNR { low[$1] = $2; next }
            ($1 in low) && $2 - low[$1] > d { d = $2 - low[$1] }
            END { if (d > 0) printf "%.0f", d / n }' "$TMP/ir-$c-low.txt" "$TMP/ir-$c-high.txt")
        log "$c: ${IR[$c]} instructions per request"
    done
else
    log "valgrind not found: no instruction counts (apt-get install -y valgrind)"
fi

log "keys_bench: $KEYS keys in the table"
KB=$("$KEYS_BENCH" "$KEYS") || { log "keys_bench failed"; BROKEN=1; KB=""; }
kb() { awk -v k="$1" '$1 == k {print $2}' <<<"$KB"; }

# -- report --------------------------------------------------------------------
ratio3() { ratio "$1" "$2" 3 n/a; }   # A / B, three decimals, n/a without data
label() {
    case $1 in
        unthrottled) echo "unthrottled (no limit)" ;;
        throttled) echo "throttled (account + route throttle)" ;;
        keyed) echo "keyed (API key, plan quota + throttle, route, account)" ;;
        manykeys) echo "keyed, $KEYS keys loaded" ;;
    esac
}
TABLE=$(
    echo "| route | req/s (median of $ROUNDS) | × unthrottled | p99 | CPU µs/req | instructions/req | × unthrottled | errors | RSS at start | start to listening | req/s of each round |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    for k in "${CONFIGS[@]}"; do
        printf '| %s | %.0f | %s | %s | %s | %s | %s | %s | %s MiB | %s ms | %s|\n' "$(label "$k")" "${RPS[$k]:-0}" \
            "$(ratio3 "${RPS[$k]:-}" "${RPS[unthrottled]:-}")" "$(fmt_us "${P99[$k]:-}")" "${CPU[$k]:-n/a}" \
            "${IR[$k]:-n/a}" "$(ratio3 "${IR[$k]:-}" "${IR[unthrottled]:-}")" "${ERRS[$k]:-?}" \
            "$(awk -v k="${RSS[$k]:-0}" 'BEGIN {printf "%.1f", k / 1024}')" "${LOADMS[$k]:-?}" "${ALL_RPS[$k]:-}"
    done
)
T_RATIO=$(ratio3 "${RPS[throttled]:-}" "${RPS[unthrottled]:-}")
VERDICT=$(awk -v r="$T_RATIO" 'BEGIN { if (r == "n/a") print "MISS (no data)"; else print (r + 0 >= 0.97) ? "PASS" : "MISS" }')
# The same target on instructions: unthrottled/throttled instructions per
# request is the req/s ratio a CPU-bound server would show.
I_RATIO=$(ratio3 "${IR[unthrottled]:-}" "${IR[throttled]:-}")
I_VERDICT=$(awk -v r="$I_RATIO" 'BEGIN { if (r == "n/a") print "n/a"; else print (r + 0 >= 0.97) ? "PASS" : "MISS" }')
RSS_PER_KEY=$(awk -v a="${RSS[manykeys]:-0}" -v b="${RSS[keyed]:-0}" -v n="$KEYS" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
NOTES=$(
    echo "- throttled / unthrottled req/s: ${T_RATIO}× — target ≥ 0.97×: $VERDICT"
    echo "- by instructions (callgrind, worker thread, $IR_LOW vs $IR_HIGH requests): the throttled route runs $(awk -v a="${IR[throttled]:-0}" -v b="${IR[unthrottled]:-0}" 'BEGIN {printf "%+d", a - b}') instructions per request more than the unthrottled one, $(awk -v a="${IR[keyed]:-0}" -v b="${IR[unthrottled]:-0}" 'BEGIN {printf "%+d", a - b}') keyed; as a req/s ratio for a CPU-bound server: ${I_RATIO}× — target ≥ 0.97×: $I_VERDICT"
    echo "- keyed / unthrottled req/s: $(ratio3 "${RPS[keyed]:-}" "${RPS[unthrottled]:-}")×; with $KEYS keys loaded: $(ratio3 "${RPS[manykeys]:-}" "${RPS[unthrottled]:-}")×"
    echo "- $KEYS API keys: gateway RSS +$(awk -v a="${RSS[manykeys]:-0}" -v b="${RSS[keyed]:-0}" 'BEGIN {printf "%.1f", (a - b) / 1024}') MiB over one key (${RSS_PER_KEY} B per key; the configuration, its snapshot encoding and the key table); start to listening ${LOADMS[manykeys]:-?} ms vs ${LOADMS[keyed]:-?} ms (CSV read, $KEYS SHA-256s, validation)"
    echo "- key table alone (examples/keys_bench, $KEYS keys): $(kb bytes_per_key) B per key, built in $(kb build_ms) ms; a lookup as a request does it (SHA-256 of the value + one probe): $(kb lookup_hit_ns) ns for a known key, $(kb lookup_miss_ns) ns for an unknown one, of which SHA-256 alone $(kb sha256_ns) ns"
)
REV=$(bench_rev)
SETUP="load average $LOAD1 at start; $ROUNDS rounds, interleaved; wrk -t1 -c64 -d$DURATION --latency (1s warm-up) on CPU $LOADGEN_CPU; tollgate --workers 1 --driver $DRIVER on CPU $SERVER_CPU; limits far above the load (every request passes through them)"
SECTION=$(
    echo "<!-- bench:throttle:start -->"
    echo "## Throttling and API keys (bench/throttle.sh)"
    echo
    echo "- date: $(bench_date); kernel $(uname -r); $(nproc) CPUs; tollgate $REV"
    echo "- setup: $SETUP"
    echo
    echo "$TABLE"
    echo
    echo "$NOTES"
    echo "<!-- bench:throttle:end -->"
)
echo
echo "$TABLE"
echo
echo "$NOTES"
echo "($SETUP)"

write_section throttle "$SECTION"
log "wrote the throttle section of $RESULTS"
((BROKEN == 0)) || exit 1
