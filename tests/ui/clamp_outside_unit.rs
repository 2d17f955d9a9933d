// A variance clamp outside [0, 1], and a β range outside (0, 1).
gdf::gdf!(StageC = schedule: Cosine(clamp_range = [-0.1, 1.5]), scaler: Vp, target: Epsilon,
          noise_cond: StableDiffusion(linear_range = [0.0, 0.012]), loss_weight: P2);

fn main() {}
