//! Rotary position embeddings on the Q and K of a packed projection, differentiable.
//!
//! For each position `t`, head and pair `(x1, x2) = (x[i], x[i + d/2])` of Q and K, a rotation
//! by the angle of `t` and `i`: `(x1 cos - x2 sin, x2 cos + x1 sin)`, which is transformers'
//! `q * cos + rotate_half(q) * sin` (its cos and sin repeat over the two halves). V passes
//! unchanged. Composed from candle ops this is six narrows, a concatenation and four
//! element-wise products over the (batch, seq, 3 * hidden) projection; on CPU/f32 it is one
//! pass, and its backward the inverse rotation of the incoming gradient.

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::kernels::cpu::f32_slice;

/// Rotates Q and K of `qkv` (batch, seq, 3 * hidden), heads of `head_dim` consecutive in each;
/// `cos`, `sin`: (positions >= seq, head_dim), row `t` for position `t`, both halves equal.
pub fn rotary(qkv: &Tensor, cos: &Tensor, sin: &Tensor, heads: usize) -> Result<Tensor> {
    let (_, seq, width) = qkv.dims3()?;
    let hidden = width / 3;
    if heads == 0 || width % 3 != 0 || hidden % heads != 0 || !(hidden / heads).is_multiple_of(2) {
        bail!(
            "rotary: qkv {:?} does not split into {heads} heads of even size",
            qkv.shape()
        )
    }
    let d = hidden / heads;
    let (positions, dc) = cos.dims2()?;
    if dc != d || sin.dims2()? != (positions, d) || positions < seq {
        bail!(
            "rotary: tables {:?} / {:?} do not cover {seq} positions of heads of {d}",
            cos.shape(),
            sin.shape()
        )
    }
    let cos = cos.narrow(0, 0, seq)?;
    let sin = sin.narrow(0, 0, seq)?;
    if super::check::fused(qkv) {
        let (c, s) = (half(&cos, d)?, half(&sin, d)?);
        qkv.contiguous()?.apply_op1(Rotary {
            heads,
            head_dim: d,
            cos: c,
            sin: s,
            inverse: false,
        })
    } else {
        rotary_composed(qkv, &cos, &sin, heads)
    }
}

/// The first half of each row of a (seq, d) table, flattened: (seq * d / 2).
fn half(table: &Tensor, d: usize) -> Result<Vec<f32>> {
    table
        .narrow(1, 0, d / 2)?
        .to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()
}

/// The same from candle's ops (reference, and the path off the CPU or off f32).
pub fn rotary_composed(qkv: &Tensor, cos: &Tensor, sin: &Tensor, heads: usize) -> Result<Tensor> {
    let (batch, seq, width) = qkv.dims3()?;
    let hidden = width / 3;
    let d = hidden / heads;
    let dtype = qkv.dtype();
    let cos = cos
        .narrow(0, 0, seq)?
        .to_dtype(dtype)?
        .reshape((1, seq, 1, d))?;
    let sin = sin
        .narrow(0, 0, seq)?
        .to_dtype(dtype)?
        .reshape((1, seq, 1, d))?;
    let rotate = |part: usize| -> Result<Tensor> {
        let x = qkv
            .narrow(2, part * hidden, hidden)?
            .reshape((batch, seq, heads, d))?;
        let (x1, x2) = (x.narrow(3, 0, d / 2)?, x.narrow(3, d / 2, d / 2)?);
        let half = Tensor::cat(&[&x2.neg()?, &x1], 3)?; // rotate_half
        (x.broadcast_mul(&cos)? + half.broadcast_mul(&sin)?)?.reshape((batch, seq, hidden))
    };
    Tensor::cat(
        &[rotate(0)?, rotate(1)?, qkv.narrow(2, 2 * hidden, hidden)?],
        2,
    )
}

/// The fused op; `inverse` rotates by the opposite angle (the backward pass).
#[derive(Clone)]
struct Rotary {
    heads: usize,
    head_dim: usize,
    /// (seq, head_dim / 2): the angles' cos and sin for the first half (the second repeats it).
    cos: Vec<f32>,
    sin: Vec<f32>,
    inverse: bool,
}

impl CustomOp1 for Rotary {
    fn name(&self) -> &'static str {
        "byline-rotary"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let (_, seq, width) = l.shape().dims3()?;
        let (d, half, hidden) = (self.head_dim, self.head_dim / 2, self.heads * self.head_dim);
        let sign = if self.inverse { -1.0 } else { 1.0 };
        let mut out = x.to_vec(); // V (and anything not rotated) as it is
        out.par_chunks_mut(width).enumerate().for_each(|(row, o)| {
            let t = row % seq;
            let (cos, sin) = (
                &self.cos[t * half..(t + 1) * half],
                &self.sin[t * half..(t + 1) * half],
            );
            // Q and K: 2 * heads blocks of d, each rotated pairwise.
            for block in o[..2 * hidden].chunks_exact_mut(d) {
                let (x1, x2) = block.split_at_mut(half);
                for i in 0..half {
                    let (a, b) = (x1[i], x2[i]);
                    let (c, s) = (cos[i], sign * sin[i]);
                    x1[i] = a * c - b * s;
                    x2[i] = b * c + a * s;
                }
            }
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // A rotation's transpose is the rotation by the opposite angle.
        let inverse = Rotary {
            inverse: !self.inverse,
            ..self.clone()
        };
        Ok(Some(grad.contiguous()?.apply_op1(inverse)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, finite_difference_check};
    use candle_core::{Device, Var};

    fn tables(positions: usize, d: usize) -> Result<(Tensor, Tensor)> {
        let mut cos = Vec::new();
        let mut sin = Vec::new();
        for p in 0..positions {
            for _ in 0..2 {
                for i in 0..d / 2 {
                    let angle = p as f32 / 10f32.powf(2.0 * i as f32 / d as f32);
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
            }
        }
        Ok((
            Tensor::from_vec(cos, (positions, d), &Device::Cpu)?,
            Tensor::from_vec(sin, (positions, d), &Device::Cpu)?,
        ))
    }

    #[test]
    fn fused_matches_composed_forward_and_backward() -> Result<()> {
        let dev = Device::Cpu;
        let (cos, sin) = tables(9, 4)?;
        // batch 2, seq 5, 3 heads of 4.
        let qkv = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 5, 36), &dev)?)?;
        let probe = Tensor::randn(0f32, 1.0, (2, 5, 36), &dev)?;
        let fused = rotary(qkv.as_tensor(), &cos, &sin, 3)?;
        let composed = rotary_composed(qkv.as_tensor(), &cos, &sin, 3)?;
        assert_close(&fused, &composed, 1e-6)?;
        // V is untouched; position 0 is not rotated.
        assert_close(
            &fused.narrow(2, 24, 12)?,
            &qkv.as_tensor().narrow(2, 24, 12)?,
            0.0,
        )?;
        assert_close(
            &fused.narrow(1, 0, 1)?,
            &qkv.as_tensor().narrow(1, 0, 1)?,
            1e-7,
        )?;
        let loss = |x: &Tensor| rotary(x, &cos, &sin, 3)?.mul(&probe)?.sum_all();
        let g_fused = loss(qkv.as_tensor())?.backward()?;
        let g_fused = g_fused.get(&qkv).expect("grad");
        let g_composed = rotary_composed(qkv.as_tensor(), &cos, &sin, 3)?
            .mul(&probe)?
            .sum_all()?
            .backward()?;
        assert_close(g_fused, g_composed.get(&qkv).expect("grad"), 1e-6)?;
        let numeric = finite_difference_check(qkv.as_tensor(), loss)?;
        assert_close(g_fused, &numeric, 1e-2)
    }

    #[test]
    fn rejects_tables_that_do_not_fit() -> Result<()> {
        let (cos, sin) = tables(4, 4)?;
        let qkv = Tensor::zeros((1, 5, 36), candle_core::DType::F32, &Device::Cpu)?;
        assert!(rotary(&qkv, &cos, &sin, 3).is_err()); // 5 positions, tables of 4
        assert!(rotary(&qkv.narrow(1, 0, 4)?, &cos, &sin, 2).is_err()); // heads of 6, not 4
        Ok(())
    }
}
