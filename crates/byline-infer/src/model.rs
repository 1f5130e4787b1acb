//! The models byline tags with: its own ([`Tagger`], a directory with `byline.json`), or a plain
//! Hugging Face token-classification checkpoint ([`TokenClassifier`]) whose subwords are fused
//! into entities like transformers' pipeline ([`Aggregation`]).

use std::path::Path;

use byline_core::aggregate::Aggregation;
use byline_model::{LoadOptions, ModelKind, Quantization, Tagger, TokenClassifier};

use crate::error::Result;

/// The window size `--batch-size` counts in: byline's own models' windows (254 subwords plus
/// `[CLS]` and `[SEP]`).
pub const WINDOW_UNIT: usize = 256;

/// A plain token-classification checkpoint and how its subwords are fused.
#[derive(Debug, Clone)]
pub struct PlainModel {
    pub classifier: TokenClassifier,
    pub aggregation: Aggregation,
}

/// A loaded model.
#[derive(Debug, Clone)]
pub enum Model {
    Tagger(Tagger),
    Plain(PlainModel),
}

impl From<Tagger> for Model {
    fn from(t: Tagger) -> Self {
        Model::Tagger(t)
    }
}

impl Model {
    /// Loads the model directory `dir` for inference: byline's own when it has `byline.json`,
    /// else a plain token-classification checkpoint (tagged with `aggregation`).
    pub fn load(dir: &Path, opts: &LoadOptions, aggregation: Aggregation) -> Result<Model> {
        Ok(match ModelKind::of_dir(dir)? {
            ModelKind::Byline => Model::Tagger(Tagger::load(dir, opts)?.detached()?),
            ModelKind::TokenClassification => Model::Plain(PlainModel {
                classifier: TokenClassifier::load(dir, opts)?,
                aggregation,
            }),
        })
    }

    /// An inference copy whose encoder computes in `q`.
    pub fn quantized(&self, q: Quantization) -> Result<Model> {
        Ok(match self {
            Model::Tagger(t) => Model::Tagger(t.quantized(q)?),
            Model::Plain(p) => Model::Plain(PlainModel {
                classifier: p.classifier.quantized(q)?,
                aggregation: p.aggregation,
            }),
        })
    }

    /// Sets the padded subwords per prediction batch to `windows` full windows (of at most
    /// [`WINDOW_UNIT`] subwords, special tokens included).
    pub fn set_batch_windows(&mut self, windows: usize) {
        let windows = windows.max(1);
        match self {
            Model::Tagger(t) => {
                let window = t.spec().window.max_subwords + 2;
                t.set_predict_batch_tokens(windows * window);
            }
            Model::Plain(p) => {
                // Counted in windows of 256 subwords, byline's own, whatever the checkpoint's
                // window: a batch of 32 windows of 512 (16,384 padded subwords) ran 20 % slower
                // than one of 8,192 on ELECTRA-small and DistilBERT-base, its activations out
                // of cache, and took twice the memory.
                let (front, back) = p.classifier.special_tokens();
                let window = p.classifier.window_subwords() + front.len() + back.len();
                p.classifier
                    .set_predict_batch_tokens(windows * window.min(WINDOW_UNIT));
            }
        }
    }

    /// A few words on what the model is, for logs.
    pub fn describe(&self) -> String {
        match self {
            Model::Tagger(t) => format!(
                "byline tagger ({})",
                t.spec()
                    .heads
                    .iter()
                    .map(|h| h.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Model::Plain(p) => format!(
                "{} checkpoint, labels {:?}, aggregation {}",
                p.classifier.family().token_classification(),
                p.classifier.labels(),
                p.aggregation
            ),
        }
    }
}
