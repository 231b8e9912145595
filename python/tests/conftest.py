"""Shared fixtures: the repository, the pixveil CLI, the shared data, the KAT keys.

A test that needs something absent (the CLI binary, the real datasets) is *skipped with the
reason*, never silently passed; scripts/python/test.sh builds the CLI first, so in CI nothing
CLI-dependent is skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
KAT_KEYS = ROOT / "crates" / "pixveil-cipher" / "tests" / "kat" / "keys"
#: The committed KAT keys' secret (scripts/reference/schemes.py writes them): bytes 0x00..0x1f.
KAT_SECRET = bytes(range(32))

sys.path.insert(0, str(ROOT / "scripts" / "reference"))


def _cli() -> Path | None:
    env = os.environ.get("PIXVEIL")
    if env:
        return Path(env)
    for profile in ("debug", "release"):
        p = ROOT / "target" / profile / "pixveil"
        if p.is_file():
            return p
    return None


@pytest.fixture(scope="session")
def cli() -> Path:
    """The `pixveil` binary ($PIXVEIL, else target/debug or target/release)."""
    p = _cli()
    if p is None or not p.is_file():
        pytest.skip("no pixveil binary: build it (cargo build -p pixveil) or set PIXVEIL")
    return p


def run_cli(cli: Path, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([str(cli), "-q", *args], capture_output=True, text=True)
    assert r.returncode == 0, f"pixveil {' '.join(args)} failed:\n{r.stderr}"
    return r


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real datasets ($PIXVEIL_DATA_DIR, else ../shared/data beside the repository)."""
    d = Path(os.environ.get("PIXVEIL_DATA_DIR", ROOT.parent / "shared" / "data"))
    if not (d / "mnist").is_dir() and not (d / "cifar10").is_dir():
        pytest.skip(f"needs the real datasets at {d} (set PIXVEIL_DATA_DIR)")
    return d


def write_idx(path: Path, images: np.ndarray) -> None:
    """IDX image file (magic 0x0803) of (N, H, W, 1) uint8 images."""
    n, h, w, c = images.shape
    assert c == 1
    header = np.array([0x0803, n, h, w], dtype=">u4").tobytes()
    path.write_bytes(header + np.ascontiguousarray(images).tobytes())


def write_cifar(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """CIFAR-10 binary batch (label byte, then the R, G and B planes) of (N, 32, 32, 3) images."""
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    recs = np.concatenate([labels.reshape(-1, 1).astype(np.uint8), planes], axis=1)
    path.write_bytes(recs.tobytes())


def json_line(r: subprocess.CompletedProcess):
    return json.loads(r.stdout.strip().splitlines()[-1])
