//! Solvers chosen at run time by their k-diffusion / diffusers names.

use crate::error::{GdfError, Result};

use super::*;

macro_rules! any_solver {
    ($($(#[$m:meta])* $v:ident($t:ty)),* $(,)?) => {
        /// Any solver of this module, chosen at run time (e.g. from a config file).
        ///
        /// ```
        /// use gdf::solver::{AnySolver, Solver};
        /// let s = AnySolver::from_name("dpmpp_2m")?;
        /// assert_eq!(s.name(), "dpmpp_2m");
        /// assert!(AnySolver::from_name("DPMSolverMultistepScheduler").is_ok());
        /// assert!(AnySolver::from_name("no_such_sampler").is_err());
        /// # Ok::<(), gdf::GdfError>(())
        /// ```
        #[derive(Clone, Debug)]
        pub enum AnySolver {
            $($(#[$m])* $v($t),)*
        }

        $(impl From<$t> for AnySolver {
            fn from(s: $t) -> Self {
                AnySolver::$v(s)
            }
        })*

        impl Solver for AnySolver {
            fn name(&self) -> &'static str {
                match self { $(AnySolver::$v(s) => s.name(),)* }
            }
            fn start(&mut self, grid: &Grid) -> Result<()> {
                match self { $(AnySolver::$v(s) => s.start(grid),)* }
            }
            fn plan(&mut self, grid: &Grid) -> Option<Eval> {
                match self { $(AnySolver::$v(s) => s.plan(grid),)* }
            }
            fn nfe(&self, grid: &Grid) -> usize {
                match self { $(AnySolver::$v(s) => s.nfe(grid),)* }
            }
            fn history(&self) -> usize {
                match self { $(AnySolver::$v(s) => s.history(),)* }
            }
            fn plain_first_order(&self) -> bool {
                match self { $(AnySolver::$v(s) => s.plain_first_order(),)* }
            }
            fn takes_threshold(&self) -> bool {
                match self { $(AnySolver::$v(s) => s.takes_threshold(),)* }
            }
            fn inverts(&self) -> bool {
                match self { $(AnySolver::$v(s) => s.inverts(),)* }
            }
        }
    };
}

any_solver!(
    /// `euler`.
    Euler(Euler),
    /// `euler_ancestral`.
    EulerAncestral(EulerAncestral),
    /// `heun`.
    Heun(Heun),
    /// `dpm_2`.
    Dpm2(Dpm2),
    /// `dpm_2_ancestral`.
    Dpm2Ancestral(Dpm2Ancestral),
    /// `lms`.
    Lms(Lms),
    /// `dpmpp_2s_ancestral`.
    DpmPP2SAncestral(DpmPP2SAncestral),
    /// `dpmpp_sde`.
    DpmPPSde(DpmPPSde),
    /// `dpmpp_2m`.
    DpmPP2M(DpmPP2M),
    /// `dpmpp_2m_sde`.
    DpmPP2MSde(DpmPP2MSde),
    /// `dpmpp_3m_sde`.
    DpmPP3MSde(DpmPP3MSde),
    /// `DPMSolverMultistepScheduler`.
    DpmSolverMultistep(DpmSolverMultistep),
    /// `DPMSolverSinglestepScheduler`.
    DpmSolverSinglestep(DpmSolverSinglestep),
    /// `DEISMultistepScheduler`.
    Deis(Deis),
    /// `SASolverScheduler` (its τ window comes with a table: [`SaSolver::with`], or load the
    /// config with [`crate::interop::diffusers::load`]).
    SaSolver(SaSolver),
    /// `UniPCMultistepScheduler`.
    UniPc(UniPc),
    /// `PNDMScheduler` with `skip_prk_steps` (PLMS).
    Plms(Plms),
    /// `IPNDMScheduler`.
    Ipndm(Ipndm),
    /// `dpm_fast` (its evaluation budget fixes the step count: [`DpmFast::new`]).
    DpmFast(DpmFast),
    /// `EulerDiscreteScheduler`.
    EulerDiscrete(EulerDiscrete),
    /// `FlowMatchEulerDiscreteScheduler`.
    FlowMatchEuler(FlowMatchEuler),
    /// `FlowMatchHeunDiscreteScheduler`.
    FlowMatchHeun(FlowMatchHeun),
    /// `LTXEulerAncestralRFScheduler`, ComfyUI's `euler_ancestral_RF`.
    EulerAncestralRf(EulerAncestralRf),
    /// `flow_sde`: Flow-GRPO's SDE sampler (noise level 0.7 by name).
    FlowSde(FlowSde),
    /// `lcm` (ComfyUI's `sample_lcm`); `LCMScheduler` with a boundary condition.
    Lcm(Lcm),
    /// `TCDScheduler` (needs the training table: [`Tcd::new`]).
    Tcd(Tcd),
    /// ComfyUI's `gradient_estimation`.
    GradientEstimation(GradientEstimation),
    /// ComfyUI's `er_sde`.
    ErSde(ErSde),
    /// ComfyUI's `ipndm` and `ipndm_v`.
    IpndmSigma(IpndmSigma),
    /// ComfyUI's `seeds_2`, `seeds_3`, `exp_heun_2_x0` and `exp_heun_2_x0_sde`.
    Seeds(Seeds),
    /// ComfyUI's `res_multistep` and `res_multistep_ancestral`.
    ResMultistep(ResMultistep),
    /// ComfyUI's `heunpp2`.
    Heunpp2(Heunpp2),
    /// ComfyUI's `deis` (tAB-DEIS; `"deis_tab"` by name).
    DeisTab(DeisTab),
    /// ComfyUI's `sa_solver` and `sa_solver_pece` (their τ window comes from the model sampling:
    /// [`crate::interop::comfy::sampler`]).
    SaSolverComfy(SaSolverComfy),
);

impl AnySolver {
    /// The solver named `name` with its reference defaults. Accepts k-diffusion's sampler
    /// names (`"euler"`, `"dpmpp_2m"`, `"sample_dpmpp_2m"`, …), diffusers' scheduler class
    /// names (`"DPMSolverMultistepScheduler"`, `"DPMSolverSinglestepScheduler"`,
    /// `"DEISMultistepScheduler"` (also `"deis"`),
    /// `"UniPCMultistepScheduler"`, `"PNDMScheduler"` (PLMS, also `"plms"`; ε history),
    /// `"IPNDMScheduler"`,
    /// `"EulerDiscreteScheduler"`, `"EulerAncestralDiscreteScheduler"`,
    /// `"HeunDiscreteScheduler"`, `"LMSDiscreteScheduler"`, `"KDPM2DiscreteScheduler"`,
    /// `"KDPM2AncestralDiscreteScheduler"`, `"DPMSolverSDEScheduler"`,
    /// `"FlowMatchEulerDiscreteScheduler"`, `"FlowMatchHeunDiscreteScheduler"`,
    /// `"LTXEulerAncestralRFScheduler"` (also ComfyUI's `"euler_ancestral_RF"`)), the
    /// convenience names `"unipc"` and `"dpmpp_3m"`, `"flow_sde"` (Flow-GRPO's SDE sampler at
    /// its default noise level 0.7: [`FlowSde::new`] for another), and `"lcm"` (without a boundary
    /// condition; `LCMScheduler`'s depends on the model's timestep: [`Lcm::with_boundary`],
    /// or load its config with [`crate::interop::diffusers::load`]), and ComfyUI's
    /// `"res_multistep"` and `"res_multistep_ancestral"` (RES's second-order multistep
    /// exponential integrator; without noise DPM-Solver++ 2M in its heun form with a
    /// first-order first step), `"gradient_estimation"`,
    /// `"heunpp2"`, `"deis_tab"` (ComfyUI's `deis`: gdf's `"deis"` is diffusers'), `"er_sde"`, `"ipndm"`, `"ipndm_v"`, `"seeds_2"`, `"seeds_3"`, `"exp_heun_2_x0"`,
    /// `"exp_heun_2_x0_sde"`, `"ddpm"` (Euler ancestral with η = 1, which is
    /// ComfyUI's DDPM step), `"ddim"` (ComfyUI's: its Euler, DDIM with η = 0), `"uni_pc"` and
    /// `"uni_pc_bh2"` (ComfyUI's UniPC: order 3, B(h) = h or eʰ − 1; on
    /// [`crate::interop::comfy::sampler_grid`]'s levels, which end at σ = 0.001), `"dpmpp_2m_sde_heun"`, and the `_gpu` names of its SDE samplers
    /// (`"dpmpp_sde_gpu"`, `"dpmpp_2m_sde_gpu"`, `"dpmpp_2m_sde_heun_gpu"`, `"dpmpp_3m_sde_gpu"`:
    /// ComfyUI's Brownian tree on the GPU, the same solvers here).
    pub fn from_name(name: &str) -> Result<Self> {
        let n = name.strip_prefix("sample_").unwrap_or(name);
        Ok(match n {
            "euler" => Self::Euler(Euler::new()),
            "euler_ancestral" | "EulerAncestralDiscreteScheduler" | "ddpm" => {
                Self::EulerAncestral(EulerAncestral::new())
            }
            "heun" | "HeunDiscreteScheduler" => Self::Heun(Heun::new()),
            "dpm_2" | "KDPM2DiscreteScheduler" => Self::Dpm2(Dpm2::new()),
            "dpm_2_ancestral" | "KDPM2AncestralDiscreteScheduler" => {
                Self::Dpm2Ancestral(Dpm2Ancestral::new())
            }
            "lms" | "LMSDiscreteScheduler" => Self::Lms(Lms::new()),
            "dpmpp_2s_ancestral" => Self::DpmPP2SAncestral(DpmPP2SAncestral::new()),
            "dpmpp_sde" | "DPMSolverSDEScheduler" | "dpmpp_sde_gpu" => {
                Self::DpmPPSde(DpmPPSde::new())
            }
            "dpmpp_2m" => Self::DpmPP2M(DpmPP2M::new()),
            "dpmpp_2m_sde" | "dpmpp_2m_sde_gpu" => Self::DpmPP2MSde(DpmPP2MSde::new()),
            "dpmpp_2m_sde_heun" | "dpmpp_2m_sde_heun_gpu" => {
                Self::DpmPP2MSde(DpmPP2MSde::with(1.0, 1.0, SolverType::Heun)?)
            }
            "dpmpp_3m_sde" | "dpmpp_3m_sde_gpu" => Self::DpmPP3MSde(DpmPP3MSde::new()),
            "dpmpp_3m" => Self::DpmPP3MSde(DpmPP3MSde::with(0.0, 1.0)?),
            "res_multistep" => Self::ResMultistep(ResMultistep::new()),
            "res_multistep_ancestral" => Self::ResMultistep(ResMultistep::with(1.0, 1.0)?),
            "heunpp2" => Self::Heunpp2(Heunpp2::new()),
            "deis_tab" => Self::DeisTab(DeisTab::new()),
            "DPMSolverMultistepScheduler" => Self::DpmSolverMultistep(DpmSolverMultistep::new()),
            "DPMSolverSinglestepScheduler" => Self::DpmSolverSinglestep(DpmSolverSinglestep::new()),
            "UniPCMultistepScheduler" | "unipc" => Self::UniPc(UniPc::new()),
            "uni_pc" | "uni_pc_bh2" => Self::UniPc(UniPc::with(UniPcSettings {
                order: 3,
                variant: if n == "uni_pc" {
                    UniPcVariant::Bh1
                } else {
                    UniPcVariant::Bh2
                },
                lower_order_final: true,
                disable_corrector: Vec::new(),
            })?),
            "ddim" => Self::Euler(Euler::new()),
            "DEISMultistepScheduler" | "deis" => Self::Deis(Deis::new()),
            "PNDMScheduler" | "plms" => Self::Plms(Plms::new()),
            "IPNDMScheduler" => Self::Ipndm(Ipndm::new()),
            "EulerDiscreteScheduler" => Self::EulerDiscrete(EulerDiscrete::new()),
            "FlowMatchEulerDiscreteScheduler" => Self::FlowMatchEuler(FlowMatchEuler::new()),
            "FlowMatchHeunDiscreteScheduler" => Self::FlowMatchHeun(FlowMatchHeun::new()),
            "LTXEulerAncestralRFScheduler" | "euler_ancestral_RF" => {
                Self::EulerAncestralRf(EulerAncestralRf::new())
            }
            "lcm" => Self::Lcm(Lcm::new()),
            "gradient_estimation" => Self::GradientEstimation(GradientEstimation::new()),
            "er_sde" => Self::ErSde(ErSde::new()),
            "ipndm" => Self::IpndmSigma(IpndmSigma::new()),
            "ipndm_v" => Self::IpndmSigma(IpndmSigma::variable()),
            "seeds_2" => Self::Seeds(Seeds::two(1.0, 1.0, 0.5, false)?),
            "seeds_3" => Self::Seeds(Seeds::three(1.0, 1.0, 1.0 / 3.0, 2.0 / 3.0)?),
            "exp_heun_2_x0" => Self::Seeds(Seeds::exp_heun()),
            "exp_heun_2_x0_sde" => Self::Seeds(Seeds::exp_heun_sde(1.0, 1.0)?),
            "flow_sde" => Self::FlowSde(FlowSde::new(0.7)?),
            "sa_solver" | "sa_solver_pece" => {
                return Err(GdfError::Invalid {
                    message: format!(
                        "{n} (ComfyUI's SA-Solver) takes its τ window from the model's \
                         sampling: use gdf::interop::comfy::sampler(\"sa_solver\", &model_sampling) \
                         or SaSolverComfy::with (.pece() for PECE); diffusers' SA-Solver is \
                         SaSolver"
                    ),
                })
            }
            "dpm_fast" => {
                return Err(GdfError::Invalid {
                    message: "dpm_fast takes its evaluation budget, which fixes its step count: \
                              use DpmFast::new(nfe) with the grid DpmFast::grid(scaler, \
                              sigma_min, sigma_max, nfe)"
                        .into(),
                })
            }
            "dpm_adaptive" => {
                return Err(GdfError::Invalid {
                    message: "dpm_adaptive chooses its levels as it goes (an error estimate and \
                              a step controller), so it runs no fixed grid: use \
                              DpmAdaptive::new(sigma_min, sigma_max)?.start(scaler, x, batch, \
                              noise)"
                        .into(),
                })
            }
            _ => {
                return Err(GdfError::Invalid {
                    message: format!(
                        "unknown solver {name:?}; expected a k-diffusion sampler name (euler, \
                         euler_ancestral, heun, dpm_2, dpm_2_ancestral, lms, dpmpp_2s_ancestral, \
                         dpmpp_sde, dpmpp_2m, dpmpp_2m_sde, dpmpp_3m_sde, lcm, flow_sde; ComfyUI's \
                         res_multistep, gradient_estimation, er_sde, ipndm, ipndm_v, seeds_2, \
                         seeds_3, exp_heun_2_x0, heunpp2, deis_tab, ddpm, dpmpp_2m_sde_heun, ddim, uni_pc, \
                         uni_pc_bh2, …) or a diffusers \
                         scheduler (DPMSolverMultistepScheduler, UniPCMultistepScheduler, \
                         EulerDiscreteScheduler, FlowMatchEulerDiscreteScheduler, …)"
                    ),
                })
            }
        })
    }
}
