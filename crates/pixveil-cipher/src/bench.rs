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
//! * `memcpy`: `copy_from_slice` of a buffer of the same size, paired with the single-threaded
//!   samples: every timed sample of the cipher is followed at once by a timed sample of the copy.
//!
//! Each figure is the median over `repetitions` timed samples, after one untimed warm-up run and
//! one timed run that sets the sample size: a sample repeats the run until it has lasted at least
//! `min_sample` (20 ms by default), so sub-millisecond runs (a fast cipher over 6 MB) are not timed
//! one by one at the timer's and the scheduler's resolution. Throughput is in MB/s (10⁶ bytes per
//! second) of image data. The copy's speed on a shared machine moves by a factor of two or more
//! within an hour, so a ratio only means something between neighbouring samples: `ratio_vs_memcpy`
//! is the median over the pairs of (cipher MB/s / copy MB/s), and `memcpy_mb_s` the median of the
//! row's copy samples. In per-image mode the timed region holds the whole cost of the mode: drawing
//! the batch's nonces ([`Nonce::fresh`]: ChaCha20 seeded by the OS CSPRNG, as `pixveil encrypt` and
//! the Python binding do for every batch) and deriving each image's key from its nonce. Quick mode
//! (for tests) uses 64 images and one repetition.

use std::time::{Duration, Instant};

use pixveil_core::MasterSecret;
use pixveil_image::{ImageBatch, Shape};
use serde::Serialize;

use crate::{kat::synthetic_batch, BatchCipher, Error, KeyMode, Nonce, Result, SchemeSpec};

/// Options of [`encrypt_throughput`].
#[derive(Clone, Debug)]
pub struct ThroughputOptions {
    /// Small batches (64 images) and one repetition: for tests. By default, this is `false`.
    pub quick: bool,
    /// Timed repetitions per figure (the median is reported; at least 1, else an error). By
    /// default, this is 5.
    pub repetitions: usize,
    /// Bytes of image data per batch (rounded down to whole images, at least one image;
    /// zero is an error).
    /// By default, this is 6 144 000 (2 000 images of 32×32×3).
    pub batch_bytes: usize,
    /// Shortest timed sample: a run shorter than this is repeated within the sample. By
    /// default, this is 20 ms (zero in quick mode).
    pub min_sample: Duration,
}

impl Default for ThroughputOptions {
    fn default() -> Self {
        Self {
            quick: false,
            repetitions: 5,
            batch_bytes: 6_144_000,
            min_sample: Duration::from_millis(20),
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
    /// `copy_from_slice` throughput of a buffer of the batch's size, MB/s: the median of the
    /// copy samples paired with the single-threaded ones.
    pub memcpy_mb_s: f64,
    /// The median over the paired samples of (single-threaded MB/s / copy MB/s): close to,
    /// but not always equal to, `single_thread_mb_s / memcpy_mb_s`.
    pub ratio_vs_memcpy: f64,
    /// The cipher kernels that ran ([`kernels`]).
    pub kernels: &'static str,
}

/// The byte kernels of the ciphers chosen at run time on this machine (detected once):
/// `"AVX-512"` (AVX-512 F, BW, VL and VBMI; off when `PIXVEIL_NO_AVX512` is set), `"AVX2"`, or
/// `"portable"` (no AVX2, or `PIXVEIL_PORTABLE_KERNELS` set).
pub fn kernels() -> &'static str {
    crate::kernels::level()
}

/// Median of `v`, which is non-empty (`measure` runs at least one repetition).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn mb_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs.max(1e-12) / 1e6
}

/// How [`measure`] times: `reps` samples, each of at least `min_sample`.
#[derive(Clone, Copy, Debug)]
struct Timing {
    reps: usize,
    min_sample: Duration,
}

/// How many runs of `run` fill one sample of `timing`: one untimed warm-up run (page faults,
/// cold caches), then one timed run decides (at least one, a huge count only if a run took
/// under a nanosecond).
fn runs_per_sample(timing: Timing, run: &mut impl FnMut() -> Result<()>) -> Result<usize> {
    run()?;
    let t = Instant::now();
    run()?;
    let once = t.elapsed().as_secs_f64().max(1e-9);
    Ok(((timing.min_sample.as_secs_f64() / once).ceil() as usize).clamp(1, 1 << 20))
}

/// The MB/s of one sample: `runs` runs of `run`, which processes `bytes` each.
fn sample(bytes: usize, runs: usize, run: &mut impl FnMut() -> Result<()>) -> Result<f64> {
    let t = Instant::now();
    for _ in 0..runs {
        run()?;
    }
    Ok(mb_s(bytes * runs, t.elapsed().as_secs_f64()))
}

/// Median MB/s of `run` (which processes `bytes`) over `timing.reps` samples after the
/// warm-up of [`runs_per_sample`]; each sample runs `run` as often as fills
/// `timing.min_sample`.
fn measure(bytes: usize, timing: Timing, mut run: impl FnMut() -> Result<()>) -> Result<f64> {
    let runs = runs_per_sample(timing, &mut run)?;
    let rates = (0..timing.reps)
        .map(|_| sample(bytes, runs, &mut run))
        .collect::<Result<Vec<_>>>()?;
    Ok(median(rates))
}

/// A cipher's speed and the copy's, timed in pairs (see the module docs).
struct Paired {
    /// Median MB/s of the cipher.
    run: f64,
    /// Median MB/s of the copy.
    base: f64,
    /// Median over the pairs of cipher MB/s / copy MB/s.
    ratio: f64,
}

/// [`measure`] of `run` and of `base` (which also process `bytes` a run), each sample of `run`
/// followed by one of `base`.
fn measure_paired(
    bytes: usize,
    timing: Timing,
    mut run: impl FnMut() -> Result<()>,
    mut base: impl FnMut() -> Result<()>,
) -> Result<Paired> {
    let (runs, base_runs) = (
        runs_per_sample(timing, &mut run)?,
        runs_per_sample(timing, &mut base)?,
    );
    let (mut rates, mut bases, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..timing.reps {
        let r = sample(bytes, runs, &mut run)?;
        let b = sample(bytes, base_runs, &mut base)?;
        rates.push(r);
        bases.push(b);
        ratios.push(r / b.max(1e-12));
    }
    Ok(Paired {
        run: median(rates),
        base: median(bases),
        ratio: median(ratios),
    })
}

/// The baseline: `copy_from_slice` between two buffers of one batch's size (allocated once
/// per image shape, so every row of the shape copies between the same warm pages).
struct Memcpy {
    src: Vec<u8>,
    dst: Vec<u8>,
}

impl Memcpy {
    fn new(bytes: usize) -> Self {
        Self {
            src: vec![0x5A; bytes],
            dst: vec![0; bytes],
        }
    }

    fn run(&mut self) -> Result<()> {
        self.dst.copy_from_slice(std::hint::black_box(&self.src));
        std::hint::black_box(&mut self.dst);
        Ok(())
    }
}

/// Measures encryption throughput of every scheme and key mode (see the module docs).
///
/// # Errors
/// [`Error::Bench`] for zero repetitions or a zero batch size, or if the one-thread pool
/// cannot be built; cipher errors (none expected).
pub fn encrypt_throughput(opts: &ThroughputOptions) -> Result<Vec<ThroughputRow>> {
    if opts.repetitions == 0 || opts.batch_bytes == 0 {
        return Err(Error::Bench(
            "--images and --reps (batch size and repetitions) must be at least 1".to_owned(),
        ));
    }
    let timing = if opts.quick {
        Timing {
            reps: 1,
            min_sample: Duration::ZERO,
        }
    } else {
        Timing {
            reps: opts.repetitions,
            min_sample: opts.min_sample,
        }
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
        let spec = SchemeSpec::from_name(name, None)?;
        let mut copy = Memcpy::new(bytes);
        for mode in [KeyMode::Fixed, KeyMode::PerImage] {
            let cipher = BatchCipher::new(spec.clone(), shape, mode, &secret)?;
            let mut run = || -> Result<()> {
                let nonces = match mode {
                    KeyMode::Fixed => None,
                    KeyMode::PerImage => Some(Nonce::fresh(n)?),
                };
                cipher.encrypt_batch(&mut batch, nonces.as_deref(), &|_| {})
            };
            let single = one.install(|| measure_paired(bytes, timing, &mut run, || copy.run()))?;
            let all = measure(bytes, timing, &mut run)?;
            rows.push(ThroughputRow {
                scheme: name.to_string(),
                mode: mode.to_string(),
                shape: shape.to_string(),
                images: n,
                single_thread_mb_s: single.run,
                all_threads_mb_s: all,
                memcpy_mb_s: single.base,
                ratio_vs_memcpy: single.ratio,
                kernels: kernels(),
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_repetitions_or_batch_are_refused() {
        for opts in [
            ThroughputOptions {
                repetitions: 0,
                ..ThroughputOptions::default()
            },
            ThroughputOptions {
                batch_bytes: 0,
                ..ThroughputOptions::default()
            },
        ] {
            let e = encrypt_throughput(&opts).unwrap_err();
            assert!(matches!(e, Error::Bench(_)), "{e}");
        }
    }

    #[test]
    fn paired_samples_alternate_cipher_and_copy() {
        let calls = std::cell::RefCell::new(String::new());
        let timing = Timing {
            reps: 3,
            min_sample: Duration::ZERO,
        };
        let p = measure_paired(
            1000,
            timing,
            || {
                calls.borrow_mut().push('r');
                Ok(())
            },
            || {
                calls.borrow_mut().push('b');
                Ok(())
            },
        )
        .unwrap();
        // A warm-up and a timed calibration run each, then each cipher sample right before its
        // copy sample.
        assert_eq!(*calls.borrow(), "rrbbrbrbrb");
        assert!(p.run > 0.0 && p.base > 0.0 && p.ratio > 0.0);
    }

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
            assert!(
                ["AVX-512", "AVX2", "portable"].contains(&r.kernels),
                "{r:?}"
            );
        }
        assert!(serde_json::to_string(&rows)
            .unwrap()
            .contains("ratio_vs_memcpy"));
    }
}
