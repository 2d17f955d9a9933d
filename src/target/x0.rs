//! x0-prediction: target `x0`; `x0 = p`, `ε = (x − a·p)/b`.

use crate::component::zst;

zst!(
    /// x0-prediction: target `x0`; `x0 = p`, `ε = (x − a·p)/b`.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// let (a, b) = (0.8f64, 0.6);
    /// assert_eq!(target::X0.target(0.3, -1.2, a, b), 0.3);
    /// assert!((target::X0.eps(a * 0.3 + b * -1.2, 0.3, a, b) + 1.2).abs() < 1e-15);
    /// ```
    X0
);

/// The formulas (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// The training target.
    pub fn target<F: Float>(x0: F, _eps: F, _a: F, _b: F) -> F {
        x0
    }
    /// `x0` from prediction `p` at noised `x`.
    pub fn x0<F: Float>(_x: F, p: F, _a: F, _b: F) -> F {
        p
    }
    /// `ε` from prediction `p` at noised `x`.
    pub fn eps<F: Float>(x: F, p: F, a: F, b: F) -> F {
        (x - a * p) / b
    }
}

super::target_impls!(X0, "X0");
