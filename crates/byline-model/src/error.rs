//! Errors of byline-model. Errors from files name the file (and line where there is one).

use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    #[error("{path}: {source}", path = .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Malformed JSON; `line` is 1-based (0 when writing).
    #[error("{path}:{line}: {source}", path = .path.display())]
    Json {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },

    #[error("{path}: invalid config: {message}", path = .path.display())]
    InvalidConfig { path: PathBuf, message: String },

    #[error("{path}: unknown model_type `{found}` (byline reads {known})", path = .path.display(), known = crate::family::Family::KNOWN.join(", "))]
    UnknownModelType { path: PathBuf, found: String },

    #[error("{path}: cannot read tokenizer: {source}", path = .path.display())]
    Tokenizer {
        path: PathBuf,
        #[source]
        source: tokenizers::Error,
    },

    #[error("tokenization failed: {source}")]
    Encode {
        #[source]
        source: tokenizers::Error,
    },

    #[error("{path}: no checkpoint (model.safetensors, model.safetensors.index.json or pytorch_model.bin)", path = .path.display())]
    NoCheckpoint { path: PathBuf },

    #[error("{path}: weight `{name}` is missing", path = .path.display())]
    MissingWeight { path: PathBuf, name: String },

    #[error("{path}: weight `{name}` has shape {found:?}, expected {expected:?}", path = .path.display())]
    WeightShape {
        path: PathBuf,
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },

    /// A word span that is not inside the text or not on character boundaries.
    #[error("word {index} ({start}..{end}) is not a valid span of a text of {len} bytes")]
    BadWord {
        index: usize,
        start: usize,
        end: usize,
        len: usize,
    },

    #[error("sequence of {len} subwords is longer than the model's {max} positions")]
    TooLong { len: usize, max: usize },

    #[error("empty batch")]
    EmptyBatch,

    /// A tensor or list whose shape does not fit the others (emissions vs. gold tags, ...).
    #[error("{what}: shape {found:?}, expected {expected:?}")]
    Shape {
        what: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },

    /// A gold tag index outside the tag set.
    #[error(
        "sequence {sequence}, word {word}: tag index {tag} is out of range for {num_tags} tags"
    )]
    BadTag {
        sequence: usize,
        word: usize,
        tag: usize,
        num_tags: usize,
    },

    /// A word's first-subword position outside its padded sequence.
    #[error("sequence {sequence}, word {word}: subword position {position} is outside a sequence of {seq_len}")]
    BadSubword {
        sequence: usize,
        word: usize,
        position: usize,
        seq_len: usize,
    },

    #[error("head `{name}`: {message}")]
    InvalidHead { name: String, message: String },

    /// A tagger whose parts do not fit together (windows longer than the model's positions,
    /// no heads, an unknown head name, ...).
    #[error("tagger: {message}")]
    InvalidTagger { message: String },

    /// A saved tagger directory that is missing a piece or has one that does not fit.
    #[error("{path}: {message}", path = .path.display())]
    BadModelDir { path: PathBuf, message: String },

    /// An error of byline-core (alignment, windows), kept as the source.
    #[error(transparent)]
    Core(#[from] byline_core::Error),
}

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
}
