//! Stretched scalers: a scaler rescaled to a schedule's ends (the original's `setup_limits`).

use core::fmt;

use crate::component::LogSnrFn;
use crate::float::Real;
use crate::konst::lit;
use crate::schedule::Schedule;

use super::Scaler;

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
    let (da, db): (f64, f64) = (max_a - min_a, max_b - min_b);
    if !(da.is_finite() && da != 0.0 && db.is_finite() && db != 0.0) {
        return Err(crate::GdfError::Invalid {
            message: format!(
                "setup_limits with shift = {shift}: the stretch divides by max_a − min_a = {da} \
                 and max_b − min_b = {db} (a ∈ [{min_a}, {max_a}], b ∈ [{min_b}, {max_b}] at \
                 the schedule's ends), which would make every (a, b) NaN or infinite; expected \
                 a shift that leaves the ends at distinct levels (a shift this far from 1 \
                 moves both ends onto the same clamp limit of the schedule)"
            ),
        });
    }
    Ok([min_a, max_a, min_b, max_b])
}

impl<S: Scaler> Stretched<S> {
    /// Stretches `inner` to the ends of `schedule` evaluated with `shift`:
    /// `(min_a, max_b) = inner(schedule(t=1))` if `stretch_max` else `(0, 1)`,
    /// `(max_a, min_b) = inner(schedule(t=0))` if `stretch_min` else `(1, 0)`.
    ///
    /// Errors: the schedule is training-only, `shift` is not a positive finite number, or the
    /// measured ends coincide (`max_a = min_a` or `max_b = min_b`: a shift so large or small
    /// that both ends land on one clamp limit), which would divide by zero
    /// ([`GdfError::Invalid`](crate::GdfError::Invalid), naming the shift).
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

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// `(a', b') = ((a − min_a)/(max_a − min_a), (b − min_b)/(max_b − min_b))`.
    pub fn stretch<F: Float>(a: F, b: F, min_a: F, max_a: F, min_b: F, max_b: F) -> (F, F) {
        ((a - min_a) / (max_a - min_a), (b - min_b) / (max_b - min_b))
    }
}

impl<S: Scaler> Scaler for Stretched<S> {
    #[inline(always)]
    fn ab<F: Real>(&self, l: F) -> (F, F) {
        let (a, b) = self.inner.ab(l);
        let [a0, a1, b0, b1] = self.limits.map(F::of);
        formula::stretch(a, b, a0, a1, b0, b1)
    }
}

#[cfg(gdf_kernel)]
mod device {
    use super::*;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use crate::scaler::CubeScaler;
    use cubecl::prelude::*;

    /// State layout: `[min_a, max_a, min_b, max_b, inner…]`.
    #[cube]
    impl<S: CubeScaler> CubeScaler for Stretched<S> {
        fn ab<F: Float>(l: F, state: &[F]) -> (F, F) {
            let (a, b) = S::ab::<F>(l, state.slice(4, state.len()));
            formula::cube::stretch::<F>(a, b, state[0], state[1], state[2], state[3])
        }
    }
}
