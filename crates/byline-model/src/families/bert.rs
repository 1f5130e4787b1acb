//! BERT's layer stack: embeddings, then post-LayerNorm layers of attention and a feed-forward
//! block.
//!
//! Port of `BertModel` without the pooler (`transformers/models/bert/modeling_bert.py`); weight
//! names follow its state dict (`embeddings.*`, `encoder.layer.N.*`). DistilBERT, RoBERTa,
//! XLM-RoBERTa and ELECTRA run this stack too, under the names [`crate::family`] maps.

use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;

use crate::attention::Attention;
use crate::config::{Config, HiddenAct};
use crate::embeddings::Embeddings;
use crate::kernels::activation::{activation, bias_gelu_erf};
use crate::kernels::dropout::dropout;
use crate::kernels::layer_norm::LayerNorm;
use crate::kernels::quant::Quantization;
use crate::linear::Linear;

/// One transformer layer: attention, then the feed-forward block (`intermediate` + `output`).
#[derive(Debug, Clone)]
pub struct Layer {
    attention: Attention,
    intermediate: Linear,
    output: Linear,
    layer_norm: LayerNorm,
    act: HiddenAct,
    dropout: f32,
}

impl Layer {
    /// `vb` points at `encoder.layer.N`.
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(Self {
            attention: Attention::load(vb.pp("attention"), cfg)?,
            intermediate: Linear::load(vb.pp("intermediate").pp("dense"), h, i)?,
            output: Linear::load(vb.pp("output").pp("dense"), i, h)?,
            layer_norm: LayerNorm::load(vb.pp("output").pp("LayerNorm"), h, cfg.layer_norm_eps)?,
            act: cfg.hidden_act,
            dropout: cfg.hidden_dropout_prob,
        })
    }

    /// An inference copy whose dense layers compute in `q`.
    pub fn quantize(&self, q: Quantization) -> Result<Self> {
        Ok(Self {
            attention: self.attention.quantize(q)?,
            intermediate: self.intermediate.quantize(q)?,
            output: self.output.quantize(q)?,
            ..self.clone()
        })
    }

    /// (batch, seq, hidden) -> (batch, seq, hidden).
    pub fn forward(&self, xs: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor> {
        let xs = self.attention.forward(xs, mask, train)?;
        let out = feed_forward(&self.intermediate, &self.output, self.act, &xs)?;
        let out = dropout(&out, self.dropout, train)?;
        self.layer_norm.forward(&(out + xs)?)
    }
}

/// `output(act(intermediate(xs)))`, with the bias add fused into the exact GELU.
pub(crate) fn feed_forward(
    intermediate: &Linear,
    output: &Linear,
    act: HiddenAct,
    xs: &Tensor,
) -> Result<Tensor> {
    let inner = match act {
        HiddenAct::Gelu => bias_gelu_erf(&intermediate.forward_no_bias(xs)?, intermediate.bias())?,
        act => activation(&intermediate.forward(xs)?, act)?,
    }; // (batch, seq, inter)
    output.forward(&inner)
}

/// Embeddings and layers.
#[derive(Debug, Clone)]
pub struct Bert {
    embeddings: Embeddings,
    layers: Vec<Layer>,
}

impl Bert {
    /// `vb` points at the model root (no `bert.` prefix).
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let embeddings = Embeddings::load(vb.pp("embeddings"), cfg)?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|n| Layer::load(vb.pp("encoder").pp("layer").pp(n), cfg))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { embeddings, layers })
    }

    pub fn quantize(&self, q: Quantization) -> Result<Self> {
        let layers = self
            .layers
            .iter()
            .map(|l| l.quantize(q))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            layers,
            ..self.clone()
        })
    }

    /// See [`crate::Encoder::forward`]; `mask` is additive, (batch, seq).
    pub fn forward(
        &self,
        input_ids: &Tensor,
        casing_ids: &Tensor,
        mask: &Tensor,
        compute: DType,
        train: bool,
    ) -> Result<Tensor> {
        let mut xs = self
            .embeddings
            .forward(input_ids, casing_ids, train)?
            .to_dtype(compute)?;
        for layer in &self.layers {
            xs = layer.forward(&xs, mask, train)?;
        }
        Ok(xs)
    }

    /// The word-embedding table (its dtype and device are the encoder's).
    pub fn word_table(&self) -> &Tensor {
        self.embeddings.word_table()
    }
}
