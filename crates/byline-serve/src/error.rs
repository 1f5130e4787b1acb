//! Errors of starting and running the service (request errors are HTTP answers, see
//! [`crate::http`]).

use std::net::SocketAddr;

/// What keeps the service from starting or ends it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model cannot tag (no entity or attribution head).
    #[error("the model cannot be served")]
    Pipeline(#[from] byline_infer::Error),
    /// The listening socket cannot be opened.
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// An I/O error of the listening socket or the inference thread.
    #[error("{what}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The inference thread ended with a panic.
    #[error("the inference thread panicked")]
    EnginePanicked,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
