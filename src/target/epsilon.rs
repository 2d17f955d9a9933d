//! ε-prediction: target `ε`; `x0 = (x − b·p)/a`, `ε = p`.

use crate::component::zst;

zst!(
    /// ε-prediction: target `ε`; `x0 = (x − b·p)/a`, `ε = p`.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// let (a, b) = (0.8f64, 0.6);
    /// assert_eq!(target::Epsilon.target(0.3, -1.2, a, b), -1.2);
    /// assert!((target::Epsilon.x0(a * 0.3 + b * -1.2, -1.2, a, b) - 0.3).abs() < 1e-15);
    /// ```
    Epsilon
);

/// The formulas (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// The training target.
    pub fn target<F: Float>(_x0: F, eps: F, _a: F, _b: F) -> F {
        eps
    }
    /// `x0` from prediction `p` at noised `x`.
    pub fn x0<F: Float>(x: F, p: F, a: F, b: F) -> F {
        (x - b * p) / a
    }
    /// `ε` from prediction `p` at noised `x`.
    pub fn eps<F: Float>(_x: F, p: F, _a: F, _b: F) -> F {
        p
    }
}

super::target_impls!(Epsilon, "Epsilon", is_epsilon = true);
