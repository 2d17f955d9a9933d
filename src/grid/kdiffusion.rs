//! k-diffusion's grids (SPEC-solvers §6.1): `n` sigmas from σ_max down to σ_min, then σ = 0.
//!
//! With `u_i = i/(n−1)` (torch's `linspace` rule):
//! - [`Karras`]: `σ_i = (σ_max^(1/ρ) + u_i·(σ_min^(1/ρ) − σ_max^(1/ρ)))^ρ`. These are the
//!   points of [`EdmSample`](crate::schedule::EdmSample) (`sigma_range = [σ_min, σ_max]`,
//!   `p = ρ`) at `t = 1 − u_i`, plus the final σ = 0.
//! - [`Exponential`]: λ uniform from `−2·ln σ_max` to `−2·ln σ_min`: the points of
//!   [`Linear`](crate::schedule::Linear) (`logsnr_range = [−2 ln σ_max, −2 ln σ_min]`) at
//!   `t = 1 − u_i`, plus σ = 0. Uniform in DPM-Solver's step `h`.
//! - [`PolyExponential`]: `ln σ_i = ln σ_min + (1−u_i)^ρ·(ln σ_max − ln σ_min)`; ρ = 1 is
//!   [`Exponential`].
//! - [`VpGrid`]: `t_i = 1 + u_i·(ε_s − 1)`, `λ_i = −ln(exp(β_d·t_i²/2 + β_min·t_i) − 1)`.
//!
//! ```
//! use gdf::grid::kdiffusion::{Exponential, VpGrid};
//! let g = Exponential { sigma_min: 0.002, sigma_max: 80.0 }.grid(5)?;
//! assert!((g.sigmas[2] - 0.4).abs() < 1e-12);
//! let vp = VpGrid::default().grid(5)?;
//! assert!((vp.sigmas[0] - 152.16697).abs() < 1e-4);
//! # Ok::<(), gdf::GdfError>(())
//! ```

use super::{check_pos, check_sigma_range, check_steps, Grid};
use crate::error::{GdfError, Result};
use crate::float::linspace;

/// Appends σ = 0 and makes the grid.
fn finish(mut sigmas: Vec<f64>) -> Grid {
    sigmas.push(0.0);
    Grid::from_ve_sigmas(sigmas)
}

/// Karras et al.'s ρ-spacing (k-diffusion `get_sigmas_karras`). Defaults: EDM's
/// `σ ∈ [0.002, 80]`, `ρ = 7`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Karras {
    /// The smallest nonzero σ (> 0).
    pub sigma_min: f64,
    /// The largest σ (> `sigma_min`).
    pub sigma_max: f64,
    /// ρ (> 0).
    pub rho: f64,
}

impl Default for Karras {
    fn default() -> Self {
        Karras {
            sigma_min: 0.002,
            sigma_max: 80.0,
            rho: 7.0,
        }
    }
}

impl Karras {
    /// `n` Karras sigmas plus σ = 0 (`n + 1` levels).
    ///
    /// Errors: [`GdfError::OutOfRange`] for `n = 0`, a σ bound that is not finite and
    /// positive, `sigma_min ≥ sigma_max`, or `rho ≤ 0`.
    ///
    /// ```
    /// use gdf::grid::kdiffusion::Karras;
    /// let g = Karras::default().grid(5)?;
    /// assert!((g.sigmas[3] - 0.16975276).abs() < 1e-8);
    /// assert!(Karras { rho: 0.0, ..Karras::default() }.grid(5).is_err());
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn grid(&self, n: usize) -> Result<Grid> {
        check_steps(n)?;
        check_sigma_range(self.sigma_min, self.sigma_max)?;
        check_pos("rho", self.rho)?;
        let g = finish(karras_sigmas(self.sigma_min, self.sigma_max, self.rho, n));
        super::no_nan(g, "Karras grid", || format!("{self:?}"))
    }
}

/// The `n` Karras sigmas (no final 0), in f64 with torch's `linspace` ramp.
pub(crate) fn karras_sigmas(sigma_min: f64, sigma_max: f64, rho: f64, n: usize) -> Vec<f64> {
    let lo = sigma_min.powf(1.0 / rho);
    let hi = sigma_max.powf(1.0 / rho);
    linspace(0.0f64, 1.0, n)
        .into_iter()
        .map(|u| (hi + u * (lo - hi)).powf(rho))
        .collect()
}

/// Log-uniform sigmas (k-diffusion `get_sigmas_exponential`): uniform in λ. Defaults
/// `σ ∈ [0.002, 80]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exponential {
    /// The smallest nonzero σ (> 0).
    pub sigma_min: f64,
    /// The largest σ (> `sigma_min`).
    pub sigma_max: f64,
}

impl Default for Exponential {
    fn default() -> Self {
        Exponential {
            sigma_min: 0.002,
            sigma_max: 80.0,
        }
    }
}

impl Exponential {
    /// `n` log-uniform sigmas plus σ = 0.
    ///
    /// Errors: [`GdfError::OutOfRange`] for `n = 0`, a bad σ bound or `sigma_min ≥ sigma_max`.
    pub fn grid(&self, n: usize) -> Result<Grid> {
        check_steps(n)?;
        check_sigma_range(self.sigma_min, self.sigma_max)?;
        let s: Vec<f64> = linspace(self.sigma_max.ln(), self.sigma_min.ln(), n)
            .into_iter()
            .map(f64::exp)
            .collect();
        super::no_nan(finish(s), "k-diffusion grid", || format!("{self:?}"))
    }
}

/// k-diffusion's `get_sigmas_polyexponential`: `ln σ` follows `(1−u)^ρ`. Defaults
/// `σ ∈ [0.002, 80]`, `ρ = 1` (= [`Exponential`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PolyExponential {
    /// The smallest nonzero σ (> 0).
    pub sigma_min: f64,
    /// The largest σ (> `sigma_min`).
    pub sigma_max: f64,
    /// ρ (> 0).
    pub rho: f64,
}

impl Default for PolyExponential {
    fn default() -> Self {
        PolyExponential {
            sigma_min: 0.002,
            sigma_max: 80.0,
            rho: 1.0,
        }
    }
}

impl PolyExponential {
    /// `n` polyexponential sigmas plus σ = 0.
    ///
    /// Errors: [`GdfError::OutOfRange`] for `n = 0`, a bad σ bound, `sigma_min ≥ sigma_max` or
    /// `rho ≤ 0`.
    pub fn grid(&self, n: usize) -> Result<Grid> {
        check_steps(n)?;
        check_sigma_range(self.sigma_min, self.sigma_max)?;
        check_pos("rho", self.rho)?;
        let (lmin, lmax) = (self.sigma_min.ln(), self.sigma_max.ln());
        let s: Vec<f64> = linspace(1.0f64, 0.0, n)
            .into_iter()
            .map(|r| (r.powf(self.rho) * (lmax - lmin) + lmin).exp())
            .collect();
        super::no_nan(finish(s), "k-diffusion grid", || format!("{self:?}"))
    }
}

/// The VP-SDE grid (k-diffusion `get_sigmas_vp`). Defaults `β_d = 19.9`, `β_min = 0.1`,
/// `ε_s = 1e-3`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VpGrid {
    /// `β_d = β_max − β_min` (≥ 0).
    pub beta_d: f64,
    /// `β_min` (≥ 0; `β_d + β_min > 0`).
    pub beta_min: f64,
    /// The smallest time `ε_s ∈ (0, 1]`.
    pub eps_s: f64,
}

impl Default for VpGrid {
    fn default() -> Self {
        VpGrid {
            beta_d: 19.9,
            beta_min: 0.1,
            eps_s: 1e-3,
        }
    }
}

impl VpGrid {
    /// `n` VP sigmas plus σ = 0. λ is computed as `−ln(expm1(β_d·t²/2 + β_min·t))`.
    ///
    /// Errors: [`GdfError::OutOfRange`] for `n = 0`, a negative or non-finite β, both β zero,
    /// or `eps_s` outside `(0, 1]`.
    pub fn grid(&self, n: usize) -> Result<Grid> {
        check_steps(n)?;
        for (what, v) in [("beta_d", self.beta_d), ("beta_min", self.beta_min)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(GdfError::OutOfRange {
                    what,
                    value: v,
                    expected: "a finite number ≥ 0",
                });
            }
        }
        if self.beta_d + self.beta_min <= 0.0 {
            return Err(GdfError::OutOfRange {
                what: "beta_d",
                value: self.beta_d,
                expected: "beta_d + beta_min > 0",
            });
        }
        if !(self.eps_s > 0.0 && self.eps_s <= 1.0) {
            return Err(GdfError::OutOfRange {
                what: "eps_s",
                value: self.eps_s,
                expected: "a number in (0, 1]",
            });
        }
        let mut logsnr: Vec<f64> = linspace(1.0f64, self.eps_s, n)
            .into_iter()
            .map(|t| {
                -(self.beta_d * t * t / 2.0 + self.beta_min * t)
                    .exp_m1()
                    .ln()
            })
            .collect();
        logsnr.push(f64::INFINITY);
        let sigmas = logsnr.iter().map(|&l| (-l / 2.0).exp()).collect();
        let g = Grid {
            logsnr,
            sigmas,
            sigma_kind: super::SigmaKind::Ve,
            timesteps: None,
            init_noise_sigma: None,
            mu: None,
        };
        super::no_nan(g, "VP grid", || format!("{self:?}"))
    }
}
