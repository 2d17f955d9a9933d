//! k-diffusion's `sample_dpm_fast`: DPM-Solver (Lu et al. 2022, noise prediction) singlestep of
//! orders 3, 2, 1 on a grid uniform in `t = −ln σ`, with k-diffusion's order list for a budget
//! of model evaluations.

use crate::error::{GdfError, Result};
use crate::scaler::Scaler;

use super::{
    anc_split, check_eta_noise, check_finite_start, step_of, Buf, Draw, Dst, Eval, Grid, Level,
    Pass, Row, Solver, Src,
};

/// k-diffusion's `sample_dpm_fast` (A1111's and ComfyUI's "DPM fast"): `nfe` model
/// evaluations over `⌊nfe/3⌋ + 1` steps, each step DPM-Solver-3 (stages at `r = 1/3, 2/3`)
/// but the last one or two (`nfe % 3 = 0`: orders 2 then 1; else the last step of order
/// `nfe % 3`), in k-diffusion's VE form with the noise estimate `ε = (x̃ − D)/σ`:
///
/// ```text
/// DPM-Solver-1: x̃' = x̃ − σ'·(e^h − 1)·ε
/// DPM-Solver-2: u = x̃ − σ_s·(e^{h/2} − 1)·ε,  x̃' = x̃ − σ'·(e^h − 1)·(ε + (ε_s − ε))
/// DPM-Solver-3: u_1, u_2 at t + h/3, t + 2h/3,
///               x̃' = x̃ − σ'(e^h − 1)·ε − σ'·3/2·((e^h − 1)/h − 1)·(ε_2 − ε)
/// ```
///
/// with `h = t' − t` the half-logSNR step. k-diffusion takes its steps uniform in `t`
/// between `σ_max` and `σ_min` ([`DpmFast::grid`]); any grid with that many steps and a
/// finite end runs. With `eta > 0` each step goes to the ancestral `σ_down` (not below the
/// grid's last level) and adds `σ_up`-scaled noise; with `eta = 0` it still draws (and drops)
/// one normal per step, as k-diffusion's loop does, so recorded noise stays aligned.
///
/// ```
/// use gdf::scaler::Vp;
/// use gdf::solver::{DpmFast, NoNoise, Run, Solver};
///
/// // 10 evaluations: steps of orders 3, 3, 3, 1.
/// let grid = DpmFast::grid(&Vp, 0.03, 14.6, 10)?;
/// assert_eq!(grid.steps(), 4);
/// let s = DpmFast::new(10)?;
/// assert_eq!(s.orders(), [3, 3, 3, 1]);
/// assert_eq!(s.nfe(&grid), 10);
/// // A point mass at 0.5: ε is constant, so every order is exact.
/// let (l0, l4) = (grid.level(0), grid.level(4));
/// let eps = (0.4 - l0.a * 0.5) / l0.b;
/// let x = Run::new(s, grid, vec![0.4f64], 1, NoNoise)?.run(|_x, _l, d| Ok(d.fill(0.5)))?;
/// assert!((x[0] - (l4.a * 0.5 + l4.b * eps)).abs() < 1e-12);
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug)]
pub struct DpmFast {
    nfe: usize,
    eta: f64,
    s_noise: f64,
    step: usize,
    stage: u8,
    /// The current step's levels: start, ancestral target, grid next, stages.
    cur: Option<StepLevels>,
}

#[derive(Clone, Copy, Debug)]
struct StepLevels {
    from: Level,
    to: Level,
    next: Level,
    s1: Level,
    s2: Level,
    h: f64,
    /// `r1·h` and `r2·h`, the stages' offsets.
    r1h: f64,
    r2h: f64,
    /// `σ_up` of the step (0 without eta).
    su: f64,
    order: usize,
}

impl DpmFast {
    /// `nfe` model evaluations (k-diffusion's `n`), `eta = 0`, `s_noise = 1`.
    ///
    /// Errors: [`GdfError::OutOfRange`] naming `nfe` for 0.
    pub fn new(nfe: usize) -> Result<Self> {
        Self::with(nfe, 0.0, 1.0)
    }

    /// With the ancestral `eta ≥ 0` and `s_noise > 0`.
    ///
    /// Errors: [`GdfError::OutOfRange`] naming `nfe`, `eta` or `s_noise`.
    pub fn with(nfe: usize, eta: f64, s_noise: f64) -> Result<Self> {
        if nfe == 0 {
            return Err(GdfError::OutOfRange {
                what: "nfe",
                value: 0.0,
                expected: "at least one model evaluation",
            });
        }
        check_eta_noise(eta, s_noise)?;
        Ok(Self {
            nfe,
            eta,
            s_noise,
            step: 0,
            stage: 0,
            cur: None,
        })
    }

    /// The number of steps for `nfe` evaluations: `⌊nfe/3⌋ + 1`.
    pub fn steps_for(nfe: usize) -> usize {
        nfe / 3 + 1
    }

    /// The order of every step (k-diffusion's list).
    pub fn orders(&self) -> Vec<usize> {
        (0..Self::steps_for(self.nfe))
            .map(|i| self.order_at(i))
            .collect()
    }

    /// The order of step `i`: 3, but the last one or two (`nfe % 3 = 0`: 2 then 1; else the
    /// last is `nfe % 3`).
    fn order_at(&self, i: usize) -> usize {
        let from_end = Self::steps_for(self.nfe) - i;
        match (self.nfe % 3, from_end) {
            (0, 2) => 2,
            (0, 1) => 1,
            (r, 1) => r,
            _ => 3,
        }
    }

    /// k-diffusion's grid for `nfe` evaluations: `⌊nfe/3⌋ + 1` steps uniform in `t = −ln σ`
    /// from `sigma_max` to `sigma_min` (VE noise levels, both positive), through `scaler`.
    ///
    /// Errors: [`GdfError::OutOfRange`] for `nfe = 0` or σ's that are not
    /// `0 < sigma_min < sigma_max`, finite.
    pub fn grid<S: Scaler + Clone + Send + Sync + 'static>(
        scaler: &S,
        sigma_min: f64,
        sigma_max: f64,
        nfe: usize,
    ) -> Result<Grid> {
        Self::new(nfe)?;
        crate::grid::check_sigma_range(sigma_min, sigma_max)?;
        let t: Vec<f64> =
            crate::float::linspace(-sigma_max.ln(), -sigma_min.ln(), Self::steps_for(nfe) + 1);
        let lam: Vec<f64> = t.iter().map(|&t| 2.0 * t).collect();
        Grid::new(scaler, &lam)
    }

    fn levels(&self, grid: &Grid, i: usize, order: usize) -> StepLevels {
        let (from, next) = (grid.level(i), grid.level(i + 1));
        let (to, su) = if self.eta > 0.0 {
            // σ_down (not past the grid's end), then noise up to the grid's next level.
            let (dn, _) = anc_split(&from, &next, self.eta);
            let end = grid.level(grid.steps()).lam;
            let lam = (next.lam - 2.0 * dn.ln()).min(end);
            let to = grid.at(lam);
            let su = (next.sigma().powi(2) - to.sigma().powi(2)).max(0.0).sqrt();
            (to, su)
        } else {
            (next, 0.0)
        };
        let h = 0.5 * (to.lam - from.lam);
        let (r1, r2) = if order == 2 {
            (0.5, 0.5)
        } else {
            (1.0 / 3.0, 2.0 / 3.0)
        };
        StepLevels {
            from,
            to,
            next,
            s1: grid.at(from.lam + 2.0 * r1 * h),
            s2: grid.at(from.lam + 2.0 * r2 * h),
            h,
            r1h: r1 * h,
            r2h: r2 * h,
            su,
            order,
        }
    }
}

/// DPM-Solver's stages and updates in k-diffusion's VE form, `x̃' = x̃ + Σ c_k·ε_k` with the
/// half-logSNR step `h` (`e = e^h − 1`): the coefficients on the noise estimates, shared by
/// [`DpmFast`] and [`DpmAdaptive`](super::DpmAdaptive).
pub(crate) mod dpm {
    /// The first stage `u_1 = x̃ − σ_1·(e^{r1·h} − 1)·ε`: the coefficient on ε.
    pub(crate) fn u1(sigma_1: f64, r1h: f64) -> f64 {
        -sigma_1 * r1h.exp_m1()
    }
    /// The second stage `u_2 = x̃ − σ_2·(e^{r2·h} − 1)·ε − σ_2·(r2/r1)·((e^{r2·h} − 1)/(r2·h)
    /// − 1)·(ε_1 − ε)`: the coefficients on `[ε, ε_1]`.
    pub(crate) fn u2(sigma_2: f64, r2h: f64, r2_over_r1: f64) -> [f64; 2] {
        let e2 = r2h.exp_m1();
        let k = sigma_2 * r2_over_r1 * (e2 / r2h - 1.0);
        [-sigma_2 * e2 + k, -k]
    }
    /// DPM-Solver-1, `x̃' = x̃ − σ'·e·ε`: the coefficient on ε.
    pub(crate) fn step1(sigma_to: f64, h: f64) -> f64 {
        -sigma_to * h.exp_m1()
    }
    /// DPM-Solver-2 with its stage at `r1`, `x̃' = x̃ − σ'·e·ε − σ'/(2·r1)·e·(ε_1 − ε)`
    /// (`inv_2r1 = 1/(2·r1)`): the coefficients on `[ε, ε_1]` (`[0, −σ'·e]` at `r1 = ½`).
    pub(crate) fn step2(sigma_to: f64, h: f64, inv_2r1: f64) -> [f64; 2] {
        let c = sigma_to * h.exp_m1();
        let k = c * inv_2r1;
        [-c + k, -k]
    }
    /// DPM-Solver-3 with its second stage at `r2`, `x̃' = x̃ − σ'·e·ε − σ'/r2·(e/h − 1)·(ε_2
    /// − ε)` (`inv_r2 = 1/r2`): the coefficients on `[ε, ε_2]`.
    pub(crate) fn step3(sigma_to: f64, h: f64, inv_r2: f64) -> [f64; 2] {
        let em = h.exp_m1();
        let k = sigma_to * inv_r2 * (em / h - 1.0);
        [-sigma_to * em + k, -k]
    }
}

/// `dst = a_out·(c_x·x̃ + Σ c_k·ε_k)` in VP terms: `x̃ = X/a` at `from`, each `ε_k` given by
/// its sample buffer, its prediction slot and its level (`ε = (buf − a·D)/b`).
fn ve_row(dst: Dst, a_out: f64, from: &Level, cx: f64, eps: &[(f64, Src, Src, Level)]) -> Row {
    let mut row = Row::new(dst).t(Src::Buf(Buf::X), a_out * cx / from.a);
    for &(c, buf, d, l) in eps {
        row = row.t(buf, a_out * c / l.b).t(d, -a_out * c * l.a / l.b);
    }
    row
}

impl Solver for DpmFast {
    fn name(&self) -> &'static str {
        "dpm_fast"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        check_finite_start("dpm_fast", grid)?;
        let (m, n) = (Self::steps_for(self.nfe), grid.steps());
        if n != m {
            return Err(GdfError::Invalid {
                message: format!(
                    "dpm_fast with nfe = {} takes {m} steps (⌊nfe/3⌋ + 1), the grid has {n} \
                     (build it with DpmFast::grid)",
                    self.nfe
                ),
            });
        }
        if grid.ends_clean() {
            return Err(GdfError::Invalid {
                message: "dpm_fast ends at sigma_min > 0 (k-diffusion refuses 0): the grid's \
                          last logSNR must be finite"
                    .into(),
            });
        }
        self.step = 0;
        self.stage = 0;
        self.cur = None;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = step_of(grid, self.step)?;
        if self.stage == 0 {
            self.cur = Some(self.levels(grid, i, self.order_at(i)));
        }
        let s = self.cur?;
        let (x, aux) = (Src::Buf(Buf::X), Src::Buf(Buf::Aux));
        let last = self.stage as usize + 1 == s.order;
        let (input, level) = match self.stage {
            0 => (Buf::X, s.from),
            1 => (Buf::Aux, s.s1),
            _ => (Buf::Aux, s.s2),
        };
        // ε of the step's start comes from X and its prediction, `self.stage` feeds back.
        let e0 = |c: f64| (c, x, Src::D(self.stage), s.from);
        let post = if last {
            // x̃' at the step's target, then σ_up of noise to the grid's next level.
            let (sq, an) = (s.to.sigma(), s.next.a);
            let eps = match s.order {
                1 => vec![e0(dpm::step1(sq, s.h))],
                // r1 = 1/2: ε's coefficient is 0 (left out of the row).
                2 => vec![(dpm::step2(sq, s.h, 1.0)[1], aux, Src::D(0), s.s1)],
                // r2 = 2/3.
                _ => {
                    let [c0, c2] = dpm::step3(sq, s.h, 1.5);
                    vec![e0(c0), (c2, aux, Src::D(0), s.s2)]
                }
            };
            let row = ve_row(Dst::Buf(Buf::X), an, &s.from, 1.0, &eps)
                .t(Src::Noise(0), an * s.su * self.s_noise);
            if s.su > 0.0 {
                Pass::one(row).increment(s.from, s.next)
            } else {
                Pass::one(row).draw(Draw::Skip)
            }
        } else if self.stage == 0 {
            let c = dpm::u1(s.s1.sigma(), s.r1h);
            Pass::one(ve_row(Dst::Buf(Buf::Aux), s.s1.a, &s.from, 1.0, &[e0(c)]))
        } else {
            // r2/r1 = 2.
            let [c0, c1] = dpm::u2(s.s2.sigma(), s.r2h, 2.0);
            Pass::one(ve_row(
                Dst::Buf(Buf::Aux),
                s.s2.a,
                &s.from,
                1.0,
                &[e0(c0), (c1, aux, Src::D(0), s.s1)],
            ))
        };
        self.stage += 1;
        if last {
            self.stage = 0;
            self.step += 1;
        }
        Some(Eval {
            pre: None,
            input,
            level,
            post,
            step: i,
            completes_step: last,
            order: s.order as u8,
        })
    }
    fn nfe(&self, _grid: &Grid) -> usize {
        self.nfe
    }
    fn history(&self) -> usize {
        3
    }
}
