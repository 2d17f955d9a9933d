//! Latent consistency sampling.

use core::fmt;

use super::Sampler;
use crate::component::{zst, LogSnrFn};
use crate::float::Real;

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// `(a', 0, b')`: the clean estimate renoised with fresh noise.
    pub fn lcm<F: Float>(_a: F, _b: F, a_prev: F, b_prev: F) -> (F, F, F) {
        (a_prev, F::new(0.0), b_prev)
    }
}

zst!(
    /// Latent consistency sampling: `x ← a'·x0 + b'·n` (fresh noise, ε unused).
    Lcm
);

impl LogSnrFn for Lcm {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("Lcm")
    }
}

impl Sampler for Lcm {
    #[inline(always)]
    fn coefficients<F: Real>(&self, a: F, b: F, a_prev: F, b_prev: F) -> [F; 3] {
        let (c_x0, c_eps, c_n) = formula::lcm(a, b, a_prev, b_prev);
        [c_x0, c_eps, c_n]
    }
    fn uses_noise(&self) -> bool {
        true
    }
    fn uses_eps(&self) -> bool {
        false
    }
}

#[cfg(gdf_kernel)]
mod device {
    use super::*;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use crate::sampler::{CubeSampler, SamplerConsts};
    use cubecl::prelude::*;

    impl SamplerConsts for Lcm {
        const USES_NOISE: bool = true;
        const USES_EPS: bool = false;
    }
    #[cube]
    impl CubeSampler for Lcm {
        fn coefficients<F: Float>(a: F, b: F, a_prev: F, b_prev: F) -> (F, F, F) {
            formula::cube::lcm::<F>(a, b, a_prev, b_prev)
        }
    }
}
