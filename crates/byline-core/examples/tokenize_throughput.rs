//! Times the word tokenizer and sentence splitter on text files.
//!
//! `cargo run --release -p byline-core --example tokenize_throughput -- FILE...`
//! (for example `shared/data/polnear/train/text/*.txt`). Prints one table row per stage.

use std::time::Instant;

use byline_core::tokenize::{split_sentences, tokenize};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut texts = Vec::new();
    for path in std::env::args().skip(1) {
        texts.push(std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?);
    }
    let bytes: usize = texts.iter().map(String::len).sum();
    if bytes == 0 {
        return Err("no text: pass one or more text files".into());
    }
    let rounds = (50_000_000 / bytes).clamp(1, 100);

    let start = Instant::now();
    let mut tokens = Vec::new();
    for _ in 0..rounds {
        tokens = texts.iter().map(|t| tokenize(t)).collect::<Vec<_>>();
    }
    let tok_s = start.elapsed().as_secs_f64() / rounds as f64;

    let start = Instant::now();
    let mut sentences = 0;
    for _ in 0..rounds {
        sentences = texts
            .iter()
            .zip(&tokens)
            .map(|(t, k)| split_sentences(t, k).len())
            .sum::<usize>();
    }
    let sent_s = start.elapsed().as_secs_f64() / rounds as f64;

    let mb = bytes as f64 / 1e6;
    let n_tokens: usize = tokens.iter().map(Vec::len).sum();
    println!(
        "{} files, {mb:.2} MB, {n_tokens} tokens, {sentences} sentences",
        texts.len()
    );
    println!("stage        MB/s");
    println!("tokenize   {:>7.1}", mb / tok_s);
    println!("sentences  {:>7.1}", mb / sent_s);
    Ok(())
}
