//! The scheme tour of `pixveil demo`: every scheme and key mode on each dataset of the built-in
//! sample, with no download. For each: encrypt, decrypt, check the round trip, measure how much
//! of the image's structure survives (adjacent-pixel correlation) and what two attacks recover;
//! and one labelled PNG grid per dataset (first row plain, then one row per scheme, fixed key).
//!
//! The CLI only prints the rows [`run`] returns.

use std::path::{Path, PathBuf};
use std::time::Instant;

use pixveil_cipher::{BatchCipher, KeyFile, KeyMode, Nonce, SchemeSpec};
use pixveil_image::{dataset::DatasetKind, grid, sample, ImageBatch, Shape};

use crate::attacks::{kpa, stat, EncryptionOracle};
use crate::metrics::{correlation, Direction};
use crate::Result;

/// The datasets of the tour, in order: one grid `<dataset>.png` each.
pub const DATASETS: [DatasetKind; 4] = [
    DatasetKind::Mnist,
    DatasetKind::FashionMnist,
    DatasetKind::Kmnist,
    DatasetKind::Cifar10,
];
/// Images per grid row.
pub const GRID_PER_ROW: usize = 8;
/// Upscaling factor of the grid images (nearest neighbour): 28-pixel images become 84 pixels.
pub const GRID_SCALE: u32 = 3;
/// Held-out images of the known-plaintext attack of each row.
pub const KPA_HELD_OUT: usize = 32;

/// One row of the tour: a dataset under one scheme and key mode (or plain).
#[derive(Clone, Debug, PartialEq)]
pub struct SchemeRow {
    /// Dataset name (`mnist`, `fashion-mnist`, …).
    pub dataset: String,
    /// Scheme name, or `plain` for the unencrypted images.
    pub scheme: String,
    /// Key mode (`Fixed` for the plain row).
    pub mode: KeyMode,
    /// Images encrypted.
    pub images: usize,
    /// Encryption throughput in MB/s (10⁶ bytes per second) of the timed pass; `None` for plain.
    pub mb_s: Option<f64>,
    /// Fraction (0..=1) of values the encryption changed.
    pub changed: f64,
    /// Pearson correlation of horizontally adjacent values over the whole batch; `None` when
    /// undefined (zero variance).
    pub corr: Option<f64>,
    /// Whether decryption gave the plain images back exactly.
    pub round_trip: bool,
    /// Fraction of held-out values a known-plaintext attacker recovers from one pair; `None`
    /// for plain.
    pub kpa: Option<f64>,
    /// Fraction the ciphertext-only statistical attacker recovers; `None` for plain.
    pub stat: Option<f64>,
}

/// What [`run`] produced.
#[derive(Clone, Debug)]
pub struct Tour {
    /// The rows: per dataset, plain first, then each scheme of [`SchemeSpec::NAMES`] with a
    /// fixed then a per-image key.
    pub rows: Vec<SchemeRow>,
    /// The grids written, one per dataset of [`DATASETS`], in order.
    pub grids: Vec<PathBuf>,
}

/// The number of encrypted rows [`run`] reports progress for.
pub fn steps() -> usize {
    DATASETS.len() * SchemeSpec::NAMES.len() * 2
}

/// The label of a grid row: `plain`, or the scheme and its key mode (`pe (fixed key)`).
pub fn grid_label(scheme: &str, mode: Option<KeyMode>) -> String {
    match mode {
        None => scheme.to_owned(),
        Some(m) => format!("{scheme} ({m} key)"),
    }
}

/// Runs the tour and writes one grid per dataset, `out/<dataset>.png` ([`grid::save_grid`],
/// [`GRID_PER_ROW`] images per row upscaled [`GRID_SCALE`]×, each row labelled with
/// [`grid_label`]). Keys are fresh (OS CSPRNG) and never written. `on_step` is called after
/// each encrypted row ([`steps`] times in all).
///
/// # Errors
/// A key, cipher or attack error; an image error if a grid cannot be written (the folder `out`
/// must exist).
pub fn run(out: &Path, on_step: &dyn Fn()) -> Result<Tour> {
    let mut rows = Vec::new();
    let mut grids = Vec::new();
    for kind in DATASETS {
        let plain = sample::load(kind)?.images;
        let shape = plain.shape();
        rows.push(SchemeRow {
            dataset: kind.to_string(),
            scheme: "plain".into(),
            mode: KeyMode::Fixed,
            images: plain.len(),
            mb_s: None,
            changed: 0.0,
            corr: horizontal_correlation(&plain)?,
            round_trip: true,
            kpa: None,
            stat: None,
        });
        let mut grid_rows: Vec<(String, ImageBatch)> =
            vec![(grid_label("plain", None), plain.clone())];
        for name in SchemeSpec::NAMES {
            let spec = SchemeSpec::from_name(name, None)?;
            for mode in [KeyMode::Fixed, KeyMode::PerImage] {
                let key = KeyFile::generate(spec.clone(), shape, mode)?;
                let cipher = key.batch_cipher()?;
                let nonces = Nonce::fresh(plain.len())?;
                let nonce_arg = (mode == KeyMode::PerImage).then_some(nonces.as_slice());
                // One untimed pass first: the first batch would otherwise also time the start of
                // the thread pool and first touches of the cipher's tables.
                cipher.encrypt_batch(&mut plain.clone(), nonce_arg, &|_| {})?;
                let mut enc = plain.clone();
                let start = Instant::now();
                cipher.encrypt_batch(&mut enc, nonce_arg, &|_| {})?;
                let secs = start.elapsed().as_secs_f64();
                let mut dec = enc.clone();
                cipher.decrypt_batch(&mut dec, nonce_arg, &|_| {})?;
                let changed = plain
                    .as_bytes()
                    .iter()
                    .zip(enc.as_bytes())
                    .filter(|(p, c)| p != c)
                    .count() as f64
                    / plain.as_bytes().len() as f64;
                let oracle = EncryptionOracle::new(&cipher);
                rows.push(SchemeRow {
                    dataset: kind.to_string(),
                    scheme: spec.name(),
                    mode,
                    images: plain.len(),
                    mb_s: Some(plain.as_bytes().len() as f64 / 1e6 / secs.max(1e-9)),
                    changed,
                    corr: horizontal_correlation(&enc)?,
                    round_trip: dec == plain,
                    kpa: Some(kpa::run(&oracle, &plain, 1, Some(KPA_HELD_OUT))?.recovered_fraction),
                    stat: Some(stat_attack(&cipher, &plain)?),
                });
                if mode == KeyMode::Fixed {
                    grid_rows.push((grid_label(&spec.name(), Some(mode)), enc));
                }
                on_step();
            }
        }
        let path = out.join(format!("{kind}.png"));
        let refs: Vec<(&str, &ImageBatch)> =
            grid_rows.iter().map(|(n, b)| (n.as_str(), b)).collect();
        grid::save_grid(&refs, GRID_PER_ROW, GRID_SCALE, &path)?;
        grids.push(path);
    }
    Ok(Tour { rows, grids })
}

/// The statistical ciphertext-only attack on the sample: public statistics from the first half
/// of the images, the victim's ciphertexts of the second half. Fraction recovered exactly.
fn stat_attack(cipher: &BatchCipher, plain: &ImageBatch) -> Result<f64> {
    let half = plain.len() / 2;
    let mut public = plain.clone();
    public.truncate(half);
    let victims = ImageBatch::new(
        plain.shape(),
        plain.as_bytes()[half * plain.shape().len()..].to_vec(),
    )?;
    Ok(stat::run(&EncryptionOracle::new(cipher), &victims, &public, None)?.recovered_fraction)
}

/// Pearson correlation of horizontally adjacent values (same channel) over the whole batch:
/// the images stacked into one tall image (horizontal pairs never cross image rows), so
/// [`correlation`] pools every pair. `None` when undefined.
///
/// # Errors
/// An image error if the stacked image would be taller than a [`Shape`] allows.
fn horizontal_correlation(batch: &ImageBatch) -> Result<Option<f64>> {
    let s = batch.shape();
    let side = |v: usize| {
        u32::try_from(v).map_err(|_| {
            crate::Error::InvalidParameter(format!("{} images of {s} stacked", batch.len()))
        })
    };
    let tall = Shape::new(
        side(batch.len() * s.height())?,
        side(s.width())?,
        side(s.channels())?,
    )?;
    Ok(correlation(batch.as_bytes(), tall, Direction::Horizontal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_scheme_and_mode() {
        assert_eq!(grid_label("plain", None), "plain");
        assert_eq!(grid_label("pe", Some(KeyMode::Fixed)), "pe (fixed key)");
        assert_eq!(
            grid_label("le", Some(KeyMode::PerImage)),
            "le (per-image key)"
        );
        assert_eq!(steps(), 4 * SchemeSpec::NAMES.len() * 2);
    }
}
