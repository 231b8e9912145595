//! `pixveil info`: what is in a key, manifest or data file. Never prints secrets.

use std::io::Read;

use anyhow::{Context, Result};
use pixveil_cipher::KeyFile;
use pixveil_core::format;
use pixveil_image::input;
use serde_json::json;

use pixveil_cipher::manifest::{self, Manifest};

use crate::cli::InfoArgs;

pub fn run(a: &InfoArgs) -> Result<()> {
    let value = describe(&a.path)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else if let Some(obj) = value.as_object() {
        for (k, v) in obj {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("{k:>14}: {text}");
        }
    }
    Ok(())
}

fn describe(path: &std::path::Path) -> Result<serde_json::Value> {
    if path.is_file() {
        let mut head = [0u8; 4];
        let n = std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 4 && head == format::MAGIC {
            // A stored key's bytes hold its secret: wiped when dropped.
            let bytes = zeroize::Zeroizing::new(
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
            );
            let kind = format::peek_kind(&bytes).with_context(|| format!("{}", path.display()))?;
            return match kind.as_str() {
                pixveil_cipher::keyfile::KIND => {
                    let info =
                        KeyFile::inspect(&bytes).with_context(|| format!("{}", path.display()))?;
                    let mut v = serde_json::to_value(info)?;
                    v["kind"] = json!("key");
                    Ok(v)
                }
                manifest::KIND => {
                    let m = Manifest::from_bytes(&bytes)
                        .with_context(|| format!("{}", path.display()))?;
                    Ok(json!({
                        "kind": "manifest",
                        "scheme": m.spec.name(),
                        "spec": m.spec,
                        "shape": m.shape.to_string(),
                        "mode": m.mode.to_string(),
                        "key_id": m.key_id,
                        "images": m.count,
                        "nonces": m.nonces.len(),
                    }))
                }
                // CKKS objects, encrypted-inference wire objects, …: the container's own
                // view (kind, metadata, body size), never the body.
                _ => {
                    let c =
                        format::inspect(&bytes).with_context(|| format!("{}", path.display()))?;
                    Ok(json!({
                        "kind": c.kind,
                        "metadata": c.meta,
                        "body_bytes": c.body_len,
                        "checksum": "ok",
                    }))
                }
            };
        }
    }
    let data = input::read_input(path)?;
    let mut counts = [0u64; 256];
    if let Some(labels) = &data.labels {
        for &l in labels {
            counts[usize::from(l)] += 1;
        }
    }
    let classes = counts.iter().rposition(|&c| c > 0).map_or(0, |i| i + 1);
    Ok(json!({
        "kind": "data",
        "format": data.format.to_string(),
        "gzip": data.gzip,
        "images": data.images.len(),
        "shape": data.images.shape().to_string(),
        "labels": data.labels.as_ref().map(|_| counts[..classes].to_vec()),
        "encrypted": manifest::path_for(path).exists(),
    }))
}
