//! `byline export`: a trained model written again, smaller (f16 weights) or as is (f32).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use byline_model::{LoadOptions, Tagger};
use candle_core::DType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    /// 16-bit floats: half the size; loading converts back to f32.
    F16,
    /// 32-bit floats, as trained.
    F32,
}

impl Precision {
    pub fn dtype(self) -> DType {
        match self {
            Precision::F16 => DType::F16,
            Precision::F32 => DType::F32,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A model directory written by `byline train` (e.g. `runs/news-small/best`).
    model: PathBuf,
    /// Where to write the exported model (created; files in it are replaced).
    output: PathBuf,
    /// The weights' precision in the exported files.
    #[arg(long, default_value = "f16")]
    dtype: Precision,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.model.canonicalize().ok() == args.output.canonicalize().ok() {
        bail!("the output directory is the model directory: export writes a copy elsewhere");
    }
    let tagger = Tagger::load(&args.model, &LoadOptions::default())
        .with_context(|| format!("cannot load the model in {}", args.model.display()))?;
    let dtype = args.dtype.dtype();
    tagger
        .save_as(&args.output, dtype)
        .with_context(|| format!("cannot write the model to {}", args.output.display()))?;
    let weights = args.output.join("model.safetensors");
    let size = std::fs::metadata(&weights)
        .with_context(|| format!("cannot read {}", weights.display()))?
        .len();
    eprintln!(
        "wrote {} ({:.1} MB of {:?} weights)",
        args.output.display(),
        size as f64 / 1e6,
        dtype
    );
    Ok(ExitCode::SUCCESS)
}
