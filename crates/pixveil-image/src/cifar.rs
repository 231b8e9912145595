//! CIFAR-10 binary batches (`data_batch_N.bin`, `test_batch.bin`), raw or gzip-compressed.
//!
//! # Layout
//!
//! A batch is a sequence of [`RECORD_LEN`] = 3073-byte records: one label byte (`0..=9`), then
//! the 32×32 red plane, the green plane and the blue plane (1024 bytes each, row-major), i.e.
//! `CHW`. pixveil works in `HWC`, so readers interleave the planes and writers split them again.
//!
//! The decoded length must be a positive multiple of 3073; a label above 9 is an error naming the
//! file and the record. Gzip is detected by its magic bytes, not by the name.

use std::path::Path;

use crate::{
    fsio::{self, MAX_DECODED_BYTES},
    Error, ImageBatch, Result, Shape,
};

/// Side of a CIFAR-10 image in pixels.
pub const SIDE: usize = 32;
/// Pixels per image plane (`32·32`).
const PLANE: usize = SIDE * SIDE;
/// Bytes per record: 1 label + 3 planes of 1024 bytes.
pub const RECORD_LEN: usize = 1 + 3 * PLANE;
/// Number of classes; labels are `0..NUM_CLASSES`.
pub const NUM_CLASSES: u8 = 10;

/// The shape of every CIFAR-10 image, `32×32×3`.
pub const fn shape() -> Shape {
    Shape::CIFAR10
}

/// Reads a CIFAR-10 binary batch (raw or gzip) into images and labels.
///
/// # Shapes
/// Returns `N` images of shape `32×32×3` (`HWC`) and `N` labels in `0..=9`.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Decoding`] if the length is not a positive
/// multiple of 3073 or a label exceeds 9; [`Error::Limits`] above
/// [`MAX_DECODED_BYTES`].
pub fn read_batch(path: &Path) -> Result<(ImageBatch, Vec<u8>)> {
    let loaded = fsio::load_file(path, MAX_DECODED_BYTES)?;
    parse_batch(&loaded.bytes, path)
}

/// Decodes a CIFAR-10 batch held in memory (raw or gzip); `name` only labels errors.
///
/// # Errors
/// As [`read_batch`].
pub fn decode_batch(data: &[u8], name: &Path) -> Result<(ImageBatch, Vec<u8>)> {
    let loaded = fsio::load_bytes(data, name, MAX_DECODED_BYTES)?;
    parse_batch(&loaded.bytes, name)
}

/// Encodes images and labels as an uncompressed CIFAR-10 batch.
///
/// # Shapes
/// `images`: `N × 32 × 32 × 3`; `labels`: `N` values in `0..=9`.
///
/// # Errors
/// [`Error::Parameter`] for another shape, a count mismatch or a label above 9.
pub fn encode_batch(images: &ImageBatch, labels: &[u8]) -> Result<Vec<u8>> {
    if images.shape() != shape() {
        return Err(Error::Parameter(format!(
            "CIFAR-10 images are 32x32x3, got {}",
            images.shape()
        )));
    }
    if labels.len() != images.len() {
        return Err(Error::Parameter(format!(
            "{} images but {} labels",
            images.len(),
            labels.len()
        )));
    }
    if let Some((i, l)) = labels.iter().enumerate().find(|(_, l)| **l >= NUM_CLASSES) {
        return Err(Error::Parameter(format!(
            "label {l} of image {i} is not a CIFAR-10 class (0-9)"
        )));
    }
    let mut out = vec![0u8; images.len() * RECORD_LEN];
    for ((rec, img), label) in out
        .chunks_exact_mut(RECORD_LEN)
        .zip(images.images())
        .zip(labels)
    {
        let (head, planes) = rec.split_at_mut(1);
        if let Some(h) = head.first_mut() {
            *h = *label;
        }
        hwc_to_chw(img, planes);
    }
    Ok(out)
}

/// Writes a CIFAR-10 batch, gzip-compressed iff `gzip` (deterministic: mtime 0, no name). The
/// write is atomic: a temporary file beside `path`, then a rename.
///
/// # Errors
/// As [`encode_batch`]; [`Error::Io`] naming `path` if it cannot be written.
pub fn write_batch(path: &Path, images: &ImageBatch, labels: &[u8], gzip: bool) -> Result<()> {
    let bytes = fsio::maybe_gzip(encode_batch(images, labels)?, gzip, path)?;
    fsio::write_atomic(path, &bytes)
}

/// Parses decoded (decompressed) batch content.
pub(crate) fn parse_batch(bytes: &[u8], path: &Path) -> Result<(ImageBatch, Vec<u8>)> {
    let decoding = |reason: String| Error::Decoding {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.is_empty() {
        return Err(decoding("empty file".into()));
    }
    if !bytes.len().is_multiple_of(RECORD_LEN) {
        return Err(decoding(format!(
            "{} bytes is not a whole number of {RECORD_LEN}-byte CIFAR-10 records \
             (truncated or trailing bytes)",
            bytes.len()
        )));
    }
    let n = bytes.len() / RECORD_LEN;
    let mut labels = Vec::new();
    let mut data = vec![0u8; n * 3 * PLANE];
    for (i, (rec, img)) in bytes
        .chunks_exact(RECORD_LEN)
        .zip(data.chunks_exact_mut(3 * PLANE))
        .enumerate()
    {
        let (label, planes) = (rec[0], &rec[1..]);
        if label >= NUM_CLASSES {
            return Err(decoding(format!(
                "record {i}: label {label} is not a CIFAR-10 class (0-9)"
            )));
        }
        labels.push(label);
        chw_to_hwc(planes, img);
    }
    Ok((ImageBatch::new(shape(), data)?, labels))
}

/// Whether decoded content plausibly is a CIFAR-10 batch: a positive multiple of 3073 bytes
/// whose label bytes are all `0..=9`.
pub(crate) fn looks_like_batch(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes.len().is_multiple_of(RECORD_LEN)
        && bytes
            .chunks_exact(RECORD_LEN)
            .all(|r| r.first().is_some_and(|l| *l < NUM_CLASSES))
}

/// `planes` (3·1024, `CHW`) → `img` (1024·3, `HWC`).
fn chw_to_hwc(planes: &[u8], img: &mut [u8]) {
    for (p, px) in img.chunks_exact_mut(3).enumerate() {
        for (c, v) in px.iter_mut().enumerate() {
            *v = planes[c * PLANE + p];
        }
    }
}

/// `img` (`HWC`) → `planes` (`CHW`).
fn hwc_to_chw(img: &[u8], planes: &mut [u8]) {
    for (p, px) in img.chunks_exact(3).enumerate() {
        for (c, v) in px.iter().enumerate() {
            if let Some(dst) = planes.get_mut(c * PLANE + p) {
                *dst = *v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p() -> &'static Path {
        Path::new("test_batch.bin")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn round_trip(n in 1usize..4, seed: u64, gz: bool) {
            let mut x = seed | 1;
            let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x as u8 };
            let data: Vec<u8> = (0..n * 3072).map(|_| next()).collect();
            let labels: Vec<u8> = (0..n).map(|_| next() % 10).collect();
            let batch = ImageBatch::new(shape(), data).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("b.bin");
            write_batch(&path, &batch, &labels, gz).unwrap();
            prop_assert_eq!(std::fs::read(&path).unwrap().starts_with(&[0x1f, 0x8b]), gz);
            let (b2, l2) = read_batch(&path).unwrap();
            prop_assert_eq!(b2, batch);
            prop_assert_eq!(l2, labels);
        }
    }

    #[test]
    fn planes_become_interleaved() {
        let mut rec = vec![4u8];
        rec.extend(std::iter::repeat_n(10, 1024));
        rec.extend(std::iter::repeat_n(20, 1024));
        rec.extend(std::iter::repeat_n(30, 1024));
        rec[1 + 5] = 11; // red of pixel 5
        rec[1 + 2048 + 5] = 33; // blue of pixel 5
        let (b, l) = parse_batch(&rec, p()).unwrap();
        assert_eq!(l, vec![4]);
        let img = b.image(0).unwrap();
        assert_eq!(&img[..3], &[10, 20, 30]);
        assert_eq!(&img[15..18], &[11, 20, 33]);
        assert_eq!(encode_batch(&b, &l).unwrap(), rec);
    }

    #[test]
    fn bad_lengths_and_labels() {
        let e = parse_batch(&[], p()).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        let e = parse_batch(&[0; RECORD_LEN - 1], p()).unwrap_err();
        assert!(e.to_string().contains("test_batch.bin"), "{e}");
        assert!(e.to_string().contains("3073"), "{e}");
        let e = parse_batch(&[0; RECORD_LEN + 1], p()).unwrap_err();
        assert!(matches!(e, Error::Decoding { .. }));
        let mut two = vec![0; 2 * RECORD_LEN];
        two[RECORD_LEN] = 10;
        let e = parse_batch(&two, p()).unwrap_err();
        assert!(e.to_string().contains("record 1: label 10"), "{e}");
        assert!(!looks_like_batch(&two));
        two[RECORD_LEN] = 9;
        assert!(looks_like_batch(&two));
        let b = ImageBatch::zeros(shape(), 1);
        assert!(matches!(encode_batch(&b, &[10]), Err(Error::Parameter(_))));
        assert!(matches!(
            encode_batch(&b, &[1, 2]),
            Err(Error::Parameter(_))
        ));
        let grey = ImageBatch::zeros(Shape::new(32, 32, 1).unwrap(), 1);
        assert!(matches!(
            encode_batch(&grey, &[1]),
            Err(Error::Parameter(_))
        ));
    }

    #[test]
    fn gzip_bomb_and_unreadable() {
        let gz = fsio::gzip(&vec![0u8; 400 * RECORD_LEN], p()).unwrap();
        let e = fsio::load_bytes(&gz, p(), 1 << 20).unwrap_err();
        assert!(matches!(e, Error::Limits { .. }), "{e}");
        assert_eq!(decode_batch(&gz, p()).unwrap().0.len(), 400);
        let e = read_batch(Path::new("/nonexistent/test_batch.bin")).unwrap_err();
        assert!(matches!(e, Error::Io { .. }));
    }
}
