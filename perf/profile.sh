#!/usr/bin/env bash
# Profile tollgate's request path (GET /mock and the proxied $default route).
#
#   bash perf/profile.sh [--no-build] [--mode auto|callgrind|perf]
#
#   env REQUESTS=20000   requests per scenario (callgrind mode)
#   env CONNS=4          wrk connections (callgrind mode)
#   env DURATION=10s     wrk duration (perf mode)
#   env PERF_OUT=target/perf   where raw profiles and the summary go
#
# Mode auto: `perf` when the hardware instruction counter works
# (`perf stat -e instructions true`), else `callgrind`.
#
# callgrind: tollgate runs under `valgrind --tool=callgrind` with 1 worker and
#   `--driver epoll` (valgrind 3.19 treats io_uring_enter as non-blocking: the
#   worker blocks in the kernel holding valgrind's big lock, the control thread
#   starves and SIGTERM is never handled). wrk -t1 -cCONNS sends REQUESTS
#   requests (a Lua script exits wrk after REQUESTS responses), then SIGTERM.
#   An idle run (start, stop, 0 requests) is the baseline:
#     instructions/request = (Ir(run) - Ir(idle)) / REQUESTS
#   Only user-space instructions are counted (kernel work, e.g. the syscalls
#   that io_uring would batch, is not). Up to CONNS-1 requests may be in
#   flight when wrk exits: error <= (CONNS-1)/REQUESTS.
# perf: tollgate runs natively (default driver), `perf record -g` samples the
#   worker thread while wrk runs DURATION (cycles, or cpu-clock when hardware
#   counters are missing), `perf stat` counts its instructions if it can.
#
# Backend: nginx on 127.0.0.1:9000 (bench/nginx/backend.conf). tollgate is
# pinned to CPU 1, wrk and the backend to CPU 0. Traffic stays on 127.0.0.1.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../bench/lib.sh"   # ROOT BIN, helpers, traps
LOG_TAG=perf
GATEWAY_CONF="$ROOT/bench/gateway.yaml"
REQUESTS="${REQUESTS:-20000}"
CONNS="${CONNS:-4}"
DURATION="${DURATION:-10s}"
PERF_OUT="${PERF_OUT:-$ROOT/target/perf}"
MODE=auto
BUILD=1

while (($#)); do
    case "$1" in
        --no-build) BUILD=0 ;;
        --mode) MODE=${2:?--mode needs a value}; shift ;;
        --mode=*) MODE=${1#--mode=} ;;
        -h|--help) usage; exit 0 ;;
        *) echo "profile.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

OUT="$PERF_OUT"     # cleanup keeps $TMP/*.log there

# start_tollgate NAME [wrapper...] -> TG_PID (under a wrapper, the wrapper's pid)
start_tollgate() {
    local name=$1; shift
    : >"$TMP/$name.stdout.log"
    taskset -c 1 "$@" "$BIN" run "$GATEWAY_CONF" --workers 1 ${TG_DRIVER:+--driver "$TG_DRIVER"} \
        >"$TMP/$name.stdout.log" 2>"$TMP/$name.stderr.log" &
    TG_PID=$!
    track "$TG_PID"
    wait_for_line "$TMP/$name.stdout.log" 'tollgate: listening' "$TG_PID" "tollgate ($name)" 120 ||
        { tail -n 30 "$TMP/$name.stderr.log" >&2; die "tollgate ($name) failed to start"; }
}

write_stop_lua() {  # exits wrk after $REQUESTS responses; reports the count
    cat >"$TMP/stop-after.lua" <<'EOF'
local limit = tonumber(os.getenv("REQUESTS") or "20000")
local n, bad = 0, 0
function response(status, headers, body)
  n = n + 1
  if status ~= 200 then bad = bad + 1 end
  if n >= limit then
    io.write(string.format("stop-after: %d responses, %d not 200\n", n, bad))
    io.flush()
    os.exit(0)
  end
end
EOF
}

ir_total() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }

# top_functions FILE TOTAL N: top N functions by self instructions (summed over
# the source files that inlining spreads a function across), share of TOTAL
top_functions() {
    local f=$1 total=$2 n=${3:-10}
    callgrind_annotate --auto=no --threshold=100 "$f" 2>/dev/null |
        awk '
            /file:function/ { if (done) next; on = 1; getline; next }
            on && NF == 0 { on = 0; done = 1; next }
            on && NF >= 2 && $1 ~ /^[0-9,]+$/ {
                ir = $1; gsub(/,/, "", ir)
                line = $0; sub(/^[ ]*[0-9,]+ +\([ 0-9.]+%\) +/, "", line)
                sub(/ \[[^]]*\]$/, "", line)             # [object file]
                i = index(line, ":"); if (i > 0 && substr(line, i + 1, 1) != ":") line = substr(line, i + 1)   # source file
                sum[line] += ir
            }
            END { for (fn in sum) printf "%d\t%s\n", sum[fn], fn }' |
        sort -t$'\t' -k1,1nr | awk -v n="$n" 'NR <= n' |
        awk -F'\t' -v total="$total" '{
            fn = $2; if (length(fn) > 110) fn = substr(fn, 1, 107) "..."
            printf "| %5.1f%% | `%s` |\n", 100 * $1 / total, fn }'
}

# ------------------------------------------------------------------ main --
require_tools nginx wrk    # bench/run.sh installs them
make_tmp tollgate-perf

if ((BUILD)); then build_release; fi
require_bin

if [[ $MODE == auto ]]; then
    PERF_PROBE=$(perf stat -e instructions true 2>&1) && PERF_RC=0 || PERF_RC=$?
    if ((PERF_RC != 0)) || [[ $PERF_PROBE == *"not supported"* || $PERF_PROBE == *"not counted"* ]]; then
        MODE=callgrind
        log "perf cannot count instructions here (\`perf stat -e instructions true\`: not supported); using callgrind"
    else
        MODE=perf
    fi
fi
check_ports_free 8090 9000
start_nginx backend "$ROOT/bench/nginx/backend.conf" 9000 0 10
BACKEND_PID=$NGINX_PID

REV=$(bench_rev)
SUMMARY="$PERF_OUT/summary.md"

if [[ $MODE == callgrind ]]; then
    command -v valgrind >/dev/null || die "valgrind not found (apt-get install -y valgrind)"
    write_stop_lua
    TG_DRIVER=epoll
    VG=(valgrind --tool=callgrind --callgrind-out-file="$PERF_OUT/callgrind.%q{CG_NAME}.out")

    # idle baseline: start, stop, 0 requests
    start_tollgate idle env CG_NAME=idle "${VG[@]}"
    sleep 1
    stop_pid "$TG_PID" "tollgate (idle)" 60
    IDLE=$(ir_total "$PERF_OUT/callgrind.idle.out")
    log "idle baseline: $IDLE Ir"

    declare -A IRREQ
    for scen in mock proxy; do
        start_tollgate "$scen" env CG_NAME="$scen" "${VG[@]}"
        log "$scen: $REQUESTS requests, wrk -t1 -c$CONNS (bounded by 300s)"
        REQUESTS=$REQUESTS taskset -c 0 timeout 320 wrk -t1 -c"$CONNS" -d300s -s "$TMP/stop-after.lua" \
            "http://127.0.0.1:8090/$scen" >"$PERF_OUT/wrk-$scen.txt" 2>&1 || true
        cat "$PERF_OUT/wrk-$scen.txt" >&2
        N=$REQUESTS
        if ! grep -q '^stop-after:' "$PERF_OUT/wrk-$scen.txt"; then
            N=$(awk '/ requests in / { print $1 }' "$PERF_OUT/wrk-$scen.txt")
            log "WARNING: wrk did not reach $REQUESTS responses (got ${N:-none})"
        fi
        stop_pid "$TG_PID" "tollgate ($scen)" 60
        ((STOP_RC == 0)) || log "WARNING: tollgate ($scen) exited $STOP_RC"
        TOTAL=$(ir_total "$PERF_OUT/callgrind.$scen.out")
        IRREQ[$scen]=$(awk -v t="$TOTAL" -v i="$IDLE" -v n="${N:-0}" 'BEGIN { if (n > 0) printf "%.0f", (t - i) / n; else print "n/a" }')
        callgrind_annotate "$PERF_OUT/callgrind.$scen.out" >"$PERF_OUT/annotate-$scen.txt" 2>/dev/null || true
        callgrind_annotate --inclusive=yes "$PERF_OUT/callgrind.$scen.out" >"$PERF_OUT/annotate-$scen-inclusive.txt" 2>/dev/null || true
        log "$scen: total $TOTAL Ir, ${IRREQ[$scen]} instructions/request"
        eval "TOTAL_$scen=$TOTAL"
    done

    {
        echo "### callgrind, $(date -u '+%Y-%m-%d'), tollgate $REV"
        echo
        echo "tollgate --workers 1 --driver epoll under callgrind; wrk -t1 -c$CONNS, $REQUESTS requests per scenario;"
        echo "idle baseline (start + stop) $IDLE Ir. User-space instructions only."
        echo
        echo "| scenario | total Ir | instructions/request |"
        echo "|---|---:|---:|"
        echo "| GET /mock | $TOTAL_mock | ${IRREQ[mock]} |"
        echo "| GET /proxy (→ nginx :9000) | $TOTAL_proxy | ${IRREQ[proxy]} |"
        for scen in mock proxy; do
            t=TOTAL_$scen
            echo
            echo "Top 10 functions by self instructions, $scen (share of the run's total):"
            echo
            echo "| share | function |"
            echo "|---:|---|"
            top_functions "$PERF_OUT/callgrind.$scen.out" "${!t}" 10
        done
    } >"$SUMMARY"
else
    command -v perf >/dev/null || die "perf not found"
    EVENT=cycles
    PERF_PROBE=$(perf stat -e cycles true 2>&1) || EVENT=cpu-clock
    [[ $PERF_PROBE == *"not supported"* || $PERF_PROBE == *"not counted"* ]] && EVENT=cpu-clock
    : >"$SUMMARY"
    for scen in mock proxy; do
        TG_DRIVER="${DRIVER:-}" start_tollgate "$scen"
        TID=""
        for t in /proc/"$TG_PID"/task/*; do
            [[ $(cat "$t/comm" 2>/dev/null) == tollgate-w0 ]] && { TID=${t##*/}; break; }
        done
        if [[ -n "$TID" ]]; then TARGET=(-t "$TID"); else log "no tollgate-w0 thread; profiling the whole process"; TARGET=(-p "$TG_PID"); fi
        taskset -c 0 wrk -t1 -c64 -d1s "http://127.0.0.1:8090/$scen" >/dev/null 2>&1 || true   # warm-up
        log "$scen: perf record -e $EVENT -g on ${TID:+thread $TID of }pid $TG_PID for $DURATION"
        secs=${DURATION%s}
        perf record -e "$EVENT" -g -o "$PERF_OUT/perf-$scen.data" "${TARGET[@]}" -- sleep "$((secs + 1))" \
            >"$TMP/perf-record-$scen.log" 2>&1 &
        PR=$!; track "$PR"
        STAT_ARGS=(-e instructions,task-clock -x, -o "$PERF_OUT/perf-stat-$scen.csv")
        perf stat "${STAT_ARGS[@]}" "${TARGET[@]}" -- sleep "$secs" >/dev/null 2>&1 &
        PS=$!; track "$PS"
        taskset -c 0 wrk -t1 -c64 -d"$DURATION" --latency "http://127.0.0.1:8090/$scen" >"$PERF_OUT/wrk-$scen.txt" 2>&1 || true
        wait "$PS" || true; forget_pid "$PS"
        wait "$PR" || true; forget_pid "$PR"
        stop_pid "$TG_PID" "tollgate ($scen)" 40
        N=$(awk '/ requests in / { print $1 }' "$PERF_OUT/wrk-$scen.txt")
        INSTR=$(awk -F, '$3 ~ /^instructions/ { print $1 }' "$PERF_OUT/perf-stat-$scen.csv" 2>/dev/null)
        TASK_MS=$(awk -F, '$3 ~ /^task-clock/ { print $1 }' "$PERF_OUT/perf-stat-$scen.csv" 2>/dev/null)
        perf report -i "$PERF_OUT/perf-$scen.data" --stdio --no-children 2>/dev/null >"$PERF_OUT/report-$scen.txt" || true
        perf report -i "$PERF_OUT/perf-$scen.data" --stdio --no-children --sort dso 2>/dev/null >"$PERF_OUT/report-$scen-dso.txt" || true
        {
            echo "### perf ($EVENT), $scen, $(date -u '+%Y-%m-%d'), tollgate $REV"
            echo
            instr_txt="instructions ${INSTR:-n/a}"
            [[ "${INSTR:-}" =~ ^[0-9]+$ && -n "$N" ]] &&
                instr_txt+=$(awk -v i="$INSTR" -v n="$N" 'BEGIN { printf " (%.0f per request, user + kernel)", i / n }')
            clock_txt="task-clock ${TASK_MS:-n/a} ms over ${secs}s"
            [[ "${TASK_MS:-}" =~ ^[0-9.]+$ && -n "$N" ]] &&
                clock_txt+=$(awk -v t="$TASK_MS" -v n="$N" -v s="$secs" 'BEGIN { printf " (%.2f µs per request; %.0f%% of one CPU busy)", t * 1000 / n, t / 10 / s }')
            echo "wrk -t1 -c64 -d$DURATION: ${N:-?} requests; worker thread: $instr_txt, $clock_txt"
            echo
            echo "Samples by object: $(grep -E '^ +[0-9.]+%' "$PERF_OUT/report-$scen-dso.txt" | awk 'NR <= 5 { printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 }')"
            echo
            echo '```'
            grep -E '^ +[0-9.]+%' "$PERF_OUT/report-$scen.txt" | awk 'NR <= 15'
            echo '```'
            echo
        } >>"$SUMMARY"
    done
fi

stop_pid "$BACKEND_PID" "backend nginx" 10
echo
cat "$SUMMARY"
echo
log "raw profiles: $PERF_OUT (summary.md, callgrind.*.out / perf-*.data, annotate-*.txt / report-*.txt)"
