#!/usr/bin/env bash
# Reload cost under load: wrk against tollgate's mock route, once steady and
# once while the configuration is reloaded once per second through the admin
# API (alternating two configurations that differ in a route, so every
# reload publishes a new deployment and every worker rebuilds its state).
#
#   bash bench/reload.sh [--no-build]       env DURATION=10 (seconds)
#
# Pinned like bench/run.sh: wrk on CPU 0, tollgate (2 workers) on both CPUs
# is not comparable, so tollgate runs --workers 1 on CPU 1. Writes the
# section <!-- bench:reload:start --> … <!-- bench:reload:end --> of
# bench/RESULTS.md. A target miss is reported, never fails the script.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"   # ROOT BENCH OUT RESULTS BIN LOADGEN_CPU SERVER_CPU, helpers, traps

DURATION="${DURATION:-10}"
PORT=8090
ADMIN=127.0.0.1:9911
TOKEN="bench-reload-$$"
BUILD=1
[[ "${1:-}" == "--no-build" ]] && BUILD=0
LOADGEN_CPU=0       # wrk (run_wrk), as before: not from the environment

install_tools wrk
if ((BUILD)); then build_release --quiet; fi
check_ports_free "$PORT"
make_tmp tollgate-bench-reload

# Two configurations that differ only in a proxied route's timeout.
cp "$ROOT/bench/gateway.yaml" "$TMP/a.yaml"
sed 's|uri: http://127.0.0.1:9000|uri: http://127.0.0.1:9000\n          timeout_ms: 28000|' "$ROOT/bench/gateway.yaml" >"$TMP/b.yaml"
cp "$TMP/a.yaml" "$TMP/gateway.yaml"

TOLLGATE_ADMIN_TOKEN=$TOKEN taskset -c 1 "$BIN" run "$TMP/gateway.yaml" --workers 1 --admin "$ADMIN" \
    >"$TMP/out.log" 2>"$TMP/err.log" &
TG_PID=$!
track "$TG_PID"
wait_for_line "$TMP/out.log" "tollgate: admin" "$TG_PID" tollgate 10 || { cat "$TMP/err.log"; die "tollgate did not start"; }

# wrk time -> µs, unrounded (the reload table has always shown them so)
to_us() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n }'; }
run() {   # run NAME -> wrk output in $TMP/NAME.txt
    run_wrk "$TMP/$1.txt" "${DURATION}s" "http://127.0.0.1:$PORT/mock"
}
summary() {  # summary NAME -> "req/s p50 p99 errors"
    local f="$TMP/$1.txt"
    local rps p50 p99 err
    rps=$(awk '/Requests\/sec/ {print $2}' "$f")
    p50=$(to_us "$(awk '$1 == "50%" {print $2}' "$f")")
    p99=$(to_us "$(awk '$1 == "99%" {print $2}' "$f")")
    err=$(awk '/Socket errors|Non-2xx/ {for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) s += $i} END {print s + 0}' "$f")
    echo "$rps $p50 $p99 $err"
}

run_wrk /dev/null 2s "http://127.0.0.1:$PORT/mock"   # warm-up
run steady
read -r s_rps s_p50 s_p99 s_err <<<"$(summary steady)"

reloads=0 refused=0
(
    i=0
    while :; do
        if ((i % 2)); then cp "$TMP/a.yaml" "$TMP/gateway.yaml"; else cp "$TMP/b.yaml" "$TMP/gateway.yaml"; fi
        code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" "http://$ADMIN/admin/reload")
        echo "$code" >>"$TMP/reloads.txt"
        i=$((i + 1))
        sleep 1
    done
) &
RELOADER=$!
track "$RELOADER"
run reloading
kill "$RELOADER" 2>/dev/null; wait "$RELOADER" 2>/dev/null || true
forget_pid "$RELOADER"
reloads=$(grep -c '^200$' "$TMP/reloads.txt" || true)
refused=$(grep -vc '^200$' "$TMP/reloads.txt" || true)
read -r r_rps r_p50 r_p99 r_err <<<"$(summary reloading)"
published=$(grep -c "reload (admin): serving" "$TMP/err.log" || true)

p99_ratio=$(ratio "$r_p99" "$s_p99" 2 0.00)
verdict=$(awk -v r="$p99_ratio" -v e="$r_err" 'BEGIN { print (r <= 2 && e == 0) ? "PASS" : "MISS" }')

table=$(cat <<EOT
## Reload under load

- date: $(bench_date); kernel $(uname -r); tollgate $(bench_rev)
- setup: wrk -t1 -c64 -d${DURATION}s --latency on CPU 0 against GET /mock; tollgate --workers 1 on CPU 1; reloads by POST /admin/reload once per second, alternating two configurations (each reload publishes a new deployment)

| run | req/s | p50 µs | p99 µs | errors |
|---|---:|---:|---:|---:|
| steady | $s_rps | $s_p50 | $s_p99 | $s_err |
| reloading 1/s | $r_rps | $r_p50 | $r_p99 | $r_err |

- reloads answered 200: $reloads (published: $published), refused: $refused
- p99 during reloads / steady: ${p99_ratio}× — target ≤ 2× with zero errors: $verdict
EOT
)
echo "$table"

write_section reload "$(printf '%s\n%s\n%s' '<!-- bench:reload:start -->' "$table" '<!-- bench:reload:end -->')"
