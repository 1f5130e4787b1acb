//! Input checks shared by the kernels.

use candle_core::{bail, DType, Result, Tensor, D};

/// Whether the fused CPU kernel applies: an f32 tensor on the CPU (elsewhere the kernels fall back
/// to candle's composed, differentiable ops).
pub fn fused(xs: &Tensor) -> bool {
    xs.device().is_cpu() && xs.dtype() == DType::F32
}

/// Checks that each `(name, vector)` is one-dimensional and as long as the last dimension of
/// `xs` (a layer's weight or bias against its input); returns that length.
pub fn last_dim_vectors(what: &str, xs: &Tensor, vectors: &[(&str, &Tensor)]) -> Result<usize> {
    let n = xs.dim(D::Minus1)?;
    for (name, v) in vectors {
        if v.dims1()? != n {
            bail!(
                "{what}: {name} {:?} does not match the last dimension of the input {:?}",
                v.shape(),
                xs.shape()
            )
        }
    }
    Ok(n)
}

/// Checks a dropout probability.
pub fn probability(p: f32) -> Result<()> {
    if !(0.0..1.0).contains(&p) {
        bail!("dropout probability has to be in [0, 1), got {p}")
    }
    Ok(())
}
