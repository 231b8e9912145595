"""PyTorch integration: a torchvision-style transform and an encrypting dataset.

Needs ``torch`` (and ``Pillow`` for PIL images); neither is a dependency of pixveil itself.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from ._pixveil import Key
from .errors import InvalidInputError

try:
    import torch as _torch
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "pixveil.torch needs PyTorch: pip install torch (CPU wheels: "
        "--index-url https://download.pytorch.org/whl/cpu)"
    ) from e

__all__ = ["Encrypt", "EncryptedDataset", "save_checkpoint"]


def _is_pil(x: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:
        return False
    return isinstance(x, Image.Image)


class Encrypt:
    """Encrypts an image with a pixveil key: a transform for ``torchvision.transforms.Compose``.

    Accepts a PIL image (mode ``L`` or ``RGB``) and returns one of the same mode, or a
    ``torch.uint8`` tensor ``(C, H, W)`` / ``(N, C, H, W)`` (torchvision's layout) and returns
    one of the same shape. Put it before ``ToTensor()``: the cipher works on bytes.

    With a per-image key every call draws fresh nonces, so the same image encrypts
    differently each epoch; the nonces are dropped (use :meth:`pixveil.Key.encrypt` directly
    when you must decrypt later).
    """

    def __init__(self, key: Key) -> None:
        if not isinstance(key, Key):
            raise InvalidInputError(f"Encrypt takes a pixveil.Key, got {type(key).__name__}")
        self.key = key

    def _encrypt(self, hwc: np.ndarray) -> np.ndarray:
        out = self.key.encrypt(np.ascontiguousarray(hwc))
        return out[0] if isinstance(out, tuple) else out

    def __call__(self, img: Any) -> Any:
        if _is_pil(img):
            from PIL import Image

            return Image.fromarray(self._encrypt(np.asarray(img)), mode=img.mode)
        if isinstance(img, _torch.Tensor):
            if img.dtype != _torch.uint8:
                raise InvalidInputError(
                    f"Encrypt takes uint8 tensors (put it before ToTensor), got {img.dtype}"
                )
            if img.dim() == 3:
                hwc = img.permute(1, 2, 0).contiguous().numpy()
                return _torch.from_numpy(self._encrypt(hwc)).permute(2, 0, 1).contiguous()
            if img.dim() == 4:
                nhwc = img.permute(0, 2, 3, 1).contiguous().numpy()
                return _torch.from_numpy(self._encrypt(nhwc)).permute(0, 3, 1, 2).contiguous()
            raise InvalidInputError(
                f"Encrypt takes (C, H, W) or (N, C, H, W) tensors, got shape {tuple(img.shape)}"
            )
        if isinstance(img, np.ndarray):
            return self._encrypt(img)
        raise InvalidInputError(
            f"Encrypt takes a PIL image, a uint8 tensor or a uint8 array, got {type(img).__name__}"
        )

    def __repr__(self) -> str:
        return f"Encrypt({self.key!r})"


class EncryptedDataset(_torch.utils.data.Dataset):
    """Wraps a dataset of ``(image, target)`` pairs so its images arrive encrypted.

    Args:
        dataset: yields ``(image, target)`` with images as PIL images or ``uint8`` tensors
            (no ``ToTensor`` yet).
        key: the pixveil key.
        augment: ``"before"``: ``transform`` (augmentation) runs on the plain image, then
            encryption; ``"after"``: encryption first, then ``transform`` in the encrypted
            domain (paper A's setting: the augmentation must then commute with the cipher).
        transform: augmentation on bytes (PIL image or ``uint8`` tensor in and out).
        post_transform: applied last (e.g. ``ToTensor()``).
        target_transform: applied to the target.
    """

    def __init__(
        self,
        dataset: Any,
        key: Key,
        augment: str = "before",
        transform: Optional[Callable[[Any], Any]] = None,
        post_transform: Optional[Callable[[Any], Any]] = None,
        target_transform: Optional[Callable[[Any], Any]] = None,
    ) -> None:
        if augment not in ("before", "after"):
            raise InvalidInputError(f'augment: expected "before" or "after", got {augment!r}')
        self.dataset = dataset
        self.encrypt = Encrypt(key)
        self.augment = augment
        self.transform = transform
        self.post_transform = post_transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Tuple[Any, Any]:
        img, target = self.dataset[index]
        if self.augment == "before" and self.transform is not None:
            img = self.transform(img)
        img = self.encrypt(img)
        if self.augment == "after" and self.transform is not None:
            img = self.transform(img)
        if self.post_transform is not None:
            img = self.post_transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target


def save_checkpoint(
    state_dict: Dict[str, "_torch.Tensor"],
    path: str,
    architecture: str,
    input_shape: Tuple[int, int, int],
    *,
    key: Optional[Key] = None,
    classes: int = 10,
    width: int = 64,
    adaptation: bool = False,
) -> None:
    """Saves a PyTorch ``state_dict`` as a pixveil checkpoint that ``pixveil eval``,
    ``pixveil predict``, ``pixveil he-eval`` and :meth:`pixveil.he.Model.load` read.

    The module must be pixveil's architecture of that name (the tensors are named and laid out
    as PyTorch's own, see ``docs/training.md``); the file is safetensors with pixveil's
    metadata (``crates/pixveil-nn/src/checkpoint.rs``). Needs the ``safetensors`` package.

    Args:
        architecture: ``tenseal-cnn``, ``he-cnn``, ``small-cnn`` or ``resnet18``.
        input_shape: ``(C, H, W)``, e.g. ``(1, 28, 28)``.
        key: the key whose ciphertexts the model was trained on (only its public scheme id is
            recorded); ``None`` for plain images.
        classes, width, adaptation: as in ``pixveil train`` (``width``: ResNet base width).
    """
    from safetensors.torch import save_file

    c, h, w = input_shape
    metadata = {
        "format": "pixveil-nn",
        "format_version": "2",
        "architecture": architecture,
        "input_shape": f"{c},{h},{w}",
        "adaptation": "true" if adaptation else "false",
        "width": str(width),
        "classes": str(classes),
        "scheme": "none" if key is None else key.scheme_id,
    }
    # Parameters and running statistics as float32; batch-norm counters stay int64.
    tensors = {
        name: t.detach().to("cpu", _torch.int64 if name.endswith("num_batches_tracked") else _torch.float32).contiguous()
        for name, t in state_dict.items()
    }
    save_file(tensors, str(path), metadata=metadata)
