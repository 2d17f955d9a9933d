//! The device state layouts of the components.
//!
//! The `#[cube]` form of each component lives beside its host form, in the component's own
//! file (`src/schedule/cosine2.rs`, …), both calling the one `#[formulas]` source; this module
//! only lays out the run-time state the kernels read.
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

use super::KernelError;
use crate::konst::{Const, Count, Flag};
use crate::loss_weight as lw;
use crate::noise_cond as nc;
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

pub use crate::schedule::{schedule_logsnr, CubeSchedule, ScheduleConsts};

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
        crate::interp::write_table_state(self.table(), out);
        Ok(())
    }
}
impl<B0: Const, B1: Const, N: Count> DeviceState for sch::StableDiffusion<B0, B1, N> {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        crate::interp::write_table_state(&self.table(), out);
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

no_state!([] scl::Vp, [] scl::Lerp);
impl<S: DeviceState> DeviceState for scl::Stretched<S> {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        out.extend_from_slice(&self.limits);
        self.inner.write_state(out)
    }
}

// ---------------------------------------------------------------------------------------
// Targets.

no_state!(
    [] tg::Epsilon,
    [] tg::X0,
    [] tg::V,
    [] tg::NegV,
    [] tg::RectifiedFlows,
    [] tg::NegRectifiedFlows,
    [E: Const] tg::Consistency<E>,
);

// ---------------------------------------------------------------------------------------
// Noise conds.

no_state!(
    [S: Const] nc::CosineT<S>,
    [] nc::Edm,
    [] nc::Sigmoid,
    [] nc::LogSnr,
    [] nc::RectifiedFlows,
    [Sd: Const] nc::EdmSigma<Sd>,
    [S: Const] nc::FlowSigma<S>,
    [S: Const] nc::LogSigma<S>,
    [S: Const] nc::FlowAlpha<S>,
);
impl DeviceState for nc::PiecewiseLinear {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        crate::interp::write_table_state(self.table(), out);
        Ok(())
    }
}
impl DeviceState for nc::TableTimestep {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        if !self.increasing() {
            return Err(KernelError::HostOnly {
                component: "TableTimestep over a table whose last ln σ is out of order \
                            (zero-terminal-SNR linear betas): the kernel searches an \
                            increasing table",
            });
        }
        crate::noise_cond::table_timestep::write_state(self, out);
        Ok(())
    }
}
impl<B0: Const, B1: Const, N: Count> DeviceState for nc::StableDiffusion<B0, B1, N> {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        crate::interp::write_table_state(&self.table(), out);
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

pub use crate::loss_weight::{loss_weight, CubeLossWeight, LossWeightConsts};

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

/// Host side of a [`CubeWeightProduct`](crate::loss_weight::composed::CubeWeightProduct): refuses parts that carry state.
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

impl<M: ProductState, D: ProductState> DeviceState for lw::Composed<M, D> {
    fn write_state(&self, _out: &mut Vec<f64>) -> Result<(), KernelError> {
        self.mul.check()?;
        self.div.check()
    }
}

impl<L: DeviceState, Lo: Const, Hi: Const> DeviceState for lw::Clamped<L, Lo, Hi> {
    fn write_state(&self, out: &mut Vec<f64>) -> Result<(), KernelError> {
        self.inner.write_state(out)
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

no_state!(
    [T: lw::weighting::WeightTarget, Sd: Const] lw::EdmWeight<T, Sd>,
    [T: lw::weighting::WeightTarget, Sd: Const] lw::SoftMinSnr<T, Sd>,
    [T: lw::weighting::WeightTarget, G: Const] lw::MinSnrGamma<T, G>,
    [] lw::SigmaSqrt,
    [] lw::CosMapWeight,
);

no_state!(
    [S: Const] crate::density::ModeSampling<S>,
    [M: Const, S: Const] crate::density::LogitNormal<M, S>,
    [M: Const, S: Const] crate::density::EdmLogNormal<M, S>,
);
