//! Quickstart: declare a framework, diffuse a batch, then sample 2-D points from a Gaussian
//! mixture with the mixture's exact denoiser and compare the samples' statistics with the
//! mixture's: the framework's DDPM and DDIM at a few step counts, then the modern solvers
//! (`gdf::solver`) on a Karras grid against the number of model evaluations (NFE) they cost.
//!
//! Run: `cargo run --release --example quickstart`

use gdf::framework::DiffuseArgs;
use gdf::gdf;
use gdf::noise::{self, Purpose};
use gdf::prelude::*;
use gdf::sample::{Cfg, SampleOpts};
use gdf::solver::{AnySolver, Grid, Run};
use gdf::toy::GaussianMixture2;

gdf!(
    /// Stable Cascade's setup, with logSNR itself as the model's time input (the toy
    /// model reads it back).
    Framework = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp, target: Epsilon,
                noise_cond: LogSnr, loss_weight: P2
);

fn main() -> Result<(), GdfError> {
    let gdf = Framework::default();
    println!("framework: {gdf}");
    println!(
        "size_of::<Framework>() = {} bytes\n",
        core::mem::size_of::<Framework>()
    );

    // 1. Schedule and scaler walk-through.
    println!("{:>6} {:>10} {:>9} {:>9}", "t", "logSNR", "a", "b");
    for i in 0..=5 {
        let t = i as f64 / 5.0;
        let l = gdf.schedule.logsnr(t, 1.0)?;
        let (a, b) = gdf.scaler.ab(l);
        println!("{t:>6.2} {l:>10.4} {a:>9.5} {b:>9.5}");
    }

    // 2. Diffuse a batch of 4 "images" of 3×8×8 at given t, with the noise drawn inside.
    let x0: Vec<f32> = (0..4 * 3 * 8 * 8)
        .map(|i| ((i % 17) as f32 / 8.0) - 1.0)
        .collect();
    let t = [0.1f32, 0.4, 0.7, 0.95];
    let d = gdf.diffuse(
        &x0,
        4,
        &DiffuseArgs {
            t: Some(&t),
            seed: 1,
            ..Default::default()
        },
    )?;
    println!(
        "\ndiffuse: logSNR {:?}\n         loss weight {:?}",
        d.logsnr, d.loss_weight
    );

    // 3. Sample a Gaussian mixture with its exact denoiser.
    let mixture = GaussianMixture2::new(
        vec![0.5, 0.3, 0.2],
        vec![[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]],
        vec![
            [[0.30, 0.10], [0.10, 0.20]],
            [[0.20, -0.05], [-0.05, 0.25]],
            [[0.15, 0.0], [0.0, 0.15]],
        ],
    )?;
    let n = 10_000;
    println!("\nsampling {n} points of a 3-component 2-D Gaussian mixture with its exact denoiser");
    println!("max |error| of the samples' statistics vs the mixture (component weights, means, covariances):");
    println!(
        "{:<6} {:>6} {:>10} {:>10} {:>10}",
        "sampler", "steps", "weights", "means", "covs"
    );
    let reference = mixture.errors(&mixture.stats(&mixture.draw(n, 99)));
    println!(
        "{:<6} {:>6} {:>10.4} {:>10.4} {:>10.4}   (exact draws: the sampling noise floor)",
        "exact", "-", reference.0, reference.1, reference.2
    );
    for steps in [5, 10, 20, 50, 100] {
        for (name, eta) in [("DDPM", 1.0), ("DDIM", 0.0)] {
            let model =
                |x: &[f64], c: &[f64], _: &[f64], p: &mut [f64]| mixture.vp_epsilon(x, c, p);
            let opts = SampleOpts {
                timesteps: steps,
                cfg: Cfg::Off,
                seed: 7,
                ..Default::default()
            };
            let sampler = gdf::dynamic::DynSampler::Ddim { eta };
            let x = gdf.sample(model, sampler, &[], None, n, 2, opts)?.run()?;
            let e = mixture.errors(&mixture.stats(&x));
            println!(
                "{name:<6} {steps:>6} {:>10.4} {:>10.4} {:>10.4}",
                e.0, e.1, e.2
            );
        }
    }

    // 4. The modern solvers (`gdf::solver`) on the same schedule's grid, ending with a step to
    //    λ = +∞ (the x0-prediction), with the mixture's exact x0-prediction as the model:
    //    error against the number of model evaluations (NFE).
    println!("\nmodern solvers on the framework's cosine grid, last step to λ = +∞:");
    println!(
        "{:<16} {:>6} {:>5} {:>10} {:>10} {:>10}",
        "sampler", "steps", "nfe", "weights", "means", "covs"
    );
    for name in [
        "euler",
        "euler_ancestral",
        "heun",
        "dpmpp_2m",
        "dpmpp_2m_sde",
        "unipc",
    ] {
        for steps in [5, 10, 20, 50] {
            // `steps − 1` steps of the cosine t grid, then one to λ = +∞.
            let (_, mut logsnr) =
                gdf::sample::sampling_grid(&gdf.schedule, steps - 1, 1.0, 0.0, 1.0)?;
            logsnr.push(f64::INFINITY);
            let grid = Grid::new(&scaler::Vp, &logsnr)?;
            // Pure noise at the first level: x = b₀·ξ (k-diffusion's σ_max·ξ in VP form).
            let b0 = grid.level(0).b;
            let x_init: Vec<f64> = (0..n * 2)
                .map(|i| {
                    b0 * noise::normal(7, Purpose::Init, (i / 2) as u32, 0, (i % 2) as u64) as f64
                })
                .collect();
            let solver = AnySolver::from_name(name)?;
            let run = Run::new(solver, grid, x_init, n, gdf::solver::CounterNoise::new(7))?;
            let nfe = run.total_evals();
            let x = run.run(|x, level, d| {
                for (xi, di) in x.chunks(2).zip(d.chunks_mut(2)) {
                    let x0 = mixture.denoise([xi[0], xi[1]], level.a, level.b);
                    di.copy_from_slice(&x0);
                }
                Ok(())
            })?;
            let e = mixture.errors(&mixture.stats(&x));
            println!(
                "{name:<16} {steps:>6} {nfe:>5} {:>10.4} {:>10.4} {:>10.4}",
                e.0, e.1, e.2
            );
        }
    }
    Ok(())
}
