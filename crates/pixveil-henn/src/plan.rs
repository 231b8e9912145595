//! Compiling a [`Network`] into an HE plan.
//!
//! **Latency mode** (one image per request). The client sends the first convolution's
//! im2col windows, replicated once per output channel: with `V = O·W` outputs (`O` channels,
//! `W` windows) padded to a power of two `n₀`, one ciphertext of `S = N/2` slots holds
//! `g = S/n₀` kernel elements, slot `j·n₀ + o·W + w` carrying pixel `e = t·g + j` of window
//! `w` in ciphertext `t`. The evaluator multiplies each ciphertext by the matching kernel
//! weights, adds them up and folds the `g` groups with `log₂ g` rotations; every slot `s`
//! then holds output `s mod n₀` (the outputs are replicated with period `n₀`).
//!
//! A dense layer `m × n` on a vector replicated with period `n` uses the hybrid diagonal
//! method (Halevi–Shoup): `z = Σ_{i<m'} diag_i ⊙ rot_i(x)` with `m' = m` padded to a power
//! of two and `diag_i[j] = W[j mod m'][(j + i) mod n]`, then `log₂(n/m')` folding rotations
//! leave `y` replicated with period `m'` — the next layer's input layout. The sum is split
//! baby-step/giant-step: `z = Σ_g rot_{gB}(Σ_b rot_{−gB}(diag_{gB+b}) ⊙ rot_b(x))`, with
//! the `B − 1` baby rotations of `x` hoisted (one key-switching decomposition) and the
//! pre-rotated diagonals encoded once, here, at the level where they are used. `x²` is one
//! multiplication and relinearization.
//!
//! **Throughput mode** (CryptoNets): slot `i` of every ciphertext belongs to image `i`, one
//! ciphertext per input pixel; linear layers are scalar linear combinations of whole
//! ciphertexts and `x²` a multiplication: no rotation and no Galois key.
//!
//! **Levels and scales.** Every linear layer and every square consumes one level, from the
//! top level down. Linear weights are encoded at the scale `q_ℓ` of the prime the following
//! rescale drops, so a linear layer leaves the scale unchanged; a square maps `s` to
//! `s²/q_ℓ`. The working scale is the largest for which values up to 2^10 fit every level
//! (`working_scale`); the client encodes the input higher and the first layer's weights
//! lower, which balances fresh encryption noise against weight rounding (`encoding_scale`).
//! The plan tracks every scale exactly (the same `f64` operations as the evaluator) and
//! encodes every bias at the level and scale it is added at. A dense layer's giant steps
//! and folds rotate products before the rescale; the convolution folds after it (one prime
//! fewer; at the working scale their key-switching noise is ≈ 2^-18 of a unit).

use std::sync::Arc;

use pixveil_ckks::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::network::{Conv, ConvGeometry, Dense, HeLayer, Network};
use crate::{Error, Result};

/// Version of [`PlanSpec`].
pub const SPEC_VERSION: u32 = 1;

/// How images are packed into ciphertexts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One image per request: im2col packing, rotations, Galois keys.
    Latency,
    /// One image per slot, up to `N/2` images per ciphertext set: no rotations and only a
    /// relinearization key.
    Throughput,
}

impl Mode {
    /// `latency` or `throughput`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Latency => "latency",
            Mode::Throughput => "throughput",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "latency" => Ok(Mode::Latency),
            "throughput" => Ok(Mode::Throughput),
            other => Err(Error::Mismatch(format!(
                "unknown mode {other:?} (latency or throughput)"
            ))),
        }
    }
}

/// The client's im2col layout of the first convolution (latency mode).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputLayout {
    /// Image `[channels, height, width]`.
    pub image: [usize; 3],
    /// Kernel side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding.
    pub padding: usize,
    /// Output channels `O` (each window is replicated `O` times).
    pub out_channels: usize,
    /// Windows per channel `W`.
    pub windows: usize,
    /// Kernel elements per window `C·k²`.
    pub kernel_len: usize,
    /// `n₀`: `O·W` padded to a power of two; the slot period of the conv output.
    pub period: usize,
    /// Kernel elements per ciphertext `g = (N/2)/n₀`.
    pub groups: usize,
    /// Ciphertexts per image `⌈C·k²/g⌉`.
    pub ciphertexts: usize,
    /// Level the client encrypts at (the parameters' top level).
    pub level: usize,
    /// Scale `Δ` of the input.
    pub scale: f64,
}

impl InputLayout {
    /// The window geometry of the first convolution.
    pub fn geometry(&self) -> ConvGeometry {
        ConvGeometry {
            input: self.image,
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
        }
    }
}

/// Where the scores are in the output ciphertext(s).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputLayout {
    /// Latency mode: class `c` is in slot `c` (and every `period`-th slot after it).
    pub period: usize,
    /// Level of the output.
    pub level: usize,
    /// Scale of the output (both modes).
    pub scale: f64,
}

/// One layer of the plan, for the model card and reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// `conv1`, `square1`, `dense1`, …
    pub name: String,
    /// Level at which the layer starts.
    pub level: usize,
    /// Latency mode: rotations (hoisted baby steps included).
    pub rotations: usize,
    /// Latency mode: ciphertext × plaintext products.
    pub plain_mults: usize,
    /// Latency mode: baby steps × giant steps of a dense layer (`[0, 0]` otherwise).
    pub bsgs: [usize; 2],
    /// Latency mode: slot period of the layer's output.
    pub period: usize,
}

/// A Galois key a plan needs: a rotation step and the highest level it is used at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GaloisKeySpec {
    /// Left rotation step.
    pub step: i64,
    /// Highest ciphertext level rotated by this step.
    pub level: usize,
}

/// The public description of a plan: everything a client needs (parameters, packing,
/// the Galois steps to make keys for, where the scores are) and nothing of the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanSpec {
    /// [`SPEC_VERSION`].
    pub version: u32,
    /// Architecture name from the checkpoint (`tenseal-cnn`, `he-cnn`).
    pub architecture: String,
    /// Perceptual scheme the model was trained on (`none` for plain images): the client
    /// applies its perceptual key before CKKS encryption when this is not `none`.
    pub scheme: String,
    /// SHA-256 of the folded weights (hex): identifies the model, reveals nothing of it.
    pub model_id: String,
    /// Image `[channels, height, width]`.
    pub input_shape: [usize; 3],
    /// Output classes.
    pub classes: usize,
    /// CKKS parameters.
    pub params: ParametersLiteral,
    /// Why these parameters.
    pub params_reason: String,
    /// Multiplicative depth (levels consumed).
    pub depth: usize,
    /// Latency-mode input layout.
    pub input: InputLayout,
    /// Output layout.
    pub output: OutputLayout,
    /// Rotation steps (left) the latency mode needs Galois keys for, ascending, each with
    /// the highest ciphertext level it is applied at (keys are trimmed to that level); no
    /// other key is ever asked for.
    pub galois_keys: Vec<GaloisKeySpec>,
    /// Throughput mode: images per ciphertext set (`N/2`).
    pub batch_images: usize,
    /// The layers.
    pub layers: Vec<LayerInfo>,
}

impl PlanSpec {
    /// The rotation steps of [`PlanSpec::galois_keys`], ascending.
    pub fn galois_steps(&self) -> Vec<i64> {
        self.galois_keys.iter().map(|k| k.step).collect()
    }

    /// 16-byte identifier of this spec (SHA-256 of its canonical JSON): every serialized
    /// key set, input and output carries it, so objects made for another model or layout
    /// are refused.
    pub fn id(&self) -> [u8; 16] {
        let json = serde_json::to_vec(self).expect("a PlanSpec always serializes");
        let d = Sha256::digest(json);
        let mut id = [0u8; 16];
        id.copy_from_slice(&d[..16]);
        id
    }

    /// Validated CKKS parameters of the spec (the security table is enforced again).
    ///
    /// # Errors
    /// [`Error::Ckks`] if the literal is invalid or insecure.
    pub fn parameters(&self) -> Result<Arc<Parameters>> {
        Ok(Parameters::new(&self.params)?)
    }

    /// Parses a spec from JSON and checks its internal consistency.
    ///
    /// # Errors
    /// [`Error::Malformed`].
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let spec: Self = serde_json::from_slice(bytes).map_err(|e| Error::Malformed {
            what: "plan spec",
            reason: e.to_string(),
        })?;
        spec.check()?;
        Ok(spec)
    }

    fn check(&self) -> Result<()> {
        let bad = |reason: String| Error::Malformed {
            what: "plan spec",
            reason,
        };
        if self.version != SPEC_VERSION {
            return Err(bad(format!(
                "version {}, this build reads {SPEC_VERSION}",
                self.version
            )));
        }
        let slots = 1usize << (self.params.log_n.clamp(1, 17) - 1);
        let i = &self.input;
        let geometry = i.geometry();
        // Bounds first: the geometry's arithmetic must not overflow on a hostile spec.
        let sane = i.image == self.input_shape
            && i.image.iter().all(|&d| (1..=4096).contains(&d))
            && (1..=64).contains(&i.kernel)
            && (1..=64).contains(&i.stride)
            && i.padding < i.kernel
            && geometry.fits()
            && i.windows == geometry.windows()
            && i.kernel_len == geometry.kernel_len()
            && i.period.is_power_of_two()
            && i.period <= slots
            && i.groups == slots / i.period
            && i.windows
                .checked_mul(i.out_channels)
                .is_some_and(|v| v <= i.period)
            && i.ciphertexts == i.kernel_len.div_ceil(i.groups)
            && self.output.period.is_power_of_two()
            && self.output.period >= self.classes
            && self.batch_images == slots
            && (2..=1000).contains(&self.classes);
        if !sane {
            return Err(bad("inconsistent input or output layout".into()));
        }
        Ok(())
    }
}

/// Bits of the two output primes `q₀, q₁` and of the special prime; every prime stays
/// below 2^31.
const WIDE_BITS: u32 = 31;
/// Smallest layer prime (weights are encoded at the prime's scale, and CKKS encoding
/// rounds each weight to ≈ 2^(5.5 − bits) in slot space).
const MIN_LAYER_BITS: u32 = 22;
/// Largest layer prime.
const MAX_LAYER_BITS: u32 = 30;
/// Headroom kept for values: `|value| < 2^10` everywhere.
const VALUE_BITS: i32 = 10;

/// Parameters for `network`, and the reason.
///
/// Every prime is below 2^31, so every NTT, key-switching inner product and ModDown runs on
/// the vectorized 32-bit kernels (the 40–60-bit paths are 2–3× slower). The output level
/// keeps two 31-bit primes `q₀, q₁` (62 bits: logits at a high scale), each layer rescales
/// by one prime of equal size — as large as the smallest ring's 128-bit budget allows,
/// since it is also the scale the weights are encoded at — and one 31-bit special prime
/// switches keys. For the depth-5 models at `N = 8192` this is `[31, 31, 25×5] + [31]`,
/// exactly 218 bits: weights encoded at 2^25 (≈ 2^-19.5 per weight in slot space),
/// rescale and key-switching noise ≈ 2^13 in scaled units against working scales ≥ 2^25.
///
/// # Errors
/// [`Error::Unsupported`] when even `N = 32768` cannot hold the chain.
pub fn choose_parameters(network: &Network) -> Result<(ParametersLiteral, String)> {
    // (log N, max log QP at 128 bits)
    const RINGS: [(u32, u32); 3] = [(13, 218), (14, 438), (15, 881)];
    let depth = network.depth() as u32;
    for (log_n, budget) in RINGS {
        let per = ((budget - 3 * WIDE_BITS) / depth.max(1)).min(MAX_LAYER_BITS);
        if per < MIN_LAYER_BITS {
            continue;
        }
        let lit = ParametersLiteral {
            log_n,
            log_q: [vec![WIDE_BITS; 2], vec![per; depth as usize]].concat(),
            log_p: vec![WIDE_BITS],
            // The encoder's default scale; plans choose their own (see `working_scale`).
            log_scale: per,
            security: SecurityLevel::Bits128,
        };
        let total = 3 * WIDE_BITS + per * depth;
        let reason = format!(
            "N = 2^{log_n}: the smallest ring whose 128-bit budget ({budget} bits) holds the \
             chain; {total} bits, every prime below 2^31 (vectorized kernels): two 31-bit \
             output primes (logits at a high scale), one {per}-bit prime per layer (weights \
             encoded at 2^{per}), one 31-bit special prime"
        );
        return Ok((lit, reason));
    }
    Err(Error::Unsupported(format!(
        "depth {depth} needs bootstrapping, which pixveil does not implement"
    )))
}

/// A compiled plan: the public [`PlanSpec`] plus the encoded weights (server side).
#[derive(Debug)]
pub struct Plan {
    spec: PlanSpec,
    params: Arc<Parameters>,
    network: Network,
    stages: Vec<Stage>,
    /// Scale of each layer's weights (0 for squares).
    weight_scales: Vec<f64>,
}

/// One latency-mode stage with its plaintexts.
#[derive(Debug)]
pub(crate) enum Stage {
    Conv {
        /// One per input ciphertext, at the input level (see `encoding_scale` for the scale).
        weights: Vec<Plaintext>,
        folds: Vec<i64>,
        bias: Plaintext,
    },
    Square,
    Dense {
        baby: usize,
        giant: usize,
        /// `diags[g·B + b] = rot_{−gB}(diag_{gB+b})`, `None` if all zero.
        diags: Vec<Option<Plaintext>>,
        folds: Vec<i64>,
        bias: Plaintext,
    },
}

impl Plan {
    /// Compiles a trained model (an HE-friendly architecture: `tenseal-cnn`, `he-cnn`)
    /// for images encrypted with the perceptual `scheme` it was trained on (`"none"` for
    /// plain images), with the parameters of [`choose_parameters`].
    ///
    /// # Errors
    /// As [`Network::from_model`] and [`Plan::compile`].
    pub fn from_model(model: &pixveil_nn::Model, scheme: &str) -> Result<Self> {
        Self::compile(
            Network::from_model(model)?,
            model.architecture().name(),
            scheme,
        )
    }

    /// Loads a pixveil checkpoint and compiles its plan: the one way `pixveil serve`, the
    /// Python evaluator and every other server-side loader turn a model file into a plan.
    ///
    /// # Errors
    /// [`Error::Model`] for a missing or unreadable checkpoint, otherwise as
    /// [`Plan::from_model`].
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let (model, meta) = pixveil_nn::checkpoint::load(path)?;
        Self::from_model(&model, &meta.scheme)
    }

    /// Compiles `network` with the parameters of [`choose_parameters`].
    ///
    /// # Errors
    /// As [`Plan::compile_with`].
    pub fn compile(network: Network, architecture: &str, scheme: &str) -> Result<Self> {
        let (lit, reason) = choose_parameters(&network)?;
        Self::compile_with(
            network,
            architecture,
            scheme,
            &Parameters::new(&lit)?,
            &reason,
        )
    }

    /// Compiles `network` for `params` (tests use small, insecure rings).
    ///
    /// # Errors
    /// [`Error::NotEnoughLevels`] if `params` has fewer rescales than the network's depth;
    /// [`Error::Unsupported`] if a layer's vector does not fit the slots or the network
    /// does not start with a convolution.
    pub fn compile_with(
        network: Network,
        architecture: &str,
        scheme: &str,
        params: &Arc<Parameters>,
        params_reason: &str,
    ) -> Result<Self> {
        let depth = network.depth();
        if params.max_level() < depth {
            return Err(Error::NotEnoughLevels {
                needed: depth,
                available: params.max_level(),
            });
        }
        let Some(HeLayer::Conv(conv)) = network.layers.first() else {
            return Err(Error::Unsupported(
                "the first layer must be a convolution".into(),
            ));
        };
        let slots = params.slots();
        let encoder = Encoder::new(params)?;
        let q = |level: usize| params.q()[level] as f64;
        // The first layer's output scale lands the logits at the output scale; the input is
        // encoded higher (see `encoding_scale`).
        let top = params.max_level();
        let first_out_scale = working_scale(&network, params)?;
        let input = input_layout(
            conv,
            slots,
            top,
            encoding_scale(first_out_scale, params.q()[top] as f64),
        )?;

        let mut level = top;
        let mut scale = input.scale;
        let mut period = 0;
        let mut stages = Vec::with_capacity(depth);
        let mut layers = Vec::with_capacity(depth);
        let mut steps = Vec::new();
        let mut counters = [0usize; 3];
        let mut weight_scales = Vec::with_capacity(depth);
        for (i, layer) in network.layers.iter().enumerate() {
            // Weights at scale q_ℓ: a linear layer keeps the scale, exactly. The first layer
            // takes the input from its high encoding scale down to the plan's working scale.
            let wscale = if i == 0 {
                first_out_scale * q(level) / input.scale
            } else {
                q(level)
            };
            let index = match layer {
                HeLayer::Conv(_) => 0,
                HeLayer::Dense(_) => 1,
                HeLayer::Square => 2,
            };
            counters[index] += 1;
            let mut info = LayerInfo {
                name: format!("{}{}", layer.kind(), counters[index]),
                level,
                rotations: 0,
                plain_mults: 0,
                bsgs: [0, 0],
                period,
            };
            let stage = match layer {
                HeLayer::Conv(c) => {
                    let (stage, folds) = compile_conv(c, &input, &encoder, level, scale, wscale)?;
                    info.rotations = folds.len();
                    info.plain_mults = input.ciphertexts;
                    // The conv folds run after its rescale.
                    steps.extend(folds.iter().map(|&s| (s, level - 1)));
                    period = input.period;
                    stage
                }
                HeLayer::Dense(d) => {
                    let (stage, out_period, stage_steps) =
                        compile_dense(d, period, slots, &encoder, level, scale, wscale)?;
                    if let Stage::Dense {
                        baby,
                        giant,
                        diags,
                        folds,
                        ..
                    } = &stage
                    {
                        info.rotations = baby - 1 + giant - 1 + folds.len();
                        info.plain_mults = diags.iter().flatten().count();
                        info.bsgs = [*baby, *giant];
                    }
                    steps.extend(stage_steps.into_iter().map(|s| (s, level)));
                    period = out_period;
                    stage
                }
                HeLayer::Square => {
                    scale = scale * scale / q(level);
                    Stage::Square
                }
            };
            // Linear layers: weights at `wscale`, rescale by q_ℓ (same f64 operations as
            // the evaluator, so the tracked scale matches bit for bit).
            if matches!(stage, Stage::Square) {
                weight_scales.push(0.0);
            } else {
                scale = scale * wscale / q(level);
                weight_scales.push(wscale);
            }
            info.period = period;
            level -= 1;
            layers.push(info);
            stages.push(stage);
        }
        // One key per step, at the highest level it is used.
        steps.sort_unstable_by_key(|&(s, l)| (s, std::cmp::Reverse(l)));
        steps.dedup_by_key(|&mut (s, _)| s);
        let galois_keys = steps
            .into_iter()
            .map(|(step, level)| GaloisKeySpec { step, level })
            .collect();
        let spec = PlanSpec {
            version: SPEC_VERSION,
            architecture: architecture.to_owned(),
            scheme: scheme.to_owned(),
            model_id: model_id(&network),
            input_shape: network.input,
            classes: network.classes,
            params: params.literal().clone(),
            params_reason: params_reason.to_owned(),
            depth,
            input,
            output: OutputLayout {
                period,
                level,
                scale,
            },
            galois_keys,
            batch_images: slots,
            layers,
        };
        if network.classes > period {
            return Err(Error::Unsupported(format!(
                "{} classes do not fit the output period {period}",
                network.classes
            )));
        }
        spec.check()?;
        Ok(Self {
            spec,
            params: params.clone(),
            network,
            stages,
            weight_scales,
        })
    }

    /// The public description.
    pub fn spec(&self) -> &PlanSpec {
        &self.spec
    }

    /// The parameters.
    pub fn params(&self) -> &Arc<Parameters> {
        &self.params
    }

    /// The network (plaintext reference).
    pub fn network(&self) -> &Network {
        &self.network
    }

    pub(crate) fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// Scale the weights of layer `i` are encoded at (`q_ℓ`, or for the last layer the
    /// value that brings the output to the plan's output scale).
    pub(crate) fn weight_scale(&self, i: usize) -> f64 {
        self.weight_scales[i]
    }
}

/// The largest scale after the first layer (the plan's working scale) for which every
/// value of magnitude up to `2^10` fits every level: before each rescale `2^10·s < Q_ℓ/2`,
/// and at the output `2^10·s < Q_out/2`. Linear layers keep the scale (weights at `q_ℓ`), a
/// square maps `s` to `s²/q_ℓ`; the scales grow with this one, so a bisection on its
/// logarithm finds it. Capped at 2^45 (plaintext encodings stay below 2^62); the scales
/// along the way must stay ≥ 2^16.
fn working_scale(network: &Network, params: &Parameters) -> Result<f64> {
    let top = params.max_level();
    let log_q: Vec<f64> = params.q().iter().map(|&q| (q as f64).log2()).collect();
    let log_big_q = |level: usize| log_q[..=level].iter().sum::<f64>();
    let value = f64::from(VALUE_BITS) + 1.0;
    // (fits, smallest log-scale) for a first-layer output log-scale `l1`.
    let run = |l1: f64| {
        let mut fits = value + l1 + log_q[top] < log_big_q(top);
        let (mut l, mut min) = (l1, l1);
        for (i, layer) in network.layers.iter().enumerate().skip(1) {
            let level = top - i;
            let before = match layer {
                HeLayer::Square => 2.0 * l,
                _ => l + log_q[level],
            };
            fits &= value + before < log_big_q(level);
            l = before - log_q[level];
            min = min.min(l);
        }
        fits &= value + l < log_big_q(top - network.depth());
        (fits, min)
    };
    let (mut lo, mut hi) = (16.0f64, 45.0f64);
    if !run(lo).0 {
        return Err(Error::Unsupported(
            "no working scale ≥ 2^16 fits this network in these parameters".into(),
        ));
    }
    if run(hi).0 {
        lo = hi;
    }
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if run(mid).0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let (_, min) = run(lo);
    if min < 16.0 {
        return Err(Error::Unsupported(format!(
            "the scales of this network fall to 2^{min:.1} (below 2^16) in these parameters"
        )));
    }
    Ok(lo.exp2())
}

/// The scale the client encodes the input at, for a first layer that must output at scale
/// `s1` after rescaling by `q`: the product `s₀·w = s1·q` is fixed, and the first layer's
/// error is fresh encryption noise (≈ 2^10 in scaled units, max over the slots) over `s₀`
/// plus weight rounding (≈ 2^0) over the weight scale `w`; `s₀ = 2^10·w` balances them.
fn encoding_scale(s1: f64, q: f64) -> f64 {
    (s1 * q * 2f64.powi(10)).sqrt().min(2f64.powi(45))
}

fn input_layout(conv: &Conv, slots: usize, level: usize, scale: f64) -> Result<InputLayout> {
    let outputs = conv.outputs();
    let period = outputs.next_power_of_two();
    if period > slots {
        return Err(Error::Unsupported(format!(
            "the first convolution has {outputs} outputs, more than the {slots} slots of one ciphertext"
        )));
    }
    let groups = slots / period;
    Ok(InputLayout {
        image: conv.input,
        kernel: conv.kernel,
        stride: conv.stride,
        padding: conv.padding,
        out_channels: conv.out_channels,
        windows: conv.windows(),
        kernel_len: conv.kernel_len(),
        period,
        groups,
        ciphertexts: conv.kernel_len().div_ceil(groups),
        level,
        scale,
    })
}

/// Folding steps `top/2, top/4, …, bottom` (empty if `top == bottom`).
fn fold_steps(top: usize, bottom: usize) -> Vec<i64> {
    let mut steps = Vec::new();
    let mut s = top / 2;
    while s >= bottom && s > 0 {
        steps.push(s as i64);
        s /= 2;
    }
    steps
}

/// A slot vector of length `slots` repeating `v` (length dividing `slots`).
fn replicate(v: &[f64], slots: usize) -> Vec<f64> {
    v.iter().copied().cycle().take(slots).collect()
}

fn compile_conv(
    c: &Conv,
    layout: &InputLayout,
    encoder: &Encoder,
    level: usize,
    scale: f64,
    wscale: f64,
) -> Result<(Stage, Vec<i64>)> {
    let params = encoder.params();
    let slots = params.slots();
    let ql = params.q()[level] as f64;
    let (n0, g, windows, kl) = (
        layout.period,
        layout.groups,
        layout.windows,
        layout.kernel_len,
    );
    let weights = (0..layout.ciphertexts)
        .map(|t| {
            let mut v = vec![0.0; slots];
            for j in 0..g {
                let e = t * g + j;
                if e >= kl {
                    break;
                }
                for o in 0..c.out_channels {
                    let w = c.weight[o * kl + e];
                    v[j * n0 + o * windows..j * n0 + (o + 1) * windows].fill(w);
                }
            }
            encoder.encode_real(&v, level, wscale)
        })
        .collect::<pixveil_ckks::Result<Vec<_>>>()?;
    let mut bias = vec![0.0; n0];
    for o in 0..c.out_channels {
        bias[o * windows..(o + 1) * windows].fill(c.bias[o]);
    }
    let folds = fold_steps(slots, n0);
    let bias = encoder.encode_real(&replicate(&bias, slots), level - 1, scale * wscale / ql)?;
    Ok((
        Stage::Conv {
            weights,
            folds: folds.clone(),
            bias,
        },
        folds,
    ))
}

/// Compiles a dense layer on an input replicated with period `n`; returns the stage, the
/// output period and the rotation steps it uses.
fn compile_dense(
    d: &Dense,
    n: usize,
    slots: usize,
    encoder: &Encoder,
    level: usize,
    scale: f64,
    wscale: f64,
) -> Result<(Stage, usize, Vec<i64>)> {
    if d.inputs > n {
        return Err(Error::Unsupported(format!(
            "a dense layer takes {} inputs, the previous layer gives {n} slots",
            d.inputs
        )));
    }
    let m = d.outputs.next_power_of_two();
    let n_eff = n.max(m);
    if n_eff > slots {
        return Err(Error::Unsupported(format!(
            "a dense layer with {} outputs does not fit {slots} slots",
            d.outputs
        )));
    }
    let ql = encoder.params().q()[level] as f64;
    let w = |r: usize, c: usize| {
        if r < d.outputs && c < d.inputs {
            d.weight[r * d.inputs + c]
        } else {
            0.0
        }
    };
    let baby = 1usize << m.trailing_zeros().div_ceil(2);
    let giant = m / baby;
    let mut diags = Vec::with_capacity(m);
    for g in 0..giant {
        for b in 0..baby {
            let i = g * baby + b;
            // diag_i[j] = W[j mod m][(j + i) mod n_eff]; pre-rotated right by g·B.
            let diag: Vec<f64> = (0..n_eff).map(|j| w(j % m, (j + i) % n_eff)).collect();
            if diag.iter().all(|&x| x == 0.0) {
                diags.push(None);
                continue;
            }
            let shift = g * baby;
            let rotated: Vec<f64> = (0..slots)
                .map(|s| diag[(s + n_eff - shift % n_eff) % n_eff])
                .collect();
            diags.push(Some(encoder.encode_real(&rotated, level, wscale)?));
        }
    }
    let folds = fold_steps(n_eff, m);
    let mut bias = vec![0.0; m];
    bias[..d.outputs].copy_from_slice(&d.bias);
    let bias = encoder.encode_real(&replicate(&bias, slots), level - 1, scale * wscale / ql)?;
    let mut steps: Vec<i64> = (1..baby as i64).collect();
    steps.extend((1..giant).map(|g| (g * baby) as i64));
    steps.extend(&folds);
    Ok((
        Stage::Dense {
            baby,
            giant,
            diags,
            folds,
            bias,
        },
        m,
        steps,
    ))
}

fn model_id(net: &Network) -> String {
    let mut h = Sha256::new();
    for layer in &net.layers {
        h.update(layer.kind().as_bytes());
        let (w, b): (&[f64], &[f64]) = match layer {
            HeLayer::Conv(c) => (&c.weight, &c.bias),
            HeLayer::Dense(d) => (&d.weight, &d.bias),
            HeLayer::Square => (&[], &[]),
        };
        for v in w.iter().chain(b) {
            h.update(v.to_le_bytes());
        }
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_for_the_shipped_models_fit_n8192_with_31_bit_primes() {
        use crate::network::{Conv, Dense};
        let conv = HeLayer::Conv(Conv {
            input: [1, 28, 28],
            out_channels: 4,
            kernel: 7,
            stride: 3,
            padding: 0,
            weight: vec![0.1; 4 * 49],
            bias: vec![0.0; 4],
        });
        let dense = |n, m| {
            HeLayer::Dense(Dense {
                inputs: n,
                outputs: m,
                weight: vec![0.1; n * m],
                bias: vec![0.0; m],
            })
        };
        let net = Network {
            layers: vec![
                conv,
                HeLayer::Square,
                dense(256, 64),
                HeLayer::Square,
                dense(64, 10),
            ],
            input: [1, 28, 28],
            classes: 10,
        };
        let (lit, _) = choose_parameters(&net).expect("depth 5 fits N = 8192");
        assert_eq!(lit.log_n, 13);
        assert_eq!(lit.log_q, vec![31, 31, 25, 25, 25, 25, 25]);
        assert_eq!(lit.log_p, vec![31]);
        let params = Parameters::new(&lit).expect("128-bit secure and valid");
        // The special prime is the largest 31-bit prime, above both 31-bit q's (P ≥ q_i).
        assert!(params.q().iter().all(|&q| q < params.p()[0]));
        // The working scale sits near the square primes.
        let s = working_scale(&net, &params).expect("fits").log2();
        assert!((25.0..=40.0).contains(&s), "working scale 2^{s}");
        // Deeper networks move to larger rings.
        let mut deep = net.clone();
        for _ in 0..4 {
            deep.layers.push(HeLayer::Square);
            deep.layers.push(dense(10, 10));
        }
        let (lit, _) = choose_parameters(&deep).expect("fits a larger ring");
        assert!(lit.log_n > 13);
        Parameters::new(&lit).expect("128-bit secure and valid");
    }

    /// A model card read from JSON is checked: a consistent one round-trips, a hostile
    /// geometry is an error (never an overflow or a panic in the client's packing).
    #[test]
    fn spec_from_json_refuses_inconsistent_geometry() {
        use crate::network::{Conv, Dense};
        let net = Network {
            layers: vec![
                HeLayer::Conv(Conv {
                    input: [1, 28, 28],
                    out_channels: 4,
                    kernel: 7,
                    stride: 3,
                    padding: 0,
                    weight: vec![0.1; 4 * 49],
                    bias: vec![0.0; 4],
                }),
                HeLayer::Square,
                HeLayer::Dense(Dense {
                    inputs: 256,
                    outputs: 10,
                    weight: vec![0.01; 2560],
                    bias: vec![0.0; 10],
                }),
            ],
            input: [1, 28, 28],
            classes: 10,
        };
        let plan = Plan::compile(net, "test", "none").expect("compiles");
        let json = serde_json::to_vec(plan.spec()).expect("serializes");
        assert_eq!(&PlanSpec::from_json(&json).expect("valid"), plan.spec());
        let tamper = |f: &dyn Fn(&mut PlanSpec)| {
            let mut spec = plan.spec().clone();
            f(&mut spec);
            PlanSpec::from_json(&serde_json::to_vec(&spec).expect("serializes"))
        };
        assert!(tamper(&|s| s.input.padding = usize::MAX).is_err());
        assert!(tamper(&|s| s.input.kernel = 40).is_err());
        assert!(tamper(&|s| s.input.out_channels = usize::MAX).is_err());
        assert!(tamper(&|s| s.input.windows = 63).is_err());
        assert!(tamper(&|s| s.input.stride = 0).is_err());
    }

    #[test]
    fn fold_steps_halve_down_to_the_period() {
        assert_eq!(fold_steps(4096, 256), vec![2048, 1024, 512, 256]);
        assert_eq!(fold_steps(256, 64), vec![128, 64]);
        assert!(fold_steps(64, 64).is_empty());
    }
}
