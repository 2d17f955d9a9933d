//! The flow sigma times a scale: the timestep flow-matching models take (diffusers'
//! `FlowMatchEulerDiscreteScheduler`: SD3 gets `σ·1000`, Flux `σ`).

use crate::component::zst;
use crate::float::Real;
use crate::konst::{need, Const, One};

zst!(
    /// The flow sigma times `scale`: `scale·σ(−λ/2)`, where `σ(−λ/2) = b` of the
    /// [`Lerp`](crate::scaler::Lerp) scaler (diffusers' flow sigma `s`, `x = (1−s)·x0 + s·ε`).
    /// SD3's transformer takes `scale = 1000` (diffusers' `timesteps`), Flux's `scale = 1`
    /// (the Flux pipeline divides the timesteps by 1000). Default `scale = 1`.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// use gdf::konst::Dec;
    /// use typenum::{P1, P3};
    /// // λ = 0 is s = 1/2: SD3's timestep 500.
    /// let sd3 = noise_cond::FlowSigma::<Dec<P1, P3>>::new();
    /// assert_eq!(sd3.noise_cond(0.0f64), 500.0);
    /// assert_eq!(noise_cond::FlowSigma::<gdf::konst::One>::new().noise_cond(f64::NEG_INFINITY), 1.0);
    /// ```
    FlowSigma<Scale: Const = One>
    check {
        assert!(
            need::positive(Scale::F64),
            "FlowSigma: `scale` must be positive"
        );
    }
);

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// `scale·σ(−λ/2)`.
    pub fn cond<F: Float>(l: F, scale: F) -> F {
        sigmoid::<F>(-l * F::new(0.5)) * scale
    }
}

/// The FlowSigma formula: `scale·σ(−λ/2)`.
#[inline(always)]
pub fn flow_sigma<F: Real>(l: F, scale: f64) -> F {
    formula::cond(l, F::of(scale))
}

scaled_cond!(FlowSigma, "FlowSigma", flow_sigma);
