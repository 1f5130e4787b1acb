//! `byline convert`: between CoNLL, PolNeAR and byline JSONL.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use byline_core::conll::{entity_spans, ConllWriter, LabelledSpan, WriteStats};
use byline_core::tokenize::tokenize_document;
use byline_core::{jsonl, Document, Scheme};

use crate::input::{self, Format};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Conll,
    Jsonl,
}

/// Which annotations become the tag column of CoNLL output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Layer {
    /// Entities (PER, ORG, ...).
    Entities,
    /// Attribution roles: SOURCE, CUE and CONTENT.
    Attributions,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input file or PolNeAR split directory.
    input: PathBuf,
    /// Input format: conll, polnear or jsonl (detected from the path when not given).
    #[arg(long)]
    from: Option<Format>,
    /// Output format.
    #[arg(long)]
    to: OutputFormat,
    /// Write here instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Tagging scheme of CoNLL output.
    #[arg(long, default_value = "iob2")]
    scheme: Scheme,
    /// What CoNLL output tags: entities, or attribution roles. Default: entities when the input
    /// has any, else attributions.
    #[arg(long)]
    layer: Option<Layer>,
    /// Start each CoNLL document with a `-DOCSTART- -X- O O` line.
    #[arg(long)]
    docstart: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let corpus = input::load(&args.input, args.from)?;
    let mut documents = corpus.documents;
    let (mut out, name): (Box<dyn Write>, PathBuf) = match &args.output {
        Some(path) => (
            Box::new(BufWriter::new(
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
            )),
            path.clone(),
        ),
        None => (
            Box::new(BufWriter::new(io::stdout().lock())),
            PathBuf::from("<stdout>"),
        ),
    };
    match args.to {
        OutputFormat::Jsonl => jsonl::write(&mut out, &documents, &name)?,
        OutputFormat::Conll => {
            let layer = args
                .layer
                .unwrap_or(if documents.iter().any(|d| !d.entities.is_empty()) {
                    Layer::Entities
                } else {
                    Layer::Attributions
                });
            let writer = ConllWriter::new()
                .scheme(args.scheme)
                .docstart(args.docstart)
                .name(&name);
            let mut stats = WriteStats::default();
            for doc in &mut documents {
                tokenize_document(doc);
                let spans = match layer {
                    Layer::Entities => entity_spans(doc),
                    Layer::Attributions => attribution_spans(doc),
                };
                stats += writer.write_document(&mut out, doc, &spans)?;
            }
            if stats.dropped > 0 {
                tracing::warn!(
                    "{} of {} spans were left out: they overlap a span already written or cover no token",
                    stats.dropped,
                    stats.dropped + stats.spans
                );
            }
        }
    }
    out.flush()
        .with_context(|| format!("cannot write {}", name.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Every piece of every attribution's source, cue and content, labelled with its role.
fn attribution_spans(doc: &Document) -> Vec<LabelledSpan<'static>> {
    let mut spans = Vec::new();
    for a in &doc.attributions {
        let roles = [
            ("SOURCE", a.source.as_ref()),
            ("CUE", a.cue.as_ref()),
            ("CONTENT", Some(&a.content)),
        ];
        for (label, mention) in roles {
            for &span in mention.map(|m| m.pieces.as_slice()).unwrap_or_default() {
                spans.push(LabelledSpan { span, label });
            }
        }
    }
    spans
}
