//! Grids in `Gdf::sample_with`: through `Grid::schedule`, sampling visits exactly the grid's
//! levels (k-diffusion, diffusers discrete and flow grids, with the ±∞ ends), in f64 and f32,
//! and a run on the Gaussian-mixture toy ends at the last x0 prediction when the grid ends
//! at σ = 0.

use gdf::framework::Gdf;
use gdf::grid::discrete::{DiscreteScheduler, DiscreteSettings, Spacing};
use gdf::grid::flow::FlowMatchSettings;
use gdf::grid::kdiffusion::Karras;
use gdf::grid::{Grid, GridSchedule};
use gdf::prelude::*;
use gdf::sample::{sampling_grid, Cfg, SampleOpts};
use gdf::GdfError;

fn grids() -> Vec<Grid> {
    vec![
        Karras::default().grid(10).unwrap(),
        DiscreteSettings {
            spacing: Spacing::Trailing,
            ..DiscreteSettings::new(DiscreteScheduler::DpmSolverMultistep)
        }
        .grid(25)
        .unwrap(),
        FlowMatchSettings {
            shift: 3.0,
            ..FlowMatchSettings::default()
        }
        .grid(28, None)
        .unwrap(),
    ]
}

#[test]
fn sampling_visits_exactly_the_grid() {
    for g in grids() {
        let s = g.schedule().unwrap();
        let n = g.len() - 1;
        let (_, l64) = sampling_grid(&s, n, 1.0f64, 0.0, 1.0).unwrap();
        let a: Vec<u64> = l64.iter().map(|x| x.to_bits()).collect();
        let b: Vec<u64> = g.logsnr.iter().map(|x| x.to_bits()).collect();
        assert_eq!(a, b);
        let (_, l32) = sampling_grid(&s, n, 1.0f32, 0.0, 1.0).unwrap();
        let want: Vec<f32> = g.logsnr.iter().map(|&x| x as f32).collect();
        assert_eq!(l32, want);
    }
}

#[test]
fn between_knots_it_interpolates() {
    let s = GridSchedule::new(vec![f64::NEG_INFINITY, -2.0, 0.0, 4.0, f64::INFINITY]).unwrap();
    // Knots at t = 1, 0.75, 0.5, 0.25, 0.
    let l: f64 = s.f(0.625);
    assert!((l - -1.0).abs() < 1e-12);
    let l: f64 = s.f(0.375);
    assert!((l - 2.0).abs() < 1e-12);
    // Next to an infinite level: linear in sigmoid(λ), finite and between.
    let l: f64 = s.f(0.875);
    let v = 0.5 / (1.0 + 2f64.exp());
    assert!((l - (v / (1.0 - v)).ln()).abs() < 1e-12);
    let l: f64 = s.f(0.125);
    assert!(l.is_finite() && l > 4.0);
    assert!(GridSchedule::new(vec![1.0]).is_err());
    assert!(matches!(
        GridSchedule::new(vec![0.0, -1.0]),
        Err(GdfError::Invalid { .. })
    ));
    assert!(GridSchedule::new(vec![0.0, f64::NAN]).is_err());
}

#[test]
fn a_run_over_a_karras_grid_ends_at_the_last_x0() {
    use gdf::{loss_weight::P2, noise_cond::LogSnr, scaler::Vp, schedule::Cosine, target::Epsilon};
    let gdf: Gdf<Cosine, Vp, Epsilon, LogSnr, P2> = Gdf::default();
    let grid = Karras::default().grid(12).unwrap();
    let s = grid.schedule().unwrap();
    // A "model" predicting a fixed fraction of x as the noise.
    let model = |x: &[f64], _c: &[f64], _inp: &[f64], pred: &mut [f64]| {
        for (p, &v) in pred.iter_mut().zip(x) {
            *p = 0.5 * v;
        }
    };
    let opts = SampleOpts {
        timesteps: grid.len() - 1,
        cfg: Cfg::Off,
        seed: 5,
        ..Default::default()
    };
    let mut run = gdf
        .sample_with(&s, model, <sampler::Ddim>::new(), &[], None, 2, 6, opts)
        .unwrap();
    let mut seen = Vec::new();
    let mut last = None;
    while let Some(step) = run.next_step().unwrap() {
        seen.push(step.logsnr);
        assert!(step.x.iter().all(|v| v.is_finite()), "step {}", step.index);
        last = Some((step.x.to_vec(), step.x0.to_vec()));
    }
    assert_eq!(seen, grid.logsnr[..grid.len() - 1].to_vec());
    // The last step goes to σ = 0: x = the x0 prediction.
    let (x, x0) = last.unwrap();
    for (a, b) in x.iter().zip(&x0) {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
    }
}
