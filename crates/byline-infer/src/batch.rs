//! Dynamic micro-batching: items that arrive close together are gathered into one batch, up to
//! a budget of words or until the first item has waited long enough.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How much is gathered into one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// A batch closes once its items hold this many words (whitespace-separated, counted by
    /// [`words`]). An item that would go past it waits for the next batch; an item larger than
    /// the budget is a batch of its own.
    pub max_words: usize,
    /// How long the first item of a batch waits for others to join it.
    pub max_wait: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_words: 4096,
            max_wait: Duration::from_millis(5),
        }
    }
}

/// The words of a text, as batching counts them: whitespace-separated runs, at least one.
pub fn words(text: &str) -> usize {
    text.split_whitespace().count().max(1)
}

/// A batch, and the item that arrived while gathering but did not fit (it starts the next one).
#[derive(Debug)]
pub struct Gathered<T> {
    pub batch: Vec<T>,
    pub leftover: Option<T>,
    /// Items dropped by `keep` while gathering.
    pub dropped: usize,
}

/// Gathers a batch that starts with `first`: more items from `rx` while the words of the batch
/// are under `limits.max_words` and `limits.max_wait` has not passed since the call. `weight`
/// gives an item's words; items for which `keep` is false (a request whose client left) are
/// dropped. Returns early when `rx` is disconnected.
pub fn gather<T>(
    rx: &Receiver<T>,
    first: T,
    limits: BatchLimits,
    weight: impl Fn(&T) -> usize,
    keep: impl Fn(&T) -> bool,
) -> Gathered<T> {
    let deadline = Instant::now() + limits.max_wait;
    let mut total = weight(&first);
    let mut out = Gathered {
        batch: vec![first],
        leftover: None,
        dropped: 0,
    };
    while total < limits.max_words {
        let left = deadline.saturating_duration_since(Instant::now());
        let item = if left.is_zero() {
            // Take what is already queued, without waiting.
            match rx.try_recv() {
                Ok(item) => item,
                Err(_) => break,
            }
        } else {
            match rx.recv_timeout(left) {
                Ok(item) => item,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        };
        if !keep(&item) {
            out.dropped += 1;
            continue;
        }
        let w = weight(&item);
        if total + w > limits.max_words {
            out.leftover = Some(item);
            break;
        }
        total += w;
        out.batch.push(item);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::sync_channel;

    use super::*;

    #[test]
    fn words_counts_whitespace_runs() {
        for (text, n) in [("", 1), ("one", 1), (" two  words\n", 2), ("a\tb c", 3)] {
            assert_eq!(words(text), n, "{text:?}");
        }
    }

    /// Each case: item weights queued before gathering (the first starts the batch), the word
    /// budget, the batch's weights and the leftover.
    #[test]
    fn gathers_up_to_the_word_budget() {
        type Case = (&'static [usize], usize, &'static [usize], Option<usize>);
        let cases: &[Case] = &[
            (&[1, 2, 3], 100, &[1, 2, 3], None),
            // The budget is met: the third stays queued.
            (&[4, 4, 4], 8, &[4, 4], None),
            (&[4, 3, 4], 8, &[4, 3], Some(4)),
            (&[50, 1], 8, &[50], None),
            (&[3, 6, 1], 8, &[3], Some(6)),
        ];
        for &(queued, max_words, batch, leftover) in cases {
            let (tx, rx) = sync_channel(16);
            for &w in &queued[1..] {
                tx.send(w).unwrap();
            }
            let limits = BatchLimits {
                max_words,
                max_wait: Duration::from_millis(20),
            };
            let g = gather(&rx, queued[0], limits, |&w| w, |_| true);
            assert_eq!(g.batch, batch, "{queued:?} under {max_words}");
            assert_eq!(g.leftover, leftover, "{queued:?} under {max_words}");
        }
    }

    #[test]
    fn stops_waiting_after_max_wait_and_drops_unwanted_items() {
        let (tx, rx) = sync_channel(16);
        tx.send(0).unwrap();
        tx.send(2).unwrap();
        let limits = BatchLimits {
            max_words: 100,
            max_wait: Duration::from_millis(30),
        };
        let start = Instant::now();
        let g = gather(&rx, 1, limits, |_| 1, |&x| x != 0);
        let waited = start.elapsed();
        assert_eq!(g.batch, vec![1, 2]);
        assert_eq!(g.dropped, 1);
        assert!(waited >= Duration::from_millis(30), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        drop(tx);
    }

    #[test]
    fn returns_at_once_when_the_senders_are_gone() {
        let (tx, rx) = sync_channel::<usize>(1);
        drop(tx);
        let limits = BatchLimits {
            max_words: 100,
            max_wait: Duration::from_secs(60),
        };
        let start = Instant::now();
        let g = gather(&rx, 1, limits, |_| 1, |_| true);
        assert_eq!(g.batch, vec![1]);
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
