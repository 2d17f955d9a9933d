// Nested components of the wrong role, and a user path given parameters.
gdf::gdf!(Mix = schedule: Interpolated(Cosine, Vp), scaler: Vp, target: Epsilon,
          noise_cond: Discrete(my::Cond(k = 1)), loss_weight: Composed(mul = [Snr, Edm]));

fn main() {}
