//! Prints `run_op_benchmarks` as one JSON array (the format of `pixveil bench ckks --json`):
//! `cargo run --release -p pixveil-ckks --example bench_json -- [--quick] [--reps N]
//! [--chain tenseal|precise|fast]... [--threads N]...`.

use pixveil_ckks::bench::{run_op_benchmarks, BenchOptions, Chain};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut opts = BenchOptions::default();
    let mut chains = Vec::new();
    let mut threads = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => opts = BenchOptions::quick(),
            "--reps" => opts.reps = args.next().ok_or("--reps needs a value")?.parse()?,
            "--threads" => threads.push(args.next().ok_or("--threads needs a value")?.parse()?),
            "--chain" => {
                let name = args.next().ok_or("--chain needs a value")?;
                chains.push(Chain::from_name(&name).ok_or("unknown chain")?);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if !chains.is_empty() {
        opts.chains = chains;
    }
    if !threads.is_empty() {
        opts.threads = threads;
    }
    let t = run_op_benchmarks(&opts)?;
    println!("{}", serde_json::to_string_pretty(&t)?);
    Ok(())
}
