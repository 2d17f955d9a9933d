//! The guiders against SPEC-solvers §8's sanity numbers, closed forms and properties checked
//! by independent computations (power iteration, two-pass standard deviations, DDIM).

use gdf::guidance::*;

fn guide1<G: Guidance>(g: &mut G, step: usize, n: usize, c: &[f64], u: &[f64]) -> Vec<f64> {
    let ctx = StepCtx::new(step, n).unwrap();
    let layout = Layout::flat(1, c.len()).unwrap();
    let mut out = vec![0.0; c.len()];
    let need = g.needs_uncond(&ctx).unwrap();
    g.guide(&ctx, &layout, c, need.then_some(u), &mut out)
        .unwrap();
    out
}

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "[{i}] got {g}, want {w} (all: {got:?} vs {want:?})"
        );
    }
}

fn apg(w: f64, eta: f64, r: f64, momentum: Option<f64>, original: bool) -> Apg {
    let mut g = Apg::new(w).unwrap();
    g.eta = eta;
    g.norm_threshold = r;
    g.momentum = momentum;
    g.original = original;
    g
}

/// A small deterministic pseudo-random vector.
fn vecr(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn rescale_spec_example() {
    // SPEC §8.1: c=(1,2,3,4), u=1, w=7.5, φ=0.7
    let mut g = ClassifierFree::new(7.5).unwrap();
    g.rescale = 0.7;
    let out = guide1(&mut g, 0, 1, &[1.0, 2.0, 3.0, 4.0], &[1.0; 4]);
    assert_close(
        &out,
        // exactly (118, 1003, 1888, 2773)/300
        &[
            118.0 / 300.0,
            1003.0 / 300.0,
            1888.0 / 300.0,
            2773.0 / 300.0,
        ],
        1e-13,
    );
}

#[test]
fn rescale_matches_two_pass_std_per_sample() {
    // two samples of 7 with very different scales: the rescale is per sample
    let (c, mut u) = (vecr(1, 14), vecr(2, 14));
    for x in &mut u[7..] {
        *x *= 30.0;
    }
    let mut g = ClassifierFree::new(3.0).unwrap();
    g.rescale = 0.4;
    let ctx = StepCtx::new(2, 5).unwrap();
    let mut out = vec![0.0; 14];
    g.guide(&ctx, &Layout::flat(2, 7).unwrap(), &c, Some(&u), &mut out)
        .unwrap();
    let std = |x: &[f64]| {
        let m = x.iter().sum::<f64>() / x.len() as f64;
        (x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() - 1) as f64).sqrt()
    };
    for s in 0..2 {
        let r = s * 7..(s + 1) * 7;
        let p: Vec<f64> = r.clone().map(|i| u[i] + 3.0 * (c[i] - u[i])).collect();
        let k = std(&c[r.clone()]) / std(&p);
        let want: Vec<f64> = p.iter().map(|v| 0.4 * k * v + 0.6 * v).collect();
        assert_close(&out[r], &want, 1e-13);
    }
}

#[test]
fn cfg_forms_and_linear_coefficients() {
    let (c, u) = ([1.0, -2.0, 0.5], [0.3, 0.1, -0.7]);
    let mut g = ClassifierFree::new(4.0).unwrap();
    let want: Vec<f64> = (0..3).map(|i| u[i] + 4.0 * (c[i] - u[i])).collect();
    assert_close(&guide1(&mut g, 0, 1, &c, &u), &want, 1e-15);
    g.original = true;
    let want: Vec<f64> = (0..3).map(|i| c[i] + 4.0 * (c[i] - u[i])).collect();
    assert_close(&guide1(&mut g, 0, 1, &c, &u), &want, 1e-15);
    let ctx = StepCtx::new(0, 1).unwrap();
    assert_eq!(g.linear(&ctx).unwrap(), Some([5.0, -4.0]));
    // no-op scale: 0 with the original form, 1 with diffusers'
    g.scale = 0.0;
    assert!(!g.needs_uncond(&ctx).unwrap());
    assert_eq!(g.linear(&ctx).unwrap(), Some([1.0, 0.0]));
    let g1 = ClassifierFree::new(1.0).unwrap();
    assert_eq!(g1.num_conditions(&ctx).unwrap(), 1);
    // autoguidance is CFG's combination with a weak-model branch
    let a = ClassifierFree::autoguidance(2.0).unwrap();
    let ctx = StepCtx::new(3, 32).unwrap();
    assert_eq!(
        a.linear(&ctx).unwrap(),
        ClassifierFree::new(2.0).unwrap().linear(&ctx).unwrap()
    );
    assert_eq!(a.branch(), Branch::WeakModel);
}

#[test]
fn apg_spec_numbers() {
    // SPEC §8.2: c=(3,4), u=(1,0) → Δ=(2,4), Δ∥=(2.64,3.52), Δ⊥=(−0.64,0.48)
    let (c, u) = ([3.0, 4.0], [1.0, 0.0]);
    // η = 0, w = 5: paper (0.44, 5.92) = diffusers' original form with w − 1
    let mut g = apg(4.0, 0.0, 0.0, None, true);
    assert_close(&guide1(&mut g, 0, 1, &c, &u), &[0.44, 5.92], 1e-14);
    // diffusers' default form: u + w·Δ⊥ = (−2.2, 2.4)
    let mut g = apg(5.0, 0.0, 0.0, None, false);
    assert_close(&guide1(&mut g, 0, 1, &c, &u), &[-2.2, 2.4], 1e-14);
    // r = 2: Δ → (0.8944272, 1.7888544); paper η = 0: (1.8551332, 4.8586501)
    let mut g = apg(4.0, 0.0, 2.0, None, true);
    assert_close(&guide1(&mut g, 0, 1, &c, &u), &[1.8551332, 4.8586501], 1e-7);
    // η = 1 and no threshold or momentum: plain CFG in both forms
    let mut g = apg(5.0, 1.0, 0.0, None, false);
    assert_close(&guide1(&mut g, 0, 1, &c, &u), &[11.0, 20.0], 1e-14);
}

#[test]
fn apg_momentum_sequence() {
    // SPEC §8.2: β = −0.5 with constant Δ = (2, 4): m = (2,4), (1,2), (1.5,3)
    let (c, u) = ([3.0, 4.0], [1.0, 0.0]);
    let mut g = apg(2.0, 1.0, 0.0, Some(-0.5), false);
    for (k, m) in [[2.0, 4.0], [1.0, 2.0], [1.5, 3.0]].iter().enumerate() {
        // η = 1, r = 0: out = u + w·m
        let out = guide1(&mut g, k, 3, &c, &u);
        assert_close(g.state().values(), m, 1e-15);
        assert_close(&out, &[1.0 + 2.0 * m[0], 2.0 * m[1]], 1e-15);
    }
    // a new run (step 0 again) restarts the buffer
    guide1(&mut g, 0, 3, &c, &u);
    assert_close(g.state().values(), &[2.0, 4.0], 1e-15);
}

#[test]
fn apg_momentum_skips_disabled_steps() {
    // window [0.4, 1) of 5 steps: steps 0, 1 off; momentum starts at step 2
    let (c, u) = ([3.0, 4.0], [1.0, 0.0]);
    let mut g = apg(2.0, 1.0, 0.0, Some(0.5), false);
    g.gate.window = Window::new(0.4, 1.0).unwrap();
    for k in 0..2 {
        assert_eq!(guide1(&mut g, k, 5, &c, &u), c.to_vec());
    }
    guide1(&mut g, 2, 5, &c, &u);
    assert_close(g.state().values(), &[2.0, 4.0], 1e-15);
    guide1(&mut g, 3, 5, &c, &u);
    assert_close(g.state().values(), &[3.0, 6.0], 1e-15);
}

#[test]
fn apg_groups() {
    // a batch of two is each sample alone
    let (c, u) = (vecr(3, 10), vecr(4, 10));
    let mut g = apg(6.0, 0.3, 0.5, Some(-0.25), false);
    let ctx = StepCtx::new(0, 2).unwrap();
    let mut both = vec![0.0; 10];
    g.guide(&ctx, &Layout::flat(2, 5).unwrap(), &c, Some(&u), &mut both)
        .unwrap();
    for s in 0..2 {
        let mut g1 = apg(6.0, 0.3, 0.5, Some(-0.25), false);
        let r = s * 5..(s + 1) * 5;
        assert_close(
            &both[r.clone()],
            &guide1(&mut g1, 0, 2, &c[r.clone()], &u[r]),
            1e-14,
        );
    }
    // norm over dims [0, 1] of a [2, 5] tensor = the whole batch as one sample
    g.reset();
    g.norm_dims = NormDims::Dims(vec![0, -1]);
    g.guide(&ctx, &Layout::flat(2, 5).unwrap(), &c, Some(&u), &mut both)
        .unwrap();
    let mut g1 = apg(6.0, 0.3, 0.5, Some(-0.25), false);
    assert_close(&both, &guide1(&mut g1, 0, 2, &c, &u), 1e-14);
    // norm over the last dim of [1, 2, 5] = two samples of 5
    let mut g2 = apg(6.0, 0.3, 0.5, None, false);
    g2.norm_dims = NormDims::Dims(vec![-1]);
    let mut rows = vec![0.0; 10];
    g2.guide(
        &ctx,
        &Layout::new(1, &[2, 5]).unwrap(),
        &c,
        Some(&u),
        &mut rows,
    )
    .unwrap();
    let mut g3 = apg(6.0, 0.3, 0.5, None, false);
    let mut want = vec![0.0; 10];
    g3.guide(&ctx, &Layout::flat(2, 5).unwrap(), &c, Some(&u), &mut want)
        .unwrap();
    assert_close(&rows, &want, 1e-14);
    // norm over the first sample dim of [1, 2, 5]: columns are the groups
    let mut g4 = apg(6.0, 0.3, 0.5, None, false);
    g4.norm_dims = NormDims::Dims(vec![1]);
    g4.guide(
        &ctx,
        &Layout::new(1, &[2, 5]).unwrap(),
        &c,
        Some(&u),
        &mut rows,
    )
    .unwrap();
    for j in 0..5 {
        let mut g5 = apg(6.0, 0.3, 0.5, None, false);
        let col = guide1(&mut g5, 0, 2, &[c[j], c[5 + j]], &[u[j], u[5 + j]]);
        assert_close(&[rows[j], rows[5 + j]], &col, 1e-14);
    }
}

#[test]
fn zero_star_spec_numbers() {
    // SPEC §8.3: c=(1,2), u=(2,0), w=4: s* = 0.5, out = (1, 8); plain CFG (−2, 8)
    let (c, u) = ([1.0, 2.0], [2.0, 0.0]);
    let mut g = CfgZeroStar::new(4.0).unwrap();
    g.zero_init_steps = 1;
    assert_eq!(guide1(&mut g, 0, 3, &c, &u), vec![0.0, 0.0]); // zero-init
    assert!(!g.needs_uncond(&StepCtx::new(0, 3).unwrap()).unwrap());
    assert_eq!(g.num_conditions(&StepCtx::new(0, 3).unwrap()).unwrap(), 2);
    let s = 2.0 / (4.0 + 1e-8);
    assert_close(
        &guide1(&mut g, 1, 3, &c, &u),
        &[4.0 - 3.0 * s * 2.0, 8.0],
        1e-15,
    );
    assert_close(&guide1(&mut g, 1, 3, &c, &u), &[1.0, 8.0], 1e-8);
    let mut cfg = ClassifierFree::new(4.0).unwrap();
    assert_close(&guide1(&mut cfg, 1, 3, &c, &u), &[-2.0, 8.0], 1e-15);
}

#[test]
fn zero_star_with_rescale_is_nan_on_zero_init() {
    // quirk 7, reproduced as documented
    let mut g = CfgZeroStar::new(4.0).unwrap();
    g.rescale = 0.5;
    let out = guide1(&mut g, 0, 3, &[1.0, 2.0, 3.0], &[0.5, 0.5, 0.5]);
    assert!(out.iter().all(|x| x.is_nan()));
    let out = guide1(&mut g, 1, 3, &[1.0, 2.0, 3.0], &[0.5, 0.5, 0.5]);
    assert!(out.iter().all(|x| x.is_finite()));
}

#[test]
fn zero_star_switched_off_outputs_cond_even_on_zero_init_steps() {
    // diffusers checks `enabled = False` before zero-init: a disabled CFG-Zero* returns c on
    // every step (one evaluation), with or without a rescale (no quirk-7 NaN then), and a
    // zero_init_steps past the run is not refused since it never applies.
    let (c, u) = ([1.0, 2.0, 3.0], [0.5, 0.5, 0.5]);
    for rescale in [0.0, 0.5] {
        let mut g = CfgZeroStar::new(4.0).unwrap();
        g.zero_init_steps = 2;
        g.rescale = rescale;
        g.gate.disabled = true;
        for step in 0..3 {
            let ctx = StepCtx::new(step, 3).unwrap();
            assert_eq!(guide1(&mut g, step, 3, &c, &u), c.to_vec(), "step {step}");
            assert_eq!(g.num_conditions(&ctx).unwrap(), 1);
            assert!(!g.needs_uncond(&ctx).unwrap());
        }
        g.zero_init_steps = 5;
        assert_eq!(guide1(&mut g, 0, 3, &c, &u), c.to_vec());
        // switched on again, the same settings zero the first steps and refuse 5 of 3
        g.gate.disabled = false;
        assert!(g.needs_uncond(&StepCtx::new(0, 3).unwrap()).is_err());
    }
}

#[test]
fn a_scale_within_diffusers_isclose_of_the_noop_is_off() {
    // diffusers: math.isclose(w, 1.0) (relative 1e-9) turns CFG off, or w == 0 exactly with
    // the original formulation.
    let (c, u) = ([1.0, -2.0], [0.25, 4.0]);
    let ctx = StepCtx::new(0, 2).unwrap();
    for (w, on) in [
        (1.0 + 1e-10, false),
        (1.0 - 5e-10, false),
        (1.0 + 2e-9, true),
        (1.0 - 2e-9, true),
    ] {
        let mut gs: Vec<DynGuidance> = vec![
            DynGuidance::Cfg(ClassifierFree::new(w).unwrap()),
            DynGuidance::Apg(apg(w, 1.0, 0.0, None, false)),
            DynGuidance::ZeroStar(CfgZeroStar {
                zero_init_steps: 0,
                ..CfgZeroStar::new(w).unwrap()
            }),
            DynGuidance::Tangential(Tangential::new(w).unwrap()),
        ];
        for g in &mut gs {
            assert_eq!(g.num_conditions(&ctx).unwrap(), 1 + on as usize, "w = {w}");
            let layout = Layout::flat(1, 2).unwrap();
            let mut out = [0.0; 2];
            g.guide(&ctx, &layout, &c, on.then_some(&u[..]), &mut out)
                .unwrap();
            // off: c exactly; on: the combination, a few 1e-9 away from c
            assert_eq!(out == c, !on, "w = {w}: {out:?}");
        }
    }
    let mut orig = ClassifierFree::new(1e-300).unwrap();
    orig.original = true;
    assert_eq!(orig.num_conditions(&ctx).unwrap(), 2); // only an exact 0 is off
    orig.scale = 0.0;
    assert_eq!(orig.num_conditions(&ctx).unwrap(), 1);
}

/// The top right-singular vector of `[c; u]` by power iteration on `AᵀA` (D×D).
fn top_right_singular(c: &[f64], u: &[f64]) -> Vec<f64> {
    let d = c.len();
    let mut v = vec![1.0; d];
    for _ in 0..2000 {
        let (pc, pu): (f64, f64) = (
            c.iter().zip(&v).map(|(a, b)| a * b).sum(),
            u.iter().zip(&v).map(|(a, b)| a * b).sum(),
        );
        let w: Vec<f64> = (0..d).map(|i| pc * c[i] + pu * u[i]).collect();
        let n = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        v = w.iter().map(|x| x / n).collect();
    }
    v
}

#[test]
fn tangential_matches_power_iteration() {
    for (seed, w, original) in [(5, 5.0, false), (6, 3.0, true), (7, 1.5, false)] {
        let c = vecr(seed, 6);
        let u: Vec<f64> = vecr(seed + 100, 6)
            .iter()
            .zip(&c)
            .map(|(n, x)| 0.8 * x + 0.5 * n)
            .collect();
        let v = top_right_singular(&c, &u);
        let uv: f64 = u.iter().zip(&v).map(|(a, b)| a * b).sum();
        let up: Vec<f64> = v.iter().map(|x| uv * x).collect();
        let want: Vec<f64> = (0..6)
            .map(|i| {
                let base = if original { c[i] } else { up[i] };
                base + w * (c[i] - up[i])
            })
            .collect();
        let mut g = Tangential::new(w).unwrap();
        g.original = original;
        assert_close(&guide1(&mut g, 0, 1, &c, &u), &want, 1e-10);
    }
}

#[test]
fn top_eigen_products_stable() {
    // nearly parallel c, u (the usual case): G nearly rank one
    let eps = 1e-9;
    let (a, b, d) = (1.0, 1.0 + eps, (1.0 + eps) * (1.0 + eps) + eps * eps);
    let (p, q) = top_eigen_products(a, b, d);
    // y ≈ (1, 1)/√2
    assert!((p - 0.5).abs() < 1e-8 && (q - 0.5).abs() < 1e-8);
    // diagonal with a ≫ d and tiny b: y ≈ (1, b/(a−d)), so y₂² ≈ b²/(a−d)² without cancellation
    let (p, q) = top_eigen_products(4.0, 1e-10, 1.0);
    assert!((p - 1e-10 / 3.0).abs() < 1e-24);
    assert!((q / (1e-20 / 9.0) - 1.0).abs() < 1e-9, "{q}");
    // d > a: y ≈ (0, 1)
    let (p, q) = top_eigen_products(1.0, 0.0, 4.0);
    assert_eq!((p, q), (0.0, 1.0));
}

#[test]
fn cfgpp_is_ddim_without_guidance_signal() {
    // ε_c = ε_u ⇒ D_c = D_u ⇒ CFG++ ≡ DDIM
    let g = CfgPp::new(0.6).unwrap();
    let ctx = StepCtx::new(0, 10).unwrap();
    let [al, be] = g.linear(&ctx).unwrap().unwrap();
    let (a, b, an, bn) = (0.6f64, 0.8, 0.8, 0.6);
    let [cx, cl, cr] = CfgPp::step_coefficients(a, b, an, bn).unwrap();
    let (x, d) = (0.37, -1.2);
    let dl = al * d + be * d;
    let ddim = an * d + bn * (x - a * d) / b;
    assert!((cx * x + cl * dl + cr * d - ddim).abs() < 1e-15);
    // with D_c ≠ D_u: x' = a'·D_λ + b'·ε̂_u, ε̂_u = (x − a·D_u)/b
    let (dc, du) = (0.9, -0.4);
    let dl = al * dc + be * du;
    let want = an * dl + bn * (x - a * du) / b;
    assert!((cx * x + cl * dl + cr * du - want).abs() < 1e-15);
    assert!((dl - (du + 0.6 * (dc - du))).abs() < 1e-15);
}

#[test]
fn window_uses_python_truncation() {
    // int(0.29·100) = 28 in Python (0.29·100 = 28.999999999999996)
    let w = Window::new(0.29, 1.0).unwrap();
    assert!(w.contains(28, 100) && !w.contains(27, 100));
    // int(0.8·5) = 4: step 4 is off
    let w = Window::new(0.0, 0.8).unwrap();
    assert!(w.contains(3, 5) && !w.contains(4, 5));
}

#[test]
fn interval_skips_the_uncond_evaluation() {
    let mut g = ClassifierFree::new(2.0).unwrap();
    g.gate.interval = Some(Interval::from_sigma(0.28, 2.9).unwrap());
    let (c, u) = ([1.0, 2.0], [0.0, 0.0]);
    let layout = Layout::flat(1, 2).unwrap();
    let mut out = [0.0; 2];
    // σ = 5: outside, cond only, uncond not needed
    let ctx = StepCtx::new(0, 3).unwrap().at(-2.0 * 5f64.ln()).unwrap();
    assert!(!g.needs_uncond(&ctx).unwrap());
    let r = g.guide(&ctx, &layout, &c, None, &mut out).unwrap();
    assert_eq!((r.enabled, r.num_conditions, out), (false, 1, c));
    // σ = 1: inside
    let ctx = StepCtx::new(1, 3).unwrap().at(0.0).unwrap();
    assert!(g.needs_uncond(&ctx).unwrap());
    g.guide(&ctx, &layout, &c, Some(&u), &mut out).unwrap();
    assert_eq!(out, [2.0, 4.0]);
    // σ = σ_lo = 0.28 is outside (σ_lo < σ), σ_hi = 2.9 inside (σ ≤ σ_hi)
    let i = g.gate.interval.unwrap();
    assert!(!i.contains(-2.0 * 0.28f64.ln()) && i.contains(-2.0 * 2.9f64.ln()));
}

#[test]
fn f32_agrees_with_f64_and_dyn_with_concrete() {
    let (c, u) = (vecr(9, 12), vecr(10, 12));
    let layout = Layout::new(2, &[2, 3]).unwrap();
    let ctx = StepCtx::new(1, 4).unwrap();
    let mut gs: Vec<DynGuidance> = vec![
        DynGuidance::Cfg(ClassifierFree {
            rescale: 0.7,
            ..ClassifierFree::new(5.0).unwrap()
        }),
        DynGuidance::Apg(apg(5.0, 0.2, 1.0, Some(-0.5), false)),
        DynGuidance::ZeroStar(CfgZeroStar::new(3.0).unwrap()),
        DynGuidance::Tangential(Tangential::new(3.0).unwrap()),
        DynGuidance::CfgPp(CfgPp::new(0.6).unwrap()),
    ];
    for g in &mut gs {
        let mut g32 = g.clone();
        let mut o64 = vec![0.0f64; 12];
        let mut o32 = vec![0.0f32; 12];
        g.guide(&ctx, &layout, &c, Some(&u), &mut o64).unwrap();
        let (c32, u32_): (Vec<f32>, Vec<f32>) = (
            c.iter().map(|&x| x as f32).collect(),
            u.iter().map(|&x| x as f32).collect(),
        );
        g32.guide(&ctx, &layout, &c32, Some(&u32_), &mut o32)
            .unwrap();
        for (a, b) in o64.iter().zip(&o32) {
            assert!(
                (a - *b as f64).abs() < 1e-5 * (1.0 + a.abs()),
                "{}",
                g.name()
            );
        }
        // the concrete guider gives the same numbers
        let mut oc = vec![0.0f64; 12];
        let mut fresh = g.clone();
        fresh.reset();
        match &mut fresh {
            DynGuidance::Cfg(x) => x.guide(&ctx, &layout, &c, Some(&u), &mut oc),
            DynGuidance::Apg(x) => x.guide(&ctx, &layout, &c, Some(&u), &mut oc),
            DynGuidance::ZeroStar(x) => x.guide(&ctx, &layout, &c, Some(&u), &mut oc),
            DynGuidance::Tangential(x) => x.guide(&ctx, &layout, &c, Some(&u), &mut oc),
            DynGuidance::CfgPp(x) => x.guide(&ctx, &layout, &c, Some(&u), &mut oc),
        }
        .unwrap();
        assert_eq!(oc, o64, "{}", g.name());
    }
}

#[test]
fn two_phase_api_equals_guide() {
    // reduce_moments + coefficient_table + an external write pass = guide
    let (c, u) = (vecr(11, 8), vecr(12, 8));
    let layout = Layout::flat(2, 4).unwrap();
    let ctx = StepCtx::new(0, 3).unwrap();
    let mut g = Tangential::new(4.0).unwrap();
    g.rescale = 0.3;
    let plan = g.plan(&ctx, &layout).unwrap();
    let m = reduce_moments(&layout, &plan.cells, &c, Some(&u), None).unwrap();
    let coef = coefficient_table(&g, &ctx, &plan, &layout, &m).unwrap();
    let ext: Vec<f64> = (0..8)
        .map(|i| {
            let k = coef[i / 4];
            k[COND] * c[i] + k[UNCOND] * u[i] + k[DELTA] * (c[i] - u[i])
        })
        .collect();
    let mut out = vec![0.0; 8];
    g.guide(&ctx, &layout, &c, Some(&u), &mut out).unwrap();
    assert_close(&out, &ext, 1e-15);
}

#[test]
fn apg_threshold_when_cond_nearly_equals_uncond() {
    // Δ ≈ 1e-12·|c|: ‖Δ‖ comes from Δ's own sums, not from ‖c‖² − 2⟨c,u⟩ + ‖u‖² (which
    // cancels to noise, possibly negative)
    let c = [1.5, 1.0, -0.5];
    let u: Vec<f64> = c
        .iter()
        .enumerate()
        .map(|(i, x)| x - 1e-12 * (i as f64 + 1.0))
        .collect();
    for momentum in [None, Some(-0.5)] {
        let mut g = apg(8.0, 1.0, 1.0, momentum, false);
        // η = 1 and ‖Δ‖ < r at step 0 (m = Δ): out = u + w·Δ
        let out = guide1(&mut g, 0, 2, &c, &u);
        let want: Vec<f64> = (0..3).map(|i| u[i] + 8.0 * (c[i] - u[i])).collect();
        assert_close(&out, &want, 1e-15);
    }
}

/// APG written out directly per group (the SPEC's steps), for a reference.
fn apg_naive(c: &[f64], u: &[f64], m: &mut [f64], w: f64, eta: f64, r: f64, beta: f64) -> Vec<f64> {
    let d: Vec<f64> = (0..c.len()).map(|i| c[i] - u[i] + beta * m[i]).collect();
    m.copy_from_slice(&d);
    let norm = d.iter().map(|x| x * x).sum::<f64>().sqrt();
    let k = if r > 0.0 { (r / norm).min(1.0) } else { 1.0 };
    let d: Vec<f64> = d.iter().map(|x| x * k).collect();
    let nc = c.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    let dot = d.iter().zip(c).map(|(a, b)| a * b / nc).sum::<f64>();
    (0..c.len())
        .map(|i| {
            let par = dot * c[i] / nc;
            u[i] + w * (d[i] - par + eta * par)
        })
        .collect()
}

#[test]
fn apg_large_samples_with_groups_and_momentum() {
    // samples of [2, 5000] (several parallel jobs each), norms over the last dim, two steps
    let (b, rows, cols) = (3, 2, 5000);
    let n = rows * cols;
    let layout = Layout::new(b, &[rows, cols]).unwrap();
    let mut g = apg(3.0, 0.25, 10.0, Some(-0.5), false); // ‖Δ‖ ≈ 13: clipped
    g.norm_dims = NormDims::Dims(vec![-1]);
    let mut m_ref = vec![0.0; b * n];
    for step in 0..2 {
        let c = vecr(20 + step as u64, b * n);
        let u: Vec<f64> = vecr(40 + step as u64, b * n)
            .iter()
            .zip(&c)
            .map(|(x, y)| 0.9 * y + 0.3 * x)
            .collect();
        let mut out = vec![0.0; b * n];
        g.guide(
            &StepCtx::new(step, 2).unwrap(),
            &layout,
            &c,
            Some(&u),
            &mut out,
        )
        .unwrap();
        for grp in 0..b * rows {
            let r = grp * cols..(grp + 1) * cols;
            let want = apg_naive(
                &c[r.clone()],
                &u[r.clone()],
                &mut m_ref[r.clone()],
                3.0,
                0.25,
                10.0,
                -0.5,
            );
            assert_close(&out[r], &want, 1e-11);
        }
        assert_close(g.state().values(), &m_ref, 1e-15);
    }
}
