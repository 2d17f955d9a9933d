// Components in the wrong slots.
gdf::gdf!(StageC = schedule: Vp, scaler: Cosine, target: Epsilon, noise_cond: CosineT,
          loss_weight: Edm);

fn main() {}
