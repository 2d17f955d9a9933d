//! The adaptive buckets' shared update rule (AdaptiveTrain schedule, Adaptive loss weight).

use crate::error::{check_finite, check_len, GdfError, Result};

/// Shared bucket update: `p[i] ← β·p[i] + (1−β)·loss` with every right-hand side read from
/// the old values, then written in order (duplicate indices: last write wins, as torch).
pub(crate) fn update_buckets(
    values: &mut [f64],
    index: impl Fn(f64) -> usize,
    logsnr: &[f64],
    loss: &[f64],
    beta: f64,
) -> Result<()> {
    check_len("loss", logsnr.len(), loss.len())?;
    if !(0.0..=1.0).contains(&beta) {
        return Err(GdfError::OutOfRange {
            what: "beta",
            value: beta,
            expected: "a number in [0, 1]",
        });
    }
    check_finite("logSNR", logsnr)?;
    check_finite("loss", loss)?;
    let new: Vec<(usize, f64)> = logsnr
        .iter()
        .zip(loss)
        .map(|(&l, &x)| {
            let i = index(l);
            (i, values[i] * beta + x * (1.0 - beta))
        })
        .collect();
    for (i, v) in new {
        values[i] = v;
    }
    Ok(())
}
