//! # gdf — the Generic Diffusion Framework, as zero-sized types
//!
//! GDF (from Stable Cascade) describes a diffusion model's training and sampling setup as a
//! handful of small logSNR-centric components: a [schedule] (`t → λ`), an
//! [input scaler](scaler) (`λ → (a, b)`), a [target] (ε, x0, v, rectified flow), a
//! [noise conditioning](noise_cond), a [loss weight](loss_weight) and [samplers](sampler).
//! Swapping one part switches between DDPM/DDIM, EDM, rectified flows and their mixtures.
//!
//! Every component here is a type implementing [`LogSnrFn`] and its role's trait; its
//! hyperparameters are type-level constants ([`konst::Dec`]), so `Cosine` alone is the
//! original's `CosineSchedule()` and costs nothing at run time:
//!
//! ```
//! use gdf::prelude::*;
//! use gdf::schedule::Cosine;
//!
//! let schedule = <Cosine>::new();
//! assert_eq!(core::mem::size_of_val(&schedule), 0);
//! let l: f64 = schedule.logsnr(0.5, 1.0)?;          // t → logSNR
//! let (a, b) = scaler::Vp.ab(l);                     // logSNR → (a, b)
//! assert!((a * a + b * b - 1.0).abs() < 1e-12);
//! # Ok::<(), gdf::GdfError>(())
//! ```
//!
//! Components whose parameters are only known at run time (a config file) are the
//! [`dynamic`] types; they compute the same formulas.
#![deny(missing_docs)]

// `#[gdf::formulas]` and `gdf!` expand to `::gdf::…` paths, inside this crate too.
extern crate self as gdf;

mod buckets;
pub mod component;
pub mod consistency;
pub mod density;
pub mod dynamic;
pub mod error;
pub mod float;
pub mod formula;
pub mod framework;
pub mod grid;
pub mod guidance;
pub mod guide;
pub mod interop;
pub mod interp;
#[cfg(gdf_kernel)]
pub mod kernel;
pub mod konst;
pub mod loss_weight;
pub use loss_weight::weighting;
mod moments;
pub mod noise;
pub mod noise_cond;
mod par;
pub mod pipeline;
#[cfg(feature = "plot")]
pub mod plot;
pub mod sample;
pub mod sampler;
pub mod sampling;
pub mod scaler;
pub mod schedule;
pub mod solver;
pub mod table;
pub mod target;
mod team;
pub mod toy;

pub use component::{Decl, LogSnrFn};
pub use gdf_macros::{formulas, gdf};

/// What `gdf!`'s expansion names, so a crate using the macro needs only `gdf`.
#[doc(hidden)]
pub mod __private {
    pub use typenum;

    #[cfg(gdf_kernel)]
    pub use cubecl;

    /// Expands its input when `gdf` has a kernel runtime, to nothing otherwise (the `cube`
    /// half of a `#[formulas]` module follows `gdf`'s features, not the caller's).
    #[cfg(gdf_kernel)]
    #[macro_export]
    #[doc(hidden)]
    macro_rules! __gdf_with_kernel {
        ($($t:tt)*) => { $($t)* };
    }
    /// Expands its input when `gdf` has a kernel runtime, to nothing otherwise.
    #[cfg(not(gdf_kernel))]
    #[macro_export]
    #[doc(hidden)]
    macro_rules! __gdf_with_kernel {
        ($($t:tt)*) => {};
    }
    pub use crate::__gdf_with_kernel as with_kernel;
}
pub use error::{GdfError, Result};
pub use float::Real;

/// The README's code examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The traits and modules most code needs: `use gdf::prelude::*;`.
pub mod prelude {
    pub use crate::component::LogSnrFn;
    pub use crate::error::GdfError;
    pub use crate::float::Real;
    pub use crate::framework::Framework;
    pub use crate::guidance::{self, Guidance};
    pub use crate::loss_weight::{self, LossWeight};
    pub use crate::noise_cond::{self, NoiseCond};
    pub use crate::sampler::{self, Sampler};
    pub use crate::scaler::{self, Scaler};
    pub use crate::schedule::{self, Schedule};
    pub use crate::target::{self, Target};
}
