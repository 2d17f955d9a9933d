//! The components the diffusers loader added, against closed forms: `NegV` (EDM's network
//! output F), `FlowSigma` (the flow-matching timestep) and `TableTimestep` (diffusers'
//! `_sigma_to_t`), declared with `gdf!` and parsed from run-time text.

use gdf::dynamic::DynGdf;
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
