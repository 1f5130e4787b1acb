//! Test fixtures for the crates above this one (feature `testing`): a tiny random tagger whose
//! entity head is forced to tag every word `B-PER`, so that each word comes out as one entity
//! whatever the random encoder computes. The attribution head stays random.

use byline_core::Scheme;
use candle_core::{Device, Tensor};

use crate::{
    Config, DecoderKind, HeadSpec, LoadOptions, Pretrained, Result, Tagger, TaggerConfig,
    Tokenizer, WindowConfig,
};

/// The fixture's WordPiece vocabulary (lower-cased; other words are `[UNK]`).
pub const VOCAB: &[&str] = &[
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "mer",
    "##kel",
    "met",
    "the",
    "in",
    "berlin",
    ".",
    ",",
    "said",
    "officials",
    "\"",
    "we",
    "will",
    "win",
];

/// `B-PER` in IOB2 over LOC, MISC, ORG, PER: O, then B-/I- of each label.
pub const B_PER: usize = 7;

/// The forced tagger: a tiny encoder, an `entities` head (IOB2, softmax decoder) that always
/// says `B-PER`, an `attributions` head (IOB2, CRF), windows of 24 subwords sharing 6.
pub fn forced_tagger() -> Result<Tagger> {
    let config = Config {
        vocab_size: VOCAB.len(),
        ..Config::tiny()
    };
    let spec = TaggerConfig {
        heads: vec![
            HeadSpec::entities(
                "entities",
                Scheme::Iob2,
                &["LOC", "MISC", "ORG", "PER"],
                DecoderKind::Softmax,
            ),
            HeadSpec::attributions("attributions", Scheme::Iob2, DecoderKind::Crf),
        ],
        window: WindowConfig {
            max_subwords: 24,
            overlap: 6,
        },
        casing: true,
        linker: None,
    };
    let pretrained = Pretrained::random(&config, &LoadOptions::default())?;
    let tagger = Tagger::new(pretrained, Tokenizer::from_vocab(VOCAB)?, spec)?;
    for (name, var, _) in tagger.trainable() {
        if name == "heads.entities.classifier.weight" {
            var.set(&var.zeros_like()?)?;
        } else if name == "heads.entities.classifier.bias" {
            let mut bias = vec![0f32; var.dims()[0]];
            bias[B_PER] = 20.0;
            var.set(&Tensor::new(bias, &Device::Cpu)?)?;
        }
    }
    Ok(tagger)
}

/// [`forced_tagger`] saved as a model directory `dir/model`, for tests of the command line.
pub fn forced_model_dir(dir: &std::path::Path) -> Result<std::path::PathBuf> {
    let model = dir.join("model");
    forced_tagger()?.save(&model)?;
    Ok(model)
}
