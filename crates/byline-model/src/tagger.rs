//! The tagger: the encoder with named tagging heads (entities; attribution roles), what turns
//! documents into windows and windows into per-word tags, and the model directory.
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
use byline_core::assemble::{assemble, assemble_with};
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
use crate::weights::{LoadOptions, ParamStore, Pretrained, CONFIG_FILE, SAFETENSORS_FILE};

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
}

fn default_head_dropout() -> f32 {
    0.1
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
        let tokenizer = Tokenizer::from_file(dir.join(TOKENIZER_FILE))?;
        Self::new(pretrained, tokenizer, spec)
    }

    /// Loads a directory written by [`Tagger::save`].
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Self> {
        let path = dir.join(BYLINE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let spec: TaggerConfig = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.clone(),
            line: source.line(),
            source,
        })?;
        let opts = &spec.load_options(opts);
        let pretrained = Pretrained::load(dir, opts)?;
        let tokenizer = Tokenizer::from_file(dir.join(TOKENIZER_FILE))?;
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
        let vb = VarBuilder::from_tensors(detach(self.params.tensors()), self.dtype, &self.device);
        let encoder = Encoder::load(vb, &self.config)?;
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

    /// Sets the encoder's dropout (hidden and attention) used in training.
    pub fn set_dropout(&mut self, p: f32) -> Result<()> {
        let mut config = self.config.clone();
        config.hidden_dropout_prob = p;
        config.attention_probs_dropout_prob = p;
        config
            .validate()
            .map_err(|message| Error::InvalidTagger { message })?;
        self.encoder = Encoder::load(self.params.var_builder(self.dtype, &self.device), &config)?;
        self.config = config;
        Ok(())
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

    /// Cuts a tokenised document into windows (see [`crate::features`]).
    pub fn windows(&self, doc: &Document) -> Result<DocumentInput> {
        document_windows(&self.tokenizer, self.specials, &self.spec.window, doc)
    }

    /// Training examples of head `head` from documents with gold annotations (entities or
    /// attributions, by the head's kind): one per window. Documents without tokens are tokenised
    /// first. Also returns how many gold spans had to be approximated, clipped or dropped.
    pub fn examples(
        &self,
        head: usize,
        docs: &[Document],
    ) -> Result<(Vec<TagExample>, byline_core::align::AlignStats)> {
        let spec = self.head_spec(head)?;
        let tag_set = self.heads[head].tag_set();
        let mut stats = byline_core::align::AlignStats::default();
        let mut examples = Vec::new();
        for doc in docs {
            let doc = tokenized(doc);
            let word_tags = match spec.kind {
                HeadKind::Entities => entity_tags(&doc, tag_set),
                HeadKind::Attributions => role_tags(&doc, tag_set),
            };
            stats += word_tags.stats;
            let gold = word_tags
                .tags
                .iter()
                .map(|&t| {
                    tag_set.index(t).ok_or_else(|| Error::InvalidTagger {
                        message: format!("document `{}`: a gold tag is not in the tag set", doc.id),
                    })
                })
                .collect::<Result<Vec<usize>>>()?;
            for w in self.windows(&doc)?.windows {
                examples.push(TagExample {
                    head,
                    gold: gold[w.words.clone()].to_vec(),
                    ids: w.ids,
                    casing: w.casing,
                    first: w.first,
                });
            }
        }
        Ok((examples, stats))
    }

    /// Pads training examples of head `head` into a batch.
    pub fn collate(&self, head: usize, examples: &[&TagExample]) -> Result<TagTrainBatch> {
        let tags = self.head(head)?.tag_set().len();
        let (batch, positions) = self.batch_inputs(
            examples
                .iter()
                .map(|e| (&e.ids[..], &e.casing[..], &e.first[..])),
        )?;
        let gold: Vec<&[usize]> = examples.iter().map(|e| &e.gold[..]).collect();
        let gold = TagBatch::new(&gold, tags, &self.device)?;
        Ok(TagTrainBatch {
            head,
            batch,
            positions,
            gold,
        })
    }

    /// Pads windows, each given as (subword ids, casing ids, position of each word's first
    /// subword), into an encoder batch and the word positions to gather from its output.
    fn batch_inputs<'a>(
        &self,
        windows: impl Iterator<Item = (&'a [u32], &'a [u32], &'a [Option<usize>])>,
    ) -> Result<(Batch, WordPositions)> {
        let mut seqs = Vec::new();
        let mut first = Vec::new();
        for (ids, casing, words) in windows {
            seqs.push((ids, casing));
            first.push(words);
        }
        let batch = Batch::from_parts(
            &seqs,
            self.tokenizer.pad_id(),
            self.config.max_positions(),
            &self.device,
        )?;
        let seq_len = batch.input_ids.dims2()?.1;
        let positions = WordPositions::new(&first, seq_len, &self.device)?;
        Ok((batch, positions))
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

    /// The loss of a training batch (mean per word); dropout when `train`.
    pub fn loss(&self, batch: &TagTrainBatch, train: bool) -> Result<Tensor> {
        let hidden = self.encode(&batch.batch, train)?;
        self.head_loss(batch.head, &hidden, &batch.positions, &batch.gold, train)
    }

    /// The loss of head `head` from encoder output `hidden` (batch, seq, hidden): only each
    /// word's first subword is read.
    pub fn head_loss(
        &self,
        head: usize,
        hidden: &Tensor,
        positions: &WordPositions,
        gold: &TagBatch,
        train: bool,
    ) -> Result<Tensor> {
        let head = self.head(head)?;
        let words = positions.gather(hidden)?; // (batch, words, hidden)
        let emissions = head.forward(&words, train)?; // (batch, words, tags)
        head.loss(&emissions, gold)
    }

    /// Per-word predictions of head `head` for each document (documents without tokens are
    /// tokenised with [`tokenize_document`] first). Windows of all documents are sorted by
    /// length and batched by padded tokens; each word takes the tags of its owner window.
    pub fn predict(&self, docs: &[Document], head: &str) -> Result<Vec<WordPredictions>> {
        let h = self.head_index(head)?;
        let mut out = self.predict_heads(docs, &[h])?;
        Ok(out.pop().unwrap_or_default())
    }

    /// Per-word predictions of several heads (indices) from one encoder pass: `out[i][d]` is
    /// head `heads[i]`'s prediction for document `d`. See [`Tagger::predict`].
    pub fn predict_heads(
        &self,
        docs: &[Document],
        heads: &[usize],
    ) -> Result<Vec<Vec<WordPredictions>>> {
        let inputs = docs
            .iter()
            .map(|d| self.prepare(d))
            .collect::<Result<Vec<_>>>()?;
        self.predict_prepared(&inputs.iter().collect::<Vec<_>>(), heads)
    }

    /// What the model reads of a document: its windows of subword ids (tokenising the document
    /// first when it has no tokens). No tensor work, so it can run beside
    /// [`Tagger::predict_prepared`] on another thread.
    pub fn prepare(&self, doc: &Document) -> Result<DocumentInput> {
        self.windows(&tokenized(doc))
    }

    /// [`Tagger::predict_heads`] on documents already [`prepared`](Tagger::prepare). Windows of
    /// every document are sorted by length and batched together (at most
    /// [`Tagger::set_predict_batch_tokens`] padded subwords a batch); each word takes the
    /// prediction of the window where it is most central.
    pub fn predict_prepared(
        &self,
        inputs: &[&DocumentInput],
        heads: &[usize],
    ) -> Result<Vec<Vec<WordPredictions>>> {
        // The head whose span ends the linker reads.
        let linked = self
            .linker
            .as_ref()
            .and_then(|l| self.head_index(&l.config().head).ok())
            .and_then(|h| heads.iter().position(|&x| x == h));
        let keep = linked.map_or(KeepVectors::None, KeepVectors::SpanEnds);
        let (mut out, vectors) = self.predict_keeping(inputs, heads, keep)?;
        if let Some(i) = linked {
            for (pred, v) in out[i].iter_mut().zip(vectors) {
                pred.vectors = v;
            }
        }
        Ok(out)
    }

    /// [`Tagger::predict_prepared`] (without the linker's vectors) and, from the same encoder
    /// pass, the vectors of every word of each document (each word's first subword, from the
    /// window that owns it), for training a [`Linker`]. `heads` may be empty.
    pub fn predict_with_word_vectors(
        &self,
        inputs: &[&DocumentInput],
        heads: &[usize],
    ) -> Result<(Vec<Vec<WordPredictions>>, Vec<WordVectors>)> {
        self.predict_keeping(inputs, heads, KeepVectors::All)
    }

    /// Per-word predictions of `heads` and, per document, the word vectors `keep` asks for.
    fn predict_keeping(
        &self,
        inputs: &[&DocumentInput],
        heads: &[usize],
        keep: KeepVectors,
    ) -> Result<(Vec<Vec<WordPredictions>>, Vec<WordVectors>)> {
        for &h in heads {
            self.head(h)?;
        }
        let empty: Vec<WordPredictions> = inputs
            .iter()
            .map(|i| WordPredictions {
                tags: vec![0; i.owner.len()],
                scores: vec![0.0; i.owner.len()],
                vectors: WordVectors::default(),
            })
            .collect();
        let mut out = vec![empty; heads.len()];
        let mut vectors = vec![WordVectors::default(); inputs.len()];
        self.for_each_batch(inputs, |chunk, words, lengths| {
            let v = match keep {
                KeepVectors::None => None,
                _ => Some(BatchVectors::new(words)?),
            };
            if let (KeepVectors::All, Some(v)) = (keep, &v) {
                for (b, &(d, w)) in chunk.iter().enumerate() {
                    let window = &inputs[d].windows[w].words;
                    for word in window.clone().filter(|&x| inputs[d].owner[x] == w) {
                        vectors[d].insert(word, v.get(b, word - window.start).to_vec());
                    }
                }
            }
            for (i, (&h, out)) in heads.iter().zip(out.iter_mut()).enumerate() {
                let emissions = self.heads[h].forward(words, false)?;
                let decoded = self.heads[h].decode(&emissions, lengths)?;
                let tag_set = self.heads[h].tag_set();
                let span_ends = (keep == KeepVectors::SpanEnds(i))
                    .then_some(v.as_ref())
                    .flatten();
                for (b, (&(d, w), dec)) in chunk.iter().zip(decoded).enumerate() {
                    let window = &inputs[d].windows[w].words;
                    let owner = &inputs[d].owner;
                    for word in window.clone().filter(|&x| owner[x] == w) {
                        let at = word - window.start;
                        out[d].tags[word] = dec.tags[at];
                        out[d].scores[word] = dec.scores[at];
                        let Some(v) = span_ends else { continue };
                        let tag = |j: usize| dec.tags.get(j).and_then(|&t| tag_set.tag(t));
                        let first = word == 0 || owner[word - 1] != w;
                        let last = owner.get(word + 1).is_none_or(|&o| o != w);
                        let next = if last { None } else { tag(at + 1) };
                        let prev = if first {
                            None
                        } else {
                            at.checked_sub(1).and_then(tag)
                        };
                        if tag(at).is_some_and(|t| span_end(prev, t, next)) {
                            vectors[d].insert(word, v.get(b, at).to_vec());
                        }
                    }
                }
            }
            Ok(())
        })?;
        Ok((out, vectors))
    }

    /// Runs the encoder over the windows of `inputs`, sorted by length and batched by padded
    /// subwords, and hands `f` each batch: its (document, window) pairs, the words' vectors
    /// (batch, words, hidden) and the windows' word counts.
    fn for_each_batch(
        &self,
        inputs: &[&DocumentInput],
        mut f: impl FnMut(&[(usize, usize)], &Tensor, &[usize]) -> Result<()>,
    ) -> Result<()> {
        let mut items: Vec<(usize, usize)> = inputs
            .iter()
            .enumerate()
            .flat_map(|(d, i)| (0..i.windows.len()).map(move |w| (d, w)))
            .collect();
        let len = |&(d, w): &(usize, usize)| inputs[d].windows[w].ids.len();
        items.sort_by_key(|item| std::cmp::Reverse(len(item)));
        let mut start = 0;
        while start < items.len() {
            let longest = len(&items[start]);
            let take = (self.predict_batch_tokens / longest.max(1)).max(1);
            let chunk = &items[start..(start + take).min(items.len())];
            start += chunk.len();
            let windows: Vec<_> = chunk.iter().map(|&(d, w)| &inputs[d].windows[w]).collect();
            let (batch, positions) = self.batch_inputs(
                windows
                    .iter()
                    .map(|w| (&w.ids[..], &w.casing[..], &w.first[..])),
            )?;
            let hidden = self.encode(&batch, false)?;
            let words = positions.gather(&hidden)?; // (batch, words, hidden)
            f(chunk, &words, positions.lengths())?;
        }
        Ok(())
    }

    /// Predicts with head `head` and returns the documents (tokenised, ids and texts unchanged)
    /// carrying only that head's output: entities, or assembled attributions.
    pub fn annotate(&self, docs: &[Document], head: &str) -> Result<Vec<Document>> {
        let h = self.head_index(head)?;
        let kind = self.spec.heads[h].kind;
        let predictions = self.predict(docs, head)?;
        docs.iter()
            .zip(&predictions)
            .map(|(doc, pred)| {
                let mut out = tokenized(doc).into_owned();
                out.entities.clear();
                out.attributions.clear();
                match kind {
                    HeadKind::Entities => out.entities = self.entities(&out, pred, h)?,
                    HeadKind::Attributions => {
                        out.attributions = self.attributions(&out, pred, h)?
                    }
                }
                Ok(out)
            })
            .collect()
    }

    /// Entities of a tokenised document from head `head`'s predictions.
    pub fn entities(
        &self,
        doc: &Document,
        pred: &WordPredictions,
        head: usize,
    ) -> Result<Vec<Entity>> {
        let tag_set = self.head(head)?.tag_set();
        let tags = self.tags(pred, tag_set)?;
        Ok(entities_from_tags(doc, &tags, Some(&pred.scores), tag_set)?)
    }

    /// Attributions of a tokenised document (with sentences) from head `head`'s role tags.
    pub fn attributions(
        &self,
        doc: &Document,
        pred: &WordPredictions,
        head: usize,
    ) -> Result<Vec<Attribution>> {
        let tag_set = self.head(head)?.tag_set();
        let tags = self.tags(pred, tag_set)?;
        let roles = roles_from_tags(doc, &tags, Some(&pred.scores), tag_set)?;
        let linker = self
            .linker
            .as_ref()
            .filter(|l| l.config().head == self.spec.heads[head].name && !pred.vectors.is_empty());
        Ok(match linker {
            Some(l) => assemble_with(doc, &roles, |p| l.score(p, &roles, &pred.vectors)),
            None => assemble(doc, &roles),
        })
    }

    fn tags(&self, pred: &WordPredictions, tag_set: &TagSet) -> Result<Vec<Tag>> {
        pred.tags
            .iter()
            .map(|&i| {
                tag_set.tag(i).ok_or(Error::BadTag {
                    sequence: 0,
                    word: 0,
                    tag: i,
                    num_tags: tag_set.len(),
                })
            })
            .collect()
    }

    fn head(&self, head: usize) -> Result<&TaggerHead> {
        self.heads.get(head).ok_or_else(|| Error::InvalidTagger {
            message: format!("no head {head} ({} heads)", self.heads.len()),
        })
    }

    fn head_spec(&self, head: usize) -> Result<&HeadSpec> {
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
        let tensors = tensors
            .into_iter()
            .map(|(name, t)| Ok((name, t.to_dtype(dtype)?)))
            .collect::<Result<HashMap<_, _>>>()?;
        let weights = dir.join(SAFETENSORS_FILE);
        candle_core::safetensors::save(&tensors, &weights).map_err(|e| match e {
            candle_core::Error::Io(source) => Error::io(&weights, source),
            e => Error::Candle(e),
        })?;

        let tok = dir.join(TOKENIZER_FILE);
        self.tokenizer
            .inner()
            .save(&tok, true)
            .map_err(|source| Error::Tokenizer {
                path: tok.clone(),
                source,
            })?;
        let spec = dir.join(BYLINE_FILE);
        let text = serde_json::to_string_pretty(&self.spec).map_err(|source| Error::Json {
            path: spec.clone(),
            line: 0,
            source,
        })?;
        std::fs::write(&spec, text + "\n").map_err(|e| Error::io(&spec, e))?;
        match &self.linker {
            Some(l) => l.save(dir, dtype),
            None => Ok(()),
        }
    }
}

/// Which word vectors a prediction keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeepVectors {
    None,
    /// The first and last words of the spans of head `heads[i]` (what the linker reads).
    SpanEnds(usize),
    /// Every word's.
    All,
}

/// A batch's word vectors `(batch, words, hidden)` copied out of the tensor in one piece.
struct BatchVectors {
    data: Vec<f32>,
    words: usize,
    hidden: usize,
}

impl BatchVectors {
    fn new(words: &Tensor) -> Result<Self> {
        let (_, n, hidden) = words.dims3()?;
        let data = words
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Ok(BatchVectors {
            data,
            words: n,
            hidden,
        })
    }

    /// The vector of word `at` of window `b`.
    fn get(&self, b: usize, at: usize) -> &[f32] {
        let start = (b * self.words + at) * self.hidden;
        &self.data[start..start + self.hidden]
    }
}

/// Whether a word tagged `tag`, between words tagged `prev` and `next` (`None`: not in the same
/// window, or none), starts or ends a span: the words whose vectors the linker reads.
fn span_end(prev: Option<Tag>, tag: Tag, next: Option<Tag>) -> bool {
    use byline_core::Prefix;
    if tag.prefix() == Prefix::O {
        return false;
    }
    let continues = |a: Tag, b: Tag| {
        a.label() == b.label()
            && matches!(b.prefix(), Prefix::I | Prefix::E)
            && a.prefix() != Prefix::O
    };
    let starts = prev.is_none_or(|p| !continues(p, tag));
    let ends = next.is_none_or(|n| !continues(tag, n));
    starts || ends
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

#[cfg(test)]
mod span_end_tests {
    use super::span_end;
    use byline_core::{LabelId, Prefix, Tag};

    #[test]
    fn span_ends_are_first_and_last_words_of_spans() {
        let t = |p: Prefix, l: u16| Tag::new(p, Some(LabelId(l))).unwrap();
        let (b, i, o) = (Prefix::B, Prefix::I, Tag::O);
        let cases: &[(Option<Tag>, Tag, Option<Tag>, bool)] = &[
            (None, o, None, false),
            (Some(o), t(b, 0), Some(t(i, 0)), true), // starts
            (Some(t(b, 0)), t(i, 0), Some(t(i, 0)), false), // inside
            (Some(t(b, 0)), t(i, 0), Some(o), true), // ends
            (Some(t(b, 0)), t(i, 0), Some(t(b, 0)), true), // ends before a new span
            (Some(t(i, 1)), t(i, 0), Some(t(i, 0)), true), // another label before
            (Some(t(b, 0)), t(i, 0), None, true),    // the window's last owned word
            (None, t(i, 0), Some(t(i, 0)), true),    // the window's first owned word
        ];
        for &(prev, tag, next, expect) in cases {
            assert_eq!(
                span_end(prev, tag, next),
                expect,
                "{prev:?} {tag:?} {next:?}"
            );
        }
    }
}
