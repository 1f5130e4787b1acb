//! Model-side tokenisation: `tokenizer.json` in, subword ids, byte offsets into the original
//! text, word indices and casing classes out.
//!
//! Hugging Face tokenizer files often carry padding and truncation settings (MiniLM's pads and
//! truncates to 128); they are removed on load. Batches are padded by [`crate::Batch`], and a text
//! longer than the model's window is the caller's to split, never silently cut.

use std::path::Path;

use byline_core::Span;

use crate::casing::casing_ids;
use crate::error::{Error, Result};

/// A WordPiece (or other) tokenizer with byline's settings.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// The tokenizer for pre-split words when it must differ from `inner`: a byte-level BPE
    /// (RoBERTa) that adds no prefix space would give every word its sentence-initial form
    /// (`Kowalski` instead of `ĠKowalski`); this copy adds one, as transformers does for
    /// `is_split_into_words` (which needs `add_prefix_space=True`).
    words: Option<tokenizers::Tokenizer>,
    pad_id: u32,
}

/// One tokenised sequence, special tokens included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    /// Subword ids: (seq,).
    pub ids: Vec<u32>,
    /// Byte span of each subword in the original text (empty `0..0` for special tokens).
    pub offsets: Vec<Span>,
    /// Index of each subword's word (`None` for special tokens).
    pub words: Vec<Option<usize>>,
    /// Casing class of each subword (see [`crate::casing`]).
    pub casing: Vec<u32>,
}

impl Encoding {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// For each of `n_words` words, the position of its first subword (the one that carries the
    /// word's label), or `None` when the tokenizer produced nothing for it (e.g. a control
    /// character).
    pub fn first_subwords(&self, n_words: usize) -> Vec<Option<usize>> {
        let mut first = vec![None; n_words];
        for (pos, word) in self.words.iter().enumerate() {
            if let Some(slot) = word.and_then(|w| first.get_mut(w)) {
                slot.get_or_insert(pos);
            }
        }
        first
    }
}

impl Tokenizer {
    /// Reads `tokenizer.json`, dropping its padding and truncation.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|source| Error::Tokenizer {
            path: path.to_path_buf(),
            source,
        })?;
        Self::new(inner).map_err(|e| match e {
            Error::Encode { source } => Error::Tokenizer {
                path: path.to_path_buf(),
                source,
            },
            e => e,
        })
    }

    /// Reads a model directory's tokenizer: `tokenizer.json`; else DeBERTa-v2/v3's `spm.model`
    /// with the settings of `tokenizer_config.json`, converted as transformers converts it
    /// ([`crate::spm`]).
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let json = dir.join(crate::tagger::TOKENIZER_FILE);
        let spm = dir.join(crate::spm::SPM_FILE);
        if json.is_file() || !spm.is_file() {
            return Self::from_file(json);
        }
        let settings_path = dir.join(crate::token_classifier::TOKENIZER_CONFIG_FILE);
        let settings = crate::token_classifier::read_json(&settings_path)?.unwrap_or_default();
        Self::new(crate::spm::deberta_tokenizer(&spm, &settings)?)
    }

    /// Wraps a tokenizer, dropping its padding and truncation.
    pub fn new(mut inner: tokenizers::Tokenizer) -> Result<Self> {
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| inner.token_to_id("[PAD]"))
            .or_else(|| inner.token_to_id("<pad>"))
            .unwrap_or(0);
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|source| Error::Encode { source })?;
        let words = match inner.get_pre_tokenizer() {
            Some(tokenizers::pre_tokenizers::PreTokenizerWrapper::ByteLevel(b))
                if !b.add_prefix_space =>
            {
                let mut b = *b;
                b.add_prefix_space = true;
                let mut words = inner.clone();
                words.with_pre_tokenizer(Some(
                    tokenizers::pre_tokenizers::PreTokenizerWrapper::ByteLevel(b),
                ));
                // The post-processor's offset trimming must know the space was added, or it
                // cuts the first character off every word.
                use tokenizers::processors::PostProcessorWrapper as P;
                let post = match inner.get_post_processor() {
                    Some(P::Roberta(r)) => Some(P::Roberta(r.clone().add_prefix_space(true))),
                    Some(P::ByteLevel(b)) => {
                        let mut b = *b;
                        b.add_prefix_space = true;
                        Some(P::ByteLevel(b))
                    }
                    _ => None,
                };
                if let Some(post) = post {
                    words.with_post_processor(Some(post));
                }
                Some(words)
            }
            _ => None,
        };
        Ok(Self {
            inner,
            words,
            pad_id,
        })
    }

    /// An uncased BERT WordPiece tokenizer over `vocab` (ids in order; continuation pieces start
    /// with `##`), for tiny test models. `vocab` must hold `[PAD]`, `[UNK]`, `[CLS]` and `[SEP]`.
    pub fn from_vocab(vocab: &[&str]) -> Result<Self> {
        let id = |t: &str| {
            vocab
                .iter()
                .position(|v| *v == t)
                .ok_or_else(|| Error::Encode {
                    source: format!("the vocabulary has no {t}").into(),
                })
        };
        let (pad, unk, cls, sep) = (id("[PAD]")?, id("[UNK]")?, id("[CLS]")?, id("[SEP]")?);
        let map: serde_json::Map<String, serde_json::Value> = vocab
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i.into()))
            .collect();
        let special = |id: usize| {
            serde_json::json!({"id": id, "special": true, "content": vocab[id],
                "single_word": false, "lstrip": false, "rstrip": false, "normalized": false})
        };
        let json = serde_json::json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [special(pad), special(unk), special(cls), special(sep)],
            "normalizer": {"type": "BertNormalizer", "clean_text": true,
                "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", sep],
                "cls": ["[CLS]", cls]},
            "decoder": null,
            "model": {"type": "WordPiece", "unk_token": "[UNK]",
                "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
                "vocab": map}
        });
        let inner: tokenizers::Tokenizer = json
            .to_string()
            .parse()
            .map_err(|source| Error::Encode { source })?;
        Self::new(inner)
    }

    /// Whether the tokenizer folds case: `Paris`, `PARIS` and `paris` give the same subwords
    /// (BERT-uncased, MiniLM). byline's casing embedding is for such tokenizers.
    pub fn is_uncased(&self) -> Result<bool> {
        let ids = |w: &str| -> Result<Vec<u32>> {
            Ok(self
                .inner
                .encode(w, false)
                .map_err(|source| Error::Encode { source })?
                .get_ids()
                .to_vec())
        };
        let lower = ids("paris")?;
        Ok(ids("Paris")? == lower && ids("PARIS")? == lower)
    }

    /// Writes the tokenizer as `tokenizer.json` at `path` (pretty-printed).
    pub fn save(&self, path: &Path) -> Result<()> {
        self.inner
            .save(path, true)
            .map_err(|source| Error::Tokenizer {
                path: path.to_path_buf(),
                source,
            })
    }

    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Id used for padding positions.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Tokenises `text` whose words are given as byte spans (e.g. a [`byline_core::Document`]'s
    /// tokens, or one sentence of them). Each word is tokenised on its own, so no subword ever
    /// straddles two words; `words` in the result index into `words` here.
    pub fn encode_words(&self, text: &str, words: &[Span]) -> Result<Encoding> {
        let pieces = words
            .iter()
            .enumerate()
            .map(|(index, w)| {
                text.get(w.start..w.end).ok_or(Error::BadWord {
                    index,
                    start: w.start,
                    end: w.end,
                    len: text.len(),
                })
            })
            .collect::<Result<Vec<&str>>>()?;
        let enc = self
            .words
            .as_ref()
            .unwrap_or(&self.inner)
            .encode(&pieces[..], true)
            .map_err(|source| Error::Encode { source })?;
        // Offsets of pre-tokenised input are relative to each word.
        let word_ids: Vec<Option<usize>> = enc
            .get_word_ids()
            .iter()
            .map(|w| w.map(|w| w as usize))
            .collect();
        let offsets: Vec<Span> = enc
            .get_offsets()
            .iter()
            .zip(&word_ids)
            .map(|(&(s, e), w)| match w.and_then(|w| words.get(w)) {
                Some(word) => Span::new(word.start + s, word.start + e.max(s)),
                None => Span::new(0, 0),
            })
            .collect();
        Ok(self.finish(text, enc.get_ids(), offsets, word_ids))
    }

    /// Tokenises raw `text`; words are the tokenizer's own pre-tokens (whitespace and
    /// punctuation splits).
    pub fn encode_text(&self, text: &str) -> Result<Encoding> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|source| Error::Encode { source })?;
        let word_ids: Vec<Option<usize>> = enc
            .get_word_ids()
            .iter()
            .map(|w| w.map(|w| w as usize))
            .collect();
        let offsets = enc
            .get_offsets()
            .iter()
            .zip(&word_ids)
            .map(|(&(s, e), w)| match w {
                Some(_) => Span::new(s, e.max(s)),
                None => Span::new(0, 0),
            })
            .collect();
        Ok(self.finish(text, enc.get_ids(), offsets, word_ids))
    }

    fn finish(
        &self,
        text: &str,
        ids: &[u32],
        offsets: Vec<Span>,
        words: Vec<Option<usize>>,
    ) -> Encoding {
        let casing = casing_ids(text, &offsets, &words);
        Encoding {
            ids: ids.to_vec(),
            offsets,
            words,
            casing,
        }
    }
}
