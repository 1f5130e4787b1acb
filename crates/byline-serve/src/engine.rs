//! The one model instance: a dedicated thread that owns the tagger, fed by a bounded queue of
//! requests, tagging the documents of requests that arrive together as one batch and
//! answering each request through its own oneshot channel. The async runtime never runs the
//! model.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use byline_core::Document;
use byline_infer::{DocError, Model, Pipeline, Tagged};
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::metrics::Metrics;
use byline_infer::batch::{gather, words, BatchLimits};

/// The results of one request's documents, in order.
pub type Results = Vec<Result<Tagged, DocError>>;

/// One request's documents and where their results go.
#[derive(Debug)]
struct Job {
    docs: Vec<Document>,
    words: usize,
    reply: oneshot::Sender<Results>,
}

/// Why a request was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("the queue is full")]
    QueueFull,
    #[error("the service is shutting down")]
    Closed,
}

/// The handle that queues requests for the inference thread. Dropping it (every clone of the
/// service state) lets the thread finish what is queued and end.
#[derive(Debug)]
pub struct Engine {
    /// `None` once closed.
    tx: Mutex<Option<SyncSender<Job>>>,
    capacity: usize,
    metrics: Arc<Metrics>,
}

impl Engine {
    /// Starts the inference thread, which owns `model`. At most `queue` requests wait for the
    /// model (in the queue or gathered into a batch not yet running); more are refused with
    /// [`SubmitError::QueueFull`].
    pub fn start(
        model: Model,
        limits: BatchLimits,
        queue: usize,
        metrics: Arc<Metrics>,
    ) -> Result<(Engine, JoinHandle<()>)> {
        Pipeline::for_model(&model)?;
        let capacity = queue.max(1);
        let (tx, rx) = sync_channel(capacity);
        let thread_metrics = Arc::clone(&metrics);
        let thread = std::thread::Builder::new()
            .name("byline-model".into())
            .spawn(move || run(&model, &rx, limits, &thread_metrics))
            .map_err(|source| Error::Io {
                what: "cannot start the inference thread",
                source,
            })?;
        Ok((
            Engine {
                tx: Mutex::new(Some(tx)),
                capacity,
                metrics,
            },
            thread,
        ))
    }

    /// Queues documents; the receiver gets one result per document, in order.
    pub fn submit(&self, docs: Vec<Document>) -> Result<oneshot::Receiver<Results>, SubmitError> {
        let depth = &self.metrics.queue_depth;
        if depth.fetch_add(1, Ordering::SeqCst) >= self.capacity as i64 {
            depth.fetch_sub(1, Ordering::SeqCst);
            return Err(SubmitError::QueueFull);
        }
        let (reply, rx) = oneshot::channel();
        let words = docs.iter().map(|d| words(&d.text)).sum();
        let sent = match self.tx.lock().as_deref() {
            Ok(Some(tx)) => tx
                .try_send(Job { docs, words, reply })
                .map_err(|e| match e {
                    TrySendError::Full(_) => SubmitError::QueueFull,
                    TrySendError::Disconnected(_) => SubmitError::Closed,
                }),
            _ => Err(SubmitError::Closed),
        };
        if sent.is_err() {
            depth.fetch_sub(1, Ordering::SeqCst);
        }
        sent.map(|()| rx)
    }

    /// Refuses further requests ([`SubmitError::Closed`]); the inference thread finishes what
    /// is queued and ends.
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
    }
}

/// The inference thread: batch after batch until every sender is gone and the queue is empty.
fn run(model: &Model, rx: &Receiver<Job>, limits: BatchLimits, metrics: &Metrics) {
    let pipeline = match Pipeline::for_model(model) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("the model cannot tag: {e}");
            return;
        }
    };
    let left = |n: usize| metrics.queue_depth.fetch_sub(n as i64, Ordering::SeqCst);
    let mut leftover = None;
    loop {
        let first = match leftover.take() {
            Some(job) => job,
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => break,
            },
        };
        if first.reply.is_closed() {
            left(1);
            continue;
        }
        let gathered = gather(rx, first, limits, |j| j.words, |j| !j.reply.is_closed());
        left(gathered.batch.len() + gathered.dropped);
        leftover = gathered.leftover;
        // Requests whose clients left (or whose deadline passed) while the batch gathered.
        let mut batch = gathered.batch;
        batch.retain(|j| !j.reply.is_closed());
        if !batch.is_empty() {
            tag_batch(&pipeline, batch, metrics);
        }
    }
    tracing::debug!("the inference thread ends: queue drained");
}

/// Tags the documents of `jobs` as one chunk and answers each job with its results.
fn tag_batch(pipeline: &Pipeline<'_>, jobs: Vec<Job>, metrics: &Metrics) {
    let mut docs = Vec::new();
    let mut replies = Vec::with_capacity(jobs.len());
    let mut words = 0;
    for job in jobs {
        replies.push((job.reply, job.docs.len()));
        words += job.words;
        docs.extend(job.docs);
    }
    let ids: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
    metrics.batch_documents.observe(docs.len() as f64);
    metrics.batch_words.observe(words as f64);
    let _span = tracing::debug_span!("batch", documents = docs.len(), words).entered();
    let results =
        catch_unwind(AssertUnwindSafe(|| pipeline.tag_chunk(docs))).unwrap_or_else(|_| {
            tracing::error!("the model panicked on a batch of {} documents", ids.len());
            ids.iter()
                .map(|id| Err(DocError::new(id, "internal error while tagging")))
                .collect()
        });
    let failed = results.iter().filter(|r| r.is_err()).count();
    metrics
        .documents
        .fetch_add(results.len() as u64, Ordering::Relaxed);
    metrics
        .document_errors
        .fetch_add(failed as u64, Ordering::Relaxed);
    metrics.words.fetch_add(words as u64, Ordering::Relaxed);
    let mut results = results.into_iter();
    for (reply, n) in replies {
        let mine: Results = results.by_ref().take(n).collect();
        // A client that left no longer listens; its results are dropped.
        let _ = reply.send(mine);
    }
}
