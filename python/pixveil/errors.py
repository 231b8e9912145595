"""Exceptions raised by pixveil.

Every failure of the library is a :class:`pixveil.Error`; the subclasses also derive from the
built-in exception a Python user would catch for that fault (``ValueError`` for bad input,
``FileNotFoundError`` for missing data, ``OSError`` for refused reads and writes).
"""

from __future__ import annotations

__all__ = [
    "Error",
    "InvalidInputError",
    "KeyFileError",
    "PassphraseError",
    "WrongKeyError",
    "FormatError",
    "DataNotFoundError",
    "FileError",
    "HEError",
]


class Error(Exception):
    """Base class of every pixveil error; the message is the library's own."""


class InvalidInputError(Error, ValueError):
    """Wrong dtype, shape, memory layout or parameter (e.g. a float array, a transposed view)."""


class KeyFileError(Error):
    """A damaged, foreign or tampered key file (its settings MAC does not verify)."""


class PassphraseError(KeyFileError):
    """The key file needs a passphrase, or the passphrase is wrong."""


class WrongKeyError(Error, ValueError):
    """The data (or model) was made with another key."""


class FormatError(Error, ValueError):
    """Undecodable data: a corrupt dataset file, image, checkpoint or container."""


class DataNotFoundError(Error, FileNotFoundError):
    """A dataset or file is missing (the message lists every path tried)."""


class FileError(Error, OSError):
    """The operating system refused a read or a write, or an output exists already."""


class HEError(Error):
    """Encrypted inference: a plan, key set or ciphertext that does not fit."""
