//! v-prediction: target `a·ε − b·x0`; `x0 = (a·x − b·p)/(a²+b²)`,

use crate::component::zst;

zst!(
    /// v-prediction: target `a·ε − b·x0`; `x0 = (a·x − b·p)/(a²+b²)`,
    /// `ε = (b·x + a·p)/(a²+b²)`.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// let (x0, eps, a, b) = (0.3f64, -1.2, 0.8, 0.6);
    /// let v = target::V.target(x0, eps, a, b);
    /// assert!((target::V.x0(a * x0 + b * eps, v, a, b) - x0).abs() < 1e-12);
    /// ```
    V
);

/// The formulas (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// The training target.
    pub fn target<F: Float>(x0: F, eps: F, a: F, b: F) -> F {
        a * eps - b * x0
    }
    /// `x0` from prediction `p` at noised `x`.
    pub fn x0<F: Float>(x: F, p: F, a: F, b: F) -> F {
        (a * x - b * p) / (a * a + b * b)
    }
    /// `ε` from prediction `p` at noised `x`.
    pub fn eps<F: Float>(x: F, p: F, a: F, b: F) -> F {
        (b * x + a * p) / (a * a + b * b)
    }
}

super::target_impls!(V, "V");
