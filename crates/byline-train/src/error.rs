//! Errors of byline-train. Errors that come from a file name the file (and, for a config, the
//! 1-based line and the key).

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{path}: {source}", path = .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A training config that does not parse or does not fit [`crate::TrainConfig`]: an unknown
    /// key, a wrong type, a bad value. `line` is 1-based; `key` is the offending key where known.
    #[error(
        "{path}{}: {message}{}",
        line.map(|l| format!(":{l}")).unwrap_or_default(),
        key.as_ref().map(|k| format!(" (key `{k}`)")).unwrap_or_default(),
        path = .path.display()
    )]
    Config {
        path: PathBuf,
        line: Option<usize>,
        key: Option<String>,
        message: String,
    },

    /// A `key=value` override (from the command line) that names no field or does not fit it.
    #[error("override `{key}`: {message}")]
    Override { key: String, message: String },

    /// A config that parsed but cannot be trained with (no tasks, zero batch size, ...).
    #[error("invalid training config: {0}")]
    Invalid(String),

    /// A checkpoint or run directory that is missing pieces or does not match the model.
    #[error("{path}: {message}", path = .path.display())]
    Checkpoint { path: PathBuf, message: String },

    #[error("{path}: {source}", path = .path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// A model reference (`model_dir`, `init_from`) that names no folder and cannot be fetched
    /// from the hub.
    #[error(transparent)]
    Hub(#[from] byline_hub::Error),

    /// The evaluation callback failed.
    #[error("evaluation failed: {0}")]
    Eval(String),

    /// The loss became NaN or infinite.
    #[error("step {step}: loss of task `{task}` is {loss}; training diverged")]
    Diverged {
        step: usize,
        task: String,
        loss: f32,
    },

    /// A training batch did not fit in the device's memory (CUDA reports it as an error; the
    /// CPU allocator aborts instead). Names the batch and the config keys that size it.
    #[error(transparent)]
    OutOfMemory(Box<OutOfMemory>),

    /// An error from the model's own code (collation, loss), kept as the source.
    #[error("model: {0}")]
    Model(#[source] Box<dyn std::error::Error + Send + Sync>),

    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// What [`Error::OutOfMemory`] says: the step, the batch, and the config keys that size it.
#[derive(Debug, thiserror::Error)]
#[error(
    "step {step}: a batch of task `{task}` ({examples} examples, {tokens} subwords) does not fit \
     in {device} memory; lower `batch_size` (now {batch_size}) or `max_batch_tokens` (now \
     {max_batch_tokens}) in the training config ({detail})",
    max_batch_tokens = .max_batch_tokens.map_or_else(|| "unset".to_string(), |t| t.to_string())
)]
pub struct OutOfMemory {
    pub step: usize,
    pub task: String,
    pub examples: usize,
    pub tokens: usize,
    pub device: String,
    pub batch_size: usize,
    pub max_batch_tokens: Option<usize>,
    /// The device's own message.
    pub detail: String,
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps an error of the model crate.
    pub fn model(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Model(Box::new(source))
    }

    /// Whether this error, or one it wraps, is a device running out of memory: CUDA's
    /// `CUDA_ERROR_OUT_OF_MEMORY` from an allocation or a launch, cuBLAS's
    /// `CUBLAS_STATUS_ALLOC_FAILED`, or a message saying "out of memory".
    pub fn is_out_of_memory(&self) -> bool {
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(err) = current {
            let text = err.to_string();
            if text.contains("OUT_OF_MEMORY")
                || text.contains("ALLOC_FAILED")
                || text.to_ascii_lowercase().contains("out of memory")
            {
                return true;
            }
            current = err.source();
        }
        false
    }

    pub(crate) fn checkpoint(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Checkpoint {
            path: path.into(),
            message: message.into(),
        }
    }
}
