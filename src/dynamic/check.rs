//! The rules `gdf!` and the parser apply, checked again on a run-time component whose public
//! fields were set directly (a struct literal, or a field changed after parsing). The same
//! `konst::need` rules the typed components evaluate at compile time.

use super::recipes::{finite, positive};
use super::{
    CondKind, DynDensity, DynLossWeight, DynNoiseCond, DynSchedule, DynWeighting, ScheduleKind,
    WeightKind,
};
use crate::error::{GdfError, Result};
use crate::konst::need;
use crate::schedule::VarParams;
use crate::solver::check_nonneg as nonneg;

/// An error naming `what` unless `ok`.
fn rule(ok: bool, what: &'static str, value: f64, expected: &'static str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(GdfError::OutOfRange {
            what,
            value,
            expected,
        })
    }
}

fn ordered(what: &'static str, [lo, hi]: [f64; 2]) -> Result<()> {
    let bad = if need::finite(lo) { hi } else { lo };
    rule(
        need::ordered(lo, hi),
        what,
        bad,
        "a finite range [lo, hi] with lo < hi",
    )
}
fn count(what: &'static str, n: u64, min: u64, expected: &'static str) -> Result<()> {
    rule(need::count(n, min), what, n as f64, expected)
}

fn var_params(p: &VarParams) -> Result<()> {
    nonneg("s", p.s)?;
    for v in p.clamp_range {
        rule(
            need::unit(v),
            "clamp_range",
            v,
            "within [0, 1] (it bounds a variance)",
        )?;
    }
    ordered("clamp_range", p.clamp_range)
}

impl DynDensity {
    /// The constructors' rules (the constructors themselves).
    pub(crate) fn check(&self) -> Result<()> {
        match self {
            DynDensity::LogitNormal { m, s } => {
                finite("m", *m)?;
                positive("s", *s)
            }
            DynDensity::ModeSampling { scale } => DynDensity::mode_sampling(*scale).map(|_| ()),
            DynDensity::EdmLogNormal { p_mean, p_std } => {
                finite("p_mean", *p_mean)?;
                positive("p_std", *p_std)
            }
            DynDensity::CosMap | DynDensity::UniformTimesteps(_) => Ok(()),
        }
    }
}

impl DynSchedule {
    /// [`Schedule::check`](crate::schedule::Schedule::check): the wrapper's settings and the
    /// formula's parameters.
    pub(crate) fn check_params(&self) -> Result<()> {
        positive("shift", self.shift)?;
        if let Some(d) = self.discrete_steps {
            count(
                "discrete_steps",
                d,
                2,
                "a whole number in [2, 2^20] (t is snapped to that many points, both ends \
                 included)",
            )?;
        }
        match &self.kind {
            ScheduleKind::Cosine(p) | ScheduleKind::Sqrt(p) => var_params(p),
            ScheduleKind::Cosine2(r)
            | ScheduleKind::RectifiedFlows(r)
            | ScheduleKind::Linear(r) => ordered("logsnr_range", *r),
            ScheduleKind::EdmSample { sigma_range, p } => {
                for v in *sigma_range {
                    positive("sigma_range", v)?;
                }
                ordered("sigma_range", *sigma_range)?;
                positive("p", *p)
            }
            ScheduleKind::EdmTrain { mu, std } => {
                finite("mu", *mu)?;
                positive("std", *std)
            }
            // Checked when built (`Table::new`); its fields are private.
            ScheduleKind::PiecewiseLinear(_) => Ok(()),
            ScheduleKind::StableDiffusion {
                linear_range,
                total_steps,
                ..
            } => crate::interp::check_stable_diffusion(*linear_range, *total_steps),
            ScheduleKind::AdaptiveTrain {
                logsnr_range,
                min_probs,
                state,
            } => {
                ordered("logsnr_range", *logsnr_range)?;
                nonneg("min_probs", *min_probs)?;
                count(
                    "buckets",
                    state.bucket_probs.len() as u64,
                    1,
                    "a whole number in [1, 2^20]",
                )?;
                crate::buckets::check_draw_weights(&state.bucket_probs, *min_probs)
            }
            ScheduleKind::Interpolated(s1, s2, shifts) => {
                s1.check_params()?;
                s2.check_params()?;
                for v in *shifts {
                    positive("shifts", v)?;
                }
                Ok(())
            }
            ScheduleKind::Density(d) => d.check(),
        }
    }
}

impl DynNoiseCond {
    /// [`NoiseCond::check`](crate::noise_cond::NoiseCond::check): shift, clamp and the
    /// formula's parameters.
    pub(crate) fn check_params(&self) -> Result<()> {
        positive("shift", self.shift)?;
        ordered("clamp_range", self.clamp_range)?;
        match &self.kind {
            CondKind::CosineT(s) => nonneg("s", *s),
            CondKind::EdmSigma(sd) => positive("sigma_data", *sd),
            CondKind::FlowSigma(scale) | CondKind::FlowAlpha(scale) | CondKind::LogSigma(scale) => {
                positive("scale", *scale)
            }
            CondKind::StableDiffusion {
                linear_range,
                total_steps,
                ..
            } => crate::interp::check_stable_diffusion(*linear_range, *total_steps),
            CondKind::Discrete {
                inner,
                steps,
                continuous_range,
            } => {
                inner.check_params()?;
                count("steps", *steps, 1, "a whole number in [1, 2^20]")?;
                ordered("continuous_range", *continuous_range)
            }
            // No parameters, or checked when built (tables with private fields).
            CondKind::Edm
            | CondKind::Sigmoid
            | CondKind::LogSnr
            | CondKind::RectifiedFlows
            | CondKind::PiecewiseLinear(_)
            | CondKind::TableTimestep(_) => Ok(()),
        }
    }
}

impl DynLossWeight {
    /// [`LossWeight::check`](crate::loss_weight::LossWeight::check): the clamp and the
    /// formula's parameters.
    pub(crate) fn check_params(&self) -> Result<()> {
        ordered("clamp_range", self.clamp_range)?;
        match &self.kind {
            WeightKind::Constant(v) => finite("v", *v),
            WeightKind::P2 { k, gamma, s } => {
                finite("k", *k)?;
                finite("gamma", *gamma)?;
                finite("s", *s)
            }
            WeightKind::MinSnr(m) | WeightKind::MinSnrPlusOne(m) => positive("max_snr", *m),
            WeightKind::TruncatedSnr(m) => nonneg("min_snr", *m),
            WeightKind::Sech(d) => positive("div", *d),
            WeightKind::Sigmoid(s) => finite("s", *s),
            WeightKind::Composed { mul, div } => {
                mul.iter().chain(div).try_for_each(|w| w.check_params())
            }
            WeightKind::Modern(w) => match w {
                DynWeighting::Edm { sigma_data, .. } => positive("sigma_data", *sigma_data),
                // Its constructor's rule (σ_d enters squared).
                DynWeighting::SoftMinSnr { sigma_data, .. } => finite("sigma_data", *sigma_data),
                DynWeighting::MinSnrGamma { gamma, .. } => positive("gamma", *gamma),
                DynWeighting::SigmaSqrt | DynWeighting::CosMap => Ok(()),
            },
            WeightKind::Adaptive {
                logsnr_range,
                weight_range,
                edges,
                state,
            } => {
                ordered("logsnr_range", *logsnr_range)?;
                ordered("weight_range", *weight_range)?;
                let buckets = state.bucket_losses.len();
                count("buckets", buckets as u64, 2, "a whole number in [2, 2^20]")?;
                rule(
                    edges.len() + 1 == buckets,
                    "edges (Adaptive)",
                    edges.len() as f64,
                    "buckets − 1 bucket edges",
                )?;
                crate::buckets::check_nonneg_losses("bucket_losses", &state.bucket_losses)
            }
            WeightKind::Snr | WeightKind::SnrPlusOne | WeightKind::Debiased => Ok(()),
        }
    }
}
