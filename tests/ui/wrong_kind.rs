// Parameters given values of the wrong kind.
gdf::gdf!(StageC = schedule: Cosine(clamp_range = 0.5, norm_instead = 1), scaler: Vp,
          target: Epsilon, noise_cond: Discrete(CosineT, steps = 1000.0), loss_weight: P2(k = [1, 2]),
          offset_noise: Vp);

fn main() {}
