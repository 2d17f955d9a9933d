//! The sampling builder (`Framework::sampling`) and fallible models.

use gdf::guidance::{ClassifierFree, Layout};
use gdf::prelude::*;
use gdf::sample::{Cfg, SampleOpts};
use gdf::sampling::Progress;
use gdf::solver::{AnySolver, CounterNoise, DpmPP2M, EulerAncestral, Grid, Run, UniPc};

gdf::gdf!(Vpx0 = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp, target: X0,
          noise_cond: LogSnr, loss_weight: Constant);
gdf::gdf!(VpEpsL = schedule: Cosine, scaler: Vp, target: Epsilon, noise_cond: LogSnr,
          loss_weight: Constant);
gdf::gdf!(VpEps = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp, target: Epsilon,
          noise_cond: CosineT, loss_weight: P2);

/// Data 0.5 + 0.5·N(0, 1) per element: the exact x0-denoiser at (a, b) is
/// `(s²·a·x + b²·μ)/(s²·a² + b²)`, with a = √sigmoid(λ), b = √sigmoid(−λ) (VP).
fn gaussian_x0(x: &[f64], logsnr: f64, out: &mut [f64]) {
    let (mu, s2) = (0.5, 0.25);
    let a2 = 1.0 / (1.0 + (-logsnr).exp());
    let (a, b2) = (a2.sqrt(), 1.0 - a2);
    for (o, &x) in out.iter_mut().zip(x) {
        *o = (s2 * a * x + b2 * mu) / (s2 * a2 + b2);
    }
}

#[test]
fn builder_equals_the_hand_written_solver_loop() -> gdf::Result<()> {
    let g = Vpx0::default();
    let (batch, per) = (3, 5);
    // The noise cond of LogSnr is λ itself, so the model can compute the exact denoiser.
    let model = |x: &[f64], c: &[f64], _i: &[f64], p: &mut [f64]| {
        let per = x.len() / c.len();
        for ((x, p), &c) in x.chunks(per).zip(p.chunks_mut(per)).zip(c) {
            gaussian_x0(x, c, p);
        }
    };
    let built = g
        .sampling(batch, per)
        .solver(UniPc::new())
        .steps(12)
        .seed(9)
        .run(model)?;

    // By hand: the same grid, the same counter-noise start, the same solver.
    let grid = Grid::from_schedule(g.schedule(), g.scaler(), 12, 1.0, 0.0, 1.0)?;
    let x0: Vec<f64> = (0..batch * per)
        .map(|i| {
            gdf::noise::normal(
                9,
                gdf::noise::Purpose::Init,
                (i / per) as u32,
                0,
                (i % per) as u64,
            ) as f64
        })
        .collect();
    let mut run = Run::new(UniPc::new(), grid, x0, batch, CounterNoise::new(9))?;
    let mut d = vec![0.0; batch * per];
    while let Some(req) = run.next_eval()? {
        let lam = req.level.lam;
        gaussian_x0(req.x, lam, &mut d);
        run.feed_x0(&d)?;
    }
    assert_eq!(built, run.into_x());
    Ok(())
}

#[test]
fn builder_samples_the_gaussian_with_its_moments() -> gdf::Result<()> {
    // 20 000 one-element samples of 0.5 + 0.5·N(0,1) through DPM++ 2M, 100 steps (the
    // cosine grid's large λ steps at its ends leave std 0.525 at 25 steps, 0.502 at 100:
    // second-order convergence).
    let n = 20_000;
    let model = |x: &[f64], c: &[f64], _i: &[f64], p: &mut [f64]| gaussian_x0(x, c[0], p);
    let x = Vpx0::default()
        .sampling(n, 1)
        .steps(100)
        .seed(1)
        .run(model)?;
    let mean = x.iter().sum::<f64>() / n as f64;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    // Standard errors: mean 0.5/√n ≈ 0.0035, std ≈ 0.0025.
    assert!((mean - 0.5).abs() < 0.015, "mean {mean}");
    assert!((var.sqrt() - 0.5).abs() < 0.015, "std {}", var.sqrt());
    Ok(())
}

/// x0-model: predicts 1.0 where its input is 1 and 0.5 elsewhere, for every element.
fn by_input(x: &[f64], c: &[f64], i: &[f64], p: &mut [f64]) {
    let per = x.len() / c.len();
    for (p, &inp) in p.chunks_mut(per).zip(i) {
        p.fill(if inp == 1.0 { 1.0 } else { 0.5 });
    }
}

#[test]
fn guided_calls_see_the_doubled_batch_and_combine_linearly() -> gdf::Result<()> {
    let (batch, per) = (2, 3);
    let cond = [1.0f64, 1.0];
    let uncond = [0.0f64, 0.0];
    let mut calls = Vec::new();
    let mut evals = Vec::new();
    let model = |x: &[f64], c: &[f64], i: &[f64], p: &mut [f64]| {
        calls.push((x.len(), c.len(), i.to_vec()));
        by_input(x, c, i, p)
    };
    let x = Vpx0::default()
        .sampling(batch, per)
        .cond(&cond)
        .uncond(&uncond)
        .cfg(3.0)
        .steps(6)
        .on_eval(|p: &Progress| evals.push((p.evals, p.total_evals, p.guided)))
        .run(model)?;
    assert_eq!(calls.len(), 6);
    for (xl, cl, i) in &calls {
        assert_eq!((*xl, *cl), (2 * batch * per, 2 * batch));
        assert_eq!(i, &vec![1.0, 1.0, 0.0, 0.0]);
    }
    assert_eq!(evals, (1..=6).map(|k| (k, 6, true)).collect::<Vec<_>>());
    assert!(x.iter().all(|v| v.is_finite()));

    // On a grid that ends at λ = +∞ the last step returns the guided D exactly:
    // 0.5 + 3·(1 − 0.5) = 2.
    let grid = Grid::new(&gdf::scaler::Vp, &[-6.0, -2.0, 2.0, f64::INFINITY])?;
    let x = Vpx0::default()
        .sampling(batch, per)
        .cond(&cond)
        .uncond(&uncond)
        .guidance(ClassifierFree::new(3.0)?)
        .layout(Layout::new(batch, &[per])?)
        .grid(grid)
        .run(by_input)?;
    assert!(x.iter().all(|&v| (v - 2.0).abs() < 1e-12), "{x:?}");
    Ok(())
}

#[test]
fn epsilon_target_is_converted_in_the_pass() -> gdf::Result<()> {
    // An ε-model exact for the point mass x0 = 0.25: ε = (x − a·0.25)/b, with λ read from
    // the noise cond (LogSnr: the cond is λ). On a grid ending at λ = +∞ the samples are
    // 0.25 up to rounding, for a multistep and a single-step solver alike.
    let model = |x: &[f64], c: &[f64], _i: &[f64], p: &mut [f64]| {
        let per = x.len() / c.len();
        for ((x, p), &l) in x.chunks(per).zip(p.chunks_mut(per)).zip(c) {
            let a2 = 1.0 / (1.0 + (-l).exp());
            let (a, b) = (a2.sqrt(), (1.0 - a2).sqrt());
            for (p, &x) in p.iter_mut().zip(x) {
                *p = (x - a * 0.25) / b;
            }
        }
    };
    for solver in ["dpmpp_2m", "heun", "unipc"] {
        let grid = Grid::new(&gdf::scaler::Vp, &[-5.0, -1.0, 3.0, 8.0, f64::INFINITY])?;
        let x = VpEpsL::default()
            .sampling(4, 3)
            .solver(AnySolver::from_name(solver)?)
            .grid(grid)
            .seed(2)
            .run(model)?;
        assert!(
            x.iter().all(|&v| (v - 0.25).abs() < 1e-12),
            "{solver}: {x:?}"
        );
    }
    Ok(())
}

#[test]
fn a_failing_model_stops_the_run_with_its_message() {
    let mut calls = 0;
    let flaky = |_x: &[f64], _c: &[f64], _i: &[f64], p: &mut [f64]| {
        calls += 1;
        if calls == 4 {
            return Err(std::io::Error::other("out of memory"));
        }
        p.fill(0.0);
        Ok(())
    };
    let err = Vpx0::default()
        .sampling(2, 2)
        .steps(10)
        .run(flaky)
        .unwrap_err();
    assert_eq!(
        err,
        GdfError::Model {
            step: 3,
            message: "out of memory".into()
        }
    );
    assert_eq!(err.to_string(), "the model failed at step 3: out of memory");

    // The classic sampling loop reports the same way.
    let mut calls = 0;
    let flaky = |_x: &[f32], _c: &[f32], _i: &[f32], p: &mut [f32]| {
        calls += 1;
        if calls == 2 {
            return Err(std::fmt::Error);
        }
        p.fill(0.0);
        Ok(())
    };
    let opts = SampleOpts {
        timesteps: 5,
        cfg: Cfg::Off,
        ..Default::default()
    };
    let err = VpEps::default()
        .sample(flaky, <sampler::Ddpm>::new(), &[], None, 1, 4, opts)
        .unwrap()
        .run()
        .unwrap_err();
    assert!(matches!(err, GdfError::Model { step: 1, .. }), "{err:?}");
}

#[test]
fn a_sub_batch_draws_what_the_full_batch_draws() -> gdf::Result<()> {
    // A stochastic solver: every draw is counter-based, so samples 2..4 of a batch of 4 equal
    // a batch of 2 placed at first_sample = 2, bit for bit.
    let model = |x: &[f64], c: &[f64], _i: &[f64], p: &mut [f64]| gaussian_x0(x, c[0], p);
    let run = |batch: usize, first: u32| {
        Vpx0::default()
            .sampling(batch, 3)
            .solver(EulerAncestral::new())
            .steps(8)
            .seed(5)
            .first_sample(first)
            .run(model)
    };
    let full = run(4, 0)?;
    let part = run(2, 2)?;
    assert_eq!(&full[6..], &part[..]);
    assert_ne!(&full[..6], &part[..]);
    Ok(())
}

#[test]
fn bad_settings_are_typed_errors() {
    let zero = |_x: &[f64], _c: &[f64], _i: &[f64], p: &mut [f64]| p.fill(0.0);
    let g = Vpx0::default();
    assert_eq!(
        g.sampling(2, 3)
            .cond(&[1.0, 2.0, 3.0])
            .run(zero)
            .unwrap_err(),
        GdfError::NotDivisible {
            what: "cond",
            len: 3,
            batch: 2
        }
    );
    assert_eq!(
        g.sampling(2, 3).x_init(&[0.0; 5]).run(zero).unwrap_err(),
        GdfError::LengthMismatch {
            what: "x_init",
            expected: 6,
            got: 5
        }
    );
    assert!(matches!(
        g.sampling(2, 3).cfg(f64::NAN).run(zero).unwrap_err(),
        GdfError::OutOfRange { .. } | GdfError::NonFinite { .. }
    ));
    assert!(g.sampling(2, 3).steps(0).run(zero).is_err());
    assert!(g
        .sampling(2, 3)
        .solver(AnySolver::from_name("dpmpp_2m").unwrap())
        .solver(DpmPP2M::new())
        .run(zero)
        .is_ok());
}
