//! diffusers' `DEISMultistepScheduler` (log-ρ DEIS, Zhang & Chen): Adams–Bashforth in the VE
//! noise level `ρ = σ = b/a`, with the noise predictions interpolated by a Lagrange polynomial
//! in `ln ρ`.

use crate::error::Result;

use super::{
    check_finite_start, check_order, entry_row, next_step, x_is_d0, Buf, Dst, Eval, Grid, Level,
    Pass, Row, Solver, Src,
};

/// diffusers' `DEISMultistepScheduler` (`algorithm_type = "deis"`, `solver_type = "logrho"`),
/// orders 1–3 with its warm-up and `lower_order_final` (runs under 15 steps end with orders
/// 2, 1).
///
/// Each evaluation turns the prediction into the noise estimate `ε = (x − a·D)/b`, kept as the
/// history entry (as [`Lms`](super::Lms) keeps its derivatives), and steps
///
/// ```text
/// x_t = a_t·(x_s/a_s + Σ_j c_j·ε_j),  c_j = ∫_{ρ_s}^{ρ_t} ℓ_j(ln ρ) dρ
/// ```
///
/// with `ℓ_j` the Lagrange basis over the last `order` levels' `ln ρ` (order 1 is DDIM:
/// `c_0 = ρ_t − ρ_s`). The integrals are closed forms, evaluated in f64 (diffusers evaluates
/// them in float32).
///
/// ```
/// use gdf::scaler::Vp;
/// use gdf::solver::{Deis, Grid, NoNoise, Run};
///
/// // A point mass at 0.5: ε is constant along the flow, so every order is exact.
/// let grid = Grid::new(&Vp, &[-6.0, -3.0, 0.0, 3.0, 6.0])?;
/// let (l0, l4) = (grid.level(0), grid.level(4));
/// let x0 = 0.4f64;
/// let eps = (x0 - l0.a * 0.5) / l0.b;
/// let x = Run::new(Deis::with(3, true)?, grid, vec![x0], 1, NoNoise)?
///     .run(|_x, _l, d| Ok(d.fill(0.5)))?;
/// assert!((x[0] - (l4.a * 0.5 + l4.b * eps)).abs() < 1e-12);
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Deis {
    order: usize,
    lower_order_final: bool,
    step: usize,
}

impl Default for Deis {
    fn default() -> Self {
        Self {
            order: 2,
            lower_order_final: true,
            step: 0,
        }
    }
}

impl Deis {
    /// diffusers' defaults: order 2, `lower_order_final`.
    pub fn new() -> Self {
        Self::default()
    }

    /// With `solver_order` 1 to 3 and `lower_order_final`.
    ///
    /// Errors: [`GdfError::OutOfRange`](crate::GdfError::OutOfRange) naming `solver_order`.
    pub fn with(order: usize, lower_order_final: bool) -> Result<Self> {
        check_order("solver_order", order, 3)?;
        Ok(Self {
            order,
            lower_order_final,
            step: 0,
        })
    }

    /// The order of step `i` of `n` (diffusers' rule: warm-up, then `lower_order_final` on
    /// the last two steps of runs under 15 steps).
    pub fn order_at(&self, i: usize, n: usize) -> usize {
        let short = self.lower_order_final && n < 15;
        if self.order == 1 || i == 0 || (short && i + 1 == n) {
            1
        } else if self.order == 2 || i == 1 || (short && i + 2 == n) {
            2
        } else {
            3
        }
    }
}

/// `∫_{ρ_s}^{ρ_t} ℓ_0(ln ρ) dρ` for the Lagrange basis polynomial of node `u[0]` over the nodes
/// `u` (one to three `ln ρ` values).
fn basis_integral(rho_s: f64, rho_t: f64, u: &[f64]) -> f64 {
    // Antiderivatives in ρ of ∏_{k≥1}(ln ρ − u_k), over ∏(u_0 − u_k).
    let f = |rho: f64| -> f64 {
        let v = rho.ln();
        match u.len() {
            1 => rho,
            2 => rho * (v - 1.0 - u[1]),
            _ => rho * (v * v - 2.0 * v + 2.0 - (u[1] + u[2]) * (v - 1.0) + u[1] * u[2]),
        }
    };
    let den: f64 = u[1..].iter().map(|&uk| u[0] - uk).product();
    (f(rho_t) - f(rho_s)) / den
}

impl Solver for Deis {
    fn takes_threshold(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "DEISMultistepScheduler"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        // ρ = ∞ at λ = −∞: ln ρ and the integrals are undefined.
        check_finite_start("DEISMultistepScheduler", grid)?;
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = next_step(grid, &mut self.step)?;
        let n = grid.steps();
        let order = self.order_at(i, n);
        let (l, t) = (grid.level(i), grid.level(i + 1));
        // ε_i = (x − a·D)/b, stored over D_0.
        let eps = entry_row(&l, Buf::X, false);
        let post = if t.lam == f64::INFINITY {
            // The step to σ = 0 (never on diffusers' grids, which end at σ_min): x = D.
            x_is_d0()
        } else {
            let levels: Vec<Level> = (0..order).map(|k| grid.level(i - k)).collect();
            let u: Vec<f64> = levels.iter().map(|v| v.sigma().ln()).collect();
            let (rs, rt) = (l.sigma(), t.sigma());
            // x' = a'·(x/a + Σ c_j ε_j), each c_j the integral of its basis polynomial.
            let mut row = Row::new(Dst::Buf(Buf::X)).t(Src::Buf(Buf::X), t.a / l.a);
            for j in 0..order {
                let mut nodes = vec![u[j]];
                nodes.extend(
                    u.iter()
                        .enumerate()
                        .filter(|&(k, _)| k != j)
                        .map(|(_, &v)| v),
                );
                row = row.t(Src::D(j as u8), t.a * basis_integral(rs, rt, &nodes));
            }
            Pass::one(eps).row(row)
        };
        Some(Eval::of_order(i, l, post, order))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
    fn history(&self) -> usize {
        self.order
    }
}
