//! The ceiling of word-tag attribution: PolNeAR gold attributions to per-word role tags, back to
//! spans, through the rule-based assembly, scored against the gold. What a perfect tagger plus
//! [`assemble`](byline_core::assemble::assemble) would reach.
//!
//! `cargo run --release -p byline-core --example assembly_ceiling -- [SPLIT_DIR [OUT.jsonl]]`
//! (default: the `dev` split of `shared/data/polnear`, found via `BYLINE_SHARED` or above this
//! crate). With `OUT.jsonl`, the IOB2 round trip's documents are written there, to read its
//! losses one by one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use byline_core::align::{role_labels, AlignStats};
use byline_core::assemble::round_trip;
use byline_core::metrics::attribution::evaluate_attributions;
use byline_core::polnear::read_split;
use byline_core::tokenize::tokenize_document;
use byline_core::{Document, Scheme, TagSet};

fn default_split() -> Option<PathBuf> {
    let shared = byline_core::shared::locate_from(Path::new(env!("CARGO_MANIFEST_DIR")))?;
    Some(shared.join("data/polnear/dev"))
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .or_else(default_split)
    else {
        eprintln!("error: no split directory given and no shared/ directory found");
        return ExitCode::from(2);
    };
    let split = match read_split(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let gold: Vec<Document> = split
        .articles
        .into_iter()
        .map(|a| {
            let mut d = a.document;
            tokenize_document(&mut d);
            d
        })
        .collect();
    let out = std::env::args().nth(2).map(PathBuf::from);
    println!("{}: {} articles", dir.display(), gold.len());
    for scheme in [Scheme::Iob2, Scheme::Bioes] {
        let tag_set = TagSet::new(scheme, &role_labels());
        let mut stats = AlignStats::default();
        let mut pred = Vec::with_capacity(gold.len());
        for g in &gold {
            let (attributions, s) = match round_trip(g, &tag_set) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            stats += s;
            pred.push(Document {
                attributions,
                ..g.clone()
            });
        }
        let scores = match evaluate_attributions(&gold, &pred) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        println!(
            "\n{scheme}: {} role pieces, {} approximated (inside a word), {} clipped, {} dropped",
            stats.spans, stats.approximated, stats.clipped, stats.dropped
        );
        print!("{}", scores.table());
        if let Some(out) = out.as_deref().filter(|_| scheme == Scheme::Iob2) {
            if let Err(e) = byline_core::jsonl::write_file(out, &pred) {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}
