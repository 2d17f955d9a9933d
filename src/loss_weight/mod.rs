//! Loss weights: `λ ↦ w` (SPEC §5).
//!
//! The provided [`LossWeight::loss_weight`] applies the call-time wrapper: `λ ← λ + 2·ln shift`
//! when `shift ≠ 1` (the framework's `loss_shift`), the formula, then the clamp into the
//! component's `clamp_range` (default `[−1e9, 1e9]`; wrap in [`Clamped`] to change it).
//!
//! ```
//! use gdf::prelude::*;
//! let w: f64 = <loss_weight::P2>::new().loss_weight(0.0, 1.0);
//! assert_eq!(w, 0.5); // (1 + e^0)^-1
//! ```

use crate::component::LogSnrFn;
use crate::error::{check_len, Result};
use crate::float::Real;

/// The trait impls of a loss weight whose `formula::$f(λ, params…)` is its formula, with its
/// type-level parameters named as in its declaration text.
macro_rules! weight {
    ($ty:ident, $name:literal, $f:ident) => {
        impl crate::component::LogSnrFn for $ty {
            fn write_decl(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
                out.write_str($name)
            }
        }
        impl crate::loss_weight::LossWeight for $ty {
            #[inline(always)]
            fn weight<F: crate::Real>(&self, l: F) -> F {
                formula::$f(l)
            }
        }
        #[cfg(gdf_kernel)]
        const _: () = {
            use cubecl::prelude::*;
            #[allow(unused_imports)]
            use crate::konst::Const;
            impl crate::loss_weight::LossWeightConsts for $ty {}
            #[cube]
            impl crate::loss_weight::CubeLossWeight for $ty {
                fn weight<F: Float>(l: F, _state: &[F]) -> F {
                    formula::cube::$f::<F>(l)
                }
            }
        };
    };
    ($ty:ident < $($p:ident : $pn:literal),* >, $name:literal, $f:ident) => {
        impl<$($p: crate::konst::Const),*> crate::component::LogSnrFn for $ty<$($p),*> {
            fn write_decl(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
                let parts: Vec<String> =
                    vec![$(format!("{} = {}", $pn, crate::konst::lit($p::F64))),*];
                write!(out, "{}({})", $name, parts.join(", "))
            }
        }
        impl<$($p: crate::konst::Const),*> crate::loss_weight::LossWeight for $ty<$($p),*> {
            #[inline(always)]
            fn weight<F: crate::Real>(&self, l: F) -> F {
                formula::$f(l, $(F::of($p::F64)),*)
            }
        }
        #[cfg(gdf_kernel)]
        const _: () = {
            use crate::formula::device::konst;
            use cubecl::prelude::*;
            #[allow(unused_imports)]
            use crate::konst::Const;
            impl<$($p: crate::konst::Const),*> crate::loss_weight::LossWeightConsts for $ty<$($p),*> {}
            #[cube]
            impl<$($p: crate::konst::Const),*> crate::loss_weight::CubeLossWeight for $ty<$($p),*> {
                fn weight<F: Float>(l: F, _state: &[F]) -> F {
                    formula::cube::$f::<F>(l, $(konst::<F>(comptime!($p::F64))),*)
                }
            }
        };
    };
}

pub mod adaptive;
pub mod clamped;
pub mod composed;
pub mod constant;
pub mod p2;
pub mod shapes;
pub mod snr;
pub mod weighting;

pub(crate) use adaptive::{adaptive_bucket, adaptive_weight, write_adaptive};
pub use adaptive::{Adaptive, AdaptiveState};
pub use clamped::Clamped;
pub use composed::{Composed, WeightProduct};
pub use constant::{formula::constant, Constant};
pub use p2::{formula::p2, P2};
pub use shapes::formula::{sech, sigmoid_weight};
pub use shapes::{Debiased, Sech, Sigmoid};
pub use snr::formula::{min_snr, min_snr_plus_one, truncated_snr};
pub use snr::{MinSnr, MinSnrPlusOne, Snr, SnrPlusOne, TruncatedSnr};
pub use weighting::{CosMapWeight, EdmWeight, MinSnrGamma, SigmaSqrt, SoftMinSnr};

/// A loss weight: maps logSNR to the weight of each sample's loss.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a loss weight",
    label = "expected a loss weight (logSNR → weight) here",
    note = "loss weights are Constant, Snr, P2, SnrPlusOne, MinSnr, MinSnrPlusOne, TruncatedSnr, Sech, Debiased, Sigmoid, Composed, Adaptive, or your own type implementing `gdf::loss_weight::LossWeight`"
)]
pub trait LossWeight: LogSnrFn {
    /// The raw formula.
    fn weight<F: Real>(&self, l: F) -> F;
    /// The output clamp. Default `[−1e9, 1e9]`.
    fn clamp_range(&self) -> [f64; 2] {
        [-1e9, 1e9]
    }
    /// The weight at `l` with the call's `shift` (λ moves by `+2·ln shift`) and the clamp.
    #[inline(always)]
    fn loss_weight<F: Real>(&self, l: F, shift: F) -> F {
        let l = wrapper::shift(l, shift);
        let [lo, hi] = self.clamp_range();
        wrapper::clamp_to(self.weight(l), F::of(lo), F::of(hi))
    }
    /// Checks the parameters with the rules `gdf!` applies: the run-time
    /// (`gdf::dynamic`) type's numbers, whose fields are public; a typed component's constants
    /// are checked at compile time, so the default has nothing to check. The framework's
    /// entry points (`diffuse`, `logsnr`, sampling, the kernels) call it before they run.
    fn check(&self) -> Result<()> {
        Ok(())
    }
    /// [`loss_weight`](LossWeight::loss_weight) over a batch. Errors when the lengths
    /// differ or `shift` is not a positive finite number.
    fn loss_weight_into<F: Real>(&self, l: &[F], shift: F, out: &mut [F]) -> Result<()> {
        check_len("out", l.len(), out.len())?;
        crate::schedule::check_shift(shift)?;
        self.check()?;
        for (o, &l) in out.iter_mut().zip(l) {
            *o = self.loss_weight(l, shift);
        }
        Ok(())
    }
}

/// The wrapper's formulas (SPEC §5), shared by the host trait and the kernels' wrapper.
#[crate::formulas]
pub mod wrapper {
    /// `λ + 2·ln shift` when `shift ≠ 1`.
    pub fn shift<F: Float>(l: F, shift: F) -> F {
        select(shift != F::new(1.0), l + F::new(2.0) * F::ln(shift), l)
    }

    /// The output clamp into `[lo, hi]`.
    pub fn clamp_to<F: Float>(w: F, lo: F, hi: F) -> F {
        clamp::<F>(w, lo, hi)
    }
}

/// Type-level wrapper settings of a loss weight (as [`LossWeight::clamp_range`]), for the
/// kernels.
#[cfg(gdf_kernel)]
pub trait LossWeightConsts {
    /// The output clamp.
    const CLAMP: [f64; 2] = [-1e9, 1e9];
}

/// The `#[cube]` form of a [`LossWeight`]: its raw formula (the same source as the host's,
/// see [`crate::formula`]). The wrapper is [`loss_weight()`].
#[cfg(gdf_kernel)]
#[allow(missing_docs)] // the `…Expand` companion `#[cube]` generates has no docs
#[cubecl::cube]
pub trait CubeLossWeight: LossWeightConsts + Send + Sync + 'static {
    /// The raw formula.
    fn weight<F: cubecl::prelude::Float>(l: F, state: &[F]) -> F;
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

    /// The loss-weight wrapper on the device (SPEC §5, the [`wrapper`] formulas).
    #[allow(missing_docs)]
    #[cubecl::cube]
    pub fn loss_weight<F: Float, L: CubeLossWeight>(l: F, shift: F, state: &[F]) -> F {
        let l = wrapper::cube::shift::<F>(l, shift);
        let range = comptime!(L::CLAMP);
        wrapper::cube::clamp_to::<F>(
            L::weight::<F>(l, state),
            konst::<F>(comptime!(range[0])),
            konst::<F>(comptime!(range[1])),
        )
    }
}
#[cfg(gdf_kernel)]
pub use device_fns::loss_weight;
