// A misspelt parameter name.
gdf::gdf!(StageC = schedule: Cosine(clamp_rang = [0.0001, 0.9999]), scaler: Vp, target: Epsilon,
          noise_cond: CosineT, loss_weight: P2);

fn main() {}
