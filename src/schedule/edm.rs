//! The EDM (Karras et al.) schedules: the sampling grid in σ and the training draw.

use core::fmt;

use rand::RngCore;
use rand_distr::{Distribution, StandardNormal};

use super::{write_range, Schedule};
use crate::component::{zst, LogSnrFn};
use crate::float::Real;
use crate::konst::{lit, need, Const, Dec};
use typenum::{N1, N12, N3, P1, P12, P2, P7, P8, Z0};

/// The formulas (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// `σ = (σmax^(1/p) + (1−t)(σmin^(1/p) − σmax^(1/p)))^p`, `λ = ln(1/σ²)`, given
    /// `smin = σmin^(1/p)` and `smax = σmax^(1/p)`.
    ///
    /// `ln(1/σ²)` is the original's order of operations: it and `−2·ln σ` differ by an ulp
    /// at about one t in five, and the outputs of a `discrete_steps` schedule are compared
    /// exactly (golden README).
    pub fn sample<F: Float>(t: F, smin: F, smax: F, p: F) -> F {
        let sigma = F::powf(smax + (F::new(1.0) - t) * (smin - smax), p);
        F::ln(F::new(1.0) / (sigma * sigma))
    }

    /// The EDMTrain draw `λ = −2·(n·std − mu)` from a standard normal `n`.
    pub fn train<F: Float>(n: F, mu: F, std: F) -> F {
        F::new(-2.0) * (n * std - mu)
    }
}

/// EDMSample formula: `σ = (σmax^(1/p) + (1−t)(σmin^(1/p) − σmax^(1/p)))^p`, `λ = ln(1/σ²)`.
#[inline(always)]
pub fn edm_sample<F: Real>(t: F, sigma_range: [f64; 2], p: f64) -> F {
    let inv = 1.0 / p;
    let smin = F::of(sigma_range[0].powf(inv));
    let smax = F::of(sigma_range[1].powf(inv));
    formula::sample(t, smin, smax, F::of(p))
}

zst!(
    /// The EDM (Karras et al.) sampling schedule:
    /// `σ = (σmax^(1/p) + (1−t)(σmin^(1/p) − σmax^(1/p)))^p`, `λ = ln(1/σ²)` (`−2·ln σ`, in the
    /// original's order of operations); t = 1 ↔ σmax. Defaults: `sigma_range = [0.002, 80]`,
    /// `p = 7`. (In f32, `1/σ²` leaves the float range past σ ≈ 1.8e19 or below ≈ 5e-20.)
    EdmSample<Min: Const = Dec<P2, N3>, Max: Const = Dec<P8, P1>, P: Const = Dec<P7, Z0>>
    check {
        assert!(
            need::positive(Min::F64) && need::positive(Max::F64),
            "EdmSample: `sigma_range` must be positive (σ > 0)"
        );
        assert!(
            Min::F64 < Max::F64,
            "EdmSample: `sigma_range` must be `[lo, hi]` with lo < hi"
        );
        assert!(
            need::positive(P::F64),
            "EdmSample: `p` must be positive"
        );
    }
);

impl<Min: Const, Max: Const, P: Const> LogSnrFn for EdmSample<Min, Max, P> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("EdmSample(")?;
        write_range(out, "sigma_range", [Min::F64, Max::F64])?;
        write!(out, ", p = {})", lit(P::F64))
    }
}

impl<Min: Const, Max: Const, P: Const> Schedule for EdmSample<Min, Max, P> {
    fn name(&self) -> &'static str {
        "EdmSample"
    }
    #[inline(always)]
    fn f<F: Real>(&self, t: F) -> F {
        edm_sample(t, [Min::F64, Max::F64], P::F64)
    }
}

zst!(
    /// The EDM training distribution: `λ = −2·(n·std − mu)`, `n ~ N(0, 1)`. Training only.
    ///
    /// Note the sign, reproduced from the original: `ln σ = n·std − mu` has mean **+1.2**
    /// with the defaults `mu = −1.2, std = 1.2`, unlike the EDM paper's `P_mean = −1.2`.
    EdmTrain<Mu: Const = Dec<N12, N1>, Std: Const = Dec<P12, N1>>
    check {
        assert!(
            need::finite(Mu::F64),
            "EdmTrain: `mu` must be finite"
        );
        assert!(
            need::positive(Std::F64),
            "EdmTrain: `std` must be positive"
        );
    }
);

/// The EDMTrain draw from a standard normal `n`.
#[inline(always)]
pub fn edm_train<F: Real>(n: F, mu: f64, std: f64) -> F {
    formula::train(n, F::of(mu), F::of(std))
}

impl<Mu: Const, Std: Const> LogSnrFn for EdmTrain<Mu, Std> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(
            out,
            "EdmTrain(mu = {}, std = {})",
            lit(Mu::F64),
            lit(Std::F64)
        )
    }
}

impl<Mu: Const, Std: Const> Schedule for EdmTrain<Mu, Std> {
    fn name(&self) -> &'static str {
        "EdmTrain"
    }
    fn accepts_t(&self) -> bool {
        false
    }
    fn f<F: Real>(&self, _t: F) -> F {
        F::nan()
    }
    fn draw_raw<F: Real>(&self, rng: &mut dyn RngCore) -> F {
        let n: f64 = StandardNormal.sample(rng);
        edm_train(F::of(n), Mu::F64, Std::F64)
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

    impl<Mn: Const, Mx: Const, P: Const> ScheduleConsts for EdmSample<Mn, Mx, P> {}
    #[cube]
    impl<Mn: Const, Mx: Const, P: Const> CubeSchedule for EdmSample<Mn, Mx, P> {
        fn raw<F: Float>(t: F, _state: &[F]) -> F {
            formula::cube::sample::<F>(
                t,
                konst::<F>(comptime!(Mn::F64.powf(1.0 / P::F64))),
                konst::<F>(comptime!(Mx::F64.powf(1.0 / P::F64))),
                konst::<F>(comptime!(P::F64)),
            )
        }
    }

    impl<Mu: Const, Sd: Const> ScheduleConsts for EdmTrain<Mu, Sd> {
        const ACCEPTS_T: bool = false;
    }
    #[cube]
    impl<Mu: Const, Sd: Const> CubeSchedule for EdmTrain<Mu, Sd> {
        fn raw<F: Float>(t: F, _state: &[F]) -> F {
            super::super::training_only_nan::<F>(t)
        }
    }
}
