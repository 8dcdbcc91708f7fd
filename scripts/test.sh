#!/usr/bin/env bash
# Runs every test of the project:
#   1. the pinned Python client environment in target/pyenv (reused while
#      scripts/python-requirements.txt and the Python version are unchanged),
#   2. SoftHSM and OpenSC for the PKCS#11 tests (Debian packages, installed when missing),
#      cargo build --bins, cargo test --all-targets, the doc examples (cargo test --doc) and
#      the developer documentation's links (cargo doc),
#   3. the real-client tests in tests/python against the freshly built daemon.
# Extra arguments are passed to pytest (e.g. `./scripts/test.sh -k expired`).
# Honours an exported CARGO_TARGET_DIR (default: target/ in the repository).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
REQUIREMENTS="$ROOT/scripts/python-requirements.txt"
VENV="$ROOT/target/pyenv"
STAMP="$VENV/.requirements.sha256"

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in
  /*) ;;
  *) TARGET_DIR="$ROOT/$TARGET_DIR" ;;
esac

section() {
  printf '\n======== %s ========\n' "$*"
}

fail() {
  printf '\ntest.sh: FAILED: %s\n' "$*" >&2
  exit 1
}

# Hash of everything that decides the venv's contents.
requirements_hash() {
  {
    cat "$REQUIREMENTS"
    "$PYTHON" -c 'import sys; print(sys.version)'
  } | sha256sum | cut -d' ' -f1
}

ensure_venv() {
  local want have=""
  # The pinned packages (and tomllib, which the deploy lint reads TOML with) need 3.11.
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || fail "$PYTHON is older than Python 3.11, which the test clients need (set PYTHON=python3.11 or newer)"
  want="$(requirements_hash)" || fail "cannot run $PYTHON"
  if [[ -x "$VENV/bin/python" && -f "$STAMP" ]]; then
    have="$(cat "$STAMP")"
  fi
  if [[ "$want" == "$have" ]]; then
    echo "reusing $VENV (requirements unchanged)"
    return 0
  fi
  echo "creating $VENV from $REQUIREMENTS"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV" || fail "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
    -r "$REQUIREMENTS" || fail "pip install -r $REQUIREMENTS failed"
  "$VENV/bin/python" -m pip check --disable-pip-version-check || fail "pinned Python packages are incompatible"
  echo "$want" > "$STAMP"
}

section "Python client environment ($VENV)"
ensure_venv
"$VENV/bin/python" -m pip freeze --disable-pip-version-check \
  | grep -Ei '^(boto3|botocore|awscli|iam.rolesanywhere.session|pytest|requests|cryptography|grpcio[a-z-]*)==' \
  | tr '\n' ' ' || true
echo

# The PKCS#11 tests sign with a SoftHSM token, made with softhsm2-util and OpenSC's
# pkcs11-tool, and reach it directly and through p11-kit's proxy (Debian packages softhsm2,
# opensc and p11-kit-modules, at the versions of the machine's Debian release). Installed when
# missing and this user may (root with apt-get); else those tests print that they were skipped.
ensure_pkcs11_tools() {
  if command -v softhsm2-util >/dev/null && command -v pkcs11-tool >/dev/null \
    && dpkg-query -W p11-kit-modules >/dev/null 2>&1; then
    return 0
  fi
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
    echo "softhsm2, opensc or p11-kit-modules is not installed (apt-get install softhsm2 opensc p11-kit-modules): the PKCS#11 tests will be skipped in part"
    return 0
  fi
  local packages=(softhsm2 opensc p11-kit-modules)
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null; } \
    || echo "could not install ${packages[*]}: the PKCS#11 tests will be skipped"
}

section "PKCS#11 test tools (softhsm2, opensc, p11-kit-modules)"
ensure_pkcs11_tools
dpkg-query -W softhsm2 opensc p11-kit-modules 2>/dev/null | tr '\t\n' '= ' || true
echo

section "cargo build --bins"
cargo build --bins || fail "cargo build --bins"

# Tests that cannot run here print a SKIPPED line (see tests/common::skip); listed again below.
CARGO_TEST_LOG="$TARGET_DIR/cargo-test.log"
mkdir -p "$TARGET_DIR"
section "cargo test --all-targets"
cargo test --all-targets 2>&1 | tee "$CARGO_TEST_LOG" || fail "cargo test --all-targets"

section "cargo test --doc"
cargo test --doc || fail "cargo test --doc"

# The developer documentation (src/lib.rs says to read it with private items): no broken
# links.
section "cargo doc --no-deps --document-private-items"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --document-private-items \
  || fail "cargo doc --no-deps --document-private-items"

ROLEGATE_BIN="$TARGET_DIR/debug/rolegate"
[[ -x "$ROLEGATE_BIN" ]] || fail "daemon binary not found at $ROLEGATE_BIN"
export ROLEGATE_BIN

section "pytest tests/python (ROLEGATE_BIN=$ROLEGATE_BIN)"
set +e
"$VENV/bin/python" -m pytest "$ROOT/tests/python" -q "$@"
status=$?
set -e
case "$status" in
  0) ;;
  5) fail "pytest collected no tests (exit 5)" ;;
  *) fail "pytest exited with status $status" ;;
esac

section "deploy/ lint (scripts/lint-deploy.sh)"
"$ROOT/scripts/lint-deploy.sh" || fail "deploy/ lint"

if grep -q 'SKIPPED ' "$CARGO_TEST_LOG"; then
  section "Rust tests skipped on this machine"
  grep -o 'SKIPPED .*' "$CARGO_TEST_LOG" | sort -u
fi

section "all tests passed"
