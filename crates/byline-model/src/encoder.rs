//! The encoder: one interface over every family's layer stack ([`crate::families`]).
//!
//! The tagger, the trainer and the exporter hold an [`Encoder`] and never ask which family it
//! runs: loading picks the stack from the config's `model_type`, and every stack takes word
//! ids, byline's casing ids and a padding mask and returns the last hidden states.

use candle_core::{bail, DType, Result, Tensor};
use candle_nn::VarBuilder;

use crate::config::Config;
use crate::families::bert::Bert;
use crate::families::deberta::Deberta;
use crate::families::modernbert::ModernBert;
use crate::family::Family;
use crate::kernels::quant::Quantization;

/// Added to attention scores of padding positions.
const MASKED: f64 = -1e9;

/// A family's layer stack.
#[derive(Debug, Clone)]
enum Stack {
    Bert(Bert),
    ModernBert(ModernBert),
    Deberta(Deberta),
}

/// The encoder. `forward` returns the last hidden states, (batch, seq, hidden).
#[derive(Debug, Clone)]
pub struct Encoder {
    stack: Stack,
    config: Config,
    quantization: Quantization,
    /// The dtype the layers compute in: the weights' (default), or bf16 / f16 over f32 weights
    /// (mixed precision, [`Encoder::with_compute_dtype`]).
    compute: Option<DType>,
}

impl Encoder {
    /// `vb` points at the model root, with byline's names (no `bert.`, `model.`, `deberta.`
    /// prefix: see `weights.rs` for loading files).
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        if let Err(message) = cfg.validate() {
            bail!("invalid config: {message}")
        }
        let stack = match cfg.family() {
            Family::ModernBert => Stack::ModernBert(ModernBert::load(vb, cfg)?),
            Family::DebertaV2 => Stack::Deberta(Deberta::load(vb, cfg)?),
            _ => Stack::Bert(Bert::load(vb, cfg)?),
        };
        Ok(Self {
            stack,
            config: cfg.clone(),
            quantization: Quantization::None,
            compute: None,
        })
    }

    /// The same encoder (same weights) computing its layers in `dtype`: mixed precision. The
    /// embeddings are looked up and the LayerNorms and softmaxes computed in the weights' dtype,
    /// the matrix products in `dtype` (each weight cast on use, differentiably, so gradients
    /// reach the f32 weights); the output is in the weights' dtype again. `None`, or the
    /// weights' own dtype, computes in the weights' dtype.
    pub fn with_compute_dtype(&self, dtype: Option<DType>) -> Self {
        Self {
            compute: dtype.filter(|&d| d != self.dtype()),
            ..self.clone()
        }
    }

    /// The dtype the layers compute in.
    pub fn compute_dtype(&self) -> DType {
        self.compute.unwrap_or_else(|| self.dtype())
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// An inference-only copy whose dense layers (the attention projections and the
    /// feed-forward block) compute in `q`; embeddings, LayerNorm and the attention scores stay
    /// f32. `Quantization::None` gives a trainable f32 encoder back. The copy shares the f32
    /// weights with `self` (candle tensors are reference-counted).
    pub fn quantize(&self, q: Quantization) -> Result<Self> {
        let stack = match &self.stack {
            Stack::Bert(s) => Stack::Bert(s.quantize(q)?),
            Stack::ModernBert(s) => Stack::ModernBert(s.quantize(q)?),
            Stack::Deberta(s) => Stack::Deberta(s.quantize(q)?),
        };
        Ok(Self {
            stack,
            quantization: q,
            config: self.config.clone(),
            compute: self.compute,
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
        if casing_ids.dims2()? != input_ids.dims2()? {
            bail!(
                "casing ids {:?} do not match input ids {:?}",
                casing_ids.shape(),
                input_ids.shape()
            )
        }
        // 1 -> 0, 0 -> MASKED: (batch, seq), additive, f32 (softmax casts it as it needs).
        let mask = attention_mask
            .to_dtype(DType::F32)?
            .affine(-MASKED, MASKED)?;
        let compute = self.compute_dtype();
        let out = match &self.stack {
            Stack::Bert(s) => s.forward(input_ids, casing_ids, &mask, compute, train),
            Stack::ModernBert(s) => s.forward(input_ids, casing_ids, &mask, compute, train),
            Stack::Deberta(s) => s.forward(input_ids, casing_ids, &mask, compute, train),
        }?;
        out.to_dtype(self.dtype())
    }

    fn word_table(&self) -> &Tensor {
        match &self.stack {
            Stack::Bert(s) => s.word_table(),
            Stack::ModernBert(s) => s.word_table(),
            Stack::Deberta(s) => s.word_table(),
        }
    }

    /// The dtype the encoder computes in.
    pub fn dtype(&self) -> DType {
        self.word_table().dtype()
    }

    /// The device the encoder's weights are on.
    pub fn device(&self) -> candle_core::Device {
        self.word_table().device().clone()
    }
}
