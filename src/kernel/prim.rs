//! Device primitives: the counter-based noise's layout (its transform is
//! [`crate::noise::formula`], shared with the host) and the small scalar helpers the
//! formulas' device vocabulary uses.

use cubecl::prelude::*;

use crate::noise::formula::cube as noise;

#[allow(unused_imports)]
use crate::konst::Const;

/// The logistic sigmoid `1/(1+e^-x)` (as [`crate::float::sigmoid`]).
#[cube]
pub fn sigmoid<F: Float>(x: F) -> F {
    F::new(1.0) / (F::new(1.0) + F::exp(-x))
}

/// `torch.clamp` semantics (as the host's `clamp`): NaN stays NaN, `lo` wins when `lo > hi`.
///
/// The NaN test is explicit (a bit test in cubecl's WGSL lowering): WGSL lets a driver assume
/// NaN-free arithmetic, and NVIDIA's Vulkan compiler turns the two selects into `max`/`min`,
/// which return the bound for a NaN input (seen on an H100: `clamp(NaN, −1e9, 1e9) = −1e9`).
#[cube]
pub fn clamp<F: Float>(x: F, lo: F, hi: F) -> F {
    let y = select(x < lo, lo, x);
    select(f32::is_nan(f32::cast_from(x)), x, select(y > hi, hi, y))
}

/// `ln(v/(1−v))`.
#[cube]
pub fn logit<F: Float>(v: F) -> F {
    F::ln(v / (F::new(1.0) - v))
}

/// A `f64` hyperparameter as a kernel constant (rounded to `f32`, like the host's `F::of` in
/// f32).
#[cube]
pub fn konst<F: Float>(#[comptime] x: f64) -> F {
    F::new(comptime!(x as f32))
}

/// The four normals of Philox block `block` of the stream `(seed, purpose, sample, step)`:
/// output `m` is element `4·block + m` (see [`crate::noise`] for the layout).
#[cube]
pub fn normal_block(
    seed_lo: u32,
    seed_hi: u32,
    purpose: u32,
    sample: u32,
    step: u32,
    block: u32,
) -> (f32, f32, f32, f32) {
    let (w0, w1, w2, w3) = noise::philox4x32(block, sample, step, purpose, seed_lo, seed_hi);
    noise::normals4(w0, w1, w2, w3)
}

/// The standard normal of element `index` (as [`crate::noise::normal`]): output
/// `index mod 4` of block `index / 4`.
#[cube]
pub fn normal(seed_lo: u32, seed_hi: u32, purpose: u32, sample: u32, step: u32, index: u32) -> f32 {
    let (z0, z1, z2, z3) = normal_block(seed_lo, seed_hi, purpose, sample, step, index / 4u32);
    pick4(z0, z1, z2, z3, index % 4u32)
}

/// Output `m` (0..4) of a block's four normals.
#[cube]
pub fn pick4(z0: f32, z1: f32, z2: f32, z3: f32, m: u32) -> f32 {
    select(
        m == 0u32,
        z0,
        select(m == 1u32, z1, select(m == 2u32, z2, z3)),
    )
}

/// The vector of `W` values whose first element is element `j0` of its stream, from the four
/// outputs `z` of block `j0 / 4` (each lane as [`lane_normal()`]).
#[cube]
pub fn block_vector<F: Float, W: Size>(z: (f32, f32, f32, f32), j0: u32) -> Vector<F, W> {
    let w = W::value();
    let (z0, z1, z2, z3) = z;
    let mut v = Vector::<F, W>::empty();
    #[unroll]
    for k in 0..w {
        v.insert(k, F::cast_from(lane_normal(z0, z1, z2, z3, j0, k, w)));
    }
    v
}

/// The normal of lane `l` of a `width`-value vector whose first element is element `j0` of
/// its stream, given the four outputs of block `j0 / 4`: with four lanes (`j0` a multiple of
/// 4) lane `l` is output `l`, chosen at expansion time; with one, output `j0 mod 4`.
#[cube]
pub fn lane_normal(
    z0: f32,
    z1: f32,
    z2: f32,
    z3: f32,
    j0: u32,
    #[comptime] l: usize,
    #[comptime] width: usize,
) -> f32 {
    if comptime!(width == 4) {
        if comptime!(l == 0) {
            z0
        } else if comptime!(l == 1) {
            z1
        } else if comptime!(l == 2) {
            z2
        } else {
            z3
        }
    } else {
        pick4(z0, z1, z2, z3, (j0 + u32::cast_from(l)) % 4u32)
    }
}

/// The four normals of Philox block `block`, or zeros when `draw` is false (a comptime
/// choice: noise given by the caller, or a sampler without noise).
#[cube]
#[allow(clippy::too_many_arguments)]
pub fn normals_or_zero(
    #[comptime] draw: bool,
    seed_lo: u32,
    seed_hi: u32,
    purpose: u32,
    sample: u32,
    step: u32,
    block: u32,
) -> (f32, f32, f32, f32) {
    let mut z0 = 0.0f32;
    let mut z1 = 0.0f32;
    let mut z2 = 0.0f32;
    let mut z3 = 0.0f32;
    if comptime!(draw) {
        let (w0, w1, w2, w3) = normal_block(seed_lo, seed_hi, purpose, sample, step, block);
        z0 = w0;
        z1 = w1;
        z2 = w2;
        z3 = w3;
    }
    (z0, z1, z2, z3)
}
