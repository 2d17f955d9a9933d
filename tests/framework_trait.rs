//! `gdf::framework::Framework`: generic code names one bound and runs on a declared type, a
//! hand-written `Gdf<…>`, the run-time `DynGdf` and a user's type holding a framework, with
//! the same results as the inherent methods.

use gdf::dynamic::DynGdf;
use gdf::framework::{DiffuseArgs, Framework, Gdf};
use gdf::prelude::*;
use gdf::sample::{Cfg, SampleOpts};
use gdf::{loss_weight::P2, noise_cond::CosineT, scaler::Vp, schedule::Cosine, target::Epsilon};

gdf::gdf!(StageC = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp,
          target: Epsilon, noise_cond: CosineT, loss_weight: P2, offset_noise: 0.05);

/// A trainer's own type holding a framework next to its settings.
#[derive(Clone, Debug)]
struct Trainer<G> {
    gdf: G,
    #[allow(dead_code)]
    lr: f64,
}

impl<G: Framework> core::fmt::Display for Trainer<G> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.gdf)
    }
}

impl<G: Framework> Framework for Trainer<G> {
    type Schedule = G::Schedule;
    type Scaler = G::Scaler;
    type Target = G::Target;
    type NoiseCond = G::NoiseCond;
    type LossWeight = G::LossWeight;
    type OffsetNoise = G::OffsetNoise;
    fn as_gdf(
        &self,
    ) -> &Gdf<G::Schedule, G::Scaler, G::Target, G::NoiseCond, G::LossWeight, G::OffsetNoise> {
        self.gdf.as_gdf()
    }
}

/// What generic trainer code computes: one step's outputs and a short sampling run.
fn run<G: Framework>(g: &G) -> (Vec<f64>, Vec<f64>, Vec<f64>, f64) {
    let x0: Vec<f64> = (0..3 * 8).map(|i| (i as f64 * 0.3).sin()).collect();
    let args = DiffuseArgs {
        seed: 5,
        channels: 2,
        ..Default::default()
    };
    let d = g.diffuse(&x0, 3, &args).unwrap();
    let mut x0_back = vec![0.0; x0.len()];
    g.undiffuse_into(&d.noised, &d.logsnr, &d.target, Some(&mut x0_back), None)
        .unwrap();
    let mut l = vec![0.0; 3];
    g.logsnr_into(Some(&[0.1, 0.5, 0.9]), 1.0, 0, 0, &mut l)
        .unwrap();
    let model = |_x: &[f64], _c: &[f64], _i: &[f64], pred: &mut [f64]| pred.fill(0.1);
    let opts = SampleOpts {
        timesteps: 5,
        cfg: Cfg::Off,
        seed: 2,
        ..Default::default()
    };
    let sampled = g
        .sample(model, <sampler::Ddim>::new(), &[], None, 2, 4, opts)
        .unwrap()
        .run()
        .unwrap();
    let mut out = d.noised.clone();
    out.extend(&d.loss_weight);
    out.extend(&d.noise_cond);
    out.extend(&x0_back);
    (out, l, sampled, g.offset_noise())
}

#[test]
fn one_bound_for_every_framework() {
    let declared = StageC::default();
    let by_hand: Gdf<Cosine, Vp, Epsilon, CosineT, P2, f64> =
        Gdf::<Cosine, Vp, Epsilon, CosineT, P2>::default().with_offset_noise(0.05);
    let parsed: DynGdf = declared.to_string().parse().unwrap();
    let wrapped = Trainer {
        gdf: parsed.clone(),
        lr: 1e-4,
    };
    let want = run(&declared);
    assert_eq!(want.3, 0.05);
    assert_eq!(run(&by_hand), want);
    assert_eq!(run(&parsed), want);
    assert_eq!(run(&wrapped), want);
    assert_eq!(wrapped.to_string(), declared.to_string());
    assert_eq!(Framework::schedule(&wrapped), &parsed.schedule);
    assert!(Framework::loss_weight(&declared).decl().starts_with("P2("));
    // The trait's methods are the inherent ones.
    let x0 = vec![0.5f64; 8];
    let args = DiffuseArgs {
        seed: 9,
        ..Default::default()
    };
    assert_eq!(
        Framework::diffuse(&declared, &x0, 2, &args).unwrap(),
        declared.diffuse(&x0, 2, &args).unwrap()
    );
}
