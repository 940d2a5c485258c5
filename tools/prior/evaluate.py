#!/usr/bin/env python3
"""Held-out denoising loss of trained priors per noise level: the mean squared
error of D(x + sigma n, sigma) against x on held-out fields, at fixed sigmas,
with the same noise draws for every prior compared (so the columns of two
priors differ by the networks alone). The figure a model card reports and the
one that decides whether a newly trained prior replaces the shipped one.

  /usr/bin/python3 tools/prior/evaluate.py --data data/ns-64-heldout.npy --scale 0.1 \\
      models/ns-vorticity-64.pt .data/run-ns64-long/last.pt
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from edm_unet import build_model  # noqa: E402

SIGMAS = [0.002, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 20.0, 80.0]


def load(path):
    state = torch.load(path, map_location="cpu")
    model = build_model(state["config"])
    model.load_state_dict(state["ema"])
    return model.eval(), state


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help=".pt files with 'config' and 'ema' (a shipped prior's, or a run's last.pt)")
    p.add_argument("--data", required=True, help="held-out fields, .npy [N, C, H, W]")
    p.add_argument("--scale", type=float, default=1.0, help="multiply the data by this (0.1 for vorticity w/10)")
    p.add_argument("--draws", type=int, default=4, help="noise draws per field and sigma")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = torch.from_numpy(np.load(args.data).astype(np.float32) * args.scale)
    if data.ndim != 4:
        sys.exit(f"expected held-out data of shape [N, C, H, W], got {tuple(data.shape)}")
    models = []
    for path in args.checkpoints:
        model, state = load(path)
        if list(state["config"]["shape"]) != list(data.shape[1:]):
            sys.exit(f"{path} denoises fields of shape {state['config']['shape']}, the data are {list(data.shape[1:])}")
        models.append((path, model, state.get("step")))
    print(f"held-out denoising MSE on {data.shape[0]} fields x {args.draws} draws (data variance {data.var().item():.4f})")
    print("| sigma | " + " | ".join(f"{os.path.basename(os.path.dirname(p)) or p}/{os.path.basename(p)} (step {s})" for p, _, s in models) + " |")
    print("|---|" + "---|" * len(models))
    totals = [0.0] * len(models)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for sigma in SIGMAS:
            noise = torch.randn((args.draws,) + tuple(data.shape), generator=gen)
            row = []
            for i, (_, model, _) in enumerate(models):
                err = 0.0
                for k in range(args.draws):
                    s = torch.full((data.shape[0],), sigma)
                    err += ((model(data + sigma * noise[k], s) - data) ** 2).mean().item() / args.draws
                row.append(err)
                # Against the error of the best scalar shrinkage of a variance-0.25 field, sigma^2 sd^2 / (sigma^2 + sd^2).
                totals[i] += err / (sigma ** 2 * 0.25 / (sigma ** 2 + 0.25)) / len(SIGMAS)
            print(f"| {sigma:g} | " + " | ".join(f"{v:.5f}" for v in row) + " |")
    print("| mean ratio to scalar shrinkage | " + " | ".join(f"{v:.4f}" for v in totals) + " |")


if __name__ == "__main__":
    main()
