//! Operation timings for `pixveil bench ckks` (and the peer comparison with SEAL).
//!
//! [`run_op_benchmarks`] builds keys for each requested chain at `N = 8192`, then times every
//! operation `reps` times on one thread and reports the median in milliseconds. Operation
//! names match the peer script (`scripts/peer/tenseal_bench.py`):
//!
//! | op | what is timed |
//! |---|---|
//! | `ntt` / `intt` | one forward / inverse 8192-point NTT modulo one 26-bit prime |
//! | `encode` / `decode` | 4096 complex slots ↔ plaintext at the top level |
//! | `encrypt` / `encrypt_sk` | public-key / seeded secret-key encryption at the top level |
//! | `decrypt` | decryption to a plaintext (no decoding) |
//! | `add` | ciphertext + ciphertext |
//! | `mul_plain` | ciphertext × plaintext (no rescale) |
//! | `mul` | ciphertext × ciphertext, no relinearization |
//! | `relinearize` | relinearization of a size-3 ciphertext |
//! | `mul_relin` | ciphertext × ciphertext + relinearization |
//! | `rescale` | rescale of a top-level ciphertext |
//! | `rotate` | rotation by one slot |
//! | `conjugate` | slot-wise complex conjugation |
//! | `hoisted_rotate_k` | `k` rotations (steps 1…k) of one ciphertext, hoisted (total time) |
//! | `rotate_k` | the same `k` rotations done one by one (total time) |

use crate::prelude::*;
use pixveil_math::primes::ntt_primes;
use pixveil_math::NttTable;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;
use std::time::Instant;

/// A chain (parameter set) to benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Chain {
    /// `[31, 26×6, 31]`, `Δ = 2^26`, `N = 8192` ([`Preset::TenSeal8192`]); name `tenseal`.
    TenSeal,
    /// `[40, 26×5, 48]`, `Δ = 2^26`, `N = 8192` ([`Preset::Precise8192`]); name `precise`.
    Precise,
    /// `[31, 26×5]` + `P = [28, 28]`, `Δ = 2^26`, `N = 8192` ([`Preset::Fast8192`]); name
    /// `fast`. Not in the defaults (SEAL cannot use two special primes, so there is no peer).
    Fast,
}

impl Chain {
    /// The name reported in [`OpTiming::chain`].
    pub fn name(self) -> &'static str {
        self.preset().name()
    }
    /// The preset.
    pub fn preset(self) -> Preset {
        match self {
            Self::TenSeal => Preset::TenSeal8192,
            Self::Precise => Preset::Precise8192,
            Self::Fast => Preset::Fast8192,
        }
    }
    /// Parses `tenseal`, `precise` or `fast`.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "tenseal" => Some(Self::TenSeal),
            "precise" => Some(Self::Precise),
            "fast" => Some(Self::Fast),
            _ => None,
        }
    }
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchOptions {
    /// Timed repetitions per operation (the median is reported). By default, this is 21.
    pub reps: usize,
    /// Chains to benchmark. By default, this is both `tenseal` and `precise`.
    pub chains: Vec<Chain>,
    /// Number of rotations in `hoisted_rotate_k` / `rotate_k`. By default, this is 8.
    pub hoisted_k: usize,
    /// Thread counts to run every operation with (each in its own rayon pool; key switching
    /// is the only parallel part). By default, this is `[1]` (single-threaded).
    pub threads: Vec<usize>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            reps: 21,
            chains: vec![Chain::TenSeal, Chain::Precise],
            hoisted_k: 8,
            threads: vec![1],
        }
    }
}

impl BenchOptions {
    /// A fast configuration for smoke tests: 1 repetition (after the warm-up run), `tenseal`
    /// only, `k = 2`. About 0.2 s in release builds; about 10 s in an unoptimized (`dev`,
    /// opt-level 0) build, so CLI tests should build the three CKKS crates with optimizations.
    pub fn quick() -> Self {
        Self {
            reps: 1,
            chains: vec![Chain::TenSeal],
            hoisted_k: 2,
            threads: vec![1],
        }
    }
}

/// Median time of one operation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OpTiming {
    /// Operation name (see the module table).
    pub op: String,
    /// Chain name (`tenseal`, `precise` or `fast`).
    pub chain: String,
    /// Threads the operation could use (the size of the rayon pool it ran in).
    pub threads: usize,
    /// Median wall time in milliseconds.
    pub median_ms: f64,
}

fn median_ms(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?; // warm-up
    let mut t = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(|a, b| a.total_cmp(b));
    Ok(t[t.len() / 2])
}

/// Times every operation for every chain and thread count in `opts`; one [`OpTiming`] per
/// (op, chain, threads).
///
/// # Errors
/// [`crate::Error::InvalidParameter`] if a thread pool cannot be built (0 threads); parameter
/// or key generation errors (none for the shipped presets).
pub fn run_op_benchmarks(opts: &BenchOptions) -> Result<Vec<OpTiming>> {
    let mut out = Vec::new();
    for &threads in &opts.threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .ok()
            .filter(|_| threads > 0)
            .ok_or_else(|| crate::Error::InvalidParameter {
                field: "threads",
                reason: format!("cannot build a pool of {threads} threads"),
            })?;
        for &chain in &opts.chains {
            out.extend(pool.install(|| bench_chain(chain, threads, opts))?);
        }
    }
    Ok(out)
}

fn bench_chain(chain: Chain, threads: usize, opts: &BenchOptions) -> Result<Vec<OpTiming>> {
    let mut out = Vec::new();
    {
        let mut push = |op: &str, ms: f64| {
            out.push(OpTiming {
                op: op.to_string(),
                chain: chain.name().to_string(),
                threads,
                median_ms: ms,
            })
        };
        let params = Parameters::preset(chain.preset())?;
        let n = params.degree();
        let reps = opts.reps;
        let k = opts.hoisted_k.max(1);

        let q26 = ntt_primes(26, 1, n, &[])?[0];
        let table = NttTable::new(q26, n)?;
        let mut buf: Vec<u64> = (0..n as u64).map(|i| i * 7919 % q26).collect();
        push(
            "ntt",
            median_ms(reps * 10, || {
                table.forward(black_box(&mut buf));
                Ok(())
            })?,
        );
        push(
            "intt",
            median_ms(reps * 10, || {
                table.backward(black_box(&mut buf));
                Ok(())
            })?,
        );

        let mut rng = ChaCha20Rng::from_seed([7; 32]);
        let kg = KeyGenerator::new(&params, &mut rng)?;
        let pk = kg.public_key(&mut rng)?;
        let rlk = kg.relin_key(&mut rng)?;
        let steps: Vec<i64> = (1..=k as i64).collect();
        let gk = kg.galois_keys(&steps, true, &mut rng)?;
        let enc = Encoder::new(&params)?;
        let pk_enc = Encryptor::with_public_key(&params, &pk)?;
        let sk_enc = Encryptor::with_secret_key(&params, kg.secret_key())?;
        let dec = Decryptor::new(&params, kg.secret_key())?;
        let ev = Evaluator::new(&params);
        let level = params.max_level();
        let scale = params.default_scale();
        let vals: Vec<Complex> = (0..params.slots())
            .map(|i| Complex::new((i as f64 * 0.01).sin(), (i as f64 * 0.02).cos()))
            .collect();

        let pt = enc.encode(&vals, level, scale)?;
        push(
            "encode",
            median_ms(reps, || {
                black_box(enc.encode(black_box(&vals), level, scale)?);
                Ok(())
            })?,
        );
        push(
            "decode",
            median_ms(reps, || {
                black_box(enc.decode(black_box(&pt))?);
                Ok(())
            })?,
        );
        let ct = pk_enc.encrypt(&pt, &mut rng)?;
        let ct2 = pk_enc.encrypt(&pt, &mut rng)?;
        push(
            "encrypt",
            median_ms(reps, || {
                black_box(pk_enc.encrypt(black_box(&pt), &mut rng)?);
                Ok(())
            })?,
        );
        push(
            "encrypt_sk",
            median_ms(reps, || {
                black_box(sk_enc.encrypt(black_box(&pt), &mut rng)?);
                Ok(())
            })?,
        );
        push(
            "decrypt",
            median_ms(reps, || {
                black_box(dec.decrypt_raw(black_box(&ct))?);
                Ok(())
            })?,
        );
        push(
            "add",
            median_ms(reps, || {
                black_box(ev.add(&ct, &ct2)?);
                Ok(())
            })?,
        );
        push(
            "mul_plain",
            median_ms(reps, || {
                black_box(ev.mul_plain(&ct, &pt)?);
                Ok(())
            })?,
        );
        push(
            "mul",
            median_ms(reps, || {
                black_box(ev.mul(&ct, &ct2)?);
                Ok(())
            })?,
        );
        let ct3 = ev.mul(&ct, &ct2)?;
        push(
            "relinearize",
            median_ms(reps, || {
                black_box(ev.relinearize(&ct3, &rlk)?);
                Ok(())
            })?,
        );
        push(
            "mul_relin",
            median_ms(reps, || {
                black_box(ev.mul_relin(&ct, &ct2, &rlk)?);
                Ok(())
            })?,
        );
        push(
            "rescale",
            median_ms(reps, || {
                black_box(ev.rescale(&ct)?);
                Ok(())
            })?,
        );
        push(
            "rotate",
            median_ms(reps, || {
                black_box(ev.rotate(&ct, 1, &gk)?);
                Ok(())
            })?,
        );
        push(
            "conjugate",
            median_ms(reps, || {
                black_box(ev.conjugate(&ct, &gk)?);
                Ok(())
            })?,
        );
        push(
            &format!("hoisted_rotate_{k}"),
            median_ms(reps, || {
                black_box(ev.rotate_hoisted(&ct, &steps, &gk)?);
                Ok(())
            })?,
        );
        push(
            &format!("rotate_{k}"),
            median_ms(reps, || {
                for &s in &steps {
                    black_box(ev.rotate(&ct, s, &gk)?);
                }
                Ok(())
            })?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_run_reports_every_op() {
        let t = run_op_benchmarks(&BenchOptions::quick()).unwrap();
        for op in [
            "ntt",
            "encode",
            "encrypt",
            "decrypt",
            "mul_plain",
            "mul_relin",
            "relinearize",
            "rescale",
            "rotate",
            "hoisted_rotate_2",
        ] {
            let r = t.iter().find(|r| r.op == op).unwrap();
            assert_eq!(r.chain, "tenseal");
            assert_eq!(r.threads, 1);
            assert!(r.median_ms.is_finite() && r.median_ms > 0.0, "{op}");
        }
        let json = serde_json::to_string(&t).unwrap();
        assert!(json.starts_with("[{\"op\":"));
    }
}
