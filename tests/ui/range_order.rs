// Ranges whose ends are not in order.
gdf::gdf!(Lin = schedule: Linear(logsnr_range = [10, -10]), scaler: Vp, target: Epsilon,
          noise_cond: LogSnr(clamp_range = [1, 1]), loss_weight: Snr);

fn main() {}
