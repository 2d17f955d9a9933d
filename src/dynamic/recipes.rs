//! Runtime forms of the training densities ([`crate::density`]) and loss weights
//! ([`crate::weighting`]): the same formula functions with parameters held in values, so a
//! `DynDensity`/`DynWeighting` and the zero-sized type with the same constants give
//! bit-identical results.

use core::fmt;

use rand::RngCore;
use rand_distr::{Distribution, StandardNormal};

use super::DynTarget;
use crate::component::LogSnrFn;
use crate::density::{self as dn, UniformTimesteps};
use crate::error::{GdfError, Result};
use crate::float::Real;
use crate::konst::lit;
use crate::loss_weight::LossWeight;
use crate::scaler::{Lerp, Scaler, Vp};
use crate::schedule::Schedule;
use crate::target::X0;
use crate::weighting::{self as wt, convert_weight, CosMapWeight, SigmaSqrt};

/// A training density chosen at run time (see [`crate::density`]).
///
/// ```
/// use gdf::prelude::*;
/// use gdf::dynamic::DynDensity;
/// let d = DynDensity::logit_normal(0.0, 1.0)?;
/// assert_eq!(d.decl(), <gdf::density::LogitNormal>::new().decl());
/// assert!(DynDensity::logit_normal(0.0, -1.0).is_err());
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum DynDensity {
    /// [`dn::LogitNormal`] with `m`, `s`.
    LogitNormal {
        /// Mean of the logit.
        m: f64,
        /// Standard deviation of the logit (> 0).
        s: f64,
    },
    /// [`dn::ModeSampling`] with `scale`.
    ModeSampling {
        /// `mode_scale`, in `[−1, 2/(π−2)]`.
        scale: f64,
    },
    /// [`dn::EdmLogNormal`] with `P_mean`, `P_std`.
    EdmLogNormal {
        /// Mean of `ln σ`.
        p_mean: f64,
        /// Standard deviation of `ln σ` (> 0).
        p_std: f64,
    },
    /// [`dn::CosMap`].
    CosMap,
    /// [`UniformTimesteps`] over its table.
    UniformTimesteps(UniformTimesteps),
}

pub(super) fn positive(what: &'static str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(GdfError::OutOfRange {
            what,
            value: v,
            expected: "a finite number > 0",
        })
    }
}

pub(super) fn finite(what: &'static str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(GdfError::OutOfRange {
            what,
            value: v,
            expected: "a finite number",
        })
    }
}

impl DynDensity {
    /// SD3's logit-normal (`m` finite, `s > 0`).
    pub fn logit_normal(m: f64, s: f64) -> Result<Self> {
        finite("m", m)?;
        positive("s", s)?;
        Ok(DynDensity::LogitNormal { m, s })
    }
    /// SD3's mode sampling (`scale ∈ [−1, 2/(π−2)]`).
    pub fn mode_sampling(scale: f64) -> Result<Self> {
        let hi = 2.0 / (core::f64::consts::PI - 2.0);
        if !(-1.0..=hi).contains(&scale) {
            return Err(GdfError::OutOfRange {
                what: "mode_scale",
                value: scale,
                expected: "a number in [-1, 2/(π−2) = 1.7519]",
            });
        }
        Ok(DynDensity::ModeSampling { scale })
    }
    /// EDM's lognormal (`p_mean` finite, `p_std > 0`).
    pub fn edm_lognormal(p_mean: f64, p_std: f64) -> Result<Self> {
        finite("p_mean", p_mean)?;
        positive("p_std", p_std)?;
        Ok(DynDensity::EdmLogNormal { p_mean, p_std })
    }
}

impl LogSnrFn for DynDensity {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            DynDensity::LogitNormal { m, s } => {
                write!(out, "LogitNormal(m = {}, s = {})", lit(*m), lit(*s))
            }
            DynDensity::ModeSampling { scale } => {
                write!(out, "ModeSampling(scale = {})", lit(*scale))
            }
            DynDensity::EdmLogNormal { p_mean, p_std } => write!(
                out,
                "EdmLogNormal(p_mean = {}, p_std = {})",
                lit(*p_mean),
                lit(*p_std)
            ),
            DynDensity::CosMap => out.write_str("CosMap"),
            DynDensity::UniformTimesteps(u) => u.write_decl(out),
        }
    }
}

impl Schedule for DynDensity {
    fn name(&self) -> &'static str {
        match self {
            DynDensity::LogitNormal { .. } => "LogitNormal",
            DynDensity::ModeSampling { .. } => "ModeSampling",
            DynDensity::EdmLogNormal { .. } => "EdmLogNormal",
            DynDensity::CosMap => "CosMap",
            DynDensity::UniformTimesteps(_) => "UniformTimesteps",
        }
    }
    fn accepts_t(&self) -> bool {
        !matches!(
            self,
            DynDensity::LogitNormal { .. } | DynDensity::EdmLogNormal { .. }
        )
    }
    fn f<F: Real>(&self, t: F) -> F {
        match self {
            DynDensity::LogitNormal { .. } | DynDensity::EdmLogNormal { .. } => F::nan(),
            DynDensity::ModeSampling { scale } => {
                dn::formula::rf_logsnr(dn::formula::mode_t_of_t(t, F::of(*scale)))
            }
            DynDensity::CosMap => dn::cos_map(t),
            DynDensity::UniformTimesteps(u) => u.f(t),
        }
    }
    fn draw_raw<F: Real>(&self, rng: &mut dyn RngCore) -> F {
        match self {
            DynDensity::LogitNormal { m, s } => {
                let z: f64 = StandardNormal.sample(rng);
                dn::logit_normal(F::of(z), *m, *s)
            }
            DynDensity::EdmLogNormal { p_mean, p_std } => {
                let z: f64 = StandardNormal.sample(rng);
                dn::logit_normal(F::of(z), *p_mean, *p_std)
            }
            DynDensity::UniformTimesteps(u) => u.draw_raw(rng),
            _ => self.f(F::of(self.draw_t(rng))),
        }
    }
}

/// A loss weight of [`crate::weighting`] chosen at run time.
///
/// ```
/// use gdf::prelude::*;
/// use gdf::dynamic::{DynTarget, DynWeighting};
/// use gdf::weighting::MinSnrGamma;
/// let d = DynWeighting::min_snr_gamma(DynTarget::V, 5.0)?;
/// let l = 10f64.ln();
/// assert_eq!(d.weight(l), MinSnrGamma::<target::V>::new().weight(l));
/// assert_eq!(d.decl(), "MinSnrGamma(target = V, gamma = 5.0)");
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum DynWeighting {
    /// [`wt::EdmWeight`] on `target`'s MSE.
    Edm {
        /// The target whose MSE is weighted.
        target: DynTarget,
        /// `σ_data` (> 0).
        sigma_data: f64,
    },
    /// [`wt::SoftMinSnr`] on `target`'s MSE.
    SoftMinSnr {
        /// The target whose MSE is weighted.
        target: DynTarget,
        /// `σ_data` (finite).
        sigma_data: f64,
    },
    /// [`wt::MinSnrGamma`] on `target`'s MSE.
    MinSnrGamma {
        /// The target whose MSE is weighted.
        target: DynTarget,
        /// γ (> 0).
        gamma: f64,
    },
    /// [`SigmaSqrt`] (RF velocity MSE).
    SigmaSqrt,
    /// [`CosMapWeight`] (RF velocity MSE).
    CosMap,
}

impl DynWeighting {
    /// EDM's weight (`sigma_data > 0`).
    pub fn edm(target: DynTarget, sigma_data: f64) -> Result<Self> {
        positive("sigma_data", sigma_data)?;
        Ok(DynWeighting::Edm { target, sigma_data })
    }
    /// Soft-min-SNR (`sigma_data` finite).
    pub fn soft_min_snr(target: DynTarget, sigma_data: f64) -> Result<Self> {
        finite("sigma_data", sigma_data)?;
        Ok(DynWeighting::SoftMinSnr { target, sigma_data })
    }
    /// Min-SNR-γ (`gamma > 0`).
    pub fn min_snr_gamma(target: DynTarget, gamma: f64) -> Result<Self> {
        positive("gamma", gamma)?;
        Ok(DynWeighting::MinSnrGamma { target, gamma })
    }
}

/// `w_x0` converted to `target`'s MSE at its natural scaler (as [`wt::from_x0`]).
fn from_x0<F: Real>(target: DynTarget, w: F, l: F) -> F {
    let (a, b) = match target {
        DynTarget::RectifiedFlows | DynTarget::NegRectifiedFlows => Lerp.ab(l),
        _ => Vp.ab(l),
    };
    convert_weight(w, &X0, &target, a, b)
}

impl LogSnrFn for DynWeighting {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let (name, target, pname, v) = match self {
            DynWeighting::Edm { target, sigma_data } => {
                ("EdmWeight", target, "sigma_data", sigma_data)
            }
            DynWeighting::SoftMinSnr { target, sigma_data } => {
                ("SoftMinSnr", target, "sigma_data", sigma_data)
            }
            DynWeighting::MinSnrGamma { target, gamma } => ("MinSnrGamma", target, "gamma", gamma),
            DynWeighting::SigmaSqrt => return SigmaSqrt.write_decl(out),
            DynWeighting::CosMap => return CosMapWeight.write_decl(out),
        };
        write!(out, "{name}(target = ")?;
        target.write_decl(out)?;
        write!(out, ", {pname} = {})", lit(*v))
    }
}

impl LossWeight for DynWeighting {
    fn weight<F: Real>(&self, l: F) -> F {
        match *self {
            DynWeighting::Edm { target, sigma_data } => {
                wt::beyond_exp(l, |l| from_x0(target, wt::edm_weight_x0(l, sigma_data), l))
            }
            DynWeighting::SoftMinSnr { target, sigma_data } => wt::beyond_exp(l, |l| {
                from_x0(target, wt::soft_min_snr_x0(l, sigma_data), l)
            }),
            DynWeighting::MinSnrGamma { target, gamma } => wt::beyond_exp(l, |l| {
                from_x0(target, wt::formula::min_snr_gamma_x0(l, F::of(gamma)), l)
            }),
            DynWeighting::SigmaSqrt => SigmaSqrt.weight(l),
            DynWeighting::CosMap => CosMapWeight.weight(l),
        }
    }
}
