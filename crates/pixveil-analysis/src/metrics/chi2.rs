//! Histogram uniformity: the χ² statistic against the uniform distribution on 0..=255.

use super::entropy::histogram;

/// The 5 % critical value of χ² with 255 degrees of freedom: a histogram whose statistic is
/// below it passes the uniformity test at the 0.05 level.
pub const CHI2_CRITICAL_255_005: f64 = 293.2478;

/// `χ² = Σ_v (o_v − e)² / e` with `e = len/256`, over all the bytes of an image (channels
/// pooled). 0 for a perfectly uniform histogram; `255·len` for a constant image. 0 for empty
/// input.
pub fn chi2(values: &[u8]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let e = values.len() as f64 / 256.0;
    histogram(values)
        .iter()
        .map(|&o| (o as f64 - e).powi(2) / e)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_values() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(chi2(&all), 0.0);
        // Constant of length 256: (256−1)²/1 + 255·1 = 65025 + 255 = 65280 = 255·256.
        assert!((chi2(&[3u8; 256]) - 65280.0).abs() < 1e-9);
    }
}
