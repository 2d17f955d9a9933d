// A misspelt slot name (not reported as a missing schedule as well).
gdf::gdf!(StageC = shedule: Cosine, scaler: Vp, target: Epsilon, noise_cond: CosineT,
          loss_weight: P2);

fn main() {}
