//! A byline model written as a plain `...ForTokenClassification` folder of its encoder's family
//! (BERT, RoBERTa, XLM-RoBERTa, ELECTRA, DeBERTa-v2/v3) that transformers'
//! `AutoModelForTokenClassification.from_pretrained` loads with no missing and no unexpected
//! keys: the encoder under the family's prefix (`bert.`, `roberta.`, `electra.`, `deberta.`), the entity
//! head's linear layer as `classifier.`, `config.json` with `id2label`, the tokenizer and its
//! settings.
//!
//! What such a folder cannot hold is said, not hidden ([`HfExport::dropped`]): byline's casing
//! table (added to the input embeddings from each word's capitalisation) and the entity head's
//! CRF (transformers takes each subword's argmax), and the other heads (quote attribution). A
//! model that uses the first two tags differently in transformers than in byline.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Tensor};

use crate::embeddings::CASING_EMBEDDINGS;
use crate::error::{Error, Result};
use crate::family::Family;
use crate::head::DecoderKind;
use crate::tagger::{HeadKind, Tagger, TOKENIZER_FILE};
use crate::token_classifier::TOKENIZER_CONFIG_FILE;
use crate::weights::{save_safetensors, CONFIG_FILE, SAFETENSORS_FILE};

/// What [`export_hf`] wrote and what it had to leave out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfExport {
    /// The tensor names written.
    pub keys: Vec<String>,
    /// Parts of the model that change its entities and are not in the export.
    pub dropped: Vec<String>,
    /// Heads left out entirely (not entity heads).
    pub other_heads: Vec<String>,
}

impl HfExport {
    /// Whether nothing that changes the entities was dropped (no trained casing table, no CRF).
    pub fn is_faithful(&self) -> bool {
        self.dropped.is_empty()
    }
}

/// What an export of `tagger` would drop (see [`HfExport::dropped`]), without writing anything.
pub fn lossy_parts(tagger: &Tagger) -> Result<Vec<String>> {
    let mut dropped = Vec::new();
    let casing = tagger
        .encoder_tensors()
        .get(CASING_EMBEDDINGS)
        .map(|t| t.abs()?.max_all()?.to_dtype(DType::F32)?.to_scalar::<f32>())
        .transpose()?
        .unwrap_or(0.0);
    if casing > 0.0 {
        dropped.push(
            "the casing table (each word's capitalisation added to its input embedding)".into(),
        );
    }
    let h = entity_head(tagger)?;
    if tagger.spec().heads[h].decoder == DecoderKind::Crf {
        dropped.push(format!(
            "the CRF of head `{}` (transformers takes each subword's argmax instead)",
            tagger.spec().heads[h].name
        ));
    }
    Ok(dropped)
}

fn entity_head(tagger: &Tagger) -> Result<usize> {
    tagger
        .spec()
        .heads
        .iter()
        .position(|h| h.kind == HeadKind::Entities)
        .ok_or_else(|| Error::InvalidTagger {
            message: "no entity head: a token-classification export needs one".into(),
        })
}

/// Writes `tagger` as a plain `...ForTokenClassification` folder of its encoder's family in
/// `dir` (created), with weights in `dtype`: BERT, RoBERTa, XLM-RoBERTa or ELECTRA, the
/// encoder under the family's prefix. A model fine-tuned from DistilBERT is written as BERT
/// (byline reads DistilBERT into BERT's layout, with a zero token-type table: the same
/// function, which `BertForTokenClassification` computes).
pub fn export_hf(tagger: &Tagger, dir: &Path, dtype: DType) -> Result<HfExport> {
    let family = tagger.config().family();
    if family == Family::ModernBert {
        // ModernBertForTokenClassification puts a dense + GELU + LayerNorm head between the
        // encoder and the classifier; a byline model has no such layer, and none of those
        // weights would compute byline's function.
        return Err(Error::InvalidTagger {
            message: "a model fine-tuned from ModernBERT cannot be written as \
                      ModernBertForTokenClassification (its prediction head before the \
                      classifier has no counterpart in byline's model); export it with \
                      `byline export` in byline's own format instead"
                .into(),
        });
    }
    let h = entity_head(tagger)?;
    let dropped = lossy_parts(tagger)?;
    let spec = &tagger.spec().heads[h];
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;

    let mut config = tagger.token_classification_config(h);
    config
        .extra
        .insert("model_type".into(), family.model_type().into());
    config.save(dir.join(CONFIG_FILE))?;

    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for (name, t) in tagger.encoder_tensors() {
        if name != CASING_EMBEDDINGS {
            tensors.insert(family.checkpoint_name(&name), t);
        }
    }
    let prefix = format!("heads.{}.classifier.", spec.name);
    for (name, var, is_head) in tagger.trainable() {
        if let Some(part) = name.strip_prefix(&prefix).filter(|_| is_head) {
            tensors.insert(format!("classifier.{part}"), var.as_tensor().clone());
        }
    }
    for part in ["weight", "bias"] {
        if !tensors.contains_key(&format!("classifier.{part}")) {
            return Err(Error::InvalidTagger {
                message: format!("head `{}` has no `{prefix}{part}`", spec.name),
            });
        }
    }
    let mut keys: Vec<String> = tensors.keys().cloned().collect();
    keys.sort();
    save_safetensors(tensors, &dir.join(SAFETENSORS_FILE), dtype)?;
    tagger.tokenizer().save(&dir.join(TOKENIZER_FILE))?;
    let settings = tokenizer_settings(tagger, family);
    let path = dir.join(TOKENIZER_CONFIG_FILE);
    let text = serde_json::to_string_pretty(&settings).map_err(|source| Error::Json {
        path: path.clone(),
        line: 0,
        source,
    })?;
    std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))?;

    Ok(HfExport {
        keys,
        dropped,
        other_heads: tagger
            .spec()
            .heads
            .iter()
            .filter(|o| o.name != spec.name)
            .map(|o| o.name.clone())
            .collect(),
    })
}

/// `tokenizer_config.json`: the special tokens the tokenizer has, and the model's length.
fn tokenizer_settings(tagger: &Tagger, family: Family) -> serde_json::Value {
    let inner = tagger.tokenizer().inner();
    let mut settings = serde_json::Map::new();
    let pairs: [(&str, &[&str]); 7] = [
        ("bos_token", &["<s>"]),
        ("eos_token", &["</s>"]),
        ("unk_token", &["[UNK]", "<unk>"]),
        ("cls_token", &["[CLS]", "<s>"]),
        ("sep_token", &["[SEP]", "</s>"]),
        ("pad_token", &["[PAD]", "<pad>"]),
        ("mask_token", &["[MASK]", "<mask>"]),
    ];
    for (key, candidates) in pairs {
        if let Some(t) = candidates.iter().find(|t| inner.token_to_id(t).is_some()) {
            settings.insert(key.into(), (*t).into());
        }
    }
    settings.insert(
        "model_max_length".into(),
        tagger.config().max_positions().into(),
    );
    let class = match family {
        Family::Roberta => "RobertaTokenizer",
        Family::XlmRoberta => "XLMRobertaTokenizer",
        Family::Bert | Family::DistilBert | Family::Electra => "BertTokenizer",
        Family::DebertaV2 => "DebertaV2Tokenizer",
        Family::ModernBert => "PreTrainedTokenizerFast",
    };
    settings.insert("tokenizer_class".into(), class.into());
    serde_json::Value::Object(settings)
}
