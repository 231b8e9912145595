//! Image data for pixveil: [`Shape`], [`ImageBatch`], dataset and image-file readers and writers,
//! and a small built-in sample.
//!
//! Memory layout convention used across pixveil: an image is `H × W × C` bytes, row-major,
//! channels interleaved (`HWC`, as in PNG and the `image` crate). A batch of `N` images is the
//! concatenation of `N` such images. Formats that store planes (CIFAR-10 stores `CHW`) convert
//! on read and write.
//!
//! | module | what |
//! |---|---|
//! | [`idx`] | IDX image and label files (MNIST family), raw or gzip |
//! | [`cifar`] | CIFAR-10 binary batches, raw or gzip |
//! | [`files`] | PNG/JPEG files and folders of them |
//! | [`input`] | [`read_input`] / [`write_output`]: detect a format, write back in the same one |
//! | [`dataset`] | [`Dataset`] and [`dataset::load`] from the standard file names |
//! | [`sample`] | the first 256 test images of each dataset, built in |
//! | [`grid`] | [`save_grid`]: a PNG contact sheet with labelled rows, e.g. plain vs encrypted |
//! | [`draw`] | [`draw::Canvas`]: rectangles, upscaled images and bitmap-font text on RGB pixels |
//!
//! Every file is treated as hostile: sizes are checked against limits and against the real data
//! length before any buffer is sized, gzip is decompressed through a bounded reader, and every
//! write is atomic (temporary file beside the target, then a rename).
//!
//! ```
//! use pixveil_image::{read_input, sample, write_output, DatasetKind};
//!
//! # fn main() -> pixveil_image::Result<()> {
//! let ds = sample::load(DatasetKind::Mnist)?; // 256 test images, 28×28×1, labels 0-9
//! assert_eq!((ds.len(), ds.labels[0]), (256, 7));
//!
//! let dir = tempfile::tempdir().map_err(|e| pixveil_image::Error::Parameter(e.to_string()))?;
//! let src = dir.path().join("t10k-images-idx3-ubyte.gz");
//! pixveil_image::idx::write_images(&src, &ds.images, true)?;
//! let input = read_input(&src)?; // format and gzip detected from the content
//! let mut out = input.images.clone();
//! out.as_bytes_mut().iter_mut().for_each(|v| *v = !*v); // stand-in for encryption
//! write_output(&input.meta(), &out, &dir.path().join("enc-idx3-ubyte.gz"))?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod batch;
pub mod cifar;
pub mod dataset;
pub mod draw;
pub mod error;
pub mod files;
mod fsio;
pub mod grid;
pub mod idx;
pub mod input;
pub mod sample;
pub mod shape;

pub use batch::ImageBatch;
pub use dataset::{Dataset, DatasetKind, Split};
pub use error::{Error, Result};
pub use fsio::MAX_DECODED_BYTES;
pub use grid::save_grid;
pub use input::{read_input, write_output, Input, InputFormat, InputMeta};
pub use shape::Shape;
