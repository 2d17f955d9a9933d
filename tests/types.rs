//! Type-level guarantees: exact constants, zero-sized components with the full derive set,
//! and adaptive state that survives a checkpoint.

use core::fmt::Debug;
use core::hash::Hash;

use gdf::framework::Gdf;
use gdf::konst::P9999;
use gdf::konst::{Const, Dec};
use gdf::prelude::*;
use gdf::{
    loss_weight as lw, noise_cond as nc, sampler as sm, scaler as sc, schedule as s, target as tg,
};
use typenum::{N1, N12, N3, N4, N5, N7, P1, P2, P8, P85, P9, U11, Z0};

#[test]
fn decimal_constants_are_bit_identical_to_their_literals() {
    assert_eq!(
        <Dec<P9999, N4> as Const>::F64.to_bits(),
        0.9999f64.to_bits()
    );
    assert_eq!(<Dec<P1, N4>>::F64.to_bits(), 1e-4f64.to_bits());
    assert_eq!(<Dec<P8, N3>>::F64.to_bits(), 0.008f64.to_bits());
    assert_eq!(<Dec<P8, P1>>::F64.to_bits(), 80f64.to_bits());
    assert_eq!(<Dec<N12, N1>>::F64.to_bits(), (-1.2f64).to_bits());
    assert_eq!(<Dec<P85, N5>>::F64.to_bits(), 0.00085f64.to_bits());
    assert_eq!(<Dec<N1, P9>>::F64.to_bits(), (-1e9f64).to_bits());
    assert_eq!(<Dec<P1, N7>>::F64.to_bits(), 1e-7f64.to_bits());
    assert_eq!(<Dec<Z0, Z0>>::F64.to_bits(), 0f64.to_bits());
    // The library's own P9999 alias is 9999.
    assert_eq!(<Dec<gdf::konst::P9999, Z0>>::F64, 9999.0);
}

#[test]
fn the_defaults_are_the_originals() {
    assert_eq!(
        <s::Cosine>::PARAMS,
        s::VarParams {
            s: 0.008,
            clamp_range: [1e-4, 0.9999],
            norm_instead: false
        }
    );
    assert_eq!(
        <s::Sqrt>::PARAMS,
        s::VarParams {
            s: 1e-4,
            clamp_range: [1e-4, 0.9999],
            norm_instead: false
        }
    );
    assert_eq!(
        <s::Cosine2>::new().decl(),
        "Cosine2(logsnr_range = [-15.0, 15.0])"
    );
    assert_eq!(
        <s::RectifiedFlows>::new().decl(),
        "RectifiedFlows(logsnr_range = [-15.0, 15.0])"
    );
    assert_eq!(
        <s::EdmSample>::new().decl(),
        "EdmSample(sigma_range = [0.002, 80.0], p = 7.0)"
    );
    assert_eq!(
        <s::EdmTrain>::new().decl(),
        "EdmTrain(mu = -1.2, std = 1.2)"
    );
    assert_eq!(
        <s::Linear>::new().decl(),
        "Linear(logsnr_range = [-10.0, 10.0])"
    );
    assert_eq!(
        <s::StableDiffusion>::new().decl(),
        "StableDiffusion(linear_range = [0.00085, 0.012], total_steps = 1000)"
    );
    assert_eq!(
        <s::AdaptiveTrain>::new().decl(),
        "AdaptiveTrain(logsnr_range = [-10.0, 10.0], buckets = 100, min_probs = 0.0)"
    );
    assert_eq!(<nc::CosineT>::new().decl(), "CosineT(s = 0.008)");
    assert_eq!(<nc::EdmSigma>::new().decl(), "EdmSigma(sigma_data = 1.0)");
    assert_eq!(
        <nc::Discrete<nc::CosineT>>::default().decl(),
        "Discrete(CosineT(s = 0.008), steps = 1000, continuous_range = [0.0, 1.0])"
    );
    assert_eq!(<lw::P2>::new().decl(), "P2(k = 1.0, gamma = 1.0, s = 1.0)");
    assert_eq!(<lw::MinSnr>::new().decl(), "MinSnr(max_snr = 5.0)");
    assert_eq!(<lw::Sech>::new().decl(), "Sech(div = 2.0)");
    assert_eq!(
        <lw::Adaptive>::new().decl(),
        "Adaptive(logsnr_range = [-10.0, 10.0], buckets = 300, weight_range = [1e-7, 10000000.0])"
    );
    assert_eq!(<sm::Ddim>::new().decl(), "Ddim(eta = 0.0)");
    // The original's CosineSchedule() limits.
    assert_eq!(
        <s::Cosine>::new().limits(),
        Some([-9.21024036697585, 9.21024036697596])
    );
}

fn zst<T: Clone + Copy + Debug + Default + PartialEq + Eq + Hash + 'static>() {
    assert_eq!(
        core::mem::size_of::<T>(),
        0,
        "{}",
        core::any::type_name::<T>()
    );
    // The derives behave: equal to its default, hashable, printable.
    let v = T::default();
    assert_eq!(v, v.clone());
    assert!(!format!("{v:?}").is_empty());
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.hash(&mut h);
}

#[test]
fn every_stateless_component_is_zero_sized_with_the_full_derive_set() {
    zst::<s::Cosine>();
    zst::<s::Cosine2>();
    zst::<s::Sqrt>();
    zst::<s::RectifiedFlows>();
    zst::<s::EdmSample>();
    zst::<s::EdmTrain>();
    zst::<s::Linear>();
    zst::<s::StableDiffusion>();
    zst::<s::Interpolated<s::Cosine, s::Linear>>();
    zst::<s::Shifted<s::Cosine, Dec<P2, Z0>>>();
    zst::<s::DiscreteSteps<s::Linear, U11>>();
    zst::<s::NoLimits<s::Cosine>>();
    zst::<sc::Vp>();
    zst::<sc::Lerp>();
    zst::<tg::Epsilon>();
    zst::<tg::X0>();
    zst::<tg::V>();
    zst::<tg::RectifiedFlows>();
    zst::<nc::CosineT>();
    zst::<nc::Edm>();
    zst::<nc::Sigmoid>();
    zst::<nc::LogSnr>();
    zst::<nc::EdmSigma>();
    zst::<nc::RectifiedFlows>();
    zst::<nc::StableDiffusion>();
    zst::<nc::Discrete<nc::CosineT>>();
    zst::<nc::Shifted<nc::Edm, Dec<P2, Z0>>>();
    zst::<nc::Clamped<nc::Edm, Dec<N1, Z0>, Dec<P1, Z0>>>();
    zst::<lw::Constant>();
    zst::<lw::Snr>();
    zst::<lw::P2>();
    zst::<lw::SnrPlusOne>();
    zst::<lw::MinSnr>();
    zst::<lw::MinSnrPlusOne>();
    zst::<lw::TruncatedSnr>();
    zst::<lw::Sech>();
    zst::<lw::Debiased>();
    zst::<lw::Sigmoid>();
    zst::<lw::Composed<(lw::P2, lw::Snr), (lw::Sech, lw::Constant)>>();
    zst::<lw::Clamped<lw::Snr>>();
    zst::<sm::Ddim>();
    zst::<sm::Ddpm>();
    zst::<sm::Lcm>();
}

#[test]
fn stateless_frameworks_are_zero_sized() {
    zst::<Gdf<s::Cosine, sc::Vp, tg::Epsilon, nc::CosineT, lw::P2>>();
    zst::<Gdf<s::EdmSample, sc::Vp, tg::V, nc::Edm, lw::Composed<(), (lw::SnrPlusOne,)>>>();
    zst::<
        Gdf<
            s::RectifiedFlows,
            sc::Lerp,
            tg::RectifiedFlows,
            nc::RectifiedFlows,
            lw::Constant,
            Dec<P1, N1>,
        >,
    >();
}

#[test]
fn adaptive_train_state_survives_a_checkpoint() {
    let batches: Vec<(Vec<f64>, Vec<f64>)> = (0..6)
        .map(|k| {
            let l = (0..8)
                .map(|i| -9.5 + ((i * 7 + k * 3) % 19) as f64)
                .collect();
            let loss = (0..8).map(|i| 0.5 + ((i + k) % 5) as f64 * 0.3).collect();
            (l, loss)
        })
        .collect();
    let mut straight = <s::AdaptiveTrain>::new();
    for (l, loss) in &batches {
        straight.update(l, loss, 0.9).unwrap();
    }
    let mut first = <s::AdaptiveTrain>::new();
    for (l, loss) in &batches[..3] {
        first.update(l, loss, 0.9).unwrap();
    }
    let saved = serde_json::to_string(first.state()).unwrap();
    drop(first);
    let mut resumed = <s::AdaptiveTrain>::new();
    resumed
        .restore(serde_json::from_str(&saved).unwrap())
        .unwrap();
    for (l, loss) in &batches[3..] {
        resumed.update(l, loss, 0.9).unwrap();
    }
    assert_eq!(resumed.bucket_probs(), straight.bucket_probs());
    assert_eq!(resumed.norm_probs(), straight.norm_probs());
    assert_ne!(
        straight.bucket_probs(),
        <s::AdaptiveTrain>::new().bucket_probs()
    );
    // and it draws the same λ afterwards
    let limits = straight.limits();
    for i in 0..20 {
        let mut r1 = gdf::noise::CounterRng::new(9, gdf::noise::Purpose::Time, i, 0);
        let mut r2 = r1.clone();
        assert_eq!(
            straight.draw_logsnr::<f64>(&mut r1, 1.0, limits),
            resumed.draw_logsnr::<f64>(&mut r2, 1.0, limits)
        );
    }
}

#[test]
fn adaptive_loss_weight_state_survives_a_checkpoint() {
    let l: Vec<f64> = (0..40).map(|i| -9.9 + i as f64 * 0.5).collect();
    let loss: Vec<f64> = (0..40).map(|i| 0.2 + (i % 7) as f64 * 0.4).collect();
    let mut straight = <lw::Adaptive>::new();
    let mut first = <lw::Adaptive>::new();
    for k in 0..4 {
        straight
            .update(&l[k * 10..(k + 1) * 10], &loss[k * 10..(k + 1) * 10], 0.8)
            .unwrap();
        if k < 2 {
            first
                .update(&l[k * 10..(k + 1) * 10], &loss[k * 10..(k + 1) * 10], 0.8)
                .unwrap();
        }
    }
    let saved = serde_json::to_vec(first.state()).unwrap();
    let mut resumed = <lw::Adaptive>::new();
    resumed
        .restore(serde_json::from_slice(&saved).unwrap())
        .unwrap();
    for k in 2..4 {
        resumed
            .update(&l[k * 10..(k + 1) * 10], &loss[k * 10..(k + 1) * 10], 0.8)
            .unwrap();
    }
    assert_eq!(resumed.bucket_losses(), straight.bucket_losses());
    for &x in &l {
        assert_eq!(resumed.loss_weight(x, 1.0), straight.loss_weight(x, 1.0));
    }
}

/// Every checked parameter of the catalog (the rules `gdf!` and the parser apply) has a
/// compile-fail line in `tools/const-checks`, whose `run.sh` builds them and counts one E0080
/// per line: a new component or parameter cannot skip its compile-time check unnoticed.
#[test]
fn every_checked_parameter_has_a_compile_time_check_line() {
    use gdf_catalog::catalog::{wrapper_params, Check, Kind, Role, Special, COMPONENTS};
    let lines = include_str!("../tools/const-checks/src/main.rs");
    let has = |path: &str, param: &str| {
        lines.lines().any(|l| {
            l.contains(&format!("gdf::{path}::<"))
                && l.split("// ")
                    .nth(1)
                    .is_some_and(|c| c.split_whitespace().next() == Some(param))
        })
    };
    let checked = |k: &Kind| {
        matches!(k, Kind::Float(c) if *c != Check::Any)
            || matches!(k, Kind::Range(_) | Kind::Count(_))
    };
    let mut missing = Vec::new();
    let mut seen = 0;
    for c in COMPONENTS {
        if matches!(c.special, Special::Unsupported(_)) {
            continue; // run-time data, built by hand with a checked constructor
        }
        for p in c.params.iter().filter(|p| checked(&p.kind)) {
            seen += 1;
            if !has(c.path, p.name) {
                missing.push(format!("{} {}", c.path, p.name));
            }
        }
    }
    for (role, path, param) in [
        (Role::Schedule, "schedule::Shifted", "shift"),
        (Role::Schedule, "schedule::DiscreteSteps", "discrete_steps"),
        (Role::NoiseCond, "noise_cond::Shifted", "shift"),
        (Role::NoiseCond, "noise_cond::Clamped", "clamp_range"),
        (Role::LossWeight, "loss_weight::Clamped", "clamp_range"),
    ] {
        assert!(wrapper_params(role)
            .iter()
            .any(|p| p.name == param && checked(&p.kind)));
        seen += 1;
        if !has(path, param) {
            missing.push(format!("{path} {param}"));
        }
    }
    assert!(seen >= 40, "{seen}");
    assert!(missing.is_empty(), "no compile-fail line for: {missing:?}");
}
