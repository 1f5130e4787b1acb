//! A tiny random model whose entity head is forced to tag every word `B-PER` (each word one
//! entity), and an in-process server over it on a loopback port.

use std::net::SocketAddr;

use byline_model::Tagger;
use byline_serve::client::{self, Response};
use byline_serve::{bind, local_addr, serve, Config};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub fn forced_tagger() -> Tagger {
    byline_model::fixtures::forced_tagger()
        .and_then(|t| t.detached())
        .unwrap()
}

/// A server running in this process.
pub struct Server {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    pub handle: JoinHandle<byline_serve::Result<()>>,
}

impl Server {
    pub async fn start(config: Config) -> Server {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = local_addr(&listener).unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(serve(listener, forced_tagger(), config, async {
            let _ = rx.await;
        }));
        Server {
            addr,
            shutdown: Some(tx),
            handle,
        }
    }

    /// Asks the server to stop (what `SIGTERM` does).
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub async fn post(&self, body: &[u8]) -> Response {
        client::request(self.addr, "POST", "/v1/tag", body)
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        client::request(self.addr, "GET", path, b"").await.unwrap()
    }

    /// The value of a metric line `name value` in `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.get("/metrics").await.text();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
    }
}

pub fn json(response: &Response) -> serde_json::Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("{e}: {}", response.text()))
}
