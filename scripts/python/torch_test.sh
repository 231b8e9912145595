#!/usr/bin/env bash
# The PyTorch-dependent Python tests (issue 11, point 3): the transform in a DataLoader, and a
# torch model trained on images encrypted through pixveil.torch.Encrypt, saved as a pixveil
# checkpoint and scored by `pixveil eval`, `pixveil he-eval` and pixveil.he. Not part of
# .ci/run: torch wheels are large (CPU wheels from download.pytorch.org ~200 MB; PyPI's default
# build drags ~5 GB of CUDA libraries). Needs the real MNIST (../shared/data or
# PIXVEIL_DATA_DIR) for the interop test.
#
# Usage: scripts/python/torch_test.sh [pytest args]
#   VENV=.venv-torch   kept between runs (delete it for a fresh one)
#   TORCH_INDEX        pip index for torch (default: PyTorch's CPU wheels; set TORCH_INDEX=pypi
#                      for PyPI's default build)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${VENV:-.venv-torch}
index=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}

if [[ ! -d "$venv" ]]; then
  python3 -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install -q --upgrade pip
if [[ $index == pypi ]]; then
  python -m pip install -q torch
else
  python -m pip install -q torch --index-url "$index"
fi
python -m pip install -q maturin numpy pytest safetensors pillow
MATURIN_PEP517_ARGS="--locked --profile ${PIXVEIL_PY_PROFILE:-dev}" python -m pip install -q ./python
if [[ -z "${PIXVEIL:-}" && ! -x target/debug/pixveil ]]; then
  cargo build --locked -p pixveil --bin pixveil
fi
python -c 'import torch; print("torch", torch.__version__, "threads", torch.get_num_threads())'
python -m pytest -q -p no:cacheprovider -m torch python/tests "$@"
