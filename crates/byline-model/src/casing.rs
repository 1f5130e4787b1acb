//! Casing classes: the case information an uncased vocabulary throws away, put back as a small
//! trainable embedding (see `embeddings.rs`).
//!
//! Each subword is classified by the shape of its span in the ORIGINAL text (tokenizer offsets
//! refer to the original, un-lowercased text) and by whether it is the first subword of its word.

use byline_core::Span;

/// The shape of a subword's original text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Letters, none upper case: `obama`.
    Lower,
    /// One leading capital, rest lower case: `Obama`, `A`.
    Initial,
    /// Two or more capitals, no lower case: `NATO`.
    AllCaps,
    /// Any other mix of cases: `iPhone`, `McD`.
    Mixed,
    /// Contains a digit: `1996`, `3rd`.
    Digits,
    /// Punctuation and symbols only: `,`, `$`.
    Punct,
    /// Anything else (letters without case, such as CJK).
    Other,
}

impl Shape {
    const ALL: [Shape; 7] = [
        Shape::Lower,
        Shape::Initial,
        Shape::AllCaps,
        Shape::Mixed,
        Shape::Digits,
        Shape::Punct,
        Shape::Other,
    ];

    /// Classifies `text` (a subword's span of the original text).
    pub fn of(text: &str) -> Shape {
        let (mut upper, mut lower, mut uncased, mut first_upper) = (0usize, 0usize, 0usize, None);
        for c in text.chars() {
            if c.is_numeric() {
                return Shape::Digits;
            }
            if c.is_uppercase() {
                upper += 1;
                first_upper.get_or_insert(true);
            } else if c.is_lowercase() {
                lower += 1;
                first_upper.get_or_insert(false);
            } else if c.is_alphabetic() {
                uncased += 1;
            }
        }
        match (upper, lower) {
            (0, 0) if uncased > 0 => Shape::Other,
            (0, 0) => Shape::Punct,
            (0, _) => Shape::Lower,
            (1, _) if first_upper == Some(true) => Shape::Initial,
            (_, 0) => Shape::AllCaps,
            _ => Shape::Mixed,
        }
    }

    fn index(self) -> u32 {
        Shape::ALL.iter().position(|s| *s == self).unwrap_or(0) as u32
    }
}

/// Casing class of one subword: an index into the casing embedding table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Casing {
    /// `[CLS]`, `[SEP]`, padding: anything without text.
    Special,
    /// A subword with its shape, and whether it starts its word.
    Subword { shape: Shape, first: bool },
}

impl Casing {
    /// Number of classes, i.e. rows of the casing embedding table: special + 7 shapes x
    /// {first subword, continuation}.
    pub const COUNT: usize = 1 + 2 * Shape::ALL.len();

    /// The class id: 0 is special (and padding); then first subwords; then continuations.
    pub fn id(self) -> u32 {
        match self {
            Casing::Special => 0,
            Casing::Subword { shape, first: true } => 1 + shape.index(),
            Casing::Subword {
                shape,
                first: false,
            } => 1 + Shape::ALL.len() as u32 + shape.index(),
        }
    }
}

/// Casing class ids of a tokenised sequence.
///
/// `offsets` are byte spans of each subword in `text` (empty for special tokens); `words` gives
/// each subword's word index (`None` for special tokens). A subword is "first" when its word
/// differs from the previous subword's. Offsets outside `text` or off character boundaries count
/// as special rather than panicking.
pub fn casing_ids(text: &str, offsets: &[Span], words: &[Option<usize>]) -> Vec<u32> {
    let mut previous = None;
    offsets
        .iter()
        .zip(words)
        .map(|(span, word)| {
            let Some(word) = word else {
                previous = None;
                return Casing::Special.id();
            };
            let first = previous != Some(*word);
            previous = Some(*word);
            match text.get(span.start..span.end) {
                Some(piece) if !piece.is_empty() => Casing::Subword {
                    shape: Shape::of(piece),
                    first,
                }
                .id(),
                _ => Casing::Special.id(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        for (text, shape) in [
            ("obama", Shape::Lower),
            ("Obama", Shape::Initial),
            ("A", Shape::Initial),
            ("NATO", Shape::AllCaps),
            ("iPhone", Shape::Mixed),
            ("McDonald", Shape::Mixed),
            ("1996", Shape::Digits),
            ("3rd", Shape::Digits),
            (",", Shape::Punct),
            ("$", Shape::Punct),
            ("東京", Shape::Other),
            ("Élysée", Shape::Initial),
        ] {
            assert_eq!(Shape::of(text), shape, "{text}");
        }
    }

    #[test]
    fn ids_are_distinct_and_in_range() {
        let mut seen = std::collections::HashSet::new();
        seen.insert(Casing::Special.id());
        for shape in Shape::ALL {
            for first in [true, false] {
                let id = Casing::Subword { shape, first }.id();
                assert!((id as usize) < Casing::COUNT);
                assert!(seen.insert(id), "duplicate id {id}");
            }
        }
        assert_eq!(seen.len(), Casing::COUNT);
    }

    #[test]
    fn first_subword_and_special_tokens() {
        // [CLS] mer ##kel said [SEP] over "Merkel said"
        let text = "Merkel said";
        let offsets = [
            Span::new(0, 0),
            Span::new(0, 3),
            Span::new(3, 6),
            Span::new(7, 11),
            Span::new(0, 0),
        ];
        let words = [None, Some(0), Some(0), Some(1), None];
        let ids = casing_ids(text, &offsets, &words);
        let expect = [
            Casing::Special,
            Casing::Subword {
                shape: Shape::Initial,
                first: true,
            },
            Casing::Subword {
                shape: Shape::Lower,
                first: false,
            },
            Casing::Subword {
                shape: Shape::Lower,
                first: true,
            },
            Casing::Special,
        ];
        assert_eq!(ids, expect.map(Casing::id));
    }

    #[test]
    fn bad_offsets_do_not_panic() {
        let ids = casing_ids(
            "Zürich",
            &[Span::new(1, 2), Span::new(4, 99)],
            &[Some(0), Some(0)],
        );
        assert_eq!(ids, vec![Casing::Special.id(); 2]);
    }
}
