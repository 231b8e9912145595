//! `pixveil bench`: throughput tables, with the baseline in the same run.

use anyhow::Result;
use pixveil_cipher::bench::{encrypt_throughput, ThroughputOptions};
use pixveil_ml::bench::{bench_train as bench_train_report, TrainBenchRequest};

use crate::cli::{BenchArgs, BenchWhat};

pub fn run(a: &BenchArgs) -> Result<()> {
    match a.what {
        BenchWhat::Train => bench_train(a)?,
        BenchWhat::Encrypt => {
            let defaults = ThroughputOptions::default();
            let opts = ThroughputOptions {
                quick: a.quick,
                batch_bytes: match a.images {
                    Some(n) => n
                        .checked_mul(32 * 32 * 3)
                        .ok_or_else(|| anyhow::anyhow!("--images {n} is too large"))?,
                    None => defaults.batch_bytes,
                },
                repetitions: a.reps.unwrap_or(defaults.repetitions),
                ..defaults
            };
            let rows = encrypt_throughput(&opts)?;
            if a.json {
                println!("{}", serde_json::to_string(&rows)?);
            } else {
                println!(
                    "{}; cipher kernels: {}",
                    pixveil_core::machine::cpu_model(),
                    pixveil_cipher::bench::kernels()
                );
                println!(
                    "{:<10} {:<10} {:<9} {:>7} {:>14} {:>14} {:>12} {:>10}",
                    "scheme",
                    "mode",
                    "shape",
                    "images",
                    "1-thread MB/s",
                    "all-thr. MB/s",
                    "memcpy MB/s",
                    "vs memcpy"
                );
                for r in &rows {
                    println!(
                        "{:<10} {:<10} {:<9} {:>7} {:>14.0} {:>14.0} {:>12.0} {:>10.3}",
                        r.scheme,
                        r.mode,
                        r.shape,
                        r.images,
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

/// `bench train` ([`pixveil_ml::bench::bench_train`]).
fn bench_train(a: &BenchArgs) -> Result<()> {
    let report = bench_train_report(&TrainBenchRequest {
        data_dir: a.data_dir.as_deref(),
        images: a.images,
        reps: a.reps,
        quick: a.quick,
        batch_size: a.batch_size,
        models: a.models.as_deref(),
        profile: a.profile,
    })?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "{} ({}); {}; {}",
        report.cpu,
        report.cpu_features.join(", "),
        report.conv,
        report.gemm
    );
    println!(
        "{}, batch {}, {} threads, backend {}, median of {} passes",
        report.source, report.batch_size, report.threads, report.backend, report.reps
    );
    println!(
        "{:<17} {:<8} {:>7} {:>10} {:>16} {:>16}",
        "model", "shape", "images", "params", "train images/s", "infer images/s"
    );
    for r in &report.rows {
        println!(
            "{:<17} {:<8} {:>7} {:>10} {:>16.1} {:>16.1}",
            r.model, r.shape, r.images, r.params, r.train_images_per_s, r.infer_images_per_s
        );
    }
    for r in &report.rows {
        let Some(p) = &r.profile else { continue };
        println!("\n{}: seconds per pass (share)", r.model);
        println!(
            "{:<6} {:<10} {:<9} {:>10} {:>7}",
            "phase", "kind", "pass", "seconds", "share"
        );
        for e in p {
            println!(
                "{:<6} {:<10} {:<9} {:>10.4} {:>6.1}%",
                e.phase,
                e.kind,
                e.pass,
                e.seconds,
                100.0 * e.share
            );
        }
    }
    Ok(())
}
