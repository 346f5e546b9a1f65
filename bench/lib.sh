# shellcheck shell=bash disable=SC2034  # variables set here are read by the sourcing scripts
# Helpers shared by the bench scripts (bench/*.sh) and perf/profile.sh.
# Source it right after `set -euo pipefail`:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sourcing defines functions, sets the variables below and installs the
# EXIT/INT/TERM traps (cleanup below). Nothing else runs.
#
# Variables sourcing sets, which the script may change and the helpers read:
#   ROOT          the repository root (build_release, bench_rev)
#   BENCH         $ROOT/bench
#   OUT           $BENCH/out: where cleanup copies $TMP/*.log
#   RESULTS       $BENCH/RESULTS.md (write_section)
#   BIN           $ROOT/target/release/tollgate (require_bin)
#   LOADGEN_CPU   env, default 0: the CPU wrk runs on (run_wrk, check_pinning)
#   SERVER_CPU    env, default 1: the CPU of the server under test (check_pinning)
#   LOG_TAG       prefix of log/die lines, "[bench] ..."
#   TMP           the script's temp dir, "" until make_tmp; cleanup removes it
#   CLK_TCK       clock ticks a second (/proc CPU times)
# Variables the helpers set:
#   QUICK BUILD   bench_args: 1 with --quick; 0 with --no-build
#   STARTED       every PID the script started (track adds one); the traps
#                 stop these and only these
#   BROKEN        1 when something broke (stop_pid had to SIGKILL); the
#                 scripts exit 1 at the end when it is set
#   STOP_RC       exit status of the process stop_pid stopped
#   NGINX_PID     the master of the nginx start_nginx started
#   SERVER_PID    the process start_server started
#   W_RPS W_REQS W_SECS W_P50 W_P99 W_ERRS W_ERRN   parse_wrk's results
#   W_TICKS W_CPU                                   measure_wrk's results

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
OUT="$BENCH/out"
RESULTS="$BENCH/RESULTS.md"
BIN="$ROOT/target/release/tollgate"
LOADGEN_CPU="${LOADGEN_CPU:-0}"
SERVER_CPU="${SERVER_CPU:-1}"
LOG_TAG=bench
STARTED=()
TMP=""
BROKEN=0
CLK_TCK=$(getconf CLK_TCK)

# ------------------------------------------------------------ messages --
log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$LOG_TAG" "$*" >&2; exit 1; }

# --------------------------------------------------------------- options --
# usage: the script's header comment (its lines from the second to the
# first that is not a comment), as --help prints it
usage() { awk 'NR > 1 { if (!/^#/) exit; print }' "$0"; }

# bench_args "$@" -> QUICK, BUILD: the options every bench script takes:
# --quick, --no-build, -h|--help (usage, exit 0); anything else exits 2
bench_args() {
    local arg
    QUICK=0
    BUILD=1
    for arg in "$@"; do
        case "$arg" in
            --quick) QUICK=1 ;;
            --no-build) BUILD=0 ;;
            -h|--help) usage; exit 0 ;;
            *) echo "${0##*/}: unknown argument: $arg (try --help)" >&2; exit 2 ;;
        esac
    done
}

# ----------------------------------------------------- started processes --
# is_alive PID: running and not a zombie
is_alive() {
    local pid=$1 state
    [[ -r /proc/$pid/stat ]] || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ -n "$state" && "$state" != Z ]]
}

# track PID: remember a started process, so that cleanup stops it
track() { STARTED+=("$1"); }

# forget_pid PID: drop a process from STARTED (it has been stopped and reaped)
forget_pid() {
    local pid=$1 p keep=()
    for p in "${STARTED[@]+"${STARTED[@]}"}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    STARTED=("${keep[@]+"${keep[@]}"}")
}

# stop_pid PID [NAME] [GRACE seconds, default 40] -> STOP_RC: SIGTERM, wait,
# SIGKILL after GRACE (that sets BROKEN); reaps and forgets the process
stop_pid() {
    local pid=$1 name=${2:-pid $1} grace=${3:-40} i
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

# cleanup (the EXIT trap): SIGTERM every started process, SIGKILL what is
# still running 5 s later, keep $TMP/*.log in $OUT, remove $TMP; keeps the
# exit status
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
        # keep the server logs next to the raw outputs
        [[ -n "${OUT:-}" ]] && { cp "$TMP"/*.log "$OUT"/ 2>/dev/null || true; }
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# make_tmp NAME -> TMP: a temp dir on $TMPDIR (mode 755, for nginx workers)
# with a tmp/ inside (nginx's -p prefix), and OUT created
make_tmp() {
    [[ -n "${OUT:-}" ]] && mkdir -p "$OUT"
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    chmod 755 "$TMP"
    mkdir -p "$TMP/tmp"
}

# ----------------------------------------------------------------- checks --
# install_tools CMD...: apt-get install the missing ones (as root), else die
install_tools() {
    local missing=() t
    for t in "$@"; do command -v "$t" >/dev/null || missing+=("$t"); done
    ((${#missing[@]})) || return 0
    [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}; install them (apt-get install -y ${missing[*]})"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; } ||
        die "apt-get install ${missing[*]} failed"
}

# require_tools CMD...: die on the first one not on PATH
require_tools() {
    local t
    for t in "$@"; do command -v "$t" >/dev/null || die "$t not found"; done
}

# check_pinning: taskset can pin to LOADGEN_CPU and SERVER_CPU
check_pinning() {
    taskset -c "$LOADGEN_CPU" true 2>/dev/null || die "cannot pin to CPU $LOADGEN_CPU (LOADGEN_CPU)"
    taskset -c "$SERVER_CPU" true 2>/dev/null || die "cannot pin to CPU $SERVER_CPU (SERVER_CPU); this benchmark needs 2 CPUs"
}

# build_release [CARGO ARGS...]: cargo build --release --locked [ARGS] in ROOT
build_release() {
    log "building release (cargo build --release --locked${*:+ $*})"
    (cd "$ROOT" && cargo build --release --locked "$@") >&2 || die "release build failed"
}

# require_bin: BIN exists and is executable
require_bin() { [[ -x "$BIN" ]] || die "$BIN not found (build it or drop --no-build)"; }

# ------------------------------------------------------------------ ports --
# port_open PORT: something accepts connections on 127.0.0.1:PORT
port_open() {
    timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# check_ports_free PORT...: die when any of them is taken (never touches
# whatever listens there)
check_ports_free() {
    local p busy=()
    for p in "$@"; do port_open "$p" && busy+=("$p"); done
    ((${#busy[@]} == 0)) || die "port(s) ${busy[*]} on 127.0.0.1 already in use; stop whatever listens there (see: ss -ltnp) and rerun"
}

# wait_for_port PORT PID NAME [TIMEOUT seconds, default 30]: until the port
# answers; fails (with a log line) when PID exits first or on the timeout
wait_for_port() {
    local port=$1 pid=$2 name=$3 timeout=${4:-30} i
    for ((i = 0; i < timeout * 10; i++)); do
        port_open "$port" && return 0
        is_alive "$pid" || { log "$name (pid $pid) exited before listening on :$port"; return 1; }
        sleep 0.1
    done
    log "$name did not listen on :$port within ${timeout}s"
    return 1
}

# wait_for_line FILE PATTERN PID NAME TIMEOUT: until FILE has PATTERN (no
# probe connections); fails (with a log line) when PID exits or on the timeout
wait_for_line() {
    local file=$1 pat=$2 pid=$3 name=$4 timeout=$5 i
    for ((i = 0; i < timeout * 10; i++)); do
        grep -q "$pat" "$file" 2>/dev/null && return 0
        is_alive "$pid" || { log "$name exited before it was ready"; return 1; }
        sleep 0.1
    done
    log "$name not ready within ${timeout}s"; return 1
}

# -------------------------------------------------------- process start --
# start_nginx NAME CONF PORT CPU [TIMEOUT] -> NGINX_PID (the master): nginx
# pinned to CPU under the prefix $TMP, logs $TMP/NAME-error.log and
# $TMP/NAME-stdout.log; dies when the port does not answer
start_nginx() {
    local name=$1 conf=$2 port=$3 pin=$4 timeout=${5:-30}
    mkdir -p "$TMP/tmp"
    taskset -c "$pin" nginx -p "$TMP" -c "$conf" -e "$TMP/$name-error.log" \
        >"$TMP/$name-stdout.log" 2>&1 &
    NGINX_PID=$!
    track "$NGINX_PID"
    wait_for_port "$port" "$NGINX_PID" "nginx $name" "$timeout" ||
        { tail -n 20 "$TMP/$name"-*.log >&2 || true; die "nginx $name failed to start"; }
}

# start_server NAME LOG PORT TIMEOUT CMD... -> SERVER_PID: CMD in the
# background, stdout to $TMP/LOG.stdout.log, stderr to $TMP/LOG.stderr.log;
# dies (after the stderr tail) when PORT does not answer within TIMEOUT
start_server() {
    local name=$1 logname=$2 port=$3 timeout=$4
    shift 4
    "$@" >"$TMP/$logname.stdout.log" 2>"$TMP/$logname.stderr.log" &
    SERVER_PID=$!
    track "$SERVER_PID"
    wait_for_port "$port" "$SERVER_PID" "$name" "$timeout" ||
        { tail -n 20 "$TMP/$logname.stderr.log" >&2 || true; die "$name failed to start"; }
}

# --------------------------------------------------------- measurement --
# cpu_ticks PID...: utime + stime (fields 14, 15) of the PIDs, summed, in
# clock ticks (CLK_TCK a second); a PID that is gone counts 0
cpu_ticks() {
    local pid sum=0 t
    for pid in "$@"; do
        # comm (field 2) may contain spaces: cut everything up to ") "
        t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}

# server_pids PID: PID and its children (an nginx master and its workers)
server_pids() {
    echo "$1"
    pgrep -P "$1" 2>/dev/null || true
}

# rss_kb PID: resident memory (VmRSS) in KiB
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# run_wrk OUTFILE DURATION ARGS...: wrk -t1 -c64 --latency pinned to
# LOADGEN_CPU, tracked for cleanup; returns wrk's exit status
run_wrk() {
    local out=$1 dur=$2 pid rc=0
    shift 2
    taskset -c "$LOADGEN_CPU" wrk -t1 -c64 -d"$dur" --latency "$@" >"$out" 2>&1 &
    pid=$!
    track "$pid"
    wait "$pid" || rc=$?
    forget_pid "$pid"
    return "$rc"
}

# to_us TIME: a wrk time (512.00us 1.20ms 1.01s 2.00m) in microseconds,
# one decimal; "" when it is not one
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        m = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : (u == "m") ? 6e7 : (u == "h") ? 3.6e9 : -1
        if (m < 0 || v == "") print ""; else printf "%.1f", n * m }'
}

# parse_wrk FILE -> W_RPS W_REQS W_SECS (run time, µs) W_P50 W_P99 (µs),
# W_ERRS ("0" or "connect 1, timeout 3, non-2xx/3xx 5"), W_ERRN (their sum)
parse_wrk() {
    local f=$1
    W_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$f")
    W_REQS=$(awk '/ requests in / {print $1}' "$f")
    W_SECS=$(to_us "$(awk '/ requests in / { t = $4; sub(/,$/, "", t); print t }' "$f")")
    W_P50=$(to_us "$(awk '$1 == "50%" {print $2}' "$f")")
    W_P99=$(to_us "$(awk '$1 == "99%" {print $2}' "$f")")
    W_ERRS=$(awk '
        /Socket errors:/ { gsub(/,/, ""); for (i = 3; i < NF; i += 2) if ($(i + 1) + 0 > 0) e = e sprintf("%s%s %s", (e ? ", " : ""), $i, $(i + 1)) }
        /Non-2xx or 3xx responses:/ { e = e sprintf("%snon-2xx/3xx %s", (e ? ", " : ""), $NF) }
        END { print (e ? e : "0") }' "$f")
    W_ERRN=$(awk '/Socket errors|Non-2xx/ {for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) s += $i} END {print s + 0}' "$f")
}

# cpu_per_req TICKS REQUESTS: CPU µs per request ("" without requests)
cpu_per_req() {
    awk -v t="$1" -v hz="$CLK_TCK" -v n="${2:-0}" 'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n }'
}

# measure_wrk OUTFILE DURATION "PIDS" ARGS...: run_wrk with the CPU time of
# PIDS (space separated) counted around it, then parse_wrk -> W_*, W_TICKS
# (CPU ticks of PIDS during the run), W_CPU (CPU µs/request); returns wrk's
# exit status
measure_wrk() {
    local out=$1 dur=$2 pids=$3 before after rc=0
    shift 3
    # shellcheck disable=SC2086
    before=$(cpu_ticks $pids)
    run_wrk "$out" "$dur" "$@" || rc=$?
    # shellcheck disable=SC2086
    after=$(cpu_ticks $pids)
    parse_wrk "$out"
    W_TICKS=$((after - before))
    W_CPU=$(cpu_per_req "$W_TICKS" "${W_REQS:-0}")
    return "$rc"
}

# median_round ARRAY KEY ROUNDS: the round r (1..ROUNDS) whose ARRAY[KEY#r]
# is the median (the lower middle one for an even count)
median_round() {
    local -n arr=$1
    local k=$2 n=$3 r
    for ((r = 1; r <= n; r++)); do echo "${arr[$k#$r]:-0} $r"; done |
        sort -n | awk -v n="$n" 'NR == int((n + 1) / 2) {print $2}'
}

# each_round ARRAY KEY ROUNDS: "v1 v2 … " of ARRAY[KEY#1..ROUNDS], rounded
each_round() {
    local -n arr=$1
    local k=$2 n=$3 r
    for ((r = 1; r <= n; r++)); do printf '%.0f ' "${arr[$k#$r]:-0}"; done
}

# ------------------------------------------------------------- formats --
# fmt_us US: "512 µs" or "1.20 ms"; "n/a" for ""
fmt_us() { awk -v v="$1" 'BEGIN { if (v == "") print "n/a"; else if (v >= 1000) printf "%.2f ms", v / 1000; else printf "%.0f µs", v }'; }

# fmt_num V: V rounded to a whole number; "n/a" for ""
fmt_num() { awk -v v="$1" 'BEGIN { if (v == "") print "n/a"; else printf "%.0f", v }'; }

# ratio A B [DECIMALS, default 2] [NO_DATA, default ""]: A / B, or NO_DATA
# when either is empty or B is 0
ratio() {
    awk -v a="$1" -v b="$2" -v d="${3:-2}" -v na="${4:-}" \
        'BEGIN { if (a == "" || b == "" || b + 0 == 0) print na; else printf("%." d "f", a / b) }'
}

# --------------------------------------------------------- RESULTS.md --
# bench_date: the run's date line value, UTC
bench_date() { date -u '+%Y-%m-%d %H:%M:%S UTC'; }

# bench_rev: the tollgate revision (git describe --always --dirty)
bench_rev() { (cd "$ROOT" && git describe --always --dirty 2>/dev/null) || echo unknown; }

# load1: the 1-minute load average
load1() { awk '{print $1}' /proc/loadavg; }

# warn_load LOAD: warn when it is above 0.5 (other processes skew results)
warn_load() {
    if awk -v l="$1" 'BEGIN { exit !(l > 0.5) }'; then
        log "WARNING: load average $1 before start: other processes (builds, fuzzers, tests) skew the results"
    fi
}

# write_section NAME SECTION: replace the lines from <!-- bench:NAME:start -->
# to <!-- bench:NAME:end --> of RESULTS with SECTION (which holds both
# markers), or append SECTION after a blank line when the markers are
# missing; creates RESULTS with a title when it does not exist
write_section() {
    local name=$1 section=$2 new
    local start="<!-- bench:$name:start -->" end="<!-- bench:$name:end -->"
    if [[ ! -f "$RESULTS" ]]; then
        printf '# tollgate benchmark results\n\nWritten by the bench scripts; each script owns one marked section.\n' >"$RESULTS"
    fi
    if grep -qF "$start" "$RESULTS" && grep -qF "$end" "$RESULTS"; then
        new=$(mktemp "${TMPDIR:-/tmp}/tollgate-results.XXXXXX")
        SECTION=$section awk -v s="$start" -v e="$end" '
            index($0, s) { print ENVIRON["SECTION"]; skip = 1; next }
            index($0, e) { skip = 0; next }
            !skip { print }' "$RESULTS" >"$new"
        cat "$new" >"$RESULTS"
        rm -f "$new"
    else
        printf '\n%s\n' "$section" >>"$RESULTS"
    fi
}
