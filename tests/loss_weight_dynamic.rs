//! `gdf::dynamic::DynWeighting` against the zero-sized loss weights of `gdf::weighting`:
//! the same declaration and the same weights on a λ grid, bit for bit, for every target;
//! and its typed parameter errors.

use gdf::dynamic::{DynTarget, DynWeighting};
use gdf::konst::{Dec, One};
use gdf::prelude::*;
use gdf::target::{Epsilon, RectifiedFlows, V, X0};
use gdf::weighting::{CosMapWeight, EdmWeight, MinSnrGamma, SigmaSqrt, SoftMinSnr};
use gdf::GdfError;
use typenum::{N1, P5, Z0};

type Half = Dec<P5, N1>;
type Five = Dec<P5, Z0>;

fn same<A: LossWeight, B: LossWeight>(a: A, b: B) {
    assert_eq!(a.decl(), b.decl());
    for i in 0..=96 {
        let l = -12.0 + 0.25 * i as f64;
        let (x, y): (f64, f64) = (a.weight(l), b.weight(l));
        assert!(
            x.to_bits() == y.to_bits(),
            "{} at {l}: {x} vs {y}",
            a.decl()
        );
        let (x, y): (f32, f32) = (a.weight(l as f32), b.weight(l as f32));
        assert!(
            x.to_bits() == y.to_bits(),
            "{} f32 at {l}: {x} vs {y}",
            a.decl()
        );
    }
}

#[test]
fn dynamic_weights_are_bit_identical() {
    use DynTarget as T;
    same(
        DynWeighting::edm(T::X0, 0.5).unwrap(),
        EdmWeight::<X0, Half>::new(),
    );
    same(
        DynWeighting::edm(T::Epsilon, 0.5).unwrap(),
        EdmWeight::<Epsilon, Half>::new(),
    );
    same(
        DynWeighting::edm(T::V, 0.5).unwrap(),
        EdmWeight::<V, Half>::new(),
    );
    same(
        DynWeighting::edm(T::RectifiedFlows, 0.5).unwrap(),
        EdmWeight::<RectifiedFlows, Half>::new(),
    );
    same(
        DynWeighting::soft_min_snr(T::X0, 1.0).unwrap(),
        SoftMinSnr::<X0, One>::new(),
    );
    same(
        DynWeighting::soft_min_snr(T::Epsilon, 0.5).unwrap(),
        SoftMinSnr::<Epsilon, Half>::new(),
    );
    same(
        DynWeighting::min_snr_gamma(T::Epsilon, 5.0).unwrap(),
        MinSnrGamma::<Epsilon, Five>::new(),
    );
    same(
        DynWeighting::min_snr_gamma(T::V, 5.0).unwrap(),
        MinSnrGamma::<V, Five>::new(),
    );
    same(
        DynWeighting::min_snr_gamma(T::X0, 1.0).unwrap(),
        MinSnrGamma::<X0, One>::new(),
    );
    same(
        DynWeighting::min_snr_gamma(T::RectifiedFlows, 5.0).unwrap(),
        MinSnrGamma::<RectifiedFlows, Five>::new(),
    );
    same(DynWeighting::SigmaSqrt, SigmaSqrt);
    same(DynWeighting::CosMap, CosMapWeight);
}

#[test]
fn dynamic_weight_errors_name_the_parameter() {
    let what = |r: Result<DynWeighting, GdfError>| match r {
        Err(GdfError::OutOfRange { what, .. }) => what,
        other => panic!("expected OutOfRange, got {other:?}"),
    };
    assert_eq!(what(DynWeighting::edm(DynTarget::X0, 0.0)), "sigma_data");
    assert_eq!(
        what(DynWeighting::soft_min_snr(DynTarget::X0, f64::INFINITY)),
        "sigma_data"
    );
    assert_eq!(
        what(DynWeighting::min_snr_gamma(DynTarget::V, -5.0)),
        "gamma"
    );
}
