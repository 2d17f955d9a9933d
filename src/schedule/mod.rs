//! Schedules: `t ↦ λ` (logSNR), and the training distribution of λ.
//!
//! Every schedule shares one wrapper around its own formula `f(t)` (SPEC §1):
//! discrete steps (`t ← round_half_even(t·(D−1))/(D−1)`), `t ← clamp(t, 0, 1)`, `λ ← f(t)`,
//! the shift `λ ← λ − 2·ln k` with `k = shift_at_call · own_shift`, and the limits
//! `[λ(t=1), λ(t=0)]` (computed with call shift 1, own shift included) that every result is
//! clamped into. The wrapper is the provided part of [`Schedule`]; a schedule implements
//! [`Schedule::f`] and, if it is not the default, its training draw.
//!
//! ```
//! use gdf::prelude::*;
//! use gdf::schedule::Cosine;
//! let cosine = <Cosine>::new(); // the original's CosineSchedule()
//! assert_eq!(cosine.limits(), Some([-9.21024036697585, 9.21024036697596]));
//! let l: f64 = cosine.logsnr(0.5, 1.0).unwrap();
//! assert!((l - -0.02462688281151437).abs() < 1e-12); // the original's value
//! // A shift of 2 moves λ by −2·ln 2.
//! let shifted: f64 = cosine.logsnr(0.5, 2.0).unwrap();
//! assert!((shifted - (l - 2.0 * 2f64.ln())).abs() < 1e-12);
//! ```

use core::fmt;

use rand::{Rng, RngCore};

use crate::component::LogSnrFn;
use crate::error::{check_finite, check_len, GdfError, Result};
use crate::float::Real;
use crate::konst::lit;

/// Declares a schedule over `logsnr_range` whose `formula::raw(t, lo, hi)` is its formula:
/// the declaration text, the host trait and (with a kernel feature) the `#[cube]` trait.
macro_rules! range_schedule {
    ($ty:ident, $name:literal) => {
        impl<Lo: Const, Hi: Const> LogSnrFn for $ty<Lo, Hi> {
            fn write_decl(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
                out.write_str(concat!($name, "("))?;
                super::write_range(out, "logsnr_range", [Lo::F64, Hi::F64])?;
                out.write_str(")")
            }
        }
        impl<Lo: Const, Hi: Const> super::Schedule for $ty<Lo, Hi> {
            fn name(&self) -> &'static str {
                $name
            }
            #[inline(always)]
            fn f<F: crate::Real>(&self, t: F) -> F {
                formula::raw(t, F::of(Lo::F64), F::of(Hi::F64))
            }
        }
        #[cfg(gdf_kernel)]
        mod device {
            use super::*;
            use crate::formula::device::konst;
            #[allow(unused_imports)]
            use crate::konst::Const;
            use cubecl::prelude::*;

            impl<Lo: Const, Hi: Const> crate::schedule::ScheduleConsts for $ty<Lo, Hi> {}
            #[cube]
            impl<Lo: Const, Hi: Const> crate::schedule::CubeSchedule for $ty<Lo, Hi> {
                fn raw<F: Float>(t: F, _state: &[F]) -> F {
                    formula::cube::raw::<F>(
                        t,
                        konst::<F>(comptime!(Lo::F64)),
                        konst::<F>(comptime!(Hi::F64)),
                    )
                }
            }
        }
    };
}

/// Forwards a wrapper's formula, name and training draw to its inner schedule.
macro_rules! delegate_schedule {
    () => {
        fn name(&self) -> &'static str {
            self.inner.name()
        }
        fn accepts_t(&self) -> bool {
            self.inner.accepts_t()
        }
        #[inline(always)]
        fn f<F: Real>(&self, t: F) -> F {
            self.inner.f(t)
        }
        fn draw_t(&self, rng: &mut dyn RngCore) -> f64 {
            self.inner.draw_t(rng)
        }
        fn draw_raw<F: Real>(&self, rng: &mut dyn RngCore) -> F {
            self.inner.draw_raw(rng)
        }
    };
}

pub mod adaptive;
pub mod combinators;
pub mod cosine2;
pub mod edm;
pub mod linear;
pub mod piecewise;
pub mod rectified_flows;
pub mod variance;

pub(crate) use crate::buckets::update_buckets;
pub use crate::interp::Table;
pub(crate) use adaptive::{
    train_bucket, update_train_buckets, write_adaptive_train, AdaptiveTrainCore,
};
pub use adaptive::{AdaptiveTrain, AdaptiveTrainState};
pub use combinators::{interpolate, DiscreteSteps, Interpolated, NoLimits, Shifted};
pub(crate) use combinators::{write_interpolated, write_with};
pub use cosine2::{cosine2, Cosine2};
pub use edm::{edm_sample, edm_train, EdmSample, EdmTrain};
pub use linear::{linear, Linear};
pub(crate) use piecewise::write_sd;
pub use piecewise::{PiecewiseLinear, StableDiffusion};
pub use rectified_flows::{rectified_flows, RectifiedFlows};
pub(crate) use variance::draw_cosine_t;
pub use variance::{Cosine, Sqrt, VarParams};

/// A schedule: maps diffusion time `t ∈ [0, 1]` to logSNR λ, and draws λ for training.
///
/// Implementors provide [`f`](Schedule::f) (the raw formula) and, where they differ from the
/// default, the training draw and the wrapper settings; the wrapper itself (discrete steps,
/// clamp, shift, limits) is provided.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a schedule",
    label = "expected a schedule (t → logSNR) here",
    note = "schedules are Cosine, Cosine2, Sqrt, RectifiedFlows, EdmSample, EdmTrain, Linear, PiecewiseLinear, StableDiffusion, AdaptiveTrain, Interpolated, or your own type implementing `gdf::schedule::Schedule`"
)]
pub trait Schedule: LogSnrFn {
    /// The schedule's name (`"Cosine"`).
    fn name(&self) -> &'static str;

    /// Checks the parameters with the rules `gdf!` applies: the run-time
    /// (`gdf::dynamic`) type's numbers, whose fields are public; a typed component's constants
    /// are checked at compile time, so the default has nothing to check. The framework's
    /// entry points (`diffuse`, `logsnr`, sampling, the kernels) call it before they run.
    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// Whether the schedule can evaluate a given `t` (false for training-only schedules).
    fn accepts_t(&self) -> bool {
        true
    }

    /// The raw formula `f(t)` for `t ∈ [0, 1]`, before shift and limits. Training-only
    /// schedules return NaN (the checked entry points never call it for them).
    fn f<F: Real>(&self, t: F) -> F;

    /// The schedule's own shift (multiplies the call's shift). Default 1.
    fn own_shift(&self) -> f64 {
        1.0
    }

    /// `Some(D)` when `t` is snapped to `D` evenly spaced steps. Default `None`.
    fn discrete_steps(&self) -> Option<u64> {
        None
    }

    /// Whether results are clamped into [`limits`](Schedule::limits). Default `true`.
    fn force_limits(&self) -> bool {
        true
    }

    /// Draws one training `t`; the default is `1 − U[0,1)`.
    fn draw_t(&self, rng: &mut dyn RngCore) -> f64 {
        1.0 - rng.random::<f64>()
    }

    /// Draws one raw training λ (before shift and limits). Default: `f(draw_t())`.
    fn draw_raw<F: Real>(&self, rng: &mut dyn RngCore) -> F {
        self.f(F::of(self.draw_t(rng)))
    }

    /// `[λ(t=1), λ(t=0)]` with call shift 1, or `None` when `force_limits` is off or the
    /// schedule is training-only. Computed in f64.
    fn limits(&self) -> Option<[f64; 2]> {
        if self.force_limits() && self.accepts_t() {
            Some([self.unclamped(1.0f64, 1.0), self.unclamped(0.0f64, 1.0)])
        } else {
            None
        }
    }

    /// The wrapper without the limits: discrete steps, clamp, `f`, shift. Does not check its
    /// input; prefer [`logsnr`](Schedule::logsnr).
    fn unclamped<F: Real>(&self, t: F, shift: F) -> F {
        let (n, discrete) = match self.discrete_steps() {
            Some(d) => (F::of(d.saturating_sub(1) as f64), true),
            None => (F::one(), false),
        };
        let t = wrapper::snap(t, n, discrete);
        wrapper::shift(self.f(t), shift * F::of(self.own_shift()))
    }

    /// λ at `t` with the call's `shift`, clamped into the limits. Unchecked: `t` must be
    /// finite and the schedule must accept `t`.
    fn eval<F: Real>(&self, t: F, shift: F, limits: Option<[f64; 2]>) -> F {
        apply_limits(self.unclamped(t, shift), limits)
    }

    /// λ at one `t`, shifted by `shift` and clamped into the limits.
    ///
    /// Errors: [`GdfError::TrainingOnly`] for EDMTrain / AdaptiveTrain,
    /// [`GdfError::NonFinite`] for a NaN or infinite `t` or `shift`, and
    /// [`GdfError::OutOfRange`] for a non-positive shift.
    fn logsnr<F: Real>(&self, t: F, shift: F) -> Result<F> {
        let mut out = [F::zero()];
        self.logsnr_into(&[t], shift, &mut out)?;
        Ok(out[0])
    }

    /// λ for every `t` of a batch into `out` (same length); limits are computed once.
    fn logsnr_into<F: Real>(&self, t: &[F], shift: F, out: &mut [F]) -> Result<()> {
        check_call(self, t, shift, out.len())?;
        let limits = self.limits();
        for (o, &t) in out.iter_mut().zip(t) {
            *o = self.eval(t, shift, limits);
        }
        Ok(())
    }

    /// λ for integer step indices of a `discrete_steps` schedule (`t = idx/(D−1)`).
    ///
    /// Errors as [`logsnr_into`](Schedule::logsnr_into), plus [`GdfError::Invalid`] when the
    /// schedule has no discrete steps.
    fn logsnr_steps_into<F: Real>(&self, steps: &[i64], shift: F, out: &mut [F]) -> Result<()> {
        let Some(d) = self.discrete_steps() else {
            return Err(GdfError::Invalid {
                message: format!(
                    "step indices need a schedule with discrete_steps, but {} has none",
                    self.decl()
                ),
            });
        };
        let n = d.saturating_sub(1).max(1) as f64;
        let t: Vec<F> = steps.iter().map(|&s| F::of(s as f64 / n)).collect();
        self.logsnr_into(&t, shift, out)
    }

    /// Draws one training λ with the call's `shift`, clamped into `limits` (pass
    /// [`Schedule::limits`], computed once per batch).
    fn draw_logsnr<F: Real>(&self, rng: &mut dyn RngCore, shift: F, limits: Option<[f64; 2]>) -> F {
        let raw = self.draw_raw::<F>(rng);
        apply_limits(apply_shift(raw, shift * F::of(self.own_shift())), limits)
    }
}

fn check_call<S: Schedule, F: Real>(s: &S, t: &[F], shift: F, out: usize) -> Result<()> {
    s.check()?;
    if !s.accepts_t() {
        return Err(GdfError::TrainingOnly { schedule: s.name() });
    }
    check_len("out", t.len(), out)?;
    check_shift(shift)?;
    check_finite("t", t)
}

pub(crate) fn check_shift<F: Real>(shift: F) -> Result<()> {
    check_shift_named("shift", shift)
}

/// [`check_shift`] for a shift the user set under another name (`loss_shift`).
pub(crate) fn check_shift_named<F: Real>(what: &'static str, shift: F) -> Result<()> {
    check_finite(what, &[shift])?;
    if shift <= F::zero() {
        return Err(GdfError::OutOfRange {
            what,
            value: shift.as_f64(),
            expected: "a positive number (the factor that multiplies σ = b/a)",
        });
    }
    Ok(())
}

/// `λ − 2·ln k` when `k ≠ 1` (the original's `λ + 2·ln(1/k)`).
#[inline(always)]
pub fn apply_shift<F: Real>(l: F, k: F) -> F {
    wrapper::shift(l, k)
}

/// Clamps into the limits when there are any. A NaN limit (a schedule that is NaN at one
/// end, e.g. `Sqrt` with `s > 0` and `norm_instead`) makes every result NaN, as
/// `torch.clamp` does.
#[inline(always)]
pub fn apply_limits<F: Real>(l: F, limits: Option<[f64; 2]>) -> F {
    match limits {
        Some([lo, hi]) => wrapper::limit(l, F::of(lo), F::of(hi)),
        None => l,
    }
}

/// The wrapper's formulas (SPEC §1), shared by the host trait and the kernels' wrapper.
#[crate::formulas]
pub mod wrapper {
    /// Discrete steps (`t ← round_half_even(t·n)/n` with `n = D − 1`, when `discrete`), then
    /// `t ← clamp(t, 0, 1)`.
    pub fn snap<F: Float>(t: F, n: F, #[comptime] discrete: bool) -> F {
        let mut t = t;
        if discrete {
            t = round_even::<F>(t * n) / n;
        }
        clamp::<F>(t, F::new(0.0), F::new(1.0))
    }

    /// The shift by `k`: `λ + 2·ln(1/k)` when `k ≠ 1`.
    pub fn shift<F: Float>(l: F, k: F) -> F {
        select(
            k != F::new(1.0),
            l + F::new(2.0) * F::ln(F::new(1.0) / k),
            l,
        )
    }

    /// Clamps into `[lo, hi]` (`±inf` for none); a NaN limit makes the result NaN.
    pub fn limit<F: Float>(l: F, lo: F, hi: F) -> F {
        let out = clamp::<F>(l, lo, hi);
        // lo + hi is NaN when either is (WGSL has no NaN literal).
        select(is_nan::<F>(lo) || is_nan::<F>(hi), lo + hi, out)
    }
}

pub(crate) fn write_range(out: &mut dyn fmt::Write, name: &str, r: [f64; 2]) -> fmt::Result {
    write!(out, "{name} = [{}, {}]", lit(r[0]), lit(r[1]))
}

/// Type-level wrapper settings of a schedule (as [`Schedule::own_shift`] and
/// [`Schedule::discrete_steps`]), for the kernels.
#[cfg(gdf_kernel)]
pub trait ScheduleConsts {
    /// The schedule's own shift.
    const OWN_SHIFT: f64 = 1.0;
    /// `D` of `discrete_steps`, or 0 for none.
    const DISCRETE_STEPS: u64 = 0;
    /// Whether the schedule evaluates a given `t` (false for training-only schedules).
    const ACCEPTS_T: bool = true;
}

/// The `#[cube]` form of a [`Schedule`]: its raw formula `f(t)` (the same source as the
/// host's, see [`crate::formula`]). The shared wrapper is [`schedule_logsnr()`].
#[cfg(gdf_kernel)]
#[allow(missing_docs)] // the `…Expand` companion `#[cube]` generates has no docs
#[cubecl::cube]
pub trait CubeSchedule: ScheduleConsts + Send + Sync + 'static {
    /// The raw formula at `t ∈ [0, 1]`; `state` is the raw part of the schedule's state.
    fn raw<F: cubecl::prelude::Float>(t: F, state: &[F]) -> F;
}

#[cfg(gdf_kernel)]
#[allow(missing_docs)]
mod device_fns {
    use super::*;
    #[allow(unused_imports)]
    use crate::formula::device::konst;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use cubecl::prelude::*;

    /// The schedule wrapper on the device (SPEC §1, the [`wrapper`] formulas): discrete steps,
    /// clamp to `[0, 1]`, `f`, shift by `shift · own_shift`, clamp into the limits `state[0..2]`.
    #[allow(missing_docs)]
    #[cubecl::cube]
    pub fn schedule_logsnr<F: Float, S: CubeSchedule>(t: F, shift: F, state: &[F]) -> F {
        let d = comptime!(S::DISCRETE_STEPS);
        let n = konst::<F>(comptime!(d.saturating_sub(1) as f64));
        let t = wrapper::cube::snap::<F>(t, n, comptime!(d > 0));
        let raw = S::raw::<F>(t, state.slice(2, state.len()));
        let k = shift * konst::<F>(comptime!(S::OWN_SHIFT));
        wrapper::cube::limit::<F>(wrapper::cube::shift::<F>(raw, k), state[0], state[1])
    }
    /// The raw formula of a training-only schedule on the device: NaN (never evaluated through
    /// the checked entry points; WGSL has no NaN literal).
    #[allow(missing_docs)]
    #[cubecl::cube]
    pub(crate) fn training_only_nan<F: Float>(t: F) -> F {
        let z = t * F::new(0.0);
        z / (F::new(0.0) * t)
    }
}
#[cfg(gdf_kernel)]
pub use device_fns::schedule_logsnr;
#[cfg(gdf_kernel)]
pub(crate) use device_fns::training_only_nan;
