//! Cosine2: the cosine schedule written directly in logSNR.

use crate::component::{zst, LogSnrFn};
use crate::float::Real;
use crate::konst::{Const, Dec};
use typenum::{N15, P15, Z0};

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// `λ = −2·ln tan(t_min + t·(t_max−t_min))`, `t_min = atan(e^(−hi/2))`,
    /// `t_max = atan(e^(−lo/2))`.
    pub fn raw<F: Float>(t: F, lo: F, hi: F) -> F {
        let half = F::new(0.5);
        let t_min = F::atan(F::exp(-hi * half));
        let t_max = F::atan(F::exp(-lo * half));
        F::new(-2.0) * F::ln(F::tan(t_min + t * (t_max - t_min)))
    }
}

/// Cosine2 formula: `λ = −2·ln tan(t_min + t·(t_max−t_min))`.
#[inline(always)]
pub fn cosine2<F: Real>(t: F, logsnr_range: [f64; 2]) -> F {
    formula::raw(t, F::of(logsnr_range[0]), F::of(logsnr_range[1]))
}

zst!(
    /// `λ = −2·ln tan(t_min + t·(t_max−t_min))` with `t_min = atan(e^(−hi/2))`,
    /// `t_max = atan(e^(−lo/2))` (the original's `CosineSchedule2`).
    /// Default `logsnr_range = [−15, 15]`.
    Cosine2<Lo: Const = Dec<N15, Z0>, Hi: Const = Dec<P15, Z0>>
);

range_schedule!(Cosine2, "Cosine2");
