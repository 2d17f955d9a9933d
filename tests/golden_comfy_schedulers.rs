//! ComfyUI's schedulers at parity: every case of `tests/comfyui/schedulers.json` (made by
//! `tests/comfyui/gen_schedulers.py` from ComfyUI's own functions; `GDF_COMFYUI_GOLDEN_DIR`
//! when set) through `gdf::interop::comfy::calculate_sigmas`, and its `BasicScheduler`,
//! `AlignYourSteps` and `SDTurbo` scheduler nodes through `basic_scheduler`,
//! `align_your_steps` and `sd_turbo`. The step count and every
//! integer timestep must be exact (a wrong table index or stride shows there); σ's and
//! float timesteps within `ULPS` float32 units in the last place (torch's vectorised `exp`,
//! `tan` and `pow` round differently from Rust's in the last bit; the committed set differs
//! by one at most); an EDM timestep `¼·ln σ` near 0 within `¼·ULPS·ε` absolutely, what those
//! ulps of σ move it by.

use gdf::grid::{SigmaKind, Timesteps};
use gdf::interop::comfy::{
    align_your_steps, basic_scheduler, calculate_sigmas, sd_turbo, AysModel, ModelSampling,
    Scheduler,
};
use serde_json::Value;

/// float32 units in the last place allowed between ComfyUI's σ's and gdf's.
const ULPS: u32 = 2;

type R<T> = Result<T, String>;

fn file() -> Value {
    let dir = match std::env::var_os("GDF_COMFYUI_GOLDEN_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/comfyui"),
    };
    let path = dir.join("schedulers.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn f(v: &Value, k: &str) -> R<f64> {
    v.get(k)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("missing number {k:?}"))
}

fn u(v: &Value, k: &str) -> R<usize> {
    v.get(k)
        .and_then(Value::as_u64)
        .map(|x| x as usize)
        .ok_or_else(|| format!("missing count {k:?}"))
}

fn list(v: &Value, k: &str) -> R<Vec<f32>> {
    v.get(k)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("missing list {k:?}"))?
        .iter()
        .map(|x| {
            x.as_f64()
                .map(|x| x as f32)
                .ok_or(format!("{k}: not a number"))
        })
        .collect()
}

fn model_sampling(v: &Value) -> R<ModelSampling> {
    Ok(match v.get("kind").and_then(Value::as_str) {
        Some("discrete") => ModelSampling::Discrete {
            linear_start: f(v, "linear_start")?,
            linear_end: f(v, "linear_end")?,
            timesteps: u(v, "timesteps")?,
            zsnr: v
                .get("zsnr")
                .and_then(Value::as_bool)
                .ok_or("missing zsnr")?,
        },
        Some("flow") => ModelSampling::Flow {
            shift: f(v, "shift")?,
            multiplier: f(v, "multiplier")?,
        },
        Some("flux") => ModelSampling::Flux {
            shift: f(v, "shift")?,
        },
        Some("continuous_edm") => ModelSampling::ContinuousEdm {
            sigma_min: f(v, "sigma_min")?,
            sigma_max: f(v, "sigma_max")?,
        },
        other => return Err(format!("unknown model sampling {other:?}")),
    })
}

/// The scheduler: its name with ComfyUI's defaults, then the node options the case sets.
fn scheduler(v: &Value) -> R<Scheduler> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or("missing name")?;
    let mut s: Scheduler = name.parse().map_err(|e| format!("{e}"))?;
    let keys: Vec<&String> = v.as_object().ok_or("scheduler")?.keys().collect();
    match &mut s {
        Scheduler::Karras { rho } => {
            if v.get("rho").is_some() {
                *rho = f(v, "rho")?;
            }
        }
        Scheduler::Beta { alpha, beta } => {
            if v.get("alpha").is_some() {
                *alpha = f(v, "alpha")?;
                *beta = f(v, "beta")?;
            }
        }
        Scheduler::LinearQuadratic {
            threshold_noise,
            linear_steps,
        } => {
            if v.get("threshold_noise").is_some() {
                *threshold_noise = f(v, "threshold_noise")?;
                *linear_steps = Some(u(v, "linear_steps")?);
            }
        }
        _ => {
            if keys.len() > 1 {
                return Err(format!("options {keys:?} for {name}"));
            }
        }
    }
    Ok(s)
}

/// Distance in float32 units in the last place (both finite, same sign, or both 0).
fn ulps(a: f32, b: f32) -> u32 {
    if a == b {
        return 0;
    }
    if a.is_sign_negative() != b.is_sign_negative() || !a.is_finite() || !b.is_finite() {
        return u32::MAX;
    }
    a.to_bits().abs_diff(b.to_bits())
}

fn close(what: &str, got: &[f32], want: &[f32], max: &mut u32) -> R<()> {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} values, ComfyUI has {}: {got:?} vs {want:?}",
            got.len(),
            want.len()
        ));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = ulps(*g, *w);
        if d > ULPS {
            return Err(format!("{what}[{i}]: {g} vs ComfyUI's {w} ({d} ulps)"));
        }
        *max = (*max).max(d);
    }
    Ok(())
}

/// A case of one of ComfyUI's scheduler nodes (`AlignYourStepsScheduler`, `SDTurboScheduler`).
fn run_node(case: &Value, node: &str, max: &mut u32) -> R<()> {
    let steps = u(case, "steps")?;
    let denoise = f(case, "denoise")?;
    let g = match node {
        "AlignYourStepsScheduler" => {
            let m: AysModel = case
                .get("model_type")
                .and_then(Value::as_str)
                .ok_or("no model_type")?
                .parse()
                .map_err(|e| format!("{e}"))?;
            align_your_steps(m, steps, denoise)
        }
        "SDTurboScheduler" => {
            let ms = model_sampling(case.get("model_sampling").ok_or("no model_sampling")?)?;
            let g = sd_turbo(&ms, steps, denoise).map_err(|e| format!("{e}"))?;
            let want: Vec<i64> = list(case, "timesteps")?.iter().map(|&t| t as i64).collect();
            match &g.timesteps {
                Some(Timesteps::Int(ts)) if *ts == want => {}
                other => return Err(format!("timesteps {other:?}, ComfyUI's {want:?}")),
            }
            Ok(g)
        }
        "BasicScheduler" => {
            let ms = model_sampling(case.get("model_sampling").ok_or("no model_sampling")?)?;
            let sch = scheduler(case.get("scheduler").ok_or("no scheduler")?)?;
            basic_scheduler(&ms, &sch, steps, denoise)
        }
        other => return Err(format!("unknown node {other:?}")),
    }
    .map_err(|e| format!("{e}"))?;
    let got: Vec<f32> = g.sigmas.iter().map(|&s| s as f32).collect();
    close("sigmas", &got, &list(case, "sigmas")?, max)
}

fn run(case: &Value, max: &mut u32) -> R<()> {
    if let Some(node) = case.get("node").and_then(Value::as_str) {
        return run_node(case, node, max);
    }
    let ms = model_sampling(case.get("model_sampling").ok_or("no model_sampling")?)?;
    let sch = scheduler(case.get("scheduler").ok_or("no scheduler")?)?;
    let steps = u(case, "steps")?;
    let table = ms.sigmas().map_err(|e| format!("table: {e}"))?;
    for (k, v) in case
        .get("table")
        .and_then(Value::as_object)
        .ok_or("no table")?
    {
        let i: usize = k.parse().map_err(|_| format!("table index {k:?}"))?;
        let want = v.as_f64().ok_or("table value")? as f32;
        close(&format!("table[{i}]"), &[table[i]], &[want], max)?;
    }
    let g = calculate_sigmas(&ms, &sch, steps).map_err(|e| format!("{e}"))?;
    let got: Vec<f32> = g.sigmas.iter().map(|&s| s as f32).collect();
    if got.iter().zip(&g.sigmas).any(|(a, b)| *a as f64 != *b) {
        return Err("the grid's σ's are not float32 values".into());
    }
    close("sigmas", &got, &list(case, "sigmas")?, max)?;
    let want_ts = list(case, "timesteps")?;
    match (&ms, g.timesteps.as_ref()) {
        (ModelSampling::Discrete { .. }, Some(Timesteps::Int(ts))) => {
            let w: Vec<i64> = want_ts.iter().map(|&t| t as i64).collect();
            if *ts != w {
                return Err(format!("timesteps {ts:?}, ComfyUI's {w:?}"));
            }
        }
        (ModelSampling::Discrete { .. }, other) => {
            return Err(format!("discrete timesteps are integers, got {other:?}"))
        }
        (_, Some(Timesteps::Float(ts))) => {
            // EDM's timestep ¼·ln σ near σ = 1 is near 0: a σ two ulps off moves it by up to
            // ¼·2·ε absolutely, many ulps of a small number.
            let near = 0.25 * ULPS as f32 * f32::EPSILON;
            let t: Vec<f32> = ts.iter().map(|&t| t as f32).collect();
            let w: Vec<f32> = t
                .iter()
                .zip(&want_ts)
                .map(|(&g, &w)| if (g - w).abs() <= near { g } else { w })
                .collect();
            close("timesteps", &t, &w, max)?;
        }
        (_, other) => return Err(format!("float timesteps expected, got {other:?}")),
    }
    // The levels are the σ's λ, of the kind the model sampling stores.
    let flow = matches!(ms, ModelSampling::Flow { .. } | ModelSampling::Flux { .. });
    let kind = if flow { SigmaKind::Flow } else { SigmaKind::Ve };
    if g.sigma_kind != kind {
        return Err(format!("sigma kind {:?}, expected {kind:?}", g.sigma_kind));
    }
    for (l, s) in g.logsnr.iter().zip(&g.sigmas) {
        let want = if flow {
            2.0 * ((1.0 - s).ln() - s.ln())
        } else {
            -2.0 * s.ln()
        };
        if !(l == &want || (l - want).abs() <= 1e-12 * want.abs()) {
            return Err(format!("λ {l} for σ {s}, expected {want}"));
        }
    }
    Ok(())
}

/// Every case of the file, every scheduler name of ComfyUI at least once.
#[test]
fn golden_comfy_schedulers() {
    let file = file();
    let cases = file
        .get("cases")
        .and_then(Value::as_array)
        .expect("a `cases` list");
    assert!(!cases.is_empty());
    let (mut failures, mut max) = (Vec::new(), 0u32);
    let mut seen = std::collections::BTreeSet::new();
    for c in cases {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
        if let Some(s) = c.pointer("/scheduler/name").and_then(Value::as_str) {
            seen.insert(s.to_string());
        }
        if let Err(e) = run(c, &mut max) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    for n in gdf::interop::comfy::SCHEDULER_NAMES {
        assert!(seen.contains(n), "no case for {n}");
    }
    for node in [
        "BasicScheduler",
        "AlignYourStepsScheduler",
        "SDTurboScheduler",
    ] {
        assert!(
            cases
                .iter()
                .any(|c| c.get("node").and_then(Value::as_str) == Some(node)),
            "no case for {node}"
        );
    }
    eprintln!("{} cases, largest difference {max} ulps", cases.len());
}
