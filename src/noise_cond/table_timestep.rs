//! diffusers' timestep of a noise level: the training step whose σ it is, in a discrete
//! table (`_sigma_to_t`: linear interpolation of `ln σ` over the step index).

use core::fmt;

use serde::{Deserialize, Serialize};

use super::NoiseCond;
use crate::component::LogSnrFn;
use crate::error::{GdfError, Result};
use crate::float::Real;

/// The formulas (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// The weight of the upper knot on the segment `[lo, hi]` of `ln σ` that holds `ls`
    /// (clamped to `[0, 1]`: levels outside the table take its end steps).
    pub fn weight<F: Float>(ls: F, lo: F, hi: F) -> F {
        clamp::<F>((lo - ls) / (lo - hi), F::new(0.0), F::new(1.0))
    }
    /// The step `low + w`, rounded half to even when `round` is set.
    pub fn step<F: Float>(low: F, w: F, round: bool) -> F {
        select(round, round_even::<F>(low + w), low + w)
    }
}

/// The training step of `σ = e^(−λ/2)` in a discrete table of `ln σ_k` (`k = 0…N−1`), as
/// diffusers' `_sigma_to_t` finds it: `k + w` on the segment `[k, k+1]` whose lower knot is
/// the last one `≤ ln σ` (the first segment below the table, the last above it, and the
/// last one too when `k = N−1`), `w = (ln σ_k − ln σ)/(ln σ_k − ln σ_{k+1})` clamped to
/// `[0, 1]`; then rounded to the nearest step when `round` is set (diffusers' integer
/// timesteps). A level within float32 rounding of a knot (`ln σ` within a float32 ulp of
/// the knot's float32 value) gives that knot's step exactly: the table's own levels give their whole
/// steps, as diffusers passes them (KDPM2's levels between its fractional midpoints). Pure
/// noise (`λ = −∞`, the first level of DDIM's zero-terminal-SNR grids) gives `N−1`.
///
/// The table increases, except that its last value may lie below its predecessors:
/// diffusers' zero-terminal-SNR tables (`rescale_betas_zero_snr`) set `ᾱ_{N−1} = 2⁻²⁴`,
/// which with `"linear"` betas is above `ᾱ_{N−4…N−2}` (σ 4096 after 15406). The rule above
/// is then diffusers' own: `σ_{N−1}` gives `N−1`, a σ between `σ_{N−1}` and `σ_{N−2}` a step
/// on the last segment, a σ below `σ_{N−1}` a step in the increasing part (a level within 4
/// float32 ulps of `ln σ_{N−1}` counts as `σ_{N−1}`: the table holds diffusers' float32
/// values, and a level at `σ_{N−1}` must give `N−1` as it does in diffusers). Such a table
/// has no device form (the kernel searches an increasing table): a device run refuses it.
///
/// Not a zero-sized type (the table is data): in `gdf!` text it is run-time only, like
/// `PiecewiseLinear`. `interop::diffusers` builds it from diffusers' float32 table.
///
/// ```
/// use gdf::noise_cond::{NoiseCond, TableTimestep};
/// let ls: Vec<f64> = [0.1f64, 0.5, 2.0, 7.0].iter().map(|s| s.ln()).collect();
/// let t = TableTimestep::new(ls, false)?;
/// assert!((t.noise_cond(-2.0 * 2.0f64.ln()) - 2.0).abs() < 1e-12); // σ = 2 is step 2
/// let r = TableTimestep::new(t.log_sigmas().to_vec(), true)?;
/// assert_eq!(r.noise_cond(-2.0 * 1.9f64.ln()), 2.0);
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableTimestep {
    log_sigmas: Vec<f64>,
    round: bool,
}

impl TableTimestep {
    /// A table of `ln σ_k`: at least two finite values, the first `N−1` strictly
    /// increasing, the last above the first (it may lie below its predecessors; see the
    /// type's docs).
    ///
    /// Errors: [`GdfError::Invalid`] otherwise.
    ///
    /// ```
    /// use gdf::noise_cond::{NoiseCond, TableTimestep};
    /// // The last σ (3) below its predecessor (5), as a zero-terminal-SNR table with
    /// // linear betas has it: σ = 3 is the last step, σ = 4 on the last segment.
    /// let ls = [0.5f64, 1.0, 5.0, 3.0].map(f64::ln).to_vec();
    /// let t = TableTimestep::new(ls, false)?;
    /// assert!((t.noise_cond(-2.0 * 3.0f64.ln()) - 3.0).abs() < 1e-12);
    /// let w = (5.0f64.ln() - 4.0f64.ln()) / (5.0f64.ln() - 3.0f64.ln());
    /// assert!((t.noise_cond(-2.0 * 4.0f64.ln()) - (2.0 + w)).abs() < 1e-12);
    /// assert!((t.noise_cond(-2.0 * 2.0f64.ln()) - (1.0 + 2.0f64.ln() / 5.0f64.ln())).abs() < 1e-12);
    /// assert!(TableTimestep::new(vec![0.0, 1.0, -1.0], false).is_err()); // last below the first
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn new(log_sigmas: Vec<f64>, round: bool) -> Result<Self> {
        let n = log_sigmas.len();
        if n < 2
            || log_sigmas.iter().any(|v| !v.is_finite())
            || log_sigmas[..n - 1].windows(2).any(|w| w[1] <= w[0])
            || log_sigmas[n - 1] <= log_sigmas[0]
        {
            return Err(GdfError::Invalid {
                message: format!(
                    "TableTimestep: log_sigmas has {n} values, expected at least 2 finite \
                     values, the first N−1 strictly increasing and the last above the first"
                ),
            });
        }
        Ok(Self { log_sigmas, round })
    }
    /// Whether the whole table increases (else only its last value is out of order, and
    /// the table has no device form).
    pub fn increasing(&self) -> bool {
        let n = self.log_sigmas.len();
        self.log_sigmas[n - 1] > self.log_sigmas[n - 2]
    }
    /// The table of `ln σ_k`.
    pub fn log_sigmas(&self) -> &[f64] {
        &self.log_sigmas
    }
    /// Whether the step is rounded to the nearest integer.
    pub fn round(&self) -> bool {
        self.round
    }
}

/// 4 float32 ulps (relative): how far below an out-of-order last knot a level still counts
/// as on it (see [`TableTimestep`]'s `cond`).
const LAST_KNOT_ULPS: f64 = 4.0 * f32::EPSILON as f64;

impl LogSnrFn for TableTimestep {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(
            out,
            "TableTimestep(log_sigmas = {:?}, round = {})",
            self.log_sigmas, self.round
        )
    }
}

impl NoiseCond for TableTimestep {
    fn cond<F: Real>(&self, l: F) -> F {
        let ls = -0.5 * l.as_f64();
        let t = &self.log_sigmas;
        let n = t.len();
        if ls == f64::INFINITY {
            // Pure noise (λ = −∞, DDIM's zero-terminal-SNR ᾱ = 0) is the last training step,
            // also where the table's last knot lies below its predecessor (σ 4096 after
            // 15406, where the segment rule would give N−2).
            return F::of(formula::step((n - 1) as f64, 0.0, self.round));
        }
        // The last knot ≤ ln σ, within [0, N−2]: the last segment when ln σ_{N−1} ≤ ln σ
        // (the only knot that may be out of order), else a search of the increasing rest.
        // Out of order, the rule jumps at ln σ_{N−1} (from a step of the increasing part to
        // N−1), so there a level within float32 rounding of the knot counts as on it: the
        // table is diffusers' float32 ln σ, the level that float32 σ widened to f64.
        let last = if self.increasing() {
            t[n - 1]
        } else {
            t[n - 1] - LAST_KNOT_ULPS * t[n - 1].abs().max(1.0)
        };
        let low = if last <= ls {
            n - 2
        } else {
            t[..n - 1]
                .partition_point(|&v| v <= ls)
                .saturating_sub(1)
                .min(n - 2)
        };
        // A level whose ln σ is within a float32 ulp of a knot is that training step exactly:
        // the table's own levels (float32 σ_k widened to f64, whose f64 ln differs from the
        // float32 knot in the last bits, by an ulp where float32 `ln` rounds the other way)
        // give k, as diffusers passes k for them.
        let on =
            |k: usize| ((ls as f32).to_bits() as i64 - (t[k] as f32).to_bits() as i64).abs() <= 1;
        let w = if on(low) {
            0.0
        } else if on(low + 1) {
            1.0
        } else {
            formula::weight(ls, t[low], t[low + 1])
        };
        F::of(formula::step(low as f64, w, self.round))
    }
}

/// The device state `[n, round (0 or 1), ln σ_0, …, ln σ_{n−1}]`.
#[cfg(gdf_kernel)]
pub(crate) fn write_state(t: &TableTimestep, out: &mut Vec<f64>) {
    out.push(t.log_sigmas.len() as f64);
    out.push(if t.round { 1.0 } else { 0.0 });
    out.extend_from_slice(&t.log_sigmas);
}

#[cfg(gdf_kernel)]
mod device {
    use super::*;
    use crate::noise_cond::{CubeNoiseCond, NoiseCondConsts};
    use cubecl::prelude::*;

    impl NoiseCondConsts for TableTimestep {}
    #[cube]
    impl CubeNoiseCond for TableTimestep {
        fn cond<F: Float>(l: F, state: &[F]) -> F {
            let n = u32::cast_from(state[0]);
            let ls = -l * F::new(0.5);
            // The number of knots ≤ ln σ (binary search over the increasing table).
            let mut lo = 0u32;
            let mut hi = n;
            while lo < hi {
                let mid = (lo + hi) / 2;
                if state[(2 + mid) as usize] <= ls {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            let low0 = select(lo == 0u32, 0u32, lo - 1);
            let low = select(low0 > n - 2, n - 2, low0);
            let w = formula::cube::weight::<F>(
                ls,
                state[(2 + low) as usize],
                state[(3 + low) as usize],
            );
            formula::cube::step::<F>(F::cast_from(low), w, state[1] > F::new(0.5))
        }
    }
}
