//! Activations of the feed-forward block. The exact (erf) GELU has a fused CPU kernel whose
//! backward is one pass as well; candle's own `gelu_erf` (differentiable, but its backward builds
//! eight temporaries) serves other devices and dtypes.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::config::HiddenAct;
use crate::cpu::{f32_slice, MIN_ELEMS_PER_TASK};

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
    if xs.device().is_cpu() && xs.dtype() == candle_core::DType::F32 {
        xs.contiguous()?.apply_op1(GeluErf)
    } else {
        xs.gelu_erf()
    }
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / sqrt(2 pi), the standard normal density at 0.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

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
                for (o, &x) in o.iter_mut().zip(x) {
                    *o = 0.5 * x * (1.0 + candle_core::cpu::erf::erf_f32(x * FRAC_1_SQRT_2));
                }
            });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            arg.apply_op2_no_bwd(&grad.contiguous()?, &GeluErfGrad)?,
        ))
    }
}

/// `grad * d/dx gelu(x)` = `grad * (Φ(x) + x φ(x))`; inputs (x, grad).
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
                for ((o, &x), &g) in o.iter_mut().zip(x).zip(g) {
                    let cdf = 0.5 * (1.0 + candle_core::cpu::erf::erf_f32(x * FRAC_1_SQRT_2));
                    let pdf = FRAC_1_SQRT_2PI * (-0.5 * x * x).exp();
                    *o = g * (cdf + x * pdf);
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

    #[test]
    fn fused_matches_candle() -> Result<()> {
        let x = (Tensor::randn(0f32, 3.0, (7, 300), &Device::Cpu)? - 0.5)?;
        assert_close(&gelu_erf(&x)?, &x.gelu_erf()?, 1e-6)
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
