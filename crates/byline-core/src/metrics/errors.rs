//! Every disagreement between gold and predicted annotations, one row each: what `byline eval
//! --errors FILE` writes, to read a model's mistakes rather than only count them.
//!
//! Documents are paired by id, as for the scores. Within a document:
//!
//! * **Entities.** A prediction with a gold entity's span and label is right (each gold entity
//!   matched at most once, as in the scores). Of the rest, a prediction over exactly a gold
//!   entity's span is a **label** error; then predictions and gold entities that share text are
//!   paired as **boundary** errors, largest shared stretch first; what is left is **missed**
//!   (gold) or **spurious** (predicted).
//! * **Contents, sources and cues**, each role on its own: the role's mentions of all
//!   attributions, matched exactly as the exact-span scores match them (same pieces); the others
//!   are paired as boundary errors by shared text, then missed or spurious, as for entities.
//! * **Attributions.** Gold and predicted attributions are paired by content (Dice ≥ 0.5 over
//!   tokens, as for attribution F1, whatever the source); a pair whose sources differ is a
//!   **source** error: the quote was found, its speaker was not. Contents not found are already
//!   the content rows' missed ones.
//!
//! Offsets are code points, as in byline's JSONL; a mention of several pieces runs from its
//! first piece's start to its last piece's end, its text the pieces joined by a space.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::io::{self, Write};

use super::attribution::DocTokens;
use super::pair_documents;
use crate::document::{Attribution, Document, Mention};
use crate::error::Result;
use crate::span::{OffsetMap, Span};
use crate::tokenize::tokenize;

/// What a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    Entity,
    Content,
    Source,
    Cue,
    Attribution,
}

impl Layer {
    pub const ALL: [Layer; 5] = [
        Layer::Entity,
        Layer::Content,
        Layer::Source,
        Layer::Cue,
        Layer::Attribution,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Layer::Entity => "entity",
            Layer::Content => "content",
            Layer::Source => "source",
            Layer::Cue => "cue",
            Layer::Attribution => "attribution",
        }
    }
}

/// How the prediction disagrees with the gold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// In the gold, with nothing predicted over it.
    Missed,
    /// Predicted over nothing of the gold.
    Spurious,
    /// Predicted over part of a gold mention, with other ends.
    Boundary,
    /// An entity's span right, its type wrong.
    Label,
    /// A quote found (content Dice ≥ 0.5) with another source, or none where the gold has one
    /// (or the other way round).
    Source,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 5] = [
        ErrorKind::Missed,
        ErrorKind::Spurious,
        ErrorKind::Boundary,
        ErrorKind::Label,
        ErrorKind::Source,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Missed => "missed",
            ErrorKind::Spurious => "spurious",
            ErrorKind::Boundary => "boundary",
            ErrorKind::Label => "label",
            ErrorKind::Source => "source",
        }
    }
}

/// One side of a row: a mention, in code points, with its label (an entity's type) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub start: usize,
    pub end: usize,
    pub label: String,
    pub text: String,
}

/// One disagreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRow {
    pub document: String,
    pub layer: Layer,
    pub error: ErrorKind,
    /// Absent for spurious rows, and for a source row whose gold quote has no source.
    pub gold: Option<Item>,
    /// Absent for missed rows, and for a source row whose predicted quote has no source.
    pub pred: Option<Item>,
    /// For sources, cues and attributions: the gold quote's content (the predicted one's when
    /// there is no gold quote).
    pub content: Option<String>,
}

/// The columns of [`write_tsv`].
pub const TSV_HEADER: &str = "document\tlayer\terror\tgold_start\tgold_end\tgold_label\t\
                              gold_text\tpred_start\tpred_end\tpred_label\tpred_text\tcontent";

/// Every disagreement of `pred` with `gold` (see the [module docs](self)), document by document
/// in the gold's order, each document's rows by layer, then by position. A gold without any
/// entity (PolNeAR) is not scored on entities, and one without any attribution (CoNLL-2003) not
/// on quotes: what it does not annotate is not an error.
pub fn errors(gold: &[Document], pred: &[Document]) -> Result<Vec<ErrorRow>> {
    let entities = gold.iter().any(|d| !d.entities.is_empty());
    let quotes = gold.iter().any(|d| !d.attributions.is_empty());
    let mut rows = Vec::new();
    for (g, p) in pair_documents(gold, pred)? {
        let doc = DocErrors::new(g, p);
        let mut these = Vec::new();
        if entities {
            these.extend(doc.entities());
        }
        if quotes {
            for layer in [Layer::Content, Layer::Source, Layer::Cue] {
                these.extend(doc.role(layer));
            }
            these.extend(doc.sources());
        }
        these.sort_by_key(|r| (r.layer, position(r)));
        rows.extend(these);
    }
    Ok(rows)
}

fn position(row: &ErrorRow) -> (usize, usize) {
    let item = row.gold.as_ref().or(row.pred.as_ref());
    item.map_or((0, 0), |i| (i.start, i.end))
}

/// Writes `rows` as tab-separated values under [`TSV_HEADER`]; tabs and line breaks inside a
/// text become spaces.
pub fn write_tsv(rows: &[ErrorRow], mut out: impl Write) -> io::Result<()> {
    writeln!(out, "{TSV_HEADER}")?;
    for r in rows {
        write!(
            out,
            "{}\t{}\t{}",
            clean(&r.document),
            r.layer.name(),
            r.error.name()
        )?;
        for item in [&r.gold, &r.pred] {
            match item {
                Some(i) => write!(
                    out,
                    "\t{}\t{}\t{}\t{}",
                    i.start,
                    i.end,
                    clean(&i.label),
                    clean(&i.text)
                )?,
                None => write!(out, "\t\t\t\t")?,
            }
        }
        writeln!(out, "\t{}", clean(r.content.as_deref().unwrap_or("")))?;
    }
    Ok(())
}

fn clean(s: &str) -> String {
    s.replace(['\t', '\n', '\r'], " ")
}

/// How many rows of each layer and kind: the summary `byline eval --errors` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorCounts(pub std::collections::BTreeMap<(Layer, ErrorKind), usize>);

impl ErrorCounts {
    pub fn of(rows: &[ErrorRow]) -> Self {
        let mut counts = std::collections::BTreeMap::new();
        for r in rows {
            *counts.entry((r.layer, r.error)).or_default() += 1;
        }
        ErrorCounts(counts)
    }
}

impl fmt::Display for ErrorCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<12}", "errors")?;
        for kind in ErrorKind::ALL {
            write!(f, " {:>9}", kind.name())?;
        }
        writeln!(f)?;
        for layer in Layer::ALL {
            let of = |k| self.0.get(&(layer, k)).copied().unwrap_or(0);
            if ErrorKind::ALL.iter().all(|&k| of(k) == 0) {
                continue;
            }
            write!(f, "{:<12}", layer.name())?;
            for kind in ErrorKind::ALL {
                write!(f, " {:>9}", of(kind))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// A mention of one side, before it becomes an [`Item`].
struct Found<'a> {
    mention: Mention,
    label: &'a str,
    /// The content of the attribution it belongs to (roles), for context.
    content: Option<&'a Mention>,
}

struct DocErrors<'a> {
    gold: &'a Document,
    pred: &'a Document,
    offsets: OffsetMap,
    tokens: Cow<'a, [Span]>,
}

impl<'a> DocErrors<'a> {
    fn new(gold: &'a Document, pred: &'a Document) -> Self {
        DocErrors {
            gold,
            pred,
            offsets: OffsetMap::new(&gold.text),
            tokens: if gold.tokens.is_empty() {
                Cow::Owned(tokenize(&gold.text))
            } else {
                Cow::Borrowed(&gold.tokens)
            },
        }
    }

    fn item(&self, mention: &Mention, label: &str) -> Item {
        let extent = mention.extent().unwrap_or(Span::new(0, 0));
        let (start, end) = self.offsets.span_to_chars(extent).unwrap_or((0, 0));
        Item {
            start,
            end,
            label: label.to_string(),
            text: mention.text(&self.gold.text).unwrap_or_default(),
        }
    }

    fn text(&self, mention: Option<&Mention>) -> Option<String> {
        mention.and_then(|m| m.text(&self.gold.text))
    }

    fn entities(&self) -> Vec<ErrorRow> {
        let found = |d: &'a Document| -> Vec<Found<'a>> {
            d.entities
                .iter()
                .map(|e| Found {
                    mention: Mention::single(e.span),
                    label: &e.label,
                    content: None,
                })
                .collect()
        };
        self.compare(Layer::Entity, found(self.gold), found(self.pred), true)
    }

    fn role(&self, layer: Layer) -> Vec<ErrorRow> {
        let found = |d: &'a Document| -> Vec<Found<'a>> {
            d.attributions
                .iter()
                .filter_map(|a| {
                    let mention = match layer {
                        Layer::Content => Some(&a.content),
                        Layer::Source => a.source.as_ref(),
                        Layer::Cue => a.cue.as_ref(),
                        _ => None,
                    }?;
                    Some(Found {
                        mention: mention.clone(),
                        label: "",
                        content: (layer != Layer::Content).then_some(&a.content),
                    })
                })
                .collect()
        };
        self.compare(layer, found(self.gold), found(self.pred), false)
    }

    /// Matches `gold` against `pred`: exact (mention and label) first, then same mention with
    /// another label when `labels`, then boundary pairs by shared bytes; the rest missed or
    /// spurious.
    fn compare(
        &self,
        layer: Layer,
        gold: Vec<Found<'a>>,
        pred: Vec<Found<'a>>,
        labels: bool,
    ) -> Vec<ErrorRow> {
        let mut gold_used = vec![false; gold.len()];
        let mut pred_used = vec![false; pred.len()];
        let mut rows = Vec::new();
        pair_equal(
            &gold,
            &pred,
            |f| (&f.mention, f.label),
            &mut gold_used,
            &mut pred_used,
        );
        if labels {
            let same_span =
                pair_equal(&gold, &pred, |f| &f.mention, &mut gold_used, &mut pred_used);
            for (gi, pi) in same_span {
                rows.push(self.row(layer, ErrorKind::Label, &gold[gi], &pred[pi]));
            }
        }
        let overlaps = overlapping(&gold, &pred, &gold_used, &pred_used);
        for (_, gi, pi) in overlaps {
            if !gold_used[gi] && !pred_used[pi] {
                gold_used[gi] = true;
                pred_used[pi] = true;
                rows.push(self.row(layer, ErrorKind::Boundary, &gold[gi], &pred[pi]));
            }
        }
        for (g, _) in gold.iter().zip(&gold_used).filter(|(_, used)| !**used) {
            rows.push(ErrorRow {
                document: self.gold.id.clone(),
                layer,
                error: ErrorKind::Missed,
                gold: Some(self.item(&g.mention, g.label)),
                pred: None,
                content: self.text(g.content),
            });
        }
        for (p, _) in pred.iter().zip(&pred_used).filter(|(_, used)| !**used) {
            rows.push(ErrorRow {
                document: self.gold.id.clone(),
                layer,
                error: ErrorKind::Spurious,
                gold: None,
                pred: Some(self.item(&p.mention, p.label)),
                content: self.text(p.content),
            });
        }
        rows
    }

    fn row(&self, layer: Layer, error: ErrorKind, g: &Found<'_>, p: &Found<'_>) -> ErrorRow {
        ErrorRow {
            document: self.gold.id.clone(),
            layer,
            error,
            gold: Some(self.item(&g.mention, g.label)),
            pred: Some(self.item(&p.mention, p.label)),
            content: self.text(g.content),
        }
    }

    /// Quotes found with another source: gold and predicted attributions paired by content
    /// Dice, as [`super::attribution`]'s speaker figure pairs them.
    fn sources(&self) -> Vec<ErrorRow> {
        let gold: Vec<&Attribution> = self.gold.attributions.iter().collect();
        let pred: Vec<&Attribution> = self.pred.attributions.iter().collect();
        let doc = DocTokens {
            tokens: &self.tokens,
        };
        let mut rows = Vec::new();
        for (gi, pi) in doc.pair_contents(&gold, &pred, |_, _| true) {
            let (ga, pa) = (gold[gi], pred[pi]);
            if ga.source != pa.source {
                rows.push(ErrorRow {
                    document: self.gold.id.clone(),
                    layer: Layer::Attribution,
                    error: ErrorKind::Source,
                    gold: ga.source.as_ref().map(|m| self.item(m, "")),
                    pred: pa.source.as_ref().map(|m| self.item(m, "")),
                    content: self.text(Some(&ga.content)),
                });
            }
        }
        rows
    }
}

/// Pairs each unused gold item, in order, with the first unused prediction of the same `key`,
/// marking both used; returns the pairs.
fn pair_equal<'f, K: Eq + Hash>(
    gold: &'f [Found<'_>],
    pred: &'f [Found<'_>],
    key: impl Fn(&'f Found<'_>) -> K,
    gold_used: &mut [bool],
    pred_used: &mut [bool],
) -> Vec<(usize, usize)> {
    let mut waiting: HashMap<K, VecDeque<usize>> = HashMap::new();
    for (pi, p) in pred.iter().enumerate().filter(|&(pi, _)| !pred_used[pi]) {
        waiting.entry(key(p)).or_default().push_back(pi);
    }
    let mut pairs = Vec::new();
    for (gi, g) in gold.iter().enumerate() {
        if gold_used[gi] {
            continue;
        }
        if let Some(pi) = waiting.get_mut(&key(g)).and_then(VecDeque::pop_front) {
            gold_used[gi] = true;
            pred_used[pi] = true;
            pairs.push((gi, pi));
        }
    }
    pairs
}

/// `(shared bytes, gold, prediction)` for every unused gold item and unused prediction that
/// share text, largest first (ties: earlier gold, then earlier prediction). Predictions are
/// swept by start, so each gold item meets only those whose extent can reach its own.
fn overlapping(
    gold: &[Found<'_>],
    pred: &[Found<'_>],
    gold_used: &[bool],
    pred_used: &[bool],
) -> Vec<(usize, usize, usize)> {
    let extent = |f: &Found<'_>| f.mention.extent().unwrap_or(Span::new(0, 0));
    let mut by_start: Vec<usize> = (0..pred.len()).filter(|&pi| !pred_used[pi]).collect();
    by_start.sort_by_key(|&pi| extent(&pred[pi]).start);
    let longest = by_start
        .iter()
        .map(|&pi| extent(&pred[pi]).len())
        .max()
        .unwrap_or(0);
    let mut out = Vec::new();
    for (gi, g) in gold.iter().enumerate().filter(|&(gi, _)| !gold_used[gi]) {
        let span = extent(g);
        let from = span.start.saturating_sub(longest);
        let first = by_start.partition_point(|&pi| extent(&pred[pi]).start < from);
        for &pi in &by_start[first..] {
            if extent(&pred[pi]).start >= span.end {
                break;
            }
            let shared = shared_bytes(&g.mention, &pred[pi].mention);
            if shared > 0 {
                out.push((shared, gi, pi));
            }
        }
    }
    out.sort_by(|a, b| b.0.cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    out
}

/// Bytes the pieces of `a` and `b` share.
fn shared_bytes(a: &Mention, b: &Mention) -> usize {
    let mut n = 0;
    for x in &a.pieces {
        for y in &b.pieces {
            n += x.end.min(y.end).saturating_sub(x.start.max(y.start));
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Entity;

    fn find(text: &str, needle: &str) -> Span {
        let start = text.find(needle).unwrap_or_else(|| panic!("{needle:?}"));
        Span::new(start, start + needle.len())
    }

    fn entity(text: &str, needle: &str, label: &str) -> Entity {
        Entity {
            span: find(text, needle),
            label: label.into(),
            score: None,
        }
    }

    fn quote(text: &str, content: &str, cue: &str, source: Option<&str>) -> Attribution {
        Attribution {
            content: Mention::single(find(text, content)),
            cue: Some(Mention::single(find(text, cue))),
            source: source.map(|s| Mention::single(find(text, s))),
        }
    }

    fn kinds(rows: &[ErrorRow]) -> Vec<(&str, &str, Option<&str>, Option<&str>)> {
        rows.iter()
            .map(|r| {
                (
                    r.layer.name(),
                    r.error.name(),
                    r.gold.as_ref().map(|i| i.text.as_str()),
                    r.pred.as_ref().map(|i| i.text.as_str()),
                )
            })
            .collect()
    }

    const TEXT: &str = "Mayor Elena Kowalski met Northgate Engineering in Portsmouth. \
                        Rotterdam stayed quiet. The bridge will open in spring, she said.";

    #[test]
    fn entities_are_right_or_missed_spurious_boundary_or_label() {
        let mut gold = Document::new("d", TEXT);
        gold.entities = vec![
            entity(TEXT, "Elena Kowalski", "PER"),
            entity(TEXT, "Northgate Engineering", "ORG"),
            entity(TEXT, "Portsmouth", "LOC"),
            entity(TEXT, "Rotterdam", "LOC"),
        ];
        let mut pred = Document::new("d", TEXT);
        pred.entities = vec![
            entity(TEXT, "Mayor Elena Kowalski", "PER"),
            entity(TEXT, "Northgate Engineering", "PER"),
            entity(TEXT, "Portsmouth", "LOC"),
            entity(TEXT, "The bridge", "MISC"),
        ];
        let rows = errors(&[gold], &[pred]).unwrap();
        assert_eq!(
            kinds(&rows),
            [
                (
                    "entity",
                    "boundary",
                    Some("Elena Kowalski"),
                    Some("Mayor Elena Kowalski")
                ),
                (
                    "entity",
                    "label",
                    Some("Northgate Engineering"),
                    Some("Northgate Engineering")
                ),
                ("entity", "missed", Some("Rotterdam"), None),
                ("entity", "spurious", None, Some("The bridge")),
            ]
        );
        assert_eq!(rows[1].gold.as_ref().unwrap().label, "ORG");
        assert_eq!(rows[1].pred.as_ref().unwrap().label, "PER");
        // Counts in the summary.
        let counts = ErrorCounts::of(&rows);
        assert_eq!(counts.0[&(Layer::Entity, ErrorKind::Missed)], 1);
        assert!(counts
            .to_string()
            .contains("entity               1         1         1         1         0"));
    }

    #[test]
    fn quotes_found_with_another_speaker_are_source_errors() {
        let text = "Kowalski said the bridge would open in spring. \
                    Achebe told reporters that the council had ignored warnings.";
        let mut gold = Document::new("d", text);
        gold.attributions = vec![
            quote(
                text,
                "the bridge would open in spring",
                "said",
                Some("Kowalski"),
            ),
            quote(
                text,
                "that the council had ignored warnings",
                "told",
                Some("Achebe"),
            ),
        ];
        let mut pred = Document::new("d", text);
        pred.attributions = vec![
            // Content a word short (Dice ≥ 0.5), source right: a content boundary row only.
            quote(text, "the bridge would open", "said", Some("Kowalski")),
            // Content right, no source: a source row (gold Achebe, none predicted) and the
            // source role's missed row.
            quote(
                text,
                "that the council had ignored warnings",
                "told reporters",
                None,
            ),
        ];
        let rows = errors(&[gold], &[pred]).unwrap();
        assert_eq!(
            kinds(&rows),
            [
                (
                    "content",
                    "boundary",
                    Some("the bridge would open in spring"),
                    Some("the bridge would open")
                ),
                ("source", "missed", Some("Achebe"), None),
                ("cue", "boundary", Some("told"), Some("told reporters")),
                ("attribution", "source", Some("Achebe"), None),
            ]
        );
        assert_eq!(
            rows[1].content.as_deref(),
            Some("that the council had ignored warnings")
        );
        // Offsets are code points and the TSV has one line per row under the header.
        let mut tsv = Vec::new();
        write_tsv(&rows, &mut tsv).unwrap();
        let tsv = String::from_utf8(tsv).unwrap();
        let lines: Vec<&str> = tsv.lines().collect();
        assert_eq!(lines[0], TSV_HEADER);
        assert_eq!(lines.len(), rows.len() + 1);
        assert_eq!(
            lines[4],
            "d\tattribution\tsource\t47\t53\t\tAchebe\t\t\t\t\tthat the council had ignored warnings"
        );
    }

    #[test]
    fn offsets_are_code_points_and_texts_lose_tabs_and_line_breaks() {
        let text = "José said:\n“Aquí\testamos.”";
        let mut gold = Document::new("d", text);
        gold.entities = vec![entity(text, "José", "PER")];
        gold.attributions = vec![quote(text, "“Aquí\testamos.”", "said", Some("José"))];
        let pred = Document::new("d", text);
        let rows = errors(&[gold], &[pred]).unwrap();
        let content = rows
            .iter()
            .find(|r| r.layer == Layer::Content)
            .and_then(|r| r.gold.clone())
            .unwrap();
        assert_eq!((content.start, content.end), (11, 26));
        let mut tsv = Vec::new();
        write_tsv(&rows, &mut tsv).unwrap();
        let tsv = String::from_utf8(tsv).unwrap();
        assert!(tsv.contains("\t11\t26\t\t“Aquí estamos.”\t"), "{tsv}");
        assert!(tsv.lines().all(|l| l.split('\t').count() == 12), "{tsv}");
    }

    #[test]
    fn layers_the_gold_does_not_annotate_are_not_errors() {
        let text = "Kowalski said the bridge would open in spring.";
        let mut tagged = Document::new("d", text);
        tagged.entities = vec![entity(text, "Kowalski", "PER")];
        tagged.attributions = vec![quote(text, "the bridge would open in spring", "said", None)];
        let mut quotes_only = tagged.clone();
        quotes_only.entities.clear();
        let rows = errors(&[quotes_only.clone()], &[tagged.clone()]).unwrap();
        assert!(rows.is_empty(), "{rows:?}");
        let mut entities_only = tagged.clone();
        entities_only.attributions.clear();
        assert!(errors(&[entities_only], &[tagged.clone()])
            .unwrap()
            .is_empty());
        // A gold that annotates entities somewhere counts a document without any.
        let mut other = Document::new("e", "Achebe left.");
        other.entities = vec![entity("Achebe left.", "Achebe", "PER")];
        let rows = errors(&[quotes_only, other.clone()], &[tagged, other]).unwrap();
        assert_eq!(
            kinds(&rows),
            [("entity", "spurious", None, Some("Kowalski"))]
        );
    }

    #[test]
    fn equal_documents_have_no_errors() {
        let text = "Kowalski said the bridge would open in spring.";
        let mut gold = Document::new("d", text);
        gold.entities = vec![entity(text, "Kowalski", "PER")];
        gold.attributions = vec![quote(
            text,
            "the bridge would open in spring",
            "said",
            Some("Kowalski"),
        )];
        assert!(errors(&[gold.clone()], &[gold]).unwrap().is_empty());
    }
}
