//! CFG++ (Chung et al. 2024): guidance with the renoising done by the unconditional noise.

use super::cfg::simple_plan;
use super::{out_of_range, Coef, Gate, Guidance, Layout, Moments, Plan, Space, StepCtx};
use crate::error::Result;

/// CFG++: the guided prediction is `D_λ = D_u + λ·(D_c − D_u)` with `λ ∈ [0, 1]` (the same in ε
/// and in D, since it is linear), and the **solver step** renoises with the unconditional
/// prediction:
///
/// ```text
/// x' = a'·D_λ + b'·ε̂_u  =  (b'/b)·x + a'·D_λ − (a·b'/b)·D_u
/// ```
///
/// i.e. the first-order step with `D_λ` in the x0 slot and `D_u` in the ε slot. So the solver
/// consumes **both** `D_λ` (what [`Guidance::guide`] writes) and `D_u` (the unconditional
/// prediction itself, unchanged); [`CfgPp::step_coefficients`] gives the step's three
/// coefficients. Where the gate is closed, `D_λ = D_c` and the renoise uses `D_c`: a plain
/// DDIM step. README examples use λ = 0.6 where CFG would use w = 7.5.
///
/// ```
/// use gdf::guidance::{CfgPp, Guidance, StepCtx};
/// let g = CfgPp::new(0.6)?;
/// let ctx = StepCtx::new(0, 10)?;
/// assert_eq!(g.linear(&ctx)?, Some([0.6, 0.4]));
/// assert!(g.renoise_with_uncond(&ctx)?);
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CfgPp {
    /// The scale λ in `[0, 1]`. Default 0.6.
    pub scale: f64,
    /// When guidance is on. Default: every step.
    pub gate: Gate,
}

impl Default for CfgPp {
    fn default() -> Self {
        Self {
            scale: 0.6,
            gate: Gate::default(),
        }
    }
}

impl CfgPp {
    /// CFG++ with scale λ. Errors: λ outside `[0, 1]`.
    pub fn new(scale: f64) -> Result<Self> {
        let g = Self {
            scale,
            gate: Gate::default(),
        };
        g.validate()?;
        Ok(g)
    }

    /// Whether the step at `ctx` renoises with the unconditional prediction (`true` where
    /// guidance is on; else with the conditional one, a plain step).
    pub fn renoise_with_uncond(&self, ctx: &StepCtx) -> Result<bool> {
        self.enabled(ctx)
    }

    /// The coefficients `[c_x, c_λ, c_r]` of the deterministic CFG++ step from level `(a, b)`
    /// to `(a', b')`: `x' = c_x·x + c_λ·D_λ + c_r·D_r`, with `D_r = D_u` where
    /// [`CfgPp::renoise_with_uncond`] (else `D_c`). Equals `(b'/b, a', −a·b'/b)`.
    ///
    /// Errors: `b ≤ 0` (the clean end is not a starting level), a level not finite.
    ///
    /// ```
    /// use gdf::guidance::CfgPp;
    /// // with D_c = D_u every step is DDIM's: x' = a'·D + b'·(x − a·D)/b
    /// let [cx, cl, cr] = CfgPp::step_coefficients(0.6, 0.8, 0.8, 0.6)?;
    /// let (x, d) = (1.0f64, 0.5);
    /// let ddim = 0.8 * d + 0.6 * (x - 0.6 * d) / 0.8;
    /// assert!((cx * x + cl * d + cr * d - ddim).abs() < 1e-15);
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn step_coefficients(a: f64, b: f64, a_next: f64, b_next: f64) -> Result<[f64; 3]> {
        for (what, v) in [("a", a), ("a_next", a_next), ("b_next", b_next)] {
            if !v.is_finite() {
                return Err(out_of_range(what, v, "a finite level coefficient"));
            }
        }
        if !(b > 0.0 && b.is_finite()) {
            return Err(out_of_range("b", b, "b > 0 (a noisy starting level)"));
        }
        let r = b_next / b;
        Ok([r, a_next, -a * r])
    }
}

impl Guidance for CfgPp {
    fn name(&self) -> &'static str {
        "CFG++"
    }

    fn space(&self) -> Space {
        Space::Either
    }

    fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.scale) {
            return Err(out_of_range("scale", self.scale, "CFG++'s λ in [0, 1]"));
        }
        self.gate.validate()
    }

    fn enabled(&self, ctx: &StepCtx) -> Result<bool> {
        self.validate()?;
        self.gate.open(ctx)
    }

    fn linear(&self, ctx: &StepCtx) -> Result<Option<[f64; 2]>> {
        Ok(Some(if self.enabled(ctx)? {
            [self.scale, 1.0 - self.scale]
        } else {
            [1.0, 0.0]
        }))
    }

    fn plan(&self, ctx: &StepCtx, _layout: &Layout) -> Result<Plan> {
        Ok(simple_plan(self.enabled(ctx)?, false, 0.0))
    }

    fn renoises_with_uncond(&self, ctx: &StepCtx) -> Result<bool> {
        self.renoise_with_uncond(ctx)
    }

    fn coefficients(&self, _ctx: &StepCtx, plan: &Plan, _g: &Moments) -> Coef {
        if plan.enabled {
            [0.0, 1.0, 0.0, self.scale] // D_u + λ·(D_c − D_u)
        } else {
            [1.0, 0.0, 0.0, 0.0]
        }
    }
}
