#!/usr/bin/env bash
# Installs everything the Writ test suite needs on a Debian 12 machine.
# Idempotent and fast when everything is already there: apt-get runs only when a
# package is missing. Prints one line per component.
#
#   PostgreSQL 15, slapd + ldap-utils, redis-server, chromium + chromium-driver
#   (Debian, without Recommends: those would pull in systemd and avahi; plus
#   fonts-liberation for legible screenshots), request-tracker5 + w3m (Request
#   Tracker 5, the real service desk; its debconf questions answered beforehand:
#   no dbconfig database, no cron jobs); scim2-server, schemathesis and
#   scim2-tester (PyPI, each in a venv under $WRIT_TEST_TOOLS); the OIDC test
#   provider and axe-core (npm, `npm ci` in crates/testkit/oidc-provider and
#   crates/testkit/axe; Node.js must be
#   there); cargo-nextest; cargo-deny 0.20 (crates.io, built
#   from source: about 7 minutes on 2 cores, once per machine).
#
# No service is started: the test harness (crates/testkit) starts its own
# throwaway servers. During apt-get install a policy-rc.d that denies every start
# is in place, so package postinst scripts (slapd, redis, postgresql) leave
# nothing running.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
# `cargo install` puts its binaries here; rustup's cargo lives here too.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
TOOLS_DIR="${WRIT_TEST_TOOLS:-${HOME:?}/.cache/writ-test-tools}"
SCIM_VERSION="0.8.3"
SCIM_VENV="$TOOLS_DIR/scim-venv"
# The API contract checker (crates/cli/tests/contract.rs); keep in step with
# writ_testkit::SCHEMATHESIS_PACKAGE.
SCHEMATHESIS_VERSION="4.32.5"
SCHEMATHESIS_VENV="$TOOLS_DIR/schemathesis-venv"
# The SCIM compliance checker (crates/cli/tests/scim_compliance.rs), a library
# run through its python; keep in step with writ_testkit::SCIM2_TESTER_PACKAGE.
SCIM2_TESTER_VERSION="0.5.2"
SCIM2_TESTER_VENV="$TOOLS_DIR/scim2-tester-venv"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=(sudo -E); else
        echo "install-test-deps: not root and no sudo; cannot install Debian packages" >&2
        exit 1
    fi
fi

deb_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# component name -> Debian packages it needs
declare -A COMPONENT_PKGS=(
    [postgresql]="postgresql postgresql-15"
    [slapd]="slapd"
    [ldap-utils]="ldap-utils"
    [redis-server]="redis-server"
    [chromium]="chromium fonts-liberation"
    [chromium-driver]="chromium-driver"
    [request-tracker5]="request-tracker5 w3m"
)
COMPONENTS=(postgresql slapd ldap-utils redis-server chromium chromium-driver request-tracker5)

# Python with a working venv module (for scim2-server; its `ssl` module also
# serves the harness's HTTPS servers: scim2-server over TLS, the webhook and
# witness receiver). TLS test certificates are made in Rust (rcgen): no
# openssl command is needed.
PYTHON=""
for candidate in /usr/bin/python3 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        PYTHON="$(command -v "$candidate")"
        break
    fi
done

missing=()
declare -A STATUS=()
for c in "${COMPONENTS[@]}"; do
    STATUS[$c]="already installed"
    for p in ${COMPONENT_PKGS[$c]}; do
        if ! deb_installed "$p"; then
            missing+=("$p")
            STATUS[$c]="installed"
        fi
    done
done
if [ -z "$PYTHON" ] && { [ ! -x "$SCIM_VENV/bin/scim2-server" ] || [ ! -x "$SCHEMATHESIS_VENV/bin/schemathesis" ] || [ ! -x "$SCIM2_TESTER_VENV/bin/python" ]; }; then
    missing+=(python3 python3-venv)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    # Deny service starts from maintainer scripts unless a policy is already set.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# writ install-test-deps: no service starts\nexit 101\n' |
            "${SUDO[@]}" tee "$policy" >/dev/null
        "${SUDO[@]}" chmod 0755 "$policy"
        own_policy=1
    fi
    cleanup_policy() { if [ "$own_policy" = 1 ]; then "${SUDO[@]}" rm -f "$policy"; fi; }
    trap cleanup_policy EXIT

    # Request Tracker asks debconf questions: no database made by
    # dbconfig-common and no cron jobs (the harness makes its own SQLite db in a
    # temp dir, see crates/testkit/src/request_tracker.rs).
    if [[ " ${missing[*]} " == *" request-tracker5 "* ]]; then
        printf '%s\n' \
            'request-tracker5 request-tracker5/dbconfig-install boolean false' \
            'request-tracker5 request-tracker5/install-cronjobs boolean false' \
            'request-tracker5 request-tracker5/rtname string writ-test' |
            "${SUDO[@]}" debconf-set-selections
    fi

    echo "apt: installing ${missing[*]}" >&2
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" >/dev/null

    cleanup_policy
    own_policy=0
    trap - EXIT
fi

for c in "${COMPONENTS[@]}"; do
    for p in ${COMPONENT_PKGS[$c]}; do
        deb_installed "$p" || { echo "$c: FAILED (package $p not installed)" >&2; exit 1; }
    done
    echo "$c: ${STATUS[$c]}"
done
[ -x /usr/lib/postgresql/15/bin/postgres ] ||
    { echo "postgresql: FAILED (/usr/lib/postgresql/15/bin/postgres missing)" >&2; exit 1; }
[ -x /usr/share/request-tracker5/libexec/rt-server ] && [ -x /usr/sbin/rt-setup-database-5 ] ||
    { echo "request-tracker5: FAILED (rt-server or rt-setup-database-5 missing)" >&2; exit 1; }

# A PyPI tool in a venv of its own (their dependencies stay apart), reinstalled
# when the pinned requirement changes (the venv records the one it holds).
#   pypi_tool NAME BINARY REQUIREMENT VENV
pypi_tool() {
    local name="$1" binary="$2" requirement="$3" venv="$4"
    if [ -x "$venv/bin/$binary" ] && [ "$(cat "$venv/.writ-requirement" 2>/dev/null)" = "$requirement" ]; then
        echo "$name: already installed ($venv)"
        return
    fi
    if [ -z "$PYTHON" ]; then PYTHON=/usr/bin/python3; fi
    mkdir -p "$TOOLS_DIR"
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "$requirement"
    [ -x "$venv/bin/$binary" ] || { echo "$name: FAILED (no $binary in $venv/bin)" >&2; exit 1; }
    echo "$requirement" >"$venv/.writ-requirement"
    echo "$name: installed ($venv)"
}
pypi_tool scim2-server scim2-server "scim2-server==$SCIM_VERSION" "$SCIM_VENV"
pypi_tool schemathesis schemathesis "schemathesis==$SCHEMATHESIS_VERSION" "$SCHEMATHESIS_VENV"
pypi_tool scim2-tester python "scim2-tester[httpx2]==$SCIM2_TESTER_VERSION" "$SCIM2_TESTER_VENV"

# The OIDC test provider (crates/testkit/oidc-provider: npm `oidc-provider`,
# pinned by its package-lock.json), run by Node. `npm ci` only when the
# installed tree is not the lockfile's (npm records it in .package-lock.json),
# so a second run needs no registry.
OIDC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/crates/testkit/oidc-provider"
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
    { echo "oidc-provider: FAILED (node and npm are needed: install Node.js >= 20.12)" >&2; exit 1; }
if [ -f "$OIDC_DIR/node_modules/.package-lock.json" ] &&
    [ "$OIDC_DIR/node_modules/.package-lock.json" -nt "$OIDC_DIR/package-lock.json" ] &&
    [ -d "$OIDC_DIR/node_modules/oidc-provider" ]; then
    echo "oidc-provider: already installed ($OIDC_DIR/node_modules)"
else
    npm ci --prefix "$OIDC_DIR" --no-audit --no-fund --prefer-offline --silent
    echo "oidc-provider: installed ($OIDC_DIR/node_modules)"
fi

# axe-core (crates/testkit/axe), the accessibility checker the portal's
# browser tests inject into each page; pinned by its package-lock.json.
AXE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/crates/testkit/axe"
if [ -f "$AXE_DIR/node_modules/.package-lock.json" ] &&
    [ "$AXE_DIR/node_modules/.package-lock.json" -nt "$AXE_DIR/package-lock.json" ] &&
    [ -f "$AXE_DIR/node_modules/axe-core/axe.min.js" ]; then
    echo "axe-core: already installed ($AXE_DIR/node_modules)"
else
    npm ci --prefix "$AXE_DIR" --no-audit --no-fund --prefer-offline --silent
    echo "axe-core: installed ($AXE_DIR/node_modules)"
fi

# cargo-nextest
if cargo nextest --version >/dev/null 2>&1; then
    echo "cargo-nextest: already installed"
else
    cargo install --locked cargo-nextest
    echo "cargo-nextest: installed"
fi

# cargo-deny (scripts/test.sh: `cargo deny check`). deny.toml is written for the
# 0.20 series: an older or newer minor version may read it differently, so any
# other version is replaced (cargo-deny releases are 0.x: each minor may break).
CARGO_DENY_SERIES="0.20"
deny_version="$(cargo deny --version 2>/dev/null || true)"
if [[ "$deny_version" == "cargo-deny $CARGO_DENY_SERIES."* ]]; then
    echo "cargo-deny: already installed (${deny_version#cargo-deny })"
else
    cargo install --locked --force cargo-deny --version "~$CARGO_DENY_SERIES"
    deny_version="$(cargo deny --version 2>/dev/null)" ||
        { echo "cargo-deny: FAILED (cargo deny --version does not run)" >&2; exit 1; }
    echo "cargo-deny: installed (${deny_version#cargo-deny })"
fi
