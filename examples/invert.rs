//! DDIM inversion and its round trip: data points inverted to noise with Stable Diffusion's
//! scheduler config, then sampled back with DDIM on the same config, under the exact model
//! (the ideal denoiser of a 2-D Gaussian mixture).
//!
//! Two conditionings of the model at each inversion step:
//! - **at `step.to`**: diffusers' `DDIMInverseScheduler` convention (the pipeline calls the
//!   network at the timestep the step goes to, while the sample is still at the level before);
//! - **at `step.from`**: the level the sample is at.
//!
//! A third row per step count inverts with DPM-Solver++ 2M instead
//! (`DPMSolverMultistepInverseScheduler` over the same config, on its inversion grid) and
//! samples back with DPM-Solver++ 2M on the same levels reversed.
//!
//! What it shows: neither round trip is exact, since sampling evaluates the model at the
//! noisier end of each step and inversion at the cleaner one; the error shrinks with the step
//! length, and diffusers' choice (which conditions the model where sampling will) is the
//! closer one. The inverted points approach a standard normal as the steps get shorter.
//!
//! Run: `cargo run --example invert`.

use gdf::interop::diffusers::{load, load_as, load_inverse, PipelineKind};
use gdf::pipeline::invert::InvertStep;
use gdf::prelude::*;
use gdf::solver::{Euler, Grid, Level, NoNoise, Run};
use gdf::toy::GaussianMixture2;

const N: usize = 2000;

/// Stable Diffusion 1.5's scheduler config (as shipped, `PNDMScheduler`).
const SD15: &str = r#"{"_class_name": "PNDMScheduler", "beta_start": 0.00085,
    "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
    "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1,
    "clip_sample": false}"#;

/// The exact ε-prediction at level `l` for a batch of 2-D points.
fn eps(data: &GaussianMixture2, x: &[f64], l: Level) -> Vec<f64> {
    x.chunks(2)
        .flat_map(|p| {
            let d = data.denoise([p[0], p[1]], l.a, l.b);
            [(p[0] - l.a * d[0]) / l.b, (p[1] - l.a * d[1]) / l.b]
        })
        .collect()
}

/// Root mean square of the differences.
fn rms(a: &[f64], b: &[f64]) -> f64 {
    (a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / a.len() as f64).sqrt()
}

/// Mean and standard deviation of all values.
fn moments(x: &[f64]) -> (f64, f64) {
    let m = x.iter().sum::<f64>() / x.len() as f64;
    let v = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / x.len() as f64;
    (m, v.sqrt())
}

fn main() -> Result<(), GdfError> {
    let blob = |s: f64| [[s, 0.0], [0.0, s]];
    let data = GaussianMixture2::new(
        vec![0.5, 0.3, 0.2],
        vec![[1.5, 1.0], [1.5, -1.0], [-1.5, 0.0]],
        vec![blob(0.05), blob(0.1), blob(0.2)],
    )?;
    let x0 = data.draw(N, 11);
    let inverse = load_inverse(SD15)?;
    let forward = load(SD15, PipelineKind::StableDiffusion)?;
    let dpm_inverse = load_as(
        SD15,
        "DPMSolverMultistepInverseScheduler",
        PipelineKind::StableDiffusion,
    )?;
    let exact = |x: &[f64], level: Level, d: &mut [f64]| {
        for (p, d) in x.chunks(2).zip(d.chunks_mut(2)) {
            d.copy_from_slice(&data.denoise([p[0], p[1]], level.a, level.b));
        }
        Ok(())
    };
    println!("{N} points of a 2-D mixture, Stable Diffusion 1.5's scheduler config, exact model\n");
    println!("| steps | model at | round-trip RMS error | inverted mean | inverted std |");
    println!("|---|---|---|---|---|");
    for n in [10, 25, 50, 100, 250] {
        for (name, at) in [
            (
                "step.to (diffusers)",
                (|s: &InvertStep| s.to) as fn(&InvertStep) -> Level,
            ),
            ("step.from", |s: &InvertStep| s.from),
        ] {
            let noise =
                inverse
                    .inversion(n, x0.clone(), N)?
                    .run(&inverse.target, |x, step, pred| {
                        pred.copy_from_slice(&eps(&data, x, at(step)));
                        Ok(())
                    })?;
            let grid = forward.solver_grid(&forward.grid(n)?)?;
            let back = Run::new(Euler::new(), grid, noise.clone(), N, NoNoise)?.run(exact)?;
            let (m, s) = moments(&noise);
            println!(
                "| {n} | {name} | {:.2e} | {m:.3} | {s:.3} |",
                rms(&back, &x0)
            );
        }
        // DPM-Solver++ 2M both ways, on one set of levels.
        let levels = dpm_inverse.grid(n)?;
        let up = dpm_inverse.solver_grid(&levels)?;
        let noise = Run::new(dpm_inverse.solver.clone(), up, x0.clone(), N, NoNoise)?.run(exact)?;
        let down: Vec<f64> = levels.logsnr.iter().rev().copied().collect();
        let down = Grid::new(&dpm_inverse.framework.scaler, &down)?;
        let back =
            Run::new(dpm_inverse.solver.clone(), down, noise.clone(), N, NoNoise)?.run(exact)?;
        let (m, s) = moments(&noise);
        println!(
            "| {n} | DPM-Solver++ 2M (level the step starts from) | {:.2e} | {m:.3} | {s:.3} |",
            rms(&back, &x0)
        );
    }
    Ok(())
}
