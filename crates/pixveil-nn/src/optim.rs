//! Optimisers (SGD with momentum, Adam; L2 weight decay as PyTorch couples it) and
//! learning-rate schedules.

use crate::model::Model;
use crate::{Error, Result};

/// Saved optimiser state, for resuming training: the kind, the step count and per-slot
/// tensors in [`Model::params`] layout (SGD: velocity; Adam: first and second moments).
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState {
    /// `sgd` or `adam`.
    pub kind: String,
    /// Updates done.
    pub step: u64,
    /// Slots (each one tensor per parameter).
    pub slots: Vec<Vec<Vec<f32>>>,
}

/// An optimiser's update rule and hyper-parameters, so that another backend
/// ([`crate::backend`]) can apply exactly the same updates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerSettings {
    /// [`Sgd`].
    Sgd {
        /// Momentum `μ`.
        momentum: f32,
        /// Coupled weight decay `λ`.
        weight_decay: f32,
    },
    /// [`Adam`].
    Adam {
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Denominator epsilon.
        eps: f32,
        /// Weight decay `λ`.
        weight_decay: f32,
        /// Decoupled (AdamW, weight tensors only) instead of L2.
        decoupled: bool,
    },
}

/// A first-order optimiser over a model's parameters.
pub trait Optimizer: Send {
    /// One update with gradients `grads` (in `model.params()` layout) multiplied by
    /// `scale` (e.g. `1 / batch size`).
    fn step(&mut self, model: &mut Model, grads: &[Vec<f32>], scale: f32);
    /// The current learning rate.
    fn lr(&self) -> f32;
    /// Sets the learning rate (for schedules).
    fn set_lr(&mut self, lr: f32);
    /// `sgd` or `adam`.
    fn name(&self) -> &'static str;
    /// The update rule and its hyper-parameters (the learning rate is [`Optimizer::lr`]).
    fn settings(&self) -> OptimizerSettings;
    /// The state to save for resuming.
    fn state(&self) -> OptimizerState;
    /// Restores [`Optimizer::state`].
    ///
    /// # Errors
    /// [`Error::Shape`] if the kind or the tensor shapes differ.
    fn load_state(&mut self, state: OptimizerState) -> Result<()>;
}

fn check_slots(kind: &str, want: usize, like: &[Vec<f32>], state: &OptimizerState) -> Result<()> {
    let ok = state.kind == kind
        && state.slots.len() == want
        && state.slots.iter().all(|slot| {
            slot.len() == like.len() && slot.iter().zip(like).all(|(a, b)| a.len() == b.len())
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Shape(format!(
            "optimizer state of kind {:?} does not fit a {kind} optimizer for this model",
            state.kind
        )))
    }
}

/// SGD with PyTorch-style momentum and coupled weight decay:
/// `g ← g + λ·p`, `v ← μ·v + g`, `p ← p − lr·v`.
#[derive(Clone, Debug)]
pub struct Sgd {
    /// Learning rate.
    pub lr: f32,
    /// Momentum `μ` (0 for plain SGD).
    pub momentum: f32,
    /// Weight decay `λ`.
    pub weight_decay: f32,
    step: u64,
    velocity: Vec<Vec<f32>>,
}

impl Sgd {
    /// An optimiser for `model`'s parameters.
    pub fn new(model: &Model, lr: f32, momentum: f32, weight_decay: f32) -> Self {
        Self {
            lr,
            momentum,
            weight_decay,
            step: 0,
            velocity: model.zero_grads(),
        }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, model: &mut Model, grads: &[Vec<f32>], scale: f32) {
        self.step += 1;
        for ((p, g), v) in model.params_mut().zip(grads).zip(&mut self.velocity) {
            for ((pv, gv), vv) in p.iter_mut().zip(g).zip(v.iter_mut()) {
                let g = gv * scale + self.weight_decay * *pv;
                *vv = self.momentum * *vv + g;
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

    fn name(&self) -> &'static str {
        "sgd"
    }

    fn settings(&self) -> OptimizerSettings {
        OptimizerSettings::Sgd {
            momentum: self.momentum,
            weight_decay: self.weight_decay,
        }
    }

    fn state(&self) -> OptimizerState {
        OptimizerState {
            kind: "sgd".into(),
            step: self.step,
            slots: vec![self.velocity.clone()],
        }
    }

    fn load_state(&mut self, mut state: OptimizerState) -> Result<()> {
        check_slots("sgd", 1, &self.velocity, &state)?;
        self.step = state.step;
        self.velocity = state.slots.swap_remove(0);
        Ok(())
    }
}

/// Adam (Kingma & Ba) with PyTorch defaults (β = 0.9, 0.999, ε = 1e-8) and either
/// coupled L2 weight decay as `torch.optim.Adam` ([`Adam::new`]) or decoupled weight
/// decay on weight matrices and kernels only, not on biases or batch-norm parameters
/// (AdamW, [`Adam::new_decoupled`]).
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
    /// Weight decay `λ`.
    pub weight_decay: f32,
    /// Decoupled (AdamW: `p ← p − lr·λ·p` on tensors of rank ≥ 2) instead of L2.
    pub decoupled: bool,
    step: u64,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl Adam {
    /// An optimiser for `model`'s parameters.
    pub fn new(model: &Model, lr: f32, weight_decay: f32) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            decoupled: false,
            step: 0,
            m: model.zero_grads(),
            v: model.zero_grads(),
        }
    }

    /// AdamW (Loshchilov & Hutter): decoupled weight decay, applied to weight tensors
    /// (rank ≥ 2) only.
    pub fn new_decoupled(model: &Model, lr: f32, weight_decay: f32) -> Self {
        Self {
            decoupled: true,
            ..Self::new(model, lr, weight_decay)
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

    fn name(&self) -> &'static str {
        if self.decoupled {
            "adamw"
        } else {
            "adam"
        }
    }

    fn settings(&self) -> OptimizerSettings {
        OptimizerSettings::Adam {
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
            decoupled: self.decoupled,
        }
    }

    fn step(&mut self, model: &mut Model, grads: &[Vec<f32>], scale: f32) {
        self.step += 1;
        // Past 2^31 steps β^t is 0 in f32 anyway: saturating is the exact answer.
        let t = i32::try_from(self.step).unwrap_or(i32::MAX);
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        let ranks: Vec<usize> = model.params().iter().map(|p| p.shape.len()).collect();
        for ((((p, g), m), v), rank) in model
            .params_mut()
            .zip(grads)
            .zip(&mut self.m)
            .zip(&mut self.v)
            .zip(ranks)
        {
            let (l2, decay) = match (self.decoupled, rank >= 2) {
                (false, _) => (self.weight_decay, 1.0),
                (true, true) => (0.0, 1.0 - self.lr * self.weight_decay),
                (true, false) => (0.0, 1.0),
            };
            for (((pv, gv), mv), vv) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                *pv *= decay;
                let gv = gv * scale + l2 * *pv;
                *mv = self.beta1 * *mv + (1.0 - self.beta1) * gv;
                *vv = self.beta2 * *vv + (1.0 - self.beta2) * gv * gv;
                let mhat = *mv / bc1;
                let vhat = *vv / bc2;
                *pv -= self.lr * mhat / (vhat.sqrt() + self.eps);
            }
        }
    }

    fn state(&self) -> OptimizerState {
        OptimizerState {
            kind: self.name().into(),
            step: self.step,
            slots: vec![self.m.clone(), self.v.clone()],
        }
    }

    fn load_state(&mut self, mut state: OptimizerState) -> Result<()> {
        check_slots(self.name(), 2, &self.m, &state)?;
        self.step = state.step;
        self.v = state.slots.swap_remove(1);
        self.m = state.slots.swap_remove(0);
        Ok(())
    }
}

/// A learning-rate schedule, evaluated per epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrSchedule {
    /// The base rate throughout.
    Constant,
    /// Multiply by `gamma` every `every` epochs.
    Step {
        /// Epochs between decays (≥ 1).
        every: usize,
        /// Decay factor.
        gamma: f32,
    },
    /// Multiply by `gamma` at each listed epoch (paper A: 0.1 at 150 and 225 of 300).
    MultiStep {
        /// Epochs (0-based) from which the next factor applies.
        milestones: [usize; 2],
        /// Decay factor.
        gamma: f32,
    },
    /// Cosine annealing from the base rate to 0 over the run.
    Cosine,
}

impl LrSchedule {
    /// Learning rate at `progress` epochs into a run of `total_epochs` (fractional: the
    /// trainer calls it before every mini-batch), after a linear warm-up from 0 over the
    /// first `warmup` epochs. Step schedules change at whole epochs; cosine is smooth.
    pub fn lr_at(&self, base: f32, progress: f64, total_epochs: usize, warmup: f64) -> f32 {
        let after = if let LrSchedule::Cosine = self {
            let t = (progress / total_epochs.max(1) as f64).clamp(0.0, 1.0);
            base * (0.5 * (1.0 + (std::f64::consts::PI * t).cos())) as f32
        } else {
            self.lr(base, progress.max(0.0) as usize, total_epochs)
        };
        if warmup > 0.0 && progress < warmup {
            after * (progress / warmup) as f32
        } else {
            after
        }
    }

    /// Learning rate for 0-based `epoch` of `total_epochs`.
    pub fn lr(&self, base: f32, epoch: usize, total_epochs: usize) -> f32 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Step { every, gamma } => {
                let k = epoch / every.max(1);
                // Saturating: γ^k for k ≥ 2^31 is already 0 (or 1, or ∞) in f32.
                base * gamma.powi(i32::try_from(k).unwrap_or(i32::MAX))
            }
            LrSchedule::MultiStep { milestones, gamma } => {
                let k = milestones.iter().filter(|&&m| epoch >= m).count();
                base * gamma.powi(i32::try_from(k).expect("k counts the two milestones"))
            }
            LrSchedule::Cosine => {
                let t = epoch as f32 / total_epochs.max(1) as f32;
                base * 0.5 * (1.0 + (std::f32::consts::PI * t).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        assert_eq!(LrSchedule::Constant.lr(0.1, 7, 10), 0.1);
        let s = LrSchedule::Step {
            every: 2,
            gamma: 0.5,
        };
        assert_eq!(s.lr(1.0, 0, 10), 1.0);
        assert_eq!(s.lr(1.0, 3, 10), 0.5);
        assert_eq!(s.lr(1.0, 4, 10), 0.25);
        let m = LrSchedule::MultiStep {
            milestones: [150, 225],
            gamma: 0.1,
        };
        assert!((m.lr(0.1, 149, 300) - 0.1).abs() < 1e-9);
        assert!((m.lr(0.1, 150, 300) - 0.01).abs() < 1e-9);
        assert!((m.lr(0.1, 299, 300) - 0.001).abs() < 1e-9);
        let c = LrSchedule::Cosine;
        assert!((c.lr(1.0, 0, 10) - 1.0).abs() < 1e-6);
        assert!((c.lr(1.0, 5, 10) - 0.5).abs() < 1e-6);
        assert!(c.lr(1.0, 9, 10) < 0.03);
        // Per-step: cosine is smooth, warm-up is linear from 0.
        assert!((c.lr_at(1.0, 5.0, 10, 0.0) - 0.5).abs() < 1e-6);
        assert!(c.lr_at(1.0, 5.5, 10, 0.0) < c.lr_at(1.0, 5.25, 10, 0.0));
        assert!((c.lr_at(2.0, 0.25, 10, 0.5) - 1.0).abs() < 0.02);
        assert_eq!(s.lr_at(1.0, 3.9, 10, 0.0), 0.5);
    }

    #[test]
    fn adamw_decays_weights_only() {
        use crate::model::{Architecture, ModelConfig};
        let mut m = Model::new(&ModelConfig::new(Architecture::HeCnn, [1, 28, 28]), 0).unwrap();
        let before = m.params().to_vec();
        let zero: Vec<Vec<f32>> = m.zero_grads();
        let mut opt = Adam::new_decoupled(&m, 0.1, 0.5);
        opt.step(&mut m, &zero, 1.0);
        for (a, b) in before.iter().zip(m.params()) {
            let factor = if a.shape.len() >= 2 { 0.95 } else { 1.0 };
            for (x, y) in a.value.iter().zip(&b.value) {
                assert!((x * factor - y).abs() < 1e-6, "{}", a.name);
            }
        }
        assert_eq!(opt.state().kind, "adamw");
    }
}
