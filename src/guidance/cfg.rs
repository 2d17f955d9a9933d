//! Classifier-free guidance (diffusers' `ClassifierFreeGuidance`) with the per-sample
//! guidance rescale, and autoguidance.

use super::{
    out_of_range, Branch, Cells, Coef, Gate, Guidance, Layout, Moments, Plan, Space, StepCtx,
};
use crate::error::Result;

/// Classifier-free guidance: `out = u + w·(c − u)` (diffusers' convention, `w = 1` is no
/// guidance), or with [`ClassifierFree::original`] Ho–Salimans' `c + w·(c − u)` (`w = 0` is no
/// guidance). Followed, when `rescale = φ > 0`, by diffusers' per-sample rescale (Lin et al.
/// 2023) `out ← φ·out·std(c)/std(out) + (1 − φ)·out` on **every** step, guided or not.
///
/// Acts on the raw model output F like diffusers; without a rescale it is linear and gives
/// the same D in either space (SPEC-solvers §0.3). The rescale is the only non-linear part:
/// it needs the per-sample moments of `c` and `u` (one reduction pass).
///
/// With [`Branch::WeakModel`] it is autoguidance (Karras et al. 2024): the same combination,
/// with `u` the prediction of a weaker model under the same conditioning.
///
/// ```
/// use gdf::guidance::{ClassifierFree, Guidance, Layout, StepCtx};
/// let mut g = ClassifierFree::new(7.5)?;
/// g.rescale = 0.7;
/// let ctx = StepCtx::new(0, 1)?;
/// let mut out = [0.0; 4];
/// g.guide(&ctx, &Layout::flat(1, 4)?, &[1.0f64, 2.0, 3.0, 4.0], Some(&[1.0; 4]), &mut out)?;
/// assert!((out[1] - 3.3433333333333333).abs() < 1e-12); // SPEC §8.1
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierFree {
    /// The scale `w` (diffusers' `guidance_scale`), finite and ≥ 0. Default 7.5.
    pub scale: f64,
    /// The rescale φ (`guidance_rescale`) in `[0, 1]`; 0 = off. Default 0.
    pub rescale: f64,
    /// Ho–Salimans' form `c + w·(c − u)` (`use_original_formulation`). Default `false`.
    pub original: bool,
    /// When guidance is on. Default: every step.
    pub gate: Gate,
    /// Where `u` comes from. Default [`Branch::Unconditional`].
    pub branch: Branch,
}

impl Default for ClassifierFree {
    fn default() -> Self {
        Self {
            scale: 7.5,
            rescale: 0.0,
            original: false,
            gate: Gate::default(),
            branch: Branch::Unconditional,
        }
    }
}

impl ClassifierFree {
    /// CFG with scale `w` and the other defaults. Errors: `w` negative or not finite.
    pub fn new(scale: f64) -> Result<Self> {
        let g = Self {
            scale,
            ..Self::default()
        };
        g.validate()?;
        Ok(g)
    }

    /// Autoguidance with scale `w`: `D = D_weak + w·(D_main − D_weak)` (EDM2 uses w ≈ 1.7–2.9
    /// with 32 Heun steps). The caller evaluates the weak model where a CFG loop evaluates the
    /// unconditional branch; [`Branch::check`] refuses a loop without one.
    ///
    /// ```
    /// use gdf::guidance::{Branch, ClassifierFree, Guidance, StepCtx};
    /// let g = ClassifierFree::autoguidance(2.1)?;
    /// assert_eq!(g.branch(), Branch::WeakModel);
    /// assert_eq!(g.linear(&StepCtx::new(0, 32)?)?, Some([2.1, -1.1]));
    /// assert!(g.branch().check(false).is_err());
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn autoguidance(scale: f64) -> Result<Self> {
        let g = Self {
            scale,
            branch: Branch::WeakModel,
            ..Self::default()
        };
        g.validate()?;
        Ok(g)
    }

    /// The no-op scale: 1, or 0 with the original form.
    pub fn noop_scale(&self) -> f64 {
        noop(self.original)
    }

    /// `(α, β)` of `α·c + β·u` when on.
    fn on_coefficients(&self) -> [f64; 2] {
        let w = self.scale;
        if self.original {
            [1.0 + w, -w]
        } else {
            [w, 1.0 - w]
        }
    }
}

pub(crate) fn noop(original: bool) -> f64 {
    if original {
        0.0
    } else {
        1.0
    }
}

/// Whether `w` is the no-op scale ([`noop`]) as diffusers decides it: `math.isclose` with its
/// default relative tolerance, `|w − noop| ≤ 1e-9·max(|w|, |noop|)`. So `1 + 1e-10` is off
/// (one evaluation), and with the original form only an exact 0 is.
pub(crate) fn is_noop(w: f64, original: bool) -> bool {
    let n = noop(original);
    (w - n).abs() <= 1e-9 * w.abs().max(n.abs())
}

pub(crate) fn check_scale(w: f64) -> Result<()> {
    if w.is_finite() && w >= 0.0 {
        Ok(())
    } else {
        Err(out_of_range("guidance_scale", w, "a finite number ≥ 0"))
    }
}

pub(crate) fn check_rescale(phi: f64) -> Result<()> {
    if (0.0..=1.0).contains(&phi) {
        Ok(())
    } else {
        Err(out_of_range("guidance_rescale", phi, "0 ≤ φ ≤ 1"))
    }
}

/// The plan of the guiders whose groups are whole samples and that keep no state.
pub(crate) fn simple_plan(enabled: bool, reduce: bool, rescale: f64) -> Plan {
    Plan {
        enabled,
        reads_uncond: enabled,
        reduce: reduce || rescale > 0.0,
        momentum: None,
        rescale,
        cells: Cells::per_sample(),
    }
}

impl Guidance for ClassifierFree {
    fn name(&self) -> &'static str {
        match self.branch {
            Branch::Unconditional => "ClassifierFreeGuidance",
            Branch::WeakModel => "Autoguidance",
        }
    }

    fn space(&self) -> Space {
        if self.rescale > 0.0 {
            Space::Prediction
        } else {
            Space::Either
        }
    }

    fn branch(&self) -> Branch {
        self.branch
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

    fn linear(&self, ctx: &StepCtx) -> Result<Option<[f64; 2]>> {
        let on = self.enabled(ctx)?;
        if self.rescale > 0.0 {
            return Ok(None);
        }
        Ok(Some(if on {
            self.on_coefficients()
        } else {
            [1.0, 0.0]
        }))
    }

    fn plan(&self, ctx: &StepCtx, _layout: &Layout) -> Result<Plan> {
        Ok(simple_plan(self.enabled(ctx)?, false, self.rescale))
    }

    fn coefficients(&self, _ctx: &StepCtx, plan: &Plan, _group: &Moments) -> Coef {
        // u + w·(c − u) or c + w·(c − u), with c − u formed per element
        match (plan.enabled, self.original) {
            (false, _) => [1.0, 0.0, 0.0, 0.0],
            (true, false) => [0.0, 1.0, 0.0, self.scale],
            (true, true) => [1.0, 0.0, 0.0, self.scale],
        }
    }
}
