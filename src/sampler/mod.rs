//! Samplers: one step from λ to `λ_prev`, the next (less noisy) level (SPEC §6).
//!
//! A step is linear: `x ← c_x0·x0 + c_ε·ε + c_n·n` with per-sample coefficients from
//! [`Sampler::coefficients`] and fresh standard normal noise `n`.
//!
//! ```
//! use gdf::prelude::*;
//! // DDIM with η = 0 is deterministic: no noise term.
//! let [cx0, ceps, cn]: [f64; 3] = <sampler::Ddim>::new().coefficients(0.6, 0.8, 0.8, 0.6);
//! assert_eq!((cx0, ceps, cn), (0.8, 0.6, 0.0));
//! ```

use crate::component::LogSnrFn;
use crate::float::Real;

pub mod ddim;
pub mod lcm;

pub use ddim::{ddim_coefficients, Ddim, Ddpm};
pub use lcm::Lcm;

/// A sampler: the coefficients of one step given `(a, b)` at λ and `(a', b')` at `λ_prev`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a sampler",
    label = "expected a sampler (one denoising step) here",
    note = "samplers are Ddim, Ddpm and Lcm, or your own type implementing `gdf::sampler::Sampler`"
)]
pub trait Sampler: LogSnrFn {
    /// `[c_x0, c_ε, c_n]` for `x ← c_x0·x0 + c_ε·ε + c_n·n`.
    fn coefficients<F: Real>(&self, a: F, b: F, a_prev: F, b_prev: F) -> [F; 3];
    /// Whether the step draws noise (`c_n` may be non-zero).
    fn uses_noise(&self) -> bool;
    /// Whether the step reads `ε` (LCM does not, so a non-finite ε cannot leak into it).
    fn uses_eps(&self) -> bool {
        true
    }
    /// Checks the sampler's settings before a run uses them (DDIM's η must be finite and `>= 0`).
    /// Default: nothing to check.
    fn check(&self) -> crate::Result<()> {
        Ok(())
    }
    /// One element of the step.
    #[inline(always)]
    fn apply<F: Real>(&self, c: [F; 3], x0: F, eps: F, n: F) -> F {
        step::apply(
            c[0],
            c[1],
            c[2],
            x0,
            eps,
            n,
            self.uses_eps(),
            self.uses_noise(),
        )
    }
}

/// The step's formula (host, and `cube` on the device).
#[crate::formulas]
pub mod step {
    /// One element: `c_x0·x0 + c_ε·ε + c_n·n`, leaving out the terms the sampler does not use
    /// (so a non-finite unused input cannot leak in).
    pub fn apply<F: Float>(
        c_x0: F,
        c_eps: F,
        c_n: F,
        x0: F,
        eps: F,
        n: F,
        #[comptime] uses_eps: bool,
        #[comptime] uses_noise: bool,
    ) -> F {
        let mut x = c_x0 * x0;
        if uses_eps {
            x = x + c_eps * eps;
        }
        if uses_noise {
            x = x + c_n * n;
        }
        x
    }
}

/// Type-level settings of a sampler (as [`Sampler::uses_noise`] and [`Sampler::uses_eps`]),
/// for the kernels.
#[cfg(gdf_kernel)]
pub trait SamplerConsts {
    /// Whether the step draws noise.
    const USES_NOISE: bool;
    /// Whether the step reads ε.
    const USES_EPS: bool = true;
}

/// The `#[cube]` form of a [`Sampler`]: the step coefficients (the same source as the host's,
/// see [`crate::formula`]).
#[cfg(gdf_kernel)]
#[allow(missing_docs)] // the `…Expand` companion `#[cube]` generates has no docs
#[cubecl::cube]
pub trait CubeSampler: SamplerConsts + Send + Sync + 'static {
    /// `(c_x0, c_ε, c_n)` for `x ← c_x0·x0 + c_ε·ε + c_n·n`.
    fn coefficients<F: cubecl::prelude::Float>(a: F, b: F, a_prev: F, b_prev: F) -> (F, F, F);
}

#[cfg(gdf_kernel)]
#[allow(missing_docs)]
mod device_fns {
    use super::*;
    #[allow(unused_imports)]
    use crate::formula::device::konst;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use cubecl::prelude::*;

    /// One element of a sampler step on the device (as [`Sampler::apply`]).
    #[allow(missing_docs)]
    #[cubecl::cube]
    pub fn sampler_apply<F: Float, S: CubeSampler>(c: (F, F, F), x0: F, eps: F, n: F) -> F {
        let (c0, c1, c2) = c;
        step::cube::apply::<F>(
            c0,
            c1,
            c2,
            x0,
            eps,
            n,
            comptime!(S::USES_EPS),
            comptime!(S::USES_NOISE),
        )
    }
}
#[cfg(gdf_kernel)]
pub use device_fns::sampler_apply;
