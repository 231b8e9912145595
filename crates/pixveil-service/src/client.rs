//! The data owner's side of the service: a client key bound to one server's plan, and the
//! calls that register keys and classify images through the server.
//!
//! What leaves this module over the network: the evaluation keys (public: relinearization
//! and Galois keys) and ciphertexts. The secret key, the perceptual key, the images and
//! the decrypted scores never do.

use std::time::{Duration, Instant};

use pixveil_cipher::{KeyFile, KeyMode, Nonce};
use pixveil_henn::{Encrypted, Mode};
use pixveil_image::ImageBatch;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::api::{self, KeyRegistered, ModelCard, Problem, ProblemCode};
use crate::{Error, Result};

/// Container kind of client key files.
const KIND: &str = "heclient";
/// Version of the client key metadata.
const VERSION: u32 = 1;
/// Largest client key body read (secret key, evaluation keys, perceptual key).
const MAX_BODY: u64 = 1 << 30;

/// What a client key file records in the clear (public), beside its secret body.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Meta {
    version: u32,
    /// The server the key was made against (default of `--server`).
    server: String,
    /// Hex plan id: classification refuses a server that now runs another plan.
    plan_id: String,
    /// Id of the evaluation keys (SHA-256 of their bytes).
    key_id: String,
    /// `latency` or `throughput` keys.
    mode: String,
    /// Byte lengths of the body's parts: secret key, evaluation keys, perceptual key file.
    parts: [u64; 3],
    /// The model card's plan.
    spec: pixveil_henn::PlanSpec,
}

/// A client's keys for one server's plan: the CKKS secret key, the evaluation keys
/// registered with the server, and for a model trained on perceptually encrypted images
/// the perceptual key (its key file bytes, as protected as the original file was).
pub struct ClientKey {
    server: String,
    key_id: String,
    mode: Mode,
    eval_keys: Vec<u8>,
    he: pixveil_henn::Client,
    perceptual: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("server", &self.server)
            .field("key_id", &self.key_id)
            .field("perceptual", &self.perceptual.is_some())
            .finish_non_exhaustive()
    }
}

/// A perceptual key ready to apply.
struct Perceptual {
    key: KeyFile,
}

impl ClientKey {
    /// Makes fresh CKKS keys for the plan of `card` (fetched from `server`) and, for a
    /// hybrid model, takes the perceptual key file `perceptual` (bytes of a `pixveil keygen`
    /// key of the model's scheme; `passphrase` if it is protected, to check it now).
    ///
    /// # Errors
    /// [`Error::ClientKey`] for a card whose plan id does not match its plan, a missing or
    /// mismatched perceptual key; [`Error::He`] for insecure or invalid parameters.
    pub fn generate(
        server: &str,
        card: &ModelCard,
        mode: Mode,
        perceptual: Option<&[u8]>,
        passphrase: Option<&[u8]>,
    ) -> Result<Self> {
        let spec = card.spec.clone();
        if hex::encode(spec.id()) != card.plan_id {
            return Err(Error::ClientKey(
                "the model card's plan id does not match its plan".into(),
            ));
        }
        let perceptual = match (spec.scheme.as_str(), perceptual) {
            (pixveil_cipher::PLAIN_SCHEME, None) => None,
            (pixveil_cipher::PLAIN_SCHEME, Some(_)) => {
                return Err(Error::ClientKey(
                    "the model was trained on plain images: it takes no perceptual key".into(),
                ))
            }
            (scheme, None) => {
                return Err(Error::ClientKey(format!(
                    "the model was trained on {scheme} images: pass its perceptual key"
                )))
            }
            (_, Some(bytes)) => {
                check_perceptual(&spec, bytes, passphrase)?;
                Some(Zeroizing::new(bytes.to_vec()))
            }
        };
        let mut rng = ChaCha20Rng::from_os_rng();
        let he = pixveil_henn::Client::new(spec, &mut rng)?;
        let keys = he.evaluation_keys(mode, &mut rng)?;
        let eval_keys = keys.to_bytes(he.plan_id());
        Ok(Self {
            server: server.to_owned(),
            mode: keys.mode(),
            key_id: api::key_id(&eval_keys),
            eval_keys,
            he,
            perceptual,
        })
    }

    /// The server the key was made against.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Id of the evaluation keys.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The evaluation keys as registered (public).
    pub fn evaluation_key_bytes(&self) -> &[u8] {
        &self.eval_keys
    }

    /// The plan.
    pub fn spec(&self) -> &pixveil_henn::PlanSpec {
        self.he.spec()
    }

    /// The modes the evaluation keys serve (latency keys, with Galois keys, serve both).
    pub fn modes(&self) -> Vec<Mode> {
        match self.mode {
            Mode::Latency => vec![Mode::Latency, Mode::Throughput],
            Mode::Throughput => vec![Mode::Throughput],
        }
    }

    /// Serializes the key (a pixveil container; the body holds the secret key: store the
    /// file as a secret).
    ///
    /// # Errors
    /// [`Error::Format`] if the metadata cannot be encoded.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        let sk = self.he.secret_key_bytes();
        let pk: &[u8] = self.perceptual.as_deref().map_or(&[], Vec::as_slice);
        let meta = Meta {
            version: VERSION,
            server: self.server.clone(),
            plan_id: hex::encode(self.he.plan_id()),
            key_id: self.key_id.clone(),
            mode: self.mode.name().into(),
            parts: [
                sk.len() as u64,
                self.eval_keys.len() as u64,
                pk.len() as u64,
            ],
            spec: self.he.spec().clone(),
        };
        let mut body = Zeroizing::new(Vec::with_capacity(
            sk.len() + self.eval_keys.len() + pk.len(),
        ));
        body.extend_from_slice(&sk);
        body.extend_from_slice(&self.eval_keys);
        body.extend_from_slice(pk);
        Ok(Zeroizing::new(pixveil_core::format::encode(
            KIND, &meta, &body,
        )?))
    }

    /// Parses a client key file.
    ///
    /// # Errors
    /// [`Error::Format`] for a damaged or foreign file, [`Error::ClientKey`] for
    /// inconsistent parts, [`Error::He`] if the secret key does not fit the plan.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let d = pixveil_core::format::decode::<Meta>(bytes, KIND, MAX_BODY)?;
        let m = d.meta;
        if m.version != VERSION {
            return Err(Error::ClientKey(format!(
                "version {} (this build reads {VERSION})",
                m.version
            )));
        }
        let [a, b, c] = m.parts;
        if a.checked_add(b).and_then(|ab| ab.checked_add(c)) != Some(d.body.len() as u64) {
            return Err(Error::ClientKey("part lengths do not add up".into()));
        }
        let (a, b) = (a as usize, b as usize);
        let he = pixveil_henn::Client::from_secret_key_bytes(m.spec, &d.body[..a])?;
        if hex::encode(he.plan_id()) != m.plan_id {
            return Err(Error::ClientKey("plan id does not match the plan".into()));
        }
        let eval_keys = d.body[a..a + b].to_vec();
        if api::key_id(&eval_keys) != m.key_id {
            return Err(Error::ClientKey(
                "the evaluation keys do not match their id".into(),
            ));
        }
        let pk = &d.body[a + b..];
        let mode = m
            .mode
            .parse::<Mode>()
            .map_err(|e| Error::ClientKey(format!("mode: {e}")))?;
        Ok(Self {
            server: m.server,
            mode,
            key_id: m.key_id,
            eval_keys,
            he,
            perceptual: (!pk.is_empty()).then(|| Zeroizing::new(pk.to_vec())),
        })
    }

    fn perceptual(&self, passphrase: Option<&[u8]>) -> Result<Option<Perceptual>> {
        self.perceptual
            .as_deref()
            .map(|bytes| {
                Ok(Perceptual {
                    key: check_perceptual(self.spec(), bytes, passphrase)?,
                })
            })
            .transpose()
    }
}

/// Parses a perceptual key and checks it is of the plan's scheme and input shape.
fn check_perceptual(
    spec: &pixveil_henn::PlanSpec,
    bytes: &[u8],
    passphrase: Option<&[u8]>,
) -> Result<KeyFile> {
    let key = KeyFile::from_bytes(bytes, passphrase)?;
    let id = pixveil_cipher::scheme_id(&key.spec().name(), key.mode());
    if id != spec.scheme {
        return Err(Error::ClientKey(format!(
            "the perceptual key is {id}, the model was trained on {} images",
            spec.scheme
        )));
    }
    let s = key.shape();
    let [c, h, w] = spec.input_shape;
    if [s.channels(), s.height(), s.width()] != [c, h, w] {
        return Err(Error::ClientKey(format!(
            "the perceptual key is for {s} images, the model takes {h}x{w}x{c}"
        )));
    }
    Ok(key)
}

/// Retry policy of a [`Connection`].
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Longest total wait for a server that cannot be reached (restarting) or is
    /// overloaded (503), per request.
    pub patience: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            patience: Duration::from_secs(120),
        }
    }
}

/// An HTTP connection pool to one server.
#[derive(Debug, Clone)]
pub struct Connection {
    base: String,
    agent: ureq::Agent,
    retry: Retry,
}

/// Largest response body read (encrypted scores of a throughput batch are a few MB).
const MAX_RESPONSE: u64 = 1 << 30;

impl Connection {
    /// A connection to `server` (`http://HOST:PORT`, no trailing path).
    ///
    /// # Errors
    /// [`Error::Config`] for a URL that is not `http://…` or `https://…`.
    pub fn new(server: &str, retry: Retry) -> Result<Self> {
        let base = server.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Config(format!(
                "server URL {server:?} must start with http:// or https://"
            )));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(900)))
            .build()
            .into();
        Ok(Self { base, agent, retry })
    }

    /// The server URL.
    pub fn server(&self) -> &str {
        &self.base
    }

    /// One request with retries: transport failures (server down or restarting) and 503
    /// (overloaded, after `Retry-After`) and 500 are retried until the patience runs out;
    /// other errors return the server's problem document.
    fn request(&self, path: &str, body: Option<&[u8]>) -> Result<(u16, Vec<u8>)> {
        let url = format!("{}{path}", self.base);
        let start = Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            let sent = match body {
                None => self.agent.get(&url).call(),
                Some(b) => self
                    .agent
                    .post(&url)
                    .header("Content-Type", api::OCTET_STREAM)
                    .send(b),
            };
            let wait = match sent {
                Err(e) => {
                    let transient = matches!(
                        e,
                        ureq::Error::Io(_)
                            | ureq::Error::ConnectionFailed
                            | ureq::Error::Timeout(_)
                    );
                    if !transient || start.elapsed() + backoff > self.retry.patience {
                        return Err(Error::Unreachable {
                            url,
                            reason: e.to_string(),
                        });
                    }
                    backoff
                }
                Ok(mut r) => {
                    let status = r.status().as_u16();
                    let retry_after = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    let bytes = r
                        .body_mut()
                        .with_config()
                        .limit(MAX_RESPONSE)
                        .read_to_vec()
                        .map_err(|e| Error::Protocol(format!("reading the answer of {url}: {e}")));
                    let bytes = match bytes {
                        Ok(b) => b,
                        // The connection broke mid-answer (server killed): retry.
                        Err(e) if start.elapsed() + backoff <= self.retry.patience => {
                            eprintln!("warning: {e}; retrying");
                            std::thread::sleep(backoff);
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    if (200..300).contains(&status) {
                        return Ok((status, bytes));
                    }
                    let problem = serde_json::from_slice::<Problem>(&bytes).map_err(|_| {
                        Error::Protocol(format!(
                            "{url} answered {status} without a problem document"
                        ))
                    })?;
                    let retryable = matches!(
                        problem.code,
                        ProblemCode::Overloaded | ProblemCode::Internal
                    );
                    let wait = retry_after.map_or(backoff, Duration::from_secs);
                    if !retryable || start.elapsed() + wait > self.retry.patience {
                        return Err(Error::Server(problem));
                    }
                    wait
                }
            };
            std::thread::sleep(wait);
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// `GET /v1/model`.
    ///
    /// # Errors
    /// Transport, server or protocol errors.
    pub fn model_card(&self) -> Result<ModelCard> {
        let (_, b) = self.request(api::PATH_MODEL, None)?;
        serde_json::from_slice(&b).map_err(|e| Error::Protocol(format!("model card: {e}")))
    }

    /// `POST /v1/keys` with a client key's evaluation keys.
    ///
    /// # Errors
    /// Transport, server or protocol errors; [`Error::Protocol`] if the server's id differs
    /// from the client's.
    pub fn register(&self, key: &ClientKey) -> Result<KeyRegistered> {
        let (_, b) = self.request(api::PATH_KEYS, Some(key.evaluation_key_bytes()))?;
        let reg: KeyRegistered = serde_json::from_slice(&b)
            .map_err(|e| Error::Protocol(format!("key registration: {e}")))?;
        if reg.key_id != key.key_id() {
            return Err(Error::Protocol(format!(
                "the server registered the keys as {}, expected {}",
                reg.key_id,
                key.key_id()
            )));
        }
        Ok(reg)
    }

    /// Sends one encrypted input; registers the keys again and retries once if the server
    /// no longer knows them.
    fn classify_bytes(&self, key: &ClientKey, input: &[u8], mode: Mode) -> Result<Vec<u8>> {
        let path = match mode {
            Mode::Latency => api::PATH_CLASSIFY,
            Mode::Throughput => api::PATH_CLASSIFY_BATCH,
        };
        let path = format!("{path}?key={}", key.key_id());
        match self.request(&path, Some(input)) {
            Err(Error::Server(p)) if p.code == ProblemCode::UnknownKey => {
                self.register(key)?;
                Ok(self.request(&path, Some(input))?.1)
            }
            r => Ok(r?.1),
        }
    }
}

/// Options of [`classify`].
#[derive(Clone, Copy, Debug)]
pub struct ClassifyOptions<'a> {
    /// Latency (one request per image) or throughput (one request per batch of up to
    /// `N/2` images).
    pub mode: Mode,
    /// Passphrase of a protected perceptual key.
    pub passphrase: Option<&'a [u8]>,
}

/// Decrypted scores of one image.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scores {
    /// Argmax of the scores.
    pub class: usize,
    /// The logits, rounded to 2^-10 ([`pixveil_henn::client::SCORE_BITS`]).
    pub scores: Vec<f64>,
}

/// Classifies `images` through the server: checks that it still runs the key's plan,
/// applies the perceptual key (hybrid models), encrypts, sends, decrypts.
/// `progress(done)` after each request.
///
/// # Errors
/// [`Error::Input`] for images of another shape or a request larger than the server
/// accepts, [`Error::ClientKey`] if the server now runs another plan, transport and server
/// errors, [`Error::He`] for answers that do not decrypt.
pub fn classify(
    conn: &Connection,
    key: &ClientKey,
    images: &ImageBatch,
    options: ClassifyOptions<'_>,
    progress: &dyn Fn(usize),
) -> Result<Vec<Scores>> {
    let spec = key.spec();
    let [c, h, w] = spec.input_shape;
    let s = images.shape();
    if [s.channels(), s.height(), s.width()] != [c, h, w] {
        return Err(Error::Input(format!(
            "the model takes {h}x{w}x{c} images, got {s}"
        )));
    }
    if !key.modes().contains(&options.mode) {
        return Err(Error::ClientKey(format!(
            "the client key holds {} keys only: make latency keys with `pixveil client keygen --mode latency`",
            key.modes()[0].name()
        )));
    }
    let card = check_server(conn, key)?;
    let perceptual = key.perceptual(options.passphrase)?;
    let encrypted;
    let images = match &perceptual {
        None => images,
        Some(p) => {
            let mut copy = images.clone();
            let nonces = match p.key.mode() {
                KeyMode::Fixed => None,
                KeyMode::PerImage => Some(Nonce::fresh(copy.len())?),
            };
            p.key
                .batch_cipher()?
                .encrypt_batch(&mut copy, nonces.as_deref(), &|_| {})?;
            encrypted = copy;
            &encrypted
        }
    };
    let plan_id = *key.he.plan_id();
    let params = key.he.params().clone();
    let mut rng = ChaCha20Rng::from_os_rng();
    let per_request = match options.mode {
        Mode::Latency => 1,
        Mode::Throughput => spec.batch_images.max(1),
    };
    let mut out = Vec::with_capacity(images.len());
    let all: Vec<usize> = (0..images.len()).collect();
    for chunk in all.chunks(per_request) {
        let values: Vec<Vec<f64>> = chunk
            .iter()
            .map(|&i| pixveil_henn::eval::image_values(images, i))
            .collect();
        let input = match options.mode {
            Mode::Latency => key.he.encrypt_image(&values[0], &mut rng)?,
            Mode::Throughput => {
                let refs: Vec<&[f64]> = values.iter().map(Vec::as_slice).collect();
                key.he.encrypt_batch(&refs, &mut rng)?
            }
        };
        let body = input.input_to_bytes(&plan_id);
        drop(input);
        if body.len() as u64 > card.max_body_bytes {
            return Err(Error::Input(format!(
                "an encrypted {} request is {} bytes, the server accepts at most {}{}",
                options.mode.name(),
                body.len(),
                card.max_body_bytes,
                match options.mode {
                    Mode::Throughput => " (a batch costs the same whatever its image count): use latency mode or raise the server's --max-body-mib",
                    Mode::Latency => "",
                }
            )));
        }
        let answer = conn.classify_bytes(key, &body, options.mode)?;
        let scores =
            Encrypted::scores_from_bytes(&params, &plan_id, &answer).map_err(|e| match e {
                pixveil_henn::Error::PlanMismatch {
                    what,
                    found,
                    expected,
                } => Error::ClientKey(format!(
                    "the {what} was made for plan {found}, this is plan {expected}: the server \
                     runs another model now; make a new client key"
                )),
                e => Error::He(e),
            })?;
        if scores.images != chunk.len() {
            return Err(Error::Protocol(format!(
                "{} scores for {} images",
                scores.images,
                chunk.len()
            )));
        }
        for logits in key.he.decrypt_scores(&scores)? {
            out.push(Scores {
                class: pixveil_henn::eval::argmax(&logits),
                scores: logits,
            });
        }
        progress(out.len());
    }
    Ok(out)
}

/// `pixveil client keygen`: fetches the model card, makes the keys, registers the
/// evaluation keys (public) with the server, returns the client key to save.
///
/// # Errors
/// As [`ClientKey::generate`] and [`Connection::register`].
pub fn keygen(
    conn: &Connection,
    mode: Mode,
    perceptual: Option<&[u8]>,
    passphrase: Option<&[u8]>,
) -> Result<(ClientKey, KeyRegistered)> {
    let card = conn.model_card()?;
    if card.protocol != api::PROTOCOL_VERSION {
        return Err(Error::Protocol(format!(
            "the server speaks protocol {}, this client {}",
            card.protocol,
            api::PROTOCOL_VERSION
        )));
    }
    let key = ClientKey::generate(conn.server(), &card, mode, perceptual, passphrase)?;
    let reg = conn.register(&key)?;
    Ok((key, reg))
}

/// Checks that the server still runs the plan `key` was made for; returns its card.
///
/// # Errors
/// [`Error::ClientKey`] if it runs another plan; transport errors.
pub fn check_server(conn: &Connection, key: &ClientKey) -> Result<ModelCard> {
    let card = conn.model_card()?;
    if card.plan_id != hex::encode(key.he.plan_id()) {
        return Err(Error::ClientKey(format!(
            "{} now runs plan {} ({}), the client key was made for plan {}: make a new client key",
            conn.server(),
            card.plan_id,
            card.spec.architecture,
            hex::encode(key.he.plan_id())
        )));
    }
    Ok(card)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_refuses_non_http_urls() {
        assert!(matches!(
            Connection::new("ftp://x", Retry::default()),
            Err(Error::Config(_))
        ));
        assert!(Connection::new("http://127.0.0.1:1/", Retry::default()).is_ok());
    }
}
