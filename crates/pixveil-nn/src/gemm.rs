//! A safe front end to `matrixmultiply::sgemm` (single-threaded, runtime-dispatched
//! AVX2/FMA kernels). Callers parallelise over images or row blocks with rayon.

/// A read-only strided view of an `rows × cols` `f32` matrix: element `(r, c)` is
/// `data[r * rs + c * cs]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> Mat<'a> {
    /// A row-major (C-contiguous) matrix.
    ///
    /// # Panics
    /// If `data` is shorter than `rows * cols` (an internal invariant, never user input).
    pub(crate) fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "matrix view out of bounds");
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose (no copy).
    pub(crate) fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// `c ← alpha · a · b + beta · c`, with `c` row-major `a.rows × b.cols`.
///
/// # Panics
/// If the inner dimensions differ or `c` is too short (internal invariants).
pub(crate) fn gemm(alpha: f32, a: Mat<'_>, b: Mat<'_>, beta: f32, c: &mut [f32]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "gemm inner dimensions differ");
    assert!(c.len() >= m * n, "gemm output too short");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for v in &mut c[..m * n] {
            *v *= beta;
        }
        return;
    }
    // The largest index each view touches must lie inside its slice.
    let last = |x: &Mat<'_>| (x.rows - 1) * x.rs + (x.cols - 1) * x.cs;
    assert!(last(&a) < a.data.len() && last(&b) < b.data.len());
    // A stride of 2 or more rows/columns is below the slice length (asserted above), so it
    // fits; only the unused stride of a size-1 dimension can saturate.
    let st = |v: usize| isize::try_from(v).unwrap_or(isize::MAX);
    // SAFETY: `a`, `b` and `c` are valid slices; every element sgemm reads from `a`
    // (`(r, c)` → `r·rs + c·cs` for `r < m`, `c < k`) and `b` lies within the slice, as
    // asserted above; `c` is written at `r·n + j < m·n ≤ c.len()`; `c` is a unique
    // borrow, so it does not alias `a` or `b`.
    #[allow(unsafe_code)]
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            st(a.rs),
            st(a.cs),
            b.data.as_ptr(),
            st(b.rs),
            st(b.cs),
            beta,
            c.as_mut_ptr(),
            st(n),
            1,
        );
    }
}

/// The `sgemm` kernel `matrixmultiply` selects on this CPU (its runtime dispatch: FMA, then
/// AVX, then SSE2, then portable code; it has no AVX-512 kernel).
pub fn gemm_kernel() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("fma") {
            return "matrixmultiply sgemm, FMA kernel";
        }
        if std::arch::is_x86_feature_detected!("avx") {
            return "matrixmultiply sgemm, AVX kernel";
        }
        if std::arch::is_x86_feature_detected!("sse2") {
            return "matrixmultiply sgemm, SSE2 kernel";
        }
    }
    "matrixmultiply sgemm, portable kernel"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn matches_naive_product_with_transposes() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let mut c = vec![1.0; m * n];
        gemm(1.0, Mat::rows(&a, m, k), Mat::rows(&b, k, n), 0.0, &mut c);
        for (x, y) in c.iter().zip(&want) {
            assert!((x - y).abs() < 1e-5);
        }
        // (bᵀ aᵀ)ᵀ = a b: compute cᵀ = bᵀ · aᵀ and compare transposed.
        let mut ct = vec![0.0; n * m];
        gemm(
            1.0,
            Mat::rows(&b, k, n).t(),
            Mat::rows(&a, m, k).t(),
            0.0,
            &mut ct,
        );
        for i in 0..m {
            for j in 0..n {
                assert!((ct[j * m + i] - want[i * n + j]).abs() < 1e-5);
            }
        }
        // beta = 1 accumulates.
        gemm(2.0, Mat::rows(&a, m, k), Mat::rows(&b, k, n), 1.0, &mut c);
        for (x, y) in c.iter().zip(&want) {
            assert!((x - 3.0 * y).abs() < 1e-4);
        }
    }
}
