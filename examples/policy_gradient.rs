//! Policy-gradient fine-tuning in the style of Flow-GRPO, on a toy: rollouts with Flow-GRPO's
//! SDE sampler (`FlowSde`), per-step transition log-probabilities from `gaussian_steps`, and
//! group-normalised advantages, steering a pretrained flow model toward a reward.
//!
//! The "pretrained model" is the exact velocity of a 2-D Gaussian mixture (three clusters); the
//! policy adds a learned push `θ` that fades with the noise level, `v_θ(x, s) = v*(x, s) + s²·θ`
//! (it steers which cluster a sample heads for and leaves the last steps to the model). The
//! reward is the negative squared distance of the sample to the first cluster's centre. Each
//! iteration samples a group of rollouts, normalises their rewards into advantages, and takes a
//! gradient step on `Σ_k A·log p(x_{k+1} | x_k)`, whose derivative in `θ` is exact here:
//! `∂ log p/∂θ_j = c_p·s²·(x'_j − μ_j)/(std²·2)` with `[c_x, c_p]` = `for_prediction`.
//!
//! What it shows: with nothing but the sampler's own transition densities, the mean reward
//! rises from −5.3 to about −0.3 in 25 iterations of 256 rollouts, and the share of samples
//! within 0.5 of the goal from 0.21 to about 0.6 (a push that only fades with the noise level
//! cannot separate the clusters completely).
//!
//! Run: `cargo run --release --example policy_gradient`.

use gdf::interop::diffusers::{load, PipelineKind};
use gdf::solver::{gaussian_steps, CounterNoise, FlowSde, Run};
use gdf::toy::GaussianMixture2;
use gdf::GdfError;

const GROUP: usize = 256;
const ITERATIONS: usize = 40;
const LR: f64 = 3.0;

fn main() -> Result<(), GdfError> {
    let blob = |s: f64| [[s, 0.0], [0.0, s]];
    let data = GaussianMixture2::new(
        vec![0.2, 0.4, 0.4],
        vec![[1.5, 1.0], [1.5, -1.0], [-1.5, 0.0]],
        vec![blob(0.05), blob(0.05), blob(0.05)],
    )?;
    let goal = [1.5, 1.0];
    let sd3 = load(
        r#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0}"#,
        PipelineKind::Sd3 {
            image_seq_len: None,
        },
    )?;
    let target = sd3.framework.target;
    let grid = sd3.solver_grid(&sd3.grid(12)?)?;
    let sde = FlowSde::new(0.7)?;
    let steps = gaussian_steps(&sde, &grid)?;
    let mut theta = [0.0f64; 2];
    println!("| iteration | mean reward | share near the goal | θ |");
    println!("|---|---|---|---|");
    for it in 0..ITERATIONS {
        // The rollouts: record each step's (x, v_θ, x').
        let x_init: Vec<f64> = (0..GROUP * 2)
            .map(|i| {
                let p = gdf::noise::Purpose::Init;
                f64::from(gdf::noise::normal(1000 + it as u64, p, 0, 0, i as u64))
            })
            .collect();
        let mut run = Run::new(
            sde.clone(),
            grid.clone(),
            x_init,
            GROUP,
            CounterNoise::new(it as u64),
        )?;
        let mut record = Vec::new();
        while let Some(req) = run.next_eval()? {
            let (lv, k, x) = (req.level, req.step, req.x.to_vec());
            let v: Vec<f64> = x
                .chunks(2)
                .flat_map(|p| {
                    let d = data.denoise([p[0], p[1]], lv.a, lv.b);
                    // The flow velocity ε − x0 with x = (1 − s)·x0 + s·ε, plus the bias.
                    let push = lv.b * lv.b;
                    [
                        (p[0] - d[0]) / lv.b + push * theta[0],
                        (p[1] - d[1]) / lv.b + push * theta[1],
                    ]
                })
                .collect();
            run.feed(&target, &v)?;
            record.push((k, x, v, run.x().to_vec()));
        }
        let x0 = run.into_x();
        let rewards: Vec<f64> = x0
            .chunks(2)
            .map(|p| -((p[0] - goal[0]).powi(2) + (p[1] - goal[1]).powi(2)))
            .collect();
        let mean = rewards.iter().sum::<f64>() / GROUP as f64;
        let sd = (rewards.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / GROUP as f64).sqrt();
        let near = rewards.iter().filter(|&&r| r > -0.25).count() as f64 / GROUP as f64;
        if it % 5 == 0 || it + 1 == ITERATIONS {
            println!(
                "| {it} | {mean:.3} | {near:.2} | [{:.3}, {:.3}] |",
                theta[0], theta[1]
            );
        }
        // The policy gradient: Σ_s A_s · Σ_k ∂ log p(x'_s | x_s)/∂θ, averaged over the group.
        let mut grad = [0.0f64; 2];
        for (k, x, v, xn) in &record {
            let g = &steps[*k];
            let [c_x, c_p] = g.for_prediction(&target)?;
            let inv = c_p * g.level.b * g.level.b / (g.std * g.std * 2.0);
            for (s, r) in rewards.iter().enumerate() {
                let adv = (r - mean) / (sd + 1e-8);
                for (j, gj) in grad.iter_mut().enumerate() {
                    let e = 2 * s + j;
                    let mu = c_x * x[e] + c_p * v[e];
                    *gj += adv * (xn[e] - mu) * inv / GROUP as f64;
                }
            }
        }
        theta[0] += LR * grad[0];
        theta[1] += LR * grad[1];
    }
    Ok(())
}
