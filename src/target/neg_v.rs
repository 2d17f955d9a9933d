//! Negated v-prediction: target `b·x0 − a·ε`; EDM's network output `F` when diffusers'
//! EDM schedulers are configured with `prediction_type = "epsilon"` (Playground v2.5).

use crate::component::zst;

zst!(
    /// Negated v-prediction: target `b·x0 − a·ε = −v`; `x0 = (a·x + b·p)/(a²+b²)`,
    /// `ε = (b·x − a·p)/(a²+b²)`.
    ///
    /// This is EDM's raw network output `F` in `D = c_skip·x + c_out·F` with
    /// `c_out = σ·σ_d/√(σ² + σ_d²)` (diffusers' EDM schedulers with `prediction_type =
    /// "epsilon"`), read in the VP frame over `x0/σ_d`, where `c_skip·x/σ_d = a·x_VP` and
    /// `c_out/σ_d = b`.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// let (x0, eps, a, b) = (0.3f64, -1.2, 0.8, 0.6);
    /// let p = target::NegV.target(x0, eps, a, b);
    /// assert_eq!(p, -target::V.target(x0, eps, a, b));
    /// assert!((target::NegV.x0(a * x0 + b * eps, p, a, b) - x0).abs() < 1e-12);
    /// ```
    NegV
);

/// The formulas (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// The training target.
    pub fn target<F: Float>(x0: F, eps: F, a: F, b: F) -> F {
        b * x0 - a * eps
    }
    /// `x0` from prediction `p` at noised `x`.
    pub fn x0<F: Float>(x: F, p: F, a: F, b: F) -> F {
        (a * x + b * p) / (a * a + b * b)
    }
    /// `ε` from prediction `p` at noised `x`.
    pub fn eps<F: Float>(x: F, p: F, a: F, b: F) -> F {
        (b * x - a * p) / (a * a + b * b)
    }
}

super::target_impls!(NegV, "NegV");
