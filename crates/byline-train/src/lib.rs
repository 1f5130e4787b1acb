//! # byline-train
//!
//! byline's training machinery, independent of the model: a [`TrainConfig`] read from TOML,
//! [`AdamW`](optim::AdamW) with savable state, gradient clipping and a linear warm-up/decay
//! schedule, atomic [`Checkpoints`] with exact resume, and the multi-task [`Trainer`] loop with
//! length-bucketed batches, evaluation, best-model keeping and JSON-lines events.
//!
//! A model takes part by implementing [`Trainable`]: named parameters in two groups (encoder,
//! heads), collation of its own examples, and a loss per task with dropout drawn from the
//! trainer's seeded generator.
//!
//! ```text
//! <output_dir>/config.toml      the resolved config
//! <output_dir>/metrics.jsonl    one event per line: start, step, eval, checkpoint, done
//! <output_dir>/checkpoints/     step-NNNNNNNN/ and `latest`
//! <output_dir>/best/            the best model (Trainable::save) and best.json
//! ```

mod atomic;
pub mod batching;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod linker;
pub mod optim;
pub mod progress;
pub mod state;
pub mod tagging;
pub mod timing;
pub mod trainable;
pub mod trainer;

pub use batching::BatchPlan;
pub use checkpoint::{read_best, save_best, Checkpoints};
pub use config::{
    BestMode, LinkerSpans, Precision, TaskConfig, TaskSampling, TrainConfig, TrainDevice,
};
pub use error::{Error, OutOfMemory, Result};
pub use optim::{AdamW, AdamWConfig, LinearSchedule};
pub use progress::{Event, JsonLines, Progress, Silent, StepEvent, Summary};
pub use state::{Best, Metrics, TrainState};
pub use tagging::{evaluate, prepare, Prepared, TaskData};
pub use timing::Timings;
pub use trainable::{load_params, save_params, Param, ParamGroup, Trainable};
pub use trainer::Trainer;
