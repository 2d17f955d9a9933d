// The original ignores clamp_range on CosineTNoiseCond: refuse it rather than drop it.
gdf::gdf!(StageC = schedule: Cosine, scaler: Vp, target: Epsilon,
          noise_cond: CosineT(clamp_range = [0, 2]), loss_weight: P2);

fn main() {}
