//! A loss weight with another output clamp.

use core::fmt;
use core::marker::PhantomData;

use super::LossWeight;
use crate::component::LogSnrFn;
use crate::float::Real;
use crate::konst::{lit, need, Big, Const, NegBig};
use crate::schedule::write_with;

/// A loss weight clamped to `[Lo, Hi]` instead of `[−1e9, 1e9]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Clamped<L, Lo: Const = NegBig, Hi: Const = Big> {
    /// The clamped loss weight.
    pub inner: L,
    _r: PhantomData<(Lo, Hi)>,
}

impl<L: LossWeight, Lo: Const, Hi: Const> Clamped<L, Lo, Hi> {
    /// The range checks of the constants (a compile-time error when one fails).
    const VALID: () = {
        assert!(
            need::ordered(Lo::F64, Hi::F64),
            "Clamped loss weight: `clamp_range` must be `[lo, hi]` with finite lo < hi"
        );
    };
    /// Wraps `inner`. Its constants are checked at compile time: one out of range fails the build.
    pub fn new(inner: L) -> Self {
        let () = Self::VALID;
        Self {
            inner,
            _r: PhantomData,
        }
    }
}

impl<L: LossWeight + Default, Lo: Const, Hi: Const> Default for Clamped<L, Lo, Hi> {
    fn default() -> Self {
        Self::new(L::default())
    }
}

impl<L: LossWeight, Lo: Const, Hi: Const> LogSnrFn for Clamped<L, Lo, Hi> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let extra = format!("clamp_range = [{}, {}]", lit(Lo::F64), lit(Hi::F64));
        write_with(out, &|o| self.inner.write_decl(o), &extra)
    }
}

impl<L: LossWeight, Lo: Const, Hi: Const> LossWeight for Clamped<L, Lo, Hi> {
    #[inline(always)]
    fn weight<F: Real>(&self, l: F) -> F {
        self.inner.weight(l)
    }
    fn clamp_range(&self) -> [f64; 2] {
        [Lo::F64, Hi::F64]
    }
}

#[cfg(gdf_kernel)]
mod device {
    use super::*;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use crate::loss_weight::{CubeLossWeight, LossWeightConsts};
    use cubecl::prelude::*;

    impl<L, Lo: Const, Hi: Const> LossWeightConsts for Clamped<L, Lo, Hi> {
        const CLAMP: [f64; 2] = [Lo::F64, Hi::F64];
    }
    #[cube]
    impl<L: CubeLossWeight, Lo: Const, Hi: Const> CubeLossWeight for Clamped<L, Lo, Hi> {
        fn weight<F: Float>(l: F, state: &[F]) -> F {
            L::weight::<F>(l, state)
        }
    }
}
