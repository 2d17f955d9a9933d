//! The linear-interpolation (rectified flows) scaler.

use core::fmt;

use crate::component::{zst, LogSnrFn};
use crate::float::Real;

use super::Scaler;

zst!(
    /// Linear interpolation (rectified flows): `a = σ(λ/2)`, `b = σ(−λ/2)` so `a + b = 1`
    /// and `a/b = e^(λ/2)`.
    ///
    /// The original computes this through `A = e^λ − 1` and gives `a(0) = 0.500125` and
    /// `a(+∞) = NaN`; this stable form gives exactly `0.5` and `1`.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// assert_eq!(scaler::Lerp.ab(0.0f64), (0.5, 0.5));
    /// assert_eq!(scaler::Lerp.ab(f64::INFINITY), (1.0, 0.0));
    /// ```
    Lerp
);

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// `(a, b) = (σ(λ/2), σ(−λ/2))`.
    pub fn ab<F: Float>(l: F) -> (F, F) {
        let h = l * F::new(0.5);
        (sigmoid::<F>(h), sigmoid::<F>(-h))
    }
}

impl LogSnrFn for Lerp {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("Lerp")
    }
}

impl Scaler for Lerp {
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
    impl crate::scaler::CubeScaler for Lerp {
        fn ab<F: Float>(l: F, _state: &[F]) -> (F, F) {
            formula::cube::ab::<F>(l)
        }
    }
}
