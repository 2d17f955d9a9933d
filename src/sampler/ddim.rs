//! DDIM (with stochasticity η) and DDPM (η = 1).

use core::fmt;

use super::Sampler;
use crate::component::{zst, LogSnrFn};
use crate::float::Real;
use crate::konst::{lit, need, Const, Zero};

/// The DDIM coefficients with stochasticity `eta`:
/// `s = η·sqrt(b'²/b²)·sqrt(1 − a²/a'²)` (the literal 0 when `η = 0`),
/// `[a', sqrt(b'² − s²), s]`. With a Lerp scaler and η = 1, `b'² − s²` can be negative: the
/// result is NaN, as the original.
#[inline(always)]
pub fn ddim_coefficients<F: Real>(eta: F, a: F, b: F, a_prev: F, b_prev: F) -> [F; 3] {
    let (c_x0, c_eps, c_n) = formula::ddim(a, b, a_prev, b_prev, eta, eta > F::zero());
    [c_x0, c_eps, c_n]
}

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// `(a', sqrt(b'² − s²), s)` with `s = η·sqrt(b'²/b²)·sqrt(1 − a²/a'²)` when `stochastic`
    /// (`η > 0`), else `s = 0` exactly.
    pub fn ddim<F: Float>(
        a: F,
        b: F,
        a_prev: F,
        b_prev: F,
        eta: F,
        #[comptime] stochastic: bool,
    ) -> (F, F, F) {
        let mut s = F::new(0.0);
        if stochastic {
            s = eta
                * F::sqrt(b_prev * b_prev / (b * b))
                * F::sqrt(F::new(1.0) - a * a / (a_prev * a_prev));
        }
        (a_prev, F::sqrt(b_prev * b_prev - s * s), s)
    }
}

/// DDIM's η must be a finite number `>= 0`: a negative or NaN η would silently run
/// deterministic DDIM (the original's `eta > 0` test). Above 1 the original still defines
/// the step (NaN only at a step whose noise term passes `b'`, as it records it), so η > 1
/// is accepted.
pub(crate) fn check_eta(eta: f64) -> crate::Result<()> {
    if !(eta.is_finite() && eta >= 0.0) {
        return Err(crate::GdfError::OutOfRange {
            what: "eta",
            value: eta,
            expected: "a finite number >= 0 (0 = DDIM, deterministic; 1 = DDPM's posterior \
                       noise)",
        });
    }
    Ok(())
}

zst!(
    /// DDIM with stochasticity `eta` (default 0: deterministic; 1: DDPM's posterior noise).
    /// `eta` must be finite and `>= 0`: another value fails the build (see
    /// [`konst`](crate::konst#checked-at-compile-time)).
    Ddim<Eta: Const = Zero>
    check {
        assert!(
            need::nonneg(Eta::F64),
            "Ddim: `eta` must be zero or positive (0 = DDIM, deterministic; 1 = DDPM's posterior noise)"
        );
    }
);

impl<Eta: Const> LogSnrFn for Ddim<Eta> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "Ddim(eta = {})", lit(Eta::F64))
    }
}

impl<Eta: Const> Sampler for Ddim<Eta> {
    #[inline(always)]
    fn coefficients<F: Real>(&self, a: F, b: F, a_prev: F, b_prev: F) -> [F; 3] {
        ddim_coefficients(F::of(Eta::F64), a, b, a_prev, b_prev)
    }
    fn check(&self) -> crate::Result<()> {
        check_eta(Eta::F64)
    }
    fn uses_noise(&self) -> bool {
        Eta::F64 > 0.0
    }
}

zst!(
    /// DDPM ancestral sampling: DDIM with `η = 1`.
    Ddpm
);

impl LogSnrFn for Ddpm {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("Ddpm")
    }
}

impl Sampler for Ddpm {
    #[inline(always)]
    fn coefficients<F: Real>(&self, a: F, b: F, a_prev: F, b_prev: F) -> [F; 3] {
        ddim_coefficients(F::one(), a, b, a_prev, b_prev)
    }
    fn uses_noise(&self) -> bool {
        true
    }
}

#[cfg(gdf_kernel)]
mod device {
    use super::*;
    use crate::formula::device::konst;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use crate::sampler::{CubeSampler, SamplerConsts};
    use cubecl::prelude::*;

    impl<Eta: Const> SamplerConsts for Ddim<Eta> {
        const USES_NOISE: bool = Eta::F64 > 0.0;
    }
    #[cube]
    impl<Eta: Const> CubeSampler for Ddim<Eta> {
        fn coefficients<F: Float>(a: F, b: F, a_prev: F, b_prev: F) -> (F, F, F) {
            formula::cube::ddim::<F>(
                a,
                b,
                a_prev,
                b_prev,
                konst::<F>(comptime!(Eta::F64)),
                comptime!(Eta::F64 > 0.0),
            )
        }
    }

    impl SamplerConsts for Ddpm {
        const USES_NOISE: bool = true;
    }
    #[cube]
    impl CubeSampler for Ddpm {
        fn coefficients<F: Float>(a: F, b: F, a_prev: F, b_prev: F) -> (F, F, F) {
            formula::cube::ddim::<F>(a, b, a_prev, b_prev, F::new(1.0), true)
        }
    }
}
