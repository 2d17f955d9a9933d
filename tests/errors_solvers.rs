//! Bad solver settings, grids and loop use give typed errors that name the field, the value
//! and the accepted range; never a panic or a silent NaN.

use gdf::scaler::{Lerp, Vp};
use gdf::solver::*;
use gdf::GdfError;

fn out_of_range<T: std::fmt::Debug>(r: Result<T, GdfError>, field: &str, range: &str, v: f64) {
    match r {
        Err(
            e @ GdfError::OutOfRange {
                what,
                value,
                expected,
            },
        ) => {
            assert_eq!(what, field);
            assert!(
                value == v || (value.is_nan() && v.is_nan()),
                "{field}: value {value}, expected {v}"
            );
            assert!(expected.contains(range), "{field}: expected {expected:?}");
            let msg = e.to_string();
            assert!(msg.contains(field) && msg.contains(range), "{msg}");
        }
        other => panic!("{field}: expected OutOfRange, got {other:?}"),
    }
}

fn invalid<T: std::fmt::Debug>(r: Result<T, GdfError>, words: &[&str]) {
    match r {
        Err(GdfError::Invalid { message }) => {
            for w in words {
                assert!(message.contains(w), "{message:?} lacks {w:?}");
            }
        }
        other => panic!("expected Invalid mentioning {words:?}, got {other:?}"),
    }
}

#[test]
fn eta_and_s_noise() {
    out_of_range(EulerAncestral::with(-0.1, 1.0), "eta", ">= 0", -0.1);
    out_of_range(EulerAncestral::with(f64::NAN, 1.0), "eta", ">= 0", f64::NAN);
    out_of_range(EulerAncestral::with(1.0, 0.0), "s_noise", "> 0", 0.0);
    out_of_range(EulerAncestral::with(1.0, -2.0), "s_noise", "> 0", -2.0);
    out_of_range(Dpm2Ancestral::with(-1.0, 1.0), "eta", ">= 0", -1.0);
    out_of_range(DpmPP2SAncestral::with(1.0, 0.0), "s_noise", "> 0", 0.0);
    out_of_range(
        DpmPP2MSde::with(-0.5, 1.0, SolverType::Midpoint),
        "eta",
        ">= 0",
        -0.5,
    );
    out_of_range(
        DpmPP3MSde::with(1.0, f64::INFINITY),
        "s_noise",
        "> 0",
        f64::INFINITY,
    );
    out_of_range(DpmPPSde::with(-1.0, 1.0, 0.5), "eta", ">= 0", -1.0);
    out_of_range(DpmPPSde::with(1.0, 1.0, 0.0), "r", "(0, 1]", 0.0);
    out_of_range(DpmPPSde::with(1.0, 1.0, 1.5), "r", "(0, 1]", 1.5);
}

/// ComfyUI's gradient estimation, ER-SDE, iPNDM, SEEDS, RES, Heun++ and tAB-DEIS: their settings by name, and a flow's `−∞` start
/// (σ = ∞, where their steps in σ have no meaning) refused at the start.
#[test]
fn comfyui_solver_settings() {
    out_of_range(
        GradientEstimation::with(f64::NAN),
        "ge_gamma",
        "finite",
        f64::NAN,
    );
    out_of_range(ErSde::with(-0.5, 3), "s_noise", ">= 0", -0.5);
    out_of_range(
        ErSde::with(f64::INFINITY, 3),
        "s_noise",
        ">= 0",
        f64::INFINITY,
    );
    out_of_range(ErSde::with(1.0, 4), "max_stage", "1, 2 or 3", 4.0);
    out_of_range(ErSde::with(1.0, 0), "max_stage", "1, 2 or 3", 0.0);
    out_of_range(IpndmSigma::with(5, true), "max_order", "1 to 4", 5.0);
    out_of_range(IpndmSigma::with(0, false), "max_order", "1 to 4", 0.0);
    out_of_range(Seeds::two(-1.0, 1.0, 0.5, false), "eta", ">= 0", -1.0);
    out_of_range(
        Seeds::two(1.0, f64::NAN, 0.5, true),
        "s_noise",
        ">= 0",
        f64::NAN,
    );
    out_of_range(Seeds::two(1.0, 1.0, 1.5, false), "r", "(0, 1]", 1.5);
    out_of_range(
        Seeds::three(1.0, 1.0, 0.0, 0.5),
        "r_1",
        "0 < r_1 < r_2 <= 1",
        0.0,
    );
    out_of_range(
        Seeds::three(1.0, 1.0, 0.6, 0.4),
        "r_2",
        "0 < r_1 < r_2 <= 1",
        0.4,
    );
    out_of_range(Seeds::exp_heun_sde(1.0, -1.0), "s_noise", ">= 0", -1.0);
    out_of_range(
        ResMultistep::with(f64::INFINITY, 1.0),
        "eta",
        ">= 0",
        f64::INFINITY,
    );
    let flow = Grid::new(&Lerp, &[f64::NEG_INFINITY, 0.0, f64::INFINITY]).unwrap();
    invalid(
        start(GradientEstimation::new(), &flow),
        &["gradient_estimation", "finite first logSNR"],
    );
    invalid(
        start(ErSde::new(), &flow),
        &["er_sde", "finite first logSNR"],
    );
}

#[test]
fn churn_fields() {
    let c = |f: &dyn Fn(&mut Churn)| {
        let mut c = Churn::default();
        f(&mut c);
        c
    };
    out_of_range(
        Euler::with_churn(c(&|c| c.s_churn = -1.0)),
        "s_churn",
        ">= 0",
        -1.0,
    );
    out_of_range(
        Heun::with_churn(c(&|c| c.s_noise = 0.0)),
        "s_noise",
        "> 0",
        0.0,
    );
    out_of_range(
        Dpm2::with_churn(c(&|c| c.s_tmin = f64::INFINITY)),
        "s_tmin",
        ">= 0",
        f64::INFINITY,
    );
    out_of_range(
        EulerDiscrete::with_churn(c(&|c| c.s_tmax = f64::NAN)),
        "s_tmax",
        ">= 0",
        f64::NAN,
    );
    assert!(Euler::with_churn(c(&|c| c.s_tmax = f64::INFINITY)).is_ok());
}

#[test]
fn orders() {
    for o in [0, 4] {
        out_of_range(
            DpmSolverMultistep::with(DpmSolverSettings {
                order: o,
                ..Default::default()
            }),
            "solver_order",
            "1 to 3",
            o as f64,
        );
        out_of_range(
            UniPc::with(UniPcSettings {
                order: o,
                ..Default::default()
            }),
            "solver_order",
            "1 to 3",
            o as f64,
        );
    }
    out_of_range(Lms::with_order(5), "order", "1 to 4", 5.0);
    out_of_range(Lms::with_order(0), "order", "1 to 4", 0.0);
}

#[test]
fn grids() {
    // Non-monotone.
    invalid(Grid::new(&Vp, &[-2.0, 1.0, 0.5]), &["increase", "grid[2]"]);
    invalid(Grid::new(&Vp, &[-2.0, -2.0, 1.0]), &["increase", "grid[1]"]);
    // Non-finite where not allowed.
    match Grid::new(&Vp, &[-2.0, f64::NAN, 1.0]) {
        Err(GdfError::NonFinite { index: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    match Grid::new(&Vp, &[-2.0, f64::INFINITY, 3.0]) {
        Err(GdfError::NonFinite { index: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    match Grid::new(&Lerp, &[0.0, f64::NEG_INFINITY]) {
        Err(GdfError::NonFinite { index: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    out_of_range(
        Grid::new(&Vp, &[0.0]),
        "logsnr grid length",
        "at least 2",
        1.0,
    );
    // Allowed: −∞ first, +∞ last, a repeated last point.
    assert!(Grid::new(&Lerp, &[f64::NEG_INFINITY, 0.0, f64::INFINITY]).is_ok());
    assert!(Grid::new(&Vp, &[-3.0, 1.0, 1.0]).is_ok());
}

fn start<S: Solver>(s: S, g: &Grid) -> Result<(), GdfError> {
    Run::new(s, g.clone(), vec![0.1f64; 4], 2, NoNoise).map(|_| ())
}

#[test]
fn grid_too_short_or_infinite_start() {
    let one = Grid::new(&Vp, &[-3.0, f64::INFINITY]).unwrap();
    // k-diffusion's 2M/3M SDE samplers fail on a one-step grid; gdf refuses it.
    invalid(
        start(DpmPP2MSde::new(), &one),
        &["dpmpp_2m_sde", "at least 2 steps", "got 1"],
    );
    invalid(start(DpmPP3MSde::new(), &one), &["at least 2 steps"]);
    // The other multistep solvers run it as one first-order step, as the references do
    // (tests/solver_loop.rs checks the numbers); so do the first-order solvers.
    assert!(start(DpmPP2M::new(), &one).is_ok());
    assert!(start(UniPc::new(), &one).is_ok());
    assert!(start(DpmSolverMultistep::new(), &one).is_ok());
    assert!(start(Lms::new(), &one).is_ok());
    assert!(start(Euler::new(), &one).is_ok());
    let flow = Grid::new(&Lerp, &[f64::NEG_INFINITY, 0.0, 2.0, f64::INFINITY]).unwrap();
    for r in [
        start(UniPc::new(), &flow),
        start(Lms::new(), &flow),
        start(Heun::new(), &flow),
        start(Dpm2::new(), &flow),
        start(DpmPP3MSde::new(), &flow),
    ] {
        invalid(r, &["finite first logSNR", "clamp"]);
    }
    assert!(start(DpmPP2M::new(), &flow).is_ok());
    assert!(start(FlowMatchEuler::new(), &flow).is_ok());
}

#[test]
fn loop_misuse_and_bad_model_output() {
    let g = Grid::new(&Vp, &[-3.0, 0.0, 3.0]).unwrap();
    match Run::new(Euler::new(), g.clone(), vec![0.0f64; 5], 2, NoNoise) {
        Err(GdfError::NotDivisible { .. }) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
    match Run::new(Euler::new(), g.clone(), vec![0.0, f64::NAN], 2, NoNoise) {
        Err(GdfError::NonFinite { what: "x_init", .. }) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
    let mut run = Run::new(Euler::new(), g.clone(), vec![0.1f64, 0.2], 2, NoNoise).unwrap();
    invalid(run.feed_x0(&[0.0, 0.0]), &["next_eval"]);
    run.next_eval().unwrap();
    match run.feed_x0(&[0.0]) {
        Err(GdfError::LengthMismatch {
            expected: 2,
            got: 1,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    match run.feed_x0(&[0.0, f64::NAN]) {
        Err(GdfError::NonFinite { index: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    // The run is poisoned, not silently carrying NaN on.
    assert!(run.next_eval().is_err());
    // A stochastic solver without a noise source.
    let mut run = Run::new(EulerAncestral::new(), g, vec![0.1f64, 0.2], 2, NoNoise).unwrap();
    run.next_eval().unwrap();
    invalid(run.feed_x0(&[0.0, 0.0]), &["NoNoise"]);
}

#[test]
fn unknown_solver_name() {
    invalid(
        AnySolver::from_name("dpmpp_9m"),
        &["dpmpp_9m", "unknown solver"],
    );
    // dpm_fast needs its evaluation budget: said so, with the constructor to use.
    invalid(
        AnySolver::from_name("sample_dpm_fast"),
        &["dpm_fast", "DpmFast::new(nfe)"],
    );
    // dpm_adaptive chooses its levels as it goes: its own driver.
    invalid(
        AnySolver::from_name("sample_dpm_adaptive"),
        &["dpm_adaptive", "DpmAdaptive::new"],
    );
    assert!(matches!(
        DpmFast::new(0),
        Err(GdfError::OutOfRange { what: "nfe", .. })
    ));
    // Its grid has ⌊nfe/3⌋ + 1 steps and a finite end.
    let g = DpmFast::grid(&gdf::scaler::Vp, 0.1, 10.0, 9).unwrap();
    invalid(
        Run::new(DpmFast::new(12).unwrap(), g, vec![0.0f64], 1, NoNoise).map(|_| ()),
        &["nfe = 12", "5 steps", "the grid has 4"],
    );
    for n in [
        "euler",
        "sample_euler_ancestral",
        "heun",
        "dpm_2",
        "dpm_2_ancestral",
        "lms",
        "dpmpp_2s_ancestral",
        "dpmpp_sde",
        "dpmpp_2m",
        "dpmpp_2m_sde",
        "dpmpp_3m_sde",
        "DPMSolverMultistepScheduler",
        "UniPCMultistepScheduler",
        "EulerDiscreteScheduler",
        "FlowMatchEulerDiscreteScheduler",
        "DEISMultistepScheduler",
        "deis",
        "PNDMScheduler",
        "plms",
        "IPNDMScheduler",
    ] {
        assert!(AnySolver::from_name(n).is_ok(), "{n}");
    }
}

#[test]
fn guidance_rescale_phi() {
    let g = Grid::new(&Vp, &[-3.0, 0.0, 3.0]).unwrap();
    let mut run = Run::new(Euler::new(), g, vec![0.1f64, 0.2], 1, NoNoise).unwrap();
    run.next_eval().unwrap();
    let p = [0.0, 0.1];
    out_of_range(
        run.feed_cfg_rescaled(
            &gdf::target::Epsilon,
            &p,
            &p,
            3.0,
            f64::NAN,
            gdf::sample::Rescale::Batch,
        ),
        "phi (guidance rescale)",
        "[0, 1]",
        f64::NAN,
    );
    match run.feed_cfg(&gdf::target::Epsilon, &p, &p[..1], 3.0) {
        Err(GdfError::LengthMismatch {
            what: "unconditional output",
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn overflowing_coefficients_are_an_error_not_nan() {
    // Heun's correction a'·½(e^h − 1) overflows for a step of λ = −1500 → 10.
    let g = Grid::new(&Vp, &[-1500.0, 10.0, 20.0]).unwrap();
    let mut run = Run::new(Heun::new(), g, vec![0.3f64], 1, NoNoise).unwrap();
    let r = (|| {
        while run.next_eval()?.is_some() {
            run.feed_x0(&[0.1])?;
        }
        Ok::<_, GdfError>(())
    })();
    match r {
        Err(GdfError::NonFinite { what, .. }) => assert!(what.contains("coefficient")),
        other => panic!("{other:?} (x = {:?})", run.x()),
    }
}

#[test]
fn an_epsilon_prediction_at_pure_noise_names_the_target_and_the_level() {
    use gdf::target::{Epsilon, RectifiedFlows, V, X0};
    // A grid starting at λ = −∞ (a = 0): x = ε there, so an ε-prediction gives no x0. The
    // error must say so, not blame the model's output for the division by a = 0.
    let grid = Grid::new(&Lerp, &[f64::NEG_INFINITY, 0.0, 2.0]).unwrap();
    let mut run = Run::new(Euler::new(), grid.clone(), vec![0.3f64; 4], 2, NoNoise).unwrap();
    run.next_eval().unwrap();
    let m = run.feed(&Epsilon, &[0.1; 4]).unwrap_err().to_string();
    for want in ["`Epsilon`", "λ = -inf", "a = 0", "finite λ"] {
        assert!(m.contains(want), "{m:?} should contain {want:?}");
    }
    let m = run
        .feed_cfg(&Epsilon, &[0.1; 4], &[0.0; 4], 3.0)
        .unwrap_err()
        .to_string();
    assert!(m.contains("`Epsilon`"), "{m}");
    // Targets defined at a = 0 run: x0 = p, x0 = a·x − b·v = −v, x0 = x − v (RF velocity).
    for (x0_of_p, which) in [
        (Box::new(|p: f64| p) as Box<dyn Fn(f64) -> f64>, 0),
        (Box::new(|p: f64| -p), 1),
        (Box::new(|p: f64| 0.3 - p), 2),
    ] {
        let mut run = Run::new(Euler::new(), grid.clone(), vec![0.3f64; 4], 2, NoNoise).unwrap();
        run.next_eval().unwrap();
        let p = [0.1; 4];
        match which {
            0 => run.feed(&X0, &p),
            1 => run.feed(&V, &p),
            _ => run.feed(&RectifiedFlows, &p),
        }
        .unwrap();
        // Euler from pure noise to λ = 0 (a = b = 1/2 under Lerp): x = a·x0 + b·x.
        let want = 0.5 * x0_of_p(0.1) + 0.5 * 0.3;
        assert!(
            run.x().iter().all(|&v| (v - want).abs() < 1e-12),
            "{which}: {:?}",
            run.x()
        );
    }
}

#[test]
fn lms_refuses_levels_too_close_for_its_coefficients() {
    // Five levels a few ulps apart, then the step to σ = 0: the order-4 extrapolation's
    // σ differences lose their digits, and the coefficients no longer sum to the step length
    // (the Lagrange basis is a partition of unity). The run used to return values near 1e28
    // with no error.
    let mut l: Vec<f64> = (0..6).map(|k| 1.0 + k as f64 * 1e-15).collect();
    l.push(f64::INFINITY);
    let grid = Grid::new(&Vp, &l).unwrap();
    let e = Run::new(Lms::new(), grid, vec![0.1f64; 4], 2, NoNoise)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    for want in ["lms", "step", "sum to", "too close"] {
        assert!(e.contains(want), "{e:?} should contain {want:?}");
    }
    // Real grids pass the check: k-diffusion's Karras σ at many step counts.
    for n in [1, 2, 3, 10, 100, 1000, 10000] {
        let g = gdf::grid::kdiffusion::Karras::default().grid(n).unwrap();
        let g = Grid::new(&Vp, &g.logsnr).unwrap();
        assert!(
            Run::new(Lms::new(), g, vec![0.1f64; 4], 2, NoNoise).is_ok(),
            "{n}"
        );
    }
    // The same levels spread to 1e-3 apart run, and x stays bounded.
    let l: Vec<f64> = (0..6).map(|k| 1.0 + k as f64 * 1e-3).collect();
    let mut run = Run::new(
        Lms::new(),
        Grid::new(&Vp, &l).unwrap(),
        vec![0.1f64; 4],
        2,
        NoNoise,
    )
    .unwrap();
    while run.next_eval().unwrap().is_some() {
        run.feed_x0(&[0.2; 4]).unwrap();
    }
    assert!(run.x().iter().all(|v| v.abs() < 1.0), "{:?}", run.x());
}

#[test]
fn dpm_adaptive_settings_and_misuse_are_named() {
    let s = DpmAdaptive::new(0.03, 14.6).unwrap();
    out_of_range(s.with_order(4), "order", "2 or 3", 4.0);
    out_of_range(s.with_tolerances(-0.1, 0.01), "rtol", "≥ 0", -0.1);
    out_of_range(s.with_tolerances(0.05, f64::NAN), "atol", "≥ 0", f64::NAN);
    out_of_range(s.with_tolerances(0.0, 0.0), "atol", "positive", 0.0);
    out_of_range(
        s.with_controller(0.0, [0.0, 1.0, 0.0], 0.81),
        "h_init",
        "positive",
        0.0,
    );
    out_of_range(
        s.with_controller(0.05, [0.0, f64::INFINITY, 0.0], 0.81),
        "icoeff",
        "finite",
        f64::INFINITY,
    );
    out_of_range(s.with_eta(-1.0, 1.0), "eta", "", -1.0);
    assert!(DpmAdaptive::new(0.5, 0.1).is_err());
    // A public field set by hand is checked when the run starts.
    let mut bad = s;
    bad.accept_safety = -1.0;
    out_of_range(
        bad.start(Vp, vec![0.1f64], 1, NoNoise).map(|_| ()),
        "accept_safety",
        "positive",
        -1.0,
    );
    // Feeding without a request, a NaN output, a wrong length.
    let mut run = s.start(Vp, vec![0.1f64, 0.2], 2, NoNoise).unwrap();
    invalid(run.feed_x0(&[0.0, 0.0]), &["no pending evaluation"]);
    run.next_eval().unwrap().unwrap();
    assert!(matches!(
        run.feed_x0(&[f64::NAN, 0.0]),
        Err(GdfError::NonFinite { .. })
    ));
    assert!(run.feed_x0(&[0.0]).is_err());
    // An ε-prediction converts; at a finite level it is fine.
    assert!(run.feed(&gdf::target::Epsilon, &[0.0, 0.0]).is_ok());
}

/// A model whose output jumps with every call keeps every step rejected: the run stops with a
/// typed error after `DpmAdaptive::MAX_ATTEMPTS` attempts instead of looping.
#[test]
fn dpm_adaptive_gives_up_after_max_attempts() {
    let s = DpmAdaptive::new(0.03, 14.6).unwrap();
    let mut k = 0u64;
    let e = s
        .start(Vp, vec![0.1f64], 1, NoNoise)
        .unwrap()
        .run(|_, _, d| {
            k += 1;
            d[0] = if k % 2 == 0 { 1e6 } else { -1e6 };
            Ok(())
        })
        .unwrap_err();
    invalid(Err::<(), _>(e), &["dpm_adaptive", "100000", "rtol"]);
}

/// `AdaptiveRun::feed_cfg` is the run fed `u + w·(c − u)`: the same attempts and the same
/// sample, bit for bit, for an x0 and a v target; a non-finite `w` or a short branch is refused
/// by name.
#[test]
fn dpm_adaptive_cfg_feeds_the_guided_output() {
    use gdf::target::{Target, V, X0};
    let s = DpmAdaptive::new(0.03, 14.6).unwrap();
    let x0 = vec![0.7f64, -0.4, 0.2, 1.1];
    let cond = |x: &[f64], lam: f64| -> Vec<f64> {
        x.iter()
            .map(|&v| (v * (1.0 + lam.abs() * 0.1)).tanh())
            .collect()
    };
    let uncond = |x: &[f64], _: f64| -> Vec<f64> { x.iter().map(|&v| 0.3 * v.tanh()).collect() };
    fn both<T: Target>(
        t: &T,
        s: &DpmAdaptive,
        x0: &[f64],
        c: &dyn Fn(&[f64], f64) -> Vec<f64>,
        u: &dyn Fn(&[f64], f64) -> Vec<f64>,
    ) {
        let w = 3.5;
        let mut a = s.start(Vp, x0.to_vec(), 2, NoNoise).unwrap();
        let mut b = s.start(Vp, x0.to_vec(), 2, NoNoise).unwrap();
        loop {
            let ra = a.next_eval().unwrap().map(|r| (r.x.to_vec(), r.level.lam));
            let rb = b.next_eval().unwrap().map(|r| (r.x.to_vec(), r.level.lam));
            assert_eq!(ra, rb);
            let Some((x, lam)) = ra else { break };
            let (pc, pu) = (c(&x, lam), u(&x, lam));
            let g: Vec<f64> = pc.iter().zip(&pu).map(|(c, u)| u + w * (c - u)).collect();
            a.feed_cfg(t, &pc, &pu, w).unwrap();
            b.feed(t, &g).unwrap();
        }
        assert_eq!(a.attempts(), b.attempts());
        assert_eq!(a.x(), b.x());
        assert!(a.info().n_accept > 3);
    }
    both(&X0, &s, &x0, &cond, &uncond);
    both(&V, &s, &x0, &cond, &uncond);
    let mut run = s.start(Vp, x0.clone(), 2, NoNoise).unwrap();
    run.next_eval().unwrap();
    out_of_range(
        run.feed_cfg(&X0, &[0.0; 4], &[0.0; 4], f64::NAN),
        "w (guidance scale)",
        "finite",
        f64::NAN,
    );
    assert!(run.feed_cfg(&X0, &[0.0; 4], &[0.0; 3], 2.0).is_err());
}
