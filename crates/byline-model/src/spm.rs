//! SentencePiece model files (`spm.model`) read into a fast tokenizer, as transformers 5.24's
//! `DebertaV2Tokenizer` builds one from them. Many DeBERTa-v3 repositories on the hub ship only
//! `spm.model`; byline reads it directly.
//!
//! The file is a protobuf `ModelProto` (`sentencepiece_model.proto`): its pieces (text, score,
//! type) and the trainer settings (model type, unknown id, byte fallback). The tokenizer built
//! from it, as in `transformers/models/deberta_v2/tokenization_deberta_v2.py`:
//!
//! * model: Unigram over the pieces and scores, with the file's unknown id, no byte fallback;
//! * normalizer: lowercase when `do_lower_case`; runs of white space, tabs and line breaks to
//!   one space; NFC; trailing spaces stripped. (SentencePiece's own precompiled NFKC map is not
//!   used, as transformers 5 does not use it: a full-width `Ａ` is `[UNK]` in both.)
//! * pre-tokenizer: punctuation isolated when `split_by_punct`, then Metaspace (`▁`, prepended
//!   to every word unless `add_prefix_space` is false, then to the first only);
//! * post-processor: `[CLS] $A [SEP]` (pairs `[CLS] $A [SEP] $B [SEP]`), decoder Metaspace;
//! * special tokens: those `tokenizer_config.json` names (DeBERTa's by default); one the pieces
//!   lack (`[MASK]`) gets the next id, as transformers adds it.

use std::path::Path;

use serde_json::{Map, Value};
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::replace::ReplacePattern;
use tokenizers::normalizers::{Lowercase, Replace, Sequence, Strip, NFC};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::punctuation::Punctuation;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior};

use crate::error::{Error, Result};

/// The SentencePiece model file of a DeBERTa-v2/v3 repository.
pub const SPM_FILE: &str = "spm.model";

/// SentencePiece's piece types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

/// One vocabulary entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub piece: String,
    pub score: f32,
    pub kind: PieceType,
}

/// What byline reads of a `ModelProto`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpmModel {
    pub pieces: Vec<Piece>,
    /// `TrainerSpec.model_type`: 1 unigram, 2 BPE, 3 word, 4 char.
    pub model_type: u64,
    pub unk_id: usize,
    pub byte_fallback: bool,
    /// `NormalizerSpec.precompiled_charsmap` (read, not used: see the module docs).
    pub precompiled_charsmap: Vec<u8>,
    pub add_dummy_prefix: bool,
}

/// A protobuf field: its number and value.
enum Field<'a> {
    Varint(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

/// Reads protobuf fields one after the other (wire types 0, 1, 2, 5).
struct Fields<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, at: 0 }
    }

    fn varint(&mut self) -> std::result::Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.data.get(self.at).ok_or("a number runs past the end")?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a number is longer than 10 bytes".into())
    }

    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or("a field runs past the end")?;
        let out = &self.data[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn next(&mut self) -> Option<std::result::Result<(u64, Field<'a>), String>> {
        if self.at >= self.data.len() {
            return None;
        }
        Some((|| {
            let key = self.varint()?;
            let field = match key & 7 {
                0 => Field::Varint(self.varint()?),
                1 => {
                    self.take(8)?;
                    Field::Varint(0) // 64-bit values: none that byline reads
                }
                2 => {
                    let n = self.varint()? as usize;
                    Field::Bytes(self.take(n)?)
                }
                5 => Field::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().unwrap())),
                w => return Err(format!("unknown wire type {w}")),
            };
            Ok((key >> 3, field))
        })())
    }
}

impl SpmModel {
    /// Parses a serialized `ModelProto`.
    pub fn parse(data: &[u8]) -> std::result::Result<Self, String> {
        let mut model = SpmModel {
            pieces: Vec::new(),
            model_type: 1,
            unk_id: 0,
            byte_fallback: false,
            precompiled_charsmap: Vec::new(),
            add_dummy_prefix: true,
        };
        let mut fields = Fields::new(data);
        while let Some(field) = fields.next() {
            match field? {
                (1, Field::Bytes(b)) => model.pieces.push(parse_piece(b)?),
                (2, Field::Bytes(b)) => {
                    let mut spec = Fields::new(b);
                    while let Some(f) = spec.next() {
                        match f? {
                            (3, Field::Varint(v)) => model.model_type = v,
                            (35, Field::Varint(v)) => model.byte_fallback = v != 0,
                            (40, Field::Varint(v)) => model.unk_id = v as usize,
                            _ => {}
                        }
                    }
                }
                (3, Field::Bytes(b)) => {
                    let mut spec = Fields::new(b);
                    while let Some(f) = spec.next() {
                        match f? {
                            (2, Field::Bytes(map)) => model.precompiled_charsmap = map.to_vec(),
                            (3, Field::Varint(v)) => model.add_dummy_prefix = v != 0,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if model.pieces.is_empty() {
            return Err("no pieces: not a SentencePiece model".into());
        }
        if model.unk_id >= model.pieces.len() {
            return Err(format!(
                "unk_id {} is not among the {} pieces",
                model.unk_id,
                model.pieces.len()
            ));
        }
        Ok(model)
    }
}

fn parse_piece(data: &[u8]) -> std::result::Result<Piece, String> {
    let mut piece = Piece {
        piece: String::new(),
        score: 0.0,
        kind: PieceType::Normal,
    };
    let mut fields = Fields::new(data);
    while let Some(field) = fields.next() {
        match field? {
            (1, Field::Bytes(b)) => {
                piece.piece = String::from_utf8(b.to_vec()).map_err(|_| "a piece is not UTF-8")?
            }
            (2, Field::Fixed32(bits)) => piece.score = f32::from_bits(bits),
            (3, Field::Varint(t)) => {
                piece.kind = match t {
                    1 => PieceType::Normal,
                    2 => PieceType::Unknown,
                    3 => PieceType::Control,
                    4 => PieceType::UserDefined,
                    5 => PieceType::Unused,
                    6 => PieceType::Byte,
                    t => return Err(format!("piece type {t} is unknown")),
                }
            }
            _ => {}
        }
    }
    Ok(piece)
}

/// A special token named in `tokenizer_config.json`: a string or `{"content": ...}`.
fn setting_token(settings: &Map<String, Value>, key: &str, default: &str) -> String {
    match settings.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_string(),
        _ => default.to_string(),
    }
}

/// Builds DeBERTa-v2/v3's fast tokenizer from `path` (`spm.model`) and the repository's
/// `tokenizer_config.json` settings (`do_lower_case`, `split_by_punct`, special tokens).
pub fn deberta_tokenizer(
    path: &Path,
    settings: &Map<String, Value>,
) -> Result<tokenizers::Tokenizer> {
    let bad = |message: String| Error::BadModelDir {
        path: path.to_path_buf(),
        message,
    };
    let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let model =
        SpmModel::parse(&data).map_err(|m| bad(format!("not a SentencePiece model: {m}")))?;
    if model.model_type != 1 {
        return Err(bad(format!(
            "SentencePiece model type {} is not unigram (1): byline converts DeBERTa-v2/v3's \
             unigram models only; write a tokenizer.json with transformers instead",
            model.model_type
        )));
    }
    let vocab: Vec<(String, f64)> = model
        .pieces
        .iter()
        .map(|p| (p.piece.clone(), f64::from(p.score)))
        .collect();
    let unigram = Unigram::from(vocab, Some(model.unk_id), false)
        .map_err(|e| bad(format!("cannot build its unigram model: {e}")))?;
    let mut tok = tokenizers::Tokenizer::new(unigram);

    let flag = |k: &str, default: bool| settings.get(k).and_then(Value::as_bool).unwrap_or(default);
    let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
    if flag("do_lower_case", false) {
        normalizers.push(Lowercase.into());
    }
    let spaces = Replace::new(ReplacePattern::Regex(r"\s{2,}|[\n\r\t]".into()), " ")
        .map_err(|e| bad(e.to_string()))?;
    normalizers.push(spaces.into());
    normalizers.push(NFC.into());
    normalizers.push(Strip::new(false, true).into());
    tok.with_normalizer(Some(Sequence::new(normalizers)))
        .map_err(|e| bad(e.to_string()))?;

    let prepend = match flag("add_prefix_space", true) {
        true => PrependScheme::Always,
        false => PrependScheme::First,
    };
    let metaspace = Metaspace::new('▁', prepend, true);
    let mut pre: Vec<PreTokenizerWrapper> = Vec::new();
    if flag("split_by_punct", false) {
        pre.push(Punctuation::new(SplitDelimiterBehavior::Isolated).into());
    }
    pre.push(metaspace.clone().into());
    tok.with_pre_tokenizer(Some(PreSequence::new(pre)));
    tok.with_decoder(Some(metaspace));

    let names = [
        ("pad_token", "[PAD]"),
        ("cls_token", "[CLS]"),
        ("sep_token", "[SEP]"),
        ("unk_token", "[UNK]"),
        ("mask_token", "[MASK]"),
    ];
    let specials: Vec<AddedToken> = names
        .iter()
        .map(|(key, default)| AddedToken::from(setting_token(settings, key, default), true))
        .collect();
    tok.add_special_tokens(specials)
        .map_err(|e| bad(e.to_string()))?;
    let id = |name: &str| {
        tok.token_to_id(name)
            .ok_or_else(|| bad(format!("no id for `{name}`")))
    };
    let (cls, sep) = (
        setting_token(settings, "cls_token", "[CLS]"),
        setting_token(settings, "sep_token", "[SEP]"),
    );
    let template = TemplateProcessing::builder()
        .try_single(format!("{cls}:0 $A:0 {sep}:0"))
        .and_then(|b| b.try_pair(format!("{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1")))
        .map_err(|e| bad(e.to_string()))?
        .special_tokens(vec![(cls.clone(), id(&cls)?), (sep.clone(), id(&sep)?)])
        .build()
        .map_err(|e| bad(e.to_string()))?;
    tok.with_post_processor(Some(template));
    Ok(tok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_or_foreign_files_are_refused() {
        assert!(SpmModel::parse(b"").is_err());
        assert!(SpmModel::parse(&[0x0a, 0x05, 0x0a]).is_err()); // a piece cut short
        assert!(SpmModel::parse(b"{\"not\": \"protobuf\"}").is_err());
    }
}
