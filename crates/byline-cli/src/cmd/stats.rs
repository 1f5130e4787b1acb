//! `byline stats`: counts of documents, sentences, tokens, entities and attributions.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use byline_core::stats::CorpusStats;

use super::table::{thousands, TextTable};
use crate::input::{self, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Corpus files or directories (directories are searched for CoNLL, JSONL and PolNeAR splits).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Read every input in this format (conll, polnear or jsonl) instead of detecting it.
    #[arg(long)]
    format: Option<Format>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// One corpus's counts, as printed.
#[derive(Debug, serde::Serialize)]
struct Row {
    corpus: String,
    format: String,
    #[serde(flatten)]
    stats: CorpusStats,
    /// PolNeAR splits: `.ann` files, including those of annotators not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    ann_files: Option<usize>,
}

/// Entity types in the order the CoNLL-2003 papers print them; others follow alphabetically.
const TYPE_ORDER: [&str; 4] = ["PER", "LOC", "ORG", "MISC"];

pub fn run(args: Args) -> Result<ExitCode> {
    let mut rows = Vec::new();
    for root in &args.paths {
        for corpus in input::load_all(root, args.format)? {
            let mut stats = CorpusStats::of_documents(&corpus.documents);
            let mut ann_files = None;
            if let Some(p) = corpus.polnear {
                // PolNeAR's table counts every attribution event, including the few without
                // content that are not kept as attributions.
                stats.attributions = p.attributions;
                stats.with_source = p.with_source;
                stats.without_source = p.without_source;
                ann_files = Some(p.ann_files);
            }
            rows.push(Row {
                corpus: input::display_name(&corpus.path, root),
                format: corpus.format.to_string(),
                stats,
                ann_files,
            });
        }
    }
    if args.json {
        crate::write_stdout(&(serde_json::to_string_pretty(&rows)? + "\n"))?;
    } else {
        crate::write_stdout(&render(&rows))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    let tokenized: Vec<&Row> = rows.iter().filter(|r| r.stats.tokens > 0).collect();
    if !tokenized.is_empty() {
        let mut types: Vec<&str> = TYPE_ORDER.to_vec();
        let mut others: Vec<&str> = tokenized
            .iter()
            .flat_map(|r| r.stats.entities.keys().map(String::as_str))
            .filter(|t| !TYPE_ORDER.contains(t))
            .collect();
        others.sort_unstable();
        others.dedup();
        types.retain(|t| tokenized.iter().any(|r| r.stats.entities.contains_key(*t)));
        types.extend(others);
        let mut header = vec!["corpus", "documents", "sentences", "tokens"];
        header.extend(&types);
        header.push("entities");
        let mut table = TextTable::new(header);
        for r in &tokenized {
            let s = &r.stats;
            let mut cells = vec![
                r.corpus.clone(),
                thousands(s.documents),
                thousands(s.sentences),
                thousands(s.tokens),
            ];
            cells.extend(
                types
                    .iter()
                    .map(|t| thousands(s.entities.get(*t).copied().unwrap_or(0))),
            );
            cells.push(thousands(s.entity_total()));
            table.row(cells);
        }
        out.push_str(&table.render());
    }
    let quoted: Vec<&Row> = rows
        .iter()
        .filter(|r| r.stats.attributions > 0 || r.format == "polnear")
        .collect();
    if !quoted.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        let mut table = TextTable::new([
            "corpus",
            "documents",
            "annotation files",
            "words",
            "attributions",
            "with source",
            "without source",
            "direct quotes",
            "content with quote mark",
        ]);
        for r in &quoted {
            let s = &r.stats;
            table.row(vec![
                r.corpus.clone(),
                thousands(s.documents),
                r.ann_files.map_or_else(|| "-".to_string(), thousands),
                thousands(s.words),
                thousands(s.attributions),
                thousands(s.with_source),
                thousands(s.without_source),
                thousands(s.direct_quotes),
                thousands(s.content_with_quote_mark),
            ]);
        }
        out.push_str(&table.render());
    }
    if out.is_empty() {
        out.push_str("no documents\n");
    }
    out
}
