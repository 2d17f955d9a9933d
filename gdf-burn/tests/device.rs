//! The kernel path on burn's wgpu backend (lavapipe in CI): gdf's device `diffuse` reads
//! burn's buffer in place and its outputs become burn tensors without copies; a burn model
//! samples on the device as on the host.
//!
//! `GDF_REQUIRE_GPU=1 cargo test --release --features wgpu --test device` (without a
//! Vulkan device and without `GDF_REQUIRE_GPU`, the tests say so and pass).
#![cfg(feature = "wgpu")]

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::tanh;
use burn::tensor::{Device, DeviceKind, Tensor, TensorData};
use gdf::framework::DiffuseArgs;
use gdf::kernel::step::{DeviceSampleOpts, DeviceSampling};
use gdf::kernel::Launches;
use gdf::sample::{Cfg, SampleOpts};
use gdf_burn::device::{self, cube, wrap, BurnDeviceModel};
use gdf_burn::{to_vec, Embedding, HostModel, SolverSpec};

gdf::gdf!(TrainV = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp, target: V,
          noise_cond: CosineT, loss_weight: P2);

/// The wgpu device, or `None` (with a note) when there is none and it is not required.
fn wgpu() -> Option<Device> {
    let dev = Device::wgpu(DeviceKind::DefaultDevice);
    let ok = std::panic::catch_unwind(|| {
        let t = Tensor::<1>::from_floats([1.0, 2.0], &dev);
        to_vec(t, "probe").map(|v| v == [1.0, 2.0]).unwrap_or(false)
    })
    .unwrap_or(false);
    if ok {
        Some(dev)
    } else if std::env::var_os("GDF_REQUIRE_GPU").is_some() {
        panic!("GDF_REQUIRE_GPU is set but burn's wgpu device does not work");
    } else {
        eprintln!("no wgpu device: skipped (set GDF_REQUIRE_GPU=1 to make this a failure)");
        None
    }
}

fn id(h: &gdf::kernel::cubecl::server::Handle) -> impl PartialEq + core::fmt::Debug {
    h.memory.descriptor().id
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn device_diffuse_reads_and_writes_burns_buffers() {
    let Some(dev) = wgpu() else { return };
    let g = TrainV::default();
    let (b, per) = (256, 6);
    let x0h: Vec<f32> = (0..b * per)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let x0 = Tensor::<3>::from_data(TensorData::new(x0h.clone(), [b, 2, 3]), &dev);
    let x0_id = id(&cube(x0.clone(), "x0").unwrap().handle);

    let launches = Launches::count();
    let d = device::diffuse(&g, x0, 11).unwrap();
    // One gdf launch, on x0's own buffer: no copy of the input was made.
    assert_eq!(Launches::count() - launches, 1);
    assert_eq!(id(&d.x0_handle), x0_id);
    // The outputs are burn tensors over the buffers the kernel wrote: moving one back into
    // its primitive gives a buffer of exactly its size, not a copy.
    let noised = cube(d.noised.clone(), "noised").unwrap();
    assert_eq!(noised.handle.size(), (4 * b * per) as u64);
    let again = cube(
        wrap::<3>(&noised, noised.handle.clone(), [b, 2, 3]),
        "wrapped",
    )
    .unwrap();
    assert_eq!(id(&again.handle), id(&noised.handle));

    // Against the host diffuse with the same seed (same λ draws, same counter ε).
    let h = g
        .diffuse(
            &x0h,
            b,
            &DiffuseArgs {
                seed: 11,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(d.noise_cond.dims(), [b, 1, 1]);
    for (what, dv, hv, tol) in [
        ("noised", to_vec(d.noised, "n").unwrap(), h.noised, 2e-5),
        ("target", to_vec(d.target, "t").unwrap(), h.target, 2e-5),
        // λ of a drawn t in f32: steep near the clamp (dλ/dt large), so a few ulps of t.
        ("logsnr", to_vec(d.logsnr, "l").unwrap(), h.logsnr, 5e-5),
        (
            "noise_cond",
            to_vec(d.noise_cond, "c").unwrap(),
            h.noise_cond,
            1e-5,
        ),
        (
            "loss_weight",
            to_vec(d.loss_weight, "w").unwrap(),
            h.loss_weight,
            1e-3,
        ),
    ] {
        // f32 rounding, relative to the value's size (λ reaches ±15 near the clamp).
        let e = dv
            .iter()
            .zip(&hv)
            .map(|(d, h)| (d - h).abs() / h.abs().max(1.0))
            .fold(0.0, f32::max);
        eprintln!("device vs host {what}: max |Δ|/max(1, |host|) {e:.2e}");
        assert!(e <= tol, "{what}: device and host differ by {e} (relative)");
    }
}

/// A small burn model with fixed weights: `Linear(2 + emb → 16) → tanh → Linear(16 → 2)`.
#[derive(Module, Debug)]
struct Net {
    a: Linear,
    b: Linear,
}

impl Net {
    fn forward(&self, emb: &Embedding, x: Tensor<2>, c: Tensor<2>) -> Tensor<2> {
        let h = Tensor::cat(vec![x, emb.forward(c)], 1);
        self.b.forward(tanh(self.a.forward(h)))
    }
}

fn nets(emb: &Embedding, gpu: &Device) -> (Net, Net) {
    #[allow(deprecated)]
    let host = Device::ndarray();
    host.seed(5);
    let net = Net {
        a: LinearConfig::new(2 + emb.width(), 16).init(&host),
        b: LinearConfig::new(16, 2).init(&host),
    };
    let on_gpu = net.clone().to_device(gpu);
    (net, on_gpu)
}

#[test]
fn device_sampling_with_a_burn_model_matches_the_host() {
    let Some(dev) = wgpu() else { return };
    let g = TrainV::default();
    let emb = Embedding::octaves(4, 1.0);
    let (host_net, gpu_net) = nets(&emb, &dev);
    let n = 512;

    // DDIM 30 steps: gdf's DeviceSampling with the burn model as its DeviceModel ...
    let dm = BurnDeviceModel::<_, 2>::new(
        |x, c| gpu_net.forward(&emb, x, c),
        Tensor::<1>::zeros([1], &dev),
        &[2],
    )
    .unwrap();
    let client = dm.client().clone();
    let like = cube(Tensor::<1>::zeros([1], &dev), "like").unwrap();
    let opts = DeviceSampleOpts {
        timesteps: 30,
        cfg: Cfg::Off,
        seed: 9,
        ..Default::default()
    };
    let run = DeviceSampling::<f32, _, _, _, _>::new(
        &client,
        &g,
        <gdf::sampler::Ddim>::default(),
        dm,
        n,
        2,
        opts,
    )
    .unwrap();
    let xd = to_vec(wrap::<2>(&like, run.run().unwrap(), [n, 2]), "x").unwrap();

    // ... against the host sampler with the same weights on ndarray.
    #[allow(deprecated)]
    let model =
        HostModel::<_, 2>::new(|x, c| host_net.forward(&emb, x, c), Device::ndarray(), &[2])
            .unwrap();
    let opts = SampleOpts {
        timesteps: 30,
        cfg: Cfg::Off,
        seed: 9,
        ..Default::default()
    };
    let xh: Vec<f32> = g
        .sample(
            model,
            <gdf::sampler::Ddim>::default(),
            &[],
            None,
            n,
            2,
            opts,
        )
        .unwrap()
        .run()
        .unwrap();
    let e = max_abs(&xd, &xh);
    let scale = xh.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    eprintln!("DeviceSampling (DDIM 30) vs host: max |Δ| {e:.2e} (max |x| {scale:.2})");
    assert!(scale > 0.1, "degenerate samples");
    assert!(
        e <= 1e-4 * scale.max(1.0),
        "device and host samples differ by {e}"
    );
}

#[test]
fn device_solver_with_a_burn_model_matches_the_host() {
    let Some(dev) = wgpu() else { return };
    let g = TrainV::default();
    let emb = Embedding::octaves(4, 1.0);
    let (host_net, gpu_net) = nets(&emb, &dev);
    let n = 512;
    let spec = SolverSpec {
        solver: "dpmpp_2m".into(),
        steps: 20,
        seed: 4,
    };

    let mut dm = BurnDeviceModel::<_, 2>::new(
        |x, c| gpu_net.forward(&emb, x, c),
        Tensor::<1>::zeros([1], &dev),
        &[2],
    )
    .unwrap();
    let like = cube(Tensor::<1>::zeros([1], &dev), "like").unwrap();
    let h = device::sample(&g, &spec, n, &mut dm, |_, _| {}).unwrap();
    let xd = to_vec(wrap::<2>(&like, h, [n, 2]), "x").unwrap();

    #[allow(deprecated)]
    let model =
        HostModel::<_, 2>::new(|x, c| host_net.forward(&emb, x, c), Device::ndarray(), &[2])
            .unwrap();
    let xh = spec.sampling(&g, n, 2).unwrap().run(model).unwrap();
    let e = max_abs(&xd, &xh);
    let scale = xh.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    eprintln!("DeviceRun (dpmpp_2m 20) vs the host sampling builder: max |Δ| {e:.2e} (max |x| {scale:.2})");
    assert!(scale > 0.1, "degenerate samples");
    assert!(
        e <= 1e-4 * scale.max(1.0),
        "device and host samples differ by {e}"
    );
}

/// A training step on burn's wgpu autodiff device fed by the device `diffuse` (its output
/// buffers used as they are) gives the gradients of the same step on ndarray fed by the host
/// `diffuse`.
#[test]
fn a_training_step_fed_by_the_device_diffuse_has_the_host_gradients() {
    let Some(dev) = wgpu() else { return };
    let g = TrainV::default();
    let emb = Embedding::octaves(4, 1.0);
    // The same weights as parameters (tracking gradients) on each autodiff device.
    let din = 2 + emb.width();
    let wa: Vec<f32> = (0..din * 16)
        .map(|i| ((i * 31 % 41) as f32 / 41.0 - 0.5) * 0.6)
        .collect();
    let wb: Vec<f32> = (0..16 * 2)
        .map(|i| ((i * 17 % 23) as f32 / 23.0 - 0.5) * 0.8)
        .collect();
    let net_on = |d: &Device| Net {
        a: Linear {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(wa.clone(), [din, 16]),
                d,
            )),
            bias: Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![0.1f32; 16], [16]),
                d,
            ))),
        },
        b: Linear {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(wb.clone(), [16, 2]), d)),
            bias: None,
        },
    };
    let host_net = net_on(&host_dev().autodiff());
    let gpu_net = net_on(&dev.clone().autodiff());
    let b = 128;
    let x0h: Vec<f32> = (0..b * 2)
        .map(|i| ((i * 53 % 97) as f32 / 40.0) - 1.2)
        .collect();

    let x0 = Tensor::<2>::from_data(TensorData::new(x0h.clone(), [b, 2]), &dev);
    let d = device::diffuse(&g, x0, 21).unwrap();
    let pred = gpu_net.forward(&emb, d.noised.autodiff(), d.noise_cond.autodiff());
    let loss = gdf_burn::weighted_loss(pred, d.target.autodiff(), d.loss_weight.autodiff());
    let grads = loss.weighted.backward();
    let gd = to_vec(gpu_net.a.weight.val().grad(&grads).unwrap(), "grad").unwrap();

    let x0 = Tensor::<2>::from_data(TensorData::new(x0h, [b, 2]), &host_dev().autodiff());
    let h = gdf_burn::diffuse(
        &g,
        x0,
        &DiffuseArgs {
            seed: 21,
            ..Default::default()
        },
    )
    .unwrap();
    let pred = host_net.forward(&emb, h.noised, h.noise_cond);
    let loss = gdf_burn::weighted_loss(pred, h.target, h.loss_weight);
    let grads = loss.weighted.backward();
    let gh = to_vec(host_net.a.weight.val().grad(&grads).unwrap(), "grad").unwrap();

    let e = max_abs(&gd, &gh);
    let scale = gh.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    eprintln!("first-layer gradient, wgpu (device diffuse) vs ndarray (host diffuse): max |Δ| {e:.2e} (max |g| {scale:.2e})");
    assert!(scale > 1e-4, "degenerate gradient");
    assert!(e <= 1e-3 * scale, "gradients differ by {e}");
}

#[allow(deprecated)]
fn host_dev() -> Device {
    Device::ndarray()
}
