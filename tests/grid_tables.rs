//! Snapshot tables of the new grids, densities and loss weights at their defaults, and a
//! sampling-grid table with Karras and trailing spacing side by side. Every table's numbers
//! are also checked against an independent source (SPEC-solvers sanity values or closed
//! forms) before the snapshot is taken.
//!
//! Snapshots live in `tests/snapshots/`; accept a change with `cargo insta review`, or
//! `INSTA_UPDATE=always cargo test --test grid_tables` and review the diff.

use gdf::density::{CosMap, EdmLogNormal, LogitNormal, ModeSampling};
use gdf::framework::Gdf;
use gdf::grid::discrete::{DiscreteScheduler, DiscreteSettings, SigmaConversion, Spacing};
use gdf::grid::flow::{FlowMatchSettings, SeqLenShift};
use gdf::grid::kdiffusion::{Exponential, Karras, PolyExponential, VpGrid};
use gdf::grid::{Grid, SigmaKind, Timesteps};
use gdf::konst::Dec;
use gdf::loss_weight::Constant;
use gdf::noise_cond::LogSnr;
use gdf::prelude::*;
use gdf::scaler::Vp;
use gdf::table::{NumberFormat, ScheduleTable};
use gdf::target::Epsilon;
use gdf::weighting::{CosMapWeight, EdmWeight, MinSnrGamma, SigmaSqrt, SoftMinSnr};
use typenum::{N15, P15, Z0};

/// λ from 15 at t = 0 to −15 at t = 1, as the existing loss-weight tables.
type Sweep = schedule::Linear<Dec<N15, Z0>, Dec<P15, Z0>>;

fn fmt(x: f64) -> String {
    NumberFormat::default().format(x)
}

/// Right-aligned columns.
fn render(heading: &[String], cols: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = cols.iter().map(|c| c.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = heading.join("\n");
    out.push_str("\n\n");
    let line = |cells: Vec<String>| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{:>w$}", c, w = w[i]))
            .collect::<Vec<_>>()
            .join("  ")
    };
    out.push_str(&line(cols.iter().map(|c| c.to_string()).collect()));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.clone()));
        out.push('\n');
    }
    out
}

/// A grid as a table: step, timestep (when there are timesteps), sigma, logSNR. Checks
/// `λ` against the sigma (`−2 ln σ`, or the LERP formula for flow sigmas) on the way.
fn grid_table(heading: &str, g: &Grid) -> String {
    let ts = g.timesteps.as_ref().map(Timesteps::to_f64);
    let mut rows = Vec::new();
    for i in 0..g.len() {
        let s = g.sigmas[i];
        let want = match g.sigma_kind {
            SigmaKind::Ve => -2.0 * s.ln(),
            SigmaKind::Flow => 2.0 * ((1.0 - s) / s).ln(),
        };
        let l = g.logsnr[i];
        assert!(
            l == want || (l - want).abs() < 1e-12 * want.abs().max(1.0),
            "{heading}: row {i}: λ {l} vs {want}"
        );
        let mut r = vec![i.to_string()];
        if let Some(ts) = &ts {
            r.push(ts.get(i).map(|&t| fmt(t)).unwrap_or_else(|| "-".into()));
        }
        r.push(fmt(s));
        r.push(fmt(l));
        rows.push(r);
    }
    let sigma = match g.sigma_kind {
        SigmaKind::Ve => "sigma",
        SigmaKind::Flow => "flow_sigma",
    };
    let cols: Vec<&str> = if ts.is_some() {
        vec!["step", "timestep", sigma, "logSNR"]
    } else {
        vec!["step", sigma, "logSNR"]
    };
    render(&[heading.to_string()], &cols, &rows)
}

fn close(got: &[f64], want: &[f64], atol: f64) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= atol, "{got:?} vs {want:?}");
    }
}

#[test]
fn kdiffusion_grids_at_defaults() {
    let k = Karras::default().grid(5).unwrap();
    let e = Exponential::default().grid(5).unwrap();
    let p = PolyExponential::default().grid(5).unwrap();
    let v = VpGrid::default().grid(5).unwrap();
    // SPEC-solvers §6.1 (N = 5).
    close(
        &k.sigmas[..5],
        &[80.0, 17.527832, 2.5152190, 0.16975276, 0.002],
        1e-6,
    );
    close(
        &e.sigmas[..5],
        &[80.0, 5.6568542, 0.4, 0.028284271, 0.002],
        1e-6,
    );
    close(&p.sigmas, &e.sigmas, 1e-12);
    close(
        &v.sigmas[..5],
        &[152.16697, 17.049123, 3.4222448, 0.95752648, 0.010485993],
        1e-5,
    );
    let text = [
        grid_table(
            "Karras(sigma_min = 0.002, sigma_max = 80.0, rho = 7.0), n = 5",
            &k,
        ),
        grid_table(
            "Exponential(sigma_min = 0.002, sigma_max = 80.0), n = 5",
            &e,
        ),
        grid_table(
            "PolyExponential(sigma_min = 0.002, sigma_max = 80.0, rho = 1.0), n = 5",
            &p,
        ),
        grid_table(
            "VpGrid(beta_d = 19.9, beta_min = 0.1, eps_s = 0.001), n = 5",
            &v,
        ),
    ]
    .join("\n");
    insta::assert_snapshot!("grid_kdiffusion_defaults", text);
}

#[test]
fn diffusers_grids_at_defaults() {
    let eu = DiscreteSettings::new(DiscreteScheduler::Euler)
        .grid(10)
        .unwrap();
    let dpm = DiscreteSettings::new(DiscreteScheduler::DpmSolverMultistep)
        .grid(10)
        .unwrap();
    let uni = DiscreteSettings::new(DiscreteScheduler::UniPcMultistep)
        .grid(10)
        .unwrap();
    // SPEC-solvers §6.2 (SD, N = 10).
    close(
        &eu.sigmas,
        &[
            14.61465, 7.83988, 4.60918, 2.91831, 1.95016, 1.34493, 0.93236, 0.62498, 0.36866,
            0.02917, 0.0,
        ],
        6e-6,
    );
    let dpm_t = [
        999.0, 899.0, 799.0, 699.0, 599.0, 500.0, 400.0, 300.0, 200.0, 100.0,
    ];
    assert_eq!(dpm.timesteps.as_ref().unwrap().to_f64(), dpm_t);
    assert_eq!(uni.timesteps.as_ref().unwrap().to_f64(), dpm_t);
    let text = [
        grid_table("EulerDiscrete, SD table, linspace, n = 10", &eu),
        grid_table("DPMSolverMultistep, SD table, linspace, n = 10", &dpm),
        grid_table("UniPCMultistep, SD table, linspace, n = 10", &uni),
    ]
    .join("\n");
    insta::assert_snapshot!("grid_diffusers_defaults", text);
}

#[test]
fn flow_grids_sd3_and_flux() {
    let sd3 = FlowMatchSettings {
        shift: 3.0,
        ..FlowMatchSettings::default()
    }
    .grid(28, None)
    .unwrap();
    close(&sd3.sigmas[..3], &[1.0, 0.9873806, 0.9741077], 1e-6);
    close(&sd3.sigmas[26..], &[0.1109057, 0.0089286, 0.0], 1e-6);
    let mu = SeqLenShift::default().mu(4096.0).unwrap();
    let flux = FlowMatchSettings {
        use_dynamic_shifting: true,
        ..FlowMatchSettings::default()
    };
    let n = 4;
    let given: Vec<f64> = (0..n).map(|i| 1.0 - i as f64 / n as f64).collect();
    let fx = flux.grid_from_sigmas(&given, Some(mu)).unwrap();
    close(
        &fx.sigmas,
        &[1.0, 0.9045308, 0.7595109, 0.5128442, 0.0],
        1e-6,
    );
    let text = [
        grid_table("FlowMatchEuler, shift = 3 (SD3), n = 28", &sd3),
        grid_table(
            "FlowMatchEuler, dynamic shift, mu(4096 tokens) = 1.15 (Flux 1024²), sigmas = linspace(1, 1/4, 4)",
            &fx,
        ),
    ]
    .join("\n");
    insta::assert_snapshot!("grid_flow_sd3_flux", text);
}

#[test]
fn karras_and_trailing_side_by_side() {
    let base = DiscreteSettings::new(DiscreteScheduler::DpmSolverMultistep);
    let karras = DiscreteSettings {
        conversion: SigmaConversion::Karras,
        ..base.clone()
    }
    .grid(10)
    .unwrap();
    let trailing = DiscreteSettings {
        spacing: Spacing::Trailing,
        ..base
    }
    .grid(10)
    .unwrap();
    // SPEC-solvers §6.2: Karras σ (N = 10, SD) and trailing timesteps 999, 899, …, 99.
    close(
        &karras.sigmas,
        &[
            14.61465, 9.10294, 5.47840, 3.16861, 1.74942, 0.91408, 0.44692, 0.20140, 0.08191,
            0.02917, 0.0,
        ],
        6e-6,
    );
    let want: Vec<f64> = (0..10).map(|i| 999.0 - 100.0 * i as f64).collect();
    assert_eq!(trailing.timesteps.as_ref().unwrap().to_f64(), want);
    let kt = karras.timesteps.as_ref().unwrap().to_f64();
    let tt = trailing.timesteps.as_ref().unwrap().to_f64();
    let rows: Vec<Vec<String>> = (0..=10)
        .map(|i| {
            let t = |v: &[f64]| v.get(i).map(|&x| fmt(x)).unwrap_or_else(|| "-".into());
            vec![
                i.to_string(),
                t(&kt),
                fmt(karras.sigmas[i]),
                fmt(karras.logsnr[i]),
                t(&tt),
                fmt(trailing.sigmas[i]),
                fmt(trailing.logsnr[i]),
            ]
        })
        .collect();
    let text = render(
        &[
            "DPMSolverMultistep on the SD table (scaled_linear 0.00085..0.012, T = 1000), n = 10"
                .to_string(),
            "left: use_karras_sigmas (rho = 7); right: timestep_spacing = trailing".to_string(),
        ],
        &[
            "step",
            "karras_t",
            "karras_sigma",
            "karras_logSNR",
            "trailing_t",
            "trailing_sigma",
            "trailing_logSNR",
        ],
        &rows,
    );
    insta::assert_snapshot!("grid_karras_vs_trailing", text);
}

/// The loss weights at their defaults over the λ sweep, each value checked against its
/// closed form.
#[test]
fn new_loss_weights_at_defaults() {
    let sweep = Sweep::new();
    let mut parts = Vec::new();
    macro_rules! table {
        ($w:expr, $closed:expr) => {{
            let w = $w;
            let t = ScheduleTable::of_schedule(&sweep)
                .loss_weight(&w)
                .steps(11)
                .build()
                .unwrap();
            let ls = t.column("logSNR").unwrap();
            let ws = t.column("loss_weight").unwrap();
            for (l, got) in ls.iter().zip(&ws) {
                let want: f64 = $closed(*l);
                assert!(
                    (got - want).abs() <= 1e-11 * want.abs(),
                    "{} at {l}: {got} vs {want}",
                    w.decl()
                );
            }
            parts.push(t.to_string());
        }};
    }
    let rf_t = |l: f64| 1.0 / (1.0 + (l / 2.0).exp());
    table!(<EdmWeight>::new(), |l: f64| l.exp() + 4.0);
    table!(<SoftMinSnr>::new(), |l: f64| 1.0 / (1.0 + (-l).exp()));
    table!(<MinSnrGamma>::new(), |l: f64| l.exp().min(5.0) / l.exp());
    table!(SigmaSqrt, |l: f64| rf_t(l).powi(-2));
    table!(CosMapWeight, |l: f64| {
        let t = rf_t(l);
        2.0 / (std::f64::consts::PI * (1.0 - 2.0 * t + 2.0 * t * t))
    });
    insta::assert_snapshot!("weighting_defaults", parts.join("\n"));
}

/// The densities that are also schedules (CosMap, ModeSampling) as schedule tables; the
/// training-only ones (LogitNormal, EdmLogNormal) as their λ density with the fraction of
/// 10^5 seeded draws per bin next to the closed-form bin probability.
#[test]
fn densities_at_defaults() {
    let mut parts = Vec::new();
    let cm = CosMap::new();
    let t = ScheduleTable::of_schedule(&cm)
        .scaler(&Vp)
        .steps(11)
        .build()
        .unwrap();
    for (tt, l) in t
        .column("t")
        .unwrap()
        .iter()
        .zip(t.column("logSNR").unwrap())
    {
        let want = if *tt == 1.0 {
            f64::NEG_INFINITY
        } else {
            -2.0 * (std::f64::consts::FRAC_PI_2 * tt).tan().ln()
        };
        assert!(
            l == want || (l - want).abs() < 1e-9,
            "CosMap {tt}: {l} vs {want}"
        );
    }
    parts.push(t.to_string());
    let ms = <ModeSampling>::new();
    let t = ScheduleTable::of_schedule(&ms)
        .scaler(&Vp)
        .steps(11)
        .build()
        .unwrap();
    for (tt, l) in t
        .column("t")
        .unwrap()
        .iter()
        .zip(t.column("logSNR").unwrap())
    {
        let u = 1.0 - tt;
        let c = (std::f64::consts::FRAC_PI_2 * u).cos();
        let rf = 1.0 - u - 1.29 * (c * c - 1.0 + u);
        let want = 2.0 * ((1.0 - rf) / rf).ln();
        assert!(
            l == want || (l - want).abs() < 1e-9,
            "ModeSampling {tt}: {l} vs {want}"
        );
    }
    parts.push(t.to_string());
    parts.push(normal_density_table(
        <LogitNormal>::new(),
        0.0,
        2.0,
        "LogitNormal(m = 0.0, s = 1.0): λ ~ N(0, 2²)",
    ));
    parts.push(normal_density_table(
        <EdmLogNormal>::new(),
        2.4,
        2.4,
        "EdmLogNormal(p_mean = -1.2, p_std = 1.2): λ ~ N(2.4, 2.4²)",
    ));
    insta::assert_snapshot!("density_defaults", parts.join("\n"));
}

/// λ-density table of a normal training density: bins of width 2 on [−10, 12), the closed-
/// form pdf at the centre and bin probability (Simpson), and the fraction of 10^5 draws.
fn normal_density_table<S: Schedule>(s: S, mu: f64, sd: f64, heading: &str) -> String {
    let g: Gdf<S, Vp, Epsilon, LogSnr, Constant, f64> =
        Gdf::new(s, Vp, Epsilon, LogSnr::new(), Constant::new());
    let n = 100_000;
    let mut draws = vec![0.0f64; n];
    g.logsnr_into(None, 1.0, 2024, 0, &mut draws).unwrap();
    let pdf = |x: f64| {
        (-(x - mu).powi(2) / (2.0 * sd * sd)).exp() / (sd * (2.0 * std::f64::consts::PI).sqrt())
    };
    let mut rows = Vec::new();
    let mut lo = -10.0;
    while lo < 12.0 {
        let hi = lo + 2.0;
        let m = 200;
        let h = (hi - lo) / m as f64;
        let p: f64 = (0..=m)
            .map(|i| {
                let w = if i == 0 || i == m {
                    1.0
                } else if i % 2 == 1 {
                    4.0
                } else {
                    2.0
                };
                w * pdf(lo + i as f64 * h)
            })
            .sum::<f64>()
            * h
            / 3.0;
        let frac = draws.iter().filter(|&&x| x >= lo && x < hi).count() as f64 / n as f64;
        let se = (p * (1.0 - p) / n as f64).sqrt();
        assert!(
            (frac - p).abs() <= 5.0 * se + 1e-9,
            "{heading} [{lo}, {hi}): {frac} vs {p}"
        );
        rows.push(vec![
            format!("[{lo}, {hi})"),
            fmt(pdf(lo + 1.0)),
            fmt(p),
            format!("{frac:.4}"),
        ]);
        lo = hi;
    }
    render(
        &[heading.to_string(), format!("{n} draws, seed 2024")],
        &["logSNR_bin", "pdf(centre)", "p(bin)", "drawn"],
        &rows,
    )
}
