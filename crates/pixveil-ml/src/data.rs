//! Training data: dataset names, train/test splits (standard files, or a fixed-seed split of
//! the test set where the training images are missing), and encryption of `u8` batches with a
//! key file.

use std::path::{Path, PathBuf};

use pixveil_cipher::{BatchCipher, KeyFile, KeyMode, Nonce};
use pixveil_image::{dataset, sample, DatasetKind, ImageBatch, Shape, Split};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::error::{invalid, key_mismatch, Context, Result};

/// Seed of the split of a test-only dataset (fixed: `train` and `eval` must agree).
pub const SPLIT_SEED: u64 = 0x7069_7876_6569_6c00; // "pixveil\0"

/// Where a dataset comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Standard files under a data folder.
    Files(PathBuf),
    /// The built-in 256-image sample.
    Sample,
}

/// A dataset named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSpec {
    /// Which dataset.
    pub kind: DatasetKind,
    /// Where from.
    pub source: Source,
}

impl DataSpec {
    /// Parses `mnist`, `fashion-mnist`, `kmnist`, `cifar10` (files under `data_dir`, required)
    /// or `sample-<name>` / `sample` (= `sample-mnist`, the built-in sample).
    ///
    /// # Errors
    /// Unknown names, a missing `--data-dir` or a data folder that does not exist.
    pub fn parse(name: &str, data_dir: Option<&Path>) -> Result<Self> {
        let lower = name.trim().to_ascii_lowercase();
        if let Some(rest) = lower
            .strip_prefix("sample-")
            .or_else(|| (lower == "sample").then_some("mnist"))
        {
            let kind: DatasetKind = rest.parse().context_with(|| {
                "the built-in sample exists for sample-mnist, sample-fashion-mnist, \
                 sample-kmnist and sample-cifar10"
            })?;
            return Ok(Self {
                kind,
                source: Source::Sample,
            });
        }
        let kind: DatasetKind = lower.parse().context_with(|| {
            "datasets: mnist, fashion-mnist, kmnist, cifar10 (with --data-dir), or sample-<name> \
             for the built-in sample"
        })?;
        let Some(dir) = data_dir else {
            invalid!("--dataset {kind} needs --data-dir (or use --dataset sample-{kind}, the built-in sample)");
        };
        if !dir.is_dir() {
            invalid!("data folder {} does not exist", dir.display());
        }
        Ok(Self {
            kind,
            source: Source::Files(dir.to_path_buf()),
        })
    }

    /// Name in reports: `mnist`, or `sample-mnist` for the sample.
    pub fn name(&self) -> String {
        match self.source {
            Source::Files(_) => self.kind.name().to_owned(),
            Source::Sample => format!("sample-{}", self.kind.name()),
        }
    }

    /// Image shape.
    pub fn shape(&self) -> Shape {
        self.kind.shape()
    }
}

/// Labelled images: `labels[i]` (a class index below 10) is the label of image `i`; as many
/// labels as images.
#[derive(Clone, Debug)]
pub struct Labelled {
    /// Images.
    pub images: ImageBatch,
    /// Labels.
    pub labels: Vec<u8>,
}

impl Labelled {
    /// Keeps the first `n` (all if `None`).
    pub fn limit(mut self, n: Option<usize>) -> Self {
        if let Some(n) = n {
            self.images.truncate(n);
            self.labels.truncate(n);
        }
        self
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Training and test data of one dataset.
#[derive(Clone, Debug)]
pub struct Splits {
    /// Training images.
    pub train: Labelled,
    /// Test images.
    pub test: Labelled,
    /// `standard` (the dataset's own training files) or `test-split` (a fixed-seed 80/20
    /// split of the test set; the built-in sample always).
    pub train_source: &'static str,
}

/// `standard` or `test-split`.
pub const STANDARD: &str = "standard";
/// See [`Splits::train_source`].
pub const TEST_SPLIT: &str = "test-split";

/// Loads training and test data. Where the training files are missing (KMNIST in the shared
/// data; the built-in sample), the test set is shuffled with [`SPLIT_SEED`] and split 80/20
/// ([`split_note`] words this for the user).
///
/// # Errors
/// Missing or corrupt files.
pub fn load_splits(spec: &DataSpec) -> Result<Splits> {
    match &spec.source {
        Source::Sample => {
            let ds = sample::load(spec.kind)?;
            Ok(split_test_set(ds.images, ds.labels))
        }
        Source::Files(dir) => {
            if train_files_present(spec.kind, dir) {
                let train = dataset::load(spec.kind, dir, Split::Train)?;
                let test = dataset::load(spec.kind, dir, Split::Test)?;
                Ok(Splits {
                    train: Labelled {
                        images: train.images,
                        labels: train.labels,
                    },
                    test: Labelled {
                        images: test.images,
                        labels: test.labels,
                    },
                    train_source: STANDARD,
                })
            } else {
                let test = dataset::load(spec.kind, dir, Split::Test)?;
                Ok(split_test_set(test.images, test.labels))
            }
        }
    }
}

/// The note for the user when `splits` of data files are a split of the test set because the
/// training files are missing (`None` otherwise, and for the built-in sample, which always is).
pub fn split_note(spec: &DataSpec, splits: &Splits) -> Option<String> {
    match &spec.source {
        Source::Files(dir) if splits.train_source == TEST_SPLIT => Some(format!(
            "no {} training images under {}; training on a fixed-seed split of the test set \
             ({} train / {} test)",
            spec.kind,
            dir.display(),
            splits.train.len(),
            splits.test.len()
        )),
        _ => None,
    }
}

/// The test data `train` evaluated on: the test set, or the held-out part of the split.
///
/// # Errors
/// Missing or corrupt files.
pub fn load_test(spec: &DataSpec) -> Result<(Labelled, &'static str)> {
    match &spec.source {
        Source::Files(dir) if train_files_present(spec.kind, dir) => {
            let test = dataset::load(spec.kind, dir, Split::Test)?;
            Ok((
                Labelled {
                    images: test.images,
                    labels: test.labels,
                },
                STANDARD,
            ))
        }
        _ => {
            let s = load_splits(spec)?;
            Ok((s.test, s.train_source))
        }
    }
}

/// Whether the standard training images of `kind` are under `dir` (the folders and names
/// `pixveil_image::dataset::load` searches).
fn train_files_present(kind: DatasetKind, dir: &Path) -> bool {
    let mut dirs = vec![dir.join(kind.name()), dir.to_path_buf()];
    let stems: Vec<String> = if kind == DatasetKind::Cifar10 {
        dirs.insert(1, dir.join("cifar-10-batches-bin"));
        (1..=5).map(|i| format!("data_batch_{i}.bin")).collect()
    } else {
        vec!["train-images-idx3-ubyte".into()]
    };
    dirs.iter().any(|d| {
        stems
            .iter()
            .any(|s| d.join(s).is_file() || d.join(format!("{s}.gz")).is_file())
    })
}

/// Shuffles with [`SPLIT_SEED`]; the first 80 % train, the rest test.
fn split_test_set(images: ImageBatch, labels: Vec<u8>) -> Splits {
    let n = labels.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(SPLIT_SEED));
    let n_train = n * 4 / 5;
    let gather = |idx: &[usize]| {
        let mut data = Vec::with_capacity(idx.len() * images.shape().len());
        let mut l = Vec::with_capacity(idx.len());
        for &i in idx {
            let img = images
                .image(i)
                .expect("a shuffled index is below the number of images");
            data.extend_from_slice(img);
            l.push(labels[i]);
        }
        Labelled {
            images: ImageBatch::new(images.shape(), data)
                .expect("whole images of the batch's own shape form a batch"),
            labels: l,
        }
    };
    Splits {
        train: gather(&order[..n_train]),
        test: gather(&order[n_train..]),
        train_source: TEST_SPLIT,
    }
}

/// A key loaded for training or evaluation.
pub struct Encryption {
    key: KeyFile,
    cipher: BatchCipher,
}

impl std::fmt::Debug for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryption")
            .field("scheme", &self.scheme_id())
            .finish_non_exhaustive()
    }
}

impl Encryption {
    /// Wraps a key.
    ///
    /// # Errors
    /// A key whose scheme does not fit its shape.
    pub fn new(key: KeyFile) -> Result<Self> {
        let cipher = key.batch_cipher()?;
        Ok(Self { key, cipher })
    }

    /// Loads a key file and checks it is for `shape`.
    ///
    /// # Errors
    /// Unreadable keys, wrong passphrase, another shape.
    pub fn load(path: &Path, passphrase: Option<&Path>, shape: Shape, what: &str) -> Result<Self> {
        let key = crate::keys::load_key(path, passphrase)?;
        if key.shape() != shape {
            key_mismatch!(
                "shape mismatch: the key {} is for {} images, {what} has {} images",
                path.display(),
                key.shape(),
                shape
            );
        }
        Self::new(key)
    }

    /// The scheme id stored in checkpoints: scheme and key mode, e.g. `pe:fixed`,
    /// `le-4:per-image`. Never key material.
    pub fn scheme_id(&self) -> String {
        scheme_id(&self.key.spec().name(), self.key.mode())
    }

    /// Key mode.
    pub fn mode(&self) -> KeyMode {
        self.key.mode()
    }

    /// The public key id.
    pub fn key_id(&self) -> String {
        self.key.key_id()
    }

    /// Encrypts every image in place: with the key (fixed mode) or with a fresh random nonce
    /// per image (per-image mode; the nonces are discarded: training needs no decryption).
    ///
    /// # Errors
    /// Shape mismatch or an OS random number generator failure.
    pub fn encrypt(&self, batch: &mut ImageBatch) -> Result<()> {
        let nonces = match self.key.mode() {
            KeyMode::Fixed => None,
            KeyMode::PerImage => Some(Nonce::fresh(batch.len())?),
        };
        self.cipher
            .encrypt_batch(batch, nonces.as_deref(), &|_| {})?;
        Ok(())
    }
}

pub use pixveil_cipher::{scheme_id, PLAIN_SCHEME};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sample_split_is_fixed_and_disjoint() {
        let spec = DataSpec::parse("sample-mnist", None).unwrap();
        let a = load_splits(&spec).unwrap();
        let b = load_splits(&spec).unwrap();
        assert_eq!((a.train.len(), a.test.len()), (204, 52));
        assert_eq!(a.train.images, b.train.images);
        assert_eq!(a.test.labels, b.test.labels);
        assert_eq!(a.train_source, TEST_SPLIT);
        let (t, src) = load_test(&spec).unwrap();
        assert_eq!((t.images, src), (a.test.images, TEST_SPLIT));
        assert!(DataSpec::parse("mnist", None).is_err());
        assert!(DataSpec::parse("sample-imagenet", None).is_err());
        assert_eq!(
            DataSpec::parse("sample", None).unwrap().kind,
            DatasetKind::Mnist
        );
    }
}
