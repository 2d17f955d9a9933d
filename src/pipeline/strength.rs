//! img2img / partial denoising and the base/refiner hand-off, in the conventions users meet.
//!
//! A run over a [`Grid`] of `N` steps evaluates the model at grid points `0..N`. Partial
//! denoising starts at a later point `k` (the noised image there) and runs the grid's tail
//! ([`Grid::tail`]); a refiner hand-off splits one grid at a point (`head`/`tail`).
//!
//! - diffusers' img2img ([`diffusers_start`]): `init_timestep = min(⌊N·strength⌋, N)`,
//!   `t_start = max(N − init_timestep, 0)`, keep `timesteps[t_start·order:]`: the head of the
//!   `N`-step grid is dropped, the run makes `N − t_start` steps.
//! - ComfyUI's `denoise` ([`comfy_start`]): a grid of `⌊steps/denoise⌋` steps whose last
//!   `steps` are kept: the run always makes `steps` steps.
//! - SDXL's `denoising_end` / `denoising_start` ([`handoff_index`]): split where the model's
//!   timesteps cross `round(T·(1 − fraction))`.
//!
//! ```
//! use gdf::pipeline::strength;
//! use gdf::scaler::Vp;
//! use gdf::solver::Grid;
//!
//! // diffusers: 50 steps at strength 0.75 keep the last 37.
//! assert_eq!(strength::diffusers_start(50, 0.75)?, 13);
//! // ComfyUI: 20 steps at denoise 0.5 are the last 20 of a 40-step grid.
//! assert_eq!(strength::comfy_start(20, 0.5)?, (40, 20));
//! let grid = Grid::new(&Vp, &[-4.0, -2.0, 0.0, 2.0, 4.0])?;
//! let tail = grid.tail(strength::diffusers_start(4, 0.5)?)?;
//! assert_eq!(tail.steps(), 2);
//! assert_eq!(tail.level(0).lam, 0.0);
//! let x = strength::noised_start(&tail, &[1.0f64, -1.0], &[0.5, 0.5])?;
//! let a = (0.5f64).sqrt(); // VP at λ = 0: a = b = √½
//! assert!((x[0] - a * 1.5).abs() < 1e-15 && (x[1] + a * 0.5).abs() < 1e-15);
//! # Ok::<(), gdf::GdfError>(())
//! ```

use crate::error::{check_finite, check_len, GdfError, Result};
use crate::float::Real;
use crate::solver::Grid;

/// diffusers' img2img start (`StableDiffusionImg2ImgPipeline.get_timesteps`): the first grid
/// point `t_start = max(steps − min(⌊steps·strength⌋, steps), 0)` of a `steps`-step grid.
/// For a scheduler of order `o` diffusers slices its timesteps at `t_start·o`, which is the
/// same grid point. `strength` must lie in [0, 1]; at 0 the whole grid is dropped
/// (`t_start = steps`, no step left), which is an error, as diffusers refuses it too.
pub fn diffusers_start(steps: usize, strength: f64) -> Result<usize> {
    if !(0.0..=1.0).contains(&strength) {
        return Err(GdfError::OutOfRange {
            what: "strength",
            value: strength,
            expected: "a number in [0, 1] (1 = start from pure noise)",
        });
    }
    check_steps(steps)?;
    let init = ((steps as f64 * strength) as usize).min(steps);
    let start = steps.saturating_sub(init);
    if start == steps {
        return Err(GdfError::Invalid {
            message: format!(
                "strength {strength} with {steps} steps leaves no step to run \
                 (⌊steps·strength⌋ = 0); raise the strength or the number of steps"
            ),
        });
    }
    Ok(start)
}

/// ComfyUI's `denoise` (`KSampler.set_steps`): a grid of `total = ⌊steps/denoise⌋` steps of
/// which the last `steps` run; returns `(total, start)` with `start = total − steps`, the
/// grid point the run starts at (build the `total`-step grid, then [`Grid::tail`]`(start)`).
/// `denoise` must lie in (0, 1].
pub fn comfy_start(steps: usize, denoise: f64) -> Result<(usize, usize)> {
    if !(denoise > 0.0 && denoise <= 1.0) {
        return Err(GdfError::OutOfRange {
            what: "denoise",
            value: denoise,
            expected: "a number in (0, 1] (1 = the full grid)",
        });
    }
    check_steps(steps)?;
    let total = (steps as f64 / denoise) as usize;
    if total > u32::MAX as usize {
        return Err(GdfError::OutOfRange {
            what: "steps / denoise",
            value: steps as f64 / denoise,
            expected: "at most 2³² − 1 grid steps",
        });
    }
    Ok((total, total.max(steps) - steps))
}

/// The grid point where a base model hands over to a refiner at `fraction` of the way
/// (SDXL's `denoising_end` on the base = `denoising_start` on the refiner). `timesteps` are
/// the model's timesteps at grid points `0..N` (one per step, noisiest first, e.g. 999…0 on a
/// 1000-step training scale of `num_train`); diffusers' cutoff is
/// `c = round(num_train·(1 − fraction))` (Python's `int(round(…))`, half to even). The base
/// runs `grid.head(k)`, the refiner `grid.tail(k)`, where for a first-order solver `k` is the
/// number of timesteps `≥ c`, and for a second-order one (Heun, DPM-2: `order = 2`) one
/// fewer, as diffusers' refiner does (it adds one to an even count of its duplicated
/// timesteps, so it starts a point earlier; diffusers' base then ends with one dangling
/// first-stage evaluation, which gdf does not make).
///
/// Errors: `fraction` outside `[0, 1]`, `order` other than 1 or 2, a non-finite timestep, no
/// timesteps, `num_train` outside `1..=MAX_STEPS`.
///
/// ```
/// use gdf::pipeline::strength::handoff_index;
/// use gdf::scaler::Vp;
/// use gdf::solver::Grid;
/// // 40 leading-spaced SDXL timesteps 976, 951, …, 1; denoising_end = 0.8 → cutoff 200.
/// let ts: Vec<f64> = (0..40).map(|i| 976.0 - 25.0 * i as f64).collect();
/// let k = handoff_index(&ts, 0.8, 1000, 1)?;
/// assert_eq!(k, 32); // the base runs 976 … 201, the refiner 176 … 1
/// let lams: Vec<f64> = (0..=40).map(|i| -8.0 + 0.4 * i as f64).collect();
/// let grid = Grid::new(&Vp, &lams)?;
/// let (base, refiner) = (grid.head(k)?, grid.tail(k)?);
/// assert_eq!((base.steps(), refiner.steps()), (32, 8));
/// assert_eq!(base.level(32), refiner.level(0)); // the refiner starts where the base ends
/// # Ok::<(), gdf::GdfError>(())
/// ```
pub fn handoff_index(
    timesteps: &[f64],
    fraction: f64,
    num_train: usize,
    order: usize,
) -> Result<usize> {
    if !(0.0..=1.0).contains(&fraction) {
        return Err(GdfError::OutOfRange {
            what: "denoising_end/denoising_start",
            value: fraction,
            expected: "a fraction in [0, 1]",
        });
    }
    if !(1..=2).contains(&order) {
        return Err(GdfError::OutOfRange {
            what: "order",
            value: order as f64,
            expected: "1 (one evaluation per timestep) or 2 (Heun-like)",
        });
    }
    check_finite("timesteps", timesteps)?;
    check_steps(timesteps.len())?;
    crate::grid::check_count("num_train", num_train)?;
    let t = num_train as f64;
    let cutoff = (t - fraction * t).round_ties_even();
    let n = timesteps.len();
    let below = timesteps.iter().filter(|&&ts| ts < cutoff).count();
    Ok(match order {
        1 => n - below,
        _ if below == n => 0,
        _ => n - below - 1,
    })
}

/// The noised start of partial denoising: `x = a_0·image + b_0·ε` at the grid's first level
/// (diffusers' `scheduler.add_noise(image, noise, timesteps[:1])`, GDF's `diffuse`), with the
/// given standard normals `eps`. `image` and `eps` have the same length.
pub fn noised_start<F: Real>(grid: &Grid, image: &[F], eps: &[F]) -> Result<Vec<F>> {
    check_len("eps", image.len(), eps.len())?;
    check_finite("image", image)?;
    check_finite("eps", eps)?;
    let l = grid.level(0);
    if !(l.a.is_finite() && l.b.is_finite()) {
        return Err(GdfError::NonFinite {
            what: "first level (a, b) of the grid",
            index: 0,
            value: if l.a.is_finite() { l.b } else { l.a },
        });
    }
    let (a, b) = (F::of(l.a), F::of(l.b));
    Ok(image
        .iter()
        .zip(eps)
        .map(|(&x, &e)| a * x + b * e)
        .collect())
}

fn check_steps(steps: usize) -> Result<()> {
    if steps == 0 {
        return Err(GdfError::OutOfRange {
            what: "steps",
            value: 0.0,
            expected: "at least 1 step",
        });
    }
    Ok(())
}
