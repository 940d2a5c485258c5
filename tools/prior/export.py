#!/usr/bin/env python3
"""Exports a trained prior to the ONNX contract of docs/method.md section 1:
inputs x float32 [B, C, H, W] and sigma float32 [B], output denoised float32
[B, C, H, W], dynamic batch, opset 17, preconditioning inside the graph, and
metadata_props filled. Then runs the file with onnxruntime-node on random
inputs and compares with PyTorch (tools/prior/check_onnx.js).

  /usr/bin/python3 tools/prior/export.py --run runs/ns64 --out models/ns-vorticity-64.onnx \\
      --dataset "..." --normalization vorticity/10

--from-checkpoint FILE converts an EDM-style network object pickled by
another code base (for example the reference implementation's EDMPrecond or
VPPrecond, whose forward is net(x, sigma)): pass that code's directory with
--code-dir so the pickle can be loaded.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from edm_unet import build_model  # noqa: E402
from onnx_meta import append_metadata  # noqa: E402


class Contract(torch.nn.Module):
    """forward(x, sigma) of any network called as net(x, sigma)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, sigma):
        return self.net(x, sigma).to(torch.float32)


def load_network(args):
    if args.from_checkpoint:
        if args.code_dir:
            sys.path.insert(0, os.path.abspath(args.code_dir))
        obj = torch.load(args.from_checkpoint, map_location="cpu")
        for key in ("ema", "net", "model"):
            if isinstance(obj, dict) and isinstance(obj.get(key), torch.nn.Module):
                obj = obj[key]
                break
        if not isinstance(obj, torch.nn.Module):
            sys.exit(f"{args.from_checkpoint} holds no network object (found {type(obj).__name__})")
        shape = [getattr(obj, "img_channels", None), getattr(obj, "img_resolution", None)]
        if None in shape and not args.shape:
            sys.exit("the network does not say its img_channels/img_resolution: pass --shape C,H,W")
        c, h, w = [int(v) for v in args.shape.split(",")] if args.shape else [shape[0], shape[1], shape[1]]
        sigma_data = getattr(obj, "sigma_data", 0.5)
        return obj.float().eval(), (c, h, w), sigma_data, {}
    ckpt = torch.load(os.path.join(args.run, "last.pt"), map_location="cpu")
    config = ckpt["config"]
    c, h, w = config["shape"]
    model = build_model(config)
    model.load_state_dict(ckpt["ema"])
    summary = {}
    summary_file = os.path.join(args.run, "summary.json")
    if os.path.exists(summary_file):
        summary = json.load(open(summary_file))
    info = {"parameters": config["parameters"], "training_steps": summary.get("steps", ckpt["step"]),
            "final_loss": summary.get("final_loss")}
    return model.eval(), (c, h, w), config["sigma_data"], info


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", help="a train.py output directory (uses last.pt, EMA weights)")
    p.add_argument("--from-checkpoint", help="a pickled network object (see above)")
    p.add_argument("--code-dir", help="directory of the code the pickle needs")
    p.add_argument("--shape", help="C,H,W when the network does not say")
    p.add_argument("--out", required=True)
    p.add_argument("--dataset", default="unknown")
    p.add_argument("--normalization", default="identity")
    p.add_argument("--sigma-min", type=float, default=0.002)
    p.add_argument("--sigma-max", type=float, default=80.0)
    p.add_argument("--training-steps", type=int,
                   help="total training steps to record (a fine-tune's run counts only its own steps)")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime comparison")
    args = p.parse_args()
    if bool(args.run) == bool(args.from_checkpoint):
        p.error("give exactly one of --run or --from-checkpoint")
    if args.training_steps is not None and args.training_steps <= 0:
        sys.exit(f"--training-steps must be a positive integer, got {args.training_steps}")

    net, (c, h, w), sigma_data, info = load_network(args)
    model = Contract(net).eval()
    torch.manual_seed(0)
    x = torch.randn(4, c, h, w)
    sigma = torch.tensor([0.01, 0.3, 2.0, 40.0])
    with torch.no_grad():
        expected = model(x, sigma)
        torch.onnx.export(model, (x, sigma), args.out, input_names=["x", "sigma"], output_names=["denoised"],
                          dynamic_axes={"x": {0: "B"}, "sigma": {0: "B"}, "denoised": {0: "B"}}, opset_version=17)
    props = {"sigma_min": args.sigma_min, "sigma_max": args.sigma_max, "sigma_data": sigma_data,
             "dataset": args.dataset, "normalization": args.normalization, "resolution": h}
    props.update({k: v for k, v in info.items() if v is not None})
    if args.training_steps is not None:
        props["training_steps"] = args.training_steps
    append_metadata(args.out, props)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes), shape [B, {c}, {h}, {w}], metadata {props}")
    if args.no_check:
        return
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, value in (("x", x), ("sigma", sigma), ("expected", expected)):
            files.append(os.path.join(tmp, f"{name}.npy"))
            np.save(files[-1], value.numpy().astype(np.float32))
        result = subprocess.run(["node", os.path.join(HERE, "check_onnx.js"), args.out, *files],
                                capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"onnxruntime check failed: {result.stderr.strip()}")
    check = json.loads(result.stdout)
    print(f"onnxruntime vs PyTorch on 4 random inputs: max |diff| {check['maxAbsDiff']:.2e} "
          f"(relative {check['relative']:.2e})")
    if check["relative"] > 1e-4:
        sys.exit("the ONNX file does not reproduce the PyTorch network (relative difference above 1e-4)")


if __name__ == "__main__":
    main()
