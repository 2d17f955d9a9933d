// The modern loss weights check their values and their target's role like every component.
gdf::gdf!(Edm = schedule: EdmSample, scaler: Vp, target: V, noise_cond: Edm,
          loss_weight: EdmWeight(target = Vp, sigma_data = -0.5));
gdf::gdf!(Gamma = schedule: Cosine, scaler: Vp, target: Epsilon, noise_cond: CosineT,
          loss_weight: MinSnrGamma(gamma = 0));

fn main() {}
