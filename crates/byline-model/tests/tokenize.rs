//! Tokenisation on a small hand-written WordPiece tokenizer (offline), with the padding and
//! truncation a Hugging Face file may carry baked in.

use byline_core::Span;
use byline_model::casing::Shape;
use byline_model::{Batch, Casing, Tokenizer};
use candle_core::Device;

const VOCAB: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "mer", "##kel", "met", "the", "u", "n", ".", ",", "in",
    "berlin", "do", "##n", "'", "t", "1996",
];

fn tokenizer() -> Tokenizer {
    let vocab: serde_json::Map<String, serde_json::Value> = VOCAB
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), i.into()))
        .collect();
    let special = |id: usize| {
        serde_json::json!({"id": id, "special": true, "content": VOCAB[id], "single_word": false,
            "lstrip": false, "rstrip": false, "normalized": false})
    };
    let json = serde_json::json!({
        "version": "1.0",
        "truncation": {"max_length": 6, "strategy": "LongestFirst", "stride": 0},
        "padding": {"strategy": {"Fixed": 32}, "direction": "Right", "pad_to_multiple_of": null,
            "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
        "added_tokens": [special(0), special(1), special(2), special(3)],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
            "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100, "vocab": vocab}
    });
    let inner: tokenizers::Tokenizer = json.to_string().parse().expect("valid tokenizer json");
    Tokenizer::new(inner).expect("settings removable")
}

/// Byte spans of whitespace-separated words.
fn words(text: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                spans.push(Span::new(s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    spans
}

#[test]
fn baked_in_padding_and_truncation_are_removed() {
    let tok = tokenizer();
    let enc = tok
        .encode_text("Merkel met the U.N. in Berlin, 1996")
        .expect("encodes");
    // [CLS] mer ##kel met the u . n . in berlin , 1996 [SEP]
    assert_eq!(enc.len(), 14);
    assert_eq!(tok.pad_id(), 0);
}

#[test]
fn words_offsets_and_casing() {
    let tok = tokenizer();
    let text = "Merkel met  the U.N. in BERLIN";
    let spans = words(text);
    let enc = tok.encode_words(text, &spans).expect("encodes");
    let pieces: Vec<&str> = enc.offsets.iter().map(|s| &text[s.start..s.end]).collect();
    assert_eq!(
        pieces,
        ["", "Mer", "kel", "met", "the", "U", ".", "N", ".", "in", "BERLIN", ""]
    );
    assert_eq!(
        enc.words,
        [
            None,
            Some(0),
            Some(0),
            Some(1),
            Some(2),
            Some(3),
            Some(3),
            Some(3),
            Some(3),
            Some(4),
            Some(5),
            None
        ]
    );
    let c = |shape, first| Casing::Subword { shape, first }.id();
    assert_eq!(
        enc.casing,
        [
            Casing::Special.id(),
            c(Shape::Initial, true),
            c(Shape::Lower, false),
            c(Shape::Lower, true),
            c(Shape::Lower, true),
            c(Shape::Initial, true),
            c(Shape::Punct, false),
            c(Shape::Initial, false),
            c(Shape::Punct, false),
            c(Shape::Lower, true),
            c(Shape::AllCaps, true),
            Casing::Special.id(),
        ]
    );
    assert_eq!(
        enc.first_subwords(6),
        [Some(1), Some(3), Some(4), Some(5), Some(9), Some(10)]
    );
}

#[test]
fn a_word_boundary_inside_a_tokenizer_word_is_respected() {
    // CoNLL splits "don't" into "do" + "n't"; the tokenizer alone would give "don" ' "t".
    let tok = tokenizer();
    let text = "don't";
    let enc = tok
        .encode_words(text, &[Span::new(0, 2), Span::new(2, 5)])
        .expect("encodes");
    let pieces: Vec<&str> = enc.offsets.iter().map(|s| &text[s.start..s.end]).collect();
    assert_eq!(pieces, ["", "do", "n", "'", "t", ""]);
    assert_eq!(enc.words, [None, Some(0), Some(1), Some(1), Some(1), None]);
}

#[test]
fn bad_word_spans_are_errors() {
    let tok = tokenizer();
    for bad in [Span::new(0, 99), Span::new(1, 2)] {
        let err = tok
            .encode_words("Zürich", &[bad])
            .expect_err("not a span of the text");
        assert!(
            matches!(err, byline_model::Error::BadWord { index: 0, .. }),
            "{err}"
        );
    }
}

#[test]
fn batches_pad_right_and_check_length() {
    let tok = tokenizer();
    let a = tok.encode_text("Merkel met").expect("a");
    let b = tok.encode_text("the U.N. in Berlin").expect("b");
    let batch = Batch::new(&[&a, &b], tok.pad_id(), 512, &Device::Cpu).expect("batch");
    assert_eq!(batch.lengths, [5, 9]);
    let mask = batch.attention_mask.to_vec2::<u32>().expect("mask");
    assert_eq!(mask[0], [1, 1, 1, 1, 1, 0, 0, 0, 0]);
    assert_eq!(mask[1], [1; 9]);
    let ids = batch.input_ids.to_vec2::<u32>().expect("ids");
    assert_eq!(&ids[0][5..], [0, 0, 0, 0]);
    assert!(matches!(
        Batch::new(&[&a, &b], 0, 8, &Device::Cpu),
        Err(byline_model::Error::TooLong { len: 9, max: 8 })
    ));
    assert!(matches!(
        Batch::new(&[], 0, 8, &Device::Cpu),
        Err(byline_model::Error::EmptyBatch)
    ));
}
