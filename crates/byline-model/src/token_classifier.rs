//! Plain Hugging Face token-classification checkpoints: a model directory with `config.json`
//! (`BertForTokenClassification`, `DistilBertForTokenClassification`), its checkpoint and
//! `tokenizer.json`, and no `byline.json`. Tagged as an entity model the way transformers'
//! `pipeline("token-classification", aggregation_strategy=...)` tags: the raw text through the
//! checkpoint's own tokenizer, a softmax over each subword's logits, subwords fused and grouped
//! by [`byline_core::aggregate`].
//!
//! One deliberate difference: the pipeline cuts a text at the model's length; byline cuts a long
//! text into overlapping windows of subwords and takes each subword's prediction from the window
//! where it is most central, so nothing is dropped. A text that fits one window is tagged exactly
//! as by the pipeline.

use std::path::{Path, PathBuf};

use byline_core::aggregate::{aggregate, is_subword, Aggregation, Token};
use byline_core::window::{plan_windows, Windows};
use byline_core::{Entity, Span};
use candle_core::{DType, Device, Tensor};
use serde_json::{Map, Value};
use tokenizers::models::ModelWrapper;

use crate::batch::Batch;
use crate::casing::Casing;
use crate::config::{Config, HiddenAct};
use crate::encoder::Encoder;
use crate::error::{Error, Result};
use crate::family::Family;
use crate::kernels::activation::activation;
use crate::kernels::layer_norm::LayerNorm;
use crate::kernels::quant::Quantization;
use crate::linear::Linear;
use crate::tokenize::Tokenizer;
use crate::weights::{LoadOptions, Pretrained, CONFIG_FILE};

/// The tokenizer's settings file (special tokens, `model_max_length`), when present.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";
/// The older special-tokens file, when present.
pub const SPECIAL_TOKENS_FILE: &str = "special_tokens_map.json";

/// Default padded subwords per prediction batch.
const PREDICT_BATCH_TOKENS: usize = 8192;

/// A plain token-classification model.
#[derive(Debug, Clone)]
pub struct TokenClassifier {
    encoder: Encoder,
    config: Config,
    family: Family,
    /// ModernBERT's prediction head before the classifier (dense, GELU, LayerNorm).
    head: Option<PredictionHead>,
    classifier: Linear,
    labels: Vec<String>,
    tokenizer: Tokenizer,
    /// The tokenizer's model marks continuing subwords with a prefix (WordPiece's `##`).
    subword_prefix: bool,
    unk_id: Option<u32>,
    /// Special tokens before and after the text.
    front: Vec<u32>,
    back: Vec<u32>,
    /// Subwords of text per window (the model's length less the special tokens).
    budget: usize,
    device: Device,
    predict_batch_tokens: usize,
}

/// A text through the tokenizer: its subwords (special tokens left out) and their windows.
#[derive(Debug, Clone)]
pub struct TextInput {
    pub ids: Vec<u32>,
    /// Byte span of each subword in the text.
    pub spans: Vec<Span>,
    pub is_subword: Vec<bool>,
    /// Subwords the pipeline leaves out of entities (special tokens inside the text).
    pub special: Vec<bool>,
    pub windows: Windows,
}

/// `ModernBertPredictionHead`: `norm(act(dense(x)))`, between ModernBERT's encoder and its
/// token classifier.
#[derive(Debug, Clone)]
struct PredictionHead {
    dense: Linear,
    act: HiddenAct,
    norm: LayerNorm,
}

impl PredictionHead {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let xs = activation(&self.dense.forward(xs)?, self.act)?;
        Ok(self.norm.forward(&xs)?)
    }
}

/// `architectures` names byline reads as token classification.
fn token_classification_family(architectures: &[String]) -> Option<Family> {
    Family::ALL
        .into_iter()
        .find(|f| architectures.iter().any(|a| a == f.token_classification()))
}

/// Whether a `config.json` is a plain token-classification checkpoint's: its `architectures`
/// name a `...ForTokenClassification` (of any family).
fn is_token_classification(config: &Map<String, Value>) -> bool {
    architectures(config)
        .iter()
        .any(|a| a.ends_with("ForTokenClassification"))
}

fn architectures(map: &Map<String, Value>) -> Vec<String> {
    map.get("architectures")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON object file, or `None` when the file does not exist; other failures name the file.
pub(crate) fn read_json(path: &Path) -> Result<Option<Map<String, Value>>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| Error::Json {
                path: path.to_path_buf(),
                line: source.line(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// `id2label` in id order; ids must be 0..n without gaps.
fn labels(path: &Path, config: &Map<String, Value>) -> Result<Vec<String>> {
    let bad = |message: String| Error::InvalidConfig {
        path: path.to_path_buf(),
        message,
    };
    let map = config
        .get("id2label")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            bad("no `id2label`: a token-classification config names its labels".into())
        })?;
    let mut labels = vec![None; map.len()];
    for (id, label) in map {
        let i: usize = id
            .parse()
            .map_err(|_| bad(format!("id2label: `{id}` is not an id")))?;
        let slot = labels
            .get_mut(i)
            .ok_or_else(|| bad(format!("id2label: ids are not 0..{}", map.len())))?;
        *slot = Some(
            label
                .as_str()
                .ok_or_else(|| bad(format!("id2label: label {id} is not a string")))?
                .to_string(),
        );
    }
    labels
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bad("id2label: ids are not 0..n".into()))
}

/// A special token named in a tokenizer settings file: a string, or `{"content": ...}`.
fn token_name(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content")?.as_str().map(String::from),
        _ => None,
    }
}

impl TokenClassifier {
    /// Loads a plain token-classification directory (see the [module docs](self)).
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Self> {
        let config_path = dir.join(CONFIG_FILE);
        let raw = read_json(&config_path)?.ok_or_else(|| Error::BadModelDir {
            path: dir.to_path_buf(),
            message: "no config.json".into(),
        })?;
        let arch = architectures(&raw);
        let declared = token_classification_family(&arch);
        let family = Family::of_config(&raw).map_err(|found| Error::UnknownModelType {
            path: config_path.clone(),
            found,
        })?;
        if declared.is_some_and(|d| d != family) || (declared.is_none() && !arch.is_empty()) {
            return Err(Error::InvalidConfig {
                path: config_path,
                message: format!(
                    "architectures {arch:?}: byline tags with {} (model_type `{}`)",
                    Family::token_classification_names(),
                    family.model_type()
                ),
            });
        }
        let labels = labels(&config_path, &raw)?;
        let (pretrained, checkpoint) = Pretrained::load_with(dir, opts, |n| {
            n.starts_with("classifier.") || n.starts_with("head.")
        })?;
        let weight_file = checkpoint.path;
        let take = |name: &str| -> Result<Tensor> {
            let t = checkpoint
                .kept
                .get(name)
                .ok_or_else(|| Error::MissingWeight {
                    path: weight_file.clone(),
                    name: name.into(),
                })?;
            Ok(t.to_dtype(opts.dtype)?.to_device(&opts.device)?)
        };
        let (weight, bias) = (take("classifier.weight")?, take("classifier.bias")?);
        let hidden = pretrained.config.hidden_size;
        if weight.dims() != [labels.len(), hidden] || bias.dims() != [labels.len()] {
            return Err(Error::WeightShape {
                path: weight_file,
                name: "classifier.weight".into(),
                found: weight.dims().to_vec(),
                expected: vec![labels.len(), hidden],
            });
        }
        let head = match family {
            Family::ModernBert => {
                let flag = |k: &str| raw.get(k).and_then(Value::as_bool).unwrap_or(false);
                let name = raw
                    .get("classifier_activation")
                    .and_then(Value::as_str)
                    .unwrap_or("gelu");
                let Some(act) = HiddenAct::parse(name) else {
                    return Err(Error::InvalidConfig {
                        path: config_path,
                        message: format!(
                            "classifier_activation `{name}` is not supported (gelu, gelu_new, relu)"
                        ),
                    });
                };
                let dense_bias = match flag("classifier_bias") {
                    true => take("head.dense.bias")?,
                    false => Tensor::zeros(hidden, opts.dtype, &opts.device)?,
                };
                let norm_bias = match flag("norm_bias") {
                    true => take("head.norm.bias")?,
                    false => Tensor::zeros(hidden, opts.dtype, &opts.device)?,
                };
                Some(PredictionHead {
                    dense: Linear::new(take("head.dense.weight")?, dense_bias),
                    act,
                    norm: LayerNorm::new(
                        take("head.norm.weight")?,
                        norm_bias,
                        pretrained.config.layer_norm_eps,
                    ),
                })
            }
            _ => None,
        };
        let tok_path = dir.join(crate::tagger::TOKENIZER_FILE);
        if !tok_path.is_file() && !dir.join(crate::spm::SPM_FILE).is_file() {
            return Err(Error::BadModelDir {
                path: dir.to_path_buf(),
                message: "no tokenizer.json: byline reads the fast tokenizer's tokenizer.json, \
                          or DeBERTa's spm.model (in Python, \
                          `AutoTokenizer.from_pretrained(DIR).save_pretrained(DIR)` writes a \
                          tokenizer.json)"
                    .into(),
            });
        }
        let tokenizer = Tokenizer::from_dir(dir)?;
        let settings = read_json(&dir.join(TOKENIZER_CONFIG_FILE))?.unwrap_or_default();
        let special_map = read_json(&dir.join(SPECIAL_TOKENS_FILE))?.unwrap_or_default();
        let inner = tokenizer.inner();
        let (subword_prefix, model_unk) = match inner.get_model() {
            ModelWrapper::WordPiece(wp) => (
                !wp.continuing_subword_prefix.is_empty(),
                Some(wp.unk_token.clone()),
            ),
            ModelWrapper::BPE(bpe) => (
                bpe.continuing_subword_prefix
                    .as_ref()
                    .is_some_and(|p| !p.is_empty()),
                bpe.unk_token.clone(),
            ),
            ModelWrapper::WordLevel(wl) => (false, Some(wl.unk_token.clone())),
            ModelWrapper::Unigram(_) => (false, None),
        };
        let unk_id = token_name(settings.get("unk_token"))
            .or_else(|| token_name(special_map.get("unk_token")))
            .or(model_unk)
            .and_then(|t| inner.token_to_id(&t));
        let with = inner
            .encode("a", true)
            .map_err(|source| Error::Encode { source })?;
        let mask = with.get_special_tokens_mask();
        let ids = with.get_ids();
        let n_front = mask.iter().take_while(|&&m| m == 1).count();
        let n_back = mask.iter().rev().take_while(|&&m| m == 1).count();
        if n_front + n_back >= ids.len() {
            return Err(Error::BadModelDir {
                path: tok_path,
                message: "the tokenizer produces no subword for the text `a`".into(),
            });
        }
        let front = ids[..n_front].to_vec();
        let back = ids[ids.len() - n_back..].to_vec();
        let mut longest = pretrained.config.max_positions();
        if let Some(m) = settings.get("model_max_length").and_then(Value::as_f64) {
            if m >= 1.0 && m < longest as f64 {
                longest = m as usize;
            }
        }
        let budget = longest.saturating_sub(front.len() + back.len());
        if budget == 0 {
            return Err(Error::InvalidConfig {
                path: config_path,
                message: format!("{longest} positions leave no room between the special tokens"),
            });
        }
        let classifier = Linear::new(weight, bias);
        Ok(TokenClassifier {
            // Inference only: plain tensors, so no activation outlives its use.
            encoder: pretrained.detached_encoder()?,
            config: pretrained.config,
            family,
            head,
            classifier,
            labels,
            tokenizer,
            subword_prefix,
            unk_id,
            front,
            back,
            budget,
            device: opts.device.clone(),
            predict_batch_tokens: PREDICT_BATCH_TOKENS,
        })
    }

    /// `id2label`, in id order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The entity types the labels name (prefixes stripped, `O` left out), in label order.
    pub fn entity_types(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in &self.labels {
            let t = l.split_once('-').map_or(l.as_str(), |(_, t)| t);
            if t != "O" && !out.iter().any(|o| o == t) {
                out.push(t.to_string());
            }
        }
        out
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The special tokens put before and after every window of text.
    pub fn special_tokens(&self) -> (&[u32], &[u32]) {
        (&self.front, &self.back)
    }

    /// Subwords of text per window.
    pub fn window_subwords(&self) -> usize {
        self.budget
    }

    /// Padded subwords per prediction batch (default 8192).
    pub fn set_predict_batch_tokens(&mut self, tokens: usize) {
        self.predict_batch_tokens = tokens.max(1);
    }

    /// Windows of at most `subwords` subwords of text (at most what the model holds): for tests
    /// of long texts on small models.
    pub fn set_window_subwords(&mut self, subwords: usize) {
        let most = self.config.max_positions() - self.front.len() - self.back.len();
        self.budget = subwords.clamp(1, most);
    }

    /// An inference copy whose encoder computes in `q` (the classifier stays f32).
    pub fn quantized(&self, q: Quantization) -> Result<Self> {
        Ok(Self {
            encoder: self.encoder.quantize(q)?,
            ..self.clone()
        })
    }

    /// Tokenises `text` and plans its windows (no tensor work).
    pub fn prepare(&self, text: &str) -> Result<TextInput> {
        let enc = self
            .tokenizer
            .inner()
            .encode(text, false)
            .map_err(|source| Error::Encode { source })?;
        let ids = enc.get_ids().to_vec();
        let spans: Vec<Span> = enc
            .get_offsets()
            .iter()
            .map(|&(s, e)| Span::new(s, e.max(s)))
            .collect();
        let special: Vec<bool> = enc
            .get_special_tokens_mask()
            .iter()
            .map(|&m| m == 1)
            .collect();
        let inner = self.tokenizer.inner();
        let is_subword = ids
            .iter()
            .zip(&spans)
            .map(|(&id, &span)| {
                let token = inner.id_to_token(id).unwrap_or_default();
                is_subword(
                    text,
                    span,
                    &token,
                    self.subword_prefix,
                    Some(id) == self.unk_id,
                )
            })
            .collect();
        let overlap = self.budget / 4;
        let windows = plan_windows(&vec![1; ids.len()], self.budget, overlap, None)?;
        Ok(TextInput {
            ids,
            spans,
            is_subword,
            special,
            windows,
        })
    }

    /// Label probabilities of every subword of each input: `out[d][t * labels + l]`. Windows of
    /// all inputs are sorted by length and batched by padded subwords.
    pub fn predict(&self, inputs: &[&TextInput]) -> Result<Vec<Vec<f32>>> {
        let n_labels = self.labels.len();
        let mut out: Vec<Vec<f32>> = inputs
            .iter()
            .map(|i| vec![0.0; i.ids.len() * n_labels])
            .collect();
        let mut items: Vec<(usize, usize)> = inputs
            .iter()
            .enumerate()
            .flat_map(|(d, i)| (0..i.windows.windows.len()).map(move |w| (d, w)))
            .collect();
        let len = |&(d, w): &(usize, usize)| inputs[d].windows.windows[w].subwords.len();
        items.sort_by_key(|item| std::cmp::Reverse(len(item)));
        let extra = self.front.len() + self.back.len();
        let mut start = 0;
        while start < items.len() {
            let longest = len(&items[start]) + extra;
            let take = (self.predict_batch_tokens / longest).max(1);
            let chunk = &items[start..(start + take).min(items.len())];
            start += chunk.len();
            let seqs: Vec<Vec<u32>> = chunk
                .iter()
                .map(|&(d, w)| {
                    let range = inputs[d].windows.windows[w].subwords.clone();
                    let mut ids = self.front.clone();
                    ids.extend_from_slice(&inputs[d].ids[range]);
                    ids.extend_from_slice(&self.back);
                    ids
                })
                .collect();
            let logits = self
                .forward_batch(&seqs)?
                .1
                .to_dtype(DType::F32)?
                .to_device(&Device::Cpu)?; // (batch, seq, labels)
            let (_, seq, _) = logits.dims3()?;
            let logits = logits.flatten_all()?.to_vec1::<f32>()?;
            for (b, &(d, w)) in chunk.iter().enumerate() {
                let windows = &inputs[d].windows;
                let first = windows.windows[w].subwords.start;
                for t in windows.owned(w) {
                    let at = (b * seq + self.front.len() + t - first) * n_labels;
                    softmax(
                        &logits[at..at + n_labels],
                        &mut out[d][t * n_labels..(t + 1) * n_labels],
                    );
                }
            }
        }
        Ok(out)
    }

    /// The encoder's last hidden states (seq, hidden) and the classifier's logits (seq, labels)
    /// of one sequence of ids, special tokens included: what transformers' model returns.
    pub fn forward_ids(&self, ids: &[u32]) -> Result<(Tensor, Tensor)> {
        let (hidden, logits) = self.forward_batch(&[ids.to_vec()])?;
        Ok((hidden.squeeze(0)?, logits.squeeze(0)?))
    }

    /// The encoder's last hidden states (batch, seq, hidden) and the logits (batch, seq, labels)
    /// of sequences of ids (special tokens included), padded to the longest.
    fn forward_batch(&self, seqs: &[Vec<u32>]) -> Result<(Tensor, Tensor)> {
        let casing: Vec<Vec<u32>> = seqs
            .iter()
            .map(|s| vec![Casing::Special.id(); s.len()])
            .collect();
        let parts: Vec<(&[u32], &[u32])> = seqs
            .iter()
            .zip(&casing)
            .map(|(s, c)| (&s[..], &c[..]))
            .collect();
        let batch = Batch::from_parts(
            &parts,
            self.tokenizer.pad_id(),
            self.config.max_positions(),
            &self.device,
        )?;
        let hidden = self.encoder.forward(
            &batch.input_ids,
            &batch.casing_ids,
            &batch.attention_mask,
            false,
        )?; // (batch, seq, hidden)
        let logits = match &self.head {
            Some(head) => self.classifier.forward(&head.forward(&hidden)?)?,
            None => self.classifier.forward(&hidden)?,
        }; // (batch, seq, labels)
        Ok((hidden, logits))
    }

    /// The entities of `text` from its input and probabilities, grouped by `aggregation`.
    pub fn entities(
        &self,
        input: &TextInput,
        probs: &[f32],
        aggregation: Aggregation,
    ) -> Vec<Entity> {
        let n = self.labels.len();
        let tokens: Vec<Token> = (0..input.ids.len())
            .filter(|&t| !input.special[t])
            .map(|t| Token {
                span: input.spans[t],
                is_subword: input.is_subword[t],
                probs: &probs[t * n..(t + 1) * n],
            })
            .collect();
        aggregate(&tokens, &self.labels, aggregation)
            .into_iter()
            .map(|g| Entity {
                span: g.span,
                label: g.label,
                score: Some(g.score),
            })
            .collect()
    }
}

/// numpy's softmax of the pipeline: `exp(x - max) / sum`.
fn softmax(logits: &[f32], out: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for (o, &x) in out.iter_mut().zip(logits) {
        *o = (x - max).exp();
        sum += *o;
    }
    for o in out.iter_mut() {
        *o /= sum;
    }
}

/// What a model directory holds, by its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// byline's own (`byline.json`).
    Byline,
    /// A plain token-classification checkpoint.
    TokenClassification,
}

impl ModelKind {
    /// The kind of model directory `dir` is, or an error saying what is missing.
    pub fn of_dir(dir: &Path) -> Result<ModelKind> {
        if dir.join(crate::tagger::BYLINE_FILE).is_file() {
            return Ok(ModelKind::Byline);
        }
        let config = dir.join(CONFIG_FILE);
        if !config.is_file() {
            return Err(Error::BadModelDir {
                path: dir.to_path_buf(),
                message: "not a model directory: no byline.json and no config.json".into(),
            });
        }
        let raw = read_json(&config)?.unwrap_or_default();
        Family::of_config(&raw).map_err(|found| Error::UnknownModelType {
            path: config.clone(),
            found,
        })?;
        if is_token_classification(&raw) {
            return Ok(ModelKind::TokenClassification);
        }
        Err(Error::BadModelDir {
            path: PathBuf::from(dir),
            message: format!(
                "no byline.json, and config.json's architectures {:?} are not a token \
                 classifier: byline tags with its own models or with {}; an encoder alone is \
                 for `byline train` (model_dir)",
                architectures(&raw),
                Family::token_classification_names()
            ),
        })
    }
}
