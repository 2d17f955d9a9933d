//! The schedule linear in logSNR.

use crate::component::{zst, LogSnrFn};
use crate::float::Real;
use crate::konst::{need, Const, Dec};
use typenum::{N1, P1};

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// `λ = t·(lo−hi) + hi`.
    pub fn raw<F: Float>(t: F, lo: F, hi: F) -> F {
        t * (lo - hi) + hi
    }
}

/// Linear formula: `λ = t·(lo−hi) + hi`.
#[inline(always)]
pub fn linear<F: Real>(t: F, logsnr_range: [f64; 2]) -> F {
    formula::raw(t, F::of(logsnr_range[0]), F::of(logsnr_range[1]))
}

zst!(
    /// Linear in logSNR: `λ = t·(lo−hi) + hi`. Default `logsnr_range = [−10, 10]`.
    Linear<Lo: Const = Dec<N1, P1>, Hi: Const = Dec<P1, P1>>
    check {
        assert!(
            need::ordered(Lo::F64, Hi::F64),
            "Linear: `logsnr_range` must be `[lo, hi]` with finite lo < hi"
        );
    }
);
range_schedule!(Linear, "Linear");
