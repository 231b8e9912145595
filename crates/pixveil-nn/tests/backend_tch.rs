//! The LibTorch backend against the pure-Rust engine, on the built-in samples. Compiled only
//! with the cargo feature `tch`; `scripts/tch/test.sh` builds and runs it against PyPI's torch
//! wheel (`LIBTORCH_USE_PYTORCH=1`). The two engines sum in different orders, so results
//! agree to rounding, not bit for bit.
#![cfg(feature = "tch")]
#![allow(clippy::unwrap_used)]

use pixveil_image::{sample, DatasetKind};
use pixveil_nn::backend::{self, Backend};
use pixveil_nn::{Adam, Architecture, Model, ModelConfig, Optimizer, Sgd};

fn max_rel_diff(a: &[f32], b: &[f32]) -> f32 {
    let scale = a.iter().fold(1e-3f32, |m, x| m.max(x.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn flat(model: &Model) -> Vec<f32> {
    model
        .params()
        .iter()
        .flat_map(|p| p.value.iter().copied())
        .collect()
}

/// Same initial weights, same batches (the shuffle is the library's, by seed), same
/// optimiser formulas: after one epoch both engines hold the same weights, to rounding,
/// for every architecture the CLI trains.
#[test]
fn one_epoch_matches_the_rust_engine() {
    let mnist = sample::load(DatasetKind::Mnist).unwrap();
    let cifar = sample::load(DatasetKind::Cifar10).unwrap();
    let mut resnet = ModelConfig::new(Architecture::Resnet18, [3, 32, 32]);
    resnet.width = 4;
    resnet.adaptation = true;
    let cases = [
        (
            ModelConfig::new(Architecture::TensealCnn, [1, 28, 28]),
            &mnist,
        ),
        (ModelConfig::new(Architecture::HeCnn, [1, 28, 28]), &mnist),
        (
            ModelConfig::new(Architecture::SmallCnn, [3, 32, 32]),
            &cifar,
        ),
        (resnet, &cifar),
    ];
    for (config, ds) in cases {
        let name = format!("{:?}", config.architecture);
        let start = Model::new(&config, 7).unwrap();
        let mut out = Vec::new();
        for b in [Backend::Rust, Backend::Tch] {
            let mut m = start.clone();
            let mut opt: Box<dyn Optimizer> = if name.contains("Resnet") {
                Box::new(Sgd::new(&m, 0.01, 0.9, 5e-4))
            } else {
                Box::new(Adam::new(&m, 1e-3, 0.0))
            };
            let mut batches = 0;
            let stats = backend::train_epoch(
                b,
                &mut m,
                opt.as_mut(),
                &ds.images,
                &ds.labels,
                32,
                3,
                None,
                &mut |_| batches += 1,
            )
            .unwrap();
            let eval = backend::evaluate(b, &m, &ds.images, &ds.labels).unwrap();
            let probs = backend::predict(b, &m, &ds.images).unwrap();
            out.push((stats, eval, probs, flat(&m), batches));
        }
        let (r, t) = (&out[0], &out[1]);
        assert_eq!(r.4, t.4, "{name}: batches");
        assert!(
            (r.0.loss - t.0.loss).abs() < 1e-3 * r.0.loss.max(1.0),
            "{name}: {:?} vs {:?}",
            r.0,
            t.0
        );
        assert!(
            (r.1.loss - t.1.loss).abs() < 1e-3 * r.1.loss.max(1.0),
            "{name}: {:?} vs {:?}",
            r.1,
            t.1
        );
        let w = max_rel_diff(&r.3, &t.3);
        assert!(w < 1e-3, "{name}: weights differ by {w} (relative)");
        let p: Vec<f32> = r.2.iter().flatten().copied().collect();
        let q: Vec<f32> = t.2.iter().flatten().copied().collect();
        let d = max_rel_diff(&p, &q);
        assert!(d < 1e-3, "{name}: probabilities differ by {d}");
    }
}

/// The backend is named, reachable by name, and refuses bad input as the Rust engine does.
#[test]
fn bad_input_is_an_error() {
    assert!(Backend::Tch.compiled());
    assert_eq!(Backend::from_name("tch").unwrap(), Backend::Tch);
    assert!(Backend::Tch.describe().starts_with("tch (libtorch, "));
    let ds = sample::load(DatasetKind::Mnist).unwrap();
    let mut m = Model::new(&ModelConfig::new(Architecture::TensealCnn, [1, 28, 28]), 1).unwrap();
    let mut opt = Adam::new(&m, 1e-3, 0.0);
    let short = &ds.labels[..3];
    assert!(backend::train_epoch(
        Backend::Tch,
        &mut m,
        &mut opt,
        &ds.images,
        short,
        32,
        0,
        None,
        &mut |_| {}
    )
    .is_err());
    assert!(backend::evaluate(Backend::Tch, &m, &ds.images, short).is_err());
    let cifar = sample::load(DatasetKind::Cifar10).unwrap();
    assert!(backend::predict(Backend::Tch, &m, &cifar.images).is_err());
}
