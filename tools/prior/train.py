#!/usr/bin/env python3
"""Trains an EDM-preconditioned U-Net prior on a .npy dataset ([N, C, H, W],
already normalized or normalized here with --scale), with EMA weights,
checkpoints and a loss log. Runs with Debian's python3-torch on the CPU, or
on a CUDA machine with --device cuda.

  /usr/bin/python3 tools/prior/train.py --data ns-64.npy --scale 0.1 --out runs/ns64 --steps 4000
  /usr/bin/python3 tools/prior/train.py --smoke --out /tmp/smoke     # a few steps on synthetic data
"""
import argparse
import copy
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from edm_unet import build_model, edm_loss  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help=".npy of shape [N, C, H, W]")
    p.add_argument("--scale", type=float, default=1.0, help="multiply the data by this (0.1 for vorticity w/10)")
    p.add_argument("--out", required=True, help="directory for checkpoints and the loss log")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--base", type=int, default=16, help="U-Net channels at full resolution")
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--sigma-data", type=float, default=0.5)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--max-minutes", type=float, default=0, help="stop (and save) after this wall time")
    p.add_argument("--resume", help="continue the run saved in this directory's last.pt: weights, EMA, optimizer state "
                   "and step (the learning-rate schedule goes on where it stopped); usually the --out directory")
    p.add_argument("--init", help="start from the EMA weights of this .pt (a shipped prior's, e.g. "
                   "models/ns-vorticity-64.pt): fine-tuning with a fresh optimizer and schedule")
    p.add_argument("--gaussian-skip", action="store_true",
                   help="skip connection = exact denoiser of the data's Gaussian (mean field, per-mode variance)")
    p.add_argument("--roll-step-w", type=int, default=1,
                   help="augment with shifts along W by multiples of this only (16 for the forced 64x64 flow: "
                        "the forcing cos(4y) repeats every quarter of the torus); shifts along H are free")
    p.add_argument("--no-shift", action="store_true",
                   help="no translation augmentation (images whose content is centred, e.g. Fashion-MNIST)")
    p.add_argument("--smoke", action="store_true", help="10 steps on 64 synthetic 16x16 fields")
    args = p.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.smoke:
        data = np.random.default_rng(0).standard_normal((64, 1, 16, 16)).astype(np.float32) * 0.5
        args.steps, args.batch, args.checkpoint_every = 10, 8, 5
    else:
        if not args.data:
            p.error("--data is required (or --smoke)")
        data = np.load(args.data).astype(np.float32) * args.scale
    if data.ndim != 4:
        sys.exit(f"expected data of shape [N, C, H, W], got {data.shape}")
    n, channels, height, width = data.shape
    if height % 4 or width % 4:
        sys.exit(f"the U-Net halves the grid twice: H and W must be multiples of 4, got {height}x{width}")
    print(f"data {data.shape}, std {data.std():.4f} (sigma_data {args.sigma_data})", flush=True)
    dataset = torch.from_numpy(data).to(device)

    params_config = dict(vars(args), shape=[channels, height, width])
    model = build_model(params_config)
    if args.gaussian_skip and not (args.resume or args.init):
        model.gaussian.fit(data, args.roll_step_w, shifts=not args.no_shift)
        print(f"Gaussian skip: per-mode variance from {n} fields", flush=True)
    model = model.to(device)
    state = None
    if args.resume and args.init:
        p.error("--resume continues a run, --init starts one from given weights: give one of them")
    if args.resume:
        state = torch.load(os.path.join(args.resume, "last.pt"), map_location=device)
        model.load_state_dict(state["model"])
        print(f"resumed from {args.resume} (step {state['step']})", flush=True)
    elif args.init:
        init = torch.load(args.init, map_location=device)
        model.load_state_dict(init["ema"])
        print(f"initialized from the EMA weights of {args.init}", flush=True)
    ema = copy.deepcopy(model).eval()
    if state is not None:
        ema.load_state_dict(state["ema"])
    for q in ema.parameters():
        q.requires_grad_(False)
    params = sum(q.numel() for q in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    first = 1
    if state is not None and "opt" in state:
        # A checkpoint of this version: the optimizer's moments, the step and the RNG go on where they stopped.
        opt.load_state_dict(state["opt"])
        first = state["step"] + 1
        torch.set_rng_state(state["rng"])
    elif state is not None:
        print("that checkpoint has no optimizer state (an older run): its weights go on with a fresh schedule", flush=True)
    os.makedirs(args.out, exist_ok=True)
    log_path = os.path.join(args.out, "loss.csv")
    fresh_log = not os.path.exists(log_path)
    log = open(log_path, "a")
    if fresh_log:
        log.write("step,loss,seconds\n")
    config = dict(vars(args), parameters=params, shape=[channels, height, width])
    json.dump(config, open(os.path.join(args.out, "config.json"), "w"), indent=2)
    print(f"U-Net with {params} parameters; {args.steps} steps of batch {args.batch} on {device}", flush=True)

    start = time.time()
    running = None
    step = 0

    def save(tag):
        # Written beside the old checkpoint and renamed over it: a run killed while saving keeps the last one whole.
        path = os.path.join(args.out, f"{tag}.pt")
        torch.save({"step": step, "config": config, "ema": ema.state_dict(), "model": model.state_dict(),
                    "opt": opt.state_dict(), "rng": torch.get_rng_state()}, path + ".tmp")
        os.replace(path + ".tmp", path)

    if first > args.steps:
        sys.exit(f"the run in {args.resume} is at step {first - 1}, already at --steps {args.steps}: raise --steps to go on")
    step = first - 1
    for step in range(first, args.steps + 1):
        # Warm-up then cosine decay of the learning rate.
        lr = args.lr * min(1.0, step / 200) * (0.5 * (1 + np.cos(np.pi * step / args.steps)) * 0.9 + 0.1)
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, n, (args.batch,), device=device)
        y = dataset[idx]
        # Random periodic shifts keep the symmetries of the data (the forcing fixes the phase along W).
        if not args.no_shift:
            shift_w = int(torch.randint(0, width // args.roll_step_w, ())) * args.roll_step_w
            y = torch.roll(y, shifts=(int(torch.randint(0, height, ())), shift_w), dims=(2, 3))
        loss = edm_loss(model, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for e, q in zip(ema.parameters(), model.parameters()):
                e.mul_(args.ema).add_(q, alpha=1 - args.ema)
        value = loss.item()
        running = value if running is None else 0.98 * running + 0.02 * value
        elapsed = time.time() - start
        log.write(f"{step},{value:.6f},{elapsed:.1f}\n")
        if step % 50 == 0 or step == args.steps:
            print(f"step {step}/{args.steps}  loss {running:.4f}  lr {lr:.2e}  {elapsed / 60:.1f} min", flush=True)
            log.flush()
        if step % args.checkpoint_every == 0:
            save("last")
        if args.max_minutes and elapsed > args.max_minutes * 60:
            print(f"stopping at step {step}: --max-minutes {args.max_minutes} reached", flush=True)
            break
    save("last")
    json.dump({"steps": step, "final_loss": running, "minutes": (time.time() - start) / 60},
              open(os.path.join(args.out, "summary.json"), "w"), indent=2)
    print(f"saved {os.path.join(args.out, 'last.pt')}", flush=True)


if __name__ == "__main__":
    main()
