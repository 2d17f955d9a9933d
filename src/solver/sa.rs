//! diffusers' `SASolverScheduler` (SA-Solver, Xue et al. 2023): stochastic Adams predictor and
//! corrector in data-prediction form.

use crate::error::Result;

use super::{
    check_finite_start, check_order, next_step, x_is_d0, Buf, Dst, Eval, Grid, Level, Pass, Row,
    Solver, Src,
};

/// SA-Solver's stochasticity `τ` as a function of the level: `tau_in` on
/// `lam_lo < λ ≤ lam_hi`, `tau_out` elsewhere (diffusers' default `τ(t) = 1` for training steps
/// `200 ≤ t ≤ 800`, else 0; a constant τ is `tau_in = tau_out`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TauWindow {
    /// The window's noisy end (exclusive).
    pub lam_lo: f64,
    /// Its clean end (inclusive).
    pub lam_hi: f64,
    /// τ inside.
    pub tau_in: f64,
    /// τ outside.
    pub tau_out: f64,
}

impl TauWindow {
    /// The same τ everywhere.
    pub fn constant(tau: f64) -> Self {
        Self {
            lam_lo: f64::NEG_INFINITY,
            lam_hi: f64::INFINITY,
            tau_in: tau,
            tau_out: tau,
        }
    }
    fn at(&self, lam: f64) -> f64 {
        if lam > self.lam_lo && lam <= self.lam_hi {
            self.tau_in
        } else {
            self.tau_out
        }
    }
}

/// diffusers' `SASolverScheduler` (`algorithm_type = "data_prediction"`): each step first
/// corrects the current sample with the stochastic Adams–Moulton update (order `corrector`,
/// the new prediction included), then predicts the next with the stochastic Adams–Bashforth
/// update (order `predictor`), both over Lagrange polynomials in the half-logSNR `λ̂` with the
/// exponential integrals `∫ e^{(1+τ²)x}·x^k dx`, and adds `b'·sqrt(1 − e^{−2τ²h})·n`.
///
/// The corrector reuses the previous step's noise and start: its update from the previous
/// corrected sample differs from that step's predictor only in its gradient terms, so the
/// corrected sample is `x + Σ (corrector − predictor)·D` and the whole step is one row over
/// `x` and the prediction history (`history` = predictor order + 1 entries).
///
/// ```
/// use gdf::solver::{Grid, NoNoise, SaSolver, Solver, TauWindow};
/// use gdf::scaler::Vp;
/// // τ = 0: deterministic; a point mass is exact.
/// let grid = Grid::new(&Vp, &[-6.0, -3.0, 0.0, 3.0, 6.0])?;
/// let (l0, l4) = (grid.level(0), grid.level(4));
/// let eps = (0.4 - l0.a * 0.5) / l0.b;
/// let s = SaSolver::with(2, 2, true, TauWindow::constant(0.0))?;
/// let mut run = gdf::solver::Run::new(s, grid, vec![0.4f64], 1, gdf::solver::CounterNoise::new(0))?;
/// let x = run.run(|_x, _l, d| Ok(d.fill(0.5)))?;
/// assert!((x[0] - (l4.a * 0.5 + l4.b * eps)).abs() < 1e-12);
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug)]
pub struct SaSolver {
    predictor: usize,
    corrector: usize,
    lower_order_final: bool,
    tau: TauWindow,
    step: usize,
    /// The previous predictor's gradient coefficients over D(1), D(2), … (their D(0), …).
    prev: [f64; 4],
    /// The corrector order the previous step set for this one.
    corrector_now: usize,
}

impl SaSolver {
    /// With diffusers' default orders (2, 2), `lower_order_final` and τ window.
    ///
    /// Errors: [`GdfError::OutOfRange`](crate::GdfError::OutOfRange) naming
    /// `predictor_order` (1–3) or `corrector_order` (1–4).
    pub fn with(
        predictor: usize,
        corrector: usize,
        lower_order_final: bool,
        tau: TauWindow,
    ) -> Result<Self> {
        check_order("predictor_order", predictor, 3)?;
        check_order("corrector_order", corrector, 4)?;
        Ok(Self {
            predictor,
            corrector,
            lower_order_final,
            tau,
            step: 0,
            prev: [0.0; 4],
            corrector_now: 1,
        })
    }
}

/// `∫_s^e e^{c·x}·x^k dx` (k ≤ 3), in diffusers' closed form.
fn exp_integral(k: usize, s: f64, e: f64, c: f64) -> f64 {
    let (se, ee) = (c * s, c * e);
    let d = (-(ee - se)).exp();
    let p = |x: f64| match k {
        0 => 1.0,
        1 => x - 1.0,
        2 => x * x - 2.0 * x + 2.0,
        _ => x * x * x - 3.0 * x * x + 6.0 * x - 6.0,
    };
    ee.exp() * (p(ee) - p(se) * d) / c.powi(k as i32 + 1)
}

/// The Lagrange basis of the nodes `lams` in expanded form: `out[j][m]` is the coefficient of
/// `x^(n−1−m)` in the polynomial that is 1 at `lams[j]` and 0 at the others.
fn lagrange(lams: &[f64]) -> Vec<Vec<f64>> {
    let n = lams.len();
    (0..n)
        .map(|j| {
            // ∏_{k≠j} (x − λ_k) / (λ_j − λ_k), expanded (highest power first).
            let mut poly = vec![1.0];
            let mut den = 1.0;
            for (k, &lk) in lams.iter().enumerate() {
                if k == j {
                    continue;
                }
                let mut next = vec![0.0; poly.len() + 1];
                for (i, &c) in poly.iter().enumerate() {
                    next[i] += c;
                    next[i + 1] -= c * lk;
                }
                poly = next;
                den *= lams[j] - lk;
            }
            poly.into_iter().map(|c| c / den).collect()
        })
        .collect()
}

/// The gradient coefficients of an order-`lams.len()` update over `[s, e]` (λ̂) with τ.
pub(super) fn gradient(lams: &[f64], s: f64, e: f64, tau: f64) -> Vec<f64> {
    let n = lams.len();
    let c = 1.0 + tau * tau;
    lagrange(lams)
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(m, &l)| l * exp_integral(n - 1 - m, s, e, c))
                .sum()
        })
        .collect()
}

/// The factor `(1 + τ²)·b·e^{−τ²λ̂}` of an update's gradient terms at its target level.
pub(super) fn gradient_scale(tau: f64, target: &Level) -> f64 {
    (1.0 + tau * tau) * target.b * (-tau * tau * lh(target)).exp()
}

/// The corrector's terms `w` over D(0), D(1), …: its gradient `k·g` less the previous
/// predictor's `prev` (over the previous step's D(0), D(1), …, now D(1), D(2), …), so the
/// corrected sample is `x + Σ w·D`.
pub(super) fn corrector_terms(g: &[f64], k: f64, prev: &[f64; 4]) -> [f64; 4] {
    let mut w = [0.0f64; 4];
    for (j, gj) in g.iter().enumerate() {
        w[j] += k * gj;
    }
    for j in 0..3 {
        w[j + 1] -= prev[j];
    }
    w
}

/// The predictor's row `x' = kx·(x + Σ w·D) + Σ kg·g·D` (the corrector's terms `w` carried
/// through), and the predictor's own gradient coefficients `kg·g` (what the next corrector
/// replaces), over D(0), D(1), ….
pub(super) fn predictor_row(kx: f64, kg: f64, w: &[f64; 4], g: &[f64]) -> (Row, [f64; 4]) {
    let mut row = Row::new(Dst::Buf(Buf::X)).t(Src::Buf(Buf::X), kx);
    let mut prev = [0.0; 4];
    for (j, wj) in w.iter().enumerate() {
        let gj = g.get(j).map_or(0.0, |g| kg * g);
        prev[j] = gj;
        let coef = kx * wj + gj;
        if coef != 0.0 {
            row = row.t(Src::D(j as u8), coef);
        }
    }
    (row, prev)
}

/// Half-logSNR of a level.
pub(super) fn lh(l: &Level) -> f64 {
    0.5 * l.lam
}

impl Solver for SaSolver {
    fn takes_threshold(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "SASolverScheduler"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        check_finite_start("SASolverScheduler", grid)?;
        self.step = 0;
        self.prev = [0.0; 4];
        self.corrector_now = 1;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = next_step(grid, &mut self.step)?;
        let n = grid.steps();
        let (l, t) = (grid.level(i), grid.level(i + 1));
        let lam = |k: usize| lh(&grid.level(k));
        // Coefficients over D(0..4) of this step's corrected sample, beyond x itself.
        let mut w = [0.0f64; 4];
        if i > 0 {
            // The corrector (order set by the previous step) over [λ̂_{i−1}, λ̂_i], with the
            // previous step's τ; minus the previous predictor's gradient, which it replaces.
            let order = self.corrector_now;
            let prev = grid.level(i - 1);
            let tau = self.tau.at(prev.lam);
            let (s, e) = (lh(&prev), lh(&l));
            let lams: Vec<f64> = (0..order).map(|k| lam(i - k)).collect();
            let mut g = gradient(&lams, s, e, tau);
            let c = 1.0 + tau * tau;
            if order == 2 {
                let h = e - s;
                let add = (c * e).exp() * (h / 2.0 - (h * c - 1.0 + (-c * h).exp()) / (c * c * h));
                g[0] += add;
                g[1] -= add;
            }
            w = corrector_terms(&g, gradient_scale(tau, &l), &self.prev);
        }
        // Orders (diffusers: lower_order_final caps them near the end, the warm-up at the
        // start).
        let warm = i.min(self.predictor.max(self.corrector.saturating_sub(1)));
        let mut p = self.predictor;
        let mut cn = self.corrector;
        if self.lower_order_final {
            p = p.min(n - i);
            cn = cn.min(n - i + 1);
        }
        p = p.min(warm + 1);
        self.corrector_now = cn.min(warm + 2);
        // The predictor over [λ̂_i, λ̂_{i+1}] with this step's τ.
        let tau = self.tau.at(l.lam);
        let c = 1.0 + tau * tau;
        let (s, e) = (lh(&l), lh(&t));
        let h = e - s;
        let post = if t.lam == f64::INFINITY {
            // diffusers' grids end at σ_min; a step to σ = 0 returns the prediction.
            self.prev = [0.0; 4];
            x_is_d0()
        } else {
            let lams: Vec<f64> = (0..p).map(|k| lam(i - k)).collect();
            let mut g = gradient(&lams, s, e, tau);
            if p == 2 {
                let add = (c * e).exp() * (h * h / 2.0 - (h * c - 1.0 + (-c * h).exp()) / (c * c))
                    / (s - lam(i - 1));
                g[0] += add;
                g[1] -= add;
            }
            let kx = (-tau * tau * h).exp() * t.b / l.b;
            let (row, prev) = predictor_row(kx, gradient_scale(tau, &t), &w, &g);
            self.prev = prev;
            let noise = t.b * (-(-2.0 * tau * tau * h).exp_m1()).sqrt();
            Pass::one(row.t(Src::Noise(0), noise)).increment(l, t)
        };
        Some(Eval::of_order(i, l, post, p))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
    fn history(&self) -> usize {
        (self.predictor + 1).max(self.corrector).min(4)
    }
}
