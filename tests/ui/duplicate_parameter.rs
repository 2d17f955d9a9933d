// The same parameter twice: the error is on the second one.
gdf::gdf!(StageC = schedule: Cosine, scaler: Vp, target: Epsilon, noise_cond: CosineT,
          loss_weight: P2(k = 1, gamma = 2, k = 3));

fn main() {}
