//! End-to-end tests of `train`, `eval`, `predict`, `experiments` and `bench train` on the
//! built-in sample (204 training / 52 held-out MNIST images): JSON contracts, checkpoints with
//! metadata, key and scheme checks, resume, and bad inputs giving `error:` with exit status 1.

use std::{fs, path::Path};

use predicates::prelude::*;
use serde_json::Value;
use tempfile::TempDir;

use crate::common::{
    assert_error, json_of, keygen, pixveil, train_on_sample, train_sample as train,
};

/// The `__metadata__` of a safetensors file.
fn safetensors_metadata(path: &Path) -> Value {
    let bytes = fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header["__metadata__"].clone()
}

/// Three sample images as an IDX file.
fn write_images(path: &Path) {
    let ds = pixveil_image::sample::load(pixveil_image::DatasetKind::Mnist).unwrap();
    let mut images = ds.images;
    images.truncate(3);
    pixveil_image::idx::write_images(path, &images, true).unwrap();
}

#[test]
fn train_eval_predict_plain_sample() {
    let dir = TempDir::new().unwrap();
    let model = dir.path().join("m.safetensors");
    let r = train(&model, "10", &[]);
    for k in [
        "model",
        "dataset",
        "scheme",
        "epochs",
        "train_seconds",
        "test_accuracy",
        "key_mode",
        "augment",
        "adaptation",
        "batch_size",
        "optimizer",
        "lr",
        "train_images",
        "test_images",
        "train_source",
        "test_loss",
        "history",
    ] {
        assert!(r.get(k).is_some(), "missing {k} in {r}");
    }
    assert_eq!(r["model"], "tenseal-cnn");
    assert_eq!(r["dataset"], "sample-mnist");
    assert_eq!(r["scheme"], "none");
    assert_eq!(r["key_mode"], "none");
    assert_eq!(r["augment"], "none");
    assert_eq!(r["optimizer"], "adam");
    assert_eq!(r["epochs"], 10);
    assert_eq!(r["train_source"], "test-split");
    assert_eq!(
        (r["train_images"].as_u64(), r["test_images"].as_u64()),
        (Some(204), Some(52))
    );
    assert!(r["train_seconds"].as_f64().unwrap() > 0.0);
    // A real check: the loss falls and the held-out accuracy beats chance (10 %) widely.
    let h = r["history"].as_array().unwrap();
    assert_eq!(h.len(), 10);
    for k in [
        "epoch",
        "train_loss",
        "train_accuracy",
        "test_accuracy",
        "lr",
        "seconds",
    ] {
        assert!(h[0].get(k).is_some(), "missing {k} in history");
    }
    let (first, last) = (
        h[0]["train_loss"].as_f64().unwrap(),
        h[9]["train_loss"].as_f64().unwrap(),
    );
    assert!(last < 0.5 * first, "loss {first} -> {last}");
    let acc = r["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.5, "test accuracy {acc}");

    // Checkpoint with metadata, metrics and resume state beside it.
    let meta = safetensors_metadata(&model);
    assert_eq!(meta["architecture"], "tenseal-cnn");
    assert_eq!(meta["scheme"], "none");
    let metrics: Value =
        serde_json::from_slice(&fs::read(dir.path().join("m.safetensors.metrics.json")).unwrap())
            .unwrap();
    assert_eq!(metrics["test_accuracy"], r["test_accuracy"]);
    assert!(dir.path().join("m.safetensors.state").is_file());

    // eval reproduces train's figure on the same held-out images.
    let e = json_of(
        pixveil()
            .args(["eval", "--dataset", "sample-mnist", "--json", "--model"])
            .arg(&model),
    );
    assert_eq!(e["test_accuracy"], r["test_accuracy"]);
    assert_eq!(
        (e["images"].as_u64(), e["scheme"].as_str()),
        (Some(52), Some("none"))
    );
    let e = json_of(
        pixveil()
            .args([
                "eval",
                "--dataset",
                "sample-mnist",
                "--limit",
                "10",
                "--json",
                "--model",
            ])
            .arg(&model),
    );
    assert_eq!(e["images"], 10);

    // predict: one prediction per image, probabilities summing to 1.
    let imgs = dir.path().join("three-idx3-ubyte.gz");
    write_images(&imgs);
    let p = json_of(
        pixveil()
            .args(["predict", "--json", "--model"])
            .arg(&model)
            .arg(&imgs),
    );
    let preds = p["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 3);
    for q in preds {
        let probs = q["probabilities"].as_array().unwrap();
        assert_eq!(probs.len(), 10);
        let sum: f64 = probs.iter().map(|v| v.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-3, "{sum}");
        assert!(q["class"].as_u64().unwrap() < 10);
    }
    pixveil()
        .args(["predict", "--model"])
        .arg(&model)
        .arg(&imgs)
        .assert()
        .success()
        .stdout(predicate::str::contains("three-idx3-ubyte.gz#2"));
}

#[test]
fn fixed_key_training_and_scheme_checks() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let pe = keygen(d, "pe.key", "pe", "28x28x1", "fixed");
    let lg = keygen(d, "lg.key", "logistic", "28x28x1", "fixed");
    let model = d.join("pe.st");
    let r = train(
        &model,
        "2",
        &[
            "--key",
            pe.to_str().unwrap(),
            "--augment",
            "after",
            "--scheme",
            "pe",
        ],
    );
    assert_eq!(r["scheme"], "pe:fixed");
    assert_eq!(r["key_mode"], "fixed");
    assert_eq!(
        (r["augment"].as_str(), r["shift"].as_u64()),
        (Some("after"), Some(2))
    );
    assert_eq!(r["hflip"], false);
    assert_eq!(r["key_id"].as_str().unwrap().len(), 16);
    assert_eq!(safetensors_metadata(&model)["scheme"], "pe:fixed");
    // Never key material in the outputs.
    let key_bytes = fs::read(&pe).unwrap();
    assert!(key_bytes.len() > 32);

    let e = json_of(
        pixveil()
            .args(["eval", "--dataset", "sample-mnist", "--json", "--model"])
            .arg(&model)
            .arg("--key")
            .arg(&pe),
    );
    assert_eq!(e["test_accuracy"], r["test_accuracy"]);
    assert_eq!(e["scheme"], "pe:fixed");
    assert_error(
        pixveil()
            .args(["eval", "--dataset", "sample-mnist", "--model"])
            .arg(&model),
        "--key",
    );
    assert_error(
        pixveil()
            .args(["eval", "--dataset", "sample-mnist", "--model"])
            .arg(&model)
            .arg("--key")
            .arg(&lg),
        "scheme mismatch",
    );
    pixveil()
        .args(["eval", "--dataset", "sample-mnist", "--plain", "--model"])
        .arg(&model)
        .assert()
        .success();
    // --scheme is checked against the key.
    assert_error(
        train_on_sample(
            "tenseal-cnn",
            &d.join("x.st"),
            ["--epochs", "1", "--scheme", "le", "--key"],
        )
        .arg(&pe),
        "--scheme le",
    );

    // predict: the key encrypts plain inputs; --encrypted takes ciphertexts without a key.
    let imgs = d.join("three-idx3-ubyte.gz");
    write_images(&imgs);
    let enc = d.join("enc-idx3-ubyte.gz");
    pixveil()
        .arg("encrypt")
        .arg("--key")
        .arg(&pe)
        .arg(&imgs)
        .arg("-o")
        .arg(&enc)
        .assert()
        .success();
    let a = json_of(
        pixveil()
            .args(["predict", "--json", "--model"])
            .arg(&model)
            .arg("--key")
            .arg(&pe)
            .arg(&imgs),
    );
    let b = json_of(
        pixveil()
            .args(["predict", "--json", "--encrypted", "--model"])
            .arg(&model)
            .arg(&enc),
    );
    for (x, y) in a["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["predictions"].as_array().unwrap())
    {
        assert_eq!(x["probabilities"], y["probabilities"]);
    }
    assert_error(
        pixveil()
            .args(["predict", "--model"])
            .arg(&model)
            .arg(&imgs),
        "--encrypted",
    );
    assert_error(
        pixveil()
            .args(["predict", "--model"])
            .arg(&model)
            .arg("--key")
            .arg(&lg)
            .arg(&imgs),
        "scheme mismatch",
    );
}

#[test]
fn per_image_keys_and_passphrase_keys() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let k = keygen(d, "pi.key", "pe", "28x28x1", "per-image");
    let r = train(
        &d.join("pi.st"),
        "1",
        &[
            "--key",
            k.to_str().unwrap(),
            "--augment",
            "before",
            "--no-hflip",
        ],
    );
    assert_eq!(
        (r["scheme"].as_str(), r["key_mode"].as_str()),
        (Some("pe:per-image"), Some("per-image"))
    );
    assert_eq!(
        (r["augment"].as_str(), r["hflip"].as_bool()),
        (Some("before"), Some(false))
    );
    let e = json_of(
        pixveil()
            .args(["eval", "--dataset", "sample-mnist", "--json", "--model"])
            .arg(d.join("pi.st"))
            .arg("--key")
            .arg(&k),
    );
    assert_eq!(e["scheme"], "pe:per-image");
    // A passphrase-protected key (Argon2id) is read with --passphrase-file.
    let pass = d.join("pass.txt");
    fs::write(&pass, "correct horse\n").unwrap();
    let key = d.join("pp.key");
    pixveil()
        .args([
            "keygen",
            "--scheme",
            "logistic",
            "--shape",
            "28x28x1",
            "--passphrase-file",
        ])
        .arg(&pass)
        .arg("-o")
        .arg(&key)
        .assert()
        .success();
    let r = train(
        &d.join("pp.st"),
        "1",
        &[
            "--key",
            key.to_str().unwrap(),
            "--passphrase-file",
            pass.to_str().unwrap(),
        ],
    );
    assert_eq!(r["scheme"], "logistic:fixed");
    assert_error(
        train_on_sample("tenseal-cnn", &d.join("x.st"), ["--epochs", "1", "--key"]).arg(&key),
        "passphrase",
    );
}

#[test]
fn resume_continues_bit_exactly() {
    let dir = TempDir::new().unwrap();
    let a = dir.path().join("a.st");
    let b = dir.path().join("b.st");
    train(&a, "2", &[]);
    let resumed = train(&a, "3", &["--resume"]);
    let straight = train(&b, "3", &[]);
    assert_eq!(resumed["epochs"], 3);
    assert_eq!(resumed["history"].as_array().unwrap().len(), 3);
    assert_eq!(resumed["test_accuracy"], straight["test_accuracy"]);
    assert_eq!(
        resumed["history"][2]["train_loss"],
        straight["history"][2]["train_loss"]
    );
    assert_eq!(resumed["test_loss"], straight["test_loss"]);
    assert_error(
        &mut train_on_sample(
            "tenseal-cnn",
            &dir.path().join("none.st"),
            ["--epochs", "3", "--resume"],
        ),
        "nothing to resume",
    );
}

#[test]
fn bad_inputs_fail_with_one_error_line() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let out = d.join("m.st");
    let train_cmd = |extra: &[&str]| {
        let mut c = pixveil();
        c.args(["train", "--epochs", "1"]).args(extra);
        c
    };
    // Model that does not take the dataset's images.
    assert_error(
        &mut train_cmd(&[
            "--dataset",
            "sample-cifar10",
            "--model",
            "tenseal-cnn",
            "-o",
            out.to_str().unwrap(),
        ]),
        "tenseal-cnn",
    );
    assert_error(
        &mut train_cmd(&[
            "--dataset",
            "sample-mnist",
            "--model",
            "vgg16",
            "-o",
            out.to_str().unwrap(),
        ]),
        "unknown model",
    );
    // Missing data.
    assert_error(
        &mut train_cmd(&[
            "--dataset",
            "mnist",
            "--data-dir",
            d.join("nope").to_str().unwrap(),
            "--model",
            "tenseal-cnn",
            "-o",
            out.to_str().unwrap(),
        ]),
        "does not exist",
    );
    assert_error(
        &mut train_cmd(&[
            "--dataset",
            "mnist",
            "--model",
            "tenseal-cnn",
            "-o",
            out.to_str().unwrap(),
        ]),
        "--data-dir",
    );
    assert_error(
        &mut train_cmd(&[
            "--dataset",
            "mnist",
            "--data-dir",
            d.to_str().unwrap(),
            "--model",
            "tenseal-cnn",
            "-o",
            out.to_str().unwrap(),
        ]),
        "t10k-images-idx3-ubyte",
    );
    // Bad numbers.
    assert_error(
        &mut train_on_sample("tenseal-cnn", &out, ["--epochs", "0"]),
        "--epochs",
    );
    assert_error(
        &mut train_cmd(&[
            "--dataset",
            "sample-mnist",
            "--model",
            "tenseal-cnn",
            "--lr=-1",
            "-o",
            out.to_str().unwrap(),
        ]),
        "--lr",
    );
    assert_error(
        &mut train_cmd(&[
            "--dataset",
            "sample-mnist",
            "--model",
            "tenseal-cnn",
            "--augment",
            "after",
            "--shift",
            "0",
            "-o",
            out.to_str().unwrap(),
        ]),
        "does nothing",
    );
    // A key for another shape.
    let k = keygen(d, "c.key", "pe", "32x32x3", "fixed");
    assert_error(
        &mut train_cmd(&[
            "--dataset",
            "sample-mnist",
            "--model",
            "tenseal-cnn",
            "--key",
            k.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]),
        "shape mismatch",
    );
    // Unwritable output: refused before training.
    assert_error(
        &mut train_cmd(&[
            "--dataset",
            "sample-mnist",
            "--model",
            "tenseal-cnn",
            "-o",
            d.join("no/such/dir/m.st").to_str().unwrap(),
        ]),
        "cannot write",
    );
    assert!(!out.exists());
    // Corrupt and missing models.
    let bad = d.join("bad.st");
    fs::write(&bad, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all").unwrap();
    assert_error(
        pixveil()
            .args(["eval", "--dataset", "sample-mnist", "--model"])
            .arg(&bad),
        "cannot load model",
    );
    assert_error(
        pixveil()
            .args(["eval", "--dataset", "sample-mnist", "--model"])
            .arg(d.join("missing.st")),
        "cannot load model",
    );
    assert_error(
        pixveil().args(["predict", "--model"]).arg(&bad).arg(&bad),
        "cannot load model",
    );
    // A plain model evaluated on another dataset shape.
    let m = d.join("ok.st");
    train(&m, "1", &[]);
    assert_error(
        pixveil()
            .args(["eval", "--dataset", "sample-cifar10", "--model"])
            .arg(&m),
        "shape mismatch",
    );
    let png = d.join("img.png");
    let ds = pixveil_image::sample::load(pixveil_image::DatasetKind::Cifar10).unwrap();
    pixveil_image::files::write_png(&png, ds.images.image(0).unwrap(), ds.images.shape()).unwrap();
    assert_error(
        pixveil().args(["predict", "--model"]).arg(&m).arg(&png),
        "shape mismatch",
    );
}

#[test]
fn experiments_grid_on_the_sample() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("ex");
    let r = json_of(
        pixveil()
            .args([
                "experiments",
                "--datasets",
                "sample-mnist,sample-cifar10",
                "--schemes",
                "none,pe",
                "--augment",
                "none,before,after",
                "--epochs",
                "1",
                "--json",
                "--out",
            ])
            .arg(&out),
    );
    for f in ["results.md", "results.csv", "results.json", "accuracy.png"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    assert!(out.join("keys/28x28x1-pe-fixed.key").is_file());
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 12);
    let status = |ds: &str, scheme: &str, aug: &str| {
        rows.iter()
            .find(|x| x["dataset"] == ds && x["scheme"] == scheme && x["augment"] == aug)
            .map(|x| {
                (
                    x["status"].as_str().unwrap().to_owned(),
                    x["note"].as_str().unwrap().to_owned(),
                )
            })
            .unwrap()
    };
    assert_eq!(status("sample-mnist", "pe", "after").0, "ok");
    assert_eq!(status("sample-mnist", "plain", "before").0, "ok");
    let (s, note) = status("sample-mnist", "plain", "after");
    assert_eq!(s, "skipped");
    assert!(note.contains("same as before"), "{note}");
    let (s, note) = status("sample-cifar10", "pe", "none");
    assert_eq!(s, "skipped");
    assert!(note.contains("tenseal-cnn"), "{note}");
    let md = fs::read_to_string(out.join("results.md")).unwrap();
    assert!(
        md.contains("| sample-mnist | tenseal-cnn | pe | fixed | after |"),
        "{md}"
    );
    let csv = fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 13);
}

/// `experiments` evaluates the test set after a run's last epoch only, unless asked for
/// every epoch: the kept models' metrics show which epochs were evaluated, and the row's
/// accuracy is the last epoch's either way.
#[test]
fn train_evaluates_after_the_last_epoch_only_when_asked() {
    let dir = TempDir::new().unwrap();
    let history = |extra: &[&str]| {
        let r = train(&dir.path().join("m.safetensors"), "2", extra);
        let h = r["history"].as_array().unwrap().clone();
        assert_eq!(h.len(), 2);
        assert_eq!(r["test_accuracy"], h[1]["test_accuracy"]);
        h
    };
    let every = history(&[]);
    assert!(every[0]["test_accuracy"].is_f64() && every[0]["test_loss"].is_f64());
    let last = history(&["--test-at-end"]);
    assert!(last[0]["test_accuracy"].is_null() && last[0]["test_loss"].is_null());
    assert!(last[1]["test_accuracy"].is_f64() && last[1]["test_loss"].is_f64());
    // Skipping an evaluation changes nothing else: the same seed trains the same model.
    assert_eq!(every[1]["test_accuracy"], last[1]["test_accuracy"]);
    assert_eq!(every[1]["train_loss"], last[1]["train_loss"]);
}

#[test]
fn experiments_evaluate_every_epoch_only_when_asked() {
    let dir = TempDir::new().unwrap();
    let history = |every: bool| {
        let out = dir.path().join(if every { "every" } else { "last" });
        let mut cmd = pixveil();
        cmd.args([
            "experiments",
            "--datasets",
            "sample-mnist",
            "--schemes",
            "none",
            "--epochs",
            "2",
            "--save-models",
            "--json",
            "--out",
        ])
        .arg(&out);
        if every {
            cmd.arg("--test-every-epoch");
        }
        let r = json_of(&mut cmd);
        let metrics: Vec<_> = fs::read_dir(out.join("models"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".metrics.json"))
            .collect();
        assert_eq!(metrics.len(), 1, "{metrics:?}");
        let m: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&metrics[0]).unwrap()).unwrap();
        let h = m["history"].as_array().unwrap().clone();
        assert_eq!(h.len(), 2);
        assert_eq!(r["rows"][0]["test_accuracy"], h[1]["test_accuracy"]);
        h
    };
    let last = history(false);
    assert!(last[0]["test_accuracy"].is_null() && last[0]["test_loss"].is_null());
    assert!(last[1]["test_accuracy"].is_f64() && last[1]["test_loss"].is_f64());
    let every = history(true);
    assert!(every[0]["test_accuracy"].is_f64() && every[1]["test_accuracy"].is_f64());
}

#[test]
fn bench_train_json_contract() {
    let r = json_of(pixveil().args([
        "bench",
        "train",
        "--json",
        "--quick",
        "--images",
        "96",
        "--batch-size",
        "32",
        "--models",
        "tenseal-cnn,small-cnn",
    ]));
    assert_eq!(r["bench"], "train");
    assert_eq!(r["batch_size"], 32);
    assert!(r["threads"].as_u64().unwrap() >= 1);
    assert!(!r["cpu"].as_str().unwrap().is_empty());
    assert!(r["gemm"].as_str().unwrap().starts_with("matrixmultiply"));
    assert!(r["conv"].as_str().unwrap().starts_with("direct 3x3 conv"));
    let rows = r["rows"].as_array().unwrap();
    let models: Vec<&str> = rows.iter().map(|x| x["model"].as_str().unwrap()).collect();
    assert_eq!(models, ["tenseal-cnn", "small-cnn"]);
    for x in rows {
        assert_eq!(x["dataset"], "mnist");
        assert_eq!(
            (x["shape"].as_str(), x["images"].as_u64()),
            (Some("28x28x1"), Some(96))
        );
        assert!(x["train_images_per_s"].as_f64().unwrap() > 0.0);
        assert!(x["infer_images_per_s"].as_f64().unwrap() > 0.0);
        assert!(x.get("profile").is_none(), "profile only when asked");
    }
    // ResNet-18 on CIFAR-10, profiled; an unknown model is refused with the list.
    let out = pixveil()
        .args([
            "bench",
            "train",
            "--quick",
            "--images",
            "16",
            "--batch-size",
            "8",
        ])
        .args(["--models", "resnet18-w8,resnet18-w8-adapt", "--profile"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for model in ["resnet18-w8", "resnet18-w8-adapt"] {
        assert!(
            text.lines().any(|l| {
                let mut fields = l.split_whitespace();
                fields.next() == Some(model) && fields.next() == Some("32x32x3")
            }),
            "no row for {model}: {text}"
        );
    }
    assert!(text.contains("conv") && text.contains("backward"), "{text}");
    assert_error(
        pixveil().args(["bench", "train", "--quick", "--models", "resnet50"]),
        "resnet18-w64",
    );
}
