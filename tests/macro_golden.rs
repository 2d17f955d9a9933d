//! `gdf!`-declared frameworks against the golden data and closed forms.
//!
//! * Every case of `diffuse.json` (diffuse and undiffuse) runs through a framework type
//!   declared with `gdf!`, picked by comparing the type's `Display` with the declaration of
//!   the case's spec; the numbers must match the golden ones (f64, rtol 1e-6, atol 1e-9).
//! * Declared types equal the hand-written ones; stateless ones are zero-sized.
//! * Literals become bit-exact constants.
//! * Display round trip: the printed declaration, pasted into `gdf!`, is the same type.

mod common;

use core::any::TypeId;
use core::mem::size_of;

use common::*;
use gdf::framework::Gdf;
use gdf::gdf;
use gdf::konst::{Dec, Param};
use gdf::prelude::*;
use gdf::scaler::Stretch;
use serde_json::Value;
use typenum::{N1, N2, P1, P25};

// The golden diffuse.json configurations, declared as a user would.
gdf! {
    /// Stable Cascade's stage C (config `sc`).
    pub StageC = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp, target: Epsilon,
        noise_cond: CosineT, loss_weight: P2;
    /// `sc` with offset noise.
    pub StageCOffset = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp,
        target: Epsilon, noise_cond: CosineT, loss_weight: P2, offset_noise: 0.25;
    /// Config `edm`, written with the original's Python names, straight from the spec.
    pub EdmVp = schedule: EDMSampleSchedule, input_scaler: VPScaler, target: VTarget,
        noise_cond: EDMNoiseCond,
        loss_weight: ComposedLossWeight(div = [SNRPlusOneLossWeight], mul = [MinSNRLossWeight(max_snr = 5)]);
    /// Config `rf`.
    pub Rf = schedule: RectifiedFlows, scaler: Lerp, target: RectifiedFlows,
        noise_cond: RectifiedFlows, loss_weight: Constant;
    /// `rf` with offset noise.
    pub RfOffset = schedule: RectifiedFlows, scaler: Lerp, target: RectifiedFlows,
        noise_cond: RectifiedFlows, loss_weight: Constant, offset_noise: 0.25;
    /// Config `stretched` (its `setup_limits` call is applied at run time).
    pub StretchedX0 = schedule: Cosine, scaler: Vp, target: X0, noise_cond: Sigmoid,
        loss_weight: Snr, offset_noise: 0.1
}

// The same `edm` framework in this crate's names.
gdf!(EdmVpRust = schedule: EdmSample, scaler: Vp, target: V, noise_cond: Edm,
     loss_weight: Composed(mul = [MinSnr(max_snr = 5)], div = [SnrPlusOne]));

#[test]
fn declared_types_are_the_hand_written_ones() {
    use gdf::loss_weight as lw;
    use gdf::noise_cond as nc;
    use gdf::{scaler, schedule as sc, target as tg};
    fn same<A: 'static, B: 'static>() -> bool {
        TypeId::of::<A>() == TypeId::of::<B>()
    }
    assert!(same::<
        StageC,
        Gdf<sc::Cosine, scaler::Vp, tg::Epsilon, nc::CosineT, lw::P2>,
    >());
    assert!(same::<
        StageCOffset,
        Gdf<sc::Cosine, scaler::Vp, tg::Epsilon, nc::CosineT, lw::P2, Dec<P25, N2>>,
    >());
    type Composed = lw::Composed<(lw::MinSnr,), (lw::SnrPlusOne,)>;
    assert!(same::<
        EdmVp,
        Gdf<sc::EdmSample, scaler::Vp, tg::V, nc::Edm, Composed>,
    >());
    assert!(same::<EdmVp, EdmVpRust>());
    assert!(same::<
        Rf,
        Gdf<sc::RectifiedFlows, scaler::Lerp, tg::RectifiedFlows, nc::RectifiedFlows, lw::Constant>,
    >());
    assert!(same::<
        StretchedX0,
        Gdf<sc::Cosine, scaler::Vp, tg::X0, nc::Sigmoid, lw::Snr, Dec<P1, N1>>,
    >());
    // A different constant is a different type.
    assert!(!same::<StageC, StageCOffset>());
}

#[test]
fn stateless_frameworks_are_zero_sized() {
    assert_eq!(size_of::<StageC>(), 0);
    assert_eq!(size_of::<StageCOffset>(), 0);
    assert_eq!(size_of::<EdmVp>(), 0);
    assert_eq!(size_of::<Rf>(), 0);
    assert_eq!(size_of::<RfOffset>(), 0);
    assert_eq!(size_of::<StretchedX0>(), 0);
    assert_eq!(size_of::<Everything>(), 0);
    assert_eq!(size_of::<Mixture>(), 0);
    assert_eq!(size_of::<SdDiscrete>(), 0);
    assert_eq!(size_of::<EdmSigmaTrain>(), 0);
    assert_eq!(size_of::<Misc>(), 0);
    // Adaptive components carry their buckets.
    let a = AdaptiveBoth::default();
    assert!(size_of::<AdaptiveBoth>() > 0);
    assert_eq!(a.schedule.bucket_probs().len(), 20);
    assert_eq!(a.loss_weight.bucket_losses().len(), 30);
}

#[test]
fn offset_noise_is_the_literal() {
    assert_eq!(StageC::default().offset_noise.get(), 0.0);
    assert_eq!(StageCOffset::default().offset_noise.get(), 0.25);
    assert_eq!(StretchedX0::default().offset_noise.get(), 0.1);
}

// ---------------------------------------------------------------------------------------
// Literals are exact.

gdf!(Digits = schedule: Cosine(s = 0.123456789012345, clamp_range = [1e-5, 0.99995]),
     scaler: Vp, target: Epsilon, noise_cond: EdmSigma(sigma_data = 0.5),
     loss_weight: P2(k = 2.5e-3, gamma = -0.75, s = 1e20), offset_noise: 0.3);

fn cosine_params<
    S: gdf::konst::Const,
    Lo: gdf::konst::Const,
    Hi: gdf::konst::Const,
    N: gdf::konst::Flag,
>(
    _: &gdf::schedule::Cosine<S, Lo, Hi, N>,
) -> gdf::schedule::VarParams {
    gdf::schedule::Cosine::<S, Lo, Hi, N>::PARAMS
}

#[test]
fn literals_are_bit_exact() {
    let g = Digits::default();
    let p = cosine_params(&g.schedule);
    assert_eq!(p.s.to_bits(), 0.123456789012345f64.to_bits());
    assert_eq!(p.clamp_range[0].to_bits(), 1e-5f64.to_bits());
    assert_eq!(p.clamp_range[1].to_bits(), 0.99995f64.to_bits());
    assert!(!p.norm_instead);
    assert_eq!(g.offset_noise.get().to_bits(), 0.3f64.to_bits());
    // EdmSigma: e^(−λ/2)·sigma_data, at λ = 0 exactly sigma_data.
    assert_eq!(g.noise_cond.noise_cond(0.0f64), 0.5);
    // P2: (k + e^(λ·s))^(−gamma); at λ = 0: (0.0025 + 1)^0.75.
    let w: f64 = g.loss_weight.loss_weight(0.0, 1.0);
    assert_eq!(w, (2.5e-3f64 + 1.0).powf(0.75));
    assert_eq!(
        g.loss_weight.decl(),
        "P2(k = 0.0025, gamma = -0.75, s = 1e20)"
    );
}

// ---------------------------------------------------------------------------------------
// Wrapper parameters behave as their closed forms say.

gdf!(Shifted2 = schedule: Cosine(shift = 2), scaler: Vp, target: Epsilon,
     noise_cond: LogSnr(shift = 2, clamp_range = [-3, 3]), loss_weight: Snr(clamp_range = [0, 4]));
gdf!(Snapped = schedule: Linear(discrete_steps = 11, force_limits = false), scaler: Vp,
     target: Epsilon, noise_cond: LogSnr, loss_weight: Snr);

#[test]
fn wrappers_follow_their_formulas() {
    let plain = <gdf::schedule::Cosine>::new().limits().unwrap();
    let g = Shifted2::default();
    let [lo, hi] = g.schedule.limits().unwrap();
    let k = 2.0 * 2f64.ln();
    assert!((lo - (plain[0] - k)).abs() < 1e-12 && (hi - (plain[1] - k)).abs() < 1e-12);
    // The README's value for CosineSchedule(shift=2).limits.
    assert!((lo + 10.5965).abs() < 1e-4 && (hi - 7.8239).abs() < 1e-4);
    // Noise cond: λ + 2·ln 2, then clamped to [-3, 3].
    assert!((g.noise_cond.noise_cond(0.5f64) - (0.5 + k)).abs() < 1e-12);
    assert_eq!(g.noise_cond.noise_cond(10.0f64), 3.0);
    assert_eq!(g.noise_cond.noise_cond(-10.0f64), -3.0);
    // Loss weight: e^λ clamped to [0, 4].
    assert_eq!(g.loss_weight.loss_weight(5.0f64, 1.0), 4.0);
    assert!((g.loss_weight.loss_weight(1.0f64, 1.0) - 1f64.exp()).abs() < 1e-15);

    let s = Snapped::default();
    assert_eq!(s.schedule.limits(), None);
    assert_eq!(s.schedule.discrete_steps(), Some(11));
    // Linear: λ = t·(−10 − 10) + 10; t = 0.05 snaps to round_half_even(0.5)/10 = 0;
    // t = 0.25 snaps to 2/10; shift 4 moves λ by −2·ln 4 without clamping.
    assert_eq!(s.schedule.logsnr(0.05f64, 1.0).unwrap(), 10.0);
    assert!((s.schedule.logsnr(0.25f64, 1.0).unwrap() - 6.0).abs() < 1e-12);
    let l = s.schedule.logsnr(0.0f64, 4.0).unwrap();
    assert!((l - (10.0 - 2.0 * 4f64.ln())).abs() < 1e-12);
    let l = s.schedule.logsnr(1.0f64, 0.25).unwrap();
    assert!((l - (-10.0 + 2.0 * 4f64.ln())).abs() < 1e-12);
}

// ---------------------------------------------------------------------------------------
// Display round trip: declare → print → the printed text declares the same type.

/// Declares `$name` from `$decl`, checks that it prints `$printed` (whitespace aside), and
/// declares the printed text again: it must be the same type.
macro_rules! round_trip {
    ($name:ident = { $($decl:tt)* } prints { $($printed:tt)* }) => {{
        gdf!($name = $($decl)*);
        let printed = $name::default().to_string();
        let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        assert_eq!(squash(&printed), squash(stringify!($($printed)*)), "{printed}");
        gdf!(Again = $($printed)*);
        assert_eq!(TypeId::of::<$name>(), TypeId::of::<Again>(), "{printed}");
        printed
    }};
}

gdf!(Everything = schedule: Cosine(s = 0.01, clamp_range = [0.001, 0.999], norm_instead = true,
         shift = 2, discrete_steps = 100, force_limits = false),
     scaler: Lerp, target: V, noise_cond: Discrete(CosineT(s = 0.01), steps = 50,
         continuous_range = [0, 1], shift = 0.5, clamp_range = [0, 49]),
     loss_weight: Sech(div = 3, clamp_range = [0.001, 1]), offset_noise: 0.05);
gdf!(Mixture = schedule: Interpolated(Cosine(shift = 4), Cosine(shift = 0.25), shifts = [2, 0.5]),
     scaler: Vp, target: X0, noise_cond: LogSnr,
     loss_weight: Composed(mul = [P2(gamma = 0.5), Sigmoid(s = 2), MinSnrPlusOne], div = [Debiased, TruncatedSnr(min_snr = 0.5)]));
gdf!(SdDiscrete = schedule: StableDiffusion(linear_range = [0.001, 0.02], total_steps = 500),
     scaler: Vp, target: Epsilon,
     noise_cond: Discrete(StableDiffusion(total_steps = 500), steps = 500), loss_weight: SnrPlusOne);
gdf!(EdmSigmaTrain = schedule: EdmTrain(mu = 1.2, std = 0.8), scaler: Vp, target: V,
     noise_cond: EdmSigma(sigma_data = 0.5), loss_weight: MinSnr(max_snr = 10));
gdf!(Misc = schedule: Sqrt(s = 0.001), scaler: Vp, target: Epsilon, noise_cond: Sigmoid,
     loss_weight: Constant(v = 2));
gdf!(AdaptiveBoth = schedule: AdaptiveTrain(logsnr_range = [-8, 8], buckets = 20, min_probs = 0.01),
     scaler: Vp, target: Epsilon, noise_cond: LogSnr,
     loss_weight: Adaptive(logsnr_range = [-5, 5], buckets = 30, weight_range = [0.001, 1000]));

#[test]
fn display_round_trip() {
    round_trip!(A = {
        schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp, target: Epsilon,
        noise_cond: CosineT, loss_weight: P2
    } prints {
        schedule: Cosine(s = 0.008, clamp_range = [0.0001, 0.9999], norm_instead = false),
        scaler: Vp, target: Epsilon, noise_cond: CosineT(s = 0.008),
        loss_weight: P2(k = 1.0, gamma = 1.0, s = 1.0), offset_noise: 0.0
    });
    round_trip!(B = {
        schedule: Cosine(s = 0.01, clamp_range = [0.001, 0.999], norm_instead = true,
            shift = 2, discrete_steps = 100, force_limits = false),
        scaler: Lerp, target: V, noise_cond: Discrete(CosineT(s = 0.01), steps = 50,
            continuous_range = [0, 1], shift = 0.5, clamp_range = [0, 49]),
        loss_weight: Sech(div = 3, clamp_range = [0.001, 1]), offset_noise: 0.05
    } prints {
        schedule: Cosine(s = 0.01, clamp_range = [0.001, 0.999], norm_instead = true,
            shift = 2.0, discrete_steps = 100, force_limits = false),
        scaler: Lerp, target: V,
        noise_cond: Discrete(CosineT(s = 0.01), steps = 50, continuous_range = [0.0, 1.0],
            shift = 0.5, clamp_range = [0.0, 49.0]),
        loss_weight: Sech(div = 3.0, clamp_range = [0.001, 1.0]), offset_noise: 0.05
    });
    round_trip!(C = {
        schedule: Interpolated(Cosine(shift = 4), Cosine(shift = 0.25), shifts = [2, 0.5]),
        scaler: Vp, target: X0, noise_cond: LogSnr,
        loss_weight: Composed(mul = [P2(gamma = 0.5), Sigmoid(s = 2), MinSnrPlusOne],
            div = [Debiased, TruncatedSnr(min_snr = 0.5)])
    } prints {
        schedule: Interpolated(
            Cosine(s = 0.008, clamp_range = [0.0001, 0.9999], norm_instead = false, shift = 4.0),
            Cosine(s = 0.008, clamp_range = [0.0001, 0.9999], norm_instead = false, shift = 0.25),
            shifts = [2.0, 0.5]),
        scaler: Vp, target: X0, noise_cond: LogSnr,
        loss_weight: Composed(
            mul = [P2(k = 1.0, gamma = 0.5, s = 1.0), Sigmoid(s = 2.0), MinSnrPlusOne(max_snr = 5.0)],
            div = [Debiased, TruncatedSnr(min_snr = 0.5)]),
        offset_noise: 0.0
    });
    round_trip!(D = {
        schedule: StableDiffusion(linear_range = [0.001, 0.02], total_steps = 500),
        scaler: Vp, target: Epsilon,
        noise_cond: Discrete(StableDiffusion(total_steps = 500), steps = 500),
        loss_weight: SnrPlusOne
    } prints {
        schedule: StableDiffusion(linear_range = [0.001, 0.02], total_steps = 500),
        scaler: Vp, target: Epsilon,
        noise_cond: Discrete(StableDiffusion(linear_range = [0.00085, 0.012], total_steps = 500),
            steps = 500, continuous_range = [0.0, 1.0]),
        loss_weight: SnrPlusOne, offset_noise: 0.0
    });
    round_trip!(E = {
        schedule: EdmTrain(mu = 1.2, std = 0.8), scaler: Vp, target: V,
        noise_cond: EdmSigma(sigma_data = 0.5), loss_weight: MinSnr(max_snr = 10)
    } prints {
        schedule: EdmTrain(mu = 1.2, std = 0.8), scaler: Vp, target: V,
        noise_cond: EdmSigma(sigma_data = 0.5), loss_weight: MinSnr(max_snr = 10.0),
        offset_noise: 0.0
    });
    round_trip!(F = {
        schedule: AdaptiveTrain(logsnr_range = [-8, 8], buckets = 20, min_probs = 0.01),
        scaler: Vp, target: Epsilon, noise_cond: Edm(clamp_range = [-1e9, 1e9]),
        loss_weight: Adaptive(logsnr_range = [-5, 5], buckets = 30, weight_range = [0.001, 1000])
    } prints {
        schedule: AdaptiveTrain(logsnr_range = [-8.0, 8.0], buckets = 20, min_probs = 0.01),
        scaler: Vp, target: Epsilon, noise_cond: Edm,
        loss_weight: Adaptive(logsnr_range = [-5.0, 5.0], buckets = 30, weight_range = [0.001, 1000.0]),
        offset_noise: 0.0
    });
    round_trip!(G = {
        schedule: Sqrt(s = 0.001), scaler: Vp, target: Epsilon, noise_cond: Sigmoid,
        loss_weight: Constant(v = 2)
    } prints {
        schedule: Sqrt(s = 0.001, clamp_range = [0.0001, 0.9999], norm_instead = false),
        scaler: Vp, target: Epsilon, noise_cond: Sigmoid, loss_weight: Constant(v = 2.0),
        offset_noise: 0.0
    });
    round_trip!(H = {
        schedule: EdmSample(sigma_range = [0.01, 100], p = 5, shift = 1), scaler: Vp, target: X0,
        noise_cond: StableDiffusion(shift = 3), loss_weight: Debiased
    } prints {
        schedule: EdmSample(sigma_range = [0.01, 100.0], p = 5.0), scaler: Vp, target: X0,
        noise_cond: StableDiffusion(linear_range = [0.00085, 0.012], total_steps = 1000, shift = 3.0),
        loss_weight: Debiased, offset_noise: 0.0
    });
    round_trip!(I = {
        schedule: Cosine2(logsnr_range = [-12, 12]), scaler: Vp, target: Epsilon,
        noise_cond: CosineT, loss_weight: Sigmoid
    } prints {
        schedule: Cosine2(logsnr_range = [-12.0, 12.0]), scaler: Vp, target: Epsilon,
        noise_cond: CosineT(s = 0.008), loss_weight: Sigmoid(s = 1.0), offset_noise: 0.0
    });
    round_trip!(J = {
        schedule: Linear, scaler: Vp, target: RectifiedFlows, noise_cond: RectifiedFlows,
        loss_weight: Composed(div = [Snr])
    } prints {
        schedule: Linear(logsnr_range = [-10.0, 10.0]), scaler: Vp, target: RectifiedFlows,
        noise_cond: RectifiedFlows, loss_weight: Composed(mul = [], div = [Snr]),
        offset_noise: 0.0
    });
}

#[test]
fn golden_frameworks_print_their_declarations() {
    assert_eq!(
        EdmVp::default().to_string(),
        "schedule: EdmSample(sigma_range = [0.002, 80.0], p = 7.0), scaler: Vp, target: V, \
         noise_cond: Edm, loss_weight: Composed(mul = [MinSnr(max_snr = 5.0)], div = [SnrPlusOne]), \
         offset_noise: 0.0"
    );
}

// ---------------------------------------------------------------------------------------
// Golden diffuse / undiffuse cases through the declared types.

/// Applies the spec's `setup_limits` calls (in order), then checks the case.
fn run_declared<S, Sc, T, N, L, O>(
    g: Gdf<S, Sc, T, N, L, O>,
    setup: &[(bool, bool, f64)],
    case: &Value,
    ck: &mut Check,
) -> R<()>
where
    S: Schedule,
    Sc: Stretch,
    T: Target,
    N: NoiseCond,
    L: LossWeight,
    O: Param,
{
    let lerp = g.scaler.decl().starts_with("Lerp");
    match setup.split_first() {
        None => check_diffuse_case(&g, lerp, case, ck),
        Some((&(mx, mn, shift), rest)) => {
            let mut s = g.setup_limits(mx, mn, shift).map_err(|e| e.to_string())?;
            for &(mx, mn, shift) in rest {
                s = s.setup_limits(mx, mn, shift).map_err(|e| e.to_string())?;
            }
            check_diffuse_case(&s, lerp, case, ck)
        }
    }
}

/// Runs a case through the declared framework whose declaration matches its spec; returns
/// that framework's name, or `None` when no declared framework matches.
fn run_golden(case: &Value, ck: &mut Check) -> R<Option<&'static str>> {
    let spec = gdf_spec(get(case, "params")?)?;
    let decl = spec_decl(&spec)?;
    macro_rules! declared {
        ($($fw:ident),*) => {$(
            if decl == $fw::default().to_string() {
                run_declared($fw::default(), &spec.setup_limits, case, ck)?;
                return Ok(Some(stringify!($fw)));
            }
        )*};
    }
    declared!(StageC, StageCOffset, EdmVp, Rf, RfOffset, StretchedX0);
    Ok(None)
}

#[test]
fn golden_diffuse_through_declared_types() {
    let cases = load("diffuse.json");
    let public = std::env::var_os("GDF_GOLDEN_DIR").is_none();
    let mut failures = Vec::new();
    let mut unmatched = Vec::new();
    let mut used: Vec<&str> = Vec::new();
    let mut values = 0;
    for case in &cases {
        let id = case.get("id").and_then(Value::as_str).unwrap_or("<no id>");
        let mut ck = Check::default();
        match run_golden(case, &mut ck) {
            Err(e) => failures.push(format!("{id}: cannot run: {e}")),
            Ok(None) => unmatched.push(id.to_string()),
            Ok(Some(_)) if !ck.errors.is_empty() => {
                failures.push(format!("{id}:\n    {}", ck.errors.join("\n    ")))
            }
            Ok(Some(_)) if ck.values == 0 => failures.push(format!("{id}: compared nothing")),
            Ok(Some(fw)) => {
                if !used.contains(&fw) {
                    used.push(fw);
                }
            }
        }
        values += ck.values;
    }
    println!(
        "diffuse.json: {} cases, {} through declared types ({values} values), {} failed, \
         {} with no declared framework: {unmatched:?}",
        cases.len(),
        cases.len() - unmatched.len(),
        failures.len(),
        unmatched.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    if public {
        // Every public configuration is declared above, and every declaration is used.
        assert!(
            unmatched.is_empty(),
            "cases without a declared framework: {unmatched:?}"
        );
        assert_eq!(used.len(), 6, "declared frameworks used: {used:?}");
    } else if unmatched.len() == cases.len() {
        // Another golden set whose diffuse cases all use other hyperparameters: no declared
        // type can run them (they are type-level constants); golden_framework runs every
        // case through the run-time framework.
        println!("diffuse.json: no case of this golden set matches a declared framework");
    }
}
