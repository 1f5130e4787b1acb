//! 8-bit inference for the dense layers: `y = x W^T + b` with int8 weights and activations.
//!
//! * Weights are quantized once, symmetrically per output channel, to 7 bits:
//!   `w ≈ sw[n] * qw[n, k]` with `qw` in `[-63, 63]` and `sw[n] = max_k |w[n, k]| / 63`.
//! * Activations are quantized on each call, symmetrically per row (token), to 8 bits:
//!   `x ≈ sx[m] * qx[m, k]` with `qx` in `[-127, 127]`. They are stored as `u8 = qx + 128`, the
//!   unsigned operand of AVX-512 VNNI's `vpdpbusd` and AVX2's `vpmaddubsw` (u8 x i8); the offset
//!   is taken back out with a precomputed `128 * sum_k qw[n, k]` per column.
//! * Products are summed exactly in i32, then `y = ((acc as f32) * sw[n]) * sx[m] + b[n]` in f32.
//!
//! Why 7-bit weights: AVX2 has no u8 x i8 dot product into i32; `vpmaddubsw` sums two products
//! into a saturating i16. With `u8 <= 255` and `|qw| <= 63` a pair is at most `2 * 255 * 63 =
//! 32130 < 2^15`, so it never saturates, and the kernel needs two multiply instructions per 32
//! products (`vpmaddubsw`, then `vpmaddwd` by ones) where 8-bit weights needed a third to move
//! the sign onto the weight (ONNX Runtime's `reduce_range` makes the same trade).
//!
//! Every kernel (AVX-512 VNNI, AVX2, portable) computes the same integers and the same f32
//! operations in the same order, so they give bit-identical outputs.
//!
//! Error of one output (exact, before f32 rounding), with `|δx| <= sx / 2` and `|δw| <= sw / 2`:
//! `|y_q - y| <= sw/2 * Σ|x_k| + sx/2 * Σ|w_k| + K * sx * sw / 4` (tested below). With
//! rounding errors that do not line up, the typical relative error is about 1.5 %.

use std::fmt;
use std::str::FromStr;

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

use crate::kernels::cpu::f32_slice;

/// How the encoder's dense layers compute: f32 (`none`) or int8 (`q8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quantization {
    #[default]
    None,
    /// Int8 weights (per output channel) and activations (per token), i32 accumulation.
    Q8,
}

impl Quantization {
    pub const NAMES: [&'static str; 2] = ["none", "q8"];
}

impl fmt::Display for Quantization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Quantization::None => "none",
            Quantization::Q8 => "q8",
        })
    }
}

/// An unknown quantization name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown quantization `{0}` (expected one of: none, q8)")]
pub struct ParseQuantizationError(pub String);

impl FromStr for Quantization {
    type Err = ParseQuantizationError;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "f32" => Ok(Quantization::None),
            "q8" | "int8" => Ok(Quantization::Q8),
            _ => Err(ParseQuantizationError(s.to_string())),
        }
    }
}

/// Rows of one micro-tile.
const MR: usize = 6;
/// Columns of one micro-tile: `NT` vectors of 16 i32 lanes.
const NT: usize = 4;
const NR: usize = 16 * NT;
/// Most rows one rayon task quantizes and multiplies (a multiple of `MR`).
const MC: usize = 20 * MR;

/// Which micro-kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// AVX-512 F/BW + VNNI: `vpdpbusd`, 16 i32 lanes.
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni,
    /// AVX2: `vpmaddubsw` (u8 x i8 pairs into i16; no saturation: `2 * 255 * 63 < 2^15`), then
    /// `vpmaddwd` by ones into i32.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// Plain Rust, any CPU.
    Portable,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub(crate) fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vnni")
            {
                return Kernel::Avx512Vnni;
            }
            if is_x86_feature_detected!("avx2") {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }

    /// Every kernel this CPU runs (for tests).
    #[cfg(test)]
    pub(crate) fn available() -> Vec<Kernel> {
        let mut out = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") {
                out.push(Kernel::Avx2);
            }
            if Kernel::detect() == Kernel::Avx512Vnni {
                out.push(Kernel::Avx512Vnni);
            }
        }
        out
    }
}

/// The kernel [`Q8Linear`] runs on this CPU: `avx512-vnni`, `avx2` or `portable`.
pub fn kernel_name() -> &'static str {
    match Kernel::detect() {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni => "avx512-vnni",
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => "avx2",
        Kernel::Portable => "portable",
    }
}

/// A dense layer with int8 weights, packed for the micro-kernels.
#[derive(Clone)]
pub struct Q8Linear {
    /// Output features.
    n: usize,
    /// Input features.
    k: usize,
    /// `k` rounded up to a multiple of 4.
    k4: usize,
    /// Column tiles of `NR` outputs: `packed[((t * k4 / 4 + g) * NR + c) * 4 + b]` is
    /// `qw[t * NR + c, 4 * g + b]` (0 past the ends).
    packed: Vec<i8>,
    /// Per output channel, padded with zeros to whole tiles: scale, `128 * Σ_k qw`, bias.
    scale: Vec<f32>,
    offset: Vec<i32>,
    bias: Vec<f32>,
}

impl fmt::Debug for Q8Linear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Q8Linear")
            .field("out", &self.n)
            .field("in", &self.k)
            .finish_non_exhaustive()
    }
}

/// Largest magnitude of a quantized activation (8 bits).
const ACT_LEVELS: f32 = 127.0;
/// Largest magnitude of a quantized weight (7 bits; see the module notes).
const WEIGHT_LEVELS: f32 = 63.0;

/// Symmetric quantization of one row to `[-levels, levels]`: writes `q = round(x / s)` and
/// returns `s = max |x| / levels`. A row of zeros has scale 0; a row with a NaN or infinity has
/// scale NaN, so the outputs it feeds are NaN as in f32.
#[inline(always)]
fn quantize_row_to(x: &[f32], q: &mut [i8], levels: f32) -> f32 {
    let mut lanes = [0f32; 16];
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        for (m, v) in lanes.iter_mut().zip(c) {
            let a = v.abs();
            // A compare-and-select vectorises; `f32::max` (NaN-aware) did not.
            *m = if a > *m { a } else { *m };
        }
    }
    let mut amax = lanes.iter().fold(0f32, |a, &b| a.max(b));
    for v in chunks.remainder() {
        amax = amax.max(v.abs());
    }
    if x.iter().any(|v| !v.is_finite()) {
        q.fill(0);
        return f32::NAN;
    }
    let inv = if amax > 0.0 { levels / amax } else { 0.0 };
    for (q, &v) in q.iter_mut().zip(x) {
        let r = (v * inv).round_ties_even().clamp(-levels, levels);
        // SAFETY: `r` is finite (the row has no NaN or infinity, checked above) and within
        // [-levels, levels] ⊂ [-127, 127] after the clamp, so the conversion is exact; unlike
        // `as`, it needs no saturation code, which kept this loop scalar.
        *q = unsafe { r.to_int_unchecked::<i32>() } as i8;
    }
    amax / levels
}

/// An activation row to `[-127, 127]` ([`quantize_row_to`]).
#[inline(always)]
fn quantize_row_generic(x: &[f32], q: &mut [i8]) -> f32 {
    quantize_row_to(x, q, ACT_LEVELS)
}

/// [`quantize_row_generic`] compiled for AVX-512 (same IEEE operations, same results).
///
/// # Safety
/// The CPU must support AVX-512 F and BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn quantize_row_avx512(x: &[f32], q: &mut [i8]) -> f32 {
    quantize_row_generic(x, q)
}

/// [`quantize_row_generic`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn quantize_row_avx2(x: &[f32], q: &mut [i8]) -> f32 {
    quantize_row_generic(x, q)
}

fn quantize_row(kernel: Kernel, x: &[f32], q: &mut [i8]) -> f32 {
    match kernel {
        // SAFETY: `Kernel::Avx512Vnni` is only chosen when the CPU has AVX-512 F/BW.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni => unsafe { quantize_row_avx512(x, q) },
        // SAFETY: `Kernel::Avx2` is only chosen when the CPU has AVX2.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { quantize_row_avx2(x, q) },
        Kernel::Portable => quantize_row_generic(x, q),
    }
}

/// One micro-tile's share of the per-column data and where its results go.
pub(crate) struct Epilogue<'a> {
    /// `NR` entries each (padded).
    scale: &'a [f32],
    offset: &'a [i32],
    bias: Option<&'a [f32]>,
    /// Scale of each row of the tile.
    row_scale: &'a [f32],
    /// Valid columns of this tile (`1..=NR`).
    cols: usize,
}

impl Epilogue<'_> {
    /// The f32 output of one accumulator: the same operations, in the same order, as the SIMD
    /// epilogues.
    #[inline(always)]
    fn value(&self, acc: i32, row: usize, col: usize) -> f32 {
        let v = (acc.wrapping_sub(self.offset[col]) as f32 * self.scale[col]) * self.row_scale[row];
        match self.bias {
            Some(b) => v + b[col],
            None => v,
        }
    }
}

impl Q8Linear {
    /// Quantizes `weight` (out, in) and `bias` (out,).
    pub fn new(weight: &Tensor, bias: Option<&Tensor>) -> Result<Self> {
        let (n, k) = weight.dims2()?;
        let w = weight
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let bias = match bias {
            Some(b) => {
                if b.dims() != [n] {
                    bail!(
                        "q8 linear: bias {:?} does not fit weight ({n}, {k})",
                        b.dims()
                    )
                }
                b.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?
            }
            None => vec![0.0; n],
        };
        Ok(Self::from_f32(&w, &bias, n, k))
    }

    fn from_f32(w: &[f32], bias: &[f32], n: usize, k: usize) -> Self {
        let k4 = k.div_ceil(4) * 4;
        let tiles = n.div_ceil(NR);
        let padded = tiles * NR;
        let mut scale = vec![0f32; padded];
        let mut offset = vec![0i32; padded];
        let mut bias_p = vec![0f32; padded];
        let mut packed = vec![0i8; tiles * k4 * NR];
        let mut q = vec![0i8; k];
        for row in 0..n {
            scale[row] = quantize_row_to(&w[row * k..(row + 1) * k], &mut q, WEIGHT_LEVELS);
            offset[row] = 128 * q.iter().map(|&v| i32::from(v)).sum::<i32>();
            bias_p[row] = bias[row];
            let (t, c) = (row / NR, row % NR);
            for (kk, &v) in q.iter().enumerate() {
                packed[((t * k4 / 4 + kk / 4) * NR + c) * 4 + kk % 4] = v;
            }
        }
        Self {
            n,
            k,
            k4,
            packed,
            scale,
            offset,
            bias: bias_p,
        }
    }

    pub fn in_dim(&self) -> usize {
        self.k
    }

    pub fn out_dim(&self) -> usize {
        self.n
    }

    /// `xs`: (..., in) f32 on the CPU -> (..., out), bias added.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.apply(xs, true)
    }

    /// As [`Q8Linear::forward`] without the bias, for callers that fuse it into the next op.
    pub fn forward_no_bias(&self, xs: &Tensor) -> Result<Tensor> {
        self.apply(xs, false)
    }

    fn apply(&self, xs: &Tensor, with_bias: bool) -> Result<Tensor> {
        let in_dim = xs.dim(D::Minus1)?;
        if in_dim != self.k {
            bail!(
                "q8 linear: input {:?}, expected (..., {})",
                xs.dims(),
                self.k
            )
        }
        xs.contiguous()?.apply_op1_no_bwd(&Q8MatMul {
            linear: self,
            with_bias,
            kernel: Kernel::detect(),
        })
    }

    /// `rows x k` row-major input -> `rows x n` output.
    pub(crate) fn matmul(&self, x: &[f32], with_bias: bool, kernel: Kernel) -> Vec<f32> {
        let (n, k, k4) = (self.n, self.k, self.k4);
        let rows = x.len() / k.max(1);
        let mut out = vec![0f32; rows * n];
        if rows == 0 || n == 0 {
            return out;
        }
        // Enough tasks for every thread even for short inputs, at most `MC` rows each.
        let tasks = 4 * rayon::current_num_threads();
        let mc = rows.div_ceil(tasks).div_ceil(MR).clamp(1, MC / MR) * MR;
        out.par_chunks_mut(mc * n)
            .zip(x.par_chunks(mc * k))
            .for_each(|(out, x)| {
                let m = x.len() / k.max(1);
                // The block's activations: u8 = q + 128, rows padded to k4 with 128 (zero).
                let mut qa = vec![128u8; m * k4];
                let mut row_scale = vec![0f32; m];
                let mut q = vec![0i8; k];
                for r in 0..m {
                    row_scale[r] = quantize_row(kernel, &x[r * k..(r + 1) * k], &mut q);
                    for (a, &v) in qa[r * k4..r * k4 + k].iter_mut().zip(&q) {
                        *a = (v as u8) ^ 0x80;
                    }
                }
                for t in 0..n.div_ceil(NR) {
                    let panel = &self.packed[t * k4 * NR..(t + 1) * k4 * NR];
                    let cols = NR.min(n - t * NR);
                    let c = t * NR..(t + 1) * NR;
                    for r0 in (0..m).step_by(MR) {
                        let rs = MR.min(m - r0);
                        let ep = Epilogue {
                            scale: &self.scale[c.clone()],
                            offset: &self.offset[c.clone()],
                            bias: with_bias.then(|| &self.bias[c.clone()]),
                            row_scale: &row_scale[r0..r0 + rs],
                            cols,
                        };
                        let a = &qa[r0 * k4..(r0 + rs) * k4];
                        let o = &mut out[r0 * n + t * NR..];
                        tile(kernel, a, k4, panel, &ep, o, n);
                    }
                }
            });
        out
    }
}

/// One micro-tile: `a` holds `ep.row_scale.len()` rows of `k4` bytes; writes `ep.cols` columns
/// of each row at `out[r * ldo..]`.
fn tile(kernel: Kernel, a: &[u8], k4: usize, w: &[i8], ep: &Epilogue, out: &mut [f32], ldo: usize) {
    let rows = ep.row_scale.len();
    assert!(
        a.len() == rows * k4
            && w.len() == k4 * NR
            && ep.scale.len() == NR
            && ep.offset.len() == NR
            && ep.bias.is_none_or(|b| b.len() == NR)
            && (1..=NR).contains(&ep.cols)
            && (1..=MR).contains(&rows)
            && out.len() >= (rows - 1) * ldo + ep.cols
    );
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni => {
            // SAFETY: the CPU has AVX-512 F/BW/VNNI (`Kernel::detect`); the assert above checks
            // every length the kernel relies on.
            unsafe {
                match rows {
                    1 => x86::tile_vnni::<1>(a, k4, w, ep, out, ldo),
                    2 => x86::tile_vnni::<2>(a, k4, w, ep, out, ldo),
                    3 => x86::tile_vnni::<3>(a, k4, w, ep, out, ldo),
                    4 => x86::tile_vnni::<4>(a, k4, w, ep, out, ldo),
                    5 => x86::tile_vnni::<5>(a, k4, w, ep, out, ldo),
                    _ => x86::tile_vnni::<MR>(a, k4, w, ep, out, ldo),
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => {
            // SAFETY: the CPU has AVX2; lengths checked above.
            unsafe { x86::tile_avx2(a, k4, w, ep, out, ldo) }
        }
        Kernel::Portable => tile_portable(a, k4, w, ep, out, ldo),
    }
}

fn tile_portable(a: &[u8], k4: usize, w: &[i8], ep: &Epilogue, out: &mut [f32], ldo: usize) {
    for (r, a) in a.chunks_exact(k4).enumerate() {
        let mut acc = [0i32; NR];
        for (a, w) in a.chunks_exact(4).zip(w.chunks_exact(4 * NR)) {
            for (acc, w) in acc.iter_mut().zip(w.chunks_exact(4)) {
                for (&a, &w) in a.iter().zip(w) {
                    *acc = acc.wrapping_add(i32::from(a) * i32::from(w));
                }
            }
        }
        for (c, &acc) in acc.iter().enumerate().take(ep.cols) {
            out[r * ldo + c] = ep.value(acc, r, c);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Epilogue, NR, NT};

    /// `R` rows x `NR` columns with `vpdpbusd`.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F/BW/VNNI, and the lengths must be those `super::tile`
    /// asserts (`a`: `R * k4`, `w`: `k4 * NR`, `out`: `(R - 1) * ldo + ep.cols`).
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn tile_vnni<const R: usize>(
        a: &[u8],
        k4: usize,
        w: &[i8],
        ep: &Epilogue,
        out: &mut [f32],
        ldo: usize,
    ) {
        let mut acc = [[_mm512_setzero_si512(); NT]; R];
        let (a, w) = (a.as_ptr(), w.as_ptr());
        for g in 0..k4 / 4 {
            // SAFETY: `g * 4 * NR + 64 * j + 64 <= k4 * NR` and `r * k4 + 4 * g + 4 <= R * k4`.
            unsafe {
                let wg = w.add(g * 4 * NR);
                let wv: [__m512i; NT] =
                    std::array::from_fn(|j| _mm512_loadu_si512(wg.add(64 * j).cast()));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let av =
                        _mm512_set1_epi32(a.add(r * k4 + 4 * g).cast::<i32>().read_unaligned());
                    for (acc, &wv) in acc.iter_mut().zip(&wv) {
                        *acc = _mm512_dpbusd_epi32(*acc, av, wv);
                    }
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let rs = _mm512_set1_ps(ep.row_scale[r]);
            for (j, &acc) in acc.iter().enumerate() {
                let c = 16 * j;
                if c >= ep.cols {
                    break;
                }
                let mask: __mmask16 = if ep.cols - c >= 16 {
                    0xffff
                } else {
                    (1u16 << (ep.cols - c)) - 1
                };
                // SAFETY: `c + 16 <= NR` for the column data; the store is masked to
                // `ep.cols - c` lanes, inside `out` by the caller's length check.
                unsafe {
                    let off = _mm512_loadu_si512(ep.offset.as_ptr().add(c).cast());
                    let sc = _mm512_loadu_ps(ep.scale.as_ptr().add(c));
                    let mut v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc, off));
                    v = _mm512_mul_ps(_mm512_mul_ps(v, sc), rs);
                    if let Some(b) = ep.bias {
                        v = _mm512_add_ps(v, _mm512_loadu_ps(b.as_ptr().add(c)));
                    }
                    _mm512_mask_storeu_ps(out.as_mut_ptr().add(r * ldo + c), mask, v);
                }
            }
        }
    }

    /// All rows of a tile, in blocks of two rows by 32 columns (8 accumulators of 8 i32
    /// lanes): `vpmaddubsw(u8 x, i8 w)` sums each pair of products into i16 (at most
    /// `2 * 255 * 63`, so nothing saturates), `vpmaddwd` by ones sums the pairs into i32.
    ///
    /// # Safety
    /// The CPU must support AVX2; lengths as for [`tile_vnni`] with `R = ep.row_scale.len()`.
    /// Rows and 8-column vectors of one AVX2 block: 8 accumulators, so with the two row
    /// broadcasts, the weight vector, the product and the ones they fit the 16 registers.
    /// (Three rows by four vectors spilled two accumulators to the stack, and the loop then
    /// waited on store-to-load forwarding: 95 against 140 GOP/s on one Zen 3 core.)
    const BR: usize = 2;
    const BJ: usize = NR / 16;

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn tile_avx2(
        a: &[u8],
        k4: usize,
        w: &[i8],
        ep: &Epilogue,
        out: &mut [f32],
        ldo: usize,
    ) {
        let rows = ep.row_scale.len();
        let mut r0 = 0;
        while r0 < rows {
            let block = (rows - r0).min(BR);
            // SAFETY: rows `r0..r0 + block` lie inside the tile; other lengths as the caller's.
            unsafe {
                match block {
                    1 => block_avx2::<1, BJ>(a, k4, w, ep, out, ldo, r0),
                    _ => block_avx2::<BR, BJ>(a, k4, w, ep, out, ldo, r0),
                }
            }
            r0 += block;
        }
    }

    /// Rows `r0..r0 + R` of a tile, `J` vectors of 8 columns per pass (see [`tile_avx2`]).
    ///
    /// # Safety
    /// As [`tile_avx2`], and `r0 + R <= ep.row_scale.len()`.
    #[target_feature(enable = "avx2")]
    unsafe fn block_avx2<const R: usize, const J: usize>(
        a: &[u8],
        k4: usize,
        w: &[i8],
        ep: &Epilogue,
        out: &mut [f32],
        ldo: usize,
        r0: usize,
    ) {
        let ones = _mm256_set1_epi16(1);
        let (ap, wp) = (a.as_ptr(), w.as_ptr());
        for c0 in (0..NR).step_by(8 * J) {
            if c0 >= ep.cols {
                break;
            }
            let mut acc = [[_mm256_setzero_si256(); J]; R];
            for g in 0..k4 / 4 {
                // SAFETY: `g * 4 * NR + 4 * c0 + 32 * J <= k4 * NR` and
                // `(r0 + r) * k4 + 4 * g + 4 <= rows * k4`.
                unsafe {
                    let wg = wp.add(g * 4 * NR + 4 * c0);
                    let av: [__m256i; R] = std::array::from_fn(|r| {
                        _mm256_set1_epi32(
                            ap.add((r0 + r) * k4 + 4 * g).cast::<i32>().read_unaligned(),
                        )
                    });
                    for j in 0..J {
                        let wv = _mm256_loadu_si256(wg.add(32 * j).cast());
                        for (acc, &av) in acc.iter_mut().zip(&av) {
                            let p = _mm256_madd_epi16(_mm256_maddubs_epi16(av, wv), ones);
                            acc[j] = _mm256_add_epi32(acc[j], p);
                        }
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                let row = r0 + r;
                let rs = _mm256_set1_ps(ep.row_scale[row]);
                for (j, &acc) in acc.iter().enumerate() {
                    let c = c0 + 8 * j;
                    if c >= ep.cols {
                        break;
                    }
                    // SAFETY: `c + 8 <= NR` for the column data.
                    let mut v = unsafe {
                        let off = _mm256_loadu_si256(ep.offset.as_ptr().add(c).cast());
                        let sc = _mm256_loadu_ps(ep.scale.as_ptr().add(c));
                        let v = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, off));
                        _mm256_mul_ps(_mm256_mul_ps(v, sc), rs)
                    };
                    if let Some(b) = ep.bias {
                        // SAFETY: as above.
                        v = _mm256_add_ps(v, unsafe { _mm256_loadu_ps(b.as_ptr().add(c)) });
                    }
                    let o = &mut out[row * ldo + c..];
                    if ep.cols - c >= 8 {
                        // SAFETY: 8 columns of this row are valid, inside `out` by the
                        // caller's length check.
                        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), v) };
                    } else {
                        let mut lanes = [0f32; 8];
                        // SAFETY: `lanes` holds 8 floats.
                        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
                        let n = ep.cols - c;
                        o[..n].copy_from_slice(&lanes[..n]);
                    }
                }
            }
        }
    }
}

/// The op behind [`Q8Linear::forward`]: (..., in) -> (..., out).
struct Q8MatMul<'a> {
    linear: &'a Q8Linear,
    with_bias: bool,
    kernel: Kernel,
}

impl CustomOp1 for Q8MatMul<'_> {
    fn name(&self) -> &'static str {
        "byline-q8-matmul"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let out = self.linear.matmul(x, self.with_bias, self.kernel);
        let mut dims = l.dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = self.linear.n;
        }
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: deterministic test data without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
            bits as f32 / (1u64 << 24) as f32 // [0, 1)
        }

        /// Roughly normal (sum of uniforms), scaled.
        fn normal(&mut self, std: f32) -> f32 {
            let s: f32 = (0..4).map(|_| self.next()).sum();
            (s - 2.0) * std * 1.732
        }

        fn vec(&mut self, len: usize, std: f32) -> Vec<f32> {
            (0..len).map(|_| self.normal(std)).collect()
        }
    }

    /// The integer reference: quantize, multiply in i64, then the documented f32 epilogue.
    fn reference(x: &[f32], w: &[f32], bias: Option<&[f32]>, n: usize, k: usize) -> Vec<f32> {
        let quantize = |m: &[f32], levels: f32| {
            let rows = m.len() / k;
            let mut q = vec![0i8; m.len()];
            let s: Vec<f32> = (0..rows)
                .map(|r| {
                    quantize_row_to(&m[r * k..(r + 1) * k], &mut q[r * k..(r + 1) * k], levels)
                })
                .collect();
            (q, s)
        };
        let (qx, sx) = quantize(x, 127.0);
        let (qw, sw) = quantize(w, 63.0);
        let rows = x.len() / k;
        let mut out = vec![0f32; rows * n];
        for m in 0..rows {
            for j in 0..n {
                let acc: i64 = (0..k)
                    .map(|i| i64::from(qx[m * k + i]) * i64::from(qw[j * k + i]))
                    .sum();
                let v = (i32::try_from(acc).expect("fits i32") as f32 * sw[j]) * sx[m];
                out[m * n + j] = bias.map_or(v, |b| v + b[j]);
            }
        }
        out
    }

    /// (rows, in, out): whole tiles, ragged rows / columns / depth (k not a multiple of 4 or
    /// 64), a single row, a single column.
    const SHAPES: [(usize, usize, usize); 9] = [
        (12, 64, 64),
        (7, 37, 70),
        (1, 5, 3),
        (13, 130, 129),
        (6, 384, 128),
        (25, 3, 17),
        (130, 66, 65),
        (2, 1, 1),
        (9, 255, 200),
    ];

    #[test]
    fn every_kernel_equals_the_integer_reference_exactly() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for (rows, k, n) in SHAPES {
            let x = rng.vec(rows * k, 1.0);
            let w = rng.vec(n * k, 0.1);
            let b = rng.vec(n, 0.5);
            let layer = Q8Linear::from_f32(&w, &b, n, k);
            for with_bias in [true, false] {
                let want = reference(&x, &w, with_bias.then_some(&b[..]), n, k);
                for kernel in Kernel::available() {
                    let got = layer.matmul(&x, with_bias, kernel);
                    assert_eq!(got.len(), want.len());
                    for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            g.to_bits() == e.to_bits(),
                            "{kernel:?} ({rows}, {k}) x ({k}, {n}) bias {with_bias}, element {i}: {g} vs {e}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn extreme_values_do_not_overflow_and_zero_rows_give_the_bias() {
        // Every activation and weight at ±max. Row 0 is all +max (stored u8 255): against a
        // column of +max weights (63) each `vpmaddubsw` pair sums to `2 * 255 * 63`, the most
        // an i16 must hold. Row 1 mixes signs, so stored bytes are 1 and 255. The i32 sums
        // reach `127 * 63 * k` (plus the `128 * 63 * k` offset the u8 storage adds).
        let (rows, k, n) = (3, 1000, 20);
        let mut x = vec![2.0f32; rows * k];
        for (i, v) in x[k..2 * k].iter_mut().enumerate() {
            if i % 3 == 0 {
                *v = -2.0;
            }
        }
        x[2 * k..].fill(0.0); // last row all zero
                              // Columns of all +1, all -1, and alternating signs.
        let w: Vec<f32> = (0..n * k)
            .map(|i| match (i / k) % 3 {
                0 => 1.0,
                1 => -1.0,
                _ if i % 2 == 0 => 1.0,
                _ => -1.0,
            })
            .collect();
        let b: Vec<f32> = (0..n).map(|j| j as f32).collect();
        let layer = Q8Linear::from_f32(&w, &b, n, k);
        let want = reference(&x, &w, Some(&b), n, k);
        for kernel in Kernel::available() {
            assert_eq!(layer.matmul(&x, true, kernel), want, "{kernel:?}");
        }
        assert_eq!(&want[2 * n..], &b[..]);
        // The first row against the all-positive and all-negative columns: ±2 * 1 * k (both
        // operands sit on their grids; only the scales' f32 rounding remains), plus the bias.
        let near = |got: f32, want: f32| (got - want).abs() <= 1e-5 * want.abs();
        assert!(near(want[0], 2.0 * k as f32), "{}", want[0]);
        assert!(near(want[1], -2.0 * k as f32 + 1.0), "{}", want[1]);
    }

    #[test]
    fn a_non_finite_input_row_gives_nan_outputs_for_that_row_only() {
        let (k, n) = (8, 5);
        let mut x = vec![0.5f32; 2 * k];
        x[3] = f32::INFINITY;
        let w = vec![0.25f32; n * k];
        let layer = Q8Linear::from_f32(&w, &vec![0.0; n], n, k);
        for kernel in Kernel::available() {
            let y = layer.matmul(&x, true, kernel);
            assert!(y[..n].iter().all(|v| v.is_nan()), "{kernel:?}: {y:?}");
            assert!(
                y[n..].iter().all(|v| (v - 1.0).abs() < 1e-2),
                "{kernel:?}: {y:?}"
            );
        }
    }

    #[test]
    fn output_is_within_the_quantization_error_bound_of_f32() {
        let mut rng = Rng(42);
        for (rows, k, n) in SHAPES {
            let x = rng.vec(rows * k, 1.0);
            let w = rng.vec(n * k, 0.1);
            let b = rng.vec(n, 0.5);
            let layer = Q8Linear::from_f32(&w, &b, n, k);
            let got = layer.matmul(&x, true, Kernel::detect());
            let amax = |v: &[f32]| v.iter().fold(0f32, |a, b| a.max(b.abs()));
            let (mut err2, mut ref2) = (0f64, 0f64);
            for m in 0..rows {
                let xr = &x[m * k..(m + 1) * k];
                let sx = f64::from(amax(xr)) / 127.0;
                for j in 0..n {
                    let wr = &w[j * k..(j + 1) * k];
                    let sw = f64::from(amax(wr)) / 63.0;
                    let exact: f64 = xr
                        .iter()
                        .zip(wr)
                        .map(|(a, b)| f64::from(*a) * f64::from(*b))
                        .sum::<f64>()
                        + f64::from(b[j]);
                    let sum_x: f64 = xr.iter().map(|v| f64::from(v.abs())).sum();
                    let sum_w: f64 = wr.iter().map(|v| f64::from(v.abs())).sum();
                    let bound = sw / 2.0 * sum_x + sx / 2.0 * sum_w + k as f64 * sx * sw / 4.0;
                    let err = (f64::from(got[m * n + j]) - exact).abs();
                    // f32 rounding of the epilogue: a few ulps of the result.
                    assert!(
                        err <= bound * 1.001 + 1e-6 * (1.0 + exact.abs()),
                        "({rows}, {k}, {n}) [{m}, {j}]: error {err} > bound {bound}"
                    );
                    err2 += err * err;
                    ref2 += (exact - f64::from(b[j])).powi(2);
                }
            }
            if k >= 32 {
                // Independent rounding errors: ~0.7 % for activations, ~1.4 % for the 7-bit
                // weights, about 1.5 % together.
                let rel = (err2 / ref2).sqrt();
                assert!(rel < 0.03, "({rows}, {k}, {n}): relative error {rel}");
            }
        }
    }

    #[test]
    fn forward_keeps_leading_dims_and_checks_the_input_width() -> Result<()> {
        let dev = candle_core::Device::Cpu;
        let w = Tensor::randn(0f32, 0.1, (10, 6), &dev)?;
        let b = Tensor::randn(0f32, 0.1, 10, &dev)?;
        let layer = Q8Linear::new(&w, Some(&b))?;
        let xs = Tensor::randn(0f32, 1.0, (2, 3, 6), &dev)?;
        assert_eq!(layer.forward(&xs)?.dims(), [2, 3, 10]);
        let nb = layer.forward_no_bias(&xs)?;
        let diff = (layer.forward(&xs)? - nb.broadcast_add(&b)?)?
            .abs()?
            .flatten_all()?
            .max(0)?
            .to_scalar::<f32>()?;
        assert!(diff < 1e-5, "{diff}");
        assert!(layer
            .forward(&Tensor::zeros((2, 5), candle_core::DType::F32, &dev)?)
            .is_err());
        assert!(
            Q8Linear::new(&w, Some(&Tensor::zeros(9, candle_core::DType::F32, &dev)?)).is_err()
        );
        Ok(())
    }

    #[test]
    fn quantization_names_round_trip() {
        for (name, q) in [("none", Quantization::None), ("q8", Quantization::Q8)] {
            assert_eq!(name.parse::<Quantization>(), Ok(q));
            assert_eq!(q.to_string(), name);
        }
        assert_eq!("Q8".parse::<Quantization>(), Ok(Quantization::Q8));
        assert!("q4".parse::<Quantization>().is_err());
    }
}
