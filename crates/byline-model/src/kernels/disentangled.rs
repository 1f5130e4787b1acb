//! DeBERTa's disentangled attention over a packed projection, differentiable.
//!
//! For every sequence and head, with `δ(i, j)` the clamped bucket of the relative position
//! `i - j` (a column of the relative tables):
//!
//! `S[i][j] = scale * (Q_i·K_j + Q_i·PK_δ(i,j) + K_j·PQ_δ(i,j))`, `A = softmax(S + mask)`,
//! `out = A V`,
//!
//! where `PK`, `PQ` are the relative embeddings through the key and query projections, and
//! either relative term may be off (`c2p`, `p2c`). Composed from candle ops this is three head
//! splits, a broadcast product against each relative table, two gathers of (batch, heads, seq,
//! seq) out of (batch, heads, seq, 2 * span), the softmax and two more products. On CPU/f32 it
//! is one kernel per sequence that reads the heads out of the packed `[Q | K | V]` projection and
//! the packed `[PK | PQ]` tables, and a backward kernel that recomputes the probabilities and
//! writes the gradients of both packed inputs (the tables' summed over the batch).

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::kernels::attention_core::softmax_row;
use crate::kernels::cpu::{add_partials, f32_slice};
use crate::kernels::dropout::{dropout, next_seed, Dropout};
use crate::kernels::fast_math::simd;
use crate::kernels::softmax::masked_softmax;

/// Which relative terms a layer has, and its relative positions.
#[derive(Debug, Clone)]
pub struct Relative {
    pub c2p: bool,
    pub p2c: bool,
    /// Rows of each relative table: `2 * span`.
    pub width: usize,
    /// (seq * seq): `δ(i, j)` at `i * seq + j`, each below `width`.
    pub delta: std::sync::Arc<Vec<u32>>,
}

/// Disentangled attention: `qkv` (batch, seq, 3 * hidden) `[Q | K | V]`, heads consecutive in
/// each; `pos` (width, 2 * hidden) `[PK | PQ]`; `mask` (batch, seq) additive. Returns the
/// context (batch, seq, hidden).
pub fn disentangled_attention(
    qkv: &Tensor,
    pos: &Tensor,
    mask: &Tensor,
    relative: &Relative,
    heads: usize,
    dropout_p: f32,
    train: bool,
) -> Result<Tensor> {
    let (batch, seq, width3) = qkv.dims3()?;
    let hidden = width3 / 3;
    if heads == 0 || width3 % 3 != 0 || hidden % heads != 0 || mask.dims2()? != (batch, seq) {
        bail!(
            "disentangled attention: qkv {:?} with {heads} heads does not fit mask {:?}",
            qkv.shape(),
            mask.shape()
        )
    }
    if pos.dims2()? != (relative.width, 2 * hidden) || relative.delta.len() != seq * seq {
        bail!(
            "disentangled attention: tables {:?} and {} relative positions do not fit {seq} \
             positions of hidden {hidden}",
            pos.shape(),
            relative.delta.len()
        )
    }
    if relative.delta.iter().any(|&r| r as usize >= relative.width) {
        bail!("disentangled attention: a relative position lies outside the tables")
    }
    super::check::probability(dropout_p)?;
    let d = hidden / heads;
    let terms = 1 + relative.c2p as usize + relative.p2c as usize;
    let scale = 1.0 / ((d * terms) as f64).sqrt();
    if super::check::fused(qkv) && super::check::fused(pos) {
        let op = Disentangled {
            heads,
            head_dim: d,
            scale: scale as f32,
            relative: relative.clone(),
            dropout: (train && dropout_p > 0.0).then(|| Dropout::new(dropout_p, next_seed())),
        };
        qkv.contiguous()?
            .apply_op3(&pos.contiguous()?, &mask.contiguous()?, op)
    } else {
        disentangled_composed(qkv, pos, mask, relative, heads, scale, dropout_p, train)
    }
}

/// The same from candle's ops (reference, and the path off the CPU or off f32).
#[allow(clippy::too_many_arguments)]
fn disentangled_composed(
    qkv: &Tensor,
    pos: &Tensor,
    mask: &Tensor,
    relative: &Relative,
    heads: usize,
    scale: f64,
    dropout_p: f32,
    train: bool,
) -> Result<Tensor> {
    let (batch, seq, width3) = qkv.dims3()?;
    let hidden = width3 / 3;
    let d = hidden / heads;
    let w = relative.width;
    let device = qkv.device();
    // (batch, seq, hidden) -> (batch, heads, seq, d).
    let split = |x: Tensor| -> Result<Tensor> {
        x.reshape((batch, seq, heads, d))?
            .transpose(1, 2)?
            .contiguous()
    };
    let q = split(qkv.narrow(2, 0, hidden)?)?;
    let k = split(qkv.narrow(2, hidden, hidden)?)?;
    let v = split(qkv.narrow(2, 2 * hidden, hidden)?)?;
    // (width, hidden) -> (heads, d, width).
    let table = |at: usize| -> Result<Tensor> {
        pos.narrow(1, at, hidden)?
            .reshape((w, heads, d))?
            .permute((1, 2, 0))?
            .contiguous()
    };
    let mut scores = q.matmul(&k.transpose(2, 3)?)?; // (b, h, seq, seq)
                                                     // Relative scores of `content` (b, h, seq, d) against `table` (h, d, w), read at the flat
                                                     // index `row(i, j) * w + δ(i, j)`: (b, h, seq, seq).
    let relative_scores = |content: &Tensor, table: Tensor, rows_are_queries: bool| {
        let index: Vec<u32> = (0..seq * seq)
            .map(|n| {
                let (i, j) = (n / seq, n % seq);
                let row = if rows_are_queries { i } else { j };
                (row * w) as u32 + relative.delta[n]
            })
            .collect();
        let index = Tensor::from_vec(index, seq * seq, device)?;
        content
            .reshape((batch * heads, seq, d))?
            .matmul(&table.repeat((batch, 1, 1))?)? // (b*h, seq, w)
            .reshape((batch, heads, seq * w))?
            .index_select(&index, 2)?
            .reshape((batch, heads, seq, seq))
    };
    if relative.c2p {
        scores = (scores + relative_scores(&q, table(0)?, true)?)?;
    }
    if relative.p2c {
        scores = (scores + relative_scores(&k, table(hidden)?, false)?)?;
    }
    let probs = masked_softmax(
        &scores.reshape((batch * heads, seq, seq))?,
        mask,
        heads,
        scale,
    )?;
    let probs = dropout(&probs, dropout_p, train)?.reshape((batch, heads, seq, seq))?;
    probs
        .matmul(&v)? // (b, h, seq, d)
        .transpose(1, 2)?
        .contiguous()?
        .reshape((batch, seq, hidden))
}

#[derive(Debug, Clone)]
struct Disentangled {
    heads: usize,
    head_dim: usize,
    scale: f32,
    relative: Relative,
    dropout: Option<Dropout>,
}

/// `C (m x n) = beta * A (m x k) B (k x n)` (plus C when `add`); each matrix a pointer with its
/// column and row strides.
///
/// # Safety
/// Every element the strides address must lie inside its buffer, and C must not overlap A or B.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn product(
    m: usize,
    n: usize,
    k: usize,
    c: (*mut f32, isize, isize),
    a: (*const f32, isize, isize),
    b: (*const f32, isize, isize),
    beta: f32,
    add: bool,
) {
    // SAFETY: the caller's contract (above) is gemm's.
    unsafe {
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
            b.0,
            b.1,
            b.2,
            if add { 1.0 } else { 0.0 },
            beta,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

impl Disentangled {
    /// Probabilities (before dropout) of head `h` of one sequence into `p` (seq x seq), with
    /// `rel` (seq x width) as scratch. `qkv`: the sequence's packed rows; `pos` the tables.
    fn probs(
        &self,
        qkv: &[f32],
        pos: &[f32],
        mask: &[f32],
        h: usize,
        p: &mut [f32],
        rel: &mut [f32],
    ) {
        let (d, hidden) = (self.head_dim, self.heads * self.head_dim);
        let (seq, w) = (mask.len(), self.relative.width);
        let (ws, ps) = (3 * hidden as isize, 2 * hidden as isize);
        assert!(qkv.len() >= seq * 3 * hidden && pos.len() >= w * 2 * hidden);
        assert!(p.len() >= seq * seq && rel.len() >= seq * w);
        let (q, k) = (qkv[h * d..].as_ptr(), qkv[hidden + h * d..].as_ptr());
        let delta = &self.relative.delta;
        // SAFETY (each product): rows < seq (or < w for the tables), columns < d inside one
        // head's columns of a packed row: inside `qkv` / `pos` as asserted; p and rel are
        // seq x seq and seq x w scratch.
        unsafe {
            // S = scale * Q K^T.
            product(
                seq,
                seq,
                d,
                (p.as_mut_ptr(), 1, seq as isize),
                (q, 1, ws),
                (k, ws, 1),
                self.scale,
                false,
            );
        }
        if self.relative.c2p {
            // rel = scale * Q PK^T; S[i][j] += rel[i][δ(i, j)].
            unsafe {
                product(
                    seq,
                    w,
                    d,
                    (rel.as_mut_ptr(), 1, w as isize),
                    (q, 1, ws),
                    (pos[h * d..].as_ptr(), ps, 1),
                    self.scale,
                    false,
                );
            }
            for i in 0..seq {
                let (row, r) = (&mut p[i * seq..(i + 1) * seq], &rel[i * w..(i + 1) * w]);
                for (j, s) in row.iter_mut().enumerate() {
                    *s += r[delta[i * seq + j] as usize];
                }
            }
        }
        if self.relative.p2c {
            // rel = scale * K PQ^T; S[i][j] += rel[j][δ(i, j)].
            unsafe {
                product(
                    seq,
                    w,
                    d,
                    (rel.as_mut_ptr(), 1, w as isize),
                    (k, 1, ws),
                    (pos[hidden + h * d..].as_ptr(), ps, 1),
                    self.scale,
                    false,
                );
            }
            for i in 0..seq {
                let row = &mut p[i * seq..(i + 1) * seq];
                for (j, s) in row.iter_mut().enumerate() {
                    *s += rel[j * w + delta[i * seq + j] as usize];
                }
            }
        }
        for row in p.chunks_exact_mut(seq) {
            softmax_row(row, mask);
        }
    }

    #[inline(always)]
    fn index(&self, b: usize, h: usize, seq: usize, i: usize) -> u64 {
        (((b * self.heads + h) * seq + i) * seq) as u64
    }

    fn forward_seq(&self, b: usize, qkv: &[f32], pos: &[f32], mask: &[f32], out: &mut [f32]) {
        let (d, hidden) = (self.head_dim, self.heads * self.head_dim);
        let (seq, w) = (mask.len(), self.relative.width);
        assert!(qkv.len() >= seq * 3 * hidden && out.len() >= seq * hidden);
        let (mut p, mut rel) = (vec![0f32; seq * seq], vec![0f32; seq * w]);
        for h in 0..self.heads {
            self.probs(qkv, pos, mask, h, &mut p, &mut rel);
            if let Some(m) = self.dropout {
                for (i, row) in p.chunks_exact_mut(seq).enumerate() {
                    let first = self.index(b, h, seq, i);
                    for (j, pij) in row.iter_mut().enumerate() {
                        *pij *= m.factor(first + j as u64);
                    }
                }
            }
            // out_h = P V_h.
            // SAFETY: V_h rows < seq inside `qkv`, out_h rows < seq inside `out` (asserted).
            unsafe {
                product(
                    seq,
                    d,
                    seq,
                    (out[h * d..].as_mut_ptr(), 1, hidden as isize),
                    (p.as_ptr(), 1, seq as isize),
                    (qkv[2 * hidden + h * d..].as_ptr(), 1, 3 * hidden as isize),
                    1.0,
                    false,
                );
            }
        }
    }

    /// Gradients of one sequence: `dqkv` its (seq, 3 * hidden) rows, `dpos` (width, 2 * hidden)
    /// accumulated. With A the probabilities, F the dropout factors, G the context gradient:
    /// dV = (A F)^T G; dA = (G V^T) F; dS = A (dA - rowsum(A dA)) scale; dQ = dS K + dC PK,
    /// dK = dS^T Q + dP PQ with dC[i][δ(i,j)] += dS[i][j], dP[j][δ(i,j)] += dS[i][j];
    /// dPK = dC^T Q, dPQ = dP^T K.
    #[allow(clippy::too_many_arguments)]
    fn backward_seq(
        &self,
        b: usize,
        qkv: &[f32],
        pos: &[f32],
        mask: &[f32],
        g: &[f32],
        dqkv: &mut [f32],
        dpos: &mut [f32],
    ) {
        let (d, hidden) = (self.head_dim, self.heads * self.head_dim);
        let (seq, w) = (mask.len(), self.relative.width);
        let width = 3 * hidden;
        assert!(qkv.len() >= seq * width && dqkv.len() >= seq * width && g.len() >= seq * hidden);
        assert!(pos.len() >= w * 2 * hidden && dpos.len() >= w * 2 * hidden);
        let (mut p, mut dp) = (vec![0f32; seq * seq], vec![0f32; seq * seq]);
        let mut rel = vec![0f32; seq * w];
        let mut dropped = self.dropout.map(|_| vec![0f32; seq * seq]);
        let (s, ws, hd, ps, wi) = (
            seq as isize,
            width as isize,
            hidden as isize,
            2 * hidden as isize,
            w as isize,
        );
        let delta = &self.relative.delta;
        for h in 0..self.heads {
            let (q_at, k_at, v_at) = (h * d, hidden + h * d, 2 * hidden + h * d);
            self.probs(qkv, pos, mask, h, &mut p, &mut rel);
            // SAFETY (every product below): views inside their buffers as asserted; rows < seq
            // or < w, columns < d inside one head's columns; destinations do not overlap sources.
            unsafe {
                // dA = G_h V_h^T.
                product(
                    seq,
                    seq,
                    d,
                    (dp.as_mut_ptr(), 1, s),
                    (g[h * d..].as_ptr(), 1, hd),
                    (qkv[v_at..].as_ptr(), ws, 1),
                    1.0,
                    false,
                );
            }
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
            unsafe {
                // dV_h = (A F)^T G_h.
                product(
                    seq,
                    d,
                    seq,
                    (dqkv[v_at..].as_mut_ptr(), 1, ws),
                    (pf.as_ptr(), s, 1),
                    (g[h * d..].as_ptr(), 1, hd),
                    1.0,
                    false,
                );
            }
            // dS in place of dA.
            for (prow, dprow) in p.chunks_exact(seq).zip(dp.chunks_exact_mut(seq)) {
                let dot: f32 = prow.iter().zip(dprow.iter()).map(|(x, y)| x * y).sum();
                for (ds, &pij) in dprow.iter_mut().zip(prow) {
                    *ds = pij * (*ds - dot) * self.scale;
                }
            }
            unsafe {
                // dQ_h = dS K_h; dK_h = dS^T Q_h.
                product(
                    seq,
                    d,
                    seq,
                    (dqkv[q_at..].as_mut_ptr(), 1, ws),
                    (dp.as_ptr(), 1, s),
                    (qkv[k_at..].as_ptr(), 1, ws),
                    1.0,
                    false,
                );
                product(
                    seq,
                    d,
                    seq,
                    (dqkv[k_at..].as_mut_ptr(), 1, ws),
                    (dp.as_ptr(), s, 1),
                    (qkv[q_at..].as_ptr(), 1, ws),
                    1.0,
                    false,
                );
            }
            for (on, table_at, rows_are_queries) in [
                (self.relative.c2p, h * d, true),
                (self.relative.p2c, hidden + h * d, false),
            ] {
                if !on {
                    continue;
                }
                // rel = dC (rows are queries) or dP (rows are keys), seq x w.
                rel.fill(0.0);
                for i in 0..seq {
                    for j in 0..seq {
                        let row = if rows_are_queries { i } else { j };
                        rel[row * w + delta[i * seq + j] as usize] += dp[i * seq + j];
                    }
                }
                let (content, grad_at) = if rows_are_queries {
                    (q_at, q_at)
                } else {
                    (k_at, k_at)
                };
                unsafe {
                    // dQ_h += dC PK_h (or dK_h += dP PQ_h): (seq x w) (w x d).
                    product(
                        seq,
                        d,
                        w,
                        (dqkv[grad_at..].as_mut_ptr(), 1, ws),
                        (rel.as_ptr(), 1, wi),
                        (pos[table_at..].as_ptr(), 1, ps),
                        1.0,
                        true,
                    );
                    // dPK_h += dC^T Q_h (or dPQ_h += dP^T K_h): (w x seq) (seq x d).
                    product(
                        w,
                        d,
                        seq,
                        (dpos[table_at..].as_mut_ptr(), 1, ps),
                        (rel.as_ptr(), wi, 1),
                        (qkv[content..].as_ptr(), 1, ws),
                        1.0,
                        true,
                    );
                }
            }
        }
    }
}

impl CustomOp3 for Disentangled {
    fn name(&self) -> &'static str {
        "byline-disentangled-attention"
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
        let pos = f32_slice(s2, l2, self.name())?;
        let mask = f32_slice(s3, l3, self.name())?;
        let (batch, seq, width) = l1.shape().dims3()?;
        let hidden = width / 3;
        let mut out = vec![0f32; batch * seq * hidden];
        out.par_chunks_mut(seq * hidden)
            .zip(qkv.par_chunks(seq * width))
            .zip(mask.par_chunks(seq))
            .enumerate()
            .for_each(|(b, ((out, qkv), mask))| simd!(self.forward_seq(b, qkv, pos, mask, out)));
        Ok((CpuStorage::F32(out), Shape::from((batch, seq, hidden))))
    }

    fn bwd(
        &self,
        qkv: &Tensor,
        pos: &Tensor,
        mask: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (batch, seq, width) = qkv.dims3()?;
        let both = qkv.flatten_all()?.contiguous()?.apply_op3_no_bwd(
            pos,
            mask,
            &DisentangledGrad {
                op: self.clone(),
                grad: grad.contiguous()?,
            },
        )?;
        let n = batch * seq * width;
        let dqkv = both.narrow(0, 0, n)?.reshape((batch, seq, width))?;
        let dpos = both.narrow(0, n, pos.elem_count())?.reshape(pos.shape())?;
        Ok((Some(dqkv), Some(dpos), None))
    }
}

/// Inputs (qkv flattened, pos, mask) and the context's gradient; output the gradients of qkv
/// and pos, concatenated (flat).
struct DisentangledGrad {
    op: Disentangled,
    grad: Tensor,
}

impl CustomOp3 for DisentangledGrad {
    fn name(&self) -> &'static str {
        "byline-disentangled-attention-grad"
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
        let pos = f32_slice(s2, l2, self.name())?;
        let mask = f32_slice(s3, l3, self.name())?;
        let (storage, layout) = self.grad.storage_and_layout();
        let g = match &*storage {
            candle_core::Storage::Cpu(s) => f32_slice(s, layout, self.name())?.to_vec(),
            _ => bail!("{}: the gradient is not on the CPU", self.name()),
        };
        let (batch, seq) = l3.shape().dims2()?;
        let width = qkv.len() / (batch * seq).max(1);
        let hidden = width / 3;
        let mut dqkv = vec![0f32; qkv.len()];
        let dpos = dqkv
            .par_chunks_mut(seq * width)
            .zip(qkv.par_chunks(seq * width))
            .zip(mask.par_chunks(seq).zip(g.par_chunks(seq * hidden)))
            .enumerate()
            .map(|(b, ((dqkv, qkv), (mask, g)))| {
                let mut dpos = vec![0f32; pos.len()];
                simd!(self.op.backward_seq(b, qkv, pos, mask, g, dqkv, &mut dpos));
                dpos
            })
            .reduce(|| vec![0f32; pos.len()], add_partials);
        dqkv.extend_from_slice(&dpos);
        let n = dqkv.len();
        Ok((CpuStorage::F32(dqkv), Shape::from(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, finite_difference_check};
    use candle_core::{Device, Var};

    /// Batch 2, seq 5, 2 heads of 4, tables of 6 rows; the second sequence has padding.
    fn inputs(c2p: bool, p2c: bool) -> Result<(Var, Var, Tensor, Relative)> {
        let dev = Device::Cpu;
        let qkv = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 5, 24), &dev)?)?;
        let pos = Var::from_tensor(&Tensor::randn(0f32, 1.0, (6, 16), &dev)?)?;
        let mask = Tensor::new(&[[0f32, 0., 0., 0., 0.], [0., 0., 0., -1e9, -1e9]], &dev)?;
        let delta = (0..25)
            .map(|n| ((n / 5) as i64 - (n % 5) as i64 + 3).clamp(0, 5) as u32)
            .collect();
        let relative = Relative {
            c2p,
            p2c,
            width: 6,
            delta: std::sync::Arc::new(delta),
        };
        Ok((qkv, pos, mask, relative))
    }

    #[test]
    fn fused_matches_composed_forward_and_backward() -> Result<()> {
        for (c2p, p2c) in [(true, true), (true, false), (false, true)] {
            let (qkv, pos, mask, rel) = inputs(c2p, p2c)?;
            let probe = Tensor::randn(0f32, 1.0, (2, 5, 8), &Device::Cpu)?;
            let fused =
                |x: &Tensor, t: &Tensor| disentangled_attention(x, t, &mask, &rel, 2, 0.0, true);
            let composed = |x: &Tensor, t: &Tensor| {
                let scale = 1.0 / ((4 * (1 + c2p as usize + p2c as usize)) as f64).sqrt();
                disentangled_composed(x, t, &mask, &rel, 2, scale, 0.0, true)
            };
            let (a, b) = (
                fused(qkv.as_tensor(), pos.as_tensor())?,
                composed(qkv.as_tensor(), pos.as_tensor())?,
            );
            assert_close(&a, &b, 1e-5)?;
            let ga = a.mul(&probe)?.sum_all()?.backward()?;
            let gb = b.mul(&probe)?.sum_all()?.backward()?;
            for v in [&qkv, &pos] {
                assert_close(ga.get(v).expect("grad"), gb.get(v).expect("grad"), 1e-4)?;
            }
            let numeric = finite_difference_check(qkv.as_tensor(), |x| {
                fused(x, pos.as_tensor())?.mul(&probe)?.sum_all()
            })?;
            assert_close(ga.get(&qkv).expect("grad"), &numeric, 1e-2)?;
            let numeric = finite_difference_check(pos.as_tensor(), |t| {
                fused(qkv.as_tensor(), t)?.mul(&probe)?.sum_all()
            })?;
            assert_close(ga.get(&pos).expect("grad"), &numeric, 1e-2)?;
        }
        Ok(())
    }

    #[test]
    fn dropout_gradient_uses_the_forward_mask() -> Result<()> {
        let (qkv, pos, mask, rel) = inputs(true, true)?;
        let probe = Tensor::randn(0f32, 1.0, (2, 5, 8), &Device::Cpu)?;
        let op = Disentangled {
            heads: 2,
            head_dim: 4,
            scale: 0.3,
            relative: rel,
            dropout: Some(Dropout::new(0.3, 5)),
        };
        let loss = |x: &Tensor| {
            x.apply_op3(pos.as_tensor(), &mask, op.clone())?
                .mul(&probe)?
                .sum_all()
        };
        let g = loss(qkv.as_tensor())?.backward()?;
        let numeric = finite_difference_check(qkv.as_tensor(), loss)?;
        assert_close(g.get(&qkv).expect("grad"), &numeric, 1e-2)
    }

    #[test]
    fn rejects_what_does_not_fit() -> Result<()> {
        let (qkv, pos, mask, rel) = inputs(true, true)?;
        let (q, p) = (qkv.as_tensor(), pos.as_tensor());
        assert!(disentangled_attention(q, p, &mask, &rel, 3, 0.0, false).is_err());
        assert!(
            disentangled_attention(q, &p.narrow(0, 0, 5)?, &mask, &rel, 2, 0.0, false).is_err()
        );
        let mut far = rel.clone();
        far.delta = std::sync::Arc::new(vec![6; 25]);
        assert!(disentangled_attention(q, p, &mask, &far, 2, 0.0, false).is_err());
        Ok(())
    }
}
