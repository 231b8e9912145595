//! The HE-friendly network a plan is compiled from: a first convolution, then dense layers
//! and `x²` activations, with every batch norm folded into the linear layer before it.
//!
//! [`Network::from_model`] reads a [`pixveil_nn::Model`] (a pixveil checkpoint, or a PyTorch
//! state dict with the same names) and [`Network::forward`] is the plaintext reference, in
//! `f64`, that the encrypted result is measured against.

use pixveil_nn::layer::BN_EPS;
use pixveil_nn::{Layer, Model};

use crate::{Error, Result};

/// A 2-D convolution over the whole input image (square kernel, zero padding).
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    /// Input `[channels, height, width]`.
    pub input: [usize; 3],
    /// Output channels `O`.
    pub out_channels: usize,
    /// Kernel side `k`.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
    /// Weights `[O][C·k·k]`, kernel element `e = c·k² + ky·k + kx` (PyTorch order).
    pub weight: Vec<f64>,
    /// Bias `[O]` (batch norm folded in).
    pub bias: Vec<f64>,
}

/// Where a convolution's windows fall on its input (square kernel, zero padding): the
/// im2col index arithmetic, shared by the network, the plan and the client's packing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input `[channels, height, width]`.
    pub input: [usize; 3],
    /// Kernel side `k`.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
}

impl ConvGeometry {
    /// Whether a window fits the padded input (kernel and stride ≥ 1); the other methods
    /// assume it.
    pub fn fits(&self) -> bool {
        let [_, h, w] = self.input;
        self.kernel >= 1
            && self.stride >= 1
            && self.kernel <= h + 2 * self.padding
            && self.kernel <= w + 2 * self.padding
    }

    /// Output `(height, width)`.
    pub fn out_hw(&self) -> (usize, usize) {
        let side = |s: usize| (s + 2 * self.padding - self.kernel) / self.stride + 1;
        (side(self.input[1]), side(self.input[2]))
    }

    /// Windows per output channel `OH·OW`.
    pub fn windows(&self) -> usize {
        let (h, w) = self.out_hw();
        h * w
    }

    /// Kernel elements `C·k²` (the length of one im2col row).
    pub fn kernel_len(&self) -> usize {
        self.input[0] * self.kernel * self.kernel
    }

    /// Index into the `CHW` input of kernel element `e` (`c·k² + ky·k + kx`) of window `w`,
    /// or `None` where the window covers padding.
    pub fn pixel(&self, w: usize, e: usize) -> Option<usize> {
        let [_, h, wd] = self.input;
        let (_, ow) = self.out_hw();
        let k = self.kernel;
        let (c, ky, kx) = (e / (k * k), (e / k) % k, e % k);
        let y = (w / ow * self.stride + ky).checked_sub(self.padding)?;
        let x = (w % ow * self.stride + kx).checked_sub(self.padding)?;
        (y < h && x < wd).then_some((c * h + y) * wd + x)
    }
}

impl Conv {
    /// The window geometry.
    pub fn geometry(&self) -> ConvGeometry {
        ConvGeometry {
            input: self.input,
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
        }
    }

    /// Output `(height, width)`.
    pub fn out_hw(&self) -> (usize, usize) {
        self.geometry().out_hw()
    }

    /// Windows per output channel `OH·OW`.
    pub fn windows(&self) -> usize {
        self.geometry().windows()
    }

    /// Kernel elements `C·k²` (the length of one im2col row).
    pub fn kernel_len(&self) -> usize {
        self.geometry().kernel_len()
    }

    /// Outputs `O·OH·OW`, flattened channel-major as PyTorch's `view(n, -1)`.
    pub fn outputs(&self) -> usize {
        self.out_channels * self.windows()
    }

    /// See [`ConvGeometry::pixel`].
    pub fn pixel(&self, w: usize, e: usize) -> Option<usize> {
        self.geometry().pixel(w, e)
    }

    fn forward(&self, x: &[f64]) -> Vec<f64> {
        let (windows, kl) = (self.windows(), self.kernel_len());
        let mut out = vec![0.0; self.outputs()];
        for o in 0..self.out_channels {
            let wrow = &self.weight[o * kl..(o + 1) * kl];
            for w in 0..windows {
                let s: f64 = (0..kl)
                    .filter_map(|e| self.pixel(w, e).map(|p| wrow[e] * x[p]))
                    .sum();
                out[o * windows + w] = s + self.bias[o];
            }
        }
        out
    }
}

/// A fully connected layer `y = W·x + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// Input features `n`.
    pub inputs: usize,
    /// Output features `m`.
    pub outputs: usize,
    /// Weights `[m][n]`, row-major.
    pub weight: Vec<f64>,
    /// Bias `[m]` (batch norm folded in).
    pub bias: Vec<f64>,
}

impl Dense {
    fn forward(&self, x: &[f64]) -> Vec<f64> {
        (0..self.outputs)
            .map(|r| {
                let row = &self.weight[r * self.inputs..(r + 1) * self.inputs];
                row.iter().zip(x).map(|(w, v)| w * v).sum::<f64>() + self.bias[r]
            })
            .collect()
    }
}

/// One layer of an HE-friendly network.
#[derive(Clone, Debug, PartialEq)]
pub enum HeLayer {
    /// The first layer: a convolution the client lays out as im2col windows.
    Conv(Conv),
    /// A fully connected layer.
    Dense(Dense),
    /// `x ↦ x²` (one ciphertext multiplication).
    Square,
}

impl HeLayer {
    /// Short name for reports (`conv`, `dense`, `square`).
    pub fn kind(&self) -> &'static str {
        match self {
            HeLayer::Conv(_) => "conv",
            HeLayer::Dense(_) => "dense",
            HeLayer::Square => "square",
        }
    }
}

/// An HE-friendly network: `Conv (Square | Dense)*`, batch norms folded.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// Layers; the first is a [`HeLayer::Conv`].
    pub layers: Vec<HeLayer>,
    /// Input `[channels, height, width]`.
    pub input: [usize; 3],
    /// Output classes.
    pub classes: usize,
}

impl Network {
    /// Extracts the network of a trained model, folding every batch norm into the linear
    /// layer before it (`γ/√(σ² + ε)` scales its output rows, `β − γμ/√(σ² + ε)` joins its
    /// bias).
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a non-polynomial layer (ReLU, pooling, residual blocks), a
    /// first layer other than a convolution, a convolution elsewhere, or a batch norm that
    /// does not follow a linear layer.
    pub fn from_model(model: &Model) -> Result<Self> {
        let params = model.params();
        let buffers = model.buffers();
        let values = |i: usize| params[i].value.iter().map(|&v| f64::from(v)).collect();
        let mut layers: Vec<HeLayer> = Vec::new();
        let mut shape = model.input_shape();
        for layer in model.layers() {
            match layer {
                Layer::Conv2d {
                    weight,
                    bias,
                    in_channels,
                    out_channels,
                    kernel,
                    stride,
                    padding,
                } => {
                    if !layers.is_empty() {
                        return Err(Error::Unsupported(
                            "only the first layer may be a convolution (the client lays it out \
                             as im2col windows)"
                                .into(),
                        ));
                    }
                    debug_assert_eq!(*in_channels, shape[0]);
                    layers.push(HeLayer::Conv(Conv {
                        input: shape,
                        out_channels: *out_channels,
                        kernel: *kernel,
                        stride: *stride,
                        padding: *padding,
                        weight: values(*weight),
                        bias: bias.map_or_else(|| vec![0.0; *out_channels], values),
                    }));
                }
                Layer::Linear {
                    weight,
                    bias,
                    inputs,
                    outputs,
                } => {
                    if layers.is_empty() {
                        return Err(Error::Unsupported(
                            "the first layer must be a convolution".into(),
                        ));
                    }
                    layers.push(HeLayer::Dense(Dense {
                        inputs: *inputs,
                        outputs: *outputs,
                        weight: values(*weight),
                        bias: values(*bias),
                    }));
                }
                Layer::BatchNorm2d {
                    weight,
                    bias,
                    running,
                    channels,
                } => {
                    let gamma = &params[*weight].value;
                    let beta = &params[*bias].value;
                    let mean = &buffers[*running].value;
                    let var = &buffers[*running + 1].value;
                    let a: Vec<f64> = (0..*channels)
                        .map(|c| {
                            f64::from(gamma[c]) / (f64::from(var[c]) + f64::from(BN_EPS)).sqrt()
                        })
                        .collect();
                    let shift: Vec<f64> = (0..*channels)
                        .map(|c| f64::from(beta[c]) - a[c] * f64::from(mean[c]))
                        .collect();
                    fold_batch_norm(layers.last_mut(), &a, &shift)?;
                }
                Layer::Square => layers.push(HeLayer::Square),
                other => {
                    return Err(Error::Unsupported(format!(
                        "{} has a {} layer; only convolution, batch norm, dense and x² layers \
                         run under CKKS (models: tenseal-cnn, he-cnn)",
                        model.architecture(),
                        layer_name(other)
                    )))
                }
            }
            shape = layer.output_shape(shape);
        }
        Ok(Self {
            layers,
            input: model.input_shape(),
            classes: model.config().classes,
        })
    }

    /// Input values per image (`C·H·W`).
    pub fn input_len(&self) -> usize {
        self.input.iter().product()
    }

    /// Multiplicative depth: one level per linear layer and per square.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// Plaintext forward pass in `f64` on a `CHW` image with values in `[0, 1]`: the
    /// reference logits.
    ///
    /// # Panics
    /// If `x` is not `input_len()` long (callers check sizes).
    pub fn forward(&self, x: &[f64]) -> Vec<f64> {
        self.forward_layers(x)
            .pop()
            .expect("a network has at least one layer")
    }

    /// Every layer's output of the plaintext forward pass (see [`Network::forward`]).
    ///
    /// # Panics
    /// If `x` is not `input_len()` long.
    pub fn forward_layers(&self, x: &[f64]) -> Vec<Vec<f64>> {
        assert_eq!(x.len(), self.input_len(), "input length");
        let mut outs: Vec<Vec<f64>> = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let v = outs.last().map_or(x, Vec::as_slice);
            outs.push(match layer {
                HeLayer::Conv(c) => c.forward(v),
                HeLayer::Dense(d) => d.forward(v),
                HeLayer::Square => v.iter().map(|x| x * x).collect(),
            });
        }
        outs
    }
}

fn fold_batch_norm(last: Option<&mut HeLayer>, a: &[f64], shift: &[f64]) -> Result<()> {
    let (weight, bias, rows) = match last {
        Some(HeLayer::Conv(c)) => (&mut c.weight, &mut c.bias, c.out_channels),
        Some(HeLayer::Dense(d)) => (&mut d.weight, &mut d.bias, d.outputs),
        _ => {
            return Err(Error::Unsupported(
                "a batch norm must follow a convolution or a dense layer".into(),
            ))
        }
    };
    if rows != a.len() {
        return Err(Error::Unsupported(format!(
            "batch norm over {} channels after a layer with {rows} outputs",
            a.len()
        )));
    }
    let cols = weight.len() / rows;
    for r in 0..rows {
        weight[r * cols..(r + 1) * cols]
            .iter_mut()
            .for_each(|w| *w *= a[r]);
        bias[r] = bias[r] * a[r] + shift[r];
    }
    Ok(())
}

fn layer_name(l: &Layer) -> &'static str {
    match l {
        Layer::Conv2d { .. } => "convolution",
        Layer::BatchNorm2d { .. } => "batch-norm",
        Layer::Linear { .. } => "linear",
        Layer::Relu => "ReLU",
        Layer::Square => "x²",
        Layer::MaxPool2d { .. } => "max-pool",
        Layer::GlobalAvgPool => "global average pool",
        Layer::Residual { .. } => "residual",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pixveil_nn::{Architecture, ModelConfig};

    fn model(arch: Architecture, seed: u64) -> Model {
        Model::new(&ModelConfig::new(arch, [1, 28, 28]), seed).expect("valid config")
    }

    fn image(seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..784)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 40) as f64 / (1u64 << 24) as f64
            })
            .collect()
    }

    /// With non-trivial batch-norm statistics, the folded network computes what the
    /// pixveil-nn model computes.
    #[test]
    fn folded_network_matches_the_model() {
        for arch in [Architecture::TensealCnn, Architecture::HeCnn] {
            let mut m = model(arch, 3);
            // Give the batch norms real statistics (a fresh model has mean 0, var 1).
            let mut tensors: Vec<pixveil_nn::Param> =
                m.params().iter().chain(m.buffers()).cloned().collect();
            for (i, t) in tensors.iter_mut().enumerate() {
                if t.name.ends_with("running_mean") || t.name.ends_with("bn1.bias") {
                    t.value
                        .iter_mut()
                        .enumerate()
                        .for_each(|(j, v)| *v = 0.1 * ((i + j) % 5) as f32 - 0.2);
                }
                if t.name.ends_with("running_var") || t.name.ends_with("bn2.weight") {
                    t.value
                        .iter_mut()
                        .enumerate()
                        .for_each(|(j, v)| *v = 0.5 + 0.25 * ((i + j) % 4) as f32);
                }
            }
            m = Model::from_tensors(m.config(), tensors).expect("same shapes");
            let net = Network::from_model(&m).expect("HE-friendly");
            assert_eq!(net.depth(), 5);
            for seed in 0..3 {
                let x = image(seed);
                let want = m
                    .forward(&x.iter().map(|&v| v as f32).collect::<Vec<_>>())
                    .expect("valid input");
                let got = net.forward(&x);
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - f64::from(*w)).abs() <= 1e-4 * (1.0 + w.abs() as f64),
                        "{arch}: {g} vs {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn relu_models_are_refused() {
        let m = model(Architecture::SmallCnn, 0);
        let e = Network::from_model(&m).expect_err("ReLU");
        assert!(e.to_string().contains("ReLU"), "{e}");
    }

    #[test]
    fn im2col_pixels_follow_the_convolution() {
        let c = Conv {
            input: [1, 5, 5],
            out_channels: 1,
            kernel: 3,
            stride: 2,
            padding: 1,
            weight: vec![0.0; 9],
            bias: vec![0.0],
        };
        assert_eq!(c.out_hw(), (3, 3));
        // Window 0 starts at (-1, -1): its first row and column are padding.
        assert_eq!(c.pixel(0, 0), None);
        assert_eq!(c.pixel(0, 4), Some(0));
        // Window 4 (centre) covers rows 1..=3, columns 1..=3.
        assert_eq!(c.pixel(4, 0), Some(6));
        assert_eq!(c.pixel(4, 8), Some(18));
        // Window 8 (bottom right) covers rows 3..=5: its last row is padding.
        assert_eq!(c.pixel(8, 8), None);
    }
}
