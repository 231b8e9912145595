//! Drawing on RGB8 pixels with no font or plotting dependency: filled rectangles, images
//! blitted with integer nearest-neighbour upscaling, and text in a built-in bitmap font. The one
//! renderer behind every PNG pixveil draws for a person: the labelled contact sheets of
//! [`grid`](crate::grid), the attack panels of `pixveil-analysis` and the experiment bar chart
//! of `pixveil-ml`.
//!
//! The font is 5 × 7 pixels (with two descender rows, a 5 × 9 cell and a 6-pixel advance) for
//! ASCII 32–126, drawn for pixveil and scaled by an integer factor (one font pixel becomes
//! `scale × scale` output pixels). Characters outside ASCII are shown as a hollow box, except `×`
//! (drawn `x`) and the dashes `–`, `—`, `−` (drawn `-`).
//!
//! Coordinates are output pixels as `i64`, `x` right and `y` down from the top left corner;
//! drawing outside the canvas is clipped.
//!
//! Why not a plotting crate: `plotters` with its bitmap backend was measured as the
//! alternative (2026-11). It adds 14 crates, among them a second `image` (0.24) and `png` (0.17)
//! beside the workspace's, and draws no text without system fonts (`FontUnavailable`) unless a
//! TrueType font is registered, so a font file (≈ 760 KB for DejaVu Sans) would be embedded.
//! This renderer is about 240 lines of code plus the 54-line font sheet, pixel-exact and tested.
//!
//! ```
//! use pixveil_image::draw::{text_width, Canvas, CAP_H};
//!
//! # fn main() -> pixveil_image::Result<()> {
//! let mut c = Canvas::new(200, 40, [255, 255, 255])?;
//! c.fill_rect(0, 0, 200, 2, [40, 80, 160]);
//! c.text(4, 8, "original", 2, [33, 33, 33]);
//! assert_eq!(text_width("original", 2), 94);
//! assert_eq!(CAP_H, 7);
//! let (shape, rgb) = c.into_rgb()?;
//! assert_eq!(rgb.len(), shape.len());
//! # Ok(())
//! # }
//! ```

use std::path::Path;

use crate::{files, Error, Result, Shape};

/// Largest canvas side, in pixels.
pub const MAX_CANVAS_SIDE: u32 = 1 << 14;
/// Height of the font cell (7 rows above the baseline, 2 descender rows), in font pixels.
pub const CELL_H: i64 = GLYPH_H as i64;
/// Height of capitals and digits, in font pixels.
pub const CAP_H: i64 = 7;
/// Horizontal advance per character, in font pixels (5 columns and 1 of spacing).
pub const ADVANCE: i64 = 6;

/// Width in pixels of `n` characters at `scale` (no spacing after the last one).
pub fn text_width_n(n: usize, scale: i64) -> i64 {
    (n as i64 * ADVANCE - 1).max(0) * scale
}

/// Width in pixels of `s` drawn at `scale` (one advance per `char`).
pub fn text_width(s: &str, scale: i64) -> i64 {
    text_width_n(s.chars().count(), scale)
}

/// The first `max` characters of `s`.
pub fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// `s` if it fits in `max_px` pixels at `scale`, else as many leading characters as fit
/// followed by `..` (or as many as fit, when not even that does).
pub fn truncate(s: &str, max_px: i64, scale: i64) -> String {
    let fit = ((max_px / scale.max(1) + 1) / ADVANCE).max(0) as usize;
    if s.chars().nth(fit).is_none() {
        return s.to_owned();
    }
    if fit < 3 {
        return truncate_chars(s, fit);
    }
    let mut out: String = truncate_chars(s, fit - 2).trim_end().to_owned();
    out.push_str("..");
    out
}

/// An RGB8 image with clipped drawing: `height × width × 3` bytes, row-major, no padding.
#[derive(Debug, Clone, PartialEq)]
pub struct Canvas {
    width: i64,
    height: i64,
    px: Vec<u8>,
}

impl Canvas {
    /// A `width × height` canvas filled with `background`.
    ///
    /// # Errors
    /// [`Error::Parameter`] if a side is 0 or over [`MAX_CANVAS_SIDE`].
    pub fn new(width: u32, height: u32, background: [u8; 3]) -> Result<Canvas> {
        if !(1..=MAX_CANVAS_SIDE).contains(&width) || !(1..=MAX_CANVAS_SIDE).contains(&height) {
            return Err(Error::Parameter(format!(
                "canvas of {width}×{height} pixels: each side must be 1..={MAX_CANVAS_SIDE}"
            )));
        }
        Ok(Canvas {
            width: width.into(),
            height: height.into(),
            px: background.repeat(width as usize * height as usize),
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> i64 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> i64 {
        self.height
    }

    /// The pixel at `(x, y)`, or `None` outside the canvas.
    pub fn pixel(&self, x: i64, y: i64) -> Option<[u8; 3]> {
        if !(0..self.width).contains(&x) || !(0..self.height).contains(&y) {
            return None;
        }
        let at = ((y * self.width + x) * 3) as usize;
        self.px.get(at..at + 3).map(|p| [p[0], p[1], p[2]])
    }

    /// The pixels, `height × width × 3` bytes, and their shape.
    ///
    /// # Errors
    /// None in practice: the sides were checked by [`Canvas::new`].
    pub fn into_rgb(self) -> Result<(Shape, Vec<u8>)> {
        let side =
            |v: i64| u32::try_from(v).map_err(|_| Error::Parameter(format!("canvas side {v}")));
        let shape = Shape::new(side(self.height)?, side(self.width)?, 3)?;
        Ok((shape, self.px))
    }

    /// Saves the canvas as an RGB PNG at `path`, whatever its extension, atomically (a
    /// temporary file beside `path`, then a rename).
    ///
    /// # Errors
    /// [`Error::Io`] naming `path` if it cannot be written.
    pub fn save_png(self, path: &Path) -> Result<()> {
        let (shape, rgb) = self.into_rgb()?;
        files::write_png(path, &rgb, shape)
    }

    /// Fills the `w × h` rectangle whose top left corner is `(x, y)`.
    pub fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, colour: [u8; 3]) {
        let (x0, x1) = (x.max(0), (x + w).min(self.width));
        let (y0, y1) = (y.max(0), (y + h).min(self.height));
        for yy in y0..y1 {
            for xx in x0..x1 {
                let at = ((yy * self.width + xx) * 3) as usize;
                if let Some(p) = self.px.get_mut(at..at + 3) {
                    p.copy_from_slice(&colour);
                }
            }
        }
    }

    /// Draws `image` (`shape.len()` bytes, `H × W × C` with `C` 1 or 3) with its top left corner
    /// at `(x, y)`, each pixel as a `scale × scale` square (nearest-neighbour upscaling): an
    /// `H·scale × W·scale` block. Grey images are drawn grey (the value in R, G and B).
    ///
    /// # Errors
    /// [`Error::Parameter`] if `image` is not `shape.len()` bytes, `C` is not 1 or 3, or
    /// `scale` is 0.
    pub fn blit(&mut self, x: i64, y: i64, image: &[u8], shape: Shape, scale: i64) -> Result<()> {
        let (h, w, c) = (shape.height(), shape.width(), shape.channels());
        if image.len() != shape.len() || !(c == 1 || c == 3) || scale < 1 {
            return Err(Error::Parameter(format!(
                "blit: {} bytes for a {shape} image at scale {scale} (need {} bytes, 1 or 3 \
                 channels, scale ≥ 1)",
                image.len(),
                shape.len()
            )));
        }
        for (sy, row) in image.chunks_exact(w * c).enumerate().take(h) {
            for (sx, p) in row.chunks_exact(c).enumerate() {
                let rgb = if c == 1 {
                    [p[0]; 3]
                } else {
                    [p[0], p[1], p[2]]
                };
                self.fill_rect(
                    x + sx as i64 * scale,
                    y + sy as i64 * scale,
                    scale,
                    scale,
                    rgb,
                );
            }
        }
        Ok(())
    }

    /// Draws `s` left to right with the top left of its first cell at `(x, y)`; capitals span
    /// rows `y..y + CAP_H·scale`.
    pub fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, colour: [u8; 3]) {
        self.glyphs(s, |r, tx| (x + tx * scale, y + r * scale), scale, colour);
    }

    /// Draws `s` rotated a quarter turn anticlockwise (read bottom to top), the left of its
    /// cells (the tops of the glyphs) at column `x` and the start of the text at row `y`.
    pub fn text_up(&mut self, x: i64, y: i64, s: &str, scale: i64, colour: [u8; 3]) {
        self.glyphs(
            s,
            |r, tx| (x + r * scale, y - (tx + 1) * scale),
            scale,
            colour,
        );
    }

    /// Draws each set font pixel of `s`, at row `r` of its cell and column `tx` of the text,
    /// as a `scale × scale` square whose top left is `at(r, tx)`.
    fn glyphs(
        &mut self,
        s: &str,
        at: impl Fn(i64, i64) -> (i64, i64),
        scale: i64,
        colour: [u8; 3],
    ) {
        for (i, ch) in s.chars().enumerate() {
            for (r, bits) in glyph(ch).iter().enumerate() {
                for col in 0..5 {
                    if bits >> (4 - col) & 1 == 1 {
                        let (px, py) = at(r as i64, i as i64 * ADVANCE + col);
                        self.fill_rect(px, py, scale, scale, colour);
                    }
                }
            }
        }
    }
}

/// The rows of `ch`'s glyph, top first; bit 4 is the leftmost column.
fn glyph(ch: char) -> &'static [u8; GLYPH_H] {
    let ch = match ch {
        '×' => 'x',
        '–' | '—' | '−' => '-',
        c => c,
    };
    let i = match ch {
        ' '..='~' => ch as usize - 32,
        _ => 95, // a hollow box
    };
    &FONT[i.min(95)]
}

/// Rows per glyph: 7 above the baseline (capitals and digits), 2 for descenders.
const GLYPH_H: usize = 9;
/// Characters per line of [`FONT_SHEET`].
const SHEET_LINE: usize = 16 * 6 - 1;

/// The font, drawn for pixveil: ASCII 32–126 then a hollow box for everything else, 16 glyphs
/// of 5 × 9 pixels per band of nine lines (`#` set, `.` clear, glyphs separated by a space).
/// Parsed and checked at compile time into [`FONT`].
#[rustfmt::skip]
const FONT_SHEET: [&str; 6 * GLYPH_H] = [
    // SP    !     "     #     $     %     &     '     (     )     *     +     ,     -     .     /
    "..... ..#.. .#.#. .#.#. ..#.. ##... .##.. ..#.. ...#. .#... ..... ..... ..... ..... ..... ....#",
    "..... ..#.. .#.#. .#.#. .#### ##..# #..#. ..#.. ..#.. ..#.. ..#.. ..#.. ..... ..... ..... ...#.",
    "..... ..#.. .#.#. ##### #.#.. ...#. #.#.. ..#.. .#... ...#. #.#.# ..#.. ..... ..... ..... ...#.",
    "..... ..#.. ..... .#.#. .###. ..#.. .#... ..... .#... ...#. .###. ##### ..... .###. ..... ..#..",
    "..... ..#.. ..... ##### ..#.# .#... #.#.# ..... .#... ...#. #.#.# ..#.. ..... ..... ..... .#...",
    "..... ..... ..... .#.#. ####. #..## #..#. ..... ..#.. ..#.. ..#.. ..#.. .##.. ..... .##.. .#...",
    "..... ..#.. ..... .#.#. ..#.. ...## .##.# ..... ...#. .#... ..... ..... .##.. ..... .##.. #....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..#.. ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .#... ..... ..... .....",
    // 0     1     2     3     4     5     6     7     8     9     :     ;     <     =     >     ?
    ".###. ..#.. .###. ##### ...#. ##### ..##. ##### .###. .###. ..... ..... ...#. ..... .#... .###.",
    "#...# .##.. #...# ...#. ..##. #.... .#... ....# #...# #...# .##.. .##.. ..#.. ..... ..#.. #...#",
    "#..## ..#.. ....# ..#.. .#.#. ####. #.... ...#. #...# #...# .##.. .##.. .#... ##### ...#. ....#",
    "#.#.# ..#.. ...#. ...#. #..#. ....# ####. ..#.. .###. .#### ..... ..... #.... ..... ....# ...#.",
    "##..# ..#.. ..#.. ....# ##### ....# #...# .#... #...# ....# .##.. .##.. .#... ##### ...#. ..#..",
    "#...# ..#.. .#... #...# ...#. #...# #...# .#... #...# ...#. .##.. .##.. ..#.. ..... ..#.. .....",
    ".###. .###. ##### .###. ...#. .###. .###. .#... .###. .##.. ..... ..#.. ...#. ..... .#... ..#..",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .#... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    // @     A     B     C     D     E     F     G     H     I     J     K     L     M     N     O
    ".###. .###. ####. .###. ###.. ##### ##### .###. #...# .###. ..### #...# #.... #...# #...# .###.",
    "#...# #...# #...# #...# #..#. #.... #.... #...# #...# ..#.. ...#. #..#. #.... ##.## #...# #...#",
    "#.### #...# #...# #.... #...# #.... #.... #.... #...# ..#.. ...#. #.#.. #.... #.#.# ##..# #...#",
    "#.#.# ##### ####. #.... #...# ####. ####. #.### ##### ..#.. ...#. ##... #.... #.#.# #.#.# #...#",
    "#.### #...# #...# #.... #...# #.... #.... #...# #...# ..#.. ...#. #.#.. #.... #...# #..## #...#",
    "#.... #...# #...# #...# #..#. #.... #.... #...# #...# ..#.. #..#. #..#. #.... #...# #...# #...#",
    ".###. #...# ####. .###. ###.. ##### #.... .#### #...# .###. .##.. #...# ##### #...# #...# .###.",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    // P     Q     R     S     T     U     V     W     X     Y     Z     [     \     ]     ^     _
    "####. .###. ####. .#### ##### #...# #...# #...# #...# #...# ##### .###. #.... .###. ..#.. .....",
    "#...# #...# #...# #.... ..#.. #...# #...# #...# #...# #...# ....# .#... .#... ...#. .#.#. .....",
    "#...# #...# #...# #.... ..#.. #...# #...# #...# .#.#. .#.#. ...#. .#... .#... ...#. #...# .....",
    "####. #...# ####. .###. ..#.. #...# #...# #.#.# ..#.. ..#.. ..#.. .#... ..#.. ...#. ..... .....",
    "#.... #.#.# #.#.. ....# ..#.. #...# #...# #.#.# .#.#. ..#.. .#... .#... ...#. ...#. ..... .....",
    "#.... #..#. #..#. ....# ..#.. #...# .#.#. #.#.# #...# ..#.. #.... .#... ...#. ...#. ..... .....",
    "#.... .##.# #...# ####. ..#.. .###. ..#.. .#.#. #...# ..#.. ##### .###. ....# .###. ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... #####",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    // `     a     b     c     d     e     f     g     h     i     j     k     l     m     n     o
    ".#... ..... #.... ..... ....# ..... ..##. ..... #.... ..#.. ...#. #.... .##.. ..... ..... .....",
    "..#.. ..... #.... ..... ....# ..... .#..# ..... #.... ..... ..... #.... ..#.. ..... ..... .....",
    "...#. .###. #.##. .###. .##.# .###. .#... .#### #.##. .##.. ..##. #..#. ..#.. ##.#. #.##. .###.",
    "..... ....# ##..# #.... #..## #...# ###.. #...# ##..# ..#.. ...#. #.#.. ..#.. #.#.# ##..# #...#",
    "..... .#### #...# #.... #...# ##### .#... #...# #...# ..#.. ...#. ##... ..#.. #.#.# #...# #...#",
    "..... #...# #...# #...# #...# #.... .#... #...# #...# ..#.. ...#. #.#.. ..#.. #.#.# #...# #...#",
    "..... .#### ####. .###. .#### .###. .#... .#### #...# .###. ...#. #..#. .###. #.#.# #...# .###.",
    "..... ..... ..... ..... ..... ..... ..... ....# ..... ..... #..#. ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... .###. ..... ..... .##.. ..... ..... ..... ..... .....",
    // p     q     r     s     t     u     v     w     x     y     z     {     |     }     ~     ▯
    "..... ..... ..... ..... .#... ..... ..... ..... ..... ..... ..... ...## ..#.. ##... ..... #####",
    "..... ..... ..... ..... .#... ..... ..... ..... ..... ..... ..... ..#.. ..#.. ..#.. ..... #...#",
    "####. .#### #.##. .#### ####. #...# #...# #...# #...# #...# ##### ..#.. ..#.. ..#.. .#... #...#",
    "#...# #...# ##..# #.... .#... #...# #...# #...# .#.#. #...# ...#. .#... ..#.. ...#. #.#.# #...#",
    "#...# #...# #.... .###. .#... #...# #...# #.#.# ..#.. #...# ..#.. ..#.. ..#.. ..#.. ...#. #...#",
    "#...# #...# #.... ....# .#..# #..## .#.#. #.#.# .#.#. #...# .#... ..#.. ..#.. ..#.. ..... #...#",
    "####. .#### #.... ####. ..##. .##.# ..#.. .#.#. #...# .#### ##### ...## ..#.. ##... ..... #####",
    "#.... ....# ..... ..... ..... ..... ..... ..... ..... ....# ..... ..... ..#.. ..... ..... .....",
    "#.... ....# ..... ..... ..... ..... ..... ..... ..... .###. ..... ..... ..... ..... ..... .....",
];

/// [`FONT_SHEET`] as bit rows: `FONT[c - 32][row]`, bit 4 the leftmost column.
const FONT: [[u8; GLYPH_H]; 96] = parse_font(&FONT_SHEET);

const fn parse_font(sheet: &[&str; 6 * GLYPH_H]) -> [[u8; GLYPH_H]; 96] {
    let mut font = [[0u8; GLYPH_H]; 96];
    let mut line = 0;
    while line < sheet.len() {
        let bytes = sheet[line].as_bytes();
        assert!(
            bytes.len() == SHEET_LINE,
            "font sheet: line of wrong length"
        );
        let (band, row) = (line / GLYPH_H, line % GLYPH_H);
        let mut k = 0;
        while k < 16 {
            let mut bits = 0u8;
            let mut col = 0;
            while col < 5 {
                let b = bytes[k * 6 + col];
                assert!(b == b'#' || b == b'.', "font sheet: pixel neither # nor .");
                bits = bits << 1 | (b == b'#') as u8;
                col += 1;
            }
            assert!(
                k == 15 || bytes[k * 6 + 5] == b' ',
                "font sheet: missing separator"
            );
            font[band * 16 + k][row] = bits;
            k += 1;
        }
        line += 1;
    }
    font
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn font_glyphs_are_distinct_and_visible() {
        let mut seen = std::collections::HashSet::new();
        for (i, g) in FONT.iter().enumerate() {
            assert!(seen.insert(*g), "glyph {i} repeats another");
            assert_eq!(g.iter().any(|r| *r != 0), i != 0, "glyph {i}");
            assert!(g.iter().all(|r| *r < 32));
        }
        assert_eq!(glyph('A'), &FONT[33]);
        assert_eq!(glyph('×'), glyph('x'));
        assert_eq!(glyph('—'), glyph('-'));
        assert_eq!(glyph('é'), &FONT[95]);
        // 'T': full top bar, then the stem in the middle column
        assert_eq!(glyph('T')[0], 0b11111);
        assert_eq!(glyph('T')[3], 0b00100);
        // descenders use the last two rows, capitals do not
        assert_ne!(glyph('g')[8], 0);
        assert_eq!(glyph('G')[7..], [0, 0]);
    }

    #[test]
    fn truncation() {
        // 5 characters at scale 2 take 58 pixels
        assert_eq!(truncate("abcde", 58, 2), "abcde");
        assert_eq!(truncate("abcdef", 58, 2), "abc..");
        assert_eq!(truncate("ab  cdef", 58, 2), "ab..");
        assert_eq!(truncate("abcdef", 20, 2), "a");
        assert_eq!(truncate("", 0, 2), "");
        assert_eq!(text_width("", 2), 0);
    }

    #[test]
    fn text_blit_and_clipping() {
        let mut c = Canvas::new(20, 12, [255; 3]).unwrap();
        c.text(0, 0, "T", 1, [1, 2, 3]);
        assert_eq!(c.pixel(0, 0), Some([1, 2, 3])); // top bar of 'T'
        assert_eq!(c.pixel(0, 1), Some([255; 3]));
        assert_eq!(c.pixel(2, 6), Some([1, 2, 3])); // stem
        c.text(18, 10, "WWW", 3, [0; 3]); // mostly outside: clipped, no panic
        assert_eq!(c.pixel(20, 0), None);
        let grey = Shape::new(2, 2, 1).unwrap();
        c.blit(10, 0, &[10, 20, 30, 40], grey, 2).unwrap();
        assert_eq!(c.pixel(11, 1), Some([10; 3]));
        assert_eq!(c.pixel(12, 0), Some([20; 3]));
        assert_eq!(c.pixel(13, 3), Some([40; 3]));
        assert!(c.blit(0, 0, &[1, 2, 3], grey, 1).is_err());
        assert!(c.blit(0, 0, &[1, 2, 3, 4], grey, 0).is_err());
        let (shape, px) = c.into_rgb().unwrap();
        assert_eq!(
            (shape.height(), shape.width(), px.len()),
            (12, 20, 12 * 20 * 3)
        );
        assert!(Canvas::new(0, 1, [0; 3]).is_err());
        assert!(Canvas::new(1, MAX_CANVAS_SIDE + 1, [0; 3]).is_err());
    }
}
