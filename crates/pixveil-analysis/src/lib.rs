//! Security analysis of pixveil's perceptual image ciphers: what an attacker actually gets.
//!
//! * [`metrics`]: the statistics image-encryption papers report — key space, Shannon entropy
//!   (global and local), adjacent-pixel correlation, histogram χ², NPCR/UACI (key and plaintext
//!   sensitivity), PSNR and SSIM — each over a set of images, plain vs encrypted, as mean ± std.
//! * [`attacks`]: real attacks, generic over the structure of a scheme (Kerckhoffs: the scheme
//!   and its public parameters are known, the key is not): known-plaintext ([`attacks::kpa`]),
//!   chosen-plaintext ([`attacks::cpa`]) through a query-counting [`attacks::EncryptionOracle`],
//!   and ciphertext-only ([`attacks::coa`]: MSB heuristic, 48-candidate neighbour search,
//!   jigsaw solver).
//! * [`demo`]: the scheme tour of `pixveil demo` (every scheme on the built-in sample, with
//!   labelled PNG grids).
//! * [`report`]: the scheme × mode markdown table of `pixveil analyze --all`.
//!
//! Images are `H×W×C` bytes in `HWC` order ([`pixveil_image`]); batches are contiguous.
#![forbid(unsafe_code)]

pub mod attacks;
pub mod demo;
pub mod error;
pub mod metrics;
pub mod report;

pub use error::{Error, Result};
