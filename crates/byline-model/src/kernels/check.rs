//! Input checks shared by the kernels.

use candle_core::{bail, DType, Result, Tensor, D};

thread_local! {
    static COMPOSED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the fused CPU kernel applies: an f32 tensor on the CPU (elsewhere the kernels fall back
/// to candle's composed, differentiable ops), unless this thread is inside [`composed_ops`].
pub fn fused(xs: &Tensor) -> bool {
    xs.device().is_cpu() && xs.dtype() == DType::F32 && !COMPOSED.with(|c| c.get())
}

/// Runs `f` with every kernel on candle's composed ops, as on CUDA or in bf16, though the
/// tensors are f32 on the CPU: the path GPU training takes, checked on the CPU against the
/// fused kernels. Applies to the ops this thread builds (a forward pass and its backward).
pub fn composed_ops<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            COMPOSED.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(COMPOSED.with(|c| c.replace(true)));
    f()
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
