//! Runtime-configured components: the same formulas with parameters held in values.
//!
//! The zero-sized types of the role modules are what a framework is normally built from;
//! these enums serve the cases where the parameters are only known at run time (a config
//! file, a sweep, the golden test data). Each implements the same role trait and computes
//! with the same formula functions, so `DynSchedule::cosine(..)` and `Cosine<…>` with the
//! same constants give bit-identical results.
//!
//! A whole framework, [`DynGdf`], and each component parse from the text `gdf!` accepts and
//! `Display` prints (`FromStr`), checked with the macro's validation and messages (one
//! catalog, `gdf-catalog`, serves both); serde (de)serialises them as that text, so a
//! TOML/JSON config holds a framework as one string. See [`DynGdf`] for the grammar.
//!
//! ```
//! use gdf::prelude::*;
//! use gdf::dynamic::DynSchedule;
//! use gdf::schedule::{Cosine, VarParams};
//! let d = DynSchedule::cosine(VarParams { s: 0.008, clamp_range: [1e-4, 0.9999], norm_instead: false });
//! let (x, y): (f64, f64) = (d.logsnr(0.3, 1.0)?, <Cosine>::new().logsnr(0.3, 1.0)?);
//! assert_eq!(x, y);
//! # Ok::<(), gdf::GdfError>(())
//! ```

use core::fmt;

use rand::RngCore;
use rand_distr::{Distribution, StandardNormal};

use crate::component::LogSnrFn;
use crate::error::{GdfError, Result};
use crate::float::Real;
use crate::konst::lit;
use crate::loss_weight::{self as lw, adaptive_bucket, adaptive_weight, AdaptiveState, LossWeight};
use crate::noise_cond::{self as nc, NoiseCond};
use crate::sampler::{ddim_coefficients, Sampler};
use crate::scaler::{Lerp, Scaler, Stretched, Vp};
use crate::schedule::{
    self as sc, draw_cosine_t, train_bucket, update_buckets, AdaptiveTrainCore, AdaptiveTrainState,
    Schedule, Table, VarParams,
};
use crate::target::{self as tg, Target};

mod check;
mod parse;
mod recipes;
pub use parse::{DynGdf, ParseError, ParseIssue};
pub use recipes::{DynDensity, DynWeighting};

/// The formula of a [`DynSchedule`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ScheduleKind {
    /// [`sc::Cosine`].
    Cosine(VarParams),
    /// [`sc::Cosine2`] over `logsnr_range`.
    Cosine2([f64; 2]),
    /// [`sc::Sqrt`].
    Sqrt(VarParams),
    /// [`sc::RectifiedFlows`] over `logsnr_range`.
    RectifiedFlows([f64; 2]),
    /// [`sc::EdmSample`].
    EdmSample {
        /// `[σmin, σmax]`.
        sigma_range: [f64; 2],
        /// The exponent ρ.
        p: f64,
    },
    /// [`sc::EdmTrain`] (training only).
    EdmTrain {
        /// Mean of `−ln σ` (see the sign note on [`sc::EdmTrain`]).
        mu: f64,
        /// Standard deviation of `ln σ`.
        std: f64,
    },
    /// [`sc::Linear`] over `logsnr_range`.
    Linear([f64; 2]),
    /// [`sc::PiecewiseLinear`].
    PiecewiseLinear(Table),
    /// [`sc::StableDiffusion`] with its parameters and table.
    StableDiffusion {
        /// `[β0, β1]`.
        linear_range: [f64; 2],
        /// `N`.
        total_steps: u64,
        /// The computed table.
        table: Table,
    },
    /// [`sc::AdaptiveTrain`] (training only) with its state.
    AdaptiveTrain {
        /// `[lo, hi]`.
        logsnr_range: [f64; 2],
        /// Added to every bucket's weight.
        min_probs: f64,
        /// The bucket weights.
        state: AdaptiveTrainState,
    },
    /// [`sc::Interpolated`].
    Interpolated(Box<DynSchedule>, Box<DynSchedule>, [f64; 2]),
    /// A training density of [`crate::density`] (logit-normal, mode sampling, EDM's
    /// log-normal, cosmap, uniform discrete timesteps).
    Density(DynDensity),
}

/// A schedule configured at run time: a formula plus the shared wrapper's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct DynSchedule {
    /// The formula.
    pub kind: ScheduleKind,
    /// The schedule's own shift (1 = none).
    pub shift: f64,
    /// `discrete_steps`, if any.
    pub discrete_steps: Option<u64>,
    /// `force_limits` (default true).
    pub force_limits: bool,
}

impl DynSchedule {
    /// A schedule with the default wrapper (no shift, no discrete steps, limits on).
    pub fn new(kind: ScheduleKind) -> Self {
        Self {
            kind,
            shift: 1.0,
            discrete_steps: None,
            force_limits: true,
        }
    }
    /// The Cosine schedule.
    pub fn cosine(p: VarParams) -> Self {
        Self::new(ScheduleKind::Cosine(p))
    }
    /// The StableDiffusion schedule (computes its table).
    ///
    /// Errors as [`Table::stable_diffusion`]: a `linear_range` end outside `(0, 1)`, a
    /// `total_steps` outside `1..=`[`MAX_STEPS`](crate::grid::MAX_STEPS).
    pub fn stable_diffusion(linear_range: [f64; 2], total_steps: u64) -> Result<Self> {
        Ok(Self::new(ScheduleKind::StableDiffusion {
            linear_range,
            total_steps,
            table: Table::stable_diffusion(linear_range, total_steps)?,
        }))
    }
    /// An AdaptiveTrain schedule with fresh state.
    ///
    /// Errors ([`OutOfRange`](crate::GdfError::OutOfRange)): `buckets` outside
    /// `1..=`[`MAX_STEPS`](crate::grid::MAX_STEPS), a `logsnr_range` that is not finite and
    /// increasing, a `min_probs` that is not a finite number ≥ 0.
    ///
    /// ```
    /// use gdf::dynamic::DynSchedule;
    /// assert!(DynSchedule::adaptive_train([-10.0, 10.0], 100, 0.0).is_ok());
    /// let e = DynSchedule::adaptive_train([-10.0, 10.0], 0, 0.0).unwrap_err();
    /// assert!(e.to_string().contains("buckets"));
    /// ```
    pub fn adaptive_train(
        logsnr_range: [f64; 2],
        buckets: usize,
        min_probs: f64,
    ) -> crate::Result<Self> {
        check_buckets(logsnr_range, buckets)?;
        crate::solver::check_nonneg("min_probs", min_probs)?;
        Ok(Self::new(ScheduleKind::AdaptiveTrain {
            logsnr_range,
            min_probs,
            state: AdaptiveTrainState {
                bucket_probs: vec![1.0; buckets],
            },
        }))
    }
    fn adaptive(&self) -> Option<AdaptiveTrainCore<'_>> {
        match &self.kind {
            ScheduleKind::AdaptiveTrain {
                logsnr_range,
                min_probs,
                state,
            } => Some(AdaptiveTrainCore {
                range: *logsnr_range,
                min_probs: *min_probs,
                probs: &state.bucket_probs,
            }),
            _ => None,
        }
    }
    /// AdaptiveTrain: the bucket `[lo, hi)` ranges (`None` for other schedules).
    pub fn bucket_ranges(&self) -> Option<Vec<[f64; 2]>> {
        self.adaptive().map(|c| c.ranges())
    }
    /// AdaptiveTrain: the normalised draw probabilities (`None` for other schedules).
    pub fn norm_probs(&self) -> Option<Vec<f64>> {
        self.adaptive().map(|c| c.norm_probs())
    }
    /// AdaptiveTrain: the bucket weights (`None` for other schedules).
    pub fn bucket_probs(&self) -> Option<&[f64]> {
        match &self.kind {
            ScheduleKind::AdaptiveTrain { state, .. } => Some(&state.bucket_probs),
            _ => None,
        }
    }
    /// AdaptiveTrain: `p_i ← β·p_i + (1−β)·loss` (see [`sc::AdaptiveTrain::update`]).
    ///
    /// Errors as there, plus [`GdfError::Invalid`] for other schedules.
    pub fn update(&mut self, logsnr: &[f64], loss: &[f64], beta: f64) -> Result<()> {
        match &mut self.kind {
            ScheduleKind::AdaptiveTrain {
                logsnr_range,
                min_probs,
                state,
            } => {
                let (range, n) = (*logsnr_range, state.bucket_probs.len());
                sc::update_train_buckets(
                    &mut state.bucket_probs,
                    *min_probs,
                    |l| train_bucket(range, n, l),
                    logsnr,
                    loss,
                    beta,
                )
            }
            _ => Err(GdfError::Invalid {
                message: format!(
                    "update needs an AdaptiveTrain schedule, got {}",
                    self.decl()
                ),
            }),
        }
    }
}

impl LogSnrFn for DynSchedule {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let mut extra = Vec::new();
        if self.shift != 1.0 {
            extra.push(format!("shift = {}", lit(self.shift)));
        }
        if let Some(d) = self.discrete_steps {
            extra.push(format!("discrete_steps = {d}"));
        }
        if !self.force_limits {
            extra.push("force_limits = false".to_string());
        }
        let range = |name: &str, r: [f64; 2]| {
            format!("{name}(logsnr_range = [{}, {}])", lit(r[0]), lit(r[1]))
        };
        let mut head = String::new();
        match &self.kind {
            ScheduleKind::Cosine(p) => write_var(&mut head, "Cosine", p)?,
            ScheduleKind::Sqrt(p) => write_var(&mut head, "Sqrt", p)?,
            ScheduleKind::Cosine2(r) => head = range("Cosine2", *r),
            ScheduleKind::RectifiedFlows(r) => head = range("RectifiedFlows", *r),
            ScheduleKind::Linear(r) => head = range("Linear", *r),
            ScheduleKind::EdmSample { sigma_range: r, p } => {
                head = format!(
                    "EdmSample(sigma_range = [{}, {}], p = {})",
                    lit(r[0]),
                    lit(r[1]),
                    lit(*p)
                )
            }
            ScheduleKind::EdmTrain { mu, std } => {
                head = format!("EdmTrain(mu = {}, std = {})", lit(*mu), lit(*std))
            }
            ScheduleKind::PiecewiseLinear(t) => {
                sc::PiecewiseLinear::from_table(t.clone()).write_decl(&mut head)?
            }
            ScheduleKind::StableDiffusion {
                linear_range,
                total_steps,
                ..
            } => sc::write_sd(&mut head, *linear_range, *total_steps)?,
            ScheduleKind::AdaptiveTrain {
                logsnr_range,
                min_probs,
                state,
            } => sc::write_adaptive_train(
                &mut head,
                *logsnr_range,
                state.bucket_probs.len(),
                *min_probs,
            )?,
            ScheduleKind::Interpolated(a, b, k) => {
                sc::write_interpolated(&mut head, &|o| a.write_decl(o), &|o| b.write_decl(o), *k)?
            }
            ScheduleKind::Density(d) => d.write_decl(&mut head)?,
        }
        if extra.is_empty() {
            out.write_str(&head)
        } else {
            sc::write_with(out, &|o| o.write_str(&head), &extra.join(", "))
        }
    }
}

fn write_var(out: &mut dyn fmt::Write, name: &str, p: &VarParams) -> fmt::Result {
    write!(
        out,
        "{name}(s = {}, clamp_range = [{}, {}], norm_instead = {})",
        lit(p.s),
        lit(p.clamp_range[0]),
        lit(p.clamp_range[1]),
        p.norm_instead
    )
}

impl Schedule for DynSchedule {
    fn check(&self) -> Result<()> {
        self.check_params()
    }
    fn name(&self) -> &'static str {
        match &self.kind {
            ScheduleKind::Cosine(_) => "Cosine",
            ScheduleKind::Cosine2(_) => "Cosine2",
            ScheduleKind::Sqrt(_) => "Sqrt",
            ScheduleKind::RectifiedFlows(_) => "RectifiedFlows",
            ScheduleKind::EdmSample { .. } => "EdmSample",
            ScheduleKind::EdmTrain { .. } => "EdmTrain",
            ScheduleKind::Linear(_) => "Linear",
            ScheduleKind::PiecewiseLinear(_) => "PiecewiseLinear",
            ScheduleKind::StableDiffusion { .. } => "StableDiffusion",
            ScheduleKind::AdaptiveTrain { .. } => "AdaptiveTrain",
            ScheduleKind::Interpolated(..) => "Interpolated",
            ScheduleKind::Density(d) => d.name(),
        }
    }
    fn accepts_t(&self) -> bool {
        match &self.kind {
            ScheduleKind::EdmTrain { .. } | ScheduleKind::AdaptiveTrain { .. } => false,
            ScheduleKind::Density(d) => d.accepts_t(),
            ScheduleKind::Interpolated(a, b, _) => a.accepts_t() && b.accepts_t(),
            _ => true,
        }
    }
    fn f<F: Real>(&self, t: F) -> F {
        match &self.kind {
            ScheduleKind::Cosine(p) => p.cosine(t),
            ScheduleKind::Sqrt(p) => p.sqrt(t),
            ScheduleKind::Cosine2(r) => sc::cosine2(t, *r),
            ScheduleKind::RectifiedFlows(r) => sc::rectified_flows(t, *r),
            ScheduleKind::Linear(r) => sc::linear(t, *r),
            ScheduleKind::EdmSample { sigma_range, p } => sc::edm_sample(t, *sigma_range, *p),
            ScheduleKind::PiecewiseLinear(table) | ScheduleKind::StableDiffusion { table, .. } => {
                table.logsnr(t)
            }
            ScheduleKind::Interpolated(a, b, k) => {
                let (la, lb) = (a.limits(), b.limits());
                sc::interpolate(
                    t,
                    |t| a.eval(t, F::of(k[0]), la),
                    |t| b.eval(t, F::of(k[1]), lb),
                )
            }
            ScheduleKind::EdmTrain { .. } | ScheduleKind::AdaptiveTrain { .. } => F::nan(),
            ScheduleKind::Density(d) => d.f(t),
        }
    }
    fn own_shift(&self) -> f64 {
        self.shift
    }
    fn discrete_steps(&self) -> Option<u64> {
        self.discrete_steps
    }
    fn force_limits(&self) -> bool {
        self.force_limits
    }
    fn draw_t(&self, rng: &mut dyn RngCore) -> f64 {
        match &self.kind {
            ScheduleKind::Cosine(_) => draw_cosine_t(rng),
            ScheduleKind::Density(d) => d.draw_t(rng),
            _ => 1.0 - rand::Rng::random::<f64>(rng),
        }
    }
    fn draw_raw<F: Real>(&self, rng: &mut dyn RngCore) -> F {
        match &self.kind {
            ScheduleKind::EdmTrain { mu, std } => {
                let n: f64 = StandardNormal.sample(rng);
                sc::edm_train(F::of(n), *mu, *std)
            }
            ScheduleKind::AdaptiveTrain { .. } => match self.adaptive() {
                Some(core) => F::of(core.draw(rng)),
                None => F::nan(),
            },
            ScheduleKind::Density(d) => d.draw_raw(rng),
            _ => self.f(F::of(self.draw_t(rng))),
        }
    }
}

/// An input scaler chosen at run time.
#[derive(Clone, Debug, PartialEq)]
pub enum DynScaler {
    /// [`Vp`].
    Vp,
    /// [`Lerp`].
    Lerp,
    /// A stretched scaler (see [`Stretched`]).
    Stretched(Box<Stretched<DynScaler>>),
}

impl DynScaler {
    /// Stretches this scaler to the ends of `schedule` (see [`Stretched::setup`]); calling it
    /// again on the result measures through the first stretch and replaces it
    /// ([`Stretched::restretch`]), as the original.
    pub fn stretched<S: Schedule>(
        self,
        schedule: &S,
        stretch_max: bool,
        stretch_min: bool,
        shift: f64,
    ) -> Result<Self> {
        let s = crate::scaler::Stretch::stretch(self, schedule, stretch_max, stretch_min, shift)?;
        Ok(DynScaler::Stretched(Box::new(s)))
    }
    /// `[min_a, max_a, min_b, max_b]` of the outermost stretch, if any.
    pub fn stretched_limits(&self) -> Option<[f64; 4]> {
        match self {
            DynScaler::Stretched(s) => Some(s.limits),
            _ => None,
        }
    }
}

impl crate::scaler::Stretch for DynScaler {
    type Base = DynScaler;
    fn stretch<S: Schedule>(
        self,
        schedule: &S,
        stretch_max: bool,
        stretch_min: bool,
        shift: f64,
    ) -> Result<Stretched<DynScaler>> {
        match self {
            DynScaler::Stretched(s) => s.restretch(schedule, stretch_max, stretch_min, shift),
            other => Stretched::setup(other, schedule, stretch_max, stretch_min, shift),
        }
    }
}

impl LogSnrFn for DynScaler {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            DynScaler::Vp => Vp.write_decl(out),
            DynScaler::Lerp => Lerp.write_decl(out),
            DynScaler::Stretched(s) => s.write_decl(out),
        }
    }
}

impl Scaler for DynScaler {
    #[inline(always)]
    fn ab<F: Real>(&self, l: F) -> (F, F) {
        match self {
            DynScaler::Vp => Vp.ab(l),
            DynScaler::Lerp => Lerp.ab(l),
            DynScaler::Stretched(s) => s.ab(l),
        }
    }
}

/// A target chosen at run time.
///
/// `Eq` and `Hash` compare `Consistency`'s `sigma_min` by its bits (the parser and the
/// loaders only build finite, non-negative values).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DynTarget {
    /// [`tg::Epsilon`].
    Epsilon,
    /// [`tg::X0`].
    X0,
    /// [`tg::V`].
    V,
    /// [`tg::RectifiedFlows`].
    RectifiedFlows,
    /// [`tg::NegV`].
    NegV,
    /// [`tg::NegRectifiedFlows`].
    NegRectifiedFlows,
    /// [`tg::Consistency`] with `sigma_min` (σ_min/σ_d, the boundary in the frame's units).
    Consistency(f64),
}

impl Eq for DynTarget {}

impl core::hash::Hash for DynTarget {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        core::mem::discriminant(self).hash(state);
        if let DynTarget::Consistency(e) = self {
            // +0 and −0 are equal under `==`, so they must hash alike.
            (e + 0.0).to_bits().hash(state);
        }
    }
}

macro_rules! dispatch_target {
    ($self:expr, $t:ident => $e:expr) => {
        match $self {
            DynTarget::Epsilon => {
                let $t = tg::Epsilon;
                $e
            }
            DynTarget::X0 => {
                let $t = tg::X0;
                $e
            }
            DynTarget::V => {
                let $t = tg::V;
                $e
            }
            DynTarget::RectifiedFlows => {
                let $t = tg::RectifiedFlows;
                $e
            }
            DynTarget::NegV => {
                let $t = tg::NegV;
                $e
            }
            DynTarget::NegRectifiedFlows => {
                let $t = tg::NegRectifiedFlows;
                $e
            }
            DynTarget::Consistency(e) => {
                let $t = tg::ConsistencyAt(*e);
                $e
            }
        }
    };
}

impl LogSnrFn for DynTarget {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        dispatch_target!(self, t => t.write_decl(out))
    }
}

impl Target for DynTarget {
    #[inline(always)]
    fn target<F: Real>(&self, x0: F, eps: F, a: F, b: F) -> F {
        dispatch_target!(self, t => t.target(x0, eps, a, b))
    }
    #[inline(always)]
    fn x0<F: Real>(&self, x: F, p: F, a: F, b: F) -> F {
        dispatch_target!(self, t => t.x0(x, p, a, b))
    }
    #[inline(always)]
    fn eps<F: Real>(&self, x: F, p: F, a: F, b: F) -> F {
        dispatch_target!(self, t => t.eps(x, p, a, b))
    }
    fn is_epsilon(&self) -> bool {
        matches!(self, DynTarget::Epsilon)
    }
    fn check(&self) -> Result<()> {
        match *self {
            DynTarget::Consistency(e) if !crate::konst::need::nonneg(e) => {
                Err(GdfError::OutOfRange {
                    what: "sigma_min",
                    value: e,
                    expected: "a finite number ≥ 0 (Consistency's boundary σ_min/σ_d)",
                })
            }
            _ => Ok(()),
        }
    }
}

/// The formula of a [`DynNoiseCond`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CondKind {
    /// [`nc::CosineT`] with offset `s` (always clamped to `[0, 1]`).
    CosineT(f64),
    /// [`nc::Edm`].
    Edm,
    /// [`nc::Sigmoid`].
    Sigmoid,
    /// [`nc::LogSnr`].
    LogSnr,
    /// [`nc::EdmSigma`] with `sigma_data`.
    EdmSigma(f64),
    /// [`nc::RectifiedFlows`].
    RectifiedFlows,
    /// [`nc::FlowSigma`] with `scale`.
    FlowSigma(f64),
    /// [`nc::LogSigma`] with `scale`.
    LogSigma(f64),
    /// [`nc::FlowAlpha`] with `scale`.
    FlowAlpha(f64),
    /// [`nc::PiecewiseLinear`].
    PiecewiseLinear(Table),
    /// [`nc::TableTimestep`].
    TableTimestep(nc::TableTimestep),
    /// [`nc::StableDiffusion`] with its parameters and table.
    StableDiffusion {
        /// `[β0, β1]`.
        linear_range: [f64; 2],
        /// `N`.
        total_steps: u64,
        /// The computed table.
        table: Table,
    },
    /// [`nc::Discrete`].
    Discrete {
        /// The continuous noise cond.
        inner: Box<DynNoiseCond>,
        /// Number of steps.
        steps: u64,
        /// `[lo, hi]` mapped to `[0, steps]`.
        continuous_range: [f64; 2],
    },
}

/// A noise cond configured at run time: a formula plus shift and clamp.
#[derive(Clone, Debug, PartialEq)]
pub struct DynNoiseCond {
    /// The formula.
    pub kind: CondKind,
    /// The shift (1 = none).
    pub shift: f64,
    /// The output clamp.
    pub clamp_range: [f64; 2],
}

impl DynNoiseCond {
    /// A noise cond with shift 1 and its default clamp (`[0, 1]` for CosineT, `[−1e9, 1e9]`
    /// otherwise).
    pub fn new(kind: CondKind) -> Self {
        let clamp_range = if matches!(kind, CondKind::CosineT(_)) {
            [0.0, 1.0]
        } else {
            [-1e9, 1e9]
        };
        Self {
            kind,
            shift: 1.0,
            clamp_range,
        }
    }
    /// The StableDiffusion noise cond (computes its table).
    ///
    /// Errors as [`Table::stable_diffusion`]: a `linear_range` end outside `(0, 1)`, a
    /// `total_steps` outside `1..=`[`MAX_STEPS`](crate::grid::MAX_STEPS).
    pub fn stable_diffusion(linear_range: [f64; 2], total_steps: u64) -> Result<Self> {
        Ok(Self::new(CondKind::StableDiffusion {
            linear_range,
            total_steps,
            table: Table::stable_diffusion(linear_range, total_steps)?,
        }))
    }
}

impl LogSnrFn for DynNoiseCond {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let mut head = String::new();
        match &self.kind {
            CondKind::CosineT(s) => write!(head, "CosineT(s = {})", lit(*s))?,
            CondKind::Edm => head.push_str("Edm"),
            CondKind::Sigmoid => head.push_str("Sigmoid"),
            CondKind::LogSnr => head.push_str("LogSnr"),
            CondKind::EdmSigma(sd) => write!(head, "EdmSigma(sigma_data = {})", lit(*sd))?,
            CondKind::RectifiedFlows => head.push_str("RectifiedFlows"),
            CondKind::FlowSigma(s) => write!(head, "FlowSigma(scale = {})", lit(*s))?,
            CondKind::LogSigma(s) => write!(head, "LogSigma(scale = {})", lit(*s))?,
            CondKind::FlowAlpha(s) => write!(head, "FlowAlpha(scale = {})", lit(*s))?,
            CondKind::PiecewiseLinear(t) => {
                nc::PiecewiseLinear::new(t.clone()).write_decl(&mut head)?
            }
            CondKind::TableTimestep(t) => t.write_decl(&mut head)?,
            CondKind::StableDiffusion {
                linear_range,
                total_steps,
                ..
            } => sc::write_sd(&mut head, *linear_range, *total_steps)?,
            CondKind::Discrete {
                inner,
                steps,
                continuous_range: r,
            } => {
                head.push_str("Discrete(");
                inner.write_decl(&mut head)?;
                write!(
                    head,
                    ", steps = {steps}, continuous_range = [{}, {}])",
                    lit(r[0]),
                    lit(r[1])
                )?;
            }
        }
        let mut extra = Vec::new();
        if self.shift != 1.0 {
            extra.push(format!("shift = {}", lit(self.shift)));
        }
        let default = DynNoiseCond::new(CondKind::Edm).clamp_range;
        if !matches!(self.kind, CondKind::CosineT(_)) && self.clamp_range != default {
            extra.push(format!(
                "clamp_range = [{}, {}]",
                lit(self.clamp_range[0]),
                lit(self.clamp_range[1])
            ));
        }
        if extra.is_empty() {
            out.write_str(&head)
        } else {
            sc::write_with(out, &|o| o.write_str(&head), &extra.join(", "))
        }
    }
}

use core::fmt::Write as _;

impl NoiseCond for DynNoiseCond {
    fn check(&self) -> Result<()> {
        self.check_params()
    }
    fn cond<F: Real>(&self, l: F) -> F {
        match &self.kind {
            CondKind::CosineT(s) => nc::cosine_t(l, *s),
            CondKind::Edm => nc::Edm.cond(l),
            CondKind::Sigmoid => nc::Sigmoid.cond(l),
            CondKind::LogSnr => nc::LogSnr.cond(l),
            CondKind::RectifiedFlows => nc::RectifiedFlows.cond(l),
            CondKind::FlowSigma(s) => nc::flow_sigma(l, *s),
            CondKind::LogSigma(s) => nc::log_sigma(l, *s),
            CondKind::FlowAlpha(s) => nc::flow_alpha(l, *s),
            CondKind::EdmSigma(sd) => nc::edm_sigma(l, *sd),
            CondKind::PiecewiseLinear(t) => t.cond(l),
            CondKind::TableTimestep(t) => t.cond(l),
            CondKind::StableDiffusion { table, .. } => nc::stable_diffusion_cond(table, l),
            CondKind::Discrete {
                inner,
                steps,
                continuous_range,
            } => nc::discretize(inner.noise_cond(l), *steps, *continuous_range),
        }
    }
    fn shift(&self) -> f64 {
        self.shift
    }
    fn clamp_range(&self) -> [f64; 2] {
        self.clamp_range
    }
}

/// The formula of a [`DynLossWeight`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum WeightKind {
    /// [`lw::Constant`] with `v`.
    Constant(f64),
    /// [`lw::Snr`].
    Snr,
    /// [`lw::P2`] with `k, gamma, s`.
    P2 {
        /// `k`.
        k: f64,
        /// `gamma`.
        gamma: f64,
        /// `s`.
        s: f64,
    },
    /// [`lw::SnrPlusOne`].
    SnrPlusOne,
    /// [`lw::MinSnr`] with `max_snr`.
    MinSnr(f64),
    /// [`lw::MinSnrPlusOne`] with `max_snr`.
    MinSnrPlusOne(f64),
    /// [`lw::TruncatedSnr`] with `min_snr`.
    TruncatedSnr(f64),
    /// [`lw::Sech`] with `div`.
    Sech(f64),
    /// [`lw::Debiased`].
    Debiased,
    /// [`lw::Sigmoid`] with `s`.
    Sigmoid(f64),
    /// [`lw::Composed`].
    Composed {
        /// Numerator factors.
        mul: Vec<DynLossWeight>,
        /// Denominator factors.
        div: Vec<DynLossWeight>,
    },
    /// A modern weight of [`lw::weighting`] (EDM, soft-min-SNR, min-SNR-γ on a target;
    /// SD3's `sigma_sqrt` and `cosmap`).
    Modern(DynWeighting),
    /// [`lw::Adaptive`] with its state.
    Adaptive {
        /// `[lo, hi]` of the edges.
        logsnr_range: [f64; 2],
        /// `[min, max]` weight.
        weight_range: [f64; 2],
        /// The edges (`buckets − 1`).
        edges: Vec<f64>,
        /// The running losses (`buckets`).
        state: AdaptiveState,
    },
}

/// A loss weight configured at run time: a formula plus its clamp.
#[derive(Clone, Debug, PartialEq)]
pub struct DynLossWeight {
    /// The formula.
    pub kind: WeightKind,
    /// The output clamp (default `[−1e9, 1e9]`).
    pub clamp_range: [f64; 2],
}

impl DynLossWeight {
    /// A loss weight with the default clamp.
    pub fn new(kind: WeightKind) -> Self {
        Self {
            kind,
            clamp_range: [-1e9, 1e9],
        }
    }
    /// A fresh Adaptive loss weight.
    ///
    /// Errors ([`OutOfRange`](crate::GdfError::OutOfRange)): `buckets` outside
    /// `1..=`[`MAX_STEPS`](crate::grid::MAX_STEPS), a `logsnr_range` or a `weight_range` that
    /// is not finite and increasing (the parser's rule for `weight_range`).
    ///
    /// ```
    /// use gdf::dynamic::DynLossWeight;
    /// assert!(DynLossWeight::adaptive([-10.0, 10.0], 300, [1e-7, 1e7]).is_ok());
    /// assert!(DynLossWeight::adaptive([-10.0, 10.0], 0, [1e-7, 1e7]).is_err());
    /// assert!(DynLossWeight::adaptive([-10.0, 10.0], 300, [1e7, 1e-7]).is_err());
    /// ```
    pub fn adaptive(
        logsnr_range: [f64; 2],
        buckets: usize,
        weight_range: [f64; 2],
    ) -> crate::Result<Self> {
        check_buckets(logsnr_range, buckets)?;
        let [lo, hi] = weight_range;
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(GdfError::OutOfRange {
                what: "weight_range",
                value: if lo.is_finite() { hi } else { lo },
                expected: "a finite, increasing [lo, hi] (the clamp of 1/loss)",
            });
        }
        Ok(Self::new(WeightKind::Adaptive {
            logsnr_range,
            weight_range,
            edges: crate::float::linspace(
                logsnr_range[0],
                logsnr_range[1],
                buckets.saturating_sub(1),
            ),
            state: AdaptiveState {
                bucket_losses: vec![1.0; buckets],
            },
        }))
    }
    /// Adaptive: `L_i ← β·L_i + (1−β)·loss` (see [`lw::Adaptive::update`]).
    ///
    /// Errors as there, plus [`GdfError::Invalid`] for other loss weights.
    pub fn update(&mut self, logsnr: &[f64], loss: &[f64], beta: f64) -> Result<()> {
        match &mut self.kind {
            WeightKind::Adaptive { edges, state, .. } => {
                let edges = &*edges;
                update_buckets(
                    &mut state.bucket_losses,
                    |l| adaptive_bucket(edges, l),
                    logsnr,
                    loss,
                    beta,
                )
            }
            _ => Err(GdfError::Invalid {
                message: format!("update needs an Adaptive loss weight, got {}", self.decl()),
            }),
        }
    }
    /// Adaptive: `(edges, losses)`; `None` for other loss weights.
    pub fn buckets(&self) -> Option<(&[f64], &[f64])> {
        match &self.kind {
            WeightKind::Adaptive { edges, state, .. } => Some((edges, &state.bucket_losses)),
            _ => None,
        }
    }
}

fn write_list(out: &mut dyn fmt::Write, xs: &[DynLossWeight]) -> fmt::Result {
    out.write_str("[")?;
    for (i, x) in xs.iter().enumerate() {
        if i > 0 {
            out.write_str(", ")?;
        }
        x.write_decl(out)?;
    }
    out.write_str("]")
}

impl LogSnrFn for DynLossWeight {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let mut head = String::new();
        match &self.kind {
            WeightKind::Constant(v) => write!(head, "Constant(v = {})", lit(*v))?,
            WeightKind::Snr => head.push_str("Snr"),
            WeightKind::P2 { k, gamma, s } => write!(
                head,
                "P2(k = {}, gamma = {}, s = {})",
                lit(*k),
                lit(*gamma),
                lit(*s)
            )?,
            WeightKind::SnrPlusOne => head.push_str("SnrPlusOne"),
            WeightKind::MinSnr(m) => write!(head, "MinSnr(max_snr = {})", lit(*m))?,
            WeightKind::MinSnrPlusOne(m) => write!(head, "MinSnrPlusOne(max_snr = {})", lit(*m))?,
            WeightKind::TruncatedSnr(m) => write!(head, "TruncatedSnr(min_snr = {})", lit(*m))?,
            WeightKind::Sech(d) => write!(head, "Sech(div = {})", lit(*d))?,
            WeightKind::Debiased => head.push_str("Debiased"),
            WeightKind::Sigmoid(s) => write!(head, "Sigmoid(s = {})", lit(*s))?,
            WeightKind::Composed { mul, div } => {
                head.push_str("Composed(mul = ");
                write_list(&mut head, mul)?;
                head.push_str(", div = ");
                write_list(&mut head, div)?;
                head.push(')');
            }
            WeightKind::Modern(w) => w.write_decl(&mut head)?,
            WeightKind::Adaptive {
                logsnr_range,
                weight_range,
                state,
                ..
            } => lw::write_adaptive(
                &mut head,
                *logsnr_range,
                state.bucket_losses.len(),
                *weight_range,
            )?,
        }
        if self.clamp_range == [-1e9, 1e9] {
            out.write_str(&head)
        } else {
            let extra = format!(
                "clamp_range = [{}, {}]",
                lit(self.clamp_range[0]),
                lit(self.clamp_range[1])
            );
            sc::write_with(out, &|o| o.write_str(&head), &extra)
        }
    }
}

impl LossWeight for DynLossWeight {
    fn check(&self) -> Result<()> {
        self.check_params()
    }
    fn weight<F: Real>(&self, l: F) -> F {
        match &self.kind {
            WeightKind::Constant(v) => lw::constant(l, F::of(*v)),
            WeightKind::Snr => lw::Snr.weight(l),
            WeightKind::P2 { k, gamma, s } => lw::p2(l, F::of(*k), F::of(*gamma), F::of(*s)),
            WeightKind::SnrPlusOne => lw::SnrPlusOne.weight(l),
            WeightKind::MinSnr(m) => lw::min_snr(l, F::of(*m)),
            WeightKind::MinSnrPlusOne(m) => lw::min_snr_plus_one(l, F::of(*m)),
            WeightKind::TruncatedSnr(m) => lw::truncated_snr(l, F::of(*m)),
            WeightKind::Sech(d) => lw::sech(l, F::of(*d)),
            WeightKind::Debiased => lw::Debiased.weight(l),
            WeightKind::Sigmoid(s) => lw::sigmoid_weight(l, F::of(*s)),
            WeightKind::Composed { mul, div } => {
                let m = mul.iter().fold(F::one(), |acc, w| acc * w.weight(l));
                let d = div.iter().fold(F::one(), |acc, w| acc * w.weight(l));
                m / d
            }
            WeightKind::Modern(w) => w.weight(l),
            WeightKind::Adaptive {
                weight_range,
                edges,
                state,
                ..
            } => adaptive_weight(edges, &state.bucket_losses, l, *weight_range),
        }
    }
    fn clamp_range(&self) -> [f64; 2] {
        self.clamp_range
    }
}

/// A sampler chosen at run time (DDIM's η is a value here).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DynSampler {
    /// DDIM with η (DDPM is `eta = 1`).
    Ddim {
        /// Stochasticity.
        eta: f64,
    },
    /// [`crate::sampler::Lcm`].
    Lcm,
}

impl LogSnrFn for DynSampler {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            DynSampler::Ddim { eta } => write!(out, "Ddim(eta = {})", lit(*eta)),
            DynSampler::Lcm => out.write_str("Lcm"),
        }
    }
}

impl Sampler for DynSampler {
    #[inline(always)]
    fn coefficients<F: Real>(&self, a: F, b: F, a_prev: F, b_prev: F) -> [F; 3] {
        match self {
            DynSampler::Ddim { eta } => ddim_coefficients(F::of(*eta), a, b, a_prev, b_prev),
            DynSampler::Lcm => crate::sampler::Lcm.coefficients(a, b, a_prev, b_prev),
        }
    }
    fn check(&self) -> Result<()> {
        match self {
            DynSampler::Ddim { eta } => crate::sampler::ddim::check_eta(*eta),
            DynSampler::Lcm => Ok(()),
        }
    }
    fn uses_noise(&self) -> bool {
        match self {
            DynSampler::Ddim { eta } => *eta > 0.0,
            DynSampler::Lcm => true,
        }
    }
    fn uses_eps(&self) -> bool {
        !matches!(self, DynSampler::Lcm)
    }
}

/// The adaptive components' bucket settings: `1 ≤ buckets ≤ MAX_STEPS` over a finite,
/// increasing logSNR range.
fn check_buckets(range: [f64; 2], buckets: usize) -> crate::Result<()> {
    crate::grid::check_count("buckets", buckets)?;
    if !(range[0].is_finite() && range[1].is_finite() && range[0] < range[1]) {
        return Err(crate::GdfError::OutOfRange {
            what: "logsnr_range",
            value: if range[0].is_finite() {
                range[1]
            } else {
                range[0]
            },
            expected: "a finite, increasing [lo, hi]",
        });
    }
    Ok(())
}
