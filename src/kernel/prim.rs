//! Device primitives: the counter-based noise (bit-for-bit the operations of
//! [`crate::noise`]) and the small scalar helpers every component uses.

use cubecl::prelude::*;

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

/// Philox4x32-10 on counter `c` and key `k` (as [`crate::noise::philox4x32`]); the high word
/// of each 32×32 product comes from `mul_hi`.
#[cube]
pub fn philox4x32(c: (u32, u32, u32, u32), k0: u32, k1: u32) -> (u32, u32, u32, u32) {
    let (mut c0, mut c1, mut c2, mut c3) = c;
    let mut k0 = k0;
    let mut k1 = k1;
    let m0 = 0xD251_1F53u32;
    let m1 = 0xCD9E_8D57u32;
    #[unroll]
    for _ in 0..10 {
        let hi0 = u32::mul_hi(m0, c0);
        let lo0 = m0 * c0;
        let hi1 = u32::mul_hi(m1, c2);
        let lo1 = m1 * c2;
        let n0 = hi1 ^ c1 ^ k0;
        let n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += 0x9E37_79B9u32;
        k1 += 0xBB67_AE85u32;
    }
    (c0, c1, c2, c3)
}

/// `((w >> 8) + ½)·2⁻²⁴` (as [`crate::noise::uniform24`]).
#[cube]
pub fn uniform24(w: u32) -> f32 {
    (f32::cast_from(w >> 8) + 0.5f32) * (1.0f32 / 16_777_216.0f32)
}

/// `ln x` for `x ∈ (0, 1]` with the host's polynomial (as [`crate::noise::ln_f32`]).
#[cube]
pub fn ln_f32(x: f32) -> f32 {
    let bits = u32::reinterpret(x);
    let e0 = i32::cast_from((bits >> 23) & 0xffu32) - 126i32;
    let m0 = f32::reinterpret((bits & 0x007f_ffffu32) | 0x3f00_0000u32);
    let small = m0 < 0.707_106_77f32;
    let e = select(small, e0 - 1i32, e0);
    let m = select(small, m0 + m0, m0);
    let f = m - 1.0f32;
    let z = f * f;
    let z2 = z * z;
    let z4 = z2 * z2;
    let q0 = fma(-2.499_999_4e-1f32, f, 3.333_333e-1f32);
    let q1 = fma(-1.666_805_8e-1f32, f, 2.000_071_5e-1f32);
    let q2 = fma(-1.242_014_1e-1f32, f, 1.424_932_3e-1f32);
    let q3 = fma(-1.151_461e-1f32, f, 1.167_699_9e-1f32);
    let p = fma(
        7.037_683_6e-2f32,
        z4,
        fma(fma(q3, z, q2), z2, fma(q1, z, q0)),
    );
    let ef = f32::cast_from(e);
    let y = fma(f * z, p, fma(-2.121_944_4e-4f32, ef, -0.5f32 * z));
    fma(0.693_359_4f32, ef, f + y)
}

/// `(sin 2πu, cos 2πu)` with the host's polynomials (as [`crate::noise::sincos_2pi`]).
#[cube]
pub fn sincos_2pi(u: f32) -> (f32, f32) {
    let q = f32::round(u * 4.0f32);
    let r = (u - q * 0.25f32) * core::f32::consts::TAU;
    let z = r * r;
    let s = fma(
        fma(
            fma(-1.951_529_6e-4f32, z, 8.332_161e-3f32),
            z,
            -1.666_665_5e-1f32,
        ) * z,
        r,
        r,
    );
    let c = fma(
        fma(
            fma(2.443_315_7e-5f32, z, -1.388_731_6e-3f32),
            z,
            4.166_664_6e-2f32,
        ) * z,
        z,
        fma(-0.5f32, z, 1.0f32),
    );
    let quad = u32::cast_from(q) & 3u32;
    let sin = select(
        quad == 0u32,
        s,
        select(quad == 1u32, c, select(quad == 2u32, -s, -c)),
    );
    let cos = select(
        quad == 0u32,
        c,
        select(quad == 1u32, -s, select(quad == 2u32, -c, s)),
    );
    (sin, cos)
}

/// Four standard normals from one Philox block (as [`crate::noise::normals4`]).
#[cube]
pub fn normals4(w: (u32, u32, u32, u32)) -> (f32, f32, f32, f32) {
    let (w0, w1, w2, w3) = w;
    let r0 = f32::sqrt(-2.0f32 * ln_f32(uniform24(w0)));
    let r1 = f32::sqrt(-2.0f32 * ln_f32(uniform24(w2)));
    let (s0, c0) = sincos_2pi(uniform24(w1));
    let (s1, c1) = sincos_2pi(uniform24(w3));
    (r0 * c0, r0 * s0, r1 * c1, r1 * s1)
}

/// The four normals of Philox block `block` of the stream `(seed, purpose, sample, step)`:
/// output `m` is element [`elem_of`]`(block, m)` (see [`crate::noise`] for the layout).
#[cube]
pub fn normal_block(
    seed_lo: u32,
    seed_hi: u32,
    purpose: u32,
    sample: u32,
    step: u32,
    block: u32,
) -> (f32, f32, f32, f32) {
    normals4(philox4x32((block, sample, step, purpose), seed_lo, seed_hi))
}

/// The standard normal of element `index` (as [`crate::noise::normal`]).
#[cube]
pub fn normal(seed_lo: u32, seed_hi: u32, purpose: u32, sample: u32, step: u32, index: u32) -> f32 {
    let block = (index / 32u32) * 8u32 + index % 8u32;
    let (z0, z1, z2, z3) = normal_block(seed_lo, seed_hi, purpose, sample, step, block);
    pick4(z0, z1, z2, z3, (index % 32u32) / 8u32)
}

/// The element that output `m` (0..4) of Philox block `k` feeds: elements come in groups of
/// 32, eight consecutive elements being the same output of eight consecutive blocks.
#[cube]
pub fn elem_of(k: u32, m: u32) -> u32 {
    32u32 * (k / 8u32) + 8u32 * m + k % 8u32
}

/// Blocks that cover `per` elements (whole groups of 32).
pub fn blocks_for(per: usize) -> usize {
    per.div_ceil(32) * 8
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
