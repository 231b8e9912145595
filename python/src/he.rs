//! `pixveil.he`: CKKS encrypted inference with bytes in and out, so any transport works.
//!
//! The model owner's side ([`HeModel`], [`HeEvaluator`]) handles only public material: the
//! plan, evaluation keys and ciphertexts. The data owner's side ([`HeClient`]) holds the CKKS
//! secret key and never returns anything but public keys, ciphertexts and rounded scores.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::{PyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use pixveil_henn::{Encrypted, EvaluationKeys, Mode, Plan, PlanSpec};
use pixveil_image::{ImageBatch, Shape};

use crate::array::{contiguous, layout, readonly, u8_array};
use crate::errors::{raise, Kind, PyResultExt};
use crate::key::Key;

fn parse_mode(mode: &str) -> PyResult<Mode> {
    mode.parse::<Mode>().map_err(|_| {
        raise(
            Kind::InvalidInput,
            format!("mode: expected \"latency\" or \"throughput\", got {mode:?}"),
        )
    })
}

/// A model compiled into its encrypted-inference plan (public).
#[pyclass(frozen, module = "pixveil._pixveil")]
pub struct HeModel {
    plan: Arc<Plan>,
}

#[pymethods]
impl HeModel {
    /// Loads a pixveil checkpoint of an HE-friendly architecture (`tenseal-cnn`, `he-cnn`)
    /// and compiles its plan, as `pixveil serve` does.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let plan = py.detach(|| Plan::load(&path)).py()?;
        Ok(Self {
            plan: Arc::new(plan),
        })
    }

    /// The plan spec as JSON (public: shapes, CKKS parameters, rotation steps, layers; nothing
    /// of the weights). The client needs it to make keys and encrypt.
    fn spec(&self) -> String {
        serde_json::to_string(self.plan.spec()).expect("plan specs serialize")
    }

    /// An evaluator for one client's evaluation keys (the bytes `HeClient.evaluation_keys`
    /// returned).
    fn evaluator(&self, py: Python<'_>, keys: &[u8]) -> PyResult<HeEvaluator> {
        let plan = self.plan.clone();
        let id = plan.spec().id();
        let inner = py.detach(|| -> pixveil_henn::Result<_> {
            let keys = EvaluationKeys::from_bytes(plan.params(), &id, keys)?;
            pixveil_henn::HeEvaluator::new(plan, keys)
        });
        Ok(HeEvaluator { inner: inner.py()? })
    }
}

/// Runs the plan on encrypted inputs with one client's public keys.
#[pyclass(frozen, module = "pixveil._pixveil")]
pub struct HeEvaluator {
    inner: pixveil_henn::HeEvaluator,
}

#[pymethods]
impl HeEvaluator {
    /// Encrypted scores (bytes) of an encrypted request (bytes), either mode.
    fn run<'py>(&self, py: Python<'py>, request: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let ev = &self.inner;
        let out = py
            .detach(|| -> pixveil_henn::Result<Vec<u8>> {
                let plan = ev.plan();
                let id = plan.spec().id();
                let input = Encrypted::input_from_bytes(plan.params(), &id, request)?;
                Ok(ev.classify(&input)?.scores_to_bytes(&id))
            })
            .py()?;
        Ok(PyBytes::new(py, &out))
    }

    /// `"latency"` (keys with rotations: serve both modes) or `"throughput"`.
    #[getter]
    fn keys_mode(&self) -> &'static str {
        self.inner.keys_mode().name()
    }
}

/// The data owner's CKKS client: secret key, encryption, decryption.
#[pyclass(frozen, module = "pixveil._pixveil")]
pub struct HeClient {
    he: pixveil_henn::Client,
}

impl HeClient {
    fn spec_of(spec: &Bound<'_, PyAny>) -> PyResult<PlanSpec> {
        let bytes: Vec<u8> = if let Ok(s) = spec.extract::<String>() {
            s.into_bytes()
        } else {
            spec.extract::<Vec<u8>>().map_err(|_| {
                raise(
                    Kind::InvalidInput,
                    "spec: expected the plan JSON (str or bytes)",
                )
            })?
        };
        PlanSpec::from_json(&bytes).py()
    }
}

#[pymethods]
impl HeClient {
    /// A client for a plan (its JSON spec) with a fresh secret key from the OS CSPRNG.
    #[new]
    fn new(py: Python<'_>, spec: &Bound<'_, PyAny>) -> PyResult<Self> {
        let spec = Self::spec_of(spec)?;
        let he = py
            .detach(|| pixveil_henn::Client::new(spec, &mut ChaCha20Rng::from_os_rng()))
            .py()?;
        Ok(Self { he })
    }

    /// A client from a secret key saved with `secret_key_bytes`.
    #[staticmethod]
    fn from_secret_key(spec: &Bound<'_, PyAny>, secret_key: &[u8]) -> PyResult<Self> {
        let spec = Self::spec_of(spec)?;
        Ok(Self {
            he: pixveil_henn::Client::from_secret_key_bytes(spec, secret_key).py()?,
        })
    }

    /// The CKKS secret key (keep it secret: it decrypts everything encrypted under it).
    fn secret_key_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.he.secret_key_bytes())
    }

    /// Public evaluation keys for the model owner: `"latency"` (relinearization and the
    /// plan's rotations: serve both modes) or `"throughput"` (relinearization only).
    #[pyo3(signature = (mode = "latency"))]
    fn evaluation_keys<'py>(&self, py: Python<'py>, mode: &str) -> PyResult<Bound<'py, PyBytes>> {
        let mode = parse_mode(mode)?;
        let he = &self.he;
        let bytes = py
            .detach(|| {
                he.evaluation_keys(mode, &mut ChaCha20Rng::from_os_rng())
                    .map(|k| k.to_bytes(he.plan_id()))
            })
            .py()?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Images per throughput request.
    #[getter]
    fn batch_images(&self) -> usize {
        self.he.spec().batch_images
    }

    /// Output classes.
    #[getter]
    fn classes(&self) -> usize {
        self.he.spec().classes
    }

    /// The perceptual scheme the model was trained on (`none` for plain images).
    #[getter]
    fn scheme(&self) -> String {
        self.he.spec().scheme.clone()
    }

    /// One encrypted request (bytes) for `images` (`uint8`, the model's input shape; one
    /// image in latency mode, up to `batch_images` in throughput mode). A model trained on
    /// perceptually encrypted images needs that key: the images are encrypted with it first.
    #[pyo3(signature = (images, mode = "latency", perceptual_key = None))]
    fn encrypt<'py>(
        &self,
        py: Python<'py>,
        images: &Bound<'py, PyAny>,
        mode: &str,
        perceptual_key: Option<&Key>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mode = parse_mode(mode)?;
        let spec = self.he.spec();
        let [c, h, w] = spec.input_shape;
        let dim = |d: usize| u32::try_from(d).expect("plan dimensions fit u32");
        let shape = Shape::new(dim(h), dim(w), dim(c)).py()?;
        let array = u8_array(images)?;
        let lay = layout(array.shape(), shape)?;
        let ro = readonly(&array)?;
        let src = contiguous(&ro)?;
        let limit = match mode {
            Mode::Latency => 1,
            Mode::Throughput => spec.batch_images,
        };
        if lay.images == 0 || lay.images > limit {
            return Err(raise(
                Kind::InvalidInput,
                format!(
                    "a {} request holds 1..={limit} images, got {}",
                    mode.name(),
                    lay.images
                ),
            ));
        }
        let cipher = match (spec.scheme.as_str(), perceptual_key) {
            ("none", None) => None,
            ("none", Some(_)) => {
                return Err(raise(
                    Kind::WrongKey,
                    "the model was trained on plain images: pass no perceptual key",
                ))
            }
            (scheme, None) => {
                return Err(raise(
                    Kind::WrongKey,
                    format!("the model was trained on {scheme} images: pass its perceptual key"),
                ))
            }
            (scheme, Some(k)) => {
                let f = k.file();
                let id = pixveil_cipher::scheme_id(&f.spec().name(), f.mode());
                if id != scheme || f.shape() != shape {
                    return Err(raise(
                        Kind::WrongKey,
                        format!(
                            "the perceptual key is {id} for {} images, the model takes {scheme} \
                             {shape} images",
                            f.shape()
                        ),
                    ));
                }
                Some(k.cipher())
            }
        };
        let he = &self.he;
        let bytes = py.detach(|| -> PyResult<Vec<u8>> {
            let mut batch = ImageBatch::new(shape, src.to_vec()).py()?;
            if let Some(c) = cipher {
                let nonces = match c.mode() {
                    pixveil_cipher::KeyMode::Fixed => None,
                    pixveil_cipher::KeyMode::PerImage => {
                        Some(pixveil_cipher::Nonce::fresh(batch.len()).py()?)
                    }
                };
                c.encrypt_batch(&mut batch, nonces.as_deref(), &|_| {})
                    .py()?;
            }
            let values: Vec<Vec<f64>> = (0..batch.len())
                .map(|i| pixveil_henn::eval::image_values(&batch, i))
                .collect();
            let mut rng = ChaCha20Rng::from_os_rng();
            let input = match mode {
                Mode::Latency => he.encrypt_image(&values[0], &mut rng),
                Mode::Throughput => {
                    let refs: Vec<&[f64]> = values.iter().map(Vec::as_slice).collect();
                    he.encrypt_batch(&refs, &mut rng)
                }
            }
            .py()?;
            Ok(input.input_to_bytes(he.plan_id()))
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The scores of an encrypted answer: `(N, classes)` float64 logits, each rounded to
    /// 2^-10 (exact CKKS decryptions leak the secret key; these do not).
    fn decrypt<'py>(&self, py: Python<'py>, answer: &[u8]) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let he = &self.he;
        let scores = py
            .detach(|| -> pixveil_henn::Result<Vec<Vec<f64>>> {
                let enc = Encrypted::scores_from_bytes(he.params(), he.plan_id(), answer)?;
                he.decrypt_scores(&enc)
            })
            .py()?;
        PyArray2::from_vec2(py, &scores)
            .map_err(|e| raise(Kind::He, format!("scores of uneven length: {e}")))
    }
}
