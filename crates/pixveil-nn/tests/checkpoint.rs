//! Safetensors round trip and metadata validation.
#![allow(clippy::unwrap_used)]

use pixveil_nn::checkpoint::{from_bytes, to_bytes};
use pixveil_nn::{load, save, Architecture, Error, Model, FORMAT_VERSION};

/// Rewrites the JSON header of a safetensors file (same length keeps offsets valid).
fn patch_header(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let n = usize::try_from(u64::from_le_bytes(bytes[..8].try_into().unwrap())).unwrap();
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    assert!(header.contains(from), "{header}");
    let mut out = bytes[..8].to_vec();
    out.extend(header.replacen(from, to, 1).bytes());
    out.extend(&bytes[8 + n..]);
    out
}

#[test]
fn round_trip_keeps_weights_and_metadata() {
    let model = Model::new(Architecture::TensealCnn, 5);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    save(&path, &model, "pixveil-v1").unwrap();
    let (back, meta) = load(&path).unwrap();
    assert_eq!(back, model);
    assert_eq!(meta.architecture, Architecture::TensealCnn);
    assert_eq!(meta.input_shape, [1, 28, 28]);
    assert_eq!(meta.scheme, "pixveil-v1");
    assert_eq!(FORMAT_VERSION, 1);
    assert!(matches!(
        load(&dir.path().join("missing")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn bad_checkpoints_are_rejected() {
    let model = Model::new(Architecture::TensealCnn, 5);
    let good = to_bytes(&model, "none").unwrap();
    assert!(from_bytes(&good).is_ok());
    // Truncated anywhere: header, data.
    for cut in [0, 4, 8, 100, good.len() / 2, good.len() - 1] {
        assert!(from_bytes(&good[..cut]).is_err(), "cut at {cut}");
    }
    // Wrong version, architecture, format, input shape.
    let v = patch_header(
        &good,
        "\"format_version\":\"1\"",
        "\"format_version\":\"2\"",
    );
    assert!(matches!(from_bytes(&v), Err(Error::Metadata(_))));
    let a = patch_header(&good, "tenseal-cnn", "tenseal-xyz");
    assert!(matches!(from_bytes(&a), Err(Error::Metadata(_))));
    let f = patch_header(&good, "\"pixveil-nn\"", "\"pixveil-xx\"");
    assert!(matches!(from_bytes(&f), Err(Error::Metadata(_))));
    let s = patch_header(&good, "1,28,28", "3,28,28");
    assert!(matches!(from_bytes(&s), Err(Error::Metadata(_))));
    // A renamed tensor.
    let t = patch_header(&good, "fc1.bias", "fc9.bias");
    assert!(matches!(from_bytes(&t), Err(Error::Shape(_))));
    // Invalid scheme ids (a key must never be stored, nor anything odd).
    assert!(to_bytes(&model, "").is_err());
    assert!(to_bytes(&model, "key=00112233").is_err());
    assert!(to_bytes(&model, &"a".repeat(65)).is_err());
}
