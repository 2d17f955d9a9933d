// A misspelt built-in component: the error sits on the name and suggests the right one.
gdf::gdf!(StageC = schedule: Cosin, scaler: Vp, target: Epsilon, noise_cond: CosineT, loss_weight: P2);

fn main() {}
