//! A discrete training table (diffusers' `betas` → `alphas_cumprod`), built in float32 as
//! diffusers builds it, and the zero-terminal-SNR rescale of its betas (SPEC-solvers §6.2–§6.3).
//!
//! For `k = 0…T−1`, `ᾱ_k = Π_{j≤k}(1 − β_j)`, `σ_k = √((1 − ᾱ_k)/ᾱ_k)` and
//! `λ_k = ln(ᾱ_k/(1 − ᾱ_k)) = −2·ln σ_k`. Every step is rounded to float32 where diffusers
//! computes in float32 (the products accumulate in f64, as torch's CPU `cumprod` does), so the
//! σ's are diffusers' values exactly and the integer timesteps derived from them match.
//!
//! ```
//! use gdf::grid::table::{DiscreteTable, TableSettings};
//! let t = DiscreteTable::new(&TableSettings::default())?; // SD: scaled_linear 0.00085→0.012
//! assert_eq!(t.sigmas()[999], 14.614646911621094); // diffusers' float32 σ_max
//! assert!((t.logsnr(0) - 7.069398).abs() < 1e-5);
//! # Ok::<(), gdf::GdfError>(())
//! ```

use crate::error::{GdfError, Result};
use crate::float::linspace;

/// How the β's are laid out (diffusers' `beta_schedule`).
#[derive(Clone, Debug, PartialEq)]
pub enum BetaSchedule {
    /// `β = linspace(β_start, β_end, T)` in float32 (`"linear"`).
    Linear,
    /// `β = linspace(√β_start, √β_end, T)²` in float32 (`"scaled_linear"`, Stable Diffusion).
    ScaledLinear,
    /// `β_k = min(1 − ᾱ((k+1)/T)/ᾱ(k/T), 0.999)` with `ᾱ(t) = cos((t+0.008)/1.008·π/2)²`,
    /// computed in f64, then rounded to float32 (`"squaredcos_cap_v2"`).
    SquaredCosCapV2,
    /// Given β's (`trained_betas`), rounded to float32; their count sets `T`.
    Trained(Vec<f64>),
}

impl core::str::FromStr for BetaSchedule {
    type Err = GdfError;
    /// Parses diffusers' names `linear`, `scaled_linear`, `squaredcos_cap_v2`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "linear" => Ok(BetaSchedule::Linear),
            "scaled_linear" => Ok(BetaSchedule::ScaledLinear),
            "squaredcos_cap_v2" => Ok(BetaSchedule::SquaredCosCapV2),
            other => Err(super::unknown(
                "beta_schedule",
                other,
                "\"linear\", \"scaled_linear\", \"squaredcos_cap_v2\"",
            )),
        }
    }
}

/// The settings of a discrete training table. Defaults: Stable Diffusion's
/// (`scaled_linear`, `β ∈ [0.00085, 0.012]`, `T = 1000`, no rescale).
#[derive(Clone, Debug, PartialEq)]
pub struct TableSettings {
    /// The number of training steps `T` (ignored for [`BetaSchedule::Trained`]).
    pub num_train_timesteps: usize,
    /// The first β.
    pub beta_start: f64,
    /// The last β.
    pub beta_end: f64,
    /// The β layout.
    pub beta_schedule: BetaSchedule,
    /// Rescale the β's to zero terminal SNR (Lin et al. 2023), then set `ᾱ_{T−1} = 2^−24`
    /// (λ = −16.64), as diffusers' DPMSolver, UniPC and Euler schedulers do.
    pub rescale_betas_zero_snr: bool,
    /// CogVideoX's SNR shift (`CogVideoXDDIMScheduler`'s `snr_shift_scale` k, `None` for the
    /// other tables): `ᾱ' = ᾱ/(k + (1 − k)·ᾱ)`, i.e. λ shifted by `−ln k`. With it the table
    /// is CogVideoX's: `scaled_linear` β's in float64 (the other layouts in float32, as
    /// there), the shift, and the zero-terminal-SNR rescale applied to `ᾱ` itself.
    pub snr_shift: Option<f64>,
}

impl Default for TableSettings {
    fn default() -> Self {
        TableSettings {
            num_train_timesteps: 1000,
            beta_start: 0.00085,
            beta_end: 0.012,
            beta_schedule: BetaSchedule::ScaledLinear,
            rescale_betas_zero_snr: false,
            snr_shift: None,
        }
    }
}

/// A discrete training table in float32 (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq)]
pub struct DiscreteTable {
    alphas_cumprod: Vec<f32>,
    sigmas: Vec<f32>,
    log_sigmas: Vec<f32>,
}

/// diffusers' float32 `alphas_cumprod` for `s`, as the scheduler classes build it before any
/// class's own adjustment: with `rescale_betas_zero_snr` the last value is 0 (DDIM's and
/// DDIMInverse's table; Euler and DPMSolver then put 2⁻²⁴ there, see [`DiscreteTable::new`]).
/// Errors: as [`DiscreteTable::new`].
pub(crate) fn raw_alphas_cumprod(s: &TableSettings) -> Result<Vec<f32>> {
    let t = train_steps(s)?;
    if let Some(k) = s.snr_shift {
        return Ok(cogvideox_alphas_cumprod(s, k)?
            .into_iter()
            .map(|v| v as f32)
            .collect());
    }
    let betas = betas_f32(s, t)?;
    let betas = if s.rescale_betas_zero_snr {
        rescale_betas_zero_snr_f32(&betas)
    } else {
        betas
    };
    let alphas: Vec<f32> = betas.iter().map(|&b| 1.0 - b).collect();
    Ok(cumprod_f32(&alphas))
}

/// The table's `ᾱ` in f64: [`raw_alphas_cumprod`] widened, except CogVideoX's (an SNR shift),
/// which diffusers keeps in float64 for `scaled_linear` β's.
///
/// Errors: as [`raw_alphas_cumprod`], and an `snr_shift` that is not a finite number > 0.
pub(crate) fn alphas_cumprod_f64(s: &TableSettings) -> Result<Vec<f64>> {
    match s.snr_shift {
        Some(k) => cogvideox_alphas_cumprod(s, k),
        None => Ok(raw_alphas_cumprod(s)?.into_iter().map(f64::from).collect()),
    }
}

/// CogVideoX's table (`CogVideoXDDIMScheduler.__init__`): β's, `ᾱ = cumprod(1 − β)`, the SNR
/// shift `ᾱ/(k + (1 − k)·ᾱ)`, then (with `rescale_betas_zero_snr`) the rescale of `√ᾱ` to end
/// at 0; in float64 for `scaled_linear` β's, float32 (each step rounded) otherwise.
fn cogvideox_alphas_cumprod(s: &TableSettings, k: f64) -> Result<Vec<f64>> {
    if !(k.is_finite() && k > 0.0) {
        return Err(GdfError::OutOfRange {
            what: "snr_shift_scale",
            value: k,
            expected: "a finite number > 0",
        });
    }
    let t = train_steps(s)?;
    if s.beta_schedule == BetaSchedule::ScaledLinear {
        let betas: Vec<f64> = linspace(s.beta_start.sqrt(), s.beta_end.sqrt(), t)
            .into_iter()
            .map(|b| b * b)
            .collect();
        let mut acc = 1.0f64;
        let ac: Vec<f64> = betas
            .iter()
            .map(|&b| {
                acc *= 1.0 - b;
                acc / (k + (1.0 - k) * acc)
            })
            .collect();
        if !s.rescale_betas_zero_snr {
            return Ok(ac);
        }
        let (a0, at) = (ac[0].sqrt(), ac[t - 1].sqrt());
        let scale = a0 / (a0 - at);
        return Ok(ac
            .iter()
            .map(|&v| {
                let a = (v.sqrt() - at) * scale;
                a * a
            })
            .collect());
    }
    let alphas: Vec<f32> = betas_f32(s, t)?.iter().map(|&b| 1.0 - b).collect();
    let (kk, km) = (k as f32, (1.0 - k) as f32);
    let ac: Vec<f32> = cumprod_f32(&alphas)
        .into_iter()
        .map(|a| a / (kk + km * a))
        .collect();
    if !s.rescale_betas_zero_snr {
        return Ok(ac.into_iter().map(f64::from).collect());
    }
    let (a0, at) = (ac[0].sqrt(), ac[t - 1].sqrt());
    let scale = a0 / (a0 - at);
    Ok(ac
        .iter()
        .map(|&v| {
            let a = (v.sqrt() - at) * scale;
            f64::from(a * a)
        })
        .collect())
}

/// The number of training steps, checked, and the β bounds, checked.
fn train_steps(s: &TableSettings) -> Result<usize> {
    let t = match &s.beta_schedule {
        BetaSchedule::Trained(b) => b.len(),
        _ => s.num_train_timesteps,
    };
    if !(2..=super::MAX_STEPS).contains(&t) {
        return Err(GdfError::OutOfRange {
            what: "num_train_timesteps",
            value: t as f64,
            expected: "at least 2 training steps and at most 2^24 (gdf::grid::MAX_STEPS)",
        });
    }
    for (what, v) in [("beta_start", s.beta_start), ("beta_end", s.beta_end)] {
        if !(v.is_finite() && (0.0..1.0).contains(&v)) {
            return Err(GdfError::OutOfRange {
                what,
                value: v,
                expected: "a number in [0, 1)",
            });
        }
    }
    Ok(t)
}

/// The β's in float32 (diffusers' layouts).
fn betas_f32(s: &TableSettings, t: usize) -> Result<Vec<f32>> {
    let betas: Vec<f32> = match &s.beta_schedule {
        BetaSchedule::Linear => linspace(s.beta_start as f32, s.beta_end as f32, t),
        BetaSchedule::ScaledLinear => {
            linspace(s.beta_start.sqrt() as f32, s.beta_end.sqrt() as f32, t)
                .into_iter()
                .map(|b| b * b)
                .collect()
        }
        BetaSchedule::SquaredCosCapV2 => {
            let abar = |x: f64| {
                ((x + 0.008) / 1.008 * core::f64::consts::FRAC_PI_2)
                    .cos()
                    .powi(2)
            };
            (0..t)
                .map(|i| {
                    let (t1, t2) = (i as f64 / t as f64, (i + 1) as f64 / t as f64);
                    (1.0 - abar(t2) / abar(t1)).min(0.999) as f32
                })
                .collect()
        }
        BetaSchedule::Trained(b) => {
            if let Some(&bad) = b
                .iter()
                .find(|v| !(v.is_finite() && (0.0..1.0).contains(*v)))
            {
                return Err(GdfError::OutOfRange {
                    what: "trained_betas",
                    value: bad,
                    expected: "numbers in [0, 1)",
                });
            }
            b.iter().map(|&v| v as f32).collect()
        }
    };
    Ok(betas)
}

/// `cumprod` of float32 factors with an f64 accumulator, each output rounded to float32.
fn cumprod_f32(xs: &[f32]) -> Vec<f32> {
    let mut acc = 1.0f64;
    xs.iter()
        .map(|&x| {
            acc *= x as f64;
            acc as f32
        })
        .collect()
}

/// diffusers' `rescale_zero_terminal_snr` on float32 β's: `√ᾱ` is shifted so that its last
/// value is 0 and scaled so that its first is unchanged, then turned back into β's.
pub fn rescale_betas_zero_snr_f32(betas: &[f32]) -> Vec<f32> {
    if betas.is_empty() {
        return Vec::new();
    }
    let alphas: Vec<f32> = betas.iter().map(|&b| 1.0 - b).collect();
    let ac = cumprod_f32(&alphas);
    let mut ab: Vec<f32> = ac.iter().map(|&a| a.sqrt()).collect();
    let (a0, at) = (ab[0], ab[ab.len() - 1]);
    let k = a0 / (a0 - at);
    for v in ab.iter_mut() {
        *v -= at;
        *v *= k;
    }
    let bar: Vec<f32> = ab.iter().map(|&v| v * v).collect();
    let mut out = Vec::with_capacity(bar.len());
    out.push(1.0 - bar[0]);
    for w in bar.windows(2) {
        out.push(1.0 - w[1] / w[0]);
    }
    out
}

/// The zero-terminal-SNR rescale of an `ᾱ` table in f64 (SPEC-solvers §6.3):
/// `√ᾱ'_k = (√ᾱ_k − √ᾱ_{T−1})·√ᾱ_0/(√ᾱ_0 − √ᾱ_{T−1})`, so `ᾱ'_0 = ᾱ_0` and `ᾱ'_{T−1} = 0`.
/// In λ this is an affine map on `a = √sigmoid(λ)`, not a λ shift.
///
/// ```
/// let ac = [0.99, 0.5, 0.01];
/// let r = gdf::grid::table::rescale_zero_terminal_snr(&ac);
/// assert_eq!(r[0], 0.99);
/// assert_eq!(r[2], 0.0);
/// ```
pub fn rescale_zero_terminal_snr(alphas_cumprod: &[f64]) -> Vec<f64> {
    let Some((&first, &last)) = alphas_cumprod.first().zip(alphas_cumprod.last()) else {
        return Vec::new();
    };
    let (a0, at) = (first.sqrt(), last.sqrt());
    let k = a0 / (a0 - at);
    alphas_cumprod
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if i == 0 {
                first
            } else {
                let a = (v.sqrt() - at) * k;
                a * a
            }
        })
        .collect()
}

impl DiscreteTable {
    /// Builds the table.
    ///
    /// Errors: [`GdfError::OutOfRange`] for `num_train_timesteps < 2`, β bounds that are not
    /// finite numbers in `[0, 1)` (`beta_start ≥ 0`, `beta_end < 1`), or trained β's outside
    /// `[0, 1)` or fewer than 2 of them.
    pub fn new(s: &TableSettings) -> Result<Self> {
        let mut ac = raw_alphas_cumprod(s)?;
        if s.rescale_betas_zero_snr {
            // Euler's and DPMSolver's adjustment (ᾱ = 0 would put σ at infinity).
            let last = ac.len() - 1;
            ac[last] = 2f32.powi(-24);
        }
        Self::from_alphas_cumprod_f32(ac)
    }

    /// A table from float32 `ᾱ` values (σ and ln σ computed in float32 as diffusers does),
    /// e.g. a model's own `alphas_cumprod`.
    ///
    /// Errors: [`GdfError::OutOfRange`] for fewer than 2 values or a value outside `(0, 1]`.
    ///
    /// ```
    /// use gdf::grid::table::DiscreteTable;
    /// let t = DiscreteTable::from_alphas_cumprod_f32(vec![0.99, 0.5, 0.01])?;
    /// assert_eq!(t.sigmas()[1], 1.0);
    /// assert!(DiscreteTable::from_alphas_cumprod_f32(vec![0.5]).is_err());
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn from_alphas_cumprod_f32(alphas_cumprod: Vec<f32>) -> Result<Self> {
        if alphas_cumprod.len() < 2 {
            return Err(GdfError::OutOfRange {
                what: "alphas_cumprod",
                value: alphas_cumprod.len() as f64,
                expected: "at least 2 training steps",
            });
        }
        if let Some(&bad) = alphas_cumprod.iter().find(|&&a| !(a > 0.0 && a <= 1.0)) {
            return Err(GdfError::OutOfRange {
                what: "alphas_cumprod",
                value: bad as f64,
                expected: "values in (0, 1]",
            });
        }
        let sigmas: Vec<f32> = alphas_cumprod
            .iter()
            .map(|&a| ((1.0 - a) / a).sqrt())
            .collect();
        let log_sigmas = sigmas.iter().map(|s| s.ln()).collect();
        Ok(DiscreteTable {
            alphas_cumprod,
            sigmas,
            log_sigmas,
        })
    }

    /// The number of training steps `T`.
    pub fn len(&self) -> usize {
        self.alphas_cumprod.len()
    }

    /// Whether the table is empty (never, for a built table).
    pub fn is_empty(&self) -> bool {
        self.alphas_cumprod.is_empty()
    }

    /// `ᾱ_k` (float32).
    pub fn alphas_cumprod(&self) -> &[f32] {
        &self.alphas_cumprod
    }

    /// `σ_k = √((1 − ᾱ_k)/ᾱ_k)` (float32), increasing with `k`.
    pub fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }

    /// `ln σ_k` (float32).
    pub fn log_sigmas(&self) -> &[f32] {
        &self.log_sigmas
    }

    /// `λ_k = ln(ᾱ_k/(1 − ᾱ_k))` of step `k`, in f64 from the float32 `ᾱ_k`.
    ///
    /// # Panics
    /// When `k` is not a step of the table (`k >= len()`), as slice indexing does.
    pub fn logsnr(&self, k: usize) -> f64 {
        let a = self.alphas_cumprod[k] as f64;
        (a / (1.0 - a)).ln()
    }

    /// σ at a possibly fractional step `t`, by linear interpolation of `σ_k` over `k`
    /// (`numpy.interp`: clamped to the ends).
    pub fn sigma_at(&self, t: f64) -> f64 {
        let n = self.sigmas.len();
        if t.is_nan() || t <= 0.0 {
            return self.sigmas[0] as f64;
        }
        if t >= (n - 1) as f64 {
            return self.sigmas[n - 1] as f64;
        }
        let j = t.floor() as usize;
        let (a, b) = (self.sigmas[j] as f64, self.sigmas[j + 1] as f64);
        if t == j as f64 {
            return a;
        }
        (b - a) * (t - j as f64) + a
    }

    /// The fractional step whose σ is `sigma`, by linear interpolation in `ln σ` between the
    /// neighbouring table entries (clamped to `[0, T−1]`; diffusers' `_sigma_to_t`).
    pub fn sigma_to_t(&self, sigma: f64) -> f64 {
        let ls = sigma.max(1e-10).ln();
        let n = self.log_sigmas.len();
        let low = self
            .log_sigmas
            .iter()
            .rposition(|&v| ls - v as f64 >= 0.0)
            .unwrap_or(0)
            .min(n - 2);
        let (lo, hi) = (self.log_sigmas[low] as f64, self.log_sigmas[low + 1] as f64);
        let w = ((lo - ls) / (lo - hi)).clamp(0.0, 1.0);
        (1.0 - w) * low as f64 + w * (low + 1) as f64
    }
}
