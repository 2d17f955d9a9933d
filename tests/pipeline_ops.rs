//! Pipeline operations beyond the diffusers golden: the 16-bit conversions against the `half`
//! crate (every f16/bf16 value, and f32 inputs around every rounding boundary), a bf16/f16
//! latent run against the f32 run (documented tolerance), dynamic thresholding's quantile
//! against a full sort, and the typed errors.

use gdf::pipeline::half::{bf16, f16, Half, HalfRun};
use gdf::pipeline::{quantile_abs, strength, Inpaint, Threshold};
use gdf::scaler::Vp;
use gdf::solver::*;
use gdf::GdfError;

#[test]
fn half_conversions_match_the_half_crate() {
    // Every 16-bit pattern widens exactly (NaNs stay NaN).
    for h in 0..=u16::MAX {
        let (a, b) = (f16::from_bits(h), bf16::from_bits(h));
        for (got, want) in [(Half::to_f32(a), a.to_f32()), (Half::to_f32(b), b.to_f32())] {
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{h:#06x}: {got} vs {want}"
            );
        }
    }
    // Narrowing: every f32 whose top bits span all exponents, with low bits at, just below
    // and just above the halfway points (ties to even), plus a pseudo-random sweep.
    let mut probes: Vec<u32> = Vec::new();
    for hi in 0..=u16::MAX as u32 {
        for lo in [
            0u32, 1, 0xFFF, 0x1000, 0x1001, 0x7FFF, 0x8000, 0x8001, 0xFFFF,
        ] {
            probes.push((hi << 16) | lo);
        }
    }
    let mut s = 0x9E37_79B9u32;
    for _ in 0..2_000_000 {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        probes.push(s);
    }
    for b in probes {
        let x = f32::from_bits(b);
        let (h, w) = (<f16 as Half>::from_f32(x), f16::from_f32(x));
        assert!(
            h.to_bits() == w.to_bits() || (h.is_nan() && w.is_nan()),
            "f16 of {b:#010x} ({x:e}): {:#06x} vs {:#06x}",
            h.to_bits(),
            w.to_bits()
        );
        let (h, w) = (<bf16 as Half>::from_f32(x), bf16::from_f32(x));
        assert!(
            h.to_bits() == w.to_bits() || (h.is_nan() && w.is_nan()),
            "bf16 of {b:#010x} ({x:e}): {:#06x} vs {:#06x}",
            h.to_bits(),
            w.to_bits()
        );
    }
}

/// The exact denoiser of 1-D data N(μ, s²) per element: D = (s²·a·x + b²·μ)/(s²a² + b²).
fn mixture(mu: &[f32], s2: f32, x: &[f32], a: f32, b: f32, d: &mut [f32]) {
    for ((d, &x), &m) in d.iter_mut().zip(x).zip(mu) {
        *d = (s2 * a * x + b * b * m) / (s2 * a * a + b * b);
    }
}

/// bf16 keeps 8 significant bits (relative rounding 2⁻⁹ ≈ 0.2%), f16 11 (2⁻¹² ≈ 0.024%).
/// A 24-step DPM++ 2M run on data of scale ~1 whose latent and model I/O are rounded every
/// step stays within `tol` of the f32 run: documented as 3e-2 (bf16: about four bf16 ulps at |x| ≈ 1.5) and 4e-3 (f16, the same in f16 ulps)
/// absolute, max over elements.
fn half_run_vs_f32<H: Half>(tol: f32) -> f32 {
    let n = 4096;
    let mu: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.37).sin() * 1.5).collect();
    let x_init: Vec<f32> = (0..n).map(|i| ((i as f32) * 1.13).cos() * 2.0).collect();
    let lams: Vec<f64> = (0..24)
        .map(|i| -8.0 + i as f64 * 16.0 / 23.0)
        .chain([f64::INFINITY])
        .collect();
    let grid = Grid::new(&Vp, &lams).unwrap();
    let s2 = 0.04f32;
    let f32_run = Run::new(DpmPP2M::new(), grid.clone(), x_init.clone(), 2, NoNoise).unwrap();
    let want = f32_run
        .run(|x, l, d| {
            mixture(&mu, s2, x, l.a as f32, l.b as f32, d);
            Ok(())
        })
        .unwrap();
    let xh: Vec<H> = x_init.iter().map(|&v| H::from_f32(v)).collect();
    let run = HalfRun::new(DpmPP2M::new(), grid, &xh, 2, NoNoise).unwrap();
    let (mut wide, mut dd) = (vec![0f32; n], vec![0f32; n]);
    let got = run
        .run(|x: &[H], l, d: &mut [H]| {
            for (w, h) in wide.iter_mut().zip(x) {
                *w = h.to_f32();
            }
            mixture(&mu, s2, &wide, l.a as f32, l.b as f32, &mut dd);
            for (o, &v) in d.iter_mut().zip(&dd) {
                *o = H::from_f32(v);
            }
            Ok(())
        })
        .unwrap();
    let err = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g.to_f32() - w).abs())
        .fold(0f32, f32::max);
    assert!(err <= tol, "{}: max |x − x_f32| = {err}", H::NAME);
    // Not trivially equal: the half run did round.
    assert!(err > 0.0);
    err
}

#[test]
fn bf16_and_f16_latent_runs_stay_near_the_f32_run() {
    let eb = half_run_vs_f32::<bf16>(3e-2);
    let eh = half_run_vs_f32::<f16>(4e-3);
    eprintln!("max |x − x_f32|: bf16 {eb:e}, f16 {eh:e}");
    assert!(eh < eb);
}

#[test]
fn quantile_matches_a_full_sort() {
    let mut scratch = Vec::new();
    let mut s = 12345u64;
    for n in [1usize, 2, 3, 7, 64, 1000] {
        let xs: Vec<f64> = (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 6.0
            })
            .collect();
        let mut sorted: Vec<f64> = xs.iter().map(|v| v.abs()).collect();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        for ratio in [0.0, 0.1, 0.5, 0.9, 0.995, 1.0] {
            let r = ratio * (n - 1) as f64;
            let (lo, hi) = (r.floor() as usize, r.ceil() as usize);
            let w = r - r.floor();
            let want = sorted[lo] + w * (sorted[hi] - sorted[lo]);
            let got = quantile_abs(&xs, ratio, &mut scratch).unwrap();
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                "n {n} q {ratio}"
            );
        }
    }
}

/// torch.quantile (2.15) on an f32 sample rounds `q` to f32 but computes the rank
/// `q·(n − 1)` and its fraction in f64: the numbers below are torch's and diffusers'
/// (`DDPMScheduler._threshold_sample`, float32). gdf took the f32 product (0.999·999 =
/// 998.00104 in f32): a weight of 0.0010376 where torch has 0.0010129.
#[test]
fn f32_quantile_rank_is_torchs_f64_rank() {
    let mut scratch = Vec::new();
    // Order statistics 0 and 1 around the rank: the quantile is torch's weight itself.
    for (n, ratio, below, want) in [
        (1000usize, 0.999, 998usize, 0.001_012_861_728_668_212_9f64),
        (1000, 0.9999, 998, 0.900_083_422_660_827_6),
        (64, 0.995, 62, 0.685_000_300_407_409_7),
    ] {
        let xs: Vec<f32> = (0..n).map(|i| if i > below { 1.0 } else { 0.0 }).collect();
        let got = quantile_abs(&xs, ratio, &mut scratch).unwrap();
        // torch's f32 result, printed as the f64 of that f32 (exact)
        let want = want as f32;
        assert_eq!(
            got.to_bits(),
            want.to_bits(),
            "n {n} q {ratio}: {got} vs {want}"
        );
    }
    // diffusers' thresholding (ratio 0.999, sample_max_value 10) of 999 × 2.0 and one −4.0:
    // s = torch.quantile = 2.002025604248047, x0 = 2/s, −4 → −1.
    let mut x0 = vec![2.0f32; 1000];
    x0[999] = -4.0;
    Threshold::dynamic(0.999, 10.0)
        .unwrap()
        .apply(&mut x0, 1)
        .unwrap();
    assert_eq!(
        x0[0].to_bits(),
        (0.998_988_211_154_937_7f64 as f32).to_bits(),
        "{}",
        x0[0]
    );
    assert_eq!(x0[999], -1.0);
}

#[test]
fn dynamic_thresholding_is_per_sample() {
    // Sample 0 stays within [−1, 1] (s = 1: plain clipping does nothing); sample 1's |x0|
    // quantile is 4, clamped to max 2.
    let mut x0 = vec![0.5f64, -0.25, 1.0, -0.75, 4.0, -4.0, 4.0, 4.0];
    Threshold::dynamic(0.5, 2.0)
        .unwrap()
        .apply(&mut x0, 2)
        .unwrap();
    assert_eq!(x0, [0.5, -0.25, 1.0, -0.75, 1.0, -1.0, 1.0, 1.0]);
}

#[test]
fn bad_settings_are_typed_errors() {
    assert!(matches!(
        Threshold::clip(0.0),
        Err(GdfError::OutOfRange {
            what: "clip_sample_range",
            ..
        })
    ));
    assert!(matches!(
        Threshold::dynamic(0.9, 0.5),
        Err(GdfError::OutOfRange {
            what: "sample_max_value",
            ..
        })
    ));
    assert!(matches!(
        strength::diffusers_start(10, 1.2),
        Err(GdfError::OutOfRange {
            what: "strength",
            ..
        })
    ));
    assert!(matches!(
        strength::diffusers_start(10, 0.05),
        Err(GdfError::Invalid { .. })
    ));
    assert_eq!(strength::diffusers_start(10, 1.0).unwrap(), 0);
    assert!(strength::handoff_index(&[999.0, 500.0], 0.5, 1000, 3).is_err());
    let grid = Grid::new(&Vp, &[-2.0, 0.0, 2.0]).unwrap();
    // KDPM2 has no clip_sample in diffusers (Heun has, since it loads HeunDiscreteScheduler).
    let mut dpm2 = Run::new(Dpm2::new(), grid.clone(), vec![0.0f64; 4], 1, NoNoise).unwrap();
    let e = dpm2
        .set_threshold(Threshold::clip(1.0).unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("dpm_2"), "{e}");
    let mut heun = Run::new(Heun::new(), grid.clone(), vec![0.0f64; 4], 1, NoNoise).unwrap();
    heun.set_threshold(Threshold::clip(1.0).unwrap()).unwrap();
    let mut run = Run::new(Euler::new(), grid, vec![0.0f64; 4], 2, NoNoise).unwrap();
    let p = Inpaint::new(vec![0.0; 6], vec![0.0; 6], vec![1.0; 3], 2).unwrap();
    assert!(matches!(
        run.set_inpaint(p),
        Err(GdfError::LengthMismatch { .. })
    ));
    assert!(matches!(
        Inpaint::new(vec![0.0f64; 4], vec![0.0; 4], vec![0.5; 3], 2),
        Err(GdfError::LengthMismatch { .. })
    ));
    assert!(matches!(
        Inpaint::new(vec![0.0f64; 4], vec![0.0; 4], vec![f64::NAN; 2], 2),
        Err(GdfError::OutOfRange { what: "mask", .. })
    ));
    // A non-finite model output under dynamic thresholding names the prediction.
    let grid = Grid::new(&Vp, &[-2.0, 0.0, 2.0]).unwrap();
    let mut run = Run::new(Euler::new(), grid, vec![0.0f64; 4], 1, NoNoise).unwrap();
    run.set_threshold(Threshold::dynamic(0.9, 1.5).unwrap())
        .unwrap();
    run.next_eval().unwrap();
    let e = run.feed_x0(&[0.0, f64::NAN, 0.0, 0.0]).unwrap_err();
    assert!(matches!(e, GdfError::NonFinite { index: 1, .. }), "{e}");
}

/// The exact ε-prediction at level `l` when the data is a point mass at `image`.
fn exact_eps(x: &[f64], image: &[f64], l: Level) -> Vec<f64> {
    x.iter()
        .zip(image)
        .map(|(x, i)| (x - l.a * i) / l.b)
        .collect()
}

#[test]
fn ddim_inversion_inverts_diffusers_ddim() {
    // DDIMInverseScheduler's steps from a config, then DDIMScheduler's grid from the same
    // config sampled with DDIM (Euler): the two walk the same levels in opposite directions.
    // With the exact model of a point mass (whose ε stays constant along a DDIM path),
    // conditioned on the level the sample is at, the image comes back to rounding.
    use gdf::interop::diffusers::{load, load_inverse, PipelineKind};
    use gdf::target::Epsilon;
    let image = vec![0.9f64, -0.4, 0.2, 1.3, -1.1, 0.05];
    for (spacing, n) in [("leading", 10), ("trailing", 25), ("leading", 1)] {
        let cfg = format!(
            r#"{{"_class_name": "DDIMScheduler", "beta_schedule": "scaled_linear",
                "beta_start": 0.00085, "beta_end": 0.012, "timestep_spacing": "{spacing}",
                "clip_sample": false, "set_alpha_to_one": true}}"#
        );
        let inv = load_inverse(&cfg).unwrap();
        let mut run = inv.inversion(n, image.clone(), 2).unwrap();
        // A fixed ε for the first step, from the clean level (where ε is not defined by x).
        let first = [0.3, -1.2, 0.8, 0.1, 0.5, -0.7];
        while let Some(req) = run.next_eval().unwrap() {
            let eps = if req.step.from.b == 0.0 {
                first.to_vec()
            } else {
                exact_eps(req.x, &image, req.step.from)
            };
            run.feed(&inv.target, &eps).unwrap();
        }
        let noise = run.into_x();
        // The noise is the image diffused to the noisiest level with that ε.
        let top = inv.steps(n).unwrap()[n - 1].to;
        for ((z, i), e) in noise.iter().zip(&image).zip(first) {
            assert!((z - (top.a * i + top.b * e)).abs() < 1e-12, "{spacing} {n}");
        }
        let fwd = load(&cfg, PipelineKind::StableDiffusion).unwrap();
        let grid = fwd.solver_grid(&fwd.grid(n).unwrap()).unwrap();
        let mut back = Run::new(Euler::new(), grid, noise, 2, NoNoise).unwrap();
        while let Some(req) = back.next_eval().unwrap() {
            let eps = exact_eps(req.x, &image, req.level);
            back.feed(&Epsilon, &eps).unwrap();
        }
        for (x, i) in back.x().iter().zip(&image) {
            assert!((x - i).abs() < 1e-12, "{spacing} {n}: {x} vs {i}");
        }
    }
}

/// diffusers' trailing timesteps are numpy's `arange(T, 0, −T/N)` values rounded half to
/// even; numpy fills them as `T + i·δ` with `δ = (T − T/N) − T`, whose last bit decides the
/// ties (1000/48: 937.5 is 937.4999…, timestep 936). The values are diffusers 0.42.1's
/// `DDIMInverseScheduler(timestep_spacing="trailing", num_train_timesteps=T).set_timesteps(N)`.
#[test]
fn ddim_inversion_trailing_timesteps_are_numpys() {
    use gdf::interop::diffusers::load_inverse;
    let cases: [(usize, usize, &[i64]); 2] = [
        (
            1000,
            48,
            &[
                20, 41, 61, 82, 103, 124, 145, 166, 186, 207, 228, 249, 270, 291, 311, 332, 353,
                374, 395, 416, 436, 457, 478, 499, 520, 541, 561, 582, 603, 624, 645, 666, 686,
                707, 728, 749, 770, 791, 811, 832, 853, 874, 895, 916, 936, 957, 978, 999,
            ],
        ),
        (
            999,
            14,
            &[
                70, 142, 213, 284, 356, 427, 498, 570, 641, 713, 784, 855, 927, 998,
            ],
        ),
    ];
    for (t_train, n, want) in cases {
        let cfg =
            format!(r#"{{"timestep_spacing": "trailing", "num_train_timesteps": {t_train}}}"#);
        let inv = load_inverse(&cfg).unwrap();
        assert_eq!(inv.timesteps(n).unwrap(), want, "T = {t_train}, {n} steps");
    }
}

/// DDIMInverseScheduler's deprecated `set_alpha_to_zero`: where it is set, its value becomes
/// `set_alpha_to_one` (diffusers 0.42.1: `from_config({"set_alpha_to_zero": false})` starts
/// from `ᾱ₀ = 0.9999`, `{"set_alpha_to_zero": true, "set_alpha_to_one": false}` from 1, a
/// `null` is absent). Other schedulers' loaders ignore it, as diffusers does.
#[test]
fn ddim_inversion_reads_the_deprecated_set_alpha_to_zero() {
    use gdf::interop::diffusers::{load, load_inverse, PipelineKind};
    let start = |cfg: &str| load_inverse(cfg).unwrap().steps(10).unwrap()[0].from.a;
    let abar0 = 1.0 - 0.0001f32; // the default linear table's ᾱ₀
    let a0 = f64::from(abar0).sqrt();
    assert_eq!(start(r#"{"set_alpha_to_zero": false}"#), a0);
    assert_eq!(
        start(r#"{"set_alpha_to_zero": true, "set_alpha_to_one": false}"#),
        1.0
    );
    assert_eq!(
        start(r#"{"set_alpha_to_zero": null, "set_alpha_to_one": false}"#),
        a0
    );
    let m = load_inverse(r#"{"set_alpha_to_zero": 0}"#)
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("set_alpha_to_zero") && m.contains("true or false"),
        "{m}"
    );
    let ddim = r#"{"_class_name": "DDIMScheduler", "set_alpha_to_zero": false}"#;
    assert_eq!(
        load(ddim, PipelineKind::StableDiffusion).unwrap().ignored,
        ["set_alpha_to_zero"]
    );
}

/// A step whose result overflows the float type is an error naming it, not NaN: in f32,
/// `x0 = (x − b·ε)/a` at `λ = −200` (`a = e^−100`, a subnormal) is past f32's range. The
/// sample and the step count stay as they were; the same steps in f64 stay finite.
#[test]
fn ddim_inversion_names_a_step_that_overflows() {
    use gdf::pipeline::invert::Inversion;
    use gdf::target::Epsilon;
    let grid = Grid::new(&Vp, &[-220.0, -200.0, 0.0, f64::INFINITY]).unwrap();
    let pred = |k: usize| [0.3 + 0.2 * k as f64, 0.1 - 0.3 * k as f64];
    let mut inv = Inversion::<f32>::new(&grid, vec![0.5, -0.2], 1).unwrap();
    for k in 0..2 {
        inv.feed(&Epsilon, &pred(k).map(|p| p as f32)).unwrap();
    }
    let before = inv.x().to_vec();
    let e = inv.feed(&Epsilon, &pred(2).map(|p| p as f32)).unwrap_err();
    assert!(
        matches!(e, GdfError::NonFinite { what, .. } if what.starts_with("inverted sample")),
        "{e}"
    );
    assert_eq!((inv.x(), inv.steps_done()), (&before[..], 2));
    let mut wide = Inversion::<f64>::new(&grid, vec![0.5, -0.2], 1).unwrap();
    for k in 0..3 {
        wide.feed(&Epsilon, &pred(k)).unwrap();
    }
    assert!(wide.x().iter().all(|v| v.is_finite()));
}

#[test]
fn ddim_inversion_refuses_what_diffusers_cannot_do() {
    use gdf::interop::diffusers::load_inverse;
    use gdf::pipeline::invert::{Inversion, InvertStep};
    use gdf::target::{Epsilon, X0};
    let err = |e: GdfError, what: &str| {
        let m = e.to_string();
        assert!(m.contains(what), "{m:?} should name {what:?}");
    };
    // Fields: DDIMInverseScheduler has no linspace spacing; a typo is no field at all.
    err(
        load_inverse(r#"{"timestep_spacing": "linspace"}"#).unwrap_err(),
        "timestep_spacing",
    );
    // Set after loading, it is refused when used (it ran as leading before).
    let mut set_later = load_inverse("{}").unwrap();
    set_later.spacing = gdf::grid::discrete::Spacing::Linspace;
    err(set_later.timesteps(10).unwrap_err(), "timestep_spacing");
    assert!(set_later.inversion(10, vec![0.1f64; 2], 1).is_err());
    err(
        load_inverse(r#"{"steps_ofset": 1}"#).unwrap_err(),
        "steps_ofset",
    );
    err(
        load_inverse(r#"{"prediction_type": "flow_prediction"}"#).unwrap_err(),
        "prediction_type",
    );
    err(
        load_inverse(r#"{"clip_sample_range": -1.0}"#).unwrap_err(),
        "clip_sample_range",
    );
    // Counts: none, more than the table, numpy's extra trailing timestep, an offset past it.
    let inv = load_inverse("{}").unwrap();
    for n in [0, 1001] {
        err(inv.timesteps(n).unwrap_err(), "num_inference_steps");
    }
    let trailing = load_inverse(r#"{"timestep_spacing": "trailing"}"#).unwrap();
    err(trailing.timesteps(61).unwrap_err(), "num_inference_steps");
    // The advice names counts that work (numpy gives n + 1 timesteps for 121 and 122, and
    // for 974, 975 and 976 of 1000).
    err(trailing.timesteps(61).unwrap_err(), "are 60 or 62");
    err(trailing.timesteps(121).unwrap_err(), "are 120 or 123");
    err(trailing.timesteps(975).unwrap_err(), "are 973 or 977");
    for n in [120, 123, 973, 977] {
        assert_eq!(trailing.timesteps(n).unwrap().len(), n);
    }
    assert_eq!(trailing.timesteps(60).unwrap().len(), 60);
    assert_eq!(trailing.timesteps(62).unwrap().len(), 62);
    err(
        load_inverse(r#"{"steps_offset": 200}"#)
            .unwrap()
            .timesteps(10)
            .unwrap_err(),
        "steps_offset",
    );
    // An x0-prediction at ᾱ = 1 (diffusers' default start) has no ε: diffusers divides by 0.
    let x0_pred = load_inverse(r#"{"prediction_type": "sample"}"#).unwrap();
    let mut run = x0_pred.inversion(4, vec![0.5f64; 4], 1).unwrap();
    let m = run.feed(&X0, &[0.1; 4]).unwrap_err().to_string();
    assert!(m.contains("set_alpha_to_one"), "{m}");
    // From a noised start it runs.
    let ok = load_inverse(r#"{"prediction_type": "sample", "set_alpha_to_one": false}"#).unwrap();
    let x = ok
        .inversion(4, vec![0.5f64; 4], 1)
        .unwrap()
        .run(&ok.target, |_, _, p| {
            p.fill(0.25);
            Ok(())
        })
        .unwrap();
    assert!(x.iter().all(|v| v.is_finite()));
    // The engine: steps toward noise only, a whole batch, finite values.
    let grid = Grid::new(&Vp, &[-3.0, 0.0, 3.0]).unwrap();
    let steps = Inversion::new(&grid, vec![0.1f64; 2], 1)
        .unwrap()
        .steps()
        .to_vec();
    let back = InvertStep {
        from: steps[0].to,
        to: steps[0].from,
        timestep: None,
    };
    assert!(Inversion::from_steps(vec![back], vec![0.1f64; 2], 1).is_err());
    assert!(Inversion::from_steps(vec![], vec![0.1f64; 2], 1).is_err());
    err(Inversion::new(&grid, vec![0.1f64; 3], 2).unwrap_err(), "x");
    err(
        Inversion::new(&grid, vec![f64::NAN, 0.0], 1).unwrap_err(),
        "x[0]",
    );
    let mut run = Inversion::new(&grid, vec![0.1f64; 2], 1).unwrap();
    err(run.feed(&Epsilon, &[0.1]).unwrap_err(), "pred");
    err(
        run.feed(&Epsilon, &[0.1, f64::INFINITY]).unwrap_err(),
        "pred[1]",
    );
    run.feed(&Epsilon, &[0.1, 0.2]).unwrap();
    run.feed(&Epsilon, &[0.1, 0.2]).unwrap();
    assert!(run.next_eval().unwrap().is_none());
    err(run.feed(&Epsilon, &[0.1, 0.2]).unwrap_err(), "done");
}
