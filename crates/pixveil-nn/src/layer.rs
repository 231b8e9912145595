//! Layers with batched forward and backward passes.
//!
//! Every layer maps an `NCHW` [`Tensor`] to another. Parameters live in the model's flat
//! parameter list and are referred to by index; batch-norm running statistics live in
//! its buffer list. Convolutions are direct 3×3 kernels at stride 1 with padding 1 on maps at
//! least 8 wide ([`crate::direct`]) and `im2col` + GEMM otherwise, parallel over images
//! (rayon); weight gradients are summed per fixed-size chunk of images and then in chunk
//! order, so results do not depend on the number of threads.

use pixveil_math::pool::{self, Held};
use rayon::prelude::*;

use crate::direct::{self, wide, Grid, Phases};
use crate::gemm::{gemm, Mat};
use crate::model::Param;
use crate::profile::{self, Pass};
use crate::tensor::Tensor;

/// Batch-norm epsilon (PyTorch default).
pub const BN_EPS: f32 = 1e-5;
/// Batch-norm running-statistics momentum (PyTorch default).
pub const BN_MOMENTUM: f32 = 0.1;

/// One layer. Parameter and buffer fields are indices into the model's lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layer {
    /// 2-D convolution, square kernel, zero padding; weight `[out, in, k, k]`, optional
    /// bias `[out]`.
    Conv2d {
        /// Weight index.
        weight: usize,
        /// Bias index.
        bias: Option<usize>,
        /// Input channels.
        in_channels: usize,
        /// Output channels.
        out_channels: usize,
        /// Kernel side.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Zero padding on every side.
        padding: usize,
    },
    /// Batch normalisation over `N·H·W` per channel; weight (γ) and bias (β) `[c]`,
    /// buffers running mean, running variance (unbiased) `[c]` and batches tracked.
    BatchNorm2d {
        /// γ index.
        weight: usize,
        /// β index.
        bias: usize,
        /// Running-mean buffer index (running variance and batch count follow it).
        running: usize,
        /// Channels.
        channels: usize,
    },
    /// Fully connected on the flattened `CHW` sample (PyTorch `view(n, -1)`); weight
    /// `[out, in]`, bias `[out]`. Output `[n, out, 1, 1]`.
    Linear {
        /// Weight index.
        weight: usize,
        /// Bias index.
        bias: usize,
        /// Input features.
        inputs: usize,
        /// Output features.
        outputs: usize,
    },
    /// `max(x, 0)`.
    Relu,
    /// `x²`, the HE-friendly activation.
    Square,
    /// Max pooling, square window, no padding.
    MaxPool2d {
        /// Window side.
        kernel: usize,
        /// Stride.
        stride: usize,
    },
    /// Mean over `H·W` per channel: `[n, c, h, w] → [n, c, 1, 1]`.
    GlobalAvgPool,
    /// `body(x) + shortcut(x)`; an empty shortcut is the identity.
    Residual {
        /// Main branch.
        body: Vec<Layer>,
        /// Shortcut branch.
        shortcut: Vec<Layer>,
    },
}

/// Output side of a convolution or pooling window.
pub(crate) fn out_side(input: usize, kernel: usize, stride: usize, padding: usize) -> usize {
    (input + 2 * padding).saturating_sub(kernel) / stride.max(1) + 1
}

impl Layer {
    /// Output `[c, h, w]` for an input of `[c, h, w]` (the input must fit; see
    /// [`Model::new`](crate::Model::new), which validates every layer).
    pub fn output_shape(&self, [c, h, w]: [usize; 3]) -> [usize; 3] {
        match self {
            Layer::Conv2d {
                out_channels,
                kernel,
                stride,
                padding,
                ..
            } => [
                *out_channels,
                out_side(h, *kernel, *stride, *padding),
                out_side(w, *kernel, *stride, *padding),
            ],
            Layer::Linear { outputs, .. } => [*outputs, 1, 1],
            Layer::BatchNorm2d { .. } | Layer::Relu | Layer::Square => [c, h, w],
            Layer::MaxPool2d { kernel, stride } => [
                c,
                out_side(h, *kernel, *stride, 0),
                out_side(w, *kernel, *stride, 0),
            ],
            Layer::GlobalAvgPool => [c, 1, 1],
            Layer::Residual { body, .. } => body.iter().fold([c, h, w], |s, l| l.output_shape(s)),
        }
    }
}

/// What the backward pass needs from the forward pass.
#[derive(Debug)]
pub(crate) enum Cache {
    /// Nothing (evaluation mode, or a layer that needs nothing).
    None,
    /// The layer input.
    Input(Tensor),
    /// A convolution's input and its `im2col` matrices, one per image group (empty when
    /// too large to keep, see [`COL_CACHE_FLOATS`]; backward then rebuilds them).
    Conv { input: Tensor, cols: Vec<Vec<f32>> },
    /// Batch norm: its input and the batch's `μ` and `1/σ` per channel, from which backward
    /// recomputes `x̂` ([`normalise`]) instead of forward writing it out; `relu`: the ReLU
    /// after it ran in the same pass (its mask, `γ·x̂ + β > 0`, is recomputed in backward).
    Norm {
        x: Tensor,
        mean: Vec<f32>,
        inv_std: Vec<f32>,
        relu: bool,
    },
    /// A ReLU that the batch norm or residual block before it applied (see
    /// [`forward_seq`]); [`backward_seq`] skips it and that layer masks the gradient.
    FusedRelu,
    /// Max pool: input shape and the flat input index of every output's maximum.
    Argmax { shape: [usize; 4], index: Vec<u32> },
    /// Global average pool: input shape.
    Shape([usize; 4]),
    /// Residual: the caches of both branches, and, when the ReLU after the block ran in the
    /// same pass ([`residual_forward`]), its mask: one byte per output value, 1 where the
    /// output is positive (the ReLU's own test), in place of a copy of the output.
    Branches {
        body: Vec<Cache>,
        shortcut: Vec<Cache>,
        relu: Option<Vec<u8>>,
    },
}

/// Batch-norm buffers: updated in training mode, read in evaluation mode.
pub(crate) enum Buffers<'a> {
    /// Training: batch statistics are used and the running ones updated.
    Train(&'a mut [Param]),
    /// Evaluation: running statistics are used.
    Eval(&'a [Param]),
}

/// Parameters and buffers the layers index into.
pub(crate) struct Store<'a> {
    pub params: &'a [Param],
    pub buffers: Buffers<'a>,
}

/// Runs `layers` on `x`. In training mode (`store.buffers` is `Some`) batch norm uses
/// batch statistics and updates the running ones, and caches are kept for backward.
///
/// A batch norm or a residual block followed by a ReLU runs as one layer: the ReLU is
/// applied as that layer writes its output (one pass over the tensor instead of three, and no
/// copy of the output kept for the ReLU's backward). The results are bit-identical to running
/// them one after the other; the profile counts the pair as the first layer. One cache per
/// layer is still returned (the ReLU's is [`Cache::FusedRelu`]).
pub(crate) fn forward_seq(
    layers: &[Layer],
    x: Tensor,
    store: &mut Store<'_>,
) -> (Tensor, Vec<Cache>) {
    forward_seq_from(layers, x, None, store)
}

/// [`forward_seq`], given the per-plane statistics of `x` ([`image_sums`]) when the
/// convolution that wrote it took them for a leading batch norm.
///
/// In training, a convolution followed by a batch norm takes the batch norm's per-plane sums
/// as it writes each image's output, while that image is still in cache ([`conv_forward`]),
/// and the batch norm skips its own pass over the tensor: the same sums in the same order,
/// so the same bits (the profile counts them in the convolution's time).
fn forward_seq_from(
    layers: &[Layer],
    mut x: Tensor,
    mut planes: Option<Vec<(f64, f64)>>,
    store: &mut Store<'_>,
) -> (Tensor, Vec<Cache>) {
    let mut caches = Vec::with_capacity(layers.len());
    let mut i = 0;
    while let Some(layer) = layers.get(i) {
        let relu_next = matches!(layer, Layer::BatchNorm2d { .. } | Layer::Residual { .. })
            && matches!(layers.get(i + 1), Some(Layer::Relu));
        let mut sums = match layer {
            Layer::Conv2d { out_channels, .. } => {
                norm_sums(layers.get(i + 1), training(store), x.n, *out_channels)
            }
            _ => None,
        };
        let given = planes.take();
        let (y, cache) = profile::time_layer(layer, Pass::Forward, || match layer {
            Layer::BatchNorm2d {
                weight,
                bias,
                running,
                channels,
            } => batchnorm_forward(
                x,
                store,
                (*weight, *bias, *running, *channels),
                relu_next,
                given,
            ),
            Layer::Conv2d { .. } if sums.is_some() => {
                let (y, cols) = conv_forward(layer, &x, store.params, true, sums.as_deref_mut());
                planes = sums.take();
                (y, Cache::Conv { input: x, cols })
            }
            Layer::Residual { body, shortcut } => {
                residual_forward(body, shortcut, x, store, relu_next)
            }
            _ => forward(layer, x, store),
        });
        caches.push(cache);
        if relu_next {
            caches.push(Cache::FusedRelu);
            i += 1;
        }
        x = y;
        i += 1;
    }
    (x, caches)
}

/// Backward through `layers` (reverse order) given their caches; accumulates parameter
/// gradients into `grads`. Returns the gradient w.r.t. the input unless `need_dx` is
/// false (then an empty tensor: the first layer of a model needs no input gradient).
pub(crate) fn backward_seq(
    layers: &[Layer],
    caches: Vec<Cache>,
    mut dy: Tensor,
    params: &[Param],
    grads: &mut [Vec<f32>],
    need_dx: bool,
) -> Tensor {
    for (i, (layer, cache)) in layers.iter().zip(caches).enumerate().rev() {
        // A fused ReLU passes the gradient through; the layer before it masks it (and the
        // profile counts it there, as in forward).
        if matches!(cache, Cache::FusedRelu) {
            continue;
        }
        dy = profile::time_layer(layer, Pass::Backward, || {
            backward(layer, cache, dy, params, grads, need_dx || i > 0)
        });
    }
    dy
}

/// Room for a batch norm's per-plane statistics (`n·o` zeroed entries) when a convolution
/// with `o` outputs is followed by the batch norm `next` in training ([`forward_seq_from`]);
/// otherwise `None`.
fn norm_sums(next: Option<&Layer>, train: bool, n: usize, o: usize) -> Option<Vec<(f64, f64)>> {
    (train && matches!(next, Some(Layer::BatchNorm2d { .. }))).then(|| vec![(0.0, 0.0); n * o])
}

fn training(store: &Store<'_>) -> bool {
    matches!(store.buffers, Buffers::Train(_))
}

/// A residual block, `shortcut(x) + body(x)`, followed by `max(·, 0)` when `relu` (the ReLU
/// after the block, applied in the same pass; in training its mask is kept as one byte per
/// value instead of a copy of the output, see [`Cache::Branches`]).
///
/// An identity shortcut whose body starts with a convolution adds `x` itself: the
/// convolution reads it by reference, and training keeps it (as that convolution's cache)
/// only after the sum. Other blocks run the shortcut on a copy of `x`.
fn residual_forward(
    body: &[Layer],
    shortcut: &[Layer],
    x: Tensor,
    store: &mut Store<'_>,
    relu: bool,
) -> (Tensor, Cache) {
    let train = training(store);
    let (y, bc, sc, mask) = match body.split_first() {
        Some((first @ Layer::Conv2d { out_channels, .. }, rest)) if shortcut.is_empty() => {
            // The body's first batch norm takes its statistics from the convolution, as in
            // `forward_seq_from`.
            let mut sums = norm_sums(rest.first(), train, x.n, *out_channels);
            let (y0, cols) = profile::time_layer(first, Pass::Forward, || {
                conv_forward(first, &x, store.params, train, sums.as_deref_mut())
            });
            let (mut b, rest_caches) = forward_seq_from(rest, y0, sums, store);
            let mask = add_shortcut(&mut b, &x, relu, train);
            let mut bc = Vec::with_capacity(body.len());
            if train {
                bc.push(Cache::Conv { input: x, cols });
                bc.extend(rest_caches);
            }
            (b, bc, Vec::new(), mask)
        }
        _ => {
            let (s, sc) = forward_seq(shortcut, x.clone(), store);
            let (mut b, bc) = forward_seq(body, x, store);
            let mask = add_shortcut(&mut b, &s, relu, train);
            (b, bc, sc, mask)
        }
    };
    let cache = if train {
        Cache::Branches {
            body: bc,
            shortcut: sc,
            relu: mask,
        }
    } else {
        Cache::None
    };
    (y, cache)
}

/// `b ← s + b` (the residual sum; IEEE addition is commutative, so these are the bits of
/// adding `b` to `s`), then `max(·, 0)` when `relu`. Returns the ReLU's mask (1 where the
/// output is positive, its own test) when `relu` and `train`.
fn add_shortcut(b: &mut Tensor, s: &Tensor, relu: bool, train: bool) -> Option<Vec<u8>> {
    assert_eq!(
        b.data.len(),
        s.data.len(),
        "the two branches' outputs agree in shape"
    );
    // `relu` is captured by value: read through a reference, LLVM reloaded it after every
    // store (a byte store may alias it) and the masked loop stayed scalar, with a branch per
    // value.
    let sum = move |bv: f32, sv: f32| {
        let v = sv + bv;
        if relu {
            v.max(0.0)
        } else {
            v
        }
    };
    let mut mask = (relu && train).then(|| pool::take_dirty::<u8>(b.data.len()));
    match &mut mask {
        Some(m) => b
            .data
            .par_chunks_mut(ELEMS)
            .zip(s.data.par_chunks(ELEMS))
            .zip(m.par_chunks_mut(ELEMS))
            .for_each(|((bs, ss), ms)| {
                wide!(for ((o, &sv), mv) in bs.iter_mut().zip(ss).zip(ms) {
                    let v = (sv + *o).max(0.0);
                    *o = v;
                    *mv = u8::from(v > 0.0);
                })
            }),
        None => zip_inplace(&mut b.data, &s.data, sum),
    }
    mask
}

/// The backward of a ReLU fused into a residual block: `dy` masked by the block's ReLU
/// mask ([`Cache::Branches`]), returned twice (for the shortcut and the body) from one pass.
fn masked_copy(mut dy: Tensor, mask: &[u8]) -> (Tensor, Tensor) {
    assert_eq!(dy.data.len(), mask.len(), "one mask byte per output value");
    // Every value is written below.
    let mut copy = Tensor::for_overwrite(dy.n, dy.sample_shape());
    dy.data
        .par_chunks_mut(ELEMS)
        .zip(copy.data.par_chunks_mut(ELEMS))
        .zip(mask.par_chunks(ELEMS))
        .for_each(|((ds, cs), ms)| {
            wide!({
                zip_block(ds, ms, |d, m| keep_if(d, m != 0));
                cs.copy_from_slice(ds);
            })
        });
    (dy, copy)
}

fn forward(layer: &Layer, x: Tensor, store: &mut Store<'_>) -> (Tensor, Cache) {
    let train = training(store);
    match layer {
        Layer::Conv2d { .. } => {
            let (y, cols) = conv_forward(layer, &x, store.params, train, None);
            let cache = if train {
                Cache::Conv { input: x, cols }
            } else {
                Cache::None
            };
            (y, cache)
        }
        Layer::Linear {
            weight,
            bias,
            inputs,
            outputs,
        } => {
            let (n, w, b) = (
                x.n,
                &store.params[*weight].value,
                &store.params[*bias].value,
            );
            let mut y = Tensor::zeros(n, [*outputs, 1, 1]);
            for row in y.data.chunks_exact_mut(*outputs) {
                row.copy_from_slice(b);
            }
            par_rows(&x.data, *inputs, &mut y.data, *outputs, |xr, yr, rows| {
                gemm(
                    1.0,
                    Mat::rows(xr, rows, *inputs),
                    Mat::rows(w, *outputs, *inputs).t(),
                    1.0,
                    yr,
                );
            });
            (y, if train { Cache::Input(x) } else { Cache::None })
        }
        Layer::BatchNorm2d {
            weight,
            bias,
            running,
            channels,
        } => batchnorm_forward(x, store, (*weight, *bias, *running, *channels), false, None),
        Layer::Relu => {
            let mut y = x;
            map_inplace(&mut y.data, |v| v.max(0.0));
            let cache = if train {
                Cache::Input(y.clone())
            } else {
                Cache::None
            };
            (y, cache)
        }
        Layer::Square => {
            // Backward needs the input: a copy only when training.
            let cache = if train {
                Cache::Input(x.clone())
            } else {
                Cache::None
            };
            let mut y = x;
            map_inplace(&mut y.data, |v| v * v);
            (y, cache)
        }
        Layer::MaxPool2d { kernel, stride } => {
            let (y, index) = maxpool_forward(&x, *kernel, *stride);
            let cache = if train {
                Cache::Argmax {
                    shape: [x.n, x.c, x.h, x.w],
                    index,
                }
            } else {
                Cache::None
            };
            (y, cache)
        }
        Layer::GlobalAvgPool => {
            let hw = x.h * x.w;
            let data = x
                .data
                .par_chunks(hw)
                .map(|p| p.iter().sum::<f32>() / hw as f32)
                .collect();
            let y = Tensor::from_vec(x.n, [x.c, 1, 1], data);
            (y, Cache::Shape([x.n, x.c, x.h, x.w]))
        }
        Layer::Residual { body, shortcut } => residual_forward(body, shortcut, x, store, false),
    }
}

fn backward(
    layer: &Layer,
    cache: Cache,
    dy: Tensor,
    params: &[Param],
    grads: &mut [Vec<f32>],
    need_dx: bool,
) -> Tensor {
    match (layer, cache) {
        (Layer::Conv2d { .. }, Cache::Conv { input, cols }) => {
            conv_backward(layer, &input, cols, &dy, params, grads, need_dx)
        }
        (
            Layer::Linear {
                weight,
                bias,
                inputs,
                outputs,
            },
            Cache::Input(x),
        ) => {
            let (i, o) = (*inputs, *outputs);
            // dW += dYᵀ · X ; db += Σ dY ; dX = dY · W.
            gemm(
                1.0,
                Mat::rows(&dy.data, dy.n, o).t(),
                Mat::rows(&x.data, x.n, i),
                1.0,
                &mut grads[*weight],
            );
            for row in dy.data.chunks_exact(o) {
                for (g, d) in grads[*bias].iter_mut().zip(row) {
                    *g += d;
                }
            }
            if !need_dx {
                return Tensor::default();
            }
            let mut dx = Tensor::zeros(x.n, x.sample_shape());
            let w = &params[*weight].value;
            par_rows(&dy.data, o, &mut dx.data, i, |dr, xr, rows| {
                gemm(1.0, Mat::rows(dr, rows, o), Mat::rows(w, o, i), 0.0, xr);
            });
            dx
        }
        (
            Layer::BatchNorm2d {
                weight,
                bias,
                channels,
                ..
            },
            Cache::Norm {
                x,
                mean,
                inv_std,
                relu,
            },
        ) => batchnorm_backward(
            &x,
            (&mean, &inv_std),
            relu,
            dy,
            params,
            grads,
            *weight,
            *bias,
            *channels,
        ),
        (Layer::Relu, Cache::Input(y)) => {
            let mut dx = dy;
            zip_inplace(&mut dx.data, &y.data, relu_mask);
            dx
        }
        (Layer::Square, Cache::Input(x)) => {
            let mut dx = dy;
            zip_inplace(&mut dx.data, &x.data, |d, x| d * 2.0 * x);
            dx
        }
        (
            Layer::MaxPool2d { .. },
            Cache::Argmax {
                shape: [n, c, h, w],
                index,
            },
        ) => {
            // Image by image: each index points into its own image's planes.
            let mut dx = Tensor::zeros(n, [c, h, w]);
            let out_len = c * dy.h * dy.w;
            dx.data
                .par_chunks_mut(c * h * w)
                .zip(dy.data.par_chunks(out_len))
                .zip(index.par_chunks(out_len))
                .enumerate()
                .for_each(|(i, ((dxi, dyi), ii))| {
                    let base = i * c * h * w;
                    for (g, &j) in dyi.iter().zip(ii) {
                        dxi[j as usize - base] += g;
                    }
                });
            dx
        }
        (Layer::GlobalAvgPool, Cache::Shape([n, c, h, w])) => {
            let hw = h * w;
            let mut dx = Tensor::zeros(n, [c, h, w]);
            dx.data
                .par_chunks_mut(hw)
                .zip(&dy.data)
                .for_each(|(p, g)| p.fill(g / hw as f32));
            dx
        }
        (
            Layer::Residual { body, shortcut },
            Cache::Branches {
                body: bc,
                shortcut: sc,
                relu,
            },
        ) => {
            // The fused ReLU's backward, written to dy and to the body's copy in one pass.
            let (dy, copy) = match relu {
                Some(mask) => {
                    let pair = masked_copy(dy, &mask);
                    pool::give(mask, Held::Public);
                    pair
                }
                None => {
                    let copy = dy.clone();
                    (dy, copy)
                }
            };
            let db = backward_seq(body, bc, copy, params, grads, true);
            let mut ds = if shortcut.is_empty() {
                dy
            } else {
                backward_seq(shortcut, sc, dy, params, grads, true)
            };
            zip_inplace(&mut ds.data, &db.data, |s, b| s + b);
            ds
        }
        // A cache that does not belong to its layer is a bug in forward; there is no
        // gradient to pass on.
        (_, _) => unreachable!("layer and cache out of step"),
    }
}

/// Max pooling (`k × k` windows at stride `s`, no padding) of `x`, image by image in
/// parallel: the output and, per output, the flat index into `x.data` of the value it took
/// (the first largest in window order, row by row; a window of NaNs only takes its first
/// value). 2×2 windows at stride 2 (every pooling layer pixveil builds) take a branch-free
/// loop over row pairs; other windows the general one. Both give the same values and indices.
fn maxpool_forward(x: &Tensor, k: usize, s: usize) -> (Tensor, Vec<u32>) {
    let (c, h, w) = (x.c, x.h, x.w);
    let (oh, ow) = (out_side(h, k, s, 0), out_side(w, k, s, 0));
    assert!(
        x.data.len() <= u32::MAX as usize,
        "inputs are capped far below 2^32 values (model.rs)"
    );
    // Every output is written below.
    let mut y = Tensor::for_overwrite(x.n, [c, oh, ow]);
    let mut index = vec![0u32; y.data.len()];
    let (in_len, out_len) = (c * h * w, c * oh * ow);
    y.data
        .par_chunks_mut(out_len)
        .zip(index.par_chunks_mut(out_len))
        .zip(x.data.par_chunks(in_len))
        .enumerate()
        .for_each(|(i, ((yi, ii), xi))| {
            for (p, ((yp, ip), xp)) in yi
                .chunks_exact_mut(oh * ow)
                .zip(ii.chunks_exact_mut(oh * ow))
                .zip(xi.chunks_exact(h * w))
                .enumerate()
            {
                // Fits: below x.data.len() (asserted above).
                let base = ((i * c + p) * h * w) as u32;
                if k == 2 && s == 2 {
                    maxpool_plane_2x2(xp, w, base, yp, ip, ow);
                } else {
                    maxpool_plane(xp, (w, k, s), base, yp, ip, ow);
                }
            }
        });
    (y, index)
}

/// One plane of [`maxpool_forward`], any window: `xp` is the `h × w` input plane whose
/// first value has flat index `base`, `yp`/`ip` the `oh × ow` outputs and indices.
fn maxpool_plane(
    xp: &[f32],
    (w, k, s): (usize, usize, usize),
    base: u32,
    yp: &mut [f32],
    ip: &mut [u32],
    ow: usize,
) {
    for (oy, (yr, ir)) in yp
        .chunks_exact_mut(ow)
        .zip(ip.chunks_exact_mut(ow))
        .enumerate()
    {
        for (ox, (yv, iv)) in yr.iter_mut().zip(ir.iter_mut()).enumerate() {
            let first = oy * s * w + ox * s;
            let (mut best, mut at) = (xp[first], first);
            for ky in 0..k {
                for kx in 0..k {
                    let j = first + ky * w + kx;
                    if xp[j] > best {
                        (best, at) = (xp[j], j);
                    }
                }
            }
            *yv = best;
            *iv = base + at as u32;
        }
    }
}

/// [`maxpool_plane`] for 2×2 windows at stride 2: each output row from one pair of input
/// rows, the window's four values compared in the same order without branches.
fn maxpool_plane_2x2(xp: &[f32], w: usize, base: u32, yp: &mut [f32], ip: &mut [u32], ow: usize) {
    for (oy, (yr, ir)) in yp
        .chunks_exact_mut(ow)
        .zip(ip.chunks_exact_mut(ow))
        .enumerate()
    {
        let top = 2 * oy * w;
        let (r0, r1) = (&xp[top..top + 2 * ow], &xp[top + w..top + w + 2 * ow]);
        let row_base = base + top as u32;
        for (ox, (yv, iv)) in yr.iter_mut().zip(ir.iter_mut()).enumerate() {
            let c0 = 2 * ox as u32;
            let (mut best, mut at) = (r0[2 * ox], c0);
            for (v, j) in [
                (r0[2 * ox + 1], c0 + 1),
                (r1[2 * ox], c0 + w as u32),
                (r1[2 * ox + 1], c0 + w as u32 + 1),
            ] {
                let take = v > best;
                best = if take { v } else { best };
                at = if take { j } else { at };
            }
            *yv = best;
            *iv = row_base + at;
        }
    }
}

/// Elements per parallel work item of element-wise maps (large enough to amortise
/// rayon's scheduling, small enough to spread a batch over the cores).
const ELEMS: usize = 1 << 14;

/// `a[i] ← f(a[i])`, in parallel blocks with plain (vectorisable) inner loops.
fn map_inplace(a: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    a.par_chunks_mut(ELEMS).for_each(|c| {
        wide!({
            for v in c {
                *v = f(*v);
            }
        })
    });
}

/// `a[i] ← f(a[i], b[i])`, in parallel blocks.
fn zip_inplace(a: &mut [f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    a.par_chunks_mut(ELEMS)
        .zip(b.par_chunks(ELEMS))
        .for_each(|(ca, cb)| wide!(zip_block(ca, cb, &f)));
}

/// `f32` values per AVX2 register.
const VEC: usize = 8;

/// `a[i] ← f(a[i], b[i])` over one block, [`VEC`] values at a time through a local array.
///
/// Written back one value at a time, a select such as [`keep_if`] (`a[i]` or 0) compiles to
/// masked stores of the zeros alone (`vmaskmovps`), which AMD's cores microcode: batch norm's
/// ReLU mask ran at 4.5 cycles per value on Zen 3. Written back from the array, the stores are
/// plain vector stores.
#[inline(always)]
fn zip_block<T: Copy>(a: &mut [f32], b: &[T], f: impl Fn(f32, T) -> f32) {
    assert_eq!(a.len(), b.len(), "one b per a");
    let mut ca = a.chunks_exact_mut(VEC);
    let mut cb = b.chunks_exact(VEC);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let v: [f32; VEC] = std::array::from_fn(|l| f(x[l], y[l]));
        x.copy_from_slice(&v);
    }
    for (x, &y) in ca.into_remainder().iter_mut().zip(cb.remainder()) {
        *x = f(*x, y);
    }
}

/// Splits `x` (`rows × xw`) and `y` (`rows × yw`) into matching row blocks and runs `f`
/// on each in parallel (`f(x_block, y_block, rows_in_block)`).
fn par_rows<F>(x: &[f32], xw: usize, y: &mut [f32], yw: usize, f: F)
where
    F: Fn(&[f32], &mut [f32], usize) + Sync,
{
    // Each block packs the weight matrix again: 64 rows amortise it (16 did not: the TenSEAL
    // CNN's inference ran 9–13 % slower on Zen 4 at 1 and 2 threads).
    const ROWS: usize = 64;
    y.par_chunks_mut(ROWS * yw)
        .zip(x.par_chunks(ROWS * xw))
        .for_each(|(yb, xb)| f(xb, yb, yb.len() / yw));
}

/// Geometry of a convolution on one sample.
struct ConvGeom {
    c: usize,
    h: usize,
    w: usize,
    k: usize,
    s: usize,
    p: usize,
    oh: usize,
    ow: usize,
    o: usize,
}

/// Target number of GEMM columns per call: images are grouped until their output
/// positions reach it, so late layers (4×4 maps) still run efficient GEMMs.
const GEMM_COLS: usize = 512;
/// Most images per group.
const MAX_GROUP: usize = 32;

impl ConvGeom {
    fn new(layer: &Layer, x: &Tensor) -> (Self, usize, Option<usize>) {
        let Layer::Conv2d {
            weight,
            bias,
            out_channels,
            kernel,
            stride,
            padding,
            ..
        } = layer
        else {
            unreachable!("not a convolution")
        };
        let [_, oh, ow] = layer.output_shape(x.sample_shape());
        let g = Self {
            c: x.c,
            h: x.h,
            w: x.w,
            k: *kernel,
            s: *stride,
            p: *padding,
            oh,
            ow,
            o: *out_channels,
        };
        (g, *weight, *bias)
    }

    /// Whether the convolution runs on the direct 3×3 kernels ([`crate::direct`]): 3×3,
    /// stride 1, padding 1, maps at least [`direct::MIN_SIDE`] wide.
    fn direct(&self) -> bool {
        self.k == 3 && self.s == 1 && self.p == 1 && self.w >= direct::MIN_SIDE
    }

    /// Whether one image's `im2col` matrix is the image itself (`C × H·W`): a 1×1
    /// convolution at stride 1 without padding (paper A's adaptation network).
    fn pointwise(&self) -> bool {
        self.k == 1 && self.s == 1 && self.p == 0
    }

    /// Whether every group's `im2col` matrix is its input as it is: a pointwise convolution
    /// whose groups are single images. Forward then builds and keeps no matrices, and
    /// backward writes `dX = Wᵀ·dY` straight into the input gradient (no `col2im`).
    fn input_is_col(&self) -> bool {
        self.pointwise() && self.group() == 1
    }

    /// Rows of the `im2col` matrix (`c·k·k`).
    fn krows(&self) -> usize {
        self.c * self.k * self.k
    }

    /// Output positions per image (`oh·ow`).
    fn cols(&self) -> usize {
        self.oh * self.ow
    }

    /// Images per GEMM (depends only on the geometry, so results do not depend on the
    /// thread count).
    fn group(&self) -> usize {
        GEMM_COLS.div_ceil(self.cols().max(1)).clamp(1, MAX_GROUP)
    }

    /// The input columns `ix = ox·s + kx − p` that fall inside the image, as the range of
    /// `ox` values.
    fn valid_ox(&self, kx: usize) -> std::ops::Range<usize> {
        // ox·s + kx ≥ p  and  ox·s + kx − p < w
        let lo = self.p.saturating_sub(kx).div_ceil(self.s);
        let hi = (self.w + self.p)
            .saturating_sub(kx)
            .div_ceil(self.s)
            .min(self.ow);
        lo.min(hi)..hi
    }

    /// Appends row `(ci·k + ky)·k + kx` of image `x`'s patch matrix to `col`, `P` values:
    /// `x[ci][oy·s + ky − p][ox·s + kx − p]` for every output position `(oy, ox)` (0
    /// outside the image). Contiguous runs are copied ([`ConvGeom::runs`] layers).
    fn push_row(&self, x: &[f32], ci: usize, ky: usize, kx: usize, col: &mut Vec<f32>) {
        let (ow, oh, s) = (self.ow, self.oh, self.s);
        let plane = &x[ci * self.h * self.w..(ci + 1) * self.h * self.w];
        let range = self.valid_ox(kx);
        for oy in 0..oh {
            let iy = (oy * s + ky).wrapping_sub(self.p);
            if iy >= self.h || range.is_empty() {
                col.extend(std::iter::repeat_n(0.0, ow));
                continue;
            }
            col.extend(std::iter::repeat_n(0.0, range.start));
            let first = range.start * s + kx - self.p;
            let src = &plane[iy * self.w..(iy + 1) * self.w];
            if s == 1 {
                col.extend_from_slice(&src[first..first + range.len()]);
            } else {
                col.extend(src[first..].iter().step_by(s).take(range.len()));
            }
            col.extend(std::iter::repeat_n(0.0, ow - range.end));
        }
    }

    /// Adds `col` (row stride `ld`) back into image `dx` (the adjoint of `im2col`).
    fn col2im(&self, col: &[f32], ld: usize, dx: &mut [f32]) {
        let (ow, oh, s) = (self.ow, self.oh, self.s);
        let mut row = 0;
        for ci in 0..self.c {
            let plane = &mut dx[ci * self.h * self.w..(ci + 1) * self.h * self.w];
            for ky in 0..self.k {
                for kx in 0..self.k {
                    let range = self.valid_ox(kx);
                    let src = &col[row * ld..row * ld + oh * ow];
                    row += 1;
                    if range.is_empty() {
                        continue;
                    }
                    let first = range.start * s + kx - self.p;
                    for oy in 0..oh {
                        let iy = (oy * s + ky).wrapping_sub(self.p);
                        if iy >= self.h {
                            continue;
                        }
                        let dst = &mut plane[iy * self.w..(iy + 1) * self.w];
                        let seg = &src[oy * ow + range.start..oy * ow + range.end];
                        if s == 1 {
                            // Contiguous: a plain loop the compiler vectorises.
                            for (d, v) in dst[first..first + seg.len()].iter_mut().zip(seg) {
                                *d += v;
                            }
                        } else {
                            for (d, v) in dst[first..].iter_mut().step_by(s).zip(seg) {
                                *d += v;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Whether `im2col` copies contiguous runs (stride 1, wide rows) rather than
    /// gathering through an index table (strided or narrow maps, where the per-run loop
    /// overhead would dominate).
    fn runs(&self) -> bool {
        self.s == 1 && self.ow >= 16
    }

    /// Gather table: for every `im2col` entry `(row, position)`, the input index it reads,
    /// or [`PAD`] for zero padding. Built once per layer call, shared by all images.
    fn table(&self) -> Vec<u32> {
        let (ow, oh, s, hw) = (self.ow, self.oh, self.s, self.h * self.w);
        let mut t = Vec::with_capacity(self.krows() * oh * ow);
        for ci in 0..self.c {
            for ky in 0..self.k {
                for kx in 0..self.k {
                    for oy in 0..oh {
                        let iy = (oy * s + ky).wrapping_sub(self.p);
                        for ox in 0..ow {
                            let ix = (ox * s + kx).wrapping_sub(self.p);
                            t.push(if iy < self.h && ix < self.w {
                                u32::try_from(ci * hw + iy * self.w + ix)
                                    .expect("inputs are capped far below 2^32 values (model.rs)")
                            } else {
                                PAD
                            });
                        }
                    }
                }
            }
        }
        t
    }

    /// `im2col` of a group of images side by side: `K × (g·P)`, row by row (each row the
    /// images' rows in turn), replacing `col`'s contents (built by appending, so it is never
    /// zero-filled first); `table` from [`ConvGeom::table`] when not [`ConvGeom::runs`].
    /// Returns the row length `g·P`.
    fn group_cols(&self, xs: &[f32], table: &[u32], col: &mut Vec<f32>) -> usize {
        let (kr, cols, in_len) = (self.krows(), self.cols(), self.c * self.h * self.w);
        let ld = xs.len() / in_len * cols;
        col.clear();
        col.reserve_exact(kr * ld);
        if self.runs() {
            for ci in 0..self.c {
                for ky in 0..self.k {
                    for kx in 0..self.k {
                        for xi in xs.chunks_exact(in_len) {
                            self.push_row(xi, ci, ky, kx, col);
                        }
                    }
                }
            }
        } else {
            for idx in table.chunks_exact(cols) {
                for xi in xs.chunks_exact(in_len) {
                    if self.p == 0 {
                        // No padding: every index is in range.
                        col.extend(idx.iter().map(|&i| xi[i as usize]));
                    } else {
                        // PAD marks a tap in the zero padding; every other index is in range.
                        col.extend(
                            idx.iter()
                                .map(|&i| if i == PAD { 0.0 } else { xi[i as usize] }),
                        );
                    }
                }
            }
        }
        debug_assert_eq!(col.len(), kr * ld);
        ld
    }

    /// Adds group column `j` of `col` (row stride `ld`) into image `dx`.
    fn group_col2im(&self, col: &[f32], ld: usize, j: usize, table: &[u32], dx: &mut [f32]) {
        let cols = self.cols();
        if self.runs() {
            self.col2im(&col[j * cols..], ld, dx);
            return;
        }
        for (src, idx) in col.chunks_exact(ld).zip(table.chunks_exact(cols)) {
            for (v, &i) in src[j * cols..(j + 1) * cols].iter().zip(idx) {
                if let Some(d) = dx.get_mut(i as usize) {
                    *d += v;
                }
            }
        }
    }
}

/// Marks a padding entry in a gather table (out of range of any image).
const PAD: u32 = u32::MAX;

/// Largest batch `im2col` size (floats) kept from forward for backward; above it the
/// matrices are rebuilt in backward (memory over time for wide layers).
pub const COL_CACHE_FLOATS: usize = 1 << 23;

/// Most output channels for which a convolution's forward GEMM runs on
/// [`direct::wide_gemm`] (no packing) instead of the general GEMM: measured on Zen 4 at the
/// ResNet-18 w8 shapes, 1.2–2.3× matrixmultiply's speed up to 32 rows, even at 64.
const WIDE_GEMM_ROWS: usize = 32;

/// `out = w · col` (`o × kr` times `kr × ld`): [`direct::wide_gemm`] for at most
/// [`WIDE_GEMM_ROWS`] output channels, the general GEMM otherwise.
fn conv_gemm(w: &[f32], (o, kr, ld): (usize, usize, usize), col: &[f32], out: &mut [f32]) {
    if o <= WIDE_GEMM_ROWS {
        direct::wide_gemm(w, (o, kr, ld), col, out);
    } else {
        gemm(1.0, Mat::rows(w, o, kr), Mat::rows(col, kr, ld), 0.0, out);
    }
}

/// Convolution forward; in training mode with small `im2col` matrices, also returns them
/// (one per image group) for the backward pass. With `sums` (one entry per output plane,
/// `n·o`), also writes each output plane's [`plane_sums`]`(y, y)` there ([`image_sums`]), as
/// each image's output is written.
fn conv_forward(
    layer: &Layer,
    x: &Tensor,
    params: &[Param],
    train: bool,
    sums: Option<&mut [(f64, f64)]>,
) -> (Tensor, Vec<Vec<f32>>) {
    let (g, wi, bi) = ConvGeom::new(layer, x);
    let bias = bi.map(|b| params[b].value.as_slice());
    if let Some(s) = &sums {
        assert_eq!(s.len(), x.n * g.o, "one sum per output plane");
    }
    if g.direct() {
        return (
            direct_forward(&g, x, &params[wi].value, bias, sums),
            Vec::new(),
        );
    }
    if let Some(ph) = Phases::new([g.c, g.h, g.w], (g.k, g.s, g.p), [g.oh, g.ow]) {
        return (
            phases_forward(&g, &ph, x, &params[wi].value, bias, sums),
            Vec::new(),
        );
    }
    let (kr, cols, o) = (g.krows(), g.cols(), g.o);
    let w = &params[wi].value;
    let (in_len, out_len, group) = (x.sample_len(), o * cols, g.group());
    // Backward reads such a convolution's input instead.
    let bare = g.input_is_col();
    let keep = train && !bare && kr * cols * x.n <= COL_CACHE_FLOATS;
    // Every output is written below (by the GEMM, or by the scatter of its output).
    let mut y = Tensor::for_overwrite(x.n, [o, g.oh, g.ow]);
    let table = if g.runs() { Vec::new() } else { g.table() };
    // Kept matrices come from this thread's pool and go back to it in backward (see
    // `conv_backward`): a buffer taken on one worker and given back on another would leave
    // one pool empty (fresh, page-faulting memory every step) and the other overflowing.
    let mut kept: Vec<Vec<f32>> = (0..x.n.div_ceil(group))
        .map(|_| {
            if keep {
                pool::take_dirty(kr * group * cols)
            } else {
                Vec::new()
            }
        })
        .collect();
    let sums = chunks_or_none(sums, group * o, x.n.div_ceil(group));
    y.data
        .par_chunks_mut(group * out_len)
        .zip(x.data.par_chunks(group * in_len))
        .zip(kept.par_iter_mut().zip(sums))
        .for_each(|((ys, xs), (slot, sums))| {
            // Other im2col matrices and GEMM outputs come from (and go back to) the worker's
            // pool.
            let mut col = if keep {
                std::mem::take(slot)
            } else if bare {
                Vec::new()
            } else {
                pool::take_dirty(kr * group * cols)
            };
            let ld = if bare {
                cols
            } else {
                g.group_cols(xs, &table, &mut col)
            };
            let col_of: &[f32] = if bare { xs } else { &col };
            if ld == cols {
                // One image: its `O × P` output is the GEMM's, written in place.
                conv_gemm(w, (o, kr, ld), col_of, ys);
                if let Some(bi) = bi {
                    for (dst, &b) in ys.chunks_exact_mut(cols).zip(&params[bi].value) {
                        dst.iter_mut().for_each(|d| *d += b);
                    }
                }
            } else {
                let mut out = pool::Scratch::<f32>::dirty(o * ld).public();
                conv_gemm(w, (o, kr, ld), col_of, &mut out);
                // Scatter `O × (g·P)` into `g` images of `O × P`, adding the bias.
                for (j, yi) in ys.chunks_exact_mut(out_len).enumerate() {
                    for (ch, dst) in yi.chunks_exact_mut(cols).enumerate() {
                        let src = &out[ch * ld + j * cols..ch * ld + (j + 1) * cols];
                        dst.copy_from_slice(src);
                        if let Some(bi) = bi {
                            let b = params[bi].value[ch];
                            dst.iter_mut().for_each(|d| *d += b);
                        }
                    }
                }
            }
            if let Some(sums) = sums {
                image_sums(ys, cols, sums);
            }
            if keep {
                *slot = col;
            } else if !bare {
                pool::give(col, Held::Public);
            }
        });
    (y, kept)
}

fn conv_backward(
    layer: &Layer,
    x: &Tensor,
    mut cached: Vec<Vec<f32>>,
    dy: &Tensor,
    params: &[Param],
    grads: &mut [Vec<f32>],
    need_dx: bool,
) -> Tensor {
    let (g, wi, bi) = ConvGeom::new(layer, x);
    if g.direct() {
        return direct_backward(&g, x, dy, params, grads, (wi, bi), need_dx);
    }
    let (kr, cols, o) = (g.krows(), g.cols(), g.o);
    let w = &params[wi].value;
    let (in_len, out_len, group) = (x.sample_len(), o * cols, g.group());
    let bare = g.input_is_col();
    let mut dx = match (need_dx, bare) {
        // Every value is written below, by the GEMM of its image.
        (true, true) => Tensor::for_overwrite(x.n, x.sample_shape()),
        // `col2im` adds into it.
        (true, false) => Tensor::zeros(x.n, x.sample_shape()),
        (false, _) => Tensor::default(),
    };
    let groups = x.n.div_ceil(group);
    let table = if g.runs() { Vec::new() } else { g.table() };
    cached.resize(groups, Vec::new());
    // Buffers that outlive the parallel loop (the weight-gradient partials, the matrices kept
    // by forward) are taken from and given back to this thread's pool; per-group scratch
    // stays on its worker.
    let mut dws: Vec<Vec<f32>> = (0..groups).map(|_| pool::take_dirty(o * kr)).collect();
    // One group: dW = dY·colᵀ, db = Σ dY, dX = col2im(Wᵀ·dY). Returns db.
    let work =
        |xs: &[f32], dys: &[f32], dxs: Option<&mut [f32]>, kept: &mut Vec<f32>, dw: &mut [f32]| {
            let ld = dys.len() / out_len * cols;
            let own = kept.is_empty();
            let mut col = if bare {
                Vec::new()
            } else if own {
                let mut col = pool::take_dirty(kr * ld);
                g.group_cols(xs, &table, &mut col);
                col
            } else {
                std::mem::take(kept)
            };
            let db = if bi.is_some() {
                bias_grad(dys, o, cols)
            } else {
                Vec::new()
            };
            // dY of the group as `O × (g·P)`: the images' own layout when the group is one image.
            let regrouped;
            let dyg: &[f32] = if ld == cols {
                dys
            } else {
                // Every value is written below.
                let mut v = pool::Scratch::<f32>::dirty(o * ld).public();
                for (j, dyi) in dys.chunks_exact(out_len).enumerate() {
                    for (ch, src) in dyi.chunks_exact(cols).enumerate() {
                        v[ch * ld + j * cols..ch * ld + (j + 1) * cols].copy_from_slice(src);
                    }
                }
                regrouped = v;
                &regrouped
            };
            gemm(
                1.0,
                Mat::rows(dyg, o, ld),
                Mat::rows(if bare { xs } else { &col }, kr, ld).t(),
                0.0,
                dw,
            );
            match dxs {
                Some(dxs) if bare => {
                    gemm(
                        1.0,
                        Mat::rows(w, o, kr).t(),
                        Mat::rows(dyg, o, ld),
                        0.0,
                        dxs,
                    );
                }
                Some(dxs) => {
                    // Reuse `col` as dcol.
                    gemm(
                        1.0,
                        Mat::rows(w, o, kr).t(),
                        Mat::rows(dyg, o, ld),
                        0.0,
                        &mut col,
                    );
                    for (j, dxi) in dxs.chunks_exact_mut(in_len).enumerate() {
                        g.group_col2im(&col, ld, j, &table, dxi);
                    }
                }
                None => {}
            }
            if bare {
                // Nothing was taken.
            } else if own {
                pool::give(col, Held::Public);
            } else {
                *kept = col;
            }
            db
        };
    let dbs: Vec<Vec<f32>> = if need_dx {
        x.data
            .par_chunks(group * in_len)
            .zip(dy.data.par_chunks(group * out_len))
            .zip(dx.data.par_chunks_mut(group * in_len))
            .zip(cached.par_iter_mut().zip(dws.par_iter_mut()))
            .map(|(((xs, dys), dxs), (col, dw))| work(xs, dys, Some(dxs), col, dw))
            .collect()
    } else {
        x.data
            .par_chunks(group * in_len)
            .zip(dy.data.par_chunks(group * out_len))
            .zip(cached.par_iter_mut().zip(dws.par_iter_mut()))
            .map(|((xs, dys), (col, dw))| work(xs, dys, None, col, dw))
            .collect()
    };
    for col in cached {
        pool::give(col, Held::Public);
    }
    add_partials(grads, dws.into_iter().zip(dbs), (wi, bi));
    dx
}

/// Images per weight-gradient partial sum of the direct kernels (fixed, so the sums do not
/// depend on the thread count).
const DIRECT_CHUNK: usize = 4;

/// Forward of a [`ConvGeom::direct`] convolution, image by image in parallel.
fn direct_forward(
    g: &ConvGeom,
    x: &Tensor,
    w: &[f32],
    bias: Option<&[f32]>,
    sums: Option<&mut [(f64, f64)]>,
) -> Tensor {
    let grid = Grid::new(g.h, g.w);
    let wt = direct::tile_weights(w, g.o, g.c, false);
    grid_forward(g, x, (&grid, g.c), (&wt, bias), sums, |xi, xp| {
        grid.pad(xi, xp);
    })
}

/// Forward of a strided convolution through phase planes ([`Phases`]), image by image in
/// parallel (its backward pass stays `im2col` + GEMM).
fn phases_forward(
    g: &ConvGeom,
    ph: &Phases,
    x: &Tensor,
    w: &[f32],
    bias: Option<&[f32]>,
    sums: Option<&mut [(f64, f64)]>,
) -> Tensor {
    let wt = ph.weights(w, g.o);
    grid_forward(
        g,
        x,
        (&ph.grid, ph.channels()),
        (&wt, bias),
        sums,
        |xi, planes| {
            ph.fill(xi, planes);
        },
    )
}

/// The shared part of [`direct_forward`] and [`phases_forward`]: per image, `fill` writes the
/// `cin` input planes of `grid`, [`direct::conv`] computes the output grid with the tiled
/// weights `wt`, and [`Grid::unpad`] keeps the `oh × ow` outputs; with `sums`, the image's
/// [`image_sums`] follow.
fn grid_forward(
    g: &ConvGeom,
    x: &Tensor,
    (grid, cin): (&Grid, usize),
    (wt, bias): (&[f32], Option<&[f32]>),
    sums: Option<&mut [(f64, f64)]>,
    fill: impl Fn(&[f32], &mut [f32]) + Sync,
) -> Tensor {
    let ot = g.o.next_multiple_of(direct::OB);
    let bias = bias.map(|b| {
        let mut v = b.to_vec();
        v.resize(ot, 0.0);
        v
    });
    // Every output is written by `unpad`.
    let mut y = Tensor::for_overwrite(x.n, [g.o, g.oh, g.ow]);
    let (in_len, out_len) = (x.sample_len(), g.o * g.cols());
    let sums = chunks_or_none(sums, g.o, x.n);
    y.data
        .par_chunks_mut(out_len)
        .zip(x.data.par_chunks(in_len))
        .zip(sums)
        .for_each_init(
            || {
                (
                    pool::Scratch::<f32>::zeroed(cin * grid.plane).public(),
                    pool::Scratch::<f32>::zeroed(ot * grid.nq).public(),
                )
            },
            |(planes, out), ((yi, xi), sums)| {
                fill(xi, planes);
                direct::conv(grid, planes, cin, wt, bias.as_deref(), out);
                grid.unpad(out, yi);
                if let Some(sums) = sums {
                    image_sums(yi, g.cols(), sums);
                }
            },
        );
    y
}

/// Backward of a [`ConvGeom::direct`] convolution: weight (and bias) gradients summed per
/// [`DIRECT_CHUNK`] images, then in chunk order; the input gradient image by image.
fn direct_backward(
    g: &ConvGeom,
    x: &Tensor,
    dy: &Tensor,
    params: &[Param],
    grads: &mut [Vec<f32>],
    (wi, bi): (usize, Option<usize>),
    need_dx: bool,
) -> Tensor {
    let grid = Grid::new(g.h, g.w);
    let (c, o) = (g.c, g.o);
    let (ot, ct) = (
        o.next_multiple_of(direct::OB),
        c.next_multiple_of(direct::OB),
    );
    let flipped = if need_dx {
        direct::tile_weights(&params[wi].value, o, c, true)
    } else {
        Vec::new()
    };
    let (in_len, out_len, hw) = (x.sample_len(), o * g.cols(), g.cols());
    let mut dx = if need_dx {
        // Every value is written below, by `unpad` of its image's gradient grid.
        Tensor::for_overwrite(x.n, x.sample_shape())
    } else {
        Tensor::default()
    };
    let chunks = x.n.div_ceil(DIRECT_CHUNK);
    let dx_chunks = chunks_or_none(
        need_dx.then_some(dx.data.as_mut_slice()),
        DIRECT_CHUNK * in_len,
        chunks,
    );
    // The partials are taken from (and given back to) this thread's pool, as in
    // `conv_backward`.
    let mut dws: Vec<Vec<f32>> = (0..chunks).map(|_| pool::take(o * c * 9)).collect();
    let dbs: Vec<Vec<f32>> = x
        .data
        .par_chunks(DIRECT_CHUNK * in_len)
        .zip(dy.data.par_chunks(DIRECT_CHUNK * out_len))
        .zip(dx_chunks.into_par_iter().zip(dws.par_iter_mut()))
        .map_init(
            || {
                let dxg = if need_dx { ct * grid.nq } else { 0 };
                (
                    pool::Scratch::<f32>::zeroed(DIRECT_CHUNK * c * grid.plane).public(),
                    pool::Scratch::<f32>::zeroed(DIRECT_CHUNK * ot * grid.plane).public(),
                    pool::Scratch::<f32>::zeroed(dxg).public(),
                )
            },
            |(xp, dyp, dxg), ((xs, dys), (mut dxs, dw))| {
                let imgs = xs.len() / in_len;
                let (xp, dyp) = (
                    &mut xp[..imgs * c * grid.plane],
                    &mut dyp[..imgs * ot * grid.plane],
                );
                for (xi, xpi) in xs
                    .chunks_exact(in_len)
                    .zip(xp.chunks_exact_mut(c * grid.plane))
                {
                    grid.pad(xi, xpi);
                }
                for (dyi, dypi) in dys
                    .chunks_exact(out_len)
                    .zip(dyp.chunks_exact_mut(ot * grid.plane))
                {
                    grid.pad(dyi, dypi);
                }
                direct::weight_grad(&grid, dyp, xp, (imgs, c, o), dw);
                let db = if bi.is_some() {
                    bias_grad(dys, o, hw)
                } else {
                    Vec::new()
                };
                if let Some(dxs) = dxs.as_deref_mut() {
                    for (dypi, dxi) in dyp
                        .chunks_exact(ot * grid.plane)
                        .zip(dxs.chunks_exact_mut(in_len))
                    {
                        direct::conv(&grid, &dypi[..o * grid.plane], o, &flipped, None, dxg);
                        grid.unpad(dxg, dxi);
                    }
                }
                db
            },
        )
        .collect();
    add_partials(grads, dws.into_iter().zip(dbs), (wi, bi));
    dx
}

/// `v` in chunks of `len` (the last one possibly shorter), each as `Some`; without `v`,
/// `count` times `None`: an optional per-item output of a parallel loop over `count` items.
fn chunks_or_none<T>(v: Option<&mut [T]>, len: usize, count: usize) -> Vec<Option<&mut [T]>> {
    match v {
        Some(v) => {
            let c: Vec<_> = v.chunks_mut(len).map(Some).collect();
            assert_eq!(c.len(), count, "one chunk per item");
            c
        }
        None => (0..count).map(|_| None).collect(),
    }
}

/// Adds the per-group (or per-chunk) weight and bias gradients of a convolution's backward
/// pass to `grads` in group order (a fixed order: results do not depend on the thread
/// count), giving the weight-gradient buffers back to the pool.
fn add_partials(
    grads: &mut [Vec<f32>],
    partials: impl IntoIterator<Item = (Vec<f32>, Vec<f32>)>,
    (wi, bi): (usize, Option<usize>),
) {
    for (dw, db) in partials {
        add(&mut grads[wi], &dw);
        pool::give(dw, Held::Public);
        if let Some(bi) = bi {
            add(&mut grads[bi], &db);
        }
    }
}

/// Bias gradient of a group of images' `dY` (`o` planes of `cols` values each): per
/// channel, image by image, each plane summed in order.
fn bias_grad(dys: &[f32], o: usize, cols: usize) -> Vec<f32> {
    let mut db = vec![0.0f32; o];
    for dyi in dys.chunks_exact(o * cols) {
        for (d, plane) in db.iter_mut().zip(dyi.chunks_exact(cols)) {
            *d += plane.iter().sum::<f32>();
        }
    }
    db
}

fn add(acc: &mut [f32], v: &[f32]) {
    for (a, b) in acc.iter_mut().zip(v) {
        *a += b;
    }
}

/// ReLU's backward for one value: `d` where `y > 0`, else `+0.0` (also for a NaN `y`),
/// written as a bit mask (branch-free, so loops over it vectorise).
#[inline(always)]
fn relu_mask(d: f32, y: f32) -> f32 {
    keep_if(d, y > 0.0)
}

/// `d` when `keep`, else `+0.0` (branch-free): [`relu_mask`] with its test already made.
#[inline(always)]
fn keep_if(d: f32, keep: bool) -> f32 {
    f32::from_bits(d.to_bits() & u32::from(keep).wrapping_neg())
}

/// Planes per parallel work item of batch norm's passes: whole planes, about [`ELEMS`]
/// values (at least one plane), so that small maps (4×4 at ResNet's last stage) do not cost
/// a work item and a kernel dispatch per 16 values.
fn planes_per_item(hw: usize) -> usize {
    (ELEMS / hw.max(1)).max(1)
}

/// Per-channel `(Σ a, Σ a²)` over an `NCHW` tensor, in `f64`: each plane by [`plane_sums`]
/// (in parallel), then per channel the planes' sums added in image order ([`add_planes`]).
/// The order depends only on the shape, not on the thread count.
fn channel_sums(a: &[f32], n: usize, c: usize, hw: usize) -> Vec<(f64, f64)> {
    let k = planes_per_item(hw);
    let mut planes = vec![(0.0, 0.0); n * c];
    planes
        .par_chunks_mut(k)
        .zip(a.par_chunks(k * hw))
        .for_each(|(ps, xs)| image_sums(xs, hw, ps));
    add_planes(&planes, n, c)
}

/// [`plane_sums`]`(p, p)` of each `hw`-value plane `p` of `y`, into `out` (one entry per
/// plane): batch norm's per-plane statistics, as [`channel_sums`] takes them.
fn image_sums(y: &[f32], hw: usize, out: &mut [(f64, f64)]) {
    debug_assert_eq!(y.len(), out.len() * hw, "one entry per plane");
    wide!(for (p, plane) in out.iter_mut().zip(y.chunks_exact(hw)) {
        *p = plane_sums(plane, plane);
    })
}

/// Per channel, the sums of its `n` planes (`planes[i·c + ch]`, image `i`) added in image
/// order from zero.
fn add_planes(planes: &[(f64, f64)], n: usize, c: usize) -> Vec<(f64, f64)> {
    (0..c)
        .map(|ch| {
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            for i in 0..n {
                let (p1, p2) = planes[i * c + ch];
                s1 += p1;
                s2 += p2;
            }
            (s1, s2)
        })
        .collect()
}

/// `Σ term(p[0][i], …, p[N−1][i])` in `f64` over the values `i` of `N` planes of equal
/// length: [`LANES`] interleaved partial sums (term `i` into lane `i mod LANES`), then the
/// lanes and the tail in order. The one summation order of batch norm's statistics and
/// gradients.
///
/// One sum per loop: with two sums in one loop, LLVM pairs each lane's two terms in a
/// 128-bit register and converts and multiplies one value at a time (2 cycles per value
/// on Zen 3); alone, the lanes go into two 256-bit registers, four values per instruction.
#[inline(always)]
fn lane_sum<const N: usize>(p: [&[f32]; N], term: impl Fn([f32; N]) -> f64) -> f64 {
    let len = p[0].len();
    assert!(p.iter().all(|q| q.len() == len), "planes of equal length");
    let whole = len / LANES * LANES;
    let mut s = [0.0f64; LANES];
    for j in (0..whole).step_by(LANES) {
        let c: [&[f32; LANES]; N] = std::array::from_fn(|k| {
            p[k][j..j + LANES]
                .try_into()
                .expect("a slice of LANES floats")
        });
        for (l, sl) in s.iter_mut().enumerate() {
            *sl += term(std::array::from_fn(|k| c[k][l]));
        }
    }
    let mut t = 0.0f64;
    for sl in s {
        t += sl;
    }
    for v in (whole..len).map(|i| term(std::array::from_fn(|k| p[k][i]))) {
        t += v;
    }
    t
}

/// `(Σ a, Σ a·b)` of one plane in `f64` ([`lane_sum`]).
#[inline(always)]
fn plane_sums(a: &[f32], b: &[f32]) -> (f64, f64) {
    (
        lane_sum([a], |[x]| f64::from(x)),
        lane_sum([a, b], |[x, y]| f64::from(x) * f64::from(y)),
    )
}

/// Batch norm's `x̂ = (x − μ)·(1/σ)`: the one expression forward and backward evaluate, so
/// backward recomputes the very bits forward used.
#[inline(always)]
fn normalise(x: f32, mu: f32, inv_std: f32) -> f32 {
    (x - mu) * inv_std
}

/// Per-channel `(Σ dy, Σ dy·x̂)` of batch norm's backward, with `x̂` recomputed from the layer
/// input `x` ([`normalise`]). When `relu` holds `(γ, β)`, the ReLU's backward comes first in
/// the same pass: every `d` of `dy` becomes [`relu_mask`]`(d, γ·x̂ + β)` (the ReLU's own test
/// on its input) and is written back. The planes are summed in parallel, each as
/// [`plane_sums`] sums, and added per channel in image order as [`channel_sums`] adds them: the
/// same bits as a masking pass followed by [`channel_sums`] over `x̂`.
#[allow(clippy::too_many_arguments)]
fn grad_channel_sums(
    dy: &mut [f32],
    x: &[f32],
    (mean, inv_std): (&[f32], &[f32]),
    relu: Option<(&[f32], &[f32])>,
    n: usize,
    c: usize,
    hw: usize,
) -> Vec<(f64, f64)> {
    let k = planes_per_item(hw);
    let mut planes = vec![(0.0, 0.0); n * c];
    planes
        .par_chunks_mut(k)
        .zip(dy.par_chunks_mut(k * hw).zip(x.par_chunks(k * hw)))
        .enumerate()
        .for_each(|(item, (ps, (ds, xs)))| {
            let planes = ps
                .iter_mut()
                .zip(ds.chunks_exact_mut(hw).zip(xs.chunks_exact(hw)));
            match relu {
                Some((gamma, beta)) => wide!(for (j, (p, (d, xs))) in planes.enumerate() {
                    let ch = (item * k + j) % c;
                    let (mu, is, g, b) = (mean[ch], inv_std[ch], gamma[ch], beta[ch]);
                    *p = grad_plane_sums::<true>(d, xs, mu, is, g, b);
                }),
                None => wide!(for (j, (p, (d, xs))) in planes.enumerate() {
                    let ch = (item * k + j) % c;
                    *p = grad_plane_sums::<false>(d, xs, mean[ch], inv_std[ch], 0.0, 0.0);
                }),
            }
        });
    add_planes(&planes, n, c)
}

/// One plane of [`grad_channel_sums`]: [`plane_sums`]`(d, x̂)` with `x̂` from `xs`, after
/// `d[i] = relu_mask(d[i], x̂[i]·g + b)` when `RELU` ([`lane_sum`]'s lanes and order).
#[inline(always)]
fn grad_plane_sums<const RELU: bool>(
    d: &mut [f32],
    xs: &[f32],
    mu: f32,
    is: f32,
    g: f32,
    b: f32,
) -> (f64, f64) {
    if RELU {
        zip_block(d, xs, |dv, x| relu_mask(dv, normalise(x, mu, is) * g + b));
    }
    let d: &[f32] = d;
    (
        lane_sum([d], |[v]| f64::from(v)),
        lane_sum([d, xs], |[v, x]| {
            f64::from(v) * f64::from(normalise(x, mu, is))
        }),
    )
}

/// Partial sums per plane in [`lane_sum`] (two AVX2 registers of `f64`).
const LANES: usize = 8;

/// Batch norm's output on one plane, `γ·x̂ + β`, or `max(γ·x̂ + β, 0)` when `relu`, with
/// `(μ, 1/σ, γ, β)` = `p`: from `src` into `out`, or over `out` itself when `src` is `None`.
#[inline(always)]
fn bn_plane(
    out: &mut [f32],
    src: Option<&[f32]>,
    (mu, is, g, b): (f32, f32, f32, f32),
    relu: bool,
) {
    let y = |v: f32| normalise(v, mu, is) * g + b;
    match (src, relu) {
        (Some(p), true) => out.iter_mut().zip(p).for_each(|(o, &v)| *o = y(v).max(0.0)),
        (Some(p), false) => out.iter_mut().zip(p).for_each(|(o, &v)| *o = y(v)),
        (None, true) => out.iter_mut().for_each(|o| *o = y(*o).max(0.0)),
        (None, false) => out.iter_mut().for_each(|o| *o = y(*o)),
    }
}

/// Batch norm of `x` (`NCHW`, `c` channels), followed by `max(·, 0)` when `relu`. In
/// training, `planes` are `x`'s per-plane sums when the layer before took them
/// ([`image_sums`]); otherwise this pass takes them ([`channel_sums`]).
fn batchnorm_forward(
    x: Tensor,
    store: &mut Store<'_>,
    (weight, bias, running, c): (usize, usize, usize, usize),
    relu: bool,
    planes: Option<Vec<(f64, f64)>>,
) -> (Tensor, Cache) {
    let (n, hw) = (x.n, x.h * x.w);
    let gamma = &store.params[weight].value;
    let beta = &store.params[bias].value;
    let (mean, inv_std): (Vec<f32>, Vec<f32>) = match &mut store.buffers {
        Buffers::Train(buffers) => {
            let m = (n * hw) as f64;
            let sums = match planes {
                Some(p) => {
                    assert_eq!(p.len(), n * c, "one sum per input plane");
                    add_planes(&p, n, c)
                }
                None => channel_sums(&x.data, n, c, hw),
            };
            let mut mean = Vec::with_capacity(c);
            let mut inv = Vec::with_capacity(c);
            let (rm, rest) = buffers[running..].split_at_mut(1);
            let (rv, rest) = rest.split_at_mut(1);
            for (ch, (s1, s2)) in sums.into_iter().enumerate() {
                let mu = s1 / m;
                let var = (s2 / m - mu * mu).max(0.0);
                let unbiased = if m > 1.0 { var * m / (m - 1.0) } else { var };
                rm[0].value[ch] = (1.0 - BN_MOMENTUM) * rm[0].value[ch] + BN_MOMENTUM * mu as f32;
                rv[0].value[ch] =
                    (1.0 - BN_MOMENTUM) * rv[0].value[ch] + BN_MOMENTUM * unbiased as f32;
                mean.push(mu as f32);
                inv.push(1.0 / (var as f32 + BN_EPS).sqrt());
            }
            rest[0].value[0] += 1.0;
            (mean, inv)
        }
        Buffers::Eval(b) => {
            let inv = b[running + 1]
                .value
                .iter()
                .map(|v| 1.0 / (v + BN_EPS).sqrt())
                .collect();
            (b[running].value.clone(), inv)
        }
    };
    // One pass: y = γ·x̂ + β, or max(γ·x̂ + β, 0), with x̂ = (x − μ)/σ: the very
    // expressions of the separate layers, so the results are the same bits. Evaluation
    // writes y over x; training keeps x for backward, which recomputes x̂ from it.
    let k = planes_per_item(hw);
    let affine = |plane: usize| {
        let ch = plane % c;
        (mean[ch], inv_std[ch], gamma[ch], beta[ch])
    };
    if !training(store) {
        let mut y = x;
        y.data
            .par_chunks_mut(k * hw)
            .enumerate()
            .for_each(|(item, qs)| {
                wide!(for (j, q) in qs.chunks_exact_mut(hw).enumerate() {
                    bn_plane(q, None, affine(item * k + j), relu);
                })
            });
        return (y, Cache::None);
    }
    // Every output is written below.
    let mut y = Tensor::for_overwrite(n, x.sample_shape());
    y.data
        .par_chunks_mut(k * hw)
        .zip(x.data.par_chunks(k * hw))
        .enumerate()
        .for_each(|(item, (qs, ps))| {
            wide!(
                for (j, (q, p)) in qs.chunks_exact_mut(hw).zip(ps.chunks_exact(hw)).enumerate() {
                    bn_plane(q, Some(p), affine(item * k + j), relu);
                }
            )
        });
    (
        y,
        Cache::Norm {
            x,
            mean,
            inv_std,
            relu,
        },
    )
}

/// Backward of batch norm, or of batch norm followed by ReLU when `relu` (`dy` is then the
/// ReLU's output gradient, masked here by `γ·x̂ + β > 0`, the ReLU's own test `y > 0`), from
/// the layer input `x` and the batch's `μ` and `1/σ` (`x̂` is recomputed, [`normalise`]).
#[allow(clippy::too_many_arguments)]
fn batchnorm_backward(
    x: &Tensor,
    (mean, inv_std): (&[f32], &[f32]),
    relu: bool,
    mut dy: Tensor,
    params: &[Param],
    grads: &mut [Vec<f32>],
    weight: usize,
    bias: usize,
    c: usize,
) -> Tensor {
    let (n, hw) = (dy.n, dy.h * dy.w);
    let m = (n * hw) as f32;
    let gamma = &params[weight].value;
    // Σ dy and Σ dy·x̂ per channel give dβ and dγ; with the ReLU, its backward is applied in
    // the same pass (masking in a pass of its own cost one more read and write of dy).
    let relu = relu.then_some((gamma.as_slice(), params[bias].value.as_slice()));
    let sums = grad_channel_sums(&mut dy.data, &x.data, (mean, inv_std), relu, n, c, hw);
    for (ch, (s1, s2)) in sums.iter().enumerate() {
        grads[bias][ch] += *s1 as f32;
        grads[weight][ch] += *s2 as f32;
    }
    // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy·x̂))
    let k = planes_per_item(hw);
    dy.data
        .par_chunks_mut(k * hw)
        .zip(x.data.par_chunks(k * hw))
        .enumerate()
        .for_each(|(item, (ds, xs))| {
            wide!(
                for (j, (d, xs)) in ds.chunks_exact_mut(hw).zip(xs.chunks_exact(hw)).enumerate() {
                    let ch = (item * k + j) % c;
                    let (s1, s2) = sums[ch];
                    let (mdy, mdyx) = (s1 as f32 / m, s2 as f32 / m);
                    let (mu, is) = (mean[ch], inv_std[ch]);
                    let scale = gamma[ch] * is;
                    for (dv, &xv) in d.iter_mut().zip(xs) {
                        *dv = scale * (*dv - mdy - normalise(xv, mu, is) * mdyx);
                    }
                }
            )
        });
    dy
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct convolution, straight from the definition.
    fn naive_conv(
        x: &Tensor,
        w: &[f32],
        b: &[f32],
        o: usize,
        k: usize,
        s: usize,
        p: usize,
    ) -> Tensor {
        let (oh, ow) = (out_side(x.h, k, s, p), out_side(x.w, k, s, p));
        let mut y = Tensor::zeros(x.n, [o, oh, ow]);
        for n in 0..x.n {
            for oc in 0..o {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = b[oc];
                        for ci in 0..x.c {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let iy = (oy * s + ky) as isize - p as isize;
                                    let ix = (ox * s + kx) as isize - p as isize;
                                    if iy < 0 || ix < 0 || iy >= x.h as isize || ix >= x.w as isize
                                    {
                                        continue;
                                    }
                                    let xv = x.data
                                        [((n * x.c + ci) * x.h + iy as usize) * x.w + ix as usize];
                                    acc += xv * w[((oc * x.c + ci) * k + ky) * k + kx];
                                }
                            }
                        }
                        y.data[((n * o + oc) * oh + oy) * ow + ox] = acc;
                    }
                }
            }
        }
        y
    }

    #[test]
    fn maxpool_paths_match_the_definition() {
        // Values from a few levels, so windows hold ties (the first in window order wins),
        // plus windows of -inf; odd sides drop their last row / column.
        for (n, c, h, w, k, s) in [
            (3, 2, 8, 8, 2, 2),
            (2, 3, 7, 9, 2, 2),
            (2, 2, 9, 7, 3, 2),
            (1, 2, 6, 6, 3, 3),
        ] {
            let data: Vec<f32> = (0..n * c * h * w)
                .map(|i| match i * 7919 % 13 {
                    0 => f32::NEG_INFINITY,
                    v => (v % 4) as f32,
                })
                .collect();
            let x = Tensor::from_vec(n, [c, h, w], data);
            let (y, index) = maxpool_forward(&x, k, s);
            let (oh, ow) = (out_side(h, k, s, 0), out_side(w, k, s, 0));
            assert_eq!(y.sample_shape(), [c, oh, ow]);
            let mut general = (vec![0.0f32; y.data.len()], vec![0u32; y.data.len()]);
            for p in 0..n * c {
                let (o, hw) = (oh * ow, h * w);
                maxpool_plane(
                    &x.data[p * hw..(p + 1) * hw],
                    (w, k, s),
                    (p * hw) as u32,
                    &mut general.0[p * o..(p + 1) * o],
                    &mut general.1[p * o..(p + 1) * o],
                    ow,
                );
                for oy in 0..oh {
                    for ox in 0..ow {
                        let at = p * o + oy * ow + ox;
                        let window: Vec<usize> = (0..k * k)
                            .map(|t| p * hw + (oy * s + t / k) * w + ox * s + t % k)
                            .collect();
                        let best = window
                            .iter()
                            .map(|&j| x.data[j])
                            .fold(f32::NEG_INFINITY, f32::max);
                        let first = *window
                            .iter()
                            .find(|&&j| x.data[j] == best)
                            .expect("the maximum is in the window");
                        assert_eq!(y.data[at], best, "value at {at} ({k}x{k}/{s})");
                        assert_eq!(index[at] as usize, first, "index at {at} ({k}x{k}/{s})");
                    }
                }
            }
            assert_eq!(general.0, y.data);
            assert_eq!(general.1, index);
        }
    }

    /// Asserts that `pair` run as one part of [`train_then_eval`] (fused) gives the bits of
    /// its two layers run as two parts, with outputs on both sides of the ReLU's edge and a
    /// non-zero input gradient; returns the fused training output.
    fn fused_pair_matches_apart(
        pair: &[Layer; 2],
        x: &Tensor,
        dy: &[f32],
        params: &[Param],
        buffers: &dyn Fn() -> Vec<Param>,
    ) -> Vec<f32> {
        let fused = train_then_eval(&[pair], x, dy, params, buffers());
        let apart = train_then_eval(&[&pair[..1], &pair[1..]], x, dy, params, buffers());
        assert!(fused.0.contains(&0.0) && fused.0.iter().any(|&v| v > 0.0));
        assert!(fused.1.iter().any(|&v| v != 0.0));
        assert_eq!(fused.0, apart.0, "training output");
        assert_eq!(fused.1, apart.1, "input gradient");
        assert_eq!(fused.2, apart.2, "parameter gradients");
        assert_eq!(fused.3, apart.3, "running statistics");
        assert_eq!(fused.4, apart.4, "evaluation output");
        fused.0
    }

    /// Fresh running buffers of a batch norm over `c` channels (mean 0.1, variance 0.9, no
    /// batches yet), as its `running` index 0 expects them.
    fn norm_buffers(c: usize) -> Vec<Param> {
        [vec![0.1; c], vec![0.9; c], vec![0.0]]
            .into_iter()
            .map(|value| Param {
                name: "bn.buffer".into(),
                shape: vec![value.len()],
                value,
            })
            .collect()
    }

    /// `len` test values spread over a few dozen levels: `((i·mul mod m) − centre) / scale`.
    fn spread(len: usize, (mul, m): (usize, usize), centre: f32, scale: f32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * mul % m) as f32 - centre) / scale)
            .collect()
    }

    /// Trains `parts` one after the other on `x` (forward, then backward from `dy`), then
    /// evaluates them with the buffers training updated. Returns (training output, input
    /// gradient, parameter gradients, running buffers, evaluation output): the fused-layer
    /// tests compare one part holding a pair of layers with two parts holding one each.
    #[allow(clippy::type_complexity)]
    fn train_then_eval(
        parts: &[&[Layer]],
        x: &Tensor,
        dy: &[f32],
        params: &[Param],
        mut buffers: Vec<Param>,
    ) -> (Vec<f32>, Vec<f32>, Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<f32>) {
        let mut y = x.clone();
        let mut caches = Vec::new();
        for part in parts {
            let mut store = Store {
                params,
                buffers: Buffers::Train(&mut buffers),
            };
            let (out, cache) = forward_seq(part, y, &mut store);
            caches.push(cache);
            y = out;
        }
        let mut grads: Vec<Vec<f32>> = params.iter().map(|p| vec![0.0; p.value.len()]).collect();
        let mut d = Tensor::from_vec(y.n, y.sample_shape(), dy.to_vec());
        for (part, cache) in parts.iter().zip(caches).rev() {
            d = backward_seq(part, cache, d, params, &mut grads, true);
        }
        let mut e = x.clone();
        for part in parts {
            let mut store = Store {
                params,
                buffers: Buffers::Eval(&buffers),
            };
            e = forward_seq(part, e, &mut store).0;
        }
        let running = buffers.into_iter().map(|b| b.value).collect();
        (y.into_data(), d.into_data(), grads, running, e.into_data())
    }

    /// Batch norm + ReLU as [`forward_seq`] fuses them, against the two layers run one at a
    /// time (each through its own `forward_seq`, which cannot fuse): the same bits forward
    /// (training and evaluation), backward (input gradient, γ and β gradients) and in the
    /// running statistics. Values straddle 0 after normalisation; some sit on the ReLU's
    /// edge (γ·x̂ + β = 0 exactly).
    #[test]
    fn fused_batchnorm_relu_is_bit_identical_to_the_two_layers() {
        let (n, c, h, w) = (3, 4, 5, 7);
        let mut data: Vec<f32> = (0..n * c * h * w)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 17.0)
            .collect();
        // Channel 3 holds -1, 0, 1 equally often: mean exactly 0, so x̂ = 0 where x = 0.
        for (j, v) in data
            .chunks_exact_mut(h * w)
            .skip(3)
            .step_by(c)
            .flatten()
            .enumerate()
        {
            *v = (j % 3) as f32 - 1.0;
        }
        let x = Tensor::from_vec(n, [c, h, w], data);
        let dy: Vec<f32> = (0..n * c * h * w)
            .map(|i| ((i * 29 % 61) as f32 - 30.0) / 7.0)
            .collect();
        let param = |name: &str, value: Vec<f32>| Param {
            name: name.into(),
            shape: vec![value.len()],
            value,
        };
        let params = vec![
            param("bn.weight", vec![1.5, -0.5, 0.0, 2.0]),
            // On the ReLU's edge (γ·x̂ + β = 0 exactly): every output of channel 2 (γ = β =
            // 0) and channel 3's zeros (β = 0, x̂ = 0).
            param("bn.bias", vec![0.25, 0.1, 0.0, 0.0]),
        ];
        let fresh_buffers = || {
            vec![
                param("bn.running_mean", vec![0.1; c]),
                param("bn.running_var", vec![0.9; c]),
                param("bn.num_batches_tracked", vec![0.0]),
            ]
        };
        let bn = Layer::BatchNorm2d {
            weight: 0,
            bias: 1,
            running: 0,
            channels: c,
        };
        fused_pair_matches_apart(&[bn, Layer::Relu], &x, &dy, &params, &fresh_buffers);
    }

    /// A residual block and the ReLU after it, run as one layer, give the bits of the two
    /// layers run apart (identity and 1×1 shortcuts, outputs exactly on the ReLU's edge).
    #[test]
    fn fused_residual_relu_is_bit_identical_to_the_two_layers() {
        let (n, c, h, w) = (2, 3, 8, 9);
        let x = Tensor::from_vec(n, [c, h, w], spread(n * c * h * w, (37, 89), 44.0, 13.0));
        let dy = spread(n * c * h * w, (29, 61), 30.0, 7.0);
        // Body: a 3×3 convolution (with a bias, so some sums land exactly on 0) and a
        // batch norm; shortcut: the identity, or a 1×1 convolution.
        let wv = spread(c * c * 9, (13, 23), 11.0, 40.0);
        let (mut params, conv) = conv_layer(&wv, &[0.5, -0.25, 0.0], c, (3, 1, 1));
        params.push(Param {
            name: "bn.weight".into(),
            shape: vec![c],
            value: vec![1.5, -0.5, 0.0],
        });
        params.push(Param {
            name: "bn.bias".into(),
            shape: vec![c],
            value: vec![0.25, 0.1, 0.0],
        });
        params.push(Param {
            name: "proj.weight".into(),
            shape: vec![c, c, 1, 1],
            value: vec![0.5, -1.0, 0.25, 0.0, 1.0, -0.5, 2.0, 0.125, -0.75],
        });
        let bn = Layer::BatchNorm2d {
            weight: 2,
            bias: 3,
            running: 0,
            channels: c,
        };
        let proj = Layer::Conv2d {
            weight: 4,
            bias: None,
            in_channels: c,
            out_channels: c,
            kernel: 1,
            stride: 1,
            padding: 0,
        };
        let fresh_buffers = || norm_buffers(c);
        for shortcut in [Vec::new(), vec![proj.clone()]] {
            let block = Layer::Residual {
                body: vec![conv.clone(), bn.clone()],
                shortcut: shortcut.clone(),
            };
            let fused =
                fused_pair_matches_apart(&[block, Layer::Relu], &x, &dy, &params, &fresh_buffers);
            // The sum itself, against the branches run on their own.
            let mut buffers = fresh_buffers();
            let mut store = Store {
                params: &params,
                buffers: Buffers::Train(&mut buffers),
            };
            let b = forward_seq(&[conv.clone(), bn.clone()], x.clone(), &mut store).0;
            let s = forward_seq(&shortcut, x.clone(), &mut store).0;
            let want: Vec<f32> = s
                .data
                .iter()
                .zip(&b.data)
                .map(|(s, b)| (s + b).max(0.0))
                .collect();
            assert_eq!(fused, want, "relu(shortcut + body)");
        }
    }

    /// A convolution followed by a batch norm in one `forward_seq` (the convolution takes the
    /// batch norm's statistics as it writes its output) gives the bits of the two run apart
    /// (the batch norm takes them itself), on every convolution path: direct 3×3, phase
    /// planes, grouped `im2col` and pointwise.
    #[test]
    fn statistics_taken_by_the_convolution_are_the_batch_norms_own() {
        for (n, c, h, w, o, (k, s, p)) in [
            (3, 2, 8, 9, 4, (3, 1, 1)),
            (2, 1, 28, 28, 3, (7, 3, 0)),
            (5, 3, 8, 8, 2, (3, 2, 1)),
            (2, 3, 24, 24, 5, (1, 1, 0)),
        ] {
            let x = Tensor::from_vec(n, [c, h, w], spread(n * c * h * w, (37, 101), 50.0, 50.0));
            let wv = spread(o * c * k * k, (13, 29), 14.0, 14.0);
            let bv: Vec<f32> = (0..o).map(|i| i as f32 * 0.25 - 0.3).collect();
            let (mut params, conv) = conv_layer(&wv, &bv, c, (k, s, p));
            let (oh, ow) = (out_side(h, k, s, p), out_side(w, k, s, p));
            for (name, v) in [("bn.weight", 1.25), ("bn.bias", -0.125)] {
                params.push(Param {
                    name: name.into(),
                    shape: vec![o],
                    value: (0..o).map(|i| v + i as f32 * 0.5).collect(),
                });
            }
            let bn = Layer::BatchNorm2d {
                weight: 2,
                bias: 3,
                running: 0,
                channels: o,
            };
            let dy = spread(n * o * oh * ow, (29, 61), 30.0, 7.0);
            let layers = [conv, bn, Layer::Relu];
            let together = train_then_eval(&[&layers], &x, &dy, &params, norm_buffers(o));
            let apart = train_then_eval(
                &[&layers[..1], &layers[1..]],
                &x,
                &dy,
                &params,
                norm_buffers(o),
            );
            let what = format!("{k}x{k}/{s} on {h}x{w}");
            assert!(together.1.iter().any(|&v| v != 0.0), "{what}");
            assert_eq!(together.0, apart.0, "training output, {what}");
            assert_eq!(together.1, apart.1, "input gradient, {what}");
            assert_eq!(together.2, apart.2, "parameter gradients, {what}");
            assert_eq!(together.3, apart.3, "running statistics, {what}");
            assert_eq!(together.4, apart.4, "evaluation output, {what}");
        }
    }

    /// The AVX2 build of `wide!`'s loops gives the bits of the baseline build: batch norm's
    /// sums (odd lengths, so the tails run too) and its element-wise passes (fails, rather than
    /// skips, on a CPU with AVX2 and FMA).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn wide_loops_give_the_same_bits_on_avx2() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            eprintln!("skipped: this CPU has no AVX2 + FMA");
            return;
        }
        let data = |n: usize, seed: f32| -> Vec<f32> {
            (0..n)
                .map(|i| ((i as f32 + seed) * 0.618).sin() * 3.0)
                .collect()
        };
        // Inlined into both callers, so one copy is compiled with AVX2 + FMA.
        #[inline(always)]
        fn passes(a: &[f32], b: &[f32]) -> ((f64, f64), Vec<f32>, Vec<f32>) {
            let sums = plane_sums(a, b);
            let (mu, is, g, bb) = (0.1f32, 1.7f32, -0.8f32, 0.3f32);
            let normalised: Vec<f32> = a
                .iter()
                .map(|&v| (((v - mu) * is) * g + bb).max(0.0))
                .collect();
            let masked: Vec<f32> = a
                .iter()
                .zip(b)
                .map(|(&d, &x)| 0.9 * (relu_mask(d, x * g + bb) - 0.2 - x * 0.05))
                .collect();
            (sums, normalised, masked)
        }
        for n in [1, 7, 8, 1023, 1024, 4099] {
            let (a, b) = (data(n, 1.0), data(n, 2.0));
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            #[allow(unsafe_code)]
            let wide = unsafe {
                direct::wide_avx2(
                    #[inline(always)]
                    || passes(&a, &b),
                )
            };
            let plain = passes(&a, &b);
            assert_eq!(wide.0 .0.to_bits(), plain.0 .0.to_bits(), "Σa, n = {n}");
            assert_eq!(wide.0 .1.to_bits(), plain.0 .1.to_bits(), "Σab, n = {n}");
            assert_eq!(wide.1, plain.1, "normalised, n = {n}");
            assert_eq!(wide.2, plain.2, "masked, n = {n}");
        }
    }

    /// A convolution layer with bias over `c` input channels, `(kernel, stride, padding)`,
    /// and its parameters (`w`: `bv.len() · c · k · k` values, `bv`: one per output channel).
    fn conv_layer(
        wv: &[f32],
        bv: &[f32],
        c: usize,
        (k, s, p): (usize, usize, usize),
    ) -> (Vec<Param>, Layer) {
        let o = bv.len();
        assert_eq!(wv.len(), o * c * k * k, "weight count");
        let params = vec![
            Param {
                name: "w".into(),
                shape: vec![o, c, k, k],
                value: wv.to_vec(),
            },
            Param {
                name: "b".into(),
                shape: vec![o],
                value: bv.to_vec(),
            },
        ];
        let layer = Layer::Conv2d {
            weight: 0,
            bias: Some(1),
            in_channels: c,
            out_channels: o,
            kernel: k,
            stride: s,
            padding: p,
        };
        (params, layer)
    }

    /// A pointwise convolution (1×1, stride 1, no padding) on maps large enough that each
    /// image is its own group, which skips `im2col` and `col2im`: forward, dW, db and dX
    /// against the definition, in training mode (nothing kept) and evaluation mode.
    #[test]
    fn pointwise_convolution_matches_the_definition() {
        let (n, c, h, w, o) = (3, 3, 24, 24, 5);
        let hw = h * w;
        let x = Tensor::from_vec(
            n,
            [c, h, w],
            (0..n * c * hw)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                .collect(),
        );
        let wv: Vec<f32> = (0..o * c).map(|i| (i as f32 - 7.0) / 7.0).collect();
        let bv: Vec<f32> = (0..o).map(|i| i as f32 * 0.25 - 0.3).collect();
        let (params, layer) = conv_layer(&wv, &bv, c, (1, 1, 0));
        let (g, _, _) = ConvGeom::new(&layer, &x);
        assert!(g.input_is_col(), "the path under test");
        let close = |a: f32, b: f32, what: &str| {
            assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "{what}: {a} vs {b}");
        };
        for train in [true, false] {
            let (y, kept) = conv_forward(&layer, &x, &params, train, None);
            assert!(
                kept.iter().all(Vec::is_empty),
                "a pointwise layer keeps nothing"
            );
            let want = naive_conv(&x, &wv, &bv, o, 1, 1, 0);
            for (a, b) in y.data.iter().zip(&want.data) {
                close(*a, *b, "y");
            }
        }
        let dy: Vec<f32> = (0..n * o * hw)
            .map(|i| ((i * 29 % 61) as f32 - 30.0) / 30.0)
            .collect();
        let dyt = Tensor::from_vec(n, [o, h, w], dy.clone());
        let mut grads = vec![vec![0.0f32; o * c], vec![0.0f32; o]];
        let (_, kept) = conv_forward(&layer, &x, &params, true, None);
        let dx = conv_backward(&layer, &x, kept, &dyt, &params, &mut grads, true);
        for oc in 0..o {
            let db: f32 = (0..n).flat_map(|i| &dy[(i * o + oc) * hw..][..hw]).sum();
            close(grads[1][oc], db, "db");
            for ci in 0..c {
                let dw: f32 = (0..n)
                    .flat_map(|i| (0..hw).map(move |p| (i, p)))
                    .map(|(i, p)| dy[(i * o + oc) * hw + p] * x.data[(i * c + ci) * hw + p])
                    .sum();
                close(grads[0][oc * c + ci], dw, "dW");
            }
        }
        for i in 0..n {
            for ci in 0..c {
                for p in 0..hw {
                    let want: f32 = (0..o)
                        .map(|oc| wv[oc * c + ci] * dy[(i * o + oc) * hw + p])
                        .sum();
                    close(dx.data[(i * c + ci) * hw + p], want, "dX");
                }
            }
        }
    }

    #[test]
    fn convolution_matches_the_definition() {
        // Several geometries, and batch sizes that split into partial groups.
        for (n, c, h, w, o, k, s, p) in [
            (3, 2, 7, 9, 4, 3, 1, 1),
            (5, 3, 8, 8, 2, 3, 2, 1),
            (2, 1, 28, 28, 4, 7, 3, 0),
            (70, 4, 4, 4, 3, 1, 2, 0),
            (2, 2, 5, 5, 3, 5, 1, 2),
            (3, 2, 18, 20, 3, 3, 1, 1),
        ] {
            let x = Tensor::from_vec(
                n,
                [c, h, w],
                (0..n * c * h * w)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                    .collect(),
            );
            let wv: Vec<f32> = (0..o * c * k * k)
                .map(|i| ((i * 13 % 29) as f32 - 14.0) / 14.0)
                .collect();
            let bv: Vec<f32> = (0..o).map(|i| i as f32 * 0.25 - 0.3).collect();
            let (params, layer) = conv_layer(&wv, &bv, c, (k, s, p));
            let (got, _) = conv_forward(&layer, &x, &params, false, None);
            let want = naive_conv(&x, &wv, &bv, o, k, s, p);
            assert_eq!(
                (got.n, got.c, got.h, got.w),
                (want.n, want.c, want.h, want.w)
            );
            for (a, b) in got.data.iter().zip(&want.data) {
                assert!(
                    (a - b).abs() < 1e-4,
                    "{a} vs {b} for {:?}",
                    (n, c, h, w, o, k, s, p)
                );
            }
        }
    }

    #[test]
    fn run_copies_and_gather_table_agree() {
        // Stride 1, wide rows: `runs()` holds; compare against the gather table both ways.
        let g = ConvGeom {
            c: 2,
            h: 6,
            w: 20,
            k: 3,
            s: 1,
            p: 1,
            oh: 6,
            ow: 20,
            o: 1,
        };
        assert!(g.runs());
        let x: Vec<f32> = (0..2 * 6 * 20).map(|i| i as f32 * 0.5 - 7.0).collect();
        let table = g.table();
        let cols = g.cols();
        let mut a = Vec::new();
        assert_eq!(g.group_cols(&x, &table, &mut a), cols);
        let b: Vec<f32> = table
            .iter()
            .map(|&i| x.get(i as usize).copied().unwrap_or(0.0))
            .collect();
        assert_eq!(a, b);
        let mut dx_runs = vec![0.0; x.len()];
        g.col2im(&a, cols, &mut dx_runs);
        let mut dx_table = vec![0.0; x.len()];
        for (v, &i) in a.iter().zip(&table) {
            if let Some(d) = dx_table.get_mut(i as usize) {
                *d += v;
            }
        }
        for (p, q) in dx_runs.iter().zip(&dx_table) {
            assert!((p - q).abs() < 1e-4);
        }
    }
}
