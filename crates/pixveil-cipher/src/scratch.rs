//! Per-thread scratch buffers and the precomputed kernels shared by the schemes.

use std::cell::RefCell;

use zeroize::Zeroize;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a per-thread scratch buffer holding a copy of `image` at offset `pad`, with
/// `pad` zero bytes before and after it (`2·pad + image.len()` bytes in all).
/// `f` receives the copy and `image` itself (to overwrite).
pub(crate) fn with_copy<R>(
    image: &mut [u8],
    pad: usize,
    f: impl FnOnce(&[u8], &mut [u8]) -> R,
) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            fill(&mut buf, image, pad);
            f(&buf, image)
        }
        // Re-entrant use (a cipher called from inside another's kernel): use a fresh buffer.
        Err(_) => {
            let mut buf = Vec::new();
            fill(&mut buf, image, pad);
            f(&buf, image)
        }
    })
}

fn fill(buf: &mut Vec<u8>, image: &[u8], pad: usize) {
    buf.clear();
    buf.resize(pad, 0);
    buf.extend_from_slice(image);
    buf.resize(image.len() + 2 * pad, 0);
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
