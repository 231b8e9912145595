//! End-to-end tests of `export-model` and `he-eval` on the built-in sample: the JSON contract
//! of issue 9, both modes, the hybrid (perceptual key, then CKKS), and bad inputs giving
//! `error:` with exit status 1.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

use crate::common::{assert_error, json_of, pixveil, train_on_sample};

fn he_eval(model: &Path, extra: &[&str]) -> Value {
    json_of(
        pixveil()
            .args(["he-eval", "--dataset", "sample-mnist", "--json", "--model"])
            .arg(model)
            .args(extra),
    )
}

const CONTRACT: [&str; 15] = [
    "mode",
    "images",
    "accuracy",
    "f1_macro",
    "plain_accuracy",
    "agreement",
    "precision_bits_min",
    "precision_bits_median",
    "latency_ms_p50",
    "latency_ms_p95",
    "images_per_s",
    "ct_in_bytes",
    "ct_out_bytes",
    "eval_key_bytes",
    "peak_rss_bytes",
];

fn export(dir: &Path, model: &str, seed: &str) -> PathBuf {
    let path = dir.join(format!("{model}-{seed}.safetensors"));
    pixveil()
        .args([
            "export-model",
            "--model",
            model,
            "--random",
            "--seed",
            seed,
            "-o",
        ])
        .arg(&path)
        .assert()
        .success();
    path
}

#[test]
fn export_model_is_seeded() {
    let dir = TempDir::new().unwrap();
    let sub = dir.path().join("again");
    std::fs::create_dir(&sub).unwrap();
    let load = |p: PathBuf| pixveil_nn::checkpoint::load(&p).unwrap().0;
    let a = load(export(dir.path(), "he-cnn", "3"));
    let b = load(export(&sub, "he-cnn", "3"));
    let c = load(export(dir.path(), "he-cnn", "4"));
    assert_eq!(a.params(), b.params(), "same seed, same weights");
    assert_ne!(a.params(), c.params());
    assert_error(
        pixveil()
            .args(["export-model", "--model", "he-cnn", "-o"])
            .arg(dir.path().join("x")),
        "--random",
    );
}

#[test]
fn he_eval_latency_and_throughput_contract() {
    let dir = TempDir::new().unwrap();
    let model = export(dir.path(), "tenseal-cnn", "1");
    for mode in ["latency", "throughput"] {
        let r = he_eval(&model, &["--limit", "6", "--mode", mode, "--threads", "2"]);
        for key in CONTRACT {
            assert!(r.get(key).is_some(), "{mode}: missing {key} in {r}");
        }
        assert_eq!(r["mode"], mode);
        assert_eq!(r["images"], 6);
        for key in ["accuracy", "agreement", "plain_accuracy", "f1_macro"] {
            let v = r[key].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{key} = {v}");
        }
        // Random weights: the encrypted model must still agree with the plaintext one.
        assert_eq!(r["agreement"].as_f64().unwrap(), 1.0, "{r}");
        assert!(r["precision_bits_min"].as_f64().unwrap() > 8.0, "{r}");
        assert!(r["ct_in_bytes"].as_f64().unwrap() > 0.0);
        assert!(r["eval_key_bytes"].as_u64().unwrap() > 0);
        let galois = r["galois_keys"].as_u64().unwrap();
        if mode == "latency" {
            assert!(galois > 0);
        } else {
            assert_eq!(galois, 0, "throughput mode needs no Galois key");
        }
    }
}

#[test]
fn he_eval_hybrid_needs_the_models_key() {
    let dir = TempDir::new().unwrap();
    let key = dir.path().join("pe.key");
    pixveil()
        .args(["keygen", "--scheme", "pe", "--shape", "28x28x1", "-o"])
        .arg(&key)
        .assert()
        .success();
    let model = dir.path().join("pe.safetensors");
    train_on_sample(
        "tenseal-cnn",
        &model,
        ["--epochs", "20", "--lr", "0.01", "--key"],
    )
    .arg(&key)
    .assert()
    .success();
    // Trained well enough that no two logits are within the 2^-10 the client rounds to
    // (a one-epoch model's near-uniform logits tie after rounding and flip the argmax).
    let mut args = vec!["--limit", "4", "--key"];
    let k = key.to_str().unwrap();
    args.push(k);
    let r = he_eval(&model, &args);
    assert_eq!(r["plan"]["scheme"], "pe:fixed");
    assert_eq!(r["agreement"].as_f64().unwrap(), 1.0, "{r}");
    // Without the key, a model trained on encrypted images is refused.
    assert_error(
        pixveil()
            .args(["he-eval", "--dataset", "sample-mnist", "--model"])
            .arg(&model),
        "--key",
    );
}

#[test]
fn he_eval_refuses_bad_models() {
    let dir = TempDir::new().unwrap();
    // Not HE-friendly (ReLU, max-pool).
    let small = dir.path().join("small.safetensors");
    train_on_sample("small-cnn", &small, ["--epochs", "1"])
        .assert()
        .success();
    assert_error(
        pixveil()
            .args(["he-eval", "--dataset", "sample-mnist", "--model"])
            .arg(&small),
        "ReLU",
    );
    // A corrupted checkpoint.
    let model = export(dir.path(), "tenseal-cnn", "2");
    let mut bytes = std::fs::read(&model).unwrap();
    bytes.truncate(bytes.len() / 2);
    let broken = dir.path().join("broken.safetensors");
    std::fs::write(&broken, bytes).unwrap();
    assert_error(
        pixveil()
            .args(["he-eval", "--dataset", "sample-mnist", "--model"])
            .arg(&broken),
        "cannot load model",
    );
    // Zero images.
    assert_error(
        pixveil()
            .args([
                "he-eval",
                "--dataset",
                "sample-mnist",
                "--limit",
                "0",
                "--model",
            ])
            .arg(&model),
        "--limit",
    );
}

/// A PyTorch `state_dict` saved with safetensors (no pixveil metadata) runs with `--arch`.
#[test]
fn he_eval_reads_plain_state_dicts() {
    use pixveil_nn::{Architecture, Model, ModelConfig};
    let dir = TempDir::new().unwrap();
    let model = Model::new(&ModelConfig::new(Architecture::TensealCnn, [1, 28, 28]), 4).unwrap();
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = model
        .params()
        .iter()
        .map(|p| {
            let b = p.value.iter().flat_map(|v| v.to_le_bytes()).collect();
            (p.name.clone(), p.shape.clone(), b)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = data
        .iter()
        .map(|(n, s, b)| {
            let v = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b);
            (n.clone(), v.unwrap())
        })
        .collect();
    let path = dir.path().join("state_dict.safetensors");
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    let r = he_eval(&path, &["--limit", "2", "--arch", "tenseal-cnn"]);
    assert_eq!(r["agreement"].as_f64().unwrap(), 1.0, "{r}");
    assert_eq!(r["plan"]["architecture"], "tenseal-cnn");
    // Without --arch the file has no pixveil metadata: a clear error.
    assert_error(
        pixveil()
            .args(["he-eval", "--dataset", "sample-mnist", "--model"])
            .arg(&path),
        "cannot load model",
    );
    // The wrong architecture does not fit the tensors.
    assert_error(
        pixveil()
            .args([
                "he-eval",
                "--dataset",
                "sample-mnist",
                "--arch",
                "he-cnn",
                "--model",
            ])
            .arg(&path),
        "cannot load model",
    );
}
