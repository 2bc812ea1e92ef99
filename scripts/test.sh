#!/usr/bin/env bash
# Runs every test of the workspace: unit tests of each crate and the integration tests in
# crates/server/tests, which start the real tessera-server and talk to it with the `redis`
# crate and the real redis-cli.
#
#   scripts/test.sh                      # everything
#   scripts/test.sh -p server --test keys  # extra arguments go to `cargo test`
#   TESSERA_TEST_AGAINST_REDIS=1 scripts/test.sh -p server --tests
#                                        # the same integration tests against redis-server
#
# Installs redis-server, redis-tools (redis-cli, redis-benchmark) and tcl with apt-get
# when any of them is missing (with sudo when not root).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in redis-server redis-cli tclsh; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> ${missing[*]} missing: installing redis-server redis-tools tcl with apt-get"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    redis-server redis-tools tcl
fi

echo "==> cargo test --workspace $*"
exec cargo test --workspace "$@"
