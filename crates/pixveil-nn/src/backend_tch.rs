//! LibTorch backend (cargo feature `tch`): the same networks, losses, optimisers and
//! shuffling as the pure-Rust engine, computed by libtorch through the `tch` crate — on
//! CUDA when libtorch sees a GPU, else on the CPU.
//!
//! The network is not described twice: [`TchModel`] interprets a [`Model`]'s own layer
//! list ([`Model::layers`]) with libtorch operators (`conv2d`, `batch_norm` with PyTorch's
//! ε and momentum, `linear` on the flattened sample, `relu`, `x·x`, `max_pool2d`, mean over
//! `H·W`, residual sums), with the parameters and buffers copied in from the model, so the
//! layer order and PyTorch state-dict names are the model's. Gradients come from libtorch's
//! autograd; the optimiser updates (SGD with momentum, Adam with L2 decay, AdamW on weight
//! tensors only) are the formulas of [`crate::optim`], applied once per step to all
//! parameters at the same time (they are views into one flat tensor). After a call the
//! weights, batch-norm statistics (`num_batches_tracked` included) and optimiser state are
//! copied back, so checkpoints stay pixveil safetensors and `--resume` works across
//! backends.
//!
//! Results match the Rust engine up to floating-point rounding (different summation
//! orders), not bit for bit; CPU runs are repeatable for a seed.

use pixveil_image::ImageBatch;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Reduction, Tensor};

use crate::layer::{Layer, BN_EPS, BN_MOMENTUM};
use crate::model::Model;
use crate::optim::{Optimizer, OptimizerSettings, OptimizerState};
use crate::train::{
    check_data, check_images, stats, BatchProgress, EpochStats, StepSchedule, EVAL_BATCH,
};
use crate::{Error, Result};

impl From<tch::TchError> for Error {
    fn from(e: tch::TchError) -> Self {
        Error::Backend(format!("libtorch: {e}"))
    }
}

/// The device the backend runs on: the first CUDA device if libtorch sees one, else the
/// CPU.
pub fn device() -> Device {
    Device::cuda_if_available()
}

/// `cpu` or `cuda:N`.
pub fn device_name() -> String {
    match device() {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".into(),
    }
}

/// Sets libtorch's intra-op thread count (its default: the number of physical cores).
pub fn set_threads(threads: usize) {
    // More threads than i32::MAX only ask for "as many as possible": saturate.
    tch::set_num_threads(i32::try_from(threads.max(1)).unwrap_or(i32::MAX));
}

fn i64_of(v: usize) -> i64 {
    i64::try_from(v).expect("sizes and indices of in-memory data fit i64")
}

/// Copies a float tensor (any device) to a host vector.
fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    let t = t
        .f_detach()?
        .f_to_device(Device::Cpu)?
        .f_to_kind(Kind::Float)?
        .f_contiguous()?;
    let n = t.numel();
    let mut out = vec![0.0f32; n];
    t.f_copy_data(&mut out, n)?;
    Ok(out)
}

/// A [`Model`] on a libtorch device.
pub struct TchModel {
    layers: Vec<Layer>,
    /// Every parameter, concatenated in [`Model::params`] order (no gradient).
    flat: Tensor,
    /// Leaf views of `flat`, one per parameter, with gradients.
    params: Vec<Tensor>,
    /// Values per parameter.
    sizes: Vec<usize>,
    /// 1 on the elements of weight tensors (rank ≥ 2), 0 elsewhere: AdamW's decay mask.
    weight_mask: Tensor,
    /// Batch-norm buffers in [`Model::buffers`] order (the `num_batches_tracked` entries
    /// are carried but counted on the host, see `batches`).
    buffers: Vec<Tensor>,
    /// Training-mode forward passes since the copy from the model.
    batches: u64,
    device: Device,
}

impl TchModel {
    /// Copies `model`'s parameters and buffers to `device`.
    ///
    /// # Errors
    /// [`Error::Backend`] on a libtorch failure (e.g. out of device memory).
    pub fn from_model(model: &Model, device: Device) -> Result<Self> {
        let total = model.num_params();
        let mut values = Vec::with_capacity(total);
        let mut mask = Vec::with_capacity(total);
        for p in model.params() {
            values.extend_from_slice(&p.value);
            let m = if p.shape.len() >= 2 { 1.0f32 } else { 0.0 };
            mask.extend(std::iter::repeat_n(m, p.value.len()));
        }
        let flat = Tensor::f_from_slice(&values)?.f_to_device(device)?;
        let weight_mask = Tensor::f_from_slice(&mask)?.f_to_device(device)?;
        let mut params = Vec::with_capacity(model.params().len());
        let mut sizes = Vec::with_capacity(model.params().len());
        let mut offset = 0;
        for p in model.params() {
            let n = p.value.len();
            let shape: Vec<i64> = p.shape.iter().map(|&d| i64_of(d)).collect();
            let view = flat
                .f_narrow(0, i64_of(offset), i64_of(n))?
                .f_view_(shape.as_slice())?
                .set_requires_grad(true);
            params.push(view);
            sizes.push(n);
            offset += n;
        }
        let buffers = model
            .buffers()
            .iter()
            .map(|b| {
                let shape: Vec<i64> = b.shape.iter().map(|&d| i64_of(d)).collect();
                Ok(Tensor::f_from_slice(&b.value)?
                    .f_view_(shape.as_slice())?
                    .f_to_device(device)?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            layers: model.layers().to_vec(),
            flat,
            params,
            sizes,
            weight_mask,
            buffers,
            batches: 0,
            device,
        })
    }

    /// Copies the parameters and batch-norm statistics back into `model` (the model they
    /// came from, or one of the same configuration).
    ///
    /// # Errors
    /// [`Error::Shape`] if `model` has other tensors; [`Error::Backend`] on a libtorch
    /// failure.
    pub fn write_into(&self, model: &mut Model) -> Result<()> {
        if model.num_params() != self.flat.numel() || model.buffers().len() != self.buffers.len() {
            return Err(Error::Shape(
                "the model does not match the libtorch copy".into(),
            ));
        }
        let values = to_vec(&self.flat)?;
        let mut rest = values.as_slice();
        for p in model.params_mut() {
            let (head, tail) = rest.split_at(p.len());
            p.copy_from_slice(head);
            rest = tail;
        }
        for (b, t) in model.buffers_mut().iter_mut().zip(&self.buffers) {
            if b.name.ends_with("num_batches_tracked") {
                for v in &mut b.value {
                    *v += self.batches as f32;
                }
            } else {
                let v = to_vec(t)?;
                if v.len() != b.value.len() {
                    return Err(Error::Shape(format!("{}: size differs", b.name)));
                }
                b.value = v;
            }
        }
        Ok(())
    }

    /// The model's device.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Logits `[n, classes]` of an `NCHW` float batch; training mode uses batch
    /// statistics and updates the running ones.
    ///
    /// # Errors
    /// [`Error::Backend`] on a libtorch failure.
    pub fn forward(&mut self, x: &Tensor, train: bool) -> Result<Tensor> {
        if train {
            self.batches += 1;
        }
        self.run(&self.layers, x.shallow_clone(), train)
    }

    fn run(&self, layers: &[Layer], mut x: Tensor, train: bool) -> Result<Tensor> {
        let p = &self.params;
        for layer in layers {
            x = match layer {
                Layer::Conv2d {
                    weight,
                    bias,
                    stride,
                    padding,
                    ..
                } => {
                    let (s, pad) = (i64_of(*stride), i64_of(*padding));
                    x.f_conv2d(
                        &p[*weight],
                        bias.map(|b| &p[b]),
                        [s, s],
                        [pad, pad],
                        [1, 1],
                        1,
                    )?
                }
                Layer::BatchNorm2d {
                    weight,
                    bias,
                    running,
                    ..
                } => x.f_batch_norm(
                    Some(&p[*weight]),
                    Some(&p[*bias]),
                    Some(&self.buffers[*running]),
                    Some(&self.buffers[*running + 1]),
                    train,
                    f64::from(BN_MOMENTUM),
                    f64::from(BN_EPS),
                    true,
                )?,
                Layer::Linear { weight, bias, .. } => {
                    x.f_flatten(1, -1)?.f_linear(&p[*weight], Some(&p[*bias]))?
                }
                Layer::Relu => x.f_relu()?,
                Layer::Square => x.f_mul(&x)?,
                Layer::MaxPool2d { kernel, stride } => {
                    let (k, s) = (i64_of(*kernel), i64_of(*stride));
                    x.f_max_pool2d([k, k], [s, s], [0, 0], [1, 1], false)?
                }
                Layer::GlobalAvgPool => x.f_mean_dim([2i64, 3].as_slice(), true, Kind::Float)?,
                Layer::Residual { body, shortcut } => {
                    let b = self.run(body, x.shallow_clone(), train)?;
                    let s = if shortcut.is_empty() {
                        x
                    } else {
                        self.run(shortcut, x, train)?
                    };
                    b.f_add(&s)?
                }
            };
        }
        Ok(x)
    }

    fn zero_grads(&mut self) -> Result<()> {
        for p in &self.params {
            let mut g = p.f_grad()?;
            if g.defined() {
                let _ = g.f_detach_()?.f_zero_()?;
            }
        }
        Ok(())
    }

    /// The gradients, concatenated like `flat` (zeros for a parameter without one).
    fn flat_grad(&self) -> Result<Tensor> {
        let grads = self
            .params
            .iter()
            .map(|p| {
                let g = p.f_grad()?;
                Ok(if g.defined() {
                    g.f_view_([-1i64].as_slice())?
                } else {
                    Tensor::f_zeros([i64_of(p.numel())], (Kind::Float, self.device))?
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::f_cat(&grads, 0)?)
    }
}

/// An optimiser's state on the device: the rule of a [`crate::Optimizer`], its learning
/// rate and step count, and its slots as flat tensors.
struct TchOptimizer {
    settings: OptimizerSettings,
    kind: String,
    lr: f32,
    step: u64,
    /// SGD: velocity; Adam: first and second moments.
    slots: Vec<Tensor>,
}

impl TchOptimizer {
    fn new(opt: &dyn Optimizer, net: &TchModel) -> Result<Self> {
        let state = opt.state();
        let slots = state
            .slots
            .iter()
            .map(|slot| {
                let ok = slot.len() == net.sizes.len()
                    && slot.iter().zip(&net.sizes).all(|(s, &n)| s.len() == n);
                if !ok {
                    return Err(Error::Shape(format!(
                        "{} optimizer state does not fit the model",
                        state.kind
                    )));
                }
                Ok(Tensor::f_from_slice(&slot.concat())?.f_to_device(net.device)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let want = match opt.settings() {
            OptimizerSettings::Sgd { .. } => 1,
            OptimizerSettings::Adam { .. } => 2,
        };
        if slots.len() != want {
            return Err(Error::Shape(format!(
                "{} optimizer state has {} slots, expected {want}",
                state.kind,
                slots.len()
            )));
        }
        Ok(Self {
            settings: opt.settings(),
            kind: state.kind,
            lr: opt.lr(),
            step: state.step,
            slots,
        })
    }

    /// One update of `net`'s parameters from their (batch-mean) gradients.
    fn step(&mut self, net: &mut TchModel) -> Result<()> {
        let _guard = tch::no_grad_guard();
        self.step += 1;
        let g = net.flat_grad()?;
        let lr = f64::from(self.lr);
        let p = &mut net.flat;
        match (self.settings, self.slots.as_mut_slice()) {
            (
                OptimizerSettings::Sgd {
                    momentum,
                    weight_decay,
                },
                [v],
            ) => {
                let g = if weight_decay != 0.0 {
                    g.f_add(&p.f_mul_scalar(f64::from(weight_decay))?)?
                } else {
                    g
                };
                let _ = v.f_mul_scalar_(f64::from(momentum))?.f_add_(&g)?;
                let _ = p.f_sub_(&v.f_mul_scalar(lr)?)?;
            }
            (
                OptimizerSettings::Adam {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    decoupled,
                },
                [m, v],
            ) => {
                // Past 2^31 steps β^t is 0 in f32 anyway: saturating is the exact answer.
                let t = i32::try_from(self.step).unwrap_or(i32::MAX);
                let bc1 = 1.0 - beta1.powi(t);
                let bc2 = 1.0 - beta2.powi(t);
                let wd = f64::from(weight_decay);
                let g = if decoupled {
                    if weight_decay != 0.0 {
                        // p ← p·(1 − lr·λ) on weight tensors.
                        let decay = p.f_mul(&net.weight_mask)?.f_mul_scalar(lr * wd)?;
                        let _ = p.f_sub_(&decay)?;
                    }
                    g
                } else if weight_decay != 0.0 {
                    g.f_add(&p.f_mul_scalar(wd)?)?
                } else {
                    g
                };
                let _ = m
                    .f_mul_scalar_(f64::from(beta1))?
                    .f_add_(&g.f_mul_scalar(f64::from(1.0 - beta1))?)?;
                let _ = v
                    .f_mul_scalar_(f64::from(beta2))?
                    .f_add_(&g.f_mul(&g)?.f_mul_scalar_(f64::from(1.0 - beta2))?)?;
                let mut denom = v.f_div_scalar(f64::from(bc2))?.f_sqrt_()?;
                let _ = denom.f_add_scalar_(f64::from(eps))?;
                let _ = p.f_sub_(&m.f_div(&denom)?.f_mul_scalar_(lr / f64::from(bc1))?)?;
            }
            _ => {
                return Err(Error::Shape(format!(
                    "{} optimizer state does not fit its rule",
                    self.kind
                )))
            }
        }
        Ok(())
    }

    /// Writes the learning rate, step count and slots back into `opt`.
    fn write_into(&self, opt: &mut dyn Optimizer, sizes: &[usize]) -> Result<()> {
        let slots = self
            .slots
            .iter()
            .map(|s| {
                let flat = to_vec(s)?;
                let mut rest = flat.as_slice();
                Ok(sizes
                    .iter()
                    .map(|&n| {
                        let (head, tail) = rest.split_at(n.min(rest.len()));
                        rest = tail;
                        head.to_vec()
                    })
                    .collect())
            })
            .collect::<Result<Vec<_>>>()?;
        opt.load_state(OptimizerState {
            kind: self.kind.clone(),
            step: self.step,
            slots,
        })?;
        opt.set_lr(self.lr);
        Ok(())
    }
}

/// Images on the device as `u8` `[n, h, w, c]`.
fn upload_images(images: &ImageBatch, device: Device) -> Result<Tensor> {
    let s = images.shape();
    Ok(Tensor::f_from_slice(images.as_bytes())?
        .f_view_(
            [
                i64_of(images.len()),
                i64_of(s.height()),
                i64_of(s.width()),
                i64_of(s.channels()),
            ]
            .as_slice(),
        )?
        .f_to_device(device)?)
}

fn upload_labels(labels: &[u8], device: Device) -> Result<Tensor> {
    let l: Vec<i64> = labels.iter().map(|&v| i64::from(v)).collect();
    Ok(Tensor::f_from_slice(&l)?.f_to_device(device)?)
}

/// `u8` `[n, h, w, c]` → float `[n, c, h, w]` values `pixel / 255`, as
/// [`crate::Tensor::from_images`].
fn model_input(images: &Tensor) -> Result<Tensor> {
    let mut x = images
        .f_permute([0i64, 3, 1, 2].as_slice())?
        .f_contiguous()?
        .f_to_kind(Kind::Float)?;
    let _ = x.f_div_scalar_(255.0)?;
    Ok(x)
}

/// [`crate::train_epoch_scheduled`] on libtorch: same checks, order (shuffled by `seed`),
/// batches, loss, optimiser rule and per-step learning rate.
///
/// # Errors
/// As [`crate::train_epoch`]; [`Error::Backend`] on a libtorch failure. On an error the
/// model and optimiser are left as they were before the call.
#[allow(clippy::too_many_arguments)]
pub fn train_epoch(
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
    let device = device();
    let mut net = TchModel::from_model(model, device)?;
    let mut topt = TchOptimizer::new(opt, &net)?;
    let data = upload_images(images, device)?;
    let targets = upload_labels(labels, device)?;
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let order_t = Tensor::f_from_slice(&order.iter().map(|&i| i64_of(i)).collect::<Vec<_>>())?
        .f_to_device(device)?;
    let (mut loss, mut correct, mut done) = (0.0, 0usize, 0usize);
    for batch in order.chunks(batch_size) {
        if let Some(s) = schedule {
            topt.lr = s.lr(done, labels.len());
        }
        let idx = order_t.f_narrow(0, i64_of(done), i64_of(batch.len()))?;
        let x = model_input(&data.f_index_select(0, &idx)?)?;
        let y = targets.f_index_select(0, &idx)?;
        net.zero_grads()?;
        let logits = net.forward(&x, true)?;
        let mean = logits.f_cross_entropy_loss::<Tensor>(&y, None, Reduction::Mean, -100, 0.0)?;
        mean.f_backward()?;
        let batch_loss = mean.f_double_value(&[])? * batch.len() as f64;
        if !batch_loss.is_finite() {
            return Err(Error::Diverged {
                loss: batch_loss,
                images: done,
            });
        }
        let hits = logits
            .f_argmax(1, false)?
            .f_eq_tensor(&y)?
            .f_sum(Kind::Int64)?
            .f_int64_value(&[])?;
        topt.step(&mut net)?;
        loss += batch_loss;
        correct += usize::try_from(hits).expect("a count of hits is non-negative");
        done += batch.len();
        on_batch(BatchProgress {
            done,
            total: labels.len(),
            loss: loss / done as f64,
            accuracy: correct as f64 / done as f64,
        });
    }
    net.write_into(model)?;
    topt.write_into(opt, &net.sizes)?;
    Ok(stats(loss, correct, labels.len()))
}

/// Evaluation-mode logits of every image, batch by batch, as host `[n, classes]` rows.
fn logits(model: &Model, images: &ImageBatch) -> Result<Vec<Tensor>> {
    let _guard = tch::no_grad_guard();
    let device = device();
    let mut net = TchModel::from_model(model, device)?;
    let data = upload_images(images, device)?;
    let mut out = Vec::with_capacity(images.len().div_ceil(EVAL_BATCH));
    let mut start = 0;
    while start < images.len() {
        let len = EVAL_BATCH.min(images.len() - start);
        let x = model_input(&data.f_narrow(0, i64_of(start), i64_of(len))?)?;
        out.push(net.forward(&x, false)?);
        start += len;
    }
    Ok(out)
}

/// [`crate::evaluate`] on libtorch.
///
/// # Errors
/// As [`crate::evaluate`]; [`Error::Backend`] on a libtorch failure.
pub fn evaluate(model: &Model, images: &ImageBatch, labels: &[u8]) -> Result<EpochStats> {
    check_data(model, images, labels)?;
    let _guard = tch::no_grad_guard();
    let (mut loss, mut correct) = (0.0, 0usize);
    for (out, y) in logits(model, images)?.iter().zip(labels.chunks(EVAL_BATCH)) {
        let y = upload_labels(y, out.device())?;
        loss += out
            .f_cross_entropy_loss::<Tensor>(&y, None, Reduction::Sum, -100, 0.0)?
            .f_to_kind(Kind::Double)?
            .f_double_value(&[])?;
        let hits = out
            .f_argmax(1, false)?
            .f_eq_tensor(&y)?
            .f_sum(Kind::Int64)?
            .f_int64_value(&[])?;
        correct += usize::try_from(hits).expect("a count of hits is non-negative");
    }
    Ok(stats(loss, correct, labels.len()))
}

/// [`crate::predict`] on libtorch.
///
/// # Errors
/// As [`crate::predict`]; [`Error::Backend`] on a libtorch failure.
pub fn predict(model: &Model, images: &ImageBatch) -> Result<Vec<Vec<f32>>> {
    check_images(model, images)?;
    let _guard = tch::no_grad_guard();
    let classes = model.config().classes;
    let mut out = Vec::with_capacity(images.len());
    for t in logits(model, images)? {
        let p = to_vec(&t.f_softmax(1, Kind::Float)?)?;
        out.extend(p.chunks_exact(classes).map(<[f32]>::to_vec));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Architecture, ModelConfig};
    use crate::optim::{Adam, Sgd};
    use pixveil_image::Shape;

    fn data(config: &ModelConfig, n: usize) -> (ImageBatch, Vec<u8>) {
        let [c, h, w] = config.input_shape;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let bytes: Vec<u8> = (0..n * c * h * w)
            .map(|_| rand::Rng::random(&mut rng))
            .collect();
        let labels = (0..n)
            .map(|i| u8::try_from(i % config.classes).unwrap())
            .collect();
        let side = |v: usize| u32::try_from(v).unwrap();
        let shape = Shape::new(side(h), side(w), side(c)).unwrap();
        (ImageBatch::new(shape, bytes).unwrap(), labels)
    }

    fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= tol * (1.0 + x.abs().max(y.abs())))
    }

    fn configs() -> Vec<ModelConfig> {
        let mut adapted = ModelConfig::new(Architecture::Resnet18, [3, 8, 8]);
        adapted.width = 2;
        adapted.adaptation = true;
        vec![
            ModelConfig::new(Architecture::TensealCnn, [1, 28, 28]),
            ModelConfig::new(Architecture::HeCnn, [1, 28, 28]),
            ModelConfig::new(Architecture::SmallCnn, [3, 8, 8]),
            adapted,
        ]
    }

    /// Same predictions, and after a training epoch the same weights, buffers and
    /// optimiser state as the Rust engine, up to rounding, for every architecture.
    #[test]
    fn matches_the_rust_engine() {
        set_threads(1);
        for config in configs() {
            let (images, labels) = data(&config, 40);
            let base = Model::new(&config, 3).unwrap();
            let p_rust = crate::train::predict(&base, &images).unwrap();
            let p_tch = predict(&base, &images).unwrap();
            for (a, b) in p_rust.iter().zip(&p_tch) {
                assert!(close(a, b, 1e-4), "{}: {a:?} vs {b:?}", config.architecture);
            }
            for adamw in [false, true] {
                let (mut a, mut b) = (base.clone(), base.clone());
                let mut oa: Box<dyn Optimizer> = if adamw {
                    Box::new(Adam::new_decoupled(&a, 1e-3, 0.05))
                } else {
                    Box::new(Sgd::new(&a, 0.05, 0.9, 5e-4))
                };
                let mut ob: Box<dyn Optimizer> = if adamw {
                    Box::new(Adam::new_decoupled(&b, 1e-3, 0.05))
                } else {
                    Box::new(Sgd::new(&b, 0.05, 0.9, 5e-4))
                };
                let sa = crate::train::train_epoch(
                    &mut a,
                    oa.as_mut(),
                    &images,
                    &labels,
                    16,
                    9,
                    &mut |_| {},
                )
                .unwrap();
                let sb = train_epoch(
                    &mut b,
                    ob.as_mut(),
                    &images,
                    &labels,
                    16,
                    9,
                    None,
                    &mut |_| {},
                )
                .unwrap();
                let name = config.architecture;
                assert!((sa.loss - sb.loss).abs() < 1e-3 * (1.0 + sa.loss), "{name}");
                for (pa, pb) in a.params().iter().zip(b.params()) {
                    // A bias feeding a batch norm (he-cnn's conv1, fc1) has a zero gradient
                    // up to rounding noise, which Adam scales to full ±lr steps: such
                    // vectors may differ by up to 2·lr per step (3 steps here).
                    if adamw && pa.shape.len() == 1 {
                        let d = pa
                            .value
                            .iter()
                            .zip(&pb.value)
                            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
                        assert!(d <= 6e-3, "{name} {}: {d}", pa.name);
                    } else {
                        assert!(close(&pa.value, &pb.value, 2e-3), "{name} {}", pa.name);
                    }
                }
                for (pa, pb) in a.buffers().iter().zip(b.buffers()) {
                    assert!(close(&pa.value, &pb.value, 2e-3), "{name} {}", pa.name);
                }
                let (ta, tb) = (oa.state(), ob.state());
                assert_eq!((ta.kind.as_str(), ta.step), (tb.kind.as_str(), tb.step));
                let ea = evaluate(&a, &images, &labels).unwrap();
                let eb = crate::train::evaluate(&a, &images, &labels).unwrap();
                assert!((ea.loss - eb.loss).abs() < 1e-3 * (1.0 + ea.loss), "{name}");
            }
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let config = ModelConfig::new(Architecture::TensealCnn, [1, 28, 28]);
        let (images, labels) = data(&config, 8);
        let mut m = Model::new(&config, 0).unwrap();
        let mut opt = Sgd::new(&m, 0.1, 0.0, 0.0);
        assert!(train_epoch(&mut m, &mut opt, &images, &labels, 0, 0, None, &mut |_| {}).is_err());
        assert!(train_epoch(
            &mut m,
            &mut opt,
            &images,
            &labels[..4],
            4,
            0,
            None,
            &mut |_| {}
        )
        .is_err());
        let other = Model::new(&ModelConfig::new(Architecture::SmallCnn, [3, 8, 8]), 0).unwrap();
        assert!(predict(&other, &images).is_err());
    }
}
