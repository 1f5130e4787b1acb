//! Word labels: byte spans of a [`Document`] to one tag per word (for training), and per-word
//! tags back to byte spans (for inference).
//!
//! # Spans to word tags
//!
//! A word belongs to a span when it **overlaps** it by at least one byte, so a span that starts
//! or ends inside a word takes the whole word. Such a span is *approximated*: its words' extent
//! is not its own byte span, and it is counted in [`AlignStats::approximated`] so training can
//! report how many labels changed. A span that covers no word (only whitespace, or a document
//! without tokens) is dropped and counted in [`AlignStats::dropped`]. Spans are taken in text
//! order (start, then end); a span whose words overlap an earlier span's words loses the shared
//! words (it starts after the earlier one's last word), counted in [`AlignStats::clipped`], or is
//! dropped when nothing is left. A span whose label is not in the [`TagSet`] is skipped and
//! counted in [`AlignStats::unknown_label`]. The tags are the canonical ones of the tag set's
//! scheme ([`scheme::encode`]).
//!
//! Entities give one span each. Attributions give one span per **piece** of each role, labelled
//! [`SOURCE`], [`CUE`] and [`CONTENT`], so the pieces of a discontinuous content stay separate
//! spans (IO cannot separate adjacent pieces: they merge).
//!
//! # Word tags to spans
//!
//! [`scheme::decode`] over the whole word sequence gives word ranges; each becomes the byte span
//! from its first word's start to its last word's end, with the mean of its words' scores when
//! scores are given.
//!
//! Attribution roles ([`roles_from_tags`]) are then tidied: a source or content never runs across
//! a line break (it is cut there), a content holds a letter or digit (a lone tagged `"` is
//! dropped), and an untagged dash that signs a direct quote (`“…” ― Name`) becomes a cue.

use std::ops::Range;

use crate::document::{Document, Entity, Mention};
use crate::error::{Error, Result};
use crate::label::{LabelId, LabelSet};
use crate::scheme::{self, Tag, TagSet, TokenSpan};
use crate::span::Span;

/// Role label of an attribution's source (the speaker).
pub const SOURCE: &str = "SOURCE";
/// Role label of an attribution's cue (the reporting verb or phrase).
pub const CUE: &str = "CUE";
/// Role label of an attribution's content (what was said).
pub const CONTENT: &str = "CONTENT";

/// The three role labels in their fixed order: `SOURCE`, `CUE`, `CONTENT`.
pub fn role_labels() -> LabelSet {
    LabelSet::from_names([SOURCE, CUE, CONTENT])
}

/// What happened to the spans while they were turned into word tags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlignStats {
    /// Spans offered.
    pub spans: usize,
    /// Spans tagged whose start or end falls inside a word.
    pub approximated: usize,
    /// Spans that lost words to an earlier overlapping span.
    pub clipped: usize,
    /// Spans left out: no word, or every word taken by earlier spans.
    pub dropped: usize,
    /// Spans left out because their label is not in the tag set.
    pub unknown_label: usize,
}

impl std::ops::AddAssign for AlignStats {
    fn add_assign(&mut self, o: Self) {
        self.spans += o.spans;
        self.approximated += o.approximated;
        self.clipped += o.clipped;
        self.dropped += o.dropped;
        self.unknown_label += o.unknown_label;
    }
}

/// One tag per word of a document, and how the spans fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordTags {
    pub tags: Vec<Tag>,
    pub stats: AlignStats,
}

/// A decoded span: its label, its words and its byte span.
#[derive(Debug, Clone, PartialEq)]
pub struct WordSpan {
    pub label: LabelId,
    pub words: Range<usize>,
    pub span: Span,
    /// Mean of the words' scores, when scores were given.
    pub score: Option<f32>,
}

/// Decoded attribution roles, each in text order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoleSpans {
    pub sources: Vec<WordSpan>,
    pub cues: Vec<WordSpan>,
    pub contents: Vec<WordSpan>,
}

/// Entity tags of `doc`'s words from `doc.entities` (see the [module docs](self)).
pub fn entity_tags(doc: &Document, tags: &TagSet) -> WordTags {
    let spans = doc
        .entities
        .iter()
        .map(|e| (tags.labels().id(&e.label), e.span));
    spans_to_tags(doc, spans, tags)
}

/// Role tags of `doc`'s words from `doc.attributions`: every piece of every source, cue and
/// content, labelled [`SOURCE`], [`CUE`], [`CONTENT`] (looked up in `tags`' label set).
pub fn role_tags(doc: &Document, tags: &TagSet) -> WordTags {
    let labels = tags.labels();
    let (s, q, c) = (labels.id(SOURCE), labels.id(CUE), labels.id(CONTENT));
    let mut spans = Vec::new();
    for a in &doc.attributions {
        let roles = [
            (s, a.source.as_ref()),
            (q, a.cue.as_ref()),
            (c, Some(&a.content)),
        ];
        for (label, mention) in roles {
            for &piece in mention.map_or(&[][..], |m| &m.pieces) {
                spans.push((label, piece));
            }
        }
    }
    spans_to_tags(doc, spans, tags)
}

fn spans_to_tags(
    doc: &Document,
    spans: impl IntoIterator<Item = (Option<LabelId>, Span)>,
    tags: &TagSet,
) -> WordTags {
    let mut stats = AlignStats::default();
    let mut spans: Vec<(Span, Option<LabelId>)> = spans.into_iter().map(|(l, s)| (s, l)).collect();
    spans.sort_by_key(|&(s, l)| (s.start, s.end, l));
    let mut words = Vec::new();
    let mut prev_end = 0;
    for (span, label) in spans {
        stats.spans += 1;
        let Some(label) = label else {
            stats.unknown_label += 1;
            continue;
        };
        let r = doc.tokens_in(span);
        let start = r.start.max(prev_end);
        if start >= r.end {
            stats.dropped += 1;
            continue;
        }
        if start > r.start {
            stats.clipped += 1;
        }
        if doc.tokens[r.start].start != span.start || doc.tokens[r.end - 1].end != span.end {
            stats.approximated += 1;
        }
        words.push(TokenSpan::new(start, r.end, label));
        prev_end = r.end;
    }
    // The spans are sorted, non-empty, disjoint and in range by construction.
    let tags = scheme::encode(&words, doc.tokens.len(), tags.scheme())
        .unwrap_or_else(|_| vec![Tag::O; doc.tokens.len()]);
    WordTags { tags, stats }
}

/// Decodes per-word tags into spans over `doc`'s text. `scores`, when given, holds one score per
/// word. Errors when the numbers of tags or scores differ from the number of words.
pub fn word_spans(
    doc: &Document,
    tags: &[Tag],
    scores: Option<&[f32]>,
    tag_set: &TagSet,
) -> Result<Vec<WordSpan>> {
    let words = doc.tokens.len();
    let count = |what, found| Error::WordCount {
        document: doc.id.clone(),
        what,
        words,
        found,
    };
    if tags.len() != words {
        return Err(count("tags", tags.len()));
    }
    if let Some(s) = scores.filter(|s| s.len() != words) {
        return Err(count("scores", s.len()));
    }
    Ok(scheme::decode(tags, tag_set.scheme())
        .into_iter()
        .map(|t| WordSpan {
            label: t.label,
            words: t.start..t.end,
            span: Span::new(doc.tokens[t.start].start, doc.tokens[t.end - 1].end),
            score: scores.map(|s| mean(&s[t.start..t.end])),
        })
        .collect())
}

/// `span` cut at every sentence start strictly inside it (`starts`: sentence start words,
/// ascending).
fn split_at_sentences(
    doc: &Document,
    span: WordSpan,
    starts: &[usize],
    scores: Option<&[f32]>,
) -> Vec<WordSpan> {
    let words = span.words.clone();
    let first = starts.partition_point(|&s| s <= words.start);
    let cuts: Vec<usize> = starts[first..]
        .iter()
        .copied()
        .take_while(|&s| s < words.end)
        .collect();
    if cuts.is_empty() {
        return vec![span];
    }
    std::iter::once(words.start)
        .chain(cuts.iter().copied())
        .zip(cuts.iter().copied().chain(std::iter::once(words.end)))
        .map(|(a, b)| WordSpan {
            label: span.label,
            words: a..b,
            span: Span::new(doc.tokens[a].start, doc.tokens[b - 1].end),
            score: scores.map(|s| mean(&s[a..b])),
        })
        .collect()
}

fn mean(xs: &[f32]) -> f32 {
    xs.iter().sum::<f32>() / xs.len().max(1) as f32
}

/// Entities from per-word tags (see [`word_spans`]); labels are the tag set's names. An
/// entity never crosses a sentence boundary: a span of tags that does (the model tags windows
/// of several sentences) is cut there, as conlleval and seqeval read tags sentence by sentence.
pub fn entities_from_tags(
    doc: &Document,
    tags: &[Tag],
    scores: Option<&[f32]>,
    tag_set: &TagSet,
) -> Result<Vec<Entity>> {
    let labels = tag_set.labels();
    let starts: Vec<usize> = doc.sentences.iter().map(|s| s.start).collect();
    Ok(word_spans(doc, tags, scores, tag_set)?
        .into_iter()
        .flat_map(|s| split_at_sentences(doc, s, &starts, scores))
        .filter_map(|s| {
            Some(Entity {
                span: s.span,
                label: labels.get(s.label)?.to_owned(),
                score: s.score,
            })
        })
        .collect())
}

/// Role spans from per-word role tags (see [`word_spans`]); spans of labels other than
/// [`SOURCE`], [`CUE`] and [`CONTENT`] are left out.
pub fn roles_from_tags(
    doc: &Document,
    tags: &[Tag],
    scores: Option<&[f32]>,
    tag_set: &TagSet,
) -> Result<RoleSpans> {
    let labels = tag_set.labels();
    let mut roles = RoleSpans::default();
    for s in word_spans(doc, tags, scores, tag_set)? {
        match labels.get(s.label) {
            // A speaker's name never runs across a line break: a header line glued to the
            // first name of the text ("World Media\n\nAssad") is two sources.
            Some(SOURCE) => roles.sources.extend(split_at_line_breaks(doc, s)),
            Some(CUE) => roles.cues.push(s),
            // Nor does a content: a tagged content running on into the next paragraph is two
            // contents, each attributed on its own (a quote over paragraphs that opens its
            // quotation mark again is joined again by the assembly's rule 1).
            // A content holds a letter or digit: a lone `"` tagged as content is no quote
            // (PolNeAR has none; the tagger leaves a few, such as a transcript's stray mark at
            // a paragraph's start).
            Some(CONTENT) => roles.contents.extend(
                split_at_line_breaks(doc, s)
                    .into_iter()
                    .filter(|p| p.words.clone().any(|w| !is_punct(doc, w))),
            ),
            _ => {}
        }
    }
    if let Some(cue) = labels.id(CUE) {
        add_dash_cues(doc, &mut roles, cue);
    }
    Ok(roles)
}

/// The dashes that sign a quote: `“…” ― Name`, or `"…"` then `- Bernie Sanders.` opening the
/// next line. PolNeAR annotates such a dash as the attribution's cue (all 11 dash cues in train,
/// with tweets' `… — Paul Ryan (@SpeakerRyan)`); the tagger, which rarely sees one, often leaves
/// it untagged, and the quote then has no cue and often no source. A dash becomes a cue span
/// when it is untagged, follows a content that ends with a closing double quotation mark
/// directly (only spaces, or one line break when it opens a short line of at most
/// [`DASH_LINE_WORDS`] words), and is followed on its line by a word that starts with a capital
/// letter. (Not after an unquoted content: there a dash is mostly a parenthesis, `… his
/// dismissal — Oz …`.)
fn add_dash_cues(doc: &Document, roles: &mut RoleSpans, cue: LabelId) {
    let n = doc.tokens.len();
    let text = |w: usize| doc.tokens[w].slice(&doc.text).unwrap_or("");
    let gap = |a: usize, b: usize| doc.text.get(doc.tokens[a].end..doc.tokens[b].start);
    let breaks = |a: usize, b: usize| gap(a, b).map_or(2, |g| g.matches('\n').count());
    let mut tagged = vec![false; n];
    for s in roles
        .sources
        .iter()
        .chain(&roles.cues)
        .chain(&roles.contents)
    {
        mark(&mut tagged, &s.words, true);
    }
    let mut added = Vec::new();
    for c in &roles.contents {
        let (last, dash) = (c.words.end - 1, c.words.end);
        let quoted = doc
            .text
            .get(..doc.tokens[last].end)
            .is_some_and(crate::quote::ends_with_closing_double);
        if !quoted || dash + 1 >= n || !matches!(text(dash), "―" | "—" | "–" | "-") || tagged[dash]
        {
            continue;
        }
        let line_words = (dash + 1..n)
            .take(DASH_LINE_WORDS)
            .take_while(|&w| breaks(w - 1, w) == 0)
            .count()
            + 1;
        let placed = match breaks(last, dash) {
            0 => true,
            1 => line_words <= DASH_LINE_WORDS,
            _ => false,
        };
        let named = breaks(dash, dash + 1) == 0
            && text(dash + 1)
                .chars()
                .next()
                .is_some_and(char::is_uppercase);
        if placed && named {
            added.push(WordSpan {
                label: cue,
                words: dash..dash + 1,
                span: doc.tokens[dash],
                score: None,
            });
        }
    }
    if !added.is_empty() {
        roles.cues.extend(added);
        roles.cues.sort_by_key(|s| s.words.start);
    }
}

/// A dash that opens the line after a quote signs it only on a short line (a name, perhaps a
/// title or a handle), not a paragraph.
pub const DASH_LINE_WORDS: usize = 12;

/// Whether word `w` of `doc` is punctuation: it holds no letter or digit (`false` for a word
/// `doc` does not have).
pub(crate) fn is_punct(doc: &Document, w: usize) -> bool {
    doc.tokens
        .get(w)
        .and_then(|t| t.slice(&doc.text))
        .is_some_and(|s| !s.chars().any(char::is_alphanumeric))
}

/// Sets `marks[w] = value` for the words `w` of `words` that `marks` has.
pub(crate) fn mark<T: Clone>(marks: &mut [T], words: &Range<usize>, value: T) {
    let end = words.end.min(marks.len());
    if words.start < end {
        marks[words.start..end].fill(value);
    }
}

/// `span` cut wherever the text between two of its words holds a line break.
fn split_at_line_breaks(doc: &Document, span: WordSpan) -> Vec<WordSpan> {
    let mut out = Vec::new();
    let mut first = span.words.start;
    for w in span.words.start + 1..span.words.end {
        let gap = doc.tokens[w - 1].end..doc.tokens[w].start;
        if doc.text.get(gap).is_some_and(|g| g.contains('\n')) {
            out.push(first..w);
            first = w;
        }
    }
    out.push(first..span.words.end);
    out.into_iter()
        .map(|words| WordSpan {
            span: Span::new(doc.tokens[words.start].start, doc.tokens[words.end - 1].end),
            words,
            ..span.clone()
        })
        .collect()
}

/// A mention made of the byte spans of word spans, in text order.
pub fn mention_of(spans: &[&WordSpan]) -> Mention {
    Mention::new(spans.iter().map(|s| s.span).collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::document::Attribution;
    use crate::scheme::Scheme;
    use crate::tokenize::tokenize_document;

    fn find(text: &str, needle: &str) -> Span {
        let start = text.find(needle).unwrap_or_else(|| panic!("{needle:?}"));
        Span::new(start, start + needle.len())
    }

    fn doc(text: &str) -> Document {
        let mut d = Document::new("d", text);
        tokenize_document(&mut d);
        d
    }

    fn entity(text: &str, needle: &str, label: &str) -> Entity {
        Entity {
            span: find(text, needle),
            label: label.into(),
            score: None,
        }
    }

    fn show(tags: &[Tag], set: &TagSet) -> String {
        let names: Vec<String> = tags
            .iter()
            .map(|t| t.display(set.labels()).to_string())
            .collect();
        names.join(" ")
    }

    #[test]
    fn sources_never_run_across_a_line_break() {
        // A header line tagged as one source with the name that opens the text below it.
        let d = doc("World Media\n\nAssad said it was a lie.");
        let set = TagSet::new(Scheme::Iob2, &LabelSet::from_names([SOURCE, CUE, CONTENT]));
        let tags = crate::scheme::parse_tags(
            &[
                "B-SOURCE",
                "I-SOURCE",
                "I-SOURCE",
                "B-CUE",
                "B-CONTENT",
                "I-CONTENT",
                "I-CONTENT",
                "I-CONTENT",
                "O",
            ],
            set.labels(),
        )
        .unwrap();
        let roles = roles_from_tags(&d, &tags, None, &set).unwrap();
        let texts: Vec<&str> = roles.sources.iter().map(|s| d.slice(s.span)).collect();
        assert_eq!(texts, ["World Media", "Assad"]);
        assert_eq!(roles.sources[1].words, 2..3);
    }

    #[test]
    fn dashes_that_sign_a_quote_are_cues() {
        let set = TagSet::new(Scheme::Iob2, &LabelSet::from_names([SOURCE, CUE, CONTENT]));
        // Each text's tags: `C` opens a content, `c` continues it, `S`/`s` the same for a
        // source, `.` outside every span.
        let cues = |text: &str, tags: &str| {
            let d = doc(text);
            let names: Vec<&str> = tags
                .chars()
                .map(|c| match c {
                    'C' => "B-CONTENT",
                    'c' => "I-CONTENT",
                    'S' => "B-SOURCE",
                    's' => "I-SOURCE",
                    _ => "O",
                })
                .collect();
            assert_eq!(names.len(), d.tokens.len(), "{text}");
            let tags = crate::scheme::parse_tags(&names, set.labels()).unwrap();
            let roles = roles_from_tags(&d, &tags, None, &set).unwrap();
            let cues: Vec<String> = roles
                .cues
                .iter()
                .map(|s| d.slice(s.span).to_string())
                .collect();
            (d, roles, cues)
        };
        // `“Go.” ― Ann Lee`: the dash is the cue, Ann Lee the source.
        let (d, roles, got) = cues("\u{201C}Go.\u{201D} \u{2015} Ann Lee", "Cccc.Ss");
        assert_eq!(got, ["\u{2015}"]);
        let a = crate::assemble::assemble(&d, &roles);
        assert_eq!(a.len(), 1);
        assert_eq!(d.slice(a[0].source.as_ref().unwrap().pieces[0]), "Ann Lee");
        assert_eq!(d.slice(a[0].cue.as_ref().unwrap().pieces[0]), "\u{2015}");
        // A dash opening the short next line signs the quote above it.
        assert_eq!(cues("\"Go.\"\n- Bernie Sanders.", "Cccc....").2, ["-"]);
        // Not after an unquoted content, where a dash is mostly a parenthesis.
        assert!(cues("They fired him \u{2014} Oz said so.", ".Cc.....")
            .2
            .is_empty());
        // Not a dash followed by a lower-case word, nor one opening a long line.
        assert!(cues("\"Go.\" \u{2014} and then", "Cccc...").2.is_empty());
        let long = "\"Go.\"\n- The economy grew faster than anyone in the wide world had expected.";
        assert!(cues(long, "Cccc..............").2.is_empty());
        // Nor a dash already inside a tagged span.
        assert_eq!(
            cues("\"Go.\" \u{2015} Ann", "Cccccc").2,
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_content_holds_a_letter_or_digit() {
        let set = TagSet::new(Scheme::Iob2, &LabelSet::from_names([SOURCE, CUE, CONTENT]));
        let d = doc("Yes \" no 7 .");
        let tags = crate::scheme::parse_tags(
            &["O", "B-CONTENT", "O", "B-CONTENT", "B-CONTENT"],
            set.labels(),
        )
        .unwrap();
        let roles = roles_from_tags(&d, &tags, None, &set).unwrap();
        let texts: Vec<&str> = roles.contents.iter().map(|s| d.slice(s.span)).collect();
        assert_eq!(texts, ["7"]);
    }

    #[test]
    fn contents_never_run_across_a_line_break() {
        let set = TagSet::new(Scheme::Iob2, &LabelSet::from_names([SOURCE, CUE, CONTENT]));
        let roles_of = |d: &Document, tags: &[&str]| {
            let tags = crate::scheme::parse_tags(tags, set.labels()).unwrap();
            roles_from_tags(d, &tags, None, &set).unwrap()
        };
        // A content tagged on into the next paragraph, which is another quote with its own
        // source and cue: two contents, two attributions.
        let d = doc("Smith said taxes rose.\n\nJobs fell, Jones added.");
        let roles = roles_of(
            &d,
            &[
                "B-SOURCE",
                "B-CUE",
                "B-CONTENT",
                "I-CONTENT",
                "I-CONTENT",
                "I-CONTENT",
                "I-CONTENT",
                "O",
                "B-SOURCE",
                "B-CUE",
                "O",
            ],
        );
        let texts: Vec<&str> = roles.contents.iter().map(|s| d.slice(s.span)).collect();
        assert_eq!(texts, ["taxes rose.", "Jobs fell"]);
        let got = crate::assemble::assemble(&d, &roles);
        let pairs: Vec<(String, String)> = got
            .iter()
            .map(|a| {
                let source = a.source.as_ref().map(|m| d.slice(m.pieces[0]).to_string());
                (
                    d.slice(a.content.pieces[0]).to_string(),
                    source.unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            pairs,
            [
                ("taxes rose.".to_string(), "Smith".to_string()),
                ("Jobs fell".to_string(), "Jones".to_string())
            ]
        );
        // A quote over two paragraphs (each opens, only the last closes) is cut at the break
        // too, and the assembly joins it again into one content of two pieces.
        let d = doc("“We won.\n\n“We won big,” he said.");
        let tags = [
            "B-CONTENT",
            "I-CONTENT",
            "I-CONTENT",
            "I-CONTENT",
            "I-CONTENT",
            "I-CONTENT",
            "I-CONTENT",
            "I-CONTENT",
            "I-CONTENT",
            "I-CONTENT",
            "B-SOURCE",
            "B-CUE",
            "O",
        ];
        assert_eq!(d.tokens.len(), tags.len(), "{:?}", d.tokens);
        let roles = roles_of(&d, &tags);
        assert_eq!(roles.contents.len(), 2);
        let got = crate::assemble::assemble(&d, &roles);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].content.pieces.len(), 2);
    }

    #[test]
    fn entities_stop_at_sentence_ends() {
        // The tags run on over the sentence break, as a CRF over a window of two sentences may.
        let d = doc("He met Smith. Jones Co. agreed.");
        assert_eq!(d.sentences.len(), 2);
        let set = TagSet::new(Scheme::Iob2, &LabelSet::from_names(["PER", "ORG"]));
        let tags = crate::scheme::parse_tags(
            &["O", "O", "B-PER", "I-PER", "I-PER", "I-PER", "O", "O", "O"],
            set.labels(),
        )
        .unwrap();
        let scores = [0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.1, 0.1, 0.1];
        let got = entities_from_tags(&d, &tags, Some(&scores), &set).unwrap();
        let text = |e: &Entity| &d.text[e.span.start..e.span.end];
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(d.sentences[1].start, 4);
        assert_eq!((text(&got[0]), got[0].label.as_str()), ("Smith.", "PER"));
        assert_eq!((text(&got[1]), got[1].label.as_str()), ("Jones Co", "PER"));
        assert!((got[0].score.unwrap() - 0.4).abs() < 1e-6);
        assert!((got[1].score.unwrap() - 0.8).abs() < 1e-6);
        // Roles (quote content) may span sentences: not cut.
        let roles = word_spans(&d, &tags, None, &set).unwrap();
        assert_eq!(roles.len(), 1);
    }

    #[test]
    fn entity_tags_table() {
        let text = "John Smith visited New York City in May.";
        let labels = LabelSet::from_names(["PER", "LOC"]);
        // (entities, scheme, tags, approximated, dropped, unknown)
        type Case<'a> = (
            &'a [(&'a str, &'a str)],
            Scheme,
            &'a str,
            usize,
            usize,
            usize,
        );
        let cases: &[Case] = &[
            (
                &[("John Smith", "PER"), ("New York City", "LOC")],
                Scheme::Iob2,
                "B-PER I-PER O B-LOC I-LOC I-LOC O O O",
                0,
                0,
                0,
            ),
            (
                &[("John Smith", "PER"), ("New York City", "LOC")],
                Scheme::Bioes,
                "B-PER E-PER O B-LOC I-LOC E-LOC O O O",
                0,
                0,
                0,
            ),
            // Starts inside a word: the whole word is taken, counted as approximated.
            (
                &[("ohn", "PER"), ("York Ci", "LOC")],
                Scheme::Bioes,
                "S-PER O O O B-LOC E-LOC O O O",
                2,
                0,
                0,
            ),
            // Unknown label skipped; whitespace-only span dropped.
            (
                &[("May", "DATE"), (" ", "PER")],
                Scheme::Iob2,
                "O O O O O O O O O",
                0,
                1,
                1,
            ),
        ];
        for (i, (ents, scheme, expect, approx, dropped, unknown)) in cases.iter().enumerate() {
            let mut d = doc(text);
            d.entities = ents.iter().map(|(n, l)| entity(text, n, l)).collect();
            let set = TagSet::new(*scheme, &labels);
            let w = entity_tags(&d, &set);
            assert_eq!(show(&w.tags, &set), *expect, "case {i}");
            assert_eq!(w.stats.approximated, *approx, "case {i}");
            assert_eq!(w.stats.dropped, *dropped, "case {i}");
            assert_eq!(w.stats.unknown_label, *unknown, "case {i}");
        }
    }

    #[test]
    fn overlapping_spans_are_clipped() {
        let text = "a b c d e";
        let labels = LabelSet::from_names(["X", "Y"]);
        let set = TagSet::new(Scheme::Iob2, &labels);
        let mut d = doc(text);
        d.entities = vec![entity(text, "a b c", "X"), entity(text, "b c d", "Y")];
        let w = entity_tags(&d, &set);
        assert_eq!(show(&w.tags, &set), "B-X I-X I-X B-Y O");
        assert_eq!(w.stats.clipped, 1);
    }

    #[test]
    fn role_tags_and_back() {
        let text = "\"Taxes will rise,\" the senator said, \"and soon.\"";
        let d0 = doc(text);
        let mut d = d0.clone();
        d.attributions = vec![Attribution {
            content: Mention::new(vec![
                find(text, "\"Taxes will rise,\""),
                find(text, "\"and soon.\""),
            ]),
            cue: Some(Mention::single(find(text, "said"))),
            source: Some(Mention::single(find(text, "the senator"))),
        }];
        let set = TagSet::new(Scheme::Iob2, &role_labels());
        let w = role_tags(&d, &set);
        assert_eq!(
            show(&w.tags, &set),
            "B-CONTENT I-CONTENT I-CONTENT I-CONTENT I-CONTENT I-CONTENT B-SOURCE I-SOURCE \
             B-CUE O B-CONTENT I-CONTENT I-CONTENT I-CONTENT I-CONTENT"
        );
        assert_eq!(w.stats.approximated, 0);
        let scores: Vec<f32> = (0..d.tokens.len()).map(|i| i as f32).collect();
        let roles = roles_from_tags(&d0, &w.tags, Some(&scores), &set).unwrap();
        let texts = |v: &[WordSpan]| -> Vec<&str> { v.iter().map(|s| d.slice(s.span)).collect() };
        assert_eq!(texts(&roles.sources), ["the senator"]);
        assert_eq!(texts(&roles.cues), ["said"]);
        assert_eq!(
            texts(&roles.contents),
            ["\"Taxes will rise,\"", "\"and soon.\""]
        );
        assert_eq!(roles.sources[0].score, Some(6.5));
    }

    #[test]
    fn counts_must_match_words() {
        let d = doc("one two");
        let set = TagSet::new(Scheme::Iob2, &role_labels());
        let e = word_spans(&d, &[Tag::O], None, &set).unwrap_err();
        assert_eq!(e.to_string(), "document `d`: 2 words but 1 tags");
        let e = word_spans(&d, &[Tag::O; 2], Some(&[0.5]), &set).unwrap_err();
        assert!(matches!(e, Error::WordCount { what: "scores", .. }));
    }

    #[test]
    fn entities_from_tags_slice_the_text() {
        let text = "Angela Merkel met Macron in Paris.";
        let labels = LabelSet::from_names(["PER", "LOC"]);
        let set = TagSet::new(Scheme::Bioes, &labels);
        let d = doc(text);
        let tags = scheme::parse_tags(
            &["B-PER", "E-PER", "O", "S-PER", "O", "S-LOC", "O"],
            &labels,
        )
        .unwrap();
        let scores = [0.75, 0.25, 0.1, 0.6, 0.1, 1.0, 0.1];
        let ents = entities_from_tags(&d, &tags, Some(&scores), &set).unwrap();
        let got: Vec<(&str, &str, f32)> = ents
            .iter()
            .map(|e| (d.slice(e.span), e.label.as_str(), e.score.unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("Angela Merkel", "PER", 0.5),
                ("Macron", "PER", 0.6),
                ("Paris", "LOC", 1.0)
            ]
        );
    }

    proptest! {
        /// Word-aligned, disjoint spans survive spans -> tags -> spans in every scheme but IO
        /// (where adjacent same-label spans merge).
        #[test]
        fn aligned_spans_round_trip(
            words in prop::collection::vec("[a-z]{1,4}", 1..30),
            marks in prop::collection::vec((0usize..4, 1usize..4, 0usize..2), 0..12),
            scheme in prop_oneof![Just(Scheme::Iob1), Just(Scheme::Iob2), Just(Scheme::Bioes)],
        ) {
            let text = words.join(" ");
            let d0 = doc(&text);
            prop_assert_eq!(d0.tokens.len(), words.len());
            let labels = LabelSet::from_names(["X", "Y"]);
            let mut d = d0.clone();
            let mut at = 0;
            for (gap, len, label) in marks {
                let start = at + gap;
                let end = (start + len).min(words.len());
                if start >= end { break; }
                d.entities.push(Entity {
                    span: Span::new(d.tokens[start].start, d.tokens[end - 1].end),
                    label: ["X", "Y"][label].into(),
                    score: None,
                });
                at = end;
            }
            let set = TagSet::new(scheme, &labels);
            let w = entity_tags(&d, &set);
            prop_assert_eq!(w.stats.approximated + w.stats.clipped + w.stats.dropped, 0);
            let back = entities_from_tags(&d0, &w.tags, None, &set).unwrap();
            prop_assert_eq!(back, d.entities);
        }

        /// Arbitrary byte spans never panic, and every span is tagged, dropped or unknown.
        #[test]
        fn arbitrary_spans_never_panic(
            text in "[a-z .,\"é]{0,40}",
            raw in prop::collection::vec((0usize..45, 0usize..45), 0..8),
        ) {
            let d0 = doc(&text);
            let mut d = d0.clone();
            for (a, b) in raw {
                let (a, b) = (a.min(b).min(text.len()), a.max(b).min(text.len()));
                if text.is_char_boundary(a) && text.is_char_boundary(b) {
                    d.entities.push(Entity { span: Span::new(a, b), label: "X".into(), score: None });
                }
            }
            let set = TagSet::new(Scheme::Bioes, &LabelSet::from_names(["X"]));
            let w = entity_tags(&d, &set);
            prop_assert_eq!(w.tags.len(), d.tokens.len());
            prop_assert!(scheme::is_valid(&w.tags, Scheme::Bioes));
            prop_assert_eq!(w.stats.spans, d.entities.len());
            let spans = word_spans(&d0, &w.tags, None, &set).unwrap();
            prop_assert_eq!(spans.len() + w.stats.dropped, d.entities.len());
            // Entities are those spans cut at sentence starts.
            let back = entities_from_tags(&d0, &w.tags, None, &set).unwrap();
            let cuts: usize = spans
                .iter()
                .map(|s| d0.sentences.iter().filter(|x| s.words.start < x.start && x.start < s.words.end).count())
                .sum();
            prop_assert_eq!(back.len(), spans.len() + cuts);
        }
    }
}
