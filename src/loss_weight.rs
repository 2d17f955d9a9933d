//! Loss weights: `λ ↦ w` (SPEC §5).
//!
//! The provided [`LossWeight::loss_weight`] applies the call-time wrapper: `λ ← λ + 2·ln shift`
//! when `shift ≠ 1` (the framework's `loss_shift`), the formula, then the clamp into the
//! component's `clamp_range` (default `[−1e9, 1e9]`; wrap in [`Clamped`] to change it).
//!
//! ```
//! use gdf::prelude::*;
//! let w: f64 = <loss_weight::P2>::new().loss_weight(0.0, 1.0);
//! assert_eq!(w, 0.5); // (1 + e^0)^-1
//! ```

use core::fmt;
use core::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::component::{zst, LogSnrFn};
use crate::error::{check_len, Result};
use crate::float::linspace;
use crate::float::{clamp, sigmoid, Real};
use crate::konst::{lit, Big, Const, Count, Dec, NegBig, One};
use crate::schedule::{update_buckets, write_with};
use typenum::{N1, N7, P1, P5, P7, U300};

/// A loss weight: maps logSNR to the weight of each sample's loss.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a loss weight",
    label = "expected a loss weight (logSNR → weight) here",
    note = "loss weights are Constant, Snr, P2, SnrPlusOne, MinSnr, MinSnrPlusOne, TruncatedSnr, Sech, Debiased, Sigmoid, Composed, Adaptive, or your own type implementing `gdf::loss_weight::LossWeight`"
)]
pub trait LossWeight: LogSnrFn {
    /// The raw formula.
    fn weight<F: Real>(&self, l: F) -> F;
    /// The output clamp. Default `[−1e9, 1e9]`.
    fn clamp_range(&self) -> [f64; 2] {
        [-1e9, 1e9]
    }
    /// The weight at `l` with the call's `shift` (λ moves by `+2·ln shift`) and the clamp.
    #[inline(always)]
    fn loss_weight<F: Real>(&self, l: F, shift: F) -> F {
        let l = if shift != F::one() {
            l + F::of(2.0) * shift.ln()
        } else {
            l
        };
        let [lo, hi] = self.clamp_range();
        clamp(self.weight(l), F::of(lo), F::of(hi))
    }
    /// [`loss_weight`](LossWeight::loss_weight) over a batch. Errors when the lengths
    /// differ or `shift` is not a positive finite number.
    fn loss_weight_into<F: Real>(&self, l: &[F], shift: F, out: &mut [F]) -> Result<()> {
        check_len("out", l.len(), out.len())?;
        crate::schedule::check_shift(shift)?;
        for (o, &l) in out.iter_mut().zip(l) {
            *o = self.loss_weight(l, shift);
        }
        Ok(())
    }
}

macro_rules! weight {
    ($(#[$m:meta])* $ty:ident, $name:literal, |$l:ident| $e:expr) => {
        zst!($(#[$m])* $ty);
        impl LogSnrFn for $ty {
            fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
                out.write_str($name)
            }
        }
        impl LossWeight for $ty {
            #[inline(always)]
            fn weight<F: Real>(&self, $l: F) -> F {
                $e
            }
        }
    };
    ($(#[$m:meta])* $ty:ident / $fname:ident < $($p:ident = $def:ty : $pn:literal),* >, $name:literal, |$l:ident| $e:expr) => {
        zst!($(#[$m])* $ty<$($p: Const = $def),*>);
        #[doc = concat!("The ", $name, " formula with runtime parameters (in declaration order).")]
        #[inline(always)]
        #[allow(non_snake_case)]
        pub fn $fname<F: Real>($l: F, $($p: F),*) -> F {
            $e
        }
        impl<$($p: Const),*> LogSnrFn for $ty<$($p),*> {
            fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
                let parts: Vec<String> = vec![$(format!("{} = {}", $pn, lit($p::F64))),*];
                write!(out, "{}({})", $name, parts.join(", "))
            }
        }
        impl<$($p: Const),*> LossWeight for $ty<$($p),*> {
            #[inline(always)]
            fn weight<F: Real>(&self, $l: F) -> F {
                $fname($l, $(F::of($p::F64)),*)
            }
        }
    };
}

weight!(
    /// A constant weight `v` (default 1).
    Constant / constant<V = One : "v">, "Constant", |_l| V
);
weight!(
    /// The SNR: `e^λ`.
    Snr, "Snr", |l| l.exp()
);
weight!(
    /// P2 weighting: `(k + e^(λ·s))^(−gamma)`. Defaults `k = 1, gamma = 1, s = 1`.
    P2 / p2<K = One : "k", G = One : "gamma", S = One : "s">, "P2", |l| (K + (l * S).exp()).powf(-G)
);
weight!(
    /// `e^λ + 1`.
    SnrPlusOne, "SnrPlusOne", |l| l.exp() + F::one()
);
weight!(
    /// Min-SNR: `min(e^λ, max_snr)`. Default `max_snr = 5`.
    MinSnr / min_snr<M = Dec<P5, typenum::Z0> : "max_snr">, "MinSnr", |l| clamp(l.exp(), F::neg_infinity(), M)
);
weight!(
    /// `min(e^λ + 1, max_snr)`. Default `max_snr = 5`.
    MinSnrPlusOne / min_snr_plus_one<M = Dec<P5, typenum::Z0> : "max_snr">, "MinSnrPlusOne", |l| clamp(l.exp() + F::one(), F::neg_infinity(), M)
);
weight!(
    /// Truncated SNR: `max(e^λ, min_snr)`. Default `min_snr = 1`.
    TruncatedSnr / truncated_snr<M = One : "min_snr">, "TruncatedSnr", |l| clamp(l.exp(), M, F::infinity())
);
weight!(
    /// `1/cosh(λ/div)`. Default `div = 2`.
    Sech / sech<D = Dec<typenum::P2, typenum::Z0> : "div">, "Sech", |l| F::one() / (l / D).cosh()
);
weight!(
    /// Debiased: `1/sqrt(e^λ)`, computed as `e^(−λ/2)`.
    Debiased, "Debiased", |l| (-l * F::of(0.5)).exp()
);
weight!(
    /// `σ(λ·s)`. Default `s = 1`.
    Sigmoid / sigmoid_weight<S = One : "s">, "Sigmoid", |l| sigmoid(l * S)
);

/// A product of loss weights' raw formulas, for [`Composed`]: `()` (empty product = 1) and
/// tuples of up to four loss weights.
pub trait WeightProduct: Clone + fmt::Debug + Send + Sync + 'static {
    /// `Π wᵢ(λ)`.
    fn product<F: Real>(&self, l: F) -> F;
    /// Writes `[a, b, …]`.
    fn write_list(&self, out: &mut dyn fmt::Write) -> fmt::Result;
}

macro_rules! product_tuple {
    ($($n:ident . $i:tt),*) => {
        impl<$($n: LossWeight),*> WeightProduct for ($($n,)*) {
            #[allow(unused_variables)]
            #[inline(always)]
            fn product<F: Real>(&self, l: F) -> F {
                F::one() $(* self.$i.weight(l))*
            }
            #[allow(unused_mut)]
            fn write_list(&self, out: &mut dyn fmt::Write) -> fmt::Result {
                out.write_str("[")?;
                let mut first = true;
                $(
                    if !first { out.write_str(", ")?; }
                    first = false;
                    self.$i.write_decl(out)?;
                )*
                let _ = first;
                out.write_str("]")
            }
        }
    };
}
product_tuple!();
product_tuple!(A.0);
product_tuple!(A.0, B.1);
product_tuple!(A.0, B.1, C.2);
product_tuple!(A.0, B.1, C.2, D.3);

/// `Π mul_i(λ) / Π div_j(λ)` over the parts' raw formulas (no per-part wrapper), as the
/// original's `ComposedLossWeight`. `Mul` and `Div` are tuples of loss weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Composed<Mul, Div> {
    /// The numerator's factors.
    pub mul: Mul,
    /// The denominator's factors.
    pub div: Div,
}

impl<Mul: WeightProduct, Div: WeightProduct> LogSnrFn for Composed<Mul, Div> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("Composed(mul = ")?;
        self.mul.write_list(out)?;
        out.write_str(", div = ")?;
        self.div.write_list(out)?;
        out.write_str(")")
    }
}

impl<Mul: WeightProduct, Div: WeightProduct> LossWeight for Composed<Mul, Div> {
    #[inline(always)]
    fn weight<F: Real>(&self, l: F) -> F {
        self.mul.product(l) / self.div.product(l)
    }
}

/// A loss weight clamped to `[Lo, Hi]` instead of `[−1e9, 1e9]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Clamped<L, Lo: Const = NegBig, Hi: Const = Big> {
    /// The clamped loss weight.
    pub inner: L,
    _r: PhantomData<(Lo, Hi)>,
}

impl<L: LossWeight, Lo: Const, Hi: Const> Clamped<L, Lo, Hi> {
    /// Wraps `inner`.
    pub fn new(inner: L) -> Self {
        Self {
            inner,
            _r: PhantomData,
        }
    }
}

impl<L: LossWeight, Lo: Const, Hi: Const> LogSnrFn for Clamped<L, Lo, Hi> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let extra = format!("clamp_range = [{}, {}]", lit(Lo::F64), lit(Hi::F64));
        write_with(out, &|o| self.inner.write_decl(o), &extra)
    }
}

impl<L: LossWeight, Lo: Const, Hi: Const> LossWeight for Clamped<L, Lo, Hi> {
    #[inline(always)]
    fn weight<F: Real>(&self, l: F) -> F {
        self.inner.weight(l)
    }
    fn clamp_range(&self) -> [f64; 2] {
        [Lo::F64, Hi::F64]
    }
}

/// The saved state of an [`Adaptive`] loss weight (serde), for checkpoint and resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveState {
    /// The running mean loss of each bucket (start at 1).
    pub bucket_losses: Vec<f64>,
}

/// Weights each sample by the inverse of its logSNR bucket's running mean loss (the
/// original's `AdaptiveLossWeight`): `edges = linspace(lo, hi, buckets − 1)`,
/// `i = #{edges < λ}`, `w = clamp(1/L_i, weight_range)`.
/// Defaults: `logsnr_range = [−10, 10]`, `buckets = 300`, `weight_range = [1e-7, 1e7]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Adaptive<
    Lo: Const = Dec<N1, P1>,
    Hi: Const = Dec<P1, P1>,
    B: Count = U300,
    WLo: Const = Dec<P1, N7>,
    WHi: Const = Dec<P1, P7>,
> {
    state: AdaptiveState,
    edges: Vec<f64>,
    _p: PhantomData<(Lo, Hi, B, WLo, WHi)>,
}

impl<Lo: Const, Hi: Const, B: Count, WLo: Const, WHi: Const> Default
    for Adaptive<Lo, Hi, B, WLo, WHi>
{
    fn default() -> Self {
        let b = B::U64 as usize;
        Self {
            state: AdaptiveState {
                bucket_losses: vec![1.0; b],
            },
            edges: linspace(Lo::F64, Hi::F64, b.saturating_sub(1)),
            _p: PhantomData,
        }
    }
}

/// The Adaptive bucket of λ: the number of edges below it.
#[inline(always)]
pub(crate) fn adaptive_bucket(edges: &[f64], l: f64) -> usize {
    edges.partition_point(|&e| e < l)
}

impl<Lo: Const, Hi: Const, B: Count, WLo: Const, WHi: Const> Adaptive<Lo, Hi, B, WLo, WHi> {
    /// A fresh loss weight (every bucket loss 1).
    pub fn new() -> Self {
        Self::default()
    }
    /// The bucket edges (`buckets − 1` of them).
    pub fn bucket_ranges(&self) -> &[f64] {
        &self.edges
    }
    /// The running mean losses.
    pub fn bucket_losses(&self) -> &[f64] {
        &self.state.bucket_losses
    }
    /// `L_i ← β·L_i + (1−β)·loss` for each sample's bucket (no shift applied; duplicate
    /// buckets in one update: last write wins, as the original).
    ///
    /// Errors: lengths differ, β outside `[0, 1]`, non-finite λ or loss.
    pub fn update(&mut self, logsnr: &[f64], loss: &[f64], beta: f64) -> Result<()> {
        let edges = &self.edges;
        update_buckets(
            &mut self.state.bucket_losses,
            |l| adaptive_bucket(edges, l),
            logsnr,
            loss,
            beta,
        )
    }
    /// The state to save.
    pub fn state(&self) -> &AdaptiveState {
        &self.state
    }
    /// Restores saved state. Errors when the bucket count differs from this type's.
    pub fn restore(&mut self, state: AdaptiveState) -> Result<()> {
        check_len("bucket_losses", B::U64 as usize, state.bucket_losses.len())?;
        crate::error::check_finite("bucket_losses", &state.bucket_losses)?;
        self.state = state;
        Ok(())
    }
}

pub(crate) fn write_adaptive(
    out: &mut dyn fmt::Write,
    range: [f64; 2],
    buckets: usize,
    w: [f64; 2],
) -> fmt::Result {
    write!(
        out,
        "Adaptive(logsnr_range = [{}, {}], buckets = {buckets}, weight_range = [{}, {}])",
        lit(range[0]),
        lit(range[1]),
        lit(w[0]),
        lit(w[1])
    )
}

/// The Adaptive weight formula.
#[inline(always)]
pub(crate) fn adaptive_weight<F: Real>(edges: &[f64], losses: &[f64], l: F, w: [f64; 2]) -> F {
    let i = adaptive_bucket(edges, l.as_f64());
    clamp(F::one() / F::of(losses[i]), F::of(w[0]), F::of(w[1]))
}

impl<Lo: Const, Hi: Const, B: Count, WLo: Const, WHi: Const> LogSnrFn
    for Adaptive<Lo, Hi, B, WLo, WHi>
{
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write_adaptive(
            out,
            [Lo::F64, Hi::F64],
            B::U64 as usize,
            [WLo::F64, WHi::F64],
        )
    }
}

impl<Lo: Const, Hi: Const, B: Count, WLo: Const, WHi: Const> LossWeight
    for Adaptive<Lo, Hi, B, WLo, WHi>
{
    fn weight<F: Real>(&self, l: F) -> F {
        adaptive_weight(
            &self.edges,
            &self.state.bucket_losses,
            l,
            [WLo::F64, WHi::F64],
        )
    }
}
