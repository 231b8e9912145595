#!/usr/bin/env python3
"""Loads a pixveil-nn safetensors checkpoint into the equivalent PyTorch module and reports its
accuracy on the first N MNIST test images: a check that pixveil's tensor names, shapes and
layouts are PyTorch's.

Usage:
    torch_load_checkpoint.py CKPT [--arch tenseal-cnn|small-cnn] [--data-dir DIR] [--n 1000]

The architecture comes from the checkpoint's metadata ("architecture"), or --arch. The module is
built by torch_train_bench.build_model (names conv1, conv2, fc1, fc2, as pixveil saves them) and
loaded with ``model.load_state_dict(safetensors.torch.load_file(CKPT))`` (strict: every name
and shape must match). Images are pixels / 255, NCHW, as pixveil trains on them
(DIR = --data-dir, else $PIXVEIL_DATA_DIR, else ../shared/data beside the project; plain MNIST only).
Prints one JSON object: {"checkpoint", "architecture", "metadata", "images", "accuracy",
"torch_version"}. Exit status 1 if the checkpoint does not load.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_train_bench as tb  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--arch", choices=tb.MODELS, help="default: the checkpoint's metadata")
    ap.add_argument("--data-dir")
    ap.add_argument("--n", type=int, default=1000, help="test images (default 1000)")
    a = ap.parse_args()

    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(a.checkpoint, framework="pt") as f:
        meta = f.metadata() or {}
    arch = a.arch or meta.get("architecture", "tenseal-cnn")
    if meta.get("input_shape", "1,28,28").replace(" ", "") != "1,28,28":
        print(f"error: input_shape {meta['input_shape']} is not MNIST's 1,28,28", file=sys.stderr)
        return 1
    model = tb.build_model(arch)
    state = load_file(a.checkpoint)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        print(f"error: {a.checkpoint} does not load into {arch}: {e}", file=sys.stderr)
        return 1
    model.eval()
    x, y = tb.load_mnist(tb.data_dir(a.data_dir), "test", a.n)
    with torch.no_grad():
        correct = sum((model(x[i:i + 256]).argmax(1) == y[i:i + 256]).sum().item()
                      for i in range(0, len(y), 256))
    print(json.dumps({
        "checkpoint": a.checkpoint,
        "architecture": arch,
        "metadata": meta,
        "tensors": {k: list(v.shape) for k, v in state.items()},
        "images": len(y),
        "accuracy": round(correct / len(y), 4),
        "torch_version": torch.__version__,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
