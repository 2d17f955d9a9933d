//! Properties of `gdf::solver::Forcing` and `ForcingPlan` (per-group noise levels in one batch).
//! The golden parity with diffusers' SkyReels-V2 loop is `golden_forcing.rs`.
//!
//! - A group's run inside the driver is the plain `Run` of that group: for a model that acts on
//!   each group alone, any plan (lockstep, staggered, custom) gives every group exactly (to the
//!   bit) the result of its own run, whatever the batch, the layout or the noise.
//! - The staggered plan: every group ends at its total, lagging blocks keep their lag, `ar_step
//!   = 0` is lockstep, ready frames never advance.
//! - Bad input gets typed errors naming what is wrong.

use gdf::scaler::Vp;
use gdf::solver::{
    CounterNoise, DpmPP2MSde, Euler, EulerAncestral, Forcing, ForcingPlan, Grid, Heun, NoNoise,
    Run, Solver, UniPc,
};
use gdf::target::Epsilon;
use gdf::GdfError;

/// An x0-predictor acting on one element at its level: the exact denoiser of N(0.5, 0.25) data.
fn denoise(x: f64, a: f64, b: f64) -> f64 {
    let (mu, s2) = (0.5, 0.25);
    (s2 * a * x + b * b * mu) / (s2 * a * a + b * b)
}

fn grid(lams: &[f64]) -> Grid {
    Grid::new(&Vp, lams).unwrap()
}

/// `[batch][groups][len]` test latents.
fn latents(batch: usize, groups: usize, len: usize) -> Vec<f64> {
    (0..batch * groups * len)
        .map(|i| ((i as f64) * 0.737).sin() * 1.3)
        .collect()
}

/// Group `g` of `x` as `[batch][len]`.
fn group(x: &[f64], g: usize, groups: usize, len: usize) -> Vec<f64> {
    x.chunks(len)
        .enumerate()
        .filter(|(i, _)| i % groups == g)
        .flat_map(|(_, c)| c.to_vec())
        .collect()
}

/// Runs the driver with the per-element denoiser; the parts of non-advancing groups are NaN.
fn drive<S: Solver>(
    f: &mut Forcing<f64, S, impl gdf::solver::NoiseSource<f64>>,
    len: usize,
) -> usize {
    drive_with(f, len, |_| {})
}

/// [`drive`], showing every request to `inspect` first.
fn drive_with<S: Solver>(
    f: &mut Forcing<f64, S, impl gdf::solver::NoiseSource<f64>>,
    len: usize,
    mut inspect: impl FnMut(&gdf::solver::ForcingRequest<f64>),
) -> usize {
    let mut calls = 0;
    while let Some(req) = f.next_eval().unwrap() {
        inspect(&req);
        let groups = req.groups.len();
        let d: Vec<f64> = req
            .x
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let g = req.groups[(i / len) % groups];
                if g.advances {
                    denoise(x, g.level.a, g.level.b)
                } else {
                    f64::NAN
                }
            })
            .collect();
        f.feed_x0(&d).unwrap();
        calls += 1;
    }
    calls
}

fn alone<S: Solver, N: gdf::solver::NoiseSource<f64>>(
    solver: S,
    grid: Grid,
    x: Vec<f64>,
    batch: usize,
    noise: N,
) -> Vec<f64> {
    Run::new(solver, grid, x, batch, noise)
        .unwrap()
        .run(|x, lv, d| {
            for (d, &x) in d.iter_mut().zip(x) {
                *d = denoise(x, lv.a, lv.b);
            }
            Ok(())
        })
        .unwrap()
}

#[test]
fn lockstep_groups_on_their_own_grids_are_their_own_runs() {
    // Three samples' worth of groups with different grids (step counts, start levels), a
    // stochastic solver, batch 2: each group must be bitwise its own run with its own noise.
    let grids = vec![
        grid(&[-5.0, -2.0, 0.5, 3.0, f64::INFINITY]),
        grid(&[-1.0, 2.0, f64::INFINITY]),
        grid(&[-6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0]),
    ];
    let (batch, groups, len) = (2, 3, 5);
    let x = latents(batch, groups, len);
    let noise = |g: usize| CounterNoise {
        seed: 11,
        first_sample: (g * batch) as u32,
    };
    let evals: Vec<usize> = grids
        .iter()
        .map(|gr| EulerAncestral::new().nfe(gr))
        .collect();
    let plan = ForcingPlan::lockstep(&evals).unwrap();
    let mut f = Forcing::with_grids(
        EulerAncestral::new(),
        grids.clone(),
        plan,
        x.clone(),
        batch,
        noise,
    )
    .unwrap();
    assert_eq!(drive(&mut f, len), 6);
    for (g, gr) in grids.into_iter().enumerate() {
        let want = alone(
            EulerAncestral::new(),
            gr,
            group(&x, g, groups, len),
            batch,
            noise(g),
        );
        assert_eq!(group(f.x(), g, groups, len), want, "group {g}");
    }
}

#[test]
fn staggered_groups_with_a_per_group_model_are_their_own_runs() {
    // Multistep (history per group), two-evaluation (Heun: a group's input is its stage
    // between the evaluations) and SDE solvers under a lagged wave.
    let gr = grid(&[-5.0, -3.0, -1.0, 1.0, 3.0, f64::INFINITY]);
    let (batch, groups, len) = (2, 6, 3);
    let x = latents(batch, groups, len);
    fn check<S: Solver + Clone>(
        s: S,
        gr: &Grid,
        x: &[f64],
        batch: usize,
        groups: usize,
        len: usize,
    ) {
        let evals = s.nfe(gr);
        for (ar, block) in [(0, 1), (1, 1), (2, 2), (3, 3), (evals + 2, 2)] {
            let plan = ForcingPlan::staggered(groups, evals, ar, block, 0).unwrap();
            let noise = |g: usize| CounterNoise {
                seed: 5,
                first_sample: (g * batch) as u32,
            };
            let mut f = Forcing::new(
                s.clone(),
                gr.clone(),
                plan.clone(),
                x.to_vec(),
                batch,
                noise,
            )
            .unwrap();
            assert_eq!(drive(&mut f, len), plan.rows());
            for g in 0..groups {
                let want = alone(
                    s.clone(),
                    gr.clone(),
                    group(x, g, groups, len),
                    batch,
                    noise(g),
                );
                assert_eq!(
                    group(f.x(), g, groups, len),
                    want,
                    "{} ar_step {ar} block {block} group {g}",
                    s.name()
                );
            }
        }
    }
    check(UniPc::new(), &gr, &x, batch, groups, len);
    check(Heun::new(), &gr, &x, batch, groups, len);
    check(DpmPP2MSde::new(), &gr, &x, batch, groups, len);
}

#[test]
fn staggered_plan_shape() {
    for (groups, evals, ar, block, ready) in [
        (8, 5, 2, 2, 0),
        (6, 4, 1, 1, 2),
        (9, 3, 0, 3, 3),
        (4, 6, 9, 1, 0),
        (1, 3, 4, 1, 0),
    ] {
        let p = ForcingPlan::staggered(groups, evals, ar, block, ready).unwrap();
        let last = p.progress(p.rows() - 1).unwrap();
        assert!(last.iter().all(|&e| e == evals), "{last:?}");
        assert!(p.progress(p.rows()).is_none());
        assert_eq!(&p.start()[..ready], &vec![evals; ready][..]);
        let mut prev = p.start().to_vec();
        for r in 0..p.rows() {
            let row = p.progress(r).unwrap();
            let adv = p.advancing(r).unwrap();
            assert!(adv.iter().any(|&a| a), "row {r} advances nothing");
            for g in 0..groups {
                assert_eq!(adv[g], row[g] == prev[g] + 1);
                // The frames of a block move together; ready frames never move.
                assert_eq!(row[g], row[g / block * block]);
                if g < ready {
                    assert!(!adv[g]);
                }
            }
            // A started block that is not done trails the one before it by exactly ar_step
            // while that one is still running.
            for b in 1..groups / block {
                let (lead, lag) = (row[(b - 1) * block], row[b * block]);
                if b * block >= ready && lag > 0 && lead < evals && prev[(b - 1) * block] < evals {
                    assert_eq!(lead - lag, ar, "row {r} block {b}");
                }
            }
            prev = row.to_vec();
        }
        if ar == 0 && ready == 0 {
            assert_eq!(p, ForcingPlan::lockstep(&vec![evals; groups]).unwrap());
        }
        if ready == 0 {
            // The wave's length: the last block starts (blocks − 1)·ar_step calls late, unless
            // the lag exceeds a block's run (then each block waits for the previous to end).
            let blocks = groups / block;
            let rows = if ar <= evals {
                evals + (blocks - 1) * ar
            } else {
                blocks * evals
            };
            assert_eq!(p.rows(), rows, "{groups} {evals} {ar} {block}");
        }
    }
}

#[test]
fn ready_groups_keep_their_latents_and_are_shown_done() {
    let gr = grid(&[-4.0, 0.0, f64::INFINITY]);
    let (groups, len) = (4, 2);
    let x = latents(1, groups, len);
    let plan = ForcingPlan::staggered(groups, 2, 1, 2, 2).unwrap();
    let mut f = Forcing::new(Euler::new(), gr, plan, x.clone(), 1, |_| NoNoise).unwrap();
    assert!(f.run(0).is_none() && f.run(2).is_some());
    let req = f.next_eval().unwrap().unwrap();
    assert!(req.groups[0].done && !req.groups[0].advances);
    assert_eq!(req.groups[0].level.lam, f64::INFINITY);
    assert_eq!(req.groups[2].level.lam, -4.0);
    drive(&mut f, len);
    assert_eq!(&f.x()[..4], &x[..4]);
}

#[test]
fn feed_cfg_is_the_guided_prediction() {
    let gr = grid(&[-3.0, 0.0, 3.0, f64::INFINITY]);
    let (groups, len) = (3, 4);
    let x = latents(1, groups, len);
    let plan = ForcingPlan::staggered(groups, 3, 1, 1, 0).unwrap();
    let mut a = Forcing::new(UniPc::new(), gr.clone(), plan.clone(), x.clone(), 1, |_| {
        NoNoise
    })
    .unwrap();
    let mut b = Forcing::new(UniPc::new(), gr, plan, x, 1, |_| NoNoise).unwrap();
    let w = 4.5;
    while let Some(req) = a.next_eval().unwrap() {
        let c: Vec<f64> = req.x.iter().map(|v| 0.3 * v + 0.1).collect();
        let u: Vec<f64> = req.x.iter().map(|v| -0.2 * v).collect();
        let g: Vec<f64> = c.iter().zip(&u).map(|(c, u)| u + w * (c - u)).collect();
        a.feed_cfg(&Epsilon, &c, &u, w).unwrap();
        b.next_eval().unwrap();
        b.feed(&Epsilon, &g).unwrap();
    }
    for (p, q) in a.x().iter().zip(b.x()) {
        assert!((p - q).abs() <= 1e-12 * p.abs().max(1.0), "{p} vs {q}");
    }
}

#[test]
fn errors_name_what_is_wrong() {
    let gr = grid(&[-3.0, 0.0, f64::INFINITY]);
    // x_init not a whole number of groups.
    let plan = ForcingPlan::lockstep(&[2, 2, 2]).unwrap();
    let e = Forcing::new(
        Euler::new(),
        gr.clone(),
        plan.clone(),
        vec![0.0; 7],
        1,
        |_| NoNoise,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            GdfError::NotDivisible {
                what: "x_init",
                len: 7,
                batch: 3
            }
        ),
        "{e}"
    );
    // A plan that does not end at the runs' totals.
    let short = ForcingPlan::lockstep(&[1, 2, 2]).unwrap();
    let e = Forcing::new(Euler::new(), gr.clone(), short, vec![0.0; 6], 1, |_| {
        NoNoise
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("group 0 after 1 evaluations") && e.contains("makes 2"),
        "{e}"
    );
    // Feeding before asking.
    let mut f = Forcing::new(Euler::new(), gr.clone(), plan, vec![0.0; 6], 1, |_| NoNoise).unwrap();
    let e = f.feed_x0(&[0.0; 6]).unwrap_err().to_string();
    assert!(e.contains("next_eval"), "{e}");
    // A prediction of the wrong length.
    f.next_eval().unwrap();
    let e = f.feed_x0(&[0.0; 5]).unwrap_err();
    assert!(
        matches!(
            e,
            GdfError::LengthMismatch {
                expected: 6,
                got: 5,
                ..
            }
        ),
        "{e}"
    );
    // A grid list of the wrong length.
    let e = Forcing::with_grids(
        Euler::new(),
        vec![gr.clone()],
        ForcingPlan::lockstep(&[2, 2]).unwrap(),
        vec![0.0; 4],
        1,
        |_| NoNoise,
    )
    .unwrap_err();
    assert!(
        matches!(e, GdfError::LengthMismatch { what: "grids", .. }),
        "{e}"
    );
    // Plans.
    let e = ForcingPlan::from_progress(vec![0, 0], vec![vec![1, 2]])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("row 0, group 1") && e.contains("from 0 to 2"),
        "{e}"
    );
    let e = ForcingPlan::from_progress(vec![0], vec![vec![1], vec![1]])
        .unwrap_err()
        .to_string();
    assert!(e.contains("row 1 advances no group"), "{e}");
    let e = ForcingPlan::from_progress(vec![0, 0], vec![vec![1]]).unwrap_err();
    assert!(
        matches!(
            e,
            GdfError::LengthMismatch {
                what: "plan row",
                ..
            }
        ),
        "{e}"
    );
    let e = ForcingPlan::staggered(5, 3, 1, 2, 0).unwrap_err();
    assert!(
        matches!(
            e,
            GdfError::NotDivisible {
                len: 5,
                batch: 2,
                ..
            }
        ),
        "{e}"
    );
    let e = ForcingPlan::staggered(4, 3, 1, 2, 1).unwrap_err();
    assert!(
        matches!(
            e,
            GdfError::NotDivisible {
                what: "ready (frames given clean)",
                ..
            }
        ),
        "{e}"
    );
    let e = ForcingPlan::staggered(4, 3, 1, 1, 5).unwrap_err();
    assert!(
        matches!(e, GdfError::OutOfRange { what: "ready", .. }),
        "{e}"
    );
    assert!(ForcingPlan::staggered(4, 0, 1, 1, 0).is_err());
    assert!(ForcingPlan::lockstep(&[2, 0]).is_err());
    // A group started part-way.
    let mid = ForcingPlan::from_progress(vec![1, 0], vec![vec![2, 1], vec![2, 2]]).unwrap();
    let e = Forcing::new(Euler::new(), gr, mid, vec![0.0; 2], 1, |_| NoNoise)
        .unwrap_err()
        .to_string();
    assert!(e.contains("starts group 0 after 1 of its 2"), "{e}");
}

#[test]
fn guided_groups_keep_their_own_guider_state() {
    // APG carries a momentum buffer per run: each group's guider must see only its group's
    // steps, so the driver's groups equal independent runs with their own APG.
    use gdf::guidance::{Apg, Guidance, Layout};
    let gr = grid(&[-4.0, -2.0, 0.0, 2.0, 4.0, f64::INFINITY]);
    let (batch, groups, len) = (2, 3, 4);
    let x = latents(batch, groups, len);
    let plan = ForcingPlan::staggered(groups, 5, 2, 1, 0).unwrap();
    let apg = || {
        let mut g = Apg::new(5.0).unwrap();
        g.momentum = Some(-0.5);
        g.eta = 0.0;
        g
    };
    let mut guiders = vec![apg(), apg(), apg()];
    let layout = Layout::new(batch, &[len]).unwrap();
    let model = |x: &[f64], lam: f64| -> (Vec<f64>, Vec<f64>) {
        let c = x.iter().map(|v| 0.4 * v + 0.1 * lam.tanh()).collect();
        let u = x.iter().map(|v| 0.1 * v).collect();
        (c, u)
    };
    let mut f = Forcing::new(UniPc::new(), gr.clone(), plan, x.clone(), batch, |_| {
        NoNoise
    })
    .unwrap();
    while let Some(req) = f.next_eval().unwrap() {
        let groups_now = req.groups.to_vec();
        // Each group's part at its own level.
        let mut c = vec![0.0; req.x.len()];
        let mut u = vec![0.0; req.x.len()];
        for (i, (cv, uv)) in c.iter_mut().zip(u.iter_mut()).enumerate() {
            let lam = groups_now[(i / len) % groups].level.lam;
            let (cc, uu) = model(&req.x[i..i + 1], if lam.is_finite() { lam } else { 0.0 });
            *cv = cc[0];
            *uv = uu[0];
        }
        for (g, st) in groups_now.iter().enumerate() {
            assert_eq!(f.guidance_ctx(g).is_some(), st.advances);
        }
        f.feed_guided(&mut guiders, &layout, &Epsilon, &c, Some(&u))
            .unwrap();
    }
    for g in 0..groups {
        let mut run = Run::new(
            UniPc::new(),
            gr.clone(),
            group(&x, g, groups, len),
            batch,
            NoNoise,
        )
        .unwrap();
        let mut guider = apg();
        while let Some(req) = run.next_eval().unwrap() {
            let lam = req.level.lam;
            let (c, u) = model(req.x, if lam.is_finite() { lam } else { 0.0 });
            let ctx = run.guidance_ctx().unwrap();
            assert!(guider.needs_uncond(&ctx).unwrap());
            run.feed_guided(&mut guider, &layout, &Epsilon, &c, Some(&u))
                .unwrap();
        }
        assert_eq!(group(f.x(), g, groups, len), run.x(), "group {g}");
    }
    // One guider per group.
    let plan = ForcingPlan::lockstep(&[5, 5]).unwrap();
    let mut f = Forcing::new(UniPc::new(), gr, plan, latents(1, 2, 2), 1, |_| NoNoise).unwrap();
    f.next_eval().unwrap();
    let mut one = vec![apg()];
    let e = f
        .feed_guided(
            &mut one,
            &Layout::new(1, &[2]).unwrap(),
            &Epsilon,
            &[0.0; 4],
            Some(&[0.0; 4]),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            GdfError::LengthMismatch {
                what: "guiders",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn custom_plans_with_pauses_are_their_own_runs() {
    // Heun (two evaluations per step) paused mid-step and between steps: a paused group is
    // shown at its run's current level and `x`, and its result does not depend on the plan.
    let gr = grid(&[-3.0, -1.0, 1.0, f64::INFINITY]);
    let evals = Heun::new().nfe(&gr); // 2 + 2 + 1
    assert_eq!(evals, 5);
    let (batch, groups, len) = (1, 2, 3);
    let x = latents(batch, groups, len);
    let rows = vec![
        vec![1, 0],
        vec![1, 1], // group 0 paused between its step's two evaluations
        vec![2, 1], // group 1 paused between its step's two evaluations
        vec![3, 2],
        vec![3, 3], // group 0 paused at a step boundary
        vec![4, 4],
        vec![5, 5],
    ];
    let plan = ForcingPlan::from_progress(vec![0, 0], rows).unwrap();
    let mut f = Forcing::new(Heun::new(), gr.clone(), plan, x.clone(), batch, |_| NoNoise).unwrap();
    drive_with(&mut f, len, |req| {
        if req.row == 1 {
            let g0 = req.groups[0];
            assert!(!g0.advances && !g0.done && g0.evals_done == 1);
            assert_eq!(g0.level.lam, -3.0); // the step's start: its x is unchanged mid-step
            assert_eq!(&req.x[..len], &x[..len]);
        }
    });
    for g in 0..groups {
        let want = alone(
            Heun::new(),
            gr.clone(),
            group(&x, g, groups, len),
            batch,
            NoNoise,
        );
        assert_eq!(group(f.x(), g, groups, len), want, "group {g}");
    }
}
