#!/usr/bin/env bash
# Set up (idempotent) and run ruff and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system-deps.sh
echo "resolved: $(.venv/bin/python -m pip freeze --exclude-editable | grep -iE '^(torch|monai|numpy|scipy|scikit-image|opencv-python-headless|skan|onnxruntime|pydicom|highdicom)==' | tr '\n' ' ')"
.venv/bin/ruff check .
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} .venv/bin/python -m pytest -q "$@"
