//! Errors of byline-core. Every error that comes from a file names the file, and the line (and
//! byte, for invalid UTF-8) where that makes sense.

use std::path::PathBuf;

use crate::label::LabelError;
use crate::scheme::{Scheme, TagError};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{path}: {source}", path = .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Invalid UTF-8. `line` is 1-based where the format is line-oriented; `byte` is the offset of
    /// the first invalid byte from the start of the file.
    #[error("{path}{}: invalid UTF-8 at byte {byte}", line.map(|l| format!(":{l}")).unwrap_or_default(), path = .path.display())]
    InvalidUtf8 {
        path: PathBuf,
        line: Option<usize>,
        byte: usize,
    },

    #[error("{path}: file is empty", path = .path.display())]
    Empty { path: PathBuf },

    /// A bad line of a brat standoff (`.ann`) file, such as PolNeAR's.
    #[error("{path}:{line}: {kind}", path = .path.display())]
    Brat {
        path: PathBuf,
        line: usize,
        kind: BratErrorKind,
    },

    /// An annotation file whose text file is missing.
    #[error("{ann}: text file {text} is missing", ann = .ann.display(), text = .text.display())]
    MissingText { ann: PathBuf, text: PathBuf },

    /// A bad line of a byline JSONL file.
    #[error("{path}:{line}: {kind}", path = .path.display())]
    Jsonl {
        path: PathBuf,
        line: usize,
        #[source]
        kind: JsonlErrorKind,
    },

    /// A document that cannot be written: one of its spans is not a valid span of its text.
    #[error("document {id:?}: {what} span {start}..{end} is not a span of its text ({len} bytes)")]
    InvalidSpan {
        id: String,
        what: &'static str,
        start: usize,
        end: usize,
        len: usize,
    },

    /// A bad line in a CoNLL column file (`line` is 1-based).
    #[error("{path}:{line}: {kind}", path = .path.display())]
    Conll {
        path: PathBuf,
        line: usize,
        kind: ConllErrorKind,
    },

    /// A document that cannot be written as asked (for example CoNLL without tokens).
    #[error("document `{document}`: {reason}")]
    InvalidDocument { document: String, reason: String },

    /// Gold and predicted documents do not pair up by id for evaluation.
    #[error("document `{id}` is in the {side} documents but not in the {other}", other = side.other())]
    UnpairedDocument { id: String, side: Side },

    /// The same document id appears twice among the gold or the predicted documents.
    #[error("document `{id}` appears more than once in the {side} documents")]
    DuplicateDocument { id: String, side: Side },

    /// A gold document and its prediction have different texts, so their spans cannot be compared.
    #[error("document `{id}`: gold and predicted texts differ")]
    TextMismatch { id: String },

    /// Gold and predicted tag sequences differ in length: sentence `sentence` (0-based) or, when
    /// `sentence` is `None`, the number of sentences.
    #[error("{}gold has {gold} {what}, prediction has {pred}", sentence.map(|s| format!("sentence {s}: ")).unwrap_or_default(), what = if sentence.is_some() { "tags" } else { "sentences" })]
    LengthMismatch {
        sentence: Option<usize>,
        gold: usize,
        pred: usize,
    },

    /// A tag of a tag sequence that is not `O` or a prefix and a type. `sentence` and `token` are
    /// 0-based.
    #[error("{side} sentence {sentence}, token {token}: {source}")]
    Tag {
        side: Side,
        sentence: usize,
        token: usize,
        #[source]
        source: crate::scheme::TagError,
    },

    /// A window budget of zero subwords: no word could ever fit.
    #[error("the window budget must be at least one subword")]
    ZeroWindowBudget,

    /// Per-word tags (or scores) whose number differs from the document's words.
    #[error("document `{document}`: {words} words but {found} {what}")]
    WordCount {
        document: String,
        what: &'static str,
        words: usize,
        found: usize,
    },

    #[error(transparent)]
    Label(#[from] crate::label::LabelError),

    /// A directory read as a PolNeAR split that lacks `text/` or `attributions/`.
    #[error("{path}: not a PolNeAR split directory (expected text/ and attributions/ inside)", path = .path.display())]
    NotPolnearSplit { path: PathBuf },
}

/// What is wrong with a line of a brat standoff file. Offsets are code points, as in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BratErrorKind {
    #[error("unknown line kind {0:?} (expected T, E, A, R, M, N or #)")]
    UnknownLineKind(String),
    #[error("malformed {kind} line: {what}")]
    Malformed { kind: &'static str, what: String },
    #[error("unknown text-bound type {0:?}")]
    UnknownType(String),
    #[error("offset {0:?} is not a number")]
    BadOffset(String),
    #[error("span start {start} > end {end}")]
    StartAfterEnd { start: usize, end: usize },
    #[error("span {start}..{end} is outside the text ({len} characters)")]
    OutsideText {
        start: usize,
        end: usize,
        len: usize,
    },
    #[error("covered text {found:?} does not match the text at its offsets {expected:?}")]
    CoveredTextMismatch { expected: String, found: String },
    #[error("{0} is defined twice")]
    DuplicateId(String),
    #[error("reference to unknown annotation {0}")]
    UnknownReference(String),
    #[error("unknown role {0:?} in an attribution event")]
    UnknownRole(String),
    #[error("role {0:?} appears twice in one attribution event")]
    DuplicateRole(String),
    #[error("attribution event has no Attribution or Attribution-no-source anchor")]
    MissingAnchor,
}

/// What is wrong with a line of a byline JSONL file. Offsets are code points, as in the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonlErrorKind {
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{what} span {start}..{end} has start > end")]
    StartAfterEnd {
        what: &'static str,
        start: usize,
        end: usize,
    },
    #[error("{what} span {start}..{end} is outside the text ({len} characters)")]
    OutsideText {
        what: &'static str,
        start: usize,
        end: usize,
        len: usize,
    },
    #[error(
        "{what} span {start}..{end} has text {found:?} but the document has {expected:?} there"
    )]
    TextMismatch {
        what: &'static str,
        start: usize,
        end: usize,
        expected: String,
        found: String,
    },
    #[error("sentence {first}..{end} is not a range of the document's {tokens} tokens")]
    BadSentence {
        first: usize,
        end: usize,
        tokens: usize,
    },
    #[error("attribution content has no pieces")]
    EmptyContent,
}

/// What is wrong with a line of a CoNLL file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConllErrorKind {
    #[error("expected {expected} columns, found {found}")]
    Columns { expected: usize, found: usize },
    #[error("expected at least 2 columns (token and tag), found {found}")]
    TooFewColumns { found: usize },
    #[error("empty token")]
    EmptyToken,
    #[error("{0}")]
    Tag(TagError),
    #[error("entity type `{label}` of tag `{tag}` is not in the label set")]
    LabelNotInSet { tag: String, label: String },
    #[error("tag `{tag}` is not part of the {scheme} scheme")]
    NotInScheme { tag: String, scheme: Scheme },
    #[error("{0}")]
    Label(LabelError),
}

/// Which side of an evaluation a document or sequence comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Gold,
    Predicted,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Gold => Side::Predicted,
            Side::Predicted => Side::Gold,
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Gold => "gold",
            Side::Predicted => "predicted",
        })
    }
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
