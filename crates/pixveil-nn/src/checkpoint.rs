//! Safetensors checkpoints with versioned metadata, and training state for resuming.
//!
//! Tensors are named and laid out as the PyTorch state dict of the same model
//! (`conv1.weight` `[out, in, kh, kw]`, `fc1.weight` `[out, in]`, `bn1.running_mean`,
//! …): parameters and running statistics `F32`, `num_batches_tracked` an `I64` scalar,
//! so `model.load_state_dict(safetensors.torch.load_file(path))` works in PyTorch.
//!
//! Metadata (`__metadata__` of the header), all strings:
//!
//! | key              | value                                                  |
//! |------------------|--------------------------------------------------------|
//! | `format`         | `pixveil-nn`                                           |
//! | `format_version` | [`FORMAT_VERSION`]                                     |
//! | `architecture`   | [`Architecture::name`]                                 |
//! | `input_shape`    | `C,H,W`, e.g. `1,28,28`                                |
//! | `adaptation`     | `true` / `false` (paper A's adaptation network)        |
//! | `width`          | ResNet base width                                      |
//! | `classes`        | output classes                                         |
//! | `scheme`         | id of the input transform, e.g. `none`, `pe:fixed` — never a key |
//! | `key_id`         | optional: public id of the key the inputs were encrypted with (hex; as `pixveil info` shows it) — never the key |
//!
//! The training state ([`save_state`]) is a second safetensors file (format
//! `pixveil-nn-state`) with the model tensors under `model.` and the optimiser slots
//! under `opt{i}.`, plus the epoch count and optimiser kind and step.

use std::collections::HashMap;
use std::path::Path;

use pixveil_core::fsio;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::model::{Architecture, Model, ModelConfig, Param};
use crate::optim::{Optimizer, OptimizerState};
use crate::{Error, Result};

/// Version of the checkpoint layout written by this crate (1: TenSEAL CNN only, no
/// config keys; 2: any architecture, config keys, batch-norm buffers).
pub const FORMAT_VERSION: u32 = 2;

const FORMAT: &str = "pixveil-nn";
const STATE_FORMAT: &str = "pixveil-nn-state";

/// Longest accepted scheme id.
const MAX_SCHEME_LEN: usize = 64;

/// Checkpoint metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointMeta {
    /// The model configuration.
    pub config: ModelConfig,
    /// Identifier of the input transform / encryption scheme the model was trained on
    /// (`none` for plain images). Only an identifier, never key material.
    pub scheme: String,
    /// Public id of the key the training images were encrypted with (absent for plain
    /// images and in checkpoints written before it was recorded). Never key material.
    pub key_id: Option<String>,
}

/// Longest accepted key id.
const MAX_KEY_ID_LEN: usize = 64;

fn check_key_id(key_id: &str) -> Result<()> {
    if key_id.is_empty()
        || key_id.len() > MAX_KEY_ID_LEN
        || !key_id.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(Error::Metadata(format!(
            "key id must be 1..={MAX_KEY_ID_LEN} hex digits, got {key_id:?}"
        )));
    }
    Ok(())
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

fn is_counter(name: &str) -> bool {
    name.ends_with("num_batches_tracked")
}

/// Tensor bytes: `I64` for batch counters, `F32` otherwise.
fn encode(p: &Param) -> (Dtype, Vec<u8>) {
    if is_counter(&p.name) {
        // A batch counter is a scalar buffer: exactly one value (model.rs builds it so).
        let v = p.value[0];
        (Dtype::I64, (v as i64).to_le_bytes().to_vec())
    } else {
        (
            Dtype::F32,
            p.value.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }
}

fn serialize(tensors: Vec<(String, &Param)>, metadata: HashMap<String, String>) -> Result<Vec<u8>> {
    let encoded: Vec<(String, Vec<usize>, Dtype, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, p)| {
            let (dtype, bytes) = encode(p);
            (name, p.shape.clone(), dtype, bytes)
        })
        .collect();
    let views = encoded
        .iter()
        .map(|(name, shape, dtype, bytes)| {
            Ok((name.clone(), TensorView::new(*dtype, shape.clone(), bytes)?))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(safetensors::serialize(views, Some(metadata))?)
}

fn config_metadata(config: &ModelConfig) -> Vec<(String, String)> {
    let [c, h, w] = config.input_shape;
    vec![
        ("architecture".into(), config.architecture.name().into()),
        ("input_shape".into(), format!("{c},{h},{w}")),
        ("adaptation".into(), config.adaptation.to_string()),
        ("width".into(), config.width.to_string()),
        ("classes".into(), config.classes.to_string()),
    ]
}

/// Serialises `model` with metadata naming `scheme` (no key id: see [`to_bytes_keyed`]).
///
/// # Errors
/// [`Error::Metadata`] for an invalid scheme id; [`Error::SafeTensors`] if
/// serialisation fails.
pub fn to_bytes(model: &Model, scheme: &str) -> Result<Vec<u8>> {
    to_bytes_keyed(model, scheme, None)
}

/// Serialises `model` with metadata naming `scheme` and, for a model trained on encrypted
/// images, the public `key_id` of their key (so that using it with another key can be
/// refused).
///
/// # Errors
/// [`Error::Metadata`] for an invalid scheme id or key id; [`Error::SafeTensors`] if
/// serialisation fails.
pub fn to_bytes_keyed(model: &Model, scheme: &str, key_id: Option<&str>) -> Result<Vec<u8>> {
    check_scheme(scheme)?;
    if let Some(id) = key_id {
        check_key_id(id)?;
    }
    let mut metadata: HashMap<String, String> =
        config_metadata(model.config()).into_iter().collect();
    metadata.insert("format".into(), FORMAT.into());
    metadata.insert("format_version".into(), FORMAT_VERSION.to_string());
    metadata.insert("scheme".into(), scheme.into());
    if let Some(id) = key_id {
        metadata.insert("key_id".into(), id.into());
    }
    let tensors = model
        .params()
        .iter()
        .chain(model.buffers())
        .map(|p| (p.name.clone(), p))
        .collect();
    serialize(tensors, metadata)
}

fn meta_field<'a>(meta: &'a HashMap<String, String>, key: &str) -> Result<&'a str> {
    meta.get(key)
        .map(String::as_str)
        .ok_or_else(|| Error::Metadata(format!("missing {key:?}")))
}

fn parse_num(meta: &HashMap<String, String>, key: &str) -> Result<usize> {
    let v = meta_field(meta, key)?;
    v.parse()
        .map_err(|_| Error::Metadata(format!("{key}: {v:?} is not a number")))
}

fn parse_config(meta: &HashMap<String, String>) -> Result<ModelConfig> {
    let architecture = Architecture::from_name(meta_field(meta, "architecture")?)
        .map_err(|e| Error::Metadata(e.to_string()))?;
    let shape = meta_field(meta, "input_shape")?;
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::Metadata(format!("input shape {shape:?} is not C,H,W")))?;
    let [c, h, w] = dims[..] else {
        return Err(Error::Metadata(format!(
            "input shape {shape:?} is not C,H,W"
        )));
    };
    let adaptation = match meta_field(meta, "adaptation")? {
        "true" => true,
        "false" => false,
        other => return Err(Error::Metadata(format!("adaptation: {other:?}"))),
    };
    Ok(ModelConfig {
        architecture,
        input_shape: [c, h, w],
        adaptation,
        width: parse_num(meta, "width")?,
        classes: parse_num(meta, "classes")?,
    })
}

fn read_tensor(st: &SafeTensors<'_>, name: &str) -> Result<Param> {
    let t = st.tensor(name).map_err(|_| Error::MissingTensor {
        name: name.to_owned(),
    })?;
    let value = match t.dtype() {
        Dtype::F32 => t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::I64 if is_counter(name) => t
            .data()
            .chunks_exact(8)
            .map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                i64::from_le_bytes(a) as f32
            })
            .collect(),
        d => {
            return Err(Error::UnsupportedDtype {
                name: name.to_owned(),
                dtype: format!("{d:?}"),
            })
        }
    };
    Ok(Param {
        name: name.to_owned(),
        shape: t.shape().to_vec(),
        value,
    })
}

fn header(bytes: &[u8]) -> Result<HashMap<String, String>> {
    let (_, header) = SafeTensors::read_metadata(bytes)?;
    header
        .metadata()
        .clone()
        .ok_or_else(|| Error::Metadata("no __metadata__".into()))
}

fn check_format(meta: &HashMap<String, String>, format: &str) -> Result<()> {
    let found = meta_field(meta, "format")?;
    if found != format {
        return Err(Error::Metadata(format!("format {found:?}, not {format:?}")));
    }
    let version = meta_field(meta, "format_version")?;
    if version != FORMAT_VERSION.to_string() {
        return Err(Error::Metadata(format!(
            "format version {version:?}, this build reads {FORMAT_VERSION}"
        )));
    }
    Ok(())
}

/// Every tensor of a safetensors file, by name.
fn read_tensors(bytes: &[u8]) -> Result<Vec<Param>> {
    let st = SafeTensors::deserialize(bytes)?;
    st.names()
        .into_iter()
        .map(|name| read_tensor(&st, name))
        .collect()
}

/// Parses a checkpoint written by [`to_bytes`].
///
/// # Errors
/// [`Error::SafeTensors`] for a malformed or truncated container; [`Error::Metadata`]
/// for a missing or foreign format, another version, an unknown architecture or a
/// malformed field; [`Error::Shape`] for extra or misshapen tensors (including an input
/// shape the tensors do not fit); [`Error::MissingTensor`], [`Error::NonFiniteTensor`],
/// [`Error::UnsupportedDtype`].
pub fn from_bytes(bytes: &[u8]) -> Result<(Model, CheckpointMeta)> {
    let meta = header(bytes)?;
    check_format(&meta, FORMAT)?;
    let config = parse_config(&meta)?;
    let scheme = meta_field(&meta, "scheme")?.to_owned();
    check_scheme(&scheme)?;
    let key_id = meta.get("key_id").cloned();
    if let Some(id) = &key_id {
        check_key_id(id)?;
    }
    let model = Model::from_tensors(&config, read_tensors(bytes)?)?;
    Ok((
        model,
        CheckpointMeta {
            config,
            scheme,
            key_id,
        },
    ))
}

/// Parses a safetensors file of PyTorch state-dict tensors without pixveil metadata (e.g.
/// `safetensors.torch.save_file(model.state_dict(), path)` of the same module), as a model
/// of `config` trained on plain images. A pixveil checkpoint is read as by [`from_bytes`],
/// and its configuration must equal `config`.
///
/// # Errors
/// As [`from_bytes`]; [`Error::Metadata`] if a pixveil checkpoint has another
/// configuration.
pub fn from_state_dict_bytes(
    bytes: &[u8],
    config: &ModelConfig,
) -> Result<(Model, CheckpointMeta)> {
    let (_, st_header) = SafeTensors::read_metadata(bytes)?;
    let pixveil = st_header
        .metadata()
        .as_ref()
        .is_some_and(|m| m.get("format").is_some_and(|f| f == FORMAT));
    if pixveil {
        let (model, meta) = from_bytes(bytes)?;
        if &meta.config != config {
            return Err(Error::Metadata(format!(
                "the checkpoint is a {} for {:?}, not the {} for {:?} asked for",
                meta.config.architecture,
                meta.config.input_shape,
                config.architecture,
                config.input_shape
            )));
        }
        return Ok((model, meta));
    }
    let model = Model::from_tensors(config, read_tensors(bytes)?)?;
    Ok((
        model,
        CheckpointMeta {
            config: *config,
            scheme: "none".into(),
            key_id: None,
        },
    ))
}

/// Writes `bytes` to `path` with pixveil-core's one atomic writer: a failure or a crash never
/// leaves a half-written checkpoint.
fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    fsio::write_atomic(path, bytes, fsio::Access::Ordinary).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes `model` to `path` atomically (see [`to_bytes`]).
///
/// # Errors
/// As [`to_bytes`], and [`Error::Io`].
pub fn save(path: &Path, model: &Model, scheme: &str) -> Result<()> {
    write(path, &to_bytes(model, scheme)?)
}

/// Writes `model` to `path` atomically with its key id (see [`to_bytes_keyed`]).
///
/// # Errors
/// As [`to_bytes_keyed`], and [`Error::Io`].
pub fn save_keyed(path: &Path, model: &Model, scheme: &str, key_id: Option<&str>) -> Result<()> {
    write(path, &to_bytes_keyed(model, scheme, key_id)?)
}

/// Writes a model of `config` with weights drawn from `seed` (PyTorch's default
/// initialisation, plain-image scheme `none`) to `path`: identical weights for timing peers
/// on the same model.
///
/// # Errors
/// As [`Model::new`] and [`save`].
pub fn write_random(path: &Path, config: &ModelConfig, seed: u64) -> Result<Model> {
    let model = Model::new(config, seed)?;
    save(path, &model, "none")?;
    Ok(model)
}

/// Reads a checkpoint from `path` (see [`from_bytes`]).
///
/// # Errors
/// As [`from_bytes`], and [`Error::Io`].
pub fn load(path: &Path) -> Result<(Model, CheckpointMeta)> {
    from_bytes(&read(path)?)
}

/// Saves everything needed to resume training after `epoch` completed epochs: the model
/// and the optimiser state.
///
/// # Errors
/// [`Error::SafeTensors`] or [`Error::Io`].
pub fn save_state(path: &Path, model: &Model, opt: &dyn Optimizer, epoch: usize) -> Result<()> {
    let state = opt.state();
    let mut metadata: HashMap<String, String> =
        config_metadata(model.config()).into_iter().collect();
    metadata.insert("format".into(), STATE_FORMAT.into());
    metadata.insert("format_version".into(), FORMAT_VERSION.to_string());
    metadata.insert("epoch".into(), epoch.to_string());
    metadata.insert("optimizer".into(), state.kind.clone());
    metadata.insert("step".into(), state.step.to_string());
    metadata.insert("slots".into(), state.slots.len().to_string());
    let slot_params: Vec<Vec<Param>> = state
        .slots
        .iter()
        .map(|slot| {
            slot.iter()
                .zip(model.params())
                .map(|(v, p)| Param {
                    name: p.name.clone(),
                    shape: p.shape.clone(),
                    value: v.clone(),
                })
                .collect()
        })
        .collect();
    let mut tensors: Vec<(String, &Param)> = model
        .params()
        .iter()
        .chain(model.buffers())
        .map(|p| (format!("model.{}", p.name), p))
        .collect();
    for (i, slot) in slot_params.iter().enumerate() {
        tensors.extend(slot.iter().map(|p| (format!("opt{i}.{}", p.name), p)));
    }
    write(path, &serialize(tensors, metadata)?)
}

/// Restores [`save_state`] into `model` and `opt`; returns the number of completed
/// epochs.
///
/// # Errors
/// [`Error::Io`], [`Error::SafeTensors`], [`Error::Metadata`] (another format, version,
/// or a model configuration that differs from `model`'s), [`Error::Shape`] (tensors that
/// do not fit, or an optimiser of another kind).
pub fn load_state(path: &Path, model: &mut Model, opt: &mut dyn Optimizer) -> Result<usize> {
    let bytes = read(path)?;
    let meta = header(&bytes)?;
    check_format(&meta, STATE_FORMAT)?;
    let config = parse_config(&meta)?;
    if config != *model.config() {
        return Err(Error::Metadata(format!(
            "the state was saved for {config:?}, not {:?}",
            model.config()
        )));
    }
    let epoch = parse_num(&meta, "epoch")?;
    let step = meta_field(&meta, "step")?
        .parse()
        .map_err(|_| Error::Metadata("step is not a number".into()))?;
    let slots = parse_num(&meta, "slots")?;
    let st = SafeTensors::deserialize(&bytes)?;
    let mut model_tensors = Vec::new();
    let mut slot_values: Vec<Vec<Vec<f32>>> = vec![Vec::new(); slots.min(4)];
    for p in model.params().iter().chain(model.buffers()) {
        let mut t = read_tensor(&st, &format!("model.{}", p.name))?;
        t.name.clone_from(&p.name);
        model_tensors.push(t);
    }
    for (i, slot) in slot_values.iter_mut().enumerate() {
        for p in model.params() {
            let t = read_tensor(&st, &format!("opt{i}.{}", p.name))?;
            if t.shape != p.shape {
                return Err(Error::Shape(format!("opt{i}.{}: wrong shape", p.name)));
            }
            slot.push(t.value);
        }
    }
    let restored = Model::from_tensors(&config, model_tensors)?;
    opt.load_state(OptimizerState {
        kind: meta_field(&meta, "optimizer")?.to_owned(),
        step,
        slots: slot_values,
    })?;
    *model = restored;
    Ok(epoch)
}
