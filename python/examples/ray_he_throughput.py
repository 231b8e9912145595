#!/usr/bin/env python3
"""he-eval-style throughput batches as Ray tasks: the data owner encrypts batches of images
(CKKS throughput mode, one image per slot), Ray tasks evaluate them on any node of the cluster,
the data owner decrypts the scores and reports accuracy.

The model owner's side is the Ray task: it holds the model (a Ray object) and the client's
public evaluation keys, never the secret key, which stays in this driver process.

Usage (a pixveil checkpoint of tenseal-cnn or he-cnn; MNIST from ../shared/data):
    python python/examples/ray_he_throughput.py MODEL [--images 4096] [--data-dir DIR]
On a cluster: start it (`ray start --head` on one node, `ray start --address=HEAD:6379` on the
others, `pip install ./python` on each), then run this on a node with RAY_ADDRESS=auto.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import ray

import pixveil


@ray.remote
def evaluate(model_path: str, keys: bytes, request: bytes) -> bytes:
    # Each task compiles the plan from the checkpoint (≈ 1 s); a long-running service would
    # keep it in a Ray actor instead (see README: pixveil.he.Model in an actor).
    model = pixveil.he.Model.load(model_path)
    return model.evaluator(keys).run(request)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--images", type=int, default=4096)
    ap.add_argument("--data-dir", default=os.environ.get("PIXVEIL_DATA_DIR", "../shared/data"))
    a = ap.parse_args()
    ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False)
    x, y = pixveil.datasets.load("mnist", "test", data_dir=a.data_dir)
    x, y = x[: a.images], y[: a.images]

    spec = pixveil.he.Model.load(a.model).spec()
    client = pixveil.he.Client(spec)
    keys = ray.put(client.evaluation_keys("throughput"))  # public: shipped once per node
    start = time.perf_counter()
    requests = client.encrypt_all(x, "throughput")
    t_enc = time.perf_counter() - start
    futures = [evaluate.remote(os.path.abspath(a.model), keys, r) for r in requests]
    answers = ray.get(futures)
    t_eval = time.perf_counter() - start - t_enc
    scores = client.decrypt_all(answers)
    t_all = time.perf_counter() - start
    acc = float((scores.argmax(1) == y).mean())
    print(
        f"{len(x)} images in {len(requests)} throughput requests on {int(ray.cluster_resources().get('CPU', 0))} "
        f"CPUs: accuracy {acc:.4f}; encrypt {t_enc:.1f} s, evaluate {t_eval:.1f} s, total {t_all:.1f} s "
        f"({len(x) / t_all:.0f} images/s)"
    )


if __name__ == "__main__":
    main()
