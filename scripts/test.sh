#!/usr/bin/env bash
# The test suite: set up (first time only), then pytest (extra arguments go to pytest).
# It leaves out the end-to-end tests marked slow, so that it takes a few minutes on 2 CPU cores;
# LOCRNN_ALL_TESTS=1 runs them too, and so does naming a test (path::name) or giving your own -m.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
select=(-m "not slow")
if [ "${LOCRNN_ALL_TESTS:-0}" = "1" ]; then
  select=()
fi
for arg in "$@"; do
  case "$arg" in
    -m* | *::*) select=() ;;  # -m EXPR, -mEXPR, tests/test_x.py::test_y
  esac
done
exec "${LOCRNN_VENV:-.venv}/bin/python" -m pytest ${select[@]+"${select[@]}"} "$@"
