//! The variance-preserving scaler.

use core::fmt;

use crate::component::{zst, LogSnrFn};
use crate::float::Real;

use super::Scaler;

zst!(
    /// Variance preserving: `a = sqrt(σ(λ))`, `b = sqrt(σ(−λ))` (the stable form of the
    /// original's `sqrt(1 − σ(λ))`, accurate for large λ).
    ///
    /// ```
    /// use gdf::prelude::*;
    /// let (a, b): (f64, f64) = scaler::Vp.ab(2.0);
    /// assert!((a * a + b * b - 1.0).abs() < 1e-15);
    /// assert!(((a * a / (b * b)).ln() - 2.0).abs() < 1e-12);
    /// ```
    Vp
);

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// `(a, b) = (√σ(λ), √σ(−λ))`.
    pub fn ab<F: Float>(l: F) -> (F, F) {
        (F::sqrt(sigmoid::<F>(l)), F::sqrt(sigmoid::<F>(-l)))
    }
}

impl LogSnrFn for Vp {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("Vp")
    }
}

impl Scaler for Vp {
    #[inline(always)]
    fn ab<F: Real>(&self, l: F) -> (F, F) {
        formula::ab(l)
    }
}

#[cfg(gdf_kernel)]
mod device {
    use super::*;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use cubecl::prelude::*;

    #[cube]
    impl crate::scaler::CubeScaler for Vp {
        fn ab<F: Float>(l: F, _state: &[F]) -> (F, F) {
            formula::cube::ab::<F>(l)
        }
    }
}
