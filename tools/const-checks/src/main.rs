// One hand-written component per line, each with one constant out of its range: every line
// must fail the build with its own E0080 (run.sh counts them). The comment names the
// parameter: `tests/types.rs` checks that every checked parameter of the catalog has a line.
#![allow(unused)]
use gdf::konst::{Dec, One, Zero};
use gdf::target as tg;
use typenum::*;
type Neg = Dec<N1, Z0>;
type Two = Dec<P2, Z0>;
type Half = Dec<P5, N1>;
type Milli = Dec<P1, N3>;
#[rustfmt::skip]
fn main() {
    let _ = gdf::schedule::Cosine::<Neg>::default(); // s
    let _ = gdf::schedule::Cosine::<Milli, Zero, Two>::default(); // clamp_range (hi > 1)
    let _ = gdf::schedule::Cosine::<Milli, Half, Half>::default(); // clamp_range (lo == hi)
    let _ = gdf::schedule::Sqrt::<Neg>::default(); // s
    let _ = gdf::schedule::Sqrt::<Milli, Neg, Half>::default(); // clamp_range
    let _ = gdf::schedule::Cosine2::<One, Zero>::default(); // logsnr_range
    let _ = gdf::schedule::Linear::<One, One>::default(); // logsnr_range
    let _ = gdf::schedule::RectifiedFlows::<One, Neg>::default(); // logsnr_range
    let _ = gdf::schedule::EdmSample::<Neg, Two>::default(); // sigma_range (σ ≤ 0)
    let _ = gdf::schedule::EdmSample::<Two, One>::default(); // sigma_range (lo > hi)
    let _ = gdf::schedule::EdmSample::<Half, Two, Zero>::default(); // p
    let _ = gdf::schedule::EdmTrain::<Zero, Zero>::default(); // std
    let _ = gdf::schedule::StableDiffusion::<Zero, Half>::default(); // linear_range (β = 0)
    let _ = gdf::schedule::StableDiffusion::<Half, Milli>::default(); // linear_range (lo > hi)
    let _ = gdf::schedule::StableDiffusion::<Milli, Half, U0>::default(); // total_steps
    let _ = gdf::schedule::AdaptiveTrain::<One, Zero>::default(); // logsnr_range
    let _ = gdf::schedule::AdaptiveTrain::<Neg, One, U0>::default(); // buckets
    let _ = gdf::schedule::AdaptiveTrain::<Neg, One, U10, Neg>::default(); // min_probs
    let _ = gdf::schedule::Interpolated::<gdf::schedule::Linear, gdf::schedule::Linear, Zero, One>::default(); // shifts
    let _ = gdf::schedule::Shifted::<gdf::schedule::Linear, Zero>::default(); // shift
    let _ = gdf::schedule::DiscreteSteps::<gdf::schedule::Linear, U1>::default(); // discrete_steps
    let _ = gdf::density::LogitNormal::<Zero, Neg>::default(); // s
    let _ = gdf::density::ModeSampling::<Two>::default(); // scale
    let _ = gdf::density::EdmLogNormal::<Zero, Zero>::default(); // p_std
    let _ = gdf::noise_cond::CosineT::<Neg>::default(); // s
    let _ = gdf::noise_cond::EdmSigma::<Zero>::default(); // sigma_data
    let _ = gdf::noise_cond::FlowSigma::<Neg>::default(); // scale
    let _ = gdf::noise_cond::LogSigma::<Zero>::default(); // scale
    let _ = gdf::noise_cond::FlowAlpha::<Neg>::default(); // scale
    let _ = gdf::target::Consistency::<Neg>::default(); // sigma_min
    let _ = gdf::noise_cond::StableDiffusion::<Milli, One>::default(); // linear_range
    let _ = gdf::noise_cond::StableDiffusion::<Milli, Half, U0>::default(); // total_steps
    let _ = gdf::noise_cond::Discrete::<gdf::noise_cond::CosineT, U10, One, One>::default(); // continuous_range
    let _ = gdf::noise_cond::Discrete::<gdf::noise_cond::CosineT, Prod<U1024, U2048>>::default(); // steps (> 2^20)
    let _ = gdf::noise_cond::Discrete::<gdf::noise_cond::CosineT, U0>::default(); // steps
    let _ = gdf::noise_cond::Shifted::<gdf::noise_cond::LogSnr, Neg>::default(); // shift
    let _ = gdf::noise_cond::Clamped::<gdf::noise_cond::LogSnr, One, Zero>::default(); // clamp_range
    let _ = gdf::loss_weight::Constant::<Dec<P1, P400>>::default(); // v (inf)
    let _ = gdf::loss_weight::P2::<Dec<P1, P400>>::default(); // k (inf)
    let _ = gdf::loss_weight::Sigmoid::<Dec<N1, P400>>::default(); // s (-inf)
    let _ = gdf::loss_weight::MinSnr::<Zero>::default(); // max_snr
    let _ = gdf::loss_weight::MinSnrPlusOne::<Neg>::default(); // max_snr
    let _ = gdf::loss_weight::TruncatedSnr::<Neg>::default(); // min_snr
    let _ = gdf::loss_weight::Sech::<Zero>::default(); // div
    let _ = gdf::loss_weight::EdmWeight::<tg::X0, Zero>::default(); // sigma_data
    let _ = gdf::loss_weight::SoftMinSnr::<tg::X0, Neg>::default(); // sigma_data
    let _ = gdf::loss_weight::MinSnrGamma::<tg::Epsilon, Zero>::default(); // gamma
    let _ = gdf::loss_weight::Adaptive::<One, Neg>::default(); // logsnr_range
    let _ = gdf::loss_weight::Adaptive::<Neg, One, U1>::default(); // buckets
    let _ = gdf::loss_weight::Adaptive::<Neg, One, U10, One, Zero>::default(); // weight_range
    let _ = gdf::loss_weight::Clamped::<gdf::loss_weight::Snr, One, Neg>::default(); // clamp_range
    let _ = gdf::sampler::Ddim::<Neg>::default(); // eta (< 0)
}
