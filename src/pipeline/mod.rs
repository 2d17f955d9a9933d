//! Pipeline operations on top of the solver loop ([`crate::solver::Run`] on the host,
//! `kernel::solver::DeviceRun` on the device): what diffusers' and ComfyUI's pipelines do
//! around the scheduler.
//!
//! - [`Threshold`]: x0 clipping (`clip_sample`) and Imagen's dynamic thresholding
//!   (`thresholding`), an optional stage of the fused step applied to the x0-prediction
//!   before the solver's update, where diffusers applies it.
//! - [`strength`]: img2img / partial denoising with `strength` (diffusers drops the head of
//!   the grid) or `denoise` (ComfyUI keeps the tail), the noised start, and the base/refiner
//!   hand-off at `denoising_end` / `denoising_start`.
//! - [`Inpaint`]: after every step, the known region is re-noised to the step's new level with
//!   a fixed ε and blended by a per-element (soft) mask, inside the step's fused pass.
//! - [`half`]: f16/bf16 latent buffers in and out of a run whose arithmetic stays in f32.
//! - [`invert`]: DDIM inversion, a clean sample walked up a grid to the noise that samples
//!   back into it (diffusers' `DDIMInverseScheduler`); on the device
//!   `kernel::invert::DeviceInversion`, one launch per step.
//!
//! ```
//! use gdf::pipeline::{strength, Inpaint, Threshold};
//! use gdf::scaler::Vp;
//! use gdf::solver::{DpmSolverMultistep, Grid, NoNoise, Run};
//!
//! let grid = Grid::new(&Vp, &[-6.0, -4.0, -2.0, 0.0, 2.0, 4.0, f64::INFINITY])?;
//! // img2img at strength 0.5: diffusers keeps the last 3 of the 6 steps.
//! let start = strength::diffusers_start(grid.steps(), 0.5)?;
//! let grid = grid.tail(start)?;
//! let (image, eps) = (vec![0.9f64, -0.4, 0.2, 1.3], vec![0.1, -1.0, 0.5, 0.3]);
//! let x_init = strength::noised_start(&grid, &image, &eps)?;
//! let mut run = Run::new(DpmSolverMultistep::new(), grid, x_init, 1, NoNoise)?;
//! run.set_threshold(Threshold::dynamic(0.995, 1.5)?)?;
//! // Keep the first two elements, repaint the others.
//! run.set_inpaint(Inpaint::new(image.clone(), eps.clone(), vec![0.0, 0.0, 1.0, 1.0], 1)?)?;
//! let x = run.run(|_x, _level, d| {
//!     d.copy_from_slice(&[3.0, -3.0, 0.25, 0.5]);
//!     Ok(())
//! })?;
//! assert_eq!(&x[..2], &image[..2]); // the known region ends as the image itself
//! # Ok::<(), gdf::GdfError>(())
//! ```

pub mod half;
mod inpaint;
pub mod invert;
pub mod strength;
pub(crate) mod threshold;

pub use half::{Half, HalfRun};
pub use inpaint::Inpaint;
pub use threshold::{quantile_abs, Threshold};

/// The pipeline formulas, host and `#[cube]` from one source (see [`crate::formula`]).
#[crate::formulas]
pub mod formula {
    /// diffusers' `clip_sample`: `clamp(x0, −range, range)`.
    pub fn clip<F: Float>(x0: F, range: F) -> F {
        clamp::<F>(x0, -range, range)
    }
    /// Dynamic thresholding's per-sample scale from the quantile `q` of `|x0|`:
    /// `s = clamp(q, 1, max_value)`.
    pub fn dynamic_scale<F: Float>(q: F, max_value: F) -> F {
        clamp::<F>(q, F::new(1.0), max_value)
    }
    /// Dynamic thresholding of one element with its sample's scale: `clamp(x0, −s, s)/s`
    /// (the IEEE quotient on the device too, so device and host agree bit for bit).
    pub fn thresholded<F: Float>(x0: F, s: F) -> F {
        div_rn::<F>(clamp::<F>(x0, -s, s), s)
    }
    /// DDIM's thresholded step keeps ε from the raw prediction (diffusers'
    /// `use_clipped_model_output=False`): in a first-order step `x' = a'·x0 + b'·ε` that is the
    /// plain step with the x0-prediction `w·thresholded + (1 − w)·raw`, `w = a'/(a' − a·b'/b)`.
    pub fn raw_eps_mix<F: Float>(thresholded: F, raw: F, w: F) -> F {
        w * thresholded + (F::new(1.0) - w) * raw
    }
    /// The deterministic DDIM update toward the level `(a, b)` from the recovered `x0` and
    /// `ε`: `a·x0 + b·ε` (DDIM inversion's step).
    pub fn renoise<F: Float>(x0: F, eps: F, a: F, b: F) -> F {
        a * x0 + b * eps
    }
    /// `torch.lerp(lo, hi, w)` (the form `torch.quantile` interpolates with).
    pub fn lerp<F: Float>(lo: F, hi: F, w: F) -> F {
        let d = hi - lo;
        select(w < F::new(0.5), lo + w * d, hi - d * (F::new(1.0) - w))
    }
    /// The inpainting blend: the known image re-noised to the level `(a, b)` with the fixed
    /// noise, kept where `mask = 0`, the sample kept where `mask = 1`:
    /// `(1 − mask)·(a·known + b·ε) + mask·x`.
    pub fn blend<F: Float>(x: F, known: F, eps: F, mask: F, a: F, b: F) -> F {
        (F::new(1.0) - mask) * (a * known + b * eps) + mask * x
    }
}
