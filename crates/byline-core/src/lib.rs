//! # byline-core
//!
//! Documents, spans, label sets, tagging schemes, corpus readers and writers, and metrics for
//! byline. No tensors: this crate builds in seconds and is tested hard.
//!
//! Internally every span is a half-open **byte** range into the document's original text
//! ([`Span`]); every file byline writes uses **Unicode code-point** offsets (what Python, spaCy
//! and PolNeAR use). [`OffsetMap`] converts between the two.

pub mod conll;
pub mod document;
pub mod error;
pub mod label;
pub mod scheme;
pub mod span;

pub use document::{Attribution, Document, Entity, Mention};
pub use error::{ConllErrorKind, Error, Result};
pub use label::{LabelId, LabelSet};
pub use scheme::{Prefix, Scheme, Tag, TagSet, TokenSpan};
pub use span::{OffsetMap, Span};
