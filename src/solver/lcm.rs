//! Latent consistency sampling (diffusers' `LCMScheduler`; ComfyUI's `sample_lcm`) and the
//! consistency models' multistep sampling (diffusers' `CMStochasticIterativeScheduler`): each
//! step takes the model's clean estimate, applies the consistency model's boundary condition
//! and renoises it to the next level with fresh noise.

use crate::dynamic::DynNoiseCond;
use crate::error::{GdfError, Result};
use crate::noise_cond::NoiseCond;

use super::{next_step, Buf, Draw, Dst, Eval, Grid, Pass, Row, Solver, Src};

const X: Src = Src::Buf(Buf::X);

/// The consistency model's boundary condition (diffusers'
/// `get_scalings_for_boundary_condition_discrete`): at the network's timestep `t`, with
/// `s = t·timestep_scaling`, `c_skip = σ_d²/(s² + σ_d²)` and `c_out = s/√(s² + σ_d²)`; the
/// denoised sample is `c_out·D + c_skip·x`.
#[derive(Clone, Debug, PartialEq)]
pub struct LcmBoundary {
    /// The network's timestep of a level (the framework's noise cond).
    pub timestep: DynNoiseCond,
    /// `timestep_scaling` (diffusers' default 10).
    pub timestep_scaling: f64,
    /// `σ_d` (diffusers fixes 0.5).
    pub sigma_data: f64,
}

impl LcmBoundary {
    /// `(c_skip, c_out)` at logSNR `lam`.
    pub fn scalings(&self, lam: f64) -> (f64, f64) {
        let s = self.timestep.noise_cond(lam) * self.timestep_scaling;
        let d2 = self.sigma_data * self.sigma_data;
        (d2 / (s * s + d2), s / (s * s + d2).sqrt())
    }
}

/// Multistep latent consistency sampling. Each step `i` evaluates the model at level `i`,
/// forms the denoised sample `D̂ = c_out·D + c_skip·x` (without a boundary condition
/// `D̂ = D`, ComfyUI's `sample_lcm`) and moves to level `i+1` as `a'·D̂ + b'·n` with fresh
/// noise `n` (one draw per step, none on the last step, which returns `D̂`). One evaluation
/// per step; takes an x0 threshold (diffusers' `clip_sample` / `thresholding`), applied to
/// `D` before the boundary condition.
///
/// [`Lcm::with_noise_floor`] gives consistency models' multistep sampling (Song et al. 2023,
/// algorithm 1; diffusers' `CMStochasticIterativeScheduler`): the renoise leaves out the
/// noise the boundary `σ_min` stands for, and the boundary condition is the framework's
/// target ([`Consistency`](crate::target::Consistency)), so that a threshold (its
/// `clip_denoised`) acts after it.
///
/// ```
/// use gdf::scaler::Vp;
/// use gdf::solver::{CounterNoise, Grid, Lcm, Run};
/// let grid = Grid::new(&Vp, &[-4.0, 0.0, 3.0, f64::INFINITY])?;
/// let mut run = Run::new(Lcm::new(), grid, vec![0.7f64; 4], 1, CounterNoise::new(3))?;
/// assert_eq!(run.remaining_evals(), 3);
/// let x = run.run(|_, _, d| { d.fill(0.25); Ok(()) })?;
/// assert!(x.iter().all(|&v| (v - 0.25).abs() < 1e-12)); // the last step returns D
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Lcm {
    boundary: Option<LcmBoundary>,
    floor: f64,
    s_noise: f64,
    step: usize,
}

impl Default for Lcm {
    fn default() -> Self {
        Self {
            boundary: None,
            floor: 0.0,
            s_noise: 1.0,
            step: 0,
        }
    }
}

impl Lcm {
    /// Without a boundary condition (`c_skip = 0`, `c_out = 1`).
    pub fn new() -> Self {
        Self::default()
    }

    /// With diffusers' boundary condition.
    ///
    /// Errors: [`GdfError::OutOfRange`] naming `timestep_scaling` or `sigma_data` when not a
    /// positive finite number.
    pub fn with_boundary(boundary: LcmBoundary) -> Result<Self> {
        for (what, v) in [
            ("timestep_scaling", boundary.timestep_scaling),
            ("sigma_data", boundary.sigma_data),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(GdfError::OutOfRange {
                    what,
                    value: v,
                    expected: "a positive finite number",
                });
            }
        }
        Ok(Self {
            boundary: Some(boundary),
            ..Self::default()
        })
    }

    /// Consistency models' renoise: a step to a level `σ'` (the VE `b'/a'`) adds
    /// `s_noise·√(σ'² − sigma_min²)` of noise to `D̂` (in the VE frame, so `a'·D̂ +
    /// s_noise·√(b'² − sigma_min²·a'²)·n`) where the plain renoise adds `σ'`: the sample
    /// then holds the noise of `σ'` less what the boundary `sigma_min` stands for, and the
    /// next evaluation is at `σ'` all the same. At or below `sigma_min` it adds none and
    /// draws nothing (diffusers clamps `σ'` there; its last step, to `σ_min`, returns `D̂`).
    /// `sigma_min` is in the frame's units (σ_min/σ_d over EDM's `x0/σ_d`), as the
    /// [`Consistency`](crate::target::Consistency) target's.
    ///
    /// ```
    /// use gdf::scaler::Vp;
    /// use gdf::solver::{gaussian_steps, Grid, Lcm};
    /// // σ = 2 then σ' = 0.5 (VP levels), boundary 0.1, s_noise 1.
    /// let lam = |s: f64| -2.0 * s.ln();
    /// let grid = Grid::new(&Vp, &[lam(2.0), lam(0.5), lam(0.1)])?;
    /// let cm = Lcm::new().with_noise_floor(0.1, 1.0)?;
    /// let steps = gaussian_steps(&cm, &grid)?;
    /// let a1 = 1.0 / (1.0f64 + 0.25).sqrt();
    /// assert!((steps[0].std - a1 * (0.25f64 - 0.01).sqrt()).abs() < 1e-15);
    /// assert_eq!(steps[1].std, 0.0); // to σ_min itself: D̂
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    ///
    /// Errors: [`GdfError::OutOfRange`] naming `sigma_min` (not finite or negative) or
    /// `s_noise` (not finite or negative).
    pub fn with_noise_floor(mut self, sigma_min: f64, s_noise: f64) -> Result<Self> {
        super::check_nonneg("sigma_min", sigma_min)?;
        super::check_nonneg("s_noise", s_noise)?;
        self.floor = sigma_min;
        self.s_noise = s_noise;
        Ok(self)
    }

    /// The renoise's `(sigma_min, s_noise)` (`(0, 1)`: the plain renoise).
    pub fn noise_floor(&self) -> (f64, f64) {
        (self.floor, self.s_noise)
    }

    /// The boundary condition, if any.
    pub fn boundary(&self) -> Option<&LcmBoundary> {
        self.boundary.as_ref()
    }
}

impl Solver for Lcm {
    fn takes_threshold(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "lcm"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        // The estimate renoised to a level: from pure noise (λ = −∞) the boundary
        // condition's timestep is that of the first level, which must be finite.
        if let Some(b) = &self.boundary {
            let lam = grid.level(0).lam;
            let (cs, co) = b.scalings(lam);
            if !(cs.is_finite() && co.is_finite()) {
                return Err(GdfError::Invalid {
                    message: format!(
                        "lcm: the boundary condition is not finite at the first level \
                         (λ = {lam}, timestep {})",
                        b.timestep.noise_cond(lam)
                    ),
                });
            }
        }
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = next_step(grid, &mut self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        let (cs, co) = match &self.boundary {
            Some(b) => b.scalings(l.lam),
            None => (0.0, 1.0),
        };
        let post = if ln.lam == f64::INFINITY {
            Pass::one(Row::new(Dst::Buf(Buf::X)).t(X, cs).t(Src::D(0), co))
        } else {
            // σ'² − σ_min² in the VE frame, times a'²; the plain renoise's b' bit for bit.
            let noise = if self.floor == 0.0 && self.s_noise == 1.0 {
                ln.b
            } else {
                let (b, e) = (ln.b, self.floor * ln.a);
                let left = (b - e) * (b + e);
                // At (or past) the boundary's level, up to the float64 rounding of a level
                // (σ_min/σ_d through λ and back): nothing to add, and no draw.
                if left <= 64.0 * f64::EPSILON * b * b {
                    0.0
                } else {
                    self.s_noise * left.sqrt()
                }
            };
            let row = Row::new(Dst::Buf(Buf::X))
                .t(X, ln.a * cs)
                .t(Src::D(0), ln.a * co);
            if noise == 0.0 {
                Pass::one(row)
            } else {
                Pass::one(row.t(Src::Noise(0), noise)).draw(Draw::Use)
            }
        };
        Some(Eval::single(i, l, post))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
}
