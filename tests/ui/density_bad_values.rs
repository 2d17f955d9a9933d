// The training densities check their values like every schedule.
gdf::gdf!(Sd3 = schedule: LogitNormal(s = 0), scaler: Lerp, target: RectifiedFlows,
          noise_cond: LogSnr, loss_weight: SigmaSqrt);
gdf::gdf!(Mode = schedule: ModeSampling(scale = 5), scaler: Lerp, target: RectifiedFlows,
          noise_cond: LogSnr, loss_weight: Constant);

fn main() {}
