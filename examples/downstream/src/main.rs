//! A crate using `gdf` as a user would: it depends on `gdf` alone, declares frameworks with
//! `gdf!`, and plugs a noise conditioning of its own into one of them. The component's formula
//! is written once with `#[gdf::formulas]`; with the `wgpu` feature the same source also runs
//! in gdf's kernels (`cargo test -p gdf-downstream --features wgpu`).

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

/// `LinearT`'s formula, one source for the host and the device.
#[gdf::formulas]
pub mod formula {
    /// `t = (10 − λ)/20`.
    pub fn cond<F: Float>(l: F) -> F {
        (F::new(10.0) - l) / F::new(20.0)
    }
}

impl NoiseCond for LinearT {
    fn cond<F: gdf::Real>(&self, l: F) -> F {
        formula::cond(l)
    }
}

/// The device form: the `#[cube]` trait impl calls the same formula's `cube` twin.
#[cfg(feature = "wgpu")]
mod device {
    use gdf::kernel::component::{CubeNoiseCond, DeviceState, NoiseCondConsts};
    use gdf::kernel::cubecl;
    use gdf::kernel::cubecl::prelude::*;
    use gdf::kernel::KernelError;

    use super::{formula, LinearT};

    impl NoiseCondConsts for LinearT {}

    #[cubecl::cube]
    impl CubeNoiseCond for LinearT {
        fn cond<F: Float>(l: F, _state: &[F]) -> F {
            formula::cube::cond::<F>(l)
        }
    }

    impl DeviceState for LinearT {
        fn write_state(&self, _out: &mut Vec<f64>) -> Result<(), KernelError> {
            Ok(())
        }
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

    /// The host form of the user's formula against its closed form.
    #[test]
    fn own_formula_on_the_host() {
        for l in [-12.5f64, -10.0, -1.0, 0.0, 3.25, 10.0, 30.0] {
            assert_eq!(formula::cond(l), (10.0 - l) / 20.0);
            assert_eq!(formula::cond(l as f32), (10.0 - l as f32) / 20.0);
        }
    }

    /// The same source compiled for the device: evaluated by gdf's kernel on wgpu (Mesa's
    /// lavapipe in CI) and compared with the host form. Without an adapter it prints a skip
    /// message, unless `GDF_REQUIRE_GPU=1`.
    #[cfg(feature = "wgpu")]
    #[test]
    fn own_formula_on_the_device_equals_the_host() {
        let client = std::panic::catch_unwind(|| gdf::kernel::cubecl::Device::default().client());
        let Ok(client) = client else {
            assert_ne!(
                std::env::var("GDF_REQUIRE_GPU").as_deref(),
                Ok("1"),
                "GDF_REQUIRE_GPU=1 but no compute adapter was found"
            );
            eprintln!("skipping: no compute adapter");
            return;
        };
        let l: Vec<f32> = (0..=400).map(|i| -25.0 + i as f32 * 0.125).collect();
        let dev = gdf::kernel::eval::eval_noise_cond(&client, &LinearT, &l).unwrap();
        for (&l, &d) in l.iter().zip(&dev) {
            let host = LinearT.noise_cond(l);
            assert!(
                (d - host).abs() <= 1e-6 * host.abs().max(1.0),
                "λ = {l}: device {d}, host {host}"
            );
        }
        // And inside a whole framework: one device `diffuse` launch of LinearFlow, whose noise
        // cond is this crate's formula, against the host `diffuse`.
        use gdf::kernel::cubecl::prelude::CubeElement;
        use gdf::kernel::framework::{diffuse, DiffuseIo, DiffuseSettings};
        let g = LinearFlow::default();
        let (batch, per) = (3usize, 64usize);
        let t = [0.1f32, 0.6, 0.95];
        let x0: Vec<f32> = (0..batch * per).map(|i| (i as f32 * 0.37).sin()).collect();
        let eps: Vec<f32> = (0..batch * per).map(|i| (i as f32 * 0.11).cos()).collect();
        let host = g
            .diffuse(
                &x0,
                batch,
                &DiffuseArgs {
                    eps: Some(&eps),
                    t: Some(&t),
                    ..Default::default()
                },
            )
            .unwrap();
        let up = |v: &[f32]| client.create_from_slice(f32::as_bytes(v));
        let io = DiffuseIo {
            x0: up(&x0),
            eps: Some(up(&eps)),
            tl: Some(up(&t)),
            tl_is_logsnr: false,
            offset: None,
            noised: client.empty(batch * per * 4),
            eps_out: None,
            target: None,
            per_sample: client.empty(3 * batch * 4),
        };
        let set = DiffuseSettings {
            batch,
            per,
            ..Default::default()
        };
        diffuse::<f32, _, _, _, _, _, _>(&client, &g, &io, &set).unwrap();
        let read = |h: &gdf::kernel::cubecl::server::Handle| {
            f32::from_bytes(&client.read_one(h.clone()).unwrap()).to_vec()
        };
        let per_sample = read(&io.per_sample);
        for s in 0..batch {
            let (d, h) = (per_sample[batch + s], host.noise_cond[s]);
            assert!(
                (d - h).abs() <= 1e-6,
                "noise cond of sample {s}: device {d}, host {h}"
            );
        }
        for (d, h) in read(&io.noised).iter().zip(&host.noised) {
            assert!((d - h).abs() <= 1e-5, "noised: device {d}, host {h}");
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
