//! Prints the encryption throughput table (`pixveil_cipher::bench::encrypt_throughput`).
//!
//! `cargo run --release -p pixveil-cipher --example throughput [-- --quick]`

use pixveil_cipher::bench::{encrypt_throughput, ThroughputOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let rows = encrypt_throughput(&ThroughputOptions {
        quick,
        ..ThroughputOptions::default()
    })?;
    println!(
        "{:<9} {:<10} {:<8} {:>7} {:>12} {:>12} {:>10} {:>7}",
        "scheme", "mode", "shape", "images", "1-thread MB/s", "all MB/s", "memcpy", "ratio"
    );
    for r in &rows {
        println!(
            "{:<9} {:<10} {:<8} {:>7} {:>12.0} {:>12.0} {:>10.0} {:>7.3}",
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
    Ok(())
}
