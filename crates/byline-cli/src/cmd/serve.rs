//! `byline serve`: the HTTP service over one loaded model (byline-serve), until SIGTERM or
//! ctrl-c.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use byline_model::Quantization;
use byline_serve::{BatchLimits, Config};

use super::tag::{load_model, model_dir, DeviceKind};
use byline_core::aggregate::Aggregation;

/// The line on stderr that tells the address the service listens on (read by
/// `byline bench serve`).
pub const LISTENING: &str = "byline serve: listening on http://";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A model folder or hub id ORG/NAME[@REVISION], as for `byline tag` [default: the
    /// committed models/byline-news-small]
    #[arg(long, env = "BYLINE_MODEL")]
    pub model: Option<String>,
    /// How a plain token-classification checkpoint's subwords become entities (as `byline tag`).
    #[arg(long, default_value = "first")]
    pub aggregation: Aggregation,
    /// Address to listen on (port 0: any free port, printed on stderr).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Tensor threads (0: every core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Weights of the encoder's dense layers: `none` or `q8`.
    #[arg(long, default_value = "none")]
    pub quantize: Quantization,
    /// Windows (of up to 256 subwords) per model batch.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Where the model runs.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceKind,
    /// A batch closes once its documents hold this many words (whitespace-separated).
    #[arg(long, default_value_t = 4096)]
    pub max_batch_words: usize,
    /// How long the first request of a batch waits for others to join it (ms).
    #[arg(long, default_value_t = 5)]
    pub max_wait_ms: u64,
    /// Requests that may wait for the model; more are answered 503.
    #[arg(long, default_value_t = 256)]
    pub queue_size: usize,
    /// Largest request body in bytes; larger is 413.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Most documents per request; more is 422.
    #[arg(long, default_value_t = 256)]
    pub max_documents: usize,
    /// A request not answered this long after it arrived is 504 (ms).
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let model = model_dir(args.model.as_deref())?;
    let loaded = load_model(
        &model,
        args.quantize,
        args.device,
        args.batch_size,
        args.aggregation,
    )?;
    let config = Config {
        limits: BatchLimits {
            max_words: args.max_batch_words.max(1),
            max_wait: Duration::from_millis(args.max_wait_ms),
        },
        queue: args.queue_size.max(1),
        max_body_bytes: args.max_body_bytes,
        max_documents: args.max_documents.max(1),
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
        model_name: match &args.model {
            Some(reference) if !std::path::Path::new(reference).exists() => reference.clone(),
            _ => model.file_name().map_or_else(
                || model.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
        },
    };
    // The model runs on its own thread; two workers are plenty for the HTTP side.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("byline-http")
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = byline_serve::bind(args.addr).await?;
        let addr = byline_serve::local_addr(&listener)?;
        eprintln!("{LISTENING}{addr}");
        byline_serve::serve(listener, loaded, config, shutdown_signal()).await
    })?;
    eprintln!("byline serve: stopped");
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or ctrl-c.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
