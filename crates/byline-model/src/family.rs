//! Encoder families byline reads from Hugging Face checkpoints, by `config.json`'s `model_type`.
//!
//! * `bert`: `BertModel` / `BertFor...` state dicts, with or without the `bert.` prefix.
//! * `roberta`, `xlm-roberta`: BERT's layers under `roberta.`, position ids counted from the
//!   padding index plus one (port of `RobertaEmbeddings.create_position_ids_from_input_ids`),
//!   one token type; byte-level BPE (RoBERTa) or SentencePiece Unigram (XLM-R) tokenizers.
//! * `electra`: BERT's layers under `electra.`, embeddings of `embedding_size` projected to the
//!   hidden size by `embeddings_project` when the two differ (the discriminator; ELECTRA-small).
//! * `distilbert`: a BERT without token types or pooler, whose layers carry other names
//!   (`transformer.layer.N.attention.q_lin`, `sa_layer_norm`, `ffn.lin1`, ...; port of
//!   `transformers/models/distilbert/modeling_distilbert.py`). Its weights are read under
//!   BERT's names, and a zero token-type table is added, so the same encoder computes exactly
//!   DistilBERT's function: embeddings (word + position) and LayerNorm, then post-LayerNorm
//!   layers of attention and a GELU feed-forward, as in BERT.
//! * `modernbert`: its own layers (`crate::families::modernbert`): rotary positions, local and
//!   global attention, GeGLU, no biases; weights under `model.`, read under their own names
//!   (the word table as `embeddings.word_embeddings.weight`, like every family's).
//! * `deberta-v2` (DeBERTa-v2 and v3): its own layers (`crate::families::deberta`):
//!   disentangled attention over relative positions in log buckets; weights under `deberta.`.

use serde_json::{Map, Value};

use crate::embeddings::{TOKEN_TYPE_EMBEDDINGS, WORD_EMBEDDINGS};

/// An encoder family byline can load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Bert,
    DistilBert,
    Roberta,
    XlmRoberta,
    Electra,
    ModernBert,
    DebertaV2,
}

impl Family {
    /// Every family, in the order errors list them.
    pub const ALL: [Family; 7] = [
        Family::Bert,
        Family::DistilBert,
        Family::Roberta,
        Family::XlmRoberta,
        Family::Electra,
        Family::ModernBert,
        Family::DebertaV2,
    ];

    /// The `model_type` values byline knows.
    pub const KNOWN: [&'static str; 7] = [
        "bert",
        "distilbert",
        "roberta",
        "xlm-roberta",
        "electra",
        "modernbert",
        "deberta-v2",
    ];

    /// The family of a `model_type`.
    pub fn of_model_type(model_type: &str) -> Option<Family> {
        Family::ALL
            .into_iter()
            .find(|f| f.model_type() == model_type)
    }

    /// The token-classification architectures of every family, for messages.
    pub fn token_classification_names() -> String {
        Family::ALL.map(Family::token_classification).join(", ")
    }

    /// The family of a `config.json`: its `model_type` (a config without one is BERT, as
    /// byline's own older model directories are). `Err` holds the unknown type.
    pub fn of_config(config: &Map<String, Value>) -> Result<Family, String> {
        match config.get("model_type").and_then(Value::as_str) {
            None => Ok(Family::Bert),
            Some(t) => Family::of_model_type(t).ok_or_else(|| t.to_string()),
        }
    }

    pub fn model_type(self) -> &'static str {
        match self {
            Family::Bert => "bert",
            Family::DistilBert => "distilbert",
            Family::Roberta => "roberta",
            Family::XlmRoberta => "xlm-roberta",
            Family::Electra => "electra",
            Family::ModernBert => "modernbert",
            Family::DebertaV2 => "deberta-v2",
        }
    }

    /// Whether the family runs BERT's layers (`encoder.layer.N`, absolute positions, token
    /// types); the others have layer modules of their own.
    pub fn is_bert_shaped(self) -> bool {
        !matches!(self, Family::ModernBert | Family::DebertaV2)
    }

    /// The base-model prefix of `...For...` state dicts (`bert.`, `distilbert.`).
    pub fn prefix(self) -> &'static str {
        match self {
            Family::Bert => "bert.",
            Family::DistilBert => "distilbert.",
            Family::Roberta | Family::XlmRoberta => "roberta.",
            Family::Electra => "electra.",
            Family::ModernBert => "model.",
            Family::DebertaV2 => "deberta.",
        }
    }

    /// The token-classification architecture of this family in transformers.
    pub fn token_classification(self) -> &'static str {
        match self {
            Family::Bert => "BertForTokenClassification",
            Family::DistilBert => "DistilBertForTokenClassification",
            Family::Roberta => "RobertaForTokenClassification",
            Family::XlmRoberta => "XLMRobertaForTokenClassification",
            Family::Electra => "ElectraForTokenClassification",
            Family::ModernBert => "ModernBertForTokenClassification",
            Family::DebertaV2 => "DebertaV2ForTokenClassification",
        }
    }

    /// A BERT config (the fields byline's encoder reads) from this family's `config.json`.
    pub fn bert_config(self, mut config: Map<String, Value>) -> Map<String, Value> {
        if self == Family::ModernBert {
            // Copied, not moved: the file written back must still be ModernBERT's own config.
            for (from, to) in [
                ("hidden_activation", "hidden_act"),
                ("norm_eps", "layer_norm_eps"),
                ("attention_dropout", "attention_probs_dropout_prob"),
                ("mlp_dropout", "hidden_dropout_prob"),
            ] {
                if let Some(v) = config.get(from).cloned() {
                    config.entry(to).or_insert(v);
                }
            }
            config.entry("type_vocab_size").or_insert(1.into());
            config
                .entry("max_position_embeddings")
                .or_insert(8192.into());
            config.entry("layer_norm_eps").or_insert(1e-5.into());
            // Its defaults, where BERT's differ.
            for key in ["hidden_dropout_prob", "attention_probs_dropout_prob"] {
                config.entry(key).or_insert(0.0.into());
            }
            return config;
        }
        if self != Family::DistilBert {
            // The same keys as BERT's; `model_type` tells the position offset and
            // `embedding_size` the projection (see `Config`).
            return config;
        }
        for (from, to) in [
            ("dim", "hidden_size"),
            ("n_layers", "num_hidden_layers"),
            ("n_heads", "num_attention_heads"),
            ("hidden_dim", "intermediate_size"),
            ("activation", "hidden_act"),
            ("dropout", "hidden_dropout_prob"),
            ("attention_dropout", "attention_probs_dropout_prob"),
        ] {
            if let Some(v) = config.remove(from) {
                config.insert(to.into(), v);
            }
        }
        for gone in [
            "sinusoidal_pos_embds",
            "qa_dropout",
            "seq_classif_dropout",
            "tie_weights_",
        ] {
            config.remove(gone);
        }
        config.insert("type_vocab_size".into(), 1.into());
        config.insert("layer_norm_eps".into(), 1e-12.into());
        config.insert("model_type".into(), "bert".into());
        config.remove("architectures");
        config
    }

    /// The name byline's encoder uses for a checkpoint tensor of this family, or `None` for
    /// tensors the encoder does not read (pooler, task heads, buffers).
    pub fn encoder_name(self, name: &str) -> Option<String> {
        match self {
            Family::Bert => bert_name(name),
            Family::DistilBert => distilbert_name(name),
            Family::Roberta | Family::XlmRoberta => {
                bert_name(name.strip_prefix("roberta.").unwrap_or(name))
            }
            Family::Electra => {
                let name = name.strip_prefix("electra.").unwrap_or(name);
                match name.strip_prefix("embeddings_project.") {
                    Some(param) => Some(format!("embeddings.project.{param}")),
                    None => bert_name(name),
                }
            }
            Family::ModernBert => modernbert_name(name),
            Family::DebertaV2 => {
                let name = name.strip_prefix("deberta.").unwrap_or(name);
                let encoder = name.starts_with("embeddings.") || name.starts_with("encoder.");
                (encoder && name != "embeddings.position_ids").then(|| name.to_string())
            }
        }
    }

    /// The name transformers' `...ForTokenClassification` of this family gives an encoder
    /// tensor byline names `name` (the inverse of [`Family::encoder_name`] for the families
    /// byline writes back; DistilBERT models are written as BERT, see `hf_export`).
    pub fn checkpoint_name(self, name: &str) -> String {
        match self {
            Family::Bert | Family::DistilBert => format!("bert.{name}"),
            Family::Roberta | Family::XlmRoberta => format!("roberta.{name}"),
            Family::Electra => match name.strip_prefix("embeddings.project.") {
                Some(param) => format!("electra.embeddings_project.{param}"),
                None => format!("electra.{name}"),
            },
            Family::ModernBert if name == WORD_EMBEDDINGS => {
                "model.embeddings.tok_embeddings.weight".into()
            }
            Family::ModernBert => format!("model.{name}"),
            Family::DebertaV2 => format!("deberta.{name}"),
        }
    }

    /// Tensors the family lacks that BERT's layout has, as (name, rows): DistilBERT's one-row
    /// token-type table, all zeros.
    pub fn zero_tables(self) -> &'static [(&'static str, usize)] {
        match self {
            Family::DistilBert => &[(TOKEN_TYPE_EMBEDDINGS, 1)],
            _ => &[],
        }
    }
}

fn bert_name(name: &str) -> Option<String> {
    let name = name.strip_prefix("bert.").unwrap_or(name);
    if !(name.starts_with("embeddings.") || name.starts_with("encoder.")) {
        return None; // pooler, task heads (`cls.`, `classifier.`), ...
    }
    if name == "embeddings.position_ids" {
        return None;
    }
    let name = match name.rsplit_once('.') {
        Some((stem, "gamma")) if stem.ends_with("LayerNorm") => format!("{stem}.weight"),
        Some((stem, "beta")) if stem.ends_with("LayerNorm") => format!("{stem}.bias"),
        _ => name.to_string(),
    };
    Some(name)
}

fn modernbert_name(name: &str) -> Option<String> {
    let name = name.strip_prefix("model.").unwrap_or(name);
    if name == "embeddings.tok_embeddings.weight" {
        return Some(WORD_EMBEDDINGS.into());
    }
    let encoder = ["embeddings.", "layers.", "final_norm."]
        .iter()
        .any(|p| name.starts_with(p));
    encoder.then(|| name.to_string()) // not `head.`, `classifier.`, `decoder.`
}

fn distilbert_name(name: &str) -> Option<String> {
    let name = name.strip_prefix("distilbert.").unwrap_or(name);
    if name == "embeddings.position_ids" {
        return None;
    }
    if name.starts_with("embeddings.") {
        return Some(name.to_string());
    }
    let rest = name.strip_prefix("transformer.layer.")?;
    let (layer, part) = rest.split_once('.')?;
    let (module, param) = part.rsplit_once('.')?;
    let bert = match module {
        "attention.q_lin" => "attention.self.query",
        "attention.k_lin" => "attention.self.key",
        "attention.v_lin" => "attention.self.value",
        "attention.out_lin" => "attention.output.dense",
        "sa_layer_norm" => "attention.output.LayerNorm",
        "ffn.lin1" => "intermediate.dense",
        "ffn.lin2" => "output.dense",
        "output_layer_norm" => "output.LayerNorm",
        _ => return None,
    };
    Some(format!("encoder.layer.{layer}.{bert}.{param}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_names() {
        let bert = Family::Bert;
        let distil = Family::DistilBert;
        for (family, raw, expect) in [
            (
                bert,
                "bert.embeddings.word_embeddings.weight",
                Some(WORD_EMBEDDINGS),
            ),
            (
                bert,
                "embeddings.word_embeddings.weight",
                Some(WORD_EMBEDDINGS),
            ),
            (bert, "embeddings.position_ids", None),
            (bert, "bert.pooler.dense.weight", None),
            (bert, "pooler.dense.bias", None),
            (bert, "cls.predictions.bias", None),
            (bert, "classifier.weight", None),
            (
                bert,
                "bert.encoder.layer.3.output.LayerNorm.gamma",
                Some("encoder.layer.3.output.LayerNorm.weight"),
            ),
            (
                bert,
                "embeddings.LayerNorm.beta",
                Some("embeddings.LayerNorm.bias"),
            ),
            (
                bert,
                "encoder.layer.0.attention.self.query.weight",
                Some("encoder.layer.0.attention.self.query.weight"),
            ),
            (
                distil,
                "distilbert.embeddings.word_embeddings.weight",
                Some(WORD_EMBEDDINGS),
            ),
            (
                distil,
                "embeddings.LayerNorm.bias",
                Some("embeddings.LayerNorm.bias"),
            ),
            (
                distil,
                "distilbert.transformer.layer.1.attention.q_lin.weight",
                Some("encoder.layer.1.attention.self.query.weight"),
            ),
            (
                distil,
                "transformer.layer.0.attention.out_lin.bias",
                Some("encoder.layer.0.attention.output.dense.bias"),
            ),
            (
                distil,
                "distilbert.transformer.layer.5.sa_layer_norm.weight",
                Some("encoder.layer.5.attention.output.LayerNorm.weight"),
            ),
            (
                distil,
                "distilbert.transformer.layer.2.ffn.lin1.weight",
                Some("encoder.layer.2.intermediate.dense.weight"),
            ),
            (
                distil,
                "distilbert.transformer.layer.2.ffn.lin2.bias",
                Some("encoder.layer.2.output.dense.bias"),
            ),
            (
                distil,
                "distilbert.transformer.layer.2.output_layer_norm.bias",
                Some("encoder.layer.2.output.LayerNorm.bias"),
            ),
            (distil, "classifier.weight", None),
            (distil, "vocab_projector.weight", None),
            (
                Family::Roberta,
                "roberta.encoder.layer.0.attention.self.key.bias",
                Some("encoder.layer.0.attention.self.key.bias"),
            ),
            (
                Family::XlmRoberta,
                "roberta.embeddings.position_embeddings.weight",
                Some("embeddings.position_embeddings.weight"),
            ),
            (Family::Roberta, "roberta.pooler.dense.weight", None),
            (Family::Roberta, "lm_head.dense.weight", None),
            (
                Family::Electra,
                "electra.embeddings_project.weight",
                Some("embeddings.project.weight"),
            ),
            (
                Family::Electra,
                "electra.encoder.layer.1.output.dense.weight",
                Some("encoder.layer.1.output.dense.weight"),
            ),
            (
                Family::Electra,
                "discriminator_predictions.dense.weight",
                None,
            ),
            (
                Family::ModernBert,
                "model.embeddings.tok_embeddings.weight",
                Some(WORD_EMBEDDINGS),
            ),
            (
                Family::ModernBert,
                "model.layers.2.attn.Wqkv.weight",
                Some("layers.2.attn.Wqkv.weight"),
            ),
            (
                Family::ModernBert,
                "final_norm.weight",
                Some("final_norm.weight"),
            ),
            (Family::ModernBert, "head.dense.weight", None),
            (Family::ModernBert, "classifier.weight", None),
            (
                Family::DebertaV2,
                "deberta.encoder.rel_embeddings.weight",
                Some("encoder.rel_embeddings.weight"),
            ),
            (
                Family::DebertaV2,
                "deberta.encoder.layer.1.attention.self.query_proj.bias",
                Some("encoder.layer.1.attention.self.query_proj.bias"),
            ),
            (Family::DebertaV2, "deberta.embeddings.position_ids", None),
            (Family::DebertaV2, "lm_predictions.lm_head.bias", None),
        ] {
            assert_eq!(family.encoder_name(raw).as_deref(), expect, "{raw}");
        }
    }

    #[test]
    fn distilbert_config_becomes_bert() {
        let json = r#"{"model_type":"distilbert","dim":32,"n_layers":2,"n_heads":4,
            "hidden_dim":64,"activation":"gelu","dropout":0.1,"attention_dropout":0.1,
            "vocab_size":100,"max_position_embeddings":64,"sinusoidal_pos_embds":false,
            "architectures":["DistilBertForTokenClassification"]}"#;
        let map: Map<String, Value> = serde_json::from_str(json).unwrap();
        let family = Family::of_config(&map).unwrap();
        assert_eq!(family, Family::DistilBert);
        let config: crate::Config =
            serde_json::from_value(Value::Object(family.bert_config(map))).unwrap();
        assert_eq!(config.hidden_size, 32);
        assert_eq!(config.num_hidden_layers, 2);
        assert_eq!(config.intermediate_size, 64);
        assert_eq!(config.type_vocab_size, 1);
        assert_eq!(config.extra["model_type"], "bert");
    }

    #[test]
    fn unknown_model_type_is_named() {
        let map: Map<String, Value> = serde_json::from_str(r#"{"model_type":"gpt2"}"#).unwrap();
        assert_eq!(Family::of_config(&map), Err("gpt2".to_string()));
    }
}
