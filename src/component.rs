//! The shared base of every component.

use core::fmt;

/// The shared base trait of every GDF component: a pure per-sample scalar function in the
/// logSNR domain (schedules map `t → λ`, everything else maps `λ → …`).
///
/// Components are usually zero-sized types whose hyperparameters are type-level constants
/// (see [`crate::konst`]); the few that carry state (adaptive buckets, piecewise tables,
/// stretched scaler limits) are small values. Each role has its own trait on top of this one:
/// [`Schedule`](crate::schedule::Schedule), [`Scaler`](crate::scaler::Scaler),
/// [`Target`](crate::target::Target), [`NoiseCond`](crate::noise_cond::NoiseCond),
/// [`LossWeight`](crate::loss_weight::LossWeight), [`Sampler`](crate::sampler::Sampler).
pub trait LogSnrFn: Clone + fmt::Debug + Send + Sync + 'static {
    /// Writes the component's declaration in `gdf!` syntax with every parameter explicit,
    /// e.g. `Cosine(s = 0.008, clamp_range = [0.0001, 0.9999], norm_instead = false)`.
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result;

    /// The declaration as a `String` (see [`LogSnrFn::write_decl`]).
    ///
    /// ```
    /// use gdf::prelude::*;
    /// assert_eq!(<schedule::Linear>::default().decl(), "Linear(logsnr_range = [-10.0, 10.0])");
    /// ```
    fn decl(&self) -> String {
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = self.write_decl(&mut s);
        s
    }
}

/// Displays a component through its declaration.
#[derive(Clone, Copy, Debug)]
pub struct Decl<'a, C>(pub &'a C);

impl<C: LogSnrFn> fmt::Display for Decl<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write_decl(f)
    }
}

/// Declares a zero-sized component struct with type-level parameters, its `new` and its
/// `Default`. An optional `check { … }` block holds `assert!`s on the constants; it is
/// evaluated at compile time wherever the component is built (`new`, `default`), so a
/// constant out of range fails the build instead of computing nonsense.
macro_rules! zst {
    ($(#[$m:meta])* $name:ident < $($p:ident : $bound:path = $def:ty),* $(,)? >
     $(check $check:block)?) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name<$($p: $bound = $def),*>(core::marker::PhantomData<($($p,)*)>);
        impl<$($p: $bound),*> $name<$($p),*> {
            /// The range checks of the constants (a compile-time error when one fails).
            const VALID: () = { $($check)? };
            /// The component (a zero-sized value). Its constants are checked at compile
            /// time: one out of range fails the build.
            pub const fn new() -> Self {
                let () = Self::VALID;
                Self(core::marker::PhantomData)
            }
        }
        impl<$($p: $bound),*> Default for $name<$($p),*> {
            fn default() -> Self {
                Self::new()
            }
        }
    };
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub struct $name;
        impl $name {
            /// The component (a zero-sized value).
            pub const fn new() -> Self {
                Self
            }
        }
    };
}
pub(crate) use zst;
