//! Encoder behaviour on tiny random models (offline, fast) and one golden check against the real
//! MiniLM checkpoint (skipped when `shared/` is absent).

use std::path::PathBuf;

use byline_model::{Batch, Casing, Config, Encoder, LoadOptions, Pretrained, Tokenizer};
use candle_core::{DType, Device, Result, Tensor, D};

fn tiny(opts: &LoadOptions) -> Pretrained {
    Pretrained::random(&Config::tiny(), opts).expect("tiny model builds")
}

/// Random (ids, casing) of `len` tokens for the tiny vocabulary.
fn random_sequence(len: usize) -> Result<(Tensor, Tensor)> {
    let ids = Tensor::rand(1f32, 99.0, len, &Device::Cpu)?.to_dtype(DType::U32)?;
    let casing =
        Tensor::rand(0f32, (Casing::COUNT - 1) as f32, len, &Device::Cpu)?.to_dtype(DType::U32)?;
    Ok((ids, casing))
}

fn forward_one(enc: &Encoder, ids: &Tensor, casing: &Tensor, train: bool) -> Result<Tensor> {
    let ids = ids.unsqueeze(0)?;
    let mask = ids.ones_like()?;
    enc.forward(&ids, &casing.unsqueeze(0)?, &mask, train)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
    (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()
}

fn set_casing_random(model: &Pretrained) -> Result<()> {
    let table = Tensor::randn(0f32, 0.5, (Casing::COUNT, 32), &Device::Cpu)?;
    model
        .params
        .varmap()
        .clone()
        .set_one(byline_model::embeddings::CASING_EMBEDDINGS, &table)
}

#[test]
fn every_parameter_gets_a_gradient() -> Result<()> {
    let model = tiny(&LoadOptions::default());
    set_casing_random(&model)?;
    let (ids, casing) = random_sequence(2 * 7)?;
    let ids = ids.reshape((2, 7))?;
    let casing = casing.reshape((2, 7))?;
    let hidden = model
        .encoder
        .forward(&ids, &casing, &ids.ones_like()?, true)?; // (2, 7, 32)
    let probe = Tensor::randn(0f32, 1.0, hidden.shape(), &Device::Cpu)?;
    let grads = hidden.mul(&probe)?.sum_all()?.backward()?;
    let data = model
        .params
        .varmap()
        .data()
        .lock()
        .expect("varmap lock")
        .clone();
    assert_eq!(
        data.len(),
        6 + 2 * 16,
        "4 tables + LayerNorm in the embeddings, 16 per layer"
    );
    for (name, var) in data {
        let g = grads
            .get(&var)
            .unwrap_or_else(|| panic!("no gradient reaches {name}"));
        let norm = g.abs()?.sum_all()?.to_scalar::<f32>()?;
        assert!(
            norm > 0.0 && norm.is_finite(),
            "{name}: gradient norm {norm}"
        );
    }
    Ok(())
}

#[test]
fn frozen_word_embeddings_get_no_variable() -> Result<()> {
    let opts = LoadOptions {
        freeze_word_embeddings: true,
        ..LoadOptions::default()
    };
    let model = tiny(&opts);
    let names: Vec<String> = model
        .params
        .varmap()
        .data()
        .lock()
        .expect("lock")
        .keys()
        .cloned()
        .collect();
    assert!(!names
        .iter()
        .any(|n| n == byline_model::embeddings::WORD_EMBEDDINGS));
    assert!(names
        .iter()
        .any(|n| n == byline_model::embeddings::CASING_EMBEDDINGS));
    let (trainable, frozen) = model.params.counts();
    assert_eq!(frozen, 100 * 32);
    assert!(trainable > 0);
    let (ids, casing) = random_sequence(6)?;
    let hidden = forward_one(&model.encoder, &ids, &casing, true)?;
    let grads = hidden.sum_all()?.backward()?;
    let query = model.params.varmap().data().lock().expect("lock")
        ["encoder.layer.0.attention.self.query.weight"]
        .clone();
    assert!(grads.get(&query).is_some());
    Ok(())
}

#[test]
fn padding_does_not_change_real_tokens() -> Result<()> {
    let model = tiny(&LoadOptions::default());
    set_casing_random(&model)?;
    let (short_ids, short_casing) = random_sequence(5)?;
    let (long_ids, long_casing) = random_sequence(9)?;
    let pad = |t: &Tensor| t.pad_with_zeros(0, 0, 4);
    let ids = Tensor::stack(&[pad(&short_ids)?, long_ids.clone()], 0)?; // (2, 9)
    let casing = Tensor::stack(&[pad(&short_casing)?, long_casing.clone()], 0)?;
    let mask = Tensor::stack(&[pad(&short_ids.ones_like()?)?, long_ids.ones_like()?], 0)?;
    let batched = model.encoder.forward(&ids, &casing, &mask, false)?; // (2, 9, 32)
    let short_alone = forward_one(&model.encoder, &short_ids, &short_casing, false)?;
    let long_alone = forward_one(&model.encoder, &long_ids, &long_casing, false)?;
    assert!(max_abs_diff(&batched.narrow(0, 0, 1)?.narrow(1, 0, 5)?, &short_alone)? < 1e-5);
    assert!(max_abs_diff(&batched.narrow(0, 1, 1)?, &long_alone)? < 1e-5);
    Ok(())
}

#[test]
fn dropout_only_in_training() -> Result<()> {
    let model = tiny(&LoadOptions::default());
    let (ids, casing) = random_sequence(8)?;
    let eval = [
        forward_one(&model.encoder, &ids, &casing, false)?,
        forward_one(&model.encoder, &ids, &casing, false)?,
    ];
    assert_eq!(max_abs_diff(&eval[0], &eval[1])?, 0.0);
    let train = [
        forward_one(&model.encoder, &ids, &casing, true)?,
        forward_one(&model.encoder, &ids, &casing, true)?,
    ];
    assert!(max_abs_diff(&train[0], &train[1])? > 1e-3);
    assert!(max_abs_diff(&train[0], &eval[0])? > 1e-3);
    Ok(())
}

#[test]
fn casing_table_starts_at_zero_and_changes_output_when_trained() -> Result<()> {
    let model = tiny(&LoadOptions::default());
    let (ids, casing) = random_sequence(6)?;
    let zeros = casing.zeros_like()?;
    let a = forward_one(&model.encoder, &ids, &casing, false)?;
    let b = forward_one(&model.encoder, &ids, &zeros, false)?;
    assert_eq!(max_abs_diff(&a, &b)?, 0.0, "a zero table ignores casing");
    set_casing_random(&model)?;
    let c = forward_one(&model.encoder, &ids, &casing, false)?;
    assert!(max_abs_diff(&a, &c)? > 1e-3);
    Ok(())
}

#[test]
fn save_then_load_gives_identical_outputs() -> Result<()> {
    let model = tiny(&LoadOptions::default());
    set_casing_random(&model)?;
    let dir = tempfile::tempdir().expect("temp dir");
    model.save(dir.path()).expect("save");
    let (ids, casing) = random_sequence(7)?;
    let before = forward_one(&model.encoder, &ids, &casing, false)?;
    for freeze in [false, true] {
        let opts = LoadOptions {
            freeze_word_embeddings: freeze,
            ..LoadOptions::default()
        };
        let loaded = Pretrained::load(dir.path(), &opts).expect("load");
        assert_eq!(loaded.config, model.config);
        let after = forward_one(&loaded.encoder, &ids, &casing, false)?;
        assert_eq!(max_abs_diff(&before, &after)?, 0.0, "freeze = {freeze}");
    }
    Ok(())
}

#[test]
fn loading_reports_missing_weights_with_path() {
    let model = tiny(&LoadOptions::default());
    let dir = tempfile::tempdir().expect("temp dir");
    model.save(dir.path()).expect("save");
    let mut tensors = model.params.tensors();
    tensors.remove("encoder.layer.1.output.dense.bias");
    let file = dir.path().join("model.safetensors");
    candle_core::safetensors::save(&tensors, &file).expect("rewrite");
    let err = Pretrained::load(dir.path(), &LoadOptions::default()).expect_err("must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("model.safetensors") && msg.contains("encoder.layer.1.output.dense.bias"),
        "{msg}"
    );
    let empty = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        dir.path().join("config.json"),
        empty.path().join("config.json"),
    )
    .expect("copy");
    let err = Pretrained::load(empty.path(), &LoadOptions::default()).expect_err("no checkpoint");
    assert!(
        matches!(err, byline_model::Error::NoCheckpoint { .. }),
        "{err}"
    );
}

#[test]
fn too_long_sequences_are_an_error() -> Result<()> {
    let model = tiny(&LoadOptions::default());
    let (ids, casing) = random_sequence(65)?; // tiny has 64 positions
    assert!(forward_one(&model.encoder, &ids, &casing, false).is_err());
    Ok(())
}

/// `shared/` from BYLINE_SHARED, or walking up from the crate to a directory holding it.
fn shared_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("BYLINE_SHARED") {
        return Some(PathBuf::from(dir));
    }
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        for candidate in [dir.join("shared"), dir.join("..").join("shared")] {
            if candidate.join("models").is_dir() {
                return Some(candidate);
            }
        }
        if !dir.pop() {
            return None;
        }
    }
}

#[test]
fn golden_minilm_hidden_states() -> byline_model::Result<()> {
    let Some(shared) = shared_dir() else {
        eprintln!("skipping: no shared/ directory with models (set BYLINE_SHARED)");
        return Ok(());
    };
    let dir = shared.join("models").join("all-minilm-l6-v2");
    if !dir.join("model.safetensors").is_file() {
        eprintln!("skipping: {} has no model.safetensors", dir.display());
        return Ok(());
    }
    let model = Pretrained::load(&dir, &LoadOptions::default())?;
    let tok = Tokenizer::from_file(dir.join("tokenizer.json"))?;
    let text =
        "Barack Obama met Angela Merkel in Berlin on Tuesday, a spokesman for the U.N. said.";
    let enc = tok.encode_text(text)?;
    assert_eq!(enc.len(), 23);
    let batch = Batch::new(
        &[&enc],
        tok.pad_id(),
        model.config.max_position_embeddings,
        &Device::Cpu,
    )?;
    let hidden = model.encoder.forward(
        &batch.input_ids,
        &batch.casing_ids,
        &batch.attention_mask,
        false,
    )?;
    assert_eq!(hidden.dims3()?, (1, 23, 384));
    let golden: [[f32; 5]; 3] = [
        [0.484675, 0.499397, 0.298228, 0.360246, -0.167376],
        [-0.186925, 0.616504, 0.191621, 0.157822, -0.732054],
        [0.455790, 1.079801, 0.411080, 0.820044, -1.098269],
    ];
    for (pos, expect) in golden.iter().enumerate() {
        let got = hidden
            .get(0)?
            .get(pos)?
            .narrow(D::Minus1, 0, 5)?
            .to_vec1::<f32>()?;
        for (g, e) in got.iter().zip(expect) {
            assert!(
                (g - e).abs() < 1e-4,
                "hidden[0, {pos}] = {got:?}, expected {expect:?}"
            );
        }
    }
    Ok(())
}
