//! Plots of schedule tables (feature `plot`): logSNR(t), a(t) and b(t), the noise cond and
//! the loss weight of one or several frameworks on shared axes, each framework in its own
//! colour and captioned with its declaration.
//!
//! The input is [`ScheduleTable`]s, so anything a table can show can be plotted: a
//! framework, a bare schedule with some components, a sampling grid. Use many rows (e.g.
//! `steps(201)`) for smooth curves. Panels appear for the columns the tables have (`a`/`b`
//! only with a scaler, and so on); a loss weight spanning more than three decades is drawn
//! as `log10`.
//!
//! SVG needs nothing beyond the `plot` feature: text is written as SVG `<text>` in the
//! viewer's sans-serif font. PNG (feature `plot-png`, plotters' bitmap backend) rasterises
//! text itself and needs a TrueType/OpenType font: plotters' system-font loader needs the
//! system's fontconfig and FreeType, so `plot-png` instead takes the font's bytes through
//! `use_font` (a `plot-png` item). With `plot-png` enabled, SVG text layout uses that font
//! too, so call `use_font` before any plot.
//!
//! ```
//! use gdf::framework::Gdf;
//! use gdf::table::ScheduleTable;
//! use gdf::{loss_weight, noise_cond, scaler, schedule, target};
//!
//! let sc: Gdf<schedule::Cosine, scaler::Vp, target::Epsilon, noise_cond::CosineT, loss_weight::P2> =
//!     Gdf::default();
//! let rf: Gdf<schedule::RectifiedFlows, scaler::Lerp, target::RectifiedFlows,
//!     noise_cond::RectifiedFlows, loss_weight::Constant> = Gdf::default();
//! let tables = [
//!     ScheduleTable::of_framework(&sc).steps(101).build()?,
//!     ScheduleTable::of_framework(&rf).steps(101).build()?,
//! ];
//! # #[cfg(not(feature = "plot-png"))] {
//! let svg = gdf::plot::svg(&tables, &gdf::plot::PlotOptions::default())?;
//! assert!(svg.contains("Cosine(s = 0.008"));
//! // gdf::plot::write_svg("schedules.svg", &tables, &Default::default())?;
//! # }
//! # Ok::<(), gdf::GdfError>(())
//! ```

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{GdfError, Result};
use crate::table::{col, ScheduleTable};

/// Figure settings.
#[derive(Clone, Debug, PartialEq)]
pub struct PlotOptions {
    /// Figure width in pixels, 1 to 32768. Default 1400.
    pub width: u32,
    /// Height of one row of panels in pixels. Default 400. The whole figure (title, rows of
    /// panels, legend) must stay at most 32768 pixels high.
    pub panel_height: u32,
    /// The figure's title. Default `"GDF schedules"`.
    pub title: String,
}

impl Default for PlotOptions {
    fn default() -> Self {
        Self {
            width: 1400,
            panel_height: 400,
            title: "GDF schedules".into(),
        }
    }
}

/// The colours of the frameworks, in order (repeating after ten).
pub const PALETTE: [(u8, u8, u8); 10] = [
    (0x1f, 0x77, 0xb4),
    (0xff, 0x7f, 0x0e),
    (0x2c, 0xa0, 0x2c),
    (0xd6, 0x27, 0x28),
    (0x94, 0x67, 0xbd),
    (0x8c, 0x56, 0x4b),
    (0xe3, 0x77, 0xc2),
    (0x7f, 0x7f, 0x7f),
    (0xbc, 0xbd, 0x22),
    (0x17, 0xbe, 0xcf),
];

fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

const FONT: &str = "sans-serif";
const LEGEND_FONT_PX: u32 = 14;
const LEGEND_LINE_PX: u32 = 19;

/// One panel: its caption and the columns drawn in it (the second one dashed).
struct Panel {
    caption: String,
    solid: &'static str,
    dashed: Option<&'static str>,
    log10: bool,
}

fn has(tables: &[ScheduleTable], name: &str) -> bool {
    tables.iter().any(|t| t.column(name).is_some())
}

fn values(t: &ScheduleTable, name: &str, log10: bool) -> Vec<(f64, f64)> {
    let (Some(x), Some(y)) = (t.column(col::T), t.column(name)) else {
        return Vec::new();
    };
    x.into_iter()
        .zip(y)
        .map(|(x, y)| (x, if log10 { y.log10() } else { y }))
        .collect()
}

fn panels(tables: &[ScheduleTable]) -> Vec<Panel> {
    let mut out = vec![Panel {
        caption: "logSNR(t)".into(),
        solid: col::LOGSNR,
        dashed: None,
        log10: false,
    }];
    if has(tables, col::A) {
        out.push(Panel {
            caption: "a(t) solid, b(t) dashed".into(),
            solid: col::A,
            dashed: Some(col::B),
            log10: false,
        });
    }
    if has(tables, col::NOISE_COND) {
        out.push(Panel {
            caption: "noise_cond(t)".into(),
            solid: col::NOISE_COND,
            dashed: None,
            log10: false,
        });
    }
    if has(tables, col::LOSS_WEIGHT) {
        let w: Vec<f64> = tables
            .iter()
            .flat_map(|t| t.column(col::LOSS_WEIGHT).unwrap_or_default())
            .filter(|w| w.is_finite())
            .collect();
        let min = w.iter().copied().fold(f64::INFINITY, f64::min);
        let max = w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let log10 = !w.is_empty() && min > 0.0 && max / min > 1e3;
        out.push(Panel {
            caption: if log10 {
                "log10 loss_weight(t)".into()
            } else {
                "loss_weight(t)".into()
            },
            solid: col::LOSS_WEIGHT,
            dashed: None,
            log10,
        });
    }
    out
}

/// Splits a curve at non-finite points into finite runs.
fn runs(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![Vec::new()];
    for &(x, y) in points {
        if x.is_finite() && y.is_finite() {
            if let Some(r) = out.last_mut() {
                r.push((x, y));
            }
        } else if out.last().is_some_and(|r| !r.is_empty()) {
            out.push(Vec::new());
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

/// `[lo, hi]` of the finite values, padded by 5% (±1 when flat).
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 * (1.0 + hi.abs()) {
        return (lo - 1.0, hi + 1.0);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// Breaks a declaration into lines of at most `width` characters at `, ` boundaries.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for (i, part) in text.split(", ").enumerate() {
        let piece = if i == 0 {
            part.to_string()
        } else {
            format!(", {part}")
        };
        let cur = lines.last_mut().expect("at least one line");
        if !cur.is_empty() && cur.chars().count() + piece.chars().count() > width {
            lines.push(piece.trim_start_matches(", ").to_string());
        } else {
            cur.push_str(&piece);
        }
    }
    lines
}

/// Legend lines: (table index, text, is the declaration).
fn legend(tables: &[ScheduleTable], width: u32) -> Vec<(usize, String, bool)> {
    // plotters' estimate for sans-serif text is 0.7·em·chars with em = px/1.24².
    let chars =
        ((width.saturating_sub(90)) as f64 / (LEGEND_FONT_PX as f64 / 1.5376 * 0.7)) as usize;
    let mut out = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        let mut heading = t.heading().iter();
        if let Some(decl) = heading.next() {
            for line in wrap(decl, chars.max(40)) {
                out.push((i, line, true));
            }
        }
        for h in heading {
            for line in wrap(h, chars.max(40)) {
                out.push((i, line, false));
            }
        }
    }
    out
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    tables: &[ScheduleTable],
    options: &PlotOptions,
    panels: &[Panel],
    legend: &[(usize, String, bool)],
) -> core::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let title_h = 40;
    let rows = panels.len().div_ceil(2) as u32;
    let (title, rest) = root.split_vertically(title_h);
    let (plots, legend_area) = rest.split_vertically(rows * options.panel_height);
    title.draw(&Text::new(
        options.title.clone(),
        (20, 10),
        (FONT, 24).into_font().color(&BLACK),
    ))?;

    let cells = plots.split_evenly((rows as usize, 2));
    for (panel, area) in panels.iter().zip(&cells) {
        let x = range(
            tables
                .iter()
                .flat_map(|t| t.column(col::T).unwrap_or_default()),
        );
        let x = if x.0 <= 0.0 && x.1 >= 1.0 {
            (0.0, 1.0)
        } else {
            x
        };
        let y = range(tables.iter().flat_map(|t| {
            let mut v: Vec<f64> = values(t, panel.solid, panel.log10)
                .into_iter()
                .map(|p| p.1)
                .collect();
            if let Some(d) = panel.dashed {
                v.extend(values(t, d, panel.log10).into_iter().map(|p| p.1));
            }
            v
        }));
        let mut chart = ChartBuilder::on(area)
            .caption(panel.caption.clone(), (FONT, 18))
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(64)
            .build_cartesian_2d(x.0..x.1, y.0..y.1)?;
        chart
            .configure_mesh()
            .x_desc("t")
            .light_line_style(RGBColor(235, 235, 235))
            .label_style((FONT, 13))
            .draw()?;
        for (i, t) in tables.iter().enumerate() {
            let c = color(i);
            for run in runs(&values(t, panel.solid, panel.log10)) {
                chart.draw_series(LineSeries::new(run, c.stroke_width(2)))?;
            }
            if let Some(d) = panel.dashed {
                for run in runs(&values(t, d, panel.log10)) {
                    chart.draw_series(DashedLineSeries::new(run, 7, 5, c.stroke_width(2)))?;
                }
            }
        }
    }

    for (k, (i, text, decl)) in legend.iter().enumerate() {
        let y = 12 + (k as u32 * LEGEND_LINE_PX) as i32;
        let first = k == 0 || legend[k - 1].0 != *i;
        if first {
            legend_area.draw(&PathElement::new(
                vec![(20, y + 7), (60, y + 7)],
                color(*i).stroke_width(4),
            ))?;
        }
        let style = if *decl {
            BLACK
        } else {
            RGBColor(100, 100, 100)
        };
        legend_area.draw(&Text::new(
            text.clone(),
            (72, y),
            (FONT, LEGEND_FONT_PX).into_font().color(&style),
        ))?;
    }
    root.present()?;
    Ok(())
}

/// The largest figure side, in pixels (a PNG of it is 3·side² bytes at most).
const MAX_SIDE: u32 = 1 << 15;

fn figure_size(options: &PlotOptions, panels: usize, legend: usize) -> Result<(u32, u32)> {
    for (what, v) in [
        ("width", options.width),
        ("panel_height", options.panel_height),
    ] {
        if v == 0 || v > MAX_SIDE {
            return Err(GdfError::OutOfRange {
                what,
                value: v as f64,
                expected: "a size in pixels in [1, 32768]",
            });
        }
    }
    let rows = panels.div_ceil(2) as u64;
    let h = 40 + rows * options.panel_height as u64 + 24 + legend as u64 * LEGEND_LINE_PX as u64;
    if h > MAX_SIDE as u64 {
        return Err(GdfError::OutOfRange {
            what: "panel_height",
            value: options.panel_height as f64,
            expected: "a row height whose figure (title, rows of panels, legend) stays at most \
                       32768 pixels high",
        });
    }
    Ok((options.width, h as u32))
}

fn check(tables: &[ScheduleTable]) -> Result<()> {
    if tables.is_empty() {
        return Err(GdfError::EmptyBatch { what: "tables" });
    }
    Ok(())
}

fn plot_error(e: impl std::fmt::Display) -> GdfError {
    let hint = if cfg!(feature = "plot-png") {
        " (with the plot-png feature, register a font with gdf::plot::use_font first)"
    } else {
        ""
    };
    GdfError::Invalid {
        message: format!("plotting failed: {e}{hint}"),
    }
}

/// The figure as an SVG document.
///
/// Errors: no tables ([`GdfError::EmptyBatch`]); a `width` or `panel_height` of 0 or a
/// figure side above 32768 pixels ([`GdfError::OutOfRange`]); a drawing failure
/// ([`GdfError::Invalid`]).
pub fn svg(tables: &[ScheduleTable], options: &PlotOptions) -> Result<String> {
    check(tables)?;
    let panels = panels(tables);
    let legend = legend(tables, options.width);
    let size = figure_size(options, panels.len(), legend.len())?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw(root, tables, options, &panels, &legend).map_err(plot_error)?;
    }
    Ok(out)
}

/// Writes the figure as an SVG file.
///
/// Errors: as [`svg`], and a file that cannot be written ([`GdfError::Invalid`]).
pub fn write_svg(
    path: impl AsRef<Path>,
    tables: &[ScheduleTable],
    options: &PlotOptions,
) -> Result<()> {
    let text = svg(tables, options)?;
    std::fs::write(path.as_ref(), text).map_err(|e| GdfError::Invalid {
        message: format!("cannot write {}: {e}", path.as_ref().display()),
    })
}

/// Registers the TrueType/OpenType font PNG text is drawn with (feature `plot-png`), as
/// plotters' `sans-serif`; for example a DejaVu Sans you ship or find on the system.
///
/// Errors: bytes that are not a font ([`GdfError::Invalid`]).
#[cfg(feature = "plot-png")]
pub fn use_font(bytes: &'static [u8]) -> Result<()> {
    for style in [FontStyle::Normal, FontStyle::Bold] {
        plotters::style::register_font(FONT, style, bytes).map_err(|_| GdfError::Invalid {
            message: "use_font: the bytes are not a TrueType/OpenType font".into(),
        })?;
    }
    Ok(())
}

/// Writes the figure as a PNG file (feature `plot-png`; call [`use_font`] first).
///
/// Errors: as [`svg`], a missing font, and a file that cannot be written
/// ([`GdfError::Invalid`]).
#[cfg(feature = "plot-png")]
pub fn write_png(
    path: impl AsRef<Path>,
    tables: &[ScheduleTable],
    options: &PlotOptions,
) -> Result<()> {
    check(tables)?;
    let panels = panels(tables);
    let legend = legend(tables, options.width);
    let size = figure_size(options, panels.len(), legend.len())?;
    let root = BitMapBackend::new(path.as_ref(), size).into_drawing_area();
    draw(root, tables, options, &panels, &legend).map_err(plot_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_commas() {
        let w = wrap("schedule: A(x = 1), scaler: Vp, target: Epsilon", 20);
        assert_eq!(w, ["schedule: A(x = 1)", "scaler: Vp", "target: Epsilon"]);
        assert_eq!(wrap("short", 20), ["short"]);
    }

    #[test]
    fn splits_runs_at_non_finite_points() {
        let p = [
            (0.0, f64::INFINITY),
            (0.1, 1.0),
            (0.2, 2.0),
            (0.3, f64::NAN),
            (0.4, 4.0),
        ];
        assert_eq!(
            runs(&p),
            vec![vec![(0.1, 1.0), (0.2, 2.0)], vec![(0.4, 4.0)]]
        );
        assert_eq!(range([1.0, f64::NAN, 3.0].into_iter()), (0.9, 3.1));
        assert_eq!(range([2.0].into_iter()), (1.0, 3.0));
    }
}
