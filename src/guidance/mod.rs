//! Guidance as its own role: how the conditional and unconditional predictions of one model
//! evaluation are combined into the one prediction a sampler step uses (SPEC-solvers §8).
//!
//! A *guider* receives, for a batch of `B` samples of `n` elements each, the conditional
//! prediction `c` and (when it asks for it) the unconditional one `u`, and writes the guided
//! prediction. Every guider here ends in the same per-element form
//!
//! ```text
//! out = α·c + β·u + γ·m + δ·(c − u)      (per sample, or per norm group for APG)
//! ```
//!
//! where `m` is APG's momentum buffer (state kept across steps); the difference `Δ = c − u`
//! is formed element by element (in the reduction too), so a guidance signal far below `c`
//! loses nothing to cancellation. The coefficients are plain numbers for the linear guiders ([`ClassifierFree`], autoguidance, [`CfgPp`]), available from
//! [`Guidance::linear`] so a solver can fold them into its own fused pass. The non-linear ones
//! (guidance rescale, [`Apg`], [`CfgZeroStar`], [`Tangential`]) need per-sample dot products and
//! norms first; [`Guidance::guide`] computes them in **one read-only reduction pass** (sums of
//! `c`, `u`, `m`, `Δ` and of all their pairwise products, accumulated in f64), turns them into the
//! coefficients on the host, and then runs **one fused write pass** (which also updates APG's
//! momentum). An executor with its own write pass (a device, or a solver folding the
//! combination into its step) uses the two halves: [`reduce_moments`], then
//! [`coefficient_table`].
//!
//! | guider | acts on | linear | state |
//! |---|---|---|---|
//! | [`ClassifierFree`] (+ per-sample rescale φ) | either (F or D; the same D without rescale) | without rescale | none |
//! | autoguidance ([`ClassifierFree::autoguidance`]) | D (EDM2) | yes | none; `u` comes from a weaker model |
//! | [`Apg`] | D (the paper; diffusers applies it to F) | no | momentum buffer |
//! | [`CfgZeroStar`] | F, a flow velocity | no | none |
//! | [`Tangential`] | F (diffusers) | no | none |
//! | [`CfgPp`] | ε or D (linear) + the solver's renoise | yes | none |
//!
//! Every guider carries a [`Gate`]: an off switch, a window in step fractions (diffusers'
//! `start`/`stop`) and an optional [`Interval`] in logSNR (Kynkäänniemi et al.). Where the gate
//! is closed (or the scale is the no-op value) only `c` is used: [`Guidance::needs_uncond`]
//! then says `false` and a loop can skip that evaluation.
//!
//! The sampling loop owns the model calls. One step of a guided loop is:
//!
//! ```
//! use gdf::guidance::{Apg, Guidance, Layout, StepCtx};
//!
//! let mut apg = Apg::new(5.0)?;                   // diffusers' defaults otherwise
//! apg.eta = 0.0;
//! apg.norm_threshold = 0.0;
//! let layout = Layout::flat(1, 2)?;               // one sample of two elements
//! let ctx = StepCtx::new(0, 10)?;                 // step 0 of 10
//! let (c, u) = ([3.0f64, 4.0], [1.0, 0.0]);
//! assert!(apg.needs_uncond(&ctx)?);               // else the loop may skip the uncond NFE
//! let mut out = [0.0; 2];
//! apg.guide(&ctx, &layout, &c, Some(&u), &mut out)?;
//! // diffusers' form u + w·Δ⊥ (SPEC §8.2 sanity numbers)
//! assert!((out[0] + 2.2).abs() < 1e-12 && (out[1] - 2.4).abs() < 1e-12);
//! # Ok::<(), gdf::GdfError>(())
//! ```
//!
//! Guidance is not a slot of `gdf!`: a sampling loop takes the guider as a value (concrete, or
//! [`DynGuidance`] from a name) and may change its fields or swap it between steps, like
//! `cfg` on [`crate::sample::Sampling`]. A solver with two evaluations per step (Heun) calls
//! [`Guidance::guide`] for each with the same step index; APG's momentum then advances per
//! evaluation.
//!
//! The whole-batch rescale of the original GDF stays where it is (`cfg_rho` in
//! [`crate::sample`]); [`ClassifierFree::rescale`] is diffusers' per-sample one.

mod apg;
mod cfg;
mod cfgpp;
mod dynamic;
mod tangential;
mod zero_star;

pub use apg::{Apg, NormDims};
pub use cfg::ClassifierFree;
pub use cfgpp::CfgPp;
pub use dynamic::DynGuidance;

pub use tangential::{top_eigen_products, Tangential};
pub use zero_star::CfgZeroStar;

use crate::error::{check_len, GdfError, Result};
use crate::par::{Jobs, RawMut};
use crate::Real;

/// The space a guider acts in (SPEC-solvers §0.3): the raw network output F, or the
/// x0-prediction D. For linear guiders the two give the same D.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    /// The raw model output F (ε, v, x0 or velocity, whatever the target is), as diffusers'
    /// guiders apply it.
    Prediction,
    /// The x0-prediction D (EDM2, ComfyUI, the APG paper).
    X0,
    /// Linear: the same D in either space.
    Either,
}

/// Where the "unconditional" branch comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Branch {
    /// The same model with the unconditional (empty) conditioning: classifier-free guidance.
    #[default]
    Unconditional,
    /// A second, weaker model (smaller and/or less trained) with **the same** conditioning:
    /// autoguidance (Karras et al. 2024). The combination is CFG's.
    WeakModel,
}

impl Branch {
    /// Checks that a loop has what this branch needs: with [`Branch::WeakModel`] the caller
    /// must pass a second model.
    ///
    /// ```
    /// use gdf::guidance::Branch;
    /// assert!(Branch::WeakModel.check(false).is_err());
    /// assert!(Branch::WeakModel.check(true).is_ok());
    /// assert!(Branch::Unconditional.check(false).is_ok());
    /// ```
    pub fn check(self, has_weak_model: bool) -> Result<()> {
        match (self, has_weak_model) {
            (Branch::WeakModel, false) => Err(GdfError::Invalid {
                message: "autoguidance (branch = WeakModel) needs a second, weaker model for the \
                          guiding branch, and none was given"
                    .into(),
            }),
            _ => Ok(()),
        }
    }
}

/// Where one guided evaluation sits: the step index, the number of steps, and (for a
/// guidance [`Interval`]) the logSNR λ the model is evaluated at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepCtx {
    /// Step index, `0 ≤ step < num_steps`.
    pub step: usize,
    /// Number of sampling steps (diffusers' `num_inference_steps`).
    pub num_steps: usize,
    /// The logSNR of the evaluation (the level actually evaluated: σ̂ for churn, σ' for
    /// Heun's second stage). Needed only by an [`Interval`].
    pub logsnr: Option<f64>,
}

impl StepCtx {
    /// Step `step` of `num_steps`, without a level.
    ///
    /// Errors: `num_steps == 0`, `step ≥ num_steps`.
    pub fn new(step: usize, num_steps: usize) -> Result<Self> {
        let c = Self {
            step,
            num_steps,
            logsnr: None,
        };
        c.validate()?;
        Ok(c)
    }

    /// The same step evaluated at logSNR `logsnr` (±∞ allowed, NaN refused).
    pub fn at(self, logsnr: f64) -> Result<Self> {
        let c = Self {
            logsnr: Some(logsnr),
            ..self
        };
        c.validate()?;
        Ok(c)
    }

    /// Checks the fields (the checks of [`StepCtx::new`] and [`StepCtx::at`]).
    pub fn validate(&self) -> Result<()> {
        if self.num_steps == 0 {
            return Err(out_of_range("num_inference_steps", 0.0, "at least 1"));
        }
        if self.step >= self.num_steps {
            return Err(GdfError::Invalid {
                message: format!(
                    "`step` is {}, expected 0 ≤ step < num_inference_steps = {}",
                    self.step, self.num_steps
                ),
            });
        }
        if let Some(l) = self.logsnr {
            if l.is_nan() {
                return Err(out_of_range(
                    "logsnr",
                    l,
                    "a logSNR (±inf allowed), not NaN",
                ));
            }
        }
        Ok(())
    }
}

pub(crate) fn out_of_range(what: &'static str, value: f64, expected: &'static str) -> GdfError {
    GdfError::OutOfRange {
        what,
        value,
        expected,
    }
}

/// A window of step fractions, diffusers' `start`/`stop`: guidance is on at step `i` of `N`
/// iff `⌊start·N⌋ ≤ i < ⌊stop·N⌋`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// First fraction, `0 ≤ start < 1`. Default 0.
    pub start: f64,
    /// Last fraction (exclusive), `start ≤ stop ≤ 1`. Default 1.
    pub stop: f64,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            start: 0.0,
            stop: 1.0,
        }
    }
}

impl Window {
    /// A validated window.
    ///
    /// ```
    /// use gdf::guidance::Window;
    /// let w = Window::new(0.2, 0.8)?;
    /// assert_eq!((0..5).map(|i| w.contains(i, 5)).collect::<Vec<_>>(), [false, true, true, true, false]);
    /// assert!(Window::new(0.5, 0.4).is_err());
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn new(start: f64, stop: f64) -> Result<Self> {
        let w = Self { start, stop };
        w.validate()?;
        Ok(w)
    }

    /// Checks `0 ≤ start < 1` and `start ≤ stop ≤ 1`.
    pub fn validate(&self) -> Result<()> {
        if !(self.start >= 0.0 && self.start < 1.0) {
            return Err(out_of_range("start", self.start, "0 ≤ start < 1"));
        }
        if !(self.stop >= self.start && self.stop <= 1.0) {
            return Err(GdfError::Invalid {
                message: format!(
                    "`stop` is {}, expected start ({}) ≤ stop ≤ 1",
                    self.stop, self.start
                ),
            });
        }
        Ok(())
    }

    /// Whether step `step` of `num_steps` lies in the window (the fractions are truncated like
    /// Python's `int(start·N)`).
    pub fn contains(&self, step: usize, num_steps: usize) -> bool {
        let n = num_steps as f64;
        let lo = (self.start * n) as usize;
        let hi = (self.stop * n) as usize;
        lo <= step && step < hi
    }
}

/// A guidance interval in logSNR: guidance is on iff `lo ≤ λ < hi` (Kynkäänniemi et al. 2024,
/// whose `σ_lo < σ ≤ σ_hi` is `−2·ln σ_hi ≤ λ < −2·ln σ_lo`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// Lowest logSNR with guidance (inclusive; may be −∞).
    pub lo: f64,
    /// Highest logSNR with guidance (exclusive; may be +∞).
    pub hi: f64,
}

impl Interval {
    /// The interval `lo ≤ λ < hi`. Errors: NaN, `lo ≥ hi`.
    ///
    /// ```
    /// use gdf::guidance::Interval;
    /// let i = Interval::new(-2.0, 2.0)?;
    /// assert!(i.contains(-2.0) && !i.contains(2.0));
    /// assert!(Interval::new(1.0, 1.0).is_err());
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn new(lo: f64, hi: f64) -> Result<Self> {
        let i = Self { lo, hi };
        i.validate()?;
        Ok(i)
    }

    /// The interval `σ_lo < σ ≤ σ_hi` of VE noise levels `σ = e^(−λ/2)`, with
    /// `0 ≤ σ_lo < σ_hi ≤ ∞` (EDM2-XXL's is `(0.28, 2.90]`).
    ///
    /// ```
    /// use gdf::guidance::Interval;
    /// let i = Interval::from_sigma(0.28, 2.9)?;
    /// assert!(i.contains(-2.0 * 2.9f64.ln()) && !i.contains(-2.0 * 0.28f64.ln()));
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn from_sigma(sigma_lo: f64, sigma_hi: f64) -> Result<Self> {
        if sigma_lo.is_nan() || sigma_lo < 0.0 {
            return Err(out_of_range("sigma_lo", sigma_lo, "σ_lo ≥ 0"));
        }
        if sigma_hi.is_nan() || sigma_hi <= sigma_lo {
            return Err(GdfError::Invalid {
                message: format!(
                    "guidance interval: `sigma_hi` is {sigma_hi}, expected σ_hi > σ_lo = {sigma_lo}"
                ),
            });
        }
        Self::new(-2.0 * sigma_hi.ln(), -2.0 * sigma_lo.ln())
    }

    /// Checks that neither end is NaN and `lo < hi`.
    pub fn validate(&self) -> Result<()> {
        if self.lo.is_nan() {
            return Err(out_of_range("interval.lo", self.lo, "a logSNR, not NaN"));
        }
        if self.hi.is_nan() {
            return Err(out_of_range("interval.hi", self.hi, "a logSNR, not NaN"));
        }
        if self.lo >= self.hi {
            return Err(GdfError::Invalid {
                message: format!(
                    "guidance interval: `interval.lo` is {}, expected lo < hi = {}",
                    self.lo, self.hi
                ),
            });
        }
        Ok(())
    }

    /// Whether guidance is on at logSNR `logsnr`.
    pub fn contains(&self, logsnr: f64) -> bool {
        self.lo <= logsnr && logsnr < self.hi
    }
}

/// When a guider is on: the settings every guider shares.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Gate {
    /// Guidance switched off entirely when `true`. Default `false` (diffusers' `enabled = True`).
    pub disabled: bool,
    /// The window in step fractions. Default `[0, 1)`: every step.
    pub window: Window,
    /// The logSNR interval, if any. Default none.
    pub interval: Option<Interval>,
}

impl Gate {
    /// Checks the window and the interval.
    pub fn validate(&self) -> Result<()> {
        self.window.validate()?;
        if let Some(i) = &self.interval {
            i.validate()?;
        }
        Ok(())
    }

    /// Whether the gate is open at `ctx` (not the scale's no-op test; see
    /// [`Guidance::enabled`]). Errors: an interval without `ctx.logsnr`, bad settings.
    pub fn open(&self, ctx: &StepCtx) -> Result<bool> {
        self.validate()?;
        ctx.validate()?;
        if self.disabled || !self.window.contains(ctx.step, ctx.num_steps) {
            return Ok(false);
        }
        match (&self.interval, ctx.logsnr) {
            (None, _) => Ok(true),
            (Some(i), Some(l)) => Ok(i.contains(l)),
            (Some(_), None) => Err(GdfError::Invalid {
                message: "a guidance interval needs the evaluation's logSNR: pass \
                          StepCtx::at(logsnr)"
                    .into(),
            }),
        }
    }
}

/// The shape of the guided buffers: `batch` samples, each of shape `sample_shape`
/// (row-major), so `batch · Π sample_shape` elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    batch: usize,
    shape: Vec<usize>,
    per: usize,
}

impl Layout {
    /// `batch` samples of shape `sample_shape`. Errors: an empty batch or sample.
    pub fn new(batch: usize, sample_shape: &[usize]) -> Result<Self> {
        if batch == 0 {
            return Err(GdfError::EmptyBatch { what: "batch" });
        }
        let per = sample_shape
            .iter()
            .try_fold(1usize, |p, &d| p.checked_mul(d))
            .filter(|p| p.checked_mul(batch).is_some());
        let Some(per) = per else {
            return Err(GdfError::Invalid {
                message: format!(
                    "layout: {batch} samples of shape {sample_shape:?} overflow usize"
                ),
            });
        };
        if per == 0 {
            return Err(GdfError::EmptyBatch {
                what: "sample_shape",
            });
        }
        Ok(Self {
            batch,
            shape: sample_shape.to_vec(),
            per,
        })
    }

    /// `batch` samples of `n` elements each (shape `[n]`).
    pub fn flat(batch: usize, n: usize) -> Result<Self> {
        Self::new(batch, &[n])
    }

    /// The number of samples.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The shape of one sample.
    pub fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    /// Elements per sample.
    pub fn per_sample(&self) -> usize {
        self.per
    }

    /// Elements in all.
    pub fn len(&self) -> usize {
        self.batch * self.per
    }

    /// Always `false` (a layout is never empty); here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// How the elements of a batch fall into reduction groups. Each sample is split into
/// `per_sample` cells (cell of element `e` of a sample: `index[e]`, or 0 when `index` is
/// `None`); a group is one cell of one sample, or, with `across_batch`, the same cell of
/// every sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cells {
    /// Cells per sample.
    pub per_sample: usize,
    /// Cell of each element of a sample (`None`: the whole sample is one cell).
    pub index: Option<Vec<u32>>,
    /// Whether a group spans the batch (a norm over the batch dimension).
    pub across_batch: bool,
}

impl Cells {
    /// One group per sample (every guider's default).
    pub fn per_sample() -> Self {
        Self {
            per_sample: 1,
            index: None,
            across_batch: false,
        }
    }
}

/// Index of `c` (the conditional prediction) in [`Moments`] and [`Coef`].
pub const COND: usize = 0;
/// Index of `u` (the unconditional prediction).
pub const UNCOND: usize = 1;
/// Index of `m` (APG's momentum buffer before this step's update).
pub const MOMENTUM: usize = 2;
/// Index of `Δ = c − u` (formed element by element).
pub const DELTA: usize = 3;

/// Coefficients `[α, β, γ, δ]` of `out = α·c + β·u + γ·m + δ·(c − u)` (indices [`COND`],
/// [`UNCOND`], [`MOMENTUM`], [`DELTA`]).
pub type Coef = [f64; 4];

/// Sums over one group: `n`, `Σ x_i` and `Σ x_i·x_j` for `x = (c, u, m, Δ)` (indices
/// [`COND`], [`UNCOND`], [`MOMENTUM`], [`DELTA`]), accumulated in f64. Absent buffers count
/// as zeros. `Δ = c − u` has its own sums so that `‖Δ‖` and `⟨Δ, c⟩` stay accurate when
/// `c ≈ u`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    /// Number of elements.
    pub n: f64,
    /// `Σ c`, `Σ u`, `Σ m`, `Σ Δ`.
    pub sum: Coef,
    /// `Σ x_i·x_j` (symmetric).
    pub dot: [Coef; 4],
}

#[allow(clippy::needless_range_loop)] // 3×3 index arithmetic reads better with indices
impl Moments {
    /// Adds another group's sums.
    pub fn merge(&mut self, o: &Moments) {
        self.n += o.n;
        for i in 0..4 {
            self.sum[i] += o.sum[i];
            for j in 0..4 {
                self.dot[i][j] += o.dot[i][j];
            }
        }
    }

    /// `Σ p` for `p = k·x`.
    pub fn sum_of(&self, k: Coef) -> f64 {
        (0..4).map(|i| term(k[i], self.sum[i])).sum()
    }

    /// `⟨k·x, l·x⟩ = Σ_ij k_i l_j Σ x_i x_j`.
    pub fn dot_of(&self, k: Coef, l: Coef) -> f64 {
        let mut s = 0.0;
        for i in 0..4 {
            for j in 0..4 {
                s += term(k[i] * l[j], self.dot[i][j]);
            }
        }
        s
    }

    /// The unbiased variance of `p = k·x` over the group (torch's `var`; NaN for `n = 1`).
    pub fn var_of(&self, k: Coef) -> f64 {
        let s = self.sum_of(k);
        let v = (self.dot_of(k, k) - s * s / self.n) / (self.n - 1.0);
        if v < 0.0 {
            0.0
        } else {
            v
        }
    }
}

/// `k·s`, but an exact 0 when `k = 0` (an unused buffer contributes nothing, even if its sums
/// overflowed).
#[inline]
fn term(k: f64, s: f64) -> f64 {
    if k == 0.0 {
        0.0
    } else {
        k * s
    }
}

/// What one [`Guidance::guide`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guided {
    /// Whether the guider was on at this step ([`Guidance::enabled`]: gate open, scale not
    /// the no-op value; CFG-Zero*'s zero-init steps count as on when the gate is open).
    pub enabled: bool,
    /// diffusers' `num_conditions`: 2 when the guider asked for cond and uncond, 1 for cond only.
    pub num_conditions: usize,
}

/// What a guider needs at one step (see [`Guidance::plan`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Guidance is on at this step.
    pub enabled: bool,
    /// The combination reads `u`.
    pub reads_uncond: bool,
    /// The reduction pass is needed (a non-linear guider, or a rescale).
    pub reduce: bool,
    /// The momentum `β` when the write pass also updates the momentum buffer
    /// (`m ← c − u + β·m`, APG on enabled steps).
    pub momentum: Option<f64>,
    /// The guidance rescale φ applied after the combination (0 = none).
    pub rescale: f64,
    /// The reduction groups.
    pub cells: Cells,
}

/// A guider: combines the conditional and unconditional predictions of one evaluation.
///
/// Implementors give the plan and the per-group coefficients; the provided
/// [`Guidance::guide`] runs the host path (one read-only reduction pass when
/// [`Plan::reduce`], then one fused write pass).
pub trait Guidance {
    /// The guider's name (diffusers' class name where there is one).
    fn name(&self) -> &'static str;

    /// The space the guider is meant to act in.
    fn space(&self) -> Space;

    /// Where the guiding branch comes from (the unconditional model call, or a weaker model).
    fn branch(&self) -> Branch {
        Branch::Unconditional
    }

    /// Checks the settings (typed errors naming the field, the value and its range).
    fn validate(&self) -> Result<()>;

    /// Whether guidance is on at `ctx`: the [`Gate`] is open and the scale is not the no-op
    /// value (1, or 0 with the original form), compared as diffusers does (`math.isclose`:
    /// within a relative 1e-9, so a scale of `1 + 1e-10` is off).
    fn enabled(&self, ctx: &StepCtx) -> Result<bool>;

    /// diffusers' `num_conditions`: how many predictions the guider asks for (2 when
    /// enabled, else 1).
    fn num_conditions(&self, ctx: &StepCtx) -> Result<usize> {
        Ok(if self.enabled(ctx)? { 2 } else { 1 })
    }

    /// Whether the result depends on the unconditional (or weak-model) prediction at `ctx`;
    /// when `false` a loop can skip that evaluation and pass `None`.
    fn needs_uncond(&self, ctx: &StepCtx) -> Result<bool> {
        self.enabled(ctx)
    }

    /// The coefficients `(α, β)` of `out = α·c + β·u`, the same for every sample, when the
    /// guider is linear at `ctx` (no reduction, no state): a solver can fold them into its
    /// fused pass. `None` for the non-linear guiders and with a rescale.
    fn linear(&self, ctx: &StepCtx) -> Result<Option<[f64; 2]>>;

    /// What the guider needs at `ctx` for buffers of layout `layout`.
    fn plan(&self, ctx: &StepCtx, layout: &Layout) -> Result<Plan>;

    /// The coefficients `[α, β, γ, δ]` of `out = α·c + β·u + γ·m + δ·(c − u)` for one group,
    /// from its [`Moments`] (all zero when the plan needs no reduction), before any rescale.
    fn coefficients(&self, ctx: &StepCtx, plan: &Plan, group: &Moments) -> Coef;

    /// Whether the solver step at `ctx` renoises with the unconditional x0-prediction instead
    /// of the guided one (CFG++). A sampling loop honours it by stepping with the guided x0 in
    /// the x0 slot and the unconditional one in the noise slot. Default `false`.
    fn renoises_with_uncond(&self, _ctx: &StepCtx) -> Result<bool> {
        Ok(false)
    }

    /// The momentum buffer (f64, one value per element), for guiders that keep one.
    fn momentum_buffer(&mut self) -> Option<&mut MomentumState> {
        None
    }

    /// Forgets the state kept across steps (a new sampling run).
    fn reset(&mut self) {
        if let Some(m) = self.momentum_buffer() {
            *m = MomentumState::default();
        }
    }

    /// Guides one evaluation on the host: `cond` and `uncond` (`None` allowed when
    /// [`Guidance::needs_uncond`] is `false`) have `layout.len()` elements; writes `out`.
    ///
    /// Runs at most one read-only reduction pass and then one fused write pass, which also
    /// updates the momentum state; each output element is computed in f64 and rounded once.
    /// Call it for each evaluation in step order (twice per step for a two-evaluation
    /// solver); the state restarts at step 0 (see [`MomentumState`]).
    fn guide<F: Real>(
        &mut self,
        ctx: &StepCtx,
        layout: &Layout,
        cond: &[F],
        uncond: Option<&[F]>,
        out: &mut [F],
    ) -> Result<Guided>
    where
        Self: Sized,
    {
        self.validate()?;
        ctx.validate()?;
        let plan = self.plan(ctx, layout)?;
        check_cells(layout, &plan.cells)?;
        let num_conditions = self.num_conditions(ctx)?;
        check_len("cond", layout.len(), cond.len())?;
        check_len("out", layout.len(), out.len())?;
        let uncond = match (plan.reads_uncond, uncond) {
            (false, _) => None,
            (true, Some(u)) => {
                check_len("uncond", layout.len(), u.len())?;
                Some(u)
            }
            (true, None) => return Err(missing_uncond(self.name(), ctx.step)),
        };
        let mut momentum = match plan.momentum {
            None => None,
            Some(beta) => {
                let Some(st) = self.momentum_buffer() else {
                    return Err(GdfError::Invalid {
                        message: format!("{}: a momentum plan without a buffer", self.name()),
                    });
                };
                st.observe(ctx.step, layout.len());
                Some((beta, core::mem::take(&mut st.buf)))
            }
        };
        if plan.momentum.is_none() {
            if let Some(st) = self.momentum_buffer() {
                st.observe(ctx.step, layout.len());
            }
        }
        let m_read = momentum.as_ref().map(|(_, v)| v.as_slice());
        let moments = if plan.reduce {
            reduce(layout, &plan.cells, cond, uncond, m_read)
        } else {
            vec![Moments::default(); layout.batch() * plan.cells.per_sample]
        };
        let coef = table(self, ctx, &plan, layout, &moments);
        write(
            layout,
            &plan.cells,
            cond,
            uncond,
            momentum.as_mut().map(|(b, v)| (*b, v.as_mut_slice())),
            &coef,
            out,
        );
        if let Some((_, buf)) = momentum {
            if let Some(st) = self.momentum_buffer() {
                st.buf = buf;
            }
        }
        Ok(Guided {
            enabled: plan.enabled,
            num_conditions,
        })
    }
}

/// The error of a guided evaluation whose unconditional prediction is needed but missing.
pub(crate) fn missing_uncond(guider: &str, step: usize) -> GdfError {
    GdfError::Invalid {
        message: format!(
            "{guider}: guidance is on at step {step} and needs the unconditional prediction \
             (`uncond`), got None"
        ),
    }
}

/// APG's momentum state: the running average `m` (f64, one value per element) and the step
/// it was last seen at. It restarts (zeros) when a call at step 0 follows a call at another
/// step or none (a new run; diffusers makes a fresh buffer at step 0), and when the buffer
/// length changes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MomentumState {
    buf: Vec<f64>,
    last_step: Option<usize>,
}

impl MomentumState {
    /// The running average (empty before the first enabled step).
    pub fn values(&self) -> &[f64] {
        &self.buf
    }

    fn observe(&mut self, step: usize, len: usize) {
        if step == 0 && self.last_step != Some(0) {
            self.buf.clear();
        }
        if self.buf.len() != len {
            self.buf.clear();
            self.buf.resize(len, 0.0);
        }
        self.last_step = Some(step);
    }
}

/// The reduction pass alone, for an executor that runs the write pass itself (a device, or a
/// solver folding the combination into its step): the [`Moments`] of every (sample, cell) of
/// `plan.cells`, indexed `sample · cells.per_sample + cell`. `momentum` is the buffer before
/// this step's update (APG), `uncond` may be `None` when the plan does not read it.
///
/// Errors: buffer lengths other than `layout.len()`, a cell index out of range.
pub fn reduce_moments<F: Real>(
    layout: &Layout,
    cells: &Cells,
    cond: &[F],
    uncond: Option<&[F]>,
    momentum: Option<&[f64]>,
) -> Result<Vec<Moments>> {
    check_len("cond", layout.len(), cond.len())?;
    if let Some(u) = uncond {
        check_len("uncond", layout.len(), u.len())?;
    }
    if let Some(m) = momentum {
        check_len("momentum", layout.len(), m.len())?;
    }
    check_cells(layout, cells)?;
    Ok(reduce(layout, cells, cond, uncond, momentum))
}

/// The coefficients [`Coef`] of `out = α·c + β·u + γ·m + δ·(c − u)` for every (sample, cell), from the
/// moments of [`reduce_moments`] (or zeros when `!plan.reduce`), with the rescale folded in:
/// what the fused write pass needs. The write pass also sets `m ← c − u + β_m·m` when
/// `plan.momentum = Some(β_m)`.
///
/// Errors: `moments` not of length `batch · cells.per_sample`.
pub fn coefficient_table<G: Guidance + ?Sized>(
    g: &G,
    ctx: &StepCtx,
    plan: &Plan,
    layout: &Layout,
    moments: &[Moments],
) -> Result<Vec<Coef>> {
    check_len(
        "moments",
        layout.batch() * plan.cells.per_sample,
        moments.len(),
    )?;
    Ok(table(g, ctx, plan, layout, moments))
}

fn check_cells(layout: &Layout, cells: &Cells) -> Result<()> {
    if cells.per_sample == 0 {
        return Err(out_of_range("cells.per_sample", 0.0, "at least 1"));
    }
    if let Some(idx) = &cells.index {
        check_len("cells.index", layout.per_sample(), idx.len())?;
        if let Some(&bad) = idx.iter().find(|&&i| i as usize >= cells.per_sample) {
            return Err(GdfError::Invalid {
                message: format!(
                    "`cells.index` has cell {bad}, expected < cells.per_sample = {}",
                    cells.per_sample
                ),
            });
        }
    } else if cells.per_sample != 1 {
        return Err(GdfError::Invalid {
            message: "`cells.index` is None, so `cells.per_sample` must be 1".into(),
        });
    }
    Ok(())
}

/// Per (sample, cell) coefficients, rescale folded in.
fn table<G: Guidance + ?Sized>(
    g: &G,
    ctx: &StepCtx,
    plan: &Plan,
    layout: &Layout,
    moments: &[Moments],
) -> Vec<Coef> {
    let (b, k) = (layout.batch(), plan.cells.per_sample);
    let mut coef = vec![[0.0; 4]; b * k];
    if plan.cells.across_batch {
        for cell in 0..k {
            let mut grp = Moments::default();
            for s in 0..b {
                grp.merge(&moments[s * k + cell]);
            }
            let cf = g.coefficients(ctx, plan, &grp);
            for s in 0..b {
                coef[s * k + cell] = cf;
            }
        }
    } else {
        for (c, m) in coef.iter_mut().zip(moments) {
            *c = g.coefficients(ctx, plan, m);
        }
    }
    if plan.rescale > 0.0 {
        for s in 0..b {
            let f = rescale_factor(
                plan.rescale,
                &moments[s * k..(s + 1) * k],
                &coef[s * k..(s + 1) * k],
            );
            for c in &mut coef[s * k..(s + 1) * k] {
                for x in c.iter_mut() {
                    *x *= f;
                }
            }
        }
    }
    coef
}

/// diffusers' per-sample rescale as one factor: `φ·std(c)/std(p) + (1 − φ)`, with unbiased
/// standard deviations over the sample (`p` = the guided prediction, whose coefficients may
/// differ between the sample's cells).
fn rescale_factor(phi: f64, moments: &[Moments], coef: &[Coef]) -> f64 {
    let (mut n, mut sc, mut scc, mut sp, mut spp) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (m, &cf) in moments.iter().zip(coef) {
        n += m.n;
        sc += m.sum[COND];
        scc += m.dot[COND][COND];
        sp += m.sum_of(cf);
        spp += m.dot_of(cf, cf);
    }
    let var = |s2: f64, s: f64| {
        let v = (s2 - s * s / n) / (n - 1.0);
        if v < 0.0 {
            0.0
        } else {
            v
        }
    };
    let ratio = var(scc, sc).sqrt() / var(spp, sp).sqrt();
    phi * ratio + (1.0 - phi)
}

/// The read-only reduction pass: the [`Moments`] of every (sample, cell).
///
/// Runs in parallel over fixed jobs (at most [`crate::par::CHUNK`] elements of one sample
/// each) whose partial sums are merged in job order, so the result does not depend on the
/// number of threads.
fn reduce<F: Real>(
    layout: &Layout,
    cells: &Cells,
    cond: &[F],
    uncond: Option<&[F]>,
    mom: Option<&[f64]>,
) -> Vec<Moments> {
    let (b, n, k) = (layout.batch(), layout.per_sample(), cells.per_sample);
    let jobs = Jobs::new(b, n);
    let mut parts: Vec<Vec<Moments>> = vec![Vec::new(); jobs.count()];
    jobs.map(&mut parts, |s, start, end| {
        let mut acc = vec![Moments::default(); k];
        reduce_range(cells, s * n, start..end, cond, uncond, mom, &mut acc);
        acc
    });
    let mut out = vec![Moments::default(); b * k];
    for (j, part) in parts.iter().enumerate() {
        let (s, _, _) = jobs.job(j);
        for (o, p) in out[s * k..(s + 1) * k].iter_mut().zip(part) {
            o.merge(p);
        }
    }
    out
}

/// Adds the elements `range` (global indices, all in the sample starting at `base`) to `acc`
/// (one [`Moments`] per cell).
#[allow(clippy::needless_range_loop)]
fn reduce_range<F: Real>(
    cells: &Cells,
    base: usize,
    range: core::ops::Range<usize>,
    cond: &[F],
    uncond: Option<&[F]>,
    mom: Option<&[f64]>,
    acc: &mut [Moments],
) {
    let idx = cells.index.as_deref();
    let c = &cond[range.clone()];
    let u = uncond.map(|u| &u[range.clone()]);
    let m = mom.map(|m| &m[range.clone()]);
    if idx.is_none() && m.is_none() {
        // the common case: one group per sample, no momentum, sums in registers
        let (mut sc, mut su, mut sd) = (0.0, 0.0, 0.0);
        let (mut cc, mut uu, mut cu, mut dd, mut dc, mut du) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        match u {
            Some(u) => {
                for (&x, &y) in c.iter().zip(u) {
                    let (x, y) = (x.as_f64(), y.as_f64());
                    let d = x - y;
                    sc += x;
                    su += y;
                    sd += d;
                    cc += x * x;
                    uu += y * y;
                    cu += x * y;
                    dd += d * d;
                    dc += d * x;
                    du += d * y;
                }
            }
            None => {
                for &x in c {
                    let x = x.as_f64();
                    sc += x;
                    cc += x * x;
                }
                // Δ = c when u is absent (zeros)
                (sd, dd, dc) = (sc, cc, cc);
            }
        }
        let a = &mut acc[0];
        a.n = c.len() as f64;
        a.sum = [sc, su, 0.0, sd];
        a.dot = [
            [cc, cu, 0.0, dc],
            [cu, uu, 0.0, du],
            [0.0; 4],
            [dc, du, 0.0, dd],
        ];
        return;
    }
    for e in 0..c.len() {
        let cell = idx.map_or(0, |v| v[range.start - base + e] as usize);
        let (xc, xu) = (c[e].as_f64(), u.map_or(0.0, |u| u[e].as_f64()));
        let x = [xc, xu, m.map_or(0.0, |m| m[e]), xc - xu];
        let a = &mut acc[cell];
        a.n += 1.0;
        for i in 0..4 {
            a.sum[i] += x[i];
            for j in i..4 {
                a.dot[i][j] += x[i] * x[j];
            }
        }
    }
    for a in acc.iter_mut() {
        for i in 0..4 {
            for j in 0..i {
                a.dot[i][j] = a.dot[j][i];
            }
        }
    }
}

/// The fused write pass: `out = α·c + β·u + γ·m + δ·(c − u)` per element with its cell's
/// coefficients, and, with momentum `(β_m, m)`, `m ← c − u + β_m·m` in the same pass
/// (parallel over disjoint ranges).
fn write<F: Real>(
    layout: &Layout,
    cells: &Cells,
    cond: &[F],
    uncond: Option<&[F]>,
    mom: Option<(f64, &mut [f64])>,
    coef: &[Coef],
    out: &mut [F],
) {
    let (n, k) = (layout.per_sample(), cells.per_sample);
    let idx = cells.index.as_deref();
    let jobs = Jobs::new(layout.batch(), n);
    let out = RawMut::new(out);
    let (beta, mom) = match mom {
        Some((b, m)) => (b, Some(RawMut::new(m))),
        None => (0.0, None),
    };
    jobs.run(|s, start, end| {
        // SAFETY: the jobs' ranges are disjoint and inside both buffers (length
        // layout.len(), checked by the caller).
        let o = unsafe { out.range(start, end) };
        let mut m = mom.as_ref().map(|m| unsafe { m.range(start, end) });
        for (e, i) in (start..end).enumerate() {
            let cf = coef[s * k + idx.map_or(0, |v| v[i - s * n] as usize)];
            let c = cond[i].as_f64();
            let u = uncond.map_or(0.0, |u| u[i].as_f64());
            let mut y = cf[0] * c;
            if uncond.is_some() {
                y += cf[1] * u;
            }
            if cf[3] != 0.0 {
                y += cf[3] * (c - u);
            }
            if let Some(m) = m.as_mut() {
                let old = m[e];
                y += cf[2] * old;
                m[e] = c - u + beta * old;
            }
            o[e] = F::of(y);
        }
    });
}
