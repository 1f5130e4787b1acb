//! DeBERTa-v2 and DeBERTa-v3's layer stack.
//!
//! Port of `DebertaV2Model` (`transformers/models/deberta_v2/modeling_deberta_v2.py`). The
//! embeddings are words (projected by `embed_proj` when `embedding_size` differs from the
//! hidden size), plus absolute positions only when `position_biased_input` and token types
//! only when `type_vocab_size > 0` (DeBERTa-v3 has neither), then a LayerNorm. Each layer is
//! BERT's post-LayerNorm layout, but its attention is disentangled: with `δ(i, j)` the
//! relative position `i - j` in log buckets (`position_buckets`, `max_relative_positions`),
//! shifted by the span and clamped to the relative-embedding table, the score of query `i`
//! for key `j` is
//!
//! `(Q_i·K_j + Q_i·Kr_δ(i,j) + K_j·Qr_δ(i,j)) / sqrt(3 d)`
//!
//! where `Kr`, `Qr` are the shared relative embeddings (LayerNorm'd when `norm_rel_ebd` says
//! so) through the layer's own key and query projections (`share_att_key`) or through
//! `pos_key_proj` / `pos_query_proj`; `pos_att_type` picks which of the two relative terms
//! exist, and the scale counts them. Weight names are transformers' without `deberta.`.
//!
//! Without `relative_attention` the layers attend as BERT's (still scaled by the number of
//! `pos_att_type` terms, as transformers does). DeBERTa-v2-xlarge's convolution beside the first
//! layer (`conv_kernel_size`, `conv_act`) is supported; no DeBERTa-v3 has it.

use candle_core::{bail, DType, Result, Tensor};
use candle_nn::{Init, VarBuilder};
use serde_json::Value;

use super::bert::feed_forward;
use crate::casing::Casing;
use crate::config::{Config, HiddenAct};
use crate::kernels::attention_core::attention;
use crate::kernels::disentangled::{disentangled_attention, Relative};
use crate::kernels::dropout::dropout;
use crate::kernels::layer_norm::LayerNorm;
use crate::kernels::quant::Quantization;
use crate::linear::Linear;

/// The relative-position settings of `config.json`.
#[derive(Debug, Clone, Copy)]
struct Settings {
    /// `relative_attention`: without it the layers attend as BERT's (no relative terms, no
    /// relative embeddings).
    relative_attention: bool,
    /// The score's scale counts `1 + len(pos_att_type)` terms, relative attention or not.
    terms: usize,
    /// Half the rows of the relative-embedding table: relative positions are clamped to
    /// `[-span, span)`.
    span: usize,
    /// `position_buckets` (> 0: log buckets), else 0.
    buckets: usize,
    /// `max_relative_positions`, or `max_position_embeddings` when it is not set.
    max_relative: usize,
    c2p: bool,
    p2c: bool,
    share_att_key: bool,
    norm_rel_ebd: bool,
}

impl Settings {
    fn read(cfg: &Config) -> Result<Self> {
        let get = |k: &str| cfg.extra.get(k);
        let relative_attention = get("relative_attention")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let int = |k: &str| get(k).and_then(Value::as_i64).unwrap_or(-1);
        let max_relative = match int("max_relative_positions") {
            m if m >= 1 => m as usize,
            _ => cfg.max_position_embeddings,
        };
        let buckets = int("position_buckets").max(0) as usize;
        let types: Vec<String> = match get("pos_att_type") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(|s| s.trim().to_lowercase()))
                .collect(),
            Some(Value::String(s)) => s.split('|').map(|t| t.trim().to_lowercase()).collect(),
            _ => Vec::new(),
        };
        if let Some(t) = types.iter().find(|t| !matches!(t.as_str(), "c2p" | "p2c")) {
            bail!("deberta-v2: pos_att_type `{t}` is not supported (c2p, p2c)")
        }
        let norm_rel_ebd = get("norm_rel_ebd")
            .and_then(Value::as_str)
            .is_some_and(|s| s.split('|').any(|t| t.trim() == "layer_norm"));
        Ok(Self {
            relative_attention,
            terms: 1
                + types.iter().filter(|t| t.as_str() == "c2p").count().min(1)
                + types.iter().filter(|t| t.as_str() == "p2c").count().min(1),
            span: if buckets > 0 { buckets } else { max_relative },
            buckets,
            max_relative,
            c2p: relative_attention && types.iter().any(|t| t == "c2p"),
            p2c: relative_attention && types.iter().any(|t| t == "p2c"),
            share_att_key: get("share_att_key")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            norm_rel_ebd,
        })
    }

    /// `make_log_bucket_position` of transformers, in f32 as there.
    fn bucket(&self, relative: i64) -> i64 {
        if self.buckets == 0 || self.max_relative == 0 {
            return relative;
        }
        let mid = (self.buckets / 2) as i64;
        let abs = if relative < mid && relative > -mid {
            mid - 1
        } else {
            relative.abs()
        };
        if abs <= mid {
            return relative;
        }
        let ratio = ((self.max_relative - 1) as f32 / mid as f32).ln();
        let log_pos =
            ((abs as f32 / mid as f32).ln() / ratio * (mid - 1) as f32).ceil() + mid as f32;
        log_pos as i64 * relative.signum()
    }

    /// `δ(i, j)` for every (query i, key j) of a sequence of `seq`: the relative position
    /// `i - j` in buckets, shifted by the span and clamped to the table's `2 * span` rows.
    fn relative_positions(&self, seq: usize) -> Relative {
        let width = 2 * self.span;
        let last = seq.saturating_sub(1) as i64;
        // One bucket per distance i - j in [-last, last], not per pair.
        let by_distance: Vec<u32> = (-last..=last)
            .map(|r| (self.bucket(r) + self.span as i64).clamp(0, width as i64 - 1) as u32)
            .collect();
        let delta = (0..seq * seq)
            .map(|n| by_distance[n / seq + last as usize - n % seq])
            .collect();
        Relative {
            c2p: self.c2p,
            p2c: self.p2c,
            width,
            delta: std::sync::Arc::new(delta),
        }
    }
}

/// What one forward pass shares across layers.
struct Shared {
    /// The relative embeddings, (2 * span, hidden), normalised if so configured, and the
    /// relative positions; `None` without relative attention.
    rel: Option<(Tensor, Relative)>,
}

#[derive(Debug, Clone)]
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    /// Only without `share_att_key`.
    pos_key: Option<Linear>,
    pos_query: Option<Linear>,
    output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    out: Linear,
    out_norm: LayerNorm,
    heads: usize,
    act: HiddenAct,
    rel: Settings,
    attention_dropout: f32,
    hidden_dropout: f32,
    /// The packed QKV projection, precomputed for inference by [`Layer::quantize`].
    packed_qkv: Option<Linear>,
}

impl Layer {
    /// `vb` points at `encoder.layer.N`.
    fn load(vb: VarBuilder, cfg: &Config, rel: Settings) -> Result<Self> {
        let (h, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        let sa = vb.pp("attention").pp("self");
        let own = |on: bool, name: &str| -> Result<Option<Linear>> {
            (on && !rel.share_att_key)
                .then(|| Linear::load(sa.pp(name), h, h))
                .transpose()
        };
        Ok(Self {
            query: Linear::load(sa.pp("query_proj"), h, h)?,
            key: Linear::load(sa.pp("key_proj"), h, h)?,
            value: Linear::load(sa.pp("value_proj"), h, h)?,
            pos_key: own(rel.c2p, "pos_key_proj")?,
            pos_query: own(rel.p2c, "pos_query_proj")?,
            output: Linear::load(vb.pp("attention").pp("output").pp("dense"), h, h)?,
            attention_norm: LayerNorm::load(
                vb.pp("attention").pp("output").pp("LayerNorm"),
                h,
                eps,
            )?,
            intermediate: Linear::load(vb.pp("intermediate").pp("dense"), h, i)?,
            out: Linear::load(vb.pp("output").pp("dense"), i, h)?,
            out_norm: LayerNorm::load(vb.pp("output").pp("LayerNorm"), h, eps)?,
            heads: cfg.num_attention_heads,
            act: cfg.hidden_act,
            rel,
            attention_dropout: cfg.attention_probs_dropout_prob,
            hidden_dropout: cfg.hidden_dropout_prob,
            packed_qkv: None,
        })
    }

    /// Q, K and V as one projection (weights stacked), built from the trainable variables.
    fn qkv(&self) -> Result<Linear> {
        let (q, k, v) = (&self.query, &self.key, &self.value);
        let weight = Tensor::cat(&[q.weight(), k.weight(), v.weight()], 0)?;
        let bias = Tensor::cat(&[q.bias(), k.bias(), v.bias()], 0)?;
        Ok(Linear::new(weight, bias))
    }

    fn quantize(&self, q: Quantization) -> Result<Self> {
        let opt = |l: &Option<Linear>| l.as_ref().map(|l| l.quantize(q)).transpose();
        let packed_qkv = match q {
            Quantization::None => None,
            q => Some(self.qkv()?.quantize(q)?),
        };
        Ok(Self {
            packed_qkv,
            query: self.query.quantize(q)?,
            key: self.key.quantize(q)?,
            value: self.value.quantize(q)?,
            pos_key: opt(&self.pos_key)?,
            pos_query: opt(&self.pos_query)?,
            output: self.output.quantize(q)?,
            intermediate: self.intermediate.quantize(q)?,
            out: self.out.quantize(q)?,
            ..self.clone()
        })
    }

    fn forward(&self, xs: &Tensor, mask: &Tensor, shared: &Shared, train: bool) -> Result<Tensor> {
        let qkv = match &self.packed_qkv {
            Some(qkv) => qkv.forward(xs)?,
            None => self.qkv()?.forward(xs)?,
        }; // (b, seq, 3 * hidden)
        let Some((shared_rel, relative)) = &shared.rel else {
            // No relative attention: BERT's attention, scaled by 1 / sqrt(d) as DeBERTa's is
            // with no relative term.
            let qkv = match self.rel.terms {
                1 => qkv,
                terms => {
                    let hidden = qkv.dim(2)? / 3;
                    let q = (qkv.narrow(2, 0, hidden)? * (1.0 / (terms as f64).sqrt()))?;
                    Tensor::cat(&[q, qkv.narrow(2, hidden, 2 * hidden)?], 2)?
                }
            };
            let context = attention(&qkv, mask, self.heads, self.attention_dropout, train)?;
            return self.finish(xs, &context, train);
        };
        // (2 * span, hidden)
        let rel = dropout(shared_rel, self.hidden_dropout, train)?;
        // The relative tables [PK | PQ], (2 * span, 2 * hidden); a term that is off reads
        // nothing from its half.
        let table = |on: bool, own: &Option<Linear>, shared_proj: &Linear| -> Result<Tensor> {
            match on {
                true => own.as_ref().unwrap_or(shared_proj).forward(&rel),
                false => rel.zeros_like(),
            }
        };
        let pos = Tensor::cat(
            &[
                table(self.rel.c2p, &self.pos_key, &self.key)?,
                table(self.rel.p2c, &self.pos_query, &self.query)?,
            ],
            1,
        )?;
        let context = disentangled_attention(
            &qkv,
            &pos,
            mask,
            relative,
            self.heads,
            self.attention_dropout,
            train,
        )?; // (b, seq, hidden)
        self.finish(xs, &context, train)
    }

    /// The attention's output projection and LayerNorm, then the feed-forward block.
    fn finish(&self, xs: &Tensor, context: &Tensor, train: bool) -> Result<Tensor> {
        let attended = dropout(&self.output.forward(context)?, self.hidden_dropout, train)?;
        let attended = self.attention_norm.forward(&(attended + xs)?)?;
        let out = feed_forward(&self.intermediate, &self.out, self.act, &attended)?;
        let out = dropout(&out, self.hidden_dropout, train)?;
        self.out_norm.forward(&(out + attended)?)
    }
}

/// The activation of DeBERTa-v2-xlarge's convolution (`conv_act`, tanh by default).
#[derive(Debug, Clone, Copy)]
enum ConvAct {
    Tanh,
    Hidden(HiddenAct),
}

/// `ConvLayer` of DeBERTa-v2-xlarge: `LayerNorm(layer_0 + act(conv1d(embeddings)))`, a 1-D
/// convolution over positions (`conv_kernel_size`, `conv_act`; `conv_groups` 1) beside the
/// first layer.
#[derive(Debug, Clone)]
struct Conv {
    /// (hidden, hidden, kernel)
    weight: Tensor,
    bias: Tensor,
    norm: LayerNorm,
    act: ConvAct,
    dropout: f32,
}

impl Conv {
    /// `vb` points at `encoder.conv`; `None` when `conv_kernel_size` is 0 or absent.
    fn load(vb: VarBuilder, cfg: &Config) -> Result<Option<Self>> {
        let get = |k: &str| cfg.extra.get(k);
        let kernel = get("conv_kernel_size").and_then(Value::as_u64).unwrap_or(0) as usize;
        if kernel == 0 {
            return Ok(None);
        }
        if kernel.is_multiple_of(2) {
            bail!("deberta-v2: conv_kernel_size {kernel} is even: only odd sizes keep the length")
        }
        let groups = get("conv_groups").and_then(Value::as_u64).unwrap_or(1);
        if groups != 1 {
            bail!("deberta-v2: conv_groups = {groups} is not supported (1, as DeBERTa-v2-xlarge)")
        }
        let h = cfg.hidden_size;
        let act = match get("conv_act").and_then(Value::as_str).unwrap_or("tanh") {
            "tanh" => ConvAct::Tanh,
            other => match HiddenAct::parse(other) {
                Some(act) => ConvAct::Hidden(act),
                None => bail!(
                    "deberta-v2: conv_act `{other}` is not supported (tanh, gelu, gelu_new, relu)"
                ),
            },
        };
        let bound = 1.0 / ((h * kernel) as f64).sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let conv = vb.pp("conv");
        Ok(Some(Self {
            weight: conv.get_with_hints((h, h, kernel), "weight", init)?,
            bias: conv.get_with_hints(h, "bias", init)?,
            norm: LayerNorm::load(vb.pp("LayerNorm"), h, cfg.layer_norm_eps)?,
            act,
            dropout: cfg.hidden_dropout_prob,
        }))
    }

    /// `embeddings` (the first layer's input, padding zeroed) and `residual` (its output), both
    /// (batch, seq, hidden). Outputs at padding positions differ from transformers' (which
    /// zeroes them); no real position reads them afterwards (they are masked keys).
    fn forward(&self, embeddings: &Tensor, residual: &Tensor, train: bool) -> Result<Tensor> {
        let dtype = embeddings.dtype();
        let weight = crate::linear::in_dtype(&self.weight, embeddings)?;
        let bias = crate::linear::in_dtype(&self.bias, embeddings)?;
        let (batch, seq, hidden) = embeddings.dims3()?;
        let kernel = weight.dim(2)?;
        let pad = (kernel - 1) / 2;
        // As a sum of `kernel` shifted products: out[t] = sum_k x[t + k - pad] W_k^T, with zeros
        // past both ends (candle's conv1d gave weight gradients that disagreed with PyTorch's).
        let zeros = Tensor::zeros((batch, pad, hidden), dtype, embeddings.device())?;
        let padded = Tensor::cat(&[&zeros, embeddings, &zeros], 1)?; // (b, seq + 2 pad, h)
        let mut out = bias
            .reshape((1, 1, hidden))?
            .broadcast_as((batch, seq, hidden))?
            .contiguous()?;
        for k in 0..kernel {
            let w_k = weight.narrow(2, k, 1)?.squeeze(2)?; // (out, in)
            let shifted = padded
                .narrow(1, k, seq)?
                .contiguous()?
                .reshape((batch * seq, hidden))?;
            out = (out + shifted.matmul(&w_k.t()?)?.reshape((batch, seq, hidden))?)?;
        }
        let out = dropout(&out.contiguous()?, self.dropout, train)?;
        let out = match self.act {
            ConvAct::Tanh => out.tanh()?,
            ConvAct::Hidden(act) => crate::kernels::activation::activation(&out, act)?,
        };
        self.norm.forward(&(residual + out)?)?.to_dtype(dtype)
    }
}

/// Embeddings, relative embeddings and layers.
#[derive(Debug, Clone)]
pub struct Deberta {
    word: Tensor,
    casing: Tensor,
    position: Option<Tensor>,
    token_type: Option<Tensor>,
    embed_proj: Option<Linear>,
    embedding_norm: LayerNorm,
    rel_embeddings: Option<Tensor>,
    rel_norm: Option<LayerNorm>,
    /// DeBERTa-v2-xlarge's convolution beside the first layer.
    conv: Option<Conv>,
    layers: Vec<Layer>,
    rel: Settings,
    max_positions: usize,
    dropout: f32,
}

impl Deberta {
    /// `vb` points at the model root (no `deberta.` prefix).
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let rel = Settings::read(cfg)?;
        let (h, e, eps) = (cfg.hidden_size, cfg.embedding_size(), cfg.layer_norm_eps);
        let emb = vb.pp("embeddings");
        let normal = Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let table =
            |name: &str, rows: usize| emb.pp(name).get_with_hints((rows, e), "weight", normal);
        let position_biased = cfg
            .extra
            .get("position_biased_input")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let enc = vb.pp("encoder");
        Ok(Self {
            word: table("word_embeddings", cfg.vocab_size)?,
            casing: emb.pp("casing_embeddings").get_with_hints(
                (Casing::COUNT, e),
                "weight",
                Init::Const(0.0),
            )?,
            position: position_biased
                .then(|| table("position_embeddings", cfg.max_position_embeddings))
                .transpose()?,
            token_type: (cfg.type_vocab_size > 0)
                .then(|| table("token_type_embeddings", cfg.type_vocab_size))
                .transpose()?,
            embed_proj: (e != h)
                .then(|| Linear::load_no_bias(emb.pp("embed_proj"), e, h))
                .transpose()?,
            embedding_norm: LayerNorm::load(emb.pp("LayerNorm"), h, eps)?,
            rel_embeddings: rel
                .relative_attention
                .then(|| {
                    enc.pp("rel_embeddings")
                        .get_with_hints((2 * rel.span, h), "weight", normal)
                })
                .transpose()?,
            conv: Conv::load(enc.pp("conv"), cfg)?,
            rel_norm: (rel.relative_attention && rel.norm_rel_ebd)
                .then(|| LayerNorm::load(enc.pp("LayerNorm"), h, eps))
                .transpose()?,
            layers: (0..cfg.num_hidden_layers)
                .map(|n| Layer::load(enc.pp("layer").pp(n), cfg, rel))
                .collect::<Result<Vec<_>>>()?,
            rel,
            max_positions: cfg.max_position_embeddings,
            dropout: cfg.hidden_dropout_prob,
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
        if seq > self.max_positions {
            bail!(
                "sequence of {seq} tokens is longer than the model's {} positions",
                self.max_positions
            )
        }
        let e = self.word.dim(1)?;
        let words = self.word.embedding(&input_ids.flatten_all()?)?;
        let casing = self.casing.embedding(&casing_ids.flatten_all()?)?;
        let mut xs = (words + casing)?.reshape((batch, seq, e))?;
        if let Some(position) = &self.position {
            xs = xs.broadcast_add(&position.narrow(0, 0, seq)?)?;
        }
        if let Some(token_type) = &self.token_type {
            xs = xs.broadcast_add(&token_type.get(0)?)?;
        }
        if let Some(proj) = &self.embed_proj {
            xs = proj.forward(&xs)?;
        }
        let mut xs = self.embedding_norm.forward(&xs)?.to_dtype(compute)?;
        if self.conv.is_some() {
            // transformers zeroes the embeddings of padding, which the convolution reads.
            let real = mask.ge(-1.0)?.to_dtype(xs.dtype())?.unsqueeze(2)?; // (b, seq, 1)
            xs = xs.broadcast_mul(&real)?;
        }
        let mut xs = dropout(&xs, self.dropout, train)?;
        let rel = match (&self.rel_embeddings, &self.rel_norm) {
            (Some(table), Some(norm)) => Some(norm.forward(table)?),
            (Some(table), None) => Some(table.clone()),
            (None, _) => None,
        };
        let shared = Shared {
            rel: rel
                .map(|t| {
                    Ok::<_, candle_core::Error>((
                        t.to_dtype(compute)?,
                        self.rel.relative_positions(seq),
                    ))
                })
                .transpose()?,
        };
        let embeddings = xs.clone();
        for (n, layer) in self.layers.iter().enumerate() {
            xs = layer.forward(&xs, mask, &shared, train)?;
            if let (0, Some(conv)) = (n, &self.conv) {
                xs = conv.forward(&embeddings, &xs, train)?;
            }
        }
        Ok(xs)
    }

    pub fn word_table(&self) -> &Tensor {
        &self.word
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relative(buckets: usize, max_relative: usize) -> Settings {
        Settings {
            relative_attention: true,
            terms: 3,
            span: buckets,
            buckets,
            max_relative,
            c2p: true,
            p2c: true,
            share_att_key: true,
            norm_rel_ebd: true,
        }
    }

    #[test]
    fn log_buckets_follow_transformers() {
        // DeBERTa-v3: 256 buckets over 512 positions. Values from transformers'
        // make_log_bucket_position(torch.tensor([...]), 256, 512).
        let r = relative(256, 512);
        for (d, want) in [
            (0, 0),
            (5, 5),
            (-5, -5),
            (127, 127),
            (128, 128),
            (129, 129),
            (200, 169),
            (-200, -169),
            (300, 207),
            (511, 255),
            (-511, -255),
        ] {
            assert_eq!(r.bucket(d), want, "distance {d}");
        }
        // The tiny fixtures' 8 buckets over 128 positions.
        let r = relative(8, 128);
        for (d, want) in [(3, 3), (4, 4), (5, 5), (12, 5), (13, 6), (-20, -6)] {
            assert_eq!(r.bucket(d), want, "distance {d}");
        }
        // Without buckets the distance itself.
        assert_eq!(relative(0, 16).bucket(-40), -40);
    }
}
