// A framework without a target and a loss weight: one error, on the declared name.
gdf::gdf!(pub StageC = schedule: Cosine, scaler: Vp, noise_cond: CosineT);

fn main() {}
