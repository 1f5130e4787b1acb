//! What the service is told: batching, queue, limits, deadlines (read by the server and by the
//! HTTP handlers; kept apart so neither imports the other for it).

use std::time::Duration;

use byline_infer::batch::BatchLimits;

/// How the service batches and what it accepts.
#[derive(Debug, Clone)]
pub struct Config {
    /// Micro-batching of documents from concurrent requests.
    pub limits: BatchLimits,
    /// Requests that may wait for the model; more are refused with 503.
    pub queue: usize,
    /// Largest request body; a larger one is refused with 413.
    pub max_body_bytes: usize,
    /// Most documents in one request; more are refused with 422.
    pub max_documents: usize,
    /// A request not answered this long after it arrived is answered 504.
    pub timeout: Duration,
    /// The model's name, reported by `/healthz`.
    pub model_name: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: BatchLimits::default(),
            queue: 256,
            max_body_bytes: 1 << 20,
            max_documents: 256,
            timeout: Duration::from_secs(30),
            model_name: String::new(),
        }
    }
}
