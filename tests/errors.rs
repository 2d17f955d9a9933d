//! Bad input gets a typed error whose message says what was wrong and what was expected.

use gdf::framework::{DiffuseArgs, DiffuseOut, Gdf};
use gdf::prelude::*;
use gdf::sample::{Cfg, SampleOpts};
use gdf::schedule::{AdaptiveTrain, Cosine, EdmTrain, PiecewiseLinear};
use gdf::{loss_weight::P2, noise_cond::CosineT, scaler::Vp, target::Epsilon, GdfError};

type Sc = Gdf<Cosine, Vp, Epsilon, CosineT, P2>;

fn msg(e: &GdfError) -> String {
    e.to_string()
}

#[test]
fn training_only_schedules_refuse_t() {
    let e = <EdmTrain>::new().logsnr(0.5f64, 1.0).unwrap_err();
    assert_eq!(
        e,
        GdfError::TrainingOnly {
            schedule: "EdmTrain"
        }
    );
    assert!(
        msg(&e).contains("training-only") && msg(&e).contains("EdmTrain"),
        "{e}"
    );
    let e = <AdaptiveTrain>::new().logsnr(0.5f64, 1.0).unwrap_err();
    assert_eq!(
        e,
        GdfError::TrainingOnly {
            schedule: "AdaptiveTrain"
        }
    );
    // and through the framework, when t is given
    let g: Gdf<EdmTrain, Vp, Epsilon, CosineT, P2> = Gdf::default();
    let e = g
        .diffuse(
            &[0.0f64; 4],
            2,
            &DiffuseArgs {
                t: Some(&[0.1, 0.2]),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, GdfError::TrainingOnly { .. }));
    // while drawing works
    assert!(g.diffuse(&[0.0f64; 4], 2, &DiffuseArgs::default()).is_ok());
}

#[test]
fn non_finite_t_and_shift_are_refused() {
    let s = <Cosine>::new();
    let e = s.logsnr(f64::NAN, 1.0).unwrap_err();
    assert!(matches!(
        e,
        GdfError::NonFinite {
            what: "t",
            index: 0,
            ..
        }
    ));
    assert!(msg(&e).contains("expected a finite number"), "{e}");
    let mut out = [0.0f32; 3];
    let e = s
        .logsnr_into(&[0.1, f32::INFINITY, 0.2], 1.0, &mut out)
        .unwrap_err();
    assert!(
        matches!(
            e,
            GdfError::NonFinite {
                what: "t",
                index: 1,
                ..
            }
        ),
        "{e:?}"
    );
    let e = s.logsnr(0.5f64, 0.0).unwrap_err();
    assert!(matches!(e, GdfError::OutOfRange { what: "shift", .. }));
    assert!(msg(&e).contains("positive"), "{e}");
    let e = s.logsnr(0.5f64, f64::NAN).unwrap_err();
    assert!(matches!(e, GdfError::NonFinite { what: "shift", .. }));
}

#[test]
fn length_mismatches_are_refused() {
    let s = <Cosine>::new();
    let mut out = [0.0f64; 2];
    let e = s.logsnr_into(&[0.1, 0.2, 0.3], 1.0, &mut out).unwrap_err();
    assert_eq!(
        e,
        GdfError::LengthMismatch {
            what: "out",
            expected: 3,
            got: 2
        }
    );
    assert_eq!(msg(&e), "`out` has length 2, expected 3");

    let g = Sc::default();
    let x0 = vec![0.0f32; 12];
    // x0 not a whole number of samples
    let e = g.diffuse(&x0, 5, &DiffuseArgs::default()).unwrap_err();
    assert_eq!(
        e,
        GdfError::NotDivisible {
            what: "x0",
            len: 12,
            batch: 5
        }
    );
    assert!(msg(&e).contains("not a multiple of the batch size 5"));
    // empty batch
    let e = g.diffuse(&x0, 0, &DiffuseArgs::default()).unwrap_err();
    assert!(matches!(e, GdfError::EmptyBatch { .. }), "{e:?}");
    let e = g
        .diffuse(&[] as &[f32], 3, &DiffuseArgs::default())
        .unwrap_err();
    assert!(matches!(e, GdfError::EmptyBatch { what: "x0" }), "{e:?}");
    // eps of the wrong length
    let e = g
        .diffuse(
            &x0,
            3,
            &DiffuseArgs {
                eps: Some(&[0.0; 11]),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        e,
        GdfError::LengthMismatch {
            what: "eps",
            expected: 12,
            got: 11
        }
    );
    // t of the wrong length
    let e = g
        .diffuse(
            &x0,
            3,
            &DiffuseArgs {
                t: Some(&[0.5; 2]),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        e,
        GdfError::LengthMismatch {
            what: "t",
            expected: 3,
            got: 2
        }
    );
    // non-finite t
    let e = g
        .diffuse(
            &x0,
            3,
            &DiffuseArgs {
                t: Some(&[0.5, f32::NAN, 0.1]),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(
        e,
        GdfError::NonFinite {
            what: "t",
            index: 1,
            ..
        }
    ));
    // output buffers
    let (mut n, mut l, mut c, mut w) = (
        vec![0.0f32; 12],
        vec![0.0f32; 3],
        vec![0.0f32; 2],
        vec![0.0f32; 3],
    );
    let e = g
        .diffuse_into(
            &x0,
            3,
            &DiffuseArgs::default(),
            DiffuseOut {
                noised: &mut n,
                eps: None,
                target: None,
                logsnr: &mut l,
                noise_cond: &mut c,
                loss_weight: &mut w,
            },
        )
        .unwrap_err();
    assert_eq!(
        e,
        GdfError::LengthMismatch {
            what: "noise_cond",
            expected: 3,
            got: 2
        }
    );
    // undiffuse
    let e = g
        .undiffuse_into(&x0, &[0.0; 3], &[0.0; 10], None, None)
        .unwrap_err();
    assert_eq!(
        e,
        GdfError::LengthMismatch {
            what: "pred",
            expected: 12,
            got: 10
        }
    );
}

#[test]
fn offset_noise_shapes_are_checked() {
    let g = Sc::default().with_offset_noise(0.1f64);
    let x0 = vec![0.0f64; 2 * 3 * 4];
    let e = g
        .diffuse(
            &x0,
            2,
            &DiffuseArgs {
                channels: 5,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, GdfError::NotDivisible { .. }), "{e:?}");
    let e = g
        .diffuse(
            &x0,
            2,
            &DiffuseArgs {
                channels: 3,
                offset: Some(&[0.0; 5]),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        e,
        GdfError::LengthMismatch {
            what: "offset",
            expected: 6,
            got: 5
        }
    );
}

#[test]
fn adaptive_updates_are_checked() {
    let mut a = <AdaptiveTrain>::new();
    let e = a.update(&[0.0, 1.0], &[1.0], 0.99).unwrap_err();
    assert_eq!(
        e,
        GdfError::LengthMismatch {
            what: "loss",
            expected: 2,
            got: 1
        }
    );
    let e = a.update(&[0.0], &[1.0], 1.5).unwrap_err();
    assert!(matches!(e, GdfError::OutOfRange { what: "beta", .. }));
    assert!(msg(&e).contains("[0, 1]"), "{e}");
    let e = a.update(&[f64::NAN], &[1.0], 0.9).unwrap_err();
    assert!(matches!(e, GdfError::NonFinite { what: "logSNR", .. }));
    let mut w = <gdf::loss_weight::Adaptive>::new();
    let e = w.update(&[0.0], &[1.0, 2.0], 0.9).unwrap_err();
    assert!(matches!(e, GdfError::LengthMismatch { .. }));
    let e = w.update(&[0.0], &[1.0], -0.1).unwrap_err();
    assert!(matches!(e, GdfError::OutOfRange { what: "beta", .. }));
    // restoring state of another bucket count
    let e = w
        .restore(gdf::loss_weight::AdaptiveState {
            bucket_losses: vec![1.0; 7],
        })
        .unwrap_err();
    assert_eq!(
        e,
        GdfError::LengthMismatch {
            what: "bucket_losses",
            expected: 300,
            got: 7
        }
    );
}

#[test]
fn bad_tables_are_refused() {
    let e = PiecewiseLinear::new(vec![0.0, 1.0], vec![1.0]).unwrap_err();
    assert!(msg(&e).contains("xs has 2 knots but ys has 1"), "{e}");
    let e = PiecewiseLinear::new(vec![0.0, 0.0], vec![1.0, 0.5]).unwrap_err();
    assert!(msg(&e).contains("strictly increasing"), "{e}");
    let e = PiecewiseLinear::new(vec![0.0], vec![1.0]).unwrap_err();
    assert!(msg(&e).contains("at least 2"), "{e}");
}

fn zero_model(_x: &[f64], _c: &[f64], _i: &[f64], p: &mut [f64]) {
    p.fill(0.0);
}

#[test]
fn sampling_inputs_are_checked() {
    let g = Sc::default();
    let smp = sampler::Ddpm;
    let cond = vec![0.0f64; 4];
    // x_init of the wrong length
    let x_init = vec![0.0f64; 7];
    let e = g
        .sample(
            zero_model,
            smp,
            &cond,
            None,
            2,
            4,
            SampleOpts {
                x_init: Some(&x_init),
                ..Default::default()
            },
        )
        .err()
        .unwrap();
    assert_eq!(
        e,
        GdfError::LengthMismatch {
            what: "x_init",
            expected: 8,
            got: 7
        }
    );
    // conditional inputs not a whole number per sample
    let e = g
        .sample(
            zero_model,
            smp,
            &[0.0; 3],
            None,
            2,
            4,
            SampleOpts::default(),
        )
        .err()
        .unwrap();
    assert_eq!(
        e,
        GdfError::NotDivisible {
            what: "cond",
            len: 3,
            batch: 2
        }
    );
    // unconditional inputs of another length
    let e = g
        .sample(
            zero_model,
            smp,
            &cond,
            Some(&[0.0; 6]),
            2,
            4,
            SampleOpts::default(),
        )
        .err()
        .unwrap();
    assert_eq!(
        e,
        GdfError::LengthMismatch {
            what: "uncond",
            expected: 4,
            got: 6
        }
    );
    // zero timesteps
    let e = g
        .sample(
            zero_model,
            smp,
            &cond,
            None,
            2,
            4,
            SampleOpts {
                timesteps: 0,
                ..Default::default()
            },
        )
        .err()
        .unwrap();
    assert!(matches!(
        e,
        GdfError::OutOfRange {
            what: "timesteps",
            ..
        }
    ));
    assert!(msg(&e).contains("at least 1"), "{e}");
    // non-finite guidance, at the start and when changed between steps
    let e = g
        .sample(
            zero_model,
            smp,
            &cond,
            None,
            2,
            4,
            SampleOpts {
                cfg: Cfg::Scale(f64::NAN),
                ..Default::default()
            },
        )
        .err()
        .unwrap();
    assert!(matches!(e, GdfError::NonFinite { what: "cfg", .. }));
    let e = g
        .sample(
            zero_model,
            smp,
            &cond,
            None,
            2,
            4,
            SampleOpts {
                cfg: Cfg::Ramp(1.0, f64::INFINITY),
                ..Default::default()
            },
        )
        .err()
        .unwrap();
    assert!(matches!(e, GdfError::NonFinite { what: "cfg", .. }));
    let mut run = g
        .sample(zero_model, smp, &cond, None, 2, 4, SampleOpts::default())
        .unwrap();
    assert!(run.next_step().unwrap().is_some());
    run.cfg_rho = f64::NAN;
    assert!(matches!(
        run.next_step().unwrap_err(),
        GdfError::NonFinite {
            what: "cfg_rho",
            ..
        }
    ));
    // recorded noise of the wrong length
    let e = g
        .sample(
            zero_model,
            smp,
            &cond,
            None,
            2,
            4,
            SampleOpts {
                timesteps: 3,
                noise: Some(&[0.0; 5]),
                ..Default::default()
            },
        )
        .err()
        .unwrap();
    assert_eq!(
        e,
        GdfError::LengthMismatch {
            what: "noise",
            expected: 24,
            got: 5
        }
    );
    // a training-only sampling schedule
    let e = g
        .sample_with(
            &<EdmTrain>::new(),
            zero_model,
            smp,
            &cond,
            None,
            2,
            4,
            SampleOpts::default(),
        )
        .err()
        .unwrap();
    assert!(matches!(e, GdfError::TrainingOnly { .. }));
}

#[test]
fn sampling_towards_noise_is_refused() {
    let g = Sc::default();
    let opts = SampleOpts {
        t_start: 0.2,
        t_end: 0.9,
        ..Default::default()
    };
    let e = g
        .sample(zero_model, sampler::Ddpm, &[], None, 2, 4, opts)
        .err()
        .unwrap();
    assert!(
        matches!(e, GdfError::OutOfRange { what: "t_start", value, .. } if value == 0.2),
        "{e:?}"
    );
    let m = msg(&e);
    assert!(
        m.contains("`t_start` is 0.2") && m.contains("at least t_end") && m.contains("diffuse"),
        "{m}"
    );
    // The grid helper refuses it too; t_start == t_end is a (degenerate) valid grid.
    let e = gdf::sample::sampling_grid(&<Cosine>::new(), 4, 0.0f64, 1.0, 1.0).unwrap_err();
    assert!(matches!(
        e,
        GdfError::OutOfRange {
            what: "t_start",
            ..
        }
    ));
    assert!(gdf::sample::sampling_grid(&<Cosine>::new(), 4, 0.5f64, 0.5, 1.0).is_ok());
}

#[test]
fn cfg_rho_outside_zero_one_is_refused() {
    let g = Sc::default();
    for rho in [-1.0, -1e-9, 1.0 + 1e-9, 2.0] {
        let opts = SampleOpts {
            cfg_rho: rho,
            ..Default::default()
        };
        let e = g
            .sample(zero_model, sampler::Ddpm, &[], None, 2, 4, opts)
            .err()
            .unwrap();
        assert!(
            matches!(e, GdfError::OutOfRange { what: "cfg_rho", value, .. } if value == rho),
            "{e:?}"
        );
        assert!(msg(&e).contains("[0, 1]"), "{e}");
    }
    for rho in [0.0, 0.7, 1.0] {
        let opts = SampleOpts {
            cfg_rho: rho,
            ..Default::default()
        };
        assert!(g
            .sample(zero_model, sampler::Ddpm, &[], None, 2, 4, opts)
            .is_ok());
    }
    // changed between steps
    let mut run = g
        .sample(
            zero_model,
            sampler::Ddpm,
            &[],
            None,
            2,
            4,
            SampleOpts::default(),
        )
        .unwrap();
    run.cfg_rho = -1.0;
    assert!(matches!(
        run.next_step().unwrap_err(),
        GdfError::OutOfRange {
            what: "cfg_rho",
            ..
        }
    ));
}

#[test]
fn a_bad_loss_shift_is_named_loss_shift() {
    let g = Sc::default();
    for bad in [-1.0, 0.0] {
        let args = DiffuseArgs {
            t: Some(&[0.5, 0.5]),
            loss_shift: bad,
            ..Default::default()
        };
        let e = g.diffuse(&[0.0f64; 4], 2, &args).err().unwrap();
        assert!(
            matches!(e, GdfError::OutOfRange { what: "loss_shift", value, .. } if value == bad),
            "{e:?}"
        );
        assert!(
            msg(&e).contains("`loss_shift`") && msg(&e).contains("positive"),
            "{e}"
        );
    }
    let args = DiffuseArgs {
        t: Some(&[0.5, 0.5]),
        loss_shift: f64::NAN,
        ..Default::default()
    };
    let e = g.diffuse(&[0.0f64; 4], 2, &args).err().unwrap();
    assert!(
        matches!(
            e,
            GdfError::NonFinite {
                what: "loss_shift",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn non_finite_predictions_are_reported_when_checked() {
    let g = Sc::default();
    // A model that is fine for two steps, then writes inf into sample 1's unconditional half.
    let mut calls = 0;
    let model = move |_x: &[f64], _c: &[f64], _i: &[f64], p: &mut [f64]| {
        p.fill(0.1);
        if calls == 2 {
            let n = p.len() / 2; // guided: [cond; uncond]
            p[n + 4 + 3] = f64::INFINITY;
        }
        calls += 1;
    };
    let opts = SampleOpts {
        check_predictions: true,
        ..Default::default()
    };
    let mut run = g
        .sample(model, <sampler::Ddim>::new(), &[], None, 2, 4, opts)
        .unwrap();
    assert!(run.next_step().unwrap().is_some());
    assert!(run.next_step().unwrap().is_some());
    let e = run.next_step().unwrap_err();
    assert_eq!(
        e,
        GdfError::ModelOutput {
            step: 2,
            branch: "unconditional",
            sample: 1,
            index: 3,
            value: f64::INFINITY
        }
    );
    let m = msg(&e);
    assert!(
        m.contains("step 2") && m.contains("sample 1") && m.contains("unconditional"),
        "{m}"
    );
    // Unchecked (the default), the same model's NaN reaches the samples silently.
    let nan_model = |_x: &[f64], _c: &[f64], _i: &[f64], p: &mut [f64]| p.fill(f64::NAN);
    let x = g
        .sample(
            nan_model,
            <sampler::Ddim>::new(),
            &[],
            None,
            2,
            4,
            SampleOpts::default(),
        )
        .unwrap()
        .run()
        .unwrap();
    assert!(x.iter().all(|v| v.is_nan()));
    let opts = SampleOpts {
        check_predictions: true,
        cfg: Cfg::Off,
        ..Default::default()
    };
    let e = g
        .sample(nan_model, <sampler::Ddim>::new(), &[], None, 2, 4, opts)
        .unwrap()
        .run()
        .unwrap_err();
    assert!(
        matches!(
            e,
            GdfError::ModelOutput {
                step: 0,
                branch: "unguided",
                sample: 0,
                index: 0,
                ..
            }
        ),
        "{e:?}"
    );
}
