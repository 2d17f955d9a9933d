//! Targets: what the model learns, and how a prediction is undone (SPEC §3).
//!
//! ```
//! use gdf::prelude::*;
//! let (x0, eps, a, b) = (0.3f64, -1.2, 0.8, 0.6);
//! let x = a * x0 + b * eps;
//! let v = target::V.target(x0, eps, a, b);
//! assert!((target::V.x0(x, v, a, b) - x0).abs() < 1e-12);
//! ```

use core::fmt;

use crate::component::{zst, LogSnrFn};
use crate::float::Real;

/// A training target, element by element: `target(x0, ε, a, b)` and the inverse maps from a
/// prediction `p` of the noised `x` back to `x0` and `ε`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a target",
    label = "expected a target (what the model predicts) here",
    note = "targets are Epsilon, X0, V and RectifiedFlows, or your own type implementing `gdf::target::Target`"
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
}

macro_rules! target {
    ($(#[$m:meta])* $ty:ident, $name:literal,
     |$x0:ident, $e:ident, $a:ident, $b:ident| $t:expr,
     |$x:ident, $p:ident, $a2:ident, $b2:ident| x0 = $fx0:expr, eps = $feps:expr $(, $eps_flag:literal)?) => {
        zst!($(#[$m])* $ty);
        impl LogSnrFn for $ty {
            fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
                out.write_str($name)
            }
        }
        impl Target for $ty {
            #[inline(always)]
            fn target<F: Real>(&self, $x0: F, $e: F, $a: F, $b: F) -> F {
                $t
            }
            #[inline(always)]
            #[allow(unused_variables)]
            fn x0<F: Real>(&self, $x: F, $p: F, $a2: F, $b2: F) -> F {
                $fx0
            }
            #[inline(always)]
            #[allow(unused_variables)]
            fn eps<F: Real>(&self, $x: F, $p: F, $a2: F, $b2: F) -> F {
                $feps
            }
            $(fn is_epsilon(&self) -> bool { $eps_flag })?
        }
    };
}

target!(
    /// ε-prediction: target `ε`; `x0 = (x − b·p)/a`, `ε = p`.
    Epsilon, "Epsilon", |_x0, e, _a, _b| e, |x, p, a, b| x0 = (x - b * p) / a, eps = p, true
);
target!(
    /// x0-prediction: target `x0`; `x0 = p`, `ε = (x − a·p)/b`.
    X0, "X0", |x0, _e, _a, _b| x0, |x, p, a, b| x0 = p, eps = (x - a * p) / b
);
target!(
    /// v-prediction: target `a·ε − b·x0`; `x0 = (a·x − b·p)/(a²+b²)`,
    /// `ε = (b·x + a·p)/(a²+b²)`.
    V, "V", |x0, e, a, b| a * e - b * x0,
    |x, p, a, b| x0 = (a * x - b * p) / (a * a + b * b), eps = (b * x + a * p) / (a * a + b * b)
);
target!(
    /// Rectified-flow velocity: target `ε − x0`; `x0 = x − b·p`, `ε = x + a·p`.
    RectifiedFlows, "RectifiedFlows", |x0, e, _a, _b| e - x0, |x, p, a, b| x0 = x - b * p, eps = x + a * p
);
