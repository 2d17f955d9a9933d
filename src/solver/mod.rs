//! Modern samplers (k-diffusion, EDM, DPM-Solver++, UniPC, diffusers) as host-side
//! *planners* over an explicit logSNR grid (SPEC-solvers).
//!
//! A solver never touches tensors. For every model evaluation it plans an [`Eval`]: which
//! buffer the model sees at which [`Level`], an optional [`Pass`] to run before the call, and
//! the fused [`Pass`] to run when the model's x0-prediction `D` comes back. A pass is a tiny
//! per-element program `dst = c_x·x + Σ_k c_k·D_k + c_n·n` whose f64 coefficients were
//! computed once per step from the levels (SPEC §0.4); [`Run`] executes it in one pass over
//! the data, with no allocation per step.
//!
//! The solvers: [`Euler`] (EDM churn), [`EulerAncestral`], [`Heun`], [`Dpm2`],
//! [`Dpm2Ancestral`], [`Lms`], [`DpmPP2SAncestral`], [`DpmPPSde`], [`DpmPP2M`],
//! [`DpmPP2MSde`], [`DpmPP3MSde`], diffusers' [`DpmSolverMultistep`] and
//! [`DpmSolverSinglestep`], [`Deis`], [`SaSolver`], [`UniPc`], PNDM's [`Plms`] and [`Ipndm`],
//! k-diffusion's [`DpmFast`], ComfyUI's [`GradientEstimation`], [`ErSde`], [`IpndmSigma`],
//! [`Seeds`], [`ResMultistep`], [`Heunpp2`], [`DeisTab`] and [`SaSolverComfy`],
//! [`EulerDiscrete`], [`FlowMatchEuler`], [`FlowMatchHeun`], [`EulerAncestralRf`] and
//! Flow-GRPO's [`FlowSde`] (with [`gaussian_steps`], a stochastic step's log-probability for
//! policy-gradient training), and the
//! consistency samplers
//! [`Lcm`] (`LCMScheduler`) and [`Tcd`] (`TCDScheduler`); [`AnySolver`] picks one by its
//! k-diffusion or diffusers name. The loop ([`Run`]) takes the model's x0-prediction, a raw prediction of any
//! [`Target`](crate::target::Target), or a conditional/unconditional pair with linear CFG,
//! all converted inside the fused pass (CFG rescale adds one read-only reduction pass);
//! stochastic solvers draw from a [`NoiseSource`] (counter-based [`CounterNoise`], or
//! [`RecordedNoise`] to replay a reference run). With linear CFG a guidance window is the
//! caller's choice per evaluation (feed the conditional prediction alone outside it); any
//! guider of [`crate::guidance`] (APG, CFG-Zero*, CFG++ included, each with its own window)
//! runs in the loop through [`Run::feed_guided`]. The grid is shared by the batch
//! (coefficients are per step, not per sample); [`Forcing`] runs groups of a batch (video
//! frames, samples) at their own levels, one run per group, for diffusion forcing.
//! k-diffusion's adaptive [`DpmAdaptive`] chooses its levels as it goes, so it drives its own
//! loop ([`AdaptiveRun`]) with the same requests and feeds.
//!
//! Conventions (SPEC §0.1): a level is `(a, b, λ)` with `x = a·x0 + b·ε` and `λ = 2 ln(a/b)`;
//! `h = (λ' − λ)/2` is the *half*-logSNR step; `σ = b/a = e^(−λ/2)`. `λ = +∞` is the clean end
//! (a step to it returns `D` exactly), `λ = −∞` the pure-noise start of a flow.
//!
//! ```
//! use gdf::scaler::Vp;
//! use gdf::solver::{CounterNoise, DpmPP2M, Grid, Run};
//!
//! // 0.5 + 0.5·N(0,1) data has the exact denoiser D(x, λ) = (s²·a·x + b²·μ)/(s²a² + b²).
//! let (mu, s2) = (0.5, 0.25);
//! let grid = Grid::new(&Vp, &[-6.0, -3.0, 0.0, 3.0, 6.0, f64::INFINITY])?;
//! let mut run = Run::new(DpmPP2M::new(), grid, vec![0.3f64, -1.2], 1, CounterNoise::new(0))?;
//! assert_eq!(run.remaining_evals(), 5);
//! let x0 = run.run(|x, level, d| {
//!     let (a, b) = (level.a, level.b);
//!     for (d, &x) in d.iter_mut().zip(x) {
//!         *d = (s2 * a * x + b * b * mu) / (s2 * a * a + b * b);
//!     }
//!     Ok(())
//! })?;
//! assert!(x0.iter().all(|v| v.is_finite()));
//! # Ok::<(), gdf::GdfError>(())
//! ```

use std::sync::Arc;

use crate::error::{GdfError, Result};
use crate::scaler::Scaler;

pub(crate) mod brownian;
mod comfy;
mod deis;
mod dpm_adaptive;
mod dpm_fast;
mod dpmpp;
mod euler;
mod forcing;
mod gaussian;
mod lcm;
mod lms;
mod named;
mod pndm;
pub(crate) mod runner;
mod sa;
mod singlestep;
mod tcd;
mod unipc;

pub use brownian::BrownianNoise;
pub use comfy::{
    DeisTab, ErSde, GradientEstimation, Heunpp2, IpndmSigma, ResMultistep, SaSolverComfy, Seeds,
};
pub use deis::Deis;
pub use dpm_adaptive::{AdaptiveInfo, AdaptiveRun, Attempt, DpmAdaptive};
pub use dpm_fast::DpmFast;
pub use dpmpp::{
    DpmAlgorithm, DpmPP2M, DpmPP2MSde, DpmPP2SAncestral, DpmPP3MSde, DpmPPSde, DpmSolverMultistep,
    DpmSolverSettings, FinalSigmas, SolverType,
};
pub use euler::{
    Churn, Dpm2, Dpm2Ancestral, Euler, EulerAncestral, EulerAncestralRf, EulerDiscrete,
    FlowMatchEuler, FlowMatchHeun, FlowSde, Heun,
};
pub use forcing::{Forcing, ForcingPlan, ForcingRequest, GroupLevel};
pub use gaussian::{gaussian_steps, GaussianStep};
pub use lcm::{Lcm, LcmBoundary};
pub use lms::Lms;
pub use named::AnySolver;
pub use pndm::{Ipndm, Plms};
pub use runner::{CounterNoise, DrawInfo, EvalRequest, NoNoise, NoiseSource, RecordedNoise, Run};
pub use sa::{SaSolver, TauWindow};
pub use singlestep::{DpmSinglestepSettings, DpmSolverSinglestep};
pub use tcd::Tcd;
pub use unipc::{UniPc, UniPcSettings, UniPcVariant};

/// A noise level: `x = a·x0 + b·ε`, `lam = λ = 2 ln(a/b)` (logSNR); `λ = ±∞` allowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Level {
    /// Signal coefficient.
    pub a: f64,
    /// Noise coefficient.
    pub b: f64,
    /// logSNR.
    pub lam: f64,
}

impl Level {
    /// Pure noise, `(a, b, λ) = (0, 1, −∞)`: what a solver's stage level holds before its
    /// first step.
    pub const PURE_NOISE: Level = Level {
        a: 0.0,
        b: 1.0,
        lam: f64::NEG_INFINITY,
    };

    /// The VE noise level `σ = b/a = e^(−λ/2)` (0 at `λ = +∞`, `+∞` at `λ = −∞`).
    pub fn sigma(&self) -> f64 {
        (-0.5 * self.lam).exp()
    }
}

/// The levels a run steps through: a logSNR grid (noisiest first) and the scaler that maps
/// any logSNR to `(a, b)` (solvers need levels between grid points: churn, midpoints).
#[derive(Clone)]
pub struct Grid {
    levels: Vec<Level>,
    ab: Arc<dyn Fn(f64) -> (f64, f64) + Send + Sync>,
}

impl core::fmt::Debug for Grid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Grid")
            .field("levels", &self.levels)
            .finish()
    }
}

impl Grid {
    /// A grid of logSNR values `λ_0 < λ_1 < … < λ_N` through `scaler`.
    ///
    /// `λ_0` may be `−∞` (a flow's pure-noise start) and `λ_N` may be `+∞` (the clean end);
    /// every other value must be finite, and the values must increase strictly, except that
    /// the last two may coincide (diffusers' repeated `σ_min`: a zero-length last step).
    ///
    /// ```
    /// use gdf::scaler::Lerp;
    /// use gdf::solver::Grid;
    /// let g = Grid::new(&Lerp, &[f64::NEG_INFINITY, 0.0, f64::INFINITY])?;
    /// assert_eq!(g.steps(), 2);
    /// assert_eq!((g.level(1).a, g.level(1).b), (0.5, 0.5));
    /// assert!(Grid::new(&Lerp, &[1.0, 0.0]).is_err());
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn new<S: Scaler + Clone + Send + Sync + 'static>(
        scaler: &S,
        logsnr: &[f64],
    ) -> Result<Self> {
        let s = scaler.clone();
        Self::with_ab(logsnr, move |l| s.ab(l))
    }

    /// A grid whose levels come from the function `λ ↦ (a, b)` (any scaler).
    pub fn with_ab(
        logsnr: &[f64],
        ab: impl Fn(f64) -> (f64, f64) + Send + Sync + 'static,
    ) -> Result<Self> {
        check_grid(logsnr)?;
        Ok(Self::from_checked(logsnr, ab))
    }

    /// The grid of already checked `logsnr` values through `ab`.
    fn from_checked(
        logsnr: &[f64],
        ab: impl Fn(f64) -> (f64, f64) + Send + Sync + 'static,
    ) -> Self {
        let levels = logsnr
            .iter()
            .map(|&lam| {
                let (a, b) = ab(lam);
                Level { a, b, lam }
            })
            .collect();
        Self {
            levels,
            ab: Arc::new(ab),
        }
    }

    /// An inversion grid: logSNR values `λ_0 > λ_1 > … > λ_N`, all finite (the last two may
    /// coincide, a zero-length last step), through `scaler`:
    /// a sample walked from a clean-ish level toward noise (DDIM / DPM-Solver++ inversion,
    /// diffusers' `DPMSolverMultistepInverseScheduler`). Only solvers whose update holds in
    /// either direction run on it ([`Solver::inverts`]: DPM-Solver++ multistep, deterministic);
    /// the others refuse it when a run starts.
    ///
    /// ```
    /// use gdf::scaler::Vp;
    /// use gdf::solver::{AnySolver, Euler, Grid, NoNoise, Run};
    /// let g = Grid::inverse(&Vp, &[6.0, 2.0, -1.0, -4.0])?;
    /// assert!(g.is_inverse());
    /// let dpm = AnySolver::from_name("DPMSolverMultistepScheduler")?;
    /// assert!(Run::new(dpm, g.clone(), vec![0.5f64], 1, NoNoise).is_ok());
    /// assert!(Run::new(Euler::new(), g, vec![0.5f64], 1, NoNoise).is_err());
    /// assert!(Grid::inverse(&Vp, &[1.0, 2.0]).is_err());
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn inverse<S: Scaler + Clone + Send + Sync + 'static>(
        scaler: &S,
        logsnr: &[f64],
    ) -> Result<Self> {
        check_inverse_grid(logsnr)?;
        let s = scaler.clone();
        Ok(Self::from_checked(logsnr, move |l| s.ab(l)))
    }

    /// Whether the grid walks toward noise ([`Grid::inverse`]).
    pub fn is_inverse(&self) -> bool {
        self.levels[0].lam > self.levels[1].lam
    }

    /// The grid of GDF's sampling loop: `timesteps` steps of the schedule's `t` from
    /// `t_start` to `t_end` (uniform in t, see [`crate::sample::sampling_grid`]), through
    /// `scaler`.
    ///
    /// ```
    /// use gdf::scaler::Vp;
    /// use gdf::schedule::Cosine;
    /// use gdf::solver::Grid;
    /// let g = Grid::from_schedule(&<Cosine>::new(), &Vp, 4, 1.0, 0.0, 1.0)?;
    /// assert_eq!(g.steps(), 4);
    /// assert_eq!(g.level(0).lam, -9.21024036697585);
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn from_schedule<Sc: crate::schedule::Schedule, S>(
        schedule: &Sc,
        scaler: &S,
        timesteps: usize,
        t_start: f64,
        t_end: f64,
        shift: f64,
    ) -> Result<Self>
    where
        S: Scaler + Clone + Send + Sync + 'static,
    {
        let (t, l) = crate::sample::sampling_grid(schedule, timesteps, t_start, t_end, shift)?;
        // A schedule that clamps (Cosine's `clamp_range`, RectifiedFlows' ±15) gives the first
        // or last t of a fine grid the same λ; the solvers' steps need distinct levels.
        if let Some(i) = (1..l.len() - 1).find(|&i| l[i] == l[i - 1]) {
            return Err(GdfError::Invalid {
                message: format!(
                    "timesteps = {timesteps}: the schedule clamps, so t = {} and t = {} give the \
                     same logSNR {} (a repeated level, which the solvers cannot step over); use \
                     fewer steps or a narrower t range (the classic Gdf::sample takes repeated \
                     levels)",
                    t[i - 1],
                    t[i],
                    l[i]
                ),
            });
        }
        Self::new(scaler, &l)
    }

    /// Number of steps `N` (grid points − 1).
    pub fn steps(&self) -> usize {
        self.levels.len() - 1
    }

    /// Level `i` of the grid.
    pub fn level(&self, i: usize) -> Level {
        self.levels[i]
    }

    /// The grid's levels.
    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    /// The level at any logSNR, through the grid's scaler.
    pub fn at(&self, lam: f64) -> Level {
        let (a, b) = (self.ab)(lam);
        Level { a, b, lam }
    }

    /// Whether the grid ends at `λ = +∞`.
    pub fn ends_clean(&self) -> bool {
        self.levels[self.steps()].lam == f64::INFINITY
    }

    /// The grid from point `start` on (partial denoising, a refiner's part; see
    /// [`crate::pipeline::strength`]): `steps() − start` steps through the same scaler.
    ///
    /// ```
    /// use gdf::scaler::Vp;
    /// use gdf::solver::Grid;
    /// let g = Grid::new(&Vp, &[-4.0, -2.0, 0.0, 2.0])?;
    /// assert_eq!(g.tail(1)?.levels(), &g.levels()[1..]);
    /// assert!(g.tail(3).is_err()); // no step left
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn tail(&self, start: usize) -> Result<Self> {
        self.slice(start, self.steps())
    }

    /// The grid up to point `end` (a base model's part before a refiner): `end` steps.
    ///
    /// ```
    /// use gdf::scaler::Vp;
    /// use gdf::solver::Grid;
    /// let g = Grid::new(&Vp, &[-4.0, -2.0, 0.0, 2.0])?;
    /// assert_eq!(g.head(2)?.levels(), &g.levels()[..=2]);
    /// assert!(g.head(0).is_err() && g.head(4).is_err());
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn head(&self, end: usize) -> Result<Self> {
        self.slice(0, end)
    }

    fn slice(&self, start: usize, end: usize) -> Result<Self> {
        if !(start < end && end <= self.steps()) {
            return Err(GdfError::OutOfRange {
                what: if start >= self.steps() {
                    "grid start point"
                } else {
                    "grid end point"
                },
                value: if start >= self.steps() { start } else { end } as f64,
                expected: "a point that leaves at least one step of the grid",
            });
        }
        Ok(Self {
            levels: self.levels[start..=end].to_vec(),
            ab: self.ab.clone(),
        })
    }
}

fn check_grid(l: &[f64]) -> Result<()> {
    if l.len() < 2 {
        return Err(GdfError::OutOfRange {
            what: "logsnr grid length",
            value: l.len() as f64,
            expected: "at least 2 points (one step)",
        });
    }
    let n = l.len() - 1;
    for (i, &v) in l.iter().enumerate() {
        let ok =
            v.is_finite() || (i == 0 && v == f64::NEG_INFINITY) || (i == n && v == f64::INFINITY);
        if !ok {
            return Err(GdfError::NonFinite {
                what: "logsnr grid (only the first may be -inf, only the last +inf)",
                index: i,
                value: v,
            });
        }
    }
    for i in 1..=n {
        let tie_ok = i == n && l[i] == l[i - 1];
        if !(l[i] > l[i - 1] || tie_ok) {
            return Err(GdfError::Invalid {
                message: format!(
                    "logsnr grid must increase (noisiest first): grid[{i}] = {} after grid[{}] = {} \
                     (only the last two points may coincide)",
                    l[i],
                    i - 1,
                    l[i - 1]
                ),
            });
        }
    }
    Ok(())
}

/// [`Grid::inverse`]'s rule: at least one step, every value finite, strictly decreasing but
/// for a tie of the last two.
fn check_inverse_grid(l: &[f64]) -> Result<()> {
    if l.len() < 2 {
        return Err(GdfError::OutOfRange {
            what: "logsnr grid length",
            value: l.len() as f64,
            expected: "at least 2 points (one step)",
        });
    }
    if let Some(i) = l.iter().position(|v| !v.is_finite()) {
        return Err(GdfError::NonFinite {
            what: "inversion logsnr grid (every level finite)",
            index: i,
            value: l[i],
        });
    }
    let n = l.len() - 1;
    // The last two may coincide (a zero-length last step: diffusers' trailing inversion).
    if let Some(i) = (1..=n).find(|&i| !(l[i] < l[i - 1] || (i == n && l[i] == l[i - 1]))) {
        return Err(GdfError::Invalid {
            message: format!(
                "an inversion grid must decrease (cleanest first): grid[{i}] = {} after \
                 grid[{}] = {} (only the last two points may coincide)",
                l[i],
                i - 1,
                l[i - 1]
            ),
        });
    }
    Ok(())
}

/// Starts `solver` on `grid` ([`Solver::start`]), refusing an inversion grid for a solver
/// that does not invert. Every run (host, device, the Gaussian reading) starts through it.
pub(crate) fn start_on<S: Solver + ?Sized>(solver: &mut S, grid: &Grid) -> Result<()> {
    if grid.is_inverse() && !solver.inverts() {
        return Err(GdfError::Invalid {
            message: format!(
                "`{}` does not run on an inversion grid (levels toward noise): its update is \
                 a sampler's; invert with DPM-Solver++ multistep (deterministic) or with \
                 pipeline::invert::Inversion (DDIM)",
                solver.name()
            ),
        });
    }
    solver.start(grid)
}

/// A buffer of the sampling loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buf {
    /// The sample `x` (what the run returns).
    X,
    /// A churned copy of `x` (EDM churn), evaluated instead of `x`.
    Stage,
    /// An in-step temporary (Heun's Euler predictor, a midpoint) or UniPC's corrected sample.
    Aux,
}

/// A value a pass reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// A buffer's current value (after the rows before have written it).
    Buf(Buf),
    /// The k-th newest x0-prediction (0 = the one just fed; LMS stores `d` here instead).
    D(u8),
    /// The pass's k-th fresh standard normal draw (k = 0, 1).
    Noise(u8),
}

/// Where a row writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dst {
    /// A buffer.
    Buf(Buf),
    /// Overwrites the newest history entry (`Src::D(0)`).
    D0,
}

/// Most terms one row holds.
pub const MAX_TERMS: usize = 6;

/// One output of a pass: `dst = Σ coef·src`, evaluated element by element.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row {
    /// Where the result goes.
    pub dst: Dst,
    /// The terms (only the first `len` are used).
    pub terms: [(Src, f64); MAX_TERMS],
    /// Number of terms.
    pub len: u8,
}

impl Row {
    /// An empty row writing `dst`.
    pub fn new(dst: Dst) -> Self {
        Self {
            dst,
            terms: [(Src::D(0), 0.0); MAX_TERMS],
            len: 0,
        }
    }

    /// Adds `c·src` (merging a repeated source; a zero coefficient adds nothing).
    ///
    /// # Panics
    /// When a row would hold more than [`MAX_TERMS`] distinct sources (a solver bug).
    pub fn t(mut self, src: Src, c: f64) -> Self {
        if c == 0.0 {
            return self;
        }
        for t in &mut self.terms[..self.len as usize] {
            if t.0 == src {
                t.1 += c;
                return self;
            }
        }
        assert!(
            (self.len as usize) < MAX_TERMS,
            "row overflow (a solver bug)"
        );
        self.terms[self.len as usize] = (src, c);
        self.len += 1;
        self
    }

    /// The used terms.
    pub fn terms(&self) -> &[(Src, f64)] {
        &self.terms[..self.len as usize]
    }
}

/// What a pass does with a noise draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Draw {
    /// Drawn and used (`Src::Noise(k)` for the k-th `Use`).
    Use,
    /// Drawn and thrown away (the reference draws it; keeps recorded noise aligned).
    Skip,
}

/// The noise interval a draw stands for: the draw is the normalised increment
/// `(W(σ_to) − W(σ_from))/sqrt|σ_to − σ_from|` of a Brownian motion `W` in the VE noise level
/// `σ = e^(−λ/2)`, as k-diffusion's SDE samplers draw it (SPEC-solvers §0.6). Set by the SDE
/// solvers ([`DpmPP2MSde`], [`DpmPP3MSde`], [`DpmPPSde`], [`DpmSolverMultistep`]'s SDE
/// variant); [`BrownianNoise`] reads it, other noise sources ignore it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Span {
    /// The level the increment starts at.
    pub from: Level,
    /// The level it ends at.
    pub to: Level,
}

/// A fused pass: up to two rows, run in order per element (a later row sees an earlier row's
/// result), and up to two noise draws, taken in order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pass {
    /// The rows (only the first `nrows`).
    pub rows: [Row; 2],
    /// Number of rows.
    pub nrows: u8,
    /// The draws (only the first `ndraws`).
    pub draws: [Draw; 2],
    /// The Brownian interval of each draw, where the solver declares one (see [`Span`]).
    pub spans: [Option<Span>; 2],
    /// Number of draws.
    pub ndraws: u8,
    /// For an evaluation's `post` pass: the fed prediction overwrites the newest history
    /// entry (`D(0)`) instead of taking the oldest slot, so the older entries keep their
    /// places (PNDM's Runge-Kutta stages, whose predictions are summed elsewhere). Ignored
    /// for a `pre` pass.
    pub replace_newest: bool,
}

impl Default for Pass {
    fn default() -> Self {
        Self {
            rows: [Row::new(Dst::Buf(Buf::X)); 2],
            nrows: 0,
            draws: [Draw::Skip; 2],
            spans: [None; 2],
            ndraws: 0,
            replace_newest: false,
        }
    }
}

impl Pass {
    /// A pass with one row.
    pub fn one(r: Row) -> Self {
        Self::default().row(r)
    }
    /// Adds a row.
    ///
    /// # Panics
    /// On a third row (a solver bug).
    pub fn row(mut self, r: Row) -> Self {
        self.rows[self.nrows as usize] = r;
        self.nrows += 1;
        self
    }
    /// Adds a draw.
    ///
    /// # Panics
    /// On a third draw (a solver bug).
    pub fn draw(mut self, d: Draw) -> Self {
        self.draws[self.ndraws as usize] = d;
        self.ndraws += 1;
        self
    }
    /// Adds a used draw that is the Brownian increment from `from` to `to` (see [`Span`]).
    ///
    /// # Panics
    /// On a third draw (a solver bug).
    pub fn increment(mut self, from: Level, to: Level) -> Self {
        self.spans[self.ndraws as usize] = Some(Span { from, to });
        self.draw(Draw::Use)
    }
    /// The same pass, feeding its prediction over the newest history entry (see
    /// [`Pass::replace_newest`]).
    pub fn replacing_newest(mut self) -> Self {
        self.replace_newest = true;
        self
    }
    /// The used rows.
    pub fn rows(&self) -> &[Row] {
        &self.rows[..self.nrows as usize]
    }
    /// The draws.
    pub fn draws(&self) -> &[Draw] {
        &self.draws[..self.ndraws as usize]
    }
    /// The draws' Brownian intervals (`None` where a draw is plain fresh noise or skipped).
    pub fn spans(&self) -> &[Option<Span>] {
        &self.spans[..self.ndraws as usize]
    }
}

/// One planned model evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Eval {
    /// Run before the evaluation (EDM churn), if any.
    pub pre: Option<Pass>,
    /// The buffer the model sees.
    pub input: Buf,
    /// The level the model is evaluated at.
    pub level: Level,
    /// Run when the x0-prediction comes back (it becomes `Src::D(0)`).
    pub post: Pass,
    /// The step this evaluation belongs to.
    pub step: usize,
    /// Whether `post` finishes the step (`x` is then at level `step + 1`).
    pub completes_step: bool,
    /// The order of the update `post` applies (UniPC: the predictor's), for reports.
    pub order: u8,
}

impl Eval {
    /// A whole step `step` of one evaluation: the model sees `x` at `level`, and `post`
    /// finishes the step (a first-order update).
    pub fn single(step: usize, level: Level, post: Pass) -> Eval {
        Eval::of_order(step, level, post, 1)
    }
    /// A whole step `step` of one evaluation whose update `post` is of order `order` (the
    /// multistep solvers' evaluations): the model sees `x` at `level`.
    pub fn of_order(step: usize, level: Level, post: Pass, order: usize) -> Eval {
        Eval {
            pre: None,
            input: Buf::X,
            level,
            post,
            step,
            completes_step: true,
            order: order as u8,
        }
    }
}

/// A sampler as a planner of fused passes (see the [module](self) docs).
pub trait Solver {
    /// The solver's k-diffusion / diffusers name.
    fn name(&self) -> &'static str;
    /// Checks that the solver can run on `grid` and resets its state.
    fn start(&mut self, grid: &Grid) -> Result<()>;
    /// Plans the next model evaluation, or `None` when the run is complete.
    fn plan(&mut self, grid: &Grid) -> Option<Eval>;
    /// The number of model evaluations a run on `grid` makes.
    fn nfe(&self, grid: &Grid) -> usize;
    /// How many x0-predictions the solver keeps (history ring size, ≥ 1).
    fn history(&self) -> usize {
        1
    }
    /// Whether every step is the plain first-order step (`b_dn = b'`, no noise): Euler,
    /// DDIM(0), deterministic flow Euler. CFG++ is defined on these. Default `false`.
    fn plain_first_order(&self) -> bool {
        false
    }
    /// Whether the solver takes an x0 thresholding stage
    /// ([`Threshold`](crate::pipeline::Threshold)): the solvers whose diffusers counterpart
    /// has `clip_sample` or `thresholding` (DDIM = [`Euler`], DDPM = [`EulerAncestral`],
    /// [`Heun`], DPM-Solver multistep and its k-diffusion forms, [`UniPc`]). Default `false`.
    fn takes_threshold(&self) -> bool {
        false
    }
    /// Whether the solver runs on an inversion grid ([`Grid::inverse`]): its update holds for
    /// steps toward noise as well (deterministic DPM-Solver++ multistep, whose formulas are
    /// in the half-logSNR step `h` of either sign). Default `false`.
    fn inverts(&self) -> bool {
        false
    }
}

impl<S: Solver + ?Sized> Solver for Box<S> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        (**self).start(grid)
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        (**self).plan(grid)
    }
    fn nfe(&self, grid: &Grid) -> usize {
        (**self).nfe(grid)
    }
    fn history(&self) -> usize {
        (**self).history()
    }
    fn plain_first_order(&self) -> bool {
        (**self).plain_first_order()
    }
    fn takes_threshold(&self) -> bool {
        (**self).takes_threshold()
    }
    fn inverts(&self) -> bool {
        (**self).inverts()
    }
}

// ---------------------------------------------------------------------------------------
// Scalar helpers (f64).

/// `φ(h) = 1 − e^(−h)` (SPEC §0.1).
#[inline]
pub fn phi(h: f64) -> f64 {
    -(-h).exp_m1()
}

/// `φ_m(z) = Σ_{j≥0} z^j/(j+m)!` (UniPC's phi functions; `φ_0 = e^z`), by series for
/// `|z| < 1` and by the recursion `φ_{m+1}(z) = (φ_m(z) − 1/m!)/z` otherwise.
pub fn phi_m(m: u32, z: f64) -> f64 {
    if z.abs() < 1.0 {
        // Σ_j z^j / (j+m)!
        let mut fact = 1.0f64;
        for k in 2..=m {
            fact *= k as f64;
        }
        let mut term = 1.0 / fact; // j = 0
        let mut sum = term;
        for j in 1..40 {
            term *= z / (j + m) as f64;
            sum += term;
            if term.abs() < 1e-18 * sum.abs() {
                break;
            }
        }
        sum
    } else {
        let mut v = z.exp();
        let mut fact = 1.0f64; // 0!
        for k in 0..m {
            v = (v - 1.0 / fact) / z;
            fact *= (k + 1) as f64;
        }
        v
    }
}

/// `ψ(h) = 1 − φ(h)/h = h·φ_2(−h)` (→ h/2 as h → 0).
#[inline]
pub fn psi(h: f64) -> f64 {
    h * phi_m(2, -h)
}

/// `χ(h) = ψ(h)/h − 1/2 = −h·φ_3(−h)`.
#[inline]
pub fn chi(h: f64) -> f64 {
    -h * phi_m(3, -h)
}

/// The pass that sets `x = D` (the step to `λ = +∞`, a consistency step).
pub(crate) fn x_is_d0() -> Pass {
    Pass::one(Row::new(Dst::Buf(Buf::X)).t(Src::D(0), 1.0))
}

/// Step `i` of the solvers whose history holds the VE derivative `d = (x/a − D)/σ` (LMS,
/// ComfyUI's iPNDM, tAB-DEIS and gradient estimation): `d_i` over `D_0`, then
/// `x/a` moved to `to` by `x̃' = x̃ + Σ_k c_k·d_{i−k}` (`c` newest first; `order` reported).
pub(crate) fn d_history_step(i: usize, from: Level, to: Level, c: &[f64], order: usize) -> Eval {
    // d_i = (x/a − D)/σ = x/b − D/σ, stored over D_0.
    let r1 = Row::new(Dst::D0)
        .t(Src::Buf(Buf::X), 1.0 / from.b)
        .t(Src::D(0), -1.0 / from.sigma());
    // x' = a'·(x/a + Σ c_k d_k)
    let mut r2 = Row::new(Dst::Buf(Buf::X)).t(Src::Buf(Buf::X), to.a / from.a);
    for (k, &ck) in c.iter().enumerate() {
        r2 = r2.t(Src::D(k as u8), to.a * ck);
    }
    Eval::of_order(i, from, Pass::one(r1).row(r2), order)
}

/// Step `i` while the grid has it (`None` once the run is over): how a solver's `plan` starts.
#[inline]
pub(crate) fn step_of(grid: &Grid, i: usize) -> Option<usize> {
    (i < grid.steps()).then_some(i)
}

/// The step `*step` (as [`step_of`]), counting it taken.
#[inline]
pub(crate) fn next_step(grid: &Grid, step: &mut usize) -> Option<usize> {
    let i = step_of(grid, *step)?;
    *step += 1;
    Some(i)
}

/// The history entry of a prediction `D` of the sample in `input` at level `l`, as the
/// coefficients `(on the sample, on D)`: the noise estimate `ε = (x − a·D)/b`, or with `v` the
/// velocity `v = a·ε − b·D = (a·x − (a² + b²)·D)/b` (PNDM's v-prediction history).
pub(crate) fn entry(l: &Level, v: bool) -> (f64, f64) {
    if v {
        (l.a / l.b, -(l.a * l.a + l.b * l.b) / l.b)
    } else {
        (1.0 / l.b, -l.a / l.b)
    }
}

/// The row writing the history entry ([`entry`]) of the prediction just fed over `D(0)`: the
/// noise-estimate histories of DEIS, PLMS and IPNDM.
pub(crate) fn entry_row(l: &Level, input: Buf, v: bool) -> Row {
    let (cx, cd) = entry(l, v);
    Row::new(Dst::D0).t(Src::Buf(input), cx).t(Src::D(0), cd)
}

/// Half-logSNR step between two levels.
#[inline]
pub(crate) fn half_step(from: &Level, to: &Level) -> f64 {
    0.5 * (to.lam - from.lam)
}

/// First-order step (DDIM η=0 / Euler / DPM-Solver++(1)) from `from` to `to`:
/// `(c_x, c_D)` with `x' = c_x·x + c_D·D`. Exact `(0, 1)` at `λ' = +∞`.
pub(crate) fn fo(from: &Level, to: &Level) -> (f64, f64) {
    if to.lam == f64::INFINITY {
        return (0.0, 1.0);
    }
    let h = half_step(from, to);
    (to.b / from.b, to.a * phi(h))
}

/// k-diffusion's ancestral split in native form for a step `from → to` with `η`:
/// `(κ_dn, κ_up)` with `σ_dn = κ_dn·σ'`, `σ_up = κ_up·σ'` and `κ_dn² + κ_up² = 1`.
pub(crate) fn anc_split(from: &Level, to: &Level, eta: f64) -> (f64, f64) {
    if to.lam == f64::INFINITY {
        return (1.0, 0.0);
    }
    let h = half_step(from, to);
    let up = (eta * phi(2.0 * h).sqrt()).min(1.0);
    let dn = (1.0 - up * up).max(0.0).sqrt();
    (dn, up)
}

/// Ancestral first-order step `from → to` (to σ_dn, then `σ_up` of fresh noise):
/// `(c_x, c_D, c_n)`.
pub(crate) fn anc_fo(from: &Level, to: &Level, eta: f64) -> (f64, f64, f64) {
    if to.lam == f64::INFINITY {
        return (0.0, 1.0, 0.0);
    }
    let (dn, up) = anc_split(from, to, eta);
    if dn == 0.0 {
        return (0.0, to.a, to.b * up);
    }
    let h_dn = half_step(from, to) - dn.ln();
    (to.b * dn / from.b, to.a * phi(h_dn), to.b * up)
}

/// Solves the small dense system `m·x = rhs` (Gaussian elimination, partial pivoting).
pub(crate) fn solve<const N: usize>(mut m: [[f64; N]; N], mut rhs: [f64; N], n: usize) -> [f64; N] {
    for c in 0..n {
        let p = (c..n)
            .max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs()))
            .unwrap_or(c);
        m.swap(c, p);
        rhs.swap(c, p);
        for r in c + 1..n {
            let f = m[r][c] / m[c][c];
            let pivot = m[c];
            for (v, p) in m[r][c..n].iter_mut().zip(&pivot[c..n]) {
                *v -= f * p;
            }
            rhs[r] -= f * rhs[c];
        }
    }
    let mut x = [0.0; N];
    for c in (0..n).rev() {
        let mut s = rhs[c];
        for k in c + 1..n {
            s -= m[c][k] * x[k];
        }
        x[c] = s / m[c][c];
    }
    x
}

// ---------------------------------------------------------------------------------------
// Setting validation (typed errors naming the field and the accepted range).

pub(crate) fn check_nonneg(what: &'static str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(GdfError::OutOfRange {
            what,
            value: v,
            expected: "a finite number >= 0",
        })
    }
}

/// The ancestral noise settings of the stochastic solvers: `eta ≥ 0`, `s_noise > 0`.
pub(crate) fn check_eta_noise(eta: f64, s_noise: f64) -> Result<()> {
    check_nonneg("eta", eta)?;
    check_pos("s_noise", s_noise)
}

pub(crate) fn check_pos(what: &'static str, v: f64) -> Result<()> {
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

pub(crate) fn check_order(what: &'static str, v: usize, max: usize) -> Result<()> {
    if (1..=max).contains(&v) {
        Ok(())
    } else {
        Err(GdfError::OutOfRange {
            what,
            value: v as f64,
            expected: if max == 3 {
                "an order from 1 to 3"
            } else {
                "an order from 1 to 4"
            },
        })
    }
}

/// A multistep solver needs at least two steps.
pub(crate) fn check_min_steps(solver: &'static str, grid: &Grid, min: usize) -> Result<()> {
    if grid.steps() < min {
        return Err(GdfError::Invalid {
            message: format!(
                "{solver} keeps a history of past predictions and needs a grid of at least \
                 {min} steps, got {} (use a first-order solver such as euler)",
                grid.steps()
            ),
        });
    }
    Ok(())
}

/// Solvers whose coefficients blow up at `λ = −∞` (step ratios, Heun/DPM-2 corrections)
/// need a finite first level.
pub(crate) fn check_finite_start(solver: &'static str, grid: &Grid) -> Result<()> {
    let l = grid.level(0).lam;
    if !l.is_finite() {
        return Err(GdfError::Invalid {
            message: format!(
                "{solver} needs a finite first logSNR (its step ratios or correction \
                 coefficients are infinite at -inf), got grid[0] = {l}; clamp the start, e.g. \
                 to -20"
            ),
        });
    }
    Ok(())
}

/// CFG++'s step as a linear guider (SPEC-solvers §8.4): the first-order step of `eval`, from
/// its level to the grid's next one, with `D_λ = α·D_c + β·D_u` in the x0 slot and `D_u` in
/// the noise slot equals the plain first-order step with `D_eff = w₁·D_λ + w₂·D_u`,
/// `w₁ = a'/(a' − a·b'/b)`,
/// `w₂ = 1 − w₁`: the coefficients `(w₁·α, w₁·β + w₂)` on `(c, u)`, which sum to 1 (so they
/// apply to raw outputs too). Errors unless the solver takes plain first-order steps
/// ([`Solver::plain_first_order`]: Euler, deterministic flow Euler), where CFG++ is defined.
pub fn cfgpp_coefficients<S: Solver + ?Sized>(
    solver: &S,
    grid: &Grid,
    eval: &Eval,
    alpha: f64,
    beta: f64,
) -> Result<[f64; 2]> {
    let (at, next) = (eval.level, grid.level((eval.step + 1).min(grid.steps())));
    if !solver.plain_first_order() {
        let solver = solver.name();
        return Err(crate::GdfError::Invalid {
            message: format!(
                "CFG++ renoises inside a first-order (Euler/DDIM) step; `{solver}` is not one \
                 (use the `euler` solver, or another guider)"
            ),
        });
    }
    if next.b == 0.0 {
        return Ok([alpha, beta]); // the last step returns D_λ
    }
    let denom = next.a - at.a * next.b / at.b;
    if denom == 0.0 {
        return Ok([alpha, beta]);
    }
    let w1 = next.a / denom;
    Ok([w1 * alpha, w1 * beta + (1.0 - w1)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phi_m_series_and_recursion_agree() {
        for &z in &[-0.999, -0.5, 0.3, 0.999] {
            for m in 1..5 {
                let s = phi_m(m, z);
                // recursion at the same z
                let mut v = z.exp();
                let mut fact = 1.0;
                for k in 0..m {
                    v = (v - 1.0 / fact) / z;
                    fact *= (k + 1) as f64;
                }
                assert!(
                    (s - v).abs() < 1e-12 * (1.0 + v.abs()),
                    "m={m} z={z}: {s} vs {v}"
                );
            }
        }
        assert_eq!(phi_m(1, f64::NEG_INFINITY), 0.0);
    }

    #[test]
    fn solve_3x3() {
        let x = solve(
            [[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]],
            [3.0, 5.0, 5.0],
            3,
        );
        for (g, w) in x.iter().zip([1.0, 1.0, 1.0]) {
            assert!((g - w).abs() < 1e-14);
        }
    }
}
