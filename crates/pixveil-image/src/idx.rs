//! IDX files, the format of MNIST, Fashion-MNIST and KMNIST, raw or gzip-compressed.
//!
//! # Layout
//!
//! All integers are big-endian `u32`.
//!
//! | file | header | payload |
//! |---|---|---|
//! | images (`*-idx3-ubyte`) | magic `0x00000803`, count `N`, rows `H`, cols `W` | `N·H·W` bytes, row-major |
//! | labels (`*-idx1-ubyte`) | magic `0x00000801`, count `N` | `N` bytes |
//!
//! Readers detect gzip by its magic bytes (`1f 8b`), not by the file name. They check the magic,
//! that `H` and `W` are in `1..=`[`MAX_SIDE`], and that the payload is
//! exactly `N·H·W` (or `N`) bytes long: truncated files and trailing bytes are both errors that
//! name the file. No buffer is ever sized from a header field. IDX labels may be any byte
//! `0..=255`; the dataset loaders ([`crate::dataset`]) further require labels below 10.
//!
//! Images in IDX are grey: a batch read from IDX has shape `H×W×1`, and only `C = 1` batches can
//! be written.

use std::path::Path;

use crate::{
    fsio::{self, MAX_DECODED_BYTES},
    shape::MAX_SIDE,
    Error, ImageBatch, Result, Shape,
};

/// Magic number of an IDX image file (unsigned bytes, 3 dimensions).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX label file (unsigned bytes, 1 dimension).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Reads an IDX image file (raw or gzip).
///
/// # Shapes
/// Returns `N` images of shape `rows × cols × 1`.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Decoding`] for a wrong magic or a payload
/// that is not exactly `N·rows·cols` bytes; [`Error::Limits`] for sides over
/// [`MAX_SIDE`] or more than [`MAX_DECODED_BYTES`] of content.
pub fn read_images(path: &Path) -> Result<ImageBatch> {
    let loaded = fsio::load_file(path, MAX_DECODED_BYTES)?;
    parse_images(&loaded.bytes, path)
}

/// Reads an IDX label file (raw or gzip): one byte per label, any value `0..=255`.
///
/// # Errors
/// As [`read_images`].
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    let loaded = fsio::load_file(path, MAX_DECODED_BYTES)?;
    parse_labels(&loaded.bytes, path)
}

/// Decodes IDX image bytes held in memory (raw or gzip); `name` only labels errors.
///
/// # Errors
/// As [`read_images`].
pub fn decode_images(data: &[u8], name: &Path) -> Result<ImageBatch> {
    let loaded = fsio::load_bytes(data, name, MAX_DECODED_BYTES)?;
    parse_images(&loaded.bytes, name)
}

/// Decodes IDX label bytes held in memory (raw or gzip); `name` only labels errors.
///
/// # Errors
/// As [`read_labels`].
pub fn decode_labels(data: &[u8], name: &Path) -> Result<Vec<u8>> {
    let loaded = fsio::load_bytes(data, name, MAX_DECODED_BYTES)?;
    parse_labels(&loaded.bytes, name)
}

/// Encodes grey images as an uncompressed IDX image file.
///
/// # Shapes
/// `images`: `N × H × W × 1`.
///
/// # Errors
/// [`Error::Parameter`] if the images have 3 channels or `N` does not fit in a `u32`.
pub fn encode_images(images: &ImageBatch) -> Result<Vec<u8>> {
    let shape = images.shape();
    if shape.channels() != 1 {
        return Err(Error::Parameter(format!(
            "IDX stores grey images only, got shape {shape}"
        )));
    }
    let n = count_u32(images.len())?;
    let mut out = Vec::with_capacity(16 + images.as_bytes().len());
    for v in [
        IMAGES_MAGIC,
        n,
        side_u32(shape.height()),
        side_u32(shape.width()),
    ] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(images.as_bytes());
    Ok(out)
}

/// Encodes labels as an uncompressed IDX label file.
///
/// # Errors
/// [`Error::Parameter`] if there are more than `u32::MAX` labels.
pub fn encode_labels(labels: &[u8]) -> Result<Vec<u8>> {
    let n = count_u32(labels.len())?;
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(labels);
    Ok(out)
}

/// Writes grey images to an IDX image file, gzip-compressed iff `gzip` (deterministic gzip:
/// mtime 0, no name). The write is atomic: a temporary file beside `path`, then a rename.
///
/// # Errors
/// As [`encode_images`]; [`Error::Io`] naming `path` if it cannot be written.
pub fn write_images(path: &Path, images: &ImageBatch, gzip: bool) -> Result<()> {
    let bytes = fsio::maybe_gzip(encode_images(images)?, gzip, path)?;
    fsio::write_atomic(path, &bytes)
}

/// Writes labels to an IDX label file, gzip-compressed iff `gzip`; atomic as [`write_images`].
///
/// # Errors
/// As [`encode_labels`]; [`Error::Io`] naming `path` if it cannot be written.
pub fn write_labels(path: &Path, labels: &[u8], gzip: bool) -> Result<()> {
    let bytes = fsio::maybe_gzip(encode_labels(labels)?, gzip, path)?;
    fsio::write_atomic(path, &bytes)
}

/// The magic number of decoded IDX content, if it has at least 4 bytes.
pub(crate) fn magic(bytes: &[u8]) -> Option<u32> {
    be_u32(bytes, 0)
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(b.try_into().expect("a 4-byte slice")))
}

fn decoding(path: &Path, reason: String) -> Error {
    Error::Decoding {
        path: path.to_path_buf(),
        reason,
    }
}

fn header(bytes: &[u8], path: &Path, words: usize, want_magic: u32) -> Result<Vec<u32>> {
    if bytes.is_empty() {
        return Err(decoding(path, "empty file".into()));
    }
    let fields: Option<Vec<u32>> = (0..words).map(|i| be_u32(bytes, 4 * i)).collect();
    let Some(fields) = fields else {
        return Err(decoding(
            path,
            format!(
                "truncated IDX header: {} bytes, need {}",
                bytes.len(),
                4 * words
            ),
        ));
    };
    // `words ≥ 1` fields were read (every caller asks for the magic and more).
    let got = fields[0];
    if got != want_magic {
        let hint = match got {
            IMAGES_MAGIC => " (this is an IDX image file)",
            LABELS_MAGIC => " (this is an IDX label file)",
            _ => "",
        };
        return Err(decoding(
            path,
            format!("bad IDX magic {got:#010x}, expected {want_magic:#010x}{hint}"),
        ));
    }
    Ok(fields)
}

fn check_payload(path: &Path, payload: usize, declared: u64, what: &str) -> Result<()> {
    if payload as u64 != declared {
        let kind = if (payload as u64) < declared {
            "truncated"
        } else {
            "trailing bytes"
        };
        return Err(decoding(
            path,
            format!("{kind}: header declares {declared} bytes of {what}, file holds {payload}"),
        ));
    }
    Ok(())
}

/// Parses decoded (decompressed) IDX image content.
pub(crate) fn parse_images(bytes: &[u8], path: &Path) -> Result<ImageBatch> {
    let h = header(bytes, path, 4, IMAGES_MAGIC)?;
    let (n, rows, cols) = match h.as_slice() {
        [_, n, r, c] => (*n, *r, *c),
        _ => return Err(decoding(path, "truncated IDX header".into())),
    };
    if rows == 0 || cols == 0 || rows > MAX_SIDE || cols > MAX_SIDE {
        return Err(Error::Limits {
            path: path.to_path_buf(),
            reason: format!("image size {rows}x{cols} outside 1..={MAX_SIDE}"),
        });
    }
    let shape = Shape::new(rows, cols, 1)?;
    // `header` read 16 bytes, so the payload starts inside `bytes`.
    let payload = &bytes[16..];
    // u32·u32·u32 < 2^96 would overflow u64 only for absurd headers: saturate, then compare.
    let declared = u64::from(n)
        .saturating_mul(u64::from(rows))
        .saturating_mul(u64::from(cols));
    check_payload(path, payload.len(), declared, "pixels")?;
    ImageBatch::new(shape, payload.to_vec())
}

/// Parses decoded (decompressed) IDX label content.
pub(crate) fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    let h = header(bytes, path, 2, LABELS_MAGIC)?;
    // `header` read 2 words (8 bytes): the count is there and the payload starts inside `bytes`.
    let n = h[1];
    let payload = &bytes[8..];
    check_payload(path, payload.len(), u64::from(n), "labels")?;
    Ok(payload.to_vec())
}

fn count_u32(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Parameter(format!("{n} records do not fit in IDX")))
}

fn side_u32(s: usize) -> u32 {
    u32::try_from(s).expect("a valid Shape's sides are ≤ MAX_SIDE < u32::MAX")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header_bytes(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    fn p() -> &'static Path {
        Path::new("t10k-images-idx3-ubyte")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn images_round_trip(h in 1u32..8, w in 1u32..8, n in 0usize..6, gz: bool, seed: u8) {
            let shape = Shape::new(h, w, 1).unwrap();
            let data: Vec<u8> = (0..n * shape.len()).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
            let batch = ImageBatch::new(shape, data).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("imgs");
            write_images(&path, &batch, gz).unwrap();
            let raw = std::fs::read(&path).unwrap();
            prop_assert_eq!(raw.starts_with(&[0x1f, 0x8b]), gz);
            let back = read_images(&path).unwrap();
            prop_assert_eq!(back, batch);
        }

        #[test]
        fn labels_round_trip(labels in proptest::collection::vec(any::<u8>(), 0..50), gz: bool) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("labels");
            write_labels(&path, &labels, gz).unwrap();
            prop_assert_eq!(read_labels(&path).unwrap(), labels);
        }
    }

    #[test]
    fn layout_is_big_endian() {
        let batch = ImageBatch::new(Shape::new(2, 3, 1).unwrap(), (0..12).collect()).unwrap();
        let bytes = encode_images(&batch).unwrap();
        assert_eq!(&bytes[..16], &header_bytes(&[0x803, 2, 2, 3])[..]);
        assert_eq!(&bytes[16..], &(0..12).collect::<Vec<u8>>()[..]);
        let rgb = ImageBatch::zeros(Shape::new(2, 2, 3).unwrap(), 1);
        assert!(matches!(encode_images(&rgb), Err(Error::Parameter(_))));
    }

    #[test]
    fn truncated_and_trailing() {
        let mut bytes = header_bytes(&[IMAGES_MAGIC, 2, 2, 2]);
        bytes.extend([1; 7]);
        let e = parse_images(&bytes, p()).unwrap_err();
        assert!(matches!(e, Error::Decoding { .. }));
        assert!(e.to_string().contains("truncated"), "{e}");
        assert!(e.to_string().contains("t10k-images-idx3-ubyte"), "{e}");
        bytes.extend([1; 2]);
        let e = parse_images(&bytes, p()).unwrap_err();
        assert!(e.to_string().contains("trailing"), "{e}");
        bytes.pop();
        assert_eq!(parse_images(&bytes, p()).unwrap().len(), 2);
        // Truncated header.
        let e = parse_images(&bytes[..10], p()).unwrap_err();
        assert!(e.to_string().contains("header"), "{e}");
        // Labels.
        let mut lab = header_bytes(&[LABELS_MAGIC, 3]);
        lab.extend([1, 2]);
        assert!(parse_labels(&lab, p()).is_err());
        lab.extend([3, 4]);
        assert!(parse_labels(&lab, p()).is_err());
        lab.pop();
        assert_eq!(parse_labels(&lab, p()).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn wrong_magic_and_empty() {
        let e = parse_images(&header_bytes(&[0x0000_0802, 0, 1, 1]), p()).unwrap_err();
        assert!(e.to_string().contains("bad IDX magic"), "{e}");
        let e = parse_images(&header_bytes(&[LABELS_MAGIC, 0, 1, 1]), p()).unwrap_err();
        assert!(e.to_string().contains("label file"), "{e}");
        let e = parse_labels(&header_bytes(&[IMAGES_MAGIC, 0]), p()).unwrap_err();
        assert!(e.to_string().contains("image file"), "{e}");
        let e = parse_images(&[], p()).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("empty.gz");
        std::fs::write(&f, []).unwrap();
        assert!(read_labels(&f).unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn huge_header_fails_fast_without_allocating() {
        // 4 billion 16384×16384 images declared, 3 bytes present: the comparison against the
        // real length fails before any buffer is sized.
        let mut bytes = header_bytes(&[IMAGES_MAGIC, u32::MAX, MAX_SIDE, MAX_SIDE]);
        bytes.extend([0; 3]);
        let e = parse_images(&bytes, p()).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = parse_labels(&header_bytes(&[LABELS_MAGIC, u32::MAX]), p()).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        // Sides over the limit, and zero sides.
        let e = parse_images(&header_bytes(&[IMAGES_MAGIC, 1, MAX_SIDE + 1, 1]), p()).unwrap_err();
        assert!(matches!(e, Error::Limits { .. }), "{e}");
        let e = parse_images(&header_bytes(&[IMAGES_MAGIC, 1, 0, 1]), p()).unwrap_err();
        assert!(matches!(e, Error::Limits { .. }), "{e}");
    }

    #[test]
    fn gzip_bomb_is_refused() {
        let mut raw = header_bytes(&[IMAGES_MAGIC, 8192, 28, 28]);
        raw.resize(16 + 8192 * 784, 0);
        let gz = fsio::gzip(&raw, p()).unwrap();
        let e = fsio::load_bytes(&gz, p(), 1 << 20).unwrap_err();
        assert!(matches!(e, Error::Limits { .. }), "{e}");
        // Under the default limit it decodes.
        assert_eq!(decode_images(&gz, p()).unwrap().len(), 8192);
    }

    #[test]
    fn unreadable_path() {
        let e = read_images(Path::new("/nonexistent/pixveil/imgs")).unwrap_err();
        assert!(matches!(e, Error::Io { .. }));
        assert!(e.to_string().contains("/nonexistent/pixveil/imgs"));
    }
}
