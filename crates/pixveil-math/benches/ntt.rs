//! NTT benchmarks: `cargo bench -p pixveil-math --bench ntt`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pixveil_math::primes::ntt_primes;
use pixveil_math::NttTable;
use std::hint::black_box;

fn ntt(c: &mut Criterion) {
    let mut g = c.benchmark_group("ntt");
    for (n, bits) in [(8192usize, 26u32), (8192, 31), (8192, 40), (8192, 60)] {
        let q = ntt_primes(bits, 1, n, &[]).expect("prime")[0];
        for (name, t) in [
            ("auto", NttTable::new(q, n).expect("table")),
            ("scalar", NttTable::new_scalar(q, n).expect("table")),
        ] {
            let mut a: Vec<u64> = (0..n as u64).map(|i| (i * 7919) % q).collect();
            let id = format!("{n}/{bits}/{:?}", t.backend());
            g.bench_function(BenchmarkId::new(format!("forward-{name}"), &id), |b| {
                b.iter(|| t.forward(black_box(&mut a)))
            });
            g.bench_function(BenchmarkId::new(format!("backward-{name}"), &id), |b| {
                b.iter(|| t.backward(black_box(&mut a)))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, ntt);
criterion_main!(benches);
