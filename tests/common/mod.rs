//! Shared golden-data plumbing: loading the JSON files, building runtime components from
//! their specs, and comparing numbers with the README's tolerances.
#![allow(dead_code)]

#[cfg(any(feature = "wgpu", feature = "cuda", feature = "hip"))]
pub mod device;
pub mod pipeline;
pub mod solvers;

use std::path::PathBuf;

use gdf::dynamic::*;
use gdf::framework::{DiffuseArgs, DiffuseOut, Gdf};
use gdf::konst::Param;
use gdf::prelude::*;
use gdf::schedule::{Table, VarParams};
use serde_json::{Map, Value};

/// The golden folder: `GDF_GOLDEN_DIR` when set, else `../shared/golden`.
pub fn golden_dir() -> PathBuf {
    match std::env::var_os("GDF_GOLDEN_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/golden"),
    }
}

/// All cases of one golden file. Panics (test failure) when it is missing or malformed.
pub fn load(file: &str) -> Vec<Value> {
    load_path(&golden_dir().join(file))
}

/// All cases of the golden file at `path` (see [`load`]).
pub fn load_path(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read golden file {}: {e}", path.display()));
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(v)) => v,
        other => panic!(
            "{}: expected a JSON array of cases, got {other:?}",
            path.display()
        ),
    }
}

pub type R<T> = Result<T, String>;

/// A number: JSON number or "nan" / "inf" / "-inf".
pub fn num(v: &Value) -> R<f64> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("bad number {n}")),
        Value::String(s) => match s.as_str() {
            "nan" => Ok(f64::NAN),
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            _ => Err(format!("bad number string {s:?}")),
        },
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        _ => Err(format!("expected a number, got {v}")),
    }
}

/// An array: a flat list, or `{"shape", "data"}`. Returns (shape, data).
pub fn arr(v: &Value) -> R<(Vec<usize>, Vec<f64>)> {
    match v {
        Value::Array(xs) => Ok((vec![xs.len()], xs.iter().map(num).collect::<R<_>>()?)),
        Value::Object(m) => {
            let shape = m
                .get("shape")
                .and_then(Value::as_array)
                .ok_or("array object without shape")?
                .iter()
                .map(|s| s.as_u64().map(|x| x as usize).ok_or("bad shape"))
                .collect::<Result<Vec<_>, _>>()?;
            let data = m
                .get("data")
                .and_then(Value::as_array)
                .ok_or("array object without data")?;
            Ok((shape, data.iter().map(num).collect::<R<_>>()?))
        }
        _ => Err(format!("expected an array, got {v}")),
    }
}

pub fn flat(v: &Value) -> R<Vec<f64>> {
    Ok(arr(v)?.1)
}

pub fn get<'a>(m: &'a Value, key: &str) -> R<&'a Value> {
    m.get(key).ok_or_else(|| format!("missing key {key:?}"))
}

pub fn pair(v: &Value) -> R<[f64; 2]> {
    let xs = flat(v)?;
    match xs[..] {
        [a, b] => Ok([a, b]),
        _ => Err(format!("expected a pair, got {v}")),
    }
}

/// Reads constructor params, rejecting any key not consumed (an unsupported case fails).
pub struct Params<'a> {
    m: Map<String, Value>,
    what: &'a str,
}

impl<'a> Params<'a> {
    pub fn new(v: &Value, what: &'a str) -> R<Self> {
        match v {
            Value::Object(m) => Ok(Self { m: m.clone(), what }),
            Value::Null => Ok(Self {
                m: Map::new(),
                what,
            }),
            _ => Err(format!("{what}: params must be an object")),
        }
    }
    pub fn take(&mut self, k: &str) -> Option<Value> {
        self.m.remove(k).filter(|v| !v.is_null())
    }
    pub fn f(&mut self, k: &str, default: f64) -> R<f64> {
        self.take(k).map(|v| num(&v)).unwrap_or(Ok(default))
    }
    pub fn u(&mut self, k: &str, default: u64) -> R<u64> {
        match self.take(k) {
            None => Ok(default),
            Some(v) => {
                let x = num(&v)?;
                if x >= 0.0 && x.fract() == 0.0 {
                    Ok(x as u64)
                } else {
                    Err(format!(
                        "{}: {k} must be a non-negative integer, got {v}",
                        self.what
                    ))
                }
            }
        }
    }
    pub fn b(&mut self, k: &str, default: bool) -> R<bool> {
        match self.take(k) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(b),
            Some(v) => Err(format!("{}: {k} must be a bool, got {v}", self.what)),
        }
    }
    pub fn range(&mut self, k: &str, default: [f64; 2]) -> R<[f64; 2]> {
        self.take(k).map(|v| pair(&v)).unwrap_or(Ok(default))
    }
    pub fn done(self) -> R<()> {
        if self.m.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{}: unsupported params {:?}",
                self.what,
                self.m.keys().collect::<Vec<_>>()
            ))
        }
    }
}

fn spec_parts(spec: &Value) -> R<(&str, &Value)> {
    let name = get(spec, "component")?
        .as_str()
        .ok_or("component must be a string")?;
    Ok((name, spec.get("params").unwrap_or(&Value::Null)))
}

pub fn schedule(spec: &Value) -> R<DynSchedule> {
    let (name, params) = spec_parts(spec)?;
    let mut p = Params::new(params, name)?;
    let var = |p: &mut Params, s: f64| -> R<VarParams> {
        Ok(VarParams {
            s: p.f("s", s)?,
            clamp_range: p.range("clamp_range", [1e-4, 0.9999])?,
            norm_instead: p.b("norm_instead", false)?,
        })
    };
    let kind = match name {
        "CosineSchedule" => ScheduleKind::Cosine(var(&mut p, 0.008)?),
        "SqrtSchedule" => ScheduleKind::Sqrt(var(&mut p, 1e-4)?),
        "CosineSchedule2" => ScheduleKind::Cosine2(p.range("logsnr_range", [-15.0, 15.0])?),
        "RectifiedFlowsSchedule" => {
            ScheduleKind::RectifiedFlows(p.range("logsnr_range", [-15.0, 15.0])?)
        }
        "LinearSchedule" => ScheduleKind::Linear(p.range("logsnr_range", [-10.0, 10.0])?),
        "EDMSampleSchedule" => ScheduleKind::EdmSample {
            sigma_range: p.range("sigma_range", [0.002, 80.0])?,
            p: p.f("p", 7.0)?,
        },
        "EDMTrainSchedule" => ScheduleKind::EdmTrain {
            mu: p.f("mu", -1.2)?,
            std: p.f("std", 1.2)?,
        },
        "PiecewiseLinearSchedule" => {
            let xs = p
                .take("xs")
                .map(|v| flat(&v))
                .ok_or("PiecewiseLinear needs xs")??;
            let ys = p
                .take("ys")
                .map(|v| flat(&v))
                .ok_or("PiecewiseLinear needs ys")??;
            ScheduleKind::PiecewiseLinear(Table::new(xs, ys).map_err(|e| e.to_string())?)
        }
        "StableDiffusionSchedule" => {
            let r = p.range("linear_range", [0.00085, 0.012])?;
            let n = p.u("total_steps", 1000)?;
            DynSchedule::stable_diffusion(r, n)
                .map_err(|e| e.to_string())?
                .kind
        }
        "AdaptiveTrainSchedule" => {
            let r = p.range("logsnr_range", [-10.0, 10.0])?;
            let b = p.u("buckets", 100)? as usize;
            let m = p.f("min_probs", 0.0)?;
            DynSchedule::adaptive_train(r, b, m)
                .map_err(|e| e.to_string())?
                .kind
        }
        "InterpolatedSchedule" => {
            let s1 = schedule(
                &p.take("scheduler1")
                    .ok_or("Interpolated needs scheduler1")?,
            )?;
            let s2 = schedule(
                &p.take("scheduler2")
                    .ok_or("Interpolated needs scheduler2")?,
            )?;
            let k = p.range("shifts", [1.0, 1.0])?;
            ScheduleKind::Interpolated(Box::new(s1), Box::new(s2), k)
        }
        other => return Err(format!("unknown schedule {other}")),
    };
    let mut s = DynSchedule::new(kind);
    s.shift = p.f("shift", 1.0)?;
    s.force_limits = p.b("force_limits", true)?;
    s.discrete_steps = match p.take("discrete_steps") {
        None => None,
        Some(v) => Some(num(&v)? as u64),
    };
    p.done()?;
    Ok(s)
}

pub fn scaler(spec: &Value) -> R<DynScaler> {
    let (name, params) = spec_parts(spec)?;
    Params::new(params, name)?.done()?;
    match name {
        "VPScaler" => Ok(DynScaler::Vp),
        "LERPScaler" => Ok(DynScaler::Lerp),
        other => Err(format!("unknown scaler {other}")),
    }
}

pub fn target(spec: &Value) -> R<DynTarget> {
    let (name, params) = spec_parts(spec)?;
    Params::new(params, name)?.done()?;
    match name {
        "EpsilonTarget" => Ok(DynTarget::Epsilon),
        "X0Target" => Ok(DynTarget::X0),
        "VTarget" => Ok(DynTarget::V),
        "RectifiedFlowsTarget" => Ok(DynTarget::RectifiedFlows),
        other => Err(format!("unknown target {other}")),
    }
}

pub fn noise_cond(spec: &Value) -> R<DynNoiseCond> {
    let (name, params) = spec_parts(spec)?;
    let mut p = Params::new(params, name)?;
    let kind = match name {
        "CosineTNoiseCond" => CondKind::CosineT(p.f("s", 0.008)?),
        "EDMNoiseCond" => CondKind::Edm,
        "SigmoidNoiseCond" => CondKind::Sigmoid,
        "LogSNRNoiseCond" => CondKind::LogSnr,
        "EDMSigmaNoiseCond" => CondKind::EdmSigma(p.f("sigma_data", 1.0)?),
        "RectifiedFlowsNoiseCond" => CondKind::RectifiedFlows,
        "PiecewiseLinearNoiseCond" => {
            let xs = p
                .take("xs")
                .map(|v| flat(&v))
                .ok_or("PiecewiseLinear needs xs")??;
            let ys = p
                .take("ys")
                .map(|v| flat(&v))
                .ok_or("PiecewiseLinear needs ys")??;
            CondKind::PiecewiseLinear(Table::new(xs, ys).map_err(|e| e.to_string())?)
        }
        "StableDiffusionNoiseCond" => {
            let r = p.range("linear_range", [0.00085, 0.012])?;
            let n = p.u("total_steps", 1000)?;
            DynNoiseCond::stable_diffusion(r, n)
                .map_err(|e| e.to_string())?
                .kind
        }
        "DiscreteNoiseCond" => CondKind::Discrete {
            inner: Box::new(noise_cond(
                &p.take("noise_cond").ok_or("Discrete needs noise_cond")?,
            )?),
            steps: p.u("steps", 1000)?,
            continuous_range: p.range("continuous_range", [0.0, 1.0])?,
        },
        other => return Err(format!("unknown noise cond {other}")),
    };
    let mut c = DynNoiseCond::new(kind);
    c.shift = p.f("shift", 1.0)?;
    // CosineT ignores a clamp_range kwarg in the original (its setup overwrites it).
    let range = p.take("clamp_range");
    if let (Some(r), false) = (range, matches!(c.kind, CondKind::CosineT(_))) {
        c.clamp_range = pair(&r)?;
    }
    p.done()?;
    Ok(c)
}

fn weight_list(v: Option<Value>) -> R<Vec<DynLossWeight>> {
    match v {
        None => Ok(vec![]),
        Some(Value::Array(xs)) => xs.iter().map(loss_weight).collect(),
        Some(one) => Ok(vec![loss_weight(&one)?]),
    }
}

pub fn loss_weight(spec: &Value) -> R<DynLossWeight> {
    let (name, params) = spec_parts(spec)?;
    let mut p = Params::new(params, name)?;
    let kind = match name {
        "ConstantLossWeight" => WeightKind::Constant(p.f("v", 1.0)?),
        "SNRLossWeight" => WeightKind::Snr,
        "P2LossWeight" => WeightKind::P2 {
            k: p.f("k", 1.0)?,
            gamma: p.f("gamma", 1.0)?,
            s: p.f("s", 1.0)?,
        },
        "SNRPlusOneLossWeight" => WeightKind::SnrPlusOne,
        "MinSNRLossWeight" => WeightKind::MinSnr(p.f("max_snr", 5.0)?),
        "MinSNRPlusOneLossWeight" => WeightKind::MinSnrPlusOne(p.f("max_snr", 5.0)?),
        "TruncatedSNRLossWeight" => WeightKind::TruncatedSnr(p.f("min_snr", 1.0)?),
        "SechLossWeight" => WeightKind::Sech(p.f("div", 2.0)?),
        "DebiasedLossWeight" => WeightKind::Debiased,
        "SigmoidLossWeight" => WeightKind::Sigmoid(p.f("s", 1.0)?),
        "ComposedLossWeight" => WeightKind::Composed {
            div: weight_list(p.take("div"))?,
            mul: weight_list(p.take("mul"))?,
        },
        "AdaptiveLossWeight" => {
            let r = p.range("logsnr_range", [-10.0, 10.0])?;
            let b = p.u("buckets", 300)? as usize;
            let w = p.range("weight_range", [1e-7, 1e7])?;
            DynLossWeight::adaptive(r, b, w)
                .map_err(|e| e.to_string())?
                .kind
        }
        other => return Err(format!("unknown loss weight {other}")),
    };
    p.done()?;
    Ok(DynLossWeight::new(kind))
}

pub fn sampler_eta(name: &str, call: &Value) -> R<DynSampler> {
    let eta = call.get("eta").map(num).transpose()?;
    match name {
        "DDIMSampler" => Ok(DynSampler::Ddim {
            eta: eta.unwrap_or(0.0),
        }),
        "DDPMSampler" => Ok(DynSampler::Ddim {
            eta: eta.unwrap_or(1.0),
        }),
        "LCMSampler" => Ok(DynSampler::Lcm),
        other => Err(format!("unknown sampler {other}")),
    }
}

/// A GDF spec's five parts (+ offset noise and setup_limits calls).
pub struct GdfSpec {
    pub schedule: DynSchedule,
    pub scaler: DynScaler,
    pub target: DynTarget,
    pub noise_cond: Option<DynNoiseCond>,
    pub loss_weight: Option<DynLossWeight>,
    pub offset_noise: f64,
    pub setup_limits: Vec<(bool, bool, f64)>,
}

pub fn setup_calls(v: Option<&Value>) -> R<Vec<(bool, bool, f64)>> {
    let Some(Value::Array(calls)) = v else {
        return Ok(vec![]);
    };
    calls
        .iter()
        .map(|c| {
            let mut p = Params::new(c, "setup_limits")?;
            let r = (
                p.b("stretch_max", true)?,
                p.b("stretch_min", true)?,
                p.f("shift", 1.0)?,
            );
            p.done()?;
            Ok(r)
        })
        .collect()
}

/// The declaration of a golden spec as a framework's `Display` prints it (from the runtime
/// components, whose declarations print the same syntax).
pub fn spec_decl(spec: &GdfSpec) -> R<String> {
    let nc = spec
        .noise_cond
        .as_ref()
        .ok_or("spec without a noise_cond")?;
    let lw = spec
        .loss_weight
        .as_ref()
        .ok_or("spec without a loss_weight")?;
    Ok(format!(
        "schedule: {}, scaler: {}, target: {}, noise_cond: {}, loss_weight: {}, offset_noise: {:?}",
        spec.schedule.decl(),
        spec.scaler.decl(),
        spec.target.decl(),
        nc.decl(),
        lw.decl(),
        spec.offset_noise
    ))
}

/// Whether a golden case's framework spec is the framework declared as `decl` (a typed
/// framework's `Display`; the offset strength aside, a run-time setting) followed by the
/// `setup_limits` calls `setup`.
pub fn spec_is(case: &Value, decl: &str, setup: &[(bool, bool, f64)]) -> bool {
    let strip = |d: &str| d.split(", offset_noise").next().unwrap_or("").to_string();
    let Ok(spec) = case
        .get("params")
        .ok_or("no params")
        .and_then(|p| gdf_spec(p).map_err(|_| "bad spec"))
    else {
        return false;
    };
    spec_decl(&spec).is_ok_and(|d| strip(&d) == strip(decl)) && spec.setup_limits == setup
}

pub fn gdf_spec(spec: &Value) -> R<GdfSpec> {
    let params = spec.get("params").unwrap_or(spec);
    let mut p = Params::new(params, "GDF")?;
    let g = GdfSpec {
        schedule: schedule(&p.take("schedule").ok_or("GDF needs a schedule")?)?,
        scaler: scaler(&p.take("input_scaler").ok_or("GDF needs an input_scaler")?)?,
        target: target(&p.take("target").ok_or("GDF needs a target")?)?,
        noise_cond: p.take("noise_cond").map(|v| noise_cond(&v)).transpose()?,
        loss_weight: p.take("loss_weight").map(|v| loss_weight(&v)).transpose()?,
        offset_noise: p.f("offset_noise", 0.0)?,
        setup_limits: setup_calls(p.take("setup_limits").as_ref())?,
    };
    p.done()?;
    Ok(g)
}

/// A comparison tolerance.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    pub rtol: f64,
    pub atol: f64,
}

pub const F64_TOL: Tol = Tol {
    rtol: 1e-6,
    atol: 1e-9,
};
pub const F32_TOL: Tol = Tol {
    rtol: 5e-3,
    atol: 1e-4,
};
pub const EXACT: Tol = Tol {
    rtol: 0.0,
    atol: 0.0,
};

/// `|got − want| ≤ atol + rtol·|want|`; NaN matches NaN; infinities must match exactly.
pub fn close(got: f64, want: f64, tol: Tol) -> bool {
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    if want.is_infinite() || got.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= tol.atol + tol.rtol * want.abs()
}

/// Counts compared values and collects failures for one case.
#[derive(Default)]
pub struct Check {
    pub values: usize,
    pub diverged: usize,
    pub errors: Vec<String>,
}

/// How one element is compared.
#[derive(Clone, Copy, Debug)]
pub enum Cmp {
    /// Compare within this tolerance.
    Tol(Tol),
    /// A documented divergence from the original: `got` must equal this value instead.
    Diverge(f64),
    /// Not compared in this precision (documented f32 exception).
    Skip,
}

impl Check {
    pub fn cmp(&mut self, what: &str, got: &[f64], want: &[f64], how: impl Fn(usize) -> Cmp) {
        if got.len() != want.len() {
            self.errors.push(format!(
                "{what}: length {} vs golden {}",
                got.len(),
                want.len()
            ));
            return;
        }
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            match how(i) {
                Cmp::Tol(t) => {
                    self.values += 1;
                    if !close(g, w, t) && self.errors.len() < 20 {
                        self.errors.push(format!(
                            "{what}[{i}]: got {g:e}, golden {w:e} (rtol {}, atol {})",
                            t.rtol, t.atol
                        ));
                    }
                }
                Cmp::Diverge(v) => {
                    self.diverged += 1;
                    if !close(g, v, EXACT) {
                        self.errors.push(format!(
                            "{what}[{i}]: documented divergence expects {v}, got {g}"
                        ));
                    }
                }
                Cmp::Skip => self.diverged += 1,
            }
        }
    }
    pub fn all(&mut self, what: &str, got: &[f64], want: &[f64], tol: Tol) {
        self.cmp(what, got, want, |_| Cmp::Tol(tol));
    }
}

/// Runs every case of a file through `run`, prints per-file counts and returns failures.
pub fn run_file(file: &str, label: &str, run: impl Fn(&Value, &mut Check) -> R<()>) -> Vec<String> {
    run_path(&golden_dir().join(file), label, run)
}

/// [`run_file`] for the golden file at `path`.
pub fn run_path(
    path: &std::path::Path,
    label: &str,
    run: impl Fn(&Value, &mut Check) -> R<()>,
) -> Vec<String> {
    let file = path.display();
    let cases = load_path(path);
    let mut failures = Vec::new();
    let (mut values, mut diverged) = (0, 0);
    for case in &cases {
        let id = case
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("<no id>")
            .to_string();
        let mut check = Check::default();
        match run(case, &mut check) {
            Err(e) => failures.push(format!("{id}: cannot run: {e}")),
            Ok(()) if !check.errors.is_empty() => {
                failures.push(format!("{id}:\n    {}", check.errors.join("\n    ")))
            }
            Ok(()) if check.values == 0 => failures.push(format!("{id}: compared nothing")),
            Ok(()) => {}
        }
        values += check.values;
        diverged += check.diverged;
    }
    println!(
        "[{label}] {file}: {} cases, {} failed, {values} values compared, {diverged} documented divergences/skips",
        cases.len(),
        failures.len()
    );
    failures
}

/// Runs `run` on every case (each with its own [`Check`]), reports up to `shown` errors per
/// case by its `id`, and fails when any case fails or fewer than `min_values` values were
/// compared over all of them.
pub fn check_cases(
    cases: &[Value],
    shown: usize,
    min_values: usize,
    mut run: impl FnMut(&Value, &mut Check) -> R<()>,
) {
    assert!(!cases.is_empty(), "no cases");
    let mut failures = Vec::new();
    let mut values = 0;
    for case in cases {
        let id = case.get("id").and_then(Value::as_str).unwrap_or("?");
        let mut ck = Check::default();
        if let Err(e) = run(case, &mut ck) {
            failures.push(format!("{id}: {e}"));
        }
        values += ck.values;
        for e in ck.errors.iter().take(shown) {
            failures.push(format!("{id}: {e}"));
        }
    }
    finish(failures);
    assert!(values >= min_values, "only {values} values compared");
}

pub fn finish(failures: Vec<String>) {
    if !failures.is_empty() {
        panic!(
            "{} golden case(s) failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

/// Inputs at and past the ends of `[0, 1]` that every schedule and noise cond must survive
/// (no NaN): `±0.0`, `±1e-300`, `±1e-30`, `1 ± 1e-16`, the floats next to 0 and 1, and values
/// just outside `[0, 1]`.
pub fn edge_grid() -> Vec<f64> {
    vec![
        0.0,
        -0.0,
        1e-300,
        -1e-300,
        1e-30,
        -1e-30,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        1.0,
        1.0 + 1e-16,
        1.0 - 1e-16,
        1.0 + f64::EPSILON,
        1.0 - f64::EPSILON / 2.0,
        -1e-3,
        -0.01,
        1.001,
        1.01,
    ]
}

/// The golden README's LERP rule: for logSNR `≤ −30` the original's LERP `a` rounds to 0
/// where the stable form gives the true value (below 5e-9); values built from `a` there are
/// compared with an absolute tolerance of `LERP_FAR_ATOL` (times the inputs' scale).
pub const LERP_FAR: f64 = -30.0;
/// See [`LERP_FAR`].
pub const LERP_FAR_ATOL: f64 = 2e-8;

/// How much a (stretched) Lerp scaler scales a change of the plain Lerp's `a`:
/// `|Δa'/Δa|` between logSNR ±0.5 (1 unstretched, `1/(max − min)` of the stretched limits).
pub fn lerp_stretch<Sc: Scaler>(sc: &Sc) -> f64 {
    let a = |l: f64| sc.ab(l).0;
    let plain = |l: f64| gdf::scaler::Lerp.ab(l).0;
    ((a(0.5) - a(-0.5)) / (plain(0.5) - plain(-0.5))).abs()
}

/// Whether a framework spec's noise cond is `RectifiedFlowsNoiseCond`: then a predicate on
/// logSNR telling where its shifted input `l + 2 ln(shift)` is exactly 0 (the README's
/// documented divergence of the stable form), else a predicate that is always false.
pub fn rf_cond_zero(params: &Value) -> R<impl Fn(f64) -> bool> {
    let nc = params.get("noise_cond");
    let rf = nc.and_then(|n| n.get("component")).and_then(Value::as_str)
        == Some("RectifiedFlowsNoiseCond");
    let shift = match nc
        .and_then(|n| n.get("params"))
        .and_then(|p| p.get("shift"))
    {
        Some(v) => num(v)?,
        None => 1.0,
    };
    Ok(move |l: f64| rf && rf_shifted_zero(l, shift))
}

/// Whether the RF noise cond's shifted input `l + 2 ln(shift)` (the original's shift) is
/// exactly 0, where its stable form differs (README).
pub fn rf_shifted_zero(l: f64, shift: f64) -> bool {
    l + 2.0 * shift.ln() == 0.0
}

/// One diffuse or undiffuse case. With a Lerp scaler, logSNR = 0 exactly is compared with
/// the README's documented atol (the stable form gives a = 0.5, the original 0.500125), and
/// logSNR `≤ −30` with the LERP rule ([`LERP_FAR`]).
pub fn check_diffuse_case<S, Sc, T, N, L, O>(
    g: &Gdf<S, Sc, T, N, L, O>,
    lerp: bool,
    case: &Value,
    ck: &mut Check,
) -> R<()>
where
    S: Schedule,
    Sc: Scaler,
    T: Target,
    N: NoiseCond,
    L: LossWeight,
    O: Param,
{
    let call = get(case, "call")?;
    let input = get(case, "input")?;
    let out = get(case, "output")?;
    // A stretched Lerp moves the original's a(0) difference by its stretch factor.
    let stretch = if lerp { lerp_stretch(&g.scaler) } else { 1.0 };
    // undiffuse divides by a (x0) or b (ε): the same change of a, b moves them 1/a, 1/b as much.
    let (a0, b0) = g.scaler.ab(0.0f64);
    let inv_ab = 1.0 / a0.min(b0);
    // The RF noise cond's own stable form differs where its shifted input is 0, whatever the
    // scaler (README: RectifiedFlowsNoiseCond at logSNR 0).
    let rf_zero = rf_cond_zero(get(case, "params")?)?;
    match get(call, "method")?.as_str() {
        Some("diffuse") => {
            let (shape, x0) = arr(get(input, "x0")?)?;
            let eps = flat(get(input, "epsilon")?)?;
            let t = flat(get(input, "t")?)?;
            let offset = input.get("offset").map(flat).transpose()?;
            let b = shape[0];
            let args = DiffuseArgs {
                eps: Some(&eps),
                t: Some(&t),
                offset: offset.as_deref(),
                channels: shape.get(1).copied().unwrap_or(1),
                shift: call.get("shift").map(num).transpose()?.unwrap_or(1.0),
                loss_shift: call.get("loss_shift").map(num).transpose()?.unwrap_or(1.0),
                ..Default::default()
            };
            let n = x0.len();
            let (mut noised, mut e, mut target) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
            let (mut l, mut nc, mut w) = (vec![0.0; b], vec![0.0; b], vec![0.0; b]);
            g.diffuse_into(
                &x0,
                b,
                &args,
                DiffuseOut {
                    noised: &mut noised,
                    eps: Some(&mut e),
                    target: Some(&mut target),
                    logsnr: &mut l,
                    noise_cond: &mut nc,
                    loss_weight: &mut w,
                },
            )
            .map_err(|e| e.to_string())?;
            let per = n / b;
            let scale: Vec<f64> = (0..b)
                .map(|s| {
                    1.0 + x0[s * per..(s + 1) * per]
                        .iter()
                        .chain(&eps[s * per..(s + 1) * per])
                        .fold(0.0f64, |m, v| m.max(v.abs()))
                })
                .collect();
            for (name, got) in [
                ("noised", &noised),
                ("epsilon", &e),
                ("target", &target),
                ("logSNR", &l),
                ("noise_cond", &nc),
                ("loss_weight", &w),
            ] {
                let per_item = if got.len() == b { 1 } else { per };
                ck.cmp(name, got, &flat(get(out, name)?)?, |i| {
                    let s = i / per_item;
                    if name == "noise_cond" && rf_zero(l[s]) {
                        Cmp::Tol(Tol {
                            rtol: 1e-6,
                            atol: 1.3e-4,
                        })
                    } else if lerp && l[s] == 0.0 {
                        Cmp::Tol(Tol {
                            rtol: 1e-6,
                            atol: 1.3e-4 * scale[s] * stretch,
                        })
                    } else if lerp && l[s] <= LERP_FAR {
                        Cmp::Tol(Tol {
                            rtol: 1e-6,
                            atol: LERP_FAR_ATOL * scale[s],
                        })
                    } else {
                        Cmp::Tol(F64_TOL)
                    }
                });
            }
        }
        Some("undiffuse") => {
            let x = flat(get(input, "x")?)?;
            let l = flat(get(input, "logSNR")?)?;
            let pred = flat(get(input, "pred")?)?;
            let (mut x0, mut e) = (vec![0.0; x.len()], vec![0.0; x.len()]);
            g.undiffuse_into(&x, &l, &pred, Some(&mut x0), Some(&mut e))
                .map_err(|e| e.to_string())?;
            let per = x.len() / l.len();
            let tol = |i: usize| {
                let s = i / per;
                if lerp && (l[s] == 0.0 || l[s] <= LERP_FAR) {
                    let m = pred[s * per..(s + 1) * per]
                        .iter()
                        .fold(1.0f64, |m, v| m.max(1.0 + v.abs()));
                    let atol = if l[s] == 0.0 { 1.3e-4 } else { LERP_FAR_ATOL };
                    Cmp::Tol(Tol {
                        rtol: 1e-6,
                        atol: atol * m * stretch * inv_ab,
                    })
                } else {
                    Cmp::Tol(F64_TOL)
                }
            };
            ck.cmp("x0", &x0, &flat(get(out, "x0")?)?, tol);
            ck.cmp("epsilon", &e, &flat(get(out, "epsilon")?)?, tol);
        }
        other => return Err(format!("unsupported method {other:?}")),
    }
    Ok(())
}

/// The 2-D Gaussian mixture of a `mixture` object (`weights`, `means`, `covs`), the analytic
/// model of the diffusers golden runs.
pub fn mixture(v: &Value) -> R<gdf::toy::GaussianMixture2> {
    let w = flat(get(v, "weights")?)?;
    let means = get(v, "means")?
        .as_array()
        .ok_or("means")?
        .iter()
        .map(pair)
        .collect::<R<Vec<_>>>()?;
    let covs = get(v, "covs")?
        .as_array()
        .ok_or("covs")?
        .iter()
        .map(|c| {
            let rows = c.as_array().ok_or("cov")?;
            Ok([pair(&rows[0])?, pair(&rows[1])?])
        })
        .collect::<R<Vec<_>>>()?;
    gdf::toy::GaussianMixture2::new(w, means, covs).map_err(|e| e.to_string())
}
