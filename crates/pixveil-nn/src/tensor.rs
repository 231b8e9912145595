//! Batched activations in `NCHW` layout.

use pixveil_image::ImageBatch;
use pixveil_math::pool::{self, Held};
use rayon::prelude::*;

/// Values from which a tensor's storage comes from and goes back to the thread's buffer pool
/// ([`pixveil_math::pool`]) instead of the allocator: 64 KiB. A training step frees and
/// allocates the same large activations again and again; from the allocator each one came
/// back as fresh pages the kernel faulted in and zeroed (ResNet-18 width 64 spent 10 % of
/// a training pass in the kernel).
pub const POOL_MIN: usize = 1 << 14;

/// A batch of activations: `n` samples of `c × h × w` `f32` values, row-major `NCHW`
/// (sample-major, then channel, row, column). Dense-layer outputs are `[n, features, 1, 1]`.
///
/// Storage of at least [`POOL_MIN`] values is taken from and given back to the calling
/// thread's buffer pool as [`Held::Public`]: not wiped, as memory freed to the allocator is
/// not. Activations are images and what a model computes from them, never key material;
/// wiping each returned buffer over its whole capacity made training slower.
#[derive(Debug, Default, PartialEq)]
pub struct Tensor {
    /// Samples.
    pub n: usize,
    /// Channels (features for dense outputs).
    pub c: usize,
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// `n · c · h · w` values.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A zero tensor.
    pub fn zeros(n: usize, [c, h, w]: [usize; 3]) -> Self {
        Self {
            n,
            c,
            h,
            w,
            data: take(n * c * h * w, true),
        }
    }

    /// A tensor for an output the caller writes in full before reading it: its values are
    /// stale activations from the pool (never uninitialized memory) until then, which saves
    /// the zero fill of [`Tensor::zeros`].
    pub(crate) fn for_overwrite(n: usize, [c, h, w]: [usize; 3]) -> Self {
        Self {
            n,
            c,
            h,
            w,
            data: take(n * c * h * w, false),
        }
    }

    /// Wraps `data` (must hold `n · c · h · w` values).
    ///
    /// # Panics
    /// If the length differs (an internal invariant).
    pub fn from_vec(n: usize, [c, h, w]: [usize; 3], data: Vec<f32>) -> Self {
        assert_eq!(data.len(), n * c * h * w, "tensor length");
        Self { n, c, h, w, data }
    }

    /// The values, leaving the pool (they are the caller's from here on).
    pub fn into_data(mut self) -> Vec<f32> {
        std::mem::take(&mut self.data)
    }

    /// `[c, h, w]` of one sample.
    pub fn sample_shape(&self) -> [usize; 3] {
        [self.c, self.h, self.w]
    }

    /// Values per sample.
    pub fn sample_len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Values of sample `i`.
    pub fn sample(&self, i: usize) -> &[f32] {
        let l = self.sample_len();
        &self.data[i * l..(i + 1) * l]
    }

    /// Model input from `u8` `HWC` images: `CHW` values `pixel / 255` in `[0, 1]` for the
    /// images at `indices` of `batch`, in that order, converted in parallel.
    ///
    /// # Panics
    /// If an index is out of range (callers pass validated indices).
    pub fn from_images(batch: &ImageBatch, indices: &[usize]) -> Self {
        let s = batch.shape();
        let (c, h, w) = (s.channels(), s.height(), s.width());
        let hw = h * w;
        let mut data = take(indices.len() * c * hw, true);
        // Image by image in parallel (a plain conversion: the same values on any thread
        // count); a few images per task, as one small image is little work.
        data.par_chunks_mut(c * hw)
            .zip(indices.par_iter())
            .with_min_len(16)
            .for_each(|(dst, &i)| {
                let Some(image) = batch.image(i) else {
                    panic!("image index {i} out of range");
                };
                if c == 1 {
                    for (d, &p) in dst.iter_mut().zip(image) {
                        *d = f32::from(p) / 255.0;
                    }
                    return;
                }
                for (p, px) in image.chunks_exact(c).enumerate() {
                    for (ch, &v) in px.iter().enumerate() {
                        dst[ch * hw + p] = f32::from(v) / 255.0;
                    }
                }
            });
        Self::from_vec(indices.len(), [c, h, w], data)
    }
}

/// Storage of `len` values: from the thread's pool when at least [`POOL_MIN`] long, zeros if
/// `zeroed`, else zeros or stale pooled values (for storage the caller overwrites in full).
fn take(len: usize, zeroed: bool) -> Vec<f32> {
    match (len >= POOL_MIN, zeroed) {
        (true, true) => pool::take(len),
        (true, false) => pool::take_dirty(len),
        (false, _) => vec![0.0; len],
    }
}

impl Clone for Tensor {
    fn clone(&self) -> Self {
        let mut t = Self::for_overwrite(self.n, [self.c, self.h, self.w]);
        t.data.copy_from_slice(&self.data);
        t
    }
}

impl Drop for Tensor {
    fn drop(&mut self) {
        if self.data.capacity() >= POOL_MIN {
            pool::give(std::mem::take(&mut self.data), Held::Public);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_storage_comes_back_zeroed_and_clones_are_copies() {
        // Run on a fresh thread so the pool starts empty and nothing else shares its shelf.
        std::thread::spawn(|| {
            let mut t = Tensor::zeros(2, [4, 64, 64]);
            assert!(t.data.len() >= POOL_MIN);
            t.data
                .iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = i as f32 + 1.0);
            let c = t.clone();
            assert_eq!(c, t, "a clone holds the same values");
            let ptr = t.data.as_ptr();
            drop(t);
            // The dropped storage serves the next tensor of its size, zeroed.
            let u = Tensor::zeros(2, [4, 64, 64]);
            assert_eq!(u.data.as_ptr(), ptr, "the pool hands the buffer back");
            assert!(u.data.iter().all(|&v| v == 0.0));
            // A smaller one gets zeros of its own length from the clone's storage.
            let cptr = c.data.as_ptr();
            drop(c);
            let v = Tensor::zeros(1, [4, 64, 64]);
            assert_eq!(v.data.as_ptr(), cptr);
            assert_eq!(v.data.len(), 4 * 64 * 64);
            assert!(v.data.iter().all(|&x| x == 0.0));
            // Small tensors never touch the pool; taking their data leaves it.
            let s = Tensor::zeros(1, [1, 4, 4]);
            assert_eq!(s.into_data(), vec![0.0; 16]);
            assert_eq!(u.into_data().len(), 2 * 4 * 64 * 64);
        })
        .join()
        .expect("the test thread");
    }
}
