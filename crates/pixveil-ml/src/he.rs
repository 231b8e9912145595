//! Encrypted inference (CKKS) of a model over a test set: what `pixveil he-eval` runs.
//!
//! Loads the model (a pixveil checkpoint, or a PyTorch state dict of a given spec) and its test
//! images (encrypted with the perceptual key of a hybrid model), then measures
//! [`pixveil_henn::he_eval`] on them: accuracy against the plaintext network, latency and sizes.

use pixveil_henn::{HeEvalOptions, HeEvalReport};

use crate::engine::ModelSpec;
use crate::error::{Context, Result};
use crate::eval::{load_model_and_test_set, ModelAndTestSet, TestSet, TestSetRequest};

/// A finished `he-eval`: the report and what it was run on.
#[derive(Debug)]
pub struct HeEvalRun {
    /// The measurements.
    pub report: HeEvalReport,
    /// Architecture name of the model (`tenseal-cnn`, `he-cnn`).
    pub architecture: String,
    /// Dataset name.
    pub dataset: String,
    /// Scheme id of the test images (`none`, `pe:fixed`, …).
    pub scheme: String,
}

/// Runs encrypted inference of the model `set.model` on its test set.
///
/// `state_dict`: read the model as a PyTorch state dict of this spec (no pixveil metadata).
/// `progress(done, total)` is called as images (latency mode) or batches (throughput mode)
/// finish; `total` is the number of test images.
///
/// # Errors
/// Model, data and key errors ([`load_model_and_test_set`]); [`crate::Error::Context`] naming
/// the model around an encrypted-inference error (a model that is not HE-friendly, an
/// engine error).
pub fn he_eval(
    set: &TestSetRequest,
    state_dict: Option<&ModelSpec>,
    opts: &HeEvalOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<HeEvalRun> {
    let ModelAndTestSet {
        model,
        spec,
        test_set:
            TestSet {
                test,
                dataset,
                scheme,
                ..
            },
        ..
    } = load_model_and_test_set(set, state_dict, false)?;
    let total = test.len();
    progress(0, total);
    let report =
        pixveil_henn::he_eval(&model, &scheme, &test.images, &test.labels, opts, &|done| {
            progress(done, total)
        })
        .context_with(|| format!("encrypted inference of {}", set.model.display()))?;
    Ok(HeEvalRun {
        report,
        architecture: spec.architecture,
        dataset,
        scheme,
    })
}
