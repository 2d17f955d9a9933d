//! Writes a figure comparing the Stable Cascade framework, an EDM-style one and a
//! rectified-flow one: logSNR(t), a(t) and b(t), noise cond and loss weight on shared axes.
//!
//! ```text
//! cargo run --example plot_schedules --features plot -- schedules.svg
//! cargo run --example plot_schedules --features plot-png -- schedules.svg schedules.png
//! ```
//!
//! The PNG needs a TrueType font: `GDF_PLOT_FONT=/path/to/font.ttf`, else DejaVu Sans from
//! the usual system folders; without one only the SVG is written.

use gdf::framework::Gdf;
use gdf::plot::PlotOptions;
use gdf::table::ScheduleTable;
use gdf::{loss_weight as lw, noise_cond as nc, scaler, schedule as sc, target};

/// Stable Cascade: Cosine + Vp + Epsilon + CosineT + P2.
type StableCascade = Gdf<sc::Cosine, scaler::Vp, target::Epsilon, nc::CosineT, lw::P2>;
/// EDM-style: EdmSample + Vp + V + Edm noise cond + MinSnr/(Snr+1) weighting.
type EdmStyle = Gdf<
    sc::EdmSample,
    scaler::Vp,
    target::V,
    nc::Edm,
    lw::Composed<(lw::MinSnr,), (lw::SnrPlusOne,)>,
>;
/// Rectified flows: RectifiedFlows + Lerp + RF target + RF noise cond + Constant.
type RectifiedFlow =
    Gdf<sc::RectifiedFlows, scaler::Lerp, target::RectifiedFlows, nc::RectifiedFlows, lw::Constant>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let svg_path = args.next().unwrap_or_else(|| "schedules.svg".into());
    let png_path = args.next();

    let steps = 201;
    let tables = [
        ScheduleTable::of_framework(&StableCascade::default())
            .steps(steps)
            .build()?,
        ScheduleTable::of_framework(&EdmStyle::default())
            .steps(steps)
            .build()?,
        ScheduleTable::of_framework(&RectifiedFlow::default())
            .steps(steps)
            .build()?,
    ];
    let options = PlotOptions {
        title: "Stable Cascade, EDM-style and rectified-flow frameworks".into(),
        ..PlotOptions::default()
    };

    #[cfg(feature = "plot-png")]
    let font = load_font();
    #[cfg(feature = "plot-png")]
    if let Some(bytes) = font {
        gdf::plot::use_font(bytes)?;
    }

    gdf::plot::write_svg(&svg_path, &tables, &options)?;
    println!("wrote {svg_path}");

    #[cfg(feature = "plot-png")]
    match (font, png_path) {
        (Some(_), Some(p)) => {
            gdf::plot::write_png(&p, &tables, &options)?;
            println!("wrote {p}");
        }
        (None, Some(_)) => println!("no font found (set GDF_PLOT_FONT): PNG not written"),
        _ => {}
    }
    #[cfg(not(feature = "plot-png"))]
    if png_path.is_some() {
        println!("PNG needs the plot-png feature: not written");
    }
    Ok(())
}

/// A TrueType font for PNG text: `GDF_PLOT_FONT`, else DejaVu Sans where systems keep it.
#[cfg(feature = "plot-png")]
fn load_font() -> Option<&'static [u8]> {
    let candidates = std::env::var("GDF_PLOT_FONT").into_iter().chain(
        [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
            "/Library/Fonts/Arial.ttf",
        ]
        .map(String::from),
    );
    for path in candidates {
        if let Ok(bytes) = std::fs::read(&path) {
            return Some(Box::leak(bytes.into_boxed_slice()));
        }
    }
    None
}
