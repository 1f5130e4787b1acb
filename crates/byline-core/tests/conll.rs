//! CoNLL reader and writer: offsets, variants, errors, round trips, and the real CoNLL-2003 files.

use std::collections::BTreeMap;
use std::path::PathBuf;

use byline_core::conll::{entity_spans, ConllReader, ConllWriter, LabelledSpan};
use byline_core::{Document, LabelSet, Scheme, Span};
use proptest::prelude::*;

fn read(data: &str) -> Vec<Document> {
    ConllReader::new()
        .read_bytes(data.as_bytes(), "dev.txt")
        .unwrap()
        .documents
}

/// `(text, label)` of every entity, in order.
fn entities(doc: &Document) -> Vec<(&str, &str)> {
    doc.entities
        .iter()
        .map(|e| (doc.slice(e.span), e.label.as_str()))
        .collect()
}

const CONLL2003: &str = "\
-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

José NNP I-NP I-PER
Müller NNP I-NP I-PER
in IN I-PP O
Zürich NNP I-NP I-LOC
Basel NNP I-NP B-LOC

-DOCSTART- -X- O O

Peter NNP I-NP I-PER
";

#[test]
fn reads_conll2003_with_offsets() {
    let corpus = ConllReader::new()
        .read_bytes(CONLL2003.as_bytes(), "data/train.txt")
        .unwrap();
    let docs = &corpus.documents;
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].id, "train-1");
    assert_eq!(docs[1].id, "train-2");
    let doc = &docs[0];
    assert_eq!(
        doc.text,
        "EU rejects German call .\nJosé Müller in Zürich Basel"
    );
    assert_eq!(doc.sentences, vec![0..5, 5..10]);
    assert_eq!(doc.tokens.len(), 10);
    assert_eq!(doc.slice(doc.tokens[6]), "Müller");
    assert_eq!(doc.slice(doc.tokens[8]), "Zürich");
    assert_eq!(
        entities(doc),
        [
            ("EU", "ORG"),
            ("German", "MISC"),
            ("José Müller", "PER"),
            ("Zürich", "LOC"),
            ("Basel", "LOC"),
        ]
    );
    let e = &doc.entities[2];
    assert_eq!(&doc.text[e.span.start..e.span.end], "José Müller");
    assert_eq!(e.span, Span::new(25, 38));
    assert_eq!(entities(&docs[1]), [("Peter", "PER")]);
    assert_eq!(
        corpus.labels,
        LabelSet::from_names(["ORG", "MISC", "PER", "LOC"])
    );
}

#[test]
fn reads_the_common_variants() {
    // (input, expected text, expected entities) per line.
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: &[Case] = &[
        ("Paris B-LOC\nis O\n", "Paris is", &[("Paris", "LOC")]),
        (
            "New\tB-LOC\nYork\tI-LOC\n",
            "New York",
            &[("New York", "LOC")],
        ),
        (
            "New York\tNNP\tB-LOC\nrocks\tVBZ\tO\n",
            "New York rocks",
            &[("New York", "LOC")],
        ),
        (
            "A B-PER\nB B-PER\n\nC S-ORG\nD B-ORG\nE E-ORG\n",
            "A B\nC D E",
            &[("A", "PER"), ("B", "PER"), ("C", "ORG"), ("D E", "ORG")],
        ),
        ("a O\r\nb I-X\r\n\r\n", "a b", &[("b", "X")]),
        ("\n\n  \nx   I-X  \n\n\n", "x", &[("x", "X")]),
        (
            "Tōkyō I-LOC\n東京 I-LOC\n",
            "Tōkyō 東京",
            &[("Tōkyō 東京", "LOC")],
        ),
        ("a\u{a0}b O\n", "a\u{a0}b", &[]),
        ("x O\n-DOCSTART-\ny I-X\n", "x", &[("y", "X")]),
    ];
    for (input, text, want) in cases {
        let docs = read(input);
        assert_eq!(docs[0].text, *text, "{input:?}");
        let got: Vec<(&str, &str)> = docs.iter().flat_map(entities).collect();
        assert_eq!(got, *want, "{input:?}");
        for doc in &docs {
            for t in &doc.tokens {
                assert!(t
                    .slice(&doc.text)
                    .is_some_and(|s| !s.is_empty() && !s.contains('\n')));
            }
        }
    }
}

#[test]
fn without_docstart_the_file_is_one_document() {
    let docs = read("a O\n\nb O\n\nc O\n");
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].id, "dev-1");
    assert_eq!(docs[0].sentences, vec![0..1, 1..2, 2..3]);
}

#[test]
fn bad_input_is_a_clear_error() {
    let per = || LabelSet::from_names(["PER"]);
    let cases: &[(ConllReader, &[u8], &str)] = &[
        (ConllReader::new(), b"EU NNP I-NP I-ORG\nrejects VBZ I-VP\n", "dev.txt:2: expected 4 columns, found 3"),
        (ConllReader::new(), b"a O\n\nb NN O\n", "dev.txt:3: expected 2 columns, found 3"),
        (ConllReader::new(), b"-DOCSTART-\n\nonly\n", "dev.txt:3: expected at least 2 columns (token and tag), found 1"),
        (ConllReader::new(), b"a\tNN\tO\n\tNN\tO\n", "dev.txt:2: empty token"),
        (ConllReader::new(), b"a X-PER\n", "dev.txt:1: malformed tag `X-PER`: expected `O` or one of `B-`, `I-`, `E-`, `S-` followed by a type"),
        (ConllReader::new(), b"a O\nb B-\n", "dev.txt:2: malformed tag `B-`: expected `O` or one of `B-`, `I-`, `E-`, `S-` followed by a type"),
        (ConllReader::new(), b"a o\n", "dev.txt:1: malformed tag `o`: expected `O` or one of `B-`, `I-`, `E-`, `S-` followed by a type"),
        (ConllReader::new().labels(per()), b"a B-PER\nb I-LOC\n", "dev.txt:2: entity type `LOC` of tag `I-LOC` is not in the label set"),
        (ConllReader::new().scheme(Scheme::Iob2), b"a B-PER\nb E-PER\n", "dev.txt:2: tag `E-PER` is not part of the iob2 scheme"),
        (ConllReader::new().scheme(Scheme::Io), b"a B-PER\n", "dev.txt:1: tag `B-PER` is not part of the io scheme"),
        (ConllReader::new(), b"a O\n\xffb O\n", "dev.txt:2: invalid UTF-8 at byte 4"),
        (ConllReader::new(), b"a O\nZ\xc3\xbcri\xc3 O\n", "dev.txt:2: invalid UTF-8 at byte 9"),
        (ConllReader::new(), b"", "dev.txt: file is empty"),
        (ConllReader::new(), b"\n\n-DOCSTART- -X- O O\n\n", "dev.txt: file is empty"),
    ];
    for (reader, input, want) in cases {
        let err = reader.read_bytes(input, "dev.txt").unwrap_err();
        assert_eq!(
            err.to_string(),
            *want,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn missing_file_names_the_path() {
    let err = ConllReader::new()
        .read_path("/nonexistent/x.conll")
        .unwrap_err();
    assert!(
        err.to_string().starts_with("/nonexistent/x.conll: "),
        "{err}"
    );
}

#[test]
fn given_labels_keep_their_order() {
    let labels = LabelSet::from_names(["PER", "LOC", "ORG"]);
    let corpus = ConllReader::new()
        .labels(labels.clone())
        .read_bytes(b"a I-ORG\nb I-PER\n", "x")
        .unwrap();
    assert_eq!(corpus.labels, labels);
    assert_eq!(corpus.documents[0].id, "x-1");
}

fn write(writer: &ConllWriter, docs: &[Document]) -> String {
    let mut out = Vec::new();
    writer.write_entities(&mut out, docs).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn writes_every_scheme() {
    let docs = read("A I-PER\nB B-PER\nC I-PER\nD O\nE I-LOC\n");
    let cases = [
        (Scheme::Iob2, "A B-PER\nB B-PER\nC I-PER\nD O\nE B-LOC\n\n"),
        (Scheme::Iob1, "A I-PER\nB B-PER\nC I-PER\nD O\nE I-LOC\n\n"),
        (Scheme::Bioes, "A S-PER\nB B-PER\nC E-PER\nD O\nE S-LOC\n\n"),
        (Scheme::Io, "A I-PER\nB I-PER\nC I-PER\nD O\nE I-LOC\n\n"),
    ];
    for (scheme, want) in cases {
        assert_eq!(
            write(&ConllWriter::new().scheme(scheme), &docs),
            want,
            "{scheme}"
        );
    }
}

#[test]
fn round_trip_keeps_text_tokens_and_entities() {
    let docs = read(CONLL2003);
    let out = write(&ConllWriter::new().docstart(true), &docs);
    assert!(
        out.starts_with("-DOCSTART- -X- O O\n\nEU B-ORG\nrejects O\n"),
        "{out}"
    );
    let again = read(&out);
    assert_eq!(again, docs);
}

#[test]
fn writes_any_labelled_spans() {
    let text = "He said , \"it works\" .";
    let mut doc = Document::new("d", text);
    // Tokens by hand: He said , "it works" .
    let mut at = 0;
    for word in text.split(' ') {
        doc.tokens.push(Span::new(at, at + word.len()));
        at += word.len() + 1;
    }
    let spans = [
        LabelledSpan {
            span: Span::new(10, 20),
            label: "CONTENT",
        },
        LabelledSpan {
            span: Span::new(3, 7),
            label: "CUE",
        },
        LabelledSpan {
            span: Span::new(0, 2),
            label: "SOURCE",
        },
        // Overlaps CONTENT: dropped. Covers part of a token: still that token.
        LabelledSpan {
            span: Span::new(12, 13),
            label: "X",
        },
        LabelledSpan {
            span: Span::new(5, 5),
            label: "EMPTY",
        },
    ];
    let mut out = Vec::new();
    let stats = ConllWriter::new()
        .scheme(Scheme::Bioes)
        .write_document(&mut out, &doc, &spans)
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "He S-SOURCE\nsaid S-CUE\n, O\n\"it B-CONTENT\nworks\" E-CONTENT\n. O\n\n"
    );
    assert_eq!(
        (stats.sentences, stats.tokens, stats.spans, stats.dropped),
        (1, 6, 3, 2)
    );

    // Partial overlap: the token belongs to the span.
    let spans = [LabelledSpan {
        span: Span::new(4, 13),
        label: "Q",
    }];
    let mut out = Vec::new();
    ConllWriter::new()
        .write_document(&mut out, &doc, &spans)
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "He O\nsaid B-Q\n, I-Q\n\"it I-Q\nworks\" O\n. O\n\n"
    );
}

#[test]
fn spans_across_sentences_split() {
    let mut doc = read("a O\nb O\n\nc O\nd O\n").remove(0);
    doc.entities.clear();
    let spans = [LabelledSpan {
        span: Span::new(2, 5),
        label: "X",
    }];
    let mut out = Vec::new();
    ConllWriter::new()
        .write_document(&mut out, &doc, &spans)
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "a O\nb B-X\n\nc B-X\nd O\n\n"
    );
}

#[test]
fn writer_rejects_documents_it_cannot_write() {
    let no_tokens = Document::new("doc-7", "text");
    let err = ConllWriter::new()
        .write_entities(Vec::new(), &[no_tokens])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "document `doc-7`: has no tokens; tokenize it before writing CoNLL"
    );

    let mut bad = Document::new("b", "Zürich");
    bad.tokens.push(Span::new(0, 2));
    let err = ConllWriter::new()
        .write_entities(Vec::new(), &[bad])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "document `b`: token 0 (0..2) is not in the text"
    );

    let doc = read("a O\n").remove(0);
    let spans = [LabelledSpan {
        span: Span::new(0, 1),
        label: "two words",
    }];
    let err = ConllWriter::new()
        .write_document(&mut Vec::new(), &doc, &spans)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "document `dev-1`: label `two words` contains whitespace"
    );
    assert_eq!(entity_spans(&doc), []);
}

fn line_shaped() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        "O",
        "B-PER",
        "I-PER",
        "E-LOC",
        "S-LOC",
        "I-",
        "B",
        "-DOCSTART-",
        "-X-",
        "Zürich",
        "x",
        "\t",
        " ",
        "\r",
        "\u{a0}",
        "B-my-type",
    ]);
    let line = prop::collection::vec(word, 0..5).prop_map(|w| w.join(" "));
    prop::collection::vec(line, 0..30).prop_map(|l| l.join("\n"))
}

/// Two-column files that always read: blank lines, document markers and token lines.
fn well_formed() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec!["Zürich", "x", "José", "a\u{a0}b", "東京", "-X-"]);
    let tag = prop::sample::select(vec![
        "O",
        "B-PER",
        "I-PER",
        "E-LOC",
        "S-LOC",
        "I-LOC",
        "B-my-type",
    ]);
    let line = prop_oneof![
        6 => (token, tag).prop_map(|(w, t)| format!("{w} {t}")),
        2 => Just(String::new()),
        1 => Just("-DOCSTART- -X- O O".to_owned()),
    ];
    (prop::collection::vec(line, 0..40), "[a-z]{1,3}")
        .prop_map(|(lines, first)| format!("{first} O\n{}", lines.join("\n")))
}

/// Every span of a successful read is a valid slice of its document.
fn check_documents(docs: &[Document]) {
    for doc in docs {
        assert!(!doc.tokens.is_empty());
        for t in &doc.tokens {
            assert!(t.slice(&doc.text).is_some_and(|s| !s.is_empty()));
        }
        for e in &doc.entities {
            assert!(e.span.slice(&doc.text).is_some());
        }
        let covered: usize = doc.sentences.iter().map(|s| s.len()).sum();
        assert_eq!(covered, doc.tokens.len());
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(corpus) = ConllReader::new().read_bytes(&bytes, "fuzz") {
            check_documents(&corpus.documents);
        }
    }

    #[test]
    fn well_formed_files_round_trip(text in well_formed()) {
        let corpus = ConllReader::new().read_bytes(text.as_bytes(), "gen.conll").unwrap();
        check_documents(&corpus.documents);
        for scheme in [Scheme::Iob1, Scheme::Iob2, Scheme::Bioes] {
            let out = write(&ConllWriter::new().docstart(true).scheme(scheme), &corpus.documents);
            let again = ConllReader::new().scheme(scheme).read_bytes(out.as_bytes(), "gen.conll").unwrap();
            prop_assert_eq!(&again.documents, &corpus.documents);
        }
    }

    #[test]
    fn random_lines_never_panic(text in line_shaped()) {
        for reader in [ConllReader::new(), ConllReader::new().scheme(Scheme::Bioes)] {
            if let Ok(corpus) = reader.read_bytes(text.as_bytes(), "fuzz") {
                check_documents(&corpus.documents);
                // And what was read writes and reads back to the same entities.
                let out = write(&ConllWriter::new().docstart(true), &corpus.documents);
                let again = ConllReader::new().read_bytes(out.as_bytes(), "fuzz").unwrap();
                // Each entity as its tokens' words: a token keeps its text, except that ASCII
                // whitespace inside a (tab-separated) token is written as `_`.
                let ents = |docs: &[Document]| -> Vec<(Vec<String>, String)> {
                    docs.iter()
                        .flat_map(|d| d.entities.iter().map(move |e| {
                            let words = d.tokens[d.tokens_in(e.span)]
                                .iter()
                                .map(|t| d.slice(*t).replace(|c: char| c.is_ascii_whitespace(), "_"))
                                .collect();
                            (words, e.label.clone())
                        }))
                        .collect()
                };
                prop_assert_eq!(ents(&again.documents), ents(&corpus.documents));
            }
        }
    }
}

/// `shared/` from `BYLINE_SHARED`, or found by walking up from this crate.
fn shared_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("BYLINE_SHARED") {
        return Some(PathBuf::from(dir));
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().find_map(|dir| {
        [dir.join("shared"), dir.join("../shared")]
            .into_iter()
            .find(|d| d.is_dir())
    })
}

#[test]
fn conll2003_counts() {
    let Some(shared) = shared_dir() else {
        eprintln!("skipping: no shared/ directory (set BYLINE_SHARED)");
        return;
    };
    // (file, documents, sentences, tokens, [PER, LOC, ORG, MISC], entities)
    let cases = [
        (
            "train.txt",
            946,
            14_041,
            203_621,
            [6_600, 7_140, 6_321, 3_438],
            23_499,
        ),
        (
            "dev.txt",
            216,
            3_250,
            51_362,
            [1_842, 1_837, 1_341, 922],
            5_942,
        ),
    ];
    for (file, documents, sentences, tokens, per_type, total) in cases {
        let path = shared.join("data/conll2003").join(file);
        if !path.is_file() {
            eprintln!("skipping: {} is absent", path.display());
            continue;
        }
        let corpus = ConllReader::new().read_path(&path).unwrap();
        let docs = &corpus.documents;
        assert_eq!(docs.len(), documents, "{file}");
        assert_eq!(
            docs.iter().map(|d| d.sentences.len()).sum::<usize>(),
            sentences,
            "{file}"
        );
        assert_eq!(
            docs.iter().map(|d| d.tokens.len()).sum::<usize>(),
            tokens,
            "{file}"
        );
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for e in docs.iter().flat_map(|d| &d.entities) {
            *counts.entry(e.label.as_str()).or_default() += 1;
        }
        let want: BTreeMap<&str, usize> = ["PER", "LOC", "ORG", "MISC"]
            .into_iter()
            .zip(per_type)
            .collect();
        assert_eq!(counts, want, "{file}");
        assert_eq!(counts.values().sum::<usize>(), total, "{file}");
        let stem = file.trim_end_matches(".txt");
        assert_eq!(docs[0].id, format!("{stem}-1"));
        check_documents(docs);

        // Written as IOB2 and read back: the same documents.
        let out = write(&ConllWriter::new().docstart(true), docs);
        let again = ConllReader::new()
            .scheme(Scheme::Iob2)
            .read_bytes(out.as_bytes(), file)
            .unwrap();
        assert_eq!(&again.documents, docs, "{file}");
    }
}
