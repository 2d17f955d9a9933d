//! Loss weights that modern trainers use, and the exact conversion of a loss weight between
//! targets (SPEC-solvers §7.2).
//!
//! **Conversion.** Every target here is linear in `(x0, ε)`, so given the noised
//! `x = a·x0 + b·ε` it is affine in `x0`: `F = c_x·x + c_0·x0`, and for a prediction `F̂` whose
//! implied x0 is `D̂`, `‖F̂ − F‖² = c_0²·‖D̂ − x0‖²`. [`target_scale`] is `c_0²` (exact for any
//! scaler; ε: `e^λ`, v on VP: `1 + e^λ`, RF velocity on LERP: `(1 + e^(λ/2))²`, x0: 1), and
//! [`convert_weight`] moves a weight from one target's MSE to another's:
//! `w_to = w_from·c_from²/c_to²`. The weights below are written once in x0 terms (`w_x0`)
//! and converted to their target `T` with this one function, at the target's natural scaler
//! ([`WeightTarget`]: VP for ε, x0 and v, LERP for the RF velocity).
//!
//! | weight | `w_x0(λ)` | as usually quoted |
//! |---|---|---|
//! | [`EdmWeight`] (σ_d = 0.5) | `e^λ + 1/σ_d²` | EDM's `(σ² + σ_d²)/(σ·σ_d)²` on D |
//! | [`SoftMinSnr`] (σ_d = 1) | `1/(e^(−λ) + σ_d²)` | k-diffusion `soft-min-snr`; σ_d = 1: `sigmoid(λ)` |
//! | [`MinSnrGamma`] (γ = 5) | `min(e^λ, γ)` | ε: `min(SNR, γ)/SNR`, v: `min(SNR, γ)/(SNR + 1)` |
//! | [`SigmaSqrt`] | — | SD3 `sigma_sqrt`: `t^−2` on the RF velocity MSE |
//! | [`CosMapWeight`] | — | SD3 `cosmap`: `2/(π(1 − 2t + 2t²))` on the RF velocity MSE |
//!
//! (`t = sigmoid(−λ/2)` is the RF noise level.)
//!
//! ```
//! use gdf::prelude::*;
//! use gdf::weighting::{EdmWeight, MinSnrGamma};
//! // EDM at σ = σ_data = 0.5 (λ = −2 ln 0.5): w = 8 on the x0 loss.
//! let w: f64 = <EdmWeight>::new().weight(-2.0 * 0.5f64.ln());
//! assert!((w - 8.0).abs() < 1e-12);
//! // Min-SNR-5 at SNR 10: 0.5 on the ε loss, 5/11 on the v loss.
//! let l = 10f64.ln();
//! assert!((MinSnrGamma::<target::Epsilon>::new().weight(l) - 0.5).abs() < 1e-12);
//! assert!((MinSnrGamma::<target::V>::new().weight(l) - 5.0 / 11.0).abs() < 1e-12);
//! ```

use core::fmt;

use crate::component::{zst, LogSnrFn};
use crate::float::Real;
use crate::konst::{lit, need, Const, Dec, One};
use crate::loss_weight::LossWeight;
use crate::scaler::{Lerp, Scaler, Vp};
use crate::target::{Consistency, Epsilon, NegRectifiedFlows, NegV, RectifiedFlows, Target, V, X0};
use typenum::{N1, P5, Z0};

/// `c_0²` of `target` at the level `(a, b)`: `‖F̂ − F‖² = c_0²·‖D̂ − x0‖²` for a target
/// linear in `(x0, ε)` (exact for any scaler). With `F = α·x0 + β·ε` and `ε = (x − a·x0)/b`,
/// `c_0 = α − β·a/b`.
///
/// ```
/// use gdf::prelude::*;
/// use gdf::weighting::target_scale;
/// let (a, b) = scaler::Vp.ab(1.5f64);
/// assert!((target_scale(&target::Epsilon, a, b) - 1.5f64.exp()).abs() < 1e-12);
/// assert!((target_scale(&target::V, a, b) - (1.0 + 1.5f64.exp())).abs() < 1e-12);
/// assert_eq!(target_scale(&target::X0, a, b), 1.0);
/// ```
#[inline]
pub fn target_scale<T: Target, F: Real>(target: &T, a: F, b: F) -> F {
    let alpha = target.target(F::one(), F::zero(), a, b);
    let beta = target.target(F::zero(), F::one(), a, b);
    formula::target_scale(alpha, beta, a, b)
}

/// The formulas of these weights (host, and `cube` on the device), in x0 terms, and the target
/// conversion's `c_0²`.
#[crate::formulas]
pub mod formula {
    /// `c_0² = (α − β·a/b)²` (`α²` when `β = 0`) for the target `F = α·x0 + β·ε`.
    pub fn target_scale<F: Float>(alpha: F, beta: F, a: F, b: F) -> F {
        let c = select(beta == F::new(0.0), alpha, alpha - beta * a / b);
        c * c
    }
    /// EDM on the x0 loss: `e^λ + 1/σ_d²`, given `inv_sd2 = 1/σ_d²`.
    pub fn edm_x0<F: Float>(l: F, inv_sd2: F) -> F {
        F::exp(l) + inv_sd2
    }
    /// Soft-min-SNR on the x0 loss: `1/(e^(−λ) + σ_d²)`, given `sd2 = σ_d²`.
    pub fn soft_min_snr_x0<F: Float>(l: F, sd2: F) -> F {
        F::new(1.0) / (F::exp(-l) + sd2)
    }
    /// λ clamped to ±80, inside `exp`'s range in f32 and f64, where the converted weights
    /// have reached their limits at λ = ±∞ to the format's precision (see [`past_exp`]).
    pub fn exp_range<F: Float>(l: F) -> F {
        clamp::<F>(l, F::new(-80.0), F::new(80.0))
    }
    /// A converted weight `w` at λ, or where that is NaN (`∞·0` or `∞/∞`: `e^λ` overflowed,
    /// at λ = ±∞ or past ±88 in f32, ±709 in f64) the same weight `w_end` at
    /// [`exp_range`]`(λ)`, its limit there (EDM on ε at +∞: 1). A NaN λ stays NaN.
    pub fn past_exp<F: Float>(w: F, w_end: F) -> F {
        select(is_nan::<F>(w), w_end, w)
    }
    /// Min-SNR-γ on the x0 loss: `min(e^λ, γ)`.
    pub fn min_snr_gamma_x0<F: Float>(l: F, gamma: F) -> F {
        let w = F::exp(l);
        select(w > gamma, gamma, w)
    }
    /// The RF noise level `t = sigmoid(−λ/2)` (the LERP scaler's `b`).
    pub fn rf_t<F: Float>(l: F) -> F {
        sigmoid::<F>(-l * F::new(0.5))
    }
    /// SD3 `sigma_sqrt`: `t^−2`.
    pub fn sigma_sqrt<F: Float>(l: F) -> F {
        let t = rf_t::<F>(l);
        F::new(1.0) / (t * t)
    }
    /// SD3 `cosmap`: `2/(π(1 − 2t + 2t²))`.
    pub fn cosmap<F: Float>(l: F) -> F {
        let t = rf_t::<F>(l);
        let bot = F::new(1.0) - F::new(2.0) * t + F::new(2.0) * t * t;
        F::new(2.0) / (konst::<F>(core::f64::consts::PI) * bot)
    }
}

/// Converts a weight on `from`'s MSE into the weight on `to`'s MSE that gives the same loss,
/// at the level `(a, b)`: `w·c_from²/c_to²` (see [`target_scale`]).
///
/// ```
/// use gdf::prelude::*;
/// use gdf::weighting::convert_weight;
/// let (a, b) = scaler::Vp.ab(10f64.ln()); // SNR 10
/// // min-SNR-5 on x0 (weight 5) is 0.5 on ε.
/// let w = convert_weight(5.0, &target::X0, &target::Epsilon, a, b);
/// assert!((w - 0.5).abs() < 1e-12);
/// ```
#[inline]
pub fn convert_weight<F: Real, A: Target, B: Target>(w: F, from: &A, to: &B, a: F, b: F) -> F {
    w * target_scale(from, a, b) / target_scale(to, a, b)
}

/// A target a weight can be written for, with its natural scaler (the level `(a, b)` at
/// which [`convert_weight`] converts): VP for ε, x0 and v, LERP for the RF velocity.
pub trait WeightTarget: Target + Copy + Default + Eq + core::hash::Hash {
    /// `(a, b)` of λ under the target's natural scaler.
    fn level<F: Real>(l: F) -> (F, F);
}

impl WeightTarget for Epsilon {
    fn level<F: Real>(l: F) -> (F, F) {
        Vp.ab(l)
    }
}
impl WeightTarget for X0 {
    fn level<F: Real>(l: F) -> (F, F) {
        Vp.ab(l)
    }
}
impl WeightTarget for V {
    fn level<F: Real>(l: F) -> (F, F) {
        Vp.ab(l)
    }
}
impl WeightTarget for NegV {
    fn level<F: Real>(l: F) -> (F, F) {
        Vp.ab(l)
    }
}
impl<E: crate::konst::Const> WeightTarget for Consistency<E> {
    fn level<F: Real>(l: F) -> (F, F) {
        Vp.ab(l)
    }
}
impl WeightTarget for RectifiedFlows {
    fn level<F: Real>(l: F) -> (F, F) {
        Lerp.ab(l)
    }
}
impl WeightTarget for NegRectifiedFlows {
    fn level<F: Real>(l: F) -> (F, F) {
        Lerp.ab(l)
    }
}

/// `w_x0` converted to target `T`'s MSE at `T`'s natural scaler.
#[inline]
pub fn from_x0<T: WeightTarget, F: Real>(w_x0: F, l: F) -> F {
    let (a, b) = T::level(l);
    convert_weight(w_x0, &X0, &T::default(), a, b)
}

/// `weight(λ)`, taking its limit where `e^λ` overflows ([`formula::past_exp`]): the
/// converted weights are ratios of exponentials that are finite at λ = ±∞.
#[inline(always)]
pub(crate) fn beyond_exp<F: Real>(l: F, weight: impl Fn(F) -> F) -> F {
    formula::past_exp(weight(l), weight(formula::exp_range(l)))
}

zst!(
    /// EDM's loss weight with `σ_data`: `w_x0 = e^λ + 1/σ_d²` (`(σ² + σ_d²)/(σ·σ_d)²`),
    /// on target `T`'s MSE. On the ε loss this is `1 + e^(−λ)/σ_d²`. k-diffusion's
    /// `weighting = 'karras'` (weight 1 on its preconditioned target) is the same loss.
    /// Defaults: `T = X0`, `sigma_data = 0.5`.
    EdmWeight<T: WeightTarget = X0, Sd: Const = Dec<P5, N1>>
    check {
        assert!(
            need::positive(Sd::F64),
            "EdmWeight: `sigma_data` must be positive"
        );
    }
);

/// The EDM weight on the x0 loss: `e^λ + 1/σ_d²`.
#[inline(always)]
pub fn edm_weight_x0<F: Real>(l: F, sigma_data: f64) -> F {
    formula::edm_x0(l, F::of(1.0 / (sigma_data * sigma_data)))
}

impl<T: WeightTarget, Sd: Const> LogSnrFn for EdmWeight<T, Sd> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "EdmWeight(target = ")?;
        T::default().write_decl(out)?;
        write!(out, ", sigma_data = {})", lit(Sd::F64))
    }
}

impl<T: WeightTarget, Sd: Const> LossWeight for EdmWeight<T, Sd> {
    fn weight<F: Real>(&self, l: F) -> F {
        beyond_exp(l, |l| from_x0::<T, F>(edm_weight_x0(l, Sd::F64), l))
    }
}

zst!(
    /// k-diffusion's soft-min-SNR: `w_x0 = 1/(e^(−λ) + σ_d²)` (with σ_d = 1, `sigmoid(λ)`),
    /// on target `T`'s MSE (on ε: `1/(1 + σ_d²·e^λ)`). Defaults: `T = X0`, `sigma_data = 1`.
    SoftMinSnr<T: WeightTarget = X0, Sd: Const = One>
    check {
        assert!(
            need::positive(Sd::F64),
            "SoftMinSnr: `sigma_data` must be positive"
        );
    }
);

/// Soft-min-SNR on the x0 loss: `1/(e^(−λ) + σ_d²)`.
#[inline(always)]
pub fn soft_min_snr_x0<F: Real>(l: F, sigma_data: f64) -> F {
    formula::soft_min_snr_x0(l, F::of(sigma_data * sigma_data))
}

impl<T: WeightTarget, Sd: Const> LogSnrFn for SoftMinSnr<T, Sd> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "SoftMinSnr(target = ")?;
        T::default().write_decl(out)?;
        write!(out, ", sigma_data = {})", lit(Sd::F64))
    }
}

impl<T: WeightTarget, Sd: Const> LossWeight for SoftMinSnr<T, Sd> {
    fn weight<F: Real>(&self, l: F) -> F {
        beyond_exp(l, |l| from_x0::<T, F>(soft_min_snr_x0(l, Sd::F64), l))
    }
}

zst!(
    /// Min-SNR-γ (Hang et al. 2023): `w_x0 = min(e^λ, γ)`, on target `T`'s MSE: on ε
    /// `min(SNR, γ)/SNR`, on v `min(SNR, γ)/(SNR + 1)` (as diffusers' training scripts), on
    /// x0 `min(SNR, γ)`. Defaults: `T = Epsilon`, `gamma = 5`.
    MinSnrGamma<T: WeightTarget = Epsilon, G: Const = Dec<P5, Z0>>
    check {
        assert!(
            need::positive(G::F64),
            "MinSnrGamma: `gamma` must be positive"
        );
    }
);

impl<T: WeightTarget, G: Const> LogSnrFn for MinSnrGamma<T, G> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "MinSnrGamma(target = ")?;
        T::default().write_decl(out)?;
        write!(out, ", gamma = {})", lit(G::F64))
    }
}

impl<T: WeightTarget, G: Const> LossWeight for MinSnrGamma<T, G> {
    fn weight<F: Real>(&self, l: F) -> F {
        beyond_exp(l, |l| {
            from_x0::<T, F>(formula::min_snr_gamma_x0(l, F::of(G::F64)), l)
        })
    }
}

zst!(
    /// SD3's `sigma_sqrt` weighting: `t^−2` on the RF velocity MSE, `t = sigmoid(−λ/2)`
    /// (`(1 + e^(λ/2))²`).
    SigmaSqrt
);

impl LogSnrFn for SigmaSqrt {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("SigmaSqrt")
    }
}

impl LossWeight for SigmaSqrt {
    fn weight<F: Real>(&self, l: F) -> F {
        formula::sigma_sqrt(l)
    }
}

zst!(
    /// SD3's `cosmap` weighting: `2/(π(1 − 2t + 2t²))` on the RF velocity MSE,
    /// `t = sigmoid(−λ/2)`: the CosMap density of t, as an importance weight for uniform t.
    CosMapWeight
);

impl LogSnrFn for CosMapWeight {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("CosMapWeight")
    }
}

impl LossWeight for CosMapWeight {
    fn weight<F: Real>(&self, l: F) -> F {
        formula::cosmap(l)
    }
}

/// The `#[cube]` form of a [`WeightTarget`]: the target's natural scaler.
#[cfg(gdf_kernel)]
#[allow(missing_docs)]
#[cubecl::cube]
pub trait CubeWeightTarget: crate::target::CubeTarget {
    /// `(a, b)` of λ under the target's natural scaler.
    fn level<F: cubecl::prelude::Float>(l: F) -> (F, F);
}

#[cfg(gdf_kernel)]
#[allow(missing_docs)]
mod device {
    use super::*;
    use crate::formula::device::konst;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use crate::loss_weight::{CubeLossWeight, LossWeightConsts};
    use crate::scaler::{lerp, vp};
    use cubecl::prelude::*;

    #[cube]
    impl CubeWeightTarget for Epsilon {
        fn level<F: Float>(l: F) -> (F, F) {
            vp::formula::cube::ab::<F>(l)
        }
    }
    #[cube]
    impl CubeWeightTarget for X0 {
        fn level<F: Float>(l: F) -> (F, F) {
            vp::formula::cube::ab::<F>(l)
        }
    }
    #[cube]
    impl CubeWeightTarget for V {
        fn level<F: Float>(l: F) -> (F, F) {
            vp::formula::cube::ab::<F>(l)
        }
    }
    #[cube]
    impl CubeWeightTarget for NegV {
        fn level<F: Float>(l: F) -> (F, F) {
            vp::formula::cube::ab::<F>(l)
        }
    }
    #[cube]
    impl<E: crate::konst::Const> CubeWeightTarget for Consistency<E> {
        fn level<F: Float>(l: F) -> (F, F) {
            vp::formula::cube::ab::<F>(l)
        }
    }
    #[cube]
    impl CubeWeightTarget for RectifiedFlows {
        fn level<F: Float>(l: F) -> (F, F) {
            lerp::formula::cube::ab::<F>(l)
        }
    }
    #[cube]
    impl CubeWeightTarget for NegRectifiedFlows {
        fn level<F: Float>(l: F) -> (F, F) {
            lerp::formula::cube::ab::<F>(l)
        }
    }

    /// `w_x0` on `T`'s MSE (as [`from_x0`]: `w·c_x0²/c_T²` with `c_x0² = 1`).
    #[cube]
    pub fn from_x0<F: Float, T: CubeWeightTarget>(w: F, l: F) -> F {
        let (a, b) = T::level::<F>(l);
        let (one, zero) = (F::new(1.0), F::new(0.0));
        let alpha = T::target::<F>(one, zero, a, b);
        let beta = T::target::<F>(zero, one, a, b);
        w * one / formula::cube::target_scale::<F>(alpha, beta, a, b)
    }

    impl<T: WeightTarget, Sd: Const> LossWeightConsts for EdmWeight<T, Sd> {}
    #[cube]
    impl<T: WeightTarget + CubeWeightTarget, Sd: Const> CubeLossWeight for EdmWeight<T, Sd> {
        fn weight<F: Float>(l: F, _state: &[F]) -> F {
            let inv = konst::<F>(comptime!(1.0 / (Sd::F64 * Sd::F64)));
            let lc = formula::cube::exp_range::<F>(l);
            formula::cube::past_exp::<F>(
                from_x0::<F, T>(formula::cube::edm_x0::<F>(l, inv), l),
                from_x0::<F, T>(formula::cube::edm_x0::<F>(lc, inv), lc),
            )
        }
    }

    impl<T: WeightTarget, Sd: Const> LossWeightConsts for SoftMinSnr<T, Sd> {}
    #[cube]
    impl<T: WeightTarget + CubeWeightTarget, Sd: Const> CubeLossWeight for SoftMinSnr<T, Sd> {
        fn weight<F: Float>(l: F, _state: &[F]) -> F {
            let sd2 = konst::<F>(comptime!(Sd::F64 * Sd::F64));
            let lc = formula::cube::exp_range::<F>(l);
            formula::cube::past_exp::<F>(
                from_x0::<F, T>(formula::cube::soft_min_snr_x0::<F>(l, sd2), l),
                from_x0::<F, T>(formula::cube::soft_min_snr_x0::<F>(lc, sd2), lc),
            )
        }
    }

    impl<T: WeightTarget, G: Const> LossWeightConsts for MinSnrGamma<T, G> {}
    #[cube]
    impl<T: WeightTarget + CubeWeightTarget, G: Const> CubeLossWeight for MinSnrGamma<T, G> {
        fn weight<F: Float>(l: F, _state: &[F]) -> F {
            let g = konst::<F>(comptime!(G::F64));
            let lc = formula::cube::exp_range::<F>(l);
            formula::cube::past_exp::<F>(
                from_x0::<F, T>(formula::cube::min_snr_gamma_x0::<F>(l, g), l),
                from_x0::<F, T>(formula::cube::min_snr_gamma_x0::<F>(lc, g), lc),
            )
        }
    }

    impl LossWeightConsts for SigmaSqrt {}
    #[cube]
    impl CubeLossWeight for SigmaSqrt {
        fn weight<F: Float>(l: F, _state: &[F]) -> F {
            formula::cube::sigma_sqrt::<F>(l)
        }
    }

    impl LossWeightConsts for CosMapWeight {}
    #[cube]
    impl CubeLossWeight for CosMapWeight {
        fn weight<F: Float>(l: F, _state: &[F]) -> F {
            formula::cube::cosmap::<F>(l)
        }
    }
}
