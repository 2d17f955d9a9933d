//! Reading a config's fields: each one read is marked; what is left is ignored (a field of
//! another diffusers scheduler) or an error.

use serde_json::{Map, Value};

use super::Threshold;
use crate::dynamic::DynTarget;
use crate::error::{GdfError, Result};
use crate::grid::discrete::SigmaConversion;
use crate::grid::table::{BetaSchedule, DiscreteTable, TableSettings};
use crate::solver::{DpmAlgorithm, DpmSolverSettings, FinalSigmas, SolverType};

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
    "corrector_order",
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
    "noise_sampler_seed",
    "num_train_timesteps",
    "original_inference_steps",
    "predict_x0",
    "prediction_type",
    "predictor_order",
    "rescale_betas_zero_snr",
    "rho",
    "s",
    "sample_max_value",
    "scale_factors",
    "scaler",
    "set_alpha_to_one",
    "set_alpha_to_zero",
    "shift",
    "shift_terminal",
    "sigma_data",
    "sigma_max",
    "sigma_min",
    "sigma_schedule",
    "skip_prk_steps",
    "snr_shift_scale",
    "solver_order",
    "solver_p",
    "solver_type",
    "steps_offset",
    "tau_func",
    "stochastic_sampling",
    "thresholding",
    "time_shift_type",
    "timestep_scaling",
    "timestep_spacing",
    "timestep_type",
    "trained_betas",
    "upscale_mode",
    "use_beta_sigmas",
    "use_dynamic_shifting",
    "use_exponential_sigmas",
    "use_flow_sigmas",
    "use_karras_sigmas",
    "use_lu_lambdas",
    "variance_type",
];

pub(super) fn cfg_err(field: &str, value: &Value, expected: impl Into<String>) -> GdfError {
    let value = match value.as_str().and_then(|s| s.strip_prefix(PY_TOKEN)) {
        Some(token) => token.to_string(),
        None => value.to_string(),
    };
    GdfError::Config {
        field: field.into(),
        value,
        expected: expected.into(),
    }
}

/// The prefix of the strings [`python_tokens`] puts where Python's `json` wrote a bare
/// `NaN`, `Infinity` or `-Infinity` (a control character no config string holds).
const PY_TOKEN: &str = "\u{1}py:";

/// Python's `json` writes `float("inf")` as a bare `Infinity` (diffusers saves
/// `DPMSolverMultistepScheduler`'s default `"lambda_min_clipped": -Infinity` so), which
/// strict JSON does not have. Outside strings, `NaN`, `Infinity` and `-Infinity` become
/// marked strings that [`number`] reads back as those values.
pub(super) fn python_tokens(json: &str) -> std::borrow::Cow<'_, str> {
    const TOKENS: [&str; 3] = ["-Infinity", "Infinity", "NaN"];
    if !TOKENS.iter().any(|t| json.contains(t)) {
        return json.into();
    }
    let mut out = String::with_capacity(json.len() + 32);
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = json;
    while let Some(c) = rest.chars().next() {
        if !in_string {
            if let Some(t) = TOKENS.iter().find(|t| rest.starts_with(**t)) {
                out.push_str("\"\\u0001py:");
                out.push_str(t);
                out.push('"');
                rest = &rest[t.len()..];
                continue;
            }
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.into()
}

/// A JSON number, or a Python token marked by [`python_tokens`].
pub(super) fn number(v: &Value) -> Option<f64> {
    match v.as_str().and_then(|s| s.strip_prefix(PY_TOKEN)) {
        Some("-Infinity") => Some(f64::NEG_INFINITY),
        Some("Infinity") => Some(f64::INFINITY),
        Some("NaN") => Some(f64::NAN),
        Some(_) => None,
        None => v.as_f64(),
    }
}

pub(super) struct Fields<'a> {
    pub(super) map: &'a Map<String, Value>,
    pub(super) used: Vec<String>,
}

impl<'a> Fields<'a> {
    /// The value of `k` (`null` counts as absent), marked as read.
    pub(super) fn get(&mut self, k: &str) -> Option<&'a Value> {
        self.used.push(k.into());
        self.map.get(k).filter(|v| !v.is_null())
    }
    /// The number at `k` (absent: `None`) if `ok` accepts it, else an error expecting
    /// `expected`.
    fn number_where(
        &mut self,
        k: &str,
        ok: impl Fn(f64) -> bool,
        expected: &str,
    ) -> Result<Option<f64>> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => number(v)
                .filter(|&x| ok(x))
                .map(Some)
                .ok_or_else(|| cfg_err(k, v, expected)),
        }
    }
    pub(super) fn f64(&mut self, k: &str, d: f64) -> Result<f64> {
        Ok(self
            .number_where(k, f64::is_finite, "a finite number")?
            .unwrap_or(d))
    }
    /// A finite number or `-Infinity` (diffusers' "no clip" default of `lambda_min_clipped`).
    pub(super) fn f64_or_neg_inf(&mut self, k: &str, d: f64) -> Result<f64> {
        let ok = |x: f64| x.is_finite() || x == f64::NEG_INFINITY;
        Ok(self
            .number_where(k, ok, "a finite number or -Infinity")?
            .unwrap_or(d))
    }
    pub(super) fn opt_f64(&mut self, k: &str) -> Result<Option<f64>> {
        self.number_where(k, f64::is_finite, "a finite number or null")
    }
    pub(super) fn count(&mut self, k: &str, d: u64) -> Result<u64> {
        match self.get(k) {
            None => Ok(d),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| cfg_err(k, v, "a non-negative whole number")),
        }
    }
    pub(super) fn int(&mut self, k: &str, d: i64) -> Result<i64> {
        match self.get(k) {
            None => Ok(d),
            Some(v) => v.as_i64().ok_or_else(|| cfg_err(k, v, "a whole number")),
        }
    }
    pub(super) fn flag(&mut self, k: &str, d: bool) -> Result<bool> {
        match self.get(k) {
            None => Ok(d),
            Some(v) => v.as_bool().ok_or_else(|| cfg_err(k, v, "true or false")),
        }
    }
    pub(super) fn text(&mut self, k: &str, d: &str) -> Result<String> {
        match self.get(k) {
            None => Ok(d.into()),
            Some(v) => v
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| cfg_err(k, v, "a string")),
        }
    }
    /// A string option parsed by `parse` (whose error is re-labelled with the field).
    pub(super) fn parsed<T>(
        &mut self,
        k: &str,
        d: &str,
        parse: impl Fn(&str) -> Result<T>,
    ) -> Result<T> {
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
    pub(super) fn must_be(&mut self, k: &str, want: Value, why: &str) -> Result<()> {
        match self.get(k) {
            None => Ok(()),
            // a JSON 1 is diffusers' 1.0 (Python compares them equal)
            Some(v) if *v == want || (v.is_number() && v.as_f64() == want.as_f64()) => Ok(()),
            Some(v) => Err(cfg_err(k, v, format!("{want} ({why})"))),
        }
    }
    /// The fields left unread: known ones are returned (ignored), unknown ones are errors.
    pub(super) fn finish(self, class: &str) -> Result<Vec<String>> {
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

/// The training table of a class with diffusers' usual defaults (DDPM's linear β from
/// 0.0001 to 0.02) and a `rescale_betas_zero_snr` field.
pub(super) fn table_settings(f: &mut Fields) -> Result<TableSettings> {
    table_settings_as(f, (0.0001, 0.02, "linear"), true)
}

/// The training table with the class's own defaults `(beta_start, beta_end,
/// beta_schedule)`; a class without `rescale_betas_zero_snr` (`zero_snr = false`) leaves
/// that field unread (ignored, as diffusers' `from_config` ignores it).
pub(super) fn table_settings_as(
    f: &mut Fields,
    (start, end, schedule): (f64, f64, &str),
    zero_snr: bool,
) -> Result<TableSettings> {
    let num_train_timesteps = f.count("num_train_timesteps", 1000)? as usize;
    let beta_start = f.f64("beta_start", start)?;
    let beta_end = f.f64("beta_end", end)?;
    let sched = f.parsed("beta_schedule", schedule, str::parse::<BetaSchedule>)?;
    let beta_schedule = match f.get("trained_betas") {
        None => sched,
        Some(v) => {
            let b = v
                .as_array()
                .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
                .ok_or_else(|| cfg_err("trained_betas", v, "a list of numbers or null"))?;
            // diffusers indexes its tables by num_train_timesteps (DDIM fails past the
            // betas' end, Euler clamps): the two must agree.
            if b.len() != num_train_timesteps {
                return Err(cfg_err(
                    "trained_betas",
                    &Value::from(format!("[{} values]", b.len())),
                    format!("num_train_timesteps = {num_train_timesteps} values"),
                ));
            }
            BetaSchedule::Trained(b)
        }
    };
    let rescale_betas_zero_snr = zero_snr && f.flag("rescale_betas_zero_snr", false)?;
    let s = TableSettings {
        num_train_timesteps,
        beta_start,
        beta_end,
        beta_schedule,
        rescale_betas_zero_snr,
        snr_shift: None,
    };
    DiscreteTable::new(&s)?; // check the values now
    Ok(s)
}

pub(super) fn target_of(f: &mut Fields, allowed: &[&str]) -> Result<DynTarget> {
    target_or(f, allowed, "epsilon")
}

/// [`target_of`] with the class's own default `prediction_type`.
pub(super) fn target_or(f: &mut Fields, allowed: &[&str], default: &str) -> Result<DynTarget> {
    let p = f.text("prediction_type", default)?;
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

/// A stage's own check, reported against the config's field `field` holding `v` (the
/// stage's expected range, not its whole message).
pub(super) fn named(field: &'static str, v: f64) -> impl Fn(GdfError) -> GdfError {
    move |e| {
        let expected = match e {
            GdfError::OutOfRange { expected, .. } => expected.to_string(),
            other => other.to_string(),
        };
        cfg_err(field, &Value::from(v), expected)
    }
}

pub(super) fn threshold_of(f: &mut Fields, clip_default: Option<bool>) -> Result<Threshold> {
    let thresholding = f.flag("thresholding", false)?;
    let ratio = f.f64("dynamic_thresholding_ratio", 0.995)?;
    let max = f.f64("sample_max_value", 1.0)?;
    let (clip, range) = match clip_default {
        Some(d) => (f.flag("clip_sample", d)?, f.f64("clip_sample_range", 1.0)?),
        None => (false, 1.0),
    };
    Ok(if thresholding {
        Threshold::dynamic(ratio, 1.0).map_err(named("dynamic_thresholding_ratio", ratio))?;
        Threshold::dynamic(0.5, max).map_err(named("sample_max_value", max))?;
        Threshold::Dynamic {
            ratio,
            max_value: max,
        }
    } else {
        clip_stage(clip, range)?
    })
}

/// `clip_sample` (default `d`) and `clip_sample_range` alone: the x0 stage of a class without
/// dynamic thresholding (`HeunDiscreteScheduler`).
pub(super) fn clip_of(f: &mut Fields, d: bool) -> Result<Threshold> {
    let (clip, range) = (f.flag("clip_sample", d)?, f.f64("clip_sample_range", 1.0)?);
    clip_stage(clip, range)
}

fn clip_stage(clip: bool, range: f64) -> Result<Threshold> {
    Ok(if clip {
        Threshold::clip(range).map_err(named("clip_sample_range", range))?
    } else {
        Threshold::None
    })
}

/// DPM-Solver++'s fields; `multistep`: `DPMSolverMultistepScheduler`'s (with
/// `euler_at_final`, `lower_order_final` on by default), else `DPMSolverSinglestepScheduler`'s.
pub(super) fn dpm_settings(f: &mut Fields, multistep: bool) -> Result<DpmSolverSettings> {
    dpm_settings_as(f, multistep, true)
}

/// [`dpm_settings`], reading `final_sigmas_type` only where the class has it (else `zero`).
pub(super) fn dpm_settings_as(
    f: &mut Fields,
    multistep: bool,
    final_field: bool,
) -> Result<DpmSolverSettings> {
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
    let lower_order_final = f.flag("lower_order_final", multistep)?;
    let euler_at_final = multistep && f.flag("euler_at_final", false)?;
    let final_text = if final_field {
        f.text("final_sigmas_type", "zero")?
    } else {
        "zero".into()
    };
    let final_sigmas = match final_text.as_str() {
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

pub(super) fn conversion(f: &mut Fields, lu: bool) -> Result<SigmaConversion> {
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
