//! A build **without** the `insecure-params` feature cannot get parameters that skip the
//! security table, neither by deserializing a literal nor by loading a parameter file.
//!
//! These tests exist only when the feature is off, which `cargo test --workspace` never is
//! (pixveil-henn's dev-dependency enables it, and features unify across the workspace). CI
//! runs them on their own: `cargo test -p pixveil-ckks --locked --test secure_build`.
#![cfg(not(feature = "insecure-params"))]
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use pixveil_ckks::prelude::*;
use sha2::{Digest, Sha256};

/// Offset of the payload and length of the SHA-256 trailer (see `serialize`).
const HEADER_LEN: usize = pixveil_ckks::serialize::PAYLOAD_OFFSET;
const CHECKSUM_LEN: usize = 32;

#[test]
fn a_literal_without_security_level_does_not_deserialize() {
    let secure = r#"{"log_n":13,"log_q":[31,26,26,26,26,26],"log_p":[28,28],"log_scale":26,"security":"Bits128"}"#;
    let lit: ParametersLiteral = serde_json::from_str(secure).expect("a secure literal parses");
    assert_eq!(lit, Preset::Fast8192.literal());
    let insecure = secure.replace("Bits128", "None");
    let err = serde_json::from_str::<ParametersLiteral>(&insecure).unwrap_err();
    assert!(err.to_string().contains("unknown variant `None`"), "{err}");
}

#[test]
fn a_parameter_file_without_security_level_is_refused() {
    let mut bytes = Parameters::preset(Preset::Fast8192).unwrap().to_bytes();
    assert!(Parameters::from_bytes(&bytes).is_ok());
    // The payload starts with log_n, then the security tag; 0 is "none". Re-seal the
    // checksum so that only the tag is wrong.
    assert_eq!(bytes[HEADER_LEN + 1], 1);
    bytes[HEADER_LEN + 1] = 0;
    let body = bytes.len() - CHECKSUM_LEN;
    let sum = Sha256::digest(&bytes[..body]);
    bytes[body..].copy_from_slice(&sum);
    assert!(matches!(
        Parameters::from_bytes(&bytes),
        Err(Error::InvalidParameter {
            field: "security",
            ..
        })
    ));
}
