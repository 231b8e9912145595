"""Scale-out on Ray: encrypt a Ray Dataset on every worker of a cluster.

Needs ``ray[data]`` (``pip install "pixveil[ray]"``). The same code runs on a laptop
(``ray.init()``) and on a multi-machine cluster (``ray.init(address="auto")`` on a node of a
cluster started with ``ray start --head`` / ``ray start --address=HEAD:6379``; every node needs
``pip install pixveil``). The key travels once to each worker (as the constructor argument of
its encrypting actor), never per batch.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Union

import numpy as np

from ._pixveil import Key
from .errors import InvalidInputError

try:
    import ray as _ray
    import ray.data  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError('pixveil.ray needs Ray Data: pip install "ray[data]"') from e

__all__ = ["encrypt_dataset", "EncryptBatch"]


class EncryptBatch:
    """A Ray Data batch function (one instance per worker) encrypting one image column.

    Batches arrive as ``{column: (N, H, W, C) uint8}``; per-image keys add a ``nonces_column``
    with the ``(N, 16)`` nonces needed to decrypt.
    """

    def __init__(self, key: Key, column: str, nonces_column: str) -> None:
        self.key = key
        self.column = column
        self.nonces_column = nonces_column

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        if self.column not in batch:
            raise InvalidInputError(
                f"no column {self.column!r} in the dataset (columns: {sorted(batch)})"
            )
        images = np.ascontiguousarray(batch[self.column])
        out = dict(batch)
        if self.key.mode == "per-image":
            out[self.column], out[self.nonces_column] = self.key.encrypt(images)
        else:
            out[self.column] = self.key.encrypt(images)
        return out


def encrypt_dataset(
    ds: "ray.data.Dataset",
    key: Key,
    column: Optional[str] = None,
    *,
    batch_size: int = 1024,
    concurrency: Optional[Union[int, Tuple[int, int]]] = None,
    nonces_column: str = "nonces",
) -> "ray.data.Dataset":
    """Encrypts the image column of a Ray Dataset with ``key`` (lazy, like every Ray Data op).

    Args:
        ds: a dataset with a ``uint8`` tensor column of the key's image shape, e.g.
            ``ray.data.from_numpy(images)`` (column ``"data"``).
        column: the image column; by default the dataset's only column.
        batch_size: images per batch handed to a worker.
        concurrency: encrypting workers (one CPU each), a number or a ``(min, max)`` range for
            an autoscaling pool. Default ``(1, CPUs - 1)`` (at most 8): one CPU stays free for
            the tasks that read and feed the data, which a pool holding every CPU would starve.
        nonces_column: where per-image nonces go.

    Returns:
        The dataset with that column encrypted (order kept when the context preserves it:
        ``ray.data.DataContext.get_current().execution_options.preserve_order = True``).
    """
    if not isinstance(key, Key):
        raise InvalidInputError(f"encrypt_dataset takes a pixveil.Key, got {type(key).__name__}")
    if column is None:
        names = ds.columns()
        if not names or len(names) != 1:
            raise InvalidInputError(
                f"the dataset has columns {names}: pass column= (the image column)"
            )
        column = names[0]
    if concurrency is None:
        cpus = int(_ray.cluster_resources().get("CPU", 1)) if _ray.is_initialized() else 1
        concurrency = (1, max(1, min(8, cpus - 1)))
    return ds.map_batches(
        EncryptBatch,
        fn_constructor_args=(key, column, nonces_column),
        batch_size=batch_size,
        batch_format="numpy",
        concurrency=concurrency,
        num_cpus=1,
        zero_copy_batch=True,
    )
