//! Sampling: the guided sampling loop as a step-by-step driver (SPEC §7).

use crate::error::{check_finite, GdfError, Result};
use crate::float::Real;
use crate::schedule::Schedule;

/// The sampling grid: `r = linspace(t_start, t_end, timesteps + 1)` and
/// `λ_i = schedule(r_i, shift)` (limits apply). Returns `(r, λ)`, both of length
/// `timesteps + 1`.
///
/// Errors: `timesteps == 0`, non-finite `t_start`/`t_end`/`shift`, a training-only schedule.
///
/// ```
/// use gdf::schedule::Cosine;
/// let (r, l) = gdf::sample::sampling_grid(&Cosine::<>::new(), 4, 1.0f64, 0.0, 1.0)?;
/// assert_eq!(r, vec![1.0, 0.75, 0.5, 0.25, 0.0]);
/// assert_eq!(l[0], -9.21024036697585);
/// # Ok::<(), gdf::GdfError>(())
/// ```
pub fn sampling_grid<S: Schedule, F: Real>(
    schedule: &S,
    timesteps: usize,
    t_start: F,
    t_end: F,
    shift: F,
) -> Result<(Vec<F>, Vec<F>)> {
    if timesteps == 0 {
        return Err(GdfError::OutOfRange {
            what: "timesteps",
            value: 0.0,
            expected: "at least 1 sampling step",
        });
    }
    check_finite("t_start", &[t_start])?;
    check_finite("t_end", &[t_end])?;
    let r = linspace_f(t_start, t_end, timesteps + 1);
    let mut l = vec![F::zero(); r.len()];
    schedule.logsnr_into(&r, shift, &mut l)?;
    Ok((r, l))
}

/// `torch.linspace` in F: the first half counts up from `a`, the second down from `b`.
pub(crate) fn linspace_f<F: Real>(a: F, b: F, n: usize) -> Vec<F> {
    if n == 1 {
        return vec![a];
    }
    let step = (b - a) / F::of((n - 1) as f64);
    let half = n / 2;
    (0..n)
        .map(|i| {
            if i < half {
                a + step * F::of(i as f64)
            } else {
                b - step * F::of((n - 1 - i) as f64)
            }
        })
        .collect()
}
