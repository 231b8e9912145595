//! `pixveil._pixveil`: the native half of the `pixveil` Python package (PyO3, abi3).
//!
//! The Python modules under `python/pixveil/` wrap these functions and classes with type hints,
//! docstrings and the PyTorch/Ray integrations; users import `pixveil`, never this module.
//!
//! Conventions that every function here keeps:
//! * images are `numpy.uint8` arrays `(H, W, C)` or `(N, H, W, C)` (`(H, W)`/`(N, H, W)` for
//!   one channel), C-contiguous; they are read in place (no copy on the way in) and the
//!   result is one new array;
//! * the interpreter lock is released for the work itself ([`Python::detach`]), so other
//!   Python threads run meanwhile, and batches use every core (rayon's global pool);
//! * every failure is a `pixveil.Error` subclass (see `pixveil/errors.py`) carrying the
//!   library's message — never a panic across the boundary (PyO3 turns one into
//!   `PanicException`, which would be a bug here).

use pyo3::prelude::*;

mod analysis;
mod array;
mod data;
mod errors;
mod he;
mod key;

/// The extension module.
#[pymodule]
fn _pixveil(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<key::Key>()?;
    m.add_function(wrap_pyfunction!(key::schemes, m)?)?;
    m.add_function(wrap_pyfunction!(key::inspect_key_file, m)?)?;
    m.add_function(wrap_pyfunction!(data::load_dataset, m)?)?;
    m.add_function(wrap_pyfunction!(data::read_images, m)?)?;
    m.add_function(wrap_pyfunction!(data::read_manifest, m)?)?;
    m.add_function(wrap_pyfunction!(analysis::metric, m)?)?;
    m.add_function(wrap_pyfunction!(analysis::attack, m)?)?;
    m.add_function(wrap_pyfunction!(analysis::analyze, m)?)?;
    m.add_class::<he::HeModel>()?;
    m.add_class::<he::HeEvaluator>()?;
    m.add_class::<he::HeClient>()?;
    Ok(())
}
