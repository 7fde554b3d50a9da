#!/usr/bin/env bash
# The main job: set up (first time only), then train LocRNN on 9x9 mazes and sweep 9/11/13.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${LOCRNN_VENV:-.venv}/bin/locrnn" demo "$@"
