//! The sampling loop of `gdf::solver`: raw-prediction feeding through the framework's
//! targets, classifier-free guidance, counter noise streams, chunking and the NFE count.

use gdf::noise::{fill_normal, Purpose};
use gdf::prelude::*;
use gdf::scaler::{Lerp, Vp};
use gdf::solver::*;
use gdf::target::{Epsilon, RectifiedFlows, V, X0};

fn gauss_d(x: f64, l: Level, mu: f64, s: f64) -> f64 {
    (s * s * l.a * x + l.b * l.b * mu) / (s * s * l.a * l.a + l.b * l.b)
}

fn xs(n: usize) -> Vec<f64> {
    (0..n).map(|i| ((i as f64) * 0.731).sin() * 1.3).collect()
}

/// Runs `solver` feeding `target`'s raw prediction built from the exact D.
fn run_target<T: Target, S: Solver>(t: &T, solver: S, grid: &Grid) -> Vec<f64> {
    let mut run = Run::new(solver, grid.clone(), xs(6), 2, CounterNoise::new(3)).unwrap();
    let mut f = vec![0.0; 6];
    while let Some(req) = run.next_eval().unwrap() {
        let l = req.level;
        for (f, &x) in f.iter_mut().zip(req.x) {
            let d = gauss_d(x, l, 0.2, 0.8);
            let e = (x - l.a * d) / l.b;
            *f = t.target(d, e, l.a, l.b);
        }
        run.feed(t, &f).unwrap();
    }
    run.into_x()
}

#[test]
fn raw_predictions_through_targets_match_x0_feeding() {
    let g = Grid::new(&Vp, &[-5.0, -2.0, 0.0, 1.5, 4.0, 7.0]).unwrap();
    let want = run_target(&X0, DpmPP2M::new(), &g);
    for (name, got) in [
        ("eps", run_target(&Epsilon, DpmPP2M::new(), &g)),
        ("v", run_target(&V, DpmPP2M::new(), &g)),
    ] {
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-9, "{name}: {a} vs {b}");
        }
    }
    let g = Grid::new(&Lerp, &[f64::NEG_INFINITY, -2.0, 0.0, 3.0, f64::INFINITY]).unwrap();
    let want = run_target(&X0, FlowMatchEuler::new(), &g);
    let got = run_target(&RectifiedFlows, FlowMatchEuler::new(), &g);
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() < 1e-9, "rf: {a} vs {b}");
    }
}

#[test]
fn cfg_is_linear_in_d() {
    let g = Grid::new(&Vp, &[-5.0, -2.0, 0.0, 1.5, 4.0, 7.0]).unwrap();
    let w = 3.5;
    // Guided: ε-predictions of two Gaussian models; reference: x0-feed of u + w(c − u) on D.
    let mut a = Run::new(UniPc::new(), g.clone(), xs(6), 2, NoNoise).unwrap();
    let mut b = Run::new(UniPc::new(), g.clone(), xs(6), 2, NoNoise).unwrap();
    let (mut ec, mut eu, mut dd) = (vec![0.0; 6], vec![0.0; 6], vec![0.0; 6]);
    while let Some(req) = a.next_eval().unwrap() {
        let l = req.level;
        for j in 0..6 {
            let x = req.x[j];
            let (dc, du) = (gauss_d(x, l, 0.5, 0.5), gauss_d(x, l, -0.3, 1.1));
            ec[j] = (x - l.a * dc) / l.b;
            eu[j] = (x - l.a * du) / l.b;
            dd[j] = du + w * (dc - du);
        }
        a.feed_cfg(&Epsilon, &ec, &eu, w).unwrap();
        b.next_eval().unwrap();
        b.feed_x0(&dd).unwrap();
    }
    for (p, q) in a.x().iter().zip(b.x()) {
        assert!((p - q).abs() < 1e-9, "{p} vs {q}");
    }
}

/// Counter noise: draw k of sample s is the Philox stream (seed, Sampler, s, k), whatever the
/// chunking (600 elements per sample spans three 256-element chunks).
#[test]
fn counter_noise_is_the_documented_stream() {
    let g = Grid::new(&Vp, &[-3.0, -1.0, 1.0, 3.0]).unwrap();
    let (batch, per) = (2, 600);
    let x0: Vec<f32> = (0..batch * per).map(|i| (i as f32 * 0.01).cos()).collect();
    let model = |x: &[f32], l: Level, d: &mut [f32]| {
        for (d, &x) in d.iter_mut().zip(x) {
            *d = gauss_d(x as f64, l, 0.1, 0.9) as f32;
        }
        Ok(())
    };
    let got = Run::new(
        EulerAncestral::new(),
        g.clone(),
        x0.clone(),
        batch,
        CounterNoise::new(11),
    )
    .unwrap()
    .run(model)
    .unwrap();
    let mut rec = vec![0.0f32; 3 * batch * per];
    for k in 0..3 {
        for s in 0..batch {
            let o = k * batch * per + s * per;
            fill_normal(
                11,
                Purpose::Sampler,
                s as u32,
                k as u32,
                0,
                &mut rec[o..o + per],
            );
        }
    }
    let want = Run::new(
        EulerAncestral::new(),
        g,
        x0,
        batch,
        RecordedNoise::new(&rec, batch * per, per),
    )
    .unwrap()
    .run(model)
    .unwrap();
    assert_eq!(got, want);
}

#[test]
fn nfe_counts_and_progress() {
    let g = Grid::new(&Vp, &[-4.0, -1.0, 2.0, f64::INFINITY]).unwrap();
    for (s, nfe) in [
        (AnySolver::from_name("heun").unwrap(), 5),
        (AnySolver::from_name("dpm_2").unwrap(), 5),
        (AnySolver::from_name("dpmpp_sde").unwrap(), 5),
        (AnySolver::from_name("dpmpp_2s_ancestral").unwrap(), 5),
        (AnySolver::from_name("dpm_2_ancestral").unwrap(), 5),
        (AnySolver::from_name("dpmpp_2m").unwrap(), 3),
        (AnySolver::from_name("unipc").unwrap(), 3),
    ] {
        let name = s.name();
        let mut run = Run::new(s, g.clone(), vec![0.3f64, -0.4], 1, CounterNoise::new(1)).unwrap();
        assert_eq!(run.total_evals(), nfe, "{name}");
        let mut seen = 0;
        while let Some(req) = run.next_eval().unwrap() {
            assert_eq!(req.index, seen);
            let rem = run.remaining_evals();
            assert_eq!(rem, nfe - seen, "{name}");
            let d: Vec<f64> = vec![0.1, 0.1];
            run.feed_x0(&d).unwrap();
            seen += 1;
        }
        assert_eq!(seen, nfe, "{name}");
        assert_eq!(run.remaining_evals(), 0);
        assert_eq!(run.steps_done(), 3);
        // The step to λ = +∞ returns D exactly.
        assert_eq!(run.x(), &[0.1, 0.1], "{name}");
    }
}

/// Euler ≡ DDIM(η = 0): on the schedule's t grid, the solver loop with CFG (and rescale,
/// batch-wide and per sample) reproduces the framework's own guided DDIM loop step by step.
#[test]
fn guided_euler_matches_the_framework_ddim_loop() {
    use gdf::framework::Gdf;
    use gdf::sample::{Cfg, Rescale, SampleOpts};
    use gdf::schedule::Cosine;

    let gdf: Gdf<_, _, _, _, _, f64> = Gdf::new(
        <Cosine>::new(),
        Vp,
        Epsilon,
        <gdf::noise_cond::CosineT>::new(),
        <gdf::loss_weight::P2>::new(),
    );
    let (b, per, steps) = (3, 5, 12);
    let n = b * per;
    let x_init: Vec<f64> = xs(n);
    let cond: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).cos()).collect();
    let uncond: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).sin() * 0.5).collect();
    let pred = |x: f64, inp: f64| (0.5 * x).tanh() + 0.3 * inp;
    for (rho, how) in [
        (0.0, Rescale::Batch),
        (0.7, Rescale::Batch),
        (0.7, Rescale::PerSample),
    ] {
        let model = |x: &[f64], _nc: &[f64], inputs: &[f64], p: &mut [f64]| {
            for ((p, &x), &i) in p.iter_mut().zip(x).zip(inputs) {
                *p = pred(x, i);
            }
        };
        let opts = SampleOpts {
            timesteps: steps,
            x_init: Some(&x_init),
            cfg: Cfg::Scale(4.0),
            cfg_rho: rho,
            rescale: how,
            ..Default::default()
        };
        let sampler = gdf::dynamic::DynSampler::Ddim { eta: 0.0 };
        let mut reference = gdf
            .sample(model, sampler, &cond, Some(&uncond), b, per, opts)
            .unwrap();
        let grid = Grid::from_schedule(&<Cosine>::new(), &Vp, steps, 1.0, 0.0, 1.0).unwrap();
        let mut run = Run::new(Euler::new(), grid, x_init.clone(), b, NoNoise).unwrap();
        let (mut pc, mut pu) = (vec![0.0; n], vec![0.0; n]);
        while let Some(req) = run.next_eval().unwrap() {
            for j in 0..n {
                pc[j] = pred(req.x[j], cond[j]);
                pu[j] = pred(req.x[j], uncond[j]);
            }
            run.feed_cfg_rescaled(&Epsilon, &pc, &pu, 4.0, rho, how)
                .unwrap();
            let step = reference.next_step().unwrap().unwrap();
            for (g, w) in run.x().iter().zip(step.x) {
                assert!(
                    (g - w).abs() < 1e-9 * (1.0 + w.abs()),
                    "rho {rho} {how:?} step {}: {g} vs {w}",
                    step.index
                );
            }
        }
        assert!(reference.next_step().unwrap().is_none());
    }
}

#[test]
fn multistep_solvers_on_a_one_step_grid_take_the_first_order_step() {
    // k-diffusion's dpmpp_2m and lms and diffusers' DPMSolverMultistep and UniPC run a
    // one-step grid as one first-order step: DPM-Solver-1 = DDIM = Euler (in σ-space,
    // x' = (σ'/σ)x + (1 − σ'/σ)D for every scaling), whatever their order.
    let dpm = |order| {
        DpmSolverMultistep::with(DpmSolverSettings {
            order,
            ..Default::default()
        })
        .unwrap()
    };
    let unipc = |order| {
        UniPc::with(UniPcSettings {
            order,
            ..Default::default()
        })
        .unwrap()
    };
    for ends in [[-3.0, 1.5], [-3.0, f64::INFINITY], [0.5, 6.0]] {
        let g = Grid::new(&Vp, &ends).unwrap();
        let want = run_target(&X0, Euler::new(), &g);
        // and the closed form, from the scaled levels
        let (l, ln) = (g.level(0), g.level(1));
        let (s, sn) = (l.b / l.a, ln.b / ln.a);
        for (x, w) in xs(6).iter().zip(&want) {
            let d = gauss_d(*x, l, 0.2, 0.8);
            let closed = ln.a * ((sn / s) * x / l.a + (1.0 - sn / s) * d);
            assert!(
                (closed - w).abs() < 1e-12,
                "{ends:?}: euler {w} vs {closed}"
            );
        }
        for (name, got) in [
            ("dpmpp_2m", run_target(&X0, DpmPP2M::new(), &g)),
            ("lms order 4", run_target(&X0, Lms::new(), &g)),
            ("DPMSolverMultistep 2", run_target(&X0, dpm(2), &g)),
            ("DPMSolverMultistep 3", run_target(&X0, dpm(3), &g)),
            ("UniPC 2", run_target(&X0, unipc(2), &g)),
            ("UniPC 3", run_target(&X0, unipc(3), &g)),
        ] {
            for (a, b) in got.iter().zip(&want) {
                assert!(
                    (a - b).abs() < 1e-12,
                    "{name} on {ends:?}: {a} vs euler {b}"
                );
            }
        }
    }
}
