//! Checkpoint and resume: N steps, save, load, M more steps equals N + M steps in one go,
//! bit for bit (parameters, the framework's adaptive state, the step counter and the gdf
//! draws that follow).

use burn::tensor::{Tensor, TensorData};
use burn_trainer::{host_device, AdaptiveSnapshot, Config, SampleConfig, TrainConfig, Trainer};
use gdf_burn::SolverSpec;

/// A small run whose framework has an adaptive loss weight, so the checkpoint must carry
/// gdf's state too.
fn config() -> Config {
    Config {
        framework: "schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp, target: V, \
                    noise_cond: CosineT, loss_weight: Adaptive(logsnr_range = [-10.0, 10.0], buckets = 16)"
            .parse()
            .unwrap(),
        train: TrainConfig {
            steps: 40,
            batch: 64,
            lr: 1e-3,
            lr_min: 1e-5,
            hidden: 32,
            octaves: 4,
            base_freq: 1.0,
            seed: 3,
            checkpoint_every: 1000,
            adaptive_beta: 0.9,
            ema: None,
        },
        sample: SampleConfig {
            points: 10,
            spec: SolverSpec {
                solver: "dpmpp_2m".into(),
                steps: 5,
                seed: 1,
            },
        },
        consistency: None,
        distillation: None,
    }
}

/// Bit-for-bit equality, reporting the count and the first differing index (not the vectors).
fn assert_same(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let diff: Vec<usize> = (0..a.len())
        .filter(|&i| a[i].to_bits() != b[i].to_bits())
        .collect();
    assert!(
        diff.is_empty(),
        "{what}: {} of {} values differ, first at {}: {} vs {}",
        diff.len(),
        a.len(),
        diff[0],
        a[diff[0]],
        b[diff[0]]
    );
}

/// Two fresh runs are the same run (burn's lazy, globally seeded init made deterministic).
#[test]
fn fresh_runs_are_identical() {
    let mut a = Trainer::new(config());
    let mut b = Trainer::new(config());
    assert_same(
        &a.parameter_values().unwrap(),
        &b.parameter_values().unwrap(),
        "init",
    );
    for _ in 0..3 {
        a.step().unwrap();
        b.step().unwrap();
    }
    assert_same(
        &a.parameter_values().unwrap(),
        &b.parameter_values().unwrap(),
        "3 steps",
    );
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The gdf draws of the step a trainer would take next (its seeds from the counter).
fn next_draws(t: &Trainer) -> Vec<f32> {
    let mut steps = t.steps;
    let s = steps.next();
    let x0 = Tensor::<2>::from_data(TensorData::new(vec![0.5f32; 2 * 8], [8, 2]), &host_device());
    let d = gdf_burn::diffuse(&t.gdf, x0, &s.diffuse_args()).unwrap();
    let mut v = gdf_burn::to_vec(d.noised, "noised").unwrap();
    v.extend(gdf_burn::to_vec(d.loss_weight, "loss_weight").unwrap());
    v
}

#[test]
fn resume_is_bit_identical() {
    let (n, m) = (25u64, 15u64);
    let dir = std::env::temp_dir().join(format!("burn-trainer-resume-{}", std::process::id()));

    let mut whole = Trainer::new(config());
    let fresh_adaptive = AdaptiveSnapshot::of(&whole.gdf);
    for _ in 0..n + m {
        whole.step().unwrap();
    }

    let mut first = Trainer::new(config());
    for _ in 0..n {
        first.step().unwrap();
    }
    first.save(&dir).unwrap();
    drop(first);
    let mut resumed = Trainer::load(config(), &dir).unwrap();
    assert_eq!(resumed.steps.step, n);
    for _ in 0..m {
        resumed.step().unwrap();
    }
    std::fs::remove_dir_all(&dir).ok();

    assert_eq!(resumed.steps, whole.steps);
    let (pw, pr) = (
        whole.parameter_values().unwrap(),
        resumed.parameter_values().unwrap(),
    );
    // (2 + 9)·32 + 32, twice 32·32 + 32, 32·2 + 2: every parameter is compared.
    assert_eq!(pw.len(), 11 * 32 + 32 + 2 * (32 * 32 + 32) + 32 * 2 + 2);
    assert_same(&pw, &pr, "parameters after resume");
    let (aw, ar) = (
        AdaptiveSnapshot::of(&whole.gdf),
        AdaptiveSnapshot::of(&resumed.gdf),
    );
    assert_ne!(
        aw, fresh_adaptive,
        "the adaptive loss weight never moved: the test would not see it lost"
    );
    assert_eq!(
        aw.loss_weight
            .as_ref()
            .map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()),
        ar.loss_weight
            .as_ref()
            .map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
    );
    assert_eq!(bits(&next_draws(&whole)), bits(&next_draws(&resumed)));

    // The comparison can fail: a run that loses the adaptive state at the checkpoint differs.
    let mut lossy = Trainer::new(config());
    for _ in 0..n {
        lossy.step().unwrap();
    }
    lossy.gdf = config().framework; // fresh adaptive state, as a checkpoint without it would give
    for _ in 0..m {
        lossy.step().unwrap();
    }
    assert_ne!(bits(&lossy.parameter_values().unwrap()), bits(&pw));
}

#[test]
fn resume_refuses_another_framework() {
    let dir = std::env::temp_dir().join(format!("burn-trainer-other-{}", std::process::id()));
    let mut t = Trainer::new(config());
    t.step().unwrap();
    t.save(&dir).unwrap();
    let mut other = config();
    other.framework =
        "schedule: Cosine, scaler: Vp, target: Epsilon, noise_cond: CosineT, loss_weight: P2"
            .parse()
            .unwrap();
    let e = Trainer::load(other, &dir)
        .err()
        .expect("a different framework must be refused");
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        e.to_string().contains("the checkpoint was trained with"),
        "{e}"
    );
}
