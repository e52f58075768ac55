#!/usr/bin/env bash
# Create .venv (if missing), install the project with its pinned Python dependencies, and the browser
# assets from npm (pinned in package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
bash scripts/vendor_assets.sh
