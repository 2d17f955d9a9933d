// Two scalers (one under the original's name `input_scaler`).
gdf::gdf!(StageC = schedule: Cosine, scaler: Vp, target: Epsilon, input_scaler: Lerp,
          noise_cond: CosineT, loss_weight: P2);

fn main() {}
