//! Statistical metrics over a set of images, plain vs encrypted, reported as mean ± std.
//!
//! [`analyze`] encrypts the images with a scheme, key mode and master secret and measures, for
//! each image, the plain and the encrypted version: global and local Shannon entropy,
//! adjacent-pixel correlation (horizontal, vertical, diagonal), histogram χ², and PSNR and SSIM
//! between the plain and the encrypted image. Key sensitivity (one bit of the master secret
//! flipped) and plaintext sensitivity (one value changed) are measured with NPCR and UACI on the
//! first [`AnalyzeOptions::sensitivity_images`] images (default 100). Work is spread over images
//! with rayon; every metric is `O(H·W·C)` per image.

pub mod chi2;
pub mod correlation;
pub mod entropy;
pub mod keyspace;
pub mod npcr;
pub mod psnr;
pub mod ssim;

pub use chi2::chi2;
pub use correlation::{correlation, Direction};
pub use entropy::{entropy, local_entropy};
pub use keyspace::{key_space, KeySpace};
pub use npcr::{npcr, uaci};
pub use psnr::{psnr, PSNR_CAP_DB};
pub use ssim::ssim;

use pixveil_cipher::{BatchCipher, KdfVersion, KeyMode, Nonce, SchemeSpec};
use pixveil_core::MasterSecret;
use pixveil_image::{ImageBatch, Shape};
use rayon::prelude::*;
use serde::Serialize;

use crate::{Error, Result};

/// Mean and standard deviation of a metric over images (non-finite values, e.g. the undefined
/// correlation of a constant image, are left out and not counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Stat {
    /// Arithmetic mean.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    /// Number of finite values aggregated.
    pub count: usize,
}

impl Stat {
    /// Mean and population standard deviation of the finite values (all 0 when there is none).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Stat {
        let (mut n, mut s, mut ss) = (0usize, 0.0, 0.0);
        for v in values.into_iter().filter(|v| v.is_finite()) {
            n += 1;
            s += v;
            ss += v * v;
        }
        if n == 0 {
            return Stat::default();
        }
        let mean = s / n as f64;
        Stat {
            mean,
            std: (ss / n as f64 - mean * mean).max(0.0).sqrt(),
            count: n,
        }
    }
}

impl std::fmt::Display for Stat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = f.precision().unwrap_or(3);
        write!(f, "{:.p$} ± {:.p$}", self.mean, self.std)
    }
}

/// A metric on the plain images and on their encryptions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct PlainCipher {
    /// Over the plain images.
    pub plain: Stat,
    /// Over the encrypted images.
    pub encrypted: Stat,
}

/// Everything [`analyze`] measures.
#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    /// Scheme name (`pe`, `etc/4`…).
    pub scheme: String,
    /// Key mode (`fixed` / `per-image`).
    pub mode: String,
    /// Image shape `HxWxC`.
    pub shape: String,
    /// Number of images measured.
    pub images: usize,
    /// Key space in bits.
    pub key_space: KeySpace,
    /// Global Shannon entropy, bits per value (ideal: 8).
    pub entropy: PlainCipher,
    /// Mean entropy of 30 random 16×16 windows, bits per value.
    pub local_entropy: PlainCipher,
    /// Horizontal adjacent-pixel correlation (ideal for ciphertext: 0).
    pub correlation_horizontal: PlainCipher,
    /// Vertical adjacent-pixel correlation.
    pub correlation_vertical: PlainCipher,
    /// Diagonal adjacent-pixel correlation.
    pub correlation_diagonal: PlainCipher,
    /// Histogram χ² against uniform (255 degrees of freedom; uniform at 5 % if < 293.25).
    pub chi2: PlainCipher,
    /// NPCR (%) between ciphertexts of one image under the key and the key with one master
    /// bit flipped (ideal 99.61 %).
    pub npcr_key: Stat,
    /// UACI (%) for the same (ideal 33.46 %).
    pub uaci_key: Stat,
    /// NPCR (%) between ciphertexts of an image and of the image with one value changed (same
    /// key and, in per-image mode, same nonce).
    pub npcr_plaintext: Stat,
    /// UACI (%) for the same.
    pub uaci_plaintext: Stat,
    /// Images used for the sensitivity measurements.
    pub sensitivity_images: usize,
    /// PSNR (dB) between each plain image and its encryption (low = unrecognisable).
    pub psnr_db: Stat,
    /// SSIM between each plain image and its encryption.
    pub ssim: Stat,
}

/// Options of [`analyze`].
#[derive(Clone, Copy, Debug)]
pub struct AnalyzeOptions {
    /// Images used for NPCR/UACI (the first ones). By default, this is 100.
    pub sensitivity_images: usize,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        Self {
            sensitivity_images: 100,
        }
    }
}

/// Per-image metric vector: entropy, local entropy, corr h/v/d, χ².
const PER: usize = 6;

fn per_image(img: &[u8], shape: Shape, seed: u64) -> [f64; PER] {
    // Undefined correlation (no pair, zero variance) is NaN, never a made-up 0.
    let c = |d| correlation(img, shape, d).unwrap_or(f64::NAN);
    [
        entropy(img),
        local_entropy(img, shape, seed),
        c(Direction::Horizontal),
        c(Direction::Vertical),
        c(Direction::Diagonal),
        chi2(img),
    ]
}

/// The master secret with its lowest bit flipped (key-sensitivity analysis).
pub fn flip_one_bit(secret: &MasterSecret) -> MasterSecret {
    let mut bytes = *secret.expose_bytes();
    bytes[0] ^= 1;
    MasterSecret::from_bytes(bytes)
}

/// Encrypts `plain` with `spec` in `mode` under `secret` and measures every metric.
///
/// # Shapes
/// `plain`: `N` images of the shape the scheme is built for (`N ≥ 1`).
///
/// # Errors
/// [`Error::NotEnoughImages`] for an empty batch; cipher errors (bad parameters for the shape,
/// no OS randomness for per-image nonces).
pub fn analyze(
    plain: &ImageBatch,
    spec: &SchemeSpec,
    mode: KeyMode,
    secret: &MasterSecret,
    opts: AnalyzeOptions,
) -> Result<Analysis> {
    analyze_with_kdf(plain, spec, mode, secret, KdfVersion::CURRENT, opts)
}

/// As [`analyze`], for a key of derivation version `kdf` (a key file's own, so the ciphertexts
/// analysed are the ones that key makes).
///
/// # Errors
/// As [`analyze`].
pub fn analyze_with_kdf(
    plain: &ImageBatch,
    spec: &SchemeSpec,
    mode: KeyMode,
    secret: &MasterSecret,
    kdf: KdfVersion,
    opts: AnalyzeOptions,
) -> Result<Analysis> {
    let shape = plain.shape();
    let n = plain.len();
    if n == 0 {
        return Err(Error::NotEnoughImages("no image to analyse".into()));
    }
    let cipher = BatchCipher::with_kdf(spec.clone(), shape, mode, secret, kdf)?;
    let other = BatchCipher::with_kdf(spec.clone(), shape, mode, &flip_one_bit(secret), kdf)?;
    let nonces = match mode {
        KeyMode::Fixed => None,
        KeyMode::PerImage => Some(Nonce::fresh(n)?),
    };
    let mut enc = plain.clone();
    cipher.encrypt_batch(&mut enc, nonces.as_deref(), &|_| ())?;

    let len = shape.len();
    let rows: Vec<([f64; PER], [f64; PER], f64, f64)> = plain
        .as_bytes()
        .par_chunks_exact(len)
        .zip(enc.as_bytes().par_chunks_exact(len))
        .enumerate()
        .map(|(i, (p, c))| {
            (
                per_image(p, shape, i as u64),
                per_image(c, shape, i as u64),
                psnr(p, c),
                ssim(p, c, shape),
            )
        })
        .collect();

    let m = opts.sensitivity_images.min(n);
    let sens: Vec<[f64; 4]> = (0..m)
        .into_par_iter()
        .map(|i| -> Result<[f64; 4]> {
            let p = plain.image(i).expect("i < m ≤ n images");
            let nonce = nonces.as_ref().and_then(|v| v.get(i));
            let (a, b) = (cipher.cipher_for(nonce)?, other.cipher_for(nonce)?);
            let mut c1 = p.to_vec();
            a.get().encrypt(&mut c1)?;
            let mut c2 = p.to_vec();
            b.get().encrypt(&mut c2)?;
            let mut p2 = p.to_vec();
            let k = entropy::SplitMix(i as u64 ^ 0xD1FF).below(p2.len());
            if let Some(v) = p2.get_mut(k) {
                *v ^= 1;
            }
            a.get().encrypt(&mut p2)?;
            Ok([
                npcr(&c1, &c2),
                uaci(&c1, &c2),
                npcr(&c1, &p2),
                uaci(&c1, &p2),
            ])
        })
        .collect::<Result<_>>()?;

    let col = |side: usize, k: usize| {
        Stat::of(rows.iter().map(|r| if side == 0 { r.0[k] } else { r.1[k] }))
    };
    let pc = |k: usize| PlainCipher {
        plain: col(0, k),
        encrypted: col(1, k),
    };
    Ok(Analysis {
        scheme: spec.name(),
        mode: mode.to_string(),
        shape: shape.to_string(),
        images: n,
        key_space: key_space(spec, shape),
        entropy: pc(0),
        local_entropy: pc(1),
        correlation_horizontal: pc(2),
        correlation_vertical: pc(3),
        correlation_diagonal: pc(4),
        chi2: pc(5),
        npcr_key: Stat::of(sens.iter().map(|s| s[0])),
        uaci_key: Stat::of(sens.iter().map(|s| s[1])),
        npcr_plaintext: Stat::of(sens.iter().map(|s| s[2])),
        uaci_plaintext: Stat::of(sens.iter().map(|s| s[3])),
        sensitivity_images: m,
        psnr_db: Stat::of(rows.iter().map(|r| r.2)),
        ssim: Stat::of(rows.iter().map(|r| r.3)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_mean_std() {
        let s = Stat::of([1.0, 3.0, f64::NAN]);
        assert_eq!((s.mean, s.std, s.count), (2.0, 1.0, 2));
        assert_eq!(Stat::of([]).count, 0);
        assert_eq!(format!("{s:.1}"), "2.0 ± 1.0");
    }
}
