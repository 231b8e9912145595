//! Shannon entropy of 8-bit values, global and local (random 16×16 windows).

use pixveil_image::Shape;

/// Histogram of 8-bit values (256 bins).
pub fn histogram(values: &[u8]) -> [u64; 256] {
    let mut h = [0u64; 256];
    for &v in values {
        h[usize::from(v)] += 1;
    }
    h
}

/// Shannon entropy of a histogram, in bits per value (0 ..= 8). Empty histogram: 0.
pub fn entropy_of_histogram(h: &[u64; 256]) -> f64 {
    let total: u64 = h.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let t = total as f64;
    h.iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / t;
            -p * p.log2()
        })
        .sum()
}

/// Global Shannon entropy of all the bytes of an image (every channel pooled), in bits per
/// value: 8 for a uniform histogram, 0 for a constant image.
pub fn entropy(values: &[u8]) -> f64 {
    entropy_of_histogram(&histogram(values))
}

/// Side of the local-entropy windows, in pixels.
pub const LOCAL_WINDOW: usize = 16;
/// Number of random windows averaged by [`local_entropy`].
pub const LOCAL_WINDOWS: usize = 30;

/// A small deterministic generator (SplitMix64) for window positions: metrics must be
/// reproducible, not secret.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n ≥ 1`; the modulo bias is irrelevant here).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Local Shannon entropy (Wu et al.'s idea with smaller windows): the mean global entropy of
/// [`LOCAL_WINDOWS`] windows of `16×16` pixels (all channels pooled: 256·C values each) at
/// positions drawn from a deterministic generator seeded by `seed`. Windows are clipped to the
/// image when it is smaller than 16 pixels on a side. Bits per value.
///
/// # Shapes
/// `image`: `shape.len()` bytes, `HWC`.
pub fn local_entropy(image: &[u8], shape: Shape, seed: u64) -> f64 {
    let (h, w, c) = (shape.height(), shape.width(), shape.channels());
    let (wh, ww) = (LOCAL_WINDOW.min(h), LOCAL_WINDOW.min(w));
    let mut rng = SplitMix(seed ^ 0x005E_ED0F_E7A0);
    let mut sum = 0.0;
    for _ in 0..LOCAL_WINDOWS {
        let y0 = rng.below(h - wh + 1);
        let x0 = rng.below(w - ww + 1);
        let mut hist = [0u64; 256];
        for y in y0..y0 + wh {
            let start = (y * w + x0) * c;
            if let Some(row) = image.get(start..start + ww * c) {
                for &v in row {
                    hist[usize::from(v)] += 1;
                }
            }
        }
        sum += entropy_of_histogram(&hist);
    }
    sum / LOCAL_WINDOWS as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_is_8_bits_constant_is_0() {
        let all: Vec<u8> = (0..=255).collect();
        assert!((entropy(&all) - 8.0).abs() < 1e-12);
        assert_eq!(entropy(&[7u8; 100]), 0.0);
        // Two equiprobable values: 1 bit.
        assert!((entropy(&[0, 255, 0, 255]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn local_entropy_of_uniform_windows() {
        // A 32×32 grey image whose every 16×16 window holds each value exactly once is impossible
        // for all offsets; use a constant image (0 bits) and a 16×16 permutation image (8 bits).
        let shape = Shape::new(16, 16, 1).unwrap();
        let img: Vec<u8> = (0..=255).collect();
        assert!((local_entropy(&img, shape, 1) - 8.0).abs() < 1e-12);
        let shape = Shape::new(40, 20, 3).unwrap();
        assert_eq!(local_entropy(&vec![9u8; shape.len()], shape, 3), 0.0);
    }
}
