//! Per-word softmax cross-entropy, and the numerically stable log-sum-exp both losses use.
//!
//! Every loss of a [`crate::TaggerHead`] is a sum over the batch's sequences divided by the
//! number of real words ([`TagBatch::total_words`]), so the CRF and the softmax losses are on
//! the same scale and neither depends on the batch size or the padding.

use candle_core::{Result as CandleResult, Tensor, D};

use crate::error::Result;
use crate::tag_batch::TagBatch;

/// `log(sum(exp(x), dim))`, with `dim` removed. The max is detached: the result does not
/// depend on it, so its gradient would be zero anyway and only cost a backward pass.
pub(crate) fn log_sum_exp(x: &Tensor, dim: usize) -> CandleResult<Tensor> {
    let max = x.max_keepdim(dim)?.detach();
    x.broadcast_sub(&max)?
        .exp()?
        .sum_keepdim(dim)?
        .log()?
        .broadcast_add(&max)?
        .squeeze(dim)
}

/// Mean negative log-likelihood of the gold tags under an independent softmax per word.
/// `emissions`: (batch, words, tags) with `words >= gold.max_len()`; padding is ignored.
pub fn cross_entropy(emissions: &Tensor, gold: &TagBatch) -> Result<Tensor> {
    let em = gold.fit(emissions)?; // (batch, len, tags)
    if gold.total_words() == 0 {
        return Ok(Tensor::zeros((), em.dtype(), em.device())?);
    }
    let log_z = log_sum_exp(&em, 2)?; // (batch, len)
    let gold_scores = em
        .gather(&gold.tags.unsqueeze(D::Minus1)?, D::Minus1)?
        .squeeze(D::Minus1)?; // (batch, len)
    let nll = ((log_z - gold_scores)? * &gold.mask)?.sum_all()?;
    Ok((nll / gold.total_words() as f64)?)
}
