//! Evaluation metrics: entity-level scores identical to `conlleval` / `seqeval`
//! ([`entity`]), quote-attribution scores ([`attribution`]), and a [`Report`] that holds their
//! tables for plain-text and JSON output.
//!
//! Precision, recall and F1 follow `seqeval`: precision = correct / predicted, recall = correct /
//! gold, F1 = 2·P·R / (P + R); each is `0.0` (never NaN) when its denominator is zero.

pub mod attribution;
pub mod cofenet;
pub mod entity;
pub mod errors;

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use crate::document::Document;
use crate::error::{Error, Result, Side};

pub use attribution::{
    evaluate_attributions, AttributionFigures, AttributionScores, SpeakerCounts,
};
pub use cofenet::{evaluate_cofenet, CofenetScores};
pub use entity::{evaluate_entities, EntityScores};

/// Counts of one class: what the gold standard has, what was predicted, and how many
/// predictions were correct.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub correct: usize,
    pub predicted: usize,
    pub gold: usize,
}

impl Counts {
    pub fn new(correct: usize, predicted: usize, gold: usize) -> Self {
        Counts {
            correct,
            predicted,
            gold,
        }
    }

    /// False positives: predicted but not correct.
    pub fn false_positives(&self) -> usize {
        self.predicted.saturating_sub(self.correct)
    }

    /// False negatives: in the gold standard but not found.
    pub fn false_negatives(&self) -> usize {
        self.gold.saturating_sub(self.correct)
    }

    pub fn precision(&self) -> f64 {
        ratio(self.correct as f64, self.predicted)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.correct as f64, self.gold)
    }

    pub fn f1(&self) -> f64 {
        f1(self.precision(), self.recall())
    }
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.correct += other.correct;
        self.predicted += other.predicted;
        self.gold += other.gold;
    }
}

/// `num / den`, or `0.0` when `den` is zero (seqeval's `zero_division="warn"` value).
pub(crate) fn ratio(num: f64, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num / den as f64
    }
}

/// The harmonic mean of precision and recall, computed from them as seqeval does; `0.0` when both
/// are zero.
pub fn f1(precision: f64, recall: f64) -> f64 {
    let den = precision + recall;
    if den == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / den
    }
}

/// One row of a score table. Scores are fractions in `0.0..=1.0`; the text table shows them as
/// percentages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The class: an entity type, `micro avg`, or a role and match kind.
    pub name: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Number of gold items.
    pub support: usize,
    /// Number of predicted items.
    pub predicted: usize,
    /// Number of correct predictions; absent for scores that give partial credit.
    pub correct: Option<usize>,
}

impl Row {
    pub fn from_counts(name: impl Into<String>, counts: Counts) -> Self {
        Row {
            name: name.into(),
            precision: counts.precision(),
            recall: counts.recall(),
            f1: counts.f1(),
            support: counts.gold,
            predicted: counts.predicted,
            correct: Some(counts.correct),
        }
    }
}

/// A titled table of scores, shown as plain text by its `Display` implementation:
///
/// ```text
/// entities
/// type        precision   recall       F1   support
/// LOC             93.22    92.56    92.89      1837
/// micro avg       90.00    90.12    90.06      5942
/// ```
///
/// Precision, recall and F1 are percentages with two decimals, as `conlleval` prints them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    pub title: String,
    pub rows: Vec<Row>,
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .rows
            .iter()
            .map(|r| r.name.chars().count())
            .chain([4])
            .max()
            .unwrap_or(4);
        writeln!(f, "{}", self.title)?;
        writeln!(
            f,
            "{:<width$}  {:>9}  {:>7}  {:>7}  {:>8}",
            "type", "precision", "recall", "F1", "support"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<width$}  {:>9.2}  {:>7.2}  {:>7.2}  {:>8}",
                r.name,
                100.0 * r.precision,
                100.0 * r.recall,
                100.0 * r.f1,
                r.support
            )?;
        }
        Ok(())
    }
}

/// Everything `byline eval` reports: the entity table and the attribution table, whichever the
/// data has. Serializes to JSON for `--json`; `Display` prints the tables one after the other.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub entities: Option<Table>,
    pub attribution: Option<Table>,
    /// CofeNet-style exact span scores per role over CofeNet's rows, when asked for
    /// ([`cofenet`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cofenet: Option<Table>,
}

impl Report {
    /// A report of the documents' entities and attributions: each table is present when the gold
    /// or the predicted documents have any of its items.
    pub fn evaluate(gold: &[Document], pred: &[Document]) -> Result<Report> {
        let has = |f: fn(&Document) -> bool| gold.iter().chain(pred).any(f);
        let entities = if has(|d| !d.entities.is_empty()) {
            Some(evaluate_entities(gold, pred)?.table())
        } else {
            None
        };
        let attribution = if has(|d| !d.attributions.is_empty()) {
            Some(evaluate_attributions(gold, pred)?.table())
        } else {
            None
        };
        Ok(Report {
            entities,
            attribution,
            cofenet: None,
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tables: Vec<&Table> = [&self.entities, &self.attribution, &self.cofenet]
            .into_iter()
            .flatten()
            .collect();
        for (i, table) in tables.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{table}")?;
        }
        Ok(())
    }
}

/// Pairs gold and predicted documents by id, in gold order. Every id must appear exactly once on
/// each side, and paired documents must have the same text.
pub(crate) fn pair_documents<'a>(
    gold: &'a [Document],
    pred: &'a [Document],
) -> Result<Vec<(&'a Document, &'a Document)>> {
    let mut by_id: HashMap<&str, &Document> = HashMap::with_capacity(pred.len());
    for doc in pred {
        if by_id.insert(doc.id.as_str(), doc).is_some() {
            return Err(Error::DuplicateDocument {
                id: doc.id.clone(),
                side: Side::Predicted,
            });
        }
    }
    let mut pairs = Vec::with_capacity(gold.len());
    for g in gold {
        let Some(p) = by_id.remove(g.id.as_str()) else {
            let duplicate = pairs.iter().any(|(d, _): &(&Document, _)| d.id == g.id);
            return Err(if duplicate {
                Error::DuplicateDocument {
                    id: g.id.clone(),
                    side: Side::Gold,
                }
            } else {
                Error::UnpairedDocument {
                    id: g.id.clone(),
                    side: Side::Gold,
                }
            });
        };
        if p.text != g.text {
            return Err(Error::TextMismatch { id: g.id.clone() });
        }
        pairs.push((g, p));
    }
    if let Some(p) = pred.iter().find(|p| by_id.contains_key(p.id.as_str())) {
        return Err(Error::UnpairedDocument {
            id: p.id.clone(),
            side: Side::Predicted,
        });
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_from_counts() {
        // (correct, predicted, gold) -> (precision, recall, f1)
        let cases = [
            ((0, 0, 0), (0.0, 0.0, 0.0)),
            ((0, 0, 3), (0.0, 0.0, 0.0)),
            ((0, 2, 0), (0.0, 0.0, 0.0)),
            ((1, 2, 4), (0.5, 0.25, 2.0 * 0.5 * 0.25 / 0.75)),
            ((3, 3, 3), (1.0, 1.0, 1.0)),
        ];
        for ((c, p, g), (precision, recall, f)) in cases {
            let counts = Counts::new(c, p, g);
            assert_eq!(counts.precision(), precision, "{counts:?}");
            assert_eq!(counts.recall(), recall, "{counts:?}");
            assert_eq!(counts.f1(), f, "{counts:?}");
        }
        assert_eq!(Counts::new(1, 2, 4).false_positives(), 1);
        assert_eq!(Counts::new(1, 2, 4).false_negatives(), 3);
    }

    #[test]
    fn table_prints_percentages_with_two_decimals() {
        let table = Table {
            title: "entities".into(),
            rows: vec![
                Row::from_counts("LOC", Counts::new(2, 3, 4)),
                Row::from_counts("micro avg", Counts::new(0, 0, 1)),
            ],
        };
        let expected = "\
entities
type       precision   recall       F1   support
LOC            66.67    50.00    57.14         4
micro avg       0.00     0.00     0.00         1
";
        assert_eq!(table.to_string(), expected);
        let json = serde_json::to_value(&table).unwrap();
        assert_eq!(json["rows"][0]["correct"], 2);
        assert_eq!(json["rows"][0]["support"], 4);
    }

    #[test]
    fn report_holds_the_tables_the_data_has() {
        use crate::document::{Attribution, Entity, Mention};
        use crate::span::Span;

        let mut gold = Document::new("d", "Merkel said no.");
        gold.entities.push(Entity {
            span: Span::new(0, 6),
            label: "PER".into(),
            score: None,
        });
        let pred = Document::new("d", "Merkel said no.");
        let report =
            Report::evaluate(std::slice::from_ref(&gold), std::slice::from_ref(&pred)).unwrap();
        let entities = report.entities.as_ref().unwrap();
        assert_eq!(entities.rows[0].name, "PER");
        assert_eq!(entities.rows[0].support, 1);
        assert!(report.attribution.is_none());
        assert_eq!(report.to_string(), entities.to_string());

        gold.attributions.push(Attribution {
            content: Mention::single(Span::new(12, 14)),
            cue: Some(Mention::single(Span::new(7, 11))),
            source: Some(Mention::single(Span::new(0, 6))),
        });
        let report = Report::evaluate(&[gold], &[pred]).unwrap();
        let text = report.to_string();
        assert!(text.starts_with("entities\n"), "{text}");
        assert!(text.contains("\n\nattribution\n"), "{text}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["attribution"]["rows"][0]["name"], "content exact");
        assert_eq!(json["attribution"]["rows"][0]["support"], 1);
    }

    #[test]
    fn documents_pair_by_id() {
        let d = |id: &str, text: &str| Document::new(id, text);
        let gold = [d("a", "x"), d("b", "y")];
        let pred = [d("b", "y"), d("a", "x")];
        let pairs = pair_documents(&gold, &pred).unwrap();
        let ids: Vec<(&str, &str)> = pairs.iter().map(|(g, p)| (&*g.id, &*p.id)).collect();
        assert_eq!(ids, [("a", "a"), ("b", "b")]);

        let err = |pred: &[Document]| pair_documents(&gold, pred).unwrap_err().to_string();
        assert_eq!(
            err(&[d("a", "x")]),
            "document `b` is in the gold documents but not in the predicted"
        );
        assert_eq!(
            err(&[d("a", "x"), d("b", "y"), d("c", "z")]),
            "document `c` is in the predicted documents but not in the gold"
        );
        assert_eq!(
            err(&[d("a", "x"), d("b", "Y")]),
            "document `b`: gold and predicted texts differ"
        );
        assert_eq!(
            err(&[d("a", "x"), d("a", "x")]),
            "document `a` appears more than once in the predicted documents"
        );
        let twice = [d("a", "x"), d("a", "x")];
        assert_eq!(
            pair_documents(&twice, &[d("a", "x")])
                .unwrap_err()
                .to_string(),
            "document `a` appears more than once in the gold documents"
        );
    }
}
