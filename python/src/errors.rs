//! Library errors → `pixveil.Error` subclasses (defined in Python, `pixveil/errors.py`, so
//! they can also derive from `ValueError`, `OSError`, … as Python users expect).

use std::error::Error as StdError;

use pyo3::prelude::*;
use pyo3::types::PyType;

/// Which `pixveil.errors` class an error becomes.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `InvalidInputError` (also a `ValueError`): wrong dtype, shape, layout or parameter.
    InvalidInput,
    /// `KeyFileError`: a damaged, foreign or tampered key file.
    KeyFile,
    /// `PassphraseError` (a `KeyFileError`): missing or wrong passphrase.
    Passphrase,
    /// `WrongKeyError`: data made with another key.
    WrongKey,
    /// `FormatError` (a `ValueError`): undecodable data.
    Format,
    /// `DataNotFoundError` (a `FileNotFoundError`): dataset files missing.
    NotFound,
    /// `FileError` (an `OSError`): the operating system refused a read or write.
    File,
    /// `HEError`: encrypted inference (plan, keys, ciphertexts).
    He,
    /// `Error` itself.
    Other,
}

impl Kind {
    fn class_name(self) -> &'static str {
        match self {
            Kind::InvalidInput => "InvalidInputError",
            Kind::KeyFile => "KeyFileError",
            Kind::Passphrase => "PassphraseError",
            Kind::WrongKey => "WrongKeyError",
            Kind::Format => "FormatError",
            Kind::NotFound => "DataNotFoundError",
            Kind::File => "FileError",
            Kind::He => "HEError",
            Kind::Other => "Error",
        }
    }
}

/// A `pixveil.errors` exception of `kind` with `message`.
pub fn raise(kind: Kind, message: impl Into<String>) -> PyErr {
    let message = message.into();
    Python::attach(|py| {
        let class = py
            .import("pixveil.errors")
            .and_then(|m| m.getattr(kind.class_name()))
            .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
        match class {
            Ok(c) => PyErr::from_type(c, message),
            // Only if the package is broken (the module imported without its Python half).
            Err(e) => e,
        }
    })
}

/// The message of `e` and its causes, each cause once: thiserror messages often embed their
/// source already, so a cause whose text the message holds is not repeated.
pub fn message(e: &dyn StdError) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// Converts a library error into the matching Python exception.
pub trait IntoPyErr {
    /// The exception.
    fn into_py_err(self) -> PyErr;
}

impl IntoPyErr for pixveil_core::Error {
    fn into_py_err(self) -> PyErr {
        use pixveil_core::Error as E;
        let kind = match &self {
            E::WrongPassphrase => Kind::Passphrase,
            _ => Kind::KeyFile,
        };
        raise(kind, message(&self))
    }
}

impl IntoPyErr for pixveil_cipher::Error {
    fn into_py_err(self) -> PyErr {
        use pixveil_cipher::Error as E;
        let kind = match &self {
            E::ShapeMismatch { .. }
            | E::InvalidParameter { .. }
            | E::MissingNonces
            | E::NonceCount { .. }
            | E::BadNonce { .. } => Kind::InvalidInput,
            E::Key(pixveil_core::Error::WrongPassphrase) | E::PassphraseRequired => {
                Kind::Passphrase
            }
            E::Key(_) | E::InvalidKey(_) | E::LegacyKey => Kind::KeyFile,
            _ => Kind::Other,
        };
        raise(kind, message(&self))
    }
}

impl IntoPyErr for pixveil_image::Error {
    fn into_py_err(self) -> PyErr {
        use pixveil_image::Error as E;
        let kind = match &self {
            E::InvalidShape(_) | E::Parameter(_) => Kind::InvalidInput,
            E::NotFound { .. } => Kind::NotFound,
            E::Io { .. } => Kind::File,
            _ => Kind::Format,
        };
        raise(kind, message(&self))
    }
}

impl IntoPyErr for pixveil_analysis::Error {
    fn into_py_err(self) -> PyErr {
        use pixveil_analysis::Error as E;
        match self {
            E::Cipher(e) => e.into_py_err(),
            E::Image(e) => e.into_py_err(),
            e => raise(Kind::InvalidInput, message(&e)),
        }
    }
}

impl IntoPyErr for pixveil_henn::Error {
    fn into_py_err(self) -> PyErr {
        raise(Kind::He, message(&self))
    }
}

impl IntoPyErr for pixveil_nn::Error {
    fn into_py_err(self) -> PyErr {
        raise(Kind::Format, message(&self))
    }
}

impl IntoPyErr for std::io::Error {
    fn into_py_err(self) -> PyErr {
        let kind = match self.kind() {
            std::io::ErrorKind::NotFound => Kind::NotFound,
            _ => Kind::File,
        };
        raise(kind, message(&self))
    }
}

/// `?` for library results: `.py()?`.
pub trait PyResultExt<T> {
    /// The result with its error as a Python exception.
    fn py(self) -> PyResult<T>;
}

impl<T, E: IntoPyErr> PyResultExt<T> for Result<T, E> {
    fn py(self) -> PyResult<T> {
        self.map_err(IntoPyErr::into_py_err)
    }
}
