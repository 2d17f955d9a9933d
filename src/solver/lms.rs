//! k-diffusion's `sample_lms`: linear multistep in σ on the VE derivative `d = (x̃ − D)/σ`.

use crate::error::{GdfError, Result};

use super::{check_finite_start, check_order, d_history_step, next_step, Eval, Grid, Solver};

/// Linear multistep of order up to 4 (k-diffusion `sample_lms`, default order 4).
///
/// `x̃' = x̃ + Σ_j c_j·d_{i−j}`, where `c_j` integrates the Lagrange basis polynomial of node
/// `σ_{i−j}` (nodes `σ_i … σ_{i−p+1}`) over `[σ_i, σ_{i+1}]`, exactly (3-point Gauss–Legendre
/// is exact for the degree ≤ 3 polynomials here). The order grows 1, 2, …, p over the first
/// steps; the step to `σ = 0` is not special. The history holds `d`, not `D`.
#[derive(Clone, Debug)]
pub struct Lms {
    order: usize,
    step: usize,
}

impl Default for Lms {
    fn default() -> Self {
        Self { order: 4, step: 0 }
    }
}

impl Lms {
    /// Order 4.
    pub fn new() -> Self {
        Self::default()
    }
    /// With `order` in 1..=4.
    pub fn with_order(order: usize) -> Result<Self> {
        check_order("order", order, 4)?;
        Ok(Self { order, step: 0 })
    }

    /// The coefficients `c_j` (j = 0 newest) of step `i` with `p` nodes.
    fn coefficients(sigmas: &[f64], i: usize, p: usize) -> [f64; 4] {
        let (lo, hi) = (sigmas[i], sigmas[i + 1]);
        let (mid, half) = (0.5 * (lo + hi), 0.5 * (hi - lo));
        let g = 0.6f64.sqrt();
        let nodes = [(-g, 5.0 / 9.0), (0.0, 8.0 / 9.0), (g, 5.0 / 9.0)];
        let mut c = [0.0; 4];
        for (j, cj) in c.iter_mut().enumerate().take(p) {
            let mut s = 0.0;
            for &(u, w) in &nodes {
                let tau = mid + half * u;
                let mut prod = 1.0;
                for k in 0..p {
                    if k != j {
                        prod *= (tau - sigmas[i - k]) / (sigmas[i - j] - sigmas[i - k]);
                    }
                }
                s += w * prod;
            }
            *cj = s * half;
        }
        c
    }

    /// The order `p` and coefficients of step `i` on `grid`.
    fn step_coefficients(&self, grid: &Grid, i: usize) -> (usize, [f64; 4]) {
        let p = (i + 1).min(self.order);
        // σ of the nodes i−p+1 … i+1 (only those are read).
        let mut sig = [0.0f64; 5];
        let first = i + 1 - p;
        for (k, s) in sig.iter_mut().enumerate().take(p + 1) {
            *s = grid.level(first + k).sigma();
        }
        (p, Self::coefficients(&sig[..p + 1], p - 1, p))
    }

    /// The coefficients of every step sum to the step's length `σ_{i+1} − σ_i` (the Lagrange
    /// basis sums to 1). Levels so close that their σ differences lose their digits break
    /// that: an error naming the step, not a result of 10²⁸.
    fn check_coefficients(&self, grid: &Grid) -> Result<()> {
        for i in 0..grid.steps() {
            let (p, c) = self.step_coefficients(grid, i);
            let h = grid.level(i + 1).sigma() - grid.level(i).sigma();
            let sum: f64 = c[..p].iter().sum();
            if !(c[..p].iter().all(|v| v.is_finite()) && (sum - h).abs() <= 1e-6 * h.abs()) {
                return Err(GdfError::Invalid {
                    message: format!(
                        "lms: the order-{p} coefficients of step {i} (grid[{i}] → grid[{}], \
                         σ {} → {}) sum to {sum:e}, not the step length {h:e}: the levels \
                         are too close for their σ differences to keep their digits; use \
                         fewer, more distinct levels or a lower order",
                        i + 1,
                        grid.level(i).sigma(),
                        grid.level(i + 1).sigma(),
                    ),
                });
            }
        }
        Ok(())
    }
}

impl Solver for Lms {
    fn name(&self) -> &'static str {
        "lms"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        check_finite_start("lms", grid)?;
        self.check_coefficients(grid)?;
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = next_step(grid, &mut self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        let (p, c) = self.step_coefficients(grid, i);
        Some(d_history_step(i, l, ln, &c[..p], p))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
    fn history(&self) -> usize {
        self.order
    }
}
