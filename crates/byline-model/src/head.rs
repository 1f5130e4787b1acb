//! A tagging head: dropout, a linear layer to one score per tag, and a decoder (CRF or softmax).
//!
//! Weights live under `heads.<name>.`: `classifier.weight` (tags, hidden), `classifier.bias`
//! (tags,) and, with a CRF, `crf.transitions`, `crf.start_transitions`, `crf.end_transitions`.
//! They are created through the [`VarBuilder`] so a trainer's `VarMap` holds (and saves) them.

use std::collections::BTreeMap;

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
    /// Added at prediction time to the scores of every tag of a label (label name -> value):
    /// above 0 the head predicts that label more often (recall for precision), below less.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub decode_bias: BTreeMap<String, f32>,
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
            decode_bias: BTreeMap::new(),
        }
    }

    fn validate(&self) -> Result<()> {
        let message = if self.name.is_empty() || self.name.contains('.') {
            "a head name must be non-empty and contain no `.`".to_string()
        } else if !(0.0..1.0).contains(&self.dropout) {
            format!("dropout {} is not in [0, 1)", self.dropout)
        } else if let Some((label, v)) = self.decode_bias.iter().find(|(_, v)| !v.is_finite()) {
            format!("decode bias {v} of `{label}` is not a finite number")
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
    /// `config.decode_bias` per tag (tags,), when any.
    bias: Option<Tensor>,
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
        let bias = bias_tensor(config, tags, vb.device(), vb.dtype())?;
        Ok(Self {
            config: config.clone(),
            tags: tags.clone(),
            classifier,
            decoder,
            bias,
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

    /// Replaces the head's [`HeadConfig::decode_bias`].
    pub fn set_decode_bias(&mut self, bias: BTreeMap<String, f32>) -> Result<()> {
        let config = HeadConfig {
            decode_bias: bias,
            ..self.config.clone()
        };
        config.validate()?;
        let weight = self.classifier.weight();
        self.bias = bias_tensor(&config, &self.tags, weight.device(), weight.dtype())?;
        self.config = config;
        Ok(())
    }

    /// Tag scores of each word: `words` (batch, words, hidden) -> (batch, words, tags).
    /// Dropout applies only when `train`.
    pub fn forward(&self, words: &Tensor, train: bool) -> Result<Tensor> {
        let words = crate::kernels::dropout::dropout(words, self.config.dropout, train)?;
        let emissions = self.classifier.forward(&words)?; // (batch, words, tags)
        match &self.bias {
            Some(bias) if !train => Ok(emissions.broadcast_add(bias)?),
            _ => Ok(emissions),
        }
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

    /// The chain its decoding runs on (the CRF's learnt scores, or the scheme's rules), for
    /// decoding emissions already on the host, such as a document's averaged over windows.
    pub fn chain(&self) -> Result<Chain> {
        match &self.decoder {
            Decoder::Crf(crf) => crf.chain(),
            Decoder::Softmax(chain) => Ok(chain.clone()),
        }
    }
}

/// `config.decode_bias` spread over the tags of `tags`: a (tags,) tensor, or `None` when empty.
fn bias_tensor(
    config: &HeadConfig,
    tags: &TagSet,
    device: &candle_core::Device,
    dtype: candle_core::DType,
) -> Result<Option<Tensor>> {
    if config.decode_bias.is_empty() {
        return Ok(None);
    }
    let mut per_tag = vec![0f32; tags.len()];
    for (label, &value) in &config.decode_bias {
        let id = tags.labels().id(label).ok_or_else(|| Error::InvalidHead {
            name: config.name.clone(),
            message: format!("decode bias for `{label}`, which is not one of its labels"),
        })?;
        for (i, b) in per_tag.iter_mut().enumerate() {
            if tags.tag(i).and_then(|t| t.label()) == Some(id) {
                *b = value;
            }
        }
    }
    Ok(Some(Tensor::new(per_tag, device)?.to_dtype(dtype)?))
}
