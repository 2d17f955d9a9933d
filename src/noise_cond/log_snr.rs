//! λ itself.

use crate::component::zst;

zst!(
    /// λ itself.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// assert_eq!(noise_cond::LogSnr.noise_cond(-3.5f64), -3.5);
    /// ```
    LogSnr
);

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// The noise cond at logSNR `l`.
    pub fn cond<F: Float>(l: F) -> F {
        l
    }
}

simple_cond!(LogSnr, "LogSnr");
