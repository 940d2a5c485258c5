#!/usr/bin/env python3
"""Writes Fashion-MNIST (Debian's dataset-fashion-mnist) as a .npy of
[N, 1, 32, 32] float32 images in [-1, 1]: the 28x28 images padded by 2
background pixels on each side, the prior's training set for imaging problems.

  /usr/bin/python3 tools/prior/fashion_mnist.py --split train --out .data/fashion-mnist-32.npy
"""
import argparse
import gzip
import os
import sys

import numpy as np

ROOT = "/usr/share/datasets/fashion-mnist"


def read_images(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, count, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    if magic != 2051:
        sys.exit(f"{path} is not an IDX image file (magic {magic}, expected 2051)")
    return np.frombuffer(raw[16:], dtype=np.uint8).reshape(count, rows, cols)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", choices=["train", "t10k"], default="train")
    p.add_argument("--root", default=ROOT, help="directory of the IDX files")
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, default=0, help="first COUNT images only (0: all)")
    args = p.parse_args()
    path = os.path.join(args.root, f"{args.split}-images-idx3-ubyte.gz")
    if not os.path.exists(path):
        sys.exit(f"{path} not found: apt-get install dataset-fashion-mnist")
    images = read_images(path)
    if args.count:
        images = images[: args.count]
    x = images.astype(np.float32) / 127.5 - 1.0
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)), constant_values=-1.0)[:, None]
    np.save(args.out, x)
    print(f"wrote {args.out}: {x.shape}, range [{x.min():.1f}, {x.max():.1f}], mean {x.mean():.3f}, std {x.std():.3f}")


if __name__ == "__main__":
    main()
