//! Zero terminal SNR (Lin et al. 2023, Alg. 1) as a schedule wrapper (SPEC-solvers §6.3).
//!
//! With `a(λ) = √sigmoid(λ)`, `a_0 = a(λ(t=0))` and `a_T = a(λ(t=1))`:
//! `a' = (a − a_T)·a_0/(a_0 − a_T)` and `λ' = ln(a'²/(1 − a'²))`, so `λ'(0) = λ(0)` and
//! `λ'(1) = −∞`. It is an affine map on `a`, **not** a λ shift. For diffusers' discrete β
//! tables the same rescale is [`DiscreteTable`](super::table::DiscreteTable)'s
//! `rescale_betas_zero_snr`.
//!
//! ```
//! use gdf::prelude::*;
//! use gdf::grid::ztsnr::ZeroTerminalSnr;
//! let s = ZeroTerminalSnr::new(<schedule::Cosine>::new());
//! let end: f64 = s.f(1.0);
//! assert_eq!(end, f64::NEG_INFINITY);
//! let start: f64 = s.f(0.0);
//! assert!((start - <schedule::Cosine>::new().f(0.0f64)).abs() < 1e-9);
//! ```

use core::fmt;

use rand::RngCore;

use crate::component::LogSnrFn;
use crate::float::{sigmoid, Real};
use crate::schedule::Schedule;

/// A schedule rescaled to zero terminal SNR (see the [module docs](self)). Sampling only
/// when `inner` is; its training draw is `inner`'s `t` through the rescaled formula.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ZeroTerminalSnr<S> {
    /// The schedule before the rescale.
    pub inner: S,
}

impl<S: Schedule> ZeroTerminalSnr<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

/// The rescale of one λ given the ends `a_0 = a(λ(0))`, `a_T = a(λ(1))` (f64 where it
/// matters): `λ' = ln(a'²/(1−a'²))`, `a' = (√sigmoid(λ) − a_T)·a_0/(a_0 − a_T)`.
///
/// ```
/// let l = gdf::grid::ztsnr::zero_terminal_snr_logsnr(-3.0f64, 0.9, (1.0f64 / (1.0 + 3f64.exp())).sqrt());
/// assert_eq!(l, f64::NEG_INFINITY);
/// ```
pub fn zero_terminal_snr_logsnr<F: Real>(l: F, a0: f64, at: f64) -> F {
    let a = sigmoid(l).sqrt();
    let a2 = (a - F::of(at)) * F::of(a0 / (a0 - at));
    let v = a2 * a2;
    (v / (F::one() - v)).ln()
}

impl<S: Schedule> LogSnrFn for ZeroTerminalSnr<S> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("ZeroTerminalSnr(")?;
        self.inner.write_decl(out)?;
        out.write_str(")")
    }
}

impl<S: Schedule> Schedule for ZeroTerminalSnr<S> {
    fn name(&self) -> &'static str {
        "ZeroTerminalSnr"
    }
    fn accepts_t(&self) -> bool {
        self.inner.accepts_t()
    }
    fn f<F: Real>(&self, t: F) -> F {
        let a0 = sigmoid(self.inner.f(0.0f64)).sqrt();
        let at = sigmoid(self.inner.f(1.0f64)).sqrt();
        if t >= F::one() {
            return F::neg_infinity();
        }
        zero_terminal_snr_logsnr(self.inner.f(t), a0, at)
    }
    fn own_shift(&self) -> f64 {
        self.inner.own_shift()
    }
    fn discrete_steps(&self) -> Option<u64> {
        self.inner.discrete_steps()
    }
    fn force_limits(&self) -> bool {
        self.inner.force_limits()
    }
    fn draw_t(&self, rng: &mut dyn RngCore) -> f64 {
        self.inner.draw_t(rng)
    }
}
