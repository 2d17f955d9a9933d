//! One source per formula: the vocabulary that `#[gdf::formulas]` bodies are written in.
//!
//! Every component's arithmetic is written once, in a module under
//! [`#[formulas]`](crate::formulas), and compiled twice: as host code (generic over
//! [`Real`](crate::Real), f32 and f64) and, when the crate is built with a kernel runtime (`wgpu`, `cuda`
//! or `hip`), as `#[cube]` code in the module's `cube` submodule. The bodies use only what
//! both sides spell the same way:
//!
//! | write | host ([`host`]) | device (`device`, with a kernel feature) |
//! |---|---|---|
//! | `F::ln(x)`, `F::exp`, `F::sqrt`, `F::cos`, `F::tan`, `F::atan`, `F::acos`, `F::atan2`, `F::powf`, `F::powi`, `F::abs`, `F::min`, `F::max`, `F::floor`, `F::trunc` | `num_traits::Float` | cubecl's `Float` |
//! | `F::new(1.0)` (constants exact in f32) | [`Real::new`](crate::Real::new) | `Float::new` |
//! | `konst::<F>(c)` (any `f64` constant) | `F::of(c)` | `F::new(c as f32)`, at expansion time |
//! | `clamp::<F>(x, lo, hi)` | `torch.clamp` semantics | the same, NaN-preserving |
//! | `select(c, a, b)` | `if c { a } else { b }` | cubecl's `select` |
//! | `sigmoid::<F>(x)`, `logit::<F>(v)`, `round_even::<F>(x)`, `is_nan::<F>(x)` | the crate's forms | the same formulas |
//! | `mul_hi`, `wrapping_mul`, `wrapping_add` (u32), `fma` (f32), `f32_to_bits`, `f32_from_bits`, `u32_to_f32` | std | cubecl's `mul_hi`, wrapping arithmetic, `fma`, `reinterpret`, `cast_from` |
//! | `div_rn::<F>(a, b)` (`a/b` where device and host must agree bit for bit) | `a / b` | `a / b` corrected to the IEEE quotient (a GPU's `/` may be an ulp or two off) |
//! | `#[unroll] for …` | a plain loop | an unrolled loop |
//! | `comptime!(e)`, `#[comptime] p: bool` | `e`, a plain parameter | expansion-time values |
//!
//! Functions of one module call each other by name on both sides; another formulas module is
//! imported with `#[formulas] use path::formula as name;`. Hyperparameters are plain
//! arguments: a zero-sized component passes `F::of(K::F64)` on the host and
//! `konst::<F>(comptime!(K::F64))` in its `#[cube]` impl; its run-time twin in
//! [`crate::dynamic`] passes its fields. So the formula exists once, and only the plumbing of
//! its parameters is written per side.
//!
//! ## Adding a component
//! One file in its role's folder (`src/schedule/`, `src/scaler/`, `src/target/`,
//! `src/noise_cond/`, `src/loss_weight/`, `src/sampler/`) holds the type, its `#[formulas]`
//! module, the host trait impl, the `#[cube]` trait impl (behind the kernel features), its
//! declaration text (`LogSnrFn::write_decl`) and a doc example; then one catalog entry in
//! `catalog/src/catalog.rs` makes it available to `gdf!` (and a builder arm in
//! `src/dynamic/parse.rs` to run-time text). A user's own component outside this
//! crate is written the same way (see `examples/downstream`).
//!
//! ```
//! #[gdf::formulas]
//! pub mod formula {
//!     /// A made-up schedule: `λ = hi − t·(hi − lo)` bent by `1 − t²`.
//!     pub fn bent<F: Float>(t: F, lo: F, hi: F) -> F {
//!         let w = F::new(1.0) - t * t;
//!         clamp::<F>(lo + w * (hi - lo), lo, hi)
//!     }
//! }
//! assert_eq!(formula::bent(0.0f64, -10.0, 10.0), 10.0);
//! assert_eq!(formula::bent(1.0f32, -10.0, 10.0), -10.0);
//! ```

/// The host side of the vocabulary (in scope in every `#[formulas]` module).
pub mod host {
    pub use crate::float::Real;

    /// The identity: on the host every value is already known.
    #[macro_export]
    #[doc(hidden)]
    macro_rules! __gdf_comptime {
        ($e:expr) => {
            $e
        };
    }
    pub use crate::__gdf_comptime as comptime;

    /// `torch.clamp`: NaN stays NaN, `lo` wins when `lo > hi`.
    #[inline(always)]
    pub fn clamp<F: Real>(x: F, lo: F, hi: F) -> F {
        crate::float::clamp(x, lo, hi)
    }

    /// `if c { a } else { b }` (both sides evaluated, as on the device).
    #[inline(always)]
    pub fn select<T>(c: bool, a: T, b: T) -> T {
        if c {
            a
        } else {
            b
        }
    }

    /// The logistic sigmoid `1/(1+e^−x)`.
    #[inline(always)]
    pub fn sigmoid<F: Real>(x: F) -> F {
        crate::float::sigmoid(x)
    }

    /// `ln(v/(1−v))`.
    #[inline(always)]
    pub fn logit<F: Real>(v: F) -> F {
        (v / (F::one() - v)).ln()
    }

    /// An `f64` constant in `F` (rounded to nearest).
    #[inline(always)]
    pub fn konst<F: Real>(x: f64) -> F {
        F::of(x)
    }

    /// `a / b`, IEEE-rounded (the device's form corrects its `/` to this).
    #[inline(always)]
    pub fn div_rn<F: Real>(a: F, b: F) -> F {
        a / b
    }

    /// Rounds half to even (`torch.round`).
    #[inline(always)]
    pub fn round_even<F: Real>(x: F) -> F {
        x.round_even()
    }

    /// Whether `x` is NaN.
    #[inline(always)]
    pub fn is_nan<F: Real>(x: F) -> bool {
        x.is_nan()
    }

    /// The high word of the 64-bit product `a·b`.
    #[inline(always)]
    pub fn mul_hi(a: u32, b: u32) -> u32 {
        ((a as u64 * b as u64) >> 32) as u32
    }

    /// `a·b` modulo 2³² (the low word).
    #[inline(always)]
    pub fn wrapping_mul(a: u32, b: u32) -> u32 {
        a.wrapping_mul(b)
    }

    /// `a + b` modulo 2³².
    #[inline(always)]
    pub fn wrapping_add(a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }

    /// `a·b + c` with one rounding (`f32::mul_add`).
    #[inline(always)]
    pub fn fma(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }

    /// The bits of an `f32`.
    #[inline(always)]
    pub fn f32_to_bits(x: f32) -> u32 {
        x.to_bits()
    }

    /// The `f32` with these bits.
    #[inline(always)]
    pub fn f32_from_bits(b: u32) -> f32 {
        f32::from_bits(b)
    }

    /// `u32 → f32`, rounded to nearest.
    #[inline(always)]
    pub fn u32_to_f32(u: u32) -> f32 {
        u as f32
    }
}

/// The device side of the vocabulary (in scope in every `#[formulas]` module's `cube`
/// submodule): cubecl's prelude plus the crate's `#[cube]` helpers.
#[cfg(gdf_kernel)]
#[allow(missing_docs)] // `#[cube]` expands each function into undocumented items
pub mod device {
    pub use crate::kernel::prim::{clamp, konst, logit, sigmoid};
    pub use cubecl::prelude::*;

    /// Rounds half to even (the device's `round`).
    #[cube]
    pub fn round_even<F: Float>(x: F) -> F {
        F::round(x)
    }

    /// `a / b` rounded to nearest as IEEE division rounds it, in f32. A GPU's `/` need not be
    /// (Vulkan allows 2.5 ulp, and an H200's is an ulp off at times), so the device quotient
    /// is corrected by [`correct_quotient`](fn@correct_quotient), in exact integer arithmetic (a fused
    /// multiply-add is not fused on every device, so a remainder through one is not exact).
    #[cube]
    pub fn div_rn<F: Float>(a: F, b: F) -> F {
        let a = f32::cast_from(a);
        let b = f32::cast_from(b);
        F::cast_from(correct_quotient(a, b, a / b))
    }

    /// The IEEE quotient `a/b` from an approximation `q` of it within two ulps: twice, step
    /// `q` up if `|a/b|` lies above the midpoint between `|q|` and the float after it, or down
    /// if below the midpoint between the float before it and `|q|` (a quotient of floats is
    /// never a midpoint, so there are no ties). Where `a`, `b`, `q` or the floats two steps
    /// around `q` are not normal, `q` is returned as it is.
    #[cube]
    #[allow(clippy::manual_range_contains)] // `#[cube]` code has no ranges
    pub fn correct_quotient(a: f32, b: f32, q: f32) -> f32 {
        let ua = u32::reinterpret(a);
        let ub = u32::reinterpret(b);
        let mut m = u32::reinterpret(q) & 0x7fff_ffffu32;
        let (ea, eb) = ((ua >> 23u32) & 0xffu32, (ub >> 23u32) & 0xffu32);
        let ok = ea != 0u32
            && ea != 0xffu32
            && eb != 0u32
            && eb != 0xffu32
            && m >= 0x0080_0002u32
            && m <= 0x7f7f_fffdu32;
        let (ma, mb) = (ua & 0x7fff_ffffu32, ub & 0x7fff_ffffu32);
        #[unroll]
        for _ in 0..2 {
            let up = above_upper_mid(ma, mb, m);
            let down = !above_upper_mid(ma, mb, m - 1u32);
            m = select(up, m + 1u32, select(down, m - 1u32, m));
        }
        let sign = (ua ^ ub) & 0x8000_0000u32;
        select(ok, f32::reinterpret(m | sign), q)
    }

    /// Whether `a/b` exceeds the midpoint between `q` and the float after it (`a`, `b`, `q`
    /// the bits of positive normal floats): `A·2^d > (2Q + 1)·B` on the 24-bit significands,
    /// with the 64-bit sides as two 32-bit words.
    #[cube]
    fn above_upper_mid(a: u32, b: u32, q: u32) -> bool {
        // a = A·2^(ea−150), b = B·2^(eb−150), the midpoint (2Q+1)·2^(eq−151).
        let d =
            i32::cast_from(a >> 23u32) - i32::cast_from(q >> 23u32) - i32::cast_from(b >> 23u32)
                + 151i32;
        let sa = (a & 0x007f_ffffu32) | 0x0080_0000u32;
        let sb = (b & 0x007f_ffffu32) | 0x0080_0000u32;
        let l = 2u32 * ((q & 0x007f_ffffu32) | 0x0080_0000u32) + 1u32;
        let (l_hi, l_lo) = (u32::mul_hi(l, sb), l * sb);
        // A·2^d as two words for 0 ≤ d < 32 (d is 23 to 25 when q is near a/b).
        let dc = u32::cast_from(i32::clamp(d, 0i32, 31i32));
        let lo = sa << dc;
        let hi = select(dc == 0u32, 0u32, sa >> ((32u32 - dc) & 31u32));
        let above = hi > l_hi || (hi == l_hi && lo > l_lo);
        // (2Q+1)·B lies in [2^47, 2^49): above A·2^d < 2^24 when d < 0, below A·2^d ≥ 2^55
        // when d ≥ 32.
        select(d < 0i32, false, select(d >= 32i32, true, above))
    }

    /// Whether `x` is NaN (a bit test: drivers may assume NaN-free arithmetic).
    #[cube]
    pub fn is_nan<F: Float>(x: F) -> bool {
        f32::is_nan(f32::cast_from(x))
    }

    /// The high word of the 64-bit product `a·b`.
    #[cube]
    pub fn mul_hi(a: u32, b: u32) -> u32 {
        u32::mul_hi(a, b)
    }

    /// `a·b` modulo 2³².
    #[cube]
    pub fn wrapping_mul(a: u32, b: u32) -> u32 {
        a * b
    }

    /// `a + b` modulo 2³².
    #[cube]
    pub fn wrapping_add(a: u32, b: u32) -> u32 {
        a + b
    }

    /// The bits of an `f32`.
    #[cube]
    pub fn f32_to_bits(x: f32) -> u32 {
        u32::reinterpret(x)
    }

    /// The `f32` with these bits.
    #[cube]
    pub fn f32_from_bits(b: u32) -> f32 {
        f32::reinterpret(b)
    }

    /// `u32 → f32`, rounded to nearest.
    #[cube]
    pub fn u32_to_f32(u: u32) -> f32 {
        f32::cast_from(u)
    }
}
