//! `gdf::dynamic::DynDensity` against the zero-sized densities: the same declaration, the
//! same `f(t)` and the same seeded draws, bit for bit; and its typed parameter errors.

use gdf::density::{CosMap, EdmLogNormal, LogitNormal, ModeSampling, UniformTimesteps};
use gdf::dynamic::DynDensity;
use gdf::framework::Gdf;
use gdf::grid::table::{DiscreteTable, TableSettings};
use gdf::loss_weight::Constant;
use gdf::noise_cond::LogSnr;
use gdf::prelude::*;
use gdf::scaler::Vp;
use gdf::target::Epsilon;
use gdf::GdfError;

fn draws<S: Schedule>(s: S) -> Vec<u64> {
    let g: Gdf<S, Vp, Epsilon, LogSnr, Constant, f64> =
        Gdf::new(s, Vp, Epsilon, LogSnr::new(), Constant::new());
    let mut out = vec![0.0f64; 257];
    g.logsnr_into(None, 1.0, 11, 3, &mut out).unwrap();
    out.iter().map(|x| x.to_bits()).collect()
}

fn same<A: Schedule, B: Schedule>(a: A, b: B) {
    assert_eq!(a.decl(), b.decl());
    assert_eq!(a.accepts_t(), b.accepts_t());
    if a.accepts_t() {
        for i in 0..=20 {
            let t = i as f64 / 20.0;
            let (x, y): (f64, f64) = (a.f(t), b.f(t));
            assert!(
                x.to_bits() == y.to_bits(),
                "{} at {t}: {x} vs {y}",
                a.decl()
            );
        }
        assert_eq!(a.limits(), b.limits());
    }
    assert_eq!(draws(a), draws(b));
}

#[test]
fn dynamic_densities_are_bit_identical() {
    same(
        DynDensity::logit_normal(0.0, 1.0).unwrap(),
        <LogitNormal>::new(),
    );
    same(
        DynDensity::edm_lognormal(-1.2, 1.2).unwrap(),
        <EdmLogNormal>::new(),
    );
    same(
        DynDensity::mode_sampling(1.29).unwrap(),
        <ModeSampling>::new(),
    );
    same(DynDensity::CosMap, CosMap::new());
    let table = DiscreteTable::new(&TableSettings::default()).unwrap();
    same(
        DynDensity::UniformTimesteps(UniformTimesteps::new(table.clone())),
        UniformTimesteps::new(table),
    );
}

#[test]
fn dynamic_density_errors_name_the_parameter() {
    let what = |r: Result<DynDensity, GdfError>| match r {
        Err(GdfError::OutOfRange { what, .. }) => what,
        other => panic!("expected OutOfRange, got {other:?}"),
    };
    assert_eq!(what(DynDensity::logit_normal(0.0, 0.0)), "s");
    assert_eq!(what(DynDensity::logit_normal(f64::NAN, 1.0)), "m");
    assert_eq!(what(DynDensity::edm_lognormal(-1.2, -1.0)), "p_std");
    assert_eq!(what(DynDensity::mode_sampling(2.0)), "mode_scale");
    assert_eq!(what(DynDensity::mode_sampling(-1.5)), "mode_scale");
    // Training-only densities refuse t, as EdmTrain does.
    let d = DynDensity::logit_normal(0.0, 1.0).unwrap();
    assert!(matches!(
        d.logsnr(0.5f64, 1.0),
        Err(GdfError::TrainingOnly { .. })
    ));
}
