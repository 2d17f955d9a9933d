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
