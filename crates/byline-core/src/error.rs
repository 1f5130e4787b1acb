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

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
