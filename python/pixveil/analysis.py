"""Security metrics and attacks: the code behind ``pixveil analyze`` and ``pixveil attack``.

:func:`attack` and :func:`analyze` return the same dictionaries as the CLI's ``--json``.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

import numpy as np

from . import _pixveil
from ._pixveil import Key

__all__ = [
    "entropy",
    "chi2",
    "correlation",
    "npcr",
    "uaci",
    "mse",
    "psnr",
    "ssim",
    "attack",
    "analyze",
]


def entropy(x: np.ndarray) -> float:
    """Shannon entropy of the byte values of ``x``, in bits (0..8)."""
    return _pixveil.metric("entropy", x)


def chi2(x: np.ndarray) -> float:
    """χ² statistic of the histogram of ``x`` against the uniform one (255 degrees of freedom)."""
    return _pixveil.metric("chi2", x)


def correlation(image: np.ndarray, direction: str = "h") -> float:
    """Pearson correlation of neighbouring values of one image ``(H, W, C)``.

    ``direction``: ``"h"`` (right neighbour), ``"v"`` (below) or ``"d"`` (diagonal).
    """
    return _pixveil.metric(f"correlation-{direction}", image)


def npcr(a: np.ndarray, b: np.ndarray) -> float:
    """Number of pixel-value changes between two equal-shape arrays, in percent."""
    return _pixveil.metric("npcr", a, b)


def uaci(a: np.ndarray, b: np.ndarray) -> float:
    """Unified average changing intensity between two equal-shape arrays, in percent."""
    return _pixveil.metric("uaci", a, b)


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error between two equal-shape arrays (values 0..255)."""
    return _pixveil.metric("mse", a, b)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` for equal arrays)."""
    return _pixveil.metric("psnr", a, b)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity of two images ``(H, W, C)`` (−1..1)."""
    return _pixveil.metric("ssim", a, b)


def attack(
    kind: str,
    key: Key,
    images: np.ndarray,
    pairs: int = 1,
    limit: Optional[int] = None,
    method: str = "auto",
    public: Optional[np.ndarray] = None,
) -> Dict[str, Any]:
    """Runs one attack against ``key``'s encryption of ``images`` (plain, ``(N, H, W, C)``).

    The key plays the victim's encryption oracle and scores the result; the attacker sees
    only what the attack allows.

    Args:
        kind: ``"kpa"`` (the first ``pairs`` images are known pairs), ``"cpa"`` (chosen
            images through the oracle) or ``"coa"`` (ciphertexts only; ``method`` ``"auto"``,
            ``"msb"``, ``"neighbour"`` or ``"jigsaw"``) or ``"stat"`` (ciphertexts plus
            ``public`` plain images of the same kind, e.g. the training split: per position
            the key hypothesis under which the decryptions best fit the public statistics).
        limit: held-out images attacked (default: all the rest).

    Returns:
        The object ``pixveil attack KIND --json`` prints.
    """
    return json.loads(_pixveil.attack(kind, key, images, pairs, limit, method, public))


def analyze(key: Key, images: np.ndarray, sensitivity_images: int = 100) -> Dict[str, Any]:
    """Statistics of ``key``'s ciphertexts of ``images`` (entropy, correlations, χ²,
    NPCR/UACI over the first ``sensitivity_images``, key space): ``pixveil analyze``'s numbers."""
    return json.loads(_pixveil.analyze(key, images, sensitivity_images))
