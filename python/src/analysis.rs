//! Security metrics and attacks on NumPy images: the code behind `pixveil analyze` and
//! `pixveil attack`, with the same JSON.

use numpy::PyUntypedArrayMethods;
use pyo3::prelude::*;

use pixveil_analysis::attacks::{coa, cpa, kpa, stat, EncryptionOracle};
use pixveil_analysis::metrics::{self, correlation::Direction};
use pixveil_image::{ImageBatch, Shape};

use crate::array::{contiguous, layout, readonly, u8_array};
use crate::errors::{raise, Kind, PyResultExt};
use crate::key::Key;

/// The bytes of a `uint8` array (copied: the metrics are cheap next to the copy's cost).
fn bytes_of(x: &Bound<'_, PyAny>) -> PyResult<(Vec<u8>, Vec<usize>)> {
    let a = u8_array(x)?;
    let dims = a.shape().to_vec();
    let ro = readonly(&a)?;
    let s = contiguous(&ro)?;
    Ok((s.to_vec(), dims))
}

/// The shape of one image `(H, W, C)` or `(H, W)`.
fn image_shape(dims: &[usize]) -> PyResult<Shape> {
    let as_u32 = |d: usize| {
        u32::try_from(d).map_err(|_| raise(Kind::InvalidInput, format!("dimension {d} too large")))
    };
    match dims {
        [h, w] => Shape::new(as_u32(*h)?, as_u32(*w)?, 1).py(),
        [h, w, c] => Shape::new(as_u32(*h)?, as_u32(*w)?, as_u32(*c)?).py(),
        _ => Err(raise(
            Kind::InvalidInput,
            format!("expected one image (H, W, C) or (H, W), got shape {dims:?}"),
        )),
    }
}

/// One metric: `entropy`, `chi2` (of `a`'s values), `correlation-h|v|d` (of image `a`),
/// `npcr`, `uaci`, `psnr`, `mse`, `ssim` (between `a` and `b`, same shape).
#[pyfunction]
#[pyo3(signature = (name, a, b = None))]
pub fn metric(
    py: Python<'_>,
    name: &str,
    a: &Bound<'_, PyAny>,
    b: Option<&Bound<'_, PyAny>>,
) -> PyResult<f64> {
    let (a, dims) = bytes_of(a)?;
    let pair = |b: Option<&Bound<'_, PyAny>>| -> PyResult<Vec<u8>> {
        let Some(b) = b else {
            return Err(raise(
                Kind::InvalidInput,
                format!("{name} compares two images: pass b"),
            ));
        };
        let (b, bd) = bytes_of(b)?;
        if bd != dims {
            return Err(raise(
                Kind::InvalidInput,
                format!("{name}: shapes differ, {dims:?} vs {bd:?}"),
            ));
        }
        Ok(b)
    };
    let direction = |d| -> PyResult<f64> {
        let shape = image_shape(&dims)?;
        metrics::correlation::correlation(&a, shape, d).ok_or_else(|| {
            raise(
                Kind::InvalidInput,
                "correlation is undefined for a constant image or one of a single pixel",
            )
        })
    };
    match name {
        "entropy" => Ok(py.detach(|| metrics::entropy::entropy(&a))),
        "chi2" => Ok(py.detach(|| metrics::chi2::chi2(&a))),
        "correlation-h" => direction(Direction::Horizontal),
        "correlation-v" => direction(Direction::Vertical),
        "correlation-d" => direction(Direction::Diagonal),
        "npcr" => Ok(metrics::npcr::npcr(&a, &pair(b)?)),
        "uaci" => Ok(metrics::npcr::uaci(&a, &pair(b)?)),
        "mse" => Ok(metrics::psnr::mse(&a, &pair(b)?)),
        "psnr" => Ok(metrics::psnr::psnr(&a, &pair(b)?)),
        "ssim" => {
            let b = pair(b)?;
            let shape = image_shape(&dims)?;
            Ok(py.detach(|| metrics::ssim::ssim(&a, &b, shape)))
        }
        other => Err(raise(
            Kind::InvalidInput,
            format!(
                "unknown metric {other:?}; expected entropy, chi2, correlation-h, correlation-v, \
                 correlation-d, npcr, uaci, mse, psnr, ssim"
            ),
        )),
    }
}

/// Plain images of the key's shape as a batch (copied).
fn plain_batch(key: &Key, images: &Bound<'_, PyAny>) -> PyResult<ImageBatch> {
    let (bytes, dims) = bytes_of(images)?;
    let shape = key.file().shape();
    layout(&dims, shape)?;
    ImageBatch::new(shape, bytes).py()
}

/// Runs one attack (`kpa`, `cpa`, `coa`, `stat`) against the key's encryption of `images`
/// (the key plays the victim's encryption oracle and scores the result); the JSON object of
/// `pixveil attack --json`. `stat` needs `public`: plain images of the same kind.
#[pyfunction]
#[pyo3(signature = (kind, key, images, pairs = 1, limit = None, method = "auto", public = None))]
#[allow(clippy::too_many_arguments)]
pub fn attack(
    py: Python<'_>,
    kind: &str,
    key: &Key,
    images: &Bound<'_, PyAny>,
    pairs: usize,
    limit: Option<usize>,
    method: &str,
    public: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let batch = plain_batch(key, images)?;
    let public = match (kind, public) {
        ("stat", Some(p)) => Some(plain_batch(key, p)?),
        ("stat", None) => {
            return Err(raise(
                Kind::InvalidInput,
                "stat needs public=: plain images of the same kind as the victims'",
            ))
        }
        (_, Some(_)) => {
            return Err(raise(
                Kind::InvalidInput,
                "public= applies only to the stat attack",
            ))
        }
        (_, None) => None,
    };
    if limit == Some(0) {
        return Err(raise(
            Kind::InvalidInput,
            "limit: at least one held-out image",
        ));
    }
    let method = match method {
        "auto" => coa::CoaMethod::Auto,
        "msb" => coa::CoaMethod::Msb,
        "neighbour" | "neighbor" => coa::CoaMethod::Neighbour,
        "jigsaw" => coa::CoaMethod::Jigsaw,
        other => {
            return Err(raise(
                Kind::InvalidInput,
                format!("method: expected auto, msb, neighbour or jigsaw, got {other:?}"),
            ))
        }
    };
    let cipher = key.cipher();
    let outcome = py
        .detach(|| {
            let oracle = EncryptionOracle::new(cipher);
            match kind {
                "kpa" => kpa::run(&oracle, &batch, pairs, limit).map(Some),
                "cpa" => cpa::run(&oracle, &batch, limit).map(Some),
                "coa" => coa::run(&oracle, &batch, limit, method).map(Some),
                "stat" => stat::run(
                    &oracle,
                    &batch,
                    public
                        .as_ref()
                        .expect("checked above: stat has public images"),
                    limit,
                )
                .map(Some),
                _ => Ok(None),
            }
        })
        .py()?;
    let Some(outcome) = outcome else {
        return Err(raise(
            Kind::InvalidInput,
            format!("unknown attack {kind:?}; expected kpa, cpa, coa or stat"),
        ));
    };
    Ok(serde_json::to_string(&outcome).expect("attack outcomes serialize to JSON"))
}

/// The statistical analysis of the key's ciphertexts of `images` (entropy, correlations,
/// χ², NPCR/UACI on the first `sensitivity_images`, key space): the JSON of `pixveil analyze`.
#[pyfunction]
#[pyo3(signature = (key, images, sensitivity_images = 100))]
pub fn analyze(
    py: Python<'_>,
    key: &Key,
    images: &Bound<'_, PyAny>,
    sensitivity_images: usize,
) -> PyResult<String> {
    if sensitivity_images == 0 {
        return Err(raise(
            Kind::InvalidInput,
            "sensitivity_images: at least one image",
        ));
    }
    let batch = plain_batch(key, images)?;
    let f = key.file();
    let report = py
        .detach(|| {
            metrics::analyze_with_kdf(
                &batch,
                f.spec(),
                f.mode(),
                f.secret(),
                f.kdf_version(),
                metrics::AnalyzeOptions { sensitivity_images },
            )
        })
        .py()?;
    Ok(serde_json::to_string(&report).expect("analyses serialize to JSON"))
}
