#!/usr/bin/env bash
# Create .venv with AngioSeg and its dependencies at the versions of requirements/constraints.txt
# (CPU torch unless a torch is already there). ANGIOSEG_UNPINNED=1 resolves pyproject's ranges
# instead (what scripts/refresh-constraints.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
constraints=(-c requirements/constraints.txt)
[ "${ANGIOSEG_UNPINNED:-0}" = 1 ] && constraints=()
.venv/bin/python -m pip install -q --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install -q -r requirements/ci.txt
fi
.venv/bin/python -m pip install -q "${constraints[@]}" -e ".[dev]"
