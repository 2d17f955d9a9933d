//! Every guider inside two full host sampling loops (DDIM on a VP logSNR grid, EDM's Heun in
//! σ), on Gaussian data with exact denoisers.
//!
//! With equal variances, the denoisers of `N(μ, s²)` are affine in μ, so CFG (and autoguidance,
//! and APG with η = 1 and no threshold or momentum) turns them into the exact denoiser of
//! `N(μ_u + w·(μ_c − μ_u), s²)`; the probability-flow ODE of a Gaussian is known in closed form
//! (`x̃(σ) − μ = (x̃(σ_T) − μ)·√(s² + σ²)/√(s² + σ_T²)` in the VE variable `x̃ = x/a`), so the
//! loops' end points are checked against it.

use gdf::guidance::*;

const S: f64 = 0.5; // data std
const MU_C: f64 = 1.0;
const MU_U: f64 = -0.5;
const B: usize = 4;
const N: usize = 16;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// VP `(a, b)` of logSNR λ.
fn ab(l: f64) -> (f64, f64) {
    (sigmoid(l).sqrt(), sigmoid(-l).sqrt())
}

/// The exact x0-prediction of `N(μ, s²)` at the VP level `(a, b)`.
fn denoise(mu: f64, x: f64, a: f64, b: f64) -> f64 {
    mu + a * S * S * (x - a * mu) / (a * a * S * S + b * b)
}

fn start() -> Vec<f64> {
    // deterministic, roughly normal start points
    (0..B * N)
        .map(|i| {
            let t = (i as f64 + 0.5) / (B * N) as f64;
            (t - 0.5) * 3.0
        })
        .collect()
}

/// The exact ODE end point (VE variable) for a start `x̃_T` at σ_T, data mean μ, at σ.
fn exact(xt_ve: f64, sigma_t: f64, sigma: f64, mu: f64) -> f64 {
    mu + (xt_ve - mu) * (S * S + sigma * sigma).sqrt() / (S * S + sigma_t * sigma_t).sqrt()
}

struct Run {
    /// The VE end points `x/a` at the last level.
    x_ve: Vec<f64>,
    /// The VE start points.
    start_ve: Vec<f64>,
    sigma_start: f64,
    sigma_end: f64,
    uncond_evals: usize,
}

/// Guided x0-prediction of one evaluation at logSNR `l` (VP input `x`).
fn eval<G: Guidance>(
    g: &mut G,
    step: usize,
    steps: usize,
    l: f64,
    x: &[f64],
    mus: (f64, f64),
    uncond_evals: &mut usize,
) -> Vec<f64> {
    let (a, b) = ab(l);
    let ctx = StepCtx::new(step, steps).unwrap().at(l).unwrap();
    let c: Vec<f64> = x.iter().map(|&v| denoise(mus.0, v, a, b)).collect();
    let needs = g.needs_uncond(&ctx).unwrap();
    let u: Vec<f64> = if needs {
        *uncond_evals += 1;
        x.iter().map(|&v| denoise(mus.1, v, a, b)).collect()
    } else {
        vec![]
    };
    let mut d = vec![0.0; x.len()];
    g.guide(
        &ctx,
        &Layout::flat(B, N).unwrap(),
        &c,
        needs.then_some(&u[..]),
        &mut d,
    )
    .unwrap();
    d
}

/// Deterministic DDIM on a linear VP logSNR grid from −6 to 12.
fn ddim<G: Guidance>(g: &mut G, steps: usize, mus: (f64, f64)) -> Run {
    let grid: Vec<f64> = (0..=steps)
        .map(|i| -6.0 + 18.0 * i as f64 / steps as f64)
        .collect();
    let (a0, b0) = ab(grid[0]);
    let mut x: Vec<f64> = start()
        .iter()
        .map(|v| v * (b0 / a0).hypot(1.0) * a0)
        .collect();
    let start_ve: Vec<f64> = x.iter().map(|v| v / a0).collect();
    let mut uncond_evals = 0;
    for i in 0..steps {
        let (l, ln) = (grid[i], grid[i + 1]);
        let ((a, b), (an, bn)) = (ab(l), ab(ln));
        let d = eval(g, i, steps, l, &x, mus, &mut uncond_evals);
        for (xi, di) in x.iter_mut().zip(&d) {
            *xi = an * di + bn * (*xi - a * di) / b;
        }
    }
    let (an, bn) = ab(grid[steps]);
    Run {
        x_ve: x.iter().map(|v| v / an).collect(),
        start_ve,
        sigma_start: b0 / a0,
        sigma_end: bn / an,
        uncond_evals,
    }
}

/// EDM's Heun (Algorithm 1 without churn) in σ on a Karras grid, ρ = 7, from σ = 20 to 0.002.
fn heun<G: Guidance>(g: &mut G, steps: usize, mus: (f64, f64)) -> Run {
    let (smax, smin, rho) = (20.0f64, 0.002f64, 7.0);
    let sig: Vec<f64> = (0..=steps)
        .map(|i| {
            let t = i as f64 / steps as f64;
            (smax.powf(1.0 / rho) + t * (smin.powf(1.0 / rho) - smax.powf(1.0 / rho))).powf(rho)
        })
        .collect();
    let mut x: Vec<f64> = start()
        .iter()
        .map(|v| v * (smax * smax + S * S).sqrt())
        .collect();
    let start_ve = x.clone();
    let mut uncond_evals = 0;
    // D at σ for VE input x̃: the VP input is a·x̃, λ = −2 ln σ
    let d_of = |g: &mut G, step: usize, s: f64, x: &[f64], ue: &mut usize| -> Vec<f64> {
        let l = -2.0 * s.ln();
        let (a, _) = ab(l);
        let xv: Vec<f64> = x.iter().map(|v| a * v).collect();
        eval(g, step, steps, l, &xv, mus, ue)
    };
    for i in 0..steps {
        let (s, sn) = (sig[i], sig[i + 1]);
        let d1 = d_of(g, i, s, &x, &mut uncond_evals);
        let k1: Vec<f64> = x.iter().zip(&d1).map(|(x, d)| (x - d) / s).collect();
        let xe: Vec<f64> = x.iter().zip(&k1).map(|(x, k)| x + (sn - s) * k).collect();
        let d2 = d_of(g, i, sn, &xe, &mut uncond_evals);
        for j in 0..x.len() {
            let k2 = (xe[j] - d2[j]) / sn;
            x[j] += (sn - s) * 0.5 * (k1[j] + k2);
        }
    }
    Run {
        x_ve: x,
        start_ve,
        sigma_start: smax,
        sigma_end: smin,
        uncond_evals,
    }
}

fn max_err(r: &Run, mu: f64) -> f64 {
    r.x_ve
        .iter()
        .zip(&r.start_ve)
        .map(|(&x, &x0)| (x - exact(x0, r.sigma_start, r.sigma_end, mu)).abs())
        .fold(0.0, f64::max)
}

type Solver = fn(&mut DynGuidance, usize, (f64, f64)) -> Run;

fn solvers() -> [(&'static str, Solver, usize, f64); 2] {
    [
        ("ddim", ddim::<DynGuidance> as Solver, 400, 1e-2),
        ("heun", heun::<DynGuidance> as Solver, 100, 1.5e-3),
    ]
}

#[test]
fn linear_guiders_reach_the_guided_gaussian() {
    let w = 3.0;
    let mu_w = MU_U + w * (MU_C - MU_U);
    let apg_as_cfg = {
        let mut g = Apg::new(w).unwrap();
        (g.eta, g.norm_threshold, g.momentum) = (1.0, 0.0, None);
        g
    };
    let cases: Vec<(&str, DynGuidance, f64)> = vec![
        (
            "cond only",
            DynGuidance::Cfg(ClassifierFree::new(1.0).unwrap()),
            MU_C,
        ),
        (
            "cfg",
            DynGuidance::Cfg(ClassifierFree::new(w).unwrap()),
            mu_w,
        ),
        (
            "cfg original",
            DynGuidance::Cfg(ClassifierFree {
                original: true,
                ..ClassifierFree::new(w - 1.0).unwrap()
            }),
            mu_w,
        ),
        (
            "autoguidance",
            DynGuidance::Cfg(ClassifierFree::autoguidance(w).unwrap()),
            mu_w,
        ),
        ("apg η=1", DynGuidance::Apg(apg_as_cfg), mu_w),
    ];
    for (solver, run, steps, tol) in solvers() {
        for (name, g, mu) in &cases {
            let mut g = g.clone();
            g.branch().check(true).unwrap(); // the loop has its weak model (here: u)
            let r = run(&mut g, steps, (MU_C, MU_U));
            let e = max_err(&r, *mu);
            assert!(e < tol, "{solver}/{name}: max error {e:e}");
            // and the wrong target is far
            if (mu - MU_C).abs() > 0.1 {
                assert!(max_err(&r, MU_C) > 10.0 * tol, "{solver}/{name}");
            }
        }
    }
}

#[test]
fn interval_gates_and_skips_evaluations() {
    let w = 3.0;
    for (solver, run, steps, tol) in solvers() {
        // an interval covering every level = always on; one covering none = cond only
        let on = ClassifierFree {
            gate: Gate {
                interval: Some(Interval::new(f64::NEG_INFINITY, f64::INFINITY).unwrap()),
                ..Gate::default()
            },
            ..ClassifierFree::new(w).unwrap()
        };
        let off = ClassifierFree {
            gate: Gate {
                interval: Some(Interval::new(100.0, 200.0).unwrap()),
                ..Gate::default()
            },
            ..ClassifierFree::new(w).unwrap()
        };
        let r = run(&mut DynGuidance::Cfg(on), steps, (MU_C, MU_U));
        assert!(max_err(&r, MU_U + w * (MU_C - MU_U)) < tol, "{solver}");
        let evals = if solver == "heun" { 2 * steps } else { steps };
        assert_eq!(r.uncond_evals, evals);
        let r = run(&mut DynGuidance::Cfg(off), steps, (MU_C, MU_U));
        assert!(max_err(&r, MU_C) < tol, "{solver}");
        assert_eq!(r.uncond_evals, 0);
        // a partial interval: uncond evaluated exactly at the levels inside it
        let part = Interval::from_sigma(0.28, 2.9).unwrap();
        let g = ClassifierFree {
            gate: Gate {
                interval: Some(part),
                ..Gate::default()
            },
            ..ClassifierFree::new(w).unwrap()
        };
        let r = run(&mut DynGuidance::Cfg(g), steps, (MU_C, MU_U));
        assert!(r.uncond_evals > 0 && r.uncond_evals < evals, "{solver}");
        assert!(r.x_ve.iter().all(|x| x.is_finite()));
    }
}

#[test]
fn nonlinear_guiders_run_in_both_loops() {
    let mut apg = Apg::new(4.0).unwrap();
    (apg.eta, apg.norm_threshold, apg.momentum) = (0.0, 2.0, Some(-0.5));
    let mut rescaled = ClassifierFree::new(4.0).unwrap();
    rescaled.rescale = 0.7;
    let mut zero = CfgZeroStar::new(4.0).unwrap();
    zero.zero_init_steps = 0;
    let guiders = vec![
        DynGuidance::Apg(apg),
        DynGuidance::Cfg(rescaled),
        DynGuidance::ZeroStar(zero),
        DynGuidance::Tangential(Tangential::new(4.0).unwrap()),
    ];
    for (solver, run, steps, _) in solvers() {
        let base = run(
            &mut DynGuidance::Cfg(ClassifierFree::new(1.0).unwrap()),
            steps,
            (MU_C, MU_U),
        );
        for g in &guiders {
            let mut g = g.clone();
            let r = run(&mut g, steps, (MU_C, MU_U));
            assert!(
                r.x_ve.iter().all(|x| x.is_finite()),
                "{solver}/{}",
                g.name()
            );
            let moved = r
                .x_ve
                .iter()
                .zip(&base.x_ve)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(
                moved > 1e-3,
                "{solver}/{}: guidance had no effect",
                g.name()
            );
        }
    }
}

#[test]
fn guiders_with_equal_branches_are_the_cond_model() {
    // c = u: every guider reduces to the conditional prediction (CFG-Zero* shrinks u by
    // s* ≈ 1, so it is within 1e-8 of it)
    let mut apg = Apg::new(4.0).unwrap();
    (apg.eta, apg.norm_threshold, apg.momentum) = (0.0, 2.0, Some(-0.5));
    let mut zero = CfgZeroStar::new(4.0).unwrap();
    zero.zero_init_steps = 0;
    let guiders = vec![
        DynGuidance::Apg(apg),
        DynGuidance::Cfg(ClassifierFree::new(5.0).unwrap()),
        DynGuidance::ZeroStar(zero),
        DynGuidance::Tangential(Tangential::new(4.0).unwrap()),
    ];
    for (solver, run, steps, _) in solvers() {
        let base = run(
            &mut DynGuidance::Cfg(ClassifierFree::new(1.0).unwrap()),
            steps,
            (MU_C, MU_C),
        );
        for g in &guiders {
            let mut g = g.clone();
            let r = run(&mut g, steps, (MU_C, MU_C));
            for (a, b) in r.x_ve.iter().zip(&base.x_ve) {
                assert!(
                    (a - b).abs() < 1e-6 * (1.0 + b.abs()),
                    "{solver}/{}: {a} vs {b}",
                    g.name()
                );
            }
        }
    }
}

/// DDIM with CFG++: the step takes the guided `D_λ` and renoises with `D_u`
/// ([`CfgPp::step_coefficients`]).
fn ddim_cfgpp(g: &mut CfgPp, steps: usize, mus: (f64, f64)) -> Vec<f64> {
    let grid: Vec<f64> = (0..=steps)
        .map(|i| -6.0 + 18.0 * i as f64 / steps as f64)
        .collect();
    let mut x = start();
    for i in 0..steps {
        let (l, ln) = (grid[i], grid[i + 1]);
        let ((a, b), (an, bn)) = (ab(l), ab(ln));
        let ctx = StepCtx::new(i, steps).unwrap().at(l).unwrap();
        let dc: Vec<f64> = x.iter().map(|&v| denoise(mus.0, v, a, b)).collect();
        let du: Vec<f64> = x.iter().map(|&v| denoise(mus.1, v, a, b)).collect();
        let mut dl = vec![0.0; x.len()];
        g.guide(&ctx, &Layout::flat(B, N).unwrap(), &dc, Some(&du), &mut dl)
            .unwrap();
        let renoise = if g.renoise_with_uncond(&ctx).unwrap() {
            &du
        } else {
            &dc
        };
        let [cx, cl, cr] = CfgPp::step_coefficients(a, b, an, bn).unwrap();
        for j in 0..x.len() {
            x[j] = cx * x[j] + cl * dl[j] + cr * renoise[j];
        }
    }
    x
}

#[test]
fn cfgpp_in_a_ddim_loop() {
    let steps = 200;
    // equal branches: plain DDIM, which lands on the ODE's end point
    let mut g = CfgPp::new(0.6).unwrap();
    let x = ddim_cfgpp(&mut g, steps, (MU_C, MU_C));
    let mut cond_only = DynGuidance::Cfg(ClassifierFree::new(1.0).unwrap());
    let r = ddim(&mut cond_only, steps, (MU_C, MU_U));
    let an = ab(12.0).0;
    for (a, b) in x.iter().zip(&r.x_ve) {
        assert!((a / an - b).abs() < 1e-12, "{a} vs {b}");
    }
    // λ = 0: D_λ = D_u but the renoise keeps ε̂_u: the unconditional model's DDIM
    let mut g0 = CfgPp::new(0.0).unwrap();
    let x0 = ddim_cfgpp(&mut g0, steps, (MU_C, MU_U));
    let mut uncond = DynGuidance::Cfg(ClassifierFree::new(1.0).unwrap());
    let ru = ddim(&mut uncond, steps, (MU_U, MU_C));
    for (a, b) in x0.iter().zip(&ru.x_ve) {
        assert!((a / an - b).abs() < 1e-12, "{a} vs {b}");
    }
    // λ = 0.6 with distinct branches: finite, and not plain CFG with w = λ (the renoise
    // differs)
    let x6 = ddim_cfgpp(&mut g, steps, (MU_C, MU_U));
    let mut cfg = DynGuidance::Cfg(ClassifierFree::new(0.6).unwrap());
    let rc = ddim(&mut cfg, steps, (MU_C, MU_U));
    let diff = x6
        .iter()
        .zip(&rc.x_ve)
        .map(|(v, c)| (v / an - c).abs())
        .fold(0.0, f64::max);
    assert!(x6.iter().all(|v| v.is_finite()) && diff > 1e-2, "{diff}");
}

#[test]
fn guided_loops_converge_to_the_closed_form_at_their_order() {
    // halving the step size divides DDIM's error by 2 and Heun's by 4: the loops converge to
    // the guided Gaussian's exact ODE end point, not merely near it
    let mu_w = MU_U + 3.0 * (MU_C - MU_U);
    for g in [
        DynGuidance::Cfg(ClassifierFree::new(3.0).unwrap()),
        DynGuidance::Cfg(ClassifierFree::autoguidance(3.0).unwrap()),
    ] {
        let e = |run: Solver, n: usize| max_err(&run(&mut g.clone(), n, (MU_C, MU_U)), mu_w);
        let r = e(ddim::<DynGuidance>, 200) / e(ddim::<DynGuidance>, 400);
        assert!((1.9..2.1).contains(&r), "ddim ratio {r}");
        let r = e(heun::<DynGuidance>, 50) / e(heun::<DynGuidance>, 100);
        assert!((3.6..4.4).contains(&r), "heun ratio {r}");
    }
}
