//! Composed: a product of loss weights over a product of loss weights.

use core::fmt;

use super::LossWeight;
use crate::component::LogSnrFn;
use crate::float::Real;

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

/// The `#[cube]` form of a [`WeightProduct`]: `Π wᵢ(λ)` over the parts' raw formulas (which
/// must be stateless).
#[cfg(gdf_kernel)]
#[allow(missing_docs)]
#[cubecl::cube]
pub trait CubeWeightProduct: Send + Sync + 'static {
    /// `Π wᵢ(λ)`.
    fn product<F: cubecl::prelude::Float>(l: F, state: &[F]) -> F;
}

#[cfg(gdf_kernel)]
mod device {
    use super::*;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use crate::loss_weight::{CubeLossWeight, LossWeightConsts};
    use cubecl::prelude::*;

    #[cube]
    impl CubeWeightProduct for () {
        fn product<F: Float>(_l: F, _state: &[F]) -> F {
            F::new(1.0)
        }
    }
    #[cube]
    impl<A: CubeLossWeight> CubeWeightProduct for (A,) {
        fn product<F: Float>(l: F, state: &[F]) -> F {
            A::weight::<F>(l, state)
        }
    }
    #[cube]
    impl<A: CubeLossWeight, B: CubeLossWeight> CubeWeightProduct for (A, B) {
        fn product<F: Float>(l: F, state: &[F]) -> F {
            A::weight::<F>(l, state) * B::weight::<F>(l, state)
        }
    }
    #[cube]
    impl<A: CubeLossWeight, B: CubeLossWeight, C: CubeLossWeight> CubeWeightProduct for (A, B, C) {
        fn product<F: Float>(l: F, state: &[F]) -> F {
            A::weight::<F>(l, state) * B::weight::<F>(l, state) * C::weight::<F>(l, state)
        }
    }
    #[cube]
    impl<A: CubeLossWeight, B: CubeLossWeight, C: CubeLossWeight, D: CubeLossWeight>
        CubeWeightProduct for (A, B, C, D)
    {
        fn product<F: Float>(l: F, state: &[F]) -> F {
            A::weight::<F>(l, state)
                * B::weight::<F>(l, state)
                * C::weight::<F>(l, state)
                * D::weight::<F>(l, state)
        }
    }

    impl<M, D> LossWeightConsts for Composed<M, D> {}
    #[cube]
    impl<M: CubeWeightProduct, D: CubeWeightProduct> CubeLossWeight for Composed<M, D> {
        fn weight<F: Float>(l: F, state: &[F]) -> F {
            M::product::<F>(l, state) / D::product::<F>(l, state)
        }
    }
}
