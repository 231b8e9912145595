//! The training benchmark (`pixveil bench train`): training and inference throughput of the
//! small models on MNIST images, with the selected engine backend.
//!
//! Per model: one warm-up pass of each, then `reps` timed training passes (Adam 1e-3, shuffled
//! mini-batches) and `reps` timed inference passes over the same images; medians.

use std::path::Path;
use std::time::Instant;

use pixveil_image::{dataset, sample, DatasetKind, ImageBatch, Split};
use serde::Serialize;

use crate::engine::{self, ModelSpec, OptimizerKind};
use crate::error::{invalid, Result};

/// Models of the benchmark.
pub const BENCH_MODELS: [&str; 2] = ["tenseal-cnn", "small-cnn"];

/// What to measure.
#[derive(Clone, Copy, Debug)]
pub struct TrainBenchRequest<'a> {
    /// Folder holding MNIST; `None`: the built-in sample, repeated up to `images`.
    pub data_dir: Option<&'a Path>,
    /// Images per timed pass (at least 1; default 10000, 512 with `quick`).
    pub images: Option<usize>,
    /// Timed passes (at least 1; default 3, 1 with `quick`).
    pub reps: Option<usize>,
    /// Small defaults (a smoke test; the numbers are not meaningful).
    pub quick: bool,
    /// Mini-batch size (at least 1).
    pub batch_size: usize,
}

/// One model's throughput.
#[derive(Clone, Debug, Serialize)]
pub struct TrainBenchRow {
    /// Architecture name.
    pub model: String,
    /// Dataset name (`mnist`).
    pub dataset: String,
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
}

/// What `bench train --json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct TrainBenchReport {
    /// `train`.
    pub bench: &'static str,
    /// The engine backend (`rust`, or `tch (libtorch, DEVICE)`).
    pub backend: String,
    /// Worker threads.
    pub threads: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Images per pass.
    pub images: usize,
    /// Timed passes per model.
    pub reps: usize,
    /// Where the images come from, in words.
    pub source: String,
    /// Shape of the images, `HxWxC` (not in the JSON).
    #[serde(skip)]
    pub shape: String,
    /// One row per model of [`BENCH_MODELS`].
    pub rows: Vec<TrainBenchRow>,
}

/// The median of a non-empty list.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `n` MNIST images and labels, and where they come from: the training set under `data_dir`,
/// or the built-in sample repeated.
fn bench_images(data_dir: Option<&Path>, n: usize) -> Result<(ImageBatch, Vec<u8>, String)> {
    if let Some(dir) = data_dir {
        let ds = dataset::load(DatasetKind::Mnist, dir, Split::Train)?.limit(n);
        return Ok((
            ds.images,
            ds.labels,
            format!("mnist train ({})", dir.display()),
        ));
    }
    let ds = sample::load(DatasetKind::Mnist)?;
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
        "built-in mnist sample, repeated".to_owned(),
    ))
}

/// Runs the benchmark.
///
/// # Errors
/// Zero images, repetitions or batch size; unreadable data; engine errors.
pub fn bench_train(req: &TrainBenchRequest) -> Result<TrainBenchReport> {
    let n = req.images.unwrap_or(if req.quick { 512 } else { 10_000 });
    let reps = req.reps.unwrap_or(if req.quick { 1 } else { 3 });
    if n == 0 || reps == 0 || req.batch_size == 0 {
        invalid!("--images, --reps and --batch-size must be at least 1");
    }
    let (images, labels, source) = bench_images(req.data_dir, n)?;
    let shape = images.shape();
    let mut rows = Vec::new();
    for name in BENCH_MODELS {
        let spec = ModelSpec::new(name, shape, false, 64);
        let mut model = engine::build_model(&spec, 0)?;
        let mut opt = engine::optimizer(&model, OptimizerKind::Adam, 1e-3, 0.9, 0.0)?;
        let mut ignore = |_| {};
        // Warm-up: one pass of each.
        engine::train_epoch(
            &mut model,
            opt.as_mut(),
            &images,
            &labels,
            req.batch_size,
            0,
            None,
            &mut ignore,
        )?;
        engine::evaluate(&model, &images, &labels)?;
        let mut train_s = Vec::new();
        let mut infer_s = Vec::new();
        for r in 0..reps {
            let t = Instant::now();
            engine::train_epoch(
                &mut model,
                opt.as_mut(),
                &images,
                &labels,
                req.batch_size,
                r as u64 + 1,
                None,
                &mut ignore,
            )?;
            train_s.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            engine::evaluate(&model, &images, &labels)?;
            infer_s.push(t.elapsed().as_secs_f64());
        }
        let (ts, is) = (median(train_s), median(infer_s));
        rows.push(TrainBenchRow {
            model: name.to_owned(),
            dataset: "mnist".into(),
            params: engine::num_params(&model),
            train_images_per_s: images.len() as f64 / ts.max(1e-9),
            infer_images_per_s: images.len() as f64 / is.max(1e-9),
            train_seconds: ts,
            infer_seconds: is,
        });
    }
    Ok(TrainBenchReport {
        bench: "train",
        backend: engine::backend_description(),
        threads: rayon::current_num_threads(),
        batch_size: req.batch_size,
        images: images.len(),
        reps,
        source,
        shape: shape.to_string(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_sample_is_repeated_and_zeros_are_refused() {
        let (images, labels, source) = bench_images(None, 300).unwrap();
        assert_eq!((images.len(), labels.len()), (300, 300));
        assert_eq!(images.image(256), images.image(0));
        assert!(source.contains("repeated"));
        let req = TrainBenchRequest {
            data_dir: None,
            images: Some(0),
            reps: None,
            quick: true,
            batch_size: 8,
        };
        assert!(bench_train(&req).is_err());
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
    }
}
