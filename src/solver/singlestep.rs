//! diffusers' `DPMSolverSinglestepScheduler`: DPM-Solver++ in singlestep form (orders 1–3).
//!
//! (The update rules are on [`DpmSolverSinglestep`].)

use crate::error::Result;

use super::{
    check_finite_start, check_order, chi, half_step, next_step, phi, psi, x_is_d0, Buf, Draw, Dst,
    Eval, Grid, Level, Pass, Row, Solver, Src,
};
use super::{DpmAlgorithm, FinalSigmas, SolverType};

/// Settings of [`DpmSolverSinglestep`] (diffusers' defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DpmSinglestepSettings {
    /// `solver_order`, 1 to 3 (default 2).
    pub order: usize,
    /// `algorithm_type` (default `dpmsolver++`).
    pub algorithm: DpmAlgorithm,
    /// `solver_type` (default midpoint).
    pub solver_type: SolverType,
    /// `lower_order_final` (default false; diffusers turns it on when the step count is not
    /// a multiple of the order or the final σ is zero, as [`order_list`](DpmSolverSinglestep::order_list) does).
    pub lower_order_final: bool,
    /// `final_sigmas_type` (default zero).
    pub final_sigmas: FinalSigmas,
}

impl Default for DpmSinglestepSettings {
    fn default() -> Self {
        Self {
            order: 2,
            algorithm: DpmAlgorithm::DpmSolverPP,
            solver_type: SolverType::Midpoint,
            lower_order_final: false,
            final_sigmas: FinalSigmas::Zero,
        }
    }
}

/// diffusers' `DPMSolverSinglestepScheduler`: one model evaluation per grid level, updates
/// from the start of each order group. The group's start sample lives in the `Aux` buffer,
/// so a pass writes at most two rows (the copy, the update).
///
/// The grid's steps are taken in groups of `1, 2, …, order` evaluations. Every update of a
/// group starts from the sample at the group's first level `s` (kept in the `Aux` buffer): the
/// `k`-th evaluation of the group moves from `s` to the next grid level with an order-`k`
/// update that uses the group's `k` predictions so far, so the group's last update is a full
/// order-`order` singlestep DPM-Solver++ step from `s` and the updates before it only place
/// the model's intermediate inputs. In half-logSNR `h = λ̂_t − λ̂_s`, with `r_j` the
/// intermediate levels' fractions of `h` (diffusers' formulas, in the φ/ψ/χ form of SPEC §2):
///
/// ```text
/// order 1: x_t = (b_t/b_s)·e^{−ηh}·x_s + a_t·φ(h_η)·D_s                    (+ noise)
/// order 2: … + a_t·k·(D_0 − D_s)/r_0,  k = ½φ(h_η) (midpoint) or ψ(h_η) (heun)
/// order 3: midpoint: … + a_t·ψ(h_η)·(D_0 − D_s)/r_0
///          heun:     … + a_t·ψ(h_η)·D1 − a_t·q·D2 (diffusers' D1, D2 of the group)
/// ```
///
/// with `h_η = h` for `dpmsolver++` and `2h` for `sde-dpmsolver++` (η = 1, noise
/// `b_t·sqrt(φ(2h))·n` on every step), and `q = χ(h_η)` (ODE) or `χ(2h) + 1` (SDE, diffusers'
/// sign, as in [`DpmSolverMultistep`](super::DpmSolverMultistep)'s third order).
///
/// ```
/// use gdf::solver::{DpmSinglestepSettings, DpmSolverSinglestep};
/// let s = DpmSolverSinglestep::with(DpmSinglestepSettings { order: 3, ..Default::default() })?;
/// // Groups 1-2-3, 1-2-3, then 1-2 and a first-order last step to σ = 0.
/// assert_eq!(s.order_list(9), [1, 2, 3, 1, 2, 3, 1, 2, 1]);
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct DpmSolverSinglestep {
    s: DpmSinglestepSettings,
    orders: Vec<usize>,
    step: usize,
}

impl DpmSolverSinglestep {
    /// With diffusers' defaults (order 2, dpmsolver++, midpoint).
    pub fn new() -> Self {
        Self::default()
    }

    /// With `settings` (order 1 to 3).
    ///
    /// Errors: [`GdfError::OutOfRange`](crate::GdfError::OutOfRange) naming `solver_order`.
    pub fn with(settings: DpmSinglestepSettings) -> Result<Self> {
        check_order("solver_order", settings.order, 3)?;
        Ok(Self {
            s: settings,
            ..Self::default()
        })
    }

    /// The order of each of `n` steps (diffusers' `get_order_list`, with `lower_order_final`
    /// turned on where diffusers turns it on).
    pub fn order_list(&self, n: usize) -> Vec<usize> {
        let o = self.s.order;
        let zero = self.s.final_sigmas == FinalSigmas::Zero;
        let lof = self.s.lower_order_final || n % o != 0 || zero;
        let cycle: Vec<usize> = (1..=o).collect();
        let mut orders: Vec<usize> = if lof && o > 1 {
            // Whole groups, then a shorter group for the remainder: (n mod o) steps, or for an
            // exact multiple one group of o − 1 and a single step (order 3), or 1, 1 (order 2).
            let (groups, tail): (usize, Vec<usize>) = match n % o {
                0 if n >= o => (n / o - 1, {
                    let mut t: Vec<usize> = (1..o).collect();
                    t.push(1);
                    t
                }),
                r => (n / o, (1..=r).collect()),
            };
            cycle.repeat(groups).into_iter().chain(tail).collect()
        } else {
            cycle.repeat(n / o)
        };
        if zero {
            if let Some(last) = orders.last_mut() {
                *last = 1;
            }
        }
        orders
    }

    /// Whether step `i` is the last of its group (the next step starts a new one).
    fn group_ends(&self, i: usize) -> bool {
        self.orders.get(i + 1).is_none_or(|&o| o == 1)
    }
}

/// `(c_x, [c_D0, c_D1, c_D2], c_noise)`: the update from the group start `s` to `t` with the
/// group's predictions `D(0)` (newest, at `levels[0]`), `D(1)`, `D(2)`.
fn update(
    st: &DpmSinglestepSettings,
    s: &Level,
    mids: &[Level],
    t: &Level,
) -> (f64, [f64; 3], f64) {
    let sde = st.algorithm == DpmAlgorithm::SdeDpmSolverPP;
    let h = half_step(s, t);
    let he = if sde { 2.0 * h } else { h };
    let damp = if sde { (-h).exp() } else { 1.0 };
    let cx = t.b / s.b * damp;
    let a = t.a * phi(he);
    let noise = if sde { t.b * phi(2.0 * h).sqrt() } else { 0.0 };
    // Coefficients on the group's predictions, oldest (the start's) last.
    let order = mids.len() + 1;
    let mut c = [0.0; 3];
    c[order - 1] = a;
    match order {
        2 => {
            let r0 = half_step(s, &mids[0]) / h;
            let k = t.a
                * match st.solver_type {
                    SolverType::Midpoint => 0.5 * phi(he),
                    SolverType::Heun => psi(he),
                };
            // k·(D_0 − D_s)/r0
            c[0] += k / r0;
            c[1] -= k / r0;
        }
        3 => {
            // mids[0] is the newest intermediate (s0), mids[1] the older (s1).
            let r0 = half_step(s, &mids[0]) / h;
            let r1 = half_step(s, &mids[1]) / h;
            // D1_1 = (D_0 − D_s)/r0, D1_0 = (D_1 − D_s)/r1 as coefficient vectors.
            let d11 = [1.0 / r0, 0.0, -1.0 / r0];
            let d10 = [0.0, 1.0 / r1, -1.0 / r1];
            let p = t.a * psi(he);
            match st.solver_type {
                SolverType::Midpoint => {
                    for k in 0..3 {
                        c[k] += p * d11[k];
                    }
                }
                SolverType::Heun => {
                    let q = t.a * if sde { chi(he) + 1.0 } else { chi(he) };
                    let dr = r0 - r1;
                    for k in 0..3 {
                        let d1 = (r0 * d10[k] - r1 * d11[k]) / dr;
                        let d2 = 2.0 * (d11[k] - d10[k]) / dr;
                        c[k] += p * d1 - q * d2;
                    }
                }
            }
        }
        _ => {}
    }
    (cx, c, noise)
}

impl Solver for DpmSolverSinglestep {
    fn takes_threshold(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "DPMSolverSinglestepScheduler"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        self.orders = self.order_list(grid.steps());
        if self.orders.iter().any(|&o| o > 1) {
            // The ratios r_j divide by h, infinite from λ = −∞.
            check_finite_start("DPMSolverSinglestepScheduler (order 2 or 3)", grid)?;
        }
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = next_step(grid, &mut self.step)?;
        let sde = self.s.algorithm == DpmAlgorithm::SdeDpmSolverPP;
        // Short grids: orders past the list (never in diffusers' own runs) are first order.
        let order = self.orders.get(i).copied().unwrap_or(1).min(i + 1);
        let (l, t) = (grid.level(i), grid.level(i + 1));
        let post = if t.lam == f64::INFINITY {
            // The step to σ = 0 returns the prediction (first order there, as diffusers).
            let p = x_is_d0();
            if sde {
                p.draw(Draw::Skip)
            } else {
                p
            }
        } else {
            let g = i + 1 - order;
            let s = grid.level(g);
            let mids: Vec<Level> = (g + 1..=i).rev().map(|k| grid.level(k)).collect();
            let (cx, c, cn) = update(&self.s, &s, &mids, &t);
            // The group's start: x itself on its first step (kept in Aux when the group goes
            // on), Aux afterwards.
            let start = if order == 1 { Buf::X } else { Buf::Aux };
            let mut row = Row::new(Dst::Buf(Buf::X)).t(Src::Buf(start), cx);
            for (k, &ck) in c.iter().enumerate().take(order) {
                row = row.t(Src::D(k as u8), ck);
            }
            let mut pass = Pass::default();
            if order == 1 && !self.group_ends(i) {
                pass = pass.row(Row::new(Dst::Buf(Buf::Aux)).t(Src::Buf(Buf::X), 1.0));
            }
            if sde {
                pass.row(row.t(Src::Noise(0), cn)).increment(s, t)
            } else {
                pass.row(row)
            }
        };
        Some(Eval::of_order(i, l, post, order))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
    fn history(&self) -> usize {
        self.s.order
    }
}
