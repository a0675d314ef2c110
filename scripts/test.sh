#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs (idempotently) every package
# the tests need, then runs every test of the workspace with cargo-nextest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --workspace --all-targets --locked
cargo nextest run --workspace --locked --no-fail-fast "$@"
# nextest does not run doc tests.
cargo test --workspace --locked --doc
