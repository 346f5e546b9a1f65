#!/usr/bin/env bash
# Response cache benchmark: tollgate's per-core cache beside nginx
# proxy_cache, memory per entry, what per-core caches cost as the worker
# count grows, and the eviction policy's hit ratio against LRU.
#
#   bash bench/cache.sh [--quick] [--no-build]
#
#   --quick      DURATION=3s, ROUNDS=1, fewer entries (smoke test)
#   --no-build   use the existing target/release/tollgate
#   env DURATION=10s ROUNDS=3 LOADGEN_CPU=0 SERVER_CPU=1 DRIVER=auto
#       ENTRIES=20000 (memory per entry)  KEYS=2000 (worker scaling)
#
# Parts:
#   1. hits: wrk -t1 -c64 --latency (LOADGEN_CPU) on one cached key, the
#      server under test on SERVER_CPU with one worker: tollgate (REST API
#      stage with a cache, TTL 300 s, GET /cached/hello) vs nginx
#      proxy_cache (TTL 300 s, proxy_cache_lock). Both fill from one backend
#      nginx (:9100, on LOADGEN_CPU). ROUNDS interleaved rounds; the table
#      shows each server's median round. Target: tollgate ≥ 1.5× nginx req/s.
#   2. memory per entry: one worker; ENTRIES distinct keys filled with
#      bodies of 100 B, 1 KiB and 10 KiB; RSS growth / entries, next to the
#      bytes the cache accounts per entry.
#   3. worker scaling: 1, 2 and 4 workers (unpinned), wrk with KEYS keys
#      chosen uniformly for DURATION; origin requests (the backend's access
#      log), cache bytes over all workers and RSS — once with a capacity that
#      holds every key in every worker's share, once with one that holds
#      half the keys' bytes in total (each worker then holds 1/(2·workers)).
#   4. policy: S3-FIFO vs LRU hit ratio on Zipf workloads with and without
#      scans (`cargo test --release --lib cache::sim -- --ignored`).
#
# Writes the section between <!-- bench:cache:start --> and
# <!-- bench:cache:end --> of bench/RESULTS.md; raw outputs go to bench/out/.
# A target miss never fails the script; it exits 1 only when something broke.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"   # ROOT BENCH OUT RESULTS BIN LOADGEN_CPU SERVER_CPU, helpers, traps

DURATION="${DURATION:-10s}"
ROUNDS="${ROUNDS:-3}"
DRIVER="${DRIVER:-auto}"
ENTRIES="${ENTRIES:-20000}"
KEYS="${KEYS:-2000}"
TG_PORT=8190
NGX_PORT=8193
BACKEND_PORT=9100
ADMIN=127.0.0.1:9913

bench_args "$@"
if ((QUICK)); then DURATION=3s; ROUNDS=1; ENTRIES=5000; fi

tollgate_config() { # tollgate_config FILE CAPACITY_BYTES
    cat >"$1" <<EOF
listeners: [{name: bench, address: 127.0.0.1:$TG_PORT}]
throttling: unlimited
apis:
  - name: bench
    protocol: rest
    stages:
      - name: \$default
        cache: {capacity_bytes: $2, ttl_seconds: 300, max_entry_bytes: 1048576}
    routes:
      - route: GET /cached/{file}
        integration: {type: http_proxy, uri: "http://127.0.0.1:$BACKEND_PORT/{file}"}
        cache: {key_parameters: [method.request.path.file, method.request.querystring.k]}
EOF
}

start_tollgate() {  # start_tollgate NAME CONFIG WORKERS [CPU] -> TG_PID
    local name=$1 conf=$2 workers=$3 cpu=${4:-}
    local cmd=("$BIN" run "$conf" --workers "$workers" --driver "$DRIVER" --admin "$ADMIN")
    if [[ -n "$cpu" ]]; then cmd=(taskset -c "$cpu" "${cmd[@]}"); fi
    start_server "tollgate $name" "tollgate-$name" "$TG_PORT" 30 "${cmd[@]}"
    TG_PID=$SERVER_PID
}

cache_totals() {    # cache_totals -> "entries bytes misses hits" over all workers
    curl -s "http://$ADMIN/admin/cache" | python3 -c '
import json, sys
v = json.load(sys.stdin)
s = [st for w in v["workers"] for st in w["stages"]]
print(sum(x["entries"] for x in s), sum(x["bytes"] for x in s), sum(x["misses"] for x in s), sum(x["hits"] for x in s))'
}

origin_lines() { [[ -f "$TMP/origin.log" ]] && wc -l <"$TMP/origin.log" || echo 0; }

declare -A RPS P50 P99 CPU ERRS
measure() {         # measure KEY URL PIDS...
    local key=$1 url=$2 raw="$OUT/cache-$1.txt"
    shift 2
    measure_wrk "$raw" "$DURATION" "$*" "$url" || { log "wrk failed for $key"; BROKEN=1; }
    RPS[$key]=$W_RPS
    P50[$key]=$W_P50
    P99[$key]=$W_P99
    CPU[$key]=$W_CPU
    ERRS[$key]=$W_ERRS
    log "$key: ${RPS[$key]:-?} req/s, p50 ${P50[$key]:-?}us, p99 ${P99[$key]:-?}us, ${CPU[$key]:-?} CPU us/req, errors ${ERRS[$key]}"
}


# ------------------------------------------------------------------- main --
require_tools nginx wrk curl taskset python3
check_pinning
make_tmp tollgate-cache-bench
mkdir -p "$TMP/www"
head -c 100 /dev/zero | tr '\0' a >"$TMP/www/b100"
head -c 1024 /dev/zero | tr '\0' b >"$TMP/www/b1k"
head -c 10240 /dev/zero | tr '\0' c >"$TMP/www/b10k"

if ((BUILD)); then build_release; fi
require_bin
check_ports_free "$TG_PORT" "$NGX_PORT" "$BACKEND_PORT" 9913
LOAD1=$(load1)
warn_load "$LOAD1"

start_nginx cache-backend "$BENCH/nginx/cache-backend.conf" "$BACKEND_PORT" "$LOADGEN_CPU"
BACKEND_PID=$NGINX_PID

# --- 1. hits: tollgate vs nginx proxy_cache ----------------------------------
log "part 1: cached GET, $ROUNDS round(s) of $DURATION per server"
tollgate_config "$TMP/hits.yaml" 268435456
RA_T=() RA_N=()
for ((r = 1; r <= ROUNDS; r++)); do
    start_nginx cache "$BENCH/nginx/cache.conf" "$NGX_PORT" "$SERVER_CPU"
    NGX_PID=$NGINX_PID
    curl -s -o /dev/null "http://127.0.0.1:$NGX_PORT/hello"
    hdr=$(curl -s -D - -o /dev/null "http://127.0.0.1:$NGX_PORT/hello" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache" {print $2}')
    [[ "$hdr" == HIT ]] || log "WARNING: nginx proxy_cache answered X-Cache: '$hdr' (expected HIT)"
    run_wrk "$OUT/cache-nginx-warmup.txt" 1s "http://127.0.0.1:$NGX_PORT/hello" || true
    before=$(origin_lines)
    # shellcheck disable=SC2046
    measure "nginx#$r" "http://127.0.0.1:$NGX_PORT/hello" "$NGX_PID" $(pgrep -P "$NGX_PID" || true)
    NGX_ORIGIN=$(( $(origin_lines) - before ))
    stop_pid "$NGX_PID" "nginx cache"

    start_tollgate "hits" "$TMP/hits.yaml" 1 "$SERVER_CPU"
    curl -s -o /dev/null "http://127.0.0.1:$TG_PORT/cached/hello"
    age=$(curl -s -D - -o /dev/null "http://127.0.0.1:$TG_PORT/cached/hello" | tr -d '\r' | awk -F': ' 'tolower($1) == "age" {print $2}')
    [[ -n "$age" ]] || log "WARNING: tollgate's second answer has no Age header (not a hit?)"
    run_wrk "$OUT/cache-tollgate-warmup.txt" 1s "http://127.0.0.1:$TG_PORT/cached/hello" || true
    before=$(origin_lines)
    measure "tollgate#$r" "http://127.0.0.1:$TG_PORT/cached/hello" "$TG_PID"
    TG_ORIGIN=$(( $(origin_lines) - before ))
    stop_pid "$TG_PID" tollgate
    RA_T+=("${RPS[tollgate#$r]:-0}")
    RA_N+=("${RPS[nginx#$r]:-0}")
done
# the key of each server's median round (by req/s)
KT="tollgate#$(median_round RPS tollgate "$ROUNDS")"
KN="nginx#$(median_round RPS nginx "$ROUNDS")"
HIT_RATIO=$(ratio "${RPS[$KT]}" "${RPS[$KN]}" 2 n/a)
CPU_RATIO=$(ratio "${CPU[$KT]}" "${CPU[$KN]}" 2 n/a)
TARGET=$(awk -v r="$HIT_RATIO" 'BEGIN { print (r + 0 >= 1.5) ? "PASS" : "MISS" }')

# --- 2. memory per entry -------------------------------------------------------
log "part 2: memory per entry ($ENTRIES entries per body size)"
MEM_ROWS=()
for size in b100 b1k b10k; do
    tollgate_config "$TMP/mem.yaml" 4294967296
    start_tollgate "mem-$size" "$TMP/mem.yaml" 1 "$SERVER_CPU"
    # Warm the worker's buffers and pools on one key first.
    curl -s -o /dev/null "http://127.0.0.1:$TG_PORT/cached/$size?k=0"
    curl -s -o /dev/null "http://127.0.0.1:$TG_PORT/cached/$size?k=0"
    sleep 0.3
    rss0=$(rss_kb "$TG_PID")
    curl -s "http://127.0.0.1:$TG_PORT/cached/$size?k=[1-$ENTRIES]" >/dev/null
    sleep 0.5
    rss1=$(rss_kb "$TG_PID")
    read -r entries bytes _ _ < <(cache_totals)
    per=$(awk -v a="$rss0" -v b="$rss1" -v n="$((entries - 1))" 'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1024 / n }')
    acc=$(awk -v b="$bytes" -v n="$entries" 'BEGIN { if (n > 0) printf "%.0f", b / n }')
    body=$(stat -c %s "$TMP/www/$size")
    MEM_ROWS+=("| $body B | $entries | $acc B | $per B | $(awk -v p="$per" -v b="$body" 'BEGIN { printf "%.0f", p - b }') B |")
    log "$size: $entries entries, RSS +$((rss1 - rss0)) KiB, $per B per entry (accounted $acc B)"
    stop_pid "$TG_PID" tollgate
done

# --- 3. worker scaling -------------------------------------------------------
log "part 3: origin requests and memory by worker count ($KEYS keys of 1 KiB, $DURATION each)"
cat >"$TMP/keys.lua" <<'EOF'
local keys = tonumber(os.getenv("KEYS") or "2000")
math.randomseed(7)
request = function()
    return wrk.format("GET", "/cached/b1k?k=" .. math.random(1, keys))
end
EOF
ENTRY=$(( 1024 + 400 ))          # body + head + bookkeeping, roughly, per entry
SCALE_ROWS=()
for mode in ample tight; do
    if [[ $mode == ample ]]; then cap=268435456; else cap=$(( KEYS * ENTRY / 2 )); fi
    for workers in 1 2 4; do
        tollgate_config "$TMP/scale.yaml" "$cap"
        start_tollgate "scale-$mode-$workers" "$TMP/scale.yaml" "$workers"
        before=$(origin_lines)
        KEYS=$KEYS run_wrk "$OUT/cache-scale-$mode-$workers.txt" "$DURATION" -s "$TMP/keys.lua" "http://127.0.0.1:$TG_PORT" || BROKEN=1
        sleep 0.3
        origin=$(( $(origin_lines) - before ))
        reqs=$(awk '/ requests in / {print $1}' "$OUT/cache-scale-$mode-$workers.txt")
        read -r entries bytes misses hits < <(cache_totals)
        rss=$(rss_kb "$TG_PID")
        hit=$(awk -v h="$hits" -v m="$misses" 'BEGIN { if (h + m > 0) printf "%.1f", 100 * h / (h + m) }')
        SCALE_ROWS+=("| $mode ($(awk -v c="$cap" 'BEGIN { printf "%.1f MB", c / 1e6 }')) | $workers | $reqs | $origin | $(awk -v o="$origin" -v k="$KEYS" 'BEGIN { printf "%.2f", o / k }') | $hit % | $entries | $(awk -v b="$bytes" 'BEGIN { printf "%.1f MB", b / 1e6 }') | $(awk -v r="$rss" 'BEGIN { printf "%.1f MB", r / 1024 }') |")
        log "$mode/$workers workers: $reqs requests, $origin origin requests, hit $hit %, $entries entries, $bytes bytes, RSS $rss KiB"
        stop_pid "$TG_PID" tollgate
    done
done
stop_pid "$BACKEND_PID" "nginx backend"

# --- 4. policy ---------------------------------------------------------------
log "part 4: S3-FIFO vs LRU (cargo test --release --lib cache::sim -- --ignored)"
POLICY=$(cd "$ROOT" && cargo test --release --locked --lib cache::sim::policy_table -- --ignored --nocapture 2>/dev/null | grep '^|' || true)
[[ -n "$POLICY" ]] || { log "policy simulation failed"; BROKEN=1; }

# ----------------------------------------------------------------- report --
REV=$(bench_rev)
NGINX_V=$(nginx -v 2>&1 | sed 's/^nginx version: //')
SECTION=$(
    echo "<!-- bench:cache:start -->"
    echo "## Response cache (bench/cache.sh)"
    echo
    echo "- date: $(bench_date); kernel $(uname -r); $(nproc) CPUs; nginx $NGINX_V; tollgate $REV"
    echo "- load average $LOAD1 at start; wrk -t1 -c64 -d$DURATION --latency on CPU $LOADGEN_CPU with the backend nginx; server under test on CPU $SERVER_CPU, one worker; median of $ROUNDS interleaved round(s)"
    echo
    echo "### Cache hits vs nginx proxy_cache (same TTL, 300 s)"
    echo
    echo "| server | req/s | p50 | p99 | CPU µs/req | origin requests in the run | errors |"
    echo "|---|---:|---:|---:|---:|---:|---|"
    printf '| nginx proxy_cache (`GET /hello`) | %.0f | %s | %s | %s | %s | %s |\n' "${RPS[$KN]:-0}" "$(fmt_us "${P50[$KN]:-}")" "$(fmt_us "${P99[$KN]:-}")" "${CPU[$KN]:-n/a}" "$NGX_ORIGIN" "${ERRS[$KN]:-?}"
    printf '| tollgate REST stage cache (`GET /cached/hello`) | %.0f | %s | %s | %s | %s | %s |\n' "${RPS[$KT]:-0}" "$(fmt_us "${P50[$KT]:-}")" "$(fmt_us "${P99[$KT]:-}")" "${CPU[$KT]:-n/a}" "$TG_ORIGIN" "${ERRS[$KT]:-?}"
    echo
    echo "tollgate / nginx: req/s ${HIT_RATIO}×, CPU/req ${CPU_RATIO}×. Target req/s ≥ 1.5× nginx: $TARGET (${HIT_RATIO}×)."
    echo "All rounds, req/s: tollgate ${RA_T[*]}; nginx ${RA_N[*]}."
    echo
    echo "### Memory per entry (one worker, $ENTRIES keys)"
    echo
    echo "| body | entries | accounted per entry | RSS growth per entry | overhead beyond the body |"
    echo "|---:|---:|---:|---:|---:|"
    printf '%s\n' "${MEM_ROWS[@]}"
    echo
    echo "### Per-core caches: origin requests and memory by worker count"
    echo
    echo "$KEYS keys of 1 KiB chosen uniformly, wrk for $DURATION, TTL 300 s; workers unpinned on $(nproc) CPUs."
    echo "\"ample\": every worker's share holds every key; \"tight\": the stage's capacity holds half the keys' bytes, split over the workers."
    echo
    echo "| capacity | workers | requests | origin requests | origin / keys | hit ratio | entries (all workers) | cache bytes | RSS |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${SCALE_ROWS[@]}"
    echo
    echo "### Eviction policy: S3-FIFO vs LRU (same byte budget)"
    echo
    echo "100,000 keys of 1–16 KiB, 1,000,000 Zipf requests; \"+ scans\": every 50,000 requests a scan of 20,000 keys never seen again (not counted)."
    echo
    echo "$POLICY"
    echo "<!-- bench:cache:end -->"
)
echo
echo "$SECTION"

write_section cache "$SECTION"
log "wrote $RESULTS"
((BROKEN == 0)) || { log "something broke (see above and bench/out/)"; exit 1; }
exit 0
