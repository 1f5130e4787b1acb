//! ModernBERT's layer stack.
//!
//! Port of `ModernBertModel` (`transformers/models/modernbert/modeling_modernbert.py`):
//! token embeddings (no position table) and a LayerNorm; pre-LayerNorm layers (the first has
//! none before its attention) whose attention takes rotary positions, global in every
//! `global_attn_every_n_layers`-th layer and local elsewhere (a token sees those within
//! `local_attention / 2` positions), each with its own rotary base; a GeGLU feed-forward
//! (`Wi` gives the input and the gate, `Wo` brings it back); a final LayerNorm. Linear layers
//! and LayerNorms have biases only when `attention_bias`, `mlp_bias`, `norm_bias` say so
//! (none by default). Weight names are transformers' without the `model.` prefix, except the
//! word table ([`crate::family`]).
//!
//! Byline's casing table is added to the token embeddings before the LayerNorm, zero at first,
//! as in every family.

use candle_core::{bail, DType, Device, Result, Tensor};
use candle_nn::{Init, VarBuilder};
use serde_json::Value;

use crate::casing::Casing;
use crate::config::{Config, HiddenAct};
use crate::kernels::activation::geglu;
use crate::kernels::attention_core::windowed_attention;
use crate::kernels::dropout::dropout;
use crate::kernels::layer_norm::LayerNorm;
use crate::kernels::quant::Quantization;
use crate::kernels::rotary::rotary as rotary_embedding;
use crate::linear::Linear;

/// A rotary table: cos and sin of every position's angles, (positions, head_dim), f32.
#[derive(Debug, Clone)]
struct Rotary {
    cos: Tensor,
    sin: Tensor,
}

impl Rotary {
    /// transformers' default RoPE: `inv_freq = 1 / base^(2i / d)`, angles `p * inv_freq`
    /// repeated for the two halves, in f32 as there.
    fn new(base: f64, head_dim: usize, positions: usize, device: &Device) -> Result<Self> {
        let inv: Vec<f32> = (0..head_dim / 2)
            .map(|i| 1.0 / (base as f32).powf((2 * i) as f32 / head_dim as f32))
            .collect();
        let mut cos = Vec::with_capacity(positions * head_dim);
        let mut sin = Vec::with_capacity(positions * head_dim);
        for p in 0..positions {
            // `cat((freqs, freqs))`: the same angles for both halves of a head.
            for f in inv.iter().chain(&inv) {
                let angle = p as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Ok(Self {
            cos: Tensor::from_vec(cos, (positions, head_dim), device)?,
            sin: Tensor::from_vec(sin, (positions, head_dim), device)?,
        })
    }
}

/// The settings of `config.json` this family reads beyond BERT's.
#[derive(Debug, Clone)]
struct Settings {
    attention_bias: bool,
    mlp_bias: bool,
    norm_bias: bool,
    embedding_dropout: f32,
    /// Per layer: whether its attention is global.
    global: Vec<bool>,
    /// Half window of the local layers: `local_attention / 2`.
    window: usize,
    global_theta: f64,
    local_theta: f64,
}

impl Settings {
    fn read(cfg: &Config) -> Result<Self> {
        let get = |k: &str| cfg.extra.get(k);
        let flag = |k: &str| get(k).and_then(Value::as_bool).unwrap_or(false);
        let layers = cfg.num_hidden_layers;
        let global = match get("layer_types").and_then(Value::as_array) {
            Some(types) => {
                let global = types
                    .iter()
                    .map(|t| match t.as_str() {
                        Some("full_attention") => Ok(true),
                        Some("sliding_attention") => Ok(false),
                        _ => bail!(
                            "modernbert: layer type {t} is not full_attention or sliding_attention"
                        ),
                    })
                    .collect::<Result<Vec<_>>>()?;
                if global.len() != layers {
                    bail!(
                        "modernbert: {} layer_types for {layers} layers",
                        global.len()
                    )
                }
                global
            }
            None => {
                let every = get("global_attn_every_n_layers")
                    .and_then(Value::as_u64)
                    .unwrap_or(3)
                    .max(1) as usize;
                (0..layers).map(|i| i % every == 0).collect()
            }
        };
        // transformers 5 keeps the bases in `rope_parameters`; older configs at the top level.
        let theta = |kind: &str, old: &str, default: f64| {
            get("rope_parameters")
                .and_then(|r| r.get(kind))
                .and_then(|r| r.get("rope_theta"))
                .and_then(Value::as_f64)
                .or_else(|| get(old).and_then(Value::as_f64))
                .unwrap_or(default)
        };
        for unsupported in ["rope_scaling"] {
            if get(unsupported).is_some_and(|v| !v.is_null()) {
                bail!("modernbert: `{unsupported}` is not supported")
            }
        }
        Ok(Self {
            attention_bias: flag("attention_bias"),
            mlp_bias: flag("mlp_bias"),
            norm_bias: flag("norm_bias"),
            embedding_dropout: get("embedding_dropout")
                .and_then(Value::as_f64)
                .unwrap_or(0.0) as f32,
            global,
            window: get("local_attention")
                .and_then(Value::as_u64)
                .unwrap_or(128) as usize
                / 2,
            global_theta: theta("full_attention", "global_rope_theta", 160_000.0),
            local_theta: theta("sliding_attention", "local_rope_theta", 10_000.0),
        })
    }
}

#[derive(Debug, Clone)]
struct Layer {
    /// None in the first layer (its input is the embeddings' LayerNorm already).
    attn_norm: Option<LayerNorm>,
    wqkv: Linear,
    wo: Linear,
    mlp_norm: LayerNorm,
    wi: Linear,
    mlp_wo: Linear,
    /// Local layers see positions within this distance; global ones everything.
    window: Option<usize>,
    heads: usize,
    act: HiddenAct,
    attention_dropout: f32,
    mlp_dropout: f32,
}

impl Layer {
    fn load(vb: VarBuilder, cfg: &Config, s: &Settings, n: usize) -> Result<Self> {
        let (h, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        let norm = |name: &str| LayerNorm::load_maybe_bias(vb.pp(name), h, eps, s.norm_bias);
        Ok(Self {
            attn_norm: (n > 0).then(|| norm("attn_norm")).transpose()?,
            wqkv: Linear::load_maybe_bias(vb.pp("attn").pp("Wqkv"), h, 3 * h, s.attention_bias)?,
            wo: Linear::load_maybe_bias(vb.pp("attn").pp("Wo"), h, h, s.attention_bias)?,
            mlp_norm: norm("mlp_norm")?,
            wi: Linear::load_maybe_bias(vb.pp("mlp").pp("Wi"), h, 2 * i, s.mlp_bias)?,
            mlp_wo: Linear::load_maybe_bias(vb.pp("mlp").pp("Wo"), i, h, s.mlp_bias)?,
            window: (!s.global[n]).then_some(s.window),
            heads: cfg.num_attention_heads,
            act: cfg.hidden_act,
            attention_dropout: cfg.attention_probs_dropout_prob,
            mlp_dropout: cfg.hidden_dropout_prob,
        })
    }

    fn quantize(&self, q: Quantization) -> Result<Self> {
        Ok(Self {
            wqkv: self.wqkv.quantize(q)?,
            wo: self.wo.quantize(q)?,
            wi: self.wi.quantize(q)?,
            mlp_wo: self.mlp_wo.quantize(q)?,
            ..self.clone()
        })
    }

    fn forward(&self, xs: &Tensor, mask: &Tensor, rotary: &Rotary, train: bool) -> Result<Tensor> {
        let normed = match &self.attn_norm {
            Some(norm) => norm.forward(xs)?,
            None => xs.clone(),
        };
        let qkv = self.wqkv.forward(&normed)?; // (b, s, 3h)
        let qkv = rotary_embedding(&qkv, &rotary.cos, &rotary.sin, self.heads)?;
        let p = self.attention_dropout;
        let context = windowed_attention(&qkv, mask, self.heads, p, train, self.window)?;
        let xs = (xs + dropout(&self.wo.forward(&context)?, p, train)?)?;
        let wi = self.wi.forward(&self.mlp_norm.forward(&xs)?)?; // (b, s, 2i): [input | gate]
        let inner = dropout(&geglu(&wi, self.act)?, self.mlp_dropout, train)?;
        xs + self.mlp_wo.forward(&inner)?
    }
}

/// Embeddings, layers and the final LayerNorm.
#[derive(Debug, Clone)]
pub struct ModernBert {
    word: Tensor,
    casing: Tensor,
    norm: LayerNorm,
    embedding_dropout: f32,
    layers: Vec<Layer>,
    final_norm: LayerNorm,
    global_rotary: Rotary,
    local_rotary: Rotary,
}

impl ModernBert {
    /// `vb` points at the model root (no `model.` prefix).
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let s = Settings::read(cfg)?;
        let (h, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        let emb = vb.pp("embeddings");
        let normal = Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let word =
            emb.pp("word_embeddings")
                .get_with_hints((cfg.vocab_size, h), "weight", normal)?;
        let casing = emb.pp("casing_embeddings").get_with_hints(
            (Casing::COUNT, h),
            "weight",
            Init::Const(0.0),
        )?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|n| Layer::load(vb.pp("layers").pp(n), cfg, &s, n))
            .collect::<Result<Vec<_>>>()?;
        let (positions, d, device) = (cfg.max_position_embeddings, cfg.head_dim(), vb.device());
        Ok(Self {
            norm: LayerNorm::load_maybe_bias(emb.pp("norm"), h, eps, s.norm_bias)?,
            final_norm: LayerNorm::load_maybe_bias(vb.pp("final_norm"), h, eps, s.norm_bias)?,
            global_rotary: Rotary::new(s.global_theta, d, positions, device)?,
            local_rotary: Rotary::new(s.local_theta, d, positions, device)?,
            embedding_dropout: s.embedding_dropout,
            word,
            casing,
            layers,
        })
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
        let (batch, seq) = input_ids.dims2()?;
        let max = self.global_rotary.cos.dim(0)?;
        if seq > max {
            bail!("sequence of {seq} tokens is longer than the model's {max} positions")
        }
        let hidden = self.word.dim(1)?;
        let words = self.word.embedding(&input_ids.flatten_all()?)?;
        let casing = self.casing.embedding(&casing_ids.flatten_all()?)?;
        let xs = (words + casing)?.reshape((batch, seq, hidden))?;
        let xs = self.norm.forward(&xs)?.to_dtype(compute)?;
        let mut xs = dropout(&xs, self.embedding_dropout, train)?;
        for layer in &self.layers {
            let rotary = match layer.window {
                None => &self.global_rotary,
                Some(_) => &self.local_rotary,
            };
            xs = layer.forward(&xs, mask, rotary, train)?;
        }
        self.final_norm.forward(&xs)
    }

    pub fn word_table(&self) -> &Tensor {
        &self.word
    }
}
