//! `x W^T` for a dense layer, differentiable, with both gradients written in place.
//!
//! As candle ops, `x.matmul(&w.t())` records a transpose: its backward computes the weight's
//! gradient transposed and adds it, strided, into a zeroed (out, in) buffer, and every product
//! starts from a zeroed destination. Here the forward writes `x W^T` into fresh memory and the
//! backward computes `dx = g W` and `dW = g^T x` straight into their (rows, in) and (out, in)
//! layouts, each one GEMM of the gemm crate on the threads candle uses.

use candle_core::{bail, CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use crate::kernels::cpu::f32_slice;

/// `x` (rows, in) times `w` (out, in) transposed: (rows, out).
pub fn matmul_t(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let (_, k) = x.dims2()?;
    let (_, kw) = w.dims2()?;
    if k != kw {
        bail!(
            "matmul_t: x {:?} and w {:?} differ in their inner size",
            x.shape(),
            w.shape()
        )
    }
    if super::check::fused(x) && super::check::fused(w) {
        x.contiguous()?.apply_op2(&w.contiguous()?, MatmulT)
    } else {
        x.matmul(&w.t()?)
    }
}

fn parallelism() -> gemm::Parallelism {
    match rayon::current_num_threads() {
        0 | 1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

/// `C (m x n) = A (m x k) B (k x n)` into a new buffer; each operand a slice with its column
/// and row strides, which must keep every addressed element inside the slice.
fn product(
    m: usize,
    n: usize,
    k: usize,
    a: (&[f32], usize, usize),
    b: (&[f32], usize, usize),
) -> Vec<f32> {
    let reach = |(s, cs, rs): (&[f32], usize, usize), rows: usize, cols: usize| {
        rows == 0 || cols == 0 || (rows - 1) * rs + (cols - 1) * cs < s.len()
    };
    assert!(
        reach(a, m, k) && reach(b, k, n),
        "matmul_t: operand views out of bounds"
    );
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    // SAFETY: the operand views stay inside their slices (asserted); the destination is the
    // m x n spare capacity of `out`, every element of which gemm writes (read_dst = false)
    // before `set_len` exposes it.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.spare_capacity_mut().as_mut_ptr() as *mut f32,
            1,
            n as isize,
            false,
            a.0.as_ptr(),
            a.1 as isize,
            a.2 as isize,
            b.0.as_ptr(),
            b.1 as isize,
            b.2 as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism(),
        );
        out.set_len(m * n);
    }
    out
}

struct MatmulT;

impl CustomOp2 for MatmulT {
    fn name(&self) -> &'static str {
        "byline-matmul-t"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let w = f32_slice(s2, l2, self.name())?;
        let (rows, k) = l1.shape().dims2()?;
        let (out, _) = l2.shape().dims2()?;
        // W^T (k x out): element (i, j) = w[j * k + i].
        let y = product(rows, out, k, (x, 1, k), (w, k, 1));
        Ok((CpuStorage::F32(y), Shape::from((rows, out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = grad.contiguous()?;
        let dx = g.apply_op2_no_bwd(w, &GradX)?;
        let dw = g.apply_op2_no_bwd(x, &GradW)?;
        Ok((Some(dx), Some(dw)))
    }
}

/// Inputs (g (rows, out), w (out, in)); output `g W` (rows, in).
struct GradX;

impl CustomOp2 for GradX {
    fn name(&self) -> &'static str {
        "byline-matmul-t-grad-x"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = f32_slice(s1, l1, self.name())?;
        let w = f32_slice(s2, l2, self.name())?;
        let (rows, out) = l1.shape().dims2()?;
        let (_, k) = l2.shape().dims2()?;
        let dx = product(rows, k, out, (g, 1, out), (w, 1, k));
        Ok((CpuStorage::F32(dx), Shape::from((rows, k))))
    }
}

/// Inputs (g (rows, out), x (rows, in)); output `g^T x` (out, in).
struct GradW;

impl CustomOp2 for GradW {
    fn name(&self) -> &'static str {
        "byline-matmul-t-grad-w"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = f32_slice(s1, l1, self.name())?;
        let x = f32_slice(s2, l2, self.name())?;
        let (rows, out) = l1.shape().dims2()?;
        let (_, k) = l2.shape().dims2()?;
        // g^T (out x rows): element (j, r) = g[r * out + j].
        let dw = product(out, k, rows, (g, out, 1), (x, 1, k));
        Ok((CpuStorage::F32(dw), Shape::from((out, k))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_close;
    use candle_core::{Device, Var};

    #[test]
    fn matches_candle_forward_and_backward() -> Result<()> {
        let dev = Device::Cpu;
        for (rows, k, out) in [(37, 19, 23), (1, 5, 3), (130, 64, 96)] {
            let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (rows, k), &dev)?)?;
            let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (out, k), &dev)?)?;
            let probe = Tensor::randn(0f32, 1.0, (rows, out), &dev)?;
            let fused = matmul_t(x.as_tensor(), w.as_tensor())?;
            let plain = x.as_tensor().matmul(&w.as_tensor().t()?)?;
            assert_close(&fused, &plain, 1e-5)?;
            let g1 = fused.mul(&probe)?.sum_all()?.backward()?;
            let g2 = plain.mul(&probe)?.sum_all()?.backward()?;
            for v in [&x, &w] {
                assert_close(g1.get(v).expect("grad"), g2.get(v).expect("grad"), 1e-4)?;
            }
        }
        let x = Tensor::zeros((2, 3), candle_core::DType::F32, &dev)?;
        assert!(matmul_t(&x, &Tensor::zeros((4, 5), candle_core::DType::F32, &dev)?).is_err());
        Ok(())
    }
}
