#!/usr/bin/env bash
# Access log cost: the mock route with a JSON access log written to a file,
# on vs off, for tollgate and for nginx (`return 200` with `access_log` on),
# in one run on this box.
#
#   bash bench/access_log.sh [--quick] [--no-build]
#
#   --quick      DURATION=3s (smoke test)
#   --no-build   use the existing target/release/tollgate
#   env DURATION=10s  LOADGEN_CPU=0 SERVER_CPU=1  DRIVER=auto  ROUNDS=3
#
# Four runs (wrk -t1 -c64 --latency on LOADGEN_CPU; the server under test,
# all its threads, on SERVER_CPU — tollgate's log writer thread shares the
# worker's CPU, as nginx's write(2) calls do):
#   tollgate  GET /mock, no access log               (bench/gateway.yaml)
#   tollgate  GET /mock, access_log json -> file     (+ access_log on the stage)
#   nginx     return 200, access_log off             (bench/nginx/return.conf)
#   nginx     return 200, access_log json -> file    (bench/nginx/return-log.conf)
# The four runs repeat ROUNDS times, interleaved (off, on, off, on, …), and
# the table shows each configuration's median run, so a burst of other load
# on this shared box skews one round, not the result.
# Log files go to a temp dir on $TMPDIR's filesystem (its type is recorded).
# Prints a table, the on/off ratios (target: tollgate with the log ≥ 0.95×
# its req/s without), the lines each log received and the lines tollgate
# dropped (tollgate_access_log_dropped_lines), and writes the section between
# <!-- bench:accesslog:start --> and <!-- bench:accesslog:end --> of
# bench/RESULTS.md. A target miss never fails the script; it exits 1 only when
# something broke.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"   # ROOT BENCH OUT RESULTS BIN LOADGEN_CPU SERVER_CPU, helpers, traps

DURATION="${DURATION:-10s}"
DRIVER="${DRIVER:-auto}"
ROUNDS="${ROUNDS:-3}"
ADMIN=127.0.0.1:9912

bench_args "$@"
if ((QUICK)); then DURATION=3s; ROUNDS=1; fi

require_tools nginx wrk taskset curl
check_pinning

declare -A RPS P50 P99 CPU REQS ERRS ALL_RPS
measure() {   # measure KEY PIDS...  (KEY = config#round)
    local key=$1 f="$OUT/accesslog-${1/\#/-}.txt"
    shift
    run_wrk "$OUT/accesslog-${key/\#/-}.warmup.txt" 1s "$URL" || true
    measure_wrk "$f" "$DURATION" "$*" "$URL" || { log "wrk failed for $key"; BROKEN=1; }
    RPS[$key]=$W_RPS
    REQS[$key]=$W_REQS
    P50[$key]=$W_P50
    P99[$key]=$W_P99
    ERRS[$key]=$W_ERRN
    CPU[$key]=$W_CPU
    log "$key: ${RPS[$key]} req/s, p50 ${P50[$key]} µs, p99 ${P99[$key]} µs, ${CPU[$key]} CPU µs/req, errors ${ERRS[$key]}"
}

make_tmp tollgate-bench-log
FSTYPE=$(df -T "$TMP" | awk 'NR == 2 {print $2}')
if ((BUILD)); then build_release; fi
require_bin
check_ports_free 8090 8091
LOAD1=$(load1)

# -- configurations ----------------------------------------------------------
cp "$BENCH/gateway.yaml" "$TMP/off.yaml"
# Not *.log: cleanup copies $TMP/*.log (server logs) to bench/out, and an
# access log of a run is tens of MB.
TG_LOG="$TMP/tollgate-access.jsonl"
# The same gateway with a JSON access log on its $default stage.
awk -v dest="$TG_LOG" '
    /^    stages: \[\$default\]$/ {
        print "    stages:"
        print "      - name: $default"
        print "        access_log:"
        print "          destination: " dest
        print "          format: json"
        next
    }
    { print }' "$BENCH/gateway.yaml" >"$TMP/on.yaml"
grep -q "access_log:" "$TMP/on.yaml" || die "could not add access_log to bench/gateway.yaml (its stages line changed?)"

NG_LOG="$TMP/nginx-access.jsonl"
sed -e "s|access_log off;|log_format tg_json escape=json '{\"requestId\":\"\$request_id\",\"ip\":\"\$remote_addr\",\"requestTime\":\"\$time_local\",\"httpMethod\":\"\$request_method\",\"routeKey\":\"\$uri\",\"status\":\"\$status\",\"protocol\":\"\$server_protocol\",\"responseLength\":\"\$body_bytes_sent\"}';\n    access_log $NG_LOG tg_json;|" \
    "$BENCH/nginx/return.conf" >"$TMP/return-log.conf"
grep -q "access_log $NG_LOG" "$TMP/return-log.conf" || die "could not enable access_log in nginx/return.conf"

# -- runs --------------------------------------------------------------------
start_tollgate() {  # start_tollgate NAME CONFIG -> TG_PID
    start_server tollgate "tollgate-$1" 8090 30 \
        taskset -c "$SERVER_CPU" "$BIN" run "$2" --workers 1 --driver "$DRIVER" --admin "$ADMIN"
    TG_PID=$SERVER_PID
}
metric() {  # metric NAME -> summed value of that family on the admin listener
    curl -s "http://$ADMIN/metrics" | awk -v n="$1" '$1 ~ "^"n"[{ ]" || $1 == n {s += $NF} END {printf "%d", s}'
}
start_nginx_mock() {  # start_nginx_mock NAME CONF -> NG_PID
    start_nginx "nginx-$1" "$2" 8091 "$SERVER_CPU"
    NG_PID=$NGINX_PID
}

TG_WRITTEN=0; TG_DROPPED=0
for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round of $ROUNDS"
    URL=http://127.0.0.1:8090/mock
    start_tollgate off "$TMP/off.yaml"
    measure "tollgate-off#$round" "$TG_PID"
    stop_pid "$TG_PID" tollgate

    rm -f "$TG_LOG"
    start_tollgate on "$TMP/on.yaml"
    measure "tollgate-on#$round" "$TG_PID"
    sleep 1.5   # one metrics publication and a log flush
    TG_WRITTEN=$((TG_WRITTEN + $(metric tollgate_access_log_lines)))
    TG_DROPPED=$((TG_DROPPED + $(metric tollgate_access_log_dropped_lines)))
    stop_pid "$TG_PID" tollgate
    TG_LINES=$(( ${TG_LINES:-0} + $(wc -l <"$TG_LOG") ))
    head -n 1 "$TG_LOG" >"$OUT/accesslog-tollgate-sample.txt" || true

    URL=http://127.0.0.1:8091/mock
    start_nginx_mock off "$BENCH/nginx/return.conf"
    measure "nginx-off#$round" "$NG_PID" $(pgrep -P "$NG_PID" || true)
    stop_pid "$NG_PID" nginx
    rm -f "$NG_LOG"
    start_nginx_mock on "$TMP/return-log.conf"
    measure "nginx-on#$round" "$NG_PID" $(pgrep -P "$NG_PID" || true)
    stop_pid "$NG_PID" nginx
    NG_LINES=$(( ${NG_LINES:-0} + $(wc -l <"$NG_LOG") ))
    head -n 1 "$NG_LOG" >"$OUT/accesslog-nginx-sample.txt" || true
done

# The median round of each configuration (by req/s) stands for it.
for k in tollgate-off tollgate-on nginx-off nginx-on; do
    best=$(median_round RPS "$k" "$ROUNDS")
    RPS[$k]=${RPS[$k#$best]:-}; P50[$k]=${P50[$k#$best]:-}; P99[$k]=${P99[$k#$best]:-}
    CPU[$k]=${CPU[$k#$best]:-}; REQS[$k]=${REQS[$k#$best]:-}; ERRS[$k]=${ERRS[$k#$best]:-}
    ALL_RPS[$k]=$(each_round RPS "$k" "$ROUNDS")
done

# -- report ------------------------------------------------------------------
TABLE=$(
    echo "| server | access log | req/s (median of $ROUNDS) | p50 | p99 | CPU µs/req | errors | req/s of each round |"
    echo "|---|---|---:|---:|---:|---:|---:|---|"
    for k in tollgate-off tollgate-on nginx-off nginx-on; do
        s=${k%-*}; o=${k#*-}
        [[ $o == on ]] && o="JSON → file" || o="off"
        printf '| %s | %s | %.0f | %s | %s | %s | %s | %s|\n' "$s" "$o" "${RPS[$k]:-0}" "$(fmt_us "${P50[$k]:-}")" "$(fmt_us "${P99[$k]:-}")" "${CPU[$k]:-n/a}" "${ERRS[$k]:-?}" "${ALL_RPS[$k]:-}"
    done
)
T_RATIO=$(ratio "${RPS[tollgate-on]:-}" "${RPS[tollgate-off]:-}" 2 n/a)
N_RATIO=$(ratio "${RPS[nginx-on]:-}" "${RPS[nginx-off]:-}" 2 n/a)
TN_RATIO=$(ratio "${RPS[tollgate-on]:-}" "${RPS[nginx-on]:-}" 2 n/a)
TN_CPU=$(ratio "${CPU[tollgate-on]:-}" "${CPU[nginx-on]:-}" 2 n/a)
VERDICT=$(awk -v r="$T_RATIO" 'BEGIN { if (r == "n/a") print "MISS (no data)"; else print (r + 0 >= 0.95) ? "PASS" : "MISS" }')
TG_EXPECTED=0
for ((r = 1; r <= ROUNDS; r++)); do TG_EXPECTED=$((TG_EXPECTED + ${REQS[tollgate-on#$r]:-0})); done
RATIOS=$(
    echo "- tollgate, log on / off: req/s ${T_RATIO}× — target ≥ 0.95×: $VERDICT; CPU µs/req $(ratio "${CPU[tollgate-on]:-}" "${CPU[tollgate-off]:-}" 2 n/a)×"
    echo "- nginx, log on / off: req/s ${N_RATIO}×; CPU µs/req $(ratio "${CPU[nginx-on]:-}" "${CPU[nginx-off]:-}" 2 n/a)×"
    echo "- with the log on, tollgate / nginx: req/s ${TN_RATIO}×, CPU/req ${TN_CPU}×"
    echo "- lines in the log files over all rounds: tollgate $TG_LINES (metrics: $TG_WRITTEN written, $TG_DROPPED dropped; the measured runs alone sent $TG_EXPECTED requests, plus the warm-ups), nginx $NG_LINES"
)
REV=$(bench_rev)
SETUP="load average $LOAD1 at start; $ROUNDS rounds, interleaved; wrk -t1 -c64 -d$DURATION --latency (1s warm-up) on CPU $LOADGEN_CPU; server (all threads) on CPU $SERVER_CPU; tollgate --workers 1 --driver $DRIVER; nginx worker_processes 1; log files on $FSTYPE"
SECTION=$(
    echo "<!-- bench:accesslog:start -->"
    echo "## Access log on vs off (JSON to a file)"
    echo
    echo "- date: $(bench_date); kernel $(uname -r); $(nproc) CPUs; tollgate $REV; $(nginx -v 2>&1 | sed 's/^nginx version: //')"
    echo "- setup: $SETUP"
    echo "- formats: tollgate \`format: json\` (API Gateway's HTTP API JSON sample, 8 fields); nginx \`log_format escape=json\` with the same 8 fields, unbuffered \`access_log\`"
    echo
    echo "$TABLE"
    echo
    echo "$RATIOS"
    echo "<!-- bench:accesslog:end -->"
)
echo
echo "$TABLE"
echo
echo "$RATIOS"
echo "($SETUP)"

write_section accesslog "$SECTION"
log "wrote $RESULTS"
((BROKEN)) && { log "something broke; see bench/out/"; exit 1; }
exit 0
