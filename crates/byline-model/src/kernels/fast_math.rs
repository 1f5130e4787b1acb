//! Branch-free `exp` and `erf` for f32 that LLVM vectorises, and a helper that compiles a kernel
//! for AVX2 + FMA when the CPU has them.
//!
//! libm's `expf` / `erff` are scalar calls with branches: in the GELU and softmax kernels they
//! took more time than everything else in those kernels together. These versions are plain
//! arithmetic on `f32` (clamp, polynomial, bit tricks), so a loop over a slice becomes SIMD code.

/// Evaluates `$body` inside a function compiled with AVX2 and FMA enabled when the CPU supports
/// them, so loops in it (inlined there) are vectorised 8 lanes wide; otherwise evaluates it as is.
///
/// A macro rather than a function taking a closure: each expansion makes two closures called
/// once each, which LLVM inlines; a closure called from both branches stays a separate function
/// compiled for the baseline CPU, and the AVX2 wrapper would only call it. Kernels called from
/// `$body` must be `#[inline(always)]` for the same reason.
macro_rules! simd {
    ($body:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU supports the features the function is compiled for.
                unsafe { avx2(|| $body) }
            } else {
                $body
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $body
        }
    }};
}
pub(crate) use simd;

/// `e^x` with a relative error below 3e-7 over the range where the result is a normal f32;
/// inputs below -87.3 (where `e^x` is denormal) give 0, above 88.7 a value near `f32::MAX`.
///
/// Cephes `expf`: `x = n ln 2 + r` with `|r| <= ln2 / 2`, a degree-6 polynomial for `e^r`, then
/// `2^n` put straight into the exponent bits.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding then subtracting 1.5 * 2^23 rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    const LOWEST: f32 = -87.3;
    let underflow = x < LOWEST;
    let x = x.clamp(LOWEST, 88.7);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5e-1;
    let er = p * r * r + r + 1.0;
    // The low bits of `t` hold n (in [-126, 128]) as an integer: integer ops on the bits, not a
    // saturating `as i32` (whose NaN and range checks keep LLVM from vectorising).
    let n = t.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    // 2^n as two factors so that n = 128 stays finite.
    let half = n >> 1;
    let a = f32::from_bits(((half + 127) as u32) << 23);
    let b = f32::from_bits(((n - half + 127) as u32) << 23);
    let y = er * a * b;
    if underflow {
        0.0
    } else {
        y
    }
}

/// The error function, absolute error below 1e-6 (about 2 ulp near 0, see the tests).
///
/// The rational approximation Eigen and XLA use for f32: `x p(x^2) / q(x^2)` on `[-4, 4]`
/// (erf is ±1 in f32 beyond that).
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_6e-3;
    p = p * x2 - 1.609_603_3e-2;
    let mut q = -1.456_607_2e-5;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329e-3;
    q = q * x2 - 1.426_474e-2;
    let y = x * p / q;
    // Beyond 3.92, 1 - |erf| is below half an ulp of 1: exactly ±1, so `x * (1 + erf(x))` in
    // GELU is exactly 0 for very negative x instead of x times the approximation's error.
    if x.abs() > 3.92 {
        1f32.copysign(x)
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every f32 step of `step` over `[lo, hi]`.
    fn grid(lo: f32, hi: f32, step: f32) -> impl Iterator<Item = f32> {
        let n = ((hi - lo) / step) as usize;
        (0..=n).map(move |i| lo + i as f32 * step)
    }

    #[test]
    fn erf_matches_libm_to_1e_6() {
        let mut worst = (0f64, 0f32);
        for x in grid(-7.0, 7.0, 1e-4).chain([0.0, -0.0, 1e-30, -1e-30, 50.0, -1e9]) {
            let want = libm_erf(x as f64);
            let err = (erf(x) as f64 - want).abs();
            if err > worst.0 {
                worst = (err, x);
            }
        }
        assert!(worst.0 < 1e-6, "max |erf error| {} at {}", worst.0, worst.1);
        assert_eq!(erf(f32::INFINITY), 1.0);
        assert_eq!(erf(f32::NEG_INFINITY), -1.0);
        assert_eq!(erf(-3.93), -1.0);
    }

    #[test]
    fn exp_matches_std_relatively() {
        let mut worst = (0f64, 0f32);
        for x in grid(-87.0, 88.0, 1e-3).chain([0.0, -0.0, 1e-8, -1e-8]) {
            let want = (x as f64).exp();
            let err = ((exp(x) as f64 - want) / want).abs();
            if err > worst.0 {
                worst = (err, x);
            }
        }
        assert!(
            worst.0 < 3e-7,
            "max relative exp error {} at {}",
            worst.0,
            worst.1
        );
        // Far below the range: tiny and finite, never NaN; masked scores land here.
        for x in [-88.0, -1e9, f32::NEG_INFINITY] {
            assert_eq!(exp(x), 0.0, "exp({x})");
        }
        assert!(exp(100.0).is_finite() && exp(100.0) > 1e38);
    }

    #[test]
    fn simd_evaluates_the_body() {
        let xs: Vec<f32> = grid(-3.0, 3.0, 0.01).collect();
        let fast = simd!(xs.iter().map(|&x| erf(x)).collect::<Vec<_>>());
        let plain: Vec<f32> = xs.iter().map(|&x| erf(x)).collect();
        for (a, b) in fast.iter().zip(&plain) {
            assert!((a - b).abs() < 1e-7);
        }
    }

    /// erf in f64 from its Taylor series (|x| < 3) or continued fraction for erfc (|x| >= 3).
    fn libm_erf(x: f64) -> f64 {
        let a = x.abs();
        let v = if a < 3.0 {
            let (mut term, mut sum, mut n) = (a, a, 0.0);
            while term.abs() > 1e-17 * sum.abs() {
                n += 1.0;
                term *= -a * a / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc(a) = exp(-a^2)/sqrt(pi) * 1/(a + 1/2/(a + 1/(a + 3/2/(a + ...))))
            let mut f = a;
            for k in (1..60).rev() {
                f = a + (k as f64 / 2.0) / f;
            }
            1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / f
        };
        v.copysign(x)
    }
}
