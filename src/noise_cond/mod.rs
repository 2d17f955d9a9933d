//! Noise conditioning: `λ ↦ c`, the model's time input (SPEC §4).
//!
//! The provided [`NoiseCond::noise_cond`] applies the shared wrapper: `λ ← λ + 2·ln shift`
//! when the shift is not 1 (the opposite sign to a schedule's shift), then the component's
//! formula, then the clamp into its `clamp_range` (default `[−1e9, 1e9]`).
//!
//! ```
//! use gdf::prelude::*;
//! use gdf::schedule::Cosine;
//! // CosineT inverts the Cosine schedule (inside its clamp range):
//! let l: f64 = <Cosine>::new().logsnr(0.3, 1.0).unwrap();
//! assert!((<noise_cond::CosineT>::new().noise_cond(l) - 0.3).abs() < 1e-9);
//! ```

use crate::component::LogSnrFn;
use crate::error::{check_len, Result};
use crate::float::Real;

/// The trait impls of a parameter-free noise cond whose `formula::cond(λ)` is its formula.
macro_rules! simple_cond {
    ($ty:ident, $name:literal) => {
        impl crate::component::LogSnrFn for $ty {
            fn write_decl(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
                out.write_str($name)
            }
        }
        impl crate::noise_cond::NoiseCond for $ty {
            #[inline(always)]
            fn cond<F: crate::Real>(&self, l: F) -> F {
                formula::cond(l)
            }
        }
        #[cfg(gdf_kernel)]
        mod device {
            use super::*;
            #[allow(unused_imports)]
            use crate::konst::Const;
            use cubecl::prelude::*;

            impl crate::noise_cond::NoiseCondConsts for $ty {}
            #[cube]
            impl crate::noise_cond::CubeNoiseCond for $ty {
                fn cond<F: Float>(l: F, _state: &[F]) -> F {
                    formula::cube::cond::<F>(l)
                }
            }
        }
    };
}

/// The trait impls of a noise cond `scale·f(λ)` with one `Scale: Const` parameter, whose
/// `formula` module holds `cond(l, scale)` and whose host function is `$host(l, scale)`.
macro_rules! scaled_cond {
    ($ty:ident, $name:literal, $host:ident) => {
        impl<S: crate::konst::Const> crate::component::LogSnrFn for $ty<S> {
            fn write_decl(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
                write!(
                    out,
                    concat!($name, "(scale = {})"),
                    crate::konst::lit(S::F64)
                )
            }
        }
        impl<S: crate::konst::Const> crate::noise_cond::NoiseCond for $ty<S> {
            #[inline(always)]
            fn cond<F: crate::Real>(&self, l: F) -> F {
                $host(l, S::F64)
            }
        }
        #[cfg(gdf_kernel)]
        mod device {
            use super::*;
            use crate::formula::device::konst;
            #[allow(unused_imports)]
            use crate::konst::Const;
            use crate::noise_cond::{CubeNoiseCond, NoiseCondConsts};
            use cubecl::prelude::*;

            impl<S: Const> NoiseCondConsts for $ty<S> {}
            #[cube]
            impl<S: Const> CubeNoiseCond for $ty<S> {
                fn cond<F: Float>(l: F, _state: &[F]) -> F {
                    formula::cube::cond::<F>(l, konst::<F>(comptime!(S::F64)))
                }
            }
        }
    };
}

pub mod cosine_t;
pub mod discrete;
pub mod edm;
pub mod flow_alpha;
pub mod flow_sigma;
pub mod log_sigma;
pub mod log_snr;
pub mod rectified_flows;
pub mod sigmoid;
pub mod table;
pub mod table_timestep;
pub mod wrappers;

pub use cosine_t::{cosine_t, CosineT};
pub use discrete::{discretize, Discrete};
pub use edm::{edm_sigma, Edm, EdmSigma};
pub use flow_alpha::{flow_alpha, FlowAlpha};
pub use flow_sigma::{flow_sigma, FlowSigma};
pub use log_sigma::{log_sigma, LogSigma};
pub use log_snr::LogSnr;
pub use rectified_flows::RectifiedFlows;
pub use sigmoid::Sigmoid;
pub use table::{stable_diffusion_cond, PiecewiseLinear, StableDiffusion};
pub use table_timestep::TableTimestep;
pub use wrappers::{Clamped, Shifted};

/// A noise conditioning: maps logSNR to the value the model is given as its time input.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a noise conditioning",
    label = "expected a noise cond (logSNR → model time input) here",
    note = "noise conds are CosineT, Edm, Sigmoid, LogSnr, EdmSigma, RectifiedFlows, FlowSigma, FlowAlpha, LogSigma, PiecewiseLinear, TableTimestep, StableDiffusion, Discrete, or your own type implementing `gdf::noise_cond::NoiseCond`"
)]
pub trait NoiseCond: LogSnrFn {
    /// The raw formula, before shift and clamp.
    fn cond<F: Real>(&self, l: F) -> F;
    /// The shift (λ moves by `+2·ln shift`). Default 1.
    fn shift(&self) -> f64 {
        1.0
    }
    /// The output clamp. Default `[−1e9, 1e9]`.
    fn clamp_range(&self) -> [f64; 2] {
        [-1e9, 1e9]
    }
    /// The noise cond at `l` with the wrapper (shift, formula, clamp).
    #[inline(always)]
    fn noise_cond<F: Real>(&self, l: F) -> F {
        let k = self.shift();
        let l = wrapper::shift(l, F::of(k), k != 1.0);
        let [lo, hi] = self.clamp_range();
        wrapper::clamp_to(self.cond(l), F::of(lo), F::of(hi))
    }
    /// Checks the parameters with the rules `gdf!` applies: the run-time
    /// (`gdf::dynamic`) type's numbers, whose fields are public; a typed component's constants
    /// are checked at compile time, so the default has nothing to check. The framework's
    /// entry points (`diffuse`, `logsnr`, sampling, the kernels) call it before they run.
    fn check(&self) -> Result<()> {
        Ok(())
    }
    /// [`noise_cond`](NoiseCond::noise_cond) over a batch. Errors when the lengths differ.
    fn noise_cond_into<F: Real>(&self, l: &[F], out: &mut [F]) -> Result<()> {
        check_len("out", l.len(), out.len())?;
        self.check()?;
        for (o, &l) in out.iter_mut().zip(l) {
            *o = self.noise_cond(l);
        }
        Ok(())
    }
}

/// The wrapper's formulas (SPEC §4), shared by the host trait and the kernels' wrapper.
#[crate::formulas]
pub mod wrapper {
    /// `λ + 2·ln k` when the noise cond is shifted.
    pub fn shift<F: Float>(l: F, k: F, #[comptime] shifted: bool) -> F {
        if shifted {
            l + F::new(2.0) * F::ln(k)
        } else {
            l
        }
    }

    /// The output clamp into `[lo, hi]`.
    pub fn clamp_to<F: Float>(c: F, lo: F, hi: F) -> F {
        clamp::<F>(c, lo, hi)
    }
}

/// Type-level wrapper settings of a noise cond (as [`NoiseCond::shift`] and
/// [`NoiseCond::clamp_range`]), for the kernels.
#[cfg(gdf_kernel)]
pub trait NoiseCondConsts {
    /// The shift (λ moves by `+2·ln shift`).
    const SHIFT: f64 = 1.0;
    /// The output clamp.
    const CLAMP: [f64; 2] = [-1e9, 1e9];
}

/// The `#[cube]` form of a [`NoiseCond`]: its raw formula (the same source as the host's, see
/// [`crate::formula`]). The wrapper is [`noise_cond()`].
#[cfg(gdf_kernel)]
#[allow(missing_docs)] // the `…Expand` companion `#[cube]` generates has no docs
#[cubecl::cube]
pub trait CubeNoiseCond: NoiseCondConsts + Send + Sync + 'static {
    /// The raw formula.
    fn cond<F: cubecl::prelude::Float>(l: F, state: &[F]) -> F;
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

    /// The noise-cond wrapper on the device (SPEC §4, the [`wrapper`] formulas): shift, formula,
    /// clamp.
    #[allow(missing_docs)]
    #[cubecl::cube]
    pub fn noise_cond<F: Float, N: CubeNoiseCond>(l: F, state: &[F]) -> F {
        let k = comptime!(N::SHIFT);
        let l = wrapper::cube::shift::<F>(l, konst::<F>(k), comptime!(k != 1.0));
        let range = comptime!(N::CLAMP);
        wrapper::cube::clamp_to::<F>(
            N::cond::<F>(l, state),
            konst::<F>(comptime!(range[0])),
            konst::<F>(comptime!(range[1])),
        )
    }
}
#[cfg(gdf_kernel)]
pub use device_fns::noise_cond;
