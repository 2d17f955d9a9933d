// PiecewiseLinear needs run-time tables.
gdf::gdf!(Table = schedule: PiecewiseLinear, scaler: Vp, target: Epsilon, noise_cond: LogSnr,
          loss_weight: Snr);

fn main() {}
