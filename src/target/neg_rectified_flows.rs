//! Negated rectified-flow velocity: target `x0 − ε` (the velocity toward the data); `x0 = x +
//! b·p`, `ε = x − a·p` (on the LERP scaler, as [`RectifiedFlows`](super::RectifiedFlows)).

use crate::component::zst;

zst!(
    /// Negated rectified-flow velocity: target `x0 − ε = −v`, the direction toward the data
    /// (MiniMax-H3's convention: `denoised = x + σ·p`); `x0 = x + b·p`, `ε = x − a·p`, on the
    /// LERP scaler (`a + b = 1`) like [`RectifiedFlows`](super::RectifiedFlows).
    ///
    /// ```
    /// use gdf::prelude::*;
    /// let (x0, eps, a, b) = (0.3f64, -1.2, 0.25, 0.75);
    /// let p = target::NegRectifiedFlows.target(x0, eps, a, b);
    /// assert_eq!(p, -target::RectifiedFlows.target(x0, eps, a, b));
    /// assert!((target::NegRectifiedFlows.x0(a * x0 + b * eps, p, a, b) - x0).abs() < 1e-12);
    /// ```
    NegRectifiedFlows
);

/// The formulas (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// The training target.
    pub fn target<F: Float>(x0: F, eps: F, _a: F, _b: F) -> F {
        x0 - eps
    }
    /// `x0` from prediction `p` at noised `x`.
    pub fn x0<F: Float>(x: F, p: F, _a: F, b: F) -> F {
        x + b * p
    }
    /// `ε` from prediction `p` at noised `x`.
    pub fn eps<F: Float>(x: F, p: F, a: F, _b: F) -> F {
        x - a * p
    }
}

super::target_impls!(NegRectifiedFlows, "NegRectifiedFlows");
