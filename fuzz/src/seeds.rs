//! Writes the seeds of the fuzz corpora: small valid objects of every kind each target
//! decodes, made by the library, into `fuzz/corpus/<target>/seed-*`. Run after
//! `cargo +nightly fuzz build`: `fuzz/target/x86_64-unknown-linux-gnu/release/write-seeds`.

use pixveil_ckks::prelude::*;
use pixveil_fuzz as targets;
use pixveil_image::{cifar, idx, ImageBatch, Shape};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::io::Write;
use std::path::Path;

fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(raw).expect("gzip");
    enc.finish().expect("gzip")
}

fn prefixed(kind: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(bytes);
    out
}

fn grey(n: usize, side: u32) -> ImageBatch {
    let shape = Shape::new(side, side, 1).expect("shape");
    let data = (0..n * shape.len()).map(|i| (i * 37 % 256) as u8).collect();
    ImageBatch::new(shape, data).expect("batch")
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, name, bytes) in all() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus folder");
        std::fs::write(dir.join(&name), bytes).expect("seed written");
        println!("{target}/{name}");
    }
}

fn all() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut add = |t: &'static str, name: &str, bytes: Vec<u8>| {
        out.push((t, format!("seed-{name}"), bytes));
    };

    // IDX, CIFAR and gzip: small files, raw and compressed (slices of the built-in sample
    // data were added beside them as `seed-sample-*`).
    let images = idx::encode_images(&grey(2, 5)).expect("idx");
    let labels = idx::encode_labels(&[1, 7, 255]).expect("idx");
    add("idx", "images", images.clone());
    add("idx", "labels", labels.clone());
    add("idx", "images-gz", gzip(&images));
    add("gzip", "idx-images", gzip(&images));
    add("gzip", "idx-labels", gzip(&labels));
    let shape = Shape::new(32, 32, 3).expect("shape");
    let pixels: Vec<u8> = (0..2 * shape.len()).map(|i| (i * 13 % 256) as u8).collect();
    let batch = cifar::encode_batch(&ImageBatch::new(shape, pixels).expect("batch"), &[3, 9])
        .expect("cifar");
    add("cifar", "two", batch.clone());
    add("cifar", "two-gz", gzip(&batch));
    add("gzip", "cifar-two", gzip(&batch));
    let mut multi = gzip(&labels[..5]);
    multi.extend(gzip(&labels[5..]));
    add("gzip", "multi-member", multi);

    // Image files: PNG (grey, grey+alpha, RGB, RGBA, 16-bit) and JPEG (grey, RGB).
    let png = |img: image::DynamicImage, fmt: image::ImageFormat| {
        let mut buf = std::io::Cursor::new(Vec::new());
        img.write_to(&mut buf, fmt).expect("encode");
        buf.into_inner()
    };
    let rgb = image::RgbImage::from_fn(6, 5, |x, y| image::Rgb([x as u8 * 40, y as u8 * 50, 7]));
    let rgb = image::DynamicImage::ImageRgb8(rgb);
    add(
        "image",
        "rgb.png",
        png(rgb.clone(), image::ImageFormat::Png),
    );
    add(
        "image",
        "rgba.png",
        png(
            image::DynamicImage::ImageRgba8(rgb.to_rgba8()),
            image::ImageFormat::Png,
        ),
    );
    add(
        "image",
        "grey.png",
        png(
            image::DynamicImage::ImageLuma8(rgb.to_luma8()),
            image::ImageFormat::Png,
        ),
    );
    add(
        "image",
        "greya.png",
        png(
            image::DynamicImage::ImageLumaA8(rgb.to_luma_alpha8()),
            image::ImageFormat::Png,
        ),
    );
    add(
        "image",
        "grey16.png",
        png(
            image::DynamicImage::ImageLuma16(rgb.to_luma16()),
            image::ImageFormat::Png,
        ),
    );
    add(
        "image",
        "rgb.jpg",
        png(rgb.clone(), image::ImageFormat::Jpeg),
    );
    add(
        "image",
        "grey.jpg",
        png(
            image::DynamicImage::ImageLuma8(rgb.to_luma8()),
            image::ImageFormat::Jpeg,
        ),
    );

    // Key files of every scheme and both modes, one passphrase-protected, and manifests.
    let grey_shape = Shape::new(8, 8, 1).expect("shape");
    let rgb_shape = Shape::new(8, 8, 3).expect("shape");
    let mut keys = Vec::new();
    for name in pixveil_cipher::SchemeSpec::NAMES {
        let spec = pixveil_cipher::SchemeSpec::from_name(name, Some(2)).expect("scheme");
        for shape in [grey_shape, rgb_shape] {
            for mode in [
                pixveil_cipher::KeyMode::Fixed,
                pixveil_cipher::KeyMode::PerImage,
            ] {
                let secret = pixveil_core::MasterSecret::from_bytes([9; 32]);
                if let Ok(k) =
                    pixveil_cipher::KeyFile::with_secret(spec.clone(), shape, mode, secret)
                {
                    keys.push((format!("{name}-{}-{mode}", shape.channels()), k));
                }
            }
        }
    }
    let argon2 = pixveil_core::kdf::Argon2Params {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };
    let protected = pixveil_cipher::KeyFile::from_passphrase(
        pixveil_cipher::SchemeSpec::from_name("pe", None).expect("scheme"),
        rgb_shape,
        pixveil_cipher::KeyMode::Fixed,
        b"fuzz",
        argon2,
    )
    .expect("key");
    keys.push(("pe-passphrase".into(), protected));
    for (name, key) in &keys {
        add(
            "container",
            name,
            key.to_bytes().expect("key bytes").to_vec(),
        );
    }
    for (mode, names) in [
        (pixveil_cipher::KeyMode::Fixed, None),
        (
            pixveil_cipher::KeyMode::PerImage,
            Some(vec!["a.png".to_owned(), "b.png".to_owned()]),
        ),
    ] {
        let nonces = match mode {
            pixveil_cipher::KeyMode::Fixed => vec![],
            pixveil_cipher::KeyMode::PerImage => pixveil_cipher::Nonce::fresh(2).expect("nonces"),
        };
        let m = pixveil_cipher::Manifest {
            spec: pixveil_cipher::SchemeSpec::from_name("pe", None).expect("scheme"),
            shape: rgb_shape,
            mode,
            key_id: keys[0].1.key_id(),
            count: 2,
            names,
            nonces,
        };
        add(
            "container",
            &format!("manifest-{mode}"),
            m.to_bytes().expect("manifest"),
        );
    }

    // CKKS: every object under the small ring, parameters of the presets.
    let p = targets::small_params();
    let mut rng = ChaCha20Rng::from_seed([5; 32]);
    let kg = KeyGenerator::new(&p, &mut rng).expect("keys");
    let sk = kg.secret_key().clone();
    let pk = kg.public_key(&mut rng).expect("pk");
    let rlk = kg.relin_key(&mut rng).expect("rlk");
    let gk = kg.galois_keys(&[1, 2], true, &mut rng).expect("gk");
    let enc = Encoder::new(&p).expect("encoder");
    let pt = enc
        .encode_real(&[0.5, -1.0, 2.0], 1, p.default_scale())
        .expect("pt");
    let ct_sk = Encryptor::with_secret_key(&p, &sk)
        .expect("enc")
        .encrypt(&pt, &mut rng)
        .expect("ct");
    let ct_pk = Encryptor::with_public_key(&p, &pk)
        .expect("enc")
        .encrypt(&pt, &mut rng)
        .expect("ct");
    for preset in [
        Preset::TenSeal8192,
        Preset::Precise8192,
        Preset::Standard16384,
    ] {
        let params = Parameters::preset(preset).expect("preset");
        add(
            "ckks",
            &format!("params-{preset:?}"),
            prefixed(0, &params.to_bytes()),
        );
    }
    add("ckks", "sk", prefixed(1, &sk.to_bytes()));
    add("ckks", "pk", prefixed(2, &pk.to_bytes()));
    add("ckks", "rlk", prefixed(3, &rlk.to_bytes()));
    add("ckks", "gk", prefixed(4, &gk.to_bytes()));
    add("ckks", "ct-seeded", prefixed(5, &ct_sk.to_bytes()));
    add("ckks", "ct", prefixed(5, &ct_pk.to_bytes()));
    add("ckks", "pt", prefixed(6, &pt.to_bytes()));

    // Encrypted-inference wire objects and a plan spec.
    use pixveil_henn::{Encrypted, EvaluationKeys, Mode};
    let plan = targets::PLAN_ID;
    let keys_lat = EvaluationKeys {
        relin: rlk.clone(),
        galois: Some(gk.clone()),
    };
    let keys_thr = EvaluationKeys {
        relin: rlk,
        galois: None,
    };
    add(
        "henn",
        "keys-latency",
        prefixed(0, &keys_lat.to_bytes(&plan)),
    );
    add(
        "henn",
        "keys-throughput",
        prefixed(0, &keys_thr.to_bytes(&plan)),
    );
    let input = Encrypted {
        mode: Mode::Latency,
        images: 1,
        ciphertexts: vec![ct_pk.clone(), ct_sk],
    };
    add("henn", "input", prefixed(1, &input.input_to_bytes(&plan)));
    let scores = Encrypted {
        mode: Mode::Throughput,
        images: 3,
        ciphertexts: vec![ct_pk],
    };
    add(
        "henn",
        "scores",
        prefixed(2, &scores.scores_to_bytes(&plan)),
    );

    // Checkpoints of the HE-friendly CNNs; their plan specs.
    use pixveil_nn::{checkpoint, Architecture, Model, ModelConfig};
    for arch in [Architecture::TensealCnn, Architecture::HeCnn] {
        let model = Model::new(&ModelConfig::new(arch, [1, 28, 28]), 1).expect("model");
        add(
            "checkpoint",
            arch.name(),
            checkpoint::to_bytes(&model, "none").expect("checkpoint"),
        );
        let net = pixveil_henn::Network::from_model(&model).expect("network");
        let plan = pixveil_henn::Plan::compile(net, arch.name(), "none").expect("plan");
        let json = serde_json::to_vec(plan.spec()).expect("json");
        add("henn", &format!("spec-{}", arch.name()), prefixed(3, &json));
    }
    out
}
