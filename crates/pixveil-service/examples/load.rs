//! Load and throughput of `pixveil serve` on loopback, against `he-eval` in the same run.
//!
//! Starts the real server binary (a separate process, so its memory is its own), then:
//! 1. latency load: `--clients` threads, each classifying `--requests` MNIST test images one
//!    request at a time through the real client (503s are retried after `Retry-After`);
//!    reports p50/p99 latency per request, requests/s, the 503s and any other error;
//! 2. throughput through the network: one client classifies `--batch` images in throughput
//!    mode (one request), against `he_eval` in throughput mode on the same images in this
//!    process (client and evaluator one after the other, serialization included);
//! 3. the server's peak resident memory (`VmHWM`) next to the limits it was started with.
//!
//! ```text
//! cargo build --release -p pixveil
//! cargo run --release -p pixveil-service --example load -- --model M.safetensors \
//!     [--pixveil target/release/pixveil] [--clients 16] [--requests 8] [--batch 4096] \
//!     [--max-queue 8] [--threads 2] [--data-dir ../shared/data]
//! ```
//! Prints one JSON object.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pixveil_henn::{he_eval, HeEvalOptions, Mode};
use pixveil_image::{DatasetKind, ImageBatch, Split};
use pixveil_service::client::{self, ClassifyOptions, Connection, Retry};

struct Args {
    model: PathBuf,
    pixveil: PathBuf,
    clients: usize,
    requests: usize,
    batch: usize,
    max_queue: usize,
    threads: usize,
    data_dir: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        model: PathBuf::new(),
        pixveil: PathBuf::from("target/release/pixveil"),
        clients: 16,
        requests: 8,
        batch: 4096,
        max_queue: 8,
        threads: 2,
        data_dir: PathBuf::from("../shared/data"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--model" => a.model = v.into(),
            "--pixveil" => a.pixveil = v.into(),
            "--clients" => a.clients = v.parse().unwrap(),
            "--requests" => a.requests = v.parse().unwrap(),
            "--batch" => a.batch = v.parse().unwrap(),
            "--max-queue" => a.max_queue = v.parse().unwrap(),
            "--threads" => a.threads = v.parse().unwrap(),
            "--data-dir" => a.data_dir = v.into(),
            _ => panic!("unknown option {k}"),
        }
    }
    assert!(!a.model.as_os_str().is_empty(), "--model is required");
    a
}

/// MNIST test images and labels (the built-in sample when the data dir lacks MNIST).
fn mnist(data_dir: &std::path::Path, n: usize) -> (ImageBatch, Vec<u8>, &'static str) {
    let (mut d, source) =
        match pixveil_image::dataset::load(DatasetKind::Mnist, data_dir, Split::Test) {
            Ok(d) => (d, "mnist test set"),
            Err(_) => (
                pixveil_image::sample::load(DatasetKind::Mnist).unwrap(),
                "built-in mnist sample",
            ),
        };
    let n = n.min(d.images.len());
    d.images.truncate(n);
    d.labels.truncate(n);
    (d.images, d.labels, source)
}

fn one(images: &ImageBatch, i: usize) -> ImageBatch {
    ImageBatch::new(images.shape(), images.image(i).unwrap().to_vec()).unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn vm_hwm(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

fn main() {
    let a = args();
    let rayon_threads = a.threads;
    rayon::ThreadPoolBuilder::new()
        .num_threads(rayon_threads)
        .build_global()
        .unwrap();
    let data = tempfile::TempDir::new().unwrap();
    let max_body_mib = 256u64;
    let key_store_mib = 1024u64;
    let resident_keys = 4usize;
    let mut server = Command::new(&a.pixveil)
        .args([
            "--quiet",
            "--threads",
            &a.threads.to_string(),
            "serve",
            "--model",
        ])
        .arg(&a.model)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .args([
            "--max-concurrent",
            "1",
            "--max-queue",
            &a.max_queue.to_string(),
            "--max-body-mib",
            &max_body_mib.to_string(),
            "--key-store-mib",
            &key_store_mib.to_string(),
            "--resident-keys",
            &resident_keys.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server binary (cargo build --release -p pixveil)");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let conn = Connection::new(
        &url,
        Retry {
            patience: Duration::from_secs(600),
        },
    )
    .unwrap();
    let (key, reg) = client::keygen(&conn, Mode::Latency, None, None).unwrap();

    // 1. Latency load.
    let total = a.clients * a.requests;
    let (images, labels, source) = mnist(&a.data_dir, total.max(a.batch));
    let start = Instant::now();
    let per_request: Vec<Result<f64, String>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..a.clients)
            .map(|c| {
                let (conn, key, images) = (&conn, &key, &images);
                s.spawn(move || {
                    (0..a.requests)
                        .map(|r| {
                            let img = one(images, (c * a.requests + r) % images.len());
                            let t = Instant::now();
                            client::classify(
                                conn,
                                key,
                                &img,
                                ClassifyOptions {
                                    mode: Mode::Latency,
                                    passphrase: None,
                                },
                                &|_| {},
                            )
                            .map(|_| t.elapsed().as_secs_f64() * 1e3)
                            .map_err(|e| e.to_string())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let wall = start.elapsed().as_secs_f64();
    let errors: Vec<&String> = per_request
        .iter()
        .filter_map(|r| r.as_ref().err())
        .collect();
    let mut ms: Vec<f64> = per_request
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    ms.sort_by(f64::total_cmp);
    let metrics = ureq::get(format!("{url}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let count = |status: &str| -> u64 {
        let p = format!("pixveil_requests_total{{endpoint=\"classify\",status=\"{status}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&p))
            .map_or(0, |v| v.parse().unwrap())
    };

    // 2. Throughput through the network vs he-eval, same images, same run.
    let mut batch = images.clone();
    batch.truncate(a.batch);
    let t = Instant::now();
    let net = client::classify(
        &conn,
        &key,
        &batch,
        ClassifyOptions {
            mode: Mode::Throughput,
            passphrase: None,
        },
        &|_| {},
    )
    .unwrap();
    let net_s = t.elapsed().as_secs_f64();
    let net_ips = batch.len() as f64 / net_s;
    let server_hwm = vm_hwm(server.id());
    let (model, meta) = pixveil_nn::checkpoint::load(&a.model).unwrap();
    let report = he_eval(
        &model,
        &meta.scheme,
        &batch,
        &labels[..batch.len()],
        &HeEvalOptions {
            mode: Mode::Throughput,
            threads: Some(a.threads),
        },
        &|_| {},
    )
    .unwrap();
    assert_eq!(net.len(), batch.len());
    let _ = server.kill();
    let _ = server.wait();

    let out = serde_json::json!({
        "machine": report.machine,
        "threads": a.threads,
        "images_source": source,
        "model": a.model.display().to_string(),
        "key_bytes": reg.bytes,
        "latency_load": {
            "clients": a.clients,
            "requests": total,
            "max_concurrent": 1,
            "max_queue": a.max_queue,
            "ok": ms.len(),
            "errors": errors.len(),
            "first_error": errors.first(),
            "server_200": count("200"),
            "server_503": count("503"),
            "server_other_5xx": metrics.lines().filter(|l| l.contains("status=\"5") && !l.contains("status=\"503\"")).count(),
            "p50_ms": percentile(&ms, 0.5),
            "p99_ms": percentile(&ms, 0.99),
            "requests_per_s": ms.len() as f64 / wall,
            "wall_s": wall,
        },
        "throughput": {
            "images": batch.len(),
            "network_images_per_s": net_ips,
            "network_s": net_s,
            "he_eval_end_to_end_images_per_s": report.end_to_end_images_per_s,
            "he_eval_evaluator_images_per_s": report.images_per_s,
            "ratio_network_vs_he_eval": net_ips / report.end_to_end_images_per_s,
            "upload_bytes_per_batch": report.ct_in_bytes * batch.len() as f64,
        },
        "server_memory": {
            "peak_rss_bytes": server_hwm,
            "limits": {
                "max_body_bytes": max_body_mib << 20,
                "key_store_bytes": key_store_mib << 20,
                "resident_keys": resident_keys,
                "max_concurrent": 1,
                "max_queue": a.max_queue,
            },
        },
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
