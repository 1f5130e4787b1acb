//! `byline tag`: entities and attributions of documents, with a trained model.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use byline_core::aggregate::Aggregation;
use byline_core::{jsonl, quote, Document, LabelSet, Mention, OffsetMap, Span};
use byline_infer::batch::{gather, words, BatchLimits};
use byline_infer::conll::{iob2_tags, write_lines, Lines};
use byline_infer::{DocError, Model, Pipeline, Tagged};
use byline_model::{LoadOptions, Quantization};
use candle_core::Device;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::html;
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
    /// A model folder (written by `byline train` or `byline export`, or a Hugging Face
    /// token-classification checkpoint) or a hub id ORG/NAME[@REVISION] [default: the committed
    /// models/byline-news-small]
    #[arg(long, env = "BYLINE_MODEL")]
    model: Option<String>,
    /// How a plain token-classification checkpoint's subwords become entities, as in
    /// transformers' pipeline (`aggregation_strategy`); byline's own models decode whole words.
    #[arg(long, default_value = "first")]
    aggregation: Aggregation,
    /// Output format.
    #[arg(long, default_value = "jsonl")]
    format: OutputFormat,
    /// How inputs are read (`--format conll` reads CoNLL).
    #[arg(long, default_value = "auto")]
    input_format: InputFormat,
    /// Write here instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Also write one self-contained HTML page of all the run's documents here: entities by
    /// type, quotes with arrows to their speakers, and who said what.
    #[arg(long, value_name = "OUT.html", conflicts_with = "stream")]
    html: Option<PathBuf>,
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
    /// Read JSONL from stdin and write each result as soon as its batch is tagged (flushed
    /// per batch), for pipes: documents that arrive together are tagged together.
    #[arg(long)]
    stream: bool,
    /// With --stream: how long the first document of a batch waits for others (ms).
    #[arg(long, default_value_t = 20, requires = "stream")]
    max_wait_ms: u64,
    /// With --stream: a batch closes at this many (whitespace-separated) words.
    #[arg(long, default_value_t = 4096, requires = "stream")]
    max_batch_words: usize,
    /// The name stdin's documents carry in error messages (default `<stdin>`): for a slice of a
    /// file fed through a pipe, the file's name.
    #[arg(long, value_name = "NAME")]
    stdin_name: Option<String>,
    /// The line number of stdin's first line in the file it was cut from (ids default to line
    /// numbers).
    #[arg(long, value_name = "N", default_value_t = 1)]
    stdin_line: usize,
    /// The byte offset of stdin's first line in the file it was cut from (error positions).
    #[arg(long, value_name = "B", default_value_t = 0)]
    stdin_byte: usize,
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

/// The model folder: `--model` (a folder, or a hub id fetched into or found in the Hugging Face
/// cache), else the committed default model.
pub(crate) fn model_dir(model: Option<&str>) -> Result<PathBuf> {
    match model {
        Some(model) => byline_hub::resolve_from_env(model)
            .with_context(|| format!("cannot get model `{model}`")),
        None => byline_infer::locate_default_model().map_err(|tried| {
            let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
            anyhow::anyhow!(
                "no model: the default model ({}) is in none of {}; pass --model DIR",
                byline_infer::DEFAULT_MODEL,
                tried.join(", ")
            )
        }),
    }
}

/// Loads an inference copy of the model in `model` (quantised as asked), batching
/// `batch_size` windows per model batch; a plain token-classification checkpoint fuses its
/// subwords by `aggregation`.
pub(crate) fn load_model(
    model: &Path,
    quantize: Quantization,
    device: DeviceKind,
    batch_size: usize,
    aggregation: Aggregation,
) -> Result<Model> {
    if quantize != Quantization::None && device != DeviceKind::Cpu {
        bail!("--quantize {quantize} runs on the CPU only");
    }
    let opts = LoadOptions {
        device: device.device()?,
        ..LoadOptions::default()
    };
    let mut loaded = Model::load(model, &opts, aggregation)
        .and_then(|m| m.quantized(quantize))
        .with_context(|| format!("cannot load the model in {}", model.display()))?;
    loaded.set_batch_windows(batch_size);
    tracing::debug!("model: {}", loaded.describe());
    Ok(loaded)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let model = &model_dir(args.model.as_deref())?;
    let input_format = match args.format {
        OutputFormat::Conll => InputFormat::Conll,
        _ if args.input_format == InputFormat::Conll => {
            bail!("--input-format conll goes with --format conll")
        }
        _ => args.input_format,
    };
    if args.stream {
        if args.format == OutputFormat::Conll {
            bail!("--stream reads JSONL: it does not go with --format conll");
        }
        if args.inputs.iter().any(|p| p.as_os_str() != "-") {
            bail!("--stream reads stdin: name no input files");
        }
    }
    let origin = tag_input::StdinOrigin {
        name: args
            .stdin_name
            .clone()
            .unwrap_or_else(|| tag_input::StdinOrigin::default().name),
        first_line: args.stdin_line.max(1),
        first_byte: args.stdin_byte,
    };
    let sources = tag_input::sources(&args.inputs, input_format, &origin)?;
    let load_start = Instant::now();
    let loaded = load_model(
        model,
        args.quantize,
        args.device,
        args.batch_size,
        args.aggregation,
    )?;
    let pipeline = Pipeline::for_model(&loaded)?;
    let load_s = load_start.elapsed().as_secs_f64();
    let labels = pipeline.entity_labels();

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
    if args.stream {
        let limits = BatchLimits {
            max_words: args.max_batch_words.max(1),
            max_wait: Duration::from_millis(args.max_wait_ms),
        };
        let (tagged, failed) = stream(&pipeline, &writer, &mut out, limits, origin)
            .with_context(|| format!("cannot write to {}", name.display()))?;
        tracing::info!(
            "tagged {tagged} documents in {:.3} s (model loaded in {load_s:.3} s)",
            tag_start.elapsed().as_secs_f64()
        );
        if failed > 0 {
            tracing::warn!("{failed} document(s) failed");
            return Ok(ExitCode::from(1));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut page = Vec::new();
    for (lines, result) in pipeline.run(tag_input::documents(sources)) {
        if let Err(e) = &result {
            failed += 1;
            tracing::error!("{}: {}", e.id, e.message);
        }
        if args.html.is_some() {
            page.push(html::keep(&result));
        }
        writer
            .write(&mut out, lines.as_ref(), &result)
            .with_context(|| format!("cannot write to {}", name.display()))?;
        progress.inc(1);
        documents += 1;
    }
    out.flush()
        .with_context(|| format!("cannot write to {}", name.display()))?;
    if let Some(path) = &args.html {
        write_html(path, &page)?;
    }
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

/// `--html`: the page of the run's documents.
fn write_html(path: &Path, docs: &[Result<Tagged, DocError>]) -> Result<()> {
    let write = || -> io::Result<()> {
        let mut out = BufWriter::new(File::create(path)?);
        html::write_page(&mut out, docs)?;
        out.flush()
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}

/// `--stream`: JSONL documents from stdin, read on their own thread, gathered into batches as
/// they arrive (up to `limits`), each batch written and flushed at once: a document's result
/// never waits for the end of the input. Returns the documents written and how many failed.
fn stream(
    pipeline: &Pipeline<'_>,
    writer: &Writer<'_>,
    out: &mut dyn Write,
    limits: BatchLimits,
    origin: tag_input::StdinOrigin,
) -> Result<(usize, usize)> {
    let (tx, rx) = mpsc::sync_channel::<tag_input::Item>(1024);
    let stdin = vec![tag_input::Source {
        path: None,
        format: InputFormat::Jsonl,
        origin,
    }];
    // Not joined: at a write error the reader may still be blocked on stdin.
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            for item in tag_input::documents(stdin) {
                if tx.send(item).is_err() {
                    break;
                }
            }
        })
        .context("cannot start the stdin reader")?;
    let weight = |(_, doc): &tag_input::Item| doc.as_ref().map_or(1, |d| words(&d.text));
    let (mut tagged, mut failed) = (0, 0);
    let mut leftover = None;
    loop {
        let first = match leftover.take() {
            Some(item) => item,
            None => match rx.recv() {
                Ok(item) => item,
                Err(_) => break,
            },
        };
        let gathered = gather(&rx, first, limits, weight, |_| true);
        leftover = gathered.leftover;
        for result in pipeline.tag(gathered.batch.into_iter().map(|(_, item)| item)) {
            if let Err(e) = &result {
                failed += 1;
                tracing::error!("{}: {}", e.id, e.message);
            }
            writer.write(out, None, &result)?;
            tagged += 1;
        }
        out.flush()?;
    }
    Ok((tagged, failed))
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
    let names = byline_core::speaker::canonical_names(doc);
    for (a, link) in doc.attributions.iter().zip(&tagged.source_entities) {
        let kind = quote::QuoteKind::of(&a.content.text(&doc.text).unwrap_or_default()).as_str();
        writeln!(out, "  {kind} {}", mention(&a.content))?;
        if let Some(cue) = &a.cue {
            writeln!(out, "    cue {}", mention(cue))?;
        }
        if let Some(source) = &a.source {
            let entity = link
                .and_then(|i| Some((i, doc.entities.get(i)?)))
                .map_or_else(String::new, |(i, e)| {
                    let said = slice(doc, e.span);
                    match names.get(i).filter(|n| n.as_str() != said) {
                        Some(name) => format!(" = {} {said:?} ({name})", e.label),
                        None => format!(" = {} {said:?}", e.label),
                    }
                });
            writeln!(out, "    source {}{entity}", mention(source))?;
        }
    }
    writeln!(out)
}

fn slice(doc: &Document, span: Span) -> &str {
    span.slice(&doc.text).unwrap_or("")
}
