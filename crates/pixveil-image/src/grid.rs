//! Contact sheets: several batches side by side in one PNG, e.g. "plain vs encrypted".

use std::path::Path;

use crate::{files, Error, ImageBatch, Result, Shape};

/// Width of the separators between cells and around the sheet, in output pixels.
pub const SEPARATOR: usize = 2;
/// Colour of the separators (RGB): a mid blue, distinct from grey images.
pub const SEPARATOR_RGB: [u8; 3] = [40, 80, 160];
/// Largest accepted sheet side, in pixels.
pub const MAX_GRID_SIDE: usize = 1 << 14;

/// Saves an RGB PNG with one row per batch, in the order given: row `r` shows the first
/// `per_row` images of `rows[r].1`, each upscaled by `scale` with nearest neighbour. Grey images
/// are drawn as grey (the value repeated in R, G and B).
///
/// Every cell has the size of the largest image (times `scale`); smaller images sit in the top
/// left corner of their cell, and missing images (a batch shorter than `per_row`) leave the cell
/// black. Cells and rows are separated, and the sheet framed, by [`SEPARATOR`]-pixel lines of
/// [`SEPARATOR_RGB`]. The row labels (`rows[r].0`) are not drawn (no font); callers should state
/// the row order in their output. The write is atomic.
///
/// # Shapes
/// Output: `R·(h·scale) + (R+1)·2` pixels high and `per_row·(w·scale) + (per_row+1)·2` wide,
/// `h`, `w` the largest image sides, `R = rows.len()`.
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
            .checked_mul(cell.checked_mul(scale)?)?
            .checked_add(cells.checked_add(1)?.checked_mul(SEPARATOR)?)
            .filter(|s| *s <= MAX_GRID_SIDE)
    };
    let height = side(rows.len(), cell_h).ok_or_else(too_big)?;
    let width = side(per_row, cell_w).ok_or_else(too_big)?;
    let mut out = SEPARATOR_RGB.repeat(height * width);
    for (r, (_, batch)) in rows.iter().enumerate() {
        let s = batch.shape();
        let y0 = SEPARATOR + r * (cell_h * scale + SEPARATOR);
        for col in 0..per_row {
            let x0 = SEPARATOR + col * (cell_w * scale + SEPARATOR);
            let img = batch.image(col);
            for y in 0..cell_h * scale {
                for x in 0..cell_w * scale {
                    let (sy, sx) = (y / scale, x / scale);
                    let px: [u8; 3] = match img {
                        Some(img) if sy < s.height() && sx < s.width() => {
                            let at = (sy * s.width() + sx) * s.channels();
                            // (sy, sx) is inside the image and c < channels ∈ {1, 3}.
                            let get = |c: usize| img[at + c];
                            if s.channels() == 1 {
                                [get(0); 3]
                            } else {
                                [get(0), get(1), get(2)]
                            }
                        }
                        _ => [0; 3],
                    };
                    let o = ((y0 + y) * width + x0 + x) * 3;
                    if let Some(dst) = out.get_mut(o..o + 3) {
                        dst.copy_from_slice(&px);
                    }
                }
            }
        }
    }
    let shape = Shape::new(
        u32::try_from(height).map_err(|_| too_big())?,
        u32::try_from(width).map_err(|_| too_big())?,
        3,
    )?;
    Ok((shape, out))
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
        // Cells 6×6, 2 rows, 2 columns, 2-px separators.
        assert_eq!(
            (shape.height(), shape.width()),
            (2 * 6 + 3 * 2, 2 * 6 + 3 * 2)
        );
        let at = |y: usize, x: usize| &px[(y * shape.width() + x) * 3..][..3];
        assert_eq!(at(0, 0), SEPARATOR_RGB);
        assert_eq!(at(2, 2), [10, 10, 10]);
        assert_eq!(at(4, 4), [10, 10, 10]);
        assert_eq!(at(5, 5), [40, 40, 40]);
        assert_eq!(at(2, 10), [50, 50, 50]); // second image of row 0
        assert_eq!(at(10, 2), [1, 2, 3]); // row 1, scaled 1×1 RGB image
        assert_eq!(at(13, 5), [0, 0, 0]); // outside the smaller image
        assert_eq!(at(10, 10), [0, 0, 0]); // batch has only one image
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("grid.png");
        save_grid(&[("plain", &grey), ("enc", &rgb)], 2, 3, &p).unwrap();
        let back = crate::files::read_image(&p).unwrap();
        assert_eq!(back.as_bytes(), &px[..]);
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
