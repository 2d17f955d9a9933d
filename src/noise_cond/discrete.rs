//! Discrete: an integer time input from a continuous noise cond.

use core::fmt;
use core::marker::PhantomData;

use super::NoiseCond;
use crate::component::LogSnrFn;
use crate::float::Real;
use crate::konst::{lit, need, Const, Count, One, Zero};
use typenum::U1000;

/// The Discrete formula: `trunc((c − lo)/(hi − lo)·steps)` (toward zero).
#[inline(always)]
pub fn discretize<F: Real>(c: F, steps: u64, range: [f64; 2]) -> F {
    formula::discretize(c, F::of(range[0]), F::of(range[1]), F::of(steps as f64))
}

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// `trunc((c − lo)/(hi − lo)·steps)` (toward zero).
    pub fn discretize<F: Float>(c: F, lo: F, hi: F, steps: F) -> F {
        F::trunc((c - lo) / (hi - lo) * steps)
    }
}

/// An integer time input: `trunc((inner(λ) − lo)/(hi − lo)·steps)`, where `inner` applies
/// its own shift and clamp first. Values outside `continuous_range` are not clamped unless
/// wrapped in [`Clamped`](super::Clamped). Defaults: `steps = 1000`, `continuous_range = [0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Discrete<N, Steps: Count = U1000, Lo: Const = Zero, Hi: Const = One> {
    /// The continuous noise cond being discretised.
    pub inner: N,
    _p: PhantomData<(Steps, Lo, Hi)>,
}

impl<N: NoiseCond, Steps: Count, Lo: Const, Hi: Const> Discrete<N, Steps, Lo, Hi> {
    /// The range checks of the constants (a compile-time error when one fails).
    const VALID: () = {
        assert!(
            need::count(Steps::U64, 1),
            "Discrete: `steps` must be a whole number in [1, 2^20]"
        );
        assert!(
            need::ordered(Lo::F64, Hi::F64),
            "Discrete: `continuous_range` must be `[lo, hi]` with finite lo < hi"
        );
    };
    /// Discretises `inner`.
    /// Its constants are checked at compile time: one out of range fails the build.
    pub fn new(inner: N) -> Self {
        let () = Self::VALID;
        Self {
            inner,
            _p: PhantomData,
        }
    }
}

impl<N: NoiseCond + Default, Steps: Count, Lo: Const, Hi: Const> Default
    for Discrete<N, Steps, Lo, Hi>
{
    fn default() -> Self {
        Self::new(N::default())
    }
}

impl<N: NoiseCond, Steps: Count, Lo: Const, Hi: Const> LogSnrFn for Discrete<N, Steps, Lo, Hi> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("Discrete(")?;
        self.inner.write_decl(out)?;
        write!(
            out,
            ", steps = {}, continuous_range = [{}, {}])",
            Steps::U64,
            lit(Lo::F64),
            lit(Hi::F64)
        )
    }
}

impl<N: NoiseCond, Steps: Count, Lo: Const, Hi: Const> NoiseCond for Discrete<N, Steps, Lo, Hi> {
    #[inline(always)]
    fn cond<F: Real>(&self, l: F) -> F {
        discretize(self.inner.noise_cond(l), Steps::U64, [Lo::F64, Hi::F64])
    }
}

#[cfg(gdf_kernel)]
mod device {
    use super::*;
    use crate::formula::device::konst;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use crate::noise_cond::{noise_cond, CubeNoiseCond, NoiseCondConsts};
    use cubecl::prelude::*;

    impl<N: NoiseCondConsts, S: Count, Lo: Const, Hi: Const> NoiseCondConsts
        for Discrete<N, S, Lo, Hi>
    {
    }
    #[cube]
    impl<N: CubeNoiseCond, S: Count, Lo: Const, Hi: Const> CubeNoiseCond for Discrete<N, S, Lo, Hi> {
        fn cond<F: Float>(l: F, state: &[F]) -> F {
            formula::cube::discretize::<F>(
                noise_cond::<F, N>(l, state),
                konst::<F>(comptime!(Lo::F64)),
                konst::<F>(comptime!(Hi::F64)),
                konst::<F>(comptime!(S::U64 as f64)),
            )
        }
    }
}
