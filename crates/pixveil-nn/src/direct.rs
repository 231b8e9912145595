//! Direct 3×3 convolutions at stride 1 with padding 1 (ResNet's and the small CNN's), without
//! `im2col`: forward, input gradient and weight gradient read a zero-padded copy of each
//! image (1× its size, where `im2col` writes 9× and the GEMM packs it again).
//!
//! # The padded grid
//! An `h × w` plane is laid out with row stride `wp = w + 2`, shifted by one row and one column:
//! value `(y, x)` sits at `(y + 1)·wp + x + 1`, everything else is 0 (`Grid::pad`). An output
//! computed at grid position `q = y·wp + x` (for every `q < nq`, `x` up to `wp − 1`) is then
//! `Σ_t w[t] · src[q + off_t]` with `off_t = ky·wp + kx`: one contiguous load per tap for a run
//! of positions. The two columns `x ∈ {w, w + 1}` of each row are computed and dropped
//! (`Grid::unpad`); that waste is `2/w` (6 % at 32 columns, 25 % at 8), which is why only
//! maps at least `MIN_SIDE` wide take this path.
//!
//! The same kernel (`conv`) serves the input gradient: `dX = conv(pad(dY), W')` with
//! `W'[c][o][t] = W[o][c][8 − t]` (the kernel flipped, in and out channels swapped). The weight
//! gradient (`weight_grad`) reads `pad(dY)` at offset `wp + 1`, where the padding puts zeros
//! exactly at the dropped columns and past the last row, so they add nothing.
//!
//! Two more forwards share the kernel: strided convolutions through phase planes
//! (`Phases`) and, for few output channels, `wide_gemm` (a GEMM without packing).
//!
//! # Kernels
//! Register tiles of `OB` output channels × `Q` grid positions, chosen at run time
//! ([`PORTABLE_ENV`] forces the portable ones): AVX-512F intrinsics for the convolution when
//! the CPU has them (twice the positions per tile, the same bits as AVX2), AVX2 + FMA
//! intrinsics when it has both, else portable Rust over fixed-size arrays with the same tiles
//! and summation order (separate multiply and add). Portable and fused kernels differ in
//! rounding, like any two GEMM kernels, but each is deterministic: the order of every sum
//! depends only on the shapes, never on the thread count.

/// Output channels per register tile (output channel counts are padded up to a multiple).
pub(crate) const OB: usize = 4;
/// Grid positions per register tile (two 8-lane vectors; `nq` is padded up to a multiple).
pub(crate) const Q: usize = 16;
/// Narrowest map that takes the direct path: on 4-wide maps half the grid would be dropped
/// columns and `im2col` is cheap anyway.
pub(crate) const MIN_SIDE: usize = 8;
/// Lanes of one vector of the weight-gradient kernel.
const L: usize = 8;

/// Environment variable that, set to any non-empty value other than `0` when the process first
/// runs a kernel, selects the portable kernels on any CPU (to test them; the cipher's kernels
/// read the same variable).
pub const PORTABLE_ENV: &str = "PIXVEIL_PORTABLE_KERNELS";

/// Whether [`PORTABLE_ENV`] asks for the portable kernels (read once).
fn portable() -> bool {
    static PORTABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PORTABLE
        .get_or_init(|| std::env::var_os(PORTABLE_ENV).is_some_and(|v| !v.is_empty() && v != "0"))
}

/// Whether the AVX2 + FMA build of the kernels runs: the CPU has both (detected once by
/// `std`) and [`PORTABLE_ENV`] is unset, empty or `0`.
pub(crate) fn fma_kernels() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        !portable()
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the AVX-512 build of the convolution kernel runs: the CPU has `avx512f` (detected
/// once by `std`) and [`PORTABLE_ENV`] is unset, empty or `0`.
pub(crate) fn avx512_kernels() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        !portable() && std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Evaluates an expression compiled for AVX2 + FMA when [`fma_kernels`] allows, else as
/// built (the portable baseline, SSE2 on x86-64). For loops that the compiler vectorises by
/// itself: batch norm's passes, ReLU, residual sums. The operations and their order stay the
/// same (Rust never fuses a multiply and an add by itself, and the compiler does not reorder
/// floating-point sums), so the results are the same bits with twice the lanes.
///
/// A macro, not a function taking a closure: the expression is compiled twice, once in an
/// `#[inline(always)]` closure inside [`wide_avx2`] (where the features apply) and once in
/// place. A plain closure was not always inlined, and then ran as SSE2. Helpers the
/// expression calls need `#[inline(always)]` too.
macro_rules! wide {
    ($body:expr) => {{
        #[cfg(target_arch = "x86_64")]
        let r = if $crate::direct::fma_kernels() {
            // SAFETY: `fma_kernels` checked that the CPU has AVX2 and FMA.
            #[allow(unsafe_code)]
            unsafe {
                $crate::direct::wide_avx2(
                    #[inline(always)]
                    || $body,
                )
            }
        } else {
            $body
        };
        #[cfg(not(target_arch = "x86_64"))]
        let r = $body;
        r
    }};
}
pub(crate) use wide;

/// [`wide!`]'s AVX2 + FMA build of its expression (safe to call where the CPU has both).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn wide_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The direct 3×3 convolution kernels this CPU runs (for benchmark reports).
pub fn conv_kernel() -> &'static str {
    if avx512_kernels() {
        "direct 3x3 conv (stride 1, maps >= 8 wide): AVX-512F conv, AVX2+FMA weight gradient"
    } else if fma_kernels() {
        "direct 3x3 conv (stride 1, maps >= 8 wide): AVX2+FMA kernels"
    } else {
        "direct 3x3 conv (stride 1, maps >= 8 wide): portable kernels"
    }
}

/// `$grid.$rows::<W>(args)` for the grid widths `W` copied as fixed-size rows (those of
/// ResNet-18 on CIFAR-10 and of the small CNN on MNIST), `$grid.$any(args)` for the others.
macro_rules! by_width {
    ($grid:ident, $rows:ident, $any:ident, $($arg:expr),*) => {
        match $grid.w {
            8 => $grid.$rows::<8>($($arg),*),
            14 => $grid.$rows::<14>($($arg),*),
            16 => $grid.$rows::<16>($($arg),*),
            28 => $grid.$rows::<28>($($arg),*),
            32 => $grid.$rows::<32>($($arg),*),
            _ => $grid.$any($($arg),*),
        }
    };
}

/// The padded-grid geometry of one `h × w` plane.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Grid {
    h: usize,
    w: usize,
    /// Row stride (`w + 2`).
    wp: usize,
    /// Grid positions computed per plane: `h·wp` rounded up to a multiple of [`Q`].
    pub(crate) nq: usize,
    /// Floats per padded plane: every load of a tap at `q < nq` lies inside it.
    pub(crate) plane: usize,
}

impl Grid {
    pub(crate) fn new(h: usize, w: usize) -> Self {
        let wp = w + 2;
        let nq = (h * wp).next_multiple_of(Q);
        // Loads reach q + 2·wp + 2 + (lanes − 1) < nq + 2·wp + 2; the weight gradient reads
        // dY at q + wp + 1 < nq + wp + 1. Both stay below `plane`, which also holds the
        // (h + 2)·wp padded rows.
        let plane = nq + 2 * wp + 2;
        Self {
            h,
            w,
            wp,
            nq,
            plane,
        }
    }

    /// Offsets of the nine taps, `ky·wp + kx` in `PyTorch` order `t = ky·3 + kx`.
    fn offsets(&self) -> [usize; 9] {
        std::array::from_fn(|t| (t / 3) * self.wp + t % 3)
    }

    /// Writes `c` planes of `h × w` (`src`, `c·h·w` floats) into `dst` (`c·plane` floats) on
    /// the padded grid, zeros everywhere else; planes `c..` of `dst` (channel padding) are
    /// zeroed.
    ///
    /// The widths of ResNet-18 on CIFAR-10 (32, 16, 8) and of the small CNN on MNIST (28, 14)
    /// copy their rows as arrays of a width known at compile time: a few vector moves per row,
    /// where a `memcpy` call per row of 8 to 32 floats cost more than its copy (1.02–1.05× per
    /// training epoch of ResNet-18 w8 with the adaptation network, measured on 32/16/8).
    pub(crate) fn pad(&self, src: &[f32], dst: &mut [f32]) {
        let mut srcs = src.chunks_exact(self.h * self.w);
        for p in dst.chunks_exact_mut(self.plane) {
            match srcs.next() {
                Some(s) => by_width!(self, pad_plane_rows, pad_plane, s, p),
                None => p.fill(0.0),
            }
        }
    }

    /// One plane of [`Grid::pad`]: `s` (`h·w` floats) into `p` (`plane` floats).
    fn pad_plane(&self, s: &[f32], p: &mut [f32]) {
        p[..self.wp + 1].fill(0.0);
        for (y, row) in s.chunks_exact(self.w).enumerate() {
            let at = (y + 1) * self.wp + 1;
            p[at..at + self.w].copy_from_slice(row);
            // Right padding of this row and left padding of the next.
            p[at + self.w..at + self.w + 2].fill(0.0);
        }
        p[(self.h + 1) * self.wp + 1..].fill(0.0);
    }

    /// Copies the first `dst.len() / (h·w)` planes of grid output `grid` (`nq` floats per
    /// plane) into `dst` as `h × w` planes, dropping the two extra columns of each row.
    /// Rows of the widths of [`Grid::pad`] are copied as arrays.
    pub(crate) fn unpad(&self, grid: &[f32], dst: &mut [f32]) {
        by_width!(self, unpad_rows, unpad_any, grid, dst)
    }

    /// [`Grid::unpad`] for any width.
    fn unpad_any(&self, grid: &[f32], dst: &mut [f32]) {
        let hw = self.h * self.w;
        for (d, g) in dst.chunks_exact_mut(hw).zip(grid.chunks_exact(self.nq)) {
            for (y, row) in d.chunks_exact_mut(self.w).enumerate() {
                row.copy_from_slice(&g[y * self.wp..y * self.wp + self.w]);
            }
        }
    }

    /// [`Grid::pad_plane`] of a grid `W` wide.
    ///
    /// # Panics
    /// If `W` is not the grid's width.
    fn pad_plane_rows<const W: usize>(&self, s: &[f32], p: &mut [f32]) {
        assert_eq!(self.w, W, "the grid's width");
        let wp = W + 2;
        let (head, body) = p.split_at_mut(wp + 1);
        head.fill(0.0);
        for (row, out) in s.chunks_exact(W).zip(body.chunks_exact_mut(wp)) {
            let row: &[f32; W] = row.try_into().expect("a row of W floats");
            let (vals, pad) = out.split_at_mut(W);
            let vals: &mut [f32; W] = vals.try_into().expect("W floats");
            *vals = *row;
            // Right padding of this row and left padding of the next.
            pad.fill(0.0);
        }
        p[(self.h + 1) * wp + 1..].fill(0.0);
    }

    /// [`Grid::unpad`] of a grid `W` wide.
    ///
    /// # Panics
    /// If `W` is not the grid's width.
    fn unpad_rows<const W: usize>(&self, grid: &[f32], dst: &mut [f32]) {
        assert_eq!(self.w, W, "the grid's width");
        let wp = W + 2;
        let hw = self.h * W;
        for (d, g) in dst.chunks_exact_mut(hw).zip(grid.chunks_exact(self.nq)) {
            for (row, src) in d.chunks_exact_mut(W).zip(g.chunks(wp)) {
                let row: &mut [f32; W] = row.try_into().expect("a row of W floats");
                *row = src[..W].try_into().expect("W floats");
            }
        }
    }
}

/// Weights `[o][c][3][3]` (`PyTorch` layout) rearranged into tiles: `[⌈o/OB⌉][c][9][OB]`,
/// output channels past `o` zero. With `flip`, the input-gradient weights instead: in and
/// out channels swapped and the kernel rotated by 180° (`W'[c][o][t] = W[o][c][8 − t]`).
pub(crate) fn tile_weights(w: &[f32], o: usize, c: usize, flip: bool) -> Vec<f32> {
    let (to, tc) = if flip { (c, o) } else { (o, c) };
    let blocks = to.div_ceil(OB);
    let mut t = vec![0.0f32; blocks * tc * 9 * OB];
    for oo in 0..to {
        for cc in 0..tc {
            for tap in 0..9 {
                let v = if flip {
                    w[(cc * c + oo) * 9 + 8 - tap]
                } else {
                    w[(oo * c + cc) * 9 + tap]
                };
                t[(((oo / OB) * tc + cc) * 9 + tap) * OB + oo % OB] = v;
            }
        }
    }
    t
}

/// The biases of output-channel tile `ob` (zeros without a bias).
#[inline(always)]
fn tile_bias(bias: Option<&[f32]>, ob: usize) -> [f32; OB] {
    bias.map_or([0.0; OB], |b| {
        b[ob * OB..(ob + 1) * OB]
            .try_into()
            .expect("a slice of OB floats")
    })
}

/// `dst[j][q] = bias[j] + Σ_c Σ_t w[j][c][t] · src[c][q + off_t]` for every tile of output
/// channels `j < dst.len() / nq` (a multiple of [`OB`]) and grid position `q < nq`.
///
/// `src`: `cin` padded planes ([`Grid::pad`]); `wt`: weights from [`tile_weights`]; `bias`:
/// one per channel of `dst` (0 for the padding channels past the layer's outputs).
pub(crate) fn conv(
    g: &Grid,
    src: &[f32],
    cin: usize,
    wt: &[f32],
    bias: Option<&[f32]>,
    dst: &mut [f32],
) {
    assert_eq!(src.len(), cin * g.plane, "padded input size");
    assert_eq!(
        dst.len() % (OB * g.nq),
        0,
        "output holds whole channel tiles"
    );
    assert_eq!(wt.len(), dst.len() / g.nq * cin * 9, "tiled weights size");
    assert!(
        bias.is_none_or(|b| b.len() == dst.len() / g.nq),
        "one bias per channel"
    );
    #[cfg(target_arch = "x86_64")]
    if avx512_kernels() {
        // SAFETY: the CPU supports AVX-512F (checked just above).
        #[allow(unsafe_code)]
        unsafe {
            conv_avx512(g, src, cin, wt, bias, dst)
        };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if fma_kernels() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        #[allow(unsafe_code)]
        unsafe {
            conv_fma(g, src, cin, wt, bias, dst)
        };
        return;
    }
    conv_tiles(g, src, cin, wt, bias, dst);
}

/// [`conv_tiles`] with AVX2 + FMA intrinsics: the 4 × 16 tile in eight `ymm` accumulators,
/// per tap two unaligned loads, four broadcasts and eight fused multiply-adds (a 4 × 24 tile
/// needs 16 registers with its operands, one more than AVX2 leaves, and ran 1.8× slower).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(unsafe_code)]
fn conv_fma(g: &Grid, src: &[f32], cin: usize, wt: &[f32], bias: Option<&[f32]>, dst: &mut [f32]) {
    use std::arch::x86_64::*;
    const _: () = assert!(OB == 4 && Q == 16, "the kernel is written for 4 × 16 tiles");
    let offs = g.offsets();
    let (nq, plane) = (g.nq, g.plane);
    // Each tap reads Q floats at q0 + off ≤ q0 + 2·wp + 2: the window below.
    let span = offs[8] + Q;
    for (ob, (out, wb)) in dst
        .chunks_exact_mut(OB * nq)
        .zip(wt.chunks_exact(cin * 9 * OB))
        .enumerate()
    {
        let b0 = tile_bias(bias, ob);
        for q0 in (0..nq).step_by(Q) {
            let mut acc: [__m256; 8] = std::array::from_fn(|i| _mm256_set1_ps(b0[i / 2]));
            for (s, w9) in src.chunks_exact(plane).zip(wb.chunks_exact(9 * OB)) {
                let win = &s[q0..q0 + span];
                let w9: &[f32; 9 * OB] = w9.try_into().expect("a slice of 36 floats");
                for (t, &off) in offs.iter().enumerate() {
                    // SAFETY: off + Q ≤ span = win.len() (offsets grow with t), so the two
                    // 8-float loads at off and off + 8 lie inside `win`.
                    let (x0, x1) = unsafe {
                        let p = win.as_ptr().add(off);
                        (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)))
                    };
                    for j in 0..OB {
                        let wv = _mm256_set1_ps(w9[t * OB + j]);
                        acc[2 * j] = _mm256_fmadd_ps(wv, x0, acc[2 * j]);
                        acc[2 * j + 1] = _mm256_fmadd_ps(wv, x1, acc[2 * j + 1]);
                    }
                }
            }
            for (i, a) in acc.iter().enumerate() {
                let at = (i / 2) * nq + q0 + (i % 2) * 8;
                let o = &mut out[at..at + 8];
                // SAFETY: `o` holds 8 floats.
                unsafe { _mm256_storeu_ps(o.as_mut_ptr(), *a) };
            }
        }
    }
}

/// [`conv_fma`] with AVX-512: 4 channels × 32 positions in eight `zmm` accumulators (per tap
/// two loads, four broadcasts, eight 16-lane fused multiply-adds: half the loads per
/// multiply-add of the AVX2 tile), and a 4 × 16 tile for an odd last 16 positions. Every output
/// is the same chain of fused multiply-adds in the same order as in [`conv_fma`], so the two
/// give identical bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)]
fn conv_avx512(
    g: &Grid,
    src: &[f32],
    cin: usize,
    wt: &[f32],
    bias: Option<&[f32]>,
    dst: &mut [f32],
) {
    use std::arch::x86_64::*;
    const _: () = assert!(OB == 4 && Q == 16, "the kernel is written for 4 × 16 tiles");
    let offs = g.offsets();
    let (nq, plane) = (g.nq, g.plane);
    for (ob, (out, wb)) in dst
        .chunks_exact_mut(OB * nq)
        .zip(wt.chunks_exact(cin * 9 * OB))
        .enumerate()
    {
        let b0 = tile_bias(bias, ob);
        let mut q0 = 0;
        while q0 + 2 * Q <= nq {
            let span = offs[8] + 2 * Q;
            let mut acc: [__m512; 8] = std::array::from_fn(|i| _mm512_set1_ps(b0[i / 2]));
            for (s, w9) in src.chunks_exact(plane).zip(wb.chunks_exact(9 * OB)) {
                // Each tap reads 32 floats at q0 + off ≤ q0 + 2·wp + 2: inside this window
                // (q0 + 32 ≤ nq and plane = nq + 2·wp + 2).
                let win = &s[q0..q0 + span];
                let w9: &[f32; 9 * OB] = w9.try_into().expect("a slice of 36 floats");
                for (t, &off) in offs.iter().enumerate() {
                    // SAFETY: off + 32 ≤ span = win.len().
                    let (x0, x1) = unsafe {
                        let p = win.as_ptr().add(off);
                        (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16)))
                    };
                    for j in 0..OB {
                        let wv = _mm512_set1_ps(w9[t * OB + j]);
                        acc[2 * j] = _mm512_fmadd_ps(wv, x0, acc[2 * j]);
                        acc[2 * j + 1] = _mm512_fmadd_ps(wv, x1, acc[2 * j + 1]);
                    }
                }
            }
            for (i, a) in acc.iter().enumerate() {
                let at = (i / 2) * nq + q0 + (i % 2) * 16;
                let o = &mut out[at..at + 16];
                // SAFETY: `o` holds 16 floats.
                unsafe { _mm512_storeu_ps(o.as_mut_ptr(), *a) };
            }
            q0 += 2 * Q;
        }
        if q0 < nq {
            // The last 16 positions (nq is a multiple of 16).
            let span = offs[8] + Q;
            let mut acc: [__m512; 4] = std::array::from_fn(|i| _mm512_set1_ps(b0[i]));
            for (s, w9) in src.chunks_exact(plane).zip(wb.chunks_exact(9 * OB)) {
                let win = &s[q0..q0 + span];
                let w9: &[f32; 9 * OB] = w9.try_into().expect("a slice of 36 floats");
                for (t, &off) in offs.iter().enumerate() {
                    // SAFETY: off + 16 ≤ span = win.len().
                    let x0 = unsafe { _mm512_loadu_ps(win.as_ptr().add(off)) };
                    for (j, a) in acc.iter_mut().enumerate() {
                        *a = _mm512_fmadd_ps(_mm512_set1_ps(w9[t * OB + j]), x0, *a);
                    }
                }
            }
            for (j, a) in acc.iter().enumerate() {
                let o = &mut out[j * nq + q0..j * nq + q0 + 16];
                // SAFETY: `o` holds 16 floats.
                unsafe { _mm512_storeu_ps(o.as_mut_ptr(), *a) };
            }
        }
    }
}

#[inline(always)]
fn conv_tiles(
    g: &Grid,
    src: &[f32],
    cin: usize,
    wt: &[f32],
    bias: Option<&[f32]>,
    dst: &mut [f32],
) {
    let offs = g.offsets();
    let (nq, plane) = (g.nq, g.plane);
    for (ob, (out, wb)) in dst
        .chunks_exact_mut(OB * nq)
        .zip(wt.chunks_exact(cin * 9 * OB))
        .enumerate()
    {
        let b0 = tile_bias(bias, ob);
        for q0 in (0..nq).step_by(Q) {
            let mut acc: [[f32; Q]; OB] = std::array::from_fn(|j| [b0[j]; Q]);
            for (s, w9) in src.chunks_exact(plane).zip(wb.chunks_exact(9 * OB)) {
                for (off, wj) in offs.iter().zip(w9.chunks_exact(OB)) {
                    let x: &[f32; Q] = s[q0 + off..q0 + off + Q]
                        .try_into()
                        .expect("a slice of Q floats");
                    for (a, &wv) in acc.iter_mut().zip(wj) {
                        for (al, &xl) in a.iter_mut().zip(x) {
                            *al += wv * xl;
                        }
                    }
                }
            }
            for (j, a) in acc.iter().enumerate() {
                out[j * nq + q0..j * nq + q0 + Q].copy_from_slice(a);
            }
        }
    }
}

/// `dw[o][c][t] += Σ_m Σ_q dy_m[o][wp + 1 + q] · x_m[c][q + off_t]` for `o < cout`, `c < cin`
/// (`q < nq`): the weight gradient of `imgs` images (their lanes summed before one horizontal
/// sum per weight, which keeps small maps efficient), `dy` and `x` both padded ([`Grid::pad`];
/// image after image, `dy` with its channels padded to a multiple of [`OB`]), `dw` in
/// `PyTorch` layout `[cout][cin][3][3]`.
pub(crate) fn weight_grad(
    g: &Grid,
    dy: &[f32],
    x: &[f32],
    (imgs, cin, cout): (usize, usize, usize),
    dw: &mut [f32],
) {
    assert_eq!(x.len(), imgs * cin * g.plane, "padded input size");
    assert_eq!(
        dy.len(),
        imgs * cout.next_multiple_of(OB) * g.plane,
        "padded gradient size"
    );
    assert_eq!(dw.len(), cout * cin * 9, "weight gradient size");
    #[cfg(target_arch = "x86_64")]
    if fma_kernels() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        #[allow(unsafe_code)]
        unsafe {
            weight_grad_fma(g, dy, x, (imgs, cin, cout), dw)
        };
        return;
    }
    weight_grad_tiles(g, dy, x, (imgs, cin, cout), dw);
}

/// [`weight_grad_tiles`] with AVX2 + FMA intrinsics: per (channel tile, input channel, kernel
/// row) twelve `ymm` accumulators, per 8 grid positions four loads of `dY`, three of `x` and
/// twelve fused multiply-adds. The images are walked by pointer from bounds asserted once per
/// row: slicing each image's rows (an out-of-line call per image) made the kernel 1.3–1.6×
/// slower on 16×16 and 8×8 maps, where an image's row is only 36 or 10 vectors.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(unsafe_code)]
fn weight_grad_fma(
    g: &Grid,
    dy: &[f32],
    x: &[f32],
    (imgs, cin, cout): (usize, usize, usize),
    dw: &mut [f32],
) {
    use std::arch::x86_64::*;
    const _: () = assert!(
        OB == 4 && L == 8,
        "the kernel is written for 4 channels × 8 lanes"
    );
    let (nq, plane, wp) = (g.nq, g.plane, g.wp);
    let (dy_len, x_len) = (dy.len() / imgs, x.len() / imgs);
    for ob in 0..dy_len / (OB * plane) {
        for ci in 0..cin {
            for ky in 0..3 {
                let mut acc = [_mm256_setzero_ps(); 12];
                // Image m's dY rows of this tile start at dy0 + m·dy_len + j·plane (j < OB),
                // its x row at x0 + m·x_len; per image the loads below reach
                // dy0 + (OB − 1)·plane + nq − 1 < (ob + 1)·OB·plane ≤ dy_len and
                // x0 + nq + 1 < (ci + 1)·plane ≤ x_len (nq + 2·wp + 2 = plane).
                let dy0 = ob * OB * plane + wp + 1;
                let x0 = ci * plane + ky * wp;
                assert!(dy0 + (OB - 1) * plane + nq <= dy_len && x0 + nq + 2 <= x_len);
                for m in 0..imgs {
                    // SAFETY: the bounds above, per image inside dy and x (m < imgs).
                    unsafe {
                        let d = dy.as_ptr().add(m * dy_len + dy0);
                        let row = x.as_ptr().add(m * x_len + x0);
                        for q0 in (0..nq).step_by(L) {
                            let xv = [
                                _mm256_loadu_ps(row.add(q0)),
                                _mm256_loadu_ps(row.add(q0 + 1)),
                                _mm256_loadu_ps(row.add(q0 + 2)),
                            ];
                            for j in 0..OB {
                                let dv = _mm256_loadu_ps(d.add(j * plane + q0));
                                for (kx, xk) in xv.iter().enumerate() {
                                    acc[3 * j + kx] = _mm256_fmadd_ps(dv, *xk, acc[3 * j + kx]);
                                }
                            }
                        }
                    }
                }
                for (i, a) in acc.iter().enumerate() {
                    let o = ob * OB + i / 3;
                    if o >= cout {
                        break;
                    }
                    let mut l = [0.0f32; L];
                    // SAFETY: `l` holds 8 floats.
                    unsafe { _mm256_storeu_ps(l.as_mut_ptr(), *a) };
                    // Lanes summed pairwise in the portable kernel's order.
                    let s = ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]));
                    dw[(o * cin + ci) * 9 + ky * 3 + i % 3] += s;
                }
            }
        }
    }
}

#[inline(always)]
fn weight_grad_tiles(
    g: &Grid,
    dy: &[f32],
    x: &[f32],
    (imgs, cin, cout): (usize, usize, usize),
    dw: &mut [f32],
) {
    let (nq, plane, wp) = (g.nq, g.plane, g.wp);
    let (dy_len, x_len) = (dy.len() / imgs, x.len() / imgs);
    for ob in 0..dy_len / (OB * plane) {
        for ci in 0..cin {
            for ky in 0..3 {
                // acc[j][kx]: output channel ob·OB + j, tap (ky, kx), one lane per q mod L.
                let mut acc = [[[0.0f32; L]; 3]; OB];
                for (dym, xm) in dy.chunks_exact(dy_len).zip(x.chunks_exact(x_len)) {
                    let dyb = &dym[ob * OB * plane..(ob + 1) * OB * plane];
                    let dys: [&[f32]; OB] =
                        std::array::from_fn(|j| &dyb[j * plane + wp + 1..j * plane + wp + 1 + nq]);
                    // Loads reach q0 + kx + L − 1 ≤ nq + 1.
                    let row = &xm[ci * plane + ky * wp..ci * plane + ky * wp + nq + 2];
                    for q0 in (0..nq).step_by(L) {
                        let xv: [&[f32; L]; 3] = std::array::from_fn(|kx| {
                            row[q0 + kx..q0 + kx + L]
                                .try_into()
                                .expect("a slice of L floats")
                        });
                        for (aj, d) in acc.iter_mut().zip(&dys) {
                            let d: &[f32; L] =
                                d[q0..q0 + L].try_into().expect("a slice of L floats");
                            for (a, xk) in aj.iter_mut().zip(&xv) {
                                for ((al, &dl), &xl) in a.iter_mut().zip(d).zip(*xk) {
                                    *al += dl * xl;
                                }
                            }
                        }
                    }
                }
                for (j, aj) in acc.iter().enumerate() {
                    let o = ob * OB + j;
                    if o >= cout {
                        break;
                    }
                    for (kx, a) in aj.iter().enumerate() {
                        // Lanes summed pairwise in a fixed order.
                        let s = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
                        dw[(o * cin + ci) * 9 + ky * 3 + kx] += s;
                    }
                }
            }
        }
    }
}

/// A strided convolution (`k × k`, stride `s ≥ 2`, padding `p`) as a 3×3 stride-1 one over
/// `s²` phase planes per input channel ("space to depth"), when its kernel spans at most three
/// phases (`k ≤ 3s`) and the zero taps this adds cost less than `im2col`'s gather would:
/// `9s² ≤ 2k²` (TenSEAL's 7×7 / 3 and the HE CNN's 5×5 / 2 qualify; ResNet's 3×3 / 2 does
/// not). Phase plane `(c, py, px)` holds the padded input at rows `a·s + py` and columns
/// `b·s + px` at grid position `a·wp + b`, so tap `(ky, kx)` of the original kernel is tap
/// `(ky / s, kx / s)` of phase `(ky mod s, kx mod s)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Phases {
    c: usize,
    h: usize,
    w: usize,
    k: usize,
    s: usize,
    p: usize,
    /// The output grid (`oh × ow`).
    pub(crate) grid: Grid,
}

impl Phases {
    /// The phase layout of a convolution, or `None` when it does not qualify (see above), or
    /// its output is narrower than [`MIN_SIDE`] or does not fit the three-phase reach.
    pub(crate) fn new(
        [c, h, w]: [usize; 3],
        (k, s, p): (usize, usize, usize),
        [oh, ow]: [usize; 2],
    ) -> Option<Self> {
        if s < 2 || k > 3 * s || 9 * s * s > 2 * k * k || ow < MIN_SIDE {
            return None;
        }
        Some(Self {
            c,
            h,
            w,
            k,
            s,
            p,
            grid: Grid::new(oh, ow),
        })
    }

    /// Phase planes of the input (`c·s²` planes).
    pub(crate) fn channels(&self) -> usize {
        self.c * self.s * self.s
    }

    /// Writes the phase planes of one image (`x`: `c·h·w` floats) into `dst`
    /// (`channels()·plane` floats), zeros outside the padded input.
    pub(crate) fn fill(&self, x: &[f32], dst: &mut [f32]) {
        let (g, s, p) = (self.grid, self.s, self.p);
        dst.fill(0.0);
        // Grid columns b whose input column b·s + px − p lies inside the image: lo..hi.
        let cols = |px: usize| {
            let lo = p.saturating_sub(px).div_ceil(s);
            let hi = (self.w + p).saturating_sub(px).div_ceil(s).min(g.wp);
            (lo, hi.max(lo))
        };
        for (ci, plane) in x.chunks_exact(self.h * self.w).enumerate() {
            for py in 0..s {
                for px in 0..s {
                    let d = &mut dst[((ci * s + py) * s + px) * g.plane..][..g.plane];
                    let (lo, hi) = cols(px);
                    if lo == hi {
                        continue;
                    }
                    // Rows a with a·s + py − p inside the image.
                    for a in 0..g.plane / g.wp {
                        let Some(iy) = (a * s + py).checked_sub(p).filter(|&iy| iy < self.h) else {
                            continue;
                        };
                        let row = &plane[iy * self.w..(iy + 1) * self.w];
                        let src = row[lo * s + px - p..].iter().step_by(s);
                        for (v, &x) in d[a * g.wp + lo..a * g.wp + hi].iter_mut().zip(src) {
                            *v = x;
                        }
                    }
                }
            }
        }
    }

    /// Weights `[o][c][k][k]` as [`tile_weights`] of the 3×3 phase convolution
    /// (`[o][c·s²][3][3]`, zero where no original tap lands).
    pub(crate) fn weights(&self, w: &[f32], o: usize) -> Vec<f32> {
        let (c, k, s) = (self.c, self.k, self.s);
        let cp = self.channels();
        let mut w3 = vec![0.0f32; o * cp * 9];
        for oo in 0..o {
            for ci in 0..c {
                for ky in 0..k {
                    for kx in 0..k {
                        let phase = (ci * s + ky % s) * s + kx % s;
                        let tap = (ky / s) * 3 + kx / s;
                        w3[(oo * cp + phase) * 9 + tap] = w[((oo * c + ci) * k + ky) * k + kx];
                    }
                }
            }
        }
        tile_weights(&w3, o, cp, false)
    }
}

/// `c = a · b` for a short `a` (`m × k`, row-major) and a wide, contiguous `b` (`k × n`,
/// row-major), `c` row-major `m × n`, with no packing: tiles of [`OB`] rows × 16 columns
/// read `b`'s rows in place (AVX2 + FMA when the CPU has them, else portable; rows past the
/// last whole tile and columns past the last 16 in plain loops). For convolutions with few
/// output channels, where a general GEMM spends as long packing `b` as multiplying.
pub(crate) fn wide_gemm(a: &[f32], (m, k, n): (usize, usize, usize), b: &[f32], c: &mut [f32]) {
    assert!(
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "wide GEMM sizes"
    );
    let (mt, nt) = (m / OB * OB, n / 16 * 16);
    #[cfg(target_arch = "x86_64")]
    if fma_kernels() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        #[allow(unsafe_code)]
        unsafe {
            wide_gemm_fma(a, (mt, k, n), b, c)
        };
    } else {
        wide_gemm_tiles(a, (mt, k, n), b, c);
    }
    #[cfg(not(target_arch = "x86_64"))]
    wide_gemm_tiles(a, (mt, k, n), b, c);
    // Remainder rows (all columns) and the remainder columns of the tiled rows.
    for i in 0..m {
        let from = if i < mt { nt } else { 0 };
        for j in from..n {
            let mut s = 0.0f32;
            for kk in 0..k {
                s += a[i * k + kk] * b[kk * n + j];
            }
            c[i * n + j] = s;
        }
    }
}

/// The tiled part of [`wide_gemm`] (rows `..mt`, columns `..n / 16 · 16`), portable.
fn wide_gemm_tiles(a: &[f32], (mt, k, n): (usize, usize, usize), b: &[f32], c: &mut [f32]) {
    for ib in (0..mt).step_by(OB) {
        for q0 in (0..n / 16 * 16).step_by(16) {
            let mut acc = [[0.0f32; 16]; OB];
            for kk in 0..k {
                let x: &[f32; 16] = b[kk * n + q0..kk * n + q0 + 16]
                    .try_into()
                    .expect("a slice of 16 floats");
                for (j, aj) in acc.iter_mut().enumerate() {
                    let w = a[(ib + j) * k + kk];
                    for (al, &xl) in aj.iter_mut().zip(x) {
                        *al += w * xl;
                    }
                }
            }
            for (j, aj) in acc.iter().enumerate() {
                c[(ib + j) * n + q0..(ib + j) * n + q0 + 16].copy_from_slice(aj);
            }
        }
    }
}

/// [`wide_gemm_tiles`] with AVX2 + FMA intrinsics: eight `ymm` accumulators, per row of `b` two
/// loads, four broadcasts and eight fused multiply-adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(unsafe_code)]
fn wide_gemm_fma(a: &[f32], (mt, k, n): (usize, usize, usize), b: &[f32], c: &mut [f32]) {
    use std::arch::x86_64::*;
    let b = &b[..k * n];
    for ib in (0..mt).step_by(OB) {
        let rows: [&[f32]; OB] = std::array::from_fn(|j| &a[(ib + j) * k..(ib + j + 1) * k]);
        for q0 in (0..n / 16 * 16).step_by(16) {
            let mut acc = [_mm256_setzero_ps(); 8];
            for kk in 0..k {
                let x = &b[kk * n + q0..kk * n + q0 + 16];
                // SAFETY: `x` holds 16 floats.
                let (x0, x1) = unsafe {
                    (
                        _mm256_loadu_ps(x.as_ptr()),
                        _mm256_loadu_ps(x.as_ptr().add(8)),
                    )
                };
                for (j, r) in rows.iter().enumerate() {
                    let w = _mm256_set1_ps(r[kk]);
                    acc[2 * j] = _mm256_fmadd_ps(w, x0, acc[2 * j]);
                    acc[2 * j + 1] = _mm256_fmadd_ps(w, x1, acc[2 * j + 1]);
                }
            }
            for (i, v) in acc.iter().enumerate() {
                let at = (ib + i / 2) * n + q0 + (i % 2) * 8;
                let o = &mut c[at..at + 8];
                // SAFETY: `o` holds 8 floats.
                unsafe { _mm256_storeu_ps(o.as_mut_ptr(), *v) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: `y[o][y][x] = b[o] + Σ w[o][c][ky][kx] · x[c][y + ky − 1][x + kx − 1]`.
    fn naive(x: &[f32], w: &[f32], b: &[f32], c: usize, o: usize, h: usize, wd: usize) -> Vec<f32> {
        let mut y = vec![0.0f32; o * h * wd];
        for oo in 0..o {
            for yy in 0..h {
                for xx in 0..wd {
                    let mut s = f64::from(b[oo]);
                    for cc in 0..c {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (iy, ix) =
                                    ((yy + ky).wrapping_sub(1), (xx + kx).wrapping_sub(1));
                                if iy < h && ix < wd {
                                    s += f64::from(w[((oo * c + cc) * 3 + ky) * 3 + kx])
                                        * f64::from(x[(cc * h + iy) * wd + ix]);
                                }
                            }
                        }
                    }
                    y[(oo * h + yy) * wd + xx] = s as f32;
                }
            }
        }
        y
    }

    fn data(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 + seed) * 0.618).sin()).collect()
    }

    fn run_both(f: impl Fn(bool)) {
        f(false);
        if fma_kernels() {
            f(true);
        }
    }

    fn forward(
        fused: bool,
        g: &Grid,
        xp: &[f32],
        c: usize,
        wt: &[f32],
        b: Option<&[f32]>,
        out: &mut [f32],
    ) {
        if fused {
            conv(g, xp, c, wt, b, out);
        } else {
            conv_tiles(g, xp, c, wt, b, out);
        }
    }

    #[test]
    fn forward_input_and_weight_gradients_match_the_definition() {
        // Odd channel counts (tile padding), narrow and wide, square and not.
        for &(c, o, h, wd) in &[(3, 8, 8, 8), (5, 6, 9, 13), (8, 4, 16, 16), (2, 3, 12, 32)] {
            let (x, w, b) = (data(c * h * wd, 1.0), data(o * c * 9, 2.0), data(o, 3.0));
            let g = Grid::new(h, wd);
            let want = naive(&x, &w, &b, c, o, h, wd);
            run_both(|fused| {
                let mut xp = vec![f32::NAN; c * g.plane];
                g.pad(&x, &mut xp);
                let ot = o.next_multiple_of(OB);
                let mut out = vec![0.0; ot * g.nq];
                let mut bt = b.clone();
                bt.resize(ot, 0.0);
                forward(
                    fused,
                    &g,
                    &xp,
                    c,
                    &tile_weights(&w, o, c, false),
                    Some(&bt),
                    &mut out,
                );
                let mut y = vec![0.0; o * h * wd];
                g.unpad(&out, &mut y);
                for (a, e) in y.iter().zip(&want) {
                    assert!(
                        (a - e).abs() < 1e-4,
                        "forward {a} vs {e} ({c},{o},{h},{wd})"
                    );
                }

                // Gradients of L = Σ y ⊙ r: dY = r, dX and dW against the adjoint definitions.
                let r = data(o * h * wd, 4.0);
                let mut dyp = vec![f32::NAN; ot * g.plane];
                g.pad(&r, &mut dyp);
                let ct = c.next_multiple_of(OB);
                let mut dxg = vec![0.0; ct * g.nq];
                forward(
                    fused,
                    &g,
                    &dyp[..o * g.plane],
                    o,
                    &tile_weights(&w, o, c, true),
                    None,
                    &mut dxg,
                );
                let mut dx = vec![0.0; c * h * wd];
                g.unpad(&dxg, &mut dx);
                let mut dw = vec![0.0; o * c * 9];
                if fused {
                    weight_grad(&g, &dyp, &xp, (1, c, o), &mut dw);
                } else {
                    weight_grad_tiles(&g, &dyp, &xp, (1, c, o), &mut dw);
                }
                // dX[i] = ∂L/∂x[i]: L is linear in x, so it is L(e_i) − L(0) by the definition.
                let zero = vec![0.0; o];
                for i in (0..c * h * wd).step_by(7) {
                    let mut e = vec![0.0; c * h * wd];
                    e[i] = 1.0;
                    let li: f64 = naive(&e, &w, &zero, c, o, h, wd)
                        .iter()
                        .zip(&r)
                        .map(|(a, b)| f64::from(a * b))
                        .sum();
                    assert!(
                        (f64::from(dx[i]) - li).abs() < 1e-4,
                        "dx[{i}] {} vs {li}",
                        dx[i]
                    );
                }
                for k in 0..o * c * 9 {
                    let mut e = vec![0.0; o * c * 9];
                    e[k] = 1.0;
                    let lk: f64 = naive(&x, &e, &zero, c, o, h, wd)
                        .iter()
                        .zip(&r)
                        .map(|(a, b)| f64::from(a * b))
                        .sum();
                    assert!(
                        (f64::from(dw[k]) - lk).abs() < 1e-3,
                        "dw[{k}] {} vs {lk}",
                        dw[k]
                    );
                }
            });
        }
    }

    #[test]
    fn weight_gradient_of_several_images_is_the_sum_of_theirs() {
        let (c, o, h, wd) = (3usize, 5usize, 8, 10);
        let g = Grid::new(h, wd);
        let ot = o.next_multiple_of(OB);
        let mut xp = vec![0.0; 3 * c * g.plane];
        let mut dyp = vec![0.0; 3 * ot * g.plane];
        for m in 0..3 {
            let x = data(c * h * wd, m as f32 * 10.0);
            let dy = data(o * h * wd, m as f32 * 10.0 + 5.0);
            g.pad(&x, &mut xp[m * c * g.plane..(m + 1) * c * g.plane]);
            g.pad(&dy, &mut dyp[m * ot * g.plane..(m + 1) * ot * g.plane]);
        }
        run_both(|fused| {
            let wgrad = |imgs: usize, x: &[f32], dy: &[f32], dw: &mut [f32]| {
                if fused {
                    weight_grad(&g, dy, x, (imgs, c, o), dw);
                } else {
                    weight_grad_tiles(&g, dy, x, (imgs, c, o), dw);
                }
            };
            let mut all = vec![0.0; o * c * 9];
            wgrad(3, &xp, &dyp, &mut all);
            let mut each = vec![0.0; o * c * 9];
            for m in 0..3 {
                let mut one = vec![0.0; o * c * 9];
                wgrad(
                    1,
                    &xp[m * c * g.plane..(m + 1) * c * g.plane],
                    &dyp[m * ot * g.plane..(m + 1) * ot * g.plane],
                    &mut one,
                );
                each.iter_mut().zip(&one).for_each(|(e, v)| *e += v);
            }
            for (a, e) in all.iter().zip(&each) {
                assert!((a - e).abs() < 1e-3 * (1.0 + e.abs()), "{a} vs {e}");
            }
        });
    }

    #[test]
    fn wide_gemm_matches_the_product() {
        for &(m, k, n) in &[
            (4usize, 49usize, 512usize),
            (6, 7, 37),
            (3, 5, 16),
            (8, 1, 9),
        ] {
            let (a, b) = (data(m * k, 1.5), data(k * n, 2.5));
            let mut c = vec![f32::NAN; m * n];
            wide_gemm(&a, (m, k, n), &b, &mut c);
            let mut p = vec![f32::NAN; m * n];
            // The portable tiles, then the same remainder loops.
            wide_gemm_tiles(&a, (m / OB * OB, k, n), &b, &mut p);
            for i in 0..m {
                for j in 0..n {
                    let e: f64 = (0..k)
                        .map(|kk| f64::from(a[i * k + kk]) * f64::from(b[kk * n + j]))
                        .sum();
                    assert!(
                        (f64::from(c[i * n + j]) - e).abs() < 1e-4,
                        "({m},{k},{n}) [{i},{j}]"
                    );
                    if i < m / OB * OB && j < n / 16 * 16 {
                        assert!((f64::from(p[i * n + j]) - e).abs() < 1e-4);
                    }
                }
            }
        }
    }

    /// The definition at any stride and padding.
    fn naive_strided(
        x: &[f32],
        w: &[f32],
        [c, h, wd]: [usize; 3],
        (o, k, s, p): (usize, usize, usize, usize),
    ) -> (Vec<f32>, [usize; 2]) {
        let (oh, ow) = ((h + 2 * p - k) / s + 1, (wd + 2 * p - k) / s + 1);
        let mut y = vec![0.0f32; o * oh * ow];
        for oo in 0..o {
            for yy in 0..oh {
                for xx in 0..ow {
                    let mut acc = 0.0f64;
                    for cc in 0..c {
                        for ky in 0..k {
                            for kx in 0..k {
                                let (iy, ix) =
                                    ((yy * s + ky).wrapping_sub(p), (xx * s + kx).wrapping_sub(p));
                                if iy < h && ix < wd {
                                    acc += f64::from(w[((oo * c + cc) * k + ky) * k + kx])
                                        * f64::from(x[(cc * h + iy) * wd + ix]);
                                }
                            }
                        }
                    }
                    y[(oo * oh + yy) * ow + xx] = acc as f32;
                }
            }
        }
        (y, [oh, ow])
    }

    #[test]
    fn strided_convolutions_through_phase_planes_match_the_definition() {
        // TenSEAL's 7×7 / 3, the HE CNN's 5×5 / 2, padded and multi-channel variants.
        for &(c, h, wd, o, k, s, p) in &[
            (1usize, 28usize, 28usize, 4usize, 7usize, 3usize, 0usize),
            (1, 28, 28, 8, 5, 2, 0),
            (2, 20, 23, 3, 5, 2, 2),
            (3, 30, 30, 5, 9, 3, 1),
        ] {
            let (x, w) = (data(c * h * wd, 0.3), data(o * c * k * k, 0.7));
            let (want, [oh, ow]) = naive_strided(&x, &w, [c, h, wd], (o, k, s, p));
            let ph = Phases::new([c, h, wd], (k, s, p), [oh, ow]).expect("qualifies");
            let mut planes = vec![f32::NAN; ph.channels() * ph.grid.plane];
            ph.fill(&x, &mut planes);
            let wt = ph.weights(&w, o);
            run_both(|fused| {
                let mut out = vec![0.0; o.next_multiple_of(OB) * ph.grid.nq];
                forward(fused, &ph.grid, &planes, ph.channels(), &wt, None, &mut out);
                let mut y = vec![0.0; o * oh * ow];
                ph.grid.unpad(&out, &mut y);
                for (a, e) in y.iter().zip(&want) {
                    assert!(
                        (a - e).abs() < 1e-4,
                        "{a} vs {e} ({c},{h},{wd},{o},{k},{s},{p})"
                    );
                }
            });
        }
        // ResNet's 3×3 / 2 would waste 4× the work on zero taps: not taken.
        assert!(Phases::new([8, 32, 32], (3, 2, 1), [16, 16]).is_none());
    }

    /// The AVX-512 and AVX2 convolution kernels run the same fused multiply-add chains: equal
    /// bits (fails, rather than skips, on a CPU with AVX-512F).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_and_avx2_convolutions_give_the_same_bits() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            eprintln!("skipped: this CPU has no AVX-512F");
            return;
        }
        // Grids whose nq is an odd and an even number of 16-position tiles.
        for &(c, o, h, wd) in &[
            (3usize, 8usize, 8usize, 8usize),
            (5, 4, 9, 13),
            (16, 12, 16, 16),
            (4, 4, 32, 32),
        ] {
            let g = Grid::new(h, wd);
            let (x, w, b) = (data(c * h * wd, 1.0), data(o * c * 9, 2.0), data(o, 3.0));
            let mut xp = vec![0.0; c * g.plane];
            g.pad(&x, &mut xp);
            let wt = tile_weights(&w, o, c, false);
            let mut bt = b.clone();
            bt.resize(o.next_multiple_of(OB), 0.0);
            let mut a = vec![0.0; o.next_multiple_of(OB) * g.nq];
            let mut f = a.clone();
            #[allow(unsafe_code)]
            // SAFETY: both feature sets were detected above.
            unsafe {
                conv_avx512(&g, &xp, c, &wt, Some(&bt), &mut a);
                conv_fma(&g, &xp, c, &wt, Some(&bt), &mut f);
            }
            assert!(
                a.iter().zip(&f).all(|(x, y)| x.to_bits() == y.to_bits()),
                "({c},{o},{h},{wd})"
            );
        }
    }

    #[test]
    fn padding_of_a_known_width_is_the_general_padding() {
        for w in [8, 14, 16, 28, 32] {
            let g = Grid::new(5, w);
            let x = data(2 * 5 * w, 0.25);
            let (mut a, mut b) = (vec![f32::NAN; 3 * g.plane], vec![f32::NAN; 3 * g.plane]);
            g.pad(&x, &mut a);
            for (p, s) in b.chunks_exact_mut(g.plane).zip(x.chunks_exact(5 * w)) {
                g.pad_plane(s, p);
            }
            b[2 * g.plane..].fill(0.0);
            assert!(
                a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
                "pad, w = {w}"
            );
            let grid = data(2 * g.nq, 0.75);
            let (mut a, mut b) = (vec![f32::NAN; 2 * 5 * w], vec![f32::NAN; 2 * 5 * w]);
            g.unpad(&grid, &mut a);
            g.unpad_any(&grid, &mut b);
            assert!(
                a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
                "unpad, w = {w}"
            );
            // The values come back.
            let mut back = vec![f32::NAN; 2 * 5 * w];
            let mut padded = vec![0.0; 2 * g.plane];
            g.pad(&x, &mut padded);
            let shifted: Vec<f32> = padded
                .chunks_exact(g.plane)
                .flat_map(|p| p[g.wp + 1..g.wp + 1 + g.nq].to_vec())
                .collect();
            g.unpad(&shifted, &mut back);
            assert_eq!(back, x, "w = {w}");
        }
    }

    #[test]
    fn padding_puts_zeros_everywhere_but_the_image() {
        let g = Grid::new(3, 8);
        let x = data(2 * 24, 0.5);
        let mut p = vec![f32::NAN; 3 * g.plane];
        g.pad(&x, &mut p);
        let nonzero = p.iter().filter(|v| **v != 0.0).count();
        assert_eq!(nonzero, x.iter().filter(|v| **v != 0.0).count());
        assert_eq!(p[(1 + 1) * g.wp + 1 + 2], x[8 + 2]);
        let mut back = vec![0.0; 2 * 24];
        // unpad reads grid positions y·wp + x: the padded plane shifted by wp + 1.
        let shifted: Vec<f32> = p
            .chunks_exact(g.plane)
            .flat_map(|pl| pl[g.wp + 1..g.wp + 1 + g.nq].to_vec())
            .collect();
        g.unpad(&shifted, &mut back);
        assert_eq!(back, x);
    }
}
