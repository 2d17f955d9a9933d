//! The training densities of `gdf::density` against their closed-form distributions of λ:
//! a Kolmogorov–Smirnov test on 10^5 seeded draws below the 0.999 critical value
//! (1.949/√n), the sample mean and variance within 5 standard errors of the closed form,
//! and bit-identical draws for 1 and 4 threads (the framework's counter-based batch draw).

use gdf::density::{
    mode_sampling_t, rf_logsnr, CosMap, EdmLogNormal, LogitNormal, ModeSampling, UniformTimesteps,
};
use gdf::framework::Gdf;
use gdf::grid::table::{DiscreteTable, TableSettings};
use gdf::konst::Dec;
use gdf::loss_weight::Constant;
use gdf::noise_cond::LogSnr;
use gdf::prelude::*;
use gdf::scaler::Vp;
use gdf::target::Epsilon;
use std::f64::consts::PI;
use typenum::{N1, P5, P7};

const N: usize = 100_000;

/// `erfc` (rational Chebyshev approximation, |error| < 1.2e-7; far below the KS bound 6e-3).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.26551223
        + t * (1.00002368
            + t * (0.37409196
                + t * (0.09678418
                    + t * (-0.18628806
                        + t * (0.27886807
                            + t * (-1.13520398
                                + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// The normal CDF `Φ((x − μ)/σ)`.
fn normal_cdf(x: f64, mu: f64, sd: f64) -> f64 {
    0.5 * erfc(-(x - mu) / (sd * std::f64::consts::SQRT_2))
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// 10^5 λ draws through the framework's seeded batch draw, checked equal for 1 and 4 threads.
fn draws<S: Schedule>(schedule: S, seed: u64) -> Vec<f64> {
    let g: Gdf<S, Vp, Epsilon, LogSnr, Constant, f64> =
        Gdf::new(schedule, Vp, Epsilon, LogSnr::new(), Constant::new());
    let run = || {
        let mut out = vec![0.0f64; N];
        g.logsnr_into(None, 1.0, seed, 0, &mut out).unwrap();
        out
    };
    let one = pool(1).install(run);
    let four = pool(4).install(run);
    assert_eq!(
        one.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        four.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        "draws differ between 1 and 4 threads"
    );
    // A sample's draw does not depend on its batch: sample 17 alone equals batch index 17.
    let mut alone = [0.0f64];
    g.logsnr_into(None, 1.0, seed, 17, &mut alone).unwrap();
    assert_eq!(alone[0].to_bits(), one[17].to_bits());
    one
}

/// The KS statistic against `cdf` (with `cdf_left(x) = P(Λ < x)` for atoms).
fn ks(mut xs: Vec<f64>, cdf: impl Fn(f64) -> f64, cdf_left: impl Fn(f64) -> f64) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = xs.len() as f64;
    let mut d = 0.0f64;
    for (i, &x) in xs.iter().enumerate() {
        let hi = (i + 1) as f64 / n - cdf(x);
        let lo = cdf_left(x) - i as f64 / n;
        d = d.max(hi).max(lo);
    }
    d
}

/// Checks KS, mean and variance. `moments` = (mean, variance, fourth central moment).
fn check(
    name: &str,
    xs: &[f64],
    cdf: impl Fn(f64) -> f64,
    cdf_left: impl Fn(f64) -> f64,
    moments: (f64, f64, f64),
) {
    assert!(xs.iter().all(|x| x.is_finite()), "{name}: non-finite draw");
    let n = xs.len() as f64;
    let crit = 1.949 / n.sqrt();
    let d = ks(xs.to_vec(), cdf, cdf_left);
    assert!(d < crit, "{name}: KS D = {d} ≥ {crit}");
    let (mu, var, m4) = moments;
    let mean = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let se_mean = (var / n).sqrt();
    let se_var = ((m4 - var * var) / n).sqrt();
    assert!(
        (mean - mu).abs() < 5.0 * se_mean,
        "{name}: mean {mean} vs {mu} (5σ = {})",
        5.0 * se_mean
    );
    assert!(
        (v - var).abs() < 5.0 * se_var,
        "{name}: variance {v} vs {var} (5σ = {})",
        5.0 * se_var
    );
    println!(
        "{name}: KS D = {d:.5} (crit {crit:.5}), mean {mean:.4} vs {mu:.4}, var {v:.4} vs {var:.4}"
    );
}

fn normal_moments(sd: f64) -> (f64, f64) {
    (sd * sd, 3.0 * sd.powi(4))
}

#[test]
fn logit_normal_is_normal_in_logsnr() {
    // Defaults m = 0, s = 1: λ ~ N(0, 2²).
    let xs = draws(<LogitNormal>::new(), 1);
    let (v, m4) = normal_moments(2.0);
    check(
        "LogitNormal(0, 1)",
        &xs,
        |x| normal_cdf(x, 0.0, 2.0),
        |x| normal_cdf(x, 0.0, 2.0),
        (0.0, v, m4),
    );
    // m = 0.5, s = 0.7: λ ~ N(−1, 1.4²).
    let xs = draws(LogitNormal::<Dec<P5, N1>, Dec<P7, N1>>::new(), 2);
    let (v, m4) = normal_moments(1.4);
    check(
        "LogitNormal(0.5, 0.7)",
        &xs,
        |x| normal_cdf(x, -1.0, 1.4),
        |x| normal_cdf(x, -1.0, 1.4),
        (-1.0, v, m4),
    );
}

#[test]
fn edm_lognormal_has_the_papers_sign() {
    // P_mean = −1.2, P_std = 1.2: λ ~ N(2.4, 2.4²).
    let xs = draws(<EdmLogNormal>::new(), 3);
    let (v, m4) = normal_moments(2.4);
    check(
        "EdmLogNormal(-1.2, 1.2)",
        &xs,
        |x| normal_cdf(x, 2.4, 2.4),
        |x| normal_cdf(x, 2.4, 2.4),
        (2.4, v, m4),
    );
    // Median σ = e^P_mean.
    let mut s: Vec<f64> = xs.iter().map(|l| (-l / 2.0).exp()).collect();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert!((s[N / 2] - 0.3011942).abs() < 0.01, "median σ {}", s[N / 2]);
}

#[test]
fn cosmap_has_the_sech_density() {
    // P(Λ ≤ l) = 1 − (2/π)·atan(e^(−l/2)); mean 0, variance π², E[λ⁴] = 5π⁴.
    let xs = draws(CosMap::new(), 4);
    let cdf = |l: f64| 1.0 - 2.0 / PI * (-l / 2.0).exp().atan();
    check("CosMap", &xs, cdf, cdf, (0.0, PI * PI, 5.0 * PI.powi(4)));
    // SPEC-solvers §7.1: RF t(u = 0.25) = 0.2928932, i.e. λ = −2 ln tan(π/8).
    let l: f64 = CosMap::new().f(0.25);
    let t = 1.0 / (1.0 + (l / 2.0).exp());
    assert!((t - 0.2928932).abs() < 1e-7, "{t}");
}

/// `u` with `λ(t(u)) = l` for mode sampling (λ increases with u), by bisection.
fn mode_u(l: f64, scale: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if rf_logsnr(mode_sampling_t(mid, scale)) < l {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// `E[λ^k]` over `u ~ U(0,1)` by the midpoint rule after `u = (1 − cos πw)/2`, which removes
/// the logarithmic end singularities.
fn mode_moment(k: i32, scale: f64) -> f64 {
    let m = 200_000;
    (0..m)
        .map(|i| {
            let w = (i as f64 + 0.5) / m as f64;
            let u = (1.0 - (PI * w).cos()) / 2.0;
            let du = PI / 2.0 * (PI * w).sin();
            rf_logsnr(mode_sampling_t(u, scale)).powi(k) * du / m as f64
        })
        .sum()
}

#[test]
fn mode_sampling_matches_its_quantile_map() {
    // SPEC-solvers §7.1 sanity values of t(u) for scale 1.29.
    for (u, t) in [(0.25f64, 0.6164161), (0.5, 0.5), (0.75, 0.3835839)] {
        assert!((mode_sampling_t(u, 1.29) - t).abs() < 1e-7, "{u}");
    }
    // A scale outside [−1, 2/(π−2)] does not build (the compile_fail example in
    // `gdf::konst`); the run-time forms refuse it (`DynDensity::mode_sampling`).
    assert!(gdf::dynamic::DynDensity::mode_sampling(2.0).is_err());
    assert!(gdf::dynamic::DynDensity::mode_sampling(1.0).is_ok());
    let scale = 1.29;
    let xs = draws(<ModeSampling>::new(), 5);
    let mean = mode_moment(1, scale);
    let m2 = mode_moment(2, scale);
    let m4 = mode_moment(4, scale);
    assert!(mean.abs() < 1e-9, "symmetric: mean {mean}");
    check(
        "ModeSampling(1.29)",
        &xs,
        |l| mode_u(l, scale),
        |l| mode_u(l, scale),
        (0.0, m2, m4),
    );
    // A second scale: a larger scale puts more mass near the mode (smaller variance of λ).
    let xs = draws(ModeSampling::<Dec<typenum::P8, N1>>::new(), 6);
    let m2b = mode_moment(2, 0.8);
    check(
        "ModeSampling(0.8)",
        &xs,
        |l| mode_u(l, 0.8),
        |l| mode_u(l, 0.8),
        (0.0, m2b, mode_moment(4, 0.8)),
    );
    assert!(
        m2 < m2b,
        "scale 1.29 concentrates at the mode: {m2} vs {m2b}"
    );
}

#[test]
fn uniform_timesteps_draw_the_table_uniformly() {
    let table = DiscreteTable::new(&TableSettings::default()).unwrap();
    let ls: Vec<f64> = table
        .sigmas()
        .iter()
        .map(|&s| -2.0 * (s as f64).ln())
        .collect();
    let t = ls.len() as f64;
    let mean = ls.iter().sum::<f64>() / t;
    let var = ls.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / t;
    let m4 = ls.iter().map(|l| (l - mean).powi(4)).sum::<f64>() / t;
    let xs = draws(UniformTimesteps::new(table.clone()), 7);
    // Every draw is a table value.
    assert!(xs.iter().all(|x| ls.contains(x)));
    let mut sorted = ls.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let cdf = |x: f64| sorted.partition_point(|&l| l <= x) as f64 / t;
    let cdf_left = |x: f64| sorted.partition_point(|&l| l < x) as f64 / t;
    check("UniformTimesteps(SD)", &xs, cdf, cdf_left, (mean, var, m4));
    // As a schedule: t = k/(T−1) gives the table's σ.
    let u = UniformTimesteps::new(table.clone());
    for k in [0usize, 1, 500, 999] {
        let l: f64 = u.f(k as f64 / 999.0);
        let want = -2.0 * (table.sigmas()[k] as f64).ln();
        assert!((l - want).abs() < 1e-9, "{k}: {l} vs {want}");
    }
}

#[test]
fn a_shift_moves_the_density() {
    // Shift 3 moves λ by −2 ln 3 for every draw (the wrapper's shift).
    let g: Gdf<LogitNormal, Vp, Epsilon, LogSnr, Constant, f64> = Gdf::default();
    let (mut a, mut b) = (vec![0.0f64; 64], vec![0.0f64; 64]);
    g.logsnr_into(None, 1.0, 9, 0, &mut a).unwrap();
    g.logsnr_into(None, 3.0, 9, 0, &mut b).unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert!((y - (x - 2.0 * 3f64.ln())).abs() < 1e-12);
    }
    // Declarations.
    assert_eq!(<LogitNormal>::new().decl(), "LogitNormal(m = 0.0, s = 1.0)");
    assert_eq!(
        <EdmLogNormal>::new().decl(),
        "EdmLogNormal(p_mean = -1.2, p_std = 1.2)"
    );
    assert_eq!(<ModeSampling>::new().decl(), "ModeSampling(scale = 1.29)");
}
