//! Noise conditioning: `λ ↦ c`, the model's time input (SPEC §4).
//!
//! The provided [`NoiseCond::noise_cond`] applies the shared wrapper: `λ ← λ + 2·ln shift`
//! when the shift is not 1 (the opposite sign to a schedule's shift), then the component's
//! formula, then the clamp into its `clamp_range` (default `[−1e9, 1e9]`).
//!
//! ```
//! use gdf::prelude::*;
//! use gdf::schedule::Cosine;
//! // CosineT inverts the Cosine schedule (inside its clamp range):
//! let l: f64 = <Cosine>::new().logsnr(0.3, 1.0).unwrap();
//! assert!((<noise_cond::CosineT>::new().noise_cond(l) - 0.3).abs() < 1e-9);
//! ```

use core::fmt;
use core::marker::PhantomData;
use std::sync::Arc;

use crate::component::{zst, LogSnrFn};
use crate::error::{check_len, Result};
use crate::float::{clamp, sigmoid, Real};
use crate::konst::{lit, Big, Const, Count, Dec, NegBig, One, Zero};
use crate::schedule::{sd_table, write_with, Table};
use typenum::{N3, P8, U1000};

/// A noise conditioning: maps logSNR to the value the model is given as its time input.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a noise conditioning",
    label = "expected a noise cond (logSNR → model time input) here",
    note = "noise conds are CosineT, Edm, Sigmoid, LogSnr, EdmSigma, RectifiedFlows, PiecewiseLinear, StableDiffusion, Discrete, or your own type implementing `gdf::noise_cond::NoiseCond`"
)]
pub trait NoiseCond: LogSnrFn {
    /// The raw formula, before shift and clamp.
    fn cond<F: Real>(&self, l: F) -> F;
    /// The shift (λ moves by `+2·ln shift`). Default 1.
    fn shift(&self) -> f64 {
        1.0
    }
    /// The output clamp. Default `[−1e9, 1e9]`.
    fn clamp_range(&self) -> [f64; 2] {
        [-1e9, 1e9]
    }
    /// The noise cond at `l` with the wrapper (shift, formula, clamp).
    #[inline(always)]
    fn noise_cond<F: Real>(&self, l: F) -> F {
        let k = self.shift();
        let l = if k != 1.0 {
            l + F::of(2.0) * F::of(k).ln()
        } else {
            l
        };
        let [lo, hi] = self.clamp_range();
        clamp(self.cond(l), F::of(lo), F::of(hi))
    }
    /// [`noise_cond`](NoiseCond::noise_cond) over a batch. Errors when the lengths differ.
    fn noise_cond_into<F: Real>(&self, l: &[F], out: &mut [F]) -> Result<()> {
        check_len("out", l.len(), out.len())?;
        for (o, &l) in out.iter_mut().zip(l) {
            *o = self.noise_cond(l);
        }
        Ok(())
    }
}

/// The CosineT formula: the inverse of the Cosine schedule with offset `s`, in a form that
/// stays accurate in f32 (`acos(√(v·m))` as an `atan2` with `1 − v·m` computed without
/// cancellation).
#[inline(always)]
pub fn cosine_t<F: Real>(l: F, s: f64) -> F {
    let c0 = s / (1.0 + s) * core::f64::consts::FRAC_PI_2;
    let m = F::of(c0.cos().powi(2));
    let sin2 = F::of(c0.sin().powi(2));
    let v = clamp(sigmoid(l), F::zero(), F::one());
    let vm = v * m;
    let one_minus = sin2 + m * clamp(sigmoid(-l), F::zero(), F::one());
    let theta = one_minus.sqrt().atan2(vm.sqrt());
    let s = F::of(s);
    theta / F::FRAC_PI_2() * (F::one() + s) - s
}

zst!(
    /// The inverse of the Cosine schedule: `c = acos(√(σ(λ)·m))/(π/2)·(1+s) − s` with
    /// `m = cos(s/(1+s)·π/2)²`, clamped to `[0, 1]`. Default `s = 0.008`.
    ///
    /// The original ignores a `clamp_range` given to `CosineTNoiseCond` and always clamps to
    /// `[0, 1]`; so does this type (wrap it in [`Clamped`] for another range).
    CosineT<S: Const = Dec<P8, N3>>
);

impl<S: Const> LogSnrFn for CosineT<S> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "CosineT(s = {})", lit(S::F64))
    }
}

impl<S: Const> NoiseCond for CosineT<S> {
    #[inline(always)]
    fn cond<F: Real>(&self, l: F) -> F {
        cosine_t(l, S::F64)
    }
    fn clamp_range(&self) -> [f64; 2] {
        [0.0, 1.0]
    }
}

macro_rules! simple_cond {
    ($(#[$m:meta])* $ty:ident, $name:literal, |$l:ident| $e:expr) => {
        zst!($(#[$m])* $ty);
        impl LogSnrFn for $ty {
            fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
                out.write_str($name)
            }
        }
        impl NoiseCond for $ty {
            #[inline(always)]
            fn cond<F: Real>(&self, $l: F) -> F {
                $e
            }
        }
    };
}

simple_cond!(
    /// EDM's `c_noise`: `−λ/8` (= ln σ / 4).
    Edm, "Edm", |l| -l / F::of(8.0)
);
simple_cond!(
    /// `σ(−λ)`: the noise variance under VP.
    Sigmoid, "Sigmoid", |l| sigmoid(-l)
);
simple_cond!(
    /// λ itself.
    LogSnr, "LogSnr", |l| l
);
simple_cond!(
    /// `a` of the Lerp scaler: `σ(λ/2)` (stable form; the original's gives 0.500125 at λ = 0).
    RectifiedFlows, "RectifiedFlows", |l| sigmoid(l * F::of(0.5))
);

zst!(
    /// EDM's σ: `e^(−λ/2)·sigma_data`. Default `sigma_data = 1`.
    EdmSigma<Sd: Const = One>
);

impl<Sd: Const> LogSnrFn for EdmSigma<Sd> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "EdmSigma(sigma_data = {})", lit(Sd::F64))
    }
}

impl<Sd: Const> NoiseCond for EdmSigma<Sd> {
    #[inline(always)]
    fn cond<F: Real>(&self, l: F) -> F {
        edm_sigma(l, Sd::F64)
    }
}

/// The EdmSigma formula: `e^(−λ/2)·sigma_data`.
#[inline(always)]
pub fn edm_sigma<F: Real>(l: F, sigma_data: f64) -> F {
    (-l * F::of(0.5)).exp() * F::of(sigma_data)
}

/// The StableDiffusion formula over its table: the table's noise cond clamped to `[0, 1]`.
pub fn stable_diffusion_cond<F: Real>(table: &Table, l: F) -> F {
    clamp(table.cond(l), F::zero(), F::one())
}

/// The `t` whose table variance is `σ(λ)`, by inverse linear interpolation.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PiecewiseLinear {
    table: Table,
}

impl PiecewiseLinear {
    /// The inverse of a piecewise variance table (see [`Table::new`]; `ys` decreasing).
    pub fn new(table: Table) -> Self {
        Self { table }
    }
    /// The table.
    pub fn table(&self) -> &Table {
        &self.table
    }
}

impl LogSnrFn for PiecewiseLinear {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(
            out,
            "PiecewiseLinear(xs = {:?}, ys = {:?})",
            self.table.xs(),
            self.table.ys()
        )
    }
}

impl NoiseCond for PiecewiseLinear {
    fn cond<F: Real>(&self, l: F) -> F {
        self.table.cond(l)
    }
}

zst!(
    /// The inverse of the [`StableDiffusion`](crate::schedule::StableDiffusion) schedule's
    /// table, clamped to `[0, 1]`. Defaults as the schedule.
    StableDiffusion<B0: Const = Dec<typenum::P85, typenum::N5>, B1: Const = Dec<typenum::P12, N3>, Steps: Count = U1000>
);

impl<B0: Const, B1: Const, N: Count> StableDiffusion<B0, B1, N> {
    /// The (cached) table.
    pub fn table(&self) -> Arc<Table> {
        sd_table([B0::F64, B1::F64], N::U64)
    }
}

impl<B0: Const, B1: Const, N: Count> LogSnrFn for StableDiffusion<B0, B1, N> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        crate::schedule::write_sd(out, [B0::F64, B1::F64], N::U64)
    }
}

impl<B0: Const, B1: Const, N: Count> NoiseCond for StableDiffusion<B0, B1, N> {
    fn cond<F: Real>(&self, l: F) -> F {
        stable_diffusion_cond(&self.table(), l)
    }
}

/// The Discrete formula: `trunc((c − lo)/(hi − lo)·steps)` (toward zero).
#[inline(always)]
pub fn discretize<F: Real>(c: F, steps: u64, range: [f64; 2]) -> F {
    let (lo, hi) = (F::of(range[0]), F::of(range[1]));
    ((c - lo) / (hi - lo) * F::of(steps as f64)).trunc()
}

/// An integer time input: `trunc((inner(λ) − lo)/(hi − lo)·steps)`, where `inner` applies
/// its own shift and clamp first. Values outside `continuous_range` are not clamped unless
/// wrapped in [`Clamped`]. Defaults: `steps = 1000`, `continuous_range = [0, 1]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Discrete<N, Steps: Count = U1000, Lo: Const = Zero, Hi: Const = One> {
    /// The continuous noise cond being discretised.
    pub inner: N,
    _p: PhantomData<(Steps, Lo, Hi)>,
}

impl<N: NoiseCond, Steps: Count, Lo: Const, Hi: Const> Discrete<N, Steps, Lo, Hi> {
    /// Discretises `inner`.
    pub fn new(inner: N) -> Self {
        Self {
            inner,
            _p: PhantomData,
        }
    }
}

impl<N: NoiseCond, Steps: Count, Lo: Const, Hi: Const> LogSnrFn for Discrete<N, Steps, Lo, Hi> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("Discrete(")?;
        self.inner.write_decl(out)?;
        write!(
            out,
            ", steps = {}, continuous_range = [{}, {}])",
            Steps::U64,
            lit(Lo::F64),
            lit(Hi::F64)
        )
    }
}

impl<N: NoiseCond, Steps: Count, Lo: Const, Hi: Const> NoiseCond for Discrete<N, Steps, Lo, Hi> {
    #[inline(always)]
    fn cond<F: Real>(&self, l: F) -> F {
        discretize(self.inner.noise_cond(l), Steps::U64, [Lo::F64, Hi::F64])
    }
}

/// A noise cond with a shift `K` (λ moves by `+2·ln K` before the formula).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Shifted<N, K: Const> {
    /// The shifted noise cond.
    pub inner: N,
    _k: PhantomData<K>,
}

/// A noise cond clamped to `[Lo, Hi]` instead of its default range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Clamped<N, Lo: Const = NegBig, Hi: Const = Big> {
    /// The clamped noise cond.
    pub inner: N,
    _r: PhantomData<(Lo, Hi)>,
}

impl<N: NoiseCond, K: Const> Shifted<N, K> {
    /// Wraps `inner`.
    pub fn new(inner: N) -> Self {
        Self {
            inner,
            _k: PhantomData,
        }
    }
}
impl<N: NoiseCond, Lo: Const, Hi: Const> Clamped<N, Lo, Hi> {
    /// Wraps `inner`.
    pub fn new(inner: N) -> Self {
        Self {
            inner,
            _r: PhantomData,
        }
    }
}

impl<N: NoiseCond, K: Const> LogSnrFn for Shifted<N, K> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write_with(
            out,
            &|o| self.inner.write_decl(o),
            &format!("shift = {}", lit(K::F64)),
        )
    }
}
impl<N: NoiseCond, K: Const> NoiseCond for Shifted<N, K> {
    #[inline(always)]
    fn cond<F: Real>(&self, l: F) -> F {
        self.inner.cond(l)
    }
    fn shift(&self) -> f64 {
        self.inner.shift() * K::F64
    }
    fn clamp_range(&self) -> [f64; 2] {
        self.inner.clamp_range()
    }
}

impl<N: NoiseCond, Lo: Const, Hi: Const> LogSnrFn for Clamped<N, Lo, Hi> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let extra = format!("clamp_range = [{}, {}]", lit(Lo::F64), lit(Hi::F64));
        write_with(out, &|o| self.inner.write_decl(o), &extra)
    }
}
impl<N: NoiseCond, Lo: Const, Hi: Const> NoiseCond for Clamped<N, Lo, Hi> {
    #[inline(always)]
    fn cond<F: Real>(&self, l: F) -> F {
        self.inner.cond(l)
    }
    fn shift(&self) -> f64 {
        self.inner.shift()
    }
    fn clamp_range(&self) -> [f64; 2] {
        [Lo::F64, Hi::F64]
    }
}
