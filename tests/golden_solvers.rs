//! Golden parity of the modern solvers: every case of `solvers.json` (k-diffusion 0.1.1 and
//! diffusers 0.42.1 runs with the analytic `mixture1d` denoiser), f64, the README's
//! tolerances (`rtol 1e-6, atol 1e-9`; counts exact). Reads `GDF_GOLDEN_DIR` when set; an
//! unknown sampler or parameter is a failure. Recorded noise replaces drawn noise, entry `k`
//! for the solver's `k`-th draw.

mod common;

use common::*;
use gdf::scaler::{Lerp, Vp};
use gdf::solver::*;
use gdf::{GdfError, Real};
use serde_json::Value;

/// The README's `mixture1d` posterior mean, for a VP input `x` at logSNR `lam`.
struct Mixture {
    pi: Vec<f64>,
    mu: Vec<f64>,
    s: Vec<f64>,
}

impl Mixture {
    fn from(v: &Value) -> R<Self> {
        let mut p = Params::new(v, "model")?;
        let kind = p.take("kind").ok_or("model without kind")?;
        if kind.as_str() != Some("mixture1d") {
            return Err(format!("unsupported model {kind}"));
        }
        let mut arrv = |k: &str| -> R<Vec<f64>> {
            flat(&p.take(k).ok_or_else(|| format!("model without {k}"))?)
        };
        let m = Self {
            pi: arrv("pi")?,
            mu: arrv("mu")?,
            s: arrv("s")?,
        };
        p.done()?;
        Ok(m)
    }

    fn d(&self, x: f64, lam: f64) -> f64 {
        let a2 = 1.0 / (1.0 + (-lam).exp());
        let b2 = 1.0 / (1.0 + lam.exp());
        let a = a2.sqrt();
        let k = self.pi.len();
        let mut logit = [0.0f64; 8];
        let mut var = [0.0f64; 8];
        for i in 0..k {
            var[i] = a2 * self.s[i] * self.s[i] + b2;
            let r = x - a * self.mu[i];
            logit[i] = self.pi[i].ln() - r * r / (2.0 * var[i]) - 0.5 * var[i].ln();
        }
        let m = logit[..k].iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..k {
            let w = (logit[i] - m).exp();
            den += w;
            num += w * (self.mu[i] + a * self.s[i] * self.s[i] * (x - a * self.mu[i]) / var[i]);
        }
        num / den
    }
}

/// Recorded noise that also logs the step of every draw.
struct Recorded<F> {
    data: Vec<F>,
    n: usize,
    per: usize,
    steps: Vec<usize>,
}

impl<F: Real> NoiseSource<F> for Recorded<F> {
    fn fill(
        &self,
        draw: usize,
        _step: usize,
        sample: usize,
        offset: usize,
        out: &mut [F],
    ) -> Result<(), GdfError> {
        let start = draw * self.n + sample * self.per + offset;
        match self.data.get(start..start + out.len()) {
            Some(s) => {
                out.copy_from_slice(s);
                Ok(())
            }
            None => Err(GdfError::Invalid {
                message: format!("draw {draw} beyond the recorded noise"),
            }),
        }
    }
    fn on_draw(&mut self, _draw: usize, step: usize) {
        self.steps.push(step);
    }
}

fn s_of(v: Option<Value>, what: &str) -> R<String> {
    match v {
        Some(Value::String(s)) => Ok(s),
        other => Err(format!("{what} must be a string, got {other:?}")),
    }
}

fn solver_type(v: Option<Value>) -> R<SolverType> {
    match v {
        None => Ok(SolverType::Midpoint),
        v => match s_of(v, "solver_type")?.as_str() {
            "midpoint" => Ok(SolverType::Midpoint),
            "heun" => Ok(SolverType::Heun),
            o => Err(format!("unknown solver_type {o}")),
        },
    }
}

fn churn(p: &mut Params) -> R<Churn> {
    Ok(Churn {
        s_churn: p.f("s_churn", 0.0)?,
        s_tmin: p.f("s_tmin", 0.0)?,
        s_tmax: p.f("s_tmax", f64::INFINITY)?,
        s_noise: p.f("s_noise", 1.0)?,
    })
}

/// Keys of a diffusers config that only shape the grid (the run uses `input.logsnr`).
const GRID_KEYS: &[&str] = &[
    "beta_end",
    "beta_schedule",
    "beta_start",
    "num_train_timesteps",
    "timestep_spacing",
    "steps_offset",
    "trained_betas",
    "rescale_betas_zero_snr",
    "use_karras_sigmas",
    "use_exponential_sigmas",
    "use_beta_sigmas",
    "use_lu_lambdas",
    "use_flow_sigmas",
    "flow_shift",
    "time_shift_type",
    "use_dynamic_shifting",
    "lambda_min_clipped",
    "sigma_min",
    "sigma_max",
    "interpolation_type",
    "timestep_type",
    "shift",
    "base_shift",
    "max_shift",
    "base_image_seq_len",
    "max_image_seq_len",
    "shift_terminal",
    "invert_sigmas",
    "final_sigmas_type",
];

/// Consumes the keys diffusers needs to be at their "plain" values for these runs.
fn diffusers_common(p: &mut Params) -> R<()> {
    for k in GRID_KEYS {
        p.take(k);
    }
    if let Some(v) = p.take("prediction_type") {
        if v.as_str() != Some("sample") {
            return Err(format!("unsupported prediction_type {v}"));
        }
    }
    if p.b("thresholding", false)? {
        return Err("thresholding is not supported".into());
    }
    p.take("dynamic_thresholding_ratio");
    p.take("sample_max_value");
    if p.take("variance_type").is_some() {
        return Err("variance_type is not supported".into());
    }
    if !p.b("predict_x0", true)? {
        return Err("predict_x0 = false is not supported".into());
    }
    if p.take("solver_p").is_some() {
        return Err("solver_p is not supported".into());
    }
    Ok(())
}

/// The solver of a case, and its churn settings (for `churn_gamma`).
fn build(case: &Value, steps: usize) -> R<(AnySolver, Option<Churn>)> {
    let name = get(case, "sampler")?
        .as_str()
        .ok_or("sampler must be a string")?;
    let mut top = Params::new(get(case, "params")?, "params")?;
    let e = |r: Result<AnySolver, GdfError>| r.map_err(|e| e.to_string());
    let mut ch = None;
    let solver = if let Some(grid) = top.take("grid") {
        // k-diffusion: the grid parameters only built `input.logsnr`.
        let kind = get(&grid, "kind")?.as_str().unwrap_or("");
        if !["karras", "exponential", "polyexponential", "vp"].contains(&kind) {
            return Err(format!("unknown grid kind {kind:?}"));
        }
        let mut gp = Params::new(&grid, "grid")?;
        gp.take("kind");
        let n = gp.u("n", 0)? as usize;
        for k in [
            "sigma_min",
            "sigma_max",
            "rho",
            "beta_d",
            "beta_min",
            "eps_s",
        ] {
            gp.take(k);
        }
        gp.done()?;
        if n != steps {
            return Err(format!("grid n = {n} but input.logsnr has {steps} steps"));
        }
        let kw = top.take("sampler_kwargs").unwrap_or(Value::Null);
        let mut p = Params::new(&kw, "sampler_kwargs")?;
        let s = match name {
            "euler" => {
                let c = churn(&mut p)?;
                ch = Some(c);
                e(Euler::with_churn(c).map(AnySolver::Euler))?
            }
            "heun" => {
                let c = churn(&mut p)?;
                ch = Some(c);
                e(Heun::with_churn(c).map(AnySolver::Heun))?
            }
            "dpm_2" => {
                let c = churn(&mut p)?;
                ch = Some(c);
                e(Dpm2::with_churn(c).map(AnySolver::Dpm2))?
            }
            "euler_ancestral" => e(EulerAncestral::with(p.f("eta", 1.0)?, p.f("s_noise", 1.0)?)
                .map(AnySolver::EulerAncestral))?,
            "dpm_2_ancestral" => e(Dpm2Ancestral::with(p.f("eta", 1.0)?, p.f("s_noise", 1.0)?)
                .map(AnySolver::Dpm2Ancestral))?,
            "dpmpp_2s_ancestral" => e(DpmPP2SAncestral::with(
                p.f("eta", 1.0)?,
                p.f("s_noise", 1.0)?,
            )
            .map(AnySolver::DpmPP2SAncestral))?,
            "lms" => e(Lms::with_order(p.u("order", 4)? as usize).map(AnySolver::Lms))?,
            "dpmpp_sde" => {
                e(
                    DpmPPSde::with(p.f("eta", 1.0)?, p.f("s_noise", 1.0)?, p.f("r", 0.5)?)
                        .map(AnySolver::DpmPPSde),
                )?
            }
            "dpmpp_2m" => AnySolver::DpmPP2M(DpmPP2M::new()),
            "dpmpp_2m_sde" => {
                let (eta, sn) = (p.f("eta", 1.0)?, p.f("s_noise", 1.0)?);
                let ty = solver_type(p.take("solver_type"))?;
                e(DpmPP2MSde::with(eta, sn, ty).map(AnySolver::DpmPP2MSde))?
            }
            "dpmpp_3m_sde" => {
                e(DpmPP3MSde::with(p.f("eta", 1.0)?, p.f("s_noise", 1.0)?)
                    .map(AnySolver::DpmPP3MSde))?
            }
            other => return Err(format!("unknown k-diffusion sampler {other:?}")),
        };
        p.done()?;
        s
    } else {
        let cfg = top
            .take("scheduler_config")
            .ok_or("neither grid nor scheduler_config")?;
        let mut p = Params::new(&cfg, "scheduler_config")?;
        let ts = top.take("set_timesteps").unwrap_or(Value::Null);
        let mut t = Params::new(&ts, "set_timesteps")?;
        let n = t.u("num_inference_steps", 0)? as usize;
        // Custom sigmas / mu only shape the grid.
        t.take("sigmas");
        t.take("mu");
        t.take("mu_from_image_seq_len");
        t.done()?;
        if n != steps {
            return Err(format!(
                "num_inference_steps {n} but the grid has {steps} steps"
            ));
        }
        let s = match name {
            "DPMSolverMultistepScheduler" => {
                diffusers_common(&mut p)?;
                let algorithm = match s_of(p.take("algorithm_type"), "algorithm_type")?.as_str() {
                    "dpmsolver++" => DpmAlgorithm::DpmSolverPP,
                    "sde-dpmsolver++" => DpmAlgorithm::SdeDpmSolverPP,
                    o => return Err(format!("unsupported algorithm_type {o}")),
                };
                let final_sigmas = match get(&cfg, "final_sigmas_type")?.as_str() {
                    Some("zero") => FinalSigmas::Zero,
                    Some("sigma_min") => FinalSigmas::SigmaMin,
                    o => return Err(format!("unknown final_sigmas_type {o:?}")),
                };
                let st = DpmSolverSettings {
                    order: p.u("solver_order", 2)? as usize,
                    algorithm,
                    solver_type: solver_type(p.take("solver_type"))?,
                    lower_order_final: p.b("lower_order_final", true)?,
                    euler_at_final: p.b("euler_at_final", false)?,
                    final_sigmas,
                };
                e(DpmSolverMultistep::with(st).map(AnySolver::DpmSolverMultistep))?
            }
            "UniPCMultistepScheduler" => {
                diffusers_common(&mut p)?;
                let variant = match s_of(p.take("solver_type"), "solver_type")?.as_str() {
                    "bh1" => UniPcVariant::Bh1,
                    "bh2" => UniPcVariant::Bh2,
                    o => return Err(format!("unknown UniPC solver_type {o}")),
                };
                let disable_corrector = match p.take("disable_corrector") {
                    None => vec![],
                    Some(v) => flat(&v)?.into_iter().map(|x| x as usize).collect(),
                };
                let st = UniPcSettings {
                    order: p.u("solver_order", 2)? as usize,
                    variant,
                    lower_order_final: p.b("lower_order_final", true)?,
                    disable_corrector,
                };
                e(UniPc::with(st).map(AnySolver::UniPc))?
            }
            "EulerDiscreteScheduler" => {
                diffusers_common(&mut p)?;
                let kw = top.take("step_kwargs").unwrap_or(Value::Null);
                let mut k = Params::new(&kw, "step_kwargs")?;
                let c = churn(&mut k)?;
                k.done()?;
                ch = Some(c);
                e(EulerDiscrete::with_churn(c).map(AnySolver::EulerDiscrete))?
            }
            "FlowMatchEulerDiscreteScheduler" => {
                diffusers_common(&mut p)?;
                if p.b("stochastic_sampling", false)? {
                    AnySolver::FlowMatchEuler(FlowMatchEuler::stochastic())
                } else {
                    AnySolver::FlowMatchEuler(FlowMatchEuler::new())
                }
            }
            other => return Err(format!("unknown diffusers scheduler {other:?}")),
        };
        p.done()?;
        s
    };
    top.done()?;
    Ok((solver, ch))
}

const TOP_KEYS: &[&str] = &[
    "id", "sampler", "source", "scaler", "name", "note", "params", "input", "output",
];
const OUT_KEYS: &[&str] = &[
    "x",
    "denoised",
    "eval_logsnr",
    "calls",
    "noise_step",
    "churn_gamma",
    "order",
    "x_corrected",
    "timesteps",
];

/// One case in precision `F` (model and comparisons in f64), compared within `tol`.
fn run_case<F: Real>(case: &Value, ck: &mut Check, tol: Tol) -> R<()> {
    for k in case.as_object().ok_or("case must be an object")?.keys() {
        if !TOP_KEYS.contains(&k.as_str()) {
            return Err(format!("unknown top-level key {k:?}"));
        }
    }
    let input = get(case, "input")?;
    let out = get(case, "output")?;
    for k in input.as_object().ok_or("input must be an object")?.keys() {
        if !["logsnr", "x_init", "model", "noise"].contains(&k.as_str()) {
            return Err(format!("unknown input key {k:?}"));
        }
    }
    for k in out.as_object().ok_or("output must be an object")?.keys() {
        if !OUT_KEYS.contains(&k.as_str()) {
            return Err(format!("unknown output key {k:?}"));
        }
    }
    let logsnr = flat(get(input, "logsnr")?)?;
    let (shape, x_init) = arr(get(input, "x_init")?)?;
    let x_init: Vec<F> = x_init.iter().map(|&v| F::of(v)).collect();
    let batch = shape[0];
    let n = x_init.len();
    let per = n / batch;
    let model = Mixture::from(get(input, "model")?)?;
    let scaler = get(case, "scaler")?
        .as_str()
        .ok_or("scaler must be a string")?;
    let grid = match scaler {
        "vp" => Grid::new(&Vp, &logsnr),
        "lerp" => Grid::new(&Lerp, &logsnr),
        o => return Err(format!("unknown scaler {o}")),
    }
    .map_err(|e| e.to_string())?;
    let steps = grid.steps();
    let (solver, churn) = build(case, steps)?;
    let bh1 = matches!(
        get(case, "sampler")?.as_str(),
        Some("UniPCMultistepScheduler")
    ) && case["params"]["scheduler_config"]["solver_type"].as_str() == Some("bh1");
    let is_unipc = matches!(solver, AnySolver::UniPc(_));
    let order_of = |s: &AnySolver, i: usize| match s {
        AnySolver::UniPc(u) => u.order_at(i, steps),
        AnySolver::DpmSolverMultistep(d) => d.order_at(i, steps),
        _ => 0,
    };
    let orders: Vec<f64> = (0..steps).map(|i| order_of(&solver, i) as f64).collect();
    let mut noise = Recorded {
        data: input
            .get("noise")
            .map(flat)
            .transpose()?
            .unwrap_or_default()
            .into_iter()
            .map(F::of)
            .collect(),
        n,
        per,
        steps: vec![],
    };
    let lerp = scaler == "lerp";
    let mut run =
        Run::new(solver, grid.clone(), x_init, batch, &mut noise).map_err(|e| e.to_string())?;
    let total = run.total_evals();
    let (mut xs, mut den, mut lams, mut corr, mut ord) = (vec![], vec![], vec![], vec![], vec![]);
    let mut d = vec![F::zero(); n];
    while let Some(req) = run.next_eval().map_err(|e| e.to_string())? {
        let lv = req.level;
        let scale = if lerp {
            1.0 / (lv.a * lv.a + lv.b * lv.b).sqrt()
        } else {
            1.0
        };
        for (o, &x) in d.iter_mut().zip(req.x) {
            *o = F::of(model.d(x.as_f64() * scale, lv.lam));
        }
        let order = run.pending().map(|e| e.order).unwrap_or(0);
        den.extend(d.iter().map(|v| v.as_f64()));
        lams.push(lv.lam);
        if let Some(i) = run.feed_x0(&d).map_err(|e| e.to_string())? {
            xs.extend(run.x().iter().map(|v| v.as_f64()));
            ord.push(order as f64);
            if is_unipc && i >= 1 {
                corr.extend(run.aux().iter().map(|v| v.as_f64()));
            }
        }
    }
    drop(run);
    let calls = lams.len();
    ck.all("calls", &[calls as f64], &[num(get(out, "calls")?)?], EXACT);
    ck.all("nfe (planned)", &[total as f64], &[calls as f64], EXACT);
    ck.all(
        "eval_logsnr",
        &lams,
        &flat(get(out, "eval_logsnr")?)?,
        F64_TOL,
    );
    let want_d = flat(get(out, "denoised")?)?;
    ck.all("denoised", &den, &want_d, tol);
    // x, with quirk 1: UniPC bh1 ending at σ = 0 gives NaN in diffusers; we give x = D.
    let mut want_x = flat(get(out, "x")?)?;
    let last = (steps - 1) * n;
    if want_x.iter().any(|v| v.is_nan()) {
        let documented = bh1
            && grid.ends_clean()
            && case.get("note").is_some()
            && want_x[..last].iter().all(|v| !v.is_nan())
            && want_x[last..].iter().all(|v| v.is_nan());
        if !documented {
            return Err("NaN in the golden x outside the documented UniPC-bh1 quirk".into());
        }
        if want_d.len() < n {
            return Err("no denoised output to check the quirk against".into());
        }
        let d_last = &want_d[want_d.len() - n..];
        want_x[last..].copy_from_slice(d_last);
        ck.diverged += n;
    }
    ck.all("x", &xs, &want_x, tol);
    match out.get("noise_step") {
        Some(v) => {
            let want = flat(v)?;
            let got: Vec<f64> = noise.steps.iter().map(|&s| s as f64).collect();
            ck.all("noise_step", &got, &want, EXACT);
            let m = noise.data.len() / n;
            ck.all("noise draws", &[got.len() as f64], &[m as f64], EXACT);
        }
        None => {
            if !noise.steps.is_empty() {
                ck.errors.push(format!(
                    "solver drew {} times but the reference drew nothing",
                    noise.steps.len()
                ));
            }
        }
    }
    if let Some(v) = out.get("churn_gamma") {
        let c = churn.ok_or("churn_gamma for a solver without churn")?;
        let got: Vec<f64> = (0..steps).map(|i| c.gamma(&grid, i)).collect();
        ck.all("churn_gamma", &got, &flat(v)?, F64_TOL);
    }
    if let Some(v) = out.get("order") {
        let want = flat(v)?;
        ck.all("order (planned)", &orders, &want, EXACT);
        ck.all("order", &ord, &want, EXACT);
    }
    if let Some(v) = out.get("x_corrected") {
        ck.all("x_corrected", &corr, &flat(v)?, tol);
    }
    if let Some(v) = out.get("timesteps") {
        // Informational: the model used only λ.
        ck.all(
            "timesteps count",
            &[flat(v)?.len() as f64],
            &[steps as f64],
            EXACT,
        );
    }
    Ok(())
}

#[test]
fn golden_solvers_f64() {
    finish(run_file("solvers.json", "f64", |c, ck| {
        run_case::<f64>(c, ck, F64_TOL)
    }));
}

/// f32 data (coefficients still f64), the README's float32 advice: `rtol 1e-3, atol 1e-4`.
#[test]
fn golden_solvers_f32() {
    let tol = Tol {
        rtol: 1e-3,
        atol: 1e-4,
    };
    finish(run_file("solvers.json", "f32", |c, ck| {
        run_case::<f32>(c, ck, tol)
    }));
}
