//! A linear-chain conditional random field over the tags of a [`TagSet`].
//!
//! Learnable transition (tags × tags), start and end scores, named like pytorch-crf
//! (`transitions`, `start_transitions`, `end_transitions`;
//! <https://github.com/kmkurn/pytorch-crf/blob/master/torchcrf/__init__.py>). Transitions,
//! starts and ends the scheme forbids are not learnable: the loss replaces them with
//! [`DISALLOWED`] (so their gradient is exactly zero), and decoding never takes them.

use byline_core::TagSet;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::chain::{Chain, Decoded};
use crate::error::{Error, Result};
use crate::loss::log_sum_exp;
use crate::tag_batch::TagBatch;

/// Score given to a forbidden transition, start or end in the loss: `exp` of it is 0 in f32,
/// while sums of it stay finite.
pub const DISALLOWED: f32 = -1e4;

#[derive(Debug, Clone)]
pub struct Crf {
    tags: TagSet,
    /// (tags, tags), `[from, to]`.
    transitions: Tensor,
    /// (tags,)
    start: Tensor,
    /// (tags,)
    end: Tensor,
    /// 1.0 where allowed, 0.0 where forbidden, and [`DISALLOWED`] / 0.0 to add: the effective
    /// scores are `learnt * allowed + penalty`.
    transitions_mask: Mask,
    start_mask: Mask,
    end_mask: Mask,
}

#[derive(Debug, Clone)]
struct Mask {
    allowed: Tensor,
    penalty: Tensor,
}

impl Mask {
    fn new(allowed: &[bool], shape: &[usize], device: &Device) -> Result<Self> {
        let ones: Vec<f32> = allowed.iter().map(|&a| if a { 1.0 } else { 0.0 }).collect();
        let penalty: Vec<f32> = allowed
            .iter()
            .map(|&a| if a { 0.0 } else { DISALLOWED })
            .collect();
        Ok(Self {
            allowed: Tensor::from_vec(ones, shape, device)?,
            penalty: Tensor::from_vec(penalty, shape, device)?,
        })
    }

    fn apply(&self, learnt: &Tensor) -> Result<Tensor> {
        Ok(((learnt * &self.allowed)? + &self.penalty)?)
    }
}

impl Crf {
    /// Loads (or creates, zero-initialised) `transitions`, `start_transitions` and
    /// `end_transitions` under `vb`.
    pub fn load(vb: VarBuilder, tags: &TagSet) -> Result<Self> {
        let n = tags.len();
        let zeros = candle_nn::Init::Const(0.0);
        let transitions = vb.get_with_hints((n, n), "transitions", zeros)?;
        let start = vb.get_with_hints(n, "start_transitions", zeros)?;
        let end = vb.get_with_hints(n, "end_transitions", zeros)?;
        Self::new(tags, transitions, start, end)
    }

    /// A CRF with the given scores: `transitions` (tags, tags), `start` and `end` (tags,).
    pub fn new(tags: &TagSet, transitions: Tensor, start: Tensor, end: Tensor) -> Result<Self> {
        let n = tags.len();
        for (what, t, expected) in [
            ("CRF transitions", &transitions, vec![n, n]),
            ("CRF start scores", &start, vec![n]),
            ("CRF end scores", &end, vec![n]),
        ] {
            if t.dims() != expected.as_slice() {
                return Err(Error::Shape {
                    what: what.into(),
                    found: t.dims().to_vec(),
                    expected,
                });
            }
        }
        let device = transitions.device().clone();
        Ok(Self {
            transitions_mask: Mask::new(tags.transition_matrix(), &[n, n], &device)?,
            start_mask: Mask::new(tags.start_mask(), &[n], &device)?,
            end_mask: Mask::new(tags.end_mask(), &[n], &device)?,
            tags: tags.clone(),
            transitions,
            start,
            end,
        })
    }

    pub fn tag_set(&self) -> &TagSet {
        &self.tags
    }

    /// The learnt transition scores (tags, tags), forbidden entries included (they are unused).
    pub fn transitions(&self) -> &Tensor {
        &self.transitions
    }

    pub fn start(&self) -> &Tensor {
        &self.start
    }

    pub fn end(&self) -> &Tensor {
        &self.end
    }

    /// Mean negative log-likelihood per word of the gold paths:
    /// `sum_b (log Z_b - score_b(gold_b)) / total_words`. `emissions`: (batch, words, tags),
    /// `words >= gold.max_len()`; padding words change nothing.
    ///
    /// The forward algorithm runs all sequences of the batch together, one step per word, in
    /// log space; a sequence that has ended keeps its scores through the remaining steps.
    pub fn nll(&self, emissions: &Tensor, gold: &TagBatch) -> Result<Tensor> {
        let em = gold.fit(emissions)?; // (batch, len, tags)
        if gold.total_words() == 0 {
            return Ok(Tensor::zeros((), DType::F32, em.device())?);
        }
        let transitions = self.transitions_mask.apply(&self.transitions)?; // (tags, tags)
        let start = self.start_mask.apply(&self.start)?; // (tags,)
        let end = self.end_mask.apply(&self.end)?; // (tags,)
        let log_z = self.log_partition(&em, gold, &transitions, &start, &end)?; // (batch,)
        let gold_score = gold_score(&em, gold, &transitions, &start, &end)?; // (batch,)
        let nll = ((log_z - gold_score)? * &gold.nonempty)?.sum_all()?;
        Ok((nll / gold.total_words() as f64)?)
    }

    fn log_partition(
        &self,
        em: &Tensor,
        gold: &TagBatch,
        transitions: &Tensor,
        start: &Tensor,
        end: &Tensor,
    ) -> Result<Tensor> {
        let (batch, len, tags) = em.dims3()?;
        let mut alpha = em.narrow(1, 0, 1)?.squeeze(1)?.broadcast_add(start)?; // (batch, tags)
        for s in 1..len {
            let scores = alpha.unsqueeze(2)?.broadcast_add(transitions)?; // (batch, from, to)
            let next = (log_sum_exp(&scores, 1)? + em.narrow(1, s, 1)?.squeeze(1)?)?; // (batch, tags)
            let active = gold.mask_u8.narrow(1, s, 1)?.broadcast_as((batch, tags))?; // (batch, tags)
            alpha = active.where_cond(&next, &alpha)?;
        }
        Ok(log_sum_exp(&alpha.broadcast_add(end)?, 1)?) // (batch,)
    }

    /// The CRF's current scores as a CPU [`Chain`], for decoding.
    pub fn chain(&self) -> Result<Chain> {
        let host = |t: &Tensor| -> Result<Vec<f32>> {
            Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
        };
        Chain::with_scores(
            &self.tags,
            &host(&self.transitions)?,
            &host(&self.start)?,
            &host(&self.end)?,
        )
    }

    /// Viterbi decoding of `emissions` (batch, words, tags), `lengths[b]` real words each.
    pub fn decode(&self, emissions: &Tensor, lengths: &[usize]) -> Result<Vec<Decoded>> {
        self.chain()?.decode_batch(emissions, lengths)
    }
}

/// Score of each gold path: emissions + start + transitions + end. (batch,)
fn gold_score(
    em: &Tensor,
    gold: &TagBatch,
    transitions: &Tensor,
    start: &Tensor,
    end: &Tensor,
) -> Result<Tensor> {
    let (batch, len, _) = em.dims3()?;
    let emitted = em.gather(&gold.tags.unsqueeze(2)?, 2)?.squeeze(2)?; // (batch, len)
    let mut score = (emitted * &gold.mask)?.sum(1)?; // (batch,)
    score = (score + start.index_select(&gold.first, 0)?)?;
    score = (score + end.index_select(&gold.last, 0)?)?;
    if let Some(pairs) = &gold.pairs {
        let moved = transitions
            .flatten_all()?
            .index_select(pairs, 0)?
            .reshape((batch, len - 1))?; // (batch, len - 1)
        score = (score + (moved * gold.mask.narrow(1, 1, len - 1)?)?.sum(1)?)?;
    }
    Ok(score)
}
