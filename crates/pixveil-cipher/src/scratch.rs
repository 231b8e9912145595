//! Image copies from the engine's buffer pool and the precomputed kernels shared by the
//! schemes.
//!
//! [`with_copy`] takes its buffer from [`pixveil_math::pool`] (the project's one buffer pool,
//! per thread): the copy of the image it holds (a plaintext when encrypting) is given back as
//! [`Held::Secret`](pool::Held::Secret), so the pool wipes it when the scope ends, also when
//! `f` panics. A re-entrant call (a cipher run from inside another's kernel) takes a separate
//! buffer.

use pixveil_math::pool;
use zeroize::Zeroize;

/// Runs `f` with a buffer from the pool holding a copy of `image` at offset `pad`, with `pad`
/// zero bytes before and after it (`2·pad + image.len()` bytes in all). `f` receives the copy
/// and `image` itself (to overwrite). The copy is wiped when given back (see the module docs).
pub(crate) fn with_copy<R>(
    image: &mut [u8],
    pad: usize,
    f: impl FnOnce(&[u8], &mut [u8]) -> R,
) -> R {
    // Every byte is written by `with_copy_in`: the pool's contents (zero or public) are not
    // read. `buf` is given back as `Held::Secret` (wiped) when dropped, on unwinding too.
    let mut buf = pool::Scratch::<u8>::dirty(image.len() + 2 * pad);
    with_copy_in(&mut buf, image, pad, f)
}

/// [`with_copy`] in a buffer the caller holds (`buf`, `2·pad + image.len()` bytes), for
/// callers that copy image after image: the caller wipes it when it is done (a pool
/// [`pool::Scratch`] does when dropped).
///
/// # Panics
/// If `buf` is not `2·pad + image.len()` bytes.
pub(crate) fn with_copy_in<R>(
    buf: &mut [u8],
    image: &mut [u8],
    pad: usize,
    f: impl FnOnce(&[u8], &mut [u8]) -> R,
) -> R {
    let n = image.len();
    assert_eq!(buf.len(), n + 2 * pad, "a padded copy");
    let (head, rest) = buf.split_at_mut(pad);
    let (body, tail) = rest.split_at_mut(n);
    head.fill(0);
    body.copy_from_slice(image);
    tail.fill(0);
    f(buf, image)
}

/// A within-pixel byte shuffle followed by an XOR, as a branch-free stencil:
/// `out[j] = (OR over o in 0..5 of in[j + o − 2] & sel[o][j]) ^ xor[j]`, where exactly one of
/// the five selection masks is `0xFF` at each `j` (the source byte is at most two bytes away,
/// inside the same 3-byte pixel). The loops are plain zips over shifted slices, which the
/// compiler vectorises.
///
/// Invariant: the selection masks and the XOR mask (key material) are wiped on drop.
pub(crate) struct Stencil {
    sel: [Vec<u8>; 5],
    xor: Vec<u8>,
}

impl Drop for Stencil {
    fn drop(&mut self) {
        for s in &mut self.sel {
            s.zeroize();
        }
        self.xor.zeroize();
    }
}

impl Stencil {
    /// A stencil from per-byte source offsets `d[j] ∈ −2..=2` (`out[j] = in[j + d[j]] ^ xor[j]`).
    pub(crate) fn new(offsets: &[i8], xor: Vec<u8>) -> Self {
        let mk = |o: i8| -> Vec<u8> {
            offsets
                .iter()
                .map(|&d| if d == o { 0xFF } else { 0 })
                .collect()
        };
        Self {
            sel: [mk(-2), mk(-1), mk(0), mk(1), mk(2)],
            xor,
        }
    }

    /// Applies the stencil in place to `image` (`image.len()` equals the stencil's length).
    pub(crate) fn apply(&self, image: &mut [u8]) {
        let n = image.len();
        with_copy(image, 2, |s, image| {
            let [m0, m1, m2, m3, m4] = &self.sel;
            let (Some(s0), Some(s1), Some(s2), Some(s3), Some(s4)) = (
                s.get(..n),
                s.get(1..n + 1),
                s.get(2..n + 2),
                s.get(3..n + 3),
                s.get(4..n + 4),
            ) else {
                return;
            };
            let it = image
                .iter_mut()
                .zip(self.xor.iter())
                .zip(s0.iter().zip(m0.iter()))
                .zip(s1.iter().zip(m1.iter()))
                .zip(s2.iter().zip(m2.iter()))
                .zip(s3.iter().zip(m3.iter()))
                .zip(s4.iter().zip(m4.iter()));
            for ((((((o, x), (a0, b0)), (a1, b1)), (a2, b2)), (a3, b3)), (a4, b4)) in it {
                *o = ((a0 & b0) | (a1 & b1) | (a2 & b2) | (a3 & b3) | (a4 & b4)) ^ x;
            }
        });
    }
}

/// A general "gather and XOR" table: `out[j] = in[src[j]] ^ xor[j]`.
///
/// Invariants: `src` is a permutation of `0..len` and `xor.len() == src.len()`; both (key
/// material) are wiped on drop.
pub(crate) struct Gather {
    src: Vec<u32>,
    xor: Vec<u8>,
}

impl Drop for Gather {
    fn drop(&mut self) {
        self.src.zeroize();
        self.xor.zeroize();
    }
}

impl Gather {
    pub(crate) fn new(src: Vec<u32>, xor: Vec<u8>) -> Self {
        debug_assert_eq!(src.len(), xor.len(), "one XOR byte per gathered byte");
        Self { src, xor }
    }

    /// The inverse table: if `self` maps `x` to `y`, the result maps `y` to `x`.
    pub(crate) fn inverse(&self) -> Self {
        let n = self.src.len();
        let mut src = vec![0u32; n];
        let mut xor = vec![0u8; n];
        for (j, (&s, &x)) in self.src.iter().zip(&self.xor).enumerate() {
            // y[j] = x[s] ^ m[j]  ⇒  x[s] = y[j] ^ m[j].
            // `s < n`: `self.src` is a permutation of `0..n` (type invariant).
            src[s as usize] = j as u32;
            xor[s as usize] = x;
        }
        Self { src, xor }
    }

    /// Applies the table in place (`image.len() == src.len()`).
    pub(crate) fn apply(&self, image: &mut [u8]) {
        with_copy(image, 0, |s, image| {
            for ((o, &j), &x) in image.iter_mut().zip(&self.src).zip(&self.xor) {
                // `j < len`: `src` is a permutation of `0..len` (type invariant).
                *o = s[j as usize] ^ x;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The copy is padded, a nested call gets its own buffer, and the buffer goes back to the
    /// pool wiped, also when `f` panics.
    #[test]
    fn with_copy_pads_nests_and_wipes() {
        let mut img: Vec<u8> = (1..=40).collect();
        let orig = img.clone();
        let at = with_copy(&mut img, 3, |s, image| {
            assert_eq!(
                (&s[..3], &s[3..43], &s[43..]),
                (&[0; 3][..], &orig[..], &[0; 3][..])
            );
            let mut inner = vec![7u8; 5];
            with_copy(&mut inner, 1, |t, _| {
                assert_eq!(t, &[0, 7, 7, 7, 7, 7, 0]);
                assert_ne!(t.as_ptr(), s.as_ptr());
            });
            image.fill(9);
            s.as_ptr() as usize
        });
        assert_eq!(img, [9; 40]);
        // The most recently returned buffer that fits is taken next: the outer copy.
        let b = pool::Scratch::<u8>::dirty(46);
        assert_eq!(b.as_ptr() as usize, at);
        assert!(b.iter().all(|&x| x == 0), "the plaintext copy was wiped");
        drop(b);
        let mut img = orig.clone();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            with_copy(&mut img, 0, |s, _| -> () {
                panic!("{}", s.as_ptr() as usize)
            })
        }));
        assert!(r.is_err());
        let b = pool::Scratch::<u8>::dirty(40);
        assert!(b.iter().all(|&x| x == 0), "wiped on unwinding");
    }
}
