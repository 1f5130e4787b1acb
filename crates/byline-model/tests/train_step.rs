//! One training step of every encoder family against PyTorch's on the same weights and batch:
//! the loss and the gradient of every parameter, through byline's fused kernels and their
//! hand-written backward passes. Goldens: `scripts/fixtures/make_train_step_goldens.py` writes
//! `train_step.safetensors` beside each tiny checkpoint of `tests/fixtures/hf/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use byline_model::kernels::check::composed_ops;
use byline_model::linear::Linear;
use byline_model::{Casing, Family, LoadOptions, Pretrained};
use candle_core::{DType, Device, Tensor, Var};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hf")
}

const CHECKPOINTS: [(&str, Family); 8] = [
    ("tiny-bert-bio", Family::Bert),
    ("tiny-distilbert-bio", Family::DistilBert),
    ("tiny-roberta-bio", Family::Roberta),
    ("tiny-xlm-roberta-bio", Family::XlmRoberta),
    ("tiny-electra-bio", Family::Electra),
    // Without its prediction head (see make_train_step_goldens.py): byline fine-tunes the
    // encoder with heads of its own.
    ("tiny-modernbert-bio", Family::ModernBert),
    ("tiny-deberta-v3-bio", Family::DebertaV2),
    ("tiny-deberta-v2-bio", Family::DebertaV2),
];

/// Largest |a - b| over the largest |b| (at least 1e-3): a scale-free difference.
fn relative_difference(a: &Tensor, b: &Tensor) -> f32 {
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1e-3f32, |m, x| m.max(x.abs()));
    let worst = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    worst / scale
}

/// One step against PyTorch's goldens; returns every gradient by transformers' name.
fn step(name: &str, family: Family) -> HashMap<String, Tensor> {
    let dir = fixtures().join(name);
    let golden = candle_core::safetensors::load(dir.join("train_step.safetensors"), &Device::Cpu)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let (pretrained, checkpoint) = Pretrained::load_with(&dir, &LoadOptions::default(), |n| {
        n.starts_with("classifier.")
    })
    .unwrap();
    let weight = Var::from_tensor(&checkpoint.kept["classifier.weight"]).unwrap();
    let bias = Var::from_tensor(&checkpoint.kept["classifier.bias"]).unwrap();
    let classifier = Linear::new(weight.as_tensor().clone(), bias.as_tensor().clone());

    let ids = golden["input_ids"].to_dtype(DType::U32).unwrap();
    let mask = &golden["attention_mask"];
    let labels = golden["labels"]
        .flatten_all()
        .unwrap()
        .to_vec1::<i64>()
        .unwrap();
    let casing = Tensor::full(Casing::Special.id(), ids.shape(), &Device::Cpu).unwrap();

    // Dropout off (train = false) as in PyTorch's eval mode; the graph is recorded either way.
    let hidden = pretrained
        .encoder
        .forward(&ids, &casing, mask, false)
        .unwrap(); // (batch, seq, hidden)
    let logits = classifier.forward(&hidden).unwrap(); // (batch, seq, labels)
    let n_labels = logits.dim(2).unwrap();
    let logits = logits.reshape(((), n_labels)).unwrap();
    let keep: Vec<u32> = (0..labels.len() as u32)
        .filter(|&i| labels[i as usize] >= 0)
        .collect();
    let targets: Vec<u32> = keep.iter().map(|&i| labels[i as usize] as u32).collect();
    let rows = logits
        .index_select(&Tensor::new(keep.as_slice(), &Device::Cpu).unwrap(), 0)
        .unwrap();
    let loss = candle_nn::loss::cross_entropy(
        &rows,
        &Tensor::new(targets.as_slice(), &Device::Cpu).unwrap(),
    )
    .unwrap();
    let want = golden["loss"].to_vec1::<f32>().unwrap()[0];
    let got = loss.to_scalar::<f32>().unwrap();
    assert!(
        (got - want).abs() <= 1e-4 * want.abs().max(1.0),
        "{name}: loss {got}, PyTorch {want}"
    );

    let grads = loss.backward().unwrap();
    let vars: HashMap<String, Tensor> = pretrained
        .params
        .varmap()
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    let mut checked = 0;
    let mut worst = (0f32, String::new());
    let mut all = HashMap::new();
    for (key, want) in &golden {
        let Some(hf_name) = key.strip_prefix("grad.") else {
            continue;
        };
        let got = match hf_name {
            "classifier.weight" => grads.get(weight.as_tensor()),
            "classifier.bias" => grads.get(bias.as_tensor()),
            _ => {
                let byline_name = family
                    .encoder_name(hf_name)
                    .unwrap_or_else(|| panic!("{name}: {hf_name} is not an encoder weight"));
                let var = vars
                    .get(&byline_name)
                    .unwrap_or_else(|| panic!("{name}: no variable {byline_name} ({hf_name})"));
                grads.get(var)
            }
        };
        let got = got.unwrap_or_else(|| panic!("{name}: no gradient reached {hf_name}"));
        assert_eq!(got.dims(), want.dims(), "{name}: {hf_name}");
        all.insert(hf_name.to_string(), got.clone());
        let d = relative_difference(got, want);
        if d > worst.0 {
            worst = (d, hf_name.to_string());
        }
        assert!(
            d < 1e-3,
            "{name}: gradient of {hf_name} differs from PyTorch's by {d} of its largest entry"
        );
        checked += 1;
    }
    let expected = golden.keys().filter(|k| k.starts_with("grad.")).count();
    assert!(checked == expected && checked > 20, "{name}: {checked}");
    println!(
        "{name}: loss {got} (PyTorch {want}); {checked} gradients, largest relative difference {:.2e} ({})",
        worst.0, worst.1
    );
    all
}

#[test]
fn a_training_step_matches_pytorch_for_every_family() {
    for (name, family) in CHECKPOINTS {
        step(name, family);
    }
}

#[test]
fn the_composed_path_of_gpus_matches_pytorch_and_the_fused_kernels() {
    // On CUDA (and in bf16) every kernel falls back to candle's composed, differentiable ops.
    // Forced here on the CPU: the same step through that path, against PyTorch and against
    // the fused CPU kernels with their hand-written backward passes.
    for (name, family) in CHECKPOINTS {
        let fused = step(name, family);
        let composed = composed_ops(|| step(name, family));
        let mut worst = (0f32, "");
        for (param, g) in &fused {
            // Relative to the tensor's largest entry (at least 1e-3): a key bias, whose true
            // gradient is zero, carries rounding noise only.
            let d = relative_difference(&composed[param], g);
            assert!(
                d < 1e-3,
                "{name}: {param}: composed and fused differ by {d}"
            );
            if d > worst.0 {
                worst = (d, param);
            }
        }
        println!(
            "{name}: composed vs fused, largest difference {:.2e} ({})",
            worst.0, worst.1
        );
    }
}
