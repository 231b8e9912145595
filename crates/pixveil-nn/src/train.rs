//! Training and evaluation over `pixveil_image` batches.

use pixveil_image::ImageBatch;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::model::{argmax, Model, NUM_CLASSES};
use crate::{Error, Result};

/// A per-image transform applied to the raw `u8` pixels (`HWC`) before they are
/// scaled to `[0, 1]`: the hook through which an application plugs in encryption.
///
/// Any `Fn(&mut [u8]) + Sync` closure is a transform.
pub trait Transform: Sync {
    /// Transforms one image in place.
    fn apply(&self, image: &mut [u8]);
}

impl<F: Fn(&mut [u8]) + Sync> Transform for F {
    fn apply(&self, image: &mut [u8]) {
        self(image);
    }
}

/// Applies `transform` to every image of `batch`, in parallel.
pub fn apply_transform(batch: &mut ImageBatch, transform: &dyn Transform) {
    batch
        .par_images_mut()
        .for_each(|(_, image)| transform.apply(image));
}

/// Converts a batch to model input: per image `CHW` `f32` values in `[0, 1]`
/// (pixel / 255), images contiguous.
pub fn to_tensor(batch: &ImageBatch) -> Vec<f32> {
    let shape = batch.shape();
    let (c, hw) = (shape.channels(), shape.pixels());
    let mut out = Vec::with_capacity(batch.as_bytes().len());
    for image in batch.images() {
        for ch in 0..c {
            out.extend((0..hw).map(|p| f32::from(image[p * c + ch]) / 255.0));
        }
    }
    out
}

/// A first-order optimiser over a model's parameters.
pub trait Optimizer {
    /// One update with gradients `grads` (in `model.params()` layout) multiplied by
    /// `scale` (e.g. `1 / batch size`).
    fn step(&mut self, model: &mut Model, grads: &[Vec<f32>], scale: f32);
    /// The current learning rate.
    fn lr(&self) -> f32;
    /// Sets the learning rate (for schedules).
    fn set_lr(&mut self, lr: f32);
}

/// SGD with (PyTorch-style) momentum: `v ← μ·v + g`, `p ← p − lr·v`.
#[derive(Clone, Debug)]
pub struct Sgd {
    /// Learning rate.
    pub lr: f32,
    /// Momentum `μ` (0 for plain SGD).
    pub momentum: f32,
    velocity: Vec<Vec<f32>>,
}

impl Sgd {
    /// An optimiser for `model`'s parameters.
    pub fn new(model: &Model, lr: f32, momentum: f32) -> Self {
        Self {
            lr,
            momentum,
            velocity: model.zero_grads(),
        }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, model: &mut Model, grads: &[Vec<f32>], scale: f32) {
        for ((p, g), v) in model.params_mut().zip(grads).zip(&mut self.velocity) {
            for ((pv, gv), vv) in p.iter_mut().zip(g).zip(v.iter_mut()) {
                *vv = self.momentum * *vv + gv * scale;
                *pv -= self.lr * *vv;
            }
        }
    }

    fn lr(&self) -> f32 {
        self.lr
    }

    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }
}

/// Adam optimiser (Kingma & Ba), PyTorch defaults apart from the learning rate.
#[derive(Clone, Debug)]
pub struct Adam {
    /// Learning rate.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Denominator epsilon.
    pub eps: f32,
    step: i32,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl Adam {
    /// An optimiser for `model`'s parameters.
    pub fn new(model: &Model, lr: f32) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: 0,
            m: model.zero_grads(),
            v: model.zero_grads(),
        }
    }
}

impl Optimizer for Adam {
    fn lr(&self) -> f32 {
        self.lr
    }

    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }

    fn step(&mut self, model: &mut Model, grads: &[Vec<f32>], scale: f32) {
        self.step = self.step.saturating_add(1);
        let bc1 = 1.0 - self.beta1.powi(self.step);
        let bc2 = 1.0 - self.beta2.powi(self.step);
        for (((p, g), m), v) in model
            .params_mut()
            .zip(grads)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            for (((pv, gv), mv), vv) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                let gv = gv * scale;
                *mv = self.beta1 * *mv + (1.0 - self.beta1) * gv;
                *vv = self.beta2 * *vv + (1.0 - self.beta2) * gv * gv;
                let mhat = *mv / bc1;
                let vhat = *vv / bc2;
                *pv -= self.lr * mhat / (vhat.sqrt() + self.eps);
            }
        }
    }
}

/// Loss and accuracy over one pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochStats {
    /// Mean softmax cross-entropy.
    pub loss: f64,
    /// Fraction of correct top-1 predictions.
    pub accuracy: f64,
    /// Number of images seen.
    pub images: usize,
}

/// Per-chunk accumulator: gradients, loss sum, correct count.
struct Acc {
    grads: Vec<Vec<f32>>,
    loss: f64,
    correct: usize,
}

fn check_data(model: &Model, images: &ImageBatch, labels: &[u8]) -> Result<()> {
    let s = images.shape();
    let shape = [s.channels(), s.height(), s.width()];
    if shape != model.input_shape() {
        return Err(Error::Shape(format!(
            "{} expects images of shape {:?} (CHW), got {shape:?}",
            model.architecture(),
            model.input_shape()
        )));
    }
    if labels.len() != images.len() {
        return Err(Error::Shape(format!(
            "{} images but {} labels",
            images.len(),
            labels.len()
        )));
    }
    if let Some(bad) = labels.iter().find(|&&l| usize::from(l) >= NUM_CLASSES) {
        return Err(Error::Shape(format!("label {bad} out of range")));
    }
    Ok(())
}

/// Softmax cross-entropy of `logits` against `label`: `(loss, d loss / d logits)`.
fn softmax_ce(logits: &[f32], label: usize) -> (f64, Vec<f32>) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|z| (z - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    let loss = f64::from(sum.ln() + max - logits[label]);
    let mut grad: Vec<f32> = exps.iter().map(|e| e / sum).collect();
    grad[label] -= 1.0;
    (loss, grad)
}

/// Images per rayon work item within a mini-batch.
const CHUNK: usize = 16;

/// One epoch of mini-batch training with `opt` over `images` / `labels` in an order shuffled by
/// `seed`. Returns the running mean loss and accuracy of the epoch.
///
/// # Errors
/// [`Error::Shape`] if the images do not fit the model, label count or range is wrong,
/// or `batch_size` is 0.
pub fn train_epoch(
    model: &mut Model,
    opt: &mut dyn Optimizer,
    images: &ImageBatch,
    labels: &[u8],
    batch_size: usize,
    seed: u64,
) -> Result<EpochStats> {
    check_data(model, images, labels)?;
    if batch_size == 0 {
        return Err(Error::Shape("batch size 0".into()));
    }
    let x = to_tensor(images);
    let n = model.input_len();
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let (mut loss, mut correct) = (0.0, 0);
    for batch in order.chunks(batch_size) {
        let m: &Model = model;
        let acc = batch
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut acc = Acc {
                    grads: m.zero_grads(),
                    loss: 0.0,
                    correct: 0,
                };
                for &i in chunk {
                    let acts = m.forward_cached(&x[i * n..(i + 1) * n]);
                    let logits = &acts[acts.len() - 1];
                    let label = usize::from(labels[i]);
                    acc.correct += usize::from(argmax(logits) == label);
                    let (l, dout) = softmax_ce(logits, label);
                    acc.loss += l;
                    m.backward(&acts, dout, &mut acc.grads);
                }
                acc
            })
            .collect::<Vec<_>>()
            .into_iter()
            // Sequential, in chunk order: bit-identical results whatever rayon's splits.
            .reduce(|mut a, b| {
                for (ga, gb) in a.grads.iter_mut().zip(&b.grads) {
                    for (x, y) in ga.iter_mut().zip(gb) {
                        *x += y;
                    }
                }
                a.loss += b.loss;
                a.correct += b.correct;
                a
            });
        if let Some(acc) = acc {
            opt.step(model, &acc.grads, 1.0 / batch.len() as f32);
            loss += acc.loss;
            correct += acc.correct;
        }
    }
    Ok(stats(loss, correct, labels.len()))
}

fn stats(loss: f64, correct: usize, images: usize) -> EpochStats {
    let d = images.max(1) as f64;
    EpochStats {
        loss: loss / d,
        accuracy: correct as f64 / d,
        images,
    }
}

/// Mean loss and accuracy of `model` on `images` / `labels`.
///
/// # Errors
/// As [`train_epoch`].
pub fn evaluate(model: &Model, images: &ImageBatch, labels: &[u8]) -> Result<EpochStats> {
    check_data(model, images, labels)?;
    let x = to_tensor(images);
    let n = model.input_len();
    let (loss, correct) = (0..labels.len())
        .into_par_iter()
        .map(|i| {
            let acts = model.forward_cached(&x[i * n..(i + 1) * n]);
            let logits = &acts[acts.len() - 1];
            let label = usize::from(labels[i]);
            let (l, _) = softmax_ce(logits, label);
            (l, usize::from(argmax(logits) == label))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold((0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    Ok(stats(loss, correct, labels.len()))
}
