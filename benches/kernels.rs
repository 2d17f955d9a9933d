//! Kernel throughput (feature `wgpu`): diffuse with in-kernel noise (and, to tell the noise's
//! cost, with ε given, and the noise alone), undiffuse, and the guided sampling step with and
//! without rescale (and the rescale's reduction pass alone), beside a plain copy of the same
//! bytes with scalar and with 16-byte vector accesses. Each benchmark launches its kernel back
//! to back, as a sampling loop does, and waits for the device after every [`LAUNCHES`]
//! launches and at the end of each timed run, so the time per launch is the kernel's own, not
//! the host's round trip to the device (`GDF_KERNEL_BENCH_LAUNCHES=1` waits after every
//! launch, for the latency of a lone launch). Throughput is the bytes each kernel must move
//! (reads + writes), printed once per benchmark before it runs, so criterion's figure (GiB/s,
//! 2³⁰ bytes) compares with the memory's peak (1 TB/s = 931 GiB/s).
//!
//! `cargo bench --features wgpu --bench kernels` (on a machine without a GPU this runs on
//! Mesa's lavapipe, a CPU Vulkan driver: the numbers then measure the CPU, not a GPU).
//!
//! The batch is 16 samples of 2^16 elements by default (1 Mi elements, sized for lavapipe);
//! `GDF_KERNEL_BENCH_PER=<elements per sample>` sets another size, e.g. `4194304` (64 Mi
//! elements, 256 MiB per buffer) to measure a real GPU's bandwidth rather than its launch
//! latency. For tuning the library's launch choices: `GDF_KERNEL_BENCH_VPU=<r>` makes each
//! unit of the noise-drawing kernels (diffuse, the noise, the step with or without rescale)
//! handle `r` vectors; `GDF_KERNEL_BENCH_LOADS=before` makes diffuse and the step load a
//! vector's inputs before drawing its noise, and `=ahead` one vector ahead (a unit's next
//! vector loaded before this one's noise); `GDF_KERNEL_BENCH_REDUCE=<2|4>` makes the rescale
//! reduction load that many vectors per loop turn; `GDF_KERNEL_BENCH_PAIRS=1` makes diffuse
//! and the batch noise draw two vectors' noise per loop turn; `GDF_KERNEL_BENCH_MERGE_ONCE=1`
//! makes the rescaled step merge its partials once, in a launch of its own, and its fused
//! pass take the plain step's geometry (`=0` turns either flag off, `LOADS=after` restores
//! the loads, for the day a default changes; each variable left unset keeps the library's
//! default, `Tuning::DEFAULT`). `GDF_KERNEL_BENCH_SWEEP=1` adds, after the usual
//! benchmarks, `kernels/sweep/<setting>/<kernel>`: each setting of [`SWEEP`] on the kernels
//! it concerns, in this one process (select them with the filter `sweep/`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use gdf::framework::Gdf;
use gdf::kernel::cubecl::future::block_on;
use gdf::kernel::cubecl::prelude::*;
use gdf::kernel::cubecl::server::Handle;
use gdf::kernel::framework::{self as kf, DiffuseIo, DiffuseSettings};
use gdf::kernel::step::{self as ks, StepIo, StepSettings};
use gdf::sample::Rescale;
use gdf::{loss_weight as lw, noise_cond as ncd, scaler as scl, schedule as sch, target as tg};

type Sc = Gdf<sch::Cosine, scl::Vp, tg::Epsilon, ncd::CosineT, lw::P2>;

/// A plain element-wise copy: the bandwidth reference the kernels are measured against.
#[cube(launch_unchecked)]
fn copy_kernel(src: &[f32], dst: &mut [f32]) {
    if ABSOLUTE_POS < src.len() {
        dst[ABSOLUTE_POS] = src[ABSOLUTE_POS];
    }
}

/// The same copy with `N`-value vector loads and stores (`N = 4`: 16-byte accesses, the widest
/// both wgpu's vec4 and CUDA's 128-bit loads take): the practical ceiling a vectorised kernel
/// can reach through this runtime.
#[cube(launch_unchecked)]
fn copy_vec_kernel<N: Size>(src: &[Vector<f32, N>], dst: &mut [Vector<f32, N>]) {
    if ABSOLUTE_POS < src.len() {
        dst[ABSOLUTE_POS] = src[ABSOLUTE_POS];
    }
}

/// Vector width of [`copy_vec_kernel`].
const VEC: usize = 4;

/// Launches between two waits for the device, unless `GDF_KERNEL_BENCH_LAUNCHES` says
/// otherwise.
const LAUNCHES: u64 = 8;

/// The time of `iters` launches of `launch`, waiting (`sync`) after every `every` launches
/// and after the last.
fn timed(iters: u64, every: u64, launch: &mut dyn FnMut(), sync: &dyn Fn()) -> Duration {
    let start = Instant::now();
    for i in 1..=iters {
        launch();
        if i % every == 0 {
            sync();
        }
    }
    if iters % every != 0 {
        sync();
    }
    start.elapsed()
}

/// One benchmark: `launch` timed back to back (see [`timed`]), with the bytes it moves as
/// criterion's throughput and printed before it runs.
#[allow(clippy::too_many_arguments)]
fn bench_launches(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    len: usize,
    bytes: usize,
    what: &str,
    every: u64,
    sync: &dyn Fn(),
    launch: &mut dyn FnMut(),
) {
    g.throughput(Throughput::Bytes(bytes as u64));
    eprintln!(
        "kernels/{name}/{len}: {bytes} bytes moved ({:.1} MiB: {what})",
        bytes as f64 / (1u64 << 20) as f64
    );
    g.bench_function(BenchmarkId::new(name, len), |bench| {
        bench.iter_custom(|iters| timed(iters, every, &mut *launch, sync))
    });
}

/// The kernels a [`SWEEP`] setting is timed on (the 16n copy, the control, always is).
#[derive(Clone, Copy)]
struct Kernels {
    /// Diffuse with ε drawn in the kernel.
    diffuse: bool,
    /// The batch noise alone.
    noise: bool,
    /// The guided step without rescale.
    step: bool,
    /// The rescaled guided step.
    rescaled: bool,
    /// The rescale reduction alone.
    reduce: bool,
}

/// All five.
const ALL: Kernels = Kernels {
    diffuse: true,
    noise: true,
    step: true,
    rescaled: true,
    reduce: true,
};
/// None but the control.
const NONE: Kernels = Kernels {
    diffuse: false,
    noise: false,
    step: false,
    rescaled: false,
    reduce: false,
};
/// Diffuse and the plain step: where the loads go.
const LOADS: Kernels = Kernels {
    diffuse: true,
    step: true,
    ..NONE
};
/// Diffuse and the noise: drawing two vectors per turn.
const DRAW: Kernels = Kernels {
    diffuse: true,
    noise: true,
    ..NONE
};
/// Diffuse, the noise and both steps: vectors per unit.
const UNITS: Kernels = Kernels {
    rescaled: true,
    reduce: false,
    ..ALL
};
/// The rescaled step alone: its second pass's geometry.
const RESCALED: Kernels = Kernels {
    rescaled: true,
    ..NONE
};
/// The rescaled step and its reduction: the reduction's loads per turn.
const REDUCTION: Kernels = Kernels {
    reduce: true,
    ..RESCALED
};

/// A [`Tuning`](gdf::kernel::Tuning): vectors per unit, loads, reduction vectors per turn,
/// noise drawn in pairs, the rescale's partials merged once.
const fn tuning(
    vectors_per_unit: usize,
    loads: gdf::kernel::Loads,
    reduce_vectors: usize,
    draw_pairs: bool,
    merge_once: bool,
) -> gdf::kernel::Tuning {
    gdf::kernel::Tuning {
        vectors_per_unit,
        loads,
        reduce_vectors,
        draw_pairs,
        merge_once,
    }
}

/// The launch choices `GDF_KERNEL_BENCH_SWEEP=1` compares in one process: a label, the
/// [`Tuning`](gdf::kernel::Tuning), and the kernels it concerns. The library's defaults come
/// first and last, so a drift of the device during the sweep shows as a difference between
/// the two.
const SWEEP: &[(&str, gdf::kernel::Tuning, Kernels)] = {
    use gdf::kernel::Loads::{AfterNoise as After, BeforeNoise as Before, OneAhead as Ahead};
    &[
        ("default", gdf::kernel::Tuning::DEFAULT, ALL),
        ("pairs", tuning(0, After, 1, true, false), DRAW),
        ("pairs-vpu8", tuning(8, After, 1, true, false), DRAW),
        ("pairs-before", tuning(0, Before, 1, true, false), DRAW),
        ("before", tuning(0, Before, 1, false, false), LOADS),
        ("ahead", tuning(0, Ahead, 1, false, false), LOADS),
        ("vpu8", tuning(8, After, 1, false, false), UNITS),
        ("vpu4", tuning(4, After, 1, false, false), UNITS),
        ("vpu16", tuning(16, After, 1, false, false), RESCALED),
        ("reduce2", tuning(0, After, 2, false, false), REDUCTION),
        ("reduce4", tuning(0, After, 4, false, false), REDUCTION),
        (
            "vpu16-reduce4",
            tuning(16, After, 4, false, false),
            RESCALED,
        ),
        ("merge-once", tuning(0, After, 1, false, true), RESCALED),
        (
            "merge-once-vpu8",
            tuning(8, After, 1, false, true),
            RESCALED,
        ),
        (
            "merge-once-reduce4",
            tuning(0, After, 4, false, true),
            RESCALED,
        ),
        ("default-again", gdf::kernel::Tuning::DEFAULT, ALL),
    ]
};

/// What every benchmark shares: the device, the batch and its host-side inputs.
struct Bench<'a> {
    client: &'a Client,
    gdf: Sc,
    /// Samples.
    b: usize,
    /// Elements per sample.
    per: usize,
    /// Launches between two waits for the device.
    every: u64,
    /// The clean image (also the given ε).
    x0: Vec<f32>,
    /// Each sample's `t`.
    t: Vec<f32>,
    /// The model output `[p_c; p_u]` of the guided steps.
    out: Vec<f32>,
}

impl Bench<'_> {
    fn n(&self) -> usize {
        self.b * self.per
    }

    fn up(&self, v: &[f32]) -> Handle {
        self.client.create_from_slice(f32::as_bytes(v))
    }

    fn sync(&self) {
        block_on(self.client.sync()).expect("device sync")
    }

    /// `launch` timed as benchmark `name` (see [`bench_launches`]).
    fn run(
        &self,
        g: &mut BenchmarkGroup<'_, WallTime>,
        name: &str,
        bytes: usize,
        what: &str,
        launch: &mut dyn FnMut(),
    ) {
        bench_launches(
            g,
            name,
            self.n(),
            bytes,
            what,
            self.every,
            &|| self.sync(),
            launch,
        );
    }

    /// The vectorised copy of `len` values from `src` to `dst`.
    fn copy_vec4(
        &self,
        g: &mut BenchmarkGroup<'_, WallTime>,
        name: &str,
        src: &Handle,
        dst: &Handle,
        len: usize,
    ) {
        let lines = len / VEC;
        let dim = CubeDim::new_1d(256);
        let count = gdf::kernel::cubecl::calculate_cube_count_elemwise(self.client, lines, dim);
        let launch = |dst: &Handle| {
            // SAFETY: both buffers hold `len / VEC` vectors of VEC f32 values and the kernel
            // bounds-checks.
            unsafe {
                copy_vec_kernel::launch_unchecked(
                    self.client,
                    count.clone(),
                    dim,
                    VEC,
                    BufferArg::from_raw_parts(src.clone(), lines),
                    BufferArg::from_raw_parts(dst.clone(), lines),
                )
            };
        };
        // The vectorised copy copies (checked once, into zeros, outside the timing).
        let probe = self.up(&vec![0.0f32; len]);
        launch(&probe);
        let copied = f32::from_bytes(&self.client.read_one(probe).unwrap()).to_vec();
        let want = f32::from_bytes(&self.client.read_one(src.clone()).unwrap()).to_vec();
        assert!(copied == want, "the vectorised copy is wrong");
        bench_launches(
            g,
            name,
            len,
            8 * len,
            "the same, 16-byte vector accesses",
            self.every,
            &|| self.sync(),
            &mut || launch(dst),
        );
    }

    /// Diffuse's buffers: reads `x0` (and ε when `eps_given`), writes noised.
    fn diffuse_io(&self, eps_given: bool) -> DiffuseIo {
        DiffuseIo {
            x0: self.up(&self.x0),
            eps: eps_given.then(|| self.up(&self.x0)),
            tl: Some(self.up(&self.t)),
            tl_is_logsnr: false,
            offset: None,
            noised: self.client.empty(4 * self.n()),
            eps_out: None,
            target: None,
            per_sample: self.client.empty(12 * self.b),
        }
    }

    /// Diffuse with ε drawn in the kernel (`eps_given` false) or read from a buffer.
    fn diffuse(&self, g: &mut BenchmarkGroup<'_, WallTime>, name: &str, eps_given: bool) {
        let io = self.diffuse_io(eps_given);
        let set = DiffuseSettings {
            batch: self.b,
            per: self.per,
            ..Default::default()
        };
        let mut launch = || {
            kf::diffuse::<f32, _, _, _, _, _, _>(self.client, &self.gdf, black_box(&io), &set)
                .unwrap();
        };
        launch();
        eprintln!(
            "{name}: vector width {} (values per load and store)",
            gdf::kernel::last_vector_width()
        );
        let (bytes, what) = if eps_given {
            (12 * self.n(), "reads x0 and ε, writes noised")
        } else {
            // The target is ε itself and is not written.
            (
                8 * self.n(),
                "reads x0, writes noised; ε drawn in the kernel",
            )
        };
        self.run(g, name, bytes, what, &mut launch);
    }

    /// The noise alone: a batch of counter normals written to memory.
    fn noise(&self, g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
        let normals = self.client.empty(4 * self.n());
        self.run(
            g,
            name,
            4 * self.n(),
            "writes n counter normals",
            &mut || {
                kf::fill_batch_noise::<f32>(
                    self.client,
                    black_box(&normals),
                    self.b,
                    self.per,
                    7,
                    gdf::noise::Purpose::Sampler,
                    0,
                    0,
                )
                .expect("batch noise");
            },
        );
    }

    /// The guided DDPM step, with the CFG rescale (`rho` > 0: two launches) or without, on
    /// fresh buffers (the step updates `x` in place, so every call starts from the same `x`).
    fn step(&self, g: &mut BenchmarkGroup<'_, WallTime>, name: &str, rho: f64) {
        let (b, per) = (self.b, self.per);
        let sio = StepIo {
            model_out: self.up(&self.out),
            x: self.up(&self.x0),
            noise: None,
            x0: None,
            pred: None,
            xx: None,
            partials: Some(
                self.client
                    .empty(4 * ks::partials_len(b, per, Rescale::Batch)),
            ),
        };
        let sset = StepSettings {
            batch: b,
            per,
            step: 1,
            logsnr: -1.0,
            logsnr_prev: 0.0,
            guidance: Some(3.0),
            rho,
            rescale: Rescale::Batch,
            seed: 1,
            first_sample: 0,
        };
        let mut launch = || {
            ks::step::<f32, _, _, _, _, _, _, _>(
                self.client,
                &self.gdf,
                &gdf::sampler::Ddpm,
                black_box(&sio),
                &sset,
            )
            .unwrap();
        };
        launch();
        eprintln!("{name}: vector width {}", gdf::kernel::last_vector_width());
        // Reads [p_c; p_u] (twice with rescale) and x, writes x.
        let (bytes, what) = if rho > 0.0 {
            (
                24 * self.n(),
                "reads [p_c; p_u] twice (reduction, then the step) and x, writes x",
            )
        } else {
            (
                16 * self.n(),
                "reads [p_c; p_u] and x, writes x; noise drawn in the kernel",
            )
        };
        self.run(g, name, bytes, what, &mut launch);
    }

    /// The rescaled step's first pass alone, to split its time between the passes.
    fn reduce(&self, g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
        let (b, per) = (self.b, self.per);
        let model_out = self.up(&self.out);
        let partials = self
            .client
            .empty(4 * ks::partials_len(b, per, Rescale::Batch));
        let mut launch = || {
            ks::rescale_reduce::<f32>(
                self.client,
                black_box(&model_out),
                &partials,
                b,
                per,
                Rescale::Batch,
                3.0,
            )
            .unwrap();
        };
        launch();
        eprintln!("{name}: vector width {}", gdf::kernel::last_vector_width());
        self.run(
            g,
            name,
            8 * self.n(),
            "reads [p_c; p_u], writes the partial moments",
            &mut launch,
        );
    }
}

fn kernels(c: &mut Criterion) {
    let client = match std::panic::catch_unwind(|| gdf::kernel::cubecl::Device::default().client())
    {
        Ok(cl) => cl,
        Err(_) => {
            eprintln!("no compute adapter: kernel benches skipped");
            return;
        }
    };
    let per = std::env::var("GDF_KERNEL_BENCH_PER")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1 << 16);
    let every = std::env::var("GDF_KERNEL_BENCH_LAUNCHES")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&k| k > 0)
        .unwrap_or(LAUNCHES);
    // Launch choices forced for tuning (each unset: the library's default).
    let number = |var: &str| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
    };
    let flag = |var: &str, default: bool| match std::env::var(var).as_deref() {
        Ok("0") => false,
        Ok(_) => true,
        Err(_) => default,
    };
    let d = gdf::kernel::Tuning::DEFAULT;
    let forced = gdf::kernel::Tuning {
        vectors_per_unit: number("GDF_KERNEL_BENCH_VPU").unwrap_or(d.vectors_per_unit),
        loads: match std::env::var("GDF_KERNEL_BENCH_LOADS").as_deref() {
            Ok("before") => gdf::kernel::Loads::BeforeNoise,
            Ok("ahead") => gdf::kernel::Loads::OneAhead,
            Ok("after") => gdf::kernel::Loads::AfterNoise,
            _ => d.loads,
        },
        reduce_vectors: number("GDF_KERNEL_BENCH_REDUCE").unwrap_or(d.reduce_vectors),
        draw_pairs: flag("GDF_KERNEL_BENCH_PAIRS", d.draw_pairs),
        merge_once: flag("GDF_KERNEL_BENCH_MERGE_ONCE", d.merge_once),
    };
    gdf::kernel::set_tuning(forced);
    let b = 16usize;
    let n = b * per;
    let bench = Bench {
        client: &client,
        gdf: Gdf::default(),
        b,
        per,
        every,
        x0: (0..n).map(|i| ((i % 255) as f32 / 127.0) - 1.0).collect(),
        t: (0..b).map(|i| (i as f32 + 0.5) / b as f32).collect(),
        out: (0..2 * n).map(|i| ((i % 97) as f32 / 48.0) - 1.0).collect(),
    };

    let mut g = c.benchmark_group("kernels");
    g.sample_size(10);
    eprintln!(
        "kernel bench: batch {b} × per {per} = {n} f32 values; a wait for the device every \
         {every} launches; 64-bit integers in kernels: {} (Philox's mul_hi through one 64-bit \
         product, else emulated with 16-bit halves); launch choices {forced:?}{}",
        client
            .properties()
            .supports_type(gdf::kernel::cubecl::ir::ElemType::UInt(
                gdf::kernel::cubecl::ir::UIntKind::U64
            )),
        if forced == gdf::kernel::Tuning::DEFAULT {
            " (the defaults)"
        } else {
            ""
        }
    );

    // The bandwidth reference: a plain copy of n values (the bytes diffuse moves) and of 2n
    // values (the bytes of the guided step without rescale).
    let mut copies = Vec::new();
    for len in [n, 2 * n] {
        let values: Vec<f32> = (0..len).map(|i| (i % 65_521) as f32).collect();
        let (src, dst) = (bench.up(&values), client.empty(4 * len));
        let dim = CubeDim::new_1d(256);
        let count = gdf::kernel::cubecl::calculate_cube_count_elemwise(&client, len, dim);
        bench_launches(
            &mut g,
            "copy",
            len,
            8 * len,
            "reads and writes len f32, one value per access",
            every,
            &|| bench.sync(),
            &mut || {
                // SAFETY: both buffers hold `len` f32 values and the kernel bounds-checks.
                unsafe {
                    copy_kernel::launch_unchecked(
                        &client,
                        count.clone(),
                        dim,
                        BufferArg::from_raw_parts(src.clone(), len),
                        BufferArg::from_raw_parts(dst.clone(), len),
                    )
                };
            },
        );
        // The same bytes with 16-byte vector accesses (`len` is a multiple of VEC here).
        bench.copy_vec4(&mut g, "copy_vec4", &src, &dst, len);
        copies.push((src, dst, len));
    }

    bench.diffuse(&mut g, "diffuse_drawn_eps", false);
    // The same diffuse with ε read from a buffer: what the kernel costs without the noise.
    bench.diffuse(&mut g, "diffuse_given_eps", true);

    // The noise alone: a batch of counter normals written to memory.
    bench.noise(&mut g, "noise");

    // x and the prediction: initialised values (the bench's x0 pattern for both).
    let (x, pred) = (bench.up(&bench.x0), bench.up(&bench.x0));
    let (x0o, l) = (client.empty(4 * n), bench.up(&vec![0.3f32; b]));
    bench.run(
        &mut g,
        "undiffuse_x0",
        12 * n,
        "reads x and the prediction, writes x0",
        &mut || {
            kf::undiffuse::<f32, _, _, _, _, _, _>(
                &client,
                &bench.gdf,
                &x,
                &l,
                &pred,
                Some(&x0o),
                None,
                b,
                per,
            )
            .unwrap();
        },
    );

    bench.step(&mut g, "guided_step_rescale", 0.7);
    bench.step(&mut g, "guided_step", 0.0);
    bench.reduce(&mut g, "rescale_reduce");

    // `GDF_KERNEL_BENCH_SWEEP=1`: the kernels the launch choices concern, under each of
    // [`SWEEP`] in turn, in this one process, with the 16n copy as a control each time (it
    // does not depend on the choices, so a change in it is the device's, not the kernels').
    if std::env::var_os("GDF_KERNEL_BENCH_SWEEP").is_some() {
        let (src, dst, len) = &copies[1];
        for &(label, t, kernels) in SWEEP {
            gdf::kernel::set_tuning(t);
            let name = |kernel: &str| format!("sweep/{label}/{kernel}");
            bench.copy_vec4(&mut g, &name("copy_vec4"), src, dst, *len);
            if kernels.diffuse {
                bench.diffuse(&mut g, &name("diffuse_drawn_eps"), false);
            }
            if kernels.noise {
                bench.noise(&mut g, &name("noise"));
            }
            if kernels.step {
                bench.step(&mut g, &name("guided_step"), 0.0);
            }
            if kernels.rescaled {
                bench.step(&mut g, &name("guided_step_rescale"), 0.7);
            }
            if kernels.reduce {
                bench.reduce(&mut g, &name("rescale_reduce"));
            }
        }
        gdf::kernel::set_tuning(forced);
    }
    g.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
