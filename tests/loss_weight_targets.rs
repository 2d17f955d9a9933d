//! The loss weights of `gdf::weighting` against their closed forms on a λ grid, and the
//! target conversion (`target_scale`, `convert_weight`) against a direct computation of the
//! losses on random vectors for the ε, x0, v and RF targets.

use gdf::prelude::*;
use gdf::weighting::{
    convert_weight, target_scale, CosMapWeight, EdmWeight, MinSnrGamma, SigmaSqrt, SoftMinSnr,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use gdf::konst::{Dec, One};
use gdf::target::{Epsilon, RectifiedFlows, V, X0};
use typenum::{N1, P5};

type Half = Dec<P5, N1>;

fn grid() -> Vec<f64> {
    (0..97).map(|i| -12.0 + 0.25 * i as f64).collect()
}

fn assert_close(what: &str, l: f64, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-11 * want.abs().max(1e-300),
        "{what} at λ = {l}: {got} vs {want}"
    );
}

fn sigma(l: f64) -> f64 {
    (-l / 2.0).exp()
}

/// The RF noise level of λ: `t = 1/(1 + e^(λ/2))`.
fn rf_t(l: f64) -> f64 {
    1.0 / (1.0 + (l / 2.0).exp())
}

#[test]
fn edm_weight_closed_forms() {
    let sd: f64 = 0.5;
    for l in grid() {
        let s = sigma(l);
        let x0 = (s * s + sd * sd) / (s * sd).powi(2);
        assert_close("EDM x0", l, EdmWeight::<X0, Half>::new().weight(l), x0);
        assert_close(
            "EDM ε",
            l,
            EdmWeight::<Epsilon, Half>::new().weight(l),
            (s * s + sd * sd) / (sd * sd),
        );
        assert_close(
            "EDM v",
            l,
            EdmWeight::<V, Half>::new().weight(l),
            (s * s + sd * sd) / (sd * sd * (1.0 + s * s)),
        );
    }
    // SPEC-solvers §7.2: 8 at σ = 0.5.
    let w: f64 = <EdmWeight>::new().weight(-2.0 * 0.5f64.ln());
    assert!((w - 8.0).abs() < 1e-12);
}

#[test]
fn soft_min_snr_closed_forms() {
    for l in grid() {
        let s = sigma(l);
        let sig = 1.0 / (1.0 + (-l).exp());
        assert_close("soft-min-snr σd=1", l, <SoftMinSnr>::new().weight(l), sig);
        assert_close(
            "soft-min-snr σd=0.5 x0",
            l,
            SoftMinSnr::<X0, Half>::new().weight(l),
            1.0 / (s * s + 0.25),
        );
        assert_close(
            "soft-min-snr σd=0.5 ε",
            l,
            SoftMinSnr::<Epsilon, Half>::new().weight(l),
            1.0 / (1.0 + 0.25 * l.exp()),
        );
    }
}

#[test]
fn min_snr_gamma_closed_forms() {
    for l in grid() {
        let snr = l.exp();
        let m = snr.min(5.0);
        assert_close("min-snr ε", l, <MinSnrGamma>::new().weight(l), m / snr);
        assert_close(
            "min-snr v",
            l,
            MinSnrGamma::<V>::new().weight(l),
            m / (snr + 1.0),
        );
        assert_close("min-snr x0", l, MinSnrGamma::<X0>::new().weight(l), m);
        let t = rf_t(l);
        assert_close(
            "min-snr RF",
            l,
            MinSnrGamma::<RectifiedFlows>::new().weight(l),
            m * t * t,
        );
        assert_close(
            "min-snr γ=1 x0",
            l,
            MinSnrGamma::<X0, One>::new().weight(l),
            snr.min(1.0),
        );
    }
    // SPEC-solvers §7.2: SNR 10, γ 5 → 0.5 (ε), 0.4545 (v).
    let l = 10f64.ln();
    assert!((<MinSnrGamma>::new().weight(l) - 0.5).abs() < 1e-12);
    assert!((MinSnrGamma::<V>::new().weight(l) - 0.454545).abs() < 1e-6);
}

#[test]
fn sd3_weightings_closed_forms() {
    for l in grid() {
        let t = rf_t(l);
        assert_close("sigma_sqrt", l, SigmaSqrt.weight(l), t.powi(-2));
        assert_close(
            "cosmap",
            l,
            CosMapWeight.weight(l),
            2.0 / (std::f64::consts::PI * (1.0 - 2.0 * t + 2.0 * t * t)),
        );
    }
    // SPEC-solvers §7.2: 1.0185916 at t = 0.25 (λ = 2 ln 3).
    let w: f64 = CosMapWeight.weight(2.0 * 3f64.ln());
    assert!((w - 1.0185916).abs() < 1e-7);
    // The cosmap weight is the CosMap density of t, which integrates to 1 over (0, 1).
    let m = 100_000;
    let integral: f64 = (0..m)
        .map(|i| {
            let t: f64 = (i as f64 + 0.5) / m as f64;
            let l = 2.0 * ((1.0 - t) / t).ln();
            CosMapWeight.weight(l) / m as f64
        })
        .sum();
    assert!((integral - 1.0).abs() < 1e-6, "{integral}");
}

/// `Σ (F̂ − F)²` and `Σ (D̂ − x0)²` for target `T` at `(a, b)`, where `F̂` is the target of
/// the prediction whose x0 is `D̂` (its implied noise `ε̂ = (x − a·D̂)/b` at the same `x`).
fn losses<T: Target>(t: &T, x0: &[f64], eps: &[f64], d: &[f64], a: f64, b: f64) -> (f64, f64) {
    let mut lf = 0.0;
    let mut ld = 0.0;
    for i in 0..x0.len() {
        let x = a * x0[i] + b * eps[i];
        let e_hat = (x - a * d[i]) / b;
        let f = t.target(x0[i], eps[i], a, b);
        let f_hat = t.target(d[i], e_hat, a, b);
        lf += (f_hat - f).powi(2);
        ld += (d[i] - x0[i]).powi(2);
    }
    (lf, ld)
}

fn check_target<T: Target, S: Scaler>(t: &T, s: &S, rng: &mut StdRng, closed: impl Fn(f64) -> f64) {
    for l in [-8.0, -3.0, -0.5, 0.0, 0.7, 2.0, 6.0] {
        let (a, b) = s.ab(l);
        let n = 64;
        let draw =
            |rng: &mut StdRng| -> Vec<f64> { (0..n).map(|_| StandardNormal.sample(rng)).collect() };
        let x0 = draw(rng);
        let eps = draw(rng);
        let noise = draw(rng);
        let d: Vec<f64> = x0.iter().zip(&noise).map(|(x, n)| x + 0.3 * n).collect();
        let (lf, ld) = losses(t, &x0, &eps, &d, a, b);
        let c2 = target_scale(t, a, b);
        assert!(
            (lf - c2 * ld).abs() <= 1e-10 * lf,
            "{} {} λ = {l}: ‖F̂−F‖² = {lf}, c²‖D̂−x0‖² = {}",
            t.decl(),
            s.decl(),
            c2 * ld
        );
        let want = closed(l);
        assert!(
            (c2 - want).abs() <= 1e-12 * want,
            "{} {} λ = {l}: c² = {c2} vs {want}",
            t.decl(),
            s.decl()
        );
    }
}

#[test]
fn target_conversion_matches_direct_computation() {
    let mut rng = StdRng::seed_from_u64(14);
    let vp = gdf::scaler::Vp;
    let lerp = gdf::scaler::Lerp;
    // SPEC-solvers §7.2: ε e^λ (any scaler), v on VP 1 + e^λ, RF on LERP (1 + e^(λ/2))², x0 1.
    check_target(&Epsilon, &vp, &mut rng, f64::exp);
    check_target(&Epsilon, &lerp, &mut rng, f64::exp);
    check_target(&X0, &vp, &mut rng, |_| 1.0);
    check_target(&X0, &lerp, &mut rng, |_| 1.0);
    check_target(&V, &vp, &mut rng, |l| 1.0 + l.exp());
    check_target(&RectifiedFlows, &lerp, &mut rng, |l| {
        (1.0 + (l / 2.0).exp()).powi(2)
    });
    // Off their usual scalers the general form (α − β·a/b)² still holds.
    check_target(&V, &lerp, &mut rng, |l| {
        let (a, b) = lerp.ab(l);
        ((a * a + b * b) / b).powi(2)
    });
    check_target(&RectifiedFlows, &vp, &mut rng, |l| {
        let (a, b) = vp.ab(l);
        ((a + b) / b).powi(2)
    });
}

#[test]
fn converted_weights_give_the_same_loss() {
    let mut rng = StdRng::seed_from_u64(7);
    let vp = gdf::scaler::Vp;
    for l in [-4.0f64, 0.0, 3.0] {
        let (a, b) = vp.ab(l);
        let x0: Vec<f64> = (0..32).map(|_| StandardNormal.sample(&mut rng)).collect();
        let eps: Vec<f64> = (0..32).map(|_| StandardNormal.sample(&mut rng)).collect();
        let d: Vec<f64> = x0.iter().map(|x| 0.9 * x + 0.1).collect();
        let (le, _) = losses(&Epsilon, &x0, &eps, &d, a, b);
        let (lv, _) = losses(&V, &x0, &eps, &d, a, b);
        let w_eps = 0.37;
        let w_v = convert_weight(w_eps, &Epsilon, &V, a, b);
        assert!(
            (w_eps * le - w_v * lv).abs() <= 1e-12 * w_eps * le,
            "λ = {l}"
        );
        // And back.
        let back = convert_weight(w_v, &V, &Epsilon, a, b);
        assert!((back - w_eps).abs() < 1e-14);
    }
}

#[test]
fn declarations() {
    assert_eq!(
        <EdmWeight>::new().decl(),
        "EdmWeight(target = X0, sigma_data = 0.5)"
    );
    assert_eq!(
        MinSnrGamma::<V>::new().decl(),
        "MinSnrGamma(target = V, gamma = 5.0)"
    );
    assert_eq!(
        <SoftMinSnr>::new().decl(),
        "SoftMinSnr(target = X0, sigma_data = 1.0)"
    );
    assert_eq!(SigmaSqrt.decl(), "SigmaSqrt");
    assert_eq!(CosMapWeight.decl(), "CosMapWeight");
    // Through the trait's wrapper (default clamp ±1e9, shift 1).
    let w: f64 = <MinSnrGamma>::new().loss_weight(0.0, 1.0);
    assert!((w - 1.0).abs() < 1e-15);
}

/// The converted weights are ratios of exponentials: at λ = ±∞ (and past `exp`'s range) they
/// take their closed forms' limits instead of `∞·0 = NaN`, in f64, f32 and through the
/// run-time `DynWeighting`; a NaN λ stays NaN.
#[test]
fn converted_weights_take_their_limits_past_exp_range() {
    use gdf::dynamic::DynWeighting;
    let sd: f64 = 0.5;
    // (weight, λ, the closed form's limit)
    type Case = (Box<dyn Fn(f64) -> f64>, f64, f64);
    let cases: [Case; 7] = [
        // ε: (σ² + σ_d²)/σ_d² → 1 as σ → 0
        (
            Box::new(|l| EdmWeight::<Epsilon, Half>::new().weight(l)),
            f64::INFINITY,
            1.0,
        ),
        (
            Box::new(|l| EdmWeight::<Epsilon, Half>::new().weight(l)),
            800.0,
            1.0,
        ),
        // v: (σ² + σ_d²)/(σ_d²(1 + σ²)) → 1 as σ → 0, → 1/σ_d² = 4 as σ → ∞
        (
            Box::new(|l| EdmWeight::<V, Half>::new().weight(l)),
            f64::INFINITY,
            1.0,
        ),
        (
            Box::new(|l| EdmWeight::<V, Half>::new().weight(l)),
            f64::NEG_INFINITY,
            1.0 / (sd * sd),
        ),
        // soft-min-SNR on ε: 1/(1 + σ_d² e^λ) → 1 as λ → −∞
        (
            Box::new(|l| SoftMinSnr::<Epsilon, One>::new().weight(l)),
            f64::NEG_INFINITY,
            1.0,
        ),
        // min-SNR-γ on ε: min(e^λ, γ)·e^(−λ) → 1 as λ → −∞
        (
            Box::new(|l| MinSnrGamma::<Epsilon>::new().weight(l)),
            f64::NEG_INFINITY,
            1.0,
        ),
        (
            Box::new(|l| MinSnrGamma::<Epsilon>::new().weight(l)),
            -1000.0,
            1.0,
        ),
    ];
    for (i, (w, l, want)) in cases.iter().enumerate() {
        let got = w(*l);
        assert!(
            (got - want).abs() < 1e-12,
            "case {i} at λ = {l}: {got} vs {want}"
        );
    }
    // f32: e^λ overflows from λ ≈ 88
    let w32: f32 = EdmWeight::<Epsilon, Half>::new().weight(100.0f32);
    assert_eq!(w32, 1.0);
    let w32: f32 = EdmWeight::<Epsilon, Half>::new().weight(f32::INFINITY);
    assert_eq!(w32, 1.0);
    // the run-time form agrees, and NaN stays NaN
    let dynw = DynWeighting::edm(gdf::dynamic::DynTarget::Epsilon, sd).unwrap();
    assert!((dynw.weight(f64::INFINITY) - 1.0).abs() < 1e-12);
    assert!(dynw.weight(f64::NAN).is_nan());
    assert!(EdmWeight::<Epsilon, Half>::new().weight(f64::NAN).is_nan());
    // and in range nothing moves: λ = 60 keeps its value
    let s = sigma(60.0);
    assert_close(
        "EDM ε at 60",
        60.0,
        EdmWeight::<Epsilon, Half>::new().weight(60.0),
        (s * s + sd * sd) / (sd * sd),
    );
}
