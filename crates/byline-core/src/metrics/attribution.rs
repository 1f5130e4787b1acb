//! Quote-attribution metrics: how well predicted attributions (content, cue, source) match the
//! gold ones.
//!
//! All figures are micro-averaged over the documents: counts and credits are summed over all
//! documents before dividing. Token-based figures use the gold document's tokens, or
//! [`tokenize`](crate::tokenize::tokenize) of its text when it has none, for both sides. A
//! mention's tokens are the tokens that any of its pieces overlaps (by at least one byte).
//!
//! # Per role: content, source and cue, each on its own
//!
//! The mentions of a role are those of all attributions that have one (`cue` and `source` may be
//! absent).
//!
//! * **Exact**: a predicted mention is correct when a gold mention has exactly the same pieces
//!   (byte spans). Each gold mention is matched at most once. Precision = correct / predicted,
//!   recall = correct / gold.
//! * **Overlap** (the "partial" or "soft" match of the PARC attribution literature, Pareti 2016):
//!   each predicted mention `p` gets the credit `max_g |T(p) ∩ T(g)| / |T(p)|` over the gold
//!   mentions `g` of the role, where `T` is the set of tokens; precision = sum of credits /
//!   number of predicted mentions. Symmetrically each gold mention `g` gets
//!   `max_p |T(g) ∩ T(p)| / |T(g)|` over the predicted mentions; recall = sum / number of gold
//!   mentions. A mention covering no token gets credit 0. F1 = 2·P·R / (P + R).
//!
//! # Attributions
//!
//! A predicted attribution is **correct** when
//!
//! * its content overlaps the content of a gold attribution with a **Dice coefficient**
//!   `2 |T(pred) ∩ T(gold)| / (|T(pred)| + |T(gold)|)` of at least 0.5 (symmetric, so a
//!   prediction that swallows the whole paragraph does not match), and
//! * its source is exactly that gold attribution's source (same pieces), or both are absent.
//!
//! Each gold attribution is matched at most once: candidate pairs are taken in decreasing Dice
//! order (ties: earlier gold, then earlier prediction). When gold contents do not overlap each
//! other, as in PolNeAR, a prediction can reach Dice ≥ 0.5 with at most one of them, so this
//! greedy matching is also a maximum matching. The cue is not part of the criterion.
//!
//! # Direct quotes
//!
//! The same figures are computed again on direct quotes only: the gold attributions whose content
//! is a direct quote, against the predicted attributions whose content is a direct quote. A
//! content is a direct quote when every piece is wholly inside double quotation marks (`" “ ” „
//! « »`): the piece starts with an opening mark or follows one (spaces between allowed), it ends
//! with a closing mark (trailing `. , ! ? ; : …` allowed) or is followed by one (after such
//! punctuation and spaces), and there is no double quotation mark inside.
//!
//! # Direct-quote speakers
//!
//! How often the speaker of a direct quote is found, whatever else the prediction gets right.
//! Over the gold attributions whose content is a direct quote (as above) **and** that have a
//! source:
//!
//! * `quotes` is their number;
//! * each is paired with the predicted attribution (any, direct quote or not) whose content has
//!   the highest Dice coefficient with it, if that Dice is at least 0.5: pairs are taken greedily
//!   in decreasing Dice order and each predicted attribution serves at most one gold quote, as in
//!   the attribution match above but **without** the source condition; `found` is the number of
//!   gold quotes paired;
//! * `correct` is the number of paired gold quotes whose predicted source is exactly the gold
//!   source (same pieces).
//!
//! The figures are **speaker correct** = `correct / quotes` (the headline figure) and **speaker
//! correct when the quote is found** = `correct / found`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::AddAssign;

use serde::Serialize;

use super::{f1, pair_documents, ratio, Counts, Row, Table};
use crate::document::{Attribution, Document, Mention};
use crate::error::Result;
use crate::quote::is_direct_mention;
use crate::span::Span;
use crate::tokenize::tokenize;

/// The smallest content Dice coefficient at which a predicted attribution can match a gold one.
pub const CONTENT_DICE_THRESHOLD: f64 = 0.5;

/// Partial-credit counts of the overlap match (see the [module docs](self)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Overlap {
    /// Sum over predicted mentions of the fraction of their tokens in the best gold mention.
    pub precision_credit: f64,
    /// Sum over gold mentions of the fraction of their tokens in the best predicted mention.
    pub recall_credit: f64,
    pub predicted: usize,
    pub gold: usize,
}

impl Overlap {
    pub fn precision(&self) -> f64 {
        ratio(self.precision_credit, self.predicted)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.recall_credit, self.gold)
    }

    pub fn f1(&self) -> f64 {
        f1(self.precision(), self.recall())
    }

    fn row(&self, name: String) -> Row {
        Row {
            name,
            precision: self.precision(),
            recall: self.recall(),
            f1: self.f1(),
            support: self.gold,
            predicted: self.predicted,
            correct: None,
        }
    }
}

impl AddAssign for Overlap {
    fn add_assign(&mut self, o: Overlap) {
        self.precision_credit += o.precision_credit;
        self.recall_credit += o.recall_credit;
        self.predicted += o.predicted;
        self.gold += o.gold;
    }
}

/// Counts of the direct-quote speaker figure (see the [module docs](self#direct-quote-speakers)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SpeakerCounts {
    /// Gold attributions whose content is a direct quote and that have a source.
    pub quotes: usize,
    /// Those paired with a predicted attribution by content Dice.
    pub found: usize,
    /// Those paired with a predicted attribution that has exactly the gold source.
    pub correct: usize,
}

impl SpeakerCounts {
    /// Speaker correct: `correct / quotes`, `0.0` when there are no quotes.
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct as f64, self.quotes)
    }

    /// Speaker correct when the quote is found: `correct / found`, `0.0` when none is found.
    pub fn accuracy_when_found(&self) -> f64 {
        ratio(self.correct as f64, self.found)
    }

    /// The two table rows. A [`Row`] has no accuracy column, so each accuracy is shown as
    /// precision = recall = F1, from counts whose predicted and gold totals are both the
    /// denominator (`quotes`, or `found`); the support is that denominator.
    fn rows(&self) -> [Row; 2] {
        [
            Row::from_counts(
                "direct speaker correct",
                Counts::new(self.correct, self.quotes, self.quotes),
            ),
            Row::from_counts(
                "direct speaker correct (quote found)",
                Counts::new(self.correct, self.found, self.found),
            ),
        ]
    }
}

impl AddAssign for SpeakerCounts {
    fn add_assign(&mut self, o: SpeakerCounts) {
        self.quotes += o.quotes;
        self.found += o.found;
        self.correct += o.correct;
    }
}

/// Scores of one role (content, source or cue).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RoleScores {
    pub exact: Counts,
    pub overlap: Overlap,
}

/// All figures over one set of attributions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct AttributionFigures {
    pub content: RoleScores,
    pub source: RoleScores,
    pub cue: RoleScores,
    /// Whole attributions: content Dice ≥ 0.5 and the same source.
    pub attribution: Counts,
}

impl AttributionFigures {
    fn rows(&self, prefix: &str) -> Vec<Row> {
        let mut rows = Vec::with_capacity(7);
        for (role, s) in [
            ("content", &self.content),
            ("source", &self.source),
            ("cue", &self.cue),
        ] {
            rows.push(Row::from_counts(format!("{prefix}{role} exact"), s.exact));
            rows.push(s.overlap.row(format!("{prefix}{role} overlap")));
        }
        rows.push(Row::from_counts(
            format!("{prefix}attribution"),
            self.attribution,
        ));
        rows
    }
}

/// Attribution scores over all attributions and over direct quotes only, and the speakers of
/// direct quotes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct AttributionScores {
    pub all: AttributionFigures,
    pub direct: AttributionFigures,
    /// Whether the speaker (source) of each gold direct quote is found.
    pub direct_speaker: SpeakerCounts,
}

impl AttributionScores {
    /// Rows `content exact`, `content overlap`, `source ...`, `cue ...`, `attribution`, then the
    /// same prefixed with `direct `, then `direct speaker correct` and `direct speaker correct
    /// (quote found)`.
    pub fn table(&self) -> Table {
        let mut rows = self.all.rows("");
        rows.extend(self.direct.rows("direct "));
        rows.extend(self.direct_speaker.rows());
        Table {
            title: "attribution".into(),
            rows,
        }
    }
}

/// Scores the predicted attributions of documents against the gold ones. Documents are paired by
/// id and must have the same text (see [`evaluate_entities`](super::evaluate_entities)).
pub fn evaluate_attributions(gold: &[Document], pred: &[Document]) -> Result<AttributionScores> {
    let mut scores = AttributionScores::default();
    for (g, p) in pair_documents(gold, pred)? {
        let tokens: Cow<'_, [Span]> = if g.tokens.is_empty() {
            Cow::Owned(tokenize(&g.text))
        } else {
            Cow::Borrowed(&g.tokens)
        };
        let doc = DocTokens { tokens: &tokens };
        doc.add(&mut scores.all, &all(g), &all(p));
        doc.add(&mut scores.direct, &direct(g), &direct(p));
        let sourced: Vec<&Attribution> = direct(g)
            .into_iter()
            .filter(|a| a.source.is_some())
            .collect();
        scores.direct_speaker += doc.speakers(&sourced, &all(p));
    }
    Ok(scores)
}

fn all(d: &Document) -> Vec<&Attribution> {
    d.attributions.iter().collect()
}

fn direct(d: &Document) -> Vec<&Attribution> {
    d.attributions
        .iter()
        .filter(|a| is_direct_mention(&d.text, &a.content))
        .collect()
}

/// Sorted indices of the `tokens` (a document's, in text order) that the mention's pieces
/// overlap (by at least one byte): the token set of the [module docs](self).
pub fn mention_tokens(tokens: &[Span], mention: &Mention) -> Vec<usize> {
    let mut set: Vec<usize> = Vec::new();
    for piece in &mention.pieces {
        let first = tokens.partition_point(|t| t.end <= piece.start);
        let last = tokens.partition_point(|t| t.start < piece.end);
        for i in first..last.max(first) {
            if set.last().is_none_or(|&l| l < i) {
                set.push(i);
            } else if !set.contains(&i) {
                set.push(i);
                set.sort_unstable();
            }
        }
    }
    set
}

/// The tokens of one document, to turn mentions into token sets.
pub(crate) struct DocTokens<'a> {
    pub(crate) tokens: &'a [Span],
}

impl DocTokens<'_> {
    fn token_set(&self, mention: &Mention) -> Vec<usize> {
        mention_tokens(self.tokens, mention)
    }

    fn add(&self, figures: &mut AttributionFigures, gold: &[&Attribution], pred: &[&Attribution]) {
        type Role = for<'a> fn(&'a Attribution) -> Option<&'a Mention>;
        let roles: [(&mut RoleScores, Role); 3] = [
            (&mut figures.content, |a| Some(&a.content)),
            (&mut figures.source, |a| a.source.as_ref()),
            (&mut figures.cue, |a| a.cue.as_ref()),
        ];
        for (scores, role) in roles {
            let g: Vec<&Mention> = gold.iter().filter_map(|a| role(a)).collect();
            let p: Vec<&Mention> = pred.iter().filter_map(|a| role(a)).collect();
            scores.exact += exact_counts(&g, &p);
            scores.overlap += self.overlap(&g, &p);
        }
        figures.attribution += self.match_attributions(gold, pred);
    }

    fn overlap(&self, gold: &[&Mention], pred: &[&Mention]) -> Overlap {
        let g: Vec<Vec<usize>> = gold.iter().map(|m| self.token_set(m)).collect();
        let p: Vec<Vec<usize>> = pred.iter().map(|m| self.token_set(m)).collect();
        // Each mention's most tokens shared with one of the other side (0 when none shares).
        let (mut best_g, mut best_p) = (vec![0; g.len()], vec![0; p.len()]);
        for (gi, pi, n) in sharing_pairs(&g, &p) {
            best_g[gi] = best_g[gi].max(n);
            best_p[pi] = best_p[pi].max(n);
        }
        let credit = |sets: &[Vec<usize>], best: &[usize]| -> f64 {
            sets.iter()
                .zip(best)
                .map(|(x, &n)| ratio(n as f64, x.len()))
                .sum()
        };
        Overlap {
            precision_credit: credit(&p, &best_p),
            recall_credit: credit(&g, &best_g),
            predicted: p.len(),
            gold: g.len(),
        }
    }

    /// Whole attributions: content Dice ≥ [`CONTENT_DICE_THRESHOLD`] and the same source.
    fn match_attributions(&self, gold: &[&Attribution], pred: &[&Attribution]) -> Counts {
        let correct = self
            .pair_contents(gold, pred, |g, p| g.source == p.source)
            .len();
        Counts::new(correct, pred.len(), gold.len())
    }

    /// The direct-quote speaker counts of `gold`, the gold direct quotes that have a source,
    /// against all predicted attributions.
    fn speakers(&self, gold: &[&Attribution], pred: &[&Attribution]) -> SpeakerCounts {
        let pairs = self.pair_contents(gold, pred, |_, _| true);
        SpeakerCounts {
            quotes: gold.len(),
            found: pairs.len(),
            correct: pairs
                .iter()
                .filter(|&&(gi, pi)| gold[gi].source == pred[pi].source)
                .count(),
        }
    }

    /// Pairs gold with predicted attributions by content: among the pairs that `allowed` accepts
    /// and whose content Dice is at least [`CONTENT_DICE_THRESHOLD`], takes them in decreasing
    /// Dice order (ties: earlier gold, then earlier prediction), each gold and each predicted
    /// attribution at most once. Returns `(gold index, predicted index)` pairs in that order.
    pub(crate) fn pair_contents(
        &self,
        gold: &[&Attribution],
        pred: &[&Attribution],
        allowed: impl Fn(&Attribution, &Attribution) -> bool,
    ) -> Vec<(usize, usize)> {
        let g: Vec<Vec<usize>> = gold.iter().map(|a| self.token_set(&a.content)).collect();
        let p: Vec<Vec<usize>> = pred.iter().map(|a| self.token_set(&a.content)).collect();
        // Dice ≥ 0.5 needs a shared token, so only the contents that share one are weighed.
        let mut candidates: Vec<(f64, usize, usize)> = sharing_pairs(&g, &p)
            .into_iter()
            .filter_map(|(gi, pi, n)| {
                let d = ratio(2.0 * n as f64, g[gi].len() + p[pi].len());
                (d >= CONTENT_DICE_THRESHOLD && allowed(gold[gi], pred[pi])).then_some((d, gi, pi))
            })
            .collect();
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        let (mut gold_used, mut pred_used) = (vec![false; gold.len()], vec![false; pred.len()]);
        let mut pairs = Vec::new();
        for (_, gi, pi) in candidates {
            if !gold_used[gi] && !pred_used[pi] {
                gold_used[gi] = true;
                pred_used[pi] = true;
                pairs.push((gi, pi));
            }
        }
        pairs
    }
}

/// Multiset intersection of equal mentions.
fn exact_counts(gold: &[&Mention], pred: &[&Mention]) -> Counts {
    let mut available: HashMap<&Mention, usize> = HashMap::new();
    for &m in gold {
        *available.entry(m).or_default() += 1;
    }
    let mut correct = 0;
    for m in pred {
        if let Some(n) = available.get_mut(m).filter(|n| **n > 0) {
            *n -= 1;
            correct += 1;
        }
    }
    Counts::new(correct, pred.len(), gold.len())
}

/// Every `(i, j, shared)` where token sets `a[i]` and `b[j]` (sorted) share `shared > 0`
/// tokens. `b` is swept by first token, so each set of `a` meets only the sets of `b` whose
/// first-to-last range can reach its own, not all of them: a document's contents are paired in
/// about linear time, however many it has.
fn sharing_pairs(a: &[Vec<usize>], b: &[Vec<usize>]) -> Vec<(usize, usize, usize)> {
    let mut by_first: Vec<usize> = (0..b.len()).filter(|&j| !b[j].is_empty()).collect();
    by_first.sort_by_key(|&j| b[j][0]);
    let reach = by_first
        .iter()
        .map(|&j| b[j][b[j].len() - 1] - b[j][0])
        .max()
        .unwrap_or(0);
    let mut out = Vec::new();
    for (i, x) in a.iter().enumerate() {
        let (Some(&first), Some(&last)) = (x.first(), x.last()) else {
            continue;
        };
        let from = by_first.partition_point(|&j| b[j][0] + reach < first);
        for &j in &by_first[from..] {
            if b[j][0] > last {
                break;
            }
            let n = shared(x, &b[j]);
            if n > 0 {
                out.push((i, j, n));
            }
        }
    }
    out
}

/// Size of the intersection of two sorted index sets.
fn shared(a: &[usize], b: &[usize]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// Dice coefficient of two sorted token sets; 0 when both are empty.
pub fn dice(a: &[usize], b: &[usize]) -> f64 {
    ratio(2.0 * shared(a, b) as f64, a.len() + b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sweep finds exactly the sharing pairs that comparing every set with every other finds:
    /// sets of every length and gap, empty ones, one reaching far (a long content).
    #[test]
    fn sharing_pairs_are_those_of_all_pairs() {
        let mut state = 7u64;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % n) as usize
        };
        let mut sets = |count: usize| -> Vec<Vec<usize>> {
            (0..count)
                .map(|_| {
                    let start = next(300);
                    let mut set: Vec<usize> = (0..next(12)).map(|_| start + next(25)).collect();
                    set.sort_unstable();
                    set.dedup();
                    set
                })
                .collect()
        };
        let (mut a, b) = (sets(150), sets(120));
        a.push((0..400).step_by(50).collect());
        let mut brute = Vec::new();
        for (i, x) in a.iter().enumerate() {
            for (j, y) in b.iter().enumerate() {
                let n = shared(x, y);
                if n > 0 {
                    brute.push((i, j, n));
                }
            }
        }
        let mut swept = sharing_pairs(&a, &b);
        swept.sort_unstable();
        assert!(brute.len() > 100, "{}", brute.len());
        assert_eq!(swept, brute);
        assert_eq!(sharing_pairs(&b, &a).len(), brute.len());
    }

    /// Finds the `n`-th occurrence (0-based) of `needle` in `text` as a span.
    fn find(text: &str, needle: &str, n: usize) -> Span {
        let start = text
            .match_indices(needle)
            .nth(n)
            .unwrap_or_else(|| panic!("{needle:?} #{n} not in text"))
            .0;
        Span::new(start, start + needle.len())
    }

    const TEXT: &str = "“We will win the election,” Smith said. Jones told reporters \
                        that the plan had failed badly. The senator added that taxes would rise.";

    fn m(s: &str) -> Mention {
        Mention::single(find(TEXT, s, 0))
    }

    fn attr(content: &str, cue: Option<&str>, source: Option<&str>) -> Attribution {
        Attribution {
            content: m(content),
            cue: cue.map(m),
            source: source.map(m),
        }
    }

    fn docs(gold: Vec<Attribution>, pred: Vec<Attribution>) -> (Vec<Document>, Vec<Document>) {
        let mut g = Document::new("d", TEXT);
        g.attributions = gold;
        let mut p = Document::new("d", TEXT);
        p.attributions = pred;
        (vec![g], vec![p])
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn hand_computed_figures() {
        let gold = vec![
            // Content tokens: “ We will win the election , ” = 8 tokens.
            attr("“We will win the election,”", Some("said"), Some("Smith")),
            // Content tokens: the plan had failed badly = 5 tokens.
            attr("the plan had failed badly", Some("told"), Some("Jones")),
            // Content tokens: taxes would rise = 3 tokens.
            attr("taxes would rise", Some("added"), Some("The senator")),
        ];
        let pred = vec![
            // Content without the quote marks and comma: 5 of 8 gold tokens. Dice = 10/13.
            attr("We will win the election", Some("said"), Some("Smith")),
            // Content "plan had" (2 tokens of the 5): Dice = 4/7 >= 0.5, source matches.
            attr("plan had", Some("told"), Some("Jones")),
            // Exact content, wrong source span ("senator" vs "The senator"), no cue.
            attr("taxes would rise", None, Some("senator")),
            // Spurious attribution without source over "reporters".
            attr("reporters", None, None),
        ];
        let (g, p) = docs(gold, pred);
        let s = evaluate_attributions(&g, &p).unwrap().all;

        // Content exact: only "taxes would rise".
        assert_eq!(s.content.exact, Counts::new(1, 4, 3));
        // Content overlap precision credits: 5/5, 2/2, 3/3, 0/1 -> 3 of 4 predictions.
        // Recall credits: 5/8, 2/5, 3/3 -> (5/8 + 2/5 + 1) / 3.
        assert!(close(s.content.overlap.precision(), 3.0 / 4.0));
        assert!(close(
            s.content.overlap.recall(),
            (5.0 / 8.0 + 2.0 / 5.0 + 1.0) / 3.0
        ));
        assert_eq!(
            (s.content.overlap.predicted, s.content.overlap.gold),
            (4, 3)
        );
        let (p_, r_) = (0.75, (5.0 / 8.0 + 0.4 + 1.0) / 3.0);
        assert!(close(s.content.overlap.f1(), 2.0 * p_ * r_ / (p_ + r_)));

        // Source exact: Smith, Jones; "senator" is not "The senator".
        assert_eq!(s.source.exact, Counts::new(2, 3, 3));
        // Source overlap: precision credits 1, 1, 1 (senator's one token is in gold); recall
        // credits 1, 1, 1/2.
        assert!(close(s.source.overlap.precision(), 1.0));
        assert!(close(s.source.overlap.recall(), 2.5 / 3.0));

        // Cue: two predicted, both exact.
        assert_eq!(s.cue.exact, Counts::new(2, 2, 3));
        assert!(close(s.cue.overlap.recall(), 2.0 / 3.0));

        // Attributions: first two correct; third has the wrong source; fourth matches nothing.
        assert_eq!(s.attribution, Counts::new(2, 4, 3));
    }

    #[test]
    fn direct_quotes_are_scored_apart() {
        let gold = vec![
            attr("“We will win the election,”", Some("said"), Some("Smith")),
            attr("taxes would rise", Some("added"), Some("The senator")),
        ];
        let pred = vec![
            // Direct: the marks are just outside the piece.
            attr("We will win the election", Some("said"), Some("Smith")),
            attr("taxes would rise", Some("added"), Some("The senator")),
        ];
        let (g, p) = docs(gold, pred);
        let scores = evaluate_attributions(&g, &p).unwrap();
        assert_eq!(scores.all.attribution, Counts::new(2, 2, 2));
        assert_eq!(scores.direct.attribution, Counts::new(1, 1, 1));
        assert_eq!(scores.direct.content.exact, Counts::new(0, 1, 1));
        assert!(close(scores.direct.content.overlap.recall(), 5.0 / 8.0));
        let table = scores.table();
        assert_eq!(table.rows.len(), 16);
        assert_eq!(table.rows[7].name, "direct content exact");
        assert_eq!(table.rows[13].name, "direct attribution");
        assert_eq!(table.rows[1].correct, None);
    }

    fn speakers(
        name: &str,
        gold: Vec<Attribution>,
        pred: Vec<Attribution>,
        quotes: usize,
        found: usize,
        correct: usize,
    ) -> (&str, Vec<Attribution>, Vec<Attribution>, SpeakerCounts) {
        let expected = SpeakerCounts {
            quotes,
            found,
            correct,
        };
        (name, gold, pred, expected)
    }

    #[test]
    fn direct_quote_speakers() {
        // Gold direct quote: “ We will win the election , ” = 8 tokens, source Smith.
        let quote = || attr("“We will win the election,”", Some("said"), Some("Smith"));
        let cases = [
            speakers(
                "speaker right, content Dice 10/13, no cue",
                vec![quote()],
                vec![attr("We will win the election", None, Some("Smith"))],
                1,
                1,
                1,
            ),
            speakers(
                "speaker wrong",
                vec![quote()],
                vec![attr(
                    "“We will win the election,”",
                    Some("said"),
                    Some("Jones"),
                )],
                1,
                1,
                0,
            ),
            speakers(
                "speaker overlaps but is not exact",
                vec![quote()],
                vec![attr(
                    "“We will win the election,”",
                    None,
                    Some("Smith said"),
                )],
                1,
                1,
                0,
            ),
            speakers(
                "no predicted speaker",
                vec![quote()],
                vec![attr("“We will win the election,”", Some("said"), None)],
                1,
                1,
                0,
            ),
            speakers(
                "quote not found: Dice 4/10",
                vec![quote()],
                vec![attr("We will", Some("said"), Some("Smith"))],
                1,
                0,
                0,
            ),
            speakers("no prediction", vec![quote()], vec![], 1, 0, 0),
            speakers(
                "a prediction that is not a direct quote still pairs: Dice 16/18",
                vec![quote()],
                vec![attr(
                    "“We will win the election,” Smith said",
                    None,
                    Some("Smith"),
                )],
                1,
                1,
                1,
            ),
            speakers(
                "indirect gold quote is not counted",
                vec![attr(
                    "the plan had failed badly",
                    Some("told"),
                    Some("Jones"),
                )],
                vec![attr(
                    "the plan had failed badly",
                    Some("told"),
                    Some("Jones"),
                )],
                0,
                0,
                0,
            ),
            speakers(
                "direct gold quote without source is not counted",
                vec![attr("“We will win the election,”", Some("said"), None)],
                vec![attr("“We will win the election,”", Some("said"), None)],
                0,
                0,
                0,
            ),
            speakers(
                "one prediction cannot serve two gold quotes",
                vec![
                    quote(),
                    attr("We will win the election", Some("said"), Some("Smith")),
                ],
                vec![attr("“We will win the election,”", None, Some("Smith"))],
                2,
                1,
                1,
            ),
            speakers(
                "two predictions serve two gold quotes",
                vec![
                    quote(),
                    attr("We will win the election", Some("said"), Some("Smith")),
                ],
                vec![
                    attr("We will win the election", None, Some("Smith")),
                    attr("“We will win the election,”", None, Some("Jones")),
                ],
                2,
                2,
                1,
            ),
            speakers(
                "pairing is by Dice alone: the best content has the wrong speaker",
                vec![quote()],
                vec![
                    attr("We will win the election", None, Some("Smith")),
                    attr("“We will win the election,”", None, Some("Jones")),
                ],
                1,
                1,
                0,
            ),
        ];
        let indirect = m("“We will win the election,” Smith said");
        assert!(!is_direct_mention(TEXT, &indirect));
        for (name, gold, pred, expected) in cases {
            let (g, p) = docs(gold, pred);
            let scores = evaluate_attributions(&g, &p).unwrap();
            assert_eq!(scores.direct_speaker, expected, "{name}");
        }
    }

    #[test]
    fn speaker_pairing_differs_from_attribution_match() {
        // The attribution match needs the same source, so it takes the Dice-10/13 prediction;
        // the speaker pairing takes the exact content, whose speaker is wrong.
        let gold = vec![attr(
            "“We will win the election,”",
            Some("said"),
            Some("Smith"),
        )];
        let pred = vec![
            attr("We will win the election", None, Some("Smith")),
            attr("“We will win the election,”", None, Some("Jones")),
        ];
        let (g, p) = docs(gold, pred);
        let scores = evaluate_attributions(&g, &p).unwrap();
        assert_eq!(scores.all.attribution, Counts::new(1, 2, 1));
        assert_eq!(
            scores.direct_speaker,
            SpeakerCounts {
                quotes: 1,
                found: 1,
                correct: 0
            }
        );
    }

    #[test]
    fn speaker_figures_sum_over_documents_and_fill_the_table() {
        let text2 = "“Nothing will change,” Jones said. “Rates stay,” she added.";
        let m2 = |s: &str| Mention::single(find(text2, s, 0));
        let attr2 = |content: &str, source: Option<&str>| Attribution {
            content: m2(content),
            cue: None,
            source: source.map(m2),
        };
        let (mut g1, mut p1) = docs(
            vec![attr("“We will win the election,”", None, Some("Smith"))],
            vec![attr("We will win the election", None, Some("Smith"))],
        );
        let mut g2 = Document::new("e", text2);
        g2.attributions = vec![
            attr2("“Nothing will change,”", Some("Jones")),
            attr2("“Rates stay,”", Some("she")),
        ];
        let mut p2 = Document::new("e", text2);
        p2.attributions = vec![
            attr2("Nothing will change", Some("she")),
            attr2("Rates", Some("she")),
        ];
        g1.push(g2);
        p1.push(p2);
        let scores = evaluate_attributions(&g1, &p1).unwrap();
        // Document d: found and right. Document e: "Nothing will change" found with the wrong
        // speaker; "Rates" is 1 of the 5 tokens of “ Rates stay , ”: Dice 2/6, not found.
        let s = scores.direct_speaker;
        assert_eq!(
            s,
            SpeakerCounts {
                quotes: 3,
                found: 2,
                correct: 1
            }
        );
        assert!(close(s.accuracy(), 1.0 / 3.0));
        assert!(close(s.accuracy_when_found(), 0.5));

        let table = scores.table();
        assert_eq!(table.rows.len(), 16);
        let (row, found_row) = (&table.rows[14], &table.rows[15]);
        assert_eq!(row.name, "direct speaker correct");
        assert_eq!(found_row.name, "direct speaker correct (quote found)");
        for (row, accuracy, support) in [(row, 1.0 / 3.0, 3), (found_row, 0.5, 2)] {
            assert!(close(row.precision, accuracy), "{}", row.name);
            assert!(close(row.recall, accuracy), "{}", row.name);
            assert!(close(row.f1, accuracy), "{}", row.name);
            assert_eq!(row.support, support, "{}", row.name);
            assert_eq!(row.correct, Some(1), "{}", row.name);
        }
    }

    #[test]
    fn speaker_accuracy_is_zero_without_quotes() {
        let cases = [
            (SpeakerCounts::default(), 0.0, 0.0),
            (
                SpeakerCounts {
                    quotes: 2,
                    found: 0,
                    correct: 0,
                },
                0.0,
                0.0,
            ),
            (
                SpeakerCounts {
                    quotes: 4,
                    found: 2,
                    correct: 1,
                },
                0.25,
                0.5,
            ),
        ];
        for (counts, accuracy, when_found) in cases {
            assert!(close(counts.accuracy(), accuracy), "{counts:?}");
            assert!(
                close(counts.accuracy_when_found(), when_found),
                "{counts:?}"
            );
        }
        let mut sum = cases[1].0;
        sum += cases[2].0;
        assert_eq!(
            sum,
            SpeakerCounts {
                quotes: 6,
                found: 2,
                correct: 1
            }
        );
    }

    #[test]
    fn absent_sources_match_and_each_gold_matches_once() {
        let gold = vec![attr("taxes would rise", Some("added"), None)];
        let pred = vec![
            attr("taxes would rise", None, None),
            attr("taxes would", None, None),
        ];
        let (g, p) = docs(gold, pred);
        let s = evaluate_attributions(&g, &p).unwrap().all;
        assert_eq!(s.attribution, Counts::new(1, 2, 1));
        assert_eq!(s.source.exact, Counts::new(0, 0, 0));
        assert_eq!(s.source.overlap.f1(), 0.0);
    }

    #[test]
    fn dice_below_half_does_not_match() {
        // "plan" is 1 of 5 gold tokens: Dice 2/6. "the plan had" is 3 of 5: Dice 6/8.
        let gold = vec![attr("the plan had failed badly", None, None)];
        let (g, p) = docs(gold.clone(), vec![attr("plan", None, None)]);
        assert_eq!(
            evaluate_attributions(&g, &p).unwrap().all.attribution,
            Counts::new(0, 1, 1)
        );
        let (g, p) = docs(gold, vec![attr("the plan had", None, None)]);
        assert_eq!(
            evaluate_attributions(&g, &p).unwrap().all.attribution,
            Counts::new(1, 1, 1)
        );
    }

    #[test]
    fn direct_quote_predicate() {
        let text = "He said “we won.” She said “we” won. “A,” he said, “B.” Then \"plain\" and «x»";
        let span = |s: &str, n: usize| Mention::single(find(text, s, n));
        let cases = [
            (span("“we won.”", 0), true),
            (span("we won.", 0), true),
            (span("we won", 0), true),
            (span("“we” won", 0), false),
            // One piece that starts and ends with marks counts as wholly quoted, as in the
            // PolNeAR counts (a content holding its own cue does not occur there).
            (span("“A,” he said, “B.”", 0), true),
            (
                Mention::new(vec![find(text, "A,", 0), find(text, "B.", 0)]),
                true,
            ),
            (span("\"plain\"", 0), true),
            (span("x", 0), true),
            (span("He said", 0), false),
            (Mention::new(vec![]), false),
            (Mention::single(Span::new(9, 10)), false), // inside a multi-byte character
        ];
        for (mention, expected) in cases {
            assert_eq!(is_direct_mention(text, &mention), expected, "{mention:?}");
        }
    }

    #[test]
    fn token_sets_of_discontinuous_mentions() {
        let tokens = tokenize(TEXT);
        let doc = DocTokens { tokens: &tokens };
        // Two pieces inside the same token count it once; a piece inside a token selects it.
        let smith = find(TEXT, "Smith", 0);
        let m = Mention::new(vec![
            Span::new(smith.start, smith.start + 2),
            Span::new(smith.start + 3, smith.end),
        ]);
        assert_eq!(doc.token_set(&m).len(), 1);
        let m = Mention::new(vec![find(TEXT, "Smith said", 0), find(TEXT, "Jones", 0)]);
        assert_eq!(doc.token_set(&m).len(), 3);
    }
}
