//! Cosine2: the cosine schedule written directly in logSNR.

use core::fmt;

use super::{write_range, Schedule};
use crate::component::{zst, LogSnrFn};
use crate::float::Real;
use crate::konst::{need, Const, Dec};
use typenum::{N15, P15, Z0};

/// The formulas (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// `(t_min, t_max) = (atan(e^(−hi/2)), atan(e^(−lo/2)))`: constants of the schedule, which
    /// the kernels take as expansion-time values computed by this same function in f32.
    pub fn bounds<F: Float>(lo: F, hi: F) -> (F, F) {
        let half = F::new(0.5);
        (F::atan(F::exp(-hi * half)), F::atan(F::exp(-lo * half)))
    }

    /// `λ = −2·ln tan(t_min + t·(t_max−t_min))`.
    pub fn raw<F: Float>(t: F, t_min: F, t_max: F) -> F {
        F::new(-2.0) * F::ln(F::tan(t_min + t * (t_max - t_min)))
    }
}

/// Cosine2 formula: `λ = −2·ln tan(t_min + t·(t_max−t_min))` with `t_min = atan(e^(−hi/2))`,
/// `t_max = atan(e^(−lo/2))` computed in `F`.
#[inline(always)]
pub fn cosine2<F: Real>(t: F, logsnr_range: [f64; 2]) -> F {
    let (t_min, t_max) = formula::bounds(F::of(logsnr_range[0]), F::of(logsnr_range[1]));
    formula::raw(t, t_min, t_max)
}

zst!(
    /// `λ = −2·ln tan(t_min + t·(t_max−t_min))` with `t_min = atan(e^(−hi/2))`,
    /// `t_max = atan(e^(−lo/2))` (the original's `CosineSchedule2`).
    /// Default `logsnr_range = [−15, 15]`.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// // The ends of the default range: λ(0) = 15, λ(1) = −15.
    /// let s = <schedule::Cosine2>::new();
    /// assert!((s.logsnr(0.0f64, 1.0)? - 15.0).abs() < 1e-12);
    /// assert!((s.logsnr(1.0f64, 1.0)? + 15.0).abs() < 1e-12);
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    Cosine2<Lo: Const = Dec<N15, Z0>, Hi: Const = Dec<P15, Z0>>
    check {
        assert!(
            need::ordered(Lo::F64, Hi::F64),
            "Cosine2: `logsnr_range` must be `[lo, hi]` with finite lo < hi"
        );
    }
);

impl<Lo: Const, Hi: Const> LogSnrFn for Cosine2<Lo, Hi> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("Cosine2(")?;
        write_range(out, "logsnr_range", [Lo::F64, Hi::F64])?;
        out.write_str(")")
    }
}

impl<Lo: Const, Hi: Const> Schedule for Cosine2<Lo, Hi> {
    fn name(&self) -> &'static str {
        "Cosine2"
    }
    #[inline(always)]
    fn f<F: Real>(&self, t: F) -> F {
        cosine2(t, [Lo::F64, Hi::F64])
    }
}

#[cfg(gdf_kernel)]
mod device {
    use super::*;
    use crate::formula::device::konst;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use crate::schedule::{CubeSchedule, ScheduleConsts};
    use cubecl::prelude::*;

    /// `(t_min, t_max)` as the host computes them in f32.
    fn bounds_f32<Lo: Const, Hi: Const>() -> [f64; 2] {
        let (a, b) = formula::bounds(Lo::F64 as f32, Hi::F64 as f32);
        [a as f64, b as f64]
    }

    impl<Lo: Const, Hi: Const> ScheduleConsts for Cosine2<Lo, Hi> {}
    #[cube]
    impl<Lo: Const, Hi: Const> CubeSchedule for Cosine2<Lo, Hi> {
        fn raw<F: Float>(t: F, _state: &[F]) -> F {
            formula::cube::raw::<F>(
                t,
                konst::<F>(comptime!(bounds_f32::<Lo, Hi>()[0])),
                konst::<F>(comptime!(bounds_f32::<Lo, Hi>()[1])),
            )
        }
    }
}
