//! NPCR and UACI between two ciphertexts (differential / sensitivity analysis).

/// Number of pixel-value change rate, in percent: `100 · |{k : a[k] ≠ b[k]}| / len`. Values are
/// compared per byte (per channel). 0 for empty input.
pub fn npcr(a: &[u8], b: &[u8]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let diff = a.iter().zip(b).filter(|(x, y)| x != y).count();
    100.0 * diff as f64 / n as f64
}

/// Unified average changing intensity, in percent: `100 · mean |a[k] − b[k]| / 255`.
pub fn uaci(a: &[u8], b: &[u8]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let s: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    100.0 * s as f64 / (255.0 * n as f64)
}

/// For two independent uniformly random images the expected NPCR is `100·255/256 ≈ 99.609 %`
/// and the expected UACI `100·(257/768) ≈ 33.464 %`.
pub const IDEAL_NPCR: f64 = 100.0 * 255.0 / 256.0;
/// See [`IDEAL_NPCR`].
pub const IDEAL_UACI: f64 = 100.0 * 257.0 / 768.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_values() {
        let p: Vec<u8> = (0..=255).collect();
        assert_eq!(npcr(&p, &p), 0.0);
        assert_eq!(uaci(&p, &p), 0.0);
        let q: Vec<u8> = p.iter().map(|v| 255 - v).collect();
        // 255 − p ≠ p for every byte.
        assert_eq!(npcr(&p, &q), 100.0);
        // UACI of the complement = 100·E|255 − 2p|/255.
        let expect = 100.0
            * p.iter()
                .map(|&v| (255.0 - 2.0 * f64::from(v)).abs())
                .sum::<f64>()
            / (255.0 * 256.0);
        assert!((uaci(&p, &q) - expect).abs() < 1e-9);
        // All-zero vs all-255: UACI 100 %.
        assert_eq!(uaci(&[0; 10], &[255; 10]), 100.0);
    }
}
