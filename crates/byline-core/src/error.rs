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
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
