//! The adaptive loss weight: the inverse of a λ bucket's running mean loss.

use core::fmt;
use core::marker::PhantomData;

use serde::{Deserialize, Serialize};

use super::LossWeight;
use crate::buckets::update_buckets;
use crate::component::LogSnrFn;
use crate::error::{check_len, Result};
use crate::float::{linspace, Real};
use crate::konst::{lit, need, Const, Count, Dec};
use typenum::{N1, N7, P1, P7, U300};

/// The saved state of an [`Adaptive`] loss weight (serde), for checkpoint and resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveState {
    /// The running mean loss of each bucket (start at 1).
    pub bucket_losses: Vec<f64>,
}

/// Weights each sample by the inverse of its logSNR bucket's running mean loss (the
/// original's `AdaptiveLossWeight`): `edges = linspace(lo, hi, buckets − 1)`,
/// `i = #{edges < λ}`, `w = clamp(1/L_i, weight_range)`.
/// Defaults: `logsnr_range = [−10, 10]`, `buckets = 300`, `weight_range = [1e-7, 1e7]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Adaptive<
    Lo: Const = Dec<N1, P1>,
    Hi: Const = Dec<P1, P1>,
    B: Count = U300,
    WLo: Const = Dec<P1, N7>,
    WHi: Const = Dec<P1, P7>,
> {
    state: AdaptiveState,
    edges: Vec<f64>,
    _p: PhantomData<(Lo, Hi, B, WLo, WHi)>,
}

impl<Lo: Const, Hi: Const, B: Count, WLo: Const, WHi: Const> Default
    for Adaptive<Lo, Hi, B, WLo, WHi>
{
    fn default() -> Self {
        let () = Self::VALID;
        let b = B::U64 as usize;
        Self {
            state: AdaptiveState {
                bucket_losses: vec![1.0; b],
            },
            edges: linspace(Lo::F64, Hi::F64, b.saturating_sub(1)),
            _p: PhantomData,
        }
    }
}

/// The Adaptive bucket of λ: the number of edges below it.
#[inline(always)]
pub(crate) fn adaptive_bucket(edges: &[f64], l: f64) -> usize {
    edges.partition_point(|&e| e < l)
}

impl<Lo: Const, Hi: Const, B: Count, WLo: Const, WHi: Const> Adaptive<Lo, Hi, B, WLo, WHi> {
    /// The range checks of the constants (a compile-time error when one fails).
    const VALID: () = {
        assert!(
            need::ordered(Lo::F64, Hi::F64),
            "Adaptive: `logsnr_range` must be `[lo, hi]` with finite lo < hi"
        );
        assert!(
            need::count(B::U64, 2),
            "Adaptive: `buckets` must be a whole number in [2, 2^20]"
        );
        assert!(
            need::ordered(WLo::F64, WHi::F64),
            "Adaptive: `weight_range` must be `[lo, hi]` with finite lo < hi"
        );
    };
    /// A fresh loss weight (every bucket loss 1).
    /// Its constants are checked at compile time: one out of range fails the build.
    pub fn new() -> Self {
        Self::default()
    }
    /// The bucket edges (`buckets − 1` of them).
    pub fn bucket_ranges(&self) -> &[f64] {
        &self.edges
    }
    /// The running mean losses.
    pub fn bucket_losses(&self) -> &[f64] {
        &self.state.bucket_losses
    }
    /// `L_i ← β·L_i + (1−β)·loss` for each sample's bucket (no shift applied; duplicate
    /// buckets in one update: last write wins, as the original).
    ///
    /// Errors: lengths differ, β outside `[0, 1]`, non-finite λ or loss, a negative loss.
    pub fn update(&mut self, logsnr: &[f64], loss: &[f64], beta: f64) -> Result<()> {
        let edges = &self.edges;
        update_buckets(
            &mut self.state.bucket_losses,
            |l| adaptive_bucket(edges, l),
            logsnr,
            loss,
            beta,
        )
    }
    /// The state to save.
    pub fn state(&self) -> &AdaptiveState {
        &self.state
    }
    /// Restores saved state. Errors when the bucket count differs from this type's, or a
    /// loss is not finite or negative.
    pub fn restore(&mut self, state: AdaptiveState) -> Result<()> {
        check_len("bucket_losses", B::U64 as usize, state.bucket_losses.len())?;
        crate::error::check_finite("bucket_losses", &state.bucket_losses)?;
        crate::buckets::check_nonneg_losses("bucket_losses", &state.bucket_losses)?;
        self.state = state;
        Ok(())
    }
}

pub(crate) fn write_adaptive(
    out: &mut dyn fmt::Write,
    range: [f64; 2],
    buckets: usize,
    w: [f64; 2],
) -> fmt::Result {
    write!(
        out,
        "Adaptive(logsnr_range = [{}, {}], buckets = {buckets}, weight_range = [{}, {}])",
        lit(range[0]),
        lit(range[1]),
        lit(w[0]),
        lit(w[1])
    )
}

/// The Adaptive weight formula.
#[inline(always)]
pub(crate) fn adaptive_weight<F: Real>(edges: &[f64], losses: &[f64], l: F, w: [f64; 2]) -> F {
    let i = adaptive_bucket(edges, l.as_f64());
    formula::weight(F::of(losses[i]), F::of(w[0]), F::of(w[1]))
}

/// The formula (host, and `cube` on the device); the bucket search is written per layout.
#[crate::formulas]
pub mod formula {
    /// `clamp(1/L, lo, hi)` for a bucket's running mean loss `L`.
    pub fn weight<F: Float>(loss: F, lo: F, hi: F) -> F {
        clamp::<F>(F::new(1.0) / loss, lo, hi)
    }
}

impl<Lo: Const, Hi: Const, B: Count, WLo: Const, WHi: Const> LogSnrFn
    for Adaptive<Lo, Hi, B, WLo, WHi>
{
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write_adaptive(
            out,
            [Lo::F64, Hi::F64],
            B::U64 as usize,
            [WLo::F64, WHi::F64],
        )
    }
}

impl<Lo: Const, Hi: Const, B: Count, WLo: Const, WHi: Const> LossWeight
    for Adaptive<Lo, Hi, B, WLo, WHi>
{
    fn weight<F: Real>(&self, l: F) -> F {
        adaptive_weight(
            &self.edges,
            &self.state.bucket_losses,
            l,
            [WLo::F64, WHi::F64],
        )
    }
}

#[cfg(gdf_kernel)]
mod device {
    use super::*;
    use crate::formula::device::konst;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use crate::loss_weight::{CubeLossWeight, LossWeightConsts};
    use cubecl::prelude::*;

    impl<Lo: Const, Hi: Const, B: Count, WLo: Const, WHi: Const> LossWeightConsts
        for Adaptive<Lo, Hi, B, WLo, WHi>
    {
    }
    /// State layout: `[n_edges, edges…, losses…]`.
    #[cube]
    impl<Lo: Const, Hi: Const, B: Count, WLo: Const, WHi: Const> CubeLossWeight
        for Adaptive<Lo, Hi, B, WLo, WHi>
    {
        fn weight<F: Float>(l: F, state: &[F]) -> F {
            let n = u32::cast_from(state[0]);
            // i = #{edges < l} (edges increasing): binary search.
            let mut lo = 0u32;
            let mut hi = n;
            while lo < hi {
                let mid = (lo + hi) / 2;
                if state[(1 + mid) as usize] < l {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            formula::cube::weight::<F>(
                state[(1 + n + lo) as usize],
                konst::<F>(comptime!(WLo::F64)),
                konst::<F>(comptime!(WHi::F64)),
            )
        }
    }
}
