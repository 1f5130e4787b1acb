//! Softmax over attention scores with an additive padding mask, differentiable.
//!
//! `candle_nn::ops::softmax_last_dim` has no backward pass. On CPU/f32 this is one fused kernel
//! (mask add, max, exp, normalise) with a fused backward `y * (g - sum(g * y))`; elsewhere it is
//! composed from ordinary ops.

use candle_core::{bail, CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

use crate::kernels::cpu::{f32_slice, rows_per_task};

/// `softmax(scale * scores + mask)` over the last dimension.
///
/// `scores`: (batch * heads, q, k); `mask`: (batch, k), additive (0 for real tokens, a large
/// negative number for padding).
pub fn masked_softmax(scores: &Tensor, mask: &Tensor, heads: usize, scale: f64) -> Result<Tensor> {
    let (bh, q, k) = scores.dims3()?;
    let (b, mk) = mask.dims2()?;
    if b * heads != bh || mk != k {
        bail!(
            "masked softmax: scores {:?} do not match mask {:?} with {heads} heads",
            scores.shape(),
            mask.shape()
        )
    }
    if super::check::fused(scores) {
        scores.contiguous()?.apply_op2(
            &mask.contiguous()?,
            MaskedSoftmax {
                heads,
                scale: scale as f32,
            },
        )
    } else {
        // Half-precision scores are normalised in f32 (as PyTorch's autocast does).
        let dtype = scores.dtype();
        let wide = matches!(dtype, DType::BF16 | DType::F16);
        let (scores, mask) = match wide {
            true => (scores.to_dtype(DType::F32)?, mask.to_dtype(DType::F32)?),
            false => (scores.clone(), mask.to_dtype(dtype)?),
        };
        let mask = mask.reshape((b, 1, 1, k))?;
        let scores = (scores.reshape((b, heads, q, k))? * scale)?.broadcast_add(&mask)?;
        let probs = candle_nn::ops::softmax(&scores, D::Minus1)?.reshape((bh, q, k))?;
        probs.to_dtype(dtype)
    }
}

struct MaskedSoftmax {
    heads: usize,
    scale: f32,
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "byline-masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let mask = f32_slice(s2, l2, self.name())?;
        let (_, q, k) = l1.shape().dims3()?;
        let rows_per_batch = self.heads * q;
        let mut out = vec![0f32; x.len()];
        let per_task = rows_per_task(k);
        out.par_chunks_mut(per_task * k)
            .zip(x.par_chunks(per_task * k))
            .enumerate()
            .for_each(|(task, (out, x))| {
                let first_row = task * per_task;
                for (r, (o, x)) in out.chunks_exact_mut(k).zip(x.chunks_exact(k)).enumerate() {
                    let batch = (first_row + r) / rows_per_batch;
                    let m = &mask[batch * k..(batch + 1) * k];
                    let mut max = f32::NEG_INFINITY;
                    for i in 0..k {
                        o[i] = x[i] * self.scale + m[i];
                        max = max.max(o[i]);
                    }
                    let mut sum = 0f32;
                    for v in o.iter_mut() {
                        *v = (*v - max).exp();
                        sum += *v;
                    }
                    let inv = 1.0 / sum;
                    o.iter_mut().for_each(|v| *v *= inv);
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _scores: &Tensor,
        _mask: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let d = res.apply_op2_no_bwd(&grad.contiguous()?, &SoftmaxGrad { scale: self.scale })?;
        Ok((Some(d), None))
    }
}

/// `scale * y * (g - sum(g * y))` per row; inputs (y, g).
struct SoftmaxGrad {
    scale: f32,
}

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "byline-softmax-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let y = f32_slice(s1, l1, self.name())?;
        let g = f32_slice(s2, l2, self.name())?;
        let k = l1.shape().dims().last().copied().unwrap_or(1).max(1);
        let mut out = vec![0f32; y.len()];
        let chunk = rows_per_task(k) * k;
        out.par_chunks_mut(chunk)
            .zip(y.par_chunks(chunk).zip(g.par_chunks(chunk)))
            .for_each(|(o, (y, g))| {
                for ((o, y), g) in o
                    .chunks_exact_mut(k)
                    .zip(y.chunks_exact(k))
                    .zip(g.chunks_exact(k))
                {
                    let dot: f32 = y.iter().zip(g).map(|(y, g)| y * g).sum();
                    for i in 0..k {
                        o[i] = self.scale * y[i] * (g[i] - dot);
                    }
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, finite_difference_check};
    use candle_core::{Device, Var};

    fn mask(dev: &Device) -> Result<Tensor> {
        // Batch 2, k 5: the second sequence has two padding positions.
        Tensor::new(&[[0f32, 0., 0., 0., 0.], [0., 0., 0., -1e9, -1e9]], dev)
    }

    #[test]
    fn fused_matches_composed_and_masks_padding() -> Result<()> {
        let dev = Device::Cpu;
        let scores = Tensor::randn(0f32, 2.0, (2 * 3, 4, 5), &dev)?;
        let m = mask(&dev)?;
        let fused = masked_softmax(&scores, &m, 3, 0.5)?;
        let composed = candle_nn::ops::softmax(
            &(scores.reshape((2, 3, 4, 5))? * 0.5)?.broadcast_add(&m.reshape((2, 1, 1, 5))?)?,
            D::Minus1,
        )?
        .reshape((6, 4, 5))?;
        assert_close(&fused, &composed, 1e-6)?;
        let padded = fused.narrow(0, 3, 3)?.narrow(2, 3, 2)?.abs()?.sum_all()?;
        assert!(padded.to_scalar::<f32>()? < 1e-12);
        Ok(())
    }

    #[test]
    fn gradient_matches_finite_differences() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2 * 2, 3, 5), &dev)?)?;
        let m = mask(&dev)?;
        let probe = Tensor::randn(0f32, 1.0, (4, 3, 5), &dev)?;
        let loss = |x: &Tensor| masked_softmax(x, &m, 2, 0.7)?.mul(&probe)?.sum_all();
        let grads = loss(x.as_tensor())?.backward()?;
        let analytic = grads.get(&x).expect("softmax passes the gradient on");
        let numeric = finite_difference_check(x.as_tensor(), loss)?;
        assert_close(analytic, &numeric, 1e-2)
    }
}
