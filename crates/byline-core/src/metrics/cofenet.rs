//! CofeNet-style attribution scores: exact-span F1 per role over CofeNet's rows.
//!
//! CofeNet (Wang et al., COLING 2022) scores quote extraction on PolNeAR cut into rows (a
//! sentence or paragraph of an article each), tokenised by CoreNLP, with BIO labels over
//! `source`, `cue` and `content`; a predicted chunk counts when its role and its first and last
//! tokens equal a gold chunk's. This module scores byline's output (documents with predicted
//! attributions over the article text) on those rows, so that a dev figure is computed exactly
//! as CofeNet computes theirs:
//!
//! 1. **Rows** are read from CofeNet's JSONL (`tokens`, `labels`, `id` =
//!    `<article>_<annotator>`; [`read_rows`]). Every row counts, as in CofeNet's evaluation: an
//!    article annotated by several annotators comes once per annotator.
//! 2. **Alignment.** Each row is laid over the predicted document of its article (its id is the
//!    article name). CofeNet's rows do not cover every sentence, and their text differs from
//!    the article's here and there, so a row is first anchored: it starts where its first
//!    [`ANCHOR_TOKENS`] tokens follow one another in the text (looked for after the previous
//!    row of the same annotator, then from the text's start). Its tokens are then found one
//!    after the other, each within [`SEARCH_CHARS`] characters of the previous one: CoreNLP's
//!    PTB forms are read back (`` `` `` and `''` as quotes of any kind, `-LRB-` as `(`, `--`
//!    as a dash, `\/` as `/`), and curly and straight quotes and apostrophes are alike. A
//!    token not found is left unaligned (role `O`; counted in
//!    [`CofenetScores::unaligned_tokens`]), as are a row's tokens when no anchor is found
//!    (counted in [`CofenetScores::unanchored_rows`]).
//! 3. **Predicted labels.** A token takes the role of a predicted span it overlaps; where
//!    spans nest (a source inside another quote's content), the source or cue wins over the
//!    content, and between sources and cues the shorter span wins. A chunk begins where the span a token belongs to changes, so two adjacent
//!    contents stay two chunks.
//! 4. **Chunks** are read per row from BIO labels (an `I-` without its `B-` opens a chunk, as
//!    `conlleval` reads it) and matched exactly; precision, recall and F1 per role are micro
//!    averages over all rows.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::document::Document;
use crate::error::{Error, Result};
use crate::metrics::{Counts, Row as MetricRow, Table};

/// How far past the previous token (in characters) a token of the same row is looked for.
pub const SEARCH_CHARS: usize = 60;

/// A row starts where its first [`ANCHOR_TOKENS`] tokens follow one another in the text, at
/// most [`ANCHOR_GAP`] characters apart.
pub const ANCHOR_TOKENS: usize = 4;
/// See [`ANCHOR_TOKENS`].
pub const ANCHOR_GAP: usize = 3;

/// The three roles, in CofeNet's label names.
pub const ROLES: [&str; 3] = ["source", "cue", "content"];

/// One of CofeNet's rows: a sentence or paragraph of one annotator's article.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Row {
    /// `<article>_<annotator>`.
    pub id: String,
    pub tokens: Vec<String>,
    /// BIO over `source`, `cue`, `content`, one per token.
    pub labels: Vec<String>,
}

impl Row {
    /// The article name: the id without its `_<annotator>` suffix.
    pub fn article(&self) -> &str {
        self.id.rsplit_once('_').map_or(&self.id, |(a, _)| a)
    }
}

/// Reads CofeNet's rows (one JSON object per line; other fields such as `pos` and `ner` are
/// ignored). Errors name the file, the line and what is wrong.
pub fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let bad = |line: usize, reason: String| Error::InvalidDocument {
        document: format!("{}:{line}", path.display()),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut rows = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let n = i + 1;
        let line = line.map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let row: Row = serde_json::from_str(&line)
            .map_err(|e| bad(n, format!("not a CofeNet row (tokens, labels, id): {e}")))?;
        if row.tokens.len() != row.labels.len() {
            return Err(bad(
                n,
                format!(
                    "{} tokens but {} labels",
                    row.tokens.len(),
                    row.labels.len()
                ),
            ));
        }
        if let Some(l) = row.labels.iter().find(|l| parse_label(l).is_none()) {
            return Err(bad(
                n,
                format!("label {l:?} is not O or B-/I- of source, cue, content"),
            ));
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(rows)
}

/// `O` → `Some(None)`; `B-source` → `Some(Some((true, 0)))`; anything else → `None`.
fn parse_label(label: &str) -> Option<Option<(bool, usize)>> {
    if label == "O" {
        return Some(None);
    }
    let (prefix, role) = label.split_once('-')?;
    let begin = match prefix {
        "B" => true,
        "I" => false,
        _ => return None,
    };
    Some(Some((begin, ROLES.iter().position(|r| *r == role)?)))
}

/// Chunks (role, first token, last token) of a row's BIO labels, read as `conlleval` does.
fn chunks(labels: &[Option<(bool, usize)>]) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let mut open: Option<(usize, usize)> = None; // (role, first)
    for (i, l) in labels.iter().enumerate() {
        let continues = matches!((l, open), (Some((false, r)), Some((o, _))) if *r == o);
        if !continues {
            if let Some((role, first)) = open.take() {
                out.push((role, first, i - 1));
            }
            if let Some((_, role)) = l {
                open = Some((*role, i));
            }
        }
    }
    if let Some((role, first)) = open {
        out.push((role, first, labels.len() - 1));
    }
    out
}

/// The scores, per role, and what alignment found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CofenetScores {
    pub rows: usize,
    pub tokens: usize,
    /// Tokens not found in the predicted document's text (scored as `O`).
    pub unaligned_tokens: usize,
    /// Rows whose start could not be found (their tokens are looked for from the end of the
    /// previous row).
    pub unanchored_rows: usize,
    pub source: Counts,
    pub cue: Counts,
    pub content: Counts,
}

impl CofenetScores {
    /// The counts of role `r` (an index into [`ROLES`]).
    pub fn role(&self, r: usize) -> Counts {
        [self.source, self.cue, self.content][r]
    }

    /// The scores as a table: one row per role.
    pub fn table(&self) -> Table {
        Table {
            title: format!(
                "CofeNet-style rows (exact span per role; {} rows, {} tokens, {} not found in \
                 the text, {} rows not anchored)",
                self.rows, self.tokens, self.unaligned_tokens, self.unanchored_rows
            ),
            rows: ROLES
                .iter()
                .enumerate()
                .map(|(r, name)| MetricRow::from_counts(format!("{name} exact"), self.role(r)))
                .collect(),
        }
    }
}

/// Scores predicted documents (ids = article names) on CofeNet's `rows`. Every row's article
/// must be among `pred`.
pub fn evaluate_cofenet(rows: &[Row], pred: &[Document]) -> Result<CofenetScores> {
    // Each document with its predicted role spans, computed once for all its rows.
    let by_id: HashMap<&str, (&Document, Vec<RoleSpan>)> = pred
        .iter()
        .map(|d| (d.id.as_str(), (d, predicted_spans(d))))
        .collect();
    let mut counts = [Counts::default(); 3];
    let (mut tokens, mut unaligned, mut unanchored) = (0, 0, 0);
    // Rows of one annotation file follow one another; each file starts at its text's start.
    let mut cursor = 0;
    let mut current: Option<&str> = None;
    for row in rows {
        let (doc, spans) = by_id
            .get(row.article())
            .ok_or_else(|| Error::UnpairedDocument {
                id: row.article().to_string(),
                side: crate::error::Side::Gold,
            })?;
        if current != Some(row.id.as_str()) {
            current = Some(row.id.as_str());
            cursor = 0;
        }
        match row_start(&doc.text, cursor, &row.tokens) {
            Some(start) => cursor = start,
            None => unanchored += 1,
        }
        let mut predicted = Vec::with_capacity(row.tokens.len());
        let mut previous: Option<usize> = None; // the span the previous token belonged to
        for token in &row.tokens {
            tokens += 1;
            let label = match find_token(&doc.text, cursor, token) {
                Some((start, end)) => {
                    cursor = end;
                    let hit = spans
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| s.start < end && start < s.end)
                        .min_by_key(|(_, s)| (s.priority, s.end - s.start, s.start))
                        .map(|(i, s)| (i, s.role));
                    let label = hit.map(|(i, role)| (previous != Some(i), role));
                    previous = hit.map(|(i, _)| i);
                    label
                }
                None => {
                    unaligned += 1;
                    previous = None;
                    None
                }
            };
            predicted.push(label);
        }
        let gold: Vec<_> = row
            .labels
            .iter()
            .map(|l| parse_label(l).flatten())
            .collect();
        let (g, p) = (chunks(&gold), chunks(&predicted));
        for (r, c) in counts.iter_mut().enumerate() {
            c.gold += g.iter().filter(|x| x.0 == r).count();
            c.predicted += p.iter().filter(|x| x.0 == r).count();
            c.correct += p.iter().filter(|x| x.0 == r && g.contains(x)).count();
        }
    }
    Ok(CofenetScores {
        rows: rows.len(),
        tokens,
        unaligned_tokens: unaligned,
        unanchored_rows: unanchored,
        source: counts[0],
        cue: counts[1],
        content: counts[2],
    })
}

/// One predicted role span (a piece of a mention), with the byte range it covers.
#[derive(Debug, Clone, Copy)]
struct RoleSpan {
    start: usize,
    end: usize,
    role: usize,
    /// Lower wins where spans overlap: sources and cues over contents (then the shorter).
    priority: u8,
}

fn predicted_spans(doc: &Document) -> Vec<RoleSpan> {
    let mut out = Vec::new();
    for a in &doc.attributions {
        let mentions = [
            (a.source.as_ref(), 0, 0u8),
            (a.cue.as_ref(), 1, 0),
            (Some(&a.content), 2, 1),
        ];
        for (m, role, priority) in mentions {
            for p in m.iter().flat_map(|m| &m.pieces) {
                out.push(RoleSpan {
                    start: p.start,
                    end: p.end,
                    role,
                    priority,
                });
            }
        }
    }
    out
}

/// The forms a CoreNLP token may take in the original text.
fn forms(token: &str) -> Vec<String> {
    let direct = match token {
        "``" | "''" => vec!["\"", "``", "''", "'"],
        "`" => vec!["'", "`"],
        "-LRB-" => vec!["("],
        "-RRB-" => vec![")"],
        "-LSB-" => vec!["["],
        "-RSB-" => vec!["]"],
        "-LCB-" => vec!["{"],
        "-RCB-" => vec!["}"],
        "--" => vec!["--", "—", "–", "-"],
        "..." => vec!["...", "…", ". . ."],
        _ => vec![],
    };
    let mut out: Vec<String> = direct.into_iter().map(String::from).collect();
    out.push(token.replace("\\/", "/").replace("\\*", "*"));
    out
}

/// Quotes and apostrophes of every kind are alike.
fn same_char(a: char, b: char) -> bool {
    let class = |c: char| match c {
        '"' | '“' | '”' | '„' | '«' | '»' => '"',
        '\'' | '‘' | '’' | '`' | '´' => '\'',
        c => c,
    };
    class(a) == class(b)
}

/// Where `form` matches `text` at byte `at`: the end byte.
fn match_at(text: &str, at: usize, form: &str) -> Option<usize> {
    let mut t = text[at..].char_indices();
    for f in form.chars() {
        let (_, c) = t.next()?;
        if !same_char(c, f) {
            return None;
        }
    }
    Some(t.next().map_or(text.len(), |(i, _)| at + i))
}

/// The byte range of `token` in `text` at or after byte `from`: the first place within
/// [`SEARCH_CHARS`] characters where one of its [`forms`] matches.
fn find_token(text: &str, from: usize, token: &str) -> Option<(usize, usize)> {
    find_within(text, from, token, SEARCH_CHARS)
}

fn find_within(text: &str, from: usize, token: &str, chars: usize) -> Option<(usize, usize)> {
    let forms = forms(token);
    let from = from.min(text.len());
    for (i, _) in text[from..].char_indices().take(chars) {
        let at = from + i;
        if let Some(end) = forms.iter().find_map(|f| match_at(text, at, f)) {
            return Some((at, end));
        }
    }
    None
}

/// Where the row of `tokens` starts in `text`: the first byte, at or after `from` and else
/// before it, where its first [`ANCHOR_TOKENS`] tokens follow one another at most
/// [`ANCHOR_GAP`] characters apart.
fn row_start(text: &str, from: usize, tokens: &[String]) -> Option<usize> {
    let (first, rest) = tokens.split_first()?;
    let rest = &rest[..rest.len().min(ANCHOR_TOKENS - 1)];
    let first_forms = forms(first);
    let from = from.min(text.len());
    let starts = text[from..]
        .char_indices()
        .map(|(i, _)| from + i)
        .chain(text[..from].char_indices().map(|(i, _)| i));
    starts.into_iter().find(|&at| {
        let Some(mut end) = first_forms.iter().find_map(|f| match_at(text, at, f)) else {
            return false;
        };
        rest.iter()
            .all(|t| match find_within(text, end, t, ANCHOR_GAP + 1) {
                Some((_, e)) => {
                    end = e;
                    true
                }
                None => false,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribution, Mention, Span};

    fn row(id: &str, tokens: &str, labels: &str) -> Row {
        Row {
            id: id.into(),
            tokens: tokens.split(' ').map(String::from).collect(),
            labels: labels.split(' ').map(String::from).collect(),
        }
    }

    fn span(text: &str, needle: &str) -> Span {
        let s = text.find(needle).unwrap();
        Span::new(s, s + needle.len())
    }

    #[test]
    fn ptb_tokens_align_with_the_text() {
        let text = "“We won’t (ever) quit — no…” said Smith.";
        let toks = [
            "``", "We", "wo", "n't", "-LRB-", "ever", "-RRB-", "quit", "--", "no", "...", "''",
            "said", "Smith", ".",
        ];
        let mut at = 0;
        for t in toks {
            let (s, e) = find_token(text, at, t).unwrap_or_else(|| panic!("{t}"));
            assert!(s >= at, "{t}");
            at = e;
        }
        assert_eq!(at, text.len());
    }

    #[test]
    fn exact_chunks_per_role() {
        let text = "\"We will win,\" Smith said. Jones agreed.";
        let mut doc = Document::new("art", text);
        doc.attributions.push(Attribution {
            content: Mention::single(span(text, "We will win,")),
            cue: Some(Mention::single(span(text, "said"))),
            source: Some(Mention::single(span(text, "Smith said"))), // too long
        });
        let rows = [
            row(
                "art_4b22",
                "`` We will win , '' Smith said .",
                "O B-content I-content I-content I-content O B-source B-cue O",
            ),
            row("art_4b22", "Jones agreed .", "B-source O O"),
        ];
        let s = evaluate_cofenet(&rows, &[doc]).unwrap();
        assert_eq!(s.unaligned_tokens, 0);
        assert_eq!(s.content, Counts::new(1, 1, 1));
        // The source span covers "said" too, but the cue wins there: source = "Smith" exactly.
        assert_eq!(s.source, Counts::new(1, 1, 2));
        assert_eq!(s.cue, Counts::new(1, 1, 1));
    }

    #[test]
    fn rows_are_anchored_past_text_they_skip() {
        // The rows skip the first sentence, whose common words would otherwise pull the
        // tokens of the first row away from where that row is.
        let text = "The end of the intro, said the man, is the end. Smith said the plan works. \
                    Jones said it fails.";
        let mut doc = Document::new("art", text);
        doc.attributions.push(Attribution {
            content: Mention::single(span(text, "it fails")),
            cue: Some(Mention::single({
                let s = span(text, "said it");
                Span::new(s.start, s.start + 4)
            })),
            source: Some(Mention::single(span(text, "Jones"))),
        });
        let rows = [
            row("art_1", "Smith said the plan works .", "O O O O O O"),
            row(
                "art_1",
                "Jones said it fails .",
                "B-source B-cue B-content I-content O",
            ),
        ];
        let s = evaluate_cofenet(&rows, &[doc]).unwrap();
        assert_eq!((s.unaligned_tokens, s.unanchored_rows), (0, 0));
        assert_eq!(s.source, Counts::new(1, 1, 1));
        assert_eq!(s.content, Counts::new(1, 1, 1));
        assert_eq!(s.cue, Counts::new(1, 1, 1));
    }

    #[test]
    fn adjacent_spans_stay_two_chunks_and_lenient_i_opens_one() {
        let text = "a b c d";
        let mut doc = Document::new("x", text);
        for w in ["a b", "c d"] {
            doc.attributions.push(Attribution {
                content: Mention::single(span(text, w)),
                cue: None,
                source: None,
            });
        }
        let rows = [row(
            "x_1",
            "a b c d",
            "I-content I-content B-content I-content",
        )];
        let s = evaluate_cofenet(&rows, &[doc]).unwrap();
        assert_eq!(s.content, Counts::new(2, 2, 2));
    }

    #[test]
    fn bad_rows_and_missing_articles_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rows.jsonl");
        std::fs::write(
            &p,
            "{\"id\":\"a_1\",\"tokens\":[\"x\"],\"labels\":[\"B-speaker\"]}\n",
        )
        .unwrap();
        let e = read_rows(&p).unwrap_err().to_string();
        assert!(e.contains("rows.jsonl:1") && e.contains("B-speaker"), "{e}");
        let rows = [row("gone_1", "x", "O")];
        let e = evaluate_cofenet(&rows, &[]).unwrap_err().to_string();
        assert!(e.contains("gone"), "{e}");
    }
}
