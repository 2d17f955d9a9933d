// Positional arguments where names are needed, a missing required one, too many factors.
gdf::gdf!(Args = schedule: Interpolated(Cosine), scaler: Vp, target: Epsilon,
          noise_cond: EdmSigma(0.5),
          loss_weight: Composed(mul = [Snr, Snr, Snr, Snr, Snr]));

fn main() {}
