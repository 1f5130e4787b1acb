//! Multi-head self-attention with its output projection, residual and LayerNorm.
//!
//! Port of `BertSelfAttention` + `BertSelfOutput` (`transformers/models/bert/modeling_bert.py`).
//! Q, K and V are one GEMM over the stacked weights; the attention itself is
//! [`crate::kernels::attention_core::attention`], which reads the heads straight out of that projection.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use crate::config::Config;
use crate::kernels::attention_core::attention;
use crate::kernels::dropout::dropout;
use crate::kernels::layer_norm::LayerNorm;
use crate::kernels::quant::Quantization;
use crate::linear::Linear;

#[derive(Debug, Clone)]
pub struct Attention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    layer_norm: LayerNorm,
    heads: usize,
    attention_dropout: f32,
    hidden_dropout: f32,
    /// The packed QKV projection, precomputed for inference by [`Attention::quantize`].
    packed_qkv: Option<Linear>,
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
            attention_dropout: cfg.attention_probs_dropout_prob,
            hidden_dropout: cfg.hidden_dropout_prob,
            packed_qkv: None,
        })
    }

    /// Q, K and V as one projection: the three weights stacked, (3 * hidden, hidden). Built on
    /// each call from the (trainable) variables, so gradients reach them through the
    /// concatenation; one large GEMM is faster than three small ones.
    fn qkv(&self) -> Result<Linear> {
        let weight = Tensor::cat(
            &[self.query.weight(), self.key.weight(), self.value.weight()],
            0,
        )?;
        let bias = Tensor::cat(&[self.query.bias(), self.key.bias(), self.value.bias()], 0)?;
        Ok(Linear::new(weight, bias))
    }

    /// An inference copy computing its projections in `q`, with the packed QKV built once.
    pub fn quantize(&self, q: Quantization) -> Result<Self> {
        let packed_qkv = match q {
            Quantization::None => None,
            q => Some(self.qkv()?.quantize(q)?),
        };
        Ok(Self {
            output: self.output.quantize(q)?,
            packed_qkv,
            ..self.clone()
        })
    }

    /// `xs`: (batch, seq, hidden); `mask`: (batch, seq) additive (0 real, large negative pad).
    pub fn forward(&self, xs: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor> {
        let qkv = match &self.packed_qkv {
            Some(qkv) => qkv.forward(xs)?,
            None => self.qkv()?.forward(xs)?,
        }; // (batch, seq, 3 * hidden)
        let context = attention(&qkv, mask, self.heads, self.attention_dropout, train)?; // (batch, seq, hidden)
        let out = dropout(&self.output.forward(&context)?, self.hidden_dropout, train)?;
        self.layer_norm.forward(&(out + xs)?)
    }
}
