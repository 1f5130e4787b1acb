use proptest::prelude::*;

use super::*;

fn labels() -> LabelSet {
    LabelSet::from_names(["PER", "LOC", "ORG"])
}

fn tags(s: &str) -> Vec<Tag> {
    let words: Vec<&str> = s.split_whitespace().collect();
    parse_tags(&words, &labels()).unwrap()
}

fn show(tags: &[Tag]) -> String {
    let labels = labels();
    let words: Vec<String> = tags
        .iter()
        .map(|t| t.display(&labels).to_string())
        .collect();
    words.join(" ")
}

/// `"PER 0..2, LOC 3..4"`
fn spans(s: &str) -> Vec<TokenSpan> {
    let labels = labels();
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, range) = p.split_once(' ').unwrap();
            let (a, b) = range.split_once("..").unwrap();
            TokenSpan::new(
                a.parse().unwrap(),
                b.parse().unwrap(),
                labels.id(name).unwrap(),
            )
        })
        .collect()
}

#[test]
fn parse_and_display() {
    let labels = LabelSet::from_names(["PER", "my-type"]);
    let cases: &[(&str, Result<Tag, TagError>)] = &[
        ("O", Ok(Tag::O)),
        ("B-PER", Ok(Tag::entity(Prefix::B, LabelId(0)))),
        ("S-PER", Ok(Tag::entity(Prefix::S, LabelId(0)))),
        ("I-my-type", Ok(Tag::entity(Prefix::I, LabelId(1)))),
        ("E-my-type", Ok(Tag::entity(Prefix::E, LabelId(1)))),
        ("", Err(TagError::Malformed("".into()))),
        ("B-", Err(TagError::Malformed("B-".into()))),
        ("B", Err(TagError::Malformed("B".into()))),
        ("o", Err(TagError::Malformed("o".into()))),
        ("O-PER", Err(TagError::Malformed("O-PER".into()))),
        ("X-PER", Err(TagError::Malformed("X-PER".into()))),
        ("BPER", Err(TagError::Malformed("BPER".into()))),
        (
            "B-LOC",
            Err(TagError::UnknownLabel {
                tag: "B-LOC".into(),
                label: "LOC".into(),
            }),
        ),
    ];
    for (input, want) in cases {
        let got = Tag::parse(input, &labels);
        assert_eq!(&got, want, "{input:?}");
        if let Ok(tag) = got {
            assert_eq!(tag.display(&labels).to_string(), *input);
        }
    }
    assert_eq!(
        TagError::Malformed("X-PER".into()).to_string(),
        "malformed tag `X-PER`: expected `O` or one of `B-`, `I-`, `E-`, `S-` followed by a type"
    );
}

#[test]
fn tag_invariant() {
    assert_eq!(Tag::new(Prefix::O, None), Some(Tag::O));
    assert_eq!(Tag::new(Prefix::O, Some(LabelId(0))), None);
    assert_eq!(Tag::new(Prefix::B, None), None);
    assert_eq!(Tag::entity(Prefix::O, LabelId(3)), Tag::O);
}

#[test]
fn scheme_names() {
    let cases = [
        ("io", Scheme::Io),
        ("iob1", Scheme::Iob1),
        ("iob2", Scheme::Iob2),
        ("bio", Scheme::Iob2),
        ("BIOES", Scheme::Bioes),
    ];
    for (s, want) in cases {
        assert_eq!(s.parse::<Scheme>(), Ok(want));
    }
    for s in Scheme::ALL {
        assert_eq!(s.to_string().parse::<Scheme>(), Ok(s));
    }
    assert!("bilou".parse::<Scheme>().is_err());
}

/// Decoding matches conlleval / seqeval (default mode) on valid and invalid sequences.
#[test]
fn decode_follows_seqeval() {
    let cases = [
        ("", ""),
        ("O O", ""),
        ("B-PER I-PER O B-LOC", "PER 0..2, LOC 3..4"),
        ("I-PER I-PER O I-LOC", "PER 0..2, LOC 3..4"),
        ("I-PER B-PER", "PER 0..1, PER 1..2"),
        ("O I-PER I-PER", "PER 1..3"),
        ("B-PER I-LOC I-LOC", "PER 0..1, LOC 1..3"),
        ("I-PER I-LOC", "PER 0..1, LOC 1..2"),
        ("B-PER B-PER I-PER", "PER 0..1, PER 1..3"),
        ("B-PER I-PER E-PER S-LOC", "PER 0..3, LOC 3..4"),
        ("B-PER O E-LOC", "PER 0..1, LOC 2..3"),
        ("E-PER I-PER", "PER 0..1, PER 1..2"),
        ("S-PER I-PER E-PER", "PER 0..1, PER 1..3"),
        ("B-PER E-PER E-PER", "PER 0..2, PER 2..3"),
        ("B-PER S-PER", "PER 0..1, PER 1..2"),
        ("I-PER E-LOC", "PER 0..1, LOC 1..2"),
        ("O B-ORG I-ORG", "ORG 1..3"),
    ];
    for (input, want) in cases {
        for scheme in Scheme::ALL {
            assert_eq!(
                decode(&tags(input), scheme),
                spans(want),
                "{input:?} as {scheme}"
            );
        }
    }
}

/// Every row: an input (any scheme) and its canonical form in IO, IOB1, IOB2, BIOES.
#[test]
fn convert_between_every_pair() {
    #[rustfmt::skip]
    let cases = [
        // input                      io                          iob1                        iob2                        bioes
        ["O O",                       "O O",                      "O O",                      "O O",                      "O O"],
        ["I-PER I-PER O I-LOC",       "I-PER I-PER O I-LOC",      "I-PER I-PER O I-LOC",      "B-PER I-PER O B-LOC",      "B-PER E-PER O S-LOC"],
        ["I-PER B-PER",               "I-PER I-PER",              "I-PER B-PER",              "B-PER B-PER",              "S-PER S-PER"],
        ["I-PER I-LOC",               "I-PER I-LOC",              "I-PER I-LOC",              "B-PER B-LOC",              "S-PER S-LOC"],
        ["O I-PER I-PER",             "O I-PER I-PER",            "O I-PER I-PER",            "O B-PER I-PER",            "O B-PER E-PER"],
        ["O B-PER",                   "O I-PER",                  "O I-PER",                  "O B-PER",                  "O S-PER"],
        ["B-PER I-PER E-PER S-LOC",   "I-PER I-PER I-PER I-LOC",  "I-PER I-PER I-PER I-LOC",  "B-PER I-PER I-PER B-LOC",  "B-PER I-PER E-PER S-LOC"],
        ["B-PER O E-LOC",             "I-PER O I-LOC",            "I-PER O I-LOC",            "B-PER O B-LOC",            "S-PER O S-LOC"],
        ["E-PER I-PER",               "I-PER I-PER",              "I-PER B-PER",              "B-PER B-PER",              "S-PER S-PER"],
        ["B-PER I-LOC E-LOC",         "I-PER I-LOC I-LOC",        "I-PER I-LOC I-LOC",        "B-PER B-LOC I-LOC",        "S-PER B-LOC E-LOC"],
        ["I-ORG",                     "I-ORG",                    "I-ORG",                    "B-ORG",                    "S-ORG"],
        ["O B-ORG I-ORG",             "O I-ORG I-ORG",            "O I-ORG I-ORG",            "O B-ORG I-ORG",            "O B-ORG E-ORG"],
        ["I-PER B-PER I-PER B-PER",   "I-PER I-PER I-PER I-PER",  "I-PER B-PER I-PER B-PER",  "B-PER B-PER I-PER B-PER",  "S-PER B-PER E-PER S-PER"],
        ["B-PER B-PER I-PER O",       "I-PER I-PER I-PER O",      "I-PER B-PER I-PER O",      "B-PER B-PER I-PER O",      "S-PER B-PER E-PER O"],
        ["S-LOC S-LOC B-LOC E-LOC",   "I-LOC I-LOC I-LOC I-LOC",  "I-LOC B-LOC B-LOC I-LOC",  "B-LOC B-LOC B-LOC I-LOC",  "S-LOC S-LOC B-LOC E-LOC"],
        ["I-PER I-LOC B-LOC",         "I-PER I-LOC I-LOC",        "I-PER I-LOC B-LOC",        "B-PER B-LOC B-LOC",        "S-PER S-LOC S-LOC"],
    ];
    for row in cases {
        let input = tags(row[0]);
        for (to, want) in Scheme::ALL.into_iter().zip(&row[1..]) {
            for from in Scheme::ALL {
                assert_eq!(
                    show(&convert(&input, from, to)),
                    *want,
                    "{:?} {from} -> {to}",
                    row[0]
                );
            }
            assert!(is_valid(&tags(want), to), "{want:?} should be valid {to}");
        }
    }
}

#[test]
fn validity() {
    let cases = [
        ("I-PER I-PER", [true, true, false, false]),
        ("B-PER I-PER", [false, false, true, false]),
        ("O I-PER", [true, true, false, false]),
        ("I-PER B-PER", [false, true, false, false]),
        ("I-PER B-LOC", [false, false, false, false]),
        ("B-PER B-LOC", [false, false, true, false]),
        ("B-PER E-PER", [false, false, false, true]),
        ("B-PER", [false, false, true, false]),
        ("S-PER", [false, false, false, true]),
        ("B-PER E-LOC", [false, false, false, false]),
        ("", [true, true, true, true]),
    ];
    for (input, want) in cases {
        for (scheme, want) in Scheme::ALL.into_iter().zip(want) {
            assert_eq!(is_valid(&tags(input), scheme), want, "{input:?} {scheme}");
        }
    }
}

#[test]
fn encode_rejects_bad_spans() {
    let l = LabelId(0);
    let cases = [
        (
            vec![TokenSpan::new(1, 1, l)],
            EncodeError::EmptySpan { start: 1 },
        ),
        (
            vec![TokenSpan::new(2, 5, l)],
            EncodeError::OutOfRange {
                start: 2,
                end: 5,
                len: 4,
            },
        ),
        (
            vec![TokenSpan::new(0, 2, l), TokenSpan::new(1, 3, l)],
            EncodeError::Overlap {
                start: 1,
                end: 3,
                prev_end: 2,
            },
        ),
        (
            vec![TokenSpan::new(2, 3, l), TokenSpan::new(0, 1, l)],
            EncodeError::Overlap {
                start: 0,
                end: 1,
                prev_end: 3,
            },
        ),
    ];
    for (spans, want) in cases {
        assert_eq!(encode(&spans, 4, Scheme::Iob2), Err(want));
    }
}

#[test]
fn tag_set_layout_and_tables() {
    let labels = LabelSet::from_names(["PER", "LOC"]);
    let cases = [
        (Scheme::Io, "O I-PER I-LOC"),
        (Scheme::Iob1, "O B-PER I-PER B-LOC I-LOC"),
        (Scheme::Iob2, "O B-PER I-PER B-LOC I-LOC"),
        (
            Scheme::Bioes,
            "O B-PER I-PER E-PER S-PER B-LOC I-LOC E-LOC S-LOC",
        ),
    ];
    for (scheme, want) in cases {
        let set = TagSet::new(scheme, &labels);
        let names: Vec<String> = (0..set.len()).map(|i| set.name(i).unwrap()).collect();
        assert_eq!(names.join(" "), want);
        for (i, &tag) in set.tags().iter().enumerate() {
            assert_eq!(set.index(tag), Some(i));
            assert_eq!(set.parse(&names[i]), Ok(Some(i)));
        }
        assert_eq!(set.tag(set.len()), None);
        assert!(!set.allowed_transition(set.len(), 0));
        assert!(!set.allowed_start(set.len()));
    }
    let iob2 = TagSet::new(Scheme::Iob2, &labels);
    let idx = |s: &str| iob2.parse(s).unwrap().unwrap();
    assert!(iob2.allowed_transition(idx("B-PER"), idx("I-PER")));
    assert!(iob2.allowed_transition(idx("I-PER"), idx("I-PER")));
    assert!(!iob2.allowed_transition(idx("O"), idx("I-PER")));
    assert!(!iob2.allowed_transition(idx("B-LOC"), idx("I-PER")));
    assert!(!iob2.allowed_start(idx("I-LOC")));
    assert!(iob2.allowed_end(idx("I-LOC")));
    assert_eq!(iob2.index(Tag::entity(Prefix::E, LabelId(0))), None);
    assert_eq!(iob2.index(Tag::entity(Prefix::B, LabelId(2))), None);

    let bioes = TagSet::new(Scheme::Bioes, &labels);
    let idx = |s: &str| bioes.parse(s).unwrap().unwrap();
    assert!(!bioes.allowed_end(idx("B-PER")));
    assert!(!bioes.allowed_end(idx("I-PER")));
    assert!(bioes.allowed_end(idx("E-PER")));
    assert!(!bioes.allowed_start(idx("E-PER")));
    assert!(!bioes.allowed_transition(idx("B-PER"), idx("O")));
    assert!(!bioes.allowed_transition(idx("E-PER"), idx("I-PER")));
    assert!(bioes.allowed_transition(idx("S-PER"), idx("B-LOC")));
}

/// Spans laid out from (gap, length, label) triples: sorted, non-empty, disjoint.
fn span_sets() -> impl Strategy<Value = (Vec<TokenSpan>, usize)> {
    (
        prop::collection::vec((0usize..3, 1usize..5, 0u16..3), 0..8),
        0usize..3,
    )
        .prop_map(|(parts, tail)| {
            let mut at = 0;
            let spans = parts
                .into_iter()
                .map(|(gap, len, label)| {
                    let s = TokenSpan::new(at + gap, at + gap + len, LabelId(label));
                    at = s.end;
                    s
                })
                .collect();
            (spans, at + tail)
        })
}

/// What a scheme can represent: IO merges adjacent spans of one type.
fn representable(spans: &[TokenSpan], scheme: Scheme) -> Vec<TokenSpan> {
    let mut out: Vec<TokenSpan> = Vec::new();
    for &s in spans {
        match out.last_mut() {
            Some(p) if scheme == Scheme::Io && p.end == s.start && p.label == s.label => {
                p.end = s.end
            }
            _ => out.push(s),
        }
    }
    out
}

fn any_tag() -> impl Strategy<Value = Tag> {
    let prefixes =
        prop::sample::select(vec![Prefix::O, Prefix::B, Prefix::I, Prefix::E, Prefix::S]);
    (prefixes, 0u16..3).prop_map(|(p, l)| Tag::entity(p, LabelId(l)))
}

proptest! {
    #[test]
    fn encode_then_decode_gives_the_spans_back((spans, len) in span_sets()) {
        for scheme in Scheme::ALL {
            let tags = encode(&spans, len, scheme).unwrap();
            prop_assert_eq!(tags.len(), len);
            prop_assert!(is_valid(&tags, scheme));
            prop_assert_eq!(decode(&tags, scheme), representable(&spans, scheme));
        }
    }

    #[test]
    fn convert_round_trips((spans, len) in span_sets()) {
        for from in Scheme::ALL {
            let tags = encode(&spans, len, from).unwrap();
            for to in Scheme::ALL {
                let there = convert(&tags, from, to);
                prop_assert_eq!(&there, &encode(&representable(&spans, from), len, to).unwrap());
                if to != Scheme::Io {
                    prop_assert_eq!(&convert(&there, to, from), &tags);
                }
            }
        }
    }

    /// `is_valid`, the `TagSet` tables and "canonical encoding of its own decoding" agree on
    /// arbitrary tag sequences.
    #[test]
    fn validity_matches_tables_and_canonical_form(seq in prop::collection::vec(any_tag(), 0..8)) {
        let labels = labels();
        for scheme in Scheme::ALL {
            let canonical = convert(&seq, scheme, scheme) == seq;
            prop_assert_eq!(is_valid(&seq, scheme), canonical);
            let set = TagSet::new(scheme, &labels);
            let idx: Option<Vec<usize>> = seq.iter().map(|&t| set.index(t)).collect();
            let by_table = idx.is_some_and(|idx| {
                idx.first().is_none_or(|&i| set.allowed_start(i))
                    && idx.last().is_none_or(|&i| set.allowed_end(i))
                    && idx.windows(2).all(|w| set.allowed_transition(w[0], w[1]))
            });
            prop_assert_eq!(by_table, canonical);
        }
    }
}
