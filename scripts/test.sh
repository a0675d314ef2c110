#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs (idempotently) every package
# the tests need, runs the static checks (cheapest first), then runs every test of
# the workspace with cargo-nextest. Each step first prints one line, "==> [time
# since start] command", so a failure is easy to place in the log.
#
# The RustSec advisory database lives on GitHub. When it cannot be fetched (no
# route to GitHub) and no recent copy of it is on this machine, the advisories
# check is reported as NOT CHECKED (with WARNING lines) and the run goes on; set
# WRIT_REQUIRE_ADVISORIES=1 to make that a failure instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

step() { printf '==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "install test dependencies (scripts/install-test-deps.sh)"
./scripts/install-test-deps.sh

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo deny check bans licenses sources"
cargo deny --locked check bans licenses sources

# Advisories: fetch the RustSec database (seconds), then check against it. When it
# cannot be fetched, a copy fetched earlier is used if its newest advisory commit
# is no older than deny.toml's maximum-db-staleness (judged here: a failed fetch
# touches the copy, so cargo-deny's own file-time test would always pass).
# Otherwise the run says loudly that advisories were not checked.
step "cargo deny check advisories"
advisory_dbs="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
fetch_log="$(mktemp)"
trap 'rm -f "$fetch_log"' EXIT
fetch_error() { grep -v '^[[:space:]]*$' "$fetch_log" | tail -n 3 | sed 's/^/    /' || true; }
not_checked() {
    {
        echo "WARNING: advisories NOT CHECKED: the advisory database could not be fetched, and $1:"
        fetch_error
        echo "WARNING: known vulnerabilities, unsound, unmaintained and yanked crates were NOT looked for."
    } >&2
    if [ "${WRIT_REQUIRE_ADVISORIES:-0}" = 1 ]; then
        echo "WRIT_REQUIRE_ADVISORIES=1: failing." >&2
        exit 1
    fi
}
if timeout 300 cargo deny --locked fetch db >"$fetch_log" 2>&1; then
    cargo deny --locked --offline check advisories
elif db="$(compgen -G "$advisory_dbs/advisory-db-*" | head -n1)" && [ -d "$db/crates" ]; then
    max_days="$(sed -n 's/^maximum-db-staleness *= *"P\([0-9]*\)D".*/\1/p' deny.toml)"
    last_commit="$(git -C "$db" log -1 --format=%ct 2>/dev/null || echo 0)"
    age_days=$((($(date +%s) - last_commit) / 86400))
    if [ "$age_days" -le "${max_days:-90}" ]; then
        echo "advisory database not fetched: using the copy in $db, last changed $(date -u -d "@$last_commit" +%F) ($age_days days ago)"
        fetch_error
        cargo deny --locked --offline check advisories
    else
        not_checked "the copy in $db was last changed $age_days days ago (more than ${max_days:-90})"
    fi
else
    not_checked "there is no copy in $advisory_dbs"
fi

# writ-core alone: a feature of a shared dependency (chrono's clock, I/O) that
# only another crate switches on is not there, so the core cannot lean on it.
step "cargo build -p writ-core --locked"
cargo build -p writ-core --locked

step "cargo clippy --workspace --all-targets --locked -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo build --workspace --all-targets --locked"
cargo build --workspace --all-targets --locked

# nextest does not run doc tests. They run first, so that the run ends with
# nextest's summary of the whole suite.
step "cargo test --workspace --locked --doc"
cargo test --workspace --locked --doc

step "cargo nextest run --workspace --locked --no-fail-fast $*"
cargo nextest run --workspace --locked --no-fail-fast "$@"
