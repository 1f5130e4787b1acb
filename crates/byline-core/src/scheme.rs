//! Tagging schemes (IO, IOB1, IOB2/BIO, BIOES), typed tags, and the conversion between tags and
//! token spans.
//!
//! Tags are parsed once into [`Tag`] (a prefix and a [`LabelId`]); nothing splits strings after
//! that. [`TagSet`] numbers the tags of a scheme for a model and precomputes which transitions a
//! constrained decoder (CRF / Viterbi) may take.
//!
//! # Decoding rules
//!
//! [`decode`] follows the chunk logic of `conlleval` and of `seqeval` in its default (non-strict)
//! mode exactly, for every scheme, so that IOB1 and IOB2 input decode identically and invalid
//! sequences decode the way the standard scorers see them. Scanning left to right, with the
//! previous tag `p` (`O` before the first token) and the current tag `t` (`O` after the last):
//!
//! * an entity **ends** before `t` when `p` is `E-` or `S-`; when `p` is `B-`/`I-` and `t` is `O`,
//!   `B-` or `S-`; or when `p` is not `O` and `t` has another type (including `O`);
//! * an entity **starts** at `t` when `t` is `B-` or `S-`; when `t` is `I-`/`E-` and `p` is `O`,
//!   `E-` or `S-`; or when `t` is not `O` and `p` has another type.
//!
//! So `I-X` after `O` starts an entity (IOB1), `B-X` always starts one (IOB1 and IOB2), `E-X`
//! after `O` is a one-token entity, and `B-X O` is a one-token entity too.
//!
//! # Encoding rules
//!
//! [`encode`] writes the canonical tags of a scheme: IO tags every entity token `I-`; IOB1 tags
//! them `I-` except the first token of an entity that directly follows another entity of the same
//! type (`B-`); IOB2 starts every entity with `B-`; BIOES uses `S-` for one-token entities and
//! `B- I-* E-` otherwise. IO cannot separate adjacent entities of one type: they merge when
//! decoded. A tag sequence is [valid](is_valid) for a scheme exactly when it is the canonical
//! encoding of what it decodes to.
//!
//! ```
//! use byline_core::{scheme, LabelSet, Scheme, Tag};
//!
//! let labels = LabelSet::from_names(["PER", "LOC"]);
//! let iob1 = scheme::parse_tags(&["I-PER", "B-PER", "O", "I-LOC"], &labels).unwrap();
//! let bioes = scheme::convert(&iob1, Scheme::Iob1, Scheme::Bioes);
//! let shown: Vec<String> = bioes.iter().map(|t| t.display(&labels).to_string()).collect();
//! assert_eq!(shown, ["S-PER", "S-PER", "O", "S-LOC"]);
//! ```

use std::fmt;
use std::str::FromStr;

use crate::label::{LabelId, LabelSet};

/// A tagging scheme. Serialised as its name (`"iob2"`); read case-insensitively, `bio` = IOB2.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub enum Scheme {
    /// `I-` and `O` only.
    Io,
    /// CoNLL-2003's scheme: `I-` everywhere, `B-` only for an entity directly after one of the
    /// same type.
    Iob1,
    /// Also called BIO: every entity starts with `B-`.
    #[default]
    Iob2,
    /// `B-` begin, `I-` inside, `E-` end, `S-` single-token entity.
    Bioes,
}

impl Scheme {
    pub const ALL: [Scheme; 4] = [Scheme::Io, Scheme::Iob1, Scheme::Iob2, Scheme::Bioes];

    /// The entity prefixes of this scheme (everything but `O`), in [`TagSet`] order.
    pub fn prefixes(self) -> &'static [Prefix] {
        match self {
            Scheme::Io => &[Prefix::I],
            Scheme::Iob1 | Scheme::Iob2 => &[Prefix::B, Prefix::I],
            Scheme::Bioes => &[Prefix::B, Prefix::I, Prefix::E, Prefix::S],
        }
    }

    /// Whether tags with this prefix belong to the scheme (`O` always does).
    pub fn allows(self, prefix: Prefix) -> bool {
        prefix == Prefix::O || self.prefixes().contains(&prefix)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Io => "io",
            Scheme::Iob1 => "iob1",
            Scheme::Iob2 => "iob2",
            Scheme::Bioes => "bioes",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scheme name that is not one of `io`, `iob1`, `iob2` (or `bio`), `bioes`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tagging scheme `{0}`: expected io, iob1, iob2 (or bio) or bioes")]
pub struct UnknownScheme(pub String);

impl FromStr for Scheme {
    type Err = UnknownScheme;

    /// Case-insensitive; `bio` is IOB2.
    fn from_str(s: &str) -> Result<Self, UnknownScheme> {
        match s.to_ascii_lowercase().as_str() {
            "io" => Ok(Scheme::Io),
            "iob1" => Ok(Scheme::Iob1),
            "iob2" | "bio" => Ok(Scheme::Iob2),
            "bioes" => Ok(Scheme::Bioes),
            _ => Err(UnknownScheme(s.to_owned())),
        }
    }
}

impl TryFrom<String> for Scheme {
    type Error = UnknownScheme;

    fn try_from(s: String) -> Result<Self, UnknownScheme> {
        s.parse()
    }
}

impl From<Scheme> for String {
    fn from(s: Scheme) -> String {
        s.as_str().to_owned()
    }
}

/// The position part of a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Prefix {
    O,
    B,
    I,
    E,
    S,
}

impl Prefix {
    pub fn as_char(self) -> char {
        match self {
            Prefix::O => 'O',
            Prefix::B => 'B',
            Prefix::I => 'I',
            Prefix::E => 'E',
            Prefix::S => 'S',
        }
    }
}

/// Why a tag string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TagError {
    #[error(
        "malformed tag `{0}`: expected `O` or one of `B-`, `I-`, `E-`, `S-` followed by a type"
    )]
    Malformed(String),
    #[error("unknown entity type `{label}` in tag `{tag}`")]
    UnknownLabel { tag: String, label: String },
}

/// One token's tag: a prefix and, unless the prefix is `O`, a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag {
    prefix: Prefix,
    label: Option<LabelId>,
}

impl Tag {
    /// Outside any entity.
    pub const O: Tag = Tag {
        prefix: Prefix::O,
        label: None,
    };

    /// A tag from its parts; `None` unless the label is absent exactly when the prefix is `O`.
    pub fn new(prefix: Prefix, label: Option<LabelId>) -> Option<Tag> {
        ((prefix == Prefix::O) == label.is_none()).then_some(Tag { prefix, label })
    }

    /// An entity tag (`B-`, `I-`, `E-`, `S-`); `prefix` `O` gives [`Tag::O`].
    pub fn entity(prefix: Prefix, label: LabelId) -> Tag {
        match prefix {
            Prefix::O => Tag::O,
            _ => Tag {
                prefix,
                label: Some(label),
            },
        }
    }

    pub fn prefix(self) -> Prefix {
        self.prefix
    }

    /// The entity type; `None` for `O`.
    pub fn label(self) -> Option<LabelId> {
        self.label
    }

    pub fn is_outside(self) -> bool {
        self.prefix == Prefix::O
    }

    /// Parses `O`, `B-X`, `I-X`, `E-X` or `S-X` where `X` is a label of `labels`.
    pub fn parse(s: &str, labels: &LabelSet) -> Result<Tag, TagError> {
        let (prefix, name) = Tag::split(s)?;
        let Some(name) = name else {
            return Ok(Tag::O);
        };
        match labels.id(name) {
            Some(id) => Ok(Tag::entity(prefix, id)),
            None => Err(TagError::UnknownLabel {
                tag: s.to_owned(),
                label: name.to_owned(),
            }),
        }
    }

    /// Splits a tag string into its prefix and type name without looking the type up: `O` gives
    /// `(O, None)`, `B-PER` gives `(B, Some("PER"))`. The type is everything after the first `-`
    /// and must not be empty.
    pub fn split(s: &str) -> Result<(Prefix, Option<&str>), TagError> {
        if s == "O" {
            return Ok((Prefix::O, None));
        }
        let malformed = || TagError::Malformed(s.to_owned());
        let (head, name) = s.split_once('-').ok_or_else(malformed)?;
        let prefix = match head {
            "B" => Prefix::B,
            "I" => Prefix::I,
            "E" => Prefix::E,
            "S" => Prefix::S,
            _ => return Err(malformed()),
        };
        if name.is_empty() {
            return Err(malformed());
        }
        Ok((prefix, Some(name)))
    }

    /// Shows the tag with its label's name, like `B-PER`.
    pub fn display(self, labels: &LabelSet) -> TagDisplay<'_> {
        TagDisplay { tag: self, labels }
    }
}

/// A [`Tag`] shown through its label set; see [`Tag::display`].
#[derive(Debug, Clone, Copy)]
pub struct TagDisplay<'a> {
    tag: Tag,
    labels: &'a LabelSet,
}

impl fmt::Display for TagDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.tag.label {
            None => f.write_str("O"),
            Some(id) => match self.labels.get(id) {
                Some(name) => write!(f, "{}-{name}", self.tag.prefix.as_char()),
                None => write!(f, "{}-#{}", self.tag.prefix.as_char(), id.0),
            },
        }
    }
}

/// Parses a sequence of tag strings; the error says which index failed.
pub fn parse_tags<S: AsRef<str>>(
    tags: &[S],
    labels: &LabelSet,
) -> Result<Vec<Tag>, (usize, TagError)> {
    tags.iter()
        .enumerate()
        .map(|(i, s)| Tag::parse(s.as_ref(), labels).map_err(|e| (i, e)))
        .collect()
}

/// An entity over tokens: the half-open token index range `start..end` and its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenSpan {
    pub start: usize,
    pub end: usize,
    pub label: LabelId,
}

impl TokenSpan {
    pub fn new(start: usize, end: usize, label: LabelId) -> Self {
        TokenSpan { start, end, label }
    }
}

/// Decodes tags into entity spans with the conlleval / seqeval chunk rules (see the module
/// documentation). The rules are the same for every scheme; `scheme` names what the tags are
/// meant to be and does not change the result, so decoding never depends on telling IOB1 from
/// IOB2.
pub fn decode(tags: &[Tag], scheme: Scheme) -> Vec<TokenSpan> {
    let _ = scheme;
    let mut spans = Vec::new();
    let mut prev = Tag::O;
    let mut begin = 0;
    for (i, &tag) in tags.iter().chain(std::iter::once(&Tag::O)).enumerate() {
        if ends_chunk(prev, tag) {
            if let Some(label) = prev.label {
                spans.push(TokenSpan::new(begin, i, label));
            }
        }
        if starts_chunk(prev, tag) {
            begin = i;
        }
        prev = tag;
    }
    spans
}

fn ends_chunk(prev: Tag, tag: Tag) -> bool {
    use Prefix::*;
    match (prev.prefix, tag.prefix) {
        (O, _) => false,
        (E | S, _) => true,
        (B | I, O | B | S) => true,
        _ => prev.label != tag.label,
    }
}

fn starts_chunk(prev: Tag, tag: Tag) -> bool {
    use Prefix::*;
    match (prev.prefix, tag.prefix) {
        (_, O) => false,
        (_, B | S) => true,
        (E | S | O, I | E) => true,
        _ => prev.label != tag.label,
    }
}

/// Why spans could not be encoded as tags.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("empty span at token {start}")]
    EmptySpan { start: usize },
    #[error("span {start}..{end} goes past the {len} tokens")]
    OutOfRange {
        start: usize,
        end: usize,
        len: usize,
    },
    #[error("span {start}..{end} overlaps or comes before the span ending at token {prev_end}")]
    Overlap {
        start: usize,
        end: usize,
        prev_end: usize,
    },
}

/// Encodes spans over `len` tokens as the canonical tags of `scheme` (see the module
/// documentation). Spans must be sorted, non-empty, non-overlapping and within `len`; anything
/// else is an [`EncodeError`].
pub fn encode(spans: &[TokenSpan], len: usize, scheme: Scheme) -> Result<Vec<Tag>, EncodeError> {
    let mut prev_end = 0;
    for s in spans {
        if s.start >= s.end {
            return Err(EncodeError::EmptySpan { start: s.start });
        }
        if s.end > len {
            return Err(EncodeError::OutOfRange {
                start: s.start,
                end: s.end,
                len,
            });
        }
        if s.start < prev_end {
            return Err(EncodeError::Overlap {
                start: s.start,
                end: s.end,
                prev_end,
            });
        }
        prev_end = s.end;
    }
    Ok(encode_checked(spans, len, scheme))
}

/// [`encode`] for spans known to be sorted, non-empty, disjoint and in range.
fn encode_checked(spans: &[TokenSpan], len: usize, scheme: Scheme) -> Vec<Tag> {
    let mut tags = vec![Tag::O; len];
    let mut prev: Option<TokenSpan> = None;
    for &s in spans {
        let first = match scheme {
            Scheme::Io => Prefix::I,
            Scheme::Iob1 => {
                let adjacent = prev.is_some_and(|p| p.end == s.start && p.label == s.label);
                if adjacent {
                    Prefix::B
                } else {
                    Prefix::I
                }
            }
            Scheme::Iob2 => Prefix::B,
            Scheme::Bioes if s.end - s.start == 1 => Prefix::S,
            Scheme::Bioes => Prefix::B,
        };
        tags[s.start] = Tag::entity(first, s.label);
        for tag in &mut tags[s.start + 1..s.end] {
            *tag = Tag::entity(Prefix::I, s.label);
        }
        if scheme == Scheme::Bioes && s.end - s.start > 1 {
            tags[s.end - 1] = Tag::entity(Prefix::E, s.label);
        }
        prev = Some(s);
    }
    tags
}

/// Re-tags a sequence: `encode(decode(tags), to)`. Invalid input is repaired the way
/// [`decode`] reads it.
pub fn convert(tags: &[Tag], from: Scheme, to: Scheme) -> Vec<Tag> {
    encode_checked(&decode(tags, from), tags.len(), to)
}

/// Whether `tags` is a well-formed sequence of `scheme`: every prefix belongs to the scheme and
/// every start, transition and end is allowed (the rules of [`TagSet`]). Equivalently, `tags` is
/// the canonical encoding of what it decodes to.
pub fn is_valid(tags: &[Tag], scheme: Scheme) -> bool {
    let (Some(first), Some(last)) = (tags.first(), tags.last()) else {
        return true;
    };
    tags.iter().all(|t| scheme.allows(t.prefix))
        && can_start(scheme, *first)
        && can_end(scheme, *last)
        && tags.windows(2).all(|w| can_follow(scheme, w[0], w[1]))
}

fn can_start(scheme: Scheme, tag: Tag) -> bool {
    match scheme {
        Scheme::Io => true,
        Scheme::Iob1 => tag.prefix != Prefix::B,
        Scheme::Iob2 => tag.prefix != Prefix::I,
        Scheme::Bioes => matches!(tag.prefix, Prefix::O | Prefix::B | Prefix::S),
    }
}

fn can_end(scheme: Scheme, tag: Tag) -> bool {
    match scheme {
        Scheme::Bioes => matches!(tag.prefix, Prefix::O | Prefix::E | Prefix::S),
        _ => true,
    }
}

fn can_follow(scheme: Scheme, from: Tag, to: Tag) -> bool {
    use Prefix::*;
    let continues = matches!(from.prefix, B | I) && from.label == to.label;
    match scheme {
        Scheme::Io => true,
        Scheme::Iob1 => to.prefix != B || continues,
        Scheme::Iob2 => to.prefix != I || continues,
        Scheme::Bioes => match to.prefix {
            I | E => continues,
            O | B | S => !matches!(from.prefix, B | I),
        },
    }
}

/// All tags of a scheme over a label set, numbered for a model: `O` is 0, then for each label in
/// order the scheme's prefixes in [`Scheme::prefixes`] order (IOB2: `B-PER`=1, `I-PER`=2,
/// `B-LOC`=3, ...). Also holds the precomputed tables a constrained decoder needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSet {
    scheme: Scheme,
    labels: LabelSet,
    tags: Vec<Tag>,
    /// Row-major `len × len`: `transitions[from * len + to]`.
    transitions: Vec<bool>,
    starts: Vec<bool>,
    ends: Vec<bool>,
}

impl TagSet {
    pub fn new(scheme: Scheme, labels: &LabelSet) -> TagSet {
        let mut tags = vec![Tag::O];
        for (id, _) in labels.iter() {
            tags.extend(scheme.prefixes().iter().map(|&p| Tag::entity(p, id)));
        }
        let transitions = tags
            .iter()
            .flat_map(|&from| tags.iter().map(move |&to| can_follow(scheme, from, to)))
            .collect();
        TagSet {
            scheme,
            labels: labels.clone(),
            starts: tags.iter().map(|&t| can_start(scheme, t)).collect(),
            ends: tags.iter().map(|&t| can_end(scheme, t)).collect(),
            tags,
            transitions,
        }
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn labels(&self) -> &LabelSet {
        &self.labels
    }

    /// Number of tags: `1 + labels × prefixes`.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// Never true: `O` is always there.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    pub fn tags(&self) -> &[Tag] {
        &self.tags
    }

    pub fn tag(&self, index: usize) -> Option<Tag> {
        self.tags.get(index).copied()
    }

    /// The index of a tag, or `None` when its prefix is not in the scheme or its label not in
    /// the set. O(1).
    pub fn index(&self, tag: Tag) -> Option<usize> {
        let Some(label) = tag.label else {
            return Some(0);
        };
        let prefixes = self.scheme.prefixes();
        let k = prefixes.iter().position(|&p| p == tag.prefix)?;
        (label.index() < self.labels.len()).then(|| 1 + label.index() * prefixes.len() + k)
    }

    /// Parses a tag string straight to its index.
    pub fn parse(&self, s: &str) -> Result<Option<usize>, TagError> {
        Ok(self.index(Tag::parse(s, &self.labels)?))
    }

    /// The tag's name (`B-PER`), e.g. for a model config's `id2label`.
    pub fn name(&self, index: usize) -> Option<String> {
        self.tag(index).map(|t| t.display(&self.labels).to_string())
    }

    /// Whether tag `to` may directly follow tag `from`; `false` for indices out of range.
    pub fn allowed_transition(&self, from: usize, to: usize) -> bool {
        let n = self.len();
        from < n && to < n && self.transitions[from * n + to]
    }

    /// Whether a sequence may start with tag `index`.
    pub fn allowed_start(&self, index: usize) -> bool {
        self.starts.get(index).copied().unwrap_or(false)
    }

    /// Whether a sequence may end with tag `index`.
    pub fn allowed_end(&self, index: usize) -> bool {
        self.ends.get(index).copied().unwrap_or(false)
    }

    /// The whole transition table, row-major (`from * len() + to`).
    pub fn transition_matrix(&self) -> &[bool] {
        &self.transitions
    }

    pub fn start_mask(&self) -> &[bool] {
        &self.starts
    }

    pub fn end_mask(&self) -> &[bool] {
        &self.ends
    }
}

#[cfg(test)]
#[path = "scheme_tests.rs"]
mod tests;
