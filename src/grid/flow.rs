//! diffusers' flow-matching grid (`FlowMatchEulerDiscreteScheduler.set_timesteps`), the flow
//! shift and the resolution-dependent shift μ(image_seq_len) (SPEC-solvers §5.2–§5.4).
//!
//! The flow sigma `s` is the LERP scaler's `b` (`a = 1 − s`), `λ = 2·ln((1−s)/s)`.
//! - The static shift `s' = k·s/(1 + (k−1)·s)` is **exactly the λ shift** `λ' = λ − 2·ln k`
//!   (gdf's schedule `shift`, [`apply_shift`](crate::schedule::apply_shift)).
//! - The exponential time shift `s' = e^μ/(e^μ + (1/s − 1)^γ)` is `λ' = γ·λ − 2μ`: for
//!   γ = 1 (every diffusers call site) the λ shift with `k = e^μ`. The linear form
//!   `s' = μ/(μ + (1/s − 1)^γ)` is `λ' = γ·λ − 2·ln μ`.
//! - diffusers' static-shift grid shifts twice at its small end (golden README quirk 4): the
//!   training table is shifted, and `set_timesteps` spaces between its shifted ends, then
//!   shifts again. This builder reproduces that.
//!
//! ```
//! use gdf::grid::flow::{FlowMatchSettings, SeqLenShift};
//! // SD3: shift 3, 28 steps.
//! let sd3 = FlowMatchSettings { shift: 3.0, ..FlowMatchSettings::default() }.grid(28, None)?;
//! assert_eq!(sd3.logsnr[0], f64::NEG_INFINITY); // s = 1: pure noise
//! assert!((sd3.sigmas[27] - 0.0089286).abs() < 1e-6); // shift(shift(0.001))
//! // Flux at 1024²: μ = 1.15 from 4096 tokens.
//! let mu = SeqLenShift::default().mu(4096.0)?;
//! assert!((mu - 1.15).abs() < 1e-12);
//! let flux = FlowMatchSettings { use_dynamic_shifting: true, ..FlowMatchSettings::default() };
//! let g = flux.grid_from_sigmas(&[1.0, 0.75, 0.5, 0.25], Some(mu))?;
//! assert!((g.sigmas[1] - 0.9045308).abs() < 1e-6);
//! # Ok::<(), gdf::GdfError>(())
//! ```

use super::discrete::SigmaConversion;
use super::kdiffusion::karras_sigmas;
use super::{beta_ppf, check_pos, check_steps, np_linspace, unknown, Grid, Timesteps};
use crate::error::{GdfError, Result};

/// The form of diffusers' `time_shift` (`time_shift_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeShift {
    /// `s' = e^μ/(e^μ + (1/s − 1)^γ)`: `λ' = γλ − 2μ`.
    Exponential,
    /// `s' = μ/(μ + (1/s − 1)^γ)`: `λ' = γλ − 2 ln μ` (needs μ > 0).
    Linear,
}

impl core::str::FromStr for TimeShift {
    type Err = GdfError;
    /// Parses `exponential`, `linear`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "exponential" => Ok(TimeShift::Exponential),
            "linear" => Ok(TimeShift::Linear),
            other => Err(unknown(
                "time_shift_type",
                other,
                "\"exponential\", \"linear\"",
            )),
        }
    }
}

impl TimeShift {
    /// The shifted flow sigma of `s` (f64).
    ///
    /// ```
    /// use gdf::grid::flow::TimeShift;
    /// let s = TimeShift::Exponential.apply(3f64.ln(), 1.0, 0.5);
    /// assert!((s - 0.75).abs() < 1e-15); // = the static shift 3
    /// ```
    pub fn apply(self, mu: f64, gamma: f64, s: f64) -> f64 {
        let m = match self {
            TimeShift::Exponential => mu.exp(),
            TimeShift::Linear => mu,
        };
        m / (m + (1.0 / s - 1.0).powf(gamma))
    }

    /// The same in λ: `γλ − 2μ` (exponential) or `γλ − 2 ln μ` (linear).
    pub fn apply_logsnr(self, mu: f64, gamma: f64, l: f64) -> f64 {
        match self {
            TimeShift::Exponential => gamma * l - 2.0 * mu,
            TimeShift::Linear => gamma * l - 2.0 * mu.ln(),
        }
    }

    fn apply_f32(self, mu: f64, s: f32) -> f32 {
        let m = match self {
            TimeShift::Exponential => mu.exp() as f32,
            TimeShift::Linear => mu as f32,
        };
        m / (m + (1.0 / s - 1.0))
    }
}

/// The resolution-dependent shift μ (diffusers' `calculate_shift`, Flux): linear in the
/// number of latent tokens, `μ = base_shift + (seq_len − base_seq_len)·(max_shift −
/// base_shift)/(max_seq_len − base_seq_len)`. Defaults 0.5, 1.15, 256, 4096.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeqLenShift {
    /// μ at `base_seq_len`.
    pub base_shift: f64,
    /// μ at `max_seq_len`.
    pub max_shift: f64,
    /// The token count of `base_shift`.
    pub base_seq_len: f64,
    /// The token count of `max_shift`.
    pub max_seq_len: f64,
}

impl Default for SeqLenShift {
    fn default() -> Self {
        SeqLenShift {
            base_shift: 0.5,
            max_shift: 1.15,
            base_seq_len: 256.0,
            max_seq_len: 4096.0,
        }
    }
}

impl SeqLenShift {
    /// μ for `image_seq_len` tokens (`(H/16)·(W/16)` for Flux). With the exponential time
    /// shift the flow shift is `e^μ`, i.e. a λ offset of `−2μ`.
    ///
    /// Errors: [`GdfError::OutOfRange`] for a non-finite input or `base_seq_len =
    /// max_seq_len`.
    ///
    /// ```
    /// let mu = gdf::grid::flow::SeqLenShift::default().mu(1024.0)?;
    /// assert!((mu - 0.63).abs() < 1e-12);
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn mu(&self, image_seq_len: f64) -> Result<f64> {
        for (what, v) in [
            ("image_seq_len", image_seq_len),
            ("base_shift", self.base_shift),
            ("max_shift", self.max_shift),
            ("base_image_seq_len", self.base_seq_len),
            ("max_image_seq_len", self.max_seq_len),
        ] {
            if !v.is_finite() {
                return Err(GdfError::OutOfRange {
                    what,
                    value: v,
                    expected: "a finite number",
                });
            }
        }
        if self.max_seq_len == self.base_seq_len {
            return Err(GdfError::OutOfRange {
                what: "max_image_seq_len",
                value: self.max_seq_len,
                expected: "different from base_image_seq_len",
            });
        }
        let m = (self.max_shift - self.base_shift) / (self.max_seq_len - self.base_seq_len);
        let b = self.base_shift - m * self.base_seq_len;
        Ok(image_seq_len * m + b)
    }
}

/// The settings of diffusers' `FlowMatchEulerDiscreteScheduler` grid. Defaults are
/// diffusers' (`shift = 1`, no dynamic shifting, exponential time shift, no conversion).
#[derive(Clone, Debug, PartialEq)]
pub struct FlowMatchSettings {
    /// The number of training steps `T` (the table `s_j = j/T`, and timestep = `T·s`).
    pub num_train_timesteps: usize,
    /// The static shift (> 0), used without dynamic shifting.
    pub shift: f64,
    /// Use the time shift with a given μ instead of the static shift.
    pub use_dynamic_shifting: bool,
    /// The μ(image_seq_len) parameters (for [`SeqLenShift::mu`]; the grid takes μ itself).
    pub seq_len_shift: SeqLenShift,
    /// The time-shift form.
    pub time_shift: TimeShift,
    /// Karras / exponential / beta sigmas on the shifted grid (not lu-lambdas).
    pub conversion: SigmaConversion,
    /// `shift_terminal`: stretch `1 − s` so the last sigma is this value (in (0, 1)).
    pub shift_terminal: Option<f64>,
    /// `invert_sigmas` (Mochi): diffusers' list is `1 − s` ending at 1, its σ weighing x0;
    /// gdf's levels stay the flow sigmas `s` (through diffusers' float32 `1 − s`), ending at
    /// 0, and the timesteps are diffusers' `(1 − s)·T`.
    pub invert_sigmas: bool,
}

impl Default for FlowMatchSettings {
    fn default() -> Self {
        FlowMatchSettings {
            num_train_timesteps: 1000,
            shift: 1.0,
            use_dynamic_shifting: false,
            seq_len_shift: SeqLenShift::default(),
            time_shift: TimeShift::Exponential,
            conversion: SigmaConversion::None,
            shift_terminal: None,
            invert_sigmas: false,
        }
    }
}

impl FlowMatchSettings {
    fn check(&self, mu: Option<f64>) -> Result<()> {
        super::check_count("num_train_timesteps", self.num_train_timesteps)?;
        check_pos("shift", self.shift)?;
        if self.conversion == SigmaConversion::LuLambdas {
            return Err(GdfError::Invalid {
                message: "`use_lu_lambdas` does not exist for the flow-matching scheduler".into(),
            });
        }
        if let Some(t) = self.shift_terminal {
            if !(t > 0.0 && t < 1.0) {
                return Err(GdfError::OutOfRange {
                    what: "shift_terminal",
                    value: t,
                    expected: "a number in (0, 1)",
                });
            }
        }
        if self.use_dynamic_shifting {
            let Some(mu) = mu else {
                return Err(GdfError::Invalid {
                    message: "`mu` is needed with use_dynamic_shifting (see SeqLenShift::mu)"
                        .into(),
                });
            };
            let ok = match self.time_shift {
                TimeShift::Exponential => mu.is_finite(),
                TimeShift::Linear => mu.is_finite() && mu > 0.0,
            };
            if !ok {
                return Err(GdfError::OutOfRange {
                    what: "mu",
                    value: mu,
                    expected: "a finite number (> 0 for the linear time shift)",
                });
            }
        }
        Ok(())
    }

    /// The training table's ends `(s_max, s_min)` in float32: `s_j = j/T`, shifted unless
    /// dynamic shifting is on.
    fn table_ends(&self) -> (f64, f64) {
        let t = self.num_train_timesteps as f32;
        let sh = |s: f32| -> f32 {
            if self.use_dynamic_shifting {
                s
            } else {
                let k = self.shift as f32;
                k * s / (1.0 + (self.shift - 1.0) as f32 * s)
            }
        };
        (sh(1.0) as f64, sh(1.0 / t) as f64)
    }

    /// The grid for `n` steps: `s = linspace(s_max, s_min, n)` between the training
    /// table's ends, shifted (again), converted, then 0 appended. `mu` is needed with
    /// dynamic shifting and ignored otherwise.
    ///
    /// Errors: [`GdfError::OutOfRange`] for `n = 0`, a non-positive `shift`, a bad
    /// `shift_terminal` or `mu`; [`GdfError::Invalid`] for a missing `mu` or lu-lambdas.
    pub fn grid(&self, n: usize, mu: Option<f64>) -> Result<Grid> {
        check_steps(n)?;
        self.check(mu)?;
        let t = self.num_train_timesteps as f64;
        let (hi, lo) = self.table_ends();
        let s: Vec<f64> = np_linspace(hi * t, lo * t, n)
            .into_iter()
            .map(|x| x / t)
            .map(|s| {
                if self.use_dynamic_shifting {
                    self.time_shift.apply(mu.unwrap_or(0.0), 1.0, s)
                } else {
                    self.shift * s / (1.0 + (self.shift - 1.0) * s)
                }
            })
            .collect();
        self.finish(s, mu, false)
    }

    /// The grid for given sigmas (diffusers' `set_timesteps(sigmas=…)`, e.g. Flux's
    /// `linspace(1, 1/N, N)`): rounded to float32, shifted and stretched to `shift_terminal`
    /// in float32, converted, then 0 appended.
    ///
    /// Errors: as [`Self::grid`], plus [`GdfError::EmptyBatch`] for no sigmas and
    /// [`GdfError::OutOfRange`] for a sigma outside `(0, 1]`.
    pub fn grid_from_sigmas(&self, sigmas: &[f64], mu: Option<f64>) -> Result<Grid> {
        crate::error::check_nonempty("sigmas", sigmas.len())?;
        self.check(mu)?;
        if let Some(&bad) = sigmas.iter().find(|s| !(**s > 0.0 && **s <= 1.0)) {
            return Err(GdfError::OutOfRange {
                what: "sigmas",
                value: bad,
                expected: "flow sigmas in (0, 1]",
            });
        }
        let s: Vec<f64> = sigmas
            .iter()
            .map(|&x| {
                let x = x as f32;
                let y = if self.use_dynamic_shifting {
                    self.time_shift.apply_f32(mu.unwrap_or(0.0), x)
                } else {
                    let k = self.shift as f32;
                    k * x / (1.0 + (self.shift - 1.0) as f32 * x)
                };
                y as f64
            })
            .collect();
        self.finish(s, mu, true)
    }

    /// Stretches to `shift_terminal`, converts, appends the final sigma. `f32_sigmas`: the
    /// sigmas were given (float32 in diffusers), so the stretch runs in float32 as numpy
    /// does on them (with `1 − shift_terminal` rounded to float32); else in f64.
    fn finish(&self, mut s: Vec<f64>, mu: Option<f64>, f32_sigmas: bool) -> Result<Grid> {
        let n = s.len();
        if let Some(term) = self.shift_terminal {
            if f32_sigmas {
                check_terminal_stretch(term, s[n - 1])?;
                let scale = (1.0 - s[n - 1] as f32) / (1.0 - term) as f32;
                for v in s.iter_mut() {
                    *v = (1.0 - (1.0 - *v as f32) / scale) as f64;
                }
            } else {
                stretch_to_terminal(&mut s, term)?;
            }
        }
        if self.conversion != SigmaConversion::None {
            let (hi, lo) = (s[0], s[n - 1]);
            s = match self.conversion {
                SigmaConversion::Karras => karras_sigmas(lo, hi, 7.0, n),
                SigmaConversion::Exponential => np_linspace(hi.ln(), lo.ln(), n)
                    .into_iter()
                    .map(f64::exp)
                    .collect(),
                _ => np_linspace(0.0, 1.0, n)
                    .into_iter()
                    .map(|u| lo + beta_ppf(1.0 - u, 0.6, 0.6) * (hi - lo))
                    .collect(),
            };
        }
        let t = self.num_train_timesteps as f32;
        let mut s32: Vec<f32> = s.iter().map(|&v| v as f32).collect();
        if self.invert_sigmas {
            s32 = s32.iter().map(|&v| 1.0 - v).collect();
        }
        let ts: Vec<f64> = s32.iter().map(|&v| (v * t) as f64).collect();
        // Inverted (Mochi's convention, where diffusers' σ weighs x0): gdf's flow sigma is
        // 1 − that σ (exact in f64), ending at 0 where diffusers appends 1.
        let mut sig: Vec<f64> = s32
            .iter()
            .map(|&v| {
                if self.invert_sigmas {
                    1.0 - v as f64
                } else {
                    v as f64
                }
            })
            .collect();
        sig.push(0.0);
        let mut g = Grid::from_flow_sigmas(sig);
        g.timesteps = Some(Timesteps::Float(ts));
        if self.use_dynamic_shifting {
            g.mu = mu;
        }
        super::no_nan(g, "flow-matching grid", || format!("{self:?}, mu = {mu:?}"))
    }
}

/// diffusers' `stretch_shift_to_terminal` in f64: `s ← 1 − (1 − s)/scale` with
/// `scale = (1 − s_last)/(1 − terminal)`, so the last σ becomes `terminal`.
pub(crate) fn stretch_to_terminal(s: &mut [f64], terminal: f64) -> Result<()> {
    let last = s[s.len() - 1];
    check_terminal_stretch(terminal, last)?;
    let scale = (1.0 - last) / (1.0 - terminal);
    for v in s.iter_mut() {
        *v = 1.0 - (1.0 - *v) / scale;
    }
    Ok(())
}

/// `shift_terminal` stretches the shifted sigmas by `(1 − s_last)/(1 − terminal)`: a last σ of
/// 1 (a single step from pure noise) makes that 0 and every stretched σ `0/0` (diffusers
/// returns NaN sigmas there). An error naming `shift_terminal`.
pub(crate) fn check_terminal_stretch(terminal: f64, last: f64) -> Result<()> {
    if 1.0 - last > 0.0 {
        return Ok(());
    }
    Err(GdfError::Config {
        field: "shift_terminal".into(),
        value: terminal.to_string(),
        expected: format!(
            "a grid whose last shifted σ lies below 1 (it is {last}): the stretch to the \
             terminal σ divides by 1 − σ_last = 0 (diffusers returns NaN sigmas); use at \
             least 2 steps"
        ),
    })
}
