//! Every guider inside full sampling loops of the modern solvers (`Run::feed_guided`), with
//! point-mass class models: the conditional model's x0-prediction is the constant vector `c`,
//! the unconditional one `u`. A step to λ = +∞ returns the last evaluation's x0-prediction
//! exactly, so the run must end at the guider's formula (SPEC-solvers §8, restated here)
//! applied to `(c, u)` at the last evaluation, with the state (APG's momentum) it has then.

use gdf::guidance::{
    Apg, CfgZeroStar, ClassifierFree, Gate, Guidance, Interval, Layout, Tangential,
};
use gdf::scaler::Vp;
use gdf::solver::{AnySolver, Grid, NoNoise, Run};
use gdf::target::X0;

const BATCH: usize = 2;
const PER: usize = 6;
const GRID: [f64; 5] = [-4.0, -1.0, 2.0, 4.0, f64::INFINITY];

fn class_vectors() -> (Vec<f64>, Vec<f64>) {
    let c = (0..BATCH * PER)
        .map(|i| 0.8 * (i as f64 * 0.9).sin() + 0.3)
        .collect();
    let u = (0..BATCH * PER)
        .map(|i| 0.5 * (i as f64 * 0.4).cos() - 0.1)
        .collect();
    (c, u)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Runs `solver` with `guider` and returns the final x, the number of evaluations and how
/// many of them asked for the unconditional branch.
fn run<G: Guidance>(solver: &str, guider: &mut G) -> (Vec<f64>, usize, usize) {
    let (c, u) = class_vectors();
    let grid = Grid::new(&Vp, &GRID).unwrap();
    let x_init: Vec<f64> = (0..BATCH * PER).map(|i| (i as f64 * 1.7).cos()).collect();
    let mut run = Run::new(
        AnySolver::from_name(solver).unwrap(),
        grid,
        x_init,
        BATCH,
        NoNoise,
    )
    .unwrap();
    let layout = Layout::new(BATCH, &[2, 3]).unwrap();
    let (mut evals, mut uncond_calls) = (0, 0);
    while run.next_eval().unwrap().is_some() {
        let ctx = run.guidance_ctx().unwrap();
        let uncond = if guider.needs_uncond(&ctx).unwrap() {
            uncond_calls += 1;
            Some(&u[..])
        } else {
            None
        };
        run.feed_guided(guider, &layout, &X0, &c, uncond).unwrap();
        evals += 1;
    }
    assert_eq!(evals, run.total_evals());
    (run.x().to_vec(), evals, uncond_calls)
}

fn per_sample(f: impl Fn(&[f64], &[f64]) -> Vec<f64>) -> Vec<f64> {
    let (c, u) = class_vectors();
    c.chunks(PER)
        .zip(u.chunks(PER))
        .flat_map(|(c, u)| f(c, u))
        .collect()
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-10 * (1.0 + w.abs()),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

const SOLVERS: [&str; 3] = ["dpmpp_2m", "heun", "unipc"];

#[test]
fn cfg_and_its_rescale_in_solver_loops() {
    let w = 4.0;
    for solver in SOLVERS {
        let (x, _, uc) = run(solver, &mut ClassifierFree::new(w).unwrap());
        let want = per_sample(|c, u| c.iter().zip(u).map(|(c, u)| u + w * (c - u)).collect());
        assert_close(&format!("CFG / {solver}"), &x, &want);
        assert!(uc > 0);

        let phi = 0.7;
        let mut g = ClassifierFree::new(w).unwrap();
        g.rescale = phi;
        let (x, _, _) = run(solver, &mut g);
        let std = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
        };
        let want = per_sample(|c, u| {
            let g: Vec<f64> = c.iter().zip(u).map(|(c, u)| u + w * (c - u)).collect();
            let k = std(c) / std(&g);
            g.iter().map(|g| phi * k * g + (1.0 - phi) * g).collect()
        });
        assert_close(&format!("CFG rescale / {solver}"), &x, &want);
    }
}

#[test]
fn autoguidance_is_cfg_with_the_weak_model_as_the_other_branch() {
    for solver in SOLVERS {
        let (x, _, _) = run(solver, &mut ClassifierFree::autoguidance(2.0).unwrap());
        let want = per_sample(|c, u| c.iter().zip(u).map(|(c, u)| u + 2.0 * (c - u)).collect());
        assert_close(&format!("autoguidance / {solver}"), &x, &want);
    }
}

#[test]
fn apg_with_momentum_in_solver_loops() {
    let (w, eta, r, beta) = (5.0, 0.3, 1.5, -0.5);
    for solver in SOLVERS {
        let mut apg = Apg::new(w).unwrap();
        apg.eta = eta;
        apg.norm_threshold = r;
        apg.momentum = Some(beta);
        let (x, evals, _) = run(solver, &mut apg);
        // Δ is the same every evaluation, so after k updates m = Δ·(1 − β^k)/(1 − β).
        let mfac = (1.0 - beta.powi(evals as i32)) / (1.0 - beta);
        let want = per_sample(|c, u| {
            let d: Vec<f64> = c.iter().zip(u).map(|(c, u)| (c - u) * mfac).collect();
            let norm = dot(&d, &d).sqrt();
            let d: Vec<f64> = d.iter().map(|x| x * (r / norm).min(1.0)).collect();
            let cn = dot(c, c).sqrt().max(1e-12);
            let v: Vec<f64> = c.iter().map(|x| x / cn).collect();
            let p = dot(&d, &v);
            u.iter()
                .zip(d.iter().zip(&v))
                .map(|(u, (d, v))| {
                    let par = p * v;
                    u + w * ((d - par) + eta * par)
                })
                .collect()
        });
        assert_close(&format!("APG / {solver}"), &x, &want);
    }
}

#[test]
fn cfg_zero_star_and_tangential_in_solver_loops() {
    let w = 3.0;
    for solver in SOLVERS {
        let (x, _, _) = run(solver, &mut CfgZeroStar::new(w).unwrap());
        let want = per_sample(|c, u| {
            let s = dot(c, u) / (dot(u, u) + 1e-8);
            c.iter()
                .zip(u)
                .map(|(c, u)| s * u + w * (c - s * u))
                .collect()
        });
        assert_close(&format!("CFG-Zero* / {solver}"), &x, &want);

        let (x, _, _) = run(solver, &mut Tangential::new(w).unwrap());
        let want = per_sample(|c, u| {
            // v₁: the top right-singular vector of [c; u], by power iteration on [c; u]ᵀ[c; u].
            let mut v: Vec<f64> = c.iter().zip(u).map(|(c, u)| c + 0.5 * u).collect();
            for _ in 0..500 {
                let (a, b) = (dot(c, &v), dot(u, &v));
                let nv: Vec<f64> = c.iter().zip(u).map(|(c, u)| a * c + b * u).collect();
                let n = dot(&nv, &nv).sqrt();
                v = nv.iter().map(|x| x / n).collect();
            }
            let k = dot(u, &v);
            c.iter()
                .zip(&v)
                .map(|(c, v)| k * v + w * (c - k * v))
                .collect()
        });
        assert_close(&format!("TCFG / {solver}"), &x, &want);
    }
}

#[test]
fn a_guidance_interval_skips_the_unconditional_evaluations_outside_it() {
    // Guidance only for λ < 1: the evaluations at λ = 2 and 4 (and Heun's second stages
    // there) see the conditional model alone, so the run ends at c.
    for solver in SOLVERS {
        let mut g = ClassifierFree::new(6.0).unwrap();
        g.gate = Gate {
            interval: Some(Interval::new(f64::NEG_INFINITY, 1.0).unwrap()),
            ..Gate::default()
        };
        let (x, evals, uncond_calls) = run(solver, &mut g);
        let (c, _) = class_vectors();
        assert_close(&format!("interval / {solver}"), &x, &c);
        // Levels evaluated below λ = 1: the first two grid points (once each for the
        // one-evaluation solvers; Heun also evaluates its second stage at λ = −1).
        let inside = if solver == "heun" { 3 } else { 2 };
        assert_eq!(uncond_calls, inside, "{solver}: {evals} evaluations");
    }
}

/// CFG++ in the first-order solvers' loops (Euler on VP, deterministic flow Euler on LERP)
/// equals SPEC §8.4's step written out, `x' = a'·D_λ + b'·(x − a·D_u)/b`, with Gaussian class
/// models (x0-predictions affine in x); other solvers refuse it.
#[test]
fn cfgpp_renoises_with_the_unconditional_prediction() {
    use gdf::guidance::CfgPp;
    use gdf::scaler::{Lerp, Scaler};
    let lams = [-4.0, -1.5, 0.5, 2.5, 4.0, f64::INFINITY];
    let (mu_c, mu_u, s2) = (0.7, -0.4, 0.3);
    let d = |x: f64, a: f64, b: f64, mu: f64| (s2 * a * x + b * b * mu) / (s2 * a * a + b * b);
    let x_init: Vec<f64> = (0..BATCH * PER).map(|i| (i as f64 * 1.3).sin()).collect();
    let lam = 0.6;
    let layout = Layout::new(BATCH, &[PER]).unwrap();
    for (solver, lerp) in [("euler", false), ("FlowMatchEulerDiscreteScheduler", true)] {
        let ab = |l: f64| if lerp { Lerp.ab(l) } else { Vp.ab(l) };
        // The manual loop.
        let mut want = x_init.clone();
        for w in lams.windows(2) {
            let ((a, b), (an, bn)) = (ab(w[0]), ab(w[1]));
            for x in want.iter_mut() {
                let (dc, du) = (d(*x, a, b, mu_c), d(*x, a, b, mu_u));
                let dl = du + lam * (dc - du);
                *x = an * dl + bn * (*x - a * du) / b;
            }
        }
        // Through the solver loop, feeding ε-predictions of both classes.
        let grid = if lerp {
            Grid::new(&Lerp, &lams)
        } else {
            Grid::new(&Vp, &lams)
        }
        .unwrap();
        let mut run = Run::new(
            AnySolver::from_name(solver).unwrap(),
            grid,
            x_init.clone(),
            BATCH,
            NoNoise,
        )
        .unwrap();
        let mut g = CfgPp::new(lam).unwrap();
        while let Some(req) = run.next_eval().unwrap() {
            let (a, b) = (req.level.a, req.level.b);
            let eps = |mu: f64| -> Vec<f64> {
                req.x
                    .iter()
                    .map(|&x| (x - a * d(x, a, b, mu)) / b)
                    .collect()
            };
            let (c, u) = (eps(mu_c), eps(mu_u));
            run.feed_guided(&mut g, &layout, &gdf::target::Epsilon, &c, Some(&u))
                .unwrap();
        }
        assert_close(&format!("CFG++ / {solver}"), run.x(), &want);
    }
    // Defined for plain first-order steps only.
    let grid = Grid::new(&Vp, &lams).unwrap();
    let mut g = CfgPp::new(lam).unwrap();
    for solver in ["dpmpp_2m", "heun", "euler_ancestral"] {
        let mut run = Run::new(
            AnySolver::from_name(solver).unwrap(),
            grid.clone(),
            vec![0.0; BATCH * PER],
            BATCH,
            gdf::solver::CounterNoise::new(1),
        )
        .unwrap();
        run.next_eval().unwrap();
        let z = vec![0.0; BATCH * PER];
        let e = run
            .feed_guided(&mut g, &layout, &X0, &z, Some(&z))
            .unwrap_err();
        assert!(e.to_string().contains("first-order"), "{solver}: {e}");
    }
}
