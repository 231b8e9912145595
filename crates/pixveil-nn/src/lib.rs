//! pixveil neural networks: CNNs trained and evaluated on (possibly encrypted) image
//! batches, from HE-friendly ones (`x²` activations) to a CIFAR ResNet-18 with paper A's
//! adaptation network.
//!
//! The backend is hand-written pure-Rust CPU code, chosen for compile time on the 2-core
//! CI machine (see the crate README for the measurement): batched `NCHW` tensors,
//! convolution as direct 3×3 kernels ([`direct`], AVX2/FMA or portable, chosen at run time)
//! or `im2col` + SGEMM (`matrixmultiply`, runtime AVX2/FMA dispatch), batch
//! norm, ReLU, `x²`, max and global average pooling, residual blocks, softmax
//! cross-entropy with hand-written backward passes (checked against finite differences),
//! SGD with momentum and Adam, step / multi-step / cosine schedules. Work is split over
//! images with rayon; reductions are summed in a fixed order, so training is
//! bit-identical for a seed whatever the thread count.
//!
//! An optional LibTorch backend (cargo feature `tch`, off by default) runs the same
//! models through libtorch; see [`backend`] and the crate README.
//!
//! Training code depends only on `pixveil-image`: encryption is a [`Transform`] (or any
//! code) the application applies to the `u8` images before training.
//!
//! Weights are saved as safetensors with PyTorch names and layouts (conv weight
//! `[out, in, kh, kw]`, linear weight `[out, in]`, batch-norm buffers) and versioned
//! metadata (architecture, input shape, scheme id — never a key); see [`checkpoint`].

pub mod augment;
pub mod backend;
#[cfg(feature = "tch")]
pub mod backend_tch;
pub mod checkpoint;
pub mod direct;
pub mod error;
mod gemm;
pub mod layer;
pub mod model;
pub mod optim;
pub mod profile;
pub mod tensor;
pub mod train;

pub use augment::{augment_batch, Augmentation};
pub use backend::Backend;
pub use checkpoint::{load, save, CheckpointMeta, FORMAT_VERSION};
pub use direct::{conv_kernel, PORTABLE_ENV};
pub use error::{Error, Result};
pub use gemm::gemm_kernel;
pub use layer::Layer;
pub use model::{argmax, Architecture, Model, ModelConfig, Param, NUM_CLASSES};
pub use optim::{Adam, LrSchedule, Optimizer, OptimizerSettings, OptimizerState, Sgd};
pub use tensor::Tensor;
pub use train::{
    apply_transform, evaluate, predict, train_epoch, train_epoch_scheduled, BatchProgress,
    EpochStats, StepSchedule, Transform,
};
