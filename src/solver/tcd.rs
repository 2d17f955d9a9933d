//! Trajectory consistency distillation sampling (diffusers' `TCDScheduler`, TCD-LoRA).

use std::sync::Arc;

use crate::dynamic::DynNoiseCond;
use crate::error::{GdfError, Result};
use crate::noise_cond::NoiseCond;

use super::{next_step, Buf, Draw, Dst, Eval, Grid, Pass, Row, Solver, Src};

const X: Src = Src::Buf(Buf::X);

/// TCD's strategic stochastic sampling (diffusers' `TCDScheduler.step` with `eta = γ`). A step
/// from level `t` to the next level `t'` (training steps, the framework's noise cond) evaluates
/// the model at `t`, moves deterministically (DDIM with the model's x0 and ε) to the training
/// step `s = ⌊(1 − γ)·t'⌋` and then forward-diffuses from `s` to `t'` with fresh noise:
/// `x' = √(ᾱ'/ᾱ_s)·x_s + √(1 − ᾱ'/ᾱ_s)·n`. γ = 0 is DDIM; the last step stops at `x_s`
/// (`s = t'`) without noise. One evaluation per step; one draw per step but the last when
/// γ > 0. `ᾱ_s` comes from the training table (`alphas_cumprod`, one value per step).
///
/// ```
/// use gdf::interop::diffusers::{load, PipelineKind};
/// use gdf::solver::{AnySolver, CounterNoise, Run};
/// let l = load(r#"{"_class_name": "TCDScheduler"}"#, PipelineKind::StableDiffusion)?;
/// let AnySolver::Tcd(tcd) = l.solver.clone() else { unreachable!() };
/// assert_eq!(tcd.gamma(), 0.3); // the pipeline's default eta
/// let solver = tcd.with_gamma(0.5)?;
/// let grid = l.solver_grid(&l.grid(4)?)?;
/// let x = Run::new(solver, grid, vec![0.1f64; 8], 2, CounterNoise::new(1))?
///     .run(|_, _, d| { d.fill(0.5); Ok(()) })?;
/// assert!(x.iter().all(|v| v.is_finite()));
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Tcd {
    gamma: f64,
    alphas_cumprod: Arc<[f64]>,
    timestep: DynNoiseCond,
    step: usize,
}

impl Tcd {
    /// TCD over the training table `alphas_cumprod` (`ᾱ_k`, `k = 0…N−1`) whose step of a
    /// level is `timestep` (the framework's noise cond), with `gamma` in [0, 1].
    ///
    /// Errors: [`GdfError::OutOfRange`] naming `gamma` outside [0, 1], or
    /// `alphas_cumprod` with fewer than two values or a value outside (0, 1].
    pub fn new(alphas_cumprod: Vec<f64>, timestep: DynNoiseCond, gamma: f64) -> Result<Self> {
        if alphas_cumprod.len() < 2 {
            return Err(GdfError::OutOfRange {
                what: "alphas_cumprod",
                value: alphas_cumprod.len() as f64,
                expected: "at least two values",
            });
        }
        if let Some(&v) = alphas_cumprod.iter().find(|&&v| !(v > 0.0 && v <= 1.0)) {
            return Err(GdfError::OutOfRange {
                what: "alphas_cumprod",
                value: v,
                expected: "values in (0, 1]",
            });
        }
        Self {
            gamma: 0.0,
            alphas_cumprod: alphas_cumprod.into(),
            timestep,
            step: 0,
        }
        .with_gamma(gamma)
    }

    /// The same solver with `gamma` (diffusers' `eta`) in [0, 1].
    ///
    /// Errors: [`GdfError::OutOfRange`] naming `gamma`.
    pub fn with_gamma(mut self, gamma: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&gamma) {
            return Err(GdfError::OutOfRange {
                what: "gamma",
                value: gamma,
                expected: "a number in [0, 1] (TCDScheduler's eta)",
            });
        }
        self.gamma = gamma;
        Ok(self)
    }

    /// γ.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }

    /// The training step of logSNR `lam` (the noise cond, to a whole step).
    fn step_of(&self, lam: f64) -> usize {
        let t = self.timestep.noise_cond(lam).round();
        t.clamp(0.0, (self.alphas_cumprod.len() - 1) as f64) as usize
    }
}

impl Solver for Tcd {
    fn name(&self) -> &'static str {
        "tcd"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        if grid.level(0).b == 0.0 || grid.level(grid.steps()).lam == f64::INFINITY {
            return Err(GdfError::Invalid {
                message: "tcd: the grid must run between training levels of the table (its \
                          last level is a training step, not σ = 0; load a TCDScheduler config \
                          for diffusers' grid)"
                    .into(),
            });
        }
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = next_step(grid, &mut self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        let last = i + 1 == grid.steps();
        // s = ⌊(1 − γ)·t'⌋: diffusers multiplies the long timestep by the Python float
        // 1 − γ in float32 and floors.
        let t_next = self.step_of(ln.lam) as f32;
        let s = (((1.0 - self.gamma) as f32) * t_next).floor() as usize;
        let abar_s = self.alphas_cumprod[s];
        let ls = grid.at(abar_s.ln() - (1.0 - abar_s).ln());
        // x_s = a_s·D + b_s·ε with ε = (x − a·D)/b.
        let (cx, cd) = (ls.b / l.b, ls.a - ls.b * l.a / l.b);
        let post = if self.gamma > 0.0 && !last {
            let r = ln.a / ls.a;
            let cn = (1.0 - r * r).max(0.0).sqrt();
            Pass::one(
                Row::new(Dst::Buf(Buf::X))
                    .t(X, r * cx)
                    .t(Src::D(0), r * cd)
                    .t(Src::Noise(0), cn),
            )
            .draw(Draw::Use)
        } else {
            Pass::one(Row::new(Dst::Buf(Buf::X)).t(X, cx).t(Src::D(0), cd))
        };
        Some(Eval::single(i, l, post))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
}
