//! Dropout whose mask is never stored.
//!
//! `candle_nn::ops::dropout` draws a float per element, compares, converts and multiplies (five
//! full-size passes) and keeps the mask alive for the backward pass. On CPU/f32 this op derives
//! each element's keep/drop decision from a counter-based hash of (seed, index), so the forward
//! is one pass and the backward recomputes the same mask in one pass.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::kernels::cpu::{f32_slice, MIN_ELEMS_PER_TASK};

/// Zeroes each element with probability `p` and scales the rest by `1 / (1 - p)` when `train`
/// and `p > 0`; the identity otherwise.
pub fn dropout(xs: &Tensor, p: f32, train: bool) -> Result<Tensor> {
    if !train || p == 0.0 {
        return Ok(xs.clone());
    }
    super::check::probability(p)?;
    if super::check::fused(xs) {
        xs.contiguous()?.apply_op1(Dropout::new(p, next_seed()))
    } else {
        candle_nn::ops::dropout(xs, p)
    }
}

static BASE: AtomicU64 = AtomicU64::new(0);
static SEEDED: AtomicBool = AtomicBool::new(false);
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Restarts the masks from `seed`: the dropout calls after this draw the same masks whenever the
/// same calls follow the same seed. A trainer calls it before each step's forward pass with a
/// number from its own seeded (and checkpointed) generator, so a resumed run draws the masks an
/// uninterrupted one would. Without it the masks start from a per-process random seed. The
/// state is process-wide: concurrent training loops in one process share it.
pub fn reseed(seed: u64) {
    BASE.store(seed, Ordering::Relaxed);
    COUNTER.store(0, Ordering::Relaxed);
    SEEDED.store(true, Ordering::Release);
}

/// A fresh seed per call: a base (random per process, or set by [`reseed`]) plus a counter.
pub(crate) fn next_seed() -> u64 {
    if !SEEDED.load(Ordering::Acquire) {
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        if SEEDED
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            BASE.store(random, Ordering::Relaxed);
        }
    }
    splitmix64(
        BASE.load(Ordering::Relaxed)
            ^ COUNTER
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

#[inline(always)]
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A dropout mask that is never stored: element `i` is kept (and scaled) or dropped depending on
/// a hash of (seed, i), so the backward pass recomputes the forward's mask.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Dropout {
    /// Elements whose 32-bit hash is below this are dropped.
    threshold: u64,
    scale: f32,
    seed: u64,
}

impl Dropout {
    /// A mask dropping with probability `p` in `(0, 1)` under `seed`.
    pub(crate) fn new(p: f32, seed: u64) -> Self {
        Self {
            threshold: (p as f64 * (1u64 << 32) as f64) as u64,
            scale: 1.0 / (1.0 - p),
            seed,
        }
    }

    /// The factor element `i` is multiplied by: 0 or `1 / (1 - p)`.
    #[inline(always)]
    pub(crate) fn factor(&self, i: u64) -> f32 {
        if splitmix64(self.seed ^ i) >> 32 >= self.threshold {
            self.scale
        } else {
            0.0
        }
    }

    /// `out[i] = x[i] * mask(i)` over one contiguous buffer.
    fn apply(&self, x: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(MIN_ELEMS_PER_TASK)
            .zip(x.par_chunks(MIN_ELEMS_PER_TASK))
            .enumerate()
            .for_each(|(task, (o, x))| {
                let first = (task * MIN_ELEMS_PER_TASK) as u64;
                for (i, (o, &x)) in o.iter_mut().zip(x).enumerate() {
                    *o = x * self.factor(first + i as u64);
                }
            });
        out
    }
}

impl CustomOp1 for Dropout {
    fn name(&self) -> &'static str {
        "byline-dropout"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        Ok((CpuStorage::F32(self.apply(x)), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // The same mask, applied to the incoming gradient.
        Ok(Some(
            grad.contiguous()?
                .apply_op2_no_bwd(arg, &DropoutGrad(*self))?,
        ))
    }
}

/// Inputs (grad, x): the mask applied to `grad` (`x` only fixes the shape).
struct DropoutGrad(Dropout);

impl CustomOp2 for DropoutGrad {
    fn name(&self) -> &'static str {
        "byline-dropout-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        _s2: &CpuStorage,
        _l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = f32_slice(s1, l1, self.name())?;
        Ok((CpuStorage::F32(self.0.apply(g)), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn drops_the_right_fraction_and_rescales() -> Result<()> {
        let x = Tensor::ones(100_000, candle_core::DType::F32, &Device::Cpu)?;
        let y = dropout(&x, 0.25, true)?.to_vec1::<f32>()?;
        let kept = y.iter().filter(|v| **v != 0.0).count() as f64 / y.len() as f64;
        assert!((kept - 0.75).abs() < 0.01, "kept {kept}");
        assert!(y.iter().all(|v| *v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
        let z = dropout(&x, 0.25, true)?.to_vec1::<f32>()?;
        assert_ne!(y, z, "each call draws a new mask");
        assert_eq!(
            dropout(&x, 0.25, false)?.to_vec1::<f32>()?,
            vec![1.0; 100_000]
        );
        Ok(())
    }

    #[test]
    fn gradient_uses_the_forward_mask() -> Result<()> {
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (64, 300), &Device::Cpu)?)?;
        let y = dropout(x.as_tensor(), 0.3, true)?;
        let g = y.sum_all()?.backward()?;
        let g = g
            .get(&x)
            .expect("gradient")
            .flatten_all()?
            .to_vec1::<f32>()?;
        let y = y.flatten_all()?.to_vec1::<f32>()?;
        let x = x.flatten_all()?.to_vec1::<f32>()?;
        for ((g, y), x) in g.iter().zip(&y).zip(&x) {
            assert!((g * x - y).abs() < 1e-5, "grad {g} for x {x} -> y {y}");
        }
        Ok(())
    }
}
