"""CKKS encrypted inference with bytes in and out, so any transport works.

The **model owner** (an untrusted server) holds a trained HE-friendly checkpoint
(``tenseal-cnn``, ``he-cnn``)::

    model = pixveil.he.Model.load("model.ckpt")
    spec = model.spec()                     # public JSON: send it to the data owner
    evaluator = model.evaluator(keys)       # keys: bytes from the data owner
    answer = evaluator.run(request)         # bytes in, bytes out

The **data owner** holds the secret key and the images::

    client = pixveil.he.Client(spec)
    keys = client.evaluation_keys("latency")          # public: send to the model owner
    request = client.encrypt(image, "latency")        # one image (or a batch: "throughput")
    scores = client.decrypt(answer)                   # (N, classes) logits, rounded to 2^-10

Nothing the client sends reveals the images or the secret key; the model owner learns the
plan's shapes, not the data. A model trained on perceptually encrypted images (the hybrid)
takes ``perceptual_key=`` in :meth:`Client.encrypt`.
"""

from __future__ import annotations

from typing import Iterable, List, Optional, Union

import numpy as np

from . import _pixveil
from ._pixveil import Key

__all__ = ["Model", "Evaluator", "Client"]

Spec = Union[str, bytes]


class Model:
    """A checkpoint compiled into its encrypted-inference plan (public material only)."""

    def __init__(self, inner: "_pixveil.HeModel") -> None:
        self._inner = inner

    @classmethod
    def load(cls, path: str) -> "Model":
        """Loads a pixveil checkpoint and compiles its plan, as ``pixveil serve`` does."""
        return cls(_pixveil.HeModel.load(str(path)))

    def spec(self) -> str:
        """The plan spec (JSON): what a client needs to make keys and encrypt."""
        return self._inner.spec()

    def evaluator(self, keys: bytes) -> "Evaluator":
        """An evaluator for one client's evaluation keys."""
        return Evaluator(self._inner.evaluator(keys))


class Evaluator:
    """Runs the plan on one client's encrypted requests."""

    def __init__(self, inner: "_pixveil.HeEvaluator") -> None:
        self._inner = inner

    @property
    def keys_mode(self) -> str:
        """``"latency"`` (serves both modes) or ``"throughput"``."""
        return self._inner.keys_mode

    def run(self, request: bytes) -> bytes:
        """Encrypted scores of an encrypted request (the GIL is released meanwhile)."""
        return self._inner.run(request)


class Client:
    """The data owner's side: the CKKS secret key, encryption and decryption."""

    def __init__(self, spec: Spec, *, _inner: Optional["_pixveil.HeClient"] = None) -> None:
        self._inner = _inner if _inner is not None else _pixveil.HeClient(spec)

    @classmethod
    def from_secret_key(cls, spec: Spec, secret_key: bytes) -> "Client":
        """A client from a secret key saved with :meth:`secret_key_bytes`."""
        return cls(spec, _inner=_pixveil.HeClient.from_secret_key(spec, secret_key))

    def secret_key_bytes(self) -> bytes:
        """The CKKS secret key: store it as a secret; never send it."""
        return self._inner.secret_key_bytes()

    def __repr__(self) -> str:
        return f"<pixveil.he.Client scheme={self.scheme} classes={self.classes} secret=<redacted>>"

    @property
    def batch_images(self) -> int:
        """Images per throughput request."""
        return self._inner.batch_images

    @property
    def classes(self) -> int:
        """Output classes."""
        return self._inner.classes

    @property
    def scheme(self) -> str:
        """Perceptual scheme the model was trained on (``"none"`` for plain images)."""
        return self._inner.scheme

    def evaluation_keys(self, mode: str = "latency") -> bytes:
        """Public evaluation keys for the model owner (``"latency"`` keys serve both modes)."""
        return self._inner.evaluation_keys(mode)

    def encrypt(
        self, images: np.ndarray, mode: str = "latency", perceptual_key: Optional[Key] = None
    ) -> bytes:
        """One encrypted request: one ``uint8`` image ``(H, W, C)`` in latency mode, up to
        :attr:`batch_images` images ``(N, H, W, C)`` in throughput mode."""
        return self._inner.encrypt(images, mode, perceptual_key)

    def encrypt_all(
        self, images: np.ndarray, mode: str = "latency", perceptual_key: Optional[Key] = None
    ) -> List[bytes]:
        """Requests for every image of ``(N, H, W, C)``: one per image (latency) or one per
        :attr:`batch_images` images (throughput), in order."""
        step = 1 if mode == "latency" else self.batch_images
        return [
            self.encrypt(images[i : i + step], mode, perceptual_key)
            for i in range(0, len(images), step)
        ]

    def decrypt(self, answer: bytes) -> np.ndarray:
        """Scores ``(N, classes)`` float64 of an encrypted answer, rounded to 2^-10."""
        return self._inner.decrypt(answer)

    def decrypt_all(self, answers: Iterable[bytes]) -> np.ndarray:
        """Scores of several answers, concatenated in order."""
        return np.concatenate([self.decrypt(a) for a in answers], axis=0)
