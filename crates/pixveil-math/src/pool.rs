//! The engine's one buffer pool: per-thread reuse of large buffers, wiped when they held
//! secrets.
//!
//! Homomorphic operations allocate and free many half-megabyte buffers (polynomials,
//! key-switching digits, NTT staging); letting them go back to the system makes the kernel
//! zero fresh pages on every operation (measured ≈ 15 % of a relinearization). Every layer
//! (the NTT here, `pixveil-ring`'s polynomials, `pixveil-ckks`'s key switching) takes its
//! buffers from this pool and gives them back after use: [`take`] hands out a zero-filled
//! buffer, [`take_dirty`] one with arbitrary initialized contents (zero or public words), for
//! outputs that are fully overwritten; [`give`] returns one. [`Scratch`] does both for a
//! scope. Each thread keeps its own shelf per word type ([`Word`]): no locks, and a buffer is
//! never handed to another thread.
//!
//! # Wiping
//! Whoever returns a buffer says what it held ([`Held`]). A [`Held::Secret`] buffer is zeroed
//! over its **whole capacity** (words past a shortened length included: polynomials drop rows
//! in place): by a plain fill when the pool keeps it (it stays reachable through the pool, so
//! the writes cannot be elided; it then waits zero-filled at full length, and [`take`] needs
//! no second fill), by `zeroize` (volatile writes) when the pool frees it. A [`Held::Public`]
//! buffer (words anyone holding the ciphertexts and evaluation keys can compute) is kept as
//! it is and zeroed by [`take`] only when taken zero-filled. When in doubt, say `Secret`: the
//! cost is one memset of the buffer. Invariant: a pooled buffer holds only zero or public
//! words, over its whole capacity.
//!
//! # Limits
//! At most [`Word::KEEP`] buffers per word type and thread; when the shelf is full, a returned
//! buffer replaces the smallest kept one if it is larger (a small buffer cannot serve a large
//! request), else it is freed (zeroized first if secret).

use std::cell::RefCell;
use std::thread::LocalKey;
use zeroize::Zeroize;

/// What a buffer returned to the pool held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Secret or secret-derived words (keys, errors, encryption randomness, anything
    /// transformed from them): wiped over the whole capacity.
    Secret,
    /// Words any holder of the ciphertexts and evaluation keys can compute, or data that is no
    /// key material and would stay in freed memory anyway (the CNN engine's activations and
    /// gradients): kept as they are.
    Public,
}

/// A pooled buffer: zero over its whole capacity at length = capacity (`zero`), or holding
/// public words.
#[derive(Debug)]
struct Pooled<T> {
    buf: Vec<T>,
    zero: bool,
}

/// One thread's buffers of one word type.
#[derive(Debug)]
pub struct Shelf<T>(Vec<Pooled<T>>);

impl<T> Shelf<T> {
    /// An empty shelf.
    pub const fn new() -> Self {
        Self(Vec::new())
    }
}

impl<T> Default for Shelf<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A word type the pool keeps buffers of.
pub trait Word: Copy + Default + Zeroize + 'static {
    /// Most buffers of this type kept per thread.
    const KEEP: usize;
    /// This thread's shelf.
    fn shelf() -> &'static LocalKey<RefCell<Shelf<Self>>>;
}

macro_rules! word {
    ($t:ty, $keep:expr, $doc:literal) => {
        impl Word for $t {
            #[doc = $doc]
            const KEEP: usize = $keep;
            fn shelf() -> &'static LocalKey<RefCell<Shelf<Self>>> {
                thread_local! {
                    static SHELF: RefCell<Shelf<$t>> = const { RefCell::new(Shelf::new()) };
                }
                &SHELF
            }
        }
    };
}

word!(
    u64,
    112,
    "Polynomial rows and key-switching digits: a CKKS operation keeps dozens alive."
);
word!(u128, 4, "Double-word accumulators of inner products.");
word!(u32, 4, "The 32-bit AVX2 NTT's staging buffer.");
word!(u8, 8, "Byte buffers (pixel and keystream scratch).");
word!(
    f32,
    512,
    "Activations and gradients of the CNN engine (`pixveil-nn`'s tensors): a training step of \
     ResNet-18 with paper A's adaptation network holds well over a hundred large ones at once. \
     With 128 kept, the rest went back to the allocator every step: 4.7 GB peak memory instead \
     of 0.77 GB and 0.8–1.9 M page faults instead of 0.22 M over one experiment row."
);
word!(f64, 8, "Double-precision scratch.");

/// Removes the smallest pooled buffer with capacity for `len` words (the most recent of
/// equal ones): a small request does not take a large buffer that a later large one needs.
fn pop_fitting<T: Word>(len: usize) -> Option<Pooled<T>> {
    T::shelf().with(|s| {
        // Not re-entrant: nothing below calls back into the pool while it is borrowed.
        let mut s = s.borrow_mut();
        let pos =
            s.0.iter()
                .enumerate()
                .rev()
                .filter(|(_, v)| v.buf.capacity() >= len)
                .min_by_key(|(_, v)| v.buf.capacity())
                .map(|(i, _)| i)?;
        Some(s.0.swap_remove(pos))
    })
}

/// `len` words from `v`: zero-filled if `zeroed` is asked for, initialized either way.
fn shape<T: Word>(v: Option<Pooled<T>>, len: usize, zeroed: bool) -> Vec<T> {
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
            buf
        }
        None => vec![T::default(); len],
    }
}

/// A zero-filled buffer of `len` words.
pub fn take<T: Word>(len: usize) -> Vec<T> {
    shape(pop_fitting(len), len, true)
}

/// A buffer of `len` words with arbitrary initialized contents (zero or public words), for
/// outputs that are fully overwritten.
pub fn take_dirty<T: Word>(len: usize) -> Vec<T> {
    shape(pop_fitting(len), len, false)
}

/// Returns `v` to this thread's pool (kept or freed), wiping it first if it held secrets
/// (see the module docs).
pub fn give<T: Word>(mut v: Vec<T>, held: Held) {
    if v.capacity() == 0 {
        return;
    }
    T::shelf().with(|s| {
        let mut s = s.borrow_mut();
        let slot = if s.0.len() < T::KEEP {
            Some(None)
        } else {
            s.0.iter()
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
                // A replaced buffer is zero or public already: dropping it leaks nothing.
                match at {
                    None => s.0.push(entry),
                    Some(i) => s.0[i] = entry,
                }
            }
        }
    });
}

/// A buffer taken from the pool for a scope and given back, as [`Held::Secret`] unless
/// [`Scratch::public`] says otherwise, when dropped. Dereferences to its words.
#[derive(Debug)]
pub struct Scratch<T: Word> {
    buf: Vec<T>,
    held: Held,
}

impl<T: Word> Scratch<T> {
    /// `len` zero words.
    pub fn zeroed(len: usize) -> Self {
        Self {
            buf: take(len),
            held: Held::Secret,
        }
    }

    /// `len` words with arbitrary initialized contents (see [`take_dirty`]).
    pub fn dirty(len: usize) -> Self {
        Self {
            buf: take_dirty(len),
            held: Held::Secret,
        }
    }

    /// Marks the contents public: the buffer is kept unwiped when dropped.
    pub fn public(mut self) -> Self {
        self.held = Held::Public;
        self
    }
}

impl<T: Word> std::ops::Deref for Scratch<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.buf
    }
}

impl<T: Word> std::ops::DerefMut for Scratch<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.buf
    }
}

impl<T: Word> Drop for Scratch<T> {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.buf), self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(len, zero flag, all words zero)` of the pooled buffer at `ptr`.
    fn pooled_with<T: Word + PartialEq>(ptr: *const T) -> (usize, bool, bool) {
        T::shelf().with(|s| {
            let s = s.borrow();
            let b = s.0.iter().find(|b| b.buf.as_ptr() == ptr).expect("kept");
            (
                b.buf.len(),
                b.zero,
                b.buf.iter().all(|&x| x == T::default()),
            )
        })
    }

    /// A secret buffer is zero over its whole capacity once returned, including words past
    /// a shortened length; a public one is kept as it is; both come back zero-filled from
    /// `take`, and the pool hands the same allocation back.
    #[test]
    fn secret_buffers_are_wiped_over_their_capacity() {
        let mut v = take_dirty::<u64>(1000);
        v.iter_mut().for_each(|x| *x = 0xdead_beef);
        v.truncate(10);
        let ptr = v.as_ptr();
        give(v, Held::Secret);
        let (len, zero, all_zero) = pooled_with(ptr);
        assert!(len >= 1000 && zero && all_zero);
        let t = take::<u64>(1000);
        assert_eq!(t.as_ptr(), ptr, "the pool hands the same buffer back");
        assert!(t.len() == 1000 && t.iter().all(|&x| x == 0));

        let mut u = t;
        u.iter_mut().for_each(|x| *x = 7);
        let ptr = u.as_ptr();
        give(u, Held::Public);
        assert_eq!(pooled_with(ptr), (1000, false, false));
        let d = take_dirty::<u64>(1000);
        assert!(
            d.len() == 1000 && d.iter().all(|&x| x == 7),
            "dirty: as kept"
        );
        give(d, Held::Public);
        let t = take::<u64>(1000);
        assert!(t.len() == 1000 && t.iter().all(|&x| x == 0));
        give(t, Held::Public);

        let mut w = take::<u128>(100);
        w.iter_mut().for_each(|x| *x = u128::MAX);
        w.truncate(1);
        let ptr = w.as_ptr();
        give(w, Held::Secret);
        let (len, zero, all_zero) = pooled_with(ptr);
        assert!(len >= 100 && zero && all_zero);
    }

    #[test]
    fn a_request_takes_the_smallest_buffer_that_fits() {
        std::thread::spawn(|| {
            let (big, small) = (take_dirty::<f64>(4096), take_dirty::<f64>(64));
            let (pb, ps) = (big.as_ptr(), small.as_ptr());
            give(small, Held::Public);
            give(big, Held::Public);
            // The most recent buffer is the large one; a small request still takes the small.
            let s = take::<f64>(10);
            assert_eq!(s.as_ptr(), ps);
            let b = take::<f64>(100);
            assert_eq!(
                b.as_ptr(),
                pb,
                "the large buffer was left for a large request"
            );
            assert!(s.iter().chain(&b).all(|&x| x == 0.0));
        })
        .join()
        .expect("the test thread");
    }

    #[test]
    fn a_full_shelf_keeps_the_larger_buffers() {
        // On a thread of its own: a fresh shelf.
        std::thread::spawn(|| {
            for _ in 0..u32::KEEP {
                give(vec![1u32; 10], Held::Public);
            }
            let big = vec![5u32; 1000];
            let ptr = big.as_ptr();
            give(big, Held::Secret);
            assert_eq!(pooled_with(ptr), (1000, true, true));
            // A smaller one than every kept buffer is freed.
            give(vec![1u32; 5], Held::Secret);
            u32::shelf().with(|s| {
                let s = s.borrow();
                assert_eq!(s.0.len(), u32::KEEP);
                assert!(s.0.iter().all(|b| b.buf.capacity() >= 10));
            });
        })
        .join()
        .expect("the pool test thread");
    }

    #[test]
    fn scratch_gives_back_wiped_unless_public() {
        let ptr = {
            let mut s = Scratch::<u8>::dirty(64);
            s.fill(0xAA);
            s.as_ptr()
        };
        assert_eq!(pooled_with(ptr), (64, true, true));
        let ptr = {
            let mut s = Scratch::<u8>::zeroed(64).public();
            assert!(s.iter().all(|&x| x == 0));
            s.fill(3);
            s.as_ptr()
        };
        assert_eq!(pooled_with(ptr), (64, false, false));
    }
}
