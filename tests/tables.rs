//! Schedule tables: snapshots of every built-in schedule, noise cond and loss weight at the
//! original's defaults and of the golden framework configs (11 and 21 steps, shifts 1 and 2),
//! of sampling grids and adaptive state; every table's numbers recomputed from the component
//! functions, and checked against the golden files where they hold the same points.
//!
//! Snapshots live in `tests/snapshots/`; CI (CI=true) never writes them. Accept a change
//! with `cargo insta review`, or `INSTA_UPDATE=always cargo test --test tables` and review
//! the diff.

mod common;

use common::{close, flat, get, load, num, F64_TOL};
use gdf::framework::Gdf;
use gdf::loss_weight::{self as lw, LossWeight};
use gdf::noise_cond::{self as nc, NoiseCond};
use gdf::prelude::Schedule;
use gdf::scaler::{Lerp, Scaler, Stretched, Vp};
use gdf::schedule::{self as sc};
use gdf::table::{Grid, NumberFormat, ScheduleTable};
use gdf::target::{Epsilon, Target, V, X0};
use gdf::GdfError;
use serde_json::Value;
use typenum::{N15, P15, Z0};

// ---------------------------------------------------------------------------------------
// The golden framework configs of diffuse.json, written by hand.

/// Stable Cascade: Cosine (clamp [1e-4, 0.9999]) + Vp + Epsilon + CosineT + P2.
type Sc = Gdf<sc::Cosine, Vp, Epsilon, nc::CosineT, lw::P2>;
/// EDM-style: EdmSample + Vp + V + Edm + MinSnr / SnrPlusOne.
type Edm = Gdf<sc::EdmSample, Vp, V, nc::Edm, lw::Composed<(lw::MinSnr,), (lw::SnrPlusOne,)>>;
/// Rectified flows: RectifiedFlows + Lerp + RF target + RF noise cond + Constant.
type Rf =
    Gdf<sc::RectifiedFlows, Lerp, gdf::target::RectifiedFlows, nc::RectifiedFlows, lw::Constant>;
/// "stretched": Cosine + Vp stretched to the schedule's ends + X0 + Sigmoid + Snr, offset
/// noise 0.1.
type Stretch = Gdf<sc::Cosine, Stretched<Vp>, X0, nc::Sigmoid, lw::Snr, f64>;

fn stretched() -> Stretch {
    Gdf::<sc::Cosine, Vp, X0, nc::Sigmoid, lw::Snr>::default()
        .with_offset_noise(0.1)
        .setup_limits(true, true, 1.0)
        .expect("Cosine accepts t")
}

/// The linear logSNR sweep noise conds and loss weights are tabulated over: λ from 15 at
/// t = 0 to −15 at t = 1 (the widest default range of the built-in schedules).
type Sweep = sc::Linear<gdf::konst::Dec<N15, Z0>, gdf::konst::Dec<P15, Z0>>;

/// A small variance table for the PiecewiseLinear schedule and noise cond.
fn piecewise() -> sc::Table {
    sc::Table::new(vec![0.0, 0.25, 0.5, 1.0], vec![0.9999, 0.8, 0.5, 0.0001]).unwrap()
}

// ---------------------------------------------------------------------------------------
// Independent recomputation: every column from the component functions.

/// `x == y` bitwise-or-both-NaN.
fn same(x: f64, y: f64) -> bool {
    x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
}

fn assert_col(table: &ScheduleTable, name: &str, want: &[f64]) {
    let got = table
        .column(name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", table.columns()));
    assert_eq!(got.len(), want.len(), "{name}: row count");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(same(g, w), "{name}[{i}]: table {g:e}, recomputed {w:e}");
    }
}

/// Derived columns agree within a few ulps (`(a/b)²` vs `a²/b²`).
fn assert_col_near(table: &ScheduleTable, name: &str, want: &[f64]) {
    let got = table.column(name).unwrap();
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = same(g, w) || (g - w).abs() <= 4.0 * f64::EPSILON * w.abs();
        assert!(ok, "{name}[{i}]: table {g:e}, recomputed {w:e}");
    }
}

/// t and logSNR: λ_i = schedule.logsnr(t_i, shift), one call per row.
fn check_schedule<S: Schedule>(table: &ScheduleTable, schedule: &S, shift: f64) -> Vec<f64> {
    let t = table.column("t").unwrap();
    let l: Vec<f64> = t
        .iter()
        .map(|&t| schedule.logsnr(t, shift).unwrap())
        .collect();
    assert_col(table, "logSNR", &l);
    l
}

/// a, b, sigma = b/a, SNR = a²/b².
fn check_scaler<Sc: Scaler>(table: &ScheduleTable, scaler: &Sc, l: &[f64]) {
    let ab: Vec<(f64, f64)> = l.iter().map(|&l| scaler.ab(l)).collect();
    assert_col(table, "a", &ab.iter().map(|p| p.0).collect::<Vec<_>>());
    assert_col(table, "b", &ab.iter().map(|p| p.1).collect::<Vec<_>>());
    assert_col(
        table,
        "sigma",
        &ab.iter().map(|&(a, b)| b / a).collect::<Vec<_>>(),
    );
    assert_col_near(
        table,
        "SNR",
        &ab.iter().map(|&(a, b)| a * a / (b * b)).collect::<Vec<_>>(),
    );
}

/// Without a scaler: sigma = e^(−λ/2), SNR = e^λ.
fn check_bare(table: &ScheduleTable, l: &[f64]) {
    assert!(table.column("a").is_none() && table.column("b").is_none());
    assert_col(
        table,
        "sigma",
        &l.iter().map(|&l| (-0.5 * l).exp()).collect::<Vec<_>>(),
    );
    assert_col(
        table,
        "SNR",
        &l.iter().map(|&l| l.exp()).collect::<Vec<_>>(),
    );
}

fn check_noise_cond<N: NoiseCond>(table: &ScheduleTable, n: &N, l: &[f64]) {
    let want: Vec<f64> = l.iter().map(|&l| n.noise_cond(l)).collect();
    assert_col(table, "noise_cond", &want);
}

fn check_loss_weight<L: LossWeight>(table: &ScheduleTable, w: &L, l: &[f64], loss_shift: f64) {
    let want: Vec<f64> = l.iter().map(|&l| w.loss_weight(l, loss_shift)).collect();
    assert_col(table, "loss_weight", &want);
}

fn check_framework<S, Sc2, T, N, L, O>(
    table: &ScheduleTable,
    g: &Gdf<S, Sc2, T, N, L, O>,
    shift: f64,
    loss_shift: f64,
) where
    S: Schedule,
    Sc2: Scaler,
    T: Target,
    N: NoiseCond,
    L: LossWeight,
    O: gdf::konst::Param,
{
    assert_eq!(table.heading()[0], g.to_string());
    let l = check_schedule(table, &g.schedule, shift);
    check_scaler(table, &g.scaler, &l);
    check_noise_cond(table, &g.noise_cond, &l);
    check_loss_weight(table, &g.loss_weight, &l, loss_shift);
}

/// The grid: `i/(n−1)` for n evenly spaced steps.
fn check_even(table: &ScheduleTable, n: usize) {
    let want: Vec<f64> = (0..n).map(|i| i as f64 / (n - 1) as f64).collect();
    assert_col(table, "t", &want);
}

/// Every rendered number reads back as the raw value rounded to 6 significant digits, and
/// the three renderings carry the same cells.
fn check_rendering(table: &ScheduleTable) {
    let text = table.to_string();
    let body: Vec<&str> = text.lines().skip_while(|l| !l.is_empty()).skip(1).collect();
    assert_eq!(body.len(), table.len() + 1, "header + one line per row");
    let header: Vec<&str> = body[0].split_whitespace().collect();
    assert_eq!(header, table.columns());
    let csv = table.to_csv();
    let md = table.to_markdown();
    let csv_rows: Vec<&str> = csv.lines().skip(1).collect();
    let md_rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).skip(1).collect();
    for (r, line) in body[1..].iter().enumerate() {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells.len(), table.columns().len());
        assert_eq!(cells.join(","), csv_rows[r]);
        assert_eq!(format!("| {} |", cells.join(" | ")), md_rows[r]);
        for (c, cell) in cells.iter().enumerate() {
            let raw = table.rows()[r][c];
            let back: f64 = match *cell {
                "NaN" => f64::NAN,
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                s => s.parse().unwrap_or_else(|_| panic!("bad cell {s:?}")),
            };
            let ok = if raw.is_nan() || !raw.is_finite() {
                same(back, raw)
            } else if raw.abs() < 1e-12 {
                back == 0.0
            } else {
                (back - raw).abs() <= 5.000001e-6 * raw.abs()
            };
            assert!(ok, "row {r} col {c}: {cell:?} vs {raw:e}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// The snapshot variants: 11 and 21 steps, shifts 1 and 2.

const STEPS: [usize; 2] = [11, 21];
const SHIFTS: [f64; 2] = [1.0, 2.0];

/// Builds, checks and renders the four variants into one snapshot text.
fn variants(
    build: impl Fn(usize, f64) -> Result<ScheduleTable, GdfError>,
    check: impl Fn(&ScheduleTable, f64),
) -> String {
    let mut out = String::new();
    for steps in STEPS {
        for shift in SHIFTS {
            let table = build(steps, shift).unwrap();
            assert_eq!(table.len(), steps);
            check_even(&table, steps);
            check(&table, shift);
            check_rendering(&table);
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&table.to_string());
        }
    }
    out
}

macro_rules! schedule_snapshot {
    ($test:ident, $name:literal, $schedule:expr) => {
        #[test]
        fn $test() {
            let s = $schedule;
            let text = variants(
                |n, k| ScheduleTable::of_schedule(&s).steps(n).shift(k).build(),
                |t, k| {
                    let l = check_schedule(t, &s, k);
                    check_bare(t, &l);
                },
            );
            insta::assert_snapshot!($name, text);
        }
    };
}

schedule_snapshot!(schedule_cosine, "schedule_cosine", <sc::Cosine>::new());
schedule_snapshot!(schedule_cosine2, "schedule_cosine2", <sc::Cosine2>::new());
schedule_snapshot!(schedule_sqrt, "schedule_sqrt", <sc::Sqrt>::new());
schedule_snapshot!(
    schedule_rectified_flows,
    "schedule_rectified_flows",
    <sc::RectifiedFlows>::new()
);
schedule_snapshot!(
    schedule_edm_sample,
    "schedule_edm_sample",
    <sc::EdmSample>::new()
);
schedule_snapshot!(schedule_linear, "schedule_linear", <sc::Linear>::new());
schedule_snapshot!(
    schedule_stable_diffusion,
    "schedule_stable_diffusion",
    <sc::StableDiffusion>::new()
);
schedule_snapshot!(
    schedule_piecewise_linear,
    "schedule_piecewise_linear",
    sc::PiecewiseLinear::from_table(piecewise())
);
schedule_snapshot!(
    schedule_interpolated,
    "schedule_interpolated",
    <sc::Interpolated<sc::Cosine, sc::EdmSample>>::new(<sc::Cosine>::new(), <sc::EdmSample>::new())
);

macro_rules! noise_cond_snapshot {
    ($test:ident, $name:literal, $cond:expr) => {
        #[test]
        fn $test() {
            let n = $cond;
            let sweep = Sweep::new();
            let text = variants(
                |k, s| {
                    ScheduleTable::of_schedule(&sweep)
                        .noise_cond(&n)
                        .steps(k)
                        .shift(s)
                        .build()
                },
                |t, s| {
                    let l = check_schedule(t, &sweep, s);
                    check_bare(t, &l);
                    check_noise_cond(t, &n, &l);
                },
            );
            insta::assert_snapshot!($name, text);
        }
    };
}

noise_cond_snapshot!(
    noise_cond_cosine_t,
    "noise_cond_cosine_t",
    <nc::CosineT>::new()
);
noise_cond_snapshot!(noise_cond_edm, "noise_cond_edm", nc::Edm);
noise_cond_snapshot!(noise_cond_sigmoid, "noise_cond_sigmoid", nc::Sigmoid);
noise_cond_snapshot!(noise_cond_log_snr, "noise_cond_log_snr", nc::LogSnr);
noise_cond_snapshot!(
    noise_cond_edm_sigma,
    "noise_cond_edm_sigma",
    <nc::EdmSigma>::new()
);
noise_cond_snapshot!(
    noise_cond_rectified_flows,
    "noise_cond_rectified_flows",
    nc::RectifiedFlows
);
noise_cond_snapshot!(
    noise_cond_stable_diffusion,
    "noise_cond_stable_diffusion",
    <nc::StableDiffusion>::new()
);
noise_cond_snapshot!(
    noise_cond_piecewise_linear,
    "noise_cond_piecewise_linear",
    nc::PiecewiseLinear::new(piecewise())
);
noise_cond_snapshot!(
    noise_cond_discrete,
    "noise_cond_discrete",
    <nc::Discrete<nc::CosineT>>::new(<nc::CosineT>::new())
);

macro_rules! loss_weight_snapshot {
    ($test:ident, $name:literal, $weight:expr) => {
        #[test]
        fn $test() {
            let w = $weight;
            let sweep = Sweep::new();
            let text = variants(
                |k, s| {
                    ScheduleTable::of_schedule(&sweep)
                        .loss_weight(&w)
                        .steps(k)
                        .shift(s)
                        .build()
                },
                |t, s| {
                    let l = check_schedule(t, &sweep, s);
                    check_bare(t, &l);
                    check_loss_weight(t, &w, &l, 1.0);
                },
            );
            insta::assert_snapshot!($name, text);
        }
    };
}

loss_weight_snapshot!(
    loss_weight_constant,
    "loss_weight_constant",
    <lw::Constant>::new()
);
loss_weight_snapshot!(loss_weight_snr, "loss_weight_snr", lw::Snr);
loss_weight_snapshot!(loss_weight_p2, "loss_weight_p2", <lw::P2>::new());
loss_weight_snapshot!(
    loss_weight_snr_plus_one,
    "loss_weight_snr_plus_one",
    lw::SnrPlusOne
);
loss_weight_snapshot!(
    loss_weight_min_snr,
    "loss_weight_min_snr",
    <lw::MinSnr>::new()
);
loss_weight_snapshot!(
    loss_weight_min_snr_plus_one,
    "loss_weight_min_snr_plus_one",
    <lw::MinSnrPlusOne>::new()
);
loss_weight_snapshot!(
    loss_weight_truncated_snr,
    "loss_weight_truncated_snr",
    <lw::TruncatedSnr>::new()
);
loss_weight_snapshot!(loss_weight_sech, "loss_weight_sech", <lw::Sech>::new());
loss_weight_snapshot!(loss_weight_debiased, "loss_weight_debiased", lw::Debiased);
loss_weight_snapshot!(
    loss_weight_sigmoid,
    "loss_weight_sigmoid",
    <lw::Sigmoid>::new()
);
loss_weight_snapshot!(
    loss_weight_composed,
    "loss_weight_composed",
    <lw::Composed<(lw::MinSnr,), (lw::SnrPlusOne,)>>::default()
);
loss_weight_snapshot!(
    loss_weight_adaptive,
    "loss_weight_adaptive",
    <lw::Adaptive>::new()
);

macro_rules! framework_snapshot {
    ($test:ident, $name:literal, $gdf:expr) => {
        #[test]
        fn $test() {
            let g = $gdf;
            let text = variants(
                |k, s| ScheduleTable::of_framework(&g).steps(k).shift(s).build(),
                |t, s| check_framework(t, &g, s, 1.0),
            );
            insta::assert_snapshot!($name, text);
        }
    };
}

framework_snapshot!(framework_sc, "framework_sc", Sc::default());
framework_snapshot!(framework_edm, "framework_edm", Edm::default());
framework_snapshot!(framework_rf, "framework_rf", Rf::default());
framework_snapshot!(framework_stretched, "framework_stretched", stretched());

// ---------------------------------------------------------------------------------------
// The sampling side: the grid `sample` visits, through the user-facing macro.

fn sampling_table<S, Sc2, T, N, L, O>(
    g: &Gdf<S, Sc2, T, N, L, O>,
    timesteps: usize,
    t_start: f64,
    t_end: f64,
    shift: f64,
) -> ScheduleTable
where
    S: Schedule,
    Sc2: Scaler,
    T: Target,
    N: NoiseCond,
    L: LossWeight,
    O: gdf::konst::Param,
{
    let table = ScheduleTable::of_framework(g)
        .sampling(timesteps, t_start, t_end)
        .shift(shift)
        .build()
        .unwrap();
    let (r, l) = gdf::sample::sampling_grid(&g.schedule, timesteps, t_start, t_end, shift).unwrap();
    assert_col(&table, "t", &r);
    assert_col(&table, "logSNR", &l);
    let steps: Vec<f64> = (0..=timesteps).map(|i| i as f64).collect();
    assert_col(&table, "step", &steps);
    check_framework(&table, g, shift, 1.0);
    check_rendering(&table);
    table
}

#[test]
fn sampling_grids() {
    gdf::assert_table_snapshot!(
        "sampling_sc_20",
        sampling_table(&Sc::default(), 20, 1.0, 0.0, 1.0)
    );
    gdf::assert_table_snapshot!(
        "sampling_sc_20_shift2",
        sampling_table(&Sc::default(), 20, 1.0, 0.0, 2.0)
    );
    gdf::assert_table_snapshot!(
        "sampling_sc_10_from_0.7",
        sampling_table(&Sc::default(), 10, 0.7, 0.0, 1.0)
    );
    gdf::assert_table_snapshot!(
        "sampling_edm_20",
        sampling_table(&Edm::default(), 20, 1.0, 0.0, 1.0)
    );
    gdf::assert_table_snapshot!(
        "sampling_rf_20_shift2",
        sampling_table(&Rf::default(), 20, 1.0, 0.0, 2.0)
    );
    gdf::assert_table_snapshot!(
        "sampling_stretched_20",
        sampling_table(&stretched(), 20, 1.0, 0.0, 1.0)
    );
}

// ---------------------------------------------------------------------------------------
// Adaptive state.

/// A framework trained with the adaptive schedule and loss weight, after a few updates; its
/// table needs a sampling schedule and shows both states.
#[test]
fn adaptive_state() {
    let mut g: Gdf<sc::AdaptiveTrain, Vp, Epsilon, nc::LogSnr, lw::Adaptive> = Gdf::default();
    // Deterministic updates over the whole range: high loss at low logSNR.
    let l: Vec<f64> = (0..200).map(|i| -9.95 + 0.1 * i as f64).collect();
    let loss: Vec<f64> = l.iter().map(|&l| 1.0 + (-l / 4.0).exp()).collect();
    for _ in 0..3 {
        g.schedule.update(&l, &loss, 0.9).unwrap();
        g.loss_weight.update(&l, &loss, 0.9).unwrap();
    }

    // Without a sampling schedule the training-only schedule cannot give rows.
    let err = ScheduleTable::of_framework(&g).build().unwrap_err();
    assert_eq!(
        err,
        GdfError::TrainingOnly {
            schedule: "AdaptiveTrain"
        }
    );

    let linear = <sc::Linear>::new();
    let table = ScheduleTable::of_framework(&g)
        .sampling_schedule(&linear)
        .state(&g.schedule)
        .state(&g.loss_weight)
        .steps(11)
        .loss_shift(2.0)
        .build()
        .unwrap();
    assert_eq!(
        table.columns(),
        [
            "t",
            "logSNR",
            "a",
            "b",
            "sigma",
            "SNR",
            "noise_cond",
            "loss_weight",
            "train_bucket",
            "train_p",
            "lw_bucket",
            "lw_bucket_loss"
        ]
    );
    let lam = check_schedule(&table, &linear, 1.0);
    check_scaler(&table, &g.scaler, &lam);
    check_noise_cond(&table, &g.noise_cond, &lam);
    check_loss_weight(&table, &g.loss_weight, &lam, 2.0);
    check_rendering(&table);

    // State columns recomputed from the components' own accessors.
    let ranges = g.schedule.bucket_ranges();
    let norm = g.schedule.norm_probs();
    let edges = g.loss_weight.bucket_ranges();
    let losses = g.loss_weight.bucket_losses();
    let (mut tb, mut tp, mut lb, mut ll) = (vec![], vec![], vec![], vec![]);
    for &l in &lam {
        match ranges.iter().position(|r| r[0] <= l && l < r[1]) {
            Some(i) => {
                tb.push(i as f64);
                tp.push(norm[i]);
            }
            None => {
                tb.push(f64::NAN);
                tp.push(0.0);
            }
        }
        let ls = l + 2.0 * 2.0f64.ln(); // the loss weight sees λ after loss_shift
        let i = edges.iter().filter(|&&e| e < ls).count();
        lb.push(i as f64);
        ll.push(losses[i]);
    }
    assert_col(&table, "train_bucket", &tb);
    assert_col(&table, "train_p", &tp);
    assert_col(&table, "lw_bucket", &lb);
    assert_col(&table, "lw_bucket_loss", &ll);
    // The weight column is the inverse of the bucket loss column (within weight_range).
    for (w, l) in table
        .column("loss_weight")
        .unwrap()
        .iter()
        .zip(table.column("lw_bucket_loss").unwrap())
    {
        assert_eq!(*w, 1.0 / l);
    }
    // t = 0 is λ = 10 = the top edge: outside [lo, hi) of every training bucket.
    assert!(tb[0].is_nan() && tp[0] == 0.0);
    // The high-loss end is drawn more often than a fresh (uniform) schedule would.
    assert!(tp[10] > 0.01, "train_p at λ = −10: {}", tp[10]);
    assert!(table.heading()[1].starts_with("sampling schedule: Linear("));
    assert!(table.heading()[3].starts_with("schedule state: 100 buckets"));
    assert!(table.heading()[4].starts_with("loss_weight state: 300 buckets"));
    insta::assert_snapshot!("adaptive_state", table.to_string());
}

/// The runtime forms show the same state columns as the typed ones (and none when they
/// are not adaptive).
#[test]
fn dynamic_state() {
    use gdf::dynamic::{DynLossWeight, DynSchedule, WeightKind};
    use gdf::table::TableState;
    let mut typed = <lw::Adaptive>::new();
    let mut dynamic = DynLossWeight::adaptive([-10.0, 10.0], 300, [1e-7, 1e7]).unwrap();
    typed.update(&[1.0, -3.0], &[3.0, 0.25], 0.5).unwrap();
    dynamic.update(&[1.0, -3.0], &[3.0, 0.25], 0.5).unwrap();
    let linear = <sc::Linear>::new();
    let a = ScheduleTable::of_schedule(&linear)
        .loss_weight(&typed)
        .state(&typed)
        .steps(21)
        .build()
        .unwrap();
    let b = ScheduleTable::of_schedule(&linear)
        .loss_weight(&dynamic)
        .state(&dynamic)
        .steps(21)
        .build()
        .unwrap();
    assert_eq!(a.rows(), b.rows());
    assert_eq!(a.to_csv(), b.to_csv());
    let bucket_loss = a.column("lw_bucket_loss").unwrap();
    assert_eq!(bucket_loss[10], 1.0); // λ = 0: untouched bucket
    assert_eq!(bucket_loss[9], 2.0); // λ = 1: 0.5·1 + 0.5·3
    assert_eq!(bucket_loss[13], 0.625); // λ = −3: 0.5·1 + 0.5·0.25

    let plain = DynLossWeight::new(WeightKind::Snr);
    assert!(plain.state_columns().is_empty());
    assert!(plain.state_summary(&NumberFormat::default()).is_empty());
    let sched = DynSchedule::adaptive_train([-10.0, 10.0], 100, 0.0).unwrap();
    assert_eq!(sched.state_columns(), ["train_bucket", "train_p"]);
    assert_eq!(sched.state_at(0.05), [50.0, 0.01]);
}

// ---------------------------------------------------------------------------------------
// Golden numbers.

/// schedules.json: the default-parameter schedules at the golden t grid (which includes
/// t = −0.25 and 1.5) and shifts 1, 2 and 0.5.
#[test]
fn golden_schedules() {
    let mut checked = 0;
    for case in load("schedules.json") {
        if get(&case, "params").unwrap() != &Value::Object(Default::default()) {
            continue;
        }
        let Ok(t) = get(get(&case, "input").unwrap(), "t").and_then(flat) else {
            continue;
        };
        let shift = num(get(get(&case, "call").unwrap(), "shift").unwrap()).unwrap();
        let want = flat(get(get(&case, "output").unwrap(), "logSNR").unwrap()).unwrap();
        let table = |b: gdf::table::TableBuilder<'_>| b.at(&t).shift(shift).build().unwrap();
        let got = match case["component"].as_str().unwrap() {
            "CosineSchedule" => table(ScheduleTable::of_schedule(&<sc::Cosine>::new())),
            "CosineSchedule2" => table(ScheduleTable::of_schedule(&<sc::Cosine2>::new())),
            "SqrtSchedule" => table(ScheduleTable::of_schedule(&<sc::Sqrt>::new())),
            "RectifiedFlowsSchedule" => {
                table(ScheduleTable::of_schedule(&<sc::RectifiedFlows>::new()))
            }
            "EDMSampleSchedule" => table(ScheduleTable::of_schedule(&<sc::EdmSample>::new())),
            "LinearSchedule" => table(ScheduleTable::of_schedule(&<sc::Linear>::new())),
            "StableDiffusionSchedule" => {
                table(ScheduleTable::of_schedule(&<sc::StableDiffusion>::new()))
            }
            other => panic!("{}: no table for {other}", case["id"]),
        };
        assert_eq!(got.column("t").unwrap(), t);
        let l = got.column("logSNR").unwrap();
        for (i, (&g, &w)) in l.iter().zip(&want).enumerate() {
            assert!(
                close(g, w, F64_TOL),
                "{} logSNR[{i}]: table {g}, golden {w}",
                case["id"]
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 21, "7 default schedules × 3 shifts");
}

/// diffuse.json: each golden framework's table at the case's t, shift and loss_shift has
/// the golden logSNR, noise cond and loss weight.
#[test]
fn golden_frameworks() {
    let mut checked = 0;
    for case in load("diffuse.json") {
        let call = get(&case, "call").unwrap();
        if call["method"] != "diffuse" {
            continue;
        }
        let t = flat(get(get(&case, "input").unwrap(), "t").unwrap()).unwrap();
        let shift = num(get(call, "shift").unwrap()).unwrap();
        let loss_shift = num(get(call, "loss_shift").unwrap()).unwrap();
        let build = |b: gdf::table::TableBuilder<'_>| {
            b.at(&t)
                .shift(shift)
                .loss_shift(loss_shift)
                .build()
                .unwrap()
        };
        let config = case["config"].as_str().unwrap();
        let offset = |o: f64| Sc::default().with_offset_noise(o);
        let rf_offset = Rf::default().with_offset_noise(0.25);
        let table = match config {
            "sc" => build(ScheduleTable::of_framework(&Sc::default())),
            "sc+offset" => build(ScheduleTable::of_framework(&offset(0.25))),
            "edm" => build(ScheduleTable::of_framework(&Edm::default())),
            "rf" => build(ScheduleTable::of_framework(&Rf::default())),
            "rf+offset" => build(ScheduleTable::of_framework(&rf_offset)),
            "stretched" => build(ScheduleTable::of_framework(&stretched())),
            other => panic!("{}: unknown config {other}", case["id"]),
        };
        if config.ends_with("offset") {
            assert!(table.heading()[0].ends_with("offset_noise: 0.25"));
        }
        let out = get(&case, "output").unwrap();
        for (col, key) in [
            ("logSNR", "logSNR"),
            ("noise_cond", "noise_cond"),
            ("loss_weight", "loss_weight"),
        ] {
            let want = flat(get(out, key).unwrap()).unwrap();
            let got = table.column(col).unwrap();
            let l = table.column("logSNR").unwrap();
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                // The golden README: the Lerp-based RF noise cond differs from the original's
                // formula at exactly λ = 0 (0.5 vs 0.500125).
                let tol = if col == "noise_cond" && config.starts_with("rf") && l[i] == 0.0 {
                    common::Tol {
                        rtol: 0.0,
                        atol: 1.3e-4,
                    }
                } else {
                    F64_TOL
                };
                assert!(
                    close(g, w, tol),
                    "{} {col}[{i}]: table {g}, golden {w}",
                    case["id"]
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 14);
}

/// sample_loops.json: the sampling table's t, logSNR and noise cond are the golden run's
/// r_range, logSNR_range and the noise cond the model was given at each step.
#[test]
fn golden_sampling_grids() {
    let mut checked = 0;
    for case in load("sample_loops.json") {
        let call = get(&case, "call").unwrap();
        if !call["schedule"].is_null() {
            continue;
        }
        let timesteps = get(call, "timesteps").unwrap().as_u64().unwrap() as usize;
        let t_start = num(get(call, "t_start").unwrap()).unwrap();
        let t_end = num(get(call, "t_end").unwrap()).unwrap();
        let shift = num(get(call, "shift").unwrap()).unwrap();
        let build = |b: gdf::table::TableBuilder<'_>| {
            b.sampling(timesteps, t_start, t_end)
                .shift(shift)
                .build()
                .unwrap()
        };
        let table = match case["config"].as_str().unwrap() {
            "sc" => build(ScheduleTable::of_framework(&Sc::default())),
            "edm" => build(ScheduleTable::of_framework(&Edm::default())),
            "rf" => build(ScheduleTable::of_framework(&Rf::default())),
            other => panic!("{}: unknown config {other}", case["id"]),
        };
        let out = get(&case, "output").unwrap();
        let r = flat(get(out, "r_range").unwrap()).unwrap();
        let (shape, l) = common::arr(get(out, "logSNR_range").unwrap()).unwrap();
        let (nshape, c) = common::arr(get(out, "noise_cond").unwrap()).unwrap();
        let batch = shape[1];
        assert_eq!(shape[0], timesteps + 1);
        assert_eq!(nshape, [timesteps, batch]);
        let id = &case["id"];
        let tt = table.column("t").unwrap();
        let tl = table.column("logSNR").unwrap();
        let tc = table.column("noise_cond").unwrap();
        assert_eq!(table.len(), timesteps + 1);
        for i in 0..=timesteps {
            assert!(close(tt[i], r[i], F64_TOL), "{id} t[{i}]");
            assert!(close(tl[i], l[i * batch], F64_TOL), "{id} logSNR[{i}]");
            if i < timesteps {
                // RF noise cond at exactly λ = 0: the documented 0.5 vs 0.500125.
                let tol = if case["config"] == "rf" && tl[i] == 0.0 {
                    common::Tol {
                        rtol: 0.0,
                        atol: 1.3e-4,
                    }
                } else {
                    F64_TOL
                };
                assert!(close(tc[i], c[i * batch], tol), "{id} noise_cond[{i}]");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 14);
}

/// schedules.json AdaptiveTrainSchedule: after the golden updates, the table's `train_p` at
/// each bucket's midpoint is the golden `norm_probs`.
#[test]
fn golden_adaptive_train_state() {
    let case = load("schedules.json")
        .into_iter()
        .find(|c| c["component"] == "AdaptiveTrainSchedule" && c["params"] == serde_json::json!({}))
        .expect("the default AdaptiveTrainSchedule case");
    let mut s = <sc::AdaptiveTrain>::new();
    for u in get(get(&case, "input").unwrap(), "updates")
        .unwrap()
        .as_array()
        .unwrap()
    {
        let beta = u.get("beta").map(|b| num(b).unwrap()).unwrap_or(0.99);
        s.update(
            &flat(get(u, "logSNR").unwrap()).unwrap(),
            &flat(get(u, "loss").unwrap()).unwrap(),
            beta,
        )
        .unwrap();
    }
    let want = flat(get(get(&case, "output").unwrap(), "norm_probs").unwrap()).unwrap();
    assert_eq!(want.len(), 100);
    // Linear: λ = 10 − 20 t, so the midpoint −9.9 + 0.2 k of bucket k is at t = (19.9 − 0.2 k)/20.
    let t: Vec<f64> = (0..100).map(|k| (19.9 - 0.2 * k as f64) / 20.0).collect();
    let table = ScheduleTable::of_schedule(&<sc::Linear>::new())
        .state(&s)
        .at(&t)
        .build()
        .unwrap();
    let bucket = table.column("train_bucket").unwrap();
    let p = table.column("train_p").unwrap();
    for k in 0..100 {
        assert_eq!(bucket[k], k as f64);
        assert!(
            close(p[k], want[k], F64_TOL),
            "train_p[{k}]: {} vs {}",
            p[k],
            want[k]
        );
    }
    // The updates moved the state away from uniform.
    assert!(want.iter().any(|&w| (w - 0.01).abs() > 1e-4));
}

// ---------------------------------------------------------------------------------------
// Errors and grids.

#[test]
fn errors_are_gdf_errors() {
    let cosine = <sc::Cosine>::new();
    let table = |b: gdf::table::TableBuilder<'_>| b.build().unwrap_err();
    assert_eq!(
        table(ScheduleTable::of_schedule(&<sc::EdmTrain>::new())),
        GdfError::TrainingOnly {
            schedule: "EdmTrain"
        }
    );
    assert_eq!(
        table(ScheduleTable::of_schedule(&<sc::AdaptiveTrain>::new()).sampling(10, 1.0, 0.0)),
        GdfError::TrainingOnly {
            schedule: "AdaptiveTrain"
        }
    );
    let edm_train: Gdf<sc::EdmTrain, Vp, V, nc::Edm, lw::Snr> = Gdf::default();
    assert!(matches!(
        table(ScheduleTable::of_framework(&edm_train)),
        GdfError::TrainingOnly { .. }
    ));
    // …and with a sampling schedule it works.
    let edm = <sc::EdmSample>::new();
    let ok = ScheduleTable::of_framework(&edm_train)
        .sampling_schedule(&edm)
        .sampling(4, 1.0, 0.0)
        .build()
        .unwrap();
    assert_eq!(
        ok.column("logSNR").unwrap()[0],
        edm.logsnr(1.0, 1.0).unwrap()
    );

    assert!(matches!(
        table(ScheduleTable::of_schedule(&cosine).steps(1)),
        GdfError::OutOfRange { what: "steps", .. }
    ));
    assert_eq!(
        table(ScheduleTable::of_schedule(&cosine).at(&[])),
        GdfError::EmptyBatch { what: "t" }
    );
    assert!(matches!(
        table(ScheduleTable::of_schedule(&cosine).at(&[0.5, f64::NAN])),
        GdfError::NonFinite {
            what: "t",
            index: 1,
            ..
        }
    ));
    assert!(matches!(
        table(ScheduleTable::of_schedule(&cosine).shift(0.0)),
        GdfError::OutOfRange { what: "shift", .. }
    ));
    assert!(matches!(
        table(ScheduleTable::of_schedule(&cosine).shift(f64::INFINITY)),
        GdfError::NonFinite { what: "shift", .. }
    ));
    assert!(matches!(
        table(ScheduleTable::of_schedule(&cosine).loss_shift(-1.0)),
        GdfError::OutOfRange {
            what: "loss_shift",
            ..
        }
    ));
    assert!(matches!(
        table(ScheduleTable::of_schedule(&cosine).loss_shift(f64::NAN)),
        GdfError::NonFinite {
            what: "loss_shift",
            ..
        }
    ));
    assert!(matches!(
        table(ScheduleTable::of_schedule(&cosine).sampling(0, 1.0, 0.0)),
        GdfError::OutOfRange {
            what: "timesteps",
            ..
        }
    ));
    assert!(matches!(
        table(ScheduleTable::of_schedule(&cosine).sampling(10, f64::NAN, 0.0)),
        GdfError::NonFinite {
            what: "t_start",
            ..
        }
    ));
    assert!(matches!(
        table(
            ScheduleTable::of_schedule(&cosine)
                .sampling(10, 1.0, 0.0)
                .shift(-2.0)
        ),
        GdfError::OutOfRange { what: "shift", .. }
    ));
}

#[test]
fn grids_and_formats() {
    let cosine = <sc::Cosine>::new();
    // Given points keep their order and values, including t outside [0, 1].
    let t = [0.9, -0.25, 0.1, 1.5];
    let table = ScheduleTable::of_schedule(&cosine)
        .grid(Grid::Points(t.to_vec()))
        .build()
        .unwrap();
    assert_eq!(table.column("t").unwrap(), t);
    let l = table.column("logSNR").unwrap();
    assert_eq!(l[1], cosine.logsnr(0.0, 1.0).unwrap());
    assert_eq!(l[3], cosine.logsnr(1.0, 1.0).unwrap());
    assert_eq!(table.heading()[1], "grid: 4 given t; shift = 1.0");

    // A coarser format changes only the rendering.
    let coarse = table.clone().with_format(NumberFormat {
        digits: 3,
        zero_below: 1e-12,
    });
    assert_eq!(coarse.rows(), table.rows());
    assert_eq!(
        coarse.to_csv(),
        "t,logSNR,sigma,SNR\n0.9,-3.7,6.36,0.0247\n-0.25,9.21,0.01,1e4\n0.1,3.55,0.169,34.8\n1.5,-9.21,100,0.0001\n"
    );

    // Non-finite values are spelled out: Cosine with clamp_range [0, 1] is +inf at t = 0.
    type Open =
        sc::Cosine<gdf::konst::Dec<typenum::P8, typenum::N3>, gdf::konst::Zero, gdf::konst::One>;
    let open = ScheduleTable::of_schedule(&Open::new())
        .noise_cond(&nc::Sigmoid)
        .steps(2)
        .build()
        .unwrap();
    // SNR at t = 1 is 3.7e-33: below the default `zero_below` it is written 0 …
    assert_eq!(
        open.to_csv(),
        "t,logSNR,sigma,SNR,noise_cond\n0,inf,0,inf,0\n1,-74.6636,1.633e16,0,1\n"
    );
    assert!(open.to_string().contains("  inf  "));
    // … and shown with `zero_below: 0`.
    let all = open.with_format(NumberFormat {
        digits: 6,
        zero_below: 0.0,
    });
    assert_eq!(
        all.to_csv(),
        "t,logSNR,sigma,SNR,noise_cond\n0,inf,0,inf,0\n1,-74.6636,1.633e16,3.74998e-33,1\n"
    );
}

// ---------------------------------------------------------------------------------------
// Plots (feature `plot`): the example's figure, written and parsed back.

#[cfg(feature = "plot")]
mod plots {
    use super::*;
    use gdf::plot::{PlotOptions, PALETTE};

    /// With `plot-png`, text layout needs a registered font: DejaVu Sans where Debian keeps
    /// it (`GDF_PLOT_FONT` overrides).
    #[cfg(feature = "plot-png")]
    fn font() -> bool {
        let path = std::env::var("GDF_PLOT_FONT")
            .unwrap_or_else(|_| "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".into());
        match std::fs::read(&path) {
            Ok(bytes) => {
                gdf::plot::use_font(Box::leak(bytes.into_boxed_slice())).unwrap();
                true
            }
            Err(_) => {
                eprintln!("no font at {path}: set GDF_PLOT_FONT to run the plot-png checks");
                false
            }
        }
    }
    #[cfg(not(feature = "plot-png"))]
    fn font() -> bool {
        true
    }

    fn tables(steps: usize) -> [ScheduleTable; 3] {
        [
            ScheduleTable::of_framework(&Sc::default())
                .steps(steps)
                .build()
                .unwrap(),
            ScheduleTable::of_framework(&Edm::default())
                .steps(steps)
                .build()
                .unwrap(),
            ScheduleTable::of_framework(&Rf::default())
                .steps(steps)
                .build()
                .unwrap(),
        ]
    }

    fn hex(i: usize) -> String {
        let (r, g, b) = PALETTE[i];
        format!("#{r:02X}{g:02X}{b:02X}")
    }

    fn points(node: roxmltree::Node<'_, '_>) -> Vec<(f64, f64)> {
        node.attribute("points")
            .unwrap_or("")
            .split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    /// An affine map fitted through two points.
    fn affine(v0: f64, p0: f64, v1: f64, p1: f64) -> impl Fn(f64) -> f64 {
        move |v| p0 + (v - v0) * (p1 - p0) / (v1 - v0)
    }

    #[test]
    fn svg_has_every_curve() {
        if !font() {
            return;
        }
        let steps = 201;
        let tables = tables(steps);
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tables_plot.svg");
        let options = PlotOptions::default();
        gdf::plot::write_svg(&path, &tables, &options).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let doc = roxmltree::Document::parse(&text).expect("well-formed SVG");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(root.attribute("width"), Some("1400"));

        // Captions and every framework's declaration (wrapped at ", ").
        let texts: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.text().unwrap_or("").trim().to_string())
            .collect();
        for caption in [
            "GDF schedules",
            "logSNR(t)",
            "a(t) solid, b(t) dashed",
            "noise_cond(t)",
            "log10 loss_weight(t)",
        ] {
            assert!(texts.iter().any(|t| t == caption), "caption {caption:?}");
        }
        for t in &tables {
            for part in t.heading()[0].split(", ") {
                assert!(
                    texts.iter().any(|x| x.contains(part)),
                    "declaration part {part:?} missing"
                );
            }
        }

        // Per framework: four solid curves of `steps` points (logSNR, a, noise cond, loss
        // weight, in drawing order) and the dashes of b.
        let polylines: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("polyline"))
            .collect();
        let mut curves = Vec::new();
        for i in 0..tables.len() {
            let mine: Vec<_> = polylines
                .iter()
                .filter(|n| n.attribute("stroke") == Some(hex(i).as_str()))
                .collect();
            let solid: Vec<Vec<(f64, f64)>> = mine
                .iter()
                .map(|n| points(**n))
                .filter(|p| p.len() == steps)
                .collect();
            assert_eq!(solid.len(), 4, "framework {i}: solid curves");
            let dashes = mine
                .iter()
                .filter(|n| (2..=5).contains(&points(***n).len()))
                .count();
            assert!(dashes >= 20, "framework {i}: {dashes} dashes of b(t)");
            for c in &solid {
                assert!(c.windows(2).all(|w| w[1].0 >= w[0].0), "x increases with t");
            }
            curves.push(solid);
        }

        // The logSNR curves are the tables' numbers: fit the pixel map through the
        // rectified-flow curve's ends (λ = ±15 at t = 0, 1) and check every point of every
        // framework to a pixel.
        let rf = &curves[2][0];
        let (first, last) = (rf[0], rf[steps - 1]);
        let x_of = affine(0.0, first.0, 1.0, last.0);
        let y_of = affine(15.0, first.1, -15.0, last.1);
        assert!(first.1 < last.1, "high logSNR is drawn higher up");
        for (i, t) in tables.iter().enumerate() {
            let ts = t.column("t").unwrap();
            let ls = t.column("logSNR").unwrap();
            for (k, &(x, y)) in curves[i][0].iter().enumerate() {
                assert!((x - x_of(ts[k])).abs() <= 1.0, "framework {i} x[{k}]");
                assert!((y - y_of(ls[k])).abs() <= 1.0, "framework {i} y[{k}]");
            }
        }
        // a(t): from a = 1 at t = 0 down to a ≈ 0 at t = 1 (drawn lower).
        for c in &curves {
            assert!(c[1][0].1 < c[1][steps - 1].1);
        }
    }

    #[test]
    fn plot_errors() {
        assert_eq!(
            gdf::plot::svg(&[], &PlotOptions::default()).unwrap_err(),
            GdfError::EmptyBatch { what: "tables" }
        );
        // Sizes: 0 and sides past 32768 pixels are named (u32::MAX overflowed the height).
        for (width, panel_height, what) in [
            (0, 400, "width"),
            (1400, 0, "panel_height"),
            (1 << 16, 400, "width"),
            (1400, u32::MAX, "panel_height"),
            (1400, 20_000, "panel_height"),
        ] {
            let opts = PlotOptions {
                width,
                panel_height,
                ..PlotOptions::default()
            };
            match gdf::plot::svg(&tables(11), &opts) {
                Err(GdfError::OutOfRange { what: w, .. }) => assert_eq!(w, what),
                other => panic!("{width}×{panel_height}: {other:?}"),
            }
        }
        if !font() {
            return;
        }
        let err = gdf::plot::write_svg(
            "/nonexistent-dir/x.svg",
            &tables(11),
            &PlotOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, GdfError::Invalid { .. }), "{err:?}");
        // A bare schedule plots without a/b, noise cond and loss weight panels.
        let bare = ScheduleTable::of_schedule(&<sc::Cosine>::new())
            .steps(11)
            .build()
            .unwrap();
        let svg = gdf::plot::svg(&[bare], &PlotOptions::default()).unwrap();
        assert!(svg.contains("logSNR(t)") && !svg.contains("noise_cond(t)"));
    }

    #[cfg(feature = "plot-png")]
    #[test]
    fn png_is_written() {
        if !font() {
            return;
        }
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tables_plot.png");
        gdf::plot::write_png(&path, &tables(101), &PlotOptions::default()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        assert_eq!(width, 1400);
        assert!(bytes.len() > 20_000, "a figure, not an empty image");
    }
}
