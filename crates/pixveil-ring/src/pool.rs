//! Per-thread recycling of polynomial buffers.
//!
//! Homomorphic operations allocate and free many half-megabyte buffers; letting them go back
//! to the system makes the kernel zero fresh pages on every operation. Dropped polynomials
//! return their buffer here (up to [`KEEP`] per thread) and new polynomials take one of
//! sufficient capacity. Buffers are zeroized when recycled, so secret-derived data does not
//! linger in the pool.

use std::cell::RefCell;

/// Most buffers kept per thread.
pub const KEEP: usize = 64;

thread_local! {
    static POOL: RefCell<Vec<Vec<u64>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `len` words; contents are zero.
pub fn alloc(len: usize) -> Vec<u64> {
    let found = POOL.with(|p| {
        let mut p = p.borrow_mut();
        let pos = p.iter().rposition(|v| v.capacity() >= len)?;
        Some(p.swap_remove(pos))
    });
    match found {
        Some(mut v) => {
            // Recycled buffers are all zero (see `recycle`), so growing with zeros suffices.
            v.resize(len, 0);
            v
        }
        None => vec![0; len],
    }
}

/// Returns a buffer to the pool after zeroizing its contents.
pub fn recycle(mut v: Vec<u64>) {
    if v.capacity() == 0 {
        return;
    }
    // A plain fill (vectorized memset): the buffer stays reachable through the pool, so the
    // writes cannot be elided.
    v.fill(0);
    v.clear();
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < KEEP {
            p.push(v);
        } else if let Some((i, _)) = p
            .iter()
            .enumerate()
            .min_by_key(|(_, b)| b.capacity())
            .filter(|(_, b)| b.capacity() < v.capacity())
        {
            // Keep the larger buffers: a small one cannot serve a large request.
            p[i] = v;
        }
    });
}
