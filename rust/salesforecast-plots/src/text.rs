//! Text on raster canvases, each glyph where the font puts it.
//!
//! plotters 0.3.7 (feature `ab_glyph`) lays text out right (advances and kerning) but draws each
//! glyph's outline with its left ink edge on the pen position, dropping the glyph's left side
//! bearing (the whole pixels of it: ab_glyph reports the outline relative to its floored pixel
//! bounds). A glyph with a wide bearing is drawn that much too far left: DejaVu Sans's "1"
//! (bearing 225/2048 em, over a pixel at 12 px, where the other digits' are under one) touches the
//! glyph before it and leaves a gap after it, "2023-1 0-1 0". [`Typeset`] draws the text of a
//! raster backend itself, with the same layout box and anchoring as plotters, each glyph outlined
//! at its pen position so its ink lands at its bearing, to the sub-pixel. The SVG backend writes
//! `<text>` elements and needs none of this.

use ab_glyph::{point, Font, GlyphId, ScaleFont};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

use crate::theme;

/// A raster backend whose text in the bundled font is drawn by [`glyph_coverage`]; everything
/// else (and text in any other font) is left to the backend it wraps.
pub struct Typeset<DB>(pub DB);

/// Calls `pixel(x, y, coverage)` for the pixels the glyphs of `text` cover at `size` px (ab_glyph's
/// scale, as plotters uses it), the pen starting at x = 0 and the baseline at y = `size / 2`,
/// where plotters puts it. The pen advances by each glyph's advance plus kerning, as in plotters'
/// layout box.
pub fn glyph_coverage(
    font: &impl Font,
    size: f32,
    text: &str,
    mut pixel: impl FnMut(i32, i32, f32),
) {
    let font = font.as_scaled(size);
    let mut caret = 0.0_f32;
    let mut previous: Option<GlyphId> = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(previous) = previous {
            caret += font.kern(previous, id);
        }
        let glyph = id.with_scale_and_position(size, point(caret, size / 2.0));
        if let Some(outline) = font.outline_glyph(glyph) {
            // Outline pixels are relative to the glyph's pixel bounds, which start at its bearing.
            let bounds = outline.px_bounds();
            let (x0, y0) = (bounds.min.x as i32, bounds.min.y as i32);
            outline.draw(|x, y, coverage| pixel(x0 + x as i32, y0 + y as i32, coverage));
        }
        caret += font.h_advance(id);
        previous = Some(id);
    }
}

impl<DB: DrawingBackend> DrawingBackend for Typeset<DB> {
    type ErrorType = DB::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        self.0.estimate_text_size(text, style)
    }

    /// plotters' default text drawing (anchor from the layout box, then the font transform, then
    /// clipping to the canvas) with the glyphs from [`glyph_coverage`].
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let Some(face) = theme::face(style.family().as_str(), style.style()) else {
            return self.0.draw_text(text, style, pos);
        };
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let ((min_x, min_y), (max_x, max_y)) = style
            .layout_box(text)
            .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let (width, height) = (max_x - min_x, max_y - min_y);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let (w, h) = self.0.get_size();
        let mut result = Ok(());
        glyph_coverage(face, style.size() as f32, text, |x, y, coverage| {
            if result.is_err() || coverage <= 0.0 {
                return;
            }
            let (x, y) = transform.transform(x + dx - min_x, y + dy - min_y);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && x < w as i32 && y >= 0 && y < h as i32 {
                let alpha = color.alpha * f64::from(coverage.min(1.0));
                result = self.0.draw_pixel((x, y), BackendColor { alpha, ..color });
            }
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use plotters::coord::Shift;
    use plotters::prelude::*;
    use plotters::style::FontStyle;

    use super::*;
    use crate::{render, Canvas, Extent, Figure, Format};

    const ORIGIN: (i32, i32) = (20, 40);

    /// `text` in the chart font at `size` px, anchored left-top at [`ORIGIN`].
    struct Label {
        text: &'static str,
        size: f64,
    }

    impl Figure for Label {
        fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> crate::Result<Extent> {
            root.draw_text(self.text, &theme::font(self.size), ORIGIN)?;
            Ok(Extent {
                x: (0.0, 1.0),
                y: (0.0, 1.0),
            })
        }
    }

    /// The columns of a PNG rendering of `label` with any ink (any pixel not white).
    fn inked_columns(label: &Label) -> Vec<bool> {
        let canvas = Canvas {
            width: 400,
            height: 200,
            format: Format::Png,
        };
        let png = render(label, canvas).unwrap().bytes;
        let mut reader = png::Decoder::new(&png[..]).read_info().unwrap();
        let mut rgb = vec![0; reader.output_buffer_size()];
        let frame = reader.next_frame(&mut rgb).unwrap();
        let (width, height) = (frame.width as usize, frame.height as usize);
        (0..width)
            .map(|x| (0..height).any(|y| rgb[(y * width + x) * 3..][..3] != [255, 255, 255]))
            .collect()
    }

    /// First column of each run of inked columns.
    fn ink_starts(columns: &[bool]) -> Vec<usize> {
        (0..columns.len())
            .filter(|&x| columns[x] && (x == 0 || !columns[x - 1]))
            .collect()
    }

    /// Where the font puts each glyph's left ink edge: pen position (advances and kerning) plus
    /// left side bearing.
    fn expected_ink_starts(text: &str, size: f32) -> Vec<f32> {
        let font = theme::face(theme::FAMILY, FontStyle::Normal)
            .unwrap()
            .as_scaled(size);
        let mut caret = 0.0;
        let mut previous: Option<GlyphId> = None;
        text.chars()
            .map(|c| {
                let id = font.glyph_id(c);
                if let Some(previous) = previous {
                    caret += font.kern(previous, id);
                }
                previous = Some(id);
                let start = ORIGIN.0 as f32 + caret + font.h_side_bearing(id);
                caret += font.h_advance(id);
                start
            })
            .collect()
    }

    #[test]
    fn every_glyph_sits_at_its_side_bearing() {
        // Large enough for blank columns between all glyphs, so each run of ink is one glyph.
        let text = "2023-10-10";
        let size = 40.0;
        let found = ink_starts(&inked_columns(&Label { text, size }));
        let expected = expected_ink_starts(text, size as f32);
        assert_eq!(found.len(), expected.len(), "ink runs {found:?}");
        for ((c, &x), &want) in text.chars().zip(&found).zip(&expected) {
            assert!(
                (x as f32 - want).abs() <= 1.0,
                "{c:?} ink starts at column {x}, the font puts it at {want:.2} ({found:?})",
            );
        }
    }

    #[test]
    fn a_one_at_tick_label_size_keeps_its_bearing() {
        // At 12 px the bearing of "1" is 1.13 px: its ink starts in the pen's next column, not
        // in the pen's own (which left a gap after every "1").
        let found = ink_starts(&inked_columns(&Label {
            text: "1",
            size: 12.0,
        }));
        let want = expected_ink_starts("1", 12.0)[0];
        assert!(want - ORIGIN.0 as f32 > 1.0);
        assert_eq!(found, vec![want.floor() as usize]);
    }
}
