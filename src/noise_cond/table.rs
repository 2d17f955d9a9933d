//! Table noise conds: the `t` at which a variance table takes the value `σ(λ)`.

use core::fmt;
use std::sync::Arc;

use super::NoiseCond;
use crate::component::{zst, LogSnrFn};
use crate::float::Real;
use crate::interp::{sd_table, Table};
use crate::konst::{need, Const, Count, Dec};
use typenum::{N3, U1000};

/// The StableDiffusion formula over its table: the table's noise cond clamped to `[0, 1]`.
pub fn stable_diffusion_cond<F: Real>(table: &Table, l: F) -> F {
    formula::clamp01(table.inverse(formula::variance(l)))
}

/// The formulas (host, and `cube` on the device); the inverse interpolation itself is
/// [`crate::interp::formula::inverse`].
#[crate::formulas]
pub mod formula {
    /// The variance a logSNR stands for: `σ(λ)`.
    pub fn variance<F: Float>(l: F) -> F {
        sigmoid::<F>(l)
    }
    /// StableDiffusion's clamp of the found `t` to `[0, 1]`.
    pub fn clamp01<F: Float>(t: F) -> F {
        clamp::<F>(t, F::new(0.0), F::new(1.0))
    }
}

/// The `t` whose table variance is `σ(λ)`, by inverse linear interpolation.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PiecewiseLinear {
    table: Table,
}

impl PiecewiseLinear {
    /// The inverse of a piecewise variance table (see [`Table::new`]; `ys` decreasing).
    pub fn new(table: Table) -> Self {
        Self { table }
    }
    /// The table.
    pub fn table(&self) -> &Table {
        &self.table
    }
}

impl LogSnrFn for PiecewiseLinear {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(
            out,
            "PiecewiseLinear(xs = {:?}, ys = {:?})",
            self.table.xs(),
            self.table.ys()
        )
    }
}

impl NoiseCond for PiecewiseLinear {
    fn cond<F: Real>(&self, l: F) -> F {
        self.table.inverse(formula::variance(l))
    }
}

zst!(
    /// The inverse of the [`StableDiffusion`](crate::schedule::StableDiffusion) schedule's
    /// table, clamped to `[0, 1]`. Defaults as the schedule.
    StableDiffusion<B0: Const = Dec<typenum::P85, typenum::N5>, B1: Const = Dec<typenum::P12, N3>, Steps: Count = U1000>
    check {
        need::stable_diffusion(B0::F64, B1::F64, Steps::U64);
    }
);

impl<B0: Const, B1: Const, N: Count> StableDiffusion<B0, B1, N> {
    /// The (cached) table.
    pub fn table(&self) -> Arc<Table> {
        sd_table([B0::F64, B1::F64], N::U64)
    }
}

impl<B0: Const, B1: Const, N: Count> LogSnrFn for StableDiffusion<B0, B1, N> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        crate::schedule::write_sd(out, [B0::F64, B1::F64], N::U64)
    }
}

impl<B0: Const, B1: Const, N: Count> NoiseCond for StableDiffusion<B0, B1, N> {
    fn cond<F: Real>(&self, l: F) -> F {
        stable_diffusion_cond(&self.table(), l)
    }
}

#[cfg(gdf_kernel)]
mod device {
    use super::*;
    use crate::interp::table_inverse;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use crate::noise_cond::{CubeNoiseCond, NoiseCondConsts};
    use cubecl::prelude::*;

    impl NoiseCondConsts for PiecewiseLinear {}
    #[cube]
    impl CubeNoiseCond for PiecewiseLinear {
        fn cond<F: Float>(l: F, state: &[F]) -> F {
            table_inverse::<F>(formula::cube::variance::<F>(l), state)
        }
    }

    impl<B0: Const, B1: Const, N: Count> NoiseCondConsts for StableDiffusion<B0, B1, N> {}
    #[cube]
    impl<B0: Const, B1: Const, N: Count> CubeNoiseCond for StableDiffusion<B0, B1, N> {
        fn cond<F: Float>(l: F, state: &[F]) -> F {
            formula::cube::clamp01::<F>(table_inverse::<F>(formula::cube::variance::<F>(l), state))
        }
    }
}
