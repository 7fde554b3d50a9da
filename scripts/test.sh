#!/usr/bin/env bash
# The test suite: set up (first time only), then pytest (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${LOCRNN_VENV:-.venv}/bin/python" -m pytest "$@"
