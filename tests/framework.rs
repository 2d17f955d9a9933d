//! The framework on the host: reproducible counter-based noise (across thread counts and
//! batch compositions), the noise's statistics, and convergence of sampling to a known
//! distribution.

use gdf::dynamic::DynSampler;
use gdf::framework::{DiffuseArgs, Gdf};
use gdf::noise::{fill_normal, normal, Purpose};
use gdf::sample::{Cfg, Rescale, SampleOpts};
use gdf::toy::GaussianMixture2;
use gdf::{
    loss_weight::P2, noise_cond::CosineT, noise_cond::LogSnr, scaler::Vp, schedule::Cosine,
    target::Epsilon,
};

type StageC = Gdf<Cosine, Vp, Epsilon, CosineT, P2, f64>;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

fn bits(xs: &[f32]) -> Vec<u32> {
    xs.iter().map(|x| x.to_bits()).collect()
}

/// A batch large enough to be split into many parallel jobs (4 × 3×96×96 = 110 592).
const B: usize = 4;
const PER: usize = 3 * 96 * 96;

fn x0() -> Vec<f32> {
    (0..B * PER)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

#[test]
fn diffuse_is_bit_identical_across_thread_counts() {
    let g = StageC::default().with_offset_noise(0.1f64);
    let x0 = x0();
    let args = DiffuseArgs {
        channels: 3,
        seed: 42,
        ..Default::default()
    };
    let one = pool(1).install(|| g.diffuse(&x0, B, &args)).unwrap();
    let four = pool(4).install(|| g.diffuse(&x0, B, &args)).unwrap();
    // From a thread outside any rayon pool the passes run on the caller and gdf's helpers.
    let outside = std::thread::scope(|s| {
        s.spawn(|| g.diffuse(&x0, B, &args).unwrap())
            .join()
            .unwrap()
    });
    for other in [&four, &outside] {
        assert_eq!(bits(&one.noised), bits(&other.noised));
        assert_eq!(bits(&one.eps), bits(&other.eps));
        assert_eq!(bits(&one.target), bits(&other.target));
        assert_eq!(bits(&one.logsnr), bits(&other.logsnr));
    }
    // and the seed matters
    let other = g
        .diffuse(&x0, B, &DiffuseArgs { seed: 43, ..args })
        .unwrap();
    assert_ne!(bits(&one.eps), bits(&other.eps));
}

#[test]
fn diffuse_with_given_eps_is_the_same_with_or_without_extra_outputs() {
    // With ε given, `noised` must not depend on which other outputs are asked for.
    use gdf::framework::DiffuseOut;
    let g = StageC::default();
    let x0 = x0();
    let eps: Vec<f32> = (0..B * PER)
        .map(|i| normal(3, Purpose::Epsilon, 0, 0, i as u64))
        .collect();
    let t: Vec<f32> = (0..B).map(|b| (b as f32 + 0.5) / B as f32).collect();
    let args = DiffuseArgs {
        eps: Some(&eps),
        t: Some(&t),
        ..Default::default()
    };
    let run = |extra: bool| {
        let (mut noised, mut e, mut tg) =
            (vec![0.0; B * PER], vec![0.0; B * PER], vec![0.0; B * PER]);
        let (mut l, mut c, mut w) = (vec![0.0; B], vec![0.0; B], vec![0.0; B]);
        let out = DiffuseOut {
            noised: &mut noised,
            eps: extra.then_some(&mut e[..]),
            target: extra.then_some(&mut tg[..]),
            logsnr: &mut l,
            noise_cond: &mut c,
            loss_weight: &mut w,
        };
        g.diffuse_into(&x0, B, &args, out).unwrap();
        (noised, l)
    };
    let (fast, l) = run(false);
    let (blocked, _) = run(true);
    assert_eq!(bits(&fast), bits(&blocked));
    // and it is a·x0 + b·ε
    for (b, &lb) in l.iter().enumerate() {
        let (a, bb) = gdf::scaler::Scaler::ab(&Vp, lb);
        for i in (b * PER..(b + 1) * PER).step_by(997) {
            assert_eq!(fast[i], x0[i] * a + eps[i] * bb);
        }
    }
}

#[test]
fn a_sample_diffuses_the_same_alone_and_in_a_batch() {
    let g = StageC::default().with_offset_noise(0.1f64);
    let x0 = x0();
    let args = DiffuseArgs {
        channels: 3,
        seed: 5,
        ..Default::default()
    };
    let batch = g.diffuse(&x0, B, &args).unwrap();
    for s in 0..B {
        let alone = g
            .diffuse(
                &x0[s * PER..(s + 1) * PER],
                1,
                &DiffuseArgs {
                    first_sample: s as u32,
                    ..args
                },
            )
            .unwrap();
        assert_eq!(
            bits(&alone.noised),
            bits(&batch.noised[s * PER..(s + 1) * PER]),
            "sample {s}"
        );
        assert_eq!(alone.logsnr[0].to_bits(), batch.logsnr[s].to_bits());
    }
}

fn toy_model(x: &[f32], c: &[f32], inputs: &[f32], p: &mut [f32]) {
    let per = x.len() / c.len();
    for (i, p) in p.iter_mut().enumerate() {
        *p = (0.5 * x[i] + c[i / per]).tanh() + 0.1 * inputs[i];
    }
}

fn sample_run(batch: usize, first: u32, cond: &[f32], rescale: Rescale) -> Vec<f32> {
    sample_run_per(batch, PER, first, cond, rescale)
}

fn sample_run_per(
    batch: usize,
    per: usize,
    first: u32,
    cond: &[f32],
    rescale: Rescale,
) -> Vec<f32> {
    let g = StageC::default();
    let opts = SampleOpts {
        timesteps: 6,
        cfg: Cfg::Scale(4.0),
        cfg_rho: 0.7,
        rescale,
        seed: 11,
        first_sample: first,
        ..Default::default()
    };
    g.sample(toy_model, gdf::sampler::Ddpm, cond, None, batch, per, opts)
        .unwrap()
        .run()
        .unwrap()
}

#[test]
fn sampling_is_bit_identical_across_thread_counts() {
    // Batches of 110 592, 196 608, 442 368 and 786 432 elements: below and above the size
    // where a step's memory-bound passes leave the calling thread (2^17), and at and above
    // the size where the fused pass no longer starts while the helpers are still drawing the
    // noise (3·2^18), so every way the noise drawn ahead meets the fused pass is covered.
    for per in [PER, 3 * 128 * 128, 3 * 192 * 192, 3 * 256 * 256] {
        let cond: Vec<f32> = (0..B * per).map(|i| (i % 13) as f32 / 13.0).collect();
        let run = || sample_run_per(B, per, 0, &cond, Rescale::Batch);
        let one = pool(1).install(run);
        let three = pool(3).install(run);
        assert_eq!(bits(&one), bits(&three), "{per}");
        // From a thread outside any rayon pool: the caller and gdf's helpers.
        let outside = std::thread::scope(|s| s.spawn(run).join().unwrap());
        assert_eq!(bits(&one), bits(&outside), "{per}");
    }
}

#[test]
fn advancing_without_x0_and_pred_gives_the_same_x() {
    // `advance` (what `run` does) skips writing x0 and the prediction; the new x is the same
    // bits as `next_step`'s at every step, and x0/pred from `next_step` still satisfy the
    // ε target's identity x0 = (x − b·ε̂)/a with the pre-step x.
    let g = StageC::default();
    let cond: Vec<f32> = (0..B * PER).map(|i| (i % 13) as f32 / 13.0).collect();
    let opts = || SampleOpts {
        timesteps: 5,
        cfg: Cfg::Scale(4.0),
        cfg_rho: 0.7,
        seed: 5,
        ..Default::default()
    };
    let run = || {
        g.sample(toy_model, gdf::sampler::Ddpm, &cond, None, B, PER, opts())
            .unwrap()
    };
    let (mut full, mut lean) = (run(), run());
    let mut steps = 0;
    loop {
        let x_before = full.x().to_vec();
        let logsnr = full.logsnr_grid()[steps];
        let Some(step) = full.next_step().unwrap() else {
            assert!(!lean.advance().unwrap());
            break;
        };
        let (a, b) = gdf::scaler::Scaler::ab(&gdf::scaler::Vp, f64::from(logsnr));
        for j in [0, 1, 4097, B * PER - 1] {
            let want = (f64::from(x_before[j]) - b * f64::from(step.pred[j])) / a;
            assert!((f64::from(step.x0[j]) - want).abs() < 1e-4 * (1.0 + want.abs()));
        }
        let x = bits(step.x);
        assert!(lean.advance().unwrap());
        assert_eq!(x, bits(lean.x()), "step {steps}");
        steps += 1;
    }
    assert_eq!(steps, 5);
}

#[test]
fn a_sample_is_sampled_the_same_alone_and_in_a_batch() {
    // With the per-sample rescale nothing couples the samples of a batch.
    let cond: Vec<f32> = (0..B * PER).map(|i| (i % 13) as f32 / 13.0).collect();
    let batch = sample_run(B, 0, &cond, Rescale::PerSample);
    for s in [0, 2, 3] {
        let alone = sample_run(
            1,
            s as u32,
            &cond[s * PER..(s + 1) * PER],
            Rescale::PerSample,
        );
        assert_eq!(
            bits(&alone),
            bits(&batch[s * PER..(s + 1) * PER]),
            "sample {s}"
        );
    }
    // The original's whole-batch rescale does couple them (documented).
    let coupled = sample_run(B, 0, &cond, Rescale::Batch);
    let alone = sample_run(1, 2, &cond[2 * PER..3 * PER], Rescale::Batch);
    assert_ne!(bits(&alone), bits(&coupled[2 * PER..3 * PER]));
}

#[test]
fn a_guided_model_call_gets_the_current_x_twice() {
    // The run keeps [x; x] for the doubled model batch; the copy must follow every change of
    // x: steps, edits through `x_mut`, and unguided steps in between.
    use std::cell::Cell;
    let n = B * PER;
    let expect: Cell<Option<f32>> = Cell::new(None);
    let guided_calls = Cell::new(0usize);
    let model = |x: &[f32], c: &[f32], _i: &[f32], p: &mut [f32]| {
        if x.len() == 2 * n {
            guided_calls.set(guided_calls.get() + 1);
            assert_eq!(bits(&x[..n]), bits(&x[n..]), "the halves differ");
        }
        if let Some(v) = expect.take() {
            assert!(x[..n].iter().all(|&e| e == v), "x_mut's edit not seen");
        }
        toy_model(x, c, &vec![0.0; x.len()], p)
    };
    let opts = SampleOpts {
        timesteps: 8,
        cfg: Cfg::Scale(3.0),
        cfg_t_start: Some(0.6),
        seed: 5,
        ..Default::default()
    };
    let g = StageC::default();
    let mut run = g
        .sample(model, gdf::sampler::Ddpm, &[], None, B, PER, opts)
        .unwrap();
    let mut k = 0;
    while let Some(step) = run.next_step().unwrap() {
        assert_eq!(step.model_batch, if step.t <= 0.6 { 2 * B } else { B });
        k += 1;
        if k % 3 == 0 {
            run.x_mut().fill(0.25);
            expect.set(Some(0.25));
        }
    }
    assert!(
        guided_calls.get() >= 4,
        "{} guided calls",
        guided_calls.get()
    );
}

/// The standard normal CDF (Abramowitz–Stegun 7.1.26 via erf, |error| < 1.5e-7).
fn phi(x: f64) -> f64 {
    let z = x.abs() / core::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let y = 1.0
        - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
            + 0.254829592)
            * t
            * (-z * z).exp();
    if x >= 0.0 {
        0.5 * (1.0 + y)
    } else {
        0.5 * (1.0 - y)
    }
}

#[test]
fn noise_is_standard_normal() {
    let n = 1 << 20;
    let mut z = vec![0.0f32; n];
    fill_normal(2024, Purpose::Epsilon, 0, 0, 0, &mut z);
    let mean = z.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let var = z.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let skew = z
        .iter()
        .map(|&v| ((v as f64 - mean) / var.sqrt()).powi(3))
        .sum::<f64>()
        / n as f64;
    let kurt = z
        .iter()
        .map(|&v| ((v as f64 - mean) / var.sqrt()).powi(4))
        .sum::<f64>()
        / n as f64;
    let se = 1.0 / (n as f64).sqrt();
    assert!(mean.abs() < 5.0 * se, "mean {mean}");
    assert!(
        (var - 1.0).abs() < 5.0 * (2.0f64).sqrt() * se,
        "variance {var}"
    );
    assert!(skew.abs() < 5.0 * (6.0f64).sqrt() * se, "skewness {skew}");
    assert!(
        (kurt - 3.0).abs() < 5.0 * (24.0f64).sqrt() * se,
        "kurtosis {kurt}"
    );
    // Kolmogorov–Smirnov against N(0, 1): critical value at α = 0.001 is 1.95/√n.
    let mut s: Vec<f64> = z.iter().map(|&v| v as f64).collect();
    s.sort_by(f64::total_cmp);
    let d = s
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = phi(x);
            (f - i as f64 / n as f64)
                .abs()
                .max(((i + 1) as f64 / n as f64 - f).abs())
        })
        .fold(0.0, f64::max);
    assert!(d < 1.95 / (n as f64).sqrt(), "KS statistic {d}");
    // Chi-square over 40 equiprobable bins (39 dof; the 0.999 quantile is 72.1).
    let bins = 40;
    let mut counts = vec![0usize; bins];
    for &x in &s {
        counts[((phi(x) * bins as f64) as usize).min(bins - 1)] += 1;
    }
    let e = n as f64 / bins as f64;
    let chi2: f64 = counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum();
    assert!(chi2 < 72.1, "chi-square {chi2}");
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (
        a.iter().map(|&v| v as f64).sum::<f64>() / n,
        b.iter().map(|&v| v as f64).sum::<f64>() / n,
    );
    let cov: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - ma) * (y as f64 - mb))
        .sum();
    let va: f64 = a.iter().map(|&x| (x as f64 - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|&y| (y as f64 - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn noise_streams_are_independent() {
    let n = 1 << 16;
    let stream = |purpose, sample, step| {
        let mut z = vec![0.0f32; n];
        fill_normal(77, purpose, sample, step, 0, &mut z);
        z
    };
    let base = stream(Purpose::Sampler, 0, 0);
    let bound = 5.0 / (n as f64).sqrt();
    for (name, other) in [
        ("next sample", stream(Purpose::Sampler, 1, 0)),
        ("next step", stream(Purpose::Sampler, 0, 1)),
        ("other purpose", stream(Purpose::Epsilon, 0, 0)),
        ("far sample", stream(Purpose::Sampler, 1000, 0)),
    ] {
        let r = correlation(&base, &other);
        assert!(r.abs() < bound, "{name}: correlation {r}");
    }
    // Within a stream: neighbours (lag 1 and 4, the Philox block size) are uncorrelated, and
    // the two Box–Muller partners are uncorrelated in their squares too.
    for lag in [1, 2, 4] {
        let r = correlation(&base[..n - lag], &base[lag..]);
        assert!(r.abs() < bound, "lag {lag}: correlation {r}");
    }
    let sq: Vec<f32> = base.iter().map(|v| v * v).collect();
    let r = correlation(&sq[..n - 1], &sq[1..]);
    assert!(r.abs() < bound, "squares lag 1: correlation {r}");
    // The pointwise form gives the same numbers.
    assert_eq!(
        base[12345].to_bits(),
        normal(77, Purpose::Sampler, 0, 0, 12345).to_bits()
    );
}

fn mixture() -> GaussianMixture2 {
    GaussianMixture2::new(
        vec![0.5, 0.3, 0.2],
        vec![[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]],
        vec![
            [[0.30, 0.10], [0.10, 0.20]],
            [[0.20, -0.05], [-0.05, 0.25]],
            [[0.15, 0.0], [0.0, 0.15]],
        ],
    )
    .unwrap()
}

fn mixture_errors(eta: f64, steps: usize) -> (f64, f64, f64) {
    let gm = mixture();
    let g: Gdf<Cosine, Vp, Epsilon, LogSnr, P2> = Gdf::default();
    let model = |x: &[f64], c: &[f64], _: &[f64], p: &mut [f64]| gm.vp_epsilon(x, c, p);
    let opts = SampleOpts {
        timesteps: steps,
        cfg: Cfg::Off,
        seed: 7,
        ..Default::default()
    };
    let x = g
        .sample(model, DynSampler::Ddim { eta }, &[], None, 10_000, 2, opts)
        .unwrap()
        .run()
        .unwrap();
    gm.errors(&gm.stats(&x))
}

#[test]
fn sampling_a_gaussian_mixture_converges_as_steps_grow() {
    // 10 000 samples; exact draws already differ by ~0.002 / 0.015 / 0.011 (noise floor).
    let ddim50 = mixture_errors(0.0, 50);
    assert!(
        ddim50.0 < 0.02 && ddim50.1 < 0.05 && ddim50.2 < 0.04,
        "DDIM 50 steps: {ddim50:?}"
    );
    let ddpm100 = mixture_errors(1.0, 100);
    assert!(
        ddpm100.0 < 0.02 && ddpm100.1 < 0.05 && ddpm100.2 < 0.05,
        "DDPM 100 steps: {ddpm100:?}"
    );
    for eta in [0.0, 1.0] {
        let coarse = mixture_errors(eta, 5);
        let fine = mixture_errors(eta, 50);
        assert!(
            fine.1 < coarse.1 / 3.0,
            "η {eta}: means {coarse:?} → {fine:?}"
        );
        assert!(
            fine.0 < coarse.0 && fine.2 < coarse.2,
            "η {eta}: {coarse:?} → {fine:?}"
        );
    }
}
