//! Multi-head self-attention with its output projection, residual and LayerNorm.
//!
//! Port of `BertSelfAttention` + `BertSelfOutput` (`transformers/models/bert/modeling_bert.py`).
//! Heads are flattened into the batch, so both products are single batched GEMMs over
//! (batch * heads) matrices.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use crate::config::Config;
use crate::dropout::dropout;
use crate::layer_norm::LayerNorm;
use crate::linear::Linear;
use crate::softmax::masked_softmax;

#[derive(Debug, Clone)]
pub struct Attention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    layer_norm: LayerNorm,
    heads: usize,
    head_dim: usize,
    attention_dropout: f32,
    hidden_dropout: f32,
}

impl Attention {
    /// `vb` points at `encoder.layer.N.attention`.
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let h = cfg.hidden_size;
        let sa = vb.pp("self");
        let out = vb.pp("output");
        Ok(Self {
            query: Linear::load(sa.pp("query"), h, h)?,
            key: Linear::load(sa.pp("key"), h, h)?,
            value: Linear::load(sa.pp("value"), h, h)?,
            output: Linear::load(out.pp("dense"), h, h)?,
            layer_norm: LayerNorm::load(out.pp("LayerNorm"), h, cfg.layer_norm_eps)?,
            heads: cfg.num_attention_heads,
            head_dim: cfg.head_dim(),
            attention_dropout: cfg.attention_probs_dropout_prob,
            hidden_dropout: cfg.hidden_dropout_prob,
        })
    }

    /// (batch, seq, hidden) -> (batch * heads, seq, head_dim), contiguous.
    fn split_heads(&self, xs: &Tensor, batch: usize, seq: usize) -> Result<Tensor> {
        xs.reshape((batch, seq, self.heads, self.head_dim))?
            .transpose(1, 2)? // (batch, heads, seq, head_dim)
            .contiguous()?
            .reshape((batch * self.heads, seq, self.head_dim))
    }

    /// `xs`: (batch, seq, hidden); `mask`: (batch, seq) additive (0 real, large negative pad).
    pub fn forward(&self, xs: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor> {
        let (batch, seq, hidden) = xs.dims3()?;
        let q = self.split_heads(&self.query.forward(xs)?, batch, seq)?; // (b*h, seq, d)
        let k = self.split_heads(&self.key.forward(xs)?, batch, seq)?; // (b*h, seq, d)
        let v = self.split_heads(&self.value.forward(xs)?, batch, seq)?; // (b*h, seq, d)
        let scores = q.matmul(&k.t()?)?; // (b*h, seq, seq)
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let probs = masked_softmax(&scores, mask, self.heads, scale)?;
        let probs = dropout(&probs, self.attention_dropout, train)?;
        let context = probs
            .matmul(&v)? // (b*h, seq, d)
            .reshape((batch, self.heads, seq, self.head_dim))?
            .transpose(1, 2)? // (batch, seq, heads, d)
            .contiguous()?
            .reshape((batch, seq, hidden))?;
        let out = dropout(&self.output.forward(&context)?, self.hidden_dropout, train)?;
        self.layer_norm.forward(&(out + xs)?)
    }
}
