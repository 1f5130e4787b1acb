//! LayerNorm over the last dimension, differentiable.
//!
//! `candle_nn::LayerNorm` takes a fused fast path registered without a backward pass, so
//! gradients silently stop at it. Here the CPU/f32 path is a fused [`CustomOp3`] with a
//! hand-written, fused backward (one pass for dx, dw and db); other devices and dtypes use
//! ordinary differentiable tensor ops.
//!
//! Port of `torch.nn.LayerNorm` as used by `transformers`' `BertLayerNorm`.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, D};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use crate::kernels::cpu::{add_partials, f32_slice, rows_per_task};

#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    pub fn new(weight: Tensor, bias: Tensor, eps: f64) -> Self {
        Self { weight, bias, eps }
    }

    /// Loads `weight` and `bias` (Hugging Face names) of size `size`.
    pub fn load(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        let weight = vb.get_with_hints(size, "weight", candle_nn::Init::Const(1.0))?;
        let bias = vb.get_with_hints(size, "bias", candle_nn::Init::Const(0.0))?;
        Ok(Self::new(weight, bias, eps))
    }

    /// Loads `weight` of a LayerNorm with or without `bias` (ModernBERT's `norm_bias = false`:
    /// the bias is then a zero constant, not a parameter).
    pub fn load_maybe_bias(vb: VarBuilder, size: usize, eps: f64, bias: bool) -> Result<Self> {
        if bias {
            return Self::load(vb, size, eps);
        }
        let weight = vb.get_with_hints(size, "weight", candle_nn::Init::Const(1.0))?;
        let bias = Tensor::zeros(size, weight.dtype(), weight.device())?;
        Ok(Self::new(weight, bias, eps))
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// Normalises over the last dimension of `xs` (any leading shape).
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        layer_norm(xs, &self.weight, &self.bias, self.eps)
    }
}

/// Differentiable LayerNorm: the fused kernel on CPU/f32, composed ops elsewhere.
///
/// Input in another dtype than the weights (bf16 activations under f32 weights, in mixed
/// precision) is normalised in the weights' dtype and cast back.
pub fn layer_norm(xs: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    super::check::last_dim_vectors("layer_norm", xs, &[("weight", weight), ("bias", bias)])?;
    if xs.dtype() != weight.dtype() {
        let normed = layer_norm(&xs.to_dtype(weight.dtype())?, weight, bias, eps)?;
        return normed.to_dtype(xs.dtype());
    }
    if super::check::fused(xs) {
        xs.contiguous()?.apply_op3(
            &weight.contiguous()?,
            &bias.contiguous()?,
            LayerNormOp { eps: eps as f32 },
        )
    } else {
        layer_norm_composed(xs, weight, bias, eps)
    }
}

/// LayerNorm from plain differentiable tensor ops (reference and non-CPU path).
pub fn layer_norm_composed(
    xs: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    let mean = xs.mean_keepdim(D::Minus1)?;
    let centred = xs.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centred.broadcast_div(&(var + eps)?.sqrt()?)?;
    normed.broadcast_mul(weight)?.broadcast_add(bias)
}

/// Mean and 1/std of one row.
#[inline]
fn row_stats(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

struct LayerNormOp {
    eps: f32,
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "byline-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let w = f32_slice(s2, l2, self.name())?;
        let b = f32_slice(s3, l3, self.name())?;
        let h = w.len();
        let mut out = vec![0f32; x.len()];
        let chunk = rows_per_task(h) * h;
        out.par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk))
            .for_each(|(out, x)| {
                for (o, x) in out.chunks_exact_mut(h).zip(x.chunks_exact(h)) {
                    let (mean, rstd) = row_stats(x, self.eps);
                    for i in 0..h {
                        o[i] = (x[i] - mean) * rstd * w[i] + b[i];
                    }
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let h = w.dim(0)?;
        let rows = x.elem_count() / h;
        // (rows + 2, hidden): dx rows, then dw, then db.
        let packed =
            x.apply_op3_no_bwd(w, &grad.contiguous()?, &LayerNormGradOp { eps: self.eps })?;
        let dx = packed.narrow(0, 0, rows)?.reshape(x.shape())?;
        let dw = packed.get(rows)?;
        let db = packed.get(rows + 1)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// Fused LayerNorm backward: inputs (x, weight, grad_out); output (rows + 2, hidden) holding
/// dx, then dw and db as the last two rows.
struct LayerNormGradOp {
    eps: f32,
}

impl CustomOp3 for LayerNormGradOp {
    fn name(&self) -> &'static str {
        "byline-layer-norm-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let w = f32_slice(s2, l2, self.name())?;
        let g = f32_slice(s3, l3, self.name())?;
        let h = w.len();
        let rows = x.len() / h;
        let mut out = vec![0f32; (rows + 2) * h];
        let (dx, dwdb) = out.split_at_mut(rows * h);
        let chunk = rows_per_task(h) * h;
        let partial = dx
            .par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk).zip(g.par_chunks(chunk)))
            .map(|(dx, (x, g))| {
                let mut acc = vec![0f32; 2 * h];
                let mut xhat = vec![0f32; h];
                for ((dx, x), g) in dx
                    .chunks_exact_mut(h)
                    .zip(x.chunks_exact(h))
                    .zip(g.chunks_exact(h))
                {
                    let (mean, rstd) = row_stats(x, self.eps);
                    let (mut sum_gw, mut sum_gw_xhat) = (0f32, 0f32);
                    for i in 0..h {
                        xhat[i] = (x[i] - mean) * rstd;
                        let gw = g[i] * w[i];
                        sum_gw += gw;
                        sum_gw_xhat += gw * xhat[i];
                        acc[i] += g[i] * xhat[i];
                        acc[h + i] += g[i];
                    }
                    let (m1, m2) = (sum_gw / h as f32, sum_gw_xhat / h as f32);
                    for i in 0..h {
                        dx[i] = rstd * (g[i] * w[i] - m1 - xhat[i] * m2);
                    }
                }
                acc
            })
            .reduce(|| vec![0f32; 2 * h], add_partials);
        dwdb.copy_from_slice(&partial);
        Ok((CpuStorage::F32(out), Shape::from((rows + 2, h))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, finite_difference_check};
    use candle_core::{Device, Var};

    #[test]
    fn fused_matches_composed() -> Result<()> {
        let dev = Device::Cpu;
        let x = (Tensor::randn(0f32, 2.0, (3, 5, 16), &dev)? + 0.7)?;
        let w = Tensor::randn(1f32, 0.2, 16, &dev)?;
        let b = Tensor::randn(0f32, 0.2, 16, &dev)?;
        let fused = layer_norm(&x, &w, &b, 1e-5)?;
        let composed = layer_norm_composed(&x, &w, &b, 1e-5)?;
        assert_close(&fused, &composed, 1e-5)
    }

    #[test]
    fn gradients_match_finite_differences() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.5, (4, 8), &dev)?)?;
        let w = Var::from_tensor(&Tensor::randn(1f32, 0.3, 8, &dev)?)?;
        let b = Var::from_tensor(&Tensor::randn(0f32, 0.3, 8, &dev)?)?;
        // A loss that weighs every output differently, so no gradient is trivially zero.
        let probe = Tensor::randn(0f32, 1.0, (4, 8), &dev)?;
        let loss = |x: &Tensor, w: &Tensor, b: &Tensor| -> Result<Tensor> {
            layer_norm(x, w, b, 1e-5)?.mul(&probe)?.sum_all()
        };
        let grads = loss(&x, &w, &b)?.backward()?;
        for (i, var) in [&x, &w, &b].into_iter().enumerate() {
            let analytic = grads.get(var).expect("gradient reaches every input");
            let numeric = finite_difference_check(var.as_tensor(), |t| {
                let args = [x.as_tensor(), w.as_tensor(), b.as_tensor()];
                let mut args: Vec<Tensor> = args.into_iter().cloned().collect();
                args[i] = t.clone();
                loss(&args[0], &args[1], &args[2])
            })?;
            assert_close(analytic, &numeric, 2e-2)?;
        }
        Ok(())
    }
}
