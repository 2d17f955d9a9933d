//! One function per family of scheduler classes: the framework, solver, grid, timestep
//! convention, latent frame and threshold a config gives.

use super::fields::{
    cfg_err, clip_of, conversion, dpm_settings, dpm_settings_as, named, table_settings,
    table_settings_as, target_of, target_or, threshold_of, Fields,
};
use super::grid::PipelineSigmas;
use super::{
    approx, wrong_pipeline, Approximation, GridSpec, LatentFrame, ModelTimestep, PipelineKind,
    Threshold,
};
use serde_json::Value;

use crate::dynamic::{
    CondKind, DynGdf, DynLossWeight, DynNoiseCond, DynScaler, DynSchedule, DynTarget, ScheduleKind,
    WeightKind,
};
use crate::error::{GdfError, Result};
use crate::grid::discrete::{
    DiscreteScheduler, DiscreteSettings, FinalSigmas as GridFinal, Interpolation, SigmaConversion,
    Spacing,
};
use crate::grid::flow::{FlowMatchSettings, SeqLenShift, TimeShift};
use crate::grid::table::{alphas_cumprod_f64, DiscreteTable, TableSettings};
use crate::interp::Table;
use crate::noise_cond::TableTimestep;
use crate::schedule::VarParams;
use crate::solver::{
    AnySolver, Deis, Dpm2, Dpm2Ancestral, DpmAlgorithm, DpmPP2MSde, DpmPPSde,
    DpmSinglestepSettings, DpmSolverMultistep, DpmSolverSinglestep, Euler, EulerAncestral,
    EulerAncestralRf, EulerDiscrete, FinalSigmas, FlowMatchEuler, FlowMatchHeun, Heun, Ipndm, Lcm,
    LcmBoundary, Lms, Plms, SaSolver, SolverType, TauWindow, Tcd, UniPc, UniPcSettings,
    UniPcVariant,
};

/// The parts a scheduler class gives: framework, solver, grid, timestep, frame, threshold.
pub(super) type Parts = (
    DynGdf,
    AnySolver,
    GridSpec,
    ModelTimestep,
    LatentFrame,
    Threshold,
);

/// `DDIMScheduler`, `PNDMScheduler` (PLMS), `DDPMScheduler` (Euler ancestral), the Parallel
/// variants of DDIM and DDPM (the same): DDIM's
/// grid over the table (DDPM's steps through its listed timesteps, [`GridSpec::Ddpm`]).
pub(super) fn ddim_family(
    f: &mut Fields,
    notes: &mut Vec<Approximation>,
    class: &str,
) -> Result<Parts> {
    let pndm = class == "PNDMScheduler";
    // The Parallel classes share DDIM's / DDPM's fields and `step` (they add a batched
    // `batch_step_no_noise` for ParaDiGMS, which a sampler here does not need).
    let ddpm = matches!(class, "DDPMScheduler" | "DDPMParallelScheduler");
    // CogVideoXDDIMScheduler: DDIM (η = 0, no clipping: its `step` ignores clip_sample) over
    // CogVideoX's table, SD's β's shifted in SNR by `snr_shift_scale` (see
    // `TableSettings::snr_shift`); CogVideoXDPMScheduler: DPM++ 2M SDE on the same grid.
    let cog_dpm = class == "CogVideoXDPMScheduler";
    let cog = class == "CogVideoXDDIMScheduler" || cog_dpm;
    // PNDM has no zero-terminal-SNR rescale (the field is ignored, as in diffusers).
    let mut table = if cog {
        table_settings_as(f, (0.00085, 0.012, "scaled_linear"), true)?
    } else {
        table_settings_as(f, (0.0001, 0.02, "linear"), !pndm)?
    };
    if cog {
        table.snr_shift = Some(f.f64("snr_shift_scale", 3.0)?);
        DiscreteTable::new(&table)?; // check the shift now
    }
    if table.rescale_betas_zero_snr {
        notes.push(approx(
            "rescale_betas_zero_snr",
            true,
            "the grid uses DDIM's table, whose last ᾱ is 0 (a first level at λ = −∞ with \
             trailing spacing: an ε-prediction is refused there, where diffusers divides by \
             zero); the framework's schedule (training, `diffuse`) and noise cond use \
             Euler's, which ends at ᾱ = 2⁻²⁴",
        ));
    }
    // PNDM's step converts only ε and v (diffusers raises on "sample").
    let target = if pndm {
        target_of(f, &["epsilon", "v_prediction"])?
    } else {
        target_of(f, &["epsilon", "v_prediction", "sample"])?
    };
    let spacing = f.parsed("timestep_spacing", "leading", str::parse::<Spacing>)?;
    let steps_offset = f.int("steps_offset", 0)?;
    // PNDM's Runge-Kutta warm-up, unless skipped (diffusers' default: run).
    let prk = pndm && !f.flag("skip_prk_steps", false)?;
    // diffusers' defaults: true for DDIM, false for PNDM; DDPM always ends at ᾱ = 1.
    let set_alpha_to_one = ddpm || f.flag("set_alpha_to_one", !pndm)?;
    if ddpm {
        let v = f.text("variance_type", "fixed_small")?;
        if v != "fixed_small" {
            return Err(GdfError::Config {
                field: "variance_type".into(),
                value: format!("{v:?}"),
                expected: "\"fixed_small\" (the posterior variance; gdf's DDPM is Euler \
                           ancestral with η = 1)"
                    .into(),
            });
        }
    }
    // CogVideoX's `step` never clips; PNDM has no clipping fields.
    let threshold = if cog || pndm {
        Threshold::None
    } else {
        threshold_of(f, Some(true))?
    };
    Ok((
        table_framework(&table, target, true)?,
        if ddpm {
            // The DDPM posterior step is Euler ancestral with η = 1 (its last step
            // goes to ᾱ = 1, where both add no noise).
            AnySolver::EulerAncestral(EulerAncestral::new())
        } else if pndm {
            // PLMS over the raw outputs: ε, or v for a v-prediction model; the Runge-Kutta
            // warm-up takes its midpoints from the table (the grid's own λ's).
            let plms = Plms::new().v_prediction(target == DynTarget::V);
            AnySolver::Plms(if prk {
                let lam: Vec<f64> = alphas_cumprod_f64(&table)?
                    .iter()
                    .map(|&v| super::grid::abar_logsnr(v))
                    .collect();
                plms.with_prk(lam)
            } else {
                plms
            })
        } else if cog_dpm {
            // η = 1 whatever the pipeline's `eta`; the pipeline passes the previous
            // prediction and timestep (`old_pred_original_sample`, `timestep_back`).
            AnySolver::DpmPP2MSde(DpmPP2MSde::new().cogvideox(true))
        } else {
            AnySolver::Euler(Euler::new())
        },
        if ddpm {
            GridSpec::Ddpm {
                table: table.clone(),
                spacing,
                steps_offset,
            }
        } else {
            GridSpec::Ddim {
                table: table.clone(),
                spacing,
                steps_offset,
                set_alpha_to_one,
            }
        },
        ModelTimestep::TableIndex {
            train_steps: DiscreteTable::new(&table)?.len(),
        },
        LatentFrame::Vp,
        threshold,
    ))
}

/// `EulerDiscreteScheduler`, `EulerAncestralDiscreteScheduler`,
/// `DPMSolverMultistepScheduler`, `UniPCMultistepScheduler`: diffusers' grids over the table.
pub(super) fn discrete_family(
    f: &mut Fields,
    notes: &mut Vec<Approximation>,
    class: &str,
) -> Result<Parts> {
    let ancestral = class == "EulerAncestralDiscreteScheduler";
    let euler = class == "EulerDiscreteScheduler" || ancestral;
    let unipc = class == "UniPCMultistepScheduler";
    // DPMSolverSinglestep: DPMSolverMultistep's linspace grid (it has no timestep_spacing,
    // steps_offset, rescale_betas_zero_snr or use_lu_lambdas: those fields are ignored).
    let single = class == "DPMSolverSinglestepScheduler";
    // DEISMultistep and SASolver: UniPC's grid ending at σ_min (their only end), no zero-SNR
    // field.
    let sa = class == "SASolverScheduler";
    let deis = class == "DEISMultistepScheduler" || sa;
    let table = if single || deis {
        table_settings_as(f, (0.0001, 0.02, "linear"), false)?
    } else {
        table_settings(f)?
    };
    let target = target_of(f, &["epsilon", "v_prediction", "sample"])?;
    let mut s = DiscreteSettings::new(if euler {
        DiscreteScheduler::Euler
    } else if unipc || deis {
        DiscreteScheduler::UniPcMultistep
    } else {
        DiscreteScheduler::DpmSolverMultistep
    });
    s.table = table.clone();
    if !single {
        s.spacing = f.parsed("timestep_spacing", "linspace", str::parse::<Spacing>)?;
        s.steps_offset = f.int("steps_offset", 0)?;
    }
    if !ancestral {
        s.conversion = conversion(f, !euler && !unipc && !single && !deis)?;
        s.final_sigmas = if deis {
            GridFinal::SigmaMin
        } else {
            f.parsed("final_sigmas_type", "zero", str::parse::<GridFinal>)?
        };
    }
    let mut timestep = ModelTimestep::TableIndex {
        train_steps: DiscreteTable::new(&table)?.len(),
    };
    let (solver, threshold) = if ancestral {
        (
            AnySolver::EulerAncestral(EulerAncestral::new()),
            Threshold::None,
        )
    } else if sa {
        no_flow_sigmas(f, "gdf does not load SASolverScheduler over flow sigmas")?;
        sa_solver(f, &table)?
    } else if deis {
        no_flow_sigmas(
            f,
            "gdf does not load DEISMultistepScheduler over flow sigmas",
        )?;
        deis_solver(f)?
    } else if unipc {
        no_flow_sigmas(
            f,
            "gdf loads flow-sigma configs only as flow-matching schedulers",
        )?;
        f.must_be(
            "shift_terminal",
            Value::Null,
            "shift_terminal exists only with use_flow_sigmas",
        )?;
        s.sigma_min = f.opt_f64("sigma_min")?;
        s.sigma_max = f.opt_f64("sigma_max")?;
        unipc_solver(f, s.final_sigmas == GridFinal::Zero, notes)?
    } else if euler {
        s.interpolation = f.parsed("interpolation_type", "linear", str::parse::<Interpolation>)?;
        if s.interpolation == Interpolation::LogLinear {
            // diffusers' `set_timesteps(n)` gives n timesteps from the spacing but n + 2 sigmas
            // (n + 1 log-uniform from σ_max to σ_min, then 0): its loop over the timesteps
            // never takes the step to 0 (the sample is left at σ_min), and the network gets
            // the spacing's timesteps, not the σ's (5 trailing SD steps: t = 199 at
            // σ = 0.1011). A grid over those levels runs one step more, and no noise cond of
            // λ gives those timesteps.
            return Err(cfg_err(
                "interpolation_type",
                &Value::from("log_linear"),
                "\"linear\" (diffusers' log_linear gives N timesteps but N + 2 sigmas: its run \
                 stops at σ_min without the step to 0, and its timesteps are the spacing's, \
                 not those of its sigmas)",
            ));
        }
        s.sigma_min = f.opt_f64("sigma_min")?;
        s.sigma_max = f.opt_f64("sigma_max")?;
        match f.text("timestep_type", "discrete")?.as_str() {
            "discrete" => {}
            "continuous" if target == DynTarget::V => {
                s.continuous_timesteps = true;
                timestep = ModelTimestep::QuarterLogSigma;
            }
            other => {
                return Err(GdfError::Config {
                    field: "timestep_type".into(),
                    value: format!("{other:?}"),
                    expected: "\"discrete\", or \"continuous\" with prediction_type \
                               \"v_prediction\""
                        .into(),
                })
            }
        }
        (
            AnySolver::EulerDiscrete(EulerDiscrete::new()),
            Threshold::None,
        )
    } else {
        s.lambda_min_clipped = f.f64_or_neg_inf("lambda_min_clipped", f64::NEG_INFINITY)?;
        if single {
            no_flow_sigmas(
                f,
                "gdf does not load DPMSolverSinglestepScheduler over flow sigmas (use \
                 DPMSolverMultistepScheduler's flow-sigma config)",
            )?;
        } else {
            f.must_be(
                "use_flow_sigmas",
                Value::Bool(false),
                "gdf loads flow-sigma DPMSolver configs only as flow-matching schedulers",
            )?;
            f.get("flow_shift"); // read only with use_flow_sigmas
        }
        if single {
            singlestep_solver(f, notes)?
        } else {
            dpm_solver(f, notes)?
        }
    };
    // Euler's timesteps are fractional with a σ conversion (`_sigma_to_t`, as the
    // noise cond), and with linspace spacing or log-linear interpolation (σ
    // interpolated linearly in σ, or log-uniform: not `_sigma_to_t`).
    let fractional = euler
        && (s.spacing == Spacing::Linspace
            || s.conversion != SigmaConversion::None
            || s.interpolation != Interpolation::Linear);
    if euler
        && !s.continuous_timesteps
        && (s.spacing == Spacing::Linspace || s.interpolation != Interpolation::Linear)
    {
        notes.push(interpolated_steps(&s));
    }
    if !euler
        && matches!(
            s.conversion,
            SigmaConversion::Exponential | SigmaConversion::Beta
        )
    {
        notes.push(approx(
            "use_exponential_sigmas / use_beta_sigmas",
            true,
            "DPMSolver truncates these timesteps, the framework's noise cond rounds \
             (the grid's `timesteps` are diffusers' exact values)",
        ));
    }
    if s.scheduler == DiscreteScheduler::DpmSolverMultistep
        && matches!(
            table.beta_schedule,
            crate::grid::table::BetaSchedule::SquaredCosCapV2
        )
        && matches!(
            s.conversion,
            SigmaConversion::Karras | SigmaConversion::LuLambdas
        )
    {
        notes.push(approx(
            "use_karras_sigmas / use_lu_lambdas with beta_schedule squaredcos_cap_v2",
            true,
            "DPMSolver truncates these timesteps (it rounds them for other betas), the \
             framework's noise cond rounds (the grid's `timesteps` are diffusers' exact values)",
        ));
    }
    if s.conversion != SigmaConversion::None {
        let tab = DiscreteTable::new(&table)?;
        let ls = tab.log_sigmas();
        let n = ls.len();
        if ls[n - 1] <= ls[n - 2] {
            notes.push(approx(
                "rescale_betas_zero_snr with a σ conversion",
                format!(
                    "σ_max = σ_{} = {} below σ_{} = {}",
                    n - 1,
                    tab.sigmas()[n - 1],
                    n - 2,
                    tab.sigmas()[n - 2]
                ),
                "this zero-terminal-SNR table's σ is not monotone at its end, so σ_{N−1} is \
                 also the σ of a fractional step below N−4; diffusers' converted σ_max (a \
                 float64 round trip of σ_{N−1}) falls on one or the other by rounding (Karras: \
                 the lower one), the framework's noise cond gives N−1 at σ_{N−1} (the grid's \
                 `timesteps` are diffusers' exact values)",
            ));
        }
    }
    let mut fw = table_framework(&table, target, !fractional)?;
    if s.continuous_timesteps {
        fw.noise_cond = DynNoiseCond::new(CondKind::Edm);
    }
    Ok((
        fw,
        solver,
        GridSpec::Discrete(s),
        timestep,
        if euler {
            LatentFrame::Ve
        } else {
            LatentFrame::Vp
        },
        threshold,
    ))
}

/// `DPMSolverMultistepScheduler` / `UniPCMultistepScheduler` with `use_flow_sigmas` (SANA,
/// Wan): the flow's framework (LERP scaler, `flow_prediction` = gdf's `RectifiedFlows`
/// target, σ·scale as the network's timestep), the multistep solver over flow levels, and
/// [`GridSpec::FlowSigmas`].
pub(super) fn flow_sigmas_family(
    f: &mut Fields,
    notes: &mut Vec<Approximation>,
    class: &str,
    pipeline: PipelineKind,
) -> Result<Parts> {
    let unipc = class == "UniPCMultistepScheduler";
    let scale = flow_scale(
        class,
        pipeline,
        "PipelineKind::Sd3 (the transformer takes σ·1000: SANA, Wan) or PipelineKind::Flux \
         (σ) with use_flow_sigmas",
    )?;
    f.flag("use_flow_sigmas", false)?;
    // The β table is read (DPMSolver's `sigma_min` final σ comes from it).
    let table = table_settings(f)?;
    target_of(f, &["flow_prediction"])?;
    let num_train_timesteps = table.num_train_timesteps;
    let flow_shift = f.f64("flow_shift", 1.0)?;
    crate::grid::check_pos("flow_shift", flow_shift)
        .map_err(super::fields::named("flow_shift", flow_shift))?;
    f.must_be(
        "use_dynamic_shifting",
        Value::Bool(false),
        "gdf's flow-sigma DPMSolver / UniPC grids take a fixed flow_shift",
    )?;
    f.get("time_shift_type"); // read only with use_dynamic_shifting
    if conversion(f, !unipc)? != SigmaConversion::None {
        return Err(cfg_err(
            "use_flow_sigmas",
            &Value::Bool(true),
            "no Karras / exponential / beta / lu-lambda conversion with it (diffusers applies \
             the conversion instead of the flow sigmas)",
        ));
    }
    let shift_terminal = if unipc {
        f.opt_f64("shift_terminal")?
    } else {
        None
    };
    if let Some(term) = shift_terminal {
        if !(term > 0.0 && term < 1.0) {
            return Err(cfg_err(
                "shift_terminal",
                &Value::from(term),
                "a flow sigma in (0, 1)",
            ));
        }
    }
    let final_sigmas = f.parsed("final_sigmas_type", "zero", str::parse::<GridFinal>)?;
    // Fields of the table path the flow sigmas replace.
    for k in [
        "timestep_spacing",
        "steps_offset",
        "lambda_min_clipped",
        "sigma_min",
        "sigma_max",
    ] {
        f.get(k);
    }
    let (solver, threshold) = if unipc {
        unipc_solver(f, final_sigmas == GridFinal::Zero, notes)?
    } else {
        dpm_solver(f, notes)?
    };
    // diffusers' timesteps are σ·T truncated to int64 (T = num_train_timesteps), from the
    // float64 σ before its float32 cast; an SD3-style transformer takes them as they are.
    let (cond, timestep) = if scale == 1000.0 {
        notes.push(approx(
            "use_flow_sigmas",
            true,
            "the noise cond truncates σ·T of the grid's float32 σ, diffusers σ·T of its \
             float64 σ: one apart where σ·T lies within float32 rounding below a whole \
             number (the grid's `timesteps` are diffusers' integers)",
        ));
        (
            CondKind::Discrete {
                inner: Box::new(DynNoiseCond::new(CondKind::FlowSigma(1.0))),
                steps: num_train_timesteps as u64,
                continuous_range: [0.0, 1.0],
            },
            ModelTimestep::FlowSigmaSteps {
                train_steps: num_train_timesteps,
            },
        )
    } else {
        notes.push(approx(
            "use_flow_sigmas",
            true,
            "with PipelineKind::Flux the network takes diffusers' integer timesteps / 1000; \
             the framework's noise cond gives σ unrounded (the grid's `timesteps` are \
             diffusers' integers)",
        ));
        (
            CondKind::FlowSigma(scale),
            ModelTimestep::FlowSigma { scale },
        )
    };
    Ok((
        flow_framework_with(flow_shift, DynTarget::RectifiedFlows, cond),
        solver,
        GridSpec::FlowSigmas {
            unipc,
            num_train_timesteps,
            flow_shift,
            shift_terminal,
            final_sigmas,
            table_sigma_min: f64::from(DiscreteTable::new(&table)?.sigmas()[0]),
        },
        timestep,
        LatentFrame::Flow,
        threshold,
    ))
}

/// A flow model's framework: the rectified-flow schedule shifted by `shift`, the LERP scaler,
/// the velocity target (`flow_prediction`), `σ·scale` as the network's timestep.
fn flow_framework(shift: f64, scale: f64) -> DynGdf {
    flow_framework_with(shift, DynTarget::RectifiedFlows, CondKind::FlowSigma(scale))
}

/// [`flow_framework`] with the target `target` (the velocity, or MiniMax's and Mochi's
/// velocity toward the data) and the noise cond `cond`.
fn flow_framework_with(shift: f64, target: DynTarget, cond: CondKind) -> DynGdf {
    let mut sched = DynSchedule::new(ScheduleKind::RectifiedFlows([-15.0, 15.0]));
    sched.shift = shift;
    framework(
        sched,
        DynScaler::Lerp,
        target,
        DynNoiseCond::new(cond),
        WeightKind::Constant(1.0),
    )
}

/// The factor from the flow sigma to the network's timestep: 1000 for SD3-style pipelines, 1
/// for Flux; another pipeline is an error expecting `want`.
fn flow_scale(class: &str, pipeline: PipelineKind, want: &str) -> Result<f64> {
    match pipeline {
        PipelineKind::Sd3 { .. } => Ok(1000.0),
        PipelineKind::Flux { .. } => Ok(1.0),
        _ => Err(wrong_pipeline(class, pipeline, want)),
    }
}

/// UniPC's update rule and x0 stage (`UniPCMultistepScheduler`); `final_zero`: the grid ends
/// at σ = 0.
fn unipc_solver(
    f: &mut Fields,
    final_zero: bool,
    notes: &mut Vec<Approximation>,
) -> Result<(AnySolver, Threshold)> {
    if !f.flag("predict_x0", true)? {
        return Err(cfg_err(
            "predict_x0",
            &Value::Bool(false),
            "true (gdf's UniPC predicts x0)",
        ));
    }
    f.must_be("solver_p", Value::Null, "gdf has no UniPC with a solver_p")?;
    let variant = match f.text("solver_type", "bh2")?.as_str() {
        "bh1" => UniPcVariant::Bh1,
        "bh2" => UniPcVariant::Bh2,
        other => {
            return Err(GdfError::Config {
                field: "solver_type".into(),
                value: format!("{other:?}"),
                expected: "\"bh1\" or \"bh2\"".into(),
            })
        }
    };
    let disable_corrector = match f.get("disable_corrector") {
        None => Vec::new(),
        Some(v) => v
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_u64().map(|k| k as usize))
                    .collect::<Option<Vec<usize>>>()
            })
            .ok_or_else(|| cfg_err("disable_corrector", v, "a list of step indices"))?,
    };
    if variant == UniPcVariant::Bh1 && final_zero {
        notes.push(approx(
            "solver_type",
            "\"bh1\"",
            "diffusers returns NaN from the last step to σ = 0 (its bh1 weight B(h) = h is \
             infinite there and multiplies a zero: ∞·0), whatever the model; gdf's last step \
             returns the limit, the model's x0-prediction, as bh2 does",
        ));
    }
    let st = UniPcSettings {
        order: f.count("solver_order", 2)? as usize,
        variant,
        lower_order_final: f.flag("lower_order_final", true)?,
        disable_corrector,
    };
    let threshold = threshold_of(f, None)?;
    Ok((AnySolver::UniPc(UniPc::with(st)?), threshold))
}

/// DPM-Solver's `variance_type` (learned-variance models): the extra channels are dropped.
fn variance_note(f: &mut Fields, notes: &mut Vec<Approximation>) {
    if let Some(v) = f.get("variance_type") {
        notes.push(approx(
            "variance_type",
            v,
            "the model's extra variance channels are not used: give the solver \
             only the prediction channels (diffusers slices them off too)",
        ));
    }
}

/// DPM-Solver++'s update rule and x0 stage (`DPMSolverMultistepScheduler`).
fn dpm_solver(f: &mut Fields, notes: &mut Vec<Approximation>) -> Result<(AnySolver, Threshold)> {
    variance_note(f, notes);
    let st = dpm_settings(f, true)?;
    let threshold = threshold_of(f, None)?;
    Ok((
        AnySolver::DpmSolverMultistep(DpmSolverMultistep::with(st)?),
        threshold,
    ))
}

/// A class whose flow-sigma fields gdf does not load through it: `use_flow_sigmas` and
/// `use_dynamic_shifting` must be off (`why` says what to do instead); their companions
/// `flow_shift` and `time_shift_type` act only with them and are read and ignored.
fn no_flow_sigmas(f: &mut Fields, why: &str) -> Result<()> {
    f.must_be("use_flow_sigmas", Value::Bool(false), why)?;
    f.must_be(
        "use_dynamic_shifting",
        Value::Bool(false),
        "dynamic shifting exists only with use_flow_sigmas",
    )?;
    f.get("flow_shift");
    f.get("time_shift_type");
    Ok(())
}

/// SA-Solver's settings, its default τ window (τ = 1 for training steps 200…800, as
/// diffusers' `tau_func`, here as a range of λ on the table) and x0 stage.
fn sa_solver(f: &mut Fields, table: &TableSettings) -> Result<(AnySolver, Threshold)> {
    let algorithm = f.text("algorithm_type", "data_prediction")?;
    if algorithm != "data_prediction" {
        return Err(cfg_err(
            "algorithm_type",
            &Value::from(algorithm),
            "\"data_prediction\" (gdf has no noise-prediction SA-Solver)",
        ));
    }
    f.must_be(
        "tau_func",
        Value::Null,
        "null (a Python callable cannot come from a config; gdf's SaSolver takes a TauWindow)",
    )?;
    let clipped = f.f64_or_neg_inf("lambda_min_clipped", f64::NEG_INFINITY)?;
    if clipped != f64::NEG_INFINITY {
        return Err(cfg_err(
            "lambda_min_clipped",
            &Value::from(clipped),
            "-inf (not supported for SASolverScheduler)",
        ));
    }
    let predictor = f.count("predictor_order", 2)? as usize;
    let corrector = f.count("corrector_order", 2)? as usize;
    let lower_order_final = f.flag("lower_order_final", true)?;
    // diffusers' τ(t) = 1 for 200 ≤ t ≤ 800 on its int64 timesteps: λ in (λ(801), λ(200)].
    let tab = DiscreteTable::new(table)?;
    let lam = |t: f64| -2.0 * tab.sigma_at(t).ln();
    let tau = TauWindow {
        lam_lo: lam(801.0),
        lam_hi: lam(200.0),
        tau_in: 1.0,
        tau_out: 0.0,
    };
    let threshold = threshold_of(f, None)?;
    Ok((
        AnySolver::SaSolver(SaSolver::with(
            predictor,
            corrector,
            lower_order_final,
            tau,
        )?),
        threshold,
    ))
}

/// Log-ρ DEIS's settings and x0 stage (`DEISMultistepScheduler`). diffusers maps the
/// DPM-Solver algorithm and solver types onto `deis` / `logrho` (a swapped DPMSolver config
/// keeps working) and raises on the others.
fn deis_solver(f: &mut Fields) -> Result<(AnySolver, Threshold)> {
    let algorithm = f.text("algorithm_type", "deis")?;
    if !["deis", "dpmsolver", "dpmsolver++"].contains(&algorithm.as_str()) {
        return Err(cfg_err(
            "algorithm_type",
            &Value::from(algorithm),
            "\"deis\" (diffusers also maps \"dpmsolver\" and \"dpmsolver++\" to it, and \
             raises on the others)",
        ));
    }
    let solver_type = f.text("solver_type", "logrho")?;
    if !["logrho", "midpoint", "heun", "bh1", "bh2"].contains(&solver_type.as_str()) {
        return Err(cfg_err(
            "solver_type",
            &Value::from(solver_type),
            "\"logrho\" (diffusers also maps midpoint, heun, bh1 and bh2 to it)",
        ));
    }
    let order = f.count("solver_order", 2)? as usize;
    let lower_order_final = f.flag("lower_order_final", true)?;
    let threshold = threshold_of(f, None)?;
    Ok((
        AnySolver::Deis(Deis::with(order, lower_order_final)?),
        threshold,
    ))
}

/// Singlestep DPM-Solver++'s settings and x0 stage (`DPMSolverSinglestepScheduler`).
fn singlestep_solver(
    f: &mut Fields,
    notes: &mut Vec<Approximation>,
) -> Result<(AnySolver, Threshold)> {
    variance_note(f, notes);
    let st = dpm_settings(f, false)?;
    let settings = DpmSinglestepSettings {
        order: st.order,
        algorithm: st.algorithm,
        solver_type: st.solver_type,
        lower_order_final: st.lower_order_final,
        final_sigmas: st.final_sigmas,
    };
    let threshold = threshold_of(f, None)?;
    Ok((
        AnySolver::DpmSolverSinglestep(DpmSolverSinglestep::with(settings)?),
        threshold,
    ))
}

/// Euler's grid with linspace spacing (or log-linear σ): fractional timesteps whose σ is
/// interpolated linearly, which the noise cond's `_sigma_to_t` does not give back exactly.
fn interpolated_steps(s: &DiscreteSettings) -> Approximation {
    approx(
        "timestep_spacing / interpolation_type",
        format!("{:?} / {:?}", s.spacing, s.interpolation),
        "diffusers' fractional Euler timesteps here come from interpolating σ \
         linearly over the step index; the framework's noise cond inverts ln σ \
         (`_sigma_to_t`), which differs between training steps (the grid's \
         `timesteps` are diffusers' exact values)",
    )
}

/// `HeunDiscreteScheduler`, `KDPM2DiscreteScheduler`, `KDPM2AncestralDiscreteScheduler`,
/// `LMSDiscreteScheduler`, `DPMSolverSDEScheduler`: k-diffusion's Heun, DPM-2 (ancestral,
/// η = 1), LMS (order 4, the order diffusers' pipelines leave `step` at) and DPM++ SDE on
/// Euler's grid, with VE latents.
///
/// diffusers runs the two-stage ones as `2N − 1` scheduler steps over interleaved timesteps
/// (each level but the first repeated, KDPM2's midpoints between); gdf's grid has the `N + 1`
/// levels and the solver makes the second evaluation of each step (none on the last, a step
/// to σ = 0, which is Euler's in both).
pub(super) fn k_family(
    f: &mut Fields,
    notes: &mut Vec<Approximation>,
    class: &str,
) -> Result<Parts> {
    let heun = class == "HeunDiscreteScheduler";
    let lms = class == "LMSDiscreteScheduler";
    // DPMSolverSDEScheduler: k-diffusion's DPM++ SDE (η = 1, midpoint r = ½), its two draws
    // from a Brownian tree.
    let sde = class == "DPMSolverSDEScheduler";
    let kdpm2 = !heun && !lms && !sde;
    // Heun's and KDPM2's β defaults are Stable Diffusion's, LMS's DDPM's; none of the four
    // has `rescale_betas_zero_snr`.
    let betas = if lms {
        (0.0001, 0.02, "linear")
    } else {
        (0.00085, 0.012, "linear")
    };
    let table = table_settings_as(f, betas, false)?;
    // KDPM2 and DPMSolverSDE raise NotImplementedError for "sample".
    let target = if kdpm2 || sde {
        target_of(f, &["epsilon", "v_prediction"])?
    } else {
        target_of(f, &["epsilon", "v_prediction", "sample"])?
    };
    let mut s = DiscreteSettings::new(if kdpm2 {
        DiscreteScheduler::KDpm2
    } else {
        DiscreteScheduler::Euler
    });
    s.table = table.clone();
    s.spacing = f.parsed("timestep_spacing", "linspace", str::parse::<Spacing>)?;
    s.steps_offset = f.int("steps_offset", 0)?;
    s.conversion = conversion(f, false)?;
    let threshold = if heun {
        clip_of(f, false)?
    } else {
        Threshold::None
    };
    let solver = match class {
        "HeunDiscreteScheduler" => AnySolver::Heun(Heun::new()),
        "KDPM2DiscreteScheduler" => AnySolver::Dpm2(Dpm2::new()),
        "KDPM2AncestralDiscreteScheduler" => AnySolver::Dpm2Ancestral(Dpm2Ancestral::new()),
        "DPMSolverSDEScheduler" => AnySolver::DpmPPSde(DpmPPSde::new()),
        _ => AnySolver::Lms(Lms::new()),
    };
    if sde {
        if let Some(v) = f.get("noise_sampler_seed").filter(|v| !v.is_null()) {
            notes.push(approx(
                "noise_sampler_seed",
                v,
                "diffusers draws the two noises of each step from a torchsde Brownian tree \
                 with this seed; gdf's BrownianNoise has the same law (increments over \
                 [σ, σ_s] and [σ, σ'], correlated as the tree correlates them) but not \
                 torchsde's numbers: give the run a BrownianNoise (or CounterNoise)",
            ));
        }
    }
    if s.spacing == Spacing::Linspace {
        notes.push(interpolated_steps(&s));
    }
    if kdpm2 && s.conversion == SigmaConversion::Karras {
        notes.push(approx(
            "use_karras_sigmas",
            true,
            "KDPM2 rounds the timesteps of its Karras levels but not those of its midpoints; \
             the framework's noise cond gives both the fractional step `_sigma_to_t` (the \
             grid's `timesteps` are diffusers' rounded values)",
        ));
    }
    // The noise cond rounds where every timestep diffusers gives the network is whole:
    // leading or trailing levels without a σ conversion, and never for KDPM2's or DPM++
    // SDE's midpoints.
    let fractional =
        kdpm2 || sde || s.spacing == Spacing::Linspace || s.conversion != SigmaConversion::None;
    Ok((
        table_framework(&table, target, !fractional)?,
        solver,
        GridSpec::Discrete(s),
        ModelTimestep::TableIndex {
            train_steps: DiscreteTable::new(&table)?.len(),
        },
        LatentFrame::Ve,
        threshold,
    ))
}

/// `LCMScheduler` (latent consistency models, LCM-LoRA) and `TCDScheduler` (TCD-LoRA): DDIM's
/// table (their defaults are SD's scaled-linear β's), the distillation's timesteps
/// (`original_inference_steps`); LCM's consistency solver with the boundary condition at the
/// network's timestep, or TCD's solver with γ = 0.3 (the pipeline's default `eta`; change it
/// with [`crate::solver::Tcd::with_gamma`]). TCD's `step` neither clips nor thresholds (its
/// `clip_sample` / `thresholding` fields are read and have no effect, as in diffusers).
pub(super) fn lcm(f: &mut Fields, class: &str) -> Result<Parts> {
    let tcd = class == "TCDScheduler";
    let table = table_settings_as(f, (0.00085, 0.012, "scaled_linear"), true)?;
    if table.rescale_betas_zero_snr {
        return Err(cfg_err(
            "rescale_betas_zero_snr",
            &Value::Bool(true),
            format!(
                "false for {class} (its rescale puts ᾱ = 0 at the first level, where an \
                 ε-prediction divides by zero; gdf's zero-terminal-SNR table follows the Euler / \
                 DPMSolver schedulers)"
            ),
        ));
    }
    let target = target_of(f, &["epsilon", "v_prediction", "sample"])?;
    let original_steps = f.count("original_inference_steps", 50)? as usize;
    let timestep_scaling = f.f64("timestep_scaling", 10.0)?;
    // Fields of the class that its `set_timesteps` / `step` never read.
    for k in ["set_alpha_to_one", "steps_offset", "timestep_spacing"] {
        f.get(k);
    }
    let threshold = threshold_of(f, Some(false))?;
    let fw = table_framework(&table, target, true)?;
    let grid = GridSpec::Lcm {
        table: table.clone(),
        original_steps,
        denoised_last: !tcd,
    };
    let timestep = ModelTimestep::TableIndex {
        train_steps: DiscreteTable::new(&table)?.len(),
    };
    if tcd {
        let ac = DiscreteTable::new(&table)?
            .alphas_cumprod()
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let solver = Tcd::new(ac, fw.noise_cond.clone(), 0.3)?;
        return Ok((
            fw,
            AnySolver::Tcd(solver),
            grid,
            timestep,
            LatentFrame::Vp,
            Threshold::None,
        ));
    }
    let boundary = LcmBoundary {
        timestep: fw.noise_cond.clone(),
        timestep_scaling,
        sigma_data: 0.5,
    };
    let solver = Lcm::with_boundary(boundary).map_err(|e| match e {
        GdfError::OutOfRange { expected, .. } => {
            cfg_err("timestep_scaling", &Value::from(timestep_scaling), expected)
        }
        other => other,
    })?;
    Ok((
        fw,
        AnySolver::Lcm(solver),
        grid,
        timestep,
        LatentFrame::Vp,
        threshold,
    ))
}

/// `FlowMatchEulerDiscreteScheduler`: the flow's framework, SD3's or Flux's timestep.
pub(super) fn flow_matching(
    f: &mut Fields,
    notes: &mut Vec<Approximation>,
    class: &str,
    pipeline: PipelineKind,
) -> Result<Parts> {
    if let PipelineKind::Mochi { .. } = pipeline {
        return mochi(f, class, pipeline);
    }
    let scale = flow_scale(class, pipeline, "PipelineKind::Sd3 or PipelineKind::Flux")?;
    // FlowMatchHeunDiscreteScheduler has only these two fields (the others are ignored, as
    // diffusers ignores them), and its `set_timesteps` takes no sigmas (Flux passes them).
    let heun = class == "FlowMatchHeunDiscreteScheduler";
    if heun && matches!(pipeline, PipelineKind::Flux { .. }) {
        return Err(wrong_pipeline(
            class,
            pipeline,
            "PipelineKind::Sd3 (its set_timesteps takes no sigmas, which the Flux pipeline \
             passes)",
        ));
    }
    let num_train_timesteps = f.count("num_train_timesteps", 1000)? as usize;
    let shift = f.f64("shift", 1.0)?;
    let settings = if heun {
        FlowMatchSettings {
            num_train_timesteps,
            shift,
            ..FlowMatchSettings::default()
        }
    } else {
        FlowMatchSettings {
            num_train_timesteps,
            shift,
            use_dynamic_shifting: f.flag("use_dynamic_shifting", false)?,
            seq_len_shift: SeqLenShift {
                base_shift: f.f64("base_shift", 0.5)?,
                max_shift: f.f64("max_shift", 1.15)?,
                base_seq_len: f.f64("base_image_seq_len", 256.0)?,
                max_seq_len: f.f64("max_image_seq_len", 4096.0)?,
            },
            time_shift: f.parsed("time_shift_type", "exponential", str::parse::<TimeShift>)?,
            conversion: conversion(f, false)?,
            shift_terminal: f.opt_f64("shift_terminal")?,
            invert_sigmas: f.flag("invert_sigmas", false)?,
        }
    };
    // FlowMatchLCMScheduler: flow-matching Euler's grid and its stochastic step
    // (`x' = (1 − σ')·x0 + σ'·n`, fresh noise every step); its multi-resolution upscaling
    // between steps is not a sampler's business.
    let lcm = class == "FlowMatchLCMScheduler";
    if lcm {
        f.must_be(
            "scale_factors",
            Value::Null,
            "null (FlowMatchLCMScheduler's scale_factors resize x0 between steps; gdf's runs \
             keep one latent size: resize between runs instead)",
        )?;
        f.get("upscale_mode"); // read only with scale_factors
    }
    // LTXEulerAncestralRFScheduler (LTX-Video): flow-matching Euler's grid (its
    // `set_timesteps` delegates to FlowMatchEulerDiscreteScheduler over the same config),
    // ComfyUI's rectified-flow Euler ancestral step with its own `eta`, `s_noise`.
    let ltx = class == "LTXEulerAncestralRFScheduler";
    if ltx && matches!(pipeline, PipelineKind::Flux { .. }) {
        return Err(wrong_pipeline(
            class,
            pipeline,
            "PipelineKind::Sd3 (it takes a custom σ list as the RF sigmas themselves, unshifted, \
             where the Flux pipeline passes sigmas to be shifted)",
        ));
    }
    let rf = if ltx {
        let (eta, s_noise) = (f.f64("eta", 1.0)?, f.f64("s_noise", 1.0)?);
        Some(EulerAncestralRf::with(eta, s_noise).map_err(|e| match &e {
            GdfError::OutOfRange { what: "eta", .. } => named("eta", eta)(e),
            _ => named("s_noise", s_noise)(e),
        })?)
    } else {
        None
    };
    let stochastic = lcm || (!heun && !ltx && f.flag("stochastic_sampling", false)?);
    let (use_dynamic_shifting, time_shift, shift_terminal, invert_sigmas) = (
        settings.use_dynamic_shifting,
        settings.time_shift,
        settings.shift_terminal,
        settings.invert_sigmas,
    );
    let seq = match pipeline {
        PipelineKind::Sd3 { image_seq_len } => image_seq_len,
        PipelineKind::Flux { image_seq_len } => Some(image_seq_len),
        _ => None,
    };
    let mu = match (use_dynamic_shifting, seq) {
        (false, _) => None,
        (true, Some(s)) => Some(settings.seq_len_shift.mu(s)?),
        (true, None) => {
            return Err(GdfError::Config {
                field: "use_dynamic_shifting".into(),
                value: "true".into(),
                expected: "an image_seq_len in the PipelineKind (μ depends on it)".into(),
            })
        }
    };
    if invert_sigmas {
        return Err(cfg_err(
            "invert_sigmas",
            &Value::Bool(true),
            "false with PipelineKind::Sd3 / Flux (the inverted convention, where the \
             scheduler's σ weighs x0, is Mochi's: load it with PipelineKind::Mochi)",
        ));
    }
    // The schedule's shift: the static shift, or e^μ (linear time shift: μ), the
    // latter to 15 significant digits (what a constant of the text form holds).
    let k = match (mu, time_shift) {
        (None, _) => shift,
        (Some(m), TimeShift::Exponential) => digits15(m.exp()),
        (Some(m), TimeShift::Linear) => digits15(m),
    };
    if shift_terminal.is_some() {
        notes.push(approx(
            "shift_terminal",
            shift_terminal.unwrap_or(0.0),
            "the grid stretches to the terminal sigma as diffusers does; the \
             framework's schedule (training, `diffuse`) has only the shift",
        ));
    }
    Ok((
        flow_framework(k, scale),
        if let Some(rf) = rf {
            AnySolver::EulerAncestralRf(rf)
        } else if heun {
            AnySolver::FlowMatchHeun(FlowMatchHeun::new())
        } else if stochastic {
            AnySolver::FlowMatchEuler(FlowMatchEuler::stochastic())
        } else {
            AnySolver::FlowMatchEuler(FlowMatchEuler::new())
        },
        GridSpec::Flow {
            settings,
            sigmas: if matches!(pipeline, PipelineKind::Flux { .. }) {
                PipelineSigmas::Flux
            } else {
                PipelineSigmas::Scheduler
            },
            mu,
        },
        ModelTimestep::FlowSigma { scale },
        LatentFrame::Flow,
        Threshold::None,
    ))
}

/// Mochi (`MochiPipeline`): `FlowMatchEulerDiscreteScheduler` with `invert_sigmas`, its σ
/// weighing x0. gdf reads it in the usual flow frame: the transformer's output (which the
/// scheduler steps along its σ) is the velocity toward the data, `x0 − ε`
/// ([`NegRectifiedFlows`](crate::target::NegRectifiedFlows)), its timestep `(1 − s)·T` of the
/// flow sigma `s` ([`FlowAlpha`](crate::noise_cond::FlowAlpha)), and the step is flow-matching
/// Euler on the pipeline's [`linear_quadratic_sigmas`](super::linear_quadratic_sigmas).
fn mochi(f: &mut Fields, class: &str, pipeline: PipelineKind) -> Result<Parts> {
    let PipelineKind::Mochi {
        threshold_noise,
        linear_steps,
    } = pipeline
    else {
        unreachable!("called for PipelineKind::Mochi")
    };
    if class != "FlowMatchEulerDiscreteScheduler" {
        return Err(wrong_pipeline(
            class,
            pipeline,
            "FlowMatchEulerDiscreteScheduler (Mochi's scheduler)",
        ));
    }
    // The pipeline's arguments, checked now rather than at the first grid.
    super::grid::linear_quadratic_sigmas(
        linear_steps.map_or(2, |l| (l + 1).max(2)),
        threshold_noise,
        linear_steps,
    )?;
    let num_train_timesteps = f.count("num_train_timesteps", 1000)? as usize;
    let shift = f.f64("shift", 1.0)?;
    crate::grid::check_pos("shift", shift).map_err(named("shift", shift))?;
    if !f.flag("invert_sigmas", false)? {
        return Err(cfg_err(
            "invert_sigmas",
            &Value::Bool(false),
            "true for Mochi (its transformer's convention: the scheduler's σ weighs x0)",
        ));
    }
    f.must_be(
        "use_dynamic_shifting",
        Value::Bool(false),
        "false (the Mochi pipeline passes no image_seq_len)",
    )?;
    for k in [
        "base_shift",
        "max_shift",
        "base_image_seq_len",
        "max_image_seq_len",
    ] {
        f.get(k); // read only with dynamic shifting
    }
    f.must_be("shift_terminal", Value::Null, "null for Mochi")?;
    f.must_be(
        "stochastic_sampling",
        Value::Bool(false),
        "false for Mochi (its pipeline samples deterministically)",
    )?;
    let settings = FlowMatchSettings {
        num_train_timesteps,
        shift,
        conversion: conversion(f, false)?,
        invert_sigmas: true,
        ..FlowMatchSettings::default()
    };
    if settings.conversion != SigmaConversion::None {
        return Err(cfg_err(
            "use_karras_sigmas / use_exponential_sigmas / use_beta_sigmas",
            &Value::Bool(true),
            "false for Mochi (the pipeline's linear-quadratic σ's are the schedule)",
        ));
    }
    f.get("time_shift_type"); // read only with dynamic shifting
    let t = num_train_timesteps as f64;
    Ok((
        flow_framework_with(shift, DynTarget::NegRectifiedFlows, CondKind::FlowAlpha(t)),
        AnySolver::FlowMatchEuler(FlowMatchEuler::new()),
        GridSpec::Flow {
            settings,
            sigmas: PipelineSigmas::Mochi {
                threshold_noise,
                linear_steps,
            },
            mu: None,
        },
        ModelTimestep::InvertedFlowSigma { scale: t },
        LatentFrame::Flow,
        Threshold::None,
    ))
}

/// `EDMDPMSolverMultistepScheduler` and `EDMEulerScheduler`: EDM over `x0/σ_data`, DPM-Solver++.
pub(super) fn edm(f: &mut Fields, class: &str) -> Result<Parts> {
    let euler = class == "EDMEulerScheduler";
    // CosineDPMSolverMultistepScheduler (Stable Audio): EDM's preconditioning with the noise
    // cond `atan(σ)·2/π` (the cosine schedule's t), SDE-DPM-Solver++ on a Brownian tree,
    // its own defaults.
    let cosine = class == "CosineDPMSolverMultistepScheduler";
    let (min0, max0, sd0, sched0) = if cosine {
        (0.3, 500.0, 1.0, "exponential")
    } else {
        (0.002, 80.0, 0.5, "karras")
    };
    let sigma_min = f.f64("sigma_min", min0)?;
    let sigma_max = f.f64("sigma_max", max0)?;
    crate::grid::check_sigma_range(sigma_min, sigma_max)?;
    let sd = f.f64("sigma_data", sd0)?;
    crate::grid::check_pos("sigma_data", sd)?;
    let rho = f.f64("rho", 7.0)?;
    crate::grid::check_pos("rho", rho)?;
    let exponential = match f.text("sigma_schedule", sched0)?.as_str() {
        "karras" => false,
        "exponential" => true,
        other => {
            return Err(GdfError::Config {
                field: "sigma_schedule".into(),
                value: format!("{other:?}"),
                expected: "\"karras\" or \"exponential\"".into(),
            })
        }
    };
    f.count("num_train_timesteps", 1000)?; // not used by the EDM scheduler
    let default_target = if cosine { "v_prediction" } else { "epsilon" };
    let target = match target_or(f, &["epsilon", "v_prediction"], default_target)? {
        DynTarget::Epsilon => DynTarget::NegV,
        _ => DynTarget::V,
    };
    // EDMEulerScheduler: k-diffusion's Euler, its own `final_sigmas_type`, no thresholding.
    let (solver, final_zero) = if euler {
        let fs = f.parsed("final_sigmas_type", "zero", str::parse::<GridFinal>)?;
        (AnySolver::Euler(Euler::new()), fs == GridFinal::Zero)
    } else if cosine {
        // Always sde-dpmsolver++ (no algorithm_type field), orders 1 and 2 (its `step` has
        // no third-order update), no thresholding.
        let mut st = dpm_settings(f, true)?;
        if st.order > 2 {
            return Err(cfg_err(
                "solver_order",
                &Value::from(st.order),
                "1 or 2 (CosineDPMSolverMultistepScheduler has no third-order update)",
            ));
        }
        st.algorithm = DpmAlgorithm::SdeDpmSolverPP;
        (
            AnySolver::DpmSolverMultistep(DpmSolverMultistep::with(st)?),
            st.final_sigmas == FinalSigmas::Zero,
        )
    } else {
        let st = dpm_settings(f, true)?;
        (
            AnySolver::DpmSolverMultistep(DpmSolverMultistep::with(st)?),
            st.final_sigmas == FinalSigmas::Zero,
        )
    };
    let threshold = if euler || cosine {
        Threshold::None
    } else {
        threshold_of(f, None)?
    };
    if threshold != Threshold::None {
        // The stage would clamp gdf's x0 (x0/σ_data here), where diffusers thresholds the
        // data-unit x0: the numbers would differ by σ_data, silently.
        return Err(cfg_err(
            "thresholding",
            &Value::Bool(true),
            "false for EDMDPMSolverMultistepScheduler (gdf's EDM frame holds x0/σ_data, and \
             diffusers thresholds x0 in data units; not supported)",
        ));
    }
    // Both conds read the raw σ = σ_data·σ_frame: λ shifted by 2·ln(1/σ_data).
    let mut cond = DynNoiseCond::new(if cosine {
        CondKind::CosineT(0.0)
    } else {
        CondKind::Edm
    });
    cond.shift = digits15(1.0 / sd);
    Ok((
        framework(
            DynSchedule::new(ScheduleKind::EdmSample {
                sigma_range: [digits15(sigma_min / sd), digits15(sigma_max / sd)],
                p: rho,
            }),
            DynScaler::Vp,
            target,
            cond,
            WeightKind::Constant(1.0),
        ),
        solver,
        GridSpec::Edm {
            sigma_min,
            sigma_max,
            rho,
            sigma_data: sd,
            exponential,
            final_zero,
            euler,
            cosine,
        },
        if cosine {
            ModelTimestep::AtanSigma { sigma_data: sd }
        } else {
            ModelTimestep::EdmCNoise { sigma_data: sd }
        },
        LatentFrame::Edm { sigma_data: sd },
        threshold,
    ))
}

/// `DDPMWuerstchenScheduler`: Stable Cascade's cosine framework, Euler ancestral.
pub(super) fn wuerstchen(
    f: &mut Fields,
    notes: &mut Vec<Approximation>,
    class: &str,
    pipeline: PipelineKind,
) -> Result<Parts> {
    let shift = match pipeline {
        PipelineKind::StableCascade { shift } => shift,
        PipelineKind::StableDiffusion => 1.0,
        _ => {
            return Err(wrong_pipeline(
                class,
                pipeline,
                "PipelineKind::StableCascade",
            ))
        }
    };
    crate::grid::check_pos("shift", shift)?;
    let s = f.f64("s", 0.008)?;
    f.must_be(
        "scaler",
        Value::from(1.0),
        "gdf has no time warp t ↦ 1−(1−t)^k of the cosine schedule",
    )?;
    let mut sched = DynSchedule::cosine(VarParams {
        s,
        clamp_range: [0.0001, 0.9999],
        norm_instead: false,
    });
    sched.shift = shift;
    notes.push(approx(
        "_class_name",
        "\"DDPMWuerstchenScheduler\"",
        "the network gets CosineT(λ) (the original GDF's noise cond), which is t \
         except where the ᾱ clamp [1e-4, 0.9999] is active (t = 1 gives 0.99358); \
         diffusers passes t itself",
    ));
    notes.push(approx(
        "_class_name",
        "\"DDPMWuerstchenScheduler\"",
        "the last step (to t = 0, ᾱ = 0.9999) adds Euler-ancestral noise; diffusers' \
         step drops the noise there",
    ));
    Ok((
        framework(
            sched.clone(),
            DynScaler::Vp,
            DynTarget::Epsilon,
            DynNoiseCond::new(CondKind::CosineT(s)),
            WeightKind::P2 {
                k: 1.0,
                gamma: 1.0,
                s: 1.0,
            },
        ),
        AnySolver::EulerAncestral(EulerAncestral::new()),
        GridSpec::Cosine { schedule: sched },
        ModelTimestep::CosineT,
        LatentFrame::Vp,
        Threshold::None,
    ))
}

/// `FlowMapEulerDiscreteScheduler` (AnyFlow's flow-map models): a flow model's framework, Euler
/// along the predicted velocity over [`GridSpec::FlowMap`]. The network takes the level's
/// timestep `σ·T` and the next level's (`r_timestep`): the framework's noise cond at the two
/// levels.
pub(super) fn flow_map(f: &mut Fields, class: &str, pipeline: PipelineKind) -> Result<Parts> {
    if !matches!(pipeline, PipelineKind::Sd3 { .. }) {
        return Err(wrong_pipeline(
            class,
            pipeline,
            "PipelineKind::Sd3 (the transformer takes σ·T and the next level's σ·T)",
        ));
    }
    let num_train_timesteps = f.count("num_train_timesteps", 1000)? as usize;
    let shift = f.f64("shift", 1.0)?;
    crate::grid::check_pos("shift", shift).map_err(named("shift", shift))?;
    let scale = num_train_timesteps as f64;
    Ok((
        flow_framework(shift, scale),
        AnySolver::FlowMatchEuler(FlowMatchEuler::new()),
        GridSpec::FlowMap {
            num_train_timesteps,
            shift,
        },
        ModelTimestep::FlowSigma { scale },
        LatentFrame::Flow,
        Threshold::None,
    ))
}

/// `MiniMaxH3Scheduler` (MiniMax-H3's video and audio latents): flow-matching Euler over
/// [`GridSpec::MiniMaxH3`]; the transformer predicts the velocity toward the data
/// ([`NegRectifiedFlows`](crate::target::NegRectifiedFlows): `denoised = x + σ·p`) and takes
/// `t = 1 − σ` (the [`RectifiedFlows`](crate::noise_cond::RectifiedFlows) noise cond, the
/// LERP scaler's `a`).
pub(super) fn minimax_h3(f: &mut Fields, class: &str, pipeline: PipelineKind) -> Result<Parts> {
    if !matches!(
        pipeline,
        PipelineKind::Sd3 { .. } | PipelineKind::Flux { .. }
    ) {
        return Err(wrong_pipeline(
            class,
            pipeline,
            "a flow pipeline, PipelineKind::Sd3 or Flux (the transformer takes 1 − σ either way)",
        ));
    }
    let shift = f.f64("shift", 12.0)?;
    crate::grid::check_pos("shift", shift).map_err(named("shift", shift))?;
    Ok((
        flow_framework_with(
            shift,
            DynTarget::NegRectifiedFlows,
            CondKind::RectifiedFlows,
        ),
        AnySolver::FlowMatchEuler(FlowMatchEuler::new()),
        GridSpec::MiniMaxH3 { shift },
        ModelTimestep::FlowAlpha,
        LatentFrame::Flow,
        Threshold::None,
    ))
}

/// `SCMScheduler` (SANA-Sprint's sCM, TrigFlow): `x = cos(s)·x0 + sin(s)·σ_d·ε` is VP with
/// `(a, b) = (cos s, sin s)` in `σ_d` units, and the pipeline feeds its flow transformer the
/// flow latents at `τ = sin s/(sin s + cos s)`, converting the predicted velocity into
/// TrigFlow's `F` (VP's v) for `step`. So gdf loads the transformer's own framework (LERP
/// scaler, flow velocity, noise cond `τ`): the model sees gdf's `x` and its output is fed
/// as it is. The step, `x0 = cos(s)·x − sin(s)·F` renoised to the next angle with fresh
/// noise, is [`Lcm`] without a boundary condition; the pipeline returns the last step's x0
/// ([`GridSpec::Scm`] ends at σ = 0).
pub(super) fn scm(
    f: &mut Fields,
    notes: &mut Vec<Approximation>,
    class: &str,
    pipeline: PipelineKind,
) -> Result<Parts> {
    let PipelineKind::SanaSprint {
        max_timesteps,
        intermediate_timesteps,
    } = pipeline
    else {
        return Err(wrong_pipeline(
            class,
            pipeline,
            "PipelineKind::SanaSprint (PipelineKind::SANA_SPRINT: the pipeline's default \
             angles)",
        ));
    };
    let train_steps = f.count("num_train_timesteps", 1000)? as usize;
    target_or(f, &["trigflow"], "trigflow")?;
    let sigma_data = f.f64("sigma_data", 0.5)?;
    crate::grid::check_pos("sigma_data", sigma_data).map_err(named("sigma_data", sigma_data))?;
    // Angles beyond the first quadrant's end by more than the pipeline's default rounding.
    let top = super::grid::SCM_MAX_ANGLE;
    if !(max_timesteps > 0.0 && max_timesteps <= top) {
        return Err(GdfError::OutOfRange {
            what: "max_timesteps",
            value: max_timesteps,
            expected: "an angle in (0, 1.5708] (π/2 = 1.5707963…, rounded up by the pipeline)",
        });
    }
    if let Some(m) = intermediate_timesteps {
        if !(m > 0.0 && m < max_timesteps) {
            return Err(GdfError::OutOfRange {
                what: "intermediate_timesteps",
                value: m,
                expected: "an angle between 0 and max_timesteps",
            });
        }
    }
    if f64::from(max_timesteps as f32) > core::f64::consts::FRAC_PI_2 {
        notes.push(approx(
            "max_timesteps",
            max_timesteps,
            "past π/2 in float32: diffusers' first level has cos(s) < 0 (−3.6e-6 at 1.5708, \
             a level no logSNR describes) and the transformer gets τ = 1.0000037 and its \
             input scaled by as much; gdf starts at pure noise (a = 0, τ = 1). The first \
             call's inputs differ by 3.7e-6 relative (the golden mixture's x0 moves by up to \
             4e-5); the step itself is the same (x0 from the prediction, renoised)",
        ));
    }
    Ok((
        flow_framework(1.0, 1.0),
        AnySolver::Lcm(Lcm::new()),
        GridSpec::Scm {
            train_steps,
            max_timesteps: max_timesteps as f32,
            intermediate_timesteps: intermediate_timesteps.map(|m| m as f32),
        },
        ModelTimestep::FlowSigma { scale: 1.0 },
        LatentFrame::TrigFlow { sigma_data },
        Threshold::None,
    ))
}

/// `DPMSolverMultistepInverseScheduler` (DPM-Solver++ inversion: DiffEdit, editing): the
/// forward class's framework and deterministic multistep update run toward noise on an
/// inversion grid ([`GridSpec::DpmInverse`]); the model takes the timestep of the level each
/// step starts from. Its SDE forms (no real noise toward noise: `√(1 − e^{−2h})` of `h < 0`),
/// σ conversions (diffusers lists those σ's noisiest first, not an inversion) and flow sigmas
/// are refused by name.
pub(super) fn dpm_inverse(f: &mut Fields, notes: &mut Vec<Approximation>) -> Result<Parts> {
    // No rescale_betas_zero_snr field in this class.
    let table = table_settings_as(f, (0.0001, 0.02, "linear"), false)?;
    let target = target_of(f, &["epsilon", "v_prediction", "sample"])?;
    let spacing = f.parsed("timestep_spacing", "linspace", str::parse::<Spacing>)?;
    let steps_offset = f.int("steps_offset", 0)?;
    let lambda_min_clipped = f.f64_or_neg_inf("lambda_min_clipped", f64::NEG_INFINITY)?;
    if lambda_min_clipped.is_nan() {
        return Err(cfg_err(
            "lambda_min_clipped",
            &Value::from("NaN"),
            "a number or -inf",
        ));
    }
    for k in [
        "use_karras_sigmas",
        "use_exponential_sigmas",
        "use_beta_sigmas",
    ] {
        f.must_be(
            k,
            Value::Bool(false),
            "false for DPMSolverMultistepInverseScheduler (diffusers lists the converted σ's \
             noisiest first, which is no inversion)",
        )?;
    }
    f.must_be(
        "use_flow_sigmas",
        Value::Bool(false),
        "false (gdf inverts over the discrete table only)",
    )?;
    f.get("flow_shift"); // read only with use_flow_sigmas
    variance_note(f, notes);
    let mut st = dpm_settings_as(f, true, false)?;
    if st.algorithm == DpmAlgorithm::SdeDpmSolverPP {
        return Err(cfg_err(
            "algorithm_type",
            &Value::from("sde-dpmsolver++"),
            "\"dpmsolver++\" for an inversion (the SDE form's noise toward noise has no real \
             amount: diffusers returns NaN)",
        ));
    }
    // The inverse class has no final_sigmas_type (its last step's order follows
    // lower_order_final and euler_at_final alone; the field, if present, is ignored).
    st.final_sigmas = FinalSigmas::SigmaMin;
    let heun = st.solver_type == SolverType::Heun;
    if spacing == Spacing::Trailing && !st.euler_at_final && (st.order == 3 || heun) {
        notes.push(approx(
            "timestep_spacing / solver_order / solver_type",
            format!("\"trailing\" / {} / {:?}", st.order, st.solver_type),
            "the trailing list reaches T − 1 and diffusers appends σ(T − 1) again: a last \
             step of length 0, in which its third-order and second-order heun updates (15 \
             steps or more, or lower_order_final off) divide 0 by 0: diffusers returns NaN \
             there; gdf's step keeps the sample (the limit, which the first-order and \
             midpoint updates give)",
        ));
    }
    let threshold = threshold_of(f, None)?;
    let fw = table_framework(&table, target, true)?;
    Ok((
        fw,
        AnySolver::DpmSolverMultistep(DpmSolverMultistep::with(st)?),
        GridSpec::DpmInverse {
            table: table.clone(),
            spacing,
            steps_offset,
            lambda_min_clipped,
        },
        ModelTimestep::TableIndex {
            train_steps: DiscreteTable::new(&table)?.len(),
        },
        LatentFrame::Vp,
        threshold,
    ))
}

/// `CMStochasticIterativeScheduler` (consistency models, `ConsistencyModelPipeline`): EDM's
/// framework over `x0/σ_data` (as the EDM schedulers) with the consistency models' output
/// parameterisation as the target ([`Consistency`](crate::target::Consistency) at
/// `σ_min/σ_d`), the network's timestep `250·ln σ` ([`LogSigma`](crate::noise_cond::LogSigma)
/// of the σ in data units), and multistep consistency sampling ([`Lcm`] with the
/// consistency models' renoise, [`Lcm::with_noise_floor`]) on Karras levels taken from the
/// training ramp ([`GridSpec::Cm`]). `clip_denoised` clamps the data-unit x0 to `[−1, 1]`:
/// gdf's x0 to `±1/σ_d`.
pub(super) fn consistency_models(f: &mut Fields, notes: &mut Vec<Approximation>) -> Result<Parts> {
    let train_steps = f.count("num_train_timesteps", 40)?;
    if train_steps < 2 {
        return Err(cfg_err(
            "num_train_timesteps",
            &Value::from(train_steps),
            "at least 2 (the Karras ramp divides by num_train_timesteps − 1)",
        ));
    }
    let sigma_min = f.f64("sigma_min", 0.002)?;
    let sigma_max = f.f64("sigma_max", 80.0)?;
    crate::grid::check_sigma_range(sigma_min, sigma_max)?;
    let sd = f.f64("sigma_data", 0.5)?;
    crate::grid::check_pos("sigma_data", sd).map_err(named("sigma_data", sd))?;
    let rho = f.f64("rho", 7.0)?;
    crate::grid::check_pos("rho", rho).map_err(named("rho", rho))?;
    let s_noise = f.f64("s_noise", 1.0)?;
    if !(s_noise.is_finite() && s_noise >= 0.0) {
        return Err(cfg_err(
            "s_noise",
            &Value::from(s_noise),
            "a finite number ≥ 0",
        ));
    }
    let threshold = if f.flag("clip_denoised", true)? {
        Threshold::clip(1.0 / sd)?
    } else {
        Threshold::None
    };
    notes.push(approx(
        "_class_name",
        "\"CMStochasticIterativeScheduler\"",
        "the noise cond gives 250·ln σ of the level's float32 σ; diffusers' timesteps are \
         250·ln σ of its float64 Karras σ before the rounding: within 250·2⁻²⁴ ≈ 1.5e-5 \
         (the grid's `timesteps` are diffusers' values)",
    ));
    let floor = digits15(sigma_min / sd);
    let mut cond = DynNoiseCond::new(CondKind::LogSigma(250.0));
    cond.shift = digits15(1.0 / sd);
    Ok((
        framework(
            DynSchedule::new(ScheduleKind::EdmSample {
                sigma_range: [floor, digits15(sigma_max / sd)],
                p: rho,
            }),
            DynScaler::Vp,
            DynTarget::Consistency(floor),
            cond,
            WeightKind::Constant(1.0),
        ),
        AnySolver::Lcm(Lcm::new().with_noise_floor(floor, s_noise)?),
        GridSpec::Cm {
            train_steps: train_steps as usize,
            sigma_min,
            sigma_max,
            rho,
            sigma_data: sd,
        },
        ModelTimestep::CmLogSigma { sigma_data: sd },
        LatentFrame::Edm { sigma_data: sd },
        threshold,
    ))
}

/// `IPNDMScheduler` (Dance Diffusion): a v-prediction model over the cosine schedule (`a =
/// cos(π·t/2)`, `b = sin(π·t/2)`; the network takes `t`), sampled on diffusers' "crash" grid
/// ([`GridSpec::Ipndm`]) by [`Ipndm`].
pub(super) fn ipndm(f: &mut Fields) -> Result<Parts> {
    f.count("num_train_timesteps", 1000)?; // only `len(scheduler)` reads it
    if let Some(v) = f.get("trained_betas") {
        return Err(cfg_err(
            "trained_betas",
            v,
            "null (IPNDMScheduler takes such a list as the b's of one run's n + 1 levels; \
             give its levels to the solver as a grid instead)",
        ));
    }
    Ok((
        framework(
            DynSchedule::cosine(VarParams {
                s: 0.0,
                clamp_range: [0.0, 1.0],
                norm_instead: false,
            }),
            DynScaler::Vp,
            DynTarget::V,
            DynNoiseCond::new(CondKind::CosineT(0.0)),
            WeightKind::Constant(1.0),
        ),
        AnySolver::Ipndm(Ipndm::new()),
        GridSpec::Ipndm,
        ModelTimestep::CosineT,
        LatentFrame::Vp,
        Threshold::None,
    ))
}

/// The framework over diffusers' float32 table: `PiecewiseLinear` with knot `k` at
/// `t = k/(N−1)`, and the timestep as diffusers' `_sigma_to_t` of the level (rounded for
/// integer timesteps).
fn table_framework(s: &TableSettings, target: DynTarget, round: bool) -> Result<DynGdf> {
    let tab = DiscreteTable::new(s)?;
    let n = tab.len();
    let xs: Vec<f64> = (0..n).map(|k| k as f64 / (n - 1) as f64).collect();
    let ys: Vec<f64> = tab.alphas_cumprod().iter().map(|&v| f64::from(v)).collect();
    let table = Table::new(xs, ys)?;
    let ls: Vec<f64> = tab.log_sigmas().iter().map(|&v| f64::from(v)).collect();
    let cond = DynNoiseCond::new(CondKind::TableTimestep(TableTimestep::new(ls, round)?));
    Ok(framework(
        DynSchedule::new(ScheduleKind::PiecewiseLinear(table)),
        DynScaler::Vp,
        target,
        cond,
        WeightKind::Constant(1.0),
    ))
}

fn framework(
    schedule: DynSchedule,
    scaler: DynScaler,
    target: DynTarget,
    cond: DynNoiseCond,
    weight: WeightKind,
) -> DynGdf {
    DynGdf::new(schedule, scaler, target, cond, DynLossWeight::new(weight))
}

/// `v` to 15 significant digits.
fn digits15(v: f64) -> f64 {
    format!("{v:.14e}").parse().unwrap_or(v)
}
