//! Entity-level precision, recall and F1, per type and micro-averaged, identical to `conlleval`
//! and to Python's `seqeval` in its default mode.
//!
//! An entity is correct when a gold entity has exactly the same span and type (strict match).
//! Entities are sets per document (or per sentence for tag sequences): a duplicate counts once,
//! as in seqeval. Types are listed in code-point order, as seqeval sorts them, and a type that
//! occurs only in the gold standard or only in the predictions gets precision, recall and F1
//! `0.0`.
//!
//! [`score_tag_sequences`] works on per-sentence tag strings in any scheme (IOB1, IOB2, BIOES):
//! tags are decoded with [`scheme::decode`], which follows the conlleval/seqeval chunk rules for
//! every scheme, so invalid sequences (`I-` after `O`, a type change inside an entity) are scored
//! the way the standard scorers score them. `tests/seqeval.rs` checks this against numbers that
//! `seqeval` itself computed (`scripts/seqeval_reference.py`).

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::{pair_documents, Counts, Row, Table};
use crate::document::Document;
use crate::error::{Error, Result, Side};
use crate::label::LabelSet;
use crate::scheme::{decode, Scheme, Tag, TagError};
use crate::span::Span;

/// Entity counts per type. [`EntityScores::micro`] sums them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EntityScores {
    /// Counts of each entity type, in code-point order of the type names.
    pub per_type: BTreeMap<String, Counts>,
}

impl EntityScores {
    /// Micro average: the counts of all types summed.
    pub fn micro(&self) -> Counts {
        let mut total = Counts::default();
        for &c in self.per_type.values() {
            total += c;
        }
        total
    }

    /// One row per type, then `micro avg`.
    pub fn table(&self) -> Table {
        let mut rows: Vec<Row> = self
            .per_type
            .iter()
            .map(|(name, &c)| Row::from_counts(name.clone(), c))
            .collect();
        rows.push(Row::from_counts("micro avg", self.micro()));
        Table {
            title: "entities".into(),
            rows,
        }
    }

    /// Adds the entities of one unit (a document or a sentence): `(type, span)` pairs, where the
    /// span is any comparable position (bytes or token indices).
    fn add_unit<'a, P: Eq + std::hash::Hash>(
        &mut self,
        gold: impl IntoIterator<Item = (&'a str, P)>,
        pred: impl IntoIterator<Item = (&'a str, P)>,
    ) {
        let gold: HashSet<(&str, P)> = gold.into_iter().collect();
        let pred: HashSet<(&str, P)> = pred.into_iter().collect();
        for (label, _) in &gold {
            self.counts(label).gold += 1;
        }
        for entity in &pred {
            let counts = self.counts(entity.0);
            counts.predicted += 1;
            if gold.contains(entity) {
                counts.correct += 1;
            }
        }
    }

    fn counts(&mut self, label: &str) -> &mut Counts {
        if !self.per_type.contains_key(label) {
            self.per_type.insert(label.to_owned(), Counts::default());
        }
        self.per_type.get_mut(label).expect("inserted above")
    }
}

/// Scores the predicted entities of documents against the gold ones. Documents are paired by id
/// (each id exactly once on each side) and paired documents must have the same text; spans are
/// compared as byte spans, so no tokenization is involved.
pub fn evaluate_entities(gold: &[Document], pred: &[Document]) -> Result<EntityScores> {
    let mut scores = EntityScores::default();
    for (g, p) in pair_documents(gold, pred)? {
        scores.add_unit(entities(g), entities(p));
    }
    Ok(scores)
}

/// Scores per-sentence tag strings (`O`, `B-PER`, `I-LOC`, ... in IOB1, IOB2 or BIOES; the type
/// is everything after the first `-`). `gold[i]` and `pred[i]` are the tags of sentence `i` and
/// must have the same length. Entities never cross a sentence boundary.
///
/// ```
/// use byline_core::metrics::entity::score_tag_sequences;
///
/// let gold = [vec!["B-PER", "I-PER", "O", "B-LOC"]];
/// let pred = [vec!["B-PER", "I-PER", "O", "B-ORG"]];
/// let scores = score_tag_sequences(&gold, &pred).unwrap();
/// assert_eq!(scores.micro().correct, 1);
/// assert_eq!(scores.per_type["LOC"].recall(), 0.0);
/// assert_eq!(scores.per_type["ORG"].precision(), 0.0);
/// ```
pub fn score_tag_sequences<G, S>(gold: &[G], pred: &[G]) -> Result<EntityScores>
where
    G: AsRef<[S]>,
    S: AsRef<str>,
{
    let mut labels = LabelSet::new();
    for (side, sentences) in [(Side::Gold, gold), (Side::Predicted, pred)] {
        for (sentence, tags) in sentences.iter().enumerate() {
            for (token, tag) in tags.as_ref().iter().enumerate() {
                let (_, name) = Tag::split(tag.as_ref()).map_err(|source| Error::Tag {
                    side,
                    sentence,
                    token,
                    source,
                })?;
                if let Some(name) = name.filter(|n| labels.id(n).is_none()) {
                    labels.insert(name)?;
                }
            }
        }
    }
    let parse = |side: Side, sentences: &[G]| -> Result<Vec<Vec<Tag>>> {
        sentences
            .iter()
            .enumerate()
            .map(|(sentence, tags)| {
                let tags = tags.as_ref();
                crate::scheme::parse_tags(tags, &labels).map_err(|(token, source)| Error::Tag {
                    side,
                    sentence,
                    token,
                    source,
                })
            })
            .collect()
    };
    score_tags(
        &parse(Side::Gold, gold)?,
        &parse(Side::Predicted, pred)?,
        &labels,
    )
}

/// Scores per-sentence parsed tags whose labels come from `labels`; see [`score_tag_sequences`].
pub fn score_tags<T: AsRef<[Tag]>>(
    gold: &[T],
    pred: &[T],
    labels: &LabelSet,
) -> Result<EntityScores> {
    if gold.len() != pred.len() {
        return Err(Error::LengthMismatch {
            sentence: None,
            gold: gold.len(),
            pred: pred.len(),
        });
    }
    let mut scores = EntityScores::default();
    for (sentence, (g, p)) in gold.iter().zip(pred).enumerate() {
        let (g, p) = (g.as_ref(), p.as_ref());
        if g.len() != p.len() {
            return Err(Error::LengthMismatch {
                sentence: Some(sentence),
                gold: g.len(),
                pred: p.len(),
            });
        }
        for (side, tags) in [(Side::Gold, g), (Side::Predicted, p)] {
            check_labels(side, sentence, tags, labels)?;
        }
        // The chunk rules are the same for every scheme: the scheme argument does not matter.
        let spans = |tags: &[Tag]| -> Vec<(&str, (usize, usize))> {
            decode(tags, Scheme::Iob2)
                .into_iter()
                .filter_map(|s| Some((labels.get(s.label)?, (s.start, s.end))))
                .collect()
        };
        scores.add_unit(spans(g), spans(p));
    }
    Ok(scores)
}

/// Every tag's label must be in `labels`.
fn check_labels(side: Side, sentence: usize, tags: &[Tag], labels: &LabelSet) -> Result<()> {
    for (token, tag) in tags.iter().enumerate() {
        if let Some(id) = tag.label().filter(|&id| labels.get(id).is_none()) {
            return Err(Error::Tag {
                side,
                sentence,
                token,
                source: TagError::UnknownLabel {
                    tag: tag.display(labels).to_string(),
                    label: format!("#{}", id.0),
                },
            });
        }
    }
    Ok(())
}

fn entities(d: &Document) -> impl Iterator<Item = (&str, Span)> {
    d.entities.iter().map(|e| (e.label.as_str(), e.span))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Entity;

    fn doc(id: &str, entities: &[(usize, usize, &str)]) -> Document {
        let mut d = Document::new(id, "Angela Merkel met Joe Biden in Berlin on Monday.");
        d.entities = entities
            .iter()
            .map(|&(s, e, label)| Entity {
                span: Span::new(s, e),
                label: label.into(),
                score: None,
            })
            .collect();
        d
    }

    #[test]
    fn documents_strict_match_per_type() {
        let gold = [
            doc("a", &[(0, 13, "PER"), (18, 27, "PER"), (31, 37, "LOC")]),
            doc("b", &[(31, 37, "LOC"), (41, 47, "DATE")]),
        ];
        let pred = [
            // "b" first: pairing is by id.
            doc("b", &[(31, 37, "LOC"), (18, 27, "ORG"), (18, 27, "ORG")]),
            // Boundary error on Merkel, wrong type on Berlin.
            doc("a", &[(7, 13, "PER"), (18, 27, "PER"), (31, 37, "ORG")]),
        ];
        let scores = evaluate_entities(&gold, &pred).unwrap();
        let expected = [
            ("DATE", Counts::new(0, 0, 1)),
            ("LOC", Counts::new(1, 1, 2)),
            // The duplicate ORG prediction counts once.
            ("ORG", Counts::new(0, 2, 0)),
            ("PER", Counts::new(1, 2, 2)),
        ];
        let got: Vec<(&str, Counts)> = scores
            .per_type
            .iter()
            .map(|(k, &v)| (k.as_str(), v))
            .collect();
        assert_eq!(got, expected);
        assert_eq!(scores.micro(), Counts::new(2, 5, 5));
        let table = scores.table();
        assert_eq!(table.rows.len(), 5);
        assert_eq!(table.rows[0].f1, 0.0);
        assert_eq!(table.rows[4].name, "micro avg");
        assert!((table.rows[4].f1 - 0.4).abs() < 1e-12);
    }

    #[test]
    fn tag_sequences_errors() {
        let ok = [vec!["O", "B-PER"]];
        let err = |gold: &[Vec<&str>], pred: &[Vec<&str>]| {
            score_tag_sequences(gold, pred).unwrap_err().to_string()
        };
        assert_eq!(
            err(&ok, &[vec!["O", "X-PER"]]),
            "predicted sentence 0, token 1: malformed tag `X-PER`: expected `O` or one of `B-`, \
             `I-`, `E-`, `S-` followed by a type"
        );
        assert_eq!(
            err(&ok, &[vec!["O"]]),
            "sentence 0: gold has 2 tags, prediction has 1"
        );
        assert_eq!(err(&ok, &[]), "gold has 1 sentences, prediction has 0");
        let labels = LabelSet::from_names(["PER"]);
        let foreign = LabelSet::from_names(["PER", "LOC"]);
        let tags = vec![crate::scheme::parse_tags(&["I-LOC"], &foreign).unwrap()];
        let e = score_tags(&tags, &tags, &labels).unwrap_err().to_string();
        assert_eq!(
            e,
            "gold sentence 0, token 0: unknown entity type `#1` in tag `I-#1`"
        );
    }

    #[test]
    fn tag_sequences_cut_entities_at_sentence_ends() {
        // An `I-PER` that opens a sentence starts a new entity, as seqeval's joining `O` does.
        let gold = [vec!["B-PER"], vec!["I-PER", "O"]];
        let pred = [vec!["B-PER"], vec!["O", "O"]];
        let scores = score_tag_sequences(&gold, &pred).unwrap();
        assert_eq!(scores.per_type["PER"], Counts::new(1, 1, 2));
    }

    #[test]
    fn mismatched_documents_are_errors() {
        let gold = [doc("a", &[])];
        let mut other = doc("a", &[]);
        other.text.push('!');
        assert!(evaluate_entities(&gold, &[other]).is_err());
        assert!(evaluate_entities(&gold, &[doc("b", &[])]).is_err());
        assert!(evaluate_entities(&gold, &[]).is_err());
    }
}
