//! byline's tagger through the real training loop on a tiny random encoder: it learns eight
//! sentences by heart, and the evaluation scores them.

use byline_core::tokenize::tokenize_document;
use byline_core::{Document, Entity, Scheme, Span};
use byline_model::{
    Config, DecoderKind, HeadKind, HeadSpec, LoadOptions, Pretrained, Tagger, TaggerConfig,
    Tokenizer, WindowConfig,
};
use byline_train::{tagging, Silent, TaskConfig, TaskData, TrainConfig, Trainer};

const VOCAB: &[&str] = &[
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "mer",
    "##kel",
    "met",
    "the",
    "in",
    "berlin",
    ".",
    "said",
    "elena",
    "kowalski",
    "visited",
    "portsmouth",
    "northgate",
    "engineering",
    "blamed",
    "dutch",
    "steel",
    "geneva",
    "and",
    "ottawa",
    "officials",
    "haruto",
    "sato",
    "reuters",
    "reported",
    "from",
    "paris",
    "french",
    "wine",
    "sold",
    "well",
];

/// Eight sentences with their entities, (text, [(entity, label)]).
const SENTENCES: &[(&str, &[(&str, &str)])] = &[
    (
        "Merkel met the officials in Berlin.",
        &[("Merkel", "PER"), ("Berlin", "LOC")],
    ),
    (
        "Elena Kowalski visited Portsmouth.",
        &[("Elena Kowalski", "PER"), ("Portsmouth", "LOC")],
    ),
    (
        "Northgate Engineering blamed Dutch steel.",
        &[("Northgate Engineering", "ORG"), ("Dutch", "MISC")],
    ),
    (
        "Haruto Sato met officials in Geneva and Ottawa.",
        &[("Haruto Sato", "PER"), ("Geneva", "LOC"), ("Ottawa", "LOC")],
    ),
    (
        "Reuters reported from Paris.",
        &[("Reuters", "ORG"), ("Paris", "LOC")],
    ),
    ("French wine sold well.", &[("French", "MISC")]),
    (
        "Sato said Northgate sold steel.",
        &[("Sato", "PER"), ("Northgate", "ORG")],
    ),
    (
        "Kowalski met Merkel in Paris.",
        &[("Kowalski", "PER"), ("Merkel", "PER"), ("Paris", "LOC")],
    ),
];

fn documents() -> Vec<Document> {
    // Two documents of four sentences each.
    SENTENCES
        .chunks(4)
        .enumerate()
        .map(|(i, chunk)| {
            let mut text = String::new();
            let mut doc = Document::new(format!("doc{i}"), "");
            for (sentence, entities) in chunk {
                if !text.is_empty() {
                    text.push(' ');
                }
                let base = text.len();
                text.push_str(sentence);
                let mut from = 0;
                for (needle, label) in entities.iter() {
                    let start = from + sentence[from..].find(needle).expect("entity");
                    from = start + needle.len();
                    doc.entities.push(Entity {
                        span: Span::new(base + start, base + from),
                        label: label.to_string(),
                        score: None,
                    });
                }
            }
            doc.text = text;
            tokenize_document(&mut doc);
            doc
        })
        .collect()
}

#[test]
fn the_tagger_learns_eight_sentences_by_heart() {
    let config = Config {
        vocab_size: VOCAB.len(),
        hidden_dropout_prob: 0.0,
        attention_probs_dropout_prob: 0.0,
        ..Config::tiny()
    };
    let pretrained = Pretrained::random(&config, &LoadOptions::default()).unwrap();
    let tokenizer = Tokenizer::from_vocab(VOCAB).unwrap();
    let mut head = HeadSpec::entities(
        "entities",
        Scheme::Iob2,
        &["LOC", "MISC", "ORG", "PER"],
        DecoderKind::Crf,
    );
    head.dropout = 0.0;
    let spec = TaggerConfig {
        heads: vec![head],
        window: WindowConfig {
            max_subwords: 16,
            overlap: 6,
        },
        casing: true,
        linker: None,
    };
    let tagger = Tagger::new(pretrained, tokenizer, spec).unwrap();
    let docs = documents();
    let tasks = vec![TaskData {
        name: "entities".into(),
        kind: HeadKind::Entities,
        train: docs.clone(),
        dev: docs,
        cofenet: Vec::new(),
    }];
    let examples = tagging::training_examples(&tagger, &tasks).unwrap();
    assert!(examples[0].len() >= 4, "documents span several windows");

    let before = tagging::evaluate(&tagger, &tasks).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrainConfig {
        output_dir: dir.path().to_path_buf(),
        max_steps: Some(150),
        batch_size: 4,
        learning_rate: 3e-3,
        head_learning_rate: Some(3e-2),
        warmup_steps: Some(5),
        weight_decay: 0.0,
        dropout: 0.0,
        eval_every: 0,
        checkpoint_every: 0,
        freeze_word_embeddings: false,
        tasks: vec![TaskConfig::new("entities", "memory")],
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(cfg, &tagger, examples).unwrap();
    let summary = trainer
        .run(|m| tagging::evaluate(m, &tasks), &mut Silent)
        .unwrap();
    let best = summary.best.expect("evaluated at the end");
    assert_eq!(
        best.metrics["entities.f1"], 1.0,
        "{best:?} (before: {before:?})"
    );
    assert_eq!(best.metrics["f1"], 1.0);
    assert!(before["entities.f1"] < 0.5, "{before:?}");
    // The best model is a loadable tagger directory that predicts the same.
    let saved = Tagger::load(&dir.path().join("best"), &LoadOptions::default()).unwrap();
    assert_eq!(
        tagging::evaluate(&saved, &tasks).unwrap()["entities.f1"],
        1.0
    );

    // `init_from`: a fresh random tagger of the same shape takes over the trained weights.
    let fresh = || {
        let pretrained = Pretrained::random(&config, &LoadOptions::default()).unwrap();
        let tokenizer = Tokenizer::from_vocab(VOCAB).unwrap();
        Tagger::new(pretrained, tokenizer, saved.spec().clone()).unwrap()
    };
    let continued = fresh();
    tagging::init_from(&continued, &dir.path().join("best")).unwrap();
    assert_eq!(
        tagging::evaluate(&continued, &tasks).unwrap()["entities.f1"],
        1.0
    );
    // A tagger with other labels cannot: the error names the file and the weight.
    let mut other = saved.spec().clone();
    other.heads[0] = HeadSpec::entities("entities", Scheme::Iob2, &["PER"], DecoderKind::Crf);
    let pretrained = Pretrained::random(&config, &LoadOptions::default()).unwrap();
    let tokenizer = Tokenizer::from_vocab(VOCAB).unwrap();
    let other = Tagger::new(pretrained, tokenizer, other).unwrap();
    let err = tagging::init_from(&other, &dir.path().join("best"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("heads."),
        "{err}"
    );
}

/// A tiny random tagger written to a folder, so that runs can start from the same weights.
fn saved_tagger(dir: &std::path::Path) {
    let config = Config {
        vocab_size: VOCAB.len(),
        hidden_dropout_prob: 0.0,
        attention_probs_dropout_prob: 0.0,
        ..Config::tiny()
    };
    let pretrained = Pretrained::random(&config, &LoadOptions::default()).unwrap();
    let mut head = HeadSpec::entities(
        "entities",
        Scheme::Iob2,
        &["LOC", "MISC", "ORG", "PER"],
        DecoderKind::Softmax,
    );
    head.dropout = 0.0;
    let spec = TaggerConfig {
        heads: vec![head],
        window: WindowConfig {
            max_subwords: 16,
            overlap: 6,
        },
        casing: true,
        linker: None,
    };
    let tagger = Tagger::new(pretrained, Tokenizer::from_vocab(VOCAB).unwrap(), spec).unwrap();
    tagger.save(dir).unwrap();
}

/// The losses of `steps` training steps of the tagger saved in `start`, its encoder computing
/// in `compute`.
fn loss_curve(
    start: &std::path::Path,
    compute: Option<candle_core::DType>,
    steps: usize,
) -> (Vec<f64>, Tagger) {
    let mut tagger = Tagger::load(start, &LoadOptions::default()).unwrap();
    tagger.set_compute_dtype(compute);
    let docs = documents();
    let tasks = vec![TaskData {
        name: "entities".into(),
        kind: HeadKind::Entities,
        train: docs.clone(),
        dev: docs,
        cofenet: Vec::new(),
    }];
    let examples = tagging::training_examples(&tagger, &tasks).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrainConfig {
        output_dir: dir.path().to_path_buf(),
        max_steps: Some(steps),
        batch_size: 4,
        learning_rate: 3e-3,
        head_learning_rate: Some(3e-2),
        warmup_steps: Some(2),
        weight_decay: 0.0,
        dropout: 0.0,
        eval_every: 0,
        checkpoint_every: 0,
        seed: 3,
        tasks: vec![TaskConfig::new("entities", "memory")],
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(cfg, &tagger, examples).unwrap();
    let losses = (0..steps)
        .map(|_| trainer.train_step().unwrap().loss)
        .collect();
    drop(trainer);
    (losses, tagger)
}

#[test]
fn bf16_mixed_precision_follows_the_f32_loss_curve() {
    let start = tempfile::tempdir().unwrap();
    saved_tagger(start.path());
    let (f32_losses, _) = loss_curve(start.path(), None, 20);
    let (again, _) = loss_curve(start.path(), None, 20);
    assert_eq!(
        f32_losses, again,
        "runs from the same folder are deterministic"
    );
    let (bf16_losses, tagger) = loss_curve(start.path(), Some(candle_core::DType::BF16), 20);
    assert_eq!(tagger.compute_dtype(), candle_core::DType::BF16);
    for (step, (a, b)) in f32_losses.iter().zip(&bf16_losses).enumerate() {
        assert!(
            (a - b).abs() <= 0.02 * a.abs().max(0.1),
            "step {step}: bf16 loss {b}, f32 {a}\nf32 {f32_losses:?}\nbf16 {bf16_losses:?}"
        );
    }
    assert!(
        bf16_losses[19] < 0.5 * bf16_losses[0],
        "bf16 learns: {bf16_losses:?}"
    );
    // The trained weights (the master copy) stay f32.
    for (name, var, _) in tagger.trainable() {
        assert_eq!(var.dtype(), candle_core::DType::F32, "{name}");
    }
    println!("f32  {f32_losses:?}\nbf16 {bf16_losses:?}");
}
