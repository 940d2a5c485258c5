#!/usr/bin/env python3
"""Times the PyTorch reference Navier-Stokes solver (devzhk/enkg-pytorch,
inverse_problems/navier_stokes.py) on fields from a .npy file, for
bench/navier-stokes.ts. The reference code is imported from the directory in
ENKG_PYTORCH_DIR (a checkout of that repository); nothing of it is copied here.

Prints one JSON object: seconds, fields per second, steps, and where the
solution was written (for the agreement check).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True, help="float32 .npy [N, 1, R, R], physical units")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--time", type=float, default=1.0)
    parser.add_argument("--reynolds", type=float, default=200.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", help="write the solution here (.npy)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()

    root = os.environ.get("ENKG_PYTORCH_DIR")
    if not root or not os.path.isdir(os.path.join(root, "inverse_problems")):
        sys.exit("set ENKG_PYTORCH_DIR to a checkout of the PyTorch reference (it has inverse_problems/)")
    sys.path.insert(0, root)
    from inverse_problems.navier_stokes import NavierStokes2d  # noqa: E402

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    fields = np.load(args.input)[: args.batch, 0]
    if fields.shape[0] < args.batch:
        sys.exit(f"{args.input} holds {fields.shape[0]} fields, fewer than --batch {args.batch}")
    resolution = fields.shape[-1]
    w0 = torch.from_numpy(np.ascontiguousarray(fields)).to(device)
    # The reference's forward operator runs the solver in float32 with the
    # Kolmogorov forcing -4 cos(4 y) on [0, 2 pi]^2.
    solver = NavierStokes2d(resolution, resolution, 2 * math.pi, 2 * math.pi, device=device, dtype=torch.float32)
    t = torch.linspace(0, 2 * math.pi, resolution + 1, device=device, dtype=torch.float32)[:-1]
    _, y = torch.meshgrid(t, t, indexing="ij")
    force = -4 * torch.cos(4.0 * y)

    solver.solve(w0[:2], force, 0.01, args.reynolds, adaptive=True)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = solver.solve(w0, force, args.time, args.reynolds, adaptive=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if args.output:
        np.save(args.output, out.float().cpu().numpy()[:, None])
    print(json.dumps({
        "seconds": seconds,
        "fieldsPerSecond": args.batch / seconds,
        "batch": args.batch,
        "resolution": resolution,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "output": args.output,
    }))


if __name__ == "__main__":
    main()
