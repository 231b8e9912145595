//! PNG and JPEG files, single or as a folder, decoded with the `image` crate under
//! [`image::Limits`].
//!
//! # Colour handling
//!
//! pixveil images have 1 (grey) or 3 (RGB) channels of 8 bits. On reading:
//! - grey and grey+alpha images become `C = 1` (**alpha is dropped**);
//! - RGB and RGBA images become `C = 3` (**alpha is dropped**);
//! - 16-bit images are reduced to 8 bits per channel.
//!
//! Writers produce PNG only (grey or RGB, 8-bit). Encrypted output is always PNG, even for a JPEG
//! input: JPEG is lossy, and re-quantising a ciphertext image would destroy it.
//!
//! # Folders
//!
//! A folder input is read non-recursively: every regular file whose extension is `png`, `jpg` or
//! `jpeg` (any case) is decoded, in byte order of the file name; other entries are ignored. All
//! images must share one shape, else [`Error::Unsupported`] names the first file that differs.

use std::{
    collections::HashSet,
    fs,
    io::Cursor,
    path::{Path, PathBuf},
};

use image::{DynamicImage, ImageEncoder, ImageError, ImageFormat, ImageReader};

use crate::{
    fsio::{self, io_err, MAX_DECODED_BYTES},
    shape::MAX_SIDE,
    Error, ImageBatch, Result, Shape,
};

/// Most memory the `image` decoder may allocate for one file, in bytes (512 MiB).
pub const MAX_DECODER_ALLOC: u64 = 512 << 20;

/// Extensions (lower case) of the files a folder input is made of.
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

fn limits() -> image::Limits {
    let mut l = image::Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    l.max_alloc = Some(MAX_DECODER_ALLOC);
    l
}

/// Reads one PNG or JPEG file (format sniffed from its content) as a batch of one image.
///
/// # Shapes
/// Returns 1 image of `H × W × C`, `C = 1` for grey(+alpha) and `C = 3` for RGB(A); alpha is
/// dropped.
///
/// # Errors
/// [`Error::Io`] if unreadable; [`Error::Unsupported`] if not PNG/JPEG; [`Error::Decoding`] if
/// corrupt; [`Error::Limits`] for sides over [`MAX_SIDE`] or decoder memory over
/// [`MAX_DECODER_ALLOC`].
pub fn read_image(path: &Path) -> Result<ImageBatch> {
    let loaded = fsio::load_file(path, MAX_DECODED_BYTES)?;
    if loaded.gzip {
        return Err(unsupported(
            path,
            "gzip-compressed image files are not supported",
        ));
    }
    decode_image(&loaded.bytes, path)
}

/// Decodes PNG or JPEG bytes held in memory; `name` only labels errors. See [`read_image`].
///
/// # Errors
/// As [`read_image`].
pub fn decode_image(bytes: &[u8], name: &Path) -> Result<ImageBatch> {
    let format = image::guess_format(bytes).ok();
    if !matches!(format, Some(ImageFormat::Png | ImageFormat::Jpeg)) {
        return Err(unsupported(name, "not a PNG or JPEG image"));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes));
    if let Some(f) = format {
        reader.set_format(f);
    }
    reader.limits(limits());
    let img = reader.decode().map_err(|e| image_err(e, name))?;
    to_batch(img, name)
}

/// The PNG/JPEG files of a folder (non-recursive, extension `png`/`jpg`/`jpeg` in any case),
/// sorted by file name.
///
/// # Errors
/// [`Error::Io`] if the folder cannot be listed; [`Error::Unsupported`] for a non-UTF-8 file
/// name or a folder with no such file.
pub fn list_folder(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        if !has_image_extension(&path) || !path.is_file() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return Err(unsupported(&path, "file name is not valid UTF-8"));
        };
        found.push((name, path));
    }
    if found.is_empty() {
        return Err(unsupported(dir, "folder holds no .png, .jpg or .jpeg file"));
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// Reads every PNG/JPEG file of a folder (see [`list_folder`]) into one batch.
///
/// # Shapes
/// Returns `N` images of one shape `H × W × C` (see the module docs for `C`), and their `N` file
/// names (without folder), in the same order.
///
/// # Errors
/// As [`list_folder`] and [`read_image`]; [`Error::Unsupported`] naming the first file whose
/// shape differs from the first image's; [`Error::Limits`] if the decoded images would exceed
/// [`MAX_DECODED_BYTES`] in total.
pub fn read_folder(dir: &Path) -> Result<(ImageBatch, Vec<String>)> {
    let paths = list_folder(dir)?;
    let mut shape: Option<(Shape, &Path)> = None;
    let mut data = Vec::new();
    let mut names = Vec::new();
    for path in &paths {
        let img = read_image(path)?;
        match shape {
            None => shape = Some((img.shape(), path)),
            Some((s, first)) if s != img.shape() => {
                return Err(unsupported(
                    path,
                    &format!(
                        "shape {} differs from {s} of {}; all images of a folder must share \
                         one shape",
                        img.shape(),
                        first.display()
                    ),
                ))
            }
            Some(_) => {}
        }
        if (data.len() + img.as_bytes().len()) as u64 > MAX_DECODED_BYTES {
            return Err(Error::Limits {
                path: dir.to_path_buf(),
                reason: format!("decoded images exceed {MAX_DECODED_BYTES} bytes"),
            });
        }
        data.extend_from_slice(img.as_bytes());
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("list_folder returns only files with UTF-8 names");
        names.push(name.to_owned());
    }
    let Some((shape, _)) = shape else {
        return Err(unsupported(dir, "folder holds no image"));
    };
    Ok((ImageBatch::new(shape, data)?, names))
}

/// Encodes one image as an 8-bit PNG (grey for `C = 1`, RGB for `C = 3`).
///
/// # Shapes
/// `image`: `H·W·C` bytes in `HWC` order.
///
/// # Errors
/// [`Error::Parameter`] if `image.len() != shape.len()`.
pub fn encode_png(image: &[u8], shape: Shape) -> Result<Vec<u8>> {
    if image.len() != shape.len() {
        return Err(Error::Parameter(format!(
            "{} bytes do not form one {shape} image",
            image.len()
        )));
    }
    let color = if shape.channels() == 1 {
        image::ExtendedColorType::L8
    } else {
        image::ExtendedColorType::Rgb8
    };
    let (w, h) = (dim(shape.width()), dim(shape.height()));
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(image, w, h, color)
        .map_err(|e| Error::Parameter(format!("PNG encoding failed: {e}")))?;
    Ok(out)
}

/// Writes one image as PNG to `path`, atomically (temporary file beside it, then rename). The
/// bytes are PNG whatever the extension of `path`.
///
/// # Errors
/// As [`encode_png`]; [`Error::Io`] naming `path` if it cannot be written.
pub fn write_png(path: &Path, image: &[u8], shape: Shape) -> Result<()> {
    fsio::write_atomic(path, &encode_png(image, shape)?)
}

/// The PNG file name an input file name maps to: same stem, extension `.png`
/// (`cat.JPG` → `cat.png`).
pub fn png_name(name: &str) -> String {
    Path::new(name)
        .with_extension("png")
        .to_string_lossy()
        .into_owned()
}

/// Writes a batch as a folder of PNG files named after `names` with extension `.png`
/// (see [`png_name`]).
///
/// Atomic: the files go into a temporary folder beside `dir`, which is renamed to `dir` at the
/// end; on failure nothing is left at `dir`. `dir` must not exist, or be an empty folder.
///
/// # Shapes
/// `images`: `N × H × W × C`; `names`: `N` plain file names.
///
/// # Errors
/// [`Error::Parameter`] if `names.len() != N`, a name is not a plain file name, two names map to
/// the same PNG name, or `dir` exists and is not an empty folder; [`Error::Io`] naming the path
/// on write failure.
pub fn write_folder(dir: &Path, images: &ImageBatch, names: &[String]) -> Result<()> {
    if names.len() != images.len() {
        return Err(Error::Parameter(format!(
            "{} images but {} file names",
            images.len(),
            names.len()
        )));
    }
    let mut seen = HashSet::new();
    let mut out_names = Vec::new();
    for name in names {
        let plain = Path::new(name).file_name().and_then(|n| n.to_str()) == Some(name.as_str());
        if !plain {
            return Err(Error::Parameter(format!(
                "{name:?} is not a plain file name"
            )));
        }
        let png = png_name(name);
        if !seen.insert(png.clone()) {
            return Err(Error::Parameter(format!(
                "two inputs map to the output file name {png:?}"
            )));
        }
        out_names.push(png);
    }
    if dir.exists() {
        // A file, or a folder that cannot be listed, is not an empty folder: refuse it.
        let empty_dir = fs::read_dir(dir)
            .map(|mut it| it.next().is_none())
            .unwrap_or(false);
        if !empty_dir {
            return Err(Error::Parameter(format!(
                "output {} already exists and is not an empty folder; remove it or choose \
                 another name",
                dir.display()
            )));
        }
    }
    // Removed by a signal handler if the process is killed before the rename.
    let (tmp, _tracked) = fsio::temp_dir_beside(dir)?;
    for (img, name) in images.images().zip(&out_names) {
        let path = tmp.path().join(name);
        let png = encode_png(img, images.shape())?;
        fs::write(&path, png).map_err(io_err(&dir.join(name)))?;
    }
    fsio::persist_dir(tmp, dir)
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

fn dim(side: usize) -> u32 {
    u32::try_from(side).expect("a valid Shape's sides are ≤ MAX_SIDE < u32::MAX")
}

fn unsupported(path: &Path, reason: &str) -> Error {
    Error::Unsupported {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    }
}

fn to_batch(img: DynamicImage, path: &Path) -> Result<ImageBatch> {
    let (w, h) = (img.width(), img.height());
    let grey = !img.color().has_color();
    let shape = Shape::new(h, w, if grey { 1 } else { 3 }).map_err(|e| Error::Limits {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let data = if grey {
        img.into_luma8().into_raw()
    } else {
        img.into_rgb8().into_raw()
    };
    ImageBatch::new(shape, data)
}

fn image_err(e: ImageError, path: &Path) -> Error {
    let path = path.to_path_buf();
    match e {
        ImageError::Limits(l) => Error::Limits {
            path,
            reason: l.to_string(),
        },
        ImageError::Unsupported(u) => Error::Unsupported {
            path,
            reason: u.to_string(),
        },
        ImageError::IoError(source) => Error::Io { path, source },
        other => Error::Decoding {
            path,
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn noise(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn png_round_trip(h in 1u32..12, w in 1u32..12, rgb: bool, seed: u8) {
            let shape = Shape::new(h, w, if rgb { 3 } else { 1 }).unwrap();
            let img = noise(shape.len(), seed);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("x.png");
            write_png(&path, &img, shape).unwrap();
            let back = read_image(&path).unwrap();
            prop_assert_eq!(back.shape(), shape);
            prop_assert_eq!(back.as_bytes(), &img[..]);
        }

        #[test]
        fn folder_round_trip(n in 1usize..5, h in 1u32..6, w in 1u32..6, rgb: bool) {
            let shape = Shape::new(h, w, if rgb { 3 } else { 1 }).unwrap();
            let batch = ImageBatch::new(shape, noise(n * shape.len(), 3)).unwrap();
            let names: Vec<String> = (0..n).map(|i| format!("img{i}.JPG")).collect();
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("out");
            write_folder(&out, &batch, &names).unwrap();
            let (back, back_names) = read_folder(&out).unwrap();
            prop_assert_eq!(back, batch);
            let want: Vec<String> = (0..n).map(|i| format!("img{i}.png")).collect();
            prop_assert_eq!(back_names, want);
        }
    }

    #[test]
    fn rgba_drops_alpha_and_jpeg_reads() {
        let dir = tempfile::tempdir().unwrap();
        let rgba = image::RgbaImage::from_raw(2, 1, vec![1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        let p = dir.path().join("a.PNG");
        rgba.save_with_format(&p, ImageFormat::Png).unwrap();
        let b = read_image(&p).unwrap();
        assert_eq!(b.shape().to_string(), "1x2x3");
        assert_eq!(b.as_bytes(), &[1, 2, 3, 5, 6, 7]);
        let la = image::GrayAlphaImage::from_raw(1, 1, vec![9, 200]).unwrap();
        let p = dir.path().join("b.png");
        la.save_with_format(&p, ImageFormat::Png).unwrap();
        assert_eq!(read_image(&p).unwrap().as_bytes(), &[9]);
        let grey = image::GrayImage::from_raw(8, 8, vec![128; 64]).unwrap();
        let p = dir.path().join("c.jpeg");
        grey.save_with_format(&p, ImageFormat::Jpeg).unwrap();
        let b = read_image(&p).unwrap();
        assert_eq!(b.shape().to_string(), "8x8x1");
        assert!(b.as_bytes().iter().all(|v| v.abs_diff(128) <= 2));
    }

    #[test]
    fn folder_sorting_filtering_and_mixed_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let s = Shape::new(2, 2, 1).unwrap();
        for (name, v) in [("b.png", 2u8), ("a.png", 1), ("C.Png", 3)] {
            write_png(&dir.path().join(name), &[v; 4], s).unwrap();
        }
        fs::write(dir.path().join("notes.txt"), "hi").unwrap();
        fs::create_dir(dir.path().join("sub.png")).unwrap();
        let (b, names) = read_folder(dir.path()).unwrap();
        assert_eq!(names, vec!["C.Png", "a.png", "b.png"]);
        assert_eq!(b.as_bytes()[..], [3, 3, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2]);
        write_png(
            &dir.path().join("d.png"),
            &[0; 12],
            Shape::new(2, 2, 3).unwrap(),
        )
        .unwrap();
        let e = read_folder(dir.path()).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }));
        let msg = e.to_string();
        assert!(
            msg.contains("d.png") && msg.contains("2x2x3") && msg.contains("C.Png"),
            "{msg}"
        );
        let empty = tempfile::tempdir().unwrap();
        let e = read_folder(empty.path()).unwrap_err();
        assert!(e.to_string().contains("no .png"), "{e}");
        let e = read_folder(&empty.path().join("missing")).unwrap_err();
        assert!(matches!(e, Error::Io { .. }));
    }

    #[test]
    fn corrupt_truncated_and_non_images() {
        let png = encode_png(&[7; 16 * 16], Shape::new(16, 16, 1).unwrap()).unwrap();
        let e = decode_image(&png[..png.len() / 2], Path::new("t.png")).unwrap_err();
        assert!(
            matches!(e, Error::Decoding { .. } | Error::Io { .. }),
            "{e}"
        );
        assert!(e.to_string().contains("t.png"));
        let e = decode_image(b"hello world", Path::new("x.png")).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        let e = decode_image(&[], Path::new("x.png")).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    }

    #[test]
    fn huge_png_header_hits_limits() {
        // A PNG whose IHDR declares 1,000,000 × 1,000,000 pixels and no data: refused from the
        // header, before any pixel buffer exists.
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend(1_000_000u32.to_be_bytes());
        ihdr.extend(1_000_000u32.to_be_bytes());
        ihdr.extend([8, 0, 0, 0, 0]);
        let mut crc = flate2::Crc::new();
        crc.update(&ihdr);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(13u32.to_be_bytes());
        png.extend(&ihdr);
        png.extend(crc.sum().to_be_bytes());
        let e = decode_image(&png, Path::new("huge.png")).unwrap_err();
        assert!(matches!(e, Error::Limits { .. }), "{e}");
    }

    #[test]
    fn folder_output_rules() {
        let dir = tempfile::tempdir().unwrap();
        let b = ImageBatch::zeros(Shape::new(1, 1, 1).unwrap(), 2);
        let out = dir.path().join("o");
        let e = write_folder(&out, &b, &["a.jpg".into(), "a.png".into()]).unwrap_err();
        assert!(e.to_string().contains("a.png"), "{e}");
        let e = write_folder(&out, &b, &["../a.png".into(), "b.png".into()]).unwrap_err();
        assert!(matches!(e, Error::Parameter(_)));
        assert!(matches!(
            write_folder(&out, &b, &["a".into()]),
            Err(Error::Parameter(_))
        ));
        assert!(!out.exists());
        fs::create_dir(&out).unwrap();
        write_folder(&out, &b, &["a".into(), "b".into()]).unwrap();
        let e = write_folder(&out, &b, &["a".into(), "b".into()]).unwrap_err();
        assert!(e.to_string().contains("not an empty folder"), "{e}");
        let e = write_folder(&dir.path().join("x/y"), &b, &["a".into(), "b".into()]).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp folder left"
        );
    }
}
