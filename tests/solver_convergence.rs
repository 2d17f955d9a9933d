//! The analytic test kit of SPEC-solvers §9: identities between solvers (§9.2, exact in
//! f64), exactness on point-mass data, and convergence on the Gaussian (§9.3) against the
//! reference's own error table (k-diffusion / diffusers runs, an independent source), plus
//! the spec's one-step sanity numbers (§1.2, §2.1, §3.4).

use gdf::sampler::ddim_coefficients;
use gdf::scaler::{Lerp, Vp};
use gdf::solver::*;
use gdf::GdfError;

/// Exact denoiser of `x0 ~ N(mu, s²)` (SPEC §9.1).
fn gauss(mu: f64, s: f64) -> impl Fn(&[f64], Level, &mut [f64]) -> Result<(), GdfError> {
    move |x, l, d| {
        for (d, &x) in d.iter_mut().zip(x) {
            *d = (s * s * l.a * x + l.b * l.b * mu) / (s * s * l.a * l.a + l.b * l.b);
        }
        Ok(())
    }
}

fn run<S: Solver>(solver: S, grid: &Grid, x: &[f64], mu: f64, s: f64) -> Vec<f64> {
    Run::new(solver, grid.clone(), x.to_vec(), 1, CounterNoise::new(7))
        .unwrap()
        .run(gauss(mu, s))
        .unwrap()
}

fn unipc(order: usize, variant: UniPcVariant, lof: bool, no_corr: bool) -> UniPc {
    UniPc::with(UniPcSettings {
        order,
        variant,
        lower_order_final: lof,
        disable_corrector: if no_corr { (0..1000).collect() } else { vec![] },
    })
    .unwrap()
}

fn dpms(order: usize, ty: SolverType, lof: bool) -> DpmSolverMultistep {
    DpmSolverMultistep::with(DpmSolverSettings {
        order,
        solver_type: ty,
        lower_order_final: lof,
        final_sigmas: FinalSigmas::SigmaMin,
        ..Default::default()
    })
    .unwrap()
}

/// §9.3: x̃ = 10 at σ = 10 to σ = 0.1 on a uniform-λ grid of `n` steps, no final zero.
fn g1_grid(n: usize) -> Grid {
    let (l0, l1) = (-2.0 * 10f64.ln(), -2.0 * 0.1f64.ln());
    let lams: Vec<f64> = (0..=n)
        .map(|i| l0 + (l1 - l0) * i as f64 / n as f64)
        .collect();
    Grid::new(&Vp, &lams).unwrap()
}

const G1_EXACT: f64 = 0.978920053622;

fn g1_error<S: Solver>(solver: S, n: usize) -> f64 {
    let x0 = 10.0 / 101f64.sqrt();
    run(solver, &g1_grid(n), &[x0], 0.5, 0.5)[0] - G1_EXACT
}

fn max_rel_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f64::max)
}

fn test_grid() -> Grid {
    Grid::new(&Vp, &[-7.0, -4.5, -2.5, -1.0, 0.3, 1.9, 3.0, 4.6, 6.2, 8.0]).unwrap()
}

const XS: [f64; 4] = [0.9, -1.3, 0.2, 2.4];

#[test]
fn first_order_solvers_coincide() {
    let g = test_grid();
    let e = run(Euler::new(), &g, &XS, 0.3, 0.7);
    for (name, other) in [
        (
            "DPMSolverMultistep(1)",
            run(dpms(1, SolverType::Midpoint, true), &g, &XS, 0.3, 0.7),
        ),
        (
            "UniPC-1 without corrector",
            run(unipc(1, UniPcVariant::Bh2, true, true), &g, &XS, 0.3, 0.7),
        ),
        (
            "FlowMatchEuler",
            run(FlowMatchEuler::new(), &g, &XS, 0.3, 0.7),
        ),
        (
            "EulerDiscrete",
            run(EulerDiscrete::new(), &g, &XS, 0.3, 0.7),
        ),
        (
            "LMS(1)",
            run(Lms::with_order(1).unwrap(), &g, &XS, 0.3, 0.7),
        ),
        ("2M-SDE(η=0) first step", {
            let g1 = Grid::new(&Vp, &[-7.0, -4.5]).unwrap();
            let a = run(Euler::new(), &g1, &XS, 0.3, 0.7);
            let b = Run::new(
                DpmSolverMultistep::with(DpmSolverSettings {
                    order: 1,
                    ..Default::default()
                })
                .unwrap(),
                g1,
                XS.to_vec(),
                1,
                NoNoise,
            )
            .unwrap()
            .run(gauss(0.3, 0.7))
            .unwrap();
            assert!(max_rel_diff(&a, &b) < 1e-14);
            e.clone()
        }),
    ] {
        let d = max_rel_diff(&other, &e);
        assert!(d < 1e-13, "{name} differs from Euler by {d:e}");
    }
}

#[test]
fn second_and_third_order_identities() {
    let g = test_grid();
    let m2 = run(DpmPP2M::new(), &g, &XS, 0.3, 0.7);
    let pairs = [
        (
            "2M-SDE(η=0)",
            run(
                DpmPP2MSde::with(0.0, 1.0, SolverType::Midpoint).unwrap(),
                &g,
                &XS,
                0.3,
                0.7,
            ),
        ),
        (
            "UniPC-2 bh2 without corrector",
            run(unipc(2, UniPcVariant::Bh2, false, true), &g, &XS, 0.3, 0.7),
        ),
        (
            "DPMSolverMultistep(2, midpoint)",
            run(dpms(2, SolverType::Midpoint, false), &g, &XS, 0.3, 0.7),
        ),
    ];
    for (name, v) in pairs {
        let d = max_rel_diff(&v, &m2);
        assert!(d < 1e-13, "{name} differs from 2M by {d:e}");
    }
    // 3M-SDE(η=0) ≡ diffusers order 3 with heun-type second step and no lower-order final.
    let m3 = run(DpmPP3MSde::with(0.0, 1.0).unwrap(), &g, &XS, 0.3, 0.7);
    let d3 = run(dpms(3, SolverType::Heun, false), &g, &XS, 0.3, 0.7);
    let d = max_rel_diff(&m3, &d3);
    assert!(d < 1e-13, "3M-SDE(0) vs DPMSolverMultistep(3): {d:e}");
    // 2M-SDE heun(η=0) ≡ diffusers order 2 heun.
    let a = run(
        DpmPP2MSde::with(0.0, 1.0, SolverType::Heun).unwrap(),
        &g,
        &XS,
        0.3,
        0.7,
    );
    let b = run(dpms(2, SolverType::Heun, false), &g, &XS, 0.3, 0.7);
    assert!(max_rel_diff(&a, &b) < 1e-13);
}

/// Noise replayed from a fixed table (the same for two runs).
struct Table(Vec<f64>);

impl NoiseSource<f64> for Table {
    fn fill(
        &self,
        draw: usize,
        _: usize,
        _: usize,
        offset: usize,
        out: &mut [f64],
    ) -> Result<(), GdfError> {
        for (k, o) in out.iter_mut().enumerate() {
            *o = self.0[(draw * 7 + offset + k) % self.0.len()];
        }
        Ok(())
    }
}

fn noise_table() -> Vec<f64> {
    (0..97).map(|i| ((i as f64) * 1.618).sin() * 1.7).collect()
}

#[test]
fn euler_ancestral_is_ddim_eta() {
    let g = test_grid();
    let mu = 0.3;
    let s = 0.7;
    for eta in [0.0, 0.5, 1.0] {
        let got = Run::new(
            EulerAncestral::with(eta, 1.0).unwrap(),
            g.clone(),
            XS.to_vec(),
            1,
            Table(noise_table()),
        )
        .unwrap()
        .run(gauss(mu, s))
        .unwrap();
        // The crate's DDIM(η) step, fed the same draws.
        let mut x = XS.to_vec();
        let tab = Table(noise_table());
        for i in 0..g.steps() {
            let (l, ln) = (g.level(i), g.level(i + 1));
            let mut d = vec![0.0; 4];
            gauss(mu, s)(&x, l, &mut d).unwrap();
            let c = ddim_coefficients(eta, l.a, l.b, ln.a, ln.b);
            let mut n = vec![0.0; 4];
            tab.fill(i, i, 0, 0, &mut n).unwrap();
            for j in 0..4 {
                let e = (x[j] - l.a * d[j]) / l.b;
                x[j] = c[0] * d[j] + c[1] * e + c[2] * n[j];
            }
        }
        let dd = max_rel_diff(&got, &x);
        assert!(dd < 1e-12, "eta {eta}: Euler-a vs DDIM differ by {dd:e}");
    }
}

#[test]
fn first_step_of_2m_sde_is_euler_ancestral_and_dpm_sde() {
    let g = Grid::new(&Vp, &[-3.0, -1.0, 1.0]).unwrap();
    let one = |s: AnySolver| {
        let mut r = Run::new(s, g.clone(), XS.to_vec(), 1, Table(noise_table())).unwrap();
        let mut d = vec![0.0; 4];
        let req = r.next_eval().unwrap().unwrap();
        gauss(0.3, 0.7)(req.x, req.level, &mut d).unwrap();
        r.feed_x0(&d).unwrap();
        r.x().to_vec()
    };
    let a = one(AnySolver::DpmPP2MSde(DpmPP2MSde::new()));
    let b = one(AnySolver::EulerAncestral(EulerAncestral::new()));
    let c = one(AnySolver::DpmSolverMultistep(
        DpmSolverMultistep::with(DpmSolverSettings {
            algorithm: DpmAlgorithm::SdeDpmSolverPP,
            ..Default::default()
        })
        .unwrap(),
    ));
    assert!(max_rel_diff(&a, &b) < 1e-14);
    assert!(max_rel_diff(&a, &c) < 1e-14);
}

/// Every ODE solver is exact on point-mass data (D ≡ μ), for any grid and scaler.
#[test]
fn point_mass_is_exact_for_every_ode_solver() {
    let mu = 0.5;
    let solvers = || -> Vec<AnySolver> {
        vec![
            AnySolver::Euler(Euler::new()),
            AnySolver::Heun(Heun::new()),
            AnySolver::Dpm2(Dpm2::new()),
            AnySolver::Lms(Lms::new()),
            AnySolver::DpmPP2M(DpmPP2M::new()),
            AnySolver::DpmPP2MSde(DpmPP2MSde::with(0.0, 1.0, SolverType::Heun).unwrap()),
            AnySolver::DpmPP3MSde(DpmPP3MSde::with(0.0, 1.0).unwrap()),
            AnySolver::DpmSolverMultistep(dpms(2, SolverType::Midpoint, true)),
            AnySolver::DpmSolverMultistep(dpms(3, SolverType::Heun, false)),
            AnySolver::UniPc(unipc(1, UniPcVariant::Bh2, true, false)),
            AnySolver::UniPc(unipc(2, UniPcVariant::Bh1, true, false)),
            AnySolver::UniPc(unipc(3, UniPcVariant::Bh2, false, false)),
            AnySolver::UniPc(unipc(3, UniPcVariant::Bh1, true, false)),
            AnySolver::EulerDiscrete(EulerDiscrete::new()),
            AnySolver::FlowMatchEuler(FlowMatchEuler::new()),
            AnySolver::SaSolver(SaSolver::with(2, 2, true, TauWindow::constant(0.0)).unwrap()),
            AnySolver::SaSolver(SaSolver::with(3, 4, false, TauWindow::constant(0.0)).unwrap()),
            AnySolver::Deis(Deis::with(1, true).unwrap()),
            AnySolver::Deis(Deis::with(2, true).unwrap()),
            AnySolver::Deis(Deis::with(3, false).unwrap()),
            AnySolver::DpmSolverSinglestep(DpmSolverSinglestep::new()),
            // ε histories only: a v history's combination is not ε (diffusers' v-PNDM).
            AnySolver::Plms(Plms::new()),
            AnySolver::Ipndm(Ipndm::new()),
            // ComfyUI's ODE solvers (ER-SDE without noise is not the ODE: it keeps its drift).
            AnySolver::GradientEstimation(GradientEstimation::new()),
            AnySolver::IpndmSigma(IpndmSigma::new()),
            // ipndm_v only to order 3: its order-4 weights do not sum to 1 on uneven steps
            // (ipndm_in_sigma_is_adams_bashforth).
            AnySolver::IpndmSigma(IpndmSigma::with(3, true).unwrap()),
            AnySolver::Seeds(Seeds::two(0.0, 1.0, 0.5, false).unwrap()),
            AnySolver::Seeds(Seeds::two(0.0, 1.0, 0.4, true).unwrap()),
            AnySolver::Seeds(Seeds::three(0.0, 1.0, 1.0 / 3.0, 2.0 / 3.0).unwrap()),
            AnySolver::Seeds(Seeds::exp_heun()),
            AnySolver::ResMultistep(ResMultistep::new()),
            AnySolver::Heunpp2(Heunpp2::new()),
            AnySolver::DpmSolverSinglestep(
                DpmSolverSinglestep::with(DpmSinglestepSettings {
                    order: 3,
                    solver_type: SolverType::Heun,
                    final_sigmas: FinalSigmas::SigmaMin,
                    ..Default::default()
                })
                .unwrap(),
            ),
        ]
    };
    let grids: Vec<(&str, Grid)> = vec![
        ("vp", test_grid()),
        (
            "vp to +inf",
            Grid::new(&Vp, &[-9.0, -3.0, -1.2, 0.0, 2.2, 5.0, f64::INFINITY]).unwrap(),
        ),
        (
            "lerp",
            Grid::new(&Lerp, &[-6.0, -2.0, 0.5, 1.5, 4.0, 9.0]).unwrap(),
        ),
    ];
    for (gname, g) in &grids {
        let (l0, ln) = (g.level(0), g.level(g.steps()));
        for s in solvers() {
            let name = s.name();
            let got = run(s, g, &XS, mu, 0.0);
            for (x, &x0) in got.iter().zip(&XS) {
                let want = ln.a * mu + (x0 - l0.a * mu) * ln.b / l0.b;
                assert!(
                    (x - want).abs() < 1e-12 * (1.0 + want.abs()),
                    "{name} on {gname}: {x} vs exact {want}"
                );
            }
        }
    }
    // From λ = −∞ (a flow's start) for the solvers that allow it.
    let g = Grid::new(&Lerp, &[f64::NEG_INFINITY, -1.0, 0.5, 3.0, f64::INFINITY]).unwrap();
    for s in [
        AnySolver::Euler(Euler::new()),
        AnySolver::DpmPP2M(DpmPP2M::new()),
        AnySolver::DpmPP2MSde(DpmPP2MSde::with(0.0, 1.0, SolverType::Heun).unwrap()),
        AnySolver::DpmSolverMultistep(dpms(2, SolverType::Midpoint, true)),
        AnySolver::EulerDiscrete(EulerDiscrete::new()),
        AnySolver::FlowMatchEuler(FlowMatchEuler::new()),
    ] {
        let name = s.name();
        let got = run(s, &g, &XS, mu, 0.0);
        assert!(
            got.iter().all(|&x| (x - mu).abs() < 1e-12),
            "{name}: {got:?}"
        );
    }
}

/// §9.3's table: the reference's errors at N = 8, 16, 32, 64 (4 significant digits).
#[test]
fn gaussian_errors_match_the_reference_table_and_orders() {
    type Make = Box<dyn Fn() -> AnySolver>;
    type TableRow = (&'static str, Make, [f64; 4], (f64, f64));
    let rows: Vec<TableRow> = vec![
        (
            "Euler",
            Box::new(|| AnySolver::Euler(Euler::new())),
            [-6.212e-2, -3.211e-2, -1.633e-2, -8.234e-3],
            (1.8, 2.2),
        ),
        (
            "Heun",
            Box::new(|| AnySolver::Heun(Heun::new())),
            [2.308e-2, 5.335e-3, 1.284e-3, 3.152e-4],
            (3.6, 4.4),
        ),
        (
            "DPM-2",
            Box::new(|| AnySolver::Dpm2(Dpm2::new())),
            [1.054e-2, 2.512e-3, 6.126e-4, 1.513e-4],
            (3.6, 4.4),
        ),
        (
            "2M midpoint",
            Box::new(|| AnySolver::DpmPP2M(DpmPP2M::new())),
            [2.545e-3, 1.525e-3, 4.425e-4, 1.157e-4],
            (3.5, 4.4),
        ),
        (
            "2M heun",
            Box::new(|| {
                AnySolver::DpmPP2MSde(DpmPP2MSde::with(0.0, 1.0, SolverType::Heun).unwrap())
            }),
            [9.916e-3, 3.318e-3, 8.668e-4, 2.185e-4],
            (3.6, 4.4),
        ),
        (
            "3M (η=0)",
            Box::new(|| AnySolver::DpmPP3MSde(DpmPP3MSde::with(0.0, 1.0).unwrap())),
            [1.081e-2, 1.218e-3, 2.125e-4, 4.606e-5],
            (3.5, 6.0),
        ),
        (
            "UniPC-1 bh2",
            Box::new(|| AnySolver::UniPc(unipc(1, UniPcVariant::Bh2, false, false))),
            [-2.841e-2, -7.547e-3, -1.909e-3, -4.783e-4],
            (3.6, 4.4),
        ),
        (
            "UniPC-2 bh1",
            Box::new(|| AnySolver::UniPc(unipc(2, UniPcVariant::Bh1, false, false))),
            [1.947e-2, 2.161e-3, 2.495e-4, 2.997e-5],
            (7.0, 9.5),
        ),
        (
            "UniPC-2 bh2",
            Box::new(|| AnySolver::UniPc(unipc(2, UniPcVariant::Bh2, false, false))),
            [7.416e-3, 1.074e-3, 1.342e-4, 1.672e-5],
            (7.0, 9.0),
        ),
        (
            "UniPC-3 bh2",
            Box::new(|| AnySolver::UniPc(unipc(3, UniPcVariant::Bh2, false, false))),
            [4.220e-3, -1.114e-4, -1.023e-5, -7.200e-7],
            (11.0, 17.0),
        ),
    ];
    let mut report = String::new();
    for (name, make, want, (lo, hi)) in rows {
        let errs: Vec<f64> = [8, 16, 32, 64]
            .iter()
            .map(|&n| g1_error(make(), n))
            .collect();
        for (k, (&g, &w)) in errs.iter().zip(&want).enumerate() {
            // 4 significant digits: half a unit of the 4th digit is ≤ 5e-4 relative.
            assert!(
                (g - w).abs() <= 6e-4 * w.abs(),
                "{name} N={}: error {g:e}, reference {w:e}",
                8 << k
            );
        }
        let ratio = errs[2] / errs[3];
        report += &format!(
            "{name:>12}: errors {:+.3e} {:+.3e} {:+.3e} {:+.3e}, ratio 32→64 {ratio:.2}\n",
            errs[0], errs[1], errs[2], errs[3]
        );
        assert!(
            (lo..=hi).contains(&ratio),
            "{name}: ratio {ratio} outside [{lo}, {hi}]"
        );
    }
    println!("{report}");
}

/// Convergence orders of the solvers the table does not list (ratios under halving).
#[test]
fn other_solvers_converge_at_their_order() {
    type Make = Box<dyn Fn() -> AnySolver>;
    let rows: Vec<(&str, Make, (f64, f64))> = vec![
        (
            "LMS(4)",
            Box::new(|| AnySolver::Lms(Lms::new())),
            // The warm-up steps (orders 1–3) cap the global order; ≥ 2nd order.
            (3.5, 20.0),
        ),
        (
            "DPMSolverMultistep(2)",
            Box::new(|| AnySolver::DpmSolverMultistep(dpms(2, SolverType::Midpoint, false))),
            (3.5, 4.4),
        ),
        (
            "UniPC-3 bh1",
            Box::new(|| AnySolver::UniPc(unipc(3, UniPcVariant::Bh1, false, false))),
            (11.0, 20.0),
        ),
        (
            "EulerDiscrete",
            Box::new(|| AnySolver::EulerDiscrete(EulerDiscrete::new())),
            (1.8, 2.2),
        ),
        (
            // Log-ρ Adams–Bashforth on noise estimates.
            "DEIS(2)",
            Box::new(|| AnySolver::Deis(Deis::with(2, true).unwrap())),
            (3.5, 4.5),
        ),
        (
            // Adams–Bashforth 4 with equal-step weights on a grid uniform in λ, not in σ
            // (the variable DDIM's transfer integrates ε in): second order.
            "PLMS",
            Box::new(|| AnySolver::Plms(Plms::new())),
            (3.5, 4.5),
        ),
        (
            "IPNDM",
            Box::new(|| AnySolver::Ipndm(Ipndm::new())),
            (3.5, 4.5),
        ),
        (
            // Heun's trapezoid in the flow's coordinates: second order as well.
            "FlowMatchHeun",
            Box::new(|| AnySolver::FlowMatchHeun(FlowMatchHeun::new())),
            (3.5, 4.5),
        ),
    ];
    for (name, make, (lo, hi)) in rows {
        let e32 = g1_error(make(), 32);
        let e64 = g1_error(make(), 64);
        let ratio = e32 / e64;
        println!("{name}: {e32:e} {e64:e} ratio {ratio:.2}");
        assert!(
            (lo..=hi).contains(&ratio),
            "{name}: ratio {ratio} outside [{lo}, {hi}]"
        );
    }
}

/// DEIS(3): third order while the steps are large (ratio 9.3 from 16 to 32 steps), then the
/// first-order warm-up step's O(h²) local error takes over (ratios 5.5, 4.1, 3.9 up to 256
/// steps, as for any multistep method started at order 1); its errors stay far below
/// DEIS(2)'s (1.6e-5 against 1.1e-3 at 32 steps).
#[test]
fn deis_three_is_third_order_until_its_warm_up_dominates() {
    let e = |order: usize, n: usize| g1_error(Deis::with(order, true).unwrap(), n);
    let r = e(3, 16) / e(3, 32);
    assert!(r > 7.0, "DEIS(3) 16 → 32 ratio {r}");
    assert!(e(3, 32).abs() < e(2, 32).abs() / 20.0);
    let r = e(3, 128) / e(3, 256);
    assert!((3.5..4.5).contains(&r), "DEIS(3) 128 → 256 ratio {r}");
}

/// SA-Solver with τ = 0 (its ODE form) converges at least at its corrector's order: ratios
/// measured 1.81 (orders 1/1), 4.71 (2/2) and 12.5 (3/3) from 32 to 64 steps; the corrector
/// lifts orders 2 and 3 above their predictor's at these step counts, as UniPC's does.
#[test]
fn sa_solver_ode_form_converges() {
    for (p, c, (lo, hi)) in [(1, 1, (1.7, 2.3)), (2, 2, (4.0, 8.0)), (3, 3, (8.0, 16.0))] {
        let e = |n| {
            g1_error(
                SaSolver::with(p, c, false, TauWindow::constant(0.0)).unwrap(),
                n,
            )
        };
        let r = e(32) / e(64);
        assert!((lo..hi).contains(&r), "SA p{p} c{c}: ratio {r}");
    }
}

/// diffusers' singlestep DPM-Solver++ converges at its order: groups of 1-2(-3) evaluations
/// whose last update is a full order-2 (order-3) step from the group's start. A σ_min end
/// (the grid stops at σ = 0.1) keeps the last step at the group's order.
#[test]
fn singlestep_dpm_solver_converges_at_its_order() {
    for (order, ty, (lo, hi)) in [
        (2, SolverType::Midpoint, (3.5, 4.5)),
        (2, SolverType::Heun, (3.5, 4.5)),
        (3, SolverType::Midpoint, (7.0, 9.0)),
        (3, SolverType::Heun, (7.0, 9.0)),
    ] {
        let make = || {
            DpmSolverSinglestep::with(DpmSinglestepSettings {
                order,
                solver_type: ty,
                final_sigmas: FinalSigmas::SigmaMin,
                ..Default::default()
            })
            .unwrap()
        };
        let (e1, e2) = (g1_error(make(), 48), g1_error(make(), 96));
        let ratio = e1 / e2;
        println!("singlestep {order} {ty:?}: {e1:e} {e2:e} ratio {ratio:.2}");
        assert!(
            (lo..=hi).contains(&ratio),
            "singlestep {order} {ty:?}: ratio {ratio} outside [{lo}, {hi}]"
        );
    }
}

/// UniPC-3's steady-step order: seed the history with exact values by starting the
/// comparison after the warm-up (errors relative to the exact flow over the last half).
#[test]
fn unipc_three_steady_ratio() {
    let e: Vec<f64> = [16, 32, 64]
        .iter()
        .map(|&n| g1_error(unipc(3, UniPcVariant::Bh2, false, false), n))
        .collect();
    let (r1, r2) = (e[0] / e[1], e[1] / e[2]);
    assert!(r1 > 8.0 && r2 > 12.0, "UniPC-3 ratios {r1}, {r2}");
}

/// SPEC §1.2: (σ 10 → 5, η = 1): σ_dn = 2.5, σ_up = 4.330127; (η = 0.5): 4.506939, 2.165064.
#[test]
fn ancestral_split_sanity() {
    let g = Grid::new(&Vp, &[-2.0 * 10f64.ln(), -2.0 * 5f64.ln()]).unwrap();
    let (l, ln) = (g.level(0), g.level(1));
    for (eta, dn, up) in [(1.0, 2.5, 4.330127), (0.5, 4.506939, 2.165064)] {
        let mut s = EulerAncestral::with(eta, 1.0).unwrap();
        s.start(&g).unwrap();
        let e = s.plan(&g).unwrap();
        let row = e.post.rows()[0];
        let coef = |src: Src| row.terms().iter().find(|t| t.0 == src).map_or(0.0, |t| t.1);
        // x coefficient = a'σ_dn/(aσ); noise coefficient = a'σ_up.
        let got_dn = coef(Src::Buf(Buf::X)) * l.a * 10.0 / ln.a;
        let got_up = coef(Src::Noise(0)) / ln.a;
        assert!((got_dn - dn).abs() < 1e-6, "eta {eta}: σ_dn {got_dn}");
        assert!((got_up - up).abs() < 1e-6, "eta {eta}: σ_up {got_up}");
    }
}

fn coef(row: &Row, src: Src) -> f64 {
    row.terms().iter().find(|t| t.0 == src).map_or(0.0, |t| t.1)
}

/// SPEC §2.1: σ 2 → 1 → 0.5 (VP levels, h = ln 2, r = 1), the second step's coefficients.
#[test]
fn dpmpp_2m_one_step_sanity() {
    let lams = [-2.0 * 2f64.ln(), 0.0, 2.0 * 2f64.ln()];
    let g = Grid::new(&Vp, &lams).unwrap();
    for (ty, want) in [
        (SolverType::Midpoint, [0.6324555, 0.6708204, -0.2236068]),
        (SolverType::Heun, [0.6324555, 0.6964480, -0.2492344]),
    ] {
        let mut s = DpmPP2MSde::with(0.0, 1.0, ty).unwrap();
        s.start(&g).unwrap();
        s.plan(&g).unwrap();
        let e = s.plan(&g).unwrap();
        let r = e.post.rows()[0];
        let got = [
            coef(&r, Src::Buf(Buf::X)),
            coef(&r, Src::D(0)),
            coef(&r, Src::D(1)),
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-7, "{ty:?}: {got:?} vs {want:?}");
        }
    }
}

/// SPEC §3.4 (h = ln 2, equal steps): bh2 ρ^C(p=2) = (0.0826736, 0.4746314),
/// ρ^P(p=3) = (1.5065677, −0.9492628), B = 0.5; bh1 ρ^C(p=2) = (0.0596364, 0.3423742),
/// ρ^P(p=3) = (1.0867589, −0.6847483), B = ln 2.
#[test]
fn unipc_coefficient_sanity() {
    let h = 2f64.ln();
    let lams: Vec<f64> = (0..5).map(|i| -4.0 + 2.0 * h * i as f64).collect();
    let g = Grid::new(&Vp, &lams).unwrap();
    for (variant, big_b, rc, rp) in [
        (
            UniPcVariant::Bh2,
            0.5,
            [0.0826736, 0.4746314],
            [1.5065677, -0.9492628],
        ),
        (
            UniPcVariant::Bh1,
            h,
            [0.0596364, 0.3423742],
            [1.0867589, -0.6847483],
        ),
    ] {
        let mut s = unipc(3, variant, false, false);
        s.start(&g).unwrap();
        s.plan(&g).unwrap();
        s.plan(&g).unwrap();
        let e = s.plan(&g).unwrap(); // step 2: corrector of order 2, predictor of order 3
        assert_eq!(e.order, 3);
        let (li, ln) = (g.level(2), g.level(3));
        let (corr, pred) = (e.post.rows()[0], e.post.rows()[1]);
        // Corrector: D_{i−2} term = a_i·B·ρ1/r1 (r1 = −1); D_i term = a_i·B·ρ2.
        let c = li.a * big_b;
        assert!((coef(&corr, Src::D(2)) - (-c * rc[0])).abs() < 1e-7);
        assert!((coef(&corr, Src::D(0)) - c * rc[1]).abs() < 1e-7);
        // Predictor: D_{−1} term = a'·B·ρ1/r1 (r1 = −1), D_{−2} term = a'·B·ρ2/r2 (r2 = −2).
        let c = ln.a * big_b;
        assert!((coef(&pred, Src::D(1)) - (-c * rp[0])).abs() < 1e-7);
        assert!((coef(&pred, Src::D(2)) - (-c * rp[1] / 2.0)).abs() < 1e-7);
    }
}

/// PLMS and IPNDM from λ = −∞ (Dance Diffusion's grid starts at a = 0): diffusers' clean
/// estimate `(x − b·ε̂)/max(a, 10⁻⁸)` is 0 there, so the first step is `x' = b'·x` whatever
/// the model predicts (the prediction enters the next steps through the history).
#[test]
fn ipndm_first_step_from_pure_noise_is_a_rescale() {
    let g = Grid::new(&Vp, &[f64::NEG_INFINITY, -1.0, 0.5, 3.0, f64::INFINITY]).unwrap();
    let b1 = g.level(1).b;
    let mut run = Run::new(Ipndm::new(), g, XS.to_vec(), 4, NoNoise).unwrap();
    let req = run.next_eval().unwrap().unwrap();
    assert_eq!(req.level.a, 0.0);
    let pred = vec![0.7f64; 4];
    run.feed(&gdf::target::X0, &pred).unwrap();
    for (x, x0) in run.x().iter().zip(XS) {
        assert!((x - b1 * x0).abs() < 1e-15, "{x} vs {}", b1 * x0);
    }
    // PLMS divides by a: refused there, with the reason.
    let g = Grid::new(&Vp, &[f64::NEG_INFINITY, 0.0, 3.0]).unwrap();
    match Run::new(Plms::new(), g, vec![0.1f64], 1, NoNoise) {
        Err(e) => assert!(e.to_string().contains("PNDMScheduler"), "{e}"),
        Ok(_) => panic!("PLMS ran from λ = −∞"),
    }
}

/// PNDM's Runge-Kutta warm-up on table levels: exact for a point mass (every stage's ε is
/// the same), four evaluations per warm-up step at `t`, the midpoints and `t'`; grids it
/// cannot serve are refused by name.
#[test]
fn plms_runge_kutta_warm_up() {
    use gdf::grid::table::{DiscreteTable, TableSettings};
    let table = DiscreteTable::new(&TableSettings::default()).unwrap();
    let lam: Vec<f64> = (0..table.len()).map(|k| table.logsnr(k)).collect();
    // 6 steps of r = 166 (leading, offset 1): midpoints t' + 83 and trials t − 83.
    let ts = [831usize, 665, 499, 333, 167, 1];
    let mut levels: Vec<f64> = ts.iter().map(|&t| lam[t]).collect();
    levels.push(f64::INFINITY);
    let g = Grid::new(&Vp, &levels).unwrap();
    let mut s = Plms::new().with_prk(lam.clone());
    s.start(&g).unwrap();
    let mut seen = vec![];
    while let Some(e) = s.plan(&g) {
        seen.push((e.level.lam, e.completes_step, e.post.replace_newest));
    }
    assert_eq!(seen.len(), 6 + 9);
    assert_eq!(seen[0], (lam[831], false, true));
    assert_eq!(seen[1], (lam[665 + 83], false, false));
    assert_eq!(seen[2], (lam[665 + 83], false, true));
    assert_eq!(seen[3], (lam[665], true, true));
    assert_eq!(seen[12], (lam[333], true, true)); // Adams–Bashforth 4 over the warm-up's
    assert_eq!(seen[13], (lam[167], true, false));
    let (l0, ln) = (g.level(0), g.level(6));
    for v in [false, true] {
        let got = run(
            Plms::new().with_prk(lam.clone()).v_prediction(v),
            &g,
            &XS,
            0.5,
            0.0,
        );
        for (x, &x0) in got.iter().zip(&XS) {
            let want = ln.a * 0.5 + (x0 - l0.a * 0.5) * ln.b / l0.b;
            // A v history is not exact for a point mass (its combination is not ε).
            if !v {
                assert!((x - want).abs() < 1e-12, "{x} vs {want}");
            } else {
                assert!(x.is_finite());
            }
        }
    }
    // Too short, and levels off the table.
    let short = Grid::new(&Vp, &[lam[750], lam[500], lam[250], f64::INFINITY]).unwrap();
    let e = Plms::new().with_prk(lam.clone()).start(&short).unwrap_err();
    assert!(e.to_string().contains("at least 4 steps"), "{e}");
    let off = Grid::new(&Vp, &[-5.0, -2.0, 0.0, 2.0, 4.0, f64::INFINITY]).unwrap();
    let e = Plms::new().with_prk(lam.clone()).start(&off).unwrap_err();
    assert!(e.to_string().contains("table levels"), "{e}");
    let tight = Grid::new(&Vp, &[lam[3], lam[2], lam[1], lam[0], 9.5]).unwrap();
    let e = Plms::new().with_prk(lam).start(&tight).unwrap_err();
    assert!(e.to_string().contains("outside the table"), "{e}");
}

/// PLMS's evaluations: one step is DDIM's (one evaluation); longer runs take `n + 1`, the
/// second level twice (the first step's trial and the second step's start).
#[test]
fn plms_evaluation_plan() {
    let g = test_grid();
    let mut s = Plms::new();
    s.start(&g).unwrap();
    let mut levels = vec![];
    while let Some(e) = s.plan(&g) {
        levels.push((e.level.lam, e.input, e.completes_step));
    }
    assert_eq!(levels.len(), Plms::new().nfe(&g));
    assert_eq!(levels.len(), g.steps() + 1);
    let lam = |i: usize| g.level(i).lam;
    assert_eq!(levels[0], (lam(0), Buf::X, false));
    assert_eq!(levels[1], (lam(1), Buf::Aux, true));
    assert_eq!(levels[2], (lam(1), Buf::X, true));
    assert_eq!(levels[9], (lam(8), Buf::X, true));
    // One step: DDIM (Euler in VP coordinates), to rounding.
    let g1 = Grid::new(&Vp, &[-2.0, 1.5]).unwrap();
    let (p, e) = (
        run(Plms::new(), &g1, &XS, 0.5, 0.5),
        run(Euler::new(), &g1, &XS, 0.5, 0.5),
    );
    assert!(max_rel_diff(&p, &e) < 1e-14, "{p:?} vs {e:?}");
}

/// k-diffusion's dpm_fast with a budget of `3(m − 1) + 2` evaluations (orders 3, …, 3, 2)
/// is third order on §9.3's problem over its own grid (σ 10 → 0.1 uniform in t = −ln σ):
/// errors 1.3e-2, 9.8e-4, 9.3e-5, 1.0e-5 at 4, 8, 16, 32 steps (ratios 13.5, 10.5, 9.2).
#[test]
fn dpm_fast_is_third_order() {
    let x0 = 10.0 / 101f64.sqrt();
    let e = |m: usize| {
        let nfe = 3 * (m - 1) + 2;
        let g = DpmFast::grid(&Vp, 0.1, 10.0, nfe).unwrap();
        run(DpmFast::new(nfe).unwrap(), &g, &[x0], 0.5, 0.5)[0] - G1_EXACT
    };
    let r = e(16) / e(32);
    assert!((7.0..12.0).contains(&r), "dpm_fast 16 → 32 steps ratio {r}");
    assert!(e(8).abs() < 1e-3);
}

/// ComfyUI's `res_multistep` by name: RES's second-order multistep exponential integrator
/// (Zhang et al. 2023), written out here from its formula in VE form with `t = −ln σ`:
/// `x' = e^{−h}·x + h·(b₁·D + b₂·D_old)`, `b₁ = φ₁(−h) − φ₂(−h)/c₂`, `b₂ = φ₂(−h)/c₂`,
/// `c₂ = (t_prev − t)/h`, `φ₁(z) = (e^z − 1)/z`, `φ₂(z) = (φ₁(z) − 1)/z`, Euler on the first
/// step and on the step to σ = 0. gdf's run gives the same samples, and so does DPM-Solver++
/// 2M in its heun form with a first-order first step (ComfyUI's golden runs check the rest).
#[test]
fn res_multistep_is_the_res_integrator() {
    let (mu, s2) = (0.4f64, 0.3f64 * 0.3);
    let d = |x: f64, sig: f64| (s2 * x + sig * sig * mu) / (s2 + sig * sig);
    // A Karras ladder (irregular steps), then σ = 0, and one ending at σ_min.
    for end_clean in [true, false] {
        let (lo, hi, rho, n) = (0.03f64, 14.6f64, 7.0f64, 9usize);
        let mut sig: Vec<f64> = (0..n)
            .map(|i| {
                let r = i as f64 / (n - 1) as f64;
                (hi.powf(1.0 / rho) + r * (lo.powf(1.0 / rho) - hi.powf(1.0 / rho))).powf(rho)
            })
            .collect();
        if end_clean {
            sig.push(0.0);
        }
        let x0 = [1.3f64, -0.6, 2.2];
        // The reference, in k-diffusion's VE x.
        let phi1 = |z: f64| z.exp_m1() / z;
        let phi2 = |z: f64| (phi1(z) - 1.0) / z;
        let mut want = Vec::new();
        for &x_init in &x0 {
            let mut x = x_init * hi; // a VE sample at σ_max
            let mut old: Option<f64> = None;
            for i in 0..sig.len() - 1 {
                let (s, sn) = (sig[i], sig[i + 1]);
                let den = d(x, s);
                x = match old {
                    Some(dold) if sn > 0.0 => {
                        let (t, tn, tp) = (-s.ln(), -sn.ln(), -sig[i - 1].ln());
                        let h = tn - t;
                        let c2 = (tp - t) / h;
                        let b1 = phi1(-h) - phi2(-h) / c2;
                        let b2 = phi2(-h) / c2;
                        (-h).exp() * x + h * (b1 * den + b2 * dold)
                    }
                    _ => x + (x - den) / s * (sn - s),
                };
                old = Some(den);
            }
            want.push(x);
        }
        // gdf: the VP frame over the same levels.
        let lam: Vec<f64> = sig
            .iter()
            .map(|&s| {
                if s == 0.0 {
                    f64::INFINITY
                } else {
                    -2.0 * s.ln()
                }
            })
            .collect();
        let grid = Grid::new(&Vp, &lam).unwrap();
        let a0 = grid.level(0).a;
        let x_init: Vec<f64> = x0.iter().map(|&v| v * hi * a0).collect();
        let run_of = |solver: AnySolver| {
            Run::new(solver, grid.clone(), x_init.clone(), 3, NoNoise)
                .unwrap()
                .run(|x, l, out| {
                    for (o, &x) in out.iter_mut().zip(x) {
                        *o = d(x / l.a, l.sigma());
                    }
                    Ok(())
                })
                .unwrap()
        };
        let got = run_of(AnySolver::from_name("res_multistep").unwrap());
        let dpm = DpmSolverMultistep::with(DpmSolverSettings {
            order: 2,
            solver_type: SolverType::Heun,
            lower_order_final: false,
            euler_at_final: false,
            final_sigmas: FinalSigmas::SigmaMin,
            ..DpmSolverSettings::default()
        })
        .unwrap();
        let as_dpm = run_of(AnySolver::DpmSolverMultistep(dpm));
        assert!(max_rel_diff(&got, &as_dpm) < 1e-12, "{got:?} vs {as_dpm:?}");
        let a_end = grid.level(grid.steps()).a;
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g / a_end - w).abs() < 1e-12 * w.abs().max(1.0),
                "end clean {end_clean}: {} vs {w}",
                g / a_end
            );
        }
    }
}

/// ComfyUI's iPNDM in σ against k-diffusion's LMS (Adams–Bashforth in σ with the Lagrange
/// integrals, an independent form): `ipndm_v` at order 2 is variable-step AB2, so it is LMS of
/// order 2 on any grid without the final step to σ = 0 (where iPNDM returns `D`); on a grid
/// uniform in σ `ipndm` is AB4 (LMS of order 4, warm-up included) and `ipndm_v` at order 3 is
/// AB3. ComfyUI's variable coefficients are not AB3's on uneven steps, and at order 4 not
/// AB4's even on uniform ones (57/24, −65/24, 43/24, −11/24 there), nor consistent where the
/// steps' ratios vary.
#[test]
fn ipndm_in_sigma_is_adams_bashforth() {
    let uneven = test_grid();
    let lms2 = run(Lms::with_order(2).unwrap(), &uneven, &XS, 0.5, 0.5);
    let v2 = run(IpndmSigma::with(2, true).unwrap(), &uneven, &XS, 0.5, 0.5);
    assert!(max_rel_diff(&v2, &lms2) < 1e-12, "{v2:?} vs {lms2:?}");
    let lms3 = run(Lms::with_order(3).unwrap(), &uneven, &XS, 0.5, 0.5);
    let v3 = run(IpndmSigma::with(3, true).unwrap(), &uneven, &XS, 0.5, 0.5);
    assert!(max_rel_diff(&v3, &lms3) > 1e-4, "{v3:?} vs {lms3:?}");
    // σ from 8 down to 0.5 in equal steps.
    let lams: Vec<f64> = (0..=10)
        .map(|i| gdf::grid::ve_logsnr(8.0 - 0.75 * i as f64))
        .collect();
    let even = Grid::new(&Vp, &lams).unwrap();
    let fixed = run(IpndmSigma::new(), &even, &XS, 0.5, 0.5);
    let lms4 = run(Lms::new(), &even, &XS, 0.5, 0.5);
    assert!(max_rel_diff(&fixed, &lms4) < 1e-12, "{fixed:?} vs {lms4:?}");
    let fixed3 = run(IpndmSigma::with(3, false).unwrap(), &even, &XS, 0.5, 0.5);
    let var3 = run(IpndmSigma::with(3, true).unwrap(), &even, &XS, 0.5, 0.5);
    assert!(
        max_rel_diff(&fixed3, &var3) < 1e-12,
        "{fixed3:?} vs {var3:?}"
    );
    let var4 = run(IpndmSigma::variable(), &even, &XS, 0.5, 0.5);
    assert!(max_rel_diff(&fixed, &var4) > 1e-5, "{fixed:?} vs {var4:?}");
    // Its order-4 weights sum to 1 + t₂·q·(h₂/h₃ − h₁/h₂), not 1, unless the steps' ratios
    // are constant: on point-mass data (the exact path keeps d constant) it leaves the path on
    // uneven steps and stays on it where σ is geometric.
    let point = |g: &Grid| {
        let got = run(IpndmSigma::variable(), g, &XS, 0.5, 0.0);
        let (l0, ln) = (g.level(0), g.level(g.steps()));
        let want: Vec<f64> = XS
            .iter()
            .map(|&x0| ln.a * 0.5 + (x0 - l0.a * 0.5) * ln.b / l0.b)
            .collect();
        max_rel_diff(&got, &want)
    };
    assert!(point(&uneven) > 1e-5);
    let geometric: Vec<f64> = (0..=10)
        .map(|i| gdf::grid::ve_logsnr(8.0 * 0.7f64.powi(i)))
        .collect();
    assert!(point(&Grid::new(&Vp, &geometric).unwrap()) < 1e-12);
}

/// ComfyUI's tAB-DEIS integrates `dσ/dt` of EDM's VP-SDE time times the Lagrange basis: its
/// weights sum to the step's `σ' − σ` up to the error of its 10 000-point sum, so it keeps
/// single-point data on the exact path to that accuracy (not to the last digit, as the
/// closed-form solvers do), on any grid.
#[test]
fn deis_tab_weights_integrate_the_step() {
    for g in [
        test_grid(),
        Grid::new(&Vp, &[-9.0, -3.0, -1.2, 0.0, 2.2, 5.0, f64::INFINITY]).unwrap(),
    ] {
        let got = run(DeisTab::with(4).unwrap(), &g, &XS, 0.5, 0.0);
        let (l0, ln) = (g.level(0), g.level(g.steps()));
        let want: Vec<f64> = XS
            .iter()
            .map(|&x0| ln.a * 0.5 + (x0 - l0.a * 0.5) * ln.b / l0.b)
            .collect();
        let err = max_rel_diff(&got, &want);
        assert!(err < 1e-5, "{err}: {got:?} vs {want:?}");
    }
}
