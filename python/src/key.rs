//! `pixveil.Key`: a perceptual-encryption key and its cipher, encrypting NumPy arrays.

use std::path::PathBuf;

use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use zeroize::Zeroizing;

use pixveil_cipher::{BatchCipher, KeyFile, KeyMode, Nonce, Protection, SchemeSpec};
use pixveil_core::fsio;
use pixveil_image::Shape;

use crate::array::{contiguous, contiguous_mut, layout, new_array, readonly, u8_array, Layout};
use crate::errors::{raise, Kind, PyResultExt};

/// The scheme names `Key.generate` accepts.
#[pyfunction]
pub fn schemes() -> Vec<&'static str> {
    SchemeSpec::NAMES.to_vec()
}

/// Public facts about a key file (no secret, no passphrase needed), as a JSON string: what
/// `pixveil info KEY --json` prints.
#[pyfunction]
pub fn inspect_key_file(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    let bytes = Zeroizing::new(std::fs::read(&path).py()?);
    let info = py.detach(|| KeyFile::inspect(&bytes)).py()?;
    Ok(serde_json::to_string(&info).expect("key facts serialize to JSON"))
}

/// An image shape from `(H, W, C)`, `(H, W)` or `"HxWxC"`.
pub fn parse_shape(obj: &Bound<'_, PyAny>) -> PyResult<Shape> {
    if let Ok(s) = obj.extract::<String>() {
        return s.parse().py();
    }
    let dims: Vec<u32> = obj.extract().map_err(|_| {
        raise(
            Kind::InvalidInput,
            "shape: expected (H, W, C), (H, W) or \"HxWxC\"",
        )
    })?;
    match dims.as_slice() {
        [h, w] => Shape::new(*h, *w, 1).py(),
        [h, w, c] => Shape::new(*h, *w, *c).py(),
        _ => Err(raise(
            Kind::InvalidInput,
            format!("shape: expected 2 or 3 dimensions, got {dims:?}"),
        )),
    }
}

fn parse_mode(mode: &str) -> PyResult<KeyMode> {
    mode.parse::<KeyMode>().map_err(|_| {
        raise(
            Kind::InvalidInput,
            format!("mode: expected \"fixed\" or \"per-image\", got {mode:?}"),
        )
    })
}

fn parse_spec(scheme: &str, block: Option<u32>) -> PyResult<SchemeSpec> {
    let spec = SchemeSpec::from_name(scheme, block).py()?;
    if block.is_some() && !matches!(spec, SchemeSpec::Le { .. } | SchemeSpec::Etc { .. }) {
        return Err(raise(
            Kind::InvalidInput,
            "block applies only to the block schemes le and etc",
        ));
    }
    Ok(spec)
}

fn passphrase_bytes(obj: &Bound<'_, PyAny>) -> PyResult<Zeroizing<Vec<u8>>> {
    if let Ok(s) = obj.extract::<String>() {
        return Ok(Zeroizing::new(s.into_bytes()));
    }
    if let Ok(b) = obj.extract::<Vec<u8>>() {
        return Ok(Zeroizing::new(b));
    }
    Err(raise(
        Kind::InvalidInput,
        "passphrase: expected str or bytes",
    ))
}

/// A key and its cipher (tables built once).
#[pyclass(frozen, module = "pixveil._pixveil")]
pub struct Key {
    key: KeyFile,
    cipher: BatchCipher,
}

impl Key {
    fn new(key: KeyFile) -> PyResult<Self> {
        let cipher = key.batch_cipher().py()?;
        Ok(Self { key, cipher })
    }

    /// The key file.
    pub fn file(&self) -> &KeyFile {
        &self.key
    }

    /// The cipher.
    pub fn cipher(&self) -> &BatchCipher {
        &self.cipher
    }

    /// Checks an array against the key's shape and borrows it.
    fn images<'py>(&self, x: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyArrayDyn<u8>>, Layout)> {
        let array = u8_array(x)?;
        let lay = layout(array.shape(), self.key.shape())?;
        Ok((array, lay))
    }

    /// Encrypts or decrypts `x` into a new array, or into `out` (`x` itself: in place).
    fn apply<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        nonces: Option<&[Nonce]>,
        encrypt: bool,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
        let (array, lay) = self.images(x)?;
        let cipher = &self.cipher;
        let run = |bytes: &mut [u8], src: Option<&[u8]>| match (encrypt, src) {
            (true, Some(src)) => cipher.encrypt_into(src, bytes, nonces, &|_| {}),
            (false, Some(src)) => cipher.decrypt_into(src, bytes, nonces, &|_| {}),
            (true, None) => cipher.encrypt_bytes(bytes, nonces, &|_| {}),
            (false, None) => cipher.decrypt_bytes(bytes, nonces, &|_| {}),
        };
        let Some(out) = out else {
            let ro = readonly(&array)?;
            let src = contiguous(&ro)?;
            let bytes = py
                .detach(|| {
                    // Zeroed by the allocator (fresh pages for large batches), then each image
                    // is copied and transformed while in cache.
                    let mut bytes = vec![0u8; src.len()];
                    run(&mut bytes, Some(src)).map(|()| bytes)
                })
                .py()?;
            return new_array(py, bytes, &lay.dims);
        };
        // `out=`: the caller's array (no allocation), possibly `x` itself (in place).
        let target = u8_array(out)?;
        if target.shape() != lay.dims.as_slice() {
            return Err(raise(
                Kind::InvalidInput,
                format!(
                    "out: expected an array of the input's shape {:?}, got {:?}",
                    lay.dims,
                    target.shape()
                ),
            ));
        }
        let in_place = out.is(x);
        {
            let mut rw = target.try_readwrite().map_err(|e| {
                raise(
                    Kind::InvalidInput,
                    format!(
                        "out cannot be written (read-only, or overlapping x without being x): {e}"
                    ),
                )
            })?;
            let dst = contiguous_mut(&mut rw)?;
            if in_place {
                py.detach(|| run(dst, None)).py()?;
            } else {
                // rw holds out mutably: x must be another, non-overlapping array (rust-numpy
                // refuses the borrow otherwise).
                let ro = readonly(&array).map_err(|_| {
                    raise(
                        Kind::InvalidInput,
                        "out overlaps x: pass out=x for in place, or a separate array",
                    )
                })?;
                let src = contiguous(&ro)?;
                py.detach(|| run(dst, Some(src))).py()?;
            }
        }
        Ok(target)
    }
}

/// Nonces as an array: `(16,)` for one image, `(N, 16)` for a batch.
fn nonces_array<'py>(
    py: Python<'py>,
    nonces: &[Nonce],
    batched: bool,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let bytes: Vec<u8> = nonces.iter().flat_map(|n| n.0).collect();
    let dims: Vec<usize> = if batched {
        vec![nonces.len(), 16]
    } else {
        vec![16]
    };
    new_array(py, bytes, &dims)
}

/// Nonces from an array of `images × 16` bytes.
fn nonces_from(obj: &Bound<'_, PyAny>, images: usize) -> PyResult<Vec<Nonce>> {
    let array = u8_array(obj).map_err(|e| {
        raise(
            Kind::InvalidInput,
            format!("nonces: {}", Python::attach(|py| e.value(py).to_string())),
        )
    })?;
    let ro = readonly(&array)?;
    let bytes = contiguous(&ro)?;
    if bytes.len() != images * 16 {
        return Err(raise(
            Kind::InvalidInput,
            format!(
                "nonces: {images} images need {images} nonces of 16 bytes, got an array of shape {:?}",
                array.shape()
            ),
        ));
    }
    Ok(bytes
        .chunks_exact(16)
        .map(|c| Nonce(c.try_into().expect("chunks of 16 bytes")))
        .collect())
}

#[pymethods]
impl Key {
    /// A new key with a secret from the operating system's CSPRNG.
    #[staticmethod]
    #[pyo3(signature = (scheme, shape, mode = "fixed", block = None))]
    fn generate(
        py: Python<'_>,
        scheme: &str,
        shape: &Bound<'_, PyAny>,
        mode: &str,
        block: Option<u32>,
    ) -> PyResult<Self> {
        let spec = parse_spec(scheme, block)?;
        let shape = parse_shape(shape)?;
        let mode = parse_mode(mode)?;
        let key = py.detach(|| KeyFile::generate(spec, shape, mode)).py()?;
        Self::new(key)
    }

    /// A key whose secret is derived from a passphrase (Argon2id, fresh salt; the default
    /// costs of `pixveil keygen --passphrase-file`).
    #[staticmethod]
    #[pyo3(signature = (scheme, shape, passphrase, mode = "fixed", block = None))]
    fn from_passphrase(
        py: Python<'_>,
        scheme: &str,
        shape: &Bound<'_, PyAny>,
        passphrase: &Bound<'_, PyAny>,
        mode: &str,
        block: Option<u32>,
    ) -> PyResult<Self> {
        let spec = parse_spec(scheme, block)?;
        let shape = parse_shape(shape)?;
        let mode = parse_mode(mode)?;
        let pass = passphrase_bytes(passphrase)?;
        if pass.is_empty() {
            return Err(raise(Kind::InvalidInput, "the passphrase is empty"));
        }
        let key = py
            .detach(|| {
                KeyFile::from_passphrase(
                    spec,
                    shape,
                    mode,
                    &pass,
                    pixveil_core::kdf::Argon2Params::default(),
                )
            })
            .py()?;
        Self::new(key)
    }

    /// Loads a key file written by `pixveil keygen` or `Key.save`.
    #[staticmethod]
    #[pyo3(signature = (path, passphrase = None))]
    fn load(
        py: Python<'_>,
        path: PathBuf,
        passphrase: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let bytes = Zeroizing::new(std::fs::read(&path).map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::NotFound {
                Kind::NotFound
            } else {
                Kind::File
            };
            raise(
                kind,
                format!("cannot read key file {}: {e}", path.display()),
            )
        })?);
        Self::parse(py, &bytes, passphrase).map_err(|e| {
            let msg = format!("{}: {}", path.display(), e.value(py));
            PyErr::from_type(e.get_type(py), msg)
        })
    }

    /// A key from the bytes of a key file.
    #[staticmethod]
    #[pyo3(signature = (data, passphrase = None))]
    fn from_bytes(
        py: Python<'_>,
        data: &[u8],
        passphrase: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Self::parse(py, data, passphrase)
    }

    /// Unpickling (see `__reduce__`).
    #[staticmethod]
    fn _unpickle(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        Self::parse(py, data, None)
    }

    /// Writes the key file atomically, readable by its owner only (mode 0600), like
    /// `pixveil keygen`.
    #[pyo3(signature = (path, overwrite = false))]
    fn save(&self, py: Python<'_>, path: PathBuf, overwrite: bool) -> PyResult<()> {
        if path.exists() && !overwrite {
            return Err(raise(
                Kind::File,
                format!(
                    "{} exists; refusing to overwrite a key (data encrypted with it would be lost): \
                     pass overwrite=True",
                    path.display()
                ),
            ));
        }
        let bytes = self.key.to_bytes().py()?;
        py.detach(|| fsio::write_atomic(&path, &bytes, fsio::Access::OwnerOnly))
            .map_err(|e| raise(Kind::File, format!("cannot write {}: {e}", path.display())))
    }

    /// The key file's bytes (for a stored key they hold the secret).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = self.key.to_bytes().py()?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Pickles as the key with its secret stored (a passphrase key too), so trusted workers
    /// (a `DataLoader`'s, Ray's) get a working key: a pickled key is as secret as its file.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let bytes = self.key.with_stored_secret().to_bytes().py()?;
        let ctor = py.get_type::<Key>().getattr("_unpickle")?;
        let args = PyTuple::new(py, [PyBytes::new(py, &bytes)])?;
        PyTuple::new(py, [ctor.into_any(), args.into_any()])
    }

    /// Scheme name (`pe`, `pe-np`, `logistic`, `grey`, `le`, `etc`; block schemes carry their
    /// block size, e.g. `le-b4`).
    #[getter]
    fn scheme(&self) -> String {
        self.key.spec().name()
    }

    /// `"fixed"` or `"per-image"`.
    #[getter]
    fn mode(&self) -> String {
        self.key.mode().to_string()
    }

    /// Image shape `(H, W, C)`.
    #[getter]
    fn shape(&self) -> (usize, usize, usize) {
        let s = self.key.shape();
        (s.height(), s.width(), s.channels())
    }

    /// The scheme id recorded in checkpoints of models trained on this key's images
    /// (`pe:fixed`, `le-4:per-image`, …): never the key itself.
    #[getter]
    fn scheme_id(&self) -> String {
        pixveil_cipher::scheme_id(&self.key.spec().name(), self.key.mode())
    }

    /// Public key id (16 hex digits), stored beside every ciphertext and checkpoint.
    #[getter]
    fn key_id(&self) -> String {
        self.key.key_id()
    }

    /// Public facts about the key (never the secret): scheme, spec, shape, mode, protection,
    /// key_id, kdf_version.
    #[getter]
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("scheme", self.key.spec().name())?;
        let spec = serde_json::to_string(self.key.spec()).expect("scheme specs serialize");
        d.set_item("spec", py.import("json")?.call_method1("loads", (spec,))?)?;
        d.set_item("shape", self.shape())?;
        d.set_item("mode", self.key.mode().to_string())?;
        d.set_item(
            "protection",
            match self.key.protection() {
                Protection::Stored => "stored",
                Protection::Passphrase { .. } => "passphrase",
            },
        )?;
        d.set_item("key_id", self.key.key_id())?;
        d.set_item("kdf_version", self.key.kdf_version().number())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let s = self.key.shape();
        format!(
            "<pixveil.Key {} {} {}x{}x{} id={} secret=<redacted>>",
            self.key.spec().name(),
            self.key.mode(),
            s.height(),
            s.width(),
            s.channels(),
            self.key.key_id()
        )
    }

    /// Encrypts images into a new array (or into `out`: an array of the same shape, `x`
    /// itself for in place; no allocation then). Fixed mode returns the ciphertext;
    /// per-image mode returns `(ciphertext, nonces)` with fresh nonces, `(16,)` for one image
    /// or `(N, 16)` for a batch, which `decrypt` needs.
    #[pyo3(signature = (x, out = None))]
    fn encrypt<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match self.key.mode() {
            KeyMode::Fixed => Ok(self.apply(py, x, None, true, out)?.into_any()),
            KeyMode::PerImage => {
                let (_, lay) = self.images(x)?;
                let nonces = Nonce::fresh(lay.images).py()?;
                let ct = self.apply(py, x, Some(&nonces), true, out)?;
                let n = nonces_array(py, &nonces, lay.batched)?;
                Ok(PyTuple::new(py, [ct.into_any(), n.into_any()])?.into_any())
            }
        }
    }

    /// Decrypts images (a new array, or `out` as for `encrypt`). Per-image mode needs the
    /// nonces `encrypt` returned.
    #[pyo3(signature = (x, nonces = None, out = None))]
    fn decrypt<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        nonces: Option<&Bound<'py, PyAny>>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
        match (self.key.mode(), nonces) {
            (KeyMode::Fixed, None) => self.apply(py, x, None, false, out),
            (KeyMode::Fixed, Some(_)) => Err(raise(
                Kind::InvalidInput,
                "a fixed key takes no nonces (did you mean a per-image key?)",
            )),
            (KeyMode::PerImage, None) => Err(raise(
                Kind::InvalidInput,
                "a per-image key needs the nonces that encrypt returned",
            )),
            (KeyMode::PerImage, Some(n)) => {
                let (_, lay) = self.images(x)?;
                let nonces = nonces_from(n, lay.images)?;
                self.apply(py, x, Some(&nonces), false, out)
            }
        }
    }
}

impl Key {
    fn parse(py: Python<'_>, data: &[u8], passphrase: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let pass = passphrase.map(passphrase_bytes).transpose()?;
        let key = py
            .detach(|| KeyFile::from_bytes(data, pass.as_ref().map(|p| p.as_slice())))
            .py()?;
        Self::new(key)
    }
}
