//! `pixveil serve` and `pixveil client` as separate processes on loopback: the CLI contract
//! of issue 10, classes equal to `pixveil predict` on real MNIST and Fashion-MNIST test
//! images (the built-in samples), and the server killed and restarted mid-run while the
//! client keeps going.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pixveil_image::DatasetKind;
use serde_json::Value;
use tempfile::TempDir;

use crate::common::{assert_error, json_of, pixveil, train_on_sample};

/// A running `pixveil serve`, killed on drop.
struct Serve {
    child: Child,
    url: String,
}

impl Serve {
    fn start(model: &Path, data: &Path, listen: &str) -> Self {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("pixveil"))
            .args(["--quiet", "--threads", "2", "serve", "--model"])
            .arg(model)
            .args(["--listen", listen, "--data-dir"])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        Self { child, url }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sample_idx(dir: &Path, kind: DatasetKind, n: usize) -> PathBuf {
    let mut images = pixveil_image::sample::load(kind).unwrap().images;
    images.truncate(n);
    let path = dir.join(format!("{kind}-{n}.idx"));
    pixveil_image::idx::write_images(&path, &images, false).unwrap();
    path
}

fn classes(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| o["class"].as_u64().unwrap())
        .collect()
}

#[test]
fn serve_and_client_match_predict_and_survive_a_restart() {
    let dir = TempDir::new().unwrap();
    let model = dir.path().join("tcnn.safetensors");
    // A trained model (84.6 % on the sample's test split): random weights give logits so
    // close to ties that rounding decides the class.
    train_on_sample("tenseal-cnn", &model, ["--epochs", "40", "--lr", "0.01"])
        .assert()
        .success();
    let mnist = sample_idx(dir.path(), DatasetKind::Mnist, 4);
    let fashion = sample_idx(dir.path(), DatasetKind::FashionMnist, 4);
    let data = dir.path().join("server-data");
    let server = Serve::start(&model, &data, "127.0.0.1:0");
    let health = ureq::get(format!("{}/healthz", server.url)).call().unwrap();
    assert_eq!(health.status(), 200);

    let ck = dir.path().join("client.key");
    pixveil()
        .args(["client", "keygen", "--server", &server.url, "-o"])
        .arg(&ck)
        .assert()
        .success();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&ck).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the client key holds the secret key");
    }

    let predicted = json_of(
        pixveil()
            .args(["predict", "--json", "--model"])
            .arg(&model)
            .arg(&mnist)
            .arg(&fashion),
    );
    let want: Vec<u64> = predicted["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["class"].as_u64().unwrap())
        .collect();
    let classify = |mode: &str| {
        let mut c = pixveil();
        c.args(["client", "classify", "--json", "--mode", mode, "--server"])
            .arg(&server.url)
            .arg("--key")
            .arg(&ck)
            .arg(&mnist)
            .arg(&fashion);
        c
    };
    let got = json_of(&mut classify("latency"));
    assert_eq!(classes(&got), want);
    let first = &got[0];
    assert_eq!(
        first["image"].as_str().unwrap(),
        format!("{}#0", mnist.display())
    );
    assert_eq!(first["scores"].as_array().unwrap().len(), 10);
    assert_eq!(classes(&json_of(&mut classify("throughput"))), want);

    // Kill the server mid-run and start it again on the same port and data dir: the client
    // retries, the registered keys are still there.
    let listen = server.url.trim_start_matches("http://").to_owned();
    let client = Command::new(assert_cmd::cargo::cargo_bin("pixveil"))
        .args(["--quiet", "client", "classify", "--json", "--key"])
        .arg(&ck)
        .arg(&mnist)
        .arg(&fashion)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    drop(server);
    std::thread::sleep(Duration::from_millis(500));
    let server = Serve::start(&model, &data, &listen);
    let out = client.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(classes(&got), want);

    // Bad input: clean errors.
    assert_error(
        pixveil()
            .args(["client", "classify", "--key"])
            .arg(&ck)
            .arg(dir.path().join("missing.png")),
        "missing.png",
    );
    assert_error(
        pixveil()
            .args([
                "client",
                "classify",
                "--patience",
                "1",
                "--server",
                "http://127.0.0.1:9",
                "--key",
            ])
            .arg(&ck)
            .arg(&mnist),
        "cannot reach",
    );
    assert_error(
        pixveil()
            .args(["client", "classify", "--key"])
            .arg(&model)
            .arg(&mnist),
        "client key",
    );
    drop(server);
}
