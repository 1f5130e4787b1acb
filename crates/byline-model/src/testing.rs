//! Test helpers: closeness checks and central finite differences.

use candle_core::{bail, Result, Tensor};

/// Fails unless every element satisfies `|a - b| <= tol * (1 + |b|)`.
pub(crate) fn assert_close(a: &Tensor, b: &Tensor, tol: f32) -> Result<()> {
    if a.shape() != b.shape() {
        bail!("shape {:?} != {:?}", a.shape(), b.shape())
    }
    let a = a.flatten_all()?.to_vec1::<f32>()?;
    let b = b.flatten_all()?.to_vec1::<f32>()?;
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if (x - y).abs() > tol * (1.0 + y.abs()) || x.is_nan() != y.is_nan() {
            bail!("element {i}: {x} vs {y} (tol {tol})")
        }
    }
    Ok(())
}

/// Central finite differences of the scalar `f` with respect to every element of `t`.
pub(crate) fn finite_difference_check(
    t: &Tensor,
    f: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let step = 1e-2f32;
    let base = t.flatten_all()?.to_vec1::<f32>()?;
    let mut grad = Vec::with_capacity(base.len());
    for i in 0..base.len() {
        let eval = |delta: f32| -> Result<f32> {
            let mut v = base.clone();
            v[i] += delta;
            let shifted = Tensor::from_vec(v, t.shape(), t.device())?;
            f(&shifted)?.to_scalar::<f32>()
        };
        grad.push((eval(step)? - eval(-step)?) / (2.0 * step));
    }
    Tensor::from_vec(grad, t.shape(), t.device())
}
