//! Errors of the pipeline as a whole, and of one document.

/// What stops the pipeline from being built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Model(#[from] byline_model::Error),
    /// The tagger has neither an entity head nor an attribution head.
    #[error("the tagger has no entity or attribution head")]
    NoHeads,
    /// A prepared document handed to a pipeline of another kind of model.
    #[error("a document prepared for another kind of model")]
    WrongInput,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One document that could not be read or tagged: its id and why. The other documents go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{id}: {message}")]
pub struct DocError {
    pub id: String,
    pub message: String,
}

impl DocError {
    pub fn new(id: impl Into<String>, message: impl ToString) -> Self {
        DocError {
            id: id.into(),
            message: message.to_string(),
        }
    }
}
