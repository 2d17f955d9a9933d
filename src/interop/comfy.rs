//! ComfyUI's schedulers: the σ lists its `KSampler` and `BasicScheduler` nodes build from a
//! model's `model_sampling` (`comfy.samplers.calculate_sigmas`).
//!
//! A ComfyUI workflow names a scheduler (`"normal"`, `"karras"`, `"simple"`, …) and gets its
//! levels from the model's sampling object: a table of float32 sigmas and the maps between a
//! σ and the model's timestep. [`ModelSampling`] is that object for the models ComfyUI
//! describes with one ([`ModelSampling::Discrete`]: Stable Diffusion 1.x/2.x/XL, ε or v;
//! [`ModelSampling::Flow`]: SD3, AuraFlow, HunyuanVideo, Wan, …; [`ModelSampling::Flux`];
//! [`ModelSampling::ContinuousEdm`]: Playground v2.5 and other EDM models), built in float32
//! the way ComfyUI builds it; [`Scheduler`] is the scheduler, parsed from ComfyUI's names
//! with their defaults; [`calculate_sigmas`] gives the [`Grid`]: the same sigmas as ComfyUI,
//! the model's timesteps for each level, and the levels as λ.
//!
//! What each scheduler does with the table (`T` entries, `n` steps):
//! - `simple`: every `T/n`-th table σ from the top, then 0.
//! - `sgm_uniform`: `n` timesteps evenly spaced from `timestep(σ_max)` towards
//!   `timestep(σ_min)` (the last one left out), their σ's, then 0.
//! - `normal`: the same with both ends included (`n + 1` σ's and no 0 when `σ(end)` is 0).
//! - `karras`, `exponential`: k-diffusion's grids between the table's ends (float32).
//! - `ddim_uniform`: every `T // n`-th table σ from the second, then 0 (its step count follows
//!   from the stride, not from `n`).
//! - `beta`: the table σ's at `round(F⁻¹(1 − i/n)·(T − 1))` of a Beta(α, β) distribution
//!   (0.6, 0.6), repeats dropped, then 0 (Lee et al. 2024).
//! - `linear_quadratic`: Mochi's schedule `1 − x` (linear to `threshold_noise`, then
//!   quadratic), times the table's σ_max.
//! - `kl_optimal`: `tan` of `atan σ` interpolated linearly from σ_max to σ_min, then 0
//!   (A1111's "Align your steps" KL-optimal grid).
//!
//! [`basic_scheduler`] applies a `denoise` below 1 as `KSampler` and `BasicScheduler` do.
//! Besides the named schedulers, two of ComfyUI's scheduler nodes: [`align_your_steps`]
//! (`AlignYourStepsScheduler`: the published "Align Your Steps" levels for SD 1.x, SDXL and
//! SVD, log-linearly interpolated to other step counts) and [`sd_turbo`] (`SDTurboScheduler`).
//! [`sampler`] maps ComfyUI's sampler names to gdf solvers (SA-Solver's τ window from the
//! model sampling's [`ModelSampling::percent_to_sigma`]) and [`sampler_grid`] gives the
//! levels a sampler steps through (ComfyUI's UniPC ends at σ = 0.001).
//!
//! At parity with ComfyUI's own functions (`tests/comfyui/schedulers.json`, made by
//! `tests/comfyui/gen_schedulers.py` out of a ComfyUI checkout): every scheduler on every
//! model sampling, step counts and table indices exact, σ's within two float32 ulps (one on
//! the committed set: torch's vectorised `exp`, `tan` and `pow` differ from Rust's in the
//! last bit).
//!
//! ```
//! use gdf::interop::comfy::{calculate_sigmas, ModelSampling, Scheduler};
//! // SDXL's "karras" at 20 steps, as a KSampler node builds it.
//! let sdxl = ModelSampling::default(); // Discrete: linear betas 0.00085–0.012, 1000 steps
//! let g = calculate_sigmas(&sdxl, &"karras".parse::<Scheduler>()?, 20)?;
//! assert_eq!(g.sigmas.len(), 21);
//! assert!((g.sigmas[0] - 14.614642).abs() < 1e-5); // the table's σ_max
//! assert_eq!(g.sigmas[20], 0.0);
//! assert_eq!(g.logsnr[20], f64::INFINITY);
//! // SD3 (flow, shift 3) with "simple": flow sigmas, λ = −∞ at s = 1.
//! let sd3 = ModelSampling::Flow { shift: 3.0, multiplier: 1000.0 };
//! let g = calculate_sigmas(&sd3, &Scheduler::Simple, 28)?;
//! assert_eq!(g.sigmas[0], 1.0);
//! assert_eq!(g.logsnr[0], f64::NEG_INFINITY);
//! # Ok::<(), gdf::GdfError>(())
//! ```

use crate::error::{GdfError, Result};
use crate::float::linspace_at;
use crate::grid::{
    beta_ppf, check_count, check_pos, check_sigma_range, check_steps, no_nan, unknown, Grid,
    Timesteps,
};

/// A model's `model_sampling` in ComfyUI: its σ table and its σ ↔ timestep maps, in float32
/// as ComfyUI keeps them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ModelSampling {
    /// `ModelSamplingDiscrete` (ε and v models: Stable Diffusion 1.x, 2.x, XL): the table of
    /// a `"linear"` beta schedule (`β_i = linspace(√start, √end, T)_i²` in float64, σ from
    /// the cumulative product), the timestep of a σ the nearest table entry in `ln σ`, the σ
    /// of a fractional timestep interpolated in `ln σ`.
    Discrete {
        /// `linear_start` (Stable Diffusion: 0.00085).
        linear_start: f64,
        /// `linear_end` (Stable Diffusion: 0.012).
        linear_end: f64,
        /// The number of training timesteps `T` (1000).
        timesteps: usize,
        /// `zsnr`: the table rescaled to zero terminal SNR (ComfyUI's
        /// `rescale_zero_terminal_snr_sigmas`, whose last ᾱ is 4.8973451890853435e-08).
        zsnr: bool,
    },
    /// `ModelSamplingDiscreteFlow` (SD3, AuraFlow, HunyuanVideo, Wan, …): 1000 flow sigmas
    /// `shift·t/(1 + (shift − 1)·t)` at `t = i/1000`, timestep `σ·multiplier`.
    Flow {
        /// The time shift (SD3: 3.0; 1.0 for none).
        shift: f64,
        /// The timestep multiplier (1000).
        multiplier: f64,
    },
    /// `ModelSamplingFlux`: 10 000 flow sigmas `e^μ/(e^μ + 1/t − 1)` at `t = i/10 000`,
    /// timestep σ.
    Flux {
        /// μ, the resolution-dependent shift (ComfyUI's default 1.15).
        shift: f64,
    },
    /// `ModelSamplingContinuousEDM`: 1000 log-uniform sigmas between the ends, timestep
    /// `¼·ln σ`.
    ContinuousEdm {
        /// The smallest σ (ComfyUI's default 0.002).
        sigma_min: f64,
        /// The largest σ (ComfyUI's default 120).
        sigma_max: f64,
    },
}

impl Default for ModelSampling {
    /// Stable Diffusion's `ModelSamplingDiscrete`: linear betas 0.00085–0.012, 1000 steps.
    fn default() -> Self {
        ModelSampling::Discrete {
            linear_start: 0.00085,
            linear_end: 0.012,
            timesteps: 1000,
            zsnr: false,
        }
    }
}

/// ComfyUI's last ᾱ after the zero-terminal-SNR rescale.
const ZSNR_LAST_ALPHA_BAR: f64 = 4.8973451890853435e-08;

/// A built [`ModelSampling`]: the float32 table and the maps.
struct Table {
    kind: ModelSampling,
    sigmas: Vec<f32>,
    log_sigmas: Vec<f32>,
}

impl ModelSampling {
    /// Checks the settings (each field by name).
    fn check(&self) -> Result<()> {
        match *self {
            ModelSampling::Discrete {
                linear_start,
                linear_end,
                timesteps,
                ..
            } => {
                check_pos("linear_start", linear_start)?;
                check_pos("linear_end", linear_end)?;
                if linear_end >= 1.0 {
                    return Err(GdfError::OutOfRange {
                        what: "linear_end",
                        value: linear_end,
                        expected: "a beta below 1",
                    });
                }
                check_count("timesteps", timesteps)?;
                if timesteps < 2 {
                    return Err(GdfError::OutOfRange {
                        what: "timesteps",
                        value: timesteps as f64,
                        expected: "at least 2 training timesteps",
                    });
                }
                Ok(())
            }
            ModelSampling::Flow { shift, multiplier } => {
                check_pos("shift", shift)?;
                check_pos("multiplier", multiplier)
            }
            ModelSampling::Flux { shift } => {
                if !shift.is_finite() || shift.exp() >= f32::MAX as f64 {
                    return Err(GdfError::OutOfRange {
                        what: "shift",
                        value: shift,
                        expected: "a finite μ with e^μ within float32",
                    });
                }
                Ok(())
            }
            ModelSampling::ContinuousEdm {
                sigma_min,
                sigma_max,
            } => check_sigma_range(sigma_min, sigma_max),
        }
    }

    /// The table, as ComfyUI's constructor builds it.
    fn build(&self) -> Result<Table> {
        self.check()?;
        let (sigmas, log_sigmas): (Vec<f32>, Vec<f32>) = match *self {
            ModelSampling::Discrete {
                linear_start,
                linear_end,
                timesteps,
                zsnr,
            } => {
                let (a, b) = (linear_start.sqrt(), linear_end.sqrt());
                let mut cum = 1.0f64;
                let mut s: Vec<f64> = (0..timesteps)
                    .map(|i| {
                        let r = linspace_at(a, b, timesteps, i);
                        cum *= 1.0 - r * r;
                        ((1.0 - cum) / cum).sqrt()
                    })
                    .collect();
                if zsnr {
                    s = rescale_zsnr(&s);
                }
                (
                    s.iter().map(|&v| v as f32).collect(),
                    s.iter().map(|&v| v.ln() as f32).collect(),
                )
            }
            ModelSampling::Flow { .. } => {
                let s: Vec<f32> = (1..=1000)
                    .map(|i| self.sigma_of(((i as f32) / 1000.0) * self.multiplier32()))
                    .collect();
                let l = s.iter().map(|v| v.ln()).collect();
                (s, l)
            }
            ModelSampling::Flux { .. } => {
                let s: Vec<f32> = (1..=10_000)
                    .map(|i| self.sigma_of((i as f32) / 10_000.0))
                    .collect();
                let l = s.iter().map(|v| v.ln()).collect();
                (s, l)
            }
            ModelSampling::ContinuousEdm {
                sigma_min,
                sigma_max,
            } => {
                let (a, b) = (sigma_min.ln() as f32, sigma_max.ln() as f32);
                let s: Vec<f32> = (0..1000)
                    .map(|i| linspace_at(a, b, 1000, i).exp())
                    .collect();
                let l = s.iter().map(|v| v.ln()).collect();
                (s, l)
            }
        };
        Ok(Table {
            kind: *self,
            sigmas,
            log_sigmas,
        })
    }

    fn multiplier32(&self) -> f32 {
        match *self {
            ModelSampling::Flow { multiplier, .. } => multiplier as f32,
            _ => 1.0,
        }
    }

    /// `sigma(t)` for the formula-defined samplings (flow, Flux, EDM), in float32.
    fn sigma_of(&self, t: f32) -> f32 {
        match *self {
            ModelSampling::Flow { shift, multiplier } => {
                let t = t / multiplier as f32;
                if shift == 1.0 {
                    t
                } else {
                    (shift as f32 * t) / (1.0 + (shift - 1.0) as f32 * t)
                }
            }
            ModelSampling::Flux { shift } => {
                // torch's `e^μ / (e^μ + (1/t − 1))`: a scalar over a tensor is the
                // reciprocal times the scalar.
                let e = shift.exp() as f32;
                (1.0 / (e + (1.0 / t - 1.0))) * e
            }
            ModelSampling::ContinuousEdm { .. } => (t / 0.25).exp(),
            ModelSampling::Discrete { .. } => unreachable!("the discrete σ comes from its table"),
        }
    }

    /// The σ table ComfyUI keeps (`model_sampling.sigmas`, float32, lowest first).
    ///
    /// Errors: settings out of range, named by field.
    ///
    /// ```
    /// use gdf::interop::comfy::ModelSampling;
    /// let t = ModelSampling::default().sigmas()?;
    /// assert_eq!(t.len(), 1000);
    /// assert!((t[0] - 0.029167).abs() < 1e-6 && (t[999] - 14.614642).abs() < 1e-5);
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn sigmas(&self) -> Result<Vec<f32>> {
        Ok(self.build()?.sigmas)
    }

    /// `model_sampling.percent_to_sigma(percent)`: the σ at `percent` of the way through
    /// sampling (ComfyUI's `start_percent` / `end_percent` of conditioning and ControlNets,
    /// SA-Solver's τ window); `∞` (ComfyUI's 999999999.9, or 1 for flow models) at 0 and
    /// below, 0 at 1 and above. Discrete models interpolate their float32 table at
    /// `(1 − percent)·999` as ComfyUI does.
    ///
    /// ```
    /// use gdf::interop::comfy::ModelSampling;
    /// let sd3 = ModelSampling::Flow { shift: 3.0, multiplier: 1000.0 };
    /// assert_eq!(sd3.percent_to_sigma(0.5)?, 0.75); // 3·0.5/(1 + 2·0.5)
    /// assert_eq!(sd3.percent_to_sigma(1.0)?, 0.0);
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn percent_to_sigma(&self, percent: f64) -> Result<f64> {
        let t = self.build()?;
        let flow = matches!(
            self,
            ModelSampling::Flow { .. } | ModelSampling::Flux { .. }
        );
        if percent <= 0.0 {
            return Ok(if flow { 1.0 } else { 999999999.9 });
        }
        if percent >= 1.0 {
            return Ok(0.0);
        }
        let q = 1.0 - percent;
        Ok(match *self {
            ModelSampling::Discrete { .. } => t.sigma((q * 999.0) as f32) as f64,
            ModelSampling::Flow { shift, .. } => {
                if shift == 1.0 {
                    q
                } else {
                    shift * q / (1.0 + (shift - 1.0) * q)
                }
            }
            ModelSampling::Flux { shift } => shift.exp() / (shift.exp() + (1.0 / q - 1.0)),
            ModelSampling::ContinuousEdm { .. } => {
                let (lo, hi) = (t.sigma_min() as f64, t.sigma_max() as f64);
                ((hi.ln() - lo.ln()) * q + lo.ln()).exp()
            }
        })
    }

    /// The model's timestep for each σ (`model_sampling.timestep`): the nearest table index
    /// in `ln σ` for [`ModelSampling::Discrete`], `σ·multiplier` for
    /// [`ModelSampling::Flow`], σ for [`ModelSampling::Flux`], `¼·ln σ` for
    /// [`ModelSampling::ContinuousEdm`]; computed in float32 as ComfyUI does.
    ///
    /// ```
    /// use gdf::interop::comfy::ModelSampling;
    /// let ms = ModelSampling::default();
    /// let table = ms.sigmas()?;
    /// assert_eq!(ms.timesteps(&[table[999], table[500], 0.5])?, vec![999.0, 500.0, 169.0]);
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn timesteps(&self, sigmas: &[f32]) -> Result<Vec<f64>> {
        let t = self.build()?;
        Ok(sigmas.iter().map(|&s| t.timestep(s) as f64).collect())
    }
}

/// ComfyUI's `rescale_zero_terminal_snr_sigmas`, in float64.
fn rescale_zsnr(sigmas: &[f64]) -> Vec<f64> {
    let mut r: Vec<f64> = sigmas
        .iter()
        .map(|&s| (1.0 / (s * s + 1.0)).sqrt())
        .collect();
    let (first, last) = (r[0], r[r.len() - 1]);
    let k = first / (first - last);
    for v in r.iter_mut() {
        *v = (*v - last) * k;
    }
    let n = r.len();
    r.iter()
        .enumerate()
        .map(|(i, &v)| {
            let a = if i + 1 == n {
                ZSNR_LAST_ALPHA_BAR
            } else {
                v * v
            };
            ((1.0 - a) / a).sqrt()
        })
        .collect()
}

impl Table {
    fn len(&self) -> usize {
        self.sigmas.len()
    }
    fn sigma_min(&self) -> f32 {
        self.sigmas[0]
    }
    fn sigma_max(&self) -> f32 {
        self.sigmas[self.len() - 1]
    }

    /// `model_sampling.timestep(σ)`.
    fn timestep(&self, sigma: f32) -> f32 {
        match self.kind {
            ModelSampling::Discrete { .. } => {
                let l = sigma.ln();
                let mut best = (f32::INFINITY, 0usize);
                for (i, &ls) in self.log_sigmas.iter().enumerate() {
                    let d = (l - ls).abs();
                    if d < best.0 {
                        best = (d, i);
                    }
                }
                best.1 as f32
            }
            ModelSampling::Flow { multiplier, .. } => sigma * multiplier as f32,
            ModelSampling::Flux { .. } => sigma,
            ModelSampling::ContinuousEdm { .. } => 0.25 * sigma.ln(),
        }
    }

    /// `model_sampling.sigma(t)`.
    fn sigma(&self, t: f32) -> f32 {
        match self.kind {
            ModelSampling::Discrete { .. } => {
                let t = t.clamp(0.0, (self.len() - 1) as f32);
                let (lo, hi, w) = (t.floor() as usize, t.ceil() as usize, t.fract());
                ((1.0 - w) * self.log_sigmas[lo] + w * self.log_sigmas[hi]).exp()
            }
            k => k.sigma_of(t),
        }
    }
}

/// A ComfyUI scheduler (`comfy.samplers.SCHEDULER_NAMES`), with the options its dedicated
/// nodes expose. [`Scheduler::from_str`](core::str::FromStr) takes ComfyUI's names and gives
/// each its defaults (those of the `KSampler` node).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scheduler {
    /// `"simple"`: every `T/n`-th table σ from the top.
    Simple,
    /// `"sgm_uniform"`: uniform timesteps, the lowest end left out.
    SgmUniform,
    /// `"karras"` (k-diffusion's, over the table's ends; `KarrasScheduler`'s ρ, default 7).
    Karras {
        /// ρ.
        rho: f64,
    },
    /// `"exponential"`: log-uniform σ between the table's ends.
    Exponential,
    /// `"ddim_uniform"`: every `T // n`-th table σ.
    DdimUniform,
    /// `"beta"` (`BetaSamplingScheduler`'s α and β, default 0.6 each).
    Beta {
        /// α of the Beta distribution.
        alpha: f64,
        /// β of the Beta distribution.
        beta: f64,
    },
    /// `"normal"`: uniform timesteps, both ends included.
    Normal,
    /// `"linear_quadratic"` (Mochi's; default `threshold_noise` 0.025, `linear_steps` half
    /// the steps).
    LinearQuadratic {
        /// Where the linear part ends (in `1 − σ/σ_max`).
        threshold_noise: f64,
        /// How many steps are linear (`None`: `n // 2`).
        linear_steps: Option<usize>,
    },
    /// `"kl_optimal"`: uniform in `atan σ`.
    KlOptimal,
}

/// ComfyUI's scheduler names, in its order.
pub const SCHEDULER_NAMES: [&str; 9] = [
    "simple",
    "sgm_uniform",
    "karras",
    "exponential",
    "ddim_uniform",
    "beta",
    "normal",
    "linear_quadratic",
    "kl_optimal",
];

impl core::str::FromStr for Scheduler {
    type Err = GdfError;
    /// One of [`SCHEDULER_NAMES`], with ComfyUI's defaults.
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "simple" => Scheduler::Simple,
            "sgm_uniform" => Scheduler::SgmUniform,
            "karras" => Scheduler::Karras { rho: 7.0 },
            "exponential" => Scheduler::Exponential,
            "ddim_uniform" => Scheduler::DdimUniform,
            "beta" => Scheduler::Beta {
                alpha: 0.6,
                beta: 0.6,
            },
            "normal" => Scheduler::Normal,
            "linear_quadratic" => Scheduler::LinearQuadratic {
                threshold_noise: 0.025,
                linear_steps: None,
            },
            "kl_optimal" => Scheduler::KlOptimal,
            other => {
                return Err(unknown(
                    "scheduler",
                    other,
                    "\"simple\", \"sgm_uniform\", \"karras\", \"exponential\", \
                     \"ddim_uniform\", \"beta\", \"normal\", \"linear_quadratic\", \
                     \"kl_optimal\" (ComfyUI's SCHEDULER_NAMES)",
                ))
            }
        })
    }
}

/// `math.isclose(x, 0, abs_tol=1e-5)`.
fn near_zero(x: f32) -> bool {
    (x as f64).abs() <= 1e-5
}

/// `comfy.samplers.calculate_sigmas(model_sampling, scheduler, steps)`: the σ list ComfyUI
/// samples `steps` steps with, as a [`Grid`].
///
/// The grid's `sigmas` are ComfyUI's float32 values (widened exactly): VE sigmas for
/// [`ModelSampling::Discrete`] and [`ModelSampling::ContinuousEdm`], flow sigmas (`a = 1 − s`,
/// `b = s`) for [`ModelSampling::Flow`] and [`ModelSampling::Flux`]; `timesteps` holds
/// `model_sampling.timestep` of each level before the last (what ComfyUI feeds the model);
/// the levels are their λ. Most schedulers end at 0 (λ = +∞); `normal` on a table whose
/// lowest σ is 0 ends on it, `linear_quadratic` ends at 0 by construction.
///
/// Errors ([`GdfError::OutOfRange`] naming the field): `steps` of 0 or past
/// [`MAX_STEPS`](crate::grid::MAX_STEPS); model-sampling settings out of range; `kl_optimal`
/// with one step (ComfyUI divides by `n − 1`); `karras` with ρ ≤ 0; `beta` with α or β ≤ 0;
/// `linear_quadratic` with `threshold_noise` outside `[0, 1]` or `linear_steps` not in
/// `1..steps`.
///
/// ```
/// use gdf::interop::comfy::{calculate_sigmas, ModelSampling, Scheduler};
/// let sd = ModelSampling::default();
/// // "normal" goes through the table's timesteps 999 … 0 evenly.
/// let g = calculate_sigmas(&sd, &Scheduler::Normal, 10)?;
/// assert_eq!(g.timesteps.unwrap().to_f64()[0], 999.0);
/// assert!(calculate_sigmas(&sd, &Scheduler::KlOptimal, 1).is_err());
/// assert!("karas".parse::<Scheduler>().is_err()); // names what it takes
/// # Ok::<(), gdf::GdfError>(())
/// ```
pub fn calculate_sigmas(ms: &ModelSampling, scheduler: &Scheduler, steps: usize) -> Result<Grid> {
    check_steps(steps)?;
    let t = ms.build()?;
    let sigmas: Vec<f32> = match *scheduler {
        Scheduler::Simple => {
            let ss = t.len() as f64 / steps as f64;
            let mut v: Vec<f32> = (0..steps)
                .map(|x| t.sigmas[t.len() - 1 - (x as f64 * ss) as usize])
                .collect();
            v.push(0.0);
            v
        }
        Scheduler::DdimUniform => {
            let (mut v, mut n) = (Vec::new(), steps);
            if near_zero(t.sigmas[1]) {
                n += 1;
            } else {
                v.push(0.0);
            }
            let ss = (t.len() / n).max(1);
            let mut x = 1;
            while x < t.len() {
                v.push(t.sigmas[x]);
                x += ss;
            }
            v.reverse();
            v
        }
        Scheduler::Normal | Scheduler::SgmUniform => {
            let start = t.timestep(t.sigma_max());
            let end = t.timestep(t.sigma_min());
            let (count, used, zero) = if *scheduler == Scheduler::SgmUniform {
                (steps + 1, steps, true)
            } else if near_zero(t.sigma(end)) {
                (steps + 1, steps + 1, false)
            } else {
                (steps, steps, true)
            };
            let mut v: Vec<f32> = (0..used)
                .map(|i| t.sigma(linspace_at(start, end, count, i)))
                .collect();
            if zero {
                v.push(0.0);
            }
            v
        }
        Scheduler::Karras { rho } => {
            check_pos("rho", rho)?;
            let (lo, hi) = (t.sigma_min() as f64, t.sigma_max() as f64);
            let (min_inv, max_inv) = (lo.powf(1.0 / rho), hi.powf(1.0 / rho));
            let d = (min_inv - max_inv) as f32;
            let mut v: Vec<f32> = (0..steps)
                .map(|i| (max_inv as f32 + linspace_at(0.0f32, 1.0, steps, i) * d).powf(rho as f32))
                .collect();
            v.push(0.0);
            v
        }
        Scheduler::Exponential => {
            let (a, b) = (
                (t.sigma_max() as f64).ln() as f32,
                (t.sigma_min() as f64).ln() as f32,
            );
            let mut v: Vec<f32> = (0..steps)
                .map(|i| linspace_at(a, b, steps, i).exp())
                .collect();
            v.push(0.0);
            v
        }
        Scheduler::Beta { alpha, beta } => {
            check_pos("alpha", alpha)?;
            check_pos("beta", beta)?;
            let total = (t.len() - 1) as f64;
            let step = 1.0 / steps as f64;
            let mut v = Vec::new();
            let mut last = -1.0f64;
            for i in 0..steps {
                let p = 1.0 - i as f64 * step;
                let k = (beta_ppf(p, alpha, beta) * total).round_ties_even();
                if k != last {
                    v.push(t.sigmas[k as usize]);
                }
                last = k;
            }
            v.push(0.0);
            v
        }
        Scheduler::LinearQuadratic {
            threshold_noise,
            linear_steps,
        } => linear_quadratic(t.sigma_max(), steps, threshold_noise, linear_steps)?,
        Scheduler::KlOptimal => {
            if steps < 2 {
                return Err(GdfError::OutOfRange {
                    what: "steps",
                    value: steps as f64,
                    expected: "at least 2 for kl_optimal (ComfyUI divides by steps − 1)",
                });
            }
            let (lo, hi) = (
                (t.sigma_min() as f64).atan() as f32,
                (t.sigma_max() as f64).atan() as f32,
            );
            let mut v: Vec<f32> = (0..steps)
                .map(|i| {
                    let u = i as f32 / (steps - 1) as f32;
                    (u * lo + (1.0 - u) * hi).tan()
                })
                .collect();
            v.push(0.0);
            v
        }
    };
    finish(ms, &t, sigmas, "ComfyUI scheduler", || {
        format!("{scheduler:?} on {ms:?}")
    })
}

/// The grid of float32 σ's on `ms`'s table: VE or flow sigmas, the model's timesteps of every
/// level but the last, the levels' λ.
fn finish(
    ms: &ModelSampling,
    t: &Table,
    sigmas: Vec<f32>,
    builder: &str,
    settings: impl FnOnce() -> String,
) -> Result<Grid> {
    let wide: Vec<f64> = sigmas.iter().map(|&s| s as f64).collect();
    let mut g = match ms {
        ModelSampling::Flow { .. } | ModelSampling::Flux { .. } => Grid::from_flow_sigmas(wide),
        _ => Grid::from_ve_sigmas(wide),
    };
    let ts: Vec<f32> = sigmas[..sigmas.len() - 1]
        .iter()
        .map(|&s| t.timestep(s))
        .collect();
    g.timesteps = Some(match ms {
        ModelSampling::Discrete { .. } => Timesteps::Int(ts.iter().map(|&x| x as i64).collect()),
        _ => Timesteps::Float(ts.iter().map(|&x| x as f64).collect()),
    });
    no_nan(g, builder, settings)
}

/// ComfyUI's sampler names (`comfy.samplers.SAMPLER_NAMES`: its k-diffusion samplers, then
/// `ddim`, `uni_pc`, `uni_pc_bh2`). [`AnySolver::from_name`](crate::solver::AnySolver::from_name)
/// takes all of them but the CFG++ variants (`*_cfg_pp`, `cfgpp_ud10_ab`: gdf's CFG++ is a
/// guider, [`crate::guidance::CfgPp`], on first-order steps), `sa_solver` and
/// `sa_solver_pece` ([`sampler`] maps them: their τ window depends on the model; gdf's
/// `"SASolverScheduler"` is diffusers'), and `dpm_fast` / `dpm_adaptive`, which
/// choose their own levels ([`crate::solver::DpmFast`], [`crate::solver::DpmAdaptive`]).
pub const SAMPLER_NAMES: [&str; 46] = [
    "euler",
    "euler_cfg_pp",
    "euler_ancestral",
    "euler_ancestral_cfg_pp",
    "heun",
    "heunpp2",
    "exp_heun_2_x0",
    "exp_heun_2_x0_sde",
    "dpm_2",
    "dpm_2_ancestral",
    "lms",
    "dpm_fast",
    "dpm_adaptive",
    "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp",
    "dpmpp_sde",
    "dpmpp_sde_gpu",
    "dpmpp_2m",
    "dpmpp_2m_cfg_pp",
    "dpmpp_2m_sde",
    "dpmpp_2m_sde_gpu",
    "dpmpp_2m_sde_heun",
    "dpmpp_2m_sde_heun_gpu",
    "dpmpp_3m_sde",
    "dpmpp_3m_sde_gpu",
    "ddpm",
    "lcm",
    "ipndm",
    "ipndm_v",
    "deis",
    "cfgpp_ud10_ab",
    "res_multistep",
    "res_multistep_cfg_pp",
    "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp",
    "gradient_estimation",
    "gradient_estimation_cfg_pp",
    "er_sde",
    "seeds_2",
    "seeds_3",
    "sa_solver",
    "sa_solver_pece",
    "ddim",
    "uni_pc",
    "uni_pc_bh2",
    "euler_ancestral_RF",
];

/// The gdf solver for ComfyUI's sampler `name` on a model sampled as `ms`: what
/// [`AnySolver::from_name`](crate::solver::AnySolver::from_name) gives, except `"deis"`,
/// which is ComfyUI's tAB-DEIS ([`DeisTab`](crate::solver::DeisTab); gdf's `"deis"` by
/// itself is diffusers' `DEISMultistepScheduler`), and `"sa_solver"` / `"sa_solver_pece"`,
/// ComfyUI's SA-Solver ([`SaSolverComfy`](crate::solver::SaSolverComfy): orders 3 and 4,
/// τ = 1 between the model's σ at 20 % and 80 % of sampling). Run it on [`sampler_grid`]'s levels.
///
/// Errors: a name not in [`SAMPLER_NAMES`], or one gdf has no solver for (named in
/// [`SAMPLER_NAMES`]' documentation, with what to use instead).
///
/// ```
/// use gdf::interop::comfy::{sampler, ModelSampling};
/// use gdf::solver::AnySolver;
/// let sdxl = ModelSampling::default();
/// assert!(matches!(sampler("deis", &sdxl)?, AnySolver::DeisTab(_)));
/// assert!(matches!(sampler("uni_pc", &sdxl)?, AnySolver::UniPc(_)));
/// assert!(matches!(sampler("sa_solver", &sdxl)?, AnySolver::SaSolverComfy(_)));
/// assert!(sampler("euler_cfg_pp", &sdxl).is_err());
/// # Ok::<(), gdf::GdfError>(())
/// ```
pub fn sampler(name: &str, ms: &ModelSampling) -> Result<crate::solver::AnySolver> {
    use crate::solver::AnySolver;
    if !SAMPLER_NAMES.contains(&name) {
        return Err(unknown(
            "sampler",
            name,
            "one of ComfyUI's SAMPLER_NAMES (gdf::interop::comfy::SAMPLER_NAMES)",
        ));
    }
    if name.contains("cfg_pp") || name.starts_with("cfgpp") {
        return Err(GdfError::Invalid {
            message: format!(
                "`sampler` is {name:?}: gdf's CFG++ is a guider (gdf::guidance::CfgPp) on a \
                 first-order step: sample with \"euler\" or \"ddim\" and that guider"
            ),
        });
    }
    match name {
        "deis" => Ok(AnySolver::DeisTab(crate::solver::DeisTab::new())),
        "sa_solver" | "sa_solver_pece" => {
            let window = (ms.percent_to_sigma(0.2)?, ms.percent_to_sigma(0.8)?);
            let s = crate::solver::SaSolverComfy::with(3, 4, 1.0, 1.0, window, false)?;
            Ok(AnySolver::SaSolverComfy(if name == "sa_solver" {
                s
            } else {
                s.pece()
            }))
        }
        other => AnySolver::from_name(other),
    }
}

/// The levels ComfyUI's sampler `sampler` steps through on `grid` (a
/// [`calculate_sigmas`] grid): the grid itself, except for `uni_pc` and `uni_pc_bh2`, which
/// step to σ = 0.001 where the grid ends at σ = 0 (ComfyUI overwrites the last σ) and return
/// that sample. Run [`sampler`]`(sampler)` on these levels for ComfyUI's numbers (`tests/comfyui/unipc.json`: ComfyUI's UniPC at parity, on ε- and v-models' VE
/// sigmas).
///
/// Errors: a name not in [`SAMPLER_NAMES`] (nor `"deis_tab"`), naming the field `sampler`.
///
/// ```
/// use gdf::interop::comfy::{calculate_sigmas, sampler_grid, ModelSampling, Scheduler};
/// let g = calculate_sigmas(&ModelSampling::default(), &Scheduler::Karras { rho: 7.0 }, 10)?;
/// let u = sampler_grid("uni_pc", &g)?;
/// assert_eq!(u.sigmas[10], 0.001f32 as f64); // ComfyUI's σ tensors are float32
/// assert_eq!(sampler_grid("dpmpp_2m", &g)?, g);
/// assert!(sampler_grid("uni-pc", &g).is_err());
/// # Ok::<(), gdf::GdfError>(())
/// ```
pub fn sampler_grid(sampler: &str, grid: &Grid) -> Result<Grid> {
    if !SAMPLER_NAMES.contains(&sampler) && sampler != "deis_tab" {
        return Err(unknown(
            "sampler",
            sampler,
            "one of ComfyUI's SAMPLER_NAMES (gdf::interop::comfy::SAMPLER_NAMES)",
        ));
    }
    let mut g = grid.clone();
    let last = g.sigmas.len().wrapping_sub(1);
    if matches!(sampler, "uni_pc" | "uni_pc_bh2") && g.sigmas.get(last) == Some(&0.0) {
        // torch writes 0.001 into a float32 tensor: the float32 value, widened.
        let s = 0.001f32 as f64;
        g.sigmas[last] = s;
        g.logsnr[last] = match g.sigma_kind {
            crate::grid::SigmaKind::Ve => crate::grid::ve_logsnr(s),
            crate::grid::SigmaKind::Flow => crate::grid::flow_logsnr(s),
        };
    }
    Ok(g)
}

/// ComfyUI's `BasicScheduler` node, and `KSampler`'s `denoise`: for `denoise < 1` the
/// scheduler's grid for `⌊steps/denoise⌋` steps, of which the last `steps + 1` σ's are kept
/// (counted from the end, as ComfyUI slices: a scheduler whose grid is not one level longer
/// than its steps — `beta`, `ddim_uniform` — keeps its own tail); `denoise = 1` is
/// [`calculate_sigmas`].
///
/// Errors: those of [`calculate_sigmas`]; `denoise` outside `(0, 1]` (ComfyUI returns no
/// sigmas at 0).
///
/// ```
/// use gdf::interop::comfy::{basic_scheduler, calculate_sigmas, ModelSampling, Scheduler};
/// let sd = ModelSampling::default();
/// // img2img at denoise 0.5: the last 20 steps of the 40-step grid.
/// let g = basic_scheduler(&sd, &Scheduler::Karras { rho: 7.0 }, 20, 0.5)?;
/// let full = calculate_sigmas(&sd, &Scheduler::Karras { rho: 7.0 }, 40)?;
/// assert_eq!(g.sigmas, full.sigmas[20..]);
/// # Ok::<(), gdf::GdfError>(())
/// ```
pub fn basic_scheduler(
    ms: &ModelSampling,
    scheduler: &Scheduler,
    steps: usize,
    denoise: f64,
) -> Result<Grid> {
    check_denoise(denoise)?;
    check_steps(steps)?;
    let total = if denoise < 1.0 {
        let t = steps as f64 / denoise;
        if t > crate::grid::MAX_STEPS as f64 {
            return Err(GdfError::OutOfRange {
                what: "denoise",
                value: denoise,
                expected: "a fraction for which steps/denoise stays within gdf::grid::MAX_STEPS",
            });
        }
        t as usize
    } else {
        steps
    };
    let mut g = calculate_sigmas(ms, scheduler, total)?;
    let n = g.sigmas.len();
    let from = n.saturating_sub(steps + 1);
    if from > 0 {
        g.sigmas.drain(..from);
        g.logsnr.drain(..from);
        if let Some(Timesteps::Int(v)) = g.timesteps.as_mut() {
            v.drain(..from);
        }
        if let Some(Timesteps::Float(v)) = g.timesteps.as_mut() {
            v.drain(..from);
        }
    }
    Ok(g)
}

/// The model families of ComfyUI's `AlignYourStepsScheduler` node (Sabour et al. 2024's
/// optimised levels, 10 steps each, as NVIDIA published them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AysModel {
    /// Stable Diffusion 1.x (`"SD1"`).
    Sd1,
    /// Stable Diffusion XL (`"SDXL"`).
    Sdxl,
    /// Stable Video Diffusion (`"SVD"`).
    Svd,
}

impl AysModel {
    /// The 11 published levels, σ_max first (the last is σ_min; the node replaces it by 0).
    pub fn levels(self) -> [f64; 11] {
        match self {
            AysModel::Sd1 => [
                14.6146412293,
                6.4745760956,
                3.8636745985,
                2.6946151520,
                1.8841921177,
                1.3943805092,
                0.9642583904,
                0.6523686016,
                0.3977456272,
                0.1515232662,
                0.0291671582,
            ],
            AysModel::Sdxl => [
                14.6146412293,
                6.3184485287,
                3.7681790315,
                2.1811480769,
                1.3405244945,
                0.8620721141,
                0.5550693289,
                0.3798540708,
                0.2332364134,
                0.1114188177,
                0.0291671582,
            ],
            AysModel::Svd => [
                700.00, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.002,
            ],
        }
    }
}

impl core::str::FromStr for AysModel {
    type Err = GdfError;
    /// The node's `model_type`: `"SD1"`, `"SDXL"`, `"SVD"`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "SD1" => Ok(AysModel::Sd1),
            "SDXL" => Ok(AysModel::Sdxl),
            "SVD" => Ok(AysModel::Svd),
            other => Err(unknown("model_type", other, "\"SD1\", \"SDXL\", \"SVD\"")),
        }
    }
}

/// `denoise ∈ (0, 1]`.
fn check_denoise(denoise: f64) -> Result<()> {
    if !(denoise > 0.0 && denoise <= 1.0) {
        return Err(GdfError::OutOfRange {
            what: "denoise",
            value: denoise,
            expected: "a fraction in (0, 1] (ComfyUI returns no sigmas at 0)",
        });
    }
    Ok(())
}

/// ComfyUI's `AlignYourStepsScheduler` node: the published levels of `model` for `steps`
/// steps — log-linearly interpolated (`numpy.interp` of `ln σ` over evenly spaced points)
/// when `steps ≠ 10` — the last `round(steps·denoise) + 1` of them, the last one replaced by
/// 0; float32 VE sigmas, as the node returns them.
///
/// Errors: `steps` of 0 (or past [`MAX_STEPS`](crate::grid::MAX_STEPS)); `denoise` outside
/// `(0, 1]`, or so small that no step is left.
///
/// ```
/// use gdf::interop::comfy::{align_your_steps, AysModel};
/// let g = align_your_steps(AysModel::Sdxl, 10, 1.0)?;
/// assert_eq!(g.sigmas.len(), 11);
/// assert_eq!(g.sigmas[1], 6.3184485287f32 as f64);
/// assert_eq!(g.sigmas[10], 0.0);
/// assert_eq!(align_your_steps(AysModel::Sd1, 20, 0.5)?.sigmas.len(), 11);
/// # Ok::<(), gdf::GdfError>(())
/// ```
pub fn align_your_steps(model: AysModel, steps: usize, denoise: f64) -> Result<Grid> {
    check_steps(steps)?;
    check_denoise(denoise)?;
    let total = if denoise < 1.0 {
        // Python's `round`: half to even.
        (steps as f64 * denoise).round_ties_even() as usize
    } else {
        steps
    };
    if total == 0 {
        return Err(GdfError::OutOfRange {
            what: "denoise",
            value: denoise,
            expected: "enough to keep a step: round(steps·denoise) ≥ 1",
        });
    }
    let levels = model.levels();
    let mut s: Vec<f64> = if steps + 1 == levels.len() {
        levels.to_vec()
    } else {
        loglinear_interp(&levels, steps + 1)
    };
    let mut s = s.split_off(s.len() - (total + 1));
    let last = s.len() - 1;
    s[last] = 0.0;
    let g = Grid::from_ve_sigmas(s.into_iter().map(|v| v as f32 as f64).collect());
    no_nan(g, "AlignYourStepsScheduler", || {
        format!("{model:?}, {steps} steps, denoise {denoise}")
    })
}

/// The node's `loglinear_interp`: `numpy.interp` of the reversed `ln σ` from evenly spaced
/// points onto `m` of them, exponentiated and reversed back.
fn loglinear_interp(levels: &[f64], m: usize) -> Vec<f64> {
    let xs = crate::grid::np_linspace(0.0, 1.0, levels.len());
    let ys: Vec<f64> = levels.iter().rev().map(|v| v.ln()).collect();
    let last = xs.len() - 1;
    let mut out: Vec<f64> = crate::grid::np_linspace(0.0, 1.0, m)
        .into_iter()
        .map(|x| {
            if x >= xs[last] {
                return ys[last];
            }
            if x <= xs[0] {
                return ys[0];
            }
            let j = xs.partition_point(|&p| p <= x) - 1;
            if xs[j] == x {
                return ys[j];
            }
            let slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j]);
            slope * (x - xs[j]) + ys[j]
        })
        .map(f64::exp)
        .collect();
    out.reverse();
    out
}

/// ComfyUI's `SDTurboScheduler` node: the model's σ at timesteps 999, 899, …, 99 from the
/// `(10 − ⌊10·denoise⌋)`-th on, `steps` of them (fewer where the list ends), then 0. For the
/// distilled turbo models (SD-Turbo, SDXL-Turbo): [`ModelSampling::default`].
///
/// Errors: `steps` outside `1..=10`; `denoise` outside `(0, 1]`; model-sampling settings.
///
/// ```
/// use gdf::interop::comfy::{sd_turbo, ModelSampling};
/// let ms = ModelSampling::default();
/// let g = sd_turbo(&ms, 1, 1.0)?;
/// // σ(999) = exp of the float32 ln σ: the table's top within float32 rounding.
/// assert!((g.sigmas[0] - ms.sigmas()?[999] as f64).abs() < 2e-6 && g.sigmas[1] == 0.0);
/// let half = sd_turbo(&ms, 4, 0.5)?;
/// assert_eq!(half.timesteps.unwrap().to_f64(), vec![499.0, 399.0, 299.0, 199.0]);
/// # Ok::<(), gdf::GdfError>(())
/// ```
pub fn sd_turbo(ms: &ModelSampling, steps: usize, denoise: f64) -> Result<Grid> {
    if !(1..=10).contains(&steps) {
        return Err(GdfError::OutOfRange {
            what: "steps",
            value: steps as f64,
            expected: "1 to 10 (the node's range)",
        });
    }
    check_denoise(denoise)?;
    let t = ms.build()?;
    let start = 10 - (10.0 * denoise) as usize;
    let mut sigmas: Vec<f32> = (start..(start + steps).min(10))
        .map(|k| t.sigma((999 - 100 * k) as f32))
        .collect();
    sigmas.push(0.0);
    finish(ms, &t, sigmas, "SDTurboScheduler", || {
        format!("{steps} steps, denoise {denoise} on {ms:?}")
    })
}

/// Mochi's `linear_quadratic_schedule` times σ_max.
fn linear_quadratic(
    sigma_max: f32,
    steps: usize,
    threshold_noise: f64,
    linear_steps: Option<usize>,
) -> Result<Vec<f32>> {
    if !(0.0..=1.0).contains(&threshold_noise) {
        return Err(GdfError::OutOfRange {
            what: "threshold_noise",
            value: threshold_noise,
            expected: "a fraction in [0, 1]",
        });
    }
    let schedule: Vec<f64> = if steps == 1 {
        vec![1.0, 0.0]
    } else {
        let ls = linear_steps.unwrap_or(steps / 2);
        if ls == 0 || ls >= steps {
            return Err(GdfError::OutOfRange {
                what: "linear_steps",
                value: ls as f64,
                expected: "at least 1 and fewer than the steps",
            });
        }
        let mut s = super::diffusers::mochi_sigmas(steps, threshold_noise, ls);
        s.push(0.0); // 1 − 1
        s
    };
    Ok(schedule.into_iter().map(|x| x as f32 * sigma_max).collect())
}
