//! DeBERTa-v3's `spm.model` read by byline against transformers' own tokenizer of the same
//! folder: `tests/fixtures/spm/deberta-v3-spm/` (no tokenizer.json), made by
//! `scripts/fixtures/make_spm_fixture.py`, whose `expected.json` holds transformers 5.24's ids,
//! tokens and offsets for texts with accents, curly quotes, tabs, line breaks, runs of spaces,
//! full-width characters and unknown ones.

use std::path::{Path, PathBuf};

use byline_model::spm::{PieceType, SpmModel, SPM_FILE};
use byline_model::Tokenizer;
use serde_json::Value;

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/spm/deberta-v3-spm")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(folder().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_model_file_is_read() {
    let data = std::fs::read(folder().join(SPM_FILE)).unwrap();
    let model = SpmModel::parse(&data).unwrap();
    assert_eq!(
        model.pieces.len() as u64,
        expected()["pieces"].as_u64().unwrap()
    );
    assert_eq!(model.model_type, 1);
    assert_eq!(model.unk_id, 3);
    assert_eq!(model.pieces[0].piece, "[PAD]");
    assert_eq!(model.pieces[1].kind, PieceType::Control);
    assert_eq!(model.pieces[3].kind, PieceType::Unknown);
    assert_eq!(model.pieces[4].kind, PieceType::Normal);
    assert!(model.pieces[4].score < 0.0);
    assert!(!model.precompiled_charsmap.is_empty());
}

#[test]
fn encodings_match_transformers() {
    assert!(
        !folder().join("tokenizer.json").exists(),
        "the fixture must hold spm.model only"
    );
    let tok = Tokenizer::from_dir(&folder()).unwrap();
    let g = expected();
    assert_eq!(
        tok.inner().token_to_id("[MASK]").map(u64::from),
        g["mask_token_id"].as_u64()
    );
    let texts = g["texts"].as_array().unwrap();
    assert!(texts.len() >= 10);
    for t in texts {
        let text = t["text"].as_str().unwrap();
        let enc = tok.inner().encode_char_offsets(text, true).unwrap();
        let ids: Vec<u64> = enc.get_ids().iter().map(|&i| u64::from(i)).collect();
        let want_ids: Vec<u64> = t["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(ids, want_ids, "{text:?}");
        let tokens: Vec<&str> = t["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        // transformers names tokens by id (an unknown piece is `[UNK]`, not its text).
        let named: Vec<String> = enc
            .get_ids()
            .iter()
            .map(|&i| tok.inner().id_to_token(i).unwrap())
            .collect();
        assert_eq!(named, tokens, "{text:?}");
        let offsets: Vec<(usize, usize)> = t["offsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o[0].as_u64().unwrap() as usize,
                    o[1].as_u64().unwrap() as usize,
                )
            })
            .collect();
        assert_eq!(enc.get_offsets(), offsets.as_slice(), "{text:?}");
    }
}

#[test]
fn a_damaged_model_file_names_itself() {
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(folder().join(SPM_FILE)).unwrap();
    std::fs::write(dir.path().join(SPM_FILE), &data[..data.len() / 3]).unwrap();
    let err = Tokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("spm.model") && err.contains("SentencePiece"),
        "{err}"
    );
}
