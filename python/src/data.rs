//! Datasets and image files into NumPy arrays, read by the same code as the CLI.

use std::path::PathBuf;

use numpy::{PyArray1, PyArrayDyn};
use pyo3::prelude::*;

use pixveil_image::dataset::{self, DatasetKind, Split};
use pixveil_image::{input, ImageBatch};

use crate::array::new_array;
use crate::errors::PyResultExt;

/// `(images (N, H, W, C), labels (N,))`.
type Labelled<'py> = (Bound<'py, PyArrayDyn<u8>>, Bound<'py, PyArray1<u8>>);

/// `(images, labels or None, names)`.
type Read<'py> = (
    Bound<'py, PyArrayDyn<u8>>,
    Option<Bound<'py, PyArray1<u8>>>,
    Vec<String>,
);

/// `(N, H, W, C)` array of a batch.
pub fn batch_array<'py>(
    py: Python<'py>,
    batch: ImageBatch,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let s = batch.shape();
    let dims = [batch.len(), s.height(), s.width(), s.channels()];
    new_array(py, batch.into_bytes(), &dims)
}

/// `(images, labels)` of a dataset split: `name` is `mnist`, `fashion-mnist`, `kmnist` or
/// `cifar10` (files under `data_dir`, found as `pixveil --data-dir` finds them) or
/// `sample-<name>` (the built-in 256-image sample, no files needed).
#[pyfunction]
#[pyo3(signature = (name, split, data_dir = None))]
pub fn load_dataset<'py>(
    py: Python<'py>,
    name: &str,
    split: &str,
    data_dir: Option<PathBuf>,
) -> PyResult<Labelled<'py>> {
    let split: Split = split.parse().py()?;
    let lower = name.trim().to_ascii_lowercase();
    let set = if let Some(rest) = lower.strip_prefix("sample-") {
        let kind: DatasetKind = rest.parse().py()?;
        py.detach(|| pixveil_image::sample::load(kind)).py()?
    } else {
        let kind: DatasetKind = name.parse().py()?;
        let Some(dir) = data_dir else {
            return Err(crate::errors::raise(
                crate::errors::Kind::InvalidInput,
                format!(
                    "{kind}: pass data_dir (or set PIXVEIL_DATA_DIR), or use \"sample-{kind}\" \
                     for the built-in sample"
                ),
            ));
        };
        py.detach(|| dataset::load(kind, &dir, split)).py()?
    };
    let labels = PyArray1::from_vec(py, set.labels);
    Ok((batch_array(py, set.images)?, labels))
}

/// `(images, labels or None, names)` of any input the CLI reads: an IDX file, a CIFAR-10
/// batch (raw or gzip), an image file, or a folder of images.
#[pyfunction]
pub fn read_images<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Read<'py>> {
    let input = py.detach(|| input::read_input(&path)).py()?;
    let names = input.item_names();
    let labels = input.labels.map(|l| PyArray1::from_vec(py, l));
    Ok((batch_array(py, input.images)?, labels, names))
}

/// The manifest `pixveil encrypt` wrote beside `path` (`PATH.pxv`), if any: `(facts as JSON,
/// nonces (N, 16) uint8)`; the nonces are empty in fixed mode.
#[pyfunction]
pub fn read_manifest<'py>(
    py: Python<'py>,
    path: PathBuf,
) -> PyResult<Option<(String, Bound<'py, PyArrayDyn<u8>>)>> {
    let Some(m) = pixveil_cipher::Manifest::read_beside(&path).map_err(|e| {
        crate::errors::raise(crate::errors::Kind::Format, crate::errors::message(&e))
    })?
    else {
        return Ok(None);
    };
    let nonces: Vec<u8> = m.nonces.iter().flat_map(|n| n.0).collect();
    let dims = [m.nonces.len(), 16];
    let json = serde_json::to_string(&m).expect("manifests serialize to JSON");
    Ok(Some((json, new_array(py, nonces, &dims)?)))
}
