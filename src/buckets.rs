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
    check_nonneg_losses("loss", loss)?;
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

/// Refuses a negative loss: the buckets hold running means of per-sample losses (mean
/// squared errors), which a negative value would turn into a negative draw weight
/// (AdaptiveTrain) or a negative loss weight (Adaptive).
pub(crate) fn check_nonneg_losses(what: &'static str, loss: &[f64]) -> Result<()> {
    match loss.iter().position(|&x| x < 0.0) {
        None => Ok(()),
        Some(i) => Err(GdfError::OutOfRange {
            what,
            value: loss[i],
            expected: "values ≥ 0 (running means of per-sample losses, e.g. mean squared \
                       errors)",
        }),
    }
}

/// Checks AdaptiveTrain's draw weights: `p_i + min_probs` must sum to a finite number
/// `> 0`, or the normalised probabilities are 0/0 (NaN) or x/∞ (every bucket 0) and the
/// draw silently picks the last bucket.
pub(crate) fn check_draw_weights(probs: &[f64], min_probs: f64) -> Result<()> {
    check_finite("bucket_probs", probs)?;
    check_nonneg_losses("bucket_probs", probs)?;
    let total: f64 = probs.iter().map(|p| p + min_probs).sum();
    if !(total.is_finite() && total > 0.0) {
        return Err(GdfError::OutOfRange {
            what: "Σ (bucket_probs + min_probs)",
            value: total,
            expected: "a finite number > 0 (the draw normalises by it; all-zero losses with \
                       min_probs = 0, or losses so large the sum overflows, leave no \
                       distribution to draw from)",
        });
    }
    Ok(())
}
