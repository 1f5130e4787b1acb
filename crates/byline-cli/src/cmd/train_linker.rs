//! `byline train-linker`: train the learned source scorer of a tagger's attribution head on
//! gold attributions (PolNeAR split directory or JSONL) and write the model with it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use byline_core::corpus;
use byline_core::tokenize::tokenize_document;
use byline_core::Document;
use byline_model::{HeadKind, LoadOptions, Tagger};
use byline_train::linker::{fit_and_save, Gold, LinkSpans, LinkerTraining};
use serde_json::json;

use crate::cmd::export::Precision;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The trained model (e.g. `runs/news-small/best` or `models/byline-news-small`).
    model: String,
    /// Where to write the model with its linker (created; files in it are replaced).
    #[arg(long)]
    output: PathBuf,
    /// Gold attributions to train on: a PolNeAR split directory or byline JSONL.
    #[arg(long)]
    train: PathBuf,
    /// Gold attributions to choose the epoch on and to report figures on.
    #[arg(long)]
    dev: PathBuf,
    /// The attribution head (default: the model's first).
    #[arg(long)]
    head: Option<String>,
    /// Defaults (8 epochs, `--spans predicted`, `--proposals 6`) are the default model's recipe.
    #[arg(long, default_value_t = 8)]
    epochs: usize,
    #[arg(long, default_value_t = LinkerTraining::default().width)]
    width: usize,
    #[arg(long, default_value_t = LinkerTraining::default().learning_rate)]
    learning_rate: f64,
    /// The role spans to learn from: the gold ones, the model's own predictions of the training
    /// documents, or both.
    #[arg(long, value_enum, default_value = "predicted")]
    spans: Spans,
    /// Longest untagged span (in words) near a content the linker may choose as its source;
    /// 0: it chooses among the tagged sources only.
    #[arg(long, default_value_t = 6)]
    proposals: usize,
    /// With proposals: the share of gold sources hidden from the gold-span examples' tagged
    /// spans, so the linker learns to find untagged sources (0 to 1).
    #[arg(long, default_value_t = LinkerTraining::default().drop_sources)]
    drop_sources: f64,
    /// The weights' precision in the written model.
    #[arg(long, default_value = "f32")]
    dtype: Precision,
    /// Worker threads (default: every core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Spans {
    Gold,
    Predicted,
    Both,
}

fn read(path: &Path) -> Result<Vec<Document>> {
    let mut docs =
        corpus::load_documents(path).with_context(|| format!("cannot read {}", path.display()))?;
    docs.iter_mut().for_each(tokenize_document);
    Ok(docs)
}

pub fn run(args: Args) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.drop_sources) {
        bail!(
            "--drop-sources must be between 0 and 1, not {}",
            args.drop_sources
        );
    }
    let model = super::tag::model_dir(Some(&args.model))?;
    if model.canonicalize().ok() == args.output.canonicalize().ok() {
        bail!("the output directory is the model directory: write the model with its linker elsewhere");
    }
    let mut tagger = Tagger::load(&model, &LoadOptions::default())
        .with_context(|| format!("cannot load the model in {}", model.display()))?;
    let head = match &args.head {
        Some(h) => h.clone(),
        None => tagger
            .spec()
            .heads
            .iter()
            .find(|h| h.kind == HeadKind::Attributions)
            .map(|h| h.name.clone())
            .context("the model has no attribution head")?,
    };
    let train_docs = read(&args.train)?;
    let dev_docs = read(&args.dev)?;
    let cfg = LinkerTraining {
        epochs: args.epochs,
        width: args.width,
        learning_rate: args.learning_rate,
        spans: match args.spans {
            Spans::Gold => LinkSpans::Gold,
            Spans::Predicted => LinkSpans::Predicted,
            Spans::Both => LinkSpans::Both,
        },
        proposals: args.proposals,
        drop_sources: args.drop_sources,
        ..LinkerTraining::default()
    };
    let report = fit_and_save(
        &mut tagger,
        &head,
        Gold {
            train: &train_docs,
            dev: &dev_docs,
        },
        &cfg,
        &args.output,
        args.dtype.dtype(),
        |e| {
            eprintln!(
                "epoch {:>2}  loss {:.4}  dev accuracy {:.4} (rules {:.4})",
                e.epoch, e.loss, e.dev.linker, e.dev.rules
            );
        },
    )
    .with_context(|| format!("cannot train the source scorer of head `{head}`"))?;
    let report = json!({
        "model": args.output,
        "head": head,
        "linker": report.fit,
        "dev": report.dev,
    });
    crate::write_stdout(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    Ok(ExitCode::SUCCESS)
}
