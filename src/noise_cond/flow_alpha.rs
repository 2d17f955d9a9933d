//! One minus the flow sigma, times a scale: the timestep of models trained with the inverted
//! flow convention (diffusers' `invert_sigmas`: Mochi's transformer takes `(1 − σ)·1000`).

use crate::component::zst;
use crate::float::Real;
use crate::konst::{need, Const, One};

zst!(
    /// One minus the flow sigma, times `scale`: `scale·σ(λ/2)`, where `σ(λ/2) = a` of the
    /// [`Lerp`](crate::scaler::Lerp) scaler (`1 − s` of diffusers' flow sigma `s`). Mochi's
    /// transformer takes `scale = 1000` (diffusers' `invert_sigmas` timesteps);
    /// [`RectifiedFlows`](super::RectifiedFlows) is `scale = 1`. Default `scale = 1`.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// use gdf::konst::Dec;
    /// use typenum::{P1, P3};
    /// let mochi = noise_cond::FlowAlpha::<Dec<P1, P3>>::new();
    /// // λ = 2·ln 3 is s = 1/4: Mochi's timestep 750.
    /// assert!((mochi.noise_cond(2.0 * 3f64.ln()) - 750.0).abs() < 1e-12);
    /// assert_eq!(noise_cond::FlowAlpha::<gdf::konst::One>::new().noise_cond(f64::NEG_INFINITY), 0.0);
    /// ```
    FlowAlpha<Scale: Const = One>
    check {
        assert!(
            need::positive(Scale::F64),
            "FlowAlpha: `scale` must be positive"
        );
    }
);

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// `scale·σ(λ/2)`.
    pub fn cond<F: Float>(l: F, scale: F) -> F {
        sigmoid::<F>(l * F::new(0.5)) * scale
    }
}

/// The FlowAlpha formula: `scale·σ(λ/2)`.
#[inline(always)]
pub fn flow_alpha<F: Real>(l: F, scale: f64) -> F {
    formula::cond(l, F::of(scale))
}

scaled_cond!(FlowAlpha, "FlowAlpha", flow_alpha);
