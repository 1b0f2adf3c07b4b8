//! Fonts, colors, axis ranges and labels shared by every chart.

use std::sync::OnceLock;

use ab_glyph::FontRef;
use chrono::DateTime;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::{PlotError, Result};

pub const FAMILY: &str = "sans-serif";
static REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// Makes the bundled font the one plotters draws every text with.
pub fn register_fonts() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        register_font(FAMILY, FontStyle::Normal, REGULAR).is_ok()
            && register_font(FAMILY, FontStyle::Bold, BOLD).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Drawing("the bundled font did not load".into()))
    }
}

/// The bundled face plotters picks for `family` and `style` (bold, else regular), for drawing
/// glyphs directly; `None` for another family.
pub fn face(family: &str, style: FontStyle) -> Option<&'static FontRef<'static>> {
    static FACES: OnceLock<Option<[FontRef<'static>; 2]>> = OnceLock::new();
    if family != FAMILY {
        return None;
    }
    let [regular, bold] = FACES
        .get_or_init(|| {
            Some([
                FontRef::try_from_slice(REGULAR).ok()?,
                FontRef::try_from_slice(BOLD).ok()?,
            ])
        })
        .as_ref()?;
    Some(if matches!(style, FontStyle::Bold) {
        bold
    } else {
        regular
    })
}

pub fn font(size: f64) -> TextStyle<'static> {
    (FAMILY, size).into_font().into()
}

pub fn title_font() -> TextStyle<'static> {
    (FAMILY, 20.0).into_font().style(FontStyle::Bold).into()
}

pub const ACTUAL: RGBColor = RGBColor(33, 33, 33);
pub const ENSEMBLE: RGBColor = RGBColor(31, 119, 180);
pub const GRID: RGBColor = RGBColor(232, 232, 232);
pub const MUTED: RGBColor = RGBColor(140, 140, 140);

/// Tableau 10 without its blue (the ensemble's): distinct in print and for most color vision.
const PALETTE: [RGBColor; 9] = [
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The color of a named series: the ensemble keeps one color everywhere; other models take the
/// palette in order.
pub fn series_color(name: &str, index: usize) -> RGBColor {
    if name == "ensemble" {
        ENSEMBLE
    } else {
        PALETTE[index % PALETTE.len()]
    }
}

/// Smallest and largest finite value, if any.
pub fn finite_range<'a>(values: impl IntoIterator<Item = &'a f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, &v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// `range` widened by `frac` of its width on both sides (one unit when it is a point).
pub fn padded(range: Option<(f64, f64)>, frac: f64) -> (f64, f64) {
    let (lo, hi) = range.unwrap_or((0.0, 1.0));
    let width = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
    (lo - width * frac, hi + width * frac)
}

/// A value range for bars: always includes zero, so negative values show below the axis.
pub fn with_zero(range: Option<(f64, f64)>) -> (f64, f64) {
    let (lo, hi) = range.unwrap_or((0.0, 1.0));
    padded(Some((lo.min(0.0), hi.max(0.0))), 0.12)
}

/// Time axis values are days since 1970-01-01 (fractions for sub-daily data).
pub fn date_label(days: f64, span_days: f64) -> String {
    let seconds = (days * 86_400.0).round() as i64;
    match DateTime::from_timestamp(seconds, 0) {
        Some(t) if span_days < 3.0 => t.format("%m-%d %H:%M").to_string(),
        Some(t) => t.date_naive().format("%Y-%m-%d").to_string(),
        None => String::new(),
    }
}

/// The label of category `x` when it sits on a category position, else nothing.
pub fn category_label(names: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
        names[i as usize].clone()
    } else {
        String::new()
    }
}

pub type Plot<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A cartesian panel with a caption and room for axis labels of `y_label_width` pixels.
pub fn panel<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
    x: (f64, f64),
    y: (f64, f64),
    y_label_width: u32,
) -> Result<Plot<'a, DB>> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(y_label_width);
    if !caption.is_empty() {
        builder.caption(caption, font(16.0));
    }
    Ok(builder.build_cartesian_2d(x.0..x.1, y.0..y.1)?)
}

/// Width of a label area that fits `labels` at the axis font size.
pub fn label_width<'a>(labels: impl IntoIterator<Item = &'a String>) -> u32 {
    let longest = labels
        .into_iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(4);
    (longest as u32 * 8 + 24).clamp(56, 260)
}

/// Axis ticks: no trailing zeros, thousands and millions abbreviated.
pub fn tick_label(v: f64) -> String {
    let trim = |text: String| {
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    };
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(format!("{:.2}", v / 1e6)))
    } else if a >= 1e4 {
        format!("{}k", trim(format!("{:.1}", v / 1e3)))
    } else if a < 1e-9 {
        "0".into()
    } else {
        trim(format!("{v:.3}"))
    }
}

/// Short, readable numbers for bar and cell labels.
pub fn number_label(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, relative error
/// below 1.2e-9), for Q-Q plots.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p <= 0.0 {
        f64::NEG_INFINITY
    } else if p >= 1.0 {
        f64::INFINITY
    } else if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantile_matches_known_values() {
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-8);
        assert!((normal_quantile(0.01) + 2.326_347_874_040_841).abs() < 1e-8);
    }

    #[test]
    fn bar_ranges_show_negative_values() {
        let (lo, hi) = with_zero(Some((-0.4, 0.9)));
        assert!(lo < -0.4 && hi > 0.9);
        let (lo, _) = with_zero(Some((0.2, 0.9)));
        assert!(lo < 0.0);
    }

    #[test]
    fn ticks_drop_trailing_zeros() {
        assert_eq!(tick_label(80.0), "80");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(-5.0), "-5");
        assert_eq!(tick_label(12_000.0), "12k");
        assert_eq!(tick_label(2_500_000.0), "2.5M");
    }

    #[test]
    fn dates_label_days_since_epoch() {
        assert_eq!(date_label(19_723.0, 90.0), "2024-01-01");
        assert_eq!(date_label(19_723.5, 1.0), "01-01 12:00");
    }
}
