#!/usr/bin/env bash
# Snapshot benchmark: time `tollgate compile` on a 10,000-route configuration,
# loading + validating its snapshot, and one worker's route build, each the
# median of several runs (release build). Prints a table and writes the
# <!-- bench:snapshot:start --> … <!-- bench:snapshot:end --> section of
# bench/RESULTS.md (other sections are kept).
# Targets: load+validate < 50 ms, per-worker build < 20 ms; a MISS is reported,
# never fails the script. Exits non-zero only when the build or a step breaks.
#
#   bash bench/snapshot.sh             # build (release, --locked), then run
#   bash bench/snapshot.sh --no-build  # use the binaries already built
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" != "--no-build" ]]; then
    cargo build --release --locked --bin tollgate --example snapshot_bench
fi
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
"$TARGET/examples/snapshot_bench" "$TARGET/tollgate" "$ROOT/bench/RESULTS.md"
