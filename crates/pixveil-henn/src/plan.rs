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
//! **Levels and scales.** Every linear layer and every square consumes one level. Linear
//! weights are encoded at the scale `q_ℓ` of the prime the following rescale drops, so a
//! linear layer leaves the scale unchanged; a square maps `s` to `s²/q_ℓ`. The plan tracks
//! these exactly and encodes every bias at the level and scale it is added at. Rotations
//! run before the rescale that ends their layer, so their key-switching noise is divided by
//! `q_ℓ` with the signal.

use std::sync::Arc;

use pixveil_ckks::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::network::{Conv, Dense, HeLayer, Network};
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
    /// Level the client encrypts at (the plan's depth).
    pub level: usize,
    /// Scale `Δ` of the input.
    pub scale: f64,
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
        let sane = i.kernel >= 1
            && i.stride >= 1
            && i.image == self.input_shape
            && i.image.iter().all(|&d| (1..=4096).contains(&d))
            && i.kernel_len == i.image[0] * i.kernel * i.kernel
            && i.period.is_power_of_two()
            && i.period <= slots
            && i.groups == slots / i.period
            && i.windows * i.out_channels <= i.period
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

/// Parameters for a network of multiplicative depth `depth`: the smallest ring with a
/// 128-bit secure chain of `depth` rescaling primes, and the reason.
///
/// At `N = 8192` (218 bits of modulus allowed) a 40-bit `q₀` keeps 14 bits of headroom
/// above `Δ = 2^26` for the logits, a 48-bit special prime keeps key-switching noise
/// ≈ 2^-22 of the signal, and the remaining 130 bits give `⌊130/depth⌋`-bit rescaling
/// primes (26 bits for the depth-5 models: the `Precise8192` chain, precise to ≈ 15 bits
/// per operation). Deeper networks move to `N = 16384` or `32768`.
///
/// # Errors
/// [`Error::Unsupported`] beyond depth 32.
pub fn choose_parameters(depth: usize) -> Result<(ParametersLiteral, String)> {
    // (log N, max log QP, q₀ bits, P bits)
    const RINGS: [(u32, u32, u32, u32); 3] =
        [(13, 218, 40, 48), (14, 438, 50, 60), (15, 881, 50, 60)];
    for (log_n, budget, q0, p) in RINGS {
        let per = (budget - q0 - p) / depth.max(1) as u32;
        if per >= 25 {
            let bits = per.min(q0 - 10);
            let lit = ParametersLiteral {
                log_n,
                log_q: [vec![q0], vec![bits; depth]].concat(),
                log_p: vec![p],
                log_scale: bits,
                security: SecurityLevel::Bits128,
            };
            let reason = format!(
                "depth {depth}: N = 2^{log_n} is the smallest ring whose 128-bit budget \
                 ({budget} bits) holds {depth} rescaling primes of ≥ 25 bits; Δ = 2^{bits} \
                 ({bits}-bit primes), q0 = {q0} bits leaves {} bits of headroom for the \
                 logits, one {p}-bit special prime keeps key-switching noise small",
                q0 - bits
            );
            return Ok((lit, reason));
        }
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
}

/// One latency-mode stage with its plaintexts.
#[derive(Debug)]
pub(crate) enum Stage {
    Conv {
        /// One per input ciphertext, at the input level, scale `q_ℓ`.
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
    /// Compiles `network` with the parameters of [`choose_parameters`].
    ///
    /// # Errors
    /// As [`Plan::compile_with`].
    pub fn compile(network: Network, architecture: &str, scheme: &str) -> Result<Self> {
        let (lit, reason) = choose_parameters(network.depth())?;
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
        let input = input_layout(conv, slots, depth, params.default_scale())?;

        let mut level = depth;
        let mut scale = params.default_scale();
        let mut period = 0;
        let mut stages = Vec::with_capacity(depth);
        let mut layers = Vec::with_capacity(depth);
        let mut steps = Vec::new();
        let mut counters = [0usize; 3];
        for layer in &network.layers {
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
                    let (stage, folds) = compile_conv(c, &input, &encoder, level, scale)?;
                    info.rotations = folds.len();
                    info.plain_mults = input.ciphertexts;
                    steps.extend(folds.iter().map(|&s| (s, level)));
                    period = input.period;
                    stage
                }
                HeLayer::Dense(d) => {
                    let (stage, out_period, stage_steps) =
                        compile_dense(d, period, slots, &encoder, level, scale)?;
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
            // Linear layers: weights at scale q_ℓ, rescale by q_ℓ (same f64 operations as
            // the evaluator, so the tracked scale matches bit for bit).
            if !matches!(stage, Stage::Square) {
                scale = scale * q(level) / q(level);
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
) -> Result<(Stage, Vec<i64>)> {
    let params = encoder.params();
    let slots = params.slots();
    let wscale = params.q()[level] as f64;
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
    let bias = encoder.encode_real(&replicate(&bias, slots), level - 1, scale * wscale / wscale)?;
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
    let wscale = encoder.params().q()[level] as f64;
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
    let bias = encoder.encode_real(&replicate(&bias, slots), level - 1, scale * wscale / wscale)?;
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
    fn parameters_for_the_shipped_depth_are_the_precise_chain() {
        let (lit, _) = choose_parameters(5).expect("depth 5 fits N = 8192");
        assert_eq!(lit, Preset::Precise8192.literal());
        for depth in 1..=20 {
            let (lit, _) = choose_parameters(depth).expect("fits");
            assert_eq!(lit.log_q.len(), depth + 1);
            Parameters::new(&lit).expect("128-bit secure and valid");
        }
    }

    #[test]
    fn fold_steps_halve_down_to_the_period() {
        assert_eq!(fold_steps(4096, 256), vec![2048, 1024, 512, 256]);
        assert_eq!(fold_steps(256, 64), vec![128, 64]);
        assert!(fold_steps(64, 64).is_empty());
    }
}
