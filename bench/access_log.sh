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

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
OUT="$BENCH/out"
RESULTS="$BENCH/RESULTS.md"
BIN="$ROOT/target/release/tollgate"
DURATION="${DURATION:-10s}"
DRIVER="${DRIVER:-auto}"
ROUNDS="${ROUNDS:-3}"
LOADGEN_CPU="${LOADGEN_CPU:-0}"
SERVER_CPU="${SERVER_CPU:-1}"
ADMIN=127.0.0.1:9912
BUILD=1

for arg in "$@"; do
    case "$arg" in
        --quick) DURATION=3s; ROUNDS=1 ;;
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "access_log.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

STARTED=()
TMP=""
BROKEN=0
is_alive() {
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
    for pid in "${STARTED[@]+"${STARTED[@]}"}"; do is_alive "$pid" && kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${STARTED[@]+"${STARTED[@]}"}"; do
        for ((i = 0; i < 50; i++)); do is_alive "$pid" || break; sleep 0.1; done
        is_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$TMP" && -d "$TMP" ]]; then
        cp "$TMP"/*.log "$OUT"/ 2>/dev/null || true
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

for t in nginx wrk taskset curl; do
    command -v "$t" >/dev/null || die "$t not found (apt-get install -y nginx wrk curl)"
done
taskset -c "$SERVER_CPU" true 2>/dev/null || die "cannot pin to CPU $SERVER_CPU; this benchmark needs 2 CPUs"

port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
wait_for_port() {
    local port=$1 pid=$2 name=$3 i
    for ((i = 0; i < 300; i++)); do
        port_open "$port" && return 0
        is_alive "$pid" || { log "$name exited before listening on :$port"; return 1; }
        sleep 0.1
    done
    return 1
}
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 400; i++)); do is_alive "$pid" || break; sleep 0.1; done
    is_alive "$pid" && { kill -KILL "$pid" 2>/dev/null || true; BROKEN=1; log "pid $pid ignored SIGTERM"; }
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
}

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() {
    local pid sum=0 t
    for pid in "$@"; do
        t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}
to_us() {
    awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        m = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : -1
        if (m < 0 || v == "") print ""; else printf "%.1f", n * m }'
}
run_wrk() {
    local out=$1 dur=$2 pid rc=0
    taskset -c "$LOADGEN_CPU" wrk -t1 -c64 -d"$dur" --latency "$URL" >"$out" 2>&1 &
    pid=$!
    STARTED+=("$pid")
    wait "$pid" || rc=$?
    forget_pid "$pid"
    return "$rc"
}

declare -A RPS P50 P99 CPU REQS ERRS ALL_RPS
measure() {   # measure KEY PIDS...  (KEY = config#round)
    local key=$1 before after f="$OUT/accesslog-${1/\#/-}.txt"
    shift
    run_wrk "$OUT/accesslog-${key/\#/-}.warmup.txt" 1s || true
    before=$(cpu_ticks "$@")
    run_wrk "$f" "$DURATION" || { log "wrk failed for $key"; BROKEN=1; }
    after=$(cpu_ticks "$@")
    RPS[$key]=$(awk '/^Requests\/sec:/ {print $2}' "$f")
    REQS[$key]=$(awk '/ requests in / {print $1}' "$f")
    P50[$key]=$(to_us "$(awk '$1 == "50%" {print $2}' "$f")")
    P99[$key]=$(to_us "$(awk '$1 == "99%" {print $2}' "$f")")
    ERRS[$key]=$(awk '/Socket errors|Non-2xx/ {for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) s += $i} END {print s + 0}' "$f")
    CPU[$key]=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="${REQS[$key]:-0}" 'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n }')
    log "$key: ${RPS[$key]} req/s, p50 ${P50[$key]} µs, p99 ${P99[$key]} µs, ${CPU[$key]} CPU µs/req, errors ${ERRS[$key]}"
}

mkdir -p "$OUT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench-log.XXXXXX")
chmod 755 "$TMP"
mkdir -p "$TMP/tmp"
FSTYPE=$(df -T "$TMP" | awk 'NR == 2 {print $2}')
if ((BUILD)); then
    log "building release"
    (cd "$ROOT" && cargo build --release --locked) >&2 || die "release build failed"
fi
[[ -x "$BIN" ]] || die "$BIN not found"
for p in 8090 8091; do port_open "$p" && die "port $p is in use"; done
LOAD1=$(awk '{print $1}' /proc/loadavg)

# -- configurations ----------------------------------------------------------
cp "$BENCH/gateway.yaml" "$TMP/off.yaml"
TG_LOG="$TMP/tollgate-access.log"
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

NG_LOG="$TMP/nginx-access.log"
sed -e "s|access_log off;|log_format tg_json escape=json '{\"requestId\":\"\$request_id\",\"ip\":\"\$remote_addr\",\"requestTime\":\"\$time_local\",\"httpMethod\":\"\$request_method\",\"routeKey\":\"\$uri\",\"status\":\"\$status\",\"protocol\":\"\$server_protocol\",\"responseLength\":\"\$body_bytes_sent\"}';\n    access_log $NG_LOG tg_json;|" \
    "$BENCH/nginx/return.conf" >"$TMP/return-log.conf"
grep -q "access_log $NG_LOG" "$TMP/return-log.conf" || die "could not enable access_log in nginx/return.conf"

# -- runs --------------------------------------------------------------------
start_tollgate() {  # start_tollgate NAME CONFIG
    taskset -c "$SERVER_CPU" "$BIN" run "$2" --workers 1 --driver "$DRIVER" --admin "$ADMIN" \
        >"$TMP/tollgate-$1.stdout.log" 2>"$TMP/tollgate-$1.stderr.log" &
    TG_PID=$!
    STARTED+=("$TG_PID")
    wait_for_port 8090 "$TG_PID" tollgate || { tail "$TMP/tollgate-$1.stderr.log" >&2; die "tollgate did not start"; }
}
metric() {  # metric NAME -> summed value of that family on the admin listener
    curl -s "http://$ADMIN/metrics" | awk -v n="$1" '$1 ~ "^"n"[{ ]" || $1 == n {s += $NF} END {printf "%d", s}'
}
start_nginx() {  # start_nginx NAME CONF
    taskset -c "$SERVER_CPU" nginx -p "$TMP" -c "$2" -e "$TMP/nginx-$1-error.log" >"$TMP/nginx-$1.stdout.log" 2>&1 &
    NG_PID=$!
    STARTED+=("$NG_PID")
    wait_for_port 8091 "$NG_PID" nginx || { tail "$TMP/nginx-$1-error.log" >&2; die "nginx did not start"; }
}

TG_WRITTEN=0; TG_DROPPED=0
for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round of $ROUNDS"
    URL=http://127.0.0.1:8090/mock
    start_tollgate off "$TMP/off.yaml"
    measure "tollgate-off#$round" "$TG_PID"
    stop_pid "$TG_PID"

    rm -f "$TG_LOG"
    start_tollgate on "$TMP/on.yaml"
    measure "tollgate-on#$round" "$TG_PID"
    sleep 1.5   # one metrics publication and a log flush
    TG_WRITTEN=$((TG_WRITTEN + $(metric tollgate_access_log_lines)))
    TG_DROPPED=$((TG_DROPPED + $(metric tollgate_access_log_dropped_lines)))
    stop_pid "$TG_PID"
    TG_LINES=$(( ${TG_LINES:-0} + $(wc -l <"$TG_LOG") ))
    head -n 1 "$TG_LOG" >"$OUT/accesslog-tollgate-sample.txt" || true

    URL=http://127.0.0.1:8091/mock
    start_nginx off "$BENCH/nginx/return.conf"
    measure "nginx-off#$round" "$NG_PID" $(pgrep -P "$NG_PID" || true)
    stop_pid "$NG_PID"
    rm -f "$NG_LOG"
    start_nginx on "$TMP/return-log.conf"
    measure "nginx-on#$round" "$NG_PID" $(pgrep -P "$NG_PID" || true)
    stop_pid "$NG_PID"
    NG_LINES=$(( ${NG_LINES:-0} + $(wc -l <"$NG_LOG") ))
    head -n 1 "$NG_LOG" >"$OUT/accesslog-nginx-sample.txt" || true
done

# The median round of each configuration (by req/s) stands for it.
for k in tollgate-off tollgate-on nginx-off nginx-on; do
    best=$(for ((r = 1; r <= ROUNDS; r++)); do echo "${RPS[$k#$r]:-0} $r"; done | sort -n | awk -v n="$ROUNDS" 'NR == int((n + 1) / 2) {print $2}')
    RPS[$k]=${RPS[$k#$best]:-}; P50[$k]=${P50[$k#$best]:-}; P99[$k]=${P99[$k#$best]:-}
    CPU[$k]=${CPU[$k#$best]:-}; REQS[$k]=${REQS[$k#$best]:-}; ERRS[$k]=${ERRS[$k#$best]:-}
    ALL_RPS[$k]=$(for ((r = 1; r <= ROUNDS; r++)); do printf '%.0f ' "${RPS[$k#$r]:-0}"; done)
done

# -- report ------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
fmt_us() { awk -v v="$1" 'BEGIN { if (v == "") print "n/a"; else if (v >= 1000) printf "%.2f ms", v / 1000; else printf "%.0f µs", v }'; }
TABLE=$(
    echo "| server | access log | req/s (median of $ROUNDS) | p50 | p99 | CPU µs/req | errors | req/s of each round |"
    echo "|---|---|---:|---:|---:|---:|---:|---|"
    for k in tollgate-off tollgate-on nginx-off nginx-on; do
        s=${k%-*}; o=${k#*-}
        [[ $o == on ]] && o="JSON → file" || o="off"
        printf '| %s | %s | %.0f | %s | %s | %s | %s | %s|\n' "$s" "$o" "${RPS[$k]:-0}" "$(fmt_us "${P50[$k]:-}")" "$(fmt_us "${P99[$k]:-}")" "${CPU[$k]:-n/a}" "${ERRS[$k]:-?}" "${ALL_RPS[$k]:-}"
    done
)
T_RATIO=$(ratio "${RPS[tollgate-on]:-}" "${RPS[tollgate-off]:-}")
N_RATIO=$(ratio "${RPS[nginx-on]:-}" "${RPS[nginx-off]:-}")
TN_RATIO=$(ratio "${RPS[tollgate-on]:-}" "${RPS[nginx-on]:-}")
TN_CPU=$(ratio "${CPU[tollgate-on]:-}" "${CPU[nginx-on]:-}")
VERDICT=$(awk -v r="$T_RATIO" 'BEGIN { if (r == "n/a") print "MISS (no data)"; else print (r + 0 >= 0.95) ? "PASS" : "MISS" }')
TG_EXPECTED=0
for ((r = 1; r <= ROUNDS; r++)); do TG_EXPECTED=$((TG_EXPECTED + ${REQS[tollgate-on#$r]:-0})); done
RATIOS=$(
    echo "- tollgate, log on / off: req/s ${T_RATIO}× — target ≥ 0.95×: $VERDICT; CPU µs/req $(ratio "${CPU[tollgate-on]:-}" "${CPU[tollgate-off]:-}")×"
    echo "- nginx, log on / off: req/s ${N_RATIO}×; CPU µs/req $(ratio "${CPU[nginx-on]:-}" "${CPU[nginx-off]:-}")×"
    echo "- with the log on, tollgate / nginx: req/s ${TN_RATIO}×, CPU/req ${TN_CPU}×"
    echo "- lines in the log files over all rounds: tollgate $TG_LINES (metrics: $TG_WRITTEN written, $TG_DROPPED dropped; the measured runs alone sent $TG_EXPECTED requests, plus the warm-ups), nginx $NG_LINES"
)
REV=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)
SETUP="load average $LOAD1 at start; $ROUNDS rounds, interleaved; wrk -t1 -c64 -d$DURATION --latency (1s warm-up) on CPU $LOADGEN_CPU; server (all threads) on CPU $SERVER_CPU; tollgate --workers 1 --driver $DRIVER; nginx worker_processes 1; log files on $FSTYPE"
SECTION=$(
    echo "<!-- bench:accesslog:start -->"
    echo "## Access log on vs off (JSON to a file)"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); kernel $(uname -r); $(nproc) CPUs; tollgate $REV; $(nginx -v 2>&1 | sed 's/^nginx version: //')"
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

if [[ ! -f "$RESULTS" ]]; then
    printf '# tollgate benchmark results\n\nWritten by the bench scripts; each script owns one marked section.\n' >"$RESULTS"
fi
printf '%s\n' "$SECTION" >"$TMP/section.md"
if grep -q '<!-- bench:accesslog:start -->' "$RESULTS" && grep -q '<!-- bench:accesslog:end -->' "$RESULTS"; then
    awk -v sf="$TMP/section.md" '
        /<!-- bench:accesslog:start -->/ { while ((getline l < sf) > 0) print l; skip = 1; next }
        /<!-- bench:accesslog:end -->/ { skip = 0; next }
        !skip { print }' "$RESULTS" >"$TMP/results.new"
    cat "$TMP/results.new" >"$RESULTS"
else
    { echo; cat "$TMP/section.md"; } >>"$RESULTS"
fi
log "wrote $RESULTS"
((BROKEN)) && { log "something broke; see bench/out/"; exit 1; }
exit 0
