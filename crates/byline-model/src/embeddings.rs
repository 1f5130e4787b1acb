//! Input embeddings: word + position + token type + casing, then LayerNorm and dropout.
//!
//! Port of `BertEmbeddings` in `transformers/models/bert/modeling_bert.py`, plus byline's casing
//! table (`casing_embeddings`), zero-initialised so that an untrained casing table leaves the
//! pretrained encoder's output unchanged.

use candle_core::{bail, Result, Tensor, D};
use candle_nn::{Init, VarBuilder};

use crate::casing::Casing;
use crate::config::Config;
use crate::kernels::dropout::dropout;
use crate::kernels::layer_norm::LayerNorm;

/// Name of the word-embedding table in the Hugging Face state dict.
pub const WORD_EMBEDDINGS: &str = "embeddings.word_embeddings.weight";
/// Name of the token-type table in the Hugging Face state dict.
pub const TOKEN_TYPE_EMBEDDINGS: &str = "embeddings.token_type_embeddings.weight";
/// Name of byline's casing table (not in Hugging Face checkpoints).
pub const CASING_EMBEDDINGS: &str = "embeddings.casing_embeddings.weight";

#[derive(Debug, Clone)]
pub struct Embeddings {
    /// (vocab, hidden)
    word: Tensor,
    /// (max_positions, hidden)
    position: Tensor,
    /// (type_vocab, hidden); byline encodes single sequences, so only row 0 is used.
    token_type: Tensor,
    /// (Casing::COUNT, hidden)
    casing: Tensor,
    layer_norm: LayerNorm,
    dropout: f32,
    /// The first position id (RoBERTa's padding index plus one; else 0).
    position_offset: usize,
    /// ELECTRA's projection from the embedding size to the hidden size, when they differ.
    project: Option<crate::linear::Linear>,
}

impl Embeddings {
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let h = cfg.embedding_size();
        let normal = Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let table =
            |name: &str, rows: usize| vb.pp(name).get_with_hints((rows, h), "weight", normal);
        Ok(Self {
            word: table("word_embeddings", cfg.vocab_size)?,
            position: table("position_embeddings", cfg.max_position_embeddings)?,
            token_type: table("token_type_embeddings", cfg.type_vocab_size)?,
            casing: vb.pp("casing_embeddings").get_with_hints(
                (Casing::COUNT, h),
                "weight",
                Init::Const(0.0),
            )?,
            layer_norm: LayerNorm::load(vb.pp("LayerNorm"), h, cfg.layer_norm_eps)?,
            dropout: cfg.hidden_dropout_prob,
            position_offset: cfg.position_offset(),
            project: (h != cfg.hidden_size)
                .then(|| crate::linear::Linear::load(vb.pp("project"), h, cfg.hidden_size))
                .transpose()?,
        })
    }

    /// The word-embedding table, (vocab, embedding size).
    pub(crate) fn word_table(&self) -> &Tensor {
        &self.word
    }

    /// `input_ids`, `casing_ids`: (batch, seq) u32 -> (batch, seq, hidden).
    pub fn forward(&self, input_ids: &Tensor, casing_ids: &Tensor, train: bool) -> Result<Tensor> {
        let (batch, seq) = input_ids.dims2()?;
        if casing_ids.dims2()? != (batch, seq) {
            bail!(
                "casing ids {:?} do not match input ids {:?}",
                casing_ids.shape(),
                input_ids.shape()
            )
        }
        let max = self.position.dim(0)?.saturating_sub(self.position_offset);
        if seq > max {
            bail!("sequence of {seq} tokens is longer than the model's {max} positions")
        }
        let hidden = self.word.dim(D::Minus1)?;
        let words = self.word.embedding(&input_ids.flatten_all()?)?; // (batch * seq, hidden)
        let casing = self.casing.embedding(&casing_ids.flatten_all()?)?; // (batch * seq, hidden)
                                                                         // Position and token-type rows are the same for every sequence: add them once, (seq, hidden).
        let fixed = self
            .position
            .narrow(0, self.position_offset, seq)?
            .broadcast_add(&self.token_type.get(0)?)?;
        let xs = (words + casing)?
            .reshape((batch, seq, hidden))?
            .broadcast_add(&fixed)?; // (batch, seq, hidden)
        let xs = self.layer_norm.forward(&xs)?;
        let xs = dropout(&xs, self.dropout, train)?;
        match &self.project {
            Some(p) => p.forward(&xs), // (batch, seq, hidden)
            None => Ok(xs),
        }
    }
}
