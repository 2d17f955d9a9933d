//! diffusers' grids over a discrete training table (SPEC-solvers §6.2, golden README
//! "spacings.json"): `EulerDiscreteScheduler`, `DPMSolverMultistepScheduler` and
//! `UniPCMultistepScheduler` `set_timesteps`.
//!
//! Timesteps (`T` training steps, `N` sampling steps):
//! - Euler (and Heun, LMS, KDPM2): `linspace` = `linspace(0, T−1, N)` reversed (fractional); `leading` =
//!   `i·(T // N) + steps_offset` reversed; `trailing` = `round(arange(T, 0, −T/N)) − 1`.
//!   σ is interpolated linearly in σ over the step index.
//! - DPMSolver / UniPC: `linspace` = `round(linspace(0, T−1, N+1))` reversed, last dropped;
//!   `leading` = `i·(T // (N+1)) + steps_offset` the same way; `trailing` as Euler's.
//!   σ is the table's at the integer step.
//!
//! Conversions ([`SigmaConversion`]) replace the σ's by Karras (ρ = 7), log-uniform or
//! Beta(0.6, 0.6) sigmas — over the σ range of the spaced timesteps for Euler, over the whole
//! table for DPMSolver / UniPC — and map them back to fractional steps by interpolation in
//! `ln σ`. DPMSolver / UniPC round those steps for Karras and lu-lambdas but **truncate**
//! them for exponential and beta (golden README quirk 8). The grid ends with σ = 0 (λ = +∞),
//! or σ_min for [`FinalSigmas::SigmaMin`].
//!
//! Exponential sigmas (and lu-lambdas) are uniform in λ between the ends: in gdf terms a
//! [`Linear`](crate::schedule::Linear) schedule in λ over the table's range.
//!
//! ```
//! use gdf::grid::discrete::{DiscreteScheduler, DiscreteSettings, Spacing};
//! use gdf::grid::Timesteps;
//! let s = DiscreteSettings {
//!     spacing: Spacing::Trailing,
//!     ..DiscreteSettings::new(DiscreteScheduler::DpmSolverMultistep)
//! };
//! let g = s.grid(10)?;
//! assert_eq!(g.timesteps, Some(Timesteps::Int(vec![999, 899, 799, 699, 599, 499, 399, 299, 199, 99])));
//! assert_eq!(g.logsnr[10], f64::INFINITY);
//! # Ok::<(), gdf::GdfError>(())
//! ```

use super::kdiffusion::karras_sigmas;
use super::table::{DiscreteTable, TableSettings};
use super::{beta_ppf, check_steps, np_linspace, unknown, Grid, Timesteps};
use crate::error::{GdfError, Result};
use crate::float::linspace;

/// Which diffusers scheduler's conventions to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiscreteScheduler {
    /// `EulerDiscreteScheduler`: fractional timesteps, σ interpolated linearly.
    Euler,
    /// `DPMSolverMultistepScheduler`: integer timesteps.
    DpmSolverMultistep,
    /// `UniPCMultistepScheduler`: integer timesteps.
    UniPcMultistep,
    /// `KDPM2DiscreteScheduler` and `KDPM2AncestralDiscreteScheduler`: Euler's grid, but the
    /// timesteps of Karras sigmas rounded to whole steps. (`HeunDiscreteScheduler` and
    /// `LMSDiscreteScheduler` build Euler's grid exactly: use [`DiscreteScheduler::Euler`].)
    KDpm2,
}

/// `timestep_spacing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Spacing {
    /// `"linspace"`: evenly spaced over `[0, T−1]`, including `T−1`.
    Linspace,
    /// `"leading"`: multiples of `T // N` (never visits `T−1`), plus `steps_offset`.
    Leading,
    /// `"trailing"`: evenly spaced ending at `T−1` (Lin et al.'s recommendation).
    Trailing,
}

impl core::str::FromStr for Spacing {
    type Err = GdfError;
    /// Parses `linspace`, `leading`, `trailing`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "linspace" => Ok(Spacing::Linspace),
            "leading" => Ok(Spacing::Leading),
            "trailing" => Ok(Spacing::Trailing),
            other => Err(unknown(
                "timestep_spacing",
                other,
                "\"linspace\", \"leading\", \"trailing\"",
            )),
        }
    }
}

/// `final_sigmas_type`: the last level of the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FinalSigmas {
    /// `"zero"`: σ = 0 (λ = +∞), denoise to x0.
    Zero,
    /// `"sigma_min"`: the table's σ_0 (UniPC with a conversion repeats its last σ).
    SigmaMin,
}

impl core::str::FromStr for FinalSigmas {
    type Err = GdfError;
    /// Parses `zero`, `sigma_min`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "zero" => Ok(FinalSigmas::Zero),
            "sigma_min" => Ok(FinalSigmas::SigmaMin),
            other => Err(unknown(
                "final_sigmas_type",
                other,
                "\"zero\", \"sigma_min\"",
            )),
        }
    }
}

/// `interpolation_type` (Euler only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interpolation {
    /// `"linear"`: σ interpolated linearly over the step index.
    Linear,
    /// `"log_linear"`: `N+1` log-uniform σ from the table's σ_max to σ_min, then 0: `N+2`
    /// sigmas for `N` timesteps (golden README quirk 6).
    LogLinear,
}

impl core::str::FromStr for Interpolation {
    type Err = GdfError;
    /// Parses `linear`, `log_linear`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "linear" => Ok(Interpolation::Linear),
            "log_linear" => Ok(Interpolation::LogLinear),
            other => Err(unknown(
                "interpolation_type",
                other,
                "\"linear\", \"log_linear\"",
            )),
        }
    }
}

/// The σ conversion (`use_karras_sigmas`, `use_exponential_sigmas`, `use_beta_sigmas`,
/// `use_lu_lambdas`; at most one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigmaConversion {
    /// The spaced timesteps' own σ's.
    None,
    /// Karras ρ = 7.
    Karras,
    /// Log-uniform σ (uniform λ).
    Exponential,
    /// `σ_min + F⁻¹_{Beta(0.6,0.6)}(1 − u)·(σ_max − σ_min)`.
    Beta,
    /// DPMSolver's `use_lu_lambdas`: uniform in `ln σ` (the σ's of `Exponential`), rounded.
    LuLambdas,
}

/// The settings of a diffusers discrete grid. [`DiscreteSettings::new`] gives diffusers'
/// defaults for the scheduler on Stable Diffusion's table.
#[derive(Clone, Debug, PartialEq)]
pub struct DiscreteSettings {
    /// Whose conventions.
    pub scheduler: DiscreteScheduler,
    /// The training table.
    pub table: TableSettings,
    /// `timestep_spacing` (default `linspace`).
    pub spacing: Spacing,
    /// `steps_offset` (leading spacing only; default 0).
    pub steps_offset: i64,
    /// The σ conversion (default none).
    pub conversion: SigmaConversion,
    /// `final_sigmas_type` (default zero).
    pub final_sigmas: FinalSigmas,
    /// `interpolation_type` (Euler only; default linear).
    pub interpolation: Interpolation,
    /// `sigma_min` override of a conversion's lower end (Euler, UniPC; default none).
    pub sigma_min: Option<f64>,
    /// `sigma_max` override of a conversion's upper end (Euler, UniPC; default none).
    pub sigma_max: Option<f64>,
    /// `lambda_min_clipped` (DPMSolver; default −∞): steps whose half-logSNR `λ/2` lies
    /// below it are not used.
    pub lambda_min_clipped: f64,
    /// Euler's `timestep_type = "continuous"` with `prediction_type = "v_prediction"`:
    /// timesteps are `¼·ln σ` (default false).
    pub continuous_timesteps: bool,
}

impl DiscreteSettings {
    /// diffusers' defaults for `scheduler` with Stable Diffusion's betas.
    pub fn new(scheduler: DiscreteScheduler) -> Self {
        DiscreteSettings {
            scheduler,
            table: TableSettings::default(),
            spacing: Spacing::Linspace,
            steps_offset: 0,
            conversion: SigmaConversion::None,
            final_sigmas: FinalSigmas::Zero,
            interpolation: Interpolation::Linear,
            sigma_min: None,
            sigma_max: None,
            lambda_min_clipped: f64::NEG_INFINITY,
            continuous_timesteps: false,
        }
    }

    /// The grid for `n` sampling steps; builds the table first (see [`Self::grid_on`]).
    pub fn grid(&self, n: usize) -> Result<Grid> {
        let table = DiscreteTable::new(&self.table)?;
        self.grid_on(&table, n)
    }

    /// The grid for `n` sampling steps on an already built `table`.
    ///
    /// Errors: [`GdfError::OutOfRange`] for `n = 0`, `n` above the number of training
    /// steps (or, for DPMSolver/UniPC `leading`, `n + 1` above it), a `lambda_min_clipped`
    /// that leaves fewer steps than `n`, a bad `sigma_min`/`sigma_max` override;
    /// [`GdfError::Invalid`] for options the scheduler does not have (lu-lambdas outside
    /// DPMSolver, log-linear interpolation outside Euler); [`GdfError::Config`] naming
    /// `steps_offset` for a leading spacing whose first timestep plus the offset passes the
    /// table (diffusers lists e.g. 1000 for SDXL at 1000 steps and repeats `σ_{T−1}`; Euler
    /// with a σ conversion, which keeps only the ends of those σ's, accepts it as diffusers
    /// does), and
    /// naming `timestep_spacing` (or `lambda_min_clipped`) for a DPMSolver / UniPC spacing
    /// that repeats a timestep (diffusers returns NaN there), each with the largest step
    /// count that fits.
    pub fn grid_on(&self, table: &DiscreteTable, n: usize) -> Result<Grid> {
        check_steps(n)?;
        let t_train = table.len();
        if n > t_train {
            return Err(GdfError::OutOfRange {
                what: "num_inference_steps",
                value: n as f64,
                expected: "at most num_train_timesteps",
            });
        }
        // diffusers adds `steps_offset` (1 in Stable Diffusion's configs) to leading timesteps;
        // one past the table (or below 0) has no σ.
        if !(0..t_train as i64).contains(&self.steps_offset) {
            return Err(GdfError::OutOfRange {
                what: "steps_offset",
                value: self.steps_offset as f64,
                expected: "a timestep offset in [0, num_train_timesteps)",
            });
        }
        let euler = self.scheduler == DiscreteScheduler::Euler;
        if !euler && self.interpolation != Interpolation::Linear {
            return Err(GdfError::Invalid {
                message: "`interpolation_type` \"log_linear\" exists only for the Euler scheduler"
                    .into(),
            });
        }
        if self.conversion == SigmaConversion::LuLambdas
            && self.scheduler != DiscreteScheduler::DpmSolverMultistep
        {
            return Err(GdfError::Invalid {
                message: "`use_lu_lambdas` exists only for the DPMSolverMultistep scheduler".into(),
            });
        }
        if self.continuous_timesteps && !euler {
            return Err(GdfError::Invalid {
                message: "continuous timesteps exist only for the Euler scheduler".into(),
            });
        }
        for (what, v) in [("sigma_min", self.sigma_min), ("sigma_max", self.sigma_max)] {
            if let Some(v) = v {
                super::check_pos(what, v)?;
            }
        }
        if let (Some(lo), Some(hi)) = (self.sigma_min, self.sigma_max) {
            super::check_sigma_range(lo, hi)?;
        }
        if self.lambda_min_clipped.is_nan() {
            return Err(GdfError::OutOfRange {
                what: "lambda_min_clipped",
                value: f64::NAN,
                expected: "a number or -inf",
            });
        }
        if euler || self.scheduler == DiscreteScheduler::KDpm2 {
            self.euler(table, n)
        } else {
            self.multistep(table, n)
        }
    }

    /// The conversion's σ's from the range `[lo, hi]` (overridable by `sigma_min/max`).
    fn convert(&self, lo: f64, hi: f64, n: usize) -> Vec<f64> {
        let lo = self.sigma_min.unwrap_or(lo);
        let hi = self.sigma_max.unwrap_or(hi);
        match self.conversion {
            SigmaConversion::None => unreachable!("no conversion"),
            SigmaConversion::Karras => karras_sigmas(lo, hi, 7.0, n),
            SigmaConversion::Exponential => np_linspace(hi.ln(), lo.ln(), n)
                .into_iter()
                .map(f64::exp)
                .collect(),
            SigmaConversion::Beta => np_linspace(0.0, 1.0, n)
                .into_iter()
                .map(|u| lo + beta_ppf(1.0 - u, 0.6, 0.6) * (hi - lo))
                .collect(),
            SigmaConversion::LuLambdas => unreachable!("handled by the caller"),
        }
    }

    fn euler(&self, table: &DiscreteTable, n: usize) -> Result<Grid> {
        let t_train = table.len();
        let mut ts: Vec<f64> = match self.spacing {
            Spacing::Linspace => np_linspace(0.0, (t_train - 1) as f64, n)
                .into_iter()
                .rev()
                .map(|t| t as f32 as f64)
                .collect(),
            Spacing::Leading => {
                // A σ conversion keeps only the ends of the spaced σ's: a first timestep past
                // the table (σ clamped to σ_{T−1}) is then harmless, as in diffusers.
                if self.conversion == SigmaConversion::None {
                    leading_top(t_train, n, self.steps_offset, "Euler", |m| {
                        (m - 1) * (t_train / m)
                    })?;
                }
                let ratio = (t_train / n) as f64;
                (0..n)
                    .rev()
                    .map(|i| (i as f64 * ratio).round_ties_even() as f32 as f64)
                    .map(|t| (t as f32 + self.steps_offset as f32) as f64)
                    .collect()
            }
            Spacing::Trailing => trailing(t_train as f64, t_train, n)
                .into_iter()
                .map(|t| (t as f32 - 1.0) as f64)
                .collect(),
        };
        let mut sigmas: Vec<f64> = match self.interpolation {
            Interpolation::Linear => ts.iter().map(|&t| table.sigma_at(t)).collect(),
            Interpolation::LogLinear => {
                let s = table.sigmas();
                let (hi, lo) = (s[t_train - 1].ln() as f64, s[0].ln() as f64);
                linspace(hi, lo, n + 1).into_iter().map(f64::exp).collect()
            }
        };
        if self.conversion != SigmaConversion::None {
            let hi = sigmas[0];
            // Where numpy's `arange` gives trailing spacing one timestep more (61, 103, 121,
            // … of 1000, see [`trailing`]), diffusers' last timestep is −1, whose σ
            // (`np.interp` clamps) is σ_0: the conversion's σ_min is σ_0, not the σ of the
            // last timestep gdf keeps.
            let extra = self.spacing == Spacing::Trailing
                && self.interpolation == Interpolation::Linear
                && trailing_len(t_train as f64, t_train, n) > n;
            let lo = if extra {
                table.sigmas()[0] as f64
            } else {
                sigmas[sigmas.len() - 1]
            };
            sigmas = self.convert(lo, hi, n);
            // KDPM2 rounds the steps of Karras sigmas (half to even, numpy's `round`).
            let round = self.scheduler == DiscreteScheduler::KDpm2
                && self.conversion == SigmaConversion::Karras;
            ts = sigmas
                .iter()
                .map(|&s| table.sigma_to_t(s))
                .map(|t| if round { t.round_ties_even() } else { t })
                .collect();
        }
        sigmas.push(self.euler_last_sigma(table));
        let sigmas: Vec<f64> = sigmas.into_iter().map(|s| s as f32 as f64).collect();
        if self.continuous_timesteps {
            ts = sigmas[..sigmas.len() - 1]
                .iter()
                .map(|&s| continuous_timestep(s))
                .collect();
        } else {
            ts = ts.into_iter().map(|t| t as f32 as f64).collect();
        }
        let init = self.euler_init_noise_sigma(&sigmas);
        let mut g = Grid::from_ve_sigmas(sigmas);
        g.timesteps = Some(Timesteps::Float(ts));
        g.init_noise_sigma = Some(init);
        Ok(g)
    }

    /// Euler's final σ: 0, or the table's `σ_0` (`final_sigmas_type = "sigma_min"`).
    pub(crate) fn euler_last_sigma(&self, table: &DiscreteTable) -> f64 {
        match self.final_sigmas {
            FinalSigmas::Zero => 0.0,
            FinalSigmas::SigmaMin => table.sigmas()[0] as f64,
        }
    }

    /// Euler's `init_noise_sigma` over its float32 `sigmas`: the largest, or `√(max² + 1)`
    /// with leading spacing.
    pub(crate) fn euler_init_noise_sigma(&self, sigmas: &[f64]) -> f64 {
        let max = sigmas
            .iter()
            .fold(f32::NEG_INFINITY, |m, &s| m.max(s as f32));
        f64::from(match self.spacing {
            Spacing::Linspace | Spacing::Trailing => max,
            Spacing::Leading => (max * max + 1.0).sqrt(),
        })
    }

    fn multistep(&self, table: &DiscreteTable, n: usize) -> Result<Grid> {
        let t_train = table.len();
        let dpm = self.scheduler == DiscreteScheduler::DpmSolverMultistep;
        let last_t = if dpm {
            usable_steps(table, self.lambda_min_clipped)
        } else {
            t_train
        };
        let ts: Vec<i64> = match self.spacing {
            Spacing::Linspace => {
                let v = np_linspace(0.0, last_t as f64 - 1.0, n + 1);
                v[1..]
                    .iter()
                    .rev()
                    .map(|t| t.round_ties_even() as i64)
                    .collect()
            }
            Spacing::Leading => {
                let ratio = last_t / (n + 1);
                if ratio == 0 {
                    return Err(GdfError::OutOfRange {
                        what: "num_inference_steps",
                        value: n as f64,
                        expected: "below the number of usable training steps (leading spacing)",
                    });
                }
                leading_top(t_train, n, self.steps_offset, "DPMSolver / UniPC", |m| {
                    m * (last_t / (m + 1))
                })?;
                (1..=n)
                    .rev()
                    .map(|i| (i * ratio) as i64 + self.steps_offset)
                    .collect()
            }
            Spacing::Trailing => trailing(t_train as f64, last_t, n)
                .into_iter()
                .map(|t| t as i64 - 1)
                .collect(),
        };
        if last_t < n || ts.len() != n || ts.iter().any(|&t| t < 0 || t as usize >= t_train) {
            return Err(GdfError::OutOfRange {
                what: "lambda_min_clipped",
                value: self.lambda_min_clipped,
                expected: "a value that leaves at least num_inference_steps usable training steps",
            });
        }
        if self.conversion == SigmaConversion::None {
            // The levels are the table's at the timesteps: a repeated timestep is a step of
            // length 0, where diffusers' update divides by h = 0 (NaN).
            if let Some(w) = ts.windows(2).find(|w| w[0] == w[1]) {
                let (field, value) = if last_t < t_train {
                    (
                        "lambda_min_clipped",
                        format!(
                            "{} (timestep_spacing {:?})",
                            self.lambda_min_clipped, self.spacing
                        ),
                    )
                } else {
                    (
                        "timestep_spacing",
                        format!("{:?}", spacing_name(self.spacing)),
                    )
                };
                return Err(GdfError::Config {
                    field: field.into(),
                    value,
                    expected: format!(
                        "distinct timesteps for {n} steps over {last_t} usable training steps: \
                         the spacing gives timestep {} twice, a step of length 0 where \
                         diffusers' DPMSolver / UniPC update divides by zero and returns NaN; \
                         use at most {} steps",
                        w[0],
                        last_t - 1
                    ),
                });
            }
        }
        let tab_sig = table.sigmas();
        let (s_lo, s_hi) = (tab_sig[0] as f64, tab_sig[t_train - 1] as f64);
        // diffusers' DPMSolverMultistep rounds the Karras and Lu timesteps except with
        // `squaredcos_cap_v2` betas, where it truncates them ("critical for cosine").
        let cosine_dpm = dpm
            && matches!(
                self.table.beta_schedule,
                crate::grid::table::BetaSchedule::SquaredCosCapV2
            );
        let to_t = |t: f64, round: bool| {
            (if round && !cosine_dpm {
                t.round_ties_even()
            } else {
                t.trunc()
            }) as i64
        };
        let (mut sigmas, ts): (Vec<f64>, Vec<i64>) = match self.conversion {
            SigmaConversion::None => (ts.iter().map(|&t| tab_sig[t as usize] as f64).collect(), ts),
            SigmaConversion::LuLambdas => {
                let ls = table.log_sigmas();
                let (hi, lo) = (ls[t_train - 1] as f64, ls[0] as f64);
                let s: Vec<f64> = np_linspace(0.0, 1.0, n)
                    .into_iter()
                    .map(|u| (hi + u * (lo - hi)).exp())
                    .collect();
                let t = s.iter().map(|&x| to_t(table.sigma_to_t(x), true)).collect();
                (s, t)
            }
            c => {
                let s = self.convert(s_lo, s_hi, n);
                let round = c == SigmaConversion::Karras;
                let t = s
                    .iter()
                    .map(|&x| to_t(table.sigma_to_t(x), round))
                    .collect();
                (s, t)
            }
        };
        let last = match self.final_sigmas {
            FinalSigmas::Zero => 0.0,
            FinalSigmas::SigmaMin if !dpm && self.conversion != SigmaConversion::None => {
                sigmas[n - 1] as f32 as f64
            }
            FinalSigmas::SigmaMin => s_lo,
        };
        sigmas.push(last);
        let sigmas: Vec<f64> = sigmas.into_iter().map(|s| s as f32 as f64).collect();
        let mut g = Grid::from_ve_sigmas(sigmas);
        g.timesteps = Some(Timesteps::Int(ts));
        Ok(g)
    }
}

/// Euler's `timestep_type = "continuous"` timestep of a σ: `¼·ln σ` in float32.
pub(crate) fn continuous_timestep(sigma: f64) -> f64 {
    (0.25 * (sigma as f32).ln()) as f64
}

/// diffusers' name of a spacing.
pub(crate) fn spacing_name(s: Spacing) -> &'static str {
    match s {
        Spacing::Linspace => "linspace",
        Spacing::Leading => "leading",
        Spacing::Trailing => "trailing",
    }
}

/// Leading spacing: the first (largest) timestep `top(n) + steps_offset` must lie in the
/// table. diffusers lists one past it (e.g. 1000 for SDXL's `steps_offset = 1` at 1000
/// steps): Euler clamps its σ to `σ_{T−1}` and repeats it (a first step that leaves the
/// latents unchanged, with a timestep the model never saw), DPMSolver / UniPC step by
/// `h = 0` (NaN). An error naming `steps_offset` and the largest step count that fits.
fn leading_top(
    t_train: usize,
    n: usize,
    offset: i64,
    who: &str,
    top: impl Fn(usize) -> usize,
) -> Result<()> {
    let first = top(n) as i64 + offset;
    if first < t_train as i64 {
        return Ok(());
    }
    let fits = (1..n)
        .rev()
        .find(|&m| (top(m) as i64 + offset) < t_train as i64);
    Err(GdfError::Config {
        field: "steps_offset".into(),
        value: offset.to_string(),
        expected: format!(
            "a first timestep within 0…{last} with timestep_spacing \"leading\" at {n} steps: \
             the spacing's first timestep plus steps_offset is {first}, past the table \
             (diffusers' {who} repeats σ_{last} for it: {effect}); {advice}",
            last = t_train - 1,
            effect = if who == "Euler" {
                "a first step that leaves the latents unchanged, with a timestep the model \
                 was not trained on"
            } else {
                "a step of length 0, which returns NaN"
            },
            advice = match fits {
                Some(m) => format!("use at most {m} steps with this offset"),
                None => "use a smaller steps_offset".into(),
            }
        ),
    })
}

/// The training steps `lambda_min_clipped` leaves (DPMSolver's forward and inverse
/// schedulers): those whose `λ/2` is below it are cut from the noisy end.
pub(crate) fn usable_steps(table: &DiscreteTable, lambda_min_clipped: f64) -> usize {
    let t_train = table.len();
    t_train
        - (0..t_train)
            .filter(|&k| table.logsnr(k) / 2.0 < lambda_min_clipped)
            .count()
}

/// The length of `numpy.arange(last, 0, −T/N)`: `N`, or `N + 1` for the counts where numpy
/// rounds it up (see [`trailing`]).
pub(crate) fn trailing_len(t_train: f64, last: usize, n: usize) -> usize {
    ((0.0 - last as f64) / -(t_train / n as f64))
        .ceil()
        .max(0.0) as usize
}

/// `numpy.arange(last, 0, −T/N)` rounded half to even: the first `N` values (at most).
///
/// The values are numpy's, not `last − i·T/N`: `arange` stores `last` and `last + step`,
/// then fills the rest as `last + i·δ` with `δ = (last + step) − last`, which can differ
/// from `step` in its last bit. Where `last − i·T/N` is a half (e.g. 937.5 for `N = 48`),
/// that bit decides the rounding: numpy's value is 937.4999…, timestep 937, not 938.
///
/// For some `N` (61, 103, 121, … with `T = 1000`) numpy's `arange` rounds its length up to
/// `N + 1` and diffusers then returns an extra timestep −1; gdf keeps the `N` meaningful ones.
pub(crate) fn trailing(t_train: f64, last: usize, n: usize) -> Vec<f64> {
    let start = last as f64;
    let step = -(t_train / n as f64);
    let delta = (start + step) - start;
    (0..trailing_len(t_train, last, n).min(n))
        .map(|i| match i {
            0 => start,
            1 => start + step,
            _ => start + i as f64 * delta,
        })
        .map(f64::round_ties_even)
        .collect()
}
