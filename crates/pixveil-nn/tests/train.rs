//! Short training run of the TenSEAL CNN on the built-in MNIST sample.
#![allow(clippy::unwrap_used)]

use pixveil_image::{sample, DatasetKind, ImageBatch};
use pixveil_nn::{
    apply_transform, evaluate, predict, train_epoch, Adam, Architecture, Model, ModelConfig,
    Optimizer, Sgd,
};

fn model(arch: Architecture, shape: [usize; 3], seed: u64) -> Model {
    Model::new(&ModelConfig::new(arch, shape), seed).unwrap()
}

const MNIST: [usize; 3] = [1, 28, 28];

fn split(n_train: usize) -> (ImageBatch, Vec<u8>, ImageBatch, Vec<u8>) {
    let ds = sample::load(DatasetKind::Mnist).unwrap();
    let shape = ds.images.shape();
    let cut = n_train * shape.len();
    let bytes = ds.images.as_bytes();
    (
        ImageBatch::new(shape, bytes[..cut].to_vec()).unwrap(),
        ds.labels[..n_train].to_vec(),
        ImageBatch::new(shape, bytes[cut..].to_vec()).unwrap(),
        ds.labels[n_train..].to_vec(),
    )
}

#[test]
fn tenseal_cnn_learns_the_sample() {
    let (train, train_labels, test, test_labels) = split(200);
    let mut m = model(Architecture::TensealCnn, MNIST, 42);
    let mut opt = Adam::new(&m, 1e-3, 0.0);
    let before = evaluate(&m, &train, &train_labels).unwrap();
    let mut last = before;
    for epoch in 0..15 {
        last = train_epoch(
            &mut m,
            &mut opt,
            &train,
            &train_labels,
            64,
            epoch,
            &mut |_| {},
        )
        .unwrap();
    }
    let after = evaluate(&m, &train, &train_labels).unwrap();
    let held_out = evaluate(&m, &test, &test_labels).unwrap();
    eprintln!("before {before:?}\nlast epoch {last:?}\nafter {after:?}\nheld out {held_out:?}");
    assert!(after.loss < 0.5 * before.loss, "{before:?} -> {after:?}");
    assert!(after.accuracy >= 0.8, "{after:?}");
    assert!(held_out.accuracy >= 0.5, "{held_out:?}");
}

#[test]
fn training_is_deterministic_and_transform_is_applied() {
    let (mut train, labels, _, _) = split(64);
    let run = |images: &ImageBatch| {
        let mut m = model(Architecture::TensealCnn, MNIST, 1);
        let mut opt = Adam::new(&m, 1e-3, 0.0);
        let s = train_epoch(&mut m, &mut opt, images, &labels, 16, 3, &mut |_| {}).unwrap();
        (m, s)
    };
    let (a, sa) = run(&train);
    let (b, sb) = run(&train);
    assert_eq!((a, sa), (b, sb));
    let original = train.clone();
    apply_transform(&mut train, &|img: &mut [u8]| {
        img.iter_mut().for_each(|p| *p = 255 - *p)
    });
    assert!(train
        .images()
        .zip(original.images())
        .all(|(t, o)| t.iter().zip(o).all(|(x, y)| *x == 255 - *y)));
}

#[test]
fn bad_inputs_are_errors() {
    let (train, labels, _, _) = split(10);
    let mut m = model(Architecture::TensealCnn, MNIST, 0);
    let mut opt = Adam::new(&m, 1e-3, 0.0);
    assert!(train_epoch(&mut m, &mut opt, &train, &labels[..9], 4, 0, &mut |_| {}).is_err());
    assert!(train_epoch(&mut m, &mut opt, &train, &labels, 0, 0, &mut |_| {}).is_err());
    let mut bad = labels.clone();
    bad[0] = 10;
    assert!(evaluate(&m, &train, &bad).is_err());
    let cifar = sample::load(DatasetKind::Cifar10).unwrap().limit(10);
    assert!(evaluate(&m, &cifar.images, &cifar.labels).is_err());
}

#[test]
fn sgd_with_momentum_and_a_step_schedule_learns_too() {
    let (train, labels, _, _) = split(200);
    let mut m = model(Architecture::TensealCnn, MNIST, 3);
    let mut opt = Sgd::new(&m, 0.05, 0.9, 0.0);
    let before = evaluate(&m, &train, &labels).unwrap();
    for epoch in 0..15 {
        if epoch == 10 {
            let lr = opt.lr();
            opt.set_lr(lr * 0.1);
        }
        train_epoch(&mut m, &mut opt, &train, &labels, 32, epoch, &mut |_| {}).unwrap();
    }
    let after = evaluate(&m, &train, &labels).unwrap();
    eprintln!("sgd before {before:?}\nsgd after {after:?}");
    assert!((opt.lr() - 0.005).abs() < 1e-6);
    assert!(after.loss < 0.5 * before.loss, "{before:?} -> {after:?}");
    assert!(after.accuracy >= 0.7, "{after:?}");
}

#[test]
fn small_cnn_learns_the_cifar_sample() {
    learns_the_cifar_sample(ModelConfig::new(Architecture::SmallCnn, [3, 32, 32]));
}

// Separate from the small CNN so that the two run on two test threads.
#[test]
fn resnet_with_adaptation_learns_the_cifar_sample() {
    let mut r = ModelConfig::new(Architecture::Resnet18, [3, 32, 32]);
    r.width = 4;
    r.adaptation = true;
    learns_the_cifar_sample(r);
}

/// Eight epochs on the 256-image CIFAR-10 sample: the loss falls by 20 %, training accuracy
/// reaches 40 %, progress is reported per batch, predictions are distributions.
fn learns_the_cifar_sample(config: ModelConfig) {
    let ds = sample::load(DatasetKind::Cifar10).unwrap();
    let (images, labels) = (&ds.images, &ds.labels[..]);
    let mut m = Model::new(&config, 5).unwrap();
    let mut opt = Adam::new(&m, 1e-3, 0.0);
    let before = evaluate(&m, images, labels).unwrap();
    let mut progress = Vec::new();
    for epoch in 0..8 {
        train_epoch(&mut m, &mut opt, images, labels, 16, epoch, &mut |p| {
            progress.push(p)
        })
        .unwrap();
    }
    let after = evaluate(&m, images, labels).unwrap();
    eprintln!("{:?}: {before:?} -> {after:?}", config.architecture);
    assert!(after.loss < 0.8 * before.loss, "{before:?} -> {after:?}");
    assert!(after.accuracy >= 0.4, "{after:?}");
    assert_eq!(progress.len(), 8 * 16);
    assert_eq!(progress[15].done, 256);
    let probs = predict(&m, images).unwrap();
    assert_eq!(probs.len(), 256);
    assert!(probs
        .iter()
        .all(|p| (p.iter().sum::<f32>() - 1.0).abs() < 1e-4));
}

/// `f` on a fresh rayon pool of `threads` threads.
fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// ResNet-18 at width 2 (every convolution geometry, cheaply) and the small CNN, on CIFAR-10.
fn resnet_and_small_cnn() -> [ModelConfig; 2] {
    let mut resnet = ModelConfig::new(Architecture::Resnet18, [3, 32, 32]);
    resnet.width = 2;
    [
        resnet,
        ModelConfig::new(Architecture::SmallCnn, [3, 32, 32]),
    ]
}

/// The documented invariant: a training run is bit-identical for a seed whatever the thread
/// count. ResNet-18 (every convolution geometry: 3×3 stride 1 and 2, 1×1 shortcuts, maps from
/// 32×32 down to 4×4, so image groups of 1 to 32) and the small CNN (biases, pooling), with a
/// last batch that splits the image groups unevenly, on 1, 2 and 3 threads.
#[test]
fn training_is_bit_identical_across_thread_counts() {
    let ds = sample::load(DatasetKind::Cifar10).unwrap();
    let len = ds.images.shape().len();
    let n = 70;
    let images =
        ImageBatch::new(ds.images.shape(), ds.images.as_bytes()[..n * len].to_vec()).unwrap();
    let labels = &ds.labels[..n];
    for config in resnet_and_small_cnn() {
        let run = |threads: usize| {
            on_threads(threads, || {
                let mut m = Model::new(&config, 9).unwrap();
                let mut opt = Sgd::new(&m, 0.05, 0.9, 5e-4);
                let s = train_epoch(&mut m, &mut opt, &images, labels, 37, 1, &mut |_| {}).unwrap();
                let e = evaluate(&m, &images, labels).unwrap();
                (m, s, e)
            })
        };
        let one = run(1);
        for threads in [2, 3] {
            // PartialEq on f32 values: equal bit patterns (no NaN in a finite run).
            assert!(
                run(threads) == one,
                "{:?} on {threads} threads",
                config.architecture
            );
        }
    }
}

/// Evaluation runs batches side by side, one per thread, and sizes them by the thread count:
/// the documented invariant is that no image's logits depend on which images share its batch.
/// `predict` and `evaluate` on 1, 2, 3 and 8 threads (batches of 256, 128, 85 and 32 images,
/// a last one partial) must give the same bits, and the same as each image predicted alone.
/// ResNet-18 covers every convolution geometry, from 32×32 maps to the 4×4 ones whose
/// `im2col` groups span up to 32 images.
#[test]
fn evaluation_does_not_depend_on_batching_or_thread_count() {
    let ds = sample::load(DatasetKind::Cifar10).unwrap();
    let len = ds.images.shape().len();
    // 300 images: the 256 of the sample, then its first 44 again.
    let n = 300;
    let bytes = ds.images.as_bytes();
    let k = ds.labels.len();
    let images = ImageBatch::new(
        ds.images.shape(),
        (0..n)
            .flat_map(|i| &bytes[(i % k) * len..(i % k + 1) * len])
            .copied()
            .collect(),
    )
    .unwrap();
    let labels: Vec<u8> = (0..n).map(|i| ds.labels[i % k]).collect();
    let labels = &labels[..];
    for config in resnet_and_small_cnn() {
        let m = Model::new(&config, 5).unwrap();
        let run = |threads: usize| {
            on_threads(threads, || {
                (
                    predict(&m, &images).unwrap(),
                    evaluate(&m, &images, labels).unwrap(),
                )
            })
        };
        let one = run(1);
        for threads in [2, 3, 8] {
            assert!(
                run(threads) == one,
                "{:?} on {threads} threads",
                config.architecture
            );
        }
        for i in [0, 1, 127, 255, 299] {
            let alone = ImageBatch::new(
                images.shape(),
                images.as_bytes()[i * len..(i + 1) * len].to_vec(),
            )
            .unwrap();
            assert!(
                predict(&m, &alone).unwrap()[0] == one.0[i],
                "{:?}: image {i} alone",
                config.architecture
            );
        }
    }
}
