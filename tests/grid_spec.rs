//! The grid builders against SPEC-solvers' sanity values (§5.2–§5.4, §6.1–§6.3), closed forms
//! and their typed errors.

use gdf::grid::discrete::{
    DiscreteScheduler, DiscreteSettings, FinalSigmas, SigmaConversion, Spacing,
};
use gdf::grid::flow::{FlowMatchSettings, SeqLenShift, TimeShift};
use gdf::grid::kdiffusion::{Exponential, Karras, PolyExponential, VpGrid};
use gdf::grid::table::{rescale_zero_terminal_snr, DiscreteTable, TableSettings};
use gdf::grid::ztsnr::ZeroTerminalSnr;
use gdf::grid::{beta_cdf, beta_ppf, Timesteps};
use gdf::prelude::*;
use gdf::GdfError;

fn close(got: &[f64], want: &[f64], rtol: f64) {
    close_to(got, want, rtol, 1e-12)
}

/// For values the spec prints with 5 decimals.
fn close5(got: &[f64], want: &[f64]) {
    close_to(got, want, 0.0, 6e-6)
}

fn close_to(got: &[f64], want: &[f64], rtol: f64, atol: f64) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= rtol * w.abs() + atol,
            "{got:?} vs {want:?}"
        );
    }
}

#[test]
fn kdiffusion_sanity_values() {
    // SPEC-solvers §6.1, N = 5, σ ∈ [0.002, 80] (final 0 omitted there).
    let k = Karras::default().grid(5).unwrap();
    close(
        &k.sigmas[..5],
        &[80.0, 17.527832, 2.5152190, 0.16975276, 0.002],
        1e-7,
    );
    assert_eq!(k.sigmas[5], 0.0);
    let e = Exponential::default().grid(5).unwrap();
    close(
        &e.sigmas[..5],
        &[80.0, 5.6568542, 0.4, 0.028284271, 0.002],
        1e-7,
    );
    let p = PolyExponential {
        rho: 2.0,
        ..PolyExponential::default()
    }
    .grid(5)
    .unwrap();
    close(
        &p.sigmas[..5],
        &[80.0, 0.77569098, 0.028284271, 0.0038784549, 0.002],
        1e-7,
    );
    let v = VpGrid::default().grid(5).unwrap();
    close(
        &v.sigmas[..5],
        &[152.16697, 17.049123, 3.4222448, 0.95752648, 0.010485993],
        1e-7,
    );
    // Every grid: λ = −2 ln σ, ending at +∞.
    for g in [&k, &e, &p, &v] {
        assert_eq!(*g.logsnr.last().unwrap(), f64::INFINITY);
        for (l, s) in g.logsnr.iter().zip(&g.sigmas).take(5) {
            assert!((l + 2.0 * s.ln()).abs() < 1e-9);
        }
    }
    // Exponential is uniform in λ; polyexponential with ρ = 1 is exponential.
    let d: Vec<f64> = e.logsnr[..5].windows(2).map(|w| w[1] - w[0]).collect();
    assert!(d.iter().all(|x| (x - d[0]).abs() < 1e-12));
    let p1 = PolyExponential::default().grid(5).unwrap();
    close(&p1.sigmas, &e.sigmas, 1e-12);
}

#[test]
fn karras_is_edm_sample_at_reversed_t() {
    let g = Karras::default().grid(7).unwrap();
    let s = <schedule::EdmSample>::new();
    for i in 0..7 {
        let t = 1.0 - i as f64 / 6.0;
        let l: f64 = s.f(t);
        assert!(
            (l - g.logsnr[i]).abs() < 1e-9,
            "{i}: {l} vs {}",
            g.logsnr[i]
        );
    }
}

/// EDMSample with `discrete_steps = 101` in the original GDF (torch 2.15, float64): its
/// `ln(1/σ²)` at `t = k/100`. A `discrete_steps` schedule is compared exactly (golden README);
/// `−2·ln σ` is an ulp off at each of these.
#[test]
fn edm_sample_is_the_originals_ln_of_inverse_square() {
    let s = <schedule::EdmSample>::new();
    let want = [
        (50, -1.8447197356241203),
        (26, 3.286190938250341),
        (32, 1.816743172302872),
        (35, 1.1360813253647697),
        (37, 0.7000231217897988),
        (38, 0.4869836922692364),
    ];
    for (k, w) in want {
        let l: f64 = s.f(k as f64 / 100.0);
        assert_eq!(
            l.to_bits(),
            f64::to_bits(w),
            "t = {k}/100: {l} vs the original's {w}"
        );
    }
}

#[test]
fn diffusers_sd_spacings_of_the_spec() {
    // SPEC-solvers §6.2, N = 10, SD config.
    let dpm = DiscreteSettings::new(DiscreteScheduler::DpmSolverMultistep);
    let g = dpm.grid(10).unwrap();
    assert_eq!(
        g.timesteps,
        Some(Timesteps::Int(vec![
            999, 899, 799, 699, 599, 500, 400, 300, 200, 100
        ]))
    );
    let lead = DiscreteSettings {
        spacing: Spacing::Leading,
        steps_offset: 1,
        ..dpm.clone()
    };
    assert_eq!(
        lead.grid(10).unwrap().timesteps.unwrap().to_f64()[..3],
        [901.0, 811.0, 721.0]
    );
    let eu = DiscreteSettings::new(DiscreteScheduler::Euler)
        .grid(10)
        .unwrap();
    close5(
        &eu.sigmas,
        &[
            14.61465, 7.83988, 4.60918, 2.91831, 1.95016, 1.34493, 0.93236, 0.62498, 0.36866,
            0.02917, 0.0,
        ],
    );
    let lead_eu = DiscreteSettings {
        spacing: Spacing::Leading,
        steps_offset: 1,
        ..DiscreteSettings::new(DiscreteScheduler::Euler)
    }
    .grid(10)
    .unwrap();
    assert_eq!(lead_eu.timesteps.unwrap().to_f64()[0], 901.0);
    let karras = DiscreteSettings {
        conversion: SigmaConversion::Karras,
        ..DiscreteSettings::new(DiscreteScheduler::Euler)
    }
    .grid(10)
    .unwrap();
    close5(
        &karras.sigmas,
        &[
            14.61465, 9.10294, 5.47840, 3.16861, 1.74942, 0.91408, 0.44692, 0.20140, 0.08191,
            0.02917, 0.0,
        ],
    );
    let beta = DiscreteSettings {
        conversion: SigmaConversion::Beta,
        ..DiscreteSettings::new(DiscreteScheduler::Euler)
    }
    .grid(10)
    .unwrap();
    close5(
        &beta.sigmas[..5],
        &[14.61465, 13.92779, 12.49098, 10.59761, 8.44244],
    );
    let exp = DiscreteSettings {
        conversion: SigmaConversion::Exponential,
        ..DiscreteSettings::new(DiscreteScheduler::Euler)
    }
    .grid(10)
    .unwrap();
    close5(&exp.sigmas[1..3], &[7.32488, 3.67124]);
    // sigma_min ends with the table's σ_0.
    let sm = DiscreteSettings {
        final_sigmas: FinalSigmas::SigmaMin,
        ..dpm
    }
    .grid(10)
    .unwrap();
    assert!((sm.sigmas[10] - 0.0291675).abs() < 1e-6);
}

#[test]
fn sd_table_ends_and_zero_terminal_snr() {
    let t = DiscreteTable::new(&TableSettings::default()).unwrap();
    assert!((t.logsnr(0) - 7.069398).abs() < 1e-5);
    assert!((t.logsnr(999) - -5.364048).abs() < 1e-5);
    // §6.3: α_1 unchanged, α(499) 0.52694348 → 0.49229970, α_T → 0, λ(998) → −15.44110.
    let ac: Vec<f64> = t.alphas_cumprod().iter().map(|&a| a as f64).collect();
    assert!((ac[499].sqrt() - 0.52694348).abs() < 1e-6);
    assert!((ac[999].sqrt() - 0.06826489).abs() < 1e-6);
    let r = rescale_zero_terminal_snr(&ac);
    assert_eq!(r[0], ac[0]);
    assert!((r[499].sqrt() - 0.49229970).abs() < 1e-6);
    assert_eq!(r[999], 0.0);
    let l998 = (r[998] / (1.0 - r[998])).ln();
    assert!((l998 - -15.44110).abs() < 1e-3, "{l998}");
    // The float32 table with rescaled betas: λ(499) −0.95605 → −1.13979, ᾱ_T = 2^−24.
    let z = DiscreteTable::new(&TableSettings {
        rescale_betas_zero_snr: true,
        ..TableSettings::default()
    })
    .unwrap();
    assert!((z.logsnr(499) - -1.13979).abs() < 1e-4);
    assert_eq!(z.alphas_cumprod()[999], 2f32.powi(-24));
    assert!((z.logsnr(999) - -16.6355).abs() < 1e-3);
}

#[test]
fn ztsnr_wrapper_matches_the_table_rescale() {
    // The continuous wrapper is the same affine map on a = √sigmoid(λ).
    let s = ZeroTerminalSnr::new(<schedule::Linear>::new());
    let inner = <schedule::Linear>::new();
    let (a0, at) = (
        gdf::float::sigmoid(inner.f(0.0f64)).sqrt(),
        gdf::float::sigmoid(inner.f(1.0f64)).sqrt(),
    );
    for t in [0.0f64, 0.1, 0.5, 0.9, 0.999] {
        let a = gdf::float::sigmoid(inner.f(t)).sqrt();
        let a2 = (a - at) * a0 / (a0 - at);
        let want = (a2 * a2 / (1.0 - a2 * a2)).ln();
        let got: f64 = s.f(t);
        assert!((got - want).abs() < 1e-9, "{t}: {got} vs {want}");
    }
    assert_eq!(s.f(1.0f64), f64::NEG_INFINITY);
    assert_eq!(
        s.decl(),
        "ZeroTerminalSnr(Linear(logsnr_range = [-10.0, 10.0]))"
    );
}

#[test]
fn flow_grids_of_the_spec() {
    // §5.4: SD3, shift 3, 28 steps.
    let g = FlowMatchSettings {
        shift: 3.0,
        ..FlowMatchSettings::default()
    }
    .grid(28, None)
    .unwrap();
    close(&g.sigmas[..3], &[1.0, 0.9873806, 0.9741077], 1e-6);
    close(&g.sigmas[26..], &[0.1109057, 0.0089286, 0.0], 1e-5);
    assert_eq!(g.logsnr[0], f64::NEG_INFINITY);
    assert_eq!(g.logsnr[28], f64::INFINITY);
    // §5.4: Flux, μ = 1.15, N = 4, t = linspace(1, 1/N, N).
    let flux = FlowMatchSettings {
        use_dynamic_shifting: true,
        ..FlowMatchSettings::default()
    };
    let g = flux
        .grid_from_sigmas(&[1.0, 0.75, 0.5, 0.25], Some(1.15))
        .unwrap();
    close(
        &g.sigmas,
        &[1.0, 0.9045308, 0.7595109, 0.5128442, 0.0],
        1e-6,
    );
    assert_eq!(g.mu, Some(1.15));
    // §5.3: μ and the shift e^μ.
    let m = SeqLenShift::default();
    assert!((m.mu(256.0).unwrap() - 0.5).abs() < 1e-12);
    assert!((m.mu(1024.0).unwrap().exp() - 1.8776106).abs() < 1e-6);
    assert!((m.mu(4096.0).unwrap().exp() - 3.1581929).abs() < 1e-6);
    // §5.2: the static shift is the λ offset −2 ln s; the exponential time shift −2μ.
    let s = 0.5f64;
    let shifted = 3.0 * s / (1.0 + 2.0 * s);
    assert!((shifted - 0.75).abs() < 1e-15);
    let l = gdf::grid::flow_logsnr(shifted);
    assert!((l - -2.1972246).abs() < 1e-7);
    for t in [0.1, 0.3, 0.9] {
        let l0 = gdf::grid::flow_logsnr(t);
        let e = TimeShift::Exponential.apply(0.7, 1.0, t);
        assert!((gdf::grid::flow_logsnr(e) - (l0 - 1.4)).abs() < 1e-12);
        let li = TimeShift::Linear.apply(2.0, 1.5, t);
        let want = TimeShift::Linear.apply_logsnr(2.0, 1.5, l0);
        assert!((gdf::grid::flow_logsnr(li) - want).abs() < 1e-12);
    }
}

#[test]
fn beta_quantile_round_trips() {
    for p in [1e-6, 0.01, 0.3, 0.5, 0.77, 0.999999] {
        let x = beta_ppf(p, 0.6, 0.6);
        // Near the ends the density is large, so one ulp of x moves the CDF by more.
        assert!((beta_cdf(x, 0.6, 0.6) - p).abs() < 1e-10, "{p}");
        // Beta(0.6, 0.6) is symmetric.
        assert!(
            (beta_ppf(1.0 - p, 0.6, 0.6) - (1.0 - x)).abs() < 1e-9,
            "{p}"
        );
    }
    // Beta(2, 2): CDF 3x² − 2x³.
    let x: f64 = 0.3;
    assert!((beta_cdf(x, 2.0, 2.0) - (3.0 * x * x - 2.0 * x.powi(3))).abs() < 1e-14);
}

fn out_of_range(r: Result<gdf::grid::Grid, GdfError>, field: &str) {
    match r {
        Err(GdfError::OutOfRange { what, .. }) => assert_eq!(what, field),
        other => panic!("expected OutOfRange on {field}, got {other:?}"),
    }
}

#[test]
fn typed_errors_name_the_field() {
    out_of_range(Karras::default().grid(0), "n");
    out_of_range(
        Karras {
            sigma_min: 80.0,
            sigma_max: 1.0,
            rho: 7.0,
        }
        .grid(4),
        "sigma_min",
    );
    out_of_range(
        Karras {
            rho: -1.0,
            ..Karras::default()
        }
        .grid(4),
        "rho",
    );
    out_of_range(
        Exponential {
            sigma_min: f64::NAN,
            sigma_max: 1.0,
        }
        .grid(4),
        "sigma_min",
    );
    out_of_range(
        VpGrid {
            eps_s: 0.0,
            ..VpGrid::default()
        }
        .grid(4),
        "eps_s",
    );
    let dpm = DiscreteSettings::new(DiscreteScheduler::DpmSolverMultistep);
    out_of_range(dpm.grid(0), "n");
    out_of_range(dpm.grid(1001), "num_inference_steps");
    let mut bad = dpm.clone();
    bad.table.beta_end = 1.5;
    out_of_range(bad.grid(10), "beta_end");
    out_of_range(
        FlowMatchSettings {
            shift: 0.0,
            ..FlowMatchSettings::default()
        }
        .grid(4, None),
        "shift",
    );
    assert!(matches!(
        FlowMatchSettings {
            use_dynamic_shifting: true,
            ..FlowMatchSettings::default()
        }
        .grid(4, None),
        Err(GdfError::Invalid { .. })
    ));
    let e = "sometimes".parse::<Spacing>().unwrap_err();
    assert!(e.to_string().contains("timestep_spacing"), "{e}");
    assert!(e.to_string().contains("sometimes"), "{e}");
    assert!(matches!(
        DiscreteSettings {
            conversion: SigmaConversion::LuLambdas,
            ..DiscreteSettings::new(DiscreteScheduler::Euler)
        }
        .grid(4),
        Err(GdfError::Invalid { .. })
    ));
}

#[test]
fn flow_terminal_stretch_and_inversion() {
    // shift_terminal: 1 − s is scaled so the last sigma is the terminal value.
    let base = FlowMatchSettings {
        shift: 3.0,
        ..FlowMatchSettings::default()
    };
    let plain = base.grid(10, None).unwrap();
    let term = FlowMatchSettings {
        shift_terminal: Some(0.1),
        ..base.clone()
    }
    .grid(10, None)
    .unwrap();
    assert!((term.sigmas[9] - 0.1).abs() < 1e-7);
    let k = (1.0 - plain.sigmas[9]) / 0.9;
    for i in 0..10 {
        let want = 1.0 - (1.0 - plain.sigmas[i]) / k;
        assert!((term.sigmas[i] - want).abs() < 1e-6, "{i}");
    }
    // invert_sigmas (Mochi's convention): diffusers lists 1 − s, ending with 1, its σ weighing
    // x0; gdf's levels stay the flow sigmas s (through float32 1 − s), ending at 0, and the
    // timesteps are diffusers' (1 − s)·T.
    let inv = FlowMatchSettings {
        invert_sigmas: true,
        ..base
    }
    .grid(10, None)
    .unwrap();
    let ts = inv.timesteps.as_ref().unwrap().to_f64();
    for (i, (&t, (&s, &p))) in ts
        .iter()
        .zip(inv.sigmas.iter().zip(&plain.sigmas))
        .enumerate()
    {
        assert!((s - p).abs() < 1e-7, "{i}");
        let want = 1000.0 * (1.0 - p);
        assert!(
            (t - want).abs() < 1e-4 * want.max(1.0),
            "{i}: {t} vs {want}"
        );
    }
    assert_eq!(inv.sigmas[10], 0.0);
    assert_eq!(inv.logsnr[10], f64::INFINITY);
    assert_eq!(inv.logsnr[0], f64::NEG_INFINITY);
}

#[test]
fn lambda_min_clipped_cuts_the_noisy_end() {
    let table = DiscreteTable::new(&TableSettings::default()).unwrap();
    let clip = -2.0; // in half-logSNR λ/2, as diffusers' lambda_t
    let usable = (0..table.len())
        .filter(|&k| table.logsnr(k) / 2.0 >= clip)
        .count();
    assert!(usable < 1000 && usable > 500, "{usable}");
    let g = DiscreteSettings {
        lambda_min_clipped: clip,
        ..DiscreteSettings::new(DiscreteScheduler::DpmSolverMultistep)
    }
    .grid(10)
    .unwrap();
    let ts = g.timesteps.unwrap().to_f64();
    // linspace over [0, usable − 1]: the first timestep is the last usable step.
    assert_eq!(ts[0], (usable - 1) as f64);
    assert!(g.logsnr[0] / 2.0 >= clip);
    // Without clipping the grid starts at 999.
    let g = DiscreteSettings::new(DiscreteScheduler::DpmSolverMultistep)
        .grid(10)
        .unwrap();
    assert_eq!(g.timesteps.unwrap().to_f64()[0], 999.0);
}

/// diffusers' DPMSolverMultistep truncates its Karras and Lu timesteps with
/// `squaredcos_cap_v2` betas (it rounds them otherwise); the values are diffusers 0.42.1's
/// `set_timesteps(10)` for those two configs.
#[test]
fn dpm_solver_truncates_cosine_karras_and_lu_timesteps() {
    for (conversion, want) in [
        (
            SigmaConversion::Karras,
            [998, 998, 998, 998, 997, 995, 983, 894, 259, 0],
        ),
        (
            SigmaConversion::LuLambdas,
            [999, 998, 998, 994, 974, 871, 476, 104, 14, 0],
        ),
    ] {
        let mut d = DiscreteSettings::new(DiscreteScheduler::DpmSolverMultistep);
        d.table = TableSettings {
            beta_schedule: gdf::grid::table::BetaSchedule::SquaredCosCapV2,
            ..Default::default()
        };
        d.conversion = conversion;
        let g = d.grid(10).unwrap();
        assert_eq!(
            g.timesteps,
            Some(Timesteps::Int(want.to_vec())),
            "{conversion:?}"
        );
    }
}

/// Trailing spacing takes numpy's `arange(T, 0, −T/N)` values, which `arange` fills as
/// `T + i·δ` with `δ = (T − T/N) − T`, not `T − i·T/N`: where the latter is a half (937.5 for
/// `N = 48`), δ's last bit decides the rounding (936, not 937, after the −1). The values are
/// diffusers 0.42.1's `set_timesteps(48)` with `timestep_spacing = "trailing"` (Euler's
/// float32 timesteps are whole here).
#[test]
fn trailing_timesteps_round_numpys_arange_values() {
    let want: Vec<i64> = vec![
        999, 978, 957, 936, 916, 895, 874, 853, 832, 811, 791, 770, 749, 728, 707, 686, 666, 645,
        624, 603, 582, 561, 541, 520, 499, 478, 457, 436, 416, 395, 374, 353, 332, 311, 291, 270,
        249, 228, 207, 186, 166, 145, 124, 103, 82, 61, 41, 20,
    ];
    for sched in [
        DiscreteScheduler::Euler,
        DiscreteScheduler::DpmSolverMultistep,
    ] {
        let mut d = DiscreteSettings::new(sched);
        d.spacing = Spacing::Trailing;
        let got = d.grid(48).unwrap().timesteps.unwrap().to_f64();
        let want: Vec<f64> = want.iter().map(|&t| t as f64).collect();
        assert_eq!(got, want, "{sched:?}");
    }
}

/// Euler with a σ conversion and trailing spacing at a count where numpy's `arange` gives one
/// timestep more (61 of 1000): diffusers' last spaced timestep is −1, whose σ (`np.interp`
/// clamps) is σ_0, and its Karras σ_min is that σ_0. Values: diffusers 0.42.1,
/// `EulerDiscreteScheduler(SD betas, trailing, use_karras_sigmas).set_timesteps(61)`
/// (float32 sigmas: σ_max, σ_59, σ_60, 0; timesteps 999 and 0 at the ends).
#[test]
fn euler_conversion_takes_the_extra_trailing_timesteps_sigma_min() {
    let mut d = DiscreteSettings::new(DiscreteScheduler::Euler);
    d.spacing = Spacing::Trailing;
    d.conversion = SigmaConversion::Karras;
    let g = d.grid(61).unwrap();
    assert_eq!(g.sigmas.len(), 62);
    let s = &g.sigmas;
    close(
        &[s[0], s[59], s[60], s[61]],
        &[
            14.614646911621094,
            0.034397754818201065,
            0.02916753478348255,
            0.0,
        ],
        2e-7,
    );
    let t = g.timesteps.unwrap().to_f64();
    assert_eq!((t[0], t[60]), (999.0, 0.0));
}

/// Euler's leading spacing at 1000 steps with `steps_offset = 1` lists timestep 1000 (σ
/// clamped to σ_999). Without a conversion gdf refuses it (a first step of length 0); with one,
/// only the ends of the spaced σ's are used and diffusers' grid is sound. Values: diffusers
/// 0.42.1, `EulerDiscreteScheduler(SD betas, leading, steps_offset 1,
/// use_exponential_sigmas).set_timesteps(1000)`.
#[test]
fn euler_conversion_accepts_leading_at_every_count() {
    let mut d = DiscreteSettings::new(DiscreteScheduler::Euler);
    d.spacing = Spacing::Leading;
    d.steps_offset = 1;
    assert!(d.grid(1000).is_err());
    d.conversion = SigmaConversion::Exponential;
    let g = d.grid(1000).unwrap();
    let s = &g.sigmas;
    close(
        &[s[0], s[1], s[998], s[999], s[1000]],
        &[
            14.614646911621094,
            14.529046058654785,
            0.04155789315700531,
            0.04131447896361351,
            0.0,
        ],
        2e-7,
    );
    let t = g.timesteps.unwrap().to_f64();
    close_to(&t[..2], &[999.0, 998.0313720703125], 2e-6, 0.0);
}

/// DDPMScheduler steps to the next listed timestep (`previous_timestep`), and from the last
/// to ᾱ = 1, so uneven spacings are diffusers' own grids (gdf refused them as DDIM does) and
/// a leading grid whose last timestep is at least `T//n` still ends at σ = 0. Values:
/// diffusers 0.42.1, `DDPMScheduler(SD betas, steps_offset 1)`.
#[test]
fn ddpm_steps_through_its_listed_timesteps() {
    use gdf::interop::diffusers::{load, PipelineKind};
    let cfg = |sp: &str| {
        format!(
            r#"{{"_class_name": "DDPMScheduler", "beta_schedule": "scaled_linear",
            "beta_start": 0.00085, "beta_end": 0.012, "num_train_timesteps": 1000,
            "steps_offset": 1, "timestep_spacing": "{sp}"}}"#
        )
    };
    let abar = |g: &gdf::grid::Grid| -> Vec<f64> {
        g.sigmas.iter().map(|&s| 1.0 / (1.0 + s * s)).collect()
    };
    let l = load(&cfg("linspace"), PipelineKind::StableDiffusion).unwrap();
    let g = l.grid(10).unwrap();
    assert_eq!(
        g.timesteps.clone().unwrap(),
        Timesteps::Int(vec![999, 888, 777, 666, 555, 444, 333, 222, 111, 0])
    );
    let a = abar(&g);
    close(&a[9..], &[0.9991499781608582, 1.0], 1e-7);
    let l = load(&cfg("trailing"), PipelineKind::StableDiffusion).unwrap();
    let g = l.grid(3).unwrap();
    assert_eq!(
        g.timesteps.clone().unwrap(),
        Timesteps::Int(vec![999, 666, 332])
    );
    close(
        &abar(&g),
        &[
            0.00466009508818388,
            0.10508038848638535,
            0.5366418361663818,
            1.0,
        ],
        1e-6,
    );
    // numpy lists 62 trailing timesteps for 61 steps, the last −1 (ᾱ[−1] in the step).
    let e = l.grid(61).unwrap_err().to_string();
    assert!(e.contains("timestep_spacing") && e.contains("62"), "{e}");
    let l = load(&cfg("leading"), PipelineKind::StableDiffusion).unwrap();
    let g = l.grid(501).unwrap();
    let t = g.timesteps.clone().unwrap().to_f64();
    assert_eq!((t[0], t[500]), (501.0, 1.0));
    assert_eq!(g.logsnr[501], f64::INFINITY);
    close(&abar(&g)[500..501], &[0.9982960224151611], 1e-7);
}

/// Flux's given sigmas are float32, and diffusers stretches them to `shift_terminal` in
/// float32 (the last sigma is 0.019999981, not 0.02). Values: diffusers 0.42.1,
/// `FlowMatchEulerDiscreteScheduler(shift 3, use_dynamic_shifting, shift_terminal 0.02)
/// .set_timesteps(sigmas = linspace(1, 1/8, 8), mu = 1.15)`.
#[test]
fn flux_sigmas_stretch_to_the_terminal_in_float32() {
    let s = FlowMatchSettings {
        use_dynamic_shifting: true,
        shift: 3.0,
        shift_terminal: Some(0.02),
        ..FlowMatchSettings::default()
    };
    let mut sig: Vec<f64> = (0..8)
        .map(|i| i as f64 * ((0.125 - 1.0) / 7.0) + 1.0)
        .collect();
    sig[7] = 0.125; // numpy.linspace(1, 1/8, 8)
    let g = s.grid_from_sigmas(&sig, Some(1.15)).unwrap();
    let want = [
        1.0,
        0.9384547472000122,
        0.8642287254333496,
        0.7729524970054626,
        0.6579892039299011,
        0.508743166923523,
        0.30719274282455444,
        0.019999980926513672,
        0.0,
    ];
    assert_eq!(g.sigmas, want);
    let t = g.timesteps.unwrap().to_f64();
    assert_eq!(t[7], 19.999980926513672);
}

/// `EDMEulerScheduler` builds its Karras ramp in float64 and rounds the σ's to float32 at the
/// end (EDMDPMSolverMultistep's ramp is float32: 10 of its 11 σ's at 10 steps differ by an
/// ulp or more); its `sigma_min` final σ is the ramp's last. diffusers 0.42.1's values, to
/// the bit of their float32.
#[test]
fn edm_euler_sigmas_are_diffusers_float64_ramp() {
    use gdf::interop::diffusers::{load, PipelineKind};
    // diffusers' float32 values, printed as float64.
    let want: [f64; 11] = [
        80.0,
        42.41518783569336,
        21.10867691040039,
        9.723201751708984,
        4.0661234855651855,
        1.5017420053482056,
        0.46997904777526855,
        0.11663856357336044,
        0.020435335114598274,
        0.0020000000949949026,
        0.0,
    ];
    let l = load(
        r#"{"_class_name": "EDMEulerScheduler"}"#,
        PipelineKind::StableDiffusion,
    )
    .unwrap();
    let g = l.grid(10).unwrap();
    let got: Vec<f32> = g
        .sigmas
        .iter()
        .map(|&s| (s * l.data_scale()) as f32)
        .collect();
    assert_eq!(got, want.map(|v| v as f32));
    let l = load(
        r#"{"_class_name": "EDMEulerScheduler", "final_sigmas_type": "sigma_min"}"#,
        PipelineKind::StableDiffusion,
    )
    .unwrap();
    let g = l.grid(10).unwrap();
    assert_eq!((g.sigmas[10] * l.data_scale()) as f32, want[9] as f32);
}

/// CogVideoX's SNR shift is a λ shift by `−ln k` (`ᾱ/(k + (1 − k)ᾱ)`), and the zero-SNR
/// rescale on top ends the table at ᾱ = 0 (the framework's table puts 2⁻²⁴ there).
#[test]
fn cogvideox_snr_shift_moves_lambda_by_ln_k() {
    let plain = DiscreteTable::new(&TableSettings::default()).unwrap();
    let shifted = DiscreteTable::new(&TableSettings {
        snr_shift: Some(3.0),
        ..Default::default()
    })
    .unwrap();
    for k in [0, 1, 250, 500, 999] {
        let d = shifted.logsnr(k) - plain.logsnr(k);
        // float32 ᾱ: λ = ln(ᾱ/(1 − ᾱ)) is good to ~1e-7/(1 − ᾱ) near ᾱ = 1.
        assert!((d + 3f64.ln()).abs() < 2e-4, "step {k}: {d}");
    }
    let z = DiscreteTable::new(&TableSettings {
        snr_shift: Some(3.0),
        rescale_betas_zero_snr: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(z.alphas_cumprod()[999], 2f32.powi(-24));
    assert!(DiscreteTable::new(&TableSettings {
        snr_shift: Some(0.0),
        ..Default::default()
    })
    .unwrap_err()
    .to_string()
    .contains("snr_shift_scale"));
}
