//! `a` of the Lerp scaler: `σ(λ/2)` (stable form; the original's gives 0.500125 at λ = 0).

use crate::component::zst;

zst!(
    /// `a` of the Lerp scaler: `σ(λ/2)` (stable form; the original's gives 0.500125 at λ = 0).
    ///
    /// ```
    /// use gdf::prelude::*;
    /// assert_eq!(noise_cond::RectifiedFlows.noise_cond(0.0f64), 0.5);
    /// ```
    RectifiedFlows
);

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// The noise cond at logSNR `l`.
    pub fn cond<F: Float>(l: F) -> F {
        sigmoid::<F>(l * F::new(0.5))
    }
}

simple_cond!(RectifiedFlows, "RectifiedFlows");
