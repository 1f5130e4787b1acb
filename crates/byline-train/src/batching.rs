//! The data order: which examples form each batch of a pass over a task's training data.
//! Deterministic from (seed, task, epoch), so a resumed run needs only the epoch and position.
//!
//! Examples are shuffled, cut into chunks of `bucket_batches × batch_size`, sorted by length
//! within each chunk, and cut into batches of at most `batch_size` examples and at most
//! `max_tokens` padded tokens (`examples × longest`); then the batches are shuffled. Batches thus
//! hold examples of similar length (little padding) while the order stays random.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// How batches are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPlan {
    pub batch_size: usize,
    pub max_tokens: Option<usize>,
    pub bucket_batches: usize,
}

/// The ChaCha stream of the data order of (task, epoch); streams 0 and 1 are the trainer's task
/// sampler and dropout generators.
pub(crate) fn data_stream(task: usize, epoch: usize) -> u64 {
    ((task as u64 + 1) << 32) | (epoch as u64 & 0xffff_ffff)
}

impl BatchPlan {
    /// The batches (example indices) of pass `epoch` over a task whose examples have lengths
    /// `lens`. Every example appears exactly once.
    pub fn epoch(&self, lens: &[usize], seed: u64, task: usize, epoch: usize) -> Vec<Vec<usize>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(data_stream(task, epoch));
        let mut order: Vec<usize> = (0..lens.len()).collect();
        order.shuffle(&mut rng);
        let batch_size = self.batch_size.max(1);
        let chunk = batch_size.saturating_mul(self.bucket_batches.max(1));
        let mut batches = Vec::new();
        for piece in order.chunks_mut(chunk) {
            piece.sort_by_key(|&i| lens[i]);
            let mut current: Vec<usize> = Vec::with_capacity(batch_size);
            let mut longest = 0;
            for &i in piece.iter() {
                let longer = longest.max(lens[i]);
                let too_many = current.len() == batch_size;
                let too_long = self
                    .max_tokens
                    .is_some_and(|max| (current.len() + 1) * longer > max);
                if !current.is_empty() && (too_many || too_long) {
                    batches.push(std::mem::take(&mut current));
                    longest = 0;
                }
                longest = longest.max(lens[i]);
                current.push(i);
            }
            if !current.is_empty() {
                batches.push(current);
            }
        }
        batches.shuffle(&mut rng);
        batches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lens(n: usize) -> Vec<usize> {
        (0..n).map(|i| 1 + (i * 37) % 50).collect()
    }

    #[test]
    fn every_example_once_and_limits_hold() {
        let lens = lens(1000);
        let cases = [
            BatchPlan {
                batch_size: 16,
                max_tokens: None,
                bucket_batches: 50,
            },
            BatchPlan {
                batch_size: 16,
                max_tokens: Some(300),
                bucket_batches: 10,
            },
            BatchPlan {
                batch_size: 7,
                max_tokens: Some(40),
                bucket_batches: 1,
            },
            BatchPlan {
                batch_size: 1,
                max_tokens: None,
                bucket_batches: 3,
            },
        ];
        for plan in cases {
            let batches = plan.epoch(&lens, 3, 0, 0);
            let mut seen: Vec<usize> = batches.concat();
            seen.sort();
            assert_eq!(seen, (0..1000).collect::<Vec<_>>(), "{plan:?}");
            for b in &batches {
                let longest = b.iter().map(|&i| lens[i]).max().unwrap();
                assert!(b.len() <= plan.batch_size, "{plan:?}");
                if let Some(max) = plan.max_tokens {
                    assert!(b.len() == 1 || b.len() * longest <= max, "{plan:?}: {b:?}");
                }
            }
        }
    }

    #[test]
    fn an_example_longer_than_the_token_limit_travels_alone() {
        let plan = BatchPlan {
            batch_size: 4,
            max_tokens: Some(10),
            bucket_batches: 10,
        };
        let batches = plan.epoch(&[3, 30, 2, 3], 0, 0, 0);
        assert!(batches.contains(&vec![1]), "{batches:?}");
    }

    #[test]
    fn bucketing_cuts_padding() {
        let lens = lens(2000);
        let padding = |plan: BatchPlan| -> usize {
            plan.epoch(&lens, 1, 0, 0)
                .iter()
                .map(|b| {
                    let longest = b.iter().map(|&i| lens[i]).max().unwrap();
                    b.iter().map(|&i| longest - lens[i]).sum::<usize>()
                })
                .sum()
        };
        let unbucketed = padding(BatchPlan {
            batch_size: 16,
            max_tokens: None,
            bucket_batches: 1,
        });
        let bucketed = padding(BatchPlan {
            batch_size: 16,
            max_tokens: None,
            bucket_batches: 50,
        });
        assert!(bucketed * 10 < unbucketed, "{bucketed} vs {unbucketed}");
    }

    #[test]
    fn order_depends_on_seed_task_and_epoch_only() {
        let lens = lens(100);
        let plan = BatchPlan {
            batch_size: 8,
            max_tokens: None,
            bucket_batches: 2,
        };
        let base = plan.epoch(&lens, 9, 0, 0);
        assert_eq!(plan.epoch(&lens, 9, 0, 0), base);
        for other in [
            plan.epoch(&lens, 10, 0, 0),
            plan.epoch(&lens, 9, 1, 0),
            plan.epoch(&lens, 9, 0, 1),
        ] {
            assert_ne!(other, base);
        }
    }
}
