//! Golden parity of every component against the original implementation's numbers
//! (`schedules`, `scalers`, `targets`, `noise_conds`, `loss_weights`, `samplers`), in f64
//! with the README's tolerances and in f32 with the f32 tolerances. Every case must run: an
//! unsupported case is a failure. Reads `GDF_GOLDEN_DIR` when set.

mod common;

use common::*;
use gdf::dynamic::{CondKind, DynScaler, ScheduleKind};
use gdf::prelude::*;
use serde_json::Value;

/// The precision a pass runs in.
trait Prec {
    type F: Real;
    const TOL: Tol;
    const LABEL: &'static str;
    const IS_F32: bool;
}
struct P64;
struct P32;
impl Prec for P64 {
    type F = f64;
    const TOL: Tol = F64_TOL;
    const LABEL: &'static str = "f64";
    const IS_F32: bool = false;
}
impl Prec for P32 {
    type F = f32;
    const TOL: Tol = F32_TOL;
    const LABEL: &'static str = "f32";
    const IS_F32: bool = true;
}

fn to<P: Prec>(xs: &[f64]) -> Vec<P::F> {
    xs.iter().map(|&x| P::F::of(x)).collect()
}
fn back<F: Real>(xs: &[F]) -> Vec<f64> {
    xs.iter().map(|x| x.as_f64()).collect()
}

/// Rejects output keys a runner does not know (so nothing in a case goes unchecked).
fn known_outputs(case: &Value, keys: &[&str]) -> R<()> {
    let out = get(case, "output")?
        .as_object()
        .ok_or("output must be an object")?;
    match out.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(format!("unsupported output {k:?}")),
        None => Ok(()),
    }
}

fn limits_value(v: &Value) -> R<Option<[f64; 2]>> {
    if v.is_null() {
        Ok(None)
    } else {
        Ok(Some(pair(v)?))
    }
}

fn run_schedule<P: Prec>(case: &Value, ck: &mut Check) -> R<()> {
    let mut s =
        schedule(&serde_json::json!({"component": case["component"], "params": case["params"]}))?;
    let call = get(case, "call")?;
    let shift = call.get("shift").map(num).transpose()?.unwrap_or(1.0);
    let input = get(case, "input")?;
    let out = get(case, "output")?;
    known_outputs(
        case,
        &[
            "logSNR",
            "limits",
            "bucket_ranges",
            "bucket_probs",
            "norm_probs",
        ],
    )?;
    // Limits are computed in f64 in both passes.
    let want_limits = limits_value(get(out, "limits")?)?;
    match (s.limits(), want_limits) {
        (None, None) => ck.values += 1,
        (Some(g), Some(w)) => ck.all("limits", &g, &w, F64_TOL),
        (g, w) => return Err(format!("limits: got {g:?}, golden {w:?}")),
    }
    let degenerate_f32 = P::IS_F32
        && matches!(&s.kind, ScheduleKind::Cosine(p) | ScheduleKind::Sqrt(p) if p.clamp_range[0] <= 0.0 || p.clamp_range[1] >= 1.0);
    let tol = if s.discrete_steps.is_some() && !P::IS_F32 {
        EXACT
    } else {
        P::TOL
    };
    let how = |_| {
        if degenerate_f32 {
            Cmp::Skip
        } else {
            Cmp::Tol(tol)
        }
    };
    if let Some(t) = input.get("t") {
        let t = to::<P>(&flat(t)?);
        let mut got = vec![P::F::of(0.0); t.len()];
        s.logsnr_into(&t, P::F::of(shift), &mut got)
            .map_err(|e| e.to_string())?;
        ck.cmp("logSNR", &back(&got), &flat(get(out, "logSNR")?)?, how);
    } else if let Some(steps) = input.get("t_steps") {
        let steps: Vec<i64> = flat(steps)?.iter().map(|&x| x as i64).collect();
        let mut got = vec![P::F::of(0.0); steps.len()];
        s.logsnr_steps_into(&steps, P::F::of(shift), &mut got)
            .map_err(|e| e.to_string())?;
        ck.cmp("logSNR", &back(&got), &flat(get(out, "logSNR")?)?, how);
    } else if let Some(Value::Array(updates)) = input.get("updates") {
        for u in updates {
            let beta = u.get("beta").map(num).transpose()?.unwrap_or(0.99);
            s.update(&flat(get(u, "logSNR")?)?, &flat(get(u, "loss")?)?, beta)
                .map_err(|e| e.to_string())?;
        }
        let ranges: Vec<f64> = s.bucket_ranges().ok_or("no buckets")?.concat();
        ck.all(
            "bucket_ranges",
            &ranges,
            &flat(get(out, "bucket_ranges")?)?,
            F64_TOL,
        );
        ck.all(
            "bucket_probs",
            s.bucket_probs().ok_or("no buckets")?,
            &flat(get(out, "bucket_probs")?)?,
            F64_TOL,
        );
        ck.all(
            "norm_probs",
            &s.norm_probs().ok_or("no buckets")?,
            &flat(get(out, "norm_probs")?)?,
            F64_TOL,
        );
    } else {
        return Err("input has none of t, t_steps, updates".into());
    }
    Ok(())
}

/// Applies `setup_limits` calls in order to a runtime scaler.
fn stretch(mut sc: DynScaler, setup: Option<&Value>) -> R<DynScaler> {
    if let Some(setup) = setup {
        let sched = schedule(get(setup, "schedule")?)?;
        for (mx, mn, shift) in setup_calls(setup.get("calls"))? {
            sc = sc
                .stretched(&sched, mx, mn, shift)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(sc)
}

/// Tolerance of a scaler-derived value at logSNR `l` (README's stable-form exceptions).
fn scaler_cmp<P: Prec>(sc: &DynScaler, l: f64, what: char, ours_at_inf: f64) -> Cmp {
    let lerp = matches!(base(sc), DynScaler::Lerp);
    if lerp {
        if l == f64::INFINITY {
            return Cmp::Diverge(ours_at_inf);
        }
        if P::IS_F32 && l.abs() <= 1e-3 {
            return Cmp::Skip;
        }
        // A stretch scales an absolute deviation of `a` or `b` by 1/(max − min).
        let scale = match sc.stretched_limits() {
            Some([a0, a1, b0, b1]) => 1.0 / (a1 - a0).min(b1 - b0),
            None => 1.0,
        };
        if l == 0.0 {
            // The original's a(0) is off by 1.25e-4.
            return Cmp::Tol(Tol {
                rtol: P::TOL.rtol,
                atol: 1.3e-4 * scale,
            });
        }
        if l <= LERP_FAR && !P::IS_F32 {
            // The original's `a` collapses to 0 (the true value is below 5e-9).
            return Cmp::Tol(Tol {
                rtol: P::TOL.rtol,
                atol: LERP_FAR_ATOL * scale,
            });
        }
    } else if what == 'b' && l >= 30.0 && !P::IS_F32 {
        return Cmp::Tol(Tol {
            rtol: P::TOL.rtol,
            atol: 2e-8,
        });
    }
    Cmp::Tol(P::TOL)
}

fn base(sc: &DynScaler) -> &DynScaler {
    match sc {
        DynScaler::Stretched(s) => base(&s.inner),
        other => other,
    }
}

fn run_scaler<P: Prec>(case: &Value, ck: &mut Check) -> R<()> {
    let sc =
        scaler(&serde_json::json!({"component": case["component"], "params": case["params"]}))?;
    let sc = stretch(sc, get(case, "call")?.get("setup_limits"))?;
    known_outputs(case, &["a", "b", "stretched_limits"])?;
    let out = get(case, "output")?;
    let l = flat(get(get(case, "input")?, "logSNR")?)?;
    let (a, b): (Vec<f64>, Vec<f64>) = l
        .iter()
        .map(|&l| {
            let (a, b) = sc.ab(P::F::of(l));
            (a.as_f64(), b.as_f64())
        })
        .unzip();
    let (a_inf, b_inf) = sc.ab(P::F::of(f64::INFINITY));
    let (a_inf, b_inf) = (a_inf.as_f64(), b_inf.as_f64());
    ck.cmp("a", &a, &flat(get(out, "a")?)?, |i| {
        scaler_cmp::<P>(&sc, l[i], 'a', a_inf)
    });
    ck.cmp("b", &b, &flat(get(out, "b")?)?, |i| {
        scaler_cmp::<P>(&sc, l[i], 'b', b_inf)
    });
    if let Some(w) = out.get("stretched_limits") {
        let got = sc.stretched_limits().ok_or("no stretch applied")?;
        ck.all("stretched_limits", &got, &flat(w)?, F64_TOL);
    }
    Ok(())
}

fn run_target<P: Prec>(case: &Value, ck: &mut Check) -> R<()> {
    let t = target(&serde_json::json!({"component": case["component"], "params": case["params"]}))?;
    known_outputs(
        case,
        &[
            "noised",
            "target",
            "x0",
            "epsilon",
            "x0_roundtrip",
            "epsilon_roundtrip",
        ],
    )?;
    let input = get(case, "input")?;
    let out = get(case, "output")?;
    let x0 = flat(get(input, "x0")?)?;
    let eps = flat(get(input, "epsilon")?)?;
    let pred = flat(get(input, "pred")?)?;
    let a = flat(get(input, "a")?)?;
    let b = flat(get(input, "b")?)?;
    if x0.len() % a.len() != 0
        || eps.len() != x0.len()
        || pred.len() != x0.len()
        || b.len() != a.len()
    {
        return Err("inconsistent shapes".into());
    }
    let per = x0.len() / a.len();
    let f = P::F::of;
    let mut outs: [Vec<f64>; 6] = Default::default();
    for i in 0..x0.len() {
        let (a, b) = (f(a[i / per]), f(b[i / per]));
        let x = f(x0[i]) * a + f(eps[i]) * b;
        let tg = t.target(f(x0[i]), f(eps[i]), a, b);
        let vals = [
            x,
            tg,
            t.x0(x, f(pred[i]), a, b),
            t.eps(x, f(pred[i]), a, b),
            t.x0(x, tg, a, b),
            t.eps(x, tg, a, b),
        ];
        for (o, v) in outs.iter_mut().zip(vals) {
            o.push(v.as_f64());
        }
    }
    for (name, got) in [
        "noised",
        "target",
        "x0",
        "epsilon",
        "x0_roundtrip",
        "epsilon_roundtrip",
    ]
    .iter()
    .zip(&outs)
    {
        ck.all(name, got, &flat(get(out, name)?)?, P::TOL);
    }
    Ok(())
}

fn run_noise_cond<P: Prec>(case: &Value, ck: &mut Check) -> R<()> {
    let c =
        noise_cond(&serde_json::json!({"component": case["component"], "params": case["params"]}))?;
    if get(case, "call")?
        .as_object()
        .is_some_and(|m| !m.is_empty())
    {
        return Err("unsupported call kwargs".into());
    }
    known_outputs(case, &["noise_cond"])?;
    let l = flat(get(get(case, "input")?, "logSNR")?)?;
    let mut got = vec![P::F::of(0.0); l.len()];
    c.noise_cond_into(&to::<P>(&l), &mut got)
        .map_err(|e| e.to_string())?;
    let want = flat(get(get(case, "output")?, "noise_cond")?)?;
    let discrete = matches!(c.kind, CondKind::Discrete { .. });
    let rf = matches!(c.kind, CondKind::RectifiedFlows);
    let at_inf = c.noise_cond(P::F::of(f64::INFINITY)).as_f64();
    ck.cmp("noise_cond", &back(&got), &want, |i| {
        if discrete {
            // Exact in f64; in f32 a value at a truncation boundary may fall one step lower.
            return Cmp::Tol(if P::IS_F32 {
                Tol {
                    rtol: 0.0,
                    atol: 1.0,
                }
            } else {
                EXACT
            });
        }
        if rf {
            if l[i] == f64::INFINITY {
                return Cmp::Diverge(at_inf);
            }
            if P::IS_F32 && l[i].abs() <= 1e-3 {
                return Cmp::Skip;
            }
            // The stable form differs where the shifted input `l + 2 ln(shift)` is 0.
            if rf_shifted_zero(l[i], c.shift) {
                return Cmp::Tol(Tol {
                    rtol: P::TOL.rtol,
                    atol: 1.3e-4,
                });
            }
            if l[i] <= LERP_FAR && !P::IS_F32 {
                return Cmp::Tol(Tol {
                    rtol: P::TOL.rtol,
                    atol: LERP_FAR_ATOL,
                });
            }
        }
        Cmp::Tol(P::TOL)
    });
    Ok(())
}

fn run_loss_weight<P: Prec>(case: &Value, ck: &mut Check) -> R<()> {
    let mut w = loss_weight(
        &serde_json::json!({"component": case["component"], "params": case["params"]}),
    )?;
    let mut call = Params::new(get(case, "call")?, "call")?;
    let shift = call.f("shift", 1.0)?;
    if let Some(r) = call.take("clamp_range") {
        w.clamp_range = pair(&r)?;
    }
    call.done()?;
    known_outputs(case, &["weight", "bucket_ranges", "bucket_losses"])?;
    let input = get(case, "input")?;
    let out = get(case, "output")?;
    if let Some(Value::Array(updates)) = input.get("updates") {
        for u in updates {
            let beta = u.get("beta").map(num).transpose()?.unwrap_or(0.99);
            w.update(&flat(get(u, "logSNR")?)?, &flat(get(u, "loss")?)?, beta)
                .map_err(|e| e.to_string())?;
        }
    }
    if let Some(r) = out.get("bucket_ranges") {
        let (edges, losses) = w.buckets().ok_or("not an adaptive loss weight")?;
        ck.all("bucket_ranges", edges, &flat(r)?, F64_TOL);
        ck.all(
            "bucket_losses",
            losses,
            &flat(get(out, "bucket_losses")?)?,
            F64_TOL,
        );
    }
    let l = flat(get(input, "logSNR")?)?;
    let mut got = vec![P::F::of(0.0); l.len()];
    w.loss_weight_into(&to::<P>(&l), P::F::of(shift), &mut got)
        .map_err(|e| e.to_string())?;
    ck.all("weight", &back(&got), &flat(get(out, "weight")?)?, P::TOL);
    Ok(())
}

fn run_sampler<P: Prec>(case: &Value, ck: &mut Check) -> R<()> {
    let name = get(case, "component")?.as_str().ok_or("bad component")?;
    let smp = sampler_eta(name, get(case, "call")?)?;
    let mut params = Params::new(get(case, "params")?, name)?;
    let g = gdf_spec(&params.take("gdf").ok_or("sampler without gdf")?)?;
    params.done()?;
    let mut sc = g.scaler.clone();
    for (mx, mn, shift) in &g.setup_limits {
        sc = sc
            .stretched(&g.schedule, *mx, *mn, *shift)
            .map_err(|e| e.to_string())?;
    }
    known_outputs(case, &["x"])?;
    let input = get(case, "input")?;
    let x0 = flat(get(input, "x0")?)?;
    let eps = flat(get(input, "epsilon")?)?;
    let l = flat(get(input, "logSNR")?)?;
    let lp = flat(get(input, "logSNR_prev")?)?;
    let noise = match input.get("noise") {
        Some(n) => flat(n)?,
        None => vec![0.0; x0.len()],
    };
    let _x = flat(get(input, "x")?)?; // read: the step does not depend on x.
    if x0.len() % l.len() != 0
        || eps.len() != x0.len()
        || noise.len() != x0.len()
        || lp.len() != l.len()
    {
        return Err("inconsistent shapes".into());
    }
    let per = x0.len() / l.len();
    let f = P::F::of;
    let mut got = Vec::with_capacity(x0.len());
    for i in 0..x0.len() {
        let (a, b) = sc.ab(f(l[i / per]));
        let (ap, bp) = sc.ab(f(lp[i / per]));
        let c = smp.coefficients(a, b, ap, bp);
        got.push(smp.apply(c, f(x0[i]), f(eps[i]), f(noise[i])).as_f64());
    }
    let lerp = matches!(base(&sc), DynScaler::Lerp);
    ck.cmp("x", &got, &flat(get(get(case, "output")?, "x")?)?, |i| {
        let s = i / per;
        if lerp && (l[s] == 0.0 || lp[s] == 0.0) {
            if P::IS_F32 {
                return Cmp::Skip;
            }
            // a(0) differs by 1.25e-4 in the original; the step's coefficients (DDPM's
            // √(b'² − σ²) among them) move it up to about 5× as much, scaled by |x0|, |ε|
            // (≤ ~5 here).
            return Cmp::Tol(Tol {
                rtol: P::TOL.rtol,
                atol: 1.3e-4 * 64.0,
            });
        }
        if lerp && (l[s] <= LERP_FAR || lp[s] <= LERP_FAR) && !P::IS_F32 {
            // The LERP rule, scaled by |x0|, |ε| (≤ ~5 here).
            return Cmp::Tol(Tol {
                rtol: P::TOL.rtol,
                atol: LERP_FAR_ATOL * 8.0,
            });
        }
        Cmp::Tol(P::TOL)
    });
    Ok(())
}

fn all_files<P: Prec>() {
    let mut failures = Vec::new();
    failures.extend(run_file("schedules.json", P::LABEL, run_schedule::<P>));
    failures.extend(run_file("scalers.json", P::LABEL, run_scaler::<P>));
    failures.extend(run_file("targets.json", P::LABEL, run_target::<P>));
    failures.extend(run_file("noise_conds.json", P::LABEL, run_noise_cond::<P>));
    failures.extend(run_file(
        "loss_weights.json",
        P::LABEL,
        run_loss_weight::<P>,
    ));
    failures.extend(run_file("samplers.json", P::LABEL, run_sampler::<P>));
    finish(failures);
}

#[test]
fn golden_components_f64() {
    all_files::<P64>();
}

#[test]
fn golden_components_f32() {
    all_files::<P32>();
}
