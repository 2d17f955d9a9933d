// Literals that no type-level constant holds exactly are refused, not rounded.
gdf::gdf!(StageC = schedule: Cosine(s = 0.12345678901234567), scaler: Vp, target: Epsilon,
          noise_cond: CosineT(s = 1e-30), loss_weight: P2(k = 1f32, gamma = -0.0));

fn main() {}
