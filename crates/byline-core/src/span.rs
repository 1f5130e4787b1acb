//! Spans: half-open byte ranges into a document's original text, and the conversion to and from
//! Unicode code-point offsets, which is what every file byline writes uses.

use serde::{Deserialize, Serialize};

/// A half-open byte range `start..end` into a document's text. Both ends lie on `char` boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        debug_assert!(start <= end, "span start {start} > end {end}");
        Span { start, end }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The text this span covers. Returns `None` when the span is outside `text` or not on
    /// character boundaries.
    pub fn slice<'a>(&self, text: &'a str) -> Option<&'a str> {
        text.get(self.start..self.end)
    }

    pub fn contains(&self, other: &Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }
}

impl From<std::ops::Range<usize>> for Span {
    fn from(r: std::ops::Range<usize>) -> Self {
        Span::new(r.start, r.end)
    }
}

/// Converts between byte offsets and Unicode code-point offsets of one text.
///
/// Built once per document (O(n) in the number of non-ASCII characters); each conversion is a
/// binary search, or O(1) for ASCII text.
#[derive(Debug, Clone)]
pub struct OffsetMap {
    /// Byte offset of every char, plus `text.len()` at the end. Empty for pure ASCII text.
    char_starts: Vec<usize>,
    len_bytes: usize,
    len_chars: usize,
}

impl OffsetMap {
    pub fn new(text: &str) -> Self {
        if text.is_ascii() {
            return OffsetMap {
                char_starts: Vec::new(),
                len_bytes: text.len(),
                len_chars: text.len(),
            };
        }
        let mut char_starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        let len_chars = char_starts.len();
        char_starts.push(text.len());
        OffsetMap {
            char_starts,
            len_bytes: text.len(),
            len_chars,
        }
    }

    /// Number of code points in the text.
    pub fn len_chars(&self) -> usize {
        self.len_chars
    }

    /// Byte offset of code point `c`; `c == len_chars` maps to the end. `None` past the end.
    pub fn char_to_byte(&self, c: usize) -> Option<usize> {
        if c > self.len_chars {
            return None;
        }
        if self.char_starts.is_empty() {
            return Some(c);
        }
        Some(self.char_starts[c])
    }

    /// Code-point offset of byte `b`. `None` when `b` is past the end or inside a character.
    pub fn byte_to_char(&self, b: usize) -> Option<usize> {
        if b > self.len_bytes {
            return None;
        }
        if self.char_starts.is_empty() {
            return Some(b);
        }
        self.char_starts.binary_search(&b).ok()
    }

    /// Converts a code-point span to a byte span.
    pub fn span_from_chars(&self, start: usize, end: usize) -> Option<Span> {
        if start > end {
            return None;
        }
        Some(Span::new(
            self.char_to_byte(start)?,
            self.char_to_byte(end)?,
        ))
    }

    /// Converts a byte span to code-point offsets `(start, end)`.
    pub fn span_to_chars(&self, span: Span) -> Option<(usize, usize)> {
        Some((self.byte_to_char(span.start)?, self.byte_to_char(span.end)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_offsets_are_identity() {
        let m = OffsetMap::new("Hello world");
        assert_eq!(m.char_to_byte(6), Some(6));
        assert_eq!(m.byte_to_char(11), Some(11));
        assert_eq!(m.byte_to_char(12), None);
    }

    #[test]
    fn non_ascii_offsets_round_trip() {
        let text = "José said “no” to Zürich 🎉 today";
        let m = OffsetMap::new(text);
        let span = m.span_from_chars(10, 14).unwrap();
        assert_eq!(&text[span.start..span.end], "“no”");
        assert_eq!(m.span_to_chars(span), Some((10, 14)));
        let z = m.span_from_chars(18, 24).unwrap();
        assert_eq!(&text[z.start..z.end], "Zürich");
        let e = m.span_from_chars(25, 26).unwrap();
        assert_eq!(&text[e.start..e.end], "🎉");
        assert_eq!(m.len_chars(), text.chars().count());
        // A byte inside a multi-byte character has no code-point offset.
        assert_eq!(m.byte_to_char(text.find('é').unwrap() + 1), None);
    }
}
