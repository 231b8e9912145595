//! The evaluator's side: runs a [`Plan`] on encrypted inputs with public evaluation keys.
//!
//! This module only names public material — the plan, [`EvaluationKeys`] (relinearization
//! and Galois keys) and ciphertexts; no secret-key type, decryptor or key generator is
//! imported here (a test reads this file and fails if one is).

use std::sync::Arc;
use std::time::{Duration, Instant};

use pixveil_ckks::encoder::Plaintext;
use pixveil_ckks::encrypt::Ciphertext;
use pixveil_ckks::evaluator::Evaluator;
use pixveil_ckks::keys::GaloisKeys;
use rayon::iter::{IntoParallelIterator, ParallelIterator};

use crate::network::HeLayer;
use crate::plan::{Mode, Plan, Stage};
use crate::wire::{Encrypted, EvaluationKeys};
use crate::{Error, Result};

/// Runs a plan for one client's evaluation keys.
#[derive(Debug)]
pub struct HeEvaluator {
    plan: Arc<Plan>,
    keys: EvaluationKeys,
    ev: Evaluator,
}

impl HeEvaluator {
    /// An evaluator for `plan` with a client's public keys.
    ///
    /// # Errors
    /// [`Error::Ckks`] (parameter mismatch) if the keys were made for other parameters;
    /// [`Error::MissingGaloisKeys`] if latency-mode keys lack a step of the plan.
    pub fn new(plan: Arc<Plan>, keys: EvaluationKeys) -> Result<Self> {
        let params = plan.params();
        params.check_fingerprint(keys.relin.fingerprint())?;
        if let Some(g) = &keys.galois {
            params.check_fingerprint(g.fingerprint())?;
            check_galois(&plan, g)?;
        }
        Ok(Self {
            ev: Evaluator::new(params),
            plan,
            keys,
        })
    }

    /// The plan.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// The modes the keys serve: [`Mode::Latency`] keys (with Galois keys) serve both.
    pub fn keys_mode(&self) -> Mode {
        self.keys.mode()
    }

    /// Encrypted scores of an encrypted input (either mode).
    ///
    /// # Errors
    /// [`Error::Mismatch`] for an input that does not fit the plan, [`Error::MissingGaloisKeys`]
    /// for a latency input with throughput keys, [`Error::Ckks`] from the engine.
    pub fn classify(&self, input: &Encrypted) -> Result<Encrypted> {
        self.classify_profiled(input, &mut |_, _, _| {})
    }

    /// As [`HeEvaluator::classify`], calling `on_layer(name, time, output)` after each layer
    /// with the layer's output ciphertexts (for timing, and for clients that trace precision
    /// layer by layer).
    ///
    /// # Errors
    /// As [`HeEvaluator::classify`].
    pub fn classify_profiled(
        &self,
        input: &Encrypted,
        on_layer: &mut dyn FnMut(&str, Duration, &[Ciphertext]),
    ) -> Result<Encrypted> {
        self.check_input(input)?;
        let ciphertexts = match input.mode {
            Mode::Latency => vec![self.latency(&input.ciphertexts, on_layer)?],
            Mode::Throughput => self.throughput(&input.ciphertexts, on_layer)?,
        };
        Ok(Encrypted {
            mode: input.mode,
            images: input.images,
            ciphertexts,
        })
    }

    fn check_input(&self, input: &Encrypted) -> Result<()> {
        let spec = self.plan.spec();
        let params = self.plan.params();
        let (count, max_images) = match input.mode {
            Mode::Latency => (spec.input.ciphertexts, 1),
            Mode::Throughput => (spec.input_shape.iter().product(), spec.batch_images),
        };
        if input.ciphertexts.len() != count || input.images == 0 || input.images > max_images {
            return Err(Error::Mismatch(format!(
                "{} mode takes {count} ciphertexts for 1..={max_images} images, got {} for {}",
                input.mode.name(),
                input.ciphertexts.len(),
                input.images
            )));
        }
        for ct in &input.ciphertexts {
            params.check_fingerprint(ct.fingerprint())?;
            let rel = (ct.scale() - spec.input.scale).abs() / spec.input.scale;
            if ct.level() != spec.input.level || ct.size() != 2 || rel > 1e-9 {
                return Err(Error::Mismatch(format!(
                    "input ciphertext at level {} scale 2^{:.2} size {}, the plan takes level {} scale 2^{:.2} size 2",
                    ct.level(),
                    ct.scale().log2(),
                    ct.size(),
                    spec.input.level,
                    spec.input.scale.log2()
                )));
            }
        }
        Ok(())
    }

    fn galois(&self) -> Result<&GaloisKeys> {
        self.keys
            .galois
            .as_ref()
            .ok_or_else(|| Error::MissingGaloisKeys {
                steps: self.plan.spec().galois_steps(),
            })
    }

    /// `x + rot_s(x)` for every fold step `s`.
    fn fold(&self, mut x: Ciphertext, steps: &[i64], gk: &GaloisKeys) -> Result<Ciphertext> {
        for &s in steps {
            let r = self.ev.rotate(&x, s, gk)?;
            self.ev.add_assign(&mut x, &r)?;
        }
        Ok(x)
    }

    fn latency(
        &self,
        input: &[Ciphertext],
        on_layer: &mut dyn FnMut(&str, Duration, &[Ciphertext]),
    ) -> Result<Ciphertext> {
        let gk = self.galois()?;
        let ev = &self.ev;
        let mut x: Option<Ciphertext> = None;
        for (stage, info) in self.plan.stages().iter().zip(&self.plan.spec().layers) {
            let start = Instant::now();
            let y = match stage {
                Stage::Conv {
                    weights,
                    folds,
                    bias,
                } => {
                    let cts: Vec<&Ciphertext> = input.iter().collect();
                    let pts: Vec<&Plaintext> = weights.iter().collect();
                    let acc = ev.dot_plain(&cts, &pts)?;
                    // Fold after the rescale: one prime fewer per rotation, and the
                    // working scale (≥ 2^25) keeps the key-switching noise small.
                    let acc = self.fold(ev.rescale(&acc)?, folds, gk)?;
                    ev.add_plain(&acc, bias)?
                }
                Stage::Square => {
                    let v = x.as_ref().expect("a square follows a linear layer");
                    ev.rescale(&ev.mul_relin(v, v, &self.keys.relin)?)?
                }
                Stage::Dense {
                    baby,
                    giant,
                    diags,
                    folds,
                    bias,
                } => {
                    let v = x.as_ref().expect("a dense layer follows another layer");
                    let steps: Vec<i64> = (0..*baby as i64).collect();
                    let rots = ev.rotate_hoisted(v, &steps, gk)?;
                    let acc = (0..*giant)
                        .into_par_iter()
                        .filter_map(|g| {
                            let (cts, pts): (Vec<&Ciphertext>, Vec<&Plaintext>) = rots
                                .iter()
                                .enumerate()
                                .filter_map(|(b, rot)| {
                                    diags[g * baby + b].as_ref().map(|pt| (rot, pt))
                                })
                                .unzip();
                            if cts.is_empty() {
                                return None;
                            }
                            Some(ev.dot_plain(&cts, &pts).and_then(|inner| {
                                if g == 0 {
                                    Ok(inner)
                                } else {
                                    ev.rotate(&inner, (g * baby) as i64, gk)
                                }
                            }))
                        })
                        .try_reduce_with(|mut a, b| {
                            ev.add_assign(&mut a, &b)?;
                            Ok(a)
                        })
                        .ok_or_else(|| {
                            Error::Unsupported("a dense layer with all-zero weights".into())
                        })??;
                    let acc = self.fold(acc, folds, gk)?;
                    ev.add_plain(&ev.rescale(&acc)?, bias)?
                }
            };
            let elapsed = start.elapsed();
            on_layer(&info.name, elapsed, std::slice::from_ref(&y));
            x = Some(y);
        }
        Ok(x.expect("a plan has at least one layer"))
    }

    fn throughput(
        &self,
        input: &[Ciphertext],
        on_layer: &mut dyn FnMut(&str, Duration, &[Ciphertext]),
    ) -> Result<Vec<Ciphertext>> {
        let ev = &self.ev;
        let mut owned: Option<Vec<Ciphertext>> = None;
        for (i, (layer, info)) in self
            .plan
            .network()
            .layers
            .iter()
            .zip(&self.plan.spec().layers)
            .enumerate()
        {
            let start = Instant::now();
            let wscale = self.plan.weight_scale(i);
            // Outputs `W·x + b` over the given inputs, rescaled.
            let linear = |inputs: &[&Ciphertext],
                          weights: &[f64],
                          bias: &[f64]|
             -> Result<Vec<Ciphertext>> {
                ev.linear_transform(inputs, weights, wscale)?
                    .into_iter()
                    .zip(bias)
                    .map(|(y, &b)| Ok(ev.add_scalar(&ev.rescale(&y)?, b)?))
                    .collect()
            };
            let y: Vec<Ciphertext> = match layer {
                HeLayer::Conv(c) => {
                    let x: &[Ciphertext] = owned.as_deref().unwrap_or(input);
                    // One small transform per window: its C·k² pixels → the O channels.
                    let (windows, kl) = (c.windows(), c.kernel_len());
                    let per_window = (0..windows)
                        .into_par_iter()
                        .map(|w| {
                            let (pixels, es): (Vec<&Ciphertext>, Vec<usize>) = (0..kl)
                                .filter_map(|e| c.pixel(w, e).map(|p| (&x[p], e)))
                                .unzip();
                            let weights: Vec<f64> = (0..c.out_channels)
                                .flat_map(|o| es.iter().map(move |&e| c.weight[o * kl + e]))
                                .collect();
                            linear(&pixels, &weights, &c.bias)
                        })
                        .collect::<Result<Vec<_>>>()?;
                    // Channel-major order: output o·W + w.
                    let mut out: Vec<Option<Ciphertext>> = vec![None; c.outputs()];
                    for (w, chans) in per_window.into_iter().enumerate() {
                        for (o, ct) in chans.into_iter().enumerate() {
                            out[o * windows + w] = Some(ct);
                        }
                    }
                    out.into_iter()
                        .map(|c| c.expect("every window produced every channel"))
                        .collect()
                }
                HeLayer::Dense(d) => {
                    let x: &[Ciphertext] = owned.as_deref().unwrap_or(input);
                    let refs: Vec<&Ciphertext> = x.iter().collect();
                    linear(&refs, &d.weight, &d.bias)?
                }
                // Consumes its input: each ciphertext is freed once squared.
                HeLayer::Square => owned
                    .take()
                    .expect("a square follows a linear layer")
                    .into_par_iter()
                    .map(|v| Ok(ev.rescale(&ev.mul_relin(&v, &v, &self.keys.relin)?)?))
                    .collect::<Result<_>>()?,
            };
            let elapsed = start.elapsed();
            on_layer(&info.name, elapsed, &y);
            owned = Some(y);
        }
        Ok(owned.expect("a plan has at least one layer"))
    }
}

fn check_galois(plan: &Plan, g: &GaloisKeys) -> Result<()> {
    let n = plan.params().degree();
    let missing: Vec<i64> = plan
        .spec()
        .galois_keys
        .iter()
        .filter(|k| {
            g.level(pixveil_ring::galois_element_for_step(k.step, n))
                .is_none_or(|l| l < k.level)
        })
        .map(|k| k.step)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::MissingGaloisKeys { steps: missing })
    }
}
