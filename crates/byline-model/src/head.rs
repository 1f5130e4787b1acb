//! A tagging head: dropout, a linear layer to one score per tag, and a decoder (CRF or softmax).
//!
//! Weights live under `heads.<name>.`: `classifier.weight` (tags, hidden), `classifier.bias`
//! (tags,) and, with a CRF, `crf.transitions`, `crf.start_transitions`, `crf.end_transitions`.
//! They are created through the [`VarBuilder`] so a trainer's `VarMap` holds (and saves) them.

use byline_core::TagSet;
use candle_core::Tensor;
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::chain::{Chain, Decoded};
use crate::crf::Crf;
use crate::error::{Error, Result};
use crate::linear::Linear;
use crate::loss::cross_entropy;
use crate::tag_batch::TagBatch;

/// How a head scores and decodes tag sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecoderKind {
    /// Linear-chain CRF: learnt transitions, sequence-level loss, Viterbi with the learnt scores.
    #[default]
    Crf,
    /// Per-word softmax cross-entropy; Viterbi over the per-word scores with only the scheme's
    /// rules as transitions. Cheaper to train.
    Softmax,
}

/// The configuration of one head, as saved with a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadConfig {
    /// Weight prefix `heads.<name>.`: non-empty, no `.`.
    pub name: String,
    /// Dropout on the word vectors during training, in `[0, 1)`.
    #[serde(default = "default_dropout")]
    pub dropout: f32,
    #[serde(default)]
    pub decoder: DecoderKind,
}

fn default_dropout() -> f32 {
    0.1
}

impl HeadConfig {
    pub fn new(name: impl Into<String>, decoder: DecoderKind) -> Self {
        Self {
            name: name.into(),
            dropout: default_dropout(),
            decoder,
        }
    }

    fn validate(&self) -> Result<()> {
        let message = if self.name.is_empty() || self.name.contains('.') {
            "a head name must be non-empty and contain no `.`".to_string()
        } else if !(0.0..1.0).contains(&self.dropout) {
            format!("dropout {} is not in [0, 1)", self.dropout)
        } else {
            return Ok(());
        };
        Err(Error::InvalidHead {
            name: self.name.clone(),
            message,
        })
    }
}

/// The decoder of a head, with its parameters.
#[derive(Debug, Clone)]
pub enum Decoder {
    Crf(Crf),
    /// The scheme's rules only (zero scores on allowed edges).
    Softmax(Chain),
}

#[derive(Debug, Clone)]
pub struct TaggerHead {
    config: HeadConfig,
    tags: TagSet,
    classifier: Linear,
    decoder: Decoder,
}

impl TaggerHead {
    /// Loads or creates the head's weights under `heads.<name>.` of `vb` (the root builder).
    pub fn load(
        vb: VarBuilder,
        config: &HeadConfig,
        hidden_size: usize,
        tags: &TagSet,
    ) -> Result<Self> {
        config.validate()?;
        let vb = vb.pp("heads").pp(&config.name);
        let classifier = Linear::load(vb.pp("classifier"), hidden_size, tags.len())?;
        let decoder = match config.decoder {
            DecoderKind::Crf => Decoder::Crf(Crf::load(vb.pp("crf"), tags)?),
            DecoderKind::Softmax => Decoder::Softmax(Chain::constrained(tags)),
        };
        Ok(Self {
            config: config.clone(),
            tags: tags.clone(),
            classifier,
            decoder,
        })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn config(&self) -> &HeadConfig {
        &self.config
    }

    pub fn tag_set(&self) -> &TagSet {
        &self.tags
    }

    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Tag scores of each word: `words` (batch, words, hidden) -> (batch, words, tags).
    /// Dropout applies only when `train`.
    pub fn forward(&self, words: &Tensor, train: bool) -> Result<Tensor> {
        let words = crate::dropout::dropout(words, self.config.dropout, train)?;
        self.classifier.forward(&words).map_err(Error::from) // (batch, words, tags)
    }

    /// The training loss (mean per real word) of `emissions` from [`TaggerHead::forward`].
    pub fn loss(&self, emissions: &Tensor, gold: &TagBatch) -> Result<Tensor> {
        if gold.num_tags() != self.tags.len() {
            return Err(Error::Shape {
                what: "gold tag set".into(),
                found: vec![gold.num_tags()],
                expected: vec![self.tags.len()],
            });
        }
        match &self.decoder {
            Decoder::Crf(crf) => crf.nll(emissions, gold),
            Decoder::Softmax(_) => cross_entropy(emissions, gold),
        }
    }

    /// Best valid tag sequence of each of the batch's sequences (`lengths[b]` real words).
    pub fn decode(&self, emissions: &Tensor, lengths: &[usize]) -> Result<Vec<Decoded>> {
        match &self.decoder {
            Decoder::Crf(crf) => crf.decode(emissions, lengths),
            Decoder::Softmax(chain) => chain.decode_batch(emissions, lengths),
        }
    }
}
