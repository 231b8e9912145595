//! The training benchmark (`pixveil bench train`): training and inference throughput of the
//! models pixveil ships, with the selected engine backend.
//!
//! Per model: one warm-up pass of each, then `reps` timed samples of training passes (shuffled
//! mini-batches; Adam 1e-3 for the small models, SGD 0.01 with momentum 0.9 and weight decay
//! 5e-4 for ResNet-18 — paper A's optimizer, at a tenth of its rate: 0.1 gives a fresh
//! width-64 model logits more than 100 apart in its first batches (the loss, once reported as
//! infinite there, is finite since pixveil-nn computes it from the logits directly), and
//! throughput does not depend on the rate) and `reps` timed samples of inference passes over
//! the same images; medians. A sample repeats the pass until it lasts at least
//! [`MIN_SAMPLE_SECONDS`] (the count comes from the warm-up pass; one pass with `quick`), so
//! a small model's 0.05 s pass is not timed alone at the scheduler's resolution; figures are
//! per pass. The small models run on MNIST, ResNet-18 on CIFAR-10. With `profile`,
//! the Rust engine's time per layer kind and pass ([`pixveil_nn::profile`]) over the timed
//! passes is reported too.

use std::path::Path;
use std::time::Instant;

use pixveil_image::{dataset, sample, DatasetKind, ImageBatch, Split};
use pixveil_nn::profile;
use serde::Serialize;

use crate::engine::{self, ModelSpec, OptimizerKind};
use crate::error::{invalid, Result};

/// The shortest timed sample, seconds: passes shorter than this are repeated within a sample.
pub const MIN_SAMPLE_SECONDS: f64 = 2.0;

/// Passes per timed sample for a pass that took `warm` seconds in the warm-up.
fn passes_per_sample(warm: f64, quick: bool) -> usize {
    if quick {
        return 1;
    }
    // At most 10 000 passes: only a pass under 0.2 ms would reach it.
    ((MIN_SAMPLE_SECONDS / warm.max(1e-9)).ceil() as usize).clamp(1, 10_000)
}

/// A sample of `passes` passes as the figures of one pass: its seconds and profile entries
/// divided by `passes`.
fn per_pass(sample: (f64, Vec<profile::Entry>), passes: usize) -> (f64, Vec<profile::Entry>) {
    let (seconds, mut entries) = sample;
    let n = passes as f64;
    for e in &mut entries {
        e.seconds /= n;
    }
    (seconds / n, entries)
}

/// A model of the benchmark.
#[derive(Clone, Copy, Debug)]
pub struct BenchModel {
    /// Name in reports and `--models`.
    pub name: &'static str,
    /// Architecture.
    pub architecture: &'static str,
    /// Base width (ResNet-18; ignored by the others).
    pub width: usize,
    /// Paper A's adaptation network in front (see `ModelConfig::adaptation`).
    pub adaptation: bool,
    /// Dataset of its images.
    pub dataset: DatasetKind,
    /// Images per timed pass by default: enough for a pass of a few seconds on 2 cores.
    pub images: usize,
    /// Images per pass with `quick`.
    pub quick_images: usize,
}

/// Models of the benchmark, in report order.
pub const BENCH_MODELS: [BenchModel; 5] = [
    BenchModel {
        name: "tenseal-cnn",
        architecture: "tenseal-cnn",
        width: 64,
        adaptation: false,
        dataset: DatasetKind::Mnist,
        images: 10_000,
        quick_images: 512,
    },
    BenchModel {
        name: "small-cnn",
        architecture: "small-cnn",
        width: 64,
        adaptation: false,
        dataset: DatasetKind::Mnist,
        images: 10_000,
        quick_images: 512,
    },
    BenchModel {
        name: "resnet18-w8",
        architecture: "resnet18",
        width: 8,
        adaptation: false,
        dataset: DatasetKind::Cifar10,
        images: 2_048,
        quick_images: 64,
    },
    BenchModel {
        name: "resnet18-w64",
        architecture: "resnet18",
        width: 64,
        adaptation: false,
        dataset: DatasetKind::Cifar10,
        images: 256,
        quick_images: 16,
    },
    BenchModel {
        name: "resnet18-w8-adapt",
        architecture: "resnet18",
        width: 8,
        adaptation: true,
        dataset: DatasetKind::Cifar10,
        images: 2_048,
        quick_images: 64,
    },
];

/// Names of [`BENCH_MODELS`].
pub fn bench_model_names() -> Vec<&'static str> {
    BENCH_MODELS.iter().map(|m| m.name).collect()
}

/// What to measure.
#[derive(Clone, Copy, Debug)]
pub struct TrainBenchRequest<'a> {
    /// Folder holding MNIST and CIFAR-10; `None`: the built-in samples, repeated up to the
    /// image count.
    pub data_dir: Option<&'a Path>,
    /// Images per timed pass for every model (at least 1; default: each model's own).
    pub images: Option<usize>,
    /// Timed passes (at least 1; default 3, 1 with `quick`).
    pub reps: Option<usize>,
    /// Small defaults (a smoke test; the numbers are not meaningful).
    pub quick: bool,
    /// Mini-batch size (at least 1).
    pub batch_size: usize,
    /// Names of the models to run (default: every model of [`BENCH_MODELS`]).
    pub models: Option<&'a [String]>,
    /// Also report the Rust engine's time per layer kind and pass.
    pub profile: bool,
}

/// Time of one layer kind and pass over a model's timed passes.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileRow {
    /// `train` or `infer`.
    pub phase: &'static str,
    /// Layer kind (`conv`, `batchnorm`, …), `loss`, `optimizer`, or `other` (the rest of
    /// the pass: batching, residual sums, bookkeeping).
    pub kind: &'static str,
    /// `forward` or `backward`.
    pub pass: &'static str,
    /// Median seconds per timed pass.
    pub seconds: f64,
    /// Share of the phase's pass time, in `[0, 1]`.
    pub share: f64,
}

/// One model's throughput.
#[derive(Clone, Debug, Serialize)]
pub struct TrainBenchRow {
    /// Model name ([`BenchModel::name`]).
    pub model: String,
    /// Dataset name (`mnist`, `cifar10`).
    pub dataset: String,
    /// Base width (ResNet-18).
    pub width: usize,
    /// Image shape, `HxWxC`.
    pub shape: String,
    /// Images per timed pass.
    pub images: usize,
    /// Scalar parameters.
    pub params: usize,
    /// Training images per second (median pass).
    pub train_images_per_s: f64,
    /// Inference images per second (median pass).
    pub infer_images_per_s: f64,
    /// Median seconds of one timed training pass.
    pub train_seconds: f64,
    /// Median seconds of one timed inference pass.
    pub infer_seconds: f64,
    /// Training passes per timed sample (see [`MIN_SAMPLE_SECONDS`]).
    pub train_passes_per_sample: usize,
    /// Inference passes per timed sample.
    pub infer_passes_per_sample: usize,
    /// Time per layer kind and pass (with `profile`, Rust engine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Vec<ProfileRow>>,
}

/// What `bench train --json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct TrainBenchReport {
    /// `train`.
    pub bench: &'static str,
    /// The engine backend (`rust`, or `tch (libtorch, DEVICE)`).
    pub backend: String,
    /// CPU model name.
    pub cpu: String,
    /// Detected vector extensions (`avx2`, `fma`, `avx512f`, `avx512ifma`).
    pub cpu_features: Vec<&'static str>,
    /// The GEMM kernel the Rust engine runs on this CPU.
    pub gemm: &'static str,
    /// The direct-convolution kernels the Rust engine runs on this CPU.
    pub conv: &'static str,
    /// Worker threads.
    pub threads: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Images per pass of the first model (each row has its own count).
    pub images: usize,
    /// Timed passes per model.
    pub reps: usize,
    /// Where the images come from, in words.
    pub source: String,
    /// Shape of the first model's images, `HxWxC` (not in the JSON; rows have theirs).
    #[serde(skip)]
    pub shape: String,
    /// One row per model run.
    pub rows: Vec<TrainBenchRow>,
}

/// The median of a non-empty list.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `n` images and labels of `kind`, and where they come from: the training set under
/// `data_dir`, or the built-in sample repeated.
fn bench_images(
    kind: DatasetKind,
    data_dir: Option<&Path>,
    n: usize,
) -> Result<(ImageBatch, Vec<u8>, String)> {
    if let Some(dir) = data_dir {
        let ds = dataset::load(kind, dir, Split::Train)?.limit(n);
        return Ok((
            ds.images,
            ds.labels,
            format!("training set ({})", dir.display()),
        ));
    }
    let ds = sample::load(kind)?;
    let mut data = Vec::with_capacity(n * ds.images.shape().len());
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let j = i % ds.len();
        let image = ds
            .images
            .image(j)
            .expect("an index modulo the sample's size is one of its images");
        data.extend_from_slice(image);
        labels.push(ds.labels[j]);
    }
    Ok((
        ImageBatch::new(ds.images.shape(), data)?,
        labels,
        "built-in samples, repeated".to_owned(),
    ))
}

/// The models `names` asks for, in [`BENCH_MODELS`] order.
fn select(names: Option<&[String]>) -> Result<Vec<BenchModel>> {
    let Some(names) = names else {
        return Ok(BENCH_MODELS.to_vec());
    };
    if names.is_empty() {
        invalid!("--models needs at least one name");
    }
    if let Some(bad) = names
        .iter()
        .find(|n| !bench_model_names().contains(&n.as_str()))
    {
        invalid!(
            "unknown model {bad:?} for bench train (one of {})",
            bench_model_names().join(", ")
        );
    }
    Ok(BENCH_MODELS
        .into_iter()
        .filter(|m| names.iter().any(|n| n == m.name))
        .collect())
}

/// Per kind and pass, the median over `passes` of the seconds, plus `other` (the rest of
/// each pass), for one phase.
fn profile_rows(phase: &'static str, passes: &[(f64, Vec<profile::Entry>)]) -> Vec<ProfileRow> {
    let total = median(passes.iter().map(|p| p.0).collect());
    let mut keys: Vec<(&'static str, &'static str)> = Vec::new();
    for (_, entries) in passes {
        for e in entries {
            if !keys.contains(&(e.kind, e.pass.name())) {
                keys.push((e.kind, e.pass.name()));
            }
        }
    }
    let mut rows: Vec<ProfileRow> = keys
        .into_iter()
        .map(|(kind, pass)| {
            let seconds = median(
                passes
                    .iter()
                    .map(|(_, es)| {
                        es.iter()
                            .filter(|e| e.kind == kind && e.pass.name() == pass)
                            .map(|e| e.seconds)
                            .sum()
                    })
                    .collect(),
            );
            ProfileRow {
                phase,
                kind,
                pass,
                seconds,
                share: seconds / total.max(1e-12),
            }
        })
        .collect();
    let timed: f64 = rows.iter().map(|r| r.seconds).sum();
    let other = (total - timed).max(0.0);
    rows.push(ProfileRow {
        phase,
        kind: "other",
        pass: "-",
        seconds: other,
        share: other / total.max(1e-12),
    });
    rows
}

/// Runs `f`, returning its seconds and, when profiling, the profile of that run alone.
fn timed(profiling: bool, f: impl FnOnce() -> Result<()>) -> Result<(f64, Vec<profile::Entry>)> {
    if profiling {
        profile::reset();
        profile::enable(true);
    }
    let t = Instant::now();
    let r = f();
    let seconds = t.elapsed().as_secs_f64();
    profile::enable(false);
    r?;
    Ok((
        seconds,
        if profiling {
            profile::snapshot()
        } else {
            Vec::new()
        },
    ))
}

/// Runs the benchmark.
///
/// # Errors
/// Zero images, repetitions or batch size; an unknown model; `profile` on another backend
/// than the Rust engine; unreadable data; engine errors.
pub fn bench_train(req: &TrainBenchRequest) -> Result<TrainBenchReport> {
    let reps = req.reps.unwrap_or(if req.quick { 1 } else { 3 });
    if req.images == Some(0) || reps == 0 || req.batch_size == 0 {
        invalid!("--images, --reps and --batch-size must be at least 1");
    }
    let models = select(req.models)?;
    // The profile times the Rust engine's layers; LibTorch's run inside libtorch.
    if req.profile && engine::backend() != pixveil_nn::Backend::Rust {
        invalid!(
            "--profile times the rust engine's layers; backend {} has no profile",
            engine::backend_description()
        );
    }
    let profiling = req.profile;
    let mut rows = Vec::new();
    let mut source = String::new();
    for bm in &models {
        let n = req.images.unwrap_or(if req.quick {
            bm.quick_images
        } else {
            bm.images
        });
        let (images, labels, src) = bench_images(bm.dataset, req.data_dir, n)?;
        source = src;
        let shape = images.shape();
        let spec = ModelSpec::new(bm.architecture, shape, bm.adaptation, bm.width);
        let mut model = engine::build_model(&spec, 0)?;
        let (kind, lr, momentum, decay) = if bm.architecture == "resnet18" {
            (OptimizerKind::Sgd, 0.01, 0.9, 5e-4)
        } else {
            (OptimizerKind::Adam, 1e-3, 0.9, 0.0)
        };
        let mut opt = engine::optimizer(&model, kind, lr, momentum, decay)?;
        // One training pass over the images, shuffled with `seed`.
        let train_pass = |model: &mut engine::Model, opt: &mut dyn engine::Optimizer, seed| {
            engine::train_epoch(
                model,
                opt,
                &images,
                &labels,
                req.batch_size,
                seed,
                None,
                &mut |_| {},
            )
            .map(drop)
        };
        // Warm-up: one pass of each, timed to size the samples.
        let warm = Instant::now();
        train_pass(&mut model, opt.as_mut(), 0)?;
        let train_passes = passes_per_sample(warm.elapsed().as_secs_f64(), req.quick);
        let warm = Instant::now();
        engine::evaluate(&model, &images, &labels)?;
        let infer_passes = passes_per_sample(warm.elapsed().as_secs_f64(), req.quick);
        let mut train = Vec::new();
        let mut infer = Vec::new();
        let mut epoch = 0u64;
        for _ in 0..reps {
            let sample = timed(profiling, || {
                for _ in 0..train_passes {
                    epoch += 1;
                    train_pass(&mut model, opt.as_mut(), epoch)?;
                }
                Ok(())
            })?;
            train.push(per_pass(sample, train_passes));
            let sample = timed(profiling, || {
                for _ in 0..infer_passes {
                    engine::evaluate(&model, &images, &labels)?;
                }
                Ok(())
            })?;
            infer.push(per_pass(sample, infer_passes));
        }
        let ts = median(train.iter().map(|p| p.0).collect());
        let is = median(infer.iter().map(|p| p.0).collect());
        let profile = profiling.then(|| {
            let mut p = profile_rows("train", &train);
            p.extend(profile_rows("infer", &infer));
            p
        });
        rows.push(TrainBenchRow {
            model: bm.name.to_owned(),
            dataset: bm.dataset.name().to_owned(),
            width: bm.width,
            shape: shape.to_string(),
            images: images.len(),
            params: engine::num_params(&model),
            train_images_per_s: images.len() as f64 / ts.max(1e-9),
            infer_images_per_s: images.len() as f64 / is.max(1e-9),
            train_seconds: ts,
            infer_seconds: is,
            train_passes_per_sample: train_passes,
            infer_passes_per_sample: infer_passes,
            profile,
        });
    }
    let first = rows.first().expect("select returns at least one model");
    Ok(TrainBenchReport {
        bench: "train",
        backend: engine::backend_description(),
        cpu: pixveil_core::machine::cpu_model(),
        cpu_features: pixveil_core::machine::cpu_features(),
        gemm: pixveil_nn::gemm_kernel(),
        conv: pixveil_nn::conv_kernel(),
        threads: rayon::current_num_threads(),
        batch_size: req.batch_size,
        images: first.images,
        reps,
        source,
        shape: first.shape.clone(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_sample_is_repeated_and_zeros_are_refused() {
        let (images, labels, source) = bench_images(DatasetKind::Mnist, None, 300).unwrap();
        assert_eq!((images.len(), labels.len()), (300, 300));
        assert_eq!(images.image(256), images.image(0));
        assert!(source.contains("repeated"));
        let req = TrainBenchRequest {
            data_dir: None,
            images: Some(0),
            reps: None,
            quick: true,
            batch_size: 8,
            models: None,
            profile: false,
        };
        assert!(bench_train(&req).is_err());
        let unknown = ["resnet50".to_owned()];
        let e = bench_train(&TrainBenchRequest {
            images: None,
            models: Some(&unknown),
            ..req
        })
        .unwrap_err();
        assert!(e.to_string().contains("resnet18-w64"), "{e}");
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
    }

    /// Short passes are repeated until a sample lasts MIN_SAMPLE_SECONDS; figures are per pass.
    #[test]
    fn samples_repeat_short_passes() {
        assert_eq!(passes_per_sample(0.05, false), 40);
        assert_eq!(passes_per_sample(0.7, false), 3);
        assert_eq!(passes_per_sample(3.0, false), 1);
        assert_eq!(passes_per_sample(0.0, false), 10_000);
        assert_eq!(passes_per_sample(0.05, true), 1);
        let entry = profile::Entry {
            kind: "conv",
            pass: profile::Pass::Forward,
            seconds: 3.0,
            calls: 12,
        };
        let (seconds, entries) = per_pass((4.0, vec![entry]), 4);
        assert_eq!(
            (seconds, entries[0].seconds, entries[0].calls),
            (1.0, 0.75, 12)
        );
    }

    /// A profiled quick run of ResNet-18 (width 8) on the CIFAR-10 sample: convolutions,
    /// batch norm, pooling, the loss and the optimizer are all seen, forward and backward;
    /// every ReLU runs inside the batch norm or residual block before it and is counted there;
    /// shares are fractions that, with `other`, add up to the pass.
    #[test]
    fn profile_covers_every_layer_kind_of_resnet() {
        let models = ["resnet18-w8".to_owned()];
        let report = bench_train(&TrainBenchRequest {
            data_dir: None,
            images: Some(32),
            reps: Some(1),
            quick: true,
            batch_size: 16,
            models: Some(&models),
            profile: true,
        })
        .unwrap();
        assert_eq!(report.rows.len(), 1);
        let row = &report.rows[0];
        assert_eq!(
            (row.model.as_str(), row.shape.as_str()),
            ("resnet18-w8", "32x32x3")
        );
        let p = row.profile.as_ref().unwrap();
        for (kind, pass) in [
            ("conv", "forward"),
            ("conv", "backward"),
            ("batchnorm", "forward"),
            ("batchnorm", "backward"),
            ("avgpool", "forward"),
            ("linear", "backward"),
            ("loss", "backward"),
            ("optimizer", "backward"),
        ] {
            assert!(
                p.iter()
                    .any(|r| r.phase == "train" && r.kind == kind && r.pass == pass),
                "{kind} {pass}: {p:?}"
            );
        }
        assert!(!p.iter().any(|r| r.phase == "infer" && r.pass == "backward"));
        assert!(!p.iter().any(|r| r.kind == "relu"), "{p:?}");
        for phase in ["train", "infer"] {
            let sum: f64 = p.iter().filter(|r| r.phase == phase).map(|r| r.share).sum();
            assert!((sum - 1.0).abs() < 0.02, "{phase}: shares sum to {sum}");
        }
    }
}
