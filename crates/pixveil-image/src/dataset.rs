//! The four benchmark datasets, loaded from their standard distribution files.
//!
//! | [`DatasetKind`] | name | files (each raw or `.gz`) | images |
//! |---|---|---|---|
//! | `Mnist`, `FashionMnist`, `Kmnist` | `mnist`, `fashion-mnist`, `kmnist` | `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte` | `28×28×1` |
//! | `Cifar10` | `cifar10` | `data_batch_1.bin` … `data_batch_5.bin` (train: those present, in order, at least one), `test_batch.bin` | `32×32×3` |
//!
//! [`load`] looks in `DATA_DIR/<name>/` first, then in `DATA_DIR` itself (and, for CIFAR-10, in
//! `DATA_DIR/cifar-10-batches-bin/`, the folder of the official archive). Labels must match the
//! images in number and be below 10.

use std::{
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
};

use serde::{Deserialize, Serialize};

use crate::{cifar, idx, Error, ImageBatch, Result, Shape};

/// Number of classes of every supported dataset.
pub const NUM_CLASSES: usize = 10;

/// A supported dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// MNIST handwritten digits (CC BY-SA 3.0).
    Mnist,
    /// Fashion-MNIST, Zalando article images (MIT).
    FashionMnist,
    /// Kuzushiji-MNIST, cursive Japanese characters (CC BY-SA 4.0).
    Kmnist,
    /// CIFAR-10 small colour photographs.
    #[serde(rename = "cifar10")]
    Cifar10,
}

impl DatasetKind {
    /// All kinds, in a fixed order.
    pub const ALL: [DatasetKind; 4] = [
        DatasetKind::Mnist,
        DatasetKind::FashionMnist,
        DatasetKind::Kmnist,
        DatasetKind::Cifar10,
    ];

    /// The canonical name (`mnist`, `fashion-mnist`, `kmnist`, `cifar10`), also the name of its
    /// data subfolder.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Mnist => "mnist",
            Self::FashionMnist => "fashion-mnist",
            Self::Kmnist => "kmnist",
            Self::Cifar10 => "cifar10",
        }
    }

    /// The shape of its images: `28×28×1`, or `32×32×3` for CIFAR-10.
    pub const fn shape(self) -> Shape {
        match self {
            Self::Cifar10 => Shape::CIFAR10,
            _ => Shape::MNIST,
        }
    }

    /// Human-readable class names, indexed by label.
    pub const fn class_names(self) -> [&'static str; NUM_CLASSES] {
        match self {
            Self::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            Self::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
            Self::Kmnist => ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
            Self::Cifar10 => [
                "airplane",
                "automobile",
                "bird",
                "cat",
                "deer",
                "dog",
                "frog",
                "horse",
                "ship",
                "truck",
            ],
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetKind {
    type Err = Error;
    /// Parses a canonical name, case-insensitively; `fashion_mnist`, `fashionmnist` and
    /// `cifar-10` are accepted too.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mnist" => Ok(Self::Mnist),
            "fashion-mnist" | "fashion_mnist" | "fashionmnist" => Ok(Self::FashionMnist),
            "kmnist" => Ok(Self::Kmnist),
            "cifar10" | "cifar-10" => Ok(Self::Cifar10),
            _ => Err(Error::Parameter(format!(
                "unknown dataset {s:?}; expected one of mnist, fashion-mnist, kmnist, cifar10"
            ))),
        }
    }
}

/// Training or test split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// The training split.
    Train,
    /// The test split.
    Test,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Train => "train",
            Self::Test => "test",
        })
    }
}

impl FromStr for Split {
    type Err = Error;
    /// Parses `train` or `test` (case-insensitive).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" => Ok(Self::Train),
            "test" => Ok(Self::Test),
            _ => Err(Error::Parameter(format!(
                "unknown split {s:?}; expected train or test"
            ))),
        }
    }
}

/// Labelled images of one dataset split.
///
/// Invariant (checked by [`Dataset::new`] and every loader): `labels.len() == images.len()` and
/// every label is below [`NUM_CLASSES`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// Which dataset.
    pub kind: DatasetKind,
    /// Which split.
    pub split: Split,
    /// The images, `N × H × W × C`.
    pub images: ImageBatch,
    /// One label per image, `0..10`.
    pub labels: Vec<u8>,
}

impl Dataset {
    /// A checked dataset.
    ///
    /// # Errors
    /// [`Error::Parameter`] if the counts differ or a label is ≥ 10.
    pub fn new(
        kind: DatasetKind,
        split: Split,
        images: ImageBatch,
        labels: Vec<u8>,
    ) -> Result<Self> {
        if labels.len() != images.len() {
            return Err(Error::Parameter(format!(
                "{kind} {split}: {} images but {} labels",
                images.len(),
                labels.len()
            )));
        }
        if let Some((i, l)) = first_bad_label(&labels) {
            return Err(Error::Parameter(format!(
                "{kind} {split}: label {l} of image {i} is not below {NUM_CLASSES}"
            )));
        }
        Ok(Self {
            kind,
            split,
            images,
            labels,
        })
    }

    /// Number of images `N`.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// True when there is no image.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Keeps only the first `n` images and labels (all if `n ≥ N`).
    pub fn limit(mut self, n: usize) -> Self {
        self.images.truncate(n);
        self.labels.truncate(n);
        self
    }
}

fn first_bad_label(labels: &[u8]) -> Option<(usize, u8)> {
    labels
        .iter()
        .copied()
        .enumerate()
        .find(|(_, l)| usize::from(*l) >= NUM_CLASSES)
}

/// The folders searched for `kind` under `data_dir`, in order.
fn search_dirs(kind: DatasetKind, data_dir: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![data_dir.join(kind.name()), data_dir.to_path_buf()];
    if kind == DatasetKind::Cifar10 {
        dirs.insert(1, data_dir.join("cifar-10-batches-bin"));
    }
    dirs
}

/// The first existing `dir/stem` or `dir/stem.gz`.
fn find_in(dir: &Path, stem: &str) -> Option<PathBuf> {
    [stem.to_owned(), format!("{stem}.gz")]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

fn tried(dirs: &[PathBuf], stems: &[String]) -> Vec<PathBuf> {
    dirs.iter()
        .flat_map(|d| {
            stems
                .iter()
                .flat_map(move |s| [d.join(s), d.join(format!("{s}.gz"))])
        })
        .collect()
}

/// Loads one split of a dataset from its standard files under `data_dir` (see the module docs
/// for names and folders). The first folder holding the images file is used for both images
/// and labels.
///
/// # Shapes
/// `28×28×1` images for the MNIST family, `32×32×3` for CIFAR-10.
///
/// # Errors
/// [`Error::NotFound`] listing every path tried if the files are missing (the KMNIST training
/// images are not in the shared data); the readers' errors; [`Error::Decoding`] if the label
/// count differs from the image count or a label is ≥ 10.
pub fn load(kind: DatasetKind, data_dir: &Path, split: Split) -> Result<Dataset> {
    let dirs = search_dirs(kind, data_dir);
    let what = format!("{kind} {split} data");
    if kind == DatasetKind::Cifar10 {
        let stems: Vec<String> = match split {
            Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
            Split::Test => vec!["test_batch.bin".into()],
        };
        for dir in &dirs {
            let found: Vec<PathBuf> = stems.iter().filter_map(|s| find_in(dir, s)).collect();
            if found.is_empty() {
                continue;
            }
            let mut data = Vec::new();
            let mut labels = Vec::new();
            for path in &found {
                let (imgs, l) = cifar::read_batch(path)?;
                data.extend_from_slice(imgs.as_bytes());
                labels.extend_from_slice(&l);
            }
            let images = ImageBatch::new(cifar::shape(), data)?;
            return Dataset::new(kind, split, images, labels).map_err(|e| decoding(&found, e));
        }
        return Err(Error::NotFound {
            what,
            tried: tried(&dirs, &stems),
        });
    }
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let img_stem = format!("{prefix}-images-idx3-ubyte");
    let lab_stem = format!("{prefix}-labels-idx1-ubyte");
    let Some((dir, img_path)) = dirs
        .iter()
        .find_map(|d| find_in(d, &img_stem).map(|p| (d, p)))
    else {
        return Err(Error::NotFound {
            what,
            tried: tried(&dirs, &[img_stem]),
        });
    };
    let Some(lab_path) = find_in(dir, &lab_stem) else {
        return Err(Error::NotFound {
            what: format!("{kind} {split} labels"),
            tried: tried(std::slice::from_ref(dir), &[lab_stem]),
        });
    };
    let images = idx::read_images(&img_path)?;
    if images.shape() != kind.shape() {
        return Err(Error::Decoding {
            path: img_path,
            reason: format!(
                "{kind} images are {}, found {}",
                kind.shape(),
                images.shape()
            ),
        });
    }
    let labels = idx::read_labels(&lab_path)?;
    Dataset::new(kind, split, images, labels).map_err(|e| decoding(&[lab_path], e))
}

/// Re-labels a [`Dataset::new`] parameter error as a decoding error of the file it came from.
fn decoding(paths: &[PathBuf], e: Error) -> Error {
    match e {
        Error::Parameter(reason) => Error::Decoding {
            path: paths
                .last()
                .cloned()
                .expect("callers pass the files they read: at least one"),
            reason,
        },
        other => other,
    }
}

/// Test helper: the shared data folder (`$PIXVEIL_DATA_DIR`, else `../shared/data` beside the
/// repository). Tests that need it are `#[ignore = "needs ../shared/data"]` and run with
/// `--ignored` (`.ci/run` does when the folder is there); run without it, they fail here.
#[cfg(test)]
pub(crate) fn shared_data_dir() -> PathBuf {
    let dir = std::env::var_os("PIXVEIL_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    assert!(
        dir.join("mnist").is_dir(),
        "no shared data at {} (set PIXVEIL_DATA_DIR)",
        dir.display()
    );
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_display_serde() {
        for k in DatasetKind::ALL {
            assert_eq!(k.name().parse::<DatasetKind>().unwrap(), k);
            assert_eq!(k.to_string(), k.name());
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.name()));
            assert_eq!(serde_json::from_str::<DatasetKind>(&json).unwrap(), k);
        }
        assert_eq!(
            "CIFAR-10".parse::<DatasetKind>().unwrap(),
            DatasetKind::Cifar10
        );
        assert!("imagenet".parse::<DatasetKind>().is_err());
        assert_eq!("Test".parse::<Split>().unwrap(), Split::Test);
        assert_eq!(Split::Train.to_string(), "train");
        assert_eq!(serde_json::to_string(&Split::Test).unwrap(), "\"test\"");
        assert!("val".parse::<Split>().is_err());
    }

    fn write_mnist_like(dir: &Path, prefix: &str, n: usize, labels: &[u8], gz: bool) {
        std::fs::create_dir_all(dir).unwrap();
        let ext = if gz { ".gz" } else { "" };
        let imgs = ImageBatch::new(Shape::MNIST, vec![5; n * 784]).unwrap();
        idx::write_images(
            &dir.join(format!("{prefix}-images-idx3-ubyte{ext}")),
            &imgs,
            gz,
        )
        .unwrap();
        idx::write_labels(
            &dir.join(format!("{prefix}-labels-idx1-ubyte{ext}")),
            labels,
            gz,
        )
        .unwrap();
    }

    #[test]
    fn finds_files_in_subfolder_or_directly() {
        let d = tempfile::tempdir().unwrap();
        write_mnist_like(&d.path().join("fashion-mnist"), "t10k", 3, &[1, 2, 3], true);
        write_mnist_like(d.path(), "train", 2, &[0, 9], false);
        let ds = load(DatasetKind::FashionMnist, d.path(), Split::Test).unwrap();
        assert_eq!((ds.len(), ds.labels.as_slice()), (3, &[1, 2, 3][..]));
        let ds = load(DatasetKind::Mnist, d.path(), Split::Train).unwrap();
        assert_eq!(ds.labels, vec![0, 9]);
        let ds = ds.limit(1);
        assert_eq!((ds.images.len(), ds.labels.len()), (1, 1));
        let e = load(DatasetKind::Kmnist, d.path(), Split::Test).unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }));
        let msg = e.to_string();
        assert!(msg.contains("kmnist/t10k-images-idx3-ubyte.gz"), "{msg}");
    }

    #[test]
    fn label_problems() {
        let d = tempfile::tempdir().unwrap();
        write_mnist_like(&d.path().join("mnist"), "t10k", 3, &[1, 2], false);
        let e = load(DatasetKind::Mnist, d.path(), Split::Test).unwrap_err();
        assert!(e.to_string().contains("3 images but 2 labels"), "{e}");
        write_mnist_like(&d.path().join("mnist"), "t10k", 2, &[1, 10], false);
        let e = load(DatasetKind::Mnist, d.path(), Split::Test).unwrap_err();
        assert!(matches!(e, Error::Decoding { .. }));
        assert!(e.to_string().contains("label 10"), "{e}");
        std::fs::remove_file(d.path().join("mnist/t10k-labels-idx1-ubyte")).unwrap();
        let e = load(DatasetKind::Mnist, d.path(), Split::Test).unwrap_err();
        assert!(e.to_string().contains("t10k-labels-idx1-ubyte"), "{e}");
        // Wrong image size for the dataset.
        let dir = d.path().join("kmnist");
        std::fs::create_dir_all(&dir).unwrap();
        let imgs = ImageBatch::zeros(Shape::new(2, 2, 1).unwrap(), 1);
        idx::write_images(&dir.join("t10k-images-idx3-ubyte"), &imgs, false).unwrap();
        idx::write_labels(&dir.join("t10k-labels-idx1-ubyte"), &[0], false).unwrap();
        let e = load(DatasetKind::Kmnist, d.path(), Split::Test).unwrap_err();
        assert!(e.to_string().contains("28x28x1"), "{e}");
    }

    #[test]
    fn cifar_batches_concatenate_in_order() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("cifar10");
        std::fs::create_dir(&dir).unwrap();
        for (i, label) in [(3, 7u8), (1, 2)] {
            let b = ImageBatch::new(cifar::shape(), vec![label; 3072]).unwrap();
            let name = format!("data_batch_{i}.bin{}", if i == 3 { ".gz" } else { "" });
            cifar::write_batch(&dir.join(name), &b, &[label], i == 3).unwrap();
        }
        let ds = load(DatasetKind::Cifar10, d.path(), Split::Train).unwrap();
        assert_eq!(ds.labels, vec![2, 7]);
        assert_eq!(ds.images.image(1).unwrap()[0], 7);
        let e = load(DatasetKind::Cifar10, d.path(), Split::Test).unwrap_err();
        assert!(e.to_string().contains("test_batch.bin"), "{e}");
        assert!(Dataset::new(
            DatasetKind::Cifar10,
            Split::Test,
            ds.images.clone(),
            vec![1]
        )
        .is_err());
    }

    #[test]
    #[ignore = "needs ../shared/data"]
    fn real_datasets() {
        let dir = shared_data_dir();
        let t = load(DatasetKind::Mnist, &dir, Split::Test).unwrap();
        assert_eq!(
            (t.len(), t.labels[0], t.images.shape()),
            (10_000, 7, Shape::MNIST)
        );
        let mut counts = [0usize; 10];
        t.labels.iter().for_each(|l| counts[usize::from(*l)] += 1);
        assert_eq!(
            counts,
            [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
        );
        for k in [DatasetKind::FashionMnist, DatasetKind::Kmnist] {
            assert_eq!(load(k, &dir, Split::Test).unwrap().len(), 10_000, "{k}");
        }
        let e = load(DatasetKind::Kmnist, &dir, Split::Train).unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        let c = load(DatasetKind::Cifar10, &dir, Split::Test).unwrap();
        assert_eq!(
            (c.len(), c.labels[0], c.images.shape()),
            (10_000, 3, Shape::CIFAR10)
        );
        // Passing the dataset folder itself works too.
        let t2 = load(DatasetKind::Mnist, &dir.join("mnist"), Split::Test).unwrap();
        assert_eq!(t2.labels[..5], t.labels[..5]);
    }

    #[test]
    #[ignore = "needs ../shared/data"]
    fn real_training_sets() {
        let dir = shared_data_dir();
        let m = load(DatasetKind::Mnist, &dir, Split::Train).unwrap();
        assert_eq!(m.len(), 60_000);
        let c = load(DatasetKind::Cifar10, &dir, Split::Train).unwrap();
        assert_eq!(c.len(), 20_000);
    }
}
