//! Primality testing and NTT-friendly prime generation.
//!
//! A prime `q` supports the negacyclic NTT of degree `N` when `q ≡ 1 (mod 2N)`: then `Z_q`
//! contains a primitive `2N`-th root of unity `ψ`. Primes are generated the way SEAL's
//! `CoeffModulus::Create` does: the largest such primes below `2^bits`, distinct across all
//! requested sizes, so a bit-size list always yields the same primes.

use crate::{Error, Result};

fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    (a as u128 * b as u128 % m as u128) as u64
}

fn pow_mod(mut a: u64, mut e: u64, m: u64) -> u64 {
    let mut r = 1 % m;
    a %= m;
    while e > 0 {
        if e & 1 == 1 {
            r = mul_mod(r, a, m);
        }
        a = mul_mod(a, a, m);
        e >>= 1;
    }
    r
}

/// Deterministic Miller–Rabin primality test, exact for every `u64`.
pub fn is_prime(n: u64) -> bool {
    const BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    if n < 2 {
        return false;
    }
    for p in BASES {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    let s = (n - 1).trailing_zeros();
    let d = (n - 1) >> s;
    'outer: for a in BASES {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'outer;
            }
        }
        return false;
    }
    true
}

/// Returns `count` distinct primes `q ≡ 1 (mod 2·degree)` of exactly `bits` bits, largest
/// first, skipping any prime listed in `exclude`.
///
/// # Errors
/// [`Error::InvalidDegree`] if `degree` is not a power of two ≥ 2,
/// [`Error::InvalidModulus`] if `bits` is outside `2..=61`,
/// [`Error::NotEnoughPrimes`] if the range is exhausted.
pub fn ntt_primes(bits: u32, count: usize, degree: usize, exclude: &[u64]) -> Result<Vec<u64>> {
    if !degree.is_power_of_two() || degree < 2 {
        return Err(Error::InvalidDegree {
            degree,
            min: 2,
            max: 1 << 17,
        });
    }
    if !(2..=crate::zq::MAX_MODULUS_BITS).contains(&bits) {
        return Err(Error::InvalidModulus {
            modulus: 1u64 << bits.min(63),
            max_bits: crate::zq::MAX_MODULUS_BITS,
        });
    }
    let step = 2 * degree as u64;
    let lower = 1u64 << (bits - 1);
    let mut out = Vec::new();
    // Largest candidate below 2^bits that is ≡ 1 mod 2N.
    let top = (1u64 << bits) - 1;
    let mut c = if top >= 1 {
        (top - 1) / step * step + 1
    } else {
        0
    };
    while out.len() < count && c > lower {
        if is_prime(c) && !exclude.contains(&c) && !out.contains(&c) {
            out.push(c);
        }
        c = match c.checked_sub(step) {
            Some(v) => v,
            None => break,
        };
    }
    if out.len() < count {
        return Err(Error::NotEnoughPrimes {
            bits,
            wanted: count,
            found: out.len(),
            degree,
        });
    }
    Ok(out)
}

/// A primitive `order`-th root of unity modulo the prime `q` (`order` a power of two
/// dividing `q - 1`), found deterministically (`x^((q-1)/order)` for the first `x = 2, 3, …`
/// that works), or `None` if none exists.
pub fn primitive_root(q: u64, order: u64) -> Option<u64> {
    if q < 3 || !order.is_power_of_two() || order < 2 || !(q - 1).is_multiple_of(order) {
        return None;
    }
    let cofactor = (q - 1) / order;
    (2..q.min(1 << 20))
        .map(|x| pow_mod(x, cofactor, q))
        // g has order exactly `order` iff g^(order/2) = -1.
        .find(|&g| pow_mod(g, order / 2, q) == q - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primality() {
        let small: Vec<u64> = (0..60).filter(|&n| is_prime(n)).collect();
        assert_eq!(
            small,
            [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59]
        );
        assert!(is_prime(2_305_843_009_213_693_951)); // 2^61 - 1
        assert!(!is_prime(3_215_031_751)); // strong pseudoprime to bases 2,3,5,7
        assert!(is_prime(18_446_744_073_709_551_557)); // largest u64 prime
    }

    #[test]
    fn tenseal_chain_primes() {
        // SEAL's CoeffModulus::Create(8192, {31, 26, 26, 26, 26, 26, 26, 31}).
        let p31 = ntt_primes(31, 2, 8192, &[]).unwrap();
        let p26 = ntt_primes(26, 6, 8192, &[]).unwrap();
        for &p in p31.iter().chain(&p26) {
            assert!(is_prime(p));
            assert_eq!(p % 16384, 1);
        }
        assert_eq!(64 - p31[0].leading_zeros(), 31);
        assert_eq!(64 - p26[5].leading_zeros(), 26);
        assert!(ntt_primes(20, 1000, 8192, &[]).is_err());
    }

    #[test]
    fn roots() {
        for q in ntt_primes(30, 3, 1024, &[]).unwrap() {
            let psi = primitive_root(q, 2048).unwrap();
            assert_eq!(pow_mod(psi, 1024, q), q - 1);
        }
        assert_eq!(primitive_root(17, 32), None);
    }
}
