#!/usr/bin/env bash
# TLS and HTTP/2 benchmark: tollgate beside nginx (`listen … ssl http2`),
# the same ECDSA P-256 certificate, one worker each.
#
#   bash bench/tls.sh [--quick] [--no-build]
#
#   --quick      DURATION=3 (smoke test)
#   --no-build   use the existing target/release/tollgate
#   env DURATION=10       seconds per measured h2load run
#   env ROUNDS=3          rounds; each round runs nginx then tollgate, and
#                         the table shows each server's median round (the
#                         machine may be shared: alternating spreads the noise)
#   env LOADGEN_CPU=0 SERVER_CPU=1   CPU pinning (taskset -c)
#
# Scenarios (h2load pinned to LOADGEN_CPU, the server under test to
# SERVER_CPU; each server runs only during its own test):
#   h2       h2load -c 32 -m 10 over TLS (ALPN h2), GET of a fixed "ok"
#   h1       h2load --h1 -c 32 over TLS (keep-alive HTTP/1.1)
#   newconn  new TLS connections per second: h2load --h1 -c 200 -n 200
#            (one request per connection, full handshakes, no resumption),
#            repeated for DURATION seconds; the rate is connections / wall time
#
# Prints a table with tollgate/nginx ratios and writes the section between
# <!-- bench:tls:start --> and <!-- bench:tls:end --> of bench/RESULTS.md;
# raw outputs go to bench/out/. Reports the load average at start: the
# machine may be shared.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
OUT="$BENCH/out"
RESULTS="$BENCH/RESULTS.md"
BIN="$ROOT/target/release/tollgate"

DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-3}"
LOADGEN_CPU="${LOADGEN_CPU:-0}"
SERVER_CPU="${SERVER_CPU:-1}"
BUILD=1
for arg in "$@"; do
    case "$arg" in
        --quick) DURATION=3 ;;
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "tls.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

log() { printf '[bench:tls] %s\n' "$*" >&2; }
die() { printf '[bench:tls] ERROR: %s\n' "$*" >&2; exit 1; }

STARTED=()          # every PID this script started; the trap stops only these
TMP=""
is_alive() { [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }
cleanup() {
    local rc=$? pid i
    trap - EXIT INT TERM
    for pid in "${STARTED[@]+"${STARTED[@]}"}"; do is_alive "$pid" && kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${STARTED[@]+"${STARTED[@]}"}"; do
        for ((i = 0; i < 50; i++)); do is_alive "$pid" || break; sleep 0.1; done
        is_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    [[ -n "$TMP" && -d "$TMP" ]] && { cp "$TMP"/*.log "$OUT"/ 2>/dev/null || true; rm -rf "$TMP"; }
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

for t in nginx h2load openssl taskset; do
    command -v "$t" >/dev/null || die "$t not found (apt-get install -y nginx nghttp2-client openssl)"
done
port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
wait_for_port() {
    local port=$1 pid=$2 i
    for ((i = 0; i < 300; i++)); do
        port_open "$port" && return 0
        is_alive "$pid" || return 1
        sleep 0.1
    done
    return 1
}
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do is_alive "$pid" || break; sleep 0.1; done
    is_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

mkdir -p "$OUT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench-tls.XXXXXX")
mkdir -p "$TMP/tmp"
if ((BUILD)); then
    log "building release (cargo build --release --locked)"
    (cd "$ROOT" && cargo build --release --locked) >&2 || die "release build failed"
fi
[[ -x "$BIN" ]] || die "$BIN not found (build it or drop --no-build)"
for p in 8490 8491; do port_open "$p" && die "port $p on 127.0.0.1 is in use"; done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=bench.test -addext subjectAltName=DNS:bench.test \
    -keyout "$TMP/bench.key" -out "$TMP/bench.pem" 2>/dev/null || die "openssl req failed"
cp "$BENCH/tls.yaml" "$TMP/tls.yaml"
cp "$BENCH/nginx/tls.conf" "$TMP/nginx-tls.conf"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at start: $LOAD_START ($(nproc) CPUs; the machine may be shared)"

start_server() {    # start_server NAME -> SRV_PID, SRV_PORT
    case "$1" in
        nginx)
            taskset -c "$SERVER_CPU" nginx -p "$TMP" -c "$TMP/nginx-tls.conf" -e "$TMP/nginx-tls-error.log" \
                >"$TMP/nginx-tls.log" 2>&1 &
            SRV_PID=$!; SRV_PORT=8491 ;;
        tollgate)
            taskset -c "$SERVER_CPU" "$BIN" run "$TMP/tls.yaml" --workers 1 --no-admin \
                >"$TMP/tollgate-tls.stdout.log" 2>"$TMP/tollgate-tls.log" &
            SRV_PID=$!; SRV_PORT=8490 ;;
    esac
    STARTED+=("$SRV_PID")
    wait_for_port "$SRV_PORT" "$SRV_PID" || { tail -n 20 "$TMP"/*.log >&2; die "$1 did not start"; }
}

h2l() {             # h2l OUTFILE ARGS... (pinned)
    local out=$1; shift
    taskset -c "$LOADGEN_CPU" h2load "$@" >"$out" 2>&1 || true
}
rps_of() { awk '/^finished in/ { for (i = 1; i <= NF; i++) if ($i ~ /req\/s/) { v = $(i - 1); gsub(/,/, "", v); print v } }' "$1"; }
fail_of() { awk '/^requests:/ { for (i = 1; i <= NF; i++) if ($i == "failed,") print $(i - 1) }' "$1"; }
rps_of_round() { printf '%.0f' "$(rps_of "$1")"; }

declare -A RPS FAILED ALL
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
for ((round = 1; round <= ROUNDS; round++)); do
for server in nginx tollgate; do
    start_server "$server"
    url="https://127.0.0.1:$SRV_PORT/mock"
    h2l "$OUT/tls-h2-$server.warmup.txt" -c 32 -m 10 -D 1 "$url"
    h2l "$OUT/tls-h2-$server.txt" -c 32 -m 10 -D "$DURATION" "$url"
    RPS[h2/$server]=$(rps_of_round "$OUT/tls-h2-$server.txt"); FAILED[h2/$server]=$(fail_of "$OUT/tls-h2-$server.txt")
    h2l "$OUT/tls-h1-$server.txt" --h1 -c 32 -D "$DURATION" "$url"
    RPS[h1/$server]=$(rps_of_round "$OUT/tls-h1-$server.txt"); FAILED[h1/$server]=$(fail_of "$OUT/tls-h1-$server.txt")
    # New connections: rounds of 200 one-request connections for DURATION seconds.
    conns=0; fails=0; t0=$(date +%s.%N); : >"$OUT/tls-newconn-$server.txt"
    while awk -v t0="$t0" -v d="$DURATION" -v now="$(date +%s.%N)" 'BEGIN { exit !(now - t0 < d) }'; do
        h2l "$TMP/round.txt" --h1 -c 200 -n 200 "$url"
        cat "$TMP/round.txt" >>"$OUT/tls-newconn-$server.txt"
        ok=$(awk '/^requests:/ { for (i = 1; i <= NF; i++) if ($i == "succeeded,") print $(i - 1) }' "$TMP/round.txt")
        f=$(fail_of "$TMP/round.txt"); conns=$((conns + ${ok:-0})); fails=$((fails + ${f:-0}))
    done
    t1=$(date +%s.%N)
    RPS[newconn/$server]=$(awk -v c="$conns" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", c / (b - a) }')
    FAILED[newconn/$server]=$fails
    log "round $round $server: h2 ${RPS[h2/$server]} req/s, h1 ${RPS[h1/$server]} req/s, new TLS connections ${RPS[newconn/$server]}/s"
    for k in h2 h1 newconn; do
        ALL[$k/$server]="${ALL[$k/$server]:-} ${RPS[$k/$server]}"
        FAILED[$k/$server/sum]=$(( ${FAILED[$k/$server/sum]:-0} + ${FAILED[$k/$server]:-0} ))
    done
    stop_pid "$SRV_PID"
done
done
for k in h2 h1 newconn; do
    for server in nginx tollgate; do
        RPS[$k/$server]=$(echo "${ALL[$k/$server]}" | median)
        FAILED[$k/$server]=${FAILED[$k/$server/sum]}
    done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f×", a / b }'; }
TABLE=$(
    echo "| scenario | nginx | tollgate | tollgate / nginx | failed (nginx / tollgate) |"
    echo "|---|---:|---:|---:|---|"
    echo "| h2 over TLS, h2load -c 32 -m 10 (req/s) | ${RPS[h2/nginx]:-n/a} | ${RPS[h2/tollgate]:-n/a} | $(ratio "${RPS[h2/tollgate]:-}" "${RPS[h2/nginx]:-}") | ${FAILED[h2/nginx]:-?} / ${FAILED[h2/tollgate]:-?} |"
    echo "| HTTP/1.1 over TLS, h2load --h1 -c 32 (req/s) | ${RPS[h1/nginx]:-n/a} | ${RPS[h1/tollgate]:-n/a} | $(ratio "${RPS[h1/tollgate]:-}" "${RPS[h1/nginx]:-}") | ${FAILED[h1/nginx]:-?} / ${FAILED[h1/tollgate]:-?} |"
    echo "| new TLS connections/s (full handshakes, one request each) | ${RPS[newconn/nginx]:-n/a} | ${RPS[newconn/tollgate]:-n/a} | $(ratio "${RPS[newconn/tollgate]:-}" "${RPS[newconn/nginx]:-}") | ${FAILED[newconn/nginx]:-?} / ${FAILED[newconn/tollgate]:-?} |"
)
REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
SECTION=$(
    echo "<!-- bench:tls:start -->"
    echo "## TLS and HTTP/2 vs nginx (\`bench/tls.sh\`)"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); load average at start: $LOAD_START ($(nproc) CPUs, shared machine)"
    echo "- nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //') \`listen … ssl http2\`; tollgate: $REV; both 1 worker on CPU $SERVER_CPU, h2load on CPU $LOADGEN_CPU"
    echo "- certificate: ECDSA P-256 (the same file for both); ${DURATION}s per run, $ROUNDS alternating rounds, median round shown (all rounds, nginx / tollgate: h2 ${ALL[h2/nginx]} / ${ALL[h2/tollgate]}; h1 ${ALL[h1/nginx]} / ${ALL[h1/tollgate]}; new connections ${ALL[newconn/nginx]} / ${ALL[newconn/tollgate]}); target: h2 ≥ 1.3× nginx"
    echo
    echo "$TABLE"
    echo "<!-- bench:tls:end -->"
)
echo; echo "$TABLE"; echo
[[ -f "$RESULTS" ]] || printf '# tollgate benchmark results\n' >"$RESULTS"
printf '%s\n' "$SECTION" >"$TMP/section.md"
if grep -q '<!-- bench:tls:start -->' "$RESULTS"; then
    awk -v sf="$TMP/section.md" '
        /<!-- bench:tls:start -->/ { while ((getline l < sf) > 0) print l; skip = 1; next }
        /<!-- bench:tls:end -->/ { skip = 0; next }
        !skip { print }' "$RESULTS" >"$TMP/results.new"
    cat "$TMP/results.new" >"$RESULTS"
else
    { echo; cat "$TMP/section.md"; } >>"$RESULTS"
fi
log "wrote $RESULTS"
