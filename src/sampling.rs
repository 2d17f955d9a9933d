//! The sampling builder: a whole sampling run with any [modern solver](crate::solver) and
//! any [guider](crate::guidance), named setting by setting instead of positional arguments.
//!
//! [`Framework::sampling`] starts one; every setting has a default (DPM++ 2M, 20 steps over
//! `t ∈ [1, 0]` of the framework's own schedule, no guidance, seed 0), and
//! [`SamplingBuilder::run`] drives the loop with your [`Model`]: it builds the solver's grid
//! from the framework's schedule and scaler, starts from counter-based standard normal noise
//! (or the given `x_init`), calls the model once per evaluation (on `[x; x]` with
//! `[cond; uncond]` inputs when the guider wants the unconditional branch) and converts the
//! model's raw prediction of the framework's [target](crate::target) inside the solver's fused
//! pass.
//!
//! ```
//! use gdf::prelude::*;
//! use gdf::solver::{AnySolver, UniPc};
//!
//! gdf::gdf!(Flow = schedule: RectifiedFlows, scaler: Lerp, target: X0,
//!           noise_cond: LogSnr, loss_weight: Constant);
//! // x0-predicting model of data that is 0.5 everywhere (a point mass).
//! let model = |_x: &[f64], _c: &[f64], _i: &[f64], pred: &mut [f64]| pred.fill(0.5);
//! let x = Flow::default()
//!     .sampling(3, 2) // 3 samples of 2 elements
//!     .solver(UniPc::new())
//!     .steps(8)
//!     .seed(7)
//!     .run(model)?;
//! // The grid ends at t = 0, where RectifiedFlows' λ is clamped to 15 (σ ≈ 5.5e-4).
//! assert!(x.iter().all(|v| (v - 0.5).abs() < 5e-3));
//! # Ok::<(), gdf::GdfError>(())
//! ```

use crate::error::{check_len, per_sample, GdfError, Result};
use crate::float::Real;
use crate::framework::Framework;
use crate::guidance::{ClassifierFree, DynGuidance, Guidance, Layout};
use crate::noise::Purpose;
use crate::noise_cond::NoiseCond;
use crate::sample::{call_model, check_predictions, Model};
use crate::solver::{
    AnySolver, BrownianNoise, CounterNoise, DpmPP2M, Grid, Level, NoiseSource, Run, Solver,
};

/// Where a run is, as reported to [`SamplingBuilder::on_eval`] after every model evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Model evaluations done (1-based: 1 after the first).
    pub evals: usize,
    /// Evaluations the whole run takes.
    pub total_evals: usize,
    /// Steps completed.
    pub steps_done: usize,
    /// Steps of the grid.
    pub steps: usize,
    /// The level the last evaluation was at.
    pub level: Level,
    /// Whether the last evaluation called the model on the unconditional branch too.
    pub guided: bool,
}

/// Guidance as set on the builder.
#[derive(Clone, Debug)]
enum GuideSetting {
    Off,
    /// Plain CFG at this scale.
    Cfg(f64),
    Guider(DynGuidance),
}

/// A sampling run being set up; made by [`Framework::sampling`], run by
/// [`run`](SamplingBuilder::run). See the [module](self) for an example.
pub struct SamplingBuilder<'a, G, F> {
    gdf: &'a G,
    batch: usize,
    per: usize,
    solver: AnySolver,
    steps: usize,
    t_start: f64,
    t_end: f64,
    shift: f64,
    grid: Option<Grid>,
    cond: &'a [F],
    uncond: Option<&'a [F]>,
    guide: GuideSetting,
    layout: Option<Layout>,
    seed: u64,
    first_sample: u32,
    brownian: bool,
    x_init: Option<&'a [F]>,
    check_predictions: bool,
    #[allow(clippy::type_complexity)]
    on_eval: Option<Box<dyn FnMut(&Progress) + 'a>>,
}

impl<G: core::fmt::Debug, F> core::fmt::Debug for SamplingBuilder<'_, G, F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SamplingBuilder")
            .field("framework", self.gdf)
            .field("batch", &self.batch)
            .field("per", &self.per)
            .field("solver", &self.solver.name())
            .field("steps", &self.steps)
            .field("t", &(self.t_start, self.t_end))
            .field("shift", &self.shift)
            .field("guidance", &self.guide)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl<'a, G: Framework, F: Real> SamplingBuilder<'a, G, F> {
    pub(crate) fn new(gdf: &'a G, batch: usize, per: usize) -> Self {
        Self {
            gdf,
            batch,
            per,
            solver: AnySolver::DpmPP2M(DpmPP2M::new()),
            steps: 20,
            t_start: 1.0,
            t_end: 0.0,
            shift: 1.0,
            grid: None,
            cond: &[],
            uncond: None,
            guide: GuideSetting::Off,
            layout: None,
            seed: 0,
            first_sample: 0,
            brownian: false,
            x_init: None,
            check_predictions: false,
            on_eval: None,
        }
    }

    /// The solver (default DPM++ 2M): any of [`crate::solver`], or an [`AnySolver`] chosen by
    /// name ([`AnySolver::from_name`]).
    pub fn solver(mut self, solver: impl Into<AnySolver>) -> Self {
        self.solver = solver.into();
        self
    }

    /// Steps of the grid (default 20), spaced as [`crate::sample::sampling_grid`] spaces them
    /// over the framework's schedule.
    pub fn steps(mut self, steps: usize) -> Self {
        self.steps = steps;
        self
    }

    /// The grid's `t` range (default `1 → 0`; `t_start > t_end`).
    pub fn t_range(mut self, t_start: f64, t_end: f64) -> Self {
        (self.t_start, self.t_end) = (t_start, t_end);
        self
    }

    /// Schedule shift of the grid (default 1).
    pub fn shift(mut self, shift: f64) -> Self {
        self.shift = shift;
        self
    }

    /// An explicit grid ([`crate::grid`] spacings: Karras, exponential, diffusers' discrete
    /// spacings, …) instead of `steps`/`t_range`/`shift` over the framework's schedule.
    pub fn grid(mut self, grid: Grid) -> Self {
        self.grid = Some(grid);
        self
    }

    /// Conditional model inputs, `batch·m` values (`m` per sample; default none).
    pub fn cond(mut self, cond: &'a [F]) -> Self {
        self.cond = cond;
        self
    }

    /// Unconditional model inputs (same length as `cond`; zeros by default).
    pub fn uncond(mut self, uncond: &'a [F]) -> Self {
        self.uncond = Some(uncond);
        self
    }

    /// Classifier-free guidance at `scale` on every step. For the rescale, a window or an
    /// interval, give a [`ClassifierFree`] to [`guidance`](Self::guidance).
    pub fn cfg(mut self, scale: f64) -> Self {
        self.guide = GuideSetting::Cfg(scale);
        self
    }

    /// Any guider of [`crate::guidance`] (APG, CFG-Zero*, CFG++, windows, intervals, …).
    pub fn guidance(mut self, guider: impl Into<DynGuidance>) -> Self {
        self.guide = GuideSetting::Guider(guider.into());
        self
    }

    /// The sample shape the guider's norms see (default: flat, `per` elements).
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = Some(layout);
        self
    }

    /// Seed of the initial noise and the stochastic solvers' noise (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Counter index of the batch's first sample (default 0): sample `s` of this batch draws
    /// what sample `first_sample + s` of a larger batch would. `first_sample + batch` must not
    /// pass `2^32` ([`run`](Self::run) refuses it, naming `first_sample`).
    pub fn first_sample(mut self, first: u32) -> Self {
        self.first_sample = first;
        self
    }

    /// Draw the SDE solvers' noise from a Brownian tree over the grid's noise levels
    /// ([`BrownianNoise::for_grid`]) instead of fresh normals per step (default off): the same
    /// seed then follows one SDE path at any step count. Only for the solvers whose draws are
    /// Brownian increments (DPM++ 2M SDE, 3M SDE, DPM++ SDE, SDE-DPM-Solver++); an ancestral
    /// solver's run stops with an error naming the step.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// use gdf::solver::DpmPP2MSde;
    ///
    /// gdf::gdf!(Vp = schedule: Cosine, scaler: Vp, target: X0,
    ///           noise_cond: LogSnr, loss_weight: Constant);
    /// let model = |_x: &[f64], _c: &[f64], _i: &[f64], pred: &mut [f64]| pred.fill(0.5);
    /// let x = Vp::default().sampling(1, 4).solver(DpmPP2MSde::new()).brownian(true).run(model)?;
    /// assert!(x.iter().all(|v| (v - 0.5).abs() < 0.05));
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn brownian(mut self, on: bool) -> Self {
        self.brownian = on;
        self
    }

    /// The initial `x` (`batch·per` values in the scaler's space at the grid's first level)
    /// instead of standard normal noise.
    pub fn x_init(mut self, x: &'a [F]) -> Self {
        self.x_init = Some(x);
        self
    }

    /// Check every model output for NaN/∞ and stop with [`GdfError::ModelOutput`] (see
    /// [`crate::sample::SampleOpts::check_predictions`]). Default off.
    pub fn check_predictions(mut self, on: bool) -> Self {
        self.check_predictions = on;
        self
    }

    /// Called after every model evaluation (a progress bar, logging).
    pub fn on_eval(mut self, f: impl FnMut(&Progress) + 'a) -> Self {
        self.on_eval = Some(Box::new(f));
        self
    }

    /// The grid the run will use.
    ///
    /// Errors: as [`Grid::from_schedule`] (zero steps, a training-only schedule, a bad `t`
    /// range or shift).
    pub fn build_grid(&self) -> Result<Grid> {
        match &self.grid {
            Some(g) => Ok(g.clone()),
            None => Grid::from_schedule(
                self.gdf.schedule(),
                self.gdf.scaler(),
                self.steps,
                self.t_start,
                self.t_end,
                self.shift,
            ),
        }
    }

    /// Runs the whole loop and returns the final samples (`batch·per` values).
    ///
    /// Errors: the lengths of `cond`, `uncond` and `x_init`; the grid (see
    /// [`build_grid`](Self::build_grid)); a guidance scale that is not finite; the model's
    /// own errors ([`GdfError::Model`]) and, with
    /// [`check_predictions`](Self::check_predictions), its non-finite outputs.
    pub fn run<M: Model<F>>(mut self, mut model: M) -> Result<Vec<F>> {
        let (batch, per) = (self.batch, self.per);
        let total = batch.checked_mul(per).ok_or(GdfError::OutOfRange {
            what: "batch × per",
            value: batch as f64 * per as f64,
            expected: "a sample count that fits in memory (usize)",
        })?;
        per_sample("batch × per", total, batch)?;
        let n = total;
        let m = if self.cond.is_empty() {
            0
        } else {
            per_sample("cond", self.cond.len(), batch)?
        };
        if let Some(u) = self.uncond {
            check_len("uncond", self.cond.len(), u.len())?;
        }
        crate::noise::check_sample_counters(self.first_sample, batch)?;
        self.gdf.noise_cond().check()?;
        let grid = self.build_grid()?;
        let steps = grid.steps();
        let mut guider = match std::mem::replace(&mut self.guide, GuideSetting::Off) {
            GuideSetting::Off => None,
            GuideSetting::Cfg(w) => Some(DynGuidance::Cfg(ClassifierFree::new(w)?)),
            GuideSetting::Guider(g) => Some(g),
        };
        if let Some(g) = &mut guider {
            g.reset();
        }
        let layout = match self.layout.take() {
            Some(l) => {
                check_len("layout", n, l.len())?;
                l
            }
            None => Layout::flat(batch, per)?,
        };
        let x = match self.x_init {
            Some(init) => {
                check_len("x_init", n, init.len())?;
                init.to_vec()
            }
            None => {
                let mut x = vec![F::zero(); n];
                for (b, xs) in x.chunks_mut(per).enumerate() {
                    F::fill_normal(
                        self.seed,
                        Purpose::Init,
                        self.first_sample.wrapping_add(b as u32),
                        0,
                        0,
                        xs,
                    );
                }
                x
            }
        };
        let mut noise: Box<dyn NoiseSource<F>> = if self.brownian {
            Box::new(BrownianNoise::for_grid(self.seed, &grid)?.first_sample(self.first_sample))
        } else {
            Box::new(CounterNoise {
                seed: self.seed,
                first_sample: self.first_sample,
            })
        };
        let mut run = Run::new(self.solver.clone(), grid, x, batch, &mut *noise)?;
        let total = run.total_evals();
        // Model-call buffers: [x; x], [c; c], [cond; uncond], [out_c; out_u].
        let mut xx = vec![F::zero(); 2 * n];
        let mut nc = vec![F::zero(); 2 * batch];
        let mut inputs = Vec::with_capacity(2 * self.cond.len());
        inputs.extend_from_slice(self.cond);
        match self.uncond {
            Some(u) => inputs.extend_from_slice(u),
            None => inputs.resize(2 * self.cond.len(), F::zero()),
        }
        let mut out = vec![F::zero(); 2 * n];
        let target = self.gdf.target().clone();
        let noise_cond = self.gdf.noise_cond();
        while let Some(req) = run.next_eval()? {
            let (level, index) = (req.level, req.index);
            xx[..n].copy_from_slice(req.x);
            let c = noise_cond.noise_cond(F::of(level.lam));
            let needs_uncond = match &mut guider {
                None => false,
                Some(g) => g.needs_uncond(&run.guidance_ctx()?)?,
            };
            let mb = if needs_uncond { 2 * batch } else { batch };
            nc[..mb].fill(c);
            if needs_uncond {
                let (a, b) = xx.split_at_mut(n);
                b.copy_from_slice(a);
            }
            call_model(
                &mut model,
                index,
                &xx[..mb * per],
                &nc[..mb],
                &inputs[..mb * m],
                &mut out[..mb * per],
            )?;
            if self.check_predictions {
                check_predictions(&out[..mb * per], index, batch, per)?;
            }
            let (oc, ou) = out.split_at(n);
            match &mut guider {
                None => run.feed(&target, oc)?,
                Some(g) => run.feed_guided(g, &layout, &target, oc, needs_uncond.then_some(ou))?,
            };
            if let Some(f) = &mut self.on_eval {
                f(&Progress {
                    evals: run.evals_done(),
                    total_evals: total,
                    steps_done: run.steps_done(),
                    steps,
                    level,
                    guided: needs_uncond,
                });
            }
        }
        Ok(run.into_x())
    }
}
