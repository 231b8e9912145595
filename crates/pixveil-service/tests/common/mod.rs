//! Helpers of the service tests: plans of seeded random models, an in-process server on a
//! free loopback port, raw HTTP requests.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pixveil_henn::{Network, Plan};
use pixveil_image::{DatasetKind, ImageBatch};
use pixveil_nn::{Architecture, Model, ModelConfig};
use pixveil_service::api::{ModelCard, Problem, PROTOCOL_VERSION};
use pixveil_service::{client, Server, ServerConfig};

/// The plan of a seeded random TenSEAL CNN (28×28×1) trained on `scheme` images.
pub fn plan(seed: u64, scheme: &str) -> Arc<Plan> {
    let config = ModelConfig::new(Architecture::TensealCnn, [1, 28, 28]);
    let model = Model::new(&config, seed).unwrap();
    Arc::new(Plan::compile(Network::from_model(&model).unwrap(), "tenseal-cnn", scheme).unwrap())
}

/// The plan of seed 1, plain images, compiled once for all tests of a binary.
pub fn shared_plan() -> Arc<Plan> {
    static PLAN: OnceLock<Arc<Plan>> = OnceLock::new();
    PLAN.get_or_init(|| plan(1, "none")).clone()
}

/// The model card a server with `config` publishes for `plan`.
pub fn card(plan: &Plan, config: &ServerConfig) -> ModelCard {
    ModelCard {
        protocol: PROTOCOL_VERSION,
        plan_id: hex::encode(plan.spec().id()),
        modes: vec!["latency".into(), "throughput".into()],
        max_body_bytes: config.max_body_bytes,
        key_store_bytes: config.key_store_bytes,
        spec: plan.spec().clone(),
    }
}

/// The first `n` test images of the built-in MNIST sample.
pub fn mnist(n: usize) -> ImageBatch {
    let mut images = pixveil_image::sample::load(DatasetKind::Mnist)
        .unwrap()
        .images;
    images.truncate(n);
    images
}

/// Logits the plaintext (folded, `f64`) network gives `images`, one row per image.
pub fn plain_logits(plan: &Plan, images: &ImageBatch) -> Vec<Vec<f64>> {
    (0..images.len())
        .map(|i| {
            plan.network()
                .forward(&pixveil_henn::eval::image_values(images, i))
        })
        .collect()
}

/// Largest gap allowed between decrypted and plaintext logits: CKKS noise plus the
/// client's 2^-10 rounding, relative to the largest logit (at least 1).
const TOLERANCE: f64 = 1e-2;

/// Asserts that decrypted scores match the plaintext logits: every logit within
/// [`TOLERANCE`], and the same class wherever the plaintext network's top two logits lie
/// further apart than twice that (a nearer tie may flip under CKKS noise without any fault).
pub fn assert_agrees(want: &[Vec<f64>], got: &[client::Scores], what: &str) {
    assert_eq!(want.len(), got.len(), "{what}: one score row per image");
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        assert_eq!(w.len(), g.scores.len(), "{what}: image {i}: logit count");
        let scale = w.iter().fold(1.0f64, |m, x| m.max(x.abs()));
        let tol = TOLERANCE * scale;
        let err = w
            .iter()
            .zip(&g.scores)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(err <= tol, "{what}: image {i}: logits off by {err} > {tol}");
        let mut sorted = w.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let class = (0..w.len())
            .max_by(|&a, &b| w[a].total_cmp(&w[b]))
            .expect("a network has at least one class");
        if sorted[0] - sorted[1] > 2.0 * tol {
            assert_eq!(g.class, class, "{what}: image {i}: class");
        }
    }
}

/// A configuration for tests: a fresh data dir, loopback, free port.
pub fn config(data_dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data_dir.to_owned(),
        request_timeout: Duration::from_secs(120),
        ..ServerConfig::default()
    }
}

/// A server running on its own runtime thread; stopped (gracefully) on drop.
pub struct TestServer {
    pub url: String,
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start(plan: Arc<Plan>, config: ServerConfig) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let server = Server::bind(plan, config).await.unwrap();
                tx.send(server.local_addr().unwrap()).unwrap();
                server
                    .serve(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        Self {
            url: format!("http://{addr}"),
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// A response: status, content type, `Retry-After`, body.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as a problem document (panics if it is not one).
    pub fn problem(&self) -> Problem {
        assert_eq!(self.content_type, "application/problem+json");
        let p: Problem = serde_json::from_slice(&self.body).unwrap();
        assert_eq!(p.status, self.status);
        p
    }
}

fn answer(mut r: ureq::http::Response<ureq::Body>) -> Answer {
    let header = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
    let content_type = header("content-type").unwrap_or_default();
    let retry_after = header("retry-after");
    let body = r
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap();
    Answer {
        status: r.status().as_u16(),
        content_type,
        retry_after,
        body,
    }
}

pub fn get(url: &str, path: &str) -> Answer {
    answer(agent().get(format!("{url}{path}")).call().unwrap())
}

pub fn post(url: &str, path: &str, content_type: &str, body: &[u8]) -> Answer {
    answer(
        agent()
            .post(format!("{url}{path}"))
            .header("Content-Type", content_type)
            .send(body)
            .unwrap(),
    )
}

pub fn post_bin(url: &str, path: &str, body: &[u8]) -> Answer {
    post(url, path, "application/octet-stream", body)
}

pub fn method(url: &str, method: &str, path: &str) -> Answer {
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{url}{path}"))
        .body(())
        .unwrap();
    answer(agent().run(req).unwrap())
}

/// Sends raw bytes on a fresh connection and reads until the server closes it or `wait`
/// passes; returns what was read.
pub fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}
