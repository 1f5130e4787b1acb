//! Activations of the feed-forward block. The exact (erf) GELU has a fused CPU kernel whose
//! backward is one pass as well; candle's own `gelu_erf` (differentiable, but its backward builds
//! eight temporaries) serves other devices and dtypes.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::config::HiddenAct;
use crate::kernels::cpu::{add_partials, f32_slice, rows_per_task, MIN_ELEMS_PER_TASK};
use crate::kernels::fast_math::{self, simd};

/// Applies `act` to `xs`, elementwise.
pub fn activation(xs: &Tensor, act: HiddenAct) -> Result<Tensor> {
    match act {
        HiddenAct::Gelu => gelu_erf(xs),
        HiddenAct::GeluNew => xs.gelu(),
        HiddenAct::Relu => xs.relu(),
    }
}

/// Exact GELU, `x * Φ(x)`, differentiable.
pub fn gelu_erf(xs: &Tensor) -> Result<Tensor> {
    if super::check::fused(xs) {
        xs.contiguous()?.apply_op1(GeluErf)
    } else {
        xs.gelu_erf()
    }
}

/// `gelu_erf(xs + bias)` with `bias` (n,) broadcast over the rows of `xs` (..., n): the bias add
/// of a dense layer fused into its activation (one pass forward, one pass backward that also
/// sums the bias gradient).
pub fn bias_gelu_erf(xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
    super::check::last_dim_vectors("bias_gelu_erf", xs, &[("bias", bias)])?;
    if super::check::fused(xs) {
        xs.contiguous()?.apply_op2(&bias.contiguous()?, BiasGeluErf)
    } else {
        xs.broadcast_add(&crate::linear::in_dtype(bias, xs)?)?
            .gelu_erf()
    }
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / sqrt(2 pi), the standard normal density at 0.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + fast_math::erf(x * FRAC_1_SQRT_2))
}

/// d/dx gelu(x) = Φ(x) + x φ(x).
#[inline(always)]
fn gelu_grad(x: f32) -> f32 {
    let cdf = 0.5 * (1.0 + fast_math::erf(x * FRAC_1_SQRT_2));
    let pdf = FRAC_1_SQRT_2PI * fast_math::exp(-0.5 * x * x);
    cdf + x * pdf
}

/// Rows of `n` per rayon task.
fn chunk_len(n: usize) -> usize {
    rows_per_task(n) * n
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "byline-gelu-erf"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(MIN_ELEMS_PER_TASK)
            .zip(x.par_chunks(MIN_ELEMS_PER_TASK))
            .for_each(|(o, x)| {
                simd!({
                    for (o, &x) in o.iter_mut().zip(x) {
                        *o = gelu(x);
                    }
                })
            });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            arg.apply_op2_no_bwd(&grad.contiguous()?, &GeluErfGrad)?,
        ))
    }
}

/// `grad * d/dx gelu(x)`; inputs (x, grad).
struct GeluErfGrad;

impl CustomOp2 for GeluErfGrad {
    fn name(&self) -> &'static str {
        "byline-gelu-erf-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let g = f32_slice(s2, l2, self.name())?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(MIN_ELEMS_PER_TASK)
            .zip(
                x.par_chunks(MIN_ELEMS_PER_TASK)
                    .zip(g.par_chunks(MIN_ELEMS_PER_TASK)),
            )
            .for_each(|(o, (x, g))| {
                simd!({
                    for ((o, &x), &g) in o.iter_mut().zip(x).zip(g) {
                        *o = g * gelu_grad(x);
                    }
                })
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Inputs (x (..., n), bias (n,)); output `gelu(x + bias)`.
struct BiasGeluErf;

impl CustomOp2 for BiasGeluErf {
    fn name(&self) -> &'static str {
        "byline-bias-gelu-erf"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let b = f32_slice(s2, l2, self.name())?;
        let n = b.len();
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(chunk_len(n))
            .zip(x.par_chunks(chunk_len(n)))
            .for_each(|(o, x)| {
                simd!({
                    for (o, x) in o.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
                        for ((o, &x), &b) in o.iter_mut().zip(x).zip(b) {
                            *o = gelu(x + b);
                        }
                    }
                })
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let n = bias.dim(0)?;
        let rows = x.elem_count() / n;
        // (rows + 1, n): dx rows, then d bias.
        let packed = x.apply_op3_no_bwd(bias, &grad.contiguous()?, &BiasGeluErfGrad)?;
        let dx = packed.narrow(0, 0, rows)?.reshape(x.shape())?;
        let db = packed.get(rows)?;
        Ok((Some(dx), Some(db)))
    }
}

/// Inputs (x, bias, grad); output (rows + 1, n): `grad * gelu'(x + bias)`, then its column sums
/// (the bias gradient) as the last row.
struct BiasGeluErfGrad;

impl CustomOp3 for BiasGeluErfGrad {
    fn name(&self) -> &'static str {
        "byline-bias-gelu-erf-grad"
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
        let b = f32_slice(s2, l2, self.name())?;
        let g = f32_slice(s3, l3, self.name())?;
        let n = b.len();
        let rows = x.len() / n;
        let mut out = vec![0f32; (rows + 1) * n];
        let (dx, db) = out.split_at_mut(rows * n);
        let sums = dx
            .par_chunks_mut(chunk_len(n))
            .zip(x.par_chunks(chunk_len(n)).zip(g.par_chunks(chunk_len(n))))
            .map(|(dx, (x, g))| {
                let mut acc = vec![0f32; n];
                simd!({
                    for ((dx, x), g) in dx
                        .chunks_exact_mut(n)
                        .zip(x.chunks_exact(n))
                        .zip(g.chunks_exact(n))
                    {
                        // Iterators, not indices: bounds checks would keep this scalar.
                        let (acc, args) = (acc.iter_mut().zip(b), x.iter().zip(g));
                        for ((dx, (&x, &g)), (acc, &b)) in dx.iter_mut().zip(args).zip(acc) {
                            *dx = g * gelu_grad(x + b);
                            *acc += *dx;
                        }
                    }
                });
                acc
            })
            .reduce(|| vec![0f32; n], add_partials);
        db.copy_from_slice(&sums);
        Ok((CpuStorage::F32(out), Shape::from((rows + 1, n))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, finite_difference_check};
    use candle_core::{DType, Device, Var};

    /// Checks `ours` against candle's `gelu_erf` of the same inputs `x`. The fused kernel's erf
    /// is within 1e-6 of the exact one (`fast_math`'s test), so GELU, `x/2 (1 + erf(x/√2))`, may
    /// differ by up to `|x|/2 · 1e-6` beside rounding: near x = -5, where GELU is nearly 0, that
    /// is more than 1e-6 of the output (1.07e-6 at x = -5.123).
    fn assert_gelu_close(x: &Tensor, ours: &Tensor) -> Result<()> {
        let theirs = x.gelu_erf()?.flatten_all()?.to_vec1::<f32>()?;
        let (x, ours) = (
            x.flatten_all()?.to_vec1::<f32>()?,
            ours.flatten_all()?.to_vec1::<f32>()?,
        );
        for ((&x, &a), &b) in x.iter().zip(&ours).zip(&theirs) {
            let bound = 1e-6 * (x.abs() / 2.0 + 1.0 + b.abs());
            assert!(
                (a - b).abs() <= bound,
                "gelu({x}): {a} against candle's {b}"
            );
        }
        Ok(())
    }

    /// Every input from -8 to 8 in steps of 1/1024.
    #[test]
    fn fused_matches_candle() -> Result<()> {
        let x = Tensor::arange(-8 * 1024, 8 * 1024 + 1, &Device::Cpu)?.to_dtype(DType::F32)?;
        let x = (x / 1024.0)?;
        assert_gelu_close(&x, &gelu_erf(&x)?)
    }

    #[test]
    fn fused_bias_matches_composed() -> Result<()> {
        let dev = Device::Cpu;
        // Wide enough to reach the tails, where gelu(x) is 0 (x << 0) or x (x >> 0).
        let x = Tensor::randn(0f32, 4.0, (2, 5, 300), &dev)?;
        let b = Tensor::randn(0f32, 1.0, 300, &dev)?;
        assert_gelu_close(&x.broadcast_add(&b)?, &bias_gelu_erf(&x, &b)?)
    }

    #[test]
    fn fused_bias_gradients_match_composed_and_finite_differences() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 2.0, (2, 3, 7), &dev)?)?;
        let b = Var::from_tensor(&Tensor::randn(0f32, 1.0, 7, &dev)?)?;
        let probe = Tensor::randn(0f32, 1.0, (2, 3, 7), &dev)?;
        let fused = |x: &Tensor, b: &Tensor| bias_gelu_erf(x, b)?.mul(&probe)?.sum_all();
        let composed =
            |x: &Tensor, b: &Tensor| x.broadcast_add(b)?.gelu_erf()?.mul(&probe)?.sum_all();
        let g_fused = fused(&x, &b)?.backward()?;
        let g_composed = composed(&x, &b)?.backward()?;
        for var in [&x, &b] {
            let (a, c) = (
                g_fused.get(var).expect("grad"),
                g_composed.get(var).expect("grad"),
            );
            assert_close(a, c, 1e-5)?;
        }
        let numeric = finite_difference_check(b.as_tensor(), |b| fused(&x, b))?;
        assert_close(g_fused.get(&b).expect("grad"), &numeric, 1e-2)
    }

    #[test]
    fn gradient_matches_finite_differences() -> Result<()> {
        let x = Var::from_tensor(&Tensor::randn(0f32, 2.0, (3, 11), &Device::Cpu)?)?;
        let probe = Tensor::randn(0f32, 1.0, (3, 11), &Device::Cpu)?;
        let loss = |x: &Tensor| gelu_erf(x)?.mul(&probe)?.sum_all();
        let grads = loss(x.as_tensor())?.backward()?;
        let analytic = grads.get(&x).expect("gelu passes the gradient on");
        let numeric = finite_difference_check(x.as_tensor(), loss)?;
        assert_close(analytic, &numeric, 1e-2)
    }
}

/// GeGLU (ModernBERT's feed-forward): `xs` (..., 2n) is `[input | gate]`; returns
/// `act(input) * gate`, (..., n). On CPU/f32 with the exact GELU one pass forward and one
/// backward; otherwise composed ops.
pub fn geglu(xs: &Tensor, act: HiddenAct) -> Result<Tensor> {
    let width = xs.dim(candle_core::D::Minus1)?;
    if width % 2 != 0 {
        candle_core::bail!("geglu: last dimension {width} is odd: not [input | gate]")
    }
    let n = width / 2;
    if act == HiddenAct::Gelu && super::check::fused(xs) {
        xs.contiguous()?.apply_op1(GeGlu)
    } else {
        let last = xs.rank() - 1;
        let input = xs.narrow(last, 0, n)?.contiguous()?;
        activation(&input, act)? * xs.narrow(last, n, n)?
    }
}

/// Input (..., 2n) `[a | g]`; output `gelu(a) * g`, (..., n).
struct GeGlu;

impl CustomOp1 for GeGlu {
    fn name(&self) -> &'static str {
        "byline-geglu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let dims = l.shape().dims();
        let width = dims[dims.len() - 1];
        let n = width / 2;
        let mut out = vec![0f32; x.len() / 2];
        let rows = rows_per_task(width);
        out.par_chunks_mut(rows * n)
            .zip(x.par_chunks(rows * width))
            .for_each(|(o, x)| {
                simd!({
                    for (o, x) in o.chunks_exact_mut(n).zip(x.chunks_exact(width)) {
                        let (a, g) = x.split_at(n);
                        for ((o, &a), &g) in o.iter_mut().zip(a).zip(g) {
                            *o = gelu(a) * g;
                        }
                    }
                })
            });
        let mut shape = dims.to_vec();
        *shape.last_mut().expect("rank >= 1") = n;
        Ok((CpuStorage::F32(out), Shape::from(shape)))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(&grad.contiguous()?, &GeGluGrad)?))
    }
}

/// Inputs (x (..., 2n), grad (..., n)); output the gradient of x:
/// `[grad * g * gelu'(a) | grad * gelu(a)]`.
struct GeGluGrad;

impl CustomOp2 for GeGluGrad {
    fn name(&self) -> &'static str {
        "byline-geglu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let go = f32_slice(s2, l2, self.name())?;
        let dims = l1.shape().dims();
        let width = dims[dims.len() - 1];
        let n = width / 2;
        let mut out = vec![0f32; x.len()];
        let rows = rows_per_task(width);
        out.par_chunks_mut(rows * width)
            .zip(x.par_chunks(rows * width).zip(go.par_chunks(rows * n)))
            .for_each(|(o, (x, go))| {
                simd!({
                    for ((o, x), go) in o
                        .chunks_exact_mut(width)
                        .zip(x.chunks_exact(width))
                        .zip(go.chunks_exact(n))
                    {
                        let (a, g) = x.split_at(n);
                        let (da, dg) = o.split_at_mut(n);
                        for i in 0..n {
                            da[i] = go[i] * g[i] * gelu_grad(a[i]);
                            dg[i] = go[i] * gelu(a[i]);
                        }
                    }
                })
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

#[cfg(test)]
mod geglu_tests {
    use super::*;
    use crate::testing::{assert_close, finite_difference_check};
    use candle_core::{Device, Var};

    #[test]
    fn fused_geglu_matches_composed_and_finite_differences() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 3, 10), &dev)?)?;
        let probe = Tensor::randn(0f32, 1.0, (2, 3, 5), &dev)?;
        let composed = |x: &Tensor| -> Result<Tensor> {
            let input = x.narrow(2, 0, 5)?.contiguous()?;
            input.gelu_erf()? * x.narrow(2, 5, 5)?
        };
        assert_close(
            &geglu(x.as_tensor(), HiddenAct::Gelu)?,
            &composed(x.as_tensor())?,
            1e-5,
        )?;
        let loss = |x: &Tensor| geglu(x, HiddenAct::Gelu)?.mul(&probe)?.sum_all();
        let g = loss(x.as_tensor())?.backward()?;
        let g = g.get(&x).expect("grad");
        let gc = composed(x.as_tensor())?
            .mul(&probe)?
            .sum_all()?
            .backward()?;
        assert_close(g, gc.get(&x).expect("grad"), 1e-4)?;
        let numeric = finite_difference_check(x.as_tensor(), loss)?;
        assert_close(g, &numeric, 1e-2)?;
        assert!(geglu(
            &Tensor::zeros((2, 3), candle_core::DType::F32, &dev)?,
            HiddenAct::Gelu
        )
        .is_err());
        Ok(())
    }
}
