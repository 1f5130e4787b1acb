//! The tagger: the encoder with named tagging heads (entities; attribution roles), what turns
//! documents into windows and windows into per-word tags, and the model directory.
//!
//! By job: this file holds the tagger and its model directory (load, save, the config it
//! writes); [`batches`] the training side (windows, examples, padded batches, loss); [`predict`]
//! the prediction loop; [`decode`] word tags into entities and assembled attributions.
//!
//! ```text
//! <dir>/config.json        BERT config, with `id2label`/`label2id` of the entity head
//! <dir>/tokenizer.json     the tokenizer (without baked-in padding or truncation)
//! <dir>/model.safetensors  encoder (Hugging Face names, plus the casing table),
//!                          heads as `heads.<name>.*`, and the entity head's linear layer
//!                          again as `classifier.*` (so `BertForTokenClassification` loads it)
//! <dir>/byline.json        heads (name, kind, scheme, labels, decoder), windows, casing
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use byline_core::align::{
    entities_from_tags, entity_tags, role_labels, role_tags, roles_from_tags,
};
use byline_core::assemble::{
    assemble, assemble_proposing, Proposals, MAX_PROPOSAL_WORDS, PROPOSAL_REACH,
};
use byline_core::tokenize::tokenize_document;
use byline_core::{Attribution, Document, Entity, LabelSet, Scheme, Tag, TagSet};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::batch::Batch;
use crate::config::Config;
use crate::encoder::Encoder;
use crate::error::{Error, Result};
use crate::features::{document_windows, DocumentInput, Specials, TagExample, WindowConfig};
use crate::gather::WordPositions;
use crate::head::{DecoderKind, HeadConfig, TaggerHead};
use crate::linker::{Linker, LinkerConfig, WordVectors};
use crate::tag_batch::TagBatch;
use crate::tokenize::Tokenizer;
use crate::weights::{
    save_safetensors, LoadOptions, ParamStore, Pretrained, CONFIG_FILE, SAFETENSORS_FILE,
};

mod average;
pub use average::{average_models, Averaged};
mod batches;
mod decode;
pub use decode::{Annotated, Heads};
mod predict;

pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const BYLINE_FILE: &str = "byline.json";

/// What a head tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadKind {
    /// Named entities (`Document::entities`).
    Entities,
    /// Attribution roles SOURCE / CUE / CONTENT, assembled into `Document::attributions`.
    Attributions,
}

/// One head as saved in `byline.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadSpec {
    pub name: String,
    pub kind: HeadKind,
    pub scheme: Scheme,
    pub labels: Vec<String>,
    #[serde(default)]
    pub decoder: DecoderKind,
    #[serde(default = "default_head_dropout")]
    pub dropout: f32,
    /// See [`HeadConfig::decode_bias`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub decode_bias: BTreeMap<String, f32>,
    /// Entity heads: a mention scored below this takes the label of the document's most
    /// confident mention of the same name ([`byline_core::consistency`]); 0 turns that off.
    /// In `byline.json` only when it is not the default.
    #[serde(
        default = "default_relabel_below",
        skip_serializing_if = "is_default_relabel_below"
    )]
    pub relabel_below: f32,
}

fn default_head_dropout() -> f32 {
    0.1
}

fn default_relabel_below() -> f32 {
    byline_core::consistency::RELABEL_BELOW
}

fn is_default_relabel_below(v: &f32) -> bool {
    *v == default_relabel_below()
}

/// Why `below` cannot be a head's [`HeadSpec::relabel_below`], if it cannot.
fn relabel_below_problem(below: f32) -> Option<String> {
    (!(0.0..=1.0).contains(&below)).then(|| format!("relabel_below {below} is not in [0, 1]"))
}

impl HeadSpec {
    /// An entity head over `labels`.
    pub fn entities(name: &str, scheme: Scheme, labels: &[&str], decoder: DecoderKind) -> Self {
        HeadSpec {
            name: name.into(),
            kind: HeadKind::Entities,
            scheme,
            labels: labels.iter().map(|l| l.to_string()).collect(),
            decoder,
            dropout: default_head_dropout(),
            decode_bias: BTreeMap::new(),
            relabel_below: default_relabel_below(),
        }
    }

    /// An attribution-role head over SOURCE, CUE, CONTENT.
    pub fn attributions(name: &str, scheme: Scheme, decoder: DecoderKind) -> Self {
        HeadSpec {
            name: name.into(),
            kind: HeadKind::Attributions,
            scheme,
            labels: role_labels().names().to_vec(),
            decoder,
            dropout: default_head_dropout(),
            decode_bias: BTreeMap::new(),
            relabel_below: default_relabel_below(),
        }
    }

    pub fn tag_set(&self) -> TagSet {
        TagSet::new(self.scheme, &LabelSet::from_names(&self.labels))
    }
}

/// Everything about a tagger beyond its weights: `byline.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaggerConfig {
    pub heads: Vec<HeadSpec>,
    #[serde(default)]
    pub window: WindowConfig,
    /// The casing embedding is trained. Without it the table stays at zero (frozen), so the
    /// encoder sees exactly what the pretrained, uncased model sees.
    #[serde(default = "yes")]
    pub casing: bool,
    /// The learned source scorer of attribution assembly ([`crate::linker`]), when trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linker: Option<LinkerConfig>,
}

fn yes() -> bool {
    true
}

impl TaggerConfig {
    /// Reads `dir/byline.json`; errors name the file (and the line of a JSON error).
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(BYLINE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.clone(),
            line: source.line(),
            source,
        })
    }

    /// Writes `dir/byline.json` (pretty JSON, a final newline).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(BYLINE_FILE);
        let text = serde_json::to_string_pretty(self).map_err(|source| Error::Json {
            path: path.clone(),
            line: 0,
            source,
        })?;
        std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))
    }

    /// The heads of this config over the weights of `vb` (created there when missing).
    fn load_heads(&self, vb: VarBuilder, hidden_size: usize) -> Result<Vec<TaggerHead>> {
        self.heads
            .iter()
            .map(|h| {
                let cfg = HeadConfig {
                    name: h.name.clone(),
                    dropout: h.dropout,
                    decoder: h.decoder,
                    decode_bias: h.decode_bias.clone(),
                };
                TaggerHead::load(vb.clone(), &cfg, hidden_size, &h.tag_set())
            })
            .collect()
    }

    /// `opts` with the casing table frozen when this tagger has no casing feature.
    fn load_options(&self, opts: &LoadOptions) -> LoadOptions {
        LoadOptions {
            freeze_casing: opts.freeze_casing || !self.casing,
            ..opts.clone()
        }
    }
}

/// Per-word predictions of one head for one document.
#[derive(Debug, Clone, PartialEq)]
pub struct WordPredictions {
    /// Tag index (into the head's [`TagSet`]) of each word.
    pub tags: Vec<usize>,
    /// Marginal probability of each word's tag.
    pub scores: Vec<f32>,
    /// Encoder vectors of the first and last words of the head's spans, collected for the
    /// [`Linker`] of an attribution head (empty otherwise).
    pub vectors: WordVectors,
}

/// A padded training batch of one head.
#[derive(Debug, Clone)]
pub struct TagTrainBatch {
    pub head: usize,
    pub batch: Batch,
    pub positions: WordPositions,
    pub gold: TagBatch,
}

/// Default padded tokens per prediction batch.
const PREDICT_BATCH_TOKENS: usize = 8192;

/// The encoder with its heads and tokenizer.
#[derive(Clone)]
pub struct Tagger {
    encoder: Encoder,
    config: Config,
    params: ParamStore,
    head_vars: VarMap,
    heads: Vec<TaggerHead>,
    tokenizer: Tokenizer,
    specials: Specials,
    spec: TaggerConfig,
    dtype: DType,
    device: Device,
    predict_batch_tokens: usize,
    /// Longest document (in words) a proposing linker proposes spans in.
    max_proposal_words: usize,
    linker: Option<Linker>,
}

impl std::fmt::Debug for Tagger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tagger")
            .field("config", &self.config)
            .field("spec", &self.spec)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Tagger {
    /// A tagger with fresh (randomly initialised) heads on `pretrained`.
    pub fn new(pretrained: Pretrained, tokenizer: Tokenizer, spec: TaggerConfig) -> Result<Self> {
        Self::assemble(pretrained, tokenizer, spec, VarMap::new(), None)
    }

    /// Loads the encoder and `tokenizer.json` of a Hugging Face directory and adds fresh heads.
    pub fn from_pretrained(dir: &Path, opts: &LoadOptions, spec: TaggerConfig) -> Result<Self> {
        let opts = spec.load_options(opts);
        let pretrained = Pretrained::load(dir, &opts)?;
        let tokenizer = Tokenizer::from_dir(dir)?;
        Self::new(pretrained, tokenizer, spec)
    }

    /// Loads a directory written by [`Tagger::save`].
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Self> {
        let spec = TaggerConfig::read(dir)?;
        let opts = &spec.load_options(opts);
        let pretrained = Pretrained::load(dir, opts)?;
        let tokenizer = Tokenizer::from_dir(dir)?;
        let weights = dir.join(SAFETENSORS_FILE);
        let tensors = candle_core::safetensors::load(&weights, &opts.device)?;
        let head_vars = VarMap::new();
        let mut stored = HashSet::new();
        {
            let mut data = head_vars
                .data()
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (name, t) in tensors.into_iter().filter(|(n, _)| n.starts_with("heads.")) {
                data.insert(name.clone(), Var::from_tensor(&t.to_dtype(opts.dtype)?)?);
                stored.insert(name);
            }
        }
        let linker = spec.linker.clone();
        let mut tagger = Self::assemble(
            pretrained,
            tokenizer,
            TaggerConfig {
                linker: None,
                ..spec
            },
            head_vars,
            Some((&weights, stored)),
        )?;
        if let Some(config) = linker {
            let hidden = tagger.config.hidden_size;
            let linker = Linker::load(dir, config, hidden, &tagger.device)?;
            tagger.set_linker(Some(linker))?;
        }
        Ok(tagger)
    }

    /// Attaches (or removes) the learned source scorer; its head must be an attribution head.
    pub fn set_linker(&mut self, linker: Option<Linker>) -> Result<()> {
        if let Some(l) = &linker {
            let h = self.head_index(&l.config().head)?;
            if self.spec.heads[h].kind != HeadKind::Attributions {
                return Err(Error::InvalidTagger {
                    message: format!(
                        "linker head `{}` is not an attribution head",
                        l.config().head
                    ),
                });
            }
            if l.hidden() != self.config.hidden_size {
                return Err(Error::InvalidTagger {
                    message: format!(
                        "linker reads vectors of width {}, the encoder's are {}",
                        l.hidden(),
                        self.config.hidden_size
                    ),
                });
            }
        }
        self.spec.linker = linker.as_ref().map(|l| l.config().clone());
        self.linker = linker;
        Ok(())
    }

    /// Sets the [`HeadConfig::decode_bias`](crate::HeadConfig::decode_bias) of head `head`
    /// (saved with the model).
    pub fn set_decode_bias(&mut self, head: &str, bias: BTreeMap<String, f32>) -> Result<()> {
        let h = self.head_index(head)?;
        self.heads[h].set_decode_bias(bias.clone())?;
        self.spec.heads[h].decode_bias = bias;
        Ok(())
    }

    /// Sets the [`HeadSpec::relabel_below`] of entity head `head` (saved with the model).
    pub fn set_relabel_below(&mut self, head: &str, below: f32) -> Result<()> {
        let h = self.head_index(head)?;
        let spec = &mut self.spec.heads[h];
        let problem = if spec.kind != HeadKind::Entities {
            Some("relabel_below is for an entity head only".to_string())
        } else {
            relabel_below_problem(below)
        };
        if let Some(message) = problem {
            return Err(Error::InvalidHead {
                name: head.to_string(),
                message,
            });
        }
        spec.relabel_below = below;
        Ok(())
    }

    pub fn linker(&self) -> Option<&Linker> {
        self.linker.as_ref()
    }

    fn assemble(
        pretrained: Pretrained,
        tokenizer: Tokenizer,
        spec: TaggerConfig,
        head_vars: VarMap,
        stored: Option<(&Path, HashSet<String>)>,
    ) -> Result<Self> {
        let invalid = |message: String| Error::InvalidTagger { message };
        if spec.heads.is_empty() {
            return Err(invalid("no heads".into()));
        }
        for (i, h) in spec.heads.iter().enumerate() {
            if spec.heads[..i].iter().any(|o| o.name == h.name) {
                return Err(invalid(format!("head `{}` is named twice", h.name)));
            }
            if h.kind == HeadKind::Attributions && h.labels != role_labels().names() {
                return Err(invalid(format!(
                    "attribution head `{}` must have the labels SOURCE, CUE, CONTENT",
                    h.name
                )));
            }
            if let Some(problem) = relabel_below_problem(h.relabel_below) {
                return Err(invalid(format!("head `{}`: {problem}", h.name)));
            }
        }
        let specials = Specials::of(&tokenizer)?;
        let longest = spec.window.max_subwords + specials.count();
        let positions = pretrained.config.max_positions();
        if spec.window.max_subwords == 0 || longest > positions {
            return Err(invalid(format!(
                "windows of {} subwords plus {} special tokens do not fit the model's {positions} positions",
                spec.window.max_subwords,
                specials.count()
            )));
        }
        let Pretrained {
            encoder,
            config,
            params,
        } = pretrained;
        let dtype = encoder_dtype(&params);
        let device = params
            .tensors()
            .values()
            .next()
            .map_or(Device::Cpu, |t| t.device().clone());
        let vb = VarBuilder::from_varmap(&head_vars, dtype, &device);
        let heads = spec.load_heads(vb, config.hidden_size)?;
        if let Some((path, stored)) = stored {
            let vars = head_vars
                .data()
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(name) = vars.keys().filter(|n| !stored.contains(*n)).min() {
                return Err(Error::MissingWeight {
                    path: path.to_path_buf(),
                    name: name.clone(),
                });
            }
        }
        Ok(Tagger {
            encoder,
            config,
            params,
            head_vars,
            heads,
            tokenizer,
            specials,
            spec,
            dtype,
            device,
            predict_batch_tokens: PREDICT_BATCH_TOKENS,
            max_proposal_words: MAX_PROPOSAL_WORDS,
            linker: None,
        })
    }

    /// A copy for prediction only: the encoder and heads over the same weights (no copy), but
    /// as plain tensors instead of variables. candle records the inputs of every operation on
    /// a variable for a backward pass, so a forward pass over variables keeps every activation
    /// of every layer alive until its output is dropped (about 2 GB for a batch of 32 windows
    /// of 256); over plain tensors each intermediate is freed as soon as it is used. Training
    /// this copy updates nothing.
    pub fn detached(&self) -> Result<Tagger> {
        let detach = |tensors: HashMap<String, Tensor>| -> HashMap<String, Tensor> {
            tensors
                .into_iter()
                .map(|(name, t)| (name, t.detach()))
                .collect()
        };
        let encoder = self
            .params
            .detached_encoder(&self.config, self.dtype, &self.device)?;
        let head_tensors: HashMap<String, Tensor> = self
            .head_vars
            .data()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(name, var)| (name.clone(), var.as_tensor().clone()))
            .collect();
        let vb = VarBuilder::from_tensors(detach(head_tensors), self.dtype, &self.device);
        let heads = self.spec.load_heads(vb, self.config.hidden_size)?;
        Ok(Tagger {
            encoder,
            heads,
            ..self.clone()
        })
    }

    pub fn spec(&self) -> &TaggerConfig {
        &self.spec
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn heads(&self) -> &[TaggerHead] {
        &self.heads
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The index of the head named `name`.
    pub fn head_index(&self, name: &str) -> Result<usize> {
        self.heads
            .iter()
            .position(|h| h.name() == name)
            .ok_or_else(|| Error::InvalidTagger {
                message: format!(
                    "no head `{name}` (heads: {:?})",
                    self.heads.iter().map(|h| h.name()).collect::<Vec<_>>()
                ),
            })
    }

    /// Padded tokens per prediction batch (default 8192).
    pub fn set_predict_batch_tokens(&mut self, tokens: usize) {
        self.predict_batch_tokens = tokens.max(1);
    }

    /// Longest document (in words) in which a proposing linker proposes untagged spans
    /// (default [`MAX_PROPOSAL_WORDS`]); a longer one keeps only span ends' vectors.
    pub fn set_max_proposal_words(&mut self, words: usize) {
        self.max_proposal_words = words;
    }

    /// Sets the encoder's dropout (hidden and attention) used in training.
    pub fn set_dropout(&mut self, p: f32) -> Result<()> {
        let mut config = self.config.clone();
        config.hidden_dropout_prob = p;
        config.attention_probs_dropout_prob = p;
        config
            .validate()
            .map_err(|message| Error::InvalidTagger { message })?;
        let compute = Some(self.encoder.compute_dtype());
        self.encoder = Encoder::load(self.params.var_builder(self.dtype, &self.device), &config)?
            .with_compute_dtype(compute);
        self.config = config;
        Ok(())
    }

    /// Mixed precision: the encoder's layers compute in `dtype` (bf16) over the f32 weights,
    /// which stay the trained and saved ones ([`Encoder::with_compute_dtype`]); the heads and
    /// the loss stay f32. `None` computes in the weights' dtype again.
    pub fn set_compute_dtype(&mut self, dtype: Option<DType>) {
        self.encoder = self.encoder.with_compute_dtype(dtype);
    }

    /// The dtype the encoder's layers compute in.
    pub fn compute_dtype(&self) -> DType {
        self.encoder.compute_dtype()
    }

    /// Trainable variables with their names: `(name, var, is_head)`. Frozen word embeddings are
    /// not among them.
    pub fn trainable(&self) -> Vec<(String, Var, bool)> {
        let mut out: Vec<(String, Var, bool)> = Vec::new();
        for (map, is_head) in [(self.params.varmap(), false), (&self.head_vars, true)] {
            let data = map
                .data()
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut vars: Vec<(String, Var, bool)> = data
                .iter()
                .map(|(n, v)| (n.clone(), v.clone(), is_head))
                .collect();
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            out.extend(vars);
        }
        out
    }

    /// Every encoder tensor (trainable or frozen) under its Hugging Face name.
    pub fn encoder_tensors(&self) -> HashMap<String, Tensor> {
        self.params.tensors()
    }

    /// An inference-only copy whose encoder computes in `q` ([`Encoder::quantize`]): training it
    /// is an error; `set_dropout` reloads an f32 encoder.
    pub fn quantized(&self, q: crate::kernels::quant::Quantization) -> Result<Self> {
        let encoder = self.encoder.quantize(q)?;
        Ok(Self {
            encoder,
            ..self.clone()
        })
    }

    /// Encoder output (batch, seq, hidden) of a batch.
    pub fn encode(&self, batch: &Batch, train: bool) -> Result<Tensor> {
        Ok(self.encoder.forward(
            &batch.input_ids,
            &batch.casing_ids,
            &batch.attention_mask,
            train,
        )?)
    }

    pub(super) fn head(&self, head: usize) -> Result<&TaggerHead> {
        self.heads.get(head).ok_or_else(|| Error::InvalidTagger {
            message: format!("no head {head} ({} heads)", self.heads.len()),
        })
    }

    pub(super) fn head_spec(&self, head: usize) -> Result<&HeadSpec> {
        self.head(head)?;
        Ok(&self.spec.heads[head])
    }

    /// The head whose labels go into `config.json`: the first entity head, else the first.
    fn public_head(&self) -> usize {
        self.spec
            .heads
            .iter()
            .position(|h| h.kind == HeadKind::Entities)
            .unwrap_or(0)
    }

    /// The encoder's config as a token-classification config of head `head`: `id2label` and
    /// `label2id` of its tags, `architectures` of the encoder's family.
    pub fn token_classification_config(&self, head: usize) -> Config {
        let tag_set = self.heads[head].tag_set();
        let names: Vec<String> = (0..tag_set.len())
            .map(|i| tag_set.name(i).unwrap_or_default())
            .collect();
        let mut config = self.config.clone();
        config.id2label = Some(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (i.to_string(), n.clone()))
                .collect::<BTreeMap<_, _>>(),
        );
        config.label2id = Some(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i))
                .collect(),
        );
        config.extra.insert(
            "architectures".into(),
            serde_json::json!([config.family().token_classification()]),
        );
        config
    }

    /// Writes the model directory (see the [module docs](self)), creating `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.save_as(dir, self.dtype)
    }

    /// The dtype the tagger computes in (and [`Tagger::save`] writes).
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Like [`Tagger::save`], with every tensor stored as `dtype` (`F16` halves the file; loading
    /// converts back to the dtype asked for in [`LoadOptions`]).
    pub fn save_as(&self, dir: &Path, dtype: DType) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let public = self.public_head();
        let config = self.token_classification_config(public);
        config.save(dir.join(CONFIG_FILE))?;

        let mut tensors: HashMap<String, Tensor> = self.params.tensors();
        for (name, var, _) in self.trainable().into_iter().filter(|t| t.2) {
            tensors.insert(name, var.as_tensor().clone());
        }
        let prefix = format!("heads.{}.classifier.", self.heads[public].name());
        for part in ["weight", "bias"] {
            if let Some(t) = tensors.get(&format!("{prefix}{part}")).cloned() {
                tensors.insert(format!("classifier.{part}"), t);
            }
        }
        save_safetensors(tensors, &dir.join(SAFETENSORS_FILE), dtype)?;
        self.tokenizer.save(&dir.join(TOKENIZER_FILE))?;
        self.spec.write(dir)?;
        match &self.linker {
            Some(l) => l.save(dir, dtype),
            None => Ok(()),
        }
    }
}

/// The document itself when it has tokens, else a tokenised copy.
pub fn tokenized(doc: &Document) -> std::borrow::Cow<'_, Document> {
    if doc.tokens.is_empty() || doc.sentences.is_empty() {
        let mut doc = doc.clone();
        tokenize_document(&mut doc);
        std::borrow::Cow::Owned(doc)
    } else {
        std::borrow::Cow::Borrowed(doc)
    }
}

fn encoder_dtype(params: &ParamStore) -> DType {
    params
        .tensors()
        .values()
        .next()
        .map_or(DType::F32, |t| t.dtype())
}
