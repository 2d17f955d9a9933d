//! The golden solver cases' setup, shared by the host golden test and the device test: the
//! `mixture1d` model, recorded noise, and the solver a case names.
#![allow(dead_code)]

use super::*;
use gdf::solver::*;
use gdf::{GdfError, Real};
use serde_json::Value;

/// The README's `mixture1d` posterior mean, for a VP input `x` at logSNR `lam`.
pub struct Mixture {
    pi: Vec<f64>,
    mu: Vec<f64>,
    s: Vec<f64>,
}

impl Mixture {
    pub fn from(v: &Value) -> R<Self> {
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

    pub fn d(&self, x: f64, lam: f64) -> f64 {
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
pub struct Recorded<F> {
    pub data: Vec<F>,
    pub n: usize,
    pub per: usize,
    pub steps: Vec<usize>,
}

impl<F: Real> Recorded<F> {
    /// The case input's recorded draws (`input.noise`, none when absent), each of `n` values,
    /// `per` per sample.
    pub fn from_input(input: &Value, n: usize, per: usize) -> R<Self> {
        Ok(Self {
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
        })
    }
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
    fn on_draw(&mut self, info: DrawInfo) -> Result<(), GdfError> {
        self.steps.push(info.step);
        Ok(())
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
pub fn build(case: &Value, steps: usize) -> R<(AnySolver, Option<Churn>)> {
    let name = get(case, "sampler")?
        .as_str()
        .ok_or("sampler must be a string")?;
    let mut top = Params::new(get(case, "params")?, "params")?;
    let e = |r: Result<AnySolver, GdfError>| r.map_err(|e| e.to_string());
    let e2 = |r: Result<f64, GdfError>| r.map_err(|e| e.to_string());
    let mut ch = None;
    let solver = if let Some(grid) = top.take("grid") {
        // k-diffusion: the grid parameters only built `input.logsnr`.
        let kind = get(&grid, "kind")?.as_str().unwrap_or("");
        if !["karras", "exponential", "polyexponential", "vp", "dpm_fast"].contains(&kind) {
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
        // dpm_fast's `n` is its evaluation budget: ⌊n/3⌋ + 1 steps.
        let want = if kind == "dpm_fast" {
            DpmFast::steps_for(n)
        } else {
            n
        };
        if want != steps {
            return Err(format!("grid n = {n} but input.logsnr has {steps} steps"));
        }
        if (kind == "dpm_fast") != (name == "dpm_fast") {
            return Err(format!("grid kind {kind:?} with sampler {name:?}"));
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
            "dpm_fast" => e(
                DpmFast::with(n, p.f("eta", 0.0)?, p.f("s_noise", 1.0)?).map(AnySolver::DpmFast)
            )?,
            // ComfyUI's own samplers (tests/comfyui).
            "gradient_estimation" => {
                e(GradientEstimation::with(p.f("ge_gamma", 2.0)?)
                    .map(AnySolver::GradientEstimation))?
            }
            "ipndm" | "ipndm_v" => e(IpndmSigma::with(
                p.u("max_order", 4)? as usize,
                name == "ipndm_v",
            )
            .map(AnySolver::IpndmSigma))?,
            "ddpm" => AnySolver::EulerAncestral(EulerAncestral::new()),
            // ComfyUI's UniPC (`comfy/extra_samplers/uni_pc.py`): order 3, lower order at the
            // end, the corrector after every step but the last; its grid ends at σ = 0.001.
            "uni_pc" | "uni_pc_bh2" => AnySolver::from_name(name).map_err(|e| e.to_string())?,
            // ComfyUI's SA-Solver: its τ window from the model sampling's percent_to_sigma,
            // which must give the window ComfyUI used.
            "sa_solver" | "sa_solver_pece" => {
                if s_of(p.take("model_sampling"), "model_sampling")? != "sd" {
                    return Err("sa_solver cases run on Stable Diffusion's sampling".into());
                }
                let ms = gdf::interop::comfy::ModelSampling::default();
                let window = (e2(ms.percent_to_sigma(0.2))?, e2(ms.percent_to_sigma(0.8))?);
                let want = flat(&p.take("tau_window").ok_or("no tau_window")?)?;
                if want != [window.0, window.1] {
                    return Err(format!("τ window {window:?}, ComfyUI's {want:?}"));
                }
                e(SaSolverComfy::with(
                    p.u("predictor_order", 3)? as usize,
                    p.u("corrector_order", 4)? as usize,
                    1.0,
                    p.f("s_noise", 1.0)?,
                    window,
                    p.b("simple_order_2", false)?,
                )
                .map(|s| if name == "sa_solver" { s } else { s.pece() })
                .map(AnySolver::SaSolverComfy))?
            }
            // ComfyUI's `deis` (tAB-DEIS): a k-diffusion-style case with a grid.
            "deis" => {
                if s_of(p.take("deis_mode"), "deis_mode")? != "tab" {
                    return Err("only ComfyUI's default deis_mode \"tab\"".into());
                }
                e(DeisTab::with(p.u("max_order", 3)? as usize).map(AnySolver::DeisTab))?
            }
            "heunpp2" => {
                let c = churn(&mut p)?;
                ch = Some(c);
                e(Heunpp2::with_churn(c).map(AnySolver::Heunpp2))?
            }
            "res_multistep" => {
                let s = p.f("s_noise", 1.0)?;
                e(ResMultistep::with(0.0, s).map(AnySolver::ResMultistep))?
            }
            "res_multistep_ancestral" => {
                e(ResMultistep::with(p.f("eta", 1.0)?, p.f("s_noise", 1.0)?)
                    .map(AnySolver::ResMultistep))?
            }
            "seeds_2" => {
                let phi2 = match s_of(p.take("solver_type"), "solver_type")?.as_str() {
                    "phi_1" => false,
                    "phi_2" => true,
                    o => return Err(format!("unknown solver_type {o}")),
                };
                e(
                    Seeds::two(p.f("eta", 1.0)?, p.f("s_noise", 1.0)?, p.f("r", 0.5)?, phi2)
                        .map(AnySolver::Seeds),
                )?
            }
            "seeds_3" => e(Seeds::three(
                p.f("eta", 1.0)?,
                p.f("s_noise", 1.0)?,
                p.f("r_1", 1.0 / 3.0)?,
                p.f("r_2", 2.0 / 3.0)?,
            )
            .map(AnySolver::Seeds))?,
            "exp_heun_2_x0" => {
                if s_of(p.take("solver_type"), "solver_type")? != "phi_2" {
                    return Err("exp_heun_2_x0 is phi_2 only".into());
                }
                AnySolver::Seeds(Seeds::exp_heun())
            }
            "exp_heun_2_x0_sde" => {
                if s_of(p.take("solver_type"), "solver_type")? != "phi_2" {
                    return Err("exp_heun_2_x0_sde is phi_2 only".into());
                }
                e(Seeds::exp_heun_sde(p.f("eta", 1.0)?, p.f("s_noise", 1.0)?)
                    .map(AnySolver::Seeds))?
            }
            "dpmpp_2m_sde_heun" => {
                e(
                    DpmPP2MSde::with(p.f("eta", 1.0)?, p.f("s_noise", 1.0)?, SolverType::Heun)
                        .map(AnySolver::DpmPP2MSde),
                )?
            }
            "er_sde" => e(
                ErSde::with(p.f("s_noise", 1.0)?, p.u("max_stage", 3)? as usize)
                    .map(AnySolver::ErSde),
            )?,
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
