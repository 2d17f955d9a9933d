//! Noise-cond wrappers as types: an own shift, another clamp range.

use core::fmt;
use core::marker::PhantomData;

use super::NoiseCond;
use crate::component::LogSnrFn;
use crate::float::Real;
use crate::konst::{lit, need, Big, Const, NegBig};
use crate::schedule::write_with;

/// A noise cond with a shift `K` (λ moves by `+2·ln K` before the formula).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shifted<N, K: Const> {
    /// The shifted noise cond.
    pub inner: N,
    _k: PhantomData<K>,
}

/// A noise cond clamped to `[Lo, Hi]` instead of its default range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Clamped<N, Lo: Const = NegBig, Hi: Const = Big> {
    /// The clamped noise cond.
    pub inner: N,
    _r: PhantomData<(Lo, Hi)>,
}

impl<N: NoiseCond, K: Const> Shifted<N, K> {
    /// The range checks of the constants (a compile-time error when one fails).
    const VALID: () = {
        assert!(
            need::positive(K::F64),
            "Shifted noise cond: `shift` must be positive"
        );
    };
    /// Wraps `inner`. Its constants are checked at compile time: one out of range fails the build.
    pub fn new(inner: N) -> Self {
        let () = Self::VALID;
        Self {
            inner,
            _k: PhantomData,
        }
    }
}
impl<N: NoiseCond, Lo: Const, Hi: Const> Clamped<N, Lo, Hi> {
    /// The range checks of the constants (a compile-time error when one fails).
    const VALID: () = {
        assert!(
            need::ordered(Lo::F64, Hi::F64),
            "Clamped noise cond: `clamp_range` must be `[lo, hi]` with finite lo < hi"
        );
    };
    /// Wraps `inner`. Its constants are checked at compile time: one out of range fails the build.
    pub fn new(inner: N) -> Self {
        let () = Self::VALID;
        Self {
            inner,
            _r: PhantomData,
        }
    }
}

impl<N: NoiseCond + Default, K: Const> Default for Shifted<N, K> {
    fn default() -> Self {
        Self::new(N::default())
    }
}
impl<N: NoiseCond + Default, Lo: Const, Hi: Const> Default for Clamped<N, Lo, Hi> {
    fn default() -> Self {
        Self::new(N::default())
    }
}

impl<N: NoiseCond, K: Const> LogSnrFn for Shifted<N, K> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write_with(
            out,
            &|o| self.inner.write_decl(o),
            &format!("shift = {}", lit(K::F64)),
        )
    }
}
impl<N: NoiseCond, K: Const> NoiseCond for Shifted<N, K> {
    #[inline(always)]
    fn cond<F: Real>(&self, l: F) -> F {
        self.inner.cond(l)
    }
    fn shift(&self) -> f64 {
        self.inner.shift() * K::F64
    }
    fn clamp_range(&self) -> [f64; 2] {
        self.inner.clamp_range()
    }
}

impl<N: NoiseCond, Lo: Const, Hi: Const> LogSnrFn for Clamped<N, Lo, Hi> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let extra = format!("clamp_range = [{}, {}]", lit(Lo::F64), lit(Hi::F64));
        write_with(out, &|o| self.inner.write_decl(o), &extra)
    }
}
impl<N: NoiseCond, Lo: Const, Hi: Const> NoiseCond for Clamped<N, Lo, Hi> {
    #[inline(always)]
    fn cond<F: Real>(&self, l: F) -> F {
        self.inner.cond(l)
    }
    fn shift(&self) -> f64 {
        self.inner.shift()
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
    use crate::noise_cond::{CubeNoiseCond, NoiseCondConsts};
    use cubecl::prelude::*;

    impl<N: NoiseCondConsts, K: Const> NoiseCondConsts for Shifted<N, K> {
        const SHIFT: f64 = N::SHIFT * K::F64;
        const CLAMP: [f64; 2] = N::CLAMP;
    }
    #[cube]
    impl<N: CubeNoiseCond, K: Const> CubeNoiseCond for Shifted<N, K> {
        fn cond<F: Float>(l: F, state: &[F]) -> F {
            N::cond::<F>(l, state)
        }
    }

    impl<N: NoiseCondConsts, Lo: Const, Hi: Const> NoiseCondConsts for Clamped<N, Lo, Hi> {
        const SHIFT: f64 = N::SHIFT;
        const CLAMP: [f64; 2] = [Lo::F64, Hi::F64];
    }
    #[cube]
    impl<N: CubeNoiseCond, Lo: Const, Hi: Const> CubeNoiseCond for Clamped<N, Lo, Hi> {
        fn cond<F: Float>(l: F, state: &[F]) -> F {
            N::cond::<F>(l, state)
        }
    }
}
