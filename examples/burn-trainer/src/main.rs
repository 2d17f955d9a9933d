//! `burn-trainer`: trains an MLP denoiser on gdf's 2-D Gaussian mixture with burn, then
//! samples it with one of gdf's solvers beside the mixture's exact denoiser.
//!
//! ```text
//! burn-trainer [--config FILE] [--checkpoint DIR] [--resume] [--steps N] [--points N] [--teacher DIR]
//! ```
//!
//! * `--config`: the TOML config (default: the crate's `config.toml`);
//! * `--checkpoint`: where checkpoints go (default `burn-trainer-checkpoint`);
//! * `--resume`: continue the run saved in the checkpoint directory;
//! * `--steps` / `--points`: override the config's training steps / sampled points;
//! * `--teacher`: with `[distillation]`, distil the diffusion model trained in that checkpoint
//!   directory instead of the mixture's exact denoiser.
//!
//! It prints each sampling run's errors of the mixture's weights, means and covariances
//! (`sampled … : weights W means M covs C`; a consistency model at one step and at the
//! config's steps), then the same errors with the mixture's exact denoiser; for a
//! consistency model also the distance of its one-step samples from the probability-flow
//! ODE's endpoints from the same noise.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use burn_trainer::{mixture, sample_exact, Config, SampleConfig, Trainer};
use gdf_burn::SolverSpec;

/// A one-line `\r` progress bar on stderr.
struct Bar {
    label: &'static str,
    start: Instant,
    last: Option<Instant>,
}

impl Bar {
    fn new(label: &'static str) -> Self {
        Self {
            label,
            start: Instant::now(),
            last: None,
        }
    }

    fn show(&mut self, done: u64, total: u64, extra: &str) {
        let now = Instant::now();
        let due = self
            .last
            .is_none_or(|l| now.duration_since(l).as_millis() >= 200);
        if !due && done < total {
            return;
        }
        self.last = Some(now);
        const W: usize = 30;
        let f = done as f64 / total.max(1) as f64;
        let fill = ((f * W as f64) as usize).min(W);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{:<9}[{}{}] {done:>6}/{total} {:>5.1} s {extra}",
            self.label,
            "#".repeat(fill),
            " ".repeat(W - fill),
            self.start.elapsed().as_secs_f64()
        );
        if done >= total {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

fn arg_value(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(bad) = args.iter().find(|a| {
        a.starts_with("--")
            && ![
                "--config",
                "--checkpoint",
                "--resume",
                "--steps",
                "--points",
                "--teacher",
            ]
            .contains(&a.as_str())
    }) {
        return Err(format!("unknown option `{bad}`; options: --config FILE, --checkpoint DIR, --resume, --steps N, --points N, --teacher DIR").into());
    }
    let config_path = arg_value(&args, "--config")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config.toml"));
    let ckpt = PathBuf::from(
        arg_value(&args, "--checkpoint").unwrap_or_else(|| "burn-trainer-checkpoint".into()),
    );
    let mut config = Config::load(&config_path)?;
    if let Some(s) = arg_value(&args, "--steps") {
        config.train.steps = s.parse().map_err(|e| format!("--steps `{s}`: {e}"))?;
    }
    if let Some(s) = arg_value(&args, "--points") {
        config.sample.points = s.parse().map_err(|e| format!("--points `{s}`: {e}"))?;
    }
    let resume = args.iter().any(|a| a == "--resume");

    println!("framework: {}", config.framework);
    let mut trainer = if resume {
        let t = Trainer::load(config.clone(), &ckpt)?;
        println!("resumed from {} at step {}", ckpt.display(), t.steps.step);
        t
    } else {
        Trainer::new(config.clone())
    };
    if let Some(dir) = arg_value(&args, "--teacher") {
        trainer.distil_from(std::path::Path::new(&dir))?;
        println!("teacher: the diffusion model in {dir}");
    }
    let total = config.train.steps;
    let tc = &config.train;
    println!(
        "training: {total} steps of {} points, Adam lr {} → {} (cosine), ndarray backend",
        tc.batch, tc.lr, tc.lr_min
    );
    let t0 = Instant::now();
    let mut bar = Bar::new("train");
    // The mean loss of the last full 100-step window (of the steps so far before the first).
    let mut window = (0.0f64, 0u32);
    let mut shown: Option<f32> = None;
    while trainer.steps.step < total {
        let r = trainer.step()?;
        window.0 += f64::from(r.loss);
        window.1 += 1;
        if window.1 == 100 {
            shown = Some((window.0 / 100.0) as f32);
            window = (0.0, 0);
        }
        let done = trainer.steps.step;
        if done % tc.checkpoint_every == 0 || done == total {
            trainer.save(&ckpt)?;
        }
        let loss = shown.unwrap_or((window.0 / f64::from(window.1.max(1))) as f32);
        bar.show(done, total, &format!("loss {loss:.4}"));
    }
    let train_s = t0.elapsed().as_secs_f64();
    println!(
        "trained in {train_s:.1} s; checkpoint in {}",
        ckpt.display()
    );

    let sc = &config.sample;
    let gm = mixture();
    // A consistency model also samples in one step; its reference is the exact denoiser with
    // DPM++ 2M (the consistency sampler on an exact denoiser gives posterior means, not samples).
    let mut runs = vec![sc.spec.clone()];
    let mut reference = sc.clone();
    if config.student().is_some() {
        if sc.spec.steps != 1 {
            runs.insert(
                0,
                SolverSpec {
                    steps: 1,
                    ..sc.spec.clone()
                },
            );
        }
        reference.spec = SolverSpec {
            solver: "dpmpp_2m".into(),
            steps: 50,
            seed: sc.spec.seed,
        };
    }
    let scale = config.frame_scale();
    let mut first = None;
    for spec in &runs {
        let mut bar = Bar::new("sample");
        let t1 = Instant::now();
        let x = trainer.sample_with(spec, |d, n| bar.show(d as u64, n as u64, ""))?;
        let sample_s = t1.elapsed().as_secs_f64();
        let e = gm.errors(&gm.stats(&x));
        println!(
            "sampled {} points with {} ({} steps) in {sample_s:.1} s: weights {:.4} means {:.4} covs {:.4}",
            sc.points, spec.solver, spec.steps, e.0, e.1, e.2
        );
        first.get_or_insert(x);
    }
    let exact = sample_exact(&trainer.gdf, &reference, &gm, scale)?;
    let ex = gm.errors(&gm.stats(&exact));
    println!(
        "exact denoiser, {} ({} steps): weights {:.4} means {:.4} covs {:.4}",
        reference.spec.solver, reference.spec.steps, ex.0, ex.1, ex.2
    );
    if let (Some(_), Some(one)) = (config.student(), &first) {
        // The probability-flow ODE's endpoint from the same initial noise (the seed's), with
        // the exact denoiser: what the one-step map should give.
        let ode = SampleConfig {
            spec: SolverSpec {
                solver: "dpmpp_2m".into(),
                steps: 100,
                seed: sc.spec.seed,
            },
            ..sc.clone()
        };
        let end = sample_exact(&trainer.gdf, &ode, &gm, scale)?;
        let mut d: Vec<f64> = one
            .chunks(2)
            .zip(end.chunks(2))
            .map(|(p, q)| f64::from(p[0] - q[0]).hypot(f64::from(p[1] - q[1])))
            .collect();
        d.sort_by(f64::total_cmp);
        println!(
            "one step vs the ODE's endpoint from the same noise (exact denoiser, dpmpp_2m, 100 steps): median distance {:.3}, 90th percentile {:.3}",
            d[d.len() / 2],
            d[d.len() * 9 / 10]
        );
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("burn-trainer: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
