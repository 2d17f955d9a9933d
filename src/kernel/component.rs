//! The `#[cube]` form of every component role.
//!
//! Each role has a `#[cube]` trait with associated functions only (no `&self`), implemented
//! for the same zero-sized types as the host traits; the hyperparameters are read at kernel
//! expansion time (`comptime!`) from the type-level constants, so a framework compiles to
//! straight-line arithmetic. Wrapper settings that are type-level (own shift, discrete steps,
//! clamp ranges, whether a sampler draws noise) are associated constants of a plain
//! companion trait ([`ScheduleConsts`], [`NoiseCondConsts`], [`LossWeightConsts`],
//! [`SamplerConsts`]).
//!
//! Runtime state (schedule limits, stretched scaler limits, piecewise tables, adaptive
//! buckets) travels in one state buffer per role, written on the host by
//! [`DeviceState::write_state`]. Layouts (all values as the kernel's float type):
//! - schedule: `[lo, hi, raw…]` (the limits, `±inf` when there are none), where `raw` is
//!   empty for formula schedules, `[n, xs(n), ys(n)]` for tables, and
//!   `[off2, s1 state…, s2 state…]` for [`Interpolated`](crate::schedule::Interpolated).
//! - scaler: `[]`, or `[min_a, max_a, min_b, max_b, inner…]` for a stretched scaler.
//! - noise cond: `[]`, or `[n, xs(n), ys(n)]` for table inverses.
//! - loss weight: `[]`, or `[n_edges, edges…, losses…]` for the adaptive weight.

use cubecl::prelude::*;

use super::prim::{clamp, konst, logit, sigmoid};
use super::KernelError;
use crate::konst::{Const, Count, Flag};
use crate::loss_weight as lw;
use crate::noise_cond as nc;
use crate::sampler as sm;
use crate::scaler as scl;
use crate::schedule as sch;
use crate::target as tg;

/// Host side of a component on the device: appends the component's state (see the module
/// docs for the layouts). Components without state write nothing.
pub trait DeviceState {
    /// Appends this component's state; errors when the component cannot run in a kernel.
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError>;
}

macro_rules! no_state {
    ($([$($g:tt)*] $t:ty),* $(,)?) => {$(
        impl<$($g)*> DeviceState for $t {
            fn write_state(&self, _out: &mut Vec<f64>) -> Result<(), KernelError> {
                Ok(())
            }
        }
    )*};
}

// ---------------------------------------------------------------------------------------
// Schedules.

/// Type-level wrapper settings of a schedule (as [`Schedule::own_shift`] and
/// [`Schedule::discrete_steps`](crate::schedule::Schedule::discrete_steps)).
pub trait ScheduleConsts {
    /// The schedule's own shift.
    const OWN_SHIFT: f64 = 1.0;
    /// `D` of `discrete_steps`, or 0 for none.
    const DISCRETE_STEPS: u64 = 0;
    /// Whether the schedule evaluates a given `t` (false for training-only schedules).
    const ACCEPTS_T: bool = true;
}

/// The `#[cube]` form of a [`Schedule`](crate::schedule::Schedule): its raw formula `f(t)`.
/// The shared wrapper is [`schedule_logsnr`].
#[cube]
pub trait CubeSchedule: ScheduleConsts + Send + Sync + 'static {
    /// The raw formula at `t ∈ [0, 1]`; `state` is the raw part of the schedule's state.
    fn raw<F: Float>(t: F, state: &[F]) -> F;
}

/// The schedule wrapper (SPEC §1): discrete steps, clamp to `[0, 1]`, `f`, shift by
/// `shift · own_shift`, clamp into the limits `state[0..2]` (NaN limits give NaN).
#[cube]
pub fn schedule_logsnr<F: Float, S: CubeSchedule>(t: F, shift: F, state: &[F]) -> F {
    let d = comptime!(S::DISCRETE_STEPS);
    let mut t = t;
    if comptime!(d > 0) {
        let n = konst::<F>(comptime!(d.saturating_sub(1) as f64));
        t = F::round(t * n) / n;
    }
    let t = clamp::<F>(t, F::new(0.0), F::new(1.0));
    let raw = S::raw::<F>(t, state.slice(2, state.len()));
    let k = shift * konst::<F>(comptime!(S::OWN_SHIFT));
    let l = select(
        k != F::new(1.0),
        raw + F::new(2.0) * F::ln(F::new(1.0) / k),
        raw,
    );
    let lo = state[0];
    let hi = state[1];
    let out = clamp::<F>(l, lo, hi);
    #[allow(clippy::eq_op)]
    let nan = lo != lo || hi != hi;
    // A NaN limit makes the result NaN (lo + hi is then NaN); WGSL has no NaN literal.
    select(nan, lo + hi, out)
}

/// Writes a schedule's full state `[lo, hi, raw…]`.
pub fn schedule_state<S: crate::schedule::Schedule + DeviceState>(
    s: &S,
    out: &mut Vec<f64>,
) -> Result<(), KernelError> {
    let [lo, hi] = s.limits().unwrap_or([f64::NEG_INFINITY, f64::INFINITY]);
    out.push(lo);
    out.push(hi);
    s.write_state(out)
}

impl<S: Const, Lo: Const, Hi: Const, N: Flag> ScheduleConsts for sch::Cosine<S, Lo, Hi, N> {}
#[cube]
impl<S: Const, Lo: Const, Hi: Const, N: Flag> CubeSchedule for sch::Cosine<S, Lo, Hi, N> {
    fn raw<F: Float>(t: F, _state: &[F]) -> F {
        let s = konst::<F>(comptime!(S::F64));
        let m = konst::<F>(comptime!({
            let s = S::F64;
            (s / (1.0 + s) * core::f64::consts::FRAC_PI_2).cos().powi(2)
        }));
        let c = clamp::<F>(
            F::cos((s + t) / (F::new(1.0) + s) * konst::<F>(core::f64::consts::FRAC_PI_2)),
            F::new(0.0),
            F::new(1.0),
        );
        var_finish::<F, Lo, Hi, N>(c * c / m)
    }
}

/// `VarParams::finish`: clamp (or rescale) the variance, then `logit`.
#[cube]
fn var_finish<F: Float, Lo: Const, Hi: Const, N: Flag>(v: F) -> F {
    let lo = konst::<F>(comptime!(Lo::F64));
    let hi = konst::<F>(comptime!(Hi::F64));
    if comptime!(N::BOOL) {
        logit::<F>(v * (hi - lo) + lo)
    } else {
        logit::<F>(clamp::<F>(v, lo, hi))
    }
}

impl<S: Const, Lo: Const, Hi: Const, N: Flag> ScheduleConsts for sch::Sqrt<S, Lo, Hi, N> {}
#[cube]
impl<S: Const, Lo: Const, Hi: Const, N: Flag> CubeSchedule for sch::Sqrt<S, Lo, Hi, N> {
    fn raw<F: Float>(t: F, _state: &[F]) -> F {
        var_finish::<F, Lo, Hi, N>(F::new(1.0) - F::sqrt(t + konst::<F>(comptime!(S::F64))))
    }
}

impl<Lo: Const, Hi: Const> ScheduleConsts for sch::Cosine2<Lo, Hi> {}
#[cube]
impl<Lo: Const, Hi: Const> CubeSchedule for sch::Cosine2<Lo, Hi> {
    fn raw<F: Float>(t: F, _state: &[F]) -> F {
        // The host computes t_min, t_max in F from the f32-rounded range; same here.
        let t_min = konst::<F>(comptime!(((-(Hi::F64 as f32) * 0.5).exp().atan()) as f64));
        let t_max = konst::<F>(comptime!(((-(Lo::F64 as f32) * 0.5).exp().atan()) as f64));
        F::new(-2.0) * F::ln(F::tan(t_min + t * (t_max - t_min)))
    }
}

impl<Lo: Const, Hi: Const> ScheduleConsts for sch::RectifiedFlows<Lo, Hi> {}
#[cube]
impl<Lo: Const, Hi: Const> CubeSchedule for sch::RectifiedFlows<Lo, Hi> {
    fn raw<F: Float>(t: F, _state: &[F]) -> F {
        // Squared, as the host form (t = −0.0 gives +inf, clamped to hi; not NaN).
        let u = F::new(1.0) - t;
        let l = F::ln((u * u) / (t * t));
        clamp::<F>(
            l,
            konst::<F>(comptime!(Lo::F64)),
            konst::<F>(comptime!(Hi::F64)),
        )
    }
}

impl<Lo: Const, Hi: Const> ScheduleConsts for sch::Linear<Lo, Hi> {}
#[cube]
impl<Lo: Const, Hi: Const> CubeSchedule for sch::Linear<Lo, Hi> {
    fn raw<F: Float>(t: F, _state: &[F]) -> F {
        let lo = konst::<F>(comptime!(Lo::F64));
        let hi = konst::<F>(comptime!(Hi::F64));
        t * (lo - hi) + hi
    }
}

impl<Mn: Const, Mx: Const, P: Const> ScheduleConsts for sch::EdmSample<Mn, Mx, P> {}
#[cube]
impl<Mn: Const, Mx: Const, P: Const> CubeSchedule for sch::EdmSample<Mn, Mx, P> {
    fn raw<F: Float>(t: F, _state: &[F]) -> F {
        let smin = konst::<F>(comptime!(Mn::F64.powf(1.0 / P::F64)));
        let smax = konst::<F>(comptime!(Mx::F64.powf(1.0 / P::F64)));
        let sigma = F::powf(
            smax + (F::new(1.0) - t) * (smin - smax),
            konst::<F>(comptime!(P::F64)),
        );
        F::new(-2.0) * F::ln(sigma)
    }
}

impl<Mu: Const, Sd: Const> ScheduleConsts for sch::EdmTrain<Mu, Sd> {
    const ACCEPTS_T: bool = false;
}
#[cube]
impl<Mu: Const, Sd: Const> CubeSchedule for sch::EdmTrain<Mu, Sd> {
    fn raw<F: Float>(t: F, _state: &[F]) -> F {
        // Training-only: never evaluated through the checked entry points (NaN, as the host).
        let z = t * F::new(0.0);
        let w = F::new(0.0) * t;
        z / w
    }
}

impl<Lo: Const, Hi: Const, B: Count, Mn: Const> ScheduleConsts
    for sch::AdaptiveTrain<Lo, Hi, B, Mn>
{
    const ACCEPTS_T: bool = false;
}
#[cube]
impl<Lo: Const, Hi: Const, B: Count, Mn: Const> CubeSchedule for sch::AdaptiveTrain<Lo, Hi, B, Mn> {
    fn raw<F: Float>(t: F, _state: &[F]) -> F {
        // Training-only: never evaluated through the checked entry points (NaN, as the host).
        let z = t * F::new(0.0);
        let w = F::new(0.0) * t;
        z / w
    }
}

/// `v(t)` of a table `[n, xs(n), ys(n)]` (as [`Table::value`](crate::schedule::Table::value)).
#[cube]
pub fn table_value<F: Float>(t: F, state: &[F]) -> F {
    let n = u32::cast_from(state[0]);
    // k = #{xs[..n-1] < t} (xs increasing): binary search.
    let mut lo = 0u32;
    let mut hi = n - 1;
    while lo < hi {
        let mid = (lo + hi) / 2;
        if state[(1 + mid) as usize] < t {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let i0 = select(lo == 0u32, 0u32, lo - 1);
    let i = select(i0 > n - 2, n - 2, i0);
    let x0 = state[(1 + i) as usize];
    let x1 = state[(2 + i) as usize];
    let y0 = state[(1 + n + i) as usize];
    let y1 = state[(2 + n + i) as usize];
    y0 + (t - x0) * (y1 - y0) / (x1 - x0)
}

/// The inverse of a decreasing table `[n, xs(n), ys(n)]` (as
/// [`Table::inverse`](crate::schedule::Table::inverse)).
#[cube]
pub fn table_inverse<F: Float>(v: F, state: &[F]) -> F {
    let n = u32::cast_from(state[0]);
    let mut lo = 0u32;
    let mut hi = select(n > 2u32, n - 2, 0u32);
    while lo < hi {
        let mid = (lo + hi) / 2;
        // reverse(ys)[mid] = ys[n - 1 - mid]
        if state[(1 + n + n - 1 - mid) as usize] < v {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let i = (n - 2) - lo;
    let x0 = state[(1 + i) as usize];
    let x1 = state[(2 + i) as usize];
    let y0 = state[(1 + n + i) as usize];
    let y1 = state[(2 + n + i) as usize];
    x0 + (x1 - x0) * (v - y0) / (y1 - y0)
}

fn write_table(t: &crate::schedule::Table, out: &mut Vec<f64>) {
    out.push(t.xs().len() as f64);
    out.extend_from_slice(t.xs());
    out.extend_from_slice(t.ys());
}

impl ScheduleConsts for sch::PiecewiseLinear {}
#[cube]
impl CubeSchedule for sch::PiecewiseLinear {
    fn raw<F: Float>(t: F, state: &[F]) -> F {
        logit::<F>(table_value::<F>(t, state))
    }
}

impl<B0: Const, B1: Const, N: Count> ScheduleConsts for sch::StableDiffusion<B0, B1, N> {}
#[cube]
impl<B0: Const, B1: Const, N: Count> CubeSchedule for sch::StableDiffusion<B0, B1, N> {
    fn raw<F: Float>(t: F, state: &[F]) -> F {
        logit::<F>(table_value::<F>(t, state))
    }
}

impl<S1, S2, K1: Const, K2: Const> ScheduleConsts for sch::Interpolated<S1, S2, K1, K2>
where
    S1: ScheduleConsts,
    S2: ScheduleConsts,
{
    const ACCEPTS_T: bool = S1::ACCEPTS_T && S2::ACCEPTS_T;
}
#[cube]
impl<S1: CubeSchedule, S2: CubeSchedule, K1: Const, K2: Const> CubeSchedule
    for sch::Interpolated<S1, S2, K1, K2>
{
    fn raw<F: Float>(t: F, state: &[F]) -> F {
        let t = clamp::<F>(t, konst::<F>(1e-7), konst::<F>(comptime!(1.0 - 1e-7)));
        let off2 = usize::cast_from(state[0]);
        let l1 = schedule_logsnr::<F, S1>(t, konst::<F>(comptime!(K1::F64)), state.slice(1, off2));
        let l2 = schedule_logsnr::<F, S2>(
            t,
            konst::<F>(comptime!(K2::F64)),
            state.slice(off2, state.len()),
        );
        l1 * t + l2 * (F::new(1.0) - t)
    }
}

impl<S: ScheduleConsts, K: Const> ScheduleConsts for sch::Shifted<S, K> {
    const OWN_SHIFT: f64 = S::OWN_SHIFT * K::F64;
    const DISCRETE_STEPS: u64 = S::DISCRETE_STEPS;
    const ACCEPTS_T: bool = S::ACCEPTS_T;
}
#[cube]
impl<S: CubeSchedule, K: Const> CubeSchedule for sch::Shifted<S, K> {
    fn raw<F: Float>(t: F, state: &[F]) -> F {
        S::raw::<F>(t, state)
    }
}

impl<S: ScheduleConsts, D: Count> ScheduleConsts for sch::DiscreteSteps<S, D> {
    const OWN_SHIFT: f64 = S::OWN_SHIFT;
    const DISCRETE_STEPS: u64 = D::U64;
    const ACCEPTS_T: bool = S::ACCEPTS_T;
}
#[cube]
impl<S: CubeSchedule, D: Count> CubeSchedule for sch::DiscreteSteps<S, D> {
    fn raw<F: Float>(t: F, state: &[F]) -> F {
        S::raw::<F>(t, state)
    }
}

impl<S: ScheduleConsts> ScheduleConsts for sch::NoLimits<S> {
    const OWN_SHIFT: f64 = S::OWN_SHIFT;
    const DISCRETE_STEPS: u64 = S::DISCRETE_STEPS;
    const ACCEPTS_T: bool = S::ACCEPTS_T;
}
#[cube]
impl<S: CubeSchedule> CubeSchedule for sch::NoLimits<S> {
    fn raw<F: Float>(t: F, state: &[F]) -> F {
        S::raw::<F>(t, state)
    }
}

no_state!(
    [S: Const, Lo: Const, Hi: Const, N: Flag] sch::Cosine<S, Lo, Hi, N>,
    [S: Const, Lo: Const, Hi: Const, N: Flag] sch::Sqrt<S, Lo, Hi, N>,
    [Lo: Const, Hi: Const] sch::Cosine2<Lo, Hi>,
    [Lo: Const, Hi: Const] sch::RectifiedFlows<Lo, Hi>,
    [Lo: Const, Hi: Const] sch::Linear<Lo, Hi>,
    [Mn: Const, Mx: Const, P: Const] sch::EdmSample<Mn, Mx, P>,
    [Mu: Const, Sd: Const] sch::EdmTrain<Mu, Sd>,
    [Lo: Const, Hi: Const, B: Count, Mn: Const] sch::AdaptiveTrain<Lo, Hi, B, Mn>,
);

impl DeviceState for sch::PiecewiseLinear {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        write_table(self.table(), out);
        Ok(())
    }
}
impl<B0: Const, B1: Const, N: Count> DeviceState for sch::StableDiffusion<B0, B1, N> {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        write_table(&self.table(), out);
        Ok(())
    }
}
impl<S1, S2, K1: Const, K2: Const> DeviceState for sch::Interpolated<S1, S2, K1, K2>
where
    S1: crate::schedule::Schedule + DeviceState,
    S2: crate::schedule::Schedule + DeviceState,
{
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        let head = out.len();
        out.push(0.0);
        schedule_state(&self.s1, out)?;
        out[head] = (out.len() - head) as f64;
        schedule_state(&self.s2, out)
    }
}
impl<S: DeviceState, K: Const> DeviceState for sch::Shifted<S, K> {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        self.inner.write_state(out)
    }
}
impl<S: DeviceState, D: Count> DeviceState for sch::DiscreteSteps<S, D> {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        self.inner.write_state(out)
    }
}
impl<S: DeviceState> DeviceState for sch::NoLimits<S> {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        self.inner.write_state(out)
    }
}

// ---------------------------------------------------------------------------------------
// Scalers.

/// The `#[cube]` form of a [`Scaler`](crate::scaler::Scaler).
#[cube]
pub trait CubeScaler: Send + Sync + 'static {
    /// `(a, b)` at logSNR `l`.
    fn ab<F: Float>(l: F, state: &[F]) -> (F, F);
}

#[cube]
impl CubeScaler for scl::Vp {
    fn ab<F: Float>(l: F, _state: &[F]) -> (F, F) {
        (F::sqrt(sigmoid::<F>(l)), F::sqrt(sigmoid::<F>(-l)))
    }
}

#[cube]
impl CubeScaler for scl::Lerp {
    fn ab<F: Float>(l: F, _state: &[F]) -> (F, F) {
        let h = l * F::new(0.5);
        (sigmoid::<F>(h), sigmoid::<F>(-h))
    }
}

#[cube]
impl<S: CubeScaler> CubeScaler for scl::Stretched<S> {
    fn ab<F: Float>(l: F, state: &[F]) -> (F, F) {
        let (a, b) = S::ab::<F>(l, state.slice(4, state.len()));
        let a0 = state[0];
        let a1 = state[1];
        let b0 = state[2];
        let b1 = state[3];
        ((a - a0) / (a1 - a0), (b - b0) / (b1 - b0))
    }
}

no_state!([] scl::Vp, [] scl::Lerp);
impl<S: DeviceState> DeviceState for scl::Stretched<S> {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        out.extend_from_slice(&self.limits);
        self.inner.write_state(out)
    }
}

// ---------------------------------------------------------------------------------------
// Targets.

/// The `#[cube]` form of a [`Target`](crate::target::Target).
#[cube]
pub trait CubeTarget: Send + Sync + 'static {
    /// The training target.
    fn target<F: Float>(x0: F, eps: F, a: F, b: F) -> F;
    /// `x0` from prediction `p` at noised `x`.
    fn x0<F: Float>(x: F, p: F, a: F, b: F) -> F;
    /// `ε` from prediction `p` at noised `x`.
    fn eps<F: Float>(x: F, p: F, a: F, b: F) -> F;
}

#[cube]
impl CubeTarget for tg::Epsilon {
    fn target<F: Float>(_x0: F, eps: F, _a: F, _b: F) -> F {
        eps
    }
    fn x0<F: Float>(x: F, p: F, a: F, b: F) -> F {
        (x - b * p) / a
    }
    fn eps<F: Float>(_x: F, p: F, _a: F, _b: F) -> F {
        p
    }
}

#[cube]
impl CubeTarget for tg::X0 {
    fn target<F: Float>(x0: F, _eps: F, _a: F, _b: F) -> F {
        x0
    }
    fn x0<F: Float>(_x: F, p: F, _a: F, _b: F) -> F {
        p
    }
    fn eps<F: Float>(x: F, p: F, a: F, b: F) -> F {
        (x - a * p) / b
    }
}

#[cube]
impl CubeTarget for tg::V {
    fn target<F: Float>(x0: F, eps: F, a: F, b: F) -> F {
        a * eps - b * x0
    }
    fn x0<F: Float>(x: F, p: F, a: F, b: F) -> F {
        (a * x - b * p) / (a * a + b * b)
    }
    fn eps<F: Float>(x: F, p: F, a: F, b: F) -> F {
        (b * x + a * p) / (a * a + b * b)
    }
}

#[cube]
impl CubeTarget for tg::RectifiedFlows {
    fn target<F: Float>(x0: F, eps: F, _a: F, _b: F) -> F {
        eps - x0
    }
    fn x0<F: Float>(x: F, p: F, _a: F, b: F) -> F {
        x - b * p
    }
    fn eps<F: Float>(x: F, p: F, a: F, _b: F) -> F {
        x + a * p
    }
}

no_state!([] tg::Epsilon, [] tg::X0, [] tg::V, [] tg::RectifiedFlows);

// ---------------------------------------------------------------------------------------
// Noise conds.

/// Type-level wrapper settings of a noise cond (as
/// [`NoiseCond::shift`](crate::noise_cond::NoiseCond::shift) and
/// [`NoiseCond::clamp_range`](crate::noise_cond::NoiseCond::clamp_range)).
pub trait NoiseCondConsts {
    /// The shift (λ moves by `+2·ln shift`).
    const SHIFT: f64 = 1.0;
    /// The output clamp.
    const CLAMP: [f64; 2] = [-1e9, 1e9];
}

/// The `#[cube]` form of a [`NoiseCond`](crate::noise_cond::NoiseCond): its raw formula.
/// The wrapper is [`noise_cond`].
#[cube]
pub trait CubeNoiseCond: NoiseCondConsts + Send + Sync + 'static {
    /// The raw formula.
    fn cond<F: Float>(l: F, state: &[F]) -> F;
}

/// The noise-cond wrapper (SPEC §4): shift, formula, clamp.
#[cube]
pub fn noise_cond<F: Float, N: CubeNoiseCond>(l: F, state: &[F]) -> F {
    let k = comptime!(N::SHIFT);
    let mut l = l;
    if comptime!(k != 1.0) {
        // The host rounds k to F first, then takes the log in F.
        l += F::new(2.0) * F::ln(konst::<F>(k));
    }
    let range = comptime!(N::CLAMP);
    clamp::<F>(
        N::cond::<F>(l, state),
        konst::<F>(comptime!(range[0])),
        konst::<F>(comptime!(range[1])),
    )
}

impl<S: Const> NoiseCondConsts for nc::CosineT<S> {
    const CLAMP: [f64; 2] = [0.0, 1.0];
}
#[cube]
impl<S: Const> CubeNoiseCond for nc::CosineT<S> {
    fn cond<F: Float>(l: F, _state: &[F]) -> F {
        let c0 = comptime!(S::F64 / (1.0 + S::F64) * core::f64::consts::FRAC_PI_2);
        let m = konst::<F>(comptime!(c0.cos().powi(2)));
        let sin2 = konst::<F>(comptime!(c0.sin().powi(2)));
        let v = clamp::<F>(sigmoid::<F>(l), F::new(0.0), F::new(1.0));
        let vm = v * m;
        let one_minus = sin2 + m * clamp::<F>(sigmoid::<F>(-l), F::new(0.0), F::new(1.0));
        let theta = F::atan2(F::sqrt(one_minus), F::sqrt(vm));
        let s = konst::<F>(comptime!(S::F64));
        theta / konst::<F>(core::f64::consts::FRAC_PI_2) * (F::new(1.0) + s) - s
    }
}

impl NoiseCondConsts for nc::Edm {}
#[cube]
impl CubeNoiseCond for nc::Edm {
    fn cond<F: Float>(l: F, _state: &[F]) -> F {
        -l / F::new(8.0)
    }
}

impl NoiseCondConsts for nc::Sigmoid {}
#[cube]
impl CubeNoiseCond for nc::Sigmoid {
    fn cond<F: Float>(l: F, _state: &[F]) -> F {
        sigmoid::<F>(-l)
    }
}

impl NoiseCondConsts for nc::LogSnr {}
#[cube]
impl CubeNoiseCond for nc::LogSnr {
    fn cond<F: Float>(l: F, _state: &[F]) -> F {
        l
    }
}

impl NoiseCondConsts for nc::RectifiedFlows {}
#[cube]
impl CubeNoiseCond for nc::RectifiedFlows {
    fn cond<F: Float>(l: F, _state: &[F]) -> F {
        sigmoid::<F>(l * F::new(0.5))
    }
}

impl<Sd: Const> NoiseCondConsts for nc::EdmSigma<Sd> {}
#[cube]
impl<Sd: Const> CubeNoiseCond for nc::EdmSigma<Sd> {
    fn cond<F: Float>(l: F, _state: &[F]) -> F {
        F::exp(-l * F::new(0.5)) * konst::<F>(comptime!(Sd::F64))
    }
}

impl NoiseCondConsts for nc::PiecewiseLinear {}
#[cube]
impl CubeNoiseCond for nc::PiecewiseLinear {
    fn cond<F: Float>(l: F, state: &[F]) -> F {
        table_inverse::<F>(sigmoid::<F>(l), state)
    }
}

impl<B0: Const, B1: Const, N: Count> NoiseCondConsts for nc::StableDiffusion<B0, B1, N> {}
#[cube]
impl<B0: Const, B1: Const, N: Count> CubeNoiseCond for nc::StableDiffusion<B0, B1, N> {
    fn cond<F: Float>(l: F, state: &[F]) -> F {
        clamp::<F>(
            table_inverse::<F>(sigmoid::<F>(l), state),
            F::new(0.0),
            F::new(1.0),
        )
    }
}

impl<N: NoiseCondConsts, S: Count, Lo: Const, Hi: Const> NoiseCondConsts
    for nc::Discrete<N, S, Lo, Hi>
{
}
#[cube]
impl<N: CubeNoiseCond, S: Count, Lo: Const, Hi: Const> CubeNoiseCond
    for nc::Discrete<N, S, Lo, Hi>
{
    fn cond<F: Float>(l: F, state: &[F]) -> F {
        let c = noise_cond::<F, N>(l, state);
        let lo = konst::<F>(comptime!(Lo::F64));
        let hi = konst::<F>(comptime!(Hi::F64));
        F::trunc((c - lo) / (hi - lo) * konst::<F>(comptime!(S::U64 as f64)))
    }
}

impl<N: NoiseCondConsts, K: Const> NoiseCondConsts for nc::Shifted<N, K> {
    const SHIFT: f64 = N::SHIFT * K::F64;
    const CLAMP: [f64; 2] = N::CLAMP;
}
#[cube]
impl<N: CubeNoiseCond, K: Const> CubeNoiseCond for nc::Shifted<N, K> {
    fn cond<F: Float>(l: F, state: &[F]) -> F {
        N::cond::<F>(l, state)
    }
}

impl<N: NoiseCondConsts, Lo: Const, Hi: Const> NoiseCondConsts for nc::Clamped<N, Lo, Hi> {
    const SHIFT: f64 = N::SHIFT;
    const CLAMP: [f64; 2] = [Lo::F64, Hi::F64];
}
#[cube]
impl<N: CubeNoiseCond, Lo: Const, Hi: Const> CubeNoiseCond for nc::Clamped<N, Lo, Hi> {
    fn cond<F: Float>(l: F, state: &[F]) -> F {
        N::cond::<F>(l, state)
    }
}

no_state!(
    [S: Const] nc::CosineT<S>,
    [] nc::Edm,
    [] nc::Sigmoid,
    [] nc::LogSnr,
    [] nc::RectifiedFlows,
    [Sd: Const] nc::EdmSigma<Sd>,
);
impl DeviceState for nc::PiecewiseLinear {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        write_table(self.table(), out);
        Ok(())
    }
}
impl<B0: Const, B1: Const, N: Count> DeviceState for nc::StableDiffusion<B0, B1, N> {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        write_table(&self.table(), out);
        Ok(())
    }
}
impl<N: DeviceState, S: Count, Lo: Const, Hi: Const> DeviceState for nc::Discrete<N, S, Lo, Hi> {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        self.inner.write_state(out)
    }
}
impl<N: DeviceState, K: Const> DeviceState for nc::Shifted<N, K> {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        self.inner.write_state(out)
    }
}
impl<N: DeviceState, Lo: Const, Hi: Const> DeviceState for nc::Clamped<N, Lo, Hi> {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        self.inner.write_state(out)
    }
}

// ---------------------------------------------------------------------------------------
// Loss weights.

/// Type-level wrapper settings of a loss weight (as
/// [`LossWeight::clamp_range`](crate::loss_weight::LossWeight::clamp_range)).
pub trait LossWeightConsts {
    /// The output clamp.
    const CLAMP: [f64; 2] = [-1e9, 1e9];
}

/// The `#[cube]` form of a [`LossWeight`](crate::loss_weight::LossWeight): its raw formula.
/// The wrapper is [`loss_weight`].
#[cube]
pub trait CubeLossWeight: LossWeightConsts + Send + Sync + 'static {
    /// The raw formula.
    fn weight<F: Float>(l: F, state: &[F]) -> F;
}

/// The loss-weight wrapper (SPEC §5): `λ ← λ + 2·ln shift` when `shift ≠ 1`, formula, clamp.
#[cube]
pub fn loss_weight<F: Float, L: CubeLossWeight>(l: F, shift: F, state: &[F]) -> F {
    let l = select(shift != F::new(1.0), l + F::new(2.0) * F::ln(shift), l);
    let range = comptime!(L::CLAMP);
    clamp::<F>(
        L::weight::<F>(l, state),
        konst::<F>(comptime!(range[0])),
        konst::<F>(comptime!(range[1])),
    )
}

impl<V: Const> LossWeightConsts for lw::Constant<V> {}
#[cube]
impl<V: Const> CubeLossWeight for lw::Constant<V> {
    fn weight<F: Float>(_l: F, _state: &[F]) -> F {
        konst::<F>(comptime!(V::F64))
    }
}

impl LossWeightConsts for lw::Snr {}
#[cube]
impl CubeLossWeight for lw::Snr {
    fn weight<F: Float>(l: F, _state: &[F]) -> F {
        F::exp(l)
    }
}

impl<K: Const, G: Const, S: Const> LossWeightConsts for lw::P2<K, G, S> {}
#[cube]
impl<K: Const, G: Const, S: Const> CubeLossWeight for lw::P2<K, G, S> {
    fn weight<F: Float>(l: F, _state: &[F]) -> F {
        F::powf(
            konst::<F>(comptime!(K::F64)) + F::exp(l * konst::<F>(comptime!(S::F64))),
            -konst::<F>(comptime!(G::F64)),
        )
    }
}

impl LossWeightConsts for lw::SnrPlusOne {}
#[cube]
impl CubeLossWeight for lw::SnrPlusOne {
    fn weight<F: Float>(l: F, _state: &[F]) -> F {
        F::exp(l) + F::new(1.0)
    }
}

impl<M: Const> LossWeightConsts for lw::MinSnr<M> {}
#[cube]
impl<M: Const> CubeLossWeight for lw::MinSnr<M> {
    fn weight<F: Float>(l: F, _state: &[F]) -> F {
        let w = F::exp(l);
        let m = konst::<F>(comptime!(M::F64));
        select(w > m, m, w)
    }
}

impl<M: Const> LossWeightConsts for lw::MinSnrPlusOne<M> {}
#[cube]
impl<M: Const> CubeLossWeight for lw::MinSnrPlusOne<M> {
    fn weight<F: Float>(l: F, _state: &[F]) -> F {
        let w = F::exp(l) + F::new(1.0);
        let m = konst::<F>(comptime!(M::F64));
        select(w > m, m, w)
    }
}

impl<M: Const> LossWeightConsts for lw::TruncatedSnr<M> {}
#[cube]
impl<M: Const> CubeLossWeight for lw::TruncatedSnr<M> {
    fn weight<F: Float>(l: F, _state: &[F]) -> F {
        let w = F::exp(l);
        let m = konst::<F>(comptime!(M::F64));
        select(w < m, m, w)
    }
}

impl<D: Const> LossWeightConsts for lw::Sech<D> {}
#[cube]
impl<D: Const> CubeLossWeight for lw::Sech<D> {
    fn weight<F: Float>(l: F, _state: &[F]) -> F {
        F::new(1.0) / F::cosh(l / konst::<F>(comptime!(D::F64)))
    }
}

impl LossWeightConsts for lw::Debiased {}
#[cube]
impl CubeLossWeight for lw::Debiased {
    fn weight<F: Float>(l: F, _state: &[F]) -> F {
        F::exp(-l * F::new(0.5))
    }
}

impl<S: Const> LossWeightConsts for lw::Sigmoid<S> {}
#[cube]
impl<S: Const> CubeLossWeight for lw::Sigmoid<S> {
    fn weight<F: Float>(l: F, _state: &[F]) -> F {
        sigmoid::<F>(l * konst::<F>(comptime!(S::F64)))
    }
}

no_state!(
    [V: Const] lw::Constant<V>,
    [] lw::Snr,
    [K: Const, G: Const, S: Const] lw::P2<K, G, S>,
    [] lw::SnrPlusOne,
    [M: Const] lw::MinSnr<M>,
    [M: Const] lw::MinSnrPlusOne<M>,
    [M: Const] lw::TruncatedSnr<M>,
    [D: Const] lw::Sech<D>,
    [] lw::Debiased,
    [S: Const] lw::Sigmoid<S>,
);

/// The `#[cube]` form of a [`WeightProduct`](crate::loss_weight::WeightProduct): `Π wᵢ(λ)`
/// over the parts' raw formulas (which must be stateless).
#[cube]
pub trait CubeWeightProduct: Send + Sync + 'static {
    /// `Π wᵢ(λ)`.
    fn product<F: Float>(l: F, state: &[F]) -> F;
}

#[cube]
impl CubeWeightProduct for () {
    fn product<F: Float>(_l: F, _state: &[F]) -> F {
        F::new(1.0)
    }
}
#[cube]
impl<A: CubeLossWeight> CubeWeightProduct for (A,) {
    fn product<F: Float>(l: F, state: &[F]) -> F {
        A::weight::<F>(l, state)
    }
}
#[cube]
impl<A: CubeLossWeight, B: CubeLossWeight> CubeWeightProduct for (A, B) {
    fn product<F: Float>(l: F, state: &[F]) -> F {
        A::weight::<F>(l, state) * B::weight::<F>(l, state)
    }
}
#[cube]
impl<A: CubeLossWeight, B: CubeLossWeight, C: CubeLossWeight> CubeWeightProduct for (A, B, C) {
    fn product<F: Float>(l: F, state: &[F]) -> F {
        A::weight::<F>(l, state) * B::weight::<F>(l, state) * C::weight::<F>(l, state)
    }
}
#[cube]
impl<A: CubeLossWeight, B: CubeLossWeight, C: CubeLossWeight, D: CubeLossWeight> CubeWeightProduct
    for (A, B, C, D)
{
    fn product<F: Float>(l: F, state: &[F]) -> F {
        A::weight::<F>(l, state)
            * B::weight::<F>(l, state)
            * C::weight::<F>(l, state)
            * D::weight::<F>(l, state)
    }
}

/// Host side of a [`CubeWeightProduct`]: refuses parts that carry state.
pub trait ProductState {
    /// Errors when a part needs device state (an adaptive weight inside `Composed`).
    fn check(&self) -> Result<(), KernelError>;
}
macro_rules! product_state {
    ($($n:ident . $i:tt),*) => {
        impl<$($n: DeviceState),*> ProductState for ($($n,)*) {
            fn check(&self) -> Result<(), KernelError> {
                $(
                    let mut v = Vec::new();
                    self.$i.write_state(&mut v)?;
                    if !v.is_empty() {
                        return Err(KernelError::HostOnly {
                            component: "a stateful loss weight inside Composed",
                        });
                    }
                )*
                Ok(())
            }
        }
    };
}
product_state!();
product_state!(A.0);
product_state!(A.0, B.1);
product_state!(A.0, B.1, C.2);
product_state!(A.0, B.1, C.2, D.3);

impl<M, D> LossWeightConsts for lw::Composed<M, D> {}
#[cube]
impl<M: CubeWeightProduct, D: CubeWeightProduct> CubeLossWeight for lw::Composed<M, D> {
    fn weight<F: Float>(l: F, state: &[F]) -> F {
        M::product::<F>(l, state) / D::product::<F>(l, state)
    }
}
impl<M: ProductState, D: ProductState> DeviceState for lw::Composed<M, D> {
    fn write_state(&self, _out: &mut Vec<f64>) -> Result<(), KernelError> {
        self.mul.check()?;
        self.div.check()
    }
}

impl<L, Lo: Const, Hi: Const> LossWeightConsts for lw::Clamped<L, Lo, Hi> {
    const CLAMP: [f64; 2] = [Lo::F64, Hi::F64];
}
#[cube]
impl<L: CubeLossWeight, Lo: Const, Hi: Const> CubeLossWeight for lw::Clamped<L, Lo, Hi> {
    fn weight<F: Float>(l: F, state: &[F]) -> F {
        L::weight::<F>(l, state)
    }
}
impl<L: DeviceState, Lo: Const, Hi: Const> DeviceState for lw::Clamped<L, Lo, Hi> {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        self.inner.write_state(out)
    }
}

impl<Lo: Const, Hi: Const, B: Count, WLo: Const, WHi: Const> LossWeightConsts
    for lw::Adaptive<Lo, Hi, B, WLo, WHi>
{
}
#[cube]
impl<Lo: Const, Hi: Const, B: Count, WLo: Const, WHi: Const> CubeLossWeight
    for lw::Adaptive<Lo, Hi, B, WLo, WHi>
{
    fn weight<F: Float>(l: F, state: &[F]) -> F {
        let n = u32::cast_from(state[0]);
        // i = #{edges < l} (edges increasing): binary search.
        let mut lo = 0u32;
        let mut hi = n;
        while lo < hi {
            let mid = (lo + hi) / 2;
            if state[(1 + mid) as usize] < l {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let loss = state[(1 + n + lo) as usize];
        clamp::<F>(
            F::new(1.0) / loss,
            konst::<F>(comptime!(WLo::F64)),
            konst::<F>(comptime!(WHi::F64)),
        )
    }
}
impl<Lo: Const, Hi: Const, B: Count, WLo: Const, WHi: Const> DeviceState
    for lw::Adaptive<Lo, Hi, B, WLo, WHi>
{
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        let edges = self.bucket_ranges();
        out.push(edges.len() as f64);
        out.extend_from_slice(edges);
        out.extend_from_slice(self.bucket_losses());
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Samplers.

/// Type-level settings of a sampler (as [`Sampler::uses_noise`](crate::sampler::Sampler::uses_noise)
/// and [`Sampler::uses_eps`](crate::sampler::Sampler::uses_eps)).
pub trait SamplerConsts {
    /// Whether the step draws noise.
    const USES_NOISE: bool;
    /// Whether the step reads ε.
    const USES_EPS: bool = true;
}

/// The `#[cube]` form of a [`Sampler`](crate::sampler::Sampler): the step coefficients.
#[cube]
pub trait CubeSampler: SamplerConsts + Send + Sync + 'static {
    /// `(c_x0, c_ε, c_n)` for `x ← c_x0·x0 + c_ε·ε + c_n·n`.
    fn coefficients<F: Float>(a: F, b: F, a_prev: F, b_prev: F) -> (F, F, F);
}

/// One element of a sampler step (as [`Sampler::apply`](crate::sampler::Sampler::apply)).
#[cube]
pub fn sampler_apply<F: Float, S: CubeSampler>(c: (F, F, F), x0: F, eps: F, n: F) -> F {
    let (c0, c1, c2) = c;
    let mut x = c0 * x0;
    if comptime!(S::USES_EPS) {
        x += c1 * eps;
    }
    if comptime!(S::USES_NOISE) {
        x += c2 * n;
    }
    x
}

/// The DDIM coefficients (as [`ddim_coefficients`](crate::sampler::ddim_coefficients)) with
/// a type-level `eta`.
#[cube]
pub fn ddim_coefficients<F: Float>(
    a: F,
    b: F,
    a_prev: F,
    b_prev: F,
    #[comptime] eta: f64,
) -> (F, F, F) {
    let mut s = F::new(0.0);
    if comptime!(eta > 0.0) {
        s = konst::<F>(eta)
            * F::sqrt(b_prev * b_prev / (b * b))
            * F::sqrt(F::new(1.0) - a * a / (a_prev * a_prev));
    }
    (a_prev, F::sqrt(b_prev * b_prev - s * s), s)
}

impl<Eta: Const> SamplerConsts for sm::Ddim<Eta> {
    const USES_NOISE: bool = Eta::F64 > 0.0;
}
#[cube]
impl<Eta: Const> CubeSampler for sm::Ddim<Eta> {
    fn coefficients<F: Float>(a: F, b: F, a_prev: F, b_prev: F) -> (F, F, F) {
        ddim_coefficients::<F>(a, b, a_prev, b_prev, comptime!(Eta::F64))
    }
}

impl SamplerConsts for sm::Ddpm {
    const USES_NOISE: bool = true;
}
#[cube]
impl CubeSampler for sm::Ddpm {
    fn coefficients<F: Float>(a: F, b: F, a_prev: F, b_prev: F) -> (F, F, F) {
        ddim_coefficients::<F>(a, b, a_prev, b_prev, 1.0)
    }
}

impl SamplerConsts for sm::Lcm {
    const USES_NOISE: bool = true;
    const USES_EPS: bool = false;
}
#[cube]
impl CubeSampler for sm::Lcm {
    fn coefficients<F: Float>(_a: F, _b: F, a_prev: F, b_prev: F) -> (F, F, F) {
        (a_prev, F::new(0.0), b_prev)
    }
}
