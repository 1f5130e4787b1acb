//! Times the CRF loss (forward + backward) and decoding against the softmax loss, for the batch
//! shapes byline trains on. Prints a table; `cargo run --release -p byline-model --example crf_speed`.

use std::time::Instant;

use byline_core::{LabelSet, Scheme, TagSet};
use byline_model::{Crf, TagBatch};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};

fn median_ms(mut f: impl FnMut() -> byline_model::Result<()>) -> byline_model::Result<f64> {
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn main() -> byline_model::Result<()> {
    let dev = Device::Cpu;
    println!("| tags | batch x words | CRF nll fwd+bwd ms | softmax CE fwd+bwd ms | Viterbi+marginals ms |");
    println!("|---|---|---|---|---|");
    for (labels, scheme) in [
        (vec!["PER", "ORG", "LOC", "MISC"], Scheme::Iob2),
        (vec!["SOURCE", "CUE", "CONTENT"], Scheme::Iob2),
    ] {
        let tags = TagSet::new(scheme, &LabelSet::from_names(&labels));
        let n = tags.len();
        let varmap = VarMap::new();
        let crf = Crf::load(VarBuilder::from_varmap(&varmap, DType::F32, &dev), &tags)?;
        for (batch, words) in [(32, 40), (16, 256)] {
            let em = Var::from_tensor(&Tensor::randn(0f32, 1.0, (batch, words, n), &dev)?)?;
            // Mixed lengths: from words / 2 to words.
            let gold: Vec<Vec<usize>> = (0..batch)
                .map(|b| vec![0; words / 2 + b * words / (2 * batch)])
                .collect();
            let gold = TagBatch::new(&gold, n, &dev)?;
            let lengths = gold.lengths().to_vec();
            let crf_ms = median_ms(|| {
                crf.nll(&em, &gold)?.backward()?;
                Ok(())
            })?;
            let ce_ms = median_ms(|| {
                byline_model::loss::cross_entropy(&em, &gold)?.backward()?;
                Ok(())
            })?;
            let dec_ms = median_ms(|| crf.decode(&em, &lengths).map(|_| ()))?;
            println!("| {n} | {batch} x {words} | {crf_ms:.1} | {ce_ms:.1} | {dec_ms:.1} |");
        }
    }
    Ok(())
}
