#!/usr/bin/env bash
# pixveil.Key.encrypt (release build of the Python module) vs `pixveil bench encrypt` and NumPy,
# in one run: builds both in release, then runs scripts/python/bench_encrypt.py.
# Usage: scripts/python/bench.sh [--json]
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${VENV:-.venv-bench}
[[ -d "$venv" ]] || python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install -q maturin numpy "ray[data]"
MATURIN_PEP517_ARGS="--locked --profile release" python -m pip install -q --force-reinstall --no-deps ./python
cargo build --locked --release -p pixveil --bin pixveil
python scripts/python/bench_encrypt.py --pixveil target/release/pixveil "$@"
