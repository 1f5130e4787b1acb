//! The Hugging Face `BertConfig`, as read from a model directory's `config.json`.
//!
//! Unknown fields (`architectures`, `transformers_version`, ...) are tolerated and kept, so a
//! config read and written back loses nothing a Hugging Face tool needs.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::family::Family;

/// The activation between the two feed-forward projections. BERT checkpoints use `gelu` (the
/// exact, erf-based GELU); `gelu_new` / `gelu_pytorch_tanh` are the tanh approximation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HiddenAct {
    Gelu,
    #[serde(alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluNew,
    Relu,
}

impl HiddenAct {
    /// The activation a config names (`"gelu"`, `"gelu_new"`, `"relu"`, ...), as `hidden_act`
    /// is read; `None` for one byline does not have.
    pub fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
    }
}

/// `BertConfig` of the `transformers` library (the fields byline uses, plus everything else kept
/// verbatim in [`Config::extra`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: HiddenAct,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f32,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f32,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2label: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label2id: Option<BTreeMap<String, usize>>,
    /// Every other field of the file, written back unchanged.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

fn default_act() -> HiddenAct {
    HiddenAct::Gelu
}
fn default_dropout() -> f32 {
    0.1
}
fn default_max_positions() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

impl Config {
    /// Reads `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Ok(Self::from_file_with_family(path)?.0)
    }

    /// Reads `config.json` of any [`Family`] byline knows, as the BERT config of byline's
    /// encoder, with the family it came from.
    pub fn from_file_with_family(path: impl AsRef<Path>) -> Result<(Self, Family)> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let json = |source: serde_json::Error| Error::Json {
            path: path.to_path_buf(),
            line: source.line(),
            source,
        };
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&text).map_err(json)?;
        let family = Family::of_config(&map).map_err(|found| Error::UnknownModelType {
            path: path.to_path_buf(),
            found,
        })?;
        let config: Config =
            serde_json::from_value(serde_json::Value::Object(family.bert_config(map)))
                .map_err(json)?;
        config.validate().map_err(|message| Error::InvalidConfig {
            path: path.to_path_buf(),
            message,
        })?;
        Ok((config, family))
    }

    /// Writes the config as pretty JSON.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let text = serde_json::to_string_pretty(self).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            line: 0,
            source,
        })?;
        std::fs::write(path, text).map_err(|e| Error::io(path, e))
    }

    /// A tiny random-init config for tests: hidden 32, 2 layers, 4 heads, intermediate 64,
    /// vocabulary 100, 64 positions.
    pub fn tiny() -> Self {
        Config {
            vocab_size: 100,
            hidden_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 64,
            hidden_act: HiddenAct::Gelu,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 64,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
            id2label: None,
            label2id: None,
            extra: BTreeMap::new(),
        }
    }

    /// The family named by `model_type` (BERT when absent or unknown here).
    pub fn family(&self) -> Family {
        self.extra
            .get("model_type")
            .and_then(|v| v.as_str())
            .and_then(Family::of_model_type)
            .unwrap_or(Family::Bert)
    }

    /// The first position id: RoBERTa and XLM-R count positions from the padding index plus one.
    pub fn position_offset(&self) -> usize {
        match self.family() {
            Family::Roberta | Family::XlmRoberta => self.pad_token_id as usize + 1,
            _ => 0,
        }
    }

    /// The most tokens a sequence may hold (special tokens included).
    pub fn max_positions(&self) -> usize {
        self.max_position_embeddings
            .saturating_sub(self.position_offset())
    }

    /// Width of the embedding tables: `embedding_size` (ELECTRA, projected to the hidden size),
    /// else the hidden size.
    pub fn embedding_size(&self) -> usize {
        self.extra
            .get("embedding_size")
            .and_then(|v| v.as_u64())
            .map_or(self.hidden_size, |e| e as usize)
    }

    /// Size of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Checks the invariants the encoder relies on.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        for (name, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(format!("{name} = {p} is not in [0, 1)"));
            }
        }
        if self.max_positions() == 0 {
            return Err(format!(
                "max_position_embeddings {} leaves no position after the offset {}",
                self.max_position_embeddings,
                self.position_offset()
            ));
        }
        if self.vocab_size == 0 || self.max_position_embeddings == 0 {
            return Err("vocab_size and max_position_embeddings must be > 0".into());
        }
        // DeBERTa-v3 has no token types (0); BERT's layout reads row 0 of its table.
        if self.type_vocab_size == 0 && self.family().is_bert_shaped() {
            return Err("type_vocab_size must be > 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hf_config_and_keeps_unknown_fields() {
        let json = r#"{"architectures":["BertModel"],"vocab_size":30522,"hidden_size":384,
            "num_hidden_layers":6,"num_attention_heads":12,"intermediate_size":1536,
            "hidden_act":"gelu","max_position_embeddings":512,"layer_norm_eps":1e-12,
            "pad_token_id":0,"type_vocab_size":2,"model_type":"bert"}"#;
        let c: Config = serde_json::from_str(json).unwrap();
        assert_eq!(c.head_dim(), 32);
        assert_eq!(c.hidden_act, HiddenAct::Gelu);
        assert_eq!(c.extra["model_type"], "bert");
        let back: serde_json::Value = serde_json::to_value(&c).unwrap();
        assert_eq!(back["architectures"][0], "BertModel");
        assert!(back.get("id2label").is_none());
    }

    #[test]
    fn rejects_bad_head_count() {
        let mut c = Config::tiny();
        c.num_attention_heads = 5;
        assert!(c.validate().is_err());
        assert!(Config::tiny().validate().is_ok());
    }
}
