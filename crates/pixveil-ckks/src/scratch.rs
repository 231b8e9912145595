//! Per-thread reuse of large scratch buffers.
//!
//! Key switching needs several megabytes of temporaries per call; allocating them fresh makes
//! the kernel zero new pages on every call (measured ≈ 15 % of a relinearization). Buffers are
//! handed out zero-filled and returned after use; at most a few are kept per thread.
//!
//! Wiping: some of these buffers hold secret-derived words (the `P`-remainders of a public-key
//! encryption's `u·pk + e`, see `mod_down`), so every buffer is zeroed over its **whole
//! capacity** when it comes back: a kept buffer by a plain fill (it stays reachable through
//! the pool, so the writes cannot be elided; it waits there zero-filled at full length, and
//! `take` only shortens it), a buffer the pool does not keep by `zeroize` (volatile writes)
//! before it is freed.

use std::cell::RefCell;
use zeroize::Zeroize;

const KEEP: usize = 48;
const KEEP128: usize = 4;

thread_local! {
    static POOL64: RefCell<Vec<Vec<u64>>> = const { RefCell::new(Vec::new()) };
    static POOL128: RefCell<Vec<Vec<u128>>> = const { RefCell::new(Vec::new()) };
}

/// Removes a pooled buffer with capacity for `len` words (the most recent one), zero-filled
/// and of length `len`.
fn pop_fitting(len: usize) -> Option<Vec<u64>> {
    POOL64.with(|p| {
        let mut p = p.borrow_mut();
        let pos = p.iter().rposition(|v| v.capacity() >= len)?;
        let mut v = p.swap_remove(pos);
        // Pooled buffers are zero over their whole capacity at length = capacity (`give`).
        debug_assert_eq!(v.len(), v.capacity());
        v.truncate(len);
        Some(v)
    })
}

/// A zero-filled buffer of `len` words.
pub(crate) fn take(len: usize) -> Vec<u64> {
    pop_fitting(len).unwrap_or_else(|| vec![0; len])
}

/// A buffer of `len` words for outputs that are fully overwritten (today also zero-filled:
/// pooled buffers are wiped when they come back).
pub(crate) fn take_dirty(len: usize) -> Vec<u64> {
    take(len)
}

/// Where a returned buffer goes: a free slot, in place of a smaller kept one, or nowhere.
enum Slot {
    Push,
    Replace(usize),
    Drop,
}

fn slot_for<T>(pool: &[Vec<T>], keep: usize, capacity: usize) -> Slot {
    if pool.len() < keep {
        return Slot::Push;
    }
    // Keep the larger buffers: a small one cannot serve a large request.
    pool.iter()
        .enumerate()
        .min_by_key(|(_, b)| b.capacity())
        .filter(|(_, b)| b.capacity() < capacity)
        .map_or(Slot::Drop, |(i, _)| Slot::Replace(i))
}

/// Zeroes `v` over its whole capacity and leaves it at length = capacity.
fn wipe_full<T: Copy + Default>(v: &mut Vec<T>) {
    v.fill(T::default());
    v.resize(v.capacity(), T::default());
}

/// Returns a buffer to the pool, wiping its whole capacity (see the module docs).
pub(crate) fn give(mut v: Vec<u64>) {
    POOL64.with(|p| {
        let mut p = p.borrow_mut();
        match slot_for(&p, KEEP, v.capacity()) {
            Slot::Push => {
                wipe_full(&mut v);
                p.push(v);
            }
            // The replaced buffer was wiped when it entered the pool.
            Slot::Replace(i) => {
                wipe_full(&mut v);
                p[i] = v;
            }
            Slot::Drop => v.zeroize(),
        }
    });
}

/// A zero-filled buffer of `len` double words.
pub(crate) fn take128(len: usize) -> Vec<u128> {
    let v = POOL128.with(|p| {
        let mut p = p.borrow_mut();
        let pos = p.iter().rposition(|v| v.capacity() >= len)?;
        Some(p.swap_remove(pos))
    });
    match v {
        Some(mut v) => {
            debug_assert_eq!(v.len(), v.capacity());
            v.truncate(len);
            v
        }
        None => vec![0; len],
    }
}

/// Returns a double-word buffer to the pool, wiping its whole capacity.
pub(crate) fn give128(mut v: Vec<u128>) {
    POOL128.with(|p| {
        let mut p = p.borrow_mut();
        match slot_for(&p, KEEP128, v.capacity()) {
            Slot::Push => {
                wipe_full(&mut v);
                p.push(v);
            }
            Slot::Replace(i) => {
                wipe_full(&mut v);
                p[i] = v;
            }
            Slot::Drop => v.zeroize(),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A returned buffer is zero over its whole capacity, including words past a shortened
    /// length, and comes back zero-filled from both `take` and `take_dirty`.
    #[test]
    fn returned_buffers_are_wiped_over_their_capacity() {
        let mut v = take_dirty(1000);
        v.iter_mut().for_each(|x| *x = 0xdead_beef);
        v.truncate(10);
        let ptr = v.as_ptr();
        give(v);
        let back = POOL64.with(|p| {
            let p = p.borrow();
            let b = p
                .iter()
                .find(|b| b.as_ptr() == ptr)
                .expect("kept in the pool");
            (b.len(), b.iter().all(|&x| x == 0))
        });
        assert!(back.0 >= 1000 && back.1, "{back:?}");
        let t = take(1000);
        assert!(t.len() == 1000 && t.iter().all(|&x| x == 0));
        give(t);
        let d = take_dirty(1000);
        assert!(d.iter().all(|&x| x == 0));
        give(d);

        let mut w = take128(100);
        w.iter_mut().for_each(|x| *x = u128::MAX);
        w.truncate(1);
        give128(w);
        assert!(take128(100).iter().all(|&x| x == 0));
    }
}
