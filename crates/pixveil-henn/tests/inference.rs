//! Encrypted inference against the plaintext model, on real images (the built-in MNIST
//! sample) with briefly trained weights, at the 128-bit parameters the plan chooses.

use std::sync::Arc;

use pixveil_henn::eval::image_values;
use pixveil_henn::{Client, Encrypted, Error, EvaluationKeys, HeEvaluator, Mode, Network, Plan};
use pixveil_image::{sample, DatasetKind};
use pixveil_nn::{Adam, Architecture, Model, ModelConfig};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// A model trained for two epochs on the 256-image MNIST sample (realistic weight and
/// activation magnitudes; accuracy is not the point here).
fn trained(arch: Architecture) -> (Model, Vec<Vec<f64>>) {
    let data = sample::load(DatasetKind::Mnist).expect("built-in sample");
    let mut model = Model::new(&ModelConfig::new(arch, [1, 28, 28]), 7).expect("valid config");
    let mut opt = Adam::new(&model, 2e-3, 0.0);
    for epoch in 0..2 {
        pixveil_nn::train_epoch(
            &mut model,
            &mut opt,
            &data.images,
            &data.labels,
            32,
            epoch,
            &mut |_| {},
        )
        .expect("training on the sample");
    }
    let images = (0..data.images.len())
        .map(|i| image_values(&data.images, i))
        .collect();
    (model, images)
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::from_seed([42; 32])
}

/// Bits of agreement: `−log2 max |a − b|`.
fn bits(a: &[f64], b: &[f64]) -> f64 {
    let err = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    -err.max(f64::EPSILON).log2()
}

struct Setup {
    plan: Arc<Plan>,
    client: Client,
    images: Vec<Vec<f64>>,
}

fn setup(arch: Architecture) -> Setup {
    let (model, images) = trained(arch);
    let net = Network::from_model(&model).expect("HE-friendly");
    let plan = Arc::new(Plan::compile(net, arch.name(), "none").expect("compiles"));
    let client = Client::new(plan.spec().clone(), &mut rng()).expect("client");
    Setup {
        plan,
        client,
        images,
    }
}

#[test]
fn latency_mode_matches_the_plaintext_model_layer_by_layer() {
    for arch in [Architecture::TensealCnn, Architecture::HeCnn] {
        let s = setup(arch);
        let spec = s.plan.spec();
        assert_eq!(spec.depth, 5);
        let mut r = rng();
        let keys = s
            .client
            .evaluation_keys(Mode::Latency, &mut r)
            .expect("keys");
        assert_eq!(
            keys.galois
                .as_ref()
                .expect("latency keys")
                .elements()
                .count(),
            spec.galois_keys.len(),
            "{arch}: exactly the plan's Galois keys"
        );
        let server = HeEvaluator::new(s.plan.clone(), keys).expect("evaluator");
        let mut worst = f64::INFINITY;
        for x in s.images.iter().take(4) {
            let want = s.plan.network().forward(x);
            let enc = s.client.encrypt_image(x, &mut r).expect("encrypt");
            let out = server.classify(&enc).expect("classify");
            let got = &s.client.decrypt_scores_unrounded(&out).expect("decrypt")[0];
            worst = worst.min(bits(got, &want));
            let argmax = |v: &[f64]| (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b });
            assert_eq!(argmax(got), argmax(&want), "{arch}: same class");
        }
        // Logits of magnitude ~1–30 after five levels (working scale ≥ 2^31).
        assert!(worst >= 8.0, "{arch}: logits precise to {worst:.1} bits");
        eprintln!("{arch}: latency-mode logits precise to ≥ {worst:.1} bits");
    }
}

/// Every stage of the latency plan, decrypted, against the plaintext network's output of
/// that layer (absolute error, worst slot): at least 13 bits after the convolution, 11 after
/// the first square and dense layer (values up to ≈ 25), 9 after the second square and at
/// the logits (values up to ≈ 40).
#[test]
fn every_stage_matches_the_plaintext_layer() {
    let s = setup(Architecture::HeCnn);
    let mut r = rng();
    let keys = s
        .client
        .evaluation_keys(Mode::Latency, &mut r)
        .expect("keys");
    let server = HeEvaluator::new(s.plan.clone(), keys).expect("evaluator");
    let floors = [13.0, 11.0, 11.0, 9.0, 9.0];
    for x in s.images.iter().skip(10).take(2) {
        let want = s.plan.network().forward_layers(x);
        let enc = s.client.encrypt_image(x, &mut r).expect("encrypt");
        let mut stage = 0;
        server
            .classify_profiled(&enc, &mut |name, _, out| {
                let got = s.client.decrypt_slots_unrounded(&out[0]).expect("decrypt");
                let b = bits(&got[..want[stage].len()], &want[stage]);
                eprintln!("he-cnn {name}: {b:.1} bits");
                assert!(
                    b >= floors[stage],
                    "{name}: {b:.1} bits < {}",
                    floors[stage]
                );
                stage += 1;
            })
            .expect("classify");
        assert_eq!(stage, 5);
    }
}

#[test]
fn throughput_mode_matches_the_plaintext_model() {
    let s = setup(Architecture::TensealCnn);
    let mut r = rng();
    let keys = s
        .client
        .evaluation_keys(Mode::Throughput, &mut r)
        .expect("keys");
    assert!(keys.galois.is_none(), "no Galois keys in throughput mode");
    let server = HeEvaluator::new(s.plan.clone(), keys).expect("evaluator");
    let batch: Vec<&[f64]> = s.images.iter().take(64).map(Vec::as_slice).collect();
    let enc = s.client.encrypt_batch(&batch, &mut r).expect("encrypt");
    assert_eq!(enc.ciphertexts.len(), 784);
    let out = server.classify(&enc).expect("classify");
    let got = s.client.decrypt_scores_unrounded(&out).expect("decrypt");
    assert_eq!(got.len(), 64);
    let worst = got
        .iter()
        .zip(&batch)
        .map(|(g, x)| bits(g, &s.plan.network().forward(x)))
        .fold(f64::INFINITY, f64::min);
    assert!(worst >= 8.0, "throughput logits precise to {worst:.1} bits");
    eprintln!("tenseal-cnn: throughput-mode logits precise to ≥ {worst:.1} bits");
    // Rounded scores stay within the rounding step of the unrounded ones.
    let rounded = s.client.decrypt_scores(&out).expect("decrypt");
    for (a, b) in rounded.iter().flatten().zip(got.iter().flatten()) {
        assert!((a - b).abs() <= 0.5f64.powi(pixveil_henn::client::SCORE_BITS as i32 + 1) + 1e-12);
    }
}

#[test]
fn missing_galois_keys_and_levels_are_errors() {
    let s = setup(Architecture::TensealCnn);
    let mut r = rng();
    // Throughput keys cannot run a latency request.
    let keys = s
        .client
        .evaluation_keys(Mode::Throughput, &mut r)
        .expect("keys");
    let server = HeEvaluator::new(s.plan.clone(), keys).expect("evaluator");
    let enc = s
        .client
        .encrypt_image(&s.images[0], &mut r)
        .expect("encrypt");
    assert!(matches!(
        server.classify(&enc),
        Err(Error::MissingGaloisKeys { .. })
    ));

    // Galois keys without one of the plan's steps are refused up front.
    let params = s.plan.params().clone();
    let kg = pixveil_ckks::keys::KeyGenerator::new(&params, &mut r).expect("keygen");
    let steps = &s.plan.spec().galois_steps()[1..];
    let keys = EvaluationKeys {
        relin: kg.relin_key(&mut r).expect("rlk"),
        galois: Some(kg.galois_keys(steps, false, &mut r).expect("gk")),
    };
    match HeEvaluator::new(s.plan.clone(), keys) {
        Err(Error::MissingGaloisKeys { steps }) => {
            assert_eq!(steps, vec![s.plan.spec().galois_steps()[0]])
        }
        other => panic!("expected MissingGaloisKeys, got {other:?}"),
    }
    // Keys trimmed below the level a step is used at are missing keys too.
    let low: Vec<(i64, usize)> = s
        .plan
        .spec()
        .galois_steps()
        .iter()
        .map(|&st| (st, 0))
        .collect();
    let keys = EvaluationKeys {
        relin: kg.relin_key(&mut r).expect("rlk"),
        galois: Some(kg.galois_keys_at_levels(&low, &mut r).expect("gk")),
    };
    match HeEvaluator::new(s.plan.clone(), keys) {
        Err(Error::MissingGaloisKeys { steps }) => {
            assert_eq!(
                steps,
                s.plan.spec().galois_steps(),
                "every step is used above level 0"
            )
        }
        other => panic!("expected MissingGaloisKeys, got {other:?}"),
    }

    // An input at the wrong level is refused, not evaluated into garbage.
    let keys = s
        .client
        .evaluation_keys(Mode::Latency, &mut r)
        .expect("keys");
    let server = HeEvaluator::new(s.plan.clone(), keys).expect("evaluator");
    let ev = pixveil_ckks::evaluator::Evaluator::new(&params);
    let mut low = enc.clone();
    low.ciphertexts = low
        .ciphertexts
        .iter()
        .map(|c| ev.drop_to_level(c, c.level() - 1).expect("drop"))
        .collect();
    assert!(matches!(server.classify(&low), Err(Error::Mismatch(_))));
    let mut short = enc.clone();
    short.ciphertexts.pop();
    assert!(matches!(server.classify(&short), Err(Error::Mismatch(_))));

    // Parameters with fewer levels than the depth cannot hold the plan.
    let shallow =
        pixveil_ckks::params::Parameters::preset(pixveil_ckks::params::Preset::Standard16384)
            .expect("preset");
    let net = s.plan.network().clone();
    let mut deep = net.clone();
    for _ in 0..2 {
        deep.layers.push(pixveil_henn::network::HeLayer::Square);
    }
    deep.layers.extend(net.layers[1..].iter().cloned());
    // depth 5 + 2 + 4 = 11 > 8 levels of the n16384 preset
    assert!(matches!(
        Plan::compile_with(deep, "tenseal-cnn", "none", &shallow, "test"),
        Err(Error::NotEnoughLevels {
            needed: 11,
            available: 8
        })
    ));
}

#[test]
fn serialized_objects_round_trip_and_tampering_is_an_error() {
    let s = setup(Architecture::TensealCnn);
    let mut r = rng();
    let id = s.client.plan_id();
    let params = s.plan.params();
    let keys = s
        .client
        .evaluation_keys(Mode::Latency, &mut r)
        .expect("keys");
    let key_bytes = keys.to_bytes(id);
    let parsed = EvaluationKeys::from_bytes(params, id, &key_bytes).expect("round trip");
    let server = HeEvaluator::new(s.plan.clone(), parsed).expect("evaluator");
    let enc = s
        .client
        .encrypt_image(&s.images[1], &mut r)
        .expect("encrypt");
    let bytes = enc.input_to_bytes(id);
    assert_eq!(bytes.len(), enc.byte_len());
    let input = Encrypted::input_from_bytes(params, id, &bytes).expect("round trip");
    let out = server.classify(&input).expect("classify");
    let out_bytes = out.scores_to_bytes(id);
    let back = Encrypted::scores_from_bytes(params, id, &out_bytes).expect("round trip");
    let want = s.plan.network().forward(&s.images[1]);
    let got = &s.client.decrypt_scores(&back).expect("decrypt")[0];
    assert!(bits(got, &want) >= 8.0);

    // Every flipped byte (sampled every ~1 %) and every cut is refused.
    let step = (bytes.len() / 100).max(1);
    for i in (0..bytes.len()).step_by(step) {
        let mut t = bytes.clone();
        t[i] ^= 0x10;
        assert!(
            Encrypted::input_from_bytes(params, id, &t).is_err(),
            "flip at {i}"
        );
        assert!(
            Encrypted::input_from_bytes(params, id, &bytes[..i]).is_err(),
            "cut at {i}"
        );
    }
    let mut t = key_bytes.clone();
    let mid = t.len() / 2;
    t[mid] ^= 1;
    assert!(EvaluationKeys::from_bytes(params, id, &t).is_err());
    // Scores are not inputs, and objects of another plan are refused.
    assert!(Encrypted::input_from_bytes(params, id, &out_bytes).is_err());
    let other = [0u8; 16];
    assert!(matches!(
        Encrypted::input_from_bytes(params, &other, &bytes),
        Err(Error::PlanMismatch {
            what: "encrypted input",
            ..
        })
    ));
    assert!(matches!(
        EvaluationKeys::from_bytes(params, &other, &key_bytes),
        Err(Error::PlanMismatch { .. })
    ));
}

/// The evaluator's module names no secret-key type: it cannot reach one.
#[test]
fn the_evaluator_side_has_no_secret_key_in_scope() {
    let src = include_str!("../src/server.rs");
    let code: String = src
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    for forbidden in [
        "SecretKey",
        "Decryptor",
        "KeyGenerator",
        "Encryptor",
        "Client",
        "prelude",
        "client::",
    ] {
        assert!(!code.contains(forbidden), "server.rs mentions {forbidden}");
    }
}
