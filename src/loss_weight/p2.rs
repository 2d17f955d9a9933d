//! P2 weighting (perception-prioritized training).

use crate::component::zst;
use crate::konst::{need, Const, One};

zst!(
    /// P2 weighting: `(k + e^(λ·s))^(−gamma)`. Defaults `k = 1, gamma = 1, s = 1`.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// assert_eq!(<loss_weight::P2>::new().loss_weight(0.0f64, 1.0), 0.5);
    /// ```
    P2<K: Const = One, G: Const = One, S: Const = One>
    check {
        assert!(
            need::finite(K::F64) && need::finite(G::F64) && need::finite(S::F64),
            "P2: `k`, `gamma` and `s` must be finite"
        );
    }
);

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// The P2 formula: `(k + e^(λ·s))^(−gamma)`.
    pub fn p2<F: Float>(l: F, k: F, gamma: F, s: F) -> F {
        F::powf(k + F::exp(l * s), -gamma)
    }
}

weight!(P2<K: "k", G: "gamma", S: "s">, "P2", p2);
