//! Structural similarity (Wang, Bovik, Sheikh, Simoncelli 2004).
//!
//! Convention (stated because SSIM numbers depend on it): **8×8 uniform windows**, stride 1,
//! only windows wholly inside the image ("valid"), population (co)variances, `L = 255`,
//! `C1 = (0.01·L)²`, `C2 = (0.03·L)²`; the SSIM of an image is the mean over windows, and of a
//! colour image the mean over its channels. Windows shrink to the image side for images
//! smaller than 8 pixels. Sums use integral images, so the cost is `O(H·W·C)`.

use pixveil_image::Shape;

/// Window side in pixels.
pub const SSIM_WINDOW: usize = 8;
const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);

/// SSIM of `a` vs `b` (both `shape.len()` bytes, `HWC`): in `[-1, 1]`, 1 for identical images.
/// Returns 0 when the buffers do not have the shape's length.
///
/// # Shapes
/// `a`, `b`: `H·W·C` bytes.
pub fn ssim(a: &[u8], b: &[u8], shape: Shape) -> f64 {
    let (h, w, c) = (shape.height(), shape.width(), shape.channels());
    if a.len() != shape.len() || b.len() != shape.len() {
        return 0.0;
    }
    let win = SSIM_WINDOW.min(h).min(w);
    let (ih, iw) = (h + 1, w + 1);
    // Five integral images per channel: x, y, x², y², xy (i64 is exact: 2^28·255² < 2^63).
    let mut sums = vec![[0i64; 5]; ih * iw];
    let mut total = 0.0;
    for ch in 0..c {
        for y in 0..h {
            let mut row = [0i64; 5];
            for x in 0..w {
                let k = (y * w + x) * c + ch;
                let (p, q) = (i64::from(a[k]), i64::from(b[k]));
                let v = [p, q, p * p, q * q, p * q];
                for t in 0..5 {
                    row[t] += v[t];
                    sums[(y + 1) * iw + x + 1][t] = sums[y * iw + x + 1][t] + row[t];
                }
            }
        }
        let n = (win * win) as f64;
        let mut acc = 0.0;
        let mut count = 0usize;
        for y in 0..=h - win {
            for x in 0..=w - win {
                let mut s = [0f64; 5];
                for (t, st) in s.iter_mut().enumerate() {
                    let v = sums[(y + win) * iw + x + win][t]
                        - sums[y * iw + x + win][t]
                        - sums[(y + win) * iw + x][t]
                        + sums[y * iw + x][t];
                    *st = v as f64 / n;
                }
                let (mx, my) = (s[0], s[1]);
                let vx = s[2] - mx * mx;
                let vy = s[3] - my * my;
                let cxy = s[4] - mx * my;
                acc += ((2.0 * mx * my + C1) * (2.0 * cxy + C2))
                    / ((mx * mx + my * my + C1) * (vx + vy + C2));
                count += 1;
            }
        }
        total += acc / count.max(1) as f64;
    }
    total / c as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_is_one_and_complement_is_low() {
        let shape = Shape::new(12, 10, 3).unwrap();
        let a: Vec<u8> = (0..shape.len()).map(|i| (i * 37 % 251) as u8).collect();
        assert!((ssim(&a, &a, shape) - 1.0).abs() < 1e-12);
        let b: Vec<u8> = a.iter().map(|v| 255 - v).collect();
        assert!(ssim(&a, &b, shape) < 0.0);
        // Constant images: SSIM of equal constants is 1; of 0 vs 255 it is C1/(255²+C1).
        let g = Shape::new(8, 8, 1).unwrap();
        let z = vec![0u8; 64];
        let f = vec![255u8; 64];
        assert!((ssim(&z, &z, g) - 1.0).abs() < 1e-12);
        let want = C1 / (255.0 * 255.0 + C1);
        assert!((ssim(&z, &f, g) - want).abs() < 1e-12);
    }
}
