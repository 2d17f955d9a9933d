//! The guidance formulas of the sampling step: classifier-free guidance and its rescale (host,
//! and `cube` on the device, from one source; see [`crate::formula`]).

/// The formulas.
#[crate::formulas]
pub mod formula {
    /// Classifier-free guidance: `p_u + g·(p_c − p_u)`.
    pub fn cfg<F: Float>(c: F, u: F, g: F) -> F {
        u + g * (c - u)
    }
    /// The rescale: `p·factor + keep·p`, with `factor = ρ·std(p_c)/(std(p_cfg) + 1e-9)` and
    /// `keep = 1 − ρ`.
    pub fn rescaled<F: Float>(p: F, factor: F, keep: F) -> F {
        p * factor + keep * p
    }
}
