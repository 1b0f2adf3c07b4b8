//! The charts: each a data struct and how it draws.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Deserialize;

use crate::json::{nan_rows, nan_values};
use crate::theme::{
    self, category_label, date_label, finite_range, font, label_width, number_label, padded, panel,
    series_color, tick_label, with_zero, Plot,
};
use crate::{Extent, Figure, PlotError, Result};

/// A named line; `x` in days since 1970-01-01 on time axes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub name: String,
    pub x: Vec<f64>,
    #[serde(deserialize_with = "nan_values")]
    pub y: Vec<f64>,
}

/// A prediction interval of the series `name` at `level` percent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// The series the band belongs to (it takes that series' color).
    pub name: String,
    /// Legend text; `"{name} {level}% interval"` when absent.
    #[serde(default)]
    pub label: Option<String>,
    pub level: f64,
    pub x: Vec<f64>,
    #[serde(deserialize_with = "nan_values")]
    pub lo: Vec<f64>,
    #[serde(deserialize_with = "nan_values")]
    pub hi: Vec<f64>,
}

fn check_line(field: &str, line: &Line) -> Result<()> {
    if line.x.len() != line.y.len() {
        return Err(PlotError::invalid_argument(
            field,
            format!(
                "series `{}` has {} x values and {} y values",
                line.name,
                line.x.len(),
                line.y.len()
            ),
        ));
    }
    Ok(())
}

fn points(x: &[f64], y: &[f64]) -> Vec<(f64, f64)> {
    x.iter()
        .zip(y)
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(&a, &b)| (a, b))
        .collect()
}

/// Line segments split at missing values, so gaps stay gaps.
fn segments(x: &[f64], y: &[f64]) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![Vec::new()];
    for (&a, &b) in x.iter().zip(y) {
        if a.is_finite() && b.is_finite() {
            if let Some(current) = out.last_mut() {
                current.push((a, b));
            }
        } else if out.last().is_some_and(|s| !s.is_empty()) {
            out.push(Vec::new());
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

fn draw_line<DB: DrawingBackend>(
    plot: &mut Plot<'_, DB>,
    line: &Line,
    style: ShapeStyle,
    legend: bool,
) -> Result<()> {
    for (k, seg) in segments(&line.x, &line.y).into_iter().enumerate() {
        let series = plot.draw_series(LineSeries::new(seg, style))?;
        if legend && k == 0 {
            series.label(line.name.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], style.stroke_width(3))
            });
        }
    }
    Ok(())
}

fn legend<'a, DB: DrawingBackend + 'a>(
    plot: &mut Plot<'a, DB>,
    position: SeriesLabelPosition,
) -> Result<()> {
    plot.configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(theme::MUTED)
        .label_font(font(13.0))
        .draw()?;
    Ok(())
}

fn vertical_rule<DB: DrawingBackend>(
    plot: &mut Plot<'_, DB>,
    x: f64,
    y: (f64, f64),
    color: RGBColor,
) -> Result<()> {
    plot.draw_series(DashedLineSeries::new(
        vec![(x, y.0), (x, y.1)],
        6,
        4,
        color.stroke_width(1),
    ))?;
    Ok(())
}

fn horizontal_rule<DB: DrawingBackend>(
    plot: &mut Plot<'_, DB>,
    y: f64,
    x: (f64, f64),
    style: ShapeStyle,
) -> Result<()> {
    plot.draw_series(DashedLineSeries::new(vec![(x.0, y), (x.1, y)], 6, 4, style))?;
    Ok(())
}

/// Grid, tick labels and axis titles in the house style: light grid at the major ticks only.
fn mesh<DB: DrawingBackend>(
    plot: &mut Plot<'_, DB>,
    x_ticks: &dyn Fn(&f64) -> String,
    y_ticks: &dyn Fn(&f64) -> String,
    x_desc: &str,
    y_desc: &str,
) -> Result<()> {
    plot.configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(theme::GRID)
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(x_ticks)
        .y_label_formatter(y_ticks)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(font(12.0))
        .axis_desc_style(font(13.0))
        .draw()?;
    Ok(())
}

fn numbers(v: &f64) -> String {
    tick_label(*v)
}

/// Mesh of a time-axis panel: dates on x, numbers on y.
fn time_mesh<DB: DrawingBackend>(
    plot: &mut Plot<'_, DB>,
    x: (f64, f64),
    x_desc: &str,
    y_desc: &str,
) -> Result<()> {
    let span = x.1 - x.0;
    mesh(plot, &|v| date_label(*v, span), &numbers, x_desc, y_desc)
}

fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<DrawingArea<DB, Shift>> {
    Ok(root.titled(title, theme::title_font())?)
}

// ----------------------------------------------------------------------------------- forecast

/// History, every model's forecast, prediction bands and (when known) the actual future.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastChart {
    pub title: String,
    pub y_label: String,
    pub history: Line,
    pub actual: Option<Line>,
    pub forecasts: Vec<Line>,
    pub bands: Vec<Band>,
}

impl Figure for ForecastChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<Extent> {
        check_line("history", &self.history)?;
        for line in self.actual.iter().chain(&self.forecasts) {
            check_line("forecasts", line)?;
        }
        for b in &self.bands {
            if b.lo.len() != b.x.len() || b.hi.len() != b.x.len() {
                return Err(PlotError::invalid_argument(
                    "bands",
                    format!("band `{}` {}% has unequal lengths", b.name, b.level),
                ));
            }
        }
        let lines = std::iter::once(&self.history)
            .chain(&self.actual)
            .chain(&self.forecasts);
        let xs = lines.clone().flat_map(|l| &l.x);
        let x = padded(finite_range(xs), 0.01);
        let ys = lines
            .flat_map(|l| &l.y)
            .chain(self.bands.iter().flat_map(|b| b.lo.iter().chain(&b.hi)));
        let y = padded(finite_range(ys), 0.05);
        let area = titled(root, &self.title)?;
        let mut plot = panel(&area, "", x, y, 70)?;
        time_mesh(&mut plot, x, "date", &self.y_label)?;
        // Wider bands first and lighter, so the narrower ones stay visible on top.
        let mut bands: Vec<&Band> = self.bands.iter().collect();
        bands.sort_by(|a, b| b.level.total_cmp(&a.level));
        for band in bands {
            let index = self
                .forecasts
                .iter()
                .position(|l| l.name == band.name)
                .unwrap_or(0);
            let color = series_color(&band.name, index);
            let alpha = if band.level >= 90.0 { 0.15 } else { 0.3 };
            let upper = points(&band.x, &band.hi);
            let mut outline = upper.clone();
            outline.extend(points(&band.x, &band.lo).into_iter().rev());
            let label = band
                .label
                .clone()
                .unwrap_or_else(|| format!("{} {}% interval", band.name, band.level));
            plot.draw_series(std::iter::once(Polygon::new(
                outline,
                color.mix(alpha).filled(),
            )))?
            .label(label)
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 18, y + 5)], color.mix(alpha).filled())
            });
        }
        let history_end = finite_range(&self.history.x).map(|r| r.1);
        draw_line(
            &mut plot,
            &self.history,
            theme::ACTUAL.stroke_width(1),
            true,
        )?;
        if let Some(actual) = &self.actual {
            draw_line(&mut plot, actual, theme::MUTED.stroke_width(1), true)?;
        }
        for (i, line) in self.forecasts.iter().enumerate() {
            let width = if line.name == "ensemble" { 3 } else { 2 };
            draw_line(
                &mut plot,
                line,
                series_color(&line.name, i).stroke_width(width),
                true,
            )?;
        }
        if let Some(end) = history_end {
            vertical_rule(&mut plot, end, y, theme::MUTED)?;
        }
        legend(&mut plot, SeriesLabelPosition::UpperLeft)?;
        Ok(Extent { x, y })
    }
}

// ----------------------------------------------------------------------------------- backtest

/// Cross-validation windows: each window's forecast over the actuals, a rule at each cutoff.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestChart {
    pub title: String,
    pub y_label: String,
    pub actual: Line,
    /// (cutoff, forecast) per window.
    pub windows: Vec<(f64, Line)>,
}

impl Figure for BacktestChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<Extent> {
        check_line("actual", &self.actual)?;
        for (_, line) in &self.windows {
            check_line("windows", line)?;
        }
        let all = std::iter::once(&self.actual).chain(self.windows.iter().map(|w| &w.1));
        let x = padded(finite_range(all.clone().flat_map(|l| &l.x)), 0.01);
        let y = padded(finite_range(all.flat_map(|l| &l.y)), 0.05);
        let area = titled(root, &self.title)?;
        let mut plot = panel(&area, "", x, y, 70)?;
        time_mesh(&mut plot, x, "date", &self.y_label)?;
        draw_line(&mut plot, &self.actual, theme::ACTUAL.stroke_width(1), true)?;
        for (i, (cutoff, line)) in self.windows.iter().enumerate() {
            let color = series_color("", i);
            vertical_rule(&mut plot, *cutoff, y, color)?;
            draw_line(&mut plot, line, color.stroke_width(2), true)?;
        }
        legend(&mut plot, SeriesLabelPosition::UpperLeft)?;
        Ok(Extent { x, y })
    }
}

// ----------------------------------------------------------------------------------- residuals

/// Residuals over time, their histogram against a normal curve, a normal Q-Q plot of the
/// standardized residuals and their autocorrelation with its bounds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidualPanel {
    pub title: String,
    /// Time of each residual, days since 1970-01-01.
    pub x: Vec<f64>,
    #[serde(deserialize_with = "nan_values")]
    pub residuals: Vec<f64>,
    /// Autocorrelation at lags 1, 2, ...
    #[serde(deserialize_with = "nan_values")]
    pub acf: Vec<f64>,
    /// The +- bound of the autocorrelation (e.g. 1.96 / sqrt(n)).
    pub acf_bound: f64,
}

const QQ_POINTS: usize = 2000;
const SCATTER_POINTS: usize = 4000;

impl Figure for ResidualPanel {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<Extent> {
        if self.x.len() != self.residuals.len() {
            return Err(PlotError::invalid_argument(
                "residuals",
                format!(
                    "{} times for {} residuals",
                    self.x.len(),
                    self.residuals.len()
                ),
            ));
        }
        let finite: Vec<f64> = self
            .residuals
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        if finite.len() < 3 {
            return Err(PlotError::invalid_argument(
                "residuals",
                format!("{} finite residuals; need at least 3", finite.len()),
            ));
        }
        let n = finite.len() as f64;
        let mean = finite.iter().sum::<f64>() / n;
        let sd = (finite.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0))
            .sqrt()
            .max(f64::MIN_POSITIVE);
        let area = titled(root, &self.title)?;
        let cells = area.split_evenly((2, 2));

        // Residuals over time.
        let x = padded(finite_range(&self.x), 0.01);
        let y = padded(finite_range(&finite), 0.05);
        // Every k-th point past a few thousand: the cloud looks the same, the SVG stays small.
        let cloud = points(&self.x, &self.residuals);
        let every = cloud.len().div_ceil(SCATTER_POINTS).max(1);
        let caption = if every > 1 {
            format!(
                "Residuals over time (1 in {every} of {} shown)",
                cloud.len()
            )
        } else {
            "Residuals over time".to_string()
        };
        let mut over_time = panel(&cells[0], &caption, x, y, 64)?;
        time_mesh(&mut over_time, x, "date", "actual - forecast")?;
        over_time.draw_series(
            cloud
                .into_iter()
                .step_by(every)
                .map(|p| Circle::new(p, 2, theme::ENSEMBLE.mix(0.5).filled())),
        )?;
        horizontal_rule(&mut over_time, 0.0, x, theme::ACTUAL.stroke_width(1))?;

        // Histogram (density) over the central 99% (long tails would squeeze it into a few
        // bins; what lies outside is counted in the caption) and the normal density of the
        // same mean and deviation.
        let mut sorted = finite.clone();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        let (lo, hi) = (at(0.005), at(0.995));
        let inside: Vec<f64> = finite
            .iter()
            .copied()
            .filter(|v| (lo..=hi).contains(v))
            .collect();
        let outside = finite.len() - inside.len();
        // Freedman-Diaconis bin width.
        let iqr = at(0.75) - at(0.25);
        let fd = 2.0 * iqr / n.cbrt();
        let bins = if fd > 0.0 {
            ((hi - lo) / fd).ceil() as usize
        } else {
            20
        }
        .clamp(10, 80);
        let width = ((hi - lo) / bins as f64).max(f64::MIN_POSITIVE);
        let mut counts = vec![0usize; bins];
        for v in &inside {
            counts[(((v - lo) / width) as usize).min(bins - 1)] += 1;
        }
        let density = |c: usize| c as f64 / (n * width);
        let normal = |v: f64| {
            (-(v - mean) * (v - mean) / (2.0 * sd * sd)).exp()
                / (sd * (2.0 * std::f64::consts::PI).sqrt())
        };
        let top = counts
            .iter()
            .map(|&c| density(c))
            .fold(normal(mean), f64::max);
        let hx = padded(Some((lo, hi)), 0.02);
        let caption = if outside > 0 {
            format!("Histogram and normal density ({outside} values outside the range shown)")
        } else {
            "Histogram and normal density".to_string()
        };
        let mut hist = panel(&cells[1], &caption, hx, (0.0, top * 1.1), 64)?;
        mesh(&mut hist, &numbers, &numbers, "residual", "density")?;
        hist.draw_series(counts.iter().enumerate().map(|(i, &c)| {
            let x0 = lo + i as f64 * width;
            Rectangle::new(
                [(x0, 0.0), (x0 + width, density(c))],
                theme::ENSEMBLE.mix(0.45).filled(),
            )
        }))?;
        let curve = (0..=200).map(|k| {
            let v = hx.0 + (hx.1 - hx.0) * k as f64 / 200.0;
            (v, normal(v))
        });
        hist.draw_series(LineSeries::new(curve, PALETTE_RED.stroke_width(2)))?
            .label("normal")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], PALETTE_RED.stroke_width(3))
            });
        legend(&mut hist, SeriesLabelPosition::UpperRight)?;

        // Q-Q plot of standardized residuals, thinned to evenly spaced quantiles.
        let mut z: Vec<f64> = finite.iter().map(|v| (v - mean) / sd).collect();
        z.sort_by(f64::total_cmp);
        let step = (z.len() / QQ_POINTS).max(1);
        let qq: Vec<(f64, f64)> = (0..z.len())
            .step_by(step)
            .map(|i| (theme::normal_quantile((i as f64 + 0.5) / n), z[i]))
            .collect();
        let qx = padded(finite_range(qq.iter().map(|(a, _)| a)), 0.05);
        let qy = padded(finite_range(qq.iter().map(|(_, b)| b)), 0.05);
        let mut qq_plot = panel(&cells[2], "Normal Q-Q", qx, qy, 64)?;
        mesh(
            &mut qq_plot,
            &numbers,
            &numbers,
            "normal quantile",
            "standardized residual",
        )?;
        let (from, to) = (qx.0.max(qy.0), qx.1.min(qy.1));
        qq_plot.draw_series(LineSeries::new(vec![(from, from), (to, to)], theme::MUTED))?;
        qq_plot.draw_series(
            qq.into_iter()
                .map(|p| Circle::new(p, 2, theme::ENSEMBLE.mix(0.6).filled())),
        )?;

        // Autocorrelation with its bounds.
        let lags = self.acf.len().max(1) as f64;
        let acf_y = with_zero(finite_range(
            self.acf.iter().chain([&self.acf_bound, &-self.acf_bound]),
        ));
        let mut acf = panel(
            &cells[3],
            "Autocorrelation (dashed: 95% white-noise bounds)",
            (0.0, lags + 1.0),
            acf_y,
            64,
        )?;
        mesh(
            &mut acf,
            &|v| integer_label(*v),
            &numbers,
            "lag",
            "autocorrelation",
        )?;
        acf.draw_series(self.acf.iter().enumerate().map(|(i, &v)| {
            let lag = i as f64 + 1.0;
            let color = if v.abs() > self.acf_bound {
                PALETTE_RED
            } else {
                theme::ENSEMBLE
            };
            Rectangle::new([(lag - 0.3, 0.0), (lag + 0.3, v)], color.filled())
        }))?;
        for b in [self.acf_bound, -self.acf_bound] {
            horizontal_rule(&mut acf, b, (0.0, lags + 1.0), theme::MUTED.stroke_width(1))?;
        }
        horizontal_rule(
            &mut acf,
            0.0,
            (0.0, lags + 1.0),
            theme::ACTUAL.stroke_width(1),
        )?;
        Ok(Extent { x, y })
    }
}

const PALETTE_RED: RGBColor = RGBColor(214, 39, 40);

/// Ticks of a count axis (steps, lags, trials): whole numbers only.
fn integer_label(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}

// ----------------------------------------------------------------------------------- bars

/// How a bar panel orders and colors its bars.
struct BarStyle<'a> {
    /// Largest on top; otherwise the given order, first on top.
    sort: bool,
    color: &'a dyn Fn(usize, &str) -> RGBColor,
    value_label: &'a dyn Fn(f64) -> String,
}

/// Horizontal bars of named values with their values written beside them; the axis includes
/// zero, so negative values extend left of it.
fn horizontal_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    items: &[(String, f64)],
    x_desc: &str,
    style: &BarStyle<'_>,
) -> Result<Extent> {
    // Bottom to top: category 0 is drawn lowest.
    let mut order: Vec<usize> = (0..items.len()).collect();
    if style.sort {
        order.sort_by(|&a, &b| items[a].1.total_cmp(&items[b].1));
    } else {
        order.reverse();
    }
    let names: Vec<String> = order.iter().map(|&i| items[i].0.clone()).collect();
    let x = with_zero(finite_range(items.iter().map(|(_, v)| v)));
    let x = (x.0, x.1 + (x.1 - x.0) * 0.12);
    let y = (-0.6, names.len() as f64 - 0.4);
    let mut plot = panel(area, caption, x, y, label_width(&names))?;
    let categories = |v: &f64| category_label(&names, *v);
    plot.configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .bold_line_style(theme::GRID)
        .x_label_formatter(&numbers)
        .y_label_formatter(&categories)
        .y_labels(names.len() + 1)
        .x_desc(x_desc)
        .label_style(font(12.0))
        .axis_desc_style(font(13.0))
        .draw()?;
    let finite = order
        .iter()
        .enumerate()
        .filter(|(_, &i)| items[i].1.is_finite());
    plot.draw_series(finite.clone().map(|(row, &i)| {
        let (name, v) = &items[i];
        let c = row as f64;
        Rectangle::new(
            [(0.0, c - 0.35), (*v, c + 0.35)],
            (style.color)(i, name).filled(),
        )
    }))?;
    let pad = (x.1 - x.0) * 0.01;
    plot.draw_series(finite.map(|(row, &i)| {
        let v = items[i].1;
        let anchor = if v >= 0.0 { v + pad } else { pad };
        Text::new(
            (style.value_label)(v),
            (anchor, row as f64),
            font(11.0).pos(Pos::new(HPos::Left, VPos::Center)),
        )
    }))?;
    if x.0 < 0.0 {
        plot.draw_series(LineSeries::new(vec![(0.0, y.0), (0.0, y.1)], theme::ACTUAL))?;
    }
    Ok(Extent { x, y })
}

/// The top features by importance, one panel per model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportanceChart {
    pub title: String,
    pub importance_type: String,
    /// (model, [(feature, importance)]) per model.
    pub models: Vec<(String, Vec<(String, f64)>)>,
    pub top_k: usize,
}

impl Figure for ImportanceChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<Extent> {
        if self.models.is_empty() {
            return Err(PlotError::invalid_argument(
                "models",
                "no model has importances",
            ));
        }
        let area = titled(root, &self.title)?;
        let cells = area.split_evenly((1, self.models.len()));
        let mut first = None;
        for (i, ((model, values), cell)) in self.models.iter().zip(&cells).enumerate() {
            let mut top = values.clone();
            top.sort_by(|a, b| b.1.total_cmp(&a.1));
            top.truncate(self.top_k.max(1));
            let color = series_color(model, i);
            let style = BarStyle {
                sort: true,
                color: &|_, _| color,
                value_label: &number_label,
            };
            let extent = horizontal_bars(cell, model, &top, &self.importance_type, &style)?;
            first.get_or_insert(extent);
        }
        first.ok_or_else(|| PlotError::invalid_argument("models", "empty"))
    }
}

/// The ensemble weight of every model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsChart {
    pub title: String,
    pub weights: Vec<(String, f64)>,
}

impl Figure for WeightsChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<Extent> {
        if self.weights.is_empty() {
            return Err(PlotError::invalid_argument("weights", "no weights"));
        }
        let area = titled(root, &self.title)?;
        let style = BarStyle {
            sort: false,
            color: &|i, name| series_color(name, i),
            value_label: &|v| format!("{:.1}%", v * 100.0),
        };
        horizontal_bars(&area, "", &self.weights, "weight", &style)
    }
}

/// Every metric per model (baselines included): one panel per metric, bars labeled with their
/// values, axes that include zero so negative values (R², bias) show.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComparisonChart {
    pub title: String,
    pub models: Vec<String>,
    /// (metric, value per model).
    #[serde(deserialize_with = "crate::json::nan_named_rows")]
    pub metrics: Vec<(String, Vec<f64>)>,
}

impl Figure for ComparisonChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<Extent> {
        if self.metrics.is_empty() || self.models.is_empty() {
            return Err(PlotError::invalid_argument("metrics", "nothing to compare"));
        }
        for (metric, values) in &self.metrics {
            if values.len() != self.models.len() {
                return Err(PlotError::invalid_argument(
                    "metrics",
                    format!(
                        "metric `{metric}` has {} values for {} models",
                        values.len(),
                        self.models.len()
                    ),
                ));
            }
        }
        let area = titled(root, &self.title)?;
        let cols = self.metrics.len().min(3);
        let rows = self.metrics.len().div_ceil(cols);
        let cells = area.split_evenly((rows, cols));
        let style = BarStyle {
            sort: false,
            color: &|i, name| series_color(name, i),
            value_label: &number_label,
        };
        let mut first = None;
        for ((metric, values), cell) in self.metrics.iter().zip(&cells) {
            let items: Vec<(String, f64)> = self
                .models
                .iter()
                .cloned()
                .zip(values.iter().copied())
                .collect();
            let extent = horizontal_bars(cell, metric, &items, "", &style)?;
            first.get_or_insert(extent);
        }
        first.ok_or_else(|| PlotError::invalid_argument("metrics", "empty"))
    }
}

// ----------------------------------------------------------------------------------- heatmap

/// A value per (row, column) cell, e.g. WAPE by store x category, each cell labeled.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heatmap {
    pub title: String,
    pub row_label: String,
    pub col_label: String,
    pub value_label: String,
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    /// `values[r][c]`; NaN for an empty cell.
    #[serde(deserialize_with = "nan_rows")]
    pub values: Vec<Vec<f64>>,
}

/// White to dark red.
fn heat(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(lerp(255.0, 165.0), lerp(245.0, 15.0), lerp(235.0, 21.0))
}

impl Figure for Heatmap {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<Extent> {
        if self.values.len() != self.rows.len()
            || self.values.iter().any(|r| r.len() != self.cols.len())
        {
            return Err(PlotError::invalid_argument(
                "values",
                format!(
                    "need {} rows of {} values",
                    self.rows.len(),
                    self.cols.len()
                ),
            ));
        }
        let (lo, hi) = finite_range(self.values.iter().flatten()).unwrap_or((0.0, 1.0));
        let area = titled(root, &self.title)?;
        let x = (-0.5, self.cols.len() as f64 - 0.5);
        let y = (-0.5, self.rows.len() as f64 - 0.5);
        let scale = format!(
            "{}: {} (white) to {} (dark red)",
            self.value_label,
            number_label(lo),
            number_label(hi)
        );
        let mut plot = panel(&area, &scale, x, y, label_width(&self.rows))?;
        let cols = |v: &f64| category_label(&self.cols, *v);
        let rows = |v: &f64| category_label(&self.rows, *v);
        plot.configure_mesh()
            .disable_mesh()
            .x_label_formatter(&cols)
            .y_label_formatter(&rows)
            .x_labels(self.cols.len() + 1)
            .y_labels(self.rows.len() + 1)
            .x_desc(self.col_label.as_str())
            .y_desc(self.row_label.as_str())
            .label_style(font(12.0))
            .axis_desc_style(font(13.0))
            .draw()?;
        let span = if hi > lo { hi - lo } else { 1.0 };
        for (r, row) in self.values.iter().enumerate() {
            for (c, &v) in row.iter().enumerate() {
                let (cx, cy) = (c as f64, r as f64);
                let fill = if v.is_finite() {
                    heat((v - lo) / span)
                } else {
                    RGBColor(220, 220, 220)
                };
                plot.draw_series(std::iter::once(Rectangle::new(
                    [(cx - 0.5, cy - 0.5), (cx + 0.5, cy + 0.5)],
                    fill.filled(),
                )))?;
                let text = if v.is_finite() {
                    number_label(v)
                } else {
                    "n/a".into()
                };
                let dark = v.is_finite() && (v - lo) / span > 0.6;
                let style = font(11.0)
                    .color(if dark { &WHITE } else { &BLACK })
                    .pos(Pos::new(HPos::Center, VPos::Center));
                plot.draw_series(std::iter::once(Text::new(text, (cx, cy), style)))?;
            }
        }
        Ok(Extent { x: (lo, hi), y })
    }
}

// ----------------------------------------------------------------------------------- coverage

/// Empirical interval coverage by forecast step against each nominal level.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageChart {
    pub title: String,
    pub steps: Vec<f64>,
    /// (nominal level in percent, coverage in percent per step).
    #[serde(deserialize_with = "crate::json::nan_level_rows")]
    pub levels: Vec<(f64, Vec<f64>)>,
}

impl Figure for CoverageChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<Extent> {
        for (level, values) in &self.levels {
            if values.len() != self.steps.len() {
                return Err(PlotError::invalid_argument(
                    "levels",
                    format!(
                        "level {level}: {} values for {} steps",
                        values.len(),
                        self.steps.len()
                    ),
                ));
            }
        }
        let x = padded(finite_range(&self.steps), 0.02);
        let all = self
            .levels
            .iter()
            .flat_map(|(l, v)| v.iter().chain(std::iter::once(l)));
        let (lo, _) = finite_range(all).unwrap_or((0.0, 100.0));
        let y = ((lo - 5.0).max(0.0), 100.0);
        let area = titled(root, &self.title)?;
        let mut plot = panel(&area, "", x, y, 64)?;
        mesh(
            &mut plot,
            &|v| integer_label(*v),
            &|v| format!("{v:.0}%"),
            "forecast step",
            "actuals inside the interval",
        )?;
        for (i, (level, values)) in self.levels.iter().enumerate() {
            let color = series_color("", i);
            plot.draw_series(LineSeries::new(
                points(&self.steps, values),
                color.stroke_width(2),
            ))?
            .label(format!("{level}% interval"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
            plot.draw_series(
                points(&self.steps, values)
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )?;
            horizontal_rule(&mut plot, *level, x, color.stroke_width(1))?
        }
        plot.draw_series(std::iter::once(Text::new(
            "dashed: nominal level",
            (x.0 + (x.1 - x.0) * 0.02, y.0 + (y.1 - y.0) * 0.05),
            font(11.0),
        )))?;
        legend(&mut plot, SeriesLabelPosition::LowerRight)?;
        Ok(Extent { x, y })
    }
}

// ----------------------------------------------------------------------------------- optuna

/// An Optuna study: every trial's objective with the best so far, and parameter importance.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptunaChart {
    pub title: String,
    pub objective: String,
    pub minimize: bool,
    /// (trial number, objective value) of the completed trials.
    pub trials: Vec<(f64, f64)>,
    pub importance: Vec<(String, f64)>,
}

impl Figure for OptunaChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<Extent> {
        if self.trials.is_empty() {
            return Err(PlotError::invalid_argument("study", "no completed trials"));
        }
        let area = titled(root, &self.title)?;
        let (left, right) = if self.importance.is_empty() {
            (area.clone(), None)
        } else {
            let (l, r) = area.split_horizontally(area.dim_in_pixel().0 as f64 * 0.6);
            (l, Some(r))
        };
        let x = padded(finite_range(self.trials.iter().map(|t| &t.0)), 0.03);
        let y = padded(finite_range(self.trials.iter().map(|t| &t.1)), 0.08);
        let mut plot = panel(&left, "Optimization history", x, y, 70)?;
        mesh(
            &mut plot,
            &|v| integer_label(*v),
            &numbers,
            "trial",
            self.objective.as_str(),
        )?;
        plot.draw_series(
            self.trials
                .iter()
                .map(|&p| Circle::new(p, 3, theme::ENSEMBLE.mix(0.7).filled())),
        )?
        .label("trial")
        .legend(|(x, y)| Circle::new((x + 9, y), 3, theme::ENSEMBLE.filled()));
        let mut best = Vec::with_capacity(self.trials.len());
        let mut so_far = f64::NAN;
        for &(t, v) in &self.trials {
            let better = if self.minimize {
                v < so_far
            } else {
                v > so_far
            };
            if so_far.is_nan() || better {
                so_far = v;
            }
            best.push((t, so_far));
        }
        plot.draw_series(LineSeries::new(best, PALETTE_RED.stroke_width(2)))?
            .label("best so far")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], PALETTE_RED.stroke_width(3))
            });
        legend(&mut plot, SeriesLabelPosition::UpperRight)?;
        if let Some(right) = right {
            let style = BarStyle {
                sort: true,
                color: &|_, _| theme::ENSEMBLE,
                value_label: &number_label,
            };
            horizontal_bars(
                &right,
                "Parameter importance",
                &self.importance,
                "importance",
                &style,
            )?;
        }
        Ok(Extent { x, y })
    }
}
