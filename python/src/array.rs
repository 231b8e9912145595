//! NumPy image arrays: checking them against an image shape, borrowing their bytes, and
//! making result arrays.

use numpy::{
    PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use pixveil_image::Shape;

use crate::errors::{raise, Kind};

/// How an array holds images of one [`Shape`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Number of images (1 for a single image).
    pub images: usize,
    /// Whether the array has a leading batch axis.
    pub batched: bool,
    /// The array's own dimensions (the result gets the same).
    pub dims: Vec<usize>,
}

/// Checks that `dims` holds whole images of `shape`: `(H, W, C)` or `(N, H, W, C)`, and for
/// one channel also `(H, W)` or `(N, H, W)`.
///
/// # Errors
/// `InvalidInputError` naming the expected dimensions.
pub fn layout(dims: &[usize], shape: Shape) -> PyResult<Layout> {
    let (h, w, c) = (shape.height(), shape.width(), shape.channels());
    let hwc = [h, w, c];
    let hw = [h, w];
    let (images, batched) = match dims.len() {
        3 if dims == hwc => (1, false),
        2 if c == 1 && dims == hw => (1, false),
        4 if dims[1..] == hwc => (dims[0], true),
        3 if c == 1 && dims[1..] == hw => (dims[0], true),
        _ => {
            let grey = if c == 1 {
                format!(", ({h}, {w}) or (N, {h}, {w})")
            } else {
                String::new()
            };
            return Err(raise(
                Kind::InvalidInput,
                format!(
                    "expected images of shape ({h}, {w}, {c}) or (N, {h}, {w}, {c}){grey} for this \
                     key, got an array of shape {dims:?}"
                ),
            ));
        }
    };
    Ok(Layout {
        images,
        batched,
        dims: dims.to_vec(),
    })
}

/// `obj` as a `uint8` array, after checking its type and dtype.
///
/// # Errors
/// `InvalidInputError` for another object or another dtype.
pub fn u8_array<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let untyped = obj.cast::<PyUntypedArray>().map_err(|_| {
        raise(
            Kind::InvalidInput,
            format!(
                "expected a numpy.ndarray of dtype uint8, got {}",
                type_name(obj)
            ),
        )
    })?;
    let dtype = untyped.dtype();
    let Ok(array) = obj.cast::<PyArrayDyn<u8>>() else {
        return Err(raise(
            Kind::InvalidInput,
            format!(
                "expected dtype uint8 (image bytes 0..=255), got {dtype}; convert explicitly, e.g. \
                 x.astype(numpy.uint8) after checking the range"
            ),
        ));
    };
    Ok(array.clone())
}

/// The bytes of a borrowed array, which must be C-contiguous (checked after its shape, so a
/// wrong shape is reported as such).
///
/// # Errors
/// `InvalidInputError` for a non-contiguous array.
pub fn contiguous<'a>(ro: &'a PyReadonlyArrayDyn<'_, u8>) -> PyResult<&'a [u8]> {
    let refused = || {
        raise(
            Kind::InvalidInput,
            "the array is not C-contiguous (a slice, a transpose or Fortran order?): pass \
             numpy.ascontiguousarray(x)",
        )
    };
    // `as_slice` also accepts Fortran order, whose bytes are not in HWC order: refuse it.
    if !ro.is_c_contiguous() {
        return Err(refused());
    }
    ro.as_slice().map_err(|_| refused())
}

/// The bytes of a writable borrow, which must be C-contiguous (as [`contiguous`]).
///
/// # Errors
/// `InvalidInputError` for a non-contiguous array.
pub fn contiguous_mut<'a>(rw: &'a mut PyReadwriteArrayDyn<'_, u8>) -> PyResult<&'a mut [u8]> {
    let refused = || raise(Kind::InvalidInput, "out: the array is not C-contiguous");
    if !rw.is_c_contiguous() {
        return Err(refused());
    }
    rw.as_slice_mut().map_err(|_| refused())
}

/// Borrows an array read-only.
///
/// # Errors
/// `InvalidInputError` if it is being written (mutably borrowed) elsewhere.
pub fn readonly<'py>(array: &Bound<'py, PyArrayDyn<u8>>) -> PyResult<PyReadonlyArrayDyn<'py, u8>> {
    array.try_readonly().map_err(|e| {
        raise(
            Kind::InvalidInput,
            format!("the array cannot be read now: {e}"),
        )
    })
}

/// The Python type name of `obj`, for messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "an unknown object".into(), |n| n.to_string())
}

/// A new array of `dims` owning `data` (no copy).
///
/// # Panics
/// If `data.len()` is not the product of `dims` (callers build `data` for `dims`).
pub fn new_array<'py>(
    py: Python<'py>,
    data: Vec<u8>,
    dims: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    assert_eq!(
        data.len(),
        dims.iter().product::<usize>(),
        "result bytes match their dimensions"
    );
    PyArray1::from_vec(py, data).reshape(dims.to_vec())
}
