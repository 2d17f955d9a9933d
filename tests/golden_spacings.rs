//! Golden parity of the sampling grids (`gdf::grid`) against `spacings.json`: k-diffusion's
//! `get_sigmas_*` in f64 (rtol 1e-6, atol 1e-9) and diffusers' float32 grids at the golden
//! README's tolerances (λ atol 1e-4, σ rtol 1e-4, integer timesteps exact except ±1 for the
//! truncated exponential/beta conversions of DPMSolver/UniPC, float timesteps within 2e-3).
//! Every case must run, and every key of a case must be understood: an unknown component,
//! config key, input or output is a failure. Reads `GDF_GOLDEN_DIR` when set.

mod common;

use common::*;
use gdf::grid::discrete::{
    DiscreteScheduler, DiscreteSettings, FinalSigmas, Interpolation, SigmaConversion, Spacing,
};
use gdf::grid::flow::{FlowMatchSettings, SeqLenShift, TimeShift};
use gdf::grid::kdiffusion::{Exponential, Karras, PolyExponential, VpGrid};
use gdf::grid::table::BetaSchedule;
use gdf::grid::{Grid, SigmaKind, Timesteps};
use serde_json::Value;

const SIGMA_TOL: Tol = Tol {
    rtol: 1e-4,
    atol: 0.0,
};
const LOGSNR_TOL: Tol = Tol {
    rtol: 0.0,
    atol: 1e-4,
};
const FLOAT_T_TOL: Tol = Tol {
    rtol: 0.0,
    atol: 2e-3,
};
const TRUNC_T_TOL: Tol = Tol {
    rtol: 0.0,
    atol: 1.0,
};

fn req(p: &mut Params, k: &str) -> R<Value> {
    p.take(k).ok_or_else(|| format!("missing param {k:?}"))
}

fn req_usize(p: &mut Params, k: &str) -> R<usize> {
    let v = req(p, k)?;
    let x = num(&v)?;
    if x >= 0.0 && x.fract() == 0.0 {
        Ok(x as usize)
    } else {
        Err(format!("{k} must be a non-negative integer, got {v}"))
    }
}

fn string(p: &mut Params, k: &str, default: &str) -> R<String> {
    match p.take(k) {
        None => Ok(default.to_string()),
        Some(Value::String(s)) => Ok(s),
        Some(v) => Err(format!("{k} must be a string, got {v}")),
    }
}

fn parse<T: core::str::FromStr<Err = gdf::GdfError>>(s: &str) -> R<T> {
    s.parse().map_err(|e: gdf::GdfError| e.to_string())
}

/// The σ conversion from the `use_*` flags (at most one may be set).
fn conversion(p: &mut Params, lu: bool) -> R<SigmaConversion> {
    let mut set = Vec::new();
    if p.b("use_karras_sigmas", false)? {
        set.push(SigmaConversion::Karras);
    }
    if p.b("use_exponential_sigmas", false)? {
        set.push(SigmaConversion::Exponential);
    }
    if p.b("use_beta_sigmas", false)? {
        set.push(SigmaConversion::Beta);
    }
    if lu && p.b("use_lu_lambdas", false)? {
        set.push(SigmaConversion::LuLambdas);
    }
    match set[..] {
        [] => Ok(SigmaConversion::None),
        [c] => Ok(c),
        _ => Err(format!("more than one sigma conversion: {set:?}")),
    }
}

/// Keys of solver settings that do not change the grid.
const SOLVER_ONLY: &[&str] = &[
    "algorithm_type",
    "dynamic_thresholding_ratio",
    "euler_at_final",
    "lower_order_final",
    "sample_max_value",
    "solver_order",
    "solver_type",
    "thresholding",
    "variance_type",
    "disable_corrector",
    "predict_x0",
    "solver_p",
];

fn discrete_settings(sched: DiscreteScheduler, cfg: &Value) -> R<DiscreteSettings> {
    let mut p = Params::new(cfg, "scheduler_config")?;
    let mut s = DiscreteSettings::new(sched);
    s.table.num_train_timesteps = p.u("num_train_timesteps", 1000)? as usize;
    s.table.beta_start = p.f("beta_start", 0.0001)?;
    s.table.beta_end = p.f("beta_end", 0.02)?;
    s.table.beta_schedule = parse(&string(&mut p, "beta_schedule", "linear")?)?;
    if let Some(v) = p.take("trained_betas") {
        s.table.beta_schedule = BetaSchedule::Trained(flat(&v)?);
    }
    s.table.rescale_betas_zero_snr = p.b("rescale_betas_zero_snr", false)?;
    s.spacing = parse::<Spacing>(&string(&mut p, "timestep_spacing", "linspace")?)?;
    s.steps_offset = p.u("steps_offset", 0)? as i64;
    s.final_sigmas = parse::<FinalSigmas>(&string(&mut p, "final_sigmas_type", "zero")?)?;
    let dpm = sched == DiscreteScheduler::DpmSolverMultistep;
    s.conversion = conversion(&mut p, dpm)?;
    let prediction = string(&mut p, "prediction_type", "epsilon")?;
    if !["epsilon", "v_prediction", "sample", "flow_prediction"].contains(&prediction.as_str()) {
        return Err(format!("unknown prediction_type {prediction:?}"));
    }
    match sched {
        DiscreteScheduler::Euler => {
            s.interpolation =
                parse::<Interpolation>(&string(&mut p, "interpolation_type", "linear")?)?;
            s.sigma_min = p.take("sigma_min").map(|v| num(&v)).transpose()?;
            s.sigma_max = p.take("sigma_max").map(|v| num(&v)).transpose()?;
            let tt = string(&mut p, "timestep_type", "discrete")?;
            s.continuous_timesteps = match tt.as_str() {
                "discrete" => false,
                "continuous" => prediction == "v_prediction",
                other => return Err(format!("unknown timestep_type {other:?}")),
            };
        }
        DiscreteScheduler::DpmSolverMultistep | DiscreteScheduler::UniPcMultistep => {
            if p.b("use_flow_sigmas", false)? {
                return Err("use_flow_sigmas = true is not supported".into());
            }
            // Only read with use_flow_sigmas.
            p.f("flow_shift", 1.0)?;
            p.b("use_dynamic_shifting", false)?;
            parse::<TimeShift>(&string(&mut p, "time_shift_type", "exponential")?)?;
            if dpm {
                s.lambda_min_clipped = p.f("lambda_min_clipped", f64::NEG_INFINITY)?;
            } else {
                s.sigma_min = p.take("sigma_min").map(|v| num(&v)).transpose()?;
                s.sigma_max = p.take("sigma_max").map(|v| num(&v)).transpose()?;
                if let Some(v) = p.take("shift_terminal") {
                    return Err(format!("shift_terminal {v} is only read with flow sigmas"));
                }
            }
            for k in SOLVER_ONLY {
                p.take(k);
            }
        }
        // spacings.json names only Euler, DPMSolver and UniPC classes (see `scheduler`).
        DiscreteScheduler::KDpm2 => return Err("KDPM2 has no spacings.json cases".into()),
    }
    p.done()?;
    Ok(s)
}

fn flow_settings(cfg: &Value) -> R<FlowMatchSettings> {
    let mut p = Params::new(cfg, "scheduler_config")?;
    let mut s = FlowMatchSettings {
        num_train_timesteps: p.u("num_train_timesteps", 1000)? as usize,
        shift: p.f("shift", 1.0)?,
        use_dynamic_shifting: p.b("use_dynamic_shifting", false)?,
        ..FlowMatchSettings::default()
    };
    s.seq_len_shift = SeqLenShift {
        base_shift: p.f("base_shift", 0.5)?,
        max_shift: p.f("max_shift", 1.15)?,
        base_seq_len: p.f("base_image_seq_len", 256.0)?,
        max_seq_len: p.f("max_image_seq_len", 4096.0)?,
    };
    s.time_shift = parse(&string(&mut p, "time_shift_type", "exponential")?)?;
    s.conversion = conversion(&mut p, false)?;
    s.shift_terminal = p.take("shift_terminal").map(|v| num(&v)).transpose()?;
    s.invert_sigmas = p.b("invert_sigmas", false)?;
    // A sampling option of step(); the grid does not depend on it.
    p.b("stochastic_sampling", false)?;
    p.done()?;
    Ok(s)
}

struct Expect {
    grid: Grid,
    /// DPMSolver/UniPC truncating conversions: integer timesteps may be off by ±1.
    truncated: bool,
    diffusers: bool,
}

fn kdiffusion(name: &str, params: &Value) -> R<Grid> {
    let mut p = Params::new(params, name)?;
    let n = req_usize(&mut p, "n")?;
    let g = match name {
        "get_sigmas_karras" => Karras {
            sigma_min: num(&req(&mut p, "sigma_min")?)?,
            sigma_max: num(&req(&mut p, "sigma_max")?)?,
            rho: p.f("rho", 7.0)?,
        }
        .grid(n),
        "get_sigmas_exponential" => Exponential {
            sigma_min: num(&req(&mut p, "sigma_min")?)?,
            sigma_max: num(&req(&mut p, "sigma_max")?)?,
        }
        .grid(n),
        "get_sigmas_polyexponential" => PolyExponential {
            sigma_min: num(&req(&mut p, "sigma_min")?)?,
            sigma_max: num(&req(&mut p, "sigma_max")?)?,
            rho: p.f("rho", 1.0)?,
        }
        .grid(n),
        "get_sigmas_vp" => VpGrid {
            beta_d: p.f("beta_d", 19.9)?,
            beta_min: p.f("beta_min", 0.1)?,
            eps_s: p.f("eps_s", 1e-3)?,
        }
        .grid(n),
        other => return Err(format!("unknown component {other}")),
    };
    p.done()?;
    g.map_err(|e| e.to_string())
}

fn diffusers(name: &str, params: &Value, input: &Value) -> R<Expect> {
    let mut p = Params::new(params, name)?;
    let cfg = req(&mut p, "scheduler_config")?;
    let call = req(&mut p, "set_timesteps")?;
    p.done()?;
    let mut c = Params::new(&call, "set_timesteps")?;
    let n = req_usize(&mut c, "num_inference_steps")?;
    let mut inp = Params::new(input, "input")?;
    let sched = match name {
        "EulerDiscreteScheduler" => Some(DiscreteScheduler::Euler),
        "DPMSolverMultistepScheduler" => Some(DiscreteScheduler::DpmSolverMultistep),
        "UniPCMultistepScheduler" => Some(DiscreteScheduler::UniPcMultistep),
        "FlowMatchEulerDiscreteScheduler" => None,
        other => return Err(format!("unknown component {other}")),
    };
    let out = match sched {
        Some(sched) => {
            let s = discrete_settings(sched, &cfg)?;
            c.done()?;
            inp.done()?;
            let truncated = sched != DiscreteScheduler::Euler
                && matches!(
                    s.conversion,
                    SigmaConversion::Exponential | SigmaConversion::Beta
                );
            Expect {
                grid: s.grid(n).map_err(|e| e.to_string())?,
                truncated,
                diffusers: true,
            }
        }
        None => {
            let s = flow_settings(&cfg)?;
            let sigmas = c.take("sigmas").map(|v| flat(&v)).transpose()?;
            let mut mu = c.take("mu").map(|v| num(&v)).transpose()?;
            if c.b("mu_from_image_seq_len", false)? {
                let len = num(&inp.take("image_seq_len").ok_or("missing image_seq_len")?)?;
                mu = Some(s.seq_len_shift.mu(len).map_err(|e| e.to_string())?);
            }
            c.done()?;
            inp.done()?;
            let grid = match sigmas {
                Some(sig) => {
                    if sig.len() != n {
                        return Err(format!("{} sigmas for {n} steps", sig.len()));
                    }
                    s.grid_from_sigmas(&sig, mu)
                }
                None => s.grid(n, mu),
            }
            .map_err(|e| e.to_string())?;
            Expect {
                grid,
                truncated: false,
                diffusers: true,
            }
        }
    };
    Ok(out)
}

fn run_case(case: &Value, check: &mut Check) -> R<()> {
    let obj = case.as_object().ok_or("case must be an object")?;
    const TOP: &[&str] = &[
        "id",
        "component",
        "source",
        "scaler",
        "note",
        "params",
        "input",
        "output",
    ];
    if let Some(k) = obj.keys().find(|k| !TOP.contains(&k.as_str())) {
        return Err(format!("unknown top-level key {k:?}"));
    }
    let name = get(case, "component")?
        .as_str()
        .ok_or("component must be a string")?;
    let params = get(case, "params")?;
    let input = case.get("input").unwrap_or(&Value::Null);
    let exp = if name.starts_with("get_sigmas_") {
        Params::new(input, "input")?.done()?;
        Expect {
            grid: kdiffusion(name, params)?,
            truncated: false,
            diffusers: false,
        }
    } else {
        diffusers(name, params, input)?
    };
    let g = &exp.grid;
    let scaler = get(case, "scaler")?
        .as_str()
        .ok_or("scaler must be a string")?;
    let kind = match scaler {
        "vp" => SigmaKind::Ve,
        "lerp" => SigmaKind::Flow,
        other => return Err(format!("unknown scaler {other:?}")),
    };
    if kind != g.sigma_kind {
        return Err(format!(
            "scaler {scaler} but the grid's sigmas are {:?}",
            g.sigma_kind
        ));
    }
    let out = get(case, "output")?
        .as_object()
        .ok_or("output must be an object")?;
    let (sig_tol, l_tol) = if exp.diffusers {
        (SIGMA_TOL, LOGSNR_TOL)
    } else {
        (F64_TOL, F64_TOL)
    };
    for (k, v) in out {
        match k.as_str() {
            "sigmas" => check.all("sigmas", &g.sigmas, &flat(v)?, sig_tol),
            "logsnr" => check.all("logsnr", &g.logsnr, &flat(v)?, l_tol),
            "timesteps" => {
                let want = flat(v)?;
                match &g.timesteps {
                    None => return Err("golden has timesteps, the grid has none".into()),
                    Some(Timesteps::Int(t)) => {
                        let got: Vec<f64> = t.iter().map(|&x| x as f64).collect();
                        let tol = if exp.truncated { TRUNC_T_TOL } else { EXACT };
                        check.all("timesteps", &got, &want, tol);
                    }
                    Some(Timesteps::Float(t)) => check.all("timesteps", t, &want, FLOAT_T_TOL),
                }
            }
            "init_noise_sigma" => {
                let got = g.init_noise_sigma.ok_or("no init_noise_sigma")?;
                check.all("init_noise_sigma", &[got], &[num(v)?], SIGMA_TOL);
            }
            "mu" => {
                let got = g.mu.ok_or("no mu")?;
                check.all("mu", &[got], &[num(v)?], F64_TOL);
            }
            other => return Err(format!("unsupported output {other:?}")),
        }
    }
    Ok(())
}

#[test]
fn spacings_golden() {
    let cases = load("spacings.json");
    assert!(!cases.is_empty(), "spacings.json has no cases");
    finish(run_file("spacings.json", "grid", run_case));
}

/// How close the float32 emulation of diffusers' tables comes: the share of diffusers σ's
/// that are bit-identical (printed), and the largest λ deviation, which must stay below 1e-5
/// (the parity test above holds the README's tolerances).
#[test]
fn spacings_float32_emulation_is_exact_for_vp_tables() {
    let mut exact = 0usize;
    let mut total = 0usize;
    let mut max_dl = 0.0f64;
    for case in load("spacings.json") {
        let name = case["component"].as_str().unwrap_or("");
        if name.starts_with("get_sigmas_") {
            continue;
        }
        let exp = diffusers(
            name,
            &case["params"],
            case.get("input").unwrap_or(&Value::Null),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", case["id"]));
        let want_s = flat(&case["output"]["sigmas"]).unwrap();
        let want_l = flat(&case["output"]["logsnr"]).unwrap();
        for (i, (g, w)) in exp.grid.sigmas.iter().zip(&want_s).enumerate() {
            total += 1;
            if g == w {
                exact += 1;
            } else {
                println!("{} sigmas[{i}]: {g:e} vs {w:e}", case["id"]);
            }
        }
        if let (Some(Timesteps::Int(t)), Ok(w)) =
            (&exp.grid.timesteps, flat(&case["output"]["timesteps"]))
        {
            for (i, (g, w)) in t.iter().zip(&w).enumerate() {
                if *g as f64 != *w {
                    println!("{} timesteps[{i}]: {g} vs {w}", case["id"]);
                }
            }
        }
        for (g, w) in exp.grid.logsnr.iter().zip(&want_l) {
            if g.is_finite() {
                max_dl = max_dl.max((g - w).abs());
            }
        }
    }
    println!("diffusers sigmas bit-identical: {exact}/{total}; max |Δλ| = {max_dl:e}");
    assert!(total > 0);
    // A float64 table would be up to 2.9e-5 off (golden README); the float32 emulation is
    // far closer.
    assert!(max_dl < 1e-5, "max |Δλ| = {max_dl:e}");
}

/// The runner refuses what it does not understand: an unknown config key, set_timesteps
/// key, component, output or top-level key fails the case instead of being skipped.
#[test]
fn unknown_keys_fail_the_case() {
    let cases = load("spacings.json");
    let euler = cases
        .iter()
        .find(|c| c["component"] == "EulerDiscreteScheduler")
        .expect("an Euler case")
        .clone();
    let karras = cases
        .iter()
        .find(|c| c["component"] == "get_sigmas_karras")
        .expect("a Karras case")
        .clone();
    let fails = |c: &Value| {
        let mut check = Check::default();
        run_case(c, &mut check).is_err()
    };
    assert!(!fails(&euler));
    let mut c = euler.clone();
    c["params"]["scheduler_config"]["use_magic_sigmas"] = Value::Bool(false);
    assert!(fails(&c));
    let mut c = euler.clone();
    c["params"]["set_timesteps"]["device"] = Value::String("cpu".into());
    assert!(fails(&c));
    let mut c = euler.clone();
    c["component"] = Value::String("LMSDiscreteScheduler".into());
    assert!(fails(&c));
    let mut c = euler.clone();
    c["output"]["alphas"] = Value::Array(vec![]);
    assert!(fails(&c));
    let mut c = euler.clone();
    c["extra"] = Value::Null;
    assert!(fails(&c));
    let mut c = euler;
    c["params"]["scheduler_config"]["timestep_spacing"] = Value::String("middle".into());
    assert!(fails(&c));
    let mut c = karras;
    c["params"]["sigma_max_squared"] = Value::from(1.0);
    assert!(fails(&c));
}
