#!/usr/bin/env bash
# Create .venv with AngioSeg and its dependencies (CPU torch unless a torch is already there).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install -q -r requirements/ci.txt
fi
.venv/bin/python -m pip install -q -e ".[dev]"
