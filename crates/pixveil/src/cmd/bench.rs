//! `pixveil bench`: throughput tables, with the baseline in the same run.

use anyhow::Result;
use pixveil_cipher::bench::{encrypt_throughput, ThroughputOptions};

use crate::cli::{BenchArgs, BenchWhat};

pub fn run(a: &BenchArgs) -> Result<()> {
    match a.what {
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
