//! A bias added to every row, differentiable, with the bias gradient as one vectorised pass.
//!
//! `xs.broadcast_add(bias)` is right, but its backward sums the incoming gradient over the rows
//! with candle's generic reduction, which walks each column with the row stride; for the dense
//! layers' biases that was a measurable part of a training step. Here the backward passes the
//! gradient through for `xs` and sums rows into per-thread partial vectors for `bias`.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::kernels::cpu::{add_partials, f32_slice, rows_per_task};
use crate::kernels::fast_math::simd;

/// `xs + bias` over the last dimension: `xs` (..., n), `bias` (n,).
pub fn bias_add(xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
    super::check::last_dim_vectors("bias_add", xs, &[("bias", bias)])?;
    if super::check::fused(xs) && super::check::fused(bias) {
        xs.contiguous()?.apply_op2(&bias.contiguous()?, BiasAdd)
    } else {
        xs.broadcast_add(&crate::linear::in_dtype(bias, xs)?)
    }
}

struct BiasAdd;

impl CustomOp2 for BiasAdd {
    fn name(&self) -> &'static str {
        "byline-bias-add"
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
        let rows = rows_per_task(n);
        out.par_chunks_mut(rows * n)
            .zip(x.par_chunks(rows * n))
            .for_each(|(o, x)| {
                simd!({
                    for (o, x) in o.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
                        for ((o, &x), &b) in o.iter_mut().zip(x).zip(b) {
                            *o = x + b;
                        }
                    }
                })
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _xs: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dbias = grad
            .contiguous()?
            .apply_op1_no_bwd(&ColumnSum(bias.elem_count()))?;
        Ok((Some(grad.clone()), Some(dbias)))
    }
}

/// The sum of the rows of a (..., n) tensor: (n,).
struct ColumnSum(usize);

impl candle_core::CustomOp1 for ColumnSum {
    fn name(&self) -> &'static str {
        "byline-column-sum"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = f32_slice(s, l, self.name())?;
        let n = self.0;
        let rows = rows_per_task(n);
        let sum = g
            .par_chunks(rows * n)
            .fold(
                || vec![0f32; n],
                |mut acc, g| {
                    simd!({
                        for row in g.chunks_exact(n) {
                            for (a, &x) in acc.iter_mut().zip(row) {
                                *a += x;
                            }
                        }
                    });
                    acc
                },
            )
            .reduce(|| vec![0f32; n], add_partials);
        Ok((CpuStorage::F32(sum), Shape::from(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_close;
    use candle_core::{Device, Var};

    #[test]
    fn matches_broadcast_add_forward_and_backward() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 700, 24), &dev)?)?;
        let b = Var::from_tensor(&Tensor::randn(0f32, 1.0, 24, &dev)?)?;
        let probe = Tensor::randn(0f32, 1.0, (3, 700, 24), &dev)?;
        let fused = bias_add(x.as_tensor(), b.as_tensor())?;
        let plain = x.as_tensor().broadcast_add(b.as_tensor())?;
        assert_close(&fused, &plain, 1e-6)?;
        let g1 = fused.mul(&probe)?.sum_all()?.backward()?;
        let g2 = plain.mul(&probe)?.sum_all()?.backward()?;
        assert_close(g1.get(&x).expect("grad"), g2.get(&x).expect("grad"), 1e-6)?;
        assert_close(g1.get(&b).expect("grad"), g2.get(&b).expect("grad"), 1e-4)?;
        assert!(bias_add(x.as_tensor(), &b.as_tensor().narrow(0, 0, 20)?).is_err());
        Ok(())
    }
}
