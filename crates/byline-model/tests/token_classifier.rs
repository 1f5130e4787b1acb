//! Plain Hugging Face token-classification checkpoints against transformers' own outputs on the
//! same weights: the tiny random checkpoints of `scripts/fixtures/make_hf_fixtures.py`, with the
//! pipeline's entities for every aggregation strategy in their `golden.json`.

use std::path::{Path, PathBuf};

use byline_core::aggregate::Aggregation;
use byline_core::OffsetMap;
use byline_model::{LoadOptions, ModelKind, Quantization, TokenClassifier};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hf")
}

const CHECKPOINTS: [&str; 11] = [
    "tiny-bert-bio",
    "tiny-bert-bioes",
    "tiny-distilbert-bare",
    "tiny-distilbert-bio",
    "tiny-roberta-bio",
    "tiny-xlm-roberta-bio",
    "tiny-electra-bio",
    "tiny-modernbert-bio",
    "tiny-deberta-v3-bio",
    "tiny-deberta-v2-bio",
    "tiny-deberta-v2-conv-bio",
];

fn golden(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(name).join("golden.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn load(name: &str) -> TokenClassifier {
    TokenClassifier::load(&fixtures().join(name), &LoadOptions::default()).unwrap()
}

/// (label, start, end, score) in code points, as the pipeline gives them.
fn entities(
    model: &TokenClassifier,
    text: &str,
    a: Aggregation,
) -> Vec<(String, usize, usize, f32)> {
    let input = model.prepare(text).unwrap();
    let probs = model.predict(&[&input]).unwrap().pop().unwrap();
    let map = OffsetMap::new(text);
    model
        .entities(&input, &probs, a)
        .into_iter()
        .map(|e| {
            let (s, t) = map.span_to_chars(e.span).unwrap();
            (e.label, s, t, e.score.unwrap())
        })
        .collect()
}

fn golden_entities(g: &Value, a: Aggregation, t: usize) -> Vec<(String, usize, usize, f32)> {
    g["pipeline"][a.as_str()][t]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["entity_group"].as_str().unwrap().to_string(),
                e["start"].as_u64().unwrap() as usize,
                e["end"].as_u64().unwrap() as usize,
                e["score"].as_f64().unwrap() as f32,
            )
        })
        .collect()
}

#[test]
fn directories_are_token_classifiers() {
    for name in CHECKPOINTS {
        assert_eq!(
            ModelKind::of_dir(&fixtures().join(name)).unwrap(),
            ModelKind::TokenClassification,
            "{name}"
        );
    }
}

#[test]
fn hidden_states_and_logits_match_transformers() {
    for name in CHECKPOINTS {
        let g = golden(name);
        let model = load(name);
        let ids: Vec<u32> = g["hidden"]["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let (hidden, logits) = model.forward_ids(&ids).unwrap();
        for (what, got, want) in [
            ("hidden", hidden, &g["hidden"]["last_hidden_state"]),
            ("logits", logits, &g["hidden"]["logits"]),
        ] {
            let got = got.to_vec2::<f32>().unwrap();
            let want = want.as_array().unwrap();
            assert_eq!(got.len(), want.len(), "{name} {what}");
            let mut worst = 0f32;
            for (row, wrow) in got.iter().zip(want) {
                for (x, w) in row.iter().zip(wrow.as_array().unwrap()) {
                    worst = worst.max((x - w.as_f64().unwrap() as f32).abs());
                }
            }
            assert!(worst < 1e-4, "{name} {what}: largest difference {worst}");
        }
    }
}

#[test]
fn entities_match_the_pipeline_for_every_aggregation() {
    for name in CHECKPOINTS {
        let g = golden(name);
        let model = load(name);
        let texts = g["texts"].as_array().unwrap();
        for a in Aggregation::ALL {
            for (t, text) in texts.iter().enumerate() {
                let text = text.as_str().unwrap();
                let got = entities(&model, text, a);
                let want = golden_entities(&g, a, t);
                let same = got.len() == want.len()
                    && got.iter().zip(&want).all(|(x, y)| {
                        x.0 == y.0 && x.1 == y.1 && x.2 == y.2 && (x.3 - y.3).abs() < 1e-4
                    });
                assert!(
                    same,
                    "{name} {a} text {t} {text:?}\n byline {got:?}\n pipeline {want:?}"
                );
            }
        }
    }
}

#[test]
fn long_texts_are_windowed_not_cut() {
    for name in CHECKPOINTS {
        windows_of(name);
    }
}

fn windows_of(name: &str) {
    // Windows of 8 subwords over a text of dozens: each subword's probabilities are those of
    // the window that owns it (where it is most central), and every subword is predicted.
    let g = golden(name);
    let texts: Vec<&str> = g["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let text = texts[..2].join(" ");
    let mut model = load(name);
    model.set_window_subwords(8);
    let input = model.prepare(&text).unwrap();
    let windows = &input.windows;
    assert!(
        windows.windows.len() > 4,
        "{name}: {}",
        windows.windows.len()
    );
    let probs = model.predict(&[&input]).unwrap().pop().unwrap();
    let n = model.labels().len();
    let (front, back) = model.special_tokens();
    for (w, window) in windows.windows.iter().enumerate() {
        let mut ids = front.to_vec();
        ids.extend_from_slice(&input.ids[window.subwords.clone()]);
        ids.extend_from_slice(back);
        let (_, logits) = model.forward_ids(&ids).unwrap();
        let logits = logits.to_vec2::<f32>().unwrap();
        for t in windows.owned(w) {
            let row = &logits[front.len() + t - window.subwords.start];
            let max = row.iter().copied().fold(f32::MIN, f32::max);
            let sum: f32 = row.iter().map(|x| (x - max).exp()).sum();
            for (l, x) in row.iter().enumerate() {
                let want = (x - max).exp() / sum;
                assert!(
                    (probs[t * n + l] - want).abs() < 1e-5,
                    "{name}: subword {t} label {l}"
                );
            }
        }
    }
    for t in 0..input.ids.len() {
        let sum: f32 = probs[t * n..(t + 1) * n].iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-4,
            "{name}: subword {t} was not predicted"
        );
    }

    // A text longer than the model's 128 positions is predicted to its end.
    let long = texts[..5].join(" ").repeat(3);
    let model = load(name);
    let input = model.prepare(&long).unwrap();
    assert!(
        input.ids.len() > 128 && input.windows.windows.len() > 1,
        "{name}"
    );
    let probs = model.predict(&[&input]).unwrap().pop().unwrap();
    for t in input.ids.len() - 10..input.ids.len() {
        let sum: f32 = probs[t * n..(t + 1) * n].iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-4,
            "{name}: subword {t} was not predicted"
        );
    }
}

#[test]
fn q8_keeps_most_entities() {
    for name in CHECKPOINTS {
        let g = golden(name);
        let model = load(name);
        let q8 = model.quantized(Quantization::Q8).unwrap();
        let (mut same, mut total) = (0, 0);
        for text in g["texts"].as_array().unwrap() {
            let text = text.as_str().unwrap();
            let a = entities(&model, text, Aggregation::First);
            let b = entities(&q8, text, Aggregation::First);
            total += a.len();
            same += a
                .iter()
                .filter(|e| b.iter().any(|f| f.0 == e.0 && f.1 == e.1 && f.2 == e.2))
                .count();
        }
        println!("{name}: q8 kept {same} of {total} entities");
        assert!(
            same * 10 >= total * 7,
            "{name}: q8 kept {same} of {total} entities"
        );
    }
}

#[test]
fn bad_directories_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixtures().join("tiny-bert-bio");
    let copy = |to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        for f in std::fs::read_dir(&src).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
    };
    let err = |d: &Path| {
        TokenClassifier::load(d, &LoadOptions::default())
            .unwrap_err()
            .to_string()
    };

    let unknown = dir.path().join("unknown");
    copy(&unknown);
    let config = std::fs::read_to_string(unknown.join("config.json")).unwrap();
    std::fs::write(
        unknown.join("config.json"),
        config.replace("\"bert\"", "\"gpt2\""),
    )
    .unwrap();
    let e = err(&unknown);
    assert!(e.contains("gpt2") && e.contains("distilbert"), "{e}");
    let e = ModelKind::of_dir(&unknown)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("gpt2"), "{e}");

    let no_tok = dir.path().join("no-tokenizer");
    copy(&no_tok);
    std::fs::remove_file(no_tok.join("tokenizer.json")).unwrap();
    let e = err(&no_tok);
    assert!(e.contains("tokenizer.json"), "{e}");

    let no_head = dir.path().join("no-head");
    copy(&no_head);
    let config = std::fs::read_to_string(no_head.join("config.json")).unwrap();
    std::fs::write(
        no_head.join("config.json"),
        config.replace("BertForTokenClassification", "BertModel"),
    )
    .unwrap();
    let e = ModelKind::of_dir(&no_head)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("BertModel") && e.contains("byline train"), "{e}");

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = ModelKind::of_dir(&empty)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a model directory"), "{e}");
}

#[test]
fn cased_and_uncased_tokenizers_are_told_apart() {
    // byline's casing embedding is on by default for uncased tokenizers only.
    for (name, uncased) in [
        ("tiny-bert-bio", false),
        ("tiny-distilbert-bio", true),
        ("tiny-roberta-bio", false),
        ("tiny-xlm-roberta-bio", false),
        ("tiny-electra-bio", true),
        ("tiny-modernbert-bio", false),
        ("tiny-deberta-v3-bio", false),
    ] {
        let tok = byline_model::Tokenizer::from_file(fixtures().join(name).join("tokenizer.json"))
            .unwrap();
        assert_eq!(tok.is_uncased().unwrap(), uncased, "{name}");
    }
}

#[test]
fn pre_split_words_get_their_in_sentence_form_with_byte_level_bpe() {
    // RoBERTa's tokenizer adds no prefix space; byline's word path gives each word its `Ġ` form
    // anyway (as transformers does with `add_prefix_space=True`), with offsets into the text.
    let tok = byline_model::Tokenizer::from_file(
        fixtures().join("tiny-roberta-bio").join("tokenizer.json"),
    )
    .unwrap();
    let text = "Elena Kowalski visited Berlin.";
    let words =
        [(0, 5), (6, 14), (15, 22), (23, 29), (29, 30)].map(|(s, e)| byline_core::Span::new(s, e));
    let enc = tok.encode_words(text, &words).unwrap();
    let first = enc.first_subwords(words.len());
    for (w, f) in first.iter().enumerate() {
        let p = f.unwrap();
        let token = tok.inner().id_to_token(enc.ids[p]).unwrap();
        assert!(token.starts_with('Ġ'), "word {w}: {token}");
        assert_eq!(enc.offsets[p].start, words[w].start, "word {w}");
    }
    // Raw text keeps the tokenizer's own behaviour (what the pipeline sees).
    let raw = tok.encode_text(text).unwrap();
    let first = tok.inner().id_to_token(raw.ids[1]).unwrap();
    assert!(!first.starts_with('Ġ'), "{first}");
}
