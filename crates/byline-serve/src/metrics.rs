//! The service's counters, gauges and histograms, written in the Prometheus text format
//! (version 0.0.4) by [`Metrics::render`].

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the batch-size histogram, in documents.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Upper bounds of the latency histogram, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A cumulative histogram with fixed bucket bounds; `+Inf` is implicit.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, then the `+Inf` bucket (not cumulative here; summed on output).
    counts: Vec<AtomicU64>,
    /// The sum of observed values.
    sum: Mutex<f64>,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: Mutex::new(0.0),
        }
    }

    pub fn observe(&self, value: f64) {
        let bucket = self
            .bounds
            .iter()
            .position(|&b| value <= b)
            .unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        if let Ok(mut sum) = self.sum.lock() {
            *sum += value;
        }
    }

    /// How many values were observed.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let sum = self.sum.lock().map_or(0.0, |s| *s);
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {cumulative}");
    }
}

/// Everything `/metrics` reports. Shared by the HTTP handlers and the inference thread.
#[derive(Debug)]
pub struct Metrics {
    /// Answers to `POST /v1/tag`, by HTTP status.
    requests: Mutex<BTreeMap<u16, u64>>,
    /// Documents tagged (each document of a batch request counts).
    pub documents: AtomicU64,
    /// Documents whose result is an error record.
    pub document_errors: AtomicU64,
    /// Whitespace-separated words of the documents tagged.
    pub words: AtomicU64,
    /// Batches run by the model.
    pub batch_documents: Histogram,
    /// Words per batch.
    pub batch_words: Histogram,
    /// Requests admitted and not yet in a running batch.
    pub queue_depth: AtomicI64,
    /// Time from a request's arrival to its answer, for every `POST /v1/tag`.
    pub latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::new(BTreeMap::new()),
            documents: AtomicU64::new(0),
            document_errors: AtomicU64::new(0),
            words: AtomicU64::new(0),
            batch_documents: Histogram::new(BATCH_BUCKETS),
            batch_words: Histogram::new(&[16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0]),
            queue_depth: AtomicI64::new(0),
            latency: Histogram::new(LATENCY_BUCKETS),
        }
    }
}

impl Metrics {
    /// Counts one answer to `POST /v1/tag` and its latency.
    pub fn request(&self, status: u16, elapsed: Duration) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry(status).or_default() += 1;
        }
        self.latency.observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP byline_requests_total Answers to POST /v1/tag, by HTTP status.\n\
             # TYPE byline_requests_total counter\n",
        );
        if let Ok(requests) = self.requests.lock() {
            for (status, n) in requests.iter() {
                let _ = writeln!(out, "byline_requests_total{{status=\"{status}\"}} {n}");
            }
        }
        let counter = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            let v = v.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            &mut out,
            "byline_documents_total",
            "Documents tagged.",
            &self.documents,
        );
        counter(
            &mut out,
            "byline_document_errors_total",
            "Documents answered with an error record.",
            &self.document_errors,
        );
        counter(
            &mut out,
            "byline_words_total",
            "Whitespace-separated words of the documents tagged.",
            &self.words,
        );
        let depth = self.queue_depth.load(Ordering::Relaxed).max(0);
        let _ = writeln!(
            out,
            "# HELP byline_queue_depth Requests waiting for the model.\n\
             # TYPE byline_queue_depth gauge\nbyline_queue_depth {depth}"
        );
        self.batch_documents.render(
            &mut out,
            "byline_batch_documents",
            "Documents per model batch.",
        );
        self.batch_words
            .render(&mut out, "byline_batch_words", "Words per model batch.");
        self.latency.render(
            &mut out,
            "byline_request_duration_seconds",
            "Time from a POST /v1/tag request's arrival to its answer.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new(&[1.0, 2.0, 4.0]);
        for v in [1.0, 1.5, 3.0, 9.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            &lines[2..],
            &[
                "x_bucket{le=\"1\"} 1",
                "x_bucket{le=\"2\"} 2",
                "x_bucket{le=\"4\"} 3",
                "x_bucket{le=\"+Inf\"} 4",
                "x_sum 14.5",
                "x_count 4",
            ]
        );
        assert_eq!(h.count(), 4);
    }

    #[test]
    fn requests_are_counted_by_status() {
        let m = Metrics::default();
        m.request(200, Duration::from_millis(3));
        m.request(200, Duration::from_millis(3));
        m.request(503, Duration::from_millis(1));
        let text = m.render();
        assert!(text.contains("byline_requests_total{status=\"200\"} 2\n"));
        assert!(text.contains("byline_requests_total{status=\"503\"} 1\n"));
        assert!(text.contains("byline_request_duration_seconds_count 3\n"));
    }
}
