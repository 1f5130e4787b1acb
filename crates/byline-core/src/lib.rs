//! # byline-core
//!
//! Documents, spans, label sets, tagging schemes, corpus readers and writers, and metrics for
//! byline. No tensors: this crate builds in seconds and is tested hard.
//!
//! Internally every span is a half-open **byte** range into the document's original text
//! ([`Span`]); every file byline writes uses **Unicode code-point** offsets (what Python, spaCy
//! and PolNeAR use). [`OffsetMap`] converts between the two.

pub mod aggregate;
pub mod align;
pub mod assemble;
pub mod conll;
pub mod consistency;
pub mod corpus;
pub mod document;
pub mod error;
pub mod jsonl;
pub mod label;
pub mod metrics;
pub mod polnear;
pub mod quote;
pub mod scheme;
pub mod shared;
pub mod source;
pub mod span;
pub mod speaker;
pub mod stats;
pub mod tokenize;
pub mod window;

pub use document::{Attribution, Document, Entity, Mention};
pub use error::{BratErrorKind, ConllErrorKind, Error, JsonlErrorKind, Result, Side};
pub use label::{LabelId, LabelSet};
pub use scheme::{Prefix, Scheme, Tag, TagSet, TokenSpan};
pub use span::{OffsetMap, Span};
