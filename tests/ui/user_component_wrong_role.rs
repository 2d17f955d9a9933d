// A user's noise cond put in the schedule slot: the compiler reports the role trait under it.
use gdf::prelude::*;

#[derive(Clone, Copy, Debug, Default)]
pub struct Half;

impl gdf::LogSnrFn for Half {
    fn write_decl(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
        out.write_str("self::Half")
    }
}

impl NoiseCond for Half {
    fn cond<F: gdf::Real>(&self, l: F) -> F {
        l * F::of(0.5)
    }
}

gdf::gdf!(Mine = schedule: self::Half, scaler: Vp, target: Epsilon, noise_cond: self::Half,
          loss_weight: P2);

fn main() {}
