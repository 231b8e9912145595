//! `pixveil bench`: throughput tables, with the baseline in the same run.

use std::time::Instant;

use anyhow::{bail, Result};
use pixveil_image::{dataset, DatasetKind, ImageBatch, Split};
use serde::Serialize;

use pixveil_cipher::bench::{encrypt_throughput, ThroughputOptions};
use pixveil_ml::engine::{self, ModelSpec, OptimizerKind};

use crate::cli::{BenchArgs, BenchWhat};

pub fn run(a: &BenchArgs) -> Result<()> {
    match a.what {
        BenchWhat::Train => bench_train(a)?,
        BenchWhat::Encrypt => {
            let opts = ThroughputOptions {
                quick: a.quick,
                ..ThroughputOptions::default()
            };
            let rows = encrypt_throughput(&opts)?;
            if a.json {
                println!("{}", serde_json::to_string(&rows)?);
            } else {
                println!(
                    "{:<10} {:<10} {:>14} {:>14} {:>12} {:>10}",
                    "scheme", "mode", "1-thread MB/s", "all-thr. MB/s", "memcpy MB/s", "vs memcpy"
                );
                for r in &rows {
                    println!(
                        "{:<10} {:<10} {:>14.0} {:>14.0} {:>12.0} {:>10.3}",
                        r.scheme,
                        r.mode,
                        r.single_thread_mb_s,
                        r.all_threads_mb_s,
                        r.memcpy_mb_s,
                        r.ratio_vs_memcpy
                    );
                }
            }
        }
        BenchWhat::Ckks => {
            let opts = if a.quick {
                pixveil_ckks::bench::BenchOptions::quick()
            } else {
                pixveil_ckks::bench::BenchOptions::default()
            };
            let rows = pixveil_ckks::bench::run_op_benchmarks(&opts)?;
            if a.json {
                println!("{}", serde_json::to_string(&rows)?);
            } else {
                println!(
                    "{:<18} {:<10} {:>8} {:>12}",
                    "op", "chain", "threads", "median ms"
                );
                for r in &rows {
                    println!(
                        "{:<18} {:<10} {:>8} {:>12.3}",
                        r.op, r.chain, r.threads, r.median_ms
                    );
                }
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct TrainRow {
    model: String,
    dataset: String,
    params: usize,
    train_images_per_s: f64,
    infer_images_per_s: f64,
    /// Median seconds of one timed training pass.
    train_seconds: f64,
    /// Median seconds of one timed inference pass.
    infer_seconds: f64,
}

#[derive(Serialize)]
struct TrainBench {
    bench: &'static str,
    /// `--backend` (`rust`, or `tch (libtorch, DEVICE)`).
    backend: String,
    threads: usize,
    batch_size: usize,
    images: usize,
    reps: usize,
    source: String,
    rows: Vec<TrainRow>,
}

/// Models of `bench train`.
pub const BENCH_MODELS: [&str; 2] = ["tenseal-cnn", "small-cnn"];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `bench train`: per model, one warm-up pass, then `reps` timed training passes (Adam 1e-3,
/// shuffled mini-batches) and `reps` timed inference passes over the same images; medians.
fn bench_train(a: &BenchArgs) -> Result<()> {
    let n = a.images.unwrap_or(if a.quick { 512 } else { 10_000 });
    let reps = a.reps.unwrap_or(if a.quick { 1 } else { 3 });
    if n == 0 || reps == 0 || a.batch_size == 0 {
        bail!("--images, --reps and --batch-size must be at least 1");
    }
    let (images, labels, source) = match &a.data_dir {
        Some(dir) => {
            let ds = dataset::load(DatasetKind::Mnist, dir, Split::Train)?.limit(n);
            (
                ds.images,
                ds.labels,
                format!("mnist train ({})", dir.display()),
            )
        }
        None => {
            let ds = pixveil_image::sample::load(DatasetKind::Mnist)?;
            let len = ds.images.shape().len();
            let mut data = Vec::with_capacity(n * len);
            let mut labels = Vec::with_capacity(n);
            for i in 0..n {
                let j = i % ds.len();
                data.extend_from_slice(ds.images.image(j).unwrap_or_default());
                labels.push(ds.labels[j]);
            }
            (
                ImageBatch::new(ds.images.shape(), data)?,
                labels,
                "built-in mnist sample, repeated".to_owned(),
            )
        }
    };
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
            a.batch_size,
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
                a.batch_size,
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
        rows.push(TrainRow {
            model: name.to_owned(),
            dataset: "mnist".into(),
            params: engine::num_params(&model),
            train_images_per_s: images.len() as f64 / ts.max(1e-9),
            infer_images_per_s: images.len() as f64 / is.max(1e-9),
            train_seconds: ts,
            infer_seconds: is,
        });
    }
    let report = TrainBench {
        bench: "train",
        backend: engine::backend_description(),
        threads: rayon::current_num_threads(),
        batch_size: a.batch_size,
        images: images.len(),
        reps,
        source,
        rows,
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} images of {} ({}), batch {}, {} threads, backend {}, median of {} passes",
            report.images,
            shape,
            report.source,
            report.batch_size,
            report.threads,
            report.backend,
            reps
        );
        println!(
            "{:<12} {:>9} {:>16} {:>16}",
            "model", "params", "train images/s", "infer images/s"
        );
        for r in &report.rows {
            println!(
                "{:<12} {:>9} {:>16.0} {:>16.0}",
                r.model, r.params, r.train_images_per_s, r.infer_images_per_s
            );
        }
    }
    Ok(())
}
