//! diffusers' `PNDMScheduler` with `skip_prk_steps` (PLMS, pseudo linear multistep, the
//! original latent-diffusion `PLMSSampler`) and `IPNDMScheduler` (improved PNDM, Dance
//! Diffusion's scheduler): Adams–Bashforth in the step index on the noise estimate, each
//! update DDIM's transfer `x' = a'·(x − b·ε̂)/a + b'·ε̂`.

use std::sync::Arc;

use crate::error::{GdfError, Result};

use super::{
    check_finite_start, entry, entry_row, step_of, Buf, Dst, Eval, Grid, Level, Pass, Row, Solver,
    Src,
};

/// Adams–Bashforth weights of orders 1–4 (newest first), for equal steps.
const AB: [[f64; 4]; 4] = [
    [1.0, 0.0, 0.0, 0.0],
    [1.5, -0.5, 0.0, 0.0],
    [23.0 / 12.0, -16.0 / 12.0, 5.0 / 12.0, 0.0],
    [55.0 / 24.0, -59.0 / 24.0, 37.0 / 24.0, -9.0 / 24.0],
];

/// The order of step `i` of an Adams–Bashforth warm-up: 1, 2, 3, then 4.
fn ab_order(i: usize) -> usize {
    (i + 1).min(4)
}

/// `dst = Σ_j c·AB_j·D(j)` added to `row` for the order `m` combination of the history.
fn ab_terms(mut row: Row, m: usize, c: f64) -> Row {
    for (j, &w) in AB[m - 1][..m].iter().enumerate() {
        row = row.t(Src::D(j as u8), c * w);
    }
    row
}

/// DDIM's step `from → to` with the noise estimate `ε̂ = α·H + β·x` of the combined history
/// `H` (`(α, β) = (1, 0)` for a history of ε, `(a, b)` of `from` for one of v): `(c_x, c_H)`
/// with `x' = c_x·x + c_H·H`. `a` is taken as at least `a_min` (IPNDM's guard).
fn transfer(from: &Level, to: &Level, v: bool, a_min: f64) -> (f64, f64) {
    let a = from.a.max(a_min);
    let k = to.b - to.a * from.b / a;
    let (alpha, beta) = if v { (from.a, from.b) } else { (1.0, 0.0) };
    (to.a / a + k * beta, k * alpha)
}

/// diffusers' `PNDMScheduler` with `skip_prk_steps = true` (PLMS: Stable Diffusion 1.x's
/// shipped scheduler; latent diffusion's `PLMSSampler`).
///
/// Every update is DDIM's step with a combined noise estimate. The first step takes two
/// evaluations: a DDIM step with `ε_0` to the next level, the model there, then DDIM from the
/// start with the mean of the two estimates (a pseudo improved Euler step; diffusers repeats
/// that level's timestep). From the second step on, one evaluation per step and
/// Adams–Bashforth of order 2, 3, then 4 over the estimates `ε_0, ε_1, …` of the steps'
/// starting samples, with the equal-step weights (`(55, −59, 37, −9)/24` at order 4). A run of
/// one step is one DDIM step.
///
/// diffusers combines the model's raw outputs: a v-prediction model's history holds `v`, and
/// the combination becomes a noise estimate `a·v̂ + b·x` at the step's start, which differs
/// from combining `ε` ([`Plms::v_prediction`]; the loader sets it from `prediction_type`).
///
/// ```
/// use gdf::scaler::Vp;
/// use gdf::solver::{Grid, NoNoise, Plms, Run, Solver};
///
/// // A point mass at 0.5: ε is constant along the flow, so PLMS is exact.
/// let grid = Grid::new(&Vp, &[-6.0, -3.0, 0.0, 3.0, 6.0])?;
/// assert_eq!(Plms::new().nfe(&grid), 5); // the first step takes two evaluations
/// let (l0, l4) = (grid.level(0), grid.level(4));
/// let eps = (0.4 - l0.a * 0.5) / l0.b;
/// let x = Run::new(Plms::new(), grid, vec![0.4f64], 1, NoNoise)?
///     .run(|_x, _l, d| Ok(d.fill(0.5)))?;
/// assert!((x[0] - (l4.a * 0.5 + l4.b * eps)).abs() < 1e-12);
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Default)]
pub struct Plms {
    v: bool,
    step: usize,
    /// The first step's second evaluation is next.
    trial_done: bool,
    /// The Runge-Kutta warm-up's table: λ of every training step.
    prk: Option<Arc<[f64]>>,
    /// The warm-up steps' midpoint levels (from `start`): where the first stage's DDIM step
    /// goes, and where the middle stages are evaluated and go.
    mids: Vec<(Level, Level)>,
    /// The next evaluation's stage within a Runge-Kutta step (0–3).
    stage: u8,
}

impl core::fmt::Debug for Plms {
    /// The settings (the warm-up's table by its length, not its 1000 levels) and the position.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Plms")
            .field("v_prediction", &self.v)
            .field("prk_table_len", &self.prk.as_ref().map(|t| t.len()))
            .field("step", &self.step)
            .field("stage", &self.stage)
            .finish()
    }
}

/// The Runge-Kutta warm-up's steps (diffusers' `pndm_order − 1`).
const PRK_STEPS: usize = 3;

impl Plms {
    /// PLMS over noise estimates (diffusers' `prediction_type = "epsilon"`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Combine velocities `v` instead of noise estimates, as diffusers' PNDM does for a
    /// `v_prediction` model (the same model gives other numbers than with `false`).
    pub fn v_prediction(mut self, v: bool) -> Self {
        self.v = v;
        self
    }

    /// PNDM with its Runge-Kutta warm-up (diffusers' `skip_prk_steps = false`): the first
    /// three steps are classical Runge-Kutta 4 in DDIM's transfer (four evaluations each, the
    /// middle two at the midpoint level, whose noise estimates enter with weights `1/6, 1/3,
    /// 1/3, 1/6`), then Adams–Bashforth 4 over the three steps' first estimates and the new
    /// one. The midpoint of a step from training step `t` to `t'` is diffusers' `t' + ⌊r/2⌋`
    /// (`r = N // n`), a level of the training table: `table_logsnr[k]` is λ of training step
    /// `k` (`N` of them, [`DiscreteTable`](crate::grid::table::DiscreteTable)'s levels), and the
    /// grid's levels must be table levels (diffusers' DDIM-spaced grid) of at least 4 steps.
    ///
    /// For an odd `r` diffusers' first stage steps to `t − ⌊r/2⌋`, one training step above
    /// the midpoint `t' + ⌊r/2⌋` where it evaluates the model next; gdf does the same.
    ///
    /// ```
    /// use gdf::grid::table::{DiscreteTable, TableSettings};
    /// use gdf::solver::{Grid, Plms, Solver};
    /// use gdf::scaler::Vp;
    /// let table = DiscreteTable::new(&TableSettings::default())?;
    /// let lam: Vec<f64> = (0..table.len()).map(|k| table.logsnr(k)).collect();
    /// // Timesteps 801, 601, 401, 201, 1, then ᾱ_0: N // n = 200.
    /// let mut levels: Vec<f64> = [801, 601, 401, 201, 1].iter().map(|&t| lam[t]).collect();
    /// levels.push(lam[0]);
    /// let grid = Grid::new(&Vp, &levels)?;
    /// let mut s = Plms::new().with_prk(lam.clone());
    /// assert_eq!(s.nfe(&grid), 14); // 3 × 4 + 2
    /// s.start(&grid)?;
    /// let first: Vec<f64> = (0..4).map(|_| s.plan(&grid).unwrap().level.lam).collect();
    /// assert_eq!(first, [lam[801], lam[701], lam[701], lam[601]]);
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn with_prk(mut self, table_logsnr: impl Into<Arc<[f64]>>) -> Self {
        self.prk = Some(table_logsnr.into());
        self
    }

    /// The training step of the table level `lam` (an exact table level, or an error naming
    /// the grid point).
    fn table_step(table: &[f64], lam: f64, i: usize) -> Result<usize> {
        table
            .iter()
            .position(|&l| l == lam)
            .ok_or_else(|| GdfError::Invalid {
                message: format!(
                    "PNDMScheduler's Runge-Kutta warm-up takes its midpoints from the training \
                 table, so the grid's levels must be table levels; grid[{i}] (λ = {lam}) is \
                 not one (use diffusers' grid, or skip_prk_steps)"
                ),
            })
    }

    /// The midpoint levels of the warm-up steps on `grid`: `(t − ⌊r/2⌋, t' + ⌊r/2⌋)`.
    fn prk_mids(table: &[f64], grid: &Grid) -> Result<Vec<(Level, Level)>> {
        let n = grid.steps();
        if n <= PRK_STEPS {
            return Err(GdfError::Invalid {
                message: format!(
                    "PNDMScheduler's Runge-Kutta warm-up takes {PRK_STEPS} steps and needs a \
                     grid of at least {} steps, got {n} (diffusers' PNDM stops early there: \
                     at 3 steps its run ends at training step 1); use more steps or \
                     skip_prk_steps",
                    PRK_STEPS + 1
                ),
            });
        }
        let half = (table.len() / n) / 2;
        (0..PRK_STEPS)
            .map(|i| {
                let from = Self::table_step(table, grid.level(i).lam, i)?;
                let next = Self::table_step(table, grid.level(i + 1).lam, i + 1)?;
                // Within the table on diffusers' grids (steps r apart); a hand-made grid of
                // table levels may put them outside.
                let at = |k: Option<usize>| {
                    k.and_then(|k| table.get(k))
                        .map(|&l| grid.at(l))
                        .ok_or_else(|| GdfError::Invalid {
                            message: format!(
                                "PNDMScheduler: the midpoints of step {i} (training steps \
                                 {from} → {next}, half-step {half} = (N // n) // 2) lie \
                                 outside the table's {} steps; use diffusers' grid",
                                table.len()
                            ),
                        })
                };
                Ok((at(from.checked_sub(half))?, at(Some(next + half))?))
            })
            .collect()
    }

    /// Stage `stage` of the Runge-Kutta step `i` (`from → to`, midpoints `(trial, mid)`).
    fn prk_eval(
        &self,
        i: usize,
        stage: u8,
        from: &Level,
        mids: (Level, Level),
        to: &Level,
    ) -> Eval {
        let v = self.v;
        let (trial, mid) = (&mids.0, &mids.1);
        let (c0, h0) = transfer(from, trial, v, 0.0);
        let (cm, hm) = transfer(from, mid, v, 0.0);
        let (ct, ht) = transfer(from, to, v, 0.0);
        let x = Src::Buf(Buf::X);
        let aux = Src::Buf(Buf::Aux);
        let stage_buf = Src::Buf(Buf::Stage);
        // The entry `h` of the prediction fed at `level` for the sample in Aux, as terms.
        let h = |row: Row, level: &Level, c: f64| {
            let (ex, ed) = entry(level, v);
            row.t(aux, c * ex).t(Src::D(0), c * ed)
        };
        let (input, level, post, done) = match stage {
            // The step's first estimate E_i (the history entry), DDIM to the midpoint.
            0 => {
                let trial = Row::new(Dst::Buf(Buf::Aux)).t(x, c0).t(Src::D(0), h0);
                (
                    Buf::X,
                    *from,
                    Pass::one(entry_row(from, Buf::X, v)).row(trial),
                    false,
                )
            }
            // Σ = E_i/6 + h_2/3 in Stage; DDIM to the midpoint with h_2.
            1 => {
                let sum = h(
                    Row::new(Dst::Buf(Buf::Stage)).t(Src::D(1), 1.0 / 6.0),
                    mid,
                    1.0 / 3.0,
                );
                let next = h(Row::new(Dst::Buf(Buf::Aux)).t(x, cm), mid, hm);
                (Buf::Aux, *mid, Pass::one(sum).row(next), false)
            }
            // Σ += h_3/3; DDIM to the step's end with h_3.
            2 => {
                let sum = h(
                    Row::new(Dst::Buf(Buf::Stage)).t(stage_buf, 1.0),
                    mid,
                    1.0 / 3.0,
                );
                let next = h(Row::new(Dst::Buf(Buf::Aux)).t(x, ct), mid, ht);
                (Buf::Aux, *mid, Pass::one(sum).row(next), false)
            }
            // DDIM from the step's start with Σ + h_4/6.
            _ => {
                let row = h(
                    Row::new(Dst::Buf(Buf::X)).t(x, ct).t(stage_buf, ht),
                    to,
                    ht / 6.0,
                );
                (Buf::Aux, *to, Pass::one(row), true)
            }
        };
        // Stages 2 and 3 feed over stage 1's (2's) prediction, stage 0 over the previous
        // step's last: the history keeps the steps' first estimates only.
        let post = if stage == 1 {
            post
        } else {
            post.replacing_newest()
        };
        Eval {
            pre: None,
            input,
            level,
            post,
            step: i,
            completes_step: done,
            order: 4,
        }
    }
}

impl Solver for Plms {
    fn name(&self) -> &'static str {
        "PNDMScheduler"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        // DDIM's transfer divides by a.
        check_finite_start("PNDMScheduler", grid)?;
        self.mids = match &self.prk {
            Some(table) => Self::prk_mids(table, grid)?,
            None => Vec::new(),
        };
        self.step = 0;
        self.stage = 0;
        self.trial_done = false;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = step_of(grid, self.step)?;
        let (l, t) = (grid.level(i), grid.level(i + 1));
        let v = self.v;
        if self.prk.is_some() && i < PRK_STEPS {
            let e = self.prk_eval(i, self.stage, &l, self.mids[i], &t);
            self.stage = (self.stage + 1) % 4;
            if self.stage == 0 {
                self.step += 1;
            }
            return Some(e);
        }
        let (cx, ch) = transfer(&l, &t, v, 0.0);
        if self.prk.is_some() {
            // After the warm-up: Adams–Bashforth 4 at once, the prediction fed over the last
            // Runge-Kutta stage's.
            self.step += 1;
            let update = ab_terms(Row::new(Dst::Buf(Buf::X)).t(Src::Buf(Buf::X), cx), 4, ch);
            let post = Pass::one(entry_row(&l, Buf::X, v)).row(update);
            let post = if i == PRK_STEPS {
                post.replacing_newest()
            } else {
                post
            };
            return Some(Eval::of_order(i, l, post, 4));
        }
        if i == 0 && grid.steps() > 1 {
            if !self.trial_done {
                // ε_0, then DDIM with it to the next level: the trial sample.
                self.trial_done = true;
                let trial = Row::new(Dst::Buf(Buf::Aux))
                    .t(Src::Buf(Buf::X), cx)
                    .t(Src::D(0), ch);
                return Some(Eval {
                    pre: None,
                    input: Buf::X,
                    level: l,
                    post: Pass::one(entry_row(&l, Buf::X, v)).row(trial),
                    step: 0,
                    completes_step: false,
                    order: 1,
                });
            }
            // The trial's estimate (from Aux and D(0) at t) averaged with ε_0 (D(1)), DDIM
            // from the start; then ε_0 is copied over the trial's slot, which the later
            // steps' history must not hold.
            self.step = 1;
            let (ex, ed) = entry(&t, v);
            let row = Row::new(Dst::Buf(Buf::X))
                .t(Src::Buf(Buf::X), cx)
                .t(Src::D(1), 0.5 * ch)
                .t(Src::Buf(Buf::Aux), 0.5 * ch * ex)
                .t(Src::D(0), 0.5 * ch * ed);
            let keep = Row::new(Dst::D0).t(Src::D(1), 1.0);
            return Some(Eval {
                pre: None,
                input: Buf::Aux,
                level: t,
                post: Pass::one(row).row(keep),
                step: 0,
                completes_step: true,
                order: 2,
            });
        }
        self.step += 1;
        let m = ab_order(i);
        let update = ab_terms(Row::new(Dst::Buf(Buf::X)).t(Src::Buf(Buf::X), cx), m, ch);
        let post = Pass::one(entry_row(&l, Buf::X, v)).row(update);
        Some(Eval::of_order(i, l, post, m))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        match grid.steps() {
            n if self.prk.is_some() => n + 3 * PRK_STEPS,
            1 => 1,
            n => n + 1,
        }
    }
    fn history(&self) -> usize {
        4
    }
}

/// diffusers' `IPNDMScheduler` (improved PNDM, Zhang & Chen's iPNDM; Dance Diffusion):
/// one evaluation per step, Adams–Bashforth of order 1, 2, 3, then 4 with the equal-step
/// weights over the noise estimates `ε = (x − a·D)/b`, and DDIM's transfer with diffusers'
/// guard `(x − b·ε̂)/max(a, 10⁻⁸)` for the clean estimate.
///
/// diffusers' grid for it ([`GridSpec::Ipndm`](crate::interop::diffusers::GridSpec::Ipndm))
/// starts at `a = 0`, where that estimate is `0/10⁻⁸ = 0`: the first step is `x' = b'·x`,
/// and the model's first prediction enters only through the history. gdf does the same at
/// `a = 0` (the limit of the formula there, not the model's `D`).
///
/// ```
/// use gdf::scaler::Vp;
/// use gdf::solver::{Grid, Ipndm, NoNoise, Run};
///
/// // A point mass at 0.5 from a finite start: ε is constant, so every order is exact.
/// let grid = Grid::new(&Vp, &[-6.0, -3.0, 0.0, 3.0, 6.0, f64::INFINITY])?;
/// let x = Run::new(Ipndm::new(), grid, vec![0.4f64], 1, NoNoise)?
///     .run(|_x, _l, d| Ok(d.fill(0.5)))?;
/// assert!((x[0] - 0.5).abs() < 1e-12);
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Ipndm {
    step: usize,
}

impl Ipndm {
    /// diffusers' `IPNDMScheduler` (it has no settings).
    pub fn new() -> Self {
        Self::default()
    }
}

/// diffusers' floor under `a` in IPNDM's clean estimate.
const IPNDM_A_MIN: f64 = 1e-8;

impl Solver for Ipndm {
    fn name(&self) -> &'static str {
        "IPNDMScheduler"
    }
    fn start(&mut self, _grid: &Grid) -> Result<()> {
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = step_of(grid, self.step)?;
        self.step += 1;
        let (l, t) = (grid.level(i), grid.level(i + 1));
        let m = ab_order(i);
        // At a = 0 (only the first level, where the history is ε_0 = x/b) diffusers'
        // estimate (x − b·ε̂)/10⁻⁸ is exactly 0: x' = b'·ε̂.
        let (cx, ch) = if l.a == 0.0 {
            (0.0, t.b)
        } else {
            transfer(&l, &t, false, IPNDM_A_MIN)
        };
        let update = ab_terms(Row::new(Dst::Buf(Buf::X)).t(Src::Buf(Buf::X), cx), m, ch);
        let post = Pass::one(entry_row(&l, Buf::X, false)).row(update);
        Some(Eval::of_order(i, l, post, m))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
    fn history(&self) -> usize {
        4
    }
}
