//! `gdf::interop::comfy` beyond the golden cases: typed errors naming the field, and
//! properties each scheduler has by construction.

use gdf::interop::comfy::{calculate_sigmas, ModelSampling, Scheduler, SCHEDULER_NAMES};
use gdf::GdfError;

fn samplings() -> Vec<ModelSampling> {
    vec![
        ModelSampling::default(),
        ModelSampling::Discrete {
            linear_start: 0.00085,
            linear_end: 0.012,
            timesteps: 1000,
            zsnr: true,
        },
        ModelSampling::Flow {
            shift: 3.0,
            multiplier: 1000.0,
        },
        ModelSampling::Flux { shift: 1.15 },
        ModelSampling::ContinuousEdm {
            sigma_min: 0.002,
            sigma_max: 80.0,
        },
    ]
}

/// The field an `OutOfRange` or `Invalid` error names.
fn field_of(e: GdfError, field: &str) {
    let msg = e.to_string();
    match &e {
        GdfError::OutOfRange { what, .. } => assert_eq!(*what, field, "{msg}"),
        GdfError::Invalid { message } => assert!(message.contains(field), "{msg}"),
        other => panic!("expected an error naming {field}, got {other:?}"),
    }
}

#[test]
fn bad_settings_are_refused_by_name() {
    let sd = ModelSampling::default();
    let e = "karas".parse::<Scheduler>().unwrap_err();
    field_of(e.clone(), "scheduler");
    assert!(e.to_string().contains("\"karras\""), "{e}");
    field_of(
        calculate_sigmas(&sd, &Scheduler::Normal, 0).unwrap_err(),
        "n",
    );
    field_of(
        calculate_sigmas(&sd, &Scheduler::KlOptimal, 1).unwrap_err(),
        "steps",
    );
    field_of(
        calculate_sigmas(&sd, &Scheduler::Karras { rho: 0.0 }, 5).unwrap_err(),
        "rho",
    );
    field_of(
        calculate_sigmas(
            &sd,
            &Scheduler::Beta {
                alpha: -1.0,
                beta: 0.6,
            },
            5,
        )
        .unwrap_err(),
        "alpha",
    );
    for (tn, ls) in [(0.025, Some(0)), (0.025, Some(5)), (1.5, None)] {
        let s = Scheduler::LinearQuadratic {
            threshold_noise: tn,
            linear_steps: ls,
        };
        let e = calculate_sigmas(&sd, &s, 5).unwrap_err();
        field_of(
            e,
            if tn > 1.0 {
                "threshold_noise"
            } else {
                "linear_steps"
            },
        );
    }
    let bad = [
        (
            ModelSampling::Discrete {
                linear_start: 0.00085,
                linear_end: 1.0,
                timesteps: 1000,
                zsnr: false,
            },
            "linear_end",
        ),
        (
            ModelSampling::Discrete {
                linear_start: f64::NAN,
                linear_end: 0.012,
                timesteps: 1000,
                zsnr: false,
            },
            "linear_start",
        ),
        (
            ModelSampling::Discrete {
                linear_start: 0.00085,
                linear_end: 0.012,
                timesteps: 1,
                zsnr: false,
            },
            "timesteps",
        ),
        (
            ModelSampling::Flow {
                shift: 0.0,
                multiplier: 1000.0,
            },
            "shift",
        ),
        (
            ModelSampling::Flow {
                shift: 3.0,
                multiplier: -1.0,
            },
            "multiplier",
        ),
        (ModelSampling::Flux { shift: f64::NAN }, "shift"),
        (ModelSampling::Flux { shift: 200.0 }, "shift"),
        (
            ModelSampling::ContinuousEdm {
                sigma_min: 80.0,
                sigma_max: 0.002,
            },
            "sigma_min",
        ),
    ];
    for (ms, field) in bad {
        field_of(
            calculate_sigmas(&ms, &Scheduler::Simple, 5).unwrap_err(),
            field,
        );
        field_of(ms.sigmas().unwrap_err(), field);
    }
}

/// Every scheduler on every model sampling: σ's from the table's top down, never rising, all
/// numbers, the last one 0 (λ = +∞).
#[test]
fn every_grid_descends_to_zero() {
    for ms in samplings() {
        let table = ms.sigmas().unwrap();
        let top = table[table.len() - 1] as f64;
        for name in SCHEDULER_NAMES {
            let s: Scheduler = name.parse().unwrap();
            for steps in [2, 9, 40] {
                let g = calculate_sigmas(&ms, &s, steps).unwrap();
                let w = &g.sigmas;
                assert!(
                    w.windows(2).all(|p| p[0] >= p[1]),
                    "{name} on {ms:?}: {w:?}"
                );
                assert_eq!(*w.last().unwrap(), 0.0, "{name}");
                assert_eq!(*g.logsnr.last().unwrap(), f64::INFINITY, "{name}");
                assert!(w[0] <= top * (1.0 + 1e-6), "{name}: {} above {top}", w[0]);
                assert!(g.logsnr.iter().all(|l| !l.is_nan()), "{name}");
            }
        }
    }
}

/// `simple` at as many steps as the table has entries is the whole table, top first.
#[test]
fn simple_at_the_table_length_is_the_table() {
    for ms in [
        ModelSampling::default(),
        ModelSampling::Flux { shift: 1.15 },
    ] {
        let t = ms.sigmas().unwrap();
        let g = calculate_sigmas(&ms, &Scheduler::Simple, t.len()).unwrap();
        let want: Vec<f64> = t.iter().rev().map(|&s| s as f64).chain([0.0]).collect();
        assert_eq!(g.sigmas, want);
    }
}

/// `kl_optimal` is uniform in `atan σ` between the table's ends.
#[test]
fn kl_optimal_is_uniform_in_arctan() {
    let ms = ModelSampling::default();
    let t = ms.sigmas().unwrap();
    let (lo, hi) = ((t[0] as f64).atan(), (t[999] as f64).atan());
    let g = calculate_sigmas(&ms, &Scheduler::KlOptimal, 11).unwrap();
    for (i, s) in g.sigmas[..11].iter().enumerate() {
        let want = hi + (lo - hi) * i as f64 / 10.0;
        assert!((s.atan() - want).abs() < 1e-6, "{i}: {s}");
    }
}

/// The discrete model's timestep of a table σ is its index; the flow model's is
/// `σ·multiplier`.
#[test]
fn timesteps_invert_the_table() {
    let sd = ModelSampling::default();
    let t = sd.sigmas().unwrap();
    let idx = [0usize, 1, 250, 998, 999];
    let ts = sd.timesteps(&idx.map(|i| t[i])).unwrap();
    assert_eq!(ts, idx.map(|i| i as f64).to_vec());
    let sd3 = ModelSampling::Flow {
        shift: 3.0,
        multiplier: 1000.0,
    };
    assert_eq!(sd3.timesteps(&[1.0, 0.5]).unwrap(), vec![1000.0, 500.0]);
}

/// Every ComfyUI sampler name is either a gdf solver by that name or one of those
/// `SAMPLER_NAMES` documents as not (CFG++ variants, ComfyUI's SA-Solver, the two that choose
/// their own levels), and `sampler_grid` takes every name.
#[test]
fn comfy_sampler_names_are_solvers_or_documented() {
    use gdf::interop::comfy::{sampler, sampler_grid, SAMPLER_NAMES};
    use gdf::solver::AnySolver;
    let g = calculate_sigmas(&ModelSampling::default(), &Scheduler::Normal, 5).unwrap();
    let mut missing = Vec::new();
    for name in SAMPLER_NAMES {
        assert!(sampler_grid(name, &g).is_ok(), "{name}");
        let documented = name.contains("cfg_pp")
            || name.starts_with("cfgpp")
            || name.starts_with("dpm_fast")
            || name.starts_with("dpm_adaptive");
        match (sampler(name, &ModelSampling::default()), documented) {
            (Ok(_), false) | (Err(_), true) => {}
            (Ok(_), true) => panic!("{name} is a solver now: update SAMPLER_NAMES' doc"),
            (Err(e), false) => missing.push(format!("{name}: {e}")),
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
    let sd = ModelSampling::default();
    assert!(matches!(
        sampler("deis", &sd).unwrap(),
        AnySolver::DeisTab(_)
    ));
    assert!(matches!(
        sampler("sa_solver", &sd).unwrap(),
        AnySolver::SaSolverComfy(_)
    ));
    let e = AnySolver::from_name("sa_solver").unwrap_err().to_string();
    assert!(e.contains("interop::comfy::sampler"), "{e}");
    assert!(matches!(
        AnySolver::from_name("deis").unwrap(),
        AnySolver::Deis(_)
    ));
    // ComfyUI's ddim is its euler; uni_pc's grid ends at σ = 0.001 (float32).
    assert_eq!(
        format!("{:?}", AnySolver::from_name("ddim").unwrap()),
        format!("{:?}", AnySolver::from_name("euler").unwrap())
    );
    let u = sampler_grid("uni_pc_bh2", &g).unwrap();
    assert_eq!(u.sigmas[..5], g.sigmas[..5]);
    assert_eq!(u.logsnr[5], -2.0 * (0.001f32 as f64).ln());
    field_of(sampler_grid("unipc", &g).unwrap_err(), "sampler");
}

/// The scheduler nodes refuse what they cannot build, by field.
#[test]
fn scheduler_nodes_refuse_by_name() {
    use gdf::interop::comfy::{align_your_steps, basic_scheduler, sd_turbo, AysModel};
    let sd = ModelSampling::default();
    field_of(sd_turbo(&sd, 11, 1.0).unwrap_err(), "steps");
    field_of(sd_turbo(&sd, 0, 1.0).unwrap_err(), "steps");
    field_of(sd_turbo(&sd, 2, 0.0).unwrap_err(), "denoise");
    field_of(
        align_your_steps(AysModel::Sd1, 10, 1.5).unwrap_err(),
        "denoise",
    );
    field_of(align_your_steps(AysModel::Sd1, 0, 1.0).unwrap_err(), "n");
    // round(2·0.2) = 0 steps left.
    field_of(
        align_your_steps(AysModel::Sd1, 2, 0.2).unwrap_err(),
        "denoise",
    );
    field_of("SD2".parse::<AysModel>().unwrap_err(), "model_type");
    let k = Scheduler::Karras { rho: 7.0 };
    field_of(basic_scheduler(&sd, &k, 10, 0.0).unwrap_err(), "denoise");
    field_of(basic_scheduler(&sd, &k, 10, 1e-9).unwrap_err(), "denoise");
    // A scheduler whose grid is shorter than its steps keeps its own tail: beta drops repeats.
    let b: Scheduler = "beta".parse().unwrap();
    let full = calculate_sigmas(&sd, &b, 1000).unwrap();
    let tail = basic_scheduler(&sd, &b, 600, 0.6).unwrap();
    assert!(full.sigmas.len() < 1001);
    assert_eq!(tail.sigmas[..], full.sigmas[full.sigmas.len() - 601..]);
    // At 10 steps the published levels themselves, the last replaced by 0.
    let g = align_your_steps(AysModel::Svd, 10, 1.0).unwrap();
    let want: Vec<f64> = AysModel::Svd.levels()[..10]
        .iter()
        .map(|&v| v as f32 as f64)
        .chain([0.0])
        .collect();
    assert_eq!(g.sigmas, want);
}

/// `SaSolverComfy::with` refuses bad settings by name; `percent_to_sigma` has ComfyUI's ends.
#[test]
fn sa_solver_settings_and_percent_to_sigma() {
    use gdf::solver::SaSolverComfy;
    let w = (5.0, 0.5);
    for (r, field) in [
        (
            SaSolverComfy::with(0, 4, 1.0, 1.0, w, false),
            "predictor_order",
        ),
        (
            SaSolverComfy::with(4, 4, 1.0, 1.0, w, false),
            "predictor_order",
        ),
        (
            SaSolverComfy::with(3, 5, 1.0, 1.0, w, false),
            "corrector_order",
        ),
        (SaSolverComfy::with(3, 4, -1.0, 1.0, w, false), "eta"),
        (
            SaSolverComfy::with(3, 4, 1.0, 1.0, (0.5, 5.0), false),
            "sigma_end",
        ),
    ] {
        field_of(r.unwrap_err(), field);
    }
    let sd = ModelSampling::default();
    assert_eq!(sd.percent_to_sigma(0.0).unwrap(), 999999999.9);
    assert_eq!(sd.percent_to_sigma(1.0).unwrap(), 0.0);
    let t = sd.sigmas().unwrap();
    // Halfway is timestep 499.5: between the table's entries 499 and 500.
    let mid = sd.percent_to_sigma(0.5).unwrap();
    assert!(t[499] as f64 <= mid && mid <= t[500] as f64, "{mid}");
    let flux = ModelSampling::Flux { shift: 1.15 };
    assert_eq!(flux.percent_to_sigma(0.0).unwrap(), 1.0);
}
