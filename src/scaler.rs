//! Input scalers: `λ ↦ (a, b)` with `x_t = a·x0 + b·ε`.
//!
//! ```
//! use gdf::prelude::*;
//! let (a, b): (f64, f64) = scaler::Vp.ab(0.0);
//! assert!((a * a + b * b - 1.0).abs() < 1e-15);
//! ```

use core::fmt;

use crate::component::{zst, LogSnrFn};
use crate::float::{sigmoid, Real};
use crate::konst::lit;
use crate::schedule::Schedule;

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

zst!(
    /// Variance preserving: `a = sqrt(σ(λ))`, `b = sqrt(σ(−λ))` (the stable form of the
    /// original's `sqrt(1 − σ(λ))`, accurate for large λ).
    Vp
);

impl LogSnrFn for Vp {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("Vp")
    }
}

impl Scaler for Vp {
    #[inline(always)]
    fn ab<F: Real>(&self, l: F) -> (F, F) {
        (sigmoid(l).sqrt(), sigmoid(-l).sqrt())
    }
}

zst!(
    /// Linear interpolation (rectified flows): `a = σ(λ/2)`, `b = σ(−λ/2)` so `a + b = 1`
    /// and `a/b = e^(λ/2)`.
    ///
    /// The original computes this through `A = e^λ − 1` and gives `a(0) = 0.500125` and
    /// `a(+∞) = NaN`; this stable form gives exactly `0.5` and `1`.
    Lerp
);

impl LogSnrFn for Lerp {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("Lerp")
    }
}

impl Scaler for Lerp {
    #[inline(always)]
    fn ab<F: Real>(&self, l: F) -> (F, F) {
        let h = l * F::of(0.5);
        (sigmoid(h), sigmoid(-h))
    }
}

/// A scaler stretched so the schedule's ends give exactly `(a, b) = (1, 0)` at t = 0 and
/// `(0, 1)` at t = 1 (the original's `GDF.setup_limits`).
///
/// `a' = (a − min_a)/(max_a − min_a)`, `b' = (b − min_b)/(max_b − min_b)`. The limits are
/// measured through the scaler as it is, so setting a stretched scaler up again
/// ([`Stretched::restretch`]) measures `[0, 1, 0, 1]` and undoes the stretch (as the original).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stretched<S> {
    /// The scaler being stretched.
    pub inner: S,
    /// `[min_a, max_a, min_b, max_b]`.
    pub limits: [f64; 4],
}

/// Measures `[min_a, max_a, min_b, max_b]` through `scaler` at the ends of `schedule`.
fn measure<M: Scaler, Sc: Schedule>(
    scaler: &M,
    schedule: &Sc,
    stretch_max: bool,
    stretch_min: bool,
    shift: f64,
) -> crate::Result<[f64; 4]> {
    let (mut min_a, mut max_a, mut min_b, mut max_b) = (0.0, 1.0, 0.0, 1.0);
    if stretch_max {
        (min_a, max_b) = scaler.ab(schedule.logsnr(1.0f64, shift)?);
    }
    if stretch_min {
        (max_a, min_b) = scaler.ab(schedule.logsnr(0.0f64, shift)?);
    }
    Ok([min_a, max_a, min_b, max_b])
}

impl<S: Scaler> Stretched<S> {
    /// Stretches `inner` to the ends of `schedule` evaluated with `shift`:
    /// `(min_a, max_b) = inner(schedule(t=1))` if `stretch_max` else `(0, 1)`,
    /// `(max_a, min_b) = inner(schedule(t=0))` if `stretch_min` else `(1, 0)`.
    ///
    /// Errors: the schedule is training-only, or `shift` is not a positive finite number.
    pub fn setup<Sc: Schedule>(
        inner: S,
        schedule: &Sc,
        stretch_max: bool,
        stretch_min: bool,
        shift: f64,
    ) -> crate::Result<Self> {
        let limits = measure(&inner, schedule, stretch_max, stretch_min, shift)?;
        Ok(Self { inner, limits })
    }

    /// Sets the stretch up again, as the original's second `setup_limits` call: the new
    /// limits are measured **through the current stretch** and replace it. Measured at the
    /// same schedule ends, that gives `[0, 1, 0, 1]`, i.e. the plain inner scaler.
    pub fn restretch<Sc: Schedule>(
        self,
        schedule: &Sc,
        stretch_max: bool,
        stretch_min: bool,
        shift: f64,
    ) -> crate::Result<Self> {
        let limits = measure(&self, schedule, stretch_max, stretch_min, shift)?;
        Ok(Self {
            inner: self.inner,
            limits,
        })
    }
}

impl<S: Scaler> LogSnrFn for Stretched<S> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        self.inner.write_decl(out)?;
        let [a0, a1, b0, b1] = self.limits;
        write!(
            out,
            ".stretched([{}, {}, {}, {}])",
            lit(a0),
            lit(a1),
            lit(b0),
            lit(b1)
        )
    }
}

impl<S: Scaler> Scaler for Stretched<S> {
    #[inline(always)]
    fn ab<F: Real>(&self, l: F) -> (F, F) {
        let (a, b) = self.inner.ab(l);
        let [a0, a1, b0, b1] = self.limits.map(F::of);
        ((a - a0) / (a1 - a0), (b - b0) / (b1 - b0))
    }
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
