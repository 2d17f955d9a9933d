//! Schedule combinators: interpolation of two schedules, and the wrapper settings as types
//! (own shift, discrete steps, no limits).

use core::fmt;
use core::marker::PhantomData;

use rand::RngCore;

use super::{write_range, Schedule};
use crate::component::LogSnrFn;
use crate::float::Real;
use crate::konst::{lit, need, Const, Count, One};

/// Interpolates two schedules: `t ← clamp(t, 1e-7, 1−1e-7)`,
/// `λ = s1(t, shift = K1)·t + s2(t, shift = K2)·(1−t)`; each inner schedule applies its own
/// wrapper and limits. The original's `InterpolatedSchedule` (default shifts `[1, 1]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Interpolated<S1, S2, K1: Const = One, K2: Const = One> {
    /// The schedule weighted by `t` (dominant near t = 1).
    pub s1: S1,
    /// The schedule weighted by `1 − t` (dominant near t = 0).
    pub s2: S2,
    _k: PhantomData<(K1, K2)>,
}

impl<S1: Schedule, S2: Schedule, K1: Const, K2: Const> Interpolated<S1, S2, K1, K2> {
    /// The range checks of the constants (a compile-time error when one fails).
    const VALID: () = {
        assert!(
            need::positive(K1::F64) && need::positive(K2::F64),
            "Interpolated: `shifts` must be positive"
        );
    };
    /// Interpolates `s1` and `s2`.
    /// Its constants are checked at compile time: one out of range fails the build.
    pub fn new(s1: S1, s2: S2) -> Self {
        let () = Self::VALID;
        Self {
            s1,
            s2,
            _k: PhantomData,
        }
    }
}

/// The Interpolated formula over two already-wrapped inner evaluations.
#[inline(always)]
pub fn interpolate<F: Real>(t: F, s1: impl Fn(F) -> F, s2: impl Fn(F) -> F) -> F {
    let t = formula::clamp_t(t);
    formula::mix(t, s1(t), s2(t))
}

/// The formulas of [`Interpolated`] (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// `t ← clamp(t, 1e-7, 1 − 1e-7)`.
    pub fn clamp_t<F: Float>(t: F) -> F {
        clamp::<F>(t, konst::<F>(1e-7), konst::<F>(1.0 - 1e-7))
    }
    /// `λ = l1·t + l2·(1 − t)`.
    pub fn mix<F: Float>(t: F, l1: F, l2: F) -> F {
        l1 * t + l2 * (F::new(1.0) - t)
    }
}

pub(crate) fn write_interpolated(
    out: &mut dyn fmt::Write,
    s1: &dyn Fn(&mut dyn fmt::Write) -> fmt::Result,
    s2: &dyn Fn(&mut dyn fmt::Write) -> fmt::Result,
    shifts: [f64; 2],
) -> fmt::Result {
    out.write_str("Interpolated(")?;
    s1(out)?;
    out.write_str(", ")?;
    s2(out)?;
    out.write_str(", ")?;
    write_range(out, "shifts", shifts)?;
    out.write_str(")")
}

impl<S1: Schedule, S2: Schedule, K1: Const, K2: Const> LogSnrFn for Interpolated<S1, S2, K1, K2> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write_interpolated(
            out,
            &|o| self.s1.write_decl(o),
            &|o| self.s2.write_decl(o),
            [K1::F64, K2::F64],
        )
    }
}

impl<S1: Schedule, S2: Schedule, K1: Const, K2: Const> Schedule for Interpolated<S1, S2, K1, K2> {
    fn name(&self) -> &'static str {
        "Interpolated"
    }
    fn accepts_t(&self) -> bool {
        self.s1.accepts_t() && self.s2.accepts_t()
    }
    fn f<F: Real>(&self, t: F) -> F {
        let (l1, l2) = (self.s1.limits(), self.s2.limits());
        interpolate(
            t,
            |t| self.s1.eval(t, F::of(K1::F64), l1),
            |t| self.s2.eval(t, F::of(K2::F64), l2),
        )
    }
}

/// A schedule with its own shift `K` (the original's `shift=` constructor argument):
/// `λ ← λ − 2·ln(K·shift_at_call)`. Its limits include `K`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shifted<S, K: Const> {
    /// The shifted schedule.
    pub inner: S,
    _k: PhantomData<K>,
}

/// A schedule whose `t` is snapped to `D` evenly spaced steps (`discrete_steps = D`,
/// round half to even).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DiscreteSteps<S, D: Count> {
    /// The discretised schedule.
    pub inner: S,
    _d: PhantomData<D>,
}

/// A schedule without limits (`force_limits = false`): shifted results are not clamped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NoLimits<S> {
    /// The unclamped schedule.
    pub inner: S,
}

impl<S: Schedule, K: Const> Shifted<S, K> {
    /// The range checks of the constants (a compile-time error when one fails).
    const VALID: () = {
        assert!(
            need::positive(K::F64),
            "Shifted schedule: `shift` must be positive"
        );
    };
    /// Wraps `inner`. Its constants are checked at compile time: one out of range fails the build.
    pub fn new(inner: S) -> Self {
        let () = Self::VALID;
        Self {
            inner,
            _k: PhantomData,
        }
    }
}
impl<S: Schedule, D: Count> DiscreteSteps<S, D> {
    /// The range checks of the constants (a compile-time error when one fails).
    const VALID: () = {
        assert!(
            need::count(D::U64, 2),
            "DiscreteSteps: `discrete_steps` must be a whole number in [2, 2^20] (t is snapped to `discrete_steps` points including both ends)"
        );
    };
    /// Wraps `inner`. Its constants are checked at compile time: one out of range fails the build.
    pub fn new(inner: S) -> Self {
        let () = Self::VALID;
        Self {
            inner,
            _d: PhantomData,
        }
    }
}
impl<S1: Schedule + Default, S2: Schedule + Default, K1: Const, K2: Const> Default
    for Interpolated<S1, S2, K1, K2>
{
    fn default() -> Self {
        Self::new(S1::default(), S2::default())
    }
}
impl<S: Schedule + Default, K: Const> Default for Shifted<S, K> {
    fn default() -> Self {
        Self::new(S::default())
    }
}
impl<S: Schedule + Default, D: Count> Default for DiscreteSteps<S, D> {
    fn default() -> Self {
        Self::new(S::default())
    }
}
impl<S: Schedule> NoLimits<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

/// Writes `inner`'s declaration with `extra` appended inside its parentheses.
pub(crate) fn write_with(
    out: &mut dyn fmt::Write,
    inner: &dyn Fn(&mut dyn fmt::Write) -> fmt::Result,
    extra: &str,
) -> fmt::Result {
    let mut s = String::new();
    inner(&mut s)?;
    match s.strip_suffix(')') {
        Some(head) if head.ends_with('(') => write!(out, "{head}{extra})"),
        Some(head) => write!(out, "{head}, {extra})"),
        None => write!(out, "{s}({extra})"),
    }
}

impl<S: Schedule, K: Const> LogSnrFn for Shifted<S, K> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write_with(
            out,
            &|o| self.inner.write_decl(o),
            &format!("shift = {}", lit(K::F64)),
        )
    }
}
impl<S: Schedule, K: Const> Schedule for Shifted<S, K> {
    delegate_schedule!();
    fn own_shift(&self) -> f64 {
        self.inner.own_shift() * K::F64
    }
    fn discrete_steps(&self) -> Option<u64> {
        self.inner.discrete_steps()
    }
    fn force_limits(&self) -> bool {
        self.inner.force_limits()
    }
}

impl<S: Schedule, D: Count> LogSnrFn for DiscreteSteps<S, D> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write_with(
            out,
            &|o| self.inner.write_decl(o),
            &format!("discrete_steps = {}", D::U64),
        )
    }
}
impl<S: Schedule, D: Count> Schedule for DiscreteSteps<S, D> {
    delegate_schedule!();
    fn own_shift(&self) -> f64 {
        self.inner.own_shift()
    }
    fn discrete_steps(&self) -> Option<u64> {
        Some(D::U64)
    }
    fn force_limits(&self) -> bool {
        self.inner.force_limits()
    }
}

impl<S: Schedule> LogSnrFn for NoLimits<S> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write_with(out, &|o| self.inner.write_decl(o), "force_limits = false")
    }
}
impl<S: Schedule> Schedule for NoLimits<S> {
    delegate_schedule!();
    fn own_shift(&self) -> f64 {
        self.inner.own_shift()
    }
    fn discrete_steps(&self) -> Option<u64> {
        self.inner.discrete_steps()
    }
    fn force_limits(&self) -> bool {
        false
    }
}

#[cfg(gdf_kernel)]
mod device {
    use super::*;
    use crate::formula::device::konst;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use crate::schedule::{schedule_logsnr, CubeSchedule, ScheduleConsts};
    use cubecl::prelude::*;

    impl<S1, S2, K1: Const, K2: Const> ScheduleConsts for Interpolated<S1, S2, K1, K2>
    where
        S1: ScheduleConsts,
        S2: ScheduleConsts,
    {
        const ACCEPTS_T: bool = S1::ACCEPTS_T && S2::ACCEPTS_T;
    }
    /// State layout: `[off2, s1 state…, s2 state…]`.
    #[cube]
    impl<S1: CubeSchedule, S2: CubeSchedule, K1: Const, K2: Const> CubeSchedule
        for Interpolated<S1, S2, K1, K2>
    {
        fn raw<F: Float>(t: F, state: &[F]) -> F {
            let t = formula::cube::clamp_t::<F>(t);
            let off2 = usize::cast_from(state[0]);
            let l1 =
                schedule_logsnr::<F, S1>(t, konst::<F>(comptime!(K1::F64)), state.slice(1, off2));
            let l2 = schedule_logsnr::<F, S2>(
                t,
                konst::<F>(comptime!(K2::F64)),
                state.slice(off2, state.len()),
            );
            formula::cube::mix::<F>(t, l1, l2)
        }
    }

    impl<S: ScheduleConsts, K: Const> ScheduleConsts for Shifted<S, K> {
        const OWN_SHIFT: f64 = S::OWN_SHIFT * K::F64;
        const DISCRETE_STEPS: u64 = S::DISCRETE_STEPS;
        const ACCEPTS_T: bool = S::ACCEPTS_T;
    }
    #[cube]
    impl<S: CubeSchedule, K: Const> CubeSchedule for Shifted<S, K> {
        fn raw<F: Float>(t: F, state: &[F]) -> F {
            S::raw::<F>(t, state)
        }
    }

    impl<S: ScheduleConsts, D: Count> ScheduleConsts for DiscreteSteps<S, D> {
        const OWN_SHIFT: f64 = S::OWN_SHIFT;
        const DISCRETE_STEPS: u64 = D::U64;
        const ACCEPTS_T: bool = S::ACCEPTS_T;
    }
    #[cube]
    impl<S: CubeSchedule, D: Count> CubeSchedule for DiscreteSteps<S, D> {
        fn raw<F: Float>(t: F, state: &[F]) -> F {
            S::raw::<F>(t, state)
        }
    }

    impl<S: ScheduleConsts> ScheduleConsts for NoLimits<S> {
        const OWN_SHIFT: f64 = S::OWN_SHIFT;
        const DISCRETE_STEPS: u64 = S::DISCRETE_STEPS;
        const ACCEPTS_T: bool = S::ACCEPTS_T;
    }
    #[cube]
    impl<S: CubeSchedule> CubeSchedule for NoLimits<S> {
        fn raw<F: Float>(t: F, state: &[F]) -> F {
            S::raw::<F>(t, state)
        }
    }
}
