//! `byline export`: a trained model written again, smaller (f16 weights) or as is (f32).

use std::collections::BTreeMap;
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
    /// Store a decode bias with a head: added to the scores of a label's tags when predicting
    /// (above 0: that label more often). Repeatable; choose values with the `dev_eval` example's
    /// `--bias`.
    #[arg(long = "decode-bias", value_name = "HEAD.LABEL=VALUE")]
    decode_bias: Vec<String>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.model.canonicalize().ok() == args.output.canonicalize().ok() {
        bail!("the output directory is the model directory: export writes a copy elsewhere");
    }
    let mut tagger = Tagger::load(&args.model, &LoadOptions::default())
        .with_context(|| format!("cannot load the model in {}", args.model.display()))?;
    let mut biases: BTreeMap<String, BTreeMap<String, f32>> = BTreeMap::new();
    for spec in &args.decode_bias {
        let parsed = spec.split_once('=').and_then(|(key, value)| {
            let (head, label) = key.split_once('.')?;
            Some((head, label, value.parse::<f32>().ok()?))
        });
        let Some((head, label, value)) = parsed else {
            bail!(
                "--decode-bias {spec:?}: expected HEAD.LABEL=VALUE, e.g. attributions.SOURCE=0.5"
            );
        };
        biases
            .entry(head.to_string())
            .or_insert_with(|| {
                tagger
                    .head_index(head)
                    .map(|h| tagger.spec().heads[h].decode_bias.clone())
                    .unwrap_or_default()
            })
            .insert(label.to_string(), value);
    }
    for (head, bias) in biases {
        tagger
            .set_decode_bias(&head, bias)
            .with_context(|| format!("--decode-bias for head `{head}`"))?;
    }
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
