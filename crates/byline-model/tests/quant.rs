//! The int8 encoder (`Encoder::quantize(Quantization::Q8)`) against the f32 one: on a tiny random
//! model (offline, fast) and on the real MiniLM checkpoint (skipped when `shared/` is absent).

use std::path::Path;

use byline_core::tokenize::tokenize_document;
use byline_core::{Document, Scheme};
use byline_model::Result;
use byline_model::{
    Batch, Casing, Config, DecoderKind, Encoder, HeadSpec, LoadOptions, Pretrained, Quantization,
    Tagger, TaggerConfig, Tokenizer, WindowConfig,
};
use candle_core::{DType, Device, Tensor};

/// Cosine similarity of each position's hidden state: (batch, seq, hidden) -> (batch, seq).
fn cosines(a: &Tensor, b: &Tensor) -> Result<Vec<Vec<f32>>> {
    let dot = (a * b)?.sum(2)?;
    let norms = (a.sqr()?.sum(2)?.sqrt()? * b.sqr()?.sum(2)?.sqrt()?)?;
    Ok((dot / norms)?.to_vec2::<f32>()?)
}

/// Random (ids, casing, mask) of shape (batch, seq) for the tiny vocabulary; the second sequence
/// is padded after 3 tokens.
fn random_batch(batch: usize, seq: usize) -> Result<(Tensor, Tensor, Tensor)> {
    let dev = Device::Cpu;
    let ids = Tensor::rand(1f32, 99.0, (batch, seq), &dev)?.to_dtype(DType::U32)?;
    let casing =
        Tensor::rand(0f32, (Casing::COUNT - 1) as f32, (batch, seq), &dev)?.to_dtype(DType::U32)?;
    let mask: Vec<u32> = (0..batch * seq)
        .map(|i| u32::from(i / seq != 1 || i % seq < 3))
        .collect();
    let mask = Tensor::from_vec(mask, (batch, seq), &dev)?;
    Ok((ids, casing, mask))
}

#[test]
fn tiny_q8_encoder_is_close_to_f32() -> Result<()> {
    let model = Pretrained::random(&Config::tiny(), &LoadOptions::default())?;
    let q8 = model.encoder.quantize(Quantization::Q8)?;
    assert_eq!(q8.quantization(), Quantization::Q8);
    let (ids, casing, mask) = random_batch(3, 11)?;
    let f = model.encoder.forward(&ids, &casing, &mask, false)?;
    let q = q8.forward(&ids, &casing, &mask, false)?;
    assert_eq!(f.dims(), q.dims());
    for (b, row) in cosines(&f, &q)?.iter().enumerate() {
        for (s, c) in row.iter().enumerate() {
            assert!(*c > 0.99, "sequence {b}, position {s}: cosine {c}");
        }
    }
    Ok(())
}

#[test]
fn a_quantized_encoder_refuses_to_train() -> Result<()> {
    let model = Pretrained::random(&Config::tiny(), &LoadOptions::default())?;
    let (ids, casing, mask) = random_batch(2, 5)?;
    let q8 = model.encoder.quantize(Quantization::Q8)?;
    let Err(err) = q8.forward(&ids, &casing, &mask, true) else {
        panic!("a q8 encoder trained")
    };
    assert!(err.to_string().contains("inference only"), "{err}");
    // Back to f32: trains again, and gives the f32 encoder's output.
    let back: Encoder = q8.quantize(Quantization::None)?;
    assert_eq!(back.quantization(), Quantization::None);
    back.forward(&ids, &casing, &mask, true)?;
    let diff = (back.forward(&ids, &casing, &mask, false)?
        - model.encoder.forward(&ids, &casing, &mask, false)?)?
    .abs()?
    .flatten_all()?
    .max(0)?
    .to_scalar::<f32>()?;
    assert_eq!(diff, 0.0);
    Ok(())
}

#[test]
fn a_quantized_tagger_predicts_like_the_f32_one_and_refuses_to_train() -> Result<()> {
    let vocab = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "merkel", "met", "the", "in", "berlin", ".",
    ];
    let config = Config {
        vocab_size: vocab.len(),
        ..Config::tiny()
    };
    let spec = TaggerConfig {
        heads: vec![HeadSpec::entities(
            "entities",
            Scheme::Iob2,
            &["LOC", "PER"],
            DecoderKind::Softmax,
        )],
        window: WindowConfig {
            max_subwords: 8,
            overlap: 2,
        },
        casing: true,
        linker: None,
    };
    let pretrained = Pretrained::random(&config, &LoadOptions::default())?;
    let tagger = Tagger::new(pretrained, Tokenizer::from_vocab(&vocab)?, spec)?;
    let q8 = tagger.quantized(Quantization::Q8)?;
    let text = "Merkel met the Merkel in Berlin . Berlin met Merkel .";
    let mut doc = Document::new("d", text);
    tokenize_document(&mut doc);
    let (examples, _) = tagger.examples(0, std::slice::from_ref(&doc))?;
    let refs: Vec<_> = examples.iter().collect();
    let batch = tagger.collate(0, &refs)?;
    let (f, q) = (
        tagger.encode(&batch.batch, false)?,
        q8.encode(&batch.batch, false)?,
    );
    assert_eq!(f.dims(), q.dims());
    let min = cosines(&f, &q)?
        .iter()
        .flatten()
        .fold(1f32, |m, &c| m.min(c));
    assert!(min > 0.99, "min cosine {min}");
    assert!(q8.loss(&batch, true).is_err());
    let (pf, pq) = (
        tagger.predict(std::slice::from_ref(&doc), "entities")?,
        q8.predict(std::slice::from_ref(&doc), "entities")?,
    );
    assert_eq!(pf.len(), 1);
    assert_eq!(pf[0].tags.len(), doc.tokens.len());
    assert_eq!(pq[0].tags.len(), pf[0].tags.len());
    Ok(())
}

#[test]
fn golden_minilm_q8_hidden_states_are_close_to_f32() -> Result<()> {
    let start = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(dir) = byline_core::shared::path_from(start, "models/all-minilm-l6-v2") else {
        eprintln!("skipping: no shared/models/all-minilm-l6-v2 (set BYLINE_SHARED)");
        return Ok(());
    };
    let model = Pretrained::load(&dir, &LoadOptions::default())?;
    let tok = Tokenizer::from_file(dir.join("tokenizer.json"))?;
    let texts = [
        "Barack Obama met Angela Merkel in Berlin on Tuesday, a spokesman for the U.N. said.",
        "\"We will not accept this,\" the minister told reporters in Brussels.",
        "SOCCER - JAPAN GET LUCKY WIN , CHINA IN SURPRISE DEFEAT .",
        "Shares of Apple Inc. rose 3 percent after the company said iPhone sales beat forecasts.",
    ];
    let encs = texts
        .iter()
        .map(|t| tok.encode_text(t))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<_> = encs.iter().collect();
    let batch = Batch::new(
        &refs,
        tok.pad_id(),
        model.config.max_position_embeddings,
        &Device::Cpu,
    )?;
    let q8 = model.encoder.quantize(Quantization::Q8)?;
    let run = |enc: &Encoder| -> Result<Tensor> {
        Ok(enc.forward(
            &batch.input_ids,
            &batch.casing_ids,
            &batch.attention_mask,
            false,
        )?)
    };
    let cos = cosines(&run(&model.encoder)?, &run(&q8)?)?;
    let real: Vec<f32> = cos
        .iter()
        .zip(&encs)
        .flat_map(|(row, enc)| row[..enc.len()].iter().copied())
        .collect();
    let mean = real.iter().sum::<f32>() / real.len() as f32;
    let min = real.iter().fold(1f32, |m, &c| m.min(c));
    eprintln!(
        "q8 vs f32 on {} tokens: cosine mean {mean:.5}, min {min:.5}",
        real.len()
    );
    assert!(mean > 0.995, "mean cosine {mean}");
    assert!(min > 0.98, "min cosine {min}");
    Ok(())
}
