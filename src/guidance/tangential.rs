//! Tangential classifier-free guidance (diffusers' `TangentialClassifierFreeGuidance`).

use super::cfg::{check_rescale, check_scale, is_noop, simple_plan};
use super::{Coef, Gate, Guidance, Layout, Moments, Plan, Space, StepCtx, COND, UNCOND};
use crate::error::Result;

/// Tangential CFG: per sample, `v₁` is the first right-singular vector of the 2×D matrix
/// `[c; u]` (D = the flattened sample), `u' = ⟨u, v₁⟩·v₁`, and `out = u' + w·(c − u')` (or
/// `c + w·(c − u')` with [`Tangential::original`]). Acts on F (diffusers).
///
/// No SVD of the 2×D matrix is needed: `v₁ = (y₁·c + y₂·u)/√λ₁` with `(y₁, y₂)` the unit top
/// eigenvector of the 2×2 Gram matrix `G = [[⟨c,c⟩, ⟨c,u⟩], [⟨c,u⟩, ⟨u,u⟩]]`, so
/// `u' = y₂·(y₁·c + y₂·u)`: one reduction pass (three dot products) and one write pass. The
/// eigenvector comes from the angle form (see [`top_eigen_products`]), without cancellation.
/// The sign of `v₁` cancels.
///
/// ```
/// use gdf::guidance::{Guidance, Layout, StepCtx, Tangential};
/// // c ∥ u: v₁ ∥ u, so u' = u and this is plain CFG.
/// let g = &mut Tangential::new(3.0)?;
/// let mut out = [0.0; 2];
/// g.guide(&StepCtx::new(0, 1)?, &Layout::flat(1, 2)?, &[2.0f64, 4.0], Some(&[1.0, 2.0]), &mut out)?;
/// assert!((out[0] - 4.0).abs() < 1e-12 && (out[1] - 8.0).abs() < 1e-12);
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Tangential {
    /// The scale `w`, finite and ≥ 0. Default 7.5.
    pub scale: f64,
    /// The rescale φ in `[0, 1]`. Default 0.
    pub rescale: f64,
    /// Ho–Salimans' form (`use_original_formulation`). Default `false`.
    pub original: bool,
    /// When guidance is on. Default: every step.
    pub gate: Gate,
}

impl Default for Tangential {
    fn default() -> Self {
        Self {
            scale: 7.5,
            rescale: 0.0,
            original: false,
            gate: Gate::default(),
        }
    }
}

impl Tangential {
    /// Tangential CFG with scale `w` and the other defaults.
    pub fn new(scale: f64) -> Result<Self> {
        let g = Self {
            scale,
            ..Self::default()
        };
        g.validate()?;
        Ok(g)
    }
}

/// For the symmetric matrix `[[a, b], [b, d]]`, the products `(y₁·y₂, y₂²)` of its unit
/// eigenvector `y` of the largest eigenvalue (sign-free).
///
/// With `ρ = hypot(a − d, 2b)` and `2θ = atan2(2b, a − d)`, `y = (cos θ, sin θ)`, so
/// `y₁y₂ = b/ρ` and `y₂² = (ρ − (a − d))/(2ρ)`, the latter written `2b²/(ρ(ρ + a − d))` when
/// `a ≥ d` to avoid cancellation. A multiple of the identity (`ρ = 0`, every vector is an
/// eigenvector) gives `y = (1, 0)`.
///
/// ```
/// use gdf::guidance::top_eigen_products;
/// // [[2, 1], [1, 2]]: top eigenvector (1, 1)/√2
/// let (p, q) = top_eigen_products(2.0, 1.0, 2.0);
/// assert!((p - 0.5).abs() < 1e-15 && (q - 0.5).abs() < 1e-15);
/// ```
pub fn top_eigen_products(a: f64, b: f64, d: f64) -> (f64, f64) {
    let h = a - d;
    let rho = h.hypot(2.0 * b);
    if rho == 0.0 || !rho.is_finite() {
        return (0.0, 0.0);
    }
    let y1y2 = b / rho;
    let y2sq = if h >= 0.0 {
        2.0 * b * b / (rho * (rho + h))
    } else {
        (rho - h) / (2.0 * rho)
    };
    (y1y2, y2sq)
}

impl Guidance for Tangential {
    fn name(&self) -> &'static str {
        "TangentialClassifierFreeGuidance"
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

    fn linear(&self, ctx: &StepCtx) -> Result<Option<[f64; 2]>> {
        Ok(if self.rescale == 0.0 && !self.enabled(ctx)? {
            Some([1.0, 0.0])
        } else {
            None
        })
    }

    fn plan(&self, ctx: &StepCtx, _layout: &Layout) -> Result<Plan> {
        let on = self.enabled(ctx)?;
        Ok(simple_plan(on, on, self.rescale))
    }

    fn coefficients(&self, _ctx: &StepCtx, plan: &Plan, g: &Moments) -> Coef {
        if !plan.enabled {
            return [1.0, 0.0, 0.0, 0.0];
        }
        // u' = p·c + q·u
        let (p, q) = top_eigen_products(
            g.dot[COND][COND],
            g.dot[COND][UNCOND],
            g.dot[UNCOND][UNCOND],
        );
        let w = self.scale;
        if self.original {
            [1.0 + w - w * p, -w * q, 0.0, 0.0]
        } else {
            [w + (1.0 - w) * p, (1.0 - w) * q, 0.0, 0.0]
        }
    }
}
