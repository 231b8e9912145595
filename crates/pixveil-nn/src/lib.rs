//! pixveil neural networks: small HE-friendly CNNs trained and evaluated on
//! (possibly encrypted) image batches.
//!
//! The backend is hand-written pure-Rust CPU code (direct convolution, dense layers,
//! `x²` activations, softmax cross-entropy with manual backward, Adam and SGD with
//! momentum), chosen for
//! compile time on the 2-core CI machine; see the crate README for the measurement.
//!
//! Training code depends only on `pixveil-image`: encryption is a [`Transform`] the
//! application plugs in, applied to every `u8` image before it is scaled to `[0, 1]`.
//!
//! Weights are saved as safetensors with PyTorch names and layouts (conv weight
//! `[out, in, kh, kw]`, linear weight `[out, in]`) and versioned metadata
//! (architecture, input shape, scheme id — never a key); see [`checkpoint`].

#![forbid(unsafe_code)]

pub mod augment;
pub mod checkpoint;
pub mod error;
pub mod model;
pub mod train;

pub use augment::{augment_batch, Augmentation};
pub use checkpoint::{load, save, CheckpointMeta, FORMAT_VERSION};
pub use error::{Error, Result};
pub use model::{Architecture, Layer, Model, Param};
pub use train::{
    apply_transform, evaluate, to_tensor, train_epoch, Adam, EpochStats, Optimizer, Sgd, Transform,
};
