//! ComfyUI's own samplers (`comfy/k_diffusion/sampling.py`, beyond k-diffusion): gradient
//! estimation, the extended reverse-time SDE (ER-SDE) and iPNDM in σ, in ComfyUI's
//! coordinates for ε- and v-prediction models, the VE variable `x̃ = x/a` at `σ = b/a`.

use crate::error::{GdfError, Result};

use super::{
    check_finite_start, d_history_step, next_step, x_is_d0, Buf, Draw, Dst, Eval, Grid, Level,
    Pass, Row, Solver, Src,
};

/// ComfyUI's `gradient_estimation` (Permenter & Yuan, "Interpreting and improving diffusion
/// models from an optimization perspective"): Euler in σ on `d = (x̃ − D)/σ`, with the
/// derivative extrapolated from the last two, `γ·d_i + (1 − γ)·d_{i−1}` (γ = `ge_gamma`, 2 by
/// default; γ = 1 is Euler). The first step is Euler, the step to `σ = 0` returns `D`. The
/// history holds `d`, not `D` (as [`Lms`](super::Lms)).
///
/// ```
/// use gdf::scaler::Vp;
/// use gdf::solver::{AnySolver, Grid, GradientEstimation, NoNoise, Run, Solver};
/// let s = AnySolver::from_name("gradient_estimation")?;
/// assert_eq!(s.name(), "gradient_estimation");
/// assert!(GradientEstimation::with(f64::NAN).is_err());
/// // On data that is a single point every step lands on it (D is exact, so is the ODE).
/// let grid = Grid::new(&Vp, &[-4.0, -1.0, 2.0, 5.0, f64::INFINITY])?;
/// let run = Run::new(GradientEstimation::new(), grid, vec![0.9f64, -0.4], 1, NoNoise)?;
/// let x = run.run(|_, _, d| { d.fill(0.25); Ok(()) })?;
/// assert_eq!(x, vec![0.25, 0.25]);
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug)]
pub struct GradientEstimation {
    gamma: f64,
    step: usize,
}

impl Default for GradientEstimation {
    fn default() -> Self {
        Self {
            gamma: 2.0,
            step: 0,
        }
    }
}

impl GradientEstimation {
    /// ComfyUI's default, γ = 2.
    pub fn new() -> Self {
        Self::default()
    }

    /// With `ge_gamma` (any finite value; 1 is Euler).
    pub fn with(ge_gamma: f64) -> Result<Self> {
        if !ge_gamma.is_finite() {
            return Err(GdfError::OutOfRange {
                what: "ge_gamma",
                value: ge_gamma,
                expected: "a finite weight of the newest derivative (2 by default; 1 is Euler)",
            });
        }
        Ok(Self {
            gamma: ge_gamma,
            step: 0,
        })
    }

    /// γ.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }
}

impl Solver for GradientEstimation {
    fn name(&self) -> &'static str {
        "gradient_estimation"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        check_finite_start("gradient_estimation", grid)?;
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = next_step(grid, &mut self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        if ln.lam == f64::INFINITY {
            return Some(Eval::single(i, l, x_is_d0()));
        }
        // Δσ·(γ·d_i + (1 − γ)·d_{i−1}); Euler on the first step.
        let dt = ln.sigma() - l.sigma();
        Some(if i == 0 {
            d_history_step(i, l, ln, &[dt], 1)
        } else {
            d_history_step(i, l, ln, &[dt * self.gamma, dt * (1.0 - self.gamma)], 2)
        })
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
    fn history(&self) -> usize {
        2
    }
}

/// ComfyUI's `er_sde`: the extended reverse-time SDE solver (Cui et al. 2023, "Elucidating the
/// solution space of extended reverse-time SDEs", VP ER-SDE-Solver-3) in ComfyUI's form, with
/// its default noise scale function `f(λ) = λ·(e^(λ^0.3) + 10)` of `λ = σ = b/a`.
///
/// Step `i` from `s = σ_i` to `t = σ_{i+1}`, `r = f(t)/f(s)`:
/// `x̃' = r·x̃ + (1 − r)·D + c₂·D′ + c₃·D″ + s_noise·√(t² − s²r²)·n`, where `D′`, `D″` are
/// the divided differences of the last three `D` in σ (`D″` over half the span, as ComfyUI
/// writes it), `c₂ = (t − s) + f(t)·∫ dσ/f` and `c₃ = (t − s)²/2 + f(t)·∫ (σ − s)/f dσ` over
/// `[t, s]`, each integral ComfyUI's 200-point Riemann sum from `t`. Stage `k` (Euler, `D′`,
/// `D″`) is used from step `k − 1` on, up to `max_stage` (3 by default); one draw per step but
/// the last, which returns `D`; none with `s_noise = 0` (an ODE solver then).
///
/// ```
/// use gdf::solver::{AnySolver, ErSde, Solver};
/// assert_eq!(AnySolver::from_name("er_sde")?.name(), "er_sde");
/// assert!(ErSde::with(1.0, 0).is_err() && ErSde::with(-1.0, 3).is_err());
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ErSde {
    s_noise: f64,
    max_stage: usize,
    step: usize,
}

impl Default for ErSde {
    fn default() -> Self {
        Self {
            s_noise: 1.0,
            max_stage: 3,
            step: 0,
        }
    }
}

/// ComfyUI's default noise scale function of ER-SDE.
fn er_scale(l: f64) -> f64 {
    l * (l.powf(0.3).exp() + 10.0)
}

/// ComfyUI's integration points of ER-SDE's stage integrals.
const ER_POINTS: usize = 200;

impl ErSde {
    /// ComfyUI's defaults: `s_noise = 1`, three stages.
    pub fn new() -> Self {
        Self::default()
    }

    /// With `s_noise ≥ 0` and `max_stage` in 1..=3.
    pub fn with(s_noise: f64, max_stage: usize) -> Result<Self> {
        if !(s_noise >= 0.0 && s_noise.is_finite()) {
            return Err(GdfError::OutOfRange {
                what: "s_noise",
                value: s_noise,
                expected: "a finite noise scale >= 0 (0: the ODE)",
            });
        }
        if !(1..=3).contains(&max_stage) {
            return Err(GdfError::OutOfRange {
                what: "max_stage",
                value: max_stage as f64,
                expected: "1, 2 or 3 (the stages ComfyUI's er_sde has)",
            });
        }
        Ok(Self {
            s_noise,
            max_stage,
            step: 0,
        })
    }

    /// `(c₂, c₃)` of a step from `s` to `t`: ComfyUI's Riemann sums of the stage integrals.
    fn stage_coefficients(s: f64, t: f64) -> (f64, f64) {
        let dt = t - s;
        let h = -dt / ER_POINTS as f64;
        let (mut s1, mut su) = (0.0, 0.0);
        for k in 0..ER_POINTS {
            let p = t + k as f64 * h;
            let f = er_scale(p);
            s1 += 1.0 / f;
            su += (p - s) / f;
        }
        let ft = er_scale(t);
        (dt + s1 * h * ft, dt * dt / 2.0 + su * h * ft)
    }
}

impl Solver for ErSde {
    fn name(&self) -> &'static str {
        "er_sde"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        check_finite_start("er_sde", grid)?;
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = next_step(grid, &mut self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        let mut r = Row::new(Dst::Buf(Buf::X));
        if ln.lam == f64::INFINITY {
            r = r.t(Src::D(0), 1.0);
            return Some(Eval::single(i, l, Pass::one(r)));
        }
        let sig = |k: usize| grid.level(k).sigma();
        let (s, t) = (l.sigma(), ln.sigma());
        let ratio = er_scale(t) / er_scale(s);
        let stage = self.max_stage.min(i + 1);
        // x' = a'·(r·x/a + (1 − r)·D + c₂·D′ + c₃·D″ + noise), D′ and D″ over D_0, D_1, D_2.
        let mut cd = [ln.a * (1.0 - ratio), 0.0, 0.0];
        if stage >= 2 {
            let (c2, c3) = Self::stage_coefficients(s, t);
            let w = ln.a * c2 / (s - sig(i - 1));
            cd[0] += w;
            cd[1] -= w;
            if stage >= 3 {
                // D″ = (D′_i − D′_{i−1})/((s − σ_{i−2})/2).
                let q = ln.a * c3 * 2.0 / (s - sig(i - 2));
                let (u, v) = (1.0 / (s - sig(i - 1)), 1.0 / (sig(i - 1) - sig(i - 2)));
                cd[0] += q * u;
                cd[1] -= q * (u + v);
                cd[2] += q * v;
            }
        }
        r = r.t(Src::Buf(Buf::X), ln.a / l.a * ratio);
        for (k, &c) in cd.iter().enumerate().take(stage) {
            r = r.t(Src::D(k as u8), c);
        }
        let mut pass = Pass::default();
        if self.s_noise > 0.0 {
            let v = t * t - s * s * ratio * ratio;
            // ComfyUI's NaN of a negative variance becomes 0.
            let amp = if v > 0.0 { v.sqrt() } else { 0.0 };
            r = r.t(Src::Noise(0), ln.a * self.s_noise * amp);
            pass = pass.draw(Draw::Use);
        }
        Some(Eval::of_order(i, l, pass.row(r), stage))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
    fn history(&self) -> usize {
        3
    }
}

/// ComfyUI's `ipndm` and `ipndm_v` (from zju-pi/diff-sampler): Adams–Bashforth in σ on the VE
/// derivative `d = (x̃ − D)/σ`, `x̃' = x̃ + (σ' − σ)·Σ_k c_k·d_{i−k}`, the order growing
/// 1, 2, … up to `max_order` (4 by default) over the first steps, the step to `σ = 0`
/// returning `D`. `ipndm` takes the fixed coefficients of uniform steps (3/2, −1/2; 23/12,
/// −16/12, 5/12; 55/24, −59/24, 37/24, −9/24); `ipndm_v` ComfyUI's variable-step ones, which
/// are Adams–Bashforth's at order 2 on any steps and at order 3 on uniform ones, but not at
/// order 3 on uneven steps nor at order 4 at all (57/24, −65/24, 43/24, −11/24 on uniform
/// steps); at order 4 they sum to `1 + t₂·q·(h₂/h₃ − h₁/h₂)`, not 1, wherever the steps'
/// ratios vary (a Karras grid), so `ipndm_v` is not exact even for single-point data there:
/// reproduced as ComfyUI writes them (`IpndmSigma::with(3, true)` keeps to order 3). The
/// history holds `d`, not `D`.
///
/// ```
/// use gdf::solver::{AnySolver, IpndmSigma, Solver};
/// assert_eq!(AnySolver::from_name("ipndm")?.name(), "ipndm");
/// assert_eq!(AnySolver::from_name("ipndm_v")?.name(), "ipndm_v");
/// assert!(IpndmSigma::with(5, false).is_err());
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug)]
pub struct IpndmSigma {
    max_order: usize,
    variable: bool,
    step: usize,
}

impl IpndmSigma {
    /// `ipndm`: order 4, fixed coefficients.
    pub fn new() -> Self {
        Self {
            max_order: 4,
            variable: false,
            step: 0,
        }
    }

    /// `ipndm_v`: order 4, variable-step coefficients.
    pub fn variable() -> Self {
        Self {
            variable: true,
            ..Self::new()
        }
    }

    /// With `max_order` in 1..=4; `variable`: `ipndm_v`'s coefficients.
    pub fn with(max_order: usize, variable: bool) -> Result<Self> {
        super::check_order("max_order", max_order, 4)?;
        Ok(Self {
            max_order,
            variable,
            step: 0,
        })
    }

    /// The coefficients `c_k` (k = 0 the newest) of step `i` at order `p`.
    fn coefficients(&self, grid: &Grid, i: usize, p: usize) -> [f64; 4] {
        if p == 1 {
            return [1.0, 0.0, 0.0, 0.0];
        }
        if !self.variable {
            return match p {
                2 => [1.5, -0.5, 0.0, 0.0],
                3 => [23.0 / 12.0, -16.0 / 12.0, 5.0 / 12.0, 0.0],
                _ => [55.0 / 24.0, -59.0 / 24.0, 37.0 / 24.0, -9.0 / 24.0],
            };
        }
        let sig = |k: usize| grid.level(k).sigma();
        // The step and the three before it (negative: σ decreases).
        let h = sig(i + 1) - sig(i);
        let back = |k: usize| {
            if i >= k {
                sig(i + 1 - k) - sig(i - k)
            } else {
                0.0
            }
        };
        let (h1, h2, h3) = (back(1), back(2), back(3));
        let c2 = [(2.0 + h / h1) / 2.0, -(h / h1) / 2.0];
        if p == 2 {
            return [c2[0], c2[1], 0.0, 0.0];
        }
        let t1 = (1.0 - h / (3.0 * (h + h1)) * (h * (h + h1)) / (h1 * (h1 + h2))) / 2.0;
        if p == 3 {
            return [c2[0] + t1, c2[1] - (1.0 + h1 / h2) * t1, t1 * h1 / h2, 0.0];
        }
        let q = h1 * (h1 + h2) / (h2 * (h2 + h3));
        let t2 = ((1.0 - h / (3.0 * (h + h1))) / 2.0
            + (1.0 - h / (2.0 * (h + h1))) * h / (6.0 * (h + h1 + h2)))
            * (h * (h + h1) * (h + h1 + h2))
            / (h1 * (h1 + h2) * (h1 + h2 + h3));
        [
            c2[0] + t1 + t2,
            c2[1] - (1.0 + h1 / h2) * t1 - (1.0 + h1 / h2 + q) * t2,
            t1 * h1 / h2 + (h1 / h2 + q * (1.0 + h2 / h3)) * t2,
            -t2 * q * h1 / h2,
        ]
    }
}

impl Default for IpndmSigma {
    fn default() -> Self {
        Self::new()
    }
}

impl Solver for IpndmSigma {
    fn name(&self) -> &'static str {
        if self.variable {
            "ipndm_v"
        } else {
            "ipndm"
        }
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        check_finite_start(self.name(), grid)?;
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = next_step(grid, &mut self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        if ln.lam == f64::INFINITY {
            return Some(Eval::single(i, l, x_is_d0()));
        }
        let p = self.max_order.min(i + 1);
        let dt = ln.sigma() - l.sigma();
        let c = self.coefficients(grid, i, p).map(|c| dt * c);
        Some(d_history_step(i, l, ln, &c[..p], p))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
    fn history(&self) -> usize {
        self.max_order
    }
}

/// The SEEDS solvers' settings (ComfyUI's `seeds_2`, `seeds_3`, `exp_heun_2_x0`,
/// `exp_heun_2_x0_sde`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum SeedsKind {
    /// Two stages at `r`; `phi2`: the `phi_2` update (else `phi_1`, the stages' mean).
    Two { r: f64, phi2: bool },
    /// Three stages at `r1 < r2`.
    Three { r1: f64, r2: f64 },
}

/// ComfyUI's SEEDS samplers (Gonzalez et al. 2023, "SEEDS: exponential SDE solvers for fast
/// high-quality sampling from diffusion models"; VP data prediction): exponential integrators
/// in the half-logSNR `h` with stochastic stages, `η` scaling the SDE (0: the ODE) and
/// `s_noise` the noise.
///
/// - `seeds_2` ([`Seeds::two`]): an evaluation at `λ_s + r·h` (r = ½) and the update from the
///   two, `phi_1` (their mean, with weights `1 − 1/(2r)`, `1/(2r)`) or `phi_2`;
/// - `seeds_3` ([`Seeds::three`]): evaluations at `r₁ = ⅓` and `r₂ = ⅔` of the step;
/// - `exp_heun_2_x0` and `exp_heun_2_x0_sde`: SEEDS-2 with `r = 1` and `phi_2`, the
///   exponential Heun method (deterministic, and with `η = 1`).
///
/// One draw per stage (none without noise); the noise of a step is the stages' draws carried
/// over its sub-intervals, as ComfyUI composes them. The step to `σ = 0` returns `D`.
///
/// ```
/// use gdf::solver::{AnySolver, Seeds, Solver};
/// for name in ["seeds_2", "seeds_3", "exp_heun_2_x0", "exp_heun_2_x0_sde"] {
///     assert_eq!(AnySolver::from_name(name)?.name(), name);
/// }
/// assert!(Seeds::two(1.0, 1.0, 0.0, false).is_err());
/// assert!(Seeds::three(1.0, 1.0, 0.7, 0.3).is_err());
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Seeds {
    kind: SeedsKind,
    eta: f64,
    s_noise: f64,
    name: &'static str,
    step: usize,
    stage: usize,
    levels: [Level; 2],
}

fn check_seeds_noise(eta: f64, s_noise: f64) -> Result<()> {
    if !(eta >= 0.0 && eta.is_finite()) {
        return Err(GdfError::OutOfRange {
            what: "eta",
            value: eta,
            expected: "a finite η >= 0 (0: the ODE)",
        });
    }
    if !(s_noise >= 0.0 && s_noise.is_finite()) {
        return Err(GdfError::OutOfRange {
            what: "s_noise",
            value: s_noise,
            expected: "a finite noise scale >= 0",
        });
    }
    Ok(())
}

/// `e^z − 1` (ComfyUI's `ei_h_phi_1`).
fn ei1(z: f64) -> f64 {
    z.exp_m1()
}

/// `(e^z − 1 − z)/z` (ComfyUI's `ei_h_phi_2`).
fn ei2(z: f64) -> f64 {
    (z.exp_m1() - z) / z
}

impl Seeds {
    /// `seeds_2`: `eta ≥ 0`, `s_noise ≥ 0`, the stage at `r` in (0, 1] (ComfyUI: 1, 1, ½),
    /// `phi2`: the `phi_2` update (ComfyUI's default `phi_1`).
    pub fn two(eta: f64, s_noise: f64, r: f64, phi2: bool) -> Result<Self> {
        check_seeds_noise(eta, s_noise)?;
        if !(r > 0.0 && r <= 1.0) {
            return Err(GdfError::OutOfRange {
                what: "r",
                value: r,
                expected: "a stage in (0, 1] of the step (0.5 by default)",
            });
        }
        Ok(Self::of(
            SeedsKind::Two { r, phi2 },
            eta,
            s_noise,
            "seeds_2",
        ))
    }

    /// `seeds_3`: `eta ≥ 0`, `s_noise ≥ 0`, the stages at `0 < r1 < r2 ≤ 1` (ComfyUI: 1, 1,
    /// ⅓, ⅔).
    pub fn three(eta: f64, s_noise: f64, r1: f64, r2: f64) -> Result<Self> {
        check_seeds_noise(eta, s_noise)?;
        if !(r1 > 0.0 && r1 < r2 && r2 <= 1.0) {
            return Err(GdfError::OutOfRange {
                what: if r1 > 0.0 && r1 < 1.0 { "r_2" } else { "r_1" },
                value: if r1 > 0.0 && r1 < 1.0 { r2 } else { r1 },
                expected: "stages 0 < r_1 < r_2 <= 1 of the step (1/3, 2/3 by default)",
            });
        }
        Ok(Self::of(
            SeedsKind::Three { r1, r2 },
            eta,
            s_noise,
            "seeds_3",
        ))
    }

    /// `exp_heun_2_x0`: the deterministic exponential Heun method (SEEDS-2, `r = 1`, `phi_2`,
    /// no noise).
    pub fn exp_heun() -> Self {
        Self::of(
            SeedsKind::Two { r: 1.0, phi2: true },
            0.0,
            0.0,
            "exp_heun_2_x0",
        )
    }

    /// `exp_heun_2_x0_sde`: its stochastic form with `eta ≥ 0`, `s_noise ≥ 0` (ComfyUI: 1, 1).
    pub fn exp_heun_sde(eta: f64, s_noise: f64) -> Result<Self> {
        check_seeds_noise(eta, s_noise)?;
        Ok(Self::of(
            SeedsKind::Two { r: 1.0, phi2: true },
            eta,
            s_noise,
            "exp_heun_2_x0_sde",
        ))
    }

    fn of(kind: SeedsKind, eta: f64, s_noise: f64, name: &'static str) -> Self {
        Self {
            kind,
            eta,
            s_noise,
            name,
            step: 0,
            stage: 0,
            levels: [Level::PURE_NOISE; 2],
        }
    }

    fn noisy(&self) -> bool {
        self.eta > 0.0 && self.s_noise > 0.0
    }

    /// The stages' fractions of the step.
    fn fractions(&self) -> [f64; 2] {
        match self.kind {
            SeedsKind::Two { r, .. } => [r, 1.0],
            SeedsKind::Three { r1, r2 } => [r1, r2],
        }
    }
}

impl Solver for Seeds {
    fn name(&self) -> &'static str {
        self.name
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        check_finite_start(self.name, grid)?;
        self.step = 0;
        self.stage = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = super::step_of(grid, self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        if ln.lam == f64::INFINITY {
            self.step += 1;
            return Some(Eval::single(i, l, x_is_d0()));
        }
        let h = super::half_step(&l, &ln);
        let (eta, noisy) = (self.eta, self.noisy());
        let he = h * (eta + 1.0);
        let three = matches!(self.kind, SeedsKind::Three { .. });
        let [f1, f2] = self.fractions();
        let sig = l.sigma();
        // x̃ carried from σ to the level at fraction f: a_f·(σ_f/σ)·e^{−f·h·η}·x/a.
        let carry = |lf: &Level, f: f64| lf.a * (lf.sigma() / sig) * (-f * h * eta).exp() / l.a;
        // The noise of the first stage over [0, f], and its carry to g: √(1 − e^{−2fhη}) and
        // e^{(f − g)hη}, √(1 − e^{2(f − g)hη}) for the fresh part.
        let first = |f: f64| (-(-2.0 * f * h * eta).exp_m1()).sqrt();
        let fresh = |f: f64, g: f64| (-(2.0 * (f - g) * h * eta).exp_m1()).sqrt();
        let x = Src::Buf(Buf::X);
        let aux = Src::Buf(Buf::Aux);
        let eval = |level: Level, input: Buf, post: Pass, last: bool| Eval {
            pre: None,
            input,
            level,
            post,
            step: i,
            completes_step: last,
            order: 2 + u8::from(three),
        };
        match self.stage {
            0 => {
                let l1 = grid.at(l.lam + 2.0 * f1 * h);
                self.levels[0] = l1;
                let mut row = Row::new(Dst::Buf(Buf::Aux))
                    .t(x, carry(&l1, f1))
                    .t(Src::D(0), -l1.a * ei1(-f1 * he));
                let mut pass = Pass::default();
                if noisy {
                    row = row.t(Src::Noise(0), l1.b * self.s_noise * first(f1));
                    pass = pass.draw(Draw::Use);
                }
                self.stage = 1;
                Some(eval(l, Buf::X, pass.row(row), false))
            }
            1 if three => {
                // x₃ at r₂ from x, D (D_1) and D₂ (D_0), into Aux; the first stage's noise
                // recovered from x₂ (Aux).
                let (l1, l2) = (self.levels[0], grid.at(l.lam + 2.0 * f2 * h));
                self.levels[1] = l2;
                let a32 = f2 / f1 * ei2(-f2 * he);
                let a31 = ei1(-f2 * he) - a32;
                let (mut cx, mut c1, c0) = (carry(&l2, f2), -l2.a * a31, -l2.a * a32);
                let mut row = Row::new(Dst::Buf(Buf::Aux));
                let mut pass = Pass::default();
                if noisy {
                    let k = l2.b * ((f1 - f2) * h * eta).exp() / l1.b;
                    cx -= k * carry(&l1, f1);
                    c1 -= k * (-l1.a * ei1(-f1 * he));
                    row = row
                        .t(aux, k)
                        .t(Src::Noise(0), l2.b * self.s_noise * fresh(f1, f2));
                    pass = pass.draw(Draw::Use);
                }
                row = row.t(x, cx).t(Src::D(1), c1).t(Src::D(0), c0);
                self.stage = 2;
                Some(eval(l1, Buf::Aux, pass.row(row), false))
            }
            _ => {
                // The update to σ' from x and the stages' D; the noise carried from the last
                // stage (recovered from its sample, in Aux) and a fresh draw.
                let (ls, fs) = if three {
                    (self.levels[1], f2)
                } else {
                    (self.levels[0], f1)
                };
                let (b_first, b_last) = match self.kind {
                    SeedsKind::Two { r, phi2: false } => {
                        let fac = 0.5 / r;
                        (ei1(-he) * (1.0 - fac), ei1(-he) * fac)
                    }
                    SeedsKind::Two { r, phi2: true } => {
                        let b2 = ei2(-he) / r;
                        (ei1(-he) - b2, b2)
                    }
                    SeedsKind::Three { r2, .. } => {
                        let b3 = ei2(-he) / r2;
                        (ei1(-he) - b3, b3)
                    }
                };
                // D of the step's start is D_1 (two stages) or D_2 (three).
                let start = 1 + usize::from(three);
                let mut cx = carry(&ln, 1.0);
                let mut cd = [0.0f64; 3];
                cd[start] = -ln.a * b_first;
                cd[0] = -ln.a * b_last;
                let mut row = Row::new(Dst::Buf(Buf::X));
                let mut pass = Pass::default();
                if noisy {
                    let k = ln.b * ((fs - 1.0) * h * eta).exp() / ls.b;
                    // The last stage's sample without its noise.
                    if three {
                        let a32 = f2 / f1 * ei2(-f2 * he);
                        let a31 = ei1(-f2 * he) - a32;
                        cx -= k * carry(&ls, f2);
                        cd[2] -= k * (-ls.a * a31);
                        cd[1] -= k * (-ls.a * a32);
                    } else {
                        cx -= k * carry(&ls, fs);
                        cd[1] -= k * (-ls.a * ei1(-fs * he));
                    }
                    row = row
                        .t(aux, k)
                        .t(Src::Noise(0), ln.b * self.s_noise * fresh(fs, 1.0));
                    pass = pass.draw(Draw::Use);
                }
                row = row.t(x, cx);
                for (k, &c) in cd.iter().enumerate().take(start + 1) {
                    if c != 0.0 {
                        row = row.t(Src::D(k as u8), c);
                    }
                }
                self.stage = 0;
                self.step += 1;
                Some(eval(ls, Buf::Aux, pass.row(row), true))
            }
        }
    }
    fn nfe(&self, grid: &Grid) -> usize {
        let per = if matches!(self.kind, SeedsKind::Three { .. }) {
            3
        } else {
            2
        };
        per * grid.steps() - (per - 1) * usize::from(grid.ends_clean())
    }
    fn history(&self) -> usize {
        if matches!(self.kind, SeedsKind::Three { .. }) {
            3
        } else {
            2
        }
    }
}

/// ComfyUI's `res_multistep` and `res_multistep_ancestral`: RES's second-order multistep
/// exponential integrator (Zhang et al. 2023, "Improved order analysis and design of
/// exponential integrator for diffusion models sampling") in the half-logSNR `t = −ln σ`, with
/// k-diffusion's ancestral split (`η`; 0 is `res_multistep`). A step goes to `σ_down`:
/// `x̃' = e^{−h}·x̃ + h·(b₁·D + b₂·D_prev)`, `b₂ = φ₂(−h)/c₂`, `b₁ = φ₁(−h) − b₂`,
/// `c₂ = (t_{i−1} − t_down,prev)/h` (0 where ComfyUI's NaN is), then adds `σ_up` of noise; the
/// first step, and a step whose `σ_down` is 0, are Euler steps. ComfyUI draws on every step
/// with `σ' > 0`, at `η = 0` too (times 0): so does this, so recorded noise stays aligned.
///
/// ```
/// use gdf::solver::{AnySolver, ResMultistep, Solver};
/// assert_eq!(AnySolver::from_name("res_multistep")?.name(), "res_multistep");
/// assert_eq!(AnySolver::from_name("res_multistep_ancestral")?.name(), "res_multistep_ancestral");
/// assert!(ResMultistep::with(-1.0, 1.0).is_err());
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ResMultistep {
    eta: f64,
    s_noise: f64,
    step: usize,
    prev_down: f64,
}

impl ResMultistep {
    /// `res_multistep` (η = 0).
    pub fn new() -> Self {
        Self {
            eta: 0.0,
            s_noise: 1.0,
            step: 0,
            prev_down: 0.0,
        }
    }

    /// `res_multistep_ancestral` with `eta ≥ 0` and `s_noise ≥ 0` (ComfyUI: 1, 1).
    pub fn with(eta: f64, s_noise: f64) -> Result<Self> {
        check_seeds_noise(eta, s_noise)?;
        Ok(Self {
            eta,
            s_noise,
            ..Self::new()
        })
    }
}

impl Default for ResMultistep {
    fn default() -> Self {
        Self::new()
    }
}

impl Solver for ResMultistep {
    fn name(&self) -> &'static str {
        if self.eta == 0.0 {
            "res_multistep"
        } else {
            "res_multistep_ancestral"
        }
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        check_finite_start(self.name(), grid)?;
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = next_step(grid, &mut self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        if ln.lam == f64::INFINITY {
            return Some(Eval::single(i, l, x_is_d0()));
        }
        let (s, sn) = (l.sigma(), ln.sigma());
        let (dn, up) = super::anc_split(&l, &ln, self.eta);
        let down = sn * dn;
        let mut row = Row::new(Dst::Buf(Buf::X));
        let order = if i == 0 || down == 0.0 {
            // Euler to σ_down: x̃' = (σ_down/σ)·x̃ + (1 − σ_down/σ)·D.
            let q = down / s;
            row = row
                .t(Src::Buf(Buf::X), ln.a * q / l.a)
                .t(Src::D(0), ln.a * (1.0 - q));
            1
        } else {
            let t = -s.ln();
            let h = -down.ln() - t;
            let c2 = (-grid.level(i - 1).sigma().ln() + self.prev_down.ln()) / h;
            let phi1 = (-h).exp_m1() / -h;
            let phi2 = (phi1 - 1.0) / -h;
            let finite = |v: f64| if v.is_nan() { 0.0 } else { v };
            let (b1, b2) = (finite(phi1 - phi2 / c2), finite(phi2 / c2));
            row = row
                .t(Src::Buf(Buf::X), ln.a * (-h).exp() / l.a)
                .t(Src::D(0), ln.a * h * b1)
                .t(Src::D(1), ln.a * h * b2);
            2
        };
        self.prev_down = down;
        let mut pass = Pass::default();
        if self.eta > 0.0 && self.s_noise > 0.0 {
            row = row.t(Src::Noise(0), ln.a * self.s_noise * sn * up);
            pass = pass.draw(Draw::Use);
        } else {
            pass = pass.draw(Draw::Skip);
        }
        Some(Eval::of_order(i, l, pass.row(row), order))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
    fn history(&self) -> usize {
        2
    }
}

/// ComfyUI's `heunpp2` (from Carzit/sd-webui-samplers-scheduler): Heun++ in σ with EDM
/// churn. Each step goes from `σ̂` to `σ_{i+1}` with a derivative averaged over the grid's
/// next two levels, `d' = w₁·d + w₂·d₂ + w₃·d₃`, `w_k = σ_{i+k−1}/(3σ₀)` for the
/// derivatives at the Euler predictions `σ_{i+1}`, `σ_{i+2}` (three evaluations); the step
/// before the last uses two (`w₂ = σ_{i+1}/(2σ₀)`), the last is Euler (one; it returns `D`
/// at `σ = 0`). `σ₀` is the grid's first level.
///
/// ```
/// use gdf::solver::{AnySolver, Churn, Heunpp2, Grid, Solver};
/// use gdf::scaler::Vp;
/// let s = AnySolver::from_name("heunpp2")?;
/// assert_eq!(s.name(), "heunpp2");
/// // 3 + 3 + 2 + 1 evaluations over four steps.
/// let grid = Grid::new(&Vp, &[-4.0, -1.0, 1.0, 3.0, f64::INFINITY])?;
/// assert_eq!(s.nfe(&grid), 9);
/// assert!(Heunpp2::with_churn(Churn { s_noise: 0.0, ..Churn::default() }).is_err());
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Heunpp2 {
    churn: super::Churn,
    step: usize,
    stage: usize,
    start: Option<(Buf, Level)>,
}

impl Heunpp2 {
    /// Without churn (ComfyUI's defaults).
    pub fn new() -> Self {
        Self::default()
    }

    /// With EDM churn (`s_churn`, `s_tmin`, `s_tmax`, `s_noise`).
    pub fn with_churn(churn: super::Churn) -> Result<Self> {
        churn.validate()?;
        Ok(Self {
            churn,
            ..Self::default()
        })
    }

    /// The evaluations of step `i`: 1 (the last), 2 (the one before) or 3.
    fn stages(grid: &Grid, i: usize) -> usize {
        let end = grid.level(grid.steps()).lam;
        if grid.level(i + 1).lam == end {
            1
        } else if grid.level(i + 2).lam == end {
            2
        } else {
            3
        }
    }
}

/// A VE sample as coefficients on (the step's start x̃, D, D₂, D₃).
type Ve = [f64; 4];

fn ve_lin(a: Ve, ka: f64, b: Ve, kb: f64) -> Ve {
    core::array::from_fn(|k| ka * a[k] + kb * b[k])
}

impl Solver for Heunpp2 {
    fn name(&self) -> &'static str {
        "heunpp2"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        check_finite_start("heunpp2", grid)?;
        self.step = 0;
        self.stage = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = super::step_of(grid, self.step)?;
        let stages = Self::stages(grid, i);
        let (pre, input, lh) = if self.stage == 0 {
            let (pre, input, lh) = self.churn.plan(grid, i);
            self.start = Some((input, lh));
            (pre, input, lh)
        } else {
            (None, Buf::Aux, grid.level(i + self.stage))
        };
        let (xin, lhat) = self.start.unwrap_or((Buf::X, grid.level(i)));
        // The chain in VE terms over (x̃, D, D₂, D₃).
        let sh = lhat.sigma();
        let sig = |k: usize| grid.level(k).sigma();
        let dt = sig(i + 1) - sh;
        let u: Ve = [1.0, 0.0, 0.0, 0.0];
        let unit = |k: usize| -> Ve { core::array::from_fn(|j| f64::from(u8::from(j == k))) };
        let d = ve_lin(u, 1.0 / sh, unit(1), -1.0 / sh);
        let x2 = ve_lin(u, 1.0, d, dt);
        let d2 = ve_lin(x2, 1.0 / sig(i + 1), unit(2), -1.0 / sig(i + 1));
        let s0 = sig(0);
        // The pass's sample: which level it writes and its VE coefficients.
        let (last, out_level, ve) = match (self.stage, stages) {
            (0, 1) => (true, grid.level(i + 1), x2),
            (0, _) => (false, grid.level(i + 1), x2),
            (1, 2) => {
                let w2 = sig(i + 1) / (2.0 * s0);
                let dp = ve_lin(d, 1.0 - w2, d2, w2);
                (true, grid.level(i + 1), ve_lin(u, 1.0, dp, dt))
            }
            (1, _) => {
                let x3 = ve_lin(x2, 1.0, d2, sig(i + 2) - sig(i + 1));
                (false, grid.level(i + 2), x3)
            }
            _ => {
                let x3 = ve_lin(x2, 1.0, d2, sig(i + 2) - sig(i + 1));
                let d3 = ve_lin(x3, 1.0 / sig(i + 2), unit(3), -1.0 / sig(i + 2));
                let (w2, w3) = (sig(i + 1) / (3.0 * s0), sig(i + 2) / (3.0 * s0));
                let dp = ve_lin(ve_lin(d, 1.0 - w2 - w3, d2, w2), 1.0, d3, w3);
                (true, grid.level(i + 1), ve_lin(u, 1.0, dp, dt))
            }
        };
        let mut row = Row::new(Dst::Buf(if last { Buf::X } else { Buf::Aux }));
        if out_level.lam == f64::INFINITY {
            // Euler to σ = 0: D itself (x̃'s weight 1 − σ̂/σ̂ is exactly 0).
            row = row.t(Src::D(0), 1.0);
        } else {
            let a = out_level.a;
            row = row.t(Src::Buf(xin), a * ve[0] / lhat.a);
            // D's of this step, newest first: the stage's own is D(0).
            for (k, &c) in ve[1..=self.stage + 1].iter().enumerate() {
                if c != 0.0 {
                    row = row.t(Src::D((self.stage - k) as u8), a * c);
                }
            }
        }
        let eval = Eval {
            pre,
            input,
            level: lh,
            post: Pass::one(row),
            step: i,
            completes_step: last,
            order: stages as u8,
        };
        if last {
            self.stage = 0;
            self.step += 1;
        } else {
            self.stage += 1;
        }
        Some(eval)
    }
    fn nfe(&self, grid: &Grid) -> usize {
        (0..grid.steps()).map(|i| Self::stages(grid, i)).sum()
    }
    fn history(&self) -> usize {
        3
    }
}

/// ComfyUI's `deis` (its default `deis_mode = "tab"`, from zju-pi/diff-sampler): tAB-DEIS,
/// Adams–Bashforth on the VE derivative `d = (x̃ − D)/σ` whose weights integrate the Lagrange
/// basis over the VP time `t` of EDM's VP-SDE mapping (σ 0.002–80, `ε_s = 10⁻³`, fixed
/// whatever the model), as the 10 000-point sum ComfyUI takes; the order grows 1, 2, … up
/// to `max_order` (3 by default), the first step and the step to `σ = 0` are Euler. gdf's
/// `"deis"` by name is diffusers' log-ρ DEIS ([`Deis`](super::Deis)); this one is
/// `"deis_tab"`.
///
/// ```
/// use gdf::solver::{AnySolver, DeisTab, Solver};
/// assert_eq!(AnySolver::from_name("deis_tab")?.name(), "deis_tab");
/// assert_eq!(AnySolver::from_name("deis")?.name(), "DEISMultistepScheduler");
/// assert!(DeisTab::with(5).is_err());
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug)]
pub struct DeisTab {
    max_order: usize,
    step: usize,
}

/// The points of tAB-DEIS's quadrature.
const DEIS_POINTS: usize = 10_000;

impl DeisTab {
    /// Order 3.
    pub fn new() -> Self {
        Self {
            max_order: 3,
            step: 0,
        }
    }

    /// With `max_order` in 1..=4.
    pub fn with(max_order: usize) -> Result<Self> {
        super::check_order("max_order", max_order, 4)?;
        Ok(Self { max_order, step: 0 })
    }

    /// EDM's VP-SDE `(β_min, β_d)` that tAB-DEIS maps σ through.
    fn betas() -> (f64, f64) {
        let (smin, smax, eps): (f64, f64, f64) = (0.002, 80.0, 1e-3);
        let bd = 2.0 * ((smin * smin + 1.0).ln() / eps - (smax * smax + 1.0).ln()) / (eps - 1.0);
        ((smax * smax + 1.0).ln() - 0.5 * bd, bd)
    }

    /// The VP time of `σ`.
    fn time(sigma: f64) -> f64 {
        let (bmin, bd) = Self::betas();
        ((bmin * bmin + 2.0 * bd * (sigma * sigma + 1.0).ln()).sqrt() - bmin) / bd
    }

    /// The weights `c_j` (j = 0 the newest) of step `i` at order `p ≥ 2`.
    fn coefficients(grid: &Grid, i: usize, p: usize) -> [f64; 4] {
        let (bmin, bd) = Self::betas();
        let t = |k: usize| Self::time(grid.level(k).sigma());
        let (t0, t1) = (t(i), t(i + 1));
        let nodes: Vec<f64> = (0..p).map(|j| t(i - j)).collect();
        let n = DEIS_POINTS;
        let step = (t1 - t0) / (n - 1) as f64;
        let dtau = (t1 - t0) / n as f64;
        let mut c = [0.0f64; 4];
        for k in 0..n {
            // torch.linspace's points: from the start for the first half, from the end after.
            let tau = if k < n / 2 {
                t0 + k as f64 * step
            } else {
                t1 - (n - 1 - k) as f64 * step
            };
            let alpha = (-0.5 * tau * tau * bd - tau * bmin).exp();
            let f = 0.5 * (tau * bd + bmin) / (alpha * (1.0 - alpha)).sqrt();
            for (j, cj) in c.iter_mut().enumerate().take(p) {
                let mut poly = 1.0;
                for (m, &tm) in nodes.iter().enumerate() {
                    if m != j {
                        poly *= (tau - tm) / (nodes[j] - tm);
                    }
                }
                *cj += f * poly;
            }
        }
        c.map(|v| v * dtau)
    }
}

impl Default for DeisTab {
    fn default() -> Self {
        Self::new()
    }
}

impl Solver for DeisTab {
    fn name(&self) -> &'static str {
        "deis_tab"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        check_finite_start("deis_tab", grid)?;
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = next_step(grid, &mut self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        if ln.lam == f64::INFINITY {
            return Some(Eval::single(i, l, x_is_d0()));
        }
        let p = self.max_order.min(i + 1);
        let c = if p == 1 {
            [ln.sigma() - l.sigma(), 0.0, 0.0, 0.0]
        } else {
            Self::coefficients(grid, i, p)
        };
        Some(d_history_step(i, l, ln, &c[..p], p))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
    fn history(&self) -> usize {
        self.max_order
    }
}

/// ComfyUI's `sa_solver` and `sa_solver_pece` (SA-Solver, Xue et al. 2023, as
/// `comfy/k_diffusion/sa_solver.py` computes it): at each level the stochastic Adams–Moulton
/// corrector (order `corrector`, the new prediction included; none on the first step, nor on
/// a step to σ = 0 except in PECE mode) corrects the sample, then the stochastic
/// Adams–Bashforth predictor (order `predictor`) goes to the next level and adds
/// `σ'·sqrt(1 − e^{−2τ²h})·s_noise` of noise, `h` the half-logSNR step. In PECE mode the model
/// is evaluated again at the corrected sample and that prediction replaces the newest (one
/// more evaluation a step). τ is `eta` where the next level's σ lies in
/// `[sigma_end, sigma_start]` (ComfyUI: the model's σ at 20 % and 80 % of sampling;
/// [`crate::interop::comfy::sampler`] sets it from the model sampling), else 0; orders rise
/// with the history and fall near a final σ = 0. The coefficients are the exponential
/// integrals of the Lagrange basis in the half-logSNR (or, with `simple_order_2`, the
/// paper's simplified order-2 pair). Differs from diffusers' [`SaSolver`](super::SaSolver)
/// in the order schedule, the τ window (taken at the next level, in σ), the order-2 terms
/// and PECE.
///
/// ```
/// use gdf::solver::{Grid, NoNoise, Run, SaSolverComfy, Solver};
/// use gdf::scaler::Vp;
/// // eta = 0: deterministic; a model that knows x0 gives x0.
/// let grid = Grid::new(&Vp, &[-6.0, -3.0, 0.0, 3.0, f64::INFINITY])?;
/// let s = SaSolverComfy::with(3, 4, 0.0, 1.0, (10.0, 0.1), false)?;
/// let x = Run::new(s, grid.clone(), vec![0.4f64], 1, NoNoise)?.run(|_x, _l, d| Ok(d.fill(0.5)))?;
/// assert!((x[0] - 0.5).abs() < 1e-12);
/// // PECE: one more evaluation on every step but the first.
/// let pece = SaSolverComfy::with(3, 4, 0.0, 1.0, (10.0, 0.1), false)?.pece();
/// assert_eq!(pece.nfe(&grid), 4 + 3);
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug)]
pub struct SaSolverComfy {
    predictor: usize,
    corrector: usize,
    eta: f64,
    s_noise: f64,
    sigma_start: f64,
    sigma_end: f64,
    simple_order_2: bool,
    pece: bool,
    step: usize,
    /// In PECE mode, whether this step's correction is done (its second evaluation next).
    corrected: bool,
    /// The previous predictor's gradient coefficients over this step's D(1), D(2), ….
    prev: [f64; 4],
    /// The previous predictor's τ.
    prev_tau: f64,
}

impl SaSolverComfy {
    /// ComfyUI's `sa_solver`: `predictor` order 1–3, `corrector` order 0–4 (0: none),
    /// `eta ≥ 0` in the σ window `(sigma_start, sigma_end)` (`sigma_start ≥ sigma_end`),
    /// `s_noise ≥ 0`. ComfyUI's defaults: 3, 4, 1, 1, the model's σ at 20 % and 80 %,
    /// `false`. [`Self::pece`] for `sa_solver_pece`.
    ///
    /// Errors: [`GdfError::OutOfRange`] naming the field.
    pub fn with(
        predictor: usize,
        corrector: usize,
        eta: f64,
        s_noise: f64,
        (sigma_start, sigma_end): (f64, f64),
        simple_order_2: bool,
    ) -> Result<Self> {
        super::check_order("predictor_order", predictor, 3)?;
        if corrector > 4 {
            return Err(GdfError::OutOfRange {
                what: "corrector_order",
                value: corrector as f64,
                expected: "0 (no corrector) to 4",
            });
        }
        check_seeds_noise(eta, s_noise)?;
        if !(sigma_start >= sigma_end && sigma_end >= 0.0) {
            return Err(GdfError::OutOfRange {
                what: "sigma_end",
                value: sigma_end,
                expected: "0 ≤ sigma_end ≤ sigma_start (the noisy end first)",
            });
        }
        Ok(Self {
            predictor,
            corrector,
            eta,
            s_noise,
            sigma_start,
            sigma_end,
            simple_order_2,
            pece: false,
            step: 0,
            corrected: false,
            prev: [0.0; 4],
            prev_tau: 0.0,
        })
    }

    /// The same solver in PECE mode (`sa_solver_pece`): the model evaluated again at each
    /// corrected sample.
    pub fn pece(mut self) -> Self {
        self.pece = true;
        self
    }

    /// τ at the level with VE noise level `sigma`.
    fn tau(&self, sigma: f64) -> f64 {
        if self.eta > 0.0 && self.sigma_start >= sigma && sigma >= self.sigma_end {
            self.eta
        } else {
            0.0
        }
    }

    /// The update's gradient coefficients over D(0), D(1), … (newest first) from `s` to `e`
    /// (half-logSNR), before the factor `a'·(1 + τ²)·e^{−(1+τ²)e}` (`super::sa`'s
    /// `gradient_scale`): the Lagrange integrals, or the simple order-2 pair.
    fn coefficients(&self, lams: &[f64], s: f64, e: f64, tau: f64, corrector: bool) -> Vec<f64> {
        if !(self.simple_order_2 && lams.len() == 2) {
            return super::sa::gradient(lams, s, e, tau);
        }
        // The paper's simplified pair, b/α, divided by the factor above to share it.
        let c = 1.0 + tau * tau;
        let h = e - s;
        let one = -(-h * c).exp_m1();
        let (newest, older) = if corrector {
            let b1 = 0.5 * c * h;
            (b1, one - b1)
        } else {
            let b2 = 0.5 * c * h * h / (lams[1] - s);
            (one - b2, b2)
        };
        let k = (c * e).exp() / c;
        vec![newest * k, older * k]
    }

    /// The corrector order at step `i` of `n` (0: none).
    fn corrector_order(&self, grid: &Grid, i: usize) -> usize {
        let n = grid.steps();
        let to_zero = grid.level(i + 1).lam == f64::INFINITY;
        if i == 0 || (to_zero && !self.pece) {
            return 0;
        }
        let history = (i + 1).min(self.predictor.max(self.corrector));
        let cn = self.corrector.min(history);
        if grid.level(n).lam == f64::INFINITY {
            cn.min(n - i)
        } else {
            cn
        }
    }
}

impl Solver for SaSolverComfy {
    fn name(&self) -> &'static str {
        if self.pece {
            "sa_solver_pece"
        } else {
            "sa_solver"
        }
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        check_finite_start(self.name(), grid)?;
        self.step = 0;
        self.corrected = false;
        self.prev = [0.0; 4];
        self.prev_tau = 0.0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        use super::sa::{gradient_scale, lh};
        let i = super::step_of(grid, self.step)?;
        let n = grid.steps();
        let (l, t) = (grid.level(i), grid.level(i + 1));
        let lam = |k: usize| lh(&grid.level(k));
        let to_zero = t.lam == f64::INFINITY;
        let history = (i + 1).min(self.predictor.max(self.corrector));
        let mut p = self.predictor.min(history);
        if grid.level(n).lam == f64::INFINITY {
            p = p.min(n - 1 - i);
        }
        let cn = self.corrector_order(grid, i);
        // The corrector over [λ̂_{i−1}, λ̂_i] with the previous predictor's τ, replacing that
        // predictor's gradient terms: the corrected sample is x + Σ w·D.
        let mut w = [0.0f64; 4];
        if cn > 0 && !self.corrected {
            let tau = self.prev_tau;
            let prev = grid.level(i - 1);
            let lams: Vec<f64> = (0..cn).map(|k| lam(i - k)).collect();
            let g = self.coefficients(&lams, lh(&prev), lh(&l), tau, true);
            w = super::sa::corrector_terms(&g, gradient_scale(tau, &l), &self.prev);
            if self.pece {
                // Correct in place (`x + Σ w·D`: the predictor row with no step), then
                // evaluate again at the corrected sample.
                self.corrected = true;
                let (row, _) = super::sa::predictor_row(1.0, 0.0, &w, &[]);
                return Some(Eval {
                    pre: None,
                    input: Buf::X,
                    level: l,
                    post: Pass::one(row),
                    step: i,
                    completes_step: false,
                    order: cn as u8,
                });
            }
        }
        // After a PECE correction the new prediction replaces the newest.
        let replacing = std::mem::take(&mut self.corrected);
        let finish = |pass: Pass| {
            if replacing {
                pass.replacing_newest()
            } else {
                pass
            }
        };
        self.step += 1;
        if to_zero {
            self.prev = [0.0; 4];
            return Some(Eval::of_order(i, l, finish(x_is_d0()), p.max(cn).max(1)));
        }
        let tau = self.tau(t.sigma());
        let (s, e) = (lh(&l), lh(&t));
        let h = e - s;
        let kx = (-tau * tau * h).exp() * t.b / l.b;
        let g = if p > 0 {
            let lams: Vec<f64> = (0..p).map(|k| lam(i - k)).collect();
            self.coefficients(&lams, s, e, tau, false)
        } else {
            Vec::new()
        };
        let (row, prev) = super::sa::predictor_row(kx, gradient_scale(tau, &t), &w, &g);
        self.prev = prev;
        self.prev_tau = tau;
        let pass = if tau > 0.0 && self.s_noise > 0.0 {
            let noise = self.s_noise * t.b * (-(-2.0 * tau * tau * h).exp_m1()).sqrt();
            Pass::one(row.t(Src::Noise(0), noise)).increment(l, t)
        } else {
            Pass::one(row)
        };
        Some(Eval::of_order(i, l, finish(pass), p.max(cn).max(1)))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        let extra = if self.pece {
            (0..grid.steps())
                .filter(|&i| self.corrector_order(grid, i) > 0)
                .count()
        } else {
            0
        };
        grid.steps() + extra
    }
    fn history(&self) -> usize {
        (self.predictor + 1).max(self.corrector).min(4)
    }
}
