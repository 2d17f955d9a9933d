//! Diffusion forcing: SkyReels-V2's staggered "denoising wave" over the frames of a video,
//! with its scheduler config (Wan's UniPC with flow sigmas), driven by `solver::Forcing`.
//!
//! It prints, for every model call, the timestep each latent frame is given (999 before a frame
//! starts and 0 once it is done, SkyReels' placeholders; `*` marks the frames the call
//! advances), then runs the wave with a toy model.
//!
//! Run: `cargo run --example forcing`.

use gdf::interop::diffusers::{load, PipelineKind};
use gdf::noise_cond::NoiseCond;
use gdf::solver::{Forcing, ForcingPlan, NoNoise, Solver};
use gdf::GdfError;

fn main() -> Result<(), GdfError> {
    let skyreels = r#"{"_class_name": "UniPCMultistepScheduler", "flow_shift": 8.0,
        "prediction_type": "flow_prediction", "use_flow_sigmas": true}"#;
    let l = load(
        skyreels,
        PipelineKind::Sd3 {
            image_seq_len: None,
        },
    )?;
    let (frames, steps, ar_step, block) = (8, 6, 2, 2);
    let grid = l.solver_grid(&l.grid(steps)?)?;
    let plan = ForcingPlan::staggered(frames, l.solver.nfe(&grid), ar_step, block, 0)?;
    println!(
        "{frames} latent frames in blocks of {block}, {steps} steps each, lag {ar_step}: {} model calls",
        plan.rows()
    );
    let per = 4; // elements per latent frame
    let x_init: Vec<f64> = (0..frames * per)
        .map(|i| ((i as f64) * 0.91).sin())
        .collect();
    let mut run = Forcing::new(l.solver.clone(), grid, plan, x_init, 1, |_| NoNoise)?;
    while let Some(req) = run.next_eval()? {
        let row: Vec<String> = req
            .groups
            .iter()
            .map(|g| {
                let t = match (g.advances, g.done) {
                    (true, _) => l.framework.noise_cond.noise_cond(g.level.lam),
                    (false, true) => 0.0,
                    (false, false) => 999.0,
                };
                format!("{t:>4.0}{}", if g.advances { "*" } else { " " })
            })
            .collect();
        println!("call {:>2}: {}", req.row, row.join(" "));
        // A toy transformer: every frame's velocity pulls it toward the previous frame's
        // current latents (the context diffusion forcing gives the model).
        let v: Vec<f64> = (0..req.x.len())
            .map(|i| {
                let prev = if i >= per { req.x[i - per] } else { 0.0 };
                0.5 * (req.x[i] - prev)
            })
            .collect();
        run.feed(&l.framework.target, &v)?;
    }
    let x = run.into_x();
    println!(
        "final frames (first element of each): {:?}",
        x.chunks(per)
            .map(|f| (f[0] * 1e3).round() / 1e3)
            .collect::<Vec<_>>()
    );
    Ok(())
}
