//! `byline tag`: entities and attributions of documents, with a trained model.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use byline_core::{jsonl, quote, Document, LabelSet, Mention, OffsetMap, Span};
use byline_infer::conll::{iob2_tags, write_lines, Lines};
use byline_infer::{DocError, Pipeline, Tagged};
use byline_model::{LoadOptions, Quantization, Tagger};
use candle_core::Device;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::tag_input::{self, InputFormat};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// One JSON line per document: id, text, entities, attributions (code-point offsets); a
    /// document that failed is `{"id", "error"}`.
    Jsonl,
    /// For people: each document's text, its entities and its quotes.
    Text,
    /// CoNLL input (documents split at `-DOCSTART-`): its lines with a predicted IOB2 column.
    Conll,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Text files (one document each), directories of them, `.jsonl` files; stdin when none
    /// (or `-`).
    inputs: Vec<PathBuf>,
    /// Model directory written by `byline train` or `byline export` [default: the committed
    /// models/byline-news-small]
    #[arg(long, env = "BYLINE_MODEL")]
    model: Option<PathBuf>,
    /// Output format.
    #[arg(long, default_value = "jsonl")]
    format: OutputFormat,
    /// How inputs are read (`--format conll` reads CoNLL).
    #[arg(long, default_value = "auto")]
    input_format: InputFormat,
    /// Write here instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Tensor threads (0: every core). Tokenisation runs beside them on one more thread.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Weights of the encoder's dense layers: `none` (f32, as trained) or `q8` (8-bit
    /// integers, faster on CPU).
    #[arg(long, default_value = "none")]
    quantize: Quantization,
    /// Windows (of up to 256 subwords) per model batch; memory grows with it.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Where the model runs (`cuda` needs a binary built with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    device: DeviceKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceKind {
    Cpu,
    Cuda,
}

impl DeviceKind {
    fn device(self) -> Result<Device> {
        Ok(match self {
            DeviceKind::Cpu => Device::Cpu,
            DeviceKind::Cuda => Device::new_cuda(0).context("cannot use --device cuda")?,
        })
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let model = match &args.model {
        Some(model) => model.clone(),
        None => byline_infer::locate_default_model().map_err(|tried| {
            let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
            anyhow::anyhow!(
                "no model: the default model ({}) is in none of {}; pass --model DIR",
                byline_infer::DEFAULT_MODEL,
                tried.join(", ")
            )
        })?,
    };
    let model = &model;
    let input_format = match args.format {
        OutputFormat::Conll => InputFormat::Conll,
        _ if args.input_format == InputFormat::Conll => {
            bail!("--input-format conll goes with --format conll")
        }
        _ => args.input_format,
    };
    let sources = tag_input::sources(&args.inputs, input_format)?;
    let load_start = Instant::now();
    if args.quantize != Quantization::None && args.device != DeviceKind::Cpu {
        bail!("--quantize {} runs on the CPU only", args.quantize);
    }
    let opts = LoadOptions {
        device: args.device.device()?,
        ..LoadOptions::default()
    };
    let mut tagger = Tagger::load(model, &opts)
        .and_then(|t| t.detached())
        .and_then(|t| t.quantized(args.quantize))
        .with_context(|| format!("cannot load the model in {}", model.display()))?;
    let window = tagger.spec().window.max_subwords + 2;
    tagger.set_predict_batch_tokens(args.batch_size.max(1) * window);
    let pipeline = Pipeline::new(&tagger)?;
    let load_s = load_start.elapsed().as_secs_f64();
    let labels = pipeline
        .entity_head()
        .map(|h| LabelSet::from_names(&tagger.spec().heads[h].labels));

    let (mut out, name): (Box<dyn Write>, PathBuf) = match &args.output {
        Some(path) => (
            Box::new(BufWriter::new(
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
            )),
            path.clone(),
        ),
        None => (
            Box::new(BufWriter::new(io::stdout().lock())),
            "stdout".into(),
        ),
    };
    let progress = progress();
    let mut failed = 0usize;
    let mut documents = 0usize;
    let tag_start = Instant::now();
    let writer = Writer {
        format: args.format,
        labels: labels.as_ref(),
    };
    for (lines, result) in pipeline.run(tag_input::documents(sources)) {
        if let Err(e) = &result {
            failed += 1;
            tracing::error!("{}: {}", e.id, e.message);
        }
        writer
            .write(&mut out, lines.as_ref(), &result)
            .with_context(|| format!("cannot write to {}", name.display()))?;
        progress.inc(1);
        documents += 1;
    }
    out.flush()
        .with_context(|| format!("cannot write to {}", name.display()))?;
    // scripts/bench/tag_bench.py reads this line (with -v) for byline's in-engine time.
    tracing::info!(
        "tagged {documents} documents in {:.3} s (model loaded in {load_s:.3} s)",
        tag_start.elapsed().as_secs_f64()
    );
    progress.finish_and_clear();
    if failed > 0 {
        tracing::warn!("{failed} document(s) failed");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// A document counter on stderr when it is a terminal; hidden otherwise.
fn progress() -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {pos} documents ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar
}

struct Writer<'a> {
    format: OutputFormat,
    /// The entity head's labels (CoNLL output).
    labels: Option<&'a LabelSet>,
}

impl Writer<'_> {
    fn write(
        &self,
        out: &mut dyn Write,
        lines: Option<&Lines>,
        result: &Result<Tagged, DocError>,
    ) -> Result<()> {
        match (self.format, result) {
            (OutputFormat::Jsonl, Ok(t)) => writeln!(
                out,
                "{}",
                jsonl::prediction_line(&t.document, &t.source_entities)?
            )?,
            (OutputFormat::Jsonl, Err(e)) => {
                writeln!(out, "{}", jsonl::error_line(&e.id, &e.message))?
            }
            (OutputFormat::Text, Ok(t)) => write_text(out, t)?,
            (OutputFormat::Text, Err(e)) => writeln!(out, "# {}\nerror: {}\n", e.id, e.message)?,
            (OutputFormat::Conll, result) => {
                let lines = lines.context("CoNLL output needs CoNLL input")?;
                let tags = match (result, self.labels) {
                    (Ok(t), Some(labels)) => Some(iob2_tags(&t.document, labels)),
                    _ => None,
                };
                write_lines(out, lines, tags.as_deref())?;
            }
        }
        Ok(())
    }
}

/// A document for people: `# id`, the text, then entities and quotes with code-point offsets.
fn write_text(out: &mut dyn Write, tagged: &Tagged) -> io::Result<()> {
    let doc = &tagged.document;
    let map = OffsetMap::new(&doc.text);
    let at = |s: Span| {
        map.span_to_chars(s)
            .map_or_else(|| "?".to_owned(), |(a, b)| format!("{a}..{b}"))
    };
    let mention = |m: &Mention| {
        let text = m.text(&doc.text).unwrap_or_default();
        let at = m.extent().map_or_else(|| "?".to_owned(), at);
        format!("{at} {text:?}")
    };
    writeln!(out, "# {}", doc.id)?;
    writeln!(out, "{}", doc.text)?;
    writeln!(out, "entities: {}", doc.entities.len())?;
    for e in &doc.entities {
        let score = e.score.map_or_else(String::new, |s| format!(" {s:.2}"));
        writeln!(
            out,
            "  {} {}{score} {:?}",
            at(e.span),
            e.label,
            slice(doc, e.span)
        )?;
    }
    writeln!(out, "quotes: {}", doc.attributions.len())?;
    for (a, link) in doc.attributions.iter().zip(&tagged.source_entities) {
        let direct = quote::is_direct(&a.content.text(&doc.text).unwrap_or_default());
        let kind = if direct { "direct" } else { "indirect" };
        writeln!(out, "  {kind} {}", mention(&a.content))?;
        if let Some(cue) = &a.cue {
            writeln!(out, "    cue {}", mention(cue))?;
        }
        if let Some(source) = &a.source {
            let entity = link
                .and_then(|i| doc.entities.get(i))
                .map_or_else(String::new, |e| {
                    format!(" = {} {:?}", e.label, slice(doc, e.span))
                });
            writeln!(out, "    source {}{entity}", mention(source))?;
        }
    }
    writeln!(out)
}

fn slice(doc: &Document, span: Span) -> &str {
    span.slice(&doc.text).unwrap_or("")
}
