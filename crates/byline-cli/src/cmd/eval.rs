//! `byline eval`: entity and attribution scores of predictions against gold annotations.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use byline_core::metrics::{cofenet, errors, Report};
use byline_core::Document;

use crate::input::{self, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Gold annotations: a CoNLL file, JSONL file or PolNeAR split directory.
    #[arg(long)]
    gold: PathBuf,
    /// Predictions, in any format byline reads.
    #[arg(long)]
    pred: PathBuf,
    /// Format of the gold file: conll, polnear or jsonl (detected when not given).
    #[arg(long)]
    gold_format: Option<Format>,
    /// Format of the predictions: conll, polnear or jsonl (detected when not given).
    #[arg(long)]
    pred_format: Option<Format>,
    /// Also score the predictions CofeNet's way: exact span F1 per role over CofeNet's rows
    /// (a JSONL of `tokens`, `labels`, `id` = `<article>_<annotator>`, such as
    /// `../shared/eval/polnear-cofenet-dev.jsonl`), each row laid over the predicted document
    /// named after its article.
    #[arg(long, value_name = "ROWS")]
    cofenet: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Also write every disagreement to FILE, one tab-separated row each: entities missed,
    /// spurious, cut differently or of another type; contents, sources and cues missed,
    /// spurious or cut differently; quotes found with another source. A count of each goes to
    /// standard error.
    #[arg(long, value_name = "FILE")]
    errors: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let gold = input::load(&args.gold, args.gold_format)?.documents;
    let mut pred = input::load(&args.pred, args.pred_format)?.documents;
    pair_by_position(&gold, &mut pred)?;
    let mut report = Report::evaluate(&gold, &pred)?;
    if let Some(path) = &args.errors {
        write_errors(path, &gold, &pred)?;
    }
    if let Some(path) = &args.cofenet {
        let rows = cofenet::read_rows(path)?;
        let scores = cofenet::evaluate_cofenet(&rows, &pred).with_context(|| {
            format!("cannot score {} on {}", args.pred.display(), path.display())
        })?;
        report.cofenet = Some(scores.table());
    }
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else if report.entities.is_none() && report.attribution.is_none() && report.cofenet.is_none()
    {
        "neither file has entities or attributions\n".to_string()
    } else {
        report.to_string()
    };
    crate::write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn write_errors(path: &Path, gold: &[Document], pred: &[Document]) -> Result<()> {
    let rows = errors::errors(gold, pred)?;
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    errors::write_tsv(&rows, &mut out)
        .and_then(|()| out.flush())
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprint!(
        "{} disagreements written to {}\n{}",
        rows.len(),
        path.display(),
        errors::ErrorCounts::of(&rows)
    );
    Ok(())
}

/// CoNLL files carry no document ids of their own (byline names documents after the file), so
/// when no predicted id is a gold id, documents are paired by position instead, provided there
/// are as many of each and their texts agree.
fn pair_by_position(gold: &[Document], pred: &mut [Document]) -> Result<()> {
    let gold_ids: std::collections::HashSet<&str> = gold.iter().map(|d| d.id.as_str()).collect();
    if pred.iter().any(|d| gold_ids.contains(d.id.as_str())) {
        return Ok(());
    }
    if gold.len() != pred.len() {
        bail!(
            "no predicted document id matches a gold id, and the files have different numbers of documents ({} gold, {} predicted)",
            gold.len(),
            pred.len()
        );
    }
    for (i, (g, p)) in gold.iter().zip(pred.iter_mut()).enumerate() {
        if g.text != p.text {
            bail!(
                "no predicted document id matches a gold id, and document {} differs: gold `{}` and predicted `{}` have different texts",
                i + 1,
                g.id,
                p.id
            );
        }
        p.id = g.id.clone();
    }
    Ok(())
}
