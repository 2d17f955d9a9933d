//! The consistency models' parameterisation: EDM's network output `F` with the boundary
//! condition moved to `σ_min` (Song et al. 2023, appendix C; diffusers'
//! `CMStochasticIterativeScheduler`).

use core::fmt;

use super::Target;
use crate::component::{zst, LogSnrFn};
use crate::float::Real;
use crate::konst::{lit, need, Const, Dec};

zst!(
    /// A consistency model's output `F`: in data units `D = c_skip·x + c_out·F` with
    /// `c_skip = σ_d²/((σ − σ_min)² + σ_d²)` and `c_out = (σ − σ_min)·σ_d/√(σ² + σ_d²)`, so
    /// that `D = x` at `σ = σ_min` (the boundary condition `f(x, σ_min) = x`).
    ///
    /// Read, as [`NegV`](super::NegV) is, in the VP frame over `x0/σ_d` (where the network's
    /// input `x/√(σ² + σ_d²)` is gdf's `x`). `SigmaMin` is `σ_min/σ_d`, the boundary in the
    /// frame's units (`e` below; consistency models' 0.002 over σ_d = 0.5 is the default
    /// 0.004). With `k = b − e·a`:
    ///
    /// - `x0 = a·x/(k² + a²) + k·p/(a² + b²)`,
    /// - `ε = k·(k·x/(k² + a²) − a·p/(a² + b²))/b`,
    /// - `target = (a² + b²)·(k²·x0 − a·b·ε)/(k·(k² + a²))`.
    ///
    /// At `e = 0` these are `NegV`'s. At the boundary (`b = e·a`) the output has no
    /// effect, `x0 = x/a`, and the training target is undefined (as `c_out = 0` makes it).
    /// A consistency model is trained by its own loss, not by regressing this target; the
    /// target is what a model reproducing `x0` exactly outputs (consistency distillation's
    /// teacher-side `F`, and what [`Target::target`] gives here).
    ///
    /// ```
    /// use gdf::prelude::*;
    /// use gdf::konst::Dec;
    /// use typenum::{N3, P4};
    /// let cm = target::Consistency::<Dec<P4, N3>>::new(); // σ_min/σ_d = 0.004
    /// let (x0, eps, a, b) = (0.3f64, -1.2, 0.8, 0.6);
    /// let x = a * x0 + b * eps;
    /// let p = cm.target(x0, eps, a, b);
    /// assert!((cm.x0(x, p, a, b) - x0).abs() < 1e-12);
    /// assert!((cm.eps(x, p, a, b) - eps).abs() < 1e-12);
    /// // At the boundary σ = σ_min (b = 0.004·a) the sample is its own x0, whatever F.
    /// let (a, b) = (1.0 / (1.0f64 + 0.004 * 0.004).sqrt(), 0.004 / (1.0f64 + 0.004 * 0.004).sqrt());
    /// assert!((cm.x0(0.7, 123.0, a, b) - 0.7 / a).abs() < 1e-12);
    /// ```
    Consistency<SigmaMin: Const = Dec<typenum::P4, typenum::N3>>
    check {
        assert!(
            need::nonneg(SigmaMin::F64),
            "Consistency: `sigma_min` must be finite and not negative"
        );
    }
);

/// The formulas (host, and `cube` on the device), with `e = σ_min/σ_d`.
#[crate::formulas]
pub mod formula {
    /// The training target.
    pub fn target<F: Float>(x0: F, eps: F, a: F, b: F, e: F) -> F {
        let k = b - e * a;
        (a * a + b * b) * (k * k * x0 - a * b * eps) / (k * (k * k + a * a))
    }
    /// `x0` from prediction `p` at noised `x`.
    pub fn x0<F: Float>(x: F, p: F, a: F, b: F, e: F) -> F {
        let k = b - e * a;
        a * x / (k * k + a * a) + k * p / (a * a + b * b)
    }
    /// `ε` from prediction `p` at noised `x`.
    pub fn eps<F: Float>(x: F, p: F, a: F, b: F, e: F) -> F {
        let k = b - e * a;
        k * (k * x / (k * k + a * a) - a * p / (a * a + b * b)) / b
    }
}

// The typed target is the run-time one at its constant.
impl<E: Const> LogSnrFn for Consistency<E> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        ConsistencyAt(E::F64).write_decl(out)
    }
}

impl<E: Const> Target for Consistency<E> {
    #[inline(always)]
    fn target<F: Real>(&self, x0: F, eps: F, a: F, b: F) -> F {
        ConsistencyAt(E::F64).target(x0, eps, a, b)
    }
    #[inline(always)]
    fn x0<F: Real>(&self, x: F, p: F, a: F, b: F) -> F {
        ConsistencyAt(E::F64).x0(x, p, a, b)
    }
    #[inline(always)]
    fn eps<F: Real>(&self, x: F, p: F, a: F, b: F) -> F {
        ConsistencyAt(E::F64).eps(x, p, a, b)
    }
}

/// [`Consistency`]'s three maps at a run-time `sigma_min` (what `DynTarget::Consistency`
/// computes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ConsistencyAt(pub(crate) f64);

impl LogSnrFn for ConsistencyAt {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "Consistency(sigma_min = {})", lit(self.0))
    }
}

impl Target for ConsistencyAt {
    #[inline(always)]
    fn target<F: Real>(&self, x0: F, eps: F, a: F, b: F) -> F {
        formula::target(x0, eps, a, b, F::of(self.0))
    }
    #[inline(always)]
    fn x0<F: Real>(&self, x: F, p: F, a: F, b: F) -> F {
        formula::x0(x, p, a, b, F::of(self.0))
    }
    #[inline(always)]
    fn eps<F: Real>(&self, x: F, p: F, a: F, b: F) -> F {
        formula::eps(x, p, a, b, F::of(self.0))
    }
}

#[cfg(gdf_kernel)]
mod device {
    use super::*;
    use crate::formula::device::konst;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use cubecl::prelude::*;

    #[cube]
    impl<E: Const> crate::target::CubeTarget for Consistency<E> {
        fn target<F: Float>(x0: F, eps: F, a: F, b: F) -> F {
            formula::cube::target::<F>(x0, eps, a, b, konst::<F>(comptime!(E::F64)))
        }
        fn x0<F: Float>(x: F, p: F, a: F, b: F) -> F {
            formula::cube::x0::<F>(x, p, a, b, konst::<F>(comptime!(E::F64)))
        }
        fn eps<F: Float>(x: F, p: F, a: F, b: F) -> F {
            formula::cube::eps::<F>(x, p, a, b, konst::<F>(comptime!(E::F64)))
        }
    }
}
