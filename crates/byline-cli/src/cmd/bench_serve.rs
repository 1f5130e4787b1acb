//! `byline bench serve`: a load test of `byline serve`. Starts the service as a child process
//! on a free loopback port (or uses `--url`), sends a fixed number of one-document requests
//! from 1, 8, 64... concurrent clients (keep-alive connections, byline-serve's minimal HTTP/1.1
//! client) and prints throughput, latency percentiles, errors by status and the server's peak
//! resident memory.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use byline_core::jsonl;
use byline_serve::client::Connection;

use super::serve::LISTENING;
use super::table::TextTable;

/// Documents sent when `--docs` is not given: short news sentences.
const DOCUMENTS: &[&str] = &[
    "Angela Merkel met Emmanuel Macron in Berlin on Tuesday.",
    "\"We will not raise taxes,\" the finance minister said on Monday.",
    "Shares of Siemens rose 3 percent in Frankfurt after the company raised its forecast.",
    "The United Nations said the talks in Geneva would resume next week.",
    "Police in Manchester said two men had been arrested, according to a spokesman.",
    "Microsoft and Google declined to comment on the report.",
    "\"It was a difficult decision,\" coach Joachim Loew told reporters in Munich.",
    "The European Commission will publish its proposal on Wednesday, officials said.",
];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model folder or hub id for the server [default: the committed models/byline-news-small]
    #[arg(long, env = "BYLINE_MODEL")]
    pub model: Option<String>,
    /// A running service (`http://host:port`) instead of starting one.
    #[arg(long)]
    pub url: Option<String>,
    /// Concurrent clients, one run per value.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    pub clients: Vec<usize>,
    /// Requests per run (one document each), shared among the clients.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// JSONL documents to send (cycled) [default: eight short news sentences]
    #[arg(long)]
    pub docs: Option<PathBuf>,
    /// The server's tensor threads (0: every core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// The server's --max-wait-ms.
    #[arg(long, default_value_t = 5)]
    pub max_wait_ms: u64,
    /// The server's --max-batch-words.
    #[arg(long, default_value_t = 4096)]
    pub max_batch_words: usize,
    /// The server's --queue-size (smaller than --clients: an overload test, 503s expected).
    #[arg(long, default_value_t = 256)]
    pub queue_size: usize,
    /// The server's --quantize.
    #[arg(long, default_value = "none")]
    pub quantize: String,
}

/// The outcome of one run.
#[derive(Debug, Default)]
struct Run {
    elapsed: Duration,
    /// Latencies of 200 answers.
    ok: Vec<Duration>,
    /// Other answers by status; `io` for a failed connection.
    errors: BTreeMap<String, usize>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let bodies = Arc::new(bodies(args.docs.as_deref())?);
    let mut server = match &args.url {
        Some(url) => Server::Remote(parse_url(url)?),
        None => Server::spawn(&args)?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let addr = server.addr();
    // One untimed request: the model's first batch allocates its buffers.
    runtime.block_on(drive(addr, Arc::clone(&bodies), 1, 2));
    let mut table = TextTable::new([
        "clients",
        "requests",
        "ok",
        "docs/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "peak RSS MiB",
    ]);
    for &clients in &args.clients {
        let clients = clients.max(1);
        let run = runtime.block_on(drive(addr, Arc::clone(&bodies), clients, args.requests));
        let answered = run.ok.len() + run.errors.values().sum::<usize>();
        if answered != args.requests {
            bail!("{answered} answers to {} requests", args.requests);
        }
        let mut latencies = run.ok.clone();
        latencies.sort();
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
                .map_or_else(
                    || "-".to_owned(),
                    |d| format!("{:.1}", d.as_secs_f64() * 1e3),
                )
        };
        let errors = if run.errors.is_empty() {
            "-".to_owned()
        } else {
            run.errors
                .iter()
                .map(|(status, n)| format!("{status}×{n}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        table.row(vec![
            clients.to_string(),
            args.requests.to_string(),
            run.ok.len().to_string(),
            format!("{:.1}", run.ok.len() as f64 / run.elapsed.as_secs_f64()),
            pct(0.5),
            pct(0.99),
            errors,
            server
                .peak_rss_mib()
                .map_or_else(|| "-".to_owned(), |m| format!("{m:.0}")),
        ]);
    }
    crate::write_stdout(&table.render())?;
    server.stop();
    Ok(ExitCode::SUCCESS)
}

/// `{"id", "text"}` request bodies, from `--docs` or the built-in sentences.
fn bodies(docs: Option<&Path>) -> Result<Vec<Vec<u8>>> {
    let body = |id: &str, text: &str| serde_json::json!({ "id": id, "text": text }).to_string();
    let Some(path) = docs else {
        return Ok(DOCUMENTS
            .iter()
            .enumerate()
            .map(|(i, t)| body(&(i + 1).to_string(), t).into_bytes())
            .collect());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let doc = jsonl::parse_line(line, path, i + 1)?;
        out.push(body(&doc.id, &doc.text).into_bytes());
    }
    if out.is_empty() {
        bail!("{}: no documents", path.display());
    }
    Ok(out)
}

/// `requests` requests from `clients` concurrent connections.
async fn drive(
    addr: SocketAddr,
    bodies: Arc<Vec<Vec<u8>>>,
    clients: usize,
    requests: usize,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (next, bodies) = (Arc::clone(&next), Arc::clone(&bodies));
            tokio::spawn(async move {
                let mut answers = Vec::new();
                let mut connection: Option<Connection> = None;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        break;
                    }
                    let body = &bodies[i % bodies.len()];
                    let sent = Instant::now();
                    let status = match send(&mut connection, addr, body).await {
                        Ok(status) => status.to_string(),
                        Err(_) => {
                            connection = None;
                            "io".to_owned()
                        }
                    };
                    answers.push((status, sent.elapsed()));
                }
                answers
            })
        })
        .collect();
    let mut run = Run::default();
    for task in tasks {
        for (status, latency) in task.await.unwrap_or_default() {
            if status == "200" {
                run.ok.push(latency);
            } else {
                *run.errors.entry(status).or_default() += 1;
            }
        }
    }
    run.elapsed = start.elapsed();
    run
}

async fn send(
    connection: &mut Option<Connection>,
    addr: SocketAddr,
    body: &[u8],
) -> std::io::Result<u16> {
    if connection.is_none() {
        *connection = Some(Connection::connect(addr).await?);
    }
    match connection {
        Some(c) => Ok(c.request("POST", "/v1/tag", body).await?.status),
        None => Err(std::io::ErrorKind::NotConnected.into()),
    }
}

fn parse_url(url: &str) -> Result<SocketAddr> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let host = rest.split('/').next().unwrap_or(rest);
    host.to_socket_addrs()
        .with_context(|| format!("cannot resolve {url}"))?
        .next()
        .with_context(|| format!("{url} resolves to no address"))
}

/// The service under test.
enum Server {
    Remote(SocketAddr),
    Child { child: Child, addr: SocketAddr },
}

impl Server {
    /// `byline serve` on a free loopback port: this executable, with the load test's flags.
    fn spawn(args: &Args) -> Result<Server> {
        let exe = std::env::current_exe().context("cannot find the byline executable")?;
        let mut cmd = std::process::Command::new(exe);
        cmd.args(["serve", "--addr", "127.0.0.1:0"])
            .args(["--threads", &args.threads.to_string()])
            .args(["--max-wait-ms", &args.max_wait_ms.to_string()])
            .args(["--max-batch-words", &args.max_batch_words.to_string()])
            .args(["--queue-size", &args.queue_size.to_string()])
            .args(["--quantize", &args.quantize])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(model) = &args.model {
            cmd.arg("--model").arg(model);
        }
        let mut child = cmd.spawn().context("cannot start byline serve")?;
        let stderr = child.stderr.take().context("no stderr from byline serve")?;
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(addr) = line.strip_prefix(LISTENING) {
                        break addr
                            .parse()
                            .with_context(|| format!("bad address in {line:?}"))?;
                    }
                    eprintln!("{line}");
                }
                _ => {
                    let _ = child.wait();
                    bail!("byline serve ended before listening");
                }
            }
        };
        // Keep draining the server's stderr so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("server: {line}");
            }
        });
        Ok(Server::Child { child, addr })
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Server::Remote(addr) | Server::Child { addr, .. } => *addr,
        }
    }

    /// The child's peak resident set (`VmHWM` of /proc/PID/status).
    fn peak_rss_mib(&self) -> Option<f64> {
        let Server::Child { child, .. } = self else {
            return None;
        };
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }

    /// SIGTERM (graceful), then a kill after five seconds.
    fn stop(&mut self) {
        let Server::Child { child, .. } = self else {
            return;
        };
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
