//! Rule-based attribution assembly: predicted source, cue and content spans (see
//! [`RoleSpans`]) to [`Attribution`] records. The fallback and the baseline for a learned linker.
//!
//! # Rules
//!
//! 1. **Split contents are merged.** Consecutive content spans whose gap holds a cue and a
//!    source and otherwise only punctuation (tokens without a letter or digit) form one
//!    discontinuous content, as in `"A," he said, "B."`, when the second piece is in the same
//!    sentence as the end of the gap, or, for direct quotes only (the first piece ends with a
//!    closing quotation mark, the second starts with an opening one), starts the next sentence
//!    and that sentence has no cue of its own after the gap (`"A," he said. "B."`). That cue is its cue.
//!    **A quote over paragraphs is merged too:** a content that opens a double quotation mark
//!    it does not close, followed with no word between (a paragraph break, say) by a content
//!    that starts with an opening mark, is the same quote (`“We won.\n\n“We won big,” he
//!    said`: each paragraph opens, only the last closes). PolNeAR never annotates two such
//!    contents as two attributions (0 pairs in dev and train).
//! 2. **Every (merged) content is one attribution.**
//! 3. **Cue.** A content's candidate cues are those in the sentences the content touches or in
//!    the sentence just before or after them (a quote of several sentences, or `"..." \n he
//!    said`). The cost of a pair is the number of words between the two spans, plus
//!    [`SENTENCE_COST`] when the cue is in an adjacent sentence. Pairs are taken by increasing
//!    cost (ties: earlier content, then earlier cue), each cue and content at most once.
//! 4. **Source.** The anchor is the attribution's cue, or its content when it has none. Candidate
//!    sources lie in the anchor's sentence or an adjacent one. The cost is the number of words
//!    between source and anchor, plus [`SENTENCE_COST`] for an adjacent sentence, plus
//!    [`CROSSING_COST`] when a word of another content lies between them (a source belongs to
//!    its own clause), plus [`NO_CUE_COST`] when the anchor is a content. Pairs are taken by
//!    increasing cost, each source at most once.
//!
//! Sentences are `doc.sentences`; a document without them is one sentence.

use std::ops::Range;

use crate::align::{role_tags, roles_from_tags, AlignStats, RoleSpans, WordSpan};
use crate::document::{Attribution, Document, Mention};
use crate::error::Result;
use crate::quote::{quoted_pairs, CLOSING, OPENING};
use crate::scheme::TagSet;

/// Extra cost of a cue or source in the sentence next to its anchor.
pub const SENTENCE_COST: usize = 50;
/// Extra cost of a source separated from its anchor by another content.
pub const CROSSING_COST: usize = 20;
/// Extra cost of a source attached to a content that has no cue.
pub const NO_CUE_COST: usize = 10;

/// Assembles attributions from role spans over `doc`'s words (see the [module docs](self)).
/// Attributions come in the order of their contents.
pub fn assemble(doc: &Document, roles: &RoleSpans) -> Vec<Attribution> {
    let ctx = Context::new(doc, roles);
    let groups = ctx.merge_contents();
    let mut cue_of: Vec<Option<usize>> = groups.iter().map(|g| g.cue).collect();
    ctx.assign_cues(&groups, &mut cue_of);
    let source_of = ctx.assign_sources(&groups, &cue_of);
    groups
        .iter()
        .zip(cue_of.iter().zip(&source_of))
        .map(|(g, (cue, source))| Attribution {
            content: Mention::new(g.pieces.iter().map(|&i| roles.contents[i].span).collect()),
            cue: cue.map(|c| Mention::single(roles.cues[c].span)),
            source: source.map(|s| Mention::single(roles.sources[s].span)),
        })
        .collect()
}

/// What a perfect tagger would get: `doc`'s own attributions to per-word role tags of `tag_set`
/// ([`role_tags`]), back to spans ([`roles_from_tags`]) and through [`assemble`]. Scoring the
/// result against `doc.attributions` measures what the word-tag representation and the assembly
/// rules lose on their own. `doc` must be tokenized (with sentences).
pub fn round_trip(doc: &Document, tag_set: &TagSet) -> Result<(Vec<Attribution>, AlignStats)> {
    let tags = role_tags(doc, tag_set);
    let roles = roles_from_tags(doc, &tags.tags, None, tag_set)?;
    Ok((assemble(doc, &roles), tags.stats))
}

/// One attribution's content: indices into `roles.contents`, and the cue found between pieces.
struct Group {
    pieces: Vec<usize>,
    words: Range<usize>,
    cue: Option<usize>,
}

struct Context<'a> {
    doc: &'a Document,
    roles: &'a RoleSpans,
    /// Sentence index of every word.
    sentence: Vec<usize>,
    /// `content_before[w]`: how many of the words before `w` are inside a content span.
    content_before: Vec<usize>,
    /// Sentences in text order and every role's spans in text order without overlap (as
    /// decoded from tags): candidates can be found by binary search rather than a scan.
    ordered: bool,
}

impl<'a> Context<'a> {
    fn new(doc: &'a Document, roles: &'a RoleSpans) -> Self {
        let n = doc.tokens.len();
        let mut sentence = vec![usize::MAX; n];
        for (i, r) in doc.sentences.iter().enumerate() {
            for s in sentence.iter_mut().take(r.end.min(n)).skip(r.start) {
                *s = i;
            }
        }
        // Words outside every sentence join the sentence before them.
        let mut last = 0;
        for s in &mut sentence {
            if *s == usize::MAX {
                *s = last;
            }
            last = *s;
        }
        let mut in_content = vec![false; n];
        for c in &roles.contents {
            for w in in_content
                .iter_mut()
                .take(c.words.end.min(n))
                .skip(c.words.start)
            {
                *w = true;
            }
        }
        let mut content_before = Vec::with_capacity(n + 1);
        content_before.push(0);
        for (w, inside) in in_content.iter().enumerate() {
            content_before.push(content_before[w] + usize::from(*inside));
        }
        let in_order = |spans: &[WordSpan]| {
            spans.windows(2).all(|p| p[0].words.end <= p[1].words.start)
                && spans
                    .iter()
                    .all(|s| s.words.start < s.words.end && s.words.end <= n)
        };
        let ordered = sentence.windows(2).all(|p| p[0] <= p[1])
            && in_order(&roles.sources)
            && in_order(&roles.cues)
            && in_order(&roles.contents);
        Context {
            doc,
            roles,
            sentence,
            content_before,
            ordered,
        }
    }

    /// Words inside a content span among `words`.
    fn content_words(&self, words: Range<usize>) -> usize {
        let n = self.content_before.len() - 1;
        let (start, end) = (words.start.min(n), words.end.min(n));
        if start >= end {
            return 0;
        }
        self.content_before[end] - self.content_before[start]
    }

    /// Indices of the spans (in text order, not overlapping, as decoded from tags) that lie in
    /// a sentence within one of sentences `first..=last`: exactly those with a
    /// [`Context::sentence_gap`] of at most 1, found without scanning all of them.
    fn near(&self, spans: &[WordSpan], (first, last): (usize, usize)) -> Range<usize> {
        if !self.ordered {
            return 0..spans.len();
        }
        let from = spans.partition_point(|s| self.sent(s.words.end.saturating_sub(1)) + 1 < first);
        let to = from + spans[from..].partition_point(|s| self.sent(s.words.start) <= last + 1);
        from..to
    }

    /// The span among `spans` that covers word `w`.
    fn covering(&self, spans: &[WordSpan], w: usize) -> Option<usize> {
        if !self.ordered {
            return spans.iter().position(|s| s.words.contains(&w));
        }
        let i = spans.partition_point(|s| s.words.end <= w);
        spans.get(i).filter(|s| s.words.contains(&w)).map(|_| i)
    }

    fn sent(&self, word: usize) -> usize {
        self.sentence.get(word).copied().unwrap_or(0)
    }

    /// Sentences `first..=last` a word range touches.
    fn sentences(&self, words: &Range<usize>) -> (usize, usize) {
        (
            self.sent(words.start),
            self.sent(words.end.saturating_sub(1)),
        )
    }

    fn is_punct(&self, word: usize) -> bool {
        self.doc
            .tokens
            .get(word)
            .and_then(|t| t.slice(&self.doc.text))
            .is_some_and(|s| !s.chars().any(char::is_alphanumeric))
    }

    fn merge_contents(&self) -> Vec<Group> {
        let contents = &self.roles.contents;
        let mut groups: Vec<Group> = Vec::new();
        for (i, c) in contents.iter().enumerate() {
            if let Some(g) = groups.last_mut() {
                let last = g.pieces.last().map(|&p| &contents[p]);
                if last.is_some_and(|l| self.continues_paragraph_quote(l, c)) {
                    g.pieces.push(i);
                    g.words.end = c.words.end;
                    continue;
                }
                if let Some(cue) = self.bridging_cue(g.words.end, &c.words) {
                    g.pieces.push(i);
                    g.words.end = c.words.end;
                    g.cue = g.cue.or(Some(cue));
                    continue;
                }
            }
            groups.push(Group {
                pieces: vec![i],
                words: c.words.clone(),
                cue: None,
            });
        }
        groups
    }

    /// Whether `next` continues the quote that `content` opens and leaves open, with no word
    /// between them (rule 1 of the [module docs](self)).
    fn continues_paragraph_quote(&self, content: &WordSpan, next: &WordSpan) -> bool {
        if content.words.end != next.words.start {
            return false;
        }
        let text = |s: &WordSpan| s.span.slice(&self.doc.text).map(str::trim);
        let (Some(first), Some(second)) = (text(content), text(next)) else {
            return false;
        };
        let opens = |t: &str| t.starts_with(|c| OPENING.contains(&c));
        let closed = quoted_pairs(first)
            .iter()
            .any(|p| p.depth == 0 && p.open.start == 0);
        opens(first) && !closed && opens(second)
    }

    /// The cue in the gap between a content ending at word `from` and the next content `next`,
    /// when the gap holds a cue, a source, and otherwise only punctuation, and the next content
    /// is in the same sentence or starts the next one without a cue of its own.
    fn bridging_cue(&self, from: usize, next: &Range<usize>) -> Option<usize> {
        let to = next.start;
        if from >= to || from == 0 {
            return None;
        }
        let (before, after) = (self.sent(from - 1), self.sent(to));
        if after > before + 1 {
            return None;
        }
        let (mut cue, mut source) = (None, false);
        for w in from..to {
            if let Some(c) = self.covering(&self.roles.cues, w) {
                cue = cue.or(Some(c));
            } else if self.covering(&self.roles.sources, w).is_some() {
                source = true;
            } else if !self.is_punct(w) {
                return None;
            }
        }
        if after > before {
            let quoted = |w: usize, opening: bool| {
                self.doc
                    .tokens
                    .get(w)
                    .and_then(|t| t.slice(&self.doc.text))
                    .is_some_and(|t| {
                        t.chars().any(|c| {
                            if opening {
                                OPENING.contains(&c)
                            } else {
                                CLOSING.contains(&c)
                            }
                        })
                    })
            };
            if !(quoted(from - 1, false) && quoted(to, true)) {
                return None;
            }
            let sentences = self.sentences(next);
            let cues = &self.roles.cues;
            let own_cue = cues[self.near(cues, sentences)]
                .iter()
                .any(|c| c.words.start >= to && self.sentence_gap(&c.words, sentences) == 0);
            if own_cue {
                return None;
            }
        }
        cue.filter(|_| source)
    }

    /// Sentence distance from a span to a group of sentences `first..=last`.
    fn sentence_gap(&self, words: &Range<usize>, (first, last): (usize, usize)) -> usize {
        let (a, b) = self.sentences(words);
        if b < first {
            first - b
        } else {
            a.saturating_sub(last)
        }
    }

    fn assign_cues(&self, groups: &[Group], cue_of: &mut [Option<usize>]) {
        let cues = &self.roles.cues;
        let mut used = vec![false; cues.len()];
        for c in cue_of.iter().flatten() {
            used[*c] = true;
        }
        let mut pairs = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            if cue_of[g].is_some() {
                continue;
            }
            let sentences = self.sentences(&group.words);
            for c in self.near(cues, sentences) {
                let cue = &cues[c];
                let s = self.sentence_gap(&cue.words, sentences);
                if s <= 1 && !used[c] {
                    pairs.push((gap(&group.words, &cue.words) + s * SENTENCE_COST, g, c));
                }
            }
        }
        pairs.sort_unstable();
        for (_, g, c) in pairs {
            if cue_of[g].is_none() && !used[c] {
                cue_of[g] = Some(c);
                used[c] = true;
            }
        }
    }

    fn assign_sources(&self, groups: &[Group], cue_of: &[Option<usize>]) -> Vec<Option<usize>> {
        let sources = &self.roles.sources;
        let mut pairs = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            let (anchor, extra) = match cue_of[g] {
                Some(c) => (&self.roles.cues[c].words, 0),
                None => (&group.words, NO_CUE_COST),
            };
            let sentences = self.sentences(anchor);
            for s in self.near(sources, sentences) {
                let source = &sources[s];
                let sg = self.sentence_gap(&source.words, sentences);
                if sg > 1 {
                    continue;
                }
                let crossing = self.crosses_other_content(&source.words, anchor, &group.words);
                let cost = gap(anchor, &source.words)
                    + sg * SENTENCE_COST
                    + if crossing { CROSSING_COST } else { 0 }
                    + extra;
                pairs.push((cost, g, s));
            }
        }
        pairs.sort_unstable();
        let mut source_of = vec![None; groups.len()];
        let mut used = vec![false; sources.len()];
        for (_, g, s) in pairs {
            if source_of[g].is_none() && !used[s] {
                source_of[g] = Some(s);
                used[s] = true;
            }
        }
        source_of
    }

    /// Whether a word of a content other than `own` lies between `a` and `b`.
    fn crosses_other_content(
        &self,
        a: &Range<usize>,
        b: &Range<usize>,
        own: &Range<usize>,
    ) -> bool {
        let between = a.end.min(b.end)..a.start.max(b.start);
        let own_between = between.start.max(own.start)..between.end.min(own.end);
        self.content_words(between) > self.content_words(own_between)
    }
}

/// Number of words strictly between two word ranges; 0 when they touch or overlap.
fn gap(a: &Range<usize>, b: &Range<usize>) -> usize {
    if a.end <= b.start {
        b.start - a.end
    } else {
        a.start.saturating_sub(b.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::role_labels;
    use crate::scheme::{Scheme, TagSet};
    use crate::span::Span;
    use crate::tokenize::tokenize_document;

    /// `[[role text]]` marks: `{C ...}` content, `{Q ...}` cue, `{S ...}` source. Returns the
    /// plain text and the role spans decoded from the marks through word tags.
    fn parse(marked: &str) -> (Document, RoleSpans) {
        let mut text = String::new();
        let mut doc_spans: Vec<(char, Span)> = Vec::new();
        let mut open: Vec<(char, usize)> = Vec::new();
        let mut chars = marked.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' => {
                    let role = chars.next().unwrap();
                    assert_eq!(chars.next(), Some(' '));
                    open.push((role, text.len()));
                }
                '}' => {
                    let (role, start) = open.pop().unwrap();
                    doc_spans.push((role, Span::new(start, text.len())));
                }
                _ => text.push(c),
            }
        }
        let mut doc = Document::new("t", text);
        tokenize_document(&mut doc);
        // Encode each role as its own attribution piece so `role_tags` sees them all.
        let mut d = doc.clone();
        for (role, span) in doc_spans {
            let m = Some(Mention::single(span));
            let content = Mention::single(span);
            d.attributions.push(match role {
                'C' => Attribution {
                    content,
                    cue: None,
                    source: None,
                },
                'Q' => Attribution {
                    content: Mention::new(vec![]),
                    cue: m,
                    source: None,
                },
                'S' => Attribution {
                    content: Mention::new(vec![]),
                    cue: None,
                    source: m,
                },
                _ => panic!("role {role}"),
            });
        }
        let set = TagSet::new(Scheme::Bioes, &role_labels());
        let tags = role_tags(&d, &set);
        let roles = roles_from_tags(&doc, &tags.tags, None, &set).unwrap();
        (doc, roles)
    }

    fn show(doc: &Document, a: &Attribution) -> String {
        let m = |m: &Option<Mention>| {
            m.as_ref()
                .and_then(|m| m.text(&doc.text))
                .unwrap_or("-".into())
        };
        format!(
            "{} | {} | {}",
            a.content.text(&doc.text).unwrap(),
            m(&a.cue),
            m(&a.source)
        )
    }

    #[test]
    fn table() {
        let cases: &[(&str, &[&str])] = &[
            // Speaker after the quote.
            ("{C \"We will win,\"} {S Smith} {Q said}.", &["\"We will win,\" | said | Smith"]),
            // Speaker before the quote.
            ("{S Smith} {Q said}: {C \"We will win.\"}", &["\"We will win.\" | said | Smith"]),
            // Two quotes, two speakers, one paragraph.
            (
                "{C \"Taxes will rise,\"} {Q said} {S Jones}. {C \"They will not,\"} {S Smith} {Q replied}.",
                &["\"Taxes will rise,\" | said | Jones", "\"They will not,\" | replied | Smith"],
            ),
            // A quote over two paragraphs, tagged as two contents.
            (
                "{C \u{201C}We won.}\n\n{C \u{201C}We won big,\u{201D}} {S Smith} {Q said}.",
                &["\u{201C}We won. \u{201C}We won big,\u{201D} | said | Smith"],
            ),
            // ... but two closed quotes side by side stay two.
            (
                "{C \u{201C}We won.\u{201D}}\n\n{C \u{201C}We won big,\u{201D}} {S Smith} {Q said}.",
                &["\u{201C}We won.\u{201D} | - | -", "\u{201C}We won big,\u{201D} | said | Smith"],
            ),
            // A quote with no speaker.
            ("The sign read: {C \"Closed.\"}", &["\"Closed.\" | - | -"]),
            // A content split by cue and source.
            (
                "{C \"A,\"} {S he} {Q said}, {C \"B.\"}",
                &["\"A,\" \"B.\" | said | he"],
            ),
            // ... also across a sentence end when the second piece has no cue of its own.
            (
                "{C \"A,\"} {S he} {Q said}. {C \"B.\"}",
                &["\"A,\" \"B.\" | said | he"],
            ),
            // A gap with a cue but no source is not a split content.
            (
                "It was {C \"bad,\"} {Q and called it} {C \"worse.\"}",
                &["\"bad,\" | and called it | -", "\"worse.\" | - | -"],
            ),
            // According to X.
            (
                "{Q According to} {S the report}, {C the plan failed}.",
                &["the plan failed | According to | the report"],
            ),
            // Cue in the next sentence after a multi-sentence quote.
            (
                "{C \"We won. We won big.\"}\n\n{S He} {Q said} nothing else.",
                &["\"We won. We won big.\" | said | He"],
            ),
            // A source is not taken across another content.
            (
                "{S Smith} {Q said} {C taxes rise}. {C \"No,\"} {Q replied} {S Jones}.",
                &["taxes rise | said | Smith", "\"No,\" | replied | Jones"],
            ),
        ];
        for (marked, expect) in cases {
            let (doc, roles) = parse(marked);
            let got: Vec<String> = assemble(&doc, &roles)
                .iter()
                .map(|a| show(&doc, a))
                .collect();
            assert_eq!(got, *expect, "{marked}");
        }
    }

    #[test]
    fn no_roles_no_attributions() {
        let (doc, roles) = parse("Nothing was said.");
        assert!(assemble(&doc, &roles).is_empty());
        let empty = Document::new("e", "");
        assert!(assemble(&empty, &RoleSpans::default()).is_empty());
    }
}
