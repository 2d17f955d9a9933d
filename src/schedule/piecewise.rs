//! Table schedules: a piecewise-linear variance table, and Stable Diffusion's scaled-linear β.

use core::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{write_range, Schedule};
use crate::component::{zst, LogSnrFn};
use crate::error::Result;
use crate::float::Real;
use crate::interp::{sd_table, Table};
use crate::konst::{need, Const, Count, Dec};
use typenum::{N3, P12, P85, U1000};

/// A piecewise-linear variance table: `v` interpolated over `(xs, ys)`, `λ = ln(v/(1−v))`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PiecewiseLinear {
    table: Table,
}

impl PiecewiseLinear {
    /// A schedule over knots `xs` and variances `ys` (see [`Table::new`] for the errors).
    pub fn new(xs: Vec<f64>, ys: Vec<f64>) -> Result<Self> {
        Ok(Self {
            table: Table::new(xs, ys)?,
        })
    }
    /// A schedule over an existing table.
    pub fn from_table(table: Table) -> Self {
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

impl Schedule for PiecewiseLinear {
    fn name(&self) -> &'static str {
        "PiecewiseLinear"
    }
    fn f<F: Real>(&self, t: F) -> F {
        self.table.logsnr(t)
    }
}

zst!(
    /// The Stable Diffusion (scaled-linear β) schedule: [`PiecewiseLinear`] over
    /// `xs = linspace(0,1,N+1)`, `ys = cumprod(1 − (√β0·(1−x) + √β1·x)²)`.
    /// Defaults: `linear_range = [0.00085, 0.012]`, `total_steps = 1000`. The table is
    /// computed once per parameter set and cached, so the type stays zero-sized.
    StableDiffusion<B0: Const = Dec<P85, typenum::N5>, B1: Const = Dec<P12, N3>, Steps: Count = U1000>
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

pub(crate) fn write_sd(out: &mut dyn fmt::Write, range: [f64; 2], steps: u64) -> fmt::Result {
    out.write_str("StableDiffusion(")?;
    write_range(out, "linear_range", range)?;
    write!(out, ", total_steps = {steps})")
}

impl<B0: Const, B1: Const, N: Count> LogSnrFn for StableDiffusion<B0, B1, N> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write_sd(out, [B0::F64, B1::F64], N::U64)
    }
}

impl<B0: Const, B1: Const, N: Count> Schedule for StableDiffusion<B0, B1, N> {
    fn name(&self) -> &'static str {
        "StableDiffusion"
    }
    fn f<F: Real>(&self, t: F) -> F {
        self.table().logsnr(t)
    }
}

#[cfg(gdf_kernel)]
mod device {
    use super::*;
    use crate::interp::{formula, table_value};
    #[allow(unused_imports)]
    use crate::konst::Const;
    use crate::schedule::{CubeSchedule, ScheduleConsts};
    use cubecl::prelude::*;

    impl ScheduleConsts for PiecewiseLinear {}
    #[cube]
    impl CubeSchedule for PiecewiseLinear {
        fn raw<F: Float>(t: F, state: &[F]) -> F {
            formula::cube::logit_of::<F>(table_value::<F>(t, state))
        }
    }

    impl<B0: Const, B1: Const, N: Count> ScheduleConsts for StableDiffusion<B0, B1, N> {}
    #[cube]
    impl<B0: Const, B1: Const, N: Count> CubeSchedule for StableDiffusion<B0, B1, N> {
        fn raw<F: Float>(t: F, state: &[F]) -> F {
            formula::cube::logit_of::<F>(table_value::<F>(t, state))
        }
    }
}
