//! One entry point for "whatever the user passed": [`read_input`] detects the format, and
//! [`write_output`] writes a processed batch back in the same format.
//!
//! # Detection (in this order)
//!
//! 1. A directory → [`InputFormat::Folder`] (see [`crate::files`]).
//! 2. A file is read (gzip detected by its magic bytes and decompressed, bounded by
//!    [`MAX_DECODED_BYTES`](crate::MAX_DECODED_BYTES)), then:
//!    - IDX image magic `0x00000803` → [`InputFormat::Idx`];
//!    - IDX label magic `0x00000801` → refused: labels are not images;
//!    - a name ending in `.bin` (after any `.gz`) → [`InputFormat::Cifar10`], strictly checked;
//!    - PNG or JPEG signature (not gzip) → [`InputFormat::ImageFile`];
//!    - a positive multiple of 3073 bytes whose label bytes are all `0..=9` →
//!      [`InputFormat::Cifar10`];
//!    - anything else → [`Error::Unsupported`].
//!
//! # Output
//!
//! | input | output at `out` |
//! |---|---|
//! | IDX images | IDX images, gzip iff the input was gzip |
//! | CIFAR-10 batch | CIFAR-10 batch with the input's labels, gzip iff the input was gzip |
//! | PNG/JPEG file | PNG file (never JPEG: lossy compression would destroy a ciphertext) |
//! | folder | folder of PNG files with the input names, extension `.png` |
//!
//! Every write is atomic (temporary file or folder beside `out`, then a rename), so a failure
//! leaves no partial output. Writing over the input itself is refused.

use std::{
    fmt, fs,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{cifar, files, fsio, idx, Error, ImageBatch, Result, Shape};

/// The on-disk format of an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputFormat {
    /// An IDX image file (`*-idx3-ubyte`), grey.
    Idx,
    /// A CIFAR-10 binary batch (`*.bin`), `32×32×3` with labels.
    Cifar10,
    /// One PNG or JPEG file.
    ImageFile,
    /// A folder of PNG/JPEG files of one shape.
    Folder,
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Idx => "IDX images",
            Self::Cifar10 => "CIFAR-10 batch",
            Self::ImageFile => "image file",
            Self::Folder => "image folder",
        })
    }
}

/// Everything about an input except its pixels: what [`write_output`] needs to write a processed
/// batch back in the same format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputMeta {
    /// Where the input was read from.
    pub path: PathBuf,
    /// Its format.
    pub format: InputFormat,
    /// Whether the file was gzip-compressed (IDX and CIFAR-10 only; false otherwise).
    pub gzip: bool,
    /// Shape of its images.
    pub shape: Shape,
    /// Number of images.
    pub count: usize,
    /// Labels, one per image (CIFAR-10 only).
    pub labels: Option<Vec<u8>>,
    /// File names (without folder), one per image, for folder inputs.
    pub names: Option<Vec<String>>,
}

/// An input read by [`read_input`]: its images and what is needed to write them back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    /// Where the input was read from.
    pub path: PathBuf,
    /// Its format.
    pub format: InputFormat,
    /// Whether the file was gzip-compressed (IDX and CIFAR-10 only).
    pub gzip: bool,
    /// The images, `N × H × W × C`.
    pub images: ImageBatch,
    /// Labels, one per image (CIFAR-10 only).
    pub labels: Option<Vec<u8>>,
    /// File names (without folder), one per image, for folder inputs.
    pub names: Option<Vec<String>>,
}

impl Input {
    /// The metadata of this input (a copy; the images stay here).
    pub fn meta(&self) -> InputMeta {
        InputMeta {
            path: self.path.clone(),
            format: self.format,
            gzip: self.gzip,
            shape: self.images.shape(),
            count: self.images.len(),
            labels: self.labels.clone(),
            names: self.names.clone(),
        }
    }

    /// One display name per image, in order: `FOLDER/file.png` for folder inputs, the path
    /// for a single image file, `PATH#i` for the images of a dataset file.
    pub fn item_names(&self) -> Vec<String> {
        match (&self.names, self.format) {
            (Some(n), _) => n
                .iter()
                .map(|f| self.path.join(f).display().to_string())
                .collect(),
            (None, InputFormat::ImageFile) => vec![self.path.display().to_string()],
            (None, _) => (0..self.images.len())
                .map(|i| format!("{}#{i}", self.path.display()))
                .collect(),
        }
    }

    /// Splits into metadata and images, e.g. to transform the images in place.
    pub fn into_parts(self) -> (InputMeta, ImageBatch) {
        let meta = self.meta();
        (meta, self.images)
    }
}

/// Reads an input of any supported format; see the module docs for the detection rules.
///
/// # Shapes
/// `images` is `N × H × W × C` with `N ≥ 1`: IDX gives `C = 1`, CIFAR-10 `32×32×3`.
///
/// # Errors
/// [`Error::Io`] if `path` cannot be read; [`Error::Unsupported`] for an IDX label file, an
/// unrecognised file or an input with no image; the reader's errors otherwise.
pub fn read_input(path: &Path) -> Result<Input> {
    let meta = fs::metadata(path).map_err(fsio::io_err(path))?;
    if meta.is_dir() {
        let (images, names) = files::read_folder(path)?;
        return Ok(Input {
            path: path.to_path_buf(),
            format: InputFormat::Folder,
            gzip: false,
            images,
            labels: None,
            names: Some(names),
        });
    }
    let loaded = fsio::load_file(path, fsio::MAX_DECODED_BYTES)?;
    let bytes = &loaded.bytes;
    let mut input = Input {
        path: path.to_path_buf(),
        format: InputFormat::Idx,
        gzip: loaded.gzip,
        images: ImageBatch::zeros(Shape::MNIST, 0),
        labels: None,
        names: None,
    };
    match idx::magic(bytes) {
        Some(idx::IMAGES_MAGIC) => {
            input.images = idx::parse_images(bytes, path)?;
        }
        Some(idx::LABELS_MAGIC) => {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                reason: "this is an IDX label file (*-idx1-ubyte), not images; pass the \
                         matching *-idx3-ubyte image file"
                    .into(),
            })
        }
        _ if has_bin_name(path) => {
            let (images, labels) = cifar::parse_batch(bytes, path)?;
            input.format = InputFormat::Cifar10;
            input.images = images;
            input.labels = Some(labels);
        }
        _ if !loaded.gzip && is_png_or_jpeg(bytes) => {
            input.format = InputFormat::ImageFile;
            input.images = files::decode_image(bytes, path)?;
        }
        _ if cifar::looks_like_batch(bytes) => {
            let (images, labels) = cifar::parse_batch(bytes, path)?;
            input.format = InputFormat::Cifar10;
            input.images = images;
            input.labels = Some(labels);
        }
        _ => {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                reason: "not an IDX image file, a CIFAR-10 batch, a PNG/JPEG image or a folder \
                         of them"
                    .into(),
            })
        }
    }
    if input.images.is_empty() {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            reason: "input holds no image".into(),
        });
    }
    Ok(input)
}

/// Writes `images` to `out` in the format of the input described by `meta` (see the module
/// docs): gzip iff the input was gzip, CIFAR-10 labels kept, folder names kept with extension
/// `.png`, a single image as PNG.
///
/// # Shapes
/// `images`: `N × H × W × C` with `N = meta.count` for CIFAR-10 and folders (labels and names
/// are per image); IDX requires `C = 1`, CIFAR-10 `32×32×3`.
///
/// # Errors
/// [`Error::Parameter`] if `out` is the input itself, a single-image output is named `.jpg`/
/// `.jpeg`, the count or shape does not fit the format, or a folder output exists and is not
/// empty; [`Error::Io`] naming the path if it cannot be written. Nothing is left at `out` on
/// failure.
pub fn write_output(meta: &InputMeta, images: &ImageBatch, out: &Path) -> Result<()> {
    if same_file(&meta.path, out) {
        return Err(Error::Parameter(format!(
            "refusing to overwrite the input {} with the output",
            out.display()
        )));
    }
    match meta.format {
        InputFormat::Idx => idx::write_images(out, images, meta.gzip),
        InputFormat::Cifar10 => {
            // No labels (a hand-built meta) count as 0: refused just below unless no images.
            let labels = meta.labels.as_deref().unwrap_or_default();
            if labels.len() != images.len() {
                return Err(Error::Parameter(format!(
                    "the CIFAR-10 input had {} labelled images, got {} images to write",
                    labels.len(),
                    images.len()
                )));
            }
            cifar::write_batch(out, images, labels, meta.gzip)
        }
        InputFormat::ImageFile => {
            let jpeg_name = out
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg"));
            if jpeg_name {
                return Err(Error::Parameter(format!(
                    "{}: output is written as PNG (lossy JPEG would destroy the encrypted \
                     pixels); name it .png",
                    out.display()
                )));
            }
            let [img] = images.images().collect::<Vec<_>>()[..] else {
                return Err(Error::Parameter(format!(
                    "a single-image input expects 1 output image, got {}",
                    images.len()
                )));
            };
            files::write_png(out, img, images.shape())
        }
        InputFormat::Folder => {
            // No names (a hand-built meta) count as 0: `write_folder` refuses the mismatch.
            let names = meta.names.as_deref().unwrap_or_default();
            files::write_folder(out, images, names)
        }
    }
}

fn has_bin_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.ends_with(".bin")
}

fn is_png_or_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n") || bytes.starts_with(&[0xff, 0xd8, 0xff])
}

/// Whether `a` and `b` name the same existing file or folder.
fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    fn grey_batch(n: usize) -> ImageBatch {
        let s = Shape::new(3, 4, 1).unwrap();
        ImageBatch::new(s, (0..n * 12).map(|i| i as u8).collect()).unwrap()
    }

    fn invert(b: &ImageBatch) -> ImageBatch {
        let mut b = b.clone();
        b.as_bytes_mut().iter_mut().for_each(|v| *v = 255 - *v);
        b
    }

    #[test]
    fn idx_raw_and_gzip_round_trip() {
        let d = tmp();
        for gz in [false, true] {
            let src = d.path().join(format!("imgs-{gz}"));
            idx::write_images(&src, &grey_batch(3), gz).unwrap();
            let input = read_input(&src).unwrap();
            assert_eq!((input.format, input.gzip), (InputFormat::Idx, gz));
            assert_eq!(input.images, grey_batch(3));
            let enc = invert(&input.images);
            let out = d.path().join(format!("out-{gz}"));
            write_output(&input.meta(), &enc, &out).unwrap();
            let back = read_input(&out).unwrap();
            assert_eq!((back.format, back.gzip), (InputFormat::Idx, gz));
            assert_eq!(back.images, enc);
        }
    }

    #[test]
    fn cifar_detected_by_name_and_by_size() {
        let d = tmp();
        let b = ImageBatch::new(cifar::shape(), (0..2 * 3072).map(|i| i as u8).collect()).unwrap();
        for (name, gz) in [
            ("test_batch.bin.gz", true),
            ("data_batch_1.bin", false),
            ("blob", false),
        ] {
            let src = d.path().join(name);
            cifar::write_batch(&src, &b, &[3, 9], gz).unwrap();
            let input = read_input(&src).unwrap();
            assert_eq!(
                (input.format, input.gzip),
                (InputFormat::Cifar10, gz),
                "{name}"
            );
            assert_eq!(input.labels.as_deref(), Some(&[3, 9][..]));
            let out = d.path().join(format!("enc-{name}"));
            let (meta, imgs) = input.into_parts();
            write_output(&meta, &invert(&imgs), &out).unwrap();
            let back = read_input(&out).unwrap();
            assert_eq!(back.labels.as_deref(), Some(&[3, 9][..]));
            assert_eq!(back.images, invert(&b));
            assert_eq!(back.gzip, gz);
        }
        // A .bin name is checked strictly.
        let bad = d.path().join("bad.bin");
        fs::write(&bad, [0u8; 100]).unwrap();
        assert!(matches!(read_input(&bad), Err(Error::Decoding { .. })));
    }

    #[test]
    fn single_image_and_folder() {
        let d = tmp();
        let s = Shape::new(2, 3, 3).unwrap();
        let img: Vec<u8> = (0..18).collect();
        let src = d.path().join("photo.png");
        files::write_png(&src, &img, s).unwrap();
        let input = read_input(&src).unwrap();
        assert_eq!(input.format, InputFormat::ImageFile);
        let enc = invert(&input.images);
        let e = write_output(&input.meta(), &enc, &d.path().join("enc.jpg")).unwrap_err();
        assert!(e.to_string().contains("PNG"), "{e}");
        let out = d.path().join("enc.png");
        write_output(&input.meta(), &enc, &out).unwrap();
        assert_eq!(read_input(&out).unwrap().images, enc);

        let folder = d.path().join("in");
        fs::create_dir(&folder).unwrap();
        files::write_png(&folder.join("x.png"), &img, s).unwrap();
        let grey = image::RgbImage::from_raw(3, 2, img.clone()).unwrap();
        grey.save_with_format(folder.join("y.jpg"), image::ImageFormat::Jpeg)
            .unwrap();
        let input = read_input(&folder).unwrap();
        assert_eq!(input.format, InputFormat::Folder);
        assert_eq!(input.names.as_deref().unwrap(), ["x.png", "y.jpg"]);
        let out = d.path().join("out");
        let enc = invert(&input.images);
        write_output(&input.meta(), &enc, &out).unwrap();
        let back = read_input(&out).unwrap();
        assert_eq!(back.names.as_deref().unwrap(), ["x.png", "y.png"]);
        assert_eq!(back.images, enc);
    }

    #[test]
    fn refusals() {
        let d = tmp();
        let labels = d.path().join("train-labels-idx1-ubyte.gz");
        idx::write_labels(&labels, &[1, 2], true).unwrap();
        let e = read_input(&labels).unwrap_err();
        assert!(e.to_string().contains("label file"), "{e}");
        let junk = d.path().join("junk.txt");
        fs::write(&junk, "hello").unwrap();
        assert!(matches!(read_input(&junk), Err(Error::Unsupported { .. })));
        let empty = d.path().join("empty");
        fs::write(&empty, "").unwrap();
        assert!(read_input(&empty).is_err());
        let none = d.path().join("none-idx3");
        idx::write_images(&none, &grey_batch(0), false).unwrap();
        assert!(read_input(&none)
            .unwrap_err()
            .to_string()
            .contains("no image"));
        let e = read_input(&d.path().join("missing")).unwrap_err();
        assert!(
            matches!(e, Error::Io { .. }) && e.to_string().contains("missing"),
            "{e}"
        );

        // Overwriting the input, unwritable outputs, wrong counts.
        let src = d.path().join("imgs");
        idx::write_images(&src, &grey_batch(2), false).unwrap();
        let input = read_input(&src).unwrap();
        let alias = d.path().join(".").join("imgs");
        let e = write_output(&input.meta(), &input.images, &alias).unwrap_err();
        assert!(e.to_string().contains("refusing to overwrite"), "{e}");
        let bad = d.path().join("no/such/dir/out");
        let e = write_output(&input.meta(), &input.images, &bad).unwrap_err();
        assert!(
            matches!(e, Error::Io { .. }) && e.to_string().contains("no/such/dir/out"),
            "{e}"
        );
        let rgb = ImageBatch::zeros(Shape::new(3, 4, 3).unwrap(), 2);
        let out = d.path().join("out");
        assert!(matches!(
            write_output(&input.meta(), &rgb, &out),
            Err(Error::Parameter(_))
        ));
        assert!(!out.exists());
        let mut meta = input.meta();
        meta.format = InputFormat::Cifar10;
        meta.labels = Some(vec![1]);
        let b = ImageBatch::zeros(cifar::shape(), 2);
        assert!(matches!(
            write_output(&meta, &b, &out),
            Err(Error::Parameter(_))
        ));
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            5,
            "no temp files left"
        );
    }
}
