//! # byline-model
//!
//! byline's BERT-family encoder on candle, written for fine-tuning on the CPU:
//!
//! * [`Encoder`]: embeddings (+ a zero-initialised **casing** table that puts back the case an
//!   uncased vocabulary loses) and transformer layers; `forward(.., train)` switches dropout.
//! * Every op has a backward pass: LayerNorm, GELU and the masked softmax are fused CPU kernels
//!   with hand-written backward kernels (candle's own fast LayerNorm and softmax have none).
//! * [`Pretrained`] / [`ParamStore`]: load a Hugging Face directory (`config.json` +
//!   `model.safetensors` or `pytorch_model.bin`, with or without the `bert.` prefix) into a
//!   [`candle_nn::VarMap`] of trainable variables, optionally keeping the word embeddings frozen;
//!   save back with Hugging Face names.
//! * [`Tokenizer`] / [`Batch`]: tokenise words of a document (byte spans), compute casing classes
//!   from offsets into the original text, and pad batches.
//! * [`TaggerHead`]: word-level tagging on the encoder output. [`WordPositions`] gathers each
//!   word's first subword, a linear layer scores the tags of a [`byline_core::TagSet`], and a
//!   linear-chain [`Crf`] (or a per-word softmax, [`DecoderKind`]) gives the loss over a
//!   [`TagBatch`]; decoding is Viterbi over a [`Chain`] that never emits a tag sequence the
//!   scheme forbids, with per-word marginal probabilities as confidences.
//! * [`Tagger`]: the encoder with named heads (entities, attribution roles). Documents are cut
//!   into overlapping windows of packed sentences ([`features`]); training examples are windows
//!   with gold tags; prediction takes each word from the window where it sits most centrally.
//!   Saved as a Hugging Face-readable directory plus `byline.json`.
//!
//! ```no_run
//! use byline_model::{Batch, LoadOptions, Pretrained, Tokenizer};
//! # fn main() -> byline_model::Result<()> {
//! let dir = std::path::Path::new("shared/models/all-minilm-l6-v2");
//! let model = Pretrained::load(dir, &LoadOptions::default())?;
//! let tok = Tokenizer::from_file(dir.join("tokenizer.json"))?;
//! let enc = tok.encode_text("Angela Merkel visited Paris.")?;
//! let batch = Batch::new(&[&enc], tok.pad_id(), 512, &candle_core::Device::Cpu)?;
//! let hidden = model.encoder.forward(&batch.input_ids, &batch.casing_ids, &batch.attention_mask, false)?;
//! assert_eq!(hidden.dims3()?.2, 384); // (batch, seq, hidden)
//! # Ok(()) }
//! ```

pub mod attention;
pub mod batch;
pub mod casing;
pub mod chain;
pub mod config;
pub mod crf;
pub mod embeddings;
pub mod encoder;
pub mod error;
pub mod families;
pub mod family;
pub mod features;
#[cfg(any(test, feature = "testing"))]
pub mod fixtures;
pub mod gather;
pub mod head;
pub mod hf_export;
pub mod kernels;
pub mod linear;
pub mod linker;
pub mod loss;
pub mod spm;
pub mod tag_batch;
pub mod tagger;
#[cfg(test)]
mod tagging_tests;
#[cfg(test)]
mod testing;
pub mod token_classifier;
pub mod tokenize;
pub mod weights;

pub use batch::Batch;
pub use casing::{Casing, Shape};
pub use chain::{Chain, Decoded};
pub use config::{Config, HiddenAct};
pub use crf::Crf;
pub use encoder::Encoder;
pub use error::{Error, Result};
pub use family::Family;
pub use features::{DocumentInput, TagExample, WindowConfig};
pub use gather::WordPositions;
pub use head::{Decoder, DecoderKind, HeadConfig, TaggerHead};
pub use kernels::layer_norm::LayerNorm;
pub use kernels::quant::{Q8Linear, Quantization};
pub use linker::{Linker, LinkerConfig, WordVectors};
pub use tag_batch::TagBatch;
pub use tagger::{
    average_models, Annotated, Averaged, HeadKind, HeadSpec, Heads, TagTrainBatch, Tagger,
    TaggerConfig, WordPredictions,
};
pub use token_classifier::{ModelKind, TextInput, TokenClassifier};
pub use tokenize::{Encoding, Tokenizer};
pub use weights::{LoadOptions, ParamStore, Pretrained};
