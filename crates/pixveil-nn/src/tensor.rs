//! Batched activations in `NCHW` layout.

use pixveil_image::ImageBatch;

/// A batch of activations: `n` samples of `c × h × w` `f32` values, row-major `NCHW`
/// (sample-major, then channel, row, column). Dense-layer outputs are `[n, features, 1, 1]`.
#[derive(Clone, Debug, Default, PartialEq)]
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
            data: vec![0.0; n * c * h * w],
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
    /// images at `indices` of `batch`, in that order.
    ///
    /// # Panics
    /// If an index is out of range (callers pass validated indices).
    pub fn from_images(batch: &ImageBatch, indices: &[usize]) -> Self {
        let s = batch.shape();
        let (c, h, w) = (s.channels(), s.height(), s.width());
        let hw = h * w;
        let mut data = vec![0.0f32; indices.len() * c * hw];
        for (dst, &i) in data.chunks_exact_mut(c * hw).zip(indices) {
            let Some(image) = batch.image(i) else {
                panic!("image index {i} out of range");
            };
            if c == 1 {
                for (d, &p) in dst.iter_mut().zip(image) {
                    *d = f32::from(p) / 255.0;
                }
                continue;
            }
            for (p, px) in image.chunks_exact(c).enumerate() {
                for (ch, &v) in px.iter().enumerate() {
                    dst[ch * hw + p] = f32::from(v) / 255.0;
                }
            }
        }
        Self::from_vec(indices.len(), [c, h, w], data)
    }
}
