//! Errors of byline-core. Every error that comes from a file names the file, and the line (and
//! byte, for invalid UTF-8) where that makes sense.

use std::path::PathBuf;

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

    #[error(transparent)]
    Label(#[from] crate::label::LabelError),
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
