//! `byline`: the command-line front end. The only crate that prints or exits.
//!
//! stdout carries data only; logs, warnings and progress go to stderr.

use std::io;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod html;
mod input;
mod progress;
mod tag_input;

/// mimalloc, told never to return freed memory to the OS (see [`configure_allocator`]).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "byline",
    version,
    about = "Tag news text: entities, quotes and their speakers."
)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Count documents, sentences, tokens, entities and attributions of corpora.
    Stats(cmd::stats::Args),
    /// Convert a corpus between formats (CoNLL, PolNeAR brat standoff, byline JSONL).
    Convert(cmd::convert::Args),
    /// Score predictions against gold annotations (entities, and attributions when present).
    Eval(cmd::eval::Args),
    /// Fine-tune a tagger (encoder + one head per task) from a TOML config.
    Train(cmd::train::Args),
    /// Train the learned source scorer of a trained model's quote attribution.
    TrainLinker(cmd::train_linker::Args),
    /// Tag documents with a trained model: entities, quotes and their speakers.
    Tag(cmd::tag::Args),
    /// Serve a model over HTTP: POST /v1/tag, with dynamic batching of concurrent requests.
    Serve(cmd::serve::Args),
    /// Write a trained model again with f16 weights (half the size) or f32.
    Export(cmd::export::Args),
    /// Average the weights of several trained models of one shape (checkpoint averaging).
    Average(cmd::average::Args),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(cmd::bench::Command),
}

impl Command {
    /// Threads asked for on the command line.
    fn threads(&self) -> Option<usize> {
        match self {
            Command::Train(args) => args.threads,
            Command::TrainLinker(args) => Some(args.threads),
            Command::Tag(args) => Some(args.threads),
            Command::Serve(args) => Some(args.threads),
            Command::Bench(cmd::bench::Command::Train(args)) => Some(args.threads),
            _ => None,
        }
    }
}

fn main() -> ExitCode {
    configure_allocator();
    let cli = Cli::parse();
    // Before any candle or rayon work: the pool is sized once, from the environment.
    if let Some(threads) = cli.command.threads() {
        set_threads(threads);
    }
    init_tracing(cli.verbose, cli.quiet);
    let result = match cli.command {
        Command::Stats(args) => cmd::stats::run(args),
        Command::Convert(args) => cmd::convert::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Train(args) => cmd::train::run(args),
        Command::TrainLinker(args) => cmd::train_linker::run(args),
        Command::Tag(args) => cmd::tag::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Export(args) => cmd::export::run(args),
        Command::Average(args) => cmd::average::run(args),
        Command::Bench(command) => cmd::bench::run(command),
    };
    match result {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  Caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

/// mimalloc's `purge_delay` option (`mi_option_purge_delay` in mimalloc.h; the Rust bindings
/// have no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory in the process: the same as `MIMALLOC_PURGE_DELAY=-1` in the
/// environment, which still wins when set. Training frees and re-allocates the same large
/// buffers every step; returning them to the OS and faulting them in again costs ≈ 22 % of a
/// step (PERF-NOTES.md).
fn configure_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option of the allocator; no pointers involved.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}

/// Sizes the tensor thread pool (rayon reads `RAYON_NUM_THREADS` when it starts): `threads`, or
/// every core when 0 and `RAYON_NUM_THREADS` is not set. Also bounds how long candle's
/// element-wise pool spins waiting for work (`CANDLE_BARRIER_POOL_SPIN_LIMIT=64` unless set):
/// unbounded spinning competes with the busy threads and triples backward time under load.
/// Must run before any candle or rayon work; later calls have no effect on a started pool.
pub(crate) fn set_threads(threads: usize) {
    if threads > 0 {
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    } else if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::env::set_var("RAYON_NUM_THREADS", cores.to_string());
    }
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", "64");
    }
}

fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(
            std::env::var_os("NO_COLOR").is_none() && io::IsTerminal::is_terminal(&io::stderr()),
        )
        .without_time()
        .init();
}

/// Writes `text` to stdout. Unlike `print!`, a closed pipe is an error (which `main` treats as a
/// normal end) rather than a panic.
pub(crate) fn write_stdout(text: &str) -> io::Result<()> {
    use io::Write;
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// A closed pipe on stdout (`byline ... | head`) is a normal way for a reader to stop.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
