//! SGEMM libraries on the GEMM shapes of ResNet-18's convolutions:
//! `cargo bench -p pixveil-nn --features bench-gemm --bench gemm -- [WIDTH...] [--batch N]
//! [--threads 1,2]` (results in docs/training.md).
//!
//! For every convolution of a CIFAR ResNet-18 (32×32 input) at each width (default 8 and
//! 64) and a mini-batch (default 128), the three GEMMs the engine runs per image group
//! (`im2col` columns of `g` images side by side, `g` from the engine's rule: ≥ 512
//! columns, at most 32 images):
//!
//! - forward `Y[O × g·P] = W[O × K] · col[K × g·P]`,
//! - weight gradient `dW[O × K] = dY[O × g·P] · colᵀ`,
//! - input gradient `dcol[K × g·P] = Wᵀ · dY`,
//!
//! with `K = C·k·k` and `P` output positions per image, timed three ways on a rayon pool of
//! each thread count: `matrixmultiply` and `gemm-f32` (sarah-ek's `gemm`, f32 part) one
//! single-threaded GEMM per image group with the groups spread over the pool (the engine's
//! layout), and `gemm-f32` one group after another with its own rayon parallelism inside
//! each GEMM. Times are per mini-batch, summed over the network's layers; large layers are
//! timed on a subset of the groups and scaled. Prints the CPU and the kernels picked.
#![allow(missing_docs)]
// The two libraries' entry points are raw-pointer functions.
#![allow(unsafe_code)]

use std::hint::black_box;
use std::time::Instant;

use rayon::prelude::*;

/// One convolution of the network: `count` layers share the shape.
#[derive(Clone, Copy, Debug)]
struct Conv {
    name: &'static str,
    c: usize,
    o: usize,
    k: usize,
    /// Output side.
    side: usize,
    count: usize,
}

/// ResNet-18 (CIFAR) convolutions at base width `w`.
fn resnet18(w: usize) -> Vec<Conv> {
    let conv = |name, c, o, k, side, count| Conv {
        name,
        c,
        o,
        k,
        side,
        count,
    };
    vec![
        conv("stem 3x3", 3, w, 3, 32, 1),
        conv("layer1 3x3", w, w, 3, 32, 4),
        conv("layer2 3x3/2", w, 2 * w, 3, 16, 1),
        conv("layer2 3x3", 2 * w, 2 * w, 3, 16, 3),
        conv("layer2 1x1/2", w, 2 * w, 1, 16, 1),
        conv("layer3 3x3/2", 2 * w, 4 * w, 3, 8, 1),
        conv("layer3 3x3", 4 * w, 4 * w, 3, 8, 3),
        conv("layer3 1x1/2", 2 * w, 4 * w, 1, 8, 1),
        conv("layer4 3x3/2", 4 * w, 8 * w, 3, 4, 1),
        conv("layer4 3x3", 8 * w, 8 * w, 3, 4, 3),
        conv("layer4 1x1/2", 4 * w, 8 * w, 1, 4, 1),
    ]
}

/// The engine's grouping rule (layer.rs `ConvGeom::group`).
fn group(positions: usize) -> usize {
    512usize.div_ceil(positions).clamp(1, 32)
}

/// A row-major or transposed operand: `(data, rows, cols, row stride, col stride)`.
#[derive(Clone, Copy)]
struct M<'a> {
    d: &'a [f32],
    r: usize,
    c: usize,
    rs: usize,
    cs: usize,
}

fn rows(d: &[f32], r: usize, c: usize) -> M<'_> {
    assert!(d.len() >= r * c);
    M {
        d,
        r,
        c,
        rs: c,
        cs: 1,
    }
}

fn t(m: M<'_>) -> M<'_> {
    M {
        d: m.d,
        r: m.c,
        c: m.r,
        rs: m.cs,
        cs: m.rs,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lib {
    /// `matrixmultiply::sgemm`, one per group, groups over the pool.
    Mm,
    /// `gemm-f32`, one single-threaded GEMM per group, groups over the pool.
    GemmGroups,
    /// `gemm-f32`, groups in sequence, rayon inside each GEMM.
    GemmInner,
}

impl Lib {
    const ALL: [Lib; 3] = [Lib::Mm, Lib::GemmGroups, Lib::GemmInner];

    fn name(self) -> &'static str {
        match self {
            Lib::Mm => "matrixmultiply/groups",
            Lib::GemmGroups => "gemm/groups",
            Lib::GemmInner => "gemm/inner",
        }
    }
}

/// `c ← a · b` (row-major `c`).
fn mul(lib: Lib, threads: usize, a: M<'_>, b: M<'_>, c: &mut [f32]) {
    let (m, k, n) = (a.r, a.c, b.c);
    assert_eq!(k, b.r);
    assert!(c.len() >= m * n);
    let last = |x: &M<'_>| (x.r - 1) * x.rs + (x.c - 1) * x.cs;
    assert!(last(&a) < a.d.len() && last(&b) < b.d.len());
    let st = |v: usize| isize::try_from(v).expect("stride fits isize");
    match lib {
        // SAFETY: every index read is within the slices (asserted above); `c` is a unique
        // borrow of at least m·n values.
        Lib::Mm => unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.d.as_ptr(),
                st(a.rs),
                st(a.cs),
                b.d.as_ptr(),
                st(b.rs),
                st(b.cs),
                0.0,
                c.as_mut_ptr(),
                st(n),
                1,
            );
        },
        Lib::GemmGroups | Lib::GemmInner => {
            let par = if lib == Lib::GemmInner && threads > 1 {
                gemm_common::Parallelism::Rayon(threads)
            } else {
                gemm_common::Parallelism::None
            };
            // gemm prefers a column-major destination: compute cᵀ (column-major = c
            // row-major) as bᵀ · aᵀ, as `gemm::gemm` does itself.
            // SAFETY: as above.
            unsafe {
                gemm_f32::gemm::f32::get_gemm_fn()(
                    n,
                    m,
                    k,
                    c.as_mut_ptr(),
                    st(n),
                    1,
                    false,
                    b.d.as_ptr(),
                    st(b.rs),
                    st(b.cs),
                    a.d.as_ptr(),
                    st(a.rs),
                    st(a.cs),
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    par,
                );
            }
        }
    }
}

fn fill(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Pass {
    Fwd,
    Dw,
    Dx,
}

/// Seconds per mini-batch of `pass` for each library of [`Lib::ALL`]: the best of `REPS`
/// timings, the libraries interleaved within each repetition (so that load from other
/// processes hits all of them alike); each timing runs a subset of the groups and is scaled.
fn time_pass(threads: usize, cv: Conv, batch: usize, pass: Pass) -> [f64; 3] {
    const REPS: usize = 5;
    let p = cv.side * cv.side;
    let kk = cv.c * cv.k * cv.k;
    let g = group(p).min(batch);
    let groups = batch.div_ceil(g);
    let ld = g * p;
    // About 1 GFLOP per timing, at least 2 groups per thread, at most the batch's groups.
    let flops_per_group = 2.0 * (cv.o * kk * ld) as f64;
    let run = ((1e9 / flops_per_group) as usize).clamp(2 * threads, groups.max(2 * threads));
    let w = fill(cv.o * kk, 1);
    let col = fill(kk * ld, 2);
    let dy = fill(cv.o * ld, 3);
    let out_len = match pass {
        Pass::Fwd => cv.o * ld,
        Pass::Dw => cv.o * kk,
        Pass::Dx => kk * ld,
    };
    let one = |lib: Lib, out: &mut [f32]| match pass {
        Pass::Fwd => mul(lib, threads, rows(&w, cv.o, kk), rows(&col, kk, ld), out),
        Pass::Dw => mul(
            lib,
            threads,
            rows(&dy, cv.o, ld),
            t(rows(&col, kk, ld)),
            out,
        ),
        Pass::Dx => mul(
            lib,
            threads,
            t(rows(&w, cv.o, kk)),
            rows(&dy, cv.o, ld),
            out,
        ),
    };
    let mut outs = vec![vec![0.0f32; out_len]; run];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("rayon pool");
    let mut go = |lib: Lib| {
        let t0 = Instant::now();
        pool.install(|| match lib {
            Lib::Mm | Lib::GemmGroups => outs.par_iter_mut().for_each(|o| one(lib, o)),
            Lib::GemmInner => outs.iter_mut().for_each(|o| one(lib, o)),
        });
        black_box(&outs);
        t0.elapsed().as_secs_f64()
    };
    let mut best = [f64::INFINITY; 3];
    for rep in 0..=REPS {
        for (i, &lib) in Lib::ALL.iter().enumerate() {
            let s = go(lib);
            // Repetition 0 warms caches and the pool up.
            if rep > 0 {
                best[i] = best[i].min(s);
            }
        }
    }
    best.map(|b| b * groups as f64 / run as f64)
}

fn fma_kernel() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512f present: gemm-f32 uses it only with its x86-v4 feature, else FMA; matrixmultiply FMA";
        }
        if std::arch::is_x86_feature_detected!("fma") {
            return "FMA (AVX2) for both";
        }
    }
    "no FMA: portable/SSE kernels"
}

fn main() {
    let mut widths = Vec::new();
    let mut batch = 128;
    let mut threads = vec![1, 2];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--batch" => batch = args.next().and_then(|v| v.parse().ok()).expect("--batch N"),
            "--threads" => {
                threads = args
                    .next()
                    .expect("--threads 1,2")
                    .split(',')
                    .map(|v| v.parse().expect("thread count"))
                    .collect();
            }
            "--bench" => {}
            w => widths.push(w.parse::<usize>().expect("a width")),
        }
    }
    if widths.is_empty() {
        widths = vec![8, 64];
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    println!("CPU: {cpu}; kernels: {}", fma_kernel());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load: {}", load.trim());
    println!(
        "batch {batch}; seconds per mini-batch, summed over the layers; ratio = matrixmultiply / x"
    );
    for &w in &widths {
        let net = resnet18(w);
        for &th in &threads {
            println!("\nResNet-18 width {w}, {th} thread(s)");
            println!(
                "{:<14} {:>5} {:>5} {:>5} | {:<5} {:>10} {:>10} {:>10} | {:>6} {:>6}",
                "layer", "K", "O", "cols", "pass", "mm", "gemm/grp", "gemm/inn", "r grp", "r inn"
            );
            let mut tot = [[0.0f64; 3]; 3];
            for cv in &net {
                let p = cv.side * cv.side;
                for (pi, (pass, pn)) in [(Pass::Fwd, "fwd"), (Pass::Dw, "dW"), (Pass::Dx, "dX")]
                    .into_iter()
                    .enumerate()
                {
                    let ts = time_pass(th, *cv, batch, pass).map(|s| s * cv.count as f64);
                    for (li, t) in ts.iter().enumerate() {
                        tot[pi][li] += t;
                    }
                    println!(
                        "{:<14} {:>5} {:>5} {:>5} | {:<5} {:>10.4} {:>10.4} {:>10.4} | {:>6.2} {:>6.2}",
                        cv.name,
                        cv.c * cv.k * cv.k,
                        cv.o,
                        group(p).min(batch) * p,
                        pn,
                        ts[0],
                        ts[1],
                        ts[2],
                        ts[0] / ts[1],
                        ts[0] / ts[2]
                    );
                }
            }
            for (pi, pn) in ["fwd", "dW", "dX"].iter().enumerate() {
                let t = tot[pi];
                println!(
                    "TOTAL w{w} t{th} {pn:<4} mm {:.3} s  gemm/groups {:.3} s ({:.2}x)  gemm/inner {:.3} s ({:.2}x)",
                    t[0],
                    t[1],
                    t[0] / t[1],
                    t[2],
                    t[0] / t[2]
                );
            }
        }
    }
    println!(
        "\nkernels: {} / {}",
        Lib::Mm.name(),
        [Lib::GemmGroups.name(), Lib::GemmInner.name()].join(", ")
    );
}
