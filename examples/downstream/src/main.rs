//! A crate using `gdf` as a user would: it depends on `gdf` alone, declares frameworks with
//! `gdf!`, and plugs a noise conditioning of its own into one of them.

use gdf::framework::DiffuseArgs;
use gdf::gdf;
use gdf::prelude::*;

/// The inverse of the default `Linear` schedule (`λ = 10 − 20·t`): the model is given `t`
/// itself as its time input. A component of this crate, not of `gdf`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LinearT;

impl gdf::LogSnrFn for LinearT {
    fn write_decl(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
        // A path, so the printed declaration is valid `gdf!` input in this crate.
        out.write_str("crate::LinearT")
    }
}

impl NoiseCond for LinearT {
    fn cond<F: gdf::Real>(&self, l: F) -> F {
        (F::of(10.0) - l) / F::of(20.0)
    }
}

gdf! {
    /// Stable Cascade's stage C.
    pub StageC = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp, target: Epsilon,
        noise_cond: CosineT, loss_weight: P2;
    /// Linear logSNR with rectified-flow interpolation; the model sees `t` through this
    /// crate's own [`LinearT`].
    pub LinearFlow = schedule: Linear, scaler: Lerp, target: RectifiedFlows,
        noise_cond: crate::LinearT, loss_weight: MinSnr(max_snr = 5)
}

fn main() -> Result<(), gdf::GdfError> {
    println!("StageC:     {}", StageC::default());
    println!("LinearFlow: {}", LinearFlow::default());
    let g = LinearFlow::default();
    let x0 = vec![0.5f32; 2 * 3 * 4 * 4];
    let t = [0.25f32, 0.75];
    let d = g.diffuse(
        &x0,
        2,
        &DiffuseArgs {
            t: Some(&t),
            seed: 7,
            ..Default::default()
        },
    )?;
    println!(
        "t = {t:?}: logSNR = {:?}, noise cond = {:?}, loss weight = {:?}",
        d.logsnr, d.noise_cond, d.loss_weight
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::any::TypeId;

    #[test]
    fn declared_frameworks_are_zero_sized_and_plain_types() {
        assert_eq!(core::mem::size_of::<StageC>(), 0);
        assert_eq!(core::mem::size_of::<LinearFlow>(), 0);
        type Hand = gdf::framework::Gdf<
            gdf::schedule::Cosine,
            gdf::scaler::Vp,
            gdf::target::Epsilon,
            gdf::noise_cond::CosineT,
            gdf::loss_weight::P2,
        >;
        assert_eq!(TypeId::of::<StageC>(), TypeId::of::<Hand>());
    }

    #[test]
    fn own_noise_cond_gives_t_back() {
        let g = LinearFlow::default();
        let x0: Vec<f64> = (0..2 * 3 * 4).map(|i| f64::from(i) / 24.0 - 0.5).collect();
        let eps: Vec<f64> = (0..2 * 3 * 4).map(|i| (f64::from(i) * 0.7).sin()).collect();
        let t = [0.25, 0.9];
        let d = g
            .diffuse(
                &x0,
                2,
                &DiffuseArgs {
                    eps: Some(&eps),
                    t: Some(&t),
                    ..Default::default()
                },
            )
            .unwrap();
        for (s, &t) in t.iter().enumerate() {
            let l = 10.0 - 20.0 * t;
            assert!((d.logsnr[s] - l).abs() < 1e-12);
            assert!((d.noise_cond[s] - t).abs() < 1e-12);
            assert!((d.loss_weight[s] - l.exp().min(5.0)).abs() < 1e-12);
            // Lerp: a = σ(λ/2), b = 1 − a; rectified-flow target ε − x0.
            let a = 1.0 / (1.0 + (-l / 2.0).exp());
            for i in s * 12..(s + 1) * 12 {
                assert!((d.noised[i] - (a * x0[i] + (1.0 - a) * eps[i])).abs() < 1e-12);
                assert!((d.target[i] - (eps[i] - x0[i])).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn printed_declaration_declares_the_same_type() {
        assert_eq!(
            LinearFlow::default().to_string(),
            "schedule: Linear(logsnr_range = [-10.0, 10.0]), scaler: Lerp, \
             target: RectifiedFlows, noise_cond: crate::LinearT, \
             loss_weight: MinSnr(max_snr = 5.0), offset_noise: 0.0"
        );
        gdf!(Again = schedule: Linear(logsnr_range = [-10.0, 10.0]), scaler: Lerp,
             target: RectifiedFlows, noise_cond: crate::LinearT,
             loss_weight: MinSnr(max_snr = 5.0), offset_noise: 0.0);
        assert_eq!(TypeId::of::<LinearFlow>(), TypeId::of::<Again>());
    }
}
