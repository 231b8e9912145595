//! The one place that calls the training engine (`pixveil-nn`): backend selection, model
//! construction, optimisers, learning-rate schedules, epochs, evaluation, prediction and
//! checkpoints. Everything above (the training job, the CLI's `train`, `eval`, `predict`,
//! `experiments`, `bench train`, `demo`) only uses this module, so engine API changes stay
//! local.

use std::path::Path;
use std::sync::OnceLock;

use pixveil_image::{ImageBatch, Shape};
use pixveil_nn as nn;

use crate::error::{invalid, Context, Error, IoContext, Result};

pub use nn::{BatchProgress, EpochStats, LrSchedule as Schedule, Model, Optimizer};

/// Compute backends (the CLI's `--backend`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// The built-in pure-Rust engine.
    #[default]
    Rust,
    /// LibTorch (CUDA if it sees a GPU, else CPU); needs a build with
    /// `--features pixveil-nn/tch`.
    Tch,
}

impl From<BackendKind> for nn::Backend {
    fn from(b: BackendKind) -> Self {
        match b {
            BackendKind::Rust => nn::Backend::Rust,
            BackendKind::Tch => nn::Backend::Tch,
        }
    }
}

static BACKEND: OnceLock<nn::Backend> = OnceLock::new();

/// Selects the backend for the rest of the process (once, before any training); `threads`
/// also sets LibTorch's thread count.
///
/// # Errors
/// A backend this build does not have ("built without the tch feature").
pub fn set_backend(kind: BackendKind, threads: Option<usize>) -> Result<()> {
    let chosen = nn::Backend::from(kind);
    chosen
        .check()
        .context_with(|| format!("--backend {}", chosen.name()))?;
    if let Some(n) = threads {
        chosen.set_threads(n);
    }
    if BACKEND.set(chosen).is_err() && backend() != chosen {
        invalid!("the backend is already set to {}", backend());
    }
    Ok(())
}

/// The selected backend (default: the Rust engine).
pub fn backend() -> nn::Backend {
    BACKEND.get().copied().unwrap_or_default()
}

/// The selected backend for reports, e.g. `tch (libtorch, cpu)`.
pub fn backend_description() -> String {
    backend().describe()
}

/// What a model is: everything stored in a checkpoint's metadata besides the scheme id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    /// Architecture name (`tenseal-cnn`, `he-cnn`, `small-cnn`, `resnet18`).
    pub architecture: String,
    /// Input shape `[C, H, W]` (channels, height, width in pixels).
    pub input_shape: [usize; 3],
    /// Paper A's adaptation network in front.
    pub adaptation: bool,
    /// ResNet base width (64 = standard).
    pub width: usize,
}

impl ModelSpec {
    /// A spec for images of `shape`.
    pub fn new(architecture: &str, shape: Shape, adaptation: bool, width: usize) -> Self {
        Self {
            architecture: architecture.to_owned(),
            input_shape: [shape.channels(), shape.height(), shape.width()],
            adaptation,
            width,
        }
    }

    /// `HxWxC` text of the input shape.
    pub fn shape_text(&self) -> String {
        let [c, h, w] = self.input_shape;
        format!("{h}x{w}x{c}")
    }

    fn config(&self) -> Result<nn::ModelConfig> {
        let mut c = nn::ModelConfig::new(architecture(&self.architecture)?, self.input_shape);
        c.adaptation = self.adaptation;
        c.width = self.width;
        Ok(c)
    }
}

/// The architecture names this engine knows.
pub fn architecture_names() -> Vec<&'static str> {
    nn::Architecture::ALL.iter().map(|a| a.name()).collect()
}

fn architecture(name: &str) -> Result<nn::Architecture> {
    nn::Architecture::from_name(name).map_err(|_| {
        Error::Invalid(format!(
            "unknown model {name:?}; this build has {}",
            architecture_names().join(", ")
        ))
    })
}

/// A freshly initialised model.
///
/// # Errors
/// An unknown architecture, or one that does not take images of `spec.input_shape`.
pub fn build_model(spec: &ModelSpec, seed: u64) -> Result<Model> {
    let config = spec.config()?;
    // The HE-friendly models are the MNIST-family models of the TenSEAL tutorial and
    // CryptonDL; the encrypted-inference code expects them on 28×28×1 images.
    if config.architecture.he_friendly() && spec.input_shape != [1, 28, 28] {
        invalid!(
            "{} is an HE-friendly model for 28x28x1 images (MNIST, Fashion-MNIST, KMNIST), \
             not {}; use small-cnn or resnet18",
            spec.architecture,
            spec.shape_text()
        );
    }
    Ok(Model::new(&config, seed)?)
}

/// The spec of a model.
pub fn model_spec(model: &Model) -> ModelSpec {
    let c = model.config();
    ModelSpec {
        architecture: c.architecture.name().to_owned(),
        input_shape: c.input_shape,
        adaptation: c.adaptation,
        width: c.width,
    }
}

/// Number of scalar parameters.
pub fn num_params(model: &Model) -> usize {
    model.num_params()
}

/// Optimiser kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// Adam (PyTorch defaults apart from the learning rate), L2 weight decay.
    Adam,
    /// AdamW: decoupled weight decay on weight tensors only.
    Adamw,
    /// SGD with momentum.
    Sgd,
}

impl OptimizerKind {
    /// Name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Adam => "adam",
            Self::Adamw => "adamw",
            Self::Sgd => "sgd",
        }
    }
}

/// An optimiser for `model`.
///
/// # Errors
/// None at present (kept fallible for engine changes).
pub fn optimizer(
    model: &Model,
    kind: OptimizerKind,
    lr: f32,
    momentum: f32,
    weight_decay: f32,
) -> Result<Box<dyn Optimizer>> {
    Ok(match kind {
        OptimizerKind::Adam => Box::new(nn::Adam::new(model, lr, weight_decay)),
        OptimizerKind::Adamw => Box::new(nn::Adam::new_decoupled(model, lr, weight_decay)),
        OptimizerKind::Sgd => Box::new(nn::Sgd::new(model, lr, momentum, weight_decay)),
    })
}

/// Name of a schedule in reports.
pub fn schedule_name(s: &Schedule) -> String {
    match s {
        Schedule::Constant => "constant".into(),
        Schedule::Step { every, gamma } => format!("step(every {every}, gamma {gamma})"),
        Schedule::MultiStep { milestones, gamma } => {
            format!(
                "multistep({}, {}, gamma {gamma})",
                milestones[0], milestones[1]
            )
        }
        Schedule::Cosine => "cosine".into(),
    }
}

/// One epoch of training in an order shuffled by `seed`.
///
/// # Errors
/// The engine's errors (shape, labels, batch size, divergence).
#[allow(clippy::too_many_arguments)]
pub fn train_epoch(
    model: &mut Model,
    opt: &mut dyn Optimizer,
    images: &ImageBatch,
    labels: &[u8],
    batch_size: usize,
    seed: u64,
    schedule: Option<nn::StepSchedule>,
    on_batch: &mut dyn FnMut(BatchProgress),
) -> Result<EpochStats> {
    Ok(nn::backend::train_epoch(
        backend(),
        model,
        opt,
        images,
        labels,
        batch_size,
        seed,
        schedule,
        on_batch,
    )?)
}

/// Loss and accuracy on labelled images.
///
/// # Errors
/// The engine's errors.
pub fn evaluate(model: &Model, images: &ImageBatch, labels: &[u8]) -> Result<EpochStats> {
    Ok(nn::backend::evaluate(backend(), model, images, labels)?)
}

/// Softmax probabilities per image.
///
/// # Errors
/// Images that do not fit the model.
pub fn predict(model: &Model, images: &ImageBatch) -> Result<Vec<Vec<f32>>> {
    Ok(nn::backend::predict(backend(), model, images)?)
}

/// Writes a checkpoint atomically (pixveil-core's one atomic writer, through the engine),
/// recording the public id of the key its training images were encrypted with, if any.
///
/// # Errors
/// Serialisation or I/O errors; `path` is then left as it was.
pub fn save(path: &Path, model: &Model, scheme: &str, key_id: Option<&str>) -> Result<()> {
    // The engine's I/O error names the file.
    Ok(nn::checkpoint::save_keyed(path, model, scheme, key_id)?)
}

/// Reads a checkpoint: the model, its spec and its scheme id.
///
/// # Errors
/// Unreadable, corrupt or foreign files.
pub fn load(path: &Path) -> Result<(Model, ModelSpec, String)> {
    load_model(path, None)
}

/// Reads a model file: a pixveil checkpoint, or with `state_dict` a PyTorch state dict saved
/// with safetensors (no pixveil metadata; trained on plain images) of that architecture and
/// input shape (a pixveil checkpoint is read too, and must be of that spec). Returns the
/// model, its spec and its scheme id.
///
/// # Errors
/// Unreadable, corrupt or foreign files; tensors that do not fit `state_dict`.
pub fn load_model(
    path: &Path,
    state_dict: Option<&ModelSpec>,
) -> Result<(Model, ModelSpec, String)> {
    let (model, spec, scheme, _) = load_model_keyed(path, state_dict)?;
    Ok((model, spec, scheme))
}

/// [`load_model`], also returning the public id of the key the model was trained with (none
/// for plain images, state dicts and checkpoints written before it was recorded).
///
/// # Errors
/// As [`load_model`].
pub fn load_model_keyed(
    path: &Path,
    state_dict: Option<&ModelSpec>,
) -> Result<(Model, ModelSpec, String, Option<String>)> {
    let cannot = || format!("cannot load model {}", path.display());
    let (model, meta) = match state_dict {
        None => nn::checkpoint::load(path).context_with(cannot)?,
        Some(spec) => {
            let config = spec.config()?;
            let bytes = std::fs::read(path).io_context("read", path)?;
            nn::checkpoint::from_state_dict_bytes(&bytes, &config).context_with(cannot)?
        }
    };
    let spec = model_spec(&model);
    Ok((model, spec, meta.scheme, meta.key_id))
}

/// Whether this build can save and restore optimiser state (`--resume`).
pub const CAN_RESUME: bool = true;

/// Writes the model, the optimiser state and the number of epochs done, atomically.
///
/// # Errors
/// I/O errors; the state file is then left as it was.
pub fn save_state(path: &Path, model: &Model, opt: &dyn Optimizer, epoch: usize) -> Result<()> {
    // The engine's I/O error names the file.
    Ok(nn::checkpoint::save_state(path, model, opt, epoch)?)
}

/// Restores the optimiser state (and the model); returns the number of epochs done.
///
/// # Errors
/// A missing, corrupt or mismatched state file.
pub fn load_state(path: &Path, model: &mut Model, opt: &mut dyn Optimizer) -> Result<usize> {
    nn::checkpoint::load_state(path, model, opt)
        .context_with(|| format!("cannot resume from {}", path.display()))
}
