#!/usr/bin/env bash
# The end-to-end demo: a scoring service collecting its inputs and predictions into CSV files.
# Usage: bash scripts/demo.sh [--out DIR] [--requests N] [--seed N] [--azurite]   (see examples/demo.py)
# --azurite: the service writes to Blob Storage in a local Azurite (npm installs it on first use).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[examples]'
exec .venv/bin/python examples/demo.py "$@"
