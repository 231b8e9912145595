#![allow(clippy::unwrap_used)]
//! The server and client over real loopback sockets: results equal the plaintext model's,
//! every fault is a clean problem document and the server keeps serving, keys survive a
//! restart and eviction is answered with `unknown_key` (the client re-registers), slow
//! clients are cut off, overload is a 503 with `Retry-After`, the OpenAPI description
//! matches the server, and the client sends only public material.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use pixveil_henn::{Encrypted, Mode};
use pixveil_service::api::{self, KeyRegistered, ProblemCode};
use pixveil_service::client::{self, ClassifyOptions, ClientKey, Connection, Retry};
use tempfile::TempDir;

fn options(mode: Mode) -> ClassifyOptions<'static> {
    ClassifyOptions {
        mode,
        passphrase: None,
    }
}

fn alive(url: &str) {
    let h = get(url, api::PATH_HEALTH);
    assert_eq!((h.status, h.body.as_slice()), (200, &b"ok\n"[..]));
}

#[test]
fn classify_faults_and_restart() {
    let plan = shared_plan();
    let dir = TempDir::new().unwrap();
    let images = mnist(4);
    let want = plain_logits(&plan, &images);
    let server = TestServer::start(plan.clone(), config(dir.path()));
    let url = server.url.clone();
    let conn = Connection::new(&url, Retry::default()).unwrap();

    // Keygen registers the keys; the same bytes register once, under the same id.
    let (key, reg) = client::keygen(&conn, Mode::Latency, None, None).unwrap();
    assert!(reg.created && reg.mode == "latency" && reg.key_id == key.key_id());
    let again = post_bin(&url, api::PATH_KEYS, key.evaluation_key_bytes());
    assert_eq!(again.status, 200);
    let again: KeyRegistered = serde_json::from_slice(&again.body).unwrap();
    assert!(!again.created && again.key_id == reg.key_id);

    // Both modes give the plaintext model's classes.
    let lat = client::classify(&conn, &key, &images, options(Mode::Latency), &|_| {}).unwrap();
    assert_agrees(&want, &lat, "latency");
    let thr = client::classify(&conn, &key, &images, options(Mode::Throughput), &|_| {}).unwrap();
    assert_agrees(&want, &thr, "throughput");

    // A client key survives its file format.
    let key = ClientKey::from_bytes(&key.to_bytes().unwrap()).unwrap();

    // Faults: each a problem document with its code; the server keeps serving.
    let id = key.key_id().to_owned();
    let classify = format!("{}?key={id}", api::PATH_CLASSIFY);
    let batch = format!("{}?key={id}", api::PATH_CLASSIFY_BATCH);
    let input = {
        let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(5);
        let he = client_he(&key);
        he.encrypt_image(&pixveil_henn::eval::image_values(&images, 0), &mut rng)
            .unwrap()
    };
    let plan_id = plan.spec().id();
    let good = input.input_to_bytes(&plan_id);
    let ok = post_bin(&url, &classify, &good);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.content_type, "application/octet-stream");

    let expect = |a: Answer, code: ProblemCode| {
        let p = a.problem();
        assert_eq!(p.code, code, "{p}");
        alive(&url);
    };
    let keys = key.evaluation_key_bytes();
    expect(
        post_bin(&url, api::PATH_KEYS, &keys[..keys.len() / 2]),
        ProblemCode::Malformed,
    );
    expect(post_bin(&url, api::PATH_KEYS, &[]), ProblemCode::Malformed);
    expect(
        post(&url, api::PATH_KEYS, "application/json", b"{}"),
        ProblemCode::UnsupportedMediaType,
    );
    expect(
        post_bin(&url, api::PATH_CLASSIFY, &good),
        ProblemCode::BadRequest,
    );
    expect(
        post_bin(&url, &format!("{}?key=zz", api::PATH_CLASSIFY), &good),
        ProblemCode::BadRequest,
    );
    expect(
        post_bin(
            &url,
            &format!("{}?key={}", api::PATH_CLASSIFY, "0".repeat(64)),
            &good,
        ),
        ProblemCode::UnknownKey,
    );
    let mut tampered = good.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 0x40;
    expect(post_bin(&url, &classify, &tampered), ProblemCode::Malformed);
    expect(
        post_bin(&url, &classify, &good[..good.len() - 100]),
        ProblemCode::Malformed,
    );
    expect(post_bin(&url, &batch, &good), ProblemCode::InputMismatch);
    // A ciphertext at the wrong level: valid envelope and checksums, one level lower.
    let ev = pixveil_ckks::evaluator::Evaluator::new(plan.params());
    let lower = Encrypted {
        ciphertexts: input
            .ciphertexts
            .iter()
            .map(|c| ev.drop_to_level(c, c.level() - 1).unwrap())
            .collect(),
        ..input.clone()
    };
    expect(
        post_bin(&url, &classify, &lower.input_to_bytes(&plan_id)),
        ProblemCode::InputMismatch,
    );
    // Keys and inputs for another plan.
    let other = common::plan(2, "none");
    let other_key = ClientKey::generate(
        &url,
        &card(&other, &config(dir.path())),
        Mode::Throughput,
        None,
        None,
    )
    .unwrap();
    expect(
        post_bin(&url, api::PATH_KEYS, other_key.evaluation_key_bytes()),
        ProblemCode::PlanMismatch,
    );
    expect(
        post_bin(&url, &classify, &input.input_to_bytes(&other.spec().id())),
        ProblemCode::PlanMismatch,
    );
    expect(
        method(&url, "GET", api::PATH_KEYS),
        ProblemCode::MethodNotAllowed,
    );
    expect(get(&url, "/v2/nothing"), ProblemCode::NotFound);
    // A declared length beyond the limit is refused before any byte of it is read.
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        api::PATH_KEYS,
        1u64 << 30
    );
    let answer = raw(server.addr, head.as_bytes(), Duration::from_secs(10));
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 413") && text.contains("body_too_large"),
        "{text}"
    );
    alive(&url);

    let metrics = String::from_utf8(get(&url, api::PATH_METRICS).body).unwrap();
    for line in [
        "pixveil_requests_total{endpoint=\"classify\",status=\"200\"}",
        "pixveil_requests_total{endpoint=\"keys\",status=\"400\"}",
        "pixveil_request_seconds_bucket{endpoint=\"classify\",le=\"+Inf\"}",
        "pixveil_key_store_keys 1",
        "pixveil_images_total",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }

    // Restart on the same data dir: the registered keys are still there.
    drop(server);
    let server = TestServer::start(plan.clone(), config(dir.path()));
    let url = server.url.clone();
    let ok = post_bin(&url, &classify, &good);
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let conn = Connection::new(&url, Retry::default()).unwrap();
    let lat = client::classify(&conn, &key, &images, options(Mode::Latency), &|_| {}).unwrap();
    assert_agrees(&want, &lat, "after restart");
}

/// The HE client inside a client key (the tests encrypt by hand to build bad inputs).
fn client_he(key: &ClientKey) -> pixveil_henn::Client {
    let bytes = key.to_bytes().unwrap();
    let d = pixveil_core::format::decode::<serde_json::Value>(&bytes, "heclient", 1 << 30).unwrap();
    let sk_len = d.meta["parts"][0].as_u64().unwrap() as usize;
    pixveil_henn::Client::from_secret_key_bytes(key.spec().clone(), &d.body[..sk_len]).unwrap()
}

#[test]
fn eviction_is_answered_404_and_the_client_registers_again() {
    let plan = shared_plan();
    let dir = TempDir::new().unwrap();
    let mut cfg = config(dir.path());
    let keys: Vec<ClientKey> = (0..3)
        .map(|_| {
            ClientKey::generate("http://x", &card(&plan, &cfg), Mode::Latency, None, None).unwrap()
        })
        .collect();
    let size = keys[0].evaluation_key_bytes().len() as u64;
    // Room for two key sets, not three.
    cfg.key_store_bytes = 2 * size + size / 2;
    let server = TestServer::start(plan.clone(), cfg.clone());
    let url = server.url.clone();
    for k in &keys {
        assert_eq!(
            post_bin(&url, api::PATH_KEYS, k.evaluation_key_bytes()).status,
            201
        );
    }
    let images = mnist(2);
    let conn = Connection::new(&url, Retry::default()).unwrap();
    let input = client_he(&keys[0])
        .encrypt_image(
            &pixveil_henn::eval::image_values(&images, 0),
            &mut <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(1),
        )
        .unwrap();
    let path = format!("{}?key={}", api::PATH_CLASSIFY, keys[0].key_id());
    let a = post_bin(&url, &path, &input.input_to_bytes(&plan.spec().id()));
    assert_eq!(a.problem().code, ProblemCode::UnknownKey);
    assert!(std::fs::read_dir(dir.path().join("keys")).unwrap().count() == 2);
    // The client reacts to the 404 by registering again (evicting the next oldest).
    let s = client::classify(&conn, &keys[0], &images, options(Mode::Latency), &|_| {}).unwrap();
    assert_agrees(&plain_logits(&plan, &images), &s, "after eviction");
    let metrics = String::from_utf8(get(&url, api::PATH_METRICS).body).unwrap();
    assert!(
        metrics.contains("pixveil_key_store_evicted_total 2"),
        "{metrics}"
    );
    // Throughput keys cannot classify in latency mode.
    let thr =
        ClientKey::generate("http://x", &card(&plan, &cfg), Mode::Throughput, None, None).unwrap();
    let err = client::classify(&conn, &thr, &images, options(Mode::Latency), &|_| {});
    assert!(matches!(err, Err(pixveil_service::Error::ClientKey(_))));
}

#[test]
fn slow_clients_are_cut_off_and_the_server_keeps_serving() {
    let dir = TempDir::new().unwrap();
    let mut cfg = config(dir.path());
    cfg.header_timeout = Duration::from_millis(800);
    cfg.request_timeout = Duration::from_millis(1500);
    cfg.key_store_bytes = 1000;
    let server = TestServer::start(shared_plan(), cfg);
    // Keys larger than the whole store are refused before they are parsed.
    let a = post_bin(&server.url, api::PATH_KEYS, &[7u8; 2000]);
    assert_eq!(a.problem().code, ProblemCode::KeysTooLarge);
    // Headers that never finish: the connection is closed after the header timeout.
    let start = Instant::now();
    let slow_headers = std::thread::spawn({
        let addr = server.addr;
        move || {
            raw(
                addr,
                b"POST /v1/keys HTTP/1.1\r\nHost: x\r\n",
                Duration::from_secs(20),
            )
        }
    });
    // A body that trickles: 504 timeout after the request timeout.
    let slow_body = std::thread::spawn({
        let addr = server.addr;
        move || {
            raw(
                addr,
                b"POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n0123456789",
                Duration::from_secs(20),
            )
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    alive(&server.url);
    let headers = slow_headers.join().unwrap();
    let body = String::from_utf8_lossy(&slow_body.join().unwrap()).into_owned();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "slow clients held for {:?}",
        start.elapsed()
    );
    let headers = String::from_utf8_lossy(&headers);
    assert!(
        headers.is_empty() || headers.starts_with("HTTP/1.1 408"),
        "{headers}"
    );
    assert!(
        body.starts_with("HTTP/1.1 504") && body.contains("\"timeout\""),
        "{body}"
    );
    alive(&server.url);
}

#[test]
fn concurrent_clients_get_503_with_retry_after_then_succeed() {
    let plan = shared_plan();
    let dir = TempDir::new().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_concurrent = 1;
    cfg.max_queue = 1;
    let server = TestServer::start(plan.clone(), cfg);
    let url = server.url.clone();
    let conn = Connection::new(&url, Retry::default()).unwrap();
    let (key, _) = client::keygen(&conn, Mode::Latency, None, None).unwrap();
    let key = Arc::new(key);
    let images = Arc::new(mnist(16));
    let want = plain_logits(&plan, &images);
    let clients = 16;
    let results: Vec<(usize, Vec<client::Scores>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let (conn, key, images) = (conn.clone(), key.clone(), images.clone());
                s.spawn(move || {
                    let mut one = (*images).clone();
                    // Image c only.
                    let bytes = one.image(c).unwrap().to_vec();
                    one = pixveil_image::ImageBatch::new(one.shape(), bytes).unwrap();
                    let r = client::classify(&conn, &key, &one, options(Mode::Latency), &|_| {});
                    (c, r.unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (c, s) in results {
        assert_agrees(&want[c..=c], &s, &format!("client {c}"));
    }
    let metrics = String::from_utf8(get(&url, api::PATH_METRICS).body).unwrap();
    let count = |status: &str| -> u64 {
        let prefix =
            format!("pixveil_requests_total{{endpoint=\"classify\",status=\"{status}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0, |v| v.parse().unwrap())
    };
    assert_eq!(count("200"), clients as u64);
    assert!(
        count("503") > 0,
        "16 clients, one slot, one queue place: some 503s\n{metrics}"
    );
    // Errors other than the deliberate 503s: none.
    assert!(!metrics.lines().any(|l| l
        .starts_with("pixveil_requests_total{endpoint=\"classify\",status=\"5")
        && !l.contains("status=\"503\"")));
    // The 503 itself: code and Retry-After.
    let input = client_he(&key)
        .encrypt_image(
            &pixveil_henn::eval::image_values(&images, 0),
            &mut <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(3),
        )
        .unwrap()
        .input_to_bytes(&plan.spec().id());
    let path = format!("{}?key={}", api::PATH_CLASSIFY, key.key_id());
    let answers: Vec<Answer> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..6)
            .map(|_| s.spawn(|| post_bin(&url, &path, &input)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let busy: Vec<&Answer> = answers.iter().filter(|a| a.status == 503).collect();
    assert!(!busy.is_empty());
    for a in busy {
        assert_eq!(a.problem().code, ProblemCode::Overloaded);
        assert_eq!(a.retry_after.as_deref(), Some("1"));
    }
}

#[test]
fn openapi_describes_the_server() {
    let dir = TempDir::new().unwrap();
    let server = TestServer::start(shared_plan(), config(dir.path()));
    let url = server.url.clone();
    let served = get(&url, api::PATH_OPENAPI);
    assert_eq!(served.status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&served.body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let ours = [
        api::PATH_MODEL,
        api::PATH_KEYS,
        api::PATH_CLASSIFY,
        api::PATH_CLASSIFY_BATCH,
        api::PATH_HEALTH,
        api::PATH_METRICS,
        api::PATH_OPENAPI,
    ];
    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    let mut expected = ours.to_vec();
    documented.sort_unstable();
    expected.sort_unstable();
    assert_eq!(
        documented, expected,
        "every endpoint documented, nothing else"
    );
    for (path, item) in paths {
        for (m, op) in item.as_object().unwrap() {
            // The documented method is routed (no 404/405); other methods are 405.
            let a = method(&url, &m.to_uppercase(), path);
            assert_ne!(a.status, 404, "{m} {path}");
            assert_ne!(a.status, 405, "{m} {path}");
            let statuses: Vec<u16> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.parse().unwrap())
                .collect();
            assert!(
                statuses.contains(&a.status),
                "{m} {path} answered {} (documented {statuses:?})",
                a.status
            );
            let other = if m == "get" { "DELETE" } else { "GET" };
            assert_eq!(method(&url, other, path).status, 405, "{other} {path}");
        }
    }
    // Problem codes: the schema's enum is exactly the server's set.
    let mut enum_codes: Vec<String> = doc["components"]["schemas"]["Problem"]["properties"]["code"]
        ["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let mut codes: Vec<String> = ProblemCode::ALL
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    enum_codes.sort();
    codes.sort();
    assert_eq!(enum_codes, codes);
    for c in ProblemCode::ALL {
        assert_eq!(
            serde_json::to_value(c).unwrap(),
            serde_json::Value::String(c.name().into())
        );
    }
    // The model card has every field the schema requires.
    let card: serde_json::Value = serde_json::from_slice(&get(&url, api::PATH_MODEL).body).unwrap();
    let schema = &doc["components"]["schemas"]["ModelCard"];
    for f in schema["required"].as_array().unwrap() {
        assert!(
            card.get(f.as_str().unwrap()).is_some(),
            "model card lacks {f}"
        );
    }
    for f in schema["properties"]["spec"]["required"].as_array().unwrap() {
        assert!(
            card["spec"].get(f.as_str().unwrap()).is_some(),
            "spec lacks {f}"
        );
    }
}

/// A TCP proxy that records every byte the client sends.
fn recording_proxy(target: SocketAddr) -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let sent = log.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { break };
            let mut server = TcpStream::connect(target).unwrap();
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let log = log.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n) = c2.read(&mut buf) {
                    if n == 0 || s2.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    log.lock().unwrap().extend_from_slice(&buf[..n]);
                }
                let _ = s2.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut server, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (url, sent)
}

/// Windows of `len` bytes of `secret` that are not trivially repetitive.
fn windows(secret: &[u8], len: usize) -> Vec<&[u8]> {
    secret
        .windows(len)
        .filter(|w| {
            let mut d = w.to_vec();
            d.sort_unstable();
            d.dedup();
            d.len() >= 4
        })
        .collect()
}

#[test]
fn the_client_sends_only_public_material() {
    use pixveil_cipher::{KeyFile, KeyMode, SchemeSpec};
    // A hybrid model: trained on pe (fixed key) images.
    let plan = common::plan(3, "pe:fixed");
    let dir = TempDir::new().unwrap();
    let server = TestServer::start(plan.clone(), config(dir.path()));
    let (url, sent) = recording_proxy(server.addr);
    let shape = pixveil_image::Shape::new(28, 28, 1).unwrap();
    let pkey = KeyFile::generate(
        SchemeSpec::from_name("pe", None).unwrap(),
        shape,
        KeyMode::Fixed,
    )
    .unwrap();
    let pkey_bytes = pkey.to_bytes().unwrap();
    let conn = Connection::new(&url, Retry::default()).unwrap();
    // Without the perceptual key, keygen refuses a hybrid model.
    assert!(matches!(
        client::keygen(&conn, Mode::Latency, None, None),
        Err(pixveil_service::Error::ClientKey(_))
    ));
    let (key, _) = client::keygen(&conn, Mode::Latency, Some(&pkey_bytes), None).unwrap();
    let images = mnist(3);
    let scores = client::classify(&conn, &key, &images, options(Mode::Latency), &|_| {}).unwrap();
    // The server classified the perceptually encrypted images, as the model expects.
    let mut enc = images.clone();
    pkey.batch_cipher()
        .unwrap()
        .encrypt_batch(&mut enc, None, &|_| {})
        .unwrap();
    assert_agrees(&plain_logits(&plan, &enc), &scores, "hybrid");

    let sent = sent.lock().unwrap().clone();
    assert!(sent.len() > 1 << 20, "the proxy saw the uploads");
    // No piece of the CKKS secret key (its packed coefficients, without the public
    // header and checksum), of the perceptual master secret, of the images or of the
    // perceptually encrypted images.
    let ck = key.to_bytes().unwrap();
    let d = pixveil_core::format::decode::<serde_json::Value>(&ck, "heclient", 1 << 30).unwrap();
    let sk_len = d.meta["parts"][0].as_u64().unwrap() as usize;
    let sk = pixveil_core::format::decode_ref::<serde_json::Value>(
        &d.body[..sk_len],
        "ckks-sk",
        1 << 30,
    )
    .unwrap();
    let sk_payload = sk.body;
    let master = pkey.secret().expose_bytes();
    let find = |needle: &[u8]| sent.windows(needle.len()).any(|w| w == needle);
    let mut checked = 0;
    for (what, secret, len) in [
        ("CKKS secret key", sk_payload, 16),
        ("perceptual master secret", &master[..], 12),
        ("images", images.as_bytes(), 24),
        ("perceptually encrypted images", enc.as_bytes(), 24),
    ] {
        let pieces: std::collections::HashSet<&[u8]> = windows(secret, len).into_iter().collect();
        checked += pieces.len();
        assert!(
            !sent.windows(len).any(|w| pieces.contains(w)),
            "a piece of the {what} was sent"
        );
    }
    assert!(checked > 100);
    // Every request body is a public object: evaluation keys or an encrypted input.
    let text = String::from_utf8_lossy(&sent);
    let posts = text.matches("POST ").count();
    let keys_posts = text.matches("POST /v1/keys ").count();
    let classify_posts = text.matches("POST /v1/classify").count();
    assert_eq!(posts, keys_posts + classify_posts);
    assert!(keys_posts >= 1 && classify_posts == 3);
    // Kind tags of the pixveil containers sent (CKKS objects nest inside the wire objects).
    let kinds: Vec<String> = sent
        .windows(16)
        .filter(|w| w.starts_with(b"PXVL"))
        .map(|w| {
            String::from_utf8_lossy(&w[8..16])
                .trim_end_matches('\0')
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| k.starts_with("henn-")).count(),
        keys_posts + classify_posts,
        "one wire object per POST"
    );
    assert!(
        kinds.iter().all(
            |k| ["henn-key", "henn-in", "ckks-rlk", "ckks-gk", "ckks-ct"].contains(&k.as_str())
        ),
        "only evaluation keys and ciphertexts were sent (no key file, no secret key): {kinds:?}"
    );
    assert!(!find(b"heclient"));
}

#[test]
fn server_code_names_no_secret_type() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/server");
    let mut files = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let src = std::fs::read_to_string(&path).unwrap();
        // Doc comments may name what is absent; code may not.
        let code: String = src
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for banned in [
            "SecretKey",
            "Decryptor",
            "KeyGenerator",
            "ClientKey",
            "henn::Client",
            "crate::client",
            "KeyFile",
            "MasterSecret",
            "decrypt",
        ] {
            assert!(!code.contains(banned), "{} names {banned}", path.display());
        }
        files += 1;
    }
    assert!(files >= 3);
}
