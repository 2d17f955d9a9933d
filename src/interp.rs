//! Piecewise-linear variance tables `v(t)` (schedules) and their inverse (noise conds).
//!
//! The segment formulas are shared by the host and the kernels; the segment search is written
//! per layout (a `Vec<f64>` here, the state buffer `[n, xs(n), ys(n)]` on the device).

use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::error::{GdfError, Result};
use crate::float::{linspace, Real};

/// The segment formulas (host, and `cube` on the device).
#[crate::formulas]
pub mod formula {
    /// Linear interpolation on the segment `(x0, y0)–(x1, y1)` at `t`.
    pub fn value<F: Float>(t: F, x0: F, x1: F, y0: F, y1: F) -> F {
        y0 + (t - x0) * (y1 - y0) / (x1 - x0)
    }

    /// The inverse on the segment: `t` where the segment takes the value `v`.
    pub fn inverse<F: Float>(v: F, x0: F, x1: F, y0: F, y1: F) -> F {
        x0 + (x1 - x0) * (v - y0) / (y1 - y0)
    }

    /// λ of a variance: `ln(v/(1−v))`.
    pub fn logit_of<F: Float>(v: F) -> F {
        logit::<F>(v)
    }
}

/// A piecewise-linear variance table `v(t)`: `xs` increasing, `ys` the variances (ᾱ).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    xs: Vec<f64>,
    ys: Vec<f64>,
}

/// The StableDiffusion table's parameters, with the rules `gdf!` applies (and the typed
/// components check at compile time, `konst::need::stable_diffusion`): both `linear_range`
/// ends within (0, 1), `lo < hi`, `total_steps` in `1..=2^20`.
pub(crate) fn check_stable_diffusion(linear_range: [f64; 2], total_steps: u64) -> Result<()> {
    use crate::konst::need;
    let out = |what, value, expected| {
        Err(GdfError::OutOfRange {
            what,
            value,
            expected,
        })
    };
    for b in linear_range {
        if !need::open_unit(b) {
            return out(
                "linear_range",
                b,
                "β values within (0, 1) (they are probabilities)",
            );
        }
    }
    if !need::ordered(linear_range[0], linear_range[1]) {
        return out(
            "linear_range",
            linear_range[1],
            "a range [lo, hi] with lo < hi",
        );
    }
    if !need::count(total_steps, 1) {
        return out(
            "total_steps",
            total_steps as f64,
            "a whole number in [1, 2^20]",
        );
    }
    Ok(())
}

impl Table {
    /// A table from knots `xs` (strictly increasing, at least 2) and values `ys` (same length).
    ///
    /// Errors: [`GdfError::Invalid`] when the lengths differ, there are fewer than two knots,
    /// `xs` is not strictly increasing, or a value is not finite.
    pub fn new(xs: Vec<f64>, ys: Vec<f64>) -> Result<Self> {
        let bad = |m: String| Err(GdfError::Invalid { message: m });
        if xs.len() != ys.len() {
            return bad(format!(
                "piecewise table: xs has {} knots but ys has {}, expected equal lengths",
                xs.len(),
                ys.len()
            ));
        }
        if xs.len() < 2 {
            return bad(format!(
                "piecewise table: {} knots, expected at least 2",
                xs.len()
            ));
        }
        if xs.iter().chain(&ys).any(|v| !v.is_finite()) {
            return bad("piecewise table: all knots and values must be finite".into());
        }
        if xs.windows(2).any(|w| w[1] <= w[0]) {
            return bad("piecewise table: xs must be strictly increasing".into());
        }
        Ok(Self { xs, ys })
    }

    /// The Stable Diffusion table: `xs = linspace(0, 1, N+1)`,
    /// `ys = cumprod(1 − (√β0·(1−x) + √β1·x)²)`.
    ///
    /// Errors ([`GdfError::OutOfRange`]), as `gdf!` and the parser check them: a
    /// `linear_range` end outside `(0, 1)` (β values are probabilities; NaN included) or not
    /// `lo < hi`, a `total_steps` outside `1..=2^20` (0 steps would leave a one-knot table
    /// that cannot be evaluated).
    ///
    /// ```
    /// use gdf::interp::Table;
    /// assert_eq!(Table::stable_diffusion([0.00085, 0.012], 1000)?.xs().len(), 1001);
    /// assert!(Table::stable_diffusion([0.00085, 0.012], 0).is_err());
    /// assert!(Table::stable_diffusion([-0.1, 0.012], 10).is_err());
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn stable_diffusion(linear_range: [f64; 2], total_steps: u64) -> Result<Self> {
        check_stable_diffusion(linear_range, total_steps)?;
        Ok(Self::stable_diffusion_unchecked(linear_range, total_steps))
    }

    /// [`Table::stable_diffusion`] for parameters already checked (type-level constants,
    /// parsed text).
    pub(crate) fn stable_diffusion_unchecked(linear_range: [f64; 2], total_steps: u64) -> Self {
        let xs = linspace(0.0, 1.0, total_steps as usize + 1);
        let (r0, r1) = (linear_range[0].sqrt(), linear_range[1].sqrt());
        let mut p = 1.0;
        let ys = xs
            .iter()
            .map(|&x| {
                let beta = (r0 * (1.0 - x) + r1 * x).powi(2);
                p *= 1.0 - beta;
                p
            })
            .collect();
        Self { xs, ys }
    }

    /// The knots.
    pub fn xs(&self) -> &[f64] {
        &self.xs
    }

    /// The values.
    pub fn ys(&self) -> &[f64] {
        &self.ys
    }

    /// `v(t)` by linear interpolation (extrapolating from the end segments).
    pub fn value<F: Real>(&self, t: F) -> F {
        let n = self.xs.len();
        // searchsorted_left(xs[..n-1], t) - 1, kept inside the segments.
        let k = self.xs[..n - 1].partition_point(|&x| F::of(x) < t);
        let i = k.saturating_sub(1).min(n - 2);
        let (x0, x1) = (F::of(self.xs[i]), F::of(self.xs[i + 1]));
        let (y0, y1) = (F::of(self.ys[i]), F::of(self.ys[i + 1]));
        formula::value(t, x0, x1, y0, y1)
    }

    /// λ of a variance table at `t`: `ln(v/(1−v))` of the interpolated variance.
    pub fn logsnr<F: Real>(&self, t: F) -> F {
        formula::logit_of(self.value(t))
    }

    /// The noise cond of a variance table: the `t` whose variance is `σ(λ)`.
    pub fn cond<F: Real>(&self, l: F) -> F {
        self.inverse(crate::float::sigmoid(l))
    }

    /// The inverse: `t` with `v(t) = v` for a decreasing table, by the original's segment
    /// rule (`idx = (n−2) − searchsorted_left(reverse(ys)[..n−2], v)`).
    pub fn inverse<F: Real>(&self, v: F) -> F {
        let n = self.ys.len();
        let k = if n > 2 {
            // reverse(ys)[..n-2] = ys[n-1], ys[n-2], …, ys[2], increasing for decreasing ys.
            let mut lo = 0usize;
            let mut hi = n - 2;
            while lo < hi {
                let mid = (lo + hi) / 2;
                if F::of(self.ys[n - 1 - mid]) < v {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        } else {
            0
        };
        let i = (n - 2) - k;
        let (x0, x1) = (F::of(self.xs[i]), F::of(self.xs[i + 1]));
        let (y0, y1) = (F::of(self.ys[i]), F::of(self.ys[i + 1]));
        formula::inverse(v, x0, x1, y0, y1)
    }
}

/// The table of a [`StableDiffusion`](crate::schedule::StableDiffusion) type, computed once per parameter set and cached.
pub(crate) fn sd_table(linear_range: [f64; 2], total_steps: u64) -> Arc<Table> {
    type Cache = Mutex<Vec<(([u64; 2], u64), Arc<Table>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = (
        [linear_range[0].to_bits(), linear_range[1].to_bits()],
        total_steps,
    );
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    let mut guard = match cache.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some((_, t)) = guard.iter().find(|(k, _)| *k == key) {
        return t.clone();
    }
    let t = Arc::new(Table::stable_diffusion_unchecked(linear_range, total_steps));
    guard.push((key, t.clone()));
    t
}

/// Writes a table's device state `[n, xs(n), ys(n)]`.
#[cfg(gdf_kernel)]
pub(crate) fn write_table_state(t: &Table, out: &mut Vec<f64>) {
    out.push(t.xs().len() as f64);
    out.extend_from_slice(t.xs());
    out.extend_from_slice(t.ys());
}

#[cfg(gdf_kernel)]
#[allow(missing_docs)]
mod device_fns {
    use super::*;
    #[allow(unused_imports)]
    use crate::formula::device::konst;
    #[allow(unused_imports)]
    use crate::konst::Const;
    use cubecl::prelude::*;

    /// `v(t)` of a table `[n, xs(n), ys(n)]` on the device (as [`Table::value`]).
    #[allow(missing_docs)]
    #[cubecl::cube]
    pub fn table_value<F: Float>(t: F, state: &[F]) -> F {
        let n = u32::cast_from(state[0]);
        // k = #{xs[..n-1] < t} (xs increasing): binary search.
        let mut lo = 0u32;
        let mut hi = n - 1;
        while lo < hi {
            let mid = (lo + hi) / 2;
            if state[(1 + mid) as usize] < t {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let i0 = select(lo == 0u32, 0u32, lo - 1);
        let i = select(i0 > n - 2, n - 2, i0);
        formula::cube::value::<F>(
            t,
            state[(1 + i) as usize],
            state[(2 + i) as usize],
            state[(1 + n + i) as usize],
            state[(2 + n + i) as usize],
        )
    }
    /// The inverse of a decreasing table `[n, xs(n), ys(n)]` on the device (as
    /// [`Table::inverse`]).
    #[allow(missing_docs)]
    #[cubecl::cube]
    pub fn table_inverse<F: Float>(v: F, state: &[F]) -> F {
        let n = u32::cast_from(state[0]);
        let mut lo = 0u32;
        let mut hi = select(n > 2u32, n - 2, 0u32);
        while lo < hi {
            let mid = (lo + hi) / 2;
            // reverse(ys)[mid] = ys[n - 1 - mid]
            if state[(1 + n + n - 1 - mid) as usize] < v {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let i = (n - 2) - lo;
        formula::cube::inverse::<F>(
            v,
            state[(1 + i) as usize],
            state[(2 + i) as usize],
            state[(1 + n + i) as usize],
            state[(2 + n + i) as usize],
        )
    }
}
#[cfg(gdf_kernel)]
pub use device_fns::{table_inverse, table_value};
