"""pixveil.he: CKKS encrypted inference through bytes, against `pixveil predict` on the same
checkpoint; public material only on the wire; clean errors."""

from __future__ import annotations

import numpy as np
import pytest

import pixveil
from conftest import json_line, run_cli, write_idx


@pytest.fixture(scope="module")
def trained(cli, tmp_path_factory):
    """A tenseal-cnn trained on the built-in sample, and the plaintext model's classes."""
    d = tmp_path_factory.mktemp("he")
    model = d / "tcnn.safetensors"
    # Trained, not random: random weights give logits so close to ties that the 2^-10
    # rounding of the scores could decide the class.
    run_cli(
        cli, "train", "--dataset", "sample-mnist", "--model", "tenseal-cnn",
        "--epochs", "40", "--lr", "0.01", "-o", str(model),
    )
    images = pixveil.datasets.load("sample-mnist")[0][:8]
    inp = d / "in.idx"
    write_idx(inp, images)
    out = json_line(run_cli(cli, "predict", "--json", "--model", str(model), str(inp)))
    classes = [p["class"] for p in out["predictions"]]
    return model, images, classes


@pytest.fixture(scope="module")
def session(trained):
    model_path, images, classes = trained
    model = pixveil.he.Model.load(model_path)
    client = pixveil.he.Client(model.spec())
    keys = client.evaluation_keys("latency")
    return model, client, keys, model.evaluator(keys), images, classes


def test_latency_mode_classes_equal_the_plain_model(session):
    _, client, _, evaluator, images, classes = session
    assert evaluator.keys_mode == "latency"
    answers = [evaluator.run(r) for r in client.encrypt_all(images[:4], "latency")]
    scores = client.decrypt_all(answers)
    assert scores.shape == (4, client.classes) and scores.dtype == np.float64
    assert list(scores.argmax(axis=1)) == classes[:4]
    # Rounded to 2^-10: the client never exposes raw CKKS decryptions.
    assert np.all(scores * 1024 == np.round(scores * 1024))


def test_throughput_mode_classes_equal_the_plain_model(session):
    _, client, _, evaluator, images, classes = session
    request = client.encrypt(images, "throughput")
    scores = client.decrypt(evaluator.run(request))
    assert scores.shape == (8, client.classes)
    assert list(scores.argmax(axis=1)) == classes


def test_only_public_material_leaves_the_client(session):
    model, client, keys, _, images, _ = session
    sk = client.secret_key_bytes()
    # The secret key is a pixveil container (docs: 28-byte header with the metadata length at
    # 16..20, metadata, body, 32-byte SHA-256): search for its body, the key itself; the
    # metadata (layout, parameter fingerprint) is shared with every public object.
    assert sk[:4] == b"PXVL" and sk[8:16].rstrip(b"\0") == b"ckks-sk"
    meta_len = int.from_bytes(sk[16:20], "little")
    secret = sk[28 + meta_len : -32]
    assert len(secret) >= 256
    request = client.encrypt(images[0], "latency")
    spec = model.spec().encode()
    for blob in (keys, request, spec):
        for i in range(0, len(secret) - 16, max(1, len(secret) // 64)):
            assert secret[i : i + 16] not in blob
    assert images[0].tobytes()[300:324] not in request
    assert "redacted" in repr(client)
    # The secret key reloads into a client that decrypts the same answers.
    again = pixveil.he.Client.from_secret_key(model.spec(), sk)
    ev = model.evaluator(keys)
    answer = ev.run(request)
    np.testing.assert_array_equal(again.decrypt(answer), client.decrypt(answer))


def test_errors_are_he_errors(session):
    model, client, keys, evaluator, images, _ = session
    request = bytearray(client.encrypt(images[0], "latency"))
    with pytest.raises(pixveil.HEError):
        evaluator.run(bytes(request[: len(request) // 2]))
    with pytest.raises(pixveil.HEError):
        evaluator.run(b"")
    with pytest.raises(pixveil.HEError):
        model.evaluator(keys[: len(keys) // 3])
    with pytest.raises(pixveil.HEError):
        pixveil.he.Client('{"version": 1}')
    with pytest.raises(pixveil.InvalidInputError, match="1..=1"):
        client.encrypt(images[:2], "latency")
    with pytest.raises(pixveil.InvalidInputError, match="mode"):
        client.encrypt(images[0], "fast")
    with pytest.raises(pixveil.InvalidInputError, match="shape"):
        client.encrypt(np.zeros((32, 32, 3), np.uint8), "latency")
    key = pixveil.Key.generate("pe", (28, 28, 1))
    with pytest.raises(pixveil.WrongKeyError, match="plain images"):
        client.encrypt(images[0], "latency", perceptual_key=key)
    # Another client's keys do not fit this client's ciphertexts: the scores are garbage, and
    # a request of another plan is refused outright.
    other = pixveil.he.Client(model.spec())
    with pytest.raises(pixveil.HEError):
        other.decrypt(b"PXHN" + b"\x00" * 64)
