//! The tagger on a tiny random encoder with a hand-written WordPiece vocabulary (offline, fast):
//! windows, losses, prediction and the saved model directory.

use byline_core::consistency::relabel_consistently;
use byline_core::tokenize::tokenize_document;
use byline_core::{Document, Entity, Scheme, Span};
use byline_model::{
    Config, DecoderKind, HeadSpec, LoadOptions, Pretrained, Tagger, TaggerConfig, Tokenizer,
    WindowConfig,
};
use candle_core::{DType, Device, Tensor};

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
    ",",
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
    "\"",
    "we",
    "will",
    "win",
    "she",
];

fn tokenizer() -> Tokenizer {
    Tokenizer::from_vocab(VOCAB).expect("valid vocabulary")
}

fn config() -> Config {
    Config {
        vocab_size: VOCAB.len(),
        ..Config::tiny()
    }
}

fn spec(window: WindowConfig, heads: Vec<HeadSpec>) -> TaggerConfig {
    TaggerConfig {
        heads,
        window,
        casing: true,
        linker: None,
    }
}

fn entity_head(scheme: Scheme, decoder: DecoderKind) -> HeadSpec {
    HeadSpec::entities("entities", scheme, &["LOC", "MISC", "ORG", "PER"], decoder)
}

fn random_tagger(window: WindowConfig, heads: Vec<HeadSpec>) -> Tagger {
    let pretrained = Pretrained::random(&config(), &LoadOptions::default()).unwrap();
    Tagger::new(pretrained, tokenizer(), spec(window, heads)).unwrap()
}

/// A document with entities given as (text, label), found in order.
fn document(id: &str, text: &str, entities: &[(&str, &str)]) -> Document {
    let mut doc = Document::new(id, text);
    let mut from = 0;
    for &(needle, label) in entities {
        let start = from + text[from..].find(needle).expect("entity in text");
        from = start + needle.len();
        doc.entities.push(Entity {
            span: Span::new(start, from),
            label: label.into(),
            score: None,
        });
    }
    tokenize_document(&mut doc);
    doc
}

fn sentences() -> Document {
    document(
        "d1",
        "Merkel met the officials in Berlin. Elena Kowalski visited Portsmouth. \
         Northgate Engineering blamed Dutch steel. Merkel said: \"We will win.\"",
        &[
            ("Merkel", "PER"),
            ("Berlin", "LOC"),
            ("Elena Kowalski", "PER"),
            ("Portsmouth", "LOC"),
            ("Northgate Engineering", "ORG"),
            ("Dutch", "MISC"),
            ("Merkel", "PER"),
        ],
    )
}

/// Sets every trainable variable whose name ends with `suffix` to random values.
fn randomise(tagger: &Tagger, suffix: &str, scale: f64) {
    for (name, var, _) in tagger.trainable() {
        if name.ends_with(suffix) {
            let t = Tensor::randn(0f32, scale as f32, var.shape(), &Device::Cpu).unwrap();
            var.set(&t).unwrap();
        }
    }
}

/// Sets every trainable variable whose name contains `part` to zero.
fn zero(tagger: &Tagger, part: &str) {
    let mut found = 0;
    for (name, var, _) in tagger.trainable() {
        if name.contains(part) {
            var.set(&var.zeros_like().unwrap()).unwrap();
            found += 1;
        }
    }
    assert!(found > 0, "no variable named like {part}");
}

fn emissions(tagger: &Tagger, doc: &Document, head: usize) -> Vec<Vec<Vec<f32>>> {
    let (examples, _) = tagger.examples(head, std::slice::from_ref(doc)).unwrap();
    let refs: Vec<_> = examples.iter().collect();
    let batch = tagger.collate(head, &refs).unwrap();
    let hidden = tagger.encode(&batch.batch, false).unwrap();
    let words = batch.positions.gather(&hidden).unwrap();
    tagger.heads()[head]
        .forward(&words, false)
        .unwrap()
        .to_vec3()
        .unwrap()
}

#[test]
fn save_then_load_gives_identical_logits_and_predictions() {
    let window = WindowConfig {
        max_subwords: 12,
        overlap: 4,
    };
    let heads = vec![
        entity_head(Scheme::Iob2, DecoderKind::Crf),
        HeadSpec::attributions("attributions", Scheme::Bioes, DecoderKind::Softmax),
    ];
    let tagger = random_tagger(window, heads);
    randomise(&tagger, "crf.transitions", 1.0);
    randomise(&tagger, "casing_embeddings.weight", 0.5);
    let dir = tempfile::tempdir().unwrap();
    tagger.save(dir.path()).unwrap();
    let loaded = Tagger::load(dir.path(), &LoadOptions::default()).unwrap();
    assert_eq!(loaded.spec(), tagger.spec());

    let doc = sentences();
    for head in 0..2 {
        assert_eq!(
            emissions(&loaded, &doc, head),
            emissions(&tagger, &doc, head)
        );
    }
    for head in ["entities", "attributions"] {
        let a = tagger.predict(std::slice::from_ref(&doc), head).unwrap();
        let b = loaded.predict(std::slice::from_ref(&doc), head).unwrap();
        assert_eq!(a, b, "{head}");
    }

    // Hugging Face readers: labels of the entity head, its classifier under the HF name.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["id2label"]["0"], "O");
    assert_eq!(config["id2label"]["1"], "B-LOC");
    assert_eq!(config["label2id"]["I-PER"], 8);
    let weights =
        candle_core::safetensors::load(dir.path().join("model.safetensors"), &Device::Cpu).unwrap();
    for name in [
        "classifier.weight",
        "heads.entities.classifier.weight",
        "heads.entities.crf.transitions",
        "heads.attributions.classifier.bias",
        "embeddings.casing_embeddings.weight",
        "encoder.layer.1.output.dense.weight",
    ] {
        assert!(weights.contains_key(name), "{name}");
    }
    Tokenizer::from_file(dir.path().join("tokenizer.json")).unwrap();
}

#[test]
fn a_saved_model_missing_a_head_weight_is_an_error_naming_it() {
    let tagger = random_tagger(
        WindowConfig {
            max_subwords: 60,
            overlap: 16,
        },
        vec![entity_head(Scheme::Iob2, DecoderKind::Crf)],
    );
    let dir = tempfile::tempdir().unwrap();
    tagger.save(dir.path()).unwrap();
    let path = dir.path().join("model.safetensors");
    let mut weights = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    weights.remove("heads.entities.crf.end_transitions");
    candle_core::safetensors::save(&weights, &path).unwrap();
    let err = Tagger::load(dir.path(), &LoadOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("heads.entities.crf.end_transitions"),
        "{err}"
    );
}

#[test]
fn windows_that_do_not_fit_the_model_are_an_error() {
    let pretrained = Pretrained::random(&config(), &LoadOptions::default()).unwrap();
    let err = Tagger::new(
        pretrained,
        tokenizer(),
        spec(
            WindowConfig {
                max_subwords: 63,
                overlap: 0,
            },
            vec![entity_head(Scheme::Iob2, DecoderKind::Crf)],
        ),
    )
    .unwrap_err();
    assert!(err.to_string().contains("64 positions"), "{err}");
}

#[test]
fn a_long_document_is_predicted_word_by_word_as_a_whole_one() {
    // A constructed encoder whose output at a subword depends on that subword alone (no
    // position embeddings, attention adds nothing), and a head without transition rules (IO,
    // softmax): windows then must give exactly the tags of one window over the whole document.
    // The weights are random (unseeded): a draw whose tags are all one tag says little, so
    // draws are repeated until one varies; every draw must agree.
    let mut varied = false;
    for _ in 0..8 {
        let windowed = random_tagger(
            WindowConfig {
                max_subwords: 10,
                overlap: 4,
            },
            vec![entity_head(Scheme::Io, DecoderKind::Softmax)],
        );
        zero(&windowed, "position_embeddings");
        zero(&windowed, "attention.output.dense");
        randomise(&windowed, "heads.entities.classifier.weight", 3.0);
        let dir = tempfile::tempdir().unwrap();
        windowed.save(dir.path()).unwrap();
        let spec_path = dir.path().join("byline.json");
        let mut spec: TaggerConfig =
            serde_json::from_str(&std::fs::read_to_string(&spec_path).unwrap()).unwrap();
        spec.window = WindowConfig {
            max_subwords: 60,
            overlap: 0,
        };
        std::fs::write(&spec_path, serde_json::to_string(&spec).unwrap()).unwrap();
        let whole = Tagger::load(dir.path(), &LoadOptions::default()).unwrap();

        let doc = sentences();
        let words = doc.tokens.len();
        assert!(windowed.windows(&doc).unwrap().windows.len() >= 4);
        assert_eq!(whole.windows(&doc).unwrap().windows.len(), 1);
        let a = &windowed
            .predict(std::slice::from_ref(&doc), "entities")
            .unwrap()[0];
        let b = &whole
            .predict(std::slice::from_ref(&doc), "entities")
            .unwrap()[0];
        assert_eq!(a.tags.len(), words);
        assert_eq!(a.tags, b.tags);
        // Marginals come from forward-backward sums in f32 whose log-partition grows with the
        // sequence (here ≈ 10^2-10^3), so equal emissions give marginals equal to ~1e-4 only.
        for (x, y) in a.scores.iter().zip(&b.scores) {
            assert!((x - y).abs() < 1e-3, "{x} vs {y}");
        }
        if a.tags.iter().any(|&t| t != a.tags[0]) {
            varied = true;
            break;
        }
    }
    assert!(varied, "eight random draws all tagged every word alike");
}

#[test]
fn every_word_is_owned_by_exactly_one_window() {
    let tagger = random_tagger(
        WindowConfig {
            max_subwords: 8,
            overlap: 3,
        },
        vec![entity_head(Scheme::Iob2, DecoderKind::Crf)],
    );
    let doc = sentences();
    let input = tagger.windows(&doc).unwrap();
    assert_eq!(input.owner.len(), doc.tokens.len());
    for (w, &owner) in input.owner.iter().enumerate() {
        assert!(input.windows[owner].words.contains(&w), "word {w}");
    }
    for window in &input.windows {
        assert!(window.ids.len() <= 10);
        assert_eq!(window.ids[0], 2); // [CLS]
        assert_eq!(*window.ids.last().unwrap(), 3); // [SEP]
        assert_eq!(window.first.len(), window.words.len());
    }
    let pred = tagger
        .predict(&[doc.clone(), doc.clone()], "entities")
        .unwrap();
    assert_eq!(pred[0], pred[1]);
    assert_eq!(pred[0].tags.len(), doc.tokens.len());
}

/// A document's emissions as training computes them: one example per window, each window's
/// `(words, tags)` rows.
fn window_emissions(tagger: &Tagger, doc: &Document, head: usize) -> Vec<Vec<Vec<f32>>> {
    let input = tagger.windows(doc).unwrap();
    let mut rows = emissions(tagger, doc, head);
    for (r, w) in rows.iter_mut().zip(&input.windows) {
        r.truncate(w.words.len());
    }
    rows
}

/// Tags of each word from its owner window's own decoding: how prediction stitched windows
/// before documents were decoded whole.
fn stitched_tags(tagger: &Tagger, doc: &Document, head: usize) -> Vec<usize> {
    let input = tagger.windows(doc).unwrap();
    let chain = tagger.heads()[head].chain().unwrap();
    let decoded: Vec<Vec<usize>> = window_emissions(tagger, doc, head)
        .iter()
        .map(|rows| chain.decode(&rows.concat()).tags)
        .collect();
    (0..doc.tokens.len())
        .map(|word| {
            let w = input.owner[word];
            decoded[w][word - input.windows[w].words.start]
        })
        .collect()
}

#[test]
fn a_document_is_decoded_whole_from_its_emissions_averaged_over_windows() {
    // Reference: every window's emissions computed alone, averaged per word over the windows
    // that hold it, and one Viterbi path (and one forward-backward) over the whole document.
    // Unseeded random heads and transitions: a draw where that equals stitching each window's
    // own decoding says little, so draws go on until one differs; every draw must match.
    let window = WindowConfig {
        max_subwords: 8,
        overlap: 3,
    };
    let doc = sentences();
    let mut differs = false;
    for _ in 0..8 {
        let tagger = random_tagger(window, vec![entity_head(Scheme::Iob2, DecoderKind::Crf)]);
        randomise(&tagger, "classifier.weight", 3.0);
        randomise(&tagger, "crf.transitions", 1.0);
        let input = tagger.windows(&doc).unwrap();
        assert!(input.windows.len() >= 4);
        let tags = tagger.heads()[0].tag_set().len();
        let words = doc.tokens.len();
        let mut sum = vec![0f32; words * tags];
        let mut count = vec![0f32; words];
        for (rows, w) in window_emissions(&tagger, &doc, 0)
            .iter()
            .zip(&input.windows)
        {
            for (row, word) in rows.iter().zip(w.words.clone()) {
                for (s, e) in sum[word * tags..(word + 1) * tags].iter_mut().zip(row) {
                    *s += e;
                }
                count[word] += 1.0;
            }
        }
        let mean: Vec<f32> = sum
            .iter()
            .enumerate()
            .map(|(i, s)| s / count[i / tags])
            .collect();
        let expect = tagger.heads()[0].chain().unwrap().decode(&mean);
        let pred = &tagger
            .predict(std::slice::from_ref(&doc), "entities")
            .unwrap()[0];
        assert_eq!(pred.tags, expect.tags);
        for (x, y) in pred.scores.iter().zip(&expect.scores) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
        if stitched_tags(&tagger, &doc, 0) != expect.tags {
            differs = true;
            break;
        }
    }
    assert!(
        differs,
        "in eight draws the windows' own decodings agreed with the whole"
    );
}

#[test]
fn the_linker_reads_the_vectors_of_the_documents_spans_where_windows_disagreed() {
    use byline_core::align::word_spans;
    use byline_model::{Linker, LinkerConfig};

    // The vectors the linker reads are picked while windows are encoded, by each window's own
    // tags; the document's tags can put a span end elsewhere, and its vector is then fetched
    // from the window that owns the word. Draws go on until the windows' tags disagree with
    // the document's; every draw must give every span end its owner window's vector.
    let window = WindowConfig {
        max_subwords: 8,
        overlap: 3,
    };
    let head = HeadSpec::attributions("attributions", Scheme::Iob2, DecoderKind::Crf);
    let doc = sentences();
    let mut differs = false;
    for _ in 0..16 {
        let mut tagger = random_tagger(window, vec![head.clone()]);
        randomise(&tagger, "classifier.weight", 3.0);
        let config = LinkerConfig {
            head: "attributions".into(),
            width: 8,
            proposals: 0,
        };
        let linker = Linker::new(config, tagger.config().hidden_size, &Device::Cpu).unwrap();
        tagger.set_linker(Some(linker)).unwrap();
        let pred = &tagger
            .predict(std::slice::from_ref(&doc), "attributions")
            .unwrap()[0];
        let input = tagger.windows(&doc).unwrap();
        let (_, all) = tagger.predict_with_word_vectors(&[&input], &[]).unwrap();
        let set = tagger.heads()[0].tag_set();
        let as_tags = |t: &[usize]| t.iter().map(|&i| set.tag(i).unwrap()).collect::<Vec<_>>();
        let spans = word_spans(&doc, &as_tags(&pred.tags), None, set).unwrap();
        for s in &spans {
            for w in [s.words.start, s.words.end - 1] {
                let got = pred.vectors.get(w).expect("a span end's vector");
                let want = all[0].get(w).unwrap();
                for (x, y) in got.iter().zip(want) {
                    assert!((x - y).abs() < 1e-4, "word {w}: {x} vs {y}");
                }
            }
        }
        let stitched = word_spans(&doc, &as_tags(&stitched_tags(&tagger, &doc, 0)), None, set);
        if !spans.is_empty() && stitched.unwrap() != spans {
            differs = true;
            break;
        }
    }
    assert!(
        differs,
        "in sixteen draws the windows' tags agreed with the document's"
    );
}

#[test]
fn padding_and_non_first_subwords_do_not_change_the_loss() {
    let tagger = random_tagger(
        WindowConfig {
            max_subwords: 60,
            overlap: 0,
        },
        vec![entity_head(Scheme::Iob2, DecoderKind::Crf)],
    );
    randomise(&tagger, "crf.transitions", 1.0);
    let short = document(
        "a",
        "Merkel met Elena Kowalski.",
        &[("Merkel", "PER"), ("Elena Kowalski", "PER")],
    );
    let long = sentences();
    let (a, _) = tagger.examples(0, &[short]).unwrap();
    let (b, _) = tagger.examples(0, &[long]).unwrap();
    let (a, b) = (&a[0], &b[0]);
    assert!(a.ids.len() < b.ids.len());
    let loss = |examples: &[&byline_model::TagExample]| -> f64 {
        let batch = tagger.collate(0, examples).unwrap();
        tagger
            .loss(&batch, false)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let (la, lb, lab) = (loss(&[a]), loss(&[b]), loss(&[a, b]));
    let (na, nb) = (a.gold.len() as f64, b.gold.len() as f64);
    let expected = (la * na + lb * nb) / (na + nb);
    assert!(
        (lab - expected).abs() < 1e-4 * expected.abs().max(1.0),
        "{lab} vs {expected}"
    );

    // Changing the encoder output anywhere but at first subwords leaves the loss alone.
    let batch = tagger.collate(0, &[a, b]).unwrap();
    let hidden = tagger.encode(&batch.batch, false).unwrap();
    let (n, seq, dim) = hidden.dims3().unwrap();
    let mut keep = vec![1f32; n * seq * dim];
    for (row, e) in [a, b].iter().enumerate() {
        for p in e.first.iter().flatten() {
            keep[(row * seq + p) * dim..(row * seq + p + 1) * dim].fill(0.0);
        }
    }
    let keep = Tensor::from_vec(keep, (n, seq, dim), &Device::Cpu).unwrap();
    let noise = Tensor::randn(0f32, 5.0, (n, seq, dim), &Device::Cpu).unwrap();
    let noisy = (&hidden + (noise * keep).unwrap()).unwrap();
    let value = |h: &Tensor| -> f32 {
        tagger
            .head_loss(0, h, &batch.positions, &batch.gold, false)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    assert_eq!(value(&hidden), value(&noisy));
    assert!(a.first.len() < a.ids.len() - 2, "Merkel has two subwords");
}

#[test]
fn a_linker_reads_the_ends_of_every_span_and_is_saved_with_the_model() {
    use byline_core::align::roles_from_tags;
    use byline_core::assemble::assemble_with;
    use byline_model::{Linker, LinkerConfig};

    let window = WindowConfig {
        max_subwords: 8,
        overlap: 3,
    };
    let head = HeadSpec::attributions("attributions", Scheme::Iob2, DecoderKind::Crf);
    let mut tagger = random_tagger(window, vec![head.clone()]);
    let doc = sentences();
    // Random heads until one tags at least three spans (an unseeded draw can tag everything
    // as one span; candle's CPU generator cannot be seeded).
    let mut plain = Vec::new();
    for _ in 0..32 {
        tagger = random_tagger(window, vec![head.clone()]);
        randomise(&tagger, "classifier.weight", 3.0);
        plain = tagger
            .predict(std::slice::from_ref(&doc), "attributions")
            .unwrap();
        // Spans as decoding keeps them (a content without a letter or digit is dropped).
        let set = tagger.heads()[0].tag_set();
        let tags: Vec<_> = plain[0].tags.iter().map(|&t| set.tag(t).unwrap()).collect();
        let roles = roles_from_tags(&doc, &tags, None, set).unwrap();
        if roles.sources.len() + roles.cues.len() + roles.contents.len() >= 3 {
            break;
        }
    }
    assert!(plain[0].vectors.is_empty(), "no linker, no vectors");

    let config = LinkerConfig {
        head: "attributions".into(),
        width: 8,
        proposals: 0,
    };
    let linker = Linker::new(config, tagger.config().hidden_size, &Device::Cpu).unwrap();
    tagger.set_linker(Some(linker.clone())).unwrap();
    let pred = tagger
        .predict(std::slice::from_ref(&doc), "attributions")
        .unwrap();
    assert_eq!(pred[0].tags, plain[0].tags);
    let tag_set = tagger.heads()[0].tag_set().clone();
    let tags: Vec<_> = pred[0]
        .tags
        .iter()
        .map(|&t| tag_set.tag(t).unwrap())
        .collect();
    let roles = roles_from_tags(&doc, &tags, None, &tag_set).unwrap();
    let spans: Vec<_> = roles
        .sources
        .iter()
        .chain(&roles.cues)
        .chain(&roles.contents)
        .collect();
    assert!(
        spans.len() >= 3,
        "the random head tags some spans: {tags:?}"
    );
    for s in &spans {
        for w in [s.words.start, s.words.end - 1] {
            assert!(
                pred[0].vectors.get(w).is_some(),
                "word {w} of {:?}",
                s.words
            );
        }
    }
    // The tagger assembles with the linker's scores.
    let expect = assemble_with(&doc, &roles, |p| linker.score(p, &roles, &pred[0].vectors));
    assert_eq!(tagger.attributions(&doc, &pred[0], 0).unwrap(), expect);

    let dir = tempfile::tempdir().unwrap();
    tagger.save(dir.path()).unwrap();
    assert!(dir.path().join("linker.safetensors").is_file());
    let spec = std::fs::read_to_string(dir.path().join("byline.json")).unwrap();
    assert!(spec.contains("\"linker\""), "{spec}");
    let loaded = Tagger::load(dir.path(), &LoadOptions::default()).unwrap();
    assert!(loaded.linker().is_some());
    let again = loaded
        .predict(std::slice::from_ref(&doc), "attributions")
        .unwrap();
    assert_eq!(loaded.attributions(&doc, &again[0], 0).unwrap(), expect);

    // A proposing linker: the tagger keeps every word near a tagged span in its window (more
    // than the span ends) and assembles with proposed spans among the candidates.
    let proposing = Linker::new(
        LinkerConfig {
            head: "attributions".into(),
            width: 8,
            proposals: 3,
        },
        tagger.config().hidden_size,
        &Device::Cpu,
    )
    .unwrap();
    tagger.set_linker(Some(proposing.clone())).unwrap();
    let pred = tagger
        .predict(std::slice::from_ref(&doc), "attributions")
        .unwrap();
    assert_eq!(pred[0].tags, plain[0].tags);
    let ends: std::collections::HashSet<usize> = spans
        .iter()
        .flat_map(|s| [s.words.start, s.words.end - 1])
        .collect();
    // Every word of a tagged span is kept (not only its ends), and what the random tags leave
    // near them.
    let tagged_words: std::collections::HashSet<usize> =
        spans.iter().flat_map(|s| s.words.clone()).collect();
    assert!(tagged_words
        .iter()
        .all(|&w| pred[0].vectors.get(w).is_some()));
    let available = |w: usize| pred[0].vectors.get(w).is_some();
    let proposals = byline_core::assemble::Proposals {
        max_words: 3,
        available: &available,
    };
    let problem = byline_core::assemble::link_problem_proposing(&doc, &roles, &proposals);
    // (Whether any span is proposed depends on the random tags; core's tests cover which.)
    for p in &problem.proposed {
        assert!(available(p.words.start) && available(p.words.end - 1));
    }
    let expect = byline_core::assemble::assemble_proposing(&doc, &roles, &proposals, |p| {
        proposing.score(p, &roles, &pred[0].vectors)
    });
    assert_eq!(tagger.attributions(&doc, &pred[0], 0).unwrap(), expect);
    let dir = tempfile::tempdir().unwrap();
    tagger.save(dir.path()).unwrap();
    let loaded = Tagger::load(dir.path(), &LoadOptions::default()).unwrap();
    assert_eq!(loaded.linker().unwrap().config().proposals, 3);
    // A document longer than the proposal limit keeps span ends only, and gets no proposals.
    let mut limited = loaded.clone();
    limited.set_max_proposal_words(doc.tokens.len() - 1);
    let short = limited
        .predict(std::slice::from_ref(&doc), "attributions")
        .unwrap();
    let kept: std::collections::HashSet<usize> = (0..doc.tokens.len())
        .filter(|&w| short[0].vectors.get(w).is_some())
        .collect();
    assert!(ends.is_subset(&kept), "every span end is kept");
    // Nothing else but the word after each decoded span's first and last word (a dash after
    // a quote may become its cue). Decoded spans, not roles: a content without a letter or
    // digit is kept by the tagger but dropped from the roles.
    let decoded = byline_core::align::word_spans(&doc, &tags, None, &tag_set).unwrap();
    let allowed: std::collections::HashSet<usize> = decoded
        .iter()
        .flat_map(|s| s.words.clone().chain([s.words.start + 1, s.words.end]))
        .collect();
    assert!(
        kept.is_subset(&allowed),
        "and nothing outside the spans and the words after their ends: {kept:?}"
    );
    let expect_rules_candidates = assemble_with(&doc, &roles, |p| {
        assert!(p.proposed.is_empty());
        proposing.score(p, &roles, &short[0].vectors)
    });
    assert_eq!(
        limited.attributions(&doc, &short[0], 0).unwrap(),
        expect_rules_candidates
    );
    let again = loaded
        .predict(std::slice::from_ref(&doc), "attributions")
        .unwrap();
    assert_eq!(loaded.attributions(&doc, &again[0], 0).unwrap(), expect);

    // A linker must sit on an attribution head.
    let mut entities = random_tagger(window, vec![entity_head(Scheme::Iob2, DecoderKind::Crf)]);
    let wrong = Linker::new(
        LinkerConfig {
            head: "entities".into(),
            width: 8,
            proposals: 0,
        },
        entities.config().hidden_size,
        &Device::Cpu,
    )
    .unwrap();
    assert!(entities.set_linker(Some(wrong)).is_err());
}

#[test]
fn a_decode_bias_shifts_predictions_and_is_saved_with_the_model() {
    let window = WindowConfig {
        max_subwords: 16,
        overlap: 4,
    };
    let mut tagger = random_tagger(window, vec![entity_head(Scheme::Iob2, DecoderKind::Crf)]);
    let doc = sentences();
    let per = |t: &Tagger| -> usize {
        let pred = t.predict(std::slice::from_ref(&doc), "entities").unwrap();
        let set = t.heads()[0].tag_set();
        let per = set.labels().id("PER").unwrap();
        pred[0]
            .tags
            .iter()
            .filter(|&&i| set.tag(i).and_then(|t| t.label()) == Some(per))
            .count()
    };
    let words = doc.tokens.len();
    let bias = |v: f32| std::collections::BTreeMap::from([("PER".to_string(), v)]);
    tagger.set_decode_bias("entities", bias(1e4)).unwrap();
    assert_eq!(per(&tagger), words, "a huge bias: every word PER");
    tagger.set_decode_bias("entities", bias(-1e4)).unwrap();
    assert_eq!(per(&tagger), 0, "a huge negative bias: no word PER");

    tagger.set_decode_bias("entities", bias(1e4)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    tagger.save(dir.path()).unwrap();
    let loaded = Tagger::load(dir.path(), &LoadOptions::default()).unwrap();
    assert_eq!(per(&loaded), words);
    assert_eq!(per(&loaded.detached().unwrap()), words);

    let err = tagger
        .set_decode_bias(
            "entities",
            std::collections::BTreeMap::from([("NOPE".to_string(), 1.0)]),
        )
        .unwrap_err();
    assert!(err.to_string().contains("NOPE"), "{err}");
    assert!(tagger.set_decode_bias("entities", bias(f32::NAN)).is_err());
}

#[test]
fn entity_labels_are_made_consistent_and_the_threshold_is_saved_with_the_model() {
    let window = WindowConfig {
        max_subwords: 16,
        overlap: 4,
    };
    let mut tagger = random_tagger(window, vec![entity_head(Scheme::Iob2, DecoderKind::Crf)]);
    let heads = tagger.default_heads();
    let doc = document(
        "d",
        "Merkel met Merkel in Berlin. Berlin met Merkel. Kowalski visited Elena Kowalski. \
         Merkel visited Berlin, Kowalski said.",
        &[],
    );
    let annotate = |t: &Tagger| t.annotate(std::slice::from_ref(&doc), heads).unwrap()[0].clone();
    // Random heads until one name gets two labels and the rule changes one: the decoded
    // entities must then be the raw ones relabelled by the rule.
    let mut changed = false;
    for _ in 0..100 {
        randomise(&tagger, "classifier.weight", 3.0);
        tagger.set_relabel_below("entities", 0.0).unwrap();
        let raw = annotate(&tagger).document;
        tagger.set_relabel_below("entities", 0.9).unwrap();
        let relabelled = annotate(&tagger).document;
        let mut expected = raw.entities.clone();
        relabel_consistently(&raw, &mut expected, 0.9);
        assert_eq!(relabelled.entities, expected);
        if expected != raw.entities {
            changed = true;
            break;
        }
    }
    assert!(changed, "no random head gave one name two labels");

    // Saved only when not the default, and read back.
    let dir = tempfile::tempdir().unwrap();
    tagger.save(dir.path()).unwrap();
    let json = std::fs::read_to_string(dir.path().join("byline.json")).unwrap();
    assert!(!json.contains("relabel_below"), "{json}");
    tagger.set_relabel_below("entities", 0.5).unwrap();
    tagger.save(dir.path()).unwrap();
    let loaded = Tagger::load(dir.path(), &LoadOptions::default()).unwrap();
    assert_eq!(loaded.spec().heads[0].relabel_below, 0.5);
    assert_eq!(annotate(&loaded), annotate(&tagger));

    // Out of range, or on a head that tags no entities: an error naming the head.
    let err = tagger.set_relabel_below("entities", 1.5).unwrap_err();
    assert!(err.to_string().contains("entities"), "{err}");
    let mut quotes = random_tagger(
        window,
        vec![HeadSpec::attributions(
            "attributions",
            Scheme::Iob2,
            DecoderKind::Crf,
        )],
    );
    assert!(quotes.set_relabel_below("attributions", 0.5).is_err());
    // A byline.json with a threshold out of range does not load.
    let bad = json.replacen(
        "\"decoder\"",
        "\"relabel_below\": 2.0,\n      \"decoder\"",
        1,
    );
    std::fs::write(dir.path().join("byline.json"), bad).unwrap();
    let err = Tagger::load(dir.path(), &LoadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("relabel_below"), "{err}");
}
