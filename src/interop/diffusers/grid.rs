//! The grids of the loaded schedulers ([`GridSpec`]): diffusers' `set_timesteps` for `n`
//! steps, in gdf's frame.

use crate::dynamic::DynSchedule;
use crate::error::{GdfError, Result};
use crate::grid::discrete::{
    continuous_timestep, DiscreteSettings, FinalSigmas, SigmaConversion, Spacing,
};
use crate::grid::flow::FlowMatchSettings;
use crate::grid::table::{alphas_cumprod_f64, DiscreteTable, TableSettings};
use crate::grid::{np_linspace, Grid as Levels, SigmaKind, Timesteps};
use crate::schedule::Schedule;

/// How to build diffusers' sampling grid for `n` steps (see [`GridSpec::grid`]).
#[derive(Clone, Debug, PartialEq)]
pub enum GridSpec {
    /// `DDIMScheduler` (and `PNDMScheduler`, DDIM's grid with PLMS on it): integer timesteps by
    /// `timestep_spacing` + `steps_offset`, levels `ᾱ[t]`, each step going to
    /// `ᾱ[t − N//n]`, the last to `ᾱ₀` or, with `set_alpha_to_one`, to `ᾱ = 1` (σ = 0).
    Ddim {
        /// The training table.
        table: TableSettings,
        /// `timestep_spacing`.
        spacing: Spacing,
        /// `steps_offset`.
        steps_offset: i64,
        /// `set_alpha_to_one`.
        set_alpha_to_one: bool,
    },
    /// `DDPMScheduler`: integer timesteps by `timestep_spacing` + `steps_offset`, levels
    /// `ᾱ[t]`, each step going to the next listed timestep (diffusers' `previous_timestep`,
    /// so uneven spacings are fine), the last to `ᾱ = 1` (σ = 0).
    Ddpm {
        /// The training table.
        table: TableSettings,
        /// `timestep_spacing`.
        spacing: Spacing,
        /// `steps_offset`.
        steps_offset: i64,
    },
    /// `EulerDiscreteScheduler` and `DPMSolverMultistepScheduler` grids
    /// ([`DiscreteSettings`]).
    Discrete(DiscreteSettings),
    /// `FlowMatchEulerDiscreteScheduler` ([`FlowMatchSettings`]). With `invert_sigmas`
    /// (Mochi) the grid's levels are gdf's flow sigmas `1 − s` of diffusers' inverted list
    /// (its `s` weighs x0 in that convention), ending at 0; the timesteps are diffusers'.
    Flow {
        /// The scheduler's settings.
        settings: FlowMatchSettings,
        /// The σ list the pipeline passes instead of the scheduler's own, if any.
        sigmas: PipelineSigmas,
        /// μ for dynamic shifting.
        mu: Option<f64>,
    },
    /// `DPMSolverMultistepScheduler` / `UniPCMultistepScheduler` with `use_flow_sigmas`
    /// (SANA, Wan): flow sigmas `s` shifted by `k·s/(1 + (k−1)·s)`, from DPMSolver's list
    /// (`1 − linspace(1, 1/T, n+1)` reversed, its 0 dropped) or UniPC's
    /// (`linspace(1, 1/T, n+1)` without its last, the first `1 − 10⁻⁶`), in float64, then
    /// float32; timesteps `s·T` truncated to integers (diffusers' int64).
    FlowSigmas {
        /// UniPC's list (else DPMSolver's).
        unipc: bool,
        /// `num_train_timesteps` (`T`).
        num_train_timesteps: usize,
        /// `flow_shift` (`k`).
        flow_shift: f64,
        /// UniPC's `shift_terminal`: the shifted list stretched so it ends there.
        shift_terminal: Option<f64>,
        /// `final_sigmas_type`: zero, or `sigma_min`, which is UniPC's last listed σ (a
        /// zero-length last step) and DPMSolver's `table_sigma_min`.
        final_sigmas: FinalSigmas,
        /// DPMSolver's `sigma_min` final σ: the VE `σ_0` of the config's β table, used as a
        /// flow sigma (as diffusers does).
        table_sigma_min: f64,
    },
    /// `EDMDPMSolverMultistepScheduler`: Karras (ρ) or log-uniform σ in float32 as diffusers
    /// computes them, then the final σ. The grid's `sigmas` are in units of `σ_data`
    /// (`σ/σ_data = b/a` of gdf's VP frame over `x0/σ_data`).
    ///
    /// With `final_sigmas_type = "sigma_min"` diffusers' final σ is float32 `sigma_min`, which
    /// the float32 Karras ramp can end a float32 ulp below (0.0019999996 for 0.002): a last
    /// step that adds that ulp of noise. gdf's last σ is the lower of the two, a zero-length
    /// last step (the sample differs from diffusers' by about 1e-7).
    Edm {
        /// `sigma_min` (data units).
        sigma_min: f64,
        /// `sigma_max` (data units).
        sigma_max: f64,
        /// `rho`.
        rho: f64,
        /// `sigma_data`.
        sigma_data: f64,
        /// `sigma_schedule = "exponential"` instead of `"karras"`.
        exponential: bool,
        /// `final_sigmas_type = "zero"` (else `sigma_min`).
        final_zero: bool,
        /// `EDMEulerScheduler`'s conventions: the Karras ramp in float64 (rounded to float32
        /// at the end), and a `sigma_min` final σ equal to the ramp's last (a zero-length last
        /// step).
        euler: bool,
        /// `CosineDPMSolverMultistepScheduler`'s timesteps `atan(σ)·2/π` (else EDM's
        /// `¼ ln σ`).
        cosine: bool,
    },
    /// `DPMSolverMultistepInverseScheduler`: an inversion grid ([`Levels`] whose λ decreases:
    /// build the run's grid with [`Loaded::solver_grid`](super::Loaded::solver_grid), which
    /// gives a [`crate::solver::Grid::inverse`]). Integer timesteps ascending from the clean
    /// end by `timestep_spacing` (`linspace(0, T', n + 1)` rounded without its last, `leading`
    /// `i·((T' + 1) // (n + 1)) + steps_offset`, `trailing` the forward list reversed), with
    /// `T'` the noisiest step `lambda_min_clipped` leaves; levels the table's σ there, then
    /// σ of `T'` (a zero-length last step where the list already reaches it).
    DpmInverse {
        /// The training table.
        table: TableSettings,
        /// `timestep_spacing`.
        spacing: Spacing,
        /// `steps_offset` (leading).
        steps_offset: i64,
        /// `lambda_min_clipped`.
        lambda_min_clipped: f64,
    },
    /// `CMStochasticIterativeScheduler` (consistency models): `n` training indices
    /// `i·(T // n)` (or a custom list), each read as the Karras ramp position `i/(T − 1)`
    /// from `sigma_max` (0) to `sigma_min` (1) in float64, the levels in float32, then
    /// `sigma_min` itself as the last (diffusers appends float32 `sigma_min`, 5e-8 above;
    /// its last step adds `√(σ'² − σ_min²)` of that, 6.7e-7 in float32 at 0.002, gdf's none);
    /// timesteps `250·ln σ` of the float64 σ's.
    /// The grid's `sigmas` are in units of `σ_data` (as [`GridSpec::Edm`]'s).
    Cm {
        /// `num_train_timesteps` (`T`, at least 2).
        train_steps: usize,
        /// `sigma_min` (data units).
        sigma_min: f64,
        /// `sigma_max` (data units).
        sigma_max: f64,
        /// `rho`.
        rho: f64,
        /// `sigma_data`.
        sigma_data: f64,
    },
    /// `LCMScheduler` and `TCDScheduler`: the distillation's timesteps `k·i − 1`
    /// (`i = 1…original_steps`, `k = T // original_steps`), `n` of them taken noisiest first
    /// at the indices `⌊j·original_steps/n⌋`, levels `ᾱ[t]`; the last step to σ = 0 (LCM's
    /// denoised sample) or to the training step 0 (TCD).
    Lcm {
        /// The training table.
        table: TableSettings,
        /// `original_inference_steps` (the distillation's schedule length).
        original_steps: usize,
        /// The last level is σ = 0 (LCM), else `ᾱ_0` (TCD).
        denoised_last: bool,
    },
    /// `IPNDMScheduler`'s grid: `s = linspace(1, 0, n+1)`, `b = sin(s·π/2)²`,
    /// `a = sqrt(1 − b²)` (v-diffusion's "crash" schedule), timesteps `atan2(b, a)·2/π` (the
    /// cosine schedule's `t` of the level), all in float32 as diffusers computes them. The
    /// grid starts at `a = 0` (λ = −∞) and ends at `b = 0` (λ = +∞).
    ///
    /// diffusers' float32 `sin` is torch's (on x86 wheels MKL's vector math, within 1 ulp),
    /// gdf's the C library's (correctly rounded in almost every case): they differ in the last
    /// bit of a few levels' `b` (the levels of 10 and 25 steps agree exactly; a 1-ulp `b`
    /// moves λ by `2e-6` at 100 steps, by up to `6e-4` at 1000, where `1 − b²` is small).
    Ipndm,
    /// `FlowMapEulerDiscreteScheduler` (AnyFlow's flow-map models): flow sigmas
    /// `linspace(1, 0, n+1)` without the last, shifted by `k·s/(1 + (k−1)·s)` and a 0
    /// appended, all in float64 (as diffusers keeps them on the CPU); timesteps `σ·T`.
    FlowMap {
        /// `num_train_timesteps` (`T`).
        num_train_timesteps: usize,
        /// `shift` (`k`).
        shift: f64,
    },
    /// `MiniMaxH3Scheduler`: `n + 1` flow sigmas `linspace(1, 0, n + 1)` shifted by
    /// `k·s/(1 + (k−1)·s)` in float32, repeats dropped (diffusers' `unique_consecutive`);
    /// timesteps `1 − σ`. diffusers' `set_timesteps(m)` counts the levels, σ = 0 included, so
    /// gdf's `n` steps are its `set_timesteps(n + 1)` (the pipeline's `num_inference_steps =
    /// 50` runs 49 steps: `grid(49)`).
    MiniMaxH3 {
        /// `shift` (`k`).
        shift: f64,
    },
    /// `SCMScheduler` (SANA-Sprint): TrigFlow angles `s`, `[max, intermediate, 0]` for two
    /// steps with an intermediate angle, else `linspace(max, 0, n + 1)`, in float32; the
    /// level of `s` is `λ = 2·ln(cot s)` (`−∞` from π/2 on), its flow sigma
    /// `τ = sin s/(sin s + cos s)`; the timesteps are the angles `step` gets (the first `n`).
    Scm {
        /// `num_train_timesteps` (diffusers refuses more steps).
        train_steps: usize,
        /// The pipeline's `max_timesteps`, in float32.
        max_timesteps: f32,
        /// The pipeline's `intermediate_timesteps`, in float32.
        intermediate_timesteps: Option<f32>,
    },
    /// `DDPMWuerstchenScheduler`: `t = linspace(1, 0, n+1)` (float32) through the
    /// framework's cosine schedule.
    Cosine {
        /// The schedule (with the pipeline's shift).
        schedule: DynSchedule,
    },
}

/// The σ list a flow pipeline passes to `set_timesteps(sigmas=…)` (see [`GridSpec::Flow`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PipelineSigmas {
    /// None: the scheduler's own `n` sigmas.
    Scheduler,
    /// The Flux pipeline's `linspace(1, 1/n, n)`.
    Flux,
    /// Mochi's `linear_quadratic_schedule(n, threshold_noise, linear_steps)`: `1 − x` of a
    /// ramp that rises linearly by `threshold_noise` over the first `linear_steps` (default
    /// `n // 2`) and quadratically to 1 after.
    Mochi {
        /// `threshold_noise` (the pipeline's default 0.025).
        threshold_noise: f64,
        /// `linear_steps` (the pipeline's default `None`: `n // 2`).
        linear_steps: Option<usize>,
    },
}

/// Mochi's linear-quadratic σ list for `n` steps (`n ≥ 2`, `1 ≤ linear_steps < n`): `1 − x_i`
/// with `x_i = i·θ/L` for `i < L` and `q·i² + l·i + c` after, the quadratic meeting the line
/// at `i = L` and reaching 1 at `i = n` (`q = (L − θn)/(L·Q²)`, `l = θ/L − 2(L − θn)/Q²`,
/// `c = q·L²`, `Q = n − L`).
///
/// ```
/// use gdf::interop::diffusers::linear_quadratic_sigmas;
/// let s = linear_quadratic_sigmas(4, 0.025, None)?;
/// assert_eq!(s[0], 1.0);
/// assert!((s[1] - (1.0 - 0.0125)).abs() < 1e-15);
/// assert!(s.windows(2).all(|w| w[1] < w[0]) && s[3] > 0.0);
/// # Ok::<(), gdf::GdfError>(())
/// ```
///
/// Errors: [`GdfError::OutOfRange`] naming `num_inference_steps` below 2, `linear_steps`
/// outside `1..n`, or `threshold_noise` outside `(0, 1)`.
pub fn linear_quadratic_sigmas(
    n: usize,
    threshold_noise: f64,
    linear_steps: Option<usize>,
) -> Result<Vec<f64>> {
    if n < 2 {
        return Err(GdfError::OutOfRange {
            what: "num_inference_steps",
            value: n as f64,
            expected: "at least 2 (Mochi's schedule divides by n // 2)",
        });
    }
    if !(threshold_noise > 0.0 && threshold_noise < 1.0) {
        return Err(GdfError::OutOfRange {
            what: "threshold_noise",
            value: threshold_noise,
            expected: "a noise level in (0, 1)",
        });
    }
    let l = linear_steps.unwrap_or(n / 2);
    if !(1..n).contains(&l) {
        return Err(GdfError::OutOfRange {
            what: "linear_steps",
            value: l as f64,
            expected: "at least 1 and below the step count",
        });
    }
    Ok(mochi_sigmas(n, threshold_noise, l))
}

/// Mochi's schedule's `n` σ's (`1 − x_i`, see [`linear_quadratic_sigmas`]) for settings the
/// caller has checked (`n ≥ 2`, `1 ≤ l < n`); ComfyUI's `linear_quadratic` scheduler shares it.
pub(crate) fn mochi_sigmas(n: usize, threshold_noise: f64, l: usize) -> Vec<f64> {
    let (lf, q) = (l as f64, (n - l) as f64);
    let diff = lf - threshold_noise * n as f64;
    let qc = diff / (lf * (q * q));
    let lc = threshold_noise / lf - 2.0 * diff / (q * q);
    let c = qc * (lf * lf);
    (0..n)
        .map(|i| {
            let i = i as f64;
            let x = if i < lf {
                i * threshold_noise / lf
            } else {
                qc * (i * i) + lc * i + c
            };
            1.0 - x
        })
        .collect()
}

impl GridSpec {
    /// diffusers' grid for `n` sampling steps, in gdf's frame: `logsnr` per level (noisiest
    /// first, the final level last), `sigmas` as described per variant, `timesteps` as
    /// the scheduler lists them.
    ///
    /// Errors: [`GdfError::OutOfRange`] for `n = 0` or more steps than the table has;
    /// [`GdfError::Config`] for a DDIM spacing whose steps are uneven for this `n` (DDIM
    /// always steps from `t` to `t − N//n`; DDPM steps through its list, so any spacing
    /// fits), a DDPM trailing count for which numpy lists one timestep more (−1), a leading
    /// spacing whose first timestep plus `steps_offset` passes the table, a spacing that
    /// repeats a timestep (DPMSolver / UniPC),
    /// and any grid whose levels do not decrease in noise (e.g. Stable Cascade at more
    /// than 155 steps, where diffusers' ᾱ clamp makes the first levels coincide), naming
    /// the fields and the step count that fits where there is one.
    pub fn grid(&self, n: usize) -> Result<Levels> {
        crate::grid::check_steps(n)?;
        let g = self.levels(n)?;
        let g = crate::grid::no_nan(g, "the scheduler's grid", || {
            format!("{:.300}", format!("{self:?}"))
        })?;
        if let GridSpec::DpmInverse { .. } = self {
            // Toward noise: the mirror image of the rule below.
            let neg: Vec<f64> = g.logsnr.iter().map(|l| -l).collect();
            return match repeated_level(&neg) {
                None => Ok(g),
                Some(i) => Err(GdfError::Config {
                    field: "timestep_spacing / steps_offset / lambda_min_clipped".into(),
                    value: format!("{n} steps"),
                    expected: format!(
                        "levels that increase in noise: level {i} (λ = {}) does not lie below \
                         level {} (λ = {}); only the last two levels may coincide",
                        g.logsnr[i],
                        i - 1,
                        g.logsnr[i - 1]
                    ),
                }),
            };
        }
        match repeated_level(&g.logsnr) {
            None => Ok(g),
            Some(i) => Err(self.repeated(n, &g.logsnr, i)),
        }
    }

    /// The error for a grid whose level `i` does not lie above level `i − 1` in λ.
    fn repeated(&self, n: usize, lam: &[f64], i: usize) -> GdfError {
        if let GridSpec::Cosine { .. } = self {
            // diffusers clamps ᾱ(t) to [1e-4, 0.9999]: at many steps the first levels (t
            // near 1) or the last ones (t near 0) share one ᾱ. Its step between two such
            // levels leaves the latents unchanged; gdf's solvers need distinct levels.
            // The clamp holds more levels together the more steps there are: bisect for
            // the largest count whose levels stay distinct.
            let ok = |m: usize| {
                self.levels(m)
                    .is_ok_and(|g| repeated_level(&g.logsnr).is_none())
            };
            let (mut lo, mut hi) = (1, n);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if ok(mid) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let fits = if ok(lo) {
                format!("at most {lo} steps")
            } else {
                "fewer steps".to_string()
            };
            return GdfError::Config {
                field: "_class_name".into(),
                value: format!("\"DDPMWuerstchenScheduler\" with {n} steps"),
                expected: format!(
                    "distinct levels: diffusers clamps ᾱ(t) to [1e-4, 0.9999], so levels \
                     {} and {i} of t = linspace(1, 0, {}) share λ = {} (diffusers' step \
                     between them leaves the latents unchanged; gdf's solvers need distinct \
                     levels); use {fits}",
                    i - 1,
                    n + 1,
                    lam[i]
                ),
            };
        }
        let fields = match self {
            GridSpec::Ddim { .. } | GridSpec::Ddpm { .. } => "timestep_spacing / steps_offset",
            GridSpec::Discrete(_) => {
                "timestep_spacing / steps_offset / use_karras_sigmas / use_exponential_sigmas \
                 / use_beta_sigmas / sigma_min / sigma_max"
            }
            GridSpec::Flow { .. } => "shift / shift_terminal / use_dynamic_shifting",
            GridSpec::Edm { .. } => "sigma_min / sigma_max / rho",
            GridSpec::FlowSigmas { .. } => "flow_shift / shift_terminal",
            GridSpec::Lcm { .. } => "original_inference_steps",
            GridSpec::Cm { .. } => "sigma_min / sigma_max / rho",
            GridSpec::DpmInverse { .. } => "timestep_spacing / steps_offset / lambda_min_clipped",
            // float32 b = sin²(π·s/2) rounds to 1 next to s = 1 past about 9000 steps.
            GridSpec::Ipndm => "num_inference_steps",
            GridSpec::FlowMap { .. } => "shift",
            GridSpec::Scm { .. } => "max_timesteps / intermediate_timesteps",
            GridSpec::MiniMaxH3 { .. } => "shift",
            GridSpec::Cosine { .. } => unreachable!("handled above"),
        };
        GdfError::Config {
            field: fields.into(),
            value: format!("{n} steps"),
            expected: format!(
                "levels that decrease in noise: level {i} (λ = {}) does not lie above level {} \
                 (λ = {}); only the last two levels may coincide",
                lam[i],
                i - 1,
                lam[i - 1]
            ),
        }
    }

    fn levels(&self, n: usize) -> Result<Levels> {
        match self {
            GridSpec::Ddim {
                table,
                spacing,
                steps_offset,
                set_alpha_to_one,
            } => ddim_grid(
                table,
                *spacing,
                *steps_offset,
                Final::Ddim(*set_alpha_to_one),
                n,
            ),
            GridSpec::Ddpm {
                table,
                spacing,
                steps_offset,
            } => ddim_grid(table, *spacing, *steps_offset, Final::Ddpm, n),
            GridSpec::Discrete(s) => s.grid(n),
            GridSpec::Flow {
                settings,
                sigmas,
                mu,
            } => match *sigmas {
                PipelineSigmas::Scheduler => settings.grid(n, *mu),
                PipelineSigmas::Flux => {
                    let s = np_linspace(1.0, 1.0 / n as f64, n);
                    settings.grid_from_sigmas(&s, *mu)
                }
                PipelineSigmas::Mochi {
                    threshold_noise,
                    linear_steps,
                } => {
                    let s = linear_quadratic_sigmas(n, threshold_noise, linear_steps)?;
                    settings.grid_from_sigmas(&s, *mu)
                }
            },
            GridSpec::Edm {
                sigma_min,
                sigma_max,
                rho,
                sigma_data,
                exponential,
                final_zero,
                euler,
                cosine,
            } => Ok(edm_grid(
                (*sigma_min, *sigma_max, *rho, *sigma_data),
                *exponential,
                *final_zero,
                (*euler, *cosine),
                n,
            )),
            GridSpec::FlowSigmas {
                unipc,
                num_train_timesteps,
                flow_shift,
                shift_terminal,
                final_sigmas,
                table_sigma_min,
            } => flow_sigmas_grid(
                *unipc,
                *num_train_timesteps,
                *flow_shift,
                *shift_terminal,
                match final_sigmas {
                    FinalSigmas::Zero => Some(0.0),
                    FinalSigmas::SigmaMin if *unipc => None,
                    FinalSigmas::SigmaMin => Some(*table_sigma_min),
                },
                n,
                None,
            ),
            GridSpec::Lcm {
                table,
                original_steps,
                denoised_last,
            } => lcm_grid(table, *original_steps, *denoised_last, n),
            GridSpec::Ipndm => Ok(ipndm_grid(n)),
            GridSpec::DpmInverse {
                table,
                spacing,
                steps_offset,
                lambda_min_clipped,
            } => dpm_inverse_grid(table, *spacing, *steps_offset, *lambda_min_clipped, n),
            GridSpec::Cm { train_steps, .. } => {
                if n > *train_steps {
                    return Err(GdfError::Config {
                        field: "num_train_timesteps".into(),
                        value: train_steps.to_string(),
                        expected: format!(
                            "at least the step count ({n}): diffusers' \
                             CMStochasticIterativeScheduler refuses more steps than training \
                             timesteps"
                        ),
                    });
                }
                let ratio = train_steps / n;
                Ok(self.cm_levels((0..n).map(|i| i * ratio)))
            }
            GridSpec::FlowMap {
                num_train_timesteps,
                shift,
            } => {
                let s = crate::float::linspace(1.0f64, 0.0, n + 1);
                Ok(flow_map_grid(*num_train_timesteps, *shift, &s[..n]))
            }
            GridSpec::MiniMaxH3 { shift } => {
                let base = crate::float::linspace(1.0f32, 0.0, n + 1);
                Ok(minimax_grid(*shift, &base))
            }
            GridSpec::Scm {
                train_steps,
                max_timesteps,
                intermediate_timesteps,
            } => {
                if n > *train_steps {
                    return Err(GdfError::Config {
                        field: "num_train_timesteps".into(),
                        value: train_steps.to_string(),
                        expected: format!(
                            "at least the step count ({n}): diffusers' SCMScheduler refuses more \
                             steps than training timesteps"
                        ),
                    });
                }
                let s = match intermediate_timesteps {
                    Some(m) if n == 2 => vec![*max_timesteps, *m, 0.0],
                    Some(m) => {
                        return Err(GdfError::Config {
                            field: "intermediate_timesteps".into(),
                            value: m.to_string(),
                            expected: format!(
                                "None for {n} steps: an intermediate angle exists only in a \
                                 two-step run (diffusers raises); without one the angles are \
                                 linspace(max_timesteps, 0, n + 1)"
                            ),
                        })
                    }
                    None => crate::float::linspace(*max_timesteps, 0.0, n + 1),
                };
                Ok(scm_grid(&s))
            }
            GridSpec::Cosine { schedule } => {
                let ts: Vec<f64> = crate::float::linspace(1.0f32, 0.0, n + 1)
                    .into_iter()
                    .map(f64::from)
                    .collect();
                let logsnr = ts
                    .iter()
                    .map(|&t| schedule.logsnr(t, 1.0))
                    .collect::<Result<Vec<f64>>>()?;
                Ok(Levels {
                    sigmas: logsnr.iter().map(|&l| (-0.5 * l).exp()).collect(),
                    logsnr,
                    sigma_kind: SigmaKind::Ve,
                    timesteps: Some(Timesteps::Float(ts[..n].to_vec())),
                    init_noise_sigma: Some(1.0),
                    mu: None,
                })
            }
        }
    }
}

impl GridSpec {
    /// diffusers' `set_timesteps(timesteps=ts)` for the grids that take a custom list (Align
    /// Your Steps and other hand-made ladders): `class` is the scheduler class, since
    /// Euler-family classes share [`GridSpec::Discrete`] but not this option. Euler and Heun
    /// take `ts` as float32 and interpolate σ over the table (the final σ as configured);
    /// DPMSolver takes whole steps and the table's σ there; DDPM, LCM and TCD take whole
    /// steps, DDPM and LCM ending at σ = 0, TCD at step 0; `SCMScheduler` takes its `n + 1`
    /// TrigFlow angles, ending at 0; `CMStochasticIterativeScheduler` takes `n` training
    /// indices (see [`GridSpec::Cm`]).
    ///
    /// Errors: [`GdfError::Config`] naming `timesteps` for an empty list, values that are not
    /// strictly decreasing training steps in `[0, T)` (whole steps where the class takes
    /// integers), a σ conversion (diffusers raises), and classes whose `set_timesteps` takes
    /// no list (Euler ancestral, KDPM2, LMS, UniPC, DDIM, PNDM, flow matching, EDM, Würstchen).
    pub fn grid_for_timesteps(&self, class: &str, ts: &[f64]) -> Result<Levels> {
        let err = |expected: String| GdfError::Config {
            field: "timesteps".into(),
            value: format!("{ts:?}"),
            expected,
        };
        if let ("CMStochasticIterativeScheduler", GridSpec::Cm { train_steps, .. }) = (class, self)
        {
            // Descending training indices below T (diffusers' check); the ramp reads them in
            // reverse, index 0 at sigma_max: the list [22, 0] runs at ramp 0 then 22/(T − 1).
            let ok = !ts.is_empty()
                && ts.windows(2).all(|w| w[1] < w[0])
                && ts.iter().all(|&t| t >= 0.0 && t.fract() == 0.0)
                && ts[0] < *train_steps as f64;
            if !ok {
                return Err(err(format!(
                    "strictly decreasing whole training indices within 0…{}",
                    train_steps - 1
                )));
            }
            return Ok(self.cm_levels(ts.iter().rev().map(|&t| t as usize)));
        }
        if let ("SCMScheduler", GridSpec::Scm { train_steps, .. }) = (class, self) {
            // TrigFlow angles, the n + 1 of them (`set_timesteps(n, timesteps=…,
            // max_timesteps=None, intermediate_timesteps=None)`), ending at 0: the pipeline
            // returns the last step's x0.
            let n = ts.len().saturating_sub(1);
            let ok = n >= 1
                && ts.windows(2).all(|w| w[1] < w[0])
                && ts[0] <= SCM_MAX_ANGLE
                && ts[n] == 0.0;
            if !ok {
                return Err(err(
                    "at least two strictly decreasing TrigFlow angles from at most 1.5708 \
                     (π/2 rounded up) down to 0"
                        .into(),
                ));
            }
            if n > *train_steps {
                return Err(err(format!(
                    "at most num_train_timesteps + 1 = {} angles (diffusers refuses more steps)",
                    train_steps + 1
                )));
            }
            let s: Vec<f32> = ts.iter().map(|&v| v as f32).collect();
            return Ok(scm_grid(&s));
        }
        let (table, whole) = match (class, self) {
            ("EulerDiscreteScheduler" | "HeunDiscreteScheduler", GridSpec::Discrete(s)) => {
                (&s.table, false)
            }
            (
                "DPMSolverMultistepScheduler" | "DPMSolverSinglestepScheduler",
                GridSpec::Discrete(s),
            ) => (&s.table, true),
            ("DDPMScheduler", GridSpec::Ddpm { table, .. })
            | ("LCMScheduler" | "TCDScheduler", GridSpec::Lcm { table, .. }) => (table, true),
            _ => {
                return Err(err(format!(
                    "no custom list: diffusers' {class}.set_timesteps takes none (Euler, Heun, \
                     DPMSolverMultistep, DPMSolverSinglestep, DDPM, LCM, TCD, SCM and \
                     CMStochasticIterative do)"
                )))
            }
        };
        let t_train = alphas_cumprod_f64(table)?.len();
        if ts.is_empty() {
            return Err(err("at least one timestep".into()));
        }
        let ok = ts
            .iter()
            .all(|&t| t.is_finite() && t >= 0.0 && t <= (t_train - 1) as f64)
            && ts.windows(2).all(|w| w[1] < w[0])
            && (!whole || ts.iter().all(|t| t.fract() == 0.0));
        if !ok {
            return Err(err(format!(
                "strictly decreasing {}training steps within 0…{}",
                if whole { "whole " } else { "" },
                t_train - 1
            )));
        }
        let n = ts.len();
        match self {
            GridSpec::Discrete(s) => {
                if s.conversion != SigmaConversion::None {
                    return Err(err(format!(
                        "no custom timesteps with a σ conversion ({:?}; diffusers raises)",
                        s.conversion
                    )));
                }
                let tab = DiscreteTable::new(&s.table)?;
                let last = s.euler_last_sigma(&tab);
                let ts32: Vec<f64> = ts.iter().map(|&t| t as f32 as f64).collect();
                let sig: Vec<f64> = ts32
                    .iter()
                    .map(|&t| tab.sigma_at(t))
                    .chain(std::iter::once(last))
                    .map(|v| v as f32 as f64)
                    .collect();
                let init = s.euler_init_noise_sigma(&sig);
                let mut g = Levels::from_ve_sigmas(sig);
                if whole {
                    g.timesteps = Some(Timesteps::Int(ts.iter().map(|&t| t as i64).collect()));
                } else {
                    g.timesteps = Some(Timesteps::Float(ts32));
                    g.init_noise_sigma = Some(init);
                }
                Ok(g)
            }
            GridSpec::Ddpm { table, .. } | GridSpec::Lcm { table, .. } => {
                let ac = alphas_cumprod_f64(table)?;
                let last = match self {
                    GridSpec::Lcm {
                        denoised_last: false,
                        ..
                    } => ac[0],
                    _ => 1.0,
                };
                let abar: Vec<f64> = ts
                    .iter()
                    .map(|&t| ac[t as usize])
                    .chain(std::iter::once(last))
                    .collect();
                let g = table_levels(&abar, ts.iter().map(|&t| t as i64).collect());
                debug_assert_eq!(g.logsnr.len(), n + 1);
                Ok(g)
            }
            _ => unreachable!("matched above"),
        }
    }
}

impl GridSpec {
    /// [`GridSpec::Cm`]'s levels at the training indices `idx` (ascending ramp positions).
    fn cm_levels(&self, idx: impl Iterator<Item = usize>) -> Levels {
        let GridSpec::Cm {
            train_steps,
            sigma_min,
            sigma_max,
            rho,
            sigma_data,
        } = *self
        else {
            unreachable!("called on GridSpec::Cm")
        };
        let (mn, mx) = (sigma_min.powf(1.0 / rho), sigma_max.powf(1.0 / rho));
        let sig64: Vec<f64> = idx
            .map(|i| (mx + (i as f64 / (train_steps - 1) as f64) * (mn - mx)).powf(rho))
            .collect();
        let ts: Vec<f64> = sig64.iter().map(|&s| 250.0 * (s + 1e-44).ln()).collect();
        // The last level is the boundary itself, where diffusers' step adds no noise (its
        // float32 `sigma_min`, 5e-8 above, adds an ulp's square root: 6.7e-7 at 0.002).
        let s: Vec<f64> = sig64
            .iter()
            .map(|&v| f64::from(v as f32) / sigma_data)
            .chain(std::iter::once(sigma_min / sigma_data))
            .collect();
        let mut g = Levels::from_ve_sigmas(s);
        g.timesteps = Some(Timesteps::Float(ts));
        g.init_noise_sigma = Some(sigma_max);
        g
    }

    /// diffusers' `set_timesteps(sigmas=…)` for the classes that take a custom σ list:
    /// `EulerDiscreteScheduler` (VE σ's, the final one included, timesteps `_sigma_to_t` of
    /// the others), `FlowMatchEulerDiscreteScheduler` (flow sigmas, shifted as configured,
    /// σ = 0 appended; what the Flux pipeline passes) and `UniPCMultistepScheduler` with
    /// `use_flow_sigmas` (its flow sigmas, shifted).
    ///
    /// Euler's timesteps for a σ list are fractional (`_sigma_to_t`): pass the returned grid's
    /// `timesteps` to the network. A config whose spacing gives whole steps (leading, trailing)
    /// was loaded with a rounding noise cond, which would round them.
    ///
    /// Errors: [`GdfError::Config`] naming `sigmas` for a list that is not strictly
    /// decreasing, holds a value outside `(0, ∞)` (Euler's last may be 0) or `(0, 1]` (flow
    /// sigmas), is too short, or a class whose `set_timesteps` takes no σ list.
    pub fn grid_for_sigmas(&self, class: &str, sigmas: &[f64]) -> Result<Levels> {
        let err = |expected: String| GdfError::Config {
            field: "sigmas".into(),
            value: format!("{sigmas:?}"),
            expected,
        };
        let decreasing = sigmas.windows(2).all(|w| w[1] < w[0]);
        match (class, self) {
            ("EulerDiscreteScheduler", GridSpec::Discrete(s)) => {
                let n = sigmas.len().saturating_sub(1);
                let ok = n >= 1
                    && decreasing
                    && sigmas[..n].iter().all(|&v| v.is_finite() && v > 0.0)
                    && sigmas[n] >= 0.0;
                if !ok {
                    return Err(err(
                        "at least two strictly decreasing VE σ's, positive but the last (≥ 0)"
                            .into(),
                    ));
                }
                let tab = DiscreteTable::new(&s.table)?;
                let sig: Vec<f64> = sigmas.iter().map(|&v| v as f32 as f64).collect();
                let ts: Vec<f64> = sig[..n]
                    .iter()
                    .map(|&v| {
                        if s.continuous_timesteps {
                            continuous_timestep(v)
                        } else {
                            tab.sigma_to_t(v) as f32 as f64
                        }
                    })
                    .collect();
                let init = s.euler_init_noise_sigma(&sig);
                let mut g = Levels::from_ve_sigmas(sig);
                g.timesteps = Some(Timesteps::Float(ts));
                g.init_noise_sigma = Some(init);
                Ok(g)
            }
            (
                "FlowMatchEulerDiscreteScheduler" | "UniPCMultistepScheduler",
                GridSpec::Flow { .. } | GridSpec::FlowSigmas { unipc: true, .. },
            ) => {
                if sigmas.is_empty() || !decreasing || !sigmas.iter().all(|&v| v > 0.0 && v <= 1.0)
                {
                    return Err(err("strictly decreasing flow sigmas in (0, 1]".into()));
                }
                match self {
                    GridSpec::Flow { settings, mu, .. } => settings.grid_from_sigmas(sigmas, *mu),
                    GridSpec::FlowSigmas {
                        num_train_timesteps,
                        flow_shift,
                        shift_terminal,
                        final_sigmas,
                        ..
                    } => flow_sigmas_grid(
                        true,
                        *num_train_timesteps,
                        *flow_shift,
                        *shift_terminal,
                        match final_sigmas {
                            FinalSigmas::Zero => Some(0.0),
                            FinalSigmas::SigmaMin => None,
                        },
                        sigmas.len(),
                        Some(sigmas),
                    ),
                    _ => unreachable!("matched above"),
                }
            }
            (
                "FlowMapEulerDiscreteScheduler",
                GridSpec::FlowMap {
                    num_train_timesteps,
                    shift,
                },
            ) => {
                // The list is the flow sigmas before the shift, one per step; 0 is appended.
                let ok =
                    !sigmas.is_empty() && decreasing && sigmas.iter().all(|&v| v > 0.0 && v <= 1.0);
                if !ok {
                    return Err(err(
                        "strictly decreasing flow sigmas in (0, 1], one per step (the final 0 \
                         is appended)"
                            .into(),
                    ));
                }
                Ok(flow_map_grid(*num_train_timesteps, *shift, sigmas))
            }
            ("MiniMaxH3Scheduler", GridSpec::MiniMaxH3 { .. }) => {
                // The list is the sigmas themselves, ending at 0 (diffusers' check); unshifted.
                let n = sigmas.len().saturating_sub(1);
                let ok = n >= 1 && decreasing && sigmas[n] == 0.0 && sigmas[0] <= 1.0;
                if !ok {
                    return Err(err(
                        "at least two strictly decreasing flow sigmas in [0, 1] ending at 0.0 \
                         (diffusers' MiniMaxH3Scheduler takes them unshifted)"
                            .into(),
                    ));
                }
                let sig: Vec<f32> = sigmas.iter().map(|&v| v as f32).collect();
                Ok(minimax_levels(&sig))
            }
            ("LTXEulerAncestralRFScheduler", GridSpec::Flow { .. }) => {
                // The list is the RF sigmas themselves (float32, unshifted, the terminal one
                // included); the network takes σ·T.
                let n = sigmas.len().saturating_sub(1);
                let ok = n >= 1
                    && decreasing
                    && sigmas[0] <= 1.0
                    && sigmas[n] >= 0.0
                    && sigmas.iter().all(|v| v.is_finite());
                if !ok {
                    return Err(err(
                        "at least two strictly decreasing flow sigmas in [0, 1], the terminal \
                         one included (e.g. ending at 0)"
                            .into(),
                    ));
                }
                let GridSpec::Flow { settings, .. } = self else {
                    unreachable!("matched above")
                };
                let t = settings.num_train_timesteps as f32;
                let sig: Vec<f32> = sigmas.iter().map(|&v| v as f32).collect();
                Ok(flow_levels(&sig, |v| f64::from(v * t)))
            }
            _ => Err(err(format!(
                "no custom σ list: diffusers' {class}.set_timesteps takes none here (Euler, \
                 flow-matching Euler, LTX's RF Euler ancestral, MiniMax-H3 and UniPC with \
                 use_flow_sigmas do)"
            ))),
        }
    }
}

/// The first level `i` whose λ is not above level `i − 1`'s (the last two may coincide, as
/// [`crate::solver::Grid`] allows), if any.
fn repeated_level(lam: &[f64]) -> Option<usize> {
    let n = lam.len();
    (1..n).find(|&i| {
        let (a, b) = (lam[i - 1], lam[i]);
        !(b > a || (i == n - 1 && b == a))
    })
}

/// Where DDIM-family timesteps step to.
#[derive(Clone, Copy)]
enum Final {
    /// DDIM / PNDM: from `t` to `t − T//n`; below 0 to `ᾱ = 1` (`set_alpha_to_one`) or `ᾱ_0`.
    Ddim(bool),
    /// DDPM: to the next listed timestep, the last to `ᾱ = 1`.
    Ddpm,
}

/// [`GridSpec::FlowMap`]'s levels for the flow sigmas `s` before the shift (the final 0
/// appended).
fn flow_map_grid(t_train: usize, k: f64, s: &[f64]) -> Levels {
    let mut sig: Vec<f64> = if k == 1.0 {
        s.to_vec()
    } else {
        s.iter().map(|&v| k * v / (1.0 + (k - 1.0) * v)).collect()
    };
    sig.push(0.0);
    flow_levels(&sig, |v| v * t_train as f64)
}

/// Flow-sigma levels (σ = 0 last) with diffusers' model timesteps `timestep(σ)` of every
/// level but the last and `init_noise_sigma = 1`.
fn flow_levels<T: Copy + Into<f64>>(sig: &[T], timestep: impl Fn(T) -> f64) -> Levels {
    let n = sig.len() - 1;
    let mut g = Levels::from_flow_sigmas(sig.iter().map(|&v| v.into()).collect());
    g.timesteps = Some(Timesteps::Float(
        sig[..n].iter().map(|&v| timestep(v)).collect(),
    ));
    g.init_noise_sigma = Some(1.0);
    g
}

/// MiniMax-H3's levels for its float32 sigmas (σ = 0 last): the network takes `1 − σ`.
fn minimax_levels(sig: &[f32]) -> Levels {
    flow_levels(sig, |s| f64::from(1.0 - s))
}

/// [`GridSpec::MiniMaxH3`]'s levels for the flow sigmas `base` before the shift (σ = 0
/// last): shifted in float32 as torch computes `k·b/(1 + (k − 1)·b)`, repeats dropped.
fn minimax_grid(k: f64, base: &[f32]) -> Levels {
    let k32 = k as f32;
    let mut sig: Vec<f32> = Vec::with_capacity(base.len());
    for &b in base {
        let s = k32 * b / (1.0 + (k32 - 1.0) * b);
        if sig.last() != Some(&s) {
            sig.push(s);
        }
    }
    minimax_levels(&sig)
}

/// `SanaSprintPipeline`'s default first angle, π/2 rounded up to four decimals (so past π/2
/// in float32 too).
#[allow(clippy::approx_constant)]
pub(super) const SCM_MAX_ANGLE: f64 = 1.5708;

/// [`GridSpec::Scm`]'s levels for the TrigFlow angles `s` (the last one 0).
fn scm_grid(s: &[f32]) -> Levels {
    let n = s.len() - 1;
    let (mut logsnr, mut tau) = (Vec::with_capacity(n + 1), Vec::with_capacity(n + 1));
    for &v in s {
        // float32 cos and sin, as torch computes them.
        let (sin, cos) = (f64::from(v.sin()), f64::from(v.cos()));
        if cos <= 0.0 {
            // π/2 and past it (float32 1.5708): pure noise.
            logsnr.push(f64::NEG_INFINITY);
            tau.push(1.0);
        } else {
            logsnr.push(2.0 * (cos / sin).ln());
            tau.push(sin / (sin + cos));
        }
    }
    Levels {
        logsnr,
        sigmas: tau,
        sigma_kind: SigmaKind::Flow,
        timesteps: Some(Timesteps::Float(
            s[..n].iter().map(|&v| f64::from(v)).collect(),
        )),
        init_noise_sigma: Some(1.0),
        mu: None,
    }
}

/// `IPNDMScheduler`'s `set_timesteps(n)` (see [`GridSpec::Ipndm`]): float32 as torch
/// computes it (`steps·π` rounded to float32, then halved).
fn ipndm_grid(n: usize) -> Levels {
    let pi = core::f32::consts::PI;
    let mut logsnr = Vec::with_capacity(n + 1);
    let mut timesteps = Vec::with_capacity(n);
    for s in crate::float::linspace(1.0f32, 0.0, n + 1) {
        let sin = (s * pi / 2.0).sin();
        let b = sin * sin;
        let a = (1.0 - b * b).sqrt();
        logsnr.push(if a == 0.0 {
            f64::NEG_INFINITY
        } else if b == 0.0 {
            f64::INFINITY
        } else {
            2.0 * (f64::from(a).ln() - f64::from(b).ln())
        });
        if timesteps.len() < n {
            timesteps.push(f64::from(b.atan2(a) / pi * 2.0));
        }
    }
    Levels {
        sigmas: logsnr.iter().map(|&l| (-0.5 * l).exp()).collect(),
        logsnr,
        sigma_kind: SigmaKind::Ve,
        timesteps: Some(Timesteps::Float(timesteps)),
        init_noise_sigma: Some(1.0),
        mu: None,
    }
}

/// diffusers' DDIM-family `set_timesteps(n)` list (DDIM, DDPM, PNDM, DDIMInverse, which lists
/// it ascending), noisiest first and unchecked: `leading` = multiples of `T//n` plus
/// `steps_offset`, `linspace` = `np.linspace(0, T−1, n)` rounded, `trailing` = numpy's
/// `arange(T, 0, −T/n)` rounded, minus 1 (its first `n` values, see
/// [`crate::grid::discrete::trailing`]).
pub(super) fn ddim_timesteps(t_train: usize, spacing: Spacing, offset: i64, n: usize) -> Vec<i64> {
    let ratio = t_train / n;
    match spacing {
        Spacing::Leading => (0..n).rev().map(|i| (i * ratio) as i64 + offset).collect(),
        Spacing::Linspace => np_linspace(0.0, (t_train - 1) as f64, n)
            .into_iter()
            .rev()
            .map(|t| t.round_ties_even() as i64)
            .collect(),
        Spacing::Trailing => crate::grid::discrete::trailing(t_train as f64, t_train, n)
            .into_iter()
            .map(|t| t as i64 - 1)
            .collect(),
    }
}

fn ddim_grid(
    table: &TableSettings,
    spacing: Spacing,
    offset: i64,
    fin: Final,
    n: usize,
) -> Result<Levels> {
    // DDIM's own table: zero-terminal-SNR rescaling ends it at ᾱ = 0 exactly (λ = −∞), where
    // Euler's puts 2⁻²⁴.
    let ac = alphas_cumprod_f64(table)?;
    let t_train = ac.len();
    if n > t_train {
        return Err(GdfError::OutOfRange {
            what: "num_inference_steps",
            value: n as f64,
            expected: "at most num_train_timesteps",
        });
    }
    if spacing == Spacing::Leading && !(0..t_train as i64).contains(&offset) {
        return Err(GdfError::Config {
            field: "steps_offset".into(),
            value: offset.to_string(),
            expected: format!("a timestep offset within 0…{}", t_train - 1),
        });
    }
    let ratio = t_train / n;
    let ts = ddim_timesteps(t_train, spacing, offset, n);
    let name = match spacing {
        Spacing::Linspace => "linspace",
        Spacing::Leading => "leading",
        Spacing::Trailing => "trailing",
    };
    let ddpm = matches!(fin, Final::Ddpm);
    if ddpm
        && spacing == Spacing::Trailing
        && crate::grid::discrete::trailing_len(t_train as f64, t_train, n) > n
    {
        // diffusers lists one more timestep, −1, and its step there reads ᾱ[−1] (Python's
        // last entry, the noisiest level) as the current level.
        return Err(GdfError::Config {
            field: "timestep_spacing".into(),
            value: format!("\"trailing\" with {n} steps"),
            expected: format!(
                "a count for which numpy's arange gives {n} timesteps: diffusers lists {} \
                 here, the last −1, whose DDPM step reads ᾱ[−1] = ᾱ_{} (the noisiest level)",
                n + 1,
                t_train - 1
            ),
        });
    }
    for w in ts.windows(2) {
        if !ddpm && w[0] - ratio as i64 != w[1] {
            return Err(GdfError::Config {
                field: "timestep_spacing".into(),
                value: format!("\"{name}\" with {n} steps"),
                expected: format!(
                    "evenly spaced timesteps: DDIM steps from t to t − {ratio}, but the \
                     spacing goes from {} to {}",
                    w[0], w[1]
                ),
            });
        }
    }
    if let Some(&bad) = ts.iter().find(|&&t| t < 0 || t as usize >= t_train) {
        return Err(GdfError::Config {
            field: "steps_offset".into(),
            value: offset.to_string(),
            expected: format!("timesteps within 0…{}, got {bad}", t_train - 1),
        });
    }
    let mut abar: Vec<f64> = ts.iter().map(|&t| ac[t as usize]).collect();
    let prev = ts[n - 1] - ratio as i64;
    abar.push(match fin {
        Final::Ddpm => 1.0,
        Final::Ddim(_) if prev >= 0 => ac[prev as usize],
        Final::Ddim(true) => 1.0,
        Final::Ddim(false) => ac[0],
    });
    Ok(table_levels(&abar, ts))
}

/// [`GridSpec::FlowSigmas`]; `last` is the final σ (`None`: the last listed one).
fn flow_sigmas_grid(
    unipc: bool,
    t_train: usize,
    k: f64,
    shift_terminal: Option<f64>,
    last: Option<f64>,
    n: usize,
    custom: Option<&[f64]>,
) -> Result<Levels> {
    let t = t_train as f64;
    let ramp = np_linspace(1.0, 1.0 / t, n + 1);
    let base: Vec<f64> = match custom {
        Some(c) => c.to_vec(),
        None if unipc => ramp[..n].to_vec(),
        None => ramp[1..].iter().rev().map(|&a| 1.0 - a).collect(),
    };
    let mut s: Vec<f64> = base
        .iter()
        .map(|&x| k * x / (1.0 + (k - 1.0) * x))
        .collect();
    if let Some(term) = shift_terminal {
        crate::grid::flow::stretch_to_terminal(&mut s, term)?;
    }
    if unipc && (s[0] - 1.0).abs() < 1e-6 {
        // diffusers moves a first σ of 1 (λ = −∞) in by 10⁻⁶ for UniPC's logarithms.
        s[0] -= 1e-6;
    }
    let ts: Vec<i64> = s.iter().map(|&v| (v * t).trunc() as i64).collect();
    let end = last.unwrap_or(s[n - 1]);
    let sig: Vec<f64> = s
        .iter()
        .chain(std::iter::once(&end))
        .map(|&v| v as f32 as f64)
        .collect();
    let mut g = Levels::from_flow_sigmas(sig);
    g.timesteps = Some(Timesteps::Int(ts));
    Ok(g)
}

/// λ of a level `ᾱ` of a DDIM-family grid.
pub(super) fn abar_logsnr(v: f64) -> f64 {
    v.ln() - (1.0 - v).ln()
}

/// The levels of ᾱ values (the last one the final level) and the integer timesteps of the
/// others, VE sigmas, `init_noise_sigma` 1 (VP latents).
fn table_levels(abar: &[f64], ts: Vec<i64>) -> Levels {
    Levels {
        logsnr: abar.iter().map(|&v| abar_logsnr(v)).collect(),
        sigmas: abar.iter().map(|&v| ((1.0 - v) / v).sqrt()).collect(),
        sigma_kind: SigmaKind::Ve,
        timesteps: Some(Timesteps::Int(ts)),
        init_noise_sigma: Some(1.0),
        mu: None,
    }
}

/// [`GridSpec::DpmInverse`]'s levels for `n` steps.
fn dpm_inverse_grid(
    table: &TableSettings,
    spacing: Spacing,
    steps_offset: i64,
    lambda_min_clipped: f64,
    n: usize,
) -> Result<Levels> {
    let tab = DiscreteTable::new(table)?;
    let t_train = tab.len();
    // lambda_min_clipped cuts the noisiest steps (diffusers' searchsorted over the flipped λ's).
    let last_t = crate::grid::discrete::usable_steps(&tab, lambda_min_clipped);
    if last_t < n.max(1) {
        return Err(GdfError::OutOfRange {
            what: "lambda_min_clipped",
            value: lambda_min_clipped,
            expected: "a value that leaves at least num_inference_steps usable training steps",
        });
    }
    let ts: Vec<i64> = match spacing {
        Spacing::Linspace => {
            let v = np_linspace(0.0, last_t as f64 - 1.0, n + 1);
            v[..n].iter().map(|t| t.round_ties_even() as i64).collect()
        }
        Spacing::Leading => {
            let ratio = last_t / (n + 1);
            (0..n).map(|i| (i * ratio) as i64 + steps_offset).collect()
        }
        Spacing::Trailing => {
            let v = crate::grid::discrete::trailing(t_train as f64, last_t, n);
            if v.len() != n {
                return Err(GdfError::Config {
                    field: "timestep_spacing".into(),
                    value: "\"trailing\"".into(),
                    expected: format!(
                        "a step count for which numpy's arange lists {n} timesteps (it lists \
                         {} here, and diffusers then runs that many steps)",
                        v.len()
                    ),
                });
            }
            v.iter().rev().map(|&t| t as i64 - 1).collect()
        }
    };
    if let Some(&bad) = ts.iter().find(|&&t| t < 0 || t as usize >= last_t) {
        return Err(GdfError::Config {
            field: "steps_offset".into(),
            value: steps_offset.to_string(),
            expected: format!("timesteps within 0…{} for {n} steps, got {bad}", last_t - 1),
        });
    }
    // diffusers drops repeated timesteps but not their σ's, which then belong to other steps.
    if let Some(w) = ts.windows(2).find(|w| w[1] <= w[0]) {
        return Err(GdfError::Config {
            field: "timestep_spacing".into(),
            value: format!(
                "{:?} with {n} steps",
                crate::grid::discrete::spacing_name(spacing)
            ),
            expected: format!(
                "distinct timesteps: the spacing gives {} then {} (diffusers keeps one of them \
                 and misaligns its σ's); use fewer steps",
                w[0], w[1]
            ),
        });
    }
    let sig: Vec<f64> = ts
        .iter()
        .map(|&t| t as usize)
        .chain(std::iter::once(last_t - 1))
        .map(|k| f64::from(tab.sigmas()[k]))
        .collect();
    let mut g = Levels::from_ve_sigmas(sig);
    g.timesteps = Some(Timesteps::Int(ts));
    g.init_noise_sigma = Some(1.0);
    Ok(g)
}

fn lcm_grid(table: &TableSettings, orig: usize, denoised_last: bool, n: usize) -> Result<Levels> {
    let tab = DiscreteTable::new(table)?;
    let t_train = tab.len();
    if orig == 0 || orig > t_train {
        return Err(GdfError::Config {
            field: "original_inference_steps".into(),
            value: orig.to_string(),
            expected: format!("a count in 1…{t_train} (num_train_timesteps)"),
        });
    }
    if n > orig {
        return Err(GdfError::Config {
            field: "original_inference_steps".into(),
            value: format!("{orig} with {n} steps"),
            expected: format!(
                "at least the number of steps: LCM / TCD take their {n} timesteps from the \
                 distillation's {orig} (diffusers raises); use at most {orig} steps"
            ),
        });
    }
    let k = (t_train / orig) as i64;
    // numpy: floor(linspace(0, orig, n, endpoint=False)) = floor(j·(orig/n)).
    let step = orig as f64 / n as f64;
    let ts: Vec<i64> = (0..n)
        .map(|j| {
            let idx = (j as f64 * step).floor() as i64;
            (orig as i64 - idx) * k - 1
        })
        .collect();
    let ac = tab.alphas_cumprod();
    let mut abar: Vec<f64> = ts.iter().map(|&t| f64::from(ac[t as usize])).collect();
    abar.push(if denoised_last { 1.0 } else { f64::from(ac[0]) });
    Ok(table_levels(&abar, ts))
}

fn edm_grid(
    (lo, hi, rho, sd): (f64, f64, f64, f64),
    exponential: bool,
    final_zero: bool,
    (euler, cosine): (bool, bool),
    n: usize,
) -> Levels {
    // float32, as diffusers: a float32 ramp (torch.linspace), Python-float constants rounded
    // to float32 where they meet it; EDMEulerScheduler's Karras ramp is float64 throughout,
    // rounded to float32 at the end.
    let sig: Vec<f32> = if euler && !exponential {
        let (mn, mx) = (lo.powf(1.0 / rho), hi.powf(1.0 / rho));
        crate::float::linspace(0.0f64, 1.0, n)
            .into_iter()
            .map(|r| (mx + r * (mn - mx)).powf(rho) as f32)
            .collect()
    } else if exponential {
        let mut v: Vec<f32> = crate::float::linspace(lo.ln() as f32, hi.ln() as f32, n)
            .into_iter()
            .map(f32::exp)
            .collect();
        v.reverse();
        v
    } else {
        let (mn, mx) = (lo.powf(1.0 / rho), hi.powf(1.0 / rho));
        let d = (mn - mx) as f32;
        crate::float::linspace(0.0f32, 1.0, n)
            .into_iter()
            .map(|r| (mx as f32 + r * d).powf(rho as f32))
            .collect()
    };
    // The network's c_noise, in float32: EDM's ¼ ln σ, or the cosine schedule's atan(σ)·2/π.
    let ts: Vec<f64> = sig
        .iter()
        .map(|&s| {
            f64::from(if cosine {
                s.atan() / core::f32::consts::PI * 2.0
            } else {
                0.25f32 * s.ln()
            })
        })
        .collect();
    let mut s: Vec<f64> = sig.iter().map(|&v| f64::from(v) / sd).collect();
    s.push(if final_zero {
        0.0
    } else if euler {
        // EDMEulerScheduler's final σ is its ramp's last.
        f64::from(sig[n - 1]) / sd
    } else {
        // diffusers' float32 sigma_min; where the ramp ends a float32 ulp below it, that end
        // (a zero-length last step rather than one that adds noise, see `GridSpec::Edm`).
        f64::from((lo as f32).min(sig[n - 1])) / sd
    });
    let mut g = Levels::from_ve_sigmas(s);
    g.timesteps = Some(Timesteps::Float(ts));
    g.init_noise_sigma = Some((hi * hi + 1.0).sqrt());
    g
}
