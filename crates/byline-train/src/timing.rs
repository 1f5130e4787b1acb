//! Where training time goes, accumulated per phase; reported at the end of a run and read by
//! benchmarks.

use std::time::Instant;

use serde::Serialize;

/// Seconds spent per phase by this process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timings {
    /// Collating batches.
    pub data_s: f64,
    /// Forward pass and loss.
    pub forward_s: f64,
    /// `loss.backward()`.
    pub backward_s: f64,
    /// Gradient norm, clipping and the AdamW update.
    pub optimizer_s: f64,
    /// The evaluation callback.
    pub eval_s: f64,
    /// Writing checkpoints and the best model.
    pub checkpoint_s: f64,
    /// Optimiser steps timed.
    pub steps: usize,
}

impl Timings {
    /// Seconds of the training steps proper (data, forward, backward, optimiser).
    pub fn step_s(&self) -> f64 {
        self.data_s + self.forward_s + self.backward_s + self.optimizer_s
    }

    pub fn total_s(&self) -> f64 {
        self.step_s() + self.eval_s + self.checkpoint_s
    }
}

/// Runs `f` and adds its duration to `slot`.
pub(crate) fn timed<T>(slot: &mut f64, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    *slot += start.elapsed().as_secs_f64();
    out
}
