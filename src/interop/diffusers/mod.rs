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
//!   table ([`TableTimestep`](crate::noise_cond::TableTimestep), diffusers' `_sigma_to_t`,
//!   rounded where diffusers' timesteps are integers), the flow sigma times 1000 (SD3) or 1
//!   (Flux) ([`FlowSigma`](crate::noise_cond::FlowSigma); truncated to diffusers' integer
//!   `σ·T` for the multistep schedulers' flow sigmas:
//!   [`Discrete`](crate::noise_cond::Discrete)), EDM's `¼ ln σ` (`Edm` with shift
//!   `1/σ_data`), consistency models' `250·ln σ` (`LogSigma(scale = 250)`, the same shift),
//!   Stable Cascade's `t` (`CosineT`) or Dance Diffusion's (`CosineT(s = 0)`).
//! - `solver`: the scheduler's update rule as an [`AnySolver`] (DDIM is k-diffusion's Euler
//!   in VP coordinates; DDPM and DDPM-Würstchen are Euler ancestral with η = 1; Heun, KDPM2
//!   (ancestral) and LMS are k-diffusion's `heun`, `dpm_2` (`_ancestral`) and `lms`; Euler,
//!   Euler ancestral, DPM-Solver++, UniPC, flow-matching Euler, LCM, TCD and the consistency
//!   models' multistep sampling are gdf's own;
//!   PNDM is [`Plms`](crate::solver::Plms), IPNDM [`Ipndm`](crate::solver::Ipndm)).
//! - `grid`: a [`GridSpec`] that builds diffusers' `set_timesteps` for `n` steps: leading /
//!   trailing / linspace spacing with `steps_offset`, the final step to σ = 0
//!   (`set_alpha_to_one`, `final_sigmas_type = "zero"`), `shift`, dynamic shifting,
//!   `shift_terminal`, Karras / exponential / beta sigmas.
//! - `threshold`: `clip_sample` / `thresholding` as data ([`Threshold`]); the solver does
//!   not apply it: give it to the run's `set_threshold` (the [pipeline](crate::pipeline)
//!   stage, applied to x0 inside the fused step).
//! - `approximations`: every place where gdf does not do exactly what diffusers does, and
//!   `ignored`: fields the scheduler class does not read (diffusers ignores them too).
//!
//! Any other field, or a value gdf cannot honour, is a [`GdfError::Config`] naming the
//! field and its value.
//!
//! [`load_as`] reads a config as another class (`Class.from_config(pipe.scheduler.config)`,
//! the usual scheduler swap); [`load_inverse`] reads one as `DDIMInverseScheduler.from_config`
//! does, for DDIM inversion ([`crate::pipeline::invert`]).
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

mod fields;
mod grid;
mod inverse;
mod schedulers;

pub(crate) use grid::mochi_sigmas;
pub use grid::{linear_quadratic_sigmas, GridSpec, PipelineSigmas};
pub use inverse::{load_inverse, LoadedInverse};

use fields::{cfg_err, Fields};
use schedulers::{
    consistency_models, ddim_family, discrete_family, dpm_inverse, edm, flow_map, flow_matching,
    flow_sigmas_family, ipndm, k_family, lcm, minimax_h3, scm, wuerstchen,
};

use serde_json::Value;

use crate::dynamic::DynGdf;
use crate::error::{GdfError, Result};
use crate::grid::Grid as Levels;
use crate::scaler::Scaler;
use crate::solver::{self, AnySolver};

/// What the pipeline decides and the scheduler config does not say.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PipelineKind {
    /// UNet/DiT pipelines over a discrete or EDM scheduler (Stable Diffusion 1.x/2.x, SDXL,
    /// PixArt, Playground; also Dance Diffusion's `IPNDMScheduler`): the network takes the
    /// scheduler's timesteps as they are.
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
    /// SANA-Sprint (`SCMScheduler`, sCM's TrigFlow): the pipeline's `max_timesteps` and
    /// `intermediate_timesteps` arguments (angles `s`, `x = cos(s)·x0 + sin(s)·σ_d·ε`); its
    /// defaults are [`PipelineKind::SANA_SPRINT`]. With an intermediate angle the run has two
    /// steps (`[max, intermediate, 0]`), without one `n` steps of `linspace(max, 0, n + 1)`.
    /// The transformer is a flow model: it takes `τ = sin s/(sin s + cos s)` and the flow
    /// latents, and predicts the flow velocity.
    SanaSprint {
        /// The first angle (the pipeline's default 1.5708).
        max_timesteps: f64,
        /// The middle angle of a two-step run (the pipeline's default 1.3), or `None`.
        intermediate_timesteps: Option<f64>,
    },
    /// Mochi (`MochiPipeline`, its `FlowMatchEulerDiscreteScheduler` with `invert_sigmas`):
    /// the pipeline passes [`linear_quadratic_sigmas`] for `n` steps; the transformer takes
    /// `(1 − σ)·1000` and predicts `x0 − ε` (the velocity toward the data, in the inverted
    /// convention where the scheduler's σ weighs x0). Its defaults are [`PipelineKind::MOCHI`].
    Mochi {
        /// `threshold_noise` (the pipeline's default 0.025).
        threshold_noise: f64,
        /// `linear_steps` (the pipeline's default `None`: `n // 2`).
        linear_steps: Option<usize>,
    },
}

impl PipelineKind {
    /// `MochiPipeline`'s defaults: `threshold_noise = 0.025`, `linear_steps = None`.
    pub const MOCHI: PipelineKind = PipelineKind::Mochi {
        threshold_noise: 0.025,
        linear_steps: None,
    };

    /// `SanaSprintPipeline`'s defaults: `max_timesteps = 1.5708`, `intermediate_timesteps =
    /// 1.3` (two steps).
    pub const SANA_SPRINT: PipelineKind = PipelineKind::SanaSprint {
        max_timesteps: grid::SCM_MAX_ANGLE,
        intermediate_timesteps: Some(1.3),
    };
}

/// x0 clipping or dynamic thresholding a config asks for (`clip_sample`,
/// `clip_sample_range`, `thresholding`, `dynamic_thresholding_ratio`, `sample_max_value`):
/// the pipeline stage [`crate::pipeline::Threshold`], which a solver run applies to x0 before
/// its update (`Run::set_threshold`, `DeviceRun::set_threshold`).
pub use crate::pipeline::Threshold;

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
    /// The flow sigma times `T`, truncated to a whole number: the int64 timesteps of the
    /// multistep schedulers with `use_flow_sigmas` (Wan, SANA), which an SD3-style
    /// transformer takes as they are.
    FlowSigmaSteps {
        /// `num_train_timesteps` (`T`).
        train_steps: usize,
    },
    /// EDM's `c_noise = ¼ ln σ` of the raw σ (in data units, `σ_data` times the frame's).
    EdmCNoise {
        /// `sigma_data`.
        sigma_data: f64,
    },
    /// Stable Cascade's `t ∈ [0, 1]` of the cosine schedule.
    CosineT,
    /// `1 − σ` of the flow sigma (MiniMax-H3: `t = 1` is clean).
    FlowAlpha,
    /// `(1 − σ)·scale` of the flow sigma: diffusers' `invert_sigmas` timesteps (Mochi:
    /// `scale = 1000`).
    InvertedFlowSigma {
        /// The factor (`num_train_timesteps`).
        scale: f64,
    },
    /// `CosineDPMSolverMultistepScheduler`'s `atan(σ)·2/π` of the raw σ (`σ_data` times the
    /// frame's): the cosine schedule's `t`.
    AtanSigma {
        /// `sigma_data`.
        sigma_data: f64,
    },
    /// `CMStochasticIterativeScheduler`'s `250·ln σ` of the raw σ (`σ_data` times the
    /// frame's; `1000·¼ ln σ`).
    CmLogSigma {
        /// `sigma_data`.
        sigma_data: f64,
    },
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
    /// TrigFlow latents `cos(s)·x0 + sin(s)·σ_d·ε` (SANA-Sprint's `SCMScheduler`, `x0` in
    /// `σ_d` units) with gdf working on the flow latents the transformer takes (LERP scaler,
    /// `x0` the VAE latents): `σ_d·x/√(a² + b²)`.
    TrigFlow {
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
    /// x0 clipping / thresholding: give it to the run's `set_threshold`.
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

    /// The grid for a custom list of timesteps, diffusers' `set_timesteps(timesteps=ts)`
    /// (see [`GridSpec::grid_for_timesteps`]): Align Your Steps' SDXL ladder, for example.
    ///
    /// ```
    /// use gdf::interop::diffusers::{load, PipelineKind};
    /// let l = load(r#"{"_class_name": "DPMSolverMultistepScheduler",
    ///     "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}"#,
    ///     PipelineKind::StableDiffusion)?;
    /// let ays = [999.0, 845.0, 730.0, 587.0, 443.0, 310.0, 193.0, 116.0, 53.0, 13.0];
    /// let g = l.grid_for_timesteps(&ays)?;
    /// assert_eq!(g.logsnr.len(), 11);
    /// assert_eq!(g.logsnr[10], f64::INFINITY);
    /// assert!(l.grid_for_timesteps(&[500.0, 600.0]).is_err()); // not decreasing
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn grid_for_timesteps(&self, ts: &[f64]) -> Result<Levels> {
        self.grid.grid_for_timesteps(&self.class_name, ts)
    }

    /// The grid for a custom σ list, diffusers' `set_timesteps(sigmas=…)` (see
    /// [`GridSpec::grid_for_sigmas`]).
    ///
    /// ```
    /// use gdf::interop::diffusers::{load, PipelineKind};
    /// let sd3 = load(r#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0}"#,
    ///     PipelineKind::Sd3 { image_seq_len: None })?;
    /// let g = sd3.grid_for_sigmas(&[1.0, 0.75, 0.5, 0.25])?;
    /// assert_eq!(g.logsnr.len(), 5); // σ = 0 appended
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn grid_for_sigmas(&self, sigmas: &[f64]) -> Result<Levels> {
        self.grid.grid_for_sigmas(&self.class_name, sigmas)
    }

    /// The solver's grid: the levels `(a, b, λ)` of `grid` through the framework's scaler (an
    /// inversion grid, [`solver::Grid::inverse`], for `DPMSolverMultistepInverseScheduler`).
    ///
    /// Errors: as [`solver::Grid::new`] / [`solver::Grid::inverse`].
    pub fn solver_grid(&self, grid: &Levels) -> Result<solver::Grid> {
        if let GridSpec::DpmInverse { .. } = self.grid {
            return solver::Grid::inverse(&self.framework.scaler, &grid.logsnr);
        }
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
            LatentFrame::TrigFlow { sigma_data } => {
                let (a, b) = self.framework.scaler.ab(lam);
                sigma_data / a.hypot(b)
            }
        }
    }

    /// The factor from gdf's `x0` to the pipeline's (`σ_data` for EDM and TrigFlow, else 1).
    pub fn data_scale(&self) -> f64 {
        match self.frame {
            LatentFrame::Edm { sigma_data } | LatentFrame::TrigFlow { sigma_data } => sigma_data,
            _ => 1.0,
        }
    }
}

/// The config text as a JSON object (Python's bare `NaN`/`Infinity` allowed), without the
/// fields its `_use_default_values` lists.
///
/// A scheduler's in-memory `config` (what `json.dumps(dict(scheduler.config))` writes) lists
/// there the fields the file did not set, which took that class's defaults; diffusers'
/// `from_config` drops them, so that another class gets its own defaults (SD 1.5's PNDM
/// config, which has no `timestep_spacing`, gives Euler its `linspace`, not PNDM's
/// `leading`). A saved `scheduler_config.json` has no such list.
fn parse_object(json: &str) -> Result<serde_json::Map<String, Value>> {
    let mut map = parse_any_object(json)?;
    if let Some(v) = map.remove("_use_default_values") {
        let keys = v
            .as_array()
            .and_then(|a| a.iter().map(Value::as_str).collect::<Option<Vec<&str>>>())
            .ok_or_else(|| cfg_err("_use_default_values", &v, "a list of field names"))?;
        for k in keys {
            map.remove(k);
        }
    }
    Ok(map)
}

fn parse_any_object(json: &str) -> Result<serde_json::Map<String, Value>> {
    let root: Value =
        serde_json::from_str(&fields::python_tokens(json)).map_err(|e| GdfError::Config {
            field: "(file)".into(),
            value: format!("{:.40}…", json.trim_start()),
            expected: format!("a JSON object ({e})"),
        })?;
    match root {
        Value::Object(map) => Ok(map),
        other => Err(GdfError::Config {
            field: "(file)".into(),
            value: format!("{:.40}", other.to_string()),
            expected: "a JSON object".into(),
        }),
    }
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

const SUPPORTED: &str =
    "one of DDIMScheduler, DDIMParallelScheduler, PNDMScheduler, DDPMScheduler, \
    DDPMParallelScheduler, CogVideoXDDIMScheduler, \
    CogVideoXDPMScheduler, \
    EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, HeunDiscreteScheduler, \
    KDPM2DiscreteScheduler, KDPM2AncestralDiscreteScheduler, LMSDiscreteScheduler, \
    DPMSolverSDEScheduler, \
    LCMScheduler, TCDScheduler, DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler, \
    DEISMultistepScheduler, SASolverScheduler, UniPCMultistepScheduler, \
    FlowMatchEulerDiscreteScheduler, FlowMatchHeunDiscreteScheduler, FlowMatchLCMScheduler, \
    LTXEulerAncestralRFScheduler, FlowMapEulerDiscreteScheduler, EDMDPMSolverMultistepScheduler, EDMEulerScheduler, CosineDPMSolverMultistepScheduler, \
    DDPMWuerstchenScheduler, IPNDMScheduler, SCMScheduler, MiniMaxH3Scheduler, \
    CMStochasticIterativeScheduler, DPMSolverMultistepInverseScheduler";

/// Loads a diffusers `scheduler_config.json` for the pipeline `pipeline`.
///
/// A scheduler's in-memory config dumped as JSON (`json.dumps(dict(pipe.scheduler.config))`)
/// loads too: the fields its `_use_default_values` lists are dropped, as diffusers'
/// `from_config` drops them (they were the class's defaults, not the file's).
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
    load_map(&parse_object(json)?, pipeline)
}

/// Loads a config as the scheduler class `class` reads it: diffusers'
/// `Class.from_config(config)`, the usual way to swap a pipeline's scheduler
/// (`pipe.scheduler = HeunDiscreteScheduler.from_config(pipe.scheduler.config)`). The
/// config's `_class_name` is not read; the fields `class` has take the config's values, the
/// others its defaults (the config's own class's defaults do not carry over, as in
/// diffusers: see `_use_default_values` in [`load`]), and the rest are listed in
/// [`Loaded::ignored`].
///
/// Errors: as [`load`].
///
/// ```
/// use gdf::interop::diffusers::{load_as, GridSpec, PipelineKind};
/// use gdf::grid::discrete::Spacing;
/// // SD 1.5's file: PNDM, no `timestep_spacing` field.
/// let sd15 = r#"{"_class_name": "PNDMScheduler", "beta_schedule": "scaled_linear",
///     "beta_start": 0.00085, "beta_end": 0.012, "num_train_timesteps": 1000,
///     "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1}"#;
/// let heun = load_as(sd15, "HeunDiscreteScheduler", PipelineKind::StableDiffusion)?;
/// assert_eq!(heun.class_name, "HeunDiscreteScheduler");
/// // Heun's own default spacing, as diffusers gives it.
/// let GridSpec::Discrete(s) = &heun.grid else { unreachable!() };
/// assert_eq!(s.spacing, Spacing::Linspace);
/// assert!(heun.ignored.contains(&"skip_prk_steps".to_string()));
/// # Ok::<(), gdf::GdfError>(())
/// ```
pub fn load_as(json: &str, class: &str, pipeline: PipelineKind) -> Result<Loaded> {
    let mut map = parse_object(json)?;
    map.insert("_class_name".into(), Value::from(class));
    load_map(&map, pipeline)
}

fn load_map(map: &serde_json::Map<String, Value>, pipeline: PipelineKind) -> Result<Loaded> {
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
        PipelineKind::Sd3 { .. } | PipelineKind::Flux { .. } | PipelineKind::Mochi { .. }
    );
    let cascade = matches!(pipeline, PipelineKind::StableCascade { .. });
    let sprint = matches!(pipeline, PipelineKind::SanaSprint { .. });
    let unet_only = |want: &str| -> Result<()> {
        if flow_pipeline || cascade || sprint {
            Err(wrong_pipeline(&class, pipeline, want))
        } else {
            Ok(())
        }
    };
    let (framework, solver, grid, timestep, frame, threshold) = match class.as_str() {
        "DDIMScheduler"
        | "DDIMParallelScheduler"
        | "PNDMScheduler"
        | "DDPMScheduler"
        | "DDPMParallelScheduler"
        | "CogVideoXDDIMScheduler"
        | "CogVideoXDPMScheduler" => {
            unet_only("PipelineKind::StableDiffusion")?;
            ddim_family(&mut f, &mut notes, &class)?
        }
        "DPMSolverMultistepScheduler" | "UniPCMultistepScheduler"
            if map.get("use_flow_sigmas") == Some(&Value::Bool(true)) =>
        {
            flow_sigmas_family(&mut f, &mut notes, &class, pipeline)?
        }
        "EulerDiscreteScheduler"
        | "EulerAncestralDiscreteScheduler"
        | "DPMSolverMultistepScheduler"
        | "DPMSolverSinglestepScheduler"
        | "DEISMultistepScheduler"
        | "SASolverScheduler"
        | "UniPCMultistepScheduler" => {
            unet_only("PipelineKind::StableDiffusion")?;
            discrete_family(&mut f, &mut notes, &class)?
        }
        "HeunDiscreteScheduler"
        | "KDPM2DiscreteScheduler"
        | "KDPM2AncestralDiscreteScheduler"
        | "LMSDiscreteScheduler"
        | "DPMSolverSDEScheduler" => {
            unet_only("PipelineKind::StableDiffusion")?;
            k_family(&mut f, &mut notes, &class)?
        }
        "LCMScheduler" | "TCDScheduler" => {
            unet_only("PipelineKind::StableDiffusion")?;
            lcm(&mut f, &class)?
        }
        "FlowMatchEulerDiscreteScheduler"
        | "FlowMatchHeunDiscreteScheduler"
        | "FlowMatchLCMScheduler"
        | "LTXEulerAncestralRFScheduler" => flow_matching(&mut f, &mut notes, &class, pipeline)?,
        "EDMDPMSolverMultistepScheduler"
        | "EDMEulerScheduler"
        | "CosineDPMSolverMultistepScheduler" => {
            unet_only("PipelineKind::StableDiffusion")?;
            edm(&mut f, &class)?
        }
        "DDPMWuerstchenScheduler" => wuerstchen(&mut f, &mut notes, &class, pipeline)?,
        "FlowMapEulerDiscreteScheduler" => flow_map(&mut f, &class, pipeline)?,
        "SCMScheduler" => scm(&mut f, &mut notes, &class, pipeline)?,
        "DPMSolverMultistepInverseScheduler" => {
            unet_only("PipelineKind::StableDiffusion")?;
            dpm_inverse(&mut f, &mut notes)?
        }
        "CMStochasticIterativeScheduler" => {
            unet_only("PipelineKind::StableDiffusion")?;
            consistency_models(&mut f, &mut notes)?
        }
        "MiniMaxH3Scheduler" => minimax_h3(&mut f, &class, pipeline)?,
        "IPNDMScheduler" => {
            unet_only("PipelineKind::StableDiffusion")?;
            ipndm(&mut f)?
        }
        _ => return Err(cfg_err("_class_name", &Value::String(class), SUPPORTED)),
    };
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
