//! Image shapes.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Largest accepted side length in pixels (bounds allocations driven by file headers).
pub const MAX_SIDE: u32 = 1 << 14;

/// The shape of one image: `height × width × channels`, in pixels and 8-bit channels.
///
/// Invariant: every dimension is in `1..=MAX_SIDE` and `channels` is 1 or 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawShape", into = "RawShape")]
pub struct Shape {
    height: u32,
    width: u32,
    channels: u32,
}

#[derive(Serialize, Deserialize)]
struct RawShape {
    height: u32,
    width: u32,
    channels: u32,
}

impl TryFrom<RawShape> for Shape {
    type Error = Error;
    fn try_from(r: RawShape) -> Result<Self> {
        Shape::new(r.height, r.width, r.channels)
    }
}

impl From<Shape> for RawShape {
    fn from(s: Shape) -> Self {
        RawShape {
            height: s.height,
            width: s.width,
            channels: s.channels,
        }
    }
}

impl Shape {
    /// `28×28×1`: MNIST, Fashion-MNIST and KMNIST images.
    pub const MNIST: Shape = Shape {
        height: 28,
        width: 28,
        channels: 1,
    };
    /// `32×32×3`: CIFAR-10 images.
    pub const CIFAR10: Shape = Shape {
        height: 32,
        width: 32,
        channels: 3,
    };

    /// A validated shape.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] if a side is 0 or larger than [`MAX_SIDE`], or `channels` ∉ {1, 3}.
    pub fn new(height: u32, width: u32, channels: u32) -> Result<Self> {
        let side_ok = |s: u32| (1..=MAX_SIDE).contains(&s);
        if !side_ok(height) || !side_ok(width) || !(channels == 1 || channels == 3) {
            return Err(Error::InvalidShape(format!(
                "{height}x{width}x{channels} (sides must be 1..={MAX_SIDE}, channels 1 or 3)"
            )));
        }
        Ok(Self {
            height,
            width,
            channels,
        })
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height as usize
    }
    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width as usize
    }
    /// Channels per pixel (1 = grey, 3 = RGB).
    pub fn channels(&self) -> usize {
        self.channels as usize
    }
    /// Pixels per image, `H·W`.
    pub fn pixels(&self) -> usize {
        self.height() * self.width()
    }
    /// Bytes per image, `H·W·C`.
    pub fn len(&self) -> usize {
        self.pixels() * self.channels()
    }
    /// Always false (a valid shape has at least one byte); present for clippy's `len` convention.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}", self.height, self.width, self.channels)
    }
}

impl FromStr for Shape {
    type Err = Error;
    /// Parses `HxWxC` (e.g. `28x28x1`, `32x32x3`) or `HxW` (one channel).
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidShape(format!("{s:?}: expected HxWxC, e.g. 32x32x3"));
        let parts: Vec<&str> = s.trim().split(['x', 'X']).collect();
        let nums: Vec<u32> = parts
            .iter()
            .map(|p| p.trim().parse::<u32>().map_err(|_| bad()))
            .collect::<Result<_>>()?;
        match nums.as_slice() {
            [h, w] => Shape::new(*h, *w, 1),
            [h, w, c] => Shape::new(*h, *w, *c),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let s: Shape = "32x32x3".parse().unwrap();
        assert_eq!(
            (s.height(), s.width(), s.channels(), s.len()),
            (32, 32, 3, 3072)
        );
        assert_eq!(s.to_string(), "32x32x3");
        assert_eq!("28x28".parse::<Shape>().unwrap().to_string(), "28x28x1");
        for bad in ["", "32", "0x4x1", "4x4x2", "axbxc", "4x4x1x1", "99999x1x1"] {
            assert!(bad.parse::<Shape>().is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_validates() {
        let s: Shape = serde_json::from_str(r#"{"height":2,"width":3,"channels":1}"#).unwrap();
        assert_eq!(s.len(), 6);
        assert!(serde_json::from_str::<Shape>(r#"{"height":0,"width":3,"channels":1}"#).is_err());
    }
}
