//! Bell- and step-shaped weights in λ: Sech, Debiased, Sigmoid.

use crate::component::zst;
use crate::konst::{need, Const, Dec, One};
use typenum::{P2, Z0};

zst!(
    /// `1/cosh(λ/div)`. Default `div = 2`.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// assert_eq!(<loss_weight::Sech>::new().loss_weight(0.0f64, 1.0), 1.0);
    /// ```
    Sech<D: Const = Dec<P2, Z0>>
    check {
        assert!(
            need::positive(D::F64),
            "Sech: `div` must be positive"
        );
    }
);
zst!(
    /// Debiased: `1/sqrt(e^λ)`, computed as `e^(−λ/2)`.
    Debiased
);
zst!(
    /// `σ(λ·s)`. Default `s = 1`.
    Sigmoid<S: Const = One>
    check {
        assert!(
            need::finite(S::F64),
            "Sigmoid: `s` must be finite"
        );
    }
);

/// The formulas (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// The Sech formula: `1/cosh(λ/div)`.
    pub fn sech<F: Float>(l: F, div: F) -> F {
        F::new(1.0) / F::cosh(l / div)
    }
    /// The Debiased formula: `e^(−λ/2)`.
    pub fn debiased<F: Float>(l: F) -> F {
        F::exp(-l * F::new(0.5))
    }
    /// The Sigmoid formula: `σ(λ·s)`.
    pub fn sigmoid_weight<F: Float>(l: F, s: F) -> F {
        sigmoid::<F>(l * s)
    }
}

weight!(Sech<D: "div">, "Sech", sech);
weight!(Debiased, "Debiased", debiased);
weight!(Sigmoid<S: "s">, "Sigmoid", sigmoid_weight);
