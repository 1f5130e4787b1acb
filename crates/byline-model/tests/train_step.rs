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

const CHECKPOINTS: [(&str, Family); 9] = [
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
    ("tiny-deberta-v2-conv-bio", Family::DebertaV2),
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

/// Loss and gradients (by byline's name) of one step with the encoder computing in `compute`
/// over its f32 weights.
fn mixed_step(name: &str, compute: Option<DType>) -> (f32, HashMap<String, Tensor>) {
    let dir = fixtures().join(name);
    let golden =
        candle_core::safetensors::load(dir.join("train_step.safetensors"), &Device::Cpu).unwrap();
    let (pretrained, checkpoint) = Pretrained::load_with(&dir, &LoadOptions::default(), |n| {
        n.starts_with("classifier.")
    })
    .unwrap();
    let encoder = pretrained.encoder.with_compute_dtype(compute);
    let classifier = Linear::new(
        checkpoint.kept["classifier.weight"].clone(),
        checkpoint.kept["classifier.bias"].clone(),
    );
    let ids = golden["input_ids"].to_dtype(DType::U32).unwrap();
    let casing = Tensor::full(Casing::Special.id(), ids.shape(), &Device::Cpu).unwrap();
    let hidden = encoder
        .forward(&ids, &casing, &golden["attention_mask"], false)
        .unwrap();
    assert_eq!(
        hidden.dtype(),
        DType::F32,
        "{name}: the encoder's output is f32"
    );
    let logits = classifier.forward(&hidden).unwrap();
    let n = logits.dim(2).unwrap();
    let labels = golden["labels"]
        .flatten_all()
        .unwrap()
        .to_vec1::<i64>()
        .unwrap();
    let keep: Vec<u32> = (0..labels.len() as u32)
        .filter(|&i| labels[i as usize] >= 0)
        .collect();
    let targets: Vec<u32> = keep.iter().map(|&i| labels[i as usize] as u32).collect();
    let rows = logits
        .reshape(((), n))
        .unwrap()
        .index_select(&Tensor::new(keep.as_slice(), &Device::Cpu).unwrap(), 0)
        .unwrap();
    let loss = candle_nn::loss::cross_entropy(
        &rows,
        &Tensor::new(targets.as_slice(), &Device::Cpu).unwrap(),
    )
    .unwrap();
    let grads = loss.backward().unwrap();
    let vars = pretrained.params.varmap().data().lock().unwrap().clone();
    let mut out = HashMap::new();
    for (name, var) in vars {
        assert_eq!(var.dtype(), DType::F32, "{name}: master weights stay f32");
        if let Some(g) = grads.get(var.as_tensor()) {
            assert_eq!(
                g.dtype(),
                DType::F32,
                "{name}: gradients reach the f32 weights"
            );
            out.insert(name, g.clone());
        }
    }
    (loss.to_scalar::<f32>().unwrap(), out)
}

#[test]
fn bf16_mixed_precision_follows_f32_for_every_family() {
    // bf16 keeps 8 bits of mantissa: the loss within 2 % of f32's, every gradient within 20 %
    // of its tensor's largest entry (most within 6 %), none missing.
    for (name, _) in CHECKPOINTS {
        let (loss32, g32) = mixed_step(name, None);
        let (loss16, g16) = mixed_step(name, Some(DType::BF16));
        assert!(
            (loss16 - loss32).abs() <= 0.02 * loss32.abs(),
            "{name}: bf16 loss {loss16}, f32 {loss32}"
        );
        assert_eq!(g16.len(), g32.len(), "{name}: gradients reached");
        // A key bias's true gradient is zero (softmax ignores a constant shift): its f32
        // gradient is rounding noise. Tensors with gradients below 1 % of the step's largest
        // entry are measured against that 1 % instead of their own largest entry.
        let largest = |t: &Tensor| {
            t.abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        let global = g32.values().map(largest).fold(0f32, f32::max);
        let mut worst = (0f32, String::new());
        for (param, g) in &g32 {
            let diff = largest(&(&g16[param] - g).unwrap());
            let d = diff / largest(g).max(1e-2 * global);
            if d > worst.0 {
                worst = (d, param.clone());
            }
        }
        assert!(worst.0 < 0.2, "{name}: {} differs by {}", worst.1, worst.0);
        println!(
            "{name}: bf16 loss {loss16} (f32 {loss32}); largest gradient difference {:.2e} ({})",
            worst.0, worst.1
        );
    }
}
