//! CosineT: the inverse of the Cosine schedule.

use core::fmt;

use super::NoiseCond;
use crate::component::{zst, LogSnrFn};
use crate::float::Real;
use crate::konst::{lit, need, Const, Dec};
use typenum::{N3, P8};

/// The CosineT formula: the inverse of the Cosine schedule with offset `s`, in a form that
/// stays accurate in f32 (`acos(√(v·m))` as an `atan2` with `1 − v·m` computed without
/// cancellation).
#[inline(always)]
pub fn cosine_t<F: Real>(l: F, s: f64) -> F {
    let [m, sin2] = consts(s);
    formula::cond(l, F::of(s), F::of(m), F::of(sin2))
}

/// `[m, 1 − m]` with `m = cos(s/(1+s)·π/2)²`, in f64 (`1 − m` as `sin²`, without cancellation).
pub(crate) fn consts(s: f64) -> [f64; 2] {
    let c0 = s / (1.0 + s) * core::f64::consts::FRAC_PI_2;
    [c0.cos().powi(2), c0.sin().powi(2)]
}

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// `c = acos(√(σ(λ)·m))/(π/2)·(1+s) − s`, as `atan2(√(sin2 + m·σ(−λ)), √(σ(λ)·m))` so that
    /// `1 − v·m` has no cancellation; `sin2 = 1 − m`.
    pub fn cond<F: Float>(l: F, s: F, m: F, sin2: F) -> F {
        let (zero, one) = (F::new(0.0), F::new(1.0));
        let v = clamp::<F>(sigmoid::<F>(l), zero, one);
        let vm = v * m;
        let one_minus = sin2 + m * clamp::<F>(sigmoid::<F>(-l), zero, one);
        let theta = F::atan2(F::sqrt(one_minus), F::sqrt(vm));
        theta / konst::<F>(core::f64::consts::FRAC_PI_2) * (one + s) - s
    }
}

zst!(
    /// The inverse of the Cosine schedule: `c = acos(√(σ(λ)·m))/(π/2)·(1+s) − s` with
    /// `m = cos(s/(1+s)·π/2)²`, clamped to `[0, 1]`. Default `s = 0.008`.
    ///
    /// The original ignores a `clamp_range` given to `CosineTNoiseCond` and always clamps to
    /// `[0, 1]`; so does this type (wrap it in [`Clamped`](super::Clamped) for another range).
    CosineT<S: Const = Dec<P8, N3>>
    check {
        assert!(
            need::nonneg(S::F64),
            "CosineT: `s` must be zero or positive"
        );
    }
);

impl<S: Const> LogSnrFn for CosineT<S> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "CosineT(s = {})", lit(S::F64))
    }
}

impl<S: Const> NoiseCond for CosineT<S> {
    #[inline(always)]
    fn cond<F: Real>(&self, l: F) -> F {
        cosine_t(l, S::F64)
    }
    fn clamp_range(&self) -> [f64; 2] {
        [0.0, 1.0]
    }
}

#[cfg(gdf_kernel)]
mod device {
    use super::*;
    use crate::formula::device::konst;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use crate::noise_cond::{CubeNoiseCond, NoiseCondConsts};
    use cubecl::prelude::*;

    impl<S: Const> NoiseCondConsts for CosineT<S> {
        const CLAMP: [f64; 2] = [0.0, 1.0];
    }
    #[cube]
    impl<S: Const> CubeNoiseCond for CosineT<S> {
        fn cond<F: Float>(l: F, _state: &[F]) -> F {
            formula::cube::cond::<F>(
                l,
                konst::<F>(comptime!(S::F64)),
                konst::<F>(comptime!(consts(S::F64)[0])),
                konst::<F>(comptime!(consts(S::F64)[1])),
            )
        }
    }
}
