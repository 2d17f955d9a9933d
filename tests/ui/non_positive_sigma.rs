// σ must be positive.
gdf::gdf!(Edm = schedule: EdmSample(sigma_range = [0, 80]), scaler: Vp, target: V,
          noise_cond: EdmSigma(sigma_data = -0.5), loss_weight: Snr);

fn main() {}
