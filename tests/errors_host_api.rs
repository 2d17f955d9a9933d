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
use gdf::target::Epsilon;
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
    // The constructor and the check at use apply one rule (gdf!'s): a reversed range and a
    // count past 2^20 are refused when built, not first when run.
    names(
        Table::stable_diffusion([0.012, 0.00085], 10).unwrap_err(),
        "linear_range",
    );
    names(
        DynNoiseCond::stable_diffusion([0.00085, 0.012], (1 << 20) + 1).unwrap_err(),
        "total_steps",
    );
    // Valid parameters: ᾱ(t = 0) = 1 − β0, so λ(0) = ln((1 − β0)/β0) (one step, no clamp).
    let s = DynSchedule::stable_diffusion([0.01, 0.02], 1).unwrap();
    let l: f64 = s.logsnr(0.0, 1.0).unwrap();
    assert!((l - (0.99f64 / 0.01).ln()).abs() < 1e-9, "{l}");
}

#[test]
fn classic_sample_sizes_that_overflow_are_refused() {
    let g = Sc::default();
    let ddim = <gdf::sampler::Ddim>::new();
    let e = g
        .sample(half, ddim, &[], None, usize::MAX, 4, SampleOpts::default())
        .err()
        .unwrap();
    names(e, "batch × per");
    let noise = vec![0.0f64; 4];
    let opts = SampleOpts {
        timesteps: usize::MAX / 2,
        noise: Some(&noise),
        ..Default::default()
    };
    let e = g.sample(half, ddim, &[], None, 2, 2, opts).err().unwrap();
    names(e, "recorded noise");
}

#[test]
fn classic_sample_refuses_non_finite_x_init_and_noise() {
    let g = Sc::default();
    let x = vec![0.1, f64::NAN, 0.3, 0.4];
    let opts = SampleOpts {
        x_init: Some(&x),
        ..Default::default()
    };
    let e = g
        .sample(half, <gdf::sampler::Ddim>::new(), &[], None, 2, 2, opts)
        .err()
        .unwrap();
    assert!(
        matches!(
            e,
            GdfError::NonFinite {
                what: "x_init",
                index: 1,
                ..
            }
        ),
        "{e}"
    );
    let mut z = vec![0.0f64; 20 * 4];
    z[7] = f64::INFINITY;
    let opts = SampleOpts {
        noise: Some(&z),
        ..Default::default()
    };
    let e = g
        .sample(half, gdf::sampler::Ddpm, &[], None, 2, 2, opts)
        .err()
        .unwrap();
    assert!(
        matches!(
            e,
            GdfError::NonFinite {
                what: "noise",
                index: 7,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn table_rows_past_the_limit_are_refused_not_allocated() {
    let g = Sc::default();
    for n in [gdf::grid::MAX_STEPS + 1, 1 << 40] {
        let e = ScheduleTable::of_framework(&g)
            .steps(n)
            .build()
            .unwrap_err();
        assert!(
            matches!(e, GdfError::OutOfRange { what: "steps", .. }),
            "{e}"
        );
    }
}

#[test]
fn undiffuse_keeps_the_originals_non_finite_ends() {
    // The golden contract (targets 008/009, "exact match for NaN/inf positions"): where an
    // output has no value, undiffuse gives the original's ±inf/NaN, not an error. x0 from
    // an ε-prediction at a = 0 is (x − b·ε)/0; ε at λ = −∞ is the prediction itself.
    let g = Sc::default();
    let (x, pred) = ([0.4, -0.2, 1.0, 0.6], [0.1, 0.3, -0.5, 0.2]);
    let (mut x0, mut eps) = ([0.0; 4], [0.0; 4]);
    g.undiffuse_into(
        &x,
        &[f64::NEG_INFINITY, 0.0],
        &pred,
        Some(&mut x0),
        Some(&mut eps),
    )
    .unwrap();
    assert!(x0[..2].iter().all(|v| !v.is_finite()), "{x0:?}");
    assert_eq!(&eps[..2], &pred[..2]);
    // x0 at λ = 0 is (x − b·ε)/a with a = b = √½.
    let h = 0.5f64.sqrt();
    for i in 2..4 {
        assert!((x0[i] - (x[i] - h * pred[i]) / h).abs() < 1e-12);
    }
    g.undiffuse_into(&x, &[f64::NAN, 0.0], &pred, Some(&mut x0), None)
        .unwrap();
    assert!(x0[..2].iter().all(|v| v.is_nan()));
}

#[test]
fn sample_counters_past_u32_are_refused() {
    // Sample 1 of a batch at first_sample = u32::MAX drew sample 0's numbers (the index wrapped).
    let g = Sc::default();
    let x0 = vec![0.5f64; 8];
    let args = |first| DiffuseArgs {
        seed: 1,
        first_sample: first,
        ..Default::default()
    };
    let e = g.diffuse(&x0, 2, &args(u32::MAX)).unwrap_err();
    assert!(
        matches!(
            e,
            GdfError::OutOfRange {
                what: "first_sample",
                ..
            }
        ),
        "{e}"
    );
    let mut l = [0.0f64; 3];
    let e = g
        .logsnr_into(None, 1.0, 1, u32::MAX - 1, &mut l)
        .unwrap_err();
    assert!(
        matches!(
            e,
            GdfError::OutOfRange {
                what: "first_sample",
                ..
            }
        ),
        "{e}"
    );
    // The last counter itself is usable, and a sample drawn alone equals itself in a batch.
    let last = g.diffuse(&x0[..4], 1, &args(u32::MAX)).unwrap();
    let pair = g.diffuse(&x0, 2, &args(u32::MAX - 1)).unwrap();
    assert_eq!(last.noised[..], pair.noised[4..]);
    let e = g
        .sampling(2, 4)
        .first_sample(u32::MAX)
        .run(half)
        .unwrap_err();
    names(e, "first_sample");
    let opts = SampleOpts {
        first_sample: u32::MAX,
        ..Default::default()
    };
    let e = g
        .sample(half, gdf::sampler::Ddpm, &[], None, 2, 4, opts)
        .err()
        .unwrap();
    names(e, "first_sample");
}

#[test]
fn rescale_over_a_single_value_is_refused() {
    // The unbiased std of one value is 0/0: every sample came out NaN.
    let g = Sc::default();
    let ddim = <gdf::sampler::Ddim>::new();
    let opts = |rescale| SampleOpts {
        cfg: Cfg::Scale(3.0),
        cfg_rho: 0.7,
        rescale,
        ..Default::default()
    };
    for (batch, how) in [(1, Rescale::Batch), (3, Rescale::PerSample)] {
        let e = g
            .sample(half, ddim, &[], None, batch, 1, opts(how))
            .err()
            .unwrap();
        assert!(
            matches!(
                e,
                GdfError::OutOfRange {
                    what: "cfg_rho",
                    ..
                }
            ),
            "{e}"
        );
    }
    // Batch-wide over 3 values is defined; so is no rescale at one value.
    let x = g
        .sample(half, ddim, &[], None, 3, 1, opts(Rescale::Batch))
        .unwrap()
        .run()
        .unwrap();
    assert!(x.iter().all(|v| v.is_finite()));
    let off = SampleOpts {
        cfg_rho: 0.0,
        ..opts(Rescale::PerSample)
    };
    let x = g
        .sample(half, ddim, &[], None, 1, 1, off)
        .unwrap()
        .run()
        .unwrap();
    assert!(x[0].is_finite());
}

#[test]
fn a_cfg_window_that_guides_no_step_runs_unguided_as_the_original() {
    // SPEC: guidance is on while cfg_t_stop ≤ r_i ≤ cfg_t_start; with cfg_t_stop above
    // cfg_t_start no step qualifies, and the original runs unguided. A model that reacts to
    // its conditioning shows it: the reversed window gives the unguided run, bit for bit.
    fn cond_model(x: &[f64], c: &[f64], i: &[f64], p: &mut [f64]) {
        let per = p.len() / c.len();
        for (k, (p, x)) in p.iter_mut().zip(x).enumerate() {
            *p = 0.5 * x + 0.25 * i[k % i.len()] + 0.01 * c[k / per];
        }
    }
    let g = Sc::default();
    let cond = [1.0, -1.0, 0.5, 2.0];
    let x_init = [0.3, -0.2, 0.1, 0.7];
    let run = |cfg: Cfg<f64>, start: Option<f64>, stop: Option<f64>| {
        let opts = SampleOpts {
            cfg,
            cfg_t_start: start,
            cfg_t_stop: stop,
            timesteps: 6,
            x_init: Some(&x_init[..]),
            ..Default::default()
        };
        g.sample(
            cond_model,
            <gdf::sampler::Ddim>::new(),
            &cond,
            None,
            2,
            2,
            opts,
        )
        .unwrap()
        .run()
        .unwrap()
    };
    let reversed = run(Cfg::Scale(3.0), Some(0.2), Some(0.8));
    let unguided = run(Cfg::Off, None, None);
    let guided = run(Cfg::Scale(3.0), None, None);
    assert_eq!(reversed, unguided);
    assert_ne!(
        guided, unguided,
        "the model must react to guidance for this test to mean anything"
    );
}

#[test]
fn ddim_eta_negative_or_nan_is_refused() {
    // η < 0 or NaN ran a deterministic DDIM silently (the original tests `eta > 0`). η > 1
    // is the original's too: defined wherever the noise term stays below b'.
    let g = Sc::default();
    for eta in [-1.0, f64::NAN, f64::INFINITY] {
        let e = g
            .sample(
                half,
                DynSampler::Ddim { eta },
                &[],
                None,
                2,
                2,
                SampleOpts::default(),
            )
            .err()
            .unwrap();
        assert!(matches!(e, GdfError::OutOfRange { what: "eta", .. }), "{e}");
    }
    let x = g
        .sample(
            half,
            DynSampler::Ddim { eta: 1.0 },
            &[],
            None,
            2,
            2,
            SampleOpts::default(),
        )
        .unwrap()
        .run()
        .unwrap();
    assert!(x.iter().all(|v| v.is_finite()));
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

#[test]
fn setup_limits_refuses_a_shift_that_merges_the_ends() {
    // Both ends clamp onto one limit: max_a − min_a = 0 and every (a, b) was NaN.
    let g = Sc::default();
    for shift in [1e300, 1e-300] {
        let e = g.setup_limits(true, true, shift).unwrap_err();
        names(e, "shift");
    }
    // A moderate shift stretches exactly: t = 0 gives (1, 0), t = 1 gives (0, 1).
    let s = g.setup_limits(true, true, 2.0).unwrap();
    let ends = [0.0f64, 1.0].map(|t| {
        let l = s.schedule.logsnr(t, 2.0).unwrap();
        s.scaler.ab(l)
    });
    assert!(
        (ends[0].0 - 1.0).abs() < 1e-12 && ends[0].1.abs() < 1e-12,
        "{ends:?}"
    );
    assert!(
        ends[1].0.abs() < 1e-12 && (ends[1].1 - 1.0).abs() < 1e-12,
        "{ends:?}"
    );
}

#[test]
fn handoff_needs_a_training_scale() {
    // With num_train = 0 the cutoff is 0 and every timestep counted as "above" it: the base
    // silently ran the whole grid.
    use gdf::pipeline::strength::handoff_index;
    let ts: Vec<f64> = (0..40).map(|i| 976.0 - 25.0 * i as f64).collect();
    names(handoff_index(&ts, 0.8, 0, 1).unwrap_err(), "num_train");
    // diffusers' cutoff round(1000·0.2) = 200: timesteps 976 … 201 (32 of them) are the base's.
    assert_eq!(handoff_index(&ts, 0.8, 1000, 1).unwrap(), 32);
}

#[test]
fn the_inpainting_blend_refuses_a_non_finite_level() {
    use gdf::pipeline::Inpaint;
    let p = Inpaint::new(vec![0.5f64; 4], vec![0.1; 4], vec![0.0, 1.0], 2).unwrap();
    let mut x = vec![2.0f64; 4];
    for (a, b) in [(f64::NAN, 0.5), (0.5, f64::INFINITY)] {
        names(p.blend(&mut x, a, b).unwrap_err(), "blend");
    }
    assert_eq!(x, vec![2.0; 4], "a refused blend leaves x as it was");
    // (1 − m)·(a·known + b·ε) + m·x, the mask [0, 1] of one sample repeated over the batch:
    // element 0 of each sample re-noised, element 1 kept.
    p.blend(&mut x, 0.8, 0.6).unwrap();
    let k = 0.8 * 0.5 + 0.6 * 0.1;
    assert_eq!(x, vec![k, 2.0, k, 2.0]);
}

#[test]
fn dynamic_components_built_field_by_field_are_checked_where_they_run() {
    // The run-time kinds have public fields: a struct literal (or a field changed after
    // parsing) skips the constructors' and the parser's rules. The framework's entry points
    // check them again with the same rules, naming the field, instead of evaluating NaN.
    use gdf::dynamic::{CondKind, DynGdf, DynNoiseCond, ScheduleKind, WeightKind};
    let base: DynGdf = "schedule: EdmSample, scaler: Vp, target: Epsilon, noise_cond: LogSnr, \
                        loss_weight: Snr"
        .parse()
        .unwrap();
    let x0 = vec![0.5f64; 2 * 4];
    let args = DiffuseArgs {
        seed: 1,
        ..Default::default()
    };
    assert!(base.diffuse(&x0, 2, &args).is_ok());
    // σ_min above σ_max: λ of t evaluates the EDM formula backwards.
    let mut g = base.clone();
    g.schedule.kind = ScheduleKind::EdmSample {
        sigma_range: [80.0, 0.002],
        p: 7.0,
    };
    names(g.diffuse(&x0, 2, &args).unwrap_err(), "sigma_range");
    let t = [0.5f64];
    let mut out = [0.0f64];
    names(
        g.schedule.logsnr_into(&t, 1.0, &mut out).unwrap_err(),
        "sigma_range",
    );
    // A negative own shift: ln of a negative number.
    let mut g = base.clone();
    g.schedule.shift = -1.0;
    names(g.diffuse(&x0, 2, &args).unwrap_err(), "shift");
    // Noise cond and loss weight.
    let mut g = base.clone();
    g.noise_cond = DynNoiseCond::new(CondKind::EdmSigma(0.0));
    names(g.diffuse(&x0, 2, &args).unwrap_err(), "sigma_data");
    let mut g = base.clone();
    g.loss_weight.kind = WeightKind::MinSnr(-5.0);
    names(g.diffuse(&x0, 2, &args).unwrap_err(), "max_snr");
    let mut g = base.clone();
    g.loss_weight.clamp_range = [1.0, -1.0];
    names(g.diffuse(&x0, 2, &args).unwrap_err(), "clamp_range");
    // Sampling checks the schedule and the noise cond too.
    let mut g = base.clone();
    g.noise_cond.shift = f64::NAN;
    let e = g
        .sample(
            half,
            <gdf::sampler::Ddim>::new(),
            &[],
            None,
            2,
            2,
            SampleOpts::default(),
        )
        .err()
        .unwrap();
    names(e, "shift");
}

#[test]
fn diffuse_names_a_non_finite_input() {
    // NaN or ±inf in x0 or a given ε made `noised` NaN silently; the noising pass now finds
    // it (one compare per element) and the error names the buffer and the first index.
    // 4 samples of 40 000 elements: several parallel jobs, the bad value in a later one.
    let g = Sc::default();
    let (batch, per) = (4, 40_000);
    let n = batch * per;
    let t = [0.2f32, 0.4, 0.6, 0.8];
    for (bad, value) in [
        (97_531, f32::NAN),
        (n - 1, f32::INFINITY),
        (0, f32::NEG_INFINITY),
    ] {
        let mut x0 = vec![0.25f32; n];
        x0[bad] = value;
        for given in [false, true] {
            let eps = vec![-0.5f32; n];
            let args = DiffuseArgs {
                eps: given.then_some(&eps[..]),
                t: Some(&t),
                seed: 3,
                ..Default::default()
            };
            match g.diffuse(&x0, batch, &args).unwrap_err() {
                GdfError::NonFinite { what, index, .. } => {
                    assert_eq!((what, index), ("x0", bad), "given = {given}")
                }
                e => panic!("{e}"),
            }
        }
        let x0 = vec![0.25f32; n];
        let mut eps = vec![-0.5f32; n];
        eps[bad] = value;
        let args = DiffuseArgs {
            eps: Some(&eps),
            t: Some(&t),
            ..Default::default()
        };
        let m = names(g.diffuse(&x0, batch, &args).unwrap_err(), "`eps[");
        assert!(m.contains(&format!("[{bad}]")), "{m}");
    }
    // f64 and the ε-with-offset path (through the stack buffer) too.
    let g64 = Sc::default().with_offset_noise(0.1f64);
    let mut x0 = vec![0.1f64; 2 * 300];
    x0[450] = f64::NAN;
    let args = DiffuseArgs {
        t: Some(&[0.3, 0.7][..]),
        channels: 3,
        ..Default::default()
    };
    match g64.diffuse(&x0, 2, &args).unwrap_err() {
        GdfError::NonFinite { what, index, .. } => assert_eq!((what, index), ("x0", 450)),
        e => panic!("{e}"),
    }
    // Finite inputs stay valid, at every level the schedule reaches (t = 0 and 1 included).
    x0[450] = 0.1;
    let ends = DiffuseArgs {
        t: Some(&[0.0, 1.0][..]),
        ..Default::default()
    };
    let d = g.diffuse(&x0, 2, &ends).unwrap();
    assert!(d.noised.iter().all(|v| v.is_finite()));
}

/// A user's scaler with no finite `(a, b)` above λ = 5.
#[derive(Clone, Debug, Default)]
struct Undefined;

impl gdf::component::LogSnrFn for Undefined {
    fn write_decl(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
        out.write_str("Undefined")
    }
}

impl gdf::scaler::Scaler for Undefined {
    fn ab<F: gdf::Real>(&self, l: F) -> (F, F) {
        if l > F::of(5.0) {
            (F::nan(), F::nan())
        } else {
            (F::one(), F::zero())
        }
    }
}

#[test]
fn diffuse_keeps_a_scalers_own_nan() {
    // With finite inputs a NaN output is the scaler's doing, not bad data: the outputs carry
    // it and the call succeeds (only non-finite inputs are refused).
    let g: Gdf<Cosine, Undefined, Epsilon, CosineT, P2> = Gdf::new(
        Cosine::default(),
        Undefined,
        Epsilon,
        CosineT::default(),
        P2::default(),
    );
    let x0 = vec![0.5f64; 8];
    let args = DiffuseArgs {
        t: Some(&[0.01, 0.9][..]),
        ..Default::default()
    };
    let d = g.diffuse(&x0, 2, &args).unwrap();
    assert!(d.logsnr[0] > 5.0 && d.logsnr[1] < 5.0, "{:?}", d.logsnr);
    assert!(d.noised[..4].iter().all(|v| v.is_nan()));
    assert_eq!(d.noised[4..], [0.5; 4]);
}
