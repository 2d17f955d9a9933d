//! Hyperparameters as type-level constants.
//!
//! A component's hyperparameters are types, so a framework built from them is a zero-sized
//! type and every constant is known to the compiler. [`Dec<M, E>`] is the decimal `M·10^E`
//! with typenum integers `M` and `E`; its [`Const::F64`] is **bit-identical** to the `f64`
//! the decimal literal parses to (one correctly rounded multiplication or division of two
//! exactly representable numbers). The `gdf!` macro writes these types for you from ordinary
//! literals; by hand they read:
//!
//! ```
//! use gdf::konst::{Const, Dec, P9999};
//! use typenum::{N3, N4, P8};
//! assert_eq!(<Dec<P8, N3>>::F64, 0.008);
//! assert_eq!(<Dec<P9999, N4>>::F64, 0.9999);
//! ```
//!
//! # Checked at compile time
//!
//! A hand-written component checks its constants with the rules `gdf!` and the run-time
//! parser apply (a σ is positive, a range is `[lo, hi]` with `lo < hi`, a count is at least
//! its minimum and at most 2²⁰, and so on). The check is a constant evaluated where the
//! component is built (`new`, `default`, and so every framework holding it), so a constant
//! out of range fails `cargo build` and `cargo test` (error `E0080`, naming the component,
//! the parameter and the rule, with the offending type in the note below it) instead of
//! computing nonsense at run time. `cargo check` stops before constants are evaluated and
//! does not report it.
//!
//! ```compile_fail,E0080
//! use gdf::density::ModeSampling;
//! use gdf::konst::Dec;
//! use typenum::{P5, Z0};
//! // Mode sampling is monotone only for scale ∈ [−1, 2/(π−2)]: scale = 5 does not build.
//! let _ = ModeSampling::<Dec<P5, Z0>>::default();
//! ```
//!
//! ```
//! use gdf::density::ModeSampling;
//! use gdf::konst::Dec;
//! use typenum::{N1, P15};
//! let _ = ModeSampling::<Dec<P15, N1>>::default(); // scale = 1.5 builds
//! ```
//!
//! Wrappers check theirs the same way:
//!
//! ```compile_fail,E0080
//! use gdf::noise_cond::{CosineT, Discrete};
//! // `steps` must be at least 1.
//! let _ = Discrete::<CosineT, typenum::U0>::default();
//! ```

use core::fmt;
use core::marker::PhantomData;
use typenum::{Bit, Integer, Unsigned};

/// A type-level `f64` constant.
pub trait Const:
    'static + Send + Sync + Copy + Default + fmt::Debug + Eq + core::hash::Hash
{
    /// The constant's value.
    const F64: f64;
}

/// A type-level boolean (typenum's `True` / `False`).
pub trait Flag:
    'static + Send + Sync + Copy + Default + fmt::Debug + Eq + core::hash::Hash
{
    /// The flag's value.
    const BOOL: bool;
}
impl<B: Bit + Send + Sync + Copy + Default + fmt::Debug + Eq + core::hash::Hash + 'static> Flag
    for B
{
    const BOOL: bool = <B as Bit>::BOOL;
}

/// A type-level count (typenum unsigned, e.g. `U1000`).
pub trait Count:
    'static + Send + Sync + Copy + Default + fmt::Debug + Eq + core::hash::Hash
{
    /// The count's value.
    const U64: u64;
}
impl<U: Unsigned + Send + Sync + Copy + Default + fmt::Debug + Eq + core::hash::Hash + 'static>
    Count for U
{
    const U64: u64 = <U as Unsigned>::U64;
}

/// The exact decimal constant `M · 10^E` (`M`, `E` typenum integers).
///
/// Exact to the literal whenever `|M| < 2^53` and `|E| <= 22`, which covers every literal
/// with at most 15 significant digits in the usual range; `gdf!` checks this and refuses
/// literals it cannot encode exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Dec<M, E>(PhantomData<(M, E)>);

const fn pow10(e: i64) -> f64 {
    let mut r = 1.0;
    let mut i = 0;
    while i < e {
        r *= 10.0;
        i += 1;
    }
    r
}

impl<M, E> Const for Dec<M, E>
where
    M: Integer + Send + Sync + Copy + Default + fmt::Debug + Eq + core::hash::Hash + 'static,
    E: Integer + Send + Sync + Copy + Default + fmt::Debug + Eq + core::hash::Hash + 'static,
{
    const F64: f64 = if E::I64 >= 0 {
        M::I64 as f64 * pow10(E::I64)
    } else {
        M::I64 as f64 / pow10(-E::I64)
    };
}

/// `0`.
pub type Zero = Dec<typenum::Z0, typenum::Z0>;
/// `1`.
pub type One = Dec<typenum::P1, typenum::Z0>;
/// `1e9`, the original's default upper clamp for noise conds and loss weights.
pub type Big = Dec<typenum::P1, typenum::P9>;
/// `-1e9`, the original's default lower clamp for noise conds and loss weights.
pub type NegBig = Dec<typenum::N1, typenum::P9>;

/// The range checks of type-level constants, as `const fn`s: a component whose constants
/// are out of range fails to build (see [the module docs](self#checked-at-compile-time)).
/// The same checks as `gdf!` and the run-time parser (one catalog, `gdf_catalog`).
pub(crate) mod need {
    pub use gdf_catalog::valid::MAX_COUNT;

    /// Neither NaN nor infinite.
    pub const fn finite(x: f64) -> bool {
        // Comparisons (NaN fails both); `f64::is_finite` is `const` only from Rust 1.83.
        x > f64::NEG_INFINITY && x < f64::INFINITY
    }
    /// Finite and `> 0`.
    pub const fn positive(x: f64) -> bool {
        finite(x) && x > 0.0
    }
    /// Finite and `>= 0`.
    pub const fn nonneg(x: f64) -> bool {
        finite(x) && x >= 0.0
    }
    /// Within `[0, 1]`.
    pub const fn unit(x: f64) -> bool {
        x >= 0.0 && x <= 1.0
    }
    /// Within `(0, 1)`.
    pub const fn open_unit(x: f64) -> bool {
        x > 0.0 && x < 1.0
    }
    /// Both finite and `lo < hi`.
    pub const fn ordered(lo: f64, hi: f64) -> bool {
        finite(lo) && finite(hi) && lo < hi
    }
    /// A whole number in `[min, MAX_COUNT]`.
    pub const fn count(n: u64, min: u64) -> bool {
        n >= min && n <= MAX_COUNT
    }
    /// The variance schedules' parameters (Cosine, Sqrt): `s >= 0`, `clamp_range` within
    /// [0, 1] with lo < hi.
    pub const fn variance(s: f64, lo: f64, hi: f64) {
        assert!(nonneg(s), "Cosine / Sqrt: `s` must be zero or positive");
        assert!(
            unit(lo) && unit(hi),
            "Cosine / Sqrt: `clamp_range` must be within [0, 1] (it bounds a variance)"
        );
        assert!(
            lo < hi,
            "Cosine / Sqrt: `clamp_range` must be `[lo, hi]` with lo < hi"
        );
    }
    /// The StableDiffusion table's parameters (schedule and noise cond): `linear_range`
    /// within (0, 1) with lo < hi, `total_steps` in `[1, MAX_COUNT]`.
    pub const fn stable_diffusion(b0: f64, b1: f64, steps: u64) {
        assert!(
            open_unit(b0) && open_unit(b1),
            "StableDiffusion: `linear_range` must be within (0, 1) (β values are probabilities)"
        );
        assert!(
            b0 < b1,
            "StableDiffusion: `linear_range` must be `[lo, hi]` with lo < hi"
        );
        assert!(
            count(steps, 1),
            "StableDiffusion: `total_steps` must be a whole number in [1, 2^20]"
        );
    }
}

/// Formats an `f64` as the shortest literal that parses back to it (`0.008`, `1e-9`, `80.0`).
pub(crate) fn lit(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{x:?}")
    }
}

/// The typenum integer `9999` (for the default clamp `0.9999 = Dec<P9999, N4>`).
pub type P9999 = typenum::PInt<typenum::Prod<typenum::U99, typenum::U101>>;

/// A scalar hyperparameter that is either a type-level constant (zero-sized) or a runtime
/// `f64` (for frameworks configured at run time).
pub trait Param: Clone + Copy + fmt::Debug + Default + Send + Sync + 'static {
    /// The value.
    fn get(&self) -> f64;
}

impl<C: Const> Param for C {
    #[inline(always)]
    fn get(&self) -> f64 {
        C::F64
    }
}

impl Param for f64 {
    #[inline(always)]
    fn get(&self) -> f64 {
        *self
    }
}
