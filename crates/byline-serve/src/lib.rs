//! # byline-serve
//!
//! `byline serve`: an HTTP service over one loaded [`byline_infer::Model`] (byline's tagger or a
//! plain token-classification checkpoint).
//!
//! * [`http`]: `POST /v1/tag` (`{"documents": [{"id", "text"}, ...]}` or one `{"text"}`,
//!   answered with the records `byline tag` writes), `GET /healthz`, `GET /metrics`
//!   (Prometheus text), `GET /openapi.json`. Errors are JSON `{"error": "..."}`: 400, 413,
//!   422, 503 (queue full, with `Retry-After`), 504 (deadline).
//! * [`engine`]: the one model instance on a dedicated thread, fed by a bounded queue; the
//!   documents of requests that arrive together are tagged as one batch ([`batch`]) and each
//!   request is answered through a oneshot channel, so the async runtime never blocks.
//! * [`server`]: binding, serving and graceful shutdown.
//! * [`metrics`]: counters and histograms in the Prometheus text format.
//! * [`client`]: a minimal HTTP/1.1 client (keep-alive, `Content-Length` and chunked
//!   bodies) for load tests and tests.
//!
//! ```no_run
//! use byline_model::{LoadOptions, Tagger};
//! use byline_serve::{bind, serve, Config};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tagger = Tagger::load("run/best".as_ref(), &LoadOptions::default())?.detached()?;
//! let listener = bind("127.0.0.1:8080".parse()?).await?;
//! serve(listener, tagger, Config::default(), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(()) }
//! ```

mod api_error;
pub mod client;
pub mod config;
pub mod engine;
pub mod error;
pub mod http;
pub mod metrics;
pub mod request;
pub mod server;

pub use byline_infer::batch::{gather, BatchLimits, Gathered};
pub use config::Config;
pub use engine::{Engine, SubmitError};
pub use error::{Error, Result};
pub use server::{bind, local_addr, serve};
