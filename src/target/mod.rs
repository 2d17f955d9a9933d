//! Targets: what the model learns, and how a prediction is undone (SPEC §3).
//!
//! ```
//! use gdf::prelude::*;
//! let (x0, eps, a, b) = (0.3f64, -1.2, 0.8, 0.6);
//! let x = a * x0 + b * eps;
//! let v = target::V.target(x0, eps, a, b);
//! assert!((target::V.x0(x, v, a, b) - x0).abs() < 1e-12);
//! ```

use crate::component::LogSnrFn;
use crate::error::{GdfError, Result};
use crate::float::Real;

pub mod consistency;
pub mod epsilon;
pub mod neg_rectified_flows;
pub mod neg_v;
pub mod rectified_flows;
pub mod v;
pub mod x0;

pub use consistency::Consistency;
pub(crate) use consistency::ConsistencyAt;
pub use epsilon::Epsilon;
pub use neg_rectified_flows::NegRectifiedFlows;
pub use neg_v::NegV;
pub use rectified_flows::RectifiedFlows;
pub use v::V;
pub use x0::X0;

/// A training target, element by element: `target(x0, ε, a, b)` and the inverse maps from a
/// prediction `p` of the noised `x` back to `x0` and `ε`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a target",
    label = "expected a target (what the model predicts) here",
    note = "targets are Epsilon, X0, V, NegV, RectifiedFlows, NegRectifiedFlows and Consistency, or your own type implementing `gdf::target::Target`"
)]
pub trait Target: LogSnrFn {
    /// The training target.
    fn target<F: Real>(&self, x0: F, eps: F, a: F, b: F) -> F;
    /// `x0` recovered from prediction `p` at noised `x`.
    fn x0<F: Real>(&self, x: F, p: F, a: F, b: F) -> F;
    /// `ε` recovered from prediction `p` at noised `x`.
    fn eps<F: Real>(&self, x: F, p: F, a: F, b: F) -> F;
    /// Whether the training target is `ε` itself (kernels then skip writing it).
    fn is_epsilon(&self) -> bool {
        false
    }
    /// Checks the parameters with the rules `gdf!` applies: a run-time target's numbers
    /// (`DynTarget::Consistency`'s `sigma_min`, a public field); a typed target's constants
    /// are checked at compile time. The framework's entry points and the solver runs call it.
    fn check(&self) -> Result<()> {
        Ok(())
    }
}

/// Whether a conversion of the targets (`x0` or `ε` from `(x, p)` at a fixed level, affine in
/// `(x, p)`) is defined: two probes at independent points are finite iff its coefficients are.
pub(crate) fn defined(f: impl Fn(f64, f64) -> f64) -> bool {
    f(1.0, 0.5).is_finite() && f(-0.5, 1.0).is_finite()
}

/// Errors unless `target`'s predictions convert to x0 at the level `(a, b)` (logSNR `lam`).
/// An ε-prediction does not at `a = 0` (λ = −∞, pure noise): there `x = ε` holds no x0, and
/// `x0 = (x − b·ε)/a` divides by zero. The solver runs call it before their fused pass, so
/// the error names the target and the level, not the model's output.
pub(crate) fn check_converts<T: Target>(target: &T, a: f64, b: f64, lam: f64) -> Result<()> {
    target.check()?;
    if defined(|x, p| target.x0(x, p, a, b)) {
        return Ok(());
    }
    Err(GdfError::Invalid {
        message: format!(
            "a `{}` prediction cannot be converted to x0 at λ = {lam} (a = {a}, b = {b}): at \
             pure noise the sample holds no x0. Start the grid at a finite λ (as diffusers' \
             zero-SNR schedules do with ᾱ = 2⁻²⁴ at the last step), or use a model whose \
             target is defined there (x0, v or the flow velocity)",
            target.decl()
        ),
    })
}

/// The `#[cube]` form of a [`Target`]: the same three formulas (see [`crate::formula`]).
#[cfg(gdf_kernel)]
#[allow(missing_docs)] // the `…Expand` companion `#[cube]` generates has no docs
#[cubecl::cube]
pub trait CubeTarget: Send + Sync + 'static {
    /// The training target.
    fn target<F: cubecl::prelude::Float>(x0: F, eps: F, a: F, b: F) -> F;
    /// `x0` from prediction `p` at noised `x`.
    fn x0<F: cubecl::prelude::Float>(x: F, p: F, a: F, b: F) -> F;
    /// `ε` from prediction `p` at noised `x`.
    fn eps<F: cubecl::prelude::Float>(x: F, p: F, a: F, b: F) -> F;
}

/// The trait impls of a target whose `formula` module holds `target`, `x0` and `eps`.
macro_rules! target_impls {
    ($ty:ident, $name:literal $(, is_epsilon = $flag:literal)?) => {
        impl crate::component::LogSnrFn for $ty {
            fn write_decl(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
                out.write_str($name)
            }
        }
        impl crate::target::Target for $ty {
            #[inline(always)]
            fn target<F: crate::Real>(&self, x0: F, eps: F, a: F, b: F) -> F {
                formula::target(x0, eps, a, b)
            }
            #[inline(always)]
            fn x0<F: crate::Real>(&self, x: F, p: F, a: F, b: F) -> F {
                formula::x0(x, p, a, b)
            }
            #[inline(always)]
            fn eps<F: crate::Real>(&self, x: F, p: F, a: F, b: F) -> F {
                formula::eps(x, p, a, b)
            }
            $(fn is_epsilon(&self) -> bool { $flag })?
        }
        #[cfg(gdf_kernel)]
        mod device {
            use super::*;
            use cubecl::prelude::*;
            #[allow(unused_imports)]
            use crate::konst::Const;

            #[cube]
            impl crate::target::CubeTarget for $ty {
                fn target<F: Float>(x0: F, eps: F, a: F, b: F) -> F {
                    formula::cube::target::<F>(x0, eps, a, b)
                }
                fn x0<F: Float>(x: F, p: F, a: F, b: F) -> F {
                    formula::cube::x0::<F>(x, p, a, b)
                }
                fn eps<F: Float>(x: F, p: F, a: F, b: F) -> F {
                    formula::cube::eps::<F>(x, p, a, b)
                }
            }
        }
    };
}
use target_impls;
