#!/usr/bin/env bash
# Re-resolve pyproject.toml's ranges in a fresh venv and freeze them into
# requirements/constraints.txt (then run scripts/test.sh and commit both if it passes).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d)/venv
trap 'rm -rf "$(dirname "$venv")"' EXIT
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -r requirements/ci.txt
"$venv/bin/python" -m pip install -q -e ".[dev]"
{
  sed -n '1,3p' requirements/constraints.txt
  "$venv/bin/python" -m pip freeze --exclude-editable | sed 's/^torch==\([0-9.]*\)+cpu$/torch==\1/'
} > requirements/constraints.txt.new
mv requirements/constraints.txt.new requirements/constraints.txt
echo "requirements/constraints.txt: $(grep -vc '^#' requirements/constraints.txt) packages"
