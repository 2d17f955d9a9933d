//! The variance schedules: Cosine (improved DDPM) and Sqrt, with their shared variance clamp.

use core::fmt;

use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use super::{write_range, Schedule};
use crate::component::{zst, LogSnrFn};
use crate::float::Real;
use crate::konst::{lit, need, Const, Dec, Flag, P9999};
use typenum::{False, N3, N4, P1, P8};

/// The formulas (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// The variance clamp (or rescale, with `norm`) into `[lo, hi]`, then `ln(v/(1−v))`.
    pub fn finish<F: Float>(v: F, lo: F, hi: F, #[comptime] norm: bool) -> F {
        if norm {
            logit::<F>(v * (hi - lo) + lo)
        } else {
            logit::<F>(clamp::<F>(v, lo, hi))
        }
    }

    /// Cosine's constant `m = cos(s/(1+s)·π/2)²` (the kernels take it as an expansion-time
    /// value computed by this same function in f32).
    pub fn cosine_m<F: Float>(s: F) -> F {
        let half_pi = konst::<F>(core::f64::consts::FRAC_PI_2);
        F::powi(F::cos(s / (F::new(1.0) + s) * half_pi), 2)
    }

    /// Cosine: `v = clamp(cos((s+t)/(1+s)·π/2), 0, 1)² / m`, then [`finish`].
    pub fn cosine<F: Float>(t: F, s: F, m: F, lo: F, hi: F, #[comptime] norm: bool) -> F {
        let half_pi = konst::<F>(core::f64::consts::FRAC_PI_2);
        let one = F::new(1.0);
        let c = clamp::<F>(F::cos((s + t) / (one + s) * half_pi), F::new(0.0), one);
        finish::<F>(c * c / m, lo, hi, norm)
    }

    /// Sqrt: `v = 1 − sqrt(t + s)`, then [`finish`].
    pub fn sqrt<F: Float>(t: F, s: F, lo: F, hi: F, #[comptime] norm: bool) -> F {
        finish::<F>(F::new(1.0) - F::sqrt(t + s), lo, hi, norm)
    }
}

/// Parameters of [`Cosine`] and [`Sqrt`]: the variance is clamped into `clamp_range`, or with
/// `norm_instead` rescaled into it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct VarParams {
    /// Offset `s`.
    pub s: f64,
    /// `[lo, hi]` for the variance.
    pub clamp_range: [f64; 2],
    /// Rescale `v·(hi−lo)+lo` instead of clamping.
    pub norm_instead: bool,
}

impl VarParams {
    /// The Cosine formula with these parameters.
    #[inline(always)]
    pub fn cosine<F: Real>(&self, t: F) -> F {
        let [lo, hi] = self.clamp_range.map(F::of);
        let s = F::of(self.s);
        formula::cosine(t, s, formula::cosine_m(s), lo, hi, self.norm_instead)
    }

    /// The Sqrt formula with these parameters.
    #[inline(always)]
    pub fn sqrt<F: Real>(&self, t: F) -> F {
        let [lo, hi] = self.clamp_range.map(F::of);
        formula::sqrt(t, F::of(self.s), lo, hi, self.norm_instead)
    }

    fn write(&self, out: &mut dyn fmt::Write, name: &str) -> fmt::Result {
        write!(out, "{name}(s = {}, ", lit(self.s))?;
        write_range(out, "clamp_range", self.clamp_range)?;
        write!(out, ", norm_instead = {})", self.norm_instead)
    }
}

zst!(
    /// The cosine schedule of improved DDPM (the original's `CosineSchedule`).
    ///
    /// `v = clamp(cos((s+t)/(1+s)·π/2), 0, 1)² / cos(s/(1+s)·π/2)²`, clamped into
    /// `clamp_range` (or rescaled into it with `norm_instead`), `λ = ln(v/(1−v))`.
    /// Training draws `t = clamp((1−U)+0.001, 0.001, 1)`.
    /// Defaults: `s = 0.008`, `clamp_range = [1e-4, 0.9999]`, `norm_instead = false`.
    Cosine<S: Const = Dec<P8, N3>, Lo: Const = Dec<P1, N4>, Hi: Const = Dec<P9999, N4>, Norm: Flag = False>
    check {
        need::variance(S::F64, Lo::F64, Hi::F64);
    }
);

impl<S: Const, Lo: Const, Hi: Const, N: Flag> Cosine<S, Lo, Hi, N> {
    /// The runtime parameters.
    pub const PARAMS: VarParams = VarParams {
        s: S::F64,
        clamp_range: [Lo::F64, Hi::F64],
        norm_instead: N::BOOL,
    };
}

impl<S: Const, Lo: Const, Hi: Const, N: Flag> LogSnrFn for Cosine<S, Lo, Hi, N> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        Self::PARAMS.write(out, "Cosine")
    }
}

impl<S: Const, Lo: Const, Hi: Const, N: Flag> Schedule for Cosine<S, Lo, Hi, N> {
    fn name(&self) -> &'static str {
        "Cosine"
    }
    #[inline(always)]
    fn f<F: Real>(&self, t: F) -> F {
        Self::PARAMS.cosine(t)
    }
    fn draw_t(&self, rng: &mut dyn RngCore) -> f64 {
        cosine_draw_t(rng)
    }
}

fn cosine_draw_t(rng: &mut dyn RngCore) -> f64 {
    ((1.0 - rng.random::<f64>()) + 0.001).clamp(0.001, 1.0)
}

zst!(
    /// `v = 1 − sqrt(t+s)`, clamped or rescaled as [`Cosine`], `λ = ln(v/(1−v))`
    /// (the original's `SqrtSchedule`). Defaults: `s = 1e-4`, `clamp_range = [1e-4, 0.9999]`,
    /// `norm_instead = false`.
    Sqrt<S: Const = Dec<P1, N4>, Lo: Const = Dec<P1, N4>, Hi: Const = Dec<P9999, N4>, Norm: Flag = False>
    check {
        need::variance(S::F64, Lo::F64, Hi::F64);
    }
);

impl<S: Const, Lo: Const, Hi: Const, N: Flag> Sqrt<S, Lo, Hi, N> {
    /// The runtime parameters.
    pub const PARAMS: VarParams = VarParams {
        s: S::F64,
        clamp_range: [Lo::F64, Hi::F64],
        norm_instead: N::BOOL,
    };
}

impl<S: Const, Lo: Const, Hi: Const, N: Flag> LogSnrFn for Sqrt<S, Lo, Hi, N> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        Self::PARAMS.write(out, "Sqrt")
    }
}

impl<S: Const, Lo: Const, Hi: Const, N: Flag> Schedule for Sqrt<S, Lo, Hi, N> {
    fn name(&self) -> &'static str {
        "Sqrt"
    }
    #[inline(always)]
    fn f<F: Real>(&self, t: F) -> F {
        Self::PARAMS.sqrt(t)
    }
}

/// Draws Cosine's training `t` (exposed for runtime-configured schedules).
pub(crate) fn draw_cosine_t(rng: &mut dyn RngCore) -> f64 {
    cosine_draw_t(rng)
}

#[cfg(gdf_kernel)]
mod device {
    #[allow(unused_imports)]
    use super::Sqrt;
    use super::*;
    use crate::formula::device::konst;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use crate::schedule::{CubeSchedule, ScheduleConsts};
    use cubecl::prelude::*;

    impl<S: Const, Lo: Const, Hi: Const, N: Flag> ScheduleConsts for Cosine<S, Lo, Hi, N> {}
    #[cube]
    impl<S: Const, Lo: Const, Hi: Const, N: Flag> CubeSchedule for Cosine<S, Lo, Hi, N> {
        fn raw<F: Float>(t: F, _state: &[F]) -> F {
            formula::cube::cosine::<F>(
                t,
                konst::<F>(comptime!(S::F64)),
                konst::<F>(comptime!(formula::cosine_m(S::F64 as f32) as f64)),
                konst::<F>(comptime!(Lo::F64)),
                konst::<F>(comptime!(Hi::F64)),
                comptime!(N::BOOL),
            )
        }
    }

    impl<S: Const, Lo: Const, Hi: Const, N: Flag> ScheduleConsts for Sqrt<S, Lo, Hi, N> {}
    #[cube]
    impl<S: Const, Lo: Const, Hi: Const, N: Flag> CubeSchedule for Sqrt<S, Lo, Hi, N> {
        fn raw<F: Float>(t: F, _state: &[F]) -> F {
            formula::cube::sqrt::<F>(
                t,
                konst::<F>(comptime!(S::F64)),
                konst::<F>(comptime!(Lo::F64)),
                konst::<F>(comptime!(Hi::F64)),
                comptime!(N::BOOL),
            )
        }
    }
}
