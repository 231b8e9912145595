#!/usr/bin/env python3
"""Markdown table from `pixveil train --json` outputs: summarize.py OUT_DIR > summary.md"""
import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
print("| configuration | test accuracy after the last epoch (%) | epochs | train s | train source |")
print("|---|---|---|---|---|")
for f in sorted(out.glob("*.json")):
    if f.name.endswith(".metrics.json"):
        continue
    d = json.loads(f.read_text())
    print(
        f"| {f.stem} | {100 * d['test_accuracy']:.2f} | {d['epochs']} "
        f"| {d['train_seconds']:.0f} | {d.get('train_source', 'standard')} |"
    )
