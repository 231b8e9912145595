"""pixveil.ray: encryption on a local Ray cluster equals `pixveil encrypt`, byte for byte."""

from __future__ import annotations

import numpy as np
import pytest

import pixveil
from conftest import KAT_KEYS, run_cli, write_cifar

ray = pytest.importorskip("ray", reason="needs Ray: pip install 'ray[data]' (scripts/python/test.sh does)")
pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def cluster():
    import pixveil.ray  # noqa: F401  (fails clearly if Ray Data is missing)

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    yield
    ray.shutdown()


def _through_ray(images: np.ndarray, key: pixveil.Key):
    import pixveil.ray as pray

    # Eight in-memory blocks, so both workers of the 2-CPU cluster get work (and no upstream
    # task competes with the two encrypting actors for the two CPUs).
    ds = ray.data.from_numpy(np.array_split(images, 8))
    out = pray.encrypt_dataset(ds, key, batch_size=1000, concurrency=2)
    batch = out.take_batch(batch_size=len(images), batch_format="numpy")
    return batch


def _cli_encrypt(cli, tmp_path, key_path, images, labels):
    inp, out = tmp_path / "in.bin", tmp_path / "out.bin"
    write_cifar(inp, images, labels)
    run_cli(cli, "encrypt", "--key", str(key_path), str(inp), "-o", str(out))
    return pixveil.datasets.read(out)[0], pixveil.datasets.read_manifest(out)[1]


def test_fixed_key_on_ray_equals_the_cli(cluster, cli, tmp_path):
    key_path = KAT_KEYS / "pe_32x32x3_fixed_v2.key"
    key = pixveil.Key.load(key_path)
    images, labels = pixveil.datasets.load("sample-cifar10")
    got = _through_ray(images, key)["data"]
    want, _ = _cli_encrypt(cli, tmp_path, key_path, images, labels)
    np.testing.assert_array_equal(got, want)


def test_per_image_key_on_ray_decrypts_with_its_nonces(cluster):
    key = pixveil.Key.generate("etc", (32, 32, 3), mode="per-image")
    images, _ = pixveil.datasets.load("sample-cifar10")
    batch = _through_ray(images, key)
    assert batch["nonces"].shape == (len(images), 16)
    np.testing.assert_array_equal(key.decrypt(batch["data"], batch["nonces"]), images)


def test_bad_column_is_a_clear_error(cluster):
    key = pixveil.Key.generate("pe", (32, 32, 3))
    import pixveil.ray as pray

    ds = ray.data.from_items([{"a": 1, "b": 2}])
    with pytest.raises(pixveil.InvalidInputError, match="column"):
        pray.encrypt_dataset(ds, key)
    with pytest.raises(pixveil.InvalidInputError, match="pixveil.Key"):
        pray.encrypt_dataset(ds, "not a key")


@pytest.mark.data
def test_cifar10_test_batch_on_ray_equals_the_cli(cluster, cli, data_dir, tmp_path):
    """Issue 11's check: the 10 000-image CIFAR-10 test batch encrypted through a 2-CPU local
    Ray cluster is byte for byte the CLI's ciphertext."""
    key_path = tmp_path / "cifar.key"
    run_cli(cli, "keygen", "--scheme", "pe", "--shape", "32x32x3", "-o", str(key_path))
    key = pixveil.Key.load(key_path)
    src = data_dir / "cifar10" / "test_batch.bin.gz"
    images, labels, _ = pixveil.datasets.read(src)
    assert images.shape == (10000, 32, 32, 3)
    out = tmp_path / "test_batch.enc.bin"
    run_cli(cli, "encrypt", "--key", str(key_path), str(src), "-o", str(out))
    want = pixveil.datasets.read(out)[0]
    got = _through_ray(images, key)["data"]
    np.testing.assert_array_equal(got, want)
