//! `gdf::interop::torch` against torch 2.15's CPU generator (`tests/torch/golden.json`, made by
//! `tests/torch/gen.py` on an x86 CPU with AVX-512): every case seeds a generator and replays
//! its successive `torch.randn` calls, float32 bit for bit (torch's x86 Box–Muller), float16
//! and bfloat16 as the float32 numbers rounded, float64 bit for bit. `portable.json` is the
//! same script under `ATEN_CPU_CAPABILITY=default` (torch's portable transform): within 2e-6.
//! The `pipelines` cases run a diffusers scheduler loop on a seed, as a pipeline does; the
//! loaded scheduler with the generator's latents and `TorchNoise` ends where diffusers did.

use gdf::interop::diffusers::{load, PipelineKind};
use gdf::interop::torch::TorchGenerator;
use gdf::interop::torch::{TorchDtype, TorchNoise};
use gdf::solver::Run;
use serde_json::Value;

fn load_file(name: &str) -> Value {
    let path = format!("{}/tests/torch/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).expect(&path)
}

/// Every call of every case: (case id, dtype, ours, torch's).
fn replay(file: &Value) -> Vec<(String, String, Vec<f64>, Vec<f64>)> {
    let mut out = Vec::new();
    for case in file["cases"].as_array().unwrap() {
        let seed = case["seed"].as_u64().unwrap();
        let dtype = case["dtype"].as_str().unwrap();
        let mut g = TorchGenerator::new(seed);
        for (k, (n, want)) in case["sizes"]
            .as_array()
            .unwrap()
            .iter()
            .zip(case["calls"].as_array().unwrap())
            .enumerate()
        {
            let n = n.as_u64().unwrap() as usize;
            let dt = match dtype {
                "float32" => TorchDtype::Float32,
                "float16" => TorchDtype::Float16,
                "bfloat16" => TorchDtype::BFloat16,
                "float64" => TorchDtype::Float64,
                other => panic!("unsupported dtype {other}"),
            };
            let got = g.randn(n, dt);
            let want: Vec<f64> = want
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            out.push((
                format!("seed {seed} call {k} ({n} values)"),
                dtype.to_string(),
                got,
                want,
            ));
        }
    }
    out
}

#[test]
fn randn_matches_torch_x86_bit_for_bit() {
    let file = load_file("golden.json");
    let mut calls = 0;
    for (id, dtype, got, want) in replay(&file) {
        assert_eq!(got.len(), want.len(), "{id}");
        let bad: Vec<(usize, f64, f64)> = got
            .iter()
            .zip(&want)
            .enumerate()
            .filter(|(_, (g, w))| g.to_bits() != w.to_bits())
            .map(|(i, (g, w))| (i, *g, *w))
            .collect();
        assert!(
            bad.is_empty(),
            "{id} {dtype}: {} differ, first {:?}",
            bad.len(),
            &bad[..bad.len().min(5)]
        );
        calls += 1;
    }
    assert!(calls >= 15, "{calls} calls");
}

#[test]
fn randn_is_within_2e_6_of_torch_portable() {
    let file = load_file("portable.json");
    assert_eq!(file["cpu_capability"], "DEFAULT");
    for (id, dtype, got, want) in replay(&file) {
        // bfloat16 keeps 8 bits: a 2e-6 move can flip one rounding.
        let tol = match dtype.as_str() {
            "bfloat16" => 2f64.powi(-7) * 4.0,
            "float16" => 2f64.powi(-10) * 4.0,
            _ => 2e-6,
        };
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= tol * w.abs().max(1.0),
                "{id} {dtype}[{i}]: {g} vs {w}"
            );
        }
    }
}

#[test]
fn seeded_diffusers_loops_are_reproduced() {
    let file = load_file("golden.json");
    let pipelines = file["pipelines"].as_array().unwrap();
    assert!(pipelines.len() >= 4);
    for p in pipelines {
        let id = p["id"].as_str().unwrap();
        let config = p["config"].to_string();
        let l = load(&config, PipelineKind::StableDiffusion).unwrap();
        let levels = l.grid(p["steps"].as_u64().unwrap() as usize).unwrap();
        let grid = l.solver_grid(&levels).unwrap();
        let shape: Vec<usize> = p["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let (batch, n) = (shape[0], shape.iter().product::<usize>());
        let per = n / batch;
        // The pipeline's latents: randn_tensor(shape, generator) · init_noise_sigma, in the
        // scheduler's frame; gdf's native sample is that over the frame's scale.
        let mut g = TorchGenerator::new(p["seed"].as_u64().unwrap());
        let sigma0 = levels.init_noise_sigma.unwrap_or(1.0);
        let scale0 = l.latent_scale(levels.logsnr[0]);
        let x: Vec<f32> = g
            .randn(n, TorchDtype::Float32)
            .iter()
            .map(|&z| (z * sigma0 / scale0) as f32)
            .collect();
        let noise = TorchNoise::new(g, batch, per, TorchDtype::Float32);
        let mut run = Run::new(l.solver.clone(), grid, x, batch, noise).unwrap();
        let w: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f64 / 50.0 - 1.0) as f32)
            .collect();
        let mut eps = vec![0f32; n];
        while let Some(req) = run.next_eval().unwrap() {
            // The network sees scale_model_input(latents): the native (VP) sample.
            for ((e, &x), &w) in eps.iter_mut().zip(req.x).zip(&w) {
                *e = 0.3 * x + w;
            }
            run.feed(&l.framework.target, &eps).unwrap();
        }
        let last = *levels.logsnr.last().unwrap();
        let got: Vec<f64> = run
            .x()
            .iter()
            .map(|&v| v as f64 * l.latent_scale(last))
            .collect();
        let want: Vec<f64> = p["x"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            // float32 on both sides; a wrong draw moves the result by O(1).
            assert!(
                (g - w).abs() <= 2e-5 * scale,
                "{id}[{i}]: gdf {g}, diffusers {w}"
            );
        }
    }
}
