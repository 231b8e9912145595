//! Per-thread reuse of large scratch buffers.
//!
//! Key switching needs several megabytes of temporaries per call; allocating them fresh makes
//! the kernel zero new pages on every call (measured ≈ 15 % of a relinearization). Buffers are
//! handed out zero-filled and returned after use; at most a few are kept per thread.

use std::cell::RefCell;

const KEEP: usize = 48;

thread_local! {
    static POOL64: RefCell<Vec<Vec<u64>>> = const { RefCell::new(Vec::new()) };
    static POOL128: RefCell<Vec<Vec<u128>>> = const { RefCell::new(Vec::new()) };
}

/// Removes a pooled buffer with capacity for `len` words (the most recent one).
fn pop_fitting(len: usize) -> Option<Vec<u64>> {
    POOL64.with(|p| {
        let mut p = p.borrow_mut();
        let pos = p.iter().rposition(|v| v.capacity() >= len)?;
        Some(p.swap_remove(pos))
    })
}

/// A zero-filled buffer of `len` words.
pub(crate) fn take(len: usize) -> Vec<u64> {
    let v = pop_fitting(len);
    match v {
        Some(mut v) => {
            v.clear();
            v.resize(len, 0);
            v
        }
        None => vec![0; len],
    }
}

/// A buffer of `len` words with arbitrary (initialized) contents, for outputs that are fully
/// overwritten.
pub(crate) fn take_dirty(len: usize) -> Vec<u64> {
    let v = pop_fitting(len);
    match v {
        Some(mut v) => {
            v.resize(len, 0);
            v.truncate(len);
            v
        }
        None => vec![0; len],
    }
}

/// Returns a buffer to the pool.
pub(crate) fn give(v: Vec<u64>) {
    POOL64.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < KEEP {
            p.push(v);
        } else if let Some((i, _)) = p
            .iter()
            .enumerate()
            .min_by_key(|(_, b)| b.capacity())
            .filter(|(_, b)| b.capacity() < v.capacity())
        {
            p[i] = v;
        }
    });
}

/// A zero-filled buffer of `len` double words.
pub(crate) fn take128(len: usize) -> Vec<u128> {
    let v = POOL128.with(|p| p.borrow_mut().pop());
    match v {
        Some(mut v) => {
            v.clear();
            v.resize(len, 0);
            v
        }
        None => vec![0; len],
    }
}

/// Returns a double-word buffer to the pool.
pub(crate) fn give128(v: Vec<u128>) {
    POOL128.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < 4 {
            p.push(v);
        }
    });
}
