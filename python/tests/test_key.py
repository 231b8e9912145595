"""pixveil.Key: round trips, agreement with the CLI and with the independent reference, bad
input, secrets kept out of repr/info, pickling."""

from __future__ import annotations

import pickle
import stat
import threading

import numpy as np
import pytest

import pixveil
from conftest import KAT_KEYS, KAT_SECRET, run_cli, write_cifar, write_idx

MNIST = (28, 28, 1)
CIFAR = (32, 32, 3)


@pytest.fixture(scope="module")
def mnist():
    return pixveil.datasets.load("sample-mnist")[0]


@pytest.fixture(scope="module")
def cifar():
    return pixveil.datasets.load("sample-cifar10")


def _split(out):
    return out if isinstance(out, tuple) else (out, None)


@pytest.mark.parametrize("scheme", pixveil.schemes())
@pytest.mark.parametrize("mode", ["fixed", "per-image"])
@pytest.mark.parametrize("shape", [MNIST, CIFAR])
def test_round_trip_every_scheme(scheme, mode, shape, mnist, cifar):
    images = mnist if shape == MNIST else cifar[0]
    key = pixveil.Key.generate(scheme, shape, mode=mode)
    ct, nonces = _split(key.encrypt(images))
    assert ct.shape == images.shape and ct.dtype == np.uint8
    assert (ct != images).mean() > 0.3, "encryption changed too little"
    assert (mode == "per-image") == (nonces is not None)
    if nonces is not None:
        assert nonces.shape == (len(images), 16)
    back = key.decrypt(ct, nonces) if nonces is not None else key.decrypt(ct)
    np.testing.assert_array_equal(back, images)


def test_single_image_and_grey_layouts(mnist):
    key = pixveil.Key.generate("pe", MNIST)
    batch = key.encrypt(mnist[:4])
    np.testing.assert_array_equal(key.encrypt(mnist[0]), batch[0])
    # (H, W) and (N, H, W) for one channel: the same bytes, the same layout back.
    np.testing.assert_array_equal(key.encrypt(mnist[0, :, :, 0]), batch[0, :, :, 0])
    np.testing.assert_array_equal(key.encrypt(mnist[:4, :, :, 0]), batch[:, :, :, 0])
    per = pixveil.Key.generate("pe", MNIST, mode="per-image")
    ct, nonce = per.encrypt(mnist[0])
    assert nonce.shape == (16,)
    np.testing.assert_array_equal(per.decrypt(ct, nonce), mnist[0])


def test_input_is_not_modified_and_output_is_new(mnist):
    key = pixveil.Key.generate("logistic", MNIST)
    before = mnist.copy()
    ct = key.encrypt(mnist)
    np.testing.assert_array_equal(mnist, before)
    assert not np.shares_memory(ct, mnist)
    # A read-only input is fine (read in place).
    ro = mnist.copy()
    ro.setflags(write=False)
    np.testing.assert_array_equal(key.encrypt(ro), ct)


def test_per_image_nonces_are_fresh(mnist):
    key = pixveil.Key.generate("pe", MNIST, mode="per-image")
    a, na = key.encrypt(mnist[:8])
    b, nb = key.encrypt(mnist[:8])
    assert not np.array_equal(na, nb)
    assert not np.array_equal(a, b)


# --- agreement with the independent reference and with the CLI -----------------------------


def _kat_keys():
    return sorted(KAT_KEYS.glob("*_v2.key"))


@pytest.mark.parametrize("path", _kat_keys(), ids=lambda p: p.stem)
def test_kat_keys_match_the_independent_reference(path, mnist, cifar):
    """Committed KAT keys (secret 0x00..0x1f) through Python = scripts/reference/schemes.py,
    written from docs/schemes.md alone."""
    import schemes as ref

    key = pixveil.Key.load(path)
    images = (mnist if key.shape == MNIST else cifar[0])[:16]
    ct, nonces = _split(key.encrypt(images))
    spec = key.info["spec"]
    want = ref.encrypt_batch(
        spec,
        key.shape,
        KAT_SECRET,
        [im.tobytes() for im in images],
        kdf=2,
        nonces=None if nonces is None else [bytes(n) for n in nonces],
    )
    assert ct.tobytes() == b"".join(bytes(w) for w in want)


@pytest.mark.parametrize(
    "name",
    ["pe_28x28x1_fixed_v2", "etc4_32x32x3_fixed_v2", "grey_28x28x1_per-image_v2",
     "le4_32x32x3_per-image_v2"],
)
def test_same_key_file_same_bytes_as_the_cli(name, cli, tmp_path, mnist, cifar):
    key_path = KAT_KEYS / f"{name}.key"
    key = pixveil.Key.load(key_path)
    if key.shape == MNIST:
        images, inp = mnist, tmp_path / "in.idx"
        write_idx(inp, images)
    else:
        images, labels = cifar
        inp = tmp_path / "in.bin"
        write_cifar(inp, images, labels)
    out = tmp_path / ("out" + inp.suffix)
    run_cli(cli, "encrypt", "--key", str(key_path), str(inp), "-o", str(out))
    cli_ct, _, _ = pixveil.datasets.read(out)
    facts, nonces = pixveil.datasets.read_manifest(out)
    assert facts["key_id"] == key.key_id
    if key.mode == "fixed":
        np.testing.assert_array_equal(key.encrypt(images), cli_ct)
        np.testing.assert_array_equal(key.decrypt(cli_ct), images)
    else:
        # The CLI drew the nonces: Python decrypts the CLI's ciphertext with them…
        np.testing.assert_array_equal(key.decrypt(cli_ct, nonces), images)
        # …and the CLI decrypts what Python encrypted (written with the CLI's manifest).
        assert nonces.shape == (len(images), 16)


def test_cli_key_and_python_key_interoperate(cli, tmp_path, mnist):
    """A key made by `pixveil keygen` loads in Python and vice versa (same id, same bytes)."""
    k1 = tmp_path / "cli.key"
    run_cli(cli, "keygen", "--scheme", "etc", "--shape", "28x28x1", "-o", str(k1))
    key = pixveil.Key.load(k1)
    k2 = tmp_path / "py.key"
    key.save(k2)
    assert stat.S_IMODE(k2.stat().st_mode) == 0o600
    inp, out = tmp_path / "in.idx", tmp_path / "out.idx"
    write_idx(inp, mnist)
    run_cli(cli, "encrypt", "--key", str(k2), str(inp), "-o", str(out))
    np.testing.assert_array_equal(pixveil.datasets.read(out)[0], key.encrypt(mnist))


# --- secrets ---------------------------------------------------------------------------------


def test_repr_and_info_hold_no_secret(tmp_path):
    key = pixveil.Key.load(KAT_KEYS / "pe_28x28x1_fixed_v2.key")
    text = repr(key) + repr(key.info)
    for piece in (KAT_SECRET.hex()[:8], KAT_SECRET[:8].hex()):
        assert piece not in text
    assert "redacted" in repr(key)
    assert set(key.info) == {"scheme", "spec", "shape", "mode", "protection", "key_id", "kdf_version"}


def test_passphrase_keys(tmp_path, mnist):
    key = pixveil.Key.from_passphrase("pe", MNIST, "correct horse")
    path = tmp_path / "p.key"
    key.save(path)
    assert key.info["protection"] == "passphrase"
    with pytest.raises(pixveil.PassphraseError, match="passphrase"):
        pixveil.Key.load(path)
    with pytest.raises(pixveil.PassphraseError):
        pixveil.Key.load(path, passphrase="wrong horse")
    back = pixveil.Key.load(path, passphrase=b"correct horse")
    np.testing.assert_array_equal(back.encrypt(mnist[:4]), key.encrypt(mnist[:4]))
    # A pickled passphrase key carries its secret: it works without the passphrase.
    shipped = pickle.loads(pickle.dumps(key))
    assert shipped.key_id == key.key_id
    np.testing.assert_array_equal(shipped.encrypt(mnist[:4]), key.encrypt(mnist[:4]))


def test_save_refuses_to_overwrite(tmp_path):
    key = pixveil.Key.generate("pe", MNIST)
    path = tmp_path / "k.key"
    key.save(path)
    with pytest.raises(pixveil.FileError, match="overwrite"):
        key.save(path)
    key.save(path, overwrite=True)


# --- bad input -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key():
    return pixveil.Key.generate("pe", MNIST)


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda x: x.astype(np.float32), "dtype uint8"),
        (lambda x: x.astype(np.int64), "dtype uint8"),
        (lambda x: np.concatenate([x, x], axis=2)[:, :, ::2], "contiguous"),
        (lambda x: x.transpose(0, 2, 1, 3), "contiguous"),
        (lambda x: np.asfortranarray(x[:3]), "contiguous"),
        (lambda x: x[:, :27], "shape"),
        (lambda x: x.reshape(-1), "shape"),
        (lambda x: x[None], "shape"),
        (lambda x: x.tolist(), "numpy.ndarray"),
        (lambda x: b"\x00" * 784, "numpy.ndarray"),
    ],
)
def test_bad_input_raises_invalid_input(key, mnist, bad, message):
    with pytest.raises(pixveil.InvalidInputError, match=message) as e:
        key.encrypt(bad(mnist))
    assert isinstance(e.value, ValueError)


def test_wrong_shape_key_is_refused(mnist):
    key = pixveil.Key.generate("pe", CIFAR)
    with pytest.raises(pixveil.InvalidInputError, match=r"\(32, 32, 3\)"):
        key.encrypt(mnist)


def test_nonce_errors(mnist, key):
    per = pixveil.Key.generate("pe", MNIST, mode="per-image")
    ct, nonces = per.encrypt(mnist[:4])
    with pytest.raises(pixveil.InvalidInputError, match="needs the nonces"):
        per.decrypt(ct)
    with pytest.raises(pixveil.InvalidInputError, match="4 nonces"):
        per.decrypt(ct, nonces[:3])
    with pytest.raises(pixveil.InvalidInputError, match="nonces"):
        per.decrypt(ct, nonces.astype(np.int32))
    with pytest.raises(pixveil.InvalidInputError, match="no nonces"):
        key.decrypt(ct, nonces)


def test_wrong_key_decrypts_to_garbage_not_to_the_image(mnist):
    a = pixveil.Key.generate("pe", MNIST)
    b = pixveil.Key.generate("pe", MNIST)
    assert a.key_id != b.key_id
    assert (b.decrypt(a.encrypt(mnist)) != mnist).mean() > 0.3


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: pixveil.Key.generate("rot13", MNIST), pixveil.InvalidInputError),
        (lambda: pixveil.Key.generate("pe", MNIST, block=8), pixveil.InvalidInputError),
        (lambda: pixveil.Key.generate("etc", (30, 30, 1), block=4), pixveil.InvalidInputError),
        (lambda: pixveil.Key.generate("pe", "28by28"), pixveil.InvalidInputError),
        (lambda: pixveil.Key.generate("pe", MNIST, mode="sometimes"), pixveil.InvalidInputError),
        (lambda: pixveil.Key.from_bytes(b"not a key"), pixveil.KeyFileError),
        (lambda: pixveil.Key.load("/nonexistent/k.key"), FileNotFoundError),
    ],
)
def test_bad_parameters(call, error):
    with pytest.raises(error) as e:
        call()
    assert isinstance(e.value, pixveil.Error)


def test_tampered_key_file_is_refused(tmp_path):
    data = bytearray((KAT_KEYS / "pe_28x28x1_fixed_v2.key").read_bytes())
    data[len(data) // 2] ^= 1
    with pytest.raises(pixveil.KeyFileError):
        pixveil.Key.from_bytes(bytes(data))


def test_gil_is_released_during_encryption(cifar):
    """Another Python thread runs while a large batch encrypts."""
    images = np.repeat(cifar[0], 40, axis=0)  # 10 240 images, 31 MB
    key = pixveil.Key.generate("etc", CIFAR, mode="per-image")
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(1)
            done.wait(0.001)

    t = threading.Thread(target=tick)
    t.start()
    try:
        key.encrypt(images)
        during = len(ticks)
    finally:
        done.set()
        t.join()
    assert during > 5, f"the ticking thread ran {during} times during encryption"


def test_out_parameter(mnist):
    key = pixveil.Key.generate("etc", MNIST)
    want = key.encrypt(mnist)
    out = np.empty_like(mnist)
    assert key.encrypt(mnist, out=out) is out
    np.testing.assert_array_equal(out, want)
    # In place.
    x = mnist.copy()
    key.encrypt(x, out=x)
    np.testing.assert_array_equal(x, want)
    key.decrypt(x, out=x)
    np.testing.assert_array_equal(x, mnist)
    per = pixveil.Key.generate("pe", MNIST, mode="per-image")
    y = mnist.copy()
    ct, nonces = per.encrypt(y, out=y)
    assert ct is y
    np.testing.assert_array_equal(per.decrypt(y, nonces), mnist)
    with pytest.raises(pixveil.InvalidInputError, match="shape"):
        key.encrypt(mnist, out=np.empty((3, 28, 28, 1), np.uint8))
    with pytest.raises(pixveil.InvalidInputError, match="dtype"):
        key.encrypt(mnist, out=np.empty(mnist.shape, np.float32))
    ro = np.empty_like(mnist)
    ro.setflags(write=False)
    with pytest.raises(pixveil.InvalidInputError, match="written"):
        key.encrypt(mnist, out=ro)
    z = mnist.copy()
    with pytest.raises(pixveil.InvalidInputError, match="overlap"):
        key.encrypt(z, out=z[:, :, :, :])  # a view of x, not x itself
