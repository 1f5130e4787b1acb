//! # byline-infer
//!
//! The tagging pipeline over a loaded [`Model`] (byline's own [`byline_model::Tagger`], or a
//! plain Hugging Face token-classification checkpoint): documents in (text, or a read error),
//! one result per document out, in input order.
//!
//! * [`Pipeline`]: takes documents in chunks (by count and by text size, so memory stays bounded
//!   on large inputs), tokenises and windows the next chunk on a second thread while the model
//!   tags the current one, runs the encoder once per chunk for every head
//!   ([`Tagger::predict_heads`](byline_model::Tagger::predict_heads): windows of all documents
//!   sorted by length and batched, each word taken from the window where it sits most
//!   centrally, constrained decoding), and turns word tags into entities and assembled
//!   attributions with their speakers linked ([`Tagger::annotate_prepared`](byline_model::Tagger::annotate_prepared),
//!   the same path training's dev figures take). A document that fails to tag is an error of
//!   its own; the rest go on.
//! * [`default_model`]: where the default model committed under `models/` is found.
//! * [`conll`]: pre-tokenised CoNLL input whose lines come back with a predicted IOB2 column.
//!
//! ```no_run
//! use byline_core::Document;
//! use byline_infer::Pipeline;
//! use byline_model::{LoadOptions, Tagger};
//! # fn main() -> byline_infer::Result<()> {
//! let tagger = Tagger::load("run/best".as_ref(), &LoadOptions::default())?;
//! let pipeline = Pipeline::new(&tagger)?;
//! let docs = vec![Ok(Document::new("d1", "Merkel said: \"We will win.\""))];
//! for result in pipeline.tag(docs) {
//!     match result {
//!         Ok(tagged) => println!("{} entities", tagged.document.entities.len()),
//!         Err(e) => eprintln!("{}: {}", e.id, e.message),
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod batch;
pub mod conll;
pub mod error;
pub mod model;
pub mod pipeline;

pub mod default_model;

pub use default_model::{locate_default_model, DEFAULT_MODEL, MODEL_ENV};
pub use error::{DocError, Error, Result};
pub use model::{Model, PlainModel};
pub use pipeline::{Input, Pipeline, Ready, Tagged, Tagging};
