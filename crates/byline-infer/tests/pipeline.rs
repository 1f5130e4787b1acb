//! The pipeline on a tiny random tagger whose entity head is forced to tag every word `B-PER`
//! (so every word's prediction shows up as one entity), built and saved here.

use byline_core::{Document, Span};
use byline_infer::{DocError, Pipeline, Tagged};
use byline_model::{LoadOptions, Tagger};

fn forced_tagger() -> Tagger {
    let tagger = byline_model::fixtures::forced_tagger().unwrap();
    // Through the model directory, as `byline tag` loads it.
    let dir = tempfile::tempdir().unwrap();
    tagger.save(dir.path()).unwrap();
    Tagger::load(dir.path(), &LoadOptions::default()).unwrap()
}

/// Every word is one `PER` entity exactly on the word.
fn assert_every_word_once(tagged: &Tagged) {
    let doc = &tagged.document;
    let spans: Vec<Span> = doc.entities.iter().map(|e| e.span).collect();
    assert_eq!(spans, doc.tokens, "{}", doc.id);
    assert!(doc.entities.iter().all(|e| e.label == "PER"));
    assert!(doc
        .entities
        .iter()
        .all(|e| e.score.is_some_and(|s| s > 0.99)));
}

#[test]
fn one_result_per_document_in_input_order_errors_kept() {
    let tagger = forced_tagger();
    let pipeline = Pipeline::new(&tagger).unwrap().with_chunks(2, 1 << 20);
    let texts = [
        "Merkel met the officials in Berlin.",
        "",
        "We will win, she said.",
        "x",
    ];
    let mut inputs: Vec<Result<Document, DocError>> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Ok(Document::new(format!("d{i}"), *t)))
        .collect();
    inputs.insert(1, Err(DocError::new("bad", "invalid UTF-8 at byte 3")));
    let results: Vec<_> = pipeline.tag(inputs).collect();
    let ids: Vec<&str> = results
        .iter()
        .map(|r| match r {
            Ok(t) => t.document.id.as_str(),
            Err(e) => e.id.as_str(),
        })
        .collect();
    assert_eq!(ids, ["d0", "bad", "d1", "d2", "d3"]);
    assert_eq!(
        results[1].as_ref().unwrap_err().message,
        "invalid UTF-8 at byte 3"
    );
    let empty = results[2].as_ref().unwrap();
    assert!(empty.document.entities.is_empty() && empty.document.attributions.is_empty());
    for i in [0, 3, 4] {
        let tagged = results[i].as_ref().unwrap();
        assert!(!tagged.document.tokens.is_empty());
        assert_every_word_once(tagged);
        assert_eq!(
            tagged.source_entities.len(),
            tagged.document.attributions.len()
        );
    }
}

#[test]
fn a_long_single_line_document_is_tagged_word_by_word() {
    let tagger = forced_tagger();
    let pipeline = Pipeline::new(&tagger).unwrap();
    let sentence = "Merkel met the officials in Berlin, \"we will win\" 🎉 ";
    let mut text = String::new();
    while text.len() < 200_000 {
        text.push_str(sentence);
    }
    text.push_str(&"x".repeat(10_000));
    let results: Vec<_> = pipeline
        .tag([Ok(Document::new("long", text.as_str()))])
        .collect();
    assert_eq!(results.len(), 1);
    let tagged = results[0].as_ref().unwrap();
    assert_eq!(tagged.document.text, text);
    assert!(tagged.document.tokens.len() > 30_000);
    assert_every_word_once(tagged);
}

#[test]
fn given_tokens_and_sentences_are_kept() {
    let tagger = forced_tagger();
    let pipeline = Pipeline::new(&tagger).unwrap();
    let mut doc = Document::new("pre", "New York is big");
    doc.tokens = vec![Span::new(0, 8), Span::new(9, 11), Span::new(12, 15)];
    doc.sentences = std::iter::once(0..3).collect();
    let tagged = pipeline.tag([Ok(doc)]).next().unwrap().unwrap();
    assert_eq!(tagged.document.tokens.len(), 3);
    assert_eq!(
        tagged.document.slice(tagged.document.entities[0].span),
        "New York"
    );
}

#[test]
fn the_pipeline_gives_what_the_tagger_annotates() {
    // One path from a document to its annotations: `byline tag` (this pipeline, chunked, on a
    // second thread) and training's dev figures (`Tagger::annotate`) give the same documents,
    // sentence cap and speaker links included.
    let tagger = forced_tagger();
    let long = "we will win , ".repeat(70); // one sentence of 280 words: cut at 200
    let texts = [
        "Merkel met the officials in Berlin. \"We will win,\" Merkel said.",
        "officials said Merkel met the officials, we said.",
        long.as_str(),
        "",
    ];
    let docs: Vec<Document> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Document::new(format!("d{i}"), *t))
        .collect();
    let pipeline = Pipeline::new(&tagger).unwrap().with_chunks(2, 1 << 20);
    let tagged: Vec<Tagged> = pipeline
        .tag(docs.iter().cloned().map(Ok))
        .map(Result::unwrap)
        .collect();
    let annotated = tagger.annotate(&docs, tagger.default_heads()).unwrap();
    assert_eq!(tagged, annotated);
    let cut = &annotated[2].document;
    assert_eq!(cut.tokens.len(), 280);
    assert!(
        cut.sentences.len() == 2
            && cut
                .sentences
                .iter()
                .all(|s| s.len() <= byline_core::tokenize::MAX_SENTENCE_WORDS),
        "{:?}",
        cut.sentences
    );
    // Entities are linked as sources where the attribution head found any.
    for a in &annotated {
        assert_eq!(a.source_entities.len(), a.document.attributions.len());
    }
}
