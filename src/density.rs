//! Training densities of λ that modern trainers use (SPEC-solvers §7.1), as schedules whose
//! training draw is the density. All of them draw through the framework's seeded,
//! counter-based per-sample generator, so a batch is the same for every thread count.
//!
//! | type | draw | λ |
//! |---|---|---|
//! | [`LogitNormal`] (SD3, `m = 0, s = 1`) | RF `t = sigmoid(m + s·z)` | `λ = −2(m + s·z) ~ N(−2m, (2s)²)` |
//! | [`ModeSampling`] (SD3, `scale = 1.29`) | `t = 1 − u − scale·(cos²(πu/2) − 1 + u)` | `λ = 2 ln((1−t)/t)`, symmetric about 0 |
//! | [`EdmLogNormal`] (EDM paper, `P_mean = −1.2, P_std = 1.2`) | `ln σ ~ N(P_mean, P_std²)` | `λ ~ N(−2 P_mean, (2 P_std)²) = N(2.4, 2.4²)` |
//! | [`CosMap`] | `t = 1 − 1/(tan(πu/2) + 1)` | `λ = −2 ln tan(πu/2)`, density `1/(2π cosh(λ/2))` |
//! | [`UniformTimesteps`] | `k ~ U{0, …, T−1}` | `λ_k` of a discrete training table |
//!
//! `LogitNormal` and `EdmLogNormal` are training-only (like [`EdmTrain`]); `ModeSampling`
//! (`t = 1 − u`) and `CosMap` (`t = u`) are also sampling schedules, and `UniformTimesteps` evaluates its
//! table at `t·(T−1)`. A shift `k` moves every density by `−2 ln k` in λ (the wrapper's
//! shift). [`EdmTrain`] keeps the original's opposite sign; [`EdmLogNormal`] is the paper's.
//!
//! [`EdmTrain`]: crate::schedule::EdmTrain
//!
//! ```
//! use gdf::prelude::*;
//! use gdf::density::{CosMap, LogitNormal};
//! use gdf::framework::Gdf;
//! // SD3's recipe: logit-normal training times, LERP scaler, RF target.
//! let g: Gdf<LogitNormal, scaler::Lerp, target::RectifiedFlows, noise_cond::LogSnr, loss_weight::Constant, f64> =
//!     Gdf::default();
//! let mut l = [0.0f32; 4];
//! g.logsnr_into(None, 1.0, 7, 0, &mut l)?;
//! assert!(l.iter().all(|x| x.is_finite()));
//! // CosMap is the pure cosine schedule ᾱ(u) = cos²(πu/2) with u = 1 − t.
//! let lam: f64 = CosMap::new().f(0.5);
//! assert!(lam.abs() < 1e-12);
//! # Ok::<(), gdf::GdfError>(())
//! ```
//!
//! # Recipe: Stable Diffusion 3, end to end
//!
//! SD3 trains a rectified flow (LERP scaler, velocity target `ε − x0`) with logit-normal
//! times (`m = 0`, `s = 1`) on a table shifted by 3, and samples 28 flow-Euler steps on the
//! shift-3 grid. In gdf the shift is the λ offset `−2 ln 3` ([`Shifted`]); the grid is
//! [`FlowMatchSettings`](crate::grid::flow::FlowMatchSettings)'s (diffusers' numbers, golden
//! tested). Optional loss weightings are [`crate::weighting`]'s `SigmaSqrt` / `CosMapWeight`.
//!
//! [`Shifted`]: crate::schedule::Shifted
//!
//! ```
//! use gdf::prelude::*;
//! use gdf::density::LogitNormal;
//! use gdf::framework::{DiffuseArgs, Gdf};
//! use gdf::grid::flow::FlowMatchSettings;
//! use gdf::konst::Dec;
//! use gdf::schedule::Shifted;
//! use gdf::weighting::SigmaSqrt;
//! use typenum::{P3, Z0};
//!
//! type Sd3 = Gdf<
//!     Shifted<LogitNormal, Dec<P3, Z0>>, // λ = −2(m + s·z) − 2 ln 3
//!     scaler::Lerp,
//!     target::RectifiedFlows,
//!     noise_cond::LogSnr,
//!     SigmaSqrt, // t^−2 on the velocity MSE (SD3's "sigma_sqrt"; Constant for "none")
//!     f64,
//! >;
//! let g = Sd3::default();
//! let (batch, per) = (4, 8);
//! let x0: Vec<f64> = (0..batch * per).map(|i| (i as f64 * 0.37).sin()).collect();
//! let d = g.diffuse(&x0, batch, &DiffuseArgs { seed: 3, ..Default::default() })?;
//! for b in 0..batch {
//!     let (a, s) = scaler::Lerp.ab(d.logsnr[b]); // a = 1 − t, b = t
//!     assert!((a + s - 1.0).abs() < 1e-12);
//!     let t = s;
//!     assert!((d.loss_weight[b] - 1.0 / (t * t)).abs() < 1e-9 * d.loss_weight[b]);
//!     for i in b * per..(b + 1) * per {
//!         assert!((d.noised[i] - (a * x0[i] + s * d.eps[i])).abs() < 1e-12);
//!         assert!((d.target[i] - (d.eps[i] - x0[i])).abs() < 1e-12);
//!     }
//! }
//! // Sampling: diffusers' shift-3 grid, from pure noise (λ = −∞) to σ = 0 (λ = +∞).
//! let grid = FlowMatchSettings { shift: 3.0, ..Default::default() }.grid(28, None)?;
//! assert_eq!(grid.logsnr[0], f64::NEG_INFINITY);
//! assert_eq!(grid.logsnr[28], f64::INFINITY);
//! assert!((grid.sigmas[27] - 0.0089286).abs() < 1e-6); // shifted twice at the small end
//! # Ok::<(), gdf::GdfError>(())
//! ```
//!
//! Note on the sign of `m`: the SD3 paper's `t = sigmoid(m + s·z)` is the noise level
//! (`m > 0` trains noisier). diffusers' SD3 scripts index a descending timestep table with
//! `u`, which amounts to `t ≈ 1 − sigmoid(m + s·z)`; reproduce those scripts with `−m`.

use core::fmt;
use std::sync::Arc;

use rand::{Rng, RngCore};
use rand_distr::{Distribution, StandardNormal};

use crate::component::{zst, LogSnrFn};
use crate::float::Real;
use crate::grid::table::DiscreteTable;
use crate::konst::{lit, need, Const, Dec, One, Zero};
use crate::schedule::Schedule;
use typenum::{N1, N12, N2, P12, P129};

zst!(
    /// SD3's logit-normal density: the RF time `t = sigmoid(m + s·z)`, `z ~ N(0, 1)`, so
    /// `λ = −2·logit t = −2(m + s·z) ~ N(−2m, (2s)²)`. Training only. Defaults `m = 0`,
    /// `s = 1` (diffusers' `logit_mean`, `logit_std`).
    LogitNormal<M: Const = Zero, S: Const = One>
    check {
        assert!(
            need::finite(M::F64),
            "LogitNormal: `m` must be finite"
        );
        assert!(
            need::positive(S::F64),
            "LogitNormal: `s` must be positive"
        );
    }
);

/// The logit-normal λ from a standard normal `z`: `−2(m + s·z)`.
#[inline(always)]
pub fn logit_normal<F: Real>(z: F, m: f64, s: f64) -> F {
    -F::of(2.0) * (F::of(m) + F::of(s) * z)
}

impl<M: Const, S: Const> LogSnrFn for LogitNormal<M, S> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "LogitNormal(m = {}, s = {})", lit(M::F64), lit(S::F64))
    }
}

impl<M: Const, S: Const> Schedule for LogitNormal<M, S> {
    fn name(&self) -> &'static str {
        "LogitNormal"
    }
    fn accepts_t(&self) -> bool {
        false
    }
    fn f<F: Real>(&self, _t: F) -> F {
        F::nan()
    }
    fn draw_raw<F: Real>(&self, rng: &mut dyn RngCore) -> F {
        let z: f64 = StandardNormal.sample(rng);
        logit_normal(F::of(z), M::F64, S::F64)
    }
}

zst!(
    /// The EDM paper's lognormal density: `ln σ ~ N(P_mean, P_std²)`, drawn directly as
    /// `λ = −2(P_mean + P_std·z) ~ N(−2 P_mean, (2 P_std)²)`. Training only. Defaults
    /// `P_mean = −1.2`, `P_std = 1.2` (λ ~ N(2.4, 2.4²), median σ = e^−1.2 = 0.3011942).
    /// Unlike [`EdmTrain`](crate::schedule::EdmTrain), which keeps the original's sign.
    EdmLogNormal<PMean: Const = Dec<N12, N1>, PStd: Const = Dec<P12, N1>>
    check {
        assert!(
            need::finite(PMean::F64),
            "EdmLogNormal: `p_mean` must be finite"
        );
        assert!(
            need::positive(PStd::F64),
            "EdmLogNormal: `p_std` must be positive"
        );
    }
);

impl<PMean: Const, PStd: Const> LogSnrFn for EdmLogNormal<PMean, PStd> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(
            out,
            "EdmLogNormal(p_mean = {}, p_std = {})",
            lit(PMean::F64),
            lit(PStd::F64)
        )
    }
}

impl<PMean: Const, PStd: Const> Schedule for EdmLogNormal<PMean, PStd> {
    fn name(&self) -> &'static str {
        "EdmLogNormal"
    }
    fn accepts_t(&self) -> bool {
        false
    }
    fn f<F: Real>(&self, _t: F) -> F {
        F::nan()
    }
    fn draw_raw<F: Real>(&self, rng: &mut dyn RngCore) -> F {
        let z: f64 = StandardNormal.sample(rng);
        logit_normal(F::of(z), PMean::F64, PStd::F64)
    }
}

zst!(
    /// SD3's mode sampling with heavy tails: `t = 1 − u − scale·(cos²(πu/2) − 1 + u)`,
    /// `u ~ U(0, 1)`, `λ = 2 ln((1−t)/t)`. As a schedule, gdf's `t` is `1 − u` (t = 0: λ =
    /// +∞). The map is monotone for `scale ∈ [−1, 2/(π−2)]`; another
    /// scale fails the build (see [`konst`](crate::konst#checked-at-compile-time)).
    /// Default `scale = 1.29` (diffusers' `mode_scale`).
    ModeSampling<Scale: Const = Dec<P129, N2>>
    check {
        assert!(
            Scale::F64 >= -1.0 && Scale::F64 <= 2.0 / (core::f64::consts::PI - 2.0),
            "ModeSampling: `scale` must be within [-1, 2/(π−2) ≈ 1.752] (where the mode-sampling map is monotone)"
        );
    }
);

/// The mode-sampling RF time of `u`: `1 − u − scale·(cos²(πu/2) − 1 + u)`.
#[inline(always)]
pub fn mode_sampling_t<F: Real>(u: F, scale: f64) -> F {
    formula::mode_t(u, F::of(scale))
}

/// λ of an RF time `t`: `2 ln((1−t)/t)`.
#[inline(always)]
pub fn rf_logsnr<F: Real>(t: F) -> F {
    formula::rf_logsnr(t)
}

/// The formulas of the densities that are also sampling schedules (host, and `cube` on the
/// device).
#[crate::formulas]
pub mod formula {
    /// The mode-sampling RF time of `u`: `1 − u − scale·(cos²(πu/2) − 1 + u)`.
    pub fn mode_t<F: Float>(u: F, scale: F) -> F {
        let c = F::cos(konst::<F>(core::f64::consts::FRAC_PI_2) * u);
        F::new(1.0) - u - scale * (c * c - F::new(1.0) + u)
    }
    /// The same map written in gdf's `t = 1 − u`: `t − scale·(sin²(πt/2) − t)`, which keeps
    /// its accuracy as `t → 0` (no `1 − (1 − t)` rounding; λ stays finite and right).
    pub fn mode_t_of_t<F: Float>(t: F, scale: F) -> F {
        let s = F::sin(konst::<F>(core::f64::consts::FRAC_PI_2) * t);
        t - scale * (s * s - t)
    }
    /// λ of an RF time `t`: `2 ln((1−t)/t)`.
    pub fn rf_logsnr<F: Float>(t: F) -> F {
        F::new(2.0) * (F::ln(F::new(1.0) - t) - F::ln(t))
    }
}

impl<Scale: Const> LogSnrFn for ModeSampling<Scale> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "ModeSampling(scale = {})", lit(Scale::F64))
    }
}

impl<Scale: Const> Schedule for ModeSampling<Scale> {
    fn name(&self) -> &'static str {
        "ModeSampling"
    }
    fn f<F: Real>(&self, t: F) -> F {
        formula::rf_logsnr(formula::mode_t_of_t(t, F::of(Scale::F64)))
    }
}

zst!(
    /// CosMap: `t = 1 − 1/(tan(πu/2) + 1)`, `λ = −2 ln tan(πu/2)`, the pure cosine
    /// schedule `ᾱ(u) = cos²(πu/2)` (no offset). λ has density `1/(2π cosh(λ/2))`. As a
    /// schedule, gdf's `t` is `u` (t = 0: λ = +∞).
    CosMap
);

/// The CosMap formula `λ = −2 ln tan(πt/2)`, with `−∞` at `t ≥ 1` (where `tan(π/2)` is
/// finite in floating point).
#[inline(always)]
pub fn cos_map<F: Real>(t: F) -> F {
    if t >= F::one() {
        return F::neg_infinity();
    }
    -F::of(2.0) * (F::FRAC_PI_2() * t).tan().ln()
}

impl LogSnrFn for CosMap {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("CosMap")
    }
}

impl Schedule for CosMap {
    fn name(&self) -> &'static str {
        "CosMap"
    }
    fn f<F: Real>(&self, t: F) -> F {
        cos_map(t)
    }
}

/// Uniform discrete training timesteps (diffusers' `randint(0, T)`): `k ~ U{0, …, T−1}`,
/// `λ = −2 ln σ_k` of the table's float32 `σ_k`. As a schedule, `t ↦ −2 ln σ(t·(T−1))` with
/// σ interpolated linearly over the step (diffusers' Euler rule), so `t = k/(T−1)` gives the
/// same `λ_k` up to the rounding of `t`.
#[derive(Clone, Debug, PartialEq)]
pub struct UniformTimesteps {
    table: Arc<DiscreteTable>,
}

impl UniformTimesteps {
    /// Over a discrete training table.
    ///
    /// ```
    /// use gdf::density::UniformTimesteps;
    /// use gdf::grid::table::{DiscreteTable, TableSettings};
    /// let u = UniformTimesteps::new(DiscreteTable::new(&TableSettings::default())?);
    /// assert_eq!(u.table().len(), 1000);
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn new(table: DiscreteTable) -> Self {
        Self {
            table: Arc::new(table),
        }
    }

    /// The table.
    pub fn table(&self) -> &DiscreteTable {
        &self.table
    }
}

impl LogSnrFn for UniformTimesteps {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "UniformTimesteps(steps = {})", self.table.len())
    }
}

impl Schedule for UniformTimesteps {
    fn name(&self) -> &'static str {
        "UniformTimesteps"
    }
    fn f<F: Real>(&self, t: F) -> F {
        let n = (self.table.len() - 1) as f64;
        let s = self.table.sigma_at(t.as_f64() * n);
        F::of(-2.0 * s.ln())
    }
    fn draw_raw<F: Real>(&self, rng: &mut dyn RngCore) -> F {
        let k = rng.random_range(0..self.table.len());
        F::of(-2.0 * (self.table.sigmas()[k] as f64).ln())
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

    impl<Scale: Const> ScheduleConsts for ModeSampling<Scale> {}
    #[cube]
    impl<Scale: Const> CubeSchedule for ModeSampling<Scale> {
        fn raw<F: Float>(t: F, _state: &[F]) -> F {
            formula::cube::rf_logsnr::<F>(formula::cube::mode_t_of_t::<F>(
                t,
                konst::<F>(comptime!(Scale::F64)),
            ))
        }
    }

    impl<M: Const, S: Const> ScheduleConsts for LogitNormal<M, S> {
        const ACCEPTS_T: bool = false;
    }
    #[cube]
    impl<M: Const, S: Const> CubeSchedule for LogitNormal<M, S> {
        fn raw<F: Float>(t: F, _state: &[F]) -> F {
            crate::schedule::training_only_nan::<F>(t)
        }
    }

    impl<PM: Const, PS: Const> ScheduleConsts for EdmLogNormal<PM, PS> {
        const ACCEPTS_T: bool = false;
    }
    #[cube]
    impl<PM: Const, PS: Const> CubeSchedule for EdmLogNormal<PM, PS> {
        fn raw<F: Float>(t: F, _state: &[F]) -> F {
            crate::schedule::training_only_nan::<F>(t)
        }
    }
}
