//! Architectures and models: a layer graph with PyTorch-named parameters and buffers.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::layer::{backward_seq, forward_seq, Buffers, Layer, Store};
use crate::tensor::Tensor;
use crate::{Error, Result};

/// Default number of output classes (the MNIST family and CIFAR-10).
pub const NUM_CLASSES: usize = 10;

/// Largest accepted input side and channel count (guards allocations from bad metadata).
const MAX_SIDE: usize = 1024;
const MAX_CHANNELS: usize = 64;
/// Largest accepted ResNet base width.
const MAX_WIDTH: usize = 256;

/// A named architecture; the name is stored in checkpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Architecture {
    /// The TenSEAL tutorial CNN: conv C→4 (7×7, stride 3), `x²`, fc →64, `x²`, fc 64→10
    /// (on 28×28×1: fc 256→64). Names `conv1`, `fc1`, `fc2`, as the tutorial's module.
    TensealCnn,
    /// A stronger HE-friendly CNN (polynomial activations only, CryptoNets-like): conv
    /// C→8 (5×5, stride 2) + batch norm, `x²`, fc →128 + batch norm, `x²`, fc 128→10
    /// (on 28×28×1: fc 1152→128; 149 082 parameters once the batch norms are folded
    /// into the preceding linear layers for encrypted inference; multiplicative depth 5).
    HeCnn,
    /// A standard small CNN: conv C→32 3×3 pad 1, ReLU, max-pool 2, conv 32→64 3×3
    /// pad 1, ReLU, max-pool 2, fc →128, ReLU, fc 128→10.
    SmallCnn,
    /// CIFAR-style ResNet-18 (3×3 stem, no max-pool, four stages of two basic blocks,
    /// global average pool, fc), as in the mixup / kuangliu code paper A cites; base width
    /// configurable ([`ModelConfig::width`], 64 = standard).
    Resnet18,
}

impl Architecture {
    /// Every architecture.
    pub const ALL: [Architecture; 4] = [
        Architecture::TensealCnn,
        Architecture::HeCnn,
        Architecture::SmallCnn,
        Architecture::Resnet18,
    ];

    /// The name used on the command line and in checkpoints.
    pub const fn name(self) -> &'static str {
        match self {
            Architecture::TensealCnn => "tenseal-cnn",
            Architecture::HeCnn => "he-cnn",
            Architecture::SmallCnn => "small-cnn",
            Architecture::Resnet18 => "resnet18",
        }
    }

    /// Parses [`Architecture::name`].
    ///
    /// # Errors
    /// [`Error::UnknownArchitecture`].
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| Error::UnknownArchitecture(name.to_owned()))
    }

    /// Whether every activation is a polynomial (the model can run under CKKS).
    pub const fn he_friendly(self) -> bool {
        matches!(self, Architecture::TensealCnn | Architecture::HeCnn)
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that determines a model's layers and parameter shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelConfig {
    /// The architecture.
    pub architecture: Architecture,
    /// Input `[channels, height, width]`.
    pub input_shape: [usize; 3],
    /// Paper A's adaptation network in front: two 1×1 convolutions C→8→32, each followed
    /// by batch norm and ReLU (our choice; the paper leaves it open). Parameter prefix
    /// `adapt` (`adapt.0` conv, `adapt.1` BN, `adapt.3` conv, `adapt.4` BN, as an
    /// `nn.Sequential`).
    pub adaptation: bool,
    /// ResNet base width (channels of the first stage; 64 = standard ResNet-18). Ignored
    /// by the other architectures.
    pub width: usize,
    /// Output classes.
    pub classes: usize,
}

impl ModelConfig {
    /// A configuration with the defaults: no adaptation network, width 64, 10 classes.
    pub fn new(architecture: Architecture, input_shape: [usize; 3]) -> Self {
        Self {
            architecture,
            input_shape,
            adaptation: false,
            width: 64,
            classes: NUM_CLASSES,
        }
    }
}

/// A named `f32` tensor (parameter or buffer), row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// PyTorch state-dict name, e.g. `conv1.weight`.
    pub name: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values, `shape.iter().product()` of them.
    pub value: Vec<f32>,
}

/// Builds a layer list and allocates named tensors, PyTorch default initialisation.
struct Builder {
    /// `None`: tensors are zero-filled (they are about to be overwritten, e.g. by a
    /// checkpoint), so no random numbers are drawn.
    rng: Option<ChaCha8Rng>,
    params: Vec<Param>,
    buffers: Vec<Param>,
    shape: [usize; 3],
}

impl Builder {
    fn param(&mut self, name: String, shape: Vec<usize>, init: Init) -> usize {
        let n = shape.iter().product();
        let value = match (init, self.rng.as_mut()) {
            (Init::Uniform(bound), Some(rng)) => {
                (0..n).map(|_| rng.random_range(-bound..bound)).collect()
            }
            (Init::Uniform(_), None) => vec![0.0; n],
            (Init::Const(v), _) => vec![v; n],
        };
        self.params.push(Param { name, shape, value });
        self.params.len() - 1
    }

    /// Checks that a window fits the current input.
    fn check_window(&self, what: &str, kernel: usize, stride: usize, padding: usize) -> Result<()> {
        let [_, h, w] = self.shape;
        if kernel == 0 || stride == 0 || h + 2 * padding < kernel || w + 2 * padding < kernel {
            return Err(Error::Shape(format!(
                "{what}: a {kernel}×{kernel} window (stride {stride}, padding {padding}) does not fit a {h}×{w} input"
            )));
        }
        Ok(())
    }

    fn conv(
        &mut self,
        name: &str,
        out: usize,
        k: usize,
        stride: usize,
        pad: usize,
        bias: bool,
    ) -> Result<Layer> {
        self.check_window(name, k, stride, pad)?;
        let c = self.shape[0];
        let bound = 1.0 / ((c * k * k) as f32).sqrt();
        let weight = self.param(
            format!("{name}.weight"),
            vec![out, c, k, k],
            Init::Uniform(bound),
        );
        let bias =
            bias.then(|| self.param(format!("{name}.bias"), vec![out], Init::Uniform(bound)));
        Ok(self.push(Layer::Conv2d {
            weight,
            bias,
            in_channels: c,
            out_channels: out,
            kernel: k,
            stride,
            padding: pad,
        }))
    }

    fn bn(&mut self, name: &str) -> Layer {
        let c = self.shape[0];
        let weight = self.param(format!("{name}.weight"), vec![c], Init::Const(1.0));
        let bias = self.param(format!("{name}.bias"), vec![c], Init::Const(0.0));
        let running = self.buffers.len();
        for (suffix, shape, v) in [
            ("running_mean", vec![c], 0.0),
            ("running_var", vec![c], 1.0),
            ("num_batches_tracked", vec![], 0.0),
        ] {
            let n = shape.iter().product();
            self.buffers.push(Param {
                name: format!("{name}.{suffix}"),
                shape,
                value: vec![v; n],
            });
        }
        Layer::BatchNorm2d {
            weight,
            bias,
            running,
            channels: c,
        }
    }

    fn linear(&mut self, name: &str, out: usize) -> Layer {
        let inputs: usize = self.shape.iter().product();
        let bound = 1.0 / (inputs as f32).sqrt();
        let weight = self.param(
            format!("{name}.weight"),
            vec![out, inputs],
            Init::Uniform(bound),
        );
        let bias = self.param(format!("{name}.bias"), vec![out], Init::Uniform(bound));
        self.shape = [out, 1, 1];
        Layer::Linear {
            weight,
            bias,
            inputs,
            outputs: out,
        }
    }

    fn pool(&mut self, k: usize) -> Result<Layer> {
        self.check_window("max-pool", k, k, 0)?;
        Ok(self.push(Layer::MaxPool2d {
            kernel: k,
            stride: k,
        }))
    }

    /// Advances the tracked shape past `layer` and returns it.
    fn push(&mut self, layer: Layer) -> Layer {
        self.shape = layer.output_shape(self.shape);
        layer
    }

    /// A CIFAR ResNet basic block `{name}` with `planes` output channels.
    fn basic_block(&mut self, name: &str, planes: usize, stride: usize) -> Result<Layer> {
        let input = self.shape;
        let body = vec![
            self.conv(&format!("{name}.conv1"), planes, 3, stride, 1, false)?,
            self.bn(&format!("{name}.bn1")),
            Layer::Relu,
            self.conv(&format!("{name}.conv2"), planes, 3, 1, 1, false)?,
            self.bn(&format!("{name}.bn2")),
        ];
        let out = self.shape;
        let shortcut = if stride != 1 || input[0] != planes {
            self.shape = input;
            let s = vec![
                self.conv(&format!("{name}.shortcut.0"), planes, 1, stride, 0, false)?,
                self.bn(&format!("{name}.shortcut.1")),
            ];
            debug_assert_eq!(self.shape, out);
            s
        } else {
            Vec::new()
        };
        self.shape = out;
        Ok(Layer::Residual { body, shortcut })
    }
}

#[derive(Clone, Copy)]
enum Init {
    Uniform(f32),
    Const(f32),
}

/// A model: layers, parameters (trainable) and buffers (batch-norm statistics).
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    config: ModelConfig,
    layers: Vec<Layer>,
    params: Vec<Param>,
    buffers: Vec<Param>,
}

impl Model {
    /// A freshly initialised model from `seed`: weights and biases uniform in
    /// `±1/√fan_in` (PyTorch's default), batch norm γ = 1, β = 0.
    ///
    /// # Errors
    /// [`Error::Shape`] if the input shape is empty or too large, a window does not fit
    /// (e.g. `tenseal-cnn` on a 4×4 input), or the width / class count is 0 or too large.
    pub fn new(config: &ModelConfig, seed: u64) -> Result<Self> {
        Self::build(config, Some(ChaCha8Rng::seed_from_u64(seed)))
    }

    /// Layers and tensors of `config`, initialised from `rng` (zero without one).
    fn build(config: &ModelConfig, rng: Option<ChaCha8Rng>) -> Result<Self> {
        let [c, h, w] = config.input_shape;
        if c == 0 || h == 0 || w == 0 || c > MAX_CHANNELS || h > MAX_SIDE || w > MAX_SIDE {
            return Err(Error::Shape(format!(
                "input shape {:?} (C,H,W) out of range",
                config.input_shape
            )));
        }
        if config.classes < 2 || config.classes > 1000 {
            return Err(Error::Shape(format!(
                "{} classes out of range",
                config.classes
            )));
        }
        if config.architecture == Architecture::Resnet18
            && (config.width == 0 || config.width > MAX_WIDTH)
        {
            return Err(Error::Shape(format!(
                "ResNet width {} out of range 1..={MAX_WIDTH}",
                config.width
            )));
        }
        let mut b = Builder {
            rng,
            params: Vec::new(),
            buffers: Vec::new(),
            shape: config.input_shape,
        };
        let mut layers = Vec::new();
        if config.adaptation {
            layers.extend([
                b.conv("adapt.0", 8, 1, 1, 0, false)?,
                b.bn("adapt.1"),
                Layer::Relu,
                b.conv("adapt.3", 32, 1, 1, 0, false)?,
                b.bn("adapt.4"),
                Layer::Relu,
            ]);
        }
        let classes = config.classes;
        match config.architecture {
            Architecture::TensealCnn => {
                layers.push(b.conv("conv1", 4, 7, 3, 0, true)?);
                layers.push(Layer::Square);
                layers.push(b.linear("fc1", 64));
                layers.push(Layer::Square);
                layers.push(b.linear("fc2", classes));
            }
            Architecture::HeCnn => {
                layers.push(b.conv("conv1", 8, 5, 2, 0, true)?);
                layers.push(b.bn("bn1"));
                layers.push(Layer::Square);
                layers.push(b.linear("fc1", 128));
                layers.push(b.bn("bn2"));
                layers.push(Layer::Square);
                layers.push(b.linear("fc2", classes));
            }
            Architecture::SmallCnn => {
                layers.push(b.conv("conv1", 32, 3, 1, 1, true)?);
                layers.push(Layer::Relu);
                layers.push(b.pool(2)?);
                layers.push(b.conv("conv2", 64, 3, 1, 1, true)?);
                layers.push(Layer::Relu);
                layers.push(b.pool(2)?);
                layers.push(b.linear("fc1", 128));
                layers.push(Layer::Relu);
                layers.push(b.linear("fc2", classes));
            }
            Architecture::Resnet18 => {
                let w = config.width;
                layers.push(b.conv("conv1", w, 3, 1, 1, false)?);
                layers.push(b.bn("bn1"));
                layers.push(Layer::Relu);
                for (stage, (planes, stride)) in [(w, 1), (2 * w, 2), (4 * w, 2), (8 * w, 2)]
                    .into_iter()
                    .enumerate()
                {
                    for block in 0..2 {
                        let s = if block == 0 { stride } else { 1 };
                        layers.push(b.basic_block(
                            &format!("layer{}.{block}", stage + 1),
                            planes,
                            s,
                        )?);
                        layers.push(Layer::Relu);
                    }
                }
                layers.push(b.push(Layer::GlobalAvgPool));
                layers.push(b.linear("linear", classes));
            }
        }
        Ok(Self {
            config: *config,
            layers,
            params: b.params,
            buffers: b.buffers,
        })
    }

    /// A model with `config`'s layers and the given tensors (e.g. from a checkpoint),
    /// matched by name.
    ///
    /// # Errors
    /// [`Error::Shape`] if a tensor is extra or has another shape;
    /// [`Error::MissingTensor`]; [`Error::NonFiniteTensor`].
    pub fn from_tensors(config: &ModelConfig, mut tensors: Vec<Param>) -> Result<Self> {
        let mut model = Self::build(config, None)?;
        let expected = model.params.len() + model.buffers.len();
        if tensors.len() != expected {
            return Err(Error::Shape(format!(
                "{} has {expected} tensors, got {}",
                config.architecture,
                tensors.len()
            )));
        }
        for slot in model.params.iter_mut().chain(model.buffers.iter_mut()) {
            let pos = tensors
                .iter()
                .position(|t| t.name == slot.name)
                .ok_or_else(|| Error::MissingTensor {
                    name: slot.name.clone(),
                })?;
            let t = tensors.swap_remove(pos);
            if t.shape != slot.shape || t.value.len() != slot.value.len() {
                return Err(Error::Shape(format!(
                    "{}: expected {:?}, got {:?} ({} values)",
                    slot.name,
                    slot.shape,
                    t.shape,
                    t.value.len()
                )));
            }
            if t.value.iter().any(|v| !v.is_finite()) {
                return Err(Error::NonFiniteTensor {
                    name: slot.name.clone(),
                });
            }
            slot.value = t.value;
        }
        Ok(model)
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The architecture.
    pub fn architecture(&self) -> Architecture {
        self.config.architecture
    }

    /// Input shape `[channels, height, width]`.
    pub fn input_shape(&self) -> [usize; 3] {
        self.config.input_shape
    }

    /// Number of input values per image.
    pub fn input_len(&self) -> usize {
        self.input_shape().iter().product()
    }

    /// The layers (parameter fields index [`Model::params`], buffer fields
    /// [`Model::buffers`]).
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Trainable tensors, in construction (state-dict) order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// Batch-norm buffers: `running_mean`, `running_var`, `num_batches_tracked` per layer.
    pub fn buffers(&self) -> &[Param] {
        &self.buffers
    }

    /// Mutable parameter values (shapes stay fixed).
    pub fn params_mut(&mut self) -> impl Iterator<Item = &mut [f32]> {
        self.params.iter_mut().map(|p| p.value.as_mut_slice())
    }

    /// Mutable buffers (for other backends writing back batch-norm statistics).
    #[cfg_attr(not(feature = "tch"), allow(dead_code))]
    pub(crate) fn buffers_mut(&mut self) -> &mut [Param] {
        &mut self.buffers
    }

    /// Total number of trainable scalars.
    pub fn num_params(&self) -> usize {
        self.params.iter().map(|p| p.value.len()).sum()
    }

    /// Zeroed gradient buffers in [`Model::params`] layout.
    pub fn zero_grads(&self) -> Vec<Vec<f32>> {
        self.params
            .iter()
            .map(|p| vec![0.0; p.value.len()])
            .collect()
    }

    fn check_batch(&self, x: &Tensor) -> Result<()> {
        if x.sample_shape() != self.input_shape() || x.data.len() != x.n * self.input_len() {
            return Err(Error::Shape(format!(
                "{} expects inputs of shape {:?} (C,H,W), got {:?}",
                self.architecture(),
                self.input_shape(),
                x.sample_shape()
            )));
        }
        Ok(())
    }

    /// Logits `[n, classes, 1, 1]` of a batch in evaluation mode (batch norm uses its
    /// running statistics).
    ///
    /// # Errors
    /// [`Error::Shape`] if the batch does not have the model's input shape.
    pub fn forward_batch(&self, x: Tensor) -> Result<Tensor> {
        self.check_batch(&x)?;
        let mut store = Store {
            params: &self.params,
            buffers: Buffers::Eval(&self.buffers),
        };
        Ok(forward_seq(&self.layers, x, &mut store).0)
    }

    /// Logits of one image given as `CHW` `f32` values.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x.len() != self.input_len()`.
    pub fn forward(&self, x: &[f32]) -> Result<Vec<f32>> {
        if x.len() != self.input_len() {
            return Err(Error::Shape(format!(
                "{} expects {} input values ({:?}), got {}",
                self.architecture(),
                self.input_len(),
                self.input_shape(),
                x.len()
            )));
        }
        Ok(self
            .forward_batch(Tensor::from_vec(1, self.input_shape(), x.to_vec()))?
            .into_data())
    }

    /// Training-mode forward and backward of one batch: returns the logits and
    /// accumulates `d loss / d params` into `grads` given `dlogits(logits) → d loss / d
    /// logits`. Batch-norm running statistics are updated.
    pub(crate) fn forward_backward(
        &mut self,
        x: Tensor,
        grads: &mut [Vec<f32>],
        dlogits: &mut dyn FnMut(&Tensor) -> Tensor,
    ) -> Result<Tensor> {
        self.check_batch(&x)?;
        let (logits, caches) = {
            let mut store = Store {
                params: &self.params,
                buffers: Buffers::Train(&mut self.buffers),
            };
            forward_seq(&self.layers, x, &mut store)
        };
        let dy = dlogits(&logits);
        backward_seq(&self.layers, caches, dy, &self.params, grads, false);
        Ok(logits)
    }
}

/// Index of the largest value (first on ties; 0 for an empty slice).
pub fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| {
            if x > bv {
                (i, x)
            } else {
                (bi, bv)
            }
        })
        .0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Training-mode loss `Σ logits · r` and its gradients.
    fn loss_and_grads(m: &mut Model, x: &Tensor, r: &[f32]) -> (f64, Vec<Vec<f32>>) {
        let mut grads = m.zero_grads();
        let logits = m
            .forward_backward(x.clone(), &mut grads, &mut |l| {
                Tensor::from_vec(l.n, l.sample_shape(), r.to_vec())
            })
            .unwrap();
        let loss = logits
            .data
            .iter()
            .zip(r)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        (loss, grads)
    }

    /// Replaces every ReLU by `x²`: a smooth network with the same structure, so finite
    /// differences are not thrown off by ReLU kinks in deep models.
    fn smooth(layers: &mut [Layer]) {
        for l in layers {
            match l {
                Layer::Relu => *l = Layer::Square,
                Layer::Residual { body, shortcut } => {
                    smooth(body);
                    smooth(shortcut);
                }
                _ => {}
            }
        }
    }

    /// Central finite differences on a spread of entries of every parameter tensor.
    fn gradcheck(config: &ModelConfig, n: usize, h: f32, tol: f64) {
        gradcheck_model(Model::new(config, 7).unwrap(), n, h, tol);
    }

    fn gradcheck_model(mut m: Model, n: usize, h: f32, tol: f64) {
        let config = m.config;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x = Tensor::from_vec(
            n,
            config.input_shape,
            (0..n * m.input_len())
                .map(|_| rng.random_range(0.0..1.0))
                .collect(),
        );
        let r: Vec<f32> = (0..n * config.classes)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let (_, grads) = loss_and_grads(&mut m, &x, &r);
        let mut checked = 0;
        #[allow(clippy::needless_range_loop)] // m.params is mutated inside.
        for pi in 0..m.params.len() {
            let len = m.params[pi].value.len();
            // Absolute slack: f32 rounding of a deep network's loss, relative to this
            // tensor's gradient scale.
            let scale = grads[pi].iter().fold(0.0f32, |a, g| a.max(g.abs()));
            let atol = 1e-2 * f64::from(scale);
            for idx in [0, len / 3, len / 2, len - 1] {
                let orig = m.params[pi].value[idx];
                m.params[pi].value[idx] = orig + h;
                let (up, _) = loss_and_grads(&mut m, &x, &r);
                m.params[pi].value[idx] = orig - h;
                let (down, _) = loss_and_grads(&mut m, &x, &r);
                m.params[pi].value[idx] = orig;
                let numeric = (up - down) / (2.0 * f64::from(h));
                let analytic = f64::from(grads[pi][idx]);
                assert!(
                    (numeric - analytic).abs()
                        <= tol * (1.0 + analytic.abs().max(numeric.abs())) + atol,
                    "{:?} {}[{idx}]: numeric {numeric} vs analytic {analytic}",
                    m.config.architecture,
                    m.params[pi].name
                );
                checked += 1;
            }
        }
        assert!(checked >= 4 * m.params.len());
    }

    #[test]
    fn backward_matches_finite_differences_for_every_architecture() {
        gradcheck(
            &ModelConfig::new(Architecture::TensealCnn, [1, 28, 28]),
            2,
            1e-2,
            2e-2,
        );
        // Batch norm over fc features: enough samples that batch statistics are not
        // degenerate (with 2 samples every normalised value is ±1).
        gradcheck(
            &ModelConfig::new(Architecture::HeCnn, [1, 16, 16]),
            8,
            1e-3,
            3e-2,
        );
        gradcheck(
            &ModelConfig::new(Architecture::SmallCnn, [3, 8, 8]),
            2,
            1e-3,
            3e-2,
        );
        let mut ad = ModelConfig::new(Architecture::SmallCnn, [3, 8, 8]);
        ad.adaptation = true;
        gradcheck(&ad, 3, 1e-3, 3e-2);
        // The full ResNet's numeric derivatives jump with h (ReLU kinks; they converge to
        // the analytic ones as h shrinks) and a smoothed twin overflows f32 precision, so
        // its building blocks are checked in a shallow smoothed network instead.
        let blocks = ModelConfig::new(Architecture::Resnet18, [3, 8, 8]);
        let mut b = Builder {
            rng: Some(ChaCha8Rng::seed_from_u64(3)),
            params: Vec::new(),
            buffers: Vec::new(),
            shape: blocks.input_shape,
        };
        let mut layers = vec![
            b.conv("conv1", 4, 3, 1, 1, false).unwrap(),
            b.bn("bn1"),
            Layer::Relu,
            b.basic_block("layer1.0", 8, 2).unwrap(),
            Layer::Relu,
            b.basic_block("layer1.1", 8, 1).unwrap(),
            Layer::Relu,
            b.push(Layer::GlobalAvgPool),
        ];
        layers.push(b.linear("linear", 10));
        smooth(&mut layers);
        let m = Model {
            config: blocks,
            layers,
            params: b.params,
            buffers: b.buffers,
        };
        gradcheck_model(m, 3, 1e-3, 2e-2);
        // The adaptation network in front of a (tiny) ResNet-18, with real ReLUs: the
        // 1×1 convolutions and their batch norms.
        let mut adapted = ModelConfig::new(Architecture::Resnet18, [3, 4, 4]);
        adapted.width = 1;
        adapted.adaptation = true;
        gradcheck(&adapted, 4, 3e-4, 5e-2);
    }

    #[test]
    fn shapes_names_and_counts() {
        let t = Model::new(&ModelConfig::new(Architecture::TensealCnn, [1, 28, 28]), 0).unwrap();
        assert_eq!(t.num_params(), 4 * 49 + 4 + 256 * 64 + 64 + 64 * 10 + 10);
        assert_eq!(t.params()[2].name, "fc1.weight");
        assert_eq!(t.params()[2].shape, [64, 256]);
        let he = Model::new(&ModelConfig::new(Architecture::HeCnn, [1, 28, 28]), 0).unwrap();
        assert_eq!(he.params()[4].shape, [128, 1152]);
        assert_eq!(he.params()[4].name, "fc1.weight");
        assert_eq!(he.buffers()[3].name, "bn2.running_mean");
        let s = Model::new(&ModelConfig::new(Architecture::SmallCnn, [3, 32, 32]), 0).unwrap();
        assert_eq!(s.params()[4].shape, [128, 4096]);
        // ResNet-18 at standard width: 11 173 962 parameters (torchvision-CIFAR count).
        let mut c = ModelConfig::new(Architecture::Resnet18, [3, 32, 32]);
        let r = Model::new(&c, 0).unwrap();
        assert_eq!(r.num_params(), 11_173_962);
        assert_eq!(r.buffers().len(), 20 * 3);
        assert!(r
            .params()
            .iter()
            .any(|p| p.name == "layer2.0.shortcut.0.weight"));
        c.adaptation = true;
        let a = Model::new(&c, 0).unwrap();
        assert_eq!(a.params()[0].name, "adapt.0.weight");
        assert_eq!(a.params()[0].shape, [8, 3, 1, 1]);
        let stem = a
            .params()
            .iter()
            .find(|p| p.name == "conv1.weight")
            .unwrap();
        assert_eq!(stem.shape, [64, 32, 3, 3]);
        assert_eq!(
            Architecture::from_name("resnet18").unwrap(),
            Architecture::Resnet18
        );
        assert!(Architecture::from_name("resnet").is_err());
    }

    #[test]
    fn bad_configs_are_errors() {
        let small = ModelConfig::new(Architecture::TensealCnn, [1, 4, 4]);
        assert!(matches!(Model::new(&small, 0), Err(Error::Shape(_))));
        assert!(Model::new(&ModelConfig::new(Architecture::SmallCnn, [0, 8, 8]), 0).is_err());
        let mut wide = ModelConfig::new(Architecture::Resnet18, [3, 32, 32]);
        wide.width = 0;
        assert!(Model::new(&wide, 0).is_err());
        let m = Model::new(&ModelConfig::new(Architecture::TensealCnn, [1, 28, 28]), 0).unwrap();
        assert!(m.forward(&[0.0; 10]).is_err());
        assert_eq!(m.forward(&[0.5; 784]).unwrap().len(), 10);
    }
}
