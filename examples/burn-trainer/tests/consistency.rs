//! The consistency-training and -distillation modes: the shipped configs load, a config that
//! is not the recipe's frame (or samples with another solver, or has both sections) is
//! refused by name, and a run (with its weights' moving average, and distillation's target
//! network) resumes bit for bit; both moving averages are the one written out.

use std::path::PathBuf;

use burn_trainer::{Config, Trainer};
use gdf::consistency::ImprovedCt;

fn shipped() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("consistency.toml")
}

fn shipped_distillation() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("distillation.toml")
}

/// The shipped consistency-training config, made small.
fn small() -> Config {
    small_of(&shipped())
}

/// A shipped config, made small.
fn small_of(path: &std::path::Path) -> Config {
    let mut c = Config::load(path).unwrap();
    c.train.steps = 40;
    c.train.batch = 64;
    c.train.hidden = 32;
    c.train.octaves = 4;
    c.train.seed = 5;
    c.train.ema = Some(0.9);
    c.sample.points = 16;
    c
}

#[test]
fn the_shipped_config_is_the_recipes_frame() {
    let c = Config::load(&shipped()).unwrap();
    let ct = c.consistency.expect("a [consistency] section");
    assert_eq!(ct.sigma_data, 1.6);
    // Keys left out take the paper's values.
    assert_eq!((ct.p_mean, ct.p_std), (-1.1, 2.0));
    assert!(ct.check_framework(&c.framework).is_ok());
    assert_eq!(c.sample.spec.solver, "lcm");
}

#[test]
fn a_config_outside_the_recipe_is_refused_by_name() {
    let mut c = small();
    c.framework = "schedule: Cosine, scaler: Vp, target: V, noise_cond: Edm, loss_weight: Constant"
        .parse()
        .unwrap();
    let e = c.check().unwrap_err().to_string();
    assert!(e.contains("Consistency(sigma_min = 0.00125)"), "{e}");
    let mut c = small();
    c.consistency = Some(ImprovedCt {
        sigma_data: 0.5,
        ..ImprovedCt::new()
    });
    let e = c.check().unwrap_err().to_string();
    assert!(e.contains("Consistency(sigma_min = 0.004)"), "{e}");
    let mut c = small();
    c.framework = "schedule: EdmSample(sigma_range = [0.00125, 50.0]), scaler: Vp, \
                   target: Consistency(sigma_min = 0.00125), noise_cond: Edm, loss_weight: Snr"
        .parse()
        .unwrap();
    let e = c.check().unwrap_err().to_string();
    assert!(
        e.contains("framework.loss_weight") && e.contains("Snr"),
        "{e}"
    );
    let mut c = small();
    c.train.ema = Some(1.0);
    let e = c.check().unwrap_err().to_string();
    assert!(e.contains("train.ema"), "{e}");
    let mut c = small();
    c.sample.spec.solver = "dpmpp_2m".into();
    let e = c.check().unwrap_err().to_string();
    assert!(e.contains("sample.solver") && e.contains("dpmpp_2m"), "{e}");
    let e = toml::from_str::<Config>(
        &std::fs::read_to_string(shipped())
            .unwrap()
            .replace("initial_levels", "initial_level"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("initial_level"), "{e}");
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// `n + m` steps in one go equal `n` steps, a checkpoint, and `m` more, bit for bit (weights
/// and their moving average).
fn resumes_bit_for_bit(config: fn() -> Config, name: &str) {
    let (n, m) = (25u64, 15u64);
    let dir = std::env::temp_dir().join(format!("burn-trainer-{name}-{}", std::process::id()));
    let mut whole = Trainer::new(config());
    let mut losses = Vec::new();
    for _ in 0..n + m {
        losses.push(whole.step().unwrap().loss);
    }
    assert!(
        losses.iter().all(|l| l.is_finite() && *l > 0.0),
        "{losses:?}"
    );
    let mut first = Trainer::new(config());
    for _ in 0..n {
        first.step().unwrap();
    }
    first.save(&dir).unwrap();
    drop(first);
    let mut resumed = Trainer::load(config(), &dir).unwrap();
    for _ in 0..m {
        resumed.step().unwrap();
    }
    std::fs::remove_dir_all(&dir).ok();
    let pw = whole.parameter_values().unwrap();
    assert_eq!(bits(&pw), bits(&resumed.parameter_values().unwrap()));
    // The moving average is saved and restored too, and it is an average: it differs from
    // the weights.
    let ema = |t: &Trainer| t.ema.as_ref().expect("an EMA").parameter_values().unwrap();
    assert_eq!(bits(&ema(&whole)), bits(&ema(&resumed)));
    assert_ne!(bits(&ema(&whole)), bits(&pw));
    // So is distillation's target network.
    assert_eq!(whole.target_net.is_some(), resumed.target_net.is_some());
    if let (Some(a), Some(b)) = (&whole.target_net, &resumed.target_net) {
        let a = a.parameter_values().unwrap();
        assert_eq!(bits(&a), bits(&b.parameter_values().unwrap()));
        assert_ne!(bits(&a), bits(&pw));
    }
    // The consistency sampler runs on the result (one step and the config's two).
    let x = whole.sample(|_, _| {}).unwrap();
    assert_eq!(x.len(), 32);
    assert!(x.iter().all(|v| v.is_finite()));
}

#[test]
fn a_consistency_run_resumes_bit_for_bit() {
    resumes_bit_for_bit(small, "ct");
}

#[test]
fn a_distillation_run_resumes_bit_for_bit() {
    resumes_bit_for_bit(|| small_of(&shipped_distillation()), "cd");
}

#[test]
fn the_shipped_distillation_config_is_its_frame_and_excludes_training() {
    let c = Config::load(&shipped_distillation()).unwrap();
    let cd = c.distillation.expect("a [distillation] section");
    assert_eq!((cd.sigma_data, cd.levels, cd.target_ema), (1.6, 18, 0.95));
    assert!(cd.check_framework(&c.framework).is_ok());
    assert_eq!(c.student(), Some((0.002, 1.6)));
    let mut both = c.clone();
    both.consistency = Some(ImprovedCt {
        sigma_data: 1.6,
        ..ImprovedCt::new()
    });
    let e = both.check().unwrap_err().to_string();
    assert!(
        e.contains("distillation") && e.contains("[consistency]"),
        "{e}"
    );
    let mut other = c;
    other.distillation = Some(gdf::consistency::Distillation {
        sigma_data: 0.5,
        ..cd
    });
    let e = other.check().unwrap_err().to_string();
    assert!(e.contains("Consistency(sigma_min = 0.004)"), "{e}");
}

/// `after` is `β·before + (1 − β)·model`, parameter by parameter, and the step moved most
/// weights.
fn assert_moving_average(before: &[f32], model: &[f32], after: &[f32], beta: f32) {
    let moved = before
        .iter()
        .zip(model)
        .zip(after)
        .filter(|((b, m), _)| b != m)
        .count();
    assert!(
        moved > before.len() / 2,
        "a step moves most weights ({moved})"
    );
    for ((b, m), a) in before.iter().zip(model).zip(after) {
        let want = beta * b + (1.0 - beta) * m;
        assert!(
            (a - want).abs() <= 1e-6 * want.abs().max(1.0),
            "{a} vs {want}"
        );
    }
}

/// `[train] ema` (through `gdf_burn::ema_update`) is `β·ema + (1 − β)·model`, parameter by
/// parameter.
#[test]
fn the_moving_average_is_the_formula() {
    let mut t = Trainer::new(small());
    let before = t.ema.as_ref().unwrap().parameter_values().unwrap();
    assert_eq!(bits(&before), bits(&t.parameter_values().unwrap()));
    t.step().unwrap();
    let model = t.parameter_values().unwrap();
    let after = t.ema.as_ref().unwrap().parameter_values().unwrap();
    assert_moving_average(&before, &model, &after, 0.9);
}

/// Distillation's target network starts at the student's weights, evaluates the teacher's
/// input (the first step's loss is the stopped student's, bit for bit, the second's is not),
/// and follows `μ·target + (1 − μ)·student`; with `target_ema = 0` there is none, and a decay
/// outside `[0, 1)` is refused by name.
#[test]
fn the_target_network_is_the_students_moving_average() {
    let with = |mu: f64| {
        let mut c = small_of(&shipped_distillation());
        c.train.ema = None;
        c.distillation.as_mut().unwrap().target_ema = mu;
        c
    };
    let mut averaged = Trainer::new(with(0.75));
    let mut stopped = Trainer::new(with(0.0));
    assert!(stopped.target_net.is_none());
    let before = averaged
        .target_net
        .as_ref()
        .unwrap()
        .parameter_values()
        .unwrap();
    assert_eq!(bits(&before), bits(&averaged.parameter_values().unwrap()));
    let (la, ls) = (averaged.step().unwrap(), stopped.step().unwrap());
    assert_eq!(la.loss.to_bits(), ls.loss.to_bits());
    let model = averaged.parameter_values().unwrap();
    assert_eq!(bits(&model), bits(&stopped.parameter_values().unwrap()));
    let after = averaged
        .target_net
        .as_ref()
        .unwrap()
        .parameter_values()
        .unwrap();
    assert_moving_average(&before, &model, &after, 0.75);
    let (la, ls) = (averaged.step().unwrap(), stopped.step().unwrap());
    assert_ne!(la.loss.to_bits(), ls.loss.to_bits());
    let e = with(1.0).check().unwrap_err().to_string();
    assert!(e.contains("target_ema"), "{e}");
}

/// A trained diffusion run as distillation's teacher: its checkpoint holds its config
/// (`Trainer::open` restores it bit for bit), its denoiser is the identity as σ → 0 whatever
/// the weights (the frame's `a → 1`, `b → 0`), and only a diffusion run distils into a
/// `[distillation]` config.
#[test]
fn a_trained_run_teaches_distillation() {
    use burn_trainer::Teacher;
    let dir = std::env::temp_dir().join(format!("burn-trainer-teacher-{}", std::process::id()));
    let mut diffusion =
        Config::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config.toml")).unwrap();
    diffusion.train.steps = 20;
    diffusion.train.batch = 64;
    diffusion.train.hidden = 32;
    let mut run = Trainer::new(diffusion);
    for _ in 0..20 {
        run.step().unwrap();
    }
    run.save(&dir).unwrap();
    let opened = Trainer::open(&dir).unwrap();
    assert_eq!(
        bits(&opened.parameter_values().unwrap()),
        bits(&run.parameter_values().unwrap())
    );
    let teacher = Teacher::of(&opened);
    let x = [0.7f32, -1.2, 2.0, 0.4];
    let mut d = [0f32; 4];
    teacher.denoise(&x, &[1e-4, 1e-4], &mut d).unwrap();
    for (a, b) in d.iter().zip(&x) {
        assert!((a - b).abs() < 1e-3, "{a} vs {b}");
    }
    teacher.denoise(&x, &[80.0, 5.0], &mut d).unwrap();
    assert!(d.iter().all(|v| v.is_finite()));

    let mut student = Trainer::new(small_of(&shipped_distillation()));
    student.distil_from(&dir).unwrap();
    assert!(student.teacher.is_some());
    let first = student.step().unwrap();
    assert!(first.loss.is_finite());
    let mut ct = Trainer::new(small());
    let e = ct
        .distil_from(&dir)
        .expect_err("no [distillation]")
        .to_string();
    assert!(e.contains("[distillation]"), "{e}");
    let ct_dir = dir.join("ct");
    ct.save(&ct_dir).unwrap();
    let e = student
        .distil_from(&ct_dir)
        .expect_err("a consistency model cannot teach")
        .to_string();
    assert!(e.contains("diffusion model"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
