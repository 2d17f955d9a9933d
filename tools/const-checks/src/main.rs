// One hand-written component per line, each with one constant out of its range: every
// line must fail the build with its own E0080 (run.sh counts them).
#![allow(unused)]
use gdf::konst::{Dec, One, Zero};
use gdf::{density as d, loss_weight as lw, noise_cond as nc, schedule as s, target as tg};
use typenum::*;
type Neg = Dec<N1, Z0>;
type Two = Dec<P2, Z0>;
type Half = Dec<P5, N1>;
fn main() {
    let _ = s::Cosine::<Neg>::default(); // s < 0
    let _ = s::Cosine::<Dec<P8, N3>, Zero, Two>::default(); // clamp hi > 1
    let _ = s::Cosine::<Dec<P8, N3>, Half, Half>::default(); // lo == hi
    let _ = s::Sqrt::<Neg>::default();
    let _ = s::Cosine2::<One, Zero>::default();
    let _ = s::Linear::<One, One>::default();
    let _ = s::RectifiedFlows::<One, Neg>::default();
    let _ = s::EdmSample::<Neg, Two>::default();
    let _ = s::EdmSample::<Two, One>::default();
    let _ = s::EdmSample::<Half, Two, Zero>::default();
    let _ = s::EdmTrain::<Zero, Zero>::default();
    let _ = s::StableDiffusion::<Zero, Half>::default();
    let _ = s::StableDiffusion::<Half, Dec<P1, N1>>::default();
    let _ = s::StableDiffusion::<Dec<P1, N3>, Half, U0>::default();
    let _ = nc::StableDiffusion::<Dec<P1, N3>, One>::default();
    let _ = d::LogitNormal::<Zero, Neg>::default();
    let _ = d::EdmLogNormal::<Zero, Zero>::default();
    let _ = nc::CosineT::<Neg>::default();
    let _ = nc::EdmSigma::<Zero>::default();
    let _ = nc::FlowSigma::<Neg>::default();
    let _ = lw::MinSnr::<Zero>::default();
    let _ = lw::MinSnrPlusOne::<Neg>::default();
    let _ = lw::TruncatedSnr::<Neg>::default();
    let _ = lw::Sech::<Zero>::default();
    let _ = lw::EdmWeight::<tg::X0, Zero>::default();
    let _ = lw::SoftMinSnr::<tg::X0, Neg>::default();
    let _ = lw::MinSnrGamma::<tg::Epsilon, Zero>::default();
    let _ = lw::Constant::<Dec<P1, P400>>::default();
    let _ = s::Interpolated::<s::Linear, s::Linear, Zero, One>::default();
    let _ = s::Shifted::<s::Linear, Zero>::default();
    let _ = s::DiscreteSteps::<s::Linear, U1>::default();
    let _ = nc::Shifted::<nc::LogSnr, Neg>::default();
    let _ = nc::Clamped::<nc::LogSnr, One, Zero>::default();
    let _ = nc::Discrete::<nc::CosineT, U10, One, One>::default();
    let _ = lw::Clamped::<lw::Snr, One, Neg>::default();
    let _ = s::AdaptiveTrain::<One, Zero>::default();
    let _ = s::AdaptiveTrain::<Neg, One, U0>::default();
    let _ = s::AdaptiveTrain::<Neg, One, U10, Neg>::default();
    let _ = lw::Adaptive::<Neg, One, U1>::default();
    let _ = lw::Adaptive::<Neg, One, U10, One, Zero>::default();
    let _ = nc::Discrete::<nc::CosineT, Prod<U1024, U2048>>::default();
}
