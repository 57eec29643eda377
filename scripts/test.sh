#!/usr/bin/env bash
# Installs everything the tests need (a virtualenv with the pinned tools, Azurite from npm)
# and runs lint, format check, type check and the whole test suite with coverage.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]'

# Debian's chromium for the drift report test (headless); CI runs as root, so apt-get works there.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium
fi

# Azurite (the Azure Storage emulator) from npm into .cache/azurite; the tests start it themselves.
.venv/bin/python examples/azurite.py

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# pytest exits 5 when it collected no test: with `set -e` that fails this script too.
.venv/bin/python -m pytest --cov --cov-report=term "$@"
