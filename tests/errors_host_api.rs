//! Hostile inputs to the host API outside the solvers (framework, dynamic components, the
//! classic sampler, tables): each used to panic, abort or return NaN (or silently wrong
//! numbers) and is now a typed error naming the field, or still works where it is valid.

use gdf::dynamic::{DynLossWeight, DynNoiseCond, DynSampler, DynSchedule};
use gdf::framework::{DiffuseArgs, Gdf};
use gdf::interp::Table;
use gdf::prelude::*;
use gdf::sample::{Cfg, Rescale, SampleOpts};
use gdf::scaler::Vp;
use gdf::schedule::{AdaptiveTrain, AdaptiveTrainState, Cosine};
use gdf::table::ScheduleTable;
use gdf::target::{Epsilon, X0};
use gdf::{loss_weight::P2, noise_cond::CosineT};

type Sc = Gdf<Cosine, Vp, Epsilon, CosineT, P2>;

fn names(e: GdfError, what: &str) -> String {
    let m = e.to_string();
    assert!(m.contains(what), "{m:?} should name {what:?}");
    m
}

fn half(x: &[f64], _c: &[f64], _i: &[f64], p: &mut [f64]) {
    for (p, x) in p.iter_mut().zip(x) {
        *p = 0.5 * x;
    }
}

#[test]
fn stable_diffusion_tables_check_their_parameters() {
    // 0 steps left a one-knot table whose evaluation panicked (index underflow).
    names(
        Table::stable_diffusion([0.00085, 0.012], 0).unwrap_err(),
        "total_steps",
    );
    names(
        DynSchedule::stable_diffusion([0.00085, 0.012], 0).unwrap_err(),
        "total_steps",
    );
    names(
        DynNoiseCond::stable_diffusion([0.00085, 0.012], 0).unwrap_err(),
        "total_steps",
    );
    // β outside (0, 1) gave NaN variances.
    for r in [[-0.1, 0.012], [0.5, 2.0], [f64::NAN, 0.012], [0.0, 0.012]] {
        let m = names(
            DynSchedule::stable_diffusion(r, 10).unwrap_err(),
            "linear_range",
        );
        assert!(m.contains("(0, 1)"), "{m}");
    }
    // Valid parameters: ᾱ(t = 0) = 1 − β0, so λ(0) = ln((1 − β0)/β0) (one step, no clamp).
    let s = DynSchedule::stable_diffusion([0.01, 0.02], 1).unwrap();
    let l: f64 = s.logsnr(0.0, 1.0).unwrap();
    assert!((l - (0.99f64 / 0.01).ln()).abs() < 1e-9, "{l}");
}

#[test]
fn adaptive_buckets_refuse_losses_that_break_the_distribution() {
    let mut s = DynSchedule::adaptive_train([-10.0, 10.0], 2, 0.0).unwrap();
    let e = s.update(&[-5.0], &[-1.0], 0.5).unwrap_err();
    assert!(
        matches!(e, GdfError::OutOfRange { what: "loss", .. }),
        "{e}"
    );
    // Zero losses in every bucket with min_probs = 0: the normalised probabilities were 0/0.
    let e = s.update(&[-5.0, 5.0], &[0.0, 0.0], 0.0).unwrap_err();
    names(e, "min_probs");
    assert_eq!(s.bucket_probs().unwrap(), [1.0, 1.0]); // left as it was
    let p = s.norm_probs().unwrap();
    assert_eq!(p, [0.5, 0.5]);
    // With min_probs > 0 the same update leaves a uniform distribution.
    let mut m = DynSchedule::adaptive_train([-10.0, 10.0], 2, 0.5).unwrap();
    m.update(&[-5.0, 5.0], &[0.0, 0.0], 0.0).unwrap();
    assert_eq!(m.norm_probs().unwrap(), [0.5, 0.5]);

    let mut t = <AdaptiveTrain>::new();
    let e = t
        .restore(AdaptiveTrainState {
            bucket_probs: vec![0.0; 100],
        })
        .unwrap_err();
    names(e, "bucket_probs");
    let mut bad = vec![1.0; 100];
    bad[3] = -2.0;
    let e = t
        .restore(AdaptiveTrainState { bucket_probs: bad })
        .unwrap_err();
    assert!(
        matches!(
            e,
            GdfError::OutOfRange {
                what: "bucket_probs",
                ..
            }
        ),
        "{e}"
    );

    let mut w = <gdf::loss_weight::Adaptive>::new();
    let e = w.update(&[0.0], &[-1.0], 0.5).unwrap_err();
    assert!(
        matches!(e, GdfError::OutOfRange { what: "loss", .. }),
        "{e}"
    );
    let e = w
        .restore(gdf::loss_weight::AdaptiveState {
            bucket_losses: vec![-1.0; 300],
        })
        .unwrap_err();
    assert!(
        matches!(
            e,
            GdfError::OutOfRange {
                what: "bucket_losses",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn dynamic_adaptive_weight_range_is_checked() {
    for r in [[1e7, 1e-7], [f64::NAN, 1.0], [1.0, 1.0]] {
        let e = DynLossWeight::adaptive([-10.0, 10.0], 10, r).unwrap_err();
        assert!(
            matches!(
                e,
                GdfError::OutOfRange {
                    what: "weight_range",
                    ..
                }
            ),
            "{e}"
        );
    }
}

