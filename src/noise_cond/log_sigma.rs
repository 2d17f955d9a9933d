//! `scale·ln σ`: the timestep of consistency models (`250·ln σ`, diffusers'
//! `CMStochasticIterativeScheduler`); [`Edm`](super::Edm) is `scale = ¼`.

use crate::component::zst;
use crate::float::Real;
use crate::konst::{need, Const, One};

zst!(
    /// `scale·ln σ` of the VE σ `e^(−λ/2)`: `−scale·λ/2`. Consistency models take
    /// `scale = 250` (`1000·¼ ln σ`) of the σ in data units, which a `shift = 1/σ_d` gives
    /// (as with [`Edm`](super::Edm), which is `scale = ¼`). Default `scale = 1`.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// use gdf::konst::Dec;
    /// use typenum::{P250, Z0};
    /// let cm = noise_cond::LogSigma::<Dec<P250, Z0>>::new();
    /// // λ = −2·ln 80 is σ = 80: 250·ln 80.
    /// let l = -2.0 * 80f64.ln();
    /// assert!((cm.noise_cond(l) - 250.0 * 80f64.ln()).abs() < 1e-12);
    /// ```
    LogSigma<Scale: Const = One>
    check {
        assert!(
            need::positive(Scale::F64),
            "LogSigma: `scale` must be positive"
        );
    }
);

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// `−scale·λ/2`.
    pub fn cond<F: Float>(l: F, scale: F) -> F {
        -l * F::new(0.5) * scale
    }
}

/// The LogSigma formula: `scale·ln σ = −scale·λ/2`.
#[inline(always)]
pub fn log_sigma<F: Real>(l: F, scale: f64) -> F {
    formula::cond(l, F::of(scale))
}

scaled_cond!(LogSigma, "LogSigma", log_sigma);
