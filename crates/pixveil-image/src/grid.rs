//! Contact sheets: several batches side by side in one PNG, e.g. "plain vs encrypted", each
//! row under a label band naming it.

use std::path::Path;

use crate::draw::{self, Canvas};
use crate::{files, Error, ImageBatch, Result, Shape};

/// Width of the separators between cells and around the sheet, in output pixels.
pub const SEPARATOR: usize = 2;
/// Colour of the separators (RGB): a mid blue, distinct from grey images.
pub const SEPARATOR_RGB: [u8; 3] = [40, 80, 160];
/// Largest accepted sheet side, in pixels.
pub const MAX_GRID_SIDE: usize = 1 << 14;
/// Scale of the row labels ([`draw`] font pixels per output pixel side).
pub const LABEL_SCALE: i64 = 2;
/// Height of the label band above each row of cells, in output pixels: a line of text at
/// [`LABEL_SCALE`] (descenders included) and [`LABEL_PAD`] above and below it.
pub const LABEL_BAND: usize = (draw::CELL_H * LABEL_SCALE + 2 * LABEL_PAD) as usize;
/// Space above and below a row label, and before it, in output pixels.
pub const LABEL_PAD: i64 = 4;
/// Background of the label bands (RGB): white.
pub const LABEL_BACKGROUND: [u8; 3] = [255, 255, 255];
/// Colour of the label text (RGB): near black.
pub const LABEL_RGB: [u8; 3] = [33, 33, 33];

/// Saves an RGB PNG with one row per batch, in the order given: row `r` is a [`LABEL_BAND`]-high
/// band with the label `rows[r].0` (white, dark text, truncated with `..` to the sheet width),
/// then the first `per_row` images of `rows[r].1`, each upscaled by `scale` with nearest
/// neighbour. Grey images are drawn as grey (the value repeated in R, G and B).
///
/// Every cell has the size of the largest image (times `scale`); smaller images sit in the top
/// left corner of their cell, and missing images (a batch shorter than `per_row`) leave the cell
/// black. Cells and rows are separated, and the sheet framed, by [`SEPARATOR`]-pixel lines of
/// [`SEPARATOR_RGB`]. The write is atomic.
///
/// # Shapes
/// Output: `R·(LABEL_BAND + h·scale) + (R+1)·2` pixels high and `per_row·(w·scale) +
/// (per_row+1)·2` wide, `h`, `w` the largest image sides, `R = rows.len()`.
///
/// # Errors
/// [`Error::Parameter`] if `rows` is empty, `per_row` or `scale` is 0, or the sheet would exceed
/// [`MAX_GRID_SIDE`]; [`Error::Io`] naming `path` if it cannot be written.
pub fn save_grid(
    rows: &[(&str, &ImageBatch)],
    per_row: usize,
    scale: u32,
    path: &Path,
) -> Result<()> {
    let (shape, rgb) = render_grid(rows, per_row, scale)?;
    files::write_png(path, &rgb, shape).map_err(|e| match e {
        Error::Io { .. } => e,
        other => Error::Parameter(format!("grid {}: {other}", path.display())),
    })?;
    Ok(())
}

/// Renders the sheet of [`save_grid`] as `H × W × 3` bytes.
fn render_grid(
    rows: &[(&str, &ImageBatch)],
    per_row: usize,
    scale: u32,
) -> Result<(Shape, Vec<u8>)> {
    if rows.is_empty() || per_row == 0 || scale == 0 {
        return Err(Error::Parameter(
            "a grid needs at least one row, per_row ≥ 1 and scale ≥ 1".into(),
        ));
    }
    let scale = scale as usize;
    let too_big = || Error::Parameter(format!("grid would exceed {MAX_GRID_SIDE} pixels a side"));
    let cell_h = rows
        .iter()
        .map(|(_, b)| b.shape().height())
        .max()
        .expect("rows is not empty (checked above)");
    let cell_w = rows
        .iter()
        .map(|(_, b)| b.shape().width())
        .max()
        .expect("rows is not empty (checked above)");
    let side = |cells: usize, cell: usize| -> Option<usize> {
        cells
            .checked_mul(cell)?
            .checked_add(cells.checked_add(1)?.checked_mul(SEPARATOR)?)
            .filter(|s| *s <= MAX_GRID_SIDE)
    };
    let row_h = cell_h
        .checked_mul(scale)
        .and_then(|h| h.checked_add(LABEL_BAND))
        .ok_or_else(too_big)?;
    let height = side(rows.len(), row_h).ok_or_else(too_big)?;
    let width =
        side(per_row, cell_w.checked_mul(scale).ok_or_else(too_big)?).ok_or_else(too_big)?;
    let as_u32 = |v: usize| u32::try_from(v).map_err(|_| too_big());
    let mut canvas = Canvas::new(as_u32(width)?, as_u32(height)?, SEPARATOR_RGB)?;
    // Every side below is at most MAX_GRID_SIDE (checked above): the casts to i64 are exact.
    let (sep, band, scale) = (SEPARATOR as i64, LABEL_BAND as i64, scale as i64);
    let (cell_h, cell_w, row_h) = (cell_h as i64 * scale, cell_w as i64 * scale, row_h as i64);
    let inner_w = width as i64 - 2 * sep;
    for (r, (label, batch)) in rows.iter().enumerate() {
        let y0 = sep + r as i64 * (row_h + sep);
        canvas.fill_rect(sep, y0, inner_w, band, LABEL_BACKGROUND);
        let text = draw::truncate(label, inner_w - 2 * LABEL_PAD, LABEL_SCALE);
        canvas.text(
            sep + LABEL_PAD,
            y0 + LABEL_PAD,
            &text,
            LABEL_SCALE,
            LABEL_RGB,
        );
        for col in 0..per_row {
            let x0 = sep + col as i64 * (cell_w + sep);
            canvas.fill_rect(x0, y0 + band, cell_w, cell_h, [0; 3]);
            if let Some(img) = batch.image(col) {
                canvas.blit(x0, y0 + band, img, batch.shape(), scale)?;
            }
        }
    }
    canvas.into_rgb()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_scaling_and_grey() {
        let grey = ImageBatch::new(
            Shape::new(2, 2, 1).unwrap(),
            vec![10, 20, 30, 40, 50, 60, 70, 80],
        )
        .unwrap();
        let rgb = ImageBatch::new(Shape::new(1, 1, 3).unwrap(), vec![1, 2, 3]).unwrap();
        let (shape, px) = render_grid(&[("plain", &grey), ("enc", &rgb)], 2, 3).unwrap();
        // Cells 6×6 under a label band, 2 rows, 2 columns, 2-px separators.
        let b = LABEL_BAND;
        assert_eq!(
            (shape.height(), shape.width()),
            (2 * (b + 6) + 3 * 2, 2 * 6 + 3 * 2)
        );
        let at = |y: usize, x: usize| &px[(y * shape.width() + x) * 3..][..3];
        assert_eq!(at(0, 0), SEPARATOR_RGB);
        assert_eq!(at(2, 2), LABEL_BACKGROUND); // left of the label text
        assert_eq!(at(b + 2, 2), [10, 10, 10]);
        assert_eq!(at(b + 4, 4), [10, 10, 10]);
        assert_eq!(at(b + 5, 5), [40, 40, 40]);
        assert_eq!(at(b + 2, 10), [50, 50, 50]); // second image of row 0
        let r1 = b + 6 + 2; // first row of the second row's cells, after its band
        assert_eq!(at(r1 + b + 2, 2), [1, 2, 3]); // row 1, scaled 1×1 RGB image
        assert_eq!(at(r1 + b + 5, 5), [0, 0, 0]); // outside the smaller image
        assert_eq!(at(r1 + b + 2, 10), [0, 0, 0]); // batch has only one image
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("grid.png");
        save_grid(&[("plain", &grey), ("enc", &rgb)], 2, 3, &p).unwrap();
        let back = crate::files::read_image(&p).unwrap();
        assert_eq!(back.as_bytes(), &px[..]);
    }

    /// Text pixels in the label band of row `r` (of `rows` rows, cells `cell` pixels high).
    fn label_pixels(shape: Shape, px: &[u8], r: usize, cell: usize) -> usize {
        let y0 = SEPARATOR + r * (LABEL_BAND + cell + SEPARATOR);
        (y0..y0 + LABEL_BAND)
            .flat_map(|y| (SEPARATOR..shape.width() - SEPARATOR).map(move |x| (y, x)))
            .filter(|&(y, x)| px[(y * shape.width() + x) * 3..][..3] == LABEL_RGB)
            .count()
    }

    #[test]
    fn every_row_has_its_label() {
        let b = ImageBatch::zeros(Shape::new(28, 28, 1).unwrap(), 8);
        let rows = [("plain", &b), ("pe, fixed key", &b), ("", &b)];
        let (shape, px) = render_grid(&rows, 8, 3).unwrap();
        // The band adds LABEL_BAND pixels per row to the unlabelled layout.
        assert_eq!(shape.height(), 3 * (LABEL_BAND + 84) + 4 * SEPARATOR);
        // Text where a label is given, a longer label has more ink, none for an empty label.
        let ink: Vec<usize> = (0..3).map(|r| label_pixels(shape, &px, r, 84)).collect();
        assert!(ink[0] > 0 && ink[1] > ink[0], "{ink:?}");
        assert_eq!(ink[2], 0);
        // A label too long for the sheet is cut, not drawn past the frame.
        let long = "x".repeat(500);
        let (shape, px) = render_grid(&[(long.as_str(), &b)], 1, 1).unwrap();
        let right = shape.width() - SEPARATOR;
        for y in 0..shape.height() {
            assert_eq!(&px[(y * shape.width() + right) * 3..][..3], SEPARATOR_RGB);
        }
    }

    #[test]
    fn bad_parameters() {
        let b = ImageBatch::zeros(Shape::new(28, 28, 1).unwrap(), 1);
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("g.png");
        assert!(save_grid(&[], 1, 1, &p).is_err());
        assert!(save_grid(&[("a", &b)], 0, 1, &p).is_err());
        assert!(save_grid(&[("a", &b)], 1, 0, &p).is_err());
        assert!(save_grid(&[("a", &b)], 1000, 1000, &p).is_err());
        let e = save_grid(&[("a", &b)], 1, 1, &d.path().join("x/g.png")).unwrap_err();
        assert!(matches!(e, Error::Io { .. }));
        assert!(!p.exists());
    }
}
