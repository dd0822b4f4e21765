#!/usr/bin/env bash
# Installs deepnet with its test tools and runs every check: Rust unit tests, lints, the built
# wheel in a fresh environment without Rust, pytest.
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
"$python" -m ruff check python tests benches docs/_ext
"$python" -m ruff format --check python tests benches docs/_ext

step "stub check: python/deepnet/_core.pyi against the compiled module"
"$python" -m mypy.stubtest deepnet._core --ignore-missing-stub

step "the wheel users install, in a fresh virtual environment without Rust"
# maturin reuses the release build that the editable install above left in target/, so this
# compiles nothing (~1.5 s); the environment, its install and the smoke test take ~20 s
wheel_tmp="$(mktemp -d)"
trap 'rm -rf "$wheel_tmp"' EXIT
"$python" -m maturin build --release --quiet --out "$wheel_tmp/dist"
wheel=("$wheel_tmp"/dist/deepnet-*.whl)
"$python" -m venv "$wheel_tmp/venv"
(
    # from here on nothing of the build machine's Rust toolchain can be found
    export PATH="$wheel_tmp/venv/bin:/usr/bin:/bin"
    unset PYTHONPATH VIRTUAL_ENV
    if command -v cargo || command -v rustc; then
        echo "cargo or rustc is still on PATH: the wheel test would not show it needs neither" >&2
        exit 1
    fi
    # --no-compile: byte-compiling scipy and scikit-learn would add ~15 s
    python -m pip install --disable-pip-version-check -q --no-compile "${wheel[0]}[sklearn]"
    cp scripts/wheel_smoke.py "$wheel_tmp/"
    # run from outside the repository, so that `import deepnet` finds the installed wheel
    cd "$wheel_tmp" && python wheel_smoke.py
)

step "the documentation site: mkdocs build --strict (docstring warnings and broken links fail)"
docs_tmp="$(mktemp -d)"
NO_MKDOCS_2_WARNING=1 "$python" -m mkdocs build --strict --quiet --site-dir "$docs_tmp/site"
rm -rf "$docs_tmp"

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
