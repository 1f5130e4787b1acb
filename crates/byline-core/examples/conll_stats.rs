//! Reads CoNLL files and prints documents, sentences, tokens and entities per type, with the
//! time the read took: `cargo run --release -p byline-core --example conll_stats -- FILE...`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use byline_core::conll::ConllReader;

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: conll_stats FILE...");
        return ExitCode::from(2);
    }
    for path in paths {
        let started = Instant::now();
        let corpus = match ConllReader::new().read_path(&path) {
            Ok(corpus) => corpus,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        let elapsed = started.elapsed();
        let docs = &corpus.documents;
        let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
        for e in docs.iter().flat_map(|d| &d.entities) {
            *by_type.entry(e.label.as_str()).or_default() += 1;
        }
        println!(
            "{path}: {} documents, {} sentences, {} tokens, {} entities {by_type:?} in {:.1} ms",
            docs.len(),
            docs.iter().map(|d| d.sentences.len()).sum::<usize>(),
            docs.iter().map(|d| d.tokens.len()).sum::<usize>(),
            by_type.values().sum::<usize>(),
            elapsed.as_secs_f64() * 1e3,
        );
    }
    ExitCode::SUCCESS
}
