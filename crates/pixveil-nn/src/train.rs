//! Training, evaluation and prediction over `pixveil_image` batches.
//!
//! Images are `u8` `HWC`; they become `CHW` `f32` values `pixel / 255` one mini-batch at
//! a time ([`Tensor::from_images`]). Encryption and augmentation happen before, on the
//! `u8` images, through [`Transform`] or the caller's own code: this crate does not
//! depend on the cipher crate.

use pixveil_image::ImageBatch;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::model::{argmax, Model};
use crate::optim::{LrSchedule, Optimizer};
use crate::profile::{self, Kind, Pass};
use crate::tensor::Tensor;
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

/// Loss and accuracy over one pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochStats {
    /// Mean softmax cross-entropy (nats).
    pub loss: f64,
    /// Fraction of correct top-1 predictions, in `[0, 1]`.
    pub accuracy: f64,
    /// Number of images seen.
    pub images: usize,
}

/// Progress within an epoch, reported after every mini-batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchProgress {
    /// Images done so far in this epoch.
    pub done: usize,
    /// Images in the epoch.
    pub total: usize,
    /// Running mean loss.
    pub loss: f64,
    /// Running accuracy.
    pub accuracy: f64,
}

/// Checks that `images` have the model's input shape.
pub(crate) fn check_images(model: &Model, images: &ImageBatch) -> Result<()> {
    let s = images.shape();
    let shape = [s.channels(), s.height(), s.width()];
    if shape != model.input_shape() {
        return Err(Error::Shape(format!(
            "{} expects images of shape {:?} (C,H,W), got {shape:?}",
            model.architecture(),
            model.input_shape()
        )));
    }
    Ok(())
}

/// [`check_images`], and one label per image, each a valid class.
pub(crate) fn check_data(model: &Model, images: &ImageBatch, labels: &[u8]) -> Result<()> {
    check_images(model, images)?;
    if labels.len() != images.len() {
        return Err(Error::LabelCount {
            images: images.len(),
            labels: labels.len(),
        });
    }
    let classes = model.config().classes;
    if let Some(&label) = labels.iter().find(|&&l| usize::from(l) >= classes) {
        return Err(Error::LabelOutOfRange { label, classes });
    }
    Ok(())
}

/// Softmax cross-entropy of a logits batch against `labels`: per-sample `(loss,
/// correct)` and `d loss / d logits` (not yet divided by the batch size).
fn softmax_ce(logits: &Tensor, labels: &[u8]) -> (Vec<(f64, bool)>, Tensor) {
    let k = logits.c;
    let mut grad = logits.clone();
    let per = grad
        .data
        .chunks_exact_mut(k)
        .zip(labels)
        .map(|(row, &label)| {
            let label = usize::from(label);
            let correct = argmax(row) == label;
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            // log-softmax from the shifted logit itself, not from the log of its
            // exponential: `exp` underflows to 0 once a logit lies ≈ 104 below the
            // largest, which made a large but finite loss infinite (and training stop as
            // "diverged" where PyTorch carries on).
            let shifted = f64::from(row[label] - max);
            let mut sum = 0.0f64;
            for v in row.iter_mut() {
                *v = (*v - max).exp();
                sum += f64::from(*v);
            }
            let loss = sum.ln() - shifted;
            for v in row.iter_mut() {
                *v = (f64::from(*v) / sum) as f32;
            }
            row[label] -= 1.0;
            (loss, correct)
        })
        .collect();
    (per, grad)
}

/// One epoch of mini-batch training with `opt` over `images` / `labels` in an order
/// shuffled by `seed` (the last batch may be smaller). Reports progress after every
/// batch and returns the running mean loss and accuracy of the epoch (training mode).
///
/// Results are bit-identical for the same inputs whatever the thread count.
///
/// # Errors
/// [`Error::Shape`] if the images do not fit the model; [`Error::LabelCount`] or
/// [`Error::LabelOutOfRange`] for wrong labels; [`Error::ZeroBatchSize`];
/// [`Error::Diverged`] if the loss becomes non-finite (lower the learning rate).
pub fn train_epoch(
    model: &mut Model,
    opt: &mut dyn Optimizer,
    images: &ImageBatch,
    labels: &[u8],
    batch_size: usize,
    seed: u64,
    on_batch: &mut dyn FnMut(BatchProgress),
) -> Result<EpochStats> {
    train_epoch_scheduled(model, opt, images, labels, batch_size, seed, None, on_batch)
}

/// A learning rate set before every mini-batch: the rate of `schedule` for base rate
/// `base` at fractional epoch `epoch + done / total` of `total_epochs`, with `warmup`
/// epochs of linear warm-up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepSchedule {
    /// The schedule.
    pub schedule: LrSchedule,
    /// Base learning rate.
    pub base: f32,
    /// 0-based epoch this pass is.
    pub epoch: usize,
    /// Epochs in the run.
    pub total_epochs: usize,
    /// Warm-up length in epochs (0 for none).
    pub warmup: f64,
}

impl StepSchedule {
    /// The rate once `done` of the epoch's `total` images have been trained on.
    pub fn lr(&self, done: usize, total: usize) -> f32 {
        let progress = self.epoch as f64 + done as f64 / total.max(1) as f64;
        self.schedule
            .lr_at(self.base, progress, self.total_epochs, self.warmup)
    }
}

/// [`train_epoch`] with the learning rate set by `schedule` before every mini-batch
/// (`None`: left as it is).
///
/// # Errors
/// As [`train_epoch`].
#[allow(clippy::too_many_arguments)]
pub fn train_epoch_scheduled(
    model: &mut Model,
    opt: &mut dyn Optimizer,
    images: &ImageBatch,
    labels: &[u8],
    batch_size: usize,
    seed: u64,
    schedule: Option<StepSchedule>,
    on_batch: &mut dyn FnMut(BatchProgress),
) -> Result<EpochStats> {
    check_data(model, images, labels)?;
    if batch_size == 0 {
        return Err(Error::ZeroBatchSize);
    }
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let (mut loss, mut correct, mut done) = (0.0, 0usize, 0usize);
    let mut grads = model.zero_grads();
    for batch in order.chunks(batch_size) {
        if let Some(s) = schedule {
            opt.set_lr(s.lr(done, labels.len()));
        }
        let y: Vec<u8> = batch.iter().map(|&i| labels[i]).collect();
        grads.iter_mut().for_each(|g| g.fill(0.0));
        let mut per = Vec::new();
        // The batch's tensors are made and dropped on the one worker that runs the step:
        // made here and dropped there (or the reverse), pooled buffers would pile up in
        // one thread's pool while another's ran dry.
        profile::on_pool(|| {
            let x = Tensor::from_images(images, batch);
            model
                .forward_backward(x, &mut grads, &mut |logits| {
                    let (p, g) =
                        profile::time(Kind::Loss, Pass::Backward, || softmax_ce(logits, &y));
                    per = p;
                    g
                })
                .map(drop)
        })?;
        let batch_loss: f64 = per.iter().map(|p| p.0).sum();
        if !batch_loss.is_finite() {
            return Err(Error::Diverged {
                loss: batch_loss,
                images: done,
            });
        }
        profile::time(Kind::Optimizer, Pass::Backward, || {
            opt.step(model, &grads, 1.0 / batch.len() as f32)
        });
        loss += batch_loss;
        correct += per.iter().filter(|p| p.1).count();
        done += batch.len();
        on_batch(BatchProgress {
            done,
            total: labels.len(),
            loss: loss / done as f64,
            accuracy: correct as f64 / done as f64,
        });
    }
    Ok(stats(loss, correct, labels.len()))
}

pub(crate) fn stats(loss: f64, correct: usize, images: usize) -> EpochStats {
    let d = images.max(1) as f64;
    EpochStats {
        loss: loss / d,
        accuracy: correct as f64 / d,
        images,
    }
}

/// Images in flight during evaluation, across all threads, up to 8 threads (memory bound,
/// not a hyper-parameter): each of `t` threads evaluates batches of `EVAL_BATCH / t` images
/// (at least [`EVAL_MIN_BATCH`], so `32·t` images above 8 threads).
pub(crate) const EVAL_BATCH: usize = 256;
/// Smallest evaluation batch of one thread.
const EVAL_MIN_BATCH: usize = 32;

/// `f(first, logits)` for every evaluation batch of `images` (`first`: the index of the
/// batch's first image; `logits`: `[n, classes, 1, 1]` in evaluation mode), in image order.
///
/// Batches run side by side, one whole forward pass per thread: a model's pass makes one
/// parallel call per layer, and on small models those calls cost more than they share
/// (the TenSEAL CNN's inference did not scale past one thread). Each of `t` tasks takes
/// every `t`-th batch, so at most `t` batches are in flight. A forward pass computes every
/// image on its own (no layer mixes images in evaluation mode, and no kernel's summation
/// order depends on the batch), so the results do not depend on the batching or the thread
/// count. With the profile on (`bench train --profile`), batches run one after another on
/// the calling thread, whose profile counts only the passes it runs itself.
fn eval_batches<T: Send>(
    model: &Model,
    images: &ImageBatch,
    f: impl Fn(usize, Tensor) -> T + Sync,
) -> Result<Vec<T>> {
    profile::on_pool(|| {
        let threads = if profile::enabled() {
            1
        } else {
            rayon::current_num_threads()
        };
        let per = (EVAL_BATCH / threads).max(EVAL_MIN_BATCH);
        let idx: Vec<usize> = (0..images.len()).collect();
        let batches: Vec<&[usize]> = idx.chunks(per).collect();
        let tasks = threads.min(batches.len()).max(1);
        let run = |b: &[usize]| -> Result<T> {
            let logits = model.forward_batch(Tensor::from_images(images, b))?;
            Ok(f(b[0], logits))
        };
        if tasks == 1 {
            return batches.into_iter().map(run).collect();
        }
        let mut per_task: Vec<std::vec::IntoIter<Result<T>>> = (0..tasks)
            .into_par_iter()
            .map(|t| {
                batches[t..]
                    .iter()
                    .step_by(tasks)
                    .map(|b| run(b))
                    .collect::<Vec<_>>()
                    .into_iter()
            })
            .collect();
        // Batch i came from task i mod tasks, as its (i / tasks)-th result.
        (0..batches.len())
            .map(|i| {
                per_task[i % tasks]
                    .next()
                    .expect("task i mod tasks ran batch i")
            })
            .collect()
    })
}

/// Mean loss and accuracy of `model` on `images` / `labels` (evaluation mode).
///
/// The loss is summed image by image in image order, so it does not depend on the batching.
///
/// # Errors
/// As [`train_epoch`].
pub fn evaluate(model: &Model, images: &ImageBatch, labels: &[u8]) -> Result<EpochStats> {
    check_data(model, images, labels)?;
    let per = eval_batches(model, images, |first, out| {
        softmax_ce(&out, &labels[first..first + out.n]).0
    })?;
    let (mut loss, mut correct) = (0.0, 0);
    for (l, c) in per.into_iter().flatten() {
        loss += l;
        correct += usize::from(c);
    }
    Ok(stats(loss, correct, labels.len()))
}

/// Softmax class probabilities of every image (evaluation mode), one vector of
/// `classes` values per image.
///
/// # Errors
/// [`Error::Shape`] if the images do not fit the model.
pub fn predict(model: &Model, images: &ImageBatch) -> Result<Vec<Vec<f32>>> {
    check_images(model, images)?;
    let per = eval_batches(model, images, |_, t| {
        t.data
            .chunks(t.c)
            .map(|row| {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
                let s: f32 = e.iter().sum();
                e.into_iter().map(|v| v / s).collect::<Vec<f32>>()
            })
            .collect::<Vec<_>>()
    })?;
    Ok(per.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_cross_entropy_stays_finite_for_far_apart_logits() {
        // The label's logit 200 below the largest: exp(-200) underflows in f32, the loss
        // (≈ 200 nats) does not.
        let logits = Tensor::from_vec(2, [3, 1, 1], vec![0.0, 200.0, 1.0, 2.0, 1.0, 0.0]);
        let (per, grad) = softmax_ce(&logits, &[0, 0]);
        assert!((per[0].0 - 200.0).abs() < 1e-3, "{}", per[0].0);
        assert!(!per[0].1 && per[1].1);
        let want = 1.0 + (-1.0f64).exp() + (-2.0f64).exp();
        assert!((per[1].0 - want.ln()).abs() < 1e-6);
        // d loss / d logits = softmax − one-hot.
        assert!((grad.data[0] + 1.0).abs() < 1e-6 && (grad.data[1] - 1.0).abs() < 1e-6);
        // Non-finite logits are still reported as a non-finite loss.
        let bad = Tensor::from_vec(1, [2, 1, 1], vec![f32::NAN, 0.0]);
        assert!(!softmax_ce(&bad, &[0]).0[0].0.is_finite());
    }
}
