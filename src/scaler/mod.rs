//! Input scalers: `λ ↦ (a, b)` with `x_t = a·x0 + b·ε`.
//!
//! ```
//! use gdf::prelude::*;
//! let (a, b): (f64, f64) = scaler::Vp.ab(0.0);
//! assert!((a * a + b * b - 1.0).abs() < 1e-15);
//! ```

use crate::component::LogSnrFn;
use crate::float::Real;
use crate::schedule::Schedule;

pub mod lerp;
pub mod stretched;
pub mod vp;

pub use lerp::Lerp;
pub use stretched::Stretched;
pub use vp::Vp;

/// An input scaler: maps logSNR λ to the signal and noise coefficients `(a, b)`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an input scaler",
    label = "expected an input scaler (logSNR → a, b) here",
    note = "input scalers are Vp and Lerp, Stretched<…> of either, or your own type implementing `gdf::scaler::Scaler`"
)]
pub trait Scaler: LogSnrFn {
    /// `(a, b)` at logSNR `l`.
    fn ab<F: Real>(&self, l: F) -> (F, F);
}

/// The `#[cube]` form of a [`Scaler`]: the same formula (see [`crate::formula`]) with the
/// scaler's run-time state (a stretch's limits) read from `state`.
#[cfg(gdf_kernel)]
#[allow(missing_docs)] // the `…Expand` companion `#[cube]` generates has no docs
#[cubecl::cube]
pub trait CubeScaler: Send + Sync + 'static {
    /// `(a, b)` at logSNR `l`.
    fn ab<F: cubecl::prelude::Float>(l: F, state: &[F]) -> (F, F);
}

/// A scaler that can be stretched to a schedule's ends (the framework's `setup_limits`).
///
/// For a plain scaler this is [`Stretched::setup`]; for an already stretched one it is
/// [`Stretched::restretch`] (the new limits are measured through the old stretch and replace
/// it, as the original). Implement it for your own scaler with
/// `Stretched::setup(self, schedule, stretch_max, stretch_min, shift)`.
pub trait Stretch: Scaler {
    /// The unstretched scaler underneath.
    type Base: Scaler;
    /// Stretches (or re-stretches) this scaler.
    fn stretch<Sc: Schedule>(
        self,
        schedule: &Sc,
        stretch_max: bool,
        stretch_min: bool,
        shift: f64,
    ) -> crate::Result<Stretched<Self::Base>>;
}

macro_rules! plain_stretch {
    ($($t:ty),*) => {$(
        impl Stretch for $t {
            type Base = $t;
            fn stretch<Sc: Schedule>(self, schedule: &Sc, stretch_max: bool, stretch_min: bool, shift: f64) -> crate::Result<Stretched<$t>> {
                Stretched::setup(self, schedule, stretch_max, stretch_min, shift)
            }
        }
    )*};
}
plain_stretch!(Vp, Lerp);

impl<S: Scaler> Stretch for Stretched<S> {
    type Base = S;
    fn stretch<Sc: Schedule>(
        self,
        schedule: &Sc,
        stretch_max: bool,
        stretch_min: bool,
        shift: f64,
    ) -> crate::Result<Stretched<S>> {
        self.restretch(schedule, stretch_max, stretch_min, shift)
    }
}
