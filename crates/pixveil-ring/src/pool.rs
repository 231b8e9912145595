//! Per-thread recycling of polynomial buffers.
//!
//! Homomorphic operations allocate and free many half-megabyte buffers; letting them go back
//! to the system makes the kernel zero fresh pages on every operation. Dropped polynomials
//! return their buffer here (up to [`KEEP`] per thread) and new polynomials take one of
//! sufficient capacity.
//!
//! Wiping: polynomials hold secrets (`s`, `s²`, errors, encryption randomness) and drop rows
//! in place (`truncate_q`, `drop_special`), which leaves the old words past the vector's
//! length. A recycled buffer is therefore zeroed over its **whole capacity**: by a plain fill
//! when the pool keeps it (it stays reachable, so the writes cannot be elided), by `zeroize`
//! (volatile writes) when the pool is full and it is freed.

use std::cell::RefCell;
use zeroize::Zeroize;

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
            // Pooled buffers are zero at length = capacity (see `recycle`): no write needed.
            debug_assert_eq!(v.len(), v.capacity());
            v.truncate(len);
            v
        }
        None => vec![0; len],
    }
}

/// Returns a buffer to the pool after zeroing its whole capacity (or frees it, zeroized, when
/// the pool keeps larger ones).
pub fn recycle(mut v: Vec<u64>) {
    if v.capacity() == 0 {
        return;
    }
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let slot = if p.len() < KEEP {
            Some(None)
        } else {
            // Keep the larger buffers: a small one cannot serve a large request.
            p.iter()
                .enumerate()
                .min_by_key(|(_, b)| b.capacity())
                .filter(|(_, b)| b.capacity() < v.capacity())
                .map(|(i, _)| Some(i))
        };
        match slot {
            Some(at) => {
                // One vectorized memset over the whole allocation, which then waits in the
                // pool zero-filled at full length (`alloc` only shortens it).
                v.fill(0);
                v.resize(v.capacity(), 0);
                match at {
                    None => p.push(v),
                    // The replaced buffer was wiped when it entered the pool.
                    Some(i) => p[i] = v,
                }
            }
            None => v.zeroize(),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words past a buffer's length (rows a polynomial dropped in place) are wiped too: the
    /// pooled buffer is zero over its whole capacity (before, only the first `len` words
    /// were, and the rest could not even be inspected without `unsafe`).
    #[test]
    fn recycled_buffers_are_wiped_over_their_capacity() {
        let mut v = alloc(4096);
        v.iter_mut().for_each(|x| *x = 0x5ec2e7);
        v.truncate(100);
        let ptr = v.as_ptr();
        recycle(v);
        let pooled = POOL.with(|p| {
            let p = p.borrow();
            let b = p
                .iter()
                .find(|b| b.as_ptr() == ptr)
                .expect("kept in the pool");
            (b.len(), b.capacity(), b.iter().all(|&x| x == 0))
        });
        assert_eq!(pooled, (4096, 4096, true));
        let back = alloc(4096);
        assert_eq!(back.as_ptr(), ptr, "the pool hands the same buffer back");
        assert!(back.len() == 4096 && back.iter().all(|&x| x == 0));
        recycle(back);
    }
}
