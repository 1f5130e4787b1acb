//! Decoding a linear chain of tags on the CPU: constrained Viterbi and per-word marginals.
//!
//! A [`Chain`] holds transition, start and end scores over the tags of a [`TagSet`], with
//! `-inf` wherever the scheme forbids a transition, start or end. Decoding only ever walks
//! allowed edges, so the tags it returns always form a valid sequence of the scheme, whatever
//! the emission scores (NaN and infinities included).
//!
//! Both decoders of a [`crate::TaggerHead`] end here: the CRF with its learnt scores
//! ([`crate::Crf::chain`]), the softmax decoder with zeros ([`Chain::constrained`]).

use byline_core::TagSet;
use candle_core::{DType, Tensor};

use crate::error::{Error, Result};

/// Emission scores are clamped into this range before decoding, and NaN is read as its
/// negative, so sums of scores stay finite and comparable.
const CLAMP: f32 = 1e30;

/// One decoded sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Tag index (into the [`TagSet`]) of each word.
    pub tags: Vec<usize>,
    /// Marginal probability of each word's chosen tag under the chain (summed over all valid
    /// paths through that tag): a per-word confidence in `[0, 1]`.
    pub scores: Vec<f32>,
    /// Log-probability of the whole decoded path (`<= 0`).
    pub log_prob: f32,
}

/// Transition, start and end scores of a chain over `num_tags` tags; forbidden entries `-inf`.
#[derive(Debug, Clone)]
pub struct Chain {
    num_tags: usize,
    /// Row-major `from * num_tags + to`.
    transitions: Vec<f32>,
    start: Vec<f32>,
    end: Vec<f32>,
    /// For each tag, the tags allowed right before it.
    predecessors: Vec<Vec<usize>>,
}

impl Chain {
    /// Scores of zero on every allowed edge: decoding picks the best-scoring valid sequence of
    /// per-word scores alone.
    pub fn constrained(tags: &TagSet) -> Self {
        let n = tags.len();
        Self::build(tags, &vec![0.0; n * n], &vec![0.0; n], &vec![0.0; n])
    }

    /// Learnt scores (`transitions` row-major `from * n + to`, `start`, `end`), masked by the
    /// tag set's rules. Fails when a length does not match the tag set.
    pub fn with_scores(
        tags: &TagSet,
        transitions: &[f32],
        start: &[f32],
        end: &[f32],
    ) -> Result<Self> {
        let n = tags.len();
        for (what, found, expected) in [
            ("transitions", transitions.len(), n * n),
            ("start scores", start.len(), n),
            ("end scores", end.len(), n),
        ] {
            if found != expected {
                return Err(Error::Shape {
                    what: what.into(),
                    found: vec![found],
                    expected: vec![expected],
                });
            }
        }
        Ok(Self::build(tags, transitions, start, end))
    }

    /// Masks scores whose lengths match `tags` (checked by the callers).
    fn build(tags: &TagSet, transitions: &[f32], start: &[f32], end: &[f32]) -> Self {
        let n = tags.len();
        let mask = |allowed: bool, score: f32| if allowed { score } else { f32::NEG_INFINITY };
        let transitions = (0..n * n)
            .map(|k| mask(tags.allowed_transition(k / n, k % n), transitions[k]))
            .collect();
        let predecessors = (0..n)
            .map(|to| {
                (0..n)
                    .filter(|&from| tags.allowed_transition(from, to))
                    .collect()
            })
            .collect();
        Self {
            num_tags: n,
            transitions,
            start: (0..n)
                .map(|i| mask(tags.allowed_start(i), start[i]))
                .collect(),
            end: (0..n).map(|i| mask(tags.allowed_end(i), end[i])).collect(),
            predecessors,
        }
    }

    pub fn num_tags(&self) -> usize {
        self.num_tags
    }

    /// Decodes every sequence of a batch: `emissions` (batch, words, tags), `lengths[b]` real
    /// words in sequence `b` (the rest is padding and ignored).
    pub fn decode_batch(&self, emissions: &Tensor, lengths: &[usize]) -> Result<Vec<Decoded>> {
        let (batch, words, tags) = emissions.dims3()?;
        if tags != self.num_tags || batch != lengths.len() {
            return Err(Error::Shape {
                what: "emissions (batch, words, tags)".into(),
                found: vec![batch, words, tags],
                expected: vec![lengths.len(), words, self.num_tags],
            });
        }
        if let Some(&len) = lengths.iter().find(|&&len| len > words) {
            return Err(Error::Shape {
                what: "sequence length".into(),
                found: vec![len],
                expected: vec![words],
            });
        }
        // One copy of the whole batch to the host: (batch * words * tags,).
        let flat = emissions
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let row = words * tags;
        Ok(lengths
            .iter()
            .enumerate()
            .map(|(b, &len)| self.decode(&flat[b * row..b * row + len * tags]))
            .collect())
    }

    /// Decodes one sequence; `emissions` is `len * num_tags` scores, row-major by word.
    /// Trailing elements that do not fill a whole word are ignored.
    pub fn decode(&self, emissions: &[f32]) -> Decoded {
        let n = self.num_tags;
        let em = self.sanitized(emissions);
        let (tags, best) = self.viterbi(&em);
        let (alpha, beta, log_z) = self.forward_backward(&em);
        // A word's marginals are proportional to alpha * beta over its tags; both are kept
        // normalised per word, so they are normalised here rather than by the partition function.
        let mut terms = Vec::with_capacity(n);
        let scores = tags
            .iter()
            .enumerate()
            .map(|(s, &j)| {
                terms.clear();
                terms.extend((0..n).map(|k| alpha[s * n + k] + beta[s * n + k]));
                let norm = log_sum_exp(&terms);
                if norm == f32::NEG_INFINITY {
                    return 0.0;
                }
                (terms[j] - norm).exp().clamp(0.0, 1.0)
            })
            .collect();
        Decoded {
            tags,
            scores,
            log_prob: if em.is_empty() {
                0.0
            } else {
                (best - log_z).min(0.0) as f32
            },
        }
    }

    /// The highest-scoring valid tag sequence alone, without the marginals [`Chain::decode`]
    /// also computes; `emissions` as there.
    pub fn best_path(&self, emissions: &[f32]) -> Vec<usize> {
        self.viterbi(&self.sanitized(emissions)).0
    }

    /// `emissions` cut to whole words and sanitised (see [`CLAMP`]).
    fn sanitized(&self, emissions: &[f32]) -> Vec<f32> {
        let n = self.num_tags;
        emissions[..emissions.len() / n * n]
            .iter()
            .map(|&x| sanitize(x))
            .collect()
    }

    /// Highest-scoring valid path and its score. `em` is already sanitised.
    ///
    /// The running scores are shifted by their maximum after every word (the shifts summed in
    /// f64): a whole document's path sums thousands of scores, and unshifted f32 sums lose the
    /// small differences between competing paths as they grow.
    fn viterbi(&self, em: &[f32]) -> (Vec<usize>, f64) {
        let n = self.num_tags;
        let len = em.len() / n;
        if len == 0 {
            return (Vec::new(), 0.0);
        }
        let mut score: Vec<f32> = (0..n).map(|j| self.start[j] + em[j]).collect();
        let mut shift = shift_down(&mut score);
        let mut next = vec![f32::NEG_INFINITY; n];
        // back[s * n + j]: best predecessor of tag j at word s (s >= 1).
        let mut back = vec![0u32; len * n];
        for s in 1..len {
            for (j, slot) in next.iter_mut().enumerate() {
                let mut best = (f32::NEG_INFINITY, None);
                for &i in &self.predecessors[j] {
                    let v = score[i] + self.transitions[i * n + j];
                    if best.1.is_none() || v > best.0 {
                        best = (v, Some(i));
                    }
                }
                // O -> O is allowed in every scheme, so `predecessors[j]` is never empty for O;
                // a tag without any predecessor stays unreachable.
                back[s * n + j] = best.1.unwrap_or(0) as u32;
                *slot = if best.1.is_some() {
                    best.0 + em[s * n + j]
                } else {
                    f32::NEG_INFINITY
                };
            }
            std::mem::swap(&mut score, &mut next);
            shift += shift_down(&mut score);
        }
        let (mut tag, mut best) = (0, f32::NEG_INFINITY);
        for (j, (&s, &e)) in score.iter().zip(&self.end).enumerate() {
            let v = s + e;
            if v > best {
                (tag, best) = (j, v);
            }
        }
        let mut tags = vec![0; len];
        for s in (0..len).rev() {
            tags[s] = tag;
            tag = back[s * n + tag] as usize;
        }
        (tags, shift + best as f64)
    }

    /// Log-space forward and backward scores (`len * n` each), each word's shifted so that its
    /// forward (or backward) scores sum to 1 (for the reason given at [`Chain::viterbi`]), and
    /// the log partition function (the forward shifts summed in f64).
    fn forward_backward(&self, em: &[f32]) -> (Vec<f32>, Vec<f32>, f64) {
        let n = self.num_tags;
        let len = em.len() / n;
        if len == 0 {
            return (Vec::new(), Vec::new(), 0.0);
        }
        let mut alpha = vec![f32::NEG_INFINITY; len * n];
        let mut beta = vec![f32::NEG_INFINITY; len * n];
        alpha[..n]
            .iter_mut()
            .enumerate()
            .for_each(|(j, a)| *a = self.start[j] + em[j]);
        let mut log_z = normalise(&mut alpha[..n]);
        beta[(len - 1) * n..].copy_from_slice(&self.end);
        normalise(&mut beta[(len - 1) * n..]);
        let mut terms = Vec::with_capacity(n);
        for s in 1..len {
            for j in 0..n {
                terms.clear();
                terms.extend((0..n).map(|i| alpha[(s - 1) * n + i] + self.transitions[i * n + j]));
                alpha[s * n + j] = log_sum_exp(&terms) + em[s * n + j];
            }
            log_z += normalise(&mut alpha[s * n..(s + 1) * n]);
        }
        for s in (0..len - 1).rev() {
            for i in 0..n {
                terms.clear();
                terms.extend((0..n).map(|j| {
                    self.transitions[i * n + j] + em[(s + 1) * n + j] + beta[(s + 1) * n + j]
                }));
                beta[s * n + i] = log_sum_exp(&terms);
            }
            normalise(&mut beta[s * n..(s + 1) * n]);
        }
        terms.clear();
        terms.extend((0..n).map(|j| alpha[(len - 1) * n + j] + self.end[j]));
        (alpha, beta, log_z + log_sum_exp(&terms) as f64)
    }
}

/// Subtracts the largest finite score from every score and returns it (0 when none is finite).
fn shift_down(scores: &mut [f32]) -> f64 {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return 0.0;
    }
    scores.iter_mut().for_each(|x| *x -= max);
    max as f64
}

/// Shifts log-space scores so that their exponentials sum to 1 and returns the shift (0 when
/// every score is `-inf`).
fn normalise(scores: &mut [f32]) -> f64 {
    let total = log_sum_exp(scores);
    if !total.is_finite() {
        return 0.0;
    }
    scores.iter_mut().for_each(|x| *x -= total);
    total as f64
}

fn sanitize(x: f32) -> f32 {
    if x.is_nan() {
        -CLAMP
    } else {
        x.clamp(-CLAMP, CLAMP)
    }
}

/// `log(sum(exp(xs)))`, `-inf` for an empty slice or all `-inf`.
pub(crate) fn log_sum_exp(xs: &[f32]) -> f32 {
    let max = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return max;
    }
    max + xs.iter().map(|&x| (x - max).exp()).sum::<f32>().ln()
}
