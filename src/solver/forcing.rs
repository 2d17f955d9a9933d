//! Per-group noise levels in one batch ([`Forcing`], [`ForcingPlan`]).

use crate::error::{check_len, check_nonempty, GdfError, Result};
use crate::float::Real;
use crate::pipeline::Threshold;
use crate::target::Target;

use super::{Grid, Level, NoiseSource, Run, Solver};

/// Which groups each model call (row) advances: per row, every group's number of evaluations
/// done once the row's call is fed. A group advances in a row when that number grows by one;
/// it never grows by more, and every row advances at least one group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForcingPlan {
    groups: usize,
    start: Vec<usize>,
    rows: Vec<Vec<usize>>,
}

impl ForcingPlan {
    /// A plan from explicit progress: `start[g]` evaluations done before the first row (0, or
    /// the group's total for a group given clean, e.g. a video prefix), then `rows[r][g]` after
    /// row `r`. [`Forcing::new`] checks that every group ends at its run's total.
    ///
    /// Errors: no groups or no rows, a row of another length, progress that falls or grows by
    /// more than one evaluation in a row, a row that advances no group.
    ///
    /// ```
    /// use gdf::solver::ForcingPlan;
    /// // Two groups of 2 evaluations; the second starts one call later.
    /// let p = ForcingPlan::from_progress(vec![0, 0], vec![vec![1, 0], vec![2, 1], vec![2, 2]])?;
    /// assert_eq!(p.advancing(1), Some(vec![true, true]));
    /// assert!(ForcingPlan::from_progress(vec![0], vec![vec![2]]).is_err()); // two at once
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn from_progress(start: Vec<usize>, rows: Vec<Vec<usize>>) -> Result<Self> {
        check_nonempty("plan groups", start.len())?;
        check_nonempty("plan rows", rows.len())?;
        let groups = start.len();
        let mut prev = &start;
        for (r, row) in rows.iter().enumerate() {
            check_len("plan row", groups, row.len())?;
            let mut any = false;
            for (g, (&p, &q)) in prev.iter().zip(row).enumerate() {
                if q < p || q > p + 1 {
                    return Err(GdfError::Invalid {
                        message: format!(
                            "plan row {r}, group {g}: progress goes from {p} to {q} evaluations; \
                             a row advances a group by 0 or 1"
                        ),
                    });
                }
                any |= q == p + 1;
            }
            if !any {
                return Err(GdfError::Invalid {
                    message: format!(
                        "plan row {r} advances no group (a model call whose output is unused)"
                    ),
                });
            }
            prev = row;
        }
        Ok(Self {
            groups,
            start,
            rows,
        })
    }

    /// Every group advances at every call until it has made its `evals[g]` evaluations (its
    /// run's [`total_evals`](Run::total_evals)): a batch whose samples run their own grids.
    ///
    /// Errors: no groups; a group with no evaluations.
    ///
    /// ```
    /// use gdf::solver::ForcingPlan;
    /// let p = ForcingPlan::lockstep(&[3, 1])?;
    /// assert_eq!(p.rows(), 3);
    /// assert_eq!(p.advancing(1), Some(vec![true, false]));
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn lockstep(evals: &[usize]) -> Result<Self> {
        check_nonempty("evals", evals.len())?;
        if let Some(g) = evals.iter().position(|&e| e == 0) {
            return Err(GdfError::OutOfRange {
                what: "evals",
                value: g as f64,
                expected: "at least one evaluation per group (this group index has none)",
            });
        }
        let n = evals.iter().copied().max().unwrap_or(0);
        let rows = (1..=n)
            .map(|r| evals.iter().map(|&e| r.min(e)).collect())
            .collect();
        Self::from_progress(vec![0; evals.len()], rows)
    }

    /// Diffusion forcing's staggered schedule (SkyReels-V2's timestep matrix): `groups` frames
    /// in causal blocks of `block` frames, each frame making `evals` evaluations. The first
    /// block advances at every call; each later block starts once the previous one is
    /// `ar_step` evaluations ahead and then keeps that lag, advancing at every call once the
    /// previous block is done (`ar_step = 0`: all blocks together). The first `ready` frames
    /// (whole blocks) are given clean (a video prefix: the run starts them finished).
    ///
    /// Errors: `groups`, `evals` or `block` zero, `groups` or `ready` not a multiple of
    /// `block`, `ready > groups`.
    ///
    /// ```
    /// use gdf::solver::ForcingPlan;
    /// let p = ForcingPlan::staggered(4, 3, 2, 2, 0)?; // 2 blocks of 2 frames, lag 2
    /// assert_eq!(p.progress(0), Some(&[1, 1, 0, 0][..]));
    /// assert_eq!(p.progress(2), Some(&[3, 3, 1, 1][..]));
    /// assert_eq!(p.rows(), 5);
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn staggered(
        groups: usize,
        evals: usize,
        ar_step: usize,
        block: usize,
        ready: usize,
    ) -> Result<Self> {
        check_nonempty("groups", groups)?;
        check_nonempty("evals", evals)?;
        check_nonempty("block", block)?;
        if groups % block != 0 {
            return Err(GdfError::NotDivisible {
                what: "groups (frames)",
                len: groups,
                batch: block,
            });
        }
        if ready > groups {
            return Err(GdfError::OutOfRange {
                what: "ready",
                value: ready as f64,
                expected: "at most the number of groups (frames given clean)",
            });
        }
        if ready % block != 0 {
            return Err(GdfError::NotDivisible {
                what: "ready (frames given clean)",
                len: ready,
                batch: block,
            });
        }
        let blocks = groups / block;
        // Per block: evaluations done, capped at `evals`, as the matrix's indices are.
        let mut done = vec![0usize; blocks];
        for d in done.iter_mut().take(ready / block) {
            *d = evals;
        }
        let start = expand(&done, block, groups);
        let mut rows = Vec::new();
        while done.iter().any(|&d| d < evals) {
            let mut next = vec![0usize; blocks];
            for i in 0..blocks {
                next[i] = if i == 0 || done[i - 1] >= evals {
                    (done[i] + 1).min(evals)
                } else {
                    next[i - 1].saturating_sub(ar_step)
                };
            }
            rows.push(expand(&next, block, groups));
            done = next;
        }
        Self::from_progress(start, rows)
    }

    /// Checks the plan against the groups' runs (`totals[g]` evaluations each): every group
    /// ends at its total and starts at 0 or finished. Returns which groups start finished.
    pub(crate) fn check_totals(&self, totals: &[usize]) -> Result<Vec<bool>> {
        check_len("grids", self.groups, totals.len())?;
        let last = &self.rows[self.rows.len() - 1];
        let mut ready = Vec::with_capacity(self.groups);
        for (g, &total) in totals.iter().enumerate() {
            if last[g] != total {
                return Err(GdfError::Invalid {
                    message: format!(
                        "the plan ends group {g} after {} evaluations, but its run makes {total}",
                        last[g]
                    ),
                });
            }
            if self.start[g] != 0 && self.start[g] != total {
                return Err(GdfError::Invalid {
                    message: format!(
                        "the plan starts group {g} after {} of its {total} evaluations; a group \
                         starts at 0 or finished (given clean)",
                        self.start[g]
                    ),
                });
            }
            ready.push(self.start[g] == total);
        }
        Ok(ready)
    }

    /// The elements per group of `values` latents of `batch` samples (`x_init` of a driver).
    pub(crate) fn group_len(&self, values: usize, batch: usize) -> Result<usize> {
        let cells = batch.checked_mul(self.groups).ok_or(GdfError::OutOfRange {
            what: "batch",
            value: batch as f64,
            expected: "batch × groups within usize",
        })?;
        crate::error::per_sample("x_init", values, cells)
    }

    /// The number of groups.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// The number of rows (model calls).
    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    /// Evaluations done per group before the first row.
    pub fn start(&self) -> &[usize] {
        &self.start
    }

    /// Evaluations done per group once row `r` is fed (`None` past the last row).
    pub fn progress(&self, r: usize) -> Option<&[usize]> {
        self.rows.get(r).map(Vec::as_slice)
    }

    /// Which groups row `r` advances (`None` past the last row).
    pub fn advancing(&self, r: usize) -> Option<Vec<bool>> {
        let row = self.rows.get(r)?;
        let prev = if r == 0 {
            &self.start
        } else {
            &self.rows[r - 1]
        };
        Some(prev.iter().zip(row).map(|(p, q)| q > p).collect())
    }
}

/// Block progress to frame progress.
fn expand(blocks: &[usize], block: usize, groups: usize) -> Vec<usize> {
    (0..groups).map(|g| blocks[g / block]).collect()
}

/// A group's part in a model call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupLevel {
    /// The level the group's input is at: the level its run evaluates (advancing groups), or
    /// the level its current `x` sits at (the grid's first level before it starts, the last one
    /// once it is done).
    pub level: Level,
    /// Whether this call advances the group (its prediction is used).
    pub advances: bool,
    /// Evaluations the group has made before this call.
    pub evals_done: usize,
    /// Whether the group has made all its evaluations (its `x` is final).
    pub done: bool,
}

impl GroupLevel {
    /// The group's state once a call has advanced it: one more evaluation, at `level` now
    /// (its run's), `done` when its run has made them all.
    pub(crate) fn advanced(&mut self, done: bool, level: Level) {
        self.evals_done += 1;
        self.done = done;
        self.advances = false;
        self.level = level;
    }
}

/// What the model must evaluate next ([`Forcing::next_eval`]).
#[derive(Debug)]
pub struct ForcingRequest<'r, F> {
    /// The model's input, `[batch][groups][group_len]`.
    pub x: &'r [F],
    /// Every group's level and role in this call.
    pub groups: &'r [GroupLevel],
    /// The row (model call) number, 0-based.
    pub row: usize,
}

/// Per-group noise levels in one batch: diffusion forcing, staggered video frames, and samples
/// of one batch on their own grids.
///
/// A [`Run`] steps every sample of its batch through one grid. [`Forcing`] holds one run per
/// *group* (a frame, a block of frames, a sample) and drives them together: each model call
/// sees every group at its own level, and a [`ForcingPlan`] says which groups that call
/// advances. Groups that do not advance are shown to the model as they are (not started: the
/// initial latents at the grid's first level; finished: the clean result), and their part of
/// the prediction is ignored.
///
/// This is what diffusers' diffusion-forcing pipelines (SkyReels-V2 `DiffusionForcing`) do with
/// one deep-copied scheduler per frame and a timestep matrix: [`ForcingPlan::staggered`] is that
/// matrix (the "denoising wave" where each block of frames lags the previous one by `ar_step`
/// evaluations), and any solver keeps its own history per group. [`ForcingPlan::lockstep`]
/// advances every group at every call, for a batch whose samples run their own grids (own step
/// counts or img2img strengths) through one model call per row.
///
/// On the device, `gdf::kernel::forcing::DeviceForcing` (feature `wgpu`,
/// `cuda` or `hip`) does the same with one device run per group.
///
/// Layout: the driver's `x` is `[batch][groups][group_len]`, the model's input and prediction
/// the same; group `g` of sample `s` is `x[(s·groups + g)·group_len ..][..group_len]`.
///
/// ```
/// use gdf::scaler::Vp;
/// use gdf::solver::{Forcing, ForcingPlan, Grid, NoNoise, UniPc};
///
/// // 3 frames of 2 elements, 4 steps; each frame lags the previous one by 1 evaluation.
/// let grid = Grid::new(&Vp, &[-4.0, -1.0, 1.0, 4.0, f64::INFINITY])?;
/// let plan = ForcingPlan::staggered(3, 4, 1, 1, 0)?;
/// assert_eq!(plan.rows(), 6); // the wave: 4 + 2 lagging calls
/// let x_init = vec![0.3, -1.1, 0.8, 0.2, -0.4, 1.5];
/// let mut run = Forcing::new(UniPc::new(), grid, plan, x_init, 1, |_| NoNoise)?;
/// while let Some(req) = run.next_eval()? {
///     // The model sees every frame at its own level; here it predicts x0 = x/2 everywhere.
///     assert_eq!(req.groups.len(), 3);
///     let d: Vec<f64> = req.x.iter().map(|v| v / 2.0).collect();
///     run.feed_x0(&d)?;
/// }
/// assert!(run.x().iter().all(|v| v.is_finite()));
/// # Ok::<(), gdf::GdfError>(())
/// ```
pub struct Forcing<F: Real, S: Solver, N: NoiseSource<F>> {
    runs: Vec<Option<Run<F, S, N>>>,
    grids: Vec<Grid>,
    plan: ForcingPlan,
    batch: usize,
    len: usize,
    x: Vec<F>,
    states: Vec<GroupLevel>,
    scratch: Vec<F>,
    scratch2: Vec<F>,
    row: usize,
    prepared: bool,
    poisoned: bool,
}

impl<F: Real, S: Solver + Clone, N: NoiseSource<F>> Forcing<F, S, N> {
    /// Starts `plan.groups()` runs of `solver` on `grid` from `x_init` (`[batch][groups][len]`,
    /// in the grid's scaler space at its first level; a group the plan starts finished holds
    /// its clean value), group `g` drawing from `noise(g)`.
    ///
    /// Errors: as [`Run::new`]; `x_init` not a whole number of groups; a plan whose last row
    /// leaves a group short of (or past) its run's evaluations.
    pub fn new(
        solver: S,
        grid: Grid,
        plan: ForcingPlan,
        x_init: Vec<F>,
        batch: usize,
        noise: impl FnMut(usize) -> N,
    ) -> Result<Self> {
        let grids = vec![grid; plan.groups()];
        Self::with_grids(solver, grids, plan, x_init, batch, noise)
    }

    /// As [`new`](Self::new), group `g` on `grids[g]` (samples of one batch with their own
    /// step counts, strengths or schedules).
    ///
    /// ```
    /// use gdf::scaler::Vp;
    /// use gdf::solver::{Euler, Forcing, ForcingPlan, Grid, NoNoise};
    ///
    /// // Two samples, one on 3 steps from λ = −4, one on 1 step from λ = 0 (img2img).
    /// let long = Grid::new(&Vp, &[-4.0, -1.0, 2.0, f64::INFINITY])?;
    /// let short = Grid::new(&Vp, &[0.0, f64::INFINITY])?;
    /// let plan = ForcingPlan::lockstep(&[3, 1])?;
    /// let mut run = Forcing::with_grids(Euler::new(), vec![long, short], plan, vec![1.0, 0.5], 1, |_| NoNoise)?;
    /// let first = run.next_eval()?.unwrap();
    /// assert_eq!(first.groups[0].level.lam, -4.0);
    /// assert_eq!(first.groups[1].level.lam, 0.0);
    /// run.feed_x0(&[0.25, 0.25])?;
    /// assert_eq!(run.x()[1], 0.25); // the short grid is done after one call
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn with_grids(
        solver: S,
        grids: Vec<Grid>,
        plan: ForcingPlan,
        x_init: Vec<F>,
        batch: usize,
        mut noise: impl FnMut(usize) -> N,
    ) -> Result<Self> {
        let groups = plan.groups();
        check_len("grids", groups, grids.len())?;
        let len = plan.group_len(x_init.len(), batch)?;
        let totals: Vec<usize> = grids.iter().map(|g| solver.nfe(g)).collect();
        let ready_of = plan.check_totals(&totals)?;
        let mut runs = Vec::with_capacity(groups);
        let mut states = Vec::with_capacity(groups);
        for (g, grid) in grids.iter().enumerate() {
            let ready = ready_of[g];
            let mut xg = Vec::with_capacity(batch * len);
            for s in 0..batch {
                let o = (s * groups + g) * len;
                xg.extend_from_slice(&x_init[o..o + len]);
            }
            let level = grid.level(if ready { grid.steps() } else { 0 });
            runs.push(if ready {
                crate::error::check_finite("x_init", &xg)?;
                None
            } else {
                Some(Run::new(solver.clone(), grid.clone(), xg, batch, noise(g))?)
            });
            states.push(GroupLevel {
                level,
                advances: false,
                evals_done: plan.start[g],
                done: ready,
            });
        }
        Ok(Self {
            runs,
            grids,
            plan,
            batch,
            len,
            x: x_init,
            states,
            scratch: vec![F::zero(); batch * len],
            scratch2: Vec::new(),
            row: 0,
            prepared: false,
            poisoned: false,
        })
    }
}

impl<F: Real, S: Solver, N: NoiseSource<F>> Forcing<F, S, N> {
    /// The plan.
    pub fn plan(&self) -> &ForcingPlan {
        &self.plan
    }

    /// The current latents, `[batch][groups][group_len]` (after the last fed row).
    pub fn x(&self) -> &[F] {
        &self.x
    }

    /// The final latents.
    pub fn into_x(self) -> Vec<F> {
        self.x
    }

    /// Elements per group per sample.
    pub fn group_len(&self) -> usize {
        self.len
    }

    /// Group `g`'s run (`None` for a group given clean, or `g` out of range).
    pub fn run(&self, g: usize) -> Option<&Run<F, S, N>> {
        self.runs.get(g).and_then(|r| r.as_ref())
    }

    /// Group `g`'s grid (`None` when `g` is out of range).
    pub fn grid(&self, g: usize) -> Option<&Grid> {
        self.grids.get(g)
    }

    /// Rows (model calls) fed so far.
    pub fn rows_done(&self) -> usize {
        self.row
    }

    /// Sets every group's x0 thresholding ([`Run::set_threshold`]).
    pub fn set_threshold(&mut self, threshold: Threshold) -> Result<()> {
        for r in self.runs.iter_mut().flatten() {
            r.set_threshold(threshold)?;
        }
        Ok(())
    }

    fn poisoned(&self) -> Result<()> {
        if self.poisoned {
            Err(GdfError::Invalid {
                message: "the forcing run failed earlier; start a new one".into(),
            })
        } else {
            Ok(())
        }
    }

    /// Copies `src` (`[batch][len]`) into group `g` of `dst` (`[batch][groups][len]`).
    fn scatter(dst: &mut [F], src: &[F], g: usize, groups: usize, len: usize) {
        for (s, part) in src.chunks_exact(len).enumerate() {
            let o = (s * groups + g) * len;
            dst[o..o + len].copy_from_slice(part);
        }
    }

    /// Copies group `g` of `src` into `dst` (`[batch][len]`).
    fn gather(dst: &mut [F], src: &[F], g: usize, groups: usize, len: usize) {
        for (s, part) in dst.chunks_exact_mut(len).enumerate() {
            let o = (s * groups + g) * len;
            part.copy_from_slice(&src[o..o + len]);
        }
    }

    /// The next model call, or `None` once every row is fed. Calling it again before a feed
    /// returns the same request.
    pub fn next_eval(&mut self) -> Result<Option<ForcingRequest<'_, F>>> {
        self.poisoned()?;
        if self.row == self.plan.rows() {
            return Ok(None);
        }
        if !self.prepared {
            let adv = self.plan.advancing(self.row).expect("row < rows");
            let groups = self.plan.groups;
            for (g, &a) in adv.iter().enumerate() {
                let st = &mut self.states[g];
                st.advances = a;
                if !a {
                    continue;
                }
                let run = self.runs[g].as_mut().expect("an advancing group has a run");
                match run.next_eval() {
                    Ok(Some(req)) => {
                        st.level = req.level;
                        Self::scatter(&mut self.x, req.x, g, groups, self.len);
                    }
                    Ok(None) => unreachable!("the plan's totals were checked against the runs"),
                    Err(e) => {
                        self.poisoned = true;
                        return Err(e);
                    }
                }
            }
            self.prepared = true;
        }
        Ok(Some(ForcingRequest {
            x: &self.x,
            groups: &self.states,
            row: self.row,
        }))
    }

    /// Feeds the model's x0-prediction for the pending call (`[batch][groups][group_len]`;
    /// the parts of groups that do not advance are ignored). Returns `true` once the plan is
    /// complete.
    pub fn feed_x0(&mut self, d: &[F]) -> Result<bool> {
        self.feed_each(&[d], |run, _, p| run.feed_x0(p[0]))
    }

    /// Feeds a raw prediction of `target` (ε, v, x0, flow velocity) for the pending call.
    pub fn feed<T: Target + Sync>(&mut self, target: &T, pred: &[F]) -> Result<bool> {
        self.feed_each(&[pred], |run, _, p| run.feed(target, p[0]))
    }

    /// Feeds a conditional and an unconditional raw prediction of `target` with
    /// classifier-free guidance `u + w·(c − u)` ([`Run::feed_cfg`]).
    pub fn feed_cfg<T: Target + Sync>(
        &mut self,
        target: &T,
        cond: &[F],
        uncond: &[F],
        w: f64,
    ) -> Result<bool> {
        self.feed_each(&[cond, uncond], |run, _, p| {
            run.feed_cfg(target, p[0], p[1], w)
        })
    }

    /// Feeds a conditional and an (optional) unconditional raw prediction of `target` through
    /// each advancing group's own guider, `guiders[g]` ([`Run::feed_guided`]: APG's momentum,
    /// a guidance window or interval at the group's own step and level). `layout` describes one
    /// group's `[batch][group_len]` part. Without `uncond`, every advancing group's guider must
    /// be able to go without it at this call (outside its window:
    /// [`Guidance::needs_uncond`](crate::guidance::Guidance::needs_uncond) at
    /// [`guidance_ctx`](Self::guidance_ctx)).
    ///
    /// Errors: `guiders` not one per group, `layout` not one group's; as [`Run::feed_guided`].
    pub fn feed_guided<G: crate::guidance::Guidance, T: Target + Sync>(
        &mut self,
        guiders: &mut [G],
        layout: &crate::guidance::Layout,
        target: &T,
        cond: &[F],
        uncond: Option<&[F]>,
    ) -> Result<bool> {
        check_len("guiders", self.plan.groups, guiders.len())?;
        match uncond {
            Some(u) => self.feed_each(&[cond, u], |run, g, p| {
                run.feed_guided(&mut guiders[g], layout, target, p[0], Some(p[1]))
            }),
            None => self.feed_each(&[cond], |run, g, p| {
                run.feed_guided(&mut guiders[g], layout, target, p[0], None)
            }),
        }
    }

    /// Group `g`'s guidance context at the pending call (its step, step count and level), or
    /// `None` when the group does not advance in it. Call after [`next_eval`](Self::next_eval).
    pub fn guidance_ctx(&self, g: usize) -> Option<crate::guidance::StepCtx> {
        if !self.prepared || !self.states.get(g)?.advances {
            return None;
        }
        self.runs.get(g)?.as_ref()?.guidance_ctx().ok()
    }

    fn feed_each(
        &mut self,
        preds: &[&[F]],
        mut f: impl FnMut(&mut Run<F, S, N>, usize, &[&[F]]) -> Result<Option<usize>>,
    ) -> Result<bool> {
        debug_assert!(!preds.is_empty() && preds.len() <= 2);
        self.poisoned()?;
        if !self.prepared {
            return Err(GdfError::Invalid {
                message: "no pending model call: call next_eval before feeding".into(),
            });
        }
        for p in preds {
            check_len("model output", self.x.len(), p.len())?;
        }
        let groups = self.plan.groups;
        let len = self.len;
        self.scratch2
            .resize(self.batch * len * (preds.len() - 1), F::zero());
        for g in 0..groups {
            if !self.states[g].advances {
                continue;
            }
            Self::gather(&mut self.scratch, preds[0], g, groups, len);
            for (k, p) in preds[1..].iter().enumerate() {
                let part = &mut self.scratch2[k * self.batch * len..(k + 1) * self.batch * len];
                Self::gather(part, p, g, groups, len);
            }
            let run = self.runs[g].as_mut().expect("an advancing group has a run");
            // The group's parts of the predictions (one or two), without an allocation.
            let parts: [&[F]; 2] = [&self.scratch, &self.scratch2];
            if let Err(e) = f(run, g, &parts[..preds.len()]) {
                self.poisoned = true;
                return Err(e);
            }
            Self::scatter(&mut self.x, run.x(), g, groups, len);
            let level = self.grids[g].level(run.steps_done());
            self.states[g].advanced(run.remaining_evals() == 0, level);
        }
        self.row += 1;
        self.prepared = false;
        Ok(self.row == self.plan.rows())
    }
}

impl<F: Real, S: Solver, N: NoiseSource<F>> core::fmt::Debug for Forcing<F, S, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Forcing")
            .field("plan", &self.plan)
            .field("batch", &self.batch)
            .field("group_len", &self.len)
            .field("rows_done", &self.row)
            .finish()
    }
}
