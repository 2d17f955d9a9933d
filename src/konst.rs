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
