//! diffusers' `DDIMInverseScheduler` as a gdf [`Inversion`]: its timesteps, the levels each
//! step goes between, `clip_sample` and the prediction type.

use serde_json::Value;

use super::fields::{cfg_err, named, table_settings, target_of, Fields};
use super::grid::ddim_timesteps;
use super::{parse_object, Threshold};
use crate::dynamic::DynTarget;
use crate::error::{GdfError, Result};
use crate::float::Real;
use crate::grid::discrete::{trailing_len, Spacing};
use crate::grid::table::{alphas_cumprod_f64, TableSettings};
use crate::pipeline::invert::{Inversion, InvertStep};
use crate::solver::Level;

/// A scheduler config read as diffusers' `DDIMInverseScheduler.from_config` reads it (see
/// [`load_inverse`]).
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedInverse {
    /// The training table (`num_train_timesteps`, the β's, `rescale_betas_zero_snr`).
    pub table: TableSettings,
    /// `timestep_spacing`: `Leading` or `Trailing`.
    pub spacing: Spacing,
    /// `steps_offset`.
    pub steps_offset: i64,
    /// `set_alpha_to_one`: the first step starts from `ᾱ = 1` (the clean level, `λ = +∞`)
    /// instead of the table's `ᾱ₀`. A config's deprecated `set_alpha_to_zero`, where set,
    /// gives this value (as diffusers reads it).
    pub set_alpha_to_one: bool,
    /// `prediction_type`: give it to [`Inversion::feed`].
    pub target: DynTarget,
    /// `clip_sample` / `clip_sample_range` (set on the inversion by
    /// [`LoadedInverse::inversion`]).
    pub threshold: Threshold,
    /// Fields present in the file that `DDIMInverseScheduler` does not read (diffusers'
    /// `from_config` ignores them as well).
    pub ignored: Vec<String>,
}

/// Reads a diffusers scheduler config (any class's: a model ships its own scheduler's, and
/// pipelines build the inverse with `DDIMInverseScheduler.from_config(scheduler.config)`)
/// for DDIM inversion: the fields `DDIMInverseScheduler` takes, with its defaults
/// (`set_alpha_to_one = true`, `clip_sample = true`, `timestep_spacing = "leading"`).
///
/// Errors: [`GdfError::Config`] naming the field and its value for invalid JSON, a value
/// `DDIMInverseScheduler` rejects (`timestep_spacing = "linspace"`, a `beta_schedule` or
/// `prediction_type` it lacks), or a field no diffusers scheduler has;
/// [`GdfError::OutOfRange`] for β's outside their range.
///
/// ```
/// use gdf::interop::diffusers::load_inverse;
///
/// // Stable Diffusion 1.5's scheduler config, as a pipeline turns it into the inverse.
/// let sd15 = r#"{"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012,
///     "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "set_alpha_to_one": false,
///     "skip_prk_steps": true, "steps_offset": 1, "clip_sample": false}"#;
/// let inv = load_inverse(sd15)?;
/// assert_eq!(inv.ignored, ["skip_prk_steps"]);
/// let steps = inv.steps(50)?;
/// // diffusers calls the model at the timestep each step goes to: 1, 21, …, 981.
/// assert_eq!(steps[0].timestep, Some(1));
/// assert_eq!(steps[49].timestep, Some(981));
/// // The first step starts from ᾱ₀ (set_alpha_to_one = false), each one after from
/// // where the one before went.
/// assert_eq!(steps[1].from, steps[0].to);
///
/// let latent = vec![0.5f32; 8];
/// let noise = inv.inversion(50, latent, 2)?.run(&inv.target, |x, step, pred| {
///     // the network, called at `step.timestep`; here a stand-in ε-prediction
///     for (p, x) in pred.iter_mut().zip(x) {
///         *p = 0.1 * x;
///     }
///     Ok(())
/// })?;
/// assert_eq!(noise.len(), 8);
/// # Ok::<(), gdf::GdfError>(())
/// ```
pub fn load_inverse(json: &str) -> Result<LoadedInverse> {
    let map = &parse_object(json)?;
    let mut f = Fields {
        map,
        used: Vec::new(),
    };
    let table = table_settings(&mut f)?;
    let spacing = f.parsed("timestep_spacing", "leading", str::parse::<Spacing>)?;
    check_spacing(spacing)?;
    let steps_offset = f.int("steps_offset", 0)?;
    let set_alpha_to_one = f.flag("set_alpha_to_one", true)?;
    // The deprecated `set_alpha_to_zero` (older DDIMInverseScheduler configs): where it is
    // set, DDIMInverseScheduler takes its value for `set_alpha_to_one`, despite the name.
    let set_alpha_to_one = match f.get("set_alpha_to_zero") {
        Some(v) => v
            .as_bool()
            .ok_or_else(|| cfg_err("set_alpha_to_zero", v, "true or false"))?,
        None => set_alpha_to_one,
    };
    let target = target_of(&mut f, &["epsilon", "sample", "v_prediction"])?;
    let clip = f.flag("clip_sample", true)?;
    let range = f.f64("clip_sample_range", 1.0)?;
    let threshold = if clip {
        Threshold::clip(range).map_err(named("clip_sample_range", range))?
    } else {
        Threshold::None
    };
    let ignored = f.finish("DDIMInverseScheduler")?;
    Ok(LoadedInverse {
        table,
        spacing,
        steps_offset,
        set_alpha_to_one,
        target,
        threshold,
        ignored,
    })
}

impl LoadedInverse {
    /// diffusers' timesteps for `n` steps (`set_timesteps(n)`), ascending: each is the model
    /// timestep of a step and the table index of the level it goes to.
    ///
    /// Errors: `timestep_spacing` set to `Linspace` (which `DDIMInverseScheduler` lacks); `n`
    /// of 0 or past `num_train_timesteps`; a timestep outside the table (a
    /// `steps_offset` that pushes one past it, where diffusers would index out of range or
    /// wrap); with trailing spacing, a count for which numpy's `arange` gives `n + 1` values
    /// (61, 103, 121, … of 1000: diffusers then starts at timestep −1, Python's last entry),
    /// named with the nearest counts that work.
    pub fn timesteps(&self, n: usize) -> Result<Vec<i64>> {
        // The public field may have been set after loading: refused as `load_inverse` does.
        check_spacing(self.spacing)?;
        let t_train = self.table.num_train_timesteps;
        if !(1..=t_train).contains(&n) {
            return Err(GdfError::OutOfRange {
                what: "num_inference_steps",
                value: n as f64,
                expected: "a whole number in [1, num_train_timesteps]",
            });
        }
        let mut ts = match self.spacing {
            Spacing::Trailing => {
                let len = trailing_len(t_train as f64, t_train, n);
                if len != n {
                    // The nearest counts that work (failing counts can be adjacent: 974…976
                    // of 1000).
                    let fits = |m: &usize| trailing_len(t_train as f64, t_train, *m) == *m;
                    let below = (1..n).rev().find(fits);
                    let above = (n + 1..=t_train).find(fits);
                    let nearest = match (below, above) {
                        (Some(b), Some(a)) => format!("{b} or {a}"),
                        (Some(m), None) | (None, Some(m)) => m.to_string(),
                        (None, None) => "none".into(),
                    };
                    return Err(GdfError::Invalid {
                        message: format!(
                            "`num_inference_steps` is {n}, expected a count for which \
                             diffusers' trailing spacing gives that many timesteps: numpy's \
                             arange gives {len} timesteps here, and DDIMInverseScheduler then \
                             starts at timestep −1; the nearest counts that work are {nearest}"
                        ),
                    });
                }
                ddim_timesteps(t_train, Spacing::Trailing, self.steps_offset, n)
            }
            _ => ddim_timesteps(t_train, Spacing::Leading, self.steps_offset, n),
        };
        // diffusers' list is DDIM's, ascending.
        ts.reverse();
        if let Some(&bad) = ts.iter().find(|&&t| t < 0 || t as usize >= t_train) {
            return Err(GdfError::Config {
                field: "steps_offset".into(),
                value: self.steps_offset.to_string(),
                expected: format!(
                    "timesteps within 0…{} for num_inference_steps = {n}, got {bad}",
                    t_train - 1
                ),
            });
        }
        Ok(ts)
    }

    /// The `n` steps diffusers' `step()` takes: step `i` treats the sample as at
    /// `ᾱ[t_i − T//n]` (or, before the table, `ᾱ = 1` with `set_alpha_to_one`, else `ᾱ₀`)
    /// and moves it to `ᾱ[t_i]`; its `timestep` is `t_i`, where the pipeline calls the model.
    /// Where the spacing is uneven (trailing with `T/n` not whole) a step's start is not the
    /// previous step's end, as in diffusers.
    ///
    /// Errors: as [`LoadedInverse::timesteps`].
    pub fn steps(&self, n: usize) -> Result<Vec<InvertStep>> {
        let ts = self.timesteps(n)?;
        let ac = alphas_cumprod_f64(&self.table)?;
        let ratio = (self.table.num_train_timesteps / n) as i64;
        let initial = if self.set_alpha_to_one { 1.0 } else { ac[0] };
        Ok(ts
            .iter()
            .map(|&t| {
                let from = t - ratio;
                InvertStep {
                    from: vp_level(if from >= 0 {
                        ac[from as usize]
                    } else {
                        initial
                    }),
                    to: vp_level(ac[t as usize]),
                    timestep: Some(t),
                }
            })
            .collect())
    }

    /// The inversion of `x` (clean latents, `batch` samples batch-major) in `n` steps, with
    /// the config's `clip_sample`. Feed it predictions through [`LoadedInverse::target`].
    ///
    /// Errors: as [`LoadedInverse::steps`] and [`Inversion::from_steps`].
    pub fn inversion<F: Real>(&self, n: usize, x: Vec<F>, batch: usize) -> Result<Inversion<F>> {
        let mut inv = Inversion::from_steps(self.steps(n)?, x, batch)?;
        inv.set_threshold(self.threshold)?;
        Ok(inv)
    }
}

/// DDIMInverseScheduler's spacings: leading or trailing.
fn check_spacing(spacing: Spacing) -> Result<()> {
    if spacing == Spacing::Linspace {
        return Err(cfg_err(
            "timestep_spacing",
            &Value::from("linspace"),
            "\"leading\" or \"trailing\" (DDIMInverseScheduler has no \"linspace\" spacing)",
        ));
    }
    Ok(())
}

/// The VP level of `ᾱ` as diffusers computes its factors: `a = √ᾱ`, `b = √(1 − ᾱ)`.
fn vp_level(abar: f64) -> Level {
    Level {
        a: abar.sqrt(),
        b: (1.0 - abar).sqrt(),
        lam: abar.ln() - (1.0 - abar).ln(),
    }
}
