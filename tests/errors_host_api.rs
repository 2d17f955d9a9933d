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

