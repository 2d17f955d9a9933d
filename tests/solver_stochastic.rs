//! The stochastic solvers sample the right distribution (SPEC §9.1). For Gaussian data
//! `N(μ, s²)` the exact denoiser is affine in x, so a run's output is
//! `α·x_T + β + Σ_k γ_k·n_k`: its mean and variance follow exactly (no Monte Carlo) from
//! runs of the solver itself on impulses: the output with `x_T = 1` and no noise gives `α`,
//! the output with only draw `k` set to 1 gives `γ_k` (each impulse is one sample of the
//! batch). Started from the exact marginal at a very noisy level, every SDE/ancestral solver
//! must end with mean μ and a standard deviation that tends to s as the steps shrink, at
//! the rate of its order. A wrong noise coefficient (`b_up`, `e^{−ηh}`, the churn amount)
//! shows up as a spread that does not converge to s.

use gdf::scaler::Vp;
use gdf::solver::*;
use gdf::GdfError;

const MU: f64 = 0.5;
const S: f64 = 0.5;

/// Noise that is 1 for sample `draw + 1` of draw `draw` and 0 elsewhere.
struct Impulses;

impl NoiseSource<f64> for Impulses {
    fn fill(
        &self,
        draw: usize,
        _: usize,
        sample: usize,
        _: usize,
        out: &mut [f64],
    ) -> Result<(), GdfError> {
        out.fill(if sample == draw + 1 { 1.0 } else { 0.0 });
        Ok(())
    }
}

/// Zero noise.
struct Zeros;

impl NoiseSource<f64> for Zeros {
    fn fill(
        &self,
        _: usize,
        _: usize,
        _: usize,
        _: usize,
        out: &mut [f64],
    ) -> Result<(), GdfError> {
        out.fill(0.0);
        Ok(())
    }
}

/// Exact (mean, std) of the output of `make()` on `lams`, from the exact marginal at λ_0.
fn moments(make: &dyn Fn() -> AnySolver, lams: &[f64]) -> (f64, f64) {
    let grid = Grid::new(&Vp, lams).unwrap();
    let l0 = grid.level(0);
    // Mean: x_T at its mean, no noise, the full affine denoiser.
    let affine = |mu: f64| {
        move |x: &[f64], l: Level, d: &mut [f64]| -> Result<(), GdfError> {
            for (d, &x) in d.iter_mut().zip(x) {
                *d = (S * S * l.a * x + l.b * l.b * mu) / (S * S * l.a * l.a + l.b * l.b);
            }
            Ok(())
        }
    };
    let mut run = Run::new(make(), grid.clone(), vec![l0.a * MU], 1, Zeros).unwrap();
    while let Some(req) = run.next_eval().unwrap() {
        let mut d = [0.0];
        affine(MU)(req.x, req.level, &mut d).unwrap();
        run.feed_x0(&d).unwrap();
    }
    let (mean, draws) = (run.x()[0], run.draws());
    // Linear part: sample 0 carries x_T = 1, sample k+1 carries draw k = 1.
    let mut x = vec![0.0; draws + 1];
    x[0] = 1.0;
    let out = Run::new(make(), grid, x, draws + 1, Impulses)
        .unwrap()
        .run(affine(0.0))
        .unwrap();
    let var_t = l0.a * l0.a * S * S + l0.b * l0.b;
    let var = out[0] * out[0] * var_t + out[1..].iter().map(|g| g * g).sum::<f64>();
    (mean, var.sqrt())
}

fn grid(steps: usize) -> Vec<f64> {
    let (l0, l1) = (-12.0, 12.0);
    let mut lams: Vec<f64> = (0..steps)
        .map(|i| l0 + (l1 - l0) * i as f64 / (steps - 1) as f64)
        .collect();
    lams.push(f64::INFINITY);
    lams
}

#[test]
fn stochastic_solvers_sample_the_data_distribution() {
    let churn = Churn {
        s_churn: 20.0,
        s_tmin: 0.05,
        s_tmax: 50.0,
        s_noise: 1.0,
    };
    type Make = Box<dyn Fn() -> AnySolver>;
    // (solver, the rate at which its spread converges here: 1 for Euler-type ancestral and
    // churned steps, and for DPM++ SDE, whose two draws per step are independent here where
    // k-diffusion's Brownian tree correlates them; 2 for the second-order ones).
    let rows: Vec<(&str, Make, u32)> = vec![
        (
            "euler_ancestral",
            Box::new(|| AnySolver::EulerAncestral(EulerAncestral::new())),
            1,
        ),
        (
            "euler_ancestral η=0.5",
            Box::new(|| AnySolver::EulerAncestral(EulerAncestral::with(0.5, 1.0).unwrap())),
            1,
        ),
        (
            "dpm_2_ancestral",
            Box::new(|| AnySolver::Dpm2Ancestral(Dpm2Ancestral::new())),
            2,
        ),
        (
            "dpmpp_2s_ancestral",
            Box::new(|| AnySolver::DpmPP2SAncestral(DpmPP2SAncestral::new())),
            2,
        ),
        (
            "dpmpp_sde",
            Box::new(|| AnySolver::DpmPPSde(DpmPPSde::new())),
            1,
        ),
        (
            "dpmpp_sde correlated",
            Box::new(|| AnySolver::DpmPPSde(DpmPPSde::new().correlated(true))),
            2,
        ),
        (
            "dpmpp_2m_sde",
            Box::new(|| AnySolver::DpmPP2MSde(DpmPP2MSde::new())),
            2,
        ),
        (
            "dpmpp_2m_sde heun η=0.6",
            Box::new(|| {
                AnySolver::DpmPP2MSde(DpmPP2MSde::with(0.6, 1.0, SolverType::Heun).unwrap())
            }),
            2,
        ),
        (
            "dpmpp_3m_sde",
            Box::new(|| AnySolver::DpmPP3MSde(DpmPP3MSde::new())),
            2,
        ),
        (
            // SA-Solver with τ = 1 everywhere: the corrector reuses the predictor's noise.
            "sa_solver τ=1",
            Box::new(|| {
                AnySolver::SaSolver(SaSolver::with(2, 2, true, TauWindow::constant(1.0)).unwrap())
            }),
            2,
        ),
        (
            "sde-dpmsolver++",
            Box::new(|| {
                AnySolver::DpmSolverMultistep(
                    DpmSolverMultistep::with(DpmSolverSettings {
                        algorithm: DpmAlgorithm::SdeDpmSolverPP,
                        ..Default::default()
                    })
                    .unwrap(),
                )
            }),
            2,
        ),
        (
            "euler churn",
            Box::new(move || AnySolver::Euler(Euler::with_churn(churn).unwrap())),
            1,
        ),
        (
            "heun churn",
            Box::new(move || AnySolver::Heun(Heun::with_churn(churn).unwrap())),
            2,
        ),
        (
            "dpm_2 churn",
            Box::new(move || AnySolver::Dpm2(Dpm2::with_churn(churn).unwrap())),
            2,
        ),
        (
            "EulerDiscrete churn",
            Box::new(move || AnySolver::EulerDiscrete(EulerDiscrete::with_churn(churn).unwrap())),
            1,
        ),
    ];
    let mut report = String::new();
    let mut bad = vec![];
    for (name, make, order) in &rows {
        let sizes = [25, 50, 100, 200, 400];
        let res: Vec<(f64, f64)> = sizes.iter().map(|&n| moments(make, &grid(n))).collect();
        let errs: Vec<f64> = res.iter().map(|&(_, sd)| sd - S).collect();
        let ratio = errs[3] / errs[4];
        report += &format!(
            "{name:>24}: std error {}, last ratio {ratio:.2}\n",
            errs.iter()
                .map(|e| format!("{e:+.2e}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        // The mean is exact for every solver: from x_T = a_0·μ with no noise, D = μ at every
        // level, and a consistent step maps a·μ to a'·μ (the point-mass property).
        let mean_ok = res.iter().all(|&(m, _)| (m - MU).abs() < 1e-9);
        // The spread converges to s at the solver's rate (a wrong noise coefficient converges
        // to a wrong spread: the ratio would tend to 1).
        let (lo, hi, last) = match order {
            1 => (1.7, 2.3, 0.02 * S),
            _ => (3.3, 5.0, 1e-3 * S),
        };
        let same_sign = errs.iter().all(|e| e.signum() == errs[4].signum());
        if !(mean_ok && same_sign && (lo..=hi).contains(&ratio) && errs[4].abs() < last) {
            bad.push(*name);
        }
    }
    println!("{report}");
    assert!(
        bad.is_empty(),
        "not converging to N(μ, s²): {bad:?}\n{report}"
    );
}
