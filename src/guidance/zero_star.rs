//! CFG-Zero* (Fan et al. 2025; diffusers' `ClassifierFreeZeroStarGuidance`).

use super::cfg::{check_rescale, check_scale, is_noop, simple_plan};
use super::{
    out_of_range, Coef, Gate, Guidance, Layout, Moments, Plan, Space, StepCtx, COND, UNCOND,
};
use crate::error::Result;

/// The `ε` diffusers adds to `‖u‖²` in the optimised scale.
pub const ZERO_STAR_EPS: f64 = 1e-8;

/// CFG-Zero*: per sample, the optimised scale `s* = ⟨c, u⟩/(‖u‖² + 1e-8)` (dot and norm over
/// the flattened sample) shrinks the unconditional branch, `u' = s*·u`, and
/// `out = u' + w·(c − u')` (or `c + w·(c − u')` with [`CfgZeroStar::original`]). For the
/// first `zero_init_steps` steps the output is 0 ("zero-init"), whatever the window, unless
/// the guider is switched off ([`Gate::disabled`]: then every step outputs `c`, as in diffusers,
/// whose `enabled = False` is checked first).
///
/// Designed for flow-velocity outputs (it acts on F): a zero velocity makes a flow step a
/// no-op. For other targets read zero-init as "skip the update" rather than `F = 0`.
///
/// With a rescale φ > 0, zero-init steps give **NaN**, exactly as diffusers does (quirk 7 of
/// the golden README: `std(0) = 0` divides); use φ = 0 with zero-init.
///
/// ```
/// use gdf::guidance::{CfgZeroStar, Guidance, Layout, StepCtx};
/// let mut g = CfgZeroStar::new(4.0)?;
/// g.zero_init_steps = 0;
/// let mut out = [0.0; 2];
/// g.guide(&StepCtx::new(0, 2)?, &Layout::flat(1, 2)?, &[1.0f64, 2.0], Some(&[2.0, 0.0]), &mut out)?;
/// assert!((out[0] - 1.0).abs() < 1e-7 && (out[1] - 8.0).abs() < 1e-7); // s* = 0.5 (SPEC §8.3)
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CfgZeroStar {
    /// The scale `w`, finite and ≥ 0. Default 7.5.
    pub scale: f64,
    /// The rescale φ in `[0, 1]`. Default 0.
    pub rescale: f64,
    /// Ho–Salimans' form (`use_original_formulation`). Default `false`.
    pub original: bool,
    /// Steps `0 ≤ i < zero_init_steps` output 0 (unless [`Gate::disabled`]); must be below the
    /// number of steps.
    /// Default 1 (diffusers; the official code's `zero_init_steps = 0` with `i ≤ K` is the
    /// same step 0).
    pub zero_init_steps: usize,
    /// When guidance is on. Default: every step.
    pub gate: Gate,
}

impl Default for CfgZeroStar {
    fn default() -> Self {
        Self {
            scale: 7.5,
            rescale: 0.0,
            original: false,
            zero_init_steps: 1,
            gate: Gate::default(),
        }
    }
}

impl CfgZeroStar {
    /// CFG-Zero* with scale `w` and the other defaults.
    pub fn new(scale: f64) -> Result<Self> {
        let g = Self {
            scale,
            ..Self::default()
        };
        g.validate()?;
        Ok(g)
    }

    /// Whether step `step` is a zero-init step: `step < zero_init_steps`, unless the guider is
    /// switched off ([`Gate::disabled`], which diffusers checks before zero-init).
    ///
    /// ```
    /// use gdf::guidance::CfgZeroStar;
    /// let mut g = CfgZeroStar::new(4.0)?; // zero_init_steps = 1
    /// assert!(g.zeroes(0) && !g.zeroes(1));
    /// g.gate.disabled = true;
    /// assert!(!g.zeroes(0));
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn zeroes(&self, step: usize) -> bool {
        !self.gate.disabled && step < self.zero_init_steps
    }

    fn zero_step(&self, ctx: &StepCtx) -> Result<bool> {
        if !self.gate.disabled && self.zero_init_steps >= ctx.num_steps {
            return Err(out_of_range(
                "zero_init_steps",
                self.zero_init_steps as f64,
                "fewer than the number of steps (else every step outputs 0)",
            ));
        }
        Ok(self.zeroes(ctx.step))
    }
}

impl Guidance for CfgZeroStar {
    fn name(&self) -> &'static str {
        "ClassifierFreeZeroStarGuidance"
    }

    fn space(&self) -> Space {
        Space::Prediction
    }

    fn validate(&self) -> Result<()> {
        check_scale(self.scale)?;
        check_rescale(self.rescale)?;
        self.gate.validate()
    }

    fn enabled(&self, ctx: &StepCtx) -> Result<bool> {
        self.validate()?;
        Ok(self.gate.open(ctx)? && !is_noop(self.scale, self.original))
    }

    fn needs_uncond(&self, ctx: &StepCtx) -> Result<bool> {
        Ok(self.enabled(ctx)? && !self.zero_step(ctx)?)
    }

    fn linear(&self, ctx: &StepCtx) -> Result<Option<[f64; 2]>> {
        if self.rescale > 0.0 {
            return Ok(None);
        }
        if self.zero_step(ctx)? {
            return Ok(Some([0.0, 0.0]));
        }
        Ok(if self.enabled(ctx)? {
            None
        } else {
            Some([1.0, 0.0])
        })
    }

    fn plan(&self, ctx: &StepCtx, _layout: &Layout) -> Result<Plan> {
        let on = self.enabled(ctx)?;
        let zero = self.zero_step(ctx)?;
        let mut p = simple_plan(on, on && !zero, self.rescale);
        p.reads_uncond = on && !zero;
        Ok(p)
    }

    fn coefficients(&self, ctx: &StepCtx, plan: &Plan, g: &Moments) -> Coef {
        if self.zeroes(ctx.step) {
            return [0.0; 4];
        }
        if !plan.enabled {
            return [1.0, 0.0, 0.0, 0.0];
        }
        let s = g.dot[COND][UNCOND] / (g.dot[UNCOND][UNCOND] + ZERO_STAR_EPS);
        let w = self.scale;
        if self.original {
            [1.0 + w, -w * s, 0.0, 0.0]
        } else {
            [w, s * (1.0 - w), 0.0, 0.0]
        }
    }
}
