//! Properties of `gdf::solver::gaussian_steps` / `GaussianStep` (the golden parity with
//! Flow-GRPO and DDPO is `golden_rl.rs`):
//!
//! - the transition is the run's own step: `Run` with the same noise moves `x` to exactly
//!   `mean + std·n`, and over many draws the sample mean and variance of `x'` are the
//!   transition's (a statistical check at 6 standard errors);
//! - the log-probability is the Gaussian density's (closed forms);
//! - `for_prediction` gives the same mean on the raw prediction;
//! - steps that are not one Gaussian transition are refused by name.

use gdf::scaler::{Lerp, Vp};
use gdf::solver::{
    gaussian_steps, CounterNoise, DpmPP2M, Euler, EulerAncestral, FlowSde, Grid, Heun, Lcm,
    NoiseSource, Run,
};
use gdf::target::{Epsilon, RectifiedFlows, Target};

fn flow_grid() -> Grid {
    Grid::new(&Lerp, &[f64::NEG_INFINITY, -2.0, 0.0, 1.5, f64::INFINITY]).unwrap()
}

#[test]
fn the_transition_is_the_runs_step() {
    // One run per step: x fixed, D fixed; the run's x' minus the mean is std times the draw.
    let grid = flow_grid();
    let s = FlowSde::new(0.7).unwrap();
    let gs = gaussian_steps(&s, &grid).unwrap();
    assert_eq!(gs.len(), grid.steps());
    let (batch, per) = (2, 5);
    let x0: Vec<f64> = (0..batch * per).map(|i| (i as f64 * 0.61).cos()).collect();
    let d: Vec<f64> = (0..batch * per)
        .map(|i| 0.3 * (i as f64 * 0.23).sin())
        .collect();
    let noise = CounterNoise::new(17);
    let mut run = Run::new(s, grid.clone(), x0.clone(), batch, noise).unwrap();
    let mut x = x0;
    for (k, g) in gs.iter().enumerate() {
        assert_eq!(g.step, k);
        run.next_eval().unwrap();
        run.feed_x0(&d).unwrap();
        let mut mean = vec![0.0; x.len()];
        g.mean(&x, &d, &mut mean).unwrap();
        // The run's draw k, sample by sample.
        let mut n = vec![0.0f64; x.len()];
        for s in 0..batch {
            noise
                .fill(k, k, s, 0, &mut n[s * per..(s + 1) * per])
                .unwrap();
        }
        for ((&got, &m), &n) in run.x().iter().zip(&mean).zip(&n) {
            assert!(
                (got - (m + g.std * n)).abs() < 1e-12,
                "step {k}: {got} vs {m} + {}·{n}",
                g.std
            );
        }
        x = run.x().to_vec();
    }
}

#[test]
fn many_draws_have_the_transitions_mean_and_variance() {
    // DDIM(η = 0.6) on a VP grid: 20 000 draws of one step.
    let grid = Grid::new(&Vp, &[-2.0, 1.0, 3.0]).unwrap();
    let s = EulerAncestral::with(0.6, 1.0).unwrap();
    let g = gaussian_steps(&s, &grid).unwrap()[0];
    assert!(g.std > 0.0);
    let n = 20_000;
    let x = vec![0.8f64; n];
    let d = vec![-0.3f64; n];
    let mut run = Run::new(s, grid, x.clone(), n, CounterNoise::new(5)).unwrap();
    run.next_eval().unwrap();
    run.feed_x0(&d).unwrap();
    let xs = run.x();
    let mean = xs.iter().sum::<f64>() / n as f64;
    let var = xs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let want = g.c_x * 0.8 + g.c_d * -0.3;
    let se = g.std / (n as f64).sqrt();
    assert!(
        (mean - want).abs() < 6.0 * se,
        "mean {mean} vs {want} (se {se})"
    );
    let var_se = g.std * g.std * (2.0 / (n - 1) as f64).sqrt();
    assert!(
        (var - g.std * g.std).abs() < 6.0 * var_se,
        "var {var} vs {}",
        g.std * g.std
    );
}

#[test]
fn log_prob_is_the_gaussian_density() {
    let grid = flow_grid();
    let g = gaussian_steps(&FlowSde::new(1.0).unwrap(), &grid).unwrap()[1];
    let c = -0.5 * (2.0 * std::f64::consts::PI).ln() - g.std.ln();
    let (x, d) = ([0.4f64, -1.0, 0.2], [0.1f64, 0.2, -0.3]);
    let mut mean = [0.0; 3];
    g.mean(&x, &d, &mut mean).unwrap();
    // At the mean: the density's peak.
    let lp = g.log_prob(&mean, &x, &d, 1).unwrap();
    assert!((lp[0] - c).abs() < 1e-12, "{} vs {c}", lp[0]);
    // One std off in every element: half a nat less; the average over elements.
    let off: Vec<f64> = mean.iter().map(|m| m + g.std).collect();
    let lp = g.log_prob(&off, &x, &d, 1).unwrap();
    assert!((lp[0] - (c - 0.5)).abs() < 1e-12);
    let mixed = [mean[0] + 2.0 * g.std, mean[1], mean[2]];
    let lp = g.log_prob(&mixed, &x, &d, 1).unwrap();
    assert!((lp[0] - (c - 2.0 / 3.0)).abs() < 1e-12);
    // Per sample.
    let two = g
        .log_prob(&[mean[0], mean[0] + g.std], &[x[0], x[0]], &[d[0], d[0]], 2)
        .unwrap();
    assert!((two[0] - c).abs() < 1e-12 && (two[1] - (c - 0.5)).abs() < 1e-12);
}

#[test]
fn for_prediction_gives_the_same_mean() {
    // ε on VP (DDIM η = 1) and the flow velocity on LERP.
    let vp = Grid::new(&Vp, &[-1.0, 0.5, 2.0]).unwrap();
    for g in gaussian_steps(&EulerAncestral::new(), &vp).unwrap() {
        let [cx, cp] = g.for_prediction(&Epsilon).unwrap();
        for (x, e) in [(0.3f64, -0.7f64), (-1.2, 0.4)] {
            let d = Epsilon.x0(x, e, g.level.a, g.level.b);
            let want = g.c_x * x + g.c_d * d;
            assert!((cx * x + cp * e - want).abs() < 1e-12);
        }
    }
    for g in gaussian_steps(&FlowSde::new(0.7).unwrap(), &flow_grid()).unwrap() {
        let [cx, cp] = g.for_prediction(&RectifiedFlows).unwrap();
        let (x, v) = (0.5f64, -0.25f64);
        let d = RectifiedFlows.x0(x, v, g.level.a, g.level.b);
        assert!((cx * x + cp * v - (g.c_x * x + g.c_d * d)).abs() < 1e-12);
    }
    // ε at pure noise gives no x0: an error, not NaN coefficients.
    let g = gaussian_steps(&FlowSde::new(0.7).unwrap(), &flow_grid()).unwrap()[0];
    assert!(g.for_prediction(&Epsilon).is_err());
}

#[test]
fn steps_that_are_not_one_gaussian_transition_are_refused() {
    let grid = Grid::new(&Vp, &[-3.0, -1.0, 1.0, 3.0, f64::INFINITY]).unwrap();
    for (name, e) in [
        ("heun", gaussian_steps(&Heun::new(), &grid).unwrap_err()),
        (
            "dpmpp_2m",
            gaussian_steps(&DpmPP2M::new(), &grid).unwrap_err(),
        ),
    ] {
        let m = e.to_string();
        assert!(m.contains("not one Gaussian transition"), "{name}: {m}");
    }
    // DDIM(0) and the ancestral solver's last step to σ = 0 are deterministic: std 0, and a
    // log-probability is refused.
    let det = gaussian_steps(&Euler::new(), &grid).unwrap();
    assert!(det.iter().all(|g| g.std == 0.0));
    let e = det[0].log_prob(&[0.0], &[0.0], &[0.0], 1).unwrap_err();
    assert!(e.to_string().contains("deterministic"), "{e}");
    let anc = gaussian_steps(&EulerAncestral::new(), &grid).unwrap();
    assert!(anc[..3].iter().all(|g| g.std > 0.0) && anc[3].std == 0.0);
    // LCM renoises with fresh noise: Gaussian, no x term.
    let lcm = gaussian_steps(&Lcm::new(), &grid).unwrap();
    assert!(lcm[0].c_x == 0.0 && lcm[0].std > 0.0);
    // Bad lengths and batches.
    let g = anc[0];
    assert!(g.log_prob(&[0.0; 3], &[0.0; 4], &[0.0; 4], 2).is_err());
    assert!(g.log_prob(&[0.0; 4], &[0.0; 4], &[0.0; 4], 3).is_err());
    assert!(g.mean(&[0.0; 2], &[0.0; 3], &mut [0.0; 2]).is_err());
    assert!(g.log_prob(&[f64::NAN; 2], &[0.0; 2], &[0.0; 2], 1).is_err());
    // A bad noise level.
    assert!(FlowSde::new(-0.1).is_err() && FlowSde::new(f64::NAN).is_err());
}
