//! Training events and where they go: every event is appended to `metrics.jsonl` in the run
//! directory, and handed to a [`Progress`] reporter. This crate has two reporters: [`Silent`]
//! and [`JsonLines`] (one JSON object per line, for machines and non-TTY stderr). The progress
//! bar for terminals lives in byline-cli, the one crate that draws on a terminal, so this crate
//! needs no terminal dependency and no feature switch; the CLI implements [`Progress`] with
//! indicatif (loss, tokens/s and the ETA all come in [`StepEvent`]).

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::state::{Best, Metrics};
use crate::timing::Timings;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StartEvent {
    /// The step training starts after (0, or the resumed checkpoint's).
    pub step: usize,
    pub total_steps: usize,
    /// Batches in one pass over every task's training data.
    pub steps_per_epoch: usize,
    pub resumed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepEvent {
    /// Steps done, this one included (1-based).
    pub step: usize,
    pub total_steps: usize,
    /// Fractional epochs done: `step / steps_per_epoch`.
    pub epoch: f64,
    pub task: String,
    pub loss: f64,
    /// The encoder's learning rate used for this step.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Real (unpadded) tokens in the batch.
    pub tokens: usize,
    /// Examples in the batch.
    pub examples: usize,
    /// Real tokens per second of this step (data, forward, backward, optimiser).
    pub tokens_per_s: f64,
    /// Seconds since this process started training.
    pub elapsed_s: f64,
    /// Estimated seconds to the last step, from this process's mean step time so far.
    pub eta_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalEvent {
    pub step: usize,
    pub metrics: Metrics,
    /// Whether this evaluation is the best so far (and was saved to `best/`).
    pub is_best: bool,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckpointEvent {
    pub step: usize,
    pub path: PathBuf,
}

/// What [`crate::Trainer::run`] returns, and the last event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub step: usize,
    pub total_steps: usize,
    /// Real tokens trained on, over the whole run (resumed parts included).
    pub tokens: u64,
    /// Loss of the last step this process ran, if any.
    pub last_loss: Option<f64>,
    pub best: Option<Best>,
    /// Where this process's time went.
    pub timings: Timings,
    /// Most device memory in use after any step of this process, in MiB, as the CUDA driver
    /// reports it for the whole device (`cuMemGetInfo`: total minus free); absent on the CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_device_memory_mib: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Start(StartEvent),
    Step(StepEvent),
    Eval(EvalEvent),
    Checkpoint(CheckpointEvent),
    Done(Summary),
}

impl Event {
    /// The step the event belongs to.
    pub fn step(&self) -> usize {
        match self {
            Event::Start(e) => e.step,
            Event::Step(e) => e.step,
            Event::Eval(e) => e.step,
            Event::Checkpoint(e) => e.step,
            Event::Done(e) => e.step,
        }
    }
}

/// Receives training events as they happen.
pub trait Progress {
    fn event(&mut self, event: &Event);
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn event(&mut self, _: &Event) {}
}

/// Writes each event as one line of JSON, e.g. to stderr when it is not a terminal.
#[derive(Debug)]
pub struct JsonLines<W: Write> {
    out: W,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines { out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl JsonLines<std::io::Stderr> {
    pub fn stderr() -> Self {
        JsonLines::new(std::io::stderr())
    }
}

impl<W: Write> Progress for JsonLines<W> {
    fn event(&mut self, event: &Event) {
        // Progress is best effort: a closed pipe must not stop training.
        if let Ok(line) = serde_json::to_string(event) {
            let _ = writeln!(self.out, "{line}").and_then(|()| self.out.flush());
        }
    }
}

impl<P: Progress + ?Sized> Progress for &mut P {
    fn event(&mut self, event: &Event) {
        (**self).event(event)
    }
}
