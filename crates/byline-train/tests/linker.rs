//! Training the learned source scorer on a tiny random encoder: examples from gold
//! attributions, and a linker that learns them.

use byline_core::tokenize::tokenize_document;
use byline_core::{Attribution, Document, Mention, Scheme, Span};
use byline_model::{
    Config, DecoderKind, HeadSpec, LoadOptions, Pretrained, Tagger, TaggerConfig, Tokenizer,
    WindowConfig,
};
use byline_train::linker::{
    link_accuracy, link_examples, link_examples_on, link_examples_with, train_linker,
    ExampleOptions, LinkSpans, LinkerTraining,
};
use candle_core::Device;

const VOCAB: &[&str] = &[
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "\"",
    ",",
    ".",
    "smith",
    "jones",
    "he",
    "she",
    "said",
    "told",
    "added",
    "that",
    "taxes",
    "rise",
    "we",
    "won",
    "the",
    "plan",
    "failed",
    "reporters",
];

/// A document from `(text, [(content, cue, source)])`, each role the first occurrence of its
/// text as whole words.
fn document(id: &str, text: &str, attributions: &[(&str, &str, Option<&str>)]) -> Document {
    let word = |i: usize| text[i..].chars().next().is_some_and(char::is_alphanumeric);
    let find = |s: &str| {
        let start = text
            .match_indices(s)
            .map(|(i, _)| i)
            .find(|&i| {
                (i == 0 || !word(i - 1)) && (i + s.len() == text.len() || !word(i + s.len()))
            })
            .unwrap_or_else(|| panic!("{s:?} in {text:?}"));
        Span::new(start, start + s.len())
    };
    let mut doc = Document::new(id, text);
    for (content, cue, source) in attributions {
        doc.attributions.push(Attribution {
            content: Mention::single(find(content)),
            cue: Some(Mention::single(find(cue))),
            source: source.map(|s| Mention::single(find(s))),
        });
    }
    tokenize_document(&mut doc);
    doc
}

fn documents() -> Vec<Document> {
    vec![
        document(
            "a",
            "\"We won,\" Smith said. Jones told reporters that the plan failed.",
            &[
                ("\"We won,\"", "said", Some("Smith")),
                ("the plan failed", "told", Some("Jones")),
            ],
        ),
        document(
            "b",
            "Jones said taxes rise. \"We won,\" she added.",
            &[
                ("taxes rise", "said", Some("Jones")),
                ("\"We won,\"", "added", Some("she")),
            ],
        ),
        document(
            "c",
            "Smith said that the plan failed. \"Taxes rise,\" he told reporters.",
            &[
                ("the plan failed", "said", Some("Smith")),
                ("\"Taxes rise,\"", "told", Some("he")),
            ],
        ),
        document(
            "d",
            "\"We won.\" said the plan.",
            &[("\"We won.\"", "said", None)],
        ),
    ]
}

fn tagger() -> Tagger {
    let config = Config {
        vocab_size: VOCAB.len(),
        ..Config::tiny()
    };
    let pretrained = Pretrained::random(&config, &LoadOptions::default()).unwrap();
    let spec = TaggerConfig {
        heads: vec![HeadSpec::attributions(
            "attributions",
            Scheme::Iob2,
            DecoderKind::Crf,
        )],
        window: WindowConfig {
            max_subwords: 12,
            overlap: 4,
        },
        casing: true,
        linker: None,
    };
    Tagger::new(pretrained, Tokenizer::from_vocab(VOCAB).unwrap(), spec).unwrap()
}

#[test]
fn examples_cover_every_gold_content_and_a_linker_learns_them() {
    let tagger = tagger();
    let docs = documents();
    let (examples, stats) = link_examples(&tagger, "attributions", &docs, 2).unwrap();
    assert_eq!(stats.contents, 7);
    assert_eq!(stats.examples, 7, "{stats:?}");
    assert_eq!(stats.no_source, 1);
    assert_eq!(stats.unmatched + stats.unreachable, 0);
    for e in &examples {
        assert!(e.answer < e.candidates && e.rule < e.candidates);
        assert_eq!(e.batch.len(), e.candidates);
    }
    // Every two-attribution document offers both sources to both contents.
    assert!(examples.iter().filter(|e| e.candidates == 3).count() >= 6);

    let cfg = LinkerTraining {
        width: 32,
        epochs: 60,
        learning_rate: 3e-3,
        batch_size: 4,
        dropout: 0.0,
        ..LinkerTraining::default()
    };
    let hidden = tagger.config().hidden_size;
    let mut losses = Vec::new();
    let linker = train_linker(
        "attributions",
        hidden,
        &examples,
        &[],
        &cfg,
        &Device::Cpu,
        |e| losses.push(e.loss),
    )
    .unwrap();
    assert_eq!(losses.len(), 60);
    assert!(losses[59] < losses[0] / 4.0, "{losses:?}");
    let acc = link_accuracy(&linker, &examples).unwrap();
    assert_eq!(acc.linker, 1.0, "{acc:?}");
    assert_eq!(acc.examples, 7);

    // On the model's own spans too: `Both` is the gold-span and the predicted-span examples.
    let on = |spans| link_examples_on(&tagger, "attributions", &docs, 2, spans).unwrap();
    let (gold, gold_stats) = on(LinkSpans::Gold);
    let (predicted, predicted_stats) = on(LinkSpans::Predicted);
    let (both, both_stats) = on(LinkSpans::Both);
    assert_eq!(gold.len(), examples.len());
    assert_eq!(both.len(), gold.len() + predicted.len());
    assert_eq!(
        both_stats.contents,
        gold_stats.contents + predicted_stats.contents
    );
    assert_eq!(
        predicted_stats.unreachable, 0,
        "predicted spans answer \"no source\" instead"
    );
    for e in &predicted {
        assert!(e.answer < e.candidates);
    }

    // Not an attribution head, or nothing to train on: errors.
    assert!(link_examples(&tagger, "entities", &docs, 2).is_err());
    assert!(train_linker("attributions", hidden, &[], &[], &cfg, &Device::Cpu, |_| ()).is_err());
}

#[test]
fn with_every_gold_source_hidden_a_proposing_linker_finds_them_among_proposals() {
    let tagger = tagger();
    let docs = documents();
    let options = ExampleOptions {
        spans: LinkSpans::Gold,
        proposals: 3,
        drop_sources: 1.0,
        seed: 1,
    };
    let (examples, stats) =
        link_examples_with(&tagger, "attributions", &docs, 2, &options).unwrap();
    assert_eq!(stats.contents, 7);
    assert_eq!(stats.examples + stats.unreachable, 7, "{stats:?}");
    assert!(stats.examples >= 5, "{stats:?}");
    // No tagged source is left: every answer but "no source" is a proposed span (feature 19).
    for e in &examples {
        let f = e.batch.features;
        assert_eq!(f, byline_core::assemble::LINK_FEATURES);
        let row = &e.batch.feature_rows[e.answer * f..(e.answer + 1) * f];
        assert_eq!(row[f - 1], if e.answer == 0 { 0.0 } else { 1.0 });
        assert!(e.candidates > 1, "proposals among the candidates");
    }
    let cfg = LinkerTraining {
        width: 32,
        epochs: 80,
        learning_rate: 3e-3,
        batch_size: 4,
        dropout: 0.0,
        proposals: 3,
        ..LinkerTraining::default()
    };
    let hidden = tagger.config().hidden_size;
    let linker = train_linker(
        "attributions",
        hidden,
        &examples,
        &[],
        &cfg,
        &Device::Cpu,
        |_| (),
    )
    .unwrap();
    assert_eq!(linker.config().proposals, 3);
    let acc = link_accuracy(&linker, &examples).unwrap();
    assert!(acc.linker > acc.rules, "{acc:?}");
    assert_eq!(acc.linker, 1.0, "{acc:?}");
}
