//! The float types the host path computes in.

use core::fmt::{Debug, Display};

/// The `num-traits` crate `Real` builds on (its `Float` trait brings the math methods).
pub use num_traits;

/// A float the host path can compute in: `f32` or `f64`.
///
/// Hyperparameters are stored as `f64` (the value of the literal that declared them) and
/// converted with [`Real::of`], which rounds to nearest for `f32`.
pub trait Real:
    num_traits::Float + num_traits::FloatConst + Send + Sync + Debug + Display + Default + 'static
{
    /// Converts an `f64` constant into this type (round to nearest).
    fn of(x: f64) -> Self;
    /// An `f32` constant (exact in both precisions): the spelling `#[formulas]` bodies share
    /// with cubecl's `Float::new`.
    #[inline(always)]
    fn new(x: f32) -> Self {
        Self::of(x as f64)
    }
    /// Widens this value to `f64` (exact).
    fn as_f64(self) -> f64;
    /// Rounds half to even, like `torch.round`.
    fn round_even(self) -> Self;
    /// Fills `out` with the counter-based normals of elements `start..` (see
    /// [`crate::noise::fill_normal`]); the numbers are f32 draws in both precisions.
    fn fill_normal(
        seed: u64,
        purpose: crate::noise::Purpose,
        sample: u32,
        step: u32,
        start: u64,
        out: &mut [Self],
    );

    /// `[Σ c, Σ c², Σ p, Σ p²]` with `p = u + g·(c − u)` over two equal-length slices (the
    /// guided step's rescale statistics), in a fixed summation order: eight lanes in `Self`
    /// over runs of 256 elements, each run added in f64.
    #[doc(hidden)]
    fn moments(c: &[Self], u: &[Self], g: Self) -> [f64; 4] {
        crate::moments::moments_portable(c, u, g)
    }
}

impl Real for f32 {
    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn round_even(self) -> Self {
        self.round_ties_even()
    }
    #[inline]
    fn fill_normal(
        seed: u64,
        purpose: crate::noise::Purpose,
        sample: u32,
        step: u32,
        start: u64,
        out: &mut [Self],
    ) {
        crate::noise::fill_normal(seed, purpose, sample, step, start, out)
    }

    fn moments(c: &[Self], u: &[Self], g: Self) -> [f64; 4] {
        #[cfg(all(target_arch = "x86_64", gdf_avx512))]
        if crate::par::has_avx512() {
            // SAFETY: the CPU has the features the function was compiled for.
            return unsafe { crate::moments::moments_f32_avx512(c, u, g) };
        }
        #[cfg(target_arch = "x86_64")]
        if crate::par::has_avx2() {
            // SAFETY: the CPU has the features the function was compiled for.
            return unsafe { crate::moments::moments_f32_avx2(c, u, g) };
        }
        crate::moments::moments_portable(c, u, g)
    }
}

impl Real for f64 {
    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn round_even(self) -> Self {
        self.round_ties_even()
    }
    #[inline]
    fn fill_normal(
        seed: u64,
        purpose: crate::noise::Purpose,
        sample: u32,
        step: u32,
        start: u64,
        out: &mut [Self],
    ) {
        let mut tmp = [0.0f32; 256];
        let mut i = start;
        for chunk in out.chunks_mut(256) {
            let t = &mut tmp[..chunk.len()];
            crate::noise::fill_normal(seed, purpose, sample, step, i, t);
            for (o, &z) in chunk.iter_mut().zip(t.iter()) {
                *o = z as f64;
            }
            i += chunk.len() as u64;
        }
    }
}

/// The logistic sigmoid `1/(1+e^-x)`, exact at ±∞ (0 and 1).
#[inline(always)]
pub fn sigmoid<F: Real>(x: F) -> F {
    F::one() / (F::one() + (-x).exp())
}

/// Clamps like `torch.clamp`: NaN stays NaN, `lo` wins when `lo > hi`.
#[inline(always)]
pub(crate) fn clamp<F: Real>(x: F, lo: F, hi: F) -> F {
    let y = if x < lo { lo } else { x };
    if y > hi {
        hi
    } else {
        y
    }
}

/// Element `i` of `linspace(a, b, n)` as `torch.linspace` computes it on the CPU: the first
/// half counts up from `a`, the second half down from `b`, each element one fused
/// multiply-add (`step·i + a`, `−step·(n−1−i) + b`, one rounding), as torch's kernel does: the
/// two-rounding form differs in the last bit for about 7% of the elements (so `0.65` of
/// `linspace(0, 1, 21)` would be `0.6499999999999999`, and a CFG window at 0.65 would open a
/// step late).
#[inline]
pub(crate) fn linspace_at<F: Real>(a: F, b: F, n: usize, i: usize) -> F {
    if n <= 1 {
        return a;
    }
    let step = (b - a) / F::of((n - 1) as f64);
    if i < n / 2 {
        step.mul_add(F::of(i as f64), a)
    } else {
        (-step).mul_add(F::of((n - 1 - i) as f64), b)
    }
}

/// `linspace(a, b, n)` (see [`linspace_at`]).
pub(crate) fn linspace<F: Real>(a: F, b: F, n: usize) -> Vec<F> {
    (0..n).map(|i| linspace_at(a, b, n, i)).collect()
}

#[cfg(test)]
mod linspace_tests {
    use super::linspace;

    /// torch 2.15's `linspace` (CPU), read off torch: each element is one fused multiply-add.
    #[test]
    fn linspace_is_torchs_to_the_bit() {
        let t: Vec<f64> = linspace(0.0, 1.0, 21);
        let torch = [
            0.0,
            0.05,
            0.1,
            0.15000000000000002,
            0.2,
            0.25,
            0.30000000000000004,
            0.35000000000000003,
            0.4,
            0.45,
            0.5,
            0.5499999999999999,
            0.6,
            0.65,
            0.7,
            0.75,
            0.8,
            0.85,
            0.9,
            0.95,
            1.0,
        ];
        assert_eq!(t, torch);
        // the original AdaptiveLossWeight's edge next to 0 (so λ = 0 is bucketed above it)
        assert_eq!(linspace(-10.0, 10.0, 299)[149], -4.163336342344337e-17);
        // float32: Stable Diffusion's √β ramp, where two roundings differ from torch
        let lo = 0.029154758900403976f64 as f32;
        let hi = 0.10954450815916061f64 as f32;
        let r: Vec<f32> = linspace(lo, hi, 1000);
        assert_eq!(r[57], 0.03374155983328819f64 as f32);
        assert_eq!(r[58], 0.03382203355431557f64 as f32);
        assert_eq!(r[74], 0.03510955348610878f64 as f32);
        assert_eq!(r[75], 0.035190027207136154f64 as f32);
    }
}
