//! A tiny random model whose entity head is forced to tag every word `B-PER` (each word one
//! entity), and an in-process server over it on a loopback port.

use std::net::SocketAddr;

use byline_core::Scheme;
use byline_model::{
    Config as EncoderConfig, DecoderKind, HeadSpec, LoadOptions, Pretrained, Tagger, TaggerConfig,
    Tokenizer, WindowConfig,
};
use byline_serve::client::{self, Response};
use byline_serve::{bind, local_addr, serve, Config};
use candle_core::{Device, Tensor};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const VOCAB: &[&str] = &[
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "mer",
    "##kel",
    "met",
    "the",
    "in",
    "berlin",
    ".",
    ",",
    "said",
    "officials",
    "\"",
    "we",
    "will",
    "win",
];

/// `B-PER` in IOB2 over LOC, MISC, ORG, PER.
const B_PER: usize = 7;

pub fn forced_tagger() -> Tagger {
    let config = EncoderConfig {
        vocab_size: VOCAB.len(),
        ..EncoderConfig::tiny()
    };
    let spec = TaggerConfig {
        heads: vec![
            HeadSpec::entities(
                "entities",
                Scheme::Iob2,
                &["LOC", "MISC", "ORG", "PER"],
                DecoderKind::Softmax,
            ),
            HeadSpec::attributions("attributions", Scheme::Iob2, DecoderKind::Crf),
        ],
        window: WindowConfig {
            max_subwords: 24,
            overlap: 6,
        },
        casing: true,
    };
    let pretrained = Pretrained::random(&config, &LoadOptions::default()).unwrap();
    let tagger = Tagger::new(pretrained, Tokenizer::from_vocab(VOCAB).unwrap(), spec).unwrap();
    for (name, var, _) in tagger.trainable() {
        if name == "heads.entities.classifier.weight" {
            var.set(&var.zeros_like().unwrap()).unwrap();
        } else if name == "heads.entities.classifier.bias" {
            let mut bias = vec![0f32; var.dims()[0]];
            bias[B_PER] = 20.0;
            var.set(&Tensor::new(bias, &Device::Cpu).unwrap()).unwrap();
        }
    }
    tagger.detached().unwrap()
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
