//! Brownian-tree noise (`BrownianNoise`, SPEC-solvers §0.6): each draw is an exact N(0, 1)
//! increment of one fixed Brownian path in σ, so increments over disjoint intervals are
//! independent, overlapping ones correlate as `sqrt(overlap/length)`, increments add up along
//! the path, and SDE samples at growing step counts converge to one another (strongly), which
//! fresh per-step noise never does.

use gdf::scaler::Vp;
use gdf::solver::*;
use gdf::GdfError;

const MU: f64 = 0.5;
const S: f64 = 0.5;

/// The level of VE noise level σ.
fn lvl(sigma: f64) -> Level {
    let a = 1.0 / (1.0 + sigma * sigma).sqrt();
    Level {
        a,
        b: sigma * a,
        lam: -2.0 * sigma.ln(),
    }
}

/// Announces one used draw over `[from, to]` and fills `n` elements of sample 0.
fn draw(noise: &mut BrownianNoise, k: usize, from: f64, to: f64, n: usize) -> Vec<f64> {
    let info = DrawInfo {
        draw: k,
        step: k,
        used: true,
        span: Some(Span {
            from: lvl(from),
            to: lvl(to),
        }),
    };
    NoiseSource::<f64>::on_draw(noise, info).unwrap();
    let mut out = vec![0.0; n];
    noise.fill(k, k, 0, 0, &mut out).unwrap();
    out
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn cov(u: &[f64], v: &[f64]) -> f64 {
    let (mu, mv) = (mean(u), mean(v));
    u.iter()
        .zip(v)
        .map(|(a, b)| (a - mu) * (b - mv))
        .sum::<f64>()
        / u.len() as f64
}

/// The exact denoiser of N(MU, S²) data.
fn gauss(x: &[f64], l: Level, d: &mut [f64]) -> Result<(), GdfError> {
    for (d, &x) in d.iter_mut().zip(x) {
        *d = (S * S * l.a * x + l.b * l.b * MU) / (S * S * l.a * l.a + l.b * l.b);
    }
    Ok(())
}

/// An exponential grid (linear in λ) from σ = 20 to σ = 0.02, then to λ = +∞.
fn grid(steps: usize) -> Grid {
    let (l0, l1) = (-2.0 * 20f64.ln(), -2.0 * 0.02f64.ln());
    let mut lams: Vec<f64> = (0..steps)
        .map(|i| l0 + (l1 - l0) * i as f64 / (steps - 1) as f64)
        .collect();
    lams.push(f64::INFINITY);
    Grid::new(&Vp, &lams).unwrap()
}

/// The final samples of `solver` at `steps` from one fixed x_T.
fn sample(solver: AnySolver, steps: usize, brownian: bool, n: usize) -> Vec<f64> {
    let g = grid(steps);
    let x: Vec<f64> = (0..n)
        .map(|i| gdf::noise::normal(3, gdf::noise::Purpose::Init, 0, 0, i as u64) as f64)
        .map(|z| z * (1.0 + 400.0f64 * S * S).sqrt() / (1.0f64 + 400.0).sqrt() + MU / 401f64.sqrt())
        .collect();
    if brownian {
        let noise = BrownianNoise::for_grid(11, &g).unwrap();
        Run::new(solver, g, x, 1, noise)
            .unwrap()
            .run(gauss)
            .unwrap()
    } else {
        Run::new(solver, g, x, 1, CounterNoise::new(11))
            .unwrap()
            .run(gauss)
            .unwrap()
    }
}

fn rms(u: &[f64], v: &[f64]) -> f64 {
    (u.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / u.len() as f64).sqrt()
}

fn sde_solvers() -> Vec<(&'static str, AnySolver)> {
    let sde_pp = DpmSolverMultistep::with(DpmSolverSettings {
        algorithm: DpmAlgorithm::SdeDpmSolverPP,
        ..Default::default()
    })
    .unwrap();
    vec![
        ("dpmpp_2m_sde", DpmPP2MSde::new().into()),
        ("dpmpp_3m_sde", DpmPP3MSde::new().into()),
        ("dpmpp_sde", DpmPPSde::new().into()),
        (
            "dpmpp_sde correlated",
            DpmPPSde::new().correlated(true).into(),
        ),
        ("sde-dpmsolver++", sde_pp.into()),
    ]
}

#[test]
fn sde_samples_converge_across_step_counts_only_with_brownian_noise() {
    // Halving the step converges the Brownian runs at strong order 1 (RMS distances measured
    // for 2M SDE: 0.125, 0.054, 0.023, 0.011; DPM++ SDE: 0.182, 0.105, 0.059, 0.031); fresh
    // noise leaves them O(s) apart (0.48 to 0.67).
    let counts = [10, 20, 40, 80, 160];
    for (name, solver) in sde_solvers() {
        for brownian in [true, false] {
            let runs: Vec<Vec<f64>> = counts
                .iter()
                .map(|&n| sample(solver.clone(), n, brownian, 256))
                .collect();
            let d: Vec<f64> = runs.windows(2).map(|w| rms(&w[0], &w[1])).collect();
            if brownian {
                for w in d.windows(2) {
                    assert!(w[1] < 0.65 * w[0], "{name}: distances {d:?} do not shrink");
                }
                assert!(d[3] < 0.04, "{name}: 80 vs 160 steps {d:?}");
            } else {
                assert!(d.iter().all(|&e| e > 0.3), "{name}: fresh noise {d:?}");
            }
        }
    }
}

#[test]
fn brownian_sde_samples_have_the_data_law() {
    // 2M SDE at 50 steps from the exact marginal at σ = 20: mean MU and spread S
    // (Monte Carlo over 10000 elements: 5 standard errors).
    let n = 10_000;
    let x = sample(DpmPP2MSde::new().into(), 50, true, n);
    let (m, sd) = (mean(&x), cov(&x, &x).sqrt());
    assert!(
        (m - MU).abs() < 5.0 * S / (n as f64).sqrt() + 2e-3,
        "mean {m}"
    );
    assert!(
        (sd - S).abs() < 5.0 * S / (2.0 * n as f64).sqrt() + 5e-3,
        "std {sd}"
    );
}

#[test]
fn correlated_dpmpp_sde_is_the_same_path() {
    // With the first draw reused, DPM++ SDE's second draw is the increment over [σ_s, σ'];
    // over one Brownian path the result is the plain run's, up to rounding (SPEC §2.5).
    for steps in [7, 30] {
        let a = sample(DpmPPSde::new().into(), steps, true, 64);
        let b = sample(DpmPPSde::new().correlated(true).into(), steps, true, 64);
        assert!(rms(&a, &b) < 1e-9, "{steps} steps: {}", rms(&a, &b));
    }
}

#[test]
fn increments_are_exact_standard_normals() {
    let n = 100_000;
    let tol_m = 5.0 / (n as f64).sqrt();
    let tol_v = 5.0 * (2.0 / n as f64).sqrt();
    let mut w = BrownianNoise::new(5, 0.02, 20.0).unwrap();
    // Non-dyadic ends, a disjoint pair, their union, a tiny interval deep in the tree, and
    // an interval reaching σ = ∞ (outside the tree).
    let a = draw(&mut w, 0, 10.0, 3.7, n);
    let b = draw(&mut w, 1, 3.7, 0.4, n);
    let c = draw(&mut w, 2, 10.0, 0.4, n);
    let tiny = draw(&mut w, 3, 0.5000013, 0.5, n);
    let open = draw(&mut w, 4, f64::INFINITY, 20.0, n);
    // Two points in different leaves, two leaves apart: exact only with each leaf's bridge.
    let leaf = (20.0 - 0.02) / 2f64.powi(BrownianNoise::DEPTH as i32);
    let sub = draw(&mut w, 5, 0.02 + 3.5 * leaf, 0.02 + 1.5 * leaf, n);
    let cases = [
        ("a", &a),
        ("b", &b),
        ("c", &c),
        ("tiny", &tiny),
        ("open", &open),
        ("sub-leaf", &sub),
    ];
    for (what, v) in cases {
        assert!(mean(v).abs() < tol_m, "{what}: mean {}", mean(v));
        assert!((cov(v, v) - 1.0).abs() < tol_v, "{what}: var {}", cov(v, v));
    }
    // Disjoint intervals are independent; nested ones correlate as sqrt(len ratio).
    assert!(cov(&a, &b).abs() < tol_m, "cov(a, b) {}", cov(&a, &b));
    assert!(cov(&a, &tiny).abs() < tol_m);
    assert!(cov(&c, &open).abs() < tol_m);
    let ca = (6.3f64 / 9.6).sqrt();
    assert!(
        (cov(&a, &c) - ca).abs() < tol_v,
        "cov(a, c) {}",
        cov(&a, &c)
    );
    // One path: the increments add up exactly (up to rounding).
    for i in 0..n {
        let sum = a[i] * 6.3f64.sqrt() + b[i] * 3.3f64.sqrt();
        assert!((c[i] * 9.6f64.sqrt() - sum).abs() < 1e-9, "element {i}");
    }
}

#[test]
fn many_small_increments_telescope() {
    // 500 consecutive pieces of [1, 2] sum to the whole increment, and each is N(0, 1).
    let n = 2000;
    let mut w = BrownianNoise::new(9, 0.5, 3.0).unwrap();
    let whole = draw(&mut w, 0, 2.0, 1.0, n);
    let mut sum = vec![0.0; n];
    let mut var = 0.0;
    let pieces = 500;
    for k in 0..pieces {
        let (s0, s1) = (
            2.0 - k as f64 / pieces as f64,
            2.0 - (k + 1) as f64 / pieces as f64,
        );
        let d = draw(&mut w, k + 1, s0, s1, n);
        var += cov(&d, &d) / pieces as f64;
        for (s, d) in sum.iter_mut().zip(&d) {
            *s += d * (s0 - s1).sqrt();
        }
    }
    assert!((var - 1.0).abs() < 0.01, "mean piece variance {var}");
    for (s, w) in sum.iter().zip(&whole) {
        assert!((s - w).abs() < 1e-9);
    }
}

#[test]
fn draws_do_not_depend_on_chunking_or_batch_position() {
    let mut w = BrownianNoise::new(1, 0.1, 10.0).unwrap();
    let whole = draw(&mut w, 0, 5.0, 2.5, 1000);
    let mut parts = vec![0.0; 1000];
    let (lo, hi) = parts.split_at_mut(333);
    w.fill(0, 0, 0, 0, lo).unwrap();
    w.fill(0, 0, 0, 333, hi).unwrap();
    assert_eq!(whole, parts);
    // Sample 2 of a batch is sample 0 of a batch that starts at 2.
    let mut s2 = vec![0.0; 100];
    w.fill(0, 0, 2, 0, &mut s2).unwrap();
    let mut shifted = BrownianNoise::new(1, 0.1, 10.0).unwrap().first_sample(2);
    let t = draw(&mut shifted, 0, 5.0, 2.5, 100);
    assert_eq!(s2, t);
    assert_ne!(&whole[..100], &s2[..]);
    // f32 draws are the f64 ones, rounded.
    let mut f = vec![0f32; 1000];
    w.fill(0, 0, 0, 0, &mut f).unwrap();
    for (f, d) in f.iter().zip(&whole) {
        assert!((*f as f64 - d).abs() < 1e-5 * (1.0 + d.abs()));
    }
}

#[test]
fn bad_ranges_and_fresh_draws_are_refused() {
    let err = |r: Result<BrownianNoise, GdfError>| r.unwrap_err().to_string();
    assert!(err(BrownianNoise::new(0, 0.0, 1.0)).contains("sigma_min"));
    assert!(err(BrownianNoise::new(0, 2.0, 1.0)).contains("sigma_max"));
    assert!(err(BrownianNoise::new(0, 0.1, f64::INFINITY)).contains("sigma_max"));
    let only_ends = Grid::new(&Vp, &[f64::NEG_INFINITY, f64::INFINITY]).unwrap();
    assert!(err(BrownianNoise::for_grid(0, &only_ends)).contains("finite nonzero"));
    // A span outside the tree.
    let mut w = BrownianNoise::new(0, 0.1, 1.0).unwrap();
    let info = DrawInfo {
        draw: 0,
        step: 0,
        used: true,
        span: Some(Span {
            from: lvl(2.0),
            to: lvl(0.5),
        }),
    };
    let e = NoiseSource::<f64>::on_draw(&mut w, info)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Brownian span") && e.contains('2'), "{e}");
    // Euler ancestral's draws are fresh noise, not increments: the run names the step.
    let g = grid(5);
    let noise = BrownianNoise::for_grid(0, &g).unwrap();
    let e = Run::new(EulerAncestral::new(), g, vec![0.0f64; 4], 1, noise)
        .unwrap()
        .run(gauss)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not a Brownian increment") && e.contains("step 0"),
        "{e}"
    );
    // Skipped draws are fine: diffusers' SDE-DPM-Solver++ draws and drops on its last step.
    let g = grid(5);
    let noise = BrownianNoise::for_grid(0, &g).unwrap();
    let sde = DpmSolverMultistep::with(DpmSolverSettings {
        algorithm: DpmAlgorithm::SdeDpmSolverPP,
        ..Default::default()
    })
    .unwrap();
    assert!(Run::new(sde, g, vec![0.0f64; 4], 1, noise)
        .unwrap()
        .run(gauss)
        .is_ok());
}

#[test]
fn a_loaded_dpm_solver_sde_scheduler_runs_on_brownian_noise() {
    use gdf::interop::diffusers::{load, PipelineKind};
    // diffusers draws this scheduler's noise from a seeded torchsde tree: gdf lists the seed
    // as an approximation and runs the same law on its own tree.
    let l = load(
        r#"{"_class_name": "DPMSolverSDEScheduler", "noise_sampler_seed": 42,
            "use_karras_sigmas": true}"#,
        PipelineKind::StableDiffusion,
    )
    .unwrap();
    assert!(l
        .approximations
        .iter()
        .any(|a| a.field == "noise_sampler_seed" && a.value == "42"));
    let levels = l.grid(12).unwrap();
    let grid = l.solver_grid(&levels).unwrap();
    let noise = BrownianNoise::for_grid(42, &grid).unwrap();
    let x: Vec<f64> = (0..64)
        .map(|i| gdf::noise::normal(1, gdf::noise::Purpose::Init, 0, 0, i) as f64)
        .collect();
    let run = Run::new(l.solver.clone(), grid, x, 1, noise).unwrap();
    assert_eq!(run.remaining_evals(), 23); // two per step, one on the step to σ = 0
    let out = run.run(gauss).unwrap();
    assert!(out.iter().all(|v| v.is_finite()));
}
