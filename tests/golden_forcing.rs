//! Golden parity of `gdf::solver::Forcing` / `ForcingPlan::staggered` with diffusers 0.42.1's
//! SkyReels-V2 diffusion-forcing loop (`tests/diffusers/gen_forcing.py`): the pipeline's own
//! timestep matrix, one scheduler copy per frame, each stepped where the update mask says.
//!
//! Every case of `tests/diffusers/forcing.json` (or of `$GDF_FORCING_GOLDEN_DIR/forcing.json`)
//! is loaded through `gdf::interop::diffusers::load`, planned with `ForcingPlan::staggered` and
//! run with the analytic model the generator uses (the 2-D mixture's denoiser plus a coupling to
//! the previous frame's current latents). Per row it checks
//! - which frames advance (the update mask), exactly;
//! - the timestep each frame's model input carries: the framework's noise cond at an advancing
//!   frame's level, exactly (diffusers' integer timesteps); the pipeline's placeholders for
//!   frames that do not advance, 999 before a frame starts and 0 once it is done;
//! - the model's input (all frames) and the latents after the row, within `STEP32` (`rtol 2e-6,
//!   atol 1e-6`: diffusers' float32 sigmas and steps, as in `golden_diffusers.rs`);
//! - the model's output at each advancing frame's level, evaluated on diffusers' own input
//!   (the level is right), within `STEP32`.
//!
//! The run is fed diffusers' recorded model outputs (a replay): near a boundary between the
//! mixture's components the denoiser amplifies an input difference many times over, which
//! would turn diffusers' float32 rounding into failures that say nothing about the driver
//! (seen in a sweep: 7e-6 at σ ≈ 0.2 from a 1e-7 difference of the input).

mod common;

use common::*;
use gdf::interop::diffusers::{load, PipelineKind};
use gdf::noise_cond::NoiseCond;
use gdf::solver::{Forcing, ForcingPlan, NoNoise, Solver};
use gdf::target::Target;
use serde_json::Value;
use std::path::PathBuf;

const STEP32: Tol = Tol {
    rtol: 2e-6,
    atol: 1e-6,
};

const KEYS: &[&str] = &[
    "id",
    "config",
    "pipeline",
    "steps",
    "frames",
    "ar_step",
    "causal_block_size",
    "ready",
    "points",
    "couple",
    "mixture",
    "source",
    "run",
];

fn count(case: &Value, key: &str) -> R<usize> {
    get(case, key)?
        .as_u64()
        .map(|v| v as usize)
        .ok_or_else(|| format!("{key} must be a non-negative integer"))
}

/// The largest `|got − want|` of any compared latent, for the report.
fn worst(acc: &mut f64, got: &[f64], want: &[f64]) {
    for (g, w) in got.iter().zip(want) {
        *acc = acc.max((g - w).abs());
    }
}

fn run_case(case: &Value, ck: &mut Check) -> R<f64> {
    for k in case.as_object().ok_or("case must be an object")?.keys() {
        if !KEYS.contains(&k.as_str()) {
            return Err(format!("unknown key {k:?}"));
        }
    }
    if get(get(case, "pipeline")?, "kind")?.as_str() != Some("sd3") {
        return Err("only the sd3 pipeline kind (flow sigmas) is generated".into());
    }
    let l = load(
        &get(case, "config")?.to_string(),
        PipelineKind::Sd3 {
            image_seq_len: None,
        },
    )
    .map_err(|e| e.to_string())?;
    let fw = &l.framework;
    let steps = count(case, "steps")?;
    let frames = count(case, "frames")?;
    let points = count(case, "points")?;
    let couple = num(get(case, "couple")?)?;
    let mix = mixture(get(case, "mixture")?)?;
    let grid = l
        .solver_grid(&l.grid(steps).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let evals = l.solver.nfe(&grid);
    let plan = ForcingPlan::staggered(
        frames,
        evals,
        count(case, "ar_step")?,
        count(case, "causal_block_size")?,
        count(case, "ready")?,
    )
    .map_err(|e| e.to_string())?;
    let run_v = get(case, "run")?;
    let x_init = flat(get(run_v, "x_init")?)?;
    let want_rows = get(run_v, "update")?.as_array().ok_or("update")?.len();
    if plan.rows() != want_rows {
        return Err(format!(
            "plan has {} rows, diffusers' matrix {want_rows}",
            plan.rows()
        ));
    }
    let mut run = Forcing::new(l.solver.clone(), grid, plan, x_init, 1, |_| NoNoise)
        .map_err(|e| e.to_string())?;
    let len = points * 2;
    let mut dev = 0.0f64;
    let mut pred = vec![0.0f64; frames * len];
    while let Some(req) = run.next_eval().map_err(|e| e.to_string())? {
        let r = req.row;
        let row = |key: &str| -> R<&Value> {
            get(run_v, key)?
                .as_array()
                .and_then(|a| a.get(r))
                .ok_or_else(|| format!("{key}[{r}] missing"))
        };
        let update: Vec<bool> = row("update")?
            .as_array()
            .ok_or("update row")?
            .iter()
            .map(|v| v.as_bool().ok_or("update must be booleans"))
            .collect::<Result<_, _>>()?;
        let ts = flat(row("timesteps")?)?;
        let adv: Vec<bool> = req.groups.iter().map(|g| g.advances).collect();
        if adv != update {
            ck.errors
                .push(format!("row {r}: advancing {adv:?}, diffusers {update:?}"));
        }
        let got_ts: Vec<f64> = req
            .groups
            .iter()
            .map(|g| match (g.advances, g.done) {
                (true, _) => fw.noise_cond.noise_cond(g.level.lam),
                (false, true) => 0.0,
                (false, false) if g.evals_done == 0 => 999.0,
                (false, false) => f64::NAN, // paused mid-way: not in SkyReels' plans
            })
            .collect();
        ck.cmp(&format!("row {r} timesteps"), &got_ts, &ts, |_| {
            Cmp::Tol(EXACT)
        });
        let sample = flat(row("sample")?)?;
        worst(&mut dev, req.x, &sample);
        ck.cmp(&format!("row {r} sample"), req.x, &sample, |_| {
            Cmp::Tol(STEP32)
        });
        // The model at each advancing frame's level, evaluated on diffusers' own input: checks
        // the level (and the timestep above) without the mixture's sensitivity to the input
        // amplifying the float32 differences of the latents.
        let want_mo = flat(row("model_output")?)?;
        for (f, g) in req.groups.iter().enumerate() {
            let out = &mut pred[f * len..(f + 1) * len];
            if !g.advances {
                // The generator writes 0 for the frames that do not advance.
                out.fill(0.0);
                continue;
            }
            let lv = g.level;
            let c = if f == 0 {
                0.0
            } else {
                let prev = &sample[(f - 1) * len..f * len];
                couple * prev.iter().sum::<f64>() / len as f64
            };
            let xs = &sample[f * len..(f + 1) * len];
            for (o, xy) in out.chunks_mut(2).zip(xs.chunks(2)) {
                let d = mix.denoise([xy[0], xy[1]], lv.a, lv.b);
                for k in 0..2 {
                    let x0 = d[k] + c;
                    let eps = (xy[k] - lv.a * x0) / lv.b;
                    o[k] = fw.target.target(x0, eps, lv.a, lv.b);
                }
            }
        }
        ck.cmp(&format!("row {r} model_output"), &pred, &want_mo, |_| {
            Cmp::Tol(STEP32)
        });
        // The run is fed diffusers' model outputs (a replay), so what `x` measures is the
        // update alone. The parts of frames that do not advance are NaN: the driver ignores
        // them.
        for (i, p) in pred.iter_mut().enumerate() {
            *p = if adv[i / len] { want_mo[i] } else { f64::NAN };
        }
        run.feed(&fw.target, &pred).map_err(|e| e.to_string())?;
        let want_x = flat(row("x")?)?;
        worst(&mut dev, run.x(), &want_x);
        ck.cmp(&format!("row {r} x"), run.x(), &want_x, |_| {
            Cmp::Tol(STEP32)
        });
    }
    if run.rows_done() != want_rows {
        return Err(format!("ran {} rows of {want_rows}", run.rows_done()));
    }
    Ok(dev)
}

fn golden_path() -> PathBuf {
    match std::env::var_os("GDF_FORCING_GOLDEN_DIR") {
        Some(d) => PathBuf::from(d).join("forcing.json"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/diffusers/forcing.json"),
    }
}

#[test]
fn golden_diffusion_forcing_skyreels() {
    check_cases(&load_path(&golden_path()), 5, 1000, |case, ck| {
        let dev = run_case(case, ck)?;
        let id = case.get("id").and_then(Value::as_str).unwrap_or("?");
        eprintln!("{id}: max |gdf − diffusers| over the latents {dev:.1e}");
        Ok(())
    });
}
