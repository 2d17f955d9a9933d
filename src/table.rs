//! Schedule tables: a framework's (or a bare schedule's) numbers at a grid of `t`, as aligned
//! text, CSV or Markdown, for reading, diffing and snapshot tests.
//!
//! A [`ScheduleTable`] has one row per `t` with the columns
//!
//! | column | value |
//! |---|---|
//! | `step` | only for a sampling grid: the step index `i` (row `T` is where sampling ends) |
//! | `t` | diffusion time |
//! | `logSNR` | `λ = schedule(t, shift)`, shift and limits applied |
//! | `a`, `b` | the scaler's `(a, b)` at `λ` (a framework, or a bare schedule given a scaler) |
//! | `sigma` | `b/a`; a bare schedule without a scaler shows `e^(−λ/2)` |
//! | `SNR` | `(a/b)²`; without a scaler `e^λ` (the two agree unless the scaler is stretched) |
//! | `noise_cond` | the noise cond at `λ` (what the model is given) |
//! | `loss_weight` | the loss weight at `λ` with `loss_shift` |
//! | state columns | for adaptive components passed to [`TableBuilder::state`] |
//!
//! The grid is `N` evenly spaced `t` in `[0, 1]` ([`TableBuilder::steps`]), given values
//! ([`TableBuilder::at`]), or exactly the grid the sampler visits
//! ([`TableBuilder::sampling`], computed by [`crate::sample::sampling_grid`]).
//!
//! ```
//! use gdf::framework::Gdf;
//! use gdf::table::ScheduleTable;
//! use gdf::{loss_weight::P2, noise_cond::CosineT, scaler::Vp, schedule::Cosine, target::Epsilon};
//!
//! let sc: Gdf<Cosine, Vp, Epsilon, CosineT, P2> = Gdf::default();
//! let table = ScheduleTable::of_framework(&sc).steps(5).build()?;
//! assert_eq!(table.column("logSNR").unwrap()[0], 9.21024036697596);
//! let text = table.to_string();
//! let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
//! assert!(rows.contains(&vec!["t", "logSNR", "a", "b", "sigma", "SNR", "noise_cond", "loss_weight"]));
//! assert!(rows.iter().any(|r| r.starts_with(&["0.5", "-0.0246269", "0.70274"])));
//! # Ok::<(), gdf::GdfError>(())
//! ```
//!
//! # Number formatting
//!
//! Every rendering ([`Display`](core::fmt::Display), [`ScheduleTable::to_csv`],
//! [`ScheduleTable::to_markdown`]) writes numbers with [`NumberFormat`], which is chosen so
//! that snapshots do not churn across platforms (whose `exp`/`ln`/`cos` may differ by an ulp):
//! a fixed number of significant digits (default 6), rounded once, correctly, from the
//! exact binary value; fixed notation for exponents `-4..digits`, scientific (`1.5e-7`,
//! `2.4e6`) outside; trailing zeros dropped (`0.5`, `10`); magnitudes below `zero_below`
//! (default `1e-12`, rounding noise of order-one quantities) and `-0.0` written `0`; and the
//! non-finite values spelled `NaN`, `inf` and `-inf`. Numbers in the heading with more than 12
//! significant digits (computed values such as a stretched scaler's limits) are rounded the
//! same way; literals stay as declared. The raw `f64` values are available
//! unrounded through [`ScheduleTable::rows`] and [`ScheduleTable::column`].
//!
//! # Snapshot tests
//!
//! [`assert_table_snapshot!`](crate::assert_table_snapshot) snapshots a table's text with
//! [insta](https://insta.rs) in one line.

use core::fmt;

use crate::error::{check_finite, check_nonempty, GdfError, Result};
use crate::framework::Gdf;
use crate::konst::{lit, Param};
use crate::loss_weight::LossWeight;
use crate::noise_cond::NoiseCond;
use crate::scaler::Scaler;
use crate::schedule::{check_shift, check_shift_named, Schedule};
use crate::target::Target;

/// Column names, as they appear in the header of every rendering.
pub mod col {
    /// The sampling step index (sampling grids only).
    pub const STEP: &str = "step";
    /// Diffusion time.
    pub const T: &str = "t";
    /// logSNR λ.
    pub const LOGSNR: &str = "logSNR";
    /// The scaler's signal coefficient.
    pub const A: &str = "a";
    /// The scaler's noise coefficient.
    pub const B: &str = "b";
    /// `b/a` (or `e^(−λ/2)` without a scaler).
    pub const SIGMA: &str = "sigma";
    /// `(a/b)²` (or `e^λ` without a scaler).
    pub const SNR: &str = "SNR";
    /// The noise conditioning.
    pub const NOISE_COND: &str = "noise_cond";
    /// The loss weight.
    pub const LOSS_WEIGHT: &str = "loss_weight";
}

// ---------------------------------------------------------------------------------------
// Number formatting.

/// How a table writes its numbers (see the [module docs](self#number-formatting)).
///
/// ```
/// use gdf::table::NumberFormat;
/// let f = NumberFormat::default();
/// assert_eq!(f.format(-9.21024036697585), "-9.21024");
/// assert_eq!(f.format(0.5), "0.5");
/// assert_eq!(f.format(1.0e-4), "0.0001");
/// assert_eq!(f.format(1.23456789e-7), "1.23457e-7");
/// assert_eq!(f.format(2.5e6), "2.5e6");
/// assert_eq!(f.format(-2.2e-16), "0");
/// assert_eq!(f.format(f64::NAN), "NaN");
/// assert_eq!(f.format(f64::NEG_INFINITY), "-inf");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NumberFormat {
    /// Significant digits, 1 to 17 (values outside are clamped into that range). Default 6.
    pub digits: usize,
    /// Magnitudes below this are written `0`. Default `1e-12`; `0.0` keeps every value.
    pub zero_below: f64,
}

impl Default for NumberFormat {
    fn default() -> Self {
        Self {
            digits: 6,
            zero_below: 1e-12,
        }
    }
}

impl NumberFormat {
    /// Writes `x` with this format.
    pub fn format(&self, x: f64) -> String {
        if x.is_nan() {
            return "NaN".into();
        }
        if x.is_infinite() {
            return if x > 0.0 { "inf" } else { "-inf" }.into();
        }
        if x == 0.0 || x.abs() < self.zero_below {
            return "0".into();
        }
        let digits = self.digits.clamp(1, 17);
        // One correct rounding to `digits` significant digits; everything below only moves
        // the decimal point of that result.
        let sci = format!("{:.*e}", digits - 1, x);
        let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let neg = mantissa.starts_with('-');
        let ds: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let sign = if neg { "-" } else { "" };
        if (-4..digits as i32).contains(&exp) {
            let (int, frac) = if exp >= 0 {
                let k = exp as usize + 1;
                (ds[..k].to_string(), ds[k..].to_string())
            } else {
                ("0".to_string(), "0".repeat((-exp - 1) as usize) + &ds)
            };
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{sign}{int}")
            } else {
                format!("{sign}{int}.{frac}")
            }
        } else {
            let frac = ds[1..].trim_end_matches('0');
            if frac.is_empty() {
                format!("{sign}{}e{exp}", &ds[..1])
            } else {
                format!("{sign}{}.{frac}e{exp}", &ds[..1])
            }
        }
    }
}

/// Rewrites the numbers of a heading line that have more than 12 significant digits (values
/// computed at run time, such as a stretched scaler's limits, whose last digits differ
/// between platforms' math libraries) with `format`; shorter literals stay as written.
fn round_long_numbers(line: &str, format: &NumberFormat) -> String {
    let b = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < b.len() {
        let starts =
            b[i].is_ascii_digit() || (b[i] == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit));
        let after_word = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if !starts || after_word {
            let ch = line[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        let mut j = i + 1;
        while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
            j += 1;
        }
        if j < b.len() && (b[j] == b'e' || b[j] == b'E') {
            let mut k = j + 1;
            if k < b.len() && (b[k] == b'-' || b[k] == b'+') {
                k += 1;
            }
            if k < b.len() && b[k].is_ascii_digit() {
                while k < b.len() && b[k].is_ascii_digit() {
                    k += 1;
                }
                j = k;
            }
        }
        let token = &line[i..j];
        let mantissa = token.split(['e', 'E']).next().unwrap_or("");
        let significant = mantissa
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>();
        let significant = significant.trim_start_matches('0').trim_end_matches('0');
        match token.parse::<f64>() {
            Ok(x) if significant.len() > 12 => out.push_str(&format.format(x)),
            _ => out.push_str(token),
        }
        i = j;
    }
    out
}

// ---------------------------------------------------------------------------------------
// Adaptive state.

/// A component with learned state that a table can show next to the numbers it affects:
/// extra columns evaluated at each row's λ, and a one-line summary under the heading.
///
/// Implemented for the adaptive components ([`crate::loss_weight::Adaptive`],
/// [`crate::schedule::AdaptiveTrain`]) and their runtime forms
/// ([`crate::dynamic::DynLossWeight`], [`crate::dynamic::DynSchedule`], which show nothing
/// when they are not adaptive). Pass one to [`TableBuilder::state`].
pub trait TableState {
    /// Which λ the state is read at: a loss weight's state sees λ after `loss_shift`.
    fn state_role(&self) -> StateRole;
    /// The extra columns' names.
    fn state_columns(&self) -> Vec<String>;
    /// The extra columns' values at `logsnr` (one per [`state_columns`](Self::state_columns)).
    fn state_at(&self, logsnr: f64) -> Vec<f64>;
    /// A one-line summary of the state (written under the table's heading).
    fn state_summary(&self, format: &NumberFormat) -> String;
}

/// Which component a [`TableState`] belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateRole {
    /// A schedule's state (read at the row's λ).
    Schedule,
    /// A loss weight's state (read at the row's λ moved by `loss_shift`).
    LossWeight,
}

fn summary_of(name: &str, what: &str, xs: &[f64], format: &NumberFormat) -> String {
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = xs.iter().sum::<f64>() / xs.len().max(1) as f64;
    format!(
        "{name}: {} buckets, {what} min {} mean {} max {}",
        xs.len(),
        format.format(min),
        format.format(mean),
        format.format(max)
    )
}

/// Adaptive loss weight: `lw_bucket` (the bucket `i` of λ) and `lw_bucket_loss` (`L_i`).
fn adaptive_lw_at(edges: &[f64], losses: &[f64], l: f64) -> Vec<f64> {
    if l.is_nan() {
        return vec![f64::NAN, f64::NAN];
    }
    let i = crate::loss_weight::adaptive_bucket(edges, l);
    vec![i as f64, losses[i]]
}

const LW_STATE_COLUMNS: [&str; 2] = ["lw_bucket", "lw_bucket_loss"];
const TRAIN_STATE_COLUMNS: [&str; 2] = ["train_bucket", "train_p"];

/// AdaptiveTrain: `train_bucket` (the bucket with `lo ≤ λ < hi`, NaN outside the range) and
/// `train_p` (its normalised draw probability, 0 outside: training never draws there).
fn adaptive_train_at(ranges: &[[f64; 2]], norm: &[f64], l: f64) -> Vec<f64> {
    match ranges.iter().position(|r| r[0] <= l && l < r[1]) {
        Some(i) => vec![i as f64, norm[i]],
        None => vec![f64::NAN, 0.0],
    }
}

impl<Lo, Hi, B, WLo, WHi> TableState for crate::loss_weight::Adaptive<Lo, Hi, B, WLo, WHi>
where
    Lo: crate::konst::Const,
    Hi: crate::konst::Const,
    B: crate::konst::Count,
    WLo: crate::konst::Const,
    WHi: crate::konst::Const,
{
    fn state_role(&self) -> StateRole {
        StateRole::LossWeight
    }
    fn state_columns(&self) -> Vec<String> {
        LW_STATE_COLUMNS.map(String::from).to_vec()
    }
    fn state_at(&self, logsnr: f64) -> Vec<f64> {
        adaptive_lw_at(self.bucket_ranges(), self.bucket_losses(), logsnr)
    }
    fn state_summary(&self, format: &NumberFormat) -> String {
        summary_of(
            "loss_weight state",
            "bucket losses",
            self.bucket_losses(),
            format,
        )
    }
}

impl<Lo, Hi, B, Min> TableState for crate::schedule::AdaptiveTrain<Lo, Hi, B, Min>
where
    Lo: crate::konst::Const,
    Hi: crate::konst::Const,
    B: crate::konst::Count,
    Min: crate::konst::Const,
{
    fn state_role(&self) -> StateRole {
        StateRole::Schedule
    }
    fn state_columns(&self) -> Vec<String> {
        TRAIN_STATE_COLUMNS.map(String::from).to_vec()
    }
    fn state_at(&self, logsnr: f64) -> Vec<f64> {
        adaptive_train_at(&self.bucket_ranges(), &self.norm_probs(), logsnr)
    }
    fn state_summary(&self, format: &NumberFormat) -> String {
        summary_of(
            "schedule state",
            "draw probabilities",
            &self.norm_probs(),
            format,
        )
    }
}

impl TableState for crate::dynamic::DynLossWeight {
    fn state_role(&self) -> StateRole {
        StateRole::LossWeight
    }
    fn state_columns(&self) -> Vec<String> {
        match self.buckets() {
            Some(_) => LW_STATE_COLUMNS.map(String::from).to_vec(),
            None => Vec::new(),
        }
    }
    fn state_at(&self, logsnr: f64) -> Vec<f64> {
        match self.buckets() {
            Some((edges, losses)) => adaptive_lw_at(edges, losses, logsnr),
            None => Vec::new(),
        }
    }
    fn state_summary(&self, format: &NumberFormat) -> String {
        match self.buckets() {
            Some((_, losses)) => summary_of("loss_weight state", "bucket losses", losses, format),
            None => String::new(),
        }
    }
}

impl TableState for crate::dynamic::DynSchedule {
    fn state_role(&self) -> StateRole {
        StateRole::Schedule
    }
    fn state_columns(&self) -> Vec<String> {
        match self.bucket_ranges() {
            Some(_) => TRAIN_STATE_COLUMNS.map(String::from).to_vec(),
            None => Vec::new(),
        }
    }
    fn state_at(&self, logsnr: f64) -> Vec<f64> {
        match (self.bucket_ranges(), self.norm_probs()) {
            (Some(r), Some(p)) => adaptive_train_at(&r, &p, logsnr),
            _ => Vec::new(),
        }
    }
    fn state_summary(&self, format: &NumberFormat) -> String {
        match self.norm_probs() {
            Some(p) => summary_of("schedule state", "draw probabilities", &p, format),
            None => String::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Type-erased components (private): the builder holds any component behind these.

trait AnySchedule {
    fn logsnr(&self, t: &[f64], shift: f64) -> Result<Vec<f64>>;
    fn grid(
        &self,
        timesteps: usize,
        t_start: f64,
        t_end: f64,
        shift: f64,
    ) -> Result<(Vec<f64>, Vec<f64>)>;
}

impl<S: Schedule> AnySchedule for S {
    fn logsnr(&self, t: &[f64], shift: f64) -> Result<Vec<f64>> {
        let mut out = vec![0.0; t.len()];
        self.logsnr_into(t, shift, &mut out)?;
        Ok(out)
    }
    fn grid(
        &self,
        timesteps: usize,
        t_start: f64,
        t_end: f64,
        shift: f64,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        crate::sample::sampling_grid(self, timesteps, t_start, t_end, shift)
    }
}

trait AnyScaler {
    fn ab(&self, l: f64) -> (f64, f64);
}
impl<S: Scaler> AnyScaler for S {
    fn ab(&self, l: f64) -> (f64, f64) {
        Scaler::ab(self, l)
    }
}

trait AnyNoiseCond {
    fn nc(&self, l: f64) -> f64;
}
impl<N: NoiseCond> AnyNoiseCond for N {
    fn nc(&self, l: f64) -> f64 {
        self.noise_cond(l)
    }
}

trait AnyLossWeight {
    fn lw(&self, l: f64, shift: f64) -> f64;
}
impl<L: LossWeight> AnyLossWeight for L {
    fn lw(&self, l: f64, shift: f64) -> f64 {
        self.loss_weight(l, shift)
    }
}

// ---------------------------------------------------------------------------------------
// The grid.

/// Which `t` a table's rows are at.
#[derive(Clone, Debug, PartialEq)]
pub enum Grid {
    /// `n` evenly spaced `t_i = i/(n−1)`, `i = 0..n` (so `t` runs from 0 to 1); `n ≥ 2`.
    Even(usize),
    /// The given `t` values, in the given order (any finite values; schedules clamp `t`
    /// into `[0, 1]`, so the `t` column shows the value given).
    Points(Vec<f64>),
    /// The sampler's grid: `r = linspace(t_start, t_end, timesteps + 1)`, exactly as
    /// [`crate::sample::sampling_grid`] computes it; adds a `step` column.
    Sampling {
        /// Number of sampling steps (`timesteps + 1` rows).
        timesteps: usize,
        /// First `t` (the original's default 1).
        t_start: f64,
        /// Last `t` (the original's default 0).
        t_end: f64,
    },
}

impl Grid {
    fn describe(&self) -> String {
        match self {
            Grid::Even(n) => format!("{n} evenly spaced t in [0, 1]"),
            Grid::Points(t) => format!("{} given t", t.len()),
            Grid::Sampling {
                timesteps,
                t_start,
                t_end,
            } => format!(
                "sampling grid, {timesteps} steps from t = {} to t = {}",
                lit(*t_start),
                lit(*t_end)
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The builder.

/// Builds a [`ScheduleTable`]: start from [`ScheduleTable::of_framework`] or
/// [`ScheduleTable::of_schedule`], choose the grid and shifts, then [`build`](Self::build).
///
/// The defaults are 11 evenly spaced `t`, `shift = 1`, `loss_shift = 1`.
///
/// ```
/// use gdf::table::ScheduleTable;
/// use gdf::{noise_cond::Edm, scaler::Vp, schedule::EdmSample};
///
/// let table = ScheduleTable::of_schedule(&<EdmSample>::new())
///     .scaler(&Vp)
///     .noise_cond(&Edm)
///     .at(&[0.0, 0.5, 1.0])
///     .build()?;
/// assert_eq!(table.columns(), ["t", "logSNR", "a", "b", "sigma", "SNR", "noise_cond"]);
/// let sigma = table.column("sigma").unwrap();
/// assert!((sigma[2] - 80.0).abs() < 1e-9); // t = 1 is sigma_max
/// # Ok::<(), gdf::GdfError>(())
/// ```
pub struct TableBuilder<'a> {
    heading: Vec<String>,
    schedule: &'a dyn AnySchedule,
    sampling_schedule: Option<&'a dyn AnySchedule>,
    scaler: Option<&'a dyn AnyScaler>,
    noise_cond: Option<&'a dyn AnyNoiseCond>,
    loss_weight: Option<&'a dyn AnyLossWeight>,
    states: Vec<&'a dyn TableState>,
    grid: Grid,
    shift: f64,
    loss_shift: f64,
    format: NumberFormat,
}

impl fmt::Debug for TableBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableBuilder")
            .field("heading", &self.heading)
            .field("grid", &self.grid)
            .field("shift", &self.shift)
            .field("loss_shift", &self.loss_shift)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl<'a> TableBuilder<'a> {
    fn new(heading: String, schedule: &'a dyn AnySchedule) -> Self {
        Self {
            heading: vec![heading],
            schedule,
            sampling_schedule: None,
            scaler: None,
            noise_cond: None,
            loss_weight: None,
            states: Vec::new(),
            grid: Grid::Even(11),
            shift: 1.0,
            loss_shift: 1.0,
            format: NumberFormat::default(),
        }
    }

    /// Rows at `n` evenly spaced `t_i = i/(n−1)` from 0 to 1
    /// (`2 ≤ n ≤ `[`MAX_STEPS`](crate::grid::MAX_STEPS)).
    pub fn steps(mut self, n: usize) -> Self {
        self.grid = Grid::Even(n);
        self
    }

    /// Rows at the given `t` values (finite, at least one).
    pub fn at(mut self, t: &[f64]) -> Self {
        self.grid = Grid::Points(t.to_vec());
        self
    }

    /// Rows at the grid the sampler visits: `linspace(t_start, t_end, timesteps + 1)`, with
    /// the builder's [`shift`](Self::shift) (the `shift` passed to `sample`). The original's
    /// defaults are `t_start = 1`, `t_end = 0`, 20 steps.
    pub fn sampling(mut self, timesteps: usize, t_start: f64, t_end: f64) -> Self {
        self.grid = Grid::Sampling {
            timesteps,
            t_start,
            t_end,
        };
        self
    }

    /// Any [`Grid`].
    pub fn grid(mut self, grid: Grid) -> Self {
        self.grid = grid;
        self
    }

    /// The schedule's call-time shift (`λ ← λ − 2·ln shift`, then the limits). Default 1.
    pub fn shift(mut self, shift: f64) -> Self {
        self.shift = shift;
        self
    }

    /// The loss weight's shift (the framework's `loss_shift`). Default 1.
    pub fn loss_shift(mut self, loss_shift: f64) -> Self {
        self.loss_shift = loss_shift;
        self
    }

    /// How the renderings write numbers (default [`NumberFormat::default`]).
    pub fn format(mut self, format: NumberFormat) -> Self {
        self.format = format;
        self
    }

    /// Evaluates `t` with this schedule instead of the framework's own (the `schedule`
    /// argument of the original's `sample`), e.g. an [`EdmSample`](crate::schedule::EdmSample)
    /// for a framework trained with the training-only `EdmTrain`.
    pub fn sampling_schedule<S: Schedule>(mut self, schedule: &'a S) -> Self {
        self.heading
            .push(format!("sampling schedule: {}", schedule.decl()));
        self.sampling_schedule = Some(schedule);
        self
    }

    /// Adds `a`, `b` columns from this scaler (a framework table has its own).
    pub fn scaler<Sc: Scaler>(mut self, scaler: &'a Sc) -> Self {
        self.heading.push(format!("scaler: {}", scaler.decl()));
        self.scaler = Some(scaler);
        self
    }

    /// Adds a `noise_cond` column from this noise cond (a framework table has its own).
    pub fn noise_cond<N: NoiseCond>(mut self, noise_cond: &'a N) -> Self {
        self.heading
            .push(format!("noise_cond: {}", noise_cond.decl()));
        self.noise_cond = Some(noise_cond);
        self
    }

    /// Adds a `loss_weight` column from this loss weight (a framework table has its own).
    pub fn loss_weight<L: LossWeight>(mut self, loss_weight: &'a L) -> Self {
        self.heading
            .push(format!("loss_weight: {}", loss_weight.decl()));
        self.loss_weight = Some(loss_weight);
        self
    }

    /// Shows an adaptive component's current state: its columns at each row and its summary
    /// under the heading. Pass the framework's own component, e.g. `.state(&gdf.loss_weight)`.
    ///
    /// ```
    /// use gdf::table::ScheduleTable;
    /// use gdf::{loss_weight::Adaptive, schedule::Linear};
    ///
    /// let mut lw = <Adaptive>::new();
    /// lw.update(&[0.01], &[4.0], 0.5)?; // bucket of λ = 0.01: loss 1 → 2.5
    /// let table = ScheduleTable::of_schedule(&<Linear>::new())
    ///     .loss_weight(&lw)
    ///     .state(&lw)
    ///     .at(&[0.4995, 0.5025]) // λ = 0.01 and −0.05: the next bucket down
    ///     .build()?;
    /// assert_eq!(table.column("loss_weight").unwrap(), [0.4, 1.0]);
    /// assert_eq!(table.column("lw_bucket_loss").unwrap(), [2.5, 1.0]);
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn state<St: TableState>(mut self, state: &'a St) -> Self {
        self.states.push(state);
        self
    }

    /// Evaluates every row.
    ///
    /// Errors ([`GdfError`]): a training-only schedule (`TrainingOnly`; give a
    /// [`sampling_schedule`](Self::sampling_schedule)), fewer than 2 evenly spaced steps or
    /// 0 sampling steps, more than [`MAX_STEPS`](crate::grid::MAX_STEPS) of either
    /// (`OutOfRange`), no `t` (`EmptyBatch`), a non-finite `t`, `t_start`
    /// or `t_end` (`NonFinite`), a non-positive or non-finite `shift` or `loss_shift`.
    pub fn build(self) -> Result<ScheduleTable> {
        let schedule = self.sampling_schedule.unwrap_or(self.schedule);
        check_shift_named("loss_shift", self.loss_shift)?;
        let (t, logsnr) = match &self.grid {
            Grid::Even(n) => {
                if *n < 2 || *n > crate::grid::MAX_STEPS {
                    return Err(GdfError::OutOfRange {
                        what: "steps",
                        value: *n as f64,
                        expected: "at least 2 evenly spaced t (0 and 1) and at most 2^24 \
                                   (gdf::grid::MAX_STEPS) rows",
                    });
                }
                let t: Vec<f64> = (0..*n).map(|i| i as f64 / (*n - 1) as f64).collect();
                let l = schedule.logsnr(&t, self.shift)?;
                (t, l)
            }
            Grid::Points(t) => {
                check_nonempty("t", t.len())?;
                check_finite("t", t)?;
                let l = schedule.logsnr(t, self.shift)?;
                (t.clone(), l)
            }
            Grid::Sampling {
                timesteps,
                t_start,
                t_end,
            } => {
                check_shift(self.shift)?;
                schedule.grid(*timesteps, *t_start, *t_end, self.shift)?
            }
        };

        let sampling = matches!(self.grid, Grid::Sampling { .. });
        let mut columns: Vec<String> = Vec::new();
        if sampling {
            columns.push(col::STEP.into());
        }
        columns.extend([col::T, col::LOGSNR].map(String::from));
        if self.scaler.is_some() {
            columns.extend([col::A, col::B].map(String::from));
        }
        columns.extend([col::SIGMA, col::SNR].map(String::from));
        if self.noise_cond.is_some() {
            columns.push(col::NOISE_COND.into());
        }
        if self.loss_weight.is_some() {
            columns.push(col::LOSS_WEIGHT.into());
        }
        for s in &self.states {
            columns.extend(s.state_columns());
        }

        let loss_l = |l: f64| {
            if self.loss_shift != 1.0 {
                l + 2.0 * self.loss_shift.ln()
            } else {
                l
            }
        };
        let rows = t
            .iter()
            .zip(&logsnr)
            .enumerate()
            .map(|(i, (&t, &l))| {
                let mut row = Vec::with_capacity(columns.len());
                if sampling {
                    row.push(i as f64);
                }
                row.extend([t, l]);
                match self.scaler {
                    Some(sc) => {
                        let (a, b) = sc.ab(l);
                        let ratio = a / b;
                        row.extend([a, b, b / a, ratio * ratio]);
                    }
                    None => row.extend([(-0.5 * l).exp(), l.exp()]),
                }
                if let Some(nc) = self.noise_cond {
                    row.push(nc.nc(l));
                }
                if let Some(lw) = self.loss_weight {
                    row.push(lw.lw(l, self.loss_shift));
                }
                for s in &self.states {
                    let at = match s.state_role() {
                        StateRole::Schedule => l,
                        StateRole::LossWeight => loss_l(l),
                    };
                    row.extend(s.state_at(at));
                }
                row
            })
            .collect();

        let mut heading = self.heading;
        let mut grid = format!(
            "grid: {}; shift = {}",
            self.grid.describe(),
            lit(self.shift)
        );
        if self.loss_weight.is_some() {
            grid.push_str(&format!("; loss_shift = {}", lit(self.loss_shift)));
        }
        heading.push(grid);
        for s in &self.states {
            let summary = s.state_summary(&self.format);
            if !summary.is_empty() {
                heading.push(summary);
            }
        }
        Ok(ScheduleTable {
            heading,
            columns,
            rows,
            format: self.format,
        })
    }
}

// ---------------------------------------------------------------------------------------
// The table.

/// A framework's or a schedule's numbers at a grid of `t` (see the [module docs](self)).
///
/// `Display` writes the heading (the declaration, the grid, any adaptive state) and the
/// columns right-aligned; [`to_csv`](Self::to_csv) and [`to_markdown`](Self::to_markdown)
/// write the same numbers in those formats.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleTable {
    heading: Vec<String>,
    columns: Vec<String>,
    rows: Vec<Vec<f64>>,
    format: NumberFormat,
}

impl ScheduleTable {
    /// A table of a framework: `t`, `logSNR`, `a`, `b`, `sigma`, `SNR`, `noise_cond`,
    /// `loss_weight`, headed by the framework's declaration.
    ///
    /// ```
    /// use gdf::framework::Gdf;
    /// use gdf::table::ScheduleTable;
    /// use gdf::{loss_weight::Constant, noise_cond, scaler::Lerp, schedule::RectifiedFlows, target};
    ///
    /// let rf: Gdf<RectifiedFlows, Lerp, target::RectifiedFlows, noise_cond::RectifiedFlows, Constant> =
    ///     Gdf::default();
    /// let table = ScheduleTable::of_framework(&rf).sampling(4, 1.0, 0.0).shift(2.0).build()?;
    /// assert_eq!(table.column("t").unwrap(), [1.0, 0.75, 0.5, 0.25, 0.0]);
    /// assert_eq!(table.column("logSNR").unwrap()[0], -15.0); // clamped into the limits
    /// println!("{table}");
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn of_framework<S, Sc, T, N, L, O>(gdf: &Gdf<S, Sc, T, N, L, O>) -> TableBuilder<'_>
    where
        S: Schedule,
        Sc: Scaler,
        T: Target,
        N: NoiseCond,
        L: LossWeight,
        O: Param,
    {
        let mut b = TableBuilder::new(gdf.to_string(), &gdf.schedule);
        b.scaler = Some(&gdf.scaler);
        b.noise_cond = Some(&gdf.noise_cond);
        b.loss_weight = Some(&gdf.loss_weight);
        b
    }

    /// A table of a bare schedule: `t`, `logSNR`, `sigma = e^(−λ/2)`, `SNR = e^λ`; add
    /// columns with [`TableBuilder::scaler`], [`TableBuilder::noise_cond`] and
    /// [`TableBuilder::loss_weight`].
    ///
    /// ```
    /// use gdf::table::ScheduleTable;
    /// use gdf::schedule::Cosine;
    ///
    /// let table = ScheduleTable::of_schedule(&<Cosine>::new()).steps(3).build()?;
    /// assert_eq!(
    ///     table.to_string(),
    ///     "\
    /// schedule: Cosine(s = 0.008, clamp_range = [0.0001, 0.9999], norm_instead = false)
    /// grid: 3 evenly spaced t in [0, 1]; shift = 1.0
    ///
    ///   t      logSNR      sigma         SNR
    ///   0     9.21024  0.0100005        9999
    /// 0.5  -0.0246269    1.01239    0.975674
    ///   1    -9.21024     99.995  0.00010001
    /// "
    /// );
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn of_schedule<S: Schedule>(schedule: &S) -> TableBuilder<'_> {
        TableBuilder::new(format!("schedule: {}", schedule.decl()), schedule)
    }

    /// The heading lines: the declaration(s), the grid and shifts, any state summaries.
    ///
    /// These are verbatim; the renderings write numbers in them that have more than 12
    /// significant digits (values computed at run time, such as a stretched scaler's limits)
    /// with the table's [`NumberFormat`], so that they do not churn across platforms.
    pub fn heading(&self) -> &[String] {
        &self.heading
    }

    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The rows' raw values (unrounded), one `Vec` per row in column order.
    pub fn rows(&self) -> &[Vec<f64>] {
        &self.rows
    }

    /// One column's raw values, or `None` when the table has no such column.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let i = self.columns.iter().position(|c| c == name)?;
        Some(self.rows.iter().map(|r| r[i]).collect())
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no rows (never true for a built table).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The number format the renderings use.
    pub fn number_format(&self) -> NumberFormat {
        self.format
    }

    /// The same table rendered with another number format.
    pub fn with_format(mut self, format: NumberFormat) -> Self {
        self.format = format;
        self
    }

    fn cells(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|r| r.iter().map(|&x| self.format.format(x)).collect())
            .collect()
    }

    /// CSV: a header line of column names, then one line per row (numbers as in the
    /// [module docs](self#number-formatting), no quoting needed). The heading is not
    /// included.
    ///
    /// ```
    /// use gdf::table::ScheduleTable;
    /// use gdf::schedule::Linear;
    /// let csv = ScheduleTable::of_schedule(&<Linear>::new()).steps(3).build()?.to_csv();
    /// assert_eq!(csv, "t,logSNR,sigma,SNR\n0,10,0.00673795,22026.5\n0.5,0,1,1\n1,-10,148.413,4.53999e-5\n");
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn to_csv(&self) -> String {
        let mut out = self.columns.join(",");
        out.push('\n');
        for row in self.cells() {
            out.push_str(&row.join(","));
            out.push('\n');
        }
        out
    }

    /// Markdown: each heading line as a code span ending in a line break, a blank line,
    /// then a table with right-aligned columns.
    ///
    /// ```
    /// use gdf::table::ScheduleTable;
    /// use gdf::schedule::Linear;
    /// let md = ScheduleTable::of_schedule(&<Linear>::new()).steps(2).build()?.to_markdown();
    /// assert!(md.ends_with("| t | logSNR | sigma | SNR |\n|---:|---:|---:|---:|\n| 0 | 10 | 0.00673795 | 22026.5 |\n| 1 | -10 | 148.413 | 4.53999e-5 |\n"));
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        for h in &self.heading {
            out.push_str(&format!("`{}`  \n", round_long_numbers(h, &self.format)));
        }
        out.push('\n');
        out.push_str(&format!("| {} |\n", self.columns.join(" | ")));
        out.push_str(&format!("|{}\n", "---:|".repeat(self.columns.len())));
        for row in self.cells() {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        out
    }
}

impl fmt::Display for ScheduleTable {
    /// The heading lines, a blank line, then the header and rows with every column
    /// right-aligned to its widest cell and columns separated by two spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for h in &self.heading {
            writeln!(f, "{}", round_long_numbers(h, &self.format))?;
        }
        writeln!(f)?;
        let cells = self.cells();
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                cells
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([c.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |f: &mut fmt::Formatter<'_>, items: &[String]| -> fmt::Result {
            for (i, (s, w)) in items.iter().zip(&widths).enumerate() {
                if i > 0 {
                    f.write_str("  ")?;
                }
                write!(f, "{s:>w$}")?;
            }
            writeln!(f)
        };
        line(f, &self.columns)?;
        for row in &cells {
            line(f, row)?;
        }
        Ok(())
    }
}

/// Snapshots a [`ScheduleTable`]'s text (its `Display`) with
/// [`insta::assert_snapshot!`](https://docs.rs/insta), in one line.
///
/// gdf does not depend on insta: the macro expands to `::insta::assert_snapshot!(…)` in
/// your crate, so add `insta` to your `[dev-dependencies]`. Both insta forms work: with a
/// snapshot name, or without (named after the test function). Accept new snapshots with
/// `cargo insta review` (or `INSTA_UPDATE=always cargo test`); with `CI=true` insta never
/// writes them and fails on a mismatch.
///
/// ```no_run
/// use gdf::framework::Gdf;
/// use gdf::table::ScheduleTable;
/// use gdf::{loss_weight::P2, noise_cond::CosineT, scaler::Vp, schedule::Cosine, target::Epsilon};
///
/// #[test]
/// fn my_schedule() -> Result<(), gdf::GdfError> {
///     let sc: Gdf<Cosine, Vp, Epsilon, CosineT, P2> = Gdf::default();
///     gdf::assert_table_snapshot!("sc_21", ScheduleTable::of_framework(&sc).steps(21).build()?);
///     gdf::assert_table_snapshot!(ScheduleTable::of_framework(&sc).sampling(20, 1.0, 0.0).build()?);
///     Ok(())
/// }
/// ```
#[macro_export]
macro_rules! assert_table_snapshot {
    ($name:expr, $table:expr $(,)?) => {
        ::insta::assert_snapshot!($name, $crate::table::ScheduleTable::to_string(&$table))
    };
    ($table:expr $(,)?) => {
        ::insta::assert_snapshot!($crate::table::ScheduleTable::to_string(&$table))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_numbers() {
        let f = NumberFormat::default();
        assert_eq!(
            round_long_numbers(
                "Vp.stretched([0.01, 0.9999499987499375, 0.009999999999999449, 1e-7]), P2(k = 1.0), x2 = 1234567.8901234567",
                &f
            ),
            "Vp.stretched([0.01, 0.99995, 0.01, 1e-7]), P2(k = 1.0), x2 = 1.23457e6"
        );
        assert_eq!(
            round_long_numbers("a -0.1234567890123e-5 b U1000 [-9.21024036697585, 10]", &f),
            "a -1.23457e-6 b U1000 [-9.21024, 10]"
        );
        assert_eq!(
            round_long_numbers("σ ∈ [0.002, 80.0]", &f),
            "σ ∈ [0.002, 80.0]"
        );
    }

    #[test]
    fn formats() {
        let f = NumberFormat::default();
        let cases = [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (10.0, "10"),
            (123456.0, "123456"),
            (1234567.0, "1.23457e6"),
            (999999.6, "1e6"),
            (0.0001, "0.0001"),
            (0.00001, "1e-5"),
            (0.000123456789, "0.000123457"),
            (9.99999e-5, "9.99999e-5"),
            (0.1 + 0.2, "0.3"),
            (2.0f64.sqrt(), "1.41421"),
            (-9.21024036697585, "-9.21024"),
            (1e-12, "1e-12"),
            (9.9e-13, "0"),
            (1e300, "1e300"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "NaN"),
        ];
        for (x, want) in cases {
            assert_eq!(f.format(x), want, "{x:e}");
        }
        let two = NumberFormat {
            digits: 2,
            zero_below: 0.0,
        };
        assert_eq!(two.format(0.125), "0.12"); // ties to even on the exact binary value
        assert_eq!(two.format(0.135), "0.14"); // 0.135 is slightly above in binary
        assert_eq!(two.format(1e-300), "1e-300");
        let one = NumberFormat {
            digits: 0,
            zero_below: 0.0,
        };
        assert_eq!(one.format(2.5), "2");
        assert_eq!(one.format(35.0), "4e1");
    }
}
