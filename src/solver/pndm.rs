//! diffusers' `PNDMScheduler` with `skip_prk_steps` (PLMS, pseudo linear multistep, the
//! original latent-diffusion `PLMSSampler`) and `IPNDMScheduler` (improved PNDM, Dance
//! Diffusion's scheduler): Adams–Bashforth in the step index on the noise estimate, each
//! update DDIM's transfer `x' = a'·(x − b·ε̂)/a + b'·ε̂`.

use crate::error::Result;

use super::{check_finite_start, step_of, Buf, Dst, Eval, Grid, Level, Pass, Row, Solver, Src};

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

/// The history entry of a prediction `D` of the sample in `input` at level `l`, as the
/// coefficients `(on the sample, on D)`: the noise estimate `ε = (x − a·D)/b`, or, for a
/// v-prediction PLMS, the velocity `v = a·ε − b·D = (a·x − (a² + b²)·D)/b`.
fn entry(l: &Level, v: bool) -> (f64, f64) {
    if v {
        (l.a / l.b, -(l.a * l.a + l.b * l.b) / l.b)
    } else {
        (1.0 / l.b, -l.a / l.b)
    }
}

/// The row writing the history entry of the prediction just fed over `D(0)`.
fn entry_row(l: &Level, input: Buf, v: bool) -> Row {
    let (cx, cd) = entry(l, v);
    Row::new(Dst::D0).t(Src::Buf(input), cx).t(Src::D(0), cd)
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
#[derive(Clone, Debug, Default)]
pub struct Plms {
    v: bool,
    step: usize,
    /// The first step's second evaluation is next.
    trial_done: bool,
}

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
}

impl Solver for Plms {
    fn name(&self) -> &'static str {
        "PNDMScheduler"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        // DDIM's transfer divides by a.
        check_finite_start("PNDMScheduler", grid)?;
        self.step = 0;
        self.trial_done = false;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = step_of(grid, self.step)?;
        let (l, t) = (grid.level(i), grid.level(i + 1));
        let v = self.v;
        let (cx, ch) = transfer(&l, &t, v, 0.0);
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
