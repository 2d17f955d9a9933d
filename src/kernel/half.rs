//! 16-bit latents on the device: f32 buffers packed two 16-bit values per `u32` word (element
//! `2j` in the low half of word `j`, `2j + 1` in the high half) and back, by the bit operations
//! of [`crate::pipeline::half::formula`] (the host's conversions, from the same source).
//!
//! Why packing: WGSL has no bf16 at all, and f16 storage only behind the optional
//! `shader-f16` feature (absent on Mesa's lavapipe, where CI runs), so a portable kernel
//! cannot bind an f16/bf16 buffer. A packed buffer has the bytes of a `[bf16]`/`[f16]` slice
//! (little-endian), so it goes to and from a model that takes half-precision tensors as is.

use cubecl::prelude::*;
use cubecl::server::Handle;

use super::{check_buffers, check_index_range, launch_dims, KernelError, Launches};
use crate::pipeline::half::formula::cube as half;
use crate::pipeline::half::Half;

#[cube]
fn to16(x: f32, #[comptime] bf16: bool) -> u32 {
    let b = u32::reinterpret(x);
    if comptime!(bf16) {
        half::bf16_from_f32_bits(b)
    } else {
        half::f16_from_f32_bits(b)
    }
}

#[cube]
fn from16(h: u32, #[comptime] bf16: bool) -> f32 {
    if comptime!(bf16) {
        f32::reinterpret(half::f32_bits_from_bf16(h))
    } else {
        f32::reinterpret(half::f32_bits_from_f16(h))
    }
}

#[cube(launch_unchecked)]
fn narrow_kernel(x: &[f32], out: &mut [u32], n: u32, #[comptime] bf16: bool) {
    let j = ABSOLUTE_POS as u32;
    if j * 2u32 >= n {
        terminate!();
    }
    let lo = to16(x[(2u32 * j) as usize], bf16);
    let mut hi = 0u32;
    if 2u32 * j + 1u32 < n {
        hi = to16(x[(2u32 * j + 1u32) as usize], bf16);
    }
    out[j as usize] = lo | (hi << 16u32);
}

#[cube(launch_unchecked)]
fn widen_kernel(packed: &[u32], out: &mut [f32], n: u32, #[comptime] bf16: bool) {
    let i = ABSOLUTE_POS as u32;
    if i >= n {
        terminate!();
    }
    let w = packed[(i / 2u32) as usize];
    let h = (w >> (16u32 * (i % 2u32))) & 0xFFFFu32;
    out[i as usize] = from16(h, bf16);
}

/// Packs the first `n` f32 values of `x` into `⌈n/2⌉` words of `H` pairs (rounded to nearest,
/// ties to even): the bytes of an `n`-element `[H]`. One launch.
///
/// Errors: `x` shorter than `n` values.
pub fn narrow<H: Half>(client: &Client, x: &Handle, n: usize) -> Result<Handle, KernelError> {
    check_index_range("n", n)?;
    check_buffers::<f32>(&[("x (bytes)", Some(x), n)])?;
    let words = n.div_ceil(2).max(1);
    let out = client.empty(words * 4);
    let (count, dim) = launch_dims(client, words);
    Launches::record();
    // SAFETY: x holds n values, out ⌈n/2⌉ words; the kernel guards its index.
    unsafe {
        narrow_kernel::launch_unchecked(
            client,
            count,
            dim,
            BufferArg::from_raw_parts(x.clone(), n.max(1)),
            BufferArg::from_raw_parts(out.clone(), words),
            n as u32,
            H::BF16,
        )
    };
    Ok(out)
}

/// Unpacks `n` values of `H` (as [`narrow`] writes them, or uploaded `[H]` bytes) into an f32
/// buffer (exact). One launch.
///
/// Errors: `packed` shorter than `⌈n/2⌉` words.
pub fn widen<H: Half>(client: &Client, packed: &Handle, n: usize) -> Result<Handle, KernelError> {
    check_index_range("n", n)?;
    check_buffers::<u32>(&[("packed (bytes)", Some(packed), n.div_ceil(2))])?;
    let out = client.empty(n.max(1) * 4);
    let (count, dim) = launch_dims(client, n);
    Launches::record();
    // SAFETY: packed holds ⌈n/2⌉ words, out n values; the kernel guards its index.
    unsafe {
        widen_kernel::launch_unchecked(
            client,
            count,
            dim,
            BufferArg::from_raw_parts(packed.clone(), n.div_ceil(2).max(1)),
            BufferArg::from_raw_parts(out.clone(), n.max(1)),
            n as u32,
            H::BF16,
        )
    };
    Ok(out)
}
