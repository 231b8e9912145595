//! `he-eval`: encrypted accuracy, agreement with the plaintext model, precision, latency
//! per stage, bytes and memory over a labelled image set — the measurement behind
//! `pixveil he-eval`.
//!
//! Client and evaluator run in one process but talk only through serialized bytes: keys,
//! inputs and scores are serialized by the client and parsed by the evaluator (and back),
//! so the byte counts are what a network would carry and the evaluator only ever holds
//! what it parsed.

use std::sync::Arc;
use std::time::Instant;

use pixveil_image::ImageBatch;
use pixveil_nn::Model;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::Serialize;

use crate::client::Client;
use crate::plan::{Mode, Plan, PlanSpec};
use crate::server::HeEvaluator;
use crate::wire::{Encrypted, EvaluationKeys};
use crate::{Error, Result};

/// Options of [`he_eval`].
#[derive(Clone, Debug)]
pub struct HeEvalOptions {
    /// Packing.
    pub mode: Mode,
    /// Worker threads (`None`: rayon's default, one per core).
    pub threads: Option<usize>,
}

/// Median time of one layer.
#[derive(Clone, Debug, Serialize)]
pub struct LayerTime {
    /// Layer name (`conv1`, `square1`, `dense1`, …).
    pub name: String,
    /// Median milliseconds (per image in latency mode, per batch in throughput mode).
    pub p50_ms: f64,
}

/// Results of [`he_eval`]. Fields up to `peak_rss_bytes` are the CLI contract of
/// `pixveil he-eval --json`.
#[derive(Clone, Debug, Serialize)]
pub struct HeEvalReport {
    /// `latency` or `throughput`.
    pub mode: Mode,
    /// Images classified.
    pub images: usize,
    /// Encrypted top-1 accuracy, in `[0, 1]`.
    pub accuracy: f64,
    /// Encrypted macro-averaged F1 over the classes present.
    pub f1_macro: f64,
    /// The plaintext model's accuracy on the same images.
    pub plain_accuracy: f64,
    /// Fraction of images where the encrypted and the plaintext model agree on the class.
    pub agreement: f64,
    /// Per image `−log2 max_c |encrypted logit − plaintext logit|` (the plaintext logits of
    /// the folded network in `f64`): the minimum over the images, in bits.
    pub precision_bits_min: f64,
    /// The median over the images.
    pub precision_bits_median: f64,
    /// Median end-to-end time (encrypt + evaluate + decrypt, serialization included), ms:
    /// per image in latency mode, per batch in throughput mode.
    pub latency_ms_p50: f64,
    /// 95th percentile of the same.
    pub latency_ms_p95: f64,
    /// Images per second of the evaluator (images / evaluation time).
    pub images_per_s: f64,
    /// Serialized input bytes per image.
    pub ct_in_bytes: f64,
    /// Serialized output bytes per image.
    pub ct_out_bytes: f64,
    /// Serialized evaluation keys.
    pub eval_key_bytes: usize,
    /// Peak resident memory of the process (`VmHWM`), `None` where unavailable.
    pub peak_rss_bytes: Option<u64>,
    /// Images per second end to end (client and evaluator on this machine, one after the
    /// other).
    pub end_to_end_images_per_s: f64,
    /// Median client encryption time (packing, encryption, serialization), ms.
    pub encrypt_ms_p50: f64,
    /// Median evaluation time (parsing, evaluation, serialization), ms.
    pub evaluate_ms_p50: f64,
    /// 95th percentile of the evaluation time, ms.
    pub evaluate_ms_p95: f64,
    /// Median decryption time (parsing, decryption, decoding), ms.
    pub decrypt_ms_p50: f64,
    /// Median time per layer.
    pub layers: Vec<LayerTime>,
    /// Key generation, ms.
    pub keygen_ms: f64,
    /// Plan compilation (weight encoding), ms.
    pub plan_ms: f64,
    /// Rotations per image (latency mode) and Galois keys.
    pub rotations: usize,
    /// Galois keys (0 in throughput mode).
    pub galois_keys: usize,
    /// Worker threads.
    pub threads: usize,
    /// The plan's public description.
    pub plan: PlanSpec,
    /// CPU model and the vector extensions the kernels dispatch on.
    pub machine: Machine,
}

/// The machine a measurement ran on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// CPU model name.
    pub cpu: String,
    /// Detected extensions relevant to the kernels (`avx2`, `fma`, `avx512f`, `avx512ifma`).
    pub features: Vec<&'static str>,
    /// Kernels chosen: AVX2 NTT and inner products when `avx2` is present, portable
    /// scalar code otherwise.
    pub kernels: &'static str,
}

impl Machine {
    /// Reads the CPU model and detects the extensions.
    pub fn detect() -> Self {
        let cpu = pixveil_core::machine::cpu_model();
        let features = pixveil_core::machine::cpu_features();
        let kernels = if features.contains(&"avx2") {
            "avx2 (NTT, lazy inner products)"
        } else {
            "portable scalar"
        };
        Self {
            cpu,
            features,
            kernels,
        }
    }
}

/// Peak resident set size of this process in bytes (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `CHW` values in `[0, 1]` of image `i`: exactly the input the plaintext model sees
/// ([`pixveil_nn::Tensor::from_images`]), widened to `f64`.
///
/// # Panics
/// If `i` is out of range (callers pass indices below `len()`).
pub fn image_values(batch: &ImageBatch, i: usize) -> Vec<f64> {
    pixveil_nn::Tensor::from_images(batch, &[i])
        .into_data()
        .into_iter()
        .map(f64::from)
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Index of the largest score (the first on ties): the class of a logit vector, as
/// `he-eval` and the service client report it.
///
/// # Panics
/// If `v` is empty (a plan has at least one class).
pub fn argmax(v: &[f64]) -> usize {
    assert!(!v.is_empty(), "argmax of no scores");
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// Macro-averaged F1 over the classes that occur in `labels` or `pred`.
pub fn f1_macro(labels: &[usize], pred: &[usize], classes: usize) -> f64 {
    let mut tp = vec![0usize; classes];
    let mut fp = vec![0usize; classes];
    let mut fneg = vec![0usize; classes];
    for (&y, &p) in labels.iter().zip(pred) {
        if y == p {
            tp[y] += 1;
        } else {
            fp[p] += 1;
            fneg[y] += 1;
        }
    }
    let scores: Vec<f64> = (0..classes)
        .filter(|&c| tp[c] + fp[c] + fneg[c] > 0)
        .map(|c| 2.0 * tp[c] as f64 / (2 * tp[c] + fp[c] + fneg[c]) as f64)
        .collect();
    scores.iter().sum::<f64>() / scores.len().max(1) as f64
}

/// Per-image record of the run.
struct Record {
    encrypt: f64,
    evaluate: f64,
    decrypt: f64,
    layers: Vec<f64>,
    in_bytes: usize,
    out_bytes: usize,
    images: usize,
}

/// Runs the model on every image of `images` under CKKS (client → evaluator → client) and
/// measures it. `scheme` is the perceptual scheme id of the images (already applied by the
/// caller for a hybrid model). `progress(done)` is called after each image or batch.
///
/// # Errors
/// [`Error::Unsupported`] for a model that is not HE-friendly, [`Error::Mismatch`] for
/// images of another shape or labels out of range, and any engine error.
pub fn he_eval(
    model: &Model,
    scheme: &str,
    images: &ImageBatch,
    labels: &[u8],
    opts: &HeEvalOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<HeEvalReport> {
    let pool = rayon::ThreadPoolBuilder::new()
        // No thread count: 0 asks rayon for its default (one per core).
        .num_threads(opts.threads.unwrap_or(0))
        .build()
        .map_err(|e| Error::ThreadPool {
            threads: opts.threads,
            reason: e.to_string(),
        })?;
    pool.install(|| {
        run(
            model,
            scheme,
            images,
            labels,
            opts.mode,
            progress,
            pool.current_num_threads(),
        )
    })
}

fn run(
    model: &Model,
    scheme: &str,
    images: &ImageBatch,
    labels: &[u8],
    mode: Mode,
    progress: &(dyn Fn(usize) + Sync),
    threads: usize,
) -> Result<HeEvalReport> {
    let s = images.shape();
    if [s.channels(), s.height(), s.width()] != model.input_shape() {
        return Err(Error::Mismatch(format!(
            "the model takes {:?} (C,H,W) images, got {s}",
            model.input_shape()
        )));
    }
    if images.is_empty() || labels.len() != images.len() {
        return Err(Error::Mismatch(format!(
            "{} images and {} labels",
            images.len(),
            labels.len()
        )));
    }
    let classes = model.config().classes;
    if let Some(&y) = labels.iter().find(|&&y| usize::from(y) >= classes) {
        return Err(Error::Mismatch(format!(
            "label {y} for a {classes}-class model"
        )));
    }
    let start = Instant::now();
    let plan = Arc::new(Plan::from_model(model, scheme)?);
    let plan_ms = ms(start);
    let id = plan.spec().id();
    let mut rng = ChaCha20Rng::from_os_rng();

    // Client: keys. The evaluator gets them as bytes.
    let start = Instant::now();
    let client = Client::new(plan.spec().clone(), &mut rng)?;
    let key_bytes = client.evaluation_keys(mode, &mut rng)?.to_bytes(&id);
    let keygen_ms = ms(start);
    let server = HeEvaluator::new(
        plan.clone(),
        EvaluationKeys::from_bytes(plan.params(), &id, &key_bytes)?,
    )?;

    // Plaintext references: the pixveil-nn model's classes, the folded network's logits.
    let values: Vec<Vec<f64>> = (0..images.len()).map(|i| image_values(images, i)).collect();
    let plain_pred: Vec<usize> = pixveil_nn::predict(model, images)?
        .iter()
        .map(|p| argmax(&p.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()))
        .collect();
    let reference: Vec<Vec<f64>> = values.iter().map(|v| plan.network().forward(v)).collect();

    let mut records: Vec<Record> = Vec::new();
    let mut logits: Vec<Vec<f64>> = Vec::with_capacity(images.len());
    let mut unrounded: Vec<Vec<f64>> = Vec::with_capacity(images.len());
    let chunk = match mode {
        Mode::Latency => 1,
        Mode::Throughput => plan.spec().batch_images,
    };
    let params = plan.params();
    for batch in values.chunks(chunk) {
        let t0 = Instant::now();
        let input = match mode {
            Mode::Latency => client.encrypt_image(&batch[0], &mut rng)?,
            Mode::Throughput => {
                let refs: Vec<&[f64]> = batch.iter().map(Vec::as_slice).collect();
                client.encrypt_batch(&refs, &mut rng)?
            }
        };
        let in_bytes = input.input_to_bytes(&id);
        drop(input);
        let encrypt = ms(t0);

        let t1 = Instant::now();
        let mut layers = Vec::new();
        let received = Encrypted::input_from_bytes(params, &id, &in_bytes)?;
        let out = server
            .classify_profiled(&received, &mut |_, d, _| layers.push(d.as_secs_f64() * 1e3))?;
        let out_bytes = out.scores_to_bytes(&id);
        let evaluate = ms(t1);

        let t2 = Instant::now();
        let scores = Encrypted::scores_from_bytes(params, &id, &out_bytes)?;
        logits.extend(client.decrypt_scores(&scores)?);
        let decrypt = ms(t2);
        unrounded.extend(client.decrypt_scores_unrounded(&scores)?);

        records.push(Record {
            encrypt,
            evaluate,
            decrypt,
            layers,
            in_bytes: in_bytes.len(),
            out_bytes: out_bytes.len(),
            images: batch.len(),
        });
        progress(logits.len());
    }

    let n = images.len();
    debug_assert_eq!(records.iter().map(|r| r.images).sum::<usize>(), n);
    let labels: Vec<usize> = labels.iter().map(|&y| usize::from(y)).collect();
    let pred: Vec<usize> = logits.iter().map(|l| argmax(l)).collect();
    let frac = |k: usize| k as f64 / n as f64;
    let correct = pred.iter().zip(&labels).filter(|(p, y)| p == y).count();
    let plain_correct = plain_pred
        .iter()
        .zip(&labels)
        .filter(|(p, y)| p == y)
        .count();
    let agree = pred.iter().zip(&plain_pred).filter(|(a, b)| a == b).count();
    // Per image: the worst logit, −log2 max_c |encrypted − plaintext| (as the TenSEAL peer
    // script reports it).
    let bits = sorted(
        unrounded
            .iter()
            .zip(&reference)
            .map(|(u, r)| {
                let err = u
                    .iter()
                    .zip(r)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                -err.max(f64::EPSILON).log2()
            })
            .collect(),
    );
    let field = |f: fn(&Record) -> f64| sorted(records.iter().map(f).collect());
    let total = field(|r| r.encrypt + r.evaluate + r.decrypt);
    let evaluate = field(|r| r.evaluate);
    let eval_seconds: f64 = records.iter().map(|r| r.evaluate).sum::<f64>() / 1e3;
    let all_seconds: f64 = records
        .iter()
        .map(|r| r.encrypt + r.evaluate + r.decrypt)
        .sum::<f64>()
        / 1e3;
    let layers = plan
        .spec()
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| LayerTime {
            name: l.name.clone(),
            p50_ms: percentile(&sorted(records.iter().map(|r| r.layers[i]).collect()), 0.5),
        })
        .collect();
    let rotations = match mode {
        Mode::Latency => plan.spec().layers.iter().map(|l| l.rotations).sum(),
        Mode::Throughput => 0,
    };
    Ok(HeEvalReport {
        mode,
        images: n,
        accuracy: frac(correct),
        f1_macro: f1_macro(&labels, &pred, classes),
        plain_accuracy: frac(plain_correct),
        agreement: frac(agree),
        precision_bits_min: percentile(&bits, 0.0),
        precision_bits_median: percentile(&bits, 0.5),
        latency_ms_p50: percentile(&total, 0.5),
        latency_ms_p95: percentile(&total, 0.95),
        images_per_s: n as f64 / eval_seconds,
        ct_in_bytes: records.iter().map(|r| r.in_bytes).sum::<usize>() as f64 / n as f64,
        ct_out_bytes: records.iter().map(|r| r.out_bytes).sum::<usize>() as f64 / n as f64,
        eval_key_bytes: key_bytes.len(),
        peak_rss_bytes: peak_rss_bytes(),
        end_to_end_images_per_s: n as f64 / all_seconds,
        encrypt_ms_p50: percentile(&field(|r| r.encrypt), 0.5),
        evaluate_ms_p50: percentile(&evaluate, 0.5),
        evaluate_ms_p95: percentile(&evaluate, 0.95),
        decrypt_ms_p50: percentile(&field(|r| r.decrypt), 0.5),
        layers,
        keygen_ms,
        plan_ms,
        rotations,
        galois_keys: match mode {
            Mode::Latency => plan.spec().galois_keys.len(),
            Mode::Throughput => 0,
        },
        threads,
        plan: plan.spec().clone(),
        machine: Machine::detect(),
    })
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_first_on_ties() {
        assert_eq!(argmax(&[0.0, 2.0, 2.0, -1.0]), 1);
        assert_eq!(argmax(&[-3.0]), 0);
    }

    #[test]
    fn f1_of_a_perfect_and_a_constant_prediction() {
        let y = [0, 1, 2, 1];
        assert!((f1_macro(&y, &y, 3) - 1.0).abs() < 1e-12);
        // Always class 1: F1(1) = 2·2/(2·2 + 2) = 2/3, F1(0) = F1(2) = 0.
        let p = [1, 1, 1, 1];
        assert!((f1_macro(&y, &p, 3) - 2.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn percentiles_pick_ranks() {
        let v = sorted(vec![5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!(percentile(&v, 0.5), 3.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 1.0), 5.0);
    }
}
