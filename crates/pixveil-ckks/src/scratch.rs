//! Per-thread reuse of large scratch buffers.
//!
//! Key switching needs several megabytes of temporaries per call; allocating them fresh makes
//! the kernel zero new pages on every call (measured ≈ 15 % of a relinearization). Buffers are
//! handed out zero-filled ([`take`]) or with arbitrary initialized contents ([`take_dirty`])
//! and returned after use; at most a few are kept per thread.
//!
//! Wiping: whoever returns a buffer says what it held ([`Held`]). A [`Held::Secret`] buffer
//! (the `P`-remainders of a public-key encryption's `u·pk + e` in `mod_down`) is zeroed over
//! its **whole capacity**: by a plain fill when the pool keeps it (it stays reachable through
//! the pool, so the writes cannot be elided; it then waits zero-filled and `take` needs no
//! second fill), by `zeroize` (volatile writes) when the pool frees it. A [`Held::Public`]
//! buffer (everything the evaluator computes from ciphertexts, evaluation keys and its own
//! plaintexts: nothing that depends on the secret key or on encryption randomness beyond
//! what a ciphertext shows) is kept as it is, and zeroed by `take` only if it is taken
//! zero-filled: wiping the megabytes of every key switch's digits would cost ≈ 8 % of a
//! relinearization for data an observer of the ciphertexts already has. Words past a
//! buffer's length are always zero or public.

use std::cell::RefCell;
use zeroize::Zeroize;

const KEEP: usize = 48;
const KEEP128: usize = 4;

/// What a buffer returned to the pool held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    /// Secret-derived words: wiped over the whole capacity.
    Secret,
    /// Words any holder of the ciphertexts and evaluation keys can compute: kept as they are.
    Public,
}

/// A pooled buffer: zero over its whole capacity at length = capacity (`zero`), or holding
/// public words.
struct Pooled<T> {
    buf: Vec<T>,
    zero: bool,
}

thread_local! {
    static POOL64: RefCell<Vec<Pooled<u64>>> = const { RefCell::new(Vec::new()) };
    static POOL128: RefCell<Vec<Pooled<u128>>> = const { RefCell::new(Vec::new()) };
}

/// Removes the most recent pooled buffer with capacity for `len` words.
fn pop_fitting<T>(pool: &RefCell<Vec<Pooled<T>>>, len: usize) -> Option<Pooled<T>> {
    let mut p = pool.borrow_mut();
    let pos = p.iter().rposition(|v| v.buf.capacity() >= len)?;
    Some(p.swap_remove(pos))
}

/// `len` words from `v`: zero-filled if `zeroed` is asked for, initialized either way.
fn shape<T: Copy + Default>(v: Option<Pooled<T>>, len: usize, zeroed: bool) -> Vec<T> {
    match v {
        Some(Pooled {
            mut buf,
            zero: true,
        }) => {
            debug_assert_eq!(buf.len(), buf.capacity());
            buf.truncate(len);
            buf
        }
        Some(Pooled {
            mut buf,
            zero: false,
        }) => {
            if zeroed {
                buf.clear();
            }
            buf.resize(len, T::default());
            buf.truncate(len);
            buf
        }
        None => vec![T::default(); len],
    }
}

/// A zero-filled buffer of `len` words.
pub(crate) fn take(len: usize) -> Vec<u64> {
    shape(POOL64.with(|p| pop_fitting(p, len)), len, true)
}

/// A buffer of `len` words with arbitrary (initialized, zero or public) contents, for
/// outputs that are fully overwritten.
pub(crate) fn take_dirty(len: usize) -> Vec<u64> {
    shape(POOL64.with(|p| pop_fitting(p, len)), len, false)
}

/// Puts `v` into `pool` (kept or freed), wiping it first if it held secrets.
fn put<T: Copy + Default + Zeroize>(
    pool: &RefCell<Vec<Pooled<T>>>,
    keep: usize,
    mut v: Vec<T>,
    held: Held,
) {
    let mut p = pool.borrow_mut();
    let slot = if p.len() < keep {
        Some(None)
    } else {
        // Keep the larger buffers: a small one cannot serve a large request.
        p.iter()
            .enumerate()
            .min_by_key(|(_, b)| b.buf.capacity())
            .filter(|(_, b)| b.buf.capacity() < v.capacity())
            .map(|(i, _)| Some(i))
    };
    match (slot, held) {
        (None, Held::Secret) => v.zeroize(),
        (None, Held::Public) => {}
        (Some(at), held) => {
            let zero = held == Held::Secret;
            if zero {
                // One fill over the whole allocation, kept at full length.
                v.fill(T::default());
                v.resize(v.capacity(), T::default());
            }
            let entry = Pooled { buf: v, zero };
            // A replaced buffer is zero or public already.
            match at {
                None => p.push(entry),
                Some(i) => p[i] = entry,
            }
        }
    }
}

/// Returns a buffer to the pool (see the module docs for `held`).
pub(crate) fn give(v: Vec<u64>, held: Held) {
    POOL64.with(|p| put(p, KEEP, v, held));
}

/// A zero-filled buffer of `len` double words.
pub(crate) fn take128(len: usize) -> Vec<u128> {
    shape(POOL128.with(|p| pop_fitting(p, len)), len, true)
}

/// Returns a double-word buffer to the pool.
pub(crate) fn give128(v: Vec<u128>, held: Held) {
    POOL128.with(|p| put(p, KEEP128, v, held));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pooled_with(ptr: *const u64) -> (usize, bool, bool) {
        POOL64.with(|p| {
            let p = p.borrow();
            let b = p.iter().find(|b| b.buf.as_ptr() == ptr).expect("kept");
            (b.buf.len(), b.zero, b.buf.iter().all(|&x| x == 0))
        })
    }

    /// A secret buffer is zero over its whole capacity once returned, including words past
    /// a shortened length; a public one is kept as it is; both come back zero-filled from
    /// `take`.
    #[test]
    fn secret_buffers_are_wiped_over_their_capacity() {
        let mut v = take_dirty(1000);
        v.iter_mut().for_each(|x| *x = 0xdead_beef);
        v.truncate(10);
        let ptr = v.as_ptr();
        give(v, Held::Secret);
        let (len, zero, all_zero) = pooled_with(ptr);
        assert!(len >= 1000 && zero && all_zero);
        let t = take(1000);
        assert!(t.len() == 1000 && t.iter().all(|&x| x == 0));

        let mut u = t;
        u.iter_mut().for_each(|x| *x = 7);
        let ptr = u.as_ptr();
        give(u, Held::Public);
        assert_eq!(pooled_with(ptr), (1000, false, false));
        let t = take(1000);
        assert!(t.len() == 1000 && t.iter().all(|&x| x == 0));
        give(t, Held::Public);

        let mut w = take128(100);
        w.iter_mut().for_each(|x| *x = u128::MAX);
        w.truncate(1);
        let ptr = w.as_ptr();
        give128(w, Held::Secret);
        POOL128.with(|p| {
            let p = p.borrow();
            let b = p.iter().find(|b| b.buf.as_ptr() == ptr).expect("kept");
            assert!(b.buf.len() >= 100 && b.buf.iter().all(|&x| x == 0));
        });
    }
}
