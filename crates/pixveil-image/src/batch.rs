//! A batch of same-shaped 8-bit images in one contiguous buffer.

use rayon::prelude::*;

use crate::{Error, Result, Shape};

/// `N` images of one [`Shape`], stored contiguously: image `i` is
/// `data[i·shape.len() .. (i+1)·shape.len()]`, each in `HWC` order.
///
/// Invariant: `data.len() == N · shape.len()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageBatch {
    shape: Shape,
    data: Vec<u8>,
}

impl ImageBatch {
    /// Wraps a buffer holding whole images.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] if `data.len()` is not a multiple of `shape.len()`.
    pub fn new(shape: Shape, data: Vec<u8>) -> Result<Self> {
        if !data.len().is_multiple_of(shape.len()) {
            return Err(Error::InvalidShape(format!(
                "buffer of {} bytes is not a whole number of {shape} images",
                data.len()
            )));
        }
        Ok(Self { shape, data })
    }

    /// An all-zero batch of `n` images.
    pub fn zeros(shape: Shape, n: usize) -> Self {
        Self {
            shape,
            data: vec![0; shape.len() * n],
        }
    }

    /// The shape of every image.
    pub fn shape(&self) -> Shape {
        self.shape
    }
    /// Number of images `N`.
    pub fn len(&self) -> usize {
        self.data.len() / self.shape.len()
    }
    /// True when the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// The whole buffer, `N·H·W·C` bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }
    /// The whole buffer, mutable.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }
    /// Consumes the batch, returning its buffer.
    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }
    /// Image `i` (`H·W·C` bytes), or `None` if `i ≥ N`.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        self.data.chunks_exact(self.shape.len()).nth(i)
    }
    /// Image `i`, mutable, or `None` if `i ≥ N`.
    pub fn image_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        let len = self.shape.len();
        self.data.chunks_exact_mut(len).nth(i)
    }
    /// Iterates over the images in order.
    pub fn images(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        self.data.chunks_exact(self.shape.len())
    }
    /// Iterates mutably over the images in order.
    pub fn images_mut(&mut self) -> impl ExactSizeIterator<Item = &mut [u8]> {
        let len = self.shape.len();
        self.data.chunks_exact_mut(len)
    }
    /// Parallel mutable iterator over `(index, image)` (rayon).
    pub fn par_images_mut(&mut self) -> impl IndexedParallelIterator<Item = (usize, &mut [u8])> {
        let len = self.shape.len();
        self.data.par_chunks_exact_mut(len).enumerate()
    }
    /// The first `n` images (all of them if `n ≥ N`).
    pub fn truncate(&mut self, n: usize) {
        let len = self.shape.len();
        self.data
            .truncate(n.saturating_mul(len).min(self.data.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexing() {
        let shape = Shape::new(2, 2, 1).unwrap();
        let mut b = ImageBatch::new(shape, (0..12).collect()).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b.image(1).unwrap(), &[4, 5, 6, 7]);
        assert!(b.image(3).is_none());
        b.image_mut(2).unwrap()[0] = 99;
        assert_eq!(b.as_bytes()[8], 99);
        b.truncate(1);
        assert_eq!(b.len(), 1);
        assert!(ImageBatch::new(shape, vec![0; 5]).is_err());
    }
}
