//! A sampling grid as a schedule, so that `Gdf::sample_with` steps through exactly its
//! levels.

use core::fmt;

use super::Grid;
use crate::component::LogSnrFn;
use crate::error::{GdfError, Result};
use crate::float::{sigmoid, Real};
use crate::schedule::Schedule;

/// A [`Grid`] as a schedule: the `len` levels sit at `t_i = linspace(1, 0, len)[i]`, the
/// `t` values [`Gdf::sample_with`](crate::framework::Gdf::sample_with) visits with
/// `timesteps = len − 1`, `t_start = 1`, `t_end = 0`; so sampling steps through exactly the
/// grid, noisiest level first. A `t` within 1e-4 of a knot spacing from `t_i` gives `λ_i`
/// exactly (in either precision); between knots λ is interpolated linearly, or linearly in
/// the variance `sigmoid(λ)` next to an infinite level.
///
/// ```
/// use gdf::prelude::*;
/// use gdf::grid::kdiffusion::Karras;
/// let grid = Karras::default().grid(10)?;
/// let s = grid.schedule()?;
/// let (_, l) = gdf::sample::sampling_grid(&s, 10, 1.0f64, 0.0, 1.0)?;
/// assert_eq!(l, grid.logsnr); // ends at λ = +∞ (σ = 0)
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct GridSchedule {
    logsnr: Vec<f64>,
}

impl Grid {
    /// The grid as a [`GridSchedule`].
    ///
    /// Errors: [`GdfError::OutOfRange`] for fewer than 2 levels; [`GdfError::Invalid`] for a
    /// NaN level or levels that decrease (a grid runs from noisy to clean).
    pub fn schedule(&self) -> Result<GridSchedule> {
        GridSchedule::new(self.logsnr.clone())
    }
}

impl GridSchedule {
    /// A schedule through the given λ levels, noisiest first (see the type docs).
    pub fn new(logsnr: Vec<f64>) -> Result<Self> {
        if logsnr.len() < 2 {
            return Err(GdfError::OutOfRange {
                what: "grid levels",
                value: logsnr.len() as f64,
                expected: "at least 2 levels",
            });
        }
        if let Some(i) = logsnr.iter().position(|l| l.is_nan()) {
            return Err(GdfError::Invalid {
                message: format!("grid level {i} is NaN"),
            });
        }
        if let Some(i) = logsnr.windows(2).position(|w| w[1] < w[0]) {
            return Err(GdfError::Invalid {
                message: format!(
                    "grid levels must not decrease (noisiest first), but λ[{}] = {} < λ[{i}] = {}",
                    i + 1,
                    logsnr[i + 1],
                    logsnr[i]
                ),
            });
        }
        Ok(Self { logsnr })
    }

    /// The levels.
    pub fn levels(&self) -> &[f64] {
        &self.logsnr
    }
}

impl LogSnrFn for GridSchedule {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "GridSchedule(levels = {})", self.logsnr.len())
    }
}

impl Schedule for GridSchedule {
    fn name(&self) -> &'static str {
        "GridSchedule"
    }
    fn f<F: Real>(&self, t: F) -> F {
        let n = self.logsnr.len();
        let m = (n - 1) as f64;
        // Position along the grid: 0 at t = 1 (noisiest), n − 1 at t = 0.
        let pos = (1.0 - t.as_f64()) * m;
        let k = pos.round();
        if (pos - k).abs() < 1e-4 && k >= 0.0 && k <= m {
            return F::of(self.logsnr[k as usize]);
        }
        let pos = pos.clamp(0.0, m);
        let i = (pos.floor() as usize).min(n - 2);
        let w = pos - i as f64;
        let (a, b) = (self.logsnr[i], self.logsnr[i + 1]);
        let l = if a.is_finite() && b.is_finite() {
            a + w * (b - a)
        } else {
            let v = sigmoid(a) + w * (sigmoid(b) - sigmoid(a));
            (v / (1.0 - v)).ln()
        };
        F::of(l)
    }
}
