//! Encryption throughput, measured against `memcpy` in the same run (`pixveil bench encrypt`).
//!
//! For every scheme name in [`SchemeSpec::NAMES`] (block schemes with block 4) and both key
//! modes, a synthetic batch of random bytes (`ChaCha20Rng::from_seed([7; 32])`) is encrypted in
//! place through [`BatchCipher::encrypt_batch`]:
//!
//! * every scheme on 32×32×3 images (2 000 images, 6.144 MB), and additionally the grey
//!   scheme on 28×28×1 images (7 836 images, ≈ 6.14 MB) — its natural shape;
//! * single-threaded: inside a one-thread rayon pool (`ThreadPool::install`);
//! * all threads: rayon's global pool;
//! * `memcpy`: `copy_from_slice` of a buffer of the same size, in the same run.
//!
//! Each figure is the median over `repetitions` timed runs, after one untimed warm-up run.
//! Throughput is in MB/s (10⁶ bytes per second) of image data. In per-image mode each image's
//! cipher is derived from its nonce inside the timed region (that is the cost of the mode); the
//! nonces themselves are drawn before timing. `ratio_vs_memcpy = single_thread_mb_s / memcpy_mb_s`.
//! Quick mode (for tests) uses 64 images and one repetition.

use std::time::Instant;

use pixveil_core::MasterSecret;
use pixveil_image::{ImageBatch, Shape};
use serde::Serialize;

use crate::{kat::synthetic_batch, BatchCipher, Error, KeyMode, Nonce, Result, SchemeSpec};

/// Options of [`encrypt_throughput`].
#[derive(Clone, Debug)]
pub struct ThroughputOptions {
    /// Small batches (64 images) and one repetition: for tests. By default, this is `false`.
    pub quick: bool,
    /// Timed repetitions per figure (the median is reported; at least 1). By default, this is 5.
    pub repetitions: usize,
    /// Bytes of image data per batch (rounded down to whole images, at least one image).
    /// By default, this is 6 144 000 (2 000 images of 32×32×3).
    pub batch_bytes: usize,
}

impl Default for ThroughputOptions {
    fn default() -> Self {
        Self {
            quick: false,
            repetitions: 5,
            batch_bytes: 6_144_000,
        }
    }
}

/// One row of the throughput table.
#[derive(Clone, Debug, Serialize)]
pub struct ThroughputRow {
    /// Scheme name (one of [`SchemeSpec::NAMES`]).
    pub scheme: String,
    /// Key mode (`fixed` or `per-image`).
    pub mode: String,
    /// Image shape, `HxWxC`.
    pub shape: String,
    /// Images in the batch.
    pub images: usize,
    /// Encryption throughput on one thread, MB/s (10⁶ bytes/s).
    pub single_thread_mb_s: f64,
    /// Encryption throughput on rayon's global pool, MB/s.
    pub all_threads_mb_s: f64,
    /// `copy_from_slice` throughput of a buffer of the batch's size, MB/s.
    pub memcpy_mb_s: f64,
    /// `single_thread_mb_s / memcpy_mb_s`.
    pub ratio_vs_memcpy: f64,
}

/// Median of `v`, which is non-empty (`measure` runs at least one repetition).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn mb_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs.max(1e-12) / 1e6
}

/// Median MB/s of `run` over `reps` timed runs after one warm-up.
fn measure(bytes: usize, reps: usize, mut run: impl FnMut() -> Result<()>) -> Result<f64> {
    run()?;
    let mut rates = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        run()?;
        rates.push(mb_s(bytes, t.elapsed().as_secs_f64()));
    }
    Ok(median(rates))
}

fn memcpy_rate(bytes: usize, reps: usize) -> Result<f64> {
    let src = vec![0x5Au8; bytes];
    let mut dst = vec![0u8; bytes];
    measure(bytes, reps, || {
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&mut dst);
        Ok(())
    })
}

/// Measures encryption throughput of every scheme and key mode (see the module docs).
///
/// # Errors
/// [`Error::Bench`] if the one-thread pool cannot be built; cipher errors (none expected).
pub fn encrypt_throughput(opts: &ThroughputOptions) -> Result<Vec<ThroughputRow>> {
    let reps = if opts.quick {
        1
    } else {
        opts.repetitions.max(1)
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| Error::Bench(e.to_string()))?;
    let secret = MasterSecret::from_bytes([0x42; 32]);
    let shape_of = |h, w, c| {
        Shape::new(h, w, c).map_err(|e| Error::Bench(format!("bad benchmark shape: {e}")))
    };
    let rgb = shape_of(32, 32, 3)?;
    let grey = shape_of(28, 28, 1)?;
    let mut cases: Vec<(&str, Shape)> = SchemeSpec::NAMES.iter().map(|&n| (n, rgb)).collect();
    cases.push(("grey", grey));

    let mut rows = Vec::new();
    for (name, shape) in cases {
        let n = if opts.quick {
            64
        } else {
            (opts.batch_bytes / shape.len()).max(1)
        };
        let bytes = n * shape.len();
        let mut batch: ImageBatch = synthetic_batch(shape, n, [7; 32]);
        let memcpy = memcpy_rate(bytes, reps)?;
        let spec = SchemeSpec::from_name(name, None)?;
        for mode in [KeyMode::Fixed, KeyMode::PerImage] {
            let cipher = BatchCipher::new(spec.clone(), shape, mode, &secret)?;
            let nonces = match mode {
                KeyMode::Fixed => None,
                KeyMode::PerImage => Some(Nonce::fresh(n)?),
            };
            let nonces = nonces.as_deref();
            let single = one.install(|| {
                measure(bytes, reps, || {
                    cipher.encrypt_batch(&mut batch, nonces, &|_| {})
                })
            })?;
            let all = measure(bytes, reps, || {
                cipher.encrypt_batch(&mut batch, nonces, &|_| {})
            })?;
            rows.push(ThroughputRow {
                scheme: name.to_string(),
                mode: mode.to_string(),
                shape: shape.to_string(),
                images: n,
                single_thread_mb_s: single,
                all_threads_mb_s: all,
                memcpy_mb_s: memcpy,
                ratio_vs_memcpy: single / memcpy.max(1e-12),
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_run_has_every_scheme_and_mode() {
        let rows = encrypt_throughput(&ThroughputOptions {
            quick: true,
            ..ThroughputOptions::default()
        })
        .unwrap();
        assert_eq!(rows.len(), 2 * (SchemeSpec::NAMES.len() + 1));
        for r in &rows {
            assert!(r.single_thread_mb_s > 0.0 && r.memcpy_mb_s > 0.0, "{r:?}");
        }
        assert!(serde_json::to_string(&rows)
            .unwrap()
            .contains("ratio_vs_memcpy"));
    }
}
