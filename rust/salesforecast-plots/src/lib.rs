//! Charts of forecasts, backtests, residuals and model comparisons, as PNG or SVG bytes.
//!
//! Drawn with plotters; text uses a bundled DejaVu Sans, so charts render the same on a machine
//! without any fonts installed. Every chart is a plain data struct implementing [`Figure`];
//! [`render`] draws it on a canvas of the requested size and format and reports the data extent
//! of its main panel, so callers (and tests) can check what the axes cover.

mod charts;
mod json;
mod text;
mod theme;

pub use charts::{
    BacktestChart, Band, ComparisonChart, CoverageChart, ForecastChart, Heatmap, ImportanceChart,
    Line, OptunaChart, ResidualPanel, WeightsChart,
};
pub use json::{render_json, KINDS};

use plotters::coord::Shift;
use plotters::prelude::*;

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("invalid argument `{field}`: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("drawing failed: {0}")]
    Drawing(String),
    #[error("PNG encoding failed: {0}")]
    Encoding(String),
}

impl PlotError {
    pub fn invalid_argument(field: &str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for PlotError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        Self::Drawing(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, PlotError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

impl std::str::FromStr for Format {
    type Err = PlotError;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "png" => Ok(Self::Png),
            "svg" => Ok(Self::Svg),
            other => Err(PlotError::invalid_argument(
                "format",
                format!("{other:?} is neither \"png\" nor \"svg\""),
            )),
        }
    }
}

/// Size in pixels and output format of a chart.
#[derive(Debug, Clone, Copy)]
pub struct Canvas {
    pub width: u32,
    pub height: u32,
    pub format: Format,
}

/// The data ranges the main panel's axes cover, as drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extent {
    pub x: (f64, f64),
    pub y: (f64, f64),
}

/// Encoded chart and the extent of its main panel.
#[derive(Debug, Clone)]
pub struct Chart {
    pub bytes: Vec<u8>,
    pub extent: Extent,
}

/// A chart's data and how to draw it on any plotters backend.
pub trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<Extent>;
}

const MIN_SIDE: u32 = 200;
const MAX_SIDE: u32 = 8000;

/// Draws `figure` on a white canvas and encodes it.
pub fn render(figure: &impl Figure, canvas: Canvas) -> Result<Chart> {
    for (name, side) in [("width", canvas.width), ("height", canvas.height)] {
        if !(MIN_SIDE..=MAX_SIDE).contains(&side) {
            return Err(PlotError::invalid_argument(
                name,
                format!("{side} px is outside {MIN_SIDE}..={MAX_SIDE}"),
            ));
        }
    }
    theme::register_fonts()?;
    let size = (canvas.width, canvas.height);
    match canvas.format {
        Format::Svg => {
            let mut text = String::new();
            let extent = {
                let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
                root.fill(&WHITE)?;
                let extent = figure.draw(&root)?;
                root.present()?;
                extent
            };
            Ok(Chart {
                bytes: text.into_bytes(),
                extent,
            })
        }
        Format::Png => {
            let mut rgb = vec![0u8; canvas.width as usize * canvas.height as usize * 3];
            let extent = {
                // plotters' own glyph drawing drops side bearings (see `text`).
                let root =
                    text::Typeset(BitMapBackend::with_buffer(&mut rgb, size)).into_drawing_area();
                root.fill(&WHITE)?;
                let extent = figure.draw(&root)?;
                root.present()?;
                extent
            };
            Ok(Chart {
                bytes: encode_png(&rgb, canvas.width, canvas.height)?,
                extent,
            })
        }
    }
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .map_err(|e| PlotError::Encoding(e.to_string()))?;
    writer
        .write_image_data(rgb)
        .map_err(|e| PlotError::Encoding(e.to_string()))?;
    writer
        .finish()
        .map_err(|e| PlotError::Encoding(e.to_string()))?;
    Ok(out)
}
