//! Adjacent-pixel correlation (Pearson), horizontal, vertical and diagonal.

use pixveil_image::Shape;

/// Direction of the neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `(y, x)` with `(y, x+1)`.
    Horizontal,
    /// `(y, x)` with `(y+1, x)`.
    Vertical,
    /// `(y, x)` with `(y+1, x+1)`.
    Diagonal,
}

/// Pearson correlation coefficient of the values of every pixel and its neighbour in
/// `direction`, over every channel (pairs are taken within a channel, all channels pooled).
/// `None` when there is no pair or one side has zero variance (e.g. a constant image).
///
/// # Shapes
/// `image`: `shape.len()` bytes, `HWC`.
pub fn correlation(image: &[u8], shape: Shape, direction: Direction) -> Option<f64> {
    let (h, w, c) = (shape.height(), shape.width(), shape.channels());
    let (dy, dx) = match direction {
        Direction::Horizontal => (0, 1),
        Direction::Vertical => (1, 0),
        Direction::Diagonal => (1, 1),
    };
    if h <= dy || w <= dx || image.len() != shape.len() {
        return None;
    }
    // Integer sums are exact: at most 2^28 values of at most 255².
    let (mut n, mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for y in 0..h - dy {
        let a = &image[y * w * c..(y * w + w - dx) * c];
        let b = &image[((y + dy) * w + dx) * c..((y + dy) * w + w) * c];
        for (&p, &q) in a.iter().zip(b) {
            let (p, q) = (u64::from(p), u64::from(q));
            n += 1;
            sx += p;
            sy += q;
            sxx += p * p;
            syy += q * q;
            sxy += p * q;
        }
    }
    let nf = n as f64;
    let cov = sxy as f64 / nf - (sx as f64 / nf) * (sy as f64 / nf);
    let vx = sxx as f64 / nf - (sx as f64 / nf).powi(2);
    let vy = syy as f64 / nf - (sy as f64 / nf).powi(2);
    if n == 0 || vx <= 1e-12 || vy <= 1e-12 {
        return None;
    }
    Some((cov / (vx.sqrt() * vy.sqrt())).clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_is_one_constant_is_none() {
        let shape = Shape::new(8, 8, 1).unwrap();
        // Constant gradient along x+y: every direction is perfectly linear.
        let img: Vec<u8> = (0..64).map(|i| ((i / 8 + i % 8) * 10) as u8).collect();
        for d in [
            Direction::Horizontal,
            Direction::Vertical,
            Direction::Diagonal,
        ] {
            let r = correlation(&img, shape, d).unwrap();
            assert!((r - 1.0).abs() < 1e-12, "{d:?}: {r}");
        }
        assert_eq!(correlation(&[5u8; 64], shape, Direction::Horizontal), None);
        // Alternating columns: horizontal −1.
        let alt: Vec<u8> = (0..64).map(|i| if i % 2 == 0 { 0 } else { 200 }).collect();
        let r = correlation(&alt, shape, Direction::Horizontal).unwrap();
        assert!((r + 1.0).abs() < 1e-12);
    }
}
