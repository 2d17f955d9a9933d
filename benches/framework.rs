//! Host-path throughput of the framework, f32, against the original PyTorch implementation's
//! timings on the same 2-core machine (see the framework issue's table). Each group also
//! times a plain parallel copy of the same bytes, the bandwidth ceiling.
//!
//! Run: `cargo bench --bench framework`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gdf::framework::{DiffuseArgs, DiffuseOut, Gdf};
use gdf::konst::{Dec, P9999};
use gdf::sample::{Cfg, SampleOpts};
use gdf::{loss_weight::P2, noise_cond::CosineT, scaler::Vp, schedule::Cosine, target::Epsilon};
use rayon::prelude::*;
use typenum::{N3, N4, P1, P8};

/// The benchmark framework: Cosine(clamp [1e-4, 0.9999]), VP, Epsilon, CosineT, P2.
type StageC = Gdf<Cosine<Dec<P8, N3>, Dec<P1, N4>, Dec<P9999, N4>>, Vp, Epsilon, CosineT, P2>;

fn shape_name(s: [usize; 4]) -> String {
    format!("{}x{}x{}x{}", s[0], s[1], s[2], s[3])
}

fn par_copy(src: &[f32], dst: &mut [f32]) {
    dst.par_chunks_mut(1 << 16)
        .zip(src.par_chunks(1 << 16))
        .for_each(|(d, s)| d.copy_from_slice(s));
}

fn bench_diffuse(c: &mut Criterion) {
    let g = StageC::default();
    let mut group = c.benchmark_group("diffuse");
    group
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(40);
    for (shape, drawn) in [
        ([64, 16, 24, 24], true),
        ([16, 4, 128, 128], true),
        ([256, 16, 24, 24], true),
        ([64, 16, 24, 24], false),
        ([256, 16, 24, 24], false),
    ] {
        let b = shape[0];
        let n: usize = shape.iter().product();
        let x0: Vec<f32> = (0..n).map(|i| (i % 251) as f32 / 125.0 - 1.0).collect();
        let eps: Vec<f32> = (0..n).map(|i| (i % 241) as f32 / 120.0 - 1.0).collect();
        let t: Vec<f32> = (0..b).map(|i| (i as f32 + 0.5) / b as f32).collect();
        let (mut noised, mut e_out) = (vec![0.0f32; n], vec![0.0f32; n]);
        let (mut l, mut nc, mut w) = (vec![0.0f32; b], vec![0.0f32; b], vec![0.0f32; b]);
        // Traffic: x0 read + noised written, plus ε written (drawn) or read (given). The
        // target is ε itself, which the caller already holds (as torch returns the same tensor).
        group.throughput(Throughput::Bytes((3 * n * 4) as u64));
        let name = if drawn { "eps_drawn" } else { "eps_given" };
        group.bench_function(BenchmarkId::new(name, shape_name(shape)), |bench| {
            let mut seed = 0u64;
            bench.iter(|| {
                seed += 1;
                let args = DiffuseArgs {
                    eps: if drawn { None } else { Some(&eps[..]) },
                    t: Some(&t),
                    seed,
                    ..Default::default()
                };
                let out = DiffuseOut {
                    noised: &mut noised,
                    eps: if drawn { Some(&mut e_out[..]) } else { None },
                    target: None,
                    logsnr: &mut l,
                    noise_cond: &mut nc,
                    loss_weight: &mut w,
                };
                g.diffuse_into(black_box(&x0), b, &args, out).unwrap();
                black_box(&noised);
            })
        });
        if !drawn {
            // A plain copy (memcpy) of the same 3·n·4 bytes of traffic: 1.5·n values read and
            // 1.5·n written (the ceiling the ε-given diffuse is measured against).
            let src = vec![1.0f32; n + n / 2];
            let mut dst = vec![0.0f32; n + n / 2];
            group.bench_function(
                BenchmarkId::new("par_copy_same_bytes", shape_name(shape)),
                |bench| {
                    bench.iter(|| {
                        par_copy(black_box(&src), &mut dst);
                        black_box(&dst);
                    })
                },
            );
            group.bench_function(
                BenchmarkId::new("memcpy_same_bytes", shape_name(shape)),
                |bench| {
                    bench.iter(|| {
                        dst.copy_from_slice(black_box(&src));
                        black_box(&dst);
                    })
                },
            );
        }
    }
    group.finish();
}

fn bench_step(c: &mut Criterion) {
    let g = StageC::default();
    let mut group = c.benchmark_group("sampling_step");
    group
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(40);
    for shape in [[8, 16, 24, 24], [8, 4, 128, 128]] {
        let b = shape[0];
        let per = shape[1] * shape[2] * shape[3];
        let n = b * per;
        let cond = vec![0.0f32; b];
        // Traffic per step: model reads 2n and writes 2n; the reduction reads 2n; the fused
        // pass reads x + 2n predictions and writes x, its mirror (and x0, pred).
        group.throughput(Throughput::Bytes((14 * n * 4) as u64));
        // DDPM as the table asks, stepping as `run` does (`advance`: the new x only), and
        // with `next_step`, which also writes x0 and the prediction (the original's loop
        // yields all three); DDIM (η = 0) beside them shows what the sampler noise costs.
        for (name, eta, with_outputs) in [
            ("ddpm_cfg4_rho0.7", 1.0, false),
            ("ddpm_cfg4_rho0.7_x0_pred", 1.0, true),
            ("ddim_cfg4_rho0.7_no_noise", 0.0, false),
        ] {
            group.bench_function(BenchmarkId::new(name, shape_name(shape)), |bench| {
                bench.iter_custom(|iters| {
                    // The original's trivial model, `pred = 0.5·x`, as a plain loop on the
                    // calling thread: a rayon loop started from outside rayon's pool costs
                    // two cross-thread wake-ups, 20–30 µs on the 2-vCPU VM, more than the
                    // multiply itself (about 13 µs for the 147 456 values of the small shape).
                    let model = |x: &[f32], _c: &[f32], _i: &[f32], p: &mut [f32]| {
                        for (p, x) in p.iter_mut().zip(x) {
                            *p = 0.5 * x;
                        }
                    };
                    let opts = SampleOpts {
                        timesteps: iters as usize,
                        cfg: Cfg::Scale(4.0),
                        cfg_rho: 0.7,
                        seed: 3,
                        ..Default::default()
                    };
                    let sampler = gdf::dynamic::DynSampler::Ddim { eta };
                    let mut run = g.sample(model, sampler, &cond, None, b, per, opts).unwrap();
                    let start = Instant::now();
                    if with_outputs {
                        while let Some(step) = run.next_step().unwrap() {
                            black_box((step.x, step.x0, step.pred));
                        }
                    } else {
                        while run.advance().unwrap() {
                            black_box(run.x());
                        }
                    }
                    start.elapsed()
                })
            });
        }
    }
    group.finish();
}

/// The solvers of `gdf::solver` (issue 13): one guided step (CFG 4, ε-target, two model
/// outputs converted and combined inside the fused pass) per solver family, f32, beside the
/// framework's DDIM step without rescale. Heun and DPM++ SDE lines are per step (2 NFE).
fn bench_solvers(c: &mut Criterion) {
    use gdf::solver::{AnySolver, BrownianNoise, CounterNoise, Grid, NoiseSource, Run};
    let g = StageC::default();
    let mut group = c.benchmark_group("solver_step");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    let shape = [8, 16, 24, 24];
    let (b, per) = (shape[0], shape[1] * shape[2] * shape[3]);
    let n = b * per;
    // The trivial model `pred = 0.5·x` as a plain loop on the calling thread, as in
    // `sampling_step` (a rayon loop from outside rayon's pool costs two cross-thread
    // wake-ups, and its workers compete with gdf's helper thread for the cores).
    let model = |x: &[f32], p: &mut [f32]| {
        for (p, x) in p.iter_mut().zip(x) {
            *p = 0.5 * x;
        }
    };
    // The same model on both branches: the work of the framework's single call on the
    // doubled batch `[x; x]`.
    let model2 = |x: &[f32], pc: &mut [f32], pu: &mut [f32]| {
        for ((pc, pu), x) in pc.iter_mut().zip(pu.iter_mut()).zip(x) {
            *pc = 0.5 * x;
            *pu = 0.5 * x;
        }
    };
    group.bench_function(
        BenchmarkId::new("ddim_cfg4_framework", shape_name(shape)),
        |bench| {
            bench.iter_custom(|iters| {
                let m = |x: &[f32], _c: &[f32], _i: &[f32], p: &mut [f32]| model(x, p);
                let opts = SampleOpts {
                    timesteps: iters as usize,
                    cfg: Cfg::Scale(4.0),
                    cfg_rho: 0.0,
                    seed: 3,
                    ..Default::default()
                };
                let sampler = gdf::dynamic::DynSampler::Ddim { eta: 0.0 };
                let cond = vec![0.0f32; b];
                let mut run = g.sample(m, sampler, &cond, None, b, per, opts).unwrap();
                let start = Instant::now();
                while let Some(step) = run.next_step().unwrap() {
                    black_box(step.x);
                }
                start.elapsed()
            })
        },
    );
    // (name, Brownian-tree noise instead of counter noise)
    for (name, brownian) in [
        ("euler", false),
        ("euler_ancestral", false),
        ("heun", false),
        ("lms", false),
        ("dpmpp_2m", false),
        ("dpmpp_2m_sde", false),
        ("dpmpp_3m_sde", false),
        ("dpmpp_sde", false),
        ("UniPCMultistepScheduler", false),
        ("dpmpp_2m_sde", true),
    ] {
        let id = if brownian {
            format!("{name}_brownian")
        } else {
            name.to_string()
        };
        group.bench_function(BenchmarkId::new(id, shape_name(shape)), |bench| {
            bench.iter_custom(|iters| {
                let steps = iters.max(2) as usize;
                let lams: Vec<f64> = (0..=steps)
                    .map(|i| -10.0 + 20.0 * i as f64 / steps as f64)
                    .collect();
                let grid = Grid::new(&Vp, &lams).unwrap();
                let solver = AnySolver::from_name(name).unwrap();
                let x = vec![0.1f32; n];
                let mut noise: Box<dyn NoiseSource<f32>> = if brownian {
                    Box::new(BrownianNoise::for_grid(3, &grid).unwrap())
                } else {
                    Box::new(CounterNoise::new(3))
                };
                let mut run = Run::new(solver, grid, x, b, &mut *noise).unwrap();
                let (mut pc, mut pu) = (vec![0.0f32; n], vec![0.0f32; n]);
                let start = Instant::now();
                while let Some(req) = run.next_eval().unwrap() {
                    // One model call for both branches (as the framework's doubled batch).
                    model2(req.x, &mut pc, &mut pu);
                    run.feed_cfg(&Epsilon, &pc, &pu, 4.0).unwrap();
                }
                black_box(run.x());
                start.elapsed() * iters as u32 / steps as u32
            })
        });
    }
    group.finish();
}

/// The counter-based Gaussian noise alone: the floor of every drawn-noise figure above.
fn bench_noise(c: &mut Criterion) {
    let mut group = c.benchmark_group("noise");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    for n in [73_728usize, 589_824] {
        let mut z = vec![0.0f32; n];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("fill_normal_1_thread", n), |bench| {
            bench.iter(|| gdf::noise::fill_normal(1, gdf::noise::Purpose::Epsilon, 0, 0, 0, &mut z))
        });
        group.bench_function(BenchmarkId::new("fill_normal_all_threads", n), |bench| {
            bench.iter(|| {
                z.par_chunks_mut(1 << 14).enumerate().for_each(|(i, c)| {
                    gdf::noise::fill_normal(
                        1,
                        gdf::noise::Purpose::Epsilon,
                        0,
                        0,
                        (i << 14) as u64,
                        c,
                    )
                })
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_diffuse,
    bench_step,
    bench_solvers,
    bench_noise
);
criterion_main!(benches);
