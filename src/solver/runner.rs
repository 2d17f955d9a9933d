//! The host sampling loop over an explicit logSNR grid: a step iterator the caller drives.

use crate::error::{check_finite, check_len, per_sample, GdfError, Result};
use crate::float::Real;
use crate::guidance::{Guidance, Layout, Space, StepCtx};
use crate::guide::formula as guide;
use crate::noise::Purpose;
use crate::par::{Jobs, RawMut};
use crate::pipeline::{formula as pipe, Inpaint, Threshold};
use crate::sample::Rescale;
use crate::target::Target;
use std::sync::Mutex;

use super::{Buf, Draw, Dst, Eval, Grid, Level, Pass, Solver, Span, Src};

/// Where a solver's fresh standard normals come from.
///
/// Draws are numbered in call order over the run (`draw` = 0, 1, …), as the reference codes
/// draw them; a draw is requested sample by sample, in chunks.
pub trait NoiseSource<F: Real>: Sync {
    /// Fills `out` with the normals of elements `offset..offset + out.len()` of sample
    /// `sample` for draw number `draw`, made during step `step`.
    fn fill(
        &self,
        draw: usize,
        step: usize,
        sample: usize,
        offset: usize,
        out: &mut [F],
    ) -> Result<()>;
    /// Called once per draw, used or skipped, before any `fill` of it. An error stops the run
    /// (a source that cannot serve the draw, e.g. [`BrownianNoise`](super::BrownianNoise) for
    /// a draw that is not a Brownian increment).
    fn on_draw(&mut self, _info: DrawInfo) -> Result<()> {
        Ok(())
    }
}

/// A draw as the solver declares it, given to [`NoiseSource::on_draw`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DrawInfo {
    /// The draw's number over the run (0, 1, …).
    pub draw: usize,
    /// The step it is made in.
    pub step: usize,
    /// Whether the pass uses it (`false`: drawn and thrown away, as the reference does).
    pub used: bool,
    /// The Brownian interval it stands for, where the solver declares one.
    pub span: Option<Span>,
}

impl<F: Real, N: NoiseSource<F> + ?Sized> NoiseSource<F> for &mut N {
    fn fill(
        &self,
        draw: usize,
        step: usize,
        sample: usize,
        offset: usize,
        out: &mut [F],
    ) -> Result<()> {
        (**self).fill(draw, step, sample, offset, out)
    }
    fn on_draw(&mut self, info: DrawInfo) -> Result<()> {
        (**self).on_draw(info)
    }
}

/// Counter-based noise (Philox, [`crate::noise`]): draw `k` of sample `s` is the stream
/// `(seed, Purpose::Sampler, first_sample + s, k)`, so results do not depend on chunking,
/// threads or where the batch sits in a larger one.
#[derive(Clone, Copy, Debug)]
pub struct CounterNoise {
    /// The seed.
    pub seed: u64,
    /// Counter index of the batch's first sample (0 unless the batch is part of a larger one).
    /// `first_sample + b` must fit in a `u32` for every sample `b` (a draw past it is
    /// refused with [`GdfError::OutOfRange`](crate::GdfError::OutOfRange) naming
    /// `first_sample`).
    pub first_sample: u32,
}

impl CounterNoise {
    /// Noise from `seed`, the batch's first sample at counter index 0.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            first_sample: 0,
        }
    }
}

impl<F: Real> NoiseSource<F> for CounterNoise {
    fn fill(
        &self,
        draw: usize,
        _step: usize,
        sample: usize,
        offset: usize,
        out: &mut [F],
    ) -> Result<()> {
        crate::noise::check_sample_counters(self.first_sample, sample + 1)?;
        F::fill_normal(
            self.seed,
            Purpose::Sampler,
            self.first_sample.wrapping_add(sample as u32),
            draw as u32,
            offset as u64,
            out,
        );
        Ok(())
    }
}

/// Recorded noise: draw `k` is `data[k·n .. (k+1)·n]` (`n` = batch × elements per sample), as
/// the golden files store it.
#[derive(Clone, Copy, Debug)]
pub struct RecordedNoise<'a, F> {
    data: &'a [F],
    per_sample: usize,
    n: usize,
}

impl<'a, F: Real> RecordedNoise<'a, F> {
    /// Draws of `n` elements each (`n` = batch × per_sample), sample-major.
    pub fn new(data: &'a [F], n: usize, per_sample: usize) -> Self {
        Self {
            data,
            per_sample,
            n,
        }
    }
}

impl<F: Real> NoiseSource<F> for RecordedNoise<'_, F> {
    fn fill(
        &self,
        draw: usize,
        _step: usize,
        sample: usize,
        offset: usize,
        out: &mut [F],
    ) -> Result<()> {
        let start = draw
            .checked_mul(self.n)
            .and_then(|d| {
                sample
                    .checked_mul(self.per_sample)
                    .and_then(|s| d.checked_add(s))
            })
            .and_then(|s| s.checked_add(offset));
        let range = start.and_then(|s| Some(s..s.checked_add(out.len())?));
        match range.and_then(|r| self.data.get(r)) {
            Some(src) => {
                check_finite("recorded noise", src)?;
                out.copy_from_slice(src);
                Ok(())
            }
            None => Err(GdfError::Invalid {
                message: format!(
                    "recorded noise holds {} draws of {} elements; the solver asked for draw {}",
                    self.data.len() / self.n.max(1),
                    self.n,
                    draw + 1
                ),
            }),
        }
    }
}

/// No noise: for deterministic solvers. A solver that draws gets an error.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoNoise;

impl<F: Real> NoiseSource<F> for NoNoise {
    fn fill(&self, draw: usize, step: usize, _: usize, _: usize, _: &mut [F]) -> Result<()> {
        Err(GdfError::Invalid {
            message: format!(
                "the solver draws noise (draw {draw} at step {step}) but the run has NoNoise; \
                 give it a CounterNoise or RecordedNoise"
            ),
        })
    }
}

/// What the model must evaluate next.
#[derive(Debug)]
pub struct EvalRequest<'r, F> {
    /// The model's input (the native sample at `level`), batch-major.
    pub x: &'r [F],
    /// The level to evaluate at (the same for every sample).
    pub level: Level,
    /// The step this evaluation belongs to.
    pub step: usize,
    /// The evaluation's number (0-based).
    pub index: usize,
}

/// A sampling run: the caller drives it evaluation by evaluation.
///
/// ```
/// use gdf::scaler::Vp;
/// use gdf::solver::{Grid, Heun, NoNoise, Run};
///
/// let grid = Grid::new(&Vp, &[-4.0, 0.0, 4.0, f64::INFINITY])?;
/// let mut run = Run::new(Heun::new(), grid, vec![0.7f32, -0.2], 2, NoNoise)?;
/// assert_eq!(run.remaining_evals(), 5); // 2 per step, 1 on the step to λ = +∞
/// // A point-mass model: x0 = 0.25 whatever the input.
/// let d = vec![0.25f32; 2];
/// while let Some(req) = run.next_eval()? {
///     assert_eq!(req.x.len(), 2);
///     run.feed_x0(&d)?;
/// }
/// assert_eq!(run.x(), &[0.25, 0.25]);
/// # Ok::<(), gdf::GdfError>(())
/// ```
pub struct Run<F: Real, S: Solver, N: NoiseSource<F>> {
    solver: S,
    grid: Grid,
    noise: N,
    batch: usize,
    per: usize,
    x: Vec<F>,
    stage: Vec<F>,
    aux: Vec<F>,
    hist: Vec<Vec<F>>,
    head: usize,
    pending: Option<Eval>,
    pre_done: bool,
    evals: usize,
    total: usize,
    draws: usize,
    steps_done: usize,
    poisoned: bool,
    partials: Vec<[f64; 4]>,
    factor: Vec<F>,
    /// Scratch of [`Run::feed_guided`]: the guided prediction, and the x0-predictions of both
    /// branches for guiders that act on x0 (allocated on first use, then reused).
    guided: [Vec<F>; 3],
    /// The x0 stage ([`Run::set_threshold`]).
    threshold: Threshold,
    /// Dynamic thresholding's scratch: the batch's x0, a selection buffer, the scales.
    x0: [Vec<F>; 3],
    /// The inpainting blend ([`Run::set_inpaint`]).
    inpaint: Option<Inpaint<F>>,
}

/// Elements per chunk of a job (the chunk's sources stay in L1).
const CHUNK: usize = 256;
const NSLOTS: usize = 9;
const SLOT_D0: usize = 3;

fn slot_of_buf(b: Buf) -> usize {
    match b {
        Buf::X => 0,
        Buf::Stage => 1,
        Buf::Aux => 2,
    }
}

fn slot_of_src(s: Src) -> usize {
    match s {
        Src::Buf(b) => slot_of_buf(b),
        Src::D(k) => SLOT_D0 + k as usize,
        Src::Noise(k) => 7 + k as usize,
    }
}

fn slot_of_dst(d: Dst) -> usize {
    match d {
        Dst::Buf(b) => slot_of_buf(b),
        Dst::D0 => SLOT_D0,
    }
}

impl<F: Real, S: Solver, N: NoiseSource<F>> Run<F, S, N> {
    /// Starts a run of `solver` on `grid` from `x_init` (`batch` samples, batch-major, in the
    /// grid's scaler space at `λ_0`), with `noise` for the stochastic solvers.
    pub fn new(mut solver: S, grid: Grid, x_init: Vec<F>, batch: usize, noise: N) -> Result<Self> {
        let per = per_sample("x_init", x_init.len(), batch)?;
        check_finite("x_init", &x_init)?;
        super::start_on(&mut solver, &grid)?;
        let depth = solver.history().clamp(1, 4);
        let n = x_init.len();
        let total = solver.nfe(&grid);
        Ok(Self {
            solver,
            grid,
            noise,
            batch,
            per,
            x: x_init,
            stage: Vec::new(),
            aux: Vec::new(),
            hist: (0..depth).map(|_| vec![F::zero(); n]).collect(),
            head: 0,
            pending: None,
            pre_done: false,
            evals: 0,
            total,
            draws: 0,
            steps_done: 0,
            poisoned: false,
            partials: Vec::new(),
            factor: Vec::new(),
            guided: [Vec::new(), Vec::new(), Vec::new()],
            threshold: Threshold::None,
            x0: [Vec::new(), Vec::new(), Vec::new()],
            inpaint: None,
        })
    }

    /// Thresholds every x0-prediction before the solver's update from now on (diffusers'
    /// `clip_sample` / `thresholding`; [`Threshold::None`] turns it off). The stage runs inside
    /// the fused pass (clipping) or after one read-only selection pass per sample (dynamic
    /// thresholding's quantile).
    ///
    /// Errors: invalid settings; a solver whose diffusers counterpart has no thresholding
    /// ([`Solver::takes_threshold`]).
    ///
    /// ```
    /// use gdf::pipeline::Threshold;
    /// use gdf::scaler::Vp;
    /// use gdf::solver::{Dpm2, Grid, NoNoise, Run, DpmSolverMultistep};
    ///
    /// let grid = Grid::new(&Vp, &[-2.0, 0.0, f64::INFINITY])?;
    /// let mut run = Run::new(DpmSolverMultistep::new(), grid.clone(), vec![0.5f64; 2], 1, NoNoise)?;
    /// run.set_threshold(Threshold::clip(1.0)?)?;
    /// let x = run.run(|_, _, d| { d.copy_from_slice(&[2.0, -0.5]); Ok(()) })?;
    /// assert_eq!(x, [1.0, -0.5]); // the last step returns the clipped x0
    /// let mut dpm2 = Run::new(Dpm2::new(), grid, vec![0.5f64; 2], 1, NoNoise)?;
    /// assert!(dpm2.set_threshold(Threshold::clip(1.0)?).is_err()); // KDPM2 has no clip_sample
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn set_threshold(&mut self, threshold: Threshold) -> Result<()> {
        threshold.validate()?;
        if !threshold.is_none() && !self.solver.takes_threshold() {
            return Err(threshold_refused(self.solver.name(), threshold));
        }
        self.threshold = threshold;
        Ok(())
    }

    /// The x0 stage.
    pub fn threshold(&self) -> Threshold {
        self.threshold
    }

    /// Inpaints from now on: after every step the known region is re-noised to the step's
    /// new level with the fixed ε and blended by the mask (see [`Inpaint`]), inside the pass
    /// that finishes the step. `None` turns it off.
    ///
    /// Errors: an `Inpaint` whose batch or length is not the run's.
    ///
    /// ```
    /// use gdf::pipeline::Inpaint;
    /// use gdf::scaler::Vp;
    /// use gdf::solver::{Euler, Grid, NoNoise, Run};
    ///
    /// let grid = Grid::new(&Vp, &[-2.0, 0.0, 2.0])?;
    /// let mut run = Run::new(Euler::new(), grid, vec![0.1f64, 0.2], 1, NoNoise)?;
    /// run.set_inpaint(Some(Inpaint::new(vec![5.0, 5.0], vec![0.0, 0.0], vec![0.0, 1.0], 1)?))?;
    /// let x = run.run(|_, _, d| { d.fill(0.0); Ok(()) })?;
    /// assert_eq!(x[0], 5.0); // kept (blended in clean after the last step)
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn set_inpaint(&mut self, inpaint: impl Into<Option<Inpaint<F>>>) -> Result<()> {
        let inpaint = inpaint.into();
        if let Some(p) = &inpaint {
            check_len("inpaint known image", self.x.len(), p.known().len())?;
            if p.batch() != self.batch {
                return Err(GdfError::LengthMismatch {
                    what: "inpaint batch",
                    expected: self.batch,
                    got: p.batch(),
                });
            }
        }
        self.inpaint = inpaint;
        Ok(())
    }

    /// The sample, mutable (half-precision storage rounds it between steps).
    pub(crate) fn x_mut(&mut self) -> &mut [F] {
        &mut self.x
    }

    /// The current sample (at the level of the last finished step).
    pub fn x(&self) -> &[F] {
        &self.x
    }

    /// The auxiliary buffer: UniPC's last corrected sample (`x_corrected`), Heun's Euler
    /// predictor, a midpoint; empty before a solver first writes it.
    pub fn aux(&self) -> &[F] {
        &self.aux
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The solver.
    pub fn solver(&self) -> &S {
        &self.solver
    }

    /// Finished steps.
    pub fn steps_done(&self) -> usize {
        self.steps_done
    }

    /// Model evaluations made so far.
    pub fn evals_done(&self) -> usize {
        self.evals
    }

    /// Model evaluations the whole run makes.
    pub fn total_evals(&self) -> usize {
        self.total
    }

    /// Model evaluations still to make (for a progress bar).
    pub fn remaining_evals(&self) -> usize {
        self.total.saturating_sub(self.evals)
    }

    /// Noise draws made so far (used or skipped).
    pub fn draws(&self) -> usize {
        self.draws
    }

    /// Consumes the run, returning the sample.
    pub fn into_x(self) -> Vec<F> {
        self.x
    }

    fn poisoned(&self) -> Result<()> {
        if self.poisoned {
            Err(GdfError::Invalid {
                message: "the run failed earlier (a non-finite model output or a noise error); start a new run"
                    .into(),
            })
        } else {
            Ok(())
        }
    }

    /// The next model evaluation, or `None` when the run is complete. Calling it again
    /// before [`feed_x0`](Self::feed_x0) returns the same request.
    pub fn next_eval(&mut self) -> Result<Option<EvalRequest<'_, F>>> {
        self.poisoned()?;
        if self.pending.is_none() {
            match self.solver.plan(&self.grid) {
                None => return Ok(None),
                Some(e) => {
                    self.pending = Some(e);
                    self.pre_done = false;
                }
            }
        }
        let e = self.pending.expect("pending eval");
        if !self.pre_done {
            if let Some(pre) = e.pre {
                if let Err(err) = self.exec(&pre, e.step, None::<(Buf, fn(&[F], usize, &mut [F]))>)
                {
                    self.poisoned = true;
                    return Err(err);
                }
            }
            self.pre_done = true;
        }
        Ok(Some(EvalRequest {
            x: self.buf(e.input),
            level: e.level,
            step: e.step,
            index: self.evals,
        }))
    }

    /// The pending evaluation's plan (after [`next_eval`](Self::next_eval)).
    pub fn pending(&self) -> Option<&Eval> {
        self.pending.as_ref()
    }

    fn buf(&self, b: Buf) -> &[F] {
        match b {
            Buf::X => &self.x,
            Buf::Stage => &self.stage,
            Buf::Aux => &self.aux,
        }
    }

    /// Feeds the model's x0-prediction `d` for the pending evaluation and runs the fused
    /// update. Returns `Some(i)` when this finished step `i`.
    pub fn feed_x0(&mut self, d: &[F]) -> Result<Option<usize>> {
        check_len("model output", self.x.len(), d.len())?;
        self.feed_with(move |_: &[F], j: usize, out: &mut [F]| {
            out.copy_from_slice(&d[j..j + out.len()])
        })
    }

    /// Feeds a raw prediction `pred` of `target` (ε, v, x0, RF velocity), converted to x0 at
    /// the pending level inside the same pass. Errors: wrong length, no pending evaluation,
    /// and a target that gives no x0 at the level (ε at pure noise, λ = −∞), named with the
    /// level rather than blamed on the model's output.
    pub fn feed<T: Target + Sync>(&mut self, target: &T, pred: &[F]) -> Result<Option<usize>> {
        check_len("model output", self.x.len(), pred.len())?;
        let (a, b) = self.pending_ab(target)?;
        self.feed_with(move |x: &[F], j: usize, out: &mut [F]| {
            let p = &pred[j..j + out.len()];
            for ((o, &x), &p) in out.iter_mut().zip(x).zip(p) {
                *o = target.x0(x, p, a, b);
            }
        })
    }

    /// Feeds a conditional and an unconditional raw prediction of `target` with classifier-free
    /// guidance `u + w·(c − u)` (linear, so it is the same on the raw output and on x0), all in
    /// the same pass. Errors: a non-finite `w`, wrong lengths, no pending evaluation.
    pub fn feed_cfg<T: Target + Sync>(
        &mut self,
        target: &T,
        cond: &[F],
        uncond: &[F],
        w: f64,
    ) -> Result<Option<usize>> {
        check_guidance_scale(w)?;
        check_len("conditional output", self.x.len(), cond.len())?;
        check_len("unconditional output", self.x.len(), uncond.len())?;
        let (a, b) = self.pending_ab(target)?;
        let w = F::of(w);
        self.feed_with(move |x: &[F], j: usize, out: &mut [F]| {
            let (c, u) = (&cond[j..j + out.len()], &uncond[j..j + out.len()]);
            for (((o, &x), &c), &u) in out.iter_mut().zip(x).zip(c).zip(u) {
                *o = target.x0(x, guide::cfg(c, u, w), a, b);
            }
        })
    }

    /// [`feed_cfg`](Self::feed_cfg) with CFG rescale (Lin et al. 2023; GDF's `cfg_rho`,
    /// diffusers' `guidance_rescale`) on the raw prediction: with `g = u + w·(c − u)` and
    /// `k = std(c)/std(g)` (over the batch tensor or per sample, as `how` says),
    /// the prediction is `φ·k·g + (1 − φ)·g`. One read-only reduction pass, then the fused
    /// pass. `phi` must lie in `[0, 1]` (0 = plain CFG) and `w` be finite.
    pub fn feed_cfg_rescaled<T: Target + Sync>(
        &mut self,
        target: &T,
        cond: &[F],
        uncond: &[F],
        w: f64,
        phi: f64,
        how: Rescale,
    ) -> Result<Option<usize>> {
        check_guidance_scale(w)?;
        if !(0.0..=1.0).contains(&phi) {
            return Err(GdfError::OutOfRange {
                what: "phi (guidance rescale)",
                value: phi,
                expected: "a rescale strength in [0, 1] (0 = no rescale, 0.7 suggested), as \
                           cfg_rho and the guiders' guidance_rescale",
            });
        }
        if phi == 0.0 {
            return self.feed_cfg(target, cond, uncond, w);
        }
        let n = self.x.len();
        check_len("conditional output", n, cond.len())?;
        check_len("unconditional output", n, uncond.len())?;
        let (a, b) = self.pending_ab(target)?;
        let (batch, per) = (self.batch, self.per);
        let jobs = Jobs::new(batch, per);
        let wf = F::of(w);
        self.partials.resize(jobs.count(), [0.0; 4]);
        jobs.map(&mut self.partials, |_, s, e| {
            F::moments(&cond[s..e], &uncond[s..e], wf)
        });
        let rho = F::of(phi);
        let mut factor = std::mem::take(&mut self.factor);
        factor.resize(batch, F::zero());
        crate::sample::rescale_factors(&self.partials, &mut factor, how, rho, jobs);
        let keep = F::one() - rho;
        let r = {
            let factor = &factor;
            self.feed_with(move |x: &[F], j: usize, out: &mut [F]| {
                let f = factor[j / per];
                let (c, u) = (&cond[j..j + out.len()], &uncond[j..j + out.len()]);
                for (((o, &x), &c), &u) in out.iter_mut().zip(x).zip(c).zip(u) {
                    let p = guide::cfg(c, u, wf);
                    *o = target.x0(x, guide::rescaled(p, f, keep), a, b);
                }
            })
        };
        self.factor = factor;
        r
    }

    /// The guidance context of the pending evaluation: its step, the grid's step count and
    /// the λ it is evaluated at (what a guider's window and interval test).
    pub fn guidance_ctx(&self) -> Result<StepCtx> {
        let e = self.pending.ok_or_else(|| GdfError::Invalid {
            message: "no pending evaluation (call next_eval first)".into(),
        })?;
        StepCtx::new(e.step, self.grid.steps())?.at(e.level.lam)
    }

    /// Feeds the conditional output `cond` and the unconditional (or, for autoguidance, the
    /// weaker model's) output `uncond` of `target` through `guider` (see [`crate::guidance`]),
    /// then runs the fused update. A guider acting on x0 ([`Space::X0`]) sees both branches'
    /// x0-predictions; the others see the raw outputs. `uncond` may be `None` where
    /// [`Guidance::needs_uncond`] is false at [`guidance_ctx`](Self::guidance_ctx) (skip that
    /// model call). `layout` describes a sample's shape for the guider's norms; its length
    /// must be the run's.
    ///
    /// Errors: as [`Guidance::guide`] and [`feed`](Self::feed).
    ///
    /// ```
    /// use gdf::guidance::{ClassifierFree, Guidance, Layout};
    /// use gdf::scaler::Vp;
    /// use gdf::solver::{Grid, NoNoise, Run, DpmPP2M};
    /// use gdf::target::X0;
    ///
    /// let grid = Grid::new(&Vp, &[-4.0, 0.0, 4.0, f64::INFINITY])?;
    /// let mut run = Run::new(DpmPP2M::new(), grid, vec![0.1f64; 4], 2, NoNoise)?;
    /// let mut cfg = ClassifierFree::new(3.0)?;
    /// let layout = Layout::new(2, &[2])?;
    /// while run.next_eval()?.is_some() {
    ///     let ctx = run.guidance_ctx()?;
    ///     let (c, u) = (vec![1.0; 4], vec![0.5; 4]);
    ///     let uncond = cfg.needs_uncond(&ctx)?.then_some(&u[..]);
    ///     run.feed_guided(&mut cfg, &layout, &X0, &c, uncond)?;
    /// }
    /// // x0 = 0.5 + 3·(1 − 0.5) everywhere, returned exactly by the step to λ = +∞.
    /// assert!(run.x().iter().all(|&v| (v - 2.0).abs() < 1e-12));
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn feed_guided<G: Guidance, T: Target + Sync>(
        &mut self,
        guider: &mut G,
        layout: &Layout,
        target: &T,
        cond: &[F],
        uncond: Option<&[F]>,
    ) -> Result<Option<usize>> {
        self.poisoned()?;
        let n = self.x.len();
        check_len("layout", n, layout.len())?;
        // The guiders' norms and moments are per sample: a layout of another batch with the
        // same total would group the values wrongly.
        check_len("layout batch", self.batch, layout.batch())?;
        check_len("conditional output", n, cond.len())?;
        if let Some(u) = uncond {
            check_len("unconditional output", n, u.len())?;
        }
        let ctx = self.guidance_ctx()?;
        let (a, b) = self.pending_ab(target)?;
        if guider.renoises_with_uncond(&ctx)? {
            // CFG++: a linear combination of the two outputs in the first-order step.
            let e = self
                .pending
                .expect("a pending evaluation (checked by guidance_ctx)");
            let [alpha, beta] = guider.linear(&ctx)?.unwrap_or([1.0, 0.0]);
            let [wc, wu] = super::cfgpp_coefficients(&self.solver, &self.grid, &e, alpha, beta)?;
            let u =
                uncond.ok_or_else(|| crate::guidance::missing_uncond(guider.name(), ctx.step))?;
            let (wc, wu) = (F::of(wc), F::of(wu));
            return self.feed_with(move |x: &[F], j: usize, out: &mut [F]| {
                let (c, u) = (&cond[j..j + out.len()], &u[j..j + out.len()]);
                for (((o, &x), &c), &u) in out.iter_mut().zip(x).zip(c).zip(u) {
                    *o = target.x0(x, wc * c + wu * u, a, b);
                }
            });
        }
        let mut bufs = core::mem::take(&mut self.guided);
        for v in bufs.iter_mut() {
            v.resize(n, F::zero());
        }
        let [out, dc, du] = &mut bufs;
        let r = match guider.space() {
            Space::X0 => {
                let input = self.pending.map(|e| e.input).unwrap_or(Buf::X);
                let x = self.buf(input);
                for ((d, &x), &p) in dc.iter_mut().zip(x).zip(cond) {
                    *d = target.x0(x, p, a, b);
                }
                let du = match uncond {
                    Some(u) => {
                        for ((d, &x), &p) in du.iter_mut().zip(x).zip(u) {
                            *d = target.x0(x, p, a, b);
                        }
                        Some(&du[..])
                    }
                    None => None,
                };
                guider
                    .guide(&ctx, layout, dc, du, out)
                    .and_then(|_| self.feed_x0(out))
            }
            Space::Prediction | Space::Either => guider
                .guide(&ctx, layout, cond, uncond, out)
                .and_then(|_| self.feed(target, out)),
        };
        self.guided = bufs;
        r
    }

    /// `(a, b)` of the pending evaluation, where `target`'s predictions must convert to x0.
    fn pending_ab<T: Target>(&self, target: &T) -> Result<(F, F)> {
        let lv = self
            .pending
            .map(|e| e.level)
            .ok_or_else(|| GdfError::Invalid {
                message: "feed called without a pending evaluation (call next_eval first)".into(),
            })?;
        crate::target::check_converts(target, lv.a, lv.b, lv.lam)?;
        Ok((F::of(lv.a), F::of(lv.b)))
    }

    fn feed_with(&mut self, conv: impl Fn(&[F], usize, &mut [F]) + Sync) -> Result<Option<usize>> {
        self.poisoned()?;
        let e = match (self.pending, self.pre_done) {
            (Some(e), true) => e,
            _ => {
                return Err(GdfError::Invalid {
                    message: "feed called without a pending evaluation (call next_eval first)"
                        .into(),
                })
            }
        };
        // The new prediction takes the oldest history slot (or overwrites the newest).
        if !e.post.replace_newest {
            let depth = self.hist.len();
            self.head = (self.head + depth - 1) % depth;
        }
        let r = match self.threshold {
            Threshold::Dynamic { .. } => self.exec_dynamic(&e, conv),
            _ => self.exec(&e.post, e.step, Some((e.input, conv))),
        };
        self.pending = None;
        self.evals += 1;
        if let Err(err) = r {
            self.poisoned = true;
            return Err(err);
        }
        if e.completes_step {
            self.steps_done = e.step + 1;
            Ok(Some(e.step))
        } else {
            Ok(None)
        }
    }

    /// The weight of the thresholded x0 in the x0 slot ([`pipe::raw_eps_mix`]): 1, except in
    /// a plain first-order (DDIM) step, whose ε stays the raw prediction's as in diffusers'
    /// DDIM (`use_clipped_model_output=False`).
    pub(crate) fn stage_weight(&self, e: &Eval) -> Result<f64> {
        if self.solver.plain_first_order() {
            Ok(super::cfgpp_coefficients(&self.solver, &self.grid, e, 1.0, 0.0)?[0])
        } else {
            Ok(1.0)
        }
    }

    /// Dynamic thresholding: the x0-predictions of the batch first (one pass), each sample's
    /// quantile of `|x0|` by exact selection, then the fused pass reads the stored x0 and
    /// scales it.
    fn exec_dynamic(
        &mut self,
        e: &Eval,
        conv: impl Fn(&[F], usize, &mut [F]) + Sync,
    ) -> Result<()> {
        let n = self.x.len();
        let w = F::of(self.stage_weight(e)?);
        let [mut x0, mut scratch, mut scales] = core::mem::take(&mut self.x0);
        x0.resize(n, F::zero());
        conv(self.buf(e.input), 0, &mut x0);
        let r = self
            .threshold
            .scales(&x0, self.batch, &mut scratch, &mut scales)
            .map_err(|err| match err {
                GdfError::NonFinite { value, index, .. } => GdfError::NonFinite {
                    what: "model prediction (as x0)",
                    index,
                    value,
                },
                other => other,
            })
            .and_then(|_| {
                let (x0, per) = (&x0, self.per);
                let scales = &scales;
                self.exec(
                    &e.post,
                    e.step,
                    Some((e.input, move |_: &[F], j: usize, out: &mut [F]| {
                        let s = scales[j / per];
                        let len = out.len();
                        for (o, &v) in out.iter_mut().zip(&x0[j..j + len]) {
                            *o = pipe::raw_eps_mix(pipe::thresholded(v, s), v, w);
                        }
                    })),
                )
            });
        self.x0 = [x0, scratch, scales];
        r
    }

    /// Runs the whole loop with `model(x, level, d)` writing the x0-prediction into `d`.
    pub fn run(
        mut self,
        mut model: impl FnMut(&[F], Level, &mut [F]) -> Result<()>,
    ) -> Result<Vec<F>> {
        let mut d = vec![F::zero(); self.x.len()];
        loop {
            match self.next_eval()? {
                None => break,
                Some(r) => model(r.x, r.level, &mut d)?,
            }
            self.feed_x0(&d)?;
        }
        Ok(self.x)
    }

    /// One fused pass over the data: parallel jobs of one sample's elements, each processed
    /// in L1-sized chunks (convert the prediction into the new history entry, draw the noise,
    /// then each row: accumulate its terms, write its destination), so every buffer is read
    /// and written once from memory.
    fn exec<C: Fn(&[F], usize, &mut [F]) + Sync>(
        &mut self,
        pass: &Pass,
        step: usize,
        fed: Option<(Buf, C)>,
    ) -> Result<()> {
        let n = self.x.len();
        // Draw accounting (serial, in call order).
        let mut used = [0usize; 2];
        let mut nused = 0;
        for (d, span) in pass.draws().iter().zip(pass.spans()) {
            let k = self.draws;
            self.draws += 1;
            self.noise.on_draw(DrawInfo {
                draw: k,
                step,
                used: *d == Draw::Use,
                span: *span,
            })?;
            if *d == Draw::Use {
                used[nused] = k;
                nused += 1;
            }
        }
        if pass.nrows == 0 && fed.is_none() {
            return Ok(());
        }
        // A coefficient that overflowed (an extreme grid) would spread NaN silently.
        for row in pass.rows() {
            if let Some(&(_, c)) = row.terms().iter().find(|t| !t.1.is_finite()) {
                return Err(GdfError::NonFinite {
                    what: "solver coefficient (the grid's steps are too extreme for this solver)",
                    index: step,
                    value: c,
                });
            }
        }
        // Compile the rows to slot indices and F-typed coefficients.
        let mut rows = [(0usize, [(0usize, F::zero()); super::MAX_TERMS], 0usize); 2];
        let mut read = [false; NSLOTS];
        let mut write = [false; NSLOTS];
        for (r, row) in rows.iter_mut().zip(pass.rows()) {
            r.0 = slot_of_dst(row.dst);
            r.2 = row.terms().len();
            for (t, &(src, c)) in r.1.iter_mut().zip(row.terms()) {
                let s = slot_of_src(src);
                *t = (s, F::of(c));
                if !write[s] {
                    read[s] = true;
                }
            }
            write[r.0] = true;
        }
        let rows = &rows[..pass.nrows as usize];
        if (write[1] || read[1]) && self.stage.len() != n {
            self.stage = vec![F::zero(); n];
        }
        if (write[2] || read[2]) && self.aux.len() != n {
            self.aux = vec![F::zero(); n];
        }
        let depth = self.hist.len();
        let head = self.head;
        let in_slot = match &fed {
            Some((b, _)) => {
                let s = slot_of_buf(*b);
                read[s] = true;
                read[SLOT_D0] = false;
                write[SLOT_D0] = true;
                s
            }
            None => 0,
        };
        // Raw views of the buffers (jobs touch disjoint ranges).
        let bufs = [
            RawMut::new(&mut self.x),
            RawMut::new(&mut self.stage),
            RawMut::new(&mut self.aux),
        ];
        let mut hist: [Option<RawMut<F>>; 4] = [None, None, None, None];
        for (i, h) in self.hist.iter_mut().enumerate() {
            hist[(i + depth - head) % depth] = Some(RawMut::new(h));
        }
        if (0..4).any(|k| (read[SLOT_D0 + k] || write[SLOT_D0 + k]) && hist[k].is_none()) {
            return Err(GdfError::Invalid {
                message: "solver read a history entry beyond its depth (a solver bug)".into(),
            });
        }
        let failure: Mutex<Option<GdfError>> = Mutex::new(None);
        let clip = match (self.threshold, fed.is_some(), self.pending) {
            (Threshold::Clip { range }, true, Some(e)) => {
                Some((F::of(range), F::of(self.stage_weight(&e)?)))
            }
            _ => None,
        };
        // The inpainting blend, on the pass that finishes a step (to the clean image after
        // the last one).
        let blend = match (&self.inpaint, self.pending) {
            (Some(p), Some(e)) if fed.is_some() && e.completes_step => {
                let last = e.step + 1 >= self.grid.steps();
                let l = self.grid.level((e.step + 1).min(self.grid.steps()));
                let (a, b) = if last { (1.0, 0.0) } else { (l.a, l.b) };
                Some((p, F::of(a), F::of(b)))
            }
            _ => None,
        };
        let kernel = Kernel {
            clip,
            blend,
            rows,
            in_slot,
            conv: fed.as_ref().map(|(_, c)| c),
            used: &used[..nused],
            noise: &self.noise,
            step,
            per: self.per,
            bufs: &bufs,
            hist: &hist,
            failure: &failure,
        };
        Jobs::new(self.batch, self.per).run(|s, a, b| kernel.job(s, a, b));
        match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

type CompiledRow<F> = (usize, [(usize, F); super::MAX_TERMS], usize);

/// Everything one job of a fused pass needs.
struct Kernel<'k, F: Real, N, C> {
    clip: Option<(F, F)>,
    blend: Option<(&'k Inpaint<F>, F, F)>,
    rows: &'k [CompiledRow<F>],
    in_slot: usize,
    conv: Option<&'k C>,
    used: &'k [usize],
    noise: &'k N,
    step: usize,
    per: usize,
    bufs: &'k [RawMut<F>; 3],
    hist: &'k [Option<RawMut<F>>; 4],
    failure: &'k Mutex<Option<GdfError>>,
}

impl<F: Real, N: NoiseSource<F>, C: Fn(&[F], usize, &mut [F]) + Sync> Kernel<'_, F, N, C> {
    fn fail(&self, e: GdfError) {
        let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(e);
        }
    }

    /// # Safety
    /// `a..b` is the calling job's own range and no other live slice of `slot` overlaps it.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    unsafe fn slice(&self, slot: usize, a: usize, b: usize) -> &mut [F] {
        if slot < SLOT_D0 {
            self.bufs[slot].range(a, b)
        } else {
            match &self.hist[slot - SLOT_D0] {
                Some(h) => h.range(a, b),
                None => &mut [],
            }
        }
    }

    fn job(&self, s: usize, a: usize, b: usize) {
        #[cfg(target_arch = "x86_64")]
        if crate::par::has_avx2() {
            // SAFETY: the CPU has the features the function was compiled for.
            return unsafe { self.job_avx2(s, a, b) };
        }
        self.job_body(s, a, b)
    }

    /// The same operations as [`Kernel::job_body`] (no FMA contraction), in AVX2 registers.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn job_avx2(&self, s: usize, a: usize, b: usize) {
        self.job_body(s, a, b)
    }

    #[inline(always)]
    fn job_body(&self, s: usize, a: usize, b: usize) {
        let mut noise = [[F::zero(); CHUNK]; 2];
        let mut acc = [F::zero(); CHUNK];
        let mut c0 = a;
        while c0 < b {
            let len = CHUNK.min(b - c0);
            let c1 = c0 + len;
            if let Some(conv) = self.conv {
                // SAFETY: jobs cover disjoint ranges; the model input (a buffer) and the new
                // history entry are different allocations; both slices die here.
                let (xin, d0) = unsafe {
                    (
                        &*self.slice(self.in_slot, c0, c1),
                        self.slice(SLOT_D0, c0, c1),
                    )
                };
                conv(xin, c0, d0);
                if let Some((r, w)) = self.clip {
                    d0.iter_mut()
                        .for_each(|v| *v = pipe::raw_eps_mix(pipe::clip(*v, r), *v, w));
                }
                let ok = d0.iter().fold(true, |ok, d| ok & d.is_finite());
                if !ok {
                    let e = (0..len).find(|&e| !d0[e].is_finite()).unwrap_or(0);
                    self.fail(GdfError::NonFinite {
                        what: "model prediction (as x0)",
                        index: c0 + e,
                        value: d0[e].as_f64(),
                    });
                }
            }
            for (u, &draw) in self.used.iter().enumerate() {
                let off = c0 - s * self.per;
                if let Err(e) = self
                    .noise
                    .fill(draw, self.step, s, off, &mut noise[u][..len])
                {
                    self.fail(e);
                }
            }
            // Each row reads its sources where they live (an earlier row's output included),
            // accumulates in L1, then writes its destination once.
            for (dst, terms, nt) in self.rows {
                let acc = &mut acc[..len];
                for (k, &(sl, c)) in terms[..*nt].iter().enumerate() {
                    let src: &[F] = if sl >= 7 {
                        &noise[sl - 7][..len]
                    } else {
                        // SAFETY: as above; the shared slice dies before the write below.
                        unsafe { &*self.slice(sl, c0, c1) }
                    };
                    if k == 0 {
                        for (a, &x) in acc.iter_mut().zip(src) {
                            *a = c * x;
                        }
                    } else {
                        for (a, &x) in acc.iter_mut().zip(src) {
                            *a = *a + c * x;
                        }
                    }
                }
                if *nt == 0 {
                    acc.iter_mut().for_each(|a| *a = F::zero());
                }
                // SAFETY: as above; no other slice of this range is alive.
                unsafe { self.slice(*dst, c0, c1) }.copy_from_slice(acc);
            }
            if let Some((p, a, b)) = self.blend {
                // SAFETY: as above.
                p.blend_range(unsafe { self.slice(0, c0, c1) }, c0, a, b);
            }
            c0 = c1;
        }
    }
}

/// A CFG scale `w` fed to a run must be finite (a NaN `w` would surface as a NaN "model
/// prediction", blaming the model).
pub(crate) fn check_guidance_scale(w: f64) -> Result<()> {
    if w.is_finite() {
        Ok(())
    } else {
        Err(GdfError::OutOfRange {
            what: "w (guidance scale)",
            value: w,
            expected: "a finite number",
        })
    }
}

/// The error for a threshold given to a solver whose diffusers counterpart has none
/// ([`Solver::takes_threshold`]); the host and device runs share it.
pub(crate) fn threshold_refused(solver: &str, threshold: Threshold) -> GdfError {
    GdfError::Invalid {
        message: format!(
            "x0 thresholding ({threshold:?}) is not defined for `{solver}` (diffusers has it \
             for DDPM, DDIM, Heun, DPM-Solver multistep and UniPC); use euler (DDIM), \
             euler_ancestral (DDPM), heun, dpmpp_2m or unipc"
        ),
    }
}
