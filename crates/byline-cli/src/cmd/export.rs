//! `byline export`: a trained model written again, smaller (f16 weights) or as is (f32), in
//! byline's own layout or as a plain `BertForTokenClassification` folder for transformers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use byline_core::aggregate::Aggregation;
use byline_core::Document;
use byline_infer::{Model, Pipeline};
use byline_model::hf_export::{export_hf, lossy_parts};
use byline_model::{HeadKind, LoadOptions, Tagger};
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// byline's own folder: every head, the casing table, the linker (`byline.json`).
    Byline,
    /// A plain `BertForTokenClassification` folder (the entity head only) that transformers'
    /// `AutoModelForTokenClassification` and pipeline load with no missing or unexpected keys.
    Hf,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A byline model: a folder written by `byline train` (e.g. `runs/news-small/best`) or a
    /// hub id ORG/NAME[@REVISION].
    model: String,
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
    /// Store with every entity head: a mention scored below this takes the label of the
    /// document's most confident mention of the same name (default 0.9; 0 turns it off).
    #[arg(long, value_name = "SCORE")]
    relabel_below: Option<f32>,
    /// The layout written.
    #[arg(long, default_value = "byline")]
    format: Format,
    /// With `--format hf`: write the folder even though transformers will tag differently
    /// (the model's casing table or CRF cannot be expressed in `BertForTokenClassification`).
    #[arg(long)]
    allow_lossy: bool,
    /// With `--format hf`: tag these documents (CoNLL, JSONL, text, PolNeAR) with the model and
    /// with the export as transformers' pipeline tags it, and print how far they agree.
    #[arg(long, value_name = "FILE")]
    check: Option<PathBuf>,
    /// With `--check`: the pipeline's aggregation strategy.
    #[arg(long, default_value = "first")]
    aggregation: Aggregation,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let model = super::tag::model_dir(Some(&args.model))?;
    if model.canonicalize().ok() == args.output.canonicalize().ok() {
        bail!("the output directory is the model directory: export writes a copy elsewhere");
    }
    let mut tagger = Tagger::load(&model, &LoadOptions::default())
        .with_context(|| format!("cannot load the model in {}", model.display()))?;
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
    if let Some(below) = args.relabel_below {
        let heads: Vec<String> = tagger
            .spec()
            .heads
            .iter()
            .filter(|h| h.kind == HeadKind::Entities)
            .map(|h| h.name.clone())
            .collect();
        if heads.is_empty() {
            bail!("--relabel-below: the model has no entity head");
        }
        for head in heads {
            tagger
                .set_relabel_below(&head, below)
                .context("--relabel-below")?;
        }
    }
    let dtype = args.dtype.dtype();
    if args.format == Format::Hf {
        return export_hf_folder(&tagger, &args, dtype);
    }
    if args.check.is_some() || args.allow_lossy {
        bail!("--check and --allow-lossy go with --format hf");
    }
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

/// `--format hf`: refuses a model whose export would tag differently unless `--allow-lossy`,
/// writes the folder, and with `--check` measures the agreement.
fn export_hf_folder(tagger: &Tagger, args: &Args, dtype: DType) -> Result<ExitCode> {
    let dropped = lossy_parts(tagger)?;
    if !dropped.is_empty() && !args.allow_lossy {
        bail!(
            "transformers cannot hold {}: its pipeline would tag entities differently from byline \
             (the default model's export agrees with byline at only 72.2 entity F1 on CoNLL-2003 \
             dev: README, \"Hugging Face export\"). Pass --allow-lossy to write it anyway, and \
             --check DEV_FILE to measure the agreement on your data",
            dropped.join(" and ")
        );
    }
    let written = export_hf(tagger, &args.output, dtype)
        .with_context(|| format!("cannot write the model to {}", args.output.display()))?;
    eprintln!(
        "wrote {} (BertForTokenClassification, {} tensors, {:?})",
        args.output.display(),
        written.keys.len(),
        dtype
    );
    if !written.other_heads.is_empty() {
        eprintln!(
            "left out head(s) {}: a token-classification folder holds one head",
            written.other_heads.join(", ")
        );
    }
    for part in &written.dropped {
        eprintln!("warning: not in the export: {part}");
    }
    if let Some(path) = &args.check {
        let f1 = agreement(tagger, &args.output, path, args.aggregation)?;
        eprintln!(
            "agreement on {}: entities of transformers' pipeline (aggregation {}) on the export \
             against byline's own: F1 {:.2}",
            path.display(),
            args.aggregation,
            f1 * 100.0
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Entity F1 of the exported folder tagged as a plain checkpoint (byline's pipeline-identical
/// path) against the byline model's own entities, on the documents of `path`.
fn agreement(tagger: &Tagger, export: &Path, path: &Path, aggregation: Aggregation) -> Result<f64> {
    let docs: Vec<Document> = crate::input::load_all(path, None)?
        .into_iter()
        .flat_map(|c| c.documents)
        .collect();
    let detached = tagger.detached()?;
    let own = Pipeline::new(&detached)?;
    let plain = Model::load(export, &LoadOptions::default(), aggregation)?;
    let theirs = Pipeline::for_model(&plain)?;
    let tag = |p: &Pipeline<'_>| -> Result<Vec<Document>> {
        p.tag(docs.iter().cloned().map(Ok))
            .map(|r| r.map(|t| t.document).map_err(|e| anyhow::anyhow!("{e}")))
            .collect()
    };
    let (a, b) = (tag(&own)?, tag(&theirs)?);
    let scores = byline_core::metrics::entity::evaluate_entities(&a, &b)?;
    Ok(scores.micro().f1())
}
