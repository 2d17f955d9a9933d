//! EDM's noise conds: `c_noise = ln σ / 4` and σ itself.

use core::fmt;

use super::NoiseCond;
use crate::component::{zst, LogSnrFn};
use crate::float::Real;
use crate::konst::{lit, need, Const, One};

zst!(
    /// EDM's `c_noise`: `−λ/8` (= ln σ / 4).
    ///
    /// ```
    /// use gdf::prelude::*;
    /// assert_eq!(noise_cond::Edm.noise_cond(-4.0f64), 0.5);
    /// ```
    Edm
);

/// The formulas (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// Edm: `−λ/8`.
    pub fn cond<F: Float>(l: F) -> F {
        -l / F::new(8.0)
    }
    /// EdmSigma: `e^(−λ/2)·sigma_data`.
    pub fn sigma<F: Float>(l: F, sigma_data: F) -> F {
        F::exp(-l * F::new(0.5)) * sigma_data
    }
}

simple_cond!(Edm, "Edm");

zst!(
    /// EDM's σ: `e^(−λ/2)·sigma_data`. Default `sigma_data = 1`.
    EdmSigma<Sd: Const = One>
    check {
        assert!(
            need::positive(Sd::F64),
            "EdmSigma: `sigma_data` must be positive"
        );
    }
);

impl<Sd: Const> LogSnrFn for EdmSigma<Sd> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "EdmSigma(sigma_data = {})", lit(Sd::F64))
    }
}

impl<Sd: Const> NoiseCond for EdmSigma<Sd> {
    #[inline(always)]
    fn cond<F: Real>(&self, l: F) -> F {
        edm_sigma(l, Sd::F64)
    }
}

/// The EdmSigma formula: `e^(−λ/2)·sigma_data`.
#[inline(always)]
pub fn edm_sigma<F: Real>(l: F, sigma_data: f64) -> F {
    formula::sigma(l, F::of(sigma_data))
}

#[cfg(gdf_kernel)]
mod device_sigma {
    use super::*;
    use crate::formula::device::konst;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use crate::noise_cond::{CubeNoiseCond, NoiseCondConsts};
    use cubecl::prelude::*;

    impl<Sd: Const> NoiseCondConsts for EdmSigma<Sd> {}
    #[cube]
    impl<Sd: Const> CubeNoiseCond for EdmSigma<Sd> {
        fn cond<F: Float>(l: F, _state: &[F]) -> F {
            formula::cube::sigma::<F>(l, konst::<F>(comptime!(Sd::F64)))
        }
    }
}
