// Bodies of the fuzz targets (issue 12, item 3), shared by the cargo-fuzz binaries
// (`fuzz/fuzz_targets/*.rs`) and the stable replay test
// (`crates/pixveil/tests/e2e/fuzz_corpora.rs`). Each function feeds untrusted bytes to one family
// of decoders and ignores the outcome: a decoder may return `Ok` or `Err`, never panic, hang
// or allocate beyond its documented cap.
//
// Containers that end in a SHA-256 of everything before it (pixveil-core's `PXVL` format,
// which CKKS objects and pixveil-henn's wire objects use too, and the legacy CKKS `PXCK` and
// henn `PXHN` frames, still read) are decoded twice: as given, and with that trailing digest
// recomputed, so that mutations reach the parsing behind the checksum.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use pixveil_ckks::prelude::{
    Ciphertext, GaloisKeys, Parameters, ParametersLiteral, Plaintext, PublicKey, RelinKey,
    SecretKey, SecurityLevel,
};
use sha2::{Digest, Sha256};

/// Names of the targets, i.e. of the corpus folders `fuzz/corpus/<name>/`.
pub const TARGETS: [&str; 8] = [
    "idx",
    "cifar",
    "gzip",
    "image",
    "container",
    "ckks",
    "henn",
    "checkpoint",
];

/// Runs target `name` on `data`; `false` for an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "idx" => idx(data),
        "cifar" => cifar(data),
        "gzip" => gzip(data),
        "image" => image(data),
        "container" => container(data),
        "ckks" => ckks(data),
        "henn" => henn(data),
        "checkpoint" => checkpoint(data),
        _ => return false,
    }
    true
}

const DIGEST_LEN: usize = 32;

/// `data` with its last 32 bytes replaced by the SHA-256 of the bytes before them (`None` if
/// `data` is too short to hold a digest).
pub fn with_digest(data: &[u8]) -> Option<Vec<u8>> {
    let split = data.len().checked_sub(DIGEST_LEN)?;
    let mut out = data.to_vec();
    let digest = Sha256::digest(&data[..split]);
    out[split..].copy_from_slice(&digest);
    Some(out)
}

/// Calls `f` on `data` and on `data` with a recomputed trailing digest.
fn both(data: &[u8], mut f: impl FnMut(&[u8])) {
    f(data);
    if let Some(fixed) = with_digest(data) {
        if fixed != data {
            f(&fixed);
        }
    }
}

fn name() -> &'static Path {
    Path::new("fuzz-input")
}

/// IDX image and label files (raw or gzip): `pixveil_image::idx::decode_{images,labels}`.
pub fn idx(data: &[u8]) {
    let _ = pixveil_image::idx::decode_images(data, name());
    let _ = pixveil_image::idx::decode_labels(data, name());
}

/// CIFAR-10 binary batches (raw or gzip): `pixveil_image::cifar::decode_batch`.
pub fn cifar(data: &[u8]) {
    let _ = pixveil_image::cifar::decode_batch(data, name());
}

/// Gzip input: the same entry points as `idx` and `cifar`, on gzip streams only (inputs
/// that do not open with the gzip magic are skipped), so the time goes to the decompressor
/// and its size cap.
pub fn gzip(data: &[u8]) {
    if !data.starts_with(&[0x1f, 0x8b]) {
        return;
    }
    let _ = pixveil_image::idx::decode_labels(data, name());
    let _ = pixveil_image::idx::decode_images(data, name());
    let _ = pixveil_image::cifar::decode_batch(data, name());
}

/// PNG and JPEG files: `pixveil_image::files::decode_image`.
pub fn image(data: &[u8]) {
    let _ = pixveil_image::files::decode_image(data, name());
}

/// pixveil-core containers (`PXVL`) read from files: key files (`KeyFile::from_bytes`,
/// `KeyFile::upgrade_legacy`, `KeyFile::inspect`) and nonce manifests
/// (`Manifest::from_bytes`); the kind tag in the header tells them apart. Key files are read
/// without a passphrase: one would run Argon2id at the costs the file names, capped by
/// `pixveil_core::kdf::Argon2Params::check` but seconds long at the cap.
pub fn container(data: &[u8]) {
    both(data, |d| {
        let _ = pixveil_core::format::peek_kind(d);
        let _ = pixveil_cipher::KeyFile::inspect(d);
        let _ = pixveil_cipher::KeyFile::from_bytes(d, None);
        let _ = pixveil_cipher::KeyFile::upgrade_legacy(d, None);
        let _ = pixveil_cipher::Manifest::from_bytes(d);
    });
}

/// The small insecure ring the CKKS and HE-wire targets decode objects under.
pub fn small_params() -> Arc<Parameters> {
    static PARAMS: OnceLock<Arc<Parameters>> = OnceLock::new();
    PARAMS
        .get_or_init(|| {
            Parameters::new(&ParametersLiteral {
                log_n: 4,
                log_q: vec![30, 25],
                log_p: vec![30],
                log_scale: 20,
                security: SecurityLevel::None,
            })
            .expect("the fuzzing ring is valid")
        })
        .clone()
}

/// The plan id the HE-wire target expects.
pub const PLAN_ID: [u8; 16] = *b"pixveil-fuzzplan";

/// CKKS objects (`from_bytes` of each), chosen by the first byte: 0 parameters (the checked
/// loader every shipped reader uses), 1 secret key, 2 public key, 3 relinearization key,
/// 4 Galois keys, 5 ciphertext, 6 plaintext; objects are read under [`small_params`].
pub fn ckks(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let p = small_params();
    both(rest, |d| match kind {
        0 => drop(Parameters::from_bytes(d)),
        1 => drop(SecretKey::from_bytes(&p, d)),
        2 => drop(PublicKey::from_bytes(&p, d)),
        3 => drop(RelinKey::from_bytes(&p, d)),
        4 => drop(GaloisKeys::from_bytes(&p, d)),
        5 => drop(Ciphertext::from_bytes(&p, d)),
        6 => drop(Plaintext::from_bytes(&p, d)),
        _ => {}
    });
}

/// Encrypted-inference objects exchanged with `pixveil serve`, chosen by the first byte:
/// 0 evaluation keys, 1 encrypted input, 2 encrypted scores (`pixveil_henn::wire`, under
/// [`small_params`] and [`PLAN_ID`]), 3 a plan spec (`PlanSpec::from_json`, then its
/// parameters, as the client builds them, for a checked security level).
pub fn henn(data: &[u8]) {
    use pixveil_henn::{Encrypted, EvaluationKeys, PlanSpec};
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let p = small_params();
    match kind {
        0 => both(rest, |d| drop(EvaluationKeys::from_bytes(&p, &PLAN_ID, d))),
        1 => both(rest, |d| drop(Encrypted::input_from_bytes(&p, &PLAN_ID, d))),
        2 => both(rest, |d| {
            drop(Encrypted::scores_from_bytes(&p, &PLAN_ID, d))
        }),
        3 => {
            // The ring of a spec: only checked levels, as in a shipped build (this crate's
            // `insecure-params` would otherwise let a spec ask for any unchecked ring).
            match PlanSpec::from_json(rest) {
                Ok(spec) if spec.params.security.is_checked() => drop(spec.parameters()),
                _ => {}
            }
        }
        _ => {}
    }
}

/// Model checkpoints (safetensors): `checkpoint::from_bytes`, and
/// `checkpoint::from_state_dict_bytes` for a `tenseal-cnn` on 1×28×28 images.
pub fn checkpoint(data: &[u8]) {
    use pixveil_nn::{checkpoint, Architecture, ModelConfig};
    let _ = checkpoint::from_bytes(data);
    let config = ModelConfig::new(Architecture::TensealCnn, [1, 28, 28]);
    let _ = checkpoint::from_state_dict_bytes(data, &config);
}
