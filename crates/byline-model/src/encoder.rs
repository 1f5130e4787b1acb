//! The BERT encoder: embeddings, then a stack of transformer layers.
//!
//! Port of `BertModel` without the pooler (`transformers/models/bert/modeling_bert.py`); weight
//! names follow its state dict (`embeddings.*`, `encoder.layer.N.*`).

use candle_core::{bail, DType, Result, Tensor};
use candle_nn::VarBuilder;

use crate::attention::Attention;
use crate::config::{Config, HiddenAct};
use crate::embeddings::Embeddings;
use crate::kernels::activation::{activation, bias_gelu_erf};
use crate::kernels::dropout::dropout;
use crate::kernels::layer_norm::LayerNorm;
use crate::kernels::quant::Quantization;
use crate::linear::Linear;

/// Added to attention scores of padding positions.
const MASKED: f64 = -1e9;

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
        let inner = match self.act {
            HiddenAct::Gelu => bias_gelu_erf(
                &self.intermediate.forward_no_bias(&xs)?,
                self.intermediate.bias(),
            )?,
            act => activation(&self.intermediate.forward(&xs)?, act)?,
        }; // (batch, seq, inter)
        let out = dropout(&self.output.forward(&inner)?, self.dropout, train)?;
        self.layer_norm.forward(&(out + xs)?)
    }
}

/// The encoder. `forward` returns the last hidden states, (batch, seq, hidden).
#[derive(Debug, Clone)]
pub struct Encoder {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    config: Config,
    quantization: Quantization,
}

impl Encoder {
    /// `vb` points at the model root (no `bert.` prefix: see `weights.rs` for loading files).
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        if let Err(message) = cfg.validate() {
            bail!("invalid config: {message}")
        }
        let embeddings = Embeddings::load(vb.pp("embeddings"), cfg)?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|n| Layer::load(vb.pp("encoder").pp("layer").pp(n), cfg))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            embeddings,
            layers,
            config: cfg.clone(),
            quantization: Quantization::None,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// An inference-only copy whose dense layers (the packed QKV, attention output,
    /// intermediate and output projections) compute in `q`; embeddings, LayerNorm and the
    /// attention scores stay f32. `Quantization::None` gives a trainable f32 encoder back. The
    /// copy shares the f32 weights with `self` (candle tensors are reference-counted).
    pub fn quantize(&self, q: Quantization) -> Result<Self> {
        let layers = self
            .layers
            .iter()
            .map(|l| l.quantize(q))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            layers,
            quantization: q,
            ..self.clone()
        })
    }

    pub fn quantization(&self) -> Quantization {
        self.quantization
    }

    /// Runs the encoder.
    ///
    /// * `input_ids`, `casing_ids`: (batch, seq), u32.
    /// * `attention_mask`: (batch, seq), 1 for real tokens and 0 for padding (any dtype).
    /// * `train`: dropout on (training) or off (evaluation). A quantized encoder has no
    ///   gradients and refuses `train = true`.
    ///
    /// Returns (batch, seq, hidden).
    pub fn forward(
        &self,
        input_ids: &Tensor,
        casing_ids: &Tensor,
        attention_mask: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        if train && self.quantization != Quantization::None {
            bail!(
                "a {} quantized encoder is for inference only: it cannot train",
                self.quantization
            )
        }
        if attention_mask.dims2()? != input_ids.dims2()? {
            bail!(
                "attention mask {:?} does not match input ids {:?}",
                attention_mask.shape(),
                input_ids.shape()
            )
        }
        // 1 -> 0, 0 -> MASKED: (batch, seq), additive.
        let mask = attention_mask
            .to_dtype(DType::F32)?
            .affine(-MASKED, MASKED)?
            .to_dtype(self.dtype())?;
        let mut xs = self.embeddings.forward(input_ids, casing_ids, train)?;
        for layer in &self.layers {
            xs = layer.forward(&xs, &mask, train)?;
        }
        Ok(xs)
    }

    /// The dtype the encoder computes in.
    pub fn dtype(&self) -> DType {
        self.embeddings.dtype()
    }

    /// The device the encoder's weights are on.
    pub fn device(&self) -> candle_core::Device {
        self.embeddings.device()
    }
}
