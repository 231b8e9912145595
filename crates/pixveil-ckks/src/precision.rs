//! Precision statistics in bits.
//!
//! For each slot, the error `|want − have|` (complex modulus) is converted to bits of
//! precision `−log2|error|` (capped at 64 bits for exact results). [`PrecisionStats`]
//! summarizes them as min / mean / median, plus the worst absolute error.

use crate::Complex;

/// Precision of a computation, in bits (`−log2` of the absolute error per slot).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PrecisionStats {
    /// Worst slot (smallest number of correct bits).
    pub min_bits: f64,
    /// Mean over slots.
    pub mean_bits: f64,
    /// Median over slots.
    pub median_bits: f64,
    /// Largest absolute error.
    pub max_abs_error: f64,
    /// Number of slots compared.
    pub slots: usize,
}

const CAP_BITS: f64 = 64.0;

impl PrecisionStats {
    /// Compares complex slot vectors (the shorter length is used).
    pub fn compute(want: &[Complex], have: &[Complex]) -> Self {
        let errs: Vec<f64> = want
            .iter()
            .zip(have)
            .map(|(w, h)| (*w - *h).abs())
            .collect();
        Self::from_errors(&errs)
    }

    /// Compares real vectors.
    pub fn compute_real(want: &[f64], have: &[f64]) -> Self {
        let errs: Vec<f64> = want.iter().zip(have).map(|(w, h)| (w - h).abs()).collect();
        Self::from_errors(&errs)
    }

    fn from_errors(errs: &[f64]) -> Self {
        let mut bits: Vec<f64> = errs
            .iter()
            .map(|&e| {
                if e.is_nan() {
                    0.0
                } else if e == 0.0 {
                    CAP_BITS
                } else {
                    (-e.log2()).min(CAP_BITS)
                }
            })
            .collect();
        bits.sort_by(|a, b| a.total_cmp(b));
        let len = bits.len();
        if len == 0 {
            return Self {
                min_bits: CAP_BITS,
                mean_bits: CAP_BITS,
                median_bits: CAP_BITS,
                max_abs_error: 0.0,
                slots: 0,
            };
        }
        let median = if len % 2 == 1 {
            bits[len / 2]
        } else {
            (bits[len / 2 - 1] + bits[len / 2]) / 2.0
        };
        Self {
            min_bits: bits[0],
            mean_bits: bits.iter().sum::<f64>() / len as f64,
            median_bits: median,
            max_abs_error: errs.iter().copied().fold(0.0, f64::max),
            slots: len,
        }
    }
}

impl core::fmt::Display for PrecisionStats {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "precision (bits): min {:.2}, mean {:.2}, median {:.2}; max |err| {:.3e} over {} slots",
            self.min_bits, self.mean_bits, self.median_bits, self.max_abs_error, self.slots
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits() {
        let s = PrecisionStats::compute_real(
            &[1.0, 2.0, 3.0, 4.0],
            &[1.0, 2.25, 3.5, 4.0 + 2f64.powi(-10)],
        );
        assert_eq!(s.min_bits, 1.0);
        assert_eq!(s.median_bits, 6.0);
        assert_eq!(s.max_abs_error, 0.5);
        assert_eq!(s.slots, 4);
        assert!((s.mean_bits - (64.0 + 2.0 + 1.0 + 10.0) / 4.0).abs() < 1e-12);
    }
}
