// Compatibility shim for building torch-sys 0.26 (generated for PyTorch 2.13) against a newer
// libtorch such as the PyTorch 2.15 wheel: 2.15 removed the deprecated `torch::cholesky` and
// `torch::qr` (and their `_out` forms) that torch-sys' generated C++ still calls. pixveil
// never calls them; these forward to their `linalg` replacements so that the bindings compile.
//
// Used through CXXFLAGS, which cc applies after torch-sys' own `-std=c++17` (PyTorch 2.15's
// headers need C++20):
//   CXXFLAGS="-std=c++20 -include $PWD/crates/pixveil-nn/tch-compat/torch_2_15.h"
// See crates/pixveil-nn/README.md ("LibTorch backend").
#pragma once
#include <torch/torch.h>

namespace torch {
#if !defined(PIXVEIL_TORCH_HAS_CHOLESKY)
inline at::Tensor cholesky(const at::Tensor &self, bool upper) {
  return at::linalg_cholesky(self, upper);
}
inline at::Tensor &cholesky_out(at::Tensor &out, const at::Tensor &self, bool upper) {
  return at::linalg_cholesky_out(out, self, upper);
}
#endif
#if !defined(PIXVEIL_TORCH_HAS_QR)
inline std::tuple<at::Tensor, at::Tensor> qr(const at::Tensor &self, bool some) {
  return at::linalg_qr(self, some ? "reduced" : "complete");
}
inline std::tuple<at::Tensor &, at::Tensor &> qr_out(at::Tensor &Q, at::Tensor &R,
                                                    const at::Tensor &self, bool some) {
  return at::linalg_qr_out(Q, R, self, some ? "reduced" : "complete");
}
#endif
} // namespace torch
