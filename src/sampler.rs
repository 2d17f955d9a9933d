//! Samplers: one step from λ to `λ_prev`, the next (less noisy) level (SPEC §6).
//!
//! A step is linear: `x ← c_x0·x0 + c_ε·ε + c_n·n` with per-sample coefficients from
//! [`Sampler::coefficients`] and fresh standard normal noise `n`.
//!
//! ```
//! use gdf::prelude::*;
//! // DDIM with η = 0 is deterministic: no noise term.
//! let [cx0, ceps, cn]: [f64; 3] = <sampler::Ddim>::new().coefficients(0.6, 0.8, 0.8, 0.6);
//! assert_eq!((cx0, ceps, cn), (0.8, 0.6, 0.0));
//! ```

use core::fmt;

use crate::component::{zst, LogSnrFn};
use crate::float::Real;
use crate::konst::{lit, Const, Zero};

/// A sampler: the coefficients of one step given `(a, b)` at λ and `(a', b')` at `λ_prev`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a sampler",
    label = "expected a sampler (one denoising step) here",
    note = "samplers are Ddim, Ddpm and Lcm, or your own type implementing `gdf::sampler::Sampler`"
)]
pub trait Sampler: LogSnrFn {
    /// `[c_x0, c_ε, c_n]` for `x ← c_x0·x0 + c_ε·ε + c_n·n`.
    fn coefficients<F: Real>(&self, a: F, b: F, a_prev: F, b_prev: F) -> [F; 3];
    /// Whether the step draws noise (`c_n` may be non-zero).
    fn uses_noise(&self) -> bool;
    /// Whether the step reads `ε` (LCM does not, so a non-finite ε cannot leak into it).
    fn uses_eps(&self) -> bool {
        true
    }
    /// One element of the step.
    #[inline(always)]
    fn apply<F: Real>(&self, c: [F; 3], x0: F, eps: F, n: F) -> F {
        let mut x = c[0] * x0;
        if self.uses_eps() {
            x = x + c[1] * eps;
        }
        if self.uses_noise() {
            x = x + c[2] * n;
        }
        x
    }
}

/// The DDIM coefficients with stochasticity `eta`:
/// `s = η·sqrt(b'²/b²)·sqrt(1 − a²/a'²)` (the literal 0 when `η = 0`),
/// `[a', sqrt(b'² − s²), s]`. With a Lerp scaler and η = 1, `b'² − s²` can be negative: the
/// result is NaN, as the original.
#[inline(always)]
pub fn ddim_coefficients<F: Real>(eta: F, a: F, b: F, a_prev: F, b_prev: F) -> [F; 3] {
    let s = if eta > F::zero() {
        eta * (b_prev * b_prev / (b * b)).sqrt() * (F::one() - a * a / (a_prev * a_prev)).sqrt()
    } else {
        F::zero()
    };
    [a_prev, (b_prev * b_prev - s * s).sqrt(), s]
}

zst!(
    /// DDIM with stochasticity `eta` (default 0: deterministic).
    Ddim<Eta: Const = Zero>
);

impl<Eta: Const> LogSnrFn for Ddim<Eta> {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "Ddim(eta = {})", lit(Eta::F64))
    }
}

impl<Eta: Const> Sampler for Ddim<Eta> {
    #[inline(always)]
    fn coefficients<F: Real>(&self, a: F, b: F, a_prev: F, b_prev: F) -> [F; 3] {
        ddim_coefficients(F::of(Eta::F64), a, b, a_prev, b_prev)
    }
    fn uses_noise(&self) -> bool {
        Eta::F64 > 0.0
    }
}

zst!(
    /// DDPM ancestral sampling: DDIM with `η = 1`.
    Ddpm
);

impl LogSnrFn for Ddpm {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("Ddpm")
    }
}

impl Sampler for Ddpm {
    #[inline(always)]
    fn coefficients<F: Real>(&self, a: F, b: F, a_prev: F, b_prev: F) -> [F; 3] {
        ddim_coefficients(F::one(), a, b, a_prev, b_prev)
    }
    fn uses_noise(&self) -> bool {
        true
    }
}

zst!(
    /// Latent consistency sampling: `x ← a'·x0 + b'·n` (fresh noise, ε unused).
    Lcm
);

impl LogSnrFn for Lcm {
    fn write_decl(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str("Lcm")
    }
}

impl Sampler for Lcm {
    #[inline(always)]
    fn coefficients<F: Real>(&self, _a: F, _b: F, a_prev: F, b_prev: F) -> [F; 3] {
        [a_prev, F::zero(), b_prev]
    }
    fn uses_noise(&self) -> bool {
        true
    }
    fn uses_eps(&self) -> bool {
        false
    }
}
