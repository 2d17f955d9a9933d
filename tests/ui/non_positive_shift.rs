// A shift multiplies σ: it must be positive. A clamp has no effect inside Composed.
gdf::gdf!(Shift = schedule: Cosine(shift = 0), scaler: Vp, target: Epsilon,
          noise_cond: Edm(shift = -2),
          loss_weight: Composed(mul = [Snr(clamp_range = [0, 5])]));

fn main() {}
