//! Golden parity of the pipeline operations against diffusers 0.42.1 (scheduler level, no
//! networks; `tests/pipeline_ops/gen.py` writes `tests/pipeline_ops/golden.json`): img2img
//! strength (kept timesteps, noised start), the SDXL base/refiner hand-off, the inpainting
//! blend over short DDIM runs, clip_sample / dynamic thresholding in DDPM, DDIM and
//! DPM-Solver multistep loops, and DDIM inversion (`DDIMInverseScheduler` from a config). f64 with the golden README's tolerances (rtol 1e-6, atol 1e-9);
//! timesteps and counts exact. Every case is consumed.

mod common;

use common::pipeline::{cases, golden, p, threshold_of};
use common::*;
use gdf::interop::diffusers::load_inverse;
use gdf::pipeline::{strength, Inpaint, Threshold};
use gdf::scaler::Vp;
use gdf::solver::*;
use gdf::target::Epsilon;
use serde_json::Value;

fn grid(case: &Value) -> Grid {
    Grid::new(&Vp, &flat(&case["input"]["logsnr"]).unwrap()).unwrap()
}

fn finish(id: &str, ck: Check) {
    assert!(ck.errors.is_empty(), "{id}:\n{}", ck.errors.join("\n"));
    assert!(ck.values > 0, "{id}: nothing compared");
}

/// `max |got − want| / max(|want|, 1)`, the measured error reported by the tests.
fn err(got: &[f64], want: &[f64]) -> f64 {
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / w.abs().max(1.0))
        .fold(0.0, f64::max)
}

/// The distinct values of a timestep list, in order (a second-order scheduler repeats them).
fn distinct(ts: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = Vec::new();
    for &t in ts {
        if v.last() != Some(&t) {
            v.push(t);
        }
    }
    v
}

#[test]
fn every_case_has_a_consumer() {
    let all = golden();
    let kinds = ["img2img", "handoff", "inpaint", "threshold", "invert"];
    for c in &all {
        assert!(
            kinds.contains(&c["kind"].as_str().unwrap()),
            "unknown kind {}",
            c["kind"]
        );
    }
    assert_eq!(all.len(), 26);
}

#[test]
fn img2img_strength_keeps_diffusers_timesteps_and_noised_start() {
    for case in cases("img2img") {
        let id = format!("img2img {} {}", case["scheduler"], case["params"]);
        let steps = p(&case, "steps") as usize;
        let order = p(&case, "order") as usize;
        let ts = flat(&case["input"]["timesteps"]).unwrap();
        let want = flat(&case["output"]["kept_timesteps"]).unwrap();
        let start = strength::diffusers_start(steps, p(&case, "strength")).unwrap();
        // Grid points start..steps are the evaluated ones; diffusers' list repeats each
        // (but the first) `order` times.
        let points = distinct(&ts);
        assert_eq!(points.len(), steps, "{id}");
        assert_eq!(distinct(&want), points[start..].to_vec(), "{id}");
        assert_eq!(want.len(), ts.len() - start * order, "{id}");
        assert_eq!(
            num(&case["output"]["num_inference_steps"]).unwrap() as usize,
            steps - start,
            "{id}"
        );
        if let Some(xs) = case["output"].get("x_start") {
            let g = grid(&case).tail(start).unwrap();
            assert_eq!(g.steps(), steps - start);
            let image = arr(&case["input"]["image"]).unwrap().1;
            let eps = arr(&case["input"]["noise"]).unwrap().1;
            let got = strength::noised_start(&g, &image, &eps).unwrap();
            let mut ck = Check::default();
            let want = arr(xs).unwrap().1;
            ck.all("x_start", &got, &want, F64_TOL);
            eprintln!("{id}: x_start error {:.1e}", err(&got, &want));
            finish(&id, ck);
        }
    }
}

#[test]
fn comfy_denoise_keeps_the_tail() {
    // ComfyUI's KSampler.set_steps: ⌊steps/denoise⌋ total steps, the last `steps` kept.
    for (steps, denoise, total) in [(20, 1.0, 20), (20, 0.5, 40), (30, 0.7, 42), (7, 0.3, 23)] {
        let (t, start) = strength::comfy_start(steps, denoise).unwrap();
        assert_eq!((t, start), (total, total - steps));
        let lams: Vec<f64> = (0..=t).map(|i| -5.0 + i as f64 * 0.25).collect();
        let g = Grid::new(&Vp, &lams).unwrap().tail(start).unwrap();
        assert_eq!(g.steps(), steps);
        assert_eq!(g.level(steps).lam, lams[t]);
    }
    for bad in [0.0, -0.1, 1.5, f64::NAN] {
        assert!(strength::comfy_start(10, bad).is_err(), "denoise {bad}");
    }
}

#[test]
fn sdxl_handoff_splits_where_diffusers_does() {
    for case in cases("handoff") {
        let id = format!("handoff {} {}", case["scheduler"], case["params"]);
        let steps = p(&case, "steps") as usize;
        let order = p(&case, "order") as usize;
        let ts = flat(&case["input"]["timesteps"]).unwrap();
        let points = distinct(&ts);
        assert_eq!(points.len(), steps);
        let k = strength::handoff_index(
            &points,
            p(&case, "denoising_end"),
            p(&case, "num_train_timesteps") as usize,
            order,
        )
        .unwrap();
        let base = flat(&case["output"]["base_timesteps"]).unwrap();
        let refiner = flat(&case["output"]["refiner_timesteps"]).unwrap();
        // The refiner evaluates grid points k.. (its first timestep is point k).
        assert_eq!(distinct(&refiner), points[k..].to_vec(), "{id}");
        if order == 1 {
            // The base evaluates points 0..k (its k steps end at point k).
            assert_eq!(base, points[..k].to_vec(), "{id}");
        } else {
            // diffusers' base also makes the first evaluation of the refiner's first step
            // (at point k), which gdf's head(k) does not.
            assert_eq!(distinct(&base), points[..=k].to_vec(), "{id}");
            assert_eq!(base.len(), 2 * k + 1, "{id}");
        }
    }
}

/// eps = c·x + w, the generator's model.
fn linear_eps(c: f64, w: &[f64], x: &[f64]) -> Vec<f64> {
    x.iter().zip(w).map(|(&x, &w)| c * x + w).collect()
}

/// Runs `run` to the end with the case's linear ε-model, checking `x` after every step and
/// at the end against the golden.
fn run_against_golden<S: Solver, N: NoiseSource<f64>>(
    id: &str,
    case: &Value,
    mut run: Run<f64, S, N>,
    c: f64,
    w: &[f64],
) {
    let want = case["output"]["x_steps"].as_array().unwrap();
    let mut ck = Check::default();
    while let Some(req) = run.next_eval().unwrap() {
        let pred = linear_eps(c, w, req.x);
        if let Some(i) = run.feed(&Epsilon, &pred).unwrap() {
            ck.all(
                &format!("x step {i}"),
                run.x(),
                &flat(&want[i]).unwrap(),
                F64_TOL,
            );
        }
    }
    let want = arr(&case["output"]["x"]).unwrap().1;
    ck.all("x", run.x(), &want, F64_TOL);
    eprintln!("{id}: final x error {:.1e}", err(run.x(), &want));
    finish(id, ck);
}

#[test]
fn inpaint_blend_matches_the_diffusers_loop() {
    for case in cases("inpaint") {
        let id = format!("inpaint {}", case["params"]);
        let inp = &case["input"];
        let (shape, image) = arr(&inp["image"]).unwrap();
        let batch = shape[0];
        let eps = arr(&inp["noise"]).unwrap().1;
        let mask = arr(&inp["mask"]).unwrap().1;
        let w = arr(&inp["w"]).unwrap().1;
        let x_init = arr(&inp["x_init"]).unwrap().1;
        let c = p(&case, "c");
        let mut run = Run::new(Euler::new(), grid(&case), x_init, batch, NoNoise).unwrap();
        run.set_inpaint(Inpaint::new(image, eps, mask, batch).unwrap())
            .unwrap();
        run_against_golden(&id, &case, run, c, &w);
    }
}

#[test]
fn thresholding_matches_diffusers_steps() {
    let mut kinds = [0usize; 3];
    for case in cases("threshold") {
        let id = format!("threshold {} {}", case["scheduler"], case["params"]);
        let inp = &case["input"];
        let (shape, x_init) = arr(&inp["x_init"]).unwrap();
        let batch = shape[0];
        let n = x_init.len();
        let w = arr(&inp["w"]).unwrap().1;
        let c = p(&case, "c");
        let noise: Vec<f64> = match inp.get("noise") {
            Some(v) => v
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|d| flat(d).unwrap())
                .collect(),
            None => Vec::new(),
        };
        let solver = match case["scheduler"].as_str().unwrap() {
            "DDPMScheduler" => AnySolver::EulerAncestral(EulerAncestral::new()),
            "DDIMScheduler" => AnySolver::Euler(Euler::new()),
            "DPMSolverMultistepScheduler" => {
                let order = case["params"]
                    .get("solver_order")
                    .map(|v| num(v).unwrap() as usize)
                    .unwrap_or(2);
                AnySolver::DpmSolverMultistep(
                    DpmSolverMultistep::with(DpmSolverSettings {
                        order,
                        ..Default::default()
                    })
                    .unwrap(),
                )
            }
            "UniPCMultistepScheduler" => AnySolver::UniPc(UniPc::new()),
            o => panic!("unknown scheduler {o}"),
        };
        let th = threshold_of(&case);
        kinds[match th {
            Threshold::None => 0,
            Threshold::Clip { .. } => 1,
            Threshold::Dynamic { .. } => 2,
        }] += 1;
        let rec = RecordedNoise::new(&noise, n, n / batch);
        let mut run = Run::new(solver, grid(&case), x_init, batch, rec).unwrap();
        run.set_threshold(th).unwrap();
        run_against_golden(&id, &case, run, c, &w);
    }
    assert!(kinds.iter().all(|&k| k > 0), "{kinds:?}");
}

/// The thresholds change the result on these cases (otherwise the parity above would not
/// test them): without the stage the run leaves the golden.
#[test]
fn thresholded_cases_are_sensitive_to_the_stage() {
    for case in cases("threshold") {
        if threshold_of(&case).is_none() || case["scheduler"] == "DDPMScheduler" {
            continue;
        }
        let inp = &case["input"];
        let (shape, x_init) = arr(&inp["x_init"]).unwrap();
        let w = arr(&inp["w"]).unwrap().1;
        let c = p(&case, "c");
        let solver = match case["scheduler"].as_str().unwrap() {
            "DDIMScheduler" => AnySolver::Euler(Euler::new()),
            "UniPCMultistepScheduler" => AnySolver::UniPc(UniPc::new()),
            _ => AnySolver::from_name("DPMSolverMultistepScheduler").unwrap(),
        };
        let mut run = Run::new(solver, grid(&case), x_init, shape[0], NoNoise).unwrap();
        while let Some(req) = run.next_eval().unwrap() {
            let pred = linear_eps(c, &w, req.x);
            run.feed(&Epsilon, &pred).unwrap();
        }
        let want = arr(&case["output"]["x"]).unwrap().1;
        let far = run
            .x()
            .iter()
            .zip(&want)
            .filter(|(g, w)| !close(**g, **w, F64_TOL))
            .count();
        assert!(
            far > want.len() / 4,
            "{}: only {far} differ",
            case["params"]
        );
    }
}

/// The zero-terminal-SNR table's tolerance: diffusers rescales the β's in float32 through
/// torch's CPU `sqrt`, which is not correctly rounded (182 of the 1000 `√ᾱ` of Stable
/// Diffusion's table differ from the IEEE square root by an ulp), so its `ᾱ` differ from
/// gdf's by up to 3 float32 ulps (2.4e-7 relative); the inverted latents then differ by up
/// to 5.3e-8 (measured), which `atol = 2e-7` bounds.
const ZSNR_TOL: Tol = Tol {
    rtol: 1e-6,
    atol: 2e-7,
};

/// The inversion loop of the generator with its timestep-dependent model
/// `pred = c·x + w + d·t/1000`, `t` the step's diffusers timestep; `x` after every step.
fn invert_steps(case: &Value, clip: bool) -> Vec<Vec<f64>> {
    let inp = &case["input"];
    let inv = load_inverse(inp["config"].as_str().unwrap()).unwrap();
    let (shape, x_init) = arr(&inp["x_init"]).unwrap();
    let w = arr(&inp["w"]).unwrap().1;
    let (c, d) = (p(case, "c"), p(case, "d"));
    let mut run = inv
        .inversion(p(case, "steps") as usize, x_init, shape[0])
        .unwrap();
    if !clip {
        run.set_threshold(Threshold::None).unwrap();
    }
    let mut xs = Vec::new();
    while let Some(req) = run.next_eval().unwrap() {
        let t = req.step.timestep.unwrap() as f64;
        let pred: Vec<f64> = req
            .x
            .iter()
            .zip(&w)
            .map(|(&x, &w)| c * x + w + d * t / 1000.0)
            .collect();
        run.feed(&inv.target, &pred).unwrap();
        xs.push(run.x().to_vec());
    }
    xs
}

#[test]
fn ddim_inversion_matches_diffusers() {
    let mut clipped = 0;
    for case in cases("invert") {
        let inp = &case["input"];
        let config = inp["config"].as_str().unwrap();
        let id = format!("invert {config} {} steps", case["params"]["steps"]);
        let n = p(&case, "steps") as usize;
        let inv = load_inverse(config).unwrap();
        // Timesteps exact; each step's levels those diffusers' step() reads.
        let ts: Vec<f64> = inv
            .timesteps(n)
            .unwrap()
            .iter()
            .map(|&t| t as f64)
            .collect();
        assert_eq!(ts, flat(&inp["timesteps"]).unwrap(), "{id}");
        let steps = inv.steps(n).unwrap();
        let tol = if config.contains(r#""rescale_betas_zero_snr": true"#) {
            ZSNR_TOL
        } else {
            F64_TOL
        };
        let mut ck = Check::default();
        let sq = |v: Vec<f64>| v.iter().map(|a| a.sqrt()).collect::<Vec<_>>();
        let a_from: Vec<f64> = steps.iter().map(|s| s.from.a).collect();
        let a_to: Vec<f64> = steps.iter().map(|s| s.to.a).collect();
        ck.all(
            "a (from)",
            &a_from,
            &sq(flat(&inp["acp_from"]).unwrap()),
            F64_TOL,
        );
        ck.all("a (to)", &a_to, &sq(flat(&inp["acp_to"]).unwrap()), F64_TOL);
        let got = invert_steps(&case, true);
        let want = case["output"]["x_steps"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{id}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            ck.all(&format!("x step {i}"), g, &flat(w).unwrap(), tol);
        }
        let want = arr(&case["output"]["x"]).unwrap().1;
        let last = got.last().unwrap();
        ck.all("x", last, &want, tol);
        eprintln!("{id}: final x error {:.1e}", err(last, &want));
        finish(&id, ck);
        if !inv.threshold.is_none() {
            // The clip binds on these cases: without it the run leaves the golden.
            let plain = invert_steps(&case, false);
            let far = plain
                .last()
                .unwrap()
                .iter()
                .zip(&want)
                .filter(|(g, w)| !close(**g, **w, F64_TOL))
                .count();
            assert!(far > 0, "{id}: the clip changes nothing");
            clipped += 1;
        }
    }
    assert!(clipped >= 2, "{clipped} clipped cases");
}
