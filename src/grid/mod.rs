//! Sampling grids: the noise levels a sampler steps through, as logSNR (SPEC-solvers §5–§6).
//!
//! A grid is a list of logSNR values λ, noisiest first. It ends with `+∞` when the last level
//! is σ = 0 (the clean end: `a = 1`, `b = 0`), and a flow-matching grid starts with `−∞` when
//! its first level is t = 1 (`a = 0`, `b = 1`). Here σ is the VE noise level `b/a = e^(−λ/2)`,
//! the same for every scaler, except for the flow grids, whose `sigmas` are diffusers' flow
//! sigma `s` (`a = 1 − s`, `b = s`, `λ = 2·ln((1−s)/s)`): see [`Grid::sigma_kind`].
//!
//! The builders:
//! - [`kdiffusion`]: k-diffusion's `get_sigmas_karras`, `_exponential`, `_polyexponential` and
//!   `_vp` (each appends σ = 0), in f64.
//! - [`discrete`]: diffusers' `EulerDiscreteScheduler`, `DPMSolverMultistepScheduler` and
//!   `UniPCMultistepScheduler` grids over a discrete training table ([`table`]): `linspace` /
//!   `leading` / `trailing` spacing, `steps_offset`, Karras / exponential / beta / lu-lambda
//!   sigmas, `final_sigmas_type`, `interpolation_type`, zero-terminal-SNR betas. The table is
//!   built in float32 the way diffusers builds it, so integer timesteps match diffusers'.
//! - [`flow`]: diffusers' `FlowMatchEulerDiscreteScheduler` grid with the static shift or the
//!   resolution-dependent μ(image_seq_len) ([`flow::SeqLenShift`]).
//!
//! ```
//! use gdf::grid::kdiffusion::Karras;
//! let grid = Karras { sigma_min: 0.002, sigma_max: 80.0, rho: 7.0 }.grid(5)?;
//! assert_eq!(grid.sigmas.len(), 6);
//! assert!((grid.sigmas[1] - 17.527832).abs() < 1e-5); // SPEC-solvers §6.1 sanity values
//! assert_eq!(grid.logsnr[5], f64::INFINITY); // the appended σ = 0
//! # Ok::<(), gdf::GdfError>(())
//! ```

mod beta_dist;
pub mod discrete;
pub mod flow;
pub mod kdiffusion;
mod sampling;
pub mod table;
pub mod ztsnr;

pub use beta_dist::{beta_cdf, beta_ppf};
pub use sampling::GridSchedule;

use crate::error::{GdfError, Result};

/// What a grid's `sigmas` are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigmaKind {
    /// The VE noise level `σ = b/a = e^(−λ/2)` (k-diffusion, diffusers' VP schedulers).
    Ve,
    /// diffusers' flow sigma `s = b` of the LERP scaler (`a = 1 − s`), `λ = 2·ln((1−s)/s)`.
    Flow,
}

/// The model timesteps that go with a diffusers grid, as diffusers gives them.
#[derive(Clone, Debug, PartialEq)]
pub enum Timesteps {
    /// Integer timesteps (diffusers' DPMSolver / UniPC: int64).
    Int(Vec<i64>),
    /// Float timesteps (diffusers' Euler and flow schedulers: float32 values, widened exactly).
    Float(Vec<f64>),
}

impl Timesteps {
    /// The number of timesteps.
    pub fn len(&self) -> usize {
        match self {
            Timesteps::Int(v) => v.len(),
            Timesteps::Float(v) => v.len(),
        }
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The timesteps as `f64` (integers convert exactly).
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            Timesteps::Int(v) => v.iter().map(|&x| x as f64).collect(),
            Timesteps::Float(v) => v.clone(),
        }
    }
}

/// A sampling grid: logSNR levels, noisiest first, with the sigmas they came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// λ of every level; `+∞` for σ = 0, `−∞` for a flow grid's s = 1.
    pub logsnr: Vec<f64>,
    /// The sigmas, as the reference library stores them (see [`SigmaKind`]).
    pub sigmas: Vec<f64>,
    /// What `sigmas` are.
    pub sigma_kind: SigmaKind,
    /// The model timesteps (diffusers grids only).
    pub timesteps: Option<Timesteps>,
    /// diffusers' `init_noise_sigma` (EulerDiscrete only).
    pub init_noise_sigma: Option<f64>,
    /// The dynamic-shift μ the grid was built with (flow grids with dynamic shifting).
    pub mu: Option<f64>,
}

impl Grid {
    /// A grid from VE sigmas: `λ = −2·ln σ` (σ = 0 gives `+∞`).
    ///
    /// ```
    /// let g = gdf::grid::Grid::from_ve_sigmas(vec![1.0, 0.0]);
    /// assert_eq!(g.logsnr, vec![0.0, f64::INFINITY]);
    /// ```
    pub fn from_ve_sigmas(sigmas: Vec<f64>) -> Self {
        Grid {
            logsnr: sigmas.iter().map(|&s| ve_logsnr(s)).collect(),
            sigmas,
            sigma_kind: SigmaKind::Ve,
            timesteps: None,
            init_noise_sigma: None,
            mu: None,
        }
    }

    /// A grid from flow sigmas `s`: `λ = 2·ln((1−s)/s)` (s = 1 gives `−∞`, s = 0 `+∞`).
    ///
    /// ```
    /// let g = gdf::grid::Grid::from_flow_sigmas(vec![1.0, 0.5, 0.0]);
    /// assert_eq!(g.logsnr, vec![f64::NEG_INFINITY, 0.0, f64::INFINITY]);
    /// ```
    pub fn from_flow_sigmas(sigmas: Vec<f64>) -> Self {
        Grid {
            logsnr: sigmas.iter().map(|&s| flow_logsnr(s)).collect(),
            sigmas,
            sigma_kind: SigmaKind::Flow,
            timesteps: None,
            init_noise_sigma: None,
            mu: None,
        }
    }

    /// The number of levels (one more than the number of steps for a grid ending at σ = 0).
    pub fn len(&self) -> usize {
        self.logsnr.len()
    }

    /// Whether the grid has no levels.
    pub fn is_empty(&self) -> bool {
        self.logsnr.is_empty()
    }
}

/// `λ = −2·ln σ` for a VE sigma (σ = 0 gives `+∞`).
#[inline]
pub fn ve_logsnr(sigma: f64) -> f64 {
    -2.0 * sigma.ln()
}

/// `λ = 2·ln((1−s)/s)` for a flow sigma `s ∈ [0, 1]` (the LERP scaler's `b`).
#[inline]
pub fn flow_logsnr(s: f64) -> f64 {
    2.0 * ((1.0 - s).ln() - s.ln())
}

/// `numpy.linspace(a, b, n)`: `a + i·step` with the last point set to `b` exactly (unlike
/// torch's rule, which counts the second half down from `b`).
pub(crate) fn np_linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    if n == 0 {
        return Vec::new();
    }
    if n == 1 {
        return vec![a];
    }
    let step = (b - a) / (n - 1) as f64;
    let mut v: Vec<f64> = (0..n).map(|i| i as f64 * step + a).collect();
    v[n - 1] = b;
    v
}

/// The most steps (and training timesteps) a grid takes: 2²⁴ = 16 777 216 levels, 128 MiB
/// of f64 each. Past it a count is refused with a typed error rather than allocated (a
/// `grid(1 << 40)` would abort the process on the failed allocation).
pub const MAX_STEPS: usize = 1 << 24;

/// A built grid whose levels are all numbers. Settings that pass their own checks can
/// still overflow the arithmetic (Karras' ρ near 0 in `σ^(1/ρ)`, a shift past f32's range,
/// `e^μ` overflowing, a terminal stretch of one step); the grid then names the builder and
/// its settings instead of returning NaN levels.
pub(crate) fn no_nan(g: Grid, builder: &str, settings: impl FnOnce() -> String) -> Result<Grid> {
    match g.logsnr.iter().position(|l| l.is_nan()) {
        None => Ok(g),
        Some(i) => Err(GdfError::Invalid {
            message: format!(
                "{builder}: level {i} of {} is NaN (σ = {}); the settings overflow the \
                 arithmetic: {}",
                g.len(),
                g.sigmas[i],
                settings()
            ),
        }),
    }
}

/// `1 ≤ n ≤ MAX_STEPS`.
pub(crate) fn check_steps(n: usize) -> Result<()> {
    check_count("n", n)
}

/// `1 ≤ n ≤ MAX_STEPS` for the count named `what`.
pub(crate) fn check_count(what: &'static str, n: usize) -> Result<()> {
    if n == 0 || n > MAX_STEPS {
        return Err(GdfError::OutOfRange {
            what,
            value: n as f64,
            expected: "at least 1 and at most 2^24 (gdf::grid::MAX_STEPS)",
        });
    }
    Ok(())
}

/// A finite number `> 0`.
pub(crate) fn check_pos(what: &'static str, v: f64) -> Result<()> {
    if !(v.is_finite() && v > 0.0) {
        return Err(GdfError::OutOfRange {
            what,
            value: v,
            expected: "a finite number > 0",
        });
    }
    Ok(())
}

/// `0 < σ_min < σ_max < ∞`.
pub(crate) fn check_sigma_range(sigma_min: f64, sigma_max: f64) -> Result<()> {
    check_pos("sigma_min", sigma_min)?;
    check_pos("sigma_max", sigma_max)?;
    if sigma_min >= sigma_max {
        return Err(GdfError::OutOfRange {
            what: "sigma_min",
            value: sigma_min,
            expected: "less than sigma_max",
        });
    }
    Ok(())
}

/// The error for an unknown string option.
pub(crate) fn unknown(field: &str, value: &str, expected: &str) -> GdfError {
    GdfError::Invalid {
        message: format!("`{field}` is {value:?}, expected one of {expected}"),
    }
}
