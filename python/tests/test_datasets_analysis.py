"""pixveil.datasets and pixveil.analysis against the CLI (same files, same JSON)."""

from __future__ import annotations

import numpy as np
import pytest

import pixveil
from conftest import KAT_KEYS, json_line, run_cli, write_idx


def test_samples_load_with_labels():
    for name, shape in [("sample-mnist", (28, 28, 1)), ("sample-cifar10", (32, 32, 3))]:
        x, y = pixveil.datasets.load(name)
        assert x.shape == (256, *shape) and x.dtype == np.uint8
        assert y.shape == (256,) and y.dtype == np.uint8 and y.max() < 10
        assert x.flags["C_CONTIGUOUS"] and x.flags["WRITEABLE"]


def test_unknown_names_and_missing_files(monkeypatch):
    monkeypatch.delenv("PIXVEIL_DATA_DIR", raising=False)
    with pytest.raises(pixveil.InvalidInputError, match="neither a dataset"):
        pixveil.datasets.load("imagenet")
    with pytest.raises(pixveil.InvalidInputError, match="split"):
        pixveil.datasets.load("sample-mnist", split="validation")
    with pytest.raises(pixveil.InvalidInputError, match="data_dir"):
        pixveil.datasets.load("mnist")
    with pytest.raises(pixveil.DataNotFoundError) as e:
        pixveil.datasets.load("kmnist", "train", data_dir="/nonexistent")
    assert isinstance(e.value, FileNotFoundError)


def test_corrupt_file_is_a_format_error(tmp_path):
    bad = tmp_path / "bad-images-idx3-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 5)
    with pytest.raises(pixveil.FormatError):
        pixveil.datasets.load(bad)


@pytest.mark.data
def test_real_datasets_read_the_cli_files(data_dir):
    x, y = pixveil.datasets.load("mnist", "test", data_dir=data_dir)
    assert x.shape == (10000, 28, 28, 1) and y.shape == (10000,)
    assert np.bincount(y, minlength=10).min() > 800
    c, l = pixveil.datasets.load("cifar10", "test", data_dir=data_dir)
    assert c.shape == (10000, 32, 32, 3) and l.shape == (10000,)
    # The same bytes as reading the file directly.
    again, labels, names = pixveil.datasets.read(data_dir / "cifar10" / "test_batch.bin.gz")
    np.testing.assert_array_equal(again, c)
    np.testing.assert_array_equal(labels, l)
    assert len(names) == 10000


def test_metrics_known_values():
    a = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    assert pixveil.analysis.entropy(a) == pytest.approx(8.0)
    assert pixveil.analysis.entropy(np.zeros((4, 4, 1), np.uint8)) == 0.0
    assert pixveil.analysis.chi2(a) == pytest.approx(0.0)
    assert pixveil.analysis.npcr(a, a) == 0.0
    b = a.copy()
    b[0, 0, 0] ^= 0xFF
    assert pixveil.analysis.npcr(a, b) == pytest.approx(100 / 256)
    assert pixveil.analysis.uaci(a, b) == pytest.approx(100 / 256)
    assert pixveil.analysis.mse(a, b) == pytest.approx(255**2 / 256)
    assert pixveil.analysis.psnr(a, b) == pytest.approx(10 * np.log10(256))
    assert pixveil.analysis.ssim(a, a) == pytest.approx(1.0)
    # A horizontal ramp: perfectly correlated along rows.
    ramp = np.tile(np.arange(0, 160, 10, dtype=np.uint8), (16, 1)).reshape(16, 16, 1)
    assert pixveil.analysis.correlation(ramp, "h") == pytest.approx(1.0)
    with pytest.raises(pixveil.InvalidInputError, match="shapes differ"):
        pixveil.analysis.npcr(a, a[:8])
    with pytest.raises(pixveil.InvalidInputError, match="unknown metric"):
        pixveil.analysis.correlation(a, "x")


def _without_timing(d):
    return {k: v for k, v in d.items() if "second" not in k and "time" not in k}


@pytest.mark.parametrize(
    "kind, extra",
    [("kpa", ["--pairs", "2"]), ("cpa", []), ("coa", ["--method", "msb"]), ("stat", [])],
)
def test_attack_gives_the_cli_json(kind, extra, cli, tmp_path):
    key_path = KAT_KEYS / "pe_28x28x1_fixed_v2.key"
    key = pixveil.Key.load(key_path)
    x, _ = pixveil.datasets.load("sample-mnist")
    x = x[:40]
    inp = tmp_path / "in.idx"
    write_idx(inp, x)
    public = pixveil.datasets.load("sample-mnist")[0][40:]
    if kind == "stat":
        pub = tmp_path / "public.idx"
        write_idx(pub, public)
        extra = ["--public", str(pub)]
    want = json_line(
        run_cli(cli, "attack", kind, "--key", str(key_path), str(inp), "--limit", "20", *extra, "--json")
    )
    kwargs = {"limit": 20}
    if kind == "kpa":
        kwargs["pairs"] = 2
    if kind == "coa":
        kwargs["method"] = "msb"
    if kind == "stat":
        kwargs["public"] = public
    got = pixveil.analysis.attack(kind, key, x, **kwargs)
    assert _without_timing(got) == _without_timing(want)
    assert got["attack"] == kind


def test_attack_bad_input():
    key = pixveil.Key.generate("pe", (28, 28, 1))
    x, _ = pixveil.datasets.load("sample-mnist")
    with pytest.raises(pixveil.InvalidInputError, match="unknown attack"):
        pixveil.analysis.attack("timing", key, x)
    with pytest.raises(pixveil.InvalidInputError, match="limit"):
        pixveil.analysis.attack("kpa", key, x, limit=0)
    with pytest.raises(pixveil.InvalidInputError, match="public"):
        pixveil.analysis.attack("stat", key, x)
    with pytest.raises(pixveil.InvalidInputError, match="public"):
        pixveil.analysis.attack("kpa", key, x, public=x)
    with pytest.raises(pixveil.InvalidInputError, match="shape"):
        pixveil.analysis.attack("kpa", key, pixveil.datasets.load("sample-cifar10")[0])


def test_analyze_reports_the_cipher_statistics():
    key = pixveil.Key.generate("logistic", (28, 28, 1))
    x, _ = pixveil.datasets.load("sample-mnist")
    report = pixveil.analysis.analyze(key, x[:32], sensitivity_images=4)
    assert report["scheme"] == "logistic" and report["images"] == 32
    # MNIST digits are mostly black; the logistic XOR spreads every value.
    assert report["entropy"]["plain"]["mean"] < 3 < 7.5 < report["entropy"]["encrypted"]["mean"]
    assert report["correlation_horizontal"]["encrypted"]["mean"] < 0.2
    assert report["npcr_key"]["count"] == 4
    with pytest.raises(pixveil.InvalidInputError):
        pixveil.analysis.analyze(key, x, sensitivity_images=0)
