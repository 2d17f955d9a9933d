//! Every refusal of the guidance module: a typed error whose message names the field, the
//! value and the expected range, and no panic.

use gdf::guidance::*;
use gdf::GdfError;

/// Asserts an error whose message contains every `parts`.
fn refuses<T: std::fmt::Debug>(r: Result<T, GdfError>, parts: &[&str]) -> GdfError {
    let e = r.expect_err("expected an error");
    let msg = e.to_string();
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} lacks {p:?}");
    }
    e
}

fn out_of_range(e: &GdfError, field: &str) {
    match e {
        GdfError::OutOfRange { what, .. } => assert_eq!(*what, field),
        other => panic!("expected OutOfRange for {field}, got {other:?}"),
    }
}

#[test]
fn scale_negative_or_not_finite() {
    for w in [-0.5, f64::NAN, f64::INFINITY] {
        let e = refuses(ClassifierFree::new(w), &["guidance_scale", "≥ 0"]);
        out_of_range(&e, "guidance_scale");
        refuses(Apg::new(w), &["guidance_scale"]);
        refuses(CfgZeroStar::new(w), &["guidance_scale"]);
        refuses(Tangential::new(w), &["guidance_scale"]);
        refuses(ClassifierFree::autoguidance(w), &["guidance_scale"]);
    }
    // changed after construction: refused at use, like any setting
    let mut g = ClassifierFree::new(2.0).unwrap();
    g.scale = -1.0;
    let ctx = StepCtx::new(0, 2).unwrap();
    refuses(g.needs_uncond(&ctx), &["guidance_scale", "-1"]);
    let mut out = [0.0f64; 2];
    refuses(
        g.guide(
            &ctx,
            &Layout::flat(1, 2).unwrap(),
            &[1.0, 2.0],
            Some(&[0.0, 0.0]),
            &mut out,
        ),
        &["guidance_scale"],
    );
}

#[test]
fn rescale_outside_unit_interval() {
    let mut g = ClassifierFree::new(2.0).unwrap();
    g.rescale = 1.5;
    let e = refuses(g.validate(), &["guidance_rescale", "1.5", "0 ≤ φ ≤ 1"]);
    out_of_range(&e, "guidance_rescale");
    let mut a = Apg::new(2.0).unwrap();
    a.rescale = -0.1;
    refuses(a.validate(), &["guidance_rescale"]);
}

#[test]
fn apg_settings() {
    let mut g = Apg::new(5.0).unwrap();
    g.eta = 1.5;
    out_of_range(&refuses(g.validate(), &["eta", "1.5", "0 ≤ η ≤ 1"]), "eta");
    g.eta = -0.1;
    refuses(g.validate(), &["eta"]);
    g.eta = 0.0;
    g.norm_threshold = -1.0;
    out_of_range(
        &refuses(
            g.validate(),
            &["adaptive_projected_guidance_rescale", "-1", "r ≥ 0"],
        ),
        "adaptive_projected_guidance_rescale",
    );
    g.norm_threshold = f64::NAN;
    refuses(g.validate(), &["adaptive_projected_guidance_rescale"]);
    g.norm_threshold = 0.0;
    g.momentum = Some(1.5);
    refuses(
        g.validate(),
        &["adaptive_projected_guidance_momentum", "1.5", "−1 ≤ β ≤ 1"],
    );
    g.momentum = Some(-0.5);
    g.validate().unwrap();
    let layout = Layout::new(1, &[2, 3]).unwrap();
    for (dims, part) in [
        (vec![3], "[-3, 3)"),
        (vec![-4], "[-3, 3)"),
        (vec![1, -2], "twice"),
        (vec![], "empty"),
    ] {
        g.norm_dims = NormDims::Dims(dims);
        refuses(
            g.cells(&layout),
            &["adaptive_projected_guidance_norm_dim", part],
        );
        let mut out = [0.0f64; 6];
        refuses(
            g.guide(
                &StepCtx::new(0, 1).unwrap(),
                &layout,
                &[1.0; 6],
                Some(&[0.0; 6]),
                &mut out,
            ),
            &["adaptive_projected_guidance_norm_dim"],
        );
    }
}

#[test]
fn zero_init_steps_bad() {
    let mut g = CfgZeroStar::new(4.0).unwrap();
    g.zero_init_steps = 3;
    let ctx = StepCtx::new(0, 3).unwrap();
    let e = refuses(
        g.needs_uncond(&ctx),
        &["zero_init_steps", "3", "fewer than"],
    );
    out_of_range(&e, "zero_init_steps");
    let mut out = [0.0f64; 2];
    refuses(
        g.guide(
            &ctx,
            &Layout::flat(1, 2).unwrap(),
            &[1.0, 2.0],
            None,
            &mut out,
        ),
        &["zero_init_steps"],
    );
}

#[test]
fn interval_lo_not_below_hi() {
    refuses(Interval::new(1.0, 1.0), &["interval.lo", "lo < hi"]);
    refuses(Interval::new(2.0, -1.0), &["interval.lo", "2", "-1"]);
    out_of_range(
        &refuses(Interval::new(f64::NAN, 1.0), &["interval.lo"]),
        "interval.lo",
    );
    refuses(Interval::new(0.0, f64::NAN), &["interval.hi"]);
    refuses(Interval::from_sigma(-1.0, 2.0), &["sigma_lo", "≥ 0"]);
    refuses(Interval::from_sigma(2.0, 1.0), &["sigma_hi", "σ_hi > σ_lo"]);
    // an interval set by hand is checked at use
    let mut g = ClassifierFree::new(2.0).unwrap();
    g.gate.interval = Some(Interval { lo: 3.0, hi: 1.0 });
    refuses(g.validate(), &["interval.lo"]);
    // and needs the level
    g.gate.interval = Some(Interval::new(-1.0, 1.0).unwrap());
    refuses(
        g.needs_uncond(&StepCtx::new(0, 2).unwrap()),
        &["logSNR", "StepCtx::at"],
    );
}

#[test]
fn window_bad() {
    out_of_range(
        &refuses(Window::new(1.0, 1.0), &["start", "0 ≤ start < 1"]),
        "start",
    );
    refuses(Window::new(-0.1, 1.0), &["start"]);
    refuses(Window::new(0.5, 0.4), &["stop", "0.4", "≤ 1"]);
    refuses(Window::new(0.0, 1.2), &["stop", "1.2"]);
}

#[test]
fn cfgpp_bad() {
    out_of_range(&refuses(CfgPp::new(1.5), &["scale", "[0, 1]"]), "scale");
    refuses(CfgPp::new(-0.1), &["scale"]);
    out_of_range(
        &refuses(
            CfgPp::step_coefficients(1.0, 0.0, 1.0, 0.0),
            &["`b`", "b > 0"],
        ),
        "b",
    );
    refuses(CfgPp::step_coefficients(f64::NAN, 0.5, 1.0, 0.0), &["`a`"]);
}

#[test]
fn step_ctx_bad() {
    out_of_range(
        &refuses(StepCtx::new(0, 0), &["num_inference_steps", "at least 1"]),
        "num_inference_steps",
    );
    refuses(StepCtx::new(3, 3), &["step", "3", "< num_inference_steps"]);
    refuses(StepCtx::new(0, 3).unwrap().at(f64::NAN), &["logsnr"]);
}

#[test]
fn buffers_bad() {
    let mut g = ClassifierFree::new(3.0).unwrap();
    let ctx = StepCtx::new(0, 1).unwrap();
    let layout = Layout::flat(2, 2).unwrap();
    let mut out = [0.0f64; 4];
    refuses(
        g.guide(&ctx, &layout, &[1.0; 4], None, &mut out),
        &["uncond", "None"],
    );
    assert!(matches!(
        g.guide(&ctx, &layout, &[1.0; 3], Some(&[0.0; 4]), &mut out),
        Err(GdfError::LengthMismatch { what: "cond", .. })
    ));
    assert!(matches!(
        g.guide(&ctx, &layout, &[1.0; 4], Some(&[0.0; 5]), &mut out),
        Err(GdfError::LengthMismatch { what: "uncond", .. })
    ));
    let mut short = [0.0f64; 3];
    assert!(matches!(
        g.guide(&ctx, &layout, &[1.0; 4], Some(&[0.0; 4]), &mut short),
        Err(GdfError::LengthMismatch { what: "out", .. })
    ));
    assert!(matches!(
        Layout::flat(0, 2),
        Err(GdfError::EmptyBatch { .. })
    ));
    assert!(matches!(
        Layout::new(1, &[2, 0]),
        Err(GdfError::EmptyBatch { .. })
    ));
    // the two-phase API checks its inputs too
    let plan = g.plan(&ctx, &layout).unwrap();
    assert!(reduce_moments(&layout, &plan.cells, &[1.0f64; 3], None, None).is_err());
    let bad = Cells {
        per_sample: 2,
        index: Some(vec![0, 5]),
        across_batch: false,
    };
    refuses(
        reduce_moments(&layout, &bad, &[1.0f64; 4], None, None),
        &["cells.index", "5"],
    );
    assert!(coefficient_table(&g, &ctx, &plan, &layout, &[]).is_err());
}

#[test]
fn autoguidance_without_a_second_model() {
    let g = ClassifierFree::autoguidance(2.0).unwrap();
    refuses(g.branch().check(false), &["autoguidance", "second"]);
    g.branch().check(true).unwrap();
}

#[test]
fn unknown_dynamic_name() {
    refuses(
        DynGuidance::from_name("Cfgg"),
        &["unknown guider", "\"Cfgg\""],
    );
}
