#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs the peers
# the tests talk to (none yet beyond the Rust toolchain), then cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Peers for later suites are installed here, each guarded so that a
# developer machine that has them is not touched.

cargo test --workspace --all-targets "$@"
# Doc tests are not part of --all-targets.
cargo test --workspace --doc
