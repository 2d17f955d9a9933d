//! The rectified-flows schedule.

use crate::component::{zst, LogSnrFn};
use crate::float::Real;
use crate::konst::{need, Const, Dec};
use typenum::{N15, P15, Z0};

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// `λ = clamp(ln((1−t)²/t²), lo, hi)`.
    ///
    /// Squared as the original writes it, not `2·ln((1−t)/t)`: at `t = −0.0` (what
    /// `discrete_steps` rounding gives for a `t` slightly below 0) the squares make the ratio
    /// `+inf`, clamped to `hi`, where the halved form takes `ln(−inf)` = NaN; the squared form
    /// also matches the original's discrete points to the last bit.
    pub fn raw<F: Float>(t: F, lo: F, hi: F) -> F {
        let u = F::new(1.0) - t;
        clamp::<F>(F::ln((u * u) / (t * t)), lo, hi)
    }
}

/// RectifiedFlows formula: `λ = clamp(ln((1−t)²/t²), lo, hi)`.
#[inline(always)]
pub fn rectified_flows<F: Real>(t: F, logsnr_range: [f64; 2]) -> F {
    formula::raw(t, F::of(logsnr_range[0]), F::of(logsnr_range[1]))
}

zst!(
    /// Rectified flows: `λ = clamp(ln((1−t)²/t²), lo, hi)` (the clamp is part of the formula,
    /// so t = 0 and t = 1 give `hi` and `lo`). Default `logsnr_range = [−15, 15]`.
    RectifiedFlows<Lo: Const = Dec<N15, Z0>, Hi: Const = Dec<P15, Z0>>
    check {
        assert!(
            need::ordered(Lo::F64, Hi::F64),
            "RectifiedFlows: `logsnr_range` must be `[lo, hi]` with finite lo < hi"
        );
    }
);
range_schedule!(RectifiedFlows, "RectifiedFlows");
