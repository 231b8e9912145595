"""pixveil: classify images that the classifier never sees in the clear.

Two families of protection, one package:

* **perceptual encryption** (:class:`Key`): keyed, exactly invertible pixel transforms that hide
  what an image shows but keep it learnable, on ``numpy.uint8`` arrays ``(H, W, C)`` or
  ``(N, H, W, C)``; :mod:`pixveil.torch` plugs them into PyTorch pipelines and
  :mod:`pixveil.ray` scales them out on Ray;
* **homomorphic encryption** (:mod:`pixveil.he`): a model owner evaluates a CNN on CKKS
  ciphertexts and returns encrypted scores only the data owner can decrypt.

Around them: :mod:`pixveil.datasets` (the files the ``pixveil`` CLI reads) and
:mod:`pixveil.analysis` (metrics and attacks, the JSON of ``pixveil attack --json``).

Every failure raises a :class:`pixveil.Error` subclass (see :mod:`pixveil.errors`).
"""

from __future__ import annotations

from . import errors
from ._pixveil import Key, __version__, schemes
from .errors import (
    DataNotFoundError,
    Error,
    FileError,
    FormatError,
    HEError,
    InvalidInputError,
    KeyFileError,
    PassphraseError,
    WrongKeyError,
)
from . import analysis, datasets, he  # noqa: E402  (torch and ray are optional: import them explicitly)

__all__ = ["Key", "schemes", "__version__", "analysis", "datasets", "he", "errors"]
__all__ += errors.__all__
