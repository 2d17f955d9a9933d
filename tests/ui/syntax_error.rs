// A slot written with `=` instead of `:`: the parser points at it.
gdf::gdf!(StageC = schedule = Cosine, scaler: Vp, target: Epsilon, noise_cond: CosineT,
          loss_weight: P2);

fn main() {}
