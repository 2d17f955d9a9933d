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
use core::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock};

use rand::{Rng, RngCore};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::component::{zst, LogSnrFn};
use crate::error::{check_finite, check_len, GdfError, Result};
use crate::float::{clamp, linspace, linspace_at, Real};
use crate::konst::{lit, Const, Count, Dec, Flag, One, P9999};
use typenum::{False, N1, N15, N3, N4, P1, P12, P15, P2, P7, P8, P85, U100, U1000, Z0};

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
        let mut t = t;
        if let Some(d) = self.discrete_steps() {
            let n = F::of(d.saturating_sub(1) as f64);
            t = (t * n).round_even() / n;
        }
        let t = clamp(t, F::zero(), F::one());
        apply_shift(self.f(t), shift * F::of(self.own_shift()))
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
    if k != F::one() {
        l + F::of(2.0) * (F::one() / k).ln()
    } else {
        l
    }
}

/// Clamps into the limits when there are any. A NaN limit (a schedule that is NaN at one
/// end, e.g. `Sqrt` with `s > 0` and `norm_instead`) makes every result NaN, as
/// `torch.clamp` does.
#[inline(always)]
pub fn apply_limits<F: Real>(l: F, limits: Option<[f64; 2]>) -> F {
    match limits {
        Some([lo, hi]) if lo.is_nan() || hi.is_nan() => F::nan(),
        Some([lo, hi]) => clamp(l, F::of(lo), F::of(hi)),
        None => l,
    }
}

#[inline(always)]
fn logit<F: Real>(v: F) -> F {
    (v / (F::one() - v)).ln()
}

fn write_range(out: &mut dyn fmt::Write, name: &str, r: [f64; 2]) -> fmt::Result {
    write!(out, "{name} = [{}, {}]", lit(r[0]), lit(r[1]))
}

// ---------------------------------------------------------------------------------------
// Parameter forms: one formula each, used by the zero-sized types and by `DynSchedule`.

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
    #[inline(always)]
    fn finish<F: Real>(&self, v: F) -> F {
        let (lo, hi) = (F::of(self.clamp_range[0]), F::of(self.clamp_range[1]));
        let v = if self.norm_instead {
            v * (hi - lo) + lo
        } else {
            clamp(v, lo, hi)
        };
        logit(v)
    }

    /// The Cosine formula.
    #[inline(always)]
    pub fn cosine<F: Real>(&self, t: F) -> F {
        let s = F::of(self.s);
        let half_pi = F::FRAC_PI_2();
        let m = (s / (F::one() + s) * half_pi).cos().powi(2);
        let c = clamp(
            ((s + t) / (F::one() + s) * half_pi).cos(),
            F::zero(),
            F::one(),
        );
        self.finish(c * c / m)
    }

    /// The Sqrt formula.
    #[inline(always)]
    pub fn sqrt<F: Real>(&self, t: F) -> F {
        self.finish(F::one() - (t + F::of(self.s)).sqrt())
    }

    fn write(&self, out: &mut dyn fmt::Write, name: &str) -> fmt::Result {
        write!(out, "{name}(s = {}, ", lit(self.s))?;
        write_range(out, "clamp_range", self.clamp_range)?;
        write!(out, ", norm_instead = {})", self.norm_instead)
    }
}

/// Cosine2 formula: `λ = −2·ln tan(t_min + t·(t_max−t_min))`.
#[inline(always)]
pub fn cosine2<F: Real>(t: F, logsnr_range: [f64; 2]) -> F {
    let half = F::of(0.5);
    let t_min = (-F::of(logsnr_range[1]) * half).exp().atan();
    let t_max = (-F::of(logsnr_range[0]) * half).exp().atan();
    -F::of(2.0) * (t_min + t * (t_max - t_min)).tan().ln()
}

/// RectifiedFlows formula: `λ = clamp(ln((1−t)²/t²), lo, hi)`.
///
/// Squared as the original writes it, not `2·ln((1−t)/t)`: at `t = −0.0` (what
/// `discrete_steps` rounding gives for a `t` slightly below 0) the squares make the ratio
/// `+inf`, clamped to `hi`, where the halved form takes `ln(−inf)` = NaN; the squared form
/// also matches the original's discrete points to the last bit.
#[inline(always)]
pub fn rectified_flows<F: Real>(t: F, logsnr_range: [f64; 2]) -> F {
    let u = F::one() - t;
    let l = ((u * u) / (t * t)).ln();
    clamp(l, F::of(logsnr_range[0]), F::of(logsnr_range[1]))
}

/// EDMSample formula: `σ = (σmax^(1/p) + (1−t)(σmin^(1/p) − σmax^(1/p)))^p`, `λ = −2·ln σ`.
#[inline(always)]
pub fn edm_sample<F: Real>(t: F, sigma_range: [f64; 2], p: f64) -> F {
    let inv = 1.0 / p;
    let smin = F::of(sigma_range[0].powf(inv));
    let smax = F::of(sigma_range[1].powf(inv));
    let sigma = (smax + (F::one() - t) * (smin - smax)).powf(F::of(p));
    -F::of(2.0) * sigma.ln()
}

/// Linear formula: `λ = t·(lo−hi) + hi`.
#[inline(always)]
pub fn linear<F: Real>(t: F, logsnr_range: [f64; 2]) -> F {
    let (lo, hi) = (F::of(logsnr_range[0]), F::of(logsnr_range[1]));
    t * (lo - hi) + hi
}

/// A piecewise-linear variance table `v(t)`: `xs` increasing, `ys` the variances (ᾱ).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    xs: Vec<f64>,
    ys: Vec<f64>,
}

impl Table {
    /// A table from knots `xs` (strictly increasing, at least 2) and values `ys` (same length).
    ///
    /// Errors: [`GdfError::Invalid`] when the lengths differ, there are fewer than two knots,
    /// `xs` is not strictly increasing, or a value is not finite.
    pub fn new(xs: Vec<f64>, ys: Vec<f64>) -> Result<Self> {
        let bad = |m: String| Err(GdfError::Invalid { message: m });
        if xs.len() != ys.len() {
            return bad(format!(
                "piecewise table: xs has {} knots but ys has {}, expected equal lengths",
                xs.len(),
                ys.len()
            ));
        }
        if xs.len() < 2 {
            return bad(format!(
                "piecewise table: {} knots, expected at least 2",
                xs.len()
            ));
        }
        if xs.iter().chain(&ys).any(|v| !v.is_finite()) {
            return bad("piecewise table: all knots and values must be finite".into());
        }
        if xs.windows(2).any(|w| w[1] <= w[0]) {
            return bad("piecewise table: xs must be strictly increasing".into());
        }
        Ok(Self { xs, ys })
    }

    /// The Stable Diffusion table: `xs = linspace(0, 1, N+1)`,
    /// `ys = cumprod(1 − (√β0·(1−x) + √β1·x)²)`.
    pub fn stable_diffusion(linear_range: [f64; 2], total_steps: u64) -> Self {
        let xs = linspace(0.0, 1.0, total_steps as usize + 1);
        let (r0, r1) = (linear_range[0].sqrt(), linear_range[1].sqrt());
        let mut p = 1.0;
        let ys = xs
            .iter()
            .map(|&x| {
                let beta = (r0 * (1.0 - x) + r1 * x).powi(2);
                p *= 1.0 - beta;
                p
            })
            .collect();
        Self { xs, ys }
    }

    /// The knots.
    pub fn xs(&self) -> &[f64] {
        &self.xs
    }

    /// The values.
    pub fn ys(&self) -> &[f64] {
        &self.ys
    }

    /// `v(t)` by linear interpolation (extrapolating from the end segments).
    pub fn value<F: Real>(&self, t: F) -> F {
        let n = self.xs.len();
        // searchsorted_left(xs[..n-1], t) - 1, kept inside the segments.
        let k = self.xs[..n - 1].partition_point(|&x| F::of(x) < t);
        let i = k.saturating_sub(1).min(n - 2);
        let (x0, x1) = (F::of(self.xs[i]), F::of(self.xs[i + 1]));
        let (y0, y1) = (F::of(self.ys[i]), F::of(self.ys[i + 1]));
        y0 + (t - x0) * (y1 - y0) / (x1 - x0)
    }

    /// λ of a variance table at `t`: `ln(v/(1−v))` of the interpolated variance.
    pub fn logsnr<F: Real>(&self, t: F) -> F {
        logit(self.value(t))
    }

    /// The noise cond of a variance table: the `t` whose variance is `σ(λ)`.
    pub fn cond<F: Real>(&self, l: F) -> F {
        self.inverse(crate::float::sigmoid(l))
    }

    /// The inverse: `t` with `v(t) = v` for a decreasing table, by the original's segment
    /// rule (`idx = (n−2) − searchsorted_left(reverse(ys)[..n−2], v)`).
    pub fn inverse<F: Real>(&self, v: F) -> F {
        let n = self.ys.len();
        let k = if n > 2 {
            // reverse(ys)[..n-2] = ys[n-1], ys[n-2], …, ys[2], increasing for decreasing ys.
            let mut lo = 0usize;
            let mut hi = n - 2;
            while lo < hi {
                let mid = (lo + hi) / 2;
                if F::of(self.ys[n - 1 - mid]) < v {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        } else {
            0
        };
        let i = (n - 2) - k;
        let (x0, x1) = (F::of(self.xs[i]), F::of(self.xs[i + 1]));
        let (y0, y1) = (F::of(self.ys[i]), F::of(self.ys[i + 1]));
        x0 + (x1 - x0) * (v - y0) / (y1 - y0)
    }
}

/// The table of a [`StableDiffusion`] type, computed once per parameter set and cached.
pub(crate) fn sd_table(linear_range: [f64; 2], total_steps: u64) -> Arc<Table> {
    type Cache = Mutex<Vec<(([u64; 2], u64), Arc<Table>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = (
        [linear_range[0].to_bits(), linear_range[1].to_bits()],
        total_steps,
    );
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    let mut guard = match cache.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some((_, t)) = guard.iter().find(|(k, _)| *k == key) {
        return t.clone();
    }
    let t = Arc::new(Table::stable_diffusion(linear_range, total_steps));
    guard.push((key, t.clone()));
    t
}

// ---------------------------------------------------------------------------------------
// Zero-sized schedules.

zst!(
    /// The cosine schedule of improved DDPM (the original's `CosineSchedule`).
    ///
    /// `v = clamp(cos((s+t)/(1+s)·π/2), 0, 1)² / cos(s/(1+s)·π/2)²`, clamped into
    /// `clamp_range` (or rescaled into it with `norm_instead`), `λ = ln(v/(1−v))`.
    /// Training draws `t = clamp((1−U)+0.001, 0.001, 1)`.
    /// Defaults: `s = 0.008`, `clamp_range = [1e-4, 0.9999]`, `norm_instead = false`.
    Cosine<S: Const = Dec<P8, N3>, Lo: Const = Dec<P1, N4>, Hi: Const = Dec<P9999, N4>, Norm: Flag = False>
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
    /// `λ = −2·ln tan(t_min + t·(t_max−t_min))` with `t_min = atan(e^(−hi/2))`,
    /// `t_max = atan(e^(−lo/2))` (the original's `CosineSchedule2`).
    /// Default `logsnr_range = [−15, 15]`.
    Cosine2<Lo: Const = Dec<N15, Z0>, Hi: Const = Dec<P15, Z0>>
);

/// Declares a schedule over `logsnr_range` whose formula is `$f(t, [lo, hi])`.
macro_rules! range_schedule {
    ($ty:ident, $name:literal, $f:path) => {
        impl<Lo: Const, Hi: Const> LogSnrFn for $ty<Lo, Hi> {
            fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
                out.write_str(concat!($name, "("))?;
                write_range(out, "logsnr_range", [Lo::F64, Hi::F64])?;
                out.write_str(")")
            }
        }
        impl<Lo: Const, Hi: Const> Schedule for $ty<Lo, Hi> {
            fn name(&self) -> &'static str {
                $name
            }
            #[inline(always)]
            fn f<F: Real>(&self, t: F) -> F {
                $f(t, [Lo::F64, Hi::F64])
            }
        }
    };
}
range_schedule!(Cosine2, "Cosine2", cosine2);

zst!(
    /// `v = 1 − sqrt(t+s)`, clamped or rescaled as [`Cosine`], `λ = ln(v/(1−v))`
    /// (the original's `SqrtSchedule`). Defaults: `s = 1e-4`, `clamp_range = [1e-4, 0.9999]`,
    /// `norm_instead = false`.
    Sqrt<S: Const = Dec<P1, N4>, Lo: Const = Dec<P1, N4>, Hi: Const = Dec<P9999, N4>, Norm: Flag = False>
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

zst!(
    /// Rectified flows: `λ = clamp(ln((1−t)²/t²), lo, hi)` (the clamp is part of the formula,
    /// so t = 0 and t = 1 give `hi` and `lo`). Default `logsnr_range = [−15, 15]`.
    RectifiedFlows<Lo: Const = Dec<N15, Z0>, Hi: Const = Dec<P15, Z0>>
);
range_schedule!(RectifiedFlows, "RectifiedFlows", rectified_flows);

zst!(
    /// Linear in logSNR: `λ = t·(lo−hi) + hi`. Default `logsnr_range = [−10, 10]`.
    Linear<Lo: Const = Dec<N1, P1>, Hi: Const = Dec<P1, P1>>
);
range_schedule!(Linear, "Linear", linear);

zst!(
    /// The EDM (Karras et al.) sampling schedule:
    /// `σ = (σmax^(1/p) + (1−t)(σmin^(1/p) − σmax^(1/p)))^p`, `λ = −2·ln σ`; t = 1 ↔ σmax.
    /// Defaults: `sigma_range = [0.002, 80]`, `p = 7`.
    EdmSample<Min: Const = Dec<P2, N3>, Max: Const = Dec<P8, P1>, P: Const = Dec<P7, Z0>>
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
);

type N12 = typenum::N12;

/// The EDMTrain draw from a standard normal `n`.
#[inline(always)]
pub fn edm_train<F: Real>(n: F, mu: f64, std: f64) -> F {
    -F::of(2.0) * (n * F::of(std) - F::of(mu))
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

zst!(
    /// The Stable Diffusion (scaled-linear β) schedule: [`PiecewiseLinear`] over
    /// `xs = linspace(0,1,N+1)`, `ys = cumprod(1 − (√β0·(1−x) + √β1·x)²)`.
    /// Defaults: `linear_range = [0.00085, 0.012]`, `total_steps = 1000`. The table is
    /// computed once per parameter set and cached, so the type stays zero-sized.
    StableDiffusion<B0: Const = Dec<P85, typenum::N5>, B1: Const = Dec<P12, N3>, Steps: Count = U1000>
);

impl<B0: Const, B1: Const, N: Count> StableDiffusion<B0, B1, N> {
    /// The (cached) table.
    pub fn table(&self) -> Arc<Table> {
        sd_table([B0::F64, B1::F64], N::U64)
    }
}

pub(crate) fn write_sd(out: &mut dyn fmt::Write, range: [f64; 2], steps: u64) -> fmt::Result {
    out.write_str("StableDiffusion(")?;
    write_range(out, "linear_range", range)?;
    write!(out, ", total_steps = {steps})")
}

impl<B0: Const, B1: Const, N: Count> LogSnrFn for StableDiffusion<B0, B1, N> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write_sd(out, [B0::F64, B1::F64], N::U64)
    }
}

impl<B0: Const, B1: Const, N: Count> Schedule for StableDiffusion<B0, B1, N> {
    fn name(&self) -> &'static str {
        "StableDiffusion"
    }
    fn f<F: Real>(&self, t: F) -> F {
        self.table().logsnr(t)
    }
}

// ---------------------------------------------------------------------------------------
// Schedules with state.

/// A piecewise-linear variance table: `v` interpolated over `(xs, ys)`, `λ = ln(v/(1−v))`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PiecewiseLinear {
    table: Table,
}

impl PiecewiseLinear {
    /// A schedule over knots `xs` and variances `ys` (see [`Table::new`] for the errors).
    pub fn new(xs: Vec<f64>, ys: Vec<f64>) -> Result<Self> {
        Ok(Self {
            table: Table::new(xs, ys)?,
        })
    }
    /// A schedule over an existing table.
    pub fn from_table(table: Table) -> Self {
        Self { table }
    }
    /// The table.
    pub fn table(&self) -> &Table {
        &self.table
    }
}

impl LogSnrFn for PiecewiseLinear {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(
            out,
            "PiecewiseLinear(xs = {:?}, ys = {:?})",
            self.table.xs, self.table.ys
        )
    }
}

impl Schedule for PiecewiseLinear {
    fn name(&self) -> &'static str {
        "PiecewiseLinear"
    }
    fn f<F: Real>(&self, t: F) -> F {
        self.table.logsnr(t)
    }
}

/// The saved state of an [`AdaptiveTrain`] schedule (serde), for checkpoint and resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveTrainState {
    /// One weight per bucket (start at 1).
    pub bucket_probs: Vec<f64>,
}

/// Shared bucket update: `p[i] ← β·p[i] + (1−β)·loss` with every right-hand side read from
/// the old values, then written in order (duplicate indices: last write wins, as torch).
pub(crate) fn update_buckets(
    values: &mut [f64],
    index: impl Fn(f64) -> usize,
    logsnr: &[f64],
    loss: &[f64],
    beta: f64,
) -> Result<()> {
    check_len("loss", logsnr.len(), loss.len())?;
    if !(0.0..=1.0).contains(&beta) {
        return Err(GdfError::OutOfRange {
            what: "beta",
            value: beta,
            expected: "a number in [0, 1]",
        });
    }
    check_finite("logSNR", logsnr)?;
    check_finite("loss", loss)?;
    let new: Vec<(usize, f64)> = logsnr
        .iter()
        .zip(loss)
        .map(|(&l, &x)| {
            let i = index(l);
            (i, values[i] * beta + x * (1.0 - beta))
        })
        .collect();
    for (i, v) in new {
        values[i] = v;
    }
    Ok(())
}

/// Learns where the loss is high and draws λ there more often (the original's
/// `AdaptiveTrainSchedule`). Training only.
///
/// Buckets split `logsnr_range` evenly; a bucket is drawn with probability `∝ p + min_probs`
/// and λ is uniform inside it. [`AdaptiveTrain::update`] moves the drawn buckets' weights
/// towards the observed losses. The weights are the state: save them with
/// [`AdaptiveTrain::state`] and restore them with [`AdaptiveTrain::restore`].
#[derive(Clone, Debug, PartialEq)]
pub struct AdaptiveTrain<
    Lo: Const = Dec<N1, P1>,
    Hi: Const = Dec<P1, P1>,
    B: Count = U100,
    Min: Const = crate::konst::Zero,
> {
    state: AdaptiveTrainState,
    _p: PhantomData<(Lo, Hi, B, Min)>,
}

impl<Lo: Const, Hi: Const, B: Count, Min: Const> Default for AdaptiveTrain<Lo, Hi, B, Min> {
    fn default() -> Self {
        Self {
            state: AdaptiveTrainState {
                bucket_probs: vec![1.0; B::U64 as usize],
            },
            _p: PhantomData,
        }
    }
}

impl<Lo: Const, Hi: Const, B: Count, Min: Const> AdaptiveTrain<Lo, Hi, B, Min> {
    /// A fresh schedule (every bucket weight 1).
    pub fn new() -> Self {
        Self::default()
    }
    fn core(&self) -> AdaptiveTrainCore<'_> {
        AdaptiveTrainCore {
            range: [Lo::F64, Hi::F64],
            min_probs: Min::F64,
            probs: &self.state.bucket_probs,
        }
    }
    /// Bucket `[lo, hi)` ranges.
    pub fn bucket_ranges(&self) -> Vec<[f64; 2]> {
        self.core().ranges()
    }
    /// The bucket weights.
    pub fn bucket_probs(&self) -> &[f64] {
        &self.state.bucket_probs
    }
    /// `(p + min_probs) / Σ(p + min_probs)`.
    pub fn norm_probs(&self) -> Vec<f64> {
        self.core().norm_probs()
    }
    /// `p[i] ← β·p[i] + (1−β)·loss` for the bucket `i` of each λ (λ outside the range updates
    /// bucket 0, as the original).
    ///
    /// Errors: lengths differ, β outside `[0, 1]`, non-finite λ or loss.
    pub fn update(&mut self, logsnr: &[f64], loss: &[f64], beta: f64) -> Result<()> {
        let range = [Lo::F64, Hi::F64];
        let n = self.state.bucket_probs.len();
        update_buckets(
            &mut self.state.bucket_probs,
            |l| train_bucket(range, n, l),
            logsnr,
            loss,
            beta,
        )
    }
    /// The state to save.
    pub fn state(&self) -> &AdaptiveTrainState {
        &self.state
    }
    /// Restores saved state. Errors when the bucket count differs from this type's.
    pub fn restore(&mut self, state: AdaptiveTrainState) -> Result<()> {
        check_len("bucket_probs", B::U64 as usize, state.bucket_probs.len())?;
        check_finite("bucket_probs", &state.bucket_probs)?;
        self.state = state;
        Ok(())
    }
}

/// The bucket of λ for AdaptiveTrain: first `i` with `edge_i ≤ λ < edge_{i+1}`, else 0.
pub(crate) fn train_bucket(range: [f64; 2], buckets: usize, l: f64) -> usize {
    let edge = |i| linspace_at(range[0], range[1], buckets + 1, i);
    (0..buckets)
        .find(|&i| edge(i) <= l && l < edge(i + 1))
        .unwrap_or(0)
}

pub(crate) struct AdaptiveTrainCore<'a> {
    pub range: [f64; 2],
    pub min_probs: f64,
    pub probs: &'a [f64],
}

impl AdaptiveTrainCore<'_> {
    pub fn ranges(&self) -> Vec<[f64; 2]> {
        let e = linspace(self.range[0], self.range[1], self.probs.len() + 1);
        e.windows(2).map(|w| [w[0], w[1]]).collect()
    }
    pub fn norm_probs(&self) -> Vec<f64> {
        let total: f64 = self.probs.iter().map(|p| p + self.min_probs).sum();
        self.probs
            .iter()
            .map(|p| (p + self.min_probs) / total)
            .collect()
    }
    /// A bucket with probability `norm_probs`, then λ uniform inside it (no allocation:
    /// this runs once per drawn sample).
    pub fn draw(&self, rng: &mut dyn RngCore) -> f64 {
        let n = self.probs.len();
        let total: f64 = self.probs.iter().map(|p| p + self.min_probs).sum();
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let mut pick = n - 1;
        for (i, p) in self.probs.iter().enumerate() {
            acc += (p + self.min_probs) / total;
            if u < acc {
                pick = i;
                break;
            }
        }
        let edge = |i| linspace_at(self.range[0], self.range[1], n + 1, i);
        let (lo, hi) = (edge(pick), edge(pick + 1));
        let v: f64 = rng.random();
        lo + v * (hi - lo)
    }
}

pub(crate) fn write_adaptive_train(
    out: &mut dyn fmt::Write,
    range: [f64; 2],
    buckets: usize,
    min_probs: f64,
) -> fmt::Result {
    out.write_str("AdaptiveTrain(")?;
    write_range(out, "logsnr_range", range)?;
    write!(
        out,
        ", buckets = {buckets}, min_probs = {})",
        lit(min_probs)
    )
}

impl<Lo: Const, Hi: Const, B: Count, Min: Const> LogSnrFn for AdaptiveTrain<Lo, Hi, B, Min> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write_adaptive_train(out, [Lo::F64, Hi::F64], B::U64 as usize, Min::F64)
    }
}

impl<Lo: Const, Hi: Const, B: Count, Min: Const> Schedule for AdaptiveTrain<Lo, Hi, B, Min> {
    fn name(&self) -> &'static str {
        "AdaptiveTrain"
    }
    fn accepts_t(&self) -> bool {
        false
    }
    fn f<F: Real>(&self, _t: F) -> F {
        F::nan()
    }
    fn draw_raw<F: Real>(&self, rng: &mut dyn RngCore) -> F {
        F::of(self.core().draw(rng))
    }
}

// ---------------------------------------------------------------------------------------
// Combinators.

/// Interpolates two schedules: `t ← clamp(t, 1e-7, 1−1e-7)`,
/// `λ = s1(t, shift = K1)·t + s2(t, shift = K2)·(1−t)`; each inner schedule applies its own
/// wrapper and limits. The original's `InterpolatedSchedule` (default shifts `[1, 1]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Interpolated<S1, S2, K1: Const = One, K2: Const = One> {
    /// The schedule weighted by `t` (dominant near t = 1).
    pub s1: S1,
    /// The schedule weighted by `1 − t` (dominant near t = 0).
    pub s2: S2,
    _k: PhantomData<(K1, K2)>,
}

impl<S1: Schedule, S2: Schedule, K1: Const, K2: Const> Interpolated<S1, S2, K1, K2> {
    /// Interpolates `s1` and `s2`.
    pub fn new(s1: S1, s2: S2) -> Self {
        Self {
            s1,
            s2,
            _k: PhantomData,
        }
    }
}

/// The Interpolated formula over two already-wrapped inner evaluations.
#[inline(always)]
pub fn interpolate<F: Real>(t: F, s1: impl Fn(F) -> F, s2: impl Fn(F) -> F) -> F {
    let t = clamp(t, F::of(1e-7), F::of(1.0 - 1e-7));
    s1(t) * t + s2(t) * (F::one() - t)
}

pub(crate) fn write_interpolated(
    out: &mut dyn fmt::Write,
    s1: &dyn Fn(&mut dyn fmt::Write) -> fmt::Result,
    s2: &dyn Fn(&mut dyn fmt::Write) -> fmt::Result,
    shifts: [f64; 2],
) -> fmt::Result {
    out.write_str("Interpolated(")?;
    s1(out)?;
    out.write_str(", ")?;
    s2(out)?;
    out.write_str(", ")?;
    write_range(out, "shifts", shifts)?;
    out.write_str(")")
}

impl<S1: Schedule, S2: Schedule, K1: Const, K2: Const> LogSnrFn for Interpolated<S1, S2, K1, K2> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write_interpolated(
            out,
            &|o| self.s1.write_decl(o),
            &|o| self.s2.write_decl(o),
            [K1::F64, K2::F64],
        )
    }
}

impl<S1: Schedule, S2: Schedule, K1: Const, K2: Const> Schedule for Interpolated<S1, S2, K1, K2> {
    fn name(&self) -> &'static str {
        "Interpolated"
    }
    fn accepts_t(&self) -> bool {
        self.s1.accepts_t() && self.s2.accepts_t()
    }
    fn f<F: Real>(&self, t: F) -> F {
        let (l1, l2) = (self.s1.limits(), self.s2.limits());
        interpolate(
            t,
            |t| self.s1.eval(t, F::of(K1::F64), l1),
            |t| self.s2.eval(t, F::of(K2::F64), l2),
        )
    }
}

/// A schedule with its own shift `K` (the original's `shift=` constructor argument):
/// `λ ← λ − 2·ln(K·shift_at_call)`. Its limits include `K`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Shifted<S, K: Const> {
    /// The shifted schedule.
    pub inner: S,
    _k: PhantomData<K>,
}

/// A schedule whose `t` is snapped to `D` evenly spaced steps (`discrete_steps = D`,
/// round half to even).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DiscreteSteps<S, D: Count> {
    /// The discretised schedule.
    pub inner: S,
    _d: PhantomData<D>,
}

/// A schedule without limits (`force_limits = false`): shifted results are not clamped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NoLimits<S> {
    /// The unclamped schedule.
    pub inner: S,
}

impl<S: Schedule, K: Const> Shifted<S, K> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            _k: PhantomData,
        }
    }
}
impl<S: Schedule, D: Count> DiscreteSteps<S, D> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            _d: PhantomData,
        }
    }
}
impl<S: Schedule> NoLimits<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

/// Writes `inner`'s declaration with `extra` appended inside its parentheses.
pub(crate) fn write_with(
    out: &mut dyn fmt::Write,
    inner: &dyn Fn(&mut dyn fmt::Write) -> fmt::Result,
    extra: &str,
) -> fmt::Result {
    let mut s = String::new();
    inner(&mut s)?;
    match s.strip_suffix(')') {
        Some(head) if head.ends_with('(') => write!(out, "{head}{extra})"),
        Some(head) => write!(out, "{head}, {extra})"),
        None => write!(out, "{s}({extra})"),
    }
}

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

impl<S: Schedule, K: Const> LogSnrFn for Shifted<S, K> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write_with(
            out,
            &|o| self.inner.write_decl(o),
            &format!("shift = {}", lit(K::F64)),
        )
    }
}
impl<S: Schedule, K: Const> Schedule for Shifted<S, K> {
    delegate_schedule!();
    fn own_shift(&self) -> f64 {
        self.inner.own_shift() * K::F64
    }
    fn discrete_steps(&self) -> Option<u64> {
        self.inner.discrete_steps()
    }
    fn force_limits(&self) -> bool {
        self.inner.force_limits()
    }
}

impl<S: Schedule, D: Count> LogSnrFn for DiscreteSteps<S, D> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write_with(
            out,
            &|o| self.inner.write_decl(o),
            &format!("discrete_steps = {}", D::U64),
        )
    }
}
impl<S: Schedule, D: Count> Schedule for DiscreteSteps<S, D> {
    delegate_schedule!();
    fn own_shift(&self) -> f64 {
        self.inner.own_shift()
    }
    fn discrete_steps(&self) -> Option<u64> {
        Some(D::U64)
    }
    fn force_limits(&self) -> bool {
        self.inner.force_limits()
    }
}

impl<S: Schedule> LogSnrFn for NoLimits<S> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write_with(out, &|o| self.inner.write_decl(o), "force_limits = false")
    }
}
impl<S: Schedule> Schedule for NoLimits<S> {
    delegate_schedule!();
    fn own_shift(&self) -> f64 {
        self.inner.own_shift()
    }
    fn discrete_steps(&self) -> Option<u64> {
        self.inner.discrete_steps()
    }
    fn force_limits(&self) -> bool {
        false
    }
}

/// Draws Cosine's training `t` (exposed for runtime-configured schedules).
pub(crate) fn draw_cosine_t(rng: &mut dyn RngCore) -> f64 {
    cosine_draw_t(rng)
}
