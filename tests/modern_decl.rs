//! The modern loss weights and training densities in `gdf!`, in `Display` and in run-time
//! text: a declared framework is the hand-written type, prints text that parses back to a twin
//! with the same numbers, and bad values are refused with the catalog's messages.

use core::any::TypeId;

use gdf::dynamic::DynGdf;
use gdf::gdf;
use gdf::prelude::*;

gdf!(EdmV = schedule: EdmSample, scaler: Vp, target: V, noise_cond: Edm,
     loss_weight: EdmWeight(target = V, sigma_data = 0.5));
gdf!(EdmDefault = schedule: EdmSample, scaler: Vp, target: X0, noise_cond: Edm,
     loss_weight: EdmWeight);
gdf!(Gamma = schedule: Cosine, scaler: Vp, target: Epsilon, noise_cond: CosineT,
     loss_weight: MinSnrGamma(gamma = 5));
gdf!(Soft = schedule: Cosine, scaler: Vp, target: V, noise_cond: CosineT,
     loss_weight: SoftMinSnr(target = V));
gdf!(Sd3 = schedule: RectifiedFlows, scaler: Lerp, target: RectifiedFlows, noise_cond: LogSnr,
     loss_weight: SigmaSqrt);
gdf!(Cos = schedule: RectifiedFlows, scaler: Lerp, target: RectifiedFlows, noise_cond: LogSnr,
     loss_weight: CosMapWeight(clamp_range = [0.0, 10.0]));

gdf!(Sd3Train = schedule: LogitNormal(m = 0, s = 1, shift = 3), scaler: Lerp,
     target: RectifiedFlows, noise_cond: LogSnr, loss_weight: SigmaSqrt);
gdf!(Mode = schedule: ModeSampling, scaler: Lerp, target: RectifiedFlows, noise_cond: LogSnr,
     loss_weight: CosMapWeight);
gdf!(EdmPaper = schedule: EdmLogNormal, scaler: Vp, target: X0, noise_cond: Edm,
     loss_weight: EdmWeight);
gdf!(CosMapD = schedule: CosMap, scaler: Lerp, target: RectifiedFlows, noise_cond: LogSnr,
     loss_weight: Constant);

#[test]
fn declared_densities_are_the_plain_types_and_draw_as_their_parsed_twins() {
    use gdf::density::{CosMap, EdmLogNormal, LogitNormal, ModeSampling};
    use gdf::framework::{DiffuseArgs, Gdf};
    use gdf::konst::Dec;
    use typenum::{P3, Z0};
    assert_eq!(
        TypeId::of::<Sd3Train>(),
        TypeId::of::<
            Gdf<
                schedule::Shifted<LogitNormal, Dec<P3, Z0>>,
                scaler::Lerp,
                target::RectifiedFlows,
                noise_cond::LogSnr,
                gdf::loss_weight::SigmaSqrt,
            >,
        >()
    );
    assert_eq!(
        TypeId::of::<EdmPaper>(),
        TypeId::of::<
            Gdf<EdmLogNormal, scaler::Vp, target::X0, noise_cond::Edm, gdf::loss_weight::EdmWeight>,
        >()
    );
    assert_eq!(
        TypeId::of::<Mode>(),
        TypeId::of::<
            Gdf<
                ModeSampling,
                scaler::Lerp,
                target::RectifiedFlows,
                noise_cond::LogSnr,
                gdf::loss_weight::CosMapWeight,
            >,
        >()
    );
    let _ = CosMap;
    // The printed text parses to a twin that draws the same training λ, bit for bit.
    fn same_draws<G: core::fmt::Display + gdf::framework::Framework>(g: &G) {
        let text = g.to_string();
        let twin: DynGdf = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(twin.to_string(), text);
        let x0 = vec![0.0f64; 64 * 4];
        let args = DiffuseArgs {
            seed: 42,
            ..Default::default()
        };
        let a = g.diffuse(&x0, 64, &args).unwrap();
        let b = twin.diffuse(&x0, 64, &args).unwrap();
        assert_eq!(a.logsnr, b.logsnr, "{text}");
        assert_eq!(a.loss_weight, b.loss_weight, "{text}");
    }
    same_draws(&Sd3Train::default());
    same_draws(&Mode::default());
    same_draws(&EdmPaper::default());
    same_draws(&CosMapD::default());
    assert!(Sd3Train::default()
        .to_string()
        .starts_with("schedule: LogitNormal(m = 0.0, s = 1.0, shift = 3.0)"));
}

#[test]
fn declared_weights_are_the_plain_types() {
    use gdf::framework::Gdf;
    use gdf::konst::Dec;
    use gdf::loss_weight as lw;
    use typenum::{N1, P5, Z0};
    assert_eq!(
        TypeId::of::<EdmV>(),
        TypeId::of::<
            Gdf<
                schedule::EdmSample,
                scaler::Vp,
                target::V,
                noise_cond::Edm,
                lw::EdmWeight<target::V, Dec<P5, N1>>,
            >,
        >()
    );
    assert_eq!(
        TypeId::of::<EdmDefault>(),
        TypeId::of::<
            Gdf<schedule::EdmSample, scaler::Vp, target::X0, noise_cond::Edm, lw::EdmWeight>,
        >()
    );
    assert_eq!(
        TypeId::of::<Gamma>(),
        TypeId::of::<
            Gdf<
                schedule::Cosine,
                scaler::Vp,
                target::Epsilon,
                noise_cond::CosineT,
                lw::MinSnrGamma<target::Epsilon, Dec<P5, Z0>>,
            >,
        >()
    );
    assert_eq!(
        TypeId::of::<Sd3>(),
        TypeId::of::<
            Gdf<
                schedule::RectifiedFlows,
                scaler::Lerp,
                target::RectifiedFlows,
                noise_cond::LogSnr,
                lw::SigmaSqrt,
            >,
        >()
    );
}

/// `Display` prints every default; the text parses to a run-time twin whose weights are the
/// declared type's, bit for bit, and whose text is the same.
fn twin<G: core::fmt::Display>(g: &G, w: impl Fn(f64) -> f64) {
    let text = g.to_string();
    let dynamic: DynGdf = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(dynamic.to_string(), text);
    for i in 0..=80 {
        let l = -20.0 + 0.5 * i as f64;
        let want = w(l);
        let got = dynamic.loss_weight.loss_weight(l, 1.0);
        assert_eq!(
            got.to_bits(),
            want.to_bits(),
            "{text} at λ = {l}: {got} vs {want}"
        );
    }
}

#[test]
fn display_round_trips_through_run_time_text() {
    let g = EdmV::default();
    assert!(g
        .to_string()
        .contains("loss_weight: EdmWeight(target = V, sigma_data = 0.5)"));
    twin(&g, |l| g.loss_weight.loss_weight(l, 1.0));
    let g = EdmDefault::default();
    assert!(
        g.to_string()
            .contains("EdmWeight(target = X0, sigma_data = 0.5)"),
        "{g}"
    );
    twin(&g, |l| g.loss_weight.loss_weight(l, 1.0));
    let g = Gamma::default();
    assert!(
        g.to_string()
            .contains("MinSnrGamma(target = Epsilon, gamma = 5.0)"),
        "{g}"
    );
    twin(&g, |l| g.loss_weight.loss_weight(l, 1.0));
    let g = Soft::default();
    twin(&g, |l| g.loss_weight.loss_weight(l, 1.0));
    let g = Sd3::default();
    twin(&g, |l| g.loss_weight.loss_weight(l, 1.0));
    let g = Cos::default();
    twin(&g, |l| g.loss_weight.loss_weight(l, 1.0));
}

/// The declared weights against their closed forms (SPEC-solvers §7.2).
#[test]
fn declared_weights_against_closed_forms() {
    for i in 0..=40 {
        let l = -10.0 + 0.5 * i as f64;
        let snr = f64::exp(l);
        // EDM on the x0 loss: e^λ + 1/σ_d².
        let w = EdmDefault::default().loss_weight.loss_weight(l, 1.0);
        assert!((w - (snr + 4.0)).abs() <= 1e-12 * (snr + 4.0), "EDM at {l}");
        // min-SNR-5 on ε: min(SNR, 5)/SNR.
        let w = Gamma::default().loss_weight.loss_weight(l, 1.0);
        assert!((w - snr.min(5.0) / snr).abs() <= 1e-12, "min-SNR at {l}");
        // sigma_sqrt: t^−2 with t = σ(−λ/2).
        let t = 1.0 / (1.0 + f64::exp(l / 2.0));
        let w = Sd3::default().loss_weight.loss_weight(l, 1.0);
        assert!((w - 1.0 / (t * t)).abs() <= 1e-12 * w, "sigma_sqrt at {l}");
    }
}

#[test]
fn bad_values_are_refused_at_run_time_like_the_macro() {
    let base = "schedule: Cosine, scaler: Vp, target: Epsilon, noise_cond: CosineT, loss_weight: ";
    for (weight, needle) in [
        ("EdmWeight(sigma_data = -1)", "sigma_data"),
        ("MinSnrGamma(gamma = 0)", "gamma"),
        (
            "EdmWeight(target = Vp)",
            "`Vp` is an input scaler, not a target",
        ),
        ("SigmaSqrt(x = 1)", "x"),
    ] {
        let e = format!("{base}{weight}").parse::<DynGdf>().unwrap_err();
        assert!(e.to_string().contains(needle), "{weight}: {e}");
    }
    let tail = ", scaler: Lerp, target: RectifiedFlows, noise_cond: LogSnr, loss_weight: Constant";
    for (schedule, needle) in [
        ("LogitNormal(s = 0)", "`s` must be positive"),
        ("EdmLogNormal(p_std = -1)", "`p_std` must be positive"),
        ("ModeSampling(scale = 5)", "scale"),
    ] {
        let e = format!("schedule: {schedule}{tail}")
            .parse::<DynGdf>()
            .unwrap_err();
        assert!(e.to_string().contains(needle), "{schedule}: {e}");
    }
}
