//! Rule-based attribution assembly: predicted source, cue and content spans (see
//! [`RoleSpans`]) to [`Attribution`] records. The fallback and the baseline for a learned linker.
//!
//! # Rules
//!
//! 1. **Split contents are merged.** Consecutive content spans whose gap holds a cue and a source
//!    and otherwise only punctuation (tokens without a letter or digit) form one discontinuous
//!    content, as in `"A," he said, "B."`, when the second piece is in the same sentence as the
//!    end of the gap, or, for direct quotes only (the first piece ends with a closing quotation
//!    mark, the second starts with an opening one), starts the next sentence and that sentence has
//!    no cue of its own after the gap (`"A," he said. "B."`; also `"A?" he asked. "B."` when the
//!    sentence splitter ends a sentence after the first piece). That cue is its cue. **A cue alone
//!    may split an indirect content** in one sentence (`a search {was requested} of the e-mails`;
//!    direct quotes not: `"bad," and called it "worse."` stays two). **Between direct quotes the
//!    gap may hold other words too** (`"A," Obama said on Saturday at the gala. "B."`). The marks
//!    are read in the text, so the wires' `''` (two `'` tokens) counts as `"`. No such
//!    merge crosses a line break (`“A.” ― Ann\n“B.” ― Bob`). A rough count over PolNeAR train
//!    (sentences cut at `. ! ?`): such gaps join one quote 252 times and two quotes 50 times;
//!    without a cue before the first piece, 251 and 28.
//!    **No merge when the first piece has a cue before it in its sentence**: it is that cue's
//!    content (`He shouted "A," Beck joked, "B."`; `She focused on A, Sanders pointed out B`). On
//!    gold spans of PolNeAR train this condition lifts attribution F1 from 89.65 to 90.81 and
//!    content exact F1 from 82.85 to 85.86, the cue alone to 91.66 and 88.80, and the line break
//!    to 91.68 and 88.93 (direct-quote speakers 89.61 to 90.43 %). **A quote over
//!    paragraphs is merged too:** a content that opens a double quotation mark it does not close,
//!    followed with no word between (a paragraph break, say) by a content that starts with an
//!    opening mark, is the same quote (`“We won.\n\n“We won big,” he said`: each paragraph opens,
//!    only the last closes). PolNeAR never annotates two such contents as two attributions (0
//!    pairs in dev and train).
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
//!    increasing cost, each source at most once. **A source shares a line with its anchor or
//!    its content:** a line break between it and both never occurs in PolNeAR's gold (1 of
//!    2,192 dev attributions), while the tagger's linked sources crossing one were nearly all
//!    another quote's, as in a list of `“...” ― Name` lines.
//! 5. **A source may serve two contents.** A content with a cue but no source after rule 4 (or
//!    the learned scorer) shares the nearest source of another content whose cue is in the same
//!    sentence, when the source is in that sentence too and nothing lies between it and the cue
//!    but the two contents (no other source): `Carson said he plans a strategy, insisting that
//!    leaders are wrong`. One source mention serves several attributions for 12 % of PolNeAR's
//!    gold sources (2,235 of 18,360 in train); a word tag can mark it only once.
//!
//! Sentences are `doc.sentences`; a document without them is one sentence. Rules 3 and 4 weigh
//! only each content's [`MAX_CANDIDATES`] cheapest cues and sources, and the learned scorer
//! below its nearest tagged sources (and the rules' choice): the same choices on PolNeAR's
//! gold, while a text tagged densely all through stays a problem the size of its quotes.
//!
//! # A learned source scorer
//!
//! [`link_problem`] runs rules 1 to 3 and lists, for every content, its candidate sources: the
//! source spans within [`SOURCE_SENTENCES`] sentences of the content or its cue, plus "no
//! source", each with the [`LINK_FEATURES`] numbers of [`SourceCandidate::features`] (distance,
//! direction, sentences, crossing, what rule 4 would choose, ...). A scorer (byline-model's
//! `Linker`, which adds the encoder's vectors of the spans' first and last words) gives every
//! candidate a score, and [`LinkProblem::decode`] takes content–source pairs by decreasing score,
//! each content and each source at most once, a pair only when it scores above the content's
//! "no source". [`assemble_with`] falls back to rule 4 when the scorer gives no scores; a source
//! farther than [`SOURCE_SENTENCES`] sentences is never linked either way, and rule 5 applies
//! after either ([`LinkProblem::attributions`]).

use std::ops::Range;

use crate::align::{is_punct, mark, role_tags, roles_from_tags, AlignStats, RoleSpans, WordSpan};
use crate::document::{Attribution, Document, Mention};
use crate::error::Result;
use crate::quote::{ends_with_closing_double, quoted_pairs, starts_with_opening_double};
use crate::scheme::TagSet;

/// Extra cost of a cue or source in the sentence next to its anchor.
pub const SENTENCE_COST: usize = 50;
/// Extra cost of a source separated from its anchor by another content.
pub const CROSSING_COST: usize = 20;
/// Extra cost of a source attached to a content that has no cue.
pub const NO_CUE_COST: usize = 10;
/// How many sentences away from its content (or the content's cue) a source candidate of the
/// learned scorer may be.
pub const SOURCE_SENTENCES: usize = 2;
/// Length of [`SourceCandidate::features`].
pub const LINK_FEATURES: usize = 20;
/// How many of the features a scorer of tagged sources only reads (all but the last, which
/// tells a proposed span from a tagged one).
pub const TAGGED_LINK_FEATURES: usize = 19;
/// How many words away from a content or cue word a proposed span may lie at most: the words
/// whose vectors a proposing scorer needs are within this distance of one.
pub const PROPOSAL_REACH: usize = 80;
/// A document of more words gets no proposed spans: a proposing scorer then keeps only the
/// vectors of tagged spans' first and last words for it, as a scorer of tagged sources does,
/// so a multi-megabyte document does not keep a vector for nearly every word.
pub const MAX_PROPOSAL_WORDS: usize = 100_000;
/// At most this many proposed candidates in one document: past it, later contents choose only
/// among tagged sources (a document of tens of thousands of quotes keeps a bounded problem).
pub const MAX_PROPOSALS: usize = 200_000;
/// At most this many tagged sources (the nearest) are a content's candidates for the learned
/// scorer, and at most this many cues or sources (the cheapest) are weighed for it by rules 3
/// and 4. A news text has a handful near each content; a text tagged densely all through (a
/// megabyte-long line read as one sentence run after another, or a random model) would
/// otherwise give every content hundreds, and the document a problem of gigabytes.
pub const MAX_CANDIDATES: usize = 32;

/// Assembles attributions from role spans over `doc`'s words (see the [module docs](self)).
/// Attributions come in the order of their contents.
pub fn assemble(doc: &Document, roles: &RoleSpans) -> Vec<Attribution> {
    let problem = build_problem(doc, roles, None);
    problem.attributions(roles, &problem.rule_source_of)
}

/// [`assemble`] with sources chosen by a learned scorer: `score` gets the [`LinkProblem`] and
/// returns one score per [`LinkProblem::candidates`] entry (higher is likelier), or `None` to
/// fall back to the rules (see the [module docs](self)). Scores of another length fall back too.
pub fn assemble_with(
    doc: &Document,
    roles: &RoleSpans,
    score: impl FnOnce(&LinkProblem) -> Option<Vec<f32>>,
) -> Vec<Attribution> {
    assemble_proposing(doc, roles, &Proposals::none(), score)
}

/// [`assemble_with`] where the scorer may also choose spans nobody tagged as a source (see
/// [`Proposals`]).
pub fn assemble_proposing(
    doc: &Document,
    roles: &RoleSpans,
    proposals: &Proposals<'_>,
    score: impl FnOnce(&LinkProblem) -> Option<Vec<f32>>,
) -> Vec<Attribution> {
    let problem = link_problem_proposing(doc, roles, proposals);
    let source_of = match score(&problem) {
        Some(scores) if scores.len() == problem.candidates.len() => problem.decode(&scores),
        _ => problem.rule_source_of.clone(),
    };
    problem.attributions(roles, &source_of)
}

/// One content of the assembled attributions: indices of its pieces in `roles.contents` (one,
/// or several for a split or multi-paragraph quote) and the words from its first to its last.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentGroup {
    pub pieces: Vec<usize>,
    pub words: Range<usize>,
}

/// Spans a learned scorer may choose as a source although the tagger did not tag them: for
/// each content, every run of 1 to `max_words` words in the sentences of the content and its
/// cue or the sentence before or after them, within [`PROPOSAL_REACH`] words of the content or
/// cue, that starts and ends with a word (not punctuation), stays in one sentence and one
/// paragraph, touches no tagged span of any role, and whose first and last words `available`
/// says yes to (the scorer has their vectors).
pub struct Proposals<'a> {
    pub max_words: usize,
    pub available: &'a dyn Fn(usize) -> bool,
}

impl std::fmt::Debug for Proposals<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proposals")
            .field("max_words", &self.max_words)
            .finish_non_exhaustive()
    }
}

impl Proposals<'_> {
    /// No proposed spans: candidates are the tagged sources only.
    pub fn none() -> Proposals<'static> {
        Proposals {
            max_words: 0,
            available: &|_| false,
        }
    }
}

/// A possible source of one content: `source` indexes `roles.sources` and then
/// [`LinkProblem::proposed`] (see [`LinkProblem::source_span`]); `None` is "no source".
#[derive(Debug, Clone, PartialEq)]
pub struct SourceCandidate {
    /// Index into [`LinkProblem::groups`].
    pub group: usize,
    pub source: Option<usize>,
    /// Numbers describing the pair, each in about `0..=1`: `[0]` no source; about the content:
    /// `[1]` has a cue, `[2]` direct quote, `[3]` ln(1 + words) / 5, `[4]` rule 4 gives it no
    /// source; about the candidate: `[5]` ln(1 + words between it and the cue, or the content
    /// without cue) / 5, `[6]` before that anchor, `[7..=9]` 0, 1 or 2 sentences from it,
    /// `[10]` another content lies between, `[11]` inside the content's extent, `[12]` ln(1 +
    /// its words) / 3, `[13]` rule 4 chooses it, `[14]`/`[15]` the nearest / second nearest
    /// candidate, `[16]` a pronoun, `[17]` touches the cue, `[18]` rule 4 gives it to another
    /// content, `[19]` a proposed span (not tagged). Proposed spans have `[13..=15]` and
    /// `[18]` at 0.
    pub features: [f32; LINK_FEATURES],
}

/// Contents, cues and the source candidates a scorer chooses among (see [`link_problem`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinkProblem {
    pub groups: Vec<ContentGroup>,
    /// Each group's cue (index into `roles.cues`), by rules 1 and 3.
    pub cue_of: Vec<Option<usize>>,
    /// Each group's source by rule 4: the fallback.
    pub rule_source_of: Vec<Option<usize>>,
    /// Every group's candidates, grouped by group in order, "no source" first, then the tagged
    /// sources, then the proposed spans.
    pub candidates: Vec<SourceCandidate>,
    /// Spans proposed as sources beyond the tagged ones (see [`Proposals`]); candidate
    /// `Some(roles.sources.len() + k)` is `proposed[k]`.
    pub proposed: Vec<WordSpan>,
    /// How many tagged sources (`roles.sources`) the candidates index before the proposed spans.
    pub tagged: usize,
    /// Sentence of every word, for sharing sources (see [`LinkProblem::attributions`]).
    sentence: Vec<usize>,
    /// The group whose content covers each word, if any.
    content_group: Vec<Option<usize>>,
    /// `source_words_before[w]`: how many of the words before `w` are in a tagged source.
    source_words_before: Vec<usize>,
}

impl LinkProblem {
    /// Source `s` of a candidate: a tagged source of `roles`, or a proposed span.
    pub fn source_span<'a>(&'a self, roles: &'a RoleSpans, s: usize) -> &'a WordSpan {
        match roles.sources.get(s) {
            Some(span) => span,
            None => &self.proposed[s - roles.sources.len()],
        }
    }

    /// Sources from candidate scores: pairs by decreasing score, each group and each source at
    /// most once, a pair only when it scores above its group's "no source". Proposed spans
    /// that overlap one already taken are passed over.
    pub fn decode(&self, scores: &[f32]) -> Vec<Option<usize>> {
        let mut null = vec![f32::NEG_INFINITY; self.groups.len()];
        for (c, &score) in self.candidates.iter().zip(scores) {
            if c.source.is_none() {
                null[c.group] = score;
            }
        }
        let mut pairs: Vec<(f32, usize, usize)> = self
            .candidates
            .iter()
            .zip(scores)
            .filter_map(|(c, &score)| c.source.map(|s| (score, c.group, s)))
            .filter(|&(score, g, _)| score > null[g])
            .collect();
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        let mut source_of = vec![None; self.groups.len()];
        let mut used = std::collections::HashSet::new();
        let mut taken: Vec<&Range<usize>> = Vec::new();
        let tagged = self.tagged;
        for (_, g, s) in pairs {
            if source_of[g].is_some() || used.contains(&s) {
                continue;
            }
            if let Some(p) = s.checked_sub(tagged).map(|k| &self.proposed[k].words) {
                if taken.iter().any(|t| t.start < p.end && p.start < t.end) {
                    continue;
                }
                taken.push(p);
            }
            used.insert(s);
            source_of[g] = Some(s);
        }
        source_of
    }

    /// The attributions: one per group, with its cue and the source `source_of` gives it, or,
    /// for a group with a cue and no source, a source shared with another group (rule 5 of the
    /// [module docs](self), [`LinkProblem::shared_sources`]).
    pub fn attributions(&self, roles: &RoleSpans, source_of: &[Option<usize>]) -> Vec<Attribution> {
        let source_of = self.shared_sources(roles, source_of);
        self.groups
            .iter()
            .zip(self.cue_of.iter().zip(&source_of))
            .map(|(g, (cue, source))| Attribution {
                content: Mention::new(g.pieces.iter().map(|&i| roles.contents[i].span).collect()),
                cue: cue.map(|c| Mention::single(roles.cues[c].span)),
                source: source.map(|s| Mention::single(self.source_span(roles, s).span)),
            })
            .collect()
    }

    /// `source_of` with rule 5 of the [module docs](self): a group with a cue and no source
    /// takes the nearest source of another group whose cue is in the same sentence, when that
    /// source is in the sentence too and only the two groups' contents lie between it and the
    /// cue, no other source (`X said A, insisting B`; `X referred to A but described B`).
    pub fn shared_sources(
        &self,
        roles: &RoleSpans,
        source_of: &[Option<usize>],
    ) -> Vec<Option<usize>> {
        let mut out = source_of.to_vec();
        let n = self.sentence.len();
        let sent = |w: usize| self.sentence.get(w).copied();
        let cue_sentence = |g: usize| {
            self.cue_of[g]
                .and_then(|c| roles.cues.get(c))
                .and_then(|c| sent(c.words.start))
        };
        // Groups by the sentence of their cue, for groups that have a source.
        let mut linked: std::collections::HashMap<usize, Vec<usize>> =
            std::collections::HashMap::new();
        for (h, s) in source_of.iter().enumerate() {
            if let (Some(_), Some(cs)) = (s, cue_sentence(h)) {
                linked.entry(cs).or_default().push(h);
            }
        }
        for g in 0..self.groups.len() {
            let (None, Some(cs), Some(cue)) = (
                source_of[g],
                cue_sentence(g),
                self.cue_of[g].and_then(|c| roles.cues.get(c)),
            ) else {
                continue;
            };
            let mut best: Option<(usize, usize)> = None;
            for &h in linked.get(&cs).into_iter().flatten() {
                let Some(s) = source_of[h].filter(|_| h != g) else {
                    continue;
                };
                let words = &self.source_span(roles, s).words;
                if words.end > n || sent(words.start) != Some(cs) {
                    continue;
                }
                let between = words.end.min(cue.words.end)..words.start.max(cue.words.start);
                let clear = self.source_words_before.get(between.end).copied()
                    == self.source_words_before.get(between.start).copied()
                    && self.content_group[between.clone()]
                        .iter()
                        .all(|o| o.is_none_or(|o| o == g || o == h));
                let distance = gap(words, &cue.words);
                if clear && best.is_none_or(|(d, _)| distance < d) {
                    best = Some((distance, s));
                }
            }
            out[g] = best.map(|(_, s)| s);
        }
        out
    }
}

/// Rules 1 to 4 (rule 5 comes with [`LinkProblem::attributions`]) and every content's source
/// candidates with their features (see the [module docs](self)).
pub fn link_problem(doc: &Document, roles: &RoleSpans) -> LinkProblem {
    link_problem_proposing(doc, roles, &Proposals::none())
}

/// [`link_problem`] with spans proposed as sources beyond the tagged ones (see [`Proposals`]).
pub fn link_problem_proposing(
    doc: &Document,
    roles: &RoleSpans,
    proposals: &Proposals<'_>,
) -> LinkProblem {
    build_problem(doc, roles, Some(proposals))
}

/// Rules 1 to 4, and the candidates with their features when `proposals` is given (the rules
/// alone need none: [`assemble`] leaves them empty).
fn build_problem(
    doc: &Document,
    roles: &RoleSpans,
    proposals: Option<&Proposals<'_>>,
) -> LinkProblem {
    let ctx = Context::new(doc, roles);
    let groups = ctx.merge_contents();
    let mut cue_of: Vec<Option<usize>> = groups.iter().map(|g| g.cue).collect();
    ctx.assign_cues(&groups, &mut cue_of);
    let rule_source_of = ctx.assign_sources(&groups, &cue_of);
    let (candidates, proposed) = match proposals {
        Some(p) => ctx.source_candidates(&groups, &cue_of, &rule_source_of, p),
        None => Default::default(),
    };
    let mut content_group = vec![None; doc.tokens.len()];
    for (g, group) in groups.iter().enumerate() {
        for &p in &group.pieces {
            mark(&mut content_group, &roles.contents[p].words, Some(g));
        }
    }
    let Context {
        sentence,
        source_before,
        ..
    } = ctx;
    LinkProblem {
        groups: groups
            .into_iter()
            .map(|g| ContentGroup {
                pieces: g.pieces,
                words: g.words,
            })
            .collect(),
        cue_of,
        rule_source_of,
        candidates,
        proposed,
        tagged: roles.sources.len(),
        sentence,
        content_group,
        source_words_before: source_before,
    }
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
    /// `source_before[w]`: how many of the words before `w` are inside a source span.
    source_before: Vec<usize>,
    /// Line of every word: how many line breaks lie before it.
    line: Vec<usize>,
    /// Sentences in text order and every role's spans in text order without overlap (as
    /// decoded from tags): candidates can be found by binary search rather than a scan.
    ordered: bool,
    /// Words inside a tagged span of any role.
    tagged: Vec<bool>,
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
        let mut line = Vec::with_capacity(n);
        for w in 0..n {
            let breaks = line.last().copied().unwrap_or(0);
            let broken = w > 0
                && doc
                    .text
                    .get(doc.tokens[w - 1].end..doc.tokens[w].start)
                    .is_some_and(|gap| gap.contains('\n'));
            line.push(breaks + usize::from(broken));
        }
        let marked = |spans: &[WordSpan]| {
            let mut words = vec![false; n];
            for s in spans {
                mark(&mut words, &s.words, true);
            }
            words
        };
        let in_content = marked(&roles.contents);
        let content_before = prefix_counts(&in_content);
        let source_before = prefix_counts(&marked(&roles.sources));
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
        let mut tagged = in_content;
        for s in roles.sources.iter().chain(&roles.cues) {
            mark(&mut tagged, &s.words, true);
        }
        Context {
            doc,
            roles,
            sentence,
            content_before,
            source_before,
            line,
            ordered,
            tagged,
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
                if let Some(cue) = self.bridging_cue(&g.words, &c.words) {
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
        let opens = starts_with_opening_double;
        let closed = quoted_pairs(first)
            .iter()
            .any(|p| p.depth == 0 && p.open.start == 0);
        opens(first) && !closed && opens(second)
    }

    /// The cue in the gap between a content over `content` and the next content `next`, when the
    /// gap holds a cue and a source (or, for an indirect content in one sentence, a cue alone), the
    /// next content is in the same sentence or starts the next one without a cue of its own, and
    /// the content has no cue before it in its sentence; the gap holds nothing else but
    /// punctuation, or, when both are direct quotes, also other words within one paragraph (rule 1
    /// of the [module docs](self)).
    fn bridging_cue(&self, content: &Range<usize>, next: &Range<usize>) -> Option<usize> {
        let (from, to) = (content.end, next.start);
        if from >= to || from == 0 {
            return None;
        }
        // Marks are read in the text, not the token: the wires' `''` is two `'` tokens.
        let text = &self.doc.text;
        let quoted = |w: usize, opening: bool| {
            self.doc.tokens.get(w).is_some_and(|t| {
                if opening {
                    text.get(t.start..).is_some_and(starts_with_opening_double)
                } else {
                    text.get(..t.end).is_some_and(ends_with_closing_double)
                }
            })
        };
        let direct = quoted(from - 1, false) && quoted(to, true);
        let one_paragraph = self.same_line(from - 1, to);
        let (mut before, after) = (self.sent(from - 1), self.sent(to));
        // `"A?" she said. "B."`: when a sentence ends with a direct quote's first piece, a gap
        // in the same paragraph that is one whole sentence counts as the first piece's.
        if self.sent(from) == before + 1
            && self.sent(to - 1) == before + 1
            && after == before + 2
            && direct
            && one_paragraph
        {
            before += 1;
        }
        if after > before + 1 {
            return None;
        }
        let (mut cue, mut source, mut other_words) = (None, false, false);
        for w in from..to {
            if let Some(c) = self.covering(&self.roles.cues, w) {
                cue = cue.or(Some(c));
            } else if self.covering(&self.roles.sources, w).is_some() {
                source = true;
            } else if !is_punct(self.doc, w) {
                other_words = true;
            }
        }
        // `He shouted "A," Beck joked, "B."`, `She focused on A, Sanders pointed out B`: a
        // content with a cue before it in its sentence is that cue's, not the gap's.
        let cues = &self.roles.cues;
        let first = self.sent(content.start);
        let cue_before = cues[self.near(cues, (first, first))].iter().any(|c| {
            c.words.end <= content.start && self.sentence_gap(&c.words, (first, first)) == 0
        });
        if cue_before || !one_paragraph || (other_words && !direct) {
            return None;
        }
        if after > before {
            if !direct {
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
        // `a search {was requested} of the e-mails`: a cue alone splits an indirect content.
        let passive = !other_words && after == before && !direct;
        cue.filter(|_| source || passive)
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
            let mut mine = Vec::new();
            for c in self.near(cues, sentences) {
                let cue = &cues[c];
                let s = self.sentence_gap(&cue.words, sentences);
                if s <= 1 && !used[c] {
                    mine.push((gap(&group.words, &cue.words) + s * SENTENCE_COST, g, c));
                }
            }
            pairs.extend(cheapest(mine));
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
            let mut mine = Vec::new();
            for s in self.near(sources, sentences) {
                let source = &sources[s];
                let sg = self.sentence_gap(&source.words, sentences);
                if sg > 1 || !self.shares_a_line(&source.words, anchor, &group.words) {
                    continue;
                }
                let crossing = self.crosses_other_content(&source.words, anchor, &group.words);
                let cost = gap(anchor, &source.words)
                    + sg * SENTENCE_COST
                    + if crossing { CROSSING_COST } else { 0 }
                    + extra;
                mine.push((cost, g, s));
            }
            pairs.extend(cheapest(mine));
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

    fn source_candidates(
        &self,
        groups: &[Group],
        cue_of: &[Option<usize>],
        rule_source_of: &[Option<usize>],
        proposals: &Proposals<'_>,
    ) -> (Vec<SourceCandidate>, Vec<WordSpan>) {
        let sources = &self.roles.sources;
        let mut rule_group = vec![None; sources.len()];
        for (g, s) in rule_source_of.iter().enumerate() {
            if let Some(s) = s {
                rule_group[*s] = Some(g);
            }
        }
        let mut out = Vec::new();
        let mut proposed: Vec<WordSpan> = Vec::new();
        // Proposed spans by word range, so contents sharing a span share its index.
        let mut proposed_at: std::collections::HashMap<(usize, usize), usize> =
            std::collections::HashMap::new();
        let mut proposals_left = MAX_PROPOSALS;
        for (g, group) in groups.iter().enumerate() {
            let cue = cue_of[g].map(|c| &self.roles.cues[c].words);
            let anchor = cue.unwrap_or(&group.words);
            let (cf, cl) = self.sentences(&group.words);
            let (af, al) = self.sentences(anchor);
            let span = (cf.min(af), cl.max(al));
            let direct = group.pieces.iter().all(|&p| {
                self.roles.contents[p]
                    .span
                    .slice(&self.doc.text)
                    .is_some_and(crate::quote::is_direct)
            });
            let mut base = [0.0f32; LINK_FEATURES];
            base[1] = flag(cue.is_some());
            base[2] = flag(direct);
            base[3] = ln_scaled(group.words.len(), 5.0);
            base[4] = flag(rule_source_of[g].is_none());
            let mut null = base;
            null[0] = 1.0;
            out.push(SourceCandidate {
                group: g,
                source: None,
                features: null,
            });
            let wide = (
                span.0.saturating_sub(SOURCE_SENTENCES - 1),
                span.1 + SOURCE_SENTENCES - 1,
            );
            let mut found: Vec<(usize, usize)> = self
                .near(sources, wide)
                .filter_map(|s| {
                    let words = &sources[s].words;
                    let gap_s = self.sentence_gap(words, span);
                    (gap_s <= SOURCE_SENTENCES && self.shares_a_line(words, anchor, &group.words))
                        .then_some((gap(anchor, words), s))
                })
                .collect();
            found.sort_unstable();
            if found.len() > MAX_CANDIDATES {
                // The nearest, and the rules' choice wherever it lies.
                let rule = rule_source_of[g]
                    .and_then(|r| found[MAX_CANDIDATES..].iter().find(|&&(_, s)| s == r))
                    .copied();
                found.truncate(MAX_CANDIDATES);
                found.extend(rule);
            }
            let pair = |source: &WordSpan| {
                self.pair_features(base, source, &group.words, anchor, cue, (af, al))
            };
            for (rank, &(_, s)) in found.iter().enumerate() {
                let mut f = pair(&sources[s]);
                f[13] = flag(rule_source_of[g] == Some(s));
                f[14] = flag(rank == 0);
                f[15] = flag(rank == 1);
                f[18] = flag(rule_group[s].is_some_and(|o| o != g));
                out.push(SourceCandidate {
                    group: g,
                    source: Some(s),
                    features: f,
                });
            }
            if proposals.max_words == 0 || proposals_left == 0 {
                continue;
            }
            let near = (span.0.saturating_sub(1), span.1 + 1);
            for words in self
                .proposed_spans(&group.words, anchor, near, proposals)
                .into_iter()
                .filter(|w| self.shares_a_line(w, anchor, &group.words))
            {
                if proposals_left == 0 {
                    break;
                }
                proposals_left -= 1;
                let key = (words.start, words.end);
                let k = *proposed_at.entry(key).or_insert_with(|| {
                    let span = crate::span::Span::new(
                        self.doc.tokens[words.start].start,
                        self.doc.tokens[words.end - 1].end,
                    );
                    proposed.push(WordSpan {
                        label: crate::label::LabelId(0),
                        words: words.clone(),
                        span,
                        score: None,
                    });
                    proposed.len() - 1
                });
                let mut f = pair(&proposed[k]);
                f[19] = 1.0;
                out.push(SourceCandidate {
                    group: g,
                    source: Some(sources.len() + k),
                    features: f,
                });
            }
        }
        (out, proposed)
    }

    /// What [`SourceCandidate::features`] says of candidate `source` for a content over
    /// `content` with anchor `anchor` (cue, or the content) in sentences `anchor_sentences`,
    /// on top of the content's `base`: the numbers that do not depend on the other candidates
    /// (5 to 12, 16 and 17).
    fn pair_features(
        &self,
        base: [f32; LINK_FEATURES],
        source: &WordSpan,
        content: &Range<usize>,
        anchor: &Range<usize>,
        cue: Option<&Range<usize>>,
        anchor_sentences: (usize, usize),
    ) -> [f32; LINK_FEATURES] {
        let words = &source.words;
        let sg = self.sentence_gap(words, anchor_sentences);
        let mut f = base;
        f[5] = ln_scaled(gap(anchor, words), 5.0);
        f[6] = flag(words.end <= anchor.start);
        f[7 + sg.min(2)] = 1.0;
        f[10] = flag(self.crosses_other_content(words, anchor, content));
        f[11] = flag(words.start >= content.start && words.end <= content.end);
        f[12] = ln_scaled(words.len(), 3.0);
        f[16] = flag(
            source
                .span
                .slice(&self.doc.text)
                .is_some_and(|t| crate::source::pronoun(t).is_some()),
        );
        f[17] = flag(cue.is_some_and(|c| gap(c, words) == 0));
        f
    }

    /// The spans [`Proposals`] allows for a content `content` with anchor (cue, or the content)
    /// `anchor`, in sentences `near` (inclusive).
    fn proposed_spans(
        &self,
        content: &Range<usize>,
        anchor: &Range<usize>,
        (first, last): (usize, usize),
        proposals: &Proposals<'_>,
    ) -> Vec<Range<usize>> {
        let n = self.doc.tokens.len();
        let from = content
            .start
            .min(anchor.start)
            .saturating_sub(PROPOSAL_REACH);
        let to = (content.end.max(anchor.end) + PROPOSAL_REACH).min(n);
        let usable = |w: usize| {
            !self.tagged[w] && {
                let sent = self.sent(w);
                sent >= first && sent <= last
            }
        };
        let mut out = Vec::new();
        for start in from..to {
            if !usable(start) || is_punct(self.doc, start) || !(proposals.available)(start) {
                continue;
            }
            for end in start + 1..=(start + proposals.max_words).min(to) {
                let w = end - 1;
                if !usable(w)
                    || self.sent(w) != self.sent(start)
                    || (w > start && self.paragraph_break_before(w))
                {
                    break;
                }
                if !is_punct(self.doc, w) && (proposals.available)(w) {
                    out.push(start..end);
                }
            }
        }
        out
    }

    /// Whether a line break separates word `w` from the word before it.
    fn paragraph_break_before(&self, w: usize) -> bool {
        w > 0 && !self.same_line(w - 1, w)
    }

    /// Whether no line break lies between words `a` and `b`.
    fn same_line(&self, a: usize, b: usize) -> bool {
        self.line.get(a) == self.line.get(b)
    }

    /// Whether a source over `source` shares a line with its anchor or its content: no line
    /// break lies between it and one of them (rule 4 of the [module docs](self)).
    fn shares_a_line(
        &self,
        source: &Range<usize>,
        anchor: &Range<usize>,
        content: &Range<usize>,
    ) -> bool {
        let same_line = |a: &Range<usize>, b: &Range<usize>| {
            let (first, second) = if a.end <= b.start { (a, b) } else { (b, a) };
            first.end > second.start || self.same_line(first.end.saturating_sub(1), second.start)
        };
        same_line(source, anchor) || same_line(source, content)
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

/// The [`MAX_CANDIDATES`] cheapest of one group's `(cost, group, span)` pairs (all of them when
/// there are no more), in no particular order: the pairs are sorted together afterwards.
fn cheapest(mut pairs: Vec<(usize, usize, usize)>) -> Vec<(usize, usize, usize)> {
    if pairs.len() > MAX_CANDIDATES {
        pairs.select_nth_unstable(MAX_CANDIDATES - 1);
        pairs.truncate(MAX_CANDIDATES);
    }
    pairs
}

/// `counts[w]`: how many of `marks[..w]` are set (`marks.len() + 1` counts).
fn prefix_counts(marks: &[bool]) -> Vec<usize> {
    let mut counts = Vec::with_capacity(marks.len() + 1);
    counts.push(0);
    for (w, &set) in marks.iter().enumerate() {
        counts.push(counts[w] + usize::from(set));
    }
    counts
}

/// ln(1 + x) / scale: a count as a feature of about `0..=1`.
fn ln_scaled(x: usize, scale: f32) -> f32 {
    (x as f32).ln_1p() / scale
}

fn flag(b: bool) -> f32 {
    if b {
        1.0
    } else {
        0.0
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
            // ... also when the first piece ends its sentence.
            (
                "{C \"Why?\"} {S he} {Q asked}. {C \"B.\"}",
                &["\"Why?\" \"B.\" | asked | he"],
            ),
            // ... and with other words in the gap, between direct quotes.
            (
                "{C \"A,\"} {S Obama} {Q said} on Saturday at the gala. {C \"B.\"}",
                &["\"A,\" \"B.\" | said | Obama"],
            ),
            // ... with the wires' doubled apostrophes as the marks (two `'` tokens each),
            (
                "{C ''A,''} {S Mr. Biden} {Q said}. {C ''B.''}",
                &["''A,'' ''B.'' | said | Mr. Biden"],
            ),
            // ... but not across a paragraph break,
            (
                "{C \"A,\"} {S Obama} {Q said} on Saturday.\n{C \"B.\"}",
                &["\"A,\" | said | Obama", "\"B.\" | - | -"],
            ),
            // ... nor after a quote with a cue of its own before it.
            (
                "{S Ann} {Q shouted}, {C \"Go,\"} {S Bob} {Q joked} in jest, {C \"Amen.\"}",
                &["\"Go,\" | shouted | Ann", "\"Amen.\" | joked | Bob"],
            ),
            // ... nor, for any content, after a cue of its own.
            (
                "{S Jo} {Q focused on} {C spending}, {S Sanders} {Q pointed out} {C that it fell}.",
                &["spending | focused on | Jo", "that it fell | pointed out | Sanders"],
            ),
            // A source shares a line with its content or cue, and a split content does not run
            // over a line break: a list of quotes, each with its speaker after a dash.
            (
                "{C \u{201C}A.\u{201D}} {Q \u{2015}} {S Ann}\n{C \u{201C}B.\u{201D}} {Q \u{2015}} {S Bob}",
                &["\u{201C}A.\u{201D} | \u{2015} | Ann", "\u{201C}B.\u{201D} | \u{2015} | Bob"],
            ),
            // A source serves a second content of its sentence that has a cue but no source,
            (
                "{S Carson} {Q said} {C he has a plan}, {Q insisting} {C that others are wrong}.",
                &["he has a plan | said | Carson", "that others are wrong | insisting | Carson"],
            ),
            // ... but not past another source, nor into another sentence.
            (
                "{S Ann} {Q said} {C it was over} and {S Bob} {Q denied} {C it}. {Q Asked} later, {C no}.",
                &["it was over | said | Ann", "it | denied | Bob", "no | Asked | -"],
            ),
            // An indirect content split by a cue alone.
            (
                "{C a search} {Q was requested} {C of the e-mails}.",
                &["a search of the e-mails | was requested | -"],
            ),
            // A gap with a cue but no source is not a split quote.
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

    /// Scores that pick what rule 4 picks: its choice above "no source", and "no source" above
    /// the rest where rule 4 found none.
    fn follow_rule_4(p: &LinkProblem) -> Option<Vec<f32>> {
        Some(
            p.candidates
                .iter()
                .map(|c| c.features[13] + 0.5 * c.features[0] * c.features[4])
                .collect(),
        )
    }

    #[test]
    fn a_scorer_that_follows_rule_4_assembles_what_the_rules_do() {
        let marked =
            "{C \"Taxes will rise,\"} {Q said} {S Jones}. {C \"They will not,\"} {S Smith} \
                      {Q replied}. {S He} {Q added} {C that nothing was decided}.";
        let (doc, roles) = parse(marked);
        let rules = assemble(&doc, &roles);
        assert_eq!(assemble_with(&doc, &roles, follow_rule_4), rules);
        // No scores, or scores of the wrong length: the rules.
        assert_eq!(assemble_with(&doc, &roles, |_| None), rules);
        assert_eq!(assemble_with(&doc, &roles, |_| Some(vec![1.0])), rules);
        let problem = link_problem(&doc, &roles);
        assert_eq!(problem.groups.len(), 3);
        // Every group's candidates: "no source" first, then the sources near it, nearest first.
        for g in 0..3 {
            let of: Vec<&SourceCandidate> =
                problem.candidates.iter().filter(|c| c.group == g).collect();
            assert_eq!(of[0].source, None);
            assert_eq!(of[0].features[0], 1.0);
            assert_eq!(of.len(), 4, "three sources within two sentences");
            assert_eq!(of[1].features[14], 1.0);
        }
    }

    /// A hundred quotes in one sentence: each content weighs only the nearest sources, so the
    /// problem grows with the quotes, not with their square, and the rules still pair each
    /// content with its own source.
    #[test]
    fn a_densely_tagged_sentence_keeps_few_candidates_per_content() {
        let marked: String = (0..100)
            .map(|i| format!("{{S Speaker{i}}} {{Q said}} {{C that rates rose}}, "))
            .collect();
        let (doc, roles) = parse(&marked);
        assert_eq!(doc.sentences.len(), 1);
        assert_eq!(roles.sources.len(), 100);
        let problem = link_problem(&doc, &roles);
        assert_eq!(problem.groups.len(), 100);
        for g in 0..100 {
            let of: Vec<&SourceCandidate> =
                problem.candidates.iter().filter(|c| c.group == g).collect();
            assert!(of.len() <= MAX_CANDIDATES + 2, "{} candidates", of.len());
            // The rules' choice is always among them.
            let rule = problem.rule_source_of[g];
            assert!(rule.is_some());
            assert!(of.iter().any(|c| c.source == rule && c.features[13] == 1.0));
        }
        let rules = assemble(&doc, &roles);
        for (i, a) in rules.iter().enumerate() {
            let source = a.source.as_ref().and_then(|m| m.text(&doc.text));
            assert_eq!(source.as_deref(), Some(format!("Speaker{i}").as_str()));
        }
        // A scorer that follows rule 4 over the capped candidates assembles the same.
        assert_eq!(assemble_with(&doc, &roles, follow_rule_4), rules);
    }

    #[test]
    fn decoding_takes_pairs_by_score_above_no_source() {
        let (doc, roles) = parse("{C \"A,\"} {Q said} {S Jones}. {C \"B,\"} {Q said} {S Smith}.");
        let problem = link_problem(&doc, &roles);
        let index = |g: usize, s: Option<usize>| {
            problem
                .candidates
                .iter()
                .position(|c| c.group == g && c.source == s)
                .unwrap()
        };
        // (group, source, score) settings, then the sources decoded.
        type Scores<'a> = &'a [(usize, Option<usize>, f32)];
        let table: &[(Scores, [Option<usize>; 2])] = &[
            // Both contents prefer Smith: the higher score wins it, the other takes Jones.
            (
                &[(0, Some(1), 3.0), (1, Some(1), 2.0), (1, Some(0), 1.0)],
                [Some(1), Some(0)],
            ),
            // A source below its content's "no source" is not taken.
            (
                &[(0, None, 5.0), (0, Some(0), 4.0), (1, Some(1), 1.0)],
                [None, Some(1)],
            ),
            // Nothing above zero, every "no source" at zero: Jones only for the first.
            (&[(0, Some(0), 0.5)], [Some(0), None]),
        ];
        for (scores, expect) in table {
            let mut v = vec![0.0f32; problem.candidates.len()];
            for c in &problem.candidates {
                if c.source.is_some() {
                    v[index(c.group, c.source)] = -1.0;
                }
            }
            for &(g, s, x) in scores.iter() {
                v[index(g, s)] = x;
            }
            assert_eq!(problem.decode(&v), expect.to_vec(), "{scores:?}");
        }
    }

    /// Proposed spans: runs of up to `max_words` words near the content, none touching a tagged
    /// span, crossing a sentence or a paragraph, or ending on punctuation; chosen by the scores
    /// like a tagged source, and two overlapping proposals never both taken.
    #[test]
    fn proposals_are_untagged_runs_near_the_content() {
        let (doc, roles) =
            parse("{C \"We won,\"} {Q said} the mayor of Springfield.\nOthers left.");
        let text = |r: &Range<usize>| {
            let t = &doc.tokens;
            doc.text[t[r.start].start..t[r.end - 1].end].to_string()
        };
        let all = |_: usize| true;
        let spec = |max_words| Proposals {
            max_words,
            available: &all,
        };
        assert!(link_problem_proposing(&doc, &roles, &spec(0))
            .proposed
            .is_empty());
        let problem = link_problem_proposing(&doc, &roles, &spec(2));
        let proposed: Vec<String> = problem.proposed.iter().map(|p| text(&p.words)).collect();
        assert_eq!(
            proposed,
            [
                "the",
                "the mayor",
                "mayor",
                "mayor of",
                "of",
                "of Springfield",
                "Springfield",
            ],
            "no punctuation at the ends, none over the sentence end, none on another line"
        );
        assert_eq!(problem.tagged, 0);
        let candidates = &problem.candidates;
        assert_eq!(candidates.len(), 1 + proposed.len());
        assert!(candidates[1..].iter().all(|c| c.features[19] == 1.0));
        assert_eq!(candidates[0].features[19], 0.0);
        // Scores choose "the mayor"; its span becomes the source.
        let mayor = proposed.iter().position(|p| p == "the mayor").unwrap();
        let mut scores = vec![0.0f32; candidates.len()];
        scores[1 + mayor] = 2.0;
        let attributions = assemble_proposing(&doc, &roles, &spec(2), |_| Some(scores.clone()));
        let source = attributions[0].source.as_ref().unwrap();
        assert_eq!(source.text(&doc.text).unwrap(), "the mayor");
        // Without vectors for a word, no proposal starts or ends on it.
        let no_mayor = |w: usize| text(&(w..w + 1)) != "mayor";
        let limited = Proposals {
            max_words: 2,
            available: &no_mayor,
        };
        let problem = link_problem_proposing(&doc, &roles, &limited);
        assert!(problem.proposed.iter().all(|p| {
            let t = text(&p.words);
            !t.starts_with("mayor") && !t.ends_with("mayor")
        }));
        // Two contents may not both take overlapping proposals.
        let (doc, roles) = parse("{C \"A,\"} {Q said} Jane Doe. {C \"B,\"} {Q added} Jane.");
        let text = |r: &Range<usize>| {
            let t = &doc.tokens;
            doc.text[t[r.start].start..t[r.end - 1].end].to_string()
        };
        let problem = link_problem_proposing(&doc, &roles, &spec(2));
        let scores: Vec<f32> = problem
            .candidates
            .iter()
            .map(|c| match c.source {
                None => 0.0,
                Some(s) => match text(&problem.source_span(&roles, s).words).as_str() {
                    "Jane Doe" if c.group == 0 => 3.0,
                    "Jane" if c.group == 1 => 2.0,
                    _ => -1.0,
                },
            })
            .collect();
        let source_of = problem.decode(&scores);
        let chosen: Vec<String> = source_of
            .iter()
            .map(|s| {
                s.map(|s| text(&problem.source_span(&roles, s).words))
                    .unwrap_or_default()
            })
            .collect();
        // The second "Jane" is its own word range (after "added"), so both are taken.
        assert_eq!(chosen, ["Jane Doe", "Jane"]);
        let first_jane = problem
            .proposed
            .iter()
            .position(|p| text(&p.words) == "Jane" && p.words.start < 10)
            .map(|k| k + problem.tagged);
        let mut overlapping = scores.clone();
        for (c, x) in problem.candidates.iter().zip(overlapping.iter_mut()) {
            if c.group == 1 && c.source.is_some() {
                *x = if c.source == first_jane { 2.0 } else { -1.0 };
            }
        }
        assert_eq!(problem.decode(&overlapping)[1], None, "overlaps Jane Doe");
    }

    #[test]
    fn no_roles_no_attributions() {
        let (doc, roles) = parse("Nothing was said.");
        assert!(assemble(&doc, &roles).is_empty());
        let empty = Document::new("e", "");
        assert!(assemble(&empty, &RoleSpans::default()).is_empty());
    }
}
