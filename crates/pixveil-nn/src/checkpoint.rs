//! Safetensors checkpoints with versioned metadata.
//!
//! Tensors are `F32`, named and laid out as the PyTorch state dict of the same model
//! (`conv1.weight` `[out, in, kh, kw]`, `fc1.weight` `[out, in]`, …), so
//! `model.load_state_dict(safetensors.torch.load_file(path))` works in PyTorch.
//!
//! Metadata (`__metadata__` of the header), all strings:
//!
//! | key              | value                                               |
//! |------------------|-----------------------------------------------------|
//! | `format`         | `pixveil-nn`                                        |
//! | `format_version` | [`FORMAT_VERSION`]                                  |
//! | `architecture`   | [`Architecture::name`]                              |
//! | `input_shape`    | `C,H,W`, e.g. `1,28,28`                             |
//! | `scheme`         | id of the input transform, e.g. `none` — never a key |

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::model::{Architecture, Model, Param};
use crate::{Error, Result};

/// Version of the checkpoint layout written by this crate.
pub const FORMAT_VERSION: u32 = 1;

const FORMAT: &str = "pixveil-nn";

/// Longest accepted scheme id.
const MAX_SCHEME_LEN: usize = 64;

/// Checkpoint metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointMeta {
    /// The architecture.
    pub architecture: Architecture,
    /// Input shape `[C, H, W]`.
    pub input_shape: [usize; 3],
    /// Identifier of the input transform / encryption scheme the model was trained on
    /// (`none` for plain images). Only an identifier, never key material.
    pub scheme: String,
}

fn check_scheme(scheme: &str) -> Result<()> {
    if scheme.is_empty()
        || scheme.len() > MAX_SCHEME_LEN
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        return Err(Error::Metadata(format!(
            "scheme id must be 1..={MAX_SCHEME_LEN} characters of [A-Za-z0-9-_.:], got {scheme:?}"
        )));
    }
    Ok(())
}

/// Serialises `model` with metadata naming `scheme`.
///
/// # Errors
/// [`Error::Metadata`] for an invalid scheme id; [`Error::SafeTensors`] if
/// serialisation fails.
pub fn to_bytes(model: &Model, scheme: &str) -> Result<Vec<u8>> {
    check_scheme(scheme)?;
    let [c, h, w] = model.input_shape();
    let metadata = HashMap::from([
        ("format".to_owned(), FORMAT.to_owned()),
        ("format_version".to_owned(), FORMAT_VERSION.to_string()),
        (
            "architecture".to_owned(),
            model.architecture().name().to_owned(),
        ),
        ("input_shape".to_owned(), format!("{c},{h},{w}")),
        ("scheme".to_owned(), scheme.to_owned()),
    ]);
    let bytes: Vec<Vec<u8>> = model
        .params()
        .iter()
        .map(|p| p.value.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = model
        .params()
        .iter()
        .zip(&bytes)
        .map(|(p, b)| {
            Ok((
                p.name.clone(),
                TensorView::new(Dtype::F32, p.shape.clone(), b)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(safetensors::serialize(views, Some(metadata))?)
}

fn meta_field<'a>(meta: &'a HashMap<String, String>, key: &str) -> Result<&'a str> {
    meta.get(key)
        .map(String::as_str)
        .ok_or_else(|| Error::Metadata(format!("missing {key:?}")))
}

/// Parses a checkpoint written by [`to_bytes`].
///
/// # Errors
/// [`Error::SafeTensors`] for a malformed or truncated container; [`Error::Metadata`]
/// for a missing or foreign format, another version, an unknown architecture, an input
/// shape or scheme that does not fit; [`Error::Shape`] for missing, extra or misshapen
/// tensors.
pub fn from_bytes(bytes: &[u8]) -> Result<(Model, CheckpointMeta)> {
    let (_, header) = SafeTensors::read_metadata(bytes)?;
    let meta = header
        .metadata()
        .as_ref()
        .ok_or_else(|| Error::Metadata("no __metadata__".into()))?;
    let format = meta_field(meta, "format")?;
    if format != FORMAT {
        return Err(Error::Metadata(format!(
            "format {format:?}, not {FORMAT:?}"
        )));
    }
    let version = meta_field(meta, "format_version")?;
    if version != FORMAT_VERSION.to_string() {
        return Err(Error::Metadata(format!(
            "format version {version:?}, this build reads {FORMAT_VERSION}"
        )));
    }
    let architecture = Architecture::from_name(meta_field(meta, "architecture")?)
        .map_err(|e| Error::Metadata(e.to_string()))?;
    let [c, h, w] = architecture.input_shape();
    let shape = meta_field(meta, "input_shape")?;
    if shape != format!("{c},{h},{w}") {
        return Err(Error::Metadata(format!(
            "input shape {shape:?} does not match {architecture} ({c},{h},{w})"
        )));
    }
    let scheme = meta_field(meta, "scheme")?.to_owned();
    check_scheme(&scheme)?;

    let st = SafeTensors::deserialize(bytes)?;
    let expected = Model::param_shapes(architecture);
    if st.len() != expected.len() {
        return Err(Error::Shape(format!(
            "{architecture} has {} tensors, checkpoint has {}",
            expected.len(),
            st.len()
        )));
    }
    let params = expected
        .into_iter()
        .map(|(name, shape, _)| {
            let t = st
                .tensor(&name)
                .map_err(|_| Error::Shape(format!("missing tensor {name}")))?;
            if t.dtype() != Dtype::F32 || t.shape() != shape.as_slice() {
                return Err(Error::Shape(format!(
                    "{name}: expected F32 {shape:?}, got {:?} {:?}",
                    t.dtype(),
                    t.shape()
                )));
            }
            let value = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Ok(Param { name, shape, value })
        })
        .collect::<Result<Vec<_>>>()?;
    let model = Model::from_params(architecture, params)?;
    Ok((
        model,
        CheckpointMeta {
            architecture,
            input_shape: [c, h, w],
            scheme,
        },
    ))
}

/// Writes `model` to `path` (see [`to_bytes`]).
///
/// # Errors
/// As [`to_bytes`], and [`Error::Io`].
pub fn save(path: &Path, model: &Model, scheme: &str) -> Result<()> {
    let bytes = to_bytes(model, scheme)?;
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads a checkpoint from `path` (see [`from_bytes`]).
///
/// # Errors
/// As [`from_bytes`], and [`Error::Io`].
pub fn load(path: &Path) -> Result<(Model, CheckpointMeta)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    from_bytes(&bytes)
}
