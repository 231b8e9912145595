//! Data augmentation on `u8` image batches: random translation with zero fill (the same as
//! zero-padding by `shift` pixels and taking a random crop of the original size) and random
//! horizontal flip.
//!
//! The same code serves both sides of paper A's experiment (research notes §1.3): applied to
//! plain images before encryption (client side) or to encrypted images (server side), where a
//! shift or flip moves ciphertext pixels away from the key positions they were encrypted with.
//!
//! Every image draws its own offsets and flip from a ChaCha8 stream selected by the image's
//! index within the batch, so the result depends only on the batch, the settings and the seed —
//! not on rayon's thread count or work splitting.

use pixveil_image::{ImageBatch, Shape};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Augmentation settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Augmentation {
    /// Largest translation in pixels, each axis independently uniform in `-shift..=shift`;
    /// vacated pixels are 0. `0` disables translation.
    pub shift: usize,
    /// Mirror left–right with probability ½.
    pub hflip: bool,
}

impl Augmentation {
    /// No augmentation.
    pub const NONE: Augmentation = Augmentation {
        shift: 0,
        hflip: false,
    };

    /// True when [`augment_batch`] leaves every image unchanged.
    pub fn is_identity(&self) -> bool {
        self.shift == 0 && !self.hflip
    }
}

/// The random draw of one image: translation `(dx, dy)` (content moves right / down for
/// positive values) and whether it is mirrored (before the translation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Draw {
    /// Horizontal offset in pixels.
    pub dx: isize,
    /// Vertical offset in pixels.
    pub dy: isize,
    /// Mirror left–right.
    pub flip: bool,
}

impl Draw {
    /// The draw of image `index` of a batch augmented with `aug` and `seed`.
    pub fn for_image(aug: &Augmentation, seed: u64, index: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index as u64);
        // Offsets beyond the image side only blank it: cap absurd settings (image sides are
        // at most 2^14).
        let s = i32::try_from(aug.shift.min(1 << 16)).expect("capped at 2^16");
        let (dx, dy) = if s > 0 {
            (
                rng.random_range(-s..=s) as isize,
                rng.random_range(-s..=s) as isize,
            )
        } else {
            (0, 0)
        };
        let flip = aug.hflip && rng.random_bool(0.5);
        Self { dx, dy, flip }
    }
}

/// Writes into `dst` the image `src` (`HWC`, `shape`) mirrored if `draw.flip`, then
/// translated by `(draw.dx, draw.dy)` with zero fill.
///
/// # Panics
/// If `src` or `dst` is not `shape.len()` bytes long (callers pass images of a batch).
pub fn transform_image(src: &[u8], dst: &mut [u8], shape: Shape, draw: Draw) {
    let (h, w, c) = (shape.height(), shape.width(), shape.channels());
    assert_eq!(src.len(), h * w * c, "source image size");
    assert_eq!(dst.len(), h * w * c, "destination image size");
    let (hi, wi) = (h as isize, w as isize);
    for y in 0..h {
        let row = &mut dst[y * w * c..(y + 1) * w * c];
        let sy = y as isize - draw.dy;
        if sy < 0 || sy >= hi {
            row.fill(0);
            continue;
        }
        let src_row = &src[sy as usize * w * c..(sy as usize + 1) * w * c];
        for x in 0..w {
            let out = &mut row[x * c..(x + 1) * c];
            let sx = x as isize - draw.dx;
            if sx < 0 || sx >= wi {
                out.fill(0);
                continue;
            }
            let sx = if draw.flip { wi - 1 - sx } else { sx } as usize;
            out.copy_from_slice(&src_row[sx * c..(sx + 1) * c]);
        }
    }
}

/// Augments every image of `batch` in place (in parallel): image `i` gets
/// [`Draw::for_image`]`(aug, seed, i)`. Identity settings leave the batch untouched.
pub fn augment_batch(batch: &mut ImageBatch, aug: &Augmentation, seed: u64) {
    if aug.is_identity() || batch.is_empty() {
        return;
    }
    let shape = batch.shape();
    batch.par_images_mut().for_each_init(
        || vec![0u8; shape.len()],
        |scratch, (i, image)| {
            let draw = Draw::for_image(aug, seed, i);
            transform_image(image, scratch, shape, draw);
            image.copy_from_slice(scratch);
        },
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn batch(shape: Shape, n: usize) -> ImageBatch {
        let data = (0..shape.len() * n)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8 | 1)
            .collect();
        ImageBatch::new(shape, data).unwrap()
    }

    #[test]
    fn forced_flip_twice_is_identity() {
        let shape = Shape::new(5, 7, 3).unwrap();
        let b = batch(shape, 1);
        let src = b.image(0).unwrap();
        let draw = Draw {
            dx: 0,
            dy: 0,
            flip: true,
        };
        let mut once = vec![0; shape.len()];
        let mut twice = vec![0; shape.len()];
        transform_image(src, &mut once, shape, draw);
        assert_ne!(once, src);
        // Pixel (0, 0) moved to (0, w-1), channels kept together.
        assert_eq!(&once[6 * 3..7 * 3], &src[..3]);
        transform_image(&once, &mut twice, shape, draw);
        assert_eq!(twice, src);
    }

    #[test]
    fn shift_moves_content_and_zero_fills() {
        let shape = Shape::new(4, 4, 1).unwrap();
        let src: Vec<u8> = (1..=16).collect();
        let mut dst = vec![0; 16];
        transform_image(
            &src,
            &mut dst,
            shape,
            Draw {
                dx: 1,
                dy: -1,
                flip: false,
            },
        );
        #[rustfmt::skip]
        let expected = [
            0, 5, 6, 7,
            0, 9, 10, 11,
            0, 13, 14, 15,
            0, 0, 0, 0,
        ];
        assert_eq!(dst, expected);
        // Offsets beyond the image blank it.
        transform_image(
            &src,
            &mut dst,
            shape,
            Draw {
                dx: 9,
                dy: 0,
                flip: false,
            },
        );
        assert!(dst.iter().all(|&v| v == 0));
    }

    #[test]
    fn seed_determinism_thread_independence_and_shape() {
        let shape = Shape::new(8, 8, 3).unwrap();
        let aug = Augmentation {
            shift: 2,
            hflip: true,
        };
        let orig = batch(shape, 300);
        let mut a = orig.clone();
        let mut b = orig.clone();
        augment_batch(&mut a, &aug, 42);
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| augment_batch(&mut b, &aug, 42));
        assert_eq!(a, b);
        assert_eq!((a.shape(), a.len()), (shape, 300));
        assert_ne!(a, orig);
        let mut c = orig.clone();
        augment_batch(&mut c, &aug, 43);
        assert_ne!(a, c);
        // Each image equals its own draw applied to the original.
        let mut expect = vec![0; shape.len()];
        for i in [0, 17, 299] {
            transform_image(
                orig.image(i).unwrap(),
                &mut expect,
                shape,
                Draw::for_image(&aug, 42, i),
            );
            assert_eq!(a.image(i).unwrap(), expect.as_slice());
        }
        // Offsets stay in range, and both flips and several offsets occur.
        let draws: Vec<Draw> = (0..300).map(|i| Draw::for_image(&aug, 42, i)).collect();
        assert!(draws.iter().all(|d| d.dx.abs() <= 2 && d.dy.abs() <= 2));
        assert!(draws.iter().any(|d| d.flip) && draws.iter().any(|d| !d.flip));
        assert!(draws.iter().any(|d| d.dx == -2) && draws.iter().any(|d| d.dy == 2));
    }

    #[test]
    fn identity_and_no_flip_settings() {
        let shape = Shape::MNIST;
        let orig = batch(shape, 10);
        let mut a = orig.clone();
        augment_batch(&mut a, &Augmentation::NONE, 1);
        assert_eq!(a, orig);
        let aug = Augmentation {
            shift: 3,
            hflip: false,
        };
        assert!((0..100).all(|i| !Draw::for_image(&aug, 5, i).flip));
    }
}
