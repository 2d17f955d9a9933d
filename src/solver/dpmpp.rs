//! The DPM-Solver++ family (SPEC §2): k-diffusion's 2S ancestral, SDE, 2M, 2M SDE, 3M SDE and
//! diffusers' `DPMSolverMultistepScheduler`.

use crate::error::{GdfError, Result};

use super::{
    anc_fo, anc_split, check_eta_noise, check_finite_start, check_min_steps, check_order, chi,
    half_step, phi, psi, step_of, x_is_d0, Buf, Draw, Dst, Eval, Grid, Level, Pass, Row, Solver,
    Src,
};

const X: Src = Src::Buf(Buf::X);

/// How a second-order multistep step uses the previous prediction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SolverType {
    /// `+ a'·½φ·(D_0 − D_{−1})/r` (k-diffusion's 2M; DPM-Solver's `dpmsolver`).
    #[default]
    Midpoint,
    /// `+ a'·ψ·(D_0 − D_{−1})/r` (DPM-Solver's `taylor`).
    Heun,
}

/// How a third-order multistep row weighs the second difference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ThirdOrder {
    /// The exponential integrator's `χ(h_η)` (SPEC §2.3): k-diffusion's 3M SDE, and diffusers'
    /// `dpmsolver++`.
    Exact,
    /// diffusers' `sde-dpmsolver++` at order 3: `χ(h_η) + 1`. Its update writes
    /// `(1 − e^{−2h} − 2h)/(2h)² − 0.5` where the integral gives `+ 0.5` (its ODE form and
    /// k-diffusion's 3M SDE have the `+`); reproduced for parity with the scheduler.
    DiffusersSde,
}

/// The exponential-integrator multistep row (SPEC §2.1–2.3) from `l` to `ln` (finite):
/// `x' = (b'/b)e^{−ηh}·x + a'φ(h_η)·D_0 + corrections`, with `h_η = (1+η)h`, the previous
/// half-logSNR steps in `hist`, `order` ∈ 1..=3, for order 2 `ty` and for order 3 `third`.
fn multistep_row(
    l: &Level,
    ln: &Level,
    eta: f64,
    order: usize,
    hist: &Hist,
    ty: SolverType,
    third: ThirdOrder,
) -> Row {
    let (h1, h2) = (hist.h1, hist.h2);
    let h = half_step(l, ln);
    let he = (1.0 + eta) * h;
    // e^{−ηh}, exactly 1 for η = 0 (also when h = ∞ from a λ = −∞ start).
    let damp = if eta == 0.0 { 1.0 } else { (-eta * h).exp() };
    let mut row = Row::new(Dst::Buf(Buf::X))
        .t(X, ln.b / l.b * damp)
        .t(Src::D(0), ln.a * phi(he));
    if h == 0.0 {
        return row;
    }
    match order {
        2 => {
            let inv_r = h / h1;
            let k = match ty {
                SolverType::Midpoint => 0.5 * phi(he),
                SolverType::Heun => psi(he),
            };
            let c = ln.a * k * inv_r;
            row = row.t(Src::D(0), c).t(Src::D(1), -c);
        }
        3 => {
            let (r0, r1) = (h1 / h, h2 / h);
            let p = psi(he);
            let q = match third {
                ThirdOrder::Exact => chi(he),
                ThirdOrder::DiffusersSde => chi(he) + 1.0,
            };
            let s = r0 + r1;
            let a = p * (1.0 + r0 / s) - q / s;
            let bc = -p * r0 / s + q / s;
            row = row
                .t(Src::D(0), ln.a * a / r0)
                .t(Src::D(1), ln.a * (-a / r0 + bc / r1))
                .t(Src::D(2), -ln.a * bc / r1);
        }
        _ => {}
    }
    row
}

/// The SDE noise coefficient `b'·sqrt(1 − e^{−2ηh})`.
fn sde_noise(l: &Level, ln: &Level, eta: f64) -> f64 {
    ln.b * phi(2.0 * eta * half_step(l, ln)).sqrt()
}

/// Shared state of the single-evaluation multistep solvers.
#[derive(Clone, Debug, Default)]
struct Hist {
    step: usize,
    h1: f64,
    h2: f64,
}

impl Hist {
    fn reset(&mut self) {
        *self = Self::default();
    }
    fn advance(&mut self, h: f64) {
        self.h2 = self.h1;
        self.h1 = h;
        self.step += 1;
    }
}

/// k-diffusion `sample_dpmpp_2m` (SPEC §2.1): DPM-Solver++(2M), midpoint form. First step and
/// the step to `λ = +∞` are first order.
#[derive(Clone, Debug, Default)]
pub struct DpmPP2M {
    st: Hist,
}

impl DpmPP2M {
    /// The solver (no settings).
    pub fn new() -> Self {
        Self::default()
    }
}

impl Solver for DpmPP2M {
    fn takes_threshold(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "dpmpp_2m"
    }
    fn start(&mut self, _grid: &Grid) -> Result<()> {
        self.st.reset();
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        // 2M SDE with η = 0 (midpoint): no noise term, no draw.
        plan_2m(&mut self.st, grid, 0.0, 1.0, SolverType::Midpoint)
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
    fn history(&self) -> usize {
        2
    }
}

/// The next evaluation of DPM++ 2M SDE with `eta` (2M itself at `eta = 0`, midpoint): first
/// order on the first step and on the step to `λ = +∞`, one noise draw per other step when
/// `eta ≠ 0`.
fn plan_2m(st: &mut Hist, grid: &Grid, eta: f64, s_noise: f64, ty: SolverType) -> Option<Eval> {
    plan_2m_as(st, grid, eta, s_noise, ty, false)
}

/// [`plan_2m`]; `cogvideox`: `CogVideoXDPMScheduler`'s pattern, whose last step is first
/// order wherever it ends, and which draws (and drops) one normal before a second-order
/// update's own and one on the step to `λ = +∞`.
fn plan_2m_as(
    st: &mut Hist,
    grid: &Grid,
    eta: f64,
    s_noise: f64,
    ty: SolverType,
    cogvideox: bool,
) -> Option<Eval> {
    let i = step_of(grid, st.step)?;
    let (l, ln) = (grid.level(i), grid.level(i + 1));
    let (post, order) = if ln.lam == f64::INFINITY {
        let p = x_is_d0();
        (if cogvideox { p.draw(Draw::Skip) } else { p }, 1)
    } else {
        let first = i == 0 || (cogvideox && i + 1 == grid.steps());
        let o = if first { 1 } else { 2 };
        let row = multistep_row(&l, &ln, eta, o, st, ty, ThirdOrder::Exact);
        let pass = if eta != 0.0 {
            let c = sde_noise(&l, &ln, eta) * s_noise;
            let p = Pass::one(row.t(Src::Noise(0), c));
            let p = if cogvideox && o == 2 {
                p.draw(Draw::Skip)
            } else {
                p
            };
            p.increment(l, ln)
        } else {
            Pass::one(row)
        };
        (pass, o)
    };
    st.advance(half_step(&l, &ln));
    Some(Eval::of_order(i, l, post, order))
}

/// k-diffusion `sample_dpmpp_2m_sde` (SPEC §2.2): η (default 1), `s_noise` (default 1),
/// midpoint (default) or heun. One draw per step not ending at `λ = +∞` when η ≠ 0.
#[derive(Clone, Debug)]
pub struct DpmPP2MSde {
    eta: f64,
    s_noise: f64,
    ty: SolverType,
    cogvideox: bool,
    st: Hist,
}

impl Default for DpmPP2MSde {
    fn default() -> Self {
        Self {
            eta: 1.0,
            s_noise: 1.0,
            ty: SolverType::Midpoint,
            cogvideox: false,
            st: Hist::default(),
        }
    }
}

impl DpmPP2MSde {
    /// η = 1, s_noise = 1, midpoint.
    pub fn new() -> Self {
        Self::default()
    }
    /// With `eta ≥ 0`, `s_noise > 0` and the solver type.
    pub fn with(eta: f64, s_noise: f64, ty: SolverType) -> Result<Self> {
        check_eta_noise(eta, s_noise)?;
        Ok(Self {
            eta,
            s_noise,
            ty,
            cogvideox: false,
            st: Hist::default(),
        })
    }
    /// diffusers' `CogVideoXDPMScheduler` (the same update, η = 1, midpoint): its last step
    /// is first order wherever it ends (a σ_min end included), and it draws (and drops) one
    /// normal before each second-order update's own, so recorded or PyTorch-generator noise
    /// stays aligned with its draws.
    ///
    /// ```
    /// use gdf::solver::DpmPP2MSde;
    /// let s = DpmPP2MSde::new().cogvideox(true);
    /// # let _ = s;
    /// ```
    pub fn cogvideox(mut self, on: bool) -> Self {
        self.cogvideox = on;
        self
    }
}

impl Solver for DpmPP2MSde {
    fn takes_threshold(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "dpmpp_2m_sde"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        check_min_steps("dpmpp_2m_sde", grid, 2)?;
        self.st.reset();
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        plan_2m_as(
            &mut self.st,
            grid,
            self.eta,
            self.s_noise,
            self.ty,
            self.cogvideox,
        )
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
    fn history(&self) -> usize {
        2
    }
}

/// k-diffusion `sample_dpmpp_3m_sde` (SPEC §2.3): η (default 1), `s_noise` (default 1). Its
/// first two steps are first and second (heun-type) order.
#[derive(Clone, Debug)]
pub struct DpmPP3MSde {
    eta: f64,
    s_noise: f64,
    st: Hist,
}

impl Default for DpmPP3MSde {
    fn default() -> Self {
        Self {
            eta: 1.0,
            s_noise: 1.0,
            st: Hist::default(),
        }
    }
}

impl DpmPP3MSde {
    /// η = 1, s_noise = 1.
    pub fn new() -> Self {
        Self::default()
    }
    /// With `eta ≥ 0` and `s_noise > 0`.
    pub fn with(eta: f64, s_noise: f64) -> Result<Self> {
        check_eta_noise(eta, s_noise)?;
        Ok(Self {
            eta,
            s_noise,
            st: Hist::default(),
        })
    }
}

impl Solver for DpmPP3MSde {
    fn takes_threshold(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "dpmpp_3m_sde"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        check_min_steps("dpmpp_3m_sde", grid, 2)?;
        check_finite_start("dpmpp_3m_sde", grid)?;
        self.st.reset();
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = step_of(grid, self.st.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        let (post, order) = if ln.lam == f64::INFINITY {
            (x_is_d0(), 1)
        } else {
            let o = (i + 1).min(3);
            let mut row = multistep_row(
                &l,
                &ln,
                self.eta,
                o,
                &self.st,
                SolverType::Heun,
                ThirdOrder::Exact,
            );
            if self.eta != 0.0 {
                row = row.t(Src::Noise(0), sde_noise(&l, &ln, self.eta) * self.s_noise);
                (Pass::one(row).increment(l, ln), o)
            } else {
                (Pass::one(row), o)
            }
        };
        self.st.advance(half_step(&l, &ln));
        Some(Eval::of_order(i, l, post, order))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
    fn history(&self) -> usize {
        3
    }
}

/// diffusers' `algorithm_type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DpmAlgorithm {
    /// `dpmsolver++` (deterministic).
    #[default]
    DpmSolverPP,
    /// `sde-dpmsolver++` (η = 1; one draw on every step).
    SdeDpmSolverPP,
}

/// diffusers' `final_sigmas_type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FinalSigmas {
    /// The grid ends at σ = 0 (`λ = +∞`); forces a first-order last step.
    #[default]
    Zero,
    /// The grid ends at the training σ_min.
    SigmaMin,
}

/// Settings of [`DpmSolverMultistep`] (diffusers' defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DpmSolverSettings {
    /// `solver_order`, 1 to 3 (default 2).
    pub order: usize,
    /// `algorithm_type` (default `dpmsolver++`).
    pub algorithm: DpmAlgorithm,
    /// `solver_type` (default midpoint).
    pub solver_type: SolverType,
    /// `lower_order_final` (default true): lower orders on the last steps of runs < 15 steps.
    pub lower_order_final: bool,
    /// `euler_at_final` (default false).
    pub euler_at_final: bool,
    /// `final_sigmas_type` (default zero).
    pub final_sigmas: FinalSigmas,
}

impl Default for DpmSolverSettings {
    fn default() -> Self {
        Self {
            order: 2,
            algorithm: DpmAlgorithm::DpmSolverPP,
            solver_type: SolverType::Midpoint,
            lower_order_final: true,
            euler_at_final: false,
            final_sigmas: FinalSigmas::Zero,
        }
    }
}

/// diffusers' `DPMSolverMultistepScheduler` (SPEC §2.1), data prediction, orders 1–3, with
/// its order schedule (warm-up, `lower_order_final`, `euler_at_final`, `final_sigmas_type`).
/// A one-step grid runs as one first-order step, as in diffusers. With
/// [`DpmAlgorithm::SdeDpmSolverPP`] at order 3 it takes diffusers' third-order SDE update, whose
/// second-difference weight is `− 0.5` where the integrator's is `+ 0.5` (for parity with the
/// scheduler; [`DpmPP3MSde`] is the integrator's form).
#[derive(Clone, Debug, Default)]
pub struct DpmSolverMultistep {
    s: DpmSolverSettings,
    st: Hist,
}

impl DpmSolverMultistep {
    /// With diffusers' defaults (order 2, dpmsolver++, midpoint).
    pub fn new() -> Self {
        Self::default()
    }
    /// With `settings` (order 1 to 3).
    ///
    /// ```
    /// use gdf::solver::{DpmSolverMultistep, DpmSolverSettings};
    /// let s = DpmSolverMultistep::with(DpmSolverSettings { order: 3, ..Default::default() })?;
    /// let orders: Vec<usize> = (0..6).map(|i| s.order_at(i, 6)).collect();
    /// assert_eq!(orders, [1, 2, 3, 3, 2, 1]); // warm-up, lower_order_final, final σ = 0
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn with(settings: DpmSolverSettings) -> Result<Self> {
        check_order("solver_order", settings.order, 3)?;
        Ok(Self {
            s: settings,
            st: Hist::default(),
        })
    }
    /// The order of step `i` of `n` (diffusers' rule).
    pub fn order_at(&self, i: usize, n: usize) -> usize {
        let s = &self.s;
        let lof = i + 1 == n
            && (s.euler_at_final
                || (s.lower_order_final && n < 15)
                || s.final_sigmas == FinalSigmas::Zero);
        let los = i + 2 == n && s.lower_order_final && n < 15;
        if s.order == 1 || i == 0 || lof {
            1
        } else if s.order == 2 || i == 1 || los {
            2
        } else {
            3
        }
    }
}

impl Solver for DpmSolverMultistep {
    fn takes_threshold(&self) -> bool {
        true
    }
    fn inverts(&self) -> bool {
        // The SDE form's noise `b'·√(1 − e^{−2h})` has no square root for h < 0.
        self.s.algorithm != DpmAlgorithm::SdeDpmSolverPP
    }
    fn name(&self) -> &'static str {
        "DPMSolverMultistepScheduler"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        if self.s.order > 2 {
            check_finite_start("DPMSolverMultistepScheduler (order 3)", grid)?;
        }
        self.st.reset();
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = self.st.step;
        let n = grid.steps();
        if i >= n {
            return None;
        }
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        let order = self.order_at(i, n);
        let sde = self.s.algorithm == DpmAlgorithm::SdeDpmSolverPP;
        let post = if ln.lam == f64::INFINITY {
            let p = x_is_d0();
            if sde {
                p.draw(Draw::Skip)
            } else {
                p
            }
        } else {
            let eta = if sde { 1.0 } else { 0.0 };
            let mut row = multistep_row(
                &l,
                &ln,
                eta,
                order,
                &self.st,
                self.s.solver_type,
                if sde {
                    ThirdOrder::DiffusersSde
                } else {
                    ThirdOrder::Exact
                },
            );
            if sde {
                row = row.t(Src::Noise(0), sde_noise(&l, &ln, 1.0));
                Pass::one(row).increment(l, ln)
            } else {
                Pass::one(row)
            }
        };
        self.st.advance(half_step(&l, &ln));
        Some(Eval::of_order(i, l, post, order))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
    fn history(&self) -> usize {
        3
    }
}

/// k-diffusion `sample_dpmpp_2s_ancestral` (SPEC §2.4): η (default 1), `s_noise` (default 1).
/// 2 NFE per step; a step to `λ = +∞` (or with `σ_down = 0`) is one Euler evaluation.
#[derive(Clone, Debug)]
pub struct DpmPP2SAncestral {
    eta: f64,
    s_noise: f64,
    step: usize,
    stage: u8,
    ls: Level,
    dn_up: (f64, f64),
    h_dn: f64,
}

impl Default for DpmPP2SAncestral {
    fn default() -> Self {
        Self::with(1.0, 1.0).expect("defaults are valid")
    }
}

impl DpmPP2SAncestral {
    /// η = 1, s_noise = 1.
    pub fn new() -> Self {
        Self::default()
    }
    /// With `eta ≥ 0` and `s_noise > 0`.
    pub fn with(eta: f64, s_noise: f64) -> Result<Self> {
        check_eta_noise(eta, s_noise)?;
        Ok(Self {
            eta,
            s_noise,
            step: 0,
            stage: 0,
            ls: Level::PURE_NOISE,
            dn_up: (1.0, 0.0),
            h_dn: 0.0,
        })
    }
    fn single(&self, grid: &Grid, i: usize) -> bool {
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        ln.lam == f64::INFINITY || anc_split(&l, &ln, self.eta).0 == 0.0
    }
}

impl Solver for DpmPP2SAncestral {
    fn name(&self) -> &'static str {
        "dpmpp_2s_ancestral"
    }
    fn start(&mut self, _grid: &Grid) -> Result<()> {
        self.step = 0;
        self.stage = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = step_of(grid, self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        let (dn, up) = anc_split(&l, &ln, self.eta);
        if self.stage == 0 {
            if self.single(grid, i) {
                self.step += 1;
                let post = if ln.lam == f64::INFINITY {
                    x_is_d0()
                } else {
                    Pass::one(
                        Row::new(Dst::Buf(Buf::X))
                            .t(Src::D(0), ln.a)
                            .t(Src::Noise(0), ln.b * up * self.s_noise),
                    )
                    .draw(Draw::Use)
                };
                return Some(Eval::single(i, l, post));
            }
            let h_dn = half_step(&l, &ln) - dn.ln();
            let ls = grid.at(l.lam + h_dn);
            self.ls = ls;
            self.h_dn = h_dn;
            self.dn_up = (dn, up);
            self.stage = 1;
            let row = Row::new(Dst::Buf(Buf::Aux))
                .t(X, ls.b / l.b)
                .t(Src::D(0), ls.a * phi(0.5 * h_dn));
            Some(Eval {
                pre: None,
                input: Buf::X,
                level: l,
                post: Pass::one(row),
                step: i,
                completes_step: false,
                order: 2,
            })
        } else {
            let (dn, up) = self.dn_up;
            let row = Row::new(Dst::Buf(Buf::X))
                .t(X, ln.b * dn / l.b)
                .t(Src::D(0), ln.a * phi(self.h_dn))
                .t(Src::Noise(0), ln.b * up * self.s_noise);
            self.stage = 0;
            self.step += 1;
            Some(Eval {
                pre: None,
                input: Buf::Aux,
                level: self.ls,
                post: Pass::one(row).draw(Draw::Use),
                step: i,
                completes_step: true,
                order: 2,
            })
        }
    }
    fn nfe(&self, grid: &Grid) -> usize {
        (0..grid.steps())
            .map(|i| if self.single(grid, i) { 1 } else { 2 })
            .sum()
    }
    fn history(&self) -> usize {
        2
    }
}

/// k-diffusion `sample_dpmpp_sde` (SPEC §2.5): two ancestral sub-steps per step, split at
/// `λ̂ + r·h`, η (default 1), `s_noise` (default 1), `r` (default ½). Two draws per step not
/// ending at `λ = +∞`: the increments over `[σ, σ_s]` and `[σ, σ']`, which
/// [`BrownianNoise`](super::BrownianNoise) correlates as k-diffusion's Brownian tree does and
/// other sources draw independently (see [`correlated`](DpmPPSde::correlated)).
#[derive(Clone, Debug)]
pub struct DpmPPSde {
    eta: f64,
    s_noise: f64,
    r: f64,
    correlated: bool,
    step: usize,
    stage: u8,
    ls: Level,
}

impl Default for DpmPPSde {
    fn default() -> Self {
        Self::with(1.0, 1.0, 0.5).expect("defaults are valid")
    }
}

impl DpmPPSde {
    /// η = 1, s_noise = 1, r = ½.
    pub fn new() -> Self {
        Self::default()
    }
    /// With `eta ≥ 0`, `s_noise > 0` and `r` in (0, 1].
    pub fn with(eta: f64, s_noise: f64, r: f64) -> Result<Self> {
        check_eta_noise(eta, s_noise)?;
        if !(r > 0.0 && r <= 1.0) {
            return Err(GdfError::OutOfRange {
                what: "r",
                value: r,
                expected: "a number in (0, 1]",
            });
        }
        Ok(Self {
            eta,
            s_noise,
            r,
            correlated: false,
            step: 0,
            stage: 0,
            ls: Level::PURE_NOISE,
        })
    }
}

impl DpmPPSde {
    /// Correlates the step's two draws as k-diffusion's Brownian tree does (SPEC §2.5):
    /// `n2 = c·n1 + sqrt(1 − c²)·n_fresh` with `c = sqrt((σ − σ_s)/(σ − σ'))`. The default
    /// (off) draws them independently, as the golden runs do; on, the sampled spread
    /// converges at second order instead of first. On, the second draw is the increment over
    /// `[σ_s, σ']` only, so with [`BrownianNoise`](super::BrownianNoise) both settings follow
    /// the same path.
    ///
    /// ```
    /// use gdf::solver::DpmPPSde;
    /// let s = DpmPPSde::new().correlated(true);
    /// # let _ = s;
    /// ```
    pub fn correlated(mut self, on: bool) -> Self {
        self.correlated = on;
        self
    }
}

impl Solver for DpmPPSde {
    fn name(&self) -> &'static str {
        "dpmpp_sde"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        // Its intermediate level sits a fraction r of the way from λ: undefined from −∞.
        check_finite_start("dpmpp_sde", grid)?;
        self.step = 0;
        self.stage = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = step_of(grid, self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        if self.stage == 0 {
            if ln.lam == f64::INFINITY {
                self.step += 1;
                return Some(Eval::single(i, l, x_is_d0()));
            }
            let h = half_step(&l, &ln);
            let ls = grid.at(l.lam + 2.0 * self.r * h);
            self.ls = ls;
            self.stage = 1;
            let (cx, cd, cn) = anc_fo(&l, &ls, self.eta);
            let row = Row::new(Dst::Buf(Buf::Aux))
                .t(X, cx)
                .t(Src::D(0), cd)
                .t(Src::Noise(0), cn * self.s_noise);
            Some(Eval {
                pre: None,
                input: Buf::X,
                level: l,
                post: Pass::one(row).increment(l, ls),
                step: i,
                completes_step: false,
                order: 2,
            })
        } else {
            let fac = 0.5 / self.r;
            let (cx, cd, cn) = anc_fo(&l, &ln, self.eta);
            let mut row = Row::new(Dst::Buf(Buf::X))
                .t(X, cx)
                .t(Src::D(1), cd * (1.0 - fac))
                .t(Src::D(0), cd * fac);
            let (cx1, cd1, cn1) = anc_fo(&l, &self.ls, self.eta);
            // The draw is the Brownian increment over [σ, σ'], or, where the first draw is
            // recovered and reused, over the part it does not cover, [σ_s, σ'].
            let mut span = (l, ln);
            if self.correlated && cn1 != 0.0 {
                span.0 = self.ls;
                // n1 = (Aux − cx1·x − cd1·D_1)/(cn1·s_noise), recovered from the sub-step.
                let (sl, ss, sn) = (l.sigma(), self.ls.sigma(), ln.sigma());
                let c = ((sl - ss) / (sl - sn)).sqrt();
                let k = cn * c / cn1;
                row = row
                    .t(Src::Buf(Buf::Aux), k)
                    .t(X, -k * cx1)
                    .t(Src::D(1), -k * cd1)
                    .t(Src::Noise(0), cn * (1.0 - c * c).sqrt() * self.s_noise);
            } else {
                row = row.t(Src::Noise(0), cn * self.s_noise);
            }
            self.stage = 0;
            self.step += 1;
            Some(Eval {
                pre: None,
                input: Buf::Aux,
                level: self.ls,
                post: Pass::one(row).increment(span.0, span.1),
                step: i,
                completes_step: true,
                order: 2,
            })
        }
    }
    fn nfe(&self, grid: &Grid) -> usize {
        2 * grid.steps() - usize::from(grid.ends_clean())
    }
    fn history(&self) -> usize {
        2
    }
}
