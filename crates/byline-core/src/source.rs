//! What kind of mention a quote's source is: a **name** ("foreign ministry spokesman Bahram
//! Qasemi"), a **description** without a name ("the influential US daily") or a **pronoun**
//! ("he"). Works on predicted documents (with entities) and on gold data without entities
//! (PolNeAR), so that both can be counted alike.
//!
//! # Rules
//!
//! 1. **Pronoun**: the source text, trimmed and lowercased, is a personal pronoun of
//!    [`PRONOUNS`].
//! 2. **Head.** An English noun phrase ends in its head: "the influential US *daily*", "foreign
//!    ministry spokesman *Bahram Qasemi*". The head ends where the source ends or where a
//!    post-modifier starts: a comma, a bracket, a dash, a colon or semicolon, or one of the
//!    words of [`POST_MODIFIERS`] ("Smith *of* the Treasury", "Smith, *who* ...").
//! 3. **Name**: an entity of the document is the head ([`head_entity`]: the entity lies inside
//!    the source and only a post-modifier, punctuation or nothing follows it), or, whether or
//!    not the document has entities, the last word of the head starts with a capital letter and
//!    is not the first word of its sentence. A sentence-initial capitalised head word counts when
//!    the same word is capitalised elsewhere in the document where it does not start a sentence
//!    ("Trump said ..." in a text that names Trump mid-sentence; not "Officials said ..."), and
//!    so does a word in capitals of two letters or more ("FBI", a transcript's "PENCE:").
//!    The `s` of a possessive is skipped ("Donald Trump’s" names Trump; "Trump’s campaign" is a
//!    description). A hyphen or en dash ends the head only after a space. A head that a comma
//!    follows directly (no post-modifier word before it) may take a name in apposition: the
//!    head of the phrase after the comma counts too ("another critic, Laurence Tribe,").
//! 4. Anything else is a **description**.

use crate::document::{Document, Mention};
use crate::span::Span;
use crate::tokenize::{split_sentences, tokenize};

/// Personal pronouns that can stand as a source.
pub const PRONOUNS: [&str; 11] = [
    "he", "him", "she", "her", "it", "they", "them", "i", "we", "us", "you",
];

/// Lowercase words that start a post-modifier of a noun phrase's head.
pub const POST_MODIFIERS: [&str; 13] = [
    "of", "from", "at", "in", "for", "with", "on", "who", "whose", "which", "that", "to", "and",
];

/// The kind of a source mention (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    /// Names someone: "Bahram Qasemi", "Smith of the Treasury".
    Name,
    /// Describes someone without naming them: "the influential US daily", "officials".
    Description,
    /// A personal pronoun: "he", "they".
    Pronoun,
}

impl SourceKind {
    /// `"name"`, `"description"` or `"pronoun"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Name => "name",
            SourceKind::Description => "description",
            SourceKind::Pronoun => "pronoun",
        }
    }
}

/// The pronoun of [`PRONOUNS`] that `text` is (trimmed, lowercased), if any.
pub fn pronoun(text: &str) -> Option<&'static str> {
    let lower = text.trim().to_lowercase();
    PRONOUNS.iter().copied().find(|p| *p == lower)
}

/// The kind of `source`, a mention in `doc` (see the [module docs](self)). A mention whose spans
/// do not fit the text is a description.
pub fn source_kind(doc: &Document, source: &Mention) -> SourceKind {
    let Some(text) = source.text(&doc.text) else {
        return SourceKind::Description;
    };
    if pronoun(&text).is_some() {
        return SourceKind::Pronoun;
    }
    if head_entity(doc, source).is_some() || capitalised_head(doc, source) {
        SourceKind::Name
    } else {
        SourceKind::Description
    }
}

/// The index in `doc.entities` of the entity that is `source`'s head: it lies inside one piece
/// of the source and is followed, up to the end of the source, by nothing, punctuation, or a
/// post-modifier (rule 2 of the [module docs](self)). The first such entity (the longest of
/// those starting at the same place), or `None`.
pub fn head_entity(doc: &Document, source: &Mention) -> Option<usize> {
    head_entity_among(doc, source, 0..doc.entities.len())
}

/// [`head_entity`] among the entities `candidates` (indices into `doc.entities`), for callers
/// that know which entities can lie inside the source (a long document's thousands).
pub fn head_entity_among(
    doc: &Document,
    source: &Mention,
    candidates: impl IntoIterator<Item = usize>,
) -> Option<usize> {
    let extent = source.extent()?;
    candidates
        .into_iter()
        .filter_map(|i| Some((i, doc.entities.get(i)?)))
        .filter(|(_, e)| source.pieces.iter().any(|p| p.contains(&e.span)))
        .filter(|(_, e)| {
            doc.text
                .get(e.span.end..extent.end)
                .is_some_and(starts_post_modifier)
        })
        .min_by_key(|(i, e)| (e.span.start, std::cmp::Reverse(e.span.len()), *i))
        .map(|(i, _)| i)
}

/// Whether `rest`, the text after a head candidate, is empty, punctuation only, or starts a
/// post-modifier.
fn starts_post_modifier(rest: &str) -> bool {
    let spaced = rest.starts_with(char::is_whitespace);
    let rest = rest.trim_start();
    let Some(first) = rest.chars().next() else {
        return true;
    };
    if is_boundary_punct(first, spaced) {
        return true;
    }
    if !rest.chars().any(char::is_alphanumeric) {
        return true;
    }
    let word: String = rest.chars().take_while(|c| c.is_alphanumeric()).collect();
    POST_MODIFIERS.contains(&word.as_str())
}

/// Punctuation that ends a head: a comma, bracket, colon, semicolon or em dash, and a hyphen
/// or en dash after a space (not the one of "vice-presidential" or "Trump-backed").
fn is_boundary_punct(c: char, spaced: bool) -> bool {
    matches!(c, ',' | '(' | '[' | ';' | ':' | '\u{2014}')
        || (spaced && matches!(c, '\u{2013}' | '-'))
}

fn is_apostrophe(w: &str) -> bool {
    matches!(w, "'" | "\u{2019}")
}

/// Rule 3's capitalisation test on the head word.
fn capitalised_head(doc: &Document, source: &Mention) -> bool {
    let owned;
    let (tokens, sentences) = if doc.tokens.is_empty() {
        let tokens = tokenize(&doc.text);
        let sentences = split_sentences(&doc.text, &tokens);
        owned = (tokens, sentences);
        (&owned.0[..], &owned.1[..])
    } else {
        (&doc.tokens[..], &doc.sentences[..])
    };
    let starts_sentence = sentence_starts(&doc.text, tokens, sentences);
    let word = |t: usize| tokens.get(t).and_then(|s| s.slice(&doc.text)).unwrap_or("");
    // The source's tokens, over all pieces.
    let words: Vec<usize> = source
        .pieces
        .iter()
        .flat_map(|piece| {
            let first = tokens.partition_point(|t| t.end <= piece.start);
            (first..tokens.len()).take_while(move |&t| tokens[t].start < piece.end)
        })
        .collect();
    let is_name = |h: usize| {
        let w = word(h);
        if !w.chars().next().is_some_and(char::is_uppercase) || pronoun(w).is_some() {
            return false;
        }
        let acronym = w.chars().filter(|c| c.is_alphabetic()).count() >= 2
            && !w.chars().any(char::is_lowercase);
        !starts_sentence[h]
            || acronym
            || (0..tokens.len()).any(|t| !starts_sentence[t] && word(t) == w)
    };
    let (head, rest) = segment_head(&words, tokens, &word);
    // A bare head followed by a comma may have a name in apposition: "Another critic, Laurence
    // H. Tribe,".
    let apposition = rest.and_then(|r| segment_head(&words[r..], tokens, &word).0);
    head.is_some_and(is_name) || apposition.is_some_and(is_name)
}

/// The head word (a token index) of the noun phrase that starts `words`: the last word before
/// a boundary. When the boundary is a comma and no post-modifier word came first, also the
/// position in `words` after the comma (where an apposition starts).
fn segment_head<'t>(
    words: &[usize],
    tokens: &[Span],
    word: &dyn Fn(usize) -> &'t str,
) -> (Option<usize>, Option<usize>) {
    let mut head = None;
    for (i, &t) in words.iter().enumerate() {
        let w = word(t);
        let Some(c) = w.chars().next() else { continue };
        let spaced = t > 0 && tokens[t - 1].end < tokens[t].start;
        if head.is_some() && (is_boundary_punct(c, spaced) || POST_MODIFIERS.contains(&w)) {
            return (head, (c == ',').then_some(i + 1));
        }
        // The `s` of a possessive split off as `’` `s` is not a head.
        let possessive = matches!(w, "s" | "S") && t > 0 && is_apostrophe(word(t - 1));
        if c.is_alphanumeric() && !possessive {
            head = Some(t);
        }
    }
    (head, None)
}

/// For every token, whether it is the first word (letters or digits) of its sentence.
fn sentence_starts(text: &str, tokens: &[Span], sentences: &[std::ops::Range<usize>]) -> Vec<bool> {
    let mut starts = vec![false; tokens.len()];
    let whole = std::iter::once(0..tokens.len());
    let ranges: Box<dyn Iterator<Item = std::ops::Range<usize>>> = if sentences.is_empty() {
        Box::new(whole)
    } else {
        Box::new(sentences.iter().cloned())
    };
    for r in ranges {
        let first = (r.start..r.end.min(tokens.len())).find(|&t| {
            tokens[t]
                .slice(text)
                .is_some_and(|w| w.chars().any(char::is_alphanumeric))
        });
        if let Some(t) = first {
            starts[t] = true;
        }
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Entity;
    use crate::tokenize::tokenize_document;

    fn find(text: &str, needle: &str) -> Span {
        let start = text.find(needle).unwrap();
        Span::new(start, start + needle.len())
    }

    #[test]
    fn kinds_without_entities() {
        let text = "Trump said so. Officials said no. The influential US daily wrote it. \
                    He said yes. Later foreign ministry spokesman Bahram Qasemi spoke, and \
                    the spokesman of the White House and Trump's campaign and they agreed. \
                    Then Smith, a senator, and the Dutch minister Jan de Vries spoke. \
                    Republican vice-presidential nominee Gov. Mike Pence (R-IN) and \
                    Donald Trump\u{2019}s campaign and Donald Trump\u{2019}s staff met. \
                    PENCE: Yes. Then the Trump-backed candidate spoke. Also another critic, \
                    Laurence Tribe, and dozens of papers, the Arizona Republic among them, spoke.";
        let mut doc = Document::new("d", text);
        tokenize_document(&mut doc);
        let cases: &[(&str, SourceKind)] = &[
            // Sentence-initial, but capitalised mid-sentence elsewhere.
            ("Trump", SourceKind::Name),
            ("Officials", SourceKind::Description),
            ("The influential US daily", SourceKind::Description),
            ("He", SourceKind::Pronoun),
            ("they", SourceKind::Pronoun),
            ("foreign ministry spokesman Bahram Qasemi", SourceKind::Name),
            ("the spokesman of the White House", SourceKind::Description),
            ("Trump's campaign", SourceKind::Description),
            ("Smith, a senator", SourceKind::Name),
            ("the Dutch minister Jan de Vries", SourceKind::Name),
            (
                "Republican vice-presidential nominee Gov. Mike Pence (R-IN)",
                SourceKind::Name,
            ),
            ("Donald Trump\u{2019}s", SourceKind::Name),
            ("Donald Trump\u{2019}s campaign", SourceKind::Description),
            ("PENCE", SourceKind::Name),
            ("the Trump-backed candidate", SourceKind::Description),
            ("another critic, Laurence Tribe,", SourceKind::Name),
            (
                "dozens of papers, the Arizona Republic",
                SourceKind::Description,
            ),
        ];
        for (source, want) in cases {
            let m = Mention::single(find(text, source));
            assert_eq!(source_kind(&doc, &m), *want, "{source:?}");
        }
        // Without tokens the text is tokenized on the fly.
        let bare = Document::new("b", text);
        let m = Mention::single(find(text, "Officials"));
        assert_eq!(source_kind(&bare, &m), SourceKind::Description);
        // Spans outside the text are descriptions, not panics.
        let out = Mention::single(Span::new(0, text.len() + 5));
        assert_eq!(source_kind(&doc, &out), SourceKind::Description);
    }

    #[test]
    fn head_entities() {
        let text = "the influential US daily; Smith of the Treasury; Treasury spokesman John Smith";
        let mut doc = Document::new("d", text);
        let entity = |needle: &str, label: &str| Entity {
            span: find(text, needle),
            label: label.into(),
            score: None,
        };
        doc.entities = vec![
            entity("US", "LOC"),
            entity("Smith of", "PER"),
            entity("Treasury;", "ORG"),
            entity("Treasury spokesman", "ORG"),
            entity("John Smith", "PER"),
        ];
        // Entity spans above include a trailing word; trim them to the name.
        doc.entities[1].span.end -= " of".len();
        doc.entities[2].span.end -= ";".len();
        doc.entities[3].span.end -= " spokesman".len();
        let cases: &[(&str, Option<usize>)] = &[
            ("the influential US daily", None),
            ("Smith of the Treasury", Some(1)),
            ("Treasury spokesman John Smith", Some(4)),
        ];
        for (source, want) in cases {
            let m = Mention::single(find(text, source));
            assert_eq!(head_entity(&doc, &m), *want, "{source:?}");
        }
        let m = Mention::single(find(text, "the influential US daily"));
        assert_eq!(source_kind(&doc, &m), SourceKind::Description);
    }

    #[test]
    fn pronouns() {
        let cases: &[(&str, Option<&str>)] = &[
            (" He ", Some("he")),
            ("THEY", Some("they")),
            ("it", Some("it")),
            ("his", None),
            ("the man", None),
        ];
        for (text, want) in cases {
            assert_eq!(pronoun(text), *want, "{text:?}");
        }
    }
}
