#!/usr/bin/env bash
# The one command that runs every test of tollgate (README "Test").
# Installs what the tests need when it is missing, then runs:
#   1. unit tests, scripted codec tests and black-box tests (cargo test)
#   2. a short smoke run of every fuzz target (fuzz/smoke.sh)
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
# tests/quota_redis.rs starts its own redis-server (two gateways share quotas).
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# tests/authorizers.rs and tests/alloc_auth.rs make signing keys with `openssl genpkey`.
# tests/tls.rs and tests/h2.rs make their certificates with openssl.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "test.sh: installing ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# tests/iam.rs signs requests with botocore's SigV4Auth (a signer tollgate did not write).
if ! python3 -c 'import botocore' >/dev/null 2>&1; then
  echo "test.sh: installing botocore"
  python3 -m pip install --quiet botocore
fi
# tests/h2.rs drives HTTP/2 floods with the Python h2 library and gRPC calls with grpcio.
python3 -c 'import h2' >/dev/null 2>&1 || pip install --quiet h2
python3 -c 'import grpc' >/dev/null 2>&1 || pip install --quiet grpcio
# tests/tls.rs scans the TLS listener with sslyze (about a second).
python3 -c 'import sslyze' >/dev/null 2>&1 || pip install --quiet sslyze
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "test.sh: installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi

cargo test --locked --all-targets -- --test-threads="${TEST_THREADS:-4}"
bash fuzz/smoke.sh "${FUZZ_SECONDS:-5}"
echo "test.sh: all tests passed"
