"""Type stubs of the native module (``pixveil._pixveil``); users import ``pixveil``."""

from os import PathLike
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

U8 = npt.NDArray[np.uint8]
ShapeLike = Union[str, Sequence[int]]
Passphrase = Union[str, bytes]
StrPath = Union[str, "PathLike[str]"]

def schemes() -> List[str]:
    """Scheme names :meth:`Key.generate` accepts: pe, pe-np, logistic, grey, le, etc."""

def inspect_key_file(path: StrPath) -> str:
    """Public facts about a key file, as JSON (no passphrase needed, no secret)."""

class Key:
    """A perceptual-encryption key and its cipher (tables built once).

    ``repr`` and :attr:`info` never show the secret. Pickling carries the secret (as the key
    file would): pickle only to trusted workers.
    """

    @staticmethod
    def generate(
        scheme: str, shape: ShapeLike, mode: str = "fixed", block: Optional[int] = None
    ) -> "Key":
        """A new key with a secret from the OS CSPRNG.

        Args:
            scheme: ``pe``, ``pe-np``, ``logistic``, ``grey``, ``le`` or ``etc``.
            shape: ``(H, W, C)``, ``(H, W)`` or ``"HxWxC"``.
            mode: ``"fixed"`` (one key for every image: learnable) or ``"per-image"``.
            block: block side for ``le``/``etc`` (default 4); an error for other schemes.
        """
    @staticmethod
    def from_passphrase(
        scheme: str,
        shape: ShapeLike,
        passphrase: Passphrase,
        mode: str = "fixed",
        block: Optional[int] = None,
    ) -> "Key":
        """A key whose secret is derived from a passphrase (Argon2id, fresh salt)."""
    @staticmethod
    def load(path: StrPath, passphrase: Optional[Passphrase] = None) -> "Key":
        """Loads a key file (``pixveil keygen``'s or :meth:`save`'s)."""
    @staticmethod
    def from_bytes(data: bytes, passphrase: Optional[Passphrase] = None) -> "Key":
        """A key from a key file's bytes."""
    def save(self, path: StrPath, overwrite: bool = False) -> None:
        """Writes the key file atomically, mode 0600; refuses to overwrite unless asked."""
    def to_bytes(self) -> bytes:
        """The key file's bytes (a stored key's hold its secret)."""
    @property
    def scheme(self) -> str: ...
    @property
    def mode(self) -> str:
        """``"fixed"`` or ``"per-image"``."""
    @property
    def shape(self) -> Tuple[int, int, int]:
        """``(H, W, C)``."""
    @property
    def scheme_id(self) -> str:
        """Scheme id recorded in checkpoints trained on this key's images (``pe:fixed``)."""
    @property
    def key_id(self) -> str:
        """Public id (16 hex digits), recorded beside ciphertexts and in checkpoints."""
    @property
    def info(self) -> Dict[str, Any]:
        """scheme, spec, shape, mode, protection, key_id, kdf_version; never the secret."""
    def encrypt(self, x: U8, out: Optional[U8] = None) -> Union[U8, Tuple[U8, U8]]:
        """Encrypts ``uint8`` images ``(H, W, C)`` or ``(N, H, W, C)`` (``(H, W)``/``(N, H, W)``
        for one channel) into a new array of the same shape. The input must be C-contiguous;
        it is read in place with the GIL released, batches on every core.

        Fixed keys return the ciphertext; per-image keys return ``(ciphertext, nonces)``,
        nonces ``(16,)`` for one image or ``(N, 16)``. ``out``: write into this array (same
        shape, uint8, C-contiguous, writable; ``x`` itself for in place) instead of a new one,
        which saves the allocation (and its page faults) in loops.

        Raises:
            InvalidInputError: wrong type, dtype, shape or a non-contiguous array.
        """
    def decrypt(self, x: U8, nonces: Optional[U8] = None, out: Optional[U8] = None) -> U8:
        """Inverse of :meth:`encrypt`; per-image keys need the nonces it returned."""

def load_dataset(name: str, split: str, data_dir: Optional[str] = None) -> Tuple[U8, U8]: ...
def read_images(path: str) -> Tuple[U8, Optional[U8], List[str]]: ...
def metric(name: str, a: U8, b: Optional[U8] = None) -> float: ...
def attack(
    kind: str,
    key: Key,
    images: U8,
    pairs: int = 1,
    limit: Optional[int] = None,
    method: str = "auto",
    public: Optional[U8] = None,
) -> str: ...
def analyze(key: Key, images: U8, sensitivity_images: int = 100) -> str: ...

class HeModel:
    @staticmethod
    def load(path: str) -> "HeModel": ...
    def spec(self) -> str: ...
    def evaluator(self, keys: bytes) -> "HeEvaluator": ...

class HeEvaluator:
    def run(self, request: bytes) -> bytes: ...
    @property
    def keys_mode(self) -> str: ...

class HeClient:
    def __init__(self, spec: Union[str, bytes]) -> None: ...
    @staticmethod
    def from_secret_key(spec: Union[str, bytes], secret_key: bytes) -> "HeClient": ...
    def secret_key_bytes(self) -> bytes: ...
    def evaluation_keys(self, mode: str = "latency") -> bytes: ...
    @property
    def batch_images(self) -> int: ...
    @property
    def classes(self) -> int: ...
    @property
    def scheme(self) -> str: ...
    def encrypt(self, images: U8, mode: str = "latency", perceptual_key: Optional[Key] = None) -> bytes: ...
    def decrypt(self, answer: bytes) -> npt.NDArray[np.float64]: ...
def read_manifest(path: str) -> Optional[Tuple[str, U8]]: ...
