//! `σ(−λ)`: the noise variance under VP.

use crate::component::zst;

zst!(
    /// `σ(−λ)`: the noise variance under VP.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// assert_eq!(noise_cond::Sigmoid.noise_cond(0.0f64), 0.5);
    /// ```
    Sigmoid
);

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// The noise cond at logSNR `l`.
    pub fn cond<F: Float>(l: F) -> F {
        sigmoid::<F>(-l)
    }
}

simple_cond!(Sigmoid, "Sigmoid");
