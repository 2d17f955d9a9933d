//! Inputs at and just past the ends of every schedule's and noise cond's domain: `±0.0`,
//! subnormal-sized and tiny `t`, `1 ± 1e-16` and values just outside `[0, 1]`, with and without
//! `discrete_steps`. Every output is finite or the schedule's documented limit, never NaN.
//!
//! The expected values at the ends are computed here from SPEC.md's formulas (§1, §4), not
//! from the crate: a `t` at or below 0 is clamped to `t = 0`, so it must give `λ(t = 0)`, the
//! upper limit; a `t` at or above 1 gives `λ(t = 1)`, the lower limit.

use gdf::dynamic::{CondKind, DynNoiseCond, DynSchedule, ScheduleKind};
use gdf::prelude::*;
use gdf::schedule::{Table, VarParams};

mod common;

/// SPEC §1's raw formulas `f(t)`, written from the spec for this test.
fn spec_f(kind: &ScheduleKind, t: f64) -> f64 {
    let logit = |v: f64| (v / (1.0 - v)).ln();
    let half_pi = core::f64::consts::FRAC_PI_2;
    match kind {
        ScheduleKind::Cosine(p) => {
            let s = p.s;
            let m = (s / (1.0 + s) * half_pi).cos().powi(2);
            let v = ((s + t) / (1.0 + s) * half_pi)
                .cos()
                .clamp(0.0, 1.0)
                .powi(2)
                / m;
            logit(v.clamp(p.clamp_range[0], p.clamp_range[1]))
        }
        ScheduleKind::Cosine2([lo, hi]) => {
            let t_min = (-hi / 2.0).exp().atan();
            let t_max = (-lo / 2.0).exp().atan();
            -2.0 * (t_min + t * (t_max - t_min)).tan().ln()
        }
        ScheduleKind::Sqrt(p) => {
            let v = 1.0 - (t + p.s).sqrt();
            logit(v.clamp(p.clamp_range[0], p.clamp_range[1]))
        }
        ScheduleKind::RectifiedFlows([lo, hi]) => {
            ((1.0 - t).powi(2) / (t * t)).ln().clamp(*lo, *hi)
        }
        ScheduleKind::EdmSample { sigma_range, p } => {
            let (smin, smax) = (sigma_range[0].powf(1.0 / p), sigma_range[1].powf(1.0 / p));
            -2.0 * (smax + (1.0 - t) * (smin - smax)).powf(*p).ln()
        }
        ScheduleKind::Linear([lo, hi]) => t * (lo - hi) + hi,
        ScheduleKind::PiecewiseLinear(table) => {
            // Only the ends are asked for: v(0) = ys[0], v(1) = ys[last].
            let ys = table.ys();
            logit(if t == 0.0 { ys[0] } else { ys[ys.len() - 1] })
        }
        ScheduleKind::StableDiffusion { linear_range, .. } => {
            // ᾱ at the ends: 1 − β0 at t = 0 and Π(1 − β) at t = 1 (not asked for here).
            assert_eq!(t, 0.0, "only t = 0 is derived for StableDiffusion");
            logit(1.0 - linear_range[0])
        }
        other => panic!("no spec formula in this test for {other:?}"),
    }
}

fn schedules() -> Vec<ScheduleKind> {
    let table = Table::new(vec![0.0, 0.3, 0.7, 1.0], vec![0.999, 0.8, 0.1, 0.001]).unwrap();
    vec![
        ScheduleKind::Cosine(VarParams {
            s: 0.008,
            clamp_range: [1e-4, 0.9999],
            norm_instead: false,
        }),
        ScheduleKind::Cosine2([-15.0, 15.0]),
        ScheduleKind::Sqrt(VarParams {
            s: 1e-4,
            clamp_range: [1e-4, 0.9999],
            norm_instead: false,
        }),
        ScheduleKind::RectifiedFlows([-15.0, 15.0]),
        ScheduleKind::RectifiedFlows([-10.0, 12.0]),
        ScheduleKind::EdmSample {
            sigma_range: [0.002, 80.0],
            p: 7.0,
        },
        ScheduleKind::Linear([-10.0, 10.0]),
        ScheduleKind::PiecewiseLinear(table),
    ]
}

/// `t` at and just past both ends of `[0, 1]`.
const BELOW_ZERO: [f64; 6] = [-0.0, -1e-300, -1e-30, -1e-3, -0.01, -0.06];
const ABOVE_ONE: [f64; 4] = [1.0 + 1e-16, 1.0 + 2.3e-16, 1.001, 1.01];

fn close(got: f64, want: f64) -> bool {
    got == want || (got - want).abs() <= 1e-12 * want.abs()
}

#[test]
fn t_at_or_below_zero_gives_the_upper_limit_for_every_schedule() {
    for kind in schedules() {
        for steps in [None, Some(9), Some(1000)] {
            let mut s = DynSchedule::new(kind.clone());
            s.discrete_steps = steps;
            let want = spec_f(&kind, 0.0);
            for t in BELOW_ZERO.into_iter().chain([0.0]) {
                let got: f64 = s.logsnr(t, 1.0).unwrap();
                assert!(
                    close(got, want),
                    "{kind:?} discrete {steps:?} at t = {t:e}: {got}, spec λ(0) = {want}"
                );
                let got32: f32 = s.logsnr(t as f32, 1.0).unwrap();
                assert!(!got32.is_nan(), "{kind:?} f32 at t = {t:e} is NaN");
            }
            if !matches!(kind, ScheduleKind::PiecewiseLinear(_)) || steps.is_none() {
                let want1 = spec_f(&kind, 1.0);
                for t in ABOVE_ONE.into_iter().chain([1.0]) {
                    let got: f64 = s.logsnr(t, 1.0).unwrap();
                    assert!(
                        close(got, want1),
                        "{kind:?} discrete {steps:?} at t = {t:e}: {got}, spec λ(1) = {want1}"
                    );
                }
            }
        }
    }
}

#[test]
fn rectified_flows_rounded_to_minus_zero_is_its_upper_limit() {
    // The case that was found: t = −0.01 with 9 discrete steps rounds to −0.0; the original
    // gives ln((1−t)²/t²) = +inf, clamped to the range's upper end.
    let mut s = DynSchedule::new(ScheduleKind::RectifiedFlows([-15.0, 15.0]));
    s.discrete_steps = Some(9);
    assert_eq!(s.logsnr(-0.01f64, 1.0).unwrap(), 15.0);
    assert_eq!(s.logsnr(-0.0f64, 1.0).unwrap(), 15.0);
    assert_eq!(s.logsnr(-0.01f32, 1.0).unwrap(), 15.0);
    // The discrete points are ln((1−t)²/t²) at t = k/8, as the spec writes it.
    for k in 1..8 {
        let t = k as f64 / 8.0;
        let want = ((1.0 - t) * (1.0 - t) / (t * t)).ln();
        assert_eq!(s.logsnr(t, 1.0).unwrap(), want, "t = {t}");
    }
}

#[test]
fn stable_diffusion_and_interpolated_ends() {
    let sd = DynSchedule::stable_diffusion([0.00085, 0.012], 1000).unwrap();
    let want = spec_f(&sd.kind, 0.0);
    for steps in [None, Some(9)] {
        let mut s = sd.clone();
        s.discrete_steps = steps;
        for t in BELOW_ZERO {
            let got: f64 = s.logsnr(t, 1.0).unwrap();
            assert!(close(got, want), "SD at {t:e}: {got} vs {want}");
        }
    }
    // Interpolated clamps t into [1e-7, 1 − 1e-7] and mixes its parts (SPEC §1).
    let (s1, s2) = (
        ScheduleKind::Linear([-10.0, 10.0]),
        ScheduleKind::RectifiedFlows([-15.0, 15.0]),
    );
    let it = DynSchedule::new(ScheduleKind::Interpolated(
        Box::new(DynSchedule::new(s1.clone())),
        Box::new(DynSchedule::new(s2.clone())),
        [1.0, 1.0],
    ));
    let t0 = 1e-7;
    let want = spec_f(&s1, t0) * t0 + spec_f(&s2, t0) * (1.0 - t0);
    for steps in [None, Some(9)] {
        let mut s = it.clone();
        s.discrete_steps = steps;
        for t in BELOW_ZERO {
            let got: f64 = s.logsnr(t, 1.0).unwrap();
            assert!(close(got, want), "Interpolated at {t:e}: {got} vs {want}");
        }
    }
}

/// The sweep grid of the issue: ±0.0, ±1e-300, ±1e-30, 1 ± 1e-16, just outside [0, 1].
fn sweep() -> Vec<f64> {
    let mut v = common::edge_grid();
    v.extend([0.5, 0.25, 0.75]);
    v
}

#[test]
fn every_schedule_is_finite_or_its_limit_on_the_edge_grid() {
    let mut all = schedules();
    all.push(
        DynSchedule::stable_diffusion([0.00085, 0.012], 1000)
            .unwrap()
            .kind,
    );
    all.push(ScheduleKind::Cosine(VarParams {
        s: 0.008,
        clamp_range: [0.0, 1.0],
        norm_instead: false,
    }));
    all.push(ScheduleKind::Interpolated(
        Box::new(DynSchedule::new(ScheduleKind::Cosine2([-15.0, 15.0]))),
        Box::new(DynSchedule::new(ScheduleKind::RectifiedFlows([
            -15.0, 15.0,
        ]))),
        [1.0, 2.0],
    ));
    for kind in all {
        for steps in [None, Some(2), Some(9), Some(1000)] {
            for shift in [1.0, 0.5, 3.0] {
                let mut s = DynSchedule::new(kind.clone());
                s.discrete_steps = steps;
                let [lo, hi] = s.limits().unwrap();
                for &t in &sweep() {
                    let l: f64 = s.logsnr(t, shift).unwrap();
                    assert!(
                        !l.is_nan() && l >= lo && l <= hi,
                        "{kind:?} steps {steps:?} shift {shift} at t = {t:e}: {l} outside [{lo}, {hi}]"
                    );
                    assert!(
                        l.is_finite() || l == lo || l == hi,
                        "{kind:?} at t = {t:e}: {l}"
                    );
                    let l32: f32 = s.logsnr(t as f32, shift as f32).unwrap();
                    assert!(!l32.is_nan(), "{kind:?} f32 at t = {t:e}: NaN");
                }
            }
        }
    }
}

#[test]
fn every_noise_cond_is_finite_on_the_edge_grid() {
    let table = Table::new(vec![0.0, 0.3, 0.7, 1.0], vec![0.999, 0.8, 0.1, 0.001]).unwrap();
    let conds = vec![
        DynNoiseCond::new(CondKind::CosineT(0.008)),
        DynNoiseCond::new(CondKind::Edm),
        DynNoiseCond::new(CondKind::Sigmoid),
        DynNoiseCond::new(CondKind::LogSnr),
        DynNoiseCond::new(CondKind::EdmSigma(1.0)),
        DynNoiseCond::new(CondKind::RectifiedFlows),
        DynNoiseCond::new(CondKind::PiecewiseLinear(table)),
        DynNoiseCond::stable_diffusion([0.00085, 0.012], 1000).unwrap(),
        DynNoiseCond::new(CondKind::Discrete {
            inner: Box::new(DynNoiseCond::new(CondKind::CosineT(0.008))),
            steps: 1000,
            continuous_range: [0.0, 1.0],
        }),
    ];
    let mut grid = sweep();
    grid.extend([30.0, -30.0, 1e3, -1e3, 1e300, -1e300]);
    for c in conds {
        for shift in [1.0, 0.5, 2.0] {
            let mut c = c.clone();
            c.shift = shift;
            for &l in &grid {
                let v: f64 = c.noise_cond(l);
                assert!(v.is_finite(), "{c:?} at λ = {l:e}: {v}");
                let v32: f32 = c.noise_cond(l as f32);
                assert!(v32.is_finite(), "{c:?} f32 at λ = {l:e}: {v32}");
            }
            // ±inf clamps into the (finite) clamp range.
            for l in [f64::INFINITY, f64::NEG_INFINITY] {
                let v: f64 = c.noise_cond(l);
                assert!(!v.is_nan(), "{c:?} at λ = {l}: NaN");
            }
        }
    }
}
