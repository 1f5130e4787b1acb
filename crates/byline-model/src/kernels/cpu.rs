//! Small helpers shared by the fused CPU kernels (LayerNorm, GELU, softmax).

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, Layout, Result};

/// Rows handed to one rayon task: large enough that scheduling costs nothing next to the work.
pub(crate) const MIN_ELEMS_PER_TASK: usize = 8 * 1024;

/// The contiguous `f32` slice a storage + layout pair describes.
pub(crate) fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        bail!(
            "{op}: only f32 is supported on the CPU, got {:?}",
            s.dtype()
        )
    };
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&v[start..end]),
        None => bail!("{op}: input must be contiguous"),
    }
}

/// How many rows of `row_len` elements one rayon task takes.
pub(crate) fn rows_per_task(row_len: usize) -> usize {
    (MIN_ELEMS_PER_TASK / row_len.max(1)).max(1)
}

/// Merges two threads' partial sums (the `reduce` step after a rayon `fold` that accumulates
/// parameter gradients per thread).
pub(crate) fn add_partials(mut a: Vec<f32>, b: Vec<f32>) -> Vec<f32> {
    a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
    a
}
