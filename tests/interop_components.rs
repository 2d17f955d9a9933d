//! The components the diffusers loader added, against closed forms: `NegV` (EDM's network
//! output F), `FlowSigma` (the flow-matching timestep), `TableTimestep` (diffusers'
//! `_sigma_to_t`), `Consistency` (consistency models' boundary parameterisation) and
//! `LogSigma` (their `250·ln σ` timestep), declared with `gdf!` and parsed from run-time text.

use gdf::dynamic::{DynGdf, DynTarget};
use gdf::gdf;
use gdf::noise_cond::TableTimestep;
use gdf::prelude::*;

// Playground v2.5 and SD3 as types: the loader's frameworks without tables.
gdf!(Playground = schedule: EdmSample(sigma_range = [0.004, 160], p = 7), scaler: Vp,
     target: NegV, noise_cond: Edm(shift = 2), loss_weight: Constant);
gdf!(Sd3 = schedule: RectifiedFlows(shift = 3), scaler: Lerp, target: RectifiedFlows,
     noise_cond: FlowSigma(scale = 1000), loss_weight: Constant);

#[test]
fn declared_types_are_zero_sized_and_print_their_text() {
    assert_eq!(core::mem::size_of::<Playground>(), 0);
    assert_eq!(core::mem::size_of::<Sd3>(), 0);
    for text in [
        Playground::default().to_string(),
        Sd3::default().to_string(),
    ] {
        let d: DynGdf = text.parse().unwrap();
        assert_eq!(d.to_string(), text);
    }
    assert!(Sd3::default()
        .to_string()
        .contains("FlowSigma(scale = 1000"));
}

#[test]
fn flow_sigma_is_scale_times_the_lerp_b() {
    let sd3 = Sd3::default();
    let d: DynGdf = sd3.to_string().parse().unwrap();
    for s in [1e-6f64, 0.01, 0.3, 0.5, 0.77, 0.999] {
        // x = (1−s)·x0 + s·ε: λ = 2 ln((1−s)/s).
        let lam = 2.0 * ((1.0 - s).ln() - s.ln());
        let got = sd3.noise_cond.noise_cond(lam);
        assert!((got - 1000.0 * s).abs() <= 1e-12 * 1000.0, "s = {s}: {got}");
        assert_eq!(d.noise_cond.noise_cond(lam), got);
        let (_a, b) = scaler::Lerp.ab(lam);
        assert!((b - s).abs() < 1e-14);
    }
    assert_eq!(sd3.noise_cond.noise_cond(f64::NEG_INFINITY), 1000.0);
    assert_eq!(sd3.noise_cond.noise_cond(f64::INFINITY), 0.0);
}

#[test]
fn neg_v_is_edm_f() {
    // EDM: D = c_skip·x + c_out·F with σ_data = 0.5, c_skip = σd²/(σ²+σd²),
    // c_out = σ·σd/√(σ²+σd²) (diffusers' "epsilon"). In gdf's frame over x0/σd,
    // NegV.x0(x_vp, F, a, b) must be D/σd.
    let sd = 0.5f64;
    for (sigma, x_raw, f) in [(80.0f64, 12.0, 0.3), (1.3, -0.7, -1.1), (0.01, 0.2, 2.0)] {
        let d = sd * sd / (sigma * sigma + sd * sd) * x_raw
            + sigma * sd / (sigma * sigma + sd * sd).sqrt() * f;
        let lam = -2.0 * (sigma / sd).ln();
        let (a, b) = scaler::Vp.ab(lam);
        let x_vp = x_raw / sd * a;
        let x0 = target::NegV.x0(x_vp, f, a, b);
        assert!(
            (x0 - d / sd).abs() < 1e-12 * (1.0 + x0.abs()),
            "σ = {sigma}"
        );
        // The training target is −v, and ε round-trips.
        let eps = target::NegV.eps(x_vp, f, a, b);
        assert!((target::NegV.target(x0, eps, a, b) - f).abs() < 1e-12);
        assert_eq!(
            target::NegV.target(x0, eps, a, b),
            -target::V.target(x0, eps, a, b)
        );
    }
}

#[test]
fn table_timestep_is_sigma_to_t() {
    // A table with uneven log-σ spacing; diffusers' _sigma_to_t interpolates ln σ linearly.
    let ls = vec![-3.0, -1.0, 0.5, 0.6, 4.0];
    let frac = TableTimestep::new(ls.clone(), false).unwrap();
    let round = TableTimestep::new(ls.clone(), true).unwrap();
    let at = |l_sigma: f64| -2.0 * l_sigma; // λ of σ = e^{l_sigma}
    for (k, &v) in ls.iter().enumerate() {
        assert_eq!(frac.noise_cond(at(v)), k as f64);
        assert_eq!(round.noise_cond(at(v)), k as f64);
    }
    // Between knots: k + (ls_k − ln σ)/(ls_k − ls_{k+1}).
    assert!((frac.noise_cond(at(0.55)) - 2.5).abs() < 1e-12);
    assert!((frac.noise_cond(at(-2.5)) - 0.25).abs() < 1e-12);
    assert_eq!(round.noise_cond(at(-2.5)), 0.0);
    assert_eq!(round.noise_cond(at(3.0)), 4.0); // 3 + 2.4/3.4 = 3.71
                                                // Outside the table: the end steps.
    assert_eq!(frac.noise_cond(at(-10.0)), 0.0);
    assert_eq!(frac.noise_cond(at(10.0)), 4.0);
    assert_eq!(frac.noise_cond(f64::INFINITY), 0.0);
    // Bad tables are typed errors; text round-trips.
    assert!(TableTimestep::new(vec![1.0], true).is_err());
    assert!(TableTimestep::new(vec![1.0, 0.5], true).is_err());
    assert!(TableTimestep::new(vec![0.0, f64::NAN], true).is_err());
    let text = "schedule: Cosine, scaler: Vp, target: Epsilon, \
                noise_cond: TableTimestep(log_sigmas = [-3.0, -1.0, 0.5], round = false), \
                loss_weight: P2";
    let g: DynGdf = text.parse().unwrap();
    assert_eq!(
        g.to_string().parse::<DynGdf>().unwrap().to_string(),
        g.to_string()
    );
    assert!((g.noise_cond.noise_cond(at(-2.0)) - 0.5).abs() < 1e-12);
    let e = "schedule: Cosine, scaler: Vp, target: Epsilon, \
             noise_cond: TableTimestep(log_sigmas = [1.0, 0.0]), loss_weight: P2"
        .parse::<DynGdf>()
        .unwrap_err();
    assert!(e.to_string().contains("strictly increasing"), "{e}");
}

// MiniMax-H3: the velocity toward the data (`denoised = x + σ·p`).
gdf!(MiniMax = schedule: RectifiedFlows(shift = 12), scaler: Lerp, target: NegRectifiedFlows,
     noise_cond: FlowSigma(scale = 1), loss_weight: MinSnrGamma(target = NegRectifiedFlows, gamma = 5));

#[test]
fn neg_rectified_flows_is_the_velocity_toward_the_data() {
    let g = MiniMax::default();
    assert_eq!(core::mem::size_of::<MiniMax>(), 0);
    let text = g.to_string();
    assert!(text.contains("target: NegRectifiedFlows"), "{text}");
    let d: DynGdf = text.parse().unwrap();
    assert_eq!(d.to_string(), text);
    for &(x0, eps, s) in &[(0.3f64, -1.2, 0.25), (-2.0, 0.5, 0.9), (1.0, 1.0, 0.5)] {
        let (a, b) = (1.0 - s, s);
        let x = a * x0 + b * eps;
        let p = target::NegRectifiedFlows.target(x0, eps, a, b);
        assert_eq!(p, x0 - eps);
        assert_eq!(p, -target::RectifiedFlows.target(x0, eps, a, b));
        // MiniMax-H3's step reads `denoised = sample + σ·output`.
        assert!((target::NegRectifiedFlows.x0(x, p, a, b) - (x + s * p)).abs() < 1e-15);
        assert!((target::NegRectifiedFlows.x0(x, p, a, b) - x0).abs() < 1e-12);
        assert!((target::NegRectifiedFlows.eps(x, p, a, b) - eps).abs() < 1e-12);
        // Typed and run-time frameworks agree (the loss weight converts as RectifiedFlows's).
        let lam = 2.0 * (a / b).ln();
        let w_typed = g.loss_weight.weight(lam);
        let w_dyn = d.loss_weight.weight(lam);
        assert!(
            (w_typed - w_dyn).abs() <= 1e-12 * w_typed.abs().max(1.0),
            "{w_typed} vs {w_dyn}"
        );
    }
}

// A consistency model (ImageNet-64's distillation: σ 0.002–80, σ_d 0.5) over x0/σ_d:
// the boundary σ_min/σ_d = 0.004, the network's timestep 250·ln σ of the data-unit σ.
gdf!(ConsistencyModel = schedule: EdmSample(sigma_range = [0.004, 160], p = 7), scaler: Vp,
     target: Consistency(sigma_min = 0.004), noise_cond: LogSigma(scale = 250, shift = 2),
     loss_weight: Constant);

/// The paper's parameterisation in data units (Song et al. 2023, appendix C):
/// `D = c_skip·x + c_out·F`, `c_skip = σ_d²/((σ − σ_min)² + σ_d²)`,
/// `c_out = (σ − σ_min)·σ_d/√(σ² + σ_d²)`, `x = x0 + σ·ε`.
fn cm_denoised(x: f64, f: f64, sigma: f64) -> f64 {
    let (sd, smin) = (0.5f64, 0.002f64);
    let c_skip = sd * sd / ((sigma - smin).powi(2) + sd * sd);
    let c_out = (sigma - smin) * sd / (sigma * sigma + sd * sd).sqrt();
    c_skip * x + c_out * f
}

#[test]
fn consistency_target_is_the_papers_boundary_parameterisation() {
    let g = ConsistencyModel::default();
    assert_eq!(core::mem::size_of::<ConsistencyModel>(), 0);
    let text = g.to_string();
    assert!(
        text.contains("target: Consistency(sigma_min = 0.004)"),
        "{text}"
    );
    assert!(text.contains("LogSigma(scale = 250"), "{text}");
    let d: DynGdf = text.parse().unwrap();
    assert_eq!(d.to_string(), text);
    for &sigma in &[80.0f64, 3.1, 0.5, 0.02, 0.0025] {
        // gdf's VP frame over x0/σ_d at σ/σ_d.
        let lam = -2.0 * (sigma / 0.5).ln();
        let (a, b) = g.scaler.ab(lam);
        for &(x_data, f) in &[(1.3f64, -0.4), (-7.0, 2.5), (0.2, 0.0)] {
            // The network sees x/√(σ² + σ_d²), which is gdf's x.
            let x = x_data / (sigma * sigma + 0.25).sqrt();
            let want = cm_denoised(x_data, f, sigma) / 0.5;
            for got in [g.target.x0(x, f, a, b), d.target.x0(x, f, a, b)] {
                assert!(
                    (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                    "σ {sigma}: {got} vs {want}"
                );
            }
            // The training target is the F that reproduces x0 (and ε) exactly.
            let eps = g.target.eps(x, f, a, b);
            let x0 = g.target.x0(x, f, a, b);
            assert!((a * x0 + b * eps - x).abs() < 1e-12 * x.abs().max(1.0));
            let back = g.target.target(x0, eps, a, b);
            assert!(
                (back - f).abs() < 1e-9 * f.abs().max(1.0),
                "σ {sigma}: {back} vs {f}"
            );
        }
        // The timestep: 250·ln σ of the data-unit σ.
        let t = g.noise_cond.noise_cond(lam);
        assert!((t - 250.0 * sigma.ln()).abs() < 1e-10, "{t}");
        assert_eq!(d.noise_cond.noise_cond(lam), t);
    }
    // At the boundary σ = σ_min the output has no effect: D = x (in data units).
    let lam = -2.0 * 0.004f64.ln();
    let (a, b) = g.scaler.ab(lam);
    let x = 0.8;
    assert!((g.target.x0(x, 1e6, a, b) - x / a).abs() < 1e-6);
    // sigma_min = 0 is NegV.
    let neg_v = DynTarget::Consistency(0.0);
    for &(x, p) in &[(0.3f64, -1.1), (2.0, 0.7)] {
        assert!((neg_v.x0(x, p, 0.6, 0.8) - target::NegV.x0(x, p, 0.6, 0.8)).abs() < 1e-15);
        assert!((neg_v.eps(x, p, 0.6, 0.8) - target::NegV.eps(x, p, 0.6, 0.8)).abs() < 1e-15);
    }
}

#[test]
fn consistency_sigma_min_is_checked_at_run_time() {
    let mut d: DynGdf = ConsistencyModel::default().to_string().parse().unwrap();
    d.target = DynTarget::Consistency(f64::NAN);
    let e = d.target.check().unwrap_err().to_string();
    assert!(e.contains("sigma_min") && e.contains("NaN"), "{e}");
    d.target = DynTarget::Consistency(-0.1);
    assert!(d.target.check().is_err());
    // The parser refuses a negative boundary by name.
    let e = "schedule: EdmSample, scaler: Vp, target: Consistency(sigma_min = -1), \
             noise_cond: Edm, loss_weight: Constant"
        .parse::<DynGdf>()
        .unwrap_err()
        .to_string();
    assert!(e.contains("sigma_min"), "{e}");
    // Eq and Hash by value.
    use std::collections::HashSet;
    let set: HashSet<DynTarget> = [
        DynTarget::Consistency(0.004),
        DynTarget::Consistency(0.004),
        DynTarget::Consistency(0.0),
        DynTarget::Consistency(-0.0),
        DynTarget::NegV,
    ]
    .into_iter()
    .collect();
    assert_eq!(set.len(), 3);
}
