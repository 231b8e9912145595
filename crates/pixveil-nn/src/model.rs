//! Models: a layer list with PyTorch-named parameters, per-sample forward and backward.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Error, Result};

/// Number of output classes of every model (the MNIST family and CIFAR-10).
pub const NUM_CLASSES: usize = 10;

/// A named architecture; the name is stored in checkpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Architecture {
    /// The TenSEAL tutorial CNN for 28×28×1 inputs: conv 1→4 (7×7, stride 3), `x²`,
    /// fc 256→64, `x²`, fc 64→10. Parameter names follow the tutorial's PyTorch module
    /// (`conv1`, `fc1`, `fc2`).
    TensealCnn,
    /// A wider HE-friendly CNN for 28×28×1 inputs (polynomial activations only):
    /// conv 1→8 (5×5, stride 2), `x²`, fc 1152→128, `x²`, fc 128→10. Parameter names
    /// `conv1`, `fc1`, `fc2`.
    HeCnn,
}

impl Architecture {
    /// Every architecture.
    pub const ALL: [Architecture; 2] = [Architecture::TensealCnn, Architecture::HeCnn];

    /// The name used on the command line and in checkpoints.
    pub const fn name(self) -> &'static str {
        match self {
            Architecture::TensealCnn => "tenseal-cnn",
            Architecture::HeCnn => "he-cnn",
        }
    }

    /// Parses [`Architecture::name`].
    ///
    /// # Errors
    /// [`Error::UnknownArchitecture`] for any other string.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| Error::UnknownArchitecture(name.to_owned()))
    }

    /// Input shape as `[channels, height, width]`.
    pub const fn input_shape(self) -> [usize; 3] {
        match self {
            Architecture::TensealCnn | Architecture::HeCnn => [1, 28, 28],
        }
    }

    fn layers(self) -> Vec<Layer> {
        // (conv channels, kernel, stride, conv output side, hidden width)
        let (ch, k, s, side, hidden) = match self {
            Architecture::TensealCnn => (4, 7, 3, 8, 64),
            Architecture::HeCnn => (8, 5, 2, 12, 128),
        };
        vec![
            Layer::Conv2d {
                name: "conv1".into(),
                in_channels: 1,
                out_channels: ch,
                kernel: k,
                stride: s,
            },
            Layer::Square,
            Layer::Linear {
                name: "fc1".into(),
                inputs: ch * side * side,
                outputs: hidden,
            },
            Layer::Square,
            Layer::Linear {
                name: "fc2".into(),
                inputs: hidden,
                outputs: NUM_CLASSES,
            },
        ]
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One layer. Activations are flattened in `CHW` order between layers, as PyTorch's
/// `view(-1, n)` does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layer {
    /// 2-D convolution without padding; parameters `{name}.weight` `[out, in, k, k]`
    /// and `{name}.bias` `[out]`.
    Conv2d {
        /// Parameter prefix.
        name: String,
        /// Input channels.
        in_channels: usize,
        /// Output channels.
        out_channels: usize,
        /// Square kernel side.
        kernel: usize,
        /// Stride in both directions.
        stride: usize,
    },
    /// Fully connected layer; parameters `{name}.weight` `[out, in]` and
    /// `{name}.bias` `[out]`.
    Linear {
        /// Parameter prefix.
        name: String,
        /// Input features.
        inputs: usize,
        /// Output features.
        outputs: usize,
    },
    /// Element-wise `x²` (the HE-friendly activation).
    Square,
}

/// A named `f32` parameter tensor, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// PyTorch state-dict name, e.g. `conv1.weight`.
    pub name: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values, `shape.iter().product()` of them.
    pub value: Vec<f32>,
}

/// A sequential model.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    arch: Architecture,
    layers: Vec<Layer>,
    /// `dims[i]` is the `[c, h, w]` shape of the input of layer `i`; the last entry is
    /// the output (`[10, 1, 1]`).
    dims: Vec<[usize; 3]>,
    /// Index of each layer's weight in `params` (bias follows it).
    param_index: Vec<usize>,
    params: Vec<Param>,
}

impl Model {
    /// A freshly initialised model: weights and biases uniform in
    /// `±1/√fan_in`, as PyTorch's default initialisation, from `seed`.
    pub fn new(arch: Architecture, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let shapes = Self::param_shapes(arch);
        let params = shapes
            .into_iter()
            .map(|(name, shape, fan_in)| {
                let bound = 1.0 / (fan_in as f32).sqrt();
                let n = shape.iter().product();
                let value = (0..n).map(|_| rng.random_range(-bound..bound)).collect();
                Param { name, shape, value }
            })
            .collect();
        Self::build(arch, params)
    }

    /// A model from loaded parameters, in [`Model::params`] order.
    ///
    /// # Errors
    /// [`Error::Shape`] if the names, shapes or value counts differ from `arch`'s.
    pub fn from_params(arch: Architecture, params: Vec<Param>) -> Result<Self> {
        let expected = Self::param_shapes(arch);
        if expected.len() != params.len() {
            return Err(Error::Shape(format!(
                "{arch} has {} parameter tensors, got {}",
                expected.len(),
                params.len()
            )));
        }
        for ((name, shape, _), p) in expected.iter().zip(&params) {
            if *name != p.name
                || *shape != p.shape
                || p.value.len() != shape.iter().product::<usize>()
            {
                return Err(Error::Shape(format!(
                    "{arch}: expected {name} {shape:?}, got {} {:?} ({} values)",
                    p.name,
                    p.shape,
                    p.value.len()
                )));
            }
        }
        Ok(Self::build(arch, params))
    }

    /// `(name, shape, fan_in)` of every parameter tensor of `arch`, in order.
    pub(crate) fn param_shapes(arch: Architecture) -> Vec<(String, Vec<usize>, usize)> {
        let mut out = Vec::new();
        for layer in arch.layers() {
            match layer {
                Layer::Conv2d {
                    name,
                    in_channels,
                    out_channels,
                    kernel,
                    ..
                } => {
                    let fan_in = in_channels * kernel * kernel;
                    out.push((
                        format!("{name}.weight"),
                        vec![out_channels, in_channels, kernel, kernel],
                        fan_in,
                    ));
                    out.push((format!("{name}.bias"), vec![out_channels], fan_in));
                }
                Layer::Linear {
                    name,
                    inputs,
                    outputs,
                } => {
                    out.push((format!("{name}.weight"), vec![outputs, inputs], inputs));
                    out.push((format!("{name}.bias"), vec![outputs], inputs));
                }
                Layer::Square => {}
            }
        }
        out
    }

    fn build(arch: Architecture, params: Vec<Param>) -> Self {
        let layers = arch.layers();
        let mut dims = vec![arch.input_shape()];
        let mut param_index = Vec::with_capacity(layers.len());
        let mut next = 0;
        for layer in &layers {
            let [c, h, w] = dims[dims.len() - 1];
            param_index.push(next);
            let out = match layer {
                Layer::Conv2d {
                    out_channels,
                    kernel,
                    stride,
                    ..
                } => {
                    next += 2;
                    [
                        *out_channels,
                        (h - kernel) / stride + 1,
                        (w - kernel) / stride + 1,
                    ]
                }
                Layer::Linear { outputs, .. } => {
                    next += 2;
                    [*outputs, 1, 1]
                }
                Layer::Square => [c, h, w],
            };
            dims.push(out);
        }
        Self {
            arch,
            layers,
            dims,
            param_index,
            params,
        }
    }

    /// The architecture.
    pub fn architecture(&self) -> Architecture {
        self.arch
    }

    /// Input shape `[channels, height, width]`.
    pub fn input_shape(&self) -> [usize; 3] {
        self.arch.input_shape()
    }

    /// Number of input values per image.
    pub fn input_len(&self) -> usize {
        self.input_shape().iter().product()
    }

    /// The layers.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Parameter tensors, in state-dict order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// Mutable parameter values (shapes stay fixed).
    pub fn params_mut(&mut self) -> impl Iterator<Item = &mut [f32]> {
        self.params.iter_mut().map(|p| p.value.as_mut_slice())
    }

    /// Total number of scalar parameters.
    pub fn num_params(&self) -> usize {
        self.params.iter().map(|p| p.value.len()).sum()
    }

    /// Logits of one image given as `CHW` `f32` values.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x.len() != self.input_len()`.
    pub fn forward(&self, x: &[f32]) -> Result<Vec<f32>> {
        self.check_input(x)?;
        let mut acts = self.forward_cached(x);
        Ok(acts.pop().unwrap_or_default())
    }

    /// Index of the largest logit of one image.
    ///
    /// # Errors
    /// As [`Model::forward`].
    pub fn predict(&self, x: &[f32]) -> Result<usize> {
        Ok(argmax(&self.forward(x)?))
    }

    pub(crate) fn check_input(&self, x: &[f32]) -> Result<()> {
        if x.len() == self.input_len() {
            Ok(())
        } else {
            Err(Error::Shape(format!(
                "{} expects {} input values ({:?}), got {}",
                self.arch,
                self.input_len(),
                self.input_shape(),
                x.len()
            )))
        }
    }

    /// All activations: `acts[0]` is `x`, `acts[i + 1]` the output of layer `i`.
    /// `x` must have `input_len` values.
    pub(crate) fn forward_cached(&self, x: &[f32]) -> Vec<Vec<f32>> {
        let mut acts = Vec::with_capacity(self.layers.len() + 1);
        acts.push(x.to_vec());
        for (i, layer) in self.layers.iter().enumerate() {
            let input = &acts[i];
            let [c, h, w] = self.dims[i];
            let [oc, oh, ow] = self.dims[i + 1];
            let p = self.param_index[i];
            let y = match layer {
                Layer::Conv2d { kernel, stride, .. } => {
                    let (k, s) = (*kernel, *stride);
                    let wt = &self.params[p].value;
                    let b = &self.params[p + 1].value;
                    let mut y = vec![0.0f32; oc * oh * ow];
                    for o in 0..oc {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let mut sum = b[o];
                                for ci in 0..c {
                                    for ky in 0..k {
                                        let xs = (ci * h + oy * s + ky) * w + ox * s;
                                        let ws = ((o * c + ci) * k + ky) * k;
                                        sum += dot(&input[xs..xs + k], &wt[ws..ws + k]);
                                    }
                                }
                                y[(o * oh + oy) * ow + ox] = sum;
                            }
                        }
                    }
                    y
                }
                Layer::Linear { inputs, .. } => {
                    let wt = &self.params[p].value;
                    let b = &self.params[p + 1].value;
                    (0..oc)
                        .map(|o| b[o] + dot(&wt[o * inputs..(o + 1) * inputs], input))
                        .collect()
                }
                Layer::Square => input.iter().map(|v| v * v).collect(),
            };
            acts.push(y);
        }
        acts
    }

    /// Accumulates the parameter gradients of one sample into `grads` (same layout as
    /// `params`), given its activations and the gradient of the loss w.r.t. the output.
    pub(crate) fn backward(&self, acts: &[Vec<f32>], dout: Vec<f32>, grads: &mut [Vec<f32>]) {
        let mut dy = dout;
        for (i, layer) in self.layers.iter().enumerate().rev() {
            let x = &acts[i];
            let need_dx = i > 0;
            let [c, h, w] = self.dims[i];
            let [oc, oh, ow] = self.dims[i + 1];
            let p = self.param_index[i];
            let mut dx = if need_dx {
                vec![0.0f32; x.len()]
            } else {
                Vec::new()
            };
            match layer {
                Layer::Conv2d { kernel, stride, .. } => {
                    let (k, s) = (*kernel, *stride);
                    let wt = &self.params[p].value;
                    let (gw, rest) = grads[p..].split_at_mut(1);
                    let (gw, gb) = (&mut gw[0], &mut rest[0]);
                    for o in 0..oc {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let g = dy[(o * oh + oy) * ow + ox];
                                gb[o] += g;
                                for ci in 0..c {
                                    for ky in 0..k {
                                        let xs = (ci * h + oy * s + ky) * w + ox * s;
                                        let ws = ((o * c + ci) * k + ky) * k;
                                        axpy(g, &x[xs..xs + k], &mut gw[ws..ws + k]);
                                        if need_dx {
                                            axpy(g, &wt[ws..ws + k], &mut dx[xs..xs + k]);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                Layer::Linear { inputs, .. } => {
                    let wt = &self.params[p].value;
                    let (gw, rest) = grads[p..].split_at_mut(1);
                    let (gw, gb) = (&mut gw[0], &mut rest[0]);
                    for o in 0..oc {
                        let g = dy[o];
                        gb[o] += g;
                        let row = o * inputs..(o + 1) * inputs;
                        axpy(g, x, &mut gw[row.clone()]);
                        if need_dx {
                            axpy(g, &wt[row], &mut dx);
                        }
                    }
                }
                Layer::Square => {
                    if need_dx {
                        for ((d, xv), g) in dx.iter_mut().zip(x).zip(&dy) {
                            *d = 2.0 * xv * g;
                        }
                    }
                }
            }
            dy = dx;
        }
    }

    /// Zeroed gradient buffers in `params` layout.
    pub(crate) fn zero_grads(&self) -> Vec<Vec<f32>> {
        self.params
            .iter()
            .map(|p| vec![0.0; p.value.len()])
            .collect()
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yv, xv) in y.iter_mut().zip(x) {
        *yv += alpha * xv;
    }
}

/// Index of the largest value (the first one on ties; 0 for an empty slice).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Loss `Σ logits · r` for a fixed `r`, so `d loss / d logits = r`.
    fn loss(m: &Model, x: &[f32], r: &[f32]) -> f64 {
        m.forward(x)
            .unwrap()
            .iter()
            .zip(r)
            .map(|(a, b)| f64::from(a * b))
            .sum()
    }

    #[test]
    fn backward_matches_finite_differences() {
        let mut m = Model::new(Architecture::TensealCnn, 7);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x: Vec<f32> = (0..m.input_len())
            .map(|_| rng.random_range(0.0..1.0))
            .collect();
        let r: Vec<f32> = (0..NUM_CLASSES)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let mut grads = m.zero_grads();
        m.backward(&m.forward_cached(&x), r.clone(), &mut grads);
        let h = 1e-2f32;
        for (pi, idx) in [
            (0, 5),
            (0, 150),
            (1, 2),
            (2, 1000),
            (2, 16_000),
            (3, 63),
            (4, 77),
            (5, 9),
        ] {
            let name = m.params[pi].name.clone();
            let orig = m.params[pi].value[idx];
            m.params[pi].value[idx] = orig + h;
            let up = loss(&m, &x, &r);
            m.params[pi].value[idx] = orig - h;
            let down = loss(&m, &x, &r);
            m.params[pi].value[idx] = orig;
            let numeric = (up - down) / (2.0 * f64::from(h));
            let analytic = f64::from(grads[pi][idx]);
            assert!(
                (numeric - analytic).abs() <= 1e-2 * (1.0 + analytic.abs()),
                "{name}[{idx}]: numeric {numeric} vs analytic {analytic}"
            );
        }
    }

    #[test]
    fn shapes_and_names_follow_pytorch() {
        let m = Model::new(Architecture::TensealCnn, 0);
        let got: Vec<(&str, &[usize])> = m
            .params()
            .iter()
            .map(|p| (p.name.as_str(), p.shape.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                ("conv1.weight", &[4, 1, 7, 7][..]),
                ("conv1.bias", &[4][..]),
                ("fc1.weight", &[64, 256][..]),
                ("fc1.bias", &[64][..]),
                ("fc2.weight", &[10, 64][..]),
                ("fc2.bias", &[10][..]),
            ]
        );
        assert_eq!(m.num_params(), 4 * 49 + 4 + 64 * 256 + 64 + 640 + 10);
        assert_eq!(m.dims[1], [4, 8, 8]);
        assert!(m.forward(&[0.0; 10]).is_err());
        assert_eq!(Model::new(Architecture::TensealCnn, 0), m);
        assert_ne!(Model::new(Architecture::TensealCnn, 1), m);
        assert_eq!(
            Architecture::from_name("tenseal-cnn").unwrap(),
            Architecture::TensealCnn
        );
        assert!(Architecture::from_name("resnet").is_err());
        let he = Model::new(Architecture::HeCnn, 0);
        assert_eq!(he.dims[1], [8, 12, 12]);
        assert_eq!(he.params()[2].shape, [128, 1152]);
        assert_eq!(
            Architecture::from_name("he-cnn").unwrap(),
            Architecture::HeCnn
        );
    }
}
