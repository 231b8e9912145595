//! The built-in sample: the first [`SAMPLE_LEN`] images and labels of the **test** split of each
//! dataset, compiled into the library so that `pixveil demo` works with no download.
//!
//! The files live in `crates/pixveil-image/sample/<dataset>/` in their original formats (gzip
//! IDX for the MNIST family, a gzip CIFAR-10 batch) and are decoded by the same readers as real
//! files. `sample/README.md` gives each dataset's licence and citation and the command that
//! regenerated them (`examples/make_sample.rs`). About 0.95 MB in total.

use std::path::Path;

use crate::{cifar, idx, Dataset, DatasetKind, Result, Split};

/// Images per dataset in the sample (the first 256 of the test split).
pub const SAMPLE_LEN: usize = 256;
/// File name of the sample's IDX images (MNIST family).
pub const IDX_IMAGES_FILE: &str = "t10k-images-idx3-ubyte.gz";
/// File name of the sample's IDX labels (MNIST family).
pub const IDX_LABELS_FILE: &str = "t10k-labels-idx1-ubyte.gz";
/// File name of the sample's CIFAR-10 batch.
pub const CIFAR_FILE: &str = "test_batch.bin.gz";

macro_rules! sample_file {
    ($dir:literal, $file:literal) => {
        (
            concat!("sample/", $dir, "/", $file),
            include_bytes!(concat!("../sample/", $dir, "/", $file)).as_slice(),
        )
    };
}

type Embedded = (&'static str, &'static [u8]);

const MNIST: [Embedded; 2] = [
    sample_file!("mnist", "t10k-images-idx3-ubyte.gz"),
    sample_file!("mnist", "t10k-labels-idx1-ubyte.gz"),
];
const FASHION_MNIST: [Embedded; 2] = [
    sample_file!("fashion-mnist", "t10k-images-idx3-ubyte.gz"),
    sample_file!("fashion-mnist", "t10k-labels-idx1-ubyte.gz"),
];
const KMNIST: [Embedded; 2] = [
    sample_file!("kmnist", "t10k-images-idx3-ubyte.gz"),
    sample_file!("kmnist", "t10k-labels-idx1-ubyte.gz"),
];
const CIFAR10: Embedded = sample_file!("cifar10", "test_batch.bin.gz");

/// Decodes the built-in sample of `kind`: [`SAMPLE_LEN`] test images with labels
/// (`split` is [`Split::Test`]).
///
/// # Shapes
/// `256 × 28 × 28 × 1` for the MNIST family, `256 × 32 × 32 × 3` for CIFAR-10.
///
/// # Errors
/// None in practice (the files are checked by this crate's tests); the readers' errors
/// otherwise.
pub fn load(kind: DatasetKind) -> Result<Dataset> {
    let (images, labels) = match kind {
        DatasetKind::Cifar10 => {
            let (name, bytes) = CIFAR10;
            cifar::decode_batch(bytes, Path::new(name))?
        }
        DatasetKind::Mnist | DatasetKind::FashionMnist | DatasetKind::Kmnist => {
            let [(img_name, img), (lab_name, lab)] = match kind {
                DatasetKind::Mnist => MNIST,
                DatasetKind::FashionMnist => FASHION_MNIST,
                _ => KMNIST,
            };
            (
                idx::decode_images(img, Path::new(img_name))?,
                idx::decode_labels(lab, Path::new(lab_name))?,
            )
        }
    };
    Dataset::new(kind, Split::Test, images, labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{dataset, Shape};

    #[test]
    fn every_sample_decodes() {
        for kind in DatasetKind::ALL {
            let ds = load(kind).unwrap();
            assert_eq!(
                (ds.len(), ds.split, ds.images.shape()),
                (SAMPLE_LEN, Split::Test, kind.shape())
            );
        }
        assert_eq!(
            load(DatasetKind::Mnist).unwrap().labels[..5],
            [7, 2, 1, 0, 4]
        );
        assert_eq!(load(DatasetKind::Cifar10).unwrap().labels[0], 3);
        assert_eq!(
            load(DatasetKind::Cifar10).unwrap().images.shape(),
            Shape::CIFAR10
        );
        // Embedded files are gzip, as documented.
        assert!(MNIST
            .iter()
            .chain([&CIFAR10])
            .all(|(_, b)| b.starts_with(&[0x1f, 0x8b])));
    }

    #[test]
    #[ignore = "needs ../shared/data"]
    fn sample_equals_the_real_test_prefix() {
        let dir = dataset::shared_data_dir();
        for kind in DatasetKind::ALL {
            let real = dataset::load(kind, &dir, Split::Test)
                .unwrap()
                .limit(SAMPLE_LEN);
            assert_eq!(load(kind).unwrap(), real, "{kind}");
        }
    }
}
