#!/usr/bin/env bash
# Builds and tests pixveil-nn's LibTorch backend (cargo feature `tch`, the only GPU path)
# against the libtorch inside PyPI's torch wheel (LIBTORCH_USE_PYTORCH=1). Not part of
# .ci/run: the wheel brings ~5 GB of CUDA runtime. Run it whenever crates/pixveil-nn changes:
# it runs the backend's own tests (src/backend_tch.rs: every architecture against the Rust
# engine, bad input) and clippy with the feature.
#
# Usage: scripts/tch/test.sh [cargo test args]
#   VENV=.venv-tch     the Python environment holding torch (created if missing)
#   TORCH_SPEC         pip requirement for torch (default: torch==2.13.0, the libtorch the
#                      tch crate 0.26 is written against; newer wheels need C++20 headers
#                      that torch-sys 0.26 does not compile with)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${VENV:-.venv-tch}
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -c 'import torch' 2>/dev/null || python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}"
python -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
export LIBTORCH_USE_PYTORCH=1
# libtorch's shared libraries, for the test binaries at run time.
torch_lib=$(python -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

echo "== cargo clippy -p pixveil-nn --features tch"
cargo clippy -p pixveil-nn --features tch --all-targets --locked -- -D warnings
echo "== cargo test -p pixveil-nn --features tch"
cargo test -p pixveil-nn --features tch --locked "$@"
