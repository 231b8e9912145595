#!/usr/bin/env bash
# The Python package's test suite, as .ci/run runs it: a fresh virtual environment, the package
# built from python/ by pip (maturin), then pytest. Torch-dependent tests are skipped here (see
# torch_test.sh); CLI-dependent tests use the pixveil binary ($PIXVEIL, else target/debug).
#
# Usage: scripts/python/test.sh [pytest args]
#   VENV=.venv-ci         where the environment goes (re-created every run)
#   PIXVEIL_PY_VENV_READY=1  $VENV was just made by venv.sh (as .ci/run does, in the
#                         background): use it instead of re-creating it
#   PIXVEIL_PY_PROFILE    cargo profile of the extension (default dev: CI builds fast; release
#                         for benchmarks)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${VENV:-.venv-ci}
profile=${PIXVEIL_PY_PROFILE:-dev}
python=${PYTHON:-python3}

if [[ "${PIXVEIL_PY_VENV_READY:-}" != 1 ]]; then
  VENV=$venv PYTHON=$python scripts/python/venv.sh
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"

echo "== pip install ./python (cargo profile $profile)"
# maturin is already in the environment: no isolated build environment to set up.
MATURIN_PEP517_ARGS="--locked --profile $profile" python -m pip install -q --no-build-isolation ./python

if [[ -z "${PIXVEIL:-}" && ! -x target/debug/pixveil ]]; then
  cargo build --locked -p pixveil --bin pixveil
fi

echo "== pytest python/tests"
# From the repository root: python/ itself must not shadow the installed package.
python -m pytest -q -p no:cacheprovider -m "not torch" python/tests "$@"
