//! Rectified-flow velocity: target `ε − x0`; `x0 = x − b·p`, `ε = x + a·p`.

use crate::component::zst;

zst!(
    /// Rectified-flow velocity: target `ε − x0`; `x0 = x − b·p`, `ε = x + a·p`.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// let (x0, eps, a, b) = (0.3f64, -1.2, 0.25, 0.75);
    /// let v = target::RectifiedFlows.target(x0, eps, a, b);
    /// assert!((target::RectifiedFlows.x0(a * x0 + b * eps, v, a, b) - x0).abs() < 1e-12);
    /// ```
    RectifiedFlows
);

/// The formulas (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// The training target.
    pub fn target<F: Float>(x0: F, eps: F, _a: F, _b: F) -> F {
        eps - x0
    }
    /// `x0` from prediction `p` at noised `x`.
    pub fn x0<F: Float>(x: F, p: F, _a: F, b: F) -> F {
        x - b * p
    }
    /// `ε` from prediction `p` at noised `x`.
    pub fn eps<F: Float>(x: F, p: F, a: F, _b: F) -> F {
        x + a * p
    }
}

super::target_impls!(RectifiedFlows, "RectifiedFlows");
