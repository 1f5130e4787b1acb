//! Errors of byline-hub: each names the model reference, repo, file or URL it is about.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("model `{reference}`: {why}")]
    BadReference { reference: String, why: String },

    /// `HF_HUB_OFFLINE` is set and the cache lacks what is needed.
    #[error(
        "{repo}@{revision} is not in the cache {cache} ({what}) and HF_HUB_OFFLINE is set, so \
         nothing is downloaded: run the same command once without HF_HUB_OFFLINE, or \
         `huggingface-cli download {repo} --revision {revision}`",
        cache = .cache.display()
    )]
    NotCached {
        repo: String,
        revision: String,
        cache: PathBuf,
        what: String,
    },

    #[error("{repo}: no such model repository on {endpoint} (HTTP 404)")]
    UnknownRepo { repo: String, endpoint: String },

    #[error("{repo}: no revision `{revision}` (a branch, tag or commit) on {endpoint}")]
    UnknownRevision {
        repo: String,
        revision: String,
        endpoint: String,
    },

    #[error("{repo}@{revision}: {file} is not in the repository (HTTP 404 from {url})")]
    MissingFile {
        repo: String,
        revision: String,
        file: String,
        url: String,
    },

    #[error(
        "{repo}: access denied (HTTP {status} from {url}): the repository is private or \
         gated{token}",
        token = if *.had_token {
            "; the token given (HF_TOKEN or the token file) was refused"
        } else {
            "; set HF_TOKEN or run `huggingface-cli login`"
        }
    )]
    Unauthorized {
        repo: String,
        status: u16,
        url: String,
        had_token: bool,
    },

    #[error("{repo}: the hub answered HTTP {status} for {url}; try again later")]
    Server {
        repo: String,
        status: u16,
        url: String,
    },

    #[error("{repo}: cannot reach {url}: {message}")]
    Connection {
        repo: String,
        url: String,
        message: String,
    },

    /// A download that stopped before its end (the partial file is kept and resumed next time).
    #[error("{repo}: downloading {file} from {url} failed: {message}; run again to resume it")]
    Download {
        repo: String,
        file: String,
        url: String,
        message: String,
    },

    /// A downloaded blob whose size or hash is not the hub's: removed, never used.
    #[error(
        "{repo}: {file} arrived corrupt ({message}); it was removed from the cache, run again"
    )]
    Corrupt {
        repo: String,
        file: String,
        message: String,
    },

    #[error("{repo}: {message}")]
    BadRepo { repo: String, message: String },

    #[error("{path}: {source}", path = .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
