//! The inference server: an HTTP/1.1 service (axum routes on hyper and tokio) that runs a
//! compiled [`Plan`] on clients' ciphertexts with clients' public evaluation keys.
//!
//! It holds no secret: this module and its children name only the plan, public keys,
//! ciphertexts and envelopes — no secret-key type, decryptor, key generator or the HE
//! client (a test reads these files and fails if one appears).
//!
//! Why axum on hyper: the evaluations are CPU-bound and run on blocking threads (rayon
//! inside), so the HTTP layer only needs to be small, correct and bounded; hyper gives
//! header-read timeouts against slow clients and a connection-level API to cap
//! connections, axum gives typed routing and fallbacks on top without a framework of its
//! own.
//!
//! Limits, each answered with a problem document and a stable code (see [`crate::api`]):
//! body size (413, checked on `Content-Length` before reading), content type (415),
//! evaluations running at once and waiting (503 with `Retry-After` beyond them), a
//! request timeout (504), a header-read timeout and a connection cap against slow
//! clients, and the key store's byte capacity (least recently used evicted, 404
//! `unknown_key` after).

pub mod keystore;
pub mod metrics;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use pixveil_ckks::Error as CkksError;
use pixveil_henn::{Encrypted, Mode, Plan};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::api::{self, is_key_id, ModelCard, Problem, ProblemCode};
use crate::{Error, Result};
use keystore::KeyStore;
use metrics::Metrics;

/// Limits and locations of a server. [`ServerConfig::default`] gives the documented
/// defaults.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Folder of persistent state (registered keys under `keys/`).
    pub data_dir: PathBuf,
    /// Largest request body, bytes (default 256 MiB: a throughput batch of 4 096 MNIST
    /// images is 185 MB).
    pub max_body_bytes: u64,
    /// Key store capacity, bytes of serialized keys (default 1 GiB).
    pub key_store_bytes: u64,
    /// Parsed key sets held in memory (default 4; about 4× their serialized size each).
    pub resident_keys: usize,
    /// Evaluations running at once (default 1: each uses every core already).
    pub max_concurrent: usize,
    /// Requests waiting for an evaluation slot before 503 (default 64).
    pub max_queue: usize,
    /// Time limit of one request, body read included (default 300 s).
    pub request_timeout: Duration,
    /// Time a client has to send a request's headers (default 10 s).
    pub header_timeout: Duration,
    /// Open connections at most; more wait in the kernel's backlog (default 256).
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("pixveil-data"),
            max_body_bytes: 256 << 20,
            key_store_bytes: 1 << 30,
            resident_keys: 4,
            max_concurrent: 1,
            max_queue: 64,
            request_timeout: Duration::from_secs(300),
            header_timeout: Duration::from_secs(10),
            max_connections: 256,
        }
    }
}

/// Shared state of the handlers.
#[derive(Debug)]
struct AppState {
    plan: Arc<Plan>,
    card: Vec<u8>,
    config: ServerConfig,
    store: KeyStore,
    metrics: Metrics,
    slots: Arc<Semaphore>,
    /// Requests admitted to classification (running + waiting).
    admitted: AtomicUsize,
    running: AtomicUsize,
}

/// A bound server, ready to [`Server::serve`].
#[derive(Debug)]
pub struct Server {
    state: Arc<AppState>,
    listener: TcpListener,
}

/// Maps an encrypted-inference error to a problem document.
pub(crate) fn problem_of(e: pixveil_henn::Error) -> Problem {
    use pixveil_henn::Error as E;
    let code = match &e {
        E::Malformed { .. } => ProblemCode::Malformed,
        E::MissingGaloisKeys { .. } => ProblemCode::MissingGaloisKeys,
        E::PlanMismatch { .. } => ProblemCode::PlanMismatch,
        E::Mismatch(_) | E::NotEnoughLevels { .. } => ProblemCode::InputMismatch,
        E::Ckks(c) => match c {
            CkksError::ParameterMismatch { .. } => ProblemCode::PlanMismatch,
            CkksError::Truncated { .. }
            | CkksError::BadMagic
            | CkksError::UnsupportedVersion { .. }
            | CkksError::WrongKind { .. }
            | CkksError::Corrupt { .. } => ProblemCode::Malformed,
            _ => ProblemCode::InputMismatch,
        },
        E::Unsupported(_) | E::Model(_) | E::ThreadPool { .. } => ProblemCode::Internal,
    };
    Problem::new(code, e.to_string())
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).expect("problem codes are valid statuses");
        let mut r = (
            status,
            serde_json::to_vec(&self).expect("a problem document serializes"),
        )
            .into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(api::PROBLEM_JSON),
        );
        if self.code == ProblemCode::Overloaded {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

impl Server {
    /// Compiles nothing, loads nothing: binds `config.listen` for `plan` and opens the key
    /// store in `config.data_dir`.
    ///
    /// # Errors
    /// [`Error::Io`] if the address cannot be bound or the data dir cannot be used.
    pub async fn bind(plan: Arc<Plan>, config: ServerConfig) -> Result<Self> {
        if config.max_concurrent == 0 || config.max_connections == 0 {
            return Err(Error::Config(
                "max_concurrent and max_connections must be at least 1".into(),
            ));
        }
        let store = KeyStore::open(
            &config.data_dir,
            config.key_store_bytes,
            config.resident_keys,
            plan.clone(),
        )
        .map_err(|e| Error::Io(format!("data dir {}", config.data_dir.display()), e))?;
        let card = ModelCard {
            protocol: api::PROTOCOL_VERSION,
            plan_id: hex::encode(plan.spec().id()),
            modes: vec![Mode::Latency.name().into(), Mode::Throughput.name().into()],
            max_body_bytes: config.max_body_bytes,
            key_store_bytes: config.key_store_bytes,
            spec: plan.spec().clone(),
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::Io(format!("cannot listen on {}", config.listen), e))?;
        let state = Arc::new(AppState {
            card: serde_json::to_vec(&card).expect("the model card serializes"),
            slots: Arc::new(Semaphore::new(config.max_concurrent)),
            plan,
            config,
            store,
            metrics: Metrics::default(),
            admitted: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
        });
        Ok(Self { state, listener })
    }

    /// The address actually bound (the port chosen for `:0`).
    ///
    /// # Errors
    /// [`Error::Io`] from the socket.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| Error::Io("listening socket".into(), e))
    }

    /// The routes (for tests that drive them without a socket).
    fn router(state: Arc<AppState>) -> Router {
        Router::new()
            .route(api::PATH_MODEL, get(model_card))
            .route(api::PATH_KEYS, post(register_keys))
            .route(api::PATH_CLASSIFY, post(classify_latency))
            .route(api::PATH_CLASSIFY_BATCH, post(classify_batch))
            .route(api::PATH_HEALTH, get(|| async { "ok\n" }))
            .route(api::PATH_METRICS, get(metrics_text))
            .route(api::PATH_OPENAPI, get(openapi))
            .fallback(|| async {
                Problem::new(
                    ProblemCode::NotFound,
                    "no such endpoint (see /v1/openapi.json)",
                )
            })
            .method_not_allowed_fallback(|| async {
                Problem::new(
                    ProblemCode::MethodNotAllowed,
                    "method not allowed on this endpoint",
                )
            })
            .layer(middleware::from_fn_with_state(state.clone(), record))
            .with_state(state)
    }

    /// Serves until `shutdown` completes, then stops accepting and waits for open
    /// connections to finish their requests.
    ///
    /// # Errors
    /// Never for per-connection faults (they are logged); [`Error::Io`] is reserved for
    /// the listener.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        use hyper_util::rt::{TokioIo, TokioTimer};
        let router = Self::router(self.state.clone());
        let conns = Arc::new(Semaphore::new(self.state.config.max_connections));
        let header_timeout = self.state.config.header_timeout;
        let tracker = tokio_util_tracker::Tracker::default();
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                p = conns.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                () = &mut shutdown => break,
            };
            let (stream, _) = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, then accept again.
                        eprintln!("warning: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let svc = hyper_util::service::TowerToHyperService::new(router.clone());
            let guard = tracker.enter();
            tokio::spawn(async move {
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout);
                // Connection errors (a client gone, a header timeout) end that connection
                // only.
                let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                drop(permit);
                drop(guard);
            });
        }
        tracker.wait(Duration::from_secs(30)).await;
        Ok(())
    }
}

/// Counts open connections so shutdown can wait for them.
mod tokio_util_tracker {
    use std::sync::Arc;
    use std::time::Duration;

    #[derive(Clone, Debug, Default)]
    pub struct Tracker(Arc<()>);

    pub struct Guard(#[allow(dead_code)] Arc<()>);

    impl Tracker {
        pub fn enter(&self) -> Guard {
            Guard(self.0.clone())
        }

        /// Waits until every guard is dropped, or `limit`.
        pub async fn wait(&self, limit: Duration) {
            let start = tokio::time::Instant::now();
            while Arc::strong_count(&self.0) > 1 && start.elapsed() < limit {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Records every answered request in the metrics.
async fn record(State(s): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let endpoint = metrics::endpoint(req.uri().path());
    let start = Instant::now();
    let r = next.run(req).await;
    s.metrics
        .request(endpoint, r.status().as_u16(), start.elapsed());
    r
}

async fn model_card(State(s): State<Arc<AppState>>) -> Response {
    let mut r = s.card.clone().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn openapi() -> Response {
    let mut r = api::OPENAPI.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn metrics_text(State(s): State<Arc<AppState>>) -> Response {
    let text = s.metrics.render(
        s.store.stats(),
        s.running.load(Ordering::Relaxed),
        s.admitted
            .load(Ordering::Relaxed)
            .saturating_sub(s.running.load(Ordering::Relaxed)),
    );
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

/// Largest body read and discarded before an early refusal (503), bytes.
const DRAIN_LIMIT: u64 = 16 << 20;

/// Reads and drops a body of at most [`DRAIN_LIMIT`] declared bytes before an early answer,
/// so that clients that read the answer only after sending their whole body see it; a
/// larger or undeclared body is left unread (the connection closes after the answer).
async fn drain(headers: &HeaderMap, body: Body, deadline: Instant) {
    if declared_length(headers).is_some_and(|n| n <= DRAIN_LIMIT) {
        // The answer is an error either way; a failed drain only closes the connection.
        let _ = tokio::time::timeout_at(
            deadline.into(),
            axum::body::to_bytes(body, DRAIN_LIMIT as usize),
        )
        .await;
    }
}

/// The `Content-Length` a request declares, if any.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Checks the content type and length, then reads the body within the request deadline.
async fn read_body(
    s: &AppState,
    headers: &HeaderMap,
    body: Body,
    deadline: Instant,
) -> std::result::Result<Bytes, Problem> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with(api::OCTET_STREAM) {
        drain(headers, body, deadline).await;
        return Err(Problem::new(
            ProblemCode::UnsupportedMediaType,
            format!("expected Content-Type {}, got {ct:?}", api::OCTET_STREAM),
        ));
    }
    let limit = s.config.max_body_bytes;
    if let Some(n) = declared_length(headers).filter(|&n| n > limit) {
        return Err(Problem::new(
            ProblemCode::BodyTooLarge,
            format!("the body is {n} bytes, the server accepts at most {limit}"),
        ));
    }
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    let read = axum::body::to_bytes(body, limit_usize);
    match tokio::time::timeout_at(deadline.into(), read).await {
        Err(_) => Err(timeout_problem(s)),
        Ok(Ok(b)) if b.is_empty() => Err(Problem::new(ProblemCode::Malformed, "empty body")),
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                Err(Problem::new(
                    ProblemCode::BodyTooLarge,
                    format!("the body exceeds the {limit} bytes the server accepts"),
                ))
            } else {
                Err(Problem::new(
                    ProblemCode::Malformed,
                    format!("the body could not be read: {e}"),
                ))
            }
        }
    }
}

fn timeout_problem(s: &AppState) -> Problem {
    Problem::new(
        ProblemCode::Timeout,
        format!(
            "the request took longer than the server's {} s limit",
            s.config.request_timeout.as_secs()
        ),
    )
}

/// Runs CPU work on a blocking thread; a panic there is a server fault, answered 500.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::result::Result<T, Problem> + Send + 'static,
) -> std::result::Result<T, Problem> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(Problem::new(
            ProblemCode::Internal,
            format!("evaluation task failed: {e}"),
        ))
    })
}

async fn register_keys(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> std::result::Result<Response, Problem> {
    let deadline = Instant::now() + s.config.request_timeout;
    let bytes = read_body(&s, &headers, body, deadline).await?;
    s.metrics.traffic(bytes.len() as u64, 0, 0);
    let state = s.clone();
    let work = blocking(move || state.store.register(&bytes));
    let reg = tokio::time::timeout_at(deadline.into(), work)
        .await
        .map_err(|_| timeout_problem(&s))??;
    let status = if reg.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(reg)).into_response())
}

/// `?key=ID` of the classify endpoints.
#[derive(Debug, Deserialize)]
struct KeyQuery {
    key: Option<String>,
}

async fn classify_latency(
    state: State<Arc<AppState>>,
    query: std::result::Result<Query<KeyQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> std::result::Result<Response, Problem> {
    classify(state, query, headers, body, Mode::Latency).await
}

async fn classify_batch(
    state: State<Arc<AppState>>,
    query: std::result::Result<Query<KeyQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> std::result::Result<Response, Problem> {
    classify(state, query, headers, body, Mode::Throughput).await
}

/// Releases an admission (running or waiting) when the request ends, however it ends.
struct Admission<'a>(&'a AtomicUsize);

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn classify(
    State(s): State<Arc<AppState>>,
    query: std::result::Result<Query<KeyQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
    mode: Mode,
) -> std::result::Result<Response, Problem> {
    let deadline = Instant::now() + s.config.request_timeout;
    // Admission before reading the body: an overloaded server does not take a large upload
    // (it answers at once and closes the connection); a small one it reads first, so that
    // clients that only read an answer after sending their body get the 503 cleanly.
    let limit = s.config.max_concurrent + s.config.max_queue;
    if s.admitted.fetch_add(1, Ordering::Relaxed) >= limit {
        s.admitted.fetch_sub(1, Ordering::Relaxed);
        let busy = Problem::new(
            ProblemCode::Overloaded,
            format!(
                "{} evaluations running and {} waiting: retry later",
                s.config.max_concurrent, s.config.max_queue
            ),
        );
        drain(&headers, body, deadline).await;
        return Err(busy);
    }
    let _admission = Admission(&s.admitted);
    let bytes = read_body(&s, &headers, body, deadline).await?;
    let key = query
        .ok()
        .and_then(|q| q.0.key)
        .filter(|k| is_key_id(k))
        .ok_or_else(|| {
            Problem::new(
                ProblemCode::BadRequest,
                "query parameter key=<64 hex digits> (the id POST /v1/keys returned) is required",
            )
        })?;
    let in_len = bytes.len() as u64;
    let permit = tokio::time::timeout_at(deadline.into(), s.slots.clone().acquire_owned())
        .await
        .map_err(|_| timeout_problem(&s))?
        .expect("the semaphore is never closed");
    let state = s.clone();
    let work = blocking(move || {
        let _permit = permit;
        state.running.fetch_add(1, Ordering::Relaxed);
        let _running = Admission(&state.running);
        let ev = state.store.get(&key)?;
        let plan = &state.plan;
        let id = plan.spec().id();
        let input = Encrypted::input_from_bytes(plan.params(), &id, &bytes).map_err(problem_of)?;
        if input.mode != mode {
            return Err(Problem::new(
                ProblemCode::InputMismatch,
                format!(
                    "a {}-mode input sent to the {}-mode endpoint",
                    input.mode.name(),
                    mode.name()
                ),
            ));
        }
        let images = input.images as u64;
        let scores = ev.classify(&input).map_err(problem_of)?;
        Ok((scores.scores_to_bytes(&id), images))
    });
    let (out, images) = tokio::time::timeout_at(deadline.into(), work)
        .await
        .map_err(|_| timeout_problem(&s))??;
    s.metrics.traffic(in_len, out.len() as u64, images);
    let mut r = out.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(api::OCTET_STREAM),
    );
    Ok(r)
}

/// `pixveil serve`: compiles `model`'s plan, binds, calls `on_listening` with the bound
/// address once connections are accepted, and serves until SIGINT or SIGTERM.
///
/// # Errors
/// The model cannot be loaded or compiled, the address bound, the data dir used.
pub fn run(
    model: &std::path::Path,
    config: ServerConfig,
    on_listening: impl FnOnce(SocketAddr, &Plan),
) -> Result<()> {
    let plan = crate::load_plan(model)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .map_err(|e| Error::Io("cannot start the runtime".into(), e))?;
    rt.block_on(async move {
        let server = Server::bind(plan.clone(), config).await?;
        on_listening(server.local_addr()?, &plan);
        server.serve(shutdown_signal()).await
    })
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
