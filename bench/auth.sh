#!/usr/bin/env bash
# tollgate authorization benchmark: what an authorizer costs per request, on
# one tollgate (nginx has no equivalent, so tollgate only).
#
#   bash bench/auth.sh [--quick] [--no-build]
#
#   --quick      DURATION=3s, ROUNDS=1 (smoke test)
#   --no-build   use the existing target/release/tollgate
#   env DURATION=10s      measured wrk duration per route and round (default 10s)
#   env ROUNDS=3          rounds; each measures every route once (default 3)
#   env LOADGEN_CPU=0 SERVER_CPU=1   CPU pinning (taskset -c), as bench/run.sh
#
# Setup: an RSA-2048 key made with openssl for this run, its JWKS in a file
# (jwks_file), and a token (RS256) signed with it; a Lambda-style REQUEST
# authorizer as a tiny Python HTTP endpoint on 127.0.0.1:9002 answering
# {"isAuthorized": true}. tollgate (--workers 1, pinned on SERVER_CPU) serves
# four mock routes that differ only in their authorization:
#   GET /open         no authorizer
#   GET /jwt          JWT authorizer, verified tokens cached per core until exp (the default)
#   GET /jwt-verify   JWT authorizer with token_cache: false (RSA verification every request)
#   GET /lambda       REQUEST authorizer, results cached 300 s (one call, then cache hits)
# Every request carries the same Authorization and X-Token headers. Each
# round measures every route (1 s warm-up, then wrk -t1 -c64 -d$DURATION
# --latency); the table shows medians over the rounds and each route's
# ratio to /open.
#
# Writes the <!-- bench:auth:start --> … <!-- bench:auth:end --> section of
# bench/RESULTS.md and raw outputs to bench/out/. Exits non-zero only when
# something broke.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
OUT="$BENCH/out"
RESULTS="$BENCH/RESULTS.md"
BIN="$ROOT/target/release/tollgate"
PORT=8094
AUTH_PORT=9002

DURATION="${DURATION:-10s}"
ROUNDS="${ROUNDS:-3}"
LOADGEN_CPU="${LOADGEN_CPU:-0}"
SERVER_CPU="${SERVER_CPU:-1}"
BUILD=1
ROUTES=(open jwt jwt-verify lambda)

for arg in "$@"; do
    case "$arg" in
        --quick) DURATION=3s; ROUNDS=1 ;;
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "auth.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

log() { printf '[bench:auth] %s\n' "$*" >&2; }
die() { printf '[bench:auth] ERROR: %s\n' "$*" >&2; exit 1; }

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
    command -v wrk >/dev/null || missing+=(wrk)
    command -v openssl >/dev/null || missing+=(openssl)
    if ((${#missing[@]})); then
        [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}; install them (apt-get install -y ${missing[*]})"
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; } ||
            die "apt-get install ${missing[*]} failed"
    fi
    for t in taskset awk curl python3; do command -v "$t" >/dev/null || die "$t not found"; done
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

measure() {         # measure NAME ROUND
    local name=$1 url="http://127.0.0.1:$PORT/$1" raw="$OUT/auth-bench-$1-$2.txt" before after reqs pid rc=0
    local hdr=(-H "Authorization: Bearer $TOKEN" -H "X-Token: bench-user")
    taskset -c "$LOADGEN_CPU" wrk -t1 -c64 -d1s "${hdr[@]}" "$url" >"$OUT/auth-bench-$name.warmup.txt" 2>&1 || true
    before=$(cpu_ticks "$TG_PID")
    taskset -c "$LOADGEN_CPU" wrk -t1 -c64 -d"$DURATION" --latency "${hdr[@]}" "$url" >"$raw" 2>&1 &
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
    log "round $2 $name: ${RPS[$name]:-?} req/s, p50 ${P50[$name]:-?}us, p99 ${P99[$name]:-?}us, cpu ${CPU[$name]:-?}us/req, errors ${ERRS[$name]}"
    ALL_RPS[$name]+=" ${RPS[$name]:-}"
    ALL_P50[$name]+=" ${P50[$name]:-}"
    ALL_P99[$name]+=" ${P99[$name]:-}"
    ALL_CPU[$name]+=" ${CPU[$name]:-}"
    [[ "${ERRS[$name]}" == 0 ]] || ALL_ERRS[$name]+="${ALL_ERRS[$name]:+; }round $2: ${ERRS[$name]}"
}

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

# ------------------------------------------------------------------- main --
ensure_tools
mkdir -p "$OUT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench-auth.XXXXXX")
chmod 755 "$TMP"

if ((BUILD)); then
    log "building release (cargo build --release --locked)"
    (cd "$ROOT" && cargo build --release --locked) >&2 || die "release build failed"
fi
[[ -x "$BIN" ]] || die "$BIN not found (build it or drop --no-build)"
for p in $PORT $AUTH_PORT; do port_open "$p" && die "port $p on 127.0.0.1 is in use"; done
LOAD1=$(awk '{print $1, $2, $3}' /proc/loadavg)

# The key, its JWKS, a token.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/key.pem" 2>/dev/null || die "openssl genpkey failed"
N=$(openssl rsa -in "$TMP/key.pem" -noout -modulus | cut -d= -f2 | xxd -r -p | b64url)
printf '{"keys":[{"kty":"RSA","kid":"bench","alg":"RS256","use":"sig","n":"%s","e":"AQAB"}]}' "$N" >"$TMP/jwks.json"
EXP=$(($(date +%s) + 86400))
H=$(printf '{"alg":"RS256","typ":"JWT","kid":"bench"}' | b64url)
C=$(printf '{"iss":"https://issuer.bench","aud":"bench","sub":"user-1","exp":%d,"scope":"read write","email":"u@bench.example"}' "$EXP" | b64url)
S=$(printf '%s.%s' "$H" "$C" | openssl dgst -sha256 -sign "$TMP/key.pem" -binary | b64url)
TOKEN="$H.$C.$S"

cat >"$TMP/auth.yaml" <<EOF
listeners: [{name: bench, address: 127.0.0.1:$PORT}]
throttling: unlimited
apis:
  - name: bench
    stages: [\$default]
    authorizers:
      users: {type: jwt, issuer: "https://issuer.bench", audience: [bench], jwks_file: "$TMP/jwks.json"}
      users-verify: {type: jwt, issuer: "https://issuer.bench", audience: [bench], jwks_file: "$TMP/jwks.json", token_cache: false}
      gate:
        type: request
        uri: http://127.0.0.1:$AUTH_PORT/authorize
        enable_simple_responses: true
        identity_source: ["\$request.header.X-Token"]
        result_ttl_seconds: 300
    routes:
      - {route: GET /open, integration: {type: mock, body: ok}}
      - {route: GET /jwt, authorizer: users, authorization_scopes: [read], integration: {type: mock, body: ok}}
      - {route: GET /jwt-verify, authorizer: users-verify, authorization_scopes: [read], integration: {type: mock, body: ok}}
      - {route: GET /lambda, authorizer: gate, integration: {type: mock, body: ok}}
EOF

cat >"$TMP/authorizer.py" <<'EOF'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b'{"isAuthorized":true,"context":{"user":"bench"}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        sys.stderr.write("call\n"); sys.stderr.flush()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
taskset -c "$LOADGEN_CPU" python3 "$TMP/authorizer.py" "$AUTH_PORT" 2>"$TMP/authorizer.log" &
AUTH_PID=$!
STARTED+=("$AUTH_PID")
wait_for_port "$AUTH_PORT" "$AUTH_PID" authorizer || die "the authorizer endpoint failed to start"

taskset -c "$SERVER_CPU" "$BIN" run "$TMP/auth.yaml" --workers 1 --no-admin \
    >"$TMP/tollgate-auth.stdout.log" 2>"$TMP/tollgate-auth.stderr.log" &
TG_PID=$!
STARTED+=("$TG_PID")
wait_for_port "$PORT" "$TG_PID" tollgate || { tail -n 20 "$TMP/tollgate-auth.stderr.log" >&2; die "tollgate failed to start"; }

for route in "${ROUTES[@]}"; do
    got=$(curl -s -m 3 -w ' [%{http_code}]' -H "Authorization: Bearer $TOKEN" -H "X-Token: bench-user" \
        "http://127.0.0.1:$PORT/$route" || true)
    [[ "$got" == "ok [200]" ]] || { log "WARNING: /$route answered '$got'"; BROKEN=1; }
done
got=$(curl -s -m 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/jwt" || true)
[[ "$got" == 401 ]] || { log "WARNING: /jwt without a token answered $got"; BROKEN=1; }

for ((round = 1; round <= ROUNDS; round++)); do
    for r in "${ROUTES[@]}"; do measure "$r" "$round"; done
done
for r in "${ROUTES[@]}"; do
    RPS[$r]=$(median "${ALL_RPS[$r]:-}")
    P50[$r]=$(median "${ALL_P50[$r]:-}")
    P99[$r]=$(median "${ALL_P99[$r]:-}")
    CPU[$r]=$(median "${ALL_CPU[$r]:-}")
    ERRS[$r]=${ALL_ERRS[$r]:-0}
done
CALLS=$(grep -c '^call$' "$TMP/authorizer.log" || true)
LOAD2=$(awk '{print $1, $2, $3}' /proc/loadavg)
stop_pid "$TG_PID"
stop_pid "$AUTH_PID"
STARTED=()

# ----------------------------------------------------------------- report --
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print ""; else printf "%.2f", a / b }'; }
fmt_us() { awk -v v="$1" 'BEGIN { if (v == "") print "n/a"; else if (v >= 1000) printf "%.2f ms", v / 1000; else printf "%.0f µs", v }'; }
label() {
    case $1 in
        open) echo "GET /open (no authorizer)" ;;
        jwt) echo "GET /jwt (JWT RS256, verified tokens cached until exp)" ;;
        jwt-verify) echo "GET /jwt-verify (JWT RS256, verified every request)" ;;
        lambda) echo "GET /lambda (REQUEST authorizer, cached 300 s)" ;;
    esac
}
REV=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)
SECTION=$(
    echo "<!-- bench:auth:start -->"
    echo "## Authorization: authorized routes vs an open route (bench/auth.sh)"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); tollgate: $REV; load average $LOAD1 at start, $LOAD2 at the end (a shared 2-core machine: other work ran beside it)"
    echo "- setup: one tollgate (--workers 1, CPU $SERVER_CPU), mock routes that differ only in authorization; wrk on CPU $LOADGEN_CPU with the authorizer endpoint; $ROUNDS rounds of wrk -t1 -c64 -d$DURATION --latency per route (1 s warm-up each), routes alternating; medians shown; tollgate only (nginx has no equivalent)"
    echo "- authorizer endpoint calls during the run: $CALLS (the REQUEST authorizer's result is cached per core)"
    for r in "${ROUTES[@]}"; do echo "- req/s per round, $r:${ALL_RPS[$r]:-}"; done
    echo
    echo "| route | req/s (median) | ÷ open | p50 | p99 | CPU µs/req | errors |"
    echo "|---|---:|---:|---:|---:|---:|---|"
    for r in "${ROUTES[@]}"; do
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$(label "$r")" \
            "$(awk -v v="${RPS[$r]:-}" 'BEGIN { if (v == "") print "n/a"; else printf "%.0f", v }')" \
            "$(ratio "${RPS[$r]:-}" "${RPS[open]:-}")×" \
            "$(fmt_us "${P50[$r]:-}")" "$(fmt_us "${P99[$r]:-}")" "${CPU[$r]:-n/a}" "${ERRS[$r]:-?}"
    done
    echo
    echo "- JWT (token cache, the default) / open: req/s $(ratio "${RPS[jwt]:-}" "${RPS[open]:-}")×, CPU/req $(ratio "${CPU[jwt]:-}" "${CPU[open]:-}")×"
    echo "- JWT (verify every request) / open: req/s $(ratio "${RPS[jwt-verify]:-}" "${RPS[open]:-}")×, CPU/req $(ratio "${CPU[jwt-verify]:-}" "${CPU[open]:-}")×"
    echo "- cached REQUEST authorizer / open: req/s $(ratio "${RPS[lambda]:-}" "${RPS[open]:-}")×, CPU/req $(ratio "${CPU[lambda]:-}" "${CPU[open]:-}")×"
    echo "<!-- bench:auth:end -->"
)
echo
echo "$SECTION"

[[ -f "$RESULTS" ]] || printf '# tollgate benchmark results\n' >"$RESULTS"
printf '%s\n' "$SECTION" >"$TMP/section.md"
if grep -q '<!-- bench:auth:start -->' "$RESULTS" && grep -q '<!-- bench:auth:end -->' "$RESULTS"; then
    awk -v sf="$TMP/section.md" '
        /<!-- bench:auth:start -->/ { while ((getline l < sf) > 0) print l; skip = 1; next }
        /<!-- bench:auth:end -->/ { skip = 0; next }
        !skip { print }' "$RESULTS" >"$TMP/results.new"
    cat "$TMP/results.new" >"$RESULTS"
else
    { echo; cat "$TMP/section.md"; } >>"$RESULTS"
fi
log "wrote $RESULTS"
((BROKEN == 0)) || { log "something broke (see above and bench/out/)"; exit 1; }
exit 0
