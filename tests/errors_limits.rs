//! Counts and sizes at and past their limits, and inputs that used to panic or overflow: each
//! is a typed error naming its field, or works, never a panic or an allocation abort.

use gdf::dynamic::{DynLossWeight, DynSchedule};
use gdf::grid::discrete::{DiscreteScheduler, DiscreteSettings, Spacing};
use gdf::grid::flow::FlowMatchSettings;
use gdf::grid::kdiffusion::Karras;
use gdf::grid::table::{rescale_betas_zero_snr_f32, TableSettings};
use gdf::grid::MAX_STEPS;
use gdf::pipeline::{quantile_abs, Threshold};
use gdf::prelude::*;
use gdf::scaler::{Lerp, Vp};
use gdf::schedule::Cosine;
use gdf::solver::{DpmPPSde, Grid, NoiseSource, RecordedNoise, Run};

fn names(e: GdfError, what: &str) -> String {
    let m = e.to_string();
    assert!(m.contains(what), "{m:?} should name {what:?}");
    m
}

#[test]
fn step_counts_past_the_limit_are_refused_not_allocated() {
    for n in [MAX_STEPS + 1, 1 << 40, usize::MAX] {
        names(Karras::default().grid(n).unwrap_err(), "n");
        names(FlowMatchSettings::default().grid(n, None).unwrap_err(), "n");
        let m = names(
            Grid::from_schedule(&<Cosine>::new(), &Vp, n, 1.0, 0.0, 1.0).unwrap_err(),
            "timesteps",
        );
        assert!(m.contains("2^24"), "{m}");
    }
    let flow = FlowMatchSettings {
        num_train_timesteps: 1 << 40,
        ..Default::default()
    };
    names(flow.grid(4, None).unwrap_err(), "num_train_timesteps");
    let mut d = DiscreteSettings::new(DiscreteScheduler::Euler);
    d.table = TableSettings {
        num_train_timesteps: 1 << 40,
        ..Default::default()
    };
    names(d.grid(4).unwrap_err(), "num_train_timesteps");
    // the limit itself is fine for a cheap grid
    assert_eq!(Karras::default().grid(1000).unwrap().sigmas.len(), 1001);
}

#[test]
fn adaptive_components_check_their_buckets() {
    names(
        DynLossWeight::adaptive([-10.0, 10.0], 0, [1e-7, 1e7]).unwrap_err(),
        "buckets",
    );
    names(
        DynSchedule::adaptive_train([-10.0, 10.0], 0, 0.0).unwrap_err(),
        "buckets",
    );
    names(
        DynSchedule::adaptive_train([f64::NAN, 10.0], 10, 0.0).unwrap_err(),
        "logsnr_range",
    );
    names(
        DynSchedule::adaptive_train([-10.0, 10.0], 10, f64::NAN).unwrap_err(),
        "min_probs",
    );
    names(
        DynLossWeight::adaptive([10.0, -10.0], 5, [1e-7, 1e7]).unwrap_err(),
        "logsnr_range",
    );
}

#[test]
fn dynamic_threshold_of_a_huge_f32_sample_at_ratio_one_is_its_max() {
    // ratio·(n − 1) rounds up to n in f32 for n ≥ 2²⁴ + 2: the quantile index is clamped.
    let n = (1 << 24) + 4;
    let mut xs: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 3.0).collect();
    let mut s = Vec::new();
    assert_eq!(quantile_abs(&xs, 1.0, &mut s).unwrap(), 3.0);
    Threshold::dynamic(1.0, 1.5)
        .unwrap()
        .apply(&mut xs, 1)
        .unwrap();
    assert!(xs.iter().all(|v| v.abs() <= 1.0));
}

#[test]
fn overflowing_sizes_are_errors() {
    assert!(rescale_betas_zero_snr_f32(&[]).is_empty());
    // a batch × per that overflows usize
    gdf::gdf!(StageC = schedule: Cosine, scaler: Vp, target: Epsilon, noise_cond: CosineT, loss_weight: P2);
    let model = |_x: &[f64], _c: &[f64], _i: &[f64], _p: &mut [f64]| {};
    let e = StageC::default()
        .sampling(usize::MAX / 2 + 1, 2)
        .steps(2)
        .run(model)
        .unwrap_err();
    names(e, "batch × per");
    // recorded noise read far past its end
    let data = [0.5f32; 8];
    let rec = RecordedNoise::new(&data, usize::MAX, 2);
    let mut out = [0.0f32; 2];
    assert!(rec.fill(3, 0, 1, 0, &mut out).is_err());
}

#[test]
fn leading_steps_offset_must_stay_in_the_table() {
    for offset in [-1, -5000, 1000, i64::MAX] {
        for s in [
            DiscreteScheduler::Euler,
            DiscreteScheduler::DpmSolverMultistep,
        ] {
            let d = DiscreteSettings {
                spacing: Spacing::Leading,
                steps_offset: offset,
                ..DiscreteSettings::new(s)
            };
            names(d.grid(10).unwrap_err(), "steps_offset");
        }
    }
    let d = DiscreteSettings {
        spacing: Spacing::Leading,
        steps_offset: 1,
        ..DiscreteSettings::new(DiscreteScheduler::Euler)
    };
    assert!(d.grid(10).is_ok());
}

#[test]
fn dpmpp_sde_needs_a_finite_first_level() {
    let g = Grid::new(&Lerp, &[f64::NEG_INFINITY, 0.0, 2.0, f64::INFINITY]).unwrap();
    let e = Run::new(DpmPPSde::new(), g, vec![0.1f64; 4], 2, gdf::solver::NoNoise)
        .map(|_| ())
        .unwrap_err();
    let m = names(e, "dpmpp_sde");
    assert!(m.contains("finite"), "{m}");
}

#[test]
fn a_schedule_grid_with_a_repeated_level_names_timesteps() {
    // Cosine clamps t near 1 to λ = −9.21: 160 steps put two t on that level.
    let clamped = <Cosine>::new();
    assert!(Grid::from_schedule(&clamped, &Vp, 150, 1.0, 0.0, 1.0).is_ok());
    let m = names(
        Grid::from_schedule(&clamped, &Vp, 160, 1.0, 0.0, 1.0).unwrap_err(),
        "timesteps = 160",
    );
    assert!(m.contains("clamps"), "{m}");
}

#[test]
fn a_half_run_leaving_f16_range_is_an_error() {
    use gdf::pipeline::half::{f16, HalfRun};
    use gdf::solver::DpmPP2M;
    // The model pulls x0 to ∓60000; DPM++ 2M's second-order step overshoots past ±65504.
    let g = Grid::new(&Vp, &[-2.0, 0.0, 10.0, 12.0]).unwrap();
    let x = [f16::from_f32(0.5); 2];
    let mut k = 0;
    let e = HalfRun::new(DpmPP2M::new(), g, &x, 1, gdf::solver::NoNoise)
        .unwrap()
        .run(|_x, _l, d| {
            let v = if k == 0 { -60000.0 } else { 60000.0 };
            k += 1;
            d.fill(f16::from_f32(v));
            Ok(())
        })
        .unwrap_err();
    names(e, "half format");
}

#[test]
fn guidance_fed_to_a_run_is_checked() {
    use gdf::solver::Euler;
    use gdf::target::Epsilon;
    let g = Grid::new(&Vp, &[-2.0, 1.0, f64::INFINITY]).unwrap();
    let mut run = Run::new(Euler::new(), g, vec![0.1f64; 4], 2, gdf::solver::NoNoise).unwrap();
    run.next_eval().unwrap();
    let (c, u) = ([0.1f64; 4], [0.0f64; 4]);
    names(
        run.feed_cfg(&Epsilon, &c, &u, f64::NAN).unwrap_err(),
        "guidance scale",
    );
    for phi in [-0.5, 1.5, f64::NAN] {
        names(
            run.feed_cfg_rescaled(&Epsilon, &c, &u, 3.0, phi, gdf::sample::Rescale::Batch)
                .unwrap_err(),
            "rescale",
        );
    }
    // recorded noise holding a NaN is named, not passed on
    let data = [0.5, f64::NAN, 0.1, 0.2];
    let rec = RecordedNoise::new(&data, 4, 2);
    let mut out = [0.0f64; 2];
    names(
        rec.fill(0, 0, 0, 0, &mut out).unwrap_err(),
        "recorded noise",
    );
}

#[test]
fn grids_whose_settings_overflow_name_them() {
    let k = Karras {
        rho: 0.005,
        ..Karras::default()
    };
    let m = names(k.grid(5).unwrap_err(), "Karras grid");
    assert!(m.contains("rho: 0.005"), "{m}");
    let f = FlowMatchSettings {
        shift: 1e39,
        ..Default::default()
    };
    names(f.grid(5, None).unwrap_err(), "flow-matching grid");
    let f = FlowMatchSettings {
        shift_terminal: Some(0.5),
        ..Default::default()
    };
    // At one step the only σ is 1 and the terminal stretch divides 0 by 0: named as such.
    let e = f.grid(1, None).unwrap_err();
    assert!(
        matches!(&e, GdfError::Config { field, .. } if field == "shift_terminal"),
        "{e}"
    );
    assert!(Karras::default().grid(5).is_ok());
}

#[test]
fn a_guider_layout_must_have_the_runs_batch() {
    use gdf::guidance::{ClassifierFree, Layout};
    use gdf::solver::Euler;
    use gdf::target::Epsilon;
    let g = Grid::new(&Vp, &[-2.0, 1.0, f64::INFINITY]).unwrap();
    let mut run = Run::new(Euler::new(), g, vec![0.1f64; 4], 2, gdf::solver::NoNoise).unwrap();
    run.next_eval().unwrap();
    let (c, u) = ([0.1f64; 4], [0.0f64; 4]);
    let mut cfg = ClassifierFree::new(3.0).unwrap();
    // 1 × 4 has the run's 4 values but not its 2 samples
    let e = run
        .feed_guided(
            &mut cfg,
            &Layout::flat(1, 4).unwrap(),
            &Epsilon,
            &c,
            Some(&u),
        )
        .unwrap_err();
    names(e, "layout batch");
    run.feed_guided(
        &mut cfg,
        &Layout::flat(2, 2).unwrap(),
        &Epsilon,
        &c,
        Some(&u),
    )
    .unwrap();
}

#[test]
fn thresholds_name_a_non_finite_x0() {
    for t in [
        Threshold::clip(1.0).unwrap(),
        Threshold::dynamic(0.9, 1.5).unwrap(),
    ] {
        let mut x = [0.5f64, f64::NAN, 2.0, 0.1];
        names(t.apply(&mut x, 2).unwrap_err(), "x0");
    }
    let mut x = [0.5f64, 3.0];
    Threshold::clip(1.0).unwrap().apply(&mut x, 1).unwrap();
    assert_eq!(x, [0.5, 1.0]);
}

#[test]
fn a_run_time_offset_noise_must_be_finite_and_non_negative() {
    gdf::gdf!(StageC = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp,
              target: Epsilon, noise_cond: CosineT, loss_weight: P2);
    let x0 = vec![0.5f32; 2 * 8];
    let args = gdf::framework::DiffuseArgs {
        seed: 3,
        ..Default::default()
    };
    for k in [f64::NAN, f64::INFINITY, -0.1] {
        let g = StageC::default().with_offset_noise(k);
        let m = names(g.diffuse(&x0, 2, &args).unwrap_err(), "offset_noise");
        assert!(m.contains(">= 0"), "{m}");
    }
    // In range: 0 and a positive strength work.
    for k in [0.0, 0.1] {
        let d = StageC::default()
            .with_offset_noise(k)
            .diffuse(&x0, 2, &args)
            .unwrap();
        assert!(d.noised.iter().all(|v| v.is_finite()));
    }
}
