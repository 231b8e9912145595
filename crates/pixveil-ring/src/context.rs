//! The ring context: degree, RNS primes and NTT tables.

use crate::{Error, Result};
use pixveil_math::{Modulus, NttTable};
use std::sync::Arc;

/// Which primes a polynomial lives over: the first `q` ciphertext primes and the first `p`
/// special primes (`p` is either 0 or all of them in practice). Rows are stored in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Basis {
    /// Number of ciphertext primes `q_0 … q_{q-1}` (a ciphertext at level `ℓ` has `q = ℓ + 1`).
    pub q: usize,
    /// Number of special primes.
    pub p: usize,
}

impl Basis {
    /// Total number of RNS rows.
    pub fn len(&self) -> usize {
        self.q + self.p
    }
    /// True if the basis has no prime.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Degree `N`, ciphertext primes `Q = q_0 ⋯ q_{L-1}` and special primes `P = p_0 ⋯ p_{K-1}`.
#[derive(Debug)]
pub struct RingContext {
    n: usize,
    num_q: usize,
    moduli: Vec<Modulus>,
    ntt: Vec<NttTable>,
}

impl RingContext {
    /// Whether `other` is this context or one built from the same degree and primes (two
    /// parties that each validate the same parameters hold equal, distinct contexts).
    pub fn same_ring(self: &Arc<Self>, other: &Arc<Self>) -> bool {
        Arc::ptr_eq(self, other)
            || (self.n == other.n
                && self.num_q == other.num_q
                && self.moduli.len() == other.moduli.len()
                && self
                    .moduli
                    .iter()
                    .zip(&other.moduli)
                    .all(|(a, b)| a.value() == b.value()))
    }

    /// Builds the context. All primes must be distinct, NTT-friendly for `n`
    /// (`≡ 1 mod 2n`) and below 2^61.
    ///
    /// # Errors
    /// [`Error::Math`] for an invalid degree or prime, [`Error::InvalidBasis`] if `q_primes` is
    /// empty.
    pub fn new(n: usize, q_primes: &[u64], p_primes: &[u64]) -> Result<Arc<Self>> {
        if q_primes.is_empty() {
            return Err(Error::InvalidBasis {
                basis: Basis { q: 0, p: 0 },
                num_q: 0,
                num_p: p_primes.len(),
            });
        }
        let all: Vec<u64> = q_primes.iter().chain(p_primes).copied().collect();
        for (i, a) in all.iter().enumerate() {
            if all[..i].contains(a) {
                return Err(pixveil_math::Error::DuplicateModulus { modulus: *a }.into());
            }
        }
        let ntt = all
            .iter()
            .map(|&q| NttTable::new(q, n))
            .collect::<pixveil_math::Result<Vec<_>>>()?;
        let moduli = ntt.iter().map(|t| *t.modulus()).collect();
        Ok(Arc::new(Self {
            n,
            num_q: q_primes.len(),
            moduli,
            ntt,
        }))
    }

    /// Ring degree `N`.
    pub fn degree(&self) -> usize {
        self.n
    }

    /// Number of ciphertext primes `L`.
    pub fn num_q(&self) -> usize {
        self.num_q
    }

    /// Number of special primes `K`.
    pub fn num_p(&self) -> usize {
        self.moduli.len() - self.num_q
    }

    /// The full basis `Q ∪ P`.
    pub fn full_basis(&self) -> Basis {
        Basis {
            q: self.num_q,
            p: self.num_p(),
        }
    }

    /// Checks that `basis` exists in this context.
    ///
    /// # Errors
    /// [`Error::InvalidBasis`].
    pub fn check_basis(&self, basis: Basis) -> Result<()> {
        if basis.q == 0 || basis.q > self.num_q || basis.p > self.num_p() {
            return Err(Error::InvalidBasis {
                basis,
                num_q: self.num_q,
                num_p: self.num_p(),
            });
        }
        Ok(())
    }

    /// Context index of row `row` of a polynomial over `basis`.
    #[inline]
    pub fn prime_index(&self, basis: Basis, row: usize) -> usize {
        if row < basis.q {
            row
        } else {
            self.num_q + (row - basis.q)
        }
    }

    /// Modulus of context prime `idx` (ciphertext primes first, then special primes).
    #[inline]
    pub fn modulus(&self, idx: usize) -> &Modulus {
        &self.moduli[idx]
    }

    /// NTT table of context prime `idx`.
    #[inline]
    pub fn ntt(&self, idx: usize) -> &NttTable {
        &self.ntt[idx]
    }

    /// All primes, ciphertext primes first.
    pub fn primes(&self) -> Vec<u64> {
        self.moduli.iter().map(|m| m.value()).collect()
    }
}
