//! `gdf::interop::diffusers::load`: every field it cannot honour is a typed error naming the
//! field and its value; what it records instead of applying (thresholds, approximations,
//! fields diffusers ignores too) is there.

use gdf::interop::diffusers::{load, PipelineKind, Threshold};
use gdf::schedule::Schedule;
use gdf::solver::{NoNoise, Run, Solver};
use gdf::GdfError;

const SD: PipelineKind = PipelineKind::StableDiffusion;

/// The error of loading `json`, which must be a `Config` error naming `field`; its message
/// must quote `value`.
fn config_err(json: &str, pipeline: PipelineKind, field: &str, value: &str) -> String {
    let e = match load(json, pipeline) {
        Ok(_) => panic!("{json} loaded, expected an error on `{field}`"),
        Err(e) => e,
    };
    match &e {
        GdfError::Config { field: f, .. } => assert_eq!(f, field, "{e}"),
        other => panic!("expected a Config error on `{field}`, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains(&format!("`{field}`")), "{msg}");
    assert!(msg.contains(value), "{msg} should quote {value}");
    msg
}

#[test]
fn unknown_fields_and_classes_are_errors() {
    config_err(
        r#"{"_class_name": "DDIMScheduler", "beta_schedul": "linear"}"#,
        SD,
        "beta_schedul",
        "\"linear\"",
    );
    let m = config_err(
        r#"{"_class_name": "ScoreSdeVeScheduler"}"#,
        SD,
        "_class_name",
        "ScoreSdeVeScheduler",
    );
    assert!(m.contains("DDIMScheduler"), "{m}");
    config_err(r#"{"beta_start": 0.1}"#, SD, "_class_name", "null");
    config_err(r#"[1, 2]"#, SD, "(file)", "[1,2]");
    config_err(r#"{"_class_name": "#, SD, "(file)", "_class_name");
}

#[test]
fn values_gdf_cannot_honour_are_errors() {
    config_err(
        r#"{"_class_name": "DDIMScheduler", "beta_start": "small"}"#,
        SD,
        "beta_start",
        "\"small\"",
    );
    let m = config_err(
        r#"{"_class_name": "EulerDiscreteScheduler", "timestep_spacing": "middle"}"#,
        SD,
        "timestep_spacing",
        "\"middle\"",
    );
    assert_eq!(
        m,
        "config field `timestep_spacing` is \"middle\", expected one of \"linspace\", \
         \"leading\", \"trailing\""
    );
    config_err(
        r#"{"_class_name": "DDIMScheduler", "beta_schedule": "sigmoid"}"#,
        SD,
        "beta_schedule",
        "\"sigmoid\"",
    );
    config_err(
        r#"{"_class_name": "DDIMScheduler", "prediction_type": "flow_prediction"}"#,
        SD,
        "prediction_type",
        "\"flow_prediction\"",
    );
    config_err(
        r#"{"_class_name": "DPMSolverMultistepScheduler", "algorithm_type": "dpmsolver"}"#,
        SD,
        "algorithm_type",
        "\"dpmsolver\"",
    );
    config_err(
        r#"{"_class_name": "DDPMScheduler", "variance_type": "learned_range"}"#,
        SD,
        "variance_type",
        "\"learned_range\"",
    );
    config_err(
        r#"{"_class_name": "UniPCMultistepScheduler", "predict_x0": false}"#,
        SD,
        "predict_x0",
        "false",
    );
    config_err(
        r#"{"_class_name": "UniPCMultistepScheduler", "solver_type": "bh3"}"#,
        SD,
        "solver_type",
        "\"bh3\"",
    );
    // Flow sigmas need a flow pipeline (and flow_prediction, see below).
    let msg = config_err(
        r#"{"_class_name": "DPMSolverMultistepScheduler", "use_flow_sigmas": true}"#,
        SD,
        "_class_name",
        "DPMSolverMultistepScheduler",
    );
    assert!(msg.contains("use_flow_sigmas"), "{msg}");
    config_err(
        r#"{"_class_name": "EulerDiscreteScheduler", "use_karras_sigmas": true,
            "use_beta_sigmas": true}"#,
        SD,
        "use_karras_sigmas",
        "true",
    );
    config_err(
        r#"{"_class_name": "EulerDiscreteScheduler", "timestep_type": "continuous"}"#,
        SD,
        "timestep_type",
        "\"continuous\"",
    );
    config_err(
        r#"{"_class_name": "DDPMWuerstchenScheduler", "s": 0.008, "scaler": 2.0}"#,
        PipelineKind::StableCascade { shift: 1.0 },
        "scaler",
        "2.0",
    );
    config_err(
        r#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "invert_sigmas": true}"#,
        PipelineKind::Sd3 {
            image_seq_len: None,
        },
        "invert_sigmas",
        "true",
    );
    config_err(
        r#"{"_class_name": "EDMDPMSolverMultistepScheduler", "sigma_schedule": "linear"}"#,
        SD,
        "sigma_schedule",
        "\"linear\"",
    );
    // Numbers out of range keep their typed range errors.
    let e = load(r#"{"_class_name": "DDIMScheduler", "beta_end": 1.5}"#, SD).unwrap_err();
    assert!(
        matches!(e, GdfError::OutOfRange { what: "beta_end", value, .. } if value == 1.5),
        "{e:?}"
    );
    let e = load(
        r#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift_terminal": 1.5}"#,
        PipelineKind::Sd3 {
            image_seq_len: None,
        },
    )
    .and_then(|l| l.grid(4))
    .unwrap_err();
    assert!(
        matches!(
            e,
            GdfError::OutOfRange {
                what: "shift_terminal",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn the_pipeline_must_fit_the_scheduler() {
    let flow = r#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0}"#;
    config_err(flow, SD, "_class_name", "FlowMatchEulerDiscreteScheduler");
    config_err(
        r#"{"_class_name": "DDIMScheduler"}"#,
        PipelineKind::Flux {
            image_seq_len: 4096.0,
        },
        "_class_name",
        "Flux",
    );
    config_err(
        r#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "use_dynamic_shifting": true}"#,
        PipelineKind::Sd3 {
            image_seq_len: None,
        },
        "use_dynamic_shifting",
        "true",
    );
    // SD3's transformer takes σ·1000, Flux's σ: the same config, two noise conds.
    use gdf::noise_cond::NoiseCond;
    let sd3 = load(
        flow,
        PipelineKind::Sd3 {
            image_seq_len: None,
        },
    )
    .unwrap();
    let flux = load(
        flow,
        PipelineKind::Flux {
            image_seq_len: 4096.0,
        },
    )
    .unwrap();
    assert_eq!(sd3.framework.noise_cond.noise_cond(0.0f64), 500.0);
    assert_eq!(flux.framework.noise_cond.noise_cond(0.0f64), 0.5);
}

#[test]
fn ddim_needs_even_steps() {
    // DDIM steps from t to t − N//n; linspace timesteps for 7 steps are uneven.
    let l = load(
        r#"{"_class_name": "DDIMScheduler", "timestep_spacing": "linspace"}"#,
        SD,
    )
    .unwrap();
    let e = l.grid(7).unwrap_err();
    assert!(
        matches!(&e, GdfError::Config { field, .. } if field == "timestep_spacing"),
        "{e:?}"
    );
    // 10 steps over 1000: linspace rounds to 999, 888, …: uneven too; leading is fine.
    assert!(l.grid(10).is_err());
    let l = load(r#"{"_class_name": "DDIMScheduler"}"#, SD).unwrap();
    let g = l.grid(10).unwrap();
    assert_eq!(
        g.timesteps.unwrap().to_f64(),
        vec![900.0, 800.0, 700.0, 600.0, 500.0, 400.0, 300.0, 200.0, 100.0, 0.0]
    );
    // set_alpha_to_one defaults to true for DDIM: the last step goes to σ = 0.
    assert_eq!(g.logsnr[10], f64::INFINITY);
    assert!(l.grid(0).is_err());
    assert!(l.grid(1001).is_err());
    // PNDM's default is false: the last step goes to ᾱ₀.
    let l = load(
        r#"{"_class_name": "PNDMScheduler", "skip_prk_steps": true}"#,
        SD,
    )
    .unwrap();
    assert!(l.grid(10).unwrap().logsnr[10].is_finite());
}

#[test]
fn thresholds_are_recorded_not_dropped() {
    // DDIM's clip_sample defaults to true (range 1): the pipeline stage a run applies.
    let l = load(r#"{"_class_name": "DDIMScheduler"}"#, SD).unwrap();
    assert_eq!(l.threshold, Threshold::Clip { range: 1.0 });
    // Out-of-range values are refused by name.
    let e = load(
        r#"{"_class_name": "DDIMScheduler", "thresholding": true, "dynamic_thresholding_ratio": 1.5}"#,
        SD,
    )
    .unwrap_err();
    assert!(
        matches!(&e, GdfError::Config { field, .. } if field == "dynamic_thresholding_ratio"),
        "{e}"
    );
    let l = load(
        r#"{"_class_name": "DDIMScheduler", "clip_sample": true, "clip_sample_range": 1.5}"#,
        SD,
    )
    .unwrap();
    assert_eq!(l.threshold, Threshold::Clip { range: 1.5 });
    let l = load(
        r#"{"_class_name": "DPMSolverMultistepScheduler", "thresholding": true,
            "dynamic_thresholding_ratio": 0.99, "sample_max_value": 1.5}"#,
        SD,
    )
    .unwrap();
    assert_eq!(
        l.threshold,
        Threshold::Dynamic {
            ratio: 0.99,
            max_value: 1.5
        }
    );
    let l = load(
        r#"{"_class_name": "DDIMScheduler", "clip_sample": false}"#,
        SD,
    )
    .unwrap();
    assert_eq!(l.threshold, Threshold::None);
    assert!(l.approximations.is_empty(), "{:?}", l.approximations);
}

#[test]
fn ignored_fields_and_approximations_are_listed() {
    // SDXL's shipped file carries DDIM/PNDM fields EulerDiscreteScheduler does not read.
    let sdxl = r#"{"_class_name": "EulerDiscreteScheduler", "_diffusers_version": "0.19.0.dev0",
        "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
        "clip_sample": false, "interpolation_type": "linear", "num_train_timesteps": 1000,
        "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": false,
        "skip_prk_steps": true, "steps_offset": 1, "timestep_spacing": "leading",
        "trained_betas": null, "use_karras_sigmas": false}"#;
    let l = load(sdxl, SD).unwrap();
    let mut ig = l.ignored.clone();
    ig.sort();
    assert_eq!(
        ig,
        [
            "clip_sample",
            "sample_max_value",
            "set_alpha_to_one",
            "skip_prk_steps"
        ]
    );
    assert!(l.approximations.is_empty(), "{:?}", l.approximations);
    // PNDM is PLMS, exactly, with or without its Runge-Kutta warm-up (PNDM's default):
    // nothing to say. The warm-up takes 3 steps of 4 evaluations and needs 4 steps or more
    // (diffusers' 3-step run stops at training step 1).
    let l = load(
        r#"{"_class_name": "PNDMScheduler", "skip_prk_steps": true}"#,
        SD,
    )
    .unwrap();
    assert!(l.approximations.is_empty(), "{:?}", l.approximations);
    assert_eq!(l.solver.name(), "PNDMScheduler");
    let l = load(r#"{"_class_name": "PNDMScheduler"}"#, SD).unwrap();
    assert!(l.approximations.is_empty(), "{:?}", l.approximations);
    let g = l.solver_grid(&l.grid(10).unwrap()).unwrap();
    assert_eq!(l.solver.nfe(&g), 19);
    let g = l.solver_grid(&l.grid(3).unwrap()).unwrap();
    let e = l.solver.clone().start(&g).unwrap_err().to_string();
    assert!(e.contains("at least 4 steps"), "{e}");
    // PNDM's step converts ε and v only.
    config_err(
        r#"{"_class_name": "PNDMScheduler", "prediction_type": "sample"}"#,
        SD,
        "prediction_type",
        "\"sample\"",
    );
    // IPNDM: a per-run list of b's is refused by name; its grid runs from a = 0 to b = 0.
    config_err(
        r#"{"_class_name": "IPNDMScheduler", "trained_betas": [0.5, 0.1]}"#,
        SD,
        "trained_betas",
        "[0.5,0.1]",
    );
    let l = load(include_str!("../examples/configs/dance-diffusion.json"), SD).unwrap();
    assert!(l.ignored.is_empty() && l.approximations.is_empty());
    let g = l.grid(4).unwrap();
    assert_eq!(
        (g.logsnr[0], g.logsnr[4]),
        (f64::NEG_INFINITY, f64::INFINITY)
    );
    assert!(load(
        r#"{"_class_name": "IPNDMScheduler"}"#,
        PipelineKind::Sd3 {
            image_seq_len: None
        }
    )
    .is_err());
    // Euler with linspace spacing: fractional timesteps the noise cond does not reproduce.
    let l = load(
        r#"{"_class_name": "EulerDiscreteScheduler", "timestep_spacing": "linspace"}"#,
        SD,
    )
    .unwrap();
    assert_eq!(l.approximations.len(), 1, "{:?}", l.approximations);
}

#[test]
fn stable_cascade_shift_moves_the_grid_by_2_ln_shift() {
    // gdf's shift: λ' = λ − 2·ln k wherever the cosine's clamp is not active.
    let cfg = r#"{"_class_name": "DDPMWuerstchenScheduler", "s": 0.008, "scaler": 1.0}"#;
    let one = load(cfg, PipelineKind::StableCascade { shift: 1.0 }).unwrap();
    let two = load(cfg, PipelineKind::StableCascade { shift: 2.0 }).unwrap();
    let (g1, g2) = (one.grid(10).unwrap(), two.grid(10).unwrap());
    for i in 2..9 {
        let d = g1.logsnr[i] - g2.logsnr[i];
        assert!((d - 2.0 * 2f64.ln()).abs() < 1e-12, "level {i}: {d}");
    }
    // The framework's schedule carries the same shift (training, diffuse).
    let lam = two.framework.schedule.logsnr(0.5f64, 1.0).unwrap();
    assert!((lam - g2.logsnr[5]).abs() < 1e-6);
}

/// diffusers saves `DPMSolverMultistepScheduler`'s default `lambda_min_clipped` as Python's
/// bare `-Infinity` (examples/configs/dpmsolver-saved.json is such a file, as diffusers 0.42.1
/// writes it): it loads as "no clip"; a bare `NaN` or `Infinity` in a number field is an error
/// quoting the token; the tokens inside strings are left alone.
#[test]
fn pythons_bare_infinity_and_nan_tokens_load() {
    let saved = include_str!("../examples/configs/dpmsolver-saved.json");
    assert!(saved.contains("\"lambda_min_clipped\": -Infinity"));
    let l = load(saved, SD).unwrap();
    let without = saved.replace("  \"lambda_min_clipped\": -Infinity,\n", "");
    assert_ne!(without, saved);
    let w = load(&without, SD).unwrap();
    assert_eq!(l.grid(10).unwrap(), w.grid(10).unwrap());
    // a finite clip still clips
    let clipped = saved.replace("-Infinity", "-3.0"); // half-λ: drops the noisiest levels
    assert_ne!(
        load(&clipped, SD).unwrap().grid(10).unwrap(),
        w.grid(10).unwrap()
    );

    let dpm = |kv: &str| format!(r#"{{"_class_name": "DPMSolverMultistepScheduler", {kv}}}"#);
    config_err(&dpm(r#""beta_start": NaN"#), SD, "beta_start", "NaN");
    config_err(&dpm(r#""beta_end": Infinity"#), SD, "beta_end", "Infinity");
    config_err(
        &dpm(r#""lambda_min_clipped": Infinity"#),
        SD,
        "lambda_min_clipped",
        "Infinity",
    );
    config_err(
        &dpm(r#""lambda_min_clipped": NaN"#),
        SD,
        "lambda_min_clipped",
        "NaN",
    );
    config_err(
        &dpm(r#""timestep_spacing": "-Infinity""#),
        SD,
        "timestep_spacing",
        "\"-Infinity\"",
    );
}

/// Found by probing the loader: an offset that overflowed, a JSON integer where diffusers
/// compares a float, a threshold error quoted inside another, betas of another length.
#[test]
fn loader_edges_found_by_probing() {
    // DDIM's leading steps_offset near i64::MAX: refused by name (overflowed before)
    let ddim = r#"{"_class_name": "DDIMScheduler", "steps_offset": 9223372036854775807}"#;
    let e = load(ddim, SD).unwrap().grid(10).unwrap_err();
    assert!(e.to_string().contains("`steps_offset`"), "{e}");
    // Würstchen's scaler 1 (a JSON integer) is diffusers' 1.0; 2 is still refused
    let w = |v: &str| format!(r#"{{"_class_name": "DDPMWuerstchenScheduler", "scaler": {v}}}"#);
    load(&w("1"), PipelineKind::StableCascade { shift: 1.0 }).unwrap();
    config_err(
        &w("2"),
        PipelineKind::StableCascade { shift: 1.0 },
        "scaler",
        "2",
    );
    // a threshold's range, said once under the config's field
    let m = config_err(
        r#"{"_class_name": "DDIMScheduler", "clip_sample": true, "clip_sample_range": 0.0}"#,
        SD,
        "clip_sample_range",
        "0.0",
    );
    assert_eq!(m.matches("clip_sample_range").count(), 1, "{m}");
    // trained betas must number num_train_timesteps
    let m = config_err(
        r#"{"_class_name": "EulerDiscreteScheduler", "trained_betas": [0.001, 0.002, 0.003]}"#,
        SD,
        "trained_betas",
        "3 values",
    );
    assert!(m.contains("num_train_timesteps = 1000"), "{m}");
    let three = r#"{"_class_name": "EulerDiscreteScheduler", "num_train_timesteps": 3,
                    "trained_betas": [0.001, 0.002, 0.003]}"#;
    load(three, SD).unwrap();
}

/// EDM's scheduler thresholds x0 in data units, gdf's EDM frame holds x0/σ_data: refused by
/// name instead of clamping by the wrong scale.
#[test]
fn edm_thresholding_is_refused() {
    let m = config_err(
        r#"{"_class_name": "EDMDPMSolverMultistepScheduler", "thresholding": true}"#,
        SD,
        "thresholding",
        "true",
    );
    assert!(m.contains("σ_data"), "{m}");
    load(r#"{"_class_name": "EDMDPMSolverMultistepScheduler"}"#, SD).unwrap();
}

/// The error of `l.grid(n)`, which must be a `Config` error naming `field`; its message must
/// quote every string in `quotes`.
fn grid_err(l: &gdf::interop::diffusers::Loaded, n: usize, field: &str, quotes: &[&str]) {
    let e = match l.grid(n) {
        Ok(_) => panic!("{n} steps gave a grid, expected an error on `{field}`"),
        Err(e) => e,
    };
    match &e {
        GdfError::Config { field: f, .. } => assert_eq!(f, field, "{e}"),
        other => panic!("expected a Config error on `{field}`, got {other:?}"),
    }
    let m = e.to_string();
    for q in quotes {
        assert!(m.contains(q), "{m} should quote {q}");
    }
}

/// Step counts where diffusers goes wrong (diffusers 0.42.1: `Class.from_config(cfg)`,
/// `set_timesteps(n)`, then `step` with a toy model; the outcome is quoted per case): gdf
/// refuses them by name, with the largest count that works, instead of a late "grid must
/// increase" that names no field.
#[test]
fn step_counts_diffusers_gets_wrong_are_refused_by_name() {
    // SDXL (Euler, leading, steps_offset 1) at 1000 steps: diffusers lists timestep 1000 and
    // repeats σ_999 for it (its first step leaves the latents unchanged, the model gets a
    // timestep past its table). 999 steps: (999 − 1)·1 + 1 = 999 fits.
    let sdxl = load(include_str!("../examples/configs/sdxl.json"), SD).unwrap();
    grid_err(&sdxl, 1000, "steps_offset", &["1000", "at most 999 steps"]);
    assert_eq!(
        sdxl.grid(999).unwrap().timesteps.unwrap().to_f64()[0],
        999.0
    );
    // steps_offset 3 at 500 steps: diffusers lists 1001. (n − 1)·(1000 // n) + 3 ≤ 999 up to
    // n = 499 (498·2 + 3 = 999).
    let e3 = load(
        r#"{"_class_name": "EulerDiscreteScheduler", "timestep_spacing": "leading", "steps_offset": 3}"#,
        SD,
    )
    .unwrap();
    grid_err(&e3, 500, "steps_offset", &["1001", "at most 499 steps"]);
    // DPMSolver / UniPC, leading + steps_offset 1 at 999 steps: diffusers lists 1000, repeats
    // σ_999 and returns NaN. n·(1000 // (n + 1)) + 1 ≤ 999 up to n = 998.
    for class in ["DPMSolverMultistepScheduler", "UniPCMultistepScheduler"] {
        let l = load(
            &format!(
                r#"{{"_class_name": "{class}", "timestep_spacing": "leading", "steps_offset": 1}}"#
            ),
            SD,
        )
        .unwrap();
        grid_err(&l, 999, "steps_offset", &["1000", "at most 998 steps"]);
        l.grid(998).unwrap();
    }
    // PixArt (DPMSolver defaults, linspace) at 1000 steps: round(linspace(0, 999, 1001))
    // repeats 500 (and more); diffusers returns NaN. UniPC the same.
    let pixart = load(include_str!("../examples/configs/pixart.json"), SD).unwrap();
    grid_err(
        &pixart,
        1000,
        "timestep_spacing",
        &["\"linspace\"", "500 twice", "at most 999 steps"],
    );
    pixart.grid(999).unwrap();
    let unipc = load(r#"{"_class_name": "UniPCMultistepScheduler"}"#, SD).unwrap();
    grid_err(&unipc, 1000, "timestep_spacing", &["at most 999 steps"]);
    // Stable Cascade: diffusers clamps ᾱ to [1e-4, 0.9999]; at 156 steps t = 1 and
    // t = 1 − 1/156 both clamp to 1e-4 (diffusers' first step leaves the latents unchanged),
    // at 155 they do not.
    let cascade = PipelineKind::StableCascade { shift: 1.0 };
    let sc = load(
        include_str!("../examples/configs/stable-cascade.json"),
        cascade,
    )
    .unwrap();
    grid_err(
        &sc,
        156,
        "_class_name",
        &["156 steps", "levels 0 and 1", "at most 155 steps"],
    );
    grid_err(&sc, 1000, "_class_name", &["at most 155 steps"]);
    let g = sc.grid(155).unwrap();
    sc.solver_grid(&g).unwrap();
}

#[test]
fn euler_log_linear_is_refused() {
    // diffusers 0.42.1, this config, set_timesteps(5): 5 timesteps but 7 sigmas. Its loop over
    // the timesteps ends at σ_min = 0.0291675… (never 0), and the network gets t = 199 at
    // σ = 0.1011… (the spacing's timestep, not σ's): a grid over these levels would run one
    // step more, and no noise cond of λ gives those timesteps.
    //   timesteps [999, 799, 599, 399, 199]
    //   sigmas    [14.614646911621094, 4.2151265144348145, 1.2157180309295654,
    //              0.35063493251800537, 0.10112942010164261, 0.0291675366461277, 0.0]
    let m = config_err(
        r#"{"_class_name": "EulerDiscreteScheduler", "beta_schedule": "scaled_linear",
            "beta_start": 0.00085, "beta_end": 0.012, "interpolation_type": "log_linear",
            "timestep_spacing": "trailing"}"#,
        SD,
        "interpolation_type",
        "\"log_linear\"",
    );
    assert!(m.contains("N + 2 sigmas"), "{m}");
    // The default (linear) loads.
    load(
        r#"{"_class_name": "EulerDiscreteScheduler", "interpolation_type": "linear"}"#,
        SD,
    )
    .unwrap();
}

/// `load_as` is diffusers' `Class.from_config(config)`: the swap of a pipeline's scheduler.
/// Reference values from diffusers 0.42.1 (`tests/diffusers/gen.py`'s environment).
#[test]
fn swapping_the_class_reads_the_config_as_from_config_does() {
    use gdf::grid::discrete::Spacing;
    use gdf::interop::diffusers::{load_as, GridSpec};
    let spacing = |l: &gdf::interop::diffusers::Loaded| match &l.grid {
        GridSpec::Discrete(s) => s.spacing,
        GridSpec::Ddim { spacing, .. } => *spacing,
        other => panic!("{other:?}"),
    };
    // `dict(PNDMScheduler.from_config(sd15).config)` as diffusers 0.42.1 prints it: the fields
    // the file left out carry PNDM's defaults and are listed in `_use_default_values`.
    let in_memory = r#"{"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
        "beta_schedule": "scaled_linear", "trained_betas": null, "skip_prk_steps": true,
        "set_alpha_to_one": false, "prediction_type": "epsilon", "timestep_spacing": "leading",
        "steps_offset": 1, "_use_default_values": ["prediction_type", "trained_betas",
        "timestep_spacing"], "_class_name": "PNDMScheduler"}"#;
    // EulerDiscreteScheduler.from_config(that) has timestep_spacing "linspace" (its own
    // default), not PNDM's "leading".
    let e = load_as(in_memory, "EulerDiscreteScheduler", SD).unwrap();
    assert_eq!(e.class_name, "EulerDiscreteScheduler");
    assert_eq!(spacing(&e), Spacing::Linspace);
    // The same config loaded as its own class keeps its values.
    assert_eq!(spacing(&load(in_memory, SD).unwrap()), Spacing::Leading);
    // Without the list, a field is the config's.
    let listed = in_memory.replace(r#""timestep_spacing"]"#, r#""trained_betas"]"#);
    let e = load_as(&listed, "EulerDiscreteScheduler", SD).unwrap();
    assert_eq!(spacing(&e), Spacing::Leading);
    // A malformed list names the field.
    let bad = in_memory.replace(r#"["prediction_type", "trained_betas","#, r#"[1, "#);
    let e = load_as(&bad, "EulerDiscreteScheduler", SD).unwrap_err();
    assert!(
        matches!(&e, GdfError::Config { field, .. } if field == "_use_default_values"),
        "{e}"
    );
    // Fields the new class has not are ignored, as from_config ignores them (Heun has no
    // zero-terminal-SNR rescale, no interpolation_type, no final_sigmas_type).
    let euler = r#"{"_class_name": "EulerDiscreteScheduler", "rescale_betas_zero_snr": true,
        "interpolation_type": "linear", "final_sigmas_type": "zero", "timestep_spacing": "trailing"}"#;
    let h = load_as(euler, "HeunDiscreteScheduler", SD).unwrap();
    let mut ig = h.ignored.clone();
    ig.sort();
    assert_eq!(
        ig,
        [
            "final_sigmas_type",
            "interpolation_type",
            "rescale_betas_zero_snr"
        ]
    );
    assert_eq!(spacing(&h), Spacing::Trailing);
    // An unsupported class is named.
    let e = load_as(euler, "ScoreSdeVeScheduler", SD).unwrap_err();
    assert!(e.to_string().contains("ScoreSdeVeScheduler"), "{e}");
}

/// The k-diffusion classes' own defaults and limits (diffusers 0.42.1 values).
#[test]
fn heun_kdpm2_and_lms_keep_their_own_defaults() {
    // Heun's and KDPM2's default betas run linearly from SD's β ends (σ_max 25.146…), LMS's
    // are DDPM's (157.407…); 4 linspace steps: σ_0, then σ(666).
    for (class, s0, s1) in [
        (
            "HeunDiscreteScheduler",
            25.146116256713867,
            4.495611190795898,
        ),
        (
            "KDPM2DiscreteScheduler",
            25.146116256713867,
            4.495611190795898,
        ),
        ("LMSDiscreteScheduler", 157.4072723388672, 9.488921165466309),
    ] {
        let l = load(&format!(r#"{{"_class_name": "{class}"}}"#), SD).unwrap();
        let g = l.grid(4).unwrap();
        for (got, want) in [(g.sigmas[0], s0), (g.sigmas[1], s1)] {
            assert!(
                (got - want).abs() <= 1e-6 * want,
                "{class}: σ {got} against diffusers' {want}"
            );
        }
        assert!(g.init_noise_sigma.unwrap() > 0.0);
    }
    // KDPM2 rounds its Karras levels' timesteps (not its midpoints'): diffusers' 5-step list
    // is [999, 900.589…, 786, 621.756…, 427, 195.958…, 59, 7.3177…, 0]; the grid holds the
    // levels' rounded ones, and the rounding is listed as an approximation of the noise cond.
    let l = load(
        r#"{"_class_name": "KDPM2DiscreteScheduler", "beta_schedule": "scaled_linear",
            "use_karras_sigmas": true}"#,
        SD,
    )
    .unwrap();
    let g = l.grid(5).unwrap();
    assert_eq!(
        g.timesteps.unwrap().to_f64(),
        [999.0, 786.0, 427.0, 59.0, 0.0]
    );
    assert!(
        l.approximations
            .iter()
            .any(|a| a.field == "use_karras_sigmas"),
        "{:?}",
        l.approximations
    );
    // KDPM2 has no x0-prediction (diffusers raises NotImplementedError), Heun no dynamic
    // thresholding (the field is ignored), Heun's clip_sample is its x0 stage.
    config_err(
        r#"{"_class_name": "KDPM2AncestralDiscreteScheduler", "prediction_type": "sample"}"#,
        SD,
        "prediction_type",
        "\"sample\"",
    );
    let h = load(
        r#"{"_class_name": "HeunDiscreteScheduler", "clip_sample": true,
            "clip_sample_range": 2.0, "thresholding": true}"#,
        SD,
    )
    .unwrap();
    assert_eq!(h.threshold, Threshold::clip(2.0).unwrap());
    assert_eq!(h.ignored, ["thresholding"]);
    // The UNet classes need the UNet pipeline.
    config_err(
        r#"{"_class_name": "LMSDiscreteScheduler"}"#,
        PipelineKind::Sd3 {
            image_seq_len: None,
        },
        "_class_name",
        "LMSDiscreteScheduler",
    );
}

/// `LCMScheduler`: its own timesteps, and what it cannot take, named.
#[test]
fn lcm_configs_load_with_their_own_timesteps() {
    use gdf::solver::{AnySolver, Solver};
    // diffusers 0.42.1, LCMScheduler(), set_timesteps(4): [999, 759, 499, 259].
    let l = load(r#"{"_class_name": "LCMScheduler"}"#, SD).unwrap();
    let g = l.grid(4).unwrap();
    assert_eq!(g.timesteps.unwrap().to_f64(), [999.0, 759.0, 499.0, 259.0]);
    assert_eq!(g.logsnr[4], f64::INFINITY);
    assert!(matches!(&l.solver, AnySolver::Lcm(s) if s.boundary().is_some()));
    assert!(l.solver.takes_threshold());
    // More steps than the distillation's schedule: diffusers raises.
    let e = l.grid(51).unwrap_err();
    assert!(
        matches!(&e, GdfError::Config { field, .. } if field == "original_inference_steps"),
        "{e}"
    );
    assert!(e.to_string().contains("at most 50 steps"), "{e}");
    config_err(
        r#"{"_class_name": "LCMScheduler", "timestep_scaling": 0}"#,
        SD,
        "timestep_scaling",
        "0",
    );
    config_err(
        r#"{"_class_name": "LCMScheduler", "rescale_betas_zero_snr": true}"#,
        SD,
        "rescale_betas_zero_snr",
        "true",
    );
    let l = load(
        r#"{"_class_name": "LCMScheduler", "original_inference_steps": 1001}"#,
        SD,
    )
    .unwrap();
    let e = l.grid(4).unwrap_err();
    assert!(e.to_string().contains("`original_inference_steps`"), "{e}");
}

/// `TCDScheduler`: LCM's timesteps ending at training step 0, γ (`eta`) named when out of range.
#[test]
fn tcd_configs_load_and_refuse_bad_gamma() {
    use gdf::scaler::Vp;
    use gdf::solver::{AnySolver, Grid, NoNoise, Run};
    let l = load(r#"{"_class_name": "TCDScheduler"}"#, SD).unwrap();
    let g = l.grid(4).unwrap();
    assert_eq!(
        g.timesteps.as_ref().unwrap().to_f64(),
        [999.0, 759.0, 499.0, 259.0]
    );
    // The last level is training step 0 (ᾱ_0 of SD's table, 0.99915), not σ = 0.
    assert!((g.logsnr[4] - (0.99915f64 / (1.0 - 0.99915)).ln()).abs() < 1e-3);
    let AnySolver::Tcd(t) = l.solver.clone() else {
        panic!("{:?}", l.solver)
    };
    for bad in [-0.1, 1.5, f64::NAN] {
        let e = t.clone().with_gamma(bad).unwrap_err();
        assert!(
            matches!(&e, GdfError::OutOfRange { what: "gamma", .. }),
            "{e}"
        );
    }
    // A grid to σ = 0 is not a TCD grid.
    let grid = Grid::new(&Vp, &[-2.0, 0.0, f64::INFINITY]).unwrap();
    let Err(e) = Run::new(t, grid, vec![0.0f64; 2], 1, NoNoise) else {
        panic!("a TCD run on a grid to σ = 0 started")
    };
    assert!(e.to_string().contains("tcd"), "{e}");
}

/// `use_flow_sigmas` in DPMSolver / UniPC (SANA, Wan): a flow pipeline, `flow_prediction`,
/// a fixed shift, no σ conversion; the timestep truncation listed.
#[test]
fn flow_sigma_multistep_configs_load_and_refuse_by_name() {
    let sd3 = PipelineKind::Sd3 {
        image_seq_len: None,
    };
    let wan = r#"{"_class_name": "UniPCMultistepScheduler", "use_flow_sigmas": true,
        "flow_shift": 3.0, "prediction_type": "flow_prediction"}"#;
    let l = load(wan, sd3).unwrap();
    // diffusers 0.42.1, 4 steps: timesteps [999, 900, 750, 500] (σ·1000 truncated).
    let g = l.grid(4).unwrap();
    assert_eq!(
        g.timesteps.as_ref().unwrap().to_f64(),
        [999.0, 900.0, 750.0, 500.0]
    );
    assert!(l
        .approximations
        .iter()
        .any(|a| a.field == "use_flow_sigmas"));
    // The noise cond gives the transformer those integers (σ = 0.999999, 0.9, 0.75, 0.5).
    use gdf::noise_cond::NoiseCond;
    let mt: Vec<f64> = g.logsnr[..4]
        .iter()
        .map(|&lam| l.framework.noise_cond.noise_cond(lam))
        .collect();
    assert_eq!(mt, [999.0, 900.0, 750.0, 500.0]);
    config_err(wan, SD, "_class_name", "UniPCMultistepScheduler");
    config_err(
        &wan.replace("flow_prediction", "epsilon"),
        sd3,
        "prediction_type",
        "\"epsilon\"",
    );
    config_err(
        &wan.replace("\"flow_shift\": 3.0", "\"use_dynamic_shifting\": true"),
        sd3,
        "use_dynamic_shifting",
        "true",
    );
    config_err(
        &wan.replace("\"flow_shift\": 3.0", "\"use_karras_sigmas\": true"),
        sd3,
        "use_flow_sigmas",
        "true",
    );
    config_err(
        &wan.replace("\"flow_shift\": 3.0", "\"shift_terminal\": 1.5"),
        sd3,
        "shift_terminal",
        "1.5",
    );
}

/// `LTXEulerAncestralRFScheduler` (LTX-Video): flow-matching Euler's grid from the same
/// config, its own `eta` / `s_noise`, SD3-style pipelines only; a custom σ list is taken as the
/// RF sigmas themselves (unshifted), the network getting σ·T.
#[test]
fn ltx_euler_ancestral_rf_loads_and_refuses_by_name() {
    let sd3 = PipelineKind::Sd3 {
        image_seq_len: Some(2048.0),
    };
    let ltx = r#"{"_class_name": "LTXEulerAncestralRFScheduler", "base_image_seq_len": 1024,
        "base_shift": 0.95, "max_image_seq_len": 4096, "max_shift": 2.05, "shift": 1.0,
        "shift_terminal": 0.1, "use_dynamic_shifting": true, "stochastic_sampling": true}"#;
    let l = load(ltx, sd3).unwrap();
    assert_eq!(l.solver.name(), "LTXEulerAncestralRFScheduler");
    // Its step has no stochastic_sampling (flow-matching Euler's field): listed, not read.
    assert_eq!(l.ignored, ["stochastic_sampling"]);
    let g = l.grid(6).unwrap();
    assert_eq!(g.logsnr[0], f64::NEG_INFINITY);
    assert!((g.sigmas[5] - 0.1).abs() < 1e-7); // shift_terminal
    config_err(
        &ltx.replace("\"shift\": 1.0", "\"eta\": -0.5"),
        sd3,
        "eta",
        "-0.5",
    );
    config_err(
        &ltx.replace("\"shift\": 1.0", "\"s_noise\": 0.0"),
        sd3,
        "s_noise",
        "0.0",
    );
    assert!(load(
        ltx,
        PipelineKind::Flux {
            image_seq_len: 4096.0
        }
    )
    .is_err());
    // A custom list: the sigmas as given (float32), timesteps σ·1000, the terminal 0 last.
    let g = l.grid_for_sigmas(&[1.0, 0.75, 0.4, 0.0]).unwrap();
    // (σ·1000 in float32: 0.4f32·1000 rounds to 400.)
    assert_eq!(
        g.timesteps.as_ref().unwrap().to_f64(),
        [1000.0, 750.0, 400.0]
    );
    assert_eq!(g.logsnr[3], f64::INFINITY);
    assert!(l.grid_for_sigmas(&[0.5, 0.7, 0.0]).is_err());
}

/// `FlowMapEulerDiscreteScheduler` (AnyFlow): float64 shifted flow sigmas, SD3-style pipelines
/// only; the network's second timestep (`r_timestep`) is the noise cond at the next level.
#[test]
fn flow_map_loads_and_refuses_by_name() {
    use gdf::noise_cond::NoiseCond;
    let sd3 = PipelineKind::Sd3 {
        image_seq_len: None,
    };
    let json = r#"{"_class_name": "FlowMapEulerDiscreteScheduler", "shift": 5.0}"#;
    let l = load(json, sd3).unwrap();
    let g = l.grid(2).unwrap();
    // linspace(1, 0, 3)[:-1] = [1, 0.5], shifted: 5·0.5/(1 + 4·0.5) = 5/6.
    assert_eq!(g.sigmas, [1.0, 5.0 / 6.0, 0.0]);
    let r = l.framework.noise_cond.noise_cond(g.logsnr[1]);
    assert!((r - 1000.0 * 5.0 / 6.0).abs() < 1e-9, "{r}");
    config_err(&json.replace("5.0", "-1.0"), sd3, "shift", "-1.0");
    assert!(load(json, SD).is_err());
}

/// Zero terminal SNR in DDIM: DDIM's table ends at ᾱ = 0, so trailing spacing starts at pure
/// noise (λ = −∞, model timestep 999); v-prediction runs from there, an ε-prediction is a
/// typed error (diffusers divides by √ᾱ = 0 and returns NaN).
#[test]
fn ddim_zero_terminal_snr_starts_at_pure_noise() {
    use gdf::noise_cond::NoiseCond;
    use gdf::solver::{NoNoise, Run};
    use gdf::target::Target;
    let v = r#"{"_class_name": "DDIMScheduler", "beta_schedule": "scaled_linear",
        "beta_start": 0.00085, "beta_end": 0.012, "clip_sample": false,
        "prediction_type": "v_prediction", "rescale_betas_zero_snr": true,
        "timestep_spacing": "trailing"}"#;
    let l = load(v, SD).unwrap();
    let g = l.grid(10).unwrap();
    assert_eq!(g.logsnr[0], f64::NEG_INFINITY);
    assert_eq!(l.framework.noise_cond.noise_cond(g.logsnr[0]), 999.0);
    assert!(l
        .approximations
        .iter()
        .any(|a| a.field == "rescale_betas_zero_snr"));
    let run = |json: &str| {
        let l = load(json, SD).unwrap();
        let grid = l.solver_grid(&l.grid(10).unwrap()).unwrap();
        let mut r = Run::new(l.solver.clone(), grid, vec![0.5f64; 4], 1, NoNoise).unwrap();
        let req = r.next_eval().unwrap().unwrap();
        let (a, b) = (req.level.a, req.level.b);
        let pred: Vec<f64> = req
            .x
            .iter()
            .map(|&x| l.framework.target.target(0.1, x, a, b))
            .collect();
        r.feed(&l.framework.target, &pred).map(|_| ())
    };
    run(v).unwrap();
    let e = run(&v.replace("v_prediction", "epsilon")).unwrap_err();
    assert!(
        e.to_string().contains("pure noise") || e.to_string().contains("a = 0"),
        "{e}"
    );
}

/// `FlowMatchHeunDiscreteScheduler`: two fields; its `set_timesteps` takes no sigmas, so the
/// Flux pipeline (which passes them) is refused by name; the Euler flow fields are ignored.
#[test]
fn flow_match_heun_reads_its_two_fields() {
    use gdf::interop::diffusers::load_as;
    use gdf::solver::AnySolver;
    let sd3 = r#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0,
        "use_dynamic_shifting": false, "stochastic_sampling": false}"#;
    let l = load_as(
        sd3,
        "FlowMatchHeunDiscreteScheduler",
        PipelineKind::Sd3 {
            image_seq_len: None,
        },
    )
    .unwrap();
    assert!(matches!(l.solver, AnySolver::FlowMatchHeun(_)));
    let mut ig = l.ignored.clone();
    ig.sort();
    assert_eq!(ig, ["stochastic_sampling", "use_dynamic_shifting"]);
    let e = load_as(
        sd3,
        "FlowMatchHeunDiscreteScheduler",
        PipelineKind::Flux {
            image_seq_len: 4096.0,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("takes no sigmas"), "{e}");
}

/// diffusers' `set_timesteps(timesteps=…)`: the classes that take a list, and the lists they
/// cannot take, named.
#[test]
fn custom_timestep_lists_are_checked_by_name() {
    let sd = r#""beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012"#;
    let load_class = |class: &str, extra: &str| {
        load(&format!(r#"{{"_class_name": "{class}", {sd}{extra}}}"#), SD).unwrap()
    };
    let ays = [
        999.0, 845.0, 730.0, 587.0, 443.0, 310.0, 193.0, 116.0, 53.0, 13.0,
    ];
    let field = |e: GdfError| match e {
        GdfError::Config {
            field, expected, ..
        } => (field, expected),
        other => panic!("{other:?}"),
    };
    for class in [
        "EulerDiscreteScheduler",
        "HeunDiscreteScheduler",
        "DPMSolverMultistepScheduler",
        "DDPMScheduler",
        "LCMScheduler",
        "TCDScheduler",
    ] {
        let l = load_class(class, "");
        let g = l.grid_for_timesteps(&ays).unwrap();
        assert_eq!(g.logsnr.len(), 11, "{class}");
        assert_eq!(g.timesteps.unwrap().to_f64(), ays, "{class}");
        for bad in [&[500.0, 600.0][..], &[1000.0, 10.0], &[], &[f64::NAN]] {
            let (f, _) = field(l.grid_for_timesteps(bad).unwrap_err());
            assert_eq!(f, "timesteps", "{class} {bad:?}");
        }
    }
    // Whole steps where diffusers casts to int64 (DPMSolver), float32 for Euler.
    let dpm = load_class("DPMSolverMultistepScheduler", "");
    let (_, exp) = field(dpm.grid_for_timesteps(&[900.5, 10.0]).unwrap_err());
    assert!(exp.contains("whole"), "{exp}");
    assert!(load_class("EulerDiscreteScheduler", "")
        .grid_for_timesteps(&[900.5, 10.0])
        .is_ok());
    // diffusers raises for a custom list with a σ conversion, and these classes take none.
    let karras = load_class("EulerDiscreteScheduler", r#", "use_karras_sigmas": true"#);
    let (_, exp) = field(karras.grid_for_timesteps(&ays).unwrap_err());
    assert!(exp.contains("conversion"), "{exp}");
    for class in [
        "EulerAncestralDiscreteScheduler",
        "UniPCMultistepScheduler",
        "LMSDiscreteScheduler",
        "KDPM2DiscreteScheduler",
        "DDIMScheduler",
    ] {
        let (_, exp) = field(load_class(class, "").grid_for_timesteps(&ays).unwrap_err());
        assert!(exp.contains(class), "{exp}");
    }
}

/// diffusers' `set_timesteps(sigmas=…)`: Euler (VE, final included), flow matching and UniPC
/// with flow sigmas take one; bad lists and other classes are named.
#[test]
fn custom_sigma_lists_are_checked_by_name() {
    let sd3 = PipelineKind::Sd3 {
        image_seq_len: None,
    };
    let field = |e: GdfError| match e {
        GdfError::Config {
            field, expected, ..
        } => (field, expected),
        other => panic!("{other:?}"),
    };
    let euler = load(r#"{"_class_name": "EulerDiscreteScheduler"}"#, SD).unwrap();
    let g = euler.grid_for_sigmas(&[14.6, 3.0, 0.5, 0.0]).unwrap();
    assert_eq!(g.logsnr.len(), 4);
    assert_eq!(g.timesteps.unwrap().to_f64().len(), 3);
    for bad in [
        &[3.0, 14.6, 0.0][..],
        &[1.0],
        &[2.0, -1.0],
        &[f64::NAN, 0.0],
    ] {
        assert_eq!(field(euler.grid_for_sigmas(bad).unwrap_err()).0, "sigmas");
    }
    let flow = load(
        r#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0}"#,
        sd3,
    )
    .unwrap();
    assert_eq!(flow.grid_for_sigmas(&[1.0, 0.5]).unwrap().logsnr.len(), 3);
    let (f, _) = field(flow.grid_for_sigmas(&[1.5, 0.5]).unwrap_err());
    assert_eq!(f, "sigmas");
    let dpm = load(r#"{"_class_name": "DPMSolverMultistepScheduler"}"#, SD).unwrap();
    let (_, exp) = field(dpm.grid_for_sigmas(&[14.6, 0.0]).unwrap_err());
    assert!(exp.contains("DPMSolverMultistepScheduler"), "{exp}");
}

/// `shift_terminal` at a single step from pure noise: the stretch divides 0 by 0 (diffusers
/// runs on NaN sigmas); an error naming the field and the step count that works.
#[test]
fn shift_terminal_at_one_step_is_named() {
    let sd3 = PipelineKind::Sd3 {
        image_seq_len: None,
    };
    for json in [
        r#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0, "shift_terminal": 0.1}"#,
        r#"{"_class_name": "UniPCMultistepScheduler", "use_flow_sigmas": true, "flow_shift": 5.0,
            "prediction_type": "flow_prediction", "shift_terminal": 0.1}"#,
    ] {
        let l = load(json, sd3).unwrap();
        let e = l.grid(1).unwrap_err();
        assert!(
            matches!(&e, GdfError::Config { field, .. } if field == "shift_terminal"),
            "{e}"
        );
        assert!(e.to_string().contains("at least 2 steps"), "{e}");
        assert!(l.grid(2).is_ok());
    }
}

/// What the new classes refuse: FlowMatchLCM's multi-resolution `scale_factors`,
/// DPMSolverSinglestep over flow sigmas or with the noise-prediction algorithm, DEIS with an
/// algorithm diffusers does not map to `deis`, or an order past 3.
#[test]
fn flow_lcm_and_singlestep_refusals_name_their_field() {
    let sd3 = PipelineKind::Sd3 {
        image_seq_len: None,
    };
    let m = config_err(
        r#"{"_class_name": "FlowMatchLCMScheduler", "scale_factors": [1.5, 2.0]}"#,
        sd3,
        "scale_factors",
        "[1.5,2.0]",
    );
    assert!(m.contains("resize"), "{m}");
    config_err(
        r#"{"_class_name": "DPMSolverSinglestepScheduler", "use_flow_sigmas": true}"#,
        SD,
        "use_flow_sigmas",
        "true",
    );
    config_err(
        r#"{"_class_name": "DPMSolverSinglestepScheduler", "algorithm_type": "dpmsolver",
            "final_sigmas_type": "sigma_min"}"#,
        SD,
        "algorithm_type",
        "\"dpmsolver\"",
    );
    config_err(
        r#"{"_class_name": "DEISMultistepScheduler", "algorithm_type": "sde-dpmsolver++"}"#,
        SD,
        "algorithm_type",
        "\"sde-dpmsolver++\"",
    );
    config_err(
        r#"{"_class_name": "DEISMultistepScheduler", "solver_type": "taylor"}"#,
        SD,
        "solver_type",
        "\"taylor\"",
    );
    let e = load(
        r#"{"_class_name": "DEISMultistepScheduler", "solver_order": 4}"#,
        SD,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("solver_order") && e.contains('4'), "{e}");
    // diffusers maps DPMSolver's types onto DEIS's: a swapped DPM-Solver++ config loads.
    assert!(load(
        r#"{"_class_name": "DEISMultistepScheduler", "algorithm_type": "dpmsolver++",
            "solver_type": "midpoint"}"#,
        SD
    )
    .is_ok());
    // CosineDPMSolverMultistep has no third-order update.
    config_err(
        r#"{"_class_name": "CosineDPMSolverMultistepScheduler", "solver_order": 3}"#,
        SD,
        "solver_order",
        "3",
    );
    // FlowMatchLCM needs a flow pipeline; singlestep a UNet one.
    assert!(load(r#"{"_class_name": "FlowMatchLCMScheduler"}"#, SD).is_err());
    assert!(load(r#"{"_class_name": "DPMSolverSinglestepScheduler"}"#, sd3).is_err());
    // upscale_mode alone is read and ignored (it acts only with scale_factors).
    let l = load(
        r#"{"_class_name": "FlowMatchLCMScheduler", "upscale_mode": "bilinear"}"#,
        sd3,
    )
    .unwrap();
    // The stochastic flow-matching Euler step (not a plain first-order one).
    assert!(
        matches!(&l.solver, gdf::solver::AnySolver::FlowMatchEuler(s) if !gdf::solver::Solver::plain_first_order(s)),
        "{:?}",
        l.solver
    );
}

#[test]
fn unipc_bh1_to_sigma_zero_lists_diffusers_nan() {
    // diffusers' bh1 UniPC returns NaN from its last step to σ = 0 (B(h) = h = ∞ times a zero
    // residual): checked with diffusers 0.42.1, table and flow sigmas alike. gdf lists it and
    // returns the limit, the model's x0, on that step.
    let sd = r#"{"_class_name": "UniPCMultistepScheduler", "solver_type": "bh1"}"#;
    let flow = r#"{"_class_name": "UniPCMultistepScheduler", "solver_type": "bh1",
        "use_flow_sigmas": true, "flow_shift": 3.0, "prediction_type": "flow_prediction"}"#;
    let sd3 = PipelineKind::Sd3 {
        image_seq_len: None,
    };
    for (json, pk) in [(sd, SD), (flow, sd3)] {
        let l = load(json, pk).unwrap();
        let notes: Vec<_> = l
            .approximations
            .iter()
            .filter(|a| a.field == "solver_type")
            .collect();
        assert_eq!(notes.len(), 1, "{:?}", l.approximations);
        assert!(notes[0].note.contains("NaN"), "{}", notes[0]);
        let grid = l.solver_grid(&l.grid(5).unwrap()).unwrap();
        let mut last = Vec::new();
        let x0 = Run::new(l.solver.clone(), grid, vec![0.4f64, -1.3], 1, NoNoise)
            .unwrap()
            .run(|x, _, d| {
                for (d, x) in d.iter_mut().zip(x) {
                    *d = 0.5 * x - 0.25;
                }
                last = d.to_vec();
                Ok(())
            })
            .unwrap();
        assert_eq!(x0, last, "the last step returns the model's x0");
    }
    // bh2, or bh1 ending at σ_min: nothing to say.
    for json in [
        r#"{"_class_name": "UniPCMultistepScheduler", "solver_type": "bh2"}"#,
        r#"{"_class_name": "UniPCMultistepScheduler", "solver_type": "bh1",
            "final_sigmas_type": "sigma_min"}"#,
    ] {
        let l = load(json, SD).unwrap();
        assert!(l.approximations.is_empty(), "{:?}", l.approximations);
    }
}

#[test]
fn scm_loads_with_sana_sprints_pipeline_and_refuses_by_name() {
    let scm =
        r#"{"_class_name": "SCMScheduler", "prediction_type": "trigflow", "sigma_data": 0.5}"#;
    let l = load(scm, PipelineKind::SANA_SPRINT).unwrap();
    assert_eq!(
        l.frame,
        gdf::interop::diffusers::LatentFrame::TrigFlow { sigma_data: 0.5 }
    );
    // The pipeline's 1.5708 lies past π/2: listed.
    assert!(
        l.approximations.iter().any(|a| a.field == "max_timesteps"),
        "{:?}",
        l.approximations
    );
    let g = l.grid(2).unwrap();
    assert_eq!(g.logsnr[0], f64::NEG_INFINITY);
    assert_eq!(g.logsnr[2], f64::INFINITY);
    // τ = sin s/(sin s + cos s) at 1.3 (float32): λ = 2 ln(cot 1.3).
    let s = f64::from(1.3f32);
    assert!((g.logsnr[1] - 2.0 * (s.cos() / s.sin()).ln()).abs() < 1e-6);
    // The latents at pure noise are σ_d·x, at the clean end σ_d·x0.
    assert_eq!(l.latent_scale(f64::NEG_INFINITY), 0.5);
    assert_eq!(l.latent_scale(f64::INFINITY), 0.5);
    // An intermediate angle means two steps (diffusers raises otherwise).
    let e = l.grid(3).unwrap_err().to_string();
    assert!(e.contains("`intermediate_timesteps`"), "{e}");
    // Without one, n steps of linspace(max, 0, n + 1); an angle inside the quadrant has no
    // approximation.
    let l2 = load(
        scm,
        PipelineKind::SanaSprint {
            max_timesteps: 1.5,
            intermediate_timesteps: None,
        },
    )
    .unwrap();
    assert!(l2.approximations.is_empty(), "{:?}", l2.approximations);
    assert_eq!(l2.grid(4).unwrap().logsnr.len(), 5);
    assert!(l2
        .grid(1001)
        .unwrap_err()
        .to_string()
        .contains("`num_train_timesteps`"));
    // Custom angles: n + 1 of them, decreasing to 0.
    assert_eq!(
        l2.grid_for_timesteps(&[1.5, 0.7, 0.0])
            .unwrap()
            .logsnr
            .len(),
        3
    );
    for bad in [&[1.5, 0.7][..], &[0.7, 1.5, 0.0], &[1.6, 0.7, 0.0], &[0.0]] {
        let e = l2.grid_for_timesteps(bad).unwrap_err().to_string();
        assert!(e.contains("`timesteps`"), "{bad:?}: {e}");
    }
    // Pipelines, prediction types, settings.
    config_err(scm, SD, "_class_name", "SCMScheduler");
    config_err(
        r#"{"_class_name": "DDIMScheduler"}"#,
        PipelineKind::SANA_SPRINT,
        "_class_name",
        "DDIMScheduler",
    );
    config_err(
        r#"{"_class_name": "SCMScheduler", "prediction_type": "epsilon"}"#,
        PipelineKind::SANA_SPRINT,
        "prediction_type",
        "epsilon",
    );
    config_err(
        r#"{"_class_name": "SCMScheduler", "sigma_data": 0.0}"#,
        PipelineKind::SANA_SPRINT,
        "sigma_data",
        "0",
    );
    for (max, mid, what) in [
        (1.6, None, "max_timesteps"),
        (0.0, None, "max_timesteps"),
        (1.2, Some(1.3), "intermediate_timesteps"),
    ] {
        let pk = PipelineKind::SanaSprint {
            max_timesteps: max,
            intermediate_timesteps: mid,
        };
        match load(scm, pk) {
            Err(GdfError::OutOfRange { what: w, .. }) => assert_eq!(w, what),
            other => panic!("{max} {mid:?}: {other:?}"),
        }
    }
}

#[test]
fn minimax_h3_loads_and_refuses_by_name() {
    let sd3 = PipelineKind::Sd3 {
        image_seq_len: None,
    };
    let mm = r#"{"_class_name": "MiniMaxH3Scheduler", "shift": 12.0}"#;
    let l = load(mm, sd3).unwrap();
    assert_eq!(
        l.framework.target,
        gdf::dynamic::DynTarget::NegRectifiedFlows
    );
    // gdf's n steps are diffusers' set_timesteps(n + 1): n + 1 levels, σ = 0 last.
    let g = l.grid(49).unwrap();
    assert_eq!(g.logsnr.len(), 50);
    assert_eq!(g.logsnr[0], f64::NEG_INFINITY);
    assert_eq!(g.logsnr[49], f64::INFINITY);
    // The transformer takes 1 − σ.
    let t = g.timesteps.as_ref().unwrap().to_f64();
    assert_eq!(t[0], 0.0);
    use gdf::noise_cond::NoiseCond;
    assert!((l.framework.noise_cond.noise_cond(g.logsnr[10]) - t[10]).abs() < 1e-6);
    assert!(l.approximations.is_empty(), "{:?}", l.approximations);
    config_err(mm, SD, "_class_name", "MiniMaxH3Scheduler");
    config_err(
        r#"{"_class_name": "MiniMaxH3Scheduler", "shift": 0.0}"#,
        sd3,
        "shift",
        "0",
    );
    for bad in [&[1.0, 0.5][..], &[0.5, 0.8, 0.0], &[1.2, 0.5, 0.0]] {
        let e = l.grid_for_sigmas(bad).unwrap_err().to_string();
        assert!(e.contains("`sigmas`"), "{bad:?}: {e}");
    }
}

#[test]
fn zero_steps_are_refused_for_the_new_classes() {
    let sd3 = PipelineKind::Sd3 {
        image_seq_len: None,
    };
    let mm = load(r#"{"_class_name": "MiniMaxH3Scheduler"}"#, sd3).unwrap();
    assert!(mm.grid(0).is_err());
    let scm = load(
        r#"{"_class_name": "SCMScheduler"}"#,
        PipelineKind::SanaSprint {
            max_timesteps: 1.5,
            intermediate_timesteps: None,
        },
    )
    .unwrap();
    assert!(scm.grid(0).is_err());
    // Two angles past π/2 are two pure-noise levels: refused, not a NaN grid.
    use std::f64::consts::FRAC_PI_2;
    assert!(scm
        .grid_for_timesteps(&[FRAC_PI_2 + 3e-6, FRAC_PI_2 + 1e-6, 0.0])
        .and_then(|g| scm.solver_grid(&g))
        .is_err());
}

#[test]
fn sana_sprints_pipeline_is_for_scm_only() {
    for class in [
        "DDIMScheduler",
        "EulerDiscreteScheduler",
        "HeunDiscreteScheduler",
        "LCMScheduler",
        "FlowMatchEulerDiscreteScheduler",
        "EDMEulerScheduler",
        "DDPMWuerstchenScheduler",
        "IPNDMScheduler",
        "FlowMapEulerDiscreteScheduler",
        "MiniMaxH3Scheduler",
    ] {
        config_err(
            &format!(r#"{{"_class_name": "{class}"}}"#),
            PipelineKind::SANA_SPRINT,
            "_class_name",
            class,
        );
    }
}

#[test]
fn consistency_models_load_and_refuse_by_name() {
    use gdf::dynamic::DynTarget;
    use gdf::interop::diffusers::{LatentFrame, ModelTimestep};
    use gdf::solver::AnySolver;
    let cm = r#"{"_class_name": "CMStochasticIterativeScheduler"}"#;
    let l = load(cm, SD).unwrap();
    assert_eq!(l.framework.target, DynTarget::Consistency(0.004));
    assert_eq!(l.threshold, Threshold::Clip { range: 2.0 }); // ±1 in data units over σ_d 0.5
    assert_eq!(l.frame, LatentFrame::Edm { sigma_data: 0.5 });
    assert_eq!(l.timestep, ModelTimestep::CmLogSigma { sigma_data: 0.5 });
    assert!(matches!(&l.solver, AnySolver::Lcm(s) if s.noise_floor() == (0.004, 1.0)));
    // The noise cond's timestep from the float32 level (diffusers': from the float64 σ).
    assert_eq!(l.approximations.len(), 1, "{:?}", l.approximations);
    assert!(l.approximations[0].note.contains("1.5e-5"));
    // One step: σ_max, then the boundary σ_min (no noise added there).
    let g = l.grid(1).unwrap();
    assert_eq!(g.sigmas, vec![80.0 / 0.5, 0.002 / 0.5]);
    assert_eq!(g.init_noise_sigma, Some(80.0));
    let off = r#"{"_class_name": "CMStochasticIterativeScheduler", "clip_denoised": false}"#;
    assert_eq!(load(off, SD).unwrap().threshold, Threshold::None);
    // More steps than training steps (diffusers raises), and bad custom lists.
    let e = l.grid(41).unwrap_err().to_string();
    assert!(e.contains("num_train_timesteps") && e.contains("41"), "{e}");
    for bad in [
        &[0.0, 22.0][..],
        &[40.0, 0.0],
        &[22.5, 0.0],
        &[],
        &[3.0, -1.0],
    ] {
        let e = l.grid_for_timesteps(bad).unwrap_err().to_string();
        assert!(e.contains("`timesteps`"), "{bad:?}: {e}");
    }
    config_err(
        r#"{"_class_name": "CMStochasticIterativeScheduler", "num_train_timesteps": 1}"#,
        SD,
        "num_train_timesteps",
        "1",
    );
    config_err(
        r#"{"_class_name": "CMStochasticIterativeScheduler", "s_noise": -1.0}"#,
        SD,
        "s_noise",
        "-1",
    );
    // Another class's field is ignored, as diffusers' from_config ignores it.
    let other =
        r#"{"_class_name": "CMStochasticIterativeScheduler", "prediction_type": "epsilon"}"#;
    assert_eq!(
        load(other, SD).unwrap().ignored,
        vec!["prediction_type".to_string()]
    );
    let e = load(
        r#"{"_class_name": "CMStochasticIterativeScheduler", "sigma_min": 0.0}"#,
        SD,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("sigma_min"), "{e}");
    // A flow pipeline is refused by name.
    config_err(
        cm,
        PipelineKind::Sd3 {
            image_seq_len: None,
        },
        "_class_name",
        "CMStochasticIterativeScheduler",
    );
}

#[test]
fn the_consistency_renoise_is_checked_by_name() {
    use gdf::solver::Lcm;
    for (what, e) in [
        ("sigma_min", Lcm::new().with_noise_floor(f64::NAN, 1.0)),
        ("sigma_min", Lcm::new().with_noise_floor(-0.1, 1.0)),
        ("s_noise", Lcm::new().with_noise_floor(0.004, -1.0)),
        ("s_noise", Lcm::new().with_noise_floor(0.004, f64::INFINITY)),
    ] {
        let e = e.unwrap_err().to_string();
        assert!(e.contains(what), "{e}");
    }
}

/// Every config under `examples/configs` loads with its pipeline, gives a grid of 4 steps and
/// runs one sampling loop to the end with a point-mass model (the files the README and
/// `cargo run --example load_config` point users at stay loadable).
#[test]
fn every_example_config_loads_and_samples() {
    use gdf::solver::{CounterNoise, Run};
    let sd3 = PipelineKind::Sd3 {
        image_seq_len: None,
    };
    let pipeline = |name: &str| match name {
        "sd3.json" | "minimax-h3.json" => sd3,
        "flux-dev.json" => PipelineKind::Flux {
            image_seq_len: 4096.0,
        },
        "stable-cascade.json" => PipelineKind::StableCascade { shift: 1.0 },
        "sana-sprint.json" => PipelineKind::SANA_SPRINT,
        "mochi.json" => PipelineKind::MOCHI,
        _ => SD,
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let l = load(&std::fs::read_to_string(&path).unwrap(), pipeline(&name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // SANA-Sprint's default run has two steps (its intermediate angle).
        let n = if name == "sana-sprint.json" { 2 } else { 4 };
        let grid = l.solver_grid(&l.grid(n).unwrap()).unwrap();
        let mut run = Run::new(
            l.solver.clone(),
            grid,
            vec![0.3f64; 4],
            2,
            CounterNoise::new(1),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        run.set_threshold(l.threshold).unwrap();
        let mut calls = 0;
        while run.next_eval().unwrap().is_some() {
            run.feed_x0(&[0.25; 4]).unwrap();
            calls += 1;
        }
        assert!(calls >= n, "{name}: {calls} calls");
        assert!(run.x().iter().all(|v| v.is_finite()), "{name}");
        seen += 1;
    }
    assert_eq!(seen, 13, "a new config needs its pipeline here");
}

#[test]
fn dpm_inverse_loads_an_inversion_grid_and_refuses_by_name() {
    use gdf::solver::{AnySolver, Run, Solver};
    let inv = r#"{"_class_name": "DPMSolverMultistepInverseScheduler"}"#;
    let l = load(inv, SD).unwrap();
    assert!(matches!(l.solver, AnySolver::DpmSolverMultistep(_)));
    assert!(l.solver.inverts());
    let g = l.grid(10).unwrap();
    // linspace from the clean end: timesteps 0, 100, …, 899 (rounded), then σ of T − 1.
    let ts = g.timesteps.as_ref().unwrap().to_f64();
    assert_eq!(ts[..3], [0.0, 100.0, 200.0]);
    assert!(g.logsnr.windows(2).all(|w| w[1] < w[0]));
    let sg = l.solver_grid(&g).unwrap();
    assert!(sg.is_inverse());
    assert!(Run::new(
        l.solver.clone(),
        sg,
        vec![0.1f64; 2],
        1,
        gdf::solver::NoNoise
    )
    .is_ok());
    // The forward class's forms that do not invert, or that diffusers lists noisiest first.
    config_err(
        r#"{"_class_name": "DPMSolverMultistepInverseScheduler", "algorithm_type": "sde-dpmsolver++"}"#,
        SD,
        "algorithm_type",
        "sde-dpmsolver++",
    );
    config_err(
        r#"{"_class_name": "DPMSolverMultistepInverseScheduler", "use_karras_sigmas": true}"#,
        SD,
        "use_karras_sigmas",
        "true",
    );
    // Trailing spacing with a clipped λ: numpy lists fewer timesteps than asked.
    let clipped = load(
        r#"{"_class_name": "DPMSolverMultistepInverseScheduler", "timestep_spacing": "trailing",
            "lambda_min_clipped": -3.0}"#,
        SD,
    )
    .unwrap();
    let e = clipped.grid(8).unwrap_err().to_string();
    assert!(
        e.contains("timestep_spacing") && e.contains("lists 7"),
        "{e}"
    );
    // Third order on trailing: diffusers' zero-length last step returns NaN (listed).
    let t3 = load(
        r#"{"_class_name": "DPMSolverMultistepInverseScheduler", "timestep_spacing": "trailing",
            "solver_order": 3}"#,
        SD,
    )
    .unwrap();
    assert!(t3.approximations[0].note.contains("returns NaN"));
    // The forward class's final_sigmas_type is not the inverse's: ignored, as diffusers does.
    let f = load(
        r#"{"_class_name": "DPMSolverMultistepInverseScheduler", "final_sigmas_type": "zero"}"#,
        SD,
    )
    .unwrap();
    assert_eq!(f.ignored, vec!["final_sigmas_type".to_string()]);
}

#[test]
fn mochi_loads_with_its_pipeline_and_refuses_by_name() {
    use gdf::dynamic::DynTarget;
    use gdf::interop::diffusers::{linear_quadratic_sigmas, ModelTimestep};
    let mochi = include_str!("../examples/configs/mochi.json");
    let l = load(mochi, PipelineKind::MOCHI).unwrap();
    assert_eq!(l.framework.target, DynTarget::NegRectifiedFlows);
    assert_eq!(
        l.timestep,
        ModelTimestep::InvertedFlowSigma { scale: 1000.0 }
    );
    // The grid: the pipeline's linear-quadratic sigmas, from pure noise to σ = 0.
    let g = l.grid(12).unwrap();
    let s = linear_quadratic_sigmas(12, 0.025, None).unwrap();
    assert_eq!(g.logsnr.len(), 13);
    assert_eq!(g.logsnr[0], f64::NEG_INFINITY);
    assert_eq!(g.logsnr[12], f64::INFINITY);
    for (lvl, s) in g.sigmas.iter().zip(&s) {
        assert!((lvl - s).abs() < 1e-7, "{lvl} vs {s}"); // through float32
    }
    // The transformer's timestep (1 − σ)·1000.
    let t = g.timesteps.as_ref().unwrap().to_f64();
    assert_eq!(t[0], 0.0);
    assert!((t[1] - 1000.0 * 0.025 / 6.0).abs() < 1e-3, "{}", t[1]);
    // The inverted convention belongs to Mochi's pipeline, and Mochi's pipeline to it.
    let sd3 = PipelineKind::Sd3 {
        image_seq_len: None,
    };
    config_err(mochi, sd3, "invert_sigmas", "true");
    config_err(
        r#"{"_class_name": "FlowMatchEulerDiscreteScheduler"}"#,
        PipelineKind::MOCHI,
        "invert_sigmas",
        "false",
    );
    config_err(
        r#"{"_class_name": "FlowMatchHeunDiscreteScheduler", "invert_sigmas": true}"#,
        PipelineKind::MOCHI,
        "_class_name",
        "FlowMatchHeunDiscreteScheduler",
    );
    for class in [
        "DDIMScheduler",
        "UniPCMultistepScheduler",
        "FlowMapEulerDiscreteScheduler",
        "MiniMaxH3Scheduler",
        "SCMScheduler",
        "CMStochasticIterativeScheduler",
    ] {
        let json = if class == "UniPCMultistepScheduler" {
            format!(r#"{{"_class_name": "{class}", "use_flow_sigmas": true}}"#)
        } else {
            format!(r#"{{"_class_name": "{class}"}}"#)
        };
        config_err(&json, PipelineKind::MOCHI, "_class_name", class);
    }
    // The pipeline's arguments are checked by name.
    for (pk, what) in [
        (
            PipelineKind::Mochi {
                threshold_noise: 1.5,
                linear_steps: None,
            },
            "threshold_noise",
        ),
        (
            PipelineKind::Mochi {
                threshold_noise: 0.025,
                linear_steps: Some(0),
            },
            "linear_steps",
        ),
    ] {
        let e = load(mochi, pk).unwrap_err().to_string();
        assert!(e.contains(what), "{e}");
    }
    let e = l.grid(1).unwrap_err().to_string();
    assert!(e.contains("num_inference_steps"), "{e}");
    let five = load(
        mochi,
        PipelineKind::Mochi {
            threshold_noise: 0.025,
            linear_steps: Some(5),
        },
    )
    .unwrap();
    assert!(five
        .grid(5)
        .unwrap_err()
        .to_string()
        .contains("linear_steps"));
}
