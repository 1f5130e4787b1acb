//! The training state beyond weights and optimiser moments: step, data-order position per task,
//! random generators and the best result so far. Saved as `state.json` in each checkpoint;
//! together with the weights and moments it makes a resumed run continue exactly.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Named evaluation figures, e.g. `"entities/f1" → 0.91`.
pub type Metrics = BTreeMap<String, f64>;

/// The exact position of a ChaCha generator: key, stream and word position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    pub seed: [u8; 32],
    pub stream: u64,
    /// The word position (a `u128`), as decimal text: JSON numbers stop at 64 bits.
    pub word_pos: String,
}

impl RngState {
    pub fn capture(rng: &ChaCha8Rng) -> Self {
        RngState {
            seed: rng.get_seed(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    /// The generator at the saved position; `None` when `word_pos` is not a number.
    pub fn restore(&self) -> Option<ChaCha8Rng> {
        let pos = self.word_pos.parse::<u128>().ok()?;
        let mut rng = ChaCha8Rng::from_seed(self.seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(pos);
        Some(rng)
    }
}

/// Where a task's data order stands: which pass over its examples, and how many of that
/// pass's batches were already trained on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCursor {
    pub name: String,
    pub epoch: usize,
    pub position: usize,
}

/// The best evaluation so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    pub step: usize,
    pub metric: String,
    pub value: f64,
    pub metrics: Metrics,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimiser steps done.
    pub step: usize,
    /// Real (unpadded) tokens trained on.
    pub tokens: u64,
    pub tasks: Vec<TaskCursor>,
    /// Picks the task of each step.
    pub sampler_rng: RngState,
    /// Handed to the model for dropout masks.
    pub dropout_rng: RngState,
    /// The next task under round-robin sampling.
    pub next_task: usize,
    pub best: Option<Best>,
}
