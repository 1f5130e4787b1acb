//! `byline average`: checkpoint averaging, one model whose weights are the mean of several.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use byline_model::average_models;

use super::export::Precision;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Two or more trained byline models of one shape (same heads and tensors): folders written
    /// by `byline train` or `byline export`, or hub ids ORG/NAME[@REVISION].
    #[arg(required = true, num_args = 2..)]
    models: Vec<String>,
    /// Where to write the averaged model (created; files in it are replaced).
    #[arg(long, short)]
    output: PathBuf,
    /// The weights' precision in the written files.
    #[arg(long, default_value = "f32")]
    dtype: Precision,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let dirs = args
        .models
        .iter()
        .map(|m| super::tag::model_dir(Some(m)))
        .collect::<Result<Vec<_>>>()?;
    let got = average_models(&dirs, &args.output, args.dtype.dtype()).with_context(|| {
        format!(
            "cannot average {} into {}",
            args.models.join(", "),
            args.output.display()
        )
    })?;
    eprintln!(
        "wrote {}: {} tensors, each the mean of {} models",
        args.output.display(),
        got.tensors,
        got.models
    );
    if got.dropped_linker {
        eprintln!(
            "note: the source scorer is left out (it was trained on another encoder's vectors); \
             train one for the average with `byline train-linker {} --output DIR`",
            args.output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
