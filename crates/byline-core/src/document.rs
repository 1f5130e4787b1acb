//! The document model: original text plus byte spans for tokens, sentences, entities and
//! attributions (quote content, cue and source).

use std::ops::Range;

use crate::span::Span;

/// One document: the original text and everything annotated or predicted on it.
///
/// All spans are byte offsets into `text` (half-open, on `char` boundaries). Files byline writes
/// use code-point offsets instead; readers and writers convert.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    pub id: String,
    pub text: String,
    /// Word tokens in text order. Empty when the document has not been tokenized.
    pub tokens: Vec<Span>,
    /// Sentences as ranges of indices into `tokens`, in order, not overlapping.
    pub sentences: Vec<Range<usize>>,
    pub entities: Vec<Entity>,
    pub attributions: Vec<Attribution>,
}

/// A named entity: a span and its type (`PER`, `ORG`, `LOC`, `MISC` for CoNLL-2003, or any label
/// of a user's own label set).
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub span: Span,
    pub label: String,
    /// Model confidence, present on predictions.
    pub score: Option<f32>,
}

/// A possibly discontinuous stretch of text: one or more pieces, sorted and not overlapping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mention {
    pub pieces: Vec<Span>,
}

impl Mention {
    pub fn new(mut pieces: Vec<Span>) -> Self {
        pieces.sort();
        Mention { pieces }
    }

    pub fn single(span: Span) -> Self {
        Mention { pieces: vec![span] }
    }

    /// From the first piece's start to the last piece's end.
    pub fn extent(&self) -> Option<Span> {
        Some(Span::new(
            self.pieces.first()?.start,
            self.pieces.last()?.end,
        ))
    }

    /// The covered text, pieces joined by a single space (brat's convention).
    pub fn text(&self, text: &str) -> Option<String> {
        let parts: Option<Vec<&str>> = self.pieces.iter().map(|s| s.slice(text)).collect();
        Some(parts?.join(" "))
    }
}

/// An attribution relation: what was said (`content`), the reporting cue ("said", "according
/// to"), and who said it (`source`, absent when the text does not say).
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    pub content: Mention,
    pub cue: Option<Mention>,
    pub source: Option<Mention>,
}

impl Document {
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Document {
            id: id.into(),
            text: text.into(),
            ..Document::default()
        }
    }

    /// The text of a span of this document. Panics if the span is not valid for this text; spans
    /// built by byline's readers always are.
    pub fn slice(&self, span: Span) -> &str {
        &self.text[span.start..span.end]
    }

    /// Indices of the tokens that a span overlaps, as a range (tokens are in text order).
    pub fn tokens_in(&self, span: Span) -> Range<usize> {
        let first = self.tokens.partition_point(|t| t.end <= span.start);
        let last = self.tokens.partition_point(|t| t.start < span.end);
        first..last.max(first)
    }
}
