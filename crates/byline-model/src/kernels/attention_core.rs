//! Scaled dot-product attention over a packed QKV projection, differentiable.
//!
//! `softmax(Q K^T / sqrt(d) + mask) V` for every (sequence, head), with dropout on the
//! probabilities. Composed from candle ops this is three head-splitting copies, two batched
//! matrix products of (batch * heads) tiny matrices, the softmax, the dropout and a head-merging
//! copy, and about twice as many ops backward. On CPU/f32 it is one fused kernel that reads the
//! heads straight out of the (batch, seq, 3 * hidden) projection and writes the context in
//! (batch, seq, hidden) order; the backward kernel recomputes the probabilities (cheap next to
//! storing them) and the dropout mask (a hash of the element index) and writes the gradient of
//! the packed projection. Other devices and dtypes use the composed ops.

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::kernels::cpu::f32_slice;
use crate::kernels::dropout::{dropout, next_seed, Dropout};
use crate::kernels::fast_math::{self, simd};
use crate::kernels::softmax::masked_softmax;

/// Attention over `qkv` (batch, seq, 3 * hidden), laid out as `[Q | K | V]` along the last
/// dimension with heads consecutive inside each, as a concatenated Q/K/V projection produces.
/// `mask`: (batch, seq) additive (0 real, large negative for padding). Dropout with
/// probability `dropout_p` on the attention probabilities when `train`.
///
/// Returns the context, (batch, seq, hidden), heads merged.
pub fn attention(
    qkv: &Tensor,
    mask: &Tensor,
    heads: usize,
    dropout_p: f32,
    train: bool,
) -> Result<Tensor> {
    windowed_attention(qkv, mask, heads, dropout_p, train, None)
}

/// [`attention`] where position `i` sees only positions `j` with `|i - j| <= window` when a
/// window is given (ModernBERT's local layers; the padding mask still applies).
pub fn windowed_attention(
    qkv: &Tensor,
    mask: &Tensor,
    heads: usize,
    dropout_p: f32,
    train: bool,
    window: Option<usize>,
) -> Result<Tensor> {
    let (batch, seq, width) = qkv.dims3()?;
    if heads == 0 || width % (3 * heads) != 0 || mask.dims2()? != (batch, seq) {
        bail!(
            "attention: qkv {:?} with {heads} heads does not fit mask {:?}",
            qkv.shape(),
            mask.shape()
        )
    }
    super::check::probability(dropout_p)?;
    if super::check::fused(qkv) {
        let head_dim = width / 3 / heads;
        let op = AttentionOp {
            heads,
            head_dim,
            scale: 1.0 / (head_dim as f32).sqrt(),
            dropout: (train && dropout_p > 0.0).then(|| Dropout::new(dropout_p, next_seed())),
            window,
            block: BAND_BLOCK,
        };
        qkv.contiguous()?.apply_op2(&mask.contiguous()?, op)
    } else {
        attention_composed_in(qkv, mask, heads, dropout_p, train, window)
    }
}

/// Additive (seq, seq) mask of a band: 0 where `|i - j| <= window`, [`OUTSIDE`] elsewhere.
pub fn band_mask(seq: usize, window: usize, device: &candle_core::Device) -> Result<Tensor> {
    let values: Vec<f32> = (0..seq * seq)
        .map(|n| {
            let (i, j) = (n / seq, n % seq);
            if i.abs_diff(j) <= window {
                0.0
            } else {
                OUTSIDE
            }
        })
        .collect();
    Tensor::from_vec(values, (seq, seq), device)
}

/// The score of a position outside a window: its probability is exactly 0.
const OUTSIDE: f32 = -1e30;

/// The same computation from ordinary candle ops (reference, and the path off the CPU).
pub fn attention_composed(
    qkv: &Tensor,
    mask: &Tensor,
    heads: usize,
    dropout_p: f32,
    train: bool,
) -> Result<Tensor> {
    attention_composed_in(qkv, mask, heads, dropout_p, train, None)
}

fn attention_composed_in(
    qkv: &Tensor,
    mask: &Tensor,
    heads: usize,
    dropout_p: f32,
    train: bool,
    window: Option<usize>,
) -> Result<Tensor> {
    let (batch, seq, width) = qkv.dims3()?;
    let hidden = width / 3;
    let head_dim = hidden / heads;
    // (batch, seq, hidden) -> (batch * heads, seq, head_dim), contiguous.
    let split = |i: usize| -> Result<Tensor> {
        qkv.narrow(2, i * hidden, hidden)?
            .reshape((batch, seq, heads, head_dim))?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((batch * heads, seq, head_dim))
    };
    let (q, k, v) = (split(0)?, split(1)?, split(2)?);
    let mut scores = q.matmul(&k.t()?)?; // (b*h, seq, seq)
    if let Some(w) = window {
        let band = band_mask(seq, w, qkv.device())?.to_dtype(scores.dtype())?;
        scores = scores.broadcast_add(&band)?;
    }
    let probs = masked_softmax(&scores, mask, heads, 1.0 / (head_dim as f64).sqrt())?;
    let probs = dropout(&probs, dropout_p, train)?;
    probs
        .matmul(&v)? // (b*h, seq, d)
        .reshape((batch, heads, seq, head_dim))?
        .transpose(1, 2)? // (batch, seq, heads, d)
        .contiguous()?
        .reshape((batch, seq, hidden))
}

#[derive(Debug, Clone, Copy)]
struct AttentionOp {
    heads: usize,
    head_dim: usize,
    scale: f32,
    dropout: Option<Dropout>,
    /// Positions further apart than this do not see each other (see [`windowed_attention`]).
    window: Option<usize>,
    /// Query rows per block of the banded (windowed) kernel.
    block: usize,
}

/// Query rows per block of the banded kernel: with ModernBERT's window of 64 a block of 64
/// reads 192 keys, not the whole sequence.
const BAND_BLOCK: usize = 64;

/// Lanes of the reductions below: a float sum or max in one accumulator is a serial chain
/// LLVM may not reorder, so it would stay scalar; 16 independent accumulators vectorise.
const LANES: usize = 16;

/// `row = softmax(row + mask)`, in place.
#[inline(always)]
pub(crate) fn softmax_row(row: &mut [f32], mask: &[f32]) {
    let mut max = [f32::NEG_INFINITY; LANES];
    let mut rows = row.chunks_exact_mut(LANES);
    let mut masks = mask.chunks_exact(LANES);
    for (r, m) in (&mut rows).zip(&mut masks) {
        for l in 0..LANES {
            r[l] += m[l];
            max[l] = if r[l] > max[l] { r[l] } else { max[l] };
        }
    }
    let mut top = max
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    for (r, m) in rows.into_remainder().iter_mut().zip(masks.remainder()) {
        *r += m;
        top = if *r > top { *r } else { top };
    }
    for s in row.iter_mut() {
        *s = fast_math::exp(*s - top);
    }
    let mut sum = [0f32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            sum[l] += c[l];
        }
    }
    let total = sum.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>();
    let inv = 1.0 / total;
    row.iter_mut().for_each(|s| *s *= inv);
}

impl AttentionOp {
    /// Softmax probabilities (before dropout) of head `h` of one sequence into `p` (seq x seq).
    /// `qkv`: that sequence's (seq, 3 * hidden) rows; `mask`: its (seq,) mask.
    #[inline(always)]
    fn probs(&self, qkv: &[f32], mask: &[f32], h: usize, p: &mut [f32]) {
        let width = 3 * self.heads * self.head_dim;
        let (d, hidden) = (self.head_dim, self.heads * self.head_dim);
        let seq = mask.len();
        assert!(qkv.len() >= seq * width && p.len() >= seq * seq);
        // p = scale * Q_h K_h^T, read in place from the packed rows: Q_h (seq x d) has row
        // stride `width`; K_h^T (d x seq) is K_h with its strides swapped.
        // SAFETY: every element read is at i * width + offset + c with i < seq, c < d and
        // offset + d <= width, inside `qkv` (asserted above); the writes are the seq x seq
        // elements of `p`. Single-threaded (the caller parallelises over sequences).
        unsafe {
            gemm::gemm(
                seq,
                seq,
                d,
                p.as_mut_ptr(),
                1,
                seq as isize,
                false,
                qkv.as_ptr().add(h * d),
                1,
                width as isize,
                qkv.as_ptr().add(hidden + h * d),
                width as isize,
                1,
                0.0,
                self.scale,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        for row in p.chunks_exact_mut(seq) {
            softmax_row(row, mask);
        }
    }

    /// Banded attention (a window): query rows in blocks of `block`, each against only the keys
    /// its window reaches, `[i0 - w, i1 + w)`. Probabilities of block rows `i0..i1` of head `h`
    /// (before dropout) into `p`, `rows x keys` with row stride `keys`; returns `(k0, keys)`.
    #[inline(always)]
    fn band_probs(
        &self,
        qkv: &[f32],
        mask: &[f32],
        h: usize,
        (i0, i1): (usize, usize),
        w: usize,
        p: &mut [f32],
    ) -> (usize, usize) {
        let (d, hidden) = (self.head_dim, self.heads * self.head_dim);
        let width = 3 * hidden;
        let seq = mask.len();
        let (k0, k1) = (i0.saturating_sub(w), (i1 + w).min(seq));
        let (rows, keys) = (i1 - i0, k1 - k0);
        assert!(i1 <= seq && qkv.len() >= seq * width && p.len() >= rows * keys);
        // SAFETY: Q rows i0..i1 and K rows k0..k1 (< seq), columns inside head h's d columns of
        // a packed row: inside `qkv` (asserted); the writes are rows x keys elements of `p`.
        unsafe {
            gemm::gemm(
                rows,
                keys,
                d,
                p.as_mut_ptr(),
                1,
                keys as isize,
                false,
                qkv.as_ptr().add(i0 * width + h * d),
                1,
                width as isize,
                qkv.as_ptr().add(k0 * width + hidden + h * d),
                width as isize,
                1,
                0.0,
                self.scale,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        for (r, row) in p[..rows * keys].chunks_exact_mut(keys).enumerate() {
            // Outside the band: exp underflows to exactly 0, forward and backward.
            let i = i0 + r;
            let (lo, hi) = (i.saturating_sub(w) - k0, (i + w + 1).min(seq) - k0);
            row[..lo].fill(OUTSIDE);
            row[hi..].fill(OUTSIDE);
            softmax_row(row, &mask[k0..k1]);
        }
        (k0, keys)
    }

    /// [`AttentionOp::forward_seq`] for a window, block by block.
    fn forward_seq_banded(&self, b: usize, qkv: &[f32], mask: &[f32], out: &mut [f32], w: usize) {
        let (d, hidden) = (self.head_dim, self.heads * self.head_dim);
        let width = 3 * hidden;
        let seq = mask.len();
        let block = self.block.max(1);
        assert!(qkv.len() >= seq * width && out.len() >= seq * hidden);
        let mut p = vec![0f32; block * (block + 2 * w).min(seq)];
        for h in 0..self.heads {
            for i0 in (0..seq).step_by(block) {
                let i1 = (i0 + block).min(seq);
                let (k0, keys) = self.band_probs(qkv, mask, h, (i0, i1), w, &mut p);
                let rows = i1 - i0;
                if let Some(m) = self.dropout {
                    for (r, row) in p[..rows * keys].chunks_exact_mut(keys).enumerate() {
                        let first = self.index(b, h, seq, i0 + r) + k0 as u64;
                        for (c, pij) in row.iter_mut().enumerate() {
                            *pij *= m.factor(first + c as u64);
                        }
                    }
                }
                // out rows i0..i1 of head h = P V[k0..k1].
                // SAFETY: V rows k0..k1 < seq inside `qkv`; out rows i0..i1 < seq inside
                // `out` (asserted); `p` holds rows x keys.
                unsafe {
                    gemm::gemm(
                        rows,
                        d,
                        keys,
                        out.as_mut_ptr().add(i0 * hidden + h * d),
                        1,
                        hidden as isize,
                        false,
                        p.as_ptr(),
                        1,
                        keys as isize,
                        qkv.as_ptr().add(k0 * width + 2 * hidden + h * d),
                        1,
                        width as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
        }
    }

    /// [`AttentionOp::backward_seq`] for a window, block by block: dV and dK of the keys a block
    /// reaches are accumulated (blocks share keys), dQ of its rows written.
    fn backward_seq_banded(
        &self,
        b: usize,
        qkv: &[f32],
        mask: &[f32],
        g: &[f32],
        dqkv: &mut [f32],
        w: usize,
    ) {
        let (d, hidden) = (self.head_dim, self.heads * self.head_dim);
        let width = 3 * hidden;
        let seq = mask.len();
        let block = self.block.max(1);
        assert!(qkv.len() >= seq * width && dqkv.len() >= seq * width && g.len() >= seq * hidden);
        let most = block * (block + 2 * w).min(seq);
        let (mut p, mut dp, mut pf) = (vec![0f32; most], vec![0f32; most], vec![0f32; most]);
        // C (m x n) = A B (plus C when `add`), each given by pointer, column and row stride.
        // SAFETY (every call below): rows i0..i1 or k0..k1 (< seq) and columns inside head h's
        // d columns of packed rows, or the rows x keys scratch: inside their buffers as asserted;
        // destinations (dqkv) never overlap the sources (qkv, g, scratch).
        let product = |m: usize,
                       n: usize,
                       k: usize,
                       c: (*mut f32, isize, isize),
                       a: (*const f32, isize, isize),
                       bm: (*const f32, isize, isize),
                       add: bool| unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.0,
                c.1,
                c.2,
                add,
                a.0,
                a.1,
                a.2,
                bm.0,
                bm.1,
                bm.2,
                if add { 1.0 } else { 0.0 },
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        };
        let (ws, hs) = (width as isize, hidden as isize);
        for h in 0..self.heads {
            let (q_at, k_at, v_at) = (h * d, hidden + h * d, 2 * hidden + h * d);
            for i0 in (0..seq).step_by(block) {
                let i1 = (i0 + block).min(seq);
                let (k0, keys) = self.band_probs(qkv, mask, h, (i0, i1), w, &mut p);
                let rows = i1 - i0;
                let n = rows * keys;
                let kk = keys as isize;
                // dP = G V^T (rows x keys).
                product(
                    rows,
                    keys,
                    d,
                    (dp.as_mut_ptr(), 1, kk),
                    (g[i0 * hidden + h * d..].as_ptr(), 1, hs),
                    (qkv[k0 * width + v_at..].as_ptr(), ws, 1),
                    false,
                );
                match self.dropout {
                    Some(m) => {
                        for r in 0..rows {
                            let first = self.index(b, h, seq, i0 + r) + k0 as u64;
                            for c in 0..keys {
                                let f = m.factor(first + c as u64);
                                dp[r * keys + c] *= f;
                                pf[r * keys + c] = p[r * keys + c] * f;
                            }
                        }
                    }
                    None => pf[..n].copy_from_slice(&p[..n]),
                }
                // dV[k0..k1] += (P F)^T G.
                product(
                    keys,
                    d,
                    rows,
                    (dqkv[k0 * width + v_at..].as_mut_ptr(), 1, ws),
                    (pf.as_ptr(), kk, 1),
                    (g[i0 * hidden + h * d..].as_ptr(), 1, hs),
                    true,
                );
                // dS = P (dP - rowsum(P dP)) scale, in place of dP.
                for (prow, dprow) in p[..n]
                    .chunks_exact(keys)
                    .zip(dp[..n].chunks_exact_mut(keys))
                {
                    let dot: f32 = prow.iter().zip(dprow.iter()).map(|(x, y)| x * y).sum();
                    for (ds, &pij) in dprow.iter_mut().zip(prow) {
                        *ds = pij * (*ds - dot) * self.scale;
                    }
                }
                // dQ[i0..i1] = dS K[k0..k1]; dK[k0..k1] += dS^T Q[i0..i1].
                product(
                    rows,
                    d,
                    keys,
                    (dqkv[i0 * width + q_at..].as_mut_ptr(), 1, ws),
                    (dp.as_ptr(), 1, kk),
                    (qkv[k0 * width + k_at..].as_ptr(), 1, ws),
                    false,
                );
                product(
                    keys,
                    d,
                    rows,
                    (dqkv[k0 * width + k_at..].as_mut_ptr(), 1, ws),
                    (dp.as_ptr(), kk, 1),
                    (qkv[i0 * width + q_at..].as_ptr(), 1, ws),
                    true,
                );
            }
        }
    }

    /// Index of probability (i, j) of head `h` of sequence `b`, for the dropout hash.
    #[inline(always)]
    fn index(&self, b: usize, h: usize, seq: usize, i: usize) -> u64 {
        (((b * self.heads + h) * seq + i) * seq) as u64
    }

    /// Forward for sequence `b`: `out` is its (seq, hidden) context.
    #[inline(always)]
    fn forward_seq(&self, b: usize, qkv: &[f32], mask: &[f32], out: &mut [f32]) {
        if let Some(w) = self.window {
            return self.forward_seq_banded(b, qkv, mask, out, w);
        }
        let (d, hidden) = (self.head_dim, self.heads * self.head_dim);
        let seq = mask.len();
        let width = 3 * hidden;
        assert!(qkv.len() >= seq * width && out.len() >= seq * hidden);
        let mut p = vec![0f32; seq * seq];
        for h in 0..self.heads {
            self.probs(qkv, mask, h, &mut p);
            if let Some(m) = self.dropout {
                for (i, row) in p.chunks_exact_mut(seq).enumerate() {
                    let first = self.index(b, h, seq, i);
                    for (j, pij) in row.iter_mut().enumerate() {
                        *pij *= m.factor(first + j as u64);
                    }
                }
            }
            // out_h = P V_h: V_h (seq x d) has row stride `width`; out_h row stride `hidden`.
            // SAFETY: reads of V_h at j * width + 2 * hidden + h * d + c (j < seq, c < d) are
            // inside `qkv`, writes at i * hidden + h * d + c (i < seq, c < d) inside `out`
            // (asserted above); `p` is seq x seq.
            unsafe {
                gemm::gemm(
                    seq,
                    d,
                    seq,
                    out.as_mut_ptr().add(h * d),
                    1,
                    hidden as isize,
                    false,
                    p.as_ptr(),
                    1,
                    seq as isize,
                    qkv.as_ptr().add(2 * hidden + h * d),
                    1,
                    width as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
    }

    /// Backward for sequence `b`: `dqkv` is its (seq, 3 * hidden) gradient, `g` the incoming
    /// (seq, hidden) gradient of the context. Per head, with P the probabilities, F the dropout
    /// factors and G the context gradient: dV = (P F)^T G, dP = (G V^T) F,
    /// dS = P (dP - rowsum(P dP)) scale, dQ = dS K, dK = dS^T Q; the products run through
    /// the gemm crate on strided views of the packed rows.
    #[inline(always)]
    fn backward_seq(&self, b: usize, qkv: &[f32], mask: &[f32], g: &[f32], dqkv: &mut [f32]) {
        if let Some(w) = self.window {
            return self.backward_seq_banded(b, qkv, mask, g, dqkv, w);
        }
        let (d, hidden) = (self.head_dim, self.heads * self.head_dim);
        let seq = mask.len();
        let width = 3 * hidden;
        assert!(qkv.len() >= seq * width && dqkv.len() >= seq * width && g.len() >= seq * hidden);
        let (mut p, mut dp) = (vec![0f32; seq * seq], vec![0f32; seq * seq]);
        let mut dropped = self.dropout.map(|_| vec![0f32; seq * seq]);
        // C (m x n) = A (m x k) B (k x n), each given by pointer, column and row stride.
        // SAFETY (every call below): the views stay inside their buffers, as asserted above:
        // rows < seq, columns < d inside one head's d columns of a packed row, or the seq x seq
        // scratch matrices; the destination blocks of different calls do not overlap.
        let product = |m: usize,
                       n: usize,
                       k: usize,
                       c: (*mut f32, isize, isize),
                       a: (*const f32, isize, isize),
                       b: (*const f32, isize, isize)| unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.0,
                c.1,
                c.2,
                false,
                a.0,
                a.1,
                a.2,
                b.0,
                b.1,
                b.2,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        };
        let (s, w, hd) = (seq as isize, width as isize, hidden as isize);
        for h in 0..self.heads {
            let (q_at, k_at, v_at) = (h * d, hidden + h * d, 2 * hidden + h * d);
            self.probs(qkv, mask, h, &mut p);
            // dP = G_h V_h^T (seq x seq).
            product(
                seq,
                seq,
                d,
                (dp.as_mut_ptr(), 1, s),
                (g[h * d..].as_ptr(), 1, hd),
                (qkv[v_at..].as_ptr(), w, 1),
            );
            let pf: &[f32] = match (&mut dropped, self.dropout) {
                (Some(pd), Some(m)) => {
                    for i in 0..seq {
                        let first = self.index(b, h, seq, i);
                        for j in 0..seq {
                            let f = m.factor(first + j as u64);
                            dp[i * seq + j] *= f;
                            pd[i * seq + j] = p[i * seq + j] * f;
                        }
                    }
                    pd
                }
                _ => &p,
            };
            // dV_h = (P F)^T G_h.
            product(
                seq,
                d,
                seq,
                (dqkv[v_at..].as_mut_ptr(), 1, w),
                (pf.as_ptr(), s, 1),
                (g[h * d..].as_ptr(), 1, hd),
            );
            // dS, in place of dP.
            for (prow, dprow) in p.chunks_exact(seq).zip(dp.chunks_exact_mut(seq)) {
                let mut lanes = [0f32; LANES];
                let mut pc = prow.chunks_exact(LANES);
                let mut dc = dprow.chunks_exact(LANES);
                for (x, y) in (&mut pc).zip(&mut dc) {
                    for l in 0..LANES {
                        lanes[l] += x[l] * y[l];
                    }
                }
                let tail: f32 = pc
                    .remainder()
                    .iter()
                    .zip(dc.remainder())
                    .map(|(x, y)| x * y)
                    .sum();
                let row_dot = lanes.iter().sum::<f32>() + tail;
                for (ds, &pij) in dprow.iter_mut().zip(prow) {
                    *ds = pij * (*ds - row_dot) * self.scale;
                }
            }
            // dQ_h = dS K_h; dK_h = dS^T Q_h.
            product(
                seq,
                d,
                seq,
                (dqkv[q_at..].as_mut_ptr(), 1, w),
                (dp.as_ptr(), 1, s),
                (qkv[k_at..].as_ptr(), 1, w),
            );
            product(
                seq,
                d,
                seq,
                (dqkv[k_at..].as_mut_ptr(), 1, w),
                (dp.as_ptr(), s, 1),
                (qkv[q_at..].as_ptr(), 1, w),
            );
        }
    }
}

impl CustomOp2 for AttentionOp {
    fn name(&self) -> &'static str {
        "byline-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let qkv = f32_slice(s1, l1, self.name())?;
        let mask = f32_slice(s2, l2, self.name())?;
        let (batch, seq, width) = l1.shape().dims3()?;
        let hidden = width / 3;
        let mut out = vec![0f32; batch * seq * hidden];
        out.par_chunks_mut(seq * hidden)
            .zip(qkv.par_chunks(seq * width))
            .zip(mask.par_chunks(seq))
            .enumerate()
            .for_each(|(b, ((out, qkv), mask))| simd!(self.forward_seq(b, qkv, mask, out)));
        Ok((CpuStorage::F32(out), Shape::from((batch, seq, hidden))))
    }

    fn bwd(
        &self,
        qkv: &Tensor,
        mask: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dqkv = qkv.apply_op3_no_bwd(mask, &grad.contiguous()?, &AttentionGrad(*self))?;
        Ok((Some(dqkv), None))
    }
}

/// Inputs (qkv, mask, grad of the context); output the gradient of `qkv`.
struct AttentionGrad(AttentionOp);

impl CustomOp3 for AttentionGrad {
    fn name(&self) -> &'static str {
        "byline-attention-grad"
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
        let qkv = f32_slice(s1, l1, self.name())?;
        let mask = f32_slice(s2, l2, self.name())?;
        let g = f32_slice(s3, l3, self.name())?;
        let (_, seq, width) = l1.shape().dims3()?;
        let hidden = width / 3;
        let mut dqkv = vec![0f32; qkv.len()];
        dqkv.par_chunks_mut(seq * width)
            .zip(qkv.par_chunks(seq * width))
            .zip(mask.par_chunks(seq).zip(g.par_chunks(seq * hidden)))
            .enumerate()
            .for_each(|(b, ((dqkv, qkv), (mask, g)))| {
                simd!(self.0.backward_seq(b, qkv, mask, g, dqkv))
            });
        Ok((CpuStorage::F32(dqkv), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, finite_difference_check};
    use candle_core::{Device, Var};

    /// Batch 2, seq 5, 3 heads of 4: the second sequence has two padding positions.
    fn inputs(dev: &Device) -> Result<(Tensor, Tensor)> {
        let qkv = Tensor::randn(0f32, 1.0, (2, 5, 3 * 12), dev)?;
        let mask = Tensor::new(&[[0f32, 0., 0., 0., 0.], [0., 0., 0., -1e9, -1e9]], dev)?;
        Ok((qkv, mask))
    }

    #[test]
    fn fused_matches_composed() -> Result<()> {
        let (qkv, mask) = inputs(&Device::Cpu)?;
        let fused = attention(&qkv, &mask, 3, 0.1, false)?;
        let composed = attention_composed(&qkv, &mask, 3, 0.1, false)?;
        assert_close(&fused, &composed, 1e-5)
    }

    #[test]
    fn gradient_matches_composed_and_finite_differences() -> Result<()> {
        let (qkv, mask) = inputs(&Device::Cpu)?;
        let qkv = Var::from_tensor(&qkv)?;
        let probe = Tensor::randn(0f32, 1.0, (2, 5, 12), &Device::Cpu)?;
        let fused = |x: &Tensor| attention(x, &mask, 3, 0.0, true)?.mul(&probe)?.sum_all();
        let composed = |x: &Tensor| {
            attention_composed(x, &mask, 3, 0.0, true)?
                .mul(&probe)?
                .sum_all()
        };
        let g_fused = fused(qkv.as_tensor())?.backward()?;
        let g_fused = g_fused.get(&qkv).expect("attention passes the gradient on");
        let g_composed = composed(qkv.as_tensor())?.backward()?;
        assert_close(g_fused, g_composed.get(&qkv).expect("grad"), 1e-5)?;
        let numeric = finite_difference_check(qkv.as_tensor(), fused)?;
        assert_close(g_fused, &numeric, 1e-2)
    }

    /// With dropout the gradient must use the forward's mask: check it against finite
    /// differences of the very same op (same seed).
    #[test]
    fn dropout_gradient_uses_the_forward_mask() -> Result<()> {
        let dev = Device::Cpu;
        let (qkv, mask) = inputs(&dev)?;
        let qkv = Var::from_tensor(&qkv)?;
        let probe = Tensor::randn(0f32, 1.0, (2, 5, 12), &dev)?;
        let op = AttentionOp {
            heads: 3,
            head_dim: 4,
            scale: 0.5,
            dropout: Some(Dropout::new(0.3, 7)),
            window: None,
            block: BAND_BLOCK,
        };
        let loss = |x: &Tensor| x.apply_op2(&mask, op)?.mul(&probe)?.sum_all();
        let analytic = loss(qkv.as_tensor())?.backward()?;
        let analytic = analytic.get(&qkv).expect("grad");
        let numeric = finite_difference_check(qkv.as_tensor(), loss)?;
        assert_close(analytic, &numeric, 1e-2)?;
        // Some probabilities were really dropped: the output differs from the no-dropout one.
        let plain = qkv.apply_op2(
            &mask,
            AttentionOp {
                dropout: None,
                ..op
            },
        )?;
        let dropped = qkv.apply_op2(&mask, op)?;
        let diff = (plain - dropped)?.abs()?.sum_all()?.to_scalar::<f32>()?;
        assert!(diff > 1e-3, "dropout changed nothing ({diff})");
        Ok(())
    }

    #[test]
    fn a_window_matches_composed_forward_and_backward() -> Result<()> {
        let (qkv, mask) = inputs(&Device::Cpu)?;
        let qkv = Var::from_tensor(&qkv)?;
        // Padding queries left out of the loss: within a window of 1 the last one sees only
        // padding keys, whose -1e9 swallows any change of their scores in f32, so finite
        // differences cannot see what the analytic gradient (rightly) carries.
        let real = Tensor::new(
            &[[1f32, 1., 1., 1., 1.], [1., 1., 1., 0., 0.]],
            &Device::Cpu,
        )?;
        let probe = Tensor::randn(0f32, 1.0, (2, 5, 12), &Device::Cpu)?
            .broadcast_mul(&real.unsqueeze(2)?)?;
        let fused = |x: &Tensor| windowed_attention(x, &mask, 3, 0.0, true, Some(1));
        let composed = |x: &Tensor| attention_composed_in(x, &mask, 3, 0.0, true, Some(1));
        assert_close(&fused(qkv.as_tensor())?, &composed(qkv.as_tensor())?, 1e-5)?;
        // The window changes the result: position 0 no longer sees position 2.
        let full = attention(qkv.as_tensor(), &mask, 3, 0.0, false)?;
        let diff = (full - fused(qkv.as_tensor())?)?
            .abs()?
            .sum_all()?
            .to_scalar::<f32>()?;
        assert!(diff > 1e-3, "the window changed nothing ({diff})");
        let loss = |x: &Tensor| fused(x)?.mul(&probe)?.sum_all();
        let g_fused = loss(qkv.as_tensor())?.backward()?;
        let g_fused = g_fused.get(&qkv).expect("grad");
        let g_composed = composed(qkv.as_tensor())?
            .mul(&probe)?
            .sum_all()?
            .backward()?;
        assert_close(g_fused, g_composed.get(&qkv).expect("grad"), 1e-5)?;
        let numeric = finite_difference_check(qkv.as_tensor(), loss)?;
        assert_close(g_fused, &numeric, 1e-2)?;

        // Blocks of 2 query rows over 7 positions, window 2: several blocks sharing keys, the
        // last one short; the same as one block over everything, with and without dropout.
        let qkv = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 7, 36), &Device::Cpu)?)?;
        let mask = Tensor::new(
            &[
                [0f32, 0., 0., 0., 0., 0., 0.],
                [0., 0., 0., 0., 0., -1e9, -1e9],
            ],
            &Device::Cpu,
        )?;
        let probe = Tensor::randn(0f32, 1.0, (2, 7, 12), &Device::Cpu)?;
        for dropout in [None, Some(Dropout::new(0.3, 9))] {
            let op = |block: usize| AttentionOp {
                heads: 3,
                head_dim: 4,
                scale: 0.5,
                dropout,
                window: Some(2),
                block,
            };
            let run = |block: usize| -> Result<(Tensor, Tensor)> {
                let out = qkv.as_tensor().apply_op2(&mask, op(block))?;
                let grads = out.mul(&probe)?.sum_all()?.backward()?;
                Ok((out, grads.get(&qkv).expect("grad").clone()))
            };
            let (small, g_small) = run(2)?;
            let (whole, g_whole) = run(64)?;
            assert_close(&small, &whole, 1e-5)?;
            assert_close(&g_small, &g_whole, 1e-5)?;
            if dropout.is_none() {
                let composed =
                    attention_composed_in(qkv.as_tensor(), &mask, 3, 0.0, false, Some(2))?;
                assert_close(&small, &composed, 1e-5)?;
            }
        }
        Ok(())
    }

    #[test]
    fn rejects_mismatched_shapes() -> Result<()> {
        let (qkv, mask) = inputs(&Device::Cpu)?;
        assert!(attention(&qkv, &mask, 5, 0.0, false).is_err());
        assert!(attention(&qkv, &mask.narrow(1, 0, 4)?, 3, 0.0, false).is_err());
        assert!(attention(&qkv, &mask, 3, 1.0, true).is_err());
        Ok(())
    }
}
