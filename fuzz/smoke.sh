#!/usr/bin/env bash
# Short fuzz run of every target (STYLE.md #7): `bash fuzz/smoke.sh [SECONDS]`
# runs each target for SECONDS (default 5) seeded with fuzz/corpus/<target>,
# and exits non-zero on the first crash, leak, timeout or assertion failure
# (the input is left in fuzz/artifacts/<target>/).
#
# Runs on the stable toolchain: `-s none` turns off sanitizers, which are the
# only part of cargo-fuzz that needs nightly `-Z` flags. Builds in release
# mode with debug assertions, cargo-fuzz's defaults. New corpus entries go to
# a temporary directory, so the checked-in seeds stay as they are.
set -euo pipefail
cd "$(dirname "$0")"

secs="${1:-5}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "smoke.sh: cargo-fuzz is missing (cargo install cargo-fuzz --locked)" >&2
  exit 1
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

targets=$(cargo fuzz list)
cargo fuzz build -s none >/dev/null 2>&1 || cargo fuzz build -s none
for t in $targets; do
  mkdir -p "$scratch/$t"
  # Inputs up to 4 KiB, but a whole snapshot of config/gateway.yaml (the
  # snapshot target's seed) is bigger.
  max_len=4096
  [ "$t" = snapshot_decode ] && max_len=16384
  echo "smoke.sh: $t for ${secs}s"
  if ! cargo fuzz run -s none "$t" "$scratch/$t" "corpus/$t" -- \
      -max_total_time="$secs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
      >"$scratch/$t.log" 2>&1; then
    tail -n 60 "$scratch/$t.log" >&2
    echo "smoke.sh: $t FAILED (input saved under fuzz/artifacts/$t/)" >&2
    exit 1
  fi
  { grep -E '^#[0-9]+' "$scratch/$t.log" | tail -n 1; tail -n 1 "$scratch/$t.log"; } || true
done
echo "smoke.sh: all fuzz targets passed"
