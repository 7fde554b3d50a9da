#!/usr/bin/env bash
# Create .venv (once) and install locrnn into it with what the tests need.
# Torch: a CUDA build where an NVIDIA GPU is present, else the CPU build (LOCRNN_TORCH overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${LOCRNN_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "locrnn: creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
  if [ -n "${LOCRNN_TORCH:-}" ]; then
    spec="$LOCRNN_TORCH"
  elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    spec="torch>=2.4"
  else
    spec="torch==2.13.0"  # the CPU build (this is the version that exists as a CPU wheel here)
  fi
  echo "locrnn: installing $spec" >&2
  "${PIP[@]}" "$spec"
fi
stamp="$VENV/.locrnn-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "locrnn: installing locrnn and its dependencies into $VENV" >&2
  "${PIP[@]}" -e ".[test]"
  touch "$stamp"
fi
