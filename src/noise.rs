//! Counter-based, seeded Gaussian noise.
//!
//! The standard normal draw for element `i` of sample `b` at step `k` for a given purpose is
//! a pure function of `(seed, purpose, b, k, i)`: it does not depend on the thread count, on
//! the order in which elements are produced, or on which other samples share the batch. So a
//! sample drawn alone and the same sample inside a batch get identical noise, and a GPU kernel
//! can produce the same numbers.
//!
//! The algorithm, chosen to port to a kernel with 32-bit integer arithmetic only:
//! 1. Elements are block-major: element `4k + m` is output `m` (0..4) of Philox block `k`,
//!    so one block's four normals are four consecutive elements (one 16-byte vector: a GPU
//!    thread computes one block and stores it with one vector store; a CPU computes 8 or 16
//!    blocks per register and transposes them before storing).
//!    **Philox4x32-10** (Salmon et al., SC'11) with key `(seed_lo, seed_hi)` and counter
//!    `(block, b, k, purpose)` gives four 32-bit words.
//! 2. Each word's top 24 bits become a uniform `u = (w >> 8) + ½) · 2⁻²⁴ ∈ (0, 1)`, exact in
//!    f32.
//! 3. **Box–Muller** on the pairs `(u0, u1)`, `(u2, u3)`: `r = √(−2 ln u_even)`,
//!    `θ = 2π·u_odd`, giving `r·cos θ, r·sin θ`. `ln`, `sin` and `cos` are evaluated in f32 with
//!    fixed polynomials (Cephes-style minimax fits, under 1 ulp) in a fixed order of fused
//!    multiply-adds, so every host path gives the same bits and kernel code computes the same
//!    operations (a GPU compiler may round the odd intermediate differently; the kernel tests
//!    allow 2e-6).
//!
//! Since `u ≥ 2⁻²⁵`, `|z| ≤ √(50 ln 2) ≈ 5.89`: the tail beyond 5.9σ (probability 4e-9) is
//! not produced.
//!
//! ```
//! use gdf::noise::{normal, Purpose};
//! let a = normal(42, Purpose::Epsilon, 3, 0, 17);
//! assert_eq!(a, normal(42, Purpose::Epsilon, 3, 0, 17)); // a pure function of its counter
//! assert_ne!(a, normal(42, Purpose::Epsilon, 4, 0, 17)); // other sample, other draw
//! ```

use rand::RngCore;

/// What a draw is for; part of the counter so different uses never share numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Purpose {
    /// The diffusion noise ε.
    Epsilon = 0,
    /// The per-(sample, channel) offset noise.
    Offset = 1,
    /// Training `t` / logSNR draws.
    Time = 2,
    /// A sampler step's fresh noise.
    Sampler = 3,
    /// The initial `x` of a sampling run.
    Init = 4,
    /// A node of a Brownian tree ([`crate::solver::BrownianNoise`]): the counter's step word
    /// is the node's number.
    Brownian = 5,
    /// The Brownian bridge inside a tree's leaf, keyed by the queried noise level's bits.
    BrownianPoint = 6,
    /// The Brownian increment of an interval that leaves the tree (an end at `σ = 0` or
    /// `σ = ∞`), keyed by the interval's finite end.
    BrownianOpen = 7,
}

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// `(hi, lo)` of `a·b` (the lane-parallel Philox's restatement of [`formula::philox4x32`]).
#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = a as u64 * b as u64;
    ((p >> 32) as u32, p as u32)
}

/// Philox4x32 with 10 rounds.
#[inline(always)]
pub fn philox4x32(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (c0, c1, c2, c3) = formula::philox4x32(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1]);
    [c0, c1, c2, c3]
}

/// The key of a seed.
#[inline(always)]
pub fn key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

pub use formula::{ln_f32, sincos_2pi, uniform24};

/// Four standard normals from one Philox block.
#[inline(always)]
pub fn normals4(words: [u32; 4]) -> [f32; 4] {
    let (z0, z1, z2, z3) = formula::normals4(words[0], words[1], words[2], words[3]);
    [z0, z1, z2, z3]
}

/// The noise transform, written once for the host and the kernels (see [`crate::formula`]):
/// Philox4x32-10 and Box–Muller with the crate's own `ln` and `sincos` polynomials, so the
/// device draws the host's numbers bit for bit. The lane-parallel and AVX2 paths below restate
/// Philox per lane for speed and are tested bit-identical to these.
#[crate::formulas]
pub mod formula {
    /// Philox4x32-10 on counter `(c0, c1, c2, c3)` and key `(k0, k1)`.
    pub fn philox4x32(
        c0: u32,
        c1: u32,
        c2: u32,
        c3: u32,
        k0: u32,
        k1: u32,
    ) -> (u32, u32, u32, u32) {
        let mut c0 = c0;
        let mut c1 = c1;
        let mut c2 = c2;
        let mut c3 = c3;
        let mut k0 = k0;
        let mut k1 = k1;
        #[unroll]
        for _ in 0..10 {
            let hi0 = mul_hi(0xD251_1F53u32, c0);
            let lo0 = wrapping_mul(0xD251_1F53u32, c0);
            let hi1 = mul_hi(0xCD9E_8D57u32, c2);
            let lo1 = wrapping_mul(0xCD9E_8D57u32, c2);
            let n0 = hi1 ^ c1 ^ k0;
            let n2 = hi0 ^ c3 ^ k1;
            c0 = n0;
            c1 = lo1;
            c2 = n2;
            c3 = lo0;
            k0 = wrapping_add(k0, 0x9E37_79B9u32);
            k1 = wrapping_add(k1, 0xBB67_AE85u32);
        }
        (c0, c1, c2, c3)
    }

    /// A word's uniform in (0, 1): `((w >> 8) + ½)·2⁻²⁴` (exact in f32).
    pub fn uniform24(w: u32) -> f32 {
        (u32_to_f32(w >> 8u32) + 0.5f32) * (1.0f32 / 16_777_216.0f32)
    }

    /// Natural log for `x ∈ (0, 1]` (normal f32), Cephes-style: `x = m·2^e` with
    /// `m ∈ [√½, √2)`, then a degree-8 polynomial in `f = m − 1` evaluated by Estrin's scheme
    /// with fused multiply-adds (short dependency chains, so it pipelines). Branch-free, so it
    /// vectorises. Relative error below 8.5e-8 (0.71 ulp) over every `u` that [`uniform24`]
    /// yields (checked exhaustively against f64 by an ignored test).
    pub fn ln_f32(x: f32) -> f32 {
        let bits = f32_to_bits(x);
        // The biased exponent (1..=254 for a normal x) less 126, exact in f32.
        let e0 = u32_to_f32((bits >> 23u32) & 0xffu32) - 126.0f32;
        let m0 = f32_from_bits((bits & 0x007f_ffffu32) | 0x3f00_0000u32); // [0.5, 1)
        let small = m0 < core::f32::consts::FRAC_1_SQRT_2;
        let ef = select(small, e0 - 1.0f32, e0);
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
        let y = fma(f * z, p, fma(-2.121_944_4e-4f32, ef, -0.5f32 * z));
        fma(0.693_359_4f32, ef, f + y)
    }

    /// `(sin 2πu, cos 2πu)` for `u ∈ [0, 1)`: reduce to the nearest quarter turn
    /// `q = round(4u)`, evaluate minimax polynomials on `r ∈ [−π/4, π/4]` (Horner with fused
    /// multiply-adds), rotate by `q` quarter turns. Branch-free, so it vectorises. At most
    /// 1.1e-7 from the exact values over every `u` that [`uniform24`] yields. The quarter turn
    /// is `floor(4u + ½)` (exact in f32 for these `u`), not `round`: `4u` can be a tie (`u` is
    /// rounded to f32 once `w >> 8 ≥ 2²³`), where `round` differs between the host (half away
    /// from zero) and WGSL (half to even); `floor(4u + ½)` is the host's rounding everywhere.
    pub fn sincos_2pi(u: f32) -> (f32, f32) {
        let qf = f32::floor(u * 4.0f32 + 0.5f32); // 0..=4
        let r = (u - qf * 0.25f32) * core::f32::consts::TAU; // [−π/4, π/4]
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
        // sin(r + qπ/2) and cos(r + qπ/2) for q = qf mod 4, decided with float compares only
        // (q = 4 is a full turn, like 0).
        let swap = qf == 1.0f32 || qf == 3.0f32;
        let a = select(swap, c, s);
        let b = select(swap, s, c);
        let sin = select(qf == 2.0f32 || qf == 3.0f32, -a, a);
        let cos = select(qf == 1.0f32 || qf == 2.0f32, -b, b);
        (sin, cos)
    }

    /// Four standard normals from one Philox block's words (Box–Muller).
    pub fn normals4(w0: u32, w1: u32, w2: u32, w3: u32) -> (f32, f32, f32, f32) {
        let r0 = f32::sqrt(-2.0f32 * ln_f32(uniform24(w0)));
        let r1 = f32::sqrt(-2.0f32 * ln_f32(uniform24(w2)));
        let (s0, c0) = sincos_2pi(uniform24(w1));
        let (s1, c1) = sincos_2pi(uniform24(w3));
        (r0 * c0, r0 * s0, r1 * c1, r1 * s1)
    }
}

/// Checks that samples `first_sample .. first_sample + count` all have their own `u32`
/// counter index (past `u32::MAX` a wrapping index would hand a sample the draws of sample
/// 0, 1, …).
pub(crate) fn check_sample_counters(first_sample: u32, count: usize) -> crate::Result<()> {
    if first_sample as u64 + count as u64 > 1u64 << 32 {
        return Err(crate::GdfError::OutOfRange {
            what: "first_sample",
            value: first_sample as f64,
            expected: "at most 2^32 − batch: sample b of the batch draws as counter index \
                       first_sample + b, a u32; past u32::MAX it would repeat the draws of \
                       samples 0, 1, …",
        });
    }
    Ok(())
}

/// The standard normal for element `index` of `sample` at `step` for `purpose`.
#[inline]
pub fn normal(seed: u64, purpose: Purpose, sample: u32, step: u32, index: u64) -> f32 {
    let (block, m) = block_of(index);
    let w = philox4x32([block, sample, step, purpose as u32], key(seed));
    normals4(w)[m]
}

/// The Philox block of element `index` and which of its four outputs the element takes
/// (block-major: element `4k + m` is output `m` of block `k`; the block counter is 32 bits and
/// wraps, like every path's).
#[inline(always)]
pub fn block_of(index: u64) -> (u32, usize) {
    ((index / 4) as u32, (index % 4) as usize)
}

/// Lanes processed together (8 Philox blocks = 32 normals), so the compiler can vectorise
/// across blocks.
const LANES: usize = 8;

/// Philox4x32-10 of blocks `block..block + 8` of one stream, lane-parallel (the same
/// arithmetic as [`philox4x32`] per lane).
#[inline(always)]
fn philox_lanes(
    block: u32,
    sample: u32,
    step: u32,
    purpose: u32,
    key: [u32; 2],
) -> [[u32; LANES]; 4] {
    let mut c0 = [0u32; LANES];
    for (l, c) in c0.iter_mut().enumerate() {
        *c = block.wrapping_add(l as u32);
    }
    let mut c1 = [sample; LANES];
    let mut c2 = [step; LANES];
    let mut c3 = [purpose; LANES];
    let (mut k0, mut k1) = (key[0], key[1]);
    for _ in 0..10 {
        for l in 0..LANES {
            let (hi0, lo0) = mulhilo(M0, c0[l]);
            let (hi1, lo1) = mulhilo(M1, c2[l]);
            (c0[l], c1[l], c2[l], c3[l]) = (hi1 ^ c1[l] ^ k0, lo1, hi0 ^ c3[l] ^ k1, lo0);
        }
        k0 = k0.wrapping_add(W0);
        k1 = k1.wrapping_add(W1);
    }
    [c0, c1, c2, c3]
}

/// Box–Muller over 8 Philox blocks (the same operations as [`normals4`] per block), stored
/// block-major: output `m` of lane `l` at `4l + m`.
#[inline(always)]
fn normals_lanes(w: [[u32; LANES]; 4], out: &mut [f32; 4 * LANES]) {
    let [c0, c1, c2, c3] = w;
    let mut r0 = [0f32; LANES];
    let mut r1 = [0f32; LANES];
    let mut sc0 = [(0f32, 0f32); LANES];
    let mut sc1 = [(0f32, 0f32); LANES];
    for l in 0..LANES {
        r0[l] = (-2.0 * ln_f32(uniform24(c0[l]))).sqrt();
        r1[l] = (-2.0 * ln_f32(uniform24(c2[l]))).sqrt();
        sc0[l] = sincos_2pi(uniform24(c1[l]));
        sc1[l] = sincos_2pi(uniform24(c3[l]));
    }
    for (l, o) in out.chunks_exact_mut(4).enumerate() {
        o[0] = r0[l] * sc0[l].1;
        o[1] = r0[l] * sc0[l].0;
        o[2] = r1[l] * sc1[l].1;
        o[3] = r1[l] * sc1[l].0;
    }
}

/// The explicit-SIMD generator, written once over one register width's operations and
/// expanded in [`avx2`] (8 lanes) and [`avx512`] (16 lanes), which define the operations it
/// names (`W` lanes of f32 `F`, of u32 `I`, a lane mask `K`, and small wrappers such as
/// `fmadd` or `blend`). It restates [`formula::philox4x32`] and [`formula::normals4`] with
/// the same operations, in the same order and with the same fused multiply-adds, so every
/// width gives the portable path's bits (tested per width over all 2²⁴ uniforms and many
/// ranges).
///
/// Philox runs on the even and the odd blocks in separate registers, one block per 64-bit
/// lane in its low word: `vpmuludq` then yields a product's low word in place and its high
/// word one shift away, and the high words left in the lanes are never read (`vpmuludq`
/// ignores them), so a round is two multiplies, two shifts and two three-way XORs per `W/2`
/// blocks; the words are interleaved back at the end. Box–Muller then takes one register
/// per word, and a 4×4 transpose inside each 128-bit lane (in-lane unpacks, the cheapest
/// shuffles) leaves each block's four normals contiguous, in element order, when lane `l`
/// holds block `lane_block(l)`.
#[cfg(target_arch = "x86_64")]
macro_rules! simd_generator {
    ($feature:literal) => {
        /// Elements per super-group: [`CHAINS`] registers of `W` Philox blocks (`4·W`
        /// elements each).
        pub(super) const SG: usize = 4 * W * CHAINS;

        /// The block (from a register's first) whose words lane `l` of [`philox`] holds:
        /// `(W/4)·(l mod 4) + l/4`, the order in which [`normals`]'s in-lane 4×4
        /// transposes leave each block's four normals as one contiguous 16 bytes.
        pub(super) const fn lane_block(l: usize) -> usize {
            W / 4 * (l % 4) + l / 4
        }

        /// The blocks of lanes `2i + odd`, in the low word of 64-bit lane `i`.
        const fn half_blocks(odd: usize) -> [u32; W] {
            let mut a = [0u32; W];
            let mut i = 0;
            while i < W / 2 {
                a[2 * i] = lane_block(2 * i + odd) as u32;
                i += 1;
            }
            a
        }

        /// Philox4x32-10 of blocks `first..first + W·K` (register `k`, lane `l` is block
        /// `first + W·k + lane_block(l)`), the `K` chains interleaved so the multiplies'
        /// latency overlaps.
        #[inline]
        #[target_feature(enable = $feature)]
        unsafe fn philox<const K: usize>(
            first: u32,
            sample: u32,
            step: u32,
            purpose: u32,
            key: [u32; 2],
        ) -> [[I; 4]; K] {
            const { assert!(K <= 4, "at most four chains") };
            let even = load_i(&half_blocks(0));
            let odd = load_i(&half_blocks(1));
            // c0 of the even lanes of chain k at 2k, of the odd ones at 2k + 1.
            let mut c0 = [even; 8];
            for k in 0..K {
                let b = splat_i(first.wrapping_add((W * k) as u32));
                c0[2 * k] = add_i(b, even);
                c0[2 * k + 1] = add_i(b, odd);
            }
            let mut c1 = [splat_i(sample); 8];
            let mut c2 = [splat_i(step); 8];
            let mut c3 = [splat_i(purpose); 8];
            let (m0, m1) = (splat_i(M0), splat_i(M1));
            let (mut k0, mut k1) = (key[0], key[1]);
            for _ in 0..10 {
                let (kv0, kv1) = (splat_i(k0), splat_i(k1));
                for h in 0..2 * K {
                    let p0 = mul_lo64(c0[h], m0);
                    let p1 = mul_lo64(c2[h], m1);
                    c0[h] = xor3(hi64(p1), c1[h], kv0);
                    c1[h] = p1;
                    c2[h] = xor3(hi64(p0), c3[h], kv1);
                    c3[h] = p0;
                }
                k0 = k0.wrapping_add(W0);
                k1 = k1.wrapping_add(W1);
            }
            let mut out = [[even; 4]; K];
            for (k, o) in out.iter_mut().enumerate() {
                let (e, d) = (2 * k, 2 * k + 1);
                *o = [
                    weave(c0[e], c0[d]),
                    weave(c1[e], c1[d]),
                    weave(c2[e], c2[d]),
                    weave(c3[e], c3[d]),
                ];
            }
            out
        }

        /// `2²⁵·u` per lane, `u` the word's uniform ([`super::formula::uniform24`]): the
        /// integer `2·(w >> 8) + 1 < 2²⁵` rounded to f32 once, which is
        /// `2·fl((w >> 8) + ½)` (scaling by 2 commutes with rounding), so `u` itself is this
        /// times 2⁻²⁵, exactly. The transforms below take this scaled form and fold the 2⁻²⁵
        /// into operations they do anyway.
        #[inline]
        #[target_feature(enable = $feature)]
        unsafe fn scaled_uniform(w: I) -> F {
            cvt_i(or_i(srli::<7>(w), splat_i(1)))
        }

        /// [`super::formula::ln_f32`] of `u` per lane, given `y = 2²⁵·u`
        /// ([`scaled_uniform`]): the same operations in the same order, reading `u`'s
        /// exponent and mantissa off `y` (its exponent is `y`'s less 25; the sign bit is
        /// clear, so no mask is needed).
        #[inline]
        #[target_feature(enable = $feature)]
        unsafe fn ln_f32(y: F) -> F {
            let bits = bits_of(y);
            // (biased exponent of u) − 126 = (biased exponent of y) − 151, exact.
            let e0 = sub(cvt_i(srli::<23>(bits)), splat(151.0));
            let m0 = of_bits(and_or(bits, splat_i(0x007f_ffff), splat_i(0x3f00_0000)));
            let small = lt(m0, splat(core::f32::consts::FRAC_1_SQRT_2));
            let ef = blend(small, e0, sub(e0, splat(1.0)));
            let m = blend(small, m0, add(m0, m0));
            let f = sub(m, splat(1.0));
            let z = mul(f, f);
            let z2 = mul(z, z);
            let z4 = mul(z2, z2);
            let q0 = fmadd(splat(-2.499_999_4e-1), f, splat(3.333_333e-1));
            let q1 = fmadd(splat(-1.666_805_8e-1), f, splat(2.000_071_5e-1));
            let q2 = fmadd(splat(-1.242_014_1e-1), f, splat(1.424_932_3e-1));
            let q3 = fmadd(splat(-1.151_461e-1), f, splat(1.167_699_9e-1));
            let p = fmadd(
                splat(7.037_683_6e-2),
                z4,
                fmadd(fmadd(q3, z, q2), z2, fmadd(q1, z, q0)),
            );
            let y = fmadd(
                mul(f, z),
                p,
                fmadd(splat(-2.121_944_4e-4), ef, mul(splat(-0.5), z)),
            );
            fmadd(splat(0.693_359_4), ef, add(f, y))
        }

        /// [`super::formula::sincos_2pi`] of `u` per lane, given `y = 2²⁵·u`
        /// ([`scaled_uniform`]): `(sin, cos)`. It works on `4u = y·2⁻²³` (exact): `u − q/4`
        /// is exact (both are multiples of `u`'s last place and at most ⅛ apart), so
        /// `4u − q` is exactly four times it, and `(4u − q)·(2π/4)` (`TAU·0.25`, exact in
        /// f32) is the very product `(u − q/4)·2π` rounded once: the formula's bits with two
        /// operations fewer.
        #[inline]
        #[target_feature(enable = $feature)]
        unsafe fn sincos_2pi(y: F) -> (F, F) {
            let u4 = mul(y, splat(1.0 / 8_388_608.0)); // 4u, exact
                                                       // `f32::round` (half away from zero) of 4u ≥ 0: truncate 4u + pred(½), exact for
                                                       // every float. Ties do occur: `(w >> 8) + ½` is not exact in f32 once
                                                       // `w >> 8 ≥ 2²³`, so u can be k·2⁻²⁴ and 4u a multiple of ½ (e.g. u = 0.625),
                                                       // where nearest-even rounding would pick the other quarter turn and differ in the
                                                       // last bit.
            let qf = trunc(add(u4, splat(f32::from_bits(0x3eff_ffff))));
            let r = mul(sub(u4, qf), splat(core::f32::consts::TAU * 0.25));
            let z = mul(r, r);
            let s = fmadd(
                mul(
                    fmadd(
                        fmadd(splat(-1.951_529_6e-4), z, splat(8.332_161e-3)),
                        z,
                        splat(-1.666_665_5e-1),
                    ),
                    z,
                ),
                r,
                r,
            );
            let co = fmadd(
                mul(
                    fmadd(
                        fmadd(splat(2.443_315_7e-5), z, splat(-1.388_731_6e-3)),
                        z,
                        splat(4.166_664_6e-2),
                    ),
                    z,
                ),
                z,
                fmadd(splat(-0.5), z, splat(1.0)),
            );
            let q1 = eq(qf, splat(1.0));
            let q2 = eq(qf, splat(2.0));
            let q3 = eq(qf, splat(3.0));
            let swap = or_k(q1, q3);
            let a = blend(swap, s, co);
            let b = blend(swap, co, s);
            (negate_where(or_k(q2, q3), a), negate_where(or_k(q1, q2), b))
        }

        /// Box–Muller on the words of `W` blocks: their `4·W` normals in element order
        /// (block-major) into `out`.
        #[inline]
        #[target_feature(enable = $feature)]
        unsafe fn normals(w: [I; 4], out: &mut [f32]) {
            let m2 = splat(-2.0);
            let r0 = sqrt(mul(m2, ln_f32(scaled_uniform(w[0]))));
            let r1 = sqrt(mul(m2, ln_f32(scaled_uniform(w[2]))));
            let (s0, c0) = sincos_2pi(scaled_uniform(w[1]));
            let (s1, c1) = sincos_2pi(scaled_uniform(w[3]));
            // After the transpose, row r's 128-bit lane j holds the block of lane 4j + r,
            // stored at element W·r + 4j: block (W/4)·r + j = lane_block(4j + r).
            let z = [mul(r0, c0), mul(r0, s0), mul(r1, c1), mul(r1, s1)];
            let t0 = unpacklo_ps(z[0], z[1]);
            let t1 = unpackhi_ps(z[0], z[1]);
            let t2 = unpacklo_ps(z[2], z[3]);
            let t3 = unpackhi_ps(z[2], z[3]);
            let rows = [
                unpacklo_pd(t0, t2),
                unpackhi_pd(t0, t2),
                unpacklo_pd(t1, t3),
                unpackhi_pd(t1, t3),
            ];
            for (o, v) in out.chunks_exact_mut(W).zip(rows) {
                store(o, v);
            }
        }

        /// The words of the super-group holding element `i` (its first block modulo 2³², like
        /// the scalar counter).
        #[inline]
        #[target_feature(enable = $feature)]
        unsafe fn words_at(i: u64, ctr: [u32; 3], key: [u32; 2]) -> [[I; 4]; CHAINS] {
            let first = ((i / SG as u64) * (SG / 4) as u64) as u32;
            philox::<CHAINS>(first, ctr[0], ctr[1], ctr[2], key)
        }

        /// The `SG` normals of one super-group's words into `out`.
        #[inline]
        #[target_feature(enable = $feature)]
        unsafe fn normals_sg(words: [[I; 4]; CHAINS], out: &mut [f32]) {
            for (w, o) in words.into_iter().zip(out.chunks_exact_mut(4 * W)) {
                normals(w, o);
            }
        }

        /// Elements `i..i + out.len()` of one super-group (cut by the start or the end of
        /// the range) through a scratch buffer.
        #[inline]
        #[target_feature(enable = $feature)]
        unsafe fn part_sg(i: u64, ctr: [u32; 3], key: [u32; 2], out: &mut [f32]) {
            let mut scratch = [0f32; SG];
            normals_sg(words_at(i, ctr, key), &mut scratch);
            let off = (i % SG as u64) as usize;
            out.copy_from_slice(&scratch[off..off + out.len()]);
        }

        /// [`super::fill_normal`] with this width: whole super-groups straight into `out`,
        /// each one's Box–Muller beside the next one's Philox (independent work the core
        /// can overlap: integer multiplies and floating-point arithmetic), a super-group
        /// cut by the start or the end of the range through a scratch buffer.
        ///
        /// # Safety
        /// The CPU must have the features this module is compiled for.
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn fill(
            key: [u32; 2],
            purpose: u32,
            sample: u32,
            step: u32,
            start: u64,
            out: &mut [f32],
        ) {
            let ctr = [sample, step, purpose];
            let mut i = start;
            let mut rest = out;
            let off = (i % SG as u64) as usize;
            if off != 0 || rest.len() < SG {
                let take = rest.len().min(SG - off);
                let (head, tail) = rest.split_at_mut(take);
                part_sg(i, ctr, key, head);
                rest = tail;
                i = i.wrapping_add(take as u64);
            }
            let whole = rest.len() / SG;
            if whole > 0 {
                let (body, tail) = rest.split_at_mut(whole * SG);
                let mut words = words_at(i, ctr, key);
                for (k, group) in body.chunks_exact_mut(SG).enumerate() {
                    let this = words;
                    if k + 1 < whole {
                        words = words_at(i.wrapping_add(((k + 1) * SG) as u64), ctr, key);
                    }
                    for (w, o) in this.into_iter().zip(group.chunks_exact_mut(4 * W)) {
                        normals(w, o);
                    }
                }
                rest = tail;
                i = i.wrapping_add((whole * SG) as u64);
            }
            if !rest.is_empty() {
                part_sg(i, ctr, key, rest);
            }
        }

        /// The words of the `2·W` blocks from `first`, as `[register][word][lane]`, lane `l`
        /// of register `r` holding block `first + W·r + lane_block(l)` (for tests).
        ///
        /// # Safety
        /// The CPU must have the features this module is compiled for.
        #[cfg(test)]
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn philox_words(
            first: u32,
            ctr: [u32; 3],
            key: [u32; 2],
        ) -> Vec<[Vec<u32>; 4]> {
            let w = philox::<2>(first, ctr[0], ctr[1], ctr[2], key);
            w.iter()
                .map(|r| {
                    r.map(|v| {
                        let mut a = vec![0u32; W];
                        store_i(&mut a, v);
                        a
                    })
                })
                .collect()
        }

        /// Box–Muller on one register of words (`[word][lane]`, for tests): the `4·W`
        /// normals in element order.
        ///
        /// # Safety
        /// The CPU must have the features this module is compiled for.
        #[cfg(test)]
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn normals_of(words: &[Vec<u32>; 4]) -> Vec<f32> {
            let mut out = vec![0f32; 4 * W];
            normals(words.each_ref().map(|w| load_i(w)), &mut out);
            out
        }
    };
}

/// The one-line operations a [`simd_generator`] width provides, each an inlined function
/// compiled with that width's target features.
#[cfg(target_arch = "x86_64")]
macro_rules! simd_ops {
    ($feature:literal; $($(#[$m:meta])* fn $name:ident($($a:ident: $t:ty),*) $(-> $r:ty)? $body:block)*) => {
        $(
            $(#[$m])*
            #[inline]
            #[target_feature(enable = $feature)]
            unsafe fn $name($($a: $t),*) $(-> $r)? $body
        )*
    };
}

/// The AVX2 generator ([`simd_generator`] on 8 lanes, with FMA).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{M0, M1, W0, W1};
    use core::arch::x86_64::*;

    /// Lanes per register.
    const W: usize = 8;
    /// Philox chains interleaved per super-group. One: a chain's state is eight registers
    /// of the sixteen, and two chains spilled (`time_fill_paths` on a Zen 4: 83 µs with one
    /// chain, 89 µs with two).
    const CHAINS: usize = 1;
    type F = __m256;
    type I = __m256i;
    type K = __m256;

    simd_ops! {
        "avx2,fma";
        fn splat(x: f32) -> F { _mm256_set1_ps(x) }
        fn splat_i(x: u32) -> I { _mm256_set1_epi32(x as i32) }
        fn load_i(a: &[u32]) -> I { _mm256_loadu_si256(a[..W].as_ptr() as *const I) }
        fn store(o: &mut [f32], v: F) { _mm256_storeu_ps(o[..W].as_mut_ptr(), v) }
        fn add_i(a: I, b: I) -> I { _mm256_add_epi32(a, b) }
        fn or_i(a: I, b: I) -> I { _mm256_or_si256(a, b) }
        fn mul_lo64(a: I, b: I) -> I { _mm256_mul_epu32(a, b) }
        fn hi64(a: I) -> I { _mm256_srli_epi64::<32>(a) }
        fn xor3(a: I, b: I, c: I) -> I { _mm256_xor_si256(_mm256_xor_si256(a, b), c) }
        fn and_or(a: I, b: I, c: I) -> I { _mm256_or_si256(_mm256_and_si256(a, b), c) }
        // Lane 2j from `e`'s lane 2j, lane 2j + 1 from `o`'s lane 2j.
        fn weave(e: I, o: I) -> I {
            _mm256_blend_epi32::<0b1010_1010>(e, _mm256_shuffle_epi32::<0b1011_0001>(o))
        }
        fn cvt_i(a: I) -> F { _mm256_cvtepi32_ps(a) }
        fn bits_of(a: F) -> I { _mm256_castps_si256(a) }
        fn of_bits(a: I) -> F { _mm256_castsi256_ps(a) }
        fn add(a: F, b: F) -> F { _mm256_add_ps(a, b) }
        fn sub(a: F, b: F) -> F { _mm256_sub_ps(a, b) }
        fn mul(a: F, b: F) -> F { _mm256_mul_ps(a, b) }
        fn fmadd(a: F, b: F, c: F) -> F { _mm256_fmadd_ps(a, b, c) }
        fn sqrt(a: F) -> F { _mm256_sqrt_ps(a) }
        fn trunc(a: F) -> F { _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(a) }
        fn lt(a: F, b: F) -> K { _mm256_cmp_ps::<_CMP_LT_OQ>(a, b) }
        fn eq(a: F, b: F) -> K { _mm256_cmp_ps::<_CMP_EQ_OQ>(a, b) }
        fn or_k(a: K, b: K) -> K { _mm256_or_ps(a, b) }
        // `b` where `k` is set, else `a`.
        fn blend(k: K, a: F, b: F) -> F { _mm256_blendv_ps(a, b, k) }
        // `-x` where `k` is set (a sign flip, like the scalar `-x`).
        fn negate_where(k: K, x: F) -> F { _mm256_xor_ps(x, _mm256_and_ps(k, _mm256_set1_ps(-0.0))) }
        fn unpacklo_ps(a: F, b: F) -> F { _mm256_unpacklo_ps(a, b) }
        fn unpackhi_ps(a: F, b: F) -> F { _mm256_unpackhi_ps(a, b) }
        fn unpacklo_pd(a: F, b: F) -> F {
            _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(a), _mm256_castps_pd(b)))
        }
        fn unpackhi_pd(a: F, b: F) -> F {
            _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(a), _mm256_castps_pd(b)))
        }
    }

    /// `a >> N` per 32-bit lane.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn srli<const N: i32>(a: I) -> I {
        _mm256_srli_epi32::<N>(a)
    }

    /// Stores the `W` words of `v` into `a` (for tests).
    #[cfg(test)]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store_i(a: &mut [u32], v: I) {
        _mm256_storeu_si256(a[..W].as_mut_ptr() as *mut I, v)
    }

    simd_generator!("avx2,fma");
}

/// The AVX-512 generator ([`simd_generator`] on 16 lanes).
#[cfg(all(target_arch = "x86_64", gdf_avx512))]
#[allow(clippy::incompatible_msrv)] // compiled only by Rust 1.89+ (see build.rs)
mod avx512 {
    use super::{M0, M1, W0, W1};
    use core::arch::x86_64::*;

    /// Lanes per register.
    const W: usize = 16;
    /// Philox chains interleaved per super-group. Two keep the super-group a power of two
    /// (128 elements), so the callers' runs of 256 and jobs of 4096 elements cover whole
    /// super-groups: three were 2.5% faster on one long fill (`time_fill_paths`) but made
    /// every 256-element run straddle super-groups, and `diffuse` 40% slower.
    const CHAINS: usize = 2;
    type F = __m512;
    type I = __m512i;
    type K = __mmask16;

    simd_ops! {
        "avx512f";
        fn splat(x: f32) -> F { _mm512_set1_ps(x) }
        fn splat_i(x: u32) -> I { _mm512_set1_epi32(x as i32) }
        fn load_i(a: &[u32]) -> I { _mm512_loadu_si512(a[..W].as_ptr() as *const I) }
        fn store(o: &mut [f32], v: F) { _mm512_storeu_ps(o[..W].as_mut_ptr(), v) }
        fn add_i(a: I, b: I) -> I { _mm512_add_epi32(a, b) }
        fn or_i(a: I, b: I) -> I { _mm512_or_si512(a, b) }
        fn mul_lo64(a: I, b: I) -> I { _mm512_mul_epu32(a, b) }
        fn hi64(a: I) -> I { _mm512_srli_epi64::<32>(a) }
        fn xor3(a: I, b: I, c: I) -> I { _mm512_ternarylogic_epi32::<0x96>(a, b, c) }
        // (a & b) | c in one ternary operation.
        fn and_or(a: I, b: I, c: I) -> I { _mm512_ternarylogic_epi32::<0xea>(a, b, c) }
        // Lane 2j from `e`'s lane 2j, lane 2j + 1 from `o`'s lane 2j.
        fn weave(e: I, o: I) -> I { _mm512_mask_shuffle_epi32::<_MM_PERM_CDAB>(e, 0xaaaa, o) }
        fn cvt_i(a: I) -> F { _mm512_cvtepi32_ps(a) }
        fn bits_of(a: F) -> I { _mm512_castps_si512(a) }
        fn of_bits(a: I) -> F { _mm512_castsi512_ps(a) }
        fn add(a: F, b: F) -> F { _mm512_add_ps(a, b) }
        fn sub(a: F, b: F) -> F { _mm512_sub_ps(a, b) }
        fn mul(a: F, b: F) -> F { _mm512_mul_ps(a, b) }
        fn fmadd(a: F, b: F, c: F) -> F { _mm512_fmadd_ps(a, b, c) }
        fn sqrt(a: F) -> F { _mm512_sqrt_ps(a) }
        fn trunc(a: F) -> F {
            _mm512_roundscale_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(a)
        }
        fn lt(a: F, b: F) -> K { _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b) }
        fn eq(a: F, b: F) -> K { _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a, b) }
        fn or_k(a: K, b: K) -> K { a | b }
        // `b` where `k` is set, else `a`.
        fn blend(k: K, a: F, b: F) -> F { _mm512_mask_blend_ps(k, a, b) }
        // `-x` where `k` is set (a sign flip, like the scalar `-x`).
        fn negate_where(k: K, x: F) -> F {
            let xi = _mm512_castps_si512(x);
            _mm512_castsi512_ps(_mm512_mask_xor_epi32(xi, k, xi, _mm512_set1_epi32(i32::MIN)))
        }
        fn unpacklo_ps(a: F, b: F) -> F { _mm512_unpacklo_ps(a, b) }
        fn unpackhi_ps(a: F, b: F) -> F { _mm512_unpackhi_ps(a, b) }
        fn unpacklo_pd(a: F, b: F) -> F {
            _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)))
        }
        fn unpackhi_pd(a: F, b: F) -> F {
            _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)))
        }
    }

    /// `a >> N` per 32-bit lane.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn srli<const N: u32>(a: I) -> I {
        _mm512_srli_epi32::<N>(a)
    }

    /// Stores the `W` words of `v` into `a` (for tests).
    #[cfg(test)]
    #[target_feature(enable = "avx512f")]
    unsafe fn store_i(a: &mut [u32], v: I) {
        _mm512_storeu_si512(a[..W].as_mut_ptr() as *mut I, v)
    }

    simd_generator!("avx512f");
}

/// Fills `out[j]` with the normal of element `start + j` (same numbers as [`normal`]).
///
/// Element indices wrap modulo 2⁶⁴ (the block counter itself wraps at 2³² blocks, as in
/// [`block_of`]), so any `start` is valid.
pub fn fill_normal(
    seed: u64,
    purpose: Purpose,
    sample: u32,
    step: u32,
    start: u64,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        #[cfg(gdf_avx512)]
        if crate::par::has_avx512() {
            // SAFETY: the CPU supports the features the function was compiled for.
            unsafe { avx512::fill(key(seed), purpose as u32, sample, step, start, out) };
            return;
        }
        if crate::par::has_avx2() {
            // SAFETY: the CPU supports the features the function was compiled for.
            unsafe { avx2::fill(key(seed), purpose as u32, sample, step, start, out) };
            return;
        }
    }
    fill_portable(seed, purpose, sample, step, start, out)
}

/// [`fill_normal`] without explicit SIMD (the path of CPUs without AVX2): groups of
/// [`LANES`] blocks (32 elements) from [`philox_lanes`] and [`normals_lanes`], a group cut by
/// the start or the end of the range through a scratch buffer.
fn fill_portable(seed: u64, purpose: Purpose, sample: u32, step: u32, start: u64, out: &mut [f32]) {
    const GROUP: usize = 4 * LANES;
    let (k, p) = (key(seed), purpose as u32);
    let mut i = start;
    let mut rest = out;
    let mut scratch = [0f32; GROUP];
    while !rest.is_empty() {
        let off = (i % GROUP as u64) as usize;
        let take = rest.len().min(GROUP - off);
        let (head, tail) = rest.split_at_mut(take);
        // The group's first block, modulo 2³² like the scalar counter.
        let first = (i / GROUP as u64 * LANES as u64) as u32;
        let words = philox_lanes(first, sample, step, p, k);
        if take == GROUP {
            normals_lanes(words, head.try_into().expect("a whole group"));
        } else {
            normals_lanes(words, &mut scratch);
            head.copy_from_slice(&scratch[off..off + take]);
        }
        rest = tail;
        i = i.wrapping_add(take as u64);
    }
}

/// A `rand` generator over one counter stream `(seed, purpose, sample, step)`, for draws that
/// need uniforms (training `t`, bucket choices) or `rand_distr` distributions.
#[derive(Clone, Debug)]
pub struct CounterRng {
    key: [u32; 2],
    ctr: [u32; 4],
    buf: [u32; 4],
    used: usize,
}

impl CounterRng {
    /// The stream of `(seed, purpose, sample, step)`.
    pub fn new(seed: u64, purpose: Purpose, sample: u32, step: u32) -> Self {
        Self {
            key: key(seed),
            ctr: [0, sample, step, purpose as u32],
            buf: [0; 4],
            used: 4,
        }
    }
}

impl RngCore for CounterRng {
    fn next_u32(&mut self) -> u32 {
        if self.used == 4 {
            self.buf = philox4x32(self.ctr, self.key);
            self.ctr[0] = self.ctr[0].wrapping_add(1);
            self.used = 0;
        }
        self.used += 1;
        self.buf[self.used - 1]
    }
    fn next_u64(&mut self) -> u64 {
        let lo = self.next_u32() as u64;
        ((self.next_u32() as u64) << 32) | lo
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(4) {
            let w = self.next_u32().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_known_answer() {
        // Random123's published known-answer vectors for philox4x32_10.
        assert_eq!(
            philox4x32([0; 4], [0; 2]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox4x32(
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    /// The worst errors of `ln_f32` (relative) and `sincos_2pi` (absolute) against f64 over
    /// the uniforms of the words `words`.
    fn worst_errors(words: impl Iterator<Item = u32>) -> (f64, f64) {
        let mut worst_ln = 0.0f64;
        let mut worst_sc = 0.0f64;
        for w in words {
            let u = uniform24(w);
            let l = ln_f32(u) as f64;
            worst_ln = worst_ln.max((l - (u as f64).ln()).abs() / (u as f64).ln().abs().max(1e-30));
            let (s, c) = sincos_2pi(u);
            let a = u as f64 * core::f64::consts::TAU;
            worst_sc = worst_sc
                .max((s as f64 - a.sin()).abs())
                .max((c as f64 - a.cos()).abs());
        }
        (worst_ln, worst_sc)
    }

    /// Every one of the 2^24 uniforms (the figures in the docs of `ln_f32` and `sincos_2pi`):
    /// `cargo test --release --lib -- --ignored exhaustive`.
    #[test]
    #[ignore = "2^24 points; run in release"]
    fn ln_and_sincos_exhaustive() {
        let (ln, sc) = worst_errors((0..1u32 << 24).map(|i| i << 8));
        eprintln!("ln relative error ≤ {ln:e}, sincos absolute error ≤ {sc:e}");
        assert!(ln < 8.5e-8, "ln rel error {ln}");
        assert!(sc < 1.1e-7, "sincos abs error {sc}");
    }

    #[test]
    fn ln_and_sincos_match_std() {
        let (worst_ln, worst_sc) =
            worst_errors((0..200_000u32).map(|i| i.wrapping_mul(2_654_435_761)));
        assert!(worst_ln < 8.5e-8, "ln rel error {worst_ln}");
        assert!(worst_sc < 1.1e-7, "sincos abs error {worst_sc}");
    }

    #[test]
    fn portable_fill_equals_dispatched_fill() {
        for (start, len) in [(0u64, 64usize), (0, 1000), (5, 300), (64, 64), (4093, 517)] {
            let mut a = vec![0.0f32; len];
            let mut b = vec![0.0f32; len];
            fill_normal(9, Purpose::Epsilon, 1, 2, start, &mut a);
            fill_portable(9, Purpose::Epsilon, 1, 2, start, &mut b);
            assert_eq!(
                a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "start {start} len {len}"
            );
        }
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn lane_paths_agree() {
        let want = philox_lanes(77, 1, 2, 3, [4, 5]);
        for l in 0..LANES {
            let w = philox4x32([77 + l as u32, 1, 2, 3], [4, 5]);
            assert_eq!([want[0][l], want[1][l], want[2][l], want[3][l]], w);
        }
    }

    /// The bits of a slice, for comparisons that tell `-0.0` from `0.0` and show NaNs.
    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Every path the CPU has (portable, AVX2, AVX-512) over many ranges, seeds and counters:
    /// the same bits. Paths the CPU lacks are skipped with a message.
    #[test]
    fn simd_fill_paths_agree_bitwise() {
        let avx2 = cfg!(target_arch = "x86_64") && crate::par::has_avx2();
        let avx512 = cfg!(all(target_arch = "x86_64", gdf_avx512)) && crate::par::has_avx512();
        if !avx2 {
            eprintln!("skipped: this CPU has no AVX2 (with FMA)");
        }
        if !avx512 {
            eprintln!("skipped: this CPU has no AVX-512 (F, BW, DQ, VL)");
        }
        let starts = [
            0u64,
            1,
            7,
            8,
            31,
            32,
            63,
            64,
            127,
            128,
            129,
            1000,
            4093,
            (1 << 34) - 77, // the block counter wraps past 2³² inside the range
            u64::MAX - 300, // the element index wraps past 2⁶⁴ for the longer lengths
        ];
        let lens = [
            0usize, 1, 5, 8, 31, 32, 33, 64, 100, 127, 128, 129, 256, 300, 1031,
        ];
        let streams = [
            (0u64, Purpose::Epsilon, 0u32, 0u32),
            (9, Purpose::Sampler, 1, 2),
            (u64::MAX, Purpose::Init, u32::MAX, 7),
            (0x1234_5678_9abc_def0, Purpose::Offset, 3, u32::MAX),
        ];
        for &(seed, purpose, sample, step) in &streams {
            for &start in &starts {
                for &len in &lens {
                    let mut want = vec![0.0f32; len];
                    fill_portable(seed, purpose, sample, step, start, &mut want);
                    let mut got = vec![0.0f32; len];
                    #[cfg(target_arch = "x86_64")]
                    if avx2 {
                        // SAFETY: the CPU has AVX2 and FMA.
                        unsafe {
                            avx2::fill(key(seed), purpose as u32, sample, step, start, &mut got)
                        };
                        assert_eq!(bits(&got), bits(&want), "AVX2, start {start} len {len}");
                    }
                    #[cfg(all(target_arch = "x86_64", gdf_avx512))]
                    if avx512 {
                        got.fill(0.0);
                        // SAFETY: the CPU has AVX-512.
                        unsafe {
                            avx512::fill(key(seed), purpose as u32, sample, step, start, &mut got)
                        };
                        assert_eq!(bits(&got), bits(&want), "AVX-512, start {start} len {len}");
                    }
                    fill_normal(seed, purpose, sample, step, start, &mut got);
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "dispatched, start {start} len {len}"
                    );
                }
            }
        }
    }

    /// Philox words as `[register][word][lane]`.
    #[cfg(target_arch = "x86_64")]
    type Registers = Vec<[Vec<u32>; 4]>;

    /// One explicit-SIMD width's test hooks: its lanes, `lane_block`, `philox_words` and
    /// `normals_of` (see [`simd_generator`]).
    #[cfg(target_arch = "x86_64")]
    struct Width {
        name: &'static str,
        lanes: usize,
        lane_block: fn(usize) -> usize,
        words: unsafe fn(u32, [u32; 3], [u32; 2]) -> Registers,
        normals: unsafe fn(&[Vec<u32>; 4]) -> Vec<f32>,
    }

    /// The widths this CPU runs (skipping, with a message, those it lacks).
    #[cfg(target_arch = "x86_64")]
    fn widths() -> Vec<Width> {
        let mut out = Vec::new();
        if crate::par::has_avx2() {
            out.push(Width {
                name: "AVX2",
                lanes: 8,
                lane_block: avx2::lane_block,
                words: avx2::philox_words,
                normals: avx2::normals_of,
            });
        } else {
            eprintln!("skipped: this CPU has no AVX2 (with FMA)");
        }
        #[cfg(gdf_avx512)]
        if crate::par::has_avx512() {
            out.push(Width {
                name: "AVX-512",
                lanes: 16,
                lane_block: avx512::lane_block,
                words: avx512::philox_words,
                normals: avx512::normals_of,
            });
        } else {
            eprintln!("skipped: this CPU has no AVX-512 (F, BW, DQ, VL)");
        }
        out
    }

    /// Every explicit-SIMD width's Philox lanes against the scalar Philox, block by block.
    #[test]
    #[cfg(target_arch = "x86_64")]
    #[allow(clippy::needless_range_loop)]
    fn simd_philox_equals_scalar() {
        for w in widths() {
            for (first, ctr, k) in [
                (0u32, [0u32; 3], [0u32; 2]),
                (77, [1, 2, 3], [4, 5]),
                (u32::MAX - 20, [u32::MAX; 3], [u32::MAX; 2]),
                (
                    0x243f_6a88,
                    [0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                    [0xa409_3822, 0x299f_31d0],
                ),
            ] {
                // SAFETY: `widths` lists only what the CPU has.
                let regs = unsafe { (w.words)(first, ctr, k) };
                for (r, reg) in regs.iter().enumerate() {
                    for l in 0..w.lanes {
                        let block = first.wrapping_add((w.lanes * r + (w.lane_block)(l)) as u32);
                        let want = philox4x32([block, ctr[0], ctr[1], ctr[2]], k);
                        assert_eq!(
                            [reg[0][l], reg[1][l], reg[2][l], reg[3][l]],
                            want,
                            "{}, block {block}",
                            w.name
                        );
                    }
                }
            }
        }
    }

    /// A width's Box–Muller against [`normals4`] on the words whose top 24 bits run over
    /// `tops` (each used as every one of the four words, in turn with other words).
    #[cfg(target_arch = "x86_64")]
    #[allow(clippy::needless_range_loop)]
    fn box_muller_over(w: &Width, tops: impl Iterator<Item = u32>) {
        let tops: Vec<u32> = tops.collect();
        for chunk in tops.chunks(w.lanes) {
            let mut words: [Vec<u32>; 4] = core::array::from_fn(|_| vec![0u32; w.lanes]);
            for (l, &t) in chunk.iter().enumerate() {
                let x = t << 8 | (t & 0xff);
                // Word m of lane l: the same top bits in w0 (ln) and w1 (sincos), others
                // mixed in from neighbours for w2 and w3.
                words[0][l] = x;
                words[1][l] = x;
                words[2][l] = chunk[(l + 5) % chunk.len()] << 8;
                words[3][l] = chunk[(l + 11) % chunk.len()] << 8 | 0xff;
            }
            // SAFETY: `widths` lists only what the CPU has.
            let got = unsafe { (w.normals)(&words) };
            for l in 0..chunk.len() {
                let lane = [words[0][l], words[1][l], words[2][l], words[3][l]];
                // Lane l is block lane_block(l): output m at element 4·lane_block(l) + m.
                for (m, &z) in normals4(lane).iter().enumerate() {
                    let at = 4 * (w.lane_block)(l) + m;
                    assert_eq!(
                        got[at].to_bits(),
                        z.to_bits(),
                        "{}, output {m} of words {lane:?}",
                        w.name
                    );
                }
            }
        }
    }

    /// Every explicit-SIMD width's Box–Muller on the edge cases and a stride over all 2²⁴
    /// uniforms.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn simd_box_muller_equals_scalar() {
        for w in widths() {
            // Both ends of the range, the quarter-turn boundaries of sincos and the √½
            // boundary of ln, then a stride over all 2²⁴ uniforms.
            // (Words at and above 2³¹ give uniforms k·2⁻²⁴ after rounding, so 4u can be a
            // tie: 0x9f_ffff gives u = 0.625.)
            let edges = [
                0x9f_ffff,
                0xa0_0000,
                0xdf_ffff,
                0xe0_0000,
                0xbf_ffff,
                0xc0_0000,
                0u32,
                1,
                2,
                (1 << 24) - 1,
                (1 << 24) - 2,
                1 << 21,
                (1 << 21) - 1,
            ];
            let quarters = (0..5u32).flat_map(|q| {
                let c = (q << 22) as i64;
                (-3i64..3).map(move |d| (c + d).clamp(0, (1 << 24) - 1) as u32)
            });
            let sqrt_half =
                (11_863_283u32 - 40..11_863_283 + 40).chain(5_931_641 - 40..5_931_641 + 40);
            box_muller_over(&w, edges.into_iter().chain(quarters).chain(sqrt_half));
            box_muller_over(&w, (0..1u32 << 24).step_by(97));
        }
    }

    /// All 2²⁴ uniforms through every explicit-SIMD width's Box–Muller:
    /// `cargo test --release --lib -- --ignored simd_box_muller_exhaustive`.
    #[test]
    #[cfg(target_arch = "x86_64")]
    #[ignore = "2^24 points per width; run in release"]
    fn simd_box_muller_exhaustive() {
        for w in widths() {
            box_muller_over(&w, 0..1u32 << 24);
        }
    }

    /// The fastest of many runs of each path on 73 728 normals (one thread): the minimum is
    /// the figure least disturbed by other work on a shared machine.
    /// `cargo test --release --lib -- --ignored --nocapture time_fill_paths`.
    #[test]
    #[ignore = "a timing, not a check; run in release"]
    fn time_fill_paths() {
        let mut z = vec![0.0f32; 73_728];
        let time = |f: &mut dyn FnMut(&mut [f32])| {
            let mut z = z.clone();
            (0..400)
                .map(|_| {
                    let t = std::time::Instant::now();
                    f(&mut z);
                    t.elapsed().as_secs_f64() * 1e6
                })
                .fold(f64::INFINITY, f64::min)
        };
        let portable = time(&mut |z| fill_portable(1, Purpose::Epsilon, 0, 0, 0, z));
        eprintln!("portable: {portable:.1} µs");
        #[cfg(target_arch = "x86_64")]
        if crate::par::has_avx2() {
            // SAFETY: the CPU has AVX2 and FMA.
            let t = time(&mut |z| unsafe { avx2::fill(key(1), 0, 0, 0, 0, z) });
            eprintln!("AVX2: {t:.1} µs");
        }
        #[cfg(all(target_arch = "x86_64", gdf_avx512))]
        if crate::par::has_avx512() {
            // SAFETY: the CPU has AVX-512.
            let t = time(&mut |z| unsafe { avx512::fill(key(1), 0, 0, 0, 0, z) });
            eprintln!("AVX-512: {t:.1} µs");
        }
        fill_normal(1, Purpose::Epsilon, 0, 0, 0, &mut z);
    }

    #[test]
    fn fill_equals_pointwise() {
        // The last start wraps past 2⁶⁴ (it panicked on the overflow before): element
        // indices are taken modulo 2⁶⁴, as `normal` takes them.
        for start in [0u64, 1, 3, 5, 4096, u64::MAX - 40] {
            let mut buf = vec![0.0f32; 137];
            fill_normal(7, Purpose::Sampler, 2, 5, start, &mut buf);
            for (j, &z) in buf.iter().enumerate() {
                assert_eq!(
                    z.to_bits(),
                    normal(7, Purpose::Sampler, 2, 5, start.wrapping_add(j as u64)).to_bits()
                );
            }
        }
    }
}
