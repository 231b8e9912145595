//! Key space of each scheme, in bits, from its parameters and the image shape.

use pixveil_cipher::SchemeSpec;
use pixveil_image::Shape;
use serde::Serialize;

/// `log2(n!)`, summed exactly term by term (`n` is at most a few million here).
pub fn log2_factorial(n: usize) -> f64 {
    (2..=n).map(|k| (k as f64).log2()).sum()
}

/// The key space of a scheme for one image shape.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeySpace {
    /// `log2` of the number of distinct keys the scheme's definition allows (what the papers
    /// count: e.g. paper A's `2^{3n}·6^n`).
    pub nominal_bits: f64,
    /// `min(nominal_bits, 256)`: pixveil derives every key from a 256-bit master secret.
    pub effective_bits: f64,
    /// The formula, in words.
    pub formula: String,
}

/// Nominal key space of `spec` on `shape`, in bits, and the formula used.
///
/// * `pe`: `2^{HWC}` NP bits, times `6^{HW}` colour codes if shuffled and `C = 3`
///   (paper A, Eq. 4).
/// * `logistic`: the keyed keystream-position permutation `(HWC)!` plus the two logistic-map
///   doubles `(μ, x₀)` counted as 52 mantissa bits each (an upper bound; the effective key
///   space of a double-precision logistic map is smaller).
/// * `chain`: the sum over stages (an upper bound: composing can merge keys, e.g. two XORs).
/// * `le/b`: `L!·2^L` with `L = 2·b²·C` nibbles per block (paper A, Eq. 5: `96!·2^{96}`).
/// * `etc/b`: `n!·8^n·2^n·6^n` for `n` blocks (`6^n` only for `C = 3`).
pub fn nominal_bits(spec: &SchemeSpec, shape: Shape) -> (f64, String) {
    let (h, w, c) = (shape.height(), shape.width(), shape.channels());
    let n = h * w;
    match spec {
        SchemeSpec::Pe { shuffle } => {
            let np = (n * c) as f64;
            if *shuffle && c == 3 {
                (np + n as f64 * 6f64.log2(), "2^{3n}·6^n, n = H·W".into())
            } else {
                (np, "2^{n·C}".into())
            }
        }
        SchemeSpec::Logistic { .. } => (
            log2_factorial(n * c) + 104.0,
            "(H·W·C)!·2^{104} (keystream permutation, μ and x₀)".into(),
        ),
        SchemeSpec::Chain { stages } => {
            let bits = stages.iter().map(|s| nominal_bits(s, shape).0).sum();
            (bits, "product over stages".into())
        }
        SchemeSpec::Le { block } => {
            let b = *block as usize;
            let l = 2 * b * b * c;
            (
                log2_factorial(l) + l as f64,
                format!("L!·2^L, L = 2·b²·C = {l} nibbles"),
            )
        }
        SchemeSpec::Etc { block } => {
            let b = (*block as usize).max(1);
            let blocks = (h / b) * (w / b);
            let per = 3.0 + 1.0 + if c == 3 { 6f64.log2() } else { 0.0 };
            (
                log2_factorial(blocks) + blocks as f64 * per,
                format!(
                    "n!·8^n·2^n{}, n = {blocks} blocks",
                    if c == 3 { "·6^n" } else { "" }
                ),
            )
        }
        _ => (f64::NAN, "unknown scheme".into()),
    }
}

/// [`KeySpace`] of `spec` on `shape`.
pub fn key_space(spec: &SchemeSpec, shape: Shape) -> KeySpace {
    let (nominal_bits, formula) = nominal_bits(spec, shape);
    KeySpace {
        nominal_bits,
        effective_bits: nominal_bits.min(256.0),
        formula,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_values() {
        // Paper A: 32×32 RGB, 2^{3072}·6^{1024} ≈ 2^{5719}.
        let (b, _) = nominal_bits(&SchemeSpec::Pe { shuffle: true }, Shape::CIFAR10);
        assert!((b - 5718.9).abs() < 0.5, "{b}");
        // Tanaka: 96!·2^96 ≈ 2^{594.3}.
        let (b, _) = nominal_bits(&SchemeSpec::Le { block: 4 }, Shape::CIFAR10);
        assert!((b - 594.3).abs() < 0.5, "{b}");
        assert!((log2_factorial(4) - 24f64.log2()).abs() < 1e-12);
        // EtC 32×32, 4×4 blocks: 64!·8^64·2^64·6^64 ≈ 2^{717}.
        let (b, _) = nominal_bits(&SchemeSpec::Etc { block: 4 }, Shape::CIFAR10);
        assert!((b - 717.0).abs() < 1.5, "{b}");
        assert_eq!(
            key_space(&SchemeSpec::Pe { shuffle: true }, Shape::CIFAR10).effective_bits,
            256.0
        );
    }
}
