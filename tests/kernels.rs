//! Kernels against the host path (feature `wgpu`, `cuda` or `hip`).
//!
//! Without an adapter every test prints a skip message and passes, unless
//! `GDF_REQUIRE_GPU=1`, where a missing adapter fails the test.
#![cfg(any(feature = "wgpu", feature = "cuda", feature = "hip"))]
#![allow(clippy::needless_range_loop)]

use gdf::kernel::cubecl::prelude::Client;
use gdf::kernel::eval;
use gdf::kernel::{Loads, Tuning};
use gdf::noise::{self, Purpose};

#[test]
fn device_noise_equals_host_noise() {
    let Some(c) = client() else { return };
    for (seed, purpose, sample, step, group0, len) in [
        (0u64, Purpose::Epsilon, 0u32, 0u32, 0u32, 4099usize),
        (0x1234_5678_9abc_def0, Purpose::Sampler, 7, 13, 5, 1000),
        (u64::MAX, Purpose::Init, u32::MAX, 3, 1 << 20, 257),
    ] {
        let dev = eval::normals(&c, len, seed, purpose, sample, step, group0).unwrap();
        let mut host = vec![0.0f32; len];
        noise::fill_normal(seed, purpose, sample, step, 32 * group0 as u64, &mut host);
        let mut same = 0;
        for (i, (d, h)) in dev.iter().zip(&host).enumerate() {
            assert!(
                (d - h).abs() <= 2e-6 * h.abs().max(1.0),
                "element {i}: device {d} host {h}"
            );
            same += (d.to_bits() == h.to_bits()) as usize;
        }
        eprintln!("noise seed {seed:#x}: {same}/{len} bit-identical");
    }
}

// ---------------------------------------------------------------------------------------
// Framework kernels on the golden configurations.

mod common;
use common::device::{assert_matches_host, client, down, f32s, f64s, up};

use gdf::framework::{DiffuseArgs, DiffuseOut, Gdf};
use gdf::kernel::component::*;
use gdf::kernel::cubecl::server::Handle;
use gdf::kernel::framework::{self as kf, DiffuseIo, DiffuseSettings};
use gdf::kernel::Launches;
use gdf::prelude::*;
use gdf::{
    konst, loss_weight as lw, noise_cond as ncd, scaler as scl, schedule as sch, target as tg,
};
use serde_json::Value;

type Sc = Gdf<sch::Cosine, scl::Vp, tg::Epsilon, ncd::CosineT, lw::P2, f64>;
type Edm = Gdf<
    sch::EdmSample,
    scl::Vp,
    tg::V,
    ncd::Edm,
    lw::Composed<(lw::MinSnr,), (lw::SnrPlusOne,)>,
    f64,
>;
type Rf =
    Gdf<sch::RectifiedFlows, scl::Lerp, tg::RectifiedFlows, ncd::RectifiedFlows, lw::Constant, f64>;
type Stretched = Gdf<sch::Cosine, scl::Stretched<scl::Vp>, tg::X0, ncd::Sigmoid, lw::Snr, f64>;

/// `|got − want| ≤ atol + rtol·|want|`, NaN/inf positions equal.
#[track_caller]
fn assert_close(what: &str, got: &[f32], want: &[f64], rtol: f64, atol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let g = g as f64;
        let ok = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= atol + rtol * w.abs()
        };
        assert!(
            ok,
            "{what}[{i}]: device {g} vs {w} (rtol {rtol}, atol {atol})"
        );
    }
}

/// A device run's final `x` against the host run's, in f32: `|d − h| ≤ 1e-4 + 1e-4·|h|`.
#[track_caller]
fn assert_x_matches_host(what: &str, dev: &[f32], host: &[f32]) {
    assert_matches_host(what, dev, host, 1e-4);
}

/// Host f32 diffuse of a golden case vs the device kernel vs the golden numbers.
#[allow(clippy::too_many_arguments)]
fn check_diffuse<S, Scl, T, N, L>(c: &Client, gdf: &Gdf<S, Scl, T, N, L, f64>, case: &Value)
where
    S: Schedule + CubeSchedule + DeviceState,
    Scl: Scaler + CubeScaler + DeviceState,
    T: Target + CubeTarget,
    N: NoiseCond + CubeNoiseCond + DeviceState,
    L: LossWeight + CubeLossWeight + DeviceState,
{
    use common::*;
    let id = case["id"].as_str().unwrap();
    let call = &case["call"];
    let input = &case["input"];
    let out = &case["output"];
    let (shape, x0) = arr(&input["x0"]).unwrap();
    let (b, ch) = (shape[0], shape[1]);
    let n = x0.len();
    let per = n / b;
    let x0 = f32s(&x0);
    let eps = f32s(&flat(&input["epsilon"]).unwrap());
    let t = f32s(&flat(&input["t"]).unwrap());
    let offset = input.get("offset").map(|o| f32s(&flat(o).unwrap()));
    let shift = call.get("shift").map(|v| num(v).unwrap()).unwrap_or(1.0);
    let loss_shift = call
        .get("loss_shift")
        .map(|v| num(v).unwrap())
        .unwrap_or(1.0);
    // Host f32.
    let args = DiffuseArgs {
        eps: Some(&eps),
        t: Some(&t),
        offset: offset.as_deref(),
        channels: ch,
        shift: shift as f32,
        loss_shift: loss_shift as f32,
        ..Default::default()
    };
    let (mut hn, mut he, mut ht) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
    let (mut hl, mut hc, mut hw) = (vec![0f32; b], vec![0f32; b], vec![0f32; b]);
    gdf.diffuse_into(
        &x0,
        b,
        &args,
        DiffuseOut {
            noised: &mut hn,
            eps: Some(&mut he),
            target: Some(&mut ht),
            logsnr: &mut hl,
            noise_cond: &mut hc,
            loss_weight: &mut hw,
        },
    )
    .unwrap();
    // Device.
    let io = DiffuseIo {
        x0: up(c, &x0),
        eps: Some(up(c, &eps)),
        tl: Some(up(c, &t)),
        tl_is_logsnr: false,
        offset: offset.as_ref().map(|o| up(c, o)),
        noised: c.empty(4 * n),
        eps_out: Some(c.empty(4 * n)),
        target: Some(c.empty(4 * n)),
        per_sample: c.empty(12 * b),
    };
    let set = DiffuseSettings {
        batch: b,
        per,
        channels: ch,
        shift,
        loss_shift,
        ..Default::default()
    };
    let before = Launches::count();
    kf::diffuse::<f32, _, _, _, _, _, _>(c, gdf, &io, &set).unwrap();
    assert_eq!(Launches::count() - before, 1, "{id}: diffuse is one launch");
    let dn = down(c, &io.noised);
    let de = down(c, io.eps_out.as_ref().unwrap());
    let ps = down(c, &io.per_sample);
    let is_eps = gdf.target.is_epsilon();
    let dt = if is_eps {
        de.clone()
    } else {
        down(c, io.target.as_ref().unwrap())
    };
    let outs = [
        ("noised", &dn[..], &hn[..]),
        ("epsilon", &de[..], &he[..]),
        ("target", &dt[..], &ht[..]),
        ("logSNR", &ps[..b], &hl[..]),
        ("noise_cond", &ps[b..2 * b], &hc[..]),
        ("loss_weight", &ps[2 * b..], &hw[..]),
    ];
    for (name, dev, host) in outs {
        assert_close(
            &format!("{id} {name} vs host f32"),
            dev,
            &f64s(host),
            1e-5,
            1e-6,
        );
        let want = flat(&out[name]).unwrap();
        // The golden f32 tolerance (README), 1.3e-4 more at logSNR = 0 for Lerp.
        assert_close(
            &format!("{id} {name} vs golden"),
            dev,
            &want,
            5e-3,
            1e-4 + 4e-4,
        );
    }
    eprintln!("{id}: diffuse matches host f32 (rtol 1e-5) and golden");
}

fn check_undiffuse<S, Scl, T, N, L>(c: &Client, gdf: &Gdf<S, Scl, T, N, L, f64>, case: &Value)
where
    S: Schedule + CubeSchedule + DeviceState,
    Scl: Scaler + CubeScaler + DeviceState,
    T: Target + CubeTarget,
    N: NoiseCond + CubeNoiseCond + DeviceState,
    L: LossWeight + CubeLossWeight + DeviceState,
{
    use common::*;
    let id = case["id"].as_str().unwrap();
    let input = &case["input"];
    let x = f32s(&flat(&input["x"]).unwrap());
    let l = f32s(&flat(&input["logSNR"]).unwrap());
    let pred = f32s(&flat(&input["pred"]).unwrap());
    let (n, b) = (x.len(), l.len());
    let (mut hx0, mut he) = (vec![0f32; n], vec![0f32; n]);
    gdf.undiffuse_into(&x, &l, &pred, Some(&mut hx0), Some(&mut he))
        .unwrap();
    let (x0h, eh) = (c.empty(4 * n), c.empty(4 * n));
    let before = Launches::count();
    kf::undiffuse::<f32, _, _, _, _, _, _>(
        c,
        gdf,
        &up(c, &x),
        &up(c, &l),
        &up(c, &pred),
        Some(&x0h),
        Some(&eh),
        b,
        n / b,
    )
    .unwrap();
    assert_eq!(Launches::count() - before, 1);
    let (dx0, de) = (down(c, &x0h), down(c, &eh));
    assert_close(&format!("{id} x0 vs host"), &dx0, &f64s(&hx0), 1e-5, 1e-6);
    assert_close(&format!("{id} eps vs host"), &de, &f64s(&he), 1e-5, 1e-6);
    let out = &case["output"];
    assert_close(
        &format!("{id} x0 vs golden"),
        &dx0,
        &flat(&out["x0"]).unwrap(),
        5e-3,
        5e-4,
    );
    assert_close(
        &format!("{id} eps vs golden"),
        &de,
        &flat(&out["epsilon"]).unwrap(),
        5e-3,
        5e-4,
    );
}

fn configs() -> (Sc, Edm, Rf, Stretched) {
    let sc: Sc = Gdf::default();
    let edm: Edm = Gdf::default();
    let rf: Rf = Gdf::default();
    let st = Gdf::<sch::Cosine, scl::Vp, tg::X0, ncd::Sigmoid, lw::Snr, f64>::default()
        .setup_limits(true, true, 1.0)
        .unwrap();
    (sc, edm, rf, st)
}

/// The golden cases the device tests run: those whose framework (and sampler) is one of the
/// types declared here, found by comparing the case's spec with the type's declaration
/// ([`common::spec_is`]), not by its `config` name. Every public case has one, and all of
/// them must run. In another golden set (`GDF_GOLDEN_DIR`) a case of another framework, or of
/// a DDIM η declared nowhere here, cannot become a kernel without a type (hyperparameters
/// are type-level constants): it is listed and left to the host golden tests, which run
/// every case; a set whose file has no declared case at all runs none of it here (said on
/// stderr), rather than failing for a framework no test could compile.
struct OnDevice {
    file: &'static str,
    public: bool,
    ran: usize,
    elsewhere: Vec<String>,
}

impl OnDevice {
    fn new(file: &'static str) -> Self {
        Self {
            file,
            public: std::env::var_os("GDF_GOLDEN_DIR").is_none(),
            ran: 0,
            elsewhere: Vec::new(),
        }
    }

    fn undeclared(&mut self, case: &Value, what: &str) {
        let id = case["id"].as_str().unwrap_or("<no id>").to_string();
        assert!(
            !self.public,
            "{id}: no declared {what} (every public case has one)"
        );
        self.elsewhere.push(id);
    }

    fn finish(self) {
        eprintln!(
            "{}: {} cases on the device; {} with a framework or sampler not declared here: {:?}",
            self.file,
            self.ran,
            self.elsewhere.len(),
            self.elsewhere
        );
        if self.public {
            assert!(self.ran > 0, "{}: no case ran on the device", self.file);
        } else if self.ran == 0 {
            eprintln!(
                "{}: no case of this golden set has a framework declared here; the host \
                 golden tests check all {} of them",
                self.file,
                self.elsewhere.len()
            );
        }
    }
}

/// Which of `decls` (a typed framework's declaration and its `setup_limits` calls) a golden
/// case's spec is ([`common::spec_is`]).
type SetupCalls = [(bool, bool, f64)];
fn declared(case: &Value, decls: &[(&str, &SetupCalls)]) -> Option<usize> {
    decls
        .iter()
        .position(|(d, setup)| common::spec_is(case, d, setup))
}

/// The unstretched twin of [`Stretched`], as its golden spec declares it before
/// `setup_limits(true, true, 1)`.
type StretchedBase = Gdf<sch::Cosine, scl::Vp, tg::X0, ncd::Sigmoid, lw::Snr, f64>;
const STRETCH_CALLS: [(bool, bool, f64); 1] = [(true, true, 1.0)];

#[test]
fn diffuse_and_undiffuse_match_host_and_golden() {
    let Some(c) = client() else { return };
    let (sc, edm, rf, st) = configs();
    let (sc_d, edm_d, rf_d) = (sc.to_string(), edm.to_string(), rf.to_string());
    let st_d = StretchedBase::default().to_string();
    let cases = common::load("diffuse.json");
    assert!(!cases.is_empty());
    let mut on = OnDevice::new("diffuse.json");
    for case in &cases {
        let offset = case["params"]
            .get("offset_noise")
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0);
        let undiffuse = case["call"]["method"] == "undiffuse";
        macro_rules! go {
            ($g:expr) => {{
                let g = $g.with_offset_noise(offset);
                if undiffuse {
                    check_undiffuse(&c, &g, case)
                } else {
                    check_diffuse(&c, &g, case)
                }
            }};
        }
        match declared(
            case,
            &[
                (&sc_d, &[]),
                (&edm_d, &[]),
                (&rf_d, &[]),
                (&st_d, &STRETCH_CALLS),
            ],
        ) {
            Some(0) => go!(sc),
            Some(1) => go!(edm),
            Some(2) => go!(rf),
            Some(_) => go!(st),
            None => {
                on.undeclared(case, "framework");
                continue;
            }
        }
        on.ran += 1;
    }
    on.finish();
}

// ---------------------------------------------------------------------------------------
// Sampling: the device driver against the host driver and the golden loops.

use gdf::kernel::cubecl;
use gdf::kernel::cubecl::prelude::*;
use gdf::kernel::step::{self as ks, DeviceSampleOpts, DeviceSampling};
use gdf::sample::{Cfg, Rescale, SampleOpts};

/// The golden toy model: `tanh(0.5·x + c[b]) + 0.1·inputs[i]`.
#[cube(launch_unchecked)]
fn toy_kernel(x: &[f32], nc: &[f32], inputs: &[f32], out: &mut [f32], per: u32) {
    let i = ABSOLUTE_POS;
    if i < x.len() {
        out[i] = f32::tanh(0.5f32 * x[i] + nc[i / per as usize]) + 0.1f32 * inputs[i];
    }
}

fn toy_device(
    c: &Client,
    x: &Handle,
    nc: &Handle,
    inputs: &Handle,
    out: &Handle,
    mb: usize,
    per: usize,
) {
    let n = mb * per;
    unsafe {
        toy_kernel::launch_unchecked(
            c,
            CubeCount::Static(n.div_ceil(256) as u32, 1, 1),
            CubeDim::new_1d(256),
            BufferArg::from_raw_parts(x.clone(), n),
            BufferArg::from_raw_parts(nc.clone(), mb),
            BufferArg::from_raw_parts(inputs.clone(), 2 * n),
            BufferArg::from_raw_parts(out.clone(), n),
            per as u32,
        )
    };
}

fn opt_f(v: &Value) -> Option<f64> {
    if v.is_null() {
        None
    } else {
        Some(common::num(v).unwrap())
    }
}

#[allow(clippy::too_many_arguments)]
fn check_loop<S, Scl, T, N, L, Smp>(
    c: &Client,
    gdf: &Gdf<S, Scl, T, N, L, f64>,
    sampler: Smp,
    case: &Value,
) where
    S: Schedule + CubeSchedule + DeviceState,
    Scl: Scaler + CubeScaler + DeviceState,
    T: Target + CubeTarget,
    N: NoiseCond + CubeNoiseCond + DeviceState,
    L: LossWeight + CubeLossWeight + DeviceState,
    Smp: gdf::sampler::Sampler + CubeSampler + Copy,
{
    use common::*;
    let id = case["id"].as_str().unwrap();
    let call = &case["call"];
    let input = &case["input"];
    let out = &case["output"];
    let (shape, x_init) = arr(&input["x_init"]).unwrap();
    let b = shape[0];
    let n = x_init.len();
    let per = n / b;
    let x_init = f32s(&x_init);
    let cond = f32s(&flat(&input["cond"]).unwrap());
    let uncond = input.get("uncond").map(|u| f32s(&flat(u).unwrap()));
    let noise = input.get("noise").map(|z| f32s(&flat(z).unwrap()));
    let timesteps = call["timesteps"].as_u64().unwrap() as usize;
    let cfg = match &call["cfg"] {
        Value::Null => Cfg::Off,
        Value::Array(v) => Cfg::Ramp(num(&v[0]).unwrap(), num(&v[1]).unwrap()),
        v => Cfg::Scale(num(v).unwrap()),
    };
    let rho = num(&call["cfg_rho"]).unwrap();
    let (t_start, t_end) = (num(&call["t_start"]).unwrap(), num(&call["t_end"]).unwrap());
    let shift = call.get("shift").map(|v| num(v).unwrap()).unwrap_or(1.0);
    let (cfg_t_stop, cfg_t_start) = (opt_f(&call["cfg_t_stop"]), opt_f(&call["cfg_t_start"]));
    // Host f32 run.
    let cfg32 = match cfg {
        Cfg::Off => Cfg::Off,
        Cfg::Scale(g) => Cfg::Scale(g as f32),
        Cfg::Ramp(a, z) => Cfg::Ramp(a as f32, z as f32),
    };
    let opts = SampleOpts {
        timesteps,
        t_start: t_start as f32,
        t_end: t_end as f32,
        shift: shift as f32,
        x_init: Some(&x_init),
        cfg: cfg32,
        cfg_t_start: cfg_t_start.map(|v| v as f32),
        cfg_t_stop: cfg_t_stop.map(|v| v as f32),
        cfg_rho: rho as f32,
        noise: noise.as_deref(),
        ..Default::default()
    };
    let toy_host = |x: &[f32], nc: &[f32], inp: &[f32], pred: &mut [f32]| {
        for i in 0..x.len() {
            pred[i] = (0.5 * x[i] + nc[i / per]).tanh() + 0.1 * inp[i];
        }
    };
    let mut host = gdf
        .sample(toy_host, sampler, &cond, uncond.as_deref(), b, per, opts)
        .unwrap();
    // Device run.
    let mut inputs = cond.clone();
    inputs.extend(uncond.clone().unwrap_or_else(|| vec![0.0; n]));
    let inputs_h = up(c, &inputs);
    let model = |cl: &Client, x: &Handle, nc: &Handle, mb: usize, _guided: bool, o: &Handle| {
        toy_device(cl, x, nc, &inputs_h, o, mb, per)
    };
    let dopts = DeviceSampleOpts {
        timesteps,
        t_start,
        t_end,
        shift,
        x_init: Some(up(c, &x_init)),
        cfg,
        cfg_t_start,
        cfg_t_stop,
        cfg_rho: rho,
        rescale: Rescale::Batch,
        noise: noise.as_ref().map(|z| up(c, z)),
        ..Default::default()
    };
    let mut dev =
        DeviceSampling::<f32, _, _, _, _>::new(c, gdf, sampler, model, b, per, dopts).unwrap();
    let (gx, gx0, gp) = (
        flat(&out["x"]).unwrap(),
        flat(&out["x0"]).unwrap(),
        flat(&out["pred"]).unwrap(),
    );
    let mut k = 0;
    while let Some(hs) = host.next_step().unwrap() {
        let ds = dev.next_step().unwrap().unwrap();
        assert_eq!(ds.guided, hs.guided, "{id} step {k}: guidance");
        let rescaled = ds.guided && rho > 0.0;
        let launches = ds.launches;
        assert!(
            launches
                <= if rescaled { rescaled_launches() } else { 1 } + (k == 0 && ds.guided) as u32,
            "{id}: {launches} launches"
        );
        let (dx, dx0, dp) = (down(c, dev.x()), down(c, dev.x0()), down(c, dev.pred()));
        let tag = |w: &str| format!("{id} step {k} {w}");
        assert_close(&tag("x vs host f32"), &dx, &f64s(hs.x), 2e-4, 2e-5);
        assert_close(&tag("x0 vs host f32"), &dx0, &f64s(hs.x0), 2e-4, 2e-5);
        assert_close(&tag("pred vs host f32"), &dp, &f64s(hs.pred), 2e-4, 2e-5);
        let r = k * n..(k + 1) * n;
        assert_close(&tag("x vs golden"), &dx, &gx[r.clone()], 1e-2, 1e-3);
        assert_close(&tag("x0 vs golden"), &dx0, &gx0[r.clone()], 1e-2, 1e-3);
        assert_close(&tag("pred vs golden"), &dp, &gp[r], 1e-2, 1e-3);
        k += 1;
    }
    assert_eq!(k, timesteps);
    assert!(dev.next_step().unwrap().is_none());
    eprintln!("{id}: {k} device steps match the host driver and golden");
}

#[test]
fn sample_loops_match_host_driver_and_golden() {
    let Some(c) = client() else { return };
    let (sc, edm, rf, _) = configs();
    let (sc_d, edm_d, rf_d) = (sc.to_string(), edm.to_string(), rf.to_string());
    type Eta05 = konst::Dec<typenum::P5, typenum::N1>;
    let mut on = OnDevice::new("sample_loops.json");
    for case in &common::load("sample_loops.json") {
        let sampler = case["call"]["sampler"]["component"]
            .as_str()
            .unwrap_or("DDPMSampler");
        // GDF's DDPMSampler is DDIM with η = 1 unless sampler_params give another η.
        let default_eta = if sampler == "DDPMSampler" { 1.0 } else { 0.0 };
        let eta = case["call"]["sampler_params"]
            .get("eta")
            .and_then(|v| v.as_f64())
            .unwrap_or(default_eta);
        macro_rules! go {
            ($g:expr) => {
                match (sampler, eta) {
                    ("DDIMSampler" | "DDPMSampler", e) if e == 0.0 => {
                        check_loop(&c, &$g, <gdf::sampler::Ddim>::new(), case)
                    }
                    ("DDIMSampler" | "DDPMSampler", e) if e == 0.5 => {
                        check_loop(&c, &$g, gdf::sampler::Ddim::<Eta05>::new(), case)
                    }
                    ("DDIMSampler" | "DDPMSampler", e) if e == 1.0 => {
                        check_loop(&c, &$g, gdf::sampler::Ddpm, case)
                    }
                    ("LCMSampler", _) => check_loop(&c, &$g, gdf::sampler::Lcm, case),
                    _ => {
                        on.undeclared(case, "sampler");
                        continue;
                    }
                }
            };
        }
        match declared(case, &[(&sc_d, &[]), (&edm_d, &[]), (&rf_d, &[])]) {
            Some(0) => go!(sc),
            Some(1) => go!(edm),
            Some(_) => go!(rf),
            None => {
                on.undeclared(case, "framework");
                continue;
            }
        }
        on.ran += 1;
    }
    on.finish();
}

// ---------------------------------------------------------------------------------------
// Every component's kernel against its host form.

fn golden_inputs(files: &[&str], key: &str) -> Vec<f32> {
    let mut v = Vec::new();
    for f in files {
        for case in common::load(f) {
            if let Some(x) = case["input"].get(key) {
                v.extend(common::flat(x).unwrap().iter().map(|&x| x as f32));
            }
        }
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v.dedup_by(|a, b| a.to_bits() == b.to_bits());
    v
}

fn t_grid() -> Vec<f32> {
    let mut t = golden_inputs(&["schedules.json"], "t");
    t.extend((0..=200).map(|i| i as f32 / 200.0));
    t.extend(edges());
    t
}

/// The edge grid (±0.0, tiny, 1 ± 1e-16, just outside [0, 1]) in f32.
fn edges() -> Vec<f32> {
    common::edge_grid().iter().map(|&x| x as f32).collect()
}

fn l_grid() -> Vec<f32> {
    let mut l = golden_inputs(
        &["scalers.json", "noise_conds.json", "loss_weights.json"],
        "logSNR",
    );
    l.extend((0..=160).map(|i| -20.0 + i as f32 * 0.25));
    l.extend(edges());
    l
}

/// Device vs host f32 (`rtol 1e-5`, `atol 1e-6`); a point outside that must be within the
/// golden f32 tolerance (`rtol 5e-3`, `atol 1e-4`) of the host f64 value (ill-conditioned
/// points, listed), or, next to a step of a step function, equal to the host f64 value on
/// either side of it. NaN and ±inf must sit at the same points.
#[track_caller]
fn check_component(
    what: &str,
    x: &[f32],
    dev: &[f32],
    h32: impl Fn(f32) -> f32,
    h64: impl Fn(f64) -> f64,
) {
    assert_eq!(x.len(), dev.len());
    let mut loose = Vec::new();
    for (&x, &d) in x.iter().zip(dev) {
        let (w32, w64) = (h32(x), h64(x as f64));
        if w32.is_nan() || w32.is_infinite() {
            assert!(
                (d.is_nan() && w32.is_nan()) || d == w32,
                "{what} at {x}: device {d}, host {w32}"
            );
            continue;
        }
        if (d - w32).abs() as f64 <= 1e-5 * w32.abs() as f64 + 1e-6 {
            continue;
        }
        // A step function (`Discrete`) next to one of its steps: the f32 rounding of its
        // inner value may fall on either side, so either side's value is right.
        let near = 1e-4 * (x.abs() as f64).max(1.0);
        let sides = [h64(x as f64 - near), h64(x as f64 + near)];
        if sides[0] != sides[1] && sides.contains(&(d as f64)) {
            loose.push((x, d, w32));
            continue;
        }
        assert!(
            (d as f64 - w64).abs() <= 1e-4 + 5e-3 * w64.abs(),
            "{what} at {x}: device {d}, host f32 {w32}, host f64 {w64}"
        );
        loose.push((x, d, w32));
    }
    if std::env::var_os("GDF_KERNEL_REPORT").is_some() {
        // The largest device-vs-host-f32 deviation, in units of the tight tolerance.
        let worst = x
            .iter()
            .zip(dev)
            .filter(|(&x, _)| h32(x).is_finite())
            .map(|(&x, &d)| {
                let w = h32(x);
                (d - w).abs() as f64 / (1e-5 * w.abs() as f64 + 1e-6)
            })
            .fold(0.0f64, f64::max);
        eprintln!(
            "REPORT {what}: worst {worst:.4} (of the 1e-5/1e-6 tolerance), loose {}",
            loose.len()
        );
    }
    if !loose.is_empty() {
        eprintln!(
            "{what}: {} of {} points only within the golden f32 tolerance: {loose:?}",
            loose.len(),
            x.len()
        );
    }
}

macro_rules! check_schedules {
    ($c:expr; $($s:expr),* $(,)?) => {$({
        let s = $s;
        let t = t_grid();
        for shift in [1.0f64, 2.0, 0.5] {
            let dev = eval::eval_schedule(&$c, &s, &t, shift as f32).unwrap();
            check_component(
                &format!("{} shift {shift}", s.decl()),
                &t,
                &dev,
                |t| s.logsnr(t, shift as f32).unwrap(),
                |t| s.logsnr(t, shift).unwrap(),
            );
        }
    })*};
}

#[test]
fn schedules_match_host() {
    let Some(c) = client() else { return };
    use gdf::konst::Dec;
    use typenum::{N1, P1, P2, P5, U11};
    let table = sch::Table::new(vec![0.0, 0.3, 0.7, 1.0], vec![0.999, 0.8, 0.1, 0.001]).unwrap();
    check_schedules!(c;
        <sch::Cosine>::new(),
        sch::Cosine::<Dec<P1, typenum::N2>, Dec<P1, typenum::N3>, Dec<typenum::P99, typenum::N2>, typenum::True>::new(),
        <sch::Sqrt>::new(),
        sch::Sqrt::<Dec<P1, typenum::N4>, Dec<P1, typenum::N4>, konst::Dec<typenum::P9, N1>, typenum::True>::new(),
        <sch::Cosine2>::new(),
        <sch::RectifiedFlows>::new(),
        <sch::Linear>::new(),
        <sch::EdmSample>::new(),
        sch::PiecewiseLinear::from_table(table.clone()),
        <sch::StableDiffusion>::new(),
        sch::Interpolated::<_, _, Dec<P2, typenum::Z0>, Dec<P5, N1>>::new(<sch::Cosine>::new(), <sch::Linear>::new()),
        sch::Interpolated::<_, _>::new(sch::PiecewiseLinear::from_table(table.clone()), <sch::StableDiffusion>::new()),
        sch::Shifted::<_, Dec<P2, typenum::Z0>>::new(<sch::Cosine>::new()),
        sch::DiscreteSteps::<_, U11>::new(<sch::Linear>::new()),
        sch::NoLimits::new(sch::Shifted::<_, Dec<P2, typenum::Z0>>::new(<sch::EdmSample>::new())),
        <gdf::density::ModeSampling>::new(),
        sch::Shifted::<_, Dec<P2, typenum::Z0>>::new(<gdf::density::ModeSampling>::new()),
    );
    // Training-only schedules are refused with a typed error.
    let e = eval::eval_schedule(&c, &<sch::EdmTrain>::new(), &[0.5f32], 1.0).unwrap_err();
    assert!(
        matches!(e, gdf::kernel::KernelError::HostOnly { .. }),
        "{e}"
    );
}

/// On the edge grid (with and without discrete steps) no schedule or noise cond kernel gives
/// NaN, and each equals its host form (issue: `RectifiedFlows` at `t = −0.0`).
#[test]
fn edges_are_finite_or_limits_on_the_device() {
    let Some(c) = client() else { return };
    use typenum::{U1000, U9};
    let t = edges();
    macro_rules! sched {
        ($($s:expr),* $(,)?) => {$({
            let s = $s;
            let [lo, hi] = s.limits().unwrap();
            for shift in [1.0f32, 3.0] {
                let dev = eval::eval_schedule(&c, &s, &t, shift).unwrap();
                for (&t, &d) in t.iter().zip(&dev) {
                    let d = d as f64;
                    let (lo, hi) = (lo as f32 as f64, hi as f32 as f64);
                    assert!(
                        !d.is_nan() && d >= lo && d <= hi,
                        "{} shift {shift} at t = {t:e}: device {d} outside [{lo}, {hi}]",
                        s.decl()
                    );
                }
                check_component(&s.decl(), &t, &dev, |t| s.logsnr(t, shift).unwrap(), |t| s.logsnr(t, shift as f64).unwrap());
            }
        })*};
    }
    let table = sch::Table::new(vec![0.0, 0.3, 0.7, 1.0], vec![0.999, 0.8, 0.1, 0.001]).unwrap();
    sched!(
        <sch::RectifiedFlows>::new(),
        sch::DiscreteSteps::<_, U9>::new(<sch::RectifiedFlows>::new()),
        sch::DiscreteSteps::<_, U1000>::new(<sch::RectifiedFlows>::new()),
        <sch::Cosine>::new(),
        sch::DiscreteSteps::<_, U9>::new(<sch::Cosine>::new()),
        <sch::Cosine2>::new(),
        sch::DiscreteSteps::<_, U9>::new(<sch::Cosine2>::new()),
        <sch::Sqrt>::new(),
        sch::DiscreteSteps::<_, U9>::new(<sch::Sqrt>::new()),
        <sch::Linear>::new(),
        <sch::EdmSample>::new(),
        sch::DiscreteSteps::<_, U9>::new(<sch::EdmSample>::new()),
        sch::PiecewiseLinear::from_table(table.clone()),
        sch::DiscreteSteps::<_, U9>::new(sch::PiecewiseLinear::from_table(table.clone())),
        <sch::StableDiffusion>::new(),
        sch::Interpolated::<_, _>::new(<sch::Cosine2>::new(), <sch::RectifiedFlows>::new()),
    );
    let mut l = t.clone();
    l.extend([30.0, -30.0, 1e3, -1e3]);
    macro_rules! cond {
        ($($n:expr),* $(,)?) => {$({
            let n = $n;
            let dev = eval::eval_noise_cond(&c, &n, &l).unwrap();
            for (&l, &d) in l.iter().zip(&dev) {
                assert!(d.is_finite(), "{} at λ = {l:e}: device {d}", n.decl());
            }
            check_component(&n.decl(), &l, &dev, |l| n.noise_cond(l), |l| n.noise_cond(l));
        })*};
    }
    cond!(
        <ncd::CosineT>::new(),
        ncd::Edm,
        ncd::Sigmoid,
        ncd::LogSnr,
        ncd::RectifiedFlows,
        <ncd::EdmSigma>::new(),
        <ncd::FlowSigma>::new(),
        ncd::PiecewiseLinear::new(table),
        <ncd::StableDiffusion>::new(),
        ncd::Discrete::<_, U1000>::new(<ncd::CosineT>::new()),
        ncd::TableTimestep::new(vec![-3.5, -1.0, 0.2, 0.3, 2.7], false).unwrap(),
    );
}

#[test]
fn scalers_match_host() {
    let Some(c) = client() else { return };
    let l = l_grid();
    let st_vp = scl::Stretched::setup(scl::Vp, &<sch::Cosine>::new(), true, true, 1.0).unwrap();
    let st_lerp =
        scl::Stretched::setup(scl::Lerp, &<sch::RectifiedFlows>::new(), true, false, 2.0).unwrap();
    macro_rules! go {
        ($($s:expr),*) => {$({
            let s = $s;
            let (da, db) = eval::eval_scaler(&c, &s, &l).unwrap();
            check_component(&format!("{} a", s.decl()), &l, &da, |l| s.ab(l).0, |l| s.ab(l).0);
            check_component(&format!("{} b", s.decl()), &l, &db, |l| s.ab(l).1, |l| s.ab(l).1);
        })*};
    }
    go!(scl::Vp, scl::Lerp, st_vp, st_lerp);
}

#[test]
fn targets_match_host() {
    let Some(c) = client() else { return };
    let n = 997;
    let v: Vec<[f32; 6]> = (0..n)
        .map(|i| {
            let z = |k: u64| noise::normal(5, Purpose::Epsilon, k as u32, 0, i as u64);
            let l = -8.0 + 16.0 * (i as f32 / n as f32);
            let (a, b) = scl::Vp.ab(l);
            let (x0, e) = (z(0), z(1));
            [x0, e, a, b, a * x0 + b * e, z(2)]
        })
        .collect();
    let col = |k: usize| v.iter().map(|r| r[k]).collect::<Vec<_>>();
    let cols: Vec<Vec<f32>> = (0..6).map(col).collect();
    let ins = [
        &cols[0][..],
        &cols[1][..],
        &cols[2][..],
        &cols[3][..],
        &cols[4][..],
        &cols[5][..],
    ];
    macro_rules! go {
        ($($t:ty),*) => {$({
            let t = <$t>::default();
            let [dt, dx0, de] = eval::eval_target::<f32, $t>(&c, ins).unwrap();
            let idx: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let r = |i: f32| v[i as usize];
            let r64 = |i: f64| v[i as usize].map(|x| x as f64);
            check_component(&format!("{} target", t.decl()), &idx, &dt, |i| { let q = r(i); t.target(q[0], q[1], q[2], q[3]) }, |i| { let q = r64(i); t.target(q[0], q[1], q[2], q[3]) });
            check_component(&format!("{} x0", t.decl()), &idx, &dx0, |i| { let q = r(i); t.x0(q[4], q[5], q[2], q[3]) }, |i| { let q = r64(i); t.x0(q[4], q[5], q[2], q[3]) });
            check_component(&format!("{} eps", t.decl()), &idx, &de, |i| { let q = r(i); t.eps(q[4], q[5], q[2], q[3]) }, |i| { let q = r64(i); t.eps(q[4], q[5], q[2], q[3]) });
        })*};
    }
    go!(
        tg::Epsilon,
        tg::X0,
        tg::V,
        tg::NegV,
        tg::RectifiedFlows,
        tg::NegRectifiedFlows,
        tg::Consistency<gdf::konst::Dec<typenum::P4, typenum::N3>>
    );
}

#[test]
fn noise_conds_match_host() {
    let Some(c) = client() else { return };
    use gdf::konst::Dec;
    use typenum::{N1, P1, P2, P5, U50};
    let l = l_grid();
    let table = sch::Table::new(vec![0.0, 0.3, 0.7, 1.0], vec![0.999, 0.8, 0.1, 0.001]).unwrap();
    macro_rules! go {
        ($($n:expr),* $(,)?) => {$({
            let n = $n;
            let dev = eval::eval_noise_cond(&c, &n, &l).unwrap();
            check_component(&n.decl(), &l, &dev, |l| n.noise_cond(l), |l| n.noise_cond(l));
        })*};
    }
    go!(
        <ncd::CosineT>::new(),
        ncd::Edm,
        ncd::Sigmoid,
        ncd::LogSnr,
        ncd::RectifiedFlows,
        ncd::EdmSigma::<Dec<P5, N1>>::new(),
        ncd::FlowSigma::<Dec<P1, typenum::P3>>::new(),
        ncd::LogSigma::<Dec<typenum::P250, typenum::Z0>>::new(),
        ncd::FlowAlpha::<Dec<P1, typenum::P3>>::new(),
        ncd::TableTimestep::new(vec![-3.5, -1.0, 0.2, 0.3, 2.7], false).unwrap(),
        ncd::PiecewiseLinear::new(table),
        <ncd::StableDiffusion>::new(),
        ncd::Discrete::<_, U50>::new(<ncd::CosineT>::new()),
        ncd::Shifted::<_, Dec<P2, typenum::Z0>>::new(ncd::Edm),
        ncd::Clamped::<_, Dec<typenum::N1, typenum::Z0>, Dec<P1, typenum::Z0>>::new(ncd::Edm),
    );
}

#[test]
fn loss_weights_match_host() {
    let Some(c) = client() else { return };
    use gdf::konst::Dec;
    use typenum::{N1, P2, P3, P5};
    let l = l_grid();
    let mut adaptive = <lw::Adaptive>::new();
    adaptive
        .update(&[-3.0, 0.5, 7.0, -9.9], &[0.2, 4.0, 0.01, 2.0], 0.9)
        .unwrap();
    macro_rules! go {
        ($($w:expr),* $(,)?) => {$({
            let w = $w;
            for shift in [1.0f64, 2.0] {
                let dev = eval::eval_loss_weight(&c, &w, &l, shift as f32).unwrap();
                check_component(&format!("{} shift {shift}", w.decl()), &l, &dev, |l| w.loss_weight(l, shift as f32), |l| w.loss_weight(l, shift));
            }
        })*};
    }
    go!(
        lw::Constant::<Dec<P3, N1>>::new(),
        lw::Snr,
        <lw::P2>::new(),
        lw::P2::<Dec<P2, N1>, Dec<P5, N1>, Dec<P2, typenum::Z0>>::new(),
        lw::SnrPlusOne,
        <lw::MinSnr>::new(),
        <lw::MinSnrPlusOne>::new(),
        <lw::TruncatedSnr>::new(),
        <lw::Sech>::new(),
        lw::Debiased,
        <lw::Sigmoid>::new(),
        lw::Composed {
            mul: (<lw::MinSnr>::new(),),
            div: (lw::SnrPlusOne,)
        },
        lw::Composed {
            mul: (lw::Snr, <lw::Sech>::new()),
            div: ()
        },
        lw::Clamped::<_, Dec<typenum::Z0, typenum::Z0>, Dec<P5, typenum::Z0>>::new(lw::Snr),
        adaptive.clone(),
        // The modern weights, on every target they convert to.
        <lw::EdmWeight>::new(),
        lw::EdmWeight::<gdf::target::Epsilon>::new(),
        lw::EdmWeight::<gdf::target::V, Dec<P5, N1>>::new(),
        lw::SoftMinSnr::<gdf::target::RectifiedFlows>::new(),
        <lw::SoftMinSnr>::new(),
        <lw::MinSnrGamma>::new(),
        lw::MinSnrGamma::<gdf::target::V>::new(),
        lw::MinSnrGamma::<gdf::target::X0>::new(),
        lw::SigmaSqrt,
        lw::CosMapWeight,
    );
    // A stateful weight inside Composed has no device form.
    let e = eval::eval_loss_weight(
        &c,
        &lw::Composed {
            mul: (adaptive,),
            div: (),
        },
        &l,
        1.0,
    )
    .unwrap_err();
    assert!(
        matches!(e, gdf::kernel::KernelError::HostOnly { .. }),
        "{e}"
    );
}

#[test]
fn samplers_match_host() {
    let Some(c) = client() else { return };
    use gdf::konst::Dec;
    use typenum::{N1, P5};
    let grid: Vec<(f32, f32)> = (0..40)
        .flat_map(|i| {
            (0..5).map(move |k| {
                (
                    -10.0 + i as f32 * 0.5,
                    -10.0 + i as f32 * 0.5 + 0.5 + k as f32,
                )
            })
        })
        .collect();
    for (name, scale) in [("Vp", 0), ("Lerp", 1)] {
        let ab = |l: f32| {
            if scale == 0 {
                scl::Vp.ab(l)
            } else {
                scl::Lerp.ab(l)
            }
        };
        let rows: Vec<[f32; 4]> = grid
            .iter()
            .map(|&(l, lp)| {
                let (a, b) = ab(l);
                let (ap, bp) = ab(lp);
                [a, b, ap, bp]
            })
            .collect();
        let cols: Vec<Vec<f32>> = (0..4)
            .map(|k| rows.iter().map(|r| r[k]).collect())
            .collect();
        let ins = [&cols[0][..], &cols[1][..], &cols[2][..], &cols[3][..]];
        let idx: Vec<f32> = (0..rows.len()).map(|i| i as f32).collect();
        macro_rules! go {
            ($($s:ty),*) => {$({
                let s = <$s>::default();
                let dev = eval::eval_sampler::<f32, $s>(&c, ins).unwrap();
                for k in 0..3 {
                    check_component(
                        &format!("{} on {name} c[{k}]", s.decl()),
                        &idx,
                        &dev[k],
                        |i| { let r = rows[i as usize]; s.coefficients(r[0], r[1], r[2], r[3])[k] },
                        |i| { let r = rows[i as usize].map(|x| x as f64); s.coefficients(r[0], r[1], r[2], r[3])[k] },
                    );
                }
            })*};
        }
        go!(
            gdf::sampler::Ddim,
            gdf::sampler::Ddim<Dec<P5, N1>>,
            gdf::sampler::Ddpm,
            gdf::sampler::Lcm
        );
    }
}

// ---------------------------------------------------------------------------------------
// In-kernel noise inside diffuse, and launch counts.

#[test]
fn guided_step_launch_counts() {
    let Some(c) = client() else { return };
    let g: Sc = Gdf::default();
    let (b, per) = (4usize, 3000usize);
    let n = b * per;
    let out: Vec<f32> = (0..2 * n)
        .map(|i| noise::normal(1, Purpose::Init, 0, 0, i as u64))
        .collect();
    let x: Vec<f32> = (0..n)
        .map(|i| noise::normal(2, Purpose::Init, 0, 0, i as u64))
        .collect();
    for (guidance, rho, rescale, want) in [
        (Some(3.0), 0.7, Rescale::Batch, 2),
        (Some(3.0), 0.7, Rescale::PerSample, 2),
        (Some(3.0), 0.0, Rescale::Batch, 1),
        (None, 0.7, Rescale::Batch, 1),
    ] {
        let io = ks::StepIo {
            model_out: up(&c, &out),
            x: up(&c, &x),
            noise: None,
            x0: Some(c.empty(4 * n)),
            pred: Some(c.empty(4 * n)),
            xx: Some(c.empty(8 * n)),
            partials: Some(c.empty(4 * ks::partials_len(b, per, rescale))),
        };
        let set = ks::StepSettings {
            batch: b,
            per,
            step: 3,
            logsnr: -1.0,
            logsnr_prev: 0.5,
            guidance,
            rho,
            rescale,
            seed: 9,
            first_sample: 0,
        };
        let before = Launches::count();
        let got =
            ks::step::<f32, _, _, _, _, _, _, _>(&c, &g, &<gdf::sampler::Ddim>::new(), &io, &set)
                .unwrap();
        assert_eq!(
            (got as u64, Launches::count() - before),
            (want, want),
            "{guidance:?} rho {rho} {rescale:?}"
        );
        // The rescaled prediction against a direct f64 computation.
        let pred = down(&c, io.pred.as_ref().unwrap());
        let std = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
        };
        for s in 0..b {
            let range = match rescale {
                Rescale::Batch => 0..n,
                Rescale::PerSample => s * per..(s + 1) * per,
            };
            let pc: Vec<f64> = range.clone().map(|i| out[i] as f64).collect();
            let pcfg: Vec<f64> = range
                .clone()
                .map(|i| match guidance {
                    Some(g) => out[n + i] as f64 + g * (out[i] as f64 - out[n + i] as f64),
                    None => out[i] as f64,
                })
                .collect();
            let k = if guidance.is_some() && rho > 0.0 {
                rho * std(&pc) / (std(&pcfg) + 1e-9) + 1.0 - rho
            } else {
                1.0
            };
            for i in s * per..(s + 1) * per {
                let j = i - range.start;
                let want = pcfg[j] * k;
                assert!(
                    (pred[i] as f64 - want).abs() <= 1e-5 * want.abs() + 1e-5,
                    "pred[{i}] {} vs {want}",
                    pred[i]
                );
            }
        }
    }
}

#[test]
fn guided_ddpm_step_with_in_kernel_noise_matches_the_host_step() {
    // The sampler's fresh noise is drawn in the kernel (Purpose::Sampler, step index, sample):
    // the device step must give the host driver's step for the same seed.
    let Some(c) = client() else { return };
    // Into `x` alone (no `[x; x]` output), at the default width.
    for rescale in [Rescale::Batch, Rescale::PerSample] {
        check_step_at_width(&c, 3, 1000, rescale, 0.7, 4, false);
    }
    for r in UNITS {
        with_units(r, || {
            check_step_at_width(&c, 3, 1000, Rescale::Batch, 0.0, 4, false)
        });
    }
}

// ---------------------------------------------------------------------------------------
// The modern solvers on the device: every golden case of solvers.json through
// `kernel::solver::DeviceRun`, against the host `solver::Run` in f32, one launch per pass.

#[test]
fn golden_solver_cases_on_the_device_match_the_host() {
    use gdf::kernel::solver::{DeviceNoise, DeviceRun};
    use gdf::kernel::Launches;
    use gdf::scaler::{Lerp, Vp};
    use gdf::solver::{Grid, Run};
    let Some(c) = client() else { return };
    let mut cases = 0;
    for case in common::load("solvers.json") {
        let input = &case["input"];
        let logsnr = common::flat(&input["logsnr"]).unwrap();
        let (shape, x_init) = common::arr(&input["x_init"]).unwrap();
        let x_init: Vec<f32> = x_init.iter().map(|&v| v as f32).collect();
        let (batch, n) = (shape[0], x_init.len());
        let per = n / batch;
        let model = common::solvers::Mixture::from(&input["model"]).unwrap();
        let lerp = case["scaler"].as_str() == Some("lerp");
        let grid = if lerp {
            Grid::new(&Lerp, &logsnr)
        } else {
            Grid::new(&Vp, &logsnr)
        }
        .unwrap();
        let steps = grid.steps();
        let id = case["id"].as_str().unwrap_or("?").to_string();
        let noise: Vec<f32> = input
            .get("noise")
            .map(|v| common::flat(v).unwrap())
            .unwrap_or_default()
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let draws = noise.len() / n;
        let d_of = |x: &[f32], lv: gdf::solver::Level| -> Vec<f32> {
            let scale = if lerp {
                1.0 / (lv.a * lv.a + lv.b * lv.b).sqrt()
            } else {
                1.0
            };
            x.iter()
                .map(|&x| model.d(x as f64 * scale, lv.lam) as f32)
                .collect()
        };
        // Host, f32.
        let (solver, _) = common::solvers::build(&case, steps).unwrap();
        let rec = gdf::solver::RecordedNoise::new(&noise, n, per);
        let host = Run::new(solver, grid.clone(), x_init.clone(), batch, rec)
            .unwrap()
            .run(|x, lv, d| {
                d.copy_from_slice(&d_of(x, lv));
                Ok(())
            })
            .unwrap();
        // Device, f32, the model evaluated on the host from the read-back input.
        let (solver, _) = common::solvers::build(&case, steps).unwrap();
        let noise_dev = if draws > 0 {
            DeviceNoise::Recorded(up(&c, &noise), draws)
        } else {
            DeviceNoise::None
        };
        let mut run =
            DeviceRun::<f32, _>::new(&c, solver, grid, &up(&c, &x_init), batch, per, noise_dev)
                .unwrap();
        let total = run.total_evals();
        let mut evals = 0;
        loop {
            let before = Launches::count();
            let Some(req) = run.next_eval().unwrap() else {
                break;
            };
            let pre = Launches::count() - before;
            assert!(pre <= 1, "{id}: {pre} launches before evaluation {evals}");
            let d = d_of(&down(&c, &req.x), req.level);
            let dh = up(&c, &d);
            let before = Launches::count();
            run.feed_x0(&dh).unwrap();
            assert_eq!(
                Launches::count() - before,
                1,
                "{id}: one launch per model evaluation"
            );
            evals += 1;
        }
        assert_eq!(evals, total, "{id}");
        let dev = down(&c, run.x());
        for (i, (&d, &h)) in dev.iter().zip(&host).enumerate() {
            assert!(
                (d - h).abs() as f64 <= 1e-4 + 1e-3 * h.abs() as f64,
                "{id}: x[{i}] device {d}, host {h}"
            );
        }
        cases += 1;
    }
    assert!(cases > 0);
}

/// The exact denoiser of a Gaussian (μ = 0.5, s = 0.5) on VP inputs at level `lv`.
fn gaussian_x0(x: &[f32], lv: gdf::solver::Level) -> Vec<f32> {
    let (a, b, s2, mu) = (lv.a, lv.b, 0.25, 0.5);
    x.iter()
        .map(|&x| ((s2 * a * x as f64 + b * b * mu) / (s2 * a * a + b * b)) as f32)
        .collect()
}

/// Solver `name` over `lams` from `x_init` with [`gaussian_x0`] and counter noise of seed 11:
/// the host's final samples and the device's.
fn counter_noise_runs(
    c: &Client,
    name: &str,
    lams: &[f64],
    x_init: &[f32],
    batch: usize,
) -> (Vec<f32>, Vec<f32>) {
    use gdf::kernel::solver::{DeviceNoise, DeviceRun};
    use gdf::scaler::Vp;
    use gdf::solver::{CounterNoise, Grid, Run};
    let grid = Grid::new(&Vp, lams).unwrap();
    let host = Run::new(
        solver_named(name),
        grid.clone(),
        x_init.to_vec(),
        batch,
        CounterNoise::new(11),
    )
    .unwrap()
    .run(|x, lv, d| {
        d.copy_from_slice(&gaussian_x0(x, lv));
        Ok(())
    })
    .unwrap();
    let mut run = DeviceRun::<f32, _>::new(
        c,
        solver_named(name),
        grid,
        &up(c, x_init),
        batch,
        x_init.len() / batch,
        DeviceNoise::Counter(11),
    )
    .unwrap();
    while let Some(req) = run.next_eval().unwrap() {
        let d = gaussian_x0(&down(c, &req.x), req.level);
        run.feed_x0(&up(c, &d)).unwrap();
    }
    (host, down(c, run.x()))
}

/// A solver by gdf's name, or ComfyUI's SA-Solver names on Stable Diffusion's sampling.
fn solver_named(name: &str) -> gdf::solver::AnySolver {
    if name.starts_with("sa_solver") {
        let sd = gdf::interop::comfy::ModelSampling::default();
        return gdf::interop::comfy::sampler(name, &sd).unwrap();
    }
    gdf::solver::AnySolver::from_name(name).unwrap()
}

/// Counter noise on the device is the host's: a stochastic solver from the same seed ends at
/// the same samples (f32 rounding apart); ComfyUI's gradient estimation and iPNDM (their
/// history holds the derivatives), SEEDS-3 (three stages, the noise carried through Aux) and
/// SA-Solver (PECE's in-place correction and replaced prediction) too.
#[test]
fn counter_noise_solvers_on_the_device_match_the_host() {
    let Some(c) = client() else { return };
    let (batch, per) = (3usize, 100usize);
    let x_init: Vec<f32> = (0..batch * per).map(|i| (i as f32 * 0.37).sin()).collect();
    let lams = [-5.0, -2.0, 0.5, 3.0, f64::INFINITY];
    for name in [
        "euler_ancestral",
        "dpmpp_2m_sde",
        "dpmpp_3m_sde",
        "dpmpp_sde",
        "dpmpp_2s_ancestral",
        "er_sde",
        "gradient_estimation",
        "ipndm_v",
        "seeds_3",
        "res_multistep_ancestral",
        "heunpp2",
        "deis_tab",
        "sa_solver",
        "sa_solver_pece",
        "uni_pc_bh2",
    ] {
        let (host, dev) = counter_noise_runs(&c, name, &lams, &x_init, batch);
        assert_x_matches_host(name, &dev, &host);
    }
}

/// Every guider inside device solver runs, against the host `Run::feed_guided` with the same
/// guider, for two solvers: linear guiders (CFG, autoguidance, an interval) fold into the one
/// update launch; non-linear ones (CFG rescale, APG with momentum, CFG-Zero*, tangential CFG)
/// add one reduction launch.
#[test]
fn guiders_in_device_solver_runs_match_the_host() {
    use gdf::guidance::{
        Apg, CfgZeroStar, ClassifierFree, DynGuidance, Gate, Guidance, Interval, Layout, Tangential,
    };
    use gdf::kernel::solver::{DeviceNoise, DeviceRun};
    use gdf::kernel::Launches;
    use gdf::scaler::Vp;
    use gdf::solver::{AnySolver, Grid, NoNoise, Run};
    use gdf::target::Epsilon;
    let Some(c) = client() else { return };
    let (batch, per) = (2usize, 64usize);
    let n = batch * per;
    let lams = [-4.0, -1.5, 0.5, 2.5, 4.0];
    let x_init: Vec<f32> = (0..n).map(|i| (i as f32 * 0.61).cos()).collect();
    // ε-predictions of two Gaussian "classes" (μ = ±0.5, s = 0.5) at the input's level.
    let eps_of = |x: &[f32], lv: gdf::solver::Level, mu: f64| -> Vec<f32> {
        let (a, b, s2) = (lv.a, lv.b, 0.25);
        x.iter()
            .enumerate()
            .map(|(i, &x)| {
                let mu = mu * (1.0 + 0.3 * (i as f64 * 0.7).sin());
                let d = (s2 * a * x as f64 + b * b * mu) / (s2 * a * a + b * b);
                ((x as f64 - a * d) / b) as f32
            })
            .collect()
    };
    let mut interval = ClassifierFree::new(3.0).unwrap();
    interval.gate = Gate {
        interval: Some(Interval::new(-2.0, 1.0).unwrap()),
        ..Gate::default()
    };
    let mut rescaled = ClassifierFree::new(4.0).unwrap();
    rescaled.rescale = 0.7;
    let mut apg = Apg::new(5.0).unwrap();
    apg.eta = 0.3;
    apg.norm_threshold = 2.0;
    apg.momentum = Some(-0.5);
    let guiders: Vec<DynGuidance> = vec![
        DynGuidance::Cfg(ClassifierFree::new(4.0).unwrap()),
        DynGuidance::Cfg(ClassifierFree::autoguidance(2.0).unwrap()),
        DynGuidance::Cfg(interval),
        DynGuidance::Cfg(rescaled),
        DynGuidance::Apg(apg),
        DynGuidance::ZeroStar(CfgZeroStar::new(3.0).unwrap()),
        DynGuidance::Tangential(Tangential::new(3.0).unwrap()),
    ];
    for name in ["dpmpp_2m", "heun"] {
        for g in &guiders {
            let grid = Grid::new(&Vp, &lams).unwrap();
            let layout = Layout::new(batch, &[per]).unwrap();
            let mut host = Run::new(
                AnySolver::from_name(name).unwrap(),
                grid.clone(),
                x_init.clone(),
                batch,
                NoNoise,
            )
            .unwrap();
            let mut hg = g.clone();
            while let Some(req) = host.next_eval().unwrap() {
                let (cc, uu) = (
                    eps_of(req.x, req.level, 0.5),
                    eps_of(req.x, req.level, -0.5),
                );
                let ctx = host.guidance_ctx().unwrap();
                let u = hg.needs_uncond(&ctx).unwrap().then_some(&uu[..]);
                host.feed_guided(&mut hg, &layout, &Epsilon, &cc, u)
                    .unwrap();
            }
            let mut dev = DeviceRun::<f32, _>::new(
                &c,
                AnySolver::from_name(name).unwrap(),
                grid,
                &up(&c, &x_init),
                batch,
                per,
                DeviceNoise::None,
            )
            .unwrap();
            let mut reductions = 0;
            while let Some(req) = dev.next_eval().unwrap() {
                let x = down(&c, &req.x);
                let (cc, uu) = (eps_of(&x, req.level, 0.5), eps_of(&x, req.level, -0.5));
                let ctx = dev.guidance_ctx().unwrap();
                let uh = up(&c, &uu);
                let u = g.needs_uncond(&ctx).unwrap().then_some(&uh);
                let linear = g.linear(&ctx).unwrap().is_some();
                let before = Launches::count();
                dev.feed_guided::<_, Epsilon>(g, &layout, &up(&c, &cc), u)
                    .unwrap();
                let launches = Launches::count() - before;
                assert!(
                    launches == 1 || (!linear && launches == 2),
                    "{name} / {}: {launches} launches (linear: {linear})",
                    g.name()
                );
                reductions += launches - 1;
            }
            // The non-linear guiders did take their reduction path.
            let nonlinear = match g {
                DynGuidance::Cfg(cfg) => cfg.rescale > 0.0,
                _ => true,
            };
            assert_eq!(reductions > 0, nonlinear, "{name} / {}", g.name());
            let (h, d) = (host.x().to_vec(), down(&c, dev.x()));
            for (i, (&d, &h)) in d.iter().zip(&h).enumerate() {
                assert!(
                    (d - h).abs() <= 2e-4 + 2e-4 * h.abs(),
                    "{name} / {}: x[{i}] device {d}, host {h}",
                    g.name()
                );
            }
        }
    }
}

/// CFG++ in device runs of both first-order solvers (Euler on VP, flow Euler on LERP; one
/// launch per evaluation) against the host runs.
#[test]
fn cfgpp_in_device_first_order_runs_matches_the_host() {
    use gdf::guidance::{CfgPp, Guidance, Layout};
    use gdf::kernel::solver::{DeviceNoise, DeviceRun};
    use gdf::kernel::Launches;
    use gdf::scaler::{Lerp, Vp};
    use gdf::solver::{AnySolver, Grid, NoNoise, Run};
    use gdf::target::Epsilon;
    let Some(c) = client() else { return };
    let (batch, per) = (2usize, 50usize);
    let n = batch * per;
    let lams = [-4.0, -1.5, 0.5, 2.5, 4.0, f64::INFINITY];
    let x_init: Vec<f32> = (0..n).map(|i| (i as f32 * 1.3).sin()).collect();
    let eps_of = |x: &[f32], lv: gdf::solver::Level, mu: f64| -> Vec<f32> {
        let (a, b, s2) = (lv.a, lv.b, 0.3);
        x.iter()
            .map(|&x| {
                let d = (s2 * a * x as f64 + b * b * mu) / (s2 * a * a + b * b);
                ((x as f64 - a * d) / b) as f32
            })
            .collect()
    };
    let layout = Layout::new(batch, &[per]).unwrap();
    for (solver, lerp) in [("euler", false), ("FlowMatchEulerDiscreteScheduler", true)] {
        let grid = if lerp {
            Grid::new(&Lerp, &lams)
        } else {
            Grid::new(&Vp, &lams)
        }
        .unwrap();
        let mut g = CfgPp::new(0.6).unwrap();
        let mut host = Run::new(
            AnySolver::from_name(solver).unwrap(),
            grid.clone(),
            x_init.clone(),
            batch,
            NoNoise,
        )
        .unwrap();
        while let Some(req) = host.next_eval().unwrap() {
            let (cc, uu) = (
                eps_of(req.x, req.level, 0.7),
                eps_of(req.x, req.level, -0.4),
            );
            host.feed_guided(&mut g, &layout, &Epsilon, &cc, Some(&uu))
                .unwrap();
        }
        let mut dev = DeviceRun::<f32, _>::new(
            &c,
            AnySolver::from_name(solver).unwrap(),
            grid,
            &up(&c, &x_init),
            batch,
            per,
            DeviceNoise::None,
        )
        .unwrap();
        while let Some(req) = dev.next_eval().unwrap() {
            let x = down(&c, &req.x);
            let (cc, uu) = (eps_of(&x, req.level, 0.7), eps_of(&x, req.level, -0.4));
            assert!(g
                .renoises_with_uncond(&dev.guidance_ctx().unwrap())
                .unwrap());
            let before = Launches::count();
            dev.feed_guided::<_, Epsilon>(&g, &layout, &up(&c, &cc), Some(&up(&c, &uu)))
                .unwrap();
            assert_eq!(Launches::count() - before, 1);
        }
        let (h, d) = (host.x().to_vec(), down(&c, dev.x()));
        assert_x_matches_host(solver, &d, &h);
    }
}

// ---------------------------------------------------------------------------------------
// Trainer ergonomics: the device diffuse drawing λ itself, and device models that own their
// output or fail.

/// With no `t`, the device diffuse draws each sample's λ as the host diffuse does (same seed
/// and `first_sample`), for a uniform-t schedule and a training-only one.
#[test]
fn device_diffuse_draws_logsnr_like_the_host() {
    let Some(c) = client() else { return };
    let (b, per) = (5usize, 40usize);
    let n = b * per;
    let x0: Vec<f32> = (0..n)
        .map(|i| ((i * 13 % 29) as f32 / 14.0) - 1.0)
        .collect();
    fn check<S, Scl, T, N, L>(c: &Client, g: &Gdf<S, Scl, T, N, L, f64>, x0: &[f32], b: usize)
    where
        S: Schedule + CubeSchedule + DeviceState,
        Scl: Scaler + CubeScaler + DeviceState,
        T: Target + CubeTarget,
        N: NoiseCond + CubeNoiseCond + DeviceState,
        L: LossWeight + CubeLossWeight + DeviceState,
    {
        let n = x0.len();
        let per = n / b;
        let (seed, first) = (0x5EED_u64, 11u32);
        let args = DiffuseArgs {
            seed,
            first_sample: first,
            ..Default::default()
        };
        let h = g.diffuse(x0, b, &args).unwrap();
        let io = DiffuseIo {
            x0: up(c, x0),
            eps: None,
            tl: None,
            tl_is_logsnr: false,
            offset: None,
            noised: c.empty(4 * n),
            eps_out: None,
            target: None,
            per_sample: c.empty(12 * b),
        };
        let set = DiffuseSettings {
            batch: b,
            per,
            seed,
            first_sample: first,
            ..Default::default()
        };
        let before = Launches::count();
        kf::diffuse::<f32, _, _, _, _, _, _>(c, g, &io, &set).unwrap();
        assert_eq!(Launches::count() - before, 1, "still one launch");
        let ps = down(c, &io.per_sample);
        let name = g.schedule.name();
        assert_close(
            &format!("{name}: drawn logSNR"),
            &ps[..b],
            &f64s(&h.logsnr),
            1e-5,
            1e-5,
        );
        assert_close(
            &format!("{name}: noise cond"),
            &ps[b..2 * b],
            &f64s(&h.noise_cond),
            1e-4,
            1e-5,
        );
        assert_close(
            &format!("{name}: loss weight"),
            &ps[2 * b..],
            &f64s(&h.loss_weight),
            1e-4,
            1e-5,
        );
        assert_close(
            &format!("{name}: noised"),
            &down(c, &io.noised),
            &f64s(&h.noised),
            1e-4,
            1e-5,
        );
        // The λ differ between samples (they were drawn, not one value broadcast).
        assert!(h.logsnr.windows(2).all(|w| w[0] != w[1]));
    }
    let (sc, edm, _, _) = configs();
    check(&c, &sc, &x0, b);
    check(&c, &edm, &x0, b);
    // Training-only: EDM's log-normal σ draw (no `t` exists).
    let train: Gdf<sch::EdmTrain, scl::Vp, tg::V, ncd::Edm, lw::P2, f64> = Gdf::default();
    check(&c, &train, &x0, b);
}

/// A device model as a trait object (for one helper running several closures).
type TestDeviceModel<'a> = dyn FnMut(
        &Client,
        &Handle,
        &Handle,
        usize,
        bool,
        &Handle,
    ) -> Result<ks::DeviceOutput, std::io::Error>
    + 'a;

/// A device model may hand back its own output buffer (read in place by the step) instead of
/// writing into gdf's; the two give the same samples bit for bit. A failing model stops the
/// run with `GdfError::Model`, and a too-short own buffer is a typed error.
#[test]
fn device_models_may_own_their_output_or_fail() {
    let Some(c) = client() else { return };
    let g: Sc = Gdf::default();
    let (b, per) = (3usize, 64usize);
    let n = b * per;
    let inputs = up(&c, &vec![0.25f32; 2 * n]);
    let own = c.empty(4 * 2 * n);
    // Six guided DDPM steps with `model`; the final x, or the run's error.
    let sample = |model: &mut TestDeviceModel<'_>| {
        let opts = DeviceSampleOpts {
            timesteps: 6,
            cfg: Cfg::Scale(2.0),
            seed: 3,
            ..Default::default()
        };
        DeviceSampling::<f32, _, _, _, _>::new(&c, &g, gdf::sampler::Ddpm, model, b, per, opts)
            .unwrap()
            .run()
            .map(|x| down(&c, &x))
    };
    let x_written = sample(&mut |cl, x, nc, mb, _g, o| {
        toy_device(cl, x, nc, &inputs, o, mb, per);
        Ok(ks::DeviceOutput::Written)
    })
    .unwrap();
    let x_owned = sample(&mut |cl, x, nc, mb, _g, _o| {
        toy_device(cl, x, nc, &inputs, &own, mb, per);
        Ok(ks::DeviceOutput::Own(own.clone()))
    })
    .unwrap();
    assert_eq!(x_written, x_owned);
    assert!(x_owned.iter().all(|v| v.is_finite()));

    let mut calls = 0;
    let err = sample(&mut |cl, x, nc, mb, _g, o| {
        calls += 1;
        if calls == 3 {
            return Err(std::io::Error::other("CUDA_ERROR_OUT_OF_MEMORY"));
        }
        toy_device(cl, x, nc, &inputs, o, mb, per);
        Ok(ks::DeviceOutput::Written)
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the model failed at step 2: CUDA_ERROR_OUT_OF_MEMORY"
    );

    let short = c.empty(4 * n); // guided steps need 2n values
    let err = sample(&mut |_, _, _, _, _, _| Ok(ks::DeviceOutput::Own(short.clone()))).unwrap_err();
    assert!(err.to_string().contains("own output"), "{err}");
}

/// Recorded noise of any length per step: a device view must start on the binding alignment
/// (32 bytes on lavapipe), so `n = 36` or `21` values per step (a golden loop's 2×2×3×3) are
/// relaid once; the samples match the host run with the same noise, guided and rescaled too.
#[test]
fn recorded_noise_of_any_length_per_step_matches_the_host() {
    let Some(c) = client() else { return };
    let g: Sc = Gdf::default();
    let timesteps = 5;
    for (b, per) in [(2usize, 18usize), (3, 7), (1, 6), (1, 8), (1, 5), (2, 64)] {
        let n = b * per;
        let wave = |k: usize, scale: f32| -> Vec<f32> {
            (0..k)
                .map(|i| ((i as f32) * 0.37 + scale).sin() * 1.2)
                .collect()
        };
        let x_init = wave(n, 0.1);
        let cond = wave(n, 0.7);
        let noise = wave(timesteps * n, 2.3);
        for guided in [false, true] {
            let (cfg32, cfg64) = if guided {
                (Cfg::Scale(2.5f32), Cfg::Scale(2.5f64))
            } else {
                (Cfg::Off, Cfg::Off)
            };
            let opts = SampleOpts {
                timesteps,
                x_init: Some(&x_init),
                noise: Some(&noise),
                cfg: cfg32,
                cfg_rho: 0.7,
                ..Default::default()
            };
            let toy_host = |x: &[f32], nc: &[f32], inp: &[f32], pred: &mut [f32]| {
                for i in 0..x.len() {
                    pred[i] = (0.5 * x[i] + nc[i / per]).tanh() + 0.1 * inp[i];
                }
            };
            let mut host = g
                .sample(toy_host, gdf::sampler::Ddpm, &cond, None, b, per, opts)
                .unwrap();
            let mut inputs = cond.clone();
            inputs.extend(vec![0.0; n]);
            let inputs_h = up(&c, &inputs);
            let model = |cl: &Client, x: &Handle, nc: &Handle, mb: usize, _g: bool, o: &Handle| {
                toy_device(cl, x, nc, &inputs_h, o, mb, per)
            };
            let dopts = DeviceSampleOpts {
                timesteps,
                x_init: Some(up(&c, &x_init)),
                noise: Some(up(&c, &noise)),
                cfg: cfg64,
                cfg_rho: 0.7,
                rescale: Rescale::Batch,
                ..Default::default()
            };
            let mut dev = DeviceSampling::<f32, _, _, _, _>::new(
                &c,
                &g,
                gdf::sampler::Ddpm,
                model,
                b,
                per,
                dopts,
            )
            .unwrap();
            let mut k = 0;
            while let Some(hs) = host.next_step().unwrap() {
                dev.next_step().unwrap().unwrap();
                let tag = format!("b {b}, per {per}, guided {guided}, step {k}");
                // The rescale's f32 std over as few as 5 values of up to ~70 (summed in another
                // order on the device) moves every value by up to ~2e-5 of the largest.
                let want = f64s(hs.x);
                let big = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                assert_close(&tag, &down(&c, dev.x()), &want, 2e-4, 2e-5 * big.max(1.0));
                k += 1;
            }
            assert_eq!(k, timesteps);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Vectorised (16-byte) and scalar loads and stores: the element-wise kernels take vectors of
// four values where `per` is a multiple of 4 and every buffer is aligned, else one value.
// Both paths run here on shapes of each kind (and the scalar one, forced, on shapes the
// vectorised one would take) against the host.

/// `(batch, per)` of the width tests: a multiple of 32, a multiple of 4 (not 32), an even
/// `per` that is not a multiple of 4, an odd one.
const WIDTH_SHAPES: [(usize, usize); 4] = [(3, 1024), (3, 1000), (2, 50), (4, 7)];

/// Runs `f` with this thread's element-wise launches capped at `cap` values per vector.
fn with_width<R>(cap: usize, f: impl FnOnce() -> R) -> R {
    gdf::kernel::cap_vector_width(cap);
    let r = f();
    gdf::kernel::cap_vector_width(4);
    r
}

/// Runs `f` with this thread's launch choices forced to `t` (see `gdf::kernel::Tuning`).
fn with_units<R>(t: Tuning, f: impl FnOnce() -> R) -> R {
    gdf::kernel::set_tuning(t);
    let out = f();
    gdf::kernel::set_tuning(Tuning::default());
    out
}

/// The launch choices the width tests run at: the defaults (one vector per unit on these
/// shapes, inputs loaded after the noise), and three vectors per unit (which divides none of
/// the shapes' vector counts, so units stride unevenly and the last ones fall short; the
/// rescaled step's cubes then follow that count too) with the inputs loaded before the noise,
/// the rescale reduction taking two vectors at once and diffuse and the batch noise drawing
/// two vectors per turn (a pair, then one alone); loaded one vector ahead and the reduction
/// taking four (pairs asked for, which diffuse ignores there); or loaded after the noise, in
/// pairs. The second and the fourth merge the rescale's partials once, in a launch of their
/// own.
const UNITS: [Tuning; 4] = [
    Tuning::DEFAULT,
    Tuning {
        vectors_per_unit: 3,
        loads: Loads::BeforeNoise,
        reduce_vectors: 2,
        draw_pairs: true,
        merge_once: true,
    },
    Tuning {
        vectors_per_unit: 3,
        loads: Loads::OneAhead,
        reduce_vectors: 4,
        draw_pairs: true,
        merge_once: false,
    },
    Tuning {
        vectors_per_unit: 3,
        loads: Loads::AfterNoise,
        reduce_vectors: 1,
        draw_pairs: true,
        merge_once: true,
    },
];

/// The width a launch over `per`-value samples should take under `cap`.
fn want_width(per: usize, cap: usize) -> usize {
    if per % 4 == 0 && cap >= 4 {
        4
    } else {
        1
    }
}

#[test]
fn device_noise_equals_host_noise_at_both_widths() {
    let Some(c) = client() else { return };
    let (seed, first, step) = (0x5EED_0000_0001u64, 3u32, 9u32);
    for ((b, per), r) in WIDTH_SHAPES.into_iter().flat_map(|s| UNITS.map(|r| (s, r))) {
        for cap in [4usize, 1] {
            let want = want_width(per, cap);
            // A whole batch (one launch): sample s is the stream of sample first + s.
            let out = c.empty(4 * b * per);
            with_units(r, || {
                with_width(cap, || {
                    kf::fill_batch_noise::<f32>(&c, &out, b, per, seed, Purpose::Init, first, step)
                        .unwrap()
                })
            });
            assert_eq!(gdf::kernel::last_vector_width(), want, "batch {b}×{per}");
            let dev = down(&c, &out);
            // One stream from element 32·group0 (eval::normals).
            let one = with_width(cap, || {
                eval::normals(&c, per, seed, Purpose::Sampler, 1, step, 5).unwrap()
            });
            assert_eq!(gdf::kernel::last_vector_width(), want, "stream of {per}");
            let mut host = vec![0.0f32; per];
            noise::fill_normal(seed, Purpose::Sampler, 1, step, 160, &mut host);
            let mut pairs: Vec<(f32, f32)> = one.iter().copied().zip(host).collect();
            for s in 0..b {
                let mut host = vec![0.0f32; per];
                noise::fill_normal(seed, Purpose::Init, first + s as u32, step, 0, &mut host);
                pairs.extend(dev[s * per..(s + 1) * per].iter().copied().zip(host));
            }
            for (i, (d, h)) in pairs.into_iter().enumerate() {
                assert!(
                    (d - h).abs() <= 2e-6 * h.abs().max(1.0),
                    "{b}×{per}, width {want}, {r:?}, value {i}: device {d} host {h}"
                );
            }
        }
    }
}

#[test]
fn diffuse_undiffuse_and_step_at_both_widths_match_the_host() {
    let Some(c) = client() else { return };
    type G = Gdf<sch::Cosine, scl::Vp, tg::V, ncd::CosineT, lw::P2, f64>;
    let g: G = G::default().with_offset_noise(0.3);
    let (seed, first) = (0xABCD_0123u64, 2u32);
    for (b, per) in WIDTH_SHAPES {
        let n = b * per;
        let ch = if per % 2 == 0 { 2 } else { 1 };
        let x0: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        let t: Vec<f32> = (0..b).map(|s| (s as f32 + 0.5) / b as f32).collect();
        let args = DiffuseArgs {
            t: Some(&t),
            channels: ch,
            seed,
            first_sample: first,
            ..Default::default()
        };
        let h = g.diffuse(&x0, b, &args).unwrap();
        // ε given instead of drawn (the offsets still drawn), for the loads of ε.
        let z: Vec<f32> = (0..n)
            .map(|i| ((i * 29 % 97) as f32 / 48.0) - 1.0)
            .collect();
        let hz = g
            .diffuse(
                &x0,
                b,
                &DiffuseArgs {
                    eps: Some(&z),
                    ..args
                },
            )
            .unwrap();
        let pred: Vec<f32> = (0..n)
            .map(|i| ((i * 11 % 23) as f32 / 11.0) - 1.0)
            .collect();
        let (mut hx0, mut he) = (vec![0f32; n], vec![0f32; n]);
        g.undiffuse_into(&h.noised, &h.logsnr, &pred, Some(&mut hx0), Some(&mut he))
            .unwrap();
        for (cap, r) in [4usize, 1]
            .into_iter()
            .flat_map(|cap| UNITS.map(|r| (cap, r)))
        {
            let want = want_width(per, cap);
            let what = format!("{b}×{per}, width {want}, {r:?}");
            // diffuse, ε and the offsets drawn in the kernel: one launch.
            let io = DiffuseIo {
                x0: up(&c, &x0),
                eps: None,
                tl: Some(up(&c, &t)),
                tl_is_logsnr: false,
                offset: None,
                noised: c.empty(4 * n),
                eps_out: Some(c.empty(4 * n)),
                target: Some(c.empty(4 * n)),
                per_sample: c.empty(12 * b),
            };
            let set = DiffuseSettings {
                batch: b,
                per,
                channels: ch,
                seed,
                first_sample: first,
                ..Default::default()
            };
            // diffuse at this width and these launch choices.
            let diffuse_at = |io: &DiffuseIo| {
                with_units(r, || {
                    with_width(cap, || {
                        kf::diffuse::<f32, _, _, _, _, _, _>(&c, &g, io, &set)
                    })
                })
                .unwrap()
            };
            let before = Launches::count();
            diffuse_at(&io);
            assert_eq!(Launches::count() - before, 1, "{what}: diffuse launches");
            assert_eq!(gdf::kernel::last_vector_width(), want, "{what}: diffuse");
            let eps = down(&c, io.eps_out.as_ref().unwrap());
            assert_close(&format!("{what} eps"), &eps, &f64s(&h.eps), 1e-5, 2e-6);
            let noised = down(&c, &io.noised);
            assert_close(
                &format!("{what} noised"),
                &noised,
                &f64s(&h.noised),
                1e-5,
                2e-6,
            );
            let target = down(&c, io.target.as_ref().unwrap());
            assert_close(
                &format!("{what} target"),
                &target,
                &f64s(&h.target),
                1e-5,
                2e-6,
            );
            // The per-sample outputs, then λ given directly (how training-only schedules
            // are used): the same noised values.
            let l = down(&c, &io.per_sample)[..b].to_vec();
            let io2 = DiffuseIo {
                tl: Some(up(&c, &l)),
                tl_is_logsnr: true,
                ..io.clone()
            };
            diffuse_at(&io2);
            assert_close(
                &format!("{what} noised from logSNR"),
                &down(&c, &io2.noised),
                &f64s(&h.noised),
                1e-5,
                2e-6,
            );
            let io3 = DiffuseIo {
                eps: Some(up(&c, &z)),
                ..io.clone()
            };
            diffuse_at(&io3);
            assert_close(
                &format!("{what} noised, ε given"),
                &down(&c, &io3.noised),
                &f64s(&hz.noised),
                1e-5,
                2e-6,
            );

            // undiffuse at the host's λ: one launch.
            let (x0h, eh) = (c.empty(4 * n), c.empty(4 * n));
            let before = Launches::count();
            with_width(cap, || {
                kf::undiffuse::<f32, _, _, _, _, _, _>(
                    &c,
                    &g,
                    &up(&c, &h.noised),
                    &up(&c, &h.logsnr),
                    &up(&c, &pred),
                    Some(&x0h),
                    Some(&eh),
                    b,
                    per,
                )
            })
            .unwrap();
            assert_eq!(Launches::count() - before, 1, "{what}: undiffuse launches");
            assert_eq!(gdf::kernel::last_vector_width(), want, "{what}: undiffuse");
            assert_close(
                &format!("{what} x0"),
                &down(&c, &x0h),
                &f64s(&hx0),
                1e-5,
                1e-6,
            );
            assert_close(&format!("{what} ε"), &down(&c, &eh), &f64s(&he), 1e-5, 1e-6);

            // The guided DDPM step with in-kernel noise, with rescale (units stride as the
            // partials' merge decides) and without, against the host step.
            for rescale in [Rescale::Batch, Rescale::PerSample] {
                with_units(r, || {
                    check_step_at_width(&c, b, per, rescale, 0.7, cap, true)
                });
            }
            with_units(r, || {
                check_step_at_width(&c, b, per, Rescale::Batch, 0.0, cap, true)
            });
        }
    }
}

/// One guided DDPM step (rescaled with strength `rho` when it is positive: two launches, else
/// one) on the device at vector width cap `cap` against the host driver's first step; with
/// `mirror`, the doubled output `[x; x]` holds the new `x` twice.
fn check_step_at_width(
    c: &Client,
    b: usize,
    per: usize,
    rescale: Rescale,
    rho: f64,
    cap: usize,
    mirror: bool,
) -> Vec<f32> {
    let g: Sc = Gdf::default();
    let n = b * per;
    let out: Vec<f32> = (0..2 * n)
        .map(|i| noise::normal(1, Purpose::Init, 0, 0, i as u64))
        .collect();
    let x: Vec<f32> = (0..n)
        .map(|i| noise::normal(2, Purpose::Init, 0, 0, i as u64))
        .collect();
    let (seed, first) = (0xC0FFEEu64, 5u32);
    let model =
        |_x: &[f32], _c: &[f32], _i: &[f32], p: &mut [f32]| p.copy_from_slice(&out[..p.len()]);
    let opts = SampleOpts {
        timesteps: 10,
        x_init: Some(&x),
        cfg: Cfg::Scale(3.0),
        cfg_rho: rho as f32,
        rescale,
        seed,
        first_sample: first,
        ..Default::default()
    };
    let mut run = g
        .sample(model, gdf::sampler::Ddpm, &[], None, b, per, opts)
        .unwrap();
    let (l, lp) = (run.logsnr_grid()[0], run.logsnr_grid()[1]);
    let host = run.next_step().unwrap().unwrap().x.to_vec();
    let io = ks::StepIo {
        model_out: up(c, &out),
        x: up(c, &x),
        noise: None,
        x0: Some(c.empty(4 * n)),
        pred: Some(c.empty(4 * n)),
        xx: mirror.then(|| c.empty(8 * n)),
        partials: Some(c.empty(4 * ks::partials_len(b, per, rescale))),
    };
    let set = ks::StepSettings {
        batch: b,
        per,
        step: 0,
        logsnr: l as f64,
        logsnr_prev: lp as f64,
        guidance: Some(3.0),
        rho,
        rescale,
        seed,
        first_sample: first,
    };
    let before = Launches::count();
    let launches = with_width(cap, || {
        ks::step::<f32, _, _, _, _, _, _, _>(c, &g, &gdf::sampler::Ddpm, &io, &set)
    })
    .unwrap();
    let what = format!("{b}×{per} {rescale:?} rho {rho}, cap {cap}");
    let want = if rho > 0.0 { rescaled_launches() } else { 1 };
    assert_eq!(
        (launches, Launches::count() - before),
        (want, want as u64),
        "{what}"
    );
    assert_eq!(
        gdf::kernel::last_vector_width(),
        want_width(per, cap),
        "{what}"
    );
    let dev = down(c, &io.x);
    let mut worst = 0.0f32;
    for (d, h) in dev.iter().zip(&host) {
        worst = worst.max((d - h).abs() / h.abs().max(1.0));
    }
    assert!(
        worst < 1e-4,
        "{what}: device and host steps differ by {worst}"
    );
    if let Some(xx) = &io.xx {
        let xx = down(c, xx);
        assert_eq!(&xx[..n], &dev[..], "{what}: first half of [x; x]");
        assert_eq!(&xx[n..], &dev[..], "{what}: second half of [x; x]");
    }
    dev
}

/// The launches of a rescaled step under this thread's tuning: the reduction, the merge when
/// it has a launch of its own (`Tuning::merge_once`), the fused pass.
fn rescaled_launches() -> u32 {
    2 + gdf::kernel::tuning().merge_once as u32
}

/// The rescaled step on shapes where its cubes stride: with rescale a sample is covered by at
/// most 1024 / batch cubes of 256 units (the runtime reports no multiprocessor count on
/// wgpu), so at 16 samples of 70 000 values some units take two vectors (four values each),
/// and at 69 998 values (one value per vector) each unit takes four or five; under `UNITS`'
/// forced three vectors per unit, three. The reduction's units take about two vectors at
/// 70 000 values and about eight at 69 998, so its two- and four-at-once loops both run.
#[test]
fn rescaled_step_with_striding_units_matches_the_host() {
    let Some(c) = client() else { return };
    for t in UNITS {
        for per in [70_000usize, 69_998] {
            with_units(t, || {
                check_step_at_width(&c, 16, per, Rescale::Batch, 0.7, 4, true)
            });
        }
        with_units(t, || {
            check_step_at_width(&c, 16, 70_000, Rescale::PerSample, 0.7, 1, true)
        });
    }
}

/// The rescale's partials merged once, in a launch of their own (`Tuning::merge_once`),
/// give the step of the merge in every cube bit for bit (the same merge, once), and the
/// host's step; the fused pass then takes the plain step's geometry (at 16 × 70 000 values
/// units take one or two vectors, at 69 998 about five). Per sample, each sample reads its
/// own stds (a sample reading another's would differ from the host).
#[test]
fn rescale_merged_once_gives_the_step_merged_in_every_cube() {
    let Some(c) = client() else { return };
    let once = Tuning {
        merge_once: true,
        ..Tuning::default()
    };
    for (b, per, rescale, cap) in [
        (16, 70_000, Rescale::Batch, 4),
        (16, 69_998, Rescale::Batch, 4),
        (16, 70_000, Rescale::PerSample, 4),
        (5, 1000, Rescale::PerSample, 1),
    ] {
        let each = check_step_at_width(&c, b, per, rescale, 0.7, cap, false);
        let merged = with_units(once, || {
            check_step_at_width(&c, b, per, rescale, 0.7, cap, false)
        });
        let differ = each
            .iter()
            .zip(&merged)
            .filter(|(a, m)| a.to_bits() != m.to_bits())
            .count();
        assert_eq!(differ, 0, "{b}×{per} {rescale:?}: values that differ");
    }
}

#[test]
fn solver_passes_at_both_widths_match_the_host() {
    let Some(c) = client() else { return };
    let lams = [-5.0, -2.0, 0.5, 3.0, f64::INFINITY];
    for (batch, per) in WIDTH_SHAPES {
        let n = batch * per;
        let x_init: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        for name in ["dpmpp_2m_sde", "dpmpp_sde"] {
            for cap in [4usize, 1] {
                let (host, dev) =
                    with_width(cap, || counter_noise_runs(&c, name, &lams, &x_init, batch));
                let want = want_width(per, cap);
                assert_eq!(
                    gdf::kernel::last_vector_width(),
                    want,
                    "{name} {batch}×{per}"
                );
                assert_x_matches_host(&format!("{name} {batch}×{per} width {want}"), &dev, &host);
            }
        }
    }
}

/// A buffer view at an offset (the 32 bytes wgpu's binding alignment allows on lavapipe) is
/// read with vectors from its own start, and gives the host's numbers. (Views whose offset is
/// not a multiple of 16 bytes, which CUDA and HIP could bind, take the scalar path: see the
/// unit test `kernel::tests::unaligned_views_take_one_value`; wgpu refuses to bind them.)
#[test]
fn views_at_an_offset_take_vectors() {
    let Some(c) = client() else { return };
    let g: Sc = Gdf::default();
    let (b, per) = (2usize, 64usize);
    let n = b * per;
    let x0: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 / 6.0) - 1.0).collect();
    let t = vec![0.25f32, 0.75];
    let h = g
        .diffuse(
            &x0,
            b,
            &DiffuseArgs {
                t: Some(&t),
                seed: 4,
                ..Default::default()
            },
        )
        .unwrap();
    // x0 at value 8 of a buffer of n + 8 values.
    let mut padded = vec![9.0f32; 8];
    padded.extend(&x0);
    let whole = up(&c, &padded);
    let view = whole.clone().offset_start(32);
    let io = DiffuseIo {
        x0: view,
        eps: None,
        tl: Some(up(&c, &t)),
        tl_is_logsnr: false,
        offset: None,
        noised: c.empty(4 * n),
        eps_out: None,
        target: None,
        per_sample: c.empty(12 * b),
    };
    let set = DiffuseSettings {
        batch: b,
        per,
        seed: 4,
        ..Default::default()
    };
    kf::diffuse::<f32, _, _, _, _, _, _>(&c, &g, &io, &set).unwrap();
    assert_eq!(gdf::kernel::last_vector_width(), 4);
    assert_close(
        "noised",
        &down(&c, &io.noised),
        &f64s(&h.noised),
        1e-5,
        2e-6,
    );
}

/// The rescale reduction on its own (the kernel bench's `rescale_reduce`): its partial
/// `(count, mean, m2)` summaries, merged on the host in f64, give the mean and the sum of
/// squared deviations of `p_c` and of the guided `p_u + g·(p_c − p_u)` over the whole batch,
/// computed directly; at every loads-per-turn count. Buffers too short are typed errors.
#[test]
fn the_rescale_reduction_alone_sums_the_batch_moments() {
    let Some(c) = client() else { return };
    // 64 cubes of 256 units per sample (1024 partials over 16 samples), about eight vectors
    // each: the two- and four-at-once loops both run, and the plain loop takes the rest.
    let (b, per, g) = (16usize, 524_284usize, 3.0f64);
    let n = b * per;
    let out: Vec<f32> = (0..2 * n)
        .map(|i| noise::normal(4, Purpose::Init, 0, 0, i as u64) + if i < n { 0.5 } else { 0.0 })
        .collect();
    let guided: Vec<f64> = (0..n)
        .map(|i| out[n + i] as f64 + g * (out[i] as f64 - out[n + i] as f64))
        .collect();
    let moments = |v: &[f64]| {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        (mean, v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>())
    };
    let (mc, m2c) = moments(&out[..n].iter().map(|&x| x as f64).collect::<Vec<_>>());
    let (mp, m2p) = moments(&guided);
    let model_out = up(&c, &out);
    let plen = ks::partials_len(b, per, Rescale::Batch);
    for reduce in [1usize, 2, 4] {
        let partials = c.empty(4 * plen);
        let t = Tuning {
            reduce_vectors: reduce,
            ..Tuning::default()
        };
        let w = with_units(t, || {
            ks::rescale_reduce::<f32>(&c, &model_out, &partials, b, per, Rescale::Batch, g)
        })
        .unwrap();
        assert_eq!(w, 4, "per {per} takes 4-wide vectors");
        let p = down(&c, &partials);
        // Chan's merge, in f64, of the partials (the scratch's last 2·b values are for the
        // merged stds of `Tuning::merge_once`).
        let (mut cnt, mut a, mut a2, mut q, mut q2) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
        for s in p[..plen - 2 * b].chunks_exact(5) {
            let (nb, mcb, m2cb, mpb, m2pb) = (
                s[0] as f64,
                s[1] as f64,
                s[2] as f64,
                s[3] as f64,
                s[4] as f64,
            );
            let tot = cnt + nb;
            if tot == 0.0 {
                continue;
            }
            let (dc, dp) = (mcb - a, mpb - q);
            a += dc * nb / tot;
            q += dp * nb / tot;
            a2 += m2cb + dc * dc * cnt * nb / tot;
            q2 += m2pb + dp * dp * cnt * nb / tot;
            cnt = tot;
        }
        assert_eq!(cnt, n as f64, "reduce {reduce}: count");
        for (what, got, want, tol) in [
            ("mean of p_c", a, mc, 1e-5),
            ("m2 of p_c", a2, m2c, 1e-4 * m2c),
            ("mean of the guided prediction", q, mp, 1e-4),
            ("m2 of the guided prediction", q2, m2p, 1e-4 * m2p),
        ] {
            assert!(
                (got - want).abs() <= tol,
                "reduce {reduce}: {what}: device {got} direct {want}"
            );
        }
    }
    let short = c.empty(4 * (plen - 1));
    let err = ks::rescale_reduce::<f32>(&c, &model_out, &short, b, per, Rescale::Batch, g)
        .unwrap_err()
        .to_string();
    assert!(err.contains("partials"), "{err}");
    let err = ks::rescale_reduce::<f32>(&c, &short, &short, b, per, Rescale::Batch, g)
        .unwrap_err()
        .to_string();
    assert!(err.contains("model output"), "{err}");
}

/// Puts a buffer into an entry point's buffers.
type Swap<T> = fn(&mut T, Handle);

/// Every device entry point refuses a buffer shorter than its call needs with a typed error
/// naming the buffer, before launching anything (the kernels are launched unchecked: a short
/// buffer would be read or written past its end); the same call with full buffers runs.
#[test]
fn short_buffers_are_refused_naming_the_buffer() {
    use gdf::kernel::solver::{DeviceNoise, DeviceRun};
    use gdf::solver::{AnySolver, Grid};
    let Some(c) = client() else { return };
    let (b, per) = (3usize, 40usize);
    let n = b * per;
    let full = |values: usize| c.empty(4 * values);
    let short = |values: usize| c.empty(4 * values - 4);
    // `Err` naming `name`, with no launch made.
    let refused = |name: &str, call: &mut dyn FnMut() -> Result<(), gdf::kernel::KernelError>| {
        let before = Launches::count();
        let err = call().expect_err(name).to_string();
        assert!(err.contains(&format!("`{name} (bytes)`")), "{name}: {err}");
        assert_eq!(Launches::count(), before, "{name}: launched");
    };

    // diffuse, with offset noise (so its offsets buffer is read) and a v target (written).
    type V = Gdf<sch::Cosine, scl::Vp, tg::V, ncd::CosineT, lw::P2, f64>;
    let g: V = V::default().with_offset_noise(0.1);
    let set = DiffuseSettings {
        batch: b,
        per,
        channels: 2,
        ..Default::default()
    };
    let io = || DiffuseIo {
        x0: full(n),
        eps: Some(full(n)),
        tl: Some(up(&c, &[0.2f32, 0.5, 0.8])),
        tl_is_logsnr: false,
        offset: Some(full(2 * b)),
        noised: full(n),
        eps_out: Some(full(n)),
        target: Some(full(n)),
        per_sample: full(3 * b),
    };
    let diffuse = |io: &DiffuseIo| kf::diffuse::<f32, _, _, _, _, _, _>(&c, &g, io, &set);
    diffuse(&io()).unwrap();
    // Each buffer, the values the call needs in it, and how to put a short one in its place.
    let cases: [(&str, usize, Swap<DiffuseIo>); 8] = [
        ("x0", n, |io, h| io.x0 = h),
        ("eps", n, |io, h| io.eps = Some(h)),
        ("tl", b, |io, h| io.tl = Some(h)),
        ("offset", 2 * b, |io, h| io.offset = Some(h)),
        ("noised", n, |io, h| io.noised = h),
        ("eps_out", n, |io, h| io.eps_out = Some(h)),
        ("target", n, |io, h| io.target = Some(h)),
        ("per_sample", 3 * b, |io, h| io.per_sample = h),
    ];
    for (name, values, set_short) in cases {
        let mut io = io();
        set_short(&mut io, short(values));
        refused(name, &mut || diffuse(&io));
    }

    // undiffuse: `logsnr` holds one value per sample.
    let l = up(&c, &[0.0f32, 1.0, -1.0]);
    let (x, pred, out) = (full(n), full(n), full(n));
    kf::undiffuse::<f32, _, _, _, _, _, _>(&c, &g, &x, &l, &pred, Some(&out), None, b, per)
        .unwrap();
    let s = short(b);
    refused("logsnr", &mut || {
        kf::undiffuse::<f32, _, _, _, _, _, _>(&c, &g, &x, &s, &pred, Some(&out), None, b, per)
    });
    let s = short(n);
    refused("x0_out", &mut || {
        kf::undiffuse::<f32, _, _, _, _, _, _>(&c, &g, &x, &l, &pred, Some(&s), None, b, per)
    });

    // The guided, rescaled step: the model output is `[p_c; p_u]` (2n), `xx` 2n.
    let plen = ks::partials_len(b, per, Rescale::PerSample);
    let step_io = || ks::StepIo {
        model_out: full(2 * n),
        x: full(n),
        noise: Some(full(n)),
        x0: Some(full(n)),
        pred: Some(full(n)),
        xx: Some(full(2 * n)),
        partials: Some(full(plen)),
    };
    let sc: Sc = Gdf::default();
    let step_set = ks::StepSettings {
        batch: b,
        per,
        step: 0,
        logsnr: -1.0,
        logsnr_prev: 0.0,
        guidance: Some(3.0),
        rho: 0.7,
        rescale: Rescale::PerSample,
        seed: 1,
        first_sample: 0,
    };
    let step = |io: &ks::StepIo| {
        ks::step::<f32, _, _, _, _, _, _, _>(&c, &sc, &gdf::sampler::Ddpm, io, &step_set)
            .map(|_| ())
    };
    step(&step_io()).unwrap();
    let cases: [(&str, usize, Swap<ks::StepIo>); 7] = [
        ("model_out", 2 * n, |io, h| io.model_out = h),
        ("x", n, |io, h| io.x = h),
        ("noise", n, |io, h| io.noise = Some(h)),
        ("x0", n, |io, h| io.x0 = Some(h)),
        ("pred", n, |io, h| io.pred = Some(h)),
        ("xx", 2 * n, |io, h| io.xx = Some(h)),
        ("partials", plen, |io, h| io.partials = Some(h)),
    ];
    for (name, values, set_short) in cases {
        let mut io = step_io();
        set_short(&mut io, short(values));
        refused(name, &mut || step(&io));
    }

    // A solver run: its initial `x` and each prediction fed.
    let grid = Grid::new(&scl::Vp, &[-4.0, -1.0, 2.0]).unwrap();
    let run = |x_init: &Handle| {
        DeviceRun::<f32, _>::new(
            &c,
            AnySolver::from_name("euler").unwrap(),
            grid.clone(),
            x_init,
            b,
            per,
            DeviceNoise::None,
        )
    };
    let s = short(n);
    refused("x_init", &mut || run(&s).map(|_| ()));
    let mut dev = run(&full(n)).unwrap();
    dev.next_eval().unwrap().unwrap();
    refused("prediction", &mut || dev.feed_x0(&s).map(|_| ()));
    dev.feed_x0(&full(n)).unwrap();

    // The device sampling loop: its initial `x`, and its recorded noise (`n` values a step).
    let sampling = |x_init: Option<Handle>, noise: Option<Handle>| {
        let model = |_: &Client, _: &Handle, _: &Handle, _: usize, _: bool, _: &Handle| {};
        let opts = DeviceSampleOpts {
            timesteps: 4,
            x_init,
            noise,
            ..Default::default()
        };
        DeviceSampling::<f32, _, _, _, _>::new(&c, &sc, gdf::sampler::Ddpm, model, b, per, opts)
            .map(|_| ())
    };
    refused("x_init", &mut || sampling(Some(short(n)), None));
    refused("noise", &mut || sampling(None, Some(short(4 * n))));
    sampling(Some(full(n)), Some(full(4 * n))).unwrap();

    // The helpers: the batch noise, `[x; x]`, the copy, the half-precision packing, a stream
    // of normals.
    use gdf::pipeline::half::bf16;
    let (s, f) = (short(n), full(n));
    let noise_into =
        |out: &Handle| kf::fill_batch_noise::<f32>(&c, out, b, per, 1, Purpose::Init, 0, 0);
    refused("out", &mut || noise_into(&s));
    noise_into(&f).unwrap();
    refused("xx", &mut || ks::duplicate::<f32>(&c, &f, &short(2 * n), n));
    ks::duplicate::<f32>(&c, &f, &full(2 * n), n).unwrap();
    refused("dst", &mut || ks::copy::<f32>(&c, &f, &s, n));
    ks::copy::<f32>(&c, &f, &full(n), n).unwrap();
    refused("x", &mut || {
        gdf::kernel::half::narrow::<bf16>(&c, &s, n).map(|_| ())
    });
    let packed = gdf::kernel::half::narrow::<bf16>(&c, &f, n).unwrap();
    refused("packed", &mut || {
        gdf::kernel::half::widen::<bf16>(&c, &short(n / 2), n).map(|_| ())
    });
    gdf::kernel::half::widen::<bf16>(&c, &packed, n).unwrap();
    let normals_into =
        |out: &Handle| eval::fill_normal_handle(&c, out, n, 1, Purpose::Init, 0, 0, 0);
    refused("out", &mut || normals_into(&s));
    normals_into(&f).unwrap();
}
