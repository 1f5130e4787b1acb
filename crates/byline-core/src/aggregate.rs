//! Subword predictions to entities the way the transformers token-classification pipeline
//! groups them, for plain Hugging Face checkpoints (`BertForTokenClassification` and kin) whose
//! labels come from `id2label` and whose head is an argmax, not a CRF.
//!
//! Port of `TokenClassificationPipeline.aggregate` and what it calls (`aggregate_words`,
//! `aggregate_word`, `group_entities`, `group_sub_entities`, `get_tag`) in
//! `transformers/pipelines/token_classification.py`:
//!
//! * **simple**: each subword takes its argmax label and probability; neighbours are grouped.
//! * **first** / **average** / **max**: subwords are first fused into words (a word starts at a
//!   subword that is not [`Token::is_subword`]); the word takes the label of its first subword,
//!   of the average of its subwords' probabilities, or of its most confident subword; then words
//!   are grouped.
//! * **Grouping** (`group_entities`): a token joins the group before it when its tag (the label
//!   without a `B-` / `I-` prefix; any other label is its own tag) is the group's last tag and
//!   it does not start with `B-`. A group's label is its first label after the first `-`
//!   (`B-PER` → `PER`, `S-LOC` → `LOC`), its score the mean of its members' scores, its span
//!   from the first member's start to the last member's end. Groups labelled `O` are dropped.
//!
//! Consequences kept for parity, since users compare byline with the pipeline: `E-` and `S-`
//! (BIOES) labels are never continued by the pipeline's rule, so each such token is a group of
//! its own; and `I-X` after `O` starts an entity.

use crate::span::Span;

/// How the subwords of a word are fused (transformers' `aggregation_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Every subword on its own, then grouped.
    Simple,
    /// A word takes the label and score of its first subword.
    #[default]
    First,
    /// A word takes the argmax of its subwords' mean probabilities.
    Average,
    /// A word takes the label and score of its most confident subword.
    Max,
}

impl Aggregation {
    pub const ALL: [Aggregation; 4] = [
        Aggregation::Simple,
        Aggregation::First,
        Aggregation::Average,
        Aggregation::Max,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Aggregation::Simple => "simple",
            Aggregation::First => "first",
            Aggregation::Average => "average",
            Aggregation::Max => "max",
        }
    }
}

impl std::fmt::Display for Aggregation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Aggregation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Aggregation::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown aggregation `{s}` (simple, first, average, max)"))
    }
}

/// One subword of the text (special tokens left out), in order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Token<'a> {
    /// Byte span of the subword in the original text.
    pub span: Span,
    /// Continues the word of the subword before it (see [`is_subword`]).
    pub is_subword: bool,
    /// Probability of each label (softmax of the logits), indexed like the labels.
    pub probs: &'a [f32],
}

/// An entity as the pipeline reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The label without its prefix (`entity_group`).
    pub label: String,
    pub span: Span,
    pub score: f32,
}

/// Whether a subword continues the word before it, by the pipeline's rules
/// (`gather_pre_entities`). `token` is the vocabulary string of the subword, `span` its byte span
/// in `text`. A tokenizer with a continuing-subword prefix (WordPiece's `##`) marks a subword by
/// a token longer or shorter than the text it covers; others (byte-level BPE, SentencePiece) by
/// a start that is neither the text's start nor next to a space. The unknown token never
/// continues a word.
pub fn is_subword(
    text: &str,
    span: Span,
    token: &str,
    has_subword_prefix: bool,
    is_unknown: bool,
) -> bool {
    if is_unknown {
        return false;
    }
    let piece = span.slice(text).unwrap_or("");
    if has_subword_prefix {
        return token.chars().count() != piece.chars().count();
    }
    // `start > 0 and " " not in sentence[start - 1 : start + 1]`
    if span.start == 0 {
        return false;
    }
    let before = text
        .get(..span.start)
        .and_then(|t| t.chars().next_back())
        .map(|c| c == ' ');
    let at = text
        .get(span.start..)
        .and_then(|t| t.chars().next())
        .map(|c| c == ' ');
    !(before.unwrap_or(false) || at.unwrap_or(false))
}

/// A token or word with its label index and score, before grouping.
#[derive(Debug, Clone, Copy)]
struct Scored {
    label: usize,
    score: f32,
    span: Span,
}

/// The entities of a text from its subwords' label probabilities; `labels` are `id2label` in id
/// order. Groups labelled `O` are left out.
pub fn aggregate(tokens: &[Token<'_>], labels: &[String], strategy: Aggregation) -> Vec<Group> {
    let scored: Vec<Scored> = match strategy {
        Aggregation::Simple => tokens
            .iter()
            .map(|t| {
                let label = argmax(t.probs);
                Scored {
                    label,
                    score: t.probs.get(label).copied().unwrap_or(f32::NAN),
                    span: t.span,
                }
            })
            .collect(),
        _ => words(tokens).map(|w| aggregate_word(w, strategy)).collect(),
    };
    group(&scored, labels)
        .into_iter()
        .filter(|g| g.label != "O")
        .collect()
}

/// Consecutive runs of tokens that make one word: a word starts at every token that is not a
/// subword (and at the first token).
fn words<'t, 'a>(tokens: &'t [Token<'a>]) -> impl Iterator<Item = &'t [Token<'a>]> {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= tokens.len() {
            return None;
        }
        let mut i = start + 1;
        while i < tokens.len() && tokens[i].is_subword {
            i += 1;
        }
        let word = &tokens[start..i];
        start = i;
        Some(word)
    })
}

fn aggregate_word(word: &[Token<'_>], strategy: Aggregation) -> Scored {
    let span = Span::new(word[0].span.start, word[word.len() - 1].span.end);
    let pick = |probs: &[f32]| {
        let label = argmax(probs);
        Scored {
            label,
            score: probs.get(label).copied().unwrap_or(f32::NAN),
            span,
        }
    };
    match strategy {
        Aggregation::Simple | Aggregation::First => pick(word[0].probs),
        Aggregation::Max => {
            // Python's `max` keeps the first of equal maxima.
            let best = word.iter().fold(&word[0], |best, t| {
                if max_of(t.probs) > max_of(best.probs) {
                    t
                } else {
                    best
                }
            });
            pick(best.probs)
        }
        Aggregation::Average => {
            let n = word[0].probs.len();
            let mean: Vec<f32> = (0..n)
                .map(|j| {
                    nanmean(
                        word.iter()
                            .map(|t| t.probs.get(j).copied().unwrap_or(f32::NAN)),
                    )
                })
                .collect();
            pick(&mean)
        }
    }
}

/// `group_entities`: runs of tokens or words with the same tag, a `B-` starting a new one.
fn group(items: &[Scored], labels: &[String]) -> Vec<Group> {
    let name = |i: usize| labels.get(i).map_or("", String::as_str);
    let mut groups = Vec::new();
    let mut current: Vec<Scored> = Vec::new();
    for &item in items {
        if let Some(last) = current.last() {
            let (bi, tag) = bi_tag(name(item.label));
            let (_, last_tag) = bi_tag(name(last.label));
            if !(tag == last_tag && bi != 'B') {
                groups.push(sub_group(&current, labels));
                current.clear();
            }
        }
        current.push(item);
    }
    if !current.is_empty() {
        groups.push(sub_group(&current, labels));
    }
    groups
}

/// `group_sub_entities`.
fn sub_group(items: &[Scored], labels: &[String]) -> Group {
    let first = labels.get(items[0].label).map_or("", String::as_str);
    let label = first.split_once('-').map_or(first, |(_, rest)| rest);
    Group {
        label: label.to_string(),
        span: Span::new(items[0].span.start, items[items.len() - 1].span.end),
        score: nanmean(items.iter().map(|i| i.score)),
    }
}

/// `get_tag`: (`'B'` or `'I'`, the tag) of a label.
fn bi_tag(label: &str) -> (char, &str) {
    if let Some(tag) = label.strip_prefix("B-") {
        ('B', tag)
    } else if let Some(tag) = label.strip_prefix("I-") {
        ('I', tag)
    } else {
        ('I', label)
    }
}

/// numpy's `argmax`: the first index of the largest value (NaN counts as largest).
fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x.is_nan() {
            return i;
        }
        if x > v[best] {
            best = i;
        }
    }
    best
}

fn max_of(v: &[f32]) -> f32 {
    v.get(argmax(v)).copied().unwrap_or(f32::NAN)
}

/// numpy's `nanmean` (NaN when every value is NaN).
fn nanmean(values: impl Iterator<Item = f32>) -> f32 {
    let (mut sum, mut n) = (0f64, 0usize);
    for v in values.filter(|v| !v.is_nan()) {
        sum += f64::from(v);
        n += 1;
    }
    if n == 0 {
        f32::NAN
    } else {
        (sum / n as f64) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// Tokens with one-hot-ish probabilities: `(start, end, is_subword, label, p)`.
    fn tokens(spec: &[(usize, usize, bool, usize, f32)], n: usize) -> Vec<(Span, bool, Vec<f32>)> {
        spec.iter()
            .map(|&(s, e, sub, label, p)| {
                let rest = (1.0 - p) / (n - 1) as f32;
                let mut probs = vec![rest; n];
                probs[label] = p;
                (Span::new(s, e), sub, probs)
            })
            .collect()
    }

    fn run(
        t: &[(Span, bool, Vec<f32>)],
        l: &[String],
        a: Aggregation,
    ) -> Vec<(String, usize, usize)> {
        let toks: Vec<Token> = t
            .iter()
            .map(|(span, sub, probs)| Token {
                span: *span,
                is_subword: *sub,
                probs,
            })
            .collect();
        aggregate(&toks, l, a)
            .into_iter()
            .map(|g| (g.label, g.span.start, g.span.end))
            .collect()
    }

    #[test]
    fn strategies_on_a_split_word() {
        // "Kowalski met" : kow ##als ##ki met ; labels O B-PER I-PER
        let l = labels(&["O", "B-PER", "I-PER"]);
        let t = tokens(
            &[
                (0, 3, false, 1, 0.6),
                (3, 6, true, 0, 0.9),
                (6, 8, true, 0, 0.9),
                (9, 12, false, 0, 0.9),
            ],
            3,
        );
        let g = |v: &[(&str, usize, usize)]| -> Vec<(String, usize, usize)> {
            v.iter().map(|&(l, s, e)| (l.to_string(), s, e)).collect()
        };
        assert_eq!(run(&t, &l, Aggregation::First), g(&[("PER", 0, 8)]));
        assert_eq!(run(&t, &l, Aggregation::Simple), g(&[("PER", 0, 3)]));
        // Average: O wins (0.2+0.9+0.9)/3 vs 0.6/3..
        assert_eq!(run(&t, &l, Aggregation::Average), g(&[]));
        // Max: the most confident subword says O.
        assert_eq!(run(&t, &l, Aggregation::Max), g(&[]));
    }

    #[test]
    fn grouping_follows_the_pipeline() {
        let l = labels(&["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "S-ORG", "MISC"]);
        let t = tokens(
            &[
                (0, 1, false, 2, 0.9),   // I-PER after nothing: starts PER
                (2, 3, false, 2, 0.9),   // joins
                (4, 5, false, 1, 0.9),   // B-PER: new
                (6, 7, false, 3, 0.9),   // B-LOC
                (8, 9, false, 4, 0.9),   // I-LOC joins
                (10, 11, false, 5, 0.9), // S-ORG alone
                (12, 13, false, 5, 0.9), // S-ORG continues (same tag, not B-)
                (14, 15, false, 6, 0.9), // bare MISC
                (16, 17, false, 6, 0.9), // joins
                (18, 19, false, 0, 0.9), // O dropped
            ],
            7,
        );
        let got = run(&t, &l, Aggregation::First);
        let want = [
            ("PER", 0, 3),
            ("PER", 4, 5),
            ("LOC", 6, 9),
            ("ORG", 10, 13),
            ("MISC", 14, 17),
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0.as_str(), g.1, g.2), w);
        }
    }

    #[test]
    fn group_score_is_the_mean() {
        let l = labels(&["O", "B-PER", "I-PER"]);
        let t = tokens(&[(0, 1, false, 1, 0.8), (2, 3, false, 2, 0.6)], 3);
        let toks: Vec<Token> = t
            .iter()
            .map(|(span, sub, probs)| Token {
                span: *span,
                is_subword: *sub,
                probs,
            })
            .collect();
        let g = aggregate(&toks, &l, Aggregation::Simple);
        assert_eq!(g.len(), 1);
        assert!((g[0].score - 0.7).abs() < 1e-6);
    }

    #[test]
    fn subword_rules() {
        let text = "Kowalski, café";
        // WordPiece: "##als" (5 chars) over "als" (3) is a subword; "kow" over "Kow" is not.
        assert!(is_subword(text, Span::new(3, 6), "##als", true, false));
        assert!(!is_subword(text, Span::new(0, 3), "kow", true, false));
        // The unknown token never continues a word.
        assert!(!is_subword(text, Span::new(3, 6), "[UNK]", true, true));
        // No prefix: a start after a space or at 0 begins a word; "," right after a word does not.
        assert!(!is_subword(text, Span::new(0, 3), "Kow", false, false));
        assert!(is_subword(text, Span::new(8, 9), ",", false, false));
        assert!(!is_subword(text, Span::new(10, 15), "Ġcafé", false, false));
        // A span starting on the space itself (byte-level BPE offsets can) is not a subword.
        assert!(!is_subword(text, Span::new(9, 15), "Ġcafé", false, false));
    }

    #[test]
    fn parses_names() {
        for a in Aggregation::ALL {
            assert_eq!(a.as_str().parse::<Aggregation>(), Ok(a));
        }
        assert!("none".parse::<Aggregation>().is_err());
    }
}
