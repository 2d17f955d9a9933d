//! The SNR family: `e^λ`, `e^λ + 1` and their min/max-truncated forms.

use crate::component::zst;
use crate::konst::{need, Const, Dec, One};
use typenum::{P5, Z0};

zst!(
    /// The SNR: `e^λ`.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// assert_eq!(loss_weight::Snr.loss_weight(0.0f64, 1.0), 1.0);
    /// ```
    Snr
);
zst!(
    /// `e^λ + 1`.
    SnrPlusOne
);
zst!(
    /// Min-SNR: `min(e^λ, max_snr)`. Default `max_snr = 5`.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// assert_eq!(<loss_weight::MinSnr>::new().loss_weight(3.0f64, 1.0), 5.0);
    /// ```
    MinSnr<M: Const = Dec<P5, Z0>>
    check {
        assert!(
            need::positive(M::F64),
            "MinSnr: `max_snr` must be positive"
        );
    }
);
zst!(
    /// `min(e^λ + 1, max_snr)`. Default `max_snr = 5`.
    MinSnrPlusOne<M: Const = Dec<P5, Z0>>
    check {
        assert!(
            need::positive(M::F64),
            "MinSnrPlusOne: `max_snr` must be positive"
        );
    }
);
zst!(
    /// Truncated SNR: `max(e^λ, min_snr)`. Default `min_snr = 1`.
    TruncatedSnr<M: Const = One>
    check {
        assert!(
            need::nonneg(M::F64),
            "TruncatedSnr: `min_snr` must be zero or positive"
        );
    }
);

/// The formulas (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// The Snr formula: `e^λ`.
    pub fn snr<F: Float>(l: F) -> F {
        F::exp(l)
    }
    /// The SnrPlusOne formula: `e^λ + 1`.
    pub fn snr_plus_one<F: Float>(l: F) -> F {
        F::exp(l) + F::new(1.0)
    }
    /// The MinSnr formula: `min(e^λ, max_snr)` (NaN stays NaN).
    pub fn min_snr<F: Float>(l: F, max_snr: F) -> F {
        let w = F::exp(l);
        select(w > max_snr, max_snr, w)
    }
    /// The MinSnrPlusOne formula: `min(e^λ + 1, max_snr)` (NaN stays NaN).
    pub fn min_snr_plus_one<F: Float>(l: F, max_snr: F) -> F {
        let w = F::exp(l) + F::new(1.0);
        select(w > max_snr, max_snr, w)
    }
    /// The TruncatedSnr formula: `max(e^λ, min_snr)` (NaN stays NaN).
    pub fn truncated_snr<F: Float>(l: F, min_snr: F) -> F {
        let w = F::exp(l);
        select(w < min_snr, min_snr, w)
    }
}

weight!(Snr, "Snr", snr);
weight!(SnrPlusOne, "SnrPlusOne", snr_plus_one);
weight!(MinSnr<M: "max_snr">, "MinSnr", min_snr);
weight!(MinSnrPlusOne<M: "max_snr">, "MinSnrPlusOne", min_snr_plus_one);
weight!(TruncatedSnr<M: "min_snr">, "TruncatedSnr", truncated_snr);
