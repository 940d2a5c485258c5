#!/usr/bin/env python3
"""Runs the PyTorch reference EnKG (devzhk/enkg-pytorch, algo/enkg.py) on the
Navier-Stokes inverse problem of bench/accuracy.ts, with the same prior
weights enkg ships (models/ns-vorticity-64.pt, the PyTorch weights that
models/ns-vorticity-64.onnx was exported from) and the reference's own
solver, so that enkg's EnKG can be set beside the reference's at the same
configuration. The reference code is imported from the directory in
ENKG_PYTORCH_DIR (a checkout of that repository); nothing of it is copied here.

Prints one JSON object: relative L2 (per-particle average and of the mean),
the final data misfit ||G(x) - y||^2 / m, forward evaluations and seconds.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class ReferenceNet(torch.nn.Module):
    """The reference calls net(x, sigma) with one scalar sigma for the batch and
    reads img_channels, img_resolution and round_sigma."""

    def __init__(self, model, shape):
        super().__init__()
        self.model = model
        self.img_channels, self.img_resolution = shape[0], shape[1]

    def round_sigma(self, sigma):
        return torch.as_tensor(sigma)

    def forward(self, x, sigma):
        sigma = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1).expand(x.shape[0])
        return self.model(x, sigma)


def stand_in_modules():
    """algo/enkg.py imports tqdm (progress bars) and wandb (logging, used only
    when a wandb run is active); where they are not installed, stand-ins that
    do nothing take their place."""
    import types
    try:
        import tqdm  # noqa: F401
    except ImportError:
        sys.modules["tqdm"] = types.SimpleNamespace(tqdm=lambda iterable, *a, **k: iterable)
    try:
        import wandb  # noqa: F401
    except ImportError:
        sys.modules["wandb"] = types.SimpleNamespace(run=None, log=lambda *a, **k: None)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=os.path.join(ROOT, "models", "ns-vorticity-64.pt"))
    p.add_argument("--truth", default=os.path.join(ROOT, "data", "ns-64-heldout.npy"), help="physical units, [N, 1, R, R]")
    p.add_argument("--field", type=int, default=0)
    p.add_argument("--noise", type=float, default=0.0, help="observation noise std, physical units")
    p.add_argument("--ensemble", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--updates", type=int, default=1)
    p.add_argument("--guidance", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--device", default="cpu", help="torch device for the prior and the solver (cpu, cuda)")
    p.add_argument("--batch-size", type=int, default=64, help="denoiser batch (the reference's 64); must divide --ensemble")
    args = p.parse_args()

    root = os.environ.get("ENKG_PYTORCH_DIR")
    if not root or not os.path.isdir(os.path.join(root, "algo")):
        sys.exit("set ENKG_PYTORCH_DIR to a checkout of the PyTorch reference (it has algo/ and inverse_problems/)")
    sys.path.insert(0, root)
    sys.path.insert(0, os.path.join(ROOT, "tools", "prior"))
    stand_in_modules()
    from algo.enkg import EnKG  # noqa: E402
    from inverse_problems.navier_stokes import ForwardNavierStokes2d  # noqa: E402
    from edm_unet import build_model  # noqa: E402

    if args.ensemble % args.batch_size:
        sys.exit(f"--batch-size {args.batch_size} must divide --ensemble {args.ensemble} (the reference drops a remainder)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    saved = torch.load(args.weights, map_location="cpu")
    config = saved["config"]
    model = build_model(config)
    model.load_state_dict(saved["ema"])
    device = torch.device(args.device)
    net = ReferenceNet(model.eval(), config["shape"]).to(device)
    R = config["shape"][-1]

    truth = torch.from_numpy(np.load(args.truth)[args.field : args.field + 1].astype(np.float32)).to(device) / 10.0
    forward_op = ForwardNavierStokes2d(resolution=R, forward_time=1.0, Re=200.0, downsample_factor=2,
                                       sigma_noise=args.noise, unnorm_scale=10.0, device=device)
    with torch.no_grad():
        observation = forward_op(truth)  # forward + the reference's own noise draw

    calls = {"forward": 0}
    plain_forward = forward_op.forward

    def counted(x, *rest, **kw):
        calls["forward"] += x.shape[0]
        return plain_forward(x, *rest, **kw)

    forward_op.forward = counted
    algo = EnKG(net, forward_op, guidance_scale=args.guidance, num_steps=args.steps, num_updates=args.updates,
                sigma_max=80.0, sigma_min=0.002, num_samples=args.ensemble, threshold_start=0.05,
                threshold_end=0.05, batch_size=args.batch_size, lr_min_ratio=0.0, rho=7)
    started = time.time()
    with torch.no_grad():
        particles = algo.inference(observation)
    seconds = time.time() - started
    evaluations = calls["forward"]
    with torch.no_grad():
        y = plain_forward(particles)
    d = truth.flatten()
    flat = particles.flatten(start_dim=1)
    rel = ((flat - d).norm(dim=1) / d.norm()).mean().item()
    rel_mean = ((flat.mean(dim=0) - d).norm() / d.norm()).item()
    misfit = (y - observation).square().flatten(start_dim=1).mean(dim=1).mean().item()
    print(json.dumps({
        "field": args.field, "noise": args.noise, "ensemble": args.ensemble, "steps": args.steps,
        "updates": args.updates, "guidance": args.guidance, "relativeL2": rel, "relativeL2Mean": rel_mean,
        "misfit": misfit, "forwardEvaluations": evaluations, "seconds": seconds,
    }))


if __name__ == "__main__":
    main()
