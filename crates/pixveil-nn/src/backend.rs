//! Choice of compute backend: the built-in pure-Rust engine (the default) or LibTorch
//! through the `tch` crate (cargo feature `tch`, off by default; see the crate README).
//!
//! Both take and return the same [`Model`] and [`Optimizer`]: the LibTorch backend copies
//! the weights, batch-norm buffers and optimiser state in at the start of a call and back
//! out at the end, so checkpoints, `--resume` state and every other consumer stay on the
//! pixveil format whichever backend trained the model.

use pixveil_image::ImageBatch;

use crate::model::Model;
use crate::optim::Optimizer;
use crate::train::{BatchProgress, EpochStats, StepSchedule};
use crate::{Error, Result};

/// A compute backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The hand-written pure-Rust CPU engine (always built).
    #[default]
    Rust,
    /// LibTorch through the `tch` crate: CUDA when libtorch sees a GPU, else CPU. Only in
    /// builds with the `tch` feature.
    Tch,
}

impl Backend {
    /// Every backend, built in or not.
    pub const ALL: [Backend; 2] = [Backend::Rust, Backend::Tch];

    /// The name on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Rust => "rust",
            Backend::Tch => "tch",
        }
    }

    /// Parses [`Backend::name`].
    ///
    /// # Errors
    /// [`Error::Backend`] for an unknown name.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == name)
            .ok_or_else(|| Error::Backend(format!("unknown backend {name:?} (rust, tch)")))
    }

    /// Whether this build has the backend.
    pub const fn compiled(self) -> bool {
        match self {
            Backend::Rust => true,
            Backend::Tch => cfg!(feature = "tch"),
        }
    }

    /// Fails unless this build has the backend.
    ///
    /// # Errors
    /// [`Error::Backend`] ("built without the tch feature") for [`Backend::Tch`] in a
    /// default build.
    pub fn check(self) -> Result<()> {
        if self.compiled() {
            Ok(())
        } else {
            Err(Error::Backend(format!(
                "this build has no {} backend: it was built without the tch feature \
                 (rebuild with `cargo build --release -p pixveil --features pixveil-nn/tch` \
                 against a libtorch; see crates/pixveil-nn/README.md)",
                self.name()
            )))
        }
    }

    /// Sets the backend's intra-op thread count (LibTorch; the Rust engine uses the rayon
    /// pool, which the caller configures).
    pub fn set_threads(self, threads: usize) {
        #[cfg(feature = "tch")]
        if self == Backend::Tch {
            crate::backend_tch::set_threads(threads);
        }
        #[cfg(not(feature = "tch"))]
        let _ = threads;
    }

    /// A short description for reports, e.g. `rust` or `tch (libtorch, cpu)`.
    pub fn describe(self) -> String {
        match self {
            Backend::Rust => "rust".into(),
            #[cfg(feature = "tch")]
            Backend::Tch => format!("tch (libtorch, {})", crate::backend_tch::device_name()),
            #[cfg(not(feature = "tch"))]
            Backend::Tch => "tch (not built)".into(),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// [`crate::train_epoch_scheduled`] on `backend`.
///
/// # Errors
/// As [`crate::train_epoch`], plus [`Error::Backend`] when the backend is not built or
/// LibTorch fails.
#[allow(clippy::too_many_arguments)]
pub fn train_epoch(
    backend: Backend,
    model: &mut Model,
    opt: &mut dyn Optimizer,
    images: &ImageBatch,
    labels: &[u8],
    batch_size: usize,
    seed: u64,
    schedule: Option<StepSchedule>,
    on_batch: &mut dyn FnMut(BatchProgress),
) -> Result<EpochStats> {
    backend.check()?;
    match backend {
        Backend::Rust => crate::train::train_epoch_scheduled(
            model, opt, images, labels, batch_size, seed, schedule, on_batch,
        ),
        #[cfg(feature = "tch")]
        Backend::Tch => crate::backend_tch::train_epoch(
            model, opt, images, labels, batch_size, seed, schedule, on_batch,
        ),
        #[cfg(not(feature = "tch"))]
        Backend::Tch => unreachable_backend(),
    }
}

/// [`crate::evaluate`] on `backend`.
///
/// # Errors
/// As [`crate::evaluate`], plus [`Error::Backend`].
pub fn evaluate(
    backend: Backend,
    model: &Model,
    images: &ImageBatch,
    labels: &[u8],
) -> Result<EpochStats> {
    backend.check()?;
    match backend {
        Backend::Rust => crate::train::evaluate(model, images, labels),
        #[cfg(feature = "tch")]
        Backend::Tch => crate::backend_tch::evaluate(model, images, labels),
        #[cfg(not(feature = "tch"))]
        Backend::Tch => unreachable_backend(),
    }
}

/// [`crate::predict`] on `backend`.
///
/// # Errors
/// As [`crate::predict`], plus [`Error::Backend`].
pub fn predict(backend: Backend, model: &Model, images: &ImageBatch) -> Result<Vec<Vec<f32>>> {
    backend.check()?;
    match backend {
        Backend::Rust => crate::train::predict(model, images),
        #[cfg(feature = "tch")]
        Backend::Tch => crate::backend_tch::predict(model, images),
        #[cfg(not(feature = "tch"))]
        Backend::Tch => unreachable_backend(),
    }
}

/// Not reached (`check` fails first for a backend that is not built); an error, not a
/// panic.
#[cfg(not(feature = "tch"))]
fn unreachable_backend<T>() -> Result<T> {
    Err(Error::Backend("built without the tch feature".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_availability() {
        assert_eq!(Backend::from_name("tch").unwrap(), Backend::Tch);
        assert!(Backend::from_name("cuda").is_err());
        assert!(Backend::Rust.check().is_ok());
        assert_eq!(Backend::Tch.check().is_ok(), cfg!(feature = "tch"));
        if !cfg!(feature = "tch") {
            let e = Backend::Tch.check().unwrap_err().to_string();
            assert!(e.contains("built without the tch feature"), "{e}");
        }
    }
}
