//! Times the encoder's four GEMM shapes in f32 (candle, `gemm` crate), candle's own Q8_0
//! quantized matmul and byline's int8 [`Q8Linear`], then (with a model directory) the whole
//! encoder forward in f32 and q8.
//!
//! ```text
//! RAYON_NUM_THREADS=2 CANDLE_BARRIER_POOL_SPIN_LIMIT=64 \
//!     cargo run --release -p byline-model --example q8_speed -- [ROWS] [ROUNDS] [MODEL_DIR] [BATCH] [SEQ]
//! ```
//! Variants are interleaved round by round (the host is shared); each figure is the median.

use std::path::PathBuf;
use std::time::Instant;

use byline_model::kernels::quant::kernel_name;
use byline_model::{Casing, LoadOptions, Pretrained, Q8Linear, Quantization};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};

fn arg<T: std::str::FromStr>(n: usize, default: T) -> T {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn time(f: &mut dyn FnMut() -> candle_core::Result<Tensor>) -> candle_core::Result<f64> {
    let t = Instant::now();
    drop(f()?);
    Ok(t.elapsed().as_secs_f64())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (rows, rounds): (usize, usize) = (arg(1, 4096), arg(2, 7));
    let dev = Device::Cpu;
    eprintln!(
        "rows {rows} | {rounds} rounds | rayon threads {} | q8 kernel {}",
        rayon::current_num_threads(),
        kernel_name()
    );
    println!(
        "{:<22} {:>9} {:>9} {:>9} {:>9} {:>9}  {:>7}",
        "shape (rows,k)x(k,n)", "f32", "Q8_0", "byline q8", "Q8_0 x", "q8 x", "rel err"
    );
    for (k, n) in [(384, 1152), (384, 384), (384, 1536), (1536, 384)] {
        let x = Tensor::randn(0f32, 1.0, (rows, k), &dev)?;
        let w = Tensor::randn(0f32, 0.05, (n, k), &dev)?;
        let wt = w.t()?;
        let candle_q8 = QMatMul::from_qtensor(QTensor::quantize(&w, GgmlDType::Q8_0)?)?;
        let ours = Q8Linear::new(&w, None)?;
        let mut variants: [Box<dyn FnMut() -> candle_core::Result<Tensor>>; 3] = [
            Box::new(|| x.matmul(&wt)),
            Box::new(|| candle_q8.forward(&x)),
            Box::new(|| ours.forward_no_bias(&x)),
        ];
        let mut times: [Vec<f64>; 3] = Default::default();
        for round in 0..=rounds {
            for (v, t) in variants.iter_mut().zip(times.iter_mut()) {
                let s = time(v.as_mut())?;
                if round > 0 {
                    t.push(s);
                }
            }
        }
        let exact = x.matmul(&wt)?;
        let rel = ((ours.forward_no_bias(&x)? - &exact)?
            .sqr()?
            .sum_all()?
            .to_scalar::<f32>()?
            / exact.sqr()?.sum_all()?.to_scalar::<f32>()?)
        .sqrt();
        let gflops = |s: f64| 2.0 * (rows * k * n) as f64 / s / 1e9;
        let [f, c, o] = times.map(median);
        println!(
            "({rows},{k})x({k},{n}){:<pad$} {:>9.1} {:>9.1} {:>9.1} {:>8.2}x {:>8.2}x  {:>7.4}",
            "",
            gflops(f),
            gflops(c),
            gflops(o),
            f / c,
            f / o,
            rel,
            pad = 22usize.saturating_sub(format!("({rows},{k})x({k},{n})").len()),
        );
    }
    println!("(GFLOP/s; x = speed-up over f32; rel err = ||q8 - f32|| / ||f32||)");

    let default_dir = std::env::var_os("BYLINE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared"))
        .join("models/all-minilm-l6-v2");
    let dir = std::env::args()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or(default_dir);
    if !dir.join("config.json").exists() {
        eprintln!("skipping the encoder: {} not found", dir.display());
        return Ok(());
    }
    let (batch, seq): (usize, usize) = (arg(4, 32), arg(5, 128));
    let model = Pretrained::load(&dir, &LoadOptions::default())?;
    let f32_enc = &model.encoder;
    let q8_enc = f32_enc.quantize(Quantization::Q8)?;
    let ids = Tensor::rand(1000f32, 29000.0, (batch, seq), &dev)?.to_dtype(DType::U32)?;
    let casing =
        Tensor::rand(0f32, (Casing::COUNT - 1) as f32, (batch, seq), &dev)?.to_dtype(DType::U32)?;
    let mask = ids.ones_like()?;
    let mut times: [Vec<f64>; 2] = Default::default();
    for round in 0..=rounds.min(5) {
        for (enc, t) in [f32_enc, &q8_enc].into_iter().zip(times.iter_mut()) {
            let s = time(&mut || enc.forward(&ids, &casing, &mask, false))?;
            if round > 0 {
                t.push(s);
            }
        }
    }
    let a = f32_enc.forward(&ids, &casing, &mask, false)?;
    let b = q8_enc.forward(&ids, &casing, &mask, false)?;
    let cos = ((&a * &b)?.sum(2)? / ((a.sqr()?.sum(2)?.sqrt()? * b.sqr()?.sum(2)?.sqrt()?)?))?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let mean_cos = cos.iter().sum::<f32>() / cos.len() as f32;
    let min_cos = cos.iter().fold(1f32, |m, &c| m.min(c));
    let tokens = (batch * seq) as f64;
    let [f, q] = times.map(median);
    println!(
        "\nencoder forward, batch {batch} x {seq}, median of {} rounds",
        rounds.min(5)
    );
    println!("f32 {:>8.0} tokens/s ({f:.3} s)", tokens / f);
    println!("q8  {:>8.0} tokens/s ({q:.3} s), {:.2}x", tokens / q, f / q);
    println!("cosine(f32, q8) of the last hidden states: mean {mean_cos:.5}, min {min_cos:.5}");
    Ok(())
}
