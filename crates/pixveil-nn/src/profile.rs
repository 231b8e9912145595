//! Opt-in wall-clock profile of the Rust engine by layer kind and pass: where a training or
//! inference pass spends its time (`pixveil bench train --profile`).
//!
//! Per thread and off by default: [`enable`] turns it on for the passes the calling thread
//! runs (a disabled profile costs one thread-local read per layer call), so passes that other
//! threads run at the same time are not counted. When on, every leaf layer call
//! (convolution, linear, batch norm, activations, pooling) is timed around the whole call,
//! so the times are wall-clock and include the layer's own parallel work on the rayon pool;
//! a residual block is not timed itself (its layers are), so its elementwise sum falls into
//! the remainder. The loss (softmax cross-entropy and its gradient) and the optimizer step
//! are timed too.

use std::cell::{Cell, RefCell};
use std::time::Instant;

use crate::layer::Layer;

/// What was timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `Conv2d` (im2col + GEMM, and col2im in backward).
    Conv,
    /// `Linear`.
    Linear,
    /// `BatchNorm2d`.
    BatchNorm,
    /// `ReLU`.
    Relu,
    /// `x²`.
    Square,
    /// `MaxPool2d`.
    MaxPool,
    /// Global average pooling.
    AvgPool,
    /// Softmax cross-entropy and its gradient.
    Loss,
    /// The optimizer's update of every parameter.
    Optimizer,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 9] = [
        Kind::Conv,
        Kind::Linear,
        Kind::BatchNorm,
        Kind::Relu,
        Kind::Square,
        Kind::MaxPool,
        Kind::AvgPool,
        Kind::Loss,
        Kind::Optimizer,
    ];

    /// Short name for reports.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Conv => "conv",
            Kind::Linear => "linear",
            Kind::BatchNorm => "batchnorm",
            Kind::Relu => "relu",
            Kind::Square => "square",
            Kind::MaxPool => "maxpool",
            Kind::AvgPool => "avgpool",
            Kind::Loss => "loss",
            Kind::Optimizer => "optimizer",
        }
    }

    /// The kind of a leaf layer; `None` for a residual block (its layers are timed).
    pub(crate) fn of(layer: &Layer) -> Option<Kind> {
        Some(match layer {
            Layer::Conv2d { .. } => Kind::Conv,
            Layer::Linear { .. } => Kind::Linear,
            Layer::BatchNorm2d { .. } => Kind::BatchNorm,
            Layer::Relu => Kind::Relu,
            Layer::Square => Kind::Square,
            Layer::MaxPool2d { .. } => Kind::MaxPool,
            Layer::GlobalAvgPool => Kind::AvgPool,
            Layer::Residual { .. } => return None,
        })
    }
}

/// Forward or backward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pass {
    /// Forward (training or inference).
    Forward,
    /// Backward (gradients); the loss and the optimizer step count here.
    Backward,
}

impl Pass {
    /// `forward` or `backward`.
    pub const fn name(self) -> &'static str {
        match self {
            Pass::Forward => "forward",
            Pass::Backward => "backward",
        }
    }
}

const SLOTS: usize = Kind::ALL.len() * 2;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(false) };
    /// Per slot: (nanoseconds, calls).
    static TOTALS: RefCell<[(u64, u64); SLOTS]> = const { RefCell::new([(0, 0); SLOTS]) };
}

fn slot(kind: Kind, pass: Pass) -> usize {
    let k = Kind::ALL
        .iter()
        .position(|&x| x == kind)
        .expect("Kind::ALL lists every kind");
    k * 2 + usize::from(pass == Pass::Backward)
}

/// Turns the calling thread's profile on or off. Turning it on does not clear it: see
/// [`reset`].
pub fn enable(on: bool) {
    ENABLED.with(|e| e.set(on));
}

/// Whether the calling thread's profile is on.
pub fn enabled() -> bool {
    ENABLED.with(Cell::get)
}

/// Clears the calling thread's accumulated times.
pub fn reset() {
    TOTALS.with(|t| *t.borrow_mut() = [(0, 0); SLOTS]);
}

/// Runs `f`, adding its wall time to `kind`/`pass` when the profile is on.
pub(crate) fn time<R>(kind: Kind, pass: Pass, f: impl FnOnce() -> R) -> R {
    if !enabled() {
        return f();
    }
    let start = Instant::now();
    let r = f();
    let nanos =
        u64::try_from(start.elapsed().as_nanos()).expect("a layer call lasts less than 584 years");
    let s = slot(kind, pass);
    TOTALS.with(|t| {
        let mut t = t.borrow_mut();
        t[s].0 += nanos;
        t[s].1 += 1;
    });
    r
}

/// [`time`] for a layer: leaf layers are timed, residual blocks run untimed.
pub(crate) fn time_layer<R>(layer: &Layer, pass: Pass, f: impl FnOnce() -> R) -> R {
    match Kind::of(layer) {
        Some(kind) => time(kind, pass, f),
        None => f(),
    }
}

/// Runs `f` on a thread of rayon's current pool (inline when already on one), carrying the
/// calling thread's profile along: when it is on, `f`'s layer times land in the caller's
/// totals as if it had run there.
///
/// A model's pass makes one parallel call per layer; started from a thread outside the pool,
/// each would hand its work to the pool and sleep until it is done (a wake-up per layer, a
/// fifth of a small model's inference at one thread). Run from inside the pool, the calls
/// split their work in place.
pub(crate) fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    let on = enabled();
    let (r, totals) = rayon::scope(|_| {
        // The worker's own profile is saved and restored around `f`.
        let (was_on, was) = (enabled(), TOTALS.with(|t| *t.borrow()));
        enable(on);
        reset();
        let r = f();
        let totals = TOTALS.with(|t| *t.borrow());
        enable(was_on);
        TOTALS.with(|t| *t.borrow_mut() = was);
        (r, totals)
    });
    if on {
        TOTALS.with(|t| {
            for (acc, add) in t.borrow_mut().iter_mut().zip(totals) {
                acc.0 += add.0;
                acc.1 += add.1;
            }
        });
    }
    r
}

/// Accumulated time of one kind and pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// [`Kind::name`].
    pub kind: &'static str,
    /// Forward or backward.
    pub pass: Pass,
    /// Wall seconds.
    pub seconds: f64,
    /// Calls timed.
    pub calls: u64,
}

/// The calling thread's entries with at least one call, in [`Kind::ALL`] order, forward
/// before backward.
pub fn snapshot() -> Vec<Entry> {
    let totals = TOTALS.with(|t| *t.borrow());
    let mut out = Vec::new();
    for kind in Kind::ALL {
        for pass in [Pass::Forward, Pass::Backward] {
            let (nanos, calls) = totals[slot(kind, pass)];
            if calls > 0 {
                out.push(Entry {
                    kind: kind.name(),
                    pass,
                    seconds: nanos as f64 * 1e-9,
                    calls,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_moved_onto_the_pool_is_timed_for_the_caller() {
        reset();
        // Profile on, called from a thread outside any pool: `f` runs on the global pool and
        // its times are added here; the worker keeps its own (off) profile.
        enable(true);
        let idx = on_pool(|| time(Kind::Conv, Pass::Backward, rayon::current_thread_index));
        enable(false);
        assert!(idx.is_some(), "ran on a pool thread");
        let snap = snapshot();
        assert_eq!(snap.len(), 1, "{snap:?}");
        assert_eq!(
            (snap[0].kind, snap[0].pass, snap[0].calls),
            ("conv", Pass::Backward, 1)
        );
        let worker = rayon::scope(|_| (enabled(), snapshot()));
        assert_eq!(worker, (false, Vec::new()));
        // Profile off: nothing is added.
        reset();
        on_pool(|| time(Kind::Conv, Pass::Backward, || ()));
        assert!(snapshot().is_empty());
    }

    #[test]
    fn times_only_when_enabled_and_resets() {
        reset();
        assert_eq!(time(Kind::Conv, Pass::Forward, || 3), 3);
        assert!(snapshot().is_empty(), "off by default");
        enable(true);
        time(Kind::Conv, Pass::Forward, || {
            std::thread::sleep(std::time::Duration::from_millis(2))
        });
        time(Kind::Conv, Pass::Forward, || ());
        time_layer(&Layer::Relu, Pass::Backward, || ());
        let residual = Layer::Residual {
            body: vec![],
            shortcut: vec![],
        };
        time_layer(&residual, Pass::Forward, || ());
        enable(false);
        let snap = snapshot();
        assert_eq!(snap.len(), 2, "{snap:?}");
        assert_eq!(
            (snap[0].kind, snap[0].pass, snap[0].calls),
            ("conv", Pass::Forward, 2)
        );
        assert!(snap[0].seconds >= 0.002, "{snap:?}");
        assert_eq!(
            (snap[1].kind, snap[1].pass, snap[1].calls),
            ("relu", Pass::Backward, 1)
        );
        reset();
        assert!(snapshot().is_empty());
        // Another thread's profile is its own.
        enable(true);
        std::thread::spawn(|| time(Kind::Loss, Pass::Backward, || ()))
            .join()
            .expect("thread runs");
        enable(false);
        assert!(snapshot().is_empty());
    }
}
