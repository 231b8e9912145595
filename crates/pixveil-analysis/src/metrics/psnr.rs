//! Peak signal-to-noise ratio.

/// PSNR cap, in dB, reported for identical images (the true value is +∞); keeps JSON numeric.
pub const PSNR_CAP_DB: f64 = 100.0;

/// Mean squared error between two equally long byte buffers (0 for empty input).
pub fn mse(a: &[u8], b: &[u8]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let s: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = u64::from(x.abs_diff(y));
            d * d
        })
        .sum();
    s as f64 / n as f64
}

/// `PSNR = 10·log10(255² / MSE)` in dB over every byte (channels pooled), capped at
/// [`PSNR_CAP_DB`] (identical images).
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let m = mse(a, b);
    if m <= 0.0 {
        return PSNR_CAP_DB;
    }
    (10.0 * (255.0f64 * 255.0 / m).log10()).min(PSNR_CAP_DB)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_values() {
        assert_eq!(psnr(&[1, 2, 3], &[1, 2, 3]), PSNR_CAP_DB);
        // MSE 1 → 20·log10(255) = 48.1308 dB.
        let v = psnr(&[10, 20], &[11, 19]);
        assert!((v - 48.130_803_608).abs() < 1e-6, "{v}");
        // Black vs white: 0 dB.
        assert!(psnr(&[0; 4], &[255; 4]).abs() < 1e-12);
    }
}
