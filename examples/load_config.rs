//! Loads a diffusers `scheduler_config.json` from disk and prints what gdf made of it: the
//! framework as `gdf!` text, the solver, the grid as a table, and the approximations.
//!
//! ```sh
//! cargo run --example load_config -- examples/configs/sdxl.json            # 10 steps
//! cargo run --example load_config -- examples/configs/flux-dev.json flux:4096 8
//! cargo run --example load_config -- examples/configs/sd3.json sd3 8
//! cargo run --example load_config -- examples/configs/stable-cascade.json cascade:2 10
//! cargo run --example load_config -- examples/configs/sdxl.json sd 4 --as LCMScheduler
//! cargo run --example load_config -- examples/configs/dance-diffusion.json sd 10
//! cargo run --example load_config -- examples/configs/sana-sprint.json sprint 2
//! cargo run --example load_config -- examples/configs/minimax-h3.json sd3 12
//! cargo run --example load_config -- examples/configs/cd-imagenet64.json sd 2
//! cargo run --example load_config -- examples/configs/mochi.json mochi 12
//! ```
//!
//! The second argument is the pipeline (`sd` by default; `sd3`, `sd3:<image_seq_len>`,
//! `flux:<image_seq_len>`, `cascade`, `cascade:<shift>`, `sprint` for SANA-Sprint's default
//! angles, `sprint:<max_timesteps>` without an intermediate angle, `mochi` for Mochi's
//! linear-quadratic sigmas, `mochi:<threshold_noise>`), the third the number of
//! steps;
//! `--as <Class>` reads the config as another scheduler class, as diffusers'
//! `Class.from_config(pipe.scheduler.config)` does (`load_as`).

use gdf::interop::diffusers::{load, load_as, LatentFrame, PipelineKind};
use gdf::noise_cond::NoiseCond;
use gdf::scaler::Scaler;
use gdf::solver::Solver;

fn pipeline(arg: &str) -> Result<PipelineKind, String> {
    let (name, val) = match arg.split_once(':') {
        Some((n, v)) => (
            n,
            Some(
                v.parse::<f64>()
                    .map_err(|e| format!("pipeline {arg:?}: {e}"))?,
            ),
        ),
        None => (arg, None),
    };
    Ok(match (name, val) {
        ("sd", None) => PipelineKind::StableDiffusion,
        ("sd3", v) => PipelineKind::Sd3 { image_seq_len: v },
        ("flux", Some(v)) => PipelineKind::Flux { image_seq_len: v },
        ("cascade", v) => PipelineKind::StableCascade {
            shift: v.unwrap_or(1.0),
        },
        ("sprint", None) => PipelineKind::SANA_SPRINT,
        ("sprint", Some(m)) => PipelineKind::SanaSprint {
            max_timesteps: m,
            intermediate_timesteps: None,
        },
        ("mochi", None) => PipelineKind::MOCHI,
        ("mochi", Some(t)) => PipelineKind::Mochi {
            threshold_noise: t,
            linear_steps: None,
        },
        _ => {
            return Err(format!(
                "unknown pipeline {arg:?}: expected sd, sd3[:seq_len], flux:<seq_len>, \
                 cascade[:shift], sprint[:max_timesteps], mochi[:threshold_noise]"
            ))
        }
    })
}

/// The declaration with every list longer than 6 numbers shortened to its ends (the loaded
/// tables have one number per training step).
fn abbreviate(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find(']') else {
            break;
        };
        let inner = &rest[open + 1..open + close];
        let items: Vec<&str> = inner.split(", ").collect();
        if items.len() > 6 {
            out.push_str(&format!(
                "[{}, {}, {}, …, {}, {}] ({} values)",
                items[0],
                items[1],
                items[2],
                items[items.len() - 2],
                items[items.len() - 1],
                items.len()
            ));
        } else {
            out.push_str(&rest[open..=open + close]);
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const USAGE: &str =
        "usage: load_config <scheduler_config.json> [pipeline] [steps] [--as <Class>]";
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let class = match args.iter().position(|a| a == "--as") {
        Some(i) if i + 1 < args.len() => {
            let c = args.remove(i + 1);
            args.remove(i);
            Some(c)
        }
        Some(_) => return Err(USAGE.into()),
        None => None,
    };
    let path = args.first().ok_or(USAGE)?;
    let kind = pipeline(args.get(1).map_or("sd", String::as_str))?;
    let steps: usize = args.get(2).map_or(Ok(10), |s| s.parse())?;
    let json = std::fs::read_to_string(path)?;
    let loaded = match &class {
        Some(c) => load_as(&json, c, kind)?,
        None => load(&json, kind)?,
    };

    println!("{path}: {} for {kind:?}", loaded.class_name);
    println!(
        "\nframework (gdf! text; long tables shortened here):\n  {}",
        abbreviate(&loaded.framework.to_string())
    );
    println!(
        "\nsolver: {} ({})",
        loaded.solver.name(),
        abbreviate(&format!("{:?}", loaded.solver))
    );
    println!("model timestep: {:?}", loaded.timestep);
    println!("latents: {:?}", loaded.frame);
    println!("threshold: {:?}", loaded.threshold);

    let grid = loaded.grid(steps)?;
    let ts = grid
        .timesteps
        .as_ref()
        .map(|t| t.to_f64())
        .unwrap_or_default();
    println!(
        "\ngrid, {steps} steps (timestep: the scheduler's; noise cond: the framework's at λ):\n"
    );
    println!(
        "{:>4} {:>12} {:>12} {:>12} {:>11} {:>11} {:>12}",
        "step", "timestep", "sigma", "logSNR", "a", "b", "noise cond"
    );
    for (i, &lam) in grid.logsnr.iter().enumerate() {
        let (a, b) = loaded.framework.scaler.ab(lam);
        let (t, nc) = if i < ts.len() {
            (
                format!("{:.6}", ts[i]),
                format!("{:.6}", loaded.framework.noise_cond.noise_cond(lam)),
            )
        } else {
            ("(end)".into(), "".into())
        };
        // EDM's σ in data units; the other grids' sigmas as their scheduler lists them.
        let sigma_scale = match loaded.frame {
            LatentFrame::Edm { sigma_data } => sigma_data,
            _ => 1.0,
        };
        println!(
            "{i:>4} {t:>12} {:>12.6} {:>12.6} {a:>11.6} {b:>11.6} {nc:>12}",
            grid.sigmas[i] * sigma_scale,
            lam
        );
    }
    if !loaded.approximations.is_empty() {
        println!("\napproximations:");
        for a in &loaded.approximations {
            println!("  - {a}");
        }
    }
    if !loaded.ignored.is_empty() {
        println!(
            "\nignored (not read by {}, as in diffusers): {}",
            loaded.class_name,
            loaded.ignored.join(", ")
        );
    }
    Ok(())
}
