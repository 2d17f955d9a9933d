//! Golden parity of the guiders against `guidance.json` (diffusers 0.42.1's guiders driven step
//! by step; see the golden README, "guidance.json"). Every case is consumed: an unknown
//! component, an unknown parameter or an unknown key fails the test.

mod common;

use common::*;
use gdf::guidance::*;
use gdf::Real;
use serde_json::Value;

fn gate(p: &mut Params) -> R<Gate> {
    Ok(Gate {
        disabled: !p.b("enabled", true)?,
        window: Window {
            start: p.f("start", 0.0)?,
            stop: p.f("stop", 1.0)?,
        },
        interval: None,
    })
}

fn norm_dims(v: Option<Value>) -> R<NormDims> {
    let int = |v: &Value| -> R<isize> {
        v.as_i64()
            .map(|x| x as isize)
            .ok_or_else(|| format!("norm_dim entries must be integers, got {v}"))
    };
    match v {
        None => Ok(NormDims::AllButBatch),
        Some(Value::Array(xs)) => Ok(NormDims::Dims(xs.iter().map(int).collect::<R<_>>()?)),
        Some(x) => Ok(NormDims::Dims(vec![int(&x)?])),
    }
}

/// The guider a case names, with every parameter consumed.
fn guider(case: &Value) -> R<DynGuidance> {
    let name = get(case, "component")?
        .as_str()
        .ok_or("component must be a string")?;
    let mut p = Params::new(get(case, "params")?, name)?;
    let g = match name {
        "ClassifierFreeGuidance" => DynGuidance::Cfg(ClassifierFree {
            scale: p.f("guidance_scale", 7.5)?,
            rescale: p.f("guidance_rescale", 0.0)?,
            original: p.b("use_original_formulation", false)?,
            gate: gate(&mut p)?,
            branch: Branch::Unconditional,
        }),
        "AdaptiveProjectedGuidance" => {
            let mut g = Apg::new(p.f("guidance_scale", 7.5)?).map_err(|e| e.to_string())?;
            g.eta = p.f("eta", 1.0)?;
            g.norm_threshold = p.f("adaptive_projected_guidance_rescale", 15.0)?;
            g.momentum = p
                .take("adaptive_projected_guidance_momentum")
                .map(|v| num(&v))
                .transpose()?;
            g.norm_dims = norm_dims(p.take("adaptive_projected_guidance_norm_dim"))?;
            g.rescale = p.f("guidance_rescale", 0.0)?;
            g.original = p.b("use_original_formulation", false)?;
            g.gate = gate(&mut p)?;
            DynGuidance::Apg(g)
        }
        "ClassifierFreeZeroStarGuidance" => DynGuidance::ZeroStar(CfgZeroStar {
            scale: p.f("guidance_scale", 7.5)?,
            rescale: p.f("guidance_rescale", 0.0)?,
            original: p.b("use_original_formulation", false)?,
            zero_init_steps: p.u("zero_init_steps", 1)? as usize,
            gate: gate(&mut p)?,
        }),
        "TangentialClassifierFreeGuidance" => DynGuidance::Tangential(Tangential {
            scale: p.f("guidance_scale", 7.5)?,
            rescale: p.f("guidance_rescale", 0.0)?,
            original: p.b("use_original_formulation", false)?,
            gate: gate(&mut p)?,
        }),
        other => return Err(format!("unknown guidance component {other:?}")),
    };
    p.done()?;
    g.validate().map_err(|e| e.to_string())?;
    Ok(g)
}

fn keys_exactly(v: &Value, what: &str, allowed: &[&str]) -> R<()> {
    let m = v
        .as_object()
        .ok_or_else(|| format!("{what} must be an object"))?;
    let extra: Vec<_> = m
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    if extra.is_empty() {
        Ok(())
    } else {
        Err(format!("{what}: unknown keys {extra:?}"))
    }
}

fn ints(v: &Value) -> R<Vec<usize>> {
    flat(v)?
        .into_iter()
        .map(|x| {
            if x >= 0.0 && x.fract() == 0.0 {
                Ok(x as usize)
            } else {
                Err(format!("expected a non-negative integer, got {x}"))
            }
        })
        .collect()
}

/// Runs one case in precision `F`; returns `(pred, num_conditions, zero_init_nan_steps)`.
fn run_case<F: Real>(case: &Value) -> R<(Vec<f64>, Vec<f64>, Vec<usize>)> {
    keys_exactly(
        case,
        "case",
        &[
            "id",
            "component",
            "source",
            "note",
            "params",
            "input",
            "output",
        ],
    )?;
    let mut g = guider(case)?;
    let input = get(case, "input")?;
    keys_exactly(
        input,
        "input",
        &[
            "num_inference_steps",
            "step",
            "timestep",
            "pred_cond",
            "pred_uncond",
        ],
    )?;
    // `timestep` is informational (no guider here uses it), but it must be well-formed.
    let steps = ints(get(input, "step")?)?;
    let timesteps = flat(get(input, "timestep")?)?;
    let n_steps = num(get(input, "num_inference_steps")?)? as usize;
    let (shape, cond) = arr(get(input, "pred_cond")?)?;
    let (ushape, uncond) = arr(get(input, "pred_uncond")?)?;
    if shape != ushape || shape.len() < 2 || shape[0] != steps.len() {
        return Err(format!("bad shapes {shape:?} / {ushape:?}"));
    }
    if timesteps.len() != steps.len() {
        return Err("timestep and step differ in length".into());
    }
    let layout = Layout::new(shape[1], &shape[2..]).map_err(|e| e.to_string())?;
    let per_step = layout.len();
    let to_f = |xs: &[f64]| xs.iter().map(|&x| F::of(x)).collect::<Vec<F>>();
    let (mut pred, mut nc, mut zero_nan) = (Vec::new(), Vec::new(), Vec::new());
    for (k, &step) in steps.iter().enumerate() {
        let ctx = StepCtx::new(step, n_steps).map_err(|e| e.to_string())?;
        let c = to_f(&cond[k * per_step..(k + 1) * per_step]);
        let u = to_f(&uncond[k * per_step..(k + 1) * per_step]);
        // Pass the uncond prediction only where the guider needs it (the skipped NFE).
        let needs = g.needs_uncond(&ctx).map_err(|e| e.to_string())?;
        let mut out = vec![F::zero(); per_step];
        let r = g
            .guide(&ctx, &layout, &c, needs.then_some(&u[..]), &mut out)
            .map_err(|e| e.to_string())?;
        if r.num_conditions != g.num_conditions(&ctx).map_err(|e| e.to_string())? {
            return Err("num_conditions disagrees with guide's report".into());
        }
        if let DynGuidance::ZeroStar(z) = &g {
            if z.zeroes(step) && z.rescale > 0.0 {
                zero_nan.push(k);
            }
        }
        pred.extend(out.iter().map(|x| x.as_f64()));
        nc.push(r.num_conditions as f64);
    }
    Ok((pred, nc, zero_nan))
}

fn check_case<F: Real>(case: &Value, ck: &mut Check, tol: Tol) -> R<()> {
    let (pred, nc, zero_nan) = run_case::<F>(case)?;
    let out = get(case, "output")?;
    keys_exactly(out, "output", &["pred", "num_conditions"])?;
    let want = flat(get(out, "pred")?)?;
    ck.all("pred", &pred, &want, tol);
    ck.all(
        "num_conditions",
        &nc,
        &flat(get(out, "num_conditions")?)?,
        EXACT,
    );
    // Quirk 7 (CFG-Zero* + rescale): diffusers' NaN on zero-init steps is reproduced, and the
    // reference has it exactly there (and only there).
    let per_step = want.len() / nc.len();
    let noted = case.get("note").is_some();
    for k in 0..nc.len() {
        let w = &want[k * per_step..(k + 1) * per_step];
        let g = &pred[k * per_step..(k + 1) * per_step];
        let expect_nan = zero_nan.contains(&k);
        if expect_nan {
            if !noted {
                ck.errors.push(format!(
                    "step {k}: zero-init NaN (quirk 7) in a case without a note"
                ));
            }
            if !w.iter().all(|x| x.is_nan()) || !g.iter().all(|x| x.is_nan()) {
                ck.errors.push(format!(
                    "step {k}: quirk 7 expects NaN everywhere (reference and port)"
                ));
            }
        } else if w.iter().any(|x| x.is_nan()) {
            ck.errors.push(format!(
                "step {k}: reference NaN outside the documented quirk 7"
            ));
        }
    }
    Ok(())
}

#[test]
fn golden_guidance_f64() {
    let cases = load("guidance.json");
    assert!(!cases.is_empty());
    finish(run_file("guidance.json", "f64", |case, ck| {
        check_case::<f64>(case, ck, F64_TOL)
    }));
}

/// The same cases in f32 with the README's advice for a float32 port.
#[test]
fn golden_guidance_f32() {
    finish(run_file("guidance.json", "f32", |case, ck| {
        check_case::<f32>(
            case,
            ck,
            Tol {
                rtol: 1e-3,
                atol: 1e-4,
            },
        )
    }));
}

/// Quirk 7 is in the public set (case 012), so the assertion above is exercised.
#[test]
fn quirk7_case_present_in_public_set() {
    if std::env::var_os("GDF_GOLDEN_DIR").is_some() {
        return; // another set may have none
    }
    let cases = load("guidance.json");
    let n = cases
        .iter()
        .filter(|c| {
            c.get("note").is_some()
                && flat(&c["output"]["pred"])
                    .map(|p| p.iter().any(|x| x.is_nan()))
                    .unwrap_or(false)
        })
        .count();
    assert_eq!(n, 1);
}
