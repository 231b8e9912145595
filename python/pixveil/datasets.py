"""Datasets as NumPy arrays, read by the same code (and from the same files) as the CLI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

from . import _pixveil
from .errors import InvalidInputError

__all__ = ["NAMES", "load", "read", "read_manifest"]

#: Dataset names :func:`load` knows; ``sample-<name>`` is the built-in 256-image sample.
NAMES = ("mnist", "fashion-mnist", "kmnist", "cifar10")

PathLike = Union[str, "os.PathLike[str]"]


def _is_name(name: str) -> bool:
    n = name.strip().lower()
    return n in NAMES or n in ("fashion_mnist", "fashionmnist", "cifar-10") or n.startswith("sample-")


def load(
    name: Union[str, "os.PathLike[str]"],
    split: str = "test",
    data_dir: Optional[PathLike] = None,
) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Images and labels of a dataset split.

    Args:
        name: ``"mnist"``, ``"fashion-mnist"``, ``"kmnist"`` or ``"cifar10"`` (files under
            ``data_dir``, searched as ``pixveil --data-dir`` searches them), ``"sample-<name>"``
            (the built-in 256-image sample; ``split`` is ignored), or a path: an IDX file, a
            CIFAR-10 batch (raw or gzip), an image file or a folder of images.
        split: ``"train"`` or ``"test"``.
        data_dir: folder holding the dataset files; defaults to ``$PIXVEIL_DATA_DIR``.

    Returns:
        ``(images, labels)``: ``uint8`` images ``(N, H, W, C)`` (``C`` = 1 for the MNIST
        family, 3 for CIFAR-10) and ``uint8`` labels ``(N,)`` (``None`` for a path without
        labels: IDX images, image files).

    Raises:
        DataNotFoundError: the files are missing (the message lists the paths tried).
        FormatError: a file is corrupt.
        InvalidInputError: an unknown name or split.
    """
    if isinstance(name, os.PathLike) or not _is_name(str(name)):
        if not isinstance(name, os.PathLike) and not Path(str(name)).exists():
            raise InvalidInputError(
                f"{name!r} is neither a dataset ({', '.join(NAMES)}, sample-<name>) nor an "
                "existing file or folder"
            )
        images, labels, _ = read(name)
        return images, labels
    if data_dir is None:
        data_dir = os.environ.get("PIXVEIL_DATA_DIR")
    return _pixveil.load_dataset(
        str(name), split, None if data_dir is None else os.fspath(data_dir)
    )


def read(path: PathLike) -> Tuple[np.ndarray, Optional[np.ndarray], list]:
    """Every image of any input the CLI reads, with labels (CIFAR-10) and one name per image.

    Returns:
        ``(images (N, H, W, C) uint8, labels (N,) uint8 or None, names)``.
    """
    return _pixveil.read_images(os.fspath(path))


def read_manifest(path: PathLike) -> Optional[Tuple[dict, np.ndarray]]:
    """The manifest ``pixveil encrypt`` wrote beside an encrypted output (``PATH.pxv``).

    Returns:
        ``None`` if there is none, else ``(facts, nonces)``: the facts (scheme ``spec``,
        ``shape``, ``mode``, ``key_id``, ``count``, ``names``) and the per-image nonces
        ``(N, 16)`` uint8 (empty in fixed mode) that :meth:`pixveil.Key.decrypt` takes.
    """
    import json

    found = _pixveil.read_manifest(os.fspath(path))
    if found is None:
        return None
    facts, nonces = found
    return json.loads(facts), nonces
