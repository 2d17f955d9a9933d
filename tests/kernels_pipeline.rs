//! The pipeline operations on the device (feature `wgpu`, `cuda` or `hip`), against the host
//! `solver::Run` in f32 on the diffusers golden cases of `tests/pipeline_ops/golden.json`:
//! clip_sample and dynamic thresholding (DDPM, DDIM, DPM-Solver multistep), the inpainting
//! blend, img2img's truncated grid and noised start, DDIM inversion (one launch per step, at
//! both vector widths); Heun's clip_sample, `LCMScheduler` and `TCDScheduler` as loaded; the
//! 16-bit packing against the `half` crate; a bf16-latent device run against the f32 device
//! run and the host bf16 run.
//!
//! Without an adapter every test prints a skip message and passes, unless
//! `GDF_REQUIRE_GPU=1`.
#![cfg(any(feature = "wgpu", feature = "cuda", feature = "hip"))]

mod common;
use common::device::{assert_matches_host, client, down, f32s, up};
use common::pipeline::{cases as golden, p, threshold_of};

use gdf::kernel::cubecl::prelude::Client;
use gdf::kernel::cubecl::prelude::*;
use gdf::kernel::cubecl::server::Handle;
use gdf::kernel::solver::{DeviceNoise, DeviceRun};
use gdf::kernel::Launches;
use gdf::pipeline::half::{bf16, f16, Half, HalfRun};
use gdf::pipeline::{strength, Inpaint, Threshold};
use gdf::scaler::Vp;
use gdf::solver::*;
use gdf::target::Epsilon;
use serde_json::Value;

/// Device within f32 rounding of the host f32 run: `|d − h| ≤ 2e-5 + 2e-5·|h|`.
#[track_caller]
fn close(id: &str, dev: &[f32], host: &[f32]) {
    assert_matches_host(id, dev, host, 2e-5);
}

fn solver_of(case: &Value) -> AnySolver {
    match case["scheduler"].as_str().unwrap() {
        "DDPMScheduler" => AnySolver::EulerAncestral(EulerAncestral::new()),
        "DDIMScheduler" => AnySolver::Euler(Euler::new()),
        "UniPCMultistepScheduler" => AnySolver::UniPc(UniPc::new()),
        _ => AnySolver::DpmSolverMultistep(
            DpmSolverMultistep::with(DpmSolverSettings {
                order: case["params"]
                    .get("solver_order")
                    .map(|v| common::num(v).unwrap() as usize)
                    .unwrap_or(2),
                ..Default::default()
            })
            .unwrap(),
        ),
    }
}

/// The generator's model, eps = c·x + w, in f32.
fn eps(c: f32, w: &[f32], x: &[f32]) -> Vec<f32> {
    x.iter().zip(w).map(|(&x, &w)| c * x + w).collect()
}

/// Runs a golden case on the host and on the device (f32), with the stage and the blend the
/// case asks for; returns (device, host) and checks the launch counts.
fn host_and_device(
    c: &Client,
    case: &Value,
    inpaint: Option<Inpaint<f32>>,
    id: &str,
) -> (Vec<f32>, Vec<f32>) {
    let inp = &case["input"];
    let (shape, x_init) = common::arr(&inp["x_init"]).unwrap();
    let x_init = f32s(&x_init);
    let (batch, n) = (shape[0], x_init.len());
    let per = n / batch;
    let w = f32s(&common::arr(&inp["w"]).unwrap().1);
    let cm = p(case, "c") as f32;
    // The solver's recorded draws (threshold cases; an inpaint case's `noise` is its ε).
    let noise: Vec<f32> = inp
        .get("noise")
        .filter(|_| case["kind"] == "threshold")
        .map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .flat_map(|d| f32s(&common::flat(d).unwrap()))
                .collect()
        })
        .unwrap_or_default();
    let grid = Grid::new(&Vp, &common::flat(&inp["logsnr"]).unwrap()).unwrap();
    let th = if case["kind"] == "threshold" {
        threshold_of(case)
    } else {
        Threshold::None
    };
    let rec = RecordedNoise::new(&noise, n, per);
    let mut host = Run::new(solver_of(case), grid.clone(), x_init.clone(), batch, rec).unwrap();
    host.set_threshold(th).unwrap();
    host.set_inpaint(inpaint.clone()).unwrap();
    while let Some(r) = host.next_eval().unwrap() {
        let e = eps(cm, &w, r.x);
        host.feed(&Epsilon, &e).unwrap();
    }
    let draws = noise.len() / n;
    let dn = if draws > 0 {
        DeviceNoise::Recorded(up(c, &noise), draws)
    } else {
        DeviceNoise::None
    };
    let mut dev =
        DeviceRun::<f32, _>::new(c, solver_of(case), grid, &up(c, &x_init), batch, per, dn)
            .unwrap();
    dev.set_threshold(th).unwrap();
    dev.set_inpaint(inpaint.as_ref()).unwrap();
    let per_eval = if matches!(th, Threshold::Dynamic { .. }) {
        3
    } else {
        1
    };
    while let Some(r) = dev.next_eval().unwrap() {
        let e = eps(cm, &w, &down(c, &r.x));
        let eh = up(c, &e);
        let before = Launches::count();
        dev.feed::<Epsilon>(&eh).unwrap();
        assert_eq!(Launches::count() - before, per_eval, "{id}: launches");
    }
    (down(c, dev.x()), host.into_x())
}

#[test]
fn thresholding_on_the_device_matches_the_host() {
    let Some(c) = client() else { return };
    let cases = golden("threshold");
    assert_eq!(cases.len(), 9);
    for case in &cases {
        let id = format!("{} {}", case["scheduler"], case["params"]);
        let (dev, host) = host_and_device(&c, case, None, &id);
        close(&id, &dev, &host);
        // And the f32 runs stay near diffusers' f64 golden.
        let want = common::arr(&case["output"]["x"]).unwrap().1;
        for (i, (&h, &w)) in host.iter().zip(&want).enumerate() {
            assert!(
                (h as f64 - w).abs() <= 1e-4 + 1e-4 * w.abs(),
                "{id}: host f32 x[{i}] {h} vs golden {w}"
            );
        }
    }
}

#[test]
fn inpainting_on_the_device_matches_the_host() {
    let Some(c) = client() else { return };
    for case in golden("inpaint") {
        let id = format!("inpaint {}", case["params"]);
        let inp = &case["input"];
        let (shape, image) = common::arr(&inp["image"]).unwrap();
        let p = Inpaint::new(
            f32s(&image),
            f32s(&common::arr(&inp["noise"]).unwrap().1),
            f32s(&common::arr(&inp["mask"]).unwrap().1),
            shape[0],
        )
        .unwrap();
        let (dev, host) = host_and_device(&c, &case, Some(p), &id);
        close(&id, &dev, &host);
        let want = common::arr(&case["output"]["x"]).unwrap().1;
        for (&h, &w) in host.iter().zip(&want) {
            assert!((h as f64 - w).abs() <= 1e-4 + 1e-4 * w.abs(), "{id}");
        }
    }
}

/// The stages (clipping, dynamic thresholding, the inpainting blend, recorded noise) with
/// the pass kernel's scalar loads and stores forced on the golden shapes (which the default
/// run reads as 16-byte vectors where `per` allows): the host's numbers and the vectorised
/// run's.
#[test]
fn pipeline_stages_at_the_scalar_width_match_the_host() {
    let Some(c) = client() else { return };
    let mut widths = Vec::new();
    for case in golden("threshold").iter().chain(&golden("inpaint")) {
        let id = format!("{} {} {}", case["kind"], case["scheduler"], case["params"]);
        let inpaint = (case["kind"] == "inpaint").then(|| {
            let inp = &case["input"];
            let (shape, image) = common::arr(&inp["image"]).unwrap();
            Inpaint::new(
                f32s(&image),
                f32s(&common::arr(&inp["noise"]).unwrap().1),
                f32s(&common::arr(&inp["mask"]).unwrap().1),
                shape[0],
            )
            .unwrap()
        });
        let (vectorised, host) = host_and_device(&c, case, inpaint.clone(), &id);
        widths.push(gdf::kernel::last_vector_width());
        gdf::kernel::cap_vector_width(1);
        let (scalar, _) = host_and_device(&c, case, inpaint, &id);
        assert_eq!(gdf::kernel::last_vector_width(), 1, "{id}");
        gdf::kernel::cap_vector_width(4);
        close(&format!("{id} (scalar)"), &scalar, &host);
        close(
            &format!("{id} (scalar vs vectorised)"),
            &scalar,
            &vectorised,
        );
    }
    assert!(
        widths.contains(&4),
        "some golden case runs vectorised: {widths:?}"
    );
}

#[test]
fn img2img_on_the_device_matches_the_host() {
    let Some(c) = client() else { return };
    for case in golden("img2img") {
        let Some(xs) = case["output"].get("x_start") else {
            continue;
        };
        let id = format!("img2img {}", case["params"]);
        let inp = &case["input"];
        let steps = p(&case, "steps") as usize;
        let start = strength::diffusers_start(steps, p(&case, "strength")).unwrap();
        let grid = Grid::new(&Vp, &common::flat(&inp["logsnr"]).unwrap())
            .unwrap()
            .tail(start)
            .unwrap();
        let (shape, image) = common::arr(&inp["image"]).unwrap();
        let eps_v = f32s(&common::arr(&inp["noise"]).unwrap().1);
        let x0 = strength::noised_start(&grid, &f32s(&image), &eps_v).unwrap();
        let want = common::arr(xs).unwrap().1;
        for (&g, &w) in x0.iter().zip(&want) {
            assert!((g as f64 - w).abs() <= 1e-6 + 1e-6 * w.abs(), "{id}");
        }
        let batch = shape[0];
        let per = image.len() / batch;
        let model = |x: &[f32]| -> Vec<f32> { x.iter().map(|&v| 0.3 * v - 0.1).collect() };
        let host = Run::new(Euler::new(), grid.clone(), x0.clone(), batch, NoNoise)
            .unwrap()
            .run(|x, _, d| {
                d.copy_from_slice(&model(x));
                Ok(())
            })
            .unwrap();
        let mut dev = DeviceRun::<f32, _>::new(
            &c,
            Euler::new(),
            grid,
            &up(&c, &x0),
            batch,
            per,
            DeviceNoise::None,
        )
        .unwrap();
        assert_eq!(dev.total_evals(), steps - start);
        while let Some(r) = dev.next_eval().unwrap() {
            let d = up(&c, &model(&down(&c, &r.x)));
            dev.feed_x0(&d).unwrap();
        }
        close(&id, &down(&c, dev.x()), &host);
    }
}

#[test]
fn half_packing_matches_the_half_crate() {
    let Some(c) = client() else { return };
    let mut s = 0x2545_F491u32;
    let mut xs: Vec<f32> = Vec::new();
    for _ in 0..100_001 {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        // Finite values over every exponent, plus the rounding boundaries of both formats.
        let x = f32::from_bits(s & 0xBFFF_FFFF);
        xs.push(x);
        xs.push(f32::from_bits((s & 0xFFFF_0000) | 0x8000));
        xs.push(f32::from_bits((s & 0xFFFF_E000) | 0x1000));
    }
    xs.extend([
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        65504.0,
        65520.0,
        6.0e-8,
    ]);
    let n = xs.len();
    let xh = up(&c, &xs);
    fn check<H: Half>(c: &Client, xh: &Handle, xs: &[f32], want: impl Fn(f32) -> (u16, f32)) {
        let n = xs.len();
        let packed = gdf::kernel::half::narrow::<H>(c, xh, n).unwrap();
        let words = u32::from_bytes(&c.read_one(packed.clone()).unwrap()).to_vec();
        let back = down(c, &gdf::kernel::half::widen::<H>(c, &packed, n).unwrap());
        for (i, &x) in xs.iter().enumerate() {
            let bits = (words[i / 2] >> (16 * (i % 2))) as u16;
            let (wb, wf) = want(x);
            if x.is_nan() {
                // NaN stays NaN (the payload is not kept).
                assert!(back[i].is_nan(), "{} of NaN {:#010x}", H::NAME, x.to_bits());
                continue;
            }
            assert_eq!(bits, wb, "{} of {x:e} ({:#010x})", H::NAME, x.to_bits());
            assert_eq!(back[i].to_bits(), wf.to_bits(), "{} back of {x:e}", H::NAME);
        }
    }
    check::<bf16>(&c, &xh, &xs, |x| {
        let h = bf16::from_f32(x);
        (h.to_bits(), h.to_f32())
    });
    check::<f16>(&c, &xh, &xs, |x| {
        let h = f16::from_f32(x);
        (h.to_bits(), h.to_f32())
    });
    assert!(n > 300_000);
}

/// The exact denoiser of N(μ, s²) data, per element.
fn mixture(mu: &[f32], s2: f32, x: &[f32], a: f32, b: f32) -> Vec<f32> {
    x.iter()
        .zip(mu)
        .map(|(&x, &m)| (s2 * a * x + b * b * m) / (s2 * a * a + b * b))
        .collect()
}

/// A bf16-latent run on the device (the latent rounded to bf16 inside each step's launch, the
/// model's input and output packed bf16) against the f32 device run: within 3e-2 (the host's
/// documented bf16 tolerance, tests/pipeline_ops.rs); and against the host bf16 run
/// ([`HalfRun`]) within f32 rounding, up to one bf16 ulp where a rounding tie breaks
/// differently.
#[test]
fn bf16_latent_run_on_the_device_stays_near_the_f32_run() {
    let Some(c) = client() else { return };
    let (batch, per) = (2, 2048);
    let n = batch * per;
    let mu: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.37).sin() * 1.5).collect();
    let x_init: Vec<f32> = (0..n)
        .map(|i| bf16::from_f32(((i as f32) * 1.13).cos() * 2.0).to_f32())
        .collect();
    let lams: Vec<f64> = (0..24)
        .map(|i| -8.0 + i as f64 * 16.0 / 23.0)
        .chain([f64::INFINITY])
        .collect();
    let grid = Grid::new(&Vp, &lams).unwrap();
    let s2 = 0.04f32;
    let run_dev = |half: bool| -> Vec<f32> {
        let mut dev = DeviceRun::<f32, _>::new(
            &c,
            DpmPP2M::new(),
            grid.clone(),
            &up(&c, &x_init),
            batch,
            per,
            DeviceNoise::None,
        )
        .unwrap();
        if half {
            dev.set_half_storage(Some(true));
        }
        while let Some(r) = dev.next_eval().unwrap() {
            let (a, b) = (r.level.a as f32, r.level.b as f32);
            let d = if half {
                // The model sees bf16 bytes and answers in bf16 bytes.
                let packed = gdf::kernel::half::narrow::<bf16>(&c, &r.x, n).unwrap();
                let words = u32::from_bytes(&c.read_one(packed).unwrap()).to_vec();
                let x: Vec<f32> = (0..n)
                    .map(|i| bf16::from_bits((words[i / 2] >> (16 * (i % 2))) as u16).to_f32())
                    .collect();
                let out: Vec<u16> = mixture(&mu, s2, &x, a, b)
                    .iter()
                    .map(|&v| bf16::from_f32(v).to_bits())
                    .collect();
                let words: Vec<u32> = out
                    .chunks(2)
                    .map(|p| p[0] as u32 | (p[1] as u32) << 16)
                    .collect();
                let packed = c.create_from_slice(u32::as_bytes(&words));
                gdf::kernel::half::widen::<bf16>(&c, &packed, n).unwrap()
            } else {
                up(&c, &mixture(&mu, s2, &down(&c, &r.x), a, b))
            };
            dev.feed_x0(&d).unwrap();
        }
        down(&c, dev.x())
    };
    let f32_dev = run_dev(false);
    let bf_dev = run_dev(true);
    let err = bf_dev
        .iter()
        .zip(&f32_dev)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("device bf16 run: max |x − x_f32| = {err:e}");
    assert!(err <= 3e-2 && err > 0.0, "{err}");
    assert!(bf_dev.iter().all(|&v| bf16::from_f32(v).to_f32() == v));
    let xh: Vec<bf16> = x_init.iter().map(|&v| bf16::from_f32(v)).collect();
    let host = HalfRun::new(DpmPP2M::new(), grid.clone(), &xh, batch, NoNoise)
        .unwrap()
        .run(|x: &[bf16], l, d: &mut [bf16]| {
            let xf: Vec<f32> = x.iter().map(|h| h.to_f32()).collect();
            for (o, v) in d
                .iter_mut()
                .zip(mixture(&mu, s2, &xf, l.a as f32, l.b as f32))
            {
                *o = bf16::from_f32(v);
            }
            Ok(())
        })
        .unwrap();
    let mut off = 0;
    for (i, (&d, h)) in bf_dev.iter().zip(&host).enumerate() {
        let h = h.to_f32();
        let ulp = bf16::from_bits(bf16::from_f32(h.abs()).to_bits() + 1).to_f32() - h.abs();
        assert!((d - h).abs() <= ulp * 1.01, "x[{i}]: device {d}, host {h}");
        off += (d != h) as usize;
    }
    eprintln!("device vs host bf16 run: {off} of {n} elements one ulp apart");
}

/// The device's dynamic-thresholding scales are the host's bit for bit: a single step to
/// λ = +∞ returns the thresholded x0 itself, so device and host must agree exactly, for sample
/// sizes that are and are not multiples of the 256 units, repeated values, and quantiles at
/// both ends.
#[test]
fn dynamic_threshold_scales_match_the_host_bit_for_bit() {
    let Some(c) = client() else { return };
    let grid = Grid::new(&Vp, &[0.5, f64::INFINITY]).unwrap();
    let mut s = 0x1234_5678u32;
    for (batch, per) in [(3usize, 1000usize), (2, 256), (1, 1), (4, 777)] {
        let n = batch * per;
        let d: Vec<f32> = (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                let v = (s >> 8) as f32 / (1u32 << 24) as f32 * 8.0 - 4.0;
                if i % 7 == 0 {
                    2.5 // ties in the order statistics
                } else {
                    v
                }
            })
            .collect();
        for ratio in [0.0, 0.3, 0.5, 0.995, 1.0] {
            let th = Threshold::dynamic(ratio, 3.0).unwrap();
            let x = vec![0.0f32; n];
            let mut host = Run::new(Euler::new(), grid.clone(), x.clone(), batch, NoNoise).unwrap();
            host.set_threshold(th).unwrap();
            let host = host
                .run(|_, _, o| {
                    o.copy_from_slice(&d);
                    Ok(())
                })
                .unwrap();
            let mut reference = d.clone();
            th.apply(&mut reference, batch).unwrap();
            assert_eq!(host, reference, "host run vs Threshold::apply");
            let mut dev = DeviceRun::<f32, _>::new(
                &c,
                Euler::new(),
                grid.clone(),
                &up(&c, &x),
                batch,
                per,
                DeviceNoise::None,
            )
            .unwrap();
            dev.set_threshold(th).unwrap();
            while dev.next_eval().unwrap().is_some() {
                dev.feed_x0(&up(&c, &d)).unwrap();
            }
            let got = down(&c, dev.x());
            for (i, (g, h)) in got.iter().zip(&host).enumerate() {
                assert_eq!(
                    g.to_bits(),
                    h.to_bits(),
                    "batch {batch} per {per} ratio {ratio}: x[{i}] device {g}, host {h}"
                );
            }
        }
    }
}

/// `correct_quotient` (the device half of `div_rn`, which dynamic thresholding divides with)
/// applied to `q`, per element.
#[cube(launch_unchecked)]
fn corrected_quotients(a: &[f32], b: &[f32], q: &[f32], out: &mut [f32]) {
    let i = ABSOLUTE_POS;
    if i < out.len() {
        out[i] = gdf::formula::device::correct_quotient(a[i], b[i], q[i]);
    }
}

/// A GPU's `/` may be an ulp or two from the IEEE quotient (an H200 through Vulkan was one ulp
/// off in the thresholding test above); lavapipe's is exact, so here the error is put in by
/// hand: from quotients up to two ulps off either way, over wide and narrow ranges of `a` and
/// `b`, the correction returns the host's `a / b` bit for bit.
#[test]
fn quotients_up_to_two_ulps_off_are_corrected_to_the_ieee_quotient() {
    let Some(c) = client() else { return };
    let mut s = 0x9E37_79B9u32;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        s
    };
    let (mut a, mut b, mut q, mut want) = (vec![], vec![], vec![], vec![]);
    for i in 0..4000 {
        let (x, y) = if i % 2 == 0 {
            // Thresholding's range: |x| ≤ s, s ∈ [1, 4].
            let y = 1.0 + (next() >> 8) as f32 / (1u32 << 24) as f32 * 3.0;
            (((next() >> 8) as f32 / (1u32 << 23) as f32 - 1.0) * y, y)
        } else {
            // Any normal values whose quotient is normal: random signs and exponents.
            let e = |r: u32| ((r % 60) + 97) << 23; // exponents 2^-30 .. 2^29
            (
                f32::from_bits(e(next()) | (next() & 0x807f_ffff)),
                f32::from_bits(e(next()) | (next() & 0x807f_ffff)),
            )
        };
        let exact = x / y;
        if exact == 0.0 || !exact.is_normal() {
            continue;
        }
        for k in -2i32..=2 {
            a.push(x);
            b.push(y);
            q.push(f32::from_bits((exact.to_bits() as i32 + k) as u32));
            want.push(exact);
        }
    }
    let n = a.len();
    let out = c.empty(4 * n);
    unsafe {
        corrected_quotients::launch_unchecked(
            &c,
            CubeCount::Static(n.div_ceil(256) as u32, 1, 1),
            CubeDim::new_1d(256),
            BufferArg::from_raw_parts(up(&c, &a), n),
            BufferArg::from_raw_parts(up(&c, &b), n),
            BufferArg::from_raw_parts(up(&c, &q), n),
            BufferArg::from_raw_parts(out.clone(), n),
        )
    };
    let got = down(&c, &out);
    let mut moved = 0;
    for i in 0..n {
        assert_eq!(
            got[i].to_bits(),
            want[i].to_bits(),
            "{} / {}: from {} the device gave {}, IEEE {}",
            a[i],
            b[i],
            q[i],
            got[i],
            want[i]
        );
        moved += usize::from(q[i] != want[i]);
    }
    assert!(
        moved > n / 2,
        "only {moved} of {n} quotients needed correcting"
    );
}

#[test]
fn an_epsilon_prediction_at_pure_noise_is_refused_on_the_device_as_on_the_host() {
    let Some(c) = client() else { return };
    use gdf::scaler::Lerp;
    use gdf::target::X0;
    let grid = Grid::new(&Lerp, &[f64::NEG_INFINITY, 0.0, 2.0]).unwrap();
    let x_init = up(&c, &[0.3f32; 4]);
    let mut dev = DeviceRun::<f32, _>::new(
        &c,
        Euler::new(),
        grid.clone(),
        &x_init,
        2,
        2,
        DeviceNoise::None,
    )
    .unwrap();
    dev.next_eval().unwrap();
    let m = dev
        .feed::<Epsilon>(&up(&c, &[0.1f32; 4]))
        .unwrap_err()
        .to_string();
    assert!(m.contains("`Epsilon`") && m.contains("λ = -inf"), "{m}");
    // An x0-prediction runs: Euler from pure noise to λ = 0 (a = b = 1/2 under Lerp).
    dev.feed::<X0>(&up(&c, &[0.1f32; 4])).unwrap();
    let want = 0.5 * 0.1 + 0.5 * 0.3;
    assert!(down(&c, dev.x()).iter().all(|&v| (v - want).abs() < 1e-6));
}

#[test]
fn counter_indices_past_u32_are_refused_on_the_device_as_on_the_host() {
    // Sample b of a batch draws as counter index first_sample + b (a u32): a batch at
    // u32::MAX would hand sample 1 the draws of sample 0. The host refuses it by name; the
    // device launches that draw the same counters must too.
    let Some(c) = client() else { return };
    use gdf::kernel::framework::fill_batch_noise;
    use gdf::noise::Purpose;
    let out = c.empty(2 * 4 * 4);
    let e = fill_batch_noise::<f32>(&c, &out, 2, 4, 7, Purpose::Init, u32::MAX, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("first_sample"), "{e}");
    // One sample at u32::MAX is its own index: it works, and equals the host's draw.
    let one = c.empty(4 * 4);
    fill_batch_noise::<f32>(&c, &one, 1, 4, 7, Purpose::Init, u32::MAX, 0).unwrap();
    let host: Vec<f32> = (0..4)
        .map(|i| gdf::noise::normal(7, Purpose::Init, u32::MAX, 0, i))
        .collect();
    assert_eq!(down(&c, &one), host);
}

/// The inversion model of the golden cases in f32, `pred = c·x + w + d·t/1000`.
fn invert_pred(case: &Value, w: &[f32], x: &[f32], t: i64) -> Vec<f32> {
    let (cm, d) = (p(case, "c") as f32, p(case, "d") as f32);
    x.iter()
        .zip(w)
        .map(|(&x, &w)| cm * x + w + d * t as f32 / 1000.0)
        .collect()
}

/// A golden DDIM inversion on the device (one launch per step), typed by the config's
/// prediction; returns the device result.
fn device_inversion<T>(c: &Client, case: &Value, id: &str) -> Vec<f32>
where
    T: gdf::target::CubeTarget + gdf::target::Target + Default,
{
    use gdf::kernel::invert::DeviceInversion;
    let inp = &case["input"];
    let inv = gdf::interop::diffusers::load_inverse(inp["config"].as_str().unwrap()).unwrap();
    let (shape, x_init) = common::arr(&inp["x_init"]).unwrap();
    let w = f32s(&common::arr(&inp["w"]).unwrap().1);
    let n = p(case, "steps") as usize;
    let (batch, per) = (shape[0], x_init.len() / shape[0]);
    let steps = inv.steps(n).unwrap();
    let mut dev =
        DeviceInversion::<f32>::new(c, steps, &up(c, &f32s(&x_init)), batch, per).unwrap();
    dev.set_threshold(inv.threshold).unwrap();
    while let Some(r) = dev.next_eval() {
        let pred = invert_pred(case, &w, &down(c, r.x), r.step.timestep.unwrap());
        let ph = up(c, &pred);
        let before = Launches::count();
        dev.feed::<T>(&ph).unwrap();
        assert_eq!(Launches::count() - before, 1, "{id}: launches");
    }
    assert!(dev.next_eval().is_none());
    down(c, dev.x())
}

#[test]
fn ddim_inversion_on_the_device_matches_the_host() {
    use gdf::dynamic::DynTarget;
    use gdf::target::{V, X0};
    let Some(c) = client() else { return };
    let cases = golden("invert");
    assert_eq!(cases.len(), 6);
    let mut widths = Vec::new();
    for case in &cases {
        let inp = &case["input"];
        let id = format!("invert {}", inp["config"]);
        let inv = gdf::interop::diffusers::load_inverse(inp["config"].as_str().unwrap()).unwrap();
        let (shape, x_init) = common::arr(&inp["x_init"]).unwrap();
        let w = f32s(&common::arr(&inp["w"]).unwrap().1);
        let host = inv
            .inversion(p(case, "steps") as usize, f32s(&x_init), shape[0])
            .unwrap()
            .run(&inv.target, |x, step, pred| {
                pred.copy_from_slice(&invert_pred(case, &w, x, step.timestep.unwrap()));
                Ok(())
            })
            .unwrap();
        let run = |c: &Client| match inv.target {
            DynTarget::Epsilon => device_inversion::<Epsilon>(c, case, &id),
            DynTarget::V => device_inversion::<V>(c, case, &id),
            DynTarget::X0 => device_inversion::<X0>(c, case, &id),
            ref t => panic!("{id}: target {t:?}"),
        };
        let vectorised = run(&c);
        widths.push(gdf::kernel::last_vector_width());
        close(&id, &vectorised, &host);
        gdf::kernel::cap_vector_width(1);
        let scalar = run(&c);
        gdf::kernel::cap_vector_width(4);
        close(&format!("{id} (scalar)"), &scalar, &host);
        // And the f32 runs stay near diffusers' f64 golden.
        let want = common::arr(&case["output"]["x"]).unwrap().1;
        for (i, (&h, &w)) in host.iter().zip(&want).enumerate() {
            assert!(
                (h as f64 - w).abs() <= 1e-4 + 1e-4 * w.abs(),
                "{id}: host f32 x[{i}] {h} vs golden {w}"
            );
        }
    }
    assert!(widths.contains(&4), "{widths:?}");
}

#[test]
fn ddim_inversion_on_the_device_refuses_as_the_host_does() {
    use gdf::kernel::invert::DeviceInversion;
    use gdf::target::X0;
    let Some(c) = client() else { return };
    let x = up(&c, &[0.5f32; 8]);
    // An x0-prediction at ᾱ = 1 has no ε; a dynamic threshold has no device form here.
    let inv = gdf::interop::diffusers::load_inverse(r#"{"prediction_type": "sample"}"#).unwrap();
    let mut dev = DeviceInversion::<f32>::new(&c, inv.steps(4).unwrap(), &x, 2, 4).unwrap();
    let m = dev.feed::<X0>(&x).unwrap_err().to_string();
    assert!(m.contains("set_alpha_to_one"), "{m}");
    let e = dev.set_threshold(Threshold::dynamic(0.9, 1.5).unwrap());
    assert!(e.unwrap_err().to_string().contains("dynamic thresholding"));
    // A short buffer, a ragged batch.
    let grid = Grid::new(&Vp, &[-2.0, 1.0, f64::INFINITY]).unwrap();
    let short = up(&c, &[0.5f32; 7]);
    assert!(DeviceInversion::<f32>::from_grid(&c, &grid, &short, 2, 4).is_err());
    let mut dev = DeviceInversion::<f32>::from_grid(&c, &grid, &x, 2, 4).unwrap();
    let m = dev.feed::<Epsilon>(&short).unwrap_err().to_string();
    assert!(m.contains("pred"), "{m}");
    dev.feed::<Epsilon>(&x).unwrap();
    dev.feed::<Epsilon>(&x).unwrap();
    assert!(dev
        .feed::<Epsilon>(&x)
        .unwrap_err()
        .to_string()
        .contains("done"));
}

/// Runs `solver` on `grid` on the host (f32) and on the device, with the model `ε = 0.3·x + w`
/// (fed through the `Epsilon` target), x0 threshold `th` and counter noise of `seed`; checks one
/// launch per evaluation and `evals` evaluations; returns (device, host).
fn both_runs<S: Solver + Clone>(
    c: &Client,
    solver: S,
    grid: &Grid,
    th: Threshold,
    seed: u64,
    evals: usize,
) -> (Vec<f32>, Vec<f32>) {
    let (dev, host, launches) = both_runs_with(c, solver, grid, th, seed, false, evals);
    assert_eq!(launches, vec![1; evals], "one launch per evaluation");
    (dev, host)
}

/// [`both_runs`] with Brownian-tree noise of `seed` when `brownian`, returning the launches
/// of every evaluation too.
fn both_runs_with<S: Solver + Clone>(
    c: &Client,
    solver: S,
    grid: &Grid,
    th: Threshold,
    seed: u64,
    brownian: bool,
    evals: usize,
) -> (Vec<f32>, Vec<f32>, Vec<usize>) {
    let tree = BrownianNoise::for_grid(seed, grid).unwrap();
    let (mut host_noise, dev_noise): (Box<dyn NoiseSource<f32>>, _) = if brownian {
        (Box::new(tree.clone()), DeviceNoise::Brownian(tree))
    } else {
        (
            Box::new(CounterNoise::new(seed)),
            DeviceNoise::Counter(seed),
        )
    };
    let (batch, per) = (2usize, 96usize);
    let n = batch * per;
    let x_init: Vec<f32> = (0..n)
        .map(|i| ((i * 37 % 101) as f32 / 25.0) - 2.0)
        .collect();
    let w: Vec<f32> = (0..n).map(|i| ((i * 13 % 29) as f32 / 7.0) - 2.0).collect();
    let mut host = Run::new(
        solver.clone(),
        grid.clone(),
        x_init.clone(),
        batch,
        &mut *host_noise,
    )
    .unwrap();
    host.set_threshold(th).unwrap();
    while let Some(r) = host.next_eval().unwrap() {
        let e = eps(0.3, &w, r.x);
        host.feed(&Epsilon, &e).unwrap();
    }
    let mut dev = DeviceRun::<f32, _>::new(
        c,
        solver,
        grid.clone(),
        &up(c, &x_init),
        batch,
        per,
        dev_noise,
    )
    .unwrap();
    dev.set_threshold(th).unwrap();
    let mut launches = Vec::new();
    while let Some(r) = dev.next_eval().unwrap() {
        let e = up(c, &eps(0.3, &w, &down(c, &r.x)));
        let before = Launches::count();
        dev.feed::<Epsilon>(&e).unwrap();
        launches.push((Launches::count() - before) as usize);
    }
    assert_eq!(launches.len(), evals, "evaluations");
    (down(c, dev.x()), host.into_x(), launches)
}

/// Brownian-tree noise on the device: each drawing evaluation takes one more launch (the
/// draw's counter normals summed into a scratch buffer), and the runs match the host's
/// `BrownianNoise` within f32 rounding; a solver whose draws are fresh noise is refused as
/// on the host.
#[test]
fn brownian_noise_on_the_device_matches_the_host() {
    let Some(c) = client() else { return };
    let grid = Grid::new(&Vp, &[-4.0, -2.0, -0.5, 1.0, 2.5, 4.0, f64::INFINITY]).unwrap();
    let cases: [(&str, AnySolver, usize, Vec<usize>); 3] = [
        // 6 steps: a draw on each but the last (to σ = 0).
        (
            "2m sde",
            DpmPP2MSde::new().into(),
            6,
            vec![2, 2, 2, 2, 2, 1],
        ),
        (
            "3m sde",
            DpmPP3MSde::new().into(),
            6,
            vec![2, 2, 2, 2, 2, 1],
        ),
        // Two evaluations (two draws, on overlapping intervals) per step, one on the last.
        (
            "dpmpp sde",
            DpmPPSde::new().into(),
            11,
            [vec![2; 10], vec![1]].concat(),
        ),
    ];
    for (id, solver, evals, want) in cases {
        let (dev, host, launches) =
            both_runs_with(&c, solver.clone(), &grid, Threshold::None, 3, true, evals);
        assert_eq!(launches, want, "{id}: launches per evaluation");
        close(id, &dev, &host);
        // Not the counter-noise run.
        let (_, counter) = both_runs(&c, solver, &grid, Threshold::None, 3, evals);
        assert!(
            counter.iter().zip(&host).any(|(a, b)| (a - b).abs() > 1e-2),
            "{id}"
        );
    }
    let tree = BrownianNoise::for_grid(0, &grid).unwrap();
    let x = up(&c, &[0.0f32; 8]);
    let mut dev = DeviceRun::<f32, _>::new(
        &c,
        EulerAncestral::new(),
        grid.clone(),
        &x,
        2,
        4,
        DeviceNoise::Brownian(tree),
    )
    .unwrap();
    dev.next_eval().unwrap();
    let e = dev
        .feed::<Epsilon>(&up(&c, &[0.0f32; 8]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not a Brownian increment") && e.contains("step 0"),
        "{e}"
    );
}

/// Heun takes diffusers' `clip_sample` (`HeunDiscreteScheduler`): both evaluations' x0 are
/// clipped inside the update's launch, on the device as on the host.
#[test]
fn heun_clips_both_evaluations_on_the_device() {
    let Some(c) = client() else { return };
    let grid = Grid::new(&Vp, &[-3.0, -1.0, 1.0, 3.0, f64::INFINITY]).unwrap();
    // Two evaluations per step, one on the step to σ = 0.
    let (dev, host) = both_runs(&c, Heun::new(), &grid, Threshold::clip(1.0).unwrap(), 0, 7);
    close("heun clip", &dev, &host);
    let (_, free) = both_runs(&c, Heun::new(), &grid, Threshold::None, 0, 7);
    let moved = host
        .iter()
        .zip(&free)
        .filter(|(a, b)| (*a - *b).abs() > 1e-3)
        .count();
    assert!(moved > host.len() / 4, "clipping moved only {moved} values");
}

/// `LCMScheduler` as loaded (boundary condition at the table's timestep, clip_sample, fresh
/// counter noise per step), `TCDScheduler` (γ = 0.5: DDIM to ⌊(1−γ)·t'⌋, then fresh noise
/// up to t') and `CMStochasticIterativeScheduler` (renoise short of σ_min), within f32 of
/// the host.
#[test]
fn lcm_and_tcd_run_on_the_device() {
    use gdf::interop::diffusers::{load, PipelineKind};
    let Some(c) = client() else { return };
    let sd = PipelineKind::StableDiffusion;
    let l = load(
        r#"{"_class_name": "LCMScheduler", "clip_sample": true, "timestep_scaling": 0.05,
            "original_inference_steps": 30}"#,
        sd,
    )
    .unwrap();
    let grid = l.solver_grid(&l.grid(5).unwrap()).unwrap();
    let (dev, host) = both_runs(&c, l.solver.clone(), &grid, l.threshold, 11, 5);
    close("lcm", &dev, &host);
    let l = load(
        r#"{"_class_name": "TCDScheduler", "prediction_type": "v_prediction"}"#,
        sd,
    )
    .unwrap();
    let AnySolver::Tcd(tcd) = l.solver.clone() else {
        panic!("{:?}", l.solver)
    };
    let grid = l.solver_grid(&l.grid(5).unwrap()).unwrap();
    let (dev, host) = both_runs(&c, tcd.with_gamma(0.5).unwrap(), &grid, l.threshold, 5, 5);
    close("tcd", &dev, &host);
    // Consistency models' multistep sampling: the renoise short of σ_min (times s_noise),
    // the clamp, no draw on the last step to σ_min.
    let l = load(
        r#"{"_class_name": "CMStochasticIterativeScheduler", "s_noise": 1.01}"#,
        sd,
    )
    .unwrap();
    let grid = l
        .solver_grid(&l.grid_for_timesteps(&[30.0, 22.0, 9.0, 0.0]).unwrap())
        .unwrap();
    let (dev, host) = both_runs(&c, l.solver.clone(), &grid, l.threshold, 3, 4);
    close("cm", &dev, &host);
}

/// DPM-Solver++ inversion (`DPMSolverMultistepInverseScheduler` as loaded, order 3 heun) on
/// the device: the same planned passes on an inversion grid, one launch per evaluation,
/// within f32 of the host; a sampler that does not invert is refused as on the host.
#[test]
fn dpm_inversion_runs_on_the_device() {
    use gdf::interop::diffusers::{load, PipelineKind};
    let Some(c) = client() else { return };
    let l = load(
        r#"{"_class_name": "DPMSolverMultistepInverseScheduler", "solver_order": 3,
            "solver_type": "heun"}"#,
        PipelineKind::StableDiffusion,
    )
    .unwrap();
    let grid = l.solver_grid(&l.grid(6).unwrap()).unwrap();
    assert!(grid.is_inverse());
    let (dev, host) = both_runs(&c, l.solver.clone(), &grid, l.threshold, 0, 6);
    close("dpm inversion", &dev, &host);
    let refused = DeviceRun::<f32, _>::new(
        &c,
        gdf::solver::Euler::new(),
        grid,
        &up(&c, &[0.5f32; 4]),
        2,
        2,
        DeviceNoise::None,
    );
    assert!(refused.is_err());
}

/// A test solver whose every pass makes two Brownian draws, over `[σ_i, σ_{i+1}]` and over its
/// first half, and adds `0.5·n0 + 0.25·n1` to `x` (no shipped solver makes two increment draws
/// in one pass; this covers the kernel's second slot).
#[derive(Clone, Default)]
struct TwoDraws {
    step: usize,
}

impl Solver for TwoDraws {
    fn name(&self) -> &'static str {
        "two_draws"
    }
    fn start(&mut self, _: &Grid) -> Result<(), gdf::GdfError> {
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = self.step;
        if i >= grid.steps() {
            return None;
        }
        self.step += 1;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        let mid = grid.at(0.5 * (l.lam + ln.lam));
        let row = Row::new(Dst::Buf(Buf::X))
            .t(Src::Buf(Buf::X), 1.0)
            .t(Src::Noise(0), 0.5)
            .t(Src::Noise(1), 0.25);
        Some(Eval {
            pre: None,
            input: Buf::X,
            level: l,
            post: Pass::one(row).increment(l, ln).increment(l, mid),
            step: i,
            completes_step: true,
            order: 1,
        })
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
}

#[test]
fn two_brownian_draws_in_one_pass_match_the_host() {
    let Some(c) = client() else { return };
    let grid = Grid::new(&Vp, &[-4.0, -1.0, 2.0, 5.0]).unwrap();
    let (dev, host, launches) =
        both_runs_with(&c, TwoDraws::default(), &grid, Threshold::None, 9, true, 3);
    assert_eq!(launches, [2, 2, 2]);
    close("two draws", &dev, &host);
}

/// diffusers' singlestep DPM-Solver++ on the device: the group's start kept in `Aux` (a copy
/// row beside the update, one launch per evaluation), order 3 heun and the order-2 SDE form
/// (counter noise), within f32 of the host; DEIS order 3; CogVideoX's DPM++ 2M SDE (its
/// dropped draws keep the counter streams aligned).
#[test]
fn singlestep_dpm_solver_runs_on_the_device() {
    let Some(c) = client() else { return };
    let grid = Grid::new(&Vp, &[-4.0, -2.5, -1.0, 0.5, 2.0, 3.5, 5.0, f64::INFINITY]).unwrap();
    for st in [
        DpmSinglestepSettings {
            order: 3,
            solver_type: SolverType::Heun,
            ..Default::default()
        },
        DpmSinglestepSettings {
            algorithm: DpmAlgorithm::SdeDpmSolverPP,
            ..Default::default()
        },
    ] {
        let s = DpmSolverSinglestep::with(st).unwrap();
        let (dev, host) = both_runs(&c, s, &grid, Threshold::None, 4, 7);
        close(&format!("{st:?}"), &dev, &host);
    }
    // DEIS: the noise estimate written over the history entry, then the update (two rows).
    let (dev, host) = both_runs(
        &c,
        Deis::with(3, true).unwrap(),
        &grid,
        Threshold::None,
        0,
        7,
    );
    close("deis", &dev, &host);
    // CogVideoX's 2M SDE: a dropped draw before each second-order update's own.
    let s = DpmPP2MSde::new().cogvideox(true);
    let (dev, host) = both_runs(&c, s, &grid, Threshold::None, 6, 7);
    close("cogvideox 2m sde", &dev, &host);
    // SA-Solver (predictor 3, corrector 3, τ = 1): one row over x, four history entries and
    // the draw.
    let s = SaSolver::with(3, 3, true, TauWindow::constant(1.0)).unwrap();
    let (dev, host) = both_runs(&c, s, &grid, Threshold::None, 8, 7);
    close("sa solver", &dev, &host);
    // PLMS: the first step's trial in Aux and ε_0 copied back over the trial's history
    // entry (8 evaluations for 7 steps), over ε and over v; IPNDM.
    for (name, s) in [
        ("plms", Plms::new()),
        ("plms v", Plms::new().v_prediction(true)),
    ] {
        let (dev, host) = both_runs(&c, s, &grid, Threshold::None, 0, 8);
        close(name, &dev, &host);
    }
    let (dev, host) = both_runs(&c, Ipndm::new(), &grid, Threshold::None, 0, 7);
    close("ipndm", &dev, &host);
    // LTX's rectified-flow Euler ancestral (a draw per step but the last) and its η = 0 form.
    for s in [
        EulerAncestralRf::new(),
        EulerAncestralRf::with(0.0, 1.0).unwrap(),
    ] {
        let (dev, host) = both_runs(&c, s, &grid, Threshold::None, 5, 7);
        close("euler ancestral rf", &dev, &host);
    }
    // Flow-GRPO's SDE sampler: a draw on every step, the last one to σ = 0 included.
    let (dev, host) = both_runs(&c, FlowSde::new(0.7).unwrap(), &grid, Threshold::None, 5, 7);
    close("flow sde", &dev, &host);
    // k-diffusion's dpm_fast: stages in Aux, a dropped draw per step at eta = 0, and the
    // ancestral step with its noise at eta = 1 (10 evaluations: orders 3, 3, 3, 1).
    let g = DpmFast::grid(&Vp, 0.05, 20.0, 10).unwrap();
    for eta in [0.0, 1.0] {
        let s = DpmFast::with(10, eta, 1.0).unwrap();
        let (dev, host) = both_runs(&c, s, &g, Threshold::None, 3, 10);
        close("dpm_fast", &dev, &host);
    }
    // PNDM's Runge-Kutta warm-up on table levels: Stage holds the running sum, and the
    // stages' predictions overwrite the newest history entry (no rotation) on the device too.
    let table = gdf::grid::table::DiscreteTable::new(&Default::default()).unwrap();
    let lam: Vec<f64> = (0..table.len()).map(|k| table.logsnr(k)).collect();
    let mut levels: Vec<f64> = [831usize, 665, 499, 333, 167, 1].map(|t| lam[t]).to_vec();
    levels.push(f64::INFINITY);
    let g = Grid::new(&Vp, &levels).unwrap();
    for v in [false, true] {
        let s = Plms::new().with_prk(lam.clone()).v_prediction(v);
        let (dev, host) = both_runs(&c, s, &g, Threshold::None, 0, 15);
        close("pndm prk", &dev, &host);
    }
}

/// PyTorch-generator noise on the device: each draw made on the host as diffusers makes it
/// (skipped ones advance the generator too) and uploaded, matching the host's `TorchNoise`
/// run within f32 rounding.
#[test]
fn torch_generator_noise_on_the_device_matches_the_host() {
    use gdf::interop::torch::{TorchDtype, TorchGenerator, TorchNoise};
    let Some(c) = client() else { return };
    let grid = Grid::new(&Vp, &[-4.0, -2.5, -1.0, 0.5, 2.0, 3.5, 5.0, f64::INFINITY]).unwrap();
    let (batch, per) = (2usize, 48usize);
    let n = batch * per;
    let x_init: Vec<f32> = TorchGenerator::new(3).randn_f32(n).into_iter().collect();
    let w: Vec<f32> = (0..n).map(|i| ((i * 13 % 29) as f32 / 7.0) - 2.0).collect();
    let solvers: [(&str, AnySolver); 2] = [
        ("euler ancestral", EulerAncestral::new().into()),
        // Draws it drops between the used ones.
        ("cogvideox 2m sde", DpmPP2MSde::new().cogvideox(true).into()),
    ];
    for (id, solver) in solvers {
        let noise = || TorchNoise::new(TorchGenerator::new(77), batch, per, TorchDtype::Float32);
        let mut host =
            Run::new(solver.clone(), grid.clone(), x_init.clone(), batch, noise()).unwrap();
        while let Some(r) = host.next_eval().unwrap() {
            let e = eps(0.3, &w, r.x);
            host.feed(&Epsilon, &e).unwrap();
        }
        let mut dev = DeviceRun::<f32, _>::new(
            &c,
            solver,
            grid.clone(),
            &up(&c, &x_init),
            batch,
            per,
            DeviceNoise::Torch(Box::new(noise())),
        )
        .unwrap();
        while let Some(r) = dev.next_eval().unwrap() {
            let e = up(&c, &eps(0.3, &w, &down(&c, &r.x)));
            dev.feed::<Epsilon>(&e).unwrap();
        }
        close(id, &down(&c, dev.x()), host.x());
    }
}

/// Diffusion forcing on the device: `DeviceForcing` against the host's `Forcing` (f32) on a
/// staggered plan with a model coupling each frame to the previous one (computed on the host
/// from each row's device input), for a multistep and a stochastic solver (per-group seeds);
/// the requests' group states are the host's, and the launches are three per advancing group.
#[test]
fn diffusion_forcing_on_the_device_matches_the_host() {
    use gdf::kernel::forcing::DeviceForcing;
    let Some(c) = client() else { return };
    let grid = Grid::new(&Vp, &[-4.0, -2.5, -1.0, 0.5, 2.0, 3.5, f64::INFINITY]).unwrap();
    let (batch, groups, len) = (2usize, 4usize, 40usize);
    let x_init: Vec<f32> = (0..batch * groups * len)
        .map(|i| ((i as f32) * 0.377).sin() * 1.2)
        .collect();
    // x0 = 0.6·x + 0.2·(the previous frame's element) (frame 0: none).
    let model = |x: &[f32]| -> Vec<f32> {
        (0..x.len())
            .map(|i| {
                let g = (i / len) % groups;
                let prev = if g > 0 { x[i - len] } else { 0.0 };
                0.6 * x[i] + 0.2 * prev
            })
            .collect()
    };
    fn go<S: Solver + Clone>(
        c: &Client,
        s: S,
        grid: &Grid,
        x_init: &[f32],
        batch: usize,
        groups: usize,
        model: &dyn Fn(&[f32]) -> Vec<f32>,
    ) -> (Vec<f32>, Vec<f32>) {
        let evals = s.nfe(grid);
        let plan = ForcingPlan::staggered(groups, evals, 2, 2, 0).unwrap();
        let mut host = Forcing::new(
            s.clone(),
            grid.clone(),
            plan.clone(),
            x_init.to_vec(),
            batch,
            |g| CounterNoise::new(40 + g as u64),
        )
        .unwrap();
        let xh = up(c, x_init);
        let mut dev = DeviceForcing::<f32, _>::new(c, s, grid.clone(), plan, &xh, batch, |g| {
            DeviceNoise::Counter(40 + g as u64)
        })
        .unwrap();
        while let Some(hr) = host.next_eval().unwrap() {
            let hstates = hr.groups.to_vec();
            let d_host = model(hr.x);
            let advancing = hstates.iter().filter(|g| g.advances).count();
            let dr = dev.next_eval().unwrap().unwrap();
            assert_eq!(dr.groups, &hstates[..], "row {}", dr.row);
            let xd = down(c, dr.x);
            let d_dev = up(c, &model(&xd));
            let before = Launches::count();
            dev.feed_x0(&d_dev).unwrap();
            // Per advancing group: gather its prediction, the update, scatter its latents.
            assert_eq!(Launches::count() - before, 3 * advancing as u64);
            host.feed_x0(&d_host).unwrap();
        }
        assert!(dev.next_eval().unwrap().is_none());
        (down(c, dev.x()), host.x().to_vec())
    }
    let (d, h) = go(&c, UniPc::new(), &grid, &x_init, batch, groups, &model);
    close("forcing unipc", &d, &h);
    let (d, h) = go(
        &c,
        EulerAncestral::new(),
        &grid,
        &x_init,
        batch,
        groups,
        &model,
    );
    close("forcing euler ancestral", &d, &h);
}

/// Guided diffusion forcing on the device: each group's own APG (with momentum, kept per
/// device run) against the host's `Forcing::feed_guided`.
#[test]
fn guided_diffusion_forcing_on_the_device_matches_the_host() {
    use gdf::guidance::{Apg, Layout};
    use gdf::kernel::forcing::DeviceForcing;
    let Some(c) = client() else { return };
    let grid = Grid::new(&Vp, &[-4.0, -2.0, 0.0, 2.0, 4.0, f64::INFINITY]).unwrap();
    let (batch, groups, len) = (2usize, 3usize, 32usize);
    let x_init: Vec<f32> = (0..batch * groups * len)
        .map(|i| ((i as f32) * 0.61).cos())
        .collect();
    let apg = || {
        let mut g = Apg::new(4.0).unwrap();
        g.momentum = Some(-0.5);
        g.eta = 0.0;
        g
    };
    let mut host_g = vec![apg(), apg(), apg()];
    let dev_g = vec![apg(), apg(), apg()];
    let layout = Layout::new(batch, &[len]).unwrap();
    let plan = ForcingPlan::staggered(groups, 5, 1, 1, 0).unwrap();
    let mut host = Forcing::new(
        UniPc::new(),
        grid.clone(),
        plan.clone(),
        x_init.clone(),
        batch,
        |_| NoNoise,
    )
    .unwrap();
    let xh = up(&c, &x_init);
    let mut dev = DeviceForcing::<f32, _>::new(&c, UniPc::new(), grid, plan, &xh, batch, |_| {
        DeviceNoise::None
    })
    .unwrap();
    let cond = |x: &[f32]| x.iter().map(|v| 0.5 * v + 0.1).collect::<Vec<f32>>();
    let uncond = |x: &[f32]| x.iter().map(|v| 0.2 * v).collect::<Vec<f32>>();
    while let Some(hr) = host.next_eval().unwrap() {
        let (hc, hu) = (cond(hr.x), uncond(hr.x));
        let dr = dev.next_eval().unwrap().unwrap();
        let xd = down(&c, dr.x);
        let (dc, du) = (up(&c, &cond(&xd)), up(&c, &uncond(&xd)));
        dev.feed_guided::<_, Epsilon>(&dev_g, &layout, &dc, Some(&du))
            .unwrap();
        host.feed_guided(&mut host_g, &layout, &Epsilon, &hc, Some(&hu))
            .unwrap();
    }
    close("guided forcing", &down(&c, dev.x()), host.x());
    assert!(dev.next_eval().unwrap().is_none());
}
