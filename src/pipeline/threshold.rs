//! x0 thresholding: diffusers' `clip_sample` and dynamic thresholding (Saharia et al. 2022,
//! "Imagen"; diffusers' `thresholding`).

use super::formula;
use crate::error::{check_finite, per_sample, GdfError, Result};
use crate::float::Real;

/// What a run does to every x0-prediction before the solver's update (diffusers applies it to
/// `pred_original_sample` in `step`, or to the converted output in DPM-Solver/UniPC).
///
/// ```
/// use gdf::pipeline::Threshold;
/// // diffusers' `clip_sample=True, clip_sample_range=1.0`:
/// let clip = Threshold::clip(1.0)?;
/// let mut x0 = vec![1.5f64, -0.5, -3.0];
/// clip.apply(&mut x0, 1)?;
/// assert_eq!(x0, [1.0, -0.5, -1.0]);
/// // `thresholding=True, dynamic_thresholding_ratio=0.5, sample_max_value=2.0`: the median of
/// // |x0| = (1.5, 3.0, 4.0) is 3.0, clamped to s = 2, so x0 ← clamp(x0, −2, 2)/2.
/// let dynamic = Threshold::dynamic(0.5, 2.0)?;
/// let mut x0 = vec![1.5f64, -3.0, 4.0];
/// dynamic.apply(&mut x0, 1)?;
/// assert_eq!(x0, [0.75, -1.0, 1.0]);
/// assert!(Threshold::dynamic(1.5, 2.0).is_err()); // the ratio is a quantile in [0, 1]
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Threshold {
    /// Nothing (diffusers' `clip_sample=False, thresholding=False`).
    #[default]
    None,
    /// `x0 ← clamp(x0, −range, range)` (`clip_sample`, `clip_sample_range`).
    Clip {
        /// The range (> 0).
        range: f64,
    },
    /// Per sample, `s = clamp(quantile(|x0|, ratio), 1, max_value)`, then
    /// `x0 ← clamp(x0, −s, s)/s` (`thresholding`, `dynamic_thresholding_ratio`,
    /// `sample_max_value`). The quantile is `torch.quantile`'s (linear interpolation between
    /// the order statistics around `ratio·(n − 1)`, see [`quantile_abs`]).
    Dynamic {
        /// The quantile of `|x0|` (in [0, 1]; diffusers' default 0.995).
        ratio: f64,
        /// The largest scale (≥ 1; diffusers' default 1.0).
        max_value: f64,
    },
}

impl Threshold {
    /// x0 clipping to `±range` (`range` finite and > 0).
    pub fn clip(range: f64) -> Result<Self> {
        let t = Threshold::Clip { range };
        t.validate()?;
        Ok(t)
    }

    /// Dynamic thresholding (`ratio` in [0, 1], `max_value` finite and ≥ 1).
    pub fn dynamic(ratio: f64, max_value: f64) -> Result<Self> {
        let t = Threshold::Dynamic { ratio, max_value };
        t.validate()?;
        Ok(t)
    }

    /// Checks the settings (typed errors naming the field).
    pub fn validate(&self) -> Result<()> {
        match *self {
            Threshold::None => Ok(()),
            Threshold::Clip { range } => {
                if range.is_finite() && range > 0.0 {
                    Ok(())
                } else {
                    Err(GdfError::OutOfRange {
                        what: "clip_sample_range",
                        value: range,
                        expected: "a finite number > 0",
                    })
                }
            }
            Threshold::Dynamic { ratio, max_value } => {
                if !(0.0..=1.0).contains(&ratio) {
                    return Err(GdfError::OutOfRange {
                        what: "dynamic_thresholding_ratio",
                        value: ratio,
                        expected: "a quantile in [0, 1] (diffusers' default 0.995)",
                    });
                }
                if !(max_value.is_finite() && max_value >= 1.0) {
                    return Err(GdfError::OutOfRange {
                        what: "sample_max_value",
                        value: max_value,
                        expected: "a finite number >= 1 (the scale is clamped to [1, max])",
                    });
                }
                Ok(())
            }
        }
    }

    /// Whether the stage does anything.
    pub fn is_none(&self) -> bool {
        matches!(self, Threshold::None)
    }

    /// The per-sample scales `s` of dynamic thresholding for `x0` (`batch` samples,
    /// batch-major) into `out` (resized to `batch`); `scratch` is reused between calls. Clip
    /// and None give `s = 1`.
    pub fn scales<F: Real>(
        &self,
        x0: &[F],
        batch: usize,
        scratch: &mut Vec<F>,
        out: &mut Vec<F>,
    ) -> Result<()> {
        let per = per_sample("x0", x0.len(), batch)?;
        out.clear();
        match *self {
            Threshold::Dynamic { ratio, max_value } => {
                for s in 0..batch {
                    let q = quantile_abs(&x0[s * per..(s + 1) * per], ratio, scratch)?;
                    out.push(formula::dynamic_scale(q, F::of(max_value)));
                }
            }
            _ => out.resize(batch, F::one()),
        }
        Ok(())
    }

    /// Applies the stage in place to `x0` (`batch` samples, batch-major): the host reference
    /// the fused passes reproduce.
    ///
    /// Errors: a non-finite element (the quantile would be meaningless), a batch that does
    /// not divide the length.
    pub fn apply<F: Real>(&self, x0: &mut [F], batch: usize) -> Result<()> {
        self.validate()?;
        let per = per_sample("x0", x0.len(), batch)?;
        match *self {
            Threshold::None => {}
            Threshold::Clip { range } => {
                // as documented (the dynamic branch's quantile checks each sample): a NaN
                // would pass a clip unchanged, silently
                crate::error::check_finite("x0", x0)?;
                let r = F::of(range);
                x0.iter_mut().for_each(|v| *v = formula::clip(*v, r));
            }
            Threshold::Dynamic { .. } => {
                let (mut scratch, mut s) = (Vec::new(), Vec::new());
                self.scales(x0, batch, &mut scratch, &mut s)?;
                for (chunk, &s) in x0.chunks_mut(per).zip(&s) {
                    chunk
                        .iter_mut()
                        .for_each(|v| *v = formula::thresholded(*v, s));
                }
            }
        }
        Ok(())
    }
}

/// `torch.quantile(|xs|, ratio)` (linear interpolation): with the rank
/// `r = ratio·(n − 1)`, the order statistics `v_lo = |x|_(⌊r⌋)` and `v_hi = |x|_(⌈r⌉)`
/// interpolated by `torch.lerp(v_lo, v_hi, r − ⌊r⌋)` in `F`. As torch (2.15) does, `ratio` is
/// first rounded to `F` (torch makes `q` a tensor of the sample's dtype) and the rank and its
/// fraction are computed in f64, the fraction then rounded to `F`: for an f32 sample the rank
/// is not the f32 product (0.999·999 is 998.00101… in f64 from f32(0.999), 998.00104 in f32).
/// torch's CPU (AVX2/AVX512) and CUDA builds contract the lerp into a fused multiply-add, gdf
/// rounds the product and the sum separately: the quantile can differ from torch's in its
/// last bit. Exact selection (no sort of the whole sample); `scratch` is reused.
///
/// ```
/// use gdf::pipeline::quantile_abs;
/// let mut scratch = Vec::new();
/// // |x| sorted: 1, 2, 3, 4; r = 0.5·3 = 1.5 → 2 + 0.5·(3 − 2)
/// assert_eq!(quantile_abs(&[-4.0f64, 1.0, 3.0, -2.0], 0.5, &mut scratch)?, 2.5);
/// assert!(quantile_abs(&[f64::NAN], 0.5, &mut scratch).is_err());
/// # Ok::<(), gdf::GdfError>(())
/// ```
pub fn quantile_abs<F: Real>(xs: &[F], ratio: f64, scratch: &mut Vec<F>) -> Result<F> {
    if xs.is_empty() {
        return Err(GdfError::EmptyBatch {
            what: "sample (quantile)",
        });
    }
    if !(0.0..=1.0).contains(&ratio) {
        return Err(GdfError::OutOfRange {
            what: "dynamic_thresholding_ratio",
            value: ratio,
            expected: "a quantile in [0, 1]",
        });
    }
    check_finite("x0 (dynamic thresholding)", xs)?;
    scratch.clear();
    scratch.extend(xs.iter().map(|v| v.abs()));
    let n = scratch.len();
    let (klo, khi, w) = quantile_rank::<F>(n, ratio);
    let cmp = |a: &F, b: &F| a.partial_cmp(b).expect("finite values");
    let (_, &mut vlo, upper) = scratch.select_nth_unstable_by(klo, cmp);
    let vhi = if khi == klo {
        vlo
    } else {
        // The next order statistic is the smallest of the upper part.
        upper.iter().copied().fold(F::infinity(), F::min)
    };
    Ok(formula::lerp(vlo, vhi, w))
}

/// `torch.quantile`'s rank for a sample of `n ≥ 1` values of type `F`: `r = q·(n − 1)` in f64
/// with `q = ratio` rounded to `F`; returns `(⌊r⌋, ⌈r⌉, r − ⌊r⌋ rounded to F)` (the host's
/// quantile and the device kernel's share it). `r ≤ n − 1`, as `q ≤ 1` and `n − 1` is exact.
pub(crate) fn quantile_rank<F: Real>(n: usize, ratio: f64) -> (usize, usize, F) {
    let r = F::of(ratio).as_f64() * (n - 1) as f64;
    let lo = r.floor();
    let last = n - 1;
    (
        (lo as usize).min(last),
        (r.ceil() as usize).min(last),
        F::of(r - lo),
    )
}
