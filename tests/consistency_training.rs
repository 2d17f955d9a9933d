//! `gdf::consistency` against Kinyugo/consistency_models (`tests/consistency/golden.json` from
//! `tests/consistency/gen.py`, or the folder in `GDF_CONSISTENCY_GOLDEN_DIR`): the improved and
//! the original recipe's level counts, the EMA rate, the Karras σ's, the pair weights, and the
//! pair distribution against the reference sampler's tallies; plus the pseudo-Huber distance
//! and the draws' independence of the batch against closed forms.

mod common;

use common::*;
use gdf::consistency::{ct_ema_decay, ct_num_levels, pseudo_huber, ImprovedCt};
use serde_json::Value;

fn golden() -> Value {
    let dir = match std::env::var_os("GDF_CONSISTENCY_GOLDEN_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/consistency"),
    };
    let text = std::fs::read_to_string(dir.join("golden.json")).expect("golden.json");
    serde_json::from_str(&text).expect("golden JSON")
}

fn run_case(case: &Value, ck: &mut Check) -> R<()> {
    let p = get(case, "params")?;
    let n = |k: &str| -> R<f64> { num(get(p, k)?) };
    let ict = ImprovedCt {
        sigma_min: n("sigma_min")?,
        sigma_max: n("sigma_max")?,
        rho: n("rho")?,
        initial_levels: n("ict_initial")? as usize,
        final_levels: n("ict_final")? as usize,
        p_mean: n("p_mean")?,
        p_std: n("p_std")?,
        ..ImprovedCt::new()
    };
    let total = n("total")? as usize;
    let steps = flat(get(case, "steps")?)?;
    let (c0, c1) = (n("ct_initial")? as usize, n("ct_final")? as usize);
    let mut got_ict = vec![];
    let mut got_ct = vec![];
    let mut got_ema = vec![];
    for &k in &steps {
        got_ict.push(
            ict.num_levels(k as usize, total)
                .map_err(|e| e.to_string())? as f64,
        );
        let m = ct_num_levels(k as usize, total, c0, c1).map_err(|e| e.to_string())?;
        got_ct.push(m as f64);
        got_ema.push(ct_ema_decay(m, 0.95, c0).map_err(|e| e.to_string())?);
    }
    ck.all(
        "ict_levels",
        &got_ict,
        &flat(get(case, "ict_levels")?)?,
        EXACT,
    );
    ck.all("ct_levels", &got_ct, &flat(get(case, "ct_levels")?)?, EXACT);
    ck.all("ct_ema", &got_ema, &flat(get(case, "ct_ema")?)?, F64_TOL);
    // The σ's of `levels` (the reference takes the count directly).
    let levels = n("levels")? as usize;
    let want_sig = flat(get(case, "sigmas")?)?;
    let step = (0..=total)
        .find(|&k| ict.num_levels(k, total).ok() == Some(levels))
        .ok_or("no training step gives the case's level count")?;
    let sig = ict.levels(step, total).map_err(|e| e.to_string())?;
    ck.all("sigmas", &sig, &want_sig, F64_TOL);
    ck.all(
        "weights",
        &ict.pair_weights(&sig),
        &flat(get(case, "weights")?)?,
        F64_TOL,
    );
    // The pair distribution against the reference sampler's tallies: every index within 5
    // binomial standard deviations, and a χ² over the bins no larger than its mean + 6 sd.
    let counts = flat(get(case, "pair_counts")?)?;
    let draws = n("draws")?;
    let prob = ict.pair_probabilities(&sig);
    ck.all(
        "pair count",
        &[prob.len() as f64],
        &[counts.len() as f64],
        EXACT,
    );
    let mut chi2 = 0.0f64;
    let mut used = 0.0f64;
    for (i, (&pi, &c)) in prob.iter().zip(&counts).enumerate() {
        let mean = draws * pi;
        let sd = (draws * pi * (1.0 - pi)).sqrt().max(1.0);
        if (c - mean).abs() > 5.0 * sd {
            ck.errors
                .push(format!("pair {i}: {c} draws, expected {mean:.1} ± {sd:.1}"));
        }
        if mean >= 5.0 {
            chi2 += (c - mean).powi(2) / mean;
            used += 1.0;
        }
    }
    let dof = used - 1.0;
    if chi2 > dof + 6.0 * (2.0 * dof).sqrt() {
        ck.errors
            .push(format!("χ² = {chi2:.1} over {dof} degrees of freedom"));
    }
    ck.values += counts.len();
    // gdf's own draws follow the same distribution.
    let pairs = ict
        .draw_pairs(&sig, 5, 0, 200_000)
        .map_err(|e| e.to_string())?;
    let mut mine = vec![0.0f64; prob.len()];
    for i in pairs {
        mine[i] += 1.0;
    }
    for (i, (&pi, &c)) in prob.iter().zip(&mine).enumerate() {
        let (mean, sd) = (2e5 * pi, (2e5 * pi * (1.0 - pi)).sqrt().max(1.0));
        if (c - mean).abs() > 5.0 * sd {
            ck.errors.push(format!(
                "gdf's pair {i}: {c} draws, expected {mean:.1} ± {sd:.1}"
            ));
        }
    }
    Ok(())
}

#[test]
fn golden_consistency_training() {
    let g = golden();
    assert_eq!(g["source"]["repo"], "Kinyugo/consistency_models");
    let cases = get(&g, "cases").unwrap().as_array().unwrap();
    check_cases(cases, 8, 4 * 20, run_case);
}

#[test]
fn pseudo_huber_is_the_papers_distance_per_sample() {
    // d(x, y) = √(‖x − y‖² + c²) − c, c = 0.00054·√d: ≈ ‖x − y‖ far away, ≈ ‖x − y‖²/(2c) near.
    let d = 3 * 64 * 64;
    let c = 0.00054 * (d as f64).sqrt();
    let x: Vec<f64> = (0..2 * d).map(|i| (i % 7) as f64 * 0.1).collect();
    let mut y = x.clone();
    y[0] += 3.0; // sample 0: one element off by 3
    for v in &mut y[d..] {
        *v += 1e-5; // sample 1: every element off by 1e-5
    }
    let h = pseudo_huber(&x, &y, 2).unwrap();
    assert!((h[0] - ((9.0 + c * c).sqrt() - c)).abs() < 1e-12);
    let s1 = d as f64 * 1e-10;
    assert!((h[1] - ((s1 + c * c).sqrt() - c)).abs() < 1e-15);
    assert!((h[1] - s1 / (2.0 * c)).abs() < 1e-3 * h[1]);
    assert!(pseudo_huber(&x, &y[..3], 2).is_err());
    assert!(pseudo_huber(&x[..5], &y[..5], 2).is_err());
}

#[test]
fn pair_draws_depend_only_on_the_sample() {
    let ict = ImprovedCt::new();
    let sig = ict.levels(123_456, 400_000).unwrap();
    let whole = ict.draw_pairs(&sig, 9, 0, 16).unwrap();
    let tail = ict.draw_pairs(&sig, 9, 10, 6).unwrap();
    assert_eq!(whole[10..], tail[..]);
    assert!(whole.iter().all(|&i| i + 1 < sig.len()));
    // The frame's level of a σ: −2·ln(σ/σ_d).
    assert_eq!(ict.logsnr(0.5), 0.0);
    assert!((ict.logsnr(80.0) + 2.0 * 160f64.ln()).abs() < 1e-12);
}

#[test]
fn settings_are_checked_by_name() {
    let bad = |ict: ImprovedCt, what: &str| {
        let e = ict.levels(0, 1000).unwrap_err().to_string();
        assert!(e.contains(what), "{e}");
    };
    bad(
        ImprovedCt {
            sigma_min: 0.0,
            ..ImprovedCt::new()
        },
        "sigma",
    );
    bad(
        ImprovedCt {
            rho: -1.0,
            ..ImprovedCt::new()
        },
        "rho",
    );
    bad(
        ImprovedCt {
            initial_levels: 2000,
            ..ImprovedCt::new()
        },
        "initial_levels",
    );
    bad(
        ImprovedCt {
            p_mean: f64::NAN,
            ..ImprovedCt::new()
        },
        "p_mean",
    );
    let e = ImprovedCt::new().levels(0, 3).unwrap_err().to_string();
    assert!(e.contains("total training steps"), "{e}");
    assert!(ImprovedCt::new().draw_pairs(&[1.0, 0.5], 0, 0, 1).is_err());
    assert!(ct_num_levels(0, 0, 2, 150).is_err());
    assert!(ct_ema_decay(10, 1.5, 2).is_err());
}

/// The pair inputs are gdf's frame over `x0/σ_d` at their levels: the VP sample the
/// `Consistency` target converts, and an exact model's output recovers `x0/σ_d` from both.
#[test]
fn pair_inputs_are_the_consistency_frame() {
    use gdf::prelude::*;
    let ict = ImprovedCt::new();
    let sig = ict.levels(300_000, 400_000).unwrap();
    let x0 = [0.8f64, -1.2, 0.1, 2.0, -0.4, 0.3];
    let eps = [0.3f64, -0.7, 1.1, -0.2, 0.5, 2.2];
    let pairs = ict.draw_pairs(&sig, 3, 0, 3).unwrap();
    let p = ict.pair_inputs(&x0, &eps, 3, &pairs, &sig).unwrap();
    let cm = target::Consistency::<gdf::konst::Dec<typenum::P4, typenum::N3>>::new();
    for (b, &pair) in pairs.iter().enumerate() {
        for (x, lam) in [
            (&p.student, p.student_logsnr[b]),
            (&p.teacher, p.teacher_logsnr[b]),
        ] {
            let (a, bb) = scaler::Vp.ab(lam);
            for k in 0..2 {
                let j = 2 * b + k;
                let want = a * x0[j] / 0.5 + bb * eps[j];
                assert!((x[j] - want).abs() < 1e-12, "{b} {k}: {} vs {want}", x[j]);
                let f = cm.target(x0[j] / 0.5, eps[j], a, bb);
                assert!((cm.x0(x[j], f, a, bb) - x0[j] / 0.5).abs() < 1e-9);
            }
        }
        assert_eq!(p.weight[b], ict.pair_weights(&sig)[pair]);
    }
    assert!(ict.pair_inputs(&x0, &eps, 3, &[0, 1], &sig).is_err());
    assert!(ict
        .pair_inputs(&x0, &eps, 3, &[0, 1, sig.len() - 1], &sig)
        .is_err());
}

gdf::gdf!(CtFrame = schedule: EdmSample(sigma_range = [0.004, 160.0]), scaler: Vp,
    target: Consistency(sigma_min = 0.004), noise_cond: Edm, loss_weight: Constant);

/// `ImprovedCt::batch` is the recipe's pieces composed, and its x0 coefficients are the
/// consistency models' parameterisation written out (Song et al. 2023, appendix C):
/// `D = c_skip·x + c_out·F` with `c_skip = σ_d²/((σ − σ_min)² + σ_d²)`,
/// `c_out = (σ − σ_min)·σ_d/√(σ² + σ_d²)`, `x` in data units, `x0/σ_d = D/σ_d`.
#[test]
fn batch_composes_the_recipe_in_the_frame() {
    use gdf::consistency::CtStep;
    use gdf::noise::{normal, Purpose};
    use gdf::prelude::*;
    let (g, ict) = (CtFrame::default(), ImprovedCt::new());
    let (sd, smin) = (ict.sigma_data, ict.sigma_min);
    let x0: Vec<f64> = (0..12).map(|i| 0.37 * i as f64 - 1.9).collect();
    let at = CtStep {
        step: 70_000,
        total: 100_000,
        seed: 11,
        first_sample: 5,
    };
    let b = ict.batch(&g, &x0, 4, at).unwrap();
    let sig = ict.levels(70_000, 100_000).unwrap();
    assert_eq!(b.levels, sig.len());
    assert_eq!(b.pairs, ict.draw_pairs(&sig, 11, 5, 4).unwrap());
    let z: Vec<f64> = (0..12)
        .map(|j| {
            f64::from(normal(
                11,
                Purpose::Epsilon,
                5 + (j / 3) as u32,
                0,
                (j % 3) as u64,
            ))
        })
        .collect();
    assert_eq!(
        b.inputs,
        ict.pair_inputs(&x0, &z, 4, &b.pairs, &sig).unwrap()
    );
    for (s, &i) in b.pairs.iter().enumerate() {
        for (sigma, lam, cond, c) in [
            (
                sig[i + 1],
                b.inputs.student_logsnr[s],
                b.student_cond[s],
                b.student_x0[s],
            ),
            (
                sig[i],
                b.inputs.teacher_logsnr[s],
                b.teacher_cond[s],
                b.teacher_x0[s],
            ),
        ] {
            assert_eq!(cond, g.noise_cond().noise_cond(lam));
            let r = (sigma * sigma + sd * sd).sqrt();
            let c_skip = sd * sd / ((sigma - smin).powi(2) + sd * sd);
            let c_out = (sigma - smin) * sd / r;
            // x (data units) = x_frame·r, so x0/σ_d = (c_skip·r·x_frame + c_out·F)/σ_d.
            let (cx, cp) = (c_skip * r / sd, c_out / sd);
            assert!(
                (c[0] - cx).abs() <= 1e-9 * cx,
                "{sigma}: c_x {} vs {cx}",
                c[0]
            );
            assert!(
                (c[1] - cp).abs() <= 1e-9 * cp.max(1e-9),
                "{sigma}: c_p {} vs {cp}",
                c[1]
            );
        }
    }
    // A sample's draws do not depend on the batch it sits in.
    let one = ict
        .batch(
            &g,
            &x0[6..9],
            1,
            CtStep {
                first_sample: 7,
                ..at
            },
        )
        .unwrap();
    assert_eq!(one.pairs[0], b.pairs[2]);
    assert_eq!(one.inputs.student[..], b.inputs.student[6..9]);
}

/// `CtBatch::loss`: zero for a model that knows the clean sample, and for a student output
/// off by `δ` per element the pair's weight times the pseudo-Huber of `c_out·δ` (data units).
#[test]
fn batch_loss_is_the_weighted_distance_of_the_outputs() {
    use gdf::consistency::CtStep;
    let (g, ict) = (CtFrame::default(), ImprovedCt::new());
    let x0: Vec<f64> = (0..8).map(|i| 0.41 * i as f64 - 1.3).collect();
    let at = CtStep {
        step: 10,
        total: 1000,
        seed: 3,
        first_sample: 0,
    };
    let b = ict.batch(&g, &x0, 4, at).unwrap();
    let oracle = |x: &[f64], c: &[[f64; 2]]| -> Vec<f64> {
        x.iter()
            .enumerate()
            .map(|(j, &v)| {
                let [cx, cp] = c[j / 2];
                if cp == 0.0 {
                    0.0
                } else {
                    (x0[j] / ict.sigma_data - cx * v) / cp
                }
            })
            .collect()
    };
    let s = oracle(&b.inputs.student, &b.student_x0);
    let t = oracle(&b.inputs.teacher, &b.teacher_x0);
    for l in b.loss(&s, &t).unwrap() {
        assert!(l.abs() < 1e-9, "{l}");
    }
    let delta = 0.25;
    let off: Vec<f64> = s.iter().map(|v| v + delta).collect();
    let sig = ict.levels(10, 1000).unwrap();
    let c = 0.00054 * 2f64.sqrt();
    for (k, l) in b.loss(&off, &t).unwrap().into_iter().enumerate() {
        let (lo, hi) = (sig[b.pairs[k]], sig[b.pairs[k] + 1]);
        let c_out = (hi - ict.sigma_min) * ict.sigma_data / (hi * hi + 0.25).sqrt();
        let d = c_out * delta;
        let want = ((2.0 * d * d + c * c).sqrt() - c) / (hi - lo);
        assert!((l - want).abs() <= 1e-9 * want, "{k}: {l} vs {want}");
    }
    assert!(b.loss(&off[..6], &t).is_err());
}

/// A framework that is not consistency training's frame is refused, naming what it needs.
#[test]
fn batch_refuses_a_framework_without_the_boundary() {
    use gdf::consistency::CtStep;
    gdf::gdf!(VFrame = schedule: Cosine, scaler: Vp, target: V, noise_cond: Edm, loss_weight: Constant);
    gdf::gdf!(OtherMin = schedule: Cosine, scaler: Vp, target: Consistency(sigma_min = 0.002),
        noise_cond: Edm, loss_weight: Constant);
    gdf::gdf!(LerpFrame = schedule: Cosine, scaler: Lerp, target: Consistency(sigma_min = 0.004),
        noise_cond: Edm, loss_weight: Constant);
    let ict = ImprovedCt::new();
    let at = CtStep {
        step: 0,
        total: 1000,
        seed: 0,
        first_sample: 0,
    };
    let x0 = [0.1f32, 0.2];
    let msg = |e: gdf::GdfError| e.to_string();
    let v = msg(ict.batch(&VFrame::default(), &x0, 1, at).unwrap_err());
    assert!(
        v.contains("`V`") && v.contains("Consistency(sigma_min = 0.004)"),
        "{v}"
    );
    let o = msg(ict.batch(&OtherMin::default(), &x0, 1, at).unwrap_err());
    assert!(
        o.contains("Consistency(sigma_min = 0.002)") && o.contains("0.004"),
        "{o}"
    );
    let l = msg(ict.batch(&LerpFrame::default(), &x0, 1, at).unwrap_err());
    assert!(l.contains("scaler `Lerp`") && l.contains("VP"), "{l}");
    // The same inputs through a run-time framework with the right boundary are accepted.
    let dynamic: gdf::dynamic::DynGdf =
        "schedule: Cosine, scaler: Vp, target: Consistency(sigma_min = 0.004), \
         noise_cond: Edm, loss_weight: Constant"
            .parse()
            .unwrap();
    assert!(ict.batch(&dynamic, &x0, 1, at).is_ok());
    assert!(ict.batch(&dynamic, &x0[..1], 2, at).is_err());
    let e = ict.batch(&dynamic, &[0.1, f32::NAN], 1, at).unwrap_err();
    assert!(matches!(e, gdf::GdfError::NonFinite { .. }), "{e}");
}

/// The recipe reads from a config section: missing keys take the paper's values, an unknown
/// key is refused by name.
#[test]
fn the_recipe_reads_from_a_config_section() {
    let ict: ImprovedCt =
        serde_json::from_str(r#"{"sigma_data": 1.6, "final_levels": 640}"#).unwrap();
    assert_eq!(
        ict,
        ImprovedCt {
            sigma_data: 1.6,
            final_levels: 640,
            ..ImprovedCt::new()
        }
    );
    let e = serde_json::from_str::<ImprovedCt>(r#"{"sigma_dat": 1.6}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("sigma_dat"), "{e}");
}

/// Consistency distillation's teacher step on Gaussian data `N(μ, s²)`, whose denoiser
/// `D(x; σ) = μ + s²/(s² + σ²)·(x − μ)` and probability-flow ODE
/// `x(σ) = μ + (x(σ') − μ)·√(s² + σ²)/√(s² + σ'²)` are closed forms: the teacher's input is
/// Heun's step written out here, closer to the exact ODE than Euler's; the student's input is
/// the noised data; the pairs are uniform (χ² over 40 000 draws); a teacher's NaN is refused.
#[test]
fn distillation_steps_along_the_teachers_ode() {
    use gdf::consistency::{Distillation, TeacherStep};
    use gdf::noise::{normal, Purpose};
    let g = CtFrame::default();
    let (mu, s2) = (0.4f64, 0.09f64);
    let teacher = |x: &[f64], sig: &[f64], d: &mut [f64]| -> gdf::Result<()> {
        for (j, (dv, &xv)) in d.iter_mut().zip(x).enumerate() {
            let s = sig[j / 2];
            *dv = mu + s2 / (s2 + s * s) * (xv - mu);
        }
        Ok(())
    };
    let den = |x: f64, s: f64| mu + s2 / (s2 + s * s) * (x - mu);
    let x0: Vec<f64> = (0..64)
        .map(|i| mu + 0.3 * ((i as f64) * 0.7).sin())
        .collect();
    let mut heun_cd = Distillation::new();
    heun_cd.levels = 40;
    let euler_cd = Distillation {
        step: TeacherStep::Euler,
        ..heun_cd
    };
    let hb = heun_cd.batch(&g, &x0, 32, 9, 3, teacher).unwrap();
    let eb = euler_cd.batch(&g, &x0, 32, 9, 3, teacher).unwrap();
    assert_eq!(hb.pairs, eb.pairs);
    assert_eq!(hb.inputs.student, eb.inputs.student);
    let sig = heun_cd.sigmas().unwrap();
    let r = |s: f64| (s * s + 0.25).sqrt();
    let mut much_better = 0;
    for (j, &x) in x0.iter().enumerate() {
        let b = j / 2;
        let (hi, lo) = (sig[hb.pairs[b] + 1], sig[hb.pairs[b]]);
        let z = f64::from(normal(9, Purpose::Epsilon, 3 + b as u32, 0, (j % 2) as u64));
        let xs = x + hi * z;
        assert!((hb.inputs.student[j] * r(hi) - xs).abs() < 1e-12);
        let d1 = (xs - den(xs, hi)) / hi;
        let xe = xs + (lo - hi) * d1;
        let d2 = (xe - den(xe, lo)) / lo;
        let heun = xs + (lo - hi) * 0.5 * (d1 + d2);
        let (gh, ge) = (hb.inputs.teacher[j] * r(lo), eb.inputs.teacher[j] * r(lo));
        assert!(
            (gh - heun).abs() < 1e-12 * heun.abs().max(1.0),
            "{j}: {gh} vs {heun}"
        );
        assert!(
            (ge - xe).abs() < 1e-12 * xe.abs().max(1.0),
            "{j}: {ge} vs {xe}"
        );
        let exact = mu + (xs - mu) * (s2 + lo * lo).sqrt() / (s2 + hi * hi).sqrt();
        let (eh, ee) = ((heun - exact).abs(), (xe - exact).abs());
        assert!(eh <= ee + 1e-12, "{j}: Heun {eh} vs Euler {ee}");
        if ee > 10.0 * eh {
            much_better += 1;
        }
    }
    assert!(
        much_better > 8,
        "Heun is an order above Euler: {much_better} of 64"
    );
    assert!(hb.inputs.weight.iter().all(|&w| w == 1.0));
    // Uniform pairs.
    let draws = heun_cd.draw_pairs(1, 0, 39_000).unwrap();
    let mut count = [0f64; 39];
    draws.iter().for_each(|&i| count[i] += 1.0);
    let chi2: f64 = count.iter().map(|&c| (c - 1000.0).powi(2) / 1000.0).sum();
    // 38 degrees of freedom: mean 38, sd √76 ≈ 8.7; six sd above.
    assert!(chi2 < 38.0 + 6.0 * 76f64.sqrt(), "χ² {chi2}");
    // A teacher's NaN is refused by name, and the frame is checked as for training.
    let bad = |_: &[f64], _: &[f64], d: &mut [f64]| -> gdf::Result<()> {
        d.fill(f64::NAN);
        Ok(())
    };
    let e = heun_cd
        .batch(&g, &x0, 32, 9, 3, bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("teacher output"), "{e}");
    gdf::gdf!(VFrame = schedule: Cosine, scaler: Vp, target: V, noise_cond: Edm, loss_weight: Constant);
    assert!(heun_cd
        .batch(&VFrame::default(), &x0, 32, 9, 3, teacher)
        .is_err());
    assert!(Distillation {
        levels: 1,
        ..heun_cd
    }
    .sigmas()
    .is_err());
}

/// The target network's decay: 0.95 as published, read from a config (a missing key takes it),
/// and refused by name outside `[0, 1)`.
#[test]
fn distillation_target_decay_is_checked() {
    use gdf::consistency::Distillation;
    assert_eq!(Distillation::new().target_ema, 0.95);
    let d: Distillation = serde_json::from_str(r#"{"sigma_data": 1.6}"#).unwrap();
    assert_eq!((d.target_ema, d.sigma_data), (0.95, 1.6));
    let d: Distillation = serde_json::from_str(r#"{"target_ema": 0.0}"#).unwrap();
    assert!(d.check().is_ok());
    for bad in [1.0, -0.1, f64::NAN] {
        let e = Distillation {
            target_ema: bad,
            ..Distillation::new()
        }
        .check()
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("target_ema") && e.contains("[0, 1)"),
            "{bad}: {e}"
        );
    }
}
