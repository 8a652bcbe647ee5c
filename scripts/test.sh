#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need (real
# Redis 7.0 from Debian, the oracle every differential test compares against), then
# the unit tests of every crate and the black-box integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need_redis=0
for tool in redis-server redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null 2>&1 || need_redis=1
done
if [ "$need_redis" = 1 ]; then
  echo "== installing redis-server, redis-tools, redis-sentinel (the test oracle)"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq redis-server redis-tools redis-sentinel >/dev/null
  # Debian starts the packaged services on 6379; the tests never use them.
  $sudo_cmd service redis-server stop >/dev/null 2>&1 || true
  $sudo_cmd service redis-sentinel stop >/dev/null 2>&1 || true
fi
redis-server --version

echo "== unit tests and integration tests (release build, shared target dir)"
cargo test --release --workspace "$@"
