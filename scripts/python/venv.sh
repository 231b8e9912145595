#!/usr/bin/env bash
# A fresh virtual environment with what the Python test suite needs from PyPI (maturin, NumPy,
# pytest, Ray Data); the pixveil package itself is installed by test.sh. .ci/run starts this in
# the background while Rust compiles, so downloads overlap the build.
#
# Usage: scripts/python/venv.sh
#   VENV=.venv-ci   where the environment goes (re-created every run)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${VENV:-.venv-ci}
python=${PYTHON:-python3}

echo "== fresh virtual environment $venv ($($python --version))"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q "maturin>=1.9,<2" numpy pytest "ray[data]"
