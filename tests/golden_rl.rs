//! Golden parity of `gdf::solver::gaussian_steps` and `FlowSde` with the published
//! step-with-log-probability functions of policy-gradient fine-tuning (`tests/rl/gen.py`):
//! Flow-GRPO's `sde_step_with_logprob` on SD3's flow-matching scheduler and DDPO's
//! `ddim_step_with_logprob` on SD 1.5's DDIM scheduler (gdf: `EulerAncestral` with η, which is
//! DDIM(η)). Every case of `tests/rl/golden.json` (or `$GDF_RL_GOLDEN_DIR/golden.json`):
//!
//! - the rollout, replayed (diffusers' model outputs and the reference's recorded draws fed
//!   to gdf's `Run`): the latents after every step;
//! - per step, from `gaussian_steps`: the transition's mean on the reference's input (Flow-GRPO
//!   records it), its standard deviation, and every sample's log-probability of the
//!   reference's next latents;
//! - re-scoring: each sample at its own step (batched timesteps) under a perturbed model
//!   output, as a trainer does after a policy update.
//!
//! Tolerances: Flow-GRPO casts everything to float32 (`rtol 2e-6, atol 1e-6` on latents and
//! means; the log-probabilities, sums of squares over the step's variance, within `1e-5`
//! relative + `1e-5`); DDPO computes in the latents' float64 with diffusers' float32 table
//! and float32 square roots of it (`STEP32` on latents, `3e-5` on log-probabilities: see
//! `LP64`).

mod common;

use common::*;
use gdf::interop::diffusers::{load, PipelineKind};
use gdf::solver::{
    gaussian_steps, AnySolver, EulerAncestral, FlowSde, GaussianStep, RecordedNoise, Run,
};
use gdf::target::Target;
use serde_json::Value;
use std::path::PathBuf;

const STEP32: Tol = Tol {
    rtol: 2e-6,
    atol: 1e-6,
};
const LP32: Tol = Tol {
    rtol: 1e-5,
    atol: 1e-5,
};
/// DDPO: diffusers' float32 `ᾱ` with float32 square roots in the mean, whose rounding
/// (6e-8 relative) the log-probability weighs by `(x' − μ)/σ²`, large at the last steps'
/// small σ: up to 9.2e-6 on the committed cases. With the table cast to float64 the reference
/// agrees with gdf to 1.6e-8 (its float32 `ln √(2π)`), measured.
const LP64: Tol = Tol {
    rtol: 1e-6,
    atol: 3e-5,
};

const KEYS: &[&str] = &[
    "id",
    "method",
    "config",
    "pipeline",
    "steps",
    "noise_level",
    "eta",
    "train_steps",
    "source",
    "run",
    "train",
    "mixture",
];

fn golden_path() -> PathBuf {
    match std::env::var_os("GDF_RL_GOLDEN_DIR") {
        Some(d) => PathBuf::from(d).join("golden.json"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/rl/golden.json"),
    }
}

fn rows_of(v: &Value, key: &str) -> R<Vec<Vec<f64>>> {
    get(v, key)?
        .as_array()
        .ok_or_else(|| format!("{key} must be a list"))?
        .iter()
        .map(flat)
        .collect()
}

fn run_case(case: &Value, ck: &mut Check) -> R<()> {
    for k in case.as_object().ok_or("case must be an object")?.keys() {
        if !KEYS.contains(&k.as_str()) {
            return Err(format!("unknown key {k:?}"));
        }
    }
    let method = get(case, "method")?.as_str().ok_or("method")?;
    let (pk, flow) = match method {
        "flow_grpo" => (
            PipelineKind::Sd3 {
                image_seq_len: None,
            },
            true,
        ),
        "ddpo" => (PipelineKind::StableDiffusion, false),
        o => return Err(format!("unknown method {o:?}")),
    };
    let l = load(&get(case, "config")?.to_string(), pk).map_err(|e| e.to_string())?;
    let target = &l.framework.target;
    let steps = num(get(case, "steps")?)? as usize;
    let grid = l
        .solver_grid(&l.grid(steps).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let (tol_x, tol_lp) = if flow { (STEP32, LP32) } else { (STEP32, LP64) };
    let run_v = get(case, "run")?;
    let x_init = flat(get(run_v, "x_init")?)?;
    let batch = x_init.len() / 2;
    let noise = rows_of(run_v, "noise")?.concat();
    let samples = rows_of(run_v, "sample")?;
    let outputs = rows_of(run_v, "model_output")?;
    let nexts = rows_of(run_v, "prev_sample")?;
    let lps = rows_of(run_v, "log_prob")?;
    // The solver and its transitions.
    let solver = if flow {
        AnySolver::FlowSde(
            FlowSde::new(num(get(case, "noise_level")?)?).map_err(|e| e.to_string())?,
        )
    } else {
        let eta = num(get(case, "eta")?)?;
        AnySolver::EulerAncestral(EulerAncestral::with(eta, 1.0).map_err(|e| e.to_string())?)
    };
    let gs = gaussian_steps(&solver, &grid).map_err(|e| e.to_string())?;
    let mut run = Run::new(
        solver,
        grid.clone(),
        x_init.clone(),
        batch,
        RecordedNoise::new(&noise, batch * 2, 2),
    )
    .map_err(|e| e.to_string())?;
    if gs.len() != steps || samples.len() != steps {
        return Err(format!(
            "{} transitions, {} recorded steps, {steps} steps",
            gs.len(),
            samples.len()
        ));
    }
    // x0 of a raw prediction at a step's level (the conversion gdf's run makes).
    let d_of = |g: &GaussianStep, x: &[f64], p: &[f64]| -> Vec<f64> {
        let (a, b) = (g.level.a, g.level.b);
        x.iter()
            .zip(p)
            .map(|(&x, &p)| target.x0(x, p, a, b))
            .collect()
    };
    for (k, g) in gs.iter().enumerate() {
        // The rollout, replayed.
        run.next_eval().map_err(|e| e.to_string())?;
        run.feed(target, &outputs[k]).map_err(|e| e.to_string())?;
        let x = run.x().to_vec();
        ck.all(&format!("step {k} x"), &x, &nexts[k], tol_x);
        // The transition on the reference's own input.
        let d = d_of(g, &samples[k], &outputs[k]);
        let lp = g
            .log_prob(&nexts[k], &samples[k], &d, batch)
            .map_err(|e| e.to_string())?;
        ck.all(&format!("step {k} log_prob"), &lp, &lps[k], tol_lp);
        if flow {
            let mut mean = vec![0.0; d.len()];
            g.mean(&samples[k], &d, &mut mean)
                .map_err(|e| e.to_string())?;
            ck.all(
                &format!("step {k} mean"),
                &mean,
                &flat(&get(run_v, "mean")?[k])?,
                tol_x,
            );
            ck.all(
                &format!("step {k} std"),
                &[g.std],
                &[num(&get(run_v, "std")?[k])?],
                tol_x,
            );
            // The coefficients on the raw prediction give the same mean.
            let [cx, cp] = g.for_prediction(target).map_err(|e| e.to_string())?;
            let mean2: Vec<f64> = samples[k]
                .iter()
                .zip(&outputs[k])
                .map(|(&x, &p)| cx * x + cp * p)
                .collect();
            ck.all(&format!("step {k} mean (raw)"), &mean2, &mean, F64_TOL);
        }
    }
    // Re-scoring at per-sample steps under a perturbed model.
    let tr = get(case, "train")?;
    let steps_of: Vec<usize> = flat(get(tr, "steps_of")?)?
        .iter()
        .map(|&v| v as usize)
        .collect();
    let (xs, ps, outs) = (
        flat(get(tr, "sample")?)?,
        flat(get(tr, "prev_sample")?)?,
        flat(get(tr, "model_output")?)?,
    );
    let want = flat(get(tr, "log_prob")?)?;
    let mut got = Vec::with_capacity(batch);
    for (s, &k) in steps_of.iter().enumerate() {
        let g = gs.get(k).ok_or_else(|| format!("step {k} out of range"))?;
        let r = 2 * s..2 * s + 2;
        let d = d_of(g, &xs[r.clone()], &outs[r.clone()]);
        let lp = g
            .log_prob(&ps[r.clone()], &xs[r], &d, 1)
            .map_err(|e| e.to_string())?;
        got.push(lp[0]);
    }
    ck.all("train log_prob", &got, &want, tol_lp);
    Ok(())
}

#[test]
fn golden_policy_gradient_log_probs() {
    check_cases(&load_path(&golden_path()), 6, 300, run_case);
}
