//! The adaptive training schedule: λ drawn where the loss is high.

use core::fmt;
use core::marker::PhantomData;

use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use super::{update_buckets, write_range, Schedule};
use crate::component::LogSnrFn;
use crate::error::{check_finite, check_len, Result};
use crate::float::{linspace, linspace_at, Real};
use crate::konst::{lit, need, Const, Count, Dec};
use typenum::{N1, P1, U100};

/// The saved state of an [`AdaptiveTrain`] schedule (serde), for checkpoint and resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveTrainState {
    /// One weight per bucket (start at 1).
    pub bucket_probs: Vec<f64>,
}

/// Learns where the loss is high and draws λ there more often (the original's
/// `AdaptiveTrainSchedule`). Training only.
///
/// Buckets split `logsnr_range` evenly; a bucket is drawn with probability `∝ p + min_probs`
/// and λ is uniform inside it. [`AdaptiveTrain::update`] moves the drawn buckets' weights
/// towards the observed losses. The weights are the state: save them with
/// [`AdaptiveTrain::state`] and restore them with [`AdaptiveTrain::restore`].
#[derive(Clone, Debug, PartialEq)]
pub struct AdaptiveTrain<
    Lo: Const = Dec<N1, P1>,
    Hi: Const = Dec<P1, P1>,
    B: Count = U100,
    Min: Const = crate::konst::Zero,
> {
    state: AdaptiveTrainState,
    _p: PhantomData<(Lo, Hi, B, Min)>,
}

impl<Lo: Const, Hi: Const, B: Count, Min: Const> Default for AdaptiveTrain<Lo, Hi, B, Min> {
    fn default() -> Self {
        let () = Self::VALID;
        Self {
            state: AdaptiveTrainState {
                bucket_probs: vec![1.0; B::U64 as usize],
            },
            _p: PhantomData,
        }
    }
}

impl<Lo: Const, Hi: Const, B: Count, Min: Const> AdaptiveTrain<Lo, Hi, B, Min> {
    /// The range checks of the constants (a compile-time error when one fails).
    const VALID: () = {
        assert!(
            need::ordered(Lo::F64, Hi::F64),
            "AdaptiveTrain: `logsnr_range` must be `[lo, hi]` with finite lo < hi"
        );
        assert!(
            need::count(B::U64, 1),
            "AdaptiveTrain: `buckets` must be a whole number in [1, 2^20]"
        );
        assert!(
            need::nonneg(Min::F64),
            "AdaptiveTrain: `min_probs` must be zero or positive"
        );
    };
    /// A fresh schedule (every bucket weight 1).
    /// Its constants are checked at compile time: one out of range fails the build.
    pub fn new() -> Self {
        Self::default()
    }
    fn core(&self) -> AdaptiveTrainCore<'_> {
        AdaptiveTrainCore {
            range: [Lo::F64, Hi::F64],
            min_probs: Min::F64,
            probs: &self.state.bucket_probs,
        }
    }
    /// Bucket `[lo, hi)` ranges.
    pub fn bucket_ranges(&self) -> Vec<[f64; 2]> {
        self.core().ranges()
    }
    /// The bucket weights.
    pub fn bucket_probs(&self) -> &[f64] {
        &self.state.bucket_probs
    }
    /// `(p + min_probs) / Σ(p + min_probs)`.
    pub fn norm_probs(&self) -> Vec<f64> {
        self.core().norm_probs()
    }
    /// `p[i] ← β·p[i] + (1−β)·loss` for the bucket `i` of each λ (λ outside the range updates
    /// bucket 0, as the original).
    ///
    /// Errors: lengths differ, β outside `[0, 1]`, non-finite λ or loss, a negative loss,
    /// and an update after which the weights `p + min_probs` no longer sum to a finite
    /// number `> 0` (no distribution left to draw from; the state is left as it was).
    pub fn update(&mut self, logsnr: &[f64], loss: &[f64], beta: f64) -> Result<()> {
        let range = [Lo::F64, Hi::F64];
        let n = self.state.bucket_probs.len();
        update_train_buckets(
            &mut self.state.bucket_probs,
            Min::F64,
            |l| train_bucket(range, n, l),
            logsnr,
            loss,
            beta,
        )
    }
    /// The state to save.
    pub fn state(&self) -> &AdaptiveTrainState {
        &self.state
    }
    /// Restores saved state. Errors when the bucket count differs from this type's, a weight
    /// is not finite or negative, or the weights `p + min_probs` do not sum to a finite
    /// number `> 0`.
    pub fn restore(&mut self, state: AdaptiveTrainState) -> Result<()> {
        check_len("bucket_probs", B::U64 as usize, state.bucket_probs.len())?;
        check_finite("bucket_probs", &state.bucket_probs)?;
        crate::buckets::check_draw_weights(&state.bucket_probs, Min::F64)?;
        self.state = state;
        Ok(())
    }
}

/// [`update_buckets`] for AdaptiveTrain's draw weights: on a copy, committed only when the
/// weights still form a distribution.
pub(crate) fn update_train_buckets(
    probs: &mut Vec<f64>,
    min_probs: f64,
    index: impl Fn(f64) -> usize,
    logsnr: &[f64],
    loss: &[f64],
    beta: f64,
) -> Result<()> {
    let mut next = probs.clone();
    update_buckets(&mut next, index, logsnr, loss, beta)?;
    crate::buckets::check_draw_weights(&next, min_probs)?;
    *probs = next;
    Ok(())
}

/// The bucket of λ for AdaptiveTrain: first `i` with `edge_i ≤ λ < edge_{i+1}`, else 0.
pub(crate) fn train_bucket(range: [f64; 2], buckets: usize, l: f64) -> usize {
    let edge = |i| linspace_at(range[0], range[1], buckets + 1, i);
    (0..buckets)
        .find(|&i| edge(i) <= l && l < edge(i + 1))
        .unwrap_or(0)
}

pub(crate) struct AdaptiveTrainCore<'a> {
    pub range: [f64; 2],
    pub min_probs: f64,
    pub probs: &'a [f64],
}

impl AdaptiveTrainCore<'_> {
    pub fn ranges(&self) -> Vec<[f64; 2]> {
        let e = linspace(self.range[0], self.range[1], self.probs.len() + 1);
        e.windows(2).map(|w| [w[0], w[1]]).collect()
    }
    pub fn norm_probs(&self) -> Vec<f64> {
        let total: f64 = self.probs.iter().map(|p| p + self.min_probs).sum();
        self.probs
            .iter()
            .map(|p| (p + self.min_probs) / total)
            .collect()
    }
    /// A bucket with probability `norm_probs`, then λ uniform inside it (no allocation:
    /// this runs once per drawn sample).
    pub fn draw(&self, rng: &mut dyn RngCore) -> f64 {
        let n = self.probs.len();
        let total: f64 = self.probs.iter().map(|p| p + self.min_probs).sum();
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let mut pick = n - 1;
        for (i, p) in self.probs.iter().enumerate() {
            acc += (p + self.min_probs) / total;
            if u < acc {
                pick = i;
                break;
            }
        }
        let edge = |i| linspace_at(self.range[0], self.range[1], n + 1, i);
        let (lo, hi) = (edge(pick), edge(pick + 1));
        let v: f64 = rng.random();
        lo + v * (hi - lo)
    }
}

pub(crate) fn write_adaptive_train(
    out: &mut dyn fmt::Write,
    range: [f64; 2],
    buckets: usize,
    min_probs: f64,
) -> fmt::Result {
    out.write_str("AdaptiveTrain(")?;
    write_range(out, "logsnr_range", range)?;
    write!(
        out,
        ", buckets = {buckets}, min_probs = {})",
        lit(min_probs)
    )
}

impl<Lo: Const, Hi: Const, B: Count, Min: Const> LogSnrFn for AdaptiveTrain<Lo, Hi, B, Min> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write_adaptive_train(out, [Lo::F64, Hi::F64], B::U64 as usize, Min::F64)
    }
}

impl<Lo: Const, Hi: Const, B: Count, Min: Const> Schedule for AdaptiveTrain<Lo, Hi, B, Min> {
    fn name(&self) -> &'static str {
        "AdaptiveTrain"
    }
    fn accepts_t(&self) -> bool {
        false
    }
    fn f<F: Real>(&self, _t: F) -> F {
        F::nan()
    }
    fn draw_raw<F: Real>(&self, rng: &mut dyn RngCore) -> F {
        F::of(self.core().draw(rng))
    }
}

#[cfg(gdf_kernel)]
mod device {
    use super::*;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use crate::schedule::{CubeSchedule, ScheduleConsts};
    use cubecl::prelude::*;

    impl<Lo: Const, Hi: Const, B: Count, Mn: Const> ScheduleConsts for AdaptiveTrain<Lo, Hi, B, Mn> {
        const ACCEPTS_T: bool = false;
    }
    #[cube]
    impl<Lo: Const, Hi: Const, B: Count, Mn: Const> CubeSchedule for AdaptiveTrain<Lo, Hi, B, Mn> {
        fn raw<F: Float>(t: F, _state: &[F]) -> F {
            crate::schedule::training_only_nan::<F>(t)
        }
    }
}
