//! Inpainting for models without an inpainting UNet: blend the known region back after every
//! step.

use crate::error::{check_finite, check_len, per_sample, GdfError, Result};
use crate::float::Real;

/// The known image and its mask, blended into the sample after every step (diffusers'
/// `StableDiffusionInpaintPipeline` for a 4-channel UNet, InvokeAI, ComfyUI's
/// `KSamplerX0Inpaint`):
///
/// `x ← (1 − mask)·(a'·known + b'·ε) + mask·x`
///
/// with `(a', b')` the level the step just reached and `ε` a **fixed** noise (the same every
/// step). After the last step the known image is blended in clean (`a' = 1, b' = 0`), as
/// diffusers does. `mask` is 1 where the model paints, 0 where the image is kept, anything
/// between for a soft edge (differential diffusion); it holds one value per element of a
/// sample (shared by the batch) or per element of the batch. The blend runs inside the fused
/// pass that finishes the step ([`Run::set_inpaint`](crate::solver::Run::set_inpaint)).
///
/// ```
/// use gdf::pipeline::Inpaint;
/// let known = vec![1.0f32, 2.0, 3.0, 4.0];
/// let eps = vec![0.0f32; 4];
/// let p = Inpaint::new(known, eps, vec![0.0, 1.0], 2)?; // per-sample mask, batch of 2
/// let mut x = vec![9.0f32; 4];
/// p.blend(&mut x, 1.0, 0.0)?;
/// assert_eq!(x, [1.0, 9.0, 3.0, 9.0]);
/// assert!(Inpaint::new(vec![0.0f32; 4], vec![0.0; 4], vec![1.5, 0.0], 2).is_err());
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Inpaint<F> {
    known: Vec<F>,
    eps: Vec<F>,
    mask: Vec<F>,
    batch: usize,
}

impl<F: Real> Inpaint<F> {
    /// The known image `known` (the clean latents, `batch` samples batch-major), the fixed
    /// normals `eps` (same length) and the `mask` (one sample's length, or the batch's; values
    /// in [0, 1]).
    pub fn new(known: Vec<F>, eps: Vec<F>, mask: Vec<F>, batch: usize) -> Result<Self> {
        let per = per_sample("known", known.len(), batch)?;
        check_len("eps", known.len(), eps.len())?;
        if mask.len() != per && mask.len() != known.len() {
            return Err(GdfError::LengthMismatch {
                what: "mask (one sample's elements, or the batch's)",
                expected: per,
                got: mask.len(),
            });
        }
        check_finite("known", &known)?;
        check_finite("eps", &eps)?;
        if let Some(i) = mask
            .iter()
            .position(|m| !(*m >= F::zero() && *m <= F::one()))
        {
            return Err(GdfError::OutOfRange {
                what: "mask",
                value: mask[i].as_f64(),
                expected: "values in [0, 1] (0 keeps the image, 1 lets the model paint)",
            });
        }
        Ok(Self {
            known,
            eps,
            mask,
            batch,
        })
    }

    /// The known image.
    pub fn known(&self) -> &[F] {
        &self.known
    }
    /// The fixed noise.
    pub fn eps(&self) -> &[F] {
        &self.eps
    }
    /// The mask (as given).
    pub fn mask(&self) -> &[F] {
        &self.mask
    }
    /// The batch size.
    pub fn batch(&self) -> usize {
        self.batch
    }
    /// The mask value of element `i` of the batch.
    #[inline(always)]
    pub(crate) fn mask_at(&self, i: usize) -> F {
        if self.mask.len() == self.known.len() {
            self.mask[i]
        } else {
            self.mask[i % self.mask.len()]
        }
    }

    /// Blends `x` (the batch) in place at the level `(a, b)`: the host reference of the fused
    /// pass. Errors: a length that does not match, a non-finite `a` or `b` (the level's
    /// coefficients are finite at every level, 0 and 1 at the ends).
    pub fn blend(&self, x: &mut [F], a: f64, b: f64) -> Result<()> {
        check_len("x", self.known.len(), x.len())?;
        crate::error::check_finite("(a, b) of the blend's level", &[a, b])?;
        self.blend_range(x, 0, F::of(a), F::of(b));
        Ok(())
    }

    /// Blends `x`, the elements `offset..offset + x.len()` of the batch.
    #[inline(always)]
    pub(crate) fn blend_range(&self, x: &mut [F], offset: usize, a: F, b: F) {
        for (k, v) in x.iter_mut().enumerate() {
            let i = offset + k;
            *v = super::formula::blend(*v, self.known[i], self.eps[i], self.mask_at(i), a, b);
        }
    }
}
