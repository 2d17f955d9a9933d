//! A diffusers `scheduler_config.json` as a gdf framework, solver and grid.
//!
//! [`load`] reads the JSON a model ships (`scheduler/scheduler_config.json`) together with
//! what only the pipeline decides ([`PipelineKind`]: the timestep the network takes, μ from
//! the image size for Flux, Stable Cascade's shift) and returns a [`Loaded`]:
//!
//! - `framework`: a run-time [`DynGdf`] (text and serde like every `gdf::dynamic` framework)
//!   whose schedule, scaler, target and noise cond are the model's. The discrete tables
//!   diffusers builds (float32 β's, `N` knots: `linear`, `scaled_linear`,
//!   `squaredcos_cap_v2`, `trained_betas`, zero-terminal-SNR rescaling) become a
//!   `PiecewiseLinear` schedule over diffusers' own float32 `alphas_cumprod`, knot `k` at
//!   `t = k/(N−1)`, so every level matches diffusers' table to the bit of its float32 values.
//!   The noise cond gives the model's timestep: the training step of the level in the
//!   table ([`TableTimestep`], diffusers' `_sigma_to_t`, rounded where diffusers' timesteps
//!   are integers), the flow sigma times 1000 (SD3)
//!   or 1 (Flux) ([`FlowSigma`](crate::noise_cond::FlowSigma)), EDM's `¼ ln σ` (`Edm` with
//!   shift `1/σ_data`) or Stable Cascade's `t` (`CosineT`).
//! - `solver`: the scheduler's update rule as an [`AnySolver`] (DDIM is k-diffusion's Euler
//!   in VP coordinates; DDPM and DDPM-Würstchen are Euler ancestral with η = 1; Euler,
//!   Euler ancestral, DPM-Solver++, UniPC and flow-matching Euler are gdf's own).
//! - `grid`: a [`GridSpec`] that builds diffusers' `set_timesteps` for `n` steps: leading /
//!   trailing / linspace spacing with `steps_offset`, the final step to σ = 0
//!   (`set_alpha_to_one`, `final_sigmas_type = "zero"`), `shift`, dynamic shifting,
//!   `shift_terminal`, Karras / exponential / beta sigmas.
//! - `threshold`: `clip_sample` / `thresholding` as data ([`Threshold`]); the solver does
//!   not apply it (an x0 post-process stage does).
//! - `approximations`: every place where gdf does not do exactly what diffusers does, and
//!   `ignored`: fields the scheduler class does not read (diffusers ignores them too).
//!
//! Any other field, or a value gdf cannot honour, is a [`GdfError::Config`] naming the
//! field and its value.
//!
//! ```
//! use gdf::interop::diffusers::{load, PipelineKind};
//! use gdf::noise_cond::NoiseCond;
//! use gdf::scaler::Scaler;
//! let json = r#"{"_class_name": "EulerDiscreteScheduler", "beta_schedule": "scaled_linear",
//!     "beta_start": 0.00085, "beta_end": 0.012, "num_train_timesteps": 1000,
//!     "prediction_type": "epsilon", "steps_offset": 1, "timestep_spacing": "leading"}"#;
//! let sdxl = load(json, PipelineKind::StableDiffusion)?;
//! let grid = sdxl.grid(20)?;
//! assert_eq!(grid.timesteps.as_ref().unwrap().to_f64()[0], 951.0);
//! assert_eq!(grid.logsnr[20], f64::INFINITY); // a last step to σ = 0
//! // The noise cond gives the integer timestep back from the level.
//! assert_eq!(sdxl.framework.noise_cond.noise_cond(grid.logsnr[0]), 951.0);
//! let (a, _b) = sdxl.framework.scaler.ab(grid.logsnr[0]);
//! assert!((sdxl.latent_scale(grid.logsnr[0]) - 1.0 / a).abs() < 1e-12); // Euler's VE latents
//! # Ok::<(), gdf::GdfError>(())
//! ```

use core::fmt;

use serde_json::{Map, Value};

use crate::dynamic::{
    CondKind, DynGdf, DynLossWeight, DynNoiseCond, DynScaler, DynSchedule, DynTarget, ScheduleKind,
    WeightKind,
};
use crate::error::{GdfError, Result};
use crate::grid::discrete::{
    DiscreteScheduler, DiscreteSettings, FinalSigmas as GridFinal, Interpolation, SigmaConversion,
    Spacing,
};
use crate::grid::flow::{FlowMatchSettings, SeqLenShift, TimeShift};
use crate::grid::table::{BetaSchedule, DiscreteTable, TableSettings};
use crate::grid::{np_linspace, Grid as Levels, SigmaKind, Timesteps};
use crate::interp::Table;
use crate::noise_cond::TableTimestep;
use crate::scaler::Scaler;
use crate::schedule::{Schedule, VarParams};
use crate::solver::{
    self, AnySolver, DpmAlgorithm, DpmSolverMultistep, DpmSolverSettings, Euler, EulerAncestral,
    EulerDiscrete, FinalSigmas, FlowMatchEuler, SolverType, UniPc, UniPcSettings, UniPcVariant,
};

/// What the pipeline decides and the scheduler config does not say.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PipelineKind {
    /// UNet/DiT pipelines over a discrete or EDM scheduler (Stable Diffusion 1.x/2.x, SDXL,
    /// PixArt, Playground): the network takes the scheduler's timesteps as they are.
    StableDiffusion,
    /// Stable Diffusion 3: a flow-matching scheduler; the transformer takes `σ·1000`.
    /// `image_seq_len` (latent tokens, `(H/16)·(W/16)`) is needed only with
    /// `use_dynamic_shifting` (SD3.5 variants).
    Sd3 {
        /// The number of latent tokens, for μ.
        image_seq_len: Option<f64>,
    },
    /// Flux: a flow-matching scheduler given the pipeline's sigmas `linspace(1, 1/n, n)` and
    /// μ from `image_seq_len` (`(H/16)·(W/16)`, 4096 at 1024²); the transformer takes `σ`.
    Flux {
        /// The number of latent tokens, for μ.
        image_seq_len: f64,
    },
    /// Stable Cascade (prior or decoder, `DDPMWuerstchenScheduler`): the network takes `t`.
    /// `shift` is the original code's sampling shift (stage C uses 2 in its inference
    /// scripts); diffusers has no such field, so 1 reproduces diffusers.
    StableCascade {
        /// gdf's schedule shift (1 = none).
        shift: f64,
    },
}

/// x0 clipping or dynamic thresholding a config asks for (`clip_sample`,
/// `clip_sample_range`, `thresholding`, `dynamic_thresholding_ratio`, `sample_max_value`).
/// The loaded solver does not apply it: it belongs to an x0 post-process stage.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Threshold {
    /// None.
    Off,
    /// `x0.clamp(−range, range)`.
    Clip {
        /// `clip_sample_range`.
        range: f64,
    },
    /// Imagen's dynamic thresholding: `s = quantile(|x0|, ratio)` per sample, clamped to
    /// `[1, max]`, then `x0.clamp(−s, s)/s`.
    Dynamic {
        /// `dynamic_thresholding_ratio`.
        ratio: f64,
        /// `sample_max_value`.
        max: f64,
    },
}

/// The timestep the model's network takes (what the framework's noise cond computes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ModelTimestep {
    /// The integer training step `k` of the discrete table (diffusers' `timesteps`).
    TableIndex {
        /// The number of training steps `N` (`k ∈ 0…N−1`).
        train_steps: usize,
    },
    /// EDM-style `¼ ln σ` of the VE σ (Euler's `timestep_type = "continuous"`).
    QuarterLogSigma,
    /// The flow sigma times `scale` (SD3: 1000, Flux: 1).
    FlowSigma {
        /// The factor.
        scale: f64,
    },
    /// EDM's `c_noise = ¼ ln σ` of the raw σ (in data units, `σ_data` times the frame's).
    EdmCNoise {
        /// `sigma_data`.
        sigma_data: f64,
    },
    /// Stable Cascade's `t ∈ [0, 1]` of the cosine schedule.
    CosineT,
}

/// How the pipeline's latents relate to gdf's `x` (see [`Loaded::latent_scale`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LatentFrame {
    /// VP latents `√ᾱ·x0 + √(1−ᾱ)·ε` (DDIM, PNDM, DPMSolver, Würstchen): gdf's `x`.
    Vp,
    /// VE latents `x0 + σ·ε` (Euler): `x/a`.
    Ve,
    /// Flow latents `(1−s)·x0 + s·ε`: gdf's `x` (LERP scaler).
    Flow,
    /// EDM latents `x0 + σ·ε` with gdf working on `x0/σ_data`: `σ_data·x/a`.
    Edm {
        /// `sigma_data`.
        sigma_data: f64,
    },
}

/// One place where the loaded setup does not do exactly what diffusers does.
#[derive(Clone, Debug, PartialEq)]
pub struct Approximation {
    /// The config field (or `_class_name`) concerned.
    pub field: String,
    /// Its value.
    pub value: String,
    /// What gdf does instead, and the consequence.
    pub note: String,
}

impl fmt::Display for Approximation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}: {}", self.field, self.value, self.note)
    }
}

/// How to build diffusers' sampling grid for `n` steps (see [`GridSpec::grid`]).
#[derive(Clone, Debug, PartialEq)]
pub enum GridSpec {
    /// `DDIMScheduler` (and `PNDMScheduler`, run as DDIM): integer timesteps by
    /// `timestep_spacing` + `steps_offset`, levels `ᾱ[t]`, each step going to
    /// `ᾱ[t − N//n]`, the last to `ᾱ₀` or, with `set_alpha_to_one`, to `ᾱ = 1` (σ = 0).
    Ddim {
        /// The training table.
        table: TableSettings,
        /// `timestep_spacing`.
        spacing: Spacing,
        /// `steps_offset`.
        steps_offset: i64,
        /// `set_alpha_to_one`.
        set_alpha_to_one: bool,
    },
    /// `EulerDiscreteScheduler` and `DPMSolverMultistepScheduler` grids
    /// ([`DiscreteSettings`]).
    Discrete(DiscreteSettings),
    /// `FlowMatchEulerDiscreteScheduler` ([`FlowMatchSettings`]).
    Flow {
        /// The scheduler's settings.
        settings: FlowMatchSettings,
        /// The Flux pipeline's sigmas `linspace(1, 1/n, n)` instead of the scheduler's own.
        flux_sigmas: bool,
        /// μ for dynamic shifting.
        mu: Option<f64>,
    },
    /// `EDMDPMSolverMultistepScheduler`: Karras (ρ) or log-uniform σ in float32 as diffusers
    /// computes them, then the final σ. The grid's `sigmas` are in units of `σ_data`
    /// (`σ/σ_data = b/a` of gdf's VP frame over `x0/σ_data`).
    Edm {
        /// `sigma_min` (data units).
        sigma_min: f64,
        /// `sigma_max` (data units).
        sigma_max: f64,
        /// `rho`.
        rho: f64,
        /// `sigma_data`.
        sigma_data: f64,
        /// `sigma_schedule = "exponential"` instead of `"karras"`.
        exponential: bool,
        /// `final_sigmas_type = "zero"` (else `sigma_min`).
        final_zero: bool,
    },
    /// `DDPMWuerstchenScheduler`: `t = linspace(1, 0, n+1)` (float32) through the
    /// framework's cosine schedule.
    Cosine {
        /// The schedule (with the pipeline's shift).
        schedule: DynSchedule,
    },
}

impl GridSpec {
    /// diffusers' grid for `n` sampling steps, in gdf's frame: `logsnr` per level (noisiest
    /// first, the final level last), `sigmas` as described per variant, `timesteps` as
    /// the scheduler lists them.
    ///
    /// Errors: [`GdfError::OutOfRange`] for `n = 0` or more steps than the table has;
    /// [`GdfError::Config`] for a DDIM spacing whose steps are uneven for this `n` (DDIM
    /// always steps from `t` to `t − N//n`).
    pub fn grid(&self, n: usize) -> Result<Levels> {
        crate::grid::check_steps(n)?;
        match self {
            GridSpec::Ddim {
                table,
                spacing,
                steps_offset,
                set_alpha_to_one,
            } => ddim_grid(table, *spacing, *steps_offset, *set_alpha_to_one, n),
            GridSpec::Discrete(s) => s.grid(n),
            GridSpec::Flow {
                settings,
                flux_sigmas,
                mu,
            } => {
                if *flux_sigmas {
                    let s = np_linspace(1.0, 1.0 / n as f64, n);
                    settings.grid_from_sigmas(&s, *mu)
                } else {
                    settings.grid(n, *mu)
                }
            }
            GridSpec::Edm {
                sigma_min,
                sigma_max,
                rho,
                sigma_data,
                exponential,
                final_zero,
            } => Ok(edm_grid(
                *sigma_min,
                *sigma_max,
                *rho,
                *sigma_data,
                *exponential,
                *final_zero,
                n,
            )),
            GridSpec::Cosine { schedule } => {
                let ts: Vec<f64> = crate::float::linspace(1.0f32, 0.0, n + 1)
                    .into_iter()
                    .map(f64::from)
                    .collect();
                let logsnr = ts
                    .iter()
                    .map(|&t| schedule.logsnr(t, 1.0))
                    .collect::<Result<Vec<f64>>>()?;
                Ok(Levels {
                    sigmas: logsnr.iter().map(|&l| (-0.5 * l).exp()).collect(),
                    logsnr,
                    sigma_kind: SigmaKind::Ve,
                    timesteps: Some(Timesteps::Float(ts[..n].to_vec())),
                    init_noise_sigma: Some(1.0),
                    mu: None,
                })
            }
        }
    }
}

fn ddim_grid(
    table: &TableSettings,
    spacing: Spacing,
    offset: i64,
    alpha_one: bool,
    n: usize,
) -> Result<Levels> {
    let tab = DiscreteTable::new(table)?;
    let t_train = tab.len();
    if n > t_train {
        return Err(GdfError::OutOfRange {
            what: "num_inference_steps",
            value: n as f64,
            expected: "at most num_train_timesteps",
        });
    }
    let ratio = t_train / n;
    let ts: Vec<i64> = match spacing {
        Spacing::Leading => (0..n).rev().map(|i| (i * ratio) as i64 + offset).collect(),
        Spacing::Linspace => np_linspace(0.0, (t_train - 1) as f64, n)
            .into_iter()
            .rev()
            .map(|t| t.round_ties_even() as i64)
            .collect(),
        Spacing::Trailing => {
            let step = t_train as f64 / n as f64;
            (0..n)
                .map(|i| (t_train as f64 - i as f64 * step).round_ties_even() as i64 - 1)
                .collect()
        }
    };
    for w in ts.windows(2) {
        if w[0] - ratio as i64 != w[1] {
            return Err(GdfError::Config {
                field: "timestep_spacing".into(),
                value: format!(
                    "\"{}\" with {n} steps",
                    match spacing {
                        Spacing::Linspace => "linspace",
                        Spacing::Leading => "leading",
                        Spacing::Trailing => "trailing",
                    }
                ),
                expected: format!(
                    "evenly spaced timesteps: DDIM steps from t to t − {ratio}, but the \
                     spacing goes from {} to {}",
                    w[0], w[1]
                ),
            });
        }
    }
    if let Some(&bad) = ts.iter().find(|&&t| t < 0 || t as usize >= t_train) {
        return Err(GdfError::Config {
            field: "steps_offset".into(),
            value: offset.to_string(),
            expected: format!("timesteps within 0…{}, got {bad}", t_train - 1),
        });
    }
    let ac = tab.alphas_cumprod();
    let mut abar: Vec<f64> = ts.iter().map(|&t| ac[t as usize] as f64).collect();
    let prev = ts[n - 1] - ratio as i64;
    abar.push(if prev >= 0 {
        ac[prev as usize] as f64
    } else if alpha_one {
        1.0
    } else {
        ac[0] as f64
    });
    let logsnr = abar.iter().map(|&v| v.ln() - (1.0 - v).ln()).collect();
    let sigmas = abar.iter().map(|&v| ((1.0 - v) / v).sqrt()).collect();
    Ok(Levels {
        logsnr,
        sigmas,
        sigma_kind: SigmaKind::Ve,
        timesteps: Some(Timesteps::Int(ts)),
        init_noise_sigma: Some(1.0),
        mu: None,
    })
}

fn edm_grid(
    lo: f64,
    hi: f64,
    rho: f64,
    sd: f64,
    exponential: bool,
    final_zero: bool,
    n: usize,
) -> Levels {
    // float32, as diffusers: a float32 ramp (torch.linspace), Python-float constants rounded
    // to float32 where they meet it.
    let sig: Vec<f32> = if exponential {
        let mut v: Vec<f32> = crate::float::linspace(lo.ln() as f32, hi.ln() as f32, n)
            .into_iter()
            .map(f32::exp)
            .collect();
        v.reverse();
        v
    } else {
        let (mn, mx) = (lo.powf(1.0 / rho), hi.powf(1.0 / rho));
        let d = (mn - mx) as f32;
        crate::float::linspace(0.0f32, 1.0, n)
            .into_iter()
            .map(|r| (mx as f32 + r * d).powf(rho as f32))
            .collect()
    };
    let ts: Vec<f64> = sig.iter().map(|&s| f64::from(0.25f32 * s.ln())).collect();
    let mut s: Vec<f64> = sig.iter().map(|&v| f64::from(v) / sd).collect();
    s.push(if final_zero { 0.0 } else { lo / sd });
    let mut g = Levels::from_ve_sigmas(s);
    g.timesteps = Some(Timesteps::Float(ts));
    g.init_noise_sigma = Some((hi * hi + 1.0).sqrt());
    g
}

/// A loaded scheduler config: the framework, the solver, the grid and what they leave out.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The config's `_class_name`.
    pub class_name: String,
    /// The model's framework (schedule, scaler, target, noise cond; loss weight `Constant`
    /// or, for Stable Cascade, the original's `P2`: a scheduler config has none).
    pub framework: DynGdf,
    /// The scheduler's update rule.
    pub solver: AnySolver,
    /// The sampling grid.
    pub grid: GridSpec,
    /// What the framework's noise cond gives the network.
    pub timestep: ModelTimestep,
    /// How the pipeline's latents relate to gdf's `x`.
    pub frame: LatentFrame,
    /// x0 clipping / thresholding, for an x0 post-process stage.
    pub threshold: Threshold,
    /// Where gdf departs from diffusers.
    pub approximations: Vec<Approximation>,
    /// Fields present in the file that this scheduler class does not read (diffusers
    /// ignores them as well).
    pub ignored: Vec<String>,
}

impl Loaded {
    /// The grid for `n` steps ([`GridSpec::grid`]).
    pub fn grid(&self, n: usize) -> Result<Levels> {
        self.grid.grid(n)
    }

    /// The solver's grid: the levels `(a, b, λ)` of `grid` through the framework's scaler.
    ///
    /// Errors: as [`solver::Grid::new`].
    pub fn solver_grid(&self, grid: &Levels) -> Result<solver::Grid> {
        solver::Grid::new(&self.framework.scaler, &grid.logsnr)
    }

    /// The factor from gdf's `x` at logSNR `lam` to the pipeline's latents
    /// (`latents = latent_scale · x`): 1 for VP and flow latents, `1/a` for Euler's VE
    /// latents, `σ_data/a` for EDM's. Multiply the pipeline's initial latents by its inverse.
    ///
    /// ```
    /// use gdf::interop::diffusers::{load, PipelineKind};
    /// let l = load(r#"{"_class_name": "DDIMScheduler"}"#, PipelineKind::StableDiffusion)?;
    /// assert_eq!(l.latent_scale(0.0), 1.0);
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn latent_scale(&self, lam: f64) -> f64 {
        let inv_a = || {
            if lam == f64::INFINITY {
                1.0
            } else {
                let (a, _) = self.framework.scaler.ab(lam);
                1.0 / a
            }
        };
        match self.frame {
            LatentFrame::Vp | LatentFrame::Flow => 1.0,
            LatentFrame::Ve => inv_a(),
            LatentFrame::Edm { sigma_data } => sigma_data * inv_a(),
        }
    }

    /// The factor from gdf's `x0` to the pipeline's (`σ_data` for EDM, else 1).
    pub fn data_scale(&self) -> f64 {
        match self.frame {
            LatentFrame::Edm { sigma_data } => sigma_data,
            _ => 1.0,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the fields.

/// Fields any diffusers scheduler class may carry; one a class does not read is ignored (as
/// diffusers' `from_config` ignores it), any other unknown field is an error.
const KNOWN: &[&str] = &[
    "algorithm_type",
    "base_image_seq_len",
    "base_shift",
    "beta_end",
    "beta_schedule",
    "beta_start",
    "clip_sample",
    "clip_sample_range",
    "disable_corrector",
    "dynamic_thresholding_ratio",
    "euler_at_final",
    "final_sigmas_type",
    "flow_shift",
    "interpolation_type",
    "invert_sigmas",
    "lambda_min_clipped",
    "lower_order_final",
    "max_image_seq_len",
    "max_shift",
    "num_train_timesteps",
    "predict_x0",
    "prediction_type",
    "rescale_betas_zero_snr",
    "rho",
    "s",
    "sample_max_value",
    "scaler",
    "set_alpha_to_one",
    "shift",
    "shift_terminal",
    "sigma_data",
    "sigma_max",
    "sigma_min",
    "sigma_schedule",
    "skip_prk_steps",
    "solver_order",
    "solver_p",
    "solver_type",
    "steps_offset",
    "stochastic_sampling",
    "thresholding",
    "time_shift_type",
    "timestep_spacing",
    "timestep_type",
    "trained_betas",
    "use_beta_sigmas",
    "use_dynamic_shifting",
    "use_exponential_sigmas",
    "use_flow_sigmas",
    "use_karras_sigmas",
    "use_lu_lambdas",
    "variance_type",
];

fn cfg_err(field: &str, value: &Value, expected: impl Into<String>) -> GdfError {
    GdfError::Config {
        field: field.into(),
        value: value.to_string(),
        expected: expected.into(),
    }
}

struct Fields<'a> {
    map: &'a Map<String, Value>,
    used: Vec<String>,
}

impl<'a> Fields<'a> {
    /// The value of `k` (`null` counts as absent), marked as read.
    fn get(&mut self, k: &str) -> Option<&'a Value> {
        self.used.push(k.into());
        self.map.get(k).filter(|v| !v.is_null())
    }
    fn f64(&mut self, k: &str, d: f64) -> Result<f64> {
        match self.get(k) {
            None => Ok(d),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| cfg_err(k, v, "a finite number")),
        }
    }
    fn opt_f64(&mut self, k: &str) -> Result<Option<f64>> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| cfg_err(k, v, "a finite number or null")),
        }
    }
    fn count(&mut self, k: &str, d: u64) -> Result<u64> {
        match self.get(k) {
            None => Ok(d),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| cfg_err(k, v, "a non-negative whole number")),
        }
    }
    fn int(&mut self, k: &str, d: i64) -> Result<i64> {
        match self.get(k) {
            None => Ok(d),
            Some(v) => v.as_i64().ok_or_else(|| cfg_err(k, v, "a whole number")),
        }
    }
    fn flag(&mut self, k: &str, d: bool) -> Result<bool> {
        match self.get(k) {
            None => Ok(d),
            Some(v) => v.as_bool().ok_or_else(|| cfg_err(k, v, "true or false")),
        }
    }
    fn text(&mut self, k: &str, d: &str) -> Result<String> {
        match self.get(k) {
            None => Ok(d.into()),
            Some(v) => v
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| cfg_err(k, v, "a string")),
        }
    }
    /// A string option parsed by `parse` (whose error is re-labelled with the field).
    fn parsed<T>(&mut self, k: &str, d: &str, parse: impl Fn(&str) -> Result<T>) -> Result<T> {
        let s = self.text(k, d)?;
        parse(&s).map_err(|e| {
            // The parser's message repeats the field and value: keep what it expects.
            let m = e.to_string();
            let expected = match m.rfind(", expected ") {
                Some(i) => m[i + ", expected ".len()..].to_string(),
                None => m,
            };
            GdfError::Config {
                field: k.into(),
                value: format!("{s:?}"),
                expected,
            }
        })
    }
    /// A field that must keep its default `want` (gdf cannot honour another value).
    fn must_be(&mut self, k: &str, want: Value, why: &str) -> Result<()> {
        match self.get(k) {
            None => Ok(()),
            Some(v) if *v == want => Ok(()),
            Some(v) => Err(cfg_err(k, v, format!("{want} ({why})"))),
        }
    }
    /// The fields left unread: known ones are returned (ignored), unknown ones are errors.
    fn finish(self, class: &str) -> Result<Vec<String>> {
        let mut ignored = Vec::new();
        for (k, v) in self.map {
            if k.starts_with('_') || self.used.iter().any(|u| u == k) {
                continue;
            }
            if KNOWN.contains(&k.as_str()) {
                ignored.push(k.clone());
            } else {
                return Err(cfg_err(
                    k,
                    v,
                    format!(
                        "a field of diffusers' {class} (no diffusers scheduler has this field)"
                    ),
                ));
            }
        }
        Ok(ignored)
    }
}

fn table_settings(f: &mut Fields) -> Result<TableSettings> {
    let num_train_timesteps = f.count("num_train_timesteps", 1000)? as usize;
    let beta_start = f.f64("beta_start", 0.0001)?;
    let beta_end = f.f64("beta_end", 0.02)?;
    let sched = f.parsed("beta_schedule", "linear", str::parse::<BetaSchedule>)?;
    let beta_schedule = match f.get("trained_betas") {
        None => sched,
        Some(v) => {
            let b = v
                .as_array()
                .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
                .ok_or_else(|| cfg_err("trained_betas", v, "a list of numbers or null"))?;
            BetaSchedule::Trained(b)
        }
    };
    let rescale_betas_zero_snr = f.flag("rescale_betas_zero_snr", false)?;
    let s = TableSettings {
        num_train_timesteps,
        beta_start,
        beta_end,
        beta_schedule,
        rescale_betas_zero_snr,
    };
    DiscreteTable::new(&s)?; // check the values now
    Ok(s)
}

fn target_of(f: &mut Fields, allowed: &[&str]) -> Result<DynTarget> {
    let p = f.text("prediction_type", "epsilon")?;
    let t = match p.as_str() {
        "epsilon" => DynTarget::Epsilon,
        "v_prediction" => DynTarget::V,
        "sample" => DynTarget::X0,
        _ => DynTarget::RectifiedFlows,
    };
    if !allowed.contains(&p.as_str()) {
        return Err(GdfError::Config {
            field: "prediction_type".into(),
            value: format!("{p:?}"),
            expected: format!("one of {allowed:?}"),
        });
    }
    Ok(t)
}

fn threshold_of(f: &mut Fields, clip_default: Option<bool>) -> Result<Threshold> {
    let thresholding = f.flag("thresholding", false)?;
    let ratio = f.f64("dynamic_thresholding_ratio", 0.995)?;
    let max = f.f64("sample_max_value", 1.0)?;
    let (clip, range) = match clip_default {
        Some(d) => (f.flag("clip_sample", d)?, f.f64("clip_sample_range", 1.0)?),
        None => (false, 1.0),
    };
    Ok(if thresholding {
        Threshold::Dynamic { ratio, max }
    } else if clip {
        Threshold::Clip { range }
    } else {
        Threshold::Off
    })
}

fn dpm_settings(f: &mut Fields) -> Result<DpmSolverSettings> {
    let order = f.count("solver_order", 2)? as usize;
    let algorithm = match f.text("algorithm_type", "dpmsolver++")?.as_str() {
        "dpmsolver++" => DpmAlgorithm::DpmSolverPP,
        "sde-dpmsolver++" => DpmAlgorithm::SdeDpmSolverPP,
        other => {
            return Err(GdfError::Config {
                field: "algorithm_type".into(),
                value: format!("{other:?}"),
                expected: "\"dpmsolver++\" or \"sde-dpmsolver++\" (gdf has no noise-prediction \
                           DPM-Solver)"
                    .into(),
            })
        }
    };
    let solver_type = match f.text("solver_type", "midpoint")?.as_str() {
        "midpoint" => SolverType::Midpoint,
        "heun" => SolverType::Heun,
        other => {
            return Err(GdfError::Config {
                field: "solver_type".into(),
                value: format!("{other:?}"),
                expected: "\"midpoint\" or \"heun\"".into(),
            })
        }
    };
    let lower_order_final = f.flag("lower_order_final", true)?;
    let euler_at_final = f.flag("euler_at_final", false)?;
    let final_sigmas = match f.text("final_sigmas_type", "zero")?.as_str() {
        "zero" => FinalSigmas::Zero,
        "sigma_min" => FinalSigmas::SigmaMin,
        other => {
            return Err(GdfError::Config {
                field: "final_sigmas_type".into(),
                value: format!("{other:?}"),
                expected: "\"zero\" or \"sigma_min\"".into(),
            })
        }
    };
    Ok(DpmSolverSettings {
        order,
        algorithm,
        solver_type,
        lower_order_final,
        euler_at_final,
        final_sigmas,
    })
}

fn conversion(f: &mut Fields, lu: bool) -> Result<SigmaConversion> {
    let mut on = Vec::new();
    for (k, c) in [
        ("use_karras_sigmas", SigmaConversion::Karras),
        ("use_exponential_sigmas", SigmaConversion::Exponential),
        ("use_beta_sigmas", SigmaConversion::Beta),
        ("use_lu_lambdas", SigmaConversion::LuLambdas),
    ] {
        if (lu || c != SigmaConversion::LuLambdas) && f.flag(k, false)? {
            on.push((k, c));
        }
    }
    match on.as_slice() {
        [] => Ok(SigmaConversion::None),
        [(_, c)] => Ok(*c),
        [(k, _), ..] => Err(cfg_err(
            k,
            &Value::Bool(true),
            "at most one of use_karras_sigmas, use_exponential_sigmas, use_beta_sigmas, \
             use_lu_lambdas",
        )),
    }
}

/// The framework over diffusers' float32 table: `PiecewiseLinear` with knot `k` at
/// `t = k/(N−1)`, and the timestep as diffusers' `_sigma_to_t` of the level (rounded for
/// integer timesteps).
fn table_framework(s: &TableSettings, target: DynTarget, round: bool) -> Result<DynGdf> {
    let tab = DiscreteTable::new(s)?;
    let n = tab.len();
    let xs: Vec<f64> = (0..n).map(|k| k as f64 / (n - 1) as f64).collect();
    let ys: Vec<f64> = tab.alphas_cumprod().iter().map(|&v| f64::from(v)).collect();
    let table = Table::new(xs, ys)?;
    let ls: Vec<f64> = tab.log_sigmas().iter().map(|&v| f64::from(v)).collect();
    let cond = DynNoiseCond::new(CondKind::TableTimestep(TableTimestep::new(ls, round)?));
    Ok(framework(
        DynSchedule::new(ScheduleKind::PiecewiseLinear(table)),
        DynScaler::Vp,
        target,
        cond,
        WeightKind::Constant(1.0),
    ))
}

fn framework(
    schedule: DynSchedule,
    scaler: DynScaler,
    target: DynTarget,
    cond: DynNoiseCond,
    weight: WeightKind,
) -> DynGdf {
    DynGdf::new(schedule, scaler, target, cond, DynLossWeight::new(weight))
}

/// `v` to 15 significant digits.
fn digits15(v: f64) -> f64 {
    format!("{v:.14e}").parse().unwrap_or(v)
}

fn approx(field: &str, value: impl fmt::Display, note: &str) -> Approximation {
    Approximation {
        field: field.into(),
        value: value.to_string(),
        note: note.into(),
    }
}

fn wrong_pipeline(class: &str, pipeline: PipelineKind, want: &str) -> GdfError {
    GdfError::Config {
        field: "_class_name".into(),
        value: format!("{class:?} with {pipeline:?}"),
        expected: format!("{want} for this scheduler class"),
    }
}

const SUPPORTED: &str = "one of DDIMScheduler, PNDMScheduler, DDPMScheduler, \
    EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, DPMSolverMultistepScheduler, \
    UniPCMultistepScheduler, FlowMatchEulerDiscreteScheduler, EDMDPMSolverMultistepScheduler, \
    DDPMWuerstchenScheduler";

/// Loads a diffusers `scheduler_config.json` for the pipeline `pipeline`.
///
/// Errors: [`GdfError::Config`] naming the field and its value for invalid JSON, an
/// unsupported `_class_name`, a value gdf cannot honour, or a field no diffusers scheduler
/// has; [`GdfError::OutOfRange`] for numbers outside their range (β's, shifts).
///
/// ```
/// use gdf::interop::diffusers::{load, PipelineKind};
/// let e = load(r#"{"_class_name": "DDIMScheduler", "beta_schedul": "linear"}"#,
///              PipelineKind::StableDiffusion).unwrap_err();
/// assert!(e.to_string().contains("`beta_schedul`"));
/// ```
pub fn load(json: &str, pipeline: PipelineKind) -> Result<Loaded> {
    let root: Value = serde_json::from_str(json).map_err(|e| GdfError::Config {
        field: "(file)".into(),
        value: format!("{:.40}…", json.trim_start()),
        expected: format!("a JSON object ({e})"),
    })?;
    let map = root.as_object().ok_or_else(|| GdfError::Config {
        field: "(file)".into(),
        value: format!("{:.40}", root.to_string()),
        expected: "a JSON object".into(),
    })?;
    let class = match map.get("_class_name") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => return Err(cfg_err("_class_name", v, "a scheduler class name")),
        None => return Err(cfg_err("_class_name", &Value::Null, SUPPORTED)),
    };
    let mut f = Fields {
        map,
        used: Vec::new(),
    };
    let mut notes = Vec::new();
    let flow_pipeline = matches!(
        pipeline,
        PipelineKind::Sd3 { .. } | PipelineKind::Flux { .. }
    );
    let cascade = matches!(pipeline, PipelineKind::StableCascade { .. });
    let unet_only = |want: &str| -> Result<()> {
        if flow_pipeline || cascade {
            Err(wrong_pipeline(&class, pipeline, want))
        } else {
            Ok(())
        }
    };
    let (framework, solver, grid, timestep, frame, threshold) = match class.as_str() {
        "DDIMScheduler" | "PNDMScheduler" | "DDPMScheduler" => {
            unet_only("PipelineKind::StableDiffusion")?;
            let pndm = class == "PNDMScheduler";
            let ddpm = class == "DDPMScheduler";
            let table = table_settings(&mut f)?;
            if table.rescale_betas_zero_snr {
                return Err(cfg_err(
                    "rescale_betas_zero_snr",
                    &Value::Bool(true),
                    "false for DDIM/PNDM/DDPM (gdf's zero-terminal-SNR table follows the Euler \
                     / DPMSolver schedulers, which also set ᾱ_{N−1} = 2⁻²⁴)",
                ));
            }
            let target = target_of(&mut f, &["epsilon", "v_prediction", "sample"])?;
            let spacing = f.parsed("timestep_spacing", "leading", str::parse::<Spacing>)?;
            let steps_offset = f.int("steps_offset", 0)?;
            // diffusers' defaults: true for DDIM, false for PNDM; DDPM always ends at ᾱ = 1.
            let set_alpha_to_one = ddpm || f.flag("set_alpha_to_one", !pndm)?;
            if ddpm {
                let v = f.text("variance_type", "fixed_small")?;
                if v != "fixed_small" {
                    return Err(GdfError::Config {
                        field: "variance_type".into(),
                        value: format!("{v:?}"),
                        expected: "\"fixed_small\" (the posterior variance; gdf's DDPM is Euler \
                                   ancestral with η = 1)"
                            .into(),
                    });
                }
            }
            let threshold = if pndm {
                if !f.flag("skip_prk_steps", false)? {
                    notes.push(approx(
                        "skip_prk_steps",
                        false,
                        "PNDM's Runge-Kutta warm-up (3 extra model calls per early step) is \
                         not run: the whole run is DDIM",
                    ));
                }
                Threshold::Off
            } else {
                threshold_of(&mut f, Some(true))?
            };
            if pndm {
                notes.push(approx(
                    "_class_name",
                    "\"PNDMScheduler\"",
                    "gdf has no PLMS (pseudo linear multistep): the run is DDIM with η = 0 \
                     on PNDM's timesteps (the common swap; PNDM repeats one timestep, DDIM \
                     does not)",
                ));
            }
            (
                table_framework(&table, target, true)?,
                if ddpm {
                    // The DDPM posterior step is Euler ancestral with η = 1 (its last step
                    // goes to ᾱ = 1, where both add no noise).
                    AnySolver::EulerAncestral(EulerAncestral::new())
                } else {
                    AnySolver::Euler(Euler::new())
                },
                GridSpec::Ddim {
                    table: table.clone(),
                    spacing,
                    steps_offset,
                    set_alpha_to_one,
                },
                ModelTimestep::TableIndex {
                    train_steps: DiscreteTable::new(&table)?.len(),
                },
                LatentFrame::Vp,
                threshold,
            )
        }
        "EulerDiscreteScheduler"
        | "EulerAncestralDiscreteScheduler"
        | "DPMSolverMultistepScheduler"
        | "UniPCMultistepScheduler" => {
            unet_only("PipelineKind::StableDiffusion")?;
            let ancestral = class == "EulerAncestralDiscreteScheduler";
            let euler = class == "EulerDiscreteScheduler" || ancestral;
            let unipc = class == "UniPCMultistepScheduler";
            let table = table_settings(&mut f)?;
            let target = target_of(&mut f, &["epsilon", "v_prediction", "sample"])?;
            let mut s = DiscreteSettings::new(if euler {
                DiscreteScheduler::Euler
            } else if unipc {
                DiscreteScheduler::UniPcMultistep
            } else {
                DiscreteScheduler::DpmSolverMultistep
            });
            s.table = table.clone();
            s.spacing = f.parsed("timestep_spacing", "linspace", str::parse::<Spacing>)?;
            s.steps_offset = f.int("steps_offset", 0)?;
            if !ancestral {
                s.conversion = conversion(&mut f, !euler && !unipc)?;
                s.final_sigmas = f.parsed("final_sigmas_type", "zero", str::parse::<GridFinal>)?;
            }
            let mut timestep = ModelTimestep::TableIndex {
                train_steps: DiscreteTable::new(&table)?.len(),
            };
            let (solver, threshold) = if ancestral {
                (
                    AnySolver::EulerAncestral(EulerAncestral::new()),
                    Threshold::Off,
                )
            } else if unipc {
                if !f.flag("predict_x0", true)? {
                    return Err(cfg_err(
                        "predict_x0",
                        &Value::Bool(false),
                        "true (gdf's UniPC predicts x0)",
                    ));
                }
                f.must_be("solver_p", Value::Null, "gdf has no UniPC with a solver_p")?;
                f.must_be(
                    "use_flow_sigmas",
                    Value::Bool(false),
                    "gdf loads flow-sigma configs only as flow-matching schedulers",
                )?;
                f.must_be(
                    "use_dynamic_shifting",
                    Value::Bool(false),
                    "dynamic shifting exists only with use_flow_sigmas",
                )?;
                f.must_be(
                    "shift_terminal",
                    Value::Null,
                    "shift_terminal exists only with use_flow_sigmas",
                )?;
                f.get("flow_shift"); // read only with use_flow_sigmas
                f.get("time_shift_type"); // read only with use_dynamic_shifting
                s.sigma_min = f.opt_f64("sigma_min")?;
                s.sigma_max = f.opt_f64("sigma_max")?;
                let variant = match f.text("solver_type", "bh2")?.as_str() {
                    "bh1" => UniPcVariant::Bh1,
                    "bh2" => UniPcVariant::Bh2,
                    other => {
                        return Err(GdfError::Config {
                            field: "solver_type".into(),
                            value: format!("{other:?}"),
                            expected: "\"bh1\" or \"bh2\"".into(),
                        })
                    }
                };
                let disable_corrector = match f.get("disable_corrector") {
                    None => Vec::new(),
                    Some(v) => v
                        .as_array()
                        .and_then(|a| {
                            a.iter()
                                .map(|x| x.as_u64().map(|k| k as usize))
                                .collect::<Option<Vec<usize>>>()
                        })
                        .ok_or_else(|| cfg_err("disable_corrector", v, "a list of step indices"))?,
                };
                let st = UniPcSettings {
                    order: f.count("solver_order", 2)? as usize,
                    variant,
                    lower_order_final: f.flag("lower_order_final", true)?,
                    disable_corrector,
                };
                let threshold = threshold_of(&mut f, None)?;
                (AnySolver::UniPc(UniPc::with(st)?), threshold)
            } else if euler {
                s.interpolation =
                    f.parsed("interpolation_type", "linear", str::parse::<Interpolation>)?;
                s.sigma_min = f.opt_f64("sigma_min")?;
                s.sigma_max = f.opt_f64("sigma_max")?;
                match f.text("timestep_type", "discrete")?.as_str() {
                    "discrete" => {}
                    "continuous" if target == DynTarget::V => {
                        s.continuous_timesteps = true;
                        timestep = ModelTimestep::QuarterLogSigma;
                    }
                    other => {
                        return Err(GdfError::Config {
                            field: "timestep_type".into(),
                            value: format!("{other:?}"),
                            expected: "\"discrete\", or \"continuous\" with prediction_type \
                                       \"v_prediction\""
                                .into(),
                        })
                    }
                }
                (
                    AnySolver::EulerDiscrete(EulerDiscrete::new()),
                    Threshold::Off,
                )
            } else {
                s.lambda_min_clipped = f.f64("lambda_min_clipped", f64::NEG_INFINITY)?;
                f.must_be(
                    "use_flow_sigmas",
                    Value::Bool(false),
                    "gdf loads flow-sigma DPMSolver configs only as flow-matching schedulers",
                )?;
                f.get("flow_shift"); // read only with use_flow_sigmas
                if let Some(v) = f.get("variance_type") {
                    notes.push(approx(
                        "variance_type",
                        v,
                        "the model's extra variance channels are not used: give the solver \
                         only the prediction channels (diffusers slices them off too)",
                    ));
                }
                let st = dpm_settings(&mut f)?;
                let threshold = threshold_of(&mut f, None)?;
                (
                    AnySolver::DpmSolverMultistep(DpmSolverMultistep::with(st)?),
                    threshold,
                )
            };
            // Euler's timesteps are fractional with a σ conversion (`_sigma_to_t`, as the
            // noise cond), and with linspace spacing or log-linear interpolation (σ
            // interpolated linearly in σ, or log-uniform: not `_sigma_to_t`).
            let fractional = euler
                && (s.spacing == Spacing::Linspace
                    || s.conversion != SigmaConversion::None
                    || s.interpolation != Interpolation::Linear);
            if euler
                && !s.continuous_timesteps
                && (s.spacing == Spacing::Linspace || s.interpolation != Interpolation::Linear)
            {
                notes.push(approx(
                    "timestep_spacing / interpolation_type",
                    format!("{:?} / {:?}", s.spacing, s.interpolation),
                    "diffusers' fractional Euler timesteps here come from interpolating σ \
                     linearly over the step index; the framework's noise cond inverts ln σ \
                     (`_sigma_to_t`), which differs between training steps (the grid's \
                     `timesteps` are diffusers' exact values)",
                ));
            }
            if !euler
                && matches!(
                    s.conversion,
                    SigmaConversion::Exponential | SigmaConversion::Beta
                )
            {
                notes.push(approx(
                    "use_exponential_sigmas / use_beta_sigmas",
                    true,
                    "DPMSolver truncates these timesteps, the framework's noise cond rounds \
                     (the grid's `timesteps` are diffusers' exact values)",
                ));
            }
            let mut fw = table_framework(&table, target, !fractional)?;
            if s.continuous_timesteps {
                fw.noise_cond = DynNoiseCond::new(CondKind::Edm);
            }
            (
                fw,
                solver,
                GridSpec::Discrete(s),
                timestep,
                if euler {
                    LatentFrame::Ve
                } else {
                    LatentFrame::Vp
                },
                threshold,
            )
        }
        "FlowMatchEulerDiscreteScheduler" => {
            let scale = match pipeline {
                PipelineKind::Sd3 { .. } => 1000.0,
                PipelineKind::Flux { .. } => 1.0,
                _ => {
                    return Err(wrong_pipeline(
                        &class,
                        pipeline,
                        "PipelineKind::Sd3 or PipelineKind::Flux",
                    ))
                }
            };
            let num_train_timesteps = f.count("num_train_timesteps", 1000)? as usize;
            let shift = f.f64("shift", 1.0)?;
            let use_dynamic_shifting = f.flag("use_dynamic_shifting", false)?;
            let seq_len_shift = SeqLenShift {
                base_shift: f.f64("base_shift", 0.5)?,
                max_shift: f.f64("max_shift", 1.15)?,
                base_seq_len: f.f64("base_image_seq_len", 256.0)?,
                max_seq_len: f.f64("max_image_seq_len", 4096.0)?,
            };
            let time_shift = f.parsed("time_shift_type", "exponential", str::parse::<TimeShift>)?;
            let conversion = conversion(&mut f, false)?;
            let shift_terminal = f.opt_f64("shift_terminal")?;
            let invert_sigmas = f.flag("invert_sigmas", false)?;
            let stochastic = f.flag("stochastic_sampling", false)?;
            let settings = FlowMatchSettings {
                num_train_timesteps,
                shift,
                use_dynamic_shifting,
                seq_len_shift,
                time_shift,
                conversion,
                shift_terminal,
                invert_sigmas,
            };
            let seq = match pipeline {
                PipelineKind::Sd3 { image_seq_len } => image_seq_len,
                PipelineKind::Flux { image_seq_len } => Some(image_seq_len),
                _ => None,
            };
            let mu = match (use_dynamic_shifting, seq) {
                (false, _) => None,
                (true, Some(s)) => Some(seq_len_shift.mu(s)?),
                (true, None) => {
                    return Err(GdfError::Config {
                        field: "use_dynamic_shifting".into(),
                        value: "true".into(),
                        expected: "an image_seq_len in the PipelineKind (μ depends on it)".into(),
                    })
                }
            };
            if invert_sigmas {
                return Err(cfg_err(
                    "invert_sigmas",
                    &Value::Bool(true),
                    "false (an inverted flow grid runs from data to noise; gdf's solvers \
                     sample from noise)",
                ));
            }
            // The schedule's shift: the static shift, or e^μ (linear time shift: μ), the
            // latter to 15 significant digits (what a constant of the text form holds).
            let k = match (mu, time_shift) {
                (None, _) => shift,
                (Some(m), TimeShift::Exponential) => digits15(m.exp()),
                (Some(m), TimeShift::Linear) => digits15(m),
            };
            let mut sched = DynSchedule::new(ScheduleKind::RectifiedFlows([-15.0, 15.0]));
            sched.shift = k;
            if shift_terminal.is_some() {
                notes.push(approx(
                    "shift_terminal",
                    shift_terminal.unwrap_or(0.0),
                    "the grid stretches to the terminal sigma as diffusers does; the \
                     framework's schedule (training, `diffuse`) has only the shift",
                ));
            }
            (
                framework(
                    sched,
                    DynScaler::Lerp,
                    DynTarget::RectifiedFlows,
                    DynNoiseCond::new(CondKind::FlowSigma(scale)),
                    WeightKind::Constant(1.0),
                ),
                AnySolver::FlowMatchEuler(if stochastic {
                    FlowMatchEuler::stochastic()
                } else {
                    FlowMatchEuler::new()
                }),
                GridSpec::Flow {
                    settings,
                    flux_sigmas: matches!(pipeline, PipelineKind::Flux { .. }),
                    mu,
                },
                ModelTimestep::FlowSigma { scale },
                LatentFrame::Flow,
                Threshold::Off,
            )
        }
        "EDMDPMSolverMultistepScheduler" => {
            unet_only("PipelineKind::StableDiffusion")?;
            let sigma_min = f.f64("sigma_min", 0.002)?;
            let sigma_max = f.f64("sigma_max", 80.0)?;
            crate::grid::check_sigma_range(sigma_min, sigma_max)?;
            let sd = f.f64("sigma_data", 0.5)?;
            crate::grid::check_pos("sigma_data", sd)?;
            let rho = f.f64("rho", 7.0)?;
            crate::grid::check_pos("rho", rho)?;
            let exponential = match f.text("sigma_schedule", "karras")?.as_str() {
                "karras" => false,
                "exponential" => true,
                other => {
                    return Err(GdfError::Config {
                        field: "sigma_schedule".into(),
                        value: format!("{other:?}"),
                        expected: "\"karras\" or \"exponential\"".into(),
                    })
                }
            };
            f.count("num_train_timesteps", 1000)?; // not used by the EDM scheduler
            let target = match target_of(&mut f, &["epsilon", "v_prediction"])? {
                DynTarget::Epsilon => DynTarget::NegV,
                _ => DynTarget::V,
            };
            let st = dpm_settings(&mut f)?;
            let threshold = threshold_of(&mut f, None)?;
            let mut cond = DynNoiseCond::new(CondKind::Edm);
            cond.shift = digits15(1.0 / sd);
            (
                framework(
                    DynSchedule::new(ScheduleKind::EdmSample {
                        sigma_range: [digits15(sigma_min / sd), digits15(sigma_max / sd)],
                        p: rho,
                    }),
                    DynScaler::Vp,
                    target,
                    cond,
                    WeightKind::Constant(1.0),
                ),
                AnySolver::DpmSolverMultistep(DpmSolverMultistep::with(st)?),
                GridSpec::Edm {
                    sigma_min,
                    sigma_max,
                    rho,
                    sigma_data: sd,
                    exponential,
                    final_zero: st.final_sigmas == FinalSigmas::Zero,
                },
                ModelTimestep::EdmCNoise { sigma_data: sd },
                LatentFrame::Edm { sigma_data: sd },
                threshold,
            )
        }
        "DDPMWuerstchenScheduler" => {
            let shift = match pipeline {
                PipelineKind::StableCascade { shift } => shift,
                PipelineKind::StableDiffusion => 1.0,
                _ => {
                    return Err(wrong_pipeline(
                        &class,
                        pipeline,
                        "PipelineKind::StableCascade",
                    ))
                }
            };
            crate::grid::check_pos("shift", shift)?;
            let s = f.f64("s", 0.008)?;
            f.must_be(
                "scaler",
                Value::from(1.0),
                "gdf has no time warp t ↦ 1−(1−t)^k of the cosine schedule",
            )?;
            let mut sched = DynSchedule::cosine(VarParams {
                s,
                clamp_range: [0.0001, 0.9999],
                norm_instead: false,
            });
            sched.shift = shift;
            notes.push(approx(
                "_class_name",
                "\"DDPMWuerstchenScheduler\"",
                "the network gets CosineT(λ) (the original GDF's noise cond), which is t \
                 except where the ᾱ clamp [1e-4, 0.9999] is active (t = 1 gives 0.99358); \
                 diffusers passes t itself",
            ));
            notes.push(approx(
                "_class_name",
                "\"DDPMWuerstchenScheduler\"",
                "the last step (to t = 0, ᾱ = 0.9999) adds Euler-ancestral noise; diffusers' \
                 step drops the noise there",
            ));
            (
                framework(
                    sched.clone(),
                    DynScaler::Vp,
                    DynTarget::Epsilon,
                    DynNoiseCond::new(CondKind::CosineT(s)),
                    WeightKind::P2 {
                        k: 1.0,
                        gamma: 1.0,
                        s: 1.0,
                    },
                ),
                AnySolver::EulerAncestral(EulerAncestral::new()),
                GridSpec::Cosine { schedule: sched },
                ModelTimestep::CosineT,
                LatentFrame::Vp,
                Threshold::Off,
            )
        }
        _ => return Err(cfg_err("_class_name", &Value::String(class), SUPPORTED)),
    };
    if threshold != Threshold::Off {
        notes.push(approx(
            "clip_sample / thresholding",
            format!("{threshold:?}"),
            "recorded in `threshold`; the loaded solver does not apply it (apply it to x0 \
             before the solver's update)",
        ));
    }
    let ignored = f.finish(&class)?;
    Ok(Loaded {
        class_name: class,
        framework,
        solver,
        grid,
        timestep,
        frame,
        threshold,
        approximations: notes,
        ignored,
    })
}
