#!/usr/bin/env bash
# Installs everything the tests need (a virtualenv with the pinned tools, Azurite from npm)
# and runs lint, format check, type check and the whole test suite with coverage.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
AZURITE_VERSION="3.35.0"

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]'

if [ ! -x .cache/azurite/node_modules/.bin/azurite-blob ]; then
  npm install --silent --no-audit --no-fund --prefix .cache/azurite "azurite@${AZURITE_VERSION}"
fi
export OTEL_MODELDATA_TEST_AZURITE="$PWD/.cache/azurite/node_modules/.bin/azurite-blob"

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# pytest exits 5 when it collected no test: with `set -e` that fails this script too.
.venv/bin/python -m pytest --cov --cov-report=term "$@"
