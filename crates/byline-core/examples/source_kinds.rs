//! How often PolNeAR's gold sources are names, descriptions and pronouns
//! ([`byline_core::source::source_kind`]; PolNeAR has no entities, so a name is a source whose
//! head word is capitalised and not sentence-initial, or is capitalised mid-sentence elsewhere
//! in the article), which pronouns occur, and how contents split into direct, mixed and indirect
//! quotes ([`byline_core::quote::QuoteKind`]).
//!
//! `cargo run --release -p byline-core --example source_kinds -- [SPLIT_DIR [KIND]]` (default:
//! the `dev` split of `shared/data/polnear`, found via `BYLINE_SHARED` or above this crate).
//! With `KIND` (`name`, `description` or `pronoun`), every source of that kind is printed too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use byline_core::polnear::read_split;
use byline_core::quote::QuoteKind;
use byline_core::source::{pronoun, source_kind, SourceKind};
use byline_core::tokenize::tokenize_document;

fn default_split() -> Option<PathBuf> {
    let shared = byline_core::shared::locate_from(Path::new(env!("CARGO_MANIFEST_DIR")))?;
    Some(shared.join("data/polnear/dev"))
}

fn percent(n: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * n as f64 / total as f64
    }
}

fn main() -> ExitCode {
    let show = std::env::args().nth(2);
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
    let mut kinds: BTreeMap<SourceKind, usize> = BTreeMap::new();
    let mut pronouns: BTreeMap<&str, usize> = BTreeMap::new();
    let mut quotes: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut attributions, mut sources) = (0, 0);
    for article in split.articles {
        let mut doc = article.document;
        tokenize_document(&mut doc);
        for a in &doc.attributions {
            attributions += 1;
            let content = a.content.text(&doc.text).unwrap_or_default();
            *quotes.entry(QuoteKind::of(&content).as_str()).or_default() += 1;
            let Some(source) = &a.source else { continue };
            sources += 1;
            let kind = source_kind(&doc, source);
            *kinds.entry(kind).or_default() += 1;
            if show.as_deref() == Some(kind.as_str()) {
                println!(
                    "{}\t{:?}",
                    doc.id,
                    source.text(&doc.text).unwrap_or_default()
                );
            }
            if let Some(p) = source.text(&doc.text).as_deref().and_then(pronoun) {
                *pronouns.entry(p).or_default() += 1;
            }
        }
    }
    println!(
        "{}: {attributions} attributions, {sources} with a source",
        dir.display()
    );
    println!("\nsource kind     count       %");
    for (kind, n) in &kinds {
        println!("{:<12} {n:>8} {:>7.1}", kind.as_str(), percent(*n, sources));
    }
    println!("\npronoun         count");
    for (p, n) in &pronouns {
        println!("{p:<12} {n:>8}");
    }
    println!("\ncontent         count       %");
    for (kind, n) in &quotes {
        println!("{kind:<12} {n:>8} {:>7.1}", percent(*n, attributions));
    }
    ExitCode::SUCCESS
}
