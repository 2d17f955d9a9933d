//! A constant loss weight.

use crate::component::zst;
use crate::konst::{need, One};

zst!(
    /// A constant weight `v` (default 1).
    ///
    /// ```
    /// use gdf::prelude::*;
    /// assert_eq!(<loss_weight::Constant>::new().loss_weight(3.0f64, 1.0), 1.0);
    /// ```
    Constant<V: crate::konst::Const = One>
    check {
        assert!(
            need::finite(V::F64),
            "Constant: `v` must be finite"
        );
    }
);

/// The formula (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// The Constant formula: `v`.
    pub fn constant<F: Float>(_l: F, v: F) -> F {
        v
    }
}

weight!(Constant<V: "v">, "Constant", constant);
