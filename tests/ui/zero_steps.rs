// Step counts too small to mean anything.
gdf::gdf!(Steps = schedule: Cosine(discrete_steps = 1), scaler: Vp, target: Epsilon,
          noise_cond: Discrete(CosineT, steps = 0), loss_weight: Adaptive(buckets = 0));

fn main() {}
