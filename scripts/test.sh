#!/usr/bin/env bash
# Installs deepnet with its test tools and runs every check: Rust unit tests, lints, pytest.
# Usage: bash scripts/test.sh      (the README's test command; .ci/run calls it)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"

step() { printf '\n== %s\n' "$*"; }

step "install deepnet and the test tools (compiles the Rust extension, release profile)"
"$python" -m pip install --disable-pip-version-check -q -e ".[test]"

step "cargo test (the Rust core, no Python involved)"
cargo test --quiet

step "cargo fmt --check, cargo clippy -D warnings"
cargo fmt --check
cargo clippy --quiet --all-targets --features python -- -D warnings

step "ruff"
"$python" -m ruff check python tests benches
"$python" -m ruff format --check python tests benches

step "stub check: python/deepnet/_core.pyi against the compiled module"
"$python" -m mypy.stubtest deepnet._core --ignore-missing-stub

step "pytest"
set +e
"$python" -m pytest -q tests
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi
exit "$rc"
